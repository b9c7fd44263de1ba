//! A bounded cache of tokens already opened, so the hot path decrypts,
//! parses and validates a given cookie once, not on every request.
//!
//! Keyed by the token's GCM tag (16 random-looking bytes, unique per seal)
//! and confirmed by comparing the whole token, so an entry is only ever
//! returned for exactly the token that produced it. Only outcomes that can
//! never change for that token are kept: a session payload (its times are
//! still checked against the clock on every use), or a refusal after
//! decryption (wrong key, tampered ciphertext, bad payload). Keys are loaded
//! once at start, so a refusal stays a refusal for the life of the process.
//! Nothing here is state: every replica can open every session without it.

use moka::sync::Cache;
use std::sync::Arc;
use std::time::Duration;

/// The base64url GCM tag, the last segment of a compact JWE.
type TagKey = [u8; 22];

/// What opening a token gave: a value, or a refusal that will not change.
#[derive(Debug, Clone)]
pub enum Cached<V, E> {
    Opened(V),
    Refused(E),
}

struct Entry<V, E> {
    token: Box<str>,
    outcome: Cached<V, E>,
}

/// Opened tokens of one kind (sessions, API tokens), by GCM tag.
pub struct OpenCache<V, E> {
    entries: Cache<TagKey, Arc<Entry<V, E>>>,
}

impl<V, E> std::fmt::Debug for OpenCache<V, E>
where
    V: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenCache").field("entries", &self.entries.entry_count()).finish()
    }
}

fn tag_key(token: &str) -> Option<TagKey> {
    let tag = token.rsplit_once('.')?.1;
    tag.as_bytes().try_into().ok()
}

impl<V, E> OpenCache<V, E>
where
    V: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    /// A cache holding at most about `max_bytes` of tokens, each kept while
    /// used at least every `idle`.
    pub fn new(max_bytes: u64, idle: Duration) -> OpenCache<V, E> {
        let entries = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_, entry: &Arc<Entry<V, E>>| (entry.token.len() + 512).try_into().unwrap_or(u32::MAX))
            .time_to_idle(idle)
            .build();
        OpenCache { entries }
    }

    pub fn get(&self, token: &str) -> Option<Cached<V, E>> {
        let entry = self.entries.get(&tag_key(token)?)?;
        (*entry.token == *token).then(|| entry.outcome.clone())
    }

    pub fn insert(&self, token: &str, outcome: Cached<V, E>) {
        if let Some(key) = tag_key(token) {
            self.entries.insert(key, Arc::new(Entry { token: token.into(), outcome }));
        }
    }
}
