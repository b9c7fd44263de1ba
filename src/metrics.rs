//! Process-wide metrics, served at `GET /metrics` (or on
//! `server.metrics_listen`) in the OpenMetrics text format, which
//! Prometheus reads, by the `prometheus-client` crate.
//!
//! Labels are bounded: route patterns as configured, status codes,
//! provider ids from the config, and fixed outcome names; never user data,
//! paths as sent, or tokens. Every metric is named in [`NAMES`], which
//! `examples/monitoring/` is tested against.

use crate::identity::Source;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::LazyLock;
use std::time::Duration;

/// Every metric family, as Prometheus names it (counters get `_total`).
pub const NAMES: [&str; 12] = [
    "sealgate_http_requests_total",
    "sealgate_http_request_duration_seconds",
    "sealgate_verify_total",
    "sealgate_signins_total",
    "sealgate_signin_failures_total",
    "sealgate_token_refresh_total",
    "sealgate_sessions_ended_by_refresh_total",
    "sealgate_open_cache_lookups_total",
    "sealgate_open_cache_entries",
    "sealgate_open_cache_bytes",
    "sealgate_provider_fetches_total",
    "sealgate_rate_limited_total",
];

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

/// What `/auth/verify` answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum VerifyOutcome {
    /// 200 for an identified request.
    ok,
    /// 200 without an identity: a public route.
    public,
    /// 401, or a redirect to sign in.
    anonymous,
    /// 403: identified, and the policy says no.
    forbidden,
    /// Anything else (a provider that could not refresh a token, ...).
    error,
}

impl VerifyOutcome {
    /// The outcome an answer's status means.
    pub fn of(status: u16, identified: bool) -> VerifyOutcome {
        match status {
            200 if identified => VerifyOutcome::ok,
            200 => VerifyOutcome::public,
            401 | 302 => VerifyOutcome::anonymous,
            403 => VerifyOutcome::forbidden,
            _ => VerifyOutcome::error,
        }
    }
}

/// The credential a request was identified by, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum SourceLabel {
    cookie,
    api_token,
    provider_jwt,
    introspection,
    none,
}

impl From<Option<Source>> for SourceLabel {
    fn from(source: Option<Source>) -> SourceLabel {
        match source {
            Some(Source::Cookie) => SourceLabel::cookie,
            Some(Source::ApiToken) => SourceLabel::api_token,
            Some(Source::ProviderJwt) => SourceLabel::provider_jwt,
            Some(Source::Introspection) => SourceLabel::introspection,
            None => SourceLabel::none,
        }
    }
}

