//! Sign-in throttling: failed sign-ins are counted per account and per client
//! address in sliding windows, in memory. An account or address at its limit is
//! refused with the answer of a wrong password, without checking the password
//! (so a throttled flood costs no argon2 work).
//!
//! - Per account: as many failures as the lockout allows, in the lockout's period.
//!   An attempt reserves its failure before the password is checked and gives it
//!   back on success, so concurrent guesses cannot slip past the lockout's count,
//!   and an attacker never keeps an account shut longer than the lockout would.
//! - Per address: password spraying (one password against many accounts) from one
//!   address is as slow as guessing one account's password. IPv6 clients count per
//!   /64, the block one subscriber usually holds.
//!
//! Password checks themselves run at most `hashing` at a time: each takes argon2's
//! memory, and a burst of sign-ins must not take all of it.
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Keys kept per window at most; beyond, expired ones are dropped first, then the
/// oldest half (a flood of made-up usernames must not grow memory without end).
const MAX_KEYS: usize = 100_000;
/// Longest username kept as a key (longer ones are cut: no such account exists).
const MAX_KEY_CHARS: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Account,
    Address,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Address => "address",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max_failures: u32,
    pub window: Duration,
}

/// Failure times per key, oldest first.
struct Window<K> {
    limit: Limit,
    entries: Mutex<HashMap<K, VecDeque<Instant>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics under this lock; a poisoned one still holds good counts.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<K: Hash + Eq + Clone> Window<K> {
    fn new(limit: Limit) -> Self {
        Self { limit, entries: Mutex::new(HashMap::new()) }
    }

    /// Reserves a failure for `key` unless it is at its limit.
    fn reserve(&self, key: &K, now: Instant) -> Result<Instant, ()> {
        let mut map = lock(&self.entries);
        if map.len() >= MAX_KEYS && !map.contains_key(key) {
            self.prune(&mut map, now);
        }
        let times = map.entry(key.clone()).or_default();
        while times.front().is_some_and(|t| now.duration_since(*t) >= self.limit.window) {
            times.pop_front();
        }
        if times.len() >= self.limit.max_failures as usize {
            return Err(());
        }
        times.push_back(now);
        Ok(now)
    }

    /// Gives a reservation back (the attempt succeeded).
    fn release(&self, key: &K, at: Instant) {
        let mut map = lock(&self.entries);
        if let Some(times) = map.get_mut(key) {
            if let Some(i) = times.iter().rposition(|t| *t == at) {
                times.remove(i);
            }
            if times.is_empty() {
                map.remove(key);
            }
        }
    }

    fn prune(&self, map: &mut HashMap<K, VecDeque<Instant>>, now: Instant) {
        map.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < self.limit.window));
        if map.len() >= MAX_KEYS {
            let mut newest: Vec<Instant> = map.values().filter_map(|t| t.back().copied()).collect();
            newest.sort_unstable();
            let cut = newest[newest.len() / 2];
            map.retain(|_, times| times.back().is_some_and(|t| *t > cut));
        }
    }
}

/// The address as counted: IPv4 as is, IPv6 by its /64.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
        v4 => v4,
    }
}

fn account_key(username: &str) -> String {
    username.trim().chars().take(MAX_KEY_CHARS).collect::<String>().to_lowercase()
}

pub struct SignInThrottle {
    accounts: Window<String>,
    addresses: Window<IpAddr>,
    hashing: tokio::sync::Semaphore,
}

/// A sign-in in progress: its failures are reserved; `succeeded` gives them back.
pub struct Attempt<'a> {
    throttle: &'a SignInThrottle,
    account: (String, Instant),
    address: Option<(IpAddr, Instant)>,
}

impl Attempt<'_> {
    /// The password was right: this attempt does not count as a failure.
    pub fn succeeded(self) {
        self.throttle.accounts.release(&self.account.0, self.account.1);
        if let Some((ip, at)) = &self.address {
            self.throttle.addresses.release(ip, *at);
        }
    }
}

