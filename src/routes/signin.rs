//! Sign-in: the page (`GET /auth/signin`) and password sign-in
//! (`POST /auth/signin/credentials`).

use super::pages;
use crate::domain::ReturnTo;
use crate::errors::AppError;
use crate::providers::credentials::{MAX_PASSWORD, MAX_USERNAME, PROVIDER_ID};
use crate::session::request::SessionService;
use crate::session::request::{set_session, MaybeSession};
use crate::startup::AppState;
use actix_web::http::header::LOCATION;
use actix_web::{web, Either, HttpRequest, HttpResponse};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The documented `?error=` codes of the sign-in page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigninError {
    /// Unknown user or wrong password (never says which).
    InvalidCredentials,
    /// The sign-in request was malformed.
    InvalidRequest,
    /// A code sealgate does not know; shown generically, never echoed.
    Unknown,
}

impl SigninError {
    pub fn code(self) -> &'static str {
        match self {
            SigninError::InvalidCredentials => "invalid_credentials",
            SigninError::InvalidRequest => "invalid_request",
            SigninError::Unknown => "unknown",
        }
    }

    pub fn parse(code: &str) -> SigninError {
        match code {
            "invalid_credentials" => SigninError::InvalidCredentials,
            "invalid_request" => SigninError::InvalidRequest,
            _ => SigninError::Unknown,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            SigninError::InvalidCredentials => "The username or password is incorrect.",
            SigninError::InvalidRequest => "The sign-in request was not understood. Please try again.",
            SigninError::Unknown => "Sign-in failed. Please try again.",
        }
    }
}

#[derive(Deserialize)]
pub struct SigninQuery {
    redirect_to: Option<String>,
    error: Option<String>,
}

/// `303 See Other` to `location`.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((LOCATION, location)).insert_header(("Cache-Control", "no-store")).finish()
}

/// The sign-in page URL carrying an error code and the redirect target.
pub fn signin_url(error: SigninError, redirect_to: &ReturnTo) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("error", error.code());
    if redirect_to.as_str() != "/" {
        query.append_pair("redirect_to", redirect_to.as_str());
    }
    format!("/auth/signin?{}", query.finish())
}

pub async fn signin_page(
    state: web::Data<AppState>,
    query: web::Query<SigninQuery>,
    session: MaybeSession,
) -> HttpResponse {
    let redirect_to = ReturnTo::parse(query.redirect_to.as_deref(), &state.redirects);
    if session.get().is_some() {
        return HttpResponse::Found().insert_header((LOCATION, redirect_to.as_str())).finish();
    }
    let error = query.error.as_deref().map(SigninError::parse);
    pages::html(pages::signin(error, &redirect_to, state.credentials.is_some()))
}

/// A checkbox (`"true"`, `"on"`, `"1"`) or a JSON boolean.
fn flag<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Text(String),
    }
    Ok(match Flag::deserialize(deserializer)? {
        Flag::Bool(value) => value,
        Flag::Text(text) => matches!(text.as_str(), "true" | "on" | "1" | "yes"),
    })
}

#[derive(Deserialize)]
pub struct CredentialsForm {
    username: String,
    password: SecretString,
    #[serde(default, deserialize_with = "flag")]
    remember: bool,
    redirect_to: Option<String>,
}

pub async fn signin_credentials(
    req: HttpRequest,
    state: web::Data<AppState>,
    sessions: web::Data<SessionService>,
    form: Either<web::Form<CredentialsForm>, web::Json<CredentialsForm>>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let Some(credentials) = state.credentials.clone() else {
        return Err(AppError::Forbidden("credentials_disabled"));
    };
    if !state.origins.allows(&req) {
        return Err(AppError::Forbidden("cross_site_request"));
    }
    let redirect_to = ReturnTo::parse(form.redirect_to.as_deref(), &state.redirects);
    let username = form.username;
    let client = state.proxies.client_ip(&req);
    let well_formed = !username.is_empty()
        && username.len() <= MAX_USERNAME
        && !username.chars().any(char::is_control)
        && form.password.expose_secret().len() <= MAX_PASSWORD;
    if !well_formed {
        return Ok(see_other(&signin_url(SigninError::InvalidCredentials, &redirect_to)));
    }
    state.limiter.check(&username, client).map_err(|retry_after_secs| {
        tracing::warn!(username = %username, client = ?client, "sign-in rate limited");
        AppError::RateLimited { retry_after_secs }
    })?;

    let password = form.password;
    let name = username.clone();
    let user = web::block(move || credentials.verify(&name, &password)).await.map_err(AppError::internal)?;
    let Some(user) = user else {
        state.limiter.record_failure(&username, client);
        tracing::info!(username = %username, client = ?client, "sign-in failed");
        return Ok(see_other(&signin_url(SigninError::InvalidCredentials, &redirect_to)));
    };
    state.limiter.record_success(&username);
    let session = sessions.codec.start(user, PROVIDER_ID, form.remember, None).map_err(AppError::internal)?;
    set_session(&req, &session)?;
    tracing::info!(user = %session.user.id, provider = PROVIDER_ID, "signed in");
    Ok(see_other(redirect_to.as_str()))
}
