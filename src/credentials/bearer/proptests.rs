//! Property tests of the `Authorization: Bearer` header parse on any bytes
//! a header value may hold: it never panics, and the token it takes is
//! exactly the one a plain RFC 6750 reading takes (scheme `Bearer` in any
//! case, one space, then a token of visible ASCII, at most 16 KiB).

use super::{bearer_token, is_api_token};
use actix_web::http::header::HeaderValue;
use proptest::prelude::*;

const MAX_TOKEN: usize = 16 * 1024;

/// The plain reading, on text: split at the first space, trim the rest of
/// whitespace; the scheme is `bearer` in any case; the token is non-empty,
/// at most 16 KiB, and only visible ASCII.
fn reference(value: &[u8]) -> Option<&str> {
    let value = std::str::from_utf8(value).ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim_matches([' ', '\t']);
    let ok = scheme.eq_ignore_ascii_case("bearer")
        && !token.is_empty()
        && token.len() <= MAX_TOKEN
        && token.chars().all(|c| c.is_ascii_graphic());
    ok.then_some(token)
}

/// Header values: a scheme (right, in another case, wrong, or missing),
/// spaces and tabs, then token text with odd bytes mixed in.
fn authorization() -> impl Strategy<Value = Vec<u8>> {
    let scheme = proptest::sample::select(vec!["Bearer", "bearer", "BEARER", "BeArEr", "Basic", "Bearerx", "Bear", ""]);
    let gap = proptest::sample::select(vec!["", " ", "  ", "\t", " \t"]);
    let byte = prop_oneof![
        8 => proptest::sample::select(b"eyJ.abc-_~+/=09".to_vec()),
        1 => proptest::sample::select(b" \t".to_vec()),
        1 => 0x20u8..0x7f,
        1 => 0x80u8..=0xff,
    ];
    let body = proptest::collection::vec(byte, 0..40);
    prop_oneof![
        8 => (scheme, gap.clone(), body, gap).prop_map(|(scheme, before, body, after)| {
            [scheme.as_bytes(), before.as_bytes(), &body, after.as_bytes()].concat()
        }),
        1 => proptest::collection::vec(any::<u8>(), 0..30),
        // Around the length bound.
        1 => (MAX_TOKEN - 2..MAX_TOKEN + 3).prop_map(|n| format!("Bearer {}", "a".repeat(n)).into_bytes()),
    ]
    .prop_filter("a valid header value", |value| HeaderValue::from_bytes(value).is_ok())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn bearer_token_takes_exactly_what_the_reference_takes(value in authorization()) {
        prop_assert_eq!(bearer_token(&value), reference(&value), "{:?}", String::from_utf8_lossy(&value));
    }

    /// An API token is told apart by its five segments alone.
    #[test]
    fn api_tokens_are_the_five_segment_ones(token in "[A-Za-z0-9._-]{0,40}") {
        prop_assert_eq!(is_api_token(&token), token.split('.').count() == 5);
    }
}
