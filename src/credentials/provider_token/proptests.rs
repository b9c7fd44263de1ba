//! Property tests of the JWS pre-checks ([`jwt::parse`], before any key
//! is looked up) on hostile tokens: headers and payloads of every JSON
//! shape, algorithms of every family, `typ` and `crit` variants, segments
//! that are not canonical base64url, too long, missing or extra. The parse
//! never panics and never accepts what a plain reference (RFC 7515's
//! compact form and our own rules, checked here with `serde_json::Value`)
//! refuses; well-formed tokens are accepted.

use super::jwt;
use crate::config::ASYMMETRIC_ALGORITHMS;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// Segment bounds, in base64url characters: a 1 KiB header, an 8 KiB
/// payload, a 700-character signature (RSA-4096 is 683).
const MAX_HEADER_CHARS: usize = 1024 / 3 * 4 + 4;
const MAX_PAYLOAD_CHARS: usize = 8 * 1024 / 3 * 4 + 4;
const MAX_SIGNATURE_CHARS: usize = 700;

/// What the reference accepts: `(alg, kid, signature, claims)`.
type Accepted = (String, Option<String>, Vec<u8>, Map<String, Value>);

fn reference(token: &str) -> Option<Accepted> {
    let segments: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = segments.as_slice() else {
        return None;
    };
    let decode = |segment: &str, max: usize| {
        (!segment.is_empty() && segment.len() <= max).then(|| URL_SAFE_NO_PAD.decode(segment).ok()).flatten()
    };
    let Ok(Value::Object(header)) = serde_json::from_slice(&decode(header, MAX_HEADER_CHARS)?) else {
        return None;
    };
    let alg = header.get("alg")?.as_str()?;
    if !ASYMMETRIC_ALGORITHMS.contains(&alg) || !header.get("crit").is_none_or(Value::is_null) {
        return None;
    }
    let typ_ok = match header.get("typ") {
        None | Some(Value::Null) => true,
        Some(Value::String(typ)) => {
            let typ = typ.to_ascii_lowercase();
            matches!(typ.strip_prefix("application/").unwrap_or(&typ), "jwt" | "at+jwt")
        }
        Some(_) => false,
    };
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return None,
    };
    let signature = decode(signature, MAX_SIGNATURE_CHARS)?;
    let Ok(Value::Object(claims)) = serde_json::from_slice(&decode(payload, MAX_PAYLOAD_CHARS)?) else {
        return None;
    };
    typ_ok.then(|| (alg.to_owned(), kid, signature, claims))
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A JSON value of any shape, small.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-zA-Z0-9+/ ]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A header: an object with `alg`, `kid`, `typ`, `crit` each present or
/// not, as strings we use, near misses or values of the wrong type, plus
/// other members; sometimes a JSON value that is not an object at all.
fn header() -> impl Strategy<Value = Value> {
    let alg = prop_oneof![
        proptest::sample::select(ASYMMETRIC_ALGORITHMS.to_vec()).prop_map(Value::from),
        proptest::sample::select(vec!["none", "HS256", "rs256", "RS256 ", "", "dir"]).prop_map(Value::from),
        json_value(),
    ];
    let typ = prop_oneof![
        proptest::sample::select(vec!["JWT", "jwt", "at+jwt", "application/at+JWT", "JWE", "application/jose", ""])
            .prop_map(Value::from),
        json_value(),
    ];
    let kid = prop_oneof!["[a-z0-9-]{0,8}".prop_map(Value::from), json_value()];
    let crit = prop_oneof![Just(Value::Null), Just(json!(["exp"])), json_value()];
    let member = |value: BoxedStrategy<Value>| proptest::option::weighted(0.7, value);
    let object =
        (member(alg.boxed()), member(kid.boxed()), member(typ.boxed()), proptest::option::weighted(0.15, crit))
            .prop_map(|(alg, kid, typ, crit)| {
                let mut header = Map::new();
                for (name, value) in [("alg", alg), ("kid", kid), ("typ", typ), ("crit", crit)] {
                    if let Some(value) = value {
                        header.insert(name.into(), value);
                    }
                }
                Value::Object(header)
            });
    // The same members as an array in field order, the form serde also
    // reads a struct from.
    let array = object.clone().prop_map(|header| {
        Value::Array(["alg", "kid", "typ", "crit"].iter().map(|name| header[*name].clone()).collect())
    });
    prop_oneof![8 => object, 1 => array, 1 => json_value()]
}

/// A claims set: mostly an object, sometimes any JSON value.
fn claims() -> impl Strategy<Value = Value> {
    let object = proptest::collection::btree_map(
        proptest::sample::select(vec!["iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope", "x"]),
        json_value(),
        0..6,
    )
    .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()));
    prop_oneof![9 => object, 1 => json_value()]
}

/// A change to the encoded token: none, or one that often breaks its form.
fn mangle() -> impl Strategy<Value = Option<(usize, String)>> {
    proptest::option::weighted(
        0.3,
        (any::<usize>(), proptest::sample::select(vec!["", ".", "=", "+", "/", "A", "B", "%", "..", " "]))
            .prop_map(|(at, s)| (at, s.to_owned())),
    )
}

