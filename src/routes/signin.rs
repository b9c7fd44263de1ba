//! Sign-in: the page (`GET /auth/signin`) and password sign-in
//! (`POST /auth/signin/credentials`).

use super::pages;
use crate::credentials::Credentials;
use crate::errors::AppError;
use crate::metrics;
use crate::providers::credentials::{Busy, MAX_PASSWORD, MAX_USERNAME, PROVIDER_ID};
use crate::providers::ProviderError;
use crate::return_to::ReturnTo;
use crate::state::AppState;
use crate::web::{clear_refused, set_session, MaybeIdentity, SameOrigin};
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
    /// No provider has that id.
    UnknownProvider,
    /// The person declined at the provider.
    AccessDenied,
    /// The provider wants the person to sign in there first (OIDC `login_required`).
    LoginRequired,
    /// The provider wants the person's consent first (OIDC `consent_required`).
    ConsentRequired,
    /// The provider wants some other step first (OIDC `interaction_required`).
    InteractionRequired,
    /// The provider wants the person to pick an account (OIDC `account_selection_required`).
    AccountSelectionRequired,
    /// The callback's `state` did not match the flow (tampered or mixed up).
    InvalidState,
    /// No flow cookie, or an expired one: the sign-in took too long or was not started here.
    FlowExpired,
    /// The callback came for a different provider than the sign-in was started with.
    ProviderMismatch,
    /// The callback's `iss` is not the provider's issuer (RFC 9207).
    IssuerMismatch,
    /// The provider refused the authorization code (already used, or expired).
    CodeRejected,
    /// The provider could not be reached or timed out.
    ProviderUnavailable,
    /// The provider answered with an error.
    ProviderError,
    /// The ID token failed verification.
    InvalidIdToken,
    /// The provider's profile could not be used.
    ProfileError,
    /// A code sealgate does not know; shown generically, never echoed.
    Unknown,
}

impl SigninError {
    const ALL: [SigninError; 17] = [
        SigninError::InvalidCredentials,
        SigninError::InvalidRequest,
        SigninError::UnknownProvider,
        SigninError::AccessDenied,
        SigninError::LoginRequired,
        SigninError::ConsentRequired,
        SigninError::InteractionRequired,
        SigninError::AccountSelectionRequired,
        SigninError::InvalidState,
        SigninError::FlowExpired,
        SigninError::ProviderMismatch,
        SigninError::IssuerMismatch,
        SigninError::CodeRejected,
        SigninError::ProviderUnavailable,
        SigninError::ProviderError,
        SigninError::InvalidIdToken,
        SigninError::ProfileError,
    ];

    pub fn code(self) -> &'static str {
        match self {
            SigninError::InvalidCredentials => "invalid_credentials",
            SigninError::InvalidRequest => "invalid_request",
            SigninError::UnknownProvider => "unknown_provider",
            SigninError::AccessDenied => "access_denied",
            SigninError::LoginRequired => "login_required",
            SigninError::ConsentRequired => "consent_required",
            SigninError::InteractionRequired => "interaction_required",
            SigninError::AccountSelectionRequired => "account_selection_required",
            SigninError::InvalidState => "invalid_state",
            SigninError::FlowExpired => "flow_expired",
            SigninError::ProviderMismatch => "provider_mismatch",
            SigninError::IssuerMismatch => "issuer_mismatch",
            SigninError::CodeRejected => "code_rejected",
            SigninError::ProviderUnavailable => "provider_unavailable",
            SigninError::ProviderError => "provider_error",
            SigninError::InvalidIdToken => "invalid_id_token",
            SigninError::ProfileError => "profile_error",
            SigninError::Unknown => "unknown",
        }
    }

    pub fn parse(code: &str) -> SigninError {
        Self::ALL.into_iter().find(|e| e.code() == code).unwrap_or(SigninError::Unknown)
    }

    pub fn message(self) -> &'static str {
        match self {
            SigninError::InvalidCredentials => "The username or password is incorrect.",
            SigninError::InvalidRequest => "The sign-in request was not understood. Please try again.",
            SigninError::UnknownProvider => "That sign-in method is not available.",
            SigninError::AccessDenied => "Sign-in was cancelled at the provider.",
            SigninError::LoginRequired => {
                "The sign-in provider needs you to sign in there first. Please try again and sign in at the provider."
            }
            SigninError::ConsentRequired => {
                "The sign-in provider needs your consent to share your account. Please try again and allow access."
            }
            SigninError::InteractionRequired => {
                "The sign-in provider needs you to complete a step there first. Please try again."
            }
            SigninError::AccountSelectionRequired => {
                "The sign-in provider needs you to choose an account. Please try again and pick one."
            }
            SigninError::InvalidState | SigninError::ProviderMismatch | SigninError::IssuerMismatch => {
                "The sign-in response did not match the sign-in that was started. Please try again."
            }
            SigninError::FlowExpired => "The sign-in took too long or was started elsewhere. Please try again.",
            SigninError::CodeRejected => "The provider did not accept the sign-in. Please try again.",
            SigninError::ProviderUnavailable => {
                "The sign-in provider is unavailable right now. Please try again later."
            }
            SigninError::ProviderError | SigninError::InvalidIdToken => {
                "The sign-in provider answered with an error. Please try again."
            }
            SigninError::ProfileError => "Your account at the provider could not be used to sign in.",
            SigninError::Unknown => "Sign-in failed. Please try again.",
        }
    }
}

