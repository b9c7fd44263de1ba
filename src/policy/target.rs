//! The request a policy judges: host and path as the proxy describes them,
//! normalised so that encoding and path tricks cannot slip past a rule.
//!
//! The path is cut at `?` or `#`; each segment loses its `;params`, is
//! percent-decoded until stable (so `%252e%252e` is `..` too), and has
//! backslashes read as slashes; `.`, `..` and empty segments are resolved;
//! the result is lower-cased. Upstreams that read paths more loosely than
//! this (case, encoded slashes, `..`) are still covered, because the
//! normalised form is what every rule is compared against.
//!
//! The host is parsed strictly ([`Host::parse`]): DNS-style labels (letters,
//! digits, `-`, `_`) or a bracketed IPv6 literal, optionally one trailing dot
//! and a port of one to five digits up to 65535; it is lower-cased, without
//! port or trailing dot. Anything else (`app.example.com:abc`, `:+443`,
//! `:80:80`, several hosts, bytes that are not ASCII) is [`Host::Malformed`],
//! which keeps only its bare name (the text before the first `:`, as nginx
//! routes it) for `deny` rules: it never matches a rule that lets anyone in.
//!
//! This runs on every `/auth/verify`, so what is already normal (the usual
//! case) is borrowed, not rebuilt: a path qualifies only when it has none of
//! the bytes normalisation acts on (`%`, `;`, `\`, upper case, spaces,
//! controls, anything non-ASCII) and no empty, `.` or `..` segment.

use std::borrow::Cow;

/// A normalised host and path. `None` when the proxy did not say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target<'a> {
    pub host: Option<Host<'a>>,
    pub path: Option<Cow<'a, str>>,
}