fn token() -> impl Strategy<Value = String> {
    let built = (header(), claims(), proptest::collection::vec(any::<u8>(), 0..600), mangle()).prop_map(
        |(header, claims, signature, mangle)| {
            let header = serde_json::to_vec(&header).unwrap_or_default();
            let claims = serde_json::to_vec(&claims).unwrap_or_default();
            let mut token = format!("{}.{}.{}", b64(&header), b64(&claims), b64(&signature));
            if let Some((at, text)) = mangle {
                let at = at % (token.len() + 1);
                // The token is ASCII, so every index is a char boundary.
                token.replace_range(at..(at + 1).min(token.len()), &text);
            }
            token
        },
    );
    prop_oneof![8 => built, 1 => any::<String>(), 1 => "[A-Za-z0-9_.-]{0,80}"]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Whatever `parse` accepts, the reference accepts, with the same
    /// algorithm, key id, signature, claims and signed bytes.
    #[test]
    fn parse_accepts_nothing_the_reference_refuses(token in token()) {
        prop_assert_eq!(jwt::looks_like_jws(&token), token.matches('.').count() == 2);
        if let Ok(parsed) = jwt::parse(&token) {
            let Some((alg, kid, signature, claims)) = reference(&token) else {
                return Err(TestCaseError::fail(format!("parse accepted {token:?}")));
            };
            prop_assert_eq!(parsed.alg, alg.as_str());
            prop_assert_eq!(parsed.kid, kid);
            prop_assert_eq!(parsed.signature, signature);
            prop_assert_eq!(parsed.claims, claims);
            prop_assert_eq!(Some(parsed.signing_input), token.rsplit_once('.').map(|(input, _)| input));
        }
    }

    /// Tokens the reference accepts, `parse` accepts too (so the property
    /// above is not met by refusing everything).
    #[test]
    fn well_formed_tokens_parse(
        alg in proptest::sample::select(ASYMMETRIC_ALGORITHMS.to_vec()),
        kid in proptest::option::of("[a-z0-9-]{1,8}"),
        typ in proptest::option::of(proptest::sample::select(vec!["JWT", "at+jwt", "application/at+jwt"])),
        claims in proptest::collection::btree_map("[a-z]{1,6}", json_value(), 0..6),
        signature in proptest::collection::vec(any::<u8>(), 1..=512),
    ) {
        let mut header = json!({"alg": alg});
        if let Some(kid) = &kid {
            header["kid"] = json!(kid);
        }
        if let Some(typ) = typ {
            header["typ"] = json!(typ);
        }
        let claims: Map<String, Value> = claims.into_iter().collect();
        let token = format!(
            "{}.{}.{}",
            b64(&serde_json::to_vec(&header).unwrap()),
            b64(&serde_json::to_vec(&claims).unwrap()),
            b64(&signature)
        );
        prop_assert!(reference(&token).is_some());
        let parsed = jwt::parse(&token).map_err(|e| TestCaseError::fail(format!("{e:?} for {token}")))?;
        prop_assert_eq!((parsed.alg, parsed.kid, parsed.claims), (alg, kid, claims));
    }

    /// The time checks never panic on any claim values, and what they
    /// accept is unexpired, and not from the future beyond the leeway.
    #[test]
    fn check_times_accepts_only_current_tokens(claims in claims(), now in -10i64..10) {
        let Value::Object(claims) = claims else { return Ok(()) };
        if let Ok((issued_at, expires_at)) = jwt::check_times(&claims, now) {
            prop_assert!(now < expires_at);
            prop_assert!(issued_at <= now + jwt::LEEWAY);
            let nbf = claims.get("nbf").and_then(Value::as_i64);
            prop_assert!(nbf.is_none_or(|nbf| nbf <= now + jwt::LEEWAY));
        }
    }
}

/// Found by `parse_accepts_nothing_the_reference_refuses`: serde reads a
/// struct from a JSON array too, so `["RS256", "k", null, null]` passed as
/// a header. RFC 7515 says the header is a JSON object.
#[test]
fn a_header_that_is_not_an_object_is_refused() {
    for header in [json!(["RS256", null, null, null]), json!(["ES256", "k", "JWT", null]), json!("RS256")] {
        let token = format!("{}.{}.{}", b64(&serde_json::to_vec(&header).unwrap()), b64(b"{}"), b64(b"sig"));
        assert!(matches!(jwt::parse(&token), Err(super::BearerError::Malformed)), "{header} parsed");
    }
}

/// Found by the `jws_parse` fuzz target: a header whose unknown member
/// held a string with a byte that is not UTF-8 parsed, because serde skips
/// the members it ignores without checking them. RFC 7515's header is UTF-8 JSON.
#[test]
fn a_header_that_is_not_utf8_is_refused() {
    let header = b"{\"alg\":\"ES256\",\"crht\":[\"\x98\"]}";
    let token = format!("{}.{}.{}", b64(header), b64(b"{\"exp\":1}"), b64(b"sig"));
    assert!(matches!(jwt::parse(&token), Err(super::BearerError::Malformed)), "{token}");
}
