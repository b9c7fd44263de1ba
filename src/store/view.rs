//! The in-memory view of what is revoked, which `/auth/verify` will consult:
//! a hash lookup, no lock and no network call.
//!
//! The revoked set is an immutable [`RevocationSnapshot`] behind an
//! [`ArcSwap`]: a lookup loads the current one (lock-free) and looks up two
//! hash maps. Updates build a new snapshot and swap it in; a burst of events
//! waiting in the feed is applied as one copy.
//!
//! Entries expire by the injected clock: a session id counts until its
//! absolute expiry, a user mark until the last session it covers would have
//! expired; expired entries are ignored at once and dropped at the next update
//! or prune.

use super::{FeedEvent, Revocation, RevocationSnapshot, Store, UserMark};
use crate::clock::SharedClock;
use crate::config::store::WhenUnavailable;
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Expired entries are dropped at least this often by [`RevocationView::follow`].
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Most events applied as one copy of the snapshot.
const MOST_PER_BATCH: usize = 10_000;

/// `stale_since` when the view is current.
const CURRENT: i64 = i64::MIN;

/// How current the view is, for `/readyz` and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// No snapshot yet (the store has not answered since start).
    Loading,
    /// Following the store.
    Current,
    /// The store went away at `since` (Unix seconds); the view may miss
    /// revocations made since.
    Stale { since: i64 },
}

/// What the view says of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    Revoked,
    /// The view is not current and `store.unavailable = "deny"`.
    Unavailable,
}

pub struct RevocationView {
    revoked: ArcSwap<RevocationSnapshot>,
    loaded: AtomicBool,
    stale_since: AtomicI64,
    clock: SharedClock,
    unavailable: WhenUnavailable,
}

impl std::fmt::Debug for RevocationView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationView")
            .field("entries", &self.len())
            .field("health", &self.health())
            .finish_non_exhaustive()
    }
}

/// The mark of `user` at `provider`, looked up without allocating (this
/// is on every request once any user mark exists): the key is built on
/// the stack when it fits.
fn mark_at_provider<'m>(users: &'m HashMap<String, UserMark>, provider: &str, user: &str) -> Option<&'m UserMark> {
    let mut buffer = [0u8; 256];
    let separator = [super::PROVIDER_USER_SEPARATOR as u8];
    let length = provider.len() + separator.len() + user.len();
    let Some(key) = buffer.get_mut(..length) else {
        return users.get(&super::user_at_provider(provider, user));
    };
    let (head, rest) = key.split_at_mut(provider.len());
    let (middle, tail) = rest.split_at_mut(separator.len());
    head.copy_from_slice(provider.as_bytes());
    middle.copy_from_slice(&separator);
    tail.copy_from_slice(user.as_bytes());
    users.get(std::str::from_utf8(key).ok()?)
}

impl RevocationView {
    /// An empty view, `Loading` until its first snapshot.
    pub fn new(clock: SharedClock, unavailable: WhenUnavailable) -> Arc<Self> {
        Arc::new(Self {
            revoked: ArcSwap::from_pointee(RevocationSnapshot::default()),
            loaded: AtomicBool::new(false),
            stale_since: AtomicI64::new(CURRENT),
            clock,
            unavailable,
        })
    }

    /// Is this session revoked: its id, or its user's sessions issued
    /// before the session was (`issued_at`, Unix seconds), everywhere or
    /// through its `provider` (see [`user_at_provider`](super::user_at_provider))?
    pub fn is_revoked(&self, session_id: &str, provider: &str, user: &str, issued_at: i64) -> bool {
        let now = self.clock.now();
        let revoked = self.revoked.load();
        let covers = |mark: &UserMark| mark.until > now && issued_at < mark.before;
        revoked.sessions.get(session_id).is_some_and(|until| *until > now)
            || (!revoked.users.is_empty()
                && (revoked.users.get(user).is_some_and(covers)
                    || mark_at_provider(&revoked.users, provider, user).is_some_and(covers)))
    }

    /// [`Self::is_revoked`], and what `store.unavailable` says while the view is not current.
    pub fn check(&self, session_id: &str, provider: &str, user: &str, issued_at: i64) -> Verdict {
        if self.is_revoked(session_id, provider, user, issued_at) {
            return Verdict::Revoked;
        }
        match (self.unavailable, self.health()) {
            (WhenUnavailable::Deny, Health::Loading | Health::Stale { .. }) => Verdict::Unavailable,
            _ => Verdict::Valid,
        }
    }

