//! Asymmetric keys for the nested session format: an encryption key pair
//! (`use: "enc"`, `ECDH-ES+A256KW` on P-256 or X25519) whose public half
//! seals and private half opens, and a signing key pair (`use: "sig"`,
//! `ES256` on P-256 or `EdDSA` on Ed25519) whose private half signs and
//! public half verifies.
//!
//! A key may lack its private half (`d`): that is how a verify-only replica
//! holds the signing keys. Each kind has its own current key, in the same
//! staged states as the symmetric keys.

use super::jwk::KeyState;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use josekit::jwk::alg::ecx::{EcxCurve, EcxKeyPair};
use josekit::jwk::alg::ed::{EdCurve, EdKeyPair};
use josekit::jwk::{Jwk as JoseJwk, KeyPair};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

/// The one key agreement the nested format uses.
pub const ECDH_ALG: &str = "ECDH-ES+A256KW";

/// The curve of an encryption key pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncCurve {
    P256,
    X25519,
}

impl EncCurve {
    pub fn as_str(self) -> &'static str {
        match self {
            EncCurve::P256 => "P-256",
            EncCurve::X25519 => "X25519",
        }
    }

    pub fn parse(text: &str) -> Option<EncCurve> {
        match text {
            "P-256" => Some(EncCurve::P256),
            "X25519" => Some(EncCurve::X25519),
            _ => None,
        }
    }
}

/// The algorithm of a signing key pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignAlg {
    Es256,
    EdDsa,
}

impl SignAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            SignAlg::Es256 => "ES256",
            SignAlg::EdDsa => "EdDSA",
        }
    }

    pub fn parse(text: &str) -> Option<SignAlg> {
        match text {
            "ES256" => Some(SignAlg::Es256),
            "EdDSA" => Some(SignAlg::EdDsa),
            _ => None,
        }
    }

    /// The signature's length in bytes (both are 64).
    pub fn signature_bytes(self) -> usize {
        64
    }
}

/// What an asymmetric key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairKind {
    Enc(EncCurve),
    Sig(SignAlg),
}

impl PairKind {
    pub fn alg(self) -> &'static str {
        match self {
            PairKind::Enc(_) => ECDH_ALG,
            PairKind::Sig(alg) => alg.as_str(),
        }
    }

    pub fn crv(self) -> &'static str {
        match self {
            PairKind::Enc(curve) => curve.as_str(),
            PairKind::Sig(SignAlg::Es256) => "P-256",
            PairKind::Sig(SignAlg::EdDsa) => "Ed25519",
        }
    }

    pub fn kty(self) -> &'static str {
        match self {
            PairKind::Enc(EncCurve::P256) | PairKind::Sig(SignAlg::Es256) => "EC",
            PairKind::Enc(EncCurve::X25519) | PairKind::Sig(SignAlg::EdDsa) => "OKP",
        }
    }

    pub fn use_(self) -> &'static str {
        match self {
            PairKind::Enc(_) => "enc",
            PairKind::Sig(_) => "sig",
        }
    }

    pub fn is_enc(self) -> bool {
        matches!(self, PairKind::Enc(_))
    }

    /// The kind a JWK's members name, if sealgate uses it.
    fn from_members(kty: &str, crv: &str, alg: &str) -> Option<PairKind> {
        let kind = match alg {
            ECDH_ALG => PairKind::Enc(EncCurve::parse(crv)?),
            other => PairKind::Sig(SignAlg::parse(other)?),
        };
        (kind.kty() == kty && kind.crv() == crv).then_some(kind)
    }
}

/// A validated asymmetric key (its public half, and its private half if held).
#[derive(Clone)]
pub struct PairKey {
    kid: String,
    kind: PairKind,
    pub(super) state: KeyState,
    pub(super) created: Option<i64>,
    x: String,
    y: Option<String>,
    d: Option<SecretString>,
}

impl std::fmt::Debug for PairKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PairKey")
            .field("kid", &self.kid)
            .field("kind", &self.kind)
            .field("state", &self.state)
            .field("d", &self.d.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// The members of an asymmetric JWK as a file has them.
pub struct PairMembers<'a> {
    pub kid: String,
    pub kty: &'a str,
    pub crv: Option<&'a str>,
    pub alg: Option<&'a str>,
    pub use_: Option<&'a str>,
    pub x: Option<&'a str>,
    pub y: Option<&'a str>,
    pub d: Option<&'a str>,
}

