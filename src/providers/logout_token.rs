//! Logout tokens (OpenID Connect Back-Channel Logout 1.0, sections 2.4 and
//! 2.6): the signed statement an OpenID Provider posts to say "this session
//! (`sid`), or every session of this person (`sub`), has ended".
//!
//! [`Provider::verify_logout_token`] checks one the way an ID token is
//! checked, with the refinements of section 2.6: the strict JWS parse
//! ([`crate::crypto::jws`]), a `typ` of `logout+jwt` (or a plain JWT, or
//! none, as most providers still send), an algorithm the issuer signs its
//! ID tokens with, the signature against the issuer's one key cache (with
//! its unknown-`kid` refetch), then [`check_claims`]: `iss`, `aud`, `iat`
//! near now, `exp` when present, a `jti`, the back-channel logout event,
//! no `nonce` (so an ID token is never taken for a logout token), and a
//! `sid` or a `sub`. Remembering the `jti` (replays) is the caller's, with
//! the store, for [`REPLAY_WINDOW`].

use super::provider::Flow;
use super::{Provider, SigningKeyError};
use crate::crypto::jws::{self, JwsError};
use serde_json::{Map, Value};
use std::time::Duration;

/// The member of `events` that makes a JWT a logout token.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How far in the future `iat` may be (clock skew).
const LEEWAY: i64 = 30;
/// How old a logout token may be, by its `iat`: an OpenID Provider sends it
/// as the session ends.
const MAX_AGE: i64 = 300;
/// How long a `jti` must be remembered: longer than any token with it can
/// pass the `iat` check, on any replica (whose clocks may differ by the leeway).
pub const REPLAY_WINDOW: Duration = Duration::from_secs((MAX_AGE + 2 * LEEWAY) as u64);

const MAX_JTI: usize = 256;
/// The longest IdP session id kept or accepted.
const MAX_SID: usize = 255;
/// The longest `sub` (a user id is at most this long).
const MAX_SUB: usize = 512;

/// A string an IdP may name a session or a token with: not empty, not too
/// long, no control characters (it goes into store keys and logs' neighbours).
fn is_name(text: &str, max: usize) -> bool {
    !text.is_empty() && text.len() <= max && !text.chars().any(char::is_control)
}

/// Whether `sid` is an IdP session id sealgate keeps and looks up.
pub fn is_session_id(sid: &str) -> bool {
    is_name(sid, MAX_SID)
}

/// A verified logout token: who or what it ends.
#[derive(Clone, PartialEq, Eq)]
pub struct LogoutToken {
    pub issuer: String,
    pub jti: String,
    /// The IdP session it ends (`sid`).
    pub session: Option<String>,
    /// The person whose sessions it ends (`sub`), when it names no session.
    pub subject: Option<String>,
    pub issued_at: i64,
}

impl std::fmt::Debug for LogoutToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A sid ends sessions by front-channel logout too: not printed.
        f.debug_struct("LogoutToken")
            .field("issuer", &self.issuer)
            .field("session", &self.session.as_ref().map(|_| "[redacted]"))
            .field("subject", &self.subject)
            .field("issued_at", &self.issued_at)
            .finish_non_exhaustive()
    }
}

/// Why a logout token was refused. The text is fixed (it names no part of
/// the token) and is what the OpenID Provider is told, as `error_description`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutTokenError {
    Malformed,
    Type,
    Algorithm,
    UnknownKey,
    Signature,
    Issuer,
    Audience,
    IssuedAt,
    Expired,
    Jti,
    Events,
    Nonce,
    Subject,
    KeysUnavailable,
}

impl LogoutTokenError {
    /// The fixed text, as a static string (for an error body).
    pub fn description(self) -> &'static str {
        match self {
            LogoutTokenError::Malformed => "the logout token is not a well-formed signed JWT",
            LogoutTokenError::Type => "the logout token's typ is not logout+jwt",
            LogoutTokenError::Algorithm => "the logout token's alg is not one the issuer signs ID tokens with",
            LogoutTokenError::UnknownKey => "the logout token names a signing key the issuer does not publish",
            LogoutTokenError::Signature => "the logout token's signature does not verify",
            LogoutTokenError::Issuer => "the logout token's iss is not this provider's issuer",
            LogoutTokenError::Audience => "the logout token's aud does not name this client",
            LogoutTokenError::IssuedAt => "the logout token has no iat, or one too far from now",
            LogoutTokenError::Expired => "the logout token has expired",
            LogoutTokenError::Jti => "the logout token has no usable jti",
            LogoutTokenError::Events => "the logout token's events claim holds no back-channel logout event",
            LogoutTokenError::Nonce => "the logout token carries a nonce",
            LogoutTokenError::Subject => "the logout token names neither a usable sid nor a usable sub",
            LogoutTokenError::KeysUnavailable => "the issuer's signing keys cannot be had just now",
        }
    }
}