/// What a provider fetch was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Fetch {
    /// OpenID Connect discovery (`.well-known/openid-configuration`).
    discovery,
    /// The provider's signing keys.
    jwks,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteStatus {
    route: &'static str,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Route {
    route: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Verified {
    outcome: VerifyOutcome,
    source: SourceLabel,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Provider {
    provider: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ProviderReason {
    provider: String,
    reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ProviderFetch {
    provider: String,
    fetch: Fetch,
    ok: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Refreshed {
    outcome: RefreshOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Lookup {
    result: &'static str,
}

fn latency_histogram() -> Histogram {
    // 50 µs to about 3.3 s: /auth/verify answers in microseconds, a
    // sign-in that hashes a password or calls a provider in milliseconds.
    Histogram::new(exponential_buckets(0.00005, 4.0, 9))
}

type Latencies = Family<Route, Histogram, fn() -> Histogram>;

struct Metrics {
    registry: Registry,
    requests: Family<RouteStatus, Counter>,
    latency: Latencies,
    verified: Family<Verified, Counter>,
    signins: Family<Provider, Counter>,
    signin_failures: Family<ProviderReason, Counter>,
    refreshes: Family<Refreshed, Counter>,
    sessions_ended_by_refresh: Counter,
    cache_hits: Counter,
    cache_misses: Counter,
    cache_entries: Gauge,
    cache_bytes: Gauge,
    fetches: Family<ProviderFetch, Counter>,
    rate_limited: Counter,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("sealgate");
    let requests = Family::<RouteStatus, Counter>::default();
    registry.register("http_requests", "HTTP requests answered, by route pattern and status", requests.clone());
    let latency = Latencies::new_with_constructor(latency_histogram as fn() -> Histogram);
    registry.register("http_request_duration_seconds", "Time to answer, by route pattern", latency.clone());
    let verified = Family::<Verified, Counter>::default();
    registry.register("verify", "/auth/verify answers, by outcome and credential source", verified.clone());
    let signins = Family::<Provider, Counter>::default();
    registry.register("signins", "Completed sign-ins, by provider", signins.clone());
    let signin_failures = Family::<ProviderReason, Counter>::default();
    registry.register("signin_failures", "Failed sign-ins, by provider and error code", signin_failures.clone());
    let refreshes = Family::<Refreshed, Counter>::default();
    registry.register("token_refresh", "Provider token refreshes sent to providers, by outcome", refreshes.clone());
    let sessions_ended_by_refresh = Counter::default();
    registry.register(
        "sessions_ended_by_refresh",
        "Sessions ended because their tokens could not be refreshed",
        sessions_ended_by_refresh.clone(),
    );
    let lookups = Family::<Lookup, Counter>::default();
    registry.register("open_cache_lookups", "Open-cache lookups of a credential, by result", lookups.clone());
    let cache_hits = lookups.get_or_create(&Lookup { result: "hit" }).clone();
    let cache_misses = lookups.get_or_create(&Lookup { result: "miss" }).clone();
    let cache_entries = Gauge::default();
    registry.register("open_cache_entries", "Credentials held opened in the open-cache", cache_entries.clone());
    let cache_bytes = Gauge::default();
    registry.register(
        "open_cache_bytes",
        "The resident memory the open-cache's entries take, in bytes, as it weighs them",
        cache_bytes.clone(),
    );
    let fetches = Family::<ProviderFetch, Counter>::default();
    registry.register("provider_fetches", "Discovery and signing-key fetches, by provider and result", fetches.clone());
    let rate_limited = Counter::default();
    registry.register("rate_limited", "Password sign-ins refused by a failure limit", rate_limited.clone());
    Metrics {
        registry,
        requests,
        latency,
        verified,
        signins,
        signin_failures,
        refreshes,
        sessions_ended_by_refresh,
        cache_hits,
        cache_misses,
        cache_entries,
        cache_bytes,
        fetches,
        rate_limited,
    }
});

/// The series of one route, resolved once so a request only counts.
#[derive(Clone)]
pub struct RouteMetrics {
    route: &'static str,
    latency: Histogram,
}

impl RouteMetrics {
    pub fn new(route: &'static str) -> RouteMetrics {
        RouteMetrics { route, latency: METRICS.latency.get_or_create(&Route { route }).clone() }
    }

    pub fn route(&self) -> &'static str {
        self.route
    }

    /// Count one answer with `status`, given in `elapsed`.
    pub fn answered(&self, status: u16, elapsed: Duration) {
        METRICS.requests.get_or_create(&RouteStatus { route: self.route, status }).inc();
        self.latency.observe(elapsed.as_secs_f64());
    }
}

/// Count one `/auth/verify` answer.
pub fn verified(outcome: VerifyOutcome, source: SourceLabel) {
    METRICS.verified.get_or_create(&Verified { outcome, source }).inc();
}

/// Count a completed sign-in with `provider`.
pub fn signed_in(provider: &str) {
    METRICS.signins.get_or_create(&Provider { provider: provider.to_owned() }).inc();
}

/// Count a failed sign-in with `provider`, by its error code (a sign-in
/// page code, or a code a sign-in hook denied with: the app's own few).
pub fn signin_failed(provider: &str, reason: &str) {
    let labels = ProviderReason { provider: provider.to_owned(), reason: reason.to_owned() };
    METRICS.signin_failures.get_or_create(&labels).inc();
}

/// Count a refresh that reached the provider.
pub fn refreshed(outcome: RefreshOutcome) {
    METRICS.refreshes.get_or_create(&Refreshed { outcome }).inc();
}

/// Count a session ended because its tokens could not be refreshed.
pub fn session_ended_by_refresh() {
    METRICS.sessions_ended_by_refresh.inc();
}

/// Count an open-cache lookup.
pub fn open_cache_lookup(hit: bool) {
    if hit { &METRICS.cache_hits } else { &METRICS.cache_misses }.inc();
}

/// The open-cache's size, read when the metrics are served.
pub fn open_cache_size(entries: u64, bytes: u64) {
    METRICS.cache_entries.set(entries.try_into().unwrap_or(i64::MAX));
    METRICS.cache_bytes.set(bytes.try_into().unwrap_or(i64::MAX));
}

/// Count a discovery or signing-key fetch from `provider`.
pub fn provider_fetched(provider: &str, fetch: Fetch, ok: bool) {
    METRICS.fetches.get_or_create(&ProviderFetch { provider: provider.to_owned(), fetch, ok }).inc();
}

/// Count a sign-in refused by a failure limit.
pub fn rate_limited() {
    METRICS.rate_limited.inc();
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

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines().find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
    }

    #[test]
    fn counters_are_rendered_with_their_labels_and_grow_by_one() {
        let before = render();
        refreshed(RefreshOutcome::refused);
        session_ended_by_refresh();
        signin_failed("unit-test", "access_denied");
        let after = render();
        for series in [
            "sealgate_token_refresh_total{outcome=\"refused\"}",
            "sealgate_sessions_ended_by_refresh_total",
            "sealgate_signin_failures_total{provider=\"unit-test\",reason=\"access_denied\"}",
        ] {
            assert_eq!(value(&after, series), Some(value(&before, series).unwrap_or(0.0) + 1.0), "{series}: {after}");
        }
        assert!(after.contains("# TYPE sealgate_token_refresh counter"), "{after}");
        assert!(after.ends_with("# EOF\n"), "{after}");
    }

    #[test]
    fn a_route_counts_each_status_and_fills_its_latency_buckets() {
        let route = RouteMetrics::new("/unit-test/{id}");
        route.answered(200, Duration::from_micros(20));
        route.answered(200, Duration::from_millis(2));
        route.answered(404, Duration::from_millis(2));
        let text = render();
        let ok = "sealgate_http_requests_total{route=\"/unit-test/{id}\",status=\"200\"}";
        assert_eq!(value(&text, ok), Some(2.0), "{text}");
        let fast = "sealgate_http_request_duration_seconds_bucket{le=\"0.00005\",route=\"/unit-test/{id}\"}";
        let all = "sealgate_http_request_duration_seconds_count{route=\"/unit-test/{id}\"}";
        assert_eq!(value(&text, fast), Some(1.0), "{text}");
        assert_eq!(value(&text, all), Some(3.0), "{text}");
    }

    #[test]
    fn every_named_family_is_registered() {
        // A family shows once it has a series: give each one.
        RouteMetrics::new("/unit-test/names").answered(200, Duration::ZERO);
        verified(VerifyOutcome::ok, SourceLabel::cookie);
        signed_in("unit-test");
        signin_failed("unit-test", "invalid_credentials");
        refreshed(RefreshOutcome::ok);
        session_ended_by_refresh();
        open_cache_lookup(true);
        open_cache_size(1, 1);
        provider_fetched("unit-test", Fetch::jwks, true);
        rate_limited();
        let text = render();
        for name in NAMES {
            let family = name.strip_suffix("_total").unwrap_or(name);
            assert!(text.contains(&format!("# TYPE {family} ")), "{family} is not registered: {text}");
        }
    }

    #[test]
    fn verify_outcomes_follow_the_status_and_whether_anyone_was_identified() {
        assert_eq!(VerifyOutcome::of(200, true), VerifyOutcome::ok);
        assert_eq!(VerifyOutcome::of(200, false), VerifyOutcome::public);
        assert_eq!(VerifyOutcome::of(401, false), VerifyOutcome::anonymous);
        assert_eq!(VerifyOutcome::of(302, false), VerifyOutcome::anonymous);
        assert_eq!(VerifyOutcome::of(403, true), VerifyOutcome::forbidden);
        assert_eq!(VerifyOutcome::of(502, true), VerifyOutcome::error);
    }
}
