//! The assertion keys: a JWK Set of private signing keys of their own
//! (`assertion.keys_path`), apart from the session keys, so that the key
//! upstreams trust signs nothing else and the session keys never leave
//! symmetric hands.
//!
//! Each key is EC P-256 (`ES256`) or OKP Ed25519 (`EdDSA`) with its private
//! part `d`, a `kid`, and a state in the member `sealgate_state` as the
//! session keys have it ([`KeyState`], keys/README.md): exactly one
//! `current` key signs; `next` and previous keys (no `sealgate_state`)
//! sign nothing and are published, so upstreams already know a key before
//! it signs and still know it while what it signed is alive. A file
//! without any `sealgate_state` has its last key current. The key
//! material is parsed and checked as the session key set's key pairs are
//! ([`PairKey`]), and each key must also sign what its public half verifies.
//!
//! Only [`AssertionKeys::public_jwks`] leaves the process: built member by
//! member from the public ones (`kty`, `crv`, `x`, `y`, `kid`, `alg`,
//! `use`), never by removing private members.

use crate::crypto::keys::{is_valid_kid, KeyState, PairKey, PairKind, PairMembers, SignAlg};
use josekit::jws::{EdDSA, JwsSigner, JwsVerifier, ES256};
use serde_json::{Map, Value};
use std::path::Path;

/// One private signing key.
#[derive(Clone)]
pub struct AssertionKey {
    alg: SignAlg,
    state: KeyState,
    created: Option<i64>,
    /// The key material, checked as the session key set's key pairs are.
    pair: PairKey,
    /// The key as in the file, private part included: written back by the CLI.
    members: Map<String, Value>,
    signer: Box<dyn JwsSigner>,
}

impl std::fmt::Debug for AssertionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssertionKey")
            .field("kid", &self.kid())
            .field("alg", &self.alg)
            .field("state", &self.state)
            .field("d", &"[redacted]")
            .finish()
    }
}

impl AssertionKey {
    /// A key as the file has it. The assertion keys' own rules (a signing
    /// algorithm, the private part present, `use` sig) come first; the key
    /// material is then checked by the session key set's parser
    /// ([`PairKey::from_members`]: coordinate lengths, `d` the public half's).
    fn from_members(members: Map<String, Value>) -> Result<AssertionKey, String> {
        let text = |name: &str| members.get(name).and_then(Value::as_str);
        let kid = text("kid")
            .filter(|kid| is_valid_kid(kid))
            .map(str::to_owned)
            .ok_or("a key without a plain `kid` (1-64 of A-Z a-z 0-9 - _)")?;
        let alg =
            text("alg").and_then(SignAlg::parse).ok_or_else(|| format!("key {kid}: `alg` must be ES256 or EdDSA"))?;
        let kind = PairKind::Sig(alg);
        let (kty, crv) = (kind.kty(), kind.crv());
        if text("kty") != Some(kty) || text("crv") != Some(crv) {
            return Err(format!("key {kid}: an {} key is kty {kty} with crv {crv}", alg.as_str()));
        }
        if text("d").is_none() {
            return Err(format!("key {kid}: the private part `d` is missing"));
        }
        if text("use").is_some_and(|u| u != "sig") {
            return Err(format!("key {kid}: `use` must be sig"));
        }
        let state = KeyState::from_mark(text("sealgate_state"))
            .map_err(|e| format!("key {kid}: {e}"))?
            .unwrap_or(KeyState::Previous);
        let created = members.get("sealgate_created").and_then(Value::as_i64);
        let invalid = |e: String| format!("key {kid}: the key material is not a valid {} key ({e})", alg.as_str());
        let pair = PairKey::from_members(PairMembers::from_map(kid.clone(), &members)).map_err(invalid)?;
        let private = pair.private_jwk().ok_or_else(|| invalid("no private half".into()))?;
        let signer: Box<dyn JwsSigner> = match alg {
            SignAlg::Es256 => ES256.signer_from_jwk(&private).map(|s| Box::new(s) as Box<dyn JwsSigner>),
            SignAlg::EdDsa => EdDSA.signer_from_jwk(&private).map(|s| Box::new(s) as Box<dyn JwsSigner>),
        }
        .map_err(|e| invalid(e.to_string()))?;
        let key = AssertionKey { alg, state, created, pair, members, signer };
        // What is published must verify what is signed.
        if !key.public_verifies() {
            return Err(invalid("its public half does not verify what it signs".into()));
        }
        Ok(key)
    }

