//! A bounded cache of tokens already opened, so the hot path decrypts,
//! parses and validates a given cookie once, not on every request.
//!
//! Keyed by the token's GCM tag (16 random-looking bytes, unique per seal;
//! for a JWS, the end of its signature) and confirmed by comparing the
//! whole token, so an entry is only ever returned for exactly the token
//! that produced it. Only outcomes that can
//! never change for that token are kept: a session payload (its times are
//! still checked against the clock on every use), or a refusal after
//! decryption (wrong key, tampered ciphertext, bad payload), for as long as
//! the keys do not change: every entry is kept with the key generation it
//! was opened in ([`keys::generation`]), and a lookup answers only for the
//! generation in force, so a reload of the key set (a retired key, say)
//! takes effect on the next request. That costs the hot path one atomic
//! load. Nothing here is state: every replica can open every session
//! without it.
//!
//! Two levels: a moka cache shared by the workers (bounded by bytes, entries
//! dropped when idle), and in front of it a small direct-mapped table per
//! thread holding the entries that thread used last. An actix worker is one
//! thread, so the table needs no locks, hashing or bookkeeping; a moka hit
//! costs several times more, and this is the hot path. The table holds the
//! thread's own copies of entries that moka held ([`ThreadCopy`]), so it
//! adds no outcome of its own, and it is keyed by cache as well as by token.
//!
//! Own copies, because every request clones the opened value and drops it
//! again: with one shared `Arc`, workers on different cores would bounce
//! its reference count (and those of the identity headers built from it)
//! between them on every request with a popular session.

use crate::keys;
use moka::sync::Cache;
use std::any::Any;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
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
    token: Box<[u8]>,
    /// The key generation the token was opened in.
    generation: u64,
    outcome: Cached<V, E>,
}

/// Opened tokens of one kind (sessions, API tokens), by GCM tag.
pub struct OpenCache<V, E> {
    /// Tells this cache's entries from other caches' in the per-thread table.
    id: u64,
    entries: Cache<TagKey, Arc<Entry<V, E>>>,
}

/// A value the per-thread table keeps a copy of: the copy shares no
/// reference count that the hot path writes with the original.
pub trait ThreadCopy {
    fn thread_copy(&self) -> Self;
}

/// Slots in each thread's table of recently used entries.
const RECENT_SLOTS: usize = 256;

/// `(cache id, Recent<V, E>)`.
type RecentSlot = Option<(u64, Box<dyn Any>)>;

thread_local! {
    /// Per thread, by slot.
    static RECENT: RefCell<Box<[RecentSlot]>> = RefCell::new((0..RECENT_SLOTS).map(|_| None).collect());
}

static NEXT_CACHE_ID: AtomicU64 = AtomicU64::new(1);

/// The slot of a key. Keys are the ends of MACs and signatures, so a few
/// of their bytes spread evenly; a crafted key can at worst evict an entry
/// from one slot, which costs a moka lookup.
fn slot(key: &TagKey) -> usize {
    let [a, b, c, d, ..] = *key;
    usize::from(u16::from_le_bytes([a ^ c, b ^ d])) % RECENT_SLOTS
}

impl<V, E> std::fmt::Debug for OpenCache<V, E>
where
    V: ThreadCopy + Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenCache").field("entries", &self.entries.entry_count()).finish()
    }
}

/// The last 22 characters of the last segment: a JWE's whole GCM tag, or
/// the end of a JWS signature (the whole token is compared on a hit).
fn tag_key(token: &[u8]) -> Option<TagKey> {
    let dot = memchr::memrchr(b'.', token)?;
    let last = token.get(dot + 1..)?;
    last.get(last.len().checked_sub(22)?..)?.try_into().ok()
}

