//! The admin API, for operators' tools: `POST /auth/admin/users/{id}/revoke`
//! signs a user out everywhere (as `sealgate sessions revoke --user ID` does).
//! An id that names a users-file account is compared without case.
//!
//! Only a sealgate API token whose scopes hold [`ADMIN_SCOPE`] may call it.
//! Such a token is minted by an operator (`sealgate token mint --scopes
//! sealgate:admin`), never from a session (`POST /auth/tokens` refuses the
//! `sealgate:` scopes). A session cookie is never enough, so the endpoint
//! needs no same-origin check: a browser cannot be made to send the token.
//! A provider's token is not an admin token either, whatever its `scope`
//! claim says: that scope is the provider's to give, not ours.

use crate::credentials::{Credentials, Identified};
use crate::errors::AppError;
use crate::identity::{Source, User};
use crate::state::AppState;
use crate::web::MaybeIdentity;
use actix_web::{web, HttpResponse};

/// The scope of an API token that may use the admin API.
pub const ADMIN_SCOPE: &str = "sealgate:admin";

/// The API token with the admin scope that the request carries: 401 for an
/// anonymous request (or a refused Bearer token), 403 for any other credential.
fn admin(who: &MaybeIdentity) -> Result<&Identified, AppError> {
    let identified = who.unless_bad_bearer()?.ok_or(AppError::Unauthenticated)?;
    let identity = &identified.identity;
    let scoped = identity.scopes.as_deref().is_some_and(|scopes| scopes.iter().any(|s| s == ADMIN_SCOPE));
    if identity.source != Source::ApiToken || !scoped {
        return Err(AppError::Forbidden("admin_scope_required"));
    }
    Ok(identified)
}

/// `POST /auth/admin/users/{id}/revoke`: every session of user `id` issued
/// until now is refused on every replica, and their session records are
/// removed. Answers `{"user": id, "sessions_removed": n}`.
pub async fn revoke_user(
    state: web::Data<AppState>,
    sessions: web::Data<Credentials>,
    who: MaybeIdentity,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let admin = admin(&who)?;
    let user = id.into_inner();
    if User::new(user.as_str()).validate().is_err() {
        return Err(AppError::BadRequest("invalid_user"));
    }
    // A users-file account's id as the file spells it: `ALICE` revokes `alice`.
    let user = state.credentials.as_ref().and_then(|users| users.account_id(&user)).unwrap_or(user);
    if state.store.is_off() {
        return Err(AppError::NotFound("sessions_unavailable"));
    }
    let codec = &sessions.codec;
    let signed_out =
        state.store.sign_out_everywhere(&user, codec.now(), codec.lifetimes().absolute).await.map_err(|error| {
            tracing::error!(%error, %user, "the user could not be signed out everywhere");
            AppError::Unavailable("store_unavailable")
        })?;
    // At once on this replica; the others hear of it from the store.
    if let Some(view) = &state.revocations {
        view.insert(signed_out.revocation);
    }
    tracing::info!(
        %user,
        by = %admin.identity.user.id,
        token_id = %admin.identity.id,
        sessions_removed = signed_out.records_removed,
        "signed out everywhere through the admin API"
    );
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(serde_json::json!({ "user": user, "sessions_removed": signed_out.records_removed })))
}
