//! `POST /auth/tokens`: a signed-in browser session mints an API token for
//! its own user. Same-origin only (like sign-out), JSON in and out, and never
//! longer-lived than `api_tokens.max_lifetime`, nor (unless
//! `api_tokens.outlive_session`) than the session's absolute expiry. A Bearer
//! token cannot mint another one, and a session cannot mint sealgate's own
//! scopes (`sealgate:admin`, ...): those are an operator's to give, with
//! `sealgate token mint`.

use crate::credentials::Credentials;
use crate::errors::AppError;
use crate::identity::Source;
use crate::web::{MaybeIdentity, SameOrigin};
use actix_web::{web, HttpResponse};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MintRequest {
    name: String,
    #[serde(default)]
    scopes: Vec<String>,
    /// Lifetime: seconds (`3600`) or a duration (`"1h"`, `"30m"`); default
    /// and maximum: `api_tokens.max_lifetime`.
    #[serde(default, deserialize_with = "seconds_or_duration")]
    ttl: Option<i64>,
}

/// `3600` or `"1h"`: whole seconds either way; a string that is no duration
/// is a bad request.
fn seconds_or_duration<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Ttl {
        Seconds(i64),
        Duration(String),
    }
    match Option::<Ttl>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Ttl::Seconds(seconds)) => Ok(Some(seconds)),
        Some(Ttl::Duration(text)) => humantime_serde::re::humantime::parse_duration(&text)
            .ok()
            .and_then(|duration| i64::try_from(duration.as_secs()).ok())
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("ttl is neither seconds nor a duration like \"1h\"")),
    }
}

/// Scopes sealgate itself honours start with this; a session may not mint them.
const RESERVED_SCOPES: &str = "sealgate:";

fn is_word(text: &str) -> bool {
    !text.is_empty() && text.len() <= 128 && text.bytes().all(|b| b.is_ascii_graphic() && b != b',')
}

pub async fn mint(
    _: SameOrigin,
    sessions: web::Data<Credentials>,
    who: MaybeIdentity,
    body: web::Json<MintRequest>,
) -> Result<HttpResponse, AppError> {
    let identified = who.unless_bad_bearer()?.ok_or(AppError::Unauthenticated)?;
    let session = match &identified.session {
        Some(session) if identified.identity.source == Source::Cookie => session,
        _ => return Err(AppError::Forbidden("session_required")),
    };
    let max = sessions.api_tokens.max_lifetime;
    let ttl = body.ttl.unwrap_or(max);
    let well_formed = is_word(&body.name) && body.scopes.iter().all(|s| is_word(s)) && body.scopes.len() <= 32;
    if !well_formed || ttl < 1 || ttl > max {
        return Err(AppError::BadRequest("invalid_request"));
    }
    if body.scopes.iter().any(|scope| scope.to_ascii_lowercase().starts_with(RESERVED_SCOPES)) {
        return Err(AppError::Forbidden("scope_not_allowed"));
    }
    // A token minted from a session ends when the session would have to.
    let ttl = if sessions.api_tokens.outlive_session {
        ttl
    } else {
        let session_ends = session.created_at.saturating_add(sessions.codec.lifetimes().absolute);
        ttl.min(session_ends.saturating_sub(sessions.codec.now())).max(1)
    };
    let (token, claims) = sessions
        .api_tokens
        .mint(session.user.clone(), &body.name, body.scopes.clone(), ttl)
        .map_err(AppError::internal)?;
    tracing::info!(user = %session.user.id, token_id = %claims.jti, name = %claims.name, "API token minted");
    Ok(HttpResponse::Created().insert_header(("Cache-Control", "no-store")).json(serde_json::json!({
        "id": claims.jti,
        "token": token,
        "name": claims.name,
        "scopes": claims.scopes,
        "expires_at": claims.exp,
    })))
}
