//! The state store (issue 22): the little state sign-out that sticks needs,
//! kept outside the sealed cookies.
//!
//! [`Store`] is one of three kinds (`[store] kind`):
//! - `local`: one SQLite file on this machine ([`local`]). Several processes
//!   on the machine may share the file: counters, locks and one-use marks are
//!   atomic across them, and each sees the others' revocations within
//!   `store.poll_interval`.
//! - `redis`: Redis or Valkey ([`redis`]), for any number of replicas;
//!   revocations reach them by pub/sub.
//! - `none`: no state; every operation that needs state answers
//!   [`StoreError::Off`], and the revocation feed is empty.
//!
//! Revocations are read on the request path only through the in-memory
//! [`RevocationView`] ([`view`]), never from the store itself.
//!
//! Times: revocation and session expiries are Unix seconds from the injected
//! clock (the same clock sessions use); the short TTLs of counters, locks,
//! outcomes and one-use marks are counted by the store (Redis's clock, or the
//! local wall clock in milliseconds, shared by processes on one machine).

pub mod accounts;
pub mod local;
pub mod redis;
pub mod view;

pub use accounts::{AccountRecord, Created};
pub use view::{Health, RevocationView, Verdict};

use crate::clock::SharedClock;
use crate::config::store::{StoreKind, StoreSettings};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;

/// Why a store operation failed. Its text names no secret (never the Redis URL's password).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the state store is off (store.kind = \"none\")")]
    Off,
    #[error("the state store did not answer within {0:?}")]
    Timeout(Duration),
    #[error("redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    #[error("local store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("local store file {path}: {message}")]
    File { path: String, message: String },
    #[error("the store holds an entry sealgate cannot read: {0}")]
    Corrupt(String),
}

/// One revocation, as stored and as announced to every replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Revocation {
    /// The session `id` is revoked; forgotten at `until` (its absolute expiry).
    Session { id: String, until: i64 },
    /// Every session of `user` issued before `before` is revoked; the mark is
    /// forgotten at `until` (when the last such session would have expired).
    User { user: String, before: i64, until: i64 },
}

impl Revocation {
    pub fn until(&self) -> i64 {
        match self {
            Revocation::Session { until, .. } | Revocation::User { until, .. } => *until,
        }
    }
}

/// What joins a provider id and a user id in the key of a per-provider user
/// mark. A control character: a user id never holds one (`User::validate`),
/// so such a key never equals a plain user id.
pub const PROVIDER_USER_SEPARATOR: char = '\u{1f}';

/// The `user` of a [`Revocation::User`] that covers `user`'s sessions
/// through `provider` only (a `sub` is an id at its issuer alone: the same
/// string may be someone else at another provider, or a password user).
pub fn user_at_provider(provider: &str, user: &str) -> String {
    format!("{provider}{PROVIDER_USER_SEPARATOR}{user}")
}

/// A per-user mark: sessions issued before `before` are revoked, until `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserMark {
    pub before: i64,
    pub until: i64,
}

/// Everything revoked and not yet expired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationSnapshot {
    /// Session id to the time it is forgotten.
    pub sessions: HashMap<String, i64>,
    pub users: HashMap<String, UserMark>,
}

impl RevocationSnapshot {
    /// Add one revocation. Revocations only widen: the later `until` and
    /// the later `before` win, so applying events twice or out of order
    /// gives the same view.
    pub fn apply(&mut self, revocation: &Revocation) {
        match revocation {
            Revocation::Session { id, until } => {
                let kept = self.sessions.entry(id.clone()).or_insert(*until);
                *kept = (*kept).max(*until);
            }
            Revocation::User { user, before, until } => {
                let kept = self.users.entry(user.clone()).or_insert(UserMark { before: *before, until: *until });
                kept.before = kept.before.max(*before);
                kept.until = kept.until.max(*until);
            }
        }
    }

    /// Forget what expired at `now`.
    pub fn prune(&mut self, now: i64) {
        self.sessions.retain(|_, until| *until > now);
        self.users.retain(|_, mark| mark.until > now);
    }

