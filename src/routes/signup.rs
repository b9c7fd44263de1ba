//! Password users who sign themselves up (`credentials.signup`), and
//! password changes (issue 24).
//!
//! - `GET /auth/signup`: the sign-up form.
//! - `POST /auth/signup`: `username`, `email`, `password`, `redirect_to`
//!   (a form, or JSON). Creates an unconfirmed account, signs it in pending
//!   and e-mails a code: the person goes on to `/auth/verify-signin`, where
//!   the right code confirms the address and finishes the sign-in.
//! - `GET /auth/password`: the form to change one's password.
//! - `POST /auth/password`: `current_password`, `new_password`. Ends the
//!   account's other sessions (those recorded in the store).
//!
//! Error codes: `signup_disabled` (404), `invalid_username`,
//! `invalid_email`, `password_too_short`, `password_too_long`,
//! `password_too_common` (400), `username_taken`, `email_taken` (409),
//! `invalid_password` (400, the current password is wrong),
//! `password_managed_by_file` and `no_password` (403: a users-file or a
//! provider's user), `rate_limited` (429), `overloaded` and
//! `store_unavailable` (503). Browsers get the form again with the error,
//! JSON callers JSON. Every sign-up counts against the client address's
//! sign-in failure limit, so one address cannot fill the store.

use super::managed;
use super::pages::{self, Shown};
use super::signin::{admit, see_other};
use super::verify_signin::{self, wants_json};
use crate::accounts::{self, AccountError, Refusal, SignUp};
use crate::credentials::Credentials;
use crate::errors::AppError;
use crate::providers::credentials::{self as password_users, MAX_USERNAME};
use crate::return_to::ReturnTo;
use crate::state::AppState;
use crate::store::SessionRecord;
use crate::web::{set_session, MaybeIdentity, SameOrigin};
use actix_web::http::header::{LOCATION, RETRY_AFTER};
use actix_web::http::StatusCode;
use actix_web::{web, Either, HttpRequest, HttpResponse};
use secrecy::SecretString;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct PageQuery {
    redirect_to: Option<String>,
}

/// The sign-up form with what was typed, the refusal and `status`.
fn signup_form(
    state: &AppState,
    status: StatusCode,
    error: Option<Shown>,
    typed: (&str, &str),
    redirect_to: &ReturnTo,
) -> HttpResponse {
    let min_password = state.accounts.as_deref().map_or(0, accounts::Accounts::min_password);
    let (username, email) = typed;
    let page = pages::Signup { status, error, username, email, min_password, redirect_to };
    pages::signup(&state.pages, page)
}

fn enabled(state: &AppState) -> Result<(), AppError> {
    match state.accounts {
        Some(_) => Ok(()),
        None => Err(AppError::NotFound("signup_disabled")),
    }
}

pub async fn signup_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
    who: MaybeIdentity,
) -> Result<HttpResponse, AppError> {
    enabled(&state)?;
    let redirect_to = ReturnTo::parse(query.redirect_to.as_deref(), &state.redirects);
    if who.get().is_some() {
        return Ok(HttpResponse::Found().insert_header((LOCATION, redirect_to.as_str())).finish());
    }
    if who.0.pending_verification() {
        return Ok(see_other(&verify_signin::pending_url(&redirect_to)));
    }
    if wants_json(&req) {
        let min = state.accounts.as_deref().map_or(0, accounts::Accounts::min_password);
        return Ok(HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(serde_json::json!({ "min_password_length": min })));
    }
    Ok(signup_form(&state, StatusCode::OK, None, ("", ""), &redirect_to))
}

#[derive(Deserialize)]
pub struct SignupForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    password: SecretString,
    redirect_to: Option<String>,
}

