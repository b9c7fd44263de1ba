//! Sign-in verification (issue 24): an unusual sign-in is confirmed with a
//! code e-mailed to the account's address before its session counts.
//!
//! [`Verifier::decide`] is asked once per sign-in, at the point where the
//! new session is sealed: proceed, verify, or refuse. A sign-in to verify
//! gets a session marked pending ([`Verifier::pending`]), which
//! `credentials` refuses everywhere, and a code by e-mail
//! ([`Verifier::send_code`]). [`Verifier::check`] takes a code: at most
//! `verification.max_attempts` per sign-in, within
//! `verification.code_lifetime`, compared in constant time, good once.
//!
//! The store keeps, per pending session: an HMAC of the code in force (never
//! the code; keyed by [`CodeKey`], so a dump of the store alone cannot be
//! searched for the code) with when it was sent, the attempt counter, and the one-use
//! mark; per user, their recent networks. Times come from the injected
//! clock; the store's own TTLs only clean up.
//!
//! - [`device`]: the known-device cookie.
//! - [`network`]: which network an address belongs to.

pub mod device;
pub mod network;

use crate::clock::SharedClock;
use crate::config::verification::{VerificationMode, VerificationSettings};
use crate::config::Settings;
use crate::crypto::jwe::SealError;
use crate::crypto::keys::{derive_mac_key, JwkSet, Purpose};
use crate::email::{EmailError, Mailer, SigninCode};
use crate::providers::credentials::PROVIDER_ID;
use crate::session::{Lifetimes, Session};
use crate::store::{user_at_provider, Store, StoreError};
use device::DeviceCodec;
use hmac::digest::generic_array::GenericArray;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// What a sign-in needs before its session counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Proceed,
    Verify,
    /// Refused, with a stable code (`no_email`).
    Refuse(&'static str),
}

/// Why a code was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("a code was sent {0}s ago or less; wait before asking again")]
    TooSoon(u64),
    #[error("the account has no e-mail address")]
    NoEmail,
    #[error("e-mail: {0}")]
    Email(#[from] EmailError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl SendError {
    pub fn code(&self) -> &'static str {
        match self {
            SendError::TooSoon(_) => "resend_too_soon",
            SendError::NoEmail => "no_email",
            SendError::Email(_) => "email_failed",
            SendError::Store(_) => "store_unavailable",
        }
    }
}

/// Why a code was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("wrong code")]
    Wrong { attempts_left: u32 },
    #[error("too many attempts")]
    TooManyAttempts,
    #[error("the code has expired")]
    Expired,
    #[error("this sign-in was verified already")]
    Used,
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl CheckError {
    pub fn code(&self) -> &'static str {
        match self {
            CheckError::Wrong { .. } => "invalid_code",
            CheckError::TooManyAttempts => "too_many_attempts",
            CheckError::Expired => "code_expired",
            CheckError::Used => "code_used",
            CheckError::Store(_) => "store_unavailable",
        }
    }
}

/// The code in force for a pending session, as the store keeps it.
#[derive(Serialize, Deserialize)]
struct Challenge {
    /// HMAC-SHA256 of the session id and the code under the [`CodeKey`], hex.
    hash: String,
    /// When this code was sent (the injected clock).
    sent: i64,
}

/// Decides which sign-ins are verified, and runs their codes.
pub struct Verifier {
    settings: VerificationSettings,
    default_mode: VerificationMode,
    /// Provider id (`credentials` for password sign-in) to its mode, where set.
    modes: HashMap<String, VerificationMode>,
    store: Store,
    mailer: Mailer,
    pub devices: DeviceCodec,
    clock: SharedClock,
    code_key: CodeKey,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("default_mode", &self.default_mode).field("modes", &self.modes).finish()
    }
}

/// The key the stored codes are MACed under: derived from the key set (the
/// current key serving the flow purpose, HKDF label `flow/signin-code`), so
/// every replica sharing the key set checks the codes of the others. Taken
/// once at start: a code sent before a key rotation stops working at the
/// next restart (the person asks for a new one).
struct CodeKey(zeroize::Zeroizing<[u8; 32]>);

/// The HKDF label of the code key, under the flow purpose.
const CODE_KEY_USE: &str = "signin-code";

impl CodeKey {
    fn from_keys(keys: &JwkSet) -> CodeKey {
        // A set without a secret key is a verify-only replica's, which mints
        // no sign-ins and so sends no codes: a key of its own does no harm.
        CodeKey(
            derive_mac_key(keys, Purpose::Flow, CODE_KEY_USE)
                .unwrap_or_else(|| zeroize::Zeroizing::new(rand::random())),
        )
    }