    fn public_verifies(&self) -> bool {
        const PROBE: &[u8] = b"sealgate assertion key check";
        let public = self.pair.public_jwk();
        let verifier: Box<dyn JwsVerifier> = match self.alg {
            SignAlg::Es256 => match ES256.verifier_from_jwk(&public) {
                Ok(verifier) => Box::new(verifier),
                Err(_) => return false,
            },
            SignAlg::EdDsa => match EdDSA.verifier_from_jwk(&public) {
                Ok(verifier) => Box::new(verifier),
                Err(_) => return false,
            },
        };
        self.signer.sign(PROBE).is_ok_and(|signature| verifier.verify(PROBE, &signature).is_ok())
    }

    fn generate(alg: SignAlg, state: KeyState, now: i64) -> Result<AssertionKey, String> {
        let pair = PairKey::generate(PairKind::Sig(alg), state, now)?;
        let mut members: Map<String, Value> =
            pair.private_jwk().map(|jwk| jwk.as_ref().clone()).ok_or("a generated key has no `d`")?;
        members.insert("sealgate_created".into(), now.into());
        let mut key = AssertionKey::from_members(members)?;
        key.set_state(state);
        Ok(key)
    }

    fn set_state(&mut self, state: KeyState) {
        self.state = state;
        match state {
            KeyState::Previous => self.members.remove("sealgate_state"),
            state => self.members.insert("sealgate_state".into(), state.as_str().into()),
        };
    }

    pub fn kid(&self) -> &str {
        self.pair.kid()
    }

    pub fn alg(&self) -> SignAlg {
        self.alg
    }

    pub fn state(&self) -> KeyState {
        self.state
    }

    pub fn created(&self) -> Option<i64> {
        self.created
    }

    pub fn signer(&self) -> &dyn JwsSigner {
        self.signer.as_ref()
    }

    /// The public JWK: the public members only, named one by one
    /// (`kty`, `crv`, `x`, `y`, `kid`, `use`, `alg`).
    pub fn public_jwk(&self) -> Map<String, Value> {
        self.pair.public_jwk().as_ref().clone()
    }
}

/// A validated set of assertion keys: exactly one current.
#[derive(Debug, Clone)]
pub struct AssertionKeys {
    current: AssertionKey,
    /// Next and previous keys, in file order.
    others: Vec<AssertionKey>,
}

/// The most keys a set may hold (current, next, and a few previous).
const MAX_KEYS: usize = 16;

impl AssertionKeys {
    pub fn from_json(json: &str) -> Result<AssertionKeys, String> {
        let value: Value = serde_json::from_str(json).map_err(|_| "the assertion key set is not JSON".to_owned())?;
        let Some(Value::Array(keys)) = value.get("keys") else {
            return Err("the assertion key set has no `keys` array".into());
        };
        if keys.is_empty() || keys.len() > MAX_KEYS {
            return Err(format!("the assertion key set must hold 1 to {MAX_KEYS} keys"));
        }
        let mut parsed: Vec<AssertionKey> = Vec::with_capacity(keys.len());
        for key in keys {
            let Value::Object(members) = key else {
                return Err("a key of the assertion key set is not a JSON object".into());
            };
            let key = AssertionKey::from_members(members.clone())?;
            if parsed.iter().any(|k| k.kid() == key.kid()) {
                return Err(format!("two keys have kid {}", key.kid()));
            }
            parsed.push(key);
        }
        let current = match parsed.iter().filter(|k| k.state == KeyState::Current).count() {
            0 if parsed.iter().any(|k| k.state == KeyState::Next) => {
                return Err("no assertion key is current (one is next: activate it)".into());
            }
            // A file without states: its last key is current.
            0 => parsed.len() - 1,
            1 => parsed.iter().position(|k| k.state == KeyState::Current).unwrap_or_default(),
            _ => return Err("more than one assertion key is current".into()),
        };
        let mut current = parsed.remove(current);
        current.state = KeyState::Current;
        Ok(AssertionKeys { current, others: parsed })
    }

