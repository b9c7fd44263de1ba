//! [`Sealer`]: seal and open values for one [`Purpose`] with a key set.
//!
//! The derived keys are [`Keyed`]: built from a set taken from a
//! [`KeyRing`](crate::crypto::keys::KeyRing), they are rebuilt when the key file is
//! reloaded, and each seal or open uses the keys in force (one atomic load).

use super::{decoded_len, split_strict, OpenError};
use crate::crypto::keys::{derive, serves, JwkSet, KeyAlg, KeyState, Keyed, Purpose};
use josekit::jwe::{self, JweDecrypter, JweEncrypter, JweHeader};
use std::sync::Arc;

/// Only this content encryption is issued or accepted.
pub const ENC: &str = "A256GCM";
/// A256KW wraps a 32-byte content key into 40 bytes.
const WRAPPED_KEY_BYTES: usize = 40;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("cannot build a {alg} key for kid {kid}")]
    Key { kid: String, alg: &'static str },
    #[error("encryption failed")]
    Encrypt,
    /// A verify-only replica: it holds no signing private key.
    #[error("this replica cannot sign sessions: it holds no signing private key (session.role = \"verify\")")]
    CannotSign,
}

struct SealKey {
    alg: KeyAlg,
    /// The protected header exactly as we issue it, base64url.
    header_b64: String,
    header: JweHeader,
    encrypter: Box<dyn JweEncrypter>,
    decrypter: Box<dyn JweDecrypter>,
}

/// The derived keys of one set: every key opens; `current` seals.
struct SealKeys {
    keys: Vec<SealKey>,
    current: usize,
}

/// Seals with the current key and opens with any key of the set, for one
/// purpose only.
pub struct Sealer {
    purpose: Purpose,
    keys: Arc<Keyed<SealKeys>>,
    max_len: usize,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").field("purpose", &self.purpose).field("keys", &self.keys.load().keys.len()).finish()
    }
}

impl Sealer {
    /// Build a sealer for `purpose`, deriving one key per root key. A set
    /// from a key ring makes a sealer that follows the ring.
    pub fn new(set: &JwkSet, purpose: Purpose, max_len: usize) -> Result<Sealer, SealError> {
        let keys = match set.ring() {
            Some(ring) => ring.follow(move |set| SealKeys::build(set, purpose))?,
            None => Keyed::fixed(SealKeys::build(set, purpose)?),
        };
        Ok(Sealer { purpose, keys, max_len })
    }

    pub fn purpose(&self) -> Purpose {
        self.purpose
    }

    /// Whether this sealer has a key to seal with.
    pub fn can_seal(&self) -> bool {
        let keys = self.keys.load();
        keys.current < keys.keys.len()
    }

    /// Seal `payload` with the current key.
    pub fn seal(&self, payload: &[u8]) -> Result<String, SealError> {
        let keys = self.keys.load();
        let key = keys.keys.get(keys.current).ok_or(SealError::Encrypt)?;
        jwe::serialize_compact(payload, &key.header, &*key.encrypter).map_err(|_| SealError::Encrypt)
    }

    /// Open a token sealed for this purpose by any key of the set.
    pub fn open(&self, token: &str) -> Result<Vec<u8>, OpenError> {
        let parts = split_strict(token, self.max_len)?;
        let keys = self.keys.load();
        let key = keys.keys.iter().find(|k| k.header_b64 == parts.header).ok_or(OpenError::UnknownHeader)?;
        let key_ok = match key.alg {
            KeyAlg::Dir => parts.encrypted_key.is_empty(),
            KeyAlg::A256Kw => decoded_len(parts.encrypted_key) == WRAPPED_KEY_BYTES,
        };
        if !key_ok {
            return Err(OpenError::EncryptedKey);
        }
        jwe::deserialize_compact(token, &*key.decrypter)
            .map(|(payload, _header)| payload)
            .map_err(|_| OpenError::Decrypt)
    }
}

