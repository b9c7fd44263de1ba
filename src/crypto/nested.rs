//! The nested session format: a compact JWS (`ES256` or `EdDSA`) inside a
//! compact JWE (`ECDH-ES+A256KW` on P-256 or X25519, `A256GCM`), as RFC 7519
//! section 5.2 nests them (outer `cty: "JWT"`). The signing key's private
//! half seals, the encryption key's private half opens, the signing key's
//! public half verifies: a replica holding only the last two opens sessions
//! and cannot make one.
//!
//! Both layers are parsed strictly before any cryptography, as
//! [`jwe`](super::jwe) does for the sealed format (josekit 0.10 does not
//! check the AES-GCM tag length): the outer token through
//! [`split_strict`](super::jwe::split_strict) (a 16-byte tag, a 40-byte
//! wrapped key), then its header read into a closed shape ([`OuterHeader`]:
//! `alg`, `enc`, `kid`, `epk` of exactly `kty`/`crv`/`x`/`y`, `cty`, `typ`;
//! anything else, `jku`/`jwk`/`x5u`/`crit`/`apu`/`zip` or a duplicate, is
//! refused), pinned to a known encryption key; the inner token through
//! [`split_inner`] (three canonical segments, a header of exactly `alg`,
//! `kid`, `typ`), pinned to a known signing key and its algorithm, with a
//! 64-byte signature, which that key then checks over the token's first two
//! segments as they came (`SigKey::verify`, the one ES256/EdDSA check; its
//! known answers are RFC 7515 A.3 and RFC 8037 A.4).
//!
//! [`SessionSealer`] seals in one format and opens both while the set holds
//! keys of each kind, so switching formats is a rotation, not a sign-out.

mod either;

pub use either::SessionSealer;

use super::jwe::{decoded_len, is_b64url, split_strict, OpenError, SealError, ENC};
use crate::crypto::keys::{EncCurve, JwkSet, KeyState, Keyed, Purpose, SignAlg, ECDH_ALG};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwe::{self, JweDecrypter, JweEncrypter, JweHeader};
use josekit::jws::{self, JwsHeader, JwsSigner, JwsVerifier};
use serde::Deserialize;
use std::sync::Arc;

/// The longest outer protected header accepted, base64url (ours are ~300).
pub const MAX_OUTER_HEADER: usize = 600;
/// The longest inner protected header accepted, base64url (ours are ~100).
pub const MAX_INNER_HEADER: usize = 200;
/// `cty` of the outer layer: its plaintext is a JWT (RFC 7519 5.2).
pub const CTY: &str = "JWT";
/// ECDH-ES+A256KW wraps a 32-byte content key into 40 bytes.
const WRAPPED_KEY_BYTES: usize = 40;

/// The outer protected header: exactly these members.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OuterHeader {
    pub alg: String,
    pub enc: String,
    pub kid: Option<String>,
    pub epk: Epk,
    pub cty: Option<String>,
    pub typ: Option<String>,
}

/// The ephemeral public key: exactly `kty`, `crv`, `x` and (EC) `y`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Epk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub y: Option<String>,
}

/// The inner protected header: exactly these members.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InnerHeader {
    pub alg: String,
    pub kid: Option<String>,
    pub typ: Option<String>,
}

/// Decode a header segment (already canonical base64url) into `T`: a JSON
/// object of UTF-8 within `max` symbols, each member once.
fn read_header<T: serde::de::DeserializeOwned>(segment: &str, max: usize) -> Result<T, OpenError> {
    if segment.len() > max {
        return Err(OpenError::UnknownHeader);
    }
    let bytes = URL_SAFE_NO_PAD.decode(segment).map_err(|_| OpenError::Base64)?;
    // A JSON object: serde would also read a struct from an array.
    if bytes.first() != Some(&b'{') {
        return Err(OpenError::UnknownHeader);
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| OpenError::UnknownHeader)?;
    // serde's derived structs refuse a member named twice, and (deny_unknown_fields) any other.
    serde_json::from_str(text).map_err(|_| OpenError::UnknownHeader)
}

