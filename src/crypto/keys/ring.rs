//! [`KeyRing`]: the key set a running gateway serves with, replaceable while
//! it runs, and [`Keyed`]: a value built from the set (a sealer's derived
//! keys, a cipher) that is rebuilt whenever the set is replaced.
//!
//! A replacement is all or nothing: every follower builds its new value
//! first, and only when all of them have succeeded is anything installed.
//! Readers never wait: each [`Keyed`] is an `ArcSwap`, one load per use.
//!
//! [`generation`] counts the replacements in this process. Caches of opened
//! tokens keep it with every entry and answer only for entries of the
//! current generation, so a key that is retired stops opening at once, even
//! for tokens a cache had opened with it.

use super::JwkSet;
use arc_swap::{ArcSwap, Guard};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// How many times a key ring of this process has been replaced. Anything
/// opened with keys is valid for the generation it was opened in only.
#[inline]
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// The key set in force, shared by everything built from it.
#[derive(Clone)]
pub struct KeyRing {
    inner: Arc<Inner>,
}

struct Inner {
    set: ArcSwap<JwkSet>,
    followers: Mutex<Vec<Weak<dyn Follower>>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").field("keys", &self.inner.set.load().len()).finish()
    }
}

/// How a [`Keyed`] value is built from a set.
type Build<T> = Box<dyn Fn(&JwkSet) -> Result<T, String> + Send + Sync>;

/// A value built from a key set, rebuilt when its ring's set is replaced.
pub struct Keyed<T> {
    value: ArcSwap<T>,
    build: Build<T>,
}

impl<T> Keyed<T> {
    /// A value that never changes (built from a set that has no ring).
    pub fn fixed(value: T) -> Arc<Keyed<T>> {
        Arc::new(Keyed { value: ArcSwap::from_pointee(value), build: Box::new(|_| Err("fixed".into())) })
    }

    /// The value for the set in force.
    #[inline]
    pub fn load(&self) -> Guard<Arc<T>> {
        self.value.load()
    }
}

/// What a ring asks of each follower when its set is replaced.
trait Follower: Send + Sync {
    /// Build the value for `set`; the closure installs it.
    fn prepare(self: Arc<Self>, set: &JwkSet) -> Result<Box<dyn FnOnce()>, String>;
}

impl<T: Send + Sync + 'static> Follower for Keyed<T> {
    fn prepare(self: Arc<Self>, set: &JwkSet) -> Result<Box<dyn FnOnce()>, String> {
        let value = (self.build)(set)?;
        Ok(Box::new(move || self.value.store(Arc::new(value))))
    }
}

impl KeyRing {
    pub fn new(set: JwkSet) -> KeyRing {
        KeyRing {
            inner: Arc::new(Inner {
                set: ArcSwap::from_pointee(set.without_ring()),
                followers: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The set in force, remembering this ring: what is built from it
    /// follows the ring.
    pub fn set(&self) -> JwkSet {
        JwkSet::clone(&self.inner.set.load()).with_ring(self.clone())
    }

    /// Build a value from the set in force, and rebuild it whenever the set
    /// is replaced, for as long as the value is alive.
    pub fn follow<T, E>(
        &self,
        build: impl Fn(&JwkSet) -> Result<T, E> + Send + Sync + 'static,
    ) -> Result<Arc<Keyed<T>>, E>
    where
        T: Send + Sync + 'static,
        E: std::fmt::Display,
    {
        let mut followers = self.inner.followers.lock().unwrap_or_else(|e| e.into_inner());
        let first = build(&self.inner.set.load())?;
        let keyed = Arc::new(Keyed {
            value: ArcSwap::from_pointee(first),
            build: Box::new(move |set| build(set).map_err(|e| e.to_string())),
        });
        followers.retain(|f| f.strong_count() > 0);
        let follower: Arc<dyn Follower> = keyed.clone();
        followers.push(Arc::downgrade(&follower));
        Ok(keyed)
    }

    /// Put `set` in force for every follower, or (if any cannot build from
    /// it) for none, leaving the set in force as it was.
    pub fn replace(&self, set: JwkSet) -> Result<(), String> {
        let set = set.without_ring();
        let followers = self.inner.followers.lock().unwrap_or_else(|e| e.into_inner());
        let mut installs = Vec::with_capacity(followers.len());
        for follower in followers.iter().filter_map(Weak::upgrade) {
            installs.push(follower.prepare(&set)?);
        }
        self.inner.set.store(Arc::new(set));
        for install in installs {
            install();
        }
        // After the new keys are in place: a cache lookup that sees the new
        // generation opens with the new keys.
        GENERATION.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// The set in force.
    pub fn current(&self) -> Arc<JwkSet> {
        self.inner.set.load_full()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::{KeyAlg, KeyState};

    #[test]
    fn followers_are_rebuilt_on_replace_and_all_or_none() {
        let mut set = JwkSet::generate(KeyAlg::Dir);
        let ring = KeyRing::new(set.clone());
        let current_kid = ring.follow(|s| Ok::<_, String>(s.current().kid().to_owned())).unwrap();
        // A follower that refuses sets of three keys.
        let count = ring
            .follow(|s| if s.len() < 3 { Ok(s.len()) } else { Err(format!("{} keys is too many", s.len())) })
            .unwrap();
        let first = set.current().kid().to_owned();
        let second = set.add_generated(KeyAlg::Dir, KeyState::Current);
        let before = generation();
        ring.replace(set.clone()).unwrap();
        assert!(generation() > before);
        assert_eq!(**current_kid.load(), second);
        assert_eq!(**count.load(), 2);

        set.add_generated(KeyAlg::Dir, KeyState::Current);
        assert!(ring.replace(set).unwrap_err().contains("too many"));
        assert_eq!(**current_kid.load(), second, "nothing changed");
        assert_eq!(ring.current().len(), 2);
        assert!(ring.current().get(&first).is_some());
    }

    #[test]
    fn debug_shows_no_key_material() {
        let ring = KeyRing::new(JwkSet::generate(KeyAlg::Dir));
        let set = ring.set();
        let shown = format!("{ring:?} {set:?}");
        assert!(shown.contains(set.current().kid()), "{shown}");
        assert!(!shown.contains(&set.current().k_b64()), "{shown}");
    }

    #[test]
    fn a_dropped_follower_is_forgotten() {
        let ring = KeyRing::new(JwkSet::generate(KeyAlg::Dir));
        let keyed = ring.follow(|s| Ok::<_, String>(s.len())).unwrap();
        drop(keyed);
        ring.replace(JwkSet::generate(KeyAlg::Dir)).unwrap();
        let _again = ring.follow(|s| Ok::<_, String>(s.len())).unwrap();
        assert_eq!(ring.inner.followers.lock().unwrap().len(), 1);
    }
}
