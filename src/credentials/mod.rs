//! Every way a request proves who it is, behind one
//! [`Credentials::identify`], and the one open-cache they share.
//!
//! The order, written once ([`Credentials::presented`]): an
//! `Authorization: Bearer` token first, and when there is one it decides
//! alone (no quiet fallback to the cookie). A sealgate API token (a compact
//! JWE, five segments) is opened here; anything else is a provider's token
//! (a JWT checked against its issuer, or an opaque token the provider is
//! asked about). Without a Bearer token, the session cookie.
//!
//! - [`bearer`]: the byte-level `Authorization` parse.
//! - [`api_token`]: sealgate API tokens and their deny list.
//! - [`provider_token`]: provider JWTs and introspection, never a refresh
//!   token the gateway holds.
//! - [`cache`]: the open-cache (decrypt, or verify, once per token).
//!
//! Each credential becomes an [`Identified`]: the [`Identity`], and for a
//! session cookie the [`Session`] it was sealed in.

pub mod api_token;
pub mod bearer;
mod cache;
pub mod provider_token;

pub use api_token::{ApiToken, ApiTokenError, ApiTokens};
pub use provider_token::{BearerError, ProviderBearer};

use crate::config::SessionSettings;
use crate::crypto::jwe::OpenError;
use crate::crypto::keys;
use crate::identity::Identity;
use crate::providers::credentials::{CredentialsProvider, PROVIDER_ID};
use crate::session::cookie::{ChunkError, CookieSpec};
use crate::session::{Session, SessionCodec, SessionError};
use crate::store::{RevocationView, Verdict};
use actix_web::http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use actix_web::HttpRequest;
use cache::OpenCache;
use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How long an opened token stays cached without being used.
const OPEN_CACHE_IDLE: Duration = Duration::from_secs(600);

/// Identity headers, as `(name, value)` pairs.
pub type Headers = Box<[(HeaderName, HeaderValue)]>;

/// A credential, opened: who it proves, and for a session cookie the
/// session itself (for renewal, provider tokens and sign-out).
#[derive(Debug)]
pub struct Identified {
    pub identity: Identity,
    pub session: Option<Session>,
    /// The identity headers, built once per opened token (by `web`).
    headers: OnceLock<Headers>,
    /// The `X-Auth-Assertion` last sent for this credential (with `[assertion]`).
    pub assertion: crate::assertion::Slot,
}

impl Identified {
    pub fn new(identity: Identity, session: Option<Session>) -> Identified {
        Identified { identity, session, headers: OnceLock::new(), assertion: Default::default() }
    }

    /// The bytes this credential takes on the heap once its headers are
    /// built: the `Arc`'s chunk (the identity and the session inline in
    /// it), the identity's text, the session's (its own copy of the user,
    /// its provider tokens sealed and opened), and the identity headers (a
    /// pair per header, a chunk per value: at most the user's text again,
    /// and the provider and source). What the open-cache weighs an identity
    /// by, before its own bookkeeping.
    pub fn heap_bytes(&self) -> usize {
        use crate::heap::{arc, block, items, text};
        let identity = &self.identity;
        let user = identity.user.heap_bytes();
        let scopes = identity
            .scopes
            .as_ref()
            .map_or(0, |scopes| items::<String>(scopes.len()) + scopes.iter().map(|scope| text(scope)).sum::<usize>());
        let headers = crate::config::assertion::DEFAULT_HEADERS.len() + identity.user.claims.len();
        let headers = items::<(HeaderName, HeaderValue)>(headers) + user + 2 * block(16);
        arc::<Identified>()
            + text(&identity.id)
            + user
            + text(identity.provider.as_str())
            + scopes
            + self.session.as_ref().map_or(0, Session::heap_bytes)
            + headers
    }

    /// The identity headers for this credential, built by `build` the first
    /// time and kept with the opened token after.
    pub fn headers(&self, build: impl FnOnce(&Identity) -> Headers) -> &[(HeaderName, HeaderValue)] {
        self.headers.get_or_init(|| build(&self.identity))
    }
}

