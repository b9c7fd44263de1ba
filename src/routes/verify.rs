//! `GET /auth/verify`: the reverse proxy's "who is this?" on every request.
//! The hot path: one cookie read, one strict parse, one decryption.

use super::kept_text::{self, KeptText};
use crate::domain::ReturnTo;
use crate::errors::AppError;
use crate::policy::{AllowLists, Decision, Principal};
use crate::refresh::TokenStatus;
use crate::session::request::{clear_session, load_with, set_session, SessionService, SessionState};
use crate::session::{IdentityField, Session};
use crate::startup::AppState;
use actix_web::dev::{fn_service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, LOCATION};
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use futures_util::future::{ready, Either, LocalBoxFuture, Ready};
use secrecy::ExposeSecret;

pub const USER: &str = "x-auth-user";
pub const USERNAME: &str = "x-auth-username";
pub const EMAIL: &str = "x-auth-email";
pub const NAME: &str = "x-auth-name";
pub const PROVIDER: &str = "x-auth-provider";
pub const GROUPS: &str = "x-auth-groups";
pub const ACCESS_TOKEN: &str = "x-auth-access-token";
pub const PERMISSIONS: &str = "x-auth-permissions";
pub const SOURCE: &str = "x-auth-source";

/// The identity headers for a session. Built only from the sealed session,
/// never from anything the client sent. User fields were validated (no
/// control characters) when the session was made, so a value is skipped
/// only in the most unlikely of cases.
///
/// The values are slices of one text, kept for the life of the process while
/// the store has room ([`kept_text`]): cloning static values for a response,
/// and dropping the clones, touches no reference count. Otherwise they share
/// one `Bytes`, so they touch one count instead of one each.
fn build_identity_headers(session: &Session) -> Vec<(IdentityField, HeaderValue)> {
    build_identity_headers_in(session, &kept_text::IDENTITIES)
}

fn build_identity_headers_in(session: &Session, store: &KeptText) -> Vec<(IdentityField, HeaderValue)> {
    let user = &session.user;
    let groups = (!user.groups.is_empty()).then(|| user.groups.join(","));
    let fields = [
        (IdentityField::User, Some(user.id.as_str())),
        (IdentityField::Provider, Some(session.provider.as_str())),
        (IdentityField::Username, user.username.as_deref()),
        (IdentityField::Email, user.email.as_deref()),
        (IdentityField::Name, user.name.as_deref()),
        (IdentityField::Groups, groups.as_deref()),
        (IdentityField::Source, Some(session.source.as_str())),
    ];
    let text = fields.iter().filter_map(|(_, value)| *value).collect::<String>();
    let buffer = match store.keep(&text) {
        Some(kept) => Bytes::from_static(kept.as_bytes()),
        None => Bytes::from(text),
    };
    let mut start = 0;
    fields
        .into_iter()
        .filter_map(|(field, value)| {
            let range = start..start + value?.len();
            start = range.end;
            Some((field, HeaderValue::from_maybe_shared(buffer.slice(range)).ok()?))
        })
        .collect()
}

/// The header that carries `field`. Constants, so a response gets its names
/// without cloning any: a name's clone is a call through its `Bytes` vtable,
/// and the copy it returns, read back at other widths, stalls the loads
/// that follow (most of `with_identity`'s time in a `perf` profile).
fn header_name(field: IdentityField) -> HeaderName {
    match field {
        IdentityField::User => const { HeaderName::from_static(USER) },
        IdentityField::Provider => const { HeaderName::from_static(PROVIDER) },
        IdentityField::Username => const { HeaderName::from_static(USERNAME) },
        IdentityField::Email => const { HeaderName::from_static(EMAIL) },
        IdentityField::Name => const { HeaderName::from_static(NAME) },
        IdentityField::Groups => const { HeaderName::from_static(GROUPS) },
        IdentityField::Source => const { HeaderName::from_static(SOURCE) },
    }
}

