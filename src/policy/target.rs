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

/// A normalised host and path. `None` when the proxy did not say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    pub host: Option<String>,
    pub path: Option<String>,
}

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

/// Normalise a request URI (path and optional query) for matching.
pub fn normalize_path(uri: &str) -> String {
    let path = uri.split(['?', '#']).next().unwrap_or_default();
    let mut out: Vec<String> = Vec::new();
    for raw in path.split('/') {
        let without_params = raw.split(';').next().unwrap_or_default();
        let decoded = decode_fully(without_params).replace('\\', "/");
        for piece in decoded.split('/') {
            // A `;` revealed by decoding starts parameters too.
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

/// Normalise a host for matching.
pub fn normalize_host(host: &str) -> String {
    let host = host.trim();
    let without_port = match host.strip_prefix('[') {
        // An IPv6 literal keeps its brackets' content.
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host
            .rsplit_once(':')
            .map_or(host, |(h, port)| if port.bytes().all(|b| b.is_ascii_digit()) { h } else { host }),
    };
    without_port.trim_end_matches('.').to_lowercase()
}

impl Target {
    pub fn new(host: Option<&str>, uri: Option<&str>) -> Target {
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
}
