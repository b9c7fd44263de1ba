//! Liveness and readiness.

use crate::startup::AppState;
use actix_web::{web, HttpResponse};

/// The process is up. Also the baseline that `/auth/verify` is benchmarked against.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// Ready to serve sign-ins and provider tokens: 503 while an OIDC provider
/// is not discovered or its signing keys cannot be had. Each not-ready
/// provider is tried again in the background (rate-limited), so a gateway
/// whose provider was down at start becomes ready without traffic.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let pending: Vec<&str> = state
        .providers
        .iter()
        .filter(|p| !p.is_ready())
        .map(|p| {
            p.prepare_in_background();
            p.id.as_str()
        })
        .collect();
    if pending.is_empty() {
        HttpResponse::Ok().json(serde_json::json!({ "status": "ready" }))
    } else {
        HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({ "status": "not_ready", "providers_not_ready": pending }))
    }
}

/// Counters in the Prometheus text format.
pub async fn metrics() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(crate::metrics::render())
}