/// The status a refusal is answered with.
fn refusal_status(refusal: Refusal) -> StatusCode {
    match refusal {
        Refusal::UsernameTaken | Refusal::EmailTaken => StatusCode::CONFLICT,
        Refusal::NotAnAccount => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// A refusal as JSON: its status and code.
fn refusal_json(status: StatusCode, code: &str) -> HttpResponse {
    HttpResponse::build(status).insert_header(("Cache-Control", "no-store")).json(serde_json::json!({ "error": code }))
}

pub async fn signup(
    _: SameOrigin,
    req: HttpRequest,
    state: web::Data<AppState>,
    sessions: web::Data<Credentials>,
    form: Either<web::Form<SignupForm>, web::Json<SignupForm>>,
) -> Result<HttpResponse, AppError> {
    let (Some(accounts), Some(passwords)) = (state.accounts.clone(), state.credentials.clone()) else {
        return Err(AppError::NotFound("signup_disabled"));
    };
    let form = form.into_inner();
    let json = wants_json(&req);
    let redirect_to = ReturnTo::parse(form.redirect_to.as_deref(), &state.redirects);
    let typed = (form.username.as_str(), form.email.as_str());
    let refused = |status: StatusCode, shown: Shown, code: &str| {
        if json {
            refusal_json(status, code)
        } else {
            signup_form(&state, status, Some(shown), typed, &redirect_to)
        }
    };
    if form.username.len() > MAX_USERNAME {
        let refusal = Refusal::InvalidUsername;
        let shown = Shown::new(refusal.code(), refusal.message(accounts.min_password()));
        return Ok(refused(StatusCode::BAD_REQUEST, shown, refusal.code()));
    }
    let client = state.proxies.client_ip(&req);
    let attempt = match state.limiter.reserve(&format!("signup:{}", form.username), client).await {
        Ok(attempt) => attempt,
        Err(retry_after_secs) => {
            tracing::warn!(client = ?client, "sign-up rate limited");
            if json {
                return Err(AppError::RateLimited { retry_after_secs });
            }
            let words =
                format!("Too many attempts. Please wait {} and try again.", pages::wait_words(retry_after_secs));
            let mut page = refused(StatusCode::TOO_MANY_REQUESTS, Shown::new("rate_limited", words), "rate_limited");
            page.headers_mut().insert(RETRY_AFTER, retry_after_secs.into());
            return Ok(page);
        }
    };
    // Every sign-up stays counted against the client's address.
    attempt.failed();
    let new = SignUp { username: form.username.clone(), email: form.email.clone(), password: form.password };
    let user = match accounts.sign_up(&passwords, new).await {
        Ok(user) => user,
        Err(AccountError::Refused(refusal)) => {
            tracing::info!(client = ?client, code = refusal.code(), "sign-up refused");
            let shown = Shown::new(refusal.code(), refusal.message(accounts.min_password()));
            return Ok(refused(refusal_status(refusal), shown, refusal.code()));
        }
        Err(AccountError::Busy) => return Err(AppError::Overloaded { retry_after_secs: 1 }),
        Err(AccountError::Store(error)) => {
            tracing::warn!(%error, "sign-up: the account could not be stored");
            return Err(AppError::Unavailable("store_unavailable"));
        }
        Err(AccountError::Hash(error)) => return Err(AppError::internal(error)),
    };
    tracing::info!(user = %user.id, "signed up; the address waits for its code");
    let user = match admit(&state, accounts::PROVIDER_ID, None, user).await {
        Ok(user) => user,
        Err(error) => {
            let code = error.code().to_owned();
            return Ok(refused(StatusCode::FORBIDDEN, Shown::from(error), &code));
        }
    };
    let session = sessions.codec.start(user, accounts::PROVIDER_ID, false, None).map_err(AppError::internal)?;
    let (session, next) = match verify_signin::confirm(&req, &state, session, &redirect_to).await {
        Ok(next) => next,
        Err(refused) => return Ok(refused),
    };
    set_session(&req, &session)?;
    managed::record_sign_in(&state, &sessions, &req, &session, None).await;
    if json {
        return Ok(HttpResponse::Created()
            .insert_header(("Cache-Control", "no-store"))
            .json(serde_json::json!({ "authenticated": false, "pending_verification": true, "redirect_to": next })));
    }
    Ok(see_other(&next))
}

/// Why a signed-in person cannot change their password here, if so.
fn not_changeable(provider: &str) -> Option<&'static str> {
    match provider {
        accounts::PROVIDER_ID => None,
        password_users::PROVIDER_ID => Some("password_managed_by_file"),
        _ => Some("no_password"),
    }
}

fn not_changeable_words(code: &str) -> &'static str {
    match code {
        "password_managed_by_file" => {
            "Your password is kept in the gateway's users file. Ask an administrator to change it."
        }
        _ => "You signed in with a provider: change your password there.",
    }
}

