//! Sign-in: the page (`GET /auth/signin`), password sign-in
//! (`POST /auth/signin/credentials`), and what every sign-in shares: its
//! error codes ([`SigninError`]), where it ends ([`Targets`]: `success_to`,
//! `failure_to`), and [`admit`], the one point a sign-in passes (the
//! sign-in hook) before its session is sealed.

use super::pages;
use crate::accounts::{self, AccountError};
use crate::credentials::Credentials;
use crate::errors::AppError;
use crate::hooks::{DenyCode, Hooks, Profile, Refusal};
use crate::identity::User;
use crate::metrics;
use crate::providers::credentials::{Busy, MAX_PASSWORD, MAX_USERNAME, PROVIDER_ID};
use crate::providers::ProviderError;
use crate::return_to::{with_query_pair, RedirectPolicy, ReturnTo};
use crate::state::AppState;
use crate::web::{clear_refused, set_session, MaybeIdentity, SameOrigin};
use actix_web::http::header::{LOCATION, RETRY_AFTER};
use actix_web::http::StatusCode;
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
    /// The sign-in hook could not be asked (down, slow, malformed answer)
    /// and `hooks.on_failure = "deny"`.
    HookFailed,
    /// The sign-in hook refused the sign-in, with its own code.
    Denied(DenyCode),
    /// A link flow came back to a browser whose session is not the one that started it.
    LinkSessionChanged,
    /// The provider account is already linked to another user (with a store).
    AccountAlreadyLinked,
    /// The session holds as many linked providers as it may.
    TooManyLinks,
    /// The session with one more linked provider would not fit in its cookie.
    SessionTooLarge,
    /// The state store could not be asked (a link needs it when there is one).
    StoreUnavailable,
    /// A code sealgate does not know; shown generically, never echoed.
    Unknown,
}

impl SigninError {
    const ALL: [SigninError; 23] = [
        SigninError::LinkSessionChanged,
        SigninError::AccountAlreadyLinked,
        SigninError::TooManyLinks,
        SigninError::SessionTooLarge,
        SigninError::StoreUnavailable,
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
        SigninError::HookFailed,
    ];

    pub fn code(&self) -> &str {
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
            SigninError::HookFailed => "hook_failed",
            SigninError::Denied(code) => code.as_str(),
            SigninError::LinkSessionChanged => "link_session_changed",
            SigninError::AccountAlreadyLinked => "account_already_linked",
            SigninError::TooManyLinks => "too_many_links",
            SigninError::SessionTooLarge => "session_too_large",
            SigninError::StoreUnavailable => "store_unavailable",
            SigninError::Unknown => "unknown",
        }
    }

    /// The error a `?error=` code names. A code of sealgate's own is that
    /// error; any other well-formed one is a sign-in hook's denial when a
    /// hook is configured (`hooks`: [`Hooks::asks`]), else [`SigninError::Unknown`].
    pub fn parse(code: &str, hooks: bool) -> SigninError {
        let denied = || DenyCode::parse(code).filter(|_| hooks).map(SigninError::Denied);
        Self::ALL.into_iter().find(|e| e.code() == code).or_else(denied).unwrap_or(SigninError::Unknown)
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
            SigninError::HookFailed => "Sign-in cannot be completed right now. Please try again later.",
            SigninError::Denied(_) => "Sign-in was refused.",
            SigninError::LinkSessionChanged => {
                "The account link was started in another session. Please sign in and link it again."
            }
            SigninError::AccountAlreadyLinked => "That account is already linked to another user.",
            SigninError::TooManyLinks => "No more accounts can be linked to this session.",
            SigninError::SessionTooLarge => "This session cannot hold another linked account.",
            SigninError::StoreUnavailable => "Linking cannot be completed right now. Please try again later.",
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

/// A sign-in hook's refusal, as the sign-in page's code.
impl From<Refusal> for SigninError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Denied(code) => SigninError::Denied(code),
            Refusal::Failed => SigninError::HookFailed,
        }
    }
}

