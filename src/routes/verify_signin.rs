//! Sign-in verification (issue 24): the e-mailed code that confirms an
//! unusual sign-in.
//!
//! - [`gate`]: called by each sign-in at the one point where its new
//!   session is sealed; proceeds, or marks the session pending, e-mails a
//!   code and sends the person to the verification page.
//! - `GET /auth/verify-signin`: the page with the code form.
//! - `POST /auth/verify-signin`: takes `code`; a right one reseals the
//!   session verified, sets the known-device cookie and goes on to
//!   `redirect_to`.
//! - `POST /auth/verify-signin/resend`: a new code, at most once per
//!   `verification.resend_interval`.
//!
//! Error codes: `invalid_code` (with the attempts left), `code_expired`,
//! `code_used`, `too_many_attempts` (the pending session is ended),
//! `resend_too_soon`, `email_failed`, `no_email`, `store_unavailable`,
//! `no_pending_signin`, `account_gone` (a signed-up account that expired
//! unconfirmed). A right code for a signed-up account confirms its address.
//! Browsers get pages, JSON callers JSON.

use super::pages;
use super::signin::see_other;
use crate::accounts;
use crate::credentials::Credentials;
use crate::errors::AppError;
use crate::return_to::ReturnTo;
use crate::session::Session;
use crate::state::AppState;
use crate::verification::{CheckError, Decision, SendError, Verifier};
use crate::web::{clear_session, set_session, MaybeIdentity, SameOrigin};
use actix_web::http::header::{CONTENT_TYPE, LOCATION, RETRY_AFTER};
use actix_web::http::StatusCode;
use actix_web::{web, Either, HttpRequest, HttpResponse};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

const PAGE: &str = "/auth/verify-signin";
/// Longest `code` field read (codes are 6 to 10 digits, perhaps spaced).
const MAX_CODE_FIELD: usize = 32;

/// The verification page's URL, carrying `redirect_to` and an error code.
fn page_url(redirect_to: &ReturnTo, error: Option<&str>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(error) = error {
        query.append_pair("error", error);
    }
    if redirect_to.as_str() != "/" {
        query.append_pair("redirect_to", redirect_to.as_str());
    }
    let query = query.finish();
    if query.is_empty() {
        PAGE.to_owned()
    } else {
        format!("{PAGE}?{query}")
    }
}

/// Where a person with a pending sign-in is sent from the sign-in page.
pub fn pending_url(redirect_to: &ReturnTo) -> String {
    page_url(redirect_to, None)
}

/// JSON for a JSON body or `Accept: application/json`; a page otherwise.
pub(super) fn wants_json(req: &HttpRequest) -> bool {
    let json_body = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    json_body || pages::accepts_json(req)
}

fn message(code: &str) -> &'static str {
    match code {
        "invalid_code" => "That code is not right.",
        "code_expired" => "That code has expired. Ask for a new one.",
        "code_used" => "This sign-in was confirmed already.",
        "too_many_attempts" => "Too many wrong codes. Please sign in again.",
        "resend_too_soon" => "A code was sent moments ago. Please wait a minute before asking for another.",
        "email_failed" => "The code could not be e-mailed right now. Please try again later.",
        "no_email" => "Your account has no e-mail address to send a sign-in code to. Ask an administrator.",
        "store_unavailable" => "Sign-in cannot be confirmed right now. Please try again shortly.",
        "no_pending_signin" => "No sign-in is waiting to be confirmed. Please sign in again.",
        "account_gone" => "This account is no longer waiting to be confirmed. Please sign up again.",
        "sent" => "A new code is on its way.",
        _ => "Please enter the code from the e-mail.",
    }
}

/// `a***@example.com`: enough to recognise the address, not to learn it.
fn masked(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "your e-mail address".into(),
    }
}

fn form_page(
    state: &AppState,
    status: StatusCode,
    session: &Session,
    redirect_to: &ReturnTo,
    note: Option<&str>,
) -> HttpResponse {
    let to = masked(session.user.email.as_deref().unwrap_or_default());
    let digits = state.verification.as_deref().map_or(6, |verifier| verifier.code_length());
    pages::verify_signin(&state.pages, status, &to, digits, note, redirect_to)
}

/// A page (or JSON) that says `code` went wrong, with `status`.
fn failure(req: &HttpRequest, state: &AppState, status: StatusCode, code: &'static str) -> HttpResponse {
    if wants_json(req) {
        return HttpResponse::build(status)
            .insert_header(("Cache-Control", "no-store"))
            .json(serde_json::json!({ "error": code }));
    }
    let error = pages::Shown::new(code, message(code));
    let link = Some(("/auth/signin", "Sign in again"));
    pages::message(&state.pages, status, "Sign-in not confirmed", None, Some(error), link)
}

fn send_failure(req: &HttpRequest, state: &AppState, error: &SendError) -> HttpResponse {
    match error {
        SendError::TooSoon(wait) => {
            let mut response = failure(req, state, StatusCode::TOO_MANY_REQUESTS, error.code());
            if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&wait.to_string()) {
                response.headers_mut().insert(RETRY_AFTER, value);
            }
            response
        }
        SendError::NoEmail => failure(req, state, StatusCode::FORBIDDEN, error.code()),
        SendError::Email(_) | SendError::Store(_) => {
            tracing::warn!(%error, "the sign-in code was not sent");
            failure(req, state, StatusCode::SERVICE_UNAVAILABLE, error.code())
        }
    }
}

