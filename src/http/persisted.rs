//! Automatic persisted queries (Apollo's protocol): a front end sends
//! `extensions.persistedQuery = {version: 1, sha256Hash}` without the query text;
//! a known hash runs the query it stands for, an unknown one answers
//! `PersistedQueryNotFound` (`extensions.code` PERSISTED_QUERY_NOT_FOUND) and the
//! client sends hash and text once, which registers it. A hash is also usable in a
//! GET, so a query's URL stays short and cacheable.
//!
//! Only text whose SHA-256 is the given hash, and that passed the request limits,
//! is registered: the cache holds nothing a client could not have sent in full. It
//! is per instance and bounded (least recently used entries go first); a miss
//! behind a load balancer only costs the client one retry with the text.
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;

/// A query text's SHA-256.
pub type Hash = [u8; 32];

/// What a request's `persistedQuery` extension asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Persisted {
    /// No extension: an ordinary request.
    None,
    /// The query text came with its hash: register it once it passed the limits.
    Register(Hash),
    /// The text was looked up by its hash.
    Found,
}

/// Why a `persistedQuery` extension is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The hash is not (or no longer) known: the client retries with the text.
    NotFound,
    /// Switched off by configuration.
    NotSupported,
    /// Not version 1, or no 64-digit hexadecimal hash.
    Malformed(&'static str),
    /// The text does not hash to the given value.
    HashMismatch,
}

pub struct PersistedQueries {
    capacity: usize,
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    by_hash: HashMap<Hash, (std::sync::Arc<str>, u64)>,
    /// Increases with every use: the entry with the smallest stamp is evicted.
    clock: u64,
}

impl PersistedQueries {
    /// A cache of at most `capacity` queries; 0 switches the protocol off.
    pub fn new(capacity: usize) -> Self {
        Self { capacity, entries: Mutex::new(Entries::default()) }
    }

    /// Resolves the request's `persistedQuery` extension: fills in the query text
    /// for a known hash, or says the text must be registered after admission.
    pub fn resolve(&self, request: &mut async_graphql::Request) -> Result<Persisted, Refused> {
        let Some(extension) = request.extensions.get("persistedQuery") else {
            return Ok(Persisted::None);
        };
        if self.capacity == 0 {
            return Err(Refused::NotSupported);
        }
        let hash = parse_extension(extension)?;
        if !request.query.trim().is_empty() {
            let actual: Hash = Sha256::digest(request.query.as_bytes()).into();
            return if actual == hash { Ok(Persisted::Register(hash)) } else { Err(Refused::HashMismatch) };
        }
        let mut entries = self.entries.lock().map_err(|_| Refused::NotFound)?;
        entries.clock += 1;
        let now = entries.clock;
        match entries.by_hash.get_mut(&hash) {
            Some((text, used)) => {
                *used = now;
                request.query = text.to_string();
                Ok(Persisted::Found)
            }
            None => Err(Refused::NotFound),
        }
    }

