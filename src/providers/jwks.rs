//! An issuer's signing keys (JWKS): one cache per OpenID Connect provider,
//! serving both its ID tokens (at sign-in) and its JWTs sent as Bearer
//! tokens, so a key the issuer rotates in is seen by both at once.
//!
//! - The set is fetched at discovery, and again when a token names a `kid`
//!   the set lacks (OIDC Core 10.1.1: the issuer may have rotated its keys)
//!   or when it is older than `jwks_lifetime` (in the background: the old set
//!   answers meanwhile).
//! - Fetches are at least `jwks_min_refetch` apart (by the injected clock),
//!   so a flood of tokens with made-up `kid`s costs the issuer one request
//!   per interval at most.
//! - Keys are only ever replaced by a fetched set that holds usable keys: a
//!   fetch that fails, times out or brings no usable key keeps the set we
//!   have, so one made-up `kid` while the issuer is unreachable never makes
//!   valid tokens fail (nor wait for the issuer).

use super::http::get_json;
use crate::clock::SharedClock;
use crate::config::ASYMMETRIC_ALGORITHMS;
use josekit::jwk::Jwk;
use josekit::jws::{self, JwsVerifier};
use openidconnect::core::CoreJsonWebKeySet;
use serde_json::Value;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use url::Url;

/// One verifier per (key, algorithm) pair the key may be used with.
struct Key {
    kid: Option<String>,
    alg: &'static str,
    verifier: Box<dyn JwsVerifier>,
}

/// The usable keys of one JWKS, for every asymmetric algorithm.
pub struct KeySet {
    keys: Vec<Key>,
    /// The same keys, for openidconnect's ID token verifier.
    id_token_keys: CoreJsonWebKeySet,
}

/// What looking a key up gave.
pub enum Lookup<'k> {
    Found(&'k dyn JwsVerifier),
    /// The key exists but not for this algorithm (`alg`/`kty` mismatch).
    WrongAlgorithm,
    Unknown,
}

fn verifier(alg: &str, jwk: &Jwk) -> Option<Box<dyn JwsVerifier>> {
    // josekit checks `kty`, `crv`, `use`, `key_ops`, the key's own `alg`
    // and (RSA) a modulus of at least 2048 bits.
    let verifier: Box<dyn JwsVerifier> = match alg {
        "RS256" => Box::new(jws::RS256.verifier_from_jwk(jwk).ok()?),
        "RS384" => Box::new(jws::RS384.verifier_from_jwk(jwk).ok()?),
        "RS512" => Box::new(jws::RS512.verifier_from_jwk(jwk).ok()?),
        "PS256" => Box::new(jws::PS256.verifier_from_jwk(jwk).ok()?),
        "PS384" => Box::new(jws::PS384.verifier_from_jwk(jwk).ok()?),
        "PS512" => Box::new(jws::PS512.verifier_from_jwk(jwk).ok()?),
        "ES256" => Box::new(jws::ES256.verifier_from_jwk(jwk).ok()?),
        "ES384" => Box::new(jws::ES384.verifier_from_jwk(jwk).ok()?),
        "EdDSA" => Box::new(jws::EdDSA.verifier_from_jwk(jwk).ok()?),
        _ => return None,
    };
    Some(verifier)
}

