//! Failed sign-in attempts, counted per username and per client address in a
//! fixed window measured by the injected clock. Memory is bounded by moka.

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

    /// `Err(retry_after_secs)` when either the username or the client has
    /// failed too often in the current window.
    pub fn check(&self, username: &str, client: Option<IpAddr>) -> Result<(), u64> {
        let now = self.clock.now();
        let by_user = self.blocked(self.users.get(&Self::user_key(username)), self.max_per_user, now);
        let by_client = client.and_then(|ip| self.blocked(self.clients.get(&ip), self.max_per_client, now));
        match by_user.max(by_client) {
            Some(retry_after) => Err(retry_after.max(1)),
            None => Ok(()),
        }
    }

    pub fn record_failure(&self, username: &str, client: Option<IpAddr>) {
        let now = self.clock.now();
        let window = self.window;
        let bump = move |current: Option<Window>| match current {
            Some(w) if now < w.started + window => Window { failures: w.failures.saturating_add(1), ..w },
            _ => Window { started: now, failures: 1 },
        };
        self.users
            .entry(Self::user_key(username))
            .and_compute_with(|entry| Op::Put(bump(entry.map(|e| e.into_value()))));
        if let Some(ip) = client {
            self.clients.entry(ip).and_compute_with(|entry| Op::Put(bump(entry.map(|e| e.into_value()))));
        }
    }

    /// A successful sign-in clears the username's count (not the client's).
    pub fn record_success(&self, username: &str) {
        self.users.invalidate(&Self::user_key(username));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::sync::Arc;

    #[test]
    fn blocks_after_the_limit_until_the_window_ends() {
        let clock = ManualClock::at(1000);
        let limiter = FailureLimiter::new(Arc::new(clock.clone()), Duration::from_secs(60), 3, 100);
        let ip = Some("192.0.2.1".parse().unwrap());
        for _ in 0..3 {
            assert_eq!(limiter.check("Alice", ip), Ok(()));
            limiter.record_failure("Alice", ip);
        }
        assert_eq!(limiter.check("alice", None), Err(60));
        clock.advance(59);
        assert_eq!(limiter.check("alice", None), Err(1));
        clock.advance(1);
        assert_eq!(limiter.check("alice", None), Ok(()));
    }

    #[test]
    fn one_client_trying_many_usernames_is_blocked() {
        let clock = ManualClock::at(1000);
        let limiter = FailureLimiter::new(Arc::new(clock), Duration::from_secs(60), 100, 2);
        let ip = Some("192.0.2.1".parse().unwrap());
        limiter.record_failure("a", ip);
        limiter.record_failure("b", ip);
        assert!(limiter.check("c", ip).is_err());
        assert!(limiter.check("c", Some("192.0.2.2".parse().unwrap())).is_ok());
    }
}
