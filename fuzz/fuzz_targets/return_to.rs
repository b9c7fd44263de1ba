//! `ReturnTo::try_parse` (where a person is sent after signing in or out)
//! on any UTF-8, under an https and an http public URL with an allow-list.
//! Checks: no panic; what is accepted is a local path that no decoding
//! turns into `//`, `/\` or anything with controls, and that a browser
//! resolves (dot segments included) to a path on this site that is not
//! protocol-relative; or an absolute http(s) URL without user info whose
//! host the policy allows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate::return_to::{RedirectPolicy, ReturnTo};
use std::sync::OnceLock;
use url::Url;

fn policies() -> &'static [(RedirectPolicy, bool); 2] {
    static POLICIES: OnceLock<[(RedirectPolicy, bool); 2]> = OnceLock::new();
    POLICIES.get_or_init(|| {
        let allowed = ["app.example.com".to_owned(), ".corp.example".to_owned()];
        ["https://gate.example.com", "http://127.0.0.1:4180"]
            .map(|public| (RedirectPolicy::new(&Url::parse(public).unwrap(), &allowed), public.starts_with("http:")))
    })
}

fn base() -> &'static Url {
    static BASE: OnceLock<Url> = OnceLock::new();
    BASE.get_or_init(|| Url::parse("https://base.invalid/").unwrap())
}

fn host_allowed(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    matches!(host, "gate.example.com" | "127.0.0.1" | "app.example.com" | "corp.example")
        || host.ends_with(".corp.example")
}

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    for (policy, allow_http) in policies() {
        let Some(target) = ReturnTo::try_parse(raw, policy) else { continue };
        let target = target.as_str();
        if target.starts_with('/') {
            // Resolved as a browser resolves it (dot segments, `%2e` too), it
            // stays on this site, on a path that is not protocol-relative.
            let resolved = base().join(target).unwrap();
            assert_eq!(resolved.host_str(), Some("base.invalid"), "{raw:?} -> {target}");
            assert!(!resolved.path().starts_with("//"), "{raw:?} -> {target} resolves to {resolved}");
            let mut text = target.to_owned();
            for _ in 0..4 {
                assert!(!text.starts_with("//") && !text.contains(|c: char| c.is_control() || c == '\\'), "{raw:?}");
                text = percent_encoding::percent_decode_str(&text).decode_utf8_lossy().into_owned();
            }
            assert!(!raw.contains(char::is_whitespace), "{raw:?}");
        } else {
            let url = Url::parse(target).unwrap();
            assert!(url.scheme() == "https" || (*allow_http && url.scheme() == "http"), "{raw:?}");
            assert!(url.username().is_empty() && url.password().is_none(), "{raw:?}");
            assert!(host_allowed(url.host_str().unwrap()), "{raw:?} -> {target}");
        }
    }
});