impl<V, E> OpenCache<V, E>
where
    V: ThreadCopy + Clone + Send + Sync + 'static,
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
        OpenCache { id: NEXT_CACHE_ID.fetch_add(1, Ordering::Relaxed), entries }
    }

    /// Bytes, not `str`: a hit compares the whole token with one that was
    /// valid when stored, so the hot path skips UTF-8 validation.
    pub fn get(&self, token: &[u8]) -> Option<Cached<V, E>> {
        self.get_in(token, keys::generation())
    }

    /// [`get`](Self::get) for key generation `generation`, read before the
    /// caller opens a token it then [`insert_in`](Self::insert_in)s: a
    /// reload in between makes that entry one of an old generation.
    pub fn get_in(&self, token: &[u8], generation: u64) -> Option<Cached<V, E>> {
        let key = tag_key(token)?;
        let slot = slot(&key);
        if let Some(recent) = self.recent(slot, token, || generation) {
            return Some(recent);
        }
        let entry = self.entries.get(&key)?;
        if *entry.token != *token || entry.generation != generation {
            return None;
        }
        let outcome = entry.outcome.clone();
        self.remember(slot, entry);
        Some(outcome)
    }

    /// [`get`](Self::get), from this thread's table of recently used
    /// entries only: `None` for a token that is not among them, even if the
    /// shared cache holds it.
    ///
    /// The key generation is read only once the token has been found, so a
    /// request that then goes on to [`get_in`](Self::get_in) reads it once.
    pub fn get_recent(&self, token: &[u8]) -> Option<Cached<V, E>> {
        self.recent(slot(&tag_key(token)?), token, keys::generation)
    }

    fn recent(&self, slot: usize, token: &[u8], generation: impl FnOnce() -> u64) -> Option<Cached<V, E>> {
        RECENT.with_borrow_mut(|slots| {
            let (id, held) = slots.get_mut(slot)?.as_mut()?;
            let held = held.downcast_mut::<Recent<V, E>>().filter(|_| *id == self.id)?;
            if *held.entry().token != *token || held.entry().generation != generation() {
                return None;
            }
            if let Recent::Shared(shared) = held {
                // Used again on this thread: worth a copy of its own.
                let own = thread_copy(shared);
                *held = Recent::Own(own);
            }
            Some(held.entry().outcome.clone())
        })
    }

    /// Keep what opening `token` gave, for the key generation in force now.
    pub fn insert(&self, token: &[u8], outcome: Cached<V, E>) {
        self.insert_in(token, outcome, keys::generation());
    }

    /// Keep what opening `token` gave in key generation `generation` (read
    /// before opening it).
    pub fn insert_in(&self, token: &[u8], outcome: Cached<V, E>, generation: u64) {
        if let Some(key) = tag_key(token) {
            let entry = Arc::new(Entry { token: token.into(), generation, outcome });
            self.remember(slot(&key), Arc::clone(&entry));
            self.entries.insert(key, entry);
        }
    }

    fn remember(&self, slot: usize, entry: Arc<Entry<V, E>>) {
        RECENT.with_borrow_mut(|slots| {
            if let Some(place) = slots.get_mut(slot) {
                *place = Some((self.id, Box::new(Recent::Shared(entry))));
            }
        });
    }
}

/// What a slot holds: moka's entry, or, once the thread has used it again,
/// the thread's own copy (so a session used once per thread costs no copy).
enum Recent<V, E> {
    Shared(Arc<Entry<V, E>>),
    Own(Entry<V, E>),
}

impl<V, E> Recent<V, E> {
    fn entry(&self) -> &Entry<V, E> {
        match self {
            Recent::Shared(entry) => entry,
            Recent::Own(entry) => entry,
        }
    }
}