/// The byte length of a coordinate on `crv`, for the curves an `epk` may be on.
fn coordinate_bytes(kty: &str, crv: &str) -> Option<(usize, bool)> {
    match (kty, crv) {
        ("EC", "P-256") => Some((32, true)),
        // Only the RFC 7520 example (5.4) is on P-384; no key of ours is.
        ("EC", "P-384") => Some((48, true)),
        ("OKP", "X25519") => Some((32, false)),
        _ => None,
    }
}

/// Whether a coordinate is canonical base64url of exactly `n` bytes.
fn is_coordinate(value: &str, n: usize) -> bool {
    value.len() == (n * 4).div_ceil(3) && is_b64url(value)
}

/// The outer header of a token that passed [`split_strict`]: its closed
/// shape, and an `epk` whose coordinates have its curve's lengths. Pins
/// nothing to a key (that is [`NestedSealer::open`]'s), so the RFC 7520
/// example can be read with it.
pub fn parse_outer_header(segment: &str) -> Result<OuterHeader, OpenError> {
    let header: OuterHeader = read_header(segment, MAX_OUTER_HEADER)?;
    let epk = &header.epk;
    let (n, has_y) = coordinate_bytes(&epk.kty, &epk.crv).ok_or(OpenError::UnknownHeader)?;
    let y_ok = match (&epk.y, has_y) {
        (Some(y), true) => is_coordinate(y, n),
        (None, false) => true,
        _ => false,
    };
    if !is_coordinate(&epk.x, n) || !y_ok {
        return Err(OpenError::UnknownHeader);
    }
    Ok(header)
}

/// A compact JWS that passed [`split_inner`]; not yet verified.
#[derive(Debug)]
pub struct Inner<'a> {
    pub header: InnerHeader,
    /// `header.payload`, as the token has them: what the signature covers.
    pub signing_input: &'a str,
    pub payload: &'a str,
    pub signature: &'a str,
}

/// Split the inner compact JWS and read its header: three non-empty
/// canonical base64url segments within `max_len` bytes, the header's closed
/// shape. Verifies nothing.
pub fn split_inner(token: &str, max_len: usize) -> Result<Inner<'_>, OpenError> {
    if token.len() > max_len {
        return Err(OpenError::TooLong);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(OpenError::Segments);
    };
    if header.is_empty() || payload.is_empty() || signature.is_empty() {
        return Err(OpenError::Segments);
    }
    for segment in [header, payload, signature] {
        if !is_b64url(segment) {
            return Err(OpenError::Base64);
        }
    }
    // The header, a dot and the payload: the start of `token` (ASCII, checked above).
    let signing_input = token.get(..header.len() + 1 + payload.len()).ok_or(OpenError::Segments)?;
    Ok(Inner { header: read_header(header, MAX_INNER_HEADER)?, signing_input, payload, signature })
}

struct EncKey {
    kid: String,
    curve: EncCurve,
    encrypter: Box<dyn JweEncrypter>,
    decrypter: Box<dyn JweDecrypter>,
}

struct SigKey {
    kid: String,
    alg: SignAlg,
    /// Only where the private half is held.
    signer: Option<Box<dyn JwsSigner>>,
    verifier: Box<dyn JwsVerifier>,
}

/// The key pairs of one set: every key opens or verifies; the current ones seal.
struct NestedKeys {
    enc: Vec<EncKey>,
    sig: Vec<SigKey>,
    enc_current: Option<usize>,
    sig_current: Option<usize>,
}

/// Seals (signs, then encrypts) with the current key pairs and opens with
/// any key pair of the set, for one purpose.
pub struct NestedSealer {
    purpose: Purpose,
    keys: Arc<Keyed<NestedKeys>>,
    max_len: usize,
}

