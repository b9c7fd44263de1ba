//! The JWK Set file: parsing with strict checks, generation, serialization.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// How a key seals: `dir` uses the derived key as the content key;
/// `A256KW` wraps a fresh content key per value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlg {
    Dir,
    A256Kw,
}

impl KeyAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlg::Dir => "dir",
            KeyAlg::A256Kw => "A256KW",
        }
    }

    pub fn parse(text: &str) -> Option<KeyAlg> {
        match text {
            "dir" => Some(KeyAlg::Dir),
            "A256KW" => Some(KeyAlg::A256Kw),
            _ => None,
        }
    }
}

/// A JWK as it appears in a file. Only the members we use are read; any
/// others are ignored, as RFC 7517 asks.
#[derive(Deserialize, Serialize)]
struct JwkWire {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    use_: Option<String>,
    alg: Option<String>,
    k: Option<String>,
}

#[derive(Deserialize, Serialize)]
struct JwkSetWire {
    keys: Vec<JwkWire>,
}

/// A validated symmetric key.
pub struct Jwk {
    kid: String,
    alg: KeyAlg,
    secret: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Jwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwk").field("kid", &self.kid).field("alg", &self.alg).field("k", &"[redacted]").finish()
    }
}

/// `kid`s go into JWE headers verbatim; keep them to characters that need no
/// escaping in JSON or cookies.
fn is_valid_kid(kid: &str) -> bool {
    !kid.is_empty() && kid.len() <= 64 && kid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A symmetric JWK as found, before sealgate's own rules (length, alg) apply.
pub struct OctKey {
    pub kid: Option<String>,
    pub alg: Option<String>,
    pub secret: Zeroizing<Vec<u8>>,
}

/// Decode a JWK of type `oct`, whatever its length or `alg`. Used for our own
/// keys and for the RFC 7520 test vectors.
pub fn decode_oct(json: &str) -> Result<OctKey, String> {
    let wire: JwkWire = serde_json::from_str(json).map_err(|e| format!("not a JWK: {e}"))?;
    decode_wire(wire)
}

fn decode_wire(wire: JwkWire) -> Result<OctKey, String> {
    if wire.kty != "oct" {
        return Err(format!("kty `{}` is not supported; sealgate keys are `oct`", wire.kty));
    }
    let k = wire.k.ok_or("the key has no `k`")?;
    let secret = Zeroizing::new(URL_SAFE_NO_PAD.decode(k.as_bytes()).map_err(|_| "`k` is not base64url")?);
    Ok(OctKey { kid: wire.kid, alg: wire.alg, secret })
}

impl Jwk {
    fn from_wire(wire: JwkWire) -> Result<Jwk, String> {
        if let Some(use_) = &wire.use_ {
            if use_ != "enc" {
                return Err(format!("key use `{use_}` is not `enc`"));
            }
        }
        let OctKey { kid, alg, secret } = decode_wire(wire)?;
        let kid = kid.ok_or("a key has no `kid`")?;
        if !is_valid_kid(&kid) {
            return Err(format!("kid `{kid}` must be 1-64 letters, digits, `-` or `_`"));
        }
        let alg = match alg.as_deref() {
            None => KeyAlg::Dir,
            Some(text) => {
                KeyAlg::parse(text).ok_or_else(|| format!("key `{kid}`: alg `{text}` is not `dir` or `A256KW`"))?
            }
        };
        if secret.len() != 32 {
            return Err(format!("key `{kid}` has {} bytes; it must have exactly 32", secret.len()));
        }
        Ok(Jwk { kid, alg, secret })
    }

    fn generate(alg: KeyAlg) -> Jwk {
        let mut rng = rand::rngs::OsRng;
        let mut secret = Zeroizing::new(vec![0u8; 32]);
        rng.fill_bytes(&mut secret);
        let mut id = [0u8; 9];
        rng.fill_bytes(&mut id);
        let kid = format!("{}-{}", chrono::Utc::now().format("%Y%m%d"), URL_SAFE_NO_PAD.encode(id));
        Jwk { kid, alg, secret }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> KeyAlg {
        self.alg
    }

    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// The key material, base64url. Only for writing the key file.
    pub(crate) fn k_b64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.secret.as_slice())
    }
}

/// A non-empty set of keys with unique `kid`s; the last is current.
#[derive(Debug)]
pub struct JwkSet {
    keys: Vec<Jwk>,
}

