//! The client's address, for throttling sign-ins: the TCP peer, or — only when the
//! peer is a configured proxy — the address that proxy reports in
//! `X-Forwarded-For`. The header is never believed from anyone else: a client could
//! put any address there.
use axum::http::HeaderMap;
use std::net::IpAddr;
use std::str::FromStr;

/// An address range: `10.0.0.0/8`, `2001:db8::/32`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| format!("{s:?} is not an IP address or range"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: bad prefix length"))?,
            None => max,
        };
        Ok(Self { addr, prefix })
    }
}

impl IpNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// IPv4 clients of a dual-stack socket arrive as `::ffff:a.b.c.d`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// `10.0.0.0/8, 192.168.1.5` → ranges.
pub fn parse_list(s: &str) -> Result<Vec<IpNet>, String> {
    s.split(',').filter(|p| !p.trim().is_empty()).map(IpNet::from_str).collect()
}

/// The client: the peer, unless the peer is a trusted proxy; then the last address
/// in `X-Forwarded-For` that is not itself a trusted proxy (proxies append, so
/// earlier entries are whatever the client claimed).
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    if !trusted.iter().any(|t| t.contains(peer)) {
        return peer;
    }
    let mut client = peer;
    let forwarded = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
    let hops: Vec<&str> = forwarded.flat_map(|v| v.split(',')).map(str::trim).collect();
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>().map(canonical) else { break };
        client = ip;
        if !trusted.iter().any(|t| t.contains(ip)) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().expect("header"));
        h
    }

    #[test]
    fn ranges_match_by_prefix() {
        let net: IpNet = "10.1.0.0/16".parse().expect("net");
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")), "IPv4-mapped");
        let one: IpNet = "2001:db8::1".parse().expect("net");
        assert!(one.contains(ip("2001:db8::1")) && !one.contains(ip("2001:db8::2")));
        assert!("0.0.0.0/0".parse::<IpNet>().expect("all").contains(ip("8.8.8.8")));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!(parse_list("nonsense").is_err());
        assert_eq!(parse_list("").expect("empty"), vec![]);
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_proxy() {
        let trusted = parse_list("10.0.0.0/8").expect("list");
        // Not from a proxy: whatever the header says.
        assert_eq!(client_address(ip("203.0.113.9"), &headers("1.2.3.4"), &trusted), ip("203.0.113.9"));
        // From the proxy: the last hop it appended, not what the client claimed first.
        let h = headers("6.6.6.6, 198.51.100.7");
        assert_eq!(client_address(ip("10.0.0.2"), &h, &trusted), ip("198.51.100.7"));
        // Through two proxies of ours.
        let h = headers("6.6.6.6, 198.51.100.7, 10.0.0.3");
        assert_eq!(client_address(ip("10.0.0.2"), &h, &trusted), ip("198.51.100.7"));
        // Garbage stops the walk: the proxy itself is the client.
        assert_eq!(client_address(ip("10.0.0.2"), &headers("nonsense"), &trusted), ip("10.0.0.2"));
        assert_eq!(client_address(ip("10.0.0.2"), &headers("1.1.1.1"), &[]), ip("10.0.0.2"), "none trusted");
    }
}
