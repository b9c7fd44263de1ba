//! Logout that an OpenID Provider asks for, for the sessions signed in
//! through it:
//!
//! - `POST /auth/backchannel-logout/{provider}` (OpenID Connect Back-Channel
//!   Logout 1.0): the IdP posts a logout token, server to server. No
//!   session and no same-origin check: the signed token is the credential
//!   (see `providers::logout_token`), and its `jti` is spent in the store.
//!   200 with `Cache-Control: no-store` when the sessions are ended; 400
//!   `{"error", "error_description"}` otherwise (section 2.8), a store out
//!   of reach included (`temporarily_unavailable`).
//! - `GET /auth/frontchannel-logout/{provider}?iss=&sid=` (Front-Channel
//!   Logout 1.0): the IdP loads it in the browser, in an iframe; a small
//!   page that only the IdP may frame.
//!
//! Both end the sessions recorded at sign-in with the IdP's `sid` (the
//! store's `sessions_by_sid`); a logout token naming only a `sub` ends every
//! session of that person signed in through that provider. Both need a
//! store: without one (`kind = "none"`) they answer 404 `sessions_unavailable`.
//! The log says what was ended (users, how many sessions), never a token
//! or a `sid`.

use super::managed::end_recorded;
use super::pages;
use crate::credentials::Credentials;
use crate::errors::AppError;
use crate::providers::{is_session_id, LogoutToken, LogoutTokenError, Provider, REPLAY_WINDOW};
use crate::state::AppState;
use crate::store::{self, Revocation, SessionRecord, StoreError};
use crate::web::{clear_session, MaybeIdentity};
use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::sync::Arc;

fn invalid(description: &'static str) -> AppError {
    AppError::BadRequestBecause { code: "invalid_request", description }
}

/// A back-channel logout that could not be carried out now: still a 400
/// (section 2.8 has no other answer for a failed logout), said to be passing.
fn store_unreachable() -> AppError {
    AppError::BadRequestBecause {
        code: "temporarily_unavailable",
        description: "the session store cannot be reached; no session was ended",
    }
}

/// The OpenID Connect provider `id`, when there is a store to find its sessions in.
fn logout_provider<'s>(state: &'s AppState, id: &str) -> Result<&'s Arc<Provider>, AppError> {
    let provider = state.providers.get(id).ok_or(AppError::NotFound("unknown_provider"))?;
    if !provider.is_oidc() {
        return Err(AppError::NotFound("not_an_oidc_provider"));
    }
    if state.store.is_off() {
        return Err(AppError::NotFound("sessions_unavailable"));
    }
    Ok(provider)
}

/// The one `logout_token` of a form body.
fn logout_token(body: &[u8]) -> Result<SecretString, AppError> {
    let mut tokens = url::form_urlencoded::parse(body).filter(|(name, _)| name == "logout_token").map(|(_, v)| v);
    match (tokens.next(), tokens.next()) {
        (Some(token), None) if !token.is_empty() => Ok(SecretString::from(token.into_owned())),
        (Some(_), Some(_)) => Err(invalid("the request holds more than one logout_token")),
        _ => Err(invalid("the request holds no logout_token")),
    }
}

/// End every recorded session of `provider` with the IdP session `sid`; the records ended.
async fn end_idp_session(
    state: &AppState,
    provider: &Provider,
    sid: &str,
    why: &'static str,
) -> Result<Vec<SessionRecord>, StoreError> {
    let records = state.store.sessions_by_sid(&provider.id, sid).await?;
    end_recorded(state, &records.iter().collect::<Vec<_>>(), why).await?;
    Ok(records)
}

/// End every session of the IdP's user `sub` signed in through `provider`
/// until now (this second's too: a sign-in at the very second of the
/// logout is taken as before it), recorded or not: a per-provider user
/// mark, kept as long as such a session could live.
async fn end_user(state: &AppState, credentials: &Credentials, provider: &Provider, sub: &str) -> Result<(), AppError> {
    if !provider.user_id_is_sub() {
        tracing::warn!(provider = %provider.id, "a logout token names only a sub, but this provider's user ids are another claim");
        return Err(invalid("this provider's user ids are not its sub claim: the logout token must name a sid"));
    }
    let before = credentials.codec.now().saturating_add(1);
    let until = before.saturating_add(credentials.codec.lifetimes().absolute);
    let revocation = Revocation::User { user: store::user_at_provider(&provider.id, sub), before, until };
    if let Some(view) = &state.revocations {
        view.insert(revocation.clone());
    }
    if let Err(error) = state.store.revoke(revocation).await {
        tracing::error!(%error, provider = %provider.id, user = %sub, "the user's sessions could not be revoked in the store; only this replica refuses them");
        return Err(store_unreachable());
    }
    // Their records go too, so "your sessions" lists none of them (best effort).
    match state.store.list_sessions(sub).await {
        Ok(records) => {
            for record in records.iter().filter(|record| record.provider == provider.id) {
                if let Err(error) = state.store.remove_session(&record.user, &record.id).await {
                    tracing::warn!(%error, "a session record could not be removed");
                }
            }
        }
        Err(error) => tracing::warn!(%error, "the user's session records could not be read"),
    }
    Ok(())
}

