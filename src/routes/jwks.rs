//! `GET /.well-known/jwks.json`: the public keys that sign
//! `X-Auth-Assertion`, for upstreams to verify it with. Every key of the
//! assertion key set is published (current, next and previous): a next key
//! is known before it signs, and a previous one while what it signed may
//! still be alive. Never a private member: each key is built from its
//! public members only (see `assertion::keys`).

use crate::errors::AppError;
use crate::state::AppState;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{web, HttpResponse};

/// How long upstreams may cache the key set: a next key must be published
/// this long before `assertion-keys activate` makes it sign.
pub const MAX_AGE: u64 = 300;

pub async fn jwks(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let assertions = state.assertions.as_ref().ok_or(AppError::NotFound("not_found"))?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/jwk-set+json"))
        .insert_header((CACHE_CONTROL, format!("public, max-age={MAX_AGE}")))
        .body(assertions.jwks().to_string()))
}
