//! Sessions: what a signed-in person carries, sealed into a JWE cookie.
//!
//! - [`Session`] is the versioned payload (`v`, `typ`, id, times, provider,
//!   user, and the provider's tokens as an inner sealed blob).
//! - [`SessionCodec`] seals and opens sessions, enforcing version, purpose
//!   and lifetimes, and decides sliding renewal.
//! - [`cookie`] splits and joins cookie chunks, and reads the one
//!   `Cookie`-header value everything else (the CLI too) reads.
//! - [`flow`] is the short-lived cookie of a sign-in in progress.
//!
//! Opening a session once per token, and once per request, is the business
//! of `credentials` and `web`.

pub mod cookie;
pub mod flow;

use crate::clock::SharedClock;
use crate::config::SessionFormat;
use crate::crypto::jwe::{OpenError, SealError};
use crate::crypto::keys::{JwkSet, Purpose};
use crate::crypto::nested::SessionSealer;
use crate::crypto::{ProviderTokens, TokenCipher, TokensError};
use crate::identity::{Identity, ProviderId, Source, User};
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
    /// Signed in, but not yet confirmed with the e-mailed code
    /// (`crate::verification`): such a session counts as signed out.
    #[serde(rename = "pnd", default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
    /// The provider's tokens, sealed by [`TokenCipher`] and bound to `id`.
    #[serde(rename = "tok", default, skip_serializing_if = "Option::is_none")]
    tokens: Option<String>,
    /// The provider tokens, opened on first use and kept with the opened token.
    #[serde(skip)]
    opened_tokens: OnceLock<Result<Option<Arc<ProviderTokens>>, TokensError>>,
    /// Other providers the person linked to this session (`GET /auth/link/{id}`).
    #[serde(rename = "lnk", default, skip_serializing_if = "Vec::is_empty")]
    pub linked: Vec<Linked>,
}

/// A provider linked to a session: its account, and its tokens (sealed by
/// [`TokenCipher`], bound to the session id and this provider).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Linked {
    #[serde(rename = "prv")]
    pub provider: String,
    /// The account's id at the provider.
    pub sub: String,
    #[serde(rename = "usn", default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(rename = "ava", default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    #[serde(rename = "tok", default, skip_serializing_if = "Option::is_none")]
    tokens: Option<String>,
    #[serde(skip)]
    opened_tokens: OnceLock<Option<Arc<ProviderTokens>>>,
}

impl Linked {
    pub fn has_tokens(&self) -> bool {
        self.tokens.is_some()
    }
}

/// The associated data a linked provider's tokens are sealed with: the
/// session's id and the provider's, so they open for this link alone
/// (never as the session's own tokens, nor as another link's).
fn link_binding(session_id: &str, provider: &str) -> String {
    format!("{session_id}/lnk/{provider}")
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
            .field("pending", &self.pending)
            .field("tokens", &self.tokens.as_ref().map(|_| "[redacted]"))
            .field("linked", &self.linked.iter().map(|l| l.provider.as_str()).collect::<Vec<_>>())
            .finish()
    }
}

impl Session {
    pub fn has_tokens(&self) -> bool {
        self.tokens.is_some()
    }

    /// The bytes this session's text takes on the heap once its provider
    /// tokens are opened (on first use, and kept): a chunk per string, the
    /// user's, and each sealed token blob twice, sealed and opened (the
    /// opened tokens are shorter than the sealed text, so this is a bound).
    /// The `Session` itself is counted where it is held.
    pub fn heap_bytes(&self) -> usize {
        use crate::heap::{arc, items, text};
        let tokens = |sealed: &Option<String>| sealed.as_deref().map_or(0, |t| 2 * text(t) + arc::<ProviderTokens>());
        let optional = |field: &Option<String>| field.as_deref().map_or(0, text);
        let linked: usize = self
            .linked
            .iter()
            .map(|l| {
                text(&l.provider) + text(&l.sub) + optional(&l.username) + optional(&l.avatar_url) + tokens(&l.tokens)
            })
            .sum();
        text(&self.typ)
            + text(&self.id)
            + text(&self.provider)
            + self.user.heap_bytes()
            + tokens(&self.tokens)
            + items::<Linked>(self.linked.len())
            + linked
    }

