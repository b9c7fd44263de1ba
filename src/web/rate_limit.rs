//! Sign-in attempts, counted per username and per client address in a fixed
//! window that starts at the first attempt. An attempt is counted before the
//! password is checked and taken back if it succeeds.
//!
//! Where they are counted:
//! - **In the state store** (`store.kind` local or redis): one counter per
//!   username and per client address, counted atomically
//!   ([`Store::hit`]), so every replica on the store allows together what
//!   one allows. The window is the store's clock (Redis's, or the machine's
//!   for the local file), the one clock all of them share. The store holds
//!   no username, only a SHA-256 of it (a password typed into the username
//!   field must not land in Redis as it is).
//! - **In memory** (moka, bounded), by the injected clock: with
//!   `kind = "none"`, and whenever the store cannot be reached (logged once
//!   per outage). Then each replica limits on its own: never unlimited.

use crate::clock::SharedClock;
use crate::store::{Store, StoreError};
use moka::ops::compute::Op;
use moka::sync::Cache;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
struct Window {
    started: i64,
    failures: u32,
}

/// The sign-in rate limits: in the store when there is one, else (or while
/// it cannot be reached) in memory.
pub struct FailureLimiter {
    memory: InMemory,
    /// `None` for `store.kind = "none"`.
    shared: Option<Shared>,
}

impl std::fmt::Debug for FailureLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailureLimiter")
            .field("window", &self.memory.window)
            .field("shared", &self.shared.as_ref().map(|shared| &shared.store))
            .finish()
    }
}

impl FailureLimiter {
    /// Limits counted in `store` (in memory when it is [`Store::Off`] or unreachable).
    pub fn new(
        clock: SharedClock,
        window: Duration,
        max_per_user: u32,
        max_per_client: u32,
        store: Store,
    ) -> FailureLimiter {
        let shared = (!store.is_off()).then(|| Shared {
            store,
            window: window.max(Duration::from_secs(1)),
            failing: AtomicBool::new(false),
        });
        FailureLimiter { memory: InMemory::new(clock, window, max_per_user, max_per_client), shared }
    }

    /// Reserve one attempt for this username and client before the password
    /// is checked, so concurrent guesses cannot all pass a check made before
    /// any of them is counted. `Err(retry_after_secs)` when either has failed
    /// too often in the current window. The reservation counts as a failure
    /// unless [`Attempt::succeeded`] or [`Attempt::not_made`] says otherwise.
    pub async fn reserve(&self, username: &str, client: Option<IpAddr>) -> Result<Attempt<'_>, u64> {
        let reserved = self.reserve_counted(username, client).await;
        if reserved.is_err() {
            crate::metrics::rate_limited();
        }
        reserved
    }

    async fn reserve_counted(&self, username: &str, client: Option<IpAddr>) -> Result<Attempt<'_>, u64> {
        let user_key = InMemory::user_key(username);
        if let Some(shared) = &self.shared {
            match shared.reserve(&user_key, client, self.memory.max_per_user, self.memory.max_per_client).await {
                Ok(reserved) => {
                    shared.reached();
                    let counted = reserved?;
                    return Ok(Attempt { limiter: self, counted: Counted::Shared(counted) });
                }
                Err(error) => shared.unreachable(&error),
            }
        }
        let now = self.memory.clock.now();
        self.memory.reserve(&user_key, client, now)?;
        Ok(Attempt { limiter: self, counted: Counted::Memory { user_key, client, now } })
    }
}

/// The counts in the store.
struct Shared {
    store: Store,
    window: Duration,
    /// Whether the last call failed (so an outage is logged once, and its end too).
    failing: AtomicBool,
}

/// The store's keys of one reserved attempt.
struct SharedKeys {
    user: String,
    client: Option<String>,
}

