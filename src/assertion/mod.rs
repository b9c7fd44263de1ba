//! `X-Auth-Assertion`: who is asking, signed, for the upstream. Identity
//! headers can be set by anyone who reaches the upstream around the proxy,
//! or through a proxy that forgot to clear one; an assertion is a short-lived
//! JWS (`ES256` or `EdDSA`) that the upstream checks against sealgate's
//! published keys (`/.well-known/jwks.json`), so it need not trust headers.
//!
//! - [`keys`]: the assertion keys, their file and their states.
//! - [`Assertions`]: signs, and keeps what it signed per identity and
//!   audience until shortly before it expires, so `/auth/verify` signs once
//!   per identity every few seconds, not per request. Each opened credential
//!   also keeps the assertion last sent for it in its own [`Slot`], asked
//!   first: the common request costs an atomic load, not a cache lookup.
//!
//! The claims: `iss` (the public URL), `aud`, `sub`, `email`, `name`,
//! `username`, `groups`, `provider`, `source`, `iat`, `exp` (never after the
//! credential's own end), `sid_hash` (base64url SHA-256 of the session or
//! token id: a stable handle that is not the id), and `claims` (a
//! provider's kept claims) when there are any. The header's `typ` is
//! `sealgate-assertion+jwt`.

pub mod keys;

pub use keys::AssertionKeys;

use crate::clock::SharedClock;
use crate::config::{Mode, Settings};
use crate::crypto::keys::SignAlg;
use crate::identity::Identity;
use actix_web::http::header::HeaderValue;
use arc_swap::ArcSwap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jws::JwsHeader;
use moka::sync::Cache;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::hash::{BuildHasher, RandomState};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The JWS header `typ` of an assertion (RFC 8725 3.11: explicit typing).
pub const TYP: &str = "sealgate-assertion+jwt";

/// The largest assertion sent: beyond it (a user in hundreds of groups),
/// none is sent and the upstream, which needs one, refuses; proxies' header
/// buffers (nginx's 4-8 KiB by default) would refuse it anyway.
pub const MAX_ASSERTION_BYTES: usize = 8 * 1024;

/// How many signed assertions are kept, at most.
const CACHE_ENTRIES: u64 = 100_000;

/// The longest audience taken from a forwarded host.
const MAX_HOST: usize = 260;

/// The keys in force and their published form.
struct Signing {
    keys: AssertionKeys,
    /// `/.well-known/jwks.json`'s body.
    jwks: Arc<str>,
    /// Bumped on every reload: an assertion kept from before is signed again.
    generation: u64,
}

/// One kept assertion: for whom, and until when it is handed out.
struct Signed {
    identity: Identity,
    audience: Box<str>,
    generation: u64,
    /// When it is signed again: a quarter of the lifetime before `exp`.
    refresh_at: i64,
    /// `None`: too large to send.
    token: Option<HeaderValue>,
}

/// A credential's own place for the assertion last sent for it, kept with
/// the opened credential (`credentials::Identified`): its identity never
/// changes, so only the audience, the keys and the time need checking.
#[derive(Default)]
pub struct Slot(arc_swap::ArcSwapOption<Signed>);

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Slot")
    }
}

/// Signs assertions and keeps them; see the module's documentation.
pub struct Assertions {
    signing: ArcSwap<Signing>,
    generations: AtomicU64,
    clock: SharedClock,
    issuer: String,
    lifetime: i64,
    audience: Option<String>,
    keys_path: PathBuf,
    kept: Cache<u64, Arc<Signed>>,
    hasher: RandomState,
}

impl std::fmt::Debug for Assertions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assertions")
            .field("keys", &self.signing.load().keys.describe())
            .field("lifetime", &self.lifetime)
            .field("audience", &self.audience)
            .finish()
    }
}

/// The host a trusted proxy forwarded, as an audience: a host that parses
/// (a name or an IP address) and an optional numeric port, lower-cased.
/// Anything else is `None`: no assertion rather than one for a made-up
/// audience.
pub fn audience_from_host(host: &str) -> Option<String> {
    if host.is_empty() || host.len() > MAX_HOST {
        return None;
    }
    let (name, port) = match host.strip_prefix('[') {
        // An IPv6 literal, `[::1]` or `[::1]:8080`.
        Some(rest) => {
            let (inside, after) = rest.split_once(']')?;
            let port = if after.is_empty() { None } else { Some(after.strip_prefix(':')?) };
            (host.get(..inside.len() + 2)?, port)
        }
        None => match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        },
    };
    let numeric =
        |port: &str| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok();
    if port.is_some_and(|port| !numeric(port)) {
        return None;
    }
    // What a proxy forwards is plain ASCII; `Host::parse` would also
    // percent-decode and map Unicode, so both are refused first.
    let plain = name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b));
    if name.is_empty() || !plain || url::Host::parse(name).is_err() {
        return None;
    }
    Some(host.to_ascii_lowercase())
}

