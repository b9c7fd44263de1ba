//! `X-Forwarded-*` headers, believed only from configured proxy addresses.
//!
//! `X-Forwarded-For` is read from the right, the end the proxies appended
//! to: trusted proxies are skipped, and the first entry that is not one is
//! the client. An entry that does not parse stops the walk too: whoever
//! wrote it is not a proxy we trust, so the client is the last address
//! before it that a trusted proxy vouched for (the peer, if none). Nothing
//! to the left of it, which the client may have written, is believed.

use crate::policy::{Host, Target};
use actix_web::HttpRequest;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    /// Set once the "forwarded headers not believed" warning was logged.
    warned_untrusted: Arc<AtomicBool>,
}

/// One `X-Forwarded-For` entry: an address, or an address with a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:4711`), as some proxies write it.
fn forwarded_for_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry.parse::<IpAddr>().ok().or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> TrustedProxies {
        TrustedProxies { nets, warned_untrusted: Arc::default() }
    }

    pub fn trusts(&self, addr: IpAddr) -> bool {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
            v4 => v4,
        };
        self.nets.iter().any(|net| net.contains(&addr))
    }

    /// Whether the direct peer is a trusted proxy.
    pub fn peer_is_trusted(&self, req: &HttpRequest) -> bool {
        req.peer_addr().is_some_and(|peer| self.trusts(peer.ip()))
    }

    /// The client's address: the peer, or, when the peer is a trusted
    /// proxy, what `X-Forwarded-For` says read from the right (see the
    /// module's comment).
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        if !self.trusts(peer) {
            return Some(peer);
        }
        let values: Vec<&str> =
            req.headers().get_all("x-forwarded-for").map(|v| v.to_str().unwrap_or("<unreadable>")).collect();
        Some(self.client_from_forwarded_for(peer, &values))
    }

    /// The client behind the trusted `peer`, from the `X-Forwarded-For`
    /// values in the order they came (several header lines are one list).
    fn client_from_forwarded_for(&self, peer: IpAddr, values: &[&str]) -> IpAddr {
        let mut client = peer;
        for entry in values.iter().rev().flat_map(|value| value.rsplit(',')) {
            let Some(address) = forwarded_for_entry(entry) else { break };
            client = address;
            if !self.trusts(address) {
                break;
            }
        }
        client
    }

    /// A forwarded header's value, only when the peer is trusted.
    pub fn forwarded<'r>(&self, req: &'r HttpRequest, name: &str) -> Option<&'r str> {
        if !self.peer_is_trusted(req) {
            return None;
        }
        req.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// The host and path a policy judges: `X-Forwarded-Host` and
    /// `X-Forwarded-Uri` (or `X-Original-URI`) from a trusted proxy, read as
    /// bytes so that nothing unreadable goes missing; several
    /// `X-Forwarded-Host` lines are a malformed host. From any other peer,
    /// nothing; when the rules need a host or path (`rules_need_it`), that
    /// is logged once, as it usually means `server.trusted_proxies` lacks
    /// the proxy's address. Costs a relaxed load per request after that.
    pub fn policy_target<'r>(&self, req: &'r HttpRequest, rules_need_it: bool) -> Target<'r> {
        if !self.peer_is_trusted(req) {
            if rules_need_it && !self.warned_untrusted.load(Ordering::Relaxed) {
                self.warn_untrusted_once(req);
            }
            return Target::default();
        }
        let headers = req.headers();
        let mut hosts = headers.get_all("x-forwarded-host");
        let host = match (hosts.next(), hosts.next()) {
            (Some(_), Some(_)) => Some(&b"<several>"[..]),
            (one, _) => one.map(|v| v.as_bytes()),
        };
        let uri = headers.get("x-forwarded-uri").or_else(|| headers.get("x-original-uri")).map(|v| v.as_bytes());
        Target::from_bytes(host, uri)
    }

    #[cold]
    fn warn_untrusted_once(&self, req: &HttpRequest) {
        if !self.warned_untrusted.swap(true, Ordering::Relaxed) {
            let peer = req.peer_addr().map(|p| p.ip());
            tracing::warn!(
                peer = ?peer,
                "X-Forwarded-Host/-Uri from a peer not in server.trusted_proxies are ignored: policy rules that \
                 name hosts or paths match nothing there, so policy.default decides (logged once)"
            );
        }
    }
}