impl Shared {
    /// The store's key for a (lower-cased) username: a SHA-256 of it, never the text.
    fn user_key(user_key: &str) -> String {
        let digest = Sha256::digest(user_key.as_bytes());
        let hex: String = digest.iter().take(16).map(|byte| format!("{byte:02x}")).collect();
        format!("signin:user:{hex}")
    }

    fn client_key(ip: IpAddr) -> String {
        format!("signin:client:{ip}")
    }

    /// Count the attempt against the username, then the client: `Ok(Err(retry
    /// after))` when either is over its limit (the username's count is taken
    /// back when only the client's refused). `Err` when the store failed.
    async fn reserve(
        &self,
        user_key: &str,
        client: Option<IpAddr>,
        max_per_user: u32,
        max_per_client: u32,
    ) -> Result<Result<SharedKeys, u64>, StoreError> {
        let user = Self::user_key(user_key);
        if self.store.hit(&user, self.window).await? > u64::from(max_per_user) {
            return Ok(Err(self.retry_after(&user).await));
        }
        let client = client.map(Self::client_key);
        if let Some(key) = &client {
            if self.store.hit(key, self.window).await? > u64::from(max_per_client) {
                self.store.take_back(&user).await?;
                return Ok(Err(self.retry_after(key).await));
            }
        }
        Ok(Ok(SharedKeys { user, client }))
    }

    /// Whole seconds until `key`'s window ends (at least 1; the whole window
    /// if the store cannot say).
    async fn retry_after(&self, key: &str) -> u64 {
        let left = match self.store.window_left(key).await {
            Ok(left) => left.unwrap_or(Duration::ZERO),
            Err(_) => self.window,
        };
        left.as_millis().div_ceil(1000).clamp(1, u128::from(u64::MAX)) as u64
    }

    fn reached(&self) {
        if self.failing.swap(false, Ordering::Relaxed) {
            tracing::info!(store = ?self.store, "sign-in rate limits: counting in the state store again");
        }
    }

    fn unreachable(&self, error: &StoreError) {
        if !self.failing.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                store = ?self.store,
                %error,
                "sign-in rate limits: the state store cannot be reached; counting in this replica's memory until it is back"
            );
        }
    }

    /// Settle a reserved attempt: `reset` the username's count (a success),
    /// or take it back (an attempt never made); take the client's back.
    async fn settle(&self, keys: SharedKeys, reset_user: bool) {
        let user = if reset_user { self.store.reset(&keys.user).await } else { self.store.take_back(&keys.user).await };
        let client = match &keys.client {
            Some(key) => self.store.take_back(key).await,
            None => Ok(()),
        };
        if let Err(error) = user.and(client) {
            // The attempt stays counted: a failure, as if it had been one (fails closed).
            tracing::warn!(%error, "sign-in rate limits: an attempt could not be taken back in the state store");
        }
    }
}

/// The counts in this process's memory, by the injected clock.
struct InMemory {
    clock: SharedClock,
    window: i64,
    max_per_user: u32,
    max_per_client: u32,
    users: Cache<String, Window>,
    clients: Cache<IpAddr, Window>,
}

const MAX_TRACKED: u64 = 100_000;

impl InMemory {
    fn new(clock: SharedClock, window: Duration, max_per_user: u32, max_per_client: u32) -> InMemory {
        InMemory {
            clock,
            window: window.as_secs().max(1) as i64,
            max_per_user,
            max_per_client,
            users: Cache::builder().max_capacity(MAX_TRACKED).time_to_live(window).build(),
            clients: Cache::builder().max_capacity(MAX_TRACKED).time_to_live(window).build(),
        }
    }

    /// Counted per person, however the name is typed: trimmed and lower-cased.
    fn user_key(username: &str) -> String {
        crate::identity::comparable(username)
    }

    /// Seconds until a blocked window ends, if this window is blocked.
    fn blocked(&self, window: Option<Window>, max: u32, now: i64) -> Option<u64> {
        let window = window?;
        let ends = window.started + self.window;
        (window.failures >= max && now < ends).then(|| (ends - now) as u64)
    }

