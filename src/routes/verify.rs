//! `GET /auth/verify`: the reverse proxy's "who is this?" on every request.
//! The hot path: one cookie read, one strict parse, one decryption.

use crate::credentials::{Credentials, Identified, Outcome};
use crate::errors::AppError;
use crate::identity::Identity;
use crate::policy::{AllowLists, Decision, Principal};
use crate::refresh::revalidate::{Due, Found};
use crate::refresh::TokenStatus;
use crate::return_to::ReturnTo;
use crate::session::Session;
use crate::state::AppState;
use crate::web::identity_headers::{self, ACCESS_TOKEN, ASSERTION, PERMISSIONS};
use crate::web::{clear_session, load_with, set_session};
use actix_web::dev::{fn_service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, LOCATION};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use futures_util::future::{ready, Either, LocalBoxFuture, Ready};
use secrecy::ExposeSecret;

fn narrows(query: &str) -> bool {
    query.contains("allow_") || query.contains('%')
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

type Answer = Result<HttpResponse, AppError>;

/// What `/auth/verify` can decide without any I/O.
enum Verdict {
    /// The whole answer.
    Done(Answer),
    /// A 200 that still needs the provider's access token (`required` when
    /// the policy demands a fresh one), or an account check first (`check`:
    /// the due time it settles).
    NeedsToken { response: HttpResponse, required: bool, check: Option<i64> },
}

type Served = Result<ServiceResponse, actix_web::Error>;

/// The answer, or the error's own response: not `HttpResponse::from_error`,
/// which boxes the error to keep it with the response (nothing here reads it).
fn respond(answer: Answer) -> HttpResponse {
    answer.unwrap_or_else(|error| error.error_response())
}

/// `/auth/verify`, as the route's service itself rather than a handler
/// behind extractors: the hot path skips actix's extractor and responder
/// plumbing, and the service holds what it needs instead of looking it up
/// in the app data. The identity still comes from [`load_with`], so it is
/// found once and kept in the request's extensions like everywhere else.
pub fn service(
    credentials: web::Data<Credentials>,
    state: web::Data<AppState>,
) -> impl ServiceFactory<ServiceRequest, Config = (), Response = ServiceResponse, Error = actix_web::Error, InitError = ()>
{
    fn_service(move |req: ServiceRequest| verify(req, &credentials, &state))
}

/// The answer is ready at once. Only passing a provider's access token (a
/// refresh) or a due account check may need the network, so only those
/// cases get a boxed future.
fn verify(
    req: ServiceRequest,
    credentials: &Credentials,
    state: &web::Data<AppState>,
) -> Either<Ready<Served>, LocalBoxFuture<'static, Served>> {
    let outcome = load_with(req.request(), credentials);
    let (mut response, required, check) = match verdict(req.request(), state, credentials, &outcome) {
        Verdict::Done(answer) => return Either::Left(ready(Ok(req.into_response(respond(answer))))),
        Verdict::NeedsToken { response, required, check } => (response, required, check),
    };
    let Some(identified) = outcome.identified().cloned() else {
        return Either::Left(ready(Ok(req.into_response(response))));
    };
    let state = state.clone();
    Either::Right(Box::pin(async move {
        let answer = async {
            let mut session = identified.session.as_ref();
            let resealed = match (check, session) {
                (Some(at), Some(current)) => match revalidate(req.request(), &state, current, at).await {
                    Revalidated::Kept(resealed) => resealed,
                    Revalidated::Ended => return unauthenticated(req.request()),
                },
                _ => None,
            };
            if resealed.is_some() {
                session = resealed.as_deref();
            }
            pass_access_token(req.request(), &state, &identified, session, required, &mut response).await?;
            Ok(response)
        }
        .await;
        Ok(req.into_response(respond(answer)))
    }))
}

