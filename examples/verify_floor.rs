//! The floor under the `/auth/verify` benchmark (`scripts/bench-verify.sh`).
//!
//! A bare actix-web server with the same `/healthz` as sealgate and an
//! `/auth/verify` that reads no cookie and opens no session: it answers
//! every request with the identity headers sealgate sends for the
//! benchmark's session, as static values. Loaded with the same requests, its
//! ratio of `/auth/verify` to `/healthz` is what carrying the 1.5 KB cookie
//! and sending six more headers cost on their own, which any gateway built
//! on actix-web pays; what sealgate's ratio lacks beyond it is sealgate's
//! own work.
//!
//! Usage: `cargo run --release --example verify_floor -- [ADDR]`
//! (default 127.0.0.1:4395); `WORKERS` sets the worker count (default: one
//! per core, as sealgate).

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, App, HttpResponse, HttpServer};

/// What sealgate answers for the session that `bench-verify.sh` mints (the
/// script checks that the names match).
const IDENTITY: [(&str, &str); 6] = [
    ("x-auth-groups", "admins,staff"),
    ("x-auth-user", "bench-user"),
    ("x-auth-provider", "cli"),
    ("x-auth-source", "cookie"),
    ("x-auth-name", "Bench User"),
    ("x-auth-email", "bench@example.com"),
];

/// As sealgate's `/healthz`.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

async fn verify() -> HttpResponse {
    let mut response = HttpResponse::Ok().finish();
    let headers = response.headers_mut();
    for (name, value) in IDENTITY {
        headers.append(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    response
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:4395".to_owned());
    let server = HttpServer::new(|| {
        App::new().route("/auth/verify", web::get().to(verify)).route("/healthz", web::get().to(healthz))
    });
    let server = match std::env::var("WORKERS").ok().and_then(|w| w.parse().ok()) {
        Some(workers) => server.workers(workers),
        None => server,
    };
    server.bind(listen)?.run().await
}
