//! The JWK Set file: parsing with strict checks, generation, serialization,
//! and each key's state in a staged rotation.
//!
//! A key's state is a private JWK member, `"sealgate_state"`: `"current"`
//! (seals everything new; exactly one key), `"next"` (opens, never seals:
//! added ahead of a rotation so every replica can open with it before any
//! seals with it), or absent (a previous key: opens, never seals). A set in
//! which no key says `"current"` (a file from before states existed) has its
//! last unmarked key current, as before. A key may also carry
//! `"sealgate_created"` (seconds since the epoch) for `sealgate keys list`.
//! Both are members RFC 7517 tells other readers to ignore, so the file stays
//! a valid JWK Set; and the current key is written last, so an older sealgate
//! that takes the last key as current agrees about which one seals.

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealgate_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealgate_created: Option<i64>,
}

#[derive(Deserialize, Serialize)]
struct JwkSetWire {
    keys: Vec<JwkWire>,
}

/// Where a key is in its life: what it may seal and open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Seals every new value, and opens. Exactly one key of a set.
    Current,
    /// Opens, never seals: added ahead of a rotation (`keygen --next`).
    Next,
    /// Opens, never seals: current before, kept so its sessions live on.
    Previous,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Current => "current",
            KeyState::Next => "next",
            KeyState::Previous => "previous",
        }
    }
}

/// A validated symmetric key.
#[derive(Clone)]
pub struct Jwk {
    kid: String,
    alg: KeyAlg,
    secret: Zeroizing<Vec<u8>>,
    state: KeyState,
    /// When the key was generated (seconds since the epoch), if the file says.
    created: Option<i64>,
}