/// Carry out a verified logout token: its `sid`'s sessions, or else its `sub`'s.
async fn end_named(
    state: &AppState,
    credentials: &Credentials,
    provider: &Provider,
    token: &LogoutToken,
) -> Result<(), AppError> {
    match (&token.session, &token.subject) {
        (Some(sid), _) => {
            let ended =
                end_idp_session(state, provider, sid, "back-channel logout").await.map_err(|_| store_unreachable())?;
            tracing::info!(provider = %provider.id, sessions = ended.len(), "back-channel logout of one IdP session");
        }
        (None, Some(sub)) => {
            end_user(state, credentials, provider, sub).await?;
            tracing::info!(provider = %provider.id, user = %sub, "back-channel logout of every session of a user");
        }
        // `check_claims` lets no token through without one of them.
        (None, None) => return Err(invalid(LogoutTokenError::Subject.description())),
    }
    Ok(())
}

/// `POST /auth/backchannel-logout/{provider}`, form body `logout_token=...`.
#[tracing::instrument(skip_all)]
pub async fn backchannel(
    state: web::Data<AppState>,
    credentials: web::Data<Credentials>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let provider = logout_provider(&state, &id)?;
    let token = logout_token(&body)?;
    let verified = provider.verify_logout_token(token.expose_secret()).await.map_err(|error| {
        tracing::info!(provider = %provider.id, %error, "logout token refused");
        match error {
            LogoutTokenError::KeysUnavailable => {
                AppError::BadRequestBecause { code: "temporarily_unavailable", description: error.description() }
            }
            _ => invalid(error.description()),
        }
    })?;
    let spent = format!("bcl-jti:{}:{}", verified.issuer, verified.jti);
    match state.store.seen_once(&spent, REPLAY_WINDOW).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(provider = %provider.id, "logout token refused: its jti was seen before");
            return Err(invalid("the logout token was used before (its jti)"));
        }
        Err(error) => {
            tracing::error!(%error, provider = %provider.id, "the logout token's jti could not be recorded");
            return Err(store_unreachable());
        }
    }
    end_named(&state, &credentials, provider, &verified).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).finish())
}

#[derive(Deserialize)]
pub struct FrontChannelQuery {
    iss: Option<String>,
    sid: Option<String>,
}

/// `GET /auth/frontchannel-logout/{provider}?iss=&sid=`: end the sessions
/// of that IdP session, and clear this browser's cookie when its session
/// is one of them. Without `sid` nothing is ended (400): a GET ends no
/// session on the strength of a cookie alone (a cross-site link could
/// send it), as with `GET /auth/signout`.
pub async fn frontchannel(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: MaybeIdentity,
    id: web::Path<String>,
    query: web::Query<FrontChannelQuery>,
) -> Result<HttpResponse, AppError> {
    let provider = logout_provider(&state, &id)?;
    let issuer = provider.issuer().unwrap_or_default();
    if query.iss.as_deref() != Some(issuer) {
        return Err(invalid("iss is missing or is not this provider's issuer"));
    }
    let Some(sid) = query.sid.as_deref().filter(|sid| is_session_id(sid)) else {
        return Err(invalid("sid is missing or malformed"));
    };
    let ended = end_idp_session(&state, provider, sid, "front-channel logout")
        .await
        .map_err(|_| AppError::Unavailable("store_unavailable"))?;
    if who.0.session().is_some_and(|current| ended.iter().any(|record| record.id == current.id)) {
        clear_session(&req);
    }
    tracing::info!(provider = %provider.id, sessions = ended.len(), "front-channel logout of one IdP session");
    Ok(pages::signed_out_by_provider(&state.pages, &provider.name, issuer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logout_token_is_the_one_form_field_of_that_name() {
        assert_eq!(logout_token(b"logout_token=a.b.c&x=1").unwrap().expose_secret(), "a.b.c");
        assert_eq!(logout_token(b"logout_token=a%2Eb.c").unwrap().expose_secret(), "a.b.c");
        for body in [&b""[..], b"logout_token=", b"token=a.b.c", b"logout_token=a&logout_token=b", b"\xff\xfe"] {
            assert!(matches!(logout_token(body), Err(AppError::BadRequestBecause { .. })), "{body:?}");
        }
    }
}
