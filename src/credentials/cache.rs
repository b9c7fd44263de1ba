//! The open-cache: a credential is opened (decrypted, or its signature
//! checked) once, not on every request. One cache for session cookies,
//! sealgate API tokens and provider JWTs; one level (moka, shared by the
//! workers, bounded by bytes, entries dropped when idle).
//!
//! Keyed by the token's tag (the last 22 characters of its last segment: a
//! JWE's whole GCM tag, the end of a JWS signature) and confirmed by
//! comparing the whole token, so an entry is only ever returned for exactly
//! the token that produced it. A token too short to have a tag is never
//! kept (none of ours is).
//!
//! What is kept, the one rule: an opened identity (its times and
//! revocation are still checked on every use), or a refusal that cannot
//! change for this token ([`Refusal::is_final`]). Every entry is kept with
//! the key generation it was opened in ([`generation`](crate::crypto::keys::generation)), and a lookup
//! answers only for the generation in force, so a reload of the key set (a
//! retired key, say) takes effect on the next request. Nothing here is
//! state: every replica opens every credential without it.
//!
//! Opaque provider tokens are not kept here: their introspection answers
//! have a time bound of their own (see `provider_token::introspection`).

use super::{Identified, Refusal};
use moka::sync::Cache;
use std::sync::Arc;
use std::time::Duration;

/// The base64url GCM tag, or the end of a signature.
type Tag = [u8; 22];

/// What opening a token gave.
pub type Opened = Result<Arc<Identified>, Refusal>;

struct Entry {
    token: Box<[u8]>,
    /// About the bytes this entry takes in memory: what the cache weighs.
    weight: u32,
    /// The key generation the token was opened in.
    generation: u64,
    outcome: Opened,
}

/// Opened credentials of every kind, by tag.
pub struct OpenCache {
    entries: Cache<Tag, Arc<Entry>>,
}

impl std::fmt::Debug for OpenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenCache").field("entries", &self.entries.entry_count()).finish()
    }
}

/// What moka keeps for each entry besides our value, in heap bytes.
/// Counted from moka 0.12's source for a cache with a weigher and
/// `time_to_idle` (no write-order queue, no timer wheel): the key's `Arc`
/// (48), the entry info (64), the value entry (48), its queue nodes' cell
/// (48), the access-order node (32), the hash table's bucket (32) and its
/// share of the bucket array and the frequency sketch (about 48), with
/// chunks as [`crate::heap::block`] counts them; then checked against
/// VmRSS with a cache full of refusals (BENCHMARKS.md, "The open-cache in
/// resident memory").
const BOOKKEEPING: usize = 320;

/// What an entry costs in resident memory: moka's bookkeeping, our entry's
/// `Arc`, the token, and for an identity everything it holds on the heap
/// once its headers are built ([`Identified::heap_bytes`]). Weighing by
/// this keeps `session.cache_bytes` a bound on memory whatever mix of
/// identities and refusals the cache holds.
fn weigh(token: &[u8], outcome: &Opened) -> u32 {
    let identity = outcome.as_ref().map_or(0, |identified| identified.heap_bytes());
    (BOOKKEEPING + crate::heap::arc::<Entry>() + crate::heap::block(token.len()) + identity)
        .try_into()
        .unwrap_or(u32::MAX)
}

/// The last 22 characters of the last segment.
fn tag(token: &[u8]) -> Option<Tag> {
    let dot = memchr::memrchr(b'.', token)?;
    let last = token.get(dot + 1..)?;
    last.get(last.len().checked_sub(22)?..)?.try_into().ok()
}