impl std::fmt::Debug for Jwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwk")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .field("k", &"[redacted]")
            .finish()
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
    /// A key as the file has it; `None` state means unmarked (previous, or
    /// current in a set without states).
    fn from_wire(wire: JwkWire) -> Result<(Jwk, Option<KeyState>), String> {
        if let Some(use_) = &wire.use_ {
            if use_ != "enc" {
                return Err(format!("key use `{use_}` is not `enc`"));
            }
        }
        let marked = match wire.sealgate_state.as_deref() {
            None => None,
            Some("current") => Some(KeyState::Current),
            Some("next") => Some(KeyState::Next),
            Some(other) => return Err(format!("sealgate_state `{other}` is not `current` or `next`")),
        };
        let created = wire.sealgate_created;
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
        Ok((Jwk { kid, alg, secret, state: KeyState::Previous, created }, marked))
    }

    fn generate(alg: KeyAlg, state: KeyState) -> Jwk {
        let mut rng = rand::rngs::OsRng;
        let mut secret = Zeroizing::new(vec![0u8; 32]);
        rng.fill_bytes(&mut secret);
        let mut id = [0u8; 9];
        rng.fill_bytes(&mut id);
        let now = chrono::Utc::now();
        let kid = format!("{}-{}", now.format("%Y%m%d"), URL_SAFE_NO_PAD.encode(id));
        Jwk { kid, alg, secret, state, created: Some(now.timestamp()) }
    }

    pub fn state(&self) -> KeyState {
        self.state
    }

    /// When the key was made (seconds since the epoch): its
    /// `sealgate_created`, else the date its `kid` starts with (`keygen`
    /// names keys `YYYYMMDD-...`), else unknown.
    pub fn created(&self) -> Option<i64> {
        self.created.or_else(|| {
            let date = self.kid.get(..8).filter(|_| self.kid.as_bytes().get(8) == Some(&b'-'))?;
            let day = chrono::NaiveDate::parse_from_str(date, "%Y%m%d").ok()?;
            Some(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp())
        })
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

/// A non-empty set of keys with unique `kid`s, exactly one of them current.
///
/// A set taken from a [`KeyRing`](super::KeyRing) with
/// [`KeyRing::set`](super::KeyRing::set) remembers its ring: the sealers and
/// ciphers built from it follow the ring when the key file is reloaded.
#[derive(Debug, Clone)]
pub struct JwkSet {
    keys: Vec<Jwk>,
    ring: Option<super::KeyRing>,
}

impl JwkSet {
    pub(crate) fn empty() -> JwkSet {
        JwkSet { keys: Vec::new(), ring: None }
    }

    pub fn generate(alg: KeyAlg) -> JwkSet {
        JwkSet { keys: vec![Jwk::generate(alg, KeyState::Current)], ring: None }
    }

    pub fn from_json(json: &str) -> Result<JwkSet, String> {
        let wire: JwkSetWire = serde_json::from_str(json).map_err(|e| format!("not a JWK Set: {e}"))?;
        let mut keys: Vec<(Jwk, Option<KeyState>)> = Vec::with_capacity(wire.keys.len());
        for key in wire.keys {
            let (key, marked) = Jwk::from_wire(key)?;
            if keys.iter().any(|(k, _)| k.kid == key.kid) {
                return Err(format!("kid `{}` appears twice", key.kid));
            }
            keys.push((key, marked));
        }
        if keys.is_empty() {
            return Err("the set has no keys".into());
        }
        let marked_current = keys.iter().filter(|(_, m)| *m == Some(KeyState::Current)).count();
        // Without a key marked current, the last unmarked key is (as before states existed).
        let legacy_current = match marked_current {
            0 => Some(
                keys.iter()
                    .rposition(|(_, m)| m.is_none())
                    .ok_or("no key is current: every key is `next`; run `sealgate keys activate KID`")?,
            ),
            1 => None,
            _ => return Err("more than one key has sealgate_state `current`".into()),
        };
        let keys = keys
            .into_iter()
            .enumerate()
            .map(|(index, (mut key, marked))| {
                key.state = match marked {
                    Some(state) => state,
                    None if Some(index) == legacy_current => KeyState::Current,
                    None => KeyState::Previous,
                };
                key
            })
            .collect();
        Ok(JwkSet { keys, ring: None })
    }

    /// The file's text: previous keys, then next keys, then the current key
    /// last (what an older sealgate takes as current).
    pub fn to_json(&self) -> String {
        let in_order = [KeyState::Previous, KeyState::Next, KeyState::Current]
            .into_iter()
            .flat_map(|state| self.keys.iter().filter(move |k| k.state == state));
        let wire = JwkSetWire {
            keys: in_order
                .map(|k| JwkWire {
                    kty: "oct".into(),
                    kid: Some(k.kid.clone()),
                    use_: Some("enc".into()),
                    alg: Some(k.alg.as_str().into()),
                    k: Some(k.k_b64()),
                    sealgate_state: match k.state {
                        KeyState::Previous => None,
                        state => Some(state.as_str().into()),
                    },
                    sealgate_created: k.created,
                })
                .collect(),
        };
        // Serializing plain strings into a Value cannot fail.
        serde_json::to_string_pretty(&wire).unwrap_or_default() + "\n"
    }

    /// Add a fresh key in `state` (`Current` demotes the current key to
    /// previous; `Next` changes nothing that seals); returns its kid.
    pub fn add_generated(&mut self, alg: KeyAlg, state: KeyState) -> String {
        let mut key = Jwk::generate(alg, state);
        while self.keys.iter().any(|k| k.kid == key.kid) {
            key = Jwk::generate(alg, state);
        }
        if state == KeyState::Current {
            self.demote_current();
        }
        let kid = key.kid.clone();
        self.keys.push(key);
        kid
    }

    fn demote_current(&mut self) {
        for key in self.keys.iter_mut().filter(|k| k.state == KeyState::Current) {
            key.state = KeyState::Previous;
        }
    }

    /// Make `kid` the current key; the current one becomes previous (it
    /// still opens). Returns the kid that was current.
    pub fn activate(&mut self, kid: &str) -> Result<String, String> {
        let was = self.current().kid.clone();
        if !self.keys.iter().any(|k| k.kid == kid) {
            return Err(format!("there is no key `{kid}` in the set"));
        }
        self.demote_current();
        for key in self.keys.iter_mut().filter(|k| k.kid == kid) {
            key.state = KeyState::Current;
        }
        Ok(was)
    }

    /// Remove `kid` from the set: what it sealed no longer opens. The
    /// current key cannot be retired (activate another first).
    pub fn retire(&mut self, kid: &str) -> Result<KeyState, String> {
        let key = self.get(kid).ok_or_else(|| format!("there is no key `{kid}` in the set"))?;
        let state = key.state;
        if state == KeyState::Current {
            return Err(format!("key `{kid}` is the current key; activate another key before retiring it"));
        }
        self.keys.retain(|k| k.kid != kid);
        Ok(state)
    }

    /// The key that seals new values.
    pub fn current(&self) -> &Jwk {
        // A set always has exactly one current key: `from_json`, `generate`,
        // `add_generated` and `activate` keep it so, `retire` refuses to
        // remove it, and `empty()` is only used to build a set that a current
        // key is then added to.
        match self.keys.iter().find(|k| k.state == KeyState::Current) {
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

    /// Whether both sets hold the same keys (kid, alg, state, material),
    /// in any order: a file rewritten without a change is not a reload.
    pub fn same_keys(&self, other: &JwkSet) -> bool {
        self.len() == other.len()
            && self.keys.iter().all(|a| {
                other.get(&a.kid).is_some_and(|b| a.alg == b.alg && a.state == b.state && a.secret() == b.secret())
            })
    }

    /// The ring this set was taken from, if any.
    pub(crate) fn ring(&self) -> Option<&super::KeyRing> {
        self.ring.as_ref()
    }

    /// This set, remembering `ring`.
    pub(crate) fn with_ring(mut self, ring: super::KeyRing) -> JwkSet {
        self.ring = Some(ring);
        self
    }

    /// This set, forgetting its ring (what a ring itself holds).
    pub(crate) fn without_ring(mut self) -> JwkSet {
        self.ring = None;
        self
    }
}

#[cold]
#[allow(clippy::panic)]
fn unreachable_empty() -> ! {
    panic!("a JwkSet always has a current key once built")
}

#[cfg(test)]
mod tests;