/// Where a sign-in ends. On success at `success`: `success_to`, else
/// `redirect_to` (the two are synonyms; `success_to` wins when both are
/// given). On failure at `failure_to?error=CODE` when given, else at the
/// app's error page (`hooks.error.url?error=CODE`), else at sealgate's
/// sign-in page. `success_to` and `failure_to` must pass the redirect
/// allow-list or the request is refused (`invalid_redirect`); a
/// `redirect_to` that does not pass falls back to `/`, as it always has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    pub success: ReturnTo,
    pub failure: Option<ReturnTo>,
}

/// The three target parameters of a sign-in start, as sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct TargetParams<'a> {
    pub redirect_to: Option<&'a str>,
    pub success_to: Option<&'a str>,
    pub failure_to: Option<&'a str>,
}

impl Targets {
    pub fn parse(params: TargetParams<'_>, policy: &RedirectPolicy) -> Result<Targets, AppError> {
        let strict = |raw: Option<&str>| match raw.filter(|raw| !raw.is_empty()) {
            None => Ok(None),
            Some(raw) => ReturnTo::try_parse(raw, policy).map(Some).ok_or(AppError::BadRequest("invalid_redirect")),
        };
        let success = match strict(params.success_to)? {
            Some(success) => success,
            None => ReturnTo::parse(params.redirect_to, policy),
        };
        Ok(Targets { success, failure: strict(params.failure_to)? })
    }

    /// Where a browser goes when this sign-in fails with `error`.
    pub fn failure_url(&self, error: SigninError, hooks: &Hooks) -> String {
        match (&self.failure, hooks.error_page()) {
            (Some(failure), _) => with_query_pair(failure.as_str(), "error", error.code()),
            (None, Some(page)) => with_query_pair(page, "error", error.code()),
            (None, None) => signin_url(error, &self.success),
        }
    }
}

#[derive(Deserialize)]
pub struct SigninQuery {
    redirect_to: Option<String>,
    success_to: Option<String>,
    failure_to: Option<String>,
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

/// The one point every sign-in passes before its session is sealed: the
/// sign-in hook may change the user, or refuse the sign-in.
pub async fn admit(
    state: &AppState,
    provider: &str,
    claims: Option<&serde_json::Value>,
    user: User,
) -> Result<User, SigninError> {
    let password = provider == PROVIDER_ID || provider == accounts::PROVIDER_ID;
    let profile = Profile { provider, claims, user, password };
    state.hooks.apply(profile).await.map_err(SigninError::from)
}

pub async fn signin_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<SigninQuery>,
    who: MaybeIdentity,
) -> Result<HttpResponse, AppError> {
    let params = TargetParams {
        redirect_to: query.redirect_to.as_deref(),
        success_to: query.success_to.as_deref(),
        failure_to: query.failure_to.as_deref(),
    };
    let targets = Targets::parse(params, &state.redirects)?;
    if who.get().is_some() {
        return Ok(HttpResponse::Found().insert_header((LOCATION, targets.success.as_str())).finish());
    }
    if who.0.pending_verification() {
        return Ok(see_other(&super::verify_signin::pending_url(&targets.success)));
    }
    clear_refused(&req);
    let error = query.error.as_deref().map(|code| SigninError::parse(code, state.hooks.asks()));
    Ok(signin_form(&req, &state, &targets, StatusCode::OK, error.map(pages::Shown::from), None))
}

/// The sign-in page with `error` and the username to keep, as `status`.
fn signin_form(
    req: &HttpRequest,
    state: &AppState,
    targets: &Targets,
    status: StatusCode,
    error: Option<pages::Shown>,
    username: Option<&str>,
) -> HttpResponse {
    let providers: Vec<(&str, &str)> = state.providers.iter().map(|p| (p.id.as_str(), p.name.as_str())).collect();
    let page = pages::Signin {
        status,
        error,
        targets,
        credentials: state.credentials.is_some(),
        signup: state.accounts.is_some(),
        providers: &providers,
        username,
    };
    pages::signin(&state.pages, req, page)
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
    success_to: Option<String>,
    failure_to: Option<String>,
}

/// How a sign-in answers: redirects for a browser, JSON for a client that
/// sent `Accept: application/json` (200 `{"authenticated": true,
/// "redirect_to": ...}`, or 401 `{"error": CODE}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answering {
    Browser,
    Json,
}