impl std::fmt::Display for LogoutTokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.description())
    }
}

impl std::error::Error for LogoutTokenError {}

/// The claims of a logout token whose signature verified (section 2.6,
/// steps 4 to 7), at `now` (Unix seconds).
pub fn check_claims(
    claims: &Map<String, Value>,
    issuer: &str,
    client_id: &str,
    now: i64,
) -> Result<LogoutToken, LogoutTokenError> {
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(LogoutTokenError::Issuer);
    }
    if !jws::audience_matches(claims.get("aud"), &[client_id.to_owned()]) {
        return Err(LogoutTokenError::Audience);
    }
    let issued_at = match jws::numeric_date(claims, "iat") {
        Ok(Some(iat)) if iat <= now.saturating_add(LEEWAY) && iat >= now.saturating_sub(MAX_AGE) => iat,
        _ => return Err(LogoutTokenError::IssuedAt),
    };
    match jws::numeric_date(claims, "exp") {
        Ok(None) => {}
        Ok(Some(exp)) if now < exp => {}
        _ => return Err(LogoutTokenError::Expired),
    }
    let jti = claims.get("jti").and_then(Value::as_str).filter(|jti| is_name(jti, MAX_JTI));
    let jti = jti.ok_or(LogoutTokenError::Jti)?.to_owned();
    let event = claims.get("events").and_then(Value::as_object).and_then(|events| events.get(BACKCHANNEL_LOGOUT_EVENT));
    if !event.is_some_and(Value::is_object) {
        return Err(LogoutTokenError::Events);
    }
    if claims.contains_key("nonce") {
        return Err(LogoutTokenError::Nonce);
    }
    // A claim that is there must be usable: a malformed sid is not "no sid".
    let named = |name: &str, max: usize| match claims.get(name) {
        None => Ok(None),
        Some(Value::String(value)) if is_name(value, max) => Ok(Some(value.clone())),
        Some(_) => Err(LogoutTokenError::Subject),
    };
    let session = named("sid", MAX_SID)?;
    let subject = named("sub", MAX_SUB)?;
    if session.is_none() && subject.is_none() {
        return Err(LogoutTokenError::Subject);
    }
    Ok(LogoutToken { issuer: issuer.to_owned(), jti, session, subject, issued_at })
}

impl Provider {
    /// Verify a logout token this provider's issuer posted (see the module's
    /// documentation). The `jti` is not remembered here.
    pub async fn verify_logout_token(&self, token: &str) -> Result<LogoutToken, LogoutTokenError> {
        let Flow::Oidc(oidc) = &self.flow else { return Err(LogoutTokenError::Issuer) };
        let parsed = jws::parse(token).map_err(|error| match error {
            JwsError::Malformed => LogoutTokenError::Malformed,
            JwsError::Algorithm => LogoutTokenError::Algorithm,
        })?;
        // Explicitly typed (section 2.4), or untyped or a plain JWT as most providers send.
        if let Some(typ) = &parsed.typ {
            if !jws::typ_is(typ, "logout+jwt") && !jws::typ_is(typ, "jwt") {
                return Err(LogoutTokenError::Type);
            }
        }
        // The keys first: they come with discovery, which says the algorithms.
        self.signing_keys().await.map_err(|_| LogoutTokenError::KeysUnavailable)?;
        if !oidc.signs_with(parsed.alg) {
            return Err(LogoutTokenError::Algorithm);
        }
        let verified = self
            .with_signing_key(parsed.kid.as_deref(), parsed.alg, |verifier| {
                verifier.verify(parsed.signing_input.as_bytes(), &parsed.signature).is_ok()
            })
            .await
            .map_err(|error| match error {
                SigningKeyError::Unavailable => LogoutTokenError::KeysUnavailable,
                SigningKeyError::WrongAlgorithm => LogoutTokenError::Algorithm,
                SigningKeyError::Unknown => LogoutTokenError::UnknownKey,
            })?;
        if !verified {
            return Err(LogoutTokenError::Signature);
        }
        check_claims(&parsed.claims, oidc.issuer(), &self.client_id, self.now())
    }

