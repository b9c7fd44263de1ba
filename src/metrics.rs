//! Process-wide counters, served at `GET /metrics` in the OpenMetrics text
//! format (which Prometheus reads) by the `prometheus-client` crate. Labels
//! are fixed outcome names, never user data or tokens.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use std::sync::LazyLock;

/// How a provider token refresh that reached the provider ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)] // The label values, as Prometheus shows them.
pub enum RefreshOutcome {
    ok,
    invalid_grant,
    /// Refused with an OAuth error other than `invalid_grant` (final, as `invalid_grant` is).
    refused,
    /// A network error, a timeout or a 5xx: transient.
    failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Outcome {
    outcome: RefreshOutcome,
}

struct Metrics {
    registry: Registry,
    refreshes: Family<Outcome, Counter>,
    sessions_ended_by_refresh: Counter,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("sealgate");
    let refreshes = Family::<Outcome, Counter>::default();
    registry.register("token_refresh", "Provider token refreshes sent to providers, by outcome", refreshes.clone());
    let sessions_ended_by_refresh = Counter::default();
    registry.register(
        "sessions_ended_by_refresh",
        "Sessions ended because their tokens could not be refreshed",
        sessions_ended_by_refresh.clone(),
    );
    Metrics { registry, refreshes, sessions_ended_by_refresh }
});

/// Count a refresh that reached the provider.
pub fn refreshed(outcome: RefreshOutcome) {
    METRICS.refreshes.get_or_create(&Outcome { outcome }).inc();
}

/// Count a session ended because its tokens could not be refreshed.
pub fn session_ended_by_refresh() {
    METRICS.sessions_ended_by_refresh.inc();
}

/// The `Content-Type` of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every metric, in the OpenMetrics text format.
pub fn render() -> String {
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &METRICS.registry).is_err() {
        tracing::error!("metrics could not be encoded");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, series: &str) -> Option<u64> {
        text.lines().find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
    }

    #[test]
    fn counters_are_rendered_with_their_outcome_and_grow_by_one() {
        let before = render();
        refreshed(RefreshOutcome::refused);
        session_ended_by_refresh();
        let after = render();
        let refused = "sealgate_token_refresh_total{outcome=\"refused\"}";
        let ended = "sealgate_sessions_ended_by_refresh_total";
        assert_eq!(value(&after, refused), Some(value(&before, refused).unwrap_or(0) + 1), "{after}");
        assert_eq!(value(&after, ended), Some(value(&before, ended).unwrap_or(0) + 1), "{after}");
        assert!(after.contains("# TYPE sealgate_token_refresh counter"), "{after}");
        assert!(after.ends_with("# EOF\n"), "{after}");
    }
}