/// A failure at the provider, as the sign-in page's code: one mapping,
/// by variant (the provider's detail stays in the log, never in the URL).
impl From<ProviderError> for SigninError {
    fn from(error: ProviderError) -> Self {
        match error {
            ProviderError::Unavailable(_) => SigninError::ProviderUnavailable,
            ProviderError::CodeRejected => SigninError::CodeRejected,
            ProviderError::Refused(_) | ProviderError::Protocol(_) => SigninError::ProviderError,
            ProviderError::InvalidIdToken(_) => SigninError::InvalidIdToken,
            ProviderError::Profile(_) => SigninError::ProfileError,
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
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<SigninQuery>,
    who: MaybeIdentity,
) -> HttpResponse {
    let redirect_to = ReturnTo::parse(query.redirect_to.as_deref(), &state.redirects);
    if who.get().is_some() {
        return HttpResponse::Found().insert_header((LOCATION, redirect_to.as_str())).finish();
    }
    if who.0.pending_verification() {
        return see_other(&super::verify_signin::pending_url(&redirect_to));
    }
    clear_refused(&req);
    let error = query.error.as_deref().map(SigninError::parse);
    let providers: Vec<(&str, &str)> = state.providers.iter().map(|p| (p.id.as_str(), p.name.as_str())).collect();
    pages::html(pages::signin(error, &redirect_to, state.credentials.is_some(), &providers))
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
    _: SameOrigin,
    req: HttpRequest,
    state: web::Data<AppState>,
    sessions: web::Data<Credentials>,
    form: Either<web::Form<CredentialsForm>, web::Json<CredentialsForm>>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let Some(credentials) = state.credentials.clone() else {
        return Err(AppError::Forbidden("credentials_disabled"));
    };
    let redirect_to = ReturnTo::parse(form.redirect_to.as_deref(), &state.redirects);
    let username = form.username;
    let client = state.proxies.client_ip(&req);
    let well_formed = !username.is_empty()
        && username.len() <= MAX_USERNAME
        && !username.chars().any(char::is_control)
        && form.password.expose_secret().len() <= MAX_PASSWORD;
    if !well_formed {
        metrics::signin_failed(PROVIDER_ID, SigninError::InvalidCredentials.code());
        return Ok(see_other(&signin_url(SigninError::InvalidCredentials, &redirect_to)));
    }
    let attempt = state.limiter.reserve(&username, client).await.map_err(|retry_after_secs| {
        tracing::warn!(username = %credentials.logged_name(&username), client = ?client, "sign-in rate limited");
        AppError::RateLimited { retry_after_secs }
    })?;
    let user = match credentials.verify(&username, form.password).await {
        Ok(user) => user,
        Err(Busy) => {
            attempt.not_made().await;
            tracing::warn!(client = ?client, "sign-in turned away: too many password checks waiting");
            return Err(AppError::Overloaded { retry_after_secs: 1 });
        }
    };
    let Some(user) = user else {
        attempt.failed();
        tracing::info!(username = %credentials.logged_name(&username), client = ?client, "sign-in failed");
        metrics::signin_failed(PROVIDER_ID, SigninError::InvalidCredentials.code());
        return Ok(see_other(&signin_url(SigninError::InvalidCredentials, &redirect_to)));
    };
    attempt.succeeded().await;
    let session = sessions.codec.start(user, PROVIDER_ID, form.remember, None).map_err(AppError::internal)?;
    let (session, next) = match super::verify_signin::gate(&req, &state, &sessions, session, &redirect_to).await {
        Ok(next) => next,
        Err(refused) => return Ok(refused),
    };
    set_session(&req, &session)?;
    super::managed::record_sign_in(&state, &sessions, &req, &session, None).await;
    tracing::info!(user = %session.user.id, provider = PROVIDER_ID, "signed in");
    metrics::signed_in(PROVIDER_ID);
    Ok(see_other(&next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_provider_failure_maps_to_its_documented_code() {
        let detail = || "detail that must not reach the URL".to_owned();
        let cases = [
            (ProviderError::Unavailable(detail()), "provider_unavailable"),
            (ProviderError::CodeRejected, "code_rejected"),
            (ProviderError::Refused(detail()), "provider_error"),
            (ProviderError::Protocol(detail()), "provider_error"),
            (ProviderError::InvalidIdToken(detail()), "invalid_id_token"),
            (ProviderError::Profile(detail()), "profile_error"),
        ];
        for (error, code) in cases {
            assert_eq!(SigninError::from(error).code(), code);
        }
    }
}
