//! Cross-site request refusal for state-changing POSTs (sign-in, sign-out),
//! from the `Origin` and `Sec-Fetch-Site` headers browsers send.

use crate::domain::{RedirectPolicy, ReturnTo};
use actix_web::HttpRequest;

#[derive(Debug, Clone)]
pub struct OriginCheck {
    public_origin: String,
    redirects: RedirectPolicy,
}

impl OriginCheck {
    pub fn new(public_origin: String, redirects: RedirectPolicy) -> OriginCheck {
        OriginCheck { public_origin, redirects }
    }

    /// Whether a POST may proceed. An `Origin` must be our public origin or
    /// an allowed redirect host's; without one, a browser's `Sec-Fetch-Site`
    /// must say the request is same-origin or user-initiated. Requests with
    /// neither header come from non-browser clients and are allowed.
    pub fn allows(&self, req: &HttpRequest) -> bool {
        let header = |name: &str| req.headers().get(name).map(|v| v.to_str().unwrap_or("\u{0}"));
        // `Origin: null` (privacy settings, sandboxed frames) names no origin:
        // such a request passes only on a browser's `Sec-Fetch-Site` saying
        // it is same-origin.
        let origin = header("origin");
        if let Some(origin) = origin.filter(|o| *o != "null") {
            return origin == self.public_origin
                || ReturnTo::try_parse(&format!("{origin}/"), &self.redirects).is_some();
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
    use url::Url;

    fn check() -> OriginCheck {
        let public = Url::parse("https://gate.example.com").unwrap();
        OriginCheck::new("https://gate.example.com".into(), RedirectPolicy::new(&public, &["app.example.com".into()]))
    }

    #[test]
    fn cross_site_posts_are_refused() {
        let cases = [
            (Some("https://gate.example.com"), None, true),
            (Some("https://app.example.com"), Some("same-site"), true),
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
