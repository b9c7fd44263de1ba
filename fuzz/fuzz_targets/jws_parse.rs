//! The JWS pre-checks for provider Bearer tokens (`bearer::jwt::parse`,
//! then the claim checks a verified token goes through) on any UTF-8.
//! Checks: no panic; whatever parses is three canonical base64url segments
//! with a JSON-object header naming an asymmetric `alg`, no `crit`, and a
//! JSON-object payload.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use sealgate::credentials::provider_token::jwt;
use sealgate::config::ASYMMETRIC_ALGORITHMS;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    assert_eq!(jwt::looks_like_jws(token), token.matches('.').count() == 2);
    let Ok(parsed) = jwt::parse(token) else { return };
    let segments: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = segments.as_slice() else { panic!("{token:?} is not three segments") };
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    assert!(header.is_object(), "{header}");
    assert_eq!(header["alg"].as_str(), Some(parsed.alg));
    assert!(ASYMMETRIC_ALGORITHMS.contains(&parsed.alg));
    assert!(header.get("crit").is_none_or(Value::is_null), "{header}");
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims.as_object(), Some(&parsed.claims));
    assert_eq!(URL_SAFE_NO_PAD.decode(signature).unwrap(), parsed.signature);
    assert_eq!(Some(parsed.signing_input), token.rsplit_once('.').map(|(input, _)| input));
    // What a verified token's claims go through next.
    let _ = jwt::check_times(&parsed.claims, 1_700_000_000);
    let _ = jwt::audience_matches(parsed.claims.get("aud"), &["api".to_owned()]);
    let _ = jwt::scopes(&parsed.claims);
});
