//! `GET /auth/session`: the session as JSON, for single-page apps. Never tokens.

use crate::errors::AppError;
use crate::session::request::MaybeSession;
use actix_web::HttpResponse;
use chrono::{TimeZone, Utc};

fn rfc3339(seconds: i64) -> Option<String> {
    Utc.timestamp_opt(seconds, 0).single().map(|t| t.to_rfc3339())
}

pub async fn session_info(session: MaybeSession) -> Result<HttpResponse, AppError> {
    if session.state().bad_bearer() {
        return Err(AppError::InvalidToken);
    }
    let body = match session.get() {
        None => serde_json::json!({ "authenticated": false }),
        Some(session) => serde_json::json!({
            "authenticated": true,
            "user": session.user,
            "provider": session.provider,
            "source": session.source.as_str(),
            "created_at": rfc3339(session.created_at),
            "expires_at": rfc3339(session.expires_at),
        }),
    };
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(body))
}
