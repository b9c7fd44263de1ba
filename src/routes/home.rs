//! `GET /`: where a person lands by default after signing in or out.

use super::pages;
use crate::session::request::MaybeSession;
use actix_web::HttpResponse;

pub async fn home(session: MaybeSession) -> HttpResponse {
    pages::html(pages::home(session.get()))
}