    pub fn len(&self) -> usize {
        self.sessions.len() + self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the revocation feed says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedEvent {
    /// Everything revoked now: replaces what was known. Sent first, and again
    /// after every reconnect (or when events were missed).
    Snapshot(RevocationSnapshot),
    /// One new revocation.
    Revoked(Revocation),
    /// The store cannot be reached; what is known may be missing revocations
    /// until the next `Snapshot`.
    Lost,
}

/// The stream of [`FeedEvent`]s from [`Store::subscribe`]. Dropping it stops
/// the task that feeds it.
pub struct RevocationFeed {
    events: mpsc::Receiver<FeedEvent>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Keeps an idle feed (kind `none`) open.
    _idle: Option<mpsc::Sender<FeedEvent>>,
}

impl RevocationFeed {
    const CAPACITY: usize = 4096;

    fn spawn<F, Fut>(run: F) -> Self
    where
        F: FnOnce(mpsc::Sender<FeedEvent>) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let (sender, events) = mpsc::channel(Self::CAPACITY);
        let task = tokio::spawn(run(sender));
        Self { events, task: Some(task), _idle: None }
    }

    fn idle() -> Self {
        let (sender, events) = mpsc::channel(Self::CAPACITY);
        let _ = sender.try_send(FeedEvent::Snapshot(RevocationSnapshot::default()));
        Self { events, task: None, _idle: Some(sender) }
    }

    /// The next event; `None` only if the feeding task ended.
    pub async fn recv(&mut self) -> Option<FeedEvent> {
        self.events.recv().await
    }

    /// An event already waiting, if any (to apply a burst at once).
    pub fn try_recv(&mut self) -> Option<FeedEvent> {
        self.events.try_recv().ok()
    }
}

impl Drop for RevocationFeed {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// What [`Store::sign_out_everywhere`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedOut {
    /// The user mark now in the store (for the in-memory view of the replica that made it).
    pub revocation: Revocation,
    /// How many of the user's session records were forgotten.
    pub records_removed: usize,
}

/// A managed session, as listed to its user ("your sessions") and found by
/// back-channel logout (by the IdP's `sid`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: String,
    pub user: String,
    pub provider: String,
    /// Sign-in time, Unix seconds.
    pub created: i64,
    /// Absolute expiry, Unix seconds; the record is forgotten then.
    pub expires: i64,
    pub user_agent: Option<String>,
    pub client_address: Option<String>,
    /// The IdP's session id (`sid` claim), for back-channel logout.
    pub sid: Option<String>,
}

/// The state store. Cheap to clone: every clone shares one connection (pool).
#[derive(Clone)]
pub enum Store {
    Off,
    Local(local::LocalStore),
    Redis(redis::RedisStore),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Store::Off => f.write_str("Store::Off"),
            Store::Local(local) => write!(f, "Store::Local({})", local.path().display()),
            Store::Redis(redis) => write!(f, "Store::Redis({})", redis.redacted_url()),
        }
    }
}

impl Store {
    /// Open the configured store. Nothing is written yet: the local file is
    /// created at the first write, and Redis is connected to lazily (so a
    /// gateway starts while Redis is down, and reports it).
    pub fn open(settings: &StoreSettings, clock: SharedClock) -> Result<Store, StoreError> {
        Ok(match settings.kind {
            StoreKind::None => Store::Off,
            StoreKind::Local => Store::Local(local::LocalStore::open(settings, clock)?),
            StoreKind::Redis => Store::Redis(redis::RedisStore::open(settings, clock)?),
        })
    }

    /// True for `kind = "none"`: the stateful features are off.
    pub fn is_off(&self) -> bool {
        matches!(self, Store::Off)
    }

    /// Revoke the session `id` until `until` (its absolute expiry), and
    /// announce it. Already expired: nothing to do.
    pub async fn revoke_session(&self, id: &str, until: i64) -> Result<(), StoreError> {
        self.revoke(Revocation::Session { id: id.to_owned(), until }).await
    }

    /// Revoke every session of `user` issued before `before`; the mark is
    /// kept until `until` (`before` plus the sessions' absolute lifetime).
    /// `user` is a user id (every provider), or [`user_at_provider`] (one).
    pub async fn revoke_user_before(&self, user: &str, before: i64, until: i64) -> Result<(), StoreError> {
        self.revoke(Revocation::User { user: user.to_owned(), before, until }).await
    }

    /// Sign `user` out everywhere ("sign out everywhere", for an operator or
    /// an admin API client): revoke every session of theirs issued up to and
    /// including the second `now`, keep the mark until the last of them would
    /// have ended (`absolute_lifetime` later), and forget their session
    /// records. Session times are whole seconds, so the mark covers `now`
    /// itself: a session signed in this very second (perhaps by whoever is
    /// being locked out) is refused too, and a person signing in again
    /// waits out the second at most.
    pub async fn sign_out_everywhere(
        &self,
        user: &str,
        now: i64,
        absolute_lifetime: i64,
    ) -> Result<SignedOut, StoreError> {
        let before = now.saturating_add(1);
        let until = before.saturating_add(absolute_lifetime.max(0));
        self.revoke_user_before(user, before, until).await?;
        let mut records_removed = 0;
        for record in self.list_sessions(user).await? {
            if record.created < before && self.remove_session(user, &record.id).await? {
                records_removed += 1;
            }
        }
        Ok(SignedOut { revocation: Revocation::User { user: user.to_owned(), before, until }, records_removed })
    }