impl Answering {
    pub fn of(req: &HttpRequest) -> Answering {
        if pages::accepts_json(req) {
            Answering::Json
        } else {
            Answering::Browser
        }
    }

    /// A failed sign-in: to the failure target, or a JSON 401. A browser
    /// sent back to sealgate's own sign-in page finds `username` kept in
    /// the form (a one-time cookie, not the URL: usernames stay out of logs).
    pub fn failed(
        self,
        error: SigninError,
        targets: &Targets,
        hooks: &Hooks,
        kept: Option<(&str, bool)>,
    ) -> Result<HttpResponse, AppError> {
        match self {
            Answering::Browser => {
                let location = targets.failure_url(error, hooks);
                let mut response = see_other(&location);
                if let (Some((username, secure)), true) = (kept, location.starts_with("/auth/signin?")) {
                    let cookie = pages::Flash::Username(username.to_owned()).cookie(secure);
                    response.add_cookie(&cookie).map_err(AppError::internal)?;
                }
                Ok(response)
            }
            Answering::Json => Err(AppError::SigninRefused(error.code().to_owned())),
        }
    }
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
    let answering = Answering::of(&req);
    let params = TargetParams {
        redirect_to: form.redirect_to.as_deref(),
        success_to: form.success_to.as_deref(),
        failure_to: form.failure_to.as_deref(),
    };
    let targets = Targets::parse(params, &state.redirects)?;
    let username = form.username;
    let client = state.proxies.client_ip(&req);
    let well_formed = !username.is_empty()
        && username.len() <= MAX_USERNAME
        && !username.chars().any(char::is_control)
        && form.password.expose_secret().len() <= MAX_PASSWORD;
    let secure = state.public_url.scheme() == "https";
    if !well_formed {
        metrics::signin_failed(PROVIDER_ID, SigninError::InvalidCredentials.code());
        return answering.failed(SigninError::InvalidCredentials, &targets, &state.hooks, None);
    }
    let attempt = match state.limiter.reserve(&username, client).await {
        Ok(attempt) => attempt,
        Err(retry_after_secs) => {
            tracing::warn!(username = %credentials.logged_name(&username), client = ?client, "sign-in rate limited");
            if answering == Answering::Json {
                return Err(AppError::RateLimited { retry_after_secs });
            }
            let message =
                format!("Too many failed sign-ins. Please wait {} and try again.", pages::wait_words(retry_after_secs));
            let error = pages::Shown::new("rate_limited", message);
            let status = StatusCode::TOO_MANY_REQUESTS;
            let mut page = signin_form(&req, &state, &targets, status, Some(error), Some(&username));
            page.headers_mut().insert(RETRY_AFTER, retry_after_secs.into());
            return Ok(page);
        }
    };
    // The users file first; a name it does not have may be a signed-up account's.
    let checked = match (&state.accounts, credentials.account_id(&username)) {
        (Some(accounts), None) => match accounts.sign_in(&credentials, &username, form.password).await {
            Ok(account) => Ok(account.map(|account| (account.user, accounts::PROVIDER_ID, account.confirmed))),
            Err(AccountError::Busy) => Err(Busy),
            Err(error) => {
                attempt.not_made().await;
                tracing::warn!(%error, "sign-in: the signed-up accounts could not be read");
                return Err(AppError::Unavailable("store_unavailable"));
            }
        },
        _ => credentials.verify(&username, form.password).await.map(|user| user.map(|user| (user, PROVIDER_ID, true))),
    };
    let found = match checked {
        Ok(found) => found,
        Err(Busy) => {
            attempt.not_made().await;
            tracing::warn!(client = ?client, "sign-in turned away: too many password checks waiting");
            return Err(AppError::Overloaded { retry_after_secs: 1 });
        }
    };
    let Some((user, provider, confirmed)) = found else {
        attempt.failed();
        tracing::info!(username = %credentials.logged_name(&username), client = ?client, "sign-in failed");
        metrics::signin_failed(PROVIDER_ID, SigninError::InvalidCredentials.code());
        return answering.failed(SigninError::InvalidCredentials, &targets, &state.hooks, Some((&username, secure)));
    };
    attempt.succeeded().await;
    let user = match admit(&state, provider, None, user).await {
        Ok(user) => user,
        Err(error) => {
            metrics::signin_failed(provider, error.code());
            return answering.failed(error, &targets, &state.hooks, Some((&username, secure)));
        }
    };
    let session = sessions.codec.start(user, provider, form.remember, None).map_err(AppError::internal)?;
    let gated = if confirmed {
        super::verify_signin::gate(&req, &state, &sessions, session, &targets.success).await
    } else {
        super::verify_signin::confirm(&req, &state, session, &targets.success).await
    };
    let (session, next) = match gated {
        Ok(next) => next,
        Err(refused) => return Ok(refused),
    };
    set_session(&req, &session)?;
    super::managed::record_sign_in(&state, &sessions, &req, &session, None).await;
    tracing::info!(user = %session.user.id, provider, "signed in");
    metrics::signed_in(provider);
    match answering {
        Answering::Browser => Ok(see_other(&next)),
        Answering::Json => {
            // A sign-in that waits for its e-mailed code says so; `next` is then where to enter it.
            let mut body = serde_json::json!({ "authenticated": !session.pending, "redirect_to": next });
            if let (true, Some(fields)) = (session.pending, body.as_object_mut()) {
                fields.insert("pending_verification".into(), true.into());
            }
            Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(body))
        }
    }
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

    #[test]
    fn a_code_parses_back_to_its_error_and_a_hooks_code_only_with_a_hook() {
        for error in SigninError::ALL {
            assert_eq!(SigninError::parse(error.code(), false), error);
        }
        let denied = SigninError::parse("not_invited", true);
        assert_eq!((denied.code(), denied.message()), ("not_invited", "Sign-in was refused."));
        assert_eq!(SigninError::parse("not_invited", false), SigninError::Unknown);
        assert_eq!(SigninError::parse("Not-a-code", true), SigninError::Unknown);
    }

    fn policy() -> RedirectPolicy {
        RedirectPolicy::new(&url::Url::parse("https://gate.example.com").unwrap(), &["app.test".into()])
    }

    fn hooks(error_page: Option<&str>) -> Hooks {
        let settings = crate::config::hooks::HookSettings {
            error: error_page.map(|url| crate::config::hooks::HookTarget { url: url.into() }),
            ..Default::default()
        };
        let clock = std::sync::Arc::new(crate::clock::ManualClock::at(0));
        Hooks::new(&settings, clock, reqwest::Client::new()).unwrap()
    }

    #[test]
    fn success_to_is_redirect_to_and_wins_over_it() {
        let parse = |redirect_to, success_to, failure_to| {
            Targets::parse(TargetParams { redirect_to, success_to, failure_to }, &policy())
        };
        assert_eq!(parse(Some("/a"), None, None).unwrap().success.as_str(), "/a");
        assert_eq!(parse(Some("/a"), Some("https://app.test/b"), None).unwrap().success.as_str(), "https://app.test/b");
        assert_eq!(parse(Some("https://evil.example/"), None, None).unwrap().success.as_str(), "/");
        for unlisted in ["https://evil.example/", "//evil.example", "javascript:alert(1)"] {
            let refused = |e: AppError| e.code() == "invalid_redirect";
            assert!(parse(None, Some(unlisted), None).is_err_and(refused), "{unlisted}");
            assert!(parse(None, None, Some(unlisted)).is_err_and(refused), "{unlisted}");
        }
    }

    #[test]
    fn a_failure_goes_to_failure_to_then_the_error_page_then_the_sign_in_page() {
        let targets = |failure_to| {
            Targets::parse(TargetParams { redirect_to: Some("/app"), success_to: None, failure_to }, &policy()).unwrap()
        };
        let error = SigninError::InvalidCredentials;
        let with_page = hooks(Some("https://app.test/oops?lang=en"));
        assert_eq!(
            targets(Some("https://app.test/login?x=1#top")).failure_url(error, &with_page),
            "https://app.test/login?x=1&error=invalid_credentials#top"
        );
        assert_eq!(
            targets(None).failure_url(error, &with_page),
            "https://app.test/oops?lang=en&error=invalid_credentials"
        );
        assert_eq!(
            targets(None).failure_url(error, &hooks(None)),
            "/auth/signin?error=invalid_credentials&redirect_to=%2Fapp"
        );
    }
}
