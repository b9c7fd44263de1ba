//! Time, injected. Everything that asks "what time is it?" asks a [`Clock`],
//! so expiry, sliding renewal and token staleness are testable to the second.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// A source of the current time in whole seconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> i64;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// The coarse wall clock: as fast to read as a memory load (the kernel
    /// updates it every tick, a few milliseconds), where the precise one
    /// reads the time-stamp counter too. Sessions count whole seconds, and
    /// this runs on every request.
    fn now(&self) -> i64 {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Ok(now) = nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME_COARSE) {
            return now.tv_sec();
        }
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
    }
}

/// A clock that only moves when told to. Used by tests (and usable by
/// operators' own test harnesses), never by `serve`.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<AtomicI64>,
}

impl ManualClock {
    pub fn at(now: i64) -> Self {
        Self { now: Arc::new(AtomicI64::new(now)) }
    }

    pub fn advance(&self, seconds: i64) {
        self.now.fetch_add(seconds, Ordering::SeqCst);
    }

    pub fn set(&self, now: i64) {
        self.now.store(now, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
}

pub type SharedClock = Arc<dyn Clock>;

#[cfg(test)]
mod tests {
    use super::*;

    /// The coarse clock is the wall clock (not the time since boot), to
    /// within the tick it lags by.
    #[test]
    fn the_system_clock_reads_the_wall_clock() {
        fn precise() -> i64 {
            let elapsed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
            i64::try_from(elapsed.as_secs()).unwrap()
        }
        let before = precise();
        let now = SystemClock.now();
        let after = precise();
        assert!((before - 1..=after).contains(&now), "{before} <= {now} <= {after} (one second of slack)");
    }
}
