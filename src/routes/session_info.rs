//! `GET /auth/session`: the session as JSON, for single-page apps. Never tokens.

use crate::errors::AppError;
use crate::web::MaybeIdentity;
use actix_web::HttpResponse;
use chrono::{TimeZone, Utc};

fn rfc3339(seconds: i64) -> Option<String> {
    Utc.timestamp_opt(seconds, 0).single().map(|t| t.to_rfc3339())
}

pub async fn session_info(who: MaybeIdentity) -> Result<HttpResponse, AppError> {
    let body = match who.unless_bad_bearer()?.map(|identified| &identified.identity) {
        None if who.0.pending_verification() => {
            serde_json::json!({ "authenticated": false, "pending_verification": true })
        }
        None => serde_json::json!({ "authenticated": false }),
        Some(identity) => serde_json::json!({
            "authenticated": true,
            "user": identity.user,
            "provider": identity.provider,
            "source": identity.source.as_str(),
            "created_at": rfc3339(identity.issued_at),
            "expires_at": rfc3339(identity.expires_at),
        }),
    };
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(body))
}