    pub async fn revoke(&self, revocation: Revocation) -> Result<(), StoreError> {
        match self {
            Store::Off => Err(StoreError::Off),
            Store::Local(local) => local.revoke(revocation).await,
            Store::Redis(redis) => redis.revoke(revocation).await,
        }
    }

    /// Everything revoked and not expired. Empty for `none`.
    pub async fn load_revocations(&self) -> Result<RevocationSnapshot, StoreError> {
        match self {
            Store::Off => Ok(RevocationSnapshot::default()),
            Store::Local(local) => local.load_revocations().await.map(|(snapshot, _)| snapshot),
            Store::Redis(redis) => redis.load_revocations().await,
        }
    }

    /// The revocation feed: a `Snapshot` first, then each new revocation,
    /// `Lost` when the store goes away and a fresh `Snapshot` when it is back.
    pub fn subscribe(&self) -> RevocationFeed {
        match self {
            Store::Off => RevocationFeed::idle(),
            Store::Local(local) => local.subscribe(),
            Store::Redis(redis) => redis.subscribe(),
        }
    }

    /// Count one hit on `key` in a fixed window that starts at its first hit
    /// and lasts `window`; returns the hits so far in the window, counted
    /// atomically across every replica.
    pub async fn hit(&self, key: &str, window: Duration) -> Result<u64, StoreError> {
        match self {
            Store::Off => Err(StoreError::Off),
            Store::Local(local) => local.hit(key, window).await,
            Store::Redis(redis) => redis.hit(key, window).await,
        }
    }

    /// Take back one hit on `key` in its current window (a counted attempt
    /// that turned out not to count); never below zero, and nothing once the
    /// window has ended.
    pub async fn take_back(&self, key: &str) -> Result<(), StoreError> {
        match self {
            Store::Off => Err(StoreError::Off),
            Store::Local(local) => local.take_back(key).await,
            Store::Redis(redis) => redis.take_back(key).await,
        }
    }

    /// How long the window of hits on `key` has left; `None` when there is none.
    pub async fn window_left(&self, key: &str) -> Result<Option<Duration>, StoreError> {
        match self {
            Store::Off => Err(StoreError::Off),
            Store::Local(local) => local.window_left(key).await,
            Store::Redis(redis) => redis.window_left(key).await,
        }
    }

    /// Forget the hits on `key`.
    pub async fn reset(&self, key: &str) -> Result<(), StoreError> {
        match self {
            Store::Off => Err(StoreError::Off),
            Store::Local(local) => local.reset(key).await,
            Store::Redis(redis) => redis.reset(key).await,
        }
    }

    /// Take the lock `key` for `ttl` unless someone holds it. The lock ends
    /// at `ttl` whatever happens; [`LockGuard::release`] ends it sooner, and
    /// only for its holder.
    pub async fn try_lock(&self, key: &str, ttl: Duration) -> Result<Option<LockGuard>, StoreError> {
        let token = random_token();
        let taken = match self {
            Store::Off => return Err(StoreError::Off),
            Store::Local(local) => local.try_lock(key, &token, ttl).await?,
            Store::Redis(redis) => redis.try_lock(key, &token, ttl).await?,
        };
        Ok(taken.then(|| LockGuard { store: self.clone(), key: key.to_owned(), token, released: false }))
    }

    async fn unlock(&self, key: &str, token: &str) -> Result<bool, StoreError> {
        match self {
            Store::Off => Err(StoreError::Off),
            Store::Local(local) => local.unlock(key, token).await,
            Store::Redis(redis) => redis.unlock(key, token).await,
        }
    }

    /// Keep `value` (opaque: the caller encrypts it) under `key` for `ttl`.
    pub async fn put_outcome(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        match self {
            Store::Off => Err(StoreError::Off),
            Store::Local(local) => local.put_outcome(key, value, ttl).await,
            Store::Redis(redis) => redis.put_outcome(key, value, ttl).await,
        }
    }

