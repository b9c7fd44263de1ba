//! The request a policy judges: host and path as the proxy describes them,
//! normalised so that encoding and path tricks cannot slip past a rule.
//!
//! The path is cut at `?` or `#`; each segment loses its `;params`, is
//! percent-decoded until stable (so `%252e%252e` is `..` too), and has
//! backslashes read as slashes; `.`, `..` and empty segments are resolved;
//! the result is lower-cased. The host is lower-cased, without port or
//! trailing dot. Upstreams that read paths more loosely than this (case,
//! encoded slashes, `..`) are still covered, because the normalised form is
//! what every rule is compared against.
//!
//! This runs on every `/auth/verify`, so what is already normal (the usual
//! case) is borrowed, not rebuilt: a path qualifies only when it has none of
//! the bytes normalisation acts on (`%`, `;`, `\`, upper case, spaces,
//! controls, anything non-ASCII) and no empty, `.` or `..` segment.

use std::borrow::Cow;

/// A normalised host and path. `None` when the proxy did not say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target<'a> {
    pub host: Option<Cow<'a, str>>,
    pub path: Option<Cow<'a, str>>,
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

/// Normalise a host for matching.
pub fn normalize_host(host: &str) -> Cow<'_, str> {
    let host = host.trim();
    let without_port = match host.strip_prefix('[') {
        // An IPv6 literal keeps its brackets' content.
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host
            .rsplit_once(':')
            .map_or(host, |(h, port)| if port.bytes().all(|b| b.is_ascii_digit()) { h } else { host }),
    };
    let host = without_port.trim_end_matches('.');
    if host.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        Cow::Borrowed(host)
    } else {
        Cow::Owned(host.to_lowercase())
    }
}

impl<'a> Target<'a> {
    pub fn new(host: Option<&'a str>, uri: Option<&'a str>) -> Target<'a> {
        Target { host: host.map(normalize_host), path: uri.map(normalize_path) }
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
