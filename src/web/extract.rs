//! Who is asking, per request: identified at most once, kept in the
//! request's extensions, and reached through extractors.
//!
//! - [`MaybeIdentity`]: what the request's credentials came to; never fails.
//! - [`SignedIn`]: an identity, or 401.
//! - [`SameOrigin`]: a state-changing request from our own origin, or 403.
//! - [`set_session`] / [`clear_session`] / [`clear_refused`]: queue a
//!   session-cookie change that the [`Identify`](super::Identify)
//!   middleware writes on the response, along with any sliding renewal
//!   decided when the session was opened.

use super::origin::OriginCheck;
use crate::credentials::{Credentials, Identified, Outcome};
use crate::errors::AppError;
use crate::session::{Session, SessionCodec};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::{ready, Ready};
use std::sync::Arc;

/// A queued change of the session cookie.
#[derive(Debug)]
pub(super) enum CookieUpdate {
    Set {
        value: String,
        max_age: Option<i64>,
    },
    /// Remove the session cookie and every possible chunk (sign-out).
    Clear,
    /// Remove only the session cookies the request carried (a refused cookie).
    ClearPresent,
}

/// The outcome of identifying this request, and any cookie change due.
/// Kept by value in the request's extensions; extractors hand out copies
/// of its [`Outcome`].
#[derive(Debug)]
pub(super) struct RequestIdentity {
    pub(super) outcome: Outcome,
    pub(super) update: Option<CookieUpdate>,
}

impl RequestIdentity {
    pub(super) fn new(outcome: Outcome) -> RequestIdentity {
        RequestIdentity { outcome, update: None }
    }
}

pub(super) fn credentials(req: &HttpRequest) -> Option<&Credentials> {
    req.app_data::<web::Data<Credentials>>().map(|data| data.get_ref())
}

/// The cookie's `Max-Age` for a session: none for a browser-session cookie.
fn max_age(codec: &SessionCodec, session: &Session) -> Option<i64> {
    session.remember.then(|| session.expires_at - codec.now())
}

/// Identify `req` without I/O, and renew its session when renewal is due.
fn identify(req: &HttpRequest, credentials: &Credentials) -> RequestIdentity {
    let outcome = credentials.identify_now(req);
    let renewed = outcome.session().and_then(|session| {
        let codec = &credentials.codec;
        let renewed = codec.renewal(session)?;
        let value = codec.seal(&renewed).ok()?;
        let max_age = max_age(codec, &renewed);
        let identity = renewed.identity()?;
        Some((Identified::new(identity, Some(renewed)), CookieUpdate::Set { value, max_age }))
    });
    match renewed {
        Some((renewed, update)) => {
            RequestIdentity { outcome: Outcome::Identified(Arc::new(renewed)), update: Some(update) }
        }
        None => RequestIdentity::new(outcome),
    }
}

/// This request's identity, found on first use and reused after.
pub fn load(req: &HttpRequest) -> Outcome {
    match credentials(req) {
        Some(credentials) => load_with(req, credentials),
        None => {
            tracing::error!("Credentials are not registered; every request is anonymous");
            Outcome::Absent
        }
    }
}

/// [`load`], for a caller that holds the credentials already.
pub fn load_with(req: &HttpRequest, credentials: &Credentials) -> Outcome {
    if let Some(loaded) = req.extensions().get::<RequestIdentity>() {
        return loaded.outcome.clone();
    }
    let loaded = identify(req, credentials);
    let outcome = loaded.outcome.clone();
    req.extensions_mut().insert(loaded);
    outcome
}

/// Change this request's record (identifying the request first if need be).
fn update(req: &HttpRequest, change: impl FnOnce(&mut RequestIdentity)) {
    load(req);
    if let Some(loaded) = req.extensions_mut().get_mut::<RequestIdentity>() {
        change(loaded);
    }
}

/// Seal `session` and set it as this response's session cookie.
pub fn set_session(req: &HttpRequest, session: &Session) -> Result<(), AppError> {
    let credentials = credentials(req).ok_or_else(|| AppError::internal("Credentials are not registered"))?;
    let value = credentials.codec.seal(session).map_err(AppError::internal)?;
    let max_age = max_age(&credentials.codec, session);
    update(req, |loaded| loaded.update = Some(CookieUpdate::Set { value, max_age }));
    Ok(())
}

/// Remove a refused session cookie (the chunks the request carried).
pub fn clear_refused(req: &HttpRequest) {
    update(req, |loaded| {
        if matches!(loaded.outcome, Outcome::Refused(refusal) if !refusal.is_bearer()) {
            loaded.update = Some(CookieUpdate::ClearPresent);
        }
    });
}

/// Remove the session cookie (every chunk) on this response.
pub fn clear_session(req: &HttpRequest) {
    update(req, |loaded| loaded.update = Some(CookieUpdate::Clear));
}

/// What the request's credentials came to, refusals included.
pub struct MaybeIdentity(pub Outcome);

impl MaybeIdentity {
    /// The identity, when the request proved one.
    pub fn get(&self) -> Option<&Arc<Identified>> {
        self.0.identified()
    }

    /// 401 `invalid_token` for a refused Bearer token, else the identity if any.
    pub fn unless_bad_bearer(&self) -> Result<Option<&Arc<Identified>>, AppError> {
        if self.0.bad_bearer() {
            return Err(AppError::InvalidToken);
        }
        Ok(self.get())
    }
}

impl FromRequest for MaybeIdentity {
    type Error = std::convert::Infallible;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(MaybeIdentity(load(req))))
    }
}

/// A request that proved who it is; 401 otherwise.
pub struct SignedIn(pub Arc<Identified>);

impl FromRequest for SignedIn {
    type Error = AppError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match load(req) {
            Outcome::Identified(identified) => Ok(SignedIn(identified)),
            outcome if outcome.bad_bearer() => Err(AppError::InvalidToken),
            _ => Err(AppError::Unauthenticated),
        })
    }
}

/// A state-changing request that a browser sent from our own origin (or a
/// non-browser client sent); 403 `cross_site_request` otherwise. Put it
/// first among a handler's extractors, so a cross-site request is refused
/// before its body is read.
pub struct SameOrigin;

impl FromRequest for SameOrigin {
    type Error = AppError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // No check registered: refuse rather than allow (fail closed).
        let allowed = req.app_data::<web::Data<OriginCheck>>().is_some_and(|check| check.allows(req));
        ready(if allowed { Ok(SameOrigin) } else { Err(AppError::Forbidden("cross_site_request")) })
    }
}
