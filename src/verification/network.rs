//! The network a client address belongs to, for "a sign-in from a network
//! the user has not used lately": an IPv4 /24 or an IPv6 /48 (an IPv4
//! address mapped into IPv6 counts as IPv4).

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::net::IpAddr;

pub fn network_of(ip: IpAddr) -> IpNet {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => IpNet::V4(Ipv4Net::new(v4, 24).map(|net| net.trunc()).unwrap_or_else(|_| Ipv4Net::from(v4))),
        IpAddr::V6(v6) => IpNet::V6(Ipv6Net::new(v6, 48).map(|net| net.trunc()).unwrap_or_else(|_| Ipv6Net::from(v6))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_group_into_slash_24_and_slash_48() {
        let net = |ip: &str| network_of(ip.parse().unwrap()).to_string();
        assert_eq!(net("192.0.2.77"), "192.0.2.0/24");
        assert_eq!(net("::ffff:192.0.2.9"), "192.0.2.0/24");
        assert_eq!(net("2001:db8:abcd:12::1"), "2001:db8:abcd::/48");
        assert_ne!(net("192.0.3.1"), net("192.0.2.1"));
    }
}
