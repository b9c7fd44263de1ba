//! Property tests of the strict compact-JWE split and of [`Sealer::open`]
//! on hostile input: neither panics, and neither accepts what a plain
//! reference check (written here from RFC 7516's shape, with the `base64`
//! crate's strict decoder) refuses.

use super::*;
use crate::crypto::keys::{JwkSet, KeyAlg, Purpose};
use proptest::prelude::*;

const MAX_LEN: usize = 1024;

/// The shape `split_strict` promises, checked the plain way: at most
/// `max_len` bytes, exactly five `.`-separated segments, each canonical
/// unpadded base64url (the strict decoder refuses stray trailing bits), a
/// non-empty header and ciphertext, a 12-byte IV and a 16-byte tag.
fn reference_accepts(token: &str, max_len: usize) -> bool {
    let decode = |segment: &str| URL_SAFE_NO_PAD.decode(segment).ok();
    let segments: Vec<&str> = token.split('.').collect();
    let [header, encrypted_key, iv, ciphertext, tag] = segments.as_slice() else {
        return false;
    };
    token.len() <= max_len
        && !header.is_empty()
        && !ciphertext.is_empty()
        && decode(header).is_some()
        && decode(encrypted_key).is_some()
        && decode(ciphertext).is_some()
        && decode(iv).is_some_and(|iv| iv.len() == IV_BYTES)
        && decode(tag).is_some_and(|tag| tag.len() == TAG_BYTES)
}

/// One segment: canonical base64url of some bytes (often the IV and tag
/// sizes), the same with its last symbol changed (often non-canonical), a
/// run of base64url symbols of any length, or any text at all.
fn segment() -> impl Strategy<Value = String> {
    let canonical = prop_oneof![Just(0usize), Just(12), Just(16), Just(40), 0usize..64]
        .prop_flat_map(|n| proptest::collection::vec(any::<u8>(), n))
        .prop_map(|bytes| URL_SAFE_NO_PAD.encode(bytes));
    let last_changed = (canonical.clone(), "[A-Za-z0-9_-]").prop_map(|(mut s, c)| {
        s.pop();
        s.push_str(&c);
        s
    });
    prop_oneof![
        4 => canonical,
        3 => last_changed,
        2 => "[A-Za-z0-9_-]{0,30}",
        1 => "[A-Za-z0-9_=+/. -]{0,10}",
        1 => any::<String>(),
    ]
}

/// Tokens near the accepted shape: four to six segments joined with dots,
/// or arbitrary text.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => proptest::collection::vec(segment(), 4..=6).prop_map(|parts| parts.join(".")),
        1 => any::<String>(),
        1 => "[A-Za-z0-9_.-]{0,200}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Whatever `split_strict` accepts, the reference accepts too, and the
    /// segments it returns are the token's own, in order.
    #[test]
    fn split_strict_accepts_nothing_the_reference_refuses(token in token()) {
        if let Ok(parts) = split_strict(&token, MAX_LEN) {
            prop_assert!(reference_accepts(&token, MAX_LEN), "accepted {token:?}");
            let rejoined = [parts.header, parts.encrypted_key, parts.iv, parts.ciphertext, parts.tag].join(".");
            prop_assert_eq!(rejoined, token);
        }
    }

    /// And it refuses nothing the reference accepts: the split is exactly
    /// the reference, not a stricter stand-in that would refuse good tokens.
    #[test]
    fn split_strict_agrees_with_the_reference(token in token(), max_len in prop_oneof![Just(MAX_LEN), 0usize..200]) {
        prop_assert_eq!(split_strict(&token, max_len).is_ok(), reference_accepts(&token, max_len), "{:?}", token);
    }
}

/// One sealer per key algorithm, built once: key derivation is slow.
fn sealers() -> &'static [Sealer; 2] {
    static SEALERS: std::sync::OnceLock<[Sealer; 2]> = std::sync::OnceLock::new();
    SEALERS.get_or_init(|| {
        [KeyAlg::Dir, KeyAlg::A256Kw].map(|alg| {
            Sealer::new(&JwkSet::generate(alg), Purpose::Session, 8192).expect("a sealer for a fresh key set")
        })
    })
}

/// A change to a sealed token: a byte replaced, inserted or removed, or the
/// token cut short.
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
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A sealed token with any edit never opens, with either key algorithm,
    /// unless the edits gave back the very same token; the untouched token
    /// opens to what was sealed.
    #[test]
    fn an_edited_token_never_opens(
        // Not empty: an empty ciphertext is refused by the split, by design.
        payload in proptest::collection::vec(any::<u8>(), 1..200),
        edits in proptest::collection::vec(edit(), 1..4),
        which in 0usize..2,
    ) {
        let sealer = &sealers()[which];
        let token = sealer.seal(&payload).expect("sealing works");
        prop_assert_eq!(sealer.open(&token), Ok(payload.clone()));
        let edited = apply(&token, &edits);
        let Ok(edited) = String::from_utf8(edited) else {
            // Not UTF-8: no `&str` to open; the header reader refuses it first.
            return Ok(());
        };
        if edited != token {
            prop_assert!(sealer.open(&edited).is_err(), "{edits:?} turned {token:?} into {edited:?}, which opened");
        }
    }

    /// Arbitrary text never panics the whole open path, and never opens.
    #[test]
    fn garbage_never_opens(token in token(), which in 0usize..2) {
        prop_assert!(sealers()[which].open(&token).is_err());
    }
}

/// Found by `split_strict_agrees_with_the_reference`: a header, encrypted
/// key or ciphertext whose last symbol carries stray bits (`AB` is one byte
/// with four bits left over) is not canonical, and was accepted before.
#[test]
fn stray_trailing_bits_are_refused_in_every_segment() {
    const IV: &str = "AAAAAAAAAAAAAAAA";
    const TAG: &str = "AAAAAAAAAAAAAAAAAAAAAA";
    for token in [format!("AB..{IV}.AAAA.{TAG}"), format!("AAAA..{IV}.AB.{TAG}"), format!("AAAA.AAB.{IV}.AAAA.{TAG}")] {
        assert_eq!(split_strict(&token, MAX_LEN).unwrap_err(), OpenError::Base64, "{token}");
    }
    assert!(split_strict(&format!("AA..{IV}.AAA.{TAG}"), MAX_LEN).is_ok());
}
