//! Liveness and readiness.

use actix_web::HttpResponse;

/// The process is up. Also the baseline that `/auth/verify` is benchmarked against.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// Ready to serve sign-ins.
pub async fn readyz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ready" }))
}
