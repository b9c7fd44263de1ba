//! Sign-in attempts, counted per username and per client address in a fixed
//! window measured by the injected clock. An attempt is counted before the
//! password is checked and taken back if it succeeds. Memory is bounded by moka.

use crate::clock::SharedClock;
use moka::ops::compute::Op;
use moka::sync::Cache;
use std::net::IpAddr;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
struct Window {
    started: i64,
    failures: u32,
}

pub struct FailureLimiter {
    clock: SharedClock,
    window: i64,
    max_per_user: u32,
    max_per_client: u32,
    users: Cache<String, Window>,
    clients: Cache<IpAddr, Window>,
}

impl std::fmt::Debug for FailureLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailureLimiter").field("window", &self.window).finish()
    }
}

const MAX_TRACKED: u64 = 100_000;

impl FailureLimiter {
    pub fn new(clock: SharedClock, window: Duration, max_per_user: u32, max_per_client: u32) -> FailureLimiter {
        FailureLimiter {
            clock,
            window: window.as_secs().max(1) as i64,
            max_per_user,
            max_per_client,
            users: Cache::builder().max_capacity(MAX_TRACKED).time_to_live(window).build(),
            clients: Cache::builder().max_capacity(MAX_TRACKED).time_to_live(window).build(),
        }
    }

    fn user_key(username: &str) -> String {
        username.to_lowercase()
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

    /// Reserve one attempt for this username and client before the password
    /// is checked, so concurrent guesses cannot all pass a check made before
    /// any of them is counted. `Err(retry_after_secs)` when either has failed
    /// too often in the current window. The reservation counts as a failure
    /// unless [`Attempt::succeeded`] or [`Attempt::not_made`] says otherwise.
    pub fn reserve(&self, username: &str, client: Option<IpAddr>) -> Result<Attempt<'_>, u64> {
        let now = self.clock.now();
        let user_key = Self::user_key(username);
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
        Ok(Attempt { limiter: self, user_key, client, now })
    }
}

/// One sign-in attempt, already counted. Dropped as it is, it stays counted
/// as a failure (so an attempt cut short fails closed).
#[must_use = "an attempt counts as a failure unless it is settled"]
pub struct Attempt<'a> {
    limiter: &'a FailureLimiter,
    user_key: String,
    client: Option<IpAddr>,
    now: i64,
}

impl Attempt<'_> {
    /// A wrong password, or an unknown user: the attempt stays counted.
    pub fn failed(self) {}

    /// The right password: clear the username's count, and take the attempt
    /// back from the client's.
    pub fn succeeded(self) {
        self.limiter.users.invalidate(&self.user_key);
        if let Some(ip) = self.client {
            self.limiter.give_back(&self.limiter.clients, ip, self.now);
        }
    }

    /// The password was never checked (the server was too busy): take the
    /// attempt back from both counts.
    pub fn not_made(self) {
        self.limiter.give_back(&self.limiter.users, self.user_key.clone(), self.now);
        if let Some(ip) = self.client {
            self.limiter.give_back(&self.limiter.clients, ip, self.now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn blocks_after_the_limit_until_the_window_ends() {
        let clock = ManualClock::at(1000);
        let limiter = FailureLimiter::new(Arc::new(clock.clone()), Duration::from_secs(60), 3, 100);
        let ip = Some("192.0.2.1".parse().unwrap());
        for _ in 0..3 {
            let _failed = limiter.reserve("Alice", ip).unwrap();
        }
        assert_eq!(limiter.reserve("alice", None).err(), Some(60));
        clock.advance(59);
        assert_eq!(limiter.reserve("alice", None).err(), Some(1));
        clock.advance(1);
        assert!(limiter.reserve("alice", None).is_ok());
    }

    #[test]
    fn one_client_trying_many_usernames_is_blocked() {
        let clock = ManualClock::at(1000);
        let limiter = FailureLimiter::new(Arc::new(clock), Duration::from_secs(60), 100, 2);
        let ip = Some("192.0.2.1".parse().unwrap());
        let _a = limiter.reserve("a", ip).unwrap();
        let _b = limiter.reserve("b", ip).unwrap();
        assert!(limiter.reserve("c", ip).is_err());
        assert!(limiter.reserve("c", Some("192.0.2.2".parse().unwrap())).is_ok());
        assert!(limiter.reserve("c", ip).is_err(), "a refusal is not counted against the username");
    }

    #[test]
    fn concurrent_attempts_for_one_user_reserve_at_most_the_limit() {
        let limiter = FailureLimiter::new(Arc::new(ManualClock::at(1000)), Duration::from_secs(60), 5, 1000);
        let reserved = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..40 {
                scope.spawn(|| {
                    if let Ok(attempt) = limiter.reserve("alice", Some("192.0.2.1".parse().unwrap())) {
                        reserved.fetch_add(1, Ordering::SeqCst);
                        drop(attempt);
                    }
                });
            }
        });
        assert_eq!(reserved.load(Ordering::SeqCst), 5);
    }

    #[test]
    fn success_frees_the_user_and_gives_the_clients_attempt_back() {
        let limiter = FailureLimiter::new(Arc::new(ManualClock::at(1000)), Duration::from_secs(60), 2, 2);
        let ip = Some("192.0.2.1".parse().unwrap());
        let _failed = limiter.reserve("alice", ip).unwrap();
        limiter.reserve("alice", ip).unwrap().succeeded();
        limiter.reserve("bob", ip).unwrap().not_made();
        // One failure counted for the client; the username starts over.
        limiter.reserve("alice", ip).unwrap().succeeded();
        let _failed = limiter.reserve("carol", ip).unwrap();
        assert!(limiter.reserve("dave", ip).is_err(), "two failures from the client");
    }
}
