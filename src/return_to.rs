//! `redirect_to`: where a person goes after signing in or out.
//!
//! Only two shapes are accepted: a path on this site (`/app?x=1`), or an
//! absolute http(s) URL whose host is the public URL's host or on the
//! configured allow-list. Anything else — `//evil`, `/\evil`, `https:evil`,
//! user info, whitespace or control characters, and the same tricks
//! percent-encoded — falls back to `/`. Dot-segments are removed first
//! (RFC 3986 5.2.4), so `/.//evil` cannot reach a downstream that collapses
//! it into `//evil`; a target is at most 2 KB, before and after parsing.
//! The same rules hold `success_to` and `failure_to` (see
//! `routes::signin::Targets`), which refuse what does not pass instead.

use crate::identity::HostPattern;
use url::Url;

const MAX_LEN: usize = 2048;

/// The hosts a redirect may name.
#[derive(Debug, Clone)]
pub struct RedirectPolicy {
    public_host: String,
    allow_http: bool,
    /// Exact hosts, or `.domain` for the domain and its subdomains.
    allowed_hosts: Vec<HostPattern>,
}

impl RedirectPolicy {
    pub fn new(public_url: &Url, allowed_hosts: &[String]) -> RedirectPolicy {
        RedirectPolicy {
            public_host: public_url.host_str().unwrap_or_default().to_ascii_lowercase(),
            allow_http: public_url.scheme() == "http",
            allowed_hosts: allowed_hosts.iter().map(|h| HostPattern::new(h.to_ascii_lowercase())).collect(),
        }
    }

    fn allows_host(&self, host: &str) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host);
        host == self.public_host || self.allowed_hosts.iter().any(|allowed| allowed.matches(host))
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

/// RFC 3986 5.2.4: remove `.` and `..` segments from an absolute path.
fn remove_dot_segments(path: &str) -> String {
    let mut input = path;
    let mut output = String::with_capacity(path.len());
    let pop = |output: &mut String| output.truncate(output.rfind('/').unwrap_or(0));
    while !input.is_empty() {
        if let Some(rest) = input.strip_prefix("../").or_else(|| input.strip_prefix("./")) {
            input = rest;
        } else if input.starts_with("/./") {
            input = input.get(2..).unwrap_or_default();
        } else if input == "/." {
            input = "/";
        } else if input.starts_with("/../") {
            input = input.get(3..).unwrap_or_default();
            pop(&mut output);
        } else if input == "/.." {
            input = "/";
            pop(&mut output);
        } else if input == "." || input == ".." {
            input = "";
        } else {
            let end = input.get(1..).and_then(|rest| rest.find('/')).map_or(input.len(), |at| at + 1);
            output.push_str(input.get(..end).unwrap_or_default());
            input = input.get(end..).unwrap_or_default();
        }
    }
    output
}

/// `/path?query#fragment` split before the query or fragment.
fn split_path(text: &str) -> (&str, &str) {
    text.split_at(text.find(['?', '#']).unwrap_or(text.len()))
}

/// Whether a path could pass for a network-path reference (`//host`) or a
/// backslash trick once dot-segments are collapsed, read either as a path
/// with a query, or (for a downstream that decoded a `%3F`) as all path.
fn collapses_to_host(text: &str) -> bool {
    let bad = |path: String| path.starts_with("//") || path.starts_with("/\\") || !path.starts_with('/');
    bad(remove_dot_segments(split_path(text).0)) || bad(remove_dot_segments(text))
}

