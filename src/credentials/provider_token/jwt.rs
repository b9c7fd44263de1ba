//! Provider JWTs as Bearer tokens: the strict compact JWS parse before any
//! cryptography ([`crate::crypto::jws`]) and a `typ` of a JWT or an access
//! token, then the signature against the issuer's JWKS, then `iss`, `aud`,
//! `exp`, `nbf` and `iat`, and what kind of token the claims say it is
//! ([`check_kind`]: access tokens only, ID tokens where accepted).

use super::BearerError;
use crate::crypto::jws::{self, JwsError};
use serde_json::Value;

pub use crate::crypto::jws::{audience_matches, Parsed};

/// Clock skew allowed on `nbf` and `iat` (never on `exp`).
pub const LEEWAY: i64 = 30;

/// Whether a token has the shape of a compact JWS (three segments).
pub fn looks_like_jws(token: &str) -> bool {
    token.bytes().filter(|&b| b == b'.').count() == 2
}

/// The strict parse, and a `typ` (if any) of a JWT or an access token.
pub fn parse(token: &str) -> Result<Parsed<'_>, BearerError> {
    let parsed = jws::parse(token).map_err(|error| match error {
        JwsError::Malformed => BearerError::Malformed,
        JwsError::Algorithm => BearerError::Algorithm,
    })?;
    if let Some(typ) = &parsed.typ {
        if !jws::typ_is(typ, "jwt") && !jws::typ_is(typ, "at+jwt") {
            return Err(BearerError::Malformed);
        }
    }
    Ok(parsed)
}

fn time(claims: &serde_json::Map<String, Value>, name: &str) -> Result<Option<i64>, BearerError> {
    jws::numeric_date(claims, name).map_err(|_| BearerError::Claims)
}

/// The token's lifetime after the time checks: `(iat or now, exp)`.
/// `exp` is required and strict; `nbf` and `iat` allow [`LEEWAY`].
pub fn check_times(claims: &serde_json::Map<String, Value>, now: i64) -> Result<(i64, i64), BearerError> {
    let exp = time(claims, "exp")?.ok_or(BearerError::Claims)?;
    if now >= exp {
        return Err(BearerError::Expired);
    }
    if time(claims, "nbf")?.is_some_and(|nbf| nbf > now + LEEWAY) {
        return Err(BearerError::NotYetValid);
    }
    let iat = time(claims, "iat")?;
    if iat.is_some_and(|iat| iat > now + LEEWAY) {
        return Err(BearerError::NotYetValid);
    }
    Ok((iat.unwrap_or(now), exp))
}

/// What a token's claims (or an introspection answer) say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Id,
    Refresh,
}

/// Claims only an ID token carries (OpenID Connect Core 2, 3.3.2.11; FAPI `s_hash`).
const ID_TOKEN_CLAIMS: [&str; 4] = ["nonce", "at_hash", "c_hash", "s_hash"];

/// The kind of token the claims describe: a refresh token where `typ`,
/// `token_use` or `token_type` says so (Keycloak `Refresh` / `Offline`, Ory
/// `refresh_token`); an access token where one says so (`Bearer`,
/// `access_token`); an ID token where one says so (Keycloak `ID`) or it
/// carries an ID-token-only claim; otherwise an access token.
pub fn kind(claims: &serde_json::Map<String, Value>) -> TokenKind {
    let said: Vec<String> = ["typ", "token_use", "token_type"]
        .iter()
        .filter_map(|name| claims.get(*name).and_then(Value::as_str))
        .map(str::to_ascii_lowercase)
        .collect();
    if said.iter().any(|s| matches!(s.as_str(), "refresh" | "refresh_token" | "offline")) {
        return TokenKind::Refresh;
    }
    // Older Keycloak puts `nonce` in its access tokens, typed `Bearer`.
    if said.iter().any(|s| matches!(s.as_str(), "bearer" | "access_token")) {
        return TokenKind::Access;
    }
    if said.iter().any(|s| matches!(s.as_str(), "id" | "id_token"))
        || ID_TOKEN_CLAIMS.iter().any(|c| claims.contains_key(*c))
    {
        return TokenKind::Id;
    }
    TokenKind::Access
}

/// Only access tokens are credentials: refresh tokens never, ID tokens only
/// where the provider sets `bearer.accept_id_tokens` (RFC 8725 3.11, RFC 9068).
pub fn check_kind(claims: &serde_json::Map<String, Value>, accept_id_tokens: bool) -> Result<(), BearerError> {
    match kind(claims) {
        TokenKind::Access => Ok(()),
        TokenKind::Id if accept_id_tokens => Ok(()),
        TokenKind::Id => Err(BearerError::IdToken),
        TokenKind::Refresh => Err(BearerError::RefreshToken),
    }
}