impl SealKeys {
    fn build(set: &JwkSet, purpose: Purpose) -> Result<SealKeys, SealError> {
        let mut keys = Vec::with_capacity(set.len());
        // Past the end (nothing seals) when the set has no symmetric key for
        // this purpose: a verify-only set.
        let mut current = usize::MAX;
        for root in set.iter().filter(|root| serves(root, purpose)) {
            if root.state() == KeyState::Current {
                current = keys.len();
            }
            let derived = derive(root, purpose);
            let fail = || SealError::Key { kid: derived.kid.clone(), alg: derived.alg.as_str() };
            let (encrypter, decrypter): (Box<dyn JweEncrypter>, Box<dyn JweDecrypter>) = match derived.alg {
                KeyAlg::Dir => (
                    Box::new(jwe::Dir.encrypter_from_bytes(derived.bytes.as_slice()).map_err(|_| fail())?),
                    Box::new(jwe::Dir.decrypter_from_bytes(derived.bytes.as_slice()).map_err(|_| fail())?),
                ),
                KeyAlg::A256Kw => (
                    Box::new(jwe::A256KW.encrypter_from_bytes(derived.bytes.as_slice()).map_err(|_| fail())?),
                    Box::new(jwe::A256KW.decrypter_from_bytes(derived.bytes.as_slice()).map_err(|_| fail())?),
                ),
            };
            let mut header = JweHeader::new();
            header.set_content_encryption(ENC);
            header.set_key_id(&derived.kid);
            header.set_token_type(purpose.jwe_typ());
            // Learn the exact header bytes josekit issues by sealing a probe.
            let probe = jwe::serialize_compact(b"probe", &header, &*encrypter).map_err(|_| fail())?;
            let header_b64 = probe.split('.').next().unwrap_or_default().to_owned();
            keys.push(SealKey { alg: derived.alg, header_b64, header, encrypter, decrypter });
        }
        Ok(SealKeys { keys, current })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    fn sealer(set: &JwkSet, purpose: Purpose) -> Sealer {
        Sealer::new(set, purpose, 8192).unwrap()
    }

    #[test]
    fn round_trips_with_both_algorithms() {
        for alg in [KeyAlg::Dir, KeyAlg::A256Kw] {
            let set = JwkSet::generate(alg);
            let s = sealer(&set, Purpose::Session);
            let token = s.seal(b"{\"hello\":1}").unwrap();
            assert_eq!(s.open(&token).unwrap(), b"{\"hello\":1}");
            let header: serde_json::Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
            assert_eq!(header["alg"], alg.as_str());
            assert_eq!(header["enc"], "A256GCM");
            assert_eq!(header["kid"], set.current().kid());
            assert_eq!(header["typ"], "sealgate-session");
            assert_eq!(header.as_object().unwrap().len(), 4, "{header}");
        }
    }

    #[test]
    fn a_value_sealed_for_one_purpose_never_opens_as_another() {
        let set = JwkSet::generate(KeyAlg::Dir);
        for from in Purpose::ALL {
            let token = sealer(&set, from).seal(b"x").unwrap();
            for to in Purpose::ALL.into_iter().filter(|p| *p != from) {
                assert_eq!(sealer(&set, to).open(&token).unwrap_err(), OpenError::UnknownHeader);
            }
        }
    }

    fn kid_of(token: &str) -> String {
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
        header["kid"].as_str().unwrap().to_owned()
    }

    #[test]
    fn a_sealer_from_a_ring_follows_a_staged_rotation() {
        let mut set = JwkSet::generate(KeyAlg::Dir);
        let old = set.current().kid().to_owned();
        let ring = crate::crypto::keys::KeyRing::new(set.clone());
        let s = sealer(&ring.set(), Purpose::Session);
        let fixed = sealer(&set, Purpose::Session);
        let sealed_by_old = s.seal(b"old").unwrap();

        let next = set.add_generated(KeyAlg::A256Kw, KeyState::Next);
        ring.replace(set.clone()).unwrap();
        assert_eq!(kid_of(&s.seal(b"x").unwrap()), old, "a next key does not seal");
        let mut ahead = set.clone();
        ahead.activate(&next).unwrap();
        let sealed_by_next = sealer(&ahead, Purpose::Session).seal(b"next").unwrap();
        assert_eq!(s.open(&sealed_by_next).unwrap(), b"next", "a next key opens");
        assert_eq!(fixed.open(&sealed_by_next).unwrap_err(), OpenError::UnknownHeader, "not without the reload");

        set.activate(&next).unwrap();
        ring.replace(set.clone()).unwrap();
        assert_eq!(kid_of(&s.seal(b"x").unwrap()), next);
        assert_eq!(s.open(&sealed_by_old).unwrap(), b"old", "the previous key still opens");

        set.retire(&old).unwrap();
        ring.replace(set).unwrap();
        assert_eq!(s.open(&sealed_by_old).unwrap_err(), OpenError::UnknownHeader, "a retired key opens nothing");
        assert_eq!(fixed.open(&sealed_by_old).unwrap(), b"old", "a sealer of a set without a ring never changes");
    }

    #[test]
    fn a_truncated_tag_never_reaches_josekit() {
        let set = JwkSet::generate(KeyAlg::Dir);
        let s = sealer(&set, Purpose::Session);
        let token = s.seal(b"payload").unwrap();
        let (rest, tag) = token.rsplit_once('.').unwrap();
        for cut in 1..tag.len() {
            let short = format!("{rest}.{}", &tag[..cut]);
            assert!(s.open(&short).is_err(), "tag cut to {cut} chars was accepted");
        }
    }
}
