//! Sign-out. `GET` only asks (with a Cancel link back to `redirect_to`);
//! `POST` (same-origin only) signs out and leaves a one-time "you have been
//! signed out" notice for sealgate's next page.

use super::signin::see_other;
use super::{managed, pages};
use crate::credentials::Credentials;
use crate::errors::AppError;
use crate::return_to::ReturnTo;
use crate::state::AppState;
use crate::web::pages::Flash;
use crate::web::{clear_session, MaybeIdentity, SameOrigin};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct SignoutParams {
    redirect_to: Option<String>,
}

pub async fn signout_page(state: web::Data<AppState>, query: web::Query<SignoutParams>) -> HttpResponse {
    pages::signout(&state.pages, &ReturnTo::parse(query.redirect_to.as_deref(), &state.redirects))
}

pub async fn signout(
    _: SameOrigin,
    req: HttpRequest,
    state: web::Data<AppState>,
    credentials: web::Data<Credentials>,
    who: MaybeIdentity,
    query: web::Query<SignoutParams>,
    form: Option<web::Form<SignoutParams>>,
) -> Result<HttpResponse, AppError> {
    let raw = form.as_ref().and_then(|f| f.redirect_to.as_deref()).or(query.redirect_to.as_deref());
    let redirect_to = ReturnTo::parse(raw, &state.redirects);
    let mut location = redirect_to.to_string();
    if let Some(session) = who.0.session() {
        tracing::info!(user = %session.user.id, provider = %session.provider, "signed out");
        let provider = state.providers.get(&session.provider);
        // Provider tokens: revoke them (RFC 7009) and, when configured, end the
        // provider's session too (RP-initiated logout). Both best effort.
        if let (Some(provider), Ok(Some(tokens))) = (provider, credentials.codec.tokens(session)) {
            provider.revoke(&tokens).await;
            if let Some(end_session) = provider.end_session_url(tokens.id_token.as_ref()) {
                location = end_session.to_string();
            }
        }
        managed::revoke(&state, &credentials, session).await;
    }
    clear_session(&req);
    let mut response = see_other(&location);
    // "You have been signed out", once, on sealgate's next page.
    let secure = state.public_url.scheme() == "https";
    response.add_cookie(&Flash::SignedOut.cookie(secure)).map_err(AppError::internal)?;
    Ok(response)
}