impl<'a> PairMembers<'a> {
    /// The members of a JWK held as a JSON object, the key named `kid`
    /// (the caller checks the `kid` member itself).
    pub fn from_map(kid: String, jwk: &'a Map<String, Value>) -> PairMembers<'a> {
        let text = |name: &str| jwk.get(name).and_then(Value::as_str);
        PairMembers {
            kid,
            kty: text("kty").unwrap_or_default(),
            crv: text("crv"),
            alg: text("alg"),
            use_: text("use"),
            x: text("x"),
            y: text("y"),
            d: text("d"),
        }
    }
}

/// A base64url member that must decode to exactly 32 bytes.
fn coordinate(kid: &str, name: &str, value: Option<&str>) -> Result<String, String> {
    let value = value.ok_or_else(|| format!("key `{kid}` has no `{name}`"))?;
    match URL_SAFE_NO_PAD.decode(value.as_bytes()) {
        Ok(bytes) if bytes.len() == 32 => Ok(value.to_owned()),
        _ => Err(format!("key `{kid}`: `{name}` is not 32 bytes of base64url")),
    }
}

impl PairKey {
    /// A key of a kind sealgate uses, its members checked: `use` (if
    /// given) matches the kind, each coordinate and `d` are 32 bytes, `y` is
    /// there exactly for EC keys, and `d` (if given) is the public half's.
    /// Its state is `Previous` and its creation time unknown until the
    /// caller says otherwise.
    pub fn from_members(m: PairMembers<'_>) -> Result<PairKey, String> {
        let kid = m.kid;
        let (crv, alg) = (m.crv.unwrap_or_default(), m.alg.unwrap_or_default());
        let kind = PairKind::from_members(m.kty, crv, alg).ok_or_else(|| {
            format!(
                "key `{kid}` (kty `{}`, crv `{crv}`, alg `{alg}`) is not one sealgate uses: \
                 ECDH-ES+A256KW on P-256 or X25519, ES256 on P-256, or EdDSA on Ed25519",
                m.kty
            )
        })?;
        if let Some(use_) = m.use_ {
            if use_ != kind.use_() {
                return Err(format!("key `{kid}`: use `{use_}` is not `{}` for alg `{alg}`", kind.use_()));
            }
        }
        let x = coordinate(&kid, "x", m.x)?;
        let y = match kind.kty() {
            "EC" => Some(coordinate(&kid, "y", m.y)?),
            _ if m.y.is_some() => return Err(format!("key `{kid}`: an OKP key has no `y`")),
            _ => None,
        };
        let d = m.d.map(|d| coordinate(&kid, "d", Some(d)).map(SecretString::from)).transpose()?;
        let key = PairKey { kid, kind, state: KeyState::Previous, created: None, x, y, d };
        key.check_halves()?;
        Ok(key)
    }

    /// The private half, when held, must be the public half's.
    /// The public half is computed from `d` alone (given `x` and `y`,
    /// josekit would take an EC key's public point from them unchecked).
    fn check_halves(&self) -> Result<(), String> {
        let Some(d) = &self.d else {
            // The public half alone: check that josekit takes it.
            return self.verifier_or_encrypter_ok();
        };
        let mut private = JoseJwk::new(self.kind.kty());
        private.set_curve(self.kind.crv());
        let _ = private.set_parameter("d", Some(d.expose_secret().to_owned().into()));
        let fail = |_| format!("key `{}`: `d` is not a valid private key", self.kid);
        let public: JoseJwk = match self.kind {
            PairKind::Enc(EncCurve::P256) | PairKind::Sig(SignAlg::Es256) => {
                EcKeyPair::from_jwk(&private).map_err(fail)?.to_jwk_public_key()
            }
            PairKind::Enc(EncCurve::X25519) => EcxKeyPair::from_jwk(&private).map_err(fail)?.to_jwk_public_key(),
            PairKind::Sig(SignAlg::EdDsa) => EdKeyPair::from_jwk(&private).map_err(fail)?.to_jwk_public_key(),
        };
        let same = public.parameter("x").and_then(|v| v.as_str()) == Some(self.x.as_str())
            && public.parameter("y").and_then(|v| v.as_str()) == self.y.as_deref();
        if !same {
            return Err(format!("key `{}`: its private half `d` does not belong to its public half", self.kid));
        }
        Ok(())
    }