impl OpenCache {
    /// A cache taking at most about `max_bytes` of memory (by [`weigh`]),
    /// each entry kept while used at least every `idle`.
    pub fn new(max_bytes: u64, idle: Duration) -> OpenCache {
        let entries = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_, entry: &Arc<Entry>| entry.weight)
            .time_to_idle(idle)
            .build();
        OpenCache { entries }
    }

    /// What opening `token` gave, if it was opened in key generation
    /// `generation` (read by the caller before it opens a token it then
    /// [`keep`](Self::keep)s: a reload in between leaves that entry stale).
    /// Bytes, not `str`: a hit compares the whole token with one that was
    /// valid when stored, so the hot path skips UTF-8 validation.
    pub fn get(&self, token: &[u8], generation: u64) -> Option<Opened> {
        let found = self
            .entries
            .get(&tag(token)?)
            .filter(|entry| *entry.token == *token && entry.generation == generation)
            .map(|entry| entry.outcome.clone());
        crate::metrics::open_cache_lookup(found.is_some());
        found
    }

    /// How many entries the cache holds, and their weight.
    pub fn size(&self) -> (u64, u64) {
        self.entries.run_pending_tasks();
        (self.entries.entry_count(), self.entries.weighted_size())
    }

    /// Keep what opening `token` gave in key generation `generation`, when
    /// the one rule allows: an identity, or a final refusal.
    pub fn keep(&self, token: &[u8], generation: u64, outcome: &Opened) {
        let keep = match outcome {
            Ok(_) => true,
            Err(refusal) => refusal.is_final(),
        };
        if let (true, Some(tag)) = (keep, tag(token)) {
            let weight = weigh(token, outcome);
            self.entries
                .insert(tag, Arc::new(Entry { token: token.into(), weight, outcome: outcome.clone(), generation }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::ApiTokenError;
    use crate::identity::{Identity, ProviderId, Source, User};
    use crate::session::SessionError;

    fn identified(user: &str) -> Opened {
        Ok(Arc::new(Identified::new(
            Identity {
                id: "id".into(),
                user: User::new(user),
                provider: ProviderId::parse("credentials").unwrap(),
                source: Source::Cookie,
                scopes: None,
                issued_at: 0,
                expires_at: 10,
            },
            None,
        )))
    }

    fn user(opened: Option<Opened>) -> Option<String> {
        opened.and_then(Result::ok).map(|i| i.identity.user.id.clone())
    }

    #[test]
    fn jwe_tags_and_jws_signatures_are_keys_and_whole_tokens_are_compared() {
        let cache = OpenCache::new(1 << 20, Duration::from_secs(60));
        let jwe = format!("h..iv.ct.{}", "T".repeat(22));
        let jws = format!("h.p.{}", "S".repeat(86));
        cache.keep(jwe.as_bytes(), 1, &identified("a"));
        cache.keep(jws.as_bytes(), 1, &identified("b"));
        assert_eq!(user(cache.get(jwe.as_bytes(), 1)).as_deref(), Some("a"));
        assert_eq!(user(cache.get(jws.as_bytes(), 1)).as_deref(), Some("b"));
        // Same tag (last 22 characters), another token: no hit.
        assert!(cache.get(format!("x.p.{}", "S".repeat(86)).as_bytes(), 1).is_none());
        // Too short to have a tag: never kept.
        cache.keep(b"a.b.short", 1, &identified("c"));
        assert!(cache.get(b"a.b.short", 1).is_none());
    }

    #[test]
    fn an_entry_answers_only_in_the_key_generation_it_was_opened_in() {
        let cache = OpenCache::new(1 << 20, Duration::from_secs(60));
        let token = format!("h..iv.ct.{}", "G".repeat(22));
        cache.keep(token.as_bytes(), 7, &identified("a"));
        assert!(cache.get(token.as_bytes(), 7).is_some());
        assert!(cache.get(token.as_bytes(), 8).is_none(), "a reload makes it stale");
    }

    #[test]
    fn only_final_refusals_are_kept() {
        let cache = OpenCache::new(1 << 20, Duration::from_secs(60));
        let token = |c: &str| format!("h..iv.ct.{}", c.repeat(22));
        let kept = Refusal::Session(SessionError::Payload);
        let passing = [Refusal::Session(SessionError::Expired), Refusal::ApiToken(ApiTokenError::Revoked)];
        cache.keep(token("k").as_bytes(), 1, &Err(kept));
        assert!(matches!(cache.get(token("k").as_bytes(), 1), Some(Err(refusal)) if refusal == kept));
        for (refusal, c) in passing.into_iter().zip(["x", "y"]) {
            cache.keep(token(c).as_bytes(), 1, &Err(refusal));
            assert!(cache.get(token(c).as_bytes(), 1).is_none(), "{refusal:?} can change: not kept");
        }
    }

    #[test]
    fn an_identity_weighs_its_own_memory_and_a_refusal_only_the_token() {
        let token = [b'x'; 1500];
        let refusal = weigh(&token, &Err(Refusal::Session(SessionError::Payload)));
        let small = weigh(&token, &identified("ada"));
        let mut crowd = User::new("ada");
        crowd.groups = (0..200).map(|i| format!("engineering-platform-team-{i:03}")).collect();
        let crowded = weigh(
            &token,
            &Ok(Arc::new(Identified::new(
                Identity {
                    id: "id".into(),
                    user: crowd,
                    provider: ProviderId::parse("credentials").unwrap(),
                    source: Source::Cookie,
                    scopes: None,
                    issued_at: 0,
                    expires_at: 10,
                },
                None,
            ))),
        );
        assert_eq!(refusal as usize, BOOKKEEPING + crate::heap::arc::<Entry>() + 1520);
        assert!(small > refusal + 512, "an identity costs more than the token: {small} vs {refusal}");
        // 200 groups of 29 bytes (48-byte chunks), held twice (the identity's
        // and its headers'), and the list of them.
        assert!(crowded >= small + 2 * 200 * 48 + 200 * 24, "{crowded} vs {small}");
    }

    #[test]
    fn the_cache_stays_within_its_bytes_by_its_weights() {
        const MAX: u64 = 1 << 20;
        let cache = OpenCache::new(MAX, Duration::from_secs(60));
        let (mut offered, mut lightest) = (0, u64::MAX);
        for i in 0..6000 {
            let token = format!("h..iv.ct{}.{i:0>22}", "c".repeat(i % 700));
            let outcome = match i % 3 {
                0 => Err(Refusal::Session(SessionError::Payload)),
                _ => identified(&format!("user-{i}-{}", "u".repeat(i % 300))),
            };
            let weight = u64::from(weigh(token.as_bytes(), &outcome));
            (offered, lightest) = (offered + weight, lightest.min(weight));
            cache.keep(token.as_bytes(), 1, &outcome);
            if i % 250 == 0 {
                let (_, bytes) = cache.size();
                assert!(bytes <= MAX, "after {i} entries the cache weighs {bytes}");
            }
        }
        assert!(offered > 4 * MAX, "the test offers more than the cache holds: {offered}");
        let (entries, bytes) = cache.size();
        assert!(bytes <= MAX, "{bytes} over {MAX}");
        assert!(bytes > MAX / 2, "and the cache is used: {bytes}");
        assert!(entries * lightest <= bytes, "{entries} entries weigh {bytes}: each at least {lightest}");
    }
}
