//! Keys: a JWK Set of symmetric root keys, and the purpose keys derived from
//! them.
//!
//! Each JWK in the set is a 256-bit root key (`kty: oct`) with a `kid` and an
//! `alg` of `dir` or `A256KW`. One key is current: it seals everything new.
//! Every key in the set opens what it sealed, chosen by `kid`, so adding a
//! key (rotation) signs nobody out, and removing a key ends the sessions it
//! sealed. A rotation in a fleet takes two steps (see [`KeyState`]): a `next`
//! key that every replica opens with, then, once all have it, `activate`.
//!
//! A running gateway holds its set in a [`KeyRing`], which [`KeyFile`]
//! replaces when the file changes (see `crate::reload`), if the new set
//! meets the same [`KeyRules`] as the set it started with.
//!
//! A root key is never used directly. For each [`Purpose`] sealgate derives a
//! separate key with HKDF-SHA256, so a value sealed for one purpose (a flow
//! cookie, say) can never be opened as another (a session).

mod jwk;
mod pair;
mod ring;
mod rules;

pub use jwk::{decode_oct, is_valid_kid, Jwk, JwkSet, KeyAlg, KeyState, OctKey};
pub use pair::{EncCurve, PairKey, PairKind, PairMembers, SignAlg, ECDH_ALG};
pub use ring::{generation, KeyRing, Keyed};
pub use rules::KeyRules;

use crate::config::{Mode, Settings};
use hkdf::Hkdf;
use secrecy::ExposeSecret;
use sha2::Sha256;
use std::path::Path;
use zeroize::Zeroizing;

/// What a sealed value is for. Each purpose has its own derived key, its own
/// JWE `typ`, and its own payload `typ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// The session cookie.
    Session,
    /// The short-lived sign-in flow cookie (state, nonce, PKCE verifier).
    Flow,
    /// API tokens presented as `Authorization: Bearer`.
    ApiToken,
    /// The inner AES-GCM blob holding a provider's OAuth tokens.
    ProviderTokens,
}

impl Purpose {
    pub const ALL: [Purpose; 4] = [Purpose::Session, Purpose::Flow, Purpose::ApiToken, Purpose::ProviderTokens];

    /// The HKDF `info` label and payload `typ`.
    pub fn label(self) -> &'static str {
        match self {
            Purpose::Session => "session",
            Purpose::Flow => "flow",
            Purpose::ApiToken => "api-token",
            Purpose::ProviderTokens => "provider-tokens",
        }
    }

    /// The JWE protected header `typ`.
    pub fn jwe_typ(self) -> &'static str {
        match self {
            Purpose::Session => "sealgate-session",
            Purpose::Flow => "sealgate-flow",
            Purpose::ApiToken => "sealgate-api-token",
            Purpose::ProviderTokens => "sealgate-provider-tokens",
        }
    }
}

/// A 256-bit key derived for one purpose from one root key.
pub struct PurposeKey {
    pub kid: String,
    pub alg: KeyAlg,
    pub bytes: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for PurposeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PurposeKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("bytes", &"[redacted]")
            .finish()
    }
}

const HKDF_SALT: &[u8] = b"sealgate/v1";

/// Derive the key for `purpose` from a root key. A key that is one
/// purpose's key already ([`Jwk::purpose`]) is that key as it is: callers
/// skip it for any other purpose (see [`serves`]).
pub fn derive(root: &Jwk, purpose: Purpose) -> PurposeKey {
    if root.purpose() == Some(purpose) {
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(root.secret());
        return PurposeKey { kid: root.kid().to_owned(), alg: root.alg(), bytes };
    }
    let hkdf = Hkdf::<Sha256>::new(Some(HKDF_SALT), root.secret());
    let mut bytes = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
    let _ = hkdf.expand(purpose.label().as_bytes(), bytes.as_mut_slice());
    PurposeKey { kid: root.kid().to_owned(), alg: root.alg(), bytes }
}

