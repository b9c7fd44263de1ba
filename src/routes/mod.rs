//! HTTP endpoints, one file per concern, wired up in [`configure`].

mod admin;
mod api_tokens;
mod health;
mod home;
mod jwks;
mod link;
mod logout;
mod managed;
mod oauth;
mod pages;
mod session_info;
mod signin;
mod signout;
mod signup;
mod token;
mod verify;
mod verify_only;
mod verify_signin;

pub use admin::ADMIN_SCOPE;
pub use signin::SigninError;

use crate::config::AccessLog;
use crate::credentials::Credentials;
use crate::state::AppState;
use crate::web::Observe;
use actix_web::web;

/// Every route, each observed under its pattern (metrics, access log).
/// `/auth/verify` holds the session service and the app state itself, so
/// its hot path looks neither up in the app data.
pub fn configure(cfg: &mut web::ServiceConfig, sessions: web::Data<Credentials>, state: web::Data<AppState>) {
    let access = state.access_log;
    let metrics_here = !state.metrics_elsewhere;
    macro_rules! at {
        ($path:literal) => {
            web::resource($path).wrap(Observe::route($path, access)).default_service(web::to(method_not_allowed))
        };
    }
    // A verify-only replica answers the routes that mint sessions first, and only so.
    if state.verify_only.is_some() {
        verify_only::configure(cfg);
    }
    // `/auth/verify` first: routes are matched in order, and it is the hot path.
    cfg.service(at!("/auth/verify").route(web::get().service(verify::service(sessions, state))))
        .service(at!("/healthz").route(web::get().to(health::healthz)))
        .service(at!("/readyz").route(web::get().to(health::readyz)))
        .service(at!("/").route(web::get().to(home::home)))
        .service(at!("/auth/style.css").route(web::get().to(home::stylesheet)))
        .service(at!("/auth/session").route(web::get().to(session_info::session_info)))
        .service(at!("/auth/token").route(web::get().to(token::token)))
        .service(at!("/auth/tokens").route(web::post().to(api_tokens::mint)))
        .service(at!("/.well-known/jwks.json").route(web::get().to(jwks::jwks)))
        .service(at!("/auth/signin").route(web::get().to(signin::signin_page)))
        .service(
            at!("/auth/verify-signin")
                .route(web::get().to(verify_signin::page))
                .route(web::post().to(verify_signin::submit)),
        )
        .service(at!("/auth/verify-signin/resend").route(web::post().to(verify_signin::resend)))
        .service(at!("/auth/signin/credentials").route(web::post().to(signin::signin_credentials)))
        .service(at!("/auth/signup").route(web::get().to(signup::signup_page)).route(web::post().to(signup::signup)))
        .service(
            at!("/auth/password")
                .route(web::get().to(signup::password_page))
                .route(web::post().to(signup::change_password)),
        )
        .service(at!("/auth/signin/{provider}").route(web::get().to(oauth::start)))
        .service(at!("/auth/signin/{provider}/url").route(web::get().to(oauth::start_url)))
        .service(at!("/auth/callback/{provider}").route(web::get().to(oauth::callback)))
        .service(at!("/auth/link/{provider}").route(web::get().to(link::start)))
        .service(at!("/auth/unlink/{provider}").route(web::post().to(link::unlink)))
        .service(at!("/auth/backchannel-logout/{provider}").route(web::post().to(logout::backchannel)))
        .service(at!("/auth/frontchannel-logout/{provider}").route(web::get().to(logout::frontchannel)))
        .service(
            at!("/auth/signout").route(web::get().to(signout::signout_page)).route(web::post().to(signout::signout)),
        )
        .service(at!("/auth/sessions").route(web::get().to(managed::list)))
        .service(at!("/auth/sessions/revoke-others").route(web::post().to(managed::revoke_others)))
        .service(at!("/auth/sessions/{id}/revoke").route(web::post().to(managed::revoke_one)))
        .service(at!("/auth/admin/users/{id}/revoke").route(web::post().to(admin::revoke_user)));
    if metrics_here {
        cfg.service(at!("/metrics").route(web::get().to(health::metrics)));
    }
}

/// A known path asked with a method it does not answer.
async fn method_not_allowed() -> actix_web::HttpResponse {
    actix_web::HttpResponse::MethodNotAllowed().json(serde_json::json!({"error": "method_not_allowed"}))
}

/// The routes of `server.metrics_listen`: `/metrics` alone.
pub fn configure_metrics(cfg: &mut web::ServiceConfig, access: AccessLog) {
    cfg.service(
        web::resource("/metrics").wrap(Observe::route("/metrics", access)).route(web::get().to(health::metrics)),
    );
}