impl KeySet {
    /// The keys of a JWKS document usable with an asymmetric algorithm. Keys
    /// that are private, symmetric, malformed or for encryption are skipped,
    /// for ID tokens and Bearer JWTs alike.
    pub fn from_json(document: &Value) -> KeySet {
        let mut keys = Vec::new();
        let mut usable = Vec::new();
        let entries = document.get("keys").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        for entry in entries {
            let Value::Object(map) = entry else { continue };
            // A JWKS publishes public keys; a private or symmetric one is a mistake we do not use.
            if map.contains_key("d") || map.contains_key("k") {
                continue;
            }
            let Ok(jwk) = Jwk::from_map(map.clone()) else { continue };
            let before = keys.len();
            for alg in ASYMMETRIC_ALGORITHMS {
                if let Some(verifier) = verifier(alg, &jwk) {
                    keys.push(Key { kid: jwk.key_id().map(str::to_owned), alg, verifier });
                }
            }
            if keys.len() > before {
                usable.push(entry.clone());
            }
        }
        // openidconnect skips keys it does not understand, so this cannot fail
        // on a key josekit took; if it ever did, ID tokens get no keys (closed).
        let id_token_keys = serde_json::from_value(serde_json::json!({ "keys": usable })).unwrap_or_default();
        KeySet { keys, id_token_keys }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys as openidconnect wants them for an ID token check.
    pub fn id_token_keys(&self) -> &CoreJsonWebKeySet {
        &self.id_token_keys
    }

    /// The verifier for `kid` and `alg`. A token without a `kid` is only
    /// accepted when exactly one key fits its algorithm.
    pub fn find(&self, kid: Option<&str>, alg: &str) -> Lookup<'_> {
        match kid {
            Some(kid) => {
                let mut known = false;
                for key in self.keys.iter().filter(|key| key.kid.as_deref() == Some(kid)) {
                    if key.alg == alg {
                        return Lookup::Found(key.verifier.as_ref());
                    }
                    known = true;
                }
                if known {
                    Lookup::WrongAlgorithm
                } else {
                    Lookup::Unknown
                }
            }
            None => {
                let mut fitting = self.keys.iter().filter(|key| key.alg == alg);
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => Lookup::Found(key.verifier.as_ref()),
                    _ => Lookup::Unknown,
                }
            }
        }
    }
}

/// A key set and when it was fetched (clock seconds).
struct Fetched {
    keys: Arc<KeySet>,
    at: i64,
}

/// One issuer's JWKS: cached, refetched on an unknown `kid` or when old,
/// rate-limited, never emptied by a failed fetch.
pub struct Jwks {
    /// The provider id, for logs.
    provider: String,
    http: reqwest::Client,
    clock: SharedClock,
    lifetime: i64,
    min_refetch: i64,
    current: RwLock<Option<Fetched>>,
    /// Held while fetching: one fetch at a time (single flight).
    fetching: tokio::sync::Mutex<()>,
    /// When the last fetch started (clock seconds), `i64::MIN` before the first.
    last_fetch: AtomicI64,
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

impl Jwks {
    pub fn new(
        provider: &str,
        http: reqwest::Client,
        clock: SharedClock,
        lifetime: Duration,
        min_refetch: Duration,
    ) -> Jwks {
        Jwks {
            provider: provider.to_owned(),
            http,
            clock,
            lifetime: secs(lifetime).max(1),
            min_refetch: secs(min_refetch),
            current: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(()),
            last_fetch: AtomicI64::new(i64::MIN),
        }
    }

    fn snapshot(&self) -> Option<(Arc<KeySet>, i64)> {
        self.current.read().ok()?.as_ref().map(|f| (Arc::clone(&f.keys), f.at))
    }

    /// Whether a set with at least one usable key is at hand.
    pub fn has_keys(&self) -> bool {
        self.snapshot().is_some_and(|(keys, _)| !keys.is_empty())
    }

