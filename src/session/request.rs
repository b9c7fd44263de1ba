//! The session of the current request: opened at most once, kept in the
//! request's extensions, and reached through extractors.
//!
//! - [`MaybeSession`]: the session if there is a valid one; never fails.
//! - [`SignedIn`]: the session, or 401.
//! - [`set_session`] / [`clear_session`]: queue a cookie change that the
//!   [`SessionCookies`] middleware writes on the response, along with any
//!   sliding renewal decided when the session was opened.

use super::cookie::CookieSpec;
use super::{Session, SessionCodec, SessionError};
use crate::api_tokens::ApiTokens;
use crate::bearer::ProviderBearer;
use crate::errors::AppError;
use actix_web::body::MessageBody;
use actix_web::dev::{forward_ready, Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderValue, AUTHORIZATION, CACHE_CONTROL};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::{ready, LocalBoxFuture, Ready};
use std::rc::Rc;
use std::sync::Arc;

/// Everything needed to read and write session cookies, and to open Bearer tokens.
#[derive(Debug)]
pub struct SessionService {
    pub codec: SessionCodec,
    pub cookies: CookieSpec,
    pub api_tokens: ApiTokens,
    /// Providers' own tokens (JWTs, introspection), verified asynchronously
    /// by [`SessionCookies`] before the handler runs.
    pub provider_bearer: ProviderBearer,
}

/// A sealgate API token is a compact JWE (five segments); anything else in
/// a Bearer header may be a provider's token.
fn is_api_token(token: &str) -> bool {
    memchr::memchr_iter(b'.', token.as_bytes()).count() == 4
}

/// A Bearer token for the provider-token verifier, when it should see this request.
fn provider_token(req: &HttpRequest) -> Option<(web::Data<SessionService>, String)> {
    // Cheapest test first: most requests carry no Authorization header,
    // and most deployments verify no provider tokens.
    req.headers().get(AUTHORIZATION)?;
    let service = req.app_data::<web::Data<SessionService>>()?;
    if !service.provider_bearer.is_active() {
        return None;
    }
    let token = bearer(req)??;
    (!is_api_token(token)).then(|| (service.clone(), token.to_owned()))
}

/// The token of an `Authorization: Bearer <token>` header. `Some(None)` for
/// an Authorization header that is not a well-formed Bearer credential.
///
/// Works on bytes: `HeaderValue::to_str` and a `char` scan cost more than
/// opening a cached token. The scheme is compared as bytes, and the token
/// must be printable ASCII with no spaces, so it is valid UTF-8.
fn bearer(req: &HttpRequest) -> Option<Option<&str>> {
    let header = req.headers().get(AUTHORIZATION)?;
    Some(bearer_token(header.as_bytes()))
}

fn bearer_token(value: &[u8]) -> Option<&str> {
    let (scheme, token) = value.split_at_checked(value.iter().position(|&b| b == b' ')?)?;
    let token = token.trim_ascii();
    let well_formed = scheme.eq_ignore_ascii_case(b"bearer")
        && !token.is_empty()
        && token.len() <= 16 * 1024
        // `fold`, not `all`: no early exit, so it compiles to SIMD (tokens run to kilobytes).
        && token.iter().fold(true, |graphic, b| graphic & b.is_ascii_graphic());
    if !well_formed {
        return None;
    }
    std::str::from_utf8(token).ok()
}

#[derive(Debug, Clone)]
pub enum SessionState {
    /// No session cookie was sent.
    Absent,
    /// A cookie was sent and refused.
    Invalid(SessionError),
    Valid(Arc<Session>),
}

#[derive(Debug)]
enum CookieUpdate {
    Set {
        value: String,
        max_age: Option<i64>,
    },
    /// Remove the session cookie and every possible chunk (sign-out).
    Clear,
    /// Remove only the session cookies the request carried (a refused cookie).
    ClearPresent,
}

/// The outcome of opening this request's session, and any cookie change
/// due. Kept by value in the request's extensions (one allocation, made by
/// the extensions); extractors hand out copies of its [`SessionState`].
#[derive(Debug)]
struct RequestSession {
    state: SessionState,
    update: Option<CookieUpdate>,
}