    /// The stored form of `code` for the sign-in `session_id`, hex.
    fn hash(&self, session_id: &str, code: &str) -> String {
        // HMAC pads a key shorter than its block with zeros: the 32-byte key
        // as a 64-byte block is the same key, and a length that cannot fail.
        let mut block = zeroize::Zeroizing::new([0u8; 64]);
        block.iter_mut().zip(self.0.iter()).for_each(|(to, from)| *to = *from);
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&GenericArray::from(*block));
        mac.update(session_id.as_bytes());
        mac.update(b":");
        mac.update(code.as_bytes());
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

impl Verifier {
    /// The verifier `settings` ask for; `None` when every sign-in method is
    /// `off` (validation has made sure e-mail and a store are there otherwise).
    pub fn from_settings(
        settings: &Settings,
        keys: &JwkSet,
        store: Store,
        clock: SharedClock,
    ) -> Result<Option<Verifier>, String> {
        let on = settings.verification_modes().iter().any(|(_, mode)| *mode != VerificationMode::Off);
        let Some(mailer) = Mailer::from_settings(&settings.email)? else { return Ok(None) };
        if !on {
            return Ok(None);
        }
        let mut modes: HashMap<String, VerificationMode> =
            settings.providers.iter().filter_map(|(id, provider)| Some((id.clone(), provider.verification?))).collect();
        if let Some(mode) = settings.credentials.verification {
            modes.insert(PROVIDER_ID.into(), mode);
            modes.insert(crate::accounts::PROVIDER_ID.into(), mode);
        }
        let verification = &settings.verification;
        let devices = DeviceCodec::new(keys, clock.clone(), secs(verification.device_lifetime))
            .map_err(|e: SealError| format!("keys: {e}"))?;
        Ok(Some(Verifier {
            settings: verification.clone(),
            default_mode: verification.default_mode(&settings.email),
            modes,
            store,
            mailer,
            devices,
            clock,
            code_key: CodeKey::from_keys(keys),
        }))
    }

    pub fn mode(&self, provider: &str) -> VerificationMode {
        self.modes.get(provider).copied().unwrap_or(self.default_mode)
    }

    pub fn max_attempts(&self) -> u32 {
        self.settings.max_attempts
    }

    pub fn code_length(&self) -> usize {
        self.settings.code_length
    }

    /// What the sign-in of `session` needs. `known_device`: whether the
    /// browser holds a known-device cookie for its user.
    pub async fn decide(&self, session: &Session, known_device: bool, client: Option<IpAddr>) -> Decision {
        let mode = self.mode(&session.provider);
        if mode == VerificationMode::Off {
            return Decision::Proceed;
        }
        if session.user.email.is_none() {
            // In "always" a sign-in that cannot be verified is refused; in
            // "unusual" an account without an address is never challenged.
            return match mode {
                VerificationMode::Always => Decision::Refuse("no_email"),
                _ => {
                    tracing::warn!(user = %session.user.id, provider = %session.provider, "sign-in not verified: the account has no e-mail address");
                    Decision::Proceed
                }
            };
        }
        if mode == VerificationMode::Always || !known_device {
            return Decision::Verify;
        }
        if self.settings.new_network {
            let known = match client {
                Some(ip) => self.recent_networks(session).await.contains(&network::network_of(ip).to_string()),
                None => false,
            };
            if !known {
                return Decision::Verify;
            }
        }
        Decision::Proceed
    }

    /// `session`, marked pending: it ends `verification.pending_lifetime`
    /// after sign-in unless verified.
    pub fn pending(&self, mut session: Session) -> Session {
        session.pending = true;
        session.expires_at =
            session.expires_at.min(session.created_at.saturating_add(secs(self.settings.pending_lifetime)));
        session
    }

    /// `session`, verified: no longer pending, with a full idle lifetime from now.
    pub fn verified(&self, mut session: Session, lifetimes: Lifetimes) -> Session {
        let now = self.clock.now();
        session.pending = false;
        session.expires_at =
            now.saturating_add(lifetimes.idle).min(session.created_at.saturating_add(lifetimes.absolute));
        session
    }

    fn key(kind: &str, session: &Session) -> String {
        format!("verify-signin:{kind}:{}", session.id)
    }

    fn new_code(&self) -> SigninCode {
        let mut rng = rand::rngs::OsRng;
        SigninCode::new((0..self.settings.code_length).map(|_| char::from(b'0' + rng.gen_range(0..10u8))).collect())
    }

    /// E-mail a new code for the pending `session` (the one in force until
    /// then stops working). `resend`: refused within
    /// `verification.resend_interval` of the last one.
    #[tracing::instrument(skip_all, fields(user = %session.user.id))]
    pub async fn send_code(&self, session: &Session, resend: bool) -> Result<(), SendError> {
        let to = session.user.email.as_deref().ok_or(SendError::NoEmail)?;
        let now = self.clock.now();
        let key = Self::key("code", session);
        if resend {
            if let Some(bytes) = self.store.get_outcome(&key).await? {
                if let Ok(last) = serde_json::from_slice::<Challenge>(&bytes) {
                    let wait = last.sent.saturating_add(secs(self.settings.resend_interval)) - now;
                    if wait > 0 {
                        return Err(SendError::TooSoon(u64::try_from(wait).unwrap_or(1)));
                    }
                }
            }
        }
        let code = self.new_code();
        let challenge = Challenge { hash: self.code_key.hash(&session.id, code.expose_secret()), sent: now };
        let bytes = serde_json::to_vec(&challenge).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.store.put_outcome(&key, &bytes, self.settings.pending_lifetime).await?;
        let greeting = session.user.name.as_deref().or(session.user.username.as_deref()).unwrap_or(&session.user.id);
        self.mailer.send_code(to, greeting, &code, self.settings.code_lifetime.as_secs() / 60).await?;
        tracing::info!("sign-in code sent");
        Ok(())
    }