    /// The value under `key`, if put and not expired.
    pub async fn get_outcome(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Store::Off => Err(StoreError::Off),
            Store::Local(local) => local.get_outcome(key).await,
            Store::Redis(redis) => redis.get_outcome(key).await,
        }
    }

    /// Mark `key` seen for `ttl`. True for the first caller only; false for
    /// every later caller, on any replica, until `ttl` has passed (a replayed
    /// logout token's `jti`, a one-use code used twice).
    pub async fn seen_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        match self {
            Store::Off => Err(StoreError::Off),
            Store::Local(local) => local.seen_once(key, ttl).await,
            Store::Redis(redis) => redis.seen_once(key, ttl).await,
        }
    }

    /// Record a session of `record.user` (replacing one with the same id),
    /// kept until `record.expires`.
    pub async fn record_session(&self, record: &SessionRecord) -> Result<(), StoreError> {
        match self {
            Store::Off => Err(StoreError::Off),
            Store::Local(local) => local.record_session(record).await,
            Store::Redis(redis) => redis.record_session(record).await,
        }
    }

    /// The user's unexpired sessions, oldest first.
    pub async fn list_sessions(&self, user: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let mut sessions = match self {
            Store::Off => return Err(StoreError::Off),
            Store::Local(local) => local.list_sessions(user).await?,
            Store::Redis(redis) => redis.list_sessions(user).await?,
        };
        oldest_first(&mut sessions);
        Ok(sessions)
    }

    /// Forget the record of one session; true if there was one.
    pub async fn remove_session(&self, user: &str, id: &str) -> Result<bool, StoreError> {
        match self {
            Store::Off => Err(StoreError::Off),
            Store::Local(local) => local.remove_session(user, id).await,
            Store::Redis(redis) => redis.remove_session(user, id).await,
        }
    }

    /// The unexpired sessions signed in through `provider` with the IdP session `sid`, oldest first.
    pub async fn sessions_by_sid(&self, provider: &str, sid: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let mut sessions = match self {
            Store::Off => return Err(StoreError::Off),
            Store::Local(local) => local.sessions_by_sid(provider, sid).await?,
            Store::Redis(redis) => redis.sessions_by_sid(provider, sid).await?,
        };
        oldest_first(&mut sessions);
        Ok(sessions)
    }
}

/// A held lock from [`Store::try_lock`]. Release it with [`LockGuard::release`];
/// a guard dropped unreleased releases in the background (or the TTL ends it).
#[must_use = "a lock is released when its guard is released or dropped"]
pub struct LockGuard {
    store: Store,
    key: String,
    token: String,
    released: bool,
}

impl std::fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard").field("key", &self.key).finish_non_exhaustive()
    }
}

impl LockGuard {
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Release the lock if this guard still holds it (compare-and-delete);
    /// false if it had already expired, perhaps taken by someone else, whose
    /// lock stays.
    pub async fn release(mut self) -> Result<bool, StoreError> {
        self.released = true;
        self.store.unlock(&self.key, &self.token).await
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (store, key, token) =
                (self.store.clone(), std::mem::take(&mut self.key), std::mem::take(&mut self.token));
            runtime.spawn(async move {
                let _ = store.unlock(&key, &token).await;
            });
        }
    }
}

fn oldest_first(sessions: &mut [SessionRecord]) {
    sessions.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
}

/// 128 random bits, hex: a lock holder's token.
fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A duration in whole milliseconds, at least 1 (a zero TTL would mean "forever" to Redis).
fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX).max(1)
}

/// Run `call` within `limit`.
async fn bounded<T, E>(limit: Duration, call: impl std::future::Future<Output = Result<T, E>>) -> Result<T, StoreError>
where
    StoreError: From<E>,
{
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result.map_err(StoreError::from),
        Err(_) => Err(StoreError::Timeout(limit)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocations_only_widen_whatever_the_order() {
        let events = [
            Revocation::Session { id: "s1".into(), until: 200 },
            Revocation::Session { id: "s1".into(), until: 100 },
            Revocation::User { user: "ada".into(), before: 50, until: 500 },
            Revocation::User { user: "ada".into(), before: 40, until: 600 },
        ];
        let mut forward = RevocationSnapshot::default();
        events.iter().for_each(|event| forward.apply(event));
        let mut backward = RevocationSnapshot::default();
        events.iter().rev().for_each(|event| backward.apply(event));
        assert_eq!(forward, backward);
        assert_eq!(forward.sessions["s1"], 200);
        assert_eq!(forward.users["ada"], UserMark { before: 50, until: 600 });
    }

    #[test]
    fn a_revocation_travels_as_tagged_json() {
        let event = Revocation::User { user: "ada".into(), before: 1, until: 2 };
        let text = serde_json::to_string(&event).unwrap();
        assert_eq!(text, r#"{"kind":"user","user":"ada","before":1,"until":2}"#);
        assert_eq!(serde_json::from_str::<Revocation>(&text).unwrap(), event);
    }

    #[tokio::test]
    async fn the_off_store_says_so_and_feeds_an_empty_view() {
        let store = Store::Off;
        assert!(store.is_off());
        assert!(matches!(store.revoke_session("s", 10).await, Err(StoreError::Off)));
        assert!(matches!(store.hit("k", Duration::from_secs(1)).await, Err(StoreError::Off)));
        assert!(store.load_revocations().await.unwrap().is_empty());
        let mut feed = store.subscribe();
        assert_eq!(feed.recv().await, Some(FeedEvent::Snapshot(RevocationSnapshot::default())));
        assert!(feed.try_recv().is_none());
    }
}
