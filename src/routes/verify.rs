//! `GET /auth/verify`: the reverse proxy's "who is this?" on every request.
//! The hot path: one cookie read, one strict parse, one decryption.

use crate::errors::AppError;
use crate::session::request::MaybeSession;
use crate::session::Session;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpResponse, HttpResponseBuilder};

pub const USER: &str = "x-auth-user";
pub const USERNAME: &str = "x-auth-username";
pub const EMAIL: &str = "x-auth-email";
pub const NAME: &str = "x-auth-name";
pub const PROVIDER: &str = "x-auth-provider";
pub const GROUPS: &str = "x-auth-groups";

fn header(response: &mut HttpResponseBuilder, name: &'static str, value: &str) {
    // User fields were validated (no control characters) when the session
    // was made, so this only skips a value in the most unlikely of cases.
    if let Ok(value) = HeaderValue::from_str(value) {
        response.insert_header((HeaderName::from_static(name), value));
    }
}

/// The identity headers for a session. Built only from the sealed session,
/// never from anything the client sent.
pub fn identity_headers(response: &mut HttpResponseBuilder, session: &Session) {
    let user = &session.user;
    header(response, USER, &user.id);
    header(response, PROVIDER, &session.provider);
    for (name, value) in [(USERNAME, &user.username), (EMAIL, &user.email), (NAME, &user.name)] {
        if let Some(value) = value {
            header(response, name, value);
        }
    }
    if !user.groups.is_empty() {
        header(response, GROUPS, &user.groups.join(","));
    }
}

pub async fn verify(session: MaybeSession) -> Result<HttpResponse, AppError> {
    let session = session.get().ok_or(AppError::Unauthenticated)?;
    let mut response = HttpResponse::Ok();
    identity_headers(&mut response, session);
    Ok(response.finish())
}