impl std::fmt::Debug for NestedSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = self.keys.load();
        f.debug_struct("NestedSealer")
            .field("purpose", &self.purpose)
            .field("enc_keys", &keys.enc.len())
            .field("sig_keys", &keys.sig.len())
            .finish()
    }
}

impl NestedSealer {
    /// Build a sealer for `purpose` from the set's key pairs (none: it opens
    /// nothing and seals nothing). A set from a key ring makes a sealer
    /// that follows the ring.
    pub fn new(set: &JwkSet, purpose: Purpose, max_len: usize) -> Result<NestedSealer, SealError> {
        let keys = match set.ring() {
            Some(ring) => ring.follow(NestedKeys::build)?,
            None => Keyed::fixed(NestedKeys::build(set)?),
        };
        Ok(NestedSealer { purpose, keys, max_len })
    }

    /// Whether the set holds key pairs at all.
    pub fn has_keys(&self) -> bool {
        let keys = self.keys.load();
        !keys.enc.is_empty() && !keys.sig.is_empty()
    }

    /// Whether this sealer can seal: it holds a current encryption key and
    /// the private half of the current signing key.
    pub fn can_seal(&self) -> bool {
        let keys = self.keys.load();
        let signs = keys.sig_current.and_then(|i| keys.sig.get(i)).is_some_and(|k| k.signer.is_some());
        keys.enc_current.is_some() && signs
    }

    /// Sign `payload` with the current signing key, then encrypt the JWS to
    /// the current encryption key.
    pub fn seal(&self, payload: &[u8]) -> Result<String, SealError> {
        let keys = self.keys.load();
        let sig = keys.sig_current.and_then(|i| keys.sig.get(i)).ok_or(SealError::CannotSign)?;
        let signer = sig.signer.as_deref().ok_or(SealError::CannotSign)?;
        let enc = keys.enc_current.and_then(|i| keys.enc.get(i)).ok_or(SealError::Encrypt)?;
        let mut inner = JwsHeader::new();
        inner.set_key_id(&sig.kid);
        inner.set_token_type(self.purpose.jwe_typ());
        let jws = jws::serialize_compact(payload, &inner, signer).map_err(|_| SealError::Encrypt)?;
        let mut outer = JweHeader::new();
        outer.set_content_encryption(ENC);
        outer.set_key_id(&enc.kid);
        outer.set_content_type(CTY);
        outer.set_token_type(self.purpose.jwe_typ());
        jwe::serialize_compact(jws.as_bytes(), &outer, &*enc.encrypter).map_err(|_| SealError::Encrypt)
    }

    /// Open a token sealed for this purpose by any key pair of the set:
    /// the strict parse of both layers, decryption, and the signature.
    pub fn open(&self, token: &str) -> Result<Vec<u8>, OpenError> {
        let parts = split_strict(token, self.max_len)?;
        let header = parse_outer_header(parts.header)?;
        let keys = self.keys.load();
        let typ = Some(self.purpose.jwe_typ());
        let enc = keys
            .enc
            .iter()
            .find(|k| header.kid.as_deref() == Some(k.kid.as_str()))
            .filter(|k| {
                header.alg == ECDH_ALG
                    && header.enc == ENC
                    && header.cty.as_deref() == Some(CTY)
                    && header.typ.as_deref() == typ
                    && header.epk.crv == k.curve.as_str()
            })
            .ok_or(OpenError::UnknownHeader)?;
        if decoded_len(parts.encrypted_key) != WRAPPED_KEY_BYTES {
            return Err(OpenError::EncryptedKey);
        }
        let (plaintext, _) = jwe::deserialize_compact(token, &*enc.decrypter).map_err(|_| OpenError::Decrypt)?;
        let inner = std::str::from_utf8(&plaintext).map_err(|_| OpenError::Inner)?;
        let parsed = split_inner(inner, self.max_len).map_err(|_| OpenError::Inner)?;
        let sig = keys
            .sig
            .iter()
            .find(|k| parsed.header.kid.as_deref() == Some(k.kid.as_str()))
            .filter(|k| parsed.header.alg == k.alg.as_str() && parsed.header.typ.as_deref() == typ)
            .ok_or(OpenError::UnknownSigner)?;
        sig.verify(&parsed)
    }
}

