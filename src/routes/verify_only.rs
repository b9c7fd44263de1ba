//! A verify-only replica (`session.role = "verify"`) opens and checks
//! sessions but holds no key that mints one, so the routes that would start
//! a sign-in, finish one or mint a token answer here instead: a browser
//! asking for a sign-in page is sent to the sign-in tier
//! (`session.signin_url`) when one is configured; anything else gets 403
//! with the code `verify_only_replica` (HTML for browsers, JSON otherwise).

use super::pages;
use crate::errors::AppError;
use crate::state::AppState;
use actix_web::http::header::LOCATION;
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};

/// The stable code of the refusal.
pub const CODE: &str = "verify_only_replica";

/// The routes a verify-only replica refuses, every method.
const MINTING_ROUTES: [&str; 8] = [
    "/auth/signin",
    "/auth/signin/credentials",
    "/auth/signup",
    "/auth/signin/{provider}",
    "/auth/callback/{provider}",
    "/auth/link/{provider}",
    "/auth/unlink/{provider}",
    "/auth/tokens",
];

pub fn configure(cfg: &mut web::ServiceConfig) {
    for path in MINTING_ROUTES {
        cfg.route(path, web::route().to(refuse));
    }
}

async fn refuse(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let signin_url = state.verify_only.as_ref().and_then(|v| v.signin_url.as_ref());
    let starts_signin = req.method() == Method::GET && req.path().starts_with("/auth/signin");
    tracing::info!(path = req.path(), code = CODE, "verify-only replica: refused a request that would mint a session");
    if let (Some(url), true) = (signin_url, starts_signin) {
        // The sign-in tier checks `redirect_to` against its own allow-list.
        let mut target = url.clone();
        target.set_query(req.uri().query());
        return Ok(HttpResponse::SeeOther().insert_header((LOCATION, target.as_str())).finish());
    }
    // Browsers get a page; API clients (and `/auth/tokens`, always) JSON.
    let browser_route = ["/auth/signin", "/auth/signup", "/auth/callback"].iter().any(|p| req.path().starts_with(p));
    if browser_route && !pages::accepts_json(&req) {
        return Ok(pages::verify_only(&state.pages, CODE));
    }
    Err(AppError::Forbidden(CODE))
}
