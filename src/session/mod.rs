//! Sessions: what a signed-in person carries, sealed into a JWE cookie.
//!
//! - [`Session`] is the versioned payload (`v`, `typ`, id, times, provider,
//!   user, and the provider's tokens as an inner sealed blob).
//! - [`SessionCodec`] seals and opens sessions, enforcing version, purpose
//!   and lifetimes, and decides sliding renewal.
//! - [`cookie`] splits and joins cookie chunks.
//! - [`request`] opens the session at most once per request and writes
//!   cookie changes on the way out.

pub(crate) mod cache;
pub mod cookie;
pub mod flow;
pub mod request;
mod tokens;

pub use tokens::{ProviderTokens, TokenCipher, TokensError};

use crate::clock::SharedClock;
use crate::domain::User;
use crate::jwe::{OpenError, SealError, Sealer};
use crate::keys::{JwkSet, Purpose};
use actix_web::http::header::HeaderValue;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};

pub const SESSION_VERSION: u8 = 1;

/// The sealed session payload.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    v: u8,
    typ: String,
    /// Random session id, 128 bits, base64url.
    #[serde(rename = "sid")]
    pub id: String,
    /// When the person signed in.
    #[serde(rename = "iat")]
    pub created_at: i64,
    /// When the session ends unless renewed.
    #[serde(rename = "exp")]
    pub expires_at: i64,
    /// The id of the provider that signed the person in (`credentials`, ...).
    #[serde(rename = "prv")]
    pub provider: String,
    #[serde(rename = "usr")]
    pub user: User,
    /// Whether the cookie outlives the browser session ("remember me").
    #[serde(rename = "rem", default)]
    pub remember: bool,
    /// The provider's tokens, sealed by [`TokenCipher`] and bound to `id`.
    #[serde(rename = "tok", default, skip_serializing_if = "Option::is_none")]
    tokens: Option<String>,
    /// Identity headers derived from this session: built on first use and
    /// kept with the opened token, so the hot path does not rebuild them.
    #[serde(skip)]
    identity: OnceLock<Box<[(IdentityField, HeaderValue)]>>,
    /// The provider tokens, opened on first use and kept with the opened token.
    #[serde(skip)]
    opened_tokens: OnceLock<Result<Option<Arc<ProviderTokens>>, TokensError>>,
    /// Where this identity came from; a cookie unless built from a Bearer token.
    #[serde(skip)]
    pub source: Source,
    /// API-token scopes; `None` for sessions, which are not scope-limited.
    #[serde(skip)]
    pub scopes: Option<Vec<String>>,
}

/// Which part of an identity a header value carries. The header names are
/// the routes' business (`X-Auth-User`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityField {
    User,
    Provider,
    Username,
    Email,
    Name,
    Groups,
    Source,
}

/// Where an identity came from, as `X-Auth-Source` and `/auth/session` say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    #[default]
    Cookie,
    ApiToken,
    /// A JWT signed by a provider's issuer.
    ProviderJwt,
    /// An opaque provider token that the provider vouched for (RFC 7662).
    Introspection,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Cookie => "cookie",
            Source::ApiToken => "api_token",
            Source::ProviderJwt => "provider_jwt",
            Source::Introspection => "introspection",
        }
    }
}

