//! `GET /auth/token`: the signed-in person's provider access token, fresh,
//! for single-page apps that call the provider's API themselves. Off unless
//! `tokens.endpoint = true`, because it hands the token to the browser.

use crate::credentials::Credentials;
use crate::errors::AppError;
use crate::refresh::TokenStatus;
use crate::state::AppState;
use crate::web::{clear_session, set_session, MaybeIdentity};
use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::ExposeSecret;

pub async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    credentials: web::Data<Credentials>,
    who: MaybeIdentity,
) -> Result<HttpResponse, AppError> {
    if !state.refresher.settings().endpoint {
        return Err(AppError::NotFound("not_found"));
    }
    let identified = who.unless_bad_bearer()?.ok_or(AppError::Unauthenticated)?;
    // Only a session holds provider tokens; a Bearer token's identity has none.
    let Some(session) = identified.session.as_ref() else {
        return Err(AppError::NotFound("no_provider_token"));
    };
    let provider = state.providers.get(&session.provider).map(|p| p.as_ref());
    match state.refresher.fresh(&credentials.codec, provider, session).await {
        TokenStatus::Fresh { tokens, refreshed } => {
            if let Some(refreshed) = refreshed {
                set_session(&req, &refreshed)?;
            }
            Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(serde_json::json!({
                "access_token": tokens.access_token.expose_secret(),
                "token_type": tokens.token_type,
                "expires_at": tokens.expires_at,
                "provider": session.provider,
            })))
        }
        TokenStatus::Expired => Err(AppError::TokenExpired),
        TokenStatus::Ended => {
            clear_session(&req);
            Err(AppError::Unauthenticated)
        }
        TokenStatus::Unavailable => Err(AppError::Unavailable("provider_unavailable")),
        TokenStatus::NoTokens => Err(AppError::NotFound("no_provider_token")),
    }
}
