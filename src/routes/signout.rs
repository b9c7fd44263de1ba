//! Sign-out. `GET` only asks; `POST` (same-origin only) signs out.

use super::pages;
use super::signin::see_other;
use crate::domain::ReturnTo;
use crate::errors::AppError;
use crate::session::request::{clear_session, MaybeSession};
use crate::startup::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct SignoutParams {
    redirect_to: Option<String>,
}

pub async fn signout_page(state: web::Data<AppState>, query: web::Query<SignoutParams>) -> HttpResponse {
    pages::html(pages::signout(&ReturnTo::parse(query.redirect_to.as_deref(), &state.redirects)))
}

pub async fn signout(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: MaybeSession,
    query: web::Query<SignoutParams>,
    form: Option<web::Form<SignoutParams>>,
) -> Result<HttpResponse, AppError> {
    if !state.origins.allows(&req) {
        return Err(AppError::Forbidden("cross_site_request"));
    }
    let raw = form.as_ref().and_then(|f| f.redirect_to.as_deref()).or(query.redirect_to.as_deref());
    let redirect_to = ReturnTo::parse(raw, &state.redirects);
    if let Some(session) = session.get() {
        tracing::info!(user = %session.user.id, provider = %session.provider, "signed out");
    }
    clear_session(&req);
    Ok(see_other(redirect_to.as_str()))
}