    /// The link to `provider`, if the session holds one.
    pub fn link(&self, provider: &str) -> Option<&Linked> {
        self.linked.iter().find(|l| l.provider == provider)
    }

    /// This session without its link to `provider`.
    pub fn without_link(&self, provider: &str) -> Session {
        let linked = self.linked.iter().filter(|l| l.provider != provider).cloned().collect();
        Session { linked, ..self.clone() }
    }

    /// Who this session says is signed in. `None` when the provider id it
    /// names is not well formed (no session sealgate made).
    pub fn identity(&self) -> Option<Identity> {
        Some(Identity {
            id: self.id.clone(),
            user: self.user.clone(),
            provider: ProviderId::parse(self.provider.clone()).ok()?,
            source: Source::Cookie,
            scopes: None,
            issued_at: self.created_at,
            expires_at: self.expires_at,
        })
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
    #[error("the session was signed out or revoked")]
    Revoked,
    #[error("revocations cannot be checked now (store unavailable)")]
    Unverifiable,
    /// A password user's session whose account is disabled in, or gone
    /// from, the users file in force.
    #[error("the user is disabled or no longer in the users file")]
    UserDisabled,
    /// A sign-in still waiting for its e-mailed code.
    #[error("the sign-in is not verified yet")]
    PendingVerification,
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
            SessionError::Revoked => "revoked",
            SessionError::Unverifiable => "store_unavailable",
            SessionError::UserDisabled => "user_disabled",
            SessionError::PendingVerification => "pending_verification",
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
    sealer: SessionSealer,
    tokens: TokenCipher,
    clock: SharedClock,
    lifetimes: Lifetimes,
}

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
        Self::in_format(keys, clock, lifetimes, max_token_bytes, SessionFormat::Sealed, true)
    }

    /// A codec that seals in `format`, and opens the other format too when
    /// `accept_other` (see [`SessionSealer`]).
    pub fn in_format(
        keys: &JwkSet,
        clock: SharedClock,
        lifetimes: Lifetimes,
        max_token_bytes: usize,
        format: SessionFormat,
        accept_other: bool,
    ) -> Result<Self, SealError> {
        Ok(SessionCodec {
            sealer: SessionSealer::new(keys, Purpose::Session, max_token_bytes, format, accept_other)?,
            tokens: TokenCipher::new(keys),
            clock,
            lifetimes,
        })
    }

    /// Whether this replica can mint sessions (seal new or renewed ones): a
    /// verify-only replica opens and checks them only.
    pub fn can_mint(&self) -> bool {
        self.sealer.can_seal()
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
            pending: false,
            tokens,
            opened_tokens: OnceLock::new(),
            linked: Vec::new(),
        })
    }

    fn capped(&self, created_at: i64, expires_at: i64) -> i64 {
        expires_at.min(created_at.saturating_add(self.lifetimes.absolute))
    }

    pub fn seal(&self, session: &Session) -> Result<String, SealError> {
        let payload = serde_json::to_vec(session).map_err(|_| SealError::Encrypt)?;
        self.sealer.seal(&payload)
    }

    /// Open a session cookie value and check its times now, without any
    /// cache: for tools and tests (requests go through `credentials`, which
    /// opens each token once).
    pub fn open(&self, token: &str) -> Result<Session, SessionError> {
        let session = self.open_uncached(token)?;
        self.check_times(&session, self.now())?;
        Ok(session)
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

    /// Whether `session` is within its lifetimes at `now`.
    pub fn check_times(&self, session: &Session, now: i64) -> Result<(), SessionError> {
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
        // A verify-only replica cannot seal a renewed session: it lives to its own expiry.
        if session.expires_at - now >= self.lifetimes.idle / 2 || !self.can_mint() {
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

    /// Seal `tokens` for `session` alone (its id is in the associated data).
    pub fn seal_tokens(&self, session: &Session, tokens: &ProviderTokens) -> Result<String, TokensError> {
        self.tokens.seal(tokens, &session.id)
    }

    /// Open what [`seal_tokens`](Self::seal_tokens) sealed for `session`.
    pub fn open_tokens(&self, session: &Session, blob: &str) -> Result<ProviderTokens, TokensError> {
        self.tokens.open(blob, &session.id)
    }

    /// `session` with `provider`'s account `user` (and its `tokens`) linked,
    /// replacing an earlier link to the same provider.
    pub fn with_link(
        &self,
        session: &Session,
        provider: &str,
        user: &User,
        tokens: Option<&ProviderTokens>,
    ) -> Result<Session, TokensError> {
        let sealed = tokens.map(|t| self.tokens.seal(t, &link_binding(&session.id, provider))).transpose()?;
        let mut linked = session.without_link(provider).linked;
        linked.push(Linked {
            provider: provider.into(),
            sub: user.id.clone(),
            username: user.username.clone(),
            avatar_url: user.avatar_url.clone(),
            tokens: sealed,
            opened_tokens: OnceLock::new(),
        });
        Ok(Session { linked, ..session.clone() })
    }

    /// A linked provider's access token while it is valid at `now`: opened
    /// once per opened session (memory only after that). An expired token,
    /// or one that does not open, is `None`: linked tokens are not
    /// refreshed, and an expired one is never passed as if valid.
    pub fn linked_tokens(&self, session: &Session, linked: &Linked, now: i64) -> Option<Arc<ProviderTokens>> {
        let tokens = linked
            .opened_tokens
            .get_or_init(|| {
                let blob = linked.tokens.as_deref()?;
                self.tokens.open(blob, &link_binding(&session.id, &linked.provider)).ok().map(Arc::new)
            })
            .clone()?;
        tokens.expires_at.is_none_or(|at| now < at).then_some(tokens)
    }

    /// Replace the provider tokens of a session (after a refresh).
    pub fn with_tokens(&self, session: &Session, tokens: &ProviderTokens) -> Result<Session, TokensError> {
        Ok(Session {
            tokens: Some(self.seal_tokens(session, tokens)?),
            opened_tokens: OnceLock::new(),
            ..session.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::crypto::keys::KeyAlg;
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
    fn linked_tokens_open_for_their_link_alone_and_not_once_expired() {
        let keys = JwkSet::generate(KeyAlg::Dir);
        let clock = ManualClock::at(T0);
        let codec = codec(&keys, &clock);
        let tokens = ProviderTokens {
            access_token: SecretString::from("gh-SECRET".to_owned()),
            token_type: "Bearer".into(),
            refresh_token: None,
            id_token: None,
            expires_at: Some(T0 + 60),
            obtained_at: T0,
            scope: None,
        };
        let session = codec.start(User::new("alice"), "credentials", true, None).unwrap();
        let mut octocat = User::new("583231");
        octocat.username = Some("octocat".into());
        let linked = codec.with_link(&session, "github", &octocat, Some(&tokens)).unwrap();
        let reopened = codec.open(&codec.seal(&linked).unwrap()).unwrap();
        let link = reopened.link("github").unwrap();
        assert_eq!((link.sub.as_str(), link.username.as_deref()), ("583231", Some("octocat")));
        let opened = codec.linked_tokens(&reopened, link, T0 + 59).unwrap();
        assert_eq!(opened.access_token.expose_secret(), "gh-SECRET");
        assert!(codec.linked_tokens(&reopened, link, T0 + 60).is_none(), "expired: not passed");
        assert!(!format!("{reopened:?}").contains("SECRET"));
        // Moved to another provider's link, or another session, they do not open.
        let mut moved = reopened.clone();
        moved.linked[0].provider = "discord".into();
        let moved = codec.open(&codec.seal(&moved).unwrap()).unwrap();
        assert!(codec.linked_tokens(&moved, &moved.linked[0], T0).is_none());
        let other = codec.start(User::new("mallory"), "credentials", true, None).unwrap();
        let stolen = Session { linked: reopened.linked.clone(), ..other };
        let stolen = codec.open(&codec.seal(&stolen).unwrap()).unwrap();
        assert!(codec.linked_tokens(&stolen, &stolen.linked[0], T0).is_none());
        // Linking again replaces; unlinking removes.
        let again = codec.with_link(&reopened, "github", &octocat, None).unwrap();
        assert_eq!(again.linked.len(), 1);
        assert!(!again.linked[0].has_tokens());
        assert!(again.without_link("github").linked.is_empty());
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
