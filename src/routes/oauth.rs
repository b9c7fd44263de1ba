//! OAuth 2.0 / OpenID Connect sign-in: `GET /auth/signin/{id}` starts it
//! (`GET /auth/signin/{id}/url`, `?format=json` or `Accept:
//! application/json` answer `{"url": ...}` and the flow cookie instead of
//! a redirect, for single-page apps), `GET /auth/callback/{id}` finishes
//! it. Every failure is a 302 to the failure target (`failure_to`, the
//! app's error page, or the sign-in page) with a documented `?error=` code
//! — a JSON 400 `{"error": CODE}` for a JSON start — never a 500.

use super::pages;
use super::signin::{admit, SigninError, TargetParams, Targets};
use crate::credentials::Credentials;
use crate::errors::AppError;
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
    success_to: Option<String>,
    failure_to: Option<String>,
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

fn to_failure(
    state: &AppState,
    error: SigninError,
    targets: &Targets,
    remove: Option<Cookie<'static>>,
) -> HttpResponse {
    to_failure_clearing(state, error, targets, remove.into_iter().collect())
}

fn to_failure_clearing(
    state: &AppState,
    error: SigninError,
    targets: &Targets,
    remove: Vec<Cookie<'static>>,
) -> HttpResponse {
    let mut response = HttpResponse::Found();
    let location = targets.failure_url(error, &state.hooks);
    response.insert_header((LOCATION, location)).insert_header(("Cache-Control", "no-store"));
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

/// `GET /auth/signin/{id}`: to the provider (or `{"url": ...}` for a JSON caller).
pub async fn start(
    req: HttpRequest,
    state: web::Data<AppState>,
    sessions: web::Data<Credentials>,
    id: web::Path<String>,
    query: web::Query<StartQuery>,
) -> Result<HttpResponse, AppError> {
    let json = wants_json(&req, query.format.as_deref());
    begin(&req, &state, &sessions, &id, &query, json, None).await
}

/// `GET /auth/signin/{id}/url`: `{"url": ...}` and the flow cookie, always JSON.
pub async fn start_url(
    req: HttpRequest,
    state: web::Data<AppState>,
    sessions: web::Data<Credentials>,
    id: web::Path<String>,
    query: web::Query<StartQuery>,
) -> Result<HttpResponse, AppError> {
    begin(&req, &state, &sessions, &id, &query, true, None).await
}

/// Start a provider's flow: a sign-in, or (`link`: the id of the signed-in
/// session that asks) linking the provider to that session.
pub(super) async fn begin(
    req: &HttpRequest,
    state: &AppState,
    sessions: &Credentials,
    id: &str,
    query: &StartQuery,
    json: bool,
    link: Option<&str>,
) -> Result<HttpResponse, AppError> {
    let params = TargetParams {
        redirect_to: query.redirect_to.as_deref(),
        success_to: query.success_to.as_deref(),
        failure_to: query.failure_to.as_deref(),
    };
    let targets = Targets::parse(params, &state.redirects)?;
    // A sign-in waiting for its e-mailed code finishes there first.
    if link.is_none() && crate::web::load(req).pending_verification() {
        if json {
            return Err(AppError::SigninFailed("pending_verification".into()));
        }
        return Ok(super::signin::see_other(&super::verify_signin::pending_url(&targets.success)));
    }
    let fail = |error: SigninError| {
        if json {
            Err(AppError::SigninFailed(error.code().to_owned()))
        } else {
            Ok(to_failure(state, error, &targets, None))
        }
    };
    let Some(provider) = state.providers.get(id) else {
        return fail(SigninError::UnknownProvider);
    };
    let authorization = match provider.authorize().await {
        Ok(authorization) => authorization,
        Err(e) => {
            tracing::warn!(provider = %provider.id, error = %e, "cannot start sign-in");
            return fail(SigninError::ProviderUnavailable);
        }
    };
    let flow = state.flows.start(
        &provider.id,
        authorization.state,
        authorization.nonce,
        authorization.pkce_verifier,
        targets.success.to_string(),
    );
    let flow = state.flows.failing_to(flow, targets.failure.as_ref().map(ReturnTo::to_string));
    let flow = match link {
        Some(session_id) => state.flows.linking(flow, session_id),
        None => flow,
    };
    let sealed = state.flows.seal(&flow).map_err(AppError::internal)?;
    // The session, if any, stays until the callback replaces it: a
    // cross-site link to this endpoint must not sign anyone out.
    let carried = state.flows.carried(&sessions.cookies, req);
    let cookie = state.flows.cookie(&sessions.cookies, &carried, sealed);
    if json {
        return Ok(HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .cookie(cookie)
            .json(serde_json::json!({ "url": authorization.url.as_str() })));
    }
    Ok(HttpResponse::Found()
        .insert_header((LOCATION, authorization.url.as_str()))
        .insert_header(("Cache-Control", "no-store"))
        .cookie(cookie)
        .finish())
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
    let fallback = Targets::default();
    let Some(provider) = state.providers.get(id.as_str()) else {
        return to_failure(&state, SigninError::UnknownProvider, &fallback, None);
    };
    let Some(callback_state) = query.state.as_deref().filter(|s| !s.is_empty() && s.len() <= MAX_PARAM) else {
        return to_failure(&state, SigninError::InvalidState, &fallback, None);
    };
    let carried = state.flows.carried(&sessions.cookies, &req);
    let (name, flow) = match flow::find(carried, callback_state) {
        Found::Flow { name, flow } => (name, flow),
        Found::Mismatch { newest } => {
            // Another browser's callback, or a tampered one: the flows in
            // progress here stay, so their own callbacks still finish.
            tracing::info!(provider = %provider.id, "no flow cookie has the callback's state");
            return to_failure(&state, SigninError::InvalidState, &flow_targets(&state, &newest), None);
        }
        Found::Nothing { dead } => {
            tracing::info!(provider = %provider.id, refused = dead.len(), "no live flow cookie at callback");
            let removals = dead.into_iter().map(|name| sessions.cookies.removal(name)).collect();
            return to_failure_clearing(&state, SigninError::FlowExpired, &fallback, removals);
        }
    };
    let removal = sessions.cookies.removal(name.clone());
    let targets = flow_targets(&state, &flow);
    let fail = |error: SigninError| {
        tracing::info!(provider = %provider.id, error = error.code(), "sign-in failed at callback");
        crate::metrics::signin_failed(&provider.id, error.code());
        to_failure(&state, error, &targets, Some(sessions.cookies.removal(name.clone())))
    };
    if let Err(error) = check_answer(provider, &flow.provider, &query) {
        return fail(error);
    }
    // A link flow finishes only for the signed-in session that started it,
    // checked before the code is spent.
    let linking = match flow.link.as_deref() {
        Some(started_by) => match crate::web::load(&req).session() {
            Some(current) if same(&current.id, started_by) => Some(current.clone()),
            _ => return fail(SigninError::LinkSessionChanged),
        },
        None => None,
    };
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
    if let Some(current) = linking {
        return match super::link::finish(&req, &state, &sessions, provider, &current, signed_in).await {
            Ok(()) => HttpResponse::Found()
                .insert_header((LOCATION, targets.success.as_str()))
                .insert_header(("Cache-Control", "no-store"))
                .cookie(removal)
                .finish(),
            Err(error) => fail(error),
        };
    }
    let user = match admit(&state, &provider.id, signed_in.profile.as_ref(), signed_in.user).await {
        Ok(user) => user,
        Err(error) => return fail(error),
    };
    state.refresher.remember(&signed_in.tokens);
    let idp_session = signed_in.idp_session;
    let session = match sessions.codec.start(user, &provider.id, true, Some(&signed_in.tokens)) {
        Ok(session) => session,
        Err(_) => return HttpResponse::InternalServerError().finish(),
    };
    let (session, next) = match super::verify_signin::gate(&req, &state, &sessions, session, &targets.success).await {
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

/// Where a started flow ends (its targets passed the allow-list when it
/// started; they are checked again, as the allow-list may have changed).
fn flow_targets(state: &AppState, flow: &flow::Flow) -> Targets {
    let policy = &state.redirects;
    Targets {
        success: ReturnTo::parse(Some(&flow.redirect_to), policy),
        failure: flow.failure_to.as_deref().and_then(|failure| ReturnTo::try_parse(failure, policy)),
    }
}