    /// Count one attempt against `key` unless its window is full, in one
    /// step under moka's per-key lock: `Err(seconds until the window ends)`.
    fn take<K>(&self, cache: &Cache<K, Window>, key: K, max: u32, now: i64) -> Result<(), u64>
    where
        K: std::hash::Hash + Eq + Send + Sync + Clone + 'static,
    {
        let mut refused = None;
        cache.entry(key).and_compute_with(|entry| {
            let current = entry.map(|e| e.into_value());
            match self.blocked(current, max, now) {
                Some(retry_after) => {
                    refused = Some(retry_after);
                    Op::Nop
                }
                None => Op::Put(match current {
                    Some(w) if now < w.started + self.window => Window { failures: w.failures.saturating_add(1), ..w },
                    _ => Window { started: now, failures: 1 },
                }),
            }
        });
        refused.map_or(Ok(()), Err)
    }

    /// Take back one attempt counted by [`take`](Self::take) in the same window.
    fn give_back<K>(&self, cache: &Cache<K, Window>, key: K, now: i64)
    where
        K: std::hash::Hash + Eq + Send + Sync + Clone + 'static,
    {
        cache.entry(key).and_compute_with(|entry| match entry.map(|e| e.into_value()) {
            Some(w) if now < w.started + self.window && w.failures > 0 => {
                Op::Put(Window { failures: w.failures - 1, ..w })
            }
            _ => Op::Nop,
        });
    }

    /// Count one attempt for `user_key` and `client` at `now` unless either
    /// is blocked: `Err(retry_after_secs)`.
    fn reserve(&self, user_key: &str, client: Option<IpAddr>, now: i64) -> Result<(), u64> {
        let user_key = user_key.to_owned();
        let refused = |retry_after: u64| {
            let by_user = self.blocked(self.users.get(&user_key), self.max_per_user, now);
            let by_client = client.and_then(|ip| self.blocked(self.clients.get(&ip), self.max_per_client, now));
            retry_after.max(by_user.unwrap_or(0)).max(by_client.unwrap_or(0)).max(1)
        };
        self.take(&self.users, user_key.clone(), self.max_per_user, now).map_err(refused)?;
        if let Some(ip) = client {
            if let Err(retry_after) = self.take(&self.clients, ip, self.max_per_client, now) {
                self.give_back(&self.users, user_key.clone(), now);
                return Err(refused(retry_after));
            }
        }
        Ok(())
    }

    /// The right password: clear the username's count, and take the attempt
    /// back from the client's.
    fn succeeded(&self, user_key: &str, client: Option<IpAddr>, now: i64) {
        self.users.invalidate(user_key);
        if let Some(ip) = client {
            self.give_back(&self.clients, ip, now);
        }
    }

    /// The password was never checked: take the attempt back from both counts.
    fn not_made(&self, user_key: &str, client: Option<IpAddr>, now: i64) {
        self.give_back(&self.users, user_key.to_owned(), now);
        if let Some(ip) = client {
            self.give_back(&self.clients, ip, now);
        }
    }
}

/// Where an attempt was counted.
enum Counted {
    Memory { user_key: String, client: Option<IpAddr>, now: i64 },
    Shared(SharedKeys),
}

/// One sign-in attempt, already counted. Dropped as it is, it stays counted
/// as a failure (so an attempt cut short fails closed).
#[must_use = "an attempt counts as a failure unless it is settled"]
pub struct Attempt<'a> {
    limiter: &'a FailureLimiter,
    counted: Counted,
}