    /// Whether this provider's user ids are the IdP's `sub` (the default
    /// claim mapping), so a logout token's `sub` names one of our users.
    pub fn user_id_is_sub(&self) -> bool {
        self.claims.id == "sub"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ISSUER: &str = "https://idp.example";
    const CLIENT: &str = "gate";
    const NOW: i64 = 1_900_000_000;

    fn valid() -> Value {
        json!({
            "iss": ISSUER,
            "aud": CLIENT,
            "iat": NOW,
            "exp": NOW + 120,
            "jti": "j-1",
            "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
            "sid": "idp-session-1",
        })
    }

    fn check(claims: &Value) -> Result<LogoutToken, LogoutTokenError> {
        check_claims(claims.as_object().unwrap(), ISSUER, CLIENT, NOW)
    }

    fn with(change: impl FnOnce(&mut Map<String, Value>)) -> Result<LogoutToken, LogoutTokenError> {
        let mut claims = valid();
        change(claims.as_object_mut().unwrap());
        check(&claims)
    }

    #[test]
    fn a_valid_token_names_what_it_ends() {
        let token = check(&valid()).unwrap();
        assert_eq!(token.session.as_deref(), Some("idp-session-1"));
        assert_eq!((token.jti.as_str(), token.subject.as_deref(), token.issued_at), ("j-1", None, NOW));
        let by_sub = with(|c| {
            c.remove("sid");
            c.insert("sub".into(), json!("alice-sub"));
            c.remove("exp");
            c.insert("aud".into(), json!(["other", CLIENT]));
        })
        .unwrap();
        assert_eq!((by_sub.session, by_sub.subject.as_deref()), (None, Some("alice-sub")));
        assert!(!format!("{token:?}").contains("idp-session-1"), "the sid is not printed");
    }

    #[test]
    fn issuer_audience_and_times_are_checked_to_the_second() {
        use LogoutTokenError as E;
        assert_eq!(with(|c| drop(c.insert("iss".into(), json!("https://evil.example")))), Err(E::Issuer));
        assert_eq!(with(|c| drop(c.remove("iss"))), Err(E::Issuer));
        assert_eq!(with(|c| drop(c.insert("aud".into(), json!("other")))), Err(E::Audience));
        assert_eq!(with(|c| drop(c.insert("aud".into(), json!(["other"])))), Err(E::Audience));
        assert_eq!(with(|c| drop(c.remove("aud"))), Err(E::Audience));
        assert_eq!(with(|c| drop(c.remove("iat"))), Err(E::IssuedAt));
        assert_eq!(with(|c| drop(c.insert("iat".into(), json!("now")))), Err(E::IssuedAt));
        assert!(with(|c| drop(c.insert("iat".into(), json!(NOW + LEEWAY)))).is_ok());
        assert_eq!(with(|c| drop(c.insert("iat".into(), json!(NOW + LEEWAY + 1)))), Err(E::IssuedAt));
        assert!(with(|c| drop(c.insert("iat".into(), json!(NOW - MAX_AGE)))).is_ok());
        assert_eq!(with(|c| drop(c.insert("iat".into(), json!(NOW - MAX_AGE - 1)))), Err(E::IssuedAt));
        assert_eq!(with(|c| drop(c.insert("exp".into(), json!(NOW)))), Err(E::Expired));
        assert!(with(|c| drop(c.insert("exp".into(), json!(NOW + 1)))).is_ok());
        assert_eq!(with(|c| drop(c.insert("exp".into(), json!("later")))), Err(E::Expired));
    }

    #[test]
    fn a_logout_token_is_told_apart_from_every_other_jwt() {
        use LogoutTokenError as E;
        assert_eq!(with(|c| drop(c.remove("events"))), Err(E::Events));
        assert_eq!(with(|c| drop(c.insert("events".into(), json!({})))), Err(E::Events));
        assert_eq!(
            with(|c| drop(c.insert("events".into(), json!({ BACKCHANNEL_LOGOUT_EVENT: true })))),
            Err(E::Events)
        );
        assert_eq!(with(|c| drop(c.insert("events".into(), json!([BACKCHANNEL_LOGOUT_EVENT])))), Err(E::Events));
        assert_eq!(with(|c| drop(c.insert("nonce".into(), json!("n")))), Err(E::Nonce), "an ID token");
        assert_eq!(with(|c| drop(c.remove("jti"))), Err(E::Jti));
        assert_eq!(with(|c| drop(c.insert("jti".into(), json!("")))), Err(E::Jti));
        assert_eq!(with(|c| drop(c.insert("jti".into(), json!("a\nb")))), Err(E::Jti));
        assert_eq!(with(|c| drop(c.insert("jti".into(), json!("j".repeat(MAX_JTI + 1))))), Err(E::Jti));
        assert_eq!(with(|c| drop(c.remove("sid"))), Err(E::Subject), "neither sid nor sub");
        assert_eq!(with(|c| drop(c.insert("sid".into(), json!(7)))), Err(E::Subject));
        assert_eq!(with(|c| drop(c.insert("sid".into(), json!("")))), Err(E::Subject));
        assert_eq!(with(|c| drop(c.insert("sub".into(), json!("a\u{7}")))), Err(E::Subject));
    }

    #[test]
    fn session_ids_are_bounded_printable_strings() {
        assert!(is_session_id("fd2d8e3a-0c1c-4a3e"));
        assert!(!is_session_id(""));
        assert!(!is_session_id("a\u{0}b"));
        assert!(!is_session_id(&"s".repeat(MAX_SID + 1)));
    }
}