pub async fn password_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: MaybeIdentity,
) -> Result<HttpResponse, AppError> {
    enabled(&state)?;
    let session = match managed::own_session(&who) {
        Ok(session) => session,
        Err(AppError::Unauthenticated) if !wants_json(&req) => {
            return Ok(see_other("/auth/signin?redirect_to=%2Fauth%2Fpassword"));
        }
        Err(error) => return Err(error),
    };
    if let Some(code) = not_changeable(&session.provider) {
        if wants_json(&req) {
            return Err(AppError::Forbidden(code));
        }
        let shown = Shown::new(code, not_changeable_words(code));
        let link = Some(("/", "Back"));
        return Ok(pages::message(&state.pages, StatusCode::FORBIDDEN, "Change password", None, Some(shown), link));
    }
    let min = state.accounts.as_deref().map_or(0, accounts::Accounts::min_password);
    Ok(pages::password(&state.pages, StatusCode::OK, &session.user.id, min, None, None))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current_password: SecretString,
    new_password: SecretString,
}

pub async fn change_password(
    _: SameOrigin,
    req: HttpRequest,
    state: web::Data<AppState>,
    who: MaybeIdentity,
    form: Either<web::Form<PasswordForm>, web::Json<PasswordForm>>,
) -> Result<HttpResponse, AppError> {
    let (Some(accounts), Some(passwords)) = (state.accounts.clone(), state.credentials.clone()) else {
        return Err(AppError::NotFound("signup_disabled"));
    };
    let session = managed::own_session(&who)?;
    if let Some(code) = not_changeable(&session.provider) {
        return Err(AppError::Forbidden(code));
    }
    let form = form.into_inner();
    let json = wants_json(&req);
    let min = accounts.min_password();
    let refused = |refusal: Refusal| {
        if json {
            return refusal_json(refusal_status(refusal), refusal.code());
        }
        let shown = Shown::new(refusal.code(), refusal.message(min));
        pages::password(&state.pages, refusal_status(refusal), &session.user.id, min, None, Some(shown))
    };
    let client = state.proxies.client_ip(&req);
    let attempt = match state.limiter.reserve(&session.user.id, client).await {
        Ok(attempt) => attempt,
        Err(retry_after_secs) => return Err(AppError::RateLimited { retry_after_secs }),
    };
    match accounts.change_password(&passwords, &session.user, form.current_password, form.new_password).await {
        Ok(()) => attempt.succeeded().await,
        Err(AccountError::Refused(refusal @ Refusal::WrongPassword)) => {
            attempt.failed();
            tracing::info!(user = %session.user.id, client = ?client, "password change: wrong current password");
            return Ok(refused(refusal));
        }
        Err(AccountError::Refused(refusal)) => {
            attempt.succeeded().await;
            return Ok(refused(refusal));
        }
        Err(AccountError::Busy) => {
            attempt.not_made().await;
            return Err(AppError::Overloaded { retry_after_secs: 1 });
        }
        Err(AccountError::Store(error)) => {
            attempt.not_made().await;
            tracing::warn!(%error, "password change: the store could not be reached");
            return Err(AppError::Unavailable("store_unavailable"));
        }
        Err(AccountError::Hash(error)) => return Err(AppError::internal(error)),
    }
    tracing::info!(user = %session.user.id, "password changed");
    let ended = end_other_sessions(&state, &session.user.id, &session.id).await;
    if json {
        return Ok(HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(serde_json::json!({ "changed": true, "other_sessions_ended": ended })));
    }
    let notice = match ended {
        Some(_) => "Your password has been changed, and your other sessions have been signed out.",
        None => "Your password has been changed. Your other sessions could not be signed out right now.",
    };
    Ok(pages::password(&state.pages, StatusCode::OK, &session.user.id, min, Some(notice), None))
}

/// End the account's recorded sessions but `current`: how many, or `None`
/// when the store failed (logged; the password is changed all the same).
async fn end_other_sessions(state: &AppState, user: &str, current: &str) -> Option<usize> {
    let records = match state.store.list_sessions(user).await {
        Ok(records) => records,
        Err(error) => {
            tracing::error!(%error, user, "password changed, but the other sessions could not be listed");
            return None;
        }
    };
    let others: Vec<&SessionRecord> =
        records.iter().filter(|r| r.provider == accounts::PROVIDER_ID && r.id != current).collect();
    managed::end_recorded(state, &others, "password changed").await.ok().map(|()| others.len())
}
