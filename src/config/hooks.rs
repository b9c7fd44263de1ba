//! `[hooks]`: the app's say in sign-in (issue 24). `[hooks.signin]` is
//! asked about every sign-in before its session is sealed; `[hooks.error]`
//! is the app's own page for sign-in errors. See `crate::hooks`.

use super::SecretSource;
use secrecy::ExposeSecret;
use serde::Deserialize;
use std::time::Duration;
use url::Url;

/// What a sign-in hook that cannot be asked (down, slow, malformed answer) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Refuse the sign-in with `hook_failed`.
    #[default]
    Deny,
    /// Sign the person in as if there were no hook.
    Allow,
}

/// One hook's address (`[hooks.signin]`, `[hooks.error]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookTarget {
    pub url: String,
}

/// Shortest `hooks.secret` accepted, in bytes.
pub const MIN_SECRET: usize = 32;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HookSettings {
    /// Signs every hook request (`X-Sealgate-Signature`); needed with `[hooks.signin]`.
    pub secret: Option<SecretSource>,
    /// Bound on one call to the sign-in hook, answer included.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    pub on_failure: OnFailure,
    /// POSTed each sign-in's profile; its answer may change or refuse it.
    pub signin: Option<HookTarget>,
    /// Where a browser goes on a sign-in error (`url?error=CODE`), instead of the sign-in page.
    pub error: Option<HookTarget>,
}

impl Default for HookSettings {
    fn default() -> Self {
        Self { secret: None, timeout: Duration::from_secs(3), on_failure: OnFailure::Deny, signin: None, error: None }
    }
}

/// Whether `url` is an absolute http(s) URL without user info or fragment.
fn is_plain_http_url(url: &Url) -> bool {
    matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.fragment().is_none()
}

impl HookSettings {
    /// The error page, when `hooks.error.url` is valid: an absolute http(s)
    /// URL, or a path on this site (`/signin-failed`).
    pub fn error_url(&self) -> Option<&str> {
        let url = &self.error.as_ref()?.url;
        let path = url.starts_with('/') && !url.starts_with("//") && !url.contains(['\\', '#']);
        let plain = || Url::parse(url).is_ok_and(|url| is_plain_http_url(&url));
        let clean = !url.chars().any(|c| c.is_control() || c.is_whitespace());
        (clean && (path || plain())).then_some(url.as_str())
    }

    pub fn problems(&self, production: bool) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(signin) = &self.signin {
            match Url::parse(&signin.url) {
                Ok(url) if is_plain_http_url(&url) => {
                    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
                    if production && url.scheme() != "https" && !loopback {
                        problems.push("hooks.signin.url must be https in production mode (or on loopback)".into());
                    }
                }
                _ => problems.push(format!(
                    "hooks.signin.url `{}` is not an http(s) URL (no user info, no fragment)",
                    signin.url
                )),
            }
            match self.secret.as_ref().map(SecretSource::resolve) {
                None => problems.push("hooks.secret is required with hooks.signin".into()),
                Some(Err(e)) => problems.push(format!("hooks.secret: {e}")),
                Some(Ok(secret)) if secret.expose_secret().len() < MIN_SECRET => {
                    problems.push(format!("hooks.secret must be at least {MIN_SECRET} bytes"));
                }
                Some(Ok(_)) => {}
            }
        }
        if let Some(error) = &self.error {
            if self.error_url().is_none() {
                problems.push(format!(
                    "hooks.error.url `{}` is neither an http(s) URL (no user info, no fragment) nor a path like /signin-failed",
                    error.url
                ));
            }
        }
        if !(100..=30_000).contains(&self.timeout.as_millis()) {
            problems.push("hooks.timeout must be between 100ms and 30s".into());
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn problems(toml: &str) -> Vec<String> {
        Settings::from_toml(toml).unwrap().hooks.problems(false)
    }

    #[test]
    fn a_sign_in_hook_needs_a_long_secret_and_an_http_url() {
        let secret = "s".repeat(MIN_SECRET);
        assert!(problems(&format!("[hooks]\nsecret = \"{secret}\"\n[hooks.signin]\nurl = \"http://127.0.0.1:9/h\"\n"))
            .is_empty());
        let missing = problems("[hooks.signin]\nurl = \"http://127.0.0.1:9/h\"\n");
        assert_eq!(missing, ["hooks.secret is required with hooks.signin"]);
        let short = problems("[hooks]\nsecret = \"short\"\n[hooks.signin]\nurl = \"ftp://x/h\"\n");
        assert_eq!(short.len(), 2, "{short:?}");
        let shown = format!("{short:?}");
        assert!(!shown.contains("\"short\"") && !shown.contains(" short"), "{shown}");
    }

    #[test]
    fn the_error_page_is_an_http_url_or_a_local_path() {
        for good in ["https://app.example.com/oops?x=1", "/signin-failed"] {
            assert!(problems(&format!("[hooks.error]\nurl = \"{good}\"\n")).is_empty(), "{good}");
        }
        for bad in ["//evil.example", "javascript:alert(1)", "https://u:p@app.example.com/", "/a#b", "oops"] {
            assert_eq!(problems(&format!("[hooks.error]\nurl = \"{bad}\"\n")).len(), 1, "{bad}");
        }
    }

    #[test]
    fn production_wants_https_unless_on_loopback() {
        let secret = "s".repeat(MIN_SECRET);
        let at = |url: &str| {
            Settings::from_toml(&format!("[hooks]\nsecret = \"{secret}\"\n[hooks.signin]\nurl = \"{url}\"\n"))
                .unwrap()
                .hooks
                .problems(true)
        };
        assert!(at("https://hooks.example.com/").is_empty());
        assert!(at("http://127.0.0.1:8080/").is_empty());
        assert_eq!(at("http://hooks.example.com/").len(), 1);
    }
}