    /// Remembers an admitted query under its hash.
    pub fn register(&self, hash: Hash, query: &str) {
        let Ok(mut entries) = self.entries.lock() else { return };
        entries.clock += 1;
        let now = entries.clock;
        if let Some((_, used)) = entries.by_hash.get_mut(&hash) {
            *used = now;
            return;
        }
        if entries.by_hash.len() >= self.capacity {
            // O(capacity) on a registration, which happens once per new query text.
            if let Some(oldest) = entries.by_hash.iter().min_by_key(|(_, (_, used))| *used).map(|(h, _)| *h) {
                entries.by_hash.remove(&oldest);
            }
        }
        entries.by_hash.insert(hash, (query.into(), now));
    }

    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.by_hash.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn parse_extension(extension: &async_graphql::Value) -> Result<Hash, Refused> {
    use async_graphql::Value;
    let Value::Object(fields) = extension else {
        return Err(Refused::Malformed("persistedQuery must be an object with version and sha256Hash"));
    };
    match fields.get("version") {
        Some(Value::Number(n)) if n.as_u64() == Some(1) => {}
        _ => return Err(Refused::Malformed("persistedQuery.version must be 1")),
    }
    let Some(Value::String(hex)) = fields.get("sha256Hash") else {
        return Err(Refused::Malformed("persistedQuery.sha256Hash must be a string"));
    };
    decode_hex(hex).ok_or(Refused::Malformed("persistedQuery.sha256Hash must be 64 hexadecimal digits"))
}

fn decode_hex(text: &str) -> Option<Hash> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut hash = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        hash[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{Name, Value};

    fn hex(hash: &Hash) -> String {
        hash.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn request(query: &str, hash: &str, version: i32) -> async_graphql::Request {
        let mut fields = async_graphql::indexmap::IndexMap::new();
        fields.insert(Name::new("version"), Value::from(version));
        fields.insert(Name::new("sha256Hash"), Value::from(hash));
        let mut r = async_graphql::Request::new(query);
        r.extensions.insert("persistedQuery".into(), Value::Object(fields));
        r
    }

    const QUERY: &str = "{ orgUnits { totalCount } }";

    #[test]
    fn an_unknown_hash_is_not_found_until_its_text_was_registered() {
        let cache = PersistedQueries::new(10);
        let hash: Hash = Sha256::digest(QUERY.as_bytes()).into();
        assert_eq!(cache.resolve(&mut request("", &hex(&hash), 1)), Err(Refused::NotFound));
        assert_eq!(cache.resolve(&mut request(QUERY, &hex(&hash), 1)), Ok(Persisted::Register(hash)));
        cache.register(hash, QUERY);
        let mut by_hash = request("", &hex(&hash).to_uppercase(), 1);
        assert_eq!(cache.resolve(&mut by_hash), Ok(Persisted::Found));
        assert_eq!(by_hash.query, QUERY);
    }

    #[test]
    fn text_that_does_not_hash_to_the_given_value_is_refused() {
        let cache = PersistedQueries::new(10);
        let other: Hash = Sha256::digest(b"{ viewer { username } }").into();
        assert_eq!(cache.resolve(&mut request(QUERY, &hex(&other), 1)), Err(Refused::HashMismatch));
    }

    #[test]
    fn malformed_extensions_and_a_switched_off_cache_are_refused() {
        let cache = PersistedQueries::new(10);
        let hash = hex(&Sha256::digest(QUERY.as_bytes()).into());
        assert!(matches!(cache.resolve(&mut request("", &hash, 2)), Err(Refused::Malformed(_))));
        assert!(matches!(cache.resolve(&mut request("", "abc", 1)), Err(Refused::Malformed(_))));
        assert!(matches!(cache.resolve(&mut request("", &"zz".repeat(32), 1)), Err(Refused::Malformed(_))));
        assert_eq!(PersistedQueries::new(0).resolve(&mut request("", &hash, 1)), Err(Refused::NotSupported));
        assert_eq!(cache.resolve(&mut async_graphql::Request::new(QUERY)), Ok(Persisted::None));
    }

    #[test]
    fn the_least_recently_used_query_is_evicted() {
        let cache = PersistedQueries::new(2);
        let texts = ["{ a }", "{ b }", "{ c }"];
        let hashes: Vec<Hash> = texts.iter().map(|t| Sha256::digest(t.as_bytes()).into()).collect();
        cache.register(hashes[0], texts[0]);
        cache.register(hashes[1], texts[1]);
        // Using the first makes the second the oldest.
        assert_eq!(cache.resolve(&mut request("", &hex(&hashes[0]), 1)), Ok(Persisted::Found));
        cache.register(hashes[2], texts[2]);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.resolve(&mut request("", &hex(&hashes[1]), 1)), Err(Refused::NotFound));
        assert_eq!(cache.resolve(&mut request("", &hex(&hashes[0]), 1)), Ok(Persisted::Found));
    }
}
