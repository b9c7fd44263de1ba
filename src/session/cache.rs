//! A bounded cache of tokens already opened, so the hot path decrypts,
//! parses and validates a given cookie once, not on every request.
//!
//! Keyed by the token's GCM tag (16 random-looking bytes, unique per seal;
//! for a JWS, the end of its signature) and confirmed by comparing the
//! whole token, so an entry is only ever returned for exactly the token
//! that produced it. Only outcomes that can
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

/// The last 22 characters of the last segment: a JWE's whole GCM tag, or
/// the end of a JWS signature (the whole token is compared on a hit).
fn tag_key(token: &str) -> Option<TagKey> {
    let last = token.rsplit_once('.')?.1.as_bytes();
    last.get(last.len().checked_sub(22)?..)?.try_into().ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwe_tags_and_jws_signatures_are_keys_and_whole_tokens_are_compared() {
        let cache: OpenCache<u8, ()> = OpenCache::new(1 << 20, Duration::from_secs(60));
        let jwe = format!("h..iv.ct.{}", "T".repeat(22));
        let jws = format!("h.p.{}", "S".repeat(86));
        cache.insert(&jwe, Cached::Opened(1));
        cache.insert(&jws, Cached::Opened(2));
        assert!(matches!(cache.get(&jwe), Some(Cached::Opened(1))));
        assert!(matches!(cache.get(&jws), Some(Cached::Opened(2))));
        // Same key (last 22 characters), another token: no hit.
        assert!(cache.get(&format!("x.p.{}", "S".repeat(86))).is_none());
        // Too short to key: never cached.
        cache.insert("a.b.short", Cached::Opened(3));
        assert!(cache.get("a.b.short").is_none());
    }
}
