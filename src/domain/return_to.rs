//! `redirect_to`: where a person goes after signing in or out.
//!
//! Only two shapes are accepted: a path on this site (`/app?x=1`), or an
//! absolute http(s) URL whose host is the public URL's host or on the
//! configured allow-list. Anything else — `//evil`, `/\evil`, `https:evil`,
//! user info, whitespace or control characters, and the same tricks
//! percent-encoded — falls back to `/`.

use url::Url;

const MAX_LEN: usize = 2048;

/// The hosts a redirect may name.
#[derive(Debug, Clone)]
pub struct RedirectPolicy {
    public_host: String,
    allow_http: bool,
    /// Exact hosts, or `.domain` for the domain and its subdomains.
    allowed_hosts: Vec<String>,
}

impl RedirectPolicy {
    pub fn new(public_url: &Url, allowed_hosts: &[String]) -> RedirectPolicy {
        RedirectPolicy {
            public_host: public_url.host_str().unwrap_or_default().to_ascii_lowercase(),
            allow_http: public_url.scheme() == "http",
            allowed_hosts: allowed_hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
        }
    }

    fn allows_host(&self, host: &str) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host);
        host == self.public_host
            || self.allowed_hosts.iter().any(|allowed| match allowed.strip_prefix('.') {
                Some(domain) => {
                    host == domain || host.strip_suffix(allowed.as_str()).is_some_and(|sub| !sub.is_empty())
                }
                None => host == allowed,
            })
    }
}

/// A redirect target that has passed [`RedirectPolicy`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnTo(String);

impl Default for ReturnTo {
    fn default() -> Self {
        ReturnTo("/".into())
    }
}

fn has_forbidden_chars(text: &str) -> bool {
    text.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\')
}

/// Percent-decode once, lossily.
fn decode_once(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

fn is_safe_path(raw: &str) -> bool {
    // Check the raw text and up to three rounds of decoding, so that
    // `/%2F%2Fevil` or `/%5Cevil` cannot turn into `//evil` somewhere downstream.
    // The raw text may hold no whitespace at all; decoded forms may hold
    // spaces (`/search?q=a%20b`) but no control characters or backslashes.
    if has_forbidden_chars(raw) {
        return false;
    }
    let mut text = raw.to_owned();
    for _ in 0..4 {
        let unsafe_chars = text.chars().any(|c| c.is_control() || c == '\\');
        if !text.starts_with('/') || text.starts_with("//") || unsafe_chars {
            return false;
        }
        let decoded = decode_once(&text);
        if decoded == text {
            return true;
        }
        text = decoded;
    }
    false
}

impl ReturnTo {
    /// Parse a client-supplied target; anything unacceptable becomes `/`.
    pub fn parse(raw: Option<&str>, policy: &RedirectPolicy) -> ReturnTo {
        raw.and_then(|raw| Self::try_parse(raw, policy)).unwrap_or_default()
    }

    /// Parse a client-supplied target; `None` when it is not acceptable.
    pub fn try_parse(raw: &str, policy: &RedirectPolicy) -> Option<ReturnTo> {
        if raw.is_empty() || raw.len() > MAX_LEN {
            return None;
        }
        if raw.starts_with('/') {
            return is_safe_path(raw).then(|| ReturnTo(raw.to_owned()));
        }
        let lower = raw.get(..8).unwrap_or(raw).to_ascii_lowercase();
        let scheme_ok = lower.starts_with("https://") || (policy.allow_http && lower.starts_with("http://"));
        let decoded_unsafe = decode_once(raw).chars().any(|c| c.is_control() || c == '\\');
        if !scheme_ok || has_forbidden_chars(raw) || decoded_unsafe {
            return None;
        }
        let url = Url::parse(raw).ok()?;
        if !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        let host = url.host_str()?;
        policy.allows_host(host).then(|| ReturnTo(url.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ReturnTo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RedirectPolicy {
        RedirectPolicy::new(
            &Url::parse("https://gate.example.com").unwrap(),
            &[".example.com".into(), "app.test".into()],
        )
    }

    #[test]
    fn accepts_paths_and_allowed_hosts() {
        for (raw, expected) in [
            ("/", "/"),
            ("/app/page?x=1#top", "/app/page?x=1#top"),
            ("/a%20b", "/a%20b"),
            ("/search?q=a%2Fb", "/search?q=a%2Fb"),
            ("https://gate.example.com/x", "https://gate.example.com/x"),
            ("https://example.com/", "https://example.com/"),
            ("https://wiki.example.com/page", "https://wiki.example.com/page"),
            ("HTTPS://App.Test/", "https://app.test/"),
            ("https://app.test/search?q=a%20b", "https://app.test/search?q=a%20b"),
        ] {
            assert_eq!(ReturnTo::parse(Some(raw), &policy()).as_str(), expected, "{raw}");
        }
    }

    #[test]
    fn everything_else_falls_back_to_root() {
        for raw in [
            "",
            "//evil.com",
            "///evil.com",
            "/\\evil.com",
            "\\\\evil.com",
            "https:evil.com",
            "https:/evil.com",
            "http://gate.example.com/", // http when the public URL is https
            "https://evil.com/",
            "https://example.com.evil.com/",
            "https://notexample.com/",
            "https://gate.example.com@evil.com/",
            "https://user:pw@gate.example.com/",
            "javascript:alert(1)",
            "data:text/html,hi",
            "evil.com",
            " /app",
            "/app\tx",
            "/\t/evil.com",
            "/%2F%2Fevil.com",
            "/%2f/evil.com",
            "/%5Cevil.com",
            "/%252F%252Fevil.com",
            "/%09/evil.com",
            "/%0d%0aSet-Cookie:%20x=1",
            "%2F%2Fevil.com",
            "/app\r\nSet-Cookie: x=1",
            "https://evil.com%2F@gate.example.com/",
            "https://gate.example.com\\@evil.com",
            "https://gate.example.com/%0d%0aSet-Cookie:x",
            "\u{3000}//evil.com",
        ] {
            assert_eq!(ReturnTo::parse(Some(raw), &policy()).as_str(), "/", "{raw:?} was accepted");
        }
        assert_eq!(ReturnTo::parse(None, &policy()).as_str(), "/");
        assert_eq!(ReturnTo::parse(Some(&format!("/{}", "a".repeat(3000))), &policy()).as_str(), "/");
    }
}