/// What a verified provider token says about its bearer.
#[derive(Debug)]
pub struct ProviderTokenIdentity {
    /// The token's `jti`, or a digest of the token.
    pub id: String,
    pub provider: String,
    pub user: User,
    pub issued_at: i64,
    pub expires_at: i64,
    pub scopes: Vec<String>,
    pub source: Source,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("provider", &self.provider)
            .field("user", &self.user)
            .field("remember", &self.remember)
            .field("tokens", &self.tokens.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl Session {
    /// The identity an API token carries, shaped as a session (never sealed
    /// into a cookie: it is rebuilt from the token on every request).
    pub fn from_api_token(token: crate::api_tokens::ApiToken) -> Session {
        Session {
            v: SESSION_VERSION,
            typ: Purpose::ApiToken.label().into(),
            id: token.jti,
            created_at: token.iat,
            expires_at: token.exp,
            provider: "api-token".into(),
            user: token.usr,
            remember: false,
            tokens: None,
            identity: OnceLock::new(),
            opened_tokens: OnceLock::new(),
            source: Source::ApiToken,
            scopes: Some(token.scopes),
        }
    }

    /// The identity a provider's own token carries (a verified JWT or an
    /// introspection answer), shaped as a session; never sealed into a cookie.
    pub fn from_provider_token(token: ProviderTokenIdentity) -> Session {
        Session {
            v: SESSION_VERSION,
            typ: "provider-token".into(),
            id: token.id,
            created_at: token.issued_at,
            expires_at: token.expires_at,
            provider: token.provider,
            user: token.user,
            remember: false,
            tokens: None,
            identity: OnceLock::new(),
            opened_tokens: OnceLock::new(),
            source: token.source,
            scopes: Some(token.scopes),
        }
    }

    pub fn has_tokens(&self) -> bool {
        self.tokens.is_some()
    }

    /// The identity headers for this session, built by `build` the first time.
    pub fn identity_headers(
        &self,
        build: impl FnOnce(&Session) -> Vec<(IdentityField, HeaderValue)>,
    ) -> &[(IdentityField, HeaderValue)] {
        self.identity.get_or_init(|| build(self).into())
    }
}

/// A worker's own copy of an opened session: its own reference count, and
/// identity headers built afresh on that worker (see [`cache`]).
impl cache::ThreadCopy for Arc<Session> {
    fn thread_copy(&self) -> Arc<Session> {
        Arc::new(Session { identity: OnceLock::new(), ..Session::clone(self) })
    }
}

/// Why a presented session was not accepted. Codes are stable and safe to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("malformed or tampered: {0}")]
    Sealed(#[from] OpenError),
    #[error("payload is not a session")]
    Payload,
    #[error("payload version is not supported")]
    Version,
    #[error("session expired")]
    Expired,
    #[error("session issued in the future")]
    NotYetValid,
    #[error("cookie chunks are malformed")]
    Chunks,
    #[error("the Bearer token is invalid")]
    Bearer,
}

impl SessionError {
    pub fn code(self) -> &'static str {
        match self {
            SessionError::Sealed(e) => e.code(),
            SessionError::Payload => "payload",
            SessionError::Version => "version",
            SessionError::Expired => "expired",
            SessionError::NotYetValid => "not_yet_valid",
            SessionError::Chunks => "chunks",
            SessionError::Bearer => "bearer",
        }
    }
}

/// Lifetimes, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub idle: i64,
    pub absolute: i64,
}

/// How far in the future `iat` may be before a session is refused (clock skew
/// between replicas).
const FUTURE_SKEW: i64 = 60;

/// Seals and opens sessions.
pub struct SessionCodec {
    sealer: Sealer,
    tokens: TokenCipher,
    clock: SharedClock,
    lifetimes: Lifetimes,
    opened: cache::OpenCache<Arc<Session>, SessionError>,
}

/// How many bytes of opened tokens the cache keeps, at most.
const OPEN_CACHE_BYTES: u64 = 64 * 1024 * 1024;

impl std::fmt::Debug for SessionCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCodec").field("lifetimes", &self.lifetimes).finish()
    }
}

