//! `[assertion]` (the signed identity `/auth/verify` hands the upstream)
//! and `[headers]` (which identity headers it sends, and from which
//! claims): the settings and their rules.

use super::Settings;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `[assertion]`: `X-Auth-Assertion`, a short-lived JWS of who is asking.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssertionSettings {
    pub enabled: bool,
    /// How long a signed assertion is valid (`exp - iat`).
    #[serde(with = "humantime_serde")]
    pub lifetime: Duration,
    /// The `aud` of every assertion. Unset: the host the proxy forwards
    /// (`X-Forwarded-Host`, believed from trusted proxies only).
    pub audience: Option<String>,
    /// The assertion keys' JWK Set file. Default: `assertion.jwks.json`
    /// next to `keys.path`.
    pub keys_path: Option<PathBuf>,
}

impl Default for AssertionSettings {
    fn default() -> Self {
        Self { enabled: false, lifetime: Duration::from_secs(60), audience: None, keys_path: None }
    }
}

/// The file name of the assertion keys next to the session keys.
const KEYS_FILE: &str = "assertion.jwks.json";

/// The longest kept claims a provider may name (`keep_claims`).
pub const MAX_KEPT_CLAIMS: usize = 16;

/// Headers sealgate never lets `[headers]` name: hop-by-hop headers
/// (RFC 9110 7.6.1), and those that would change how the proxy or the
/// browser reads the answer.
const FORBIDDEN_HEADERS: [&str; 16] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "content-type",
    "cookie",
    "set-cookie",
    "location",
    "www-authenticate",
];

/// Headers sealgate sends itself, whatever `[headers]` says.
const RESERVED_HEADERS: [&str; 3] = ["x-auth-assertion", "x-auth-access-token", "x-auth-permissions"];

/// The claims a header can carry (`claims.<name>` besides: a claim a
/// provider keeps, `keep_claims`).
pub const HEADER_CLAIMS: [&str; 8] = ["sub", "username", "email", "name", "avatar_url", "groups", "provider", "source"];

/// What `[headers]` starts from: the `X-Auth-*` headers as they always were.
pub const DEFAULT_HEADERS: [(&str, &str); 7] = [
    ("x-auth-user", "sub"),
    ("x-auth-provider", "provider"),
    ("x-auth-username", "username"),
    ("x-auth-email", "email"),
    ("x-auth-name", "name"),
    ("x-auth-groups", "groups"),
    ("x-auth-source", "source"),
];

/// A kept claim's name: what `keep_claims` and `claims.<name>` may say.
pub fn is_claim_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b))
}

impl Settings {
    /// Where the assertion keys live.
    pub fn assertion_keys_path(&self) -> PathBuf {
        match &self.assertion.keys_path {
            Some(path) => path.clone(),
            None => self.keys.path.parent().unwrap_or(Path::new("")).join(KEYS_FILE),
        }
    }

    /// The identity headers in force: the defaults, with `[headers]` over
    /// them (a name given an empty claim is not sent). Names lower-cased.
    pub fn identity_headers(&self) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> =
            DEFAULT_HEADERS.iter().map(|(name, claim)| ((*name).to_owned(), (*claim).to_owned())).collect();
        for (name, claim) in &self.headers {
            let name = name.to_ascii_lowercase();
            headers.retain(|(known, _)| *known != name);
            if !claim.is_empty() {
                headers.push((name, claim.clone()));
            }
        }
        headers
    }

    pub(super) fn assertion_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let assertion = &self.assertion;
        if !(10..=3600).contains(&assertion.lifetime.as_secs()) {
            problems.push("assertion.lifetime must be between 10s and 1h".into());
        }
        if assertion
            .audience
            .as_deref()
            .is_some_and(|aud| aud.is_empty() || aud.len() > 512 || aud.contains(char::is_control))
        {
            problems.push("assertion.audience must be 1-512 characters, without control characters".into());
        }
        problems.extend(header_problems(&self.headers));
        for (id, provider) in &self.providers {
            if provider.keep_claims.len() > MAX_KEPT_CLAIMS {
                problems.push(format!("providers.{id}.keep_claims names more than {MAX_KEPT_CLAIMS} claims"));
            }
            for claim in provider.keep_claims.iter().filter(|claim| !is_claim_name(claim)) {
                problems.push(format!(
                    "providers.{id}.keep_claims: `{claim}` is not a claim name (1-64 letters, digits, `_-.:`)"
                ));
            }
        }
        problems
    }
}