/// A MAC key for one use within `purpose` (`use_label`, e.g. the sign-in
/// codes under the flow purpose), derived from the set's current secret key
/// that serves `purpose`: `purpose`'s key, expanded once more with HKDF
/// under `use_label`, so it is neither that key nor any other purpose's.
/// `None` when the set holds no such key (a verify-only replica).
pub fn derive_mac_key(set: &JwkSet, purpose: Purpose, use_label: &str) -> Option<Zeroizing<[u8; 32]>> {
    let root = set.current_oct().filter(|root| serves(root, purpose))?;
    let purpose_key = derive(root, purpose);
    let hkdf = Hkdf::<Sha256>::new(Some(HKDF_SALT), purpose_key.bytes.as_slice());
    let mut bytes = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
    let _ = hkdf.expand(format!("{}/{use_label}", purpose.label()).as_bytes(), bytes.as_mut_slice());
    Some(bytes)
}

/// Whether `root` may seal or open for `purpose`: a root key serves every
/// purpose, a purpose's own key only its purpose.
pub fn serves(root: &Jwk, purpose: Purpose) -> bool {
    root.purpose().is_none_or(|p| p == purpose)
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no key set at `{0}`; run `sealgate keygen` to create one")]
    Missing(String),
    #[error("cannot read the key set at `{path}`: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("the key set is invalid: {0}")]
    Invalid(String),
    #[error("cannot write the key set at `{path}`: {reason}")]
    Unwritable { path: String, reason: String },
    #[error("{0}")]
    Refused(String),
}

/// Load the key set the settings name. In development mode a missing key
/// file is created with one fresh key, loudly; in production it is an error.
pub fn load_or_init(settings: &Settings) -> Result<JwkSet, KeyError> {
    if let Some(source) = &settings.keys.jwks {
        let text = source.resolve().map_err(KeyError::Invalid)?;
        return JwkSet::from_json(text.expose_secret()).map_err(KeyError::Invalid);
    }
    let path = &settings.keys.path;
    if !path.exists() && settings.mode == Mode::Development {
        let set = JwkSet::generate(KeyAlg::Dir);
        write_key_set(path, &set)?;
        tracing::warn!(
            path = %path.display(),
            "DEVELOPMENT MODE: no keys were found, so a new key set was generated. \
             Sessions sealed with it end when the file is deleted. Production refuses to start without keys."
        );
        return Ok(set);
    }
    read_key_set(path)
}

pub fn read_key_set(path: &Path) -> Result<JwkSet, KeyError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => KeyError::Missing(shown.clone()),
        _ => KeyError::Unreadable { path: shown.clone(), reason: e.to_string() },
    })?;
    JwkSet::from_json(&text).map_err(|e| KeyError::Invalid(format!("{shown}: {e}")))
}

/// Write a key set readable by its owner only.
pub fn write_key_set(path: &Path, set: &JwkSet) -> Result<(), KeyError> {
    write_private(path, &set.to_json())
        .map_err(|e| KeyError::Unwritable { path: path.display().to_string(), reason: e.to_string() })
}

/// Write `text` to `path` (creating its directory) readable by its owner
/// only, through a temporary file renamed into place: a reloading replica
/// never reads half a file. For every file that holds private keys.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// `sealgate keygen`: add a fresh key to the set at `path` (creating it) and
/// make it current. Returns the new `kid`.
pub fn keygen(path: &Path, alg: KeyAlg) -> Result<String, KeyError> {
    let mut set = match read_key_set(path) {
        Ok(set) => set,
        Err(KeyError::Missing(_)) => JwkSet::empty(),
        Err(e) => return Err(e),
    };
    let kid = set.add_generated(alg, KeyState::Current);
    write_key_set(path, &set)?;
    Ok(kid)
}

