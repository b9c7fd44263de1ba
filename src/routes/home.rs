//! `GET /`: where a person lands by default after signing in or out.

use super::pages;
use crate::state::AppState;
use crate::web::MaybeIdentity;
use actix_web::{web, HttpRequest, HttpResponse};

pub async fn home(req: HttpRequest, state: web::Data<AppState>, who: MaybeIdentity) -> HttpResponse {
    pages::home(&state.pages, &req, who.get().map(|identified| &identified.identity))
}

/// `GET /auth/style.css`: the stylesheet of every page.
pub async fn stylesheet(state: web::Data<AppState>) -> HttpResponse {
    state.pages.stylesheet()
}
