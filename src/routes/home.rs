//! `GET /`: where a person lands by default after signing in or out.

use super::pages;
use crate::web::MaybeIdentity;
use actix_web::HttpResponse;

pub async fn home(who: MaybeIdentity) -> HttpResponse {
    pages::html(pages::home(who.get().map(|identified| &identified.identity)))
}
