//! Liveness and readiness.

use crate::credentials::Credentials;
use crate::state::AppState;
use crate::store::Health;
use actix_web::{web, HttpResponse};

/// The process is up. Also the baseline that `/auth/verify` is benchmarked against.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// Ready to serve sign-ins and provider tokens: 503 while an OIDC provider
/// is not discovered or its signing keys cannot be had, or while the
/// revocations have not been read from the store yet or the store went
/// away (`"store": "loading"` or `"stale"`). Each not-ready provider is
/// tried again in the background (rate-limited), so a gateway whose
/// provider was down at start becomes ready without traffic.
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
    let store = match state.revocations.as_ref().map(|view| view.health()) {
        None | Some(Health::Current) => None,
        Some(Health::Loading) => Some("loading"),
        Some(Health::Stale { .. }) => Some("stale"),
    };
    match (pending.is_empty(), store) {
        (true, None) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })),
        (_, store) => {
            let mut body = serde_json::json!({ "status": "not_ready", "providers_not_ready": pending });
            if let (Some(store), Some(body)) = (store, body.as_object_mut()) {
                body.insert("store".into(), store.into());
            }
            HttpResponse::ServiceUnavailable().json(body)
        }
    }
}

/// Every metric in the Prometheus text format, the open-cache's size read now.
pub async fn metrics(credentials: Option<web::Data<Credentials>>) -> HttpResponse {
    if let Some(credentials) = credentials {
        let (entries, bytes) = credentials.open_cache_size();
        crate::metrics::open_cache_size(entries, bytes);
    }
    HttpResponse::Ok().content_type(crate::metrics::CONTENT_TYPE).body(crate::metrics::render())
}
