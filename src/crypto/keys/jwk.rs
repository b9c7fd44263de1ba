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

use super::pair::{PairKey, PairKind, PairMembers};
use super::Purpose;
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    y: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    d: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealgate_state: Option<String>,
    /// A symmetric key that is already one purpose's key (the
    /// provider-tokens key of a verify-only set), not a root key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealgate_purpose: Option<String>,
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

    /// What a key's `sealgate_state` member says: `None` for unmarked.
    pub fn from_mark(member: Option<&str>) -> Result<Option<KeyState>, String> {
        match member {
            None => Ok(None),
            Some("current") => Ok(Some(KeyState::Current)),
            Some("next") => Ok(Some(KeyState::Next)),
            Some(other) => Err(format!("sealgate_state `{other}` is not `current` or `next`")),
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
    /// `Some` for a key that is one purpose's key already (see `JwkWire`).
    purpose: Option<Purpose>,
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

/// `kid`s go into JWE and JWS headers verbatim; keep them to characters
/// that need no escaping in JSON or cookies.
pub fn is_valid_kid(kid: &str) -> bool {
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
        let marked = KeyState::from_mark(wire.sealgate_state.as_deref())?;
        let created = wire.sealgate_created;
        let purpose = match wire.sealgate_purpose.as_deref() {
            None => None,
            Some("provider-tokens") => Some(Purpose::ProviderTokens),
            Some(other) => return Err(format!("sealgate_purpose `{other}` is not `provider-tokens`")),
        };
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
        Ok((Jwk { kid, alg, secret, state: KeyState::Previous, created, purpose }, marked))
    }

    fn generate(alg: KeyAlg, state: KeyState) -> Jwk {
        let mut rng = rand::rngs::OsRng;
        let mut secret = Zeroizing::new(vec![0u8; 32]);
        rng.fill_bytes(&mut secret);
        let mut id = [0u8; 9];
        rng.fill_bytes(&mut id);
        let now = chrono::Utc::now();
        let kid = format!("{}-{}", now.format("%Y%m%d"), URL_SAFE_NO_PAD.encode(id));
        Jwk { kid, alg, secret, state, created: Some(now.timestamp()), purpose: None }
    }

    /// `Some(purpose)` for a key that is that purpose's key already, and
    /// seals or opens nothing else; `None` for a root key.
    pub fn purpose(&self) -> Option<Purpose> {
        self.purpose
    }

    /// This root key's key for `purpose` alone, as a key of its own.
    fn limited_to(&self, purpose: Purpose) -> Jwk {
        let derived = super::derive(self, purpose);
        Jwk { secret: Zeroizing::new(derived.bytes.to_vec()), purpose: Some(purpose), ..self.clone() }
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

/// The states of one group of keys (symmetric: `group` empty; `"encryption "`
/// or `"signing "`), from
/// their marks: exactly one current; without a key marked current, the last
/// unmarked key is (as before states existed). An empty group has none.
fn assign_states(marks: &[Option<KeyState>], group: &str) -> Result<Vec<KeyState>, String> {
    if marks.is_empty() {
        return Ok(Vec::new());
    }
    let marked_current = marks.iter().filter(|m| **m == Some(KeyState::Current)).count();
    let legacy_current = match marked_current {
        0 => Some(marks.iter().rposition(Option::is_none).ok_or_else(|| {
            format!("no {group}key is current: every {group}key is `next`; run `sealgate keys activate KID`")
        })?),
        1 => None,
        _ => return Err(format!("more than one {group}key has sealgate_state `current`")),
    };
    Ok(marks
        .iter()
        .enumerate()
        .map(|(index, marked)| match marked {
            Some(state) => *state,
            None if Some(index) == legacy_current => KeyState::Current,
            None => KeyState::Previous,
        })
        .collect())
}

/// A non-empty set of keys with unique `kid`s: symmetric keys (exactly one
/// of them current, unless there are none) and, for the nested session
/// format, encryption and signing key pairs (exactly one current of each
/// kind present). A set without symmetric keys is a verify-only set (see
/// [`JwkSet::verify_only`]).
///
/// A set taken from a [`KeyRing`](super::KeyRing) with
/// [`KeyRing::set`](super::KeyRing::set) remembers its ring: the sealers and
/// ciphers built from it follow the ring when the key file is reloaded.
#[derive(Debug, Clone)]
pub struct JwkSet {
    keys: Vec<Jwk>,
    pairs: Vec<PairKey>,
    ring: Option<super::KeyRing>,
}

impl JwkSet {
    pub(crate) fn empty() -> JwkSet {
        JwkSet { keys: Vec::new(), pairs: Vec::new(), ring: None }
    }

    pub fn generate(alg: KeyAlg) -> JwkSet {
        JwkSet { keys: vec![Jwk::generate(alg, KeyState::Current)], pairs: Vec::new(), ring: None }
    }

    /// A fresh set for the nested format: a `dir` key (flows, API tokens,
    /// provider tokens) and a current encryption and signing key pair.
    pub fn generate_nested(enc: PairKind, sig: PairKind) -> Result<JwkSet, String> {
        let mut set = JwkSet::generate(KeyAlg::Dir);
        set.add_generated_pair(enc, KeyState::Current)?;
        set.add_generated_pair(sig, KeyState::Current)?;
        Ok(set)
    }

    pub fn from_json(json: &str) -> Result<JwkSet, String> {
        let wire: JwkSetWire = serde_json::from_str(json).map_err(|e| format!("not a JWK Set: {e}"))?;
        let mut keys: Vec<(Jwk, Option<KeyState>)> = Vec::with_capacity(wire.keys.len());
        let mut pairs: Vec<(PairKey, Option<KeyState>)> = Vec::new();
        let mut kids: Vec<String> = Vec::with_capacity(wire.keys.len());
        for key in wire.keys {
            let kid = if key.kty == "oct" {
                let (key, marked) = Jwk::from_wire(key)?;
                let kid = key.kid.clone();
                keys.push((key, marked));
                kid
            } else {
                let (key, marked) = pair_from_wire(&key)?;
                let kid = key.kid().to_owned();
                pairs.push((key, marked));
                kid
            };
            if kids.contains(&kid) {
                return Err(format!("kid `{kid}` appears twice"));
            }
            kids.push(kid);
        }
        if keys.is_empty() && pairs.is_empty() {
            return Err("the set has no keys".into());
        }
        let marks: Vec<_> = keys.iter().map(|(_, m)| *m).collect();
        let states = assign_states(&marks, "")?;
        let keys = keys
            .into_iter()
            .zip(states)
            .map(|((mut key, _), state)| {
                key.state = state;
                key
            })
            .collect();
        let mut pairs_out: Vec<PairKey> = Vec::with_capacity(pairs.len());
        for enc in [true, false] {
            let group: Vec<_> = pairs.iter().filter(|(k, _)| k.kind().is_enc() == enc).collect();
            let marks: Vec<_> = group.iter().map(|(_, m)| *m).collect();
            let states = assign_states(&marks, if enc { "encryption " } else { "signing " })?;
            for ((key, _), state) in group.into_iter().zip(states) {
                let mut key = key.clone();
                key.state = state;
                pairs_out.push(key);
            }
        }
        let set = JwkSet { keys, pairs: pairs_out, ring: None };
        set.check_pairs()?;
        Ok(set)
    }

    /// Every current key of a kind is of one algorithm and curve as the
    /// kind's other keys: a token's header names the key, and the key pins
    /// what the token may say.
    fn check_pairs(&self) -> Result<(), String> {
        let enc = self.pairs.iter().any(|k| k.kind().is_enc());
        let sig = self.pairs.iter().any(|k| !k.kind().is_enc());
        match (enc, sig) {
            (true, false) => {
                Err("the set has encryption key pairs but no signing key; the nested format needs both".into())
            }
            (false, true) => {
                Err("the set has signing keys but no encryption key pair; the nested format needs both".into())
            }
            _ => Ok(()),
        }
    }

    /// The file's text: symmetric keys, then key pairs, each as previous
    /// keys, then next keys, then the current key last (what an older
    /// sealgate takes as current).
    pub fn to_json(&self) -> String {
        let order = [KeyState::Previous, KeyState::Next, KeyState::Current];
        let oct =
            order.into_iter().flat_map(|state| self.keys.iter().filter(move |k| k.state == state)).map(|k| JwkWire {
                kty: "oct".into(),
                kid: Some(k.kid.clone()),
                use_: Some("enc".into()),
                alg: Some(k.alg.as_str().into()),
                k: Some(k.k_b64()),
                crv: None,
                x: None,
                y: None,
                d: None,
                sealgate_state: wire_state(k.state),
                sealgate_purpose: k.purpose.map(|p| p.label().into()),
                sealgate_created: k.created,
            });
        let pairs =
            order.into_iter().flat_map(|state| self.pairs.iter().filter(move |k| k.state() == state)).map(|k| {
                let (x, y, d) = k.members();
                JwkWire {
                    kty: k.kind().kty().into(),
                    kid: Some(k.kid().to_owned()),
                    use_: Some(k.kind().use_().into()),
                    alg: Some(k.kind().alg().into()),
                    k: None,
                    crv: Some(k.kind().crv().into()),
                    x: Some(x),
                    y,
                    d,
                    sealgate_state: wire_state(k.state()),
                    sealgate_purpose: None,
                    sealgate_created: k.created(),
                }
            });
        let wire = JwkSetWire { keys: oct.chain(pairs).collect() };
        // Serializing plain strings into a Value cannot fail.
        serde_json::to_string_pretty(&wire).unwrap_or_default() + "\n"
    }

    /// Add a fresh key in `state` (`Current` demotes the current key to
    /// previous; `Next` changes nothing that seals); returns its kid.
    pub fn add_generated(&mut self, alg: KeyAlg, state: KeyState) -> String {
        let mut key = Jwk::generate(alg, state);
        while self.has_kid(&key.kid) {
            key = Jwk::generate(alg, state);
        }
        if state == KeyState::Current {
            self.demote_current();
        }
        let kid = key.kid.clone();
        self.keys.push(key);
        kid
    }

    /// Add a fresh key pair of `kind` in `state`, as [`add_generated`](Self::add_generated)
    /// does for symmetric keys; returns its kid.
    pub fn add_generated_pair(&mut self, kind: PairKind, state: KeyState) -> Result<String, String> {
        let now = chrono::Utc::now().timestamp();
        let mut key = PairKey::generate(kind, state, now)?;
        while self.has_kid(key.kid()) {
            key = PairKey::generate(kind, state, now)?;
        }
        if state == KeyState::Current {
            self.demote_current_pair(kind.is_enc());
        }
        let kid = key.kid().to_owned();
        self.pairs.push(key);
        Ok(kid)
    }

    fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid == kid) || self.pairs.iter().any(|k| k.kid() == kid)
    }

    fn demote_current(&mut self) {
        for key in self.keys.iter_mut().filter(|k| k.state == KeyState::Current) {
            key.state = KeyState::Previous;
        }
    }

    fn demote_current_pair(&mut self, enc: bool) {
        for key in self.pairs.iter_mut().filter(|k| k.kind().is_enc() == enc && k.state == KeyState::Current) {
            key.state = KeyState::Previous;
        }
    }

    /// Make `kid` the current key of its kind; the current one becomes
    /// previous (it still opens). Returns the kid that was current.
    pub fn activate(&mut self, kid: &str) -> Result<String, String> {
        if let Some(kind) = self.get_pair(kid).map(PairKey::kind) {
            let was = self.current_pair(kind.is_enc()).map_or(kid.to_owned(), |k| k.kid().to_owned());
            self.demote_current_pair(kind.is_enc());
            for key in self.pairs.iter_mut().filter(|k| k.kid() == kid) {
                key.state = KeyState::Current;
            }
            return Ok(was);
        }
        if !self.keys.iter().any(|k| k.kid == kid) {
            return Err(format!("there is no key `{kid}` in the set"));
        }
        let was = self.current_oct().map_or(kid.to_owned(), |k| k.kid.clone());
        self.demote_current();
        for key in self.keys.iter_mut().filter(|k| k.kid == kid) {
            key.state = KeyState::Current;
        }
        Ok(was)
    }

    /// Remove `kid` from the set: what it sealed no longer opens. The
    /// current key of a kind cannot be retired (activate another first).
    pub fn retire(&mut self, kid: &str) -> Result<KeyState, String> {
        let state = match (self.get(kid), self.get_pair(kid)) {
            (Some(key), _) => key.state,
            (None, Some(key)) => key.state(),
            (None, None) => return Err(format!("there is no key `{kid}` in the set")),
        };
        if state == KeyState::Current {
            return Err(format!("key `{kid}` is the current key; activate another key before retiring it"));
        }
        self.keys.retain(|k| k.kid != kid);
        self.pairs.retain(|k| k.kid() != kid);
        Ok(state)
    }

    /// The symmetric key that seals new values.
    ///
    /// Only for sets that have symmetric keys (tests, tools): a verify-only
    /// set has none, and the gateway itself uses [`current_oct`](Self::current_oct).
    pub fn current(&self) -> &Jwk {
        match self.current_oct() {
            Some(key) => key,
            None => unreachable_empty(),
        }
    }

    /// The symmetric key that seals new values, if the set has symmetric keys.
    pub fn current_oct(&self) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.state == KeyState::Current)
    }

    pub fn get(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// The symmetric keys.
    pub fn iter(&self) -> impl Iterator<Item = &Jwk> {
        self.keys.iter()
    }

    /// The encryption and signing key pairs.
    pub fn pairs(&self) -> impl Iterator<Item = &PairKey> {
        self.pairs.iter()
    }

    pub fn get_pair(&self, kid: &str) -> Option<&PairKey> {
        self.pairs.iter().find(|k| k.kid() == kid)
    }

    /// The current encryption (`enc`) or signing key pair, if any.
    pub fn current_pair(&self, enc: bool) -> Option<&PairKey> {
        self.pairs.iter().find(|k| k.kind().is_enc() == enc && k.state() == KeyState::Current)
    }

    /// Whether this set can sign sessions: it holds the private half of its
    /// current signing key.
    pub fn can_sign(&self) -> bool {
        self.current_pair(false).is_some_and(PairKey::has_private)
    }

    /// Whether any key here can seal what a verify-only replica must not
    /// mint: a root symmetric key, or a signing key's private half.
    pub fn holds_minting_keys(&self) -> bool {
        self.keys.iter().any(|k| k.purpose.is_none())
            || self.pairs.iter().any(|k| !k.kind().is_enc() && k.has_private())
    }

    /// The key set a verify-only replica holds: every encryption key pair
    /// (to open), the signing keys' public halves only (to verify), and of
    /// each symmetric key only its provider-tokens key (so the provider
    /// tokens a session carries still open), never the root key itself.
    /// Nothing in it can seal a session, a flow cookie or an API token.
    pub fn verify_only(&self) -> Result<JwkSet, String> {
        if !self.pairs.iter().any(|k| k.kind().is_enc() && k.has_private()) {
            return Err("the set has no encryption key pair with its private half; \
                        run `sealgate keygen --alg ECDH-ES+A256KW --sign ES256` first"
                .into());
        }
        let keys = self
            .keys
            .iter()
            .map(|k| if k.purpose.is_some() { k.clone() } else { k.limited_to(Purpose::ProviderTokens) })
            .collect();
        let pairs = self.pairs.iter().map(|k| if k.kind().is_enc() { k.clone() } else { k.public_only() }).collect();
        Ok(JwkSet { keys, pairs, ring: None })
    }

    pub fn len(&self) -> usize {
        self.keys.len() + self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.pairs.is_empty()
    }

    /// Whether both sets hold the same keys (kid, alg, state, material),
    /// in any order: a file rewritten without a change is not a reload.
    pub fn same_keys(&self, other: &JwkSet) -> bool {
        self.len() == other.len()
            && self.keys.iter().all(|a| {
                other.get(&a.kid).is_some_and(|b| {
                    a.alg == b.alg && a.state == b.state && a.purpose == b.purpose && a.secret() == b.secret()
                })
            })
            && self.pairs.iter().all(|a| other.get_pair(a.kid()).is_some_and(|b| a.same_as(b)))
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

fn wire_state(state: KeyState) -> Option<String> {
    match state {
        KeyState::Previous => None,
        state => Some(state.as_str().into()),
    }
}

/// An asymmetric key as the file has it, and its state mark.
fn pair_from_wire(wire: &JwkWire) -> Result<(PairKey, Option<KeyState>), String> {
    let kid = wire.kid.clone().ok_or("a key has no `kid`")?;
    if !is_valid_kid(&kid) {
        return Err(format!("kid `{kid}` must be 1-64 letters, digits, `-` or `_`"));
    }
    if !matches!(wire.kty.as_str(), "EC" | "OKP") {
        return Err(format!("kty `{}` is not supported; sealgate keys are `oct`, `EC` or `OKP`", wire.kty));
    }
    if wire.k.is_some() || wire.sealgate_purpose.is_some() {
        return Err(format!("key `{kid}`: an {} key has no `k` or `sealgate_purpose`", wire.kty));
    }
    let mut key = PairKey::from_members(PairMembers {
        kid,
        kty: &wire.kty,
        crv: wire.crv.as_deref(),
        alg: wire.alg.as_deref(),
        use_: wire.use_.as_deref(),
        x: wire.x.as_deref(),
        y: wire.y.as_deref(),
        d: wire.d.as_deref(),
    })?;
    if key.kind().is_enc() && !key.has_private() {
        return Err(format!(
            "key `{}`: an encryption key needs its private half `d` (it opens sessions); only signing keys may lack it",
            key.kid()
        ));
    }
    key.created = wire.sealgate_created;
    Ok((key, KeyState::from_mark(wire.sealgate_state.as_deref())?))
}

#[cold]
#[allow(clippy::panic)]
fn unreachable_empty() -> ! {
    panic!("a JwkSet always has a current key once built")
}

#[cfg(test)]
mod tests;
