//! The state kept about sessions, when a store keeps it: each sign-in is
//! recorded (for "your sessions" and back-channel logout), and each
//! sign-out revokes the session id, so a copied cookie stops working on
//! every replica. Both are best effort for the person in front of us: a
//! store that cannot be reached is logged, and the sign-in or sign-out
//! itself goes on.
//!
//! The managed-session pages let a person see and end their own sessions:
//! `GET /auth/sessions`, `POST /auth/sessions/{id}/revoke`,
//! `POST /auth/sessions/revoke-others`.

use super::pages;
use super::signin::see_other;
use crate::credentials::Credentials;
use crate::errors::AppError;
use crate::session::Session;
use crate::state::AppState;
use crate::store::{Revocation, SessionRecord, StoreError};
use crate::web::{clear_session, MaybeIdentity, SameOrigin};
use actix_web::http::header::USER_AGENT;
use actix_web::HttpRequest;
use actix_web::{web, HttpResponse};

/// The longest user agent kept with a session record.
const MAX_USER_AGENT: usize = 256;

/// When `session` ends at the latest: the revocation and the record are
/// forgotten then.
fn absolute_expiry(credentials: &Credentials, session: &Session) -> i64 {
    session.created_at.saturating_add(credentials.codec.lifetimes().absolute)
}

/// Record a new session: who, through which provider, from where, and
/// the IdP's session id (`sid`, for back- and front-channel logout; kept
/// here only, not in the cookie).
pub async fn record_sign_in(
    state: &AppState,
    credentials: &Credentials,
    req: &HttpRequest,
    session: &Session,
    idp_session: Option<&str>,
) {
    if state.store.is_off() {
        return;
    }
    let user_agent = req
        .headers()
        .get(USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|agent| agent.chars().take(MAX_USER_AGENT).collect());
    let record = SessionRecord {
        id: session.id.clone(),
        user: session.user.id.clone(),
        provider: session.provider.clone(),
        created: session.created_at,
        expires: absolute_expiry(credentials, session),
        user_agent,
        client_address: state.proxies.client_ip(req).map(|ip| ip.to_string()),
        sid: idp_session.map(str::to_owned),
    };
    if let Err(error) = state.store.record_session(&record).await {
        tracing::warn!(%error, user = %session.user.id, "the new session could not be recorded in the store");
    }
}

/// Revoke `session` everywhere, and at once on this replica.
pub async fn revoke(state: &AppState, credentials: &Credentials, session: &Session) {
    if state.store.is_off() {
        return;
    }
    let until = absolute_expiry(credentials, session);
    if let Some(view) = &state.revocations {
        view.insert(Revocation::Session { id: session.id.clone(), until });
    }
    if let Err(error) = state.store.revoke_session(&session.id, until).await {
        tracing::error!(%error, user = %session.user.id, "the session could not be revoked in the store; only this replica refuses it");
    }
    if let Err(error) = state.store.remove_session(&session.user.id, &session.id).await {
        tracing::warn!(%error, "the session record could not be removed");
    }
}

/// The longest session id a path may name (ours are 22 characters).
const MAX_SESSION_ID: usize = 64;

/// A signed-in person's own session cookie: the managed-session pages are
/// for people, not for Bearer tokens.
pub(super) fn own_session(who: &MaybeIdentity) -> Result<&Session, AppError> {
    let identified = who.unless_bad_bearer()?.ok_or(AppError::Unauthenticated)?;
    identified.session.as_ref().ok_or(AppError::Forbidden("session_required"))
}

/// The signed-in person's unexpired sessions, from the store.
async fn sessions_of(state: &AppState, user: &str) -> Result<Vec<SessionRecord>, AppError> {
    if state.store.is_off() {
        return Err(AppError::NotFound("sessions_unavailable"));
    }
    state.store.list_sessions(user).await.map_err(|error| {
        tracing::warn!(%error, "the session records could not be read");
        AppError::Unavailable("store_unavailable")
    })
}

/// `GET /auth/sessions`: the person's sessions, the current one marked;
/// JSON for `Accept: application/json`, else a page with a button per session.
pub async fn list(req: HttpRequest, state: web::Data<AppState>, who: MaybeIdentity) -> Result<HttpResponse, AppError> {
    let current = own_session(&who)?;
    let records = sessions_of(&state, &current.user.id).await?;
    if !pages::accepts_json(&req) {
        return Ok(pages::sessions(&state.pages, &records, &current.id));
    }
    let sessions: Vec<_> = records
        .iter()
        .map(|r| {
            serde_json::json!({
                "id": r.id,
                "provider": r.provider,
                "created_at": r.created,
                "expires_at": r.expires,
                "user_agent": r.user_agent,
                "client_address": r.client_address,
                "current": r.id == current.id,
            })
        })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(serde_json::json!({ "sessions": sessions })))
}

/// End each of `records`: refused at once on this replica, revoked in the
/// store until its absolute expiry (so on every replica), its record
/// forgotten. `why` says who asked, for the log. The first store error
/// stops it (and is logged); the sessions before it stay ended.
pub(super) async fn end_recorded(
    state: &AppState,
    records: &[&SessionRecord],
    why: &'static str,
) -> Result<(), StoreError> {
    for record in records {
        if let Some(view) = &state.revocations {
            view.insert(Revocation::Session { id: record.id.clone(), until: record.expires });
        }
        let revoked = state.store.revoke_session(&record.id, record.expires).await;
        let removed = state.store.remove_session(&record.user, &record.id).await;
        if let Err(error) = revoked.and(removed.map(drop)) {
            tracing::error!(%error, user = %record.user, provider = %record.provider, why, "a session could not be revoked in the store");
            return Err(error);
        }
        tracing::info!(user = %record.user, provider = %record.provider, why, "session revoked");
    }
    Ok(())
}

/// Revoke each of `records` (the person's own).
async fn revoke_records(state: &AppState, records: &[&SessionRecord]) -> Result<(), AppError> {
    end_recorded(state, records, "ended by its owner").await.map_err(|_| AppError::Unavailable("store_unavailable"))
}

/// `POST /auth/sessions/{id}/revoke`: end one of one's own sessions (the
/// current one too, which also clears its cookie). Same-origin only.
pub async fn revoke_one(
    _: SameOrigin,
    req: HttpRequest,
    state: web::Data<AppState>,
    who: MaybeIdentity,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let current = own_session(&who)?;
    if id.len() > MAX_SESSION_ID {
        return Err(AppError::NotFound("no_such_session"));
    }
    let records = sessions_of(&state, &current.user.id).await?;
    let Some(record) = records.iter().find(|r| r.id == *id) else {
        // Another person's session, or none: the same answer.
        return Err(AppError::NotFound("no_such_session"));
    };
    revoke_records(&state, &[record]).await?;
    if record.id == current.id {
        clear_session(&req);
    }
    Ok(see_other("/auth/sessions"))
}

/// `POST /auth/sessions/revoke-others`: end every session of one's own but
/// the current one ("sign out my other devices"). Same-origin only.
pub async fn revoke_others(
    _: SameOrigin,
    state: web::Data<AppState>,
    who: MaybeIdentity,
) -> Result<HttpResponse, AppError> {
    let current = own_session(&who)?;
    let records = sessions_of(&state, &current.user.id).await?;
    let others: Vec<&SessionRecord> = records.iter().filter(|r| r.id != current.id).collect();
    revoke_records(&state, &others).await?;
    Ok(see_other("/auth/sessions"))
}
