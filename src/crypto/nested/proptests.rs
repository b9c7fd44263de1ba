//! Property tests of both layers' strict parse on hostile input: neither
//! panics; an edited nested token never opens; the inner split accepts
//! nothing a plain reference check (RFC 7515's compact shape, the `base64`
//! crate's strict decoder) refuses; and a header the closed shape refuses
//! never reaches josekit.

use super::*;
use crate::crypto::keys::{EncCurve, PairKind, Purpose, SignAlg};
use proptest::prelude::*;

/// The shape `split_inner` promises before reading the header.
fn reference_accepts(token: &str, max_len: usize) -> bool {
    let segments: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = segments.as_slice() else {
        return false;
    };
    token.len() <= max_len
        && [header, payload, signature].iter().all(|s| !s.is_empty() && URL_SAFE_NO_PAD.decode(s).is_ok())
}

fn segment() -> impl Strategy<Value = String> {
    let canonical = prop_oneof![Just(0usize), Just(64), 0usize..48]
        .prop_flat_map(|n| proptest::collection::vec(any::<u8>(), n))
        .prop_map(|bytes| URL_SAFE_NO_PAD.encode(bytes));
    let header = prop_oneof![
        Just(r#"{"alg":"ES256","kid":"k","typ":"sealgate-session"}"#.to_owned()),
        Just(r#"{"alg":"ES256","kid":"k","typ":"sealgate-session","jwk":{}}"#.to_owned()),
        Just(r#"{"alg":"ES256","alg":"EdDSA"}"#.to_owned()),
        Just("[]".to_owned()),
        "[ -~]{0,40}",
    ]
    .prop_map(|h| URL_SAFE_NO_PAD.encode(h));
    prop_oneof![
        4 => canonical,
        2 => header,
        2 => "[A-Za-z0-9_-]{0,30}",
        1 => any::<String>(),
    ]
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => proptest::collection::vec(segment(), 2..=6).prop_map(|parts| parts.join(".")),
        1 => any::<String>(),
    ]
}

/// One nested sealer per key kind, built once.
fn sealers() -> &'static [NestedSealer; 2] {
    static SEALERS: std::sync::OnceLock<[NestedSealer; 2]> = std::sync::OnceLock::new();
    SEALERS.get_or_init(|| {
        [(EncCurve::P256, SignAlg::Es256), (EncCurve::X25519, SignAlg::EdDsa)].map(|(enc, sig)| {
            let set = JwkSet::generate_nested(PairKind::Enc(enc), PairKind::Sig(sig)).expect("a nested key set");
            NestedSealer::new(&set, Purpose::Session, 8192).expect("a nested sealer")
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Whatever `split_inner` accepts, the reference accepts, its header
    /// is of the closed shape, and what it says is signed is the token up to
    /// its last dot.
    #[test]
    fn split_inner_accepts_nothing_the_reference_refuses(token in token()) {
        if let Ok(inner) = split_inner(&token, 1024) {
            prop_assert!(reference_accepts(&token, 1024), "accepted {token:?}");
            prop_assert_eq!(Some(inner.signing_input), token.rsplit_once('.').map(|(input, _)| input));
            let header = token.split('.').next().unwrap_or_default();
            let value: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap_or_default())
                .unwrap_or_default();
            let members = value.as_object().map(|o| o.keys().all(|k| ["alg", "kid", "typ"].contains(&k.as_str())));
            prop_assert_eq!(members, Some(true), "{:?}", inner);
        }
    }

    /// Outer headers: whatever `parse_outer_header` accepts is a JSON object
    /// of only the six members, with an epk of only its four.
    #[test]
    fn outer_header_parse_is_closed(header in prop_oneof![
        Just(serde_json::json!({"alg": "ECDH-ES+A256KW", "enc": "A256GCM", "kid": "k", "cty": "JWT", "typ": "t",
            "epk": {"kty": "OKP", "crv": "X25519", "x": URL_SAFE_NO_PAD.encode([1u8; 32])}}).to_string()),
        "[ -~]{0,80}",
    ], extra in proptest::option::of("[a-z]{1,4}")) {
        let header = match extra {
            Some(name) => header.replacen('{', &format!("{{\"{name}\":1,"), 1),
            None => header,
        };
        if parse_outer_header(&URL_SAFE_NO_PAD.encode(&header)).is_ok() {
            let value: serde_json::Value = serde_json::from_str(&header).unwrap_or_default();
            let object = value.as_object().cloned().unwrap_or_default();
            prop_assert!(object.keys().all(|k| ["alg", "enc", "kid", "epk", "cty", "typ"].contains(&k.as_str())), "{header}");
        }
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let byte = prop_oneof![4 => proptest::sample::select(b"AQgw_-.9zZ=".to_vec()), 1 => any::<u8>()];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(at, b)| Edit::Replace(at, b)),
        (any::<usize>(), byte).prop_map(|(at, b)| Edit::Insert(at, b)),
        any::<usize>().prop_map(Edit::Remove),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(token: &str, edits: &[Edit]) -> Vec<u8> {
    let mut bytes = token.as_bytes().to_vec();
    for edit in edits {
        let len = bytes.len().max(1);
        match *edit {
            Edit::Replace(at, b) => {
                if let Some(slot) = bytes.get_mut(at % len) {
                    *slot = b;
                }
            }
            Edit::Insert(at, b) => bytes.insert(at % (bytes.len() + 1), b),
            Edit::Remove(at) if !bytes.is_empty() => {
                bytes.remove(at % len);
            }
            Edit::Remove(_) => {}
            Edit::Truncate(at) => bytes.truncate(at % len),
        }
    }
    bytes
}

proptest! {
    // Each case costs an ECDH and a signature: fewer cases than the sealed format's.
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A nested token with any edit never opens, with either key kind,
    /// unless the edits gave back the very same token.
    #[test]
    fn an_edited_token_never_opens(
        payload in proptest::collection::vec(any::<u8>(), 1..200),
        edits in proptest::collection::vec(edit(), 1..4),
        which in 0usize..2,
    ) {
        let sealer = &sealers()[which];
        let token = sealer.seal(&payload).expect("sealing works");
        prop_assert_eq!(sealer.open(&token), Ok(payload.clone()));
        let Ok(edited) = String::from_utf8(apply(&token, &edits)) else {
            return Ok(());
        };
        if edited != token {
            prop_assert!(sealer.open(&edited).is_err(), "{edits:?} turned {token:?} into {edited:?}, which opened");
        }
    }

    /// Arbitrary text never panics the open path, and never opens.
    #[test]
    fn garbage_never_opens(token in token(), which in 0usize..2) {
        prop_assert!(sealers()[which].open(&token).is_err());
    }
}