impl Assertions {
    /// The assertions the settings ask for, with their keys loaded; `None`
    /// when `assertion.enabled` is off. A missing key file is generated in
    /// development mode (written when `may_write`), an error in production.
    pub fn from_settings(
        settings: &Settings,
        clock: SharedClock,
        may_write: bool,
    ) -> Result<Option<Assertions>, String> {
        if !settings.assertion.enabled {
            return Ok(None);
        }
        let path = settings.assertion_keys_path();
        let keys = match keys::read(&path)? {
            Some(keys) => keys,
            None if settings.mode == Mode::Development => {
                let keys = AssertionKeys::generate(SignAlg::Es256, clock.now())?;
                if may_write {
                    keys::write(&path, &keys)?;
                    tracing::warn!(
                        path = %path.display(),
                        "DEVELOPMENT MODE: no assertion keys were found, so an ES256 key was generated. \
                         Production refuses to start without them (`sealgate assertion-keys generate`)."
                    );
                }
                keys
            }
            None => {
                return Err(format!(
                    "no assertion keys at `{}`; run `sealgate assertion-keys generate` to create them",
                    path.display()
                ))
            }
        };
        let issuer = settings.server.public_url.trim_end_matches('/').to_owned();
        Ok(Some(Assertions::new(keys, clock, issuer, &settings.assertion, path)))
    }

    fn new(
        keys: AssertionKeys,
        clock: SharedClock,
        issuer: String,
        settings: &crate::config::AssertionSettings,
        keys_path: PathBuf,
    ) -> Assertions {
        let lifetime = settings.lifetime.as_secs() as i64;
        let jwks = keys.public_jwks().into();
        Assertions {
            signing: ArcSwap::from_pointee(Signing { keys, jwks, generation: 0 }),
            generations: AtomicU64::new(0),
            clock,
            issuer,
            lifetime,
            audience: settings.audience.clone(),
            keys_path,
            // Kept no longer than an assertion lives; expiry by `refresh_at` is checked on use.
            kept: Cache::builder()
                .max_capacity(CACHE_ENTRIES)
                .time_to_live(Duration::from_secs(lifetime.unsigned_abs()))
                .build(),
            hasher: RandomState::new(),
        }
    }

    /// The configured audience, if any; else the caller finds the forwarded host.
    pub fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// `/.well-known/jwks.json`'s body: the public keys.
    pub fn jwks(&self) -> Arc<str> {
        Arc::clone(&self.signing.load().jwks)
    }

    /// The assertion for `identity` and `audience`: the kept one while it
    /// is fresh, else a new one (kept). `None` when it would be too large
    /// or could not be signed (logged).
    pub fn assertion(&self, identity: &Identity, audience: &str) -> Option<HeaderValue> {
        self.kept_or_signed(identity, audience, self.clock.now()).token.clone()
    }

    /// [`Assertions::assertion`], asking the credential's own `slot` first:
    /// the assertion sent last for this credential, while it is for the same
    /// audience and keys and before its refresh point (an atomic load and
    /// three comparisons, where the shared cache costs a hash, a moka lookup
    /// and an identity comparison).
    pub fn assertion_in(&self, slot: &Slot, identity: &Identity, audience: &str) -> Option<HeaderValue> {
        let now = self.clock.now();
        if let Some(kept) = &*slot.0.load() {
            if now < kept.refresh_at && *kept.audience == *audience && kept.generation == self.signing.load().generation
            {
                return kept.token.clone();
            }
        }
        let signed = self.kept_or_signed(identity, audience, now);
        let token = signed.token.clone();
        slot.0.store(Some(signed));
        token
    }

