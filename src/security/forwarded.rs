//! `X-Forwarded-*` headers, believed only from configured proxy addresses.

use actix_web::HttpRequest;
use ipnet::IpNet;
use std::net::IpAddr;

#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> TrustedProxies {
        TrustedProxies { nets }
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

    /// The client's address: the peer, or, when the peer is a trusted proxy,
    /// the right-most address in `X-Forwarded-For` that is not itself a
    /// trusted proxy.
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        if !self.trusts(peer) {
            return Some(peer);
        }
        let forwarded: Vec<IpAddr> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map_while(|part| part.trim().parse::<IpAddr>().ok())
            .collect();
        Some(forwarded.into_iter().rev().find(|ip| !self.trusts(*ip)).unwrap_or(peer))
    }

    /// A forwarded header's value, only when the peer is trusted.
    pub fn forwarded<'r>(&self, req: &'r HttpRequest, name: &str) -> Option<&'r str> {
        if !self.peer_is_trusted(req) {
            return None;
        }
        req.headers().get(name).and_then(|v| v.to_str().ok())
    }
}

impl TrustedProxies {
    /// The URL the client originally asked the proxy for, from
    /// `X-Forwarded-Proto/Host/Uri` or `X-Original-URI`, when the peer is a
    /// trusted proxy. A path alone when the proxy names no host.
    pub fn original_url(&self, req: &HttpRequest) -> Option<String> {
        let uri = self.forwarded(req, "x-forwarded-uri").or_else(|| self.forwarded(req, "x-original-uri"))?;
        if !uri.starts_with('/') {
            return None;
        }
        let proto = self.forwarded(req, "x-forwarded-proto").filter(|p| matches!(*p, "http" | "https"));
        match (proto, self.forwarded(req, "x-forwarded-host")) {
            (Some(proto), Some(host)) => Some(format!("{proto}://{host}{uri}")),
            _ => Some(uri.to_owned()),
        }
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
}