fn thread_copy<V: ThreadCopy, E: Clone>(entry: &Entry<V, E>) -> Entry<V, E> {
    let outcome = match &entry.outcome {
        Cached::Opened(value) => Cached::Opened(value.thread_copy()),
        Cached::Refused(error) => Cached::Refused(error.clone()),
    };
    Entry { token: entry.token.clone(), generation: entry.generation, outcome }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl ThreadCopy for u8 {
        fn thread_copy(&self) -> u8 {
            *self
        }
    }

    #[test]
    fn jwe_tags_and_jws_signatures_are_keys_and_whole_tokens_are_compared() {
        let cache: OpenCache<u8, ()> = OpenCache::new(1 << 20, Duration::from_secs(60));
        let jwe = format!("h..iv.ct.{}", "T".repeat(22));
        let jws = format!("h.p.{}", "S".repeat(86));
        cache.insert(jwe.as_bytes(), Cached::Opened(1));
        cache.insert(jws.as_bytes(), Cached::Opened(2));
        assert!(matches!(cache.get(jwe.as_bytes()), Some(Cached::Opened(1))));
        assert!(matches!(cache.get(jws.as_bytes()), Some(Cached::Opened(2))));
        // Same key (last 22 characters), another token: no hit.
        assert!(cache.get(format!("x.p.{}", "S".repeat(86)).as_bytes()).is_none());
        // Too short to key: never cached.
        cache.insert(b"a.b.short", Cached::Opened(3));
        assert!(cache.get(b"a.b.short").is_none());
    }

    #[test]
    fn an_entry_answers_only_in_the_key_generation_it_was_opened_in() {
        let cache: OpenCache<u8, ()> = OpenCache::new(1 << 20, Duration::from_secs(60));
        let token = format!("h..iv.ct.{}", "G".repeat(22));
        let now = keys::generation();
        cache.insert_in(token.as_bytes(), Cached::Opened(1), now);
        assert!(matches!(cache.get_in(token.as_bytes(), now), Some(Cached::Opened(1))));
        // Another generation: neither this thread's table nor moka answers.
        assert!(cache.get_in(token.as_bytes(), now + 1).is_none());
        let other = std::thread::scope(|s| s.spawn(|| cache.get_in(token.as_bytes(), now + 1).is_none()).join());
        assert!(other.unwrap());
        // Opened before a reload, stored after it: stale at once.
        cache.insert_in(token.as_bytes(), Cached::Opened(2), now);
        assert!(cache.get_in(token.as_bytes(), now + 1).is_none());
    }

    /// Counts its copies.
    #[derive(Clone, Debug, PartialEq)]
    struct Copies(u32);

    impl ThreadCopy for Copies {
        fn thread_copy(&self) -> Copies {
            Copies(self.0 + 1)
        }
    }

    #[test]
    fn a_thread_copies_an_entry_it_uses_again_once_and_only_then() {
        let cache: OpenCache<Copies, ()> = OpenCache::new(1 << 20, Duration::from_secs(60));
        let token = format!("h..iv.ct.{}", "C".repeat(22));
        cache.insert(token.as_bytes(), Cached::Opened(Copies(0)));
        let seen = |cache: &OpenCache<Copies, ()>| match cache.get(token.as_bytes()) {
            Some(Cached::Opened(copies)) => copies.0,
            other => panic!("{other:?}"),
        };
        // Opening it was the first use on this thread: the next makes the thread's copy.
        assert_eq!([seen(&cache), seen(&cache), seen(&cache)], [1, 1, 1]);
        // Another thread: moka's value the first time, then a copy of its own.
        std::thread::scope(|s| {
            s.spawn(|| assert_eq!([seen(&cache), seen(&cache), seen(&cache)], [0, 1, 1]));
        });
    }

    #[test]
    fn the_per_thread_table_answers_only_for_its_own_cache_and_the_exact_token() {
        let a: OpenCache<u8, ()> = OpenCache::new(1 << 20, Duration::from_secs(60));
        let b: OpenCache<u8, ()> = OpenCache::new(1 << 20, Duration::from_secs(60));
        let token = format!("h..iv.ct.{}", "K".repeat(22));
        a.insert(token.as_bytes(), Cached::Opened(1));
        assert!(matches!(a.get(token.as_bytes()), Some(Cached::Opened(1))));
        // Same token, same slot, another cache (another key set): nothing.
        assert!(b.get(token.as_bytes()).is_none());
        b.insert(token.as_bytes(), Cached::Refused(()));
        assert!(matches!(b.get(token.as_bytes()), Some(Cached::Refused(()))));
        // `b` took the slot; `a` still answers (from moka) and takes it back.
        assert!(matches!(a.get(token.as_bytes()), Some(Cached::Opened(1))));
        // Same key, other bytes before it: not the remembered token.
        let other = format!("x..iv.ct.{}", "K".repeat(22));
        assert!(a.get(other.as_bytes()).is_none());
        // Another key in the same slot replaces the entry, and both still answer.
        let colliding = format!("h..iv.ct.KKKK{}", "z".repeat(18));
        assert_eq!(slot(&tag_key(colliding.as_bytes()).unwrap()), slot(&tag_key(token.as_bytes()).unwrap()));
        a.insert(colliding.as_bytes(), Cached::Opened(2));
        assert!(matches!(a.get(colliding.as_bytes()), Some(Cached::Opened(2))));
        assert!(matches!(a.get(token.as_bytes()), Some(Cached::Opened(1))));
        // A value seen on another thread is found through moka there.
        let token_again = token.clone();
        let seen =
            std::thread::scope(|s| s.spawn(|| matches!(a.get(token_again.as_bytes()), Some(Cached::Opened(1)))).join());
        assert!(seen.unwrap());
    }
}