/// A 200 carrying the identity headers of `session`, put straight into the
/// response's (pooled) header map. Cheaper than the builder's
/// `insert_header`, and than cloning a prepared map, by instruction counts.
/// `append`, not `insert`: the map is fresh and the names are distinct, so
/// both give the same map, and `append` does not move out a replaced value.
/// `HttpResponse::new`, not the builder: the same empty 200 without the
/// builder's error slot and body conversion (about 1 % of throughput with
/// the server on its own core).
fn with_identity(session: &Session) -> HttpResponse {
    let mut response = HttpResponse::new(StatusCode::OK);
    let headers = response.headers_mut();
    for &(field, ref value) in session.identity_headers(build_identity_headers) {
        headers.append(header_name(field), value.clone());
    }
    response
}

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
    /// A 200 that still needs the provider's access token; `required` when
    /// the policy demands a fresh one.
    NeedsToken { response: HttpResponse, required: bool },
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
/// in the app data. The session still comes from [`load_with`], so it is
/// opened once and kept in the request's extensions like everywhere else.
pub fn service(
    sessions: web::Data<SessionService>,
    state: web::Data<AppState>,
) -> impl ServiceFactory<ServiceRequest, Config = (), Response = ServiceResponse, Error = actix_web::Error, InitError = ()>
{
    fn_service(move |req: ServiceRequest| verify(req, &sessions, &state))
}

/// The answer is ready at once. Only passing a provider's access token may
/// need the network (a refresh), so only that case gets a boxed future.
fn verify(
    req: ServiceRequest,
    sessions: &SessionService,
    state: &web::Data<AppState>,
) -> Either<Ready<Served>, LocalBoxFuture<'static, Served>> {
    let session = load_with(req.request(), sessions);
    let (mut response, required) = match verdict(req.request(), state, &session) {
        Verdict::Done(answer) => return Either::Left(ready(Ok(req.into_response(respond(answer))))),
        Verdict::NeedsToken { response, required } => (response, required),
    };
    let Some(session) = session.shared().cloned() else {
        return Either::Left(ready(Ok(req.into_response(response))));
    };
    let state = state.clone();
    Either::Right(Box::pin(async move {
        let answer = pass_access_token(req.request(), &state, &session, required, &mut response).await;
        Ok(req.into_response(respond(answer.map(|()| response))))
    }))
}

fn verdict(req: &HttpRequest, state: &AppState, loaded: &SessionState) -> Verdict {
    let session = loaded.session();
    // `allow_*` narrowing, also percent-encoded (`allow%5Fgroups`), applies even without rules.
    let decision = if state.policy_active || narrows(req.query_string()) {
        decide(req, state, session)
    } else if session.is_some() {
        Decision::Allow { fresh_token: false }
    } else {
        Decision::Unauthenticated
    };
    let required = match decision {
        Decision::Allow { fresh_token } => fresh_token,
        Decision::Forbidden => return Verdict::Done(Err(AppError::Forbidden("forbidden"))),
        Decision::Unauthenticated if loaded.bad_bearer() => return Verdict::Done(Err(AppError::InvalidToken)),
        Decision::Unauthenticated => {
            return Verdict::Done(match wants_redirect(req).then(|| signin_redirect(req)).flatten() {
                Some(redirect) => Ok(redirect),
                None => Err(AppError::Unauthenticated),
            })
        }
    };
    // A public route lets anonymous requests through with no identity.
    let Some(session) = session else {
        return Verdict::Done(Ok(HttpResponse::new(StatusCode::OK)));
    };
    let mut response = with_identity(session);
    if state.policy_active {
        let permissions = state.policy.permissions(&session.user);
        if let Ok(value) = HeaderValue::from_str(&permissions.join(",")) {
            if !permissions.is_empty() {
                response.headers_mut().insert(HeaderName::from_static(PERMISSIONS), value);
            }
        }
    }
    // Only sessions from a provider that passes its token take the slow
    // path: another provider's doing so must not slow everyone else down.
    if required || state.passes_token(&session.provider) {
        return Verdict::NeedsToken { response, required };
    }
    Verdict::Done(Ok(response))
}

/// The policy's decision for the request the proxy describes. Host and path
/// come from `X-Forwarded-Host` and `X-Forwarded-Uri` (or `X-Original-URI`),
/// believed only from trusted proxies; `allow_*` query parameters narrow it.
fn decide(req: &HttpRequest, state: &AppState, session: Option<&Session>) -> Decision {
    let target = state.proxies.policy_target(req, state.policy.needs_target());
    let narrowing = AllowLists::from_query(req.query_string());
    let who = session.map(|s| Principal { user: &s.user, provider: &s.provider, scopes: s.scopes.as_deref() });
    state.policy.decide(&target, who.as_ref(), &narrowing)
}