impl SignInThrottle {
    pub fn new(account: Limit, address: Limit) -> Self {
        let hashing = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8);
        Self {
            accounts: Window::new(account),
            addresses: Window::new(address),
            hashing: tokio::sync::Semaphore::new(hashing),
        }
    }

    /// Starts an attempt, or says which limit refuses it.
    pub fn begin(&self, username: &str, client: Option<IpAddr>) -> Result<Attempt<'_>, Scope> {
        let now = Instant::now();
        let address = match client.map(address_key) {
            Some(ip) => Some((ip, self.addresses.reserve(&ip, now).map_err(|()| Scope::Address)?)),
            None => None,
        };
        let key = account_key(username);
        match self.accounts.reserve(&key, now) {
            Ok(at) => Ok(Attempt { throttle: self, account: (key, at), address }),
            Err(()) => {
                // Refused for the account: the address's reservation is not a guess.
                if let Some((ip, at)) = address {
                    self.addresses.release(&ip, at);
                }
                Err(Scope::Account)
            }
        }
    }

    /// Waits for a turn to check a password.
    pub async fn hashing_turn(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.hashing.acquire().await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(account: u32, address: u32) -> SignInThrottle {
        let window = Duration::from_secs(900);
        SignInThrottle::new(Limit { max_failures: account, window }, Limit { max_failures: address, window })
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("ip"))
    }

    #[test]
    fn failures_per_account_are_limited_across_addresses() {
        let t = throttle(3, 100);
        for i in 0..3 {
            let _failed = t.begin("anna", ip(&format!("203.0.113.{i}"))).expect("allowed");
        }
        assert_eq!(t.begin("Anna ", ip("198.51.100.1")).err(), Some(Scope::Account), "same account");
        assert!(t.begin("bert", ip("198.51.100.1")).is_ok(), "other accounts are not affected");
    }

    #[test]
    fn spraying_from_one_address_is_limited_and_v6_counts_per_64() {
        let t = throttle(100, 4);
        for user in ["a", "b", "c", "d"] {
            let _failed = t.begin(user, ip("2001:db8:1:2::10")).expect("allowed");
        }
        assert_eq!(t.begin("e", ip("2001:db8:1:2::99")).err(), Some(Scope::Address), "same /64");
        assert!(t.begin("e", ip("2001:db8:1:3::1")).is_ok(), "another /64");
        assert!(t.begin("e", None).is_ok(), "no address known: the account counts");
    }

    #[test]
    fn successes_do_not_count_and_windows_slide() {
        let t = throttle(2, 2);
        for _ in 0..10 {
            t.begin("anna", ip("192.0.2.1")).expect("allowed").succeeded();
        }
        let window = Window::<u8>::new(Limit { max_failures: 1, window: Duration::from_secs(10) });
        let start = Instant::now();
        assert!(window.reserve(&1, start).is_ok());
        assert!(window.reserve(&1, start + Duration::from_secs(9)).is_err());
        assert!(window.reserve(&1, start + Duration::from_secs(10)).is_ok(), "the old failure slid out");
    }

    #[test]
    fn an_account_refusal_does_not_use_up_the_address() {
        let t = throttle(1, 2);
        let _failed = t.begin("anna", ip("192.0.2.1")).expect("allowed");
        for _ in 0..5 {
            assert_eq!(t.begin("anna", ip("192.0.2.1")).err(), Some(Scope::Account));
        }
        assert!(t.begin("bert", ip("192.0.2.1")).is_ok(), "one failure of the address so far");
    }

    #[test]
    fn memory_stays_bounded_under_made_up_usernames() {
        let window = Window::<u32>::new(Limit { max_failures: 5, window: Duration::from_secs(900) });
        let now = Instant::now();
        for key in 0..(MAX_KEYS as u32 + 10) {
            let _ = window.reserve(&key, now + Duration::from_nanos(u64::from(key)));
        }
        assert!(lock(&window.entries).len() <= MAX_KEYS);
    }
}