fn verdict(req: &HttpRequest, state: &AppState, credentials: &Credentials, outcome: &Outcome) -> Verdict {
    let identified = outcome.identified();
    // `allow_*` narrowing, also percent-encoded (`allow%5Fgroups`), applies even without rules.
    let decision = if state.policy_active || narrows(req.query_string()) {
        decide(req, state, identified.map(|i| &i.identity))
    } else if identified.is_some() {
        Decision::Allow { fresh_token: false }
    } else {
        Decision::Unauthenticated
    };
    let required = match decision {
        Decision::Allow { fresh_token } => fresh_token,
        Decision::Forbidden => return Verdict::Done(Err(AppError::Forbidden("forbidden"))),
        Decision::Unauthenticated if outcome.bad_bearer() => return Verdict::Done(Err(AppError::InvalidToken)),
        Decision::Unauthenticated => return Verdict::Done(unauthenticated(req)),
    };
    // A public route lets anonymous requests through with no identity.
    let Some(identified) = identified else {
        return Verdict::Done(Ok(HttpResponse::new(StatusCode::OK)));
    };
    // A memory lookup, unless the provider's `revalidate` makes a check due.
    let check = match identified.session.as_ref().map(|session| state.revalidator.due(session)) {
        Some(Due::Gone) => {
            clear_session(req);
            return Verdict::Done(unauthenticated(req));
        }
        Some(Due::Yes { at }) => Some(at),
        Some(Due::No) | None => None,
    };
    let mut response = state.identity_headers.response(identified);
    if let Some(session) = identified.session.as_ref().filter(|session| !session.linked.is_empty()) {
        pass_linked_tokens(state, credentials, session, &mut response);
    }
    let identity = &identified.identity;
    if let Some(assertion) = assertion(req, state, identified) {
        response.headers_mut().insert(const { HeaderName::from_static(ASSERTION) }, assertion);
    }
    if state.policy_active {
        let permissions = state.policy.permissions(&identity.user);
        if let Ok(value) = HeaderValue::from_str(&permissions.join(",")) {
            if !permissions.is_empty() {
                response.headers_mut().insert(const { HeaderName::from_static(PERMISSIONS) }, value);
            }
        }
    }
    // Only sessions from a provider that passes its token take the slow
    // path: another provider's doing so must not slow everyone else down.
    if required || check.is_some() || state.passes_token(&identity.provider) {
        return Verdict::NeedsToken { response, required, check };
    }
    Verdict::Done(Ok(response))
}

/// `X-Auth-Assertion` for `identity`, when assertions are on. Its audience
/// is `assertion.audience`, else the host a trusted proxy forwarded; a
/// host that is missing, repeated, from an untrusted peer or that does not
/// parse gives no assertion (fail closed: an upstream that requires one
/// refuses), never one for an audience made up.
fn assertion(req: &HttpRequest, state: &AppState, identified: &Identified) -> Option<HeaderValue> {
    let assertions = state.assertions.as_ref()?;
    let (slot, identity) = (&identified.assertion, &identified.identity);
    if let Some(audience) = assertions.audience() {
        return assertions.assertion_in(slot, identity, audience);
    }
    if !state.proxies.peer_is_trusted(req) {
        return None;
    }
    let mut hosts = req.headers().get_all("x-forwarded-host");
    let (Some(host), None) = (hosts.next(), hosts.next()) else {
        return None;
    };
    let audience = crate::assertion::audience_from_host(host.to_str().ok()?)?;
    assertions.assertion_in(slot, identity, &audience)
}

/// `X-Auth-Access-Token-{id}` for each linked provider with
/// `pass_access_token`: memory only (the tokens open once per opened
/// session). Linked tokens are not refreshed; an expired one is left out.
fn pass_linked_tokens(state: &AppState, credentials: &Credentials, session: &Session, response: &mut HttpResponse) {
    let now = credentials.codec.now();
    for linked in &session.linked {
        if !state.providers.get(&linked.provider).is_some_and(|p| p.pass_access_token) {
            continue;
        }
        let Some(tokens) = credentials.codec.linked_tokens(session, linked, now) else {
            continue;
        };
        let name = identity_headers::linked_access_token(&linked.provider);
        if let (Some(name), Ok(value)) = (name, HeaderValue::from_str(tokens.access_token.expose_secret())) {
            response.headers_mut().insert(name, value);
        }
    }
}

/// No one is signed in: 401, or for `?redirect=1` a 302 to the sign-in page.
fn unauthenticated(req: &HttpRequest) -> Answer {
    match wants_redirect(req).then(|| signin_redirect(req)).flatten() {
        Some(redirect) => Ok(redirect),
        None => Err(AppError::Unauthenticated),
    }
}