/// `sealgate keygen --next`: add a fresh key that opens but does not seal
/// (yet) to the existing set at `path`. Returns the new `kid`.
pub fn keygen_next(path: &Path, alg: KeyAlg) -> Result<String, KeyError> {
    let mut set = read_key_set(path)?;
    let kid = set.add_generated(alg, KeyState::Next);
    write_key_set(path, &set)?;
    Ok(kid)
}

/// `sealgate keygen --alg ECDH-ES+A256KW --sign ALG`: add a fresh
/// encryption key pair and signing key pair (current, or with `next` both
/// next) to the set at `path`, creating it, and a `dir` key too when the set
/// has no symmetric key (flow cookies, API tokens and provider tokens stay
/// symmetric). Returns the new kids (encryption, signing, symmetric if added).
pub fn keygen_pair(
    path: &Path,
    enc: PairKind,
    sig: PairKind,
    next: bool,
) -> Result<(String, String, Option<String>), KeyError> {
    let mut set = match read_key_set(path) {
        Ok(set) => set,
        Err(KeyError::Missing(_)) => JwkSet::empty(),
        Err(e) => return Err(e),
    };
    // The first pair of a kind is current at once: it seals nothing until
    // `session.format = "nested"`, and every replica opens with it.
    let state = |set: &JwkSet, kind: PairKind| match set.current_pair(kind.is_enc()) {
        Some(_) if next => KeyState::Next,
        _ => KeyState::Current,
    };
    let oct = set.current_oct().is_none().then(|| set.add_generated(KeyAlg::Dir, KeyState::Current));
    let enc_kid = set.add_generated_pair(enc, state(&set, enc)).map_err(KeyError::Refused)?;
    let sig_kid = set.add_generated_pair(sig, state(&set, sig)).map_err(KeyError::Refused)?;
    write_key_set(path, &set)?;
    Ok((enc_kid, sig_kid, oct))
}

/// `sealgate keys export --verify-only`: write the verify-only key set of
/// the set at `path` to `out` (see [`JwkSet::verify_only`]).
pub fn export_verify_only(path: &Path, out: &Path) -> Result<JwkSet, KeyError> {
    let set = read_key_set(path)?.verify_only().map_err(KeyError::Refused)?;
    write_key_set(out, &set)?;
    Ok(set)
}

/// `sealgate keys activate KID`: make `kid` current. Returns the kid that was.
pub fn activate(path: &Path, kid: &str) -> Result<String, KeyError> {
    let mut set = read_key_set(path)?;
    let was = set.activate(kid).map_err(KeyError::Refused)?;
    write_key_set(path, &set)?;
    Ok(was)
}

/// `sealgate keys retire KID`: remove `kid` (never the current key).
/// Returns the state it had.
pub fn retire(path: &Path, kid: &str) -> Result<KeyState, KeyError> {
    let mut set = read_key_set(path)?;
    let state = set.retire(kid).map_err(KeyError::Refused)?;
    write_key_set(path, &set)?;
    Ok(state)
}

/// The key file a running gateway watches: a change that parses and meets
/// the replica's [`KeyRules`] (checked at start too) replaces the ring's
/// set; one that does not is refused whole, and the set stays. So a
/// verify-only replica never takes in a key that mints.
#[derive(Debug)]
pub struct KeyFile {
    pub path: std::path::PathBuf,
    pub ring: KeyRing,
    pub rules: KeyRules,
}

impl crate::reload::Reloadable for KeyFile {
    fn what(&self) -> &'static str {
        "key set"
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn reload(&self, bytes: &[u8]) -> Result<Option<String>, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "the key set is not UTF-8".to_owned())?;
        let set = JwkSet::from_json(text)?;
        let problems = self.rules.problems(&set);
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        if set.same_keys(&self.ring.current()) {
            return Ok(None);
        }
        let summary = describe(&set);
        self.ring.replace(set)?;
        Ok(Some(summary))
    }
}

