//! Linked providers: a signed-in person adds another provider's account
//! to the session. `GET /auth/link/{id}` runs that provider's flow (its
//! flow cookie names the session that started it, which alone may finish
//! it); the shared callback calls [`finish`]; `POST /auth/unlink/{id}`
//! removes a link.
//!
//! With a store, each link is recorded (the provider account -> the user
//! it is linked to), so an account linked to one user is refused to
//! another (`account_already_linked`), and unlinking removes the record.
//! Without a store the link lives in the session cookie alone.

use super::oauth::{begin, StartQuery};
use super::pages;
use super::signin::SigninError;
use crate::credentials::Credentials;
use crate::errors::AppError;
use crate::providers::{Provider, SignedInUser};
use crate::session::Session;
use crate::state::AppState;
use crate::store::{user_at_provider, StoreError};
use crate::web::{load, set_session, SameOrigin};
use actix_web::http::header::LOCATION;
use actix_web::{web, HttpRequest, HttpResponse};
use std::time::Duration;

/// How long a link record is kept in the store: links do not expire.
const LINK_RECORD_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The store key of `provider`'s account `sub`.
fn record_key(provider: &str, sub: &str) -> String {
    format!("link:{}", user_at_provider(provider, sub))
}

/// The user a link belongs to, as recorded: the session's own provider and user id.
fn owner(session: &Session) -> String {
    user_at_provider(&session.provider, &session.user.id)
}

/// The signed-in (and verified) session of this request, from its cookie.
fn current_session(req: &HttpRequest) -> Option<Session> {
    load(req).session().cloned()
}

/// `GET /auth/link/{id}`: to the provider, to link its account to this session.
pub async fn start(
    req: HttpRequest,
    state: web::Data<AppState>,
    sessions: web::Data<Credentials>,
    id: web::Path<String>,
    query: web::Query<StartQuery>,
) -> Result<HttpResponse, AppError> {
    let json = pages::accepts_json(&req);
    let Some(session) = current_session(&req) else {
        if json {
            return Err(AppError::Unauthenticated);
        }
        let mut back = url::form_urlencoded::Serializer::new(String::new());
        back.append_pair("redirect_to", &format!("/auth/link/{}", id.as_str()));
        let location = format!("/auth/signin?{}", back.finish());
        return Ok(HttpResponse::Found()
            .insert_header((LOCATION, location))
            .insert_header(("Cache-Control", "no-store"))
            .finish());
    };
    if state.providers.get(id.as_str()).is_none() {
        return Err(AppError::NotFound("unknown_provider"));
    }
    if session.provider == id.as_str() {
        return Err(AppError::BadRequest("primary_provider"));
    }
    begin(&req, &state, &sessions, &id, &query, json, Some(&session.id)).await
}

/// The end of a link flow: `current` (the session that started it) with
/// the provider's account linked, set as this response's session.
pub(super) async fn finish(
    req: &HttpRequest,
    state: &AppState,
    sessions: &Credentials,
    provider: &Provider,
    current: &Session,
    signed_in: SignedInUser,
) -> Result<(), SigninError> {
    if current.provider == provider.id {
        return Err(SigninError::InvalidRequest);
    }
    if current.link(&provider.id).is_none() && current.linked.len() >= state.providers.iter().count() {
        return Err(SigninError::TooManyLinks);
    }
    let tokens = provider.pass_access_token.then_some(&signed_in.tokens);
    let linked = sessions
        .codec
        .with_link(current, &provider.id, &signed_in.user, tokens)
        .map_err(|_| SigninError::SessionTooLarge)?;
    // The browser's limit, which the session cookie's chunking enforces.
    let fits = sessions.codec.seal(&linked).ok().is_some_and(|value| sessions.cookies.split(&value).is_ok());
    if !fits {
        return Err(SigninError::SessionTooLarge);
    }
    record(state, provider, &signed_in, current).await?;
    set_session(req, &linked).map_err(|_| SigninError::SessionTooLarge)?;
    tracing::info!(user = %current.user.id, provider = %provider.id, "provider linked");
    Ok(())
}

/// Record the link in the store, refusing an account linked to someone else.
async fn record(
    state: &AppState,
    provider: &Provider,
    signed_in: &SignedInUser,
    current: &Session,
) -> Result<(), SigninError> {
    if state.store.is_off() {
        return Ok(());
    }
    let key = record_key(&provider.id, &signed_in.user.id);
    let owner = owner(current);
    let unavailable = |error: StoreError| {
        tracing::warn!(provider = %provider.id, %error, "the link could not be recorded");
        SigninError::StoreUnavailable
    };
    match state.store.get_outcome(&key).await.map_err(unavailable)? {
        Some(holder) if !holder.is_empty() && holder != owner.as_bytes() => {
            tracing::info!(provider = %provider.id, "the account is linked to another user");
            return Err(SigninError::AccountAlreadyLinked);
        }
        _ => {}
    }
    state.store.put_outcome(&key, owner.as_bytes(), LINK_RECORD_TTL).await.map_err(unavailable)
}

/// `POST /auth/unlink/{id}`: remove the link to provider `id`.
pub async fn unlink(
    _same_origin: SameOrigin,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let session = current_session(&req).ok_or(AppError::Unauthenticated)?;
    let Some(link) = session.link(id.as_str()) else {
        return Err(AppError::NotFound("not_linked"));
    };
    if !state.store.is_off() {
        let key = record_key(&link.provider, &link.sub);
        // An empty record is a free account (the store has no delete for these).
        let cleared = match state.store.get_outcome(&key).await {
            Ok(Some(holder)) if holder == owner(&session).as_bytes() => {
                state.store.put_outcome(&key, b"", LINK_RECORD_TTL).await
            }
            Ok(_) => Ok(()),
            Err(error) => Err(error),
        };
        if let Err(error) = cleared {
            tracing::warn!(provider = %link.provider, %error, "the link record could not be removed");
            return Err(AppError::Unavailable("store_unavailable"));
        }
    }
    set_session(&req, &session.without_link(id.as_str()))?;
    tracing::info!(user = %session.user.id, provider = %id.as_str(), "provider unlinked");
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(serde_json::json!({ "unlinked": id.as_str() })))
}
