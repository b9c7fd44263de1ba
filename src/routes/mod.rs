//! HTTP endpoints, one file per concern, wired up in [`configure`].

mod admin;
mod api_tokens;
mod health;
mod home;
mod logout;
mod managed;
mod oauth;
mod pages;
mod session_info;
mod signin;
mod signout;
mod token;
mod verify;
mod verify_only;

pub use admin::ADMIN_SCOPE;
pub use signin::SigninError;

use crate::credentials::Credentials;
use crate::state::AppState;
use actix_web::web;

/// Every route. `/auth/verify` holds the session service and the app state
/// itself, so its hot path looks neither up in the app data.
pub fn configure(cfg: &mut web::ServiceConfig, sessions: web::Data<Credentials>, state: web::Data<AppState>) {
    // A verify-only replica answers the routes that mint sessions first, and only so.
    if state.verify_only.is_some() {
        verify_only::configure(cfg);
    }
    // `/auth/verify` first: routes are matched in order, and it is the hot path.
    cfg.route("/auth/verify", web::get().service(verify::service(sessions, state)))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/", web::get().to(home::home))
        .route("/auth/session", web::get().to(session_info::session_info))
        .route("/auth/token", web::get().to(token::token))
        .route("/auth/tokens", web::post().to(api_tokens::mint))
        .route("/metrics", web::get().to(health::metrics))
        .route("/auth/signin", web::get().to(signin::signin_page))
        .route("/auth/signin/credentials", web::post().to(signin::signin_credentials))
        .route("/auth/signin/{provider}", web::get().to(oauth::start))
        .route("/auth/callback/{provider}", web::get().to(oauth::callback))
        .route("/auth/backchannel-logout/{provider}", web::post().to(logout::backchannel))
        .route("/auth/frontchannel-logout/{provider}", web::get().to(logout::frontchannel))
        .route("/auth/signout", web::get().to(signout::signout_page))
        .route("/auth/signout", web::post().to(signout::signout))
        .route("/auth/sessions", web::get().to(managed::list))
        .route("/auth/sessions/revoke-others", web::post().to(managed::revoke_others))
        .route("/auth/sessions/{id}/revoke", web::post().to(managed::revoke_one))
        .route("/auth/admin/users/{id}/revoke", web::post().to(admin::revoke_user));
}