fn is_signature_len(segment: &str, n: usize) -> bool {
    segment.len() == (n * 4).div_ceil(3)
}

impl SigKey {
    /// The signature check of an inner JWS already split and pinned to this
    /// key (its `alg`, `kid` and `typ` are [`NestedSealer::open`]'s): a
    /// signature of exactly the algorithm's length, valid under this key's
    /// public half over the signing input as the token has it. Returns the
    /// payload. (josekit's `deserialize_compact` would parse the header a
    /// second time, and refuse a JWS without our `kid`, such as the RFC
    /// examples this check is tested against.)
    fn verify(&self, inner: &Inner<'_>) -> Result<Vec<u8>, OpenError> {
        if !is_signature_len(inner.signature, self.alg.signature_bytes()) {
            return Err(OpenError::Signature);
        }
        let signature = URL_SAFE_NO_PAD.decode(inner.signature).map_err(|_| OpenError::Signature)?;
        self.verifier.verify(inner.signing_input.as_bytes(), &signature).map_err(|_| OpenError::Signature)?;
        URL_SAFE_NO_PAD.decode(inner.payload).map_err(|_| OpenError::Inner)
    }
}

impl NestedKeys {
    fn build(set: &JwkSet) -> Result<NestedKeys, SealError> {
        let mut keys = NestedKeys { enc: Vec::new(), sig: Vec::new(), enc_current: None, sig_current: None };
        for pair in set.pairs() {
            let fail = || SealError::Key { kid: pair.kid().to_owned(), alg: pair.kind().alg() };
            let current = pair.state() == KeyState::Current;
            match pair.kind() {
                crate::crypto::keys::PairKind::Enc(curve) => {
                    // An encryption key of a set always has its private half (the file parse demands it).
                    let private = pair.private_jwk().ok_or_else(fail)?;
                    let encrypter = jwe::ECDH_ES_A256KW.encrypter_from_jwk(&pair.public_jwk()).map_err(|_| fail())?;
                    let decrypter = jwe::ECDH_ES_A256KW.decrypter_from_jwk(&private).map_err(|_| fail())?;
                    if current {
                        keys.enc_current = Some(keys.enc.len());
                    }
                    keys.enc.push(EncKey {
                        kid: pair.kid().to_owned(),
                        curve,
                        encrypter: Box::new(encrypter),
                        decrypter: Box::new(decrypter),
                    });
                }
                crate::crypto::keys::PairKind::Sig(alg) => {
                    let public = pair.public_jwk();
                    let private = pair.private_jwk();
                    let (signer, verifier): (Option<Box<dyn JwsSigner>>, Box<dyn JwsVerifier>) = match alg {
                        SignAlg::Es256 => (
                            private
                                .map(|k| jws::ES256.signer_from_jwk(&k).map(|s| Box::new(s) as Box<dyn JwsSigner>))
                                .transpose()
                                .map_err(|_| fail())?,
                            Box::new(jws::ES256.verifier_from_jwk(&public).map_err(|_| fail())?),
                        ),
                        SignAlg::EdDsa => (
                            private
                                .map(|k| jws::EdDSA.signer_from_jwk(&k).map(|s| Box::new(s) as Box<dyn JwsSigner>))
                                .transpose()
                                .map_err(|_| fail())?,
                            Box::new(jws::EdDSA.verifier_from_jwk(&public).map_err(|_| fail())?),
                        ),
                    };
                    if current {
                        keys.sig_current = Some(keys.sig.len());
                    }
                    keys.sig.push(SigKey { kid: pair.kid().to_owned(), alg, signer, verifier });
                }
            }
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests;