impl RequestSession {
    fn new(state: SessionState) -> RequestSession {
        RequestSession { state, update: None }
    }
}

impl SessionState {
    pub fn session(&self) -> Option<&Session> {
        self.shared().map(|session| &**session)
    }

    /// The session, shared (no copy).
    pub fn shared(&self) -> Option<&Arc<Session>> {
        match self {
            SessionState::Valid(session) => Some(session),
            _ => None,
        }
    }

    /// Whether the request carried an invalid Bearer token.
    pub fn bad_bearer(&self) -> bool {
        matches!(self, SessionState::Invalid(SessionError::Bearer))
    }
}

fn service(req: &HttpRequest) -> Option<&SessionService> {
    req.app_data::<web::Data<SessionService>>().map(|data| data.get_ref())
}

/// The cookie's `Max-Age` for a session: none for a browser-session cookie.
fn max_age(codec: &SessionCodec, session: &Session) -> Option<i64> {
    session.remember.then(|| session.expires_at - codec.now())
}

fn open(req: &HttpRequest, service: &SessionService) -> RequestSession {
    // A Bearer token, when present, decides alone: no quiet fallback to the cookie.
    // (A provider's token was verified by the middleware and is already in
    // the extensions; one reaching here is refused.)
    if let Some(token) = bearer(req) {
        let opened = token.filter(|t| is_api_token(t)).map(|t| service.api_tokens.open_session(t));
        return match opened {
            Some(Ok(session)) => RequestSession::new(SessionState::Valid(session)),
            _ => RequestSession::new(SessionState::Invalid(SessionError::Bearer)),
        };
    }
    let Some((opened, now)) = open_cookie(req, service) else {
        return RequestSession::new(SessionState::Absent);
    };
    match opened {
        Ok(session) => {
            let renewed = service.codec.renewal_at(&session, now).and_then(|renewed| {
                let value = service.codec.seal(&renewed).ok()?;
                let max_age = max_age(&service.codec, &renewed);
                Some((renewed, CookieUpdate::Set { value, max_age }))
            });
            match renewed {
                Some((renewed, update)) => {
                    RequestSession { state: SessionState::Valid(Arc::new(renewed)), update: Some(update) }
                }
                None => RequestSession::new(SessionState::Valid(session)),
            }
        }
        Err(error) => {
            tracing::debug!(reason = error.code(), "session cookie refused");
            // Refusals are not cleared here: /auth/verify is the hot path, and its
            // Set-Cookie rarely reaches the browser. Browser-facing pages call
            // `clear_refused`, and the next sign-in replaces the cookie anyway.
            RequestSession::new(SessionState::Invalid(error))
        }
    }
}

/// The session cookie opened, and the time it was checked at; `None` when
/// the request carries no session cookie.
///
/// A token this worker has seen lately is tried first, as the whole of the
/// first `Cookie` header after `NAME=`: only an exact match with a whole
/// token counts, so a header with more cookies misses and is parsed as
/// usual, and a hit skips scanning a kilobyte or more for `;`.
fn open_cookie(req: &HttpRequest, service: &SessionService) -> Option<(Result<Arc<Session>, SessionError>, i64)> {
    let likely = service.cookies.likely_sole(req).map(|value| (value, service.codec.now()));
    if let Some(opened) = likely.and_then(|(value, now)| Some((service.codec.open_recent_at(value, now)?, now))) {
        return Some(opened);
    }
    let raw = match service.cookies.read(req) {
        Ok(None) => return None,
        Ok(Some(raw)) => Ok(raw),
        Err(_) => Err(SessionError::Chunks),
    };
    let now = likely.map_or_else(|| service.codec.now(), |(_, now)| now);
    Some((raw.and_then(|raw| service.codec.open_at(&raw, now)), now))
}

/// This request's session state, opened on first use and reused after.
pub fn load(req: &HttpRequest) -> SessionState {
    match service(req) {
        Some(service) => load_with(req, service),
        None => {
            tracing::error!("SessionService is not registered; every request is anonymous");
            SessionState::Absent
        }
    }
}