/// The kids and states of a set, for logs (no key material).
fn describe(set: &JwkSet) -> String {
    let keys: Vec<String> = set.iter().map(|k| format!("{} ({})", k.kid(), k.state().as_str())).collect();
    format!("{} key(s): {}", set.len(), keys.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_derive_different_keys_and_debug_hides_them() {
        let set = JwkSet::generate(KeyAlg::Dir);
        let root = set.current();
        let keys: Vec<_> = Purpose::ALL.iter().map(|p| derive(root, *p)).collect();
        for (i, a) in keys.iter().enumerate() {
            for b in keys.iter().skip(i + 1) {
                assert_ne!(*a.bytes, *b.bytes);
            }
            assert_ne!(a.bytes.as_slice(), root.secret());
        }
        let shown = format!("{:?} {:?}", keys.first().unwrap(), root);
        assert!(shown.contains("[redacted]"));
        assert!(!shown.contains(&root.k_b64()), "{shown}");
    }

    #[test]
    fn a_mac_key_is_its_own_and_follows_the_current_key() {
        let set = JwkSet::generate(KeyAlg::Dir);
        let root = set.current();
        let mac = derive_mac_key(&set, Purpose::Flow, "signin-code").unwrap();
        assert_eq!(mac, derive_mac_key(&set, Purpose::Flow, "signin-code").unwrap(), "stable");
        assert_ne!(*mac, *derive_mac_key(&set, Purpose::Flow, "other").unwrap());
        for purpose in Purpose::ALL {
            assert_ne!(*mac, *derive(root, purpose).bytes, "{purpose:?}");
        }
        assert_ne!(mac.as_slice(), root.secret());
        let other = JwkSet::generate(KeyAlg::Dir);
        assert_ne!(*mac, *derive_mac_key(&other, Purpose::Flow, "signin-code").unwrap());
    }

    #[test]
    fn a_verify_only_replica_refuses_a_reloaded_set_that_could_mint_and_keeps_its_keys() {
        use crate::config::{SessionFormat, SessionRole};
        use crate::reload::Reloadable;
        let full = JwkSet::generate_nested(PairKind::Enc(EncCurve::P256), PairKind::Sig(SignAlg::Es256)).unwrap();
        let exported = full.verify_only().unwrap();
        let ring = KeyRing::new(exported.clone());
        let sealer = crate::crypto::nested::NestedSealer::new(&ring.set(), Purpose::Session, 8192).unwrap();
        let rules = KeyRules { format: SessionFormat::Nested, role: SessionRole::Verify };
        let file = KeyFile { path: "verify.jwks.json".into(), ring: ring.clone(), rules };

        let refused = file.reload(full.to_json().as_bytes()).unwrap_err();
        assert!(refused.contains("could mint sessions"), "{refused}");
        assert!(ring.current().same_keys(&exported), "the keys in force stay");
        assert!(!sealer.can_seal(), "nothing that follows the ring took the signing key");

        // The same file for a full replica, and a rotated export for this one, are taken.
        let full_file = KeyFile { rules: KeyRules { role: SessionRole::Full, ..rules }, ..file };
        assert!(full_file.reload(full.to_json().as_bytes()).unwrap().is_some());
        let mut rotated = full.clone();
        rotated.add_generated_pair(PairKind::Sig(SignAlg::Es256), KeyState::Next).unwrap();
        let rotated = rotated.verify_only().unwrap();
        let file = KeyFile { rules, ..full_file };
        assert!(file.reload(rotated.to_json().as_bytes()).unwrap().is_some());
        assert!(ring.current().same_keys(&rotated));
        assert!(!sealer.can_seal());
    }

    #[test]
    fn keygen_appends_a_current_key_and_keeps_the_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let first = keygen(&path, KeyAlg::Dir).unwrap();
        let second = keygen(&path, KeyAlg::A256Kw).unwrap();
        assert_ne!(first, second);
        let set = read_key_set(&path).unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(set.current().kid(), second);
        assert_eq!(set.current().alg(), KeyAlg::A256Kw);
        assert!(set.get(&first).is_some());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