    /// The kept assertion for `identity` and `audience` while it is fresh,
    /// else a new one, kept.
    fn kept_or_signed(&self, identity: &Identity, audience: &str, now: i64) -> Arc<Signed> {
        let signing = self.signing.load();
        let key = self.hasher.hash_one((identity.id.as_str(), audience));
        if let Some(kept) = self.kept.get(&key) {
            let same = *kept.audience == *audience && kept.identity == *identity;
            if same && kept.generation == signing.generation && now < kept.refresh_at {
                return kept;
            }
        }
        let signed = Arc::new(self.sign(&signing, identity, audience, now));
        self.kept.insert(key, Arc::clone(&signed));
        signed
    }

    fn sign(&self, signing: &Signing, identity: &Identity, audience: &str, now: i64) -> Signed {
        let exp = (now + self.lifetime).min(identity.expires_at).max(now + 1);
        let refresh_at = (exp - self.lifetime / 4).clamp(now + 1, exp);
        let token = self.signed_token(signing, identity, audience, now, exp);
        Signed {
            identity: identity.clone(),
            audience: audience.into(),
            generation: signing.generation,
            refresh_at,
            token,
        }
    }

    fn signed_token(
        &self,
        signing: &Signing,
        identity: &Identity,
        audience: &str,
        iat: i64,
        exp: i64,
    ) -> Option<HeaderValue> {
        let payload = claims(&self.issuer, identity, audience, iat, exp);
        let key = signing.keys.current();
        let mut header = JwsHeader::new();
        header.set_token_type(TYP);
        header.set_key_id(key.kid());
        let payload = serde_json::to_vec(&payload).ok()?;
        // A compact JWS is 4/3 of header and payload, and the signature.
        if payload.len() / 3 * 4 > MAX_ASSERTION_BYTES {
            tracing::warn!(session = %identity.id, bytes = payload.len(), "the assertion would be too large; none is sent");
            return None;
        }
        let token = match josekit::jws::serialize_compact(&payload, &header, key.signer()) {
            Ok(token) => token,
            Err(error) => {
                tracing::error!(kid = key.kid(), %error, "an assertion could not be signed");
                return None;
            }
        };
        if token.len() > MAX_ASSERTION_BYTES {
            tracing::warn!(session = %identity.id, bytes = token.len(), "the assertion would be too large; none is sent");
            return None;
        }
        HeaderValue::from_str(&token).ok()
    }

    fn replace(&self, keys: AssertionKeys) {
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        let jwks = keys.public_jwks().into();
        self.signing.store(Arc::new(Signing { keys, jwks, generation }));
    }
}

/// The claims of one assertion.
fn claims(issuer: &str, identity: &Identity, audience: &str, iat: i64, exp: i64) -> Map<String, Value> {
    let user = &identity.user;
    let mut claims = Map::new();
    claims.insert("iss".into(), issuer.into());
    claims.insert("aud".into(), audience.into());
    claims.insert("sub".into(), user.id.clone().into());
    for (name, value) in [("email", &user.email), ("name", &user.name), ("username", &user.username)] {
        if let Some(value) = value {
            claims.insert(name.into(), value.clone().into());
        }
    }
    claims.insert("groups".into(), json!(user.groups));
    claims.insert("provider".into(), identity.provider.as_str().into());
    claims.insert("source".into(), identity.source.as_str().into());
    claims.insert("iat".into(), iat.into());
    claims.insert("exp".into(), exp.into());
    claims.insert("sid_hash".into(), URL_SAFE_NO_PAD.encode(Sha256::digest(identity.id.as_bytes())).into());
    if !user.claims.is_empty() {
        claims.insert("claims".into(), json!(user.claims));
    }
    claims
}

/// The assertion key file a running gateway watches: a change that parses
/// replaces the keys (and what was signed with the old set is signed
/// again); one that does not is refused, and the keys stay.
pub struct AssertionKeyFile(pub Arc<Assertions>);

