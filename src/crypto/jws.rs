//! The strict parse of a compact JWS (RFC 7515) signed by someone else, done
//! before any key is looked up: three non-empty base64url segments within
//! bounds, a JSON object header with an asymmetric `alg` and no `crit`, a
//! JSON object payload. It verifies nothing; what the token is for (its
//! `typ`, its claims) is for the caller to judge: provider JWTs sent as
//! Bearer tokens, and logout tokens.

use crate::config::ASYMMETRIC_ALGORITHMS;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value};

const MAX_HEADER: usize = 1024;
const MAX_PAYLOAD: usize = 8 * 1024;
/// The longest signature we accept: RSA-4096 is 512 bytes, 683 in base64url.
const MAX_SIGNATURE: usize = 700;

/// Why a token did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("the token is not a well-formed compact JWS")]
    Malformed,
    #[error("the token's algorithm is not an asymmetric signature algorithm")]
    Algorithm,
}

/// The protected header. Members we do not know are ignored, except `crit`,
/// which demands we understand them; `jku`, `x5u` and `jwk` are never used
/// to find a key (the key comes from the configured issuer only).
#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
    crit: Option<Value>,
}

/// A compact JWS that passed the strict parse; not yet verified.
pub struct Parsed<'t> {
    pub alg: &'static str,
    pub kid: Option<String>,
    /// The header's `typ`, as sent.
    pub typ: Option<String>,
    /// `header.payload`, the signed bytes.
    pub signing_input: &'t str,
    pub signature: Vec<u8>,
    pub claims: Map<String, Value>,
}

fn decode(segment: &str, limit: usize) -> Result<Vec<u8>, JwsError> {
    // The base64 of `limit` bytes is 4/3 as long; refuse longer input before decoding.
    if segment.is_empty() || segment.len() > limit / 3 * 4 + 4 {
        return Err(JwsError::Malformed);
    }
    URL_SAFE_NO_PAD.decode(segment).map_err(|_| JwsError::Malformed)
}

/// The strict parse (see the module's documentation).
pub fn parse(token: &str) -> Result<Parsed<'_>, JwsError> {
    let (signing_input, signature) = token.rsplit_once('.').ok_or(JwsError::Malformed)?;
    let (header, payload) = signing_input.split_once('.').ok_or(JwsError::Malformed)?;
    if payload.contains('.') || signature.len() > MAX_SIGNATURE {
        return Err(JwsError::Malformed);
    }
    let header = decode(header, MAX_HEADER)?;
    // A JSON object (RFC 7515): serde would also read the struct from an array.
    if header.trim_ascii_start().first() != Some(&b'{') {
        return Err(JwsError::Malformed);
    }
    // UTF-8 throughout: serde skips members it ignores without checking their strings.
    let header = std::str::from_utf8(&header).map_err(|_| JwsError::Malformed)?;
    let header: Header = serde_json::from_str(header).map_err(|_| JwsError::Malformed)?;
    let alg = ASYMMETRIC_ALGORITHMS.iter().copied().find(|a| *a == header.alg).ok_or(JwsError::Algorithm)?;
    if header.crit.is_some() {
        return Err(JwsError::Malformed);
    }
    let signature = decode(signature, MAX_SIGNATURE)?;
    let claims = match serde_json::from_slice(&decode(payload, MAX_PAYLOAD)?) {
        Ok(Value::Object(claims)) => claims,
        _ => return Err(JwsError::Malformed),
    };
    Ok(Parsed { alg, kid: header.kid, typ: header.typ, signing_input, signature, claims })
}

/// Whether a header `typ` is `expected`, compared as media types are
/// (without case, the `application/` prefix optional; RFC 7515 4.1.9).
pub fn typ_is(typ: &str, expected: &str) -> bool {
    let typ = typ.to_ascii_lowercase();
    typ.strip_prefix("application/").unwrap_or(&typ) == expected
}

/// `aud` as a string or an array of strings contains one of `accepted`.
pub fn audience_matches(aud: Option<&Value>, accepted: &[String]) -> bool {
    match aud {
        Some(Value::String(aud)) => accepted.iter().any(|a| a == aud),
        Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).any(|aud| accepted.iter().any(|a| a == aud)),
        _ => false,
    }
}

/// A claim that should be a NumericDate and is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotANumericDate;

/// A NumericDate claim (RFC 7519 2): absent, or seconds (a fraction is cut
/// off); anything else is an error.
pub fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, NotANumericDate> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)).map(Some).ok_or(NotANumericDate),
        Some(_) => Err(NotANumericDate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typ_compares_as_a_media_type() {
        assert!(typ_is("logout+jwt", "logout+jwt"));
        assert!(typ_is("application/Logout+JWT", "logout+jwt"));
        assert!(!typ_is("logout+jwt", "jwt"));
        assert!(!typ_is("text/logout+jwt", "logout+jwt"));
    }

    #[test]
    fn the_typ_is_handed_to_the_caller_as_sent() {
        let b64 = |v: Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap());
        let token = format!("{}.{}.c2ln", b64(json!({"alg": "RS256", "typ": "logout+jwt"})), b64(json!({"a": 1})));
        assert_eq!(parse(&token).ok().and_then(|p| p.typ).as_deref(), Some("logout+jwt"));
        let token = format!("{}.{}.c2ln", b64(json!({"alg": "RS256", "typ": 7})), b64(json!({"a": 1})));
        assert!(matches!(parse(&token), Err(JwsError::Malformed)), "a typ that is not a string");
    }

    #[test]
    fn numeric_dates() {
        let claims = json!({"a": 10, "b": 10.9, "c": "10", "d": null}).as_object().unwrap().clone();
        assert_eq!(numeric_date(&claims, "a"), Ok(Some(10)));
        assert_eq!(numeric_date(&claims, "b"), Ok(Some(10)));
        assert_eq!(numeric_date(&claims, "c"), Err(NotANumericDate));
        assert_eq!(numeric_date(&claims, "d"), Err(NotANumericDate));
        assert_eq!(numeric_date(&claims, "e"), Ok(None));
    }
}
