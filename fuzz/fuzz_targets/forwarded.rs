//! The forwarded headers, believed only from a trusted proxy
//! (`TrustedProxies::client_ip`, `original_url`, `forwarded`) and the
//! cross-site check on `Origin` / `Sec-Fetch-Site` (`OriginCheck::allows`),
//! on any header bytes. Input: the first byte picks the peer (trusted or
//! not, IPv4 or IPv6), the rest is split at `\n` into the values of
//! X-Forwarded-For (twice), -Proto, -Host, -Uri, X-Original-URI, Origin and
//! Sec-Fetch-Site. Checks: no panic; an untrusted peer's headers are never
//! believed; the client address is the peer or one the headers name; an
//! original URL is a path, or http(s)://host + that path.
#![no_main]

use actix_web::http::header::HeaderValue;
use actix_web::test::TestRequest;
use libfuzzer_sys::fuzz_target;
use sealgate::web::{OriginCheck, TrustedProxies};
use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;

const HEADERS: [&str; 8] = [
    "x-forwarded-for",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-uri",
    "x-original-uri",
    "origin",
    "sec-fetch-site",
];

fn checks() -> &'static (TrustedProxies, OriginCheck) {
    static CHECKS: OnceLock<(TrustedProxies, OriginCheck)> = OnceLock::new();
    CHECKS.get_or_init(|| {
        let proxies = TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]);
        let origins = OriginCheck::new("https://gate.example.com".into(), &["https://app.example.com".into()]);
        (proxies, origins)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let peer: IpAddr = match pick % 4 {
        0 => [10, 1, 2, 3].into(),
        1 => [203, 0, 113, 7].into(),
        2 => "::1".parse().unwrap(),
        _ => "::ffff:10.9.9.9".parse().unwrap(),
    };
    let trusted = pick % 4 != 1;
    let mut req = TestRequest::default().peer_addr(SocketAddr::new(peer, 40000));
    let mut named: Vec<IpAddr> = Vec::new();
    for (name, value) in HEADERS.iter().zip(rest.split(|&b| b == b'\n')) {
        let Ok(value) = HeaderValue::from_bytes(value) else { continue };
        if *name == "x-forwarded-for" {
            // An entry may carry a port (`192.0.2.7:443`, `[2001:db8::1]:443`).
            named.extend(value.to_str().unwrap_or("").split(',').filter_map(|entry| {
                let entry = entry.trim();
                entry.parse::<IpAddr>().ok().or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
            }));
        }
        req = req.append_header((*name, value));
    }
    let req = req.to_http_request();
    let (proxies, origins) = checks();
    assert_eq!(proxies.peer_is_trusted(&req), trusted);
    let client = proxies.client_ip(&req).unwrap();
    if trusted {
        assert!(client == peer || named.contains(&client), "{client} is neither the peer nor named");
    } else {
        assert_eq!(client, peer);
        assert_eq!(proxies.forwarded(&req, "x-forwarded-host"), None);
        assert_eq!(proxies.original_url(&req), None);
    }
    if let Some(url) = proxies.original_url(&req) {
        let uri = proxies.forwarded(&req, "x-forwarded-uri").or_else(|| proxies.forwarded(&req, "x-original-uri"));
        let uri = uri.unwrap();
        assert!(uri.starts_with('/'));
        assert!(url == uri || url.starts_with("http://") || url.starts_with("https://"), "{url}");
        assert!(url.ends_with(uri));
    }
    let _ = origins.allows(&req);
});
