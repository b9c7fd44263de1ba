//! `GET /auth/verify`: the reverse proxy's "who is this?" on every request.
//! The hot path: one cookie read, one strict parse, one decryption.

use crate::domain::ReturnTo;
use crate::errors::AppError;
use crate::refresh::TokenStatus;
use crate::session::request::{clear_session, set_session, MaybeSession, SessionService};
use crate::session::Session;
use crate::startup::AppState;
use actix_web::http::header::{HeaderName, HeaderValue, LOCATION};
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use secrecy::ExposeSecret;

pub const USER: &str = "x-auth-user";
pub const USERNAME: &str = "x-auth-username";
pub const EMAIL: &str = "x-auth-email";
pub const NAME: &str = "x-auth-name";
pub const PROVIDER: &str = "x-auth-provider";
pub const GROUPS: &str = "x-auth-groups";
pub const ACCESS_TOKEN: &str = "x-auth-access-token";

/// The identity headers for a session. Built only from the sealed session,
/// never from anything the client sent. User fields were validated (no
/// control characters) when the session was made, so a value is skipped
/// only in the most unlikely of cases.
fn build_identity_headers(session: &Session) -> Vec<(HeaderName, HeaderValue)> {
    let user = &session.user;
    let groups = (!user.groups.is_empty()).then(|| user.groups.join(","));
    [
        (USER, Some(&user.id)),
        (PROVIDER, Some(&session.provider)),
        (USERNAME, user.username.as_ref()),
        (EMAIL, user.email.as_ref()),
        (NAME, user.name.as_ref()),
        (GROUPS, groups.as_ref()),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some((HeaderName::from_static(name), HeaderValue::from_str(value?).ok()?)))
    .collect()
}

/// Add the identity headers of `session` to a response.
pub fn identity_headers(response: &mut HttpResponseBuilder, session: &Session) {
    for (name, value) in session.identity_headers(build_identity_headers) {
        response.insert_header((name.clone(), value.clone()));
    }
}

/// `?redirect=1`: answer a browser with 302 to the sign-in page instead of
/// 401, for proxies (Traefik, Caddy) that pass the auth response through.
fn wants_redirect(req: &HttpRequest) -> bool {
    req.query_string().split('&').any(|pair| matches!(pair, "redirect=1" | "redirect=true"))
}

fn signin_redirect(req: &HttpRequest) -> Option<HttpResponse> {
    let state = req.app_data::<web::Data<AppState>>()?;
    let original = state.proxies.original_url(req);
    let redirect_to = ReturnTo::parse(original.as_deref(), &state.redirects);
    let mut location = state.public_url.join("auth/signin").ok()?;
    location.query_pairs_mut().append_pair("redirect_to", redirect_to.as_str());
    Some(
        HttpResponse::Found()
            .insert_header((LOCATION, location.as_str()))
            .insert_header(("Cache-Control", "no-store"))
            .finish(),
    )
}

pub async fn verify(req: HttpRequest, session: MaybeSession) -> Result<HttpResponse, AppError> {
    let Some(session) = session.get() else {
        return match wants_redirect(&req).then(|| signin_redirect(&req)).flatten() {
            Some(redirect) => Ok(redirect),
            None => Err(AppError::Unauthenticated),
        };
    };
    let mut response = HttpResponse::Ok();
    identity_headers(&mut response, session);
    if let Some(state) = req.app_data::<web::Data<AppState>>().filter(|s| s.passes_tokens) {
        pass_access_token(&req, state, session, &mut response).await?;
    }
    Ok(response.finish())
}

/// `X-Auth-Access-Token`, fresh, for providers with `pass_access_token`. A
/// token that cannot be refreshed right now is not passed; a revoked grant
/// ends the session.
async fn pass_access_token(
    req: &HttpRequest,
    state: &AppState,
    session: &Session,
    response: &mut HttpResponseBuilder,
) -> Result<(), AppError> {
    let Some(provider) = state.providers.get(&session.provider).filter(|p| p.pass_access_token) else {
        return Ok(());
    };
    let Some(sessions) = req.app_data::<web::Data<SessionService>>() else {
        return Ok(());
    };
    match state.refresher.fresh(&sessions.codec, Some(provider), session).await {
        TokenStatus::Fresh { tokens, refreshed } => {
            if let Some(refreshed) = refreshed {
                set_session(req, &refreshed)?;
            }
            if let Ok(value) = HeaderValue::from_str(tokens.access_token.expose_secret()) {
                response.insert_header((HeaderName::from_static(ACCESS_TOKEN), value));
            }
        }
        TokenStatus::Ended => {
            clear_session(req);
            return Err(AppError::Unauthenticated);
        }
        TokenStatus::Expired | TokenStatus::Unavailable | TokenStatus::NoTokens => {}
    }
    Ok(())
}