    /// The file's text, the current key last (as the session keys are written).
    pub fn to_json(&self) -> String {
        let keys: Vec<Value> = self.iter().map(|k| Value::Object(k.members.clone())).collect();
        serde_json::to_string_pretty(&serde_json::json!({ "keys": keys })).unwrap_or_default() + "\n"
    }

    /// A set of one fresh current key.
    pub fn generate(alg: SignAlg, now: i64) -> Result<AssertionKeys, String> {
        Ok(AssertionKeys { current: AssertionKey::generate(alg, KeyState::Current, now)?, others: Vec::new() })
    }

    /// Add a fresh key in `state` (`Current` demotes the current key to
    /// previous); returns its kid.
    pub fn add_generated(&mut self, alg: SignAlg, state: KeyState, now: i64) -> Result<String, String> {
        if self.others.len() + 1 >= MAX_KEYS {
            return Err(format!("the set holds {MAX_KEYS} keys already: retire one first"));
        }
        let key = AssertionKey::generate(alg, state, now)?;
        if self.iter().any(|k| k.kid() == key.kid()) {
            return Err("a fresh kid collided; run the command again".into());
        }
        let kid = key.kid().to_owned();
        match state {
            KeyState::Current => self.make_current(key),
            _ => self.others.push(key),
        }
        Ok(kid)
    }

    fn make_current(&mut self, mut key: AssertionKey) {
        key.set_state(KeyState::Current);
        let mut was = std::mem::replace(&mut self.current, key);
        was.set_state(KeyState::Previous);
        self.others.push(was);
    }

    /// Make `kid` current; returns the kid that was.
    pub fn activate(&mut self, kid: &str) -> Result<String, String> {
        let was = self.current.kid().to_owned();
        if was == kid {
            return Ok(was);
        }
        let at =
            self.others.iter().position(|k| k.kid() == kid).ok_or_else(|| format!("no assertion key has kid {kid}"))?;
        let key = self.others.remove(at);
        self.make_current(key);
        Ok(was)
    }

    /// Remove `kid` (never the current key); returns the state it had.
    pub fn retire(&mut self, kid: &str) -> Result<KeyState, String> {
        if self.current.kid() == kid {
            return Err(format!("{kid} is the current assertion key: activate another one first"));
        }
        let at =
            self.others.iter().position(|k| k.kid() == kid).ok_or_else(|| format!("no assertion key has kid {kid}"))?;
        Ok(self.others.remove(at).state)
    }

    /// The key that signs.
    pub fn current(&self) -> &AssertionKey {
        &self.current
    }

    /// Every key, the current one last.
    pub fn iter(&self) -> impl Iterator<Item = &AssertionKey> {
        self.others.iter().chain(std::iter::once(&self.current))
    }

    /// Whether `other` holds the same keys in the same states.
    pub fn same_keys(&self, other: &AssertionKeys) -> bool {
        let members = |keys: &AssertionKeys| keys.iter().map(|k| (k.members.clone(), k.state)).collect::<Vec<_>>();
        members(self) == members(other)
    }

    /// The JWK Set upstreams verify with: every key's public part
    /// (current, next and previous alike).
    pub fn public_jwks(&self) -> String {
        let keys: Vec<Value> = self.iter().map(|k| Value::Object(k.public_jwk())).collect();
        serde_json::json!({ "keys": keys }).to_string()
    }

    /// The kids and states, for logs (no key material).
    pub fn describe(&self) -> String {
        let keys: Vec<String> = self.iter().map(|k| format!("{} ({})", k.kid(), k.state.as_str())).collect();
        format!("{} assertion key(s): {}", keys.len(), keys.join(", "))
    }
}