    pub fn health(&self) -> Health {
        match (self.loaded.load(Ordering::Acquire), self.stale_since.load(Ordering::Acquire)) {
            (_, since) if since != CURRENT => Health::Stale { since },
            (false, _) => Health::Loading,
            (true, _) => Health::Current,
        }
    }

    /// Entries held (expired ones included until the next prune).
    pub fn len(&self) -> usize {
        self.revoked.load().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Apply a batch of feed events with one copy of the revoked set.
    pub fn apply(&self, events: impl IntoIterator<Item = FeedEvent>) {
        let mut next: Option<RevocationSnapshot> = None;
        for event in events {
            match event {
                FeedEvent::Snapshot(snapshot) => {
                    next = Some(snapshot);
                    self.loaded.store(true, Ordering::Release);
                    self.stale_since.store(CURRENT, Ordering::Release);
                }
                FeedEvent::Revoked(revocation) => {
                    next.get_or_insert_with(|| RevocationSnapshot::clone(&self.revoked.load())).apply(&revocation);
                }
                FeedEvent::Lost => {
                    let now = self.clock.now();
                    let _ = self.stale_since.compare_exchange(CURRENT, now, Ordering::AcqRel, Ordering::Acquire);
                }
            }
        }
        if let Some(mut next) = next {
            next.prune(self.clock.now());
            self.revoked.store(Arc::new(next));
        }
    }

    /// Add one revocation made here (the feed will bring it too; applying twice is harmless).
    pub fn insert(&self, revocation: Revocation) {
        self.apply([FeedEvent::Revoked(revocation)]);
    }

    /// Drop what expired.
    pub fn prune(&self) {
        let now = self.clock.now();
        let current = self.revoked.load();
        let expired = current.sessions.values().any(|until| *until <= now)
            || current.users.values().any(|mark| mark.until <= now);
        if expired {
            let mut next = RevocationSnapshot::clone(&current);
            next.prune(now);
            self.revoked.store(Arc::new(next));
        }
    }

    /// Keep the view current from `store`'s feed until the task is aborted.
    pub fn follow(self: &Arc<Self>, store: &Store) -> tokio::task::JoinHandle<()> {
        let view = Arc::clone(self);
        let mut feed = store.subscribe();
        tokio::spawn(async move {
            let mut prune = tokio::time::interval(PRUNE_EVERY);
            prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    event = feed.recv() => {
                        let Some(event) = event else { return };
                        let mut batch = vec![event];
                        while batch.len() < MOST_PER_BATCH {
                            let Some(more) = feed.try_recv() else { break };
                            batch.push(more);
                        }
                        view.apply(batch);
                    }
                    _ = prune.tick() => view.prune(),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn view(clock: &ManualClock, unavailable: WhenUnavailable) -> Arc<RevocationView> {
        RevocationView::new(Arc::new(clock.clone()), unavailable)
    }

    fn session(id: &str, until: i64) -> Revocation {
        Revocation::Session { id: id.into(), until }
    }

    #[test]
    fn a_revoked_session_counts_until_its_absolute_expiry() {
        let clock = ManualClock::at(1_000);
        let view = view(&clock, WhenUnavailable::ServeKnown);
        view.insert(session("s1", 1_100));
        assert!(view.is_revoked("s1", "p", "ada", 900));
        assert!(!view.is_revoked("s2", "p", "ada", 900));
        clock.set(1_099);
        assert!(view.is_revoked("s1", "p", "ada", 900));
        clock.set(1_100);
        assert!(!view.is_revoked("s1", "p", "ada", 900), "forgotten at its expiry");
        assert_eq!(view.len(), 1, "kept until pruned");
        view.prune();
        assert!(view.is_empty());
    }

    #[test]
    fn a_user_mark_revokes_sessions_issued_before_it_only() {
        let clock = ManualClock::at(1_000);
        let view = view(&clock, WhenUnavailable::ServeKnown);
        view.insert(Revocation::User { user: "ada".into(), before: 1_000, until: 5_000 });
        assert!(view.is_revoked("any", "p", "ada", 999), "issued before the mark");
        assert!(!view.is_revoked("any", "p", "ada", 1_000), "issued at the mark: a new sign-in");
        assert!(!view.is_revoked("any", "p", "bob", 10), "another user");
        clock.set(5_000);
        assert!(!view.is_revoked("any", "p", "ada", 999), "the mark is forgotten at its until");
    }

    #[test]
    fn a_user_mark_at_one_provider_spares_the_same_user_id_elsewhere() {
        let clock = ManualClock::at(1_000);
        let view = view(&clock, WhenUnavailable::ServeKnown);
        let user = super::super::user_at_provider("corp", "ada");
        view.insert(Revocation::User { user, before: 1_000, until: 5_000 });
        assert!(view.is_revoked("any", "corp", "ada", 999));
        assert!(!view.is_revoked("any", "credentials", "ada", 999), "ada who signs in with a password");
        assert!(!view.is_revoked("any", "corp", "bob", 999));
        assert!(!view.is_revoked("any", "corp", "ada", 1_000), "signed in again since");
        // Keys too long for the stack are looked up all the same.
        let long = "x".repeat(600);
        view.insert(Revocation::User {
            user: super::super::user_at_provider("corp", &long),
            before: 1_000,
            until: 5_000,
        });
        assert!(view.is_revoked("any", "corp", &long, 999));
        assert!(!view.is_revoked("any", "other", &long, 999));
    }

    #[test]
    fn a_snapshot_replaces_what_was_known_and_events_add_to_it() {
        let clock = ManualClock::at(1_000);
        let view = view(&clock, WhenUnavailable::ServeKnown);
        assert_eq!(view.health(), Health::Loading);
        view.insert(session("old", 2_000));
        let mut snapshot = RevocationSnapshot::default();
        snapshot.apply(&session("s1", 2_000));
        view.apply([FeedEvent::Snapshot(snapshot), FeedEvent::Revoked(session("s2", 2_000))]);
        assert_eq!(view.health(), Health::Current);
        assert!(!view.is_revoked("old", "p", "u", 0));
        assert!(view.is_revoked("s1", "p", "u", 0) && view.is_revoked("s2", "p", "u", 0));
    }

    #[test]
    fn a_lost_store_makes_the_view_stale_since_then_until_the_next_snapshot() {
        let clock = ManualClock::at(1_000);
        let view = view(&clock, WhenUnavailable::ServeKnown);
        view.apply([FeedEvent::Snapshot(RevocationSnapshot::default()), FeedEvent::Revoked(session("s1", 2_000))]);
        view.apply([FeedEvent::Lost]);
        clock.advance(30);
        view.apply([FeedEvent::Lost]);
        assert_eq!(view.health(), Health::Stale { since: 1_000 }, "stale since the first loss");
        assert!(view.is_revoked("s1", "p", "u", 0), "what is known is kept");
        assert_eq!(view.check("s9", "p", "u", 0), Verdict::Valid, "serve_known");
        view.apply([FeedEvent::Snapshot(RevocationSnapshot::default())]);
        assert_eq!(view.health(), Health::Current);
    }

    #[test]
    fn deny_refuses_every_session_while_the_view_is_not_current() {
        let clock = ManualClock::at(1_000);
        let view = view(&clock, WhenUnavailable::Deny);
        assert_eq!(view.check("s1", "p", "u", 0), Verdict::Unavailable, "nothing loaded yet");
        view.apply([FeedEvent::Snapshot(RevocationSnapshot::default())]);
        assert_eq!(view.check("s1", "p", "u", 0), Verdict::Valid);
        view.apply([FeedEvent::Lost]);
        assert_eq!(view.check("s1", "p", "u", 0), Verdict::Unavailable);
        view.insert(session("s2", 2_000));
        assert_eq!(view.check("s2", "p", "u", 0), Verdict::Revoked);
    }

    #[tokio::test]
    async fn follow_keeps_the_view_current_from_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::at(1_000);
        let settings = crate::config::store::StoreSettings { path: dir.path().join("s.db"), ..Default::default() };
        let store = Store::open(&settings, Arc::new(clock.clone())).unwrap();
        let view = view(&clock, WhenUnavailable::ServeKnown);
        let task = view.follow(&store);
        store.revoke_session("s1", 2_000).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while !view.is_revoked("s1", "p", "u", 0) {
            assert!(tokio::time::Instant::now() < deadline, "the revocation never reached the view");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(view.health(), Health::Current);
        task.abort();
    }
}