fn is_safe_path(raw: &str) -> bool {
    // Check the raw text and up to three rounds of decoding, so that
    // `/%2F%2Fevil`, `/%5Cevil` or `/%2e//evil` cannot turn into `//evil`
    // somewhere downstream. The raw text may hold no whitespace at all;
    // decoded forms may hold spaces (`/search?q=a%20b`) but no control
    // characters or backslashes.
    if has_forbidden_chars(raw) {
        return false;
    }
    let mut text = raw.to_owned();
    for _ in 0..4 {
        let unsafe_chars = text.chars().any(|c| c.is_control() || c == '\\');
        if !text.starts_with('/') || text.starts_with("//") || unsafe_chars || collapses_to_host(&text) {
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
            if !is_safe_path(raw) {
                return None;
            }
            let (path, rest) = split_path(raw);
            return Some(ReturnTo(format!("{}{rest}", remove_dot_segments(path))));
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
        if !policy.allows_host(url.host_str()?) {
            return None;
        }
        // Parsing percent-encodes what it must, so the result can outgrow the input.
        let url = String::from(url);
        (url.len() <= MAX_LEN).then_some(ReturnTo(url))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `target` (a path or an absolute URL) with `key=value` added to its
/// query, before any fragment: `/login?x=1#top` gives `/login?x=1&error=c#top`.
pub fn with_query_pair(target: &str, key: &str, value: &str) -> String {
    let (before, fragment) = target.split_once('#').map_or((target, None), |(before, f)| (before, Some(f)));
    let pair = url::form_urlencoded::Serializer::new(String::new()).append_pair(key, value).finish();
    let separator = match before.split_once('?') {
        None => "?",
        Some((_, "")) => "",
        Some((_, query)) if query.ends_with('&') => "",
        Some(_) => "&",
    };
    let fragment = fragment.map(|f| format!("#{f}")).unwrap_or_default();
    format!("{before}{separator}{pair}{fragment}")
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
            // Dot-segments that collapse into a network-path reference.
            "/.//evil.com",
            "/..//evil.com",
            "/a/../..//evil.com",
            "/./%2F/evil.com",
            "/%2e//evil.com",
            "/%2E%2E//evil.com",
            "/%252e//evil.com",
            "/x/%2e%2e/%2e%2e//evil.com",
            "/a%3F/../..//evil.com",
        ] {
            assert_eq!(ReturnTo::parse(Some(raw), &policy()).as_str(), "/", "{raw:?} was accepted");
        }
        assert_eq!(ReturnTo::parse(None, &policy()).as_str(), "/");
        assert_eq!(ReturnTo::parse(Some(&format!("/{}", "a".repeat(3000))), &policy()).as_str(), "/");
        // Short enough as given, but over 2 KB once parsing percent-encodes it.
        let grows = format!("https://app.test/{}", "\u{e9}".repeat(900));
        assert!(grows.len() <= MAX_LEN);
        assert_eq!(ReturnTo::parse(Some(&grows), &policy()).as_str(), "/");
    }

    #[test]
    fn a_query_pair_is_added_before_the_fragment() {
        for (target, expected) in [
            ("/login", "/login?error=a_b"),
            ("/login?", "/login?error=a_b"),
            ("/login?x=1", "/login?x=1&error=a_b"),
            ("/login?x=1&", "/login?x=1&error=a_b"),
            ("/login#top", "/login?error=a_b#top"),
            ("https://app.test/p?q=a%20b#f?g", "https://app.test/p?q=a%20b&error=a_b#f?g"),
        ] {
            assert_eq!(with_query_pair(target, "error", "a_b"), expected, "{target}");
        }
        assert_eq!(with_query_pair("/x", "error", "a&b=c"), "/x?error=a%26b%3Dc");
    }

    #[test]
    fn dot_segments_are_removed_as_rfc_3986_says() {
        for (raw, expected) in [
            ("/a/b/c/./../../g", "/a/g"),
            ("/mid/content=5/../6", "/mid/6"),
            ("/a/./b/", "/a/b/"),
            ("/a/..", "/"),
            ("/..", "/"),
            ("/../../a", "/a"),
            ("/a/.../b", "/a/.../b"),
            ("/a/..b/.c", "/a/..b/.c"),
        ] {
            assert_eq!(remove_dot_segments(raw), expected, "{raw}");
        }
        assert_eq!(
            ReturnTo::parse(Some("/app/./x/../page?next=/../y#/.."), &policy()).as_str(),
            "/app/page?next=/../y#/.."
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Pieces that redirect tricks are made of.
        const PIECES: &[&str] = &[
            "/",
            "//",
            "\\",
            ".",
            "..",
            "%2e",
            "%2E",
            "%2f",
            "%2F",
            "%5c",
            "%25",
            "%252e",
            "%3F",
            "?",
            "#",
            "@",
            ":",
            "a",
            "evil.example",
            "gate.example.com",
            "app.test",
            "https:",
            "http:",
            "https://",
            " ",
            "\t",
            "%09",
            "%00",
            "\u{e9}",
            "%c3%a9",
            "\u{3000}",
            "\r\n",
        ];

        /// Pieces of paths that collapse or decode into something else.
        const PATH_PIECES: &[&str] =
            &["/", "//", ".", "..", "%2e", "%2E", "%2f", "%5c", "%25", "%3F", "?", "a", "evil.example", "\\"];

        fn tricky() -> impl Strategy<Value = String> {
            prop_oneof![
                prop::collection::vec(prop::sample::select(PATH_PIECES), 0..10)
                    .prop_map(|pieces| format!("/{}", pieces.concat())),
                prop::collection::vec(prop::sample::select(PIECES), 0..14).prop_map(|pieces| pieces.concat()),
                any::<String>(),
                "[/.%2eEfFcC5\\\\?#@a-z:]{0,40}",
            ]
        }

        /// The host a browser ends up at when a downstream resolves `target`
        /// against the public URL (the url crate collapses dot-segments and
        /// reads `\\` as `/`, as browsers do) and sends on what it got as a
        /// path, as a `Location` or link.
        fn landing_host(target: &str) -> Option<String> {
            let base = Url::parse("https://gate.example.com/base/").ok()?;
            let resolved = base.join(target).ok()?;
            let again = base.join(&resolved[url::Position::BeforePath..]).ok()?;
            again.host_str().map(str::to_owned)
        }

        fn allowed(host: &str) -> bool {
            host == "gate.example.com" || host == "example.com" || host.ends_with(".example.com") || host == "app.test"
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2048))]
            #[test]
            fn a_return_to_never_leaves_the_allow_list(raw in tricky()) {
                let target = ReturnTo::parse(Some(&raw), &policy());
                let text = target.as_str();
                prop_assert!(text.len() <= MAX_LEN);
                prop_assert!(!text.starts_with("//") && !text.starts_with("/\\"), "{raw:?} gave {text:?}");
                if text.starts_with('/') {
                    // However many times a downstream decodes it, it stays on this host.
                    let mut decoded = text.to_owned();
                    for _ in 0..4 {
                        if let Some(host) = landing_host(&decoded) {
                            prop_assert_eq!(host.as_str(), "gate.example.com", "{:?} gave {:?}, read as {:?}", raw, text, decoded);
                        }
                        decoded = decode_once(&decoded);
                    }
                } else {
                    let url = Url::parse(text).unwrap();
                    prop_assert_eq!(url.scheme(), "https");
                    prop_assert!(allowed(url.host_str().unwrap()), "{raw:?} gave {text:?}");
                }
            }
        }
    }
}
