//! Who is asking: the client address of a request, as rate limits and logs see it.
//!
//! The address is the TCP peer's. Behind a reverse proxy every request would come from the
//! proxy, so when the peer is one of [`TrustedProxies`] the client is the rightmost
//! `X-Forwarded-For` entry that is not itself a trusted proxy (entries further left were
//! written by the client and prove nothing).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The reverse proxies whose `X-Forwarded-For` is believed (`AMITY_TRUSTED_PROXIES`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// No proxy is trusted: the peer is the client.
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether `ip` is one of them.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// Comma-separated IP addresses and CIDR ranges, e.g. `10.0.0.0/8, ::1`; empty for none.
    fn from_str(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("\"{item}\" is neither an IP address nor a CIDR range"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

/// The client of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddress(IpAddr);

impl ClientAddress {
    /// The client of a request from `peer` with these headers.
    pub fn of(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> Self {
        let peer = canonical(peer);
        if !trusted.contains(peer) {
            return Self(peer);
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        let mut client = peer;
        for hop in hops.iter().rev() {
            match parse_hop(hop) {
                Some(ip) => {
                    client = ip;
                    if !trusted.contains(ip) {
                        break;
                    }
                }
                // Garbage from whoever is to the left of the last trusted hop: that hop's
                // own peer is all that is known.
                None => break,
            }
        }
        Self(client)
    }

    /// A client at `ip` (tests, and requests that did not come over TCP).
    pub fn from_ip(ip: IpAddr) -> Self {
        Self(canonical(ip))
    }

    /// The address.
    pub fn ip(&self) -> IpAddr {
        self.0
    }

    /// What rate limits count per: the IPv4 address, or the IPv6 /64 (one subscriber's
    /// network, which can hand itself any of its 2^64 addresses).
    pub fn rate_key(&self) -> IpAddr {
        match self.0 {
            IpAddr::V4(_) => self.0,
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        }
    }
}

impl fmt::Display for ClientAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An IPv4 address written as IPv6 (`::ffff:1.2.3.4`) is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:80`, `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in xff {
            map.append(
                "x-forwarded-for",
                HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static("")),
            );
        }
        map
    }

    #[test]
    fn the_peer_is_the_client_unless_it_is_a_trusted_proxy() {
        let trusted: TrustedProxies = "10.0.0.0/8, 192.168.1.1".parse().unwrap_or_default();
        let spoofed = headers(&["1.1.1.1"]);
        assert_eq!(
            ClientAddress::of(ip("8.8.8.8"), &spoofed, &trusted).ip(),
            ip("8.8.8.8")
        );
        assert_eq!(
            ClientAddress::of(ip("8.8.8.8"), &spoofed, &TrustedProxies::none()).ip(),
            ip("8.8.8.8")
        );
        // Behind two trusted proxies, the rightmost untrusted entry; left of it is the
        // client's own claim.
        let chain = headers(&["6.6.6.6, 7.7.7.7", "192.168.1.1"]);
        assert_eq!(
            ClientAddress::of(ip("10.1.2.3"), &chain, &trusted).ip(),
            ip("7.7.7.7")
        );
        // No header: the proxy itself.
        assert_eq!(
            ClientAddress::of(ip("10.1.2.3"), &HeaderMap::new(), &trusted).ip(),
            ip("10.1.2.3")
        );
        // Garbage stops the walk at the last trusted hop.
        let garbage = headers(&["nonsense, 10.9.9.9"]);
        assert_eq!(
            ClientAddress::of(ip("10.1.2.3"), &garbage, &trusted).ip(),
            ip("10.9.9.9")
        );
        // Ports and IPv4-mapped IPv6.
        let ported = headers(&["[2001:db8::1]:443"]);
        assert_eq!(
            ClientAddress::of(ip("10.1.2.3"), &ported, &trusted).ip(),
            ip("2001:db8::1")
        );
        assert_eq!(
            ClientAddress::of(ip("::ffff:10.1.2.3"), &headers(&["5.5.5.5:1234"]), &trusted).ip(),
            ip("5.5.5.5")
        );
    }

    #[test]
    fn proxy_lists_are_parsed_strictly() {
        assert!("".parse::<TrustedProxies>().is_ok_and(|t| t.is_empty()));
        assert!("10.0.0.0/8,::1".parse::<TrustedProxies>().is_ok());
        let err = "10.0.0.0/8, proxy.local"
            .parse::<TrustedProxies>()
            .unwrap_err();
        assert!(err.contains("proxy.local"), "{err}");
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        let a = ClientAddress::from_ip(ip("2001:db8:1:2:aaaa::1"));
        let b = ClientAddress::from_ip(ip("2001:db8:1:2:bbbb::2"));
        let c = ClientAddress::from_ip(ip("2001:db8:1:3::1"));
        assert_eq!(a.rate_key(), b.rate_key());
        assert_ne!(a.rate_key(), c.rate_key());
        let v4 = ClientAddress::from_ip(ip("1.2.3.4"));
        assert_eq!(v4.rate_key(), ip("1.2.3.4"));
    }
}