/// The rules for `[headers]`: a valid header name, not hop-by-hop nor one
/// sealgate sends itself, each once (names compare without case), each
/// naming a claim sealgate has.
fn header_problems(headers: &BTreeMap<String, String>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (name, claim) in headers {
        let lower = name.to_ascii_lowercase();
        if actix_web::http::header::HeaderName::from_bytes(lower.as_bytes()).is_err() || lower.len() > 64 {
            problems.push(format!("headers: `{name}` is not a header name (1-64 letters, digits and `-`)"));
            continue;
        }
        if FORBIDDEN_HEADERS.contains(&lower.as_str()) {
            problems.push(format!("headers: `{name}` is a hop-by-hop or framing header; it cannot carry an identity"));
        }
        if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("x-auth-access-token-") {
            problems.push(format!("headers: `{name}` is sent by sealgate itself and cannot be mapped"));
        }
        if !seen.insert(lower) {
            problems.push(format!("headers: `{name}` is given twice (header names compare without case)"));
        }
        let known = claim.is_empty()
            || HEADER_CLAIMS.contains(&claim.as_str())
            || claim.strip_prefix("claims.").is_some_and(is_claim_name);
        if !known {
            problems.push(format!(
                "headers.{name}: `{claim}` is not a claim; use one of {} or `claims.<name>` (a provider's keep_claims)",
                HEADER_CLAIMS.join(", ")
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(toml: &str) -> Vec<String> {
        Settings::from_toml(toml).unwrap().assertion_problems()
    }

    #[test]
    fn header_names_are_checked_at_load_with_every_problem_named() {
        let found = problems(
            "[headers]\n\"X User\" = \"email\"\nConnection = \"sub\"\nX-Team = \"claims.team\"\n\"x-team\" = \"sub\"\n\
             X-Auth-Assertion = \"sub\"\nX-Color = \"favourite_colour\"\nX-Auth-Access-Token-GitHub = \"sub\"\n",
        );
        let said = found.join("\n");
        assert!(said.contains("`X User` is not a header name"), "{said}");
        assert!(said.contains("`Connection` is a hop-by-hop"), "{said}");
        assert!(said.contains("`x-team` is given twice") || said.contains("`X-Team` is given twice"), "{said}");
        assert!(said.contains("`X-Auth-Assertion` is sent by sealgate itself"), "{said}");
        assert!(said.contains("`favourite_colour` is not a claim"), "{said}");
        assert!(said.contains("`X-Auth-Access-Token-GitHub` is sent by sealgate itself"), "linked tokens' headers too");
        assert_eq!(found.len(), 6, "{said}");
    }

    #[test]
    fn headers_start_from_the_defaults_and_an_empty_claim_drops_one() {
        let settings =
            Settings::from_toml("[headers]\nX-Team = \"claims.team\"\nX-Auth-Name = \"\"\nX-Auth-User = \"email\"\n")
                .unwrap();
        assert!(settings.assertion_problems().is_empty());
        let headers = settings.identity_headers();
        let find = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, c)| c.as_str());
        assert_eq!(find("x-team"), Some("claims.team"));
        assert_eq!(find("x-auth-user"), Some("email"));
        assert_eq!(find("x-auth-name"), None);
        assert_eq!(find("x-auth-email"), Some("email"));
        assert_eq!(Settings::from_toml("").unwrap().identity_headers().len(), DEFAULT_HEADERS.len());
    }

    #[test]
    fn the_lifetime_and_kept_claims_are_bounded() {
        let said = problems(
            "[assertion]\nlifetime = \"2h\"\n[providers.corp]\nkind = \"oidc\"\nclient_id = \"c\"\nkeep_claims = [\"a b\"]\n",
        )
        .join("\n");
        assert!(said.contains("assertion.lifetime"), "{said}");
        assert!(said.contains("`a b` is not a claim name"), "{said}");
    }

    #[test]
    fn the_assertion_keys_live_next_to_the_session_keys_by_default() {
        let settings = Settings::from_toml("[keys]\npath = \"/etc/sealgate/keys.json\"\n").unwrap();
        assert_eq!(settings.assertion_keys_path(), Path::new("/etc/sealgate/assertion.jwks.json"));
    }
}