/// A forwarded host, parsed at the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host<'a> {
    /// A well-formed host: lower case, without port, brackets or trailing dot.
    Name(Cow<'a, str>),
    /// Not a host. Holds the bare name (lower-cased text before the first
    /// `:`, or inside `[...]`), which only `deny` rules are matched against.
    Malformed(Cow<'a, str>),
}

/// Longest host name accepted (DNS allows 253, plus a trailing dot).
const MAX_HOST: usize = 254;

/// Whether `port` is one to five ASCII digits naming a port up to 65535.
fn is_port(port: &str) -> bool {
    (1..=5).contains(&port.len())
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u32>().is_ok_and(|p| p <= 65_535)
}

/// Whether `name` (without trailing dot) is dot-separated non-empty labels of
/// ASCII letters, digits, `-` and `_`.
fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_HOST
        && name.split('.').all(|label| {
            !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// `text` lower-cased, borrowed when it already is.
fn lowercase(text: &str) -> Cow<'_, str> {
    if text.bytes().any(|b| b.is_ascii_uppercase()) || !text.is_ascii() {
        Cow::Owned(text.to_lowercase())
    } else {
        Cow::Borrowed(text)
    }
}

impl<'a> Host<'a> {
    /// Parse a `Host` / `X-Forwarded-Host` value: `name[.][:port]` or
    /// `[ipv6][:port]`, surrounding whitespace ignored.
    pub fn parse(raw: &'a str) -> Host<'a> {
        let raw = raw.trim();
        if let Some(rest) = raw.strip_prefix('[') {
            let Some((inside, after)) = rest.split_once(']') else { return Host::Malformed(lowercase(rest)) };
            let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(is_port);
            return if port_ok && inside.parse::<std::net::Ipv6Addr>().is_ok() {
                Host::Name(lowercase(inside))
            } else {
                Host::Malformed(lowercase(inside))
            };
        }
        let (name, port) = match raw.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (raw, None),
        };
        let without_dot = name.strip_suffix('.').unwrap_or(name);
        if port.is_none_or(is_port) && is_host_name(without_dot) {
            Host::Name(lowercase(without_dot))
        } else {
            Host::Malformed(lowercase(name.trim_end_matches('.')))
        }
    }

    /// Parse a header's bytes: not UTF-8 is malformed too.
    pub fn parse_bytes(raw: &'a [u8]) -> Host<'a> {
        match std::str::from_utf8(raw) {
            Ok(text) => Host::parse(text),
            Err(_) => match Host::parse(&String::from_utf8_lossy(raw)) {
                Host::Name(name) | Host::Malformed(name) => Host::Malformed(Cow::Owned(name.into_owned())),
            },
        }
    }

    /// The host name, when it is one.
    pub fn name(&self) -> Option<&str> {
        match self {
            Host::Name(name) => Some(name),
            Host::Malformed(_) => None,
        }
    }
}

/// Percent-decode until stable (at most four rounds).
fn decode_fully(segment: &str) -> Cow<'_, str> {
    let mut text = Cow::Borrowed(segment);
    for _ in 0..4 {
        if !text.contains('%') {
            break;
        }
        let decoded = percent_encoding::percent_decode_str(&text).decode_utf8_lossy();
        if decoded == text {
            break;
        }
        let decoded = decoded.into_owned();
        text = Cow::Owned(decoded);
    }
    text
}

/// `uri`'s path (cut at `?` or `#`) when normalisation would leave it as it
/// is, found in one pass: it starts with `/`, has only bytes normalisation
/// does not act on, and no empty, `.` or `..` segment.
fn already_normal(uri: &str) -> Option<&str> {
    let bytes = uri.as_bytes();
    if bytes.first() != Some(&b'/') {
        return None;
    }
    let needs_work = |segment: Option<&[u8]>| matches!(segment, Some(b"" | b"." | b".."));
    let mut segment_start = 1;
    let mut end = bytes.len();
    for (at, &byte) in bytes.iter().enumerate().skip(1) {
        match byte {
            b'?' | b'#' => {
                end = at;
                break;
            }
            b'/' if needs_work(bytes.get(segment_start..at)) => return None,
            b'/' => segment_start = at + 1,
            b'%' | b';' | b'\\' | b'A'..=b'Z' => return None,
            _ if byte.is_ascii_graphic() => {}
            _ => return None,
        }
    }
    let path = uri.get(..end)?;
    if path != "/" && needs_work(bytes.get(segment_start..end)) {
        return None;
    }
    Some(path)
}

/// Normalise a request URI (path and optional query) for matching.
pub fn normalize_path(uri: &str) -> Cow<'_, str> {
    match already_normal(uri) {
        Some(path) => Cow::Borrowed(path),
        None => Cow::Owned(normalize_slowly(uri.split(['?', '#']).next().unwrap_or_default())),
    }
}

/// The full normalisation, for paths that need it.
fn normalize_slowly(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 1);
    for raw in path.split('/') {
        let without_params = raw.split(';').next().unwrap_or_default();
        // A backslash, even a decoded one, separates segments too.
        for piece in decode_fully(without_params).split(['/', '\\']) {
            // A `;` revealed by decoding starts parameters too.
            let piece = piece.split(';').next().unwrap_or_default().trim_matches(|c: char| c.is_control());
            match piece {
                "" | "." => {}
                ".." => out.truncate(out.rfind('/').unwrap_or(0)),
                other => {
                    out.push('/');
                    if other.is_ascii() {
                        let start = out.len();
                        out.push_str(other);
                        if let Some(piece) = out.get_mut(start..) {
                            piece.make_ascii_lowercase();
                        }
                    } else {
                        // Whole-piece lower-casing (final sigma depends on context).
                        out.push_str(&other.to_lowercase());
                    }
                }
            }
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Normalise a host (a rule's host pattern) for matching: its name, or
/// the bare name of a malformed one.
pub fn normalize_host(host: &str) -> Cow<'_, str> {
    match Host::parse(host) {
        Host::Name(name) | Host::Malformed(name) => name,
    }
}

impl<'a> Target<'a> {
    pub fn new(host: Option<&'a str>, uri: Option<&'a str>) -> Target<'a> {
        Target { host: host.map(Host::parse), path: uri.map(normalize_path) }
    }

    /// From header bytes, as a proxy sent them: a host that is not UTF-8 is
    /// malformed, a path that is not is read as `%`-decoding would read it
    /// (invalid UTF-8 as U+FFFD), so neither goes missing.
    pub fn from_bytes(host: Option<&'a [u8]>, uri: Option<&'a [u8]>) -> Target<'a> {
        let path = uri.map(|uri| match std::str::from_utf8(uri) {
            Ok(uri) => normalize_path(uri),
            Err(_) => Cow::Owned(normalize_path(&String::from_utf8_lossy(uri)).into_owned()),
        });
        Target { host: host.map(Host::parse_bytes), path }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_tricks_normalise_to_the_same_path() {
        for uri in [
            "/admin",
            "/admin/",
            "/ADMIN",
            "/Admin?x=1",
            "/admin#frag",
            "/%61dmin",
            "/%2561dmin",
            "//admin",
            "/./admin",
            "/public/../admin",
            "/public/%2e%2e/admin",
            "/public/%252e%252e/admin",
            "/public/..%2fadmin",
            "/public\\..\\admin",
            "/public/%5c..%5cadmin",
            "/admin;jsessionid=123",
            "/admin%3bx=1",
            "/a/b/../../admin",
            "/../../admin",
        ] {
            assert_eq!(normalize_path(uri), "/admin", "{uri}");
        }
        assert_eq!(normalize_path("/admin/users;x/list"), "/admin/users/list");
        assert_eq!(normalize_path(""), "/");
        assert_eq!(normalize_path("/a%20b"), "/a b");
    }

    #[test]
    fn hosts_lose_case_port_and_trailing_dot() {
        for host in
            ["app.example.com", "APP.Example.COM", "app.example.com.", "app.example.com:8443", "app.example.com.:443"]
        {
            assert_eq!(normalize_host(host), "app.example.com", "{host}");
        }
        assert_eq!(normalize_host("[::1]:8080"), "::1");
    }

    #[test]
    fn a_host_with_a_port_that_is_not_one_is_malformed_and_keeps_only_its_bare_name() {
        for raw in [
            "app.example.com:abc",
            "app.example.com:443.",
            "app.example.com:80:80",
            "app.example.com:+443",
            "app.example.com:-1",
            "app.example.com:",
            "app.example.com:65536",
            "app.example.com:000443",
            "app.example.com: 443",
            "APP.example.com:0x1bb",
            "app.example.com.:abc",
        ] {
            assert_eq!(Host::parse(raw), Host::Malformed(Cow::Borrowed("app.example.com")), "{raw:?}");
        }
        for raw in ["app.example.com:443", "app.example.com:0", "app.example.com:65535", "app.example.com.:8080"] {
            assert_eq!(Host::parse(raw), Host::Name(Cow::Borrowed("app.example.com")), "{raw:?}");
        }
    }

    #[test]
    fn only_host_names_and_ipv6_literals_are_hosts() {
        for raw in ["localhost", "a-b_c.example", "192.0.2.1", "xn--bcher-kva.example", "[::1]", "[2001:DB8::1]:443"] {
            assert!(Host::parse(raw).name().is_some(), "{raw:?}");
        }
        assert_eq!(Host::parse("[2001:DB8::1]:443").name(), Some("2001:db8::1"));
        for raw in [
            "",
            ":443",
            ".",
            "app..example.com",
            ".app.example.com",
            "app.example.com..",
            "app.example.com, evil.example",
            "app.example.com evil.example",
            "evil.example/app.example.com",
            "user@app.example.com",
            "app.example.com%00",
            "äpp.example.com",
            "[::1",
            "[::1]x",
            "[::1]:abc",
            "[not-ipv6]",
            "[::1]:443:443",
        ] {
            assert!(matches!(Host::parse(raw), Host::Malformed(_)), "{raw:?}");
        }
        assert_eq!(Host::parse_bytes(b"app.example.com\xff"), Host::Malformed("app.example.com\u{fffd}".into()));
        assert!(matches!(Host::parse_bytes(b"app.example.com"), Host::Name(Cow::Borrowed("app.example.com"))));
    }

    #[test]
    fn paths_that_are_not_utf8_still_reach_the_rules() {
        let target = Target::from_bytes(Some(b"app.example.com"), Some(b"/ADMIN/\xff?x"));
        assert_eq!(target.path.as_deref(), Some("/admin/\u{fffd}"));
        assert_eq!(target.host, Some(Host::Name("app.example.com".into())));
    }

    /// The simple check a host is held to: `name[.][:port]` with the name
    /// made of dot-separated labels of `[a-z0-9_-]`, or `[ipv6][:port]`, the
    /// port one to five digits that make a `u16`.
    fn reference_accepts(raw: &str) -> Option<String> {
        let raw = raw.trim().to_ascii_lowercase();
        let (host, port) = match raw.strip_prefix('[') {
            Some(rest) => {
                let (inside, after) = rest.split_once(']')?;
                inside.parse::<std::net::Ipv6Addr>().ok()?;
                let port = if after.is_empty() { None } else { Some(after.strip_prefix(':')?) };
                (inside.to_owned(), port)
            }
            None => {
                let (name, port) = raw.split_once(':').map_or((raw.as_str(), None), |(n, p)| (n, Some(p)));
                let name = name.strip_suffix('.').unwrap_or(name);
                let labels_ok = name.split('.').all(|l| {
                    !l.is_empty() && l.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_".contains(c))
                });
                if !labels_ok {
                    return None;
                }
                (name.to_owned(), port)
            }
        };
        if let Some(port) = port {
            if port.is_empty() || port.len() > 5 || !port.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            port.parse::<u16>().ok()?;
        }
        Some(host)
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(4000))]

        #[test]
        fn host_parsing_never_accepts_what_the_reference_refuses(
            raw in proptest::prop_oneof![
                "[a-zA-Z0-9.:_\\-]{0,24}",
                "(\\[)?[0-9a-fA-F:]{0,12}(\\])?(:[0-9+-]{0,6})?",
                "[a-z]{1,6}(\\.[a-z0-9]{1,6}){0,3}\\.?(:[0-9a-z+.:-]{0,7})?",
                "\\PC{0,16}",
            ]
        ) {
            let parsed = Host::parse(&raw);
            let bare = raw.trim().split(':').next().unwrap_or_default().trim_end_matches('.').to_lowercase();
            match &parsed {
                Host::Name(name) => {
                    proptest::prop_assert_eq!(Some(name.to_string()), reference_accepts(&raw), "{:?}", raw);
                }
                Host::Malformed(name) => {
                    proptest::prop_assert_eq!(reference_accepts(&raw), None, "{:?}", raw);
                    if !raw.trim().starts_with('[') {
                        proptest::prop_assert_eq!(name.as_ref(), bare.as_str(), "{:?}", raw);
                    }
                }
            }
            // Whatever the bytes, the byte form agrees or is malformed.
            let from_bytes = Host::parse_bytes(raw.as_bytes());
            proptest::prop_assert_eq!(from_bytes, parsed);
        }

        /// Any bytes a proxy may send: no panic, a host only when the
        /// bytes are text the reference accepts, and always a path.
        #[test]
        fn targets_from_any_bytes_are_judged_never_dropped(
            host in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..24),
            uri in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..24),
        ) {
            let target = Target::from_bytes(Some(&host), Some(&uri));
            match target.host {
                Some(Host::Name(name)) => {
                    let text = std::str::from_utf8(&host);
                    proptest::prop_assert!(text.is_ok());
                    proptest::prop_assert_eq!(Some(name.into_owned()), reference_accepts(text.unwrap_or_default()));
                }
                Some(Host::Malformed(_)) => {}
                None => proptest::prop_assert!(false, "the host went missing"),
            }
            let path = target.path.unwrap_or_default();
            proptest::prop_assert!(path.starts_with('/'), "{:?}", path);
        }
    }

    /// The normalisation as first written (one allocation per segment), kept
    /// as the reference the fast path and the leaner slow path must agree with.
    fn reference(uri: &str) -> String {
        fn decode_fully(segment: &str) -> String {
            let mut text = segment.to_owned();
            for _ in 0..4 {
                let decoded = percent_encoding::percent_decode_str(&text).decode_utf8_lossy().into_owned();
                if decoded == text {
                    break;
                }
                text = decoded;
            }
            text
        }
        let path = uri.split(['?', '#']).next().unwrap_or_default();
        let mut out: Vec<String> = Vec::new();
        for raw in path.split('/') {
            let without_params = raw.split(';').next().unwrap_or_default();
            let decoded = decode_fully(without_params).replace('\\', "/");
            for piece in decoded.split('/') {
                let piece = piece.split(';').next().unwrap_or_default().trim_matches(|c: char| c.is_control());
                match piece {
                    "" | "." => {}
                    ".." => {
                        out.pop();
                    }
                    other => out.push(other.to_lowercase()),
                }
            }
        }
        format!("/{}", out.join("/"))
    }

    fn assert_like_reference(uri: &str) {
        let normal = normalize_path(uri);
        assert_eq!(normal, reference(uri), "{uri:?}");
        if matches!(normal, Cow::Borrowed(_)) {
            // Borrowed only when there was nothing to do but cut the query.
            assert!(uri.starts_with(normal.as_ref()), "{uri:?}");
        }
    }

    #[test]
    fn already_normal_paths_are_borrowed() {
        for uri in ["/", "/admin", "/admin/users", "/a.b/c-d_e~f/x:y@z", "/projects/sealgate/settings/members", "/..."]
        {
            assert!(matches!(normalize_path(uri), Cow::Borrowed(p) if p == uri), "{uri}");
        }
        assert!(matches!(normalize_path("/admin?x=/public#y"), Cow::Borrowed("/admin")));
        assert!(matches!(normalize_path("/admin#/public"), Cow::Borrowed("/admin")));
        assert!(matches!(normalize_host("app.example.com"), Cow::Borrowed("app.example.com")));
        assert!(matches!(normalize_host("app.example.com.:443"), Cow::Borrowed("app.example.com")));
    }

    #[test]
    fn paths_needing_work_take_the_slow_path_and_normalise_right() {
        for (uri, expected) in [
            ("", "/"),
            ("?x", "/"),
            ("admin", "/admin"),
            ("/admin/", "/admin"),
            ("//admin", "/admin"),
            ("/admin//users", "/admin/users"),
            ("/./admin", "/admin"),
            ("/admin/.", "/admin"),
            ("/public/..", "/"),
            ("/public/../admin", "/admin"),
            ("/public/%2e%2e/admin", "/admin"),
            ("/public/%2E%2E/admin", "/admin"),
            ("/public/%2E%2e/ADMIN", "/admin"),
            ("/public/%252E%252E/admin", "/admin"),
            ("/public/..%2Fadmin", "/admin"),
            ("/public/..%2fadmin", "/admin"),
            ("/public\\..\\admin", "/admin"),
            ("/public/%5C..%5Cadmin", "/admin"),
            ("/%41dmin", "/admin"),
            ("/Admin", "/admin"),
            ("/admin;jsessionid=1", "/admin"),
            ("/admin;/users", "/admin/users"),
            ("/admin%3Bx=1/users", "/admin/users"),
            ("/admin%00", "/admin"),
            ("/a b", "/a b"),
            ("/%C3%9Cber", "/über"),
            ("/ÜBER", "/über"),
            ("/ΟΔΟΣ", "/οδος"),
            ("/%ff", "/\u{fffd}"),
        ] {
            let normal = normalize_path(uri);
            assert!(matches!(normal, Cow::Owned(_)), "{uri:?} took the fast path");
            assert_eq!(normal, expected, "{uri:?}");
            assert_like_reference(uri);
        }
        for host in ["APP.example.com", "app.example.com:8443", " app.example.com", "ÄPP.example.com"] {
            assert_eq!(normalize_host(host), host.trim().split(':').next().unwrap_or_default().to_lowercase());
        }
    }

    /// Every path of up to five characters from an alphabet of the bytes
    /// normalisation acts on (and some it does not) normalises as before.
    #[test]
    fn every_short_path_normalises_as_the_reference_does() {
        const ALPHABET: [char; 13] = ['/', 'a', 'B', '.', '%', '2', 'e', 'E', ';', '\\', '?', 'ü', '\u{1}'];
        let mut uris = vec![String::new()];
        for _ in 0..5 {
            uris = uris
                .iter()
                .flat_map(|uri| ALPHABET.iter().map(move |c| format!("{uri}{c}")))
                .inspect(|uri| assert_like_reference(uri))
                .collect();
        }
    }

    /// Longer paths made of the escapes and segments attackers use.
    #[test]
    fn random_tricky_paths_normalise_as_the_reference_does() {
        const PIECES: [&str; 24] = [
            "/", "/", "/", "a", "Adm", "in", ".", "..", "%2e", "%2E", "%2f", "%2F", "%25", "%5c", "%3b", ";", "\\",
            "?", "#", "Σ", "ß", "%ff", "%", "x=1",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..50_000 {
            let len = 1 + next() % 10;
            let uri: String =
                (0..len).filter_map(|_| PIECES.get((next() % PIECES.len() as u64) as usize)).copied().collect();
            assert_like_reference(&uri);
        }
    }
}
