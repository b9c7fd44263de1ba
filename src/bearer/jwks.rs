//! An issuer's signing keys (JWKS), fetched on demand and kept in moka.
//!
//! A token naming a `kid` the cached set lacks may mean the issuer rotated
//! its keys, so it triggers a fetch; fetches of one issuer's JWKS are at
//! least `min_refetch` apart (by the injected clock), so a flood of tokens
//! with random `kid`s costs the issuer one request per interval at most.

use super::BearerError;
use crate::clock::SharedClock;
use crate::providers::Provider;
use josekit::jwk::Jwk;
use josekit::jws::{self, JwsVerifier};
use moka::future::Cache;
use serde_json::Value;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// One verifier per (key, algorithm) pair the key may be used with.
struct Key {
    kid: Option<String>,
    alg: &'static str,
    verifier: Box<dyn JwsVerifier>,
}

/// The usable keys of one JWKS, for the allowed algorithms.
pub struct KeySet {
    keys: Vec<Key>,
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
    /// The keys of a JWKS document usable with `algorithms`. Keys that are
    /// private, symmetric, malformed or for encryption are skipped.
    pub fn from_json(document: &Value, algorithms: &[&'static str]) -> KeySet {
        let mut keys = Vec::new();
        let entries = document.get("keys").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        for entry in entries {
            let Value::Object(map) = entry else { continue };
            // A JWKS publishes public keys; a private or symmetric one is a mistake we do not use.
            if map.contains_key("d") || map.contains_key("k") {
                continue;
            }
            let Ok(jwk) = Jwk::from_map(map.clone()) else { continue };
            for &alg in algorithms {
                if let Some(verifier) = verifier(alg, &jwk) {
                    keys.push(Key { kid: jwk.key_id().map(str::to_owned), alg, verifier });
                }
            }
        }
        KeySet { keys }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
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

/// One issuer's JWKS: cached, refetched on an unknown `kid`, rate-limited.
pub struct Jwks {
    provider: Arc<Provider>,
    algorithms: Vec<&'static str>,
    cache: Cache<(), Arc<KeySet>>,
    /// When the last fetch started (clock seconds), `i64::MIN` before the first.
    last_fetch: AtomicI64,
    min_refetch: i64,
    clock: SharedClock,
}

impl Jwks {
    pub fn new(provider: Arc<Provider>, algorithms: Vec<&'static str>, clock: SharedClock) -> Jwks {
        let lifetime = provider.bearer.jwks_lifetime.max(Duration::from_secs(1));
        let min_refetch = provider.bearer.jwks_min_refetch.as_secs() as i64;
        Jwks {
            provider,
            algorithms,
            cache: Cache::builder().max_capacity(1).time_to_live(lifetime).build(),
            last_fetch: AtomicI64::new(i64::MIN),
            min_refetch,
            clock,
        }
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

    async fn fetch(&self) -> Result<Arc<KeySet>, BearerError> {
        let result = async {
            let url = self.provider.jwks_uri().await?;
            self.provider.fetch_json(&url).await
        }
        .await;
        match result {
            Ok(document) => {
                let keys = KeySet::from_json(&document, &self.algorithms);
                tracing::info!(provider = %self.provider.id, keys = keys.len(), "JWKS fetched");
                Ok(Arc::new(keys))
            }
            Err(error) => {
                tracing::warn!(provider = %self.provider.id, %error, "JWKS fetch failed");
                Err(BearerError::Unavailable)
            }
        }
    }

    /// The cached key set, fetching it (single-flight) when there is none.
    async fn current(&self) -> Result<Arc<KeySet>, BearerError> {
        if let Some(keys) = self.cache.get(&()).await {
            return Ok(keys);
        }
        if !self.may_fetch() {
            return Err(BearerError::Unavailable);
        }
        self.cache.try_get_with((), self.fetch()).await.map_err(|e| *e)
    }

    /// Run `check` with the verifier for `kid`/`alg`, refetching the JWKS
    /// once (if the rate limit allows) when the key is unknown.
    pub async fn with_verifier<T>(
        &self,
        kid: Option<&str>,
        alg: &str,
        check: impl FnOnce(&dyn JwsVerifier) -> T,
    ) -> Result<T, BearerError> {
        let keys = self.current().await?;
        match keys.find(kid, alg) {
            Lookup::Found(verifier) => return Ok(check(verifier)),
            Lookup::WrongAlgorithm => return Err(BearerError::Algorithm),
            Lookup::Unknown => {}
        }
        if !self.may_fetch() {
            return Err(BearerError::UnknownKey);
        }
        tracing::info!(provider = %self.provider.id, "a token names an unknown key; fetching the JWKS again");
        self.cache.invalidate(&()).await;
        let keys = self.cache.try_get_with((), self.fetch()).await.map_err(|e| *e)?;
        match keys.find(kid, alg) {
            Lookup::Found(verifier) => Ok(check(verifier)),
            Lookup::WrongAlgorithm => Err(BearerError::Algorithm),
            Lookup::Unknown => Err(BearerError::UnknownKey),
        }
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
    fn only_public_signing_keys_for_allowed_algorithms_are_kept() {
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
        let keys = KeySet::from_json(&document, &["ES256", "RS256", "EdDSA"]);
        assert_eq!(keys.len(), 2, "a and b, each for ES256 only");
        assert!(matches!(keys.find(Some("a"), "ES256"), Lookup::Found(_)));
        assert!(matches!(keys.find(Some("b"), "RS256"), Lookup::WrongAlgorithm));
        assert!(matches!(keys.find(Some("hmac"), "ES256"), Lookup::Unknown));
        assert!(matches!(keys.find(Some("enc"), "ES256"), Lookup::Unknown));
        // Without a kid, only an unambiguous key is used.
        assert!(matches!(keys.find(None, "ES256"), Lookup::Unknown));
        let single = KeySet::from_json(&json!({"keys": [public(None, "only")]}), &["ES256"]);
        assert!(matches!(single.find(None, "ES256"), Lookup::Found(_)));
        assert!(KeySet::from_json(&json!({"nokeys": 1}), &["ES256"]).is_empty());
    }
}