impl TrustedProxies {
    /// The URL the client originally asked the proxy for, from
    /// `X-Forwarded-Proto/Host/Uri` or `X-Original-URI`, when the peer is a
    /// trusted proxy. A path alone when the proxy names no host, or one
    /// that does not parse as a host ([`Host::parse`]).
    pub fn original_url(&self, req: &HttpRequest) -> Option<String> {
        let uri = self.forwarded(req, "x-forwarded-uri").or_else(|| self.forwarded(req, "x-original-uri"))?;
        let proto = self.forwarded(req, "x-forwarded-proto");
        let host = self.forwarded(req, "x-forwarded-host");
        original_url_from(proto, host, uri)
    }
}

/// [`TrustedProxies::original_url`] from the header values.
fn original_url_from(proto: Option<&str>, host: Option<&str>, uri: &str) -> Option<String> {
    if !uri.starts_with('/') {
        return None;
    }
    let proto = proto.filter(|p| matches!(*p, "http" | "https"));
    let host = host.map(str::trim).filter(|host| matches!(Host::parse(host), Host::Name(_)));
    match (proto, host) {
        (Some(proto), Some(host)) => Some(format!("{proto}://{host}{uri}")),
        _ => Some(uri.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn proxies() -> TrustedProxies {
        TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap()])
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_peers() {
        let from_proxy = TestRequest::default()
            .peer_addr("10.1.2.3:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.0.0.7"))
            .to_http_request();
        assert_eq!(proxies().client_ip(&from_proxy), Some("203.0.113.9".parse().unwrap()));

        let direct = TestRequest::default()
            .peer_addr("198.51.100.4:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "1.1.1.1"))
            .insert_header(("x-forwarded-host", "evil.example"))
            .to_http_request();
        assert_eq!(proxies().client_ip(&direct), Some("198.51.100.4".parse().unwrap()));
        assert_eq!(proxies().forwarded(&direct, "x-forwarded-host"), None);
    }

    #[test]
    fn the_original_url_comes_only_from_trusted_proxies() {
        let from_proxy = TestRequest::default()
            .peer_addr("10.1.2.3:5000".parse().unwrap())
            .insert_header(("x-forwarded-proto", "https"))
            .insert_header(("x-forwarded-host", "app.example.com"))
            .insert_header(("x-forwarded-uri", "/a?b=c&d=e"))
            .to_http_request();
        assert_eq!(proxies().original_url(&from_proxy).as_deref(), Some("https://app.example.com/a?b=c&d=e"));
        let path_only = TestRequest::default()
            .peer_addr("10.1.2.3:5000".parse().unwrap())
            .insert_header(("x-original-uri", "/x"))
            .to_http_request();
        assert_eq!(proxies().original_url(&path_only).as_deref(), Some("/x"));
        let direct = TestRequest::default()
            .peer_addr("198.51.100.4:5000".parse().unwrap())
            .insert_header(("x-original-uri", "/x"))
            .to_http_request();
        assert_eq!(proxies().original_url(&direct), None);
    }

    fn from_proxy_with_forwarded_for(values: &[&str]) -> HttpRequest {
        let mut req = TestRequest::default().peer_addr("10.1.2.3:5000".parse().unwrap());
        for value in values {
            req = req.append_header(("x-forwarded-for", *value));
        }
        req.to_http_request()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_read_from_the_right_and_stops_at_what_does_not_parse() {
        let client = |values: &[&str]| proxies().client_ip(&from_proxy_with_forwarded_for(values)).unwrap();
        // An appending proxy put 203.0.113.5 after what the client wrote.
        assert_eq!(client(&["192.0.2.7, x, 203.0.113.5"]), ip("203.0.113.5"));
        assert_eq!(client(&["192.0.2.7, x"]), ip("10.1.2.3"), "the peer wrote x's right neighbour: nobody");
        assert_eq!(client(&["192.0.2.7, x, 10.0.0.9"]), ip("10.0.0.9"), "the last trusted hop vouched for");
        assert_eq!(client(&["192.0.2.7,,203.0.113.5"]), ip("203.0.113.5"));
        assert_eq!(client(&["192.0.2.7, 203.0.113.5, 10.0.0.9"]), ip("203.0.113.5"));
        assert_eq!(client(&["192.0.2.7", "203.0.113.5"]), ip("203.0.113.5"), "several lines are one list");
        assert_eq!(client(&["203.0.113.5:4711, 10.0.0.9"]), ip("203.0.113.5"), "with a port");
        assert_eq!(client(&["[2001:db8::5]:4711"]), ip("2001:db8::5"));
        assert_eq!(client(&["10.0.0.8, 10.0.0.9"]), ip("10.0.0.8"), "only proxies: the first of them");
        assert_eq!(client(&[]), ip("10.1.2.3"));
        assert_eq!(client(&[""]), ip("10.1.2.3"));
    }

    #[test]
    fn the_policy_target_comes_only_from_trusted_proxies_and_keeps_what_it_cannot_read() {
        let proxies = proxies();
        let from_proxy = TestRequest::default()
            .peer_addr("10.1.2.3:5000".parse().unwrap())
            .insert_header(("x-forwarded-host", "App.Example.com:443"))
            .insert_header(("x-original-uri", "/Admin"))
            .to_http_request();
        let target = proxies.policy_target(&from_proxy, true);
        assert_eq!(target.host, Some(Host::Name("app.example.com".into())));
        assert_eq!(target.path.as_deref(), Some("/admin"));

        let unreadable = TestRequest::default()
            .peer_addr("10.1.2.3:5000".parse().unwrap())
            .insert_header(("x-forwarded-host", actix_web::http::header::HeaderValue::from_bytes(b"app\xff").unwrap()))
            .insert_header((
                "x-forwarded-uri",
                actix_web::http::header::HeaderValue::from_bytes(b"/admin/\xff").unwrap(),
            ))
            .to_http_request();
        let target = proxies.policy_target(&unreadable, true);
        assert!(matches!(target.host, Some(Host::Malformed(_))), "{target:?}");
        assert_eq!(target.path.as_deref(), Some("/admin/\u{fffd}"));

        let two_hosts = TestRequest::default()
            .peer_addr("10.1.2.3:5000".parse().unwrap())
            .append_header(("x-forwarded-host", "app.example.com"))
            .append_header(("x-forwarded-host", "public.example.com"))
            .to_http_request();
        assert!(matches!(proxies.policy_target(&two_hosts, true).host, Some(Host::Malformed(_))));

        let direct = TestRequest::default()
            .peer_addr("198.51.100.4:5000".parse().unwrap())
            .insert_header(("x-forwarded-host", "app.example.com"))
            .insert_header(("x-forwarded-uri", "/public"))
            .to_http_request();
        assert!(!proxies.warned_untrusted.load(Ordering::Relaxed));
        assert_eq!(proxies.policy_target(&direct, false), Target::default());
        assert!(!proxies.warned_untrusted.load(Ordering::Relaxed), "no rule needs a target: nothing to warn of");
        assert_eq!(proxies.policy_target(&direct, true), Target::default());
        assert!(proxies.warned_untrusted.load(Ordering::Relaxed), "warned");
    }

    #[test]
    fn an_original_url_with_a_malformed_host_keeps_only_its_path() {
        assert_eq!(
            original_url_from(Some("https"), Some("app.example.com:8443"), "/a").as_deref(),
            Some("https://app.example.com:8443/a")
        );
        for host in ["app.example.com:abc", "evil.example/x?", "a@evil.example", "app.example.com, evil.example", ""] {
            assert_eq!(original_url_from(Some("https"), Some(host), "/a").as_deref(), Some("/a"), "{host:?}");
        }
        assert_eq!(original_url_from(Some("javascript"), Some("app.example.com"), "/a").as_deref(), Some("/a"));
        assert_eq!(original_url_from(Some("https"), Some("app.example.com"), "a"), None);
    }

    /// An `X-Forwarded-For` entry: addresses (trusted or not, with ports or
    /// not) and junk.
    fn entry() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            (0u8..4, any::<u8>()).prop_map(|(net, host)| match net {
                0 => format!("10.0.0.{host}"),
                1 => format!("203.0.113.{host}"),
                2 => format!("198.51.100.{host}:{}", u16::from(host) * 7),
                _ => format!("[2001:db8::{host:x}]"),
            }),
            Just("::ffff:10.0.0.1".to_owned()),
            Just("unknown".to_owned()),
            Just(String::new()),
            "[ -~]{0,12}",
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(2000))]

        /// The client is the peer or an entry of the header, every entry to
        /// its right parses and is a trusted proxy, and it is itself either
        /// untrusted, the left-most entry, or next to one that does not parse.
        #[test]
        fn forwarded_for_never_believes_what_a_trusted_proxy_did_not_vouch_for(
            lines in proptest::collection::vec(proptest::collection::vec(entry(), 0..5), 0..3)
        ) {
            let values: Vec<String> = lines.iter().map(|line| line.join(", ")).collect();
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            let peer = ip("10.1.2.3");
            let proxies = proxies();
            let client = proxies.client_from_forwarded_for(peer, &refs);
            let entries: Vec<&str> = refs.iter().flat_map(|v| v.split(',')).map(str::trim).collect();
            let parsed: Vec<Option<IpAddr>> = entries.iter().map(|e| forwarded_for_entry(e)).collect();
            // How many entries, from the right, a trusted proxy vouched for.
            let vouched = parsed.iter().rev().take_while(|p| p.is_some_and(|a| proxies.trusts(a))).count();
            let believed = parsed.iter().rev().take(vouched + 1).filter_map(|p| *p).next_back();
            let expected = if vouched == parsed.len() {
                parsed.first().copied().flatten().unwrap_or(peer)
            } else {
                believed.unwrap_or(peer)
            };
            proptest::prop_assert_eq!(client, expected, "{:?}", refs);
            // The same, through a request.
            let req = from_proxy_with_forwarded_for(&refs);
            proptest::prop_assert_eq!(proxies.client_ip(&req), Some(client));
        }

        /// An original URL is the path as given, or `http(s)://` + a host
        /// that parses + the path; never anything else.
        #[test]
        fn original_urls_hold_only_hosts_that_parse(
            proto in proptest::option::of("(https?|ftp|)"),
            host in proptest::option::of("[a-zA-Z0-9.:@/?#\\[\\] ,_-]{0,20}"),
            uri in "/?[ -~]{0,16}",
        ) {
            match original_url_from(proto.as_deref(), host.as_deref(), &uri) {
                None => proptest::prop_assert!(!uri.starts_with('/')),
                Some(url) if url == uri => {}
                Some(url) => {
                    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
                    let authority = rest.and_then(|r| r.strip_suffix(uri.as_str()));
                    proptest::prop_assert!(authority.is_some(), "{:?}", url);
                    let authority = authority.unwrap_or_default();
                    proptest::prop_assert!(Host::parse(authority).name().is_some(), "{:?}", url);
                    proptest::prop_assert_eq!(Some(authority), host.as_deref().map(str::trim));
                }
            }
        }
    }
}