impl crate::reload::Reloadable for AssertionKeyFile {
    fn what(&self) -> &'static str {
        "assertion key set"
    }

    fn path(&self) -> &Path {
        &self.0.keys_path
    }

    fn reload(&self, bytes: &[u8]) -> Result<Option<String>, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "the assertion key set is not UTF-8".to_owned())?;
        let keys = AssertionKeys::from_json(text)?;
        if keys.same_keys(&self.0.signing.load().keys) {
            return Ok(None);
        }
        let summary = keys.describe();
        self.0.replace(keys);
        Ok(Some(summary))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::identity::{ProviderId, Source, User};
    use crate::reload::Reloadable;
    use josekit::jws::ES256;

    const NOW: i64 = 1_796_000_000;

    fn ivy() -> Identity {
        let mut user = User::new("ivy");
        user.email = Some("ivy@example.com".into());
        user.groups = vec!["admins".into()];
        Identity {
            id: "the-session-id".into(),
            user,
            provider: ProviderId::parse("credentials").unwrap(),
            source: Source::Cookie,
            scopes: None,
            issued_at: NOW - 100,
            expires_at: NOW + 3600,
        }
    }

    fn assertions(clock: &ManualClock) -> (Assertions, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("assertion.jwks.json");
        let keys = AssertionKeys::generate(SignAlg::Es256, NOW).unwrap();
        keys::write(&path, &keys).unwrap();
        let settings = crate::config::AssertionSettings { enabled: true, ..Default::default() };
        (Assertions::new(keys, Arc::new(clock.clone()), "https://gate.example.com".into(), &settings, path), dir)
    }

    /// The claims of a token, its signature checked with the published key.
    fn verified(assertions: &Assertions, token: &HeaderValue) -> Map<String, Value> {
        let jwks: Value = serde_json::from_str(&assertions.jwks()).unwrap();
        let jwk = josekit::jwk::Jwk::from_map(jwks["keys"][0].as_object().unwrap().clone()).unwrap();
        let verifier = ES256.verifier_from_jwk(&jwk).unwrap();
        let (payload, header) = josekit::jws::deserialize_compact(token.to_str().unwrap(), &verifier).unwrap();
        assert_eq!(header.token_type(), Some(TYP));
        serde_json::from_slice(&payload).unwrap()
    }

    #[test]
    fn an_assertion_names_who_for_whom_and_until_when_and_never_the_session_id() {
        let clock = ManualClock::at(NOW);
        let (assertions, _dir) = assertions(&clock);
        let token = assertions.assertion(&ivy(), "app.example.com").unwrap();
        let claims = verified(&assertions, &token);
        assert_eq!(claims["iss"], "https://gate.example.com");
        assert_eq!(claims["aud"], "app.example.com");
        assert_eq!(claims["sub"], "ivy");
        assert_eq!(claims["email"], "ivy@example.com");
        assert_eq!(claims["groups"], json!(["admins"]));
        assert_eq!(claims["provider"], "credentials");
        assert_eq!(claims["source"], "cookie");
        assert_eq!((claims["iat"].as_i64(), claims["exp"].as_i64()), (Some(NOW), Some(NOW + 60)));
        assert_eq!(claims["sid_hash"], URL_SAFE_NO_PAD.encode(Sha256::digest(b"the-session-id")));
        assert!(!token.to_str().unwrap().contains("the-session-id"));
        assert!(!claims.values().any(|v| v == "the-session-id"));
    }

    #[test]
    fn the_same_assertion_is_handed_out_until_its_refresh_point_then_a_fresh_one() {
        let clock = ManualClock::at(NOW);
        let (assertions, _dir) = assertions(&clock);
        let first = assertions.assertion(&ivy(), "app.example.com").unwrap();
        clock.advance(44);
        assert_eq!(assertions.assertion(&ivy(), "app.example.com").unwrap(), first, "kept, not signed again");
        let other = assertions.assertion(&ivy(), "other.example.com").unwrap();
        assert_ne!(other, first, "another audience, another assertion");
        clock.advance(1);
        let fresh = assertions.assertion(&ivy(), "app.example.com").unwrap();
        assert_ne!(fresh, first);
        let claims = verified(&assertions, &fresh);
        assert_eq!((claims["iat"].as_i64(), claims["exp"].as_i64()), (Some(NOW + 45), Some(NOW + 105)));
        // Another user with the same credential id never gets ivy's.
        let mut mallory = ivy();
        mallory.user.id = "mallory".into();
        let theirs = assertions.assertion(&mallory, "app.example.com").unwrap();
        assert_eq!(verified(&assertions, &theirs)["sub"], "mallory");
    }

    #[test]
    fn a_credentials_slot_hands_out_its_assertion_until_the_refresh_point_audience_or_keys_change() {
        let clock = ManualClock::at(NOW);
        let (assertions, _dir) = assertions(&clock);
        let assertions = Arc::new(assertions);
        let slot = Slot::default();
        let first = assertions.assertion_in(&slot, &ivy(), "app.example.com").unwrap();
        assert_eq!(assertions.assertion(&ivy(), "app.example.com").unwrap(), first, "the shared cache has it too");
        clock.advance(44);
        assert_eq!(assertions.assertion_in(&slot, &ivy(), "app.example.com").unwrap(), first);
        let other = assertions.assertion_in(&slot, &ivy(), "other.example.com").unwrap();
        assert_eq!(verified(&assertions, &other)["aud"], "other.example.com", "another audience, not the slot's");
        // Signed at NOW + 44, refreshed a quarter of the lifetime before its exp.
        clock.advance(44);
        assert_eq!(assertions.assertion_in(&slot, &ivy(), "other.example.com").unwrap(), other, "not yet");
        clock.advance(1);
        let fresh = assertions.assertion_in(&slot, &ivy(), "other.example.com").unwrap();
        assert_ne!(fresh, other, "past the refresh point");
        assert_eq!(verified(&assertions, &fresh)["iat"].as_i64(), Some(NOW + 89));
        let mut keys = keys::read(&assertions.keys_path).unwrap().unwrap();
        let next = keys.add_generated(SignAlg::Es256, crate::crypto::keys::KeyState::Next, NOW).unwrap();
        keys.activate(&next).unwrap();
        assert!(AssertionKeyFile(Arc::clone(&assertions)).reload(keys.to_json().as_bytes()).unwrap().is_some());
        let resigned = assertions.assertion_in(&slot, &ivy(), "other.example.com").unwrap();
        assert_ne!(resigned, fresh, "new keys: signed again");
    }

    #[test]
    fn an_assertion_never_outlives_its_credential_and_oversized_ones_are_not_sent() {
        let clock = ManualClock::at(NOW);
        let (assertions, _dir) = assertions(&clock);
        let mut ending = ivy();
        ending.expires_at = NOW + 10;
        let claims = verified(&assertions, &assertions.assertion(&ending, "a").unwrap());
        assert_eq!(claims["exp"].as_i64(), Some(NOW + 10));
        let mut crowd = ivy();
        crowd.user.groups = (0..256).map(|i| format!("engineering-platform-team-{i:03}")).collect();
        assert_eq!(assertions.assertion(&crowd, "a"), None);
    }

    #[test]
    fn a_reloaded_key_file_signs_from_the_next_request_on() {
        let clock = ManualClock::at(NOW);
        let (assertions, _dir) = assertions(&clock);
        let assertions = Arc::new(assertions);
        let before = assertions.assertion(&ivy(), "a").unwrap();
        let mut keys = keys::read(&assertions.keys_path).unwrap().unwrap();
        let next = keys.add_generated(SignAlg::Es256, crate::crypto::keys::KeyState::Next, NOW).unwrap();
        keys.activate(&next).unwrap();
        let file = AssertionKeyFile(Arc::clone(&assertions));
        assert!(file.reload(keys.to_json().as_bytes()).unwrap().is_some());
        assert_eq!(file.reload(keys.to_json().as_bytes()).unwrap(), None, "the same keys again");
        assert!(file.reload(b"{").is_err());
        let after = assertions.assertion(&ivy(), "a").unwrap();
        assert_ne!(after, before);
        let header = josekit::jws::JwsHeader::from_map(
            serde_json::from_slice::<Map<String, Value>>(
                &URL_SAFE_NO_PAD.decode(after.to_str().unwrap().split('.').next().unwrap()).unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(header.key_id(), Some(next.as_str()));
        let published: Value = serde_json::from_str(&assertions.jwks()).unwrap();
        assert_eq!(published["keys"].as_array().unwrap().len(), 2, "the previous key is still published");
    }

    #[test]
    fn only_forwarded_hosts_that_parse_become_audiences() {
        for good in ["app.example.com", "App.Example.COM:8443", "127.0.0.1:8080", "[::1]:80", "[::1]"] {
            assert!(audience_from_host(good).is_some(), "{good}");
        }
        assert_eq!(audience_from_host("App.Example.com").as_deref(), Some("app.example.com"));
        for bad in
            ["", "app.example.com:abc", "app.example.com:", "a:99999", "bad host", "a/b", "%61pp", "a:1:2", "<several>"]
        {
            assert_eq!(audience_from_host(bad), None, "{bad}");
        }
    }
}