impl JwkSet {
    pub(crate) fn empty() -> JwkSet {
        JwkSet { keys: Vec::new() }
    }

    pub fn generate(alg: KeyAlg) -> JwkSet {
        JwkSet { keys: vec![Jwk::generate(alg)] }
    }

    pub fn from_json(json: &str) -> Result<JwkSet, String> {
        let wire: JwkSetWire = serde_json::from_str(json).map_err(|e| format!("not a JWK Set: {e}"))?;
        let mut keys: Vec<Jwk> = Vec::with_capacity(wire.keys.len());
        for key in wire.keys {
            let key = Jwk::from_wire(key)?;
            if keys.iter().any(|k| k.kid == key.kid) {
                return Err(format!("kid `{}` appears twice", key.kid));
            }
            keys.push(key);
        }
        if keys.is_empty() {
            return Err("the set has no keys".into());
        }
        Ok(JwkSet { keys })
    }

    pub fn to_json(&self) -> String {
        let wire = JwkSetWire {
            keys: self
                .keys
                .iter()
                .map(|k| JwkWire {
                    kty: "oct".into(),
                    kid: Some(k.kid.clone()),
                    use_: Some("enc".into()),
                    alg: Some(k.alg.as_str().into()),
                    k: Some(k.k_b64()),
                })
                .collect(),
        };
        // Serializing plain strings into a Value cannot fail.
        serde_json::to_string_pretty(&wire).unwrap_or_default() + "\n"
    }

    /// Add a fresh key at the end (making it current); returns its kid.
    pub fn add_generated(&mut self, alg: KeyAlg) -> String {
        let mut key = Jwk::generate(alg);
        while self.keys.iter().any(|k| k.kid == key.kid) {
            key = Jwk::generate(alg);
        }
        let kid = key.kid.clone();
        self.keys.push(key);
        kid
    }

    /// The key that seals new values.
    pub fn current(&self) -> &Jwk {
        // The set is never empty: `from_json` and `generate` guarantee it,
        // and `empty()` is only used to build a set that is then added to.
        match self.keys.last() {
            Some(key) => key,
            None => unreachable_empty(),
        }
    }

    pub fn get(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Jwk> {
        self.keys.iter()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cold]
#[allow(clippy::panic)]
fn unreachable_empty() -> ! {
    panic!("a JwkSet is never empty once built")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_sets() {
        let k32 = URL_SAFE_NO_PAD.encode([7u8; 32]);
        let k16 = URL_SAFE_NO_PAD.encode([7u8; 16]);
        let cases = [
            (r#"{"keys":[]}"#.to_string(), "no keys"),
            (format!(r#"{{"keys":[{{"kty":"RSA","kid":"a","k":"{k32}"}}]}}"#), "kty"),
            (format!(r#"{{"keys":[{{"kty":"oct","k":"{k32}"}}]}}"#), "no `kid`"),
            (format!(r#"{{"keys":[{{"kty":"oct","kid":"a","k":"{k16}"}}]}}"#), "exactly 32"),
            (format!(r#"{{"keys":[{{"kty":"oct","kid":"a","alg":"A128KW","k":"{k32}"}}]}}"#), "alg"),
            (format!(r#"{{"keys":[{{"kty":"oct","kid":"a\"b","k":"{k32}"}}]}}"#), "kid"),
            (
                format!(r#"{{"keys":[{{"kty":"oct","kid":"a","k":"{k32}"}},{{"kty":"oct","kid":"a","k":"{k32}"}}]}}"#),
                "twice",
            ),
            (format!(r#"{{"keys":[{{"kty":"oct","kid":"a","use":"sig","k":"{k32}"}}]}}"#), "use"),
        ];
        for (json, expected) in cases {
            let error = JwkSet::from_json(&json).unwrap_err();
            assert!(error.contains(expected), "{json}: {error}");
        }
    }

    #[test]
    fn round_trips_through_json() {
        let mut set = JwkSet::generate(KeyAlg::Dir);
        set.add_generated(KeyAlg::A256Kw);
        let again = JwkSet::from_json(&set.to_json()).unwrap();
        assert_eq!(again.len(), 2);
        assert_eq!(again.current().kid(), set.current().kid());
        assert_eq!(again.current().secret(), set.current().secret());
    }
}
