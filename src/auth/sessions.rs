//! Known sessions: our own access tokens whose session and user were checked a
//! moment ago, so that a request with a known token costs no statement. An entry
//! goes when anything could have ended it: logout, a password change, the user
//! disabled, their member leaving (each announces `Change::User` to every
//! instance, which drops that user's entries), or a notification possibly missed
//! (`Authz` suspends caching, which drops all). Every entry is checked anew after
//! `RECHECK_AFTER` regardless, and never outlives its session's expiry. Only on
//! PostgreSQL: on SQLite another process announces nothing, so nothing is kept.
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a checked session is trusted without looking again: a bound for
/// changes no notification tells of (there should be none).
pub const RECHECK_AFTER: Duration = Duration::from_secs(60);

/// Beyond this many entries the cache starts over (a bound, not an LRU: a miss
/// costs three indexed statements).
const MAX_KNOWN: usize = 50_000;

#[derive(Debug, Clone)]
struct Known {
    user_id: i64,
    expires_at: DateTime<Utc>,
    checked_at: Instant,
}

/// A ticket for remembering a session checked now: remembered only if nothing
/// was invalidated meanwhile (a logout racing with the check).
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

pub struct KnownSessions {
    entries: Mutex<HashMap<String, Known>>,
    generation: AtomicU64,
    enabled: AtomicBool,
}

impl Default for KnownSessions {
    fn default() -> Self {
        Self { entries: Mutex::default(), generation: AtomicU64::new(0), enabled: AtomicBool::new(true) }
    }
}

impl KnownSessions {
    /// A cache that keeps nothing: for an authenticator no invalidation reaches.
    pub fn off() -> Self {
        let sessions = Self::default();
        sessions.enabled.store(false, Ordering::Release);
        sessions
    }

    /// The user of session `id`, if it was checked recently, belongs to `user_id`
    /// and has not expired at `now`.
    pub fn lookup(&self, id: &str, user_id: i64, now: DateTime<Utc>) -> bool {
        if !self.enabled.load(Ordering::Acquire) {
            return false;
        }
        let Ok(entries) = self.entries.lock() else { return false };
        entries.get(id).is_some_and(|k| {
            k.user_id == user_id && k.expires_at > now && k.checked_at.elapsed() < RECHECK_AFTER
        })
    }

    /// Taken before checking a session in the database.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.generation.load(Ordering::Acquire))
    }

    /// Remembers a session found open for `user_id` (who may sign in), unless
    /// something was invalidated since `ticket` was taken.
    pub fn remember(&self, ticket: Ticket, id: &str, user_id: i64, expires_at: DateTime<Utc>) {
        if !self.enabled.load(Ordering::Acquire) {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else { return };
        // Checked under the lock: an invalidation takes it too, after bumping.
        if self.generation.load(Ordering::Acquire) != ticket.0 {
            return;
        }
        if entries.len() >= MAX_KNOWN {
            entries.clear();
        }
        entries.insert(id.to_owned(), Known { user_id, expires_at, checked_at: Instant::now() });
    }

    /// One session ended here (logout).
    pub fn forget(&self, id: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(id);
        }
    }

    /// A user's sessions, status or member changed.
    pub fn forget_user(&self, user_id: i64) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, k| k.user_id != user_id);
        }
    }

    pub fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }

    /// Off while changes made elsewhere could go unnoticed; on again empty.
    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Release);
        self.forget_all();
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.entries.lock().map(|e| e.is_empty()).unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn later(seconds: i64) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::seconds(seconds)
    }

    #[test]
    fn a_remembered_session_is_known_for_its_user_until_it_expires() {
        let s = KnownSessions::default();
        let t = s.ticket();
        s.remember(t, "jti", 7, later(60));
        assert!(s.lookup("jti", 7, Utc::now()));
        assert!(!s.lookup("jti", 8, Utc::now()), "another user's claim");
        assert!(!s.lookup("other", 7, Utc::now()));
        assert!(!s.lookup("jti", 7, later(61)), "expired");
    }

    #[test]
    fn invalidation_drops_entries_and_wins_over_a_racing_check() {
        let s = KnownSessions::default();
        s.remember(s.ticket(), "a", 1, later(60));
        s.remember(s.ticket(), "b", 2, later(60));
        s.forget_user(1);
        assert!(!s.lookup("a", 1, Utc::now()));
        assert!(s.lookup("b", 2, Utc::now()));
        s.forget("b");
        assert!(!s.lookup("b", 2, Utc::now()));
        // A check that started before a logout must not bring the session back.
        let ticket = s.ticket();
        s.forget("c");
        s.remember(ticket, "c", 3, later(60));
        assert!(!s.lookup("c", 3, Utc::now()));
    }

    #[test]
    fn nothing_is_known_while_disabled() {
        let s = KnownSessions::default();
        s.remember(s.ticket(), "a", 1, later(60));
        s.set_enabled(false);
        assert!(!s.lookup("a", 1, Utc::now()));
        s.remember(s.ticket(), "a", 1, later(60));
        assert!(!s.lookup("a", 1, Utc::now()));
        s.set_enabled(true);
        assert!(s.is_empty(), "starts empty");
    }
}