    fn verifier_or_encrypter_ok(&self) -> Result<(), String> {
        let jwk = self.public_jwk();
        let ok = match self.kind {
            PairKind::Enc(_) => josekit::jwe::ECDH_ES_A256KW.encrypter_from_jwk(&jwk).is_ok(),
            PairKind::Sig(SignAlg::Es256) => josekit::jws::ES256.verifier_from_jwk(&jwk).is_ok(),
            PairKind::Sig(SignAlg::EdDsa) => josekit::jws::EdDSA.verifier_from_jwk(&jwk).is_ok(),
        };
        ok.then_some(()).ok_or_else(|| format!("key `{}`: not a valid public key", self.kid))
    }

    /// A fresh key pair of `kind`, made at `now` (seconds since the epoch;
    /// its `kid` starts with that day, `YYYYMMDD-enc-` or `YYYYMMDD-sig-`).
    pub fn generate(kind: PairKind, state: KeyState, now: i64) -> Result<PairKey, String> {
        let fail = |e: josekit::JoseError| format!("cannot generate a {} key: {e}", kind.alg());
        let pair: JoseJwk = match kind {
            PairKind::Enc(EncCurve::P256) | PairKind::Sig(SignAlg::Es256) => {
                EcKeyPair::generate(EcCurve::P256).map_err(fail)?.to_jwk_key_pair()
            }
            PairKind::Enc(EncCurve::X25519) => EcxKeyPair::generate(EcxCurve::X25519).map_err(fail)?.to_jwk_key_pair(),
            PairKind::Sig(SignAlg::EdDsa) => EdKeyPair::generate(EdCurve::Ed25519).map_err(fail)?.to_jwk_key_pair(),
        };
        let member = |name: &str| pair.parameter(name).and_then(|v| v.as_str()).map(str::to_owned);
        let day = chrono::DateTime::from_timestamp(now, 0).unwrap_or_default().format("%Y%m%d");
        let mut id = [0u8; 9];
        rand::rngs::OsRng.fill_bytes(&mut id);
        let kid = format!("{day}-{}-{}", kind.use_(), URL_SAFE_NO_PAD.encode(id));
        Ok(PairKey {
            kid,
            kind,
            state,
            created: Some(now),
            x: member("x").ok_or("a generated key has no x")?,
            y: member("y"),
            d: Some(SecretString::from(member("d").ok_or("a generated key has no d")?)),
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn kind(&self) -> PairKind {
        self.kind
    }

    pub fn state(&self) -> KeyState {
        self.state
    }

    pub fn created(&self) -> Option<i64> {
        self.created
    }

    pub fn has_private(&self) -> bool {
        self.d.is_some()
    }

    /// The same key without its private half.
    pub fn public_only(&self) -> PairKey {
        PairKey { d: None, ..self.clone() }
    }

    /// The public half as a josekit JWK (`kty`, `crv`, `x`, `y`, `kid`, `use`, `alg`).
    pub fn public_jwk(&self) -> JoseJwk {
        let mut jwk = JoseJwk::new(self.kind.kty());
        jwk.set_curve(self.kind.crv());
        jwk.set_key_id(&self.kid);
        jwk.set_key_use(self.kind.use_());
        jwk.set_algorithm(self.kind.alg());
        // Strings into a JWK's map: josekit only refuses non-string `kty`-like members.
        let _ = jwk.set_parameter("x", Some(self.x.clone().into()));
        if let Some(y) = &self.y {
            let _ = jwk.set_parameter("y", Some(y.clone().into()));
        }
        jwk
    }

    /// The whole key pair as a josekit JWK, when the private half is held.
    pub fn private_jwk(&self) -> Option<JoseJwk> {
        let d = self.d.as_ref()?;
        let mut jwk = self.public_jwk();
        let _ = jwk.set_parameter("d", Some(d.expose_secret().to_owned().into()));
        Some(jwk)
    }

    /// The members the key file holds: (x, y, d).
    pub(super) fn members(&self) -> (String, Option<String>, Option<String>) {
        (self.x.clone(), self.y.clone(), self.d.as_ref().map(|d| d.expose_secret().to_owned()))
    }

    /// Whether both are the same key (kid, kind, state, material).
    pub(super) fn same_as(&self, other: &PairKey) -> bool {
        self.kid == other.kid
            && self.kind == other.kind
            && self.state == other.state
            && self.x == other.x
            && self.y == other.y
            && self.d.as_ref().map(|d| d.expose_secret().to_owned())
                == other.d.as_ref().map(|d| d.expose_secret().to_owned())
    }
}