/// The sign-in of `session` (about to be sealed) through the verifier:
/// the session to seal and where to send the person next, or the answer
/// that refuses the sign-in. Without verification, `session` and `redirect_to`.
pub async fn gate(
    req: &HttpRequest,
    state: &AppState,
    sessions: &Credentials,
    session: Session,
    redirect_to: &ReturnTo,
) -> Result<(Session, String), HttpResponse> {
    let Some(verifier) = state.verification.as_deref() else {
        return Ok((session, redirect_to.as_str().to_owned()));
    };
    let client = state.proxies.client_ip(req);
    let known = verifier.devices.known(&sessions.cookies, req, &session.provider, &session.user.id);
    match verifier.decide(&session, known, client).await {
        Decision::Proceed => {
            verifier.remember_network(&session, client).await;
            Ok((session, redirect_to.as_str().to_owned()))
        }
        Decision::Refuse(code) => {
            tracing::info!(user = %session.user.id, provider = %session.provider, code, "sign-in refused: it cannot be verified");
            Err(failure(req, state, StatusCode::FORBIDDEN, code))
        }
        Decision::Verify => challenge(req, state, verifier, session, redirect_to).await,
    }
}

/// The first sign-in of a signed-up account whose address is not yet
/// confirmed: always a code, whatever the verification mode.
pub async fn confirm(
    req: &HttpRequest,
    state: &AppState,
    session: Session,
    redirect_to: &ReturnTo,
) -> Result<(Session, String), HttpResponse> {
    let Some(verifier) = state.verification.as_deref() else {
        // Validation makes sure sign-up has e-mail and a store; this is a wiring fault.
        tracing::error!("a signed-up account needs its address confirmed, but sign-in verification is off");
        return Err(failure(req, state, StatusCode::SERVICE_UNAVAILABLE, "email_failed"));
    };
    challenge(req, state, verifier, session, redirect_to).await
}

/// Mark `session` pending, e-mail its code, and send the person to the code form.
async fn challenge(
    req: &HttpRequest,
    state: &AppState,
    verifier: &Verifier,
    session: Session,
    redirect_to: &ReturnTo,
) -> Result<(Session, String), HttpResponse> {
    let pending = verifier.pending(session);
    if let Err(error) = verifier.send_code(&pending, false).await {
        return Err(send_failure(req, state, &error));
    }
    tracing::info!(user = %pending.user.id, provider = %pending.provider, "sign-in waits for its e-mailed code");
    Ok((pending, page_url(redirect_to, None)))
}

#[derive(Deserialize)]
pub struct PageQuery {
    redirect_to: Option<String>,
    error: Option<String>,
}

/// The answer when no sign-in is waiting: already signed in, go on; else sign in again.
fn nothing_pending(req: &HttpRequest, state: &AppState, who: &MaybeIdentity, redirect_to: &ReturnTo) -> HttpResponse {
    if who.get().is_some() {
        return HttpResponse::Found().insert_header((LOCATION, redirect_to.as_str())).finish();
    }
    if wants_json(req) {
        return failure(req, state, StatusCode::UNAUTHORIZED, "no_pending_signin");
    }
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if redirect_to.as_str() != "/" {
        query.append_pair("redirect_to", redirect_to.as_str());
    }
    let query = query.finish();
    see_other(&if query.is_empty() { "/auth/signin".to_owned() } else { format!("/auth/signin?{query}") })
}

pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    sessions: web::Data<Credentials>,
    query: web::Query<PageQuery>,
    who: MaybeIdentity,
) -> HttpResponse {
    let redirect_to = ReturnTo::parse(query.redirect_to.as_deref(), &state.redirects);
    let (Some(verifier), Some(session)) = (state.verification.as_deref(), sessions.pending_session(&req)) else {
        return nothing_pending(&req, &state, &who, &redirect_to);
    };
    if wants_json(&req) {
        return HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(serde_json::json!({ "pending_verification": true, "code_length": verifier.code_length() }));
    }
    // Only the codes this page shows are echoed, in fixed words.
    let note = query.error.as_deref().filter(|code| matches!(*code, "sent" | "code_expired")).map(message);
    form_page(&state, StatusCode::OK, &session, &redirect_to, note)
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: SecretString,
    redirect_to: Option<String>,
}