/// Read the set at `path`; `Ok(None)` when there is no file.
pub fn read(path: &Path) -> Result<Option<AssertionKeys>, String> {
    let shown = path.display();
    match std::fs::read_to_string(path) {
        Ok(text) => AssertionKeys::from_json(&text).map(Some).map_err(|e| format!("{shown}: {e}")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {shown}: {e}")),
    }
}

/// Write the set readable by its owner only, through a temporary file
/// renamed into place (a reloading replica never reads half a file).
pub fn write(path: &Path, keys: &AssertionKeys) -> Result<(), String> {
    crate::crypto::keys::write_private(path, &keys.to_json())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_set_round_trips_and_publishes_no_private_member() {
        for alg in [SignAlg::Es256, SignAlg::EdDsa] {
            let mut keys = AssertionKeys::generate(alg, 1_796_000_000).unwrap();
            let next = keys.add_generated(alg, KeyState::Next, 1_796_000_100).unwrap();
            let again = AssertionKeys::from_json(&keys.to_json()).unwrap();
            assert_eq!(again.current().kid(), keys.current().kid());
            assert_eq!(again.iter().find(|k| k.kid() == next).map(AssertionKey::state), Some(KeyState::Next));
            let public: Value = serde_json::from_str(&keys.public_jwks()).unwrap();
            let published = public["keys"].as_array().unwrap();
            assert_eq!(published.len(), 2);
            for key in published {
                let key = key.as_object().unwrap();
                assert!(!key.contains_key("d"), "{key:?}");
                assert!(!key.contains_key("sealgate_state"));
                assert_eq!(key["alg"], alg.as_str());
                assert_eq!(key["use"], "sig");
            }
        }
    }

    #[test]
    fn debug_hides_the_private_key() {
        let keys = AssertionKeys::generate(SignAlg::Es256, 0).unwrap();
        let d = keys.current().members["d"].as_str().unwrap().to_owned();
        let shown = format!("{keys:?}");
        assert!(shown.contains("[redacted]") && !shown.contains(&d), "{shown}");
    }

    #[test]
    fn activate_and_retire_follow_the_session_keys_rules() {
        let mut keys = AssertionKeys::generate(SignAlg::EdDsa, 0).unwrap();
        let first = keys.current().kid().to_owned();
        let next = keys.add_generated(SignAlg::Es256, KeyState::Next, 0).unwrap();
        assert_eq!(keys.current().kid(), first, "next does not sign");
        assert!(keys.retire(&first).is_err(), "the current key is never retired");
        assert_eq!(keys.activate(&next).unwrap(), first);
        assert_eq!(keys.current().kid(), next);
        assert_eq!(keys.retire(&first).unwrap(), KeyState::Previous);
        assert!(keys.activate("nope").is_err());
    }

    #[test]
    fn bad_sets_are_refused_with_a_reason() {
        let key = AssertionKeys::generate(SignAlg::Es256, 0).unwrap().current().members.clone();
        let with = |change: &dyn Fn(&mut Map<String, Value>)| {
            let mut key = key.clone();
            change(&mut key);
            AssertionKeys::from_json(&serde_json::json!({ "keys": [key] }).to_string()).unwrap_err()
        };
        assert!(with(&|k| drop(k.remove("d"))).contains("`d` is missing"));
        assert!(with(&|k| drop(k.insert("alg".into(), "HS256".into()))).contains("ES256 or EdDSA"));
        assert!(with(&|k| drop(k.insert("crv".into(), "P-384".into()))).contains("crv P-256"));
        assert!(with(&|k| drop(k.insert("x".into(), "AAAA".into()))).contains("not a valid ES256 key"));
        // Another key's public half with this key's private half.
        let other = AssertionKeys::generate(SignAlg::Es256, 0).unwrap().current().members.clone();
        let mixed = with(&|k| {
            k.insert("x".into(), other["x"].clone());
            k.insert("y".into(), other["y"].clone());
        });
        assert!(mixed.contains("not a valid ES256 key"), "{mixed}");
        assert!(with(&|k| drop(k.insert("use".into(), "enc".into()))).contains("`use` must be sig"));
        assert!(with(&|k| drop(k.insert("sealgate_state".into(), "old".into()))).contains("sealgate_state"));
        assert!(with(&|k| drop(k.insert("kid".into(), "a b".into()))).contains("kid"));
        assert!(
            with(&|k| drop(k.insert("sealgate_state".into(), "next".into()))).contains("no assertion key is current")
        );
        let two = serde_json::json!({ "keys": [key.clone(), key] }).to_string();
        assert!(AssertionKeys::from_json(&two).unwrap_err().contains("two keys"));
        assert!(AssertionKeys::from_json("{\"keys\": []}").is_err());
        assert!(AssertionKeys::from_json("[]").is_err());
    }
}