/// Scopes from `scope` (space-separated, RFC 9068 / RFC 8693) or `scp` (an array).
pub fn scopes(claims: &serde_json::Map<String, Value>) -> Vec<String> {
    match (claims.get("scope"), claims.get("scp")) {
        (Some(Value::String(scope)), _) => scope.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        (_, Some(Value::Array(scp))) => scp.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use serde_json::json;

    fn b64(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
    }

    fn token(header: Value, claims: Value, signature: &[u8]) -> String {
        format!("{}.{}.{}", b64(&header), b64(&claims), URL_SAFE_NO_PAD.encode(signature))
    }

    #[test]
    fn only_asymmetric_algorithms_parse() {
        let claims = json!({"iss": "i", "exp": 10});
        for alg in ["none", "HS256", "HS384", "HS512", "rs256", "RSA-OAEP", ""] {
            let t = token(json!({"alg": alg, "kid": "k"}), claims.clone(), b"sig");
            assert!(matches!(parse(&t), Err(BearerError::Algorithm)), "{alg}");
        }
        let t = token(json!({"alg": "RS256", "kid": "k", "typ": "at+jwt"}), claims, b"sig");
        let parsed = parse(&t).unwrap();
        assert_eq!((parsed.alg, parsed.kid.as_deref()), ("RS256", Some("k")));
    }

    #[test]
    fn malformed_tokens_are_refused_before_any_key_is_looked_up() {
        let good = token(json!({"alg": "RS256"}), json!({"exp": 1}), b"sig");
        let (h, rest) = good.split_once('.').unwrap();
        let (p, s) = rest.split_once('.').unwrap();
        let cases = [
            format!("{h}.{p}"),
            format!("{h}.{p}.{s}.x"),
            format!("{h}.{p}."),
            format!(".{p}.{s}"),
            format!("{h}..{s}"),
            format!("{h}.{p}=.{s}"),
            format!("{h}.{p}.{s}=="),
            format!("{h}.{p}.{}", "A".repeat(800)),
            format!("{}.{p}.{s}", "A".repeat(2000)),
            token(json!({"alg": "RS256", "crit": ["exp"]}), json!({"exp": 1}), b"sig"),
            token(json!({"alg": "RS256", "typ": "JWE"}), json!({"exp": 1}), b"sig"),
            token(json!({"kid": "k"}), json!({"exp": 1}), b"sig"),
            token(json!({"alg": "RS256"}), json!(["not", "an", "object"]), b"sig"),
            format!("{}.{p}.{s}", URL_SAFE_NO_PAD.encode("not json")),
        ];
        for case in &cases {
            assert!(matches!(parse(case), Err(BearerError::Malformed)), "{case}");
        }
    }

    #[test]
    fn times_are_checked_to_the_second() {
        let claims = |v: Value| v.as_object().unwrap().clone();
        let c = claims(json!({"exp": 100, "iat": 40, "nbf": 40}));
        assert_eq!(check_times(&c, 99).unwrap(), (40, 100));
        assert!(matches!(check_times(&c, 100), Err(BearerError::Expired)));
        assert!(check_times(&c, 10).is_ok(), "nbf 40 is within the leeway at 10");
        assert!(matches!(check_times(&c, 9), Err(BearerError::NotYetValid)));
        assert!(matches!(check_times(&claims(json!({"iat": 1})), 0), Err(BearerError::Claims)), "exp is required");
        assert!(matches!(check_times(&claims(json!({"exp": "100"})), 0), Err(BearerError::Claims)));
    }

    #[test]
    fn id_tokens_are_refused_unless_accepted_and_refresh_tokens_always() {
        let kind_of = |v: Value| kind(v.as_object().unwrap());
        let access = json!({"sub": "a", "scope": "read", "client_id": "c"});
        assert_eq!(kind_of(access.clone()), TokenKind::Access);
        for marker in ["nonce", "at_hash", "c_hash", "s_hash"] {
            let mut claims = access.clone();
            claims[marker] = json!("x");
            assert_eq!(kind_of(claims.clone()), TokenKind::Id, "{marker}");
            claims["typ"] = json!("Bearer");
            assert_eq!(kind_of(claims), TokenKind::Access, "{marker} in a token typed Bearer (older Keycloak)");
        }
        for (name, value) in [("typ", "ID"), ("typ", "id_token"), ("token_use", "id_token")] {
            assert_eq!(kind_of(json!({ name: value })), TokenKind::Id, "{name}: {value}");
        }
        for (name, value) in
            [("typ", "Refresh"), ("typ", "Offline"), ("token_use", "refresh_token"), ("token_type", "refresh_token")]
        {
            assert_eq!(kind_of(json!({ name: value, "nonce": "n" })), TokenKind::Refresh, "{name}: {value}");
        }
        let id = json!({"sub": "a", "nonce": "n"});
        assert_eq!(check_kind(id.as_object().unwrap(), false), Err(BearerError::IdToken));
        assert_eq!(check_kind(id.as_object().unwrap(), true), Ok(()));
        let refresh = json!({"typ": "Refresh"});
        assert_eq!(check_kind(refresh.as_object().unwrap(), true), Err(BearerError::RefreshToken));
    }

    #[test]
    fn audiences_and_scopes() {
        let accepted = ["api".to_owned()];
        assert!(audience_matches(Some(&json!("api")), &accepted));
        assert!(audience_matches(Some(&json!(["other", "api"])), &accepted));
        assert!(!audience_matches(Some(&json!(["other"])), &accepted));
        assert!(!audience_matches(None, &accepted));
        assert!(!audience_matches(Some(&json!({"api": true})), &accepted));
        let c = json!({"scope": "read  write"});
        assert_eq!(scopes(c.as_object().unwrap()), ["read", "write"]);
        let c = json!({"scp": ["a", 1, "b"]});
        assert_eq!(scopes(c.as_object().unwrap()), ["a", "b"]);
    }
}
