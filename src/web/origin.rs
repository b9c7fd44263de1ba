//! Cross-site request refusal for state-changing POSTs (sign-in, sign-out,
//! `/auth/tokens`), from the `Origin` and `Sec-Fetch-Site` headers browsers send.
//!
//! An `Origin` passes only when it is exactly the public URL's origin (same
//! scheme, host and port) or one listed in `server.allowed_origins`. Hosts
//! that `redirect_to` may name are not origins that may post.

#[derive(Debug, Clone)]
pub struct OriginCheck {
    /// The public URL's origin first, then the configured ones.
    allowed: Vec<String>,
}

impl OriginCheck {
    /// `public_origin` and `others` are serialised origins (`https://host[:port]`).
    pub fn new(public_origin: String, others: &[String]) -> OriginCheck {
        let mut allowed = vec![public_origin];
        allowed.extend(others.iter().cloned());
        OriginCheck { allowed }
    }

    /// Whether a POST may proceed. An `Origin` must be an allowed origin;
    /// without one, a browser's `Sec-Fetch-Site` must say the request is
    /// same-origin or user-initiated. Requests with neither header come from
    /// non-browser clients and are allowed.
    pub fn allows(&self, req: &actix_web::HttpRequest) -> bool {
        let header = |name: &str| req.headers().get(name).map(|v| v.to_str().unwrap_or("\u{0}"));
        // `Origin: null` (privacy settings, sandboxed frames) names no origin:
        // such a request passes only on a browser's `Sec-Fetch-Site` saying
        // it is same-origin.
        let origin = header("origin");
        if let Some(origin) = origin.filter(|o| *o != "null") {
            return self.allowed.iter().any(|allowed| allowed == origin);
        }
        match header("sec-fetch-site") {
            None => origin.is_none(),
            Some(site) => site == "same-origin" || site == "none",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn check() -> OriginCheck {
        OriginCheck::new("https://gate.example.com".into(), &["https://admin.example.com".into()])
    }

    #[test]
    fn cross_site_posts_are_refused() {
        let cases = [
            (Some("https://gate.example.com"), None, true),
            (Some("https://admin.example.com"), Some("same-site"), true),
            // The public host on another port or scheme is another origin.
            (Some("https://gate.example.com:8443"), Some("same-site"), false),
            (Some("http://gate.example.com"), None, false),
            (Some("https://gate.example.com."), None, false),
            (Some("https://GATE.example.com"), None, false),
            // A host redirects may go to is not an origin that may post.
            (Some("https://app.example.com"), Some("same-site"), false),
            (Some("https://evil.example"), Some("same-origin"), false),
            (Some("null"), None, false),
            (Some("null"), Some("same-origin"), true),
            (Some("null"), Some("cross-site"), false),
            (None, Some("cross-site"), false),
            (None, Some("same-site"), false),
            (None, Some("same-origin"), true),
            (None, Some("none"), true),
            (None, None, true),
        ];
        for (origin, site, expected) in cases {
            let mut req = TestRequest::post();
            if let Some(origin) = origin {
                req = req.insert_header(("origin", origin));
            }
            if let Some(site) = site {
                req = req.insert_header(("sec-fetch-site", site));
            }
            assert_eq!(check().allows(&req.to_http_request()), expected, "{origin:?} {site:?}");
        }
    }
}
