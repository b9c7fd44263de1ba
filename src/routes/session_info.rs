//! `GET /auth/session`: the session as JSON, for single-page apps. Never tokens.

use crate::errors::AppError;
use crate::session::Session;
use crate::web::MaybeIdentity;
use actix_web::HttpResponse;
use chrono::{TimeZone, Utc};

fn rfc3339(seconds: i64) -> Option<String> {
    Utc.timestamp_opt(seconds, 0).single().map(|t| t.to_rfc3339())
}

/// The providers linked to the session: who, and whether tokens are held (never the tokens).
fn linked(session: Option<&Session>) -> Vec<serde_json::Value> {
    let links = session.map(|session| session.linked.as_slice()).unwrap_or_default();
    links
        .iter()
        .map(|link| {
            serde_json::json!({
                "provider": link.provider,
                "id": link.sub,
                "username": link.username,
                "avatar_url": link.avatar_url,
                "has_tokens": link.has_tokens(),
            })
        })
        .collect()
}

pub async fn session_info(who: MaybeIdentity) -> Result<HttpResponse, AppError> {
    let identified = who.unless_bad_bearer()?;
    let session = identified.and_then(|identified| identified.session.as_ref());
    let body = match identified.map(|identified| &identified.identity) {
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
            "linked": linked(session),
        }),
    };
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(body))
}