/// Why a presented credential was not accepted. Codes are stable and safe
/// to log; none names the credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("session cookie refused: {0}")]
    Session(#[from] SessionError),
    #[error("API token refused: {0}")]
    ApiToken(#[from] ApiTokenError),
    #[error("provider token refused: {0}")]
    ProviderToken(#[from] BearerError),
    #[error("the Authorization header is not a Bearer token")]
    NotBearer,
}

impl Refusal {
    /// Whether the request carried a Bearer credential that was refused
    /// (401 `invalid_token`, not an anonymous request).
    pub fn is_bearer(self) -> bool {
        !matches!(self, Refusal::Session(_))
    }

    /// The one rule for caching refusals: kept when it cannot change for
    /// this token under the keys in force. Not kept: a token's shape (found
    /// again at once, without any cryptography, and not worth memory), and
    /// what time or the network may change (expiry, a revocation, a key the
    /// issuer has yet to publish, a provider that could not be asked).
    pub fn is_final(self) -> bool {
        match self {
            Refusal::Session(error) => match error {
                SessionError::Sealed(open) => open == OpenError::Decrypt,
                SessionError::Payload | SessionError::Version => true,
                SessionError::Expired
                | SessionError::NotYetValid
                | SessionError::Chunks
                | SessionError::Revoked
                | SessionError::Unverifiable
                | SessionError::UserDisabled
                | SessionError::PendingVerification => false,
            },
            Refusal::ApiToken(error) => error == ApiTokenError::Payload,
            Refusal::ProviderToken(error) => error.is_final(),
            Refusal::NotBearer => false,
        }
    }

    /// A stable, loggable code.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Session(error) => error.code(),
            Refusal::ApiToken(_) | Refusal::ProviderToken(_) | Refusal::NotBearer => "bearer",
        }
    }
}

/// What a request's credentials came to.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// No credential was presented.
    Absent,
    /// One was presented and refused.
    Refused(Refusal),
    Identified(Arc<Identified>),
}

impl Outcome {
    fn of(opened: Result<Arc<Identified>, Refusal>) -> Outcome {
        match opened {
            Ok(identified) => Outcome::Identified(identified),
            Err(refusal) => Outcome::Refused(refusal),
        }
    }

    pub fn identified(&self) -> Option<&Arc<Identified>> {
        match self {
            Outcome::Identified(identified) => Some(identified),
            _ => None,
        }
    }

    pub fn identity(&self) -> Option<&Identity> {
        self.identified().map(|identified| &identified.identity)
    }

    /// The session, for a request that presented a valid session cookie.
    pub fn session(&self) -> Option<&Session> {
        self.identified()?.session.as_ref()
    }

    /// Whether the request carried a Bearer credential that was refused.
    pub fn bad_bearer(&self) -> bool {
        matches!(self, Outcome::Refused(refusal) if refusal.is_bearer())
    }

    /// Whether the request carried a session still waiting for its e-mailed code.
    pub fn pending_verification(&self) -> bool {
        matches!(self, Outcome::Refused(Refusal::Session(SessionError::PendingVerification)))
    }
}