/// What an account check leaves of the session.
enum Revalidated {
    /// It stays; resealed with the tokens the check refreshed, if it did.
    Kept(Option<Box<Session>>),
    /// The account is gone: the cookie is cleared and the session revoked.
    Ended,
}

/// The account check `providers.<id>.revalidate` made due: a gone account
/// ends the session (cookie cleared, revoked in the store when there is
/// one); tokens the check refreshed are resealed into the cookie, and the
/// resealed session is kept for the rest of the request.
async fn revalidate(req: &HttpRequest, state: &AppState, session: &Session, at: i64) -> Revalidated {
    let (Some(provider), Some(credentials)) =
        (state.providers.get(&session.provider), req.app_data::<web::Data<Credentials>>())
    else {
        return Revalidated::Kept(None);
    };
    let (checked, made_it) = state.revalidator.check(&state.refresher, &credentials.codec, provider, session, at).await;
    if checked.found == Found::Gone {
        clear_session(req);
        if made_it {
            super::managed::revoke(state, credentials, session).await;
        }
        return Revalidated::Ended;
    }
    let Some(tokens) = &checked.tokens else {
        return Revalidated::Kept(None);
    };
    let resealed = match credentials.codec.with_tokens(session, tokens) {
        Ok(resealed) => resealed,
        Err(error) => {
            tracing::warn!(session = %session.id, %error, "the refreshed tokens could not be sealed");
            return Revalidated::Kept(None);
        }
    };
    if let Err(error) = set_session(req, &resealed) {
        tracing::warn!(session = %session.id, %error, "the refreshed session could not be set");
    }
    Revalidated::Kept(Some(Box::new(resealed)))
}

/// The policy's decision for the request the proxy describes. Host and path
/// come from `X-Forwarded-Host` and `X-Forwarded-Uri` (or `X-Original-URI`),
/// believed only from trusted proxies; `allow_*` query parameters narrow it.
fn decide(req: &HttpRequest, state: &AppState, identity: Option<&Identity>) -> Decision {
    let target = state.proxies.policy_target(req, state.policy.needs_target());
    let narrowing = AllowLists::from_query(req.query_string());
    let who = identity.map(|i| Principal { user: &i.user, provider: &i.provider, scopes: i.scopes.as_deref() });
    state.policy.decide(&target, who.as_ref(), &narrowing)
}

/// `X-Auth-Access-Token`, fresh, for providers with `pass_access_token` or
/// routes whose rule demands a fresh token. A token that cannot be
/// refreshed right now is not passed (and, where the rule demands one, the
/// request is refused); a revoked grant ends the session.
async fn pass_access_token(
    req: &HttpRequest,
    state: &AppState,
    identified: &Identified,
    session: Option<&Session>,
    required: bool,
    response: &mut HttpResponse,
) -> Result<(), AppError> {
    let provider = state.providers.get(&identified.identity.provider);
    let passes = provider.is_some_and(|p| p.pass_access_token);
    if !passes && !required {
        return Ok(());
    }
    let Some(credentials) = req.app_data::<web::Data<Credentials>>() else {
        return Ok(());
    };
    // Only a session holds provider tokens; a Bearer token's identity has none.
    let status = match session {
        Some(session) => state.refresher.fresh(&credentials.codec, provider.map(|p| p.as_ref()), session).await,
        None => TokenStatus::NoTokens,
    };
    match status {
        TokenStatus::Fresh { tokens, refreshed } => {
            if let Some(refreshed) = refreshed {
                set_session(req, &refreshed)?;
            }
            if let (true, Ok(value)) = (passes, HeaderValue::from_str(tokens.access_token.expose_secret())) {
                response.headers_mut().insert(const { HeaderName::from_static(ACCESS_TOKEN) }, value);
            }
            Ok(())
        }
        TokenStatus::Ended => {
            clear_session(req);
            Err(AppError::Unauthenticated)
        }
        TokenStatus::Expired if required => Err(AppError::TokenExpired),
        TokenStatus::Unavailable if required => Err(AppError::Unavailable("provider_unavailable")),
        TokenStatus::NoTokens if required => Err(AppError::Forbidden("no_provider_token")),
        TokenStatus::Expired | TokenStatus::Unavailable | TokenStatus::NoTokens => Ok(()),
    }
}
