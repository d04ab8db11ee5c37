//! The per-process authorization state: the catalogue snapshot and compiled grants
//! per (user, day), dropped on change. Invalidation is one interface
//! (`Invalidate`): called in-process after a change commits, and driven by the
//! notifications of other instances (`notify`). While those may be missed, nothing
//! is cached.
use super::catalogue::Catalogue;
use super::effective::effective_lines;
use super::facts::SubjectFacts;
use super::grants::Grants;
use crate::auth::sessions::KnownSessions;
use chrono::NaiveDate;
use sea_orm::{DatabaseConnection, DbErr};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Who must forget what when data behind the rules changes.
pub trait Invalidate: Send + Sync {
    /// One user's assignments, groups, level, pledge or status changed.
    fn user_changed(&self, user_id: i64);
    /// The catalogue, the tree or anything affecting many users changed.
    fn everything_changed(&self);
}

/// Beyond this many cached grants the cache starts over (a bound, not an LRU: a
/// miss costs four small indexed queries).
const MAX_CACHED: usize = 10_000;

pub struct Authz {
    db: DatabaseConnection,
    catalogue: RwLock<Option<Arc<Catalogue>>>,
    grants: Mutex<HashMap<(i64, NaiveDate), Arc<Grants>>>,
    /// Bumped by every invalidation; a result computed under an older generation
    /// is not cached (a change may have raced with the load).
    generation: AtomicU64,
    /// False while changes made by other instances could go unnoticed (their
    /// notifications cannot reach us): then nothing is cached or served from cache.
    caching: AtomicBool,
    /// Sessions checked recently (`auth::sessions`): invalidated with the grants.
    sessions: Arc<KnownSessions>,
}

impl Authz {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            catalogue: RwLock::new(None),
            grants: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            caching: AtomicBool::new(true),
            sessions: Self::known_sessions(&db),
            db,
        }
    }

    /// Known sessions only where every change is announced to this process: on
    /// PostgreSQL (with the listener). On SQLite, another process (`verband
    /// maintain` from cron) announces nothing, so every request checks its session.
    fn known_sessions(db: &DatabaseConnection) -> Arc<KnownSessions> {
        Arc::new(match db.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => KnownSessions::default(),
            _ => KnownSessions::off(),
        })
    }

    /// The known sessions, for the authenticator: they follow every invalidation
    /// of this cache, in this instance and announced by others.
    pub fn sessions(&self) -> Arc<KnownSessions> {
        self.sessions.clone()
    }

    /// Stops caching and drops everything cached: changes made elsewhere may go
    /// unnoticed from now on (no connection for notifications).
    pub fn suspend_caching(&self) {
        self.caching.store(false, Ordering::Release);
        self.sessions.set_enabled(false);
        self.everything_changed();
    }

    /// Caches again, starting empty: notifications may have been missed while
    /// caching was suspended.
    pub fn resume_caching(&self) {
        self.everything_changed();
        self.sessions.set_enabled(true);
        self.caching.store(true, Ordering::Release);
    }

    pub fn is_caching(&self) -> bool {
        self.caching.load(Ordering::Acquire)
    }

    pub async fn catalogue(&self) -> Result<Arc<Catalogue>, DbErr> {
        if self.is_caching()
            && let Some(c) = self.catalogue.read().ok().and_then(|c| c.clone())
        {
            return Ok(c);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let loaded = Arc::new(Catalogue::load(&self.db).await?);
        if self.is_caching()
            && self.generation.load(Ordering::Acquire) == generation
            && let Ok(mut slot) = self.catalogue.write()
        {
            *slot = Some(loaded.clone());
        }
        Ok(loaded)
    }

    /// The compiled grants of `user_id` on `today`; none for an unknown user.
    pub async fn grants(&self, user_id: i64, today: NaiveDate) -> Result<Arc<Grants>, DbErr> {
        if self.is_caching()
            && let Some(g) = self.grants.lock().ok().and_then(|m| m.get(&(user_id, today)).cloned())
        {
            return Ok(g);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let catalogue = self.catalogue().await?;
        let grants = match SubjectFacts::load(&self.db, user_id).await? {
            Some(facts) => {
                let lines = effective_lines(&facts, &catalogue, today);
                let self_member = if facts.user.disabled { None } else { facts.user.member_id };
                Arc::new(Grants::compile(user_id, self_member, &lines))
            }
            None => Arc::new(Grants::none()),
        };
        if self.is_caching()
            && self.generation.load(Ordering::Acquire) == generation
            && let Ok(mut map) = self.grants.lock()
        {
            if map.len() >= MAX_CACHED {
                map.clear();
            }
            map.insert((user_id, today), grants.clone());
        }
        Ok(grants)
    }

    pub fn cached_grants(&self) -> usize {
        self.grants.lock().map(|m| m.len()).unwrap_or(0)
    }
}

impl Invalidate for Authz {
    fn user_changed(&self, user_id: i64) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.sessions.forget_user(user_id);
        if let Ok(mut map) = self.grants.lock() {
            map.retain(|(u, _), _| *u != user_id);
        }
    }

    fn everything_changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.sessions.forget_all();
        if let Ok(mut slot) = self.catalogue.write() {
            *slot = None;
        }
        if let Ok(mut map) = self.grants.lock() {
            map.clear();
        }
    }
}