/// [`load`], for a caller that holds the session service already.
pub fn load_with(req: &HttpRequest, service: &SessionService) -> SessionState {
    if let Some(loaded) = req.extensions().get::<RequestSession>() {
        return loaded.state.clone();
    }
    let loaded = open(req, service);
    let state = loaded.state.clone();
    req.extensions_mut().insert(loaded);
    state
}

/// Change this request's record (opening the session first if need be).
fn update(req: &HttpRequest, change: impl FnOnce(&mut RequestSession)) {
    load(req);
    if let Some(loaded) = req.extensions_mut().get_mut::<RequestSession>() {
        change(loaded);
    }
}

/// Seal `session` and set it as this response's session cookie.
pub fn set_session(req: &HttpRequest, session: &Session) -> Result<(), AppError> {
    let service = service(req).ok_or_else(|| AppError::internal("SessionService is not registered"))?;
    let value = service.codec.seal(session).map_err(AppError::internal)?;
    let max_age = max_age(&service.codec, session);
    update(req, |loaded| loaded.update = Some(CookieUpdate::Set { value, max_age }));
    Ok(())
}

/// Remove a refused session cookie (the chunks the request carried).
pub fn clear_refused(req: &HttpRequest) {
    update(req, |loaded| {
        if matches!(loaded.state, SessionState::Invalid(_)) {
            loaded.update = Some(CookieUpdate::ClearPresent);
        }
    });
}

/// Remove the session cookie (every chunk) on this response.
pub fn clear_session(req: &HttpRequest) {
    update(req, |loaded| loaded.update = Some(CookieUpdate::Clear));
}

/// The session, if the request carries a valid one.
pub struct MaybeSession(SessionState);

impl MaybeSession {
    pub fn get(&self) -> Option<&Session> {
        self.0.session()
    }

    /// What opening the session gave, refusals included.
    pub fn state(&self) -> &SessionState {
        &self.0
    }
}

impl FromRequest for MaybeSession {
    type Error = std::convert::Infallible;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(MaybeSession(load(req))))
    }
}

/// A request from a signed-in person; 401 otherwise.
pub struct SignedIn(pub Arc<Session>);

impl FromRequest for SignedIn {
    type Error = AppError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match load(req) {
            SessionState::Valid(session) => Ok(SignedIn(session)),
            SessionState::Invalid(SessionError::Bearer) => Err(AppError::InvalidToken),
            _ => Err(AppError::Unauthenticated),
        })
    }
}

/// Middleware that writes queued session cookie changes on the response.
pub struct SessionCookies;

impl<S, B> Transform<S, ServiceRequest> for SessionCookies
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = SessionCookiesMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(SessionCookiesMiddleware { service: Rc::new(service) }))
    }
}

pub struct SessionCookiesMiddleware<S> {
    service: Rc<S>,
}