/// The credential a request presents, found in the order they are tried.
#[derive(Debug)]
pub enum Presented<'r> {
    Nothing,
    /// An `Authorization` header that is not a well-formed Bearer credential.
    NotBearer,
    /// A compact JWE as Bearer token: a sealgate API token, or nothing.
    ApiToken(&'r str),
    /// Any other Bearer token: a provider's JWT or opaque token.
    ProviderToken(&'r str),
    /// The session cookie's value, joined from chunks when split.
    SessionCookie(Result<Cow<'r, [u8]>, ChunkError>),
}

/// Every way to prove who one is, and the open-cache they share.
pub struct Credentials {
    pub codec: SessionCodec,
    pub cookies: CookieSpec,
    pub api_tokens: ApiTokens,
    /// Providers' own tokens (JWTs, introspection), verified asynchronously
    /// (see [`needs_io`](Self::needs_io)).
    pub provider_tokens: ProviderBearer,
    /// What is revoked, when a store keeps it: checked on every use of a
    /// session cookie (a lookup in memory, never a call to the store).
    revocations: Option<Arc<RevocationView>>,
    /// The password users in force, when password sign-in is on: a session
    /// of provider `credentials` is refused once its user is disabled in,
    /// or removed from, the users file.
    password_users: Option<Arc<CredentialsProvider>>,
    opened: OpenCache,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("codec", &self.codec)
            .field("api_tokens", &self.api_tokens)
            .field("provider_tokens", &self.provider_tokens)
            .field("opened", &self.opened)
            .finish()
    }
}

impl Credentials {
    pub fn new(
        codec: SessionCodec,
        cookies: CookieSpec,
        api_tokens: ApiTokens,
        provider_tokens: ProviderBearer,
    ) -> Credentials {
        let opened = OpenCache::new(SessionSettings::default().cache_bytes, OPEN_CACHE_IDLE);
        Credentials { codec, cookies, api_tokens, provider_tokens, revocations: None, password_users: None, opened }
    }

    /// An open-cache taking at most about `max_bytes` of memory
    /// (`session.cache_bytes`) instead of the default's, emptied.
    pub fn caching(mut self, max_bytes: u64) -> Credentials {
        self.opened = OpenCache::new(max_bytes, OPEN_CACHE_IDLE);
        self
    }

    /// How many credentials the open-cache holds, and its weight: the
    /// memory it takes, in bytes.
    pub fn open_cache_size(&self) -> (u64, u64) {
        self.opened.size()
    }

    /// Refuse the sessions `revocations` names (sign-out, "sign out
    /// everywhere", back-channel logout).
    pub fn revoking(mut self, revocations: Arc<RevocationView>) -> Credentials {
        self.revocations = Some(revocations);
        self
    }

    /// Refuse sessions of password users who are disabled in, or gone from,
    /// `users`' users file (deprovisioning).
    pub fn checking_password_users(mut self, users: Arc<CredentialsProvider>) -> Credentials {
        self.password_users = Some(users);
        self
    }

    /// The credential `req` presents. The order is written here and only here.
    pub fn presented<'r>(&self, req: &'r HttpRequest) -> Presented<'r> {
        // A Bearer token, when present, decides alone: no quiet fallback to the cookie.
        match bearer::bearer(req) {
            Some(Some(token)) if bearer::is_api_token(token) => Presented::ApiToken(token),
            Some(Some(token)) => Presented::ProviderToken(token),
            Some(None) => Presented::NotBearer,
            None => Presented::SessionCookie(match self.cookies.read(req) {
                Ok(None) => return Presented::Nothing,
                Ok(Some(value)) => Ok(value),
                Err(error) => Err(error),
            }),
        }
    }

    /// Whether identifying `req` may need the network (a provider's token,
    /// when any provider's tokens are accepted): then the middleware
    /// [`identify`](Self::identify)s it before the handler runs. Cheapest
    /// test first: most requests carry no Authorization header.
    pub fn needs_io(&self, req: &HttpRequest) -> bool {
        req.headers().contains_key(AUTHORIZATION)
            && self.provider_tokens.is_active()
            && matches!(self.presented(req), Presented::ProviderToken(_))
    }

    /// Who `req` is.
    pub async fn identify(&self, req: &HttpRequest) -> Outcome {
        match self.presented(req) {
            Presented::ProviderToken(token) if self.provider_tokens.is_active() => {
                let verified = self.provider_tokens.verify(token, &self.opened).await;
                if let Err(reason) = &verified {
                    tracing::debug!(%reason, "provider token refused");
                }
                Outcome::of(verified.map_err(Refusal::ProviderToken))
            }
            presented => self.identify_presented(presented),
        }
    }

    /// Who `req` is, without I/O: a provider's token is refused here (the
    /// middleware identifies requests that [`need_io`](Self::needs_io) first).
    pub fn identify_now(&self, req: &HttpRequest) -> Outcome {
        self.identify_presented(self.presented(req))
    }

    fn identify_presented(&self, presented: Presented<'_>) -> Outcome {
        match presented {
            Presented::Nothing => Outcome::Absent,
            Presented::NotBearer => Outcome::Refused(Refusal::NotBearer),
            Presented::ApiToken(token) => Outcome::of(self.open_api_token(token)),
            Presented::ProviderToken(_) => Outcome::Refused(Refusal::ProviderToken(BearerError::Malformed)),
            Presented::SessionCookie(Err(ChunkError)) => Outcome::Refused(Refusal::Session(SessionError::Chunks)),
            Presented::SessionCookie(Ok(value)) => {
                let opened = self.open_session_cookie(&value);
                if let Err(refusal) = &opened {
                    // Refusals are not cleared here: /auth/verify is the hot path, and its
                    // Set-Cookie rarely reaches the browser. Browser-facing pages clear
                    // refused cookies, and the next sign-in replaces the cookie anyway.
                    tracing::debug!(reason = refusal.code(), "session cookie refused");
                }
                Outcome::of(opened)
            }
        }
    }

    /// Open a session cookie's value. Each distinct token is decrypted and
    /// validated once; later requests with it only re-check its times. A
    /// session still waiting for its e-mailed code is refused here, so it
    /// counts as signed out on every route.
    pub fn open_session_cookie(&self, token: &[u8]) -> Result<Arc<Identified>, Refusal> {
        let identified = self.open_session_any(token)?;
        if identified.session.as_ref().is_some_and(|session| session.pending) {
            return Err(SessionError::PendingVerification.into());
        }
        Ok(identified)
    }

    /// The session `req`'s cookie carries when it is waiting for its
    /// e-mailed code and otherwise valid (times, revocations, account).
    pub fn pending_session(&self, req: &HttpRequest) -> Option<Session> {
        let Ok(Some(value)) = self.cookies.read(req) else { return None };
        let identified = self.open_session_any(&value).ok()?;
        identified.session.clone().filter(|session| session.pending)
    }

    /// [`open_session_cookie`](Self::open_session_cookie), verified or not.
    fn open_session_any(&self, token: &[u8]) -> Result<Arc<Identified>, Refusal> {
        // Read before opening: a key reload meanwhile leaves the entry stale.
        let generation = keys::generation();
        let identified = match self.opened.get(token, generation) {
            Some(cached) => cached?,
            None => {
                let opened = self.open_session_uncached(token).map(Arc::new);
                self.opened.keep(token, generation, &opened);
                opened?
            }
        };
        let session = identified.session.as_ref().ok_or(SessionError::Payload)?;
        self.codec.check_times(session, self.codec.now())?;
        if let Some(view) = &self.revocations {
            match view.check(&session.id, &session.provider, &session.user.id, session.created_at) {
                Verdict::Valid => {}
                Verdict::Revoked => return Err(SessionError::Revoked.into()),
                Verdict::Unavailable => return Err(SessionError::Unverifiable.into()),
            }
        }
        // A password user is looked up in the users file in force on every
        // use, after the open-cache rather than inside it: the cache keeps
        // what cannot change for a token, and an account can (a reload
        // disables or removes it). One hash lookup in memory, no I/O, and
        // nothing cached to forget when the file is reloaded: the next
        // request after a reload already sees it.
        if let Some(users) = self.password_users.as_ref().filter(|_| session.provider == PROVIDER_ID) {
            if !users.is_active(&session.user.id) {
                return Err(SessionError::UserDisabled.into());
            }
        }
        Ok(identified)
    }

    fn open_session_uncached(&self, token: &[u8]) -> Result<Identified, Refusal> {
        // Base64url and dots are ASCII: anything else is not one of our tokens.
        let token = std::str::from_utf8(token).map_err(|_| SessionError::Sealed(OpenError::Base64))?;
        let session = self.codec.open_uncached(token)?;
        let identity = session.identity().ok_or(SessionError::Payload)?;
        Ok(Identified::new(identity, Some(session)))
    }

    /// Open a sealgate API token. Each distinct token is decrypted once;
    /// expiry and the deny list are checked on every use.
    pub fn open_api_token(&self, token: &str) -> Result<Arc<Identified>, Refusal> {
        let generation = keys::generation();
        let identified = match self.opened.get(token.as_bytes(), generation) {
            Some(cached) => cached?,
            None => {
                let opened = self.api_tokens.open_uncached(token).map(|claims| Arc::new(claims.identified()));
                let opened = opened.map_err(Refusal::ApiToken);
                self.opened.keep(token.as_bytes(), generation, &opened);
                opened?
            }
        };
        self.api_tokens.check(&identified.identity)?;
        Ok(identified)
    }
}

#[cfg(test)]
mod tests;