/// `X-Auth-Access-Token`, fresh, for providers with `pass_access_token` or
/// routes whose rule demands a fresh token. A token that cannot be
/// refreshed right now is not passed (and, where the rule demands one, the
/// request is refused); a revoked grant ends the session.
async fn pass_access_token(
    req: &HttpRequest,
    state: &AppState,
    session: &Session,
    required: bool,
    response: &mut HttpResponse,
) -> Result<(), AppError> {
    let provider = state.providers.get(&session.provider);
    let passes = provider.is_some_and(|p| p.pass_access_token);
    if !passes && !required {
        return Ok(());
    }
    let Some(sessions) = req.app_data::<web::Data<SessionService>>() else {
        return Ok(());
    };
    match state.refresher.fresh(&sessions.codec, provider.map(|p| p.as_ref()), session).await {
        TokenStatus::Fresh { tokens, refreshed } => {
            if let Some(refreshed) = refreshed {
                set_session(req, &refreshed)?;
            }
            if let (true, Ok(value)) = (passes, HeaderValue::from_str(tokens.access_token.expose_secret())) {
                response.headers_mut().insert(HeaderName::from_static(ACCESS_TOKEN), value);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::domain::User;
    use crate::keys::{JwkSet, KeyAlg};
    use crate::session::{Lifetimes, SessionCodec};
    use std::sync::Arc;

    fn session_for_ivy(codec: &SessionCodec, name: &str) -> Session {
        let mut user = User::new("ivy");
        user.email = Some("ivy@example.com".into());
        user.name = Some(name.into());
        user.groups = vec!["admins".into(), "staff".into()];
        codec.start(user, "credentials", true, None).unwrap()
    }

    fn codec() -> SessionCodec {
        let keys = JwkSet::generate(KeyAlg::Dir);
        let clock = Arc::new(ManualClock::at(1_800_000_000));
        SessionCodec::new(&keys, clock, Lifetimes { idle: 3600, absolute: 7200 }, 8192).unwrap()
    }

    fn as_text(headers: Vec<(IdentityField, HeaderValue)>) -> Vec<(String, String)> {
        headers
            .into_iter()
            .map(|(field, value)| (header_name(field).to_string(), value.to_str().unwrap().to_owned()))
            .collect()
    }

    #[test]
    fn identity_headers_carry_each_field_once_and_skip_absent_and_unsendable_values() {
        // A control character: not sendable, skipped.
        let session = session_for_ivy(&codec(), "Ivy\u{1}");
        let expected = [
            (USER, "ivy"),
            (PROVIDER, "credentials"),
            (EMAIL, "ivy@example.com"),
            (GROUPS, "admins,staff"),
            (SOURCE, "cookie"),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned()));
        assert_eq!(as_text(build_identity_headers(&session)), expected, "kept in the process-wide store");
        let spent = KeptText::new(0);
        assert_eq!(as_text(build_identity_headers_in(&session, &spent)), expected, "on shared bytes");
    }

    #[test]
    fn an_identity_is_kept_once_for_all_its_sessions_while_the_store_has_room() {
        let codec = codec();
        let (first, second) = (session_for_ivy(&codec, "Ivy Zoë"), session_for_ivy(&codec, "Ivy Zoë"));
        assert_ne!(first.id, second.id);
        let shares = |store: &KeptText| {
            let (a, b) = (build_identity_headers_in(&first, store), build_identity_headers_in(&second, store));
            assert_eq!(a, b);
            assert_eq!(a.len(), 6, "non-ASCII names are sent too");
            a.iter().zip(&b).all(|((_, x), (_, y))| std::ptr::eq(x.as_bytes().as_ptr(), y.as_bytes().as_ptr()))
        };
        assert!(shares(&KeptText::new(1 << 10)), "one kept text for both sessions");
        assert!(!shares(&KeptText::new(0)), "a spent store: each session has its own bytes");
    }
}
