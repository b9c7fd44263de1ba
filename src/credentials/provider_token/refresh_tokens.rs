//! The refresh tokens this gateway has held for sessions it issued, so one
//! presented as `Authorization: Bearer` is refused whatever the provider's
//! introspection says about it.
//!
//! Sessions are sealed cookies, so the gateway keeps no list of them: this is
//! a bounded in-memory set of SHA-256 digests (never the tokens), filled at
//! sign-in and at every refresh (the spent token and its successor). It
//! starts empty at each start, and the least recently added digests leave
//! it first once it is full; introspection's `token_type` rule is what
//! holds beyond it.

use moka::policy::EvictionPolicy;
use moka::sync::Cache;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// Digests kept at most: about 100 bytes each.
const CAPACITY: u64 = 100_000;

pub struct KnownRefreshTokens {
    digests: Cache<[u8; 32], ()>,
}

impl std::fmt::Debug for KnownRefreshTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownRefreshTokens").field("entries", &self.digests.entry_count()).finish()
    }
}

impl Default for KnownRefreshTokens {
    fn default() -> Self {
        KnownRefreshTokens::with_capacity(CAPACITY)
    }
}

/// The digest a token is known by (the same as the introspection cache's key).
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl KnownRefreshTokens {
    pub fn with_capacity(capacity: u64) -> KnownRefreshTokens {
        // LRU, not TinyLFU: a token seen once must be admitted even when the set is full.
        let digests = Cache::builder().max_capacity(capacity).eviction_policy(EvictionPolicy::lru()).build();
        KnownRefreshTokens { digests }
    }

    pub fn remember(&self, token: &SecretString) {
        self.digests.insert(digest(token.expose_secret()), ());
    }

    /// Whether the token with this [`digest`] was held as a refresh token.
    pub fn contains(&self, digest: &[u8; 32]) -> bool {
        self.digests.contains_key(digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_digests_and_stays_bounded() {
        let known = KnownRefreshTokens::with_capacity(10);
        let token = SecretString::from("rt-SECRET".to_owned());
        assert!(!known.contains(&digest("rt-SECRET")));
        known.remember(&token);
        assert!(known.contains(&digest("rt-SECRET")));
        assert!(!known.contains(&digest("rt-SECRET2")));
        for i in 0..100 {
            known.remember(&SecretString::from(format!("other-{i}")));
        }
        known.digests.run_pending_tasks();
        assert!(known.digests.entry_count() <= 10);
        assert!(known.contains(&digest("other-99")), "the newest is admitted");
        assert!(!format!("{known:?}").contains("SECRET"));
    }
}