    /// Take `code` for the pending `session`. Every call counts as an attempt.
    #[tracing::instrument(skip_all, fields(user = %session.user.id))]
    pub async fn check(&self, session: &Session, code: &str) -> Result<(), CheckError> {
        let max = u64::from(self.settings.max_attempts);
        let attempts = self.store.hit(&Self::key("attempts", session), self.settings.pending_lifetime).await?;
        if attempts > max {
            return Err(CheckError::TooManyAttempts);
        }
        let challenge = self.store.get_outcome(&Self::key("code", session)).await?;
        let challenge = challenge.and_then(|bytes| serde_json::from_slice::<Challenge>(&bytes).ok());
        let Some(challenge) = challenge else { return Err(CheckError::Expired) };
        let given = self.code_key.hash(&session.id, code);
        let right = bool::from(given.as_bytes().ct_eq(challenge.hash.as_bytes()));
        if !right {
            let attempts_left = u32::try_from(max.saturating_sub(attempts)).unwrap_or(0);
            return Err(if attempts_left == 0 {
                CheckError::TooManyAttempts
            } else {
                CheckError::Wrong { attempts_left }
            });
        }
        if self.clock.now() >= challenge.sent.saturating_add(secs(self.settings.code_lifetime)) {
            return Err(CheckError::Expired);
        }
        if !self.store.seen_once(&Self::key("used", session), self.settings.pending_lifetime).await? {
            return Err(CheckError::Used);
        }
        Ok(())
    }

    fn networks_key(session: &Session) -> String {
        format!("verify-signin:networks:{}", user_at_provider(&session.provider, &session.user.id))
    }

    async fn recent_networks(&self, session: &Session) -> Vec<String> {
        match self.store.get_outcome(&Self::networks_key(session)).await {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_default(),
            Ok(None) => Vec::new(),
            Err(error) => {
                tracing::warn!(%error, "recent networks unavailable; the sign-in counts as from a new network");
                Vec::new()
            }
        }
    }

    /// Remember `client`'s network as one of the user's recent ones (with
    /// `verification.new_network`; the newest first, at most
    /// `verification.recent_networks`).
    pub async fn remember_network(&self, session: &Session, client: Option<IpAddr>) {
        let (true, Some(ip)) = (self.settings.new_network, client) else { return };
        let network = network::network_of(ip).to_string();
        let mut networks = self.recent_networks(session).await;
        networks.retain(|known| *known != network);
        networks.insert(0, network);
        networks.truncate(self.settings.recent_networks);
        let Ok(bytes) = serde_json::to_vec(&networks) else { return };
        if let Err(error) =
            self.store.put_outcome(&Self::networks_key(session), &bytes, self.settings.device_lifetime).await
        {
            tracing::warn!(%error, "the sign-in's network could not be remembered");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_keeps_a_keyed_hash_bound_to_the_session_never_the_code() {
        use crate::crypto::keys::KeyAlg;
        use sha2::Digest;
        let keys = JwkSet::generate(KeyAlg::Dir);
        let key = CodeKey::from_keys(&keys);
        let hash = key.hash("sid-1", "123456");
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains("123456"));
        assert_ne!(hash, key.hash("sid-2", "123456"), "the same code for another sign-in");
        assert_eq!(hash, key.hash("sid-1", "123456"));
        let mut plain = <Hmac<Sha256> as Mac>::new_from_slice(key.0.as_slice()).unwrap();
        plain.update(b"sid-1:123456");
        let plain: String = plain.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hash, plain, "HMAC-SHA256 of `sid:code` under the 32-byte key");
        assert_eq!(hash, CodeKey::from_keys(&keys).hash("sid-1", "123456"), "another replica, the same key set");
        // A store dump alone does not give the code away: without the key
        // set, trying every code against the hash finds nothing.
        let unkeyed = |code: &str| -> String {
            sha2::Sha256::digest(format!("sid-1:{code}").as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
        };
        assert_ne!(hash, unkeyed("123456"), "not the plain SHA-256 of old");
        let other_set = CodeKey::from_keys(&JwkSet::generate(KeyAlg::Dir));
        assert_ne!(hash, other_set.hash("sid-1", "123456"), "another key set");
    }

    #[test]
    fn errors_have_stable_codes() {
        assert_eq!(CheckError::Wrong { attempts_left: 2 }.code(), "invalid_code");
        assert_eq!(CheckError::TooManyAttempts.code(), "too_many_attempts");
        assert_eq!(CheckError::Expired.code(), "code_expired");
        assert_eq!(CheckError::Used.code(), "code_used");
        assert_eq!(SendError::TooSoon(30).code(), "resend_too_soon");
        assert_eq!(SendError::Email(EmailError::Timeout(Duration::from_secs(1))).code(), "email_failed");
    }
}