    /// The id of the provider whose keys these are.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// Claim the right to fetch now: false while the last fetch is too recent.
    fn may_fetch(&self) -> bool {
        let now = self.clock.now();
        let last = self.last_fetch.load(Ordering::Acquire);
        if last != i64::MIN && now.saturating_sub(last) < self.min_refetch {
            return false;
        }
        self.last_fetch.compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// Fetch the set and keep it if it holds a usable key; the set we had
    /// stays otherwise. The caller holds `fetching`.
    async fn fetch_and_keep(&self, uri: &Url) -> Option<Arc<KeySet>> {
        let kept = self.fetch_and_keep_uncounted(uri).await;
        crate::metrics::provider_fetched(&self.provider, crate::metrics::Fetch::jwks, kept.is_some());
        kept
    }

    async fn fetch_and_keep_uncounted(&self, uri: &Url) -> Option<Arc<KeySet>> {
        let document = match get_json(&self.http, uri, None, "application/json").await {
            Ok(document) => document,
            Err(error) => {
                tracing::warn!(provider = %self.provider, %error, "JWKS fetch failed; keeping the keys we have");
                return None;
            }
        };
        let keys = Arc::new(KeySet::from_json(&document));
        if keys.is_empty() {
            tracing::warn!(provider = %self.provider, "the JWKS has no usable key; keeping the keys we have");
            return None;
        }
        tracing::info!(provider = %self.provider, keys = keys.len(), "JWKS fetched");
        if let Ok(mut current) = self.current.write() {
            *current = Some(Fetched { keys: Arc::clone(&keys), at: self.clock.now() });
        }
        Some(keys)
    }

    /// Fetch now, whatever the rate limit (discovery, which has its own
    /// backoff). True when a usable set is at hand afterwards.
    pub async fn fetch_now(&self, uri: &Url) -> bool {
        let _flight = self.fetching.lock().await;
        self.last_fetch.store(self.clock.now(), Ordering::Release);
        self.fetch_and_keep(uri).await.is_some() || self.has_keys()
    }

    /// The key set, fetching it when there is none yet (rate-limited). A set
    /// older than `jwks_lifetime` is still answered while a fresh one is
    /// fetched in the background.
    pub async fn keys(self: &Arc<Self>, uri: &Url) -> Option<Arc<KeySet>> {
        if let Some((keys, at)) = self.snapshot() {
            if self.clock.now().saturating_sub(at) >= self.lifetime && self.may_fetch() {
                let (this, uri) = (Arc::clone(self), uri.clone());
                tokio::spawn(async move {
                    let _flight = this.fetching.lock().await;
                    this.fetch_and_keep(&uri).await;
                });
            }
            return Some(keys);
        }
        let _flight = self.fetching.lock().await;
        if let Some((keys, _)) = self.snapshot() {
            return Some(keys);
        }
        if !self.may_fetch() {
            return None;
        }
        self.fetch_and_keep(uri).await
    }

    /// A token names a key `seen` lacks: fetch again (rate-limited) and give
    /// the newer set, or `None` when there is none to be had. Concurrent
    /// callers share one fetch: whoever waited gets the set it brought.
    pub async fn refetch(&self, uri: &Url, seen: &Arc<KeySet>) -> Option<Arc<KeySet>> {
        let _flight = self.fetching.lock().await;
        if let Some((keys, _)) = self.snapshot() {
            if !Arc::ptr_eq(&keys, seen) {
                return Some(keys);
            }
        }
        if !self.may_fetch() {
            return None;
        }
        tracing::info!(provider = %self.provider, "a token names an unknown key; fetching the JWKS again");
        self.fetch_and_keep(uri).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn public(alg: Option<&str>, kid: &str) -> Value {
        let pair = jws::ES256.generate_key_pair().unwrap();
        let mut jwk = pair.to_jwk_public_key();
        jwk.set_key_id(kid);
        if let Some(alg) = alg {
            jwk.set_algorithm(alg);
        }
        Value::Object(jwk.as_ref().clone())
    }

    #[test]
    fn only_public_signing_keys_are_kept_for_bearer_jwts_and_id_tokens_alike() {
        let private = Value::Object(jws::ES256.generate_key_pair().unwrap().to_jwk_private_key().as_ref().clone());
        let mut encryption = public(None, "enc");
        encryption["use"] = json!("enc");
        let document = json!({"keys": [
            public(None, "a"),
            public(Some("ES256"), "b"),
            private,
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            encryption,
            {"kty": "RSA", "kid": "broken", "n": "AQAB", "e": "AQAB"},
            "not an object",
        ]});
        let keys = KeySet::from_json(&document);
        assert_eq!(keys.len(), 2, "a and b, each for ES256 only");
        assert_eq!(keys.id_token_keys().keys().len(), 2, "the same two for ID tokens");
        assert!(matches!(keys.find(Some("a"), "ES256"), Lookup::Found(_)));
        assert!(matches!(keys.find(Some("b"), "RS256"), Lookup::WrongAlgorithm));
        assert!(matches!(keys.find(Some("hmac"), "ES256"), Lookup::Unknown));
        assert!(matches!(keys.find(Some("enc"), "ES256"), Lookup::Unknown));
        // Without a kid, only an unambiguous key is used.
        assert!(matches!(keys.find(None, "ES256"), Lookup::Unknown));
        let single = KeySet::from_json(&json!({"keys": [public(None, "only")]}));
        assert!(matches!(single.find(None, "ES256"), Lookup::Found(_)));
        let empty = KeySet::from_json(&json!({"nokeys": 1}));
        assert!(empty.is_empty() && empty.id_token_keys().keys().is_empty());
    }
}
