//! The strict compact-JWE split, then the whole open path (header match,
//! encrypted-key check, josekit) for each key algorithm, on any bytes.
//! Checks: no panic; whatever the split accepts has exactly the promised
//! shape; nothing that is not a token sealed by the key ever opens.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate::crypto::jwe::{split_strict, Sealer, IV_BYTES, TAG_BYTES};
use sealgate::crypto::keys::{JwkSet, KeyAlg, Purpose};
use std::sync::OnceLock;

const MAX_LEN: usize = 16 * 1024;

fn sealers() -> &'static [Sealer; 2] {
    static SEALERS: OnceLock<[Sealer; 2]> = OnceLock::new();
    SEALERS.get_or_init(|| {
        [KeyAlg::Dir, KeyAlg::A256Kw].map(|alg| Sealer::new(&JwkSet::generate(alg), Purpose::Session, MAX_LEN).unwrap())
    })
}

fn canonical_len(segment: &str) -> Option<usize> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(segment).ok().map(|bytes| bytes.len())
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    if let Ok(parts) = split_strict(token, MAX_LEN) {
        assert!(token.len() <= MAX_LEN);
        assert_eq!([parts.header, parts.encrypted_key, parts.iv, parts.ciphertext, parts.tag].join("."), token);
        assert!(!parts.header.is_empty() && !parts.ciphertext.is_empty());
        assert_eq!(canonical_len(parts.iv), Some(IV_BYTES));
        assert_eq!(canonical_len(parts.tag), Some(TAG_BYTES));
        for segment in [parts.header, parts.encrypted_key, parts.ciphertext] {
            assert!(canonical_len(segment).is_some(), "{segment:?} is not canonical base64url");
        }
    }
    for sealer in sealers() {
        // A random key: no fuzzer input can be sealed by it.
        assert!(sealer.open(token).is_err(), "{token:?} opened");
    }
});
