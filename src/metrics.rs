//! A few process-wide counters, served at `GET /metrics` in the Prometheus
//! text format. Labels are fixed outcome names, never user data or tokens.

use std::sync::atomic::{AtomicU64, Ordering};

pub struct Counter(AtomicU64);

impl Counter {
    const fn new() -> Counter {
        Counter(AtomicU64::new(0))
    }

    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Provider token refreshes that reached the provider, by outcome.
pub static REFRESH_OK: Counter = Counter::new();
pub static REFRESH_INVALID_GRANT: Counter = Counter::new();
/// Refused with an OAuth error other than `invalid_grant` (final, as `invalid_grant` is).
pub static REFRESH_REFUSED: Counter = Counter::new();
pub static REFRESH_FAILED: Counter = Counter::new();
/// Sessions ended because their tokens could not be refreshed.
pub static SESSIONS_ENDED_BY_REFRESH: Counter = Counter::new();

pub fn render() -> String {
    format!(
        "# HELP sealgate_token_refresh_total Provider token refreshes sent to providers, by outcome.\n\
         # TYPE sealgate_token_refresh_total counter\n\
         sealgate_token_refresh_total{{outcome=\"ok\"}} {}\n\
         sealgate_token_refresh_total{{outcome=\"invalid_grant\"}} {}\n\
         sealgate_token_refresh_total{{outcome=\"refused\"}} {}\n\
         sealgate_token_refresh_total{{outcome=\"failed\"}} {}\n\
         # HELP sealgate_sessions_ended_by_refresh_total Sessions ended because their tokens could not be refreshed.\n\
         # TYPE sealgate_sessions_ended_by_refresh_total counter\n\
         sealgate_sessions_ended_by_refresh_total {}\n",
        REFRESH_OK.get(),
        REFRESH_INVALID_GRANT.get(),
        REFRESH_REFUSED.get(),
        REFRESH_FAILED.get(),
        SESSIONS_ENDED_BY_REFRESH.get()
    )
}