pub async fn submit(
    _: SameOrigin,
    req: HttpRequest,
    state: web::Data<AppState>,
    sessions: web::Data<Credentials>,
    form: Either<web::Form<CodeForm>, web::Json<CodeForm>>,
    who: MaybeIdentity,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let redirect_to = ReturnTo::parse(form.redirect_to.as_deref(), &state.redirects);
    let (Some(verifier), Some(session)) = (state.verification.as_deref(), sessions.pending_session(&req)) else {
        return Ok(nothing_pending(&req, &state, &who, &redirect_to));
    };
    let given = form.code.expose_secret();
    if given.len() > MAX_CODE_FIELD {
        return Err(AppError::BadRequest("invalid_request"));
    }
    let code: String = given.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    match verifier.check(&session, &code).await {
        Ok(()) => {}
        Err(CheckError::Wrong { attempts_left }) => {
            tracing::info!(user = %session.user.id, attempts_left, "wrong sign-in code");
            if wants_json(&req) {
                return Ok(HttpResponse::BadRequest()
                    .insert_header(("Cache-Control", "no-store"))
                    .json(serde_json::json!({ "error": "invalid_code", "attempts_left": attempts_left })));
            }
            let note = format!("{} {attempts_left} attempt(s) left.", message("invalid_code"));
            return Ok(form_page(&state, StatusCode::BAD_REQUEST, &session, &redirect_to, Some(&note)));
        }
        Err(CheckError::TooManyAttempts) => {
            tracing::warn!(user = %session.user.id, "too many wrong sign-in codes: the sign-in is ended");
            clear_session(&req);
            if let Err(error) = state.store.revoke_session(&session.id, session.expires_at).await {
                tracing::warn!(%error, "the ended sign-in could not be revoked in the store");
            }
            return Ok(failure(&req, &state, StatusCode::FORBIDDEN, "too_many_attempts"));
        }
        Err(error @ (CheckError::Expired | CheckError::Used)) => {
            tracing::info!(user = %session.user.id, code = error.code(), "sign-in code refused");
            if error.code() == "code_expired" && !wants_json(&req) {
                let note = Some(message("code_expired"));
                return Ok(form_page(&state, StatusCode::BAD_REQUEST, &session, &redirect_to, note));
            }
            return Ok(failure(&req, &state, StatusCode::BAD_REQUEST, error.code()));
        }
        Err(error @ CheckError::Store(_)) => {
            tracing::warn!(%error, "the sign-in code could not be checked");
            return Ok(failure(&req, &state, StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"));
        }
    }
    if session.provider == accounts::PROVIDER_ID {
        // The code reached the account's address: it is confirmed (a no-op once it is).
        let Some(accounts) = state.accounts.as_deref() else {
            return Ok(failure(&req, &state, StatusCode::FORBIDDEN, "account_gone"));
        };
        match accounts.confirm(&session.user.id).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(user = %session.user.id, "the signed-up account expired before its code came back");
                clear_session(&req);
                return Ok(failure(&req, &state, StatusCode::FORBIDDEN, "account_gone"));
            }
            Err(error) => {
                tracing::warn!(%error, "the account could not be confirmed");
                return Ok(failure(&req, &state, StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"));
            }
        }
    }
    let session = verifier.verified(session, sessions.codec.lifetimes());
    set_session(&req, &session)?;
    let device = verifier.devices.cookie(&sessions.cookies, &session.provider, &session.user.id);
    let device = device.map_err(AppError::internal)?;
    verifier.remember_network(&session, state.proxies.client_ip(&req)).await;
    tracing::info!(user = %session.user.id, provider = %session.provider, "sign-in verified");
    if wants_json(&req) {
        return Ok(HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .cookie(device)
            .json(serde_json::json!({ "verified": true, "redirect_to": redirect_to.as_str() })));
    }
    let mut response = see_other(redirect_to.as_str());
    response.add_cookie(&device).map_err(AppError::internal)?;
    Ok(response)
}

#[derive(Deserialize)]
pub struct ResendForm {
    redirect_to: Option<String>,
}

pub async fn resend(
    _: SameOrigin,
    req: HttpRequest,
    state: web::Data<AppState>,
    sessions: web::Data<Credentials>,
    form: Option<Either<web::Form<ResendForm>, web::Json<ResendForm>>>,
    who: MaybeIdentity,
) -> HttpResponse {
    let redirect_to = form.and_then(|form| form.into_inner().redirect_to);
    let redirect_to = ReturnTo::parse(redirect_to.as_deref(), &state.redirects);
    let (Some(verifier), Some(session)) = (state.verification.as_deref(), sessions.pending_session(&req)) else {
        return nothing_pending(&req, &state, &who, &redirect_to);
    };
    if let Err(error) = verifier.send_code(&session, true).await {
        return send_failure(&req, &state, &error);
    }
    if wants_json(&req) {
        return HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(serde_json::json!({ "sent": true }));
    }
    see_other(&page_url(&redirect_to, Some("sent")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_shown_masked() {
        assert_eq!(masked("alice@example.com"), "a***@example.com");
        assert_eq!(masked("nonsense"), "your e-mail address");
    }

    #[test]
    fn the_page_url_carries_only_what_it_needs() {
        let policy = crate::return_to::RedirectPolicy::new(&url::Url::parse("http://gate.test").unwrap(), &[]);
        let home = ReturnTo::parse(None, &policy);
        assert_eq!(page_url(&home, None), "/auth/verify-signin");
        let app = ReturnTo::parse(Some("/app?x=1"), &policy);
        assert_eq!(page_url(&app, Some("sent")), "/auth/verify-signin?error=sent&redirect_to=%2Fapp%3Fx%3D1");
    }
}
