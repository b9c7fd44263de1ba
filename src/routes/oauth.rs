//! OAuth 2.0 / OpenID Connect sign-in: `GET /auth/signin/{id}` starts it,
//! `GET /auth/callback/{id}` finishes it. Every failure is a 302 to the
//! sign-in page with a documented `?error=` code, never a 500.

use super::pages;
use super::signin::{signin_url, SigninError};
use crate::credentials::Credentials;
use crate::providers::Provider;
use crate::return_to::ReturnTo;
use crate::session::flow::{self, FlowSecret, Found};
use crate::state::AppState;
use crate::web::set_session;
use actix_web::cookie::Cookie;
use actix_web::http::header::LOCATION;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use subtle::ConstantTimeEq;

#[derive(Deserialize)]
pub struct StartQuery {
    redirect_to: Option<String>,
    format: Option<String>,
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
}

/// Longest `code` or `state` accepted from a callback.
const MAX_PARAM: usize = 4096;

fn same(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn to_signin(error: SigninError, redirect_to: &ReturnTo, remove: Option<Cookie<'static>>) -> HttpResponse {
    to_signin_clearing(error, redirect_to, remove.into_iter().collect())
}

fn to_signin_clearing(error: SigninError, redirect_to: &ReturnTo, remove: Vec<Cookie<'static>>) -> HttpResponse {
    let mut response = HttpResponse::Found();
    response.insert_header((LOCATION, signin_url(error, redirect_to))).insert_header(("Cache-Control", "no-store"));
    for cookie in remove {
        response.cookie(cookie);
    }
    response.finish()
}

/// The sign-in page's code for an authorization error response (RFC 6749
/// 4.1.2.1, OpenID Connect Core 3.1.2.6). Codes we do not know are
/// `provider_error`, never echoed.
fn authorization_error(error: &str) -> SigninError {
    match error {
        "access_denied" => SigninError::AccessDenied,
        "login_required" => SigninError::LoginRequired,
        "consent_required" => SigninError::ConsentRequired,
        "interaction_required" => SigninError::InteractionRequired,
        "account_selection_required" => SigninError::AccountSelectionRequired,
        "temporarily_unavailable" | "server_error" => SigninError::ProviderUnavailable,
        _ => SigninError::ProviderError,
    }
}

fn wants_json(req: &HttpRequest, format: Option<&str>) -> bool {
    format == Some("json") || pages::accepts_json(req)
}

pub async fn start(
    req: HttpRequest,
    state: web::Data<AppState>,
    sessions: web::Data<Credentials>,
    id: web::Path<String>,
    query: web::Query<StartQuery>,
) -> HttpResponse {
    let redirect_to = ReturnTo::parse(query.redirect_to.as_deref(), &state.redirects);
    let Some(provider) = state.providers.get(id.as_str()) else {
        return to_signin(SigninError::UnknownProvider, &redirect_to, None);
    };
    let authorization = match provider.authorize().await {
        Ok(authorization) => authorization,
        Err(e) => {
            tracing::warn!(provider = %provider.id, error = %e, "cannot start sign-in");
            return to_signin(SigninError::ProviderUnavailable, &redirect_to, None);
        }
    };
    let flow = state.flows.start(
        &provider.id,
        authorization.state,
        authorization.nonce,
        authorization.pkce_verifier,
        redirect_to.to_string(),
    );
    let Ok(sealed) = state.flows.seal(&flow) else {
        return HttpResponse::InternalServerError().finish();
    };
    // The session, if any, stays until the callback replaces it: a
    // cross-site link to this endpoint must not sign anyone out.
    let carried = state.flows.carried(&sessions.cookies, &req);
    let cookie = state.flows.cookie(&sessions.cookies, &carried, sealed);
    let mut response = if wants_json(&req, query.format.as_deref()) {
        let mut ok = HttpResponse::Ok();
        ok.insert_header(("Cache-Control", "no-store"));
        ok.cookie(cookie);
        return ok.json(serde_json::json!({ "url": authorization.url.as_str() }));
    } else {
        HttpResponse::Found()
    };
    response.insert_header((LOCATION, authorization.url.as_str())).insert_header(("Cache-Control", "no-store"));
    response.cookie(cookie).finish()
}

/// The callback's answer belongs to this provider's sign-in, and is not an
/// error: the flow names the provider, the `iss` is the provider's (RFC
/// 9207, checked on error answers too, or a mix-up attacker could put
/// another provider's error on this sign-in), and the provider sent no
/// `error`.
fn check_answer(provider: &Provider, flow_provider: &str, query: &CallbackQuery) -> Result<(), SigninError> {
    if !same(flow_provider, &provider.id) {
        return Err(SigninError::ProviderMismatch);
    }
    if let Some((issuer, promised)) = provider.expected_issuer() {
        match query.iss.as_deref() {
            Some(iss) if same(iss, &issuer) => {}
            Some(_) => return Err(SigninError::IssuerMismatch),
            None if promised => return Err(SigninError::IssuerMismatch),
            None => {}
        }
    }
    if let Some(error) = query.error.as_deref() {
        let code = if error.len() <= 64 && error.bytes().all(|b| b.is_ascii_graphic()) { error } else { "(malformed)" };
        tracing::info!(provider = %provider.id, provider_error = code, "the provider answered the authorization request with an error");
        return Err(authorization_error(error));
    }
    Ok(())
}

pub async fn callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    sessions: web::Data<Credentials>,
    id: web::Path<String>,
    query: web::Query<CallbackQuery>,
) -> HttpResponse {
    let fallback = ReturnTo::default();
    let Some(provider) = state.providers.get(id.as_str()) else {
        return to_signin(SigninError::UnknownProvider, &fallback, None);
    };
    let Some(callback_state) = query.state.as_deref().filter(|s| !s.is_empty() && s.len() <= MAX_PARAM) else {
        return to_signin(SigninError::InvalidState, &fallback, None);
    };
    let carried = state.flows.carried(&sessions.cookies, &req);
    let (name, flow) = match flow::find(carried, callback_state) {
        Found::Flow { name, flow } => (name, flow),
        Found::Mismatch { newest } => {
            // Another browser's callback, or a tampered one: the flows in
            // progress here stay, so their own callbacks still finish.
            tracing::info!(provider = %provider.id, "no flow cookie has the callback's state");
            let redirect_to = ReturnTo::parse(Some(&newest.redirect_to), &state.redirects);
            return to_signin(SigninError::InvalidState, &redirect_to, None);
        }
        Found::Nothing { dead } => {
            tracing::info!(provider = %provider.id, refused = dead.len(), "no live flow cookie at callback");
            let removals = dead.into_iter().map(|name| sessions.cookies.removal(name)).collect();
            return to_signin_clearing(SigninError::FlowExpired, &fallback, removals);
        }
    };
    let removal = sessions.cookies.removal(name.clone());
    let redirect_to = ReturnTo::parse(Some(&flow.redirect_to), &state.redirects);
    let fail = |error: SigninError| {
        tracing::info!(provider = %provider.id, error = error.code(), "sign-in failed at callback");
        crate::metrics::signin_failed(&provider.id, error.code());
        to_signin(error, &redirect_to, Some(sessions.cookies.removal(name.clone())))
    };
    if let Err(error) = check_answer(provider, &flow.provider, &query) {
        return fail(error);
    }
    let Some(code) = query.code.clone().filter(|c| !c.is_empty() && c.len() <= MAX_PARAM) else {
        return fail(SigninError::InvalidRequest);
    };
    let signed_in = match provider
        .complete(
            code,
            flow.nonce.as_ref().map(FlowSecret::expose_secret),
            flow.pkce_verifier.as_ref().map(FlowSecret::expose_secret),
        )
        .await
    {
        Ok(signed_in) => signed_in,
        Err(e) => {
            tracing::warn!(provider = %provider.id, error = %e, "sign-in failed at the provider");
            return fail(SigninError::from(e));
        }
    };
    state.refresher.remember(&signed_in.tokens);
    let idp_session = signed_in.idp_session;
    let session = match sessions.codec.start(signed_in.user, &provider.id, true, Some(&signed_in.tokens)) {
        Ok(session) => session,
        Err(_) => return HttpResponse::InternalServerError().finish(),
    };
    let (session, next) = match super::verify_signin::gate(&req, &state, &sessions, session, &redirect_to).await {
        Ok(next) => next,
        Err(mut refused) => {
            let _ = refused.add_cookie(&removal);
            return refused;
        }
    };
    if set_session(&req, &session).is_err() {
        return HttpResponse::InternalServerError().finish();
    }
    super::managed::record_sign_in(&state, &sessions, &req, &session, idp_session.as_deref()).await;
    tracing::info!(user = %session.user.id, provider = %provider.id, "signed in");
    crate::metrics::signed_in(&provider.id);
    HttpResponse::Found()
        .insert_header((LOCATION, next.as_str()))
        .insert_header(("Cache-Control", "no-store"))
        .cookie(removal)
        .finish()
}
