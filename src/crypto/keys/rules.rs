//! [`KeyRules`]: what a key set must hold for the session format and role of
//! the replica it is given to. The same rules decide at start (every
//! problem listed with the others) and on every reload of the key file (a
//! set that breaks one is refused whole, and the set in force stays), so a
//! verify-only replica can never come to hold a key that mints: not from
//! the file it starts with, nor from a file swapped in while it runs.

use super::JwkSet;
use crate::config::{SessionFormat, SessionRole, Settings};

/// The session format and role a key set is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRules {
    pub format: SessionFormat,
    pub role: SessionRole,
}

impl KeyRules {
    pub fn from_settings(settings: &Settings) -> KeyRules {
        KeyRules { format: settings.session.format, role: settings.session.role }
    }

    /// Every rule `set` breaks: a verify-only replica holds nothing that
    /// mints (no symmetric root key, no signing private key), a full one
    /// what it needs to sign. Empty when the set fits.
    pub fn problems(&self, set: &JwkSet) -> Vec<String> {
        let has_pairs = set.current_pair(true).is_some() && set.current_pair(false).is_some();
        let mut problems = Vec::new();
        if self.format == SessionFormat::Nested && !has_pairs {
            problems.push(
                "session.format = \"nested\" needs an encryption and a signing key pair; \
                 run `sealgate keygen --alg ECDH-ES+A256KW --sign ES256`"
                    .into(),
            );
        }
        match self.role {
            SessionRole::Verify if set.holds_minting_keys() => problems.push(
                "session.role = \"verify\" but the key set holds a symmetric root key or a signing private key, \
                 which could mint sessions; give this replica the file `sealgate keys export --verify-only` writes"
                    .into(),
            ),
            SessionRole::Full if self.format == SessionFormat::Nested && has_pairs && !set.can_sign() => problems.push(
                "the key set holds no private half of the current signing key, so this replica cannot sign \
                     sessions; set session.role = \"verify\" for a verify-only replica"
                    .into(),
            ),
            SessionRole::Full if set.current_oct().is_none() => problems.push(
                "the key set has no symmetric key, which flow cookies and API tokens need; \
                 a set without one is for session.role = \"verify\""
                    .into(),
            ),
            _ => {}
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::{EncCurve, KeyAlg, KeyState, PairKind, SignAlg};

    const VERIFY: KeyRules = KeyRules { format: SessionFormat::Nested, role: SessionRole::Verify };
    const FULL: KeyRules = KeyRules { format: SessionFormat::Nested, role: SessionRole::Full };

    fn full_set() -> JwkSet {
        JwkSet::generate_nested(PairKind::Enc(EncCurve::P256), PairKind::Sig(SignAlg::Es256)).unwrap()
    }

    #[test]
    fn a_verify_only_replica_takes_the_exported_set_and_nothing_that_mints() {
        let full = full_set();
        let exported = full.verify_only().unwrap();
        assert_eq!(VERIFY.problems(&exported), Vec::<String>::new());
        assert_eq!(FULL.problems(&full), Vec::<String>::new());

        // The whole set; the exported set plus a root key; plus a signing key with its private half.
        let mut with_root = exported.clone();
        with_root.add_generated(KeyAlg::Dir, KeyState::Next);
        let mut with_signer = exported.clone();
        with_signer.add_generated_pair(PairKind::Sig(SignAlg::EdDsa), KeyState::Next).unwrap();
        for (what, set) in
            [("the full set", &full), ("a root key", &with_root), ("a signing private key", &with_signer)]
        {
            let problems = VERIFY.problems(set);
            assert_eq!(problems.len(), 1, "{what}: {problems:?}");
            assert!(problems[0].contains("could mint sessions"), "{what}: {problems:?}");
        }
        // A full replica cannot live on the exported set.
        let problems = FULL.problems(&exported);
        assert!(problems.iter().any(|p| p.contains("cannot sign")), "{problems:?}");
    }
}