/// Write a queued session cookie change on the response.
fn write_cookie_update<B>(mut res: ServiceResponse<B>) -> Result<ServiceResponse<B>, actix_web::Error> {
    let update = res.request().extensions_mut().get_mut::<RequestSession>().and_then(|loaded| loaded.update.take());
    let Some(update) = update else {
        return Ok(res);
    };
    let request = res.request().clone();
    let Some(service) = service(&request) else {
        return Ok(res);
    };
    let cookies = match update {
        CookieUpdate::Clear => service.cookies.clear(),
        CookieUpdate::ClearPresent => service.cookies.clear_present(&request),
        CookieUpdate::Set { value, max_age } => match service.cookies.write(&request, &value, max_age) {
            Ok(cookies) => cookies,
            Err(_) => {
                tracing::error!(bytes = value.len(), "session is too large for the configured cookie chunks");
                return Ok(res);
            }
        },
    };
    let response = res.response_mut();
    for cookie in cookies {
        response.add_cookie(&cookie)?;
    }
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

impl<S, B> Service<ServiceRequest> for SessionCookiesMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        // A provider's token may need the network (JWKS, introspection):
        // verify it here, asynchronously, and leave the outcome where the
        // extractors look, before the handler runs.
        if let Some((sessions, token)) = provider_token(req.request()) {
            let service = Rc::clone(&self.service);
            return Box::pin(async move {
                let state = match sessions.provider_bearer.verify(&token).await {
                    Ok(session) => SessionState::Valid(session),
                    Err(reason) => {
                        tracing::debug!(%reason, "provider token refused");
                        SessionState::Invalid(SessionError::Bearer)
                    }
                };
                req.extensions_mut().insert(RequestSession::new(state));
                write_cookie_update(service.call(req).await?)
            });
        }
        let fut = self.service.call(req);
        Box::pin(async move { write_cookie_update(fut.await?) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::config::{Settings, DEFAULT_CONFIG};
    use crate::domain::User;
    use crate::keys::{JwkSet, KeyAlg};
    use crate::session::Lifetimes;
    use actix_web::http::header::{COOKIE, SET_COOKIE};
    use actix_web::{test, App, HttpResponse};
    use std::sync::Arc;

    /// A handler that reaches the session three ways and checks that all
    /// three see the one opening.
    async fn three_ways(req: HttpRequest, maybe: MaybeSession, signed_in: SignedIn) -> HttpResponse {
        // A renewal makes a new session on each opening: one opening, one `Arc`.
        let again = load(&req);
        let same = [again.shared(), maybe.state().shared()]
            .into_iter()
            .all(|shared| shared.is_some_and(|shared| Arc::ptr_eq(shared, &signed_in.0)));
        let user = signed_in.0.user.id.clone();
        HttpResponse::Ok().body(format!("{same} {user}"))
    }

    /// A session service on `clock` (idle lifetime 100 s), and a token for
    /// user `ivy` sealed by it.
    fn service_and_token(clock: &ManualClock) -> (web::Data<SessionService>, String) {
        let settings = Settings::from_toml(DEFAULT_CONFIG).unwrap();
        let keys = JwkSet::generate(KeyAlg::Dir);
        let codec =
            SessionCodec::new(&keys, Arc::new(clock.clone()), Lifetimes { idle: 100, absolute: 1000 }, 8192).unwrap();
        let api_tokens = ApiTokens::new(&keys, Arc::new(clock.clone()), None, 3600).unwrap();
        let token = codec.seal(&codec.start(User::new("ivy"), "credentials", true, None).unwrap()).unwrap();
        let provider_bearer = ProviderBearer::none(Arc::new(clock.clone()));
        let service = web::Data::new(SessionService {
            codec,
            cookies: CookieSpec::from_settings(&settings),
            api_tokens,
            provider_bearer,
        });
        (service, token)
    }

    #[actix_web::test]
    async fn the_session_is_opened_once_per_request_and_renewed_once() {
        let clock = ManualClock::at(1_800_000_000);
        let (service, token) = service_and_token(&clock);
        let app =
            test::init_service(App::new().wrap(SessionCookies).app_data(service).route("/", web::get().to(three_ways)))
                .await;

        clock.advance(60); // past half the idle lifetime: a renewal is due
        let req = test::TestRequest::get().uri("/").insert_header((COOKIE, format!("sealgate={token}"))).to_request();
        let response = test::call_service(&app, req).await;
        let set_cookies = response.headers().get_all(SET_COOKIE).count();
        assert_eq!(test::read_body(response).await, "true ivy");
        assert_eq!(set_cookies, 1, "one renewal, written once");
    }

    async fn state(maybe: MaybeSession) -> HttpResponse {
        HttpResponse::Ok().body(match maybe.state() {
            SessionState::Absent => "absent".to_owned(),
            SessionState::Invalid(error) => format!("invalid: {error:?}"),
            SessionState::Valid(session) => format!("valid: {}", session.user.id),
        })
    }

    /// The hot path first tries the first `Cookie` header, whole, as a token
    /// this worker opened lately, before it scans the header (`open_cookie`).
    /// Whatever the header looks like, the answer must be the one the scan
    /// gives: the first `NAME=` pair of the first header, or its chunks.
    #[actix_web::test]
    async fn a_token_seen_lately_is_read_as_the_header_scan_would_read_it() {
        let clock = ManualClock::at(1_800_000_000);
        let (service, token) = service_and_token(&clock);
        let app = test::init_service(App::new().app_data(service).route("/", web::get().to(state))).await;
        let ask = |headers: &[&str]| {
            let req = headers
                .iter()
                .fold(test::TestRequest::get().uri("/"), |req, &header| req.append_header((COOKIE, header)));
            let app = &app;
            async move { String::from_utf8(test::call_and_read_body(app, req.to_request()).await.to_vec()).unwrap() }
        };

        let valid = "valid: ivy";
        let sole = format!("sealgate={token}");
        // Opened once by the scan, then again, now from the recent tokens.
        assert_eq!(ask(&[&sole]).await, valid);
        assert_eq!(ask(&[&sole]).await, valid);
        for header in [
            format!("sealgate={token}; theme=dark"),
            format!("sealgate={token};"),
            format!("theme=dark; sealgate={token}"),
            format!("sealgate_1={token}"),
        ] {
            assert_eq!(ask(&[&header]).await, valid, "{header}");
        }
        // A known token with more after it is not that token.
        for header in [format!("sealgate={token}x"), format!("sealgate={token}{token}"), format!("sealgate={token} x")]
        {
            assert!(ask(&[&header]).await.starts_with("invalid"), "{header}");
        }
        // The first pair of the first header wins, as in the scan.
        let first_pairs = format!("sealgate=x; sealgate={token}");
        for headers in [[first_pairs.as_str(), "theme=dark"], ["sealgate=x", &sole]] {
            assert!(ask(&headers).await.starts_with("invalid"), "{headers:?}");
        }
        assert_eq!(ask(&["theme=dark", &sole]).await, valid);
        assert_eq!(ask(&["theme=dark"]).await, "absent");
        // A token's times are checked on every request, from the recent tokens too.
        clock.advance(100);
        assert_eq!(ask(&[&sole]).await, "invalid: Expired");
        assert_eq!(ask(&[&format!("sealgate={token}; theme=dark")]).await, "invalid: Expired");
    }
}

#[cfg(test)]
mod bearer_tests {
    use super::*;

    /// The byte-level parser against the plain definition it replaced
    /// (visible ASCII, split at the first space, trim, no whitespace inside).
    #[test]
    fn bearer_token_accepts_exactly_what_the_plain_definition_accepts() {
        use rand::seq::SliceRandom;
        use rand::{Rng, SeedableRng};
        fn plain(value: &[u8]) -> Option<&str> {
            HeaderValue::from_bytes(value).ok()?.to_str().ok()?;
            let value = std::str::from_utf8(value).ok()?;
            let (scheme, token) = value.split_once(' ')?;
            let token = token.trim();
            let ok = scheme.eq_ignore_ascii_case("bearer")
                && !token.is_empty()
                && token.len() <= 16 * 1024
                && !token.contains(|c: char| c.is_whitespace());
            ok.then_some(token)
        }
        let parts: [&[u8]; 14] = [
            b"Bearer",
            b"bearer",
            b"BEARER",
            b"Basic",
            b"Bearerx",
            b" ",
            b"  ",
            b"\t",
            b"eyJ.a-b_c",
            b"x y",
            b"\x7f",
            b"\xc3\xa9",
            b"=",
            b"~",
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut accepted = 0;
        for _ in 0..50_000 {
            let mut value: Vec<u8> = if rng.gen_bool(0.5) { b"Bearer ".to_vec() } else { Vec::new() };
            value.extend((0..rng.gen_range(1..6)).flat_map(|_| parts.choose(&mut rng).unwrap().to_vec()));
            if HeaderValue::from_bytes(&value).is_err() {
                continue;
            }
            assert_eq!(bearer_token(&value), plain(&value), "{:?}", String::from_utf8_lossy(&value));
            accepted += usize::from(plain(&value).is_some());
        }
        assert!(accepted > 1_000, "the generator must produce good tokens too ({accepted})");
        let long = format!("Bearer {}", "a".repeat(16 * 1024 + 1));
        assert_eq!(bearer_token(long.as_bytes()), None);
    }
}

#[cfg(test)]
mod proptests;