fn random_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl SessionCodec {
    pub fn new(
        keys: &JwkSet,
        clock: SharedClock,
        lifetimes: Lifetimes,
        max_token_bytes: usize,
    ) -> Result<Self, SealError> {
        Ok(SessionCodec {
            sealer: Sealer::new(keys, Purpose::Session, max_token_bytes)?,
            tokens: TokenCipher::new(keys),
            clock,
            lifetimes,
            opened: cache::OpenCache::new(OPEN_CACHE_BYTES, std::time::Duration::from_secs(600)),
        })
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    pub fn lifetimes(&self) -> Lifetimes {
        self.lifetimes
    }

    /// A new session for `user`, signed in now through `provider`.
    pub fn start(
        &self,
        user: User,
        provider: &str,
        remember: bool,
        tokens: Option<&ProviderTokens>,
    ) -> Result<Session, TokensError> {
        self.new_session(user, provider, self.lifetimes.idle, remember, tokens)
    }

    /// A session with an explicit lifetime, for `sealgate session mint`.
    pub fn start_with_ttl(
        &self,
        user: User,
        provider: &str,
        ttl: i64,
        tokens: Option<&ProviderTokens>,
    ) -> Result<Session, TokensError> {
        self.new_session(user, provider, ttl.max(1), true, tokens)
    }

    fn new_session(
        &self,
        user: User,
        provider: &str,
        ttl: i64,
        remember: bool,
        tokens: Option<&ProviderTokens>,
    ) -> Result<Session, TokensError> {
        let now = self.now();
        let id = random_id();
        let tokens = tokens.map(|t| self.tokens.seal(t, &id)).transpose()?;
        Ok(Session {
            v: SESSION_VERSION,
            typ: Purpose::Session.label().into(),
            id,
            created_at: now,
            expires_at: self.capped(now, now + ttl),
            provider: provider.into(),
            user,
            remember,
            tokens,
            identity: OnceLock::new(),
            opened_tokens: OnceLock::new(),
            source: Source::Cookie,
            scopes: None,
        })
    }

    fn capped(&self, created_at: i64, expires_at: i64) -> i64 {
        expires_at.min(created_at.saturating_add(self.lifetimes.absolute))
    }

    pub fn seal(&self, session: &Session) -> Result<String, SealError> {
        let payload = serde_json::to_vec(session).map_err(|_| SealError::Encrypt)?;
        self.sealer.seal(&payload)
    }

    /// Open a session cookie value. Each distinct token is decrypted and
    /// validated once; later requests with it only re-check its times.
    pub fn open(&self, token: &str) -> Result<Arc<Session>, SessionError> {
        self.open_at(token.as_bytes(), self.now())
    }

    /// [`open`](Self::open) of a cookie's bytes, at a time already read:
    /// the hot path reads the clock once, and a cached token is recognised
    /// by its bytes before any UTF-8 check.
    pub fn open_at(&self, token: &[u8], now: i64) -> Result<Arc<Session>, SessionError> {
        // Read before opening: a key reload meanwhile leaves the entry stale.
        let generation = crate::keys::generation();
        let session = match self.opened.get_in(token, generation) {
            Some(cached) => return self.checked(cached, now),
            // Base64url and dots are ASCII: anything else is not one of our tokens.
            None => match std::str::from_utf8(token)
                .map_err(|_| OpenError::Base64.into())
                .and_then(|t| self.open_uncached(t))
            {
                Ok(session) => {
                    let session = Arc::new(session);
                    self.opened.insert_in(token, cache::Cached::Opened(session.clone()), generation);
                    session
                }
                Err(error) => {
                    // Refusals after decryption never change for this token; shape
                    // errors are cheap to find again and not worth memory.
                    if !matches!(error, SessionError::Sealed(e) if e != OpenError::Decrypt) {
                        self.opened.insert_in(token, cache::Cached::Refused(error), generation);
                    }
                    return Err(error);
                }
            },
        };
        self.check_times(&session, now)?;
        Ok(session)
    }

    /// [`open_at`](Self::open_at), answered only from the tokens this
    /// thread opened or used lately: `None` when `token` is not one of
    /// them, which says nothing about whether it is valid. `token` may be
    /// anything (it is only ever compared with whole tokens already seen), so
    /// the hot path can try the likeliest reading of a header before parsing it.
    pub fn open_recent_at(&self, token: &[u8], now: i64) -> Option<Result<Arc<Session>, SessionError>> {
        Some(self.checked(self.opened.get_recent(token)?, now))
    }

    /// A cached outcome, its times checked against `now`.
    fn checked(
        &self,
        cached: cache::Cached<Arc<Session>, SessionError>,
        now: i64,
    ) -> Result<Arc<Session>, SessionError> {
        match cached {
            cache::Cached::Opened(session) => self.check_times(&session, now).map(|()| session),
            cache::Cached::Refused(error) => Err(error),
        }
    }

    /// Open without the cache: strict parse, decryption, payload checks (but
    /// not the time checks). What the first request with a token costs; for
    /// benchmarks and tools.
    pub fn open_uncached(&self, token: &str) -> Result<Session, SessionError> {
        let payload = self.sealer.open(token)?;
        let session: Session = serde_json::from_slice(&payload).map_err(|_| SessionError::Payload)?;
        if session.v != SESSION_VERSION {
            return Err(SessionError::Version);
        }
        if session.typ != Purpose::Session.label() || session.user.validate().is_err() {
            return Err(SessionError::Payload);
        }
        Ok(session)
    }

    fn check_times(&self, session: &Session, now: i64) -> Result<(), SessionError> {
        if session.created_at > now + FUTURE_SKEW {
            return Err(SessionError::NotYetValid);
        }
        if now >= session.expires_at || now >= session.created_at.saturating_add(self.lifetimes.absolute) {
            return Err(SessionError::Expired);
        }
        Ok(())
    }

    /// Sliding expiry: once less than half the idle lifetime remains, the
    /// session gets a new expiry (capped by the absolute lifetime). Returns
    /// the renewed session, or `None` when no renewal is due or possible.
    pub fn renewal(&self, session: &Session) -> Option<Session> {
        self.renewal_at(session, self.now())
    }

    /// [`renewal`](Self::renewal) at a time already read.
    pub fn renewal_at(&self, session: &Session, now: i64) -> Option<Session> {
        if session.expires_at - now >= self.lifetimes.idle / 2 {
            return None;
        }
        let expires_at = self.capped(session.created_at, now + self.lifetimes.idle);
        (expires_at > session.expires_at).then(|| Session { expires_at, ..session.clone() })
    }

    /// Open the provider tokens of a session (once per opened token).
    pub fn tokens(&self, session: &Session) -> Result<Option<Arc<ProviderTokens>>, TokensError> {
        session
            .opened_tokens
            .get_or_init(|| {
                session.tokens.as_deref().map(|blob| self.tokens.open(blob, &session.id).map(Arc::new)).transpose()
            })
            .clone()
    }

    /// Replace the provider tokens of a session (after a refresh).
    pub fn with_tokens(&self, session: &Session, tokens: &ProviderTokens) -> Result<Session, TokensError> {
        Ok(Session {
            tokens: Some(self.tokens.seal(tokens, &session.id)?),
            opened_tokens: OnceLock::new(),
            ..session.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::keys::KeyAlg;
    use secrecy::{ExposeSecret, SecretString};
    use std::sync::Arc;

    const T0: i64 = 1_800_000_000;

    fn codec(keys: &JwkSet, clock: &ManualClock) -> SessionCodec {
        SessionCodec::new(keys, Arc::new(clock.clone()), Lifetimes { idle: 3600, absolute: 3 * 3600 }, 8192).unwrap()
    }

    #[test]
    fn expiry_is_exact_to_the_second() {
        let keys = JwkSet::generate(KeyAlg::Dir);
        let clock = ManualClock::at(T0);
        let codec = codec(&keys, &clock);
        let token = codec.seal(&codec.start(User::new("alice"), "credentials", true, None).unwrap()).unwrap();
        clock.set(T0 + 3599);
        assert_eq!(codec.open(&token).unwrap().user.id, "alice");
        clock.set(T0 + 3600);
        assert_eq!(codec.open(&token).unwrap_err(), SessionError::Expired);
    }

    #[test]
    fn renewal_starts_at_half_life_and_stops_at_the_absolute_cap() {
        let keys = JwkSet::generate(KeyAlg::Dir);
        let clock = ManualClock::at(T0);
        let codec = codec(&keys, &clock);
        let session = codec.start(User::new("alice"), "credentials", false, None).unwrap();
        clock.set(T0 + 1800);
        assert!(codec.renewal(&session).is_none(), "exactly half left: not yet");
        clock.set(T0 + 1801);
        let renewed = codec.renewal(&session).unwrap();
        assert_eq!(renewed.expires_at, T0 + 1801 + 3600);
        assert_eq!(renewed.id, session.id);
        assert!(!renewed.remember);
        // Near the absolute cap, expiry cannot pass created_at + absolute.
        let late = Session { expires_at: T0 + 3 * 3600 - 100, ..session.clone() };
        clock.set(T0 + 3 * 3600 - 1000);
        assert_eq!(codec.renewal(&late).map(|s| s.expires_at), Some(T0 + 3 * 3600));
        let capped = Session { expires_at: T0 + 3 * 3600, ..session };
        assert!(codec.renewal(&capped).is_none());
        clock.set(T0 + 3 * 3600);
        assert_eq!(codec.open(&codec.seal(&capped).unwrap()).unwrap_err(), SessionError::Expired);
    }

    #[test]
    fn tokens_are_bound_to_their_session() {
        let keys = JwkSet::generate(KeyAlg::Dir);
        let clock = ManualClock::at(T0);
        let codec = codec(&keys, &clock);
        let tokens = ProviderTokens {
            access_token: SecretString::from("at-SECRET".to_owned()),
            token_type: "Bearer".into(),
            refresh_token: None,
            id_token: None,
            expires_at: None,
            obtained_at: T0,
            scope: None,
        };
        let a = codec.start(User::new("alice"), "corp", true, Some(&tokens)).unwrap();
        let b = codec.start(User::new("mallory"), "corp", true, None).unwrap();
        assert_eq!(codec.tokens(&a).unwrap().unwrap().access_token.expose_secret(), "at-SECRET");
        let moved = Session { tokens: a.tokens.clone(), ..b };
        assert_eq!(codec.tokens(&moved).unwrap_err(), TokensError::Decrypt);
        let sealed = codec.seal(&a).unwrap();
        assert!(!format!("{a:?}").contains("SECRET"));
        assert!(!sealed.contains("SECRET"));
    }

    #[test]
    fn the_open_cache_only_answers_for_the_exact_token() {
        let keys = JwkSet::generate(KeyAlg::Dir);
        let clock = ManualClock::at(T0);
        let codec = codec(&keys, &clock);
        let session = codec.start(User::new("alice"), "credentials", true, None).unwrap();
        let token = codec.seal(&session).unwrap();
        assert_eq!(codec.open(&token).unwrap().user.id, "alice");
        // Same tag, different ciphertext: not the cached token, so it is opened (and refused).
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let ciphertext = parts[3].clone();
        let flipped = if ciphertext.starts_with('A') { "B" } else { "A" };
        parts[3] = format!("{flipped}{}", &ciphertext[1..]);
        let forged = parts.join(".");
        assert_eq!(codec.open(&forged).unwrap_err(), SessionError::Sealed(OpenError::Decrypt));
        assert_eq!(codec.open(&forged).unwrap_err(), SessionError::Sealed(OpenError::Decrypt), "refusals are cached");
        assert_eq!(codec.open(&token).unwrap().user.id, "alice", "the real token still opens");
        // A cached session still expires to the second.
        clock.set(session.expires_at);
        assert_eq!(codec.open(&token).unwrap_err(), SessionError::Expired);
    }

    #[test]
    fn a_session_the_cache_opened_stops_opening_once_its_key_is_retired() {
        use crate::keys::{KeyRing, KeyState};
        let mut set = JwkSet::generate(KeyAlg::Dir);
        let old = set.current().kid().to_owned();
        let ring = KeyRing::new(set.clone());
        let clock = ManualClock::at(T0);
        let codec = codec(&ring.set(), &clock);
        let tokens = ProviderTokens {
            access_token: SecretString::from("at".to_owned()),
            token_type: "Bearer".into(),
            refresh_token: None,
            id_token: None,
            expires_at: None,
            obtained_at: T0,
            scope: None,
        };
        let session = codec.start(User::new("alice"), "corp", true, Some(&tokens)).unwrap();
        let token = codec.seal(&session).unwrap();
        assert_eq!(codec.open(&token).unwrap().user.id, "alice");
        assert!(codec.open_recent_at(token.as_bytes(), T0).unwrap().is_ok(), "cached, on this thread too");

        set.add_generated(KeyAlg::Dir, KeyState::Current);
        ring.replace(set.clone()).unwrap();
        let opened = codec.open(&token).unwrap();
        assert_eq!(
            codec.tokens(&opened).unwrap().unwrap().access_token.expose_secret(),
            "at",
            "rotation signs nobody out"
        );

        set.retire(&old).unwrap();
        ring.replace(set).unwrap();
        assert!(codec.open_recent_at(token.as_bytes(), T0).is_none(), "no answer from before the reload");
        assert_eq!(codec.open(&token).unwrap_err(), SessionError::Sealed(OpenError::UnknownHeader));
        assert_eq!(codec.tokens(&session).unwrap_err(), TokensError::UnknownKey);
    }

    #[test]
    fn wrong_version_or_purpose_is_refused() {
        let keys = JwkSet::generate(KeyAlg::Dir);
        let clock = ManualClock::at(T0);
        let codec = codec(&keys, &clock);
        let mut session = codec.start(User::new("alice"), "credentials", true, None).unwrap();
        session.v = 2;
        assert_eq!(codec.open(&codec.seal(&session).unwrap()).unwrap_err(), SessionError::Version);
        session.v = 1;
        session.typ = "flow".into();
        assert_eq!(codec.open(&codec.seal(&session).unwrap()).unwrap_err(), SessionError::Payload);
    }
}