impl Attempt<'_> {
    /// A wrong password, or an unknown user: the attempt stays counted.
    pub fn failed(self) {}

    /// The right password: clear the username's count, and take the attempt
    /// back from the client's.
    pub async fn succeeded(self) {
        match (self.counted, &self.limiter.shared) {
            (Counted::Memory { user_key, client, now }, _) => self.limiter.memory.succeeded(&user_key, client, now),
            (Counted::Shared(keys), Some(shared)) => shared.settle(keys, true).await,
            (Counted::Shared(_), None) => {}
        }
    }

    /// The password was never checked (the server was too busy): take the
    /// attempt back from both counts.
    pub async fn not_made(self) {
        match (self.counted, &self.limiter.shared) {
            (Counted::Memory { user_key, client, now }, _) => self.limiter.memory.not_made(&user_key, client, now),
            (Counted::Shared(keys), Some(shared)) => shared.settle(keys, false).await,
            (Counted::Shared(_), None) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::config::store::StoreSettings;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    fn in_memory(clock: &ManualClock, max_per_user: u32, max_per_client: u32) -> FailureLimiter {
        FailureLimiter::new(Arc::new(clock.clone()), Duration::from_secs(60), max_per_user, max_per_client, Store::Off)
    }

    /// A limiter counting in a local store file in `dir` (`file` names it).
    fn on_store(dir: &tempfile::TempDir, file: &str, max_per_user: u32, max_per_client: u32) -> FailureLimiter {
        let clock: SharedClock = Arc::new(ManualClock::at(1000));
        let settings = StoreSettings { path: dir.path().join(file), ..StoreSettings::default() };
        let store = Store::open(&settings, clock.clone()).unwrap();
        FailureLimiter::new(clock, Duration::from_secs(60), max_per_user, max_per_client, store)
    }

    #[test]
    fn the_names_it_tracks_are_bounded_whatever_is_typed() {
        let memory = InMemory::new(Arc::new(ManualClock::at(1000)), Duration::from_secs(900), 5, 1_000_000);
        let typed = MAX_TRACKED as usize + MAX_TRACKED as usize / 2;
        for i in 0..typed {
            let _ = memory.reserve(&format!("nobody-{i}"), ip("192.0.2.1"), 1000);
        }
        memory.users.run_pending_tasks();
        assert!(memory.users.entry_count() <= MAX_TRACKED, "{} names kept", memory.users.entry_count());
        assert!(memory.users.entry_count() > MAX_TRACKED / 2, "the cap, not the window, bounds them");
    }

    #[tokio::test]
    async fn blocks_after_the_limit_until_the_window_ends() {
        let clock = ManualClock::at(1000);
        let limiter = in_memory(&clock, 3, 100);
        for _ in 0..3 {
            let _failed = limiter.reserve("Alice", ip("192.0.2.1")).await.unwrap();
        }
        assert_eq!(limiter.reserve("alice", None).await.err(), Some(60));
        clock.advance(59);
        assert_eq!(limiter.reserve("alice", None).await.err(), Some(1));
        clock.advance(1);
        assert!(limiter.reserve("alice", None).await.is_ok());
    }

    #[tokio::test]
    async fn one_username_typed_with_other_case_or_spaces_counts_as_one() {
        let clock = ManualClock::at(1000);
        let limiter = in_memory(&clock, 3, 100);
        for typed in ["Alice", " alice", "ALICE "] {
            let _failed = limiter.reserve(typed, ip("192.0.2.1")).await.unwrap();
        }
        assert_eq!(limiter.reserve("aLiCe", None).await.err(), Some(60));
        assert!(limiter.reserve("bob", None).await.is_ok());
    }

    #[tokio::test]
    async fn one_client_trying_many_usernames_is_blocked() {
        let limiter = in_memory(&ManualClock::at(1000), 100, 2);
        let client = ip("192.0.2.1");
        let _a = limiter.reserve("a", client).await.unwrap();
        let _b = limiter.reserve("b", client).await.unwrap();
        assert!(limiter.reserve("c", client).await.is_err());
        assert!(limiter.reserve("c", ip("192.0.2.2")).await.is_ok());
        assert!(limiter.reserve("c", client).await.is_err(), "a refusal is not counted against the username");
    }

    #[test]
    fn concurrent_attempts_for_one_user_reserve_at_most_the_limit() {
        let memory = InMemory::new(Arc::new(ManualClock::at(1000)), Duration::from_secs(60), 5, 1000);
        let reserved = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..40 {
                scope.spawn(|| {
                    if memory.reserve("alice", ip("192.0.2.1"), 1000).is_ok() {
                        reserved.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(reserved.load(Ordering::SeqCst), 5);
    }

    /// Success and "not made", on either kind of count.
    async fn success_frees_the_user_and_gives_the_clients_attempt_back(limiter: FailureLimiter) {
        let client = ip("192.0.2.1");
        let _failed = limiter.reserve("alice", client).await.unwrap();
        limiter.reserve("alice", client).await.unwrap().succeeded().await;
        limiter.reserve("bob", client).await.unwrap().not_made().await;
        // One failure counted for the client; the username starts over.
        limiter.reserve("alice", client).await.unwrap().succeeded().await;
        let _failed = limiter.reserve("carol", client).await.unwrap();
        assert!(limiter.reserve("dave", client).await.is_err(), "two failures from the client");
        let _failed = limiter.reserve("erin", ip("192.0.2.2")).await.unwrap();
        assert!(limiter.reserve("erin", ip("192.0.2.3")).await.is_ok(), "erin's one failure of two");
        assert!(limiter.reserve("erin", ip("192.0.2.4")).await.is_err(), "erin's two failures");
    }

    #[tokio::test]
    async fn success_frees_the_user_and_gives_the_clients_attempt_back_in_memory() {
        success_frees_the_user_and_gives_the_clients_attempt_back(in_memory(&ManualClock::at(1000), 2, 2)).await
    }

    #[tokio::test]
    async fn success_frees_the_user_and_gives_the_clients_attempt_back_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        success_frees_the_user_and_gives_the_clients_attempt_back(on_store(&dir, "s.db", 2, 2)).await
    }

    #[tokio::test]
    async fn two_limiters_on_one_store_count_together_and_say_when_the_window_ends() {
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = (on_store(&dir, "s.db", 3, 100), on_store(&dir, "s.db", 3, 100));
        let _one = first.reserve("Alice", None).await.unwrap();
        let _two = second.reserve("alice", None).await.unwrap();
        let _three = first.reserve("ALICE", None).await.unwrap();
        let retry_after = second.reserve("alice", None).await.err();
        assert_eq!(retry_after, Some(60), "three between them, and the store's window has about 60 s left");
        assert!(first.reserve("bob", None).await.is_ok());
    }

    #[tokio::test]
    async fn the_store_holds_no_username() {
        let dir = tempfile::tempdir().unwrap();
        let limiter = on_store(&dir, "s.db", 3, 100);
        let typed = "my secret passphrase";
        let _failed = limiter.reserve(typed, ip("192.0.2.1")).await.unwrap();
        let file = std::fs::read(dir.path().join("s.db")).unwrap_or_default();
        let wal = std::fs::read(dir.path().join("s.db-wal")).unwrap_or_default();
        for bytes in [file, wal] {
            assert!(!String::from_utf8_lossy(&bytes).contains("passphrase"));
        }
        let key = Shared::user_key(typed);
        assert!(key.starts_with("signin:user:") && key.len() == "signin:user:".len() + 32, "{key}");
    }

    #[tokio::test]
    async fn an_unreachable_store_falls_back_to_memory_and_still_limits() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("not-a-directory"), "").unwrap();
        // The store's file would be inside a regular file: every call fails.
        let limiter = on_store(&dir, "not-a-directory/s.db", 2, 100);
        let _one = limiter.reserve("alice", None).await.unwrap();
        let _two = limiter.reserve("alice", None).await.unwrap();
        assert_eq!(limiter.reserve("alice", None).await.err(), Some(60), "limited in memory");
        assert!(limiter.shared.as_ref().unwrap().failing.load(Ordering::Relaxed));
    }
}
