//! The client address of a DoH request that came through a reverse proxy.
//!
//! A request's peer is the proxy; the client is named in `Forwarded` (RFC 7239, `for=`) or, if
//! that header is absent, `X-Forwarded-For`. Those headers are believed only from a peer in
//! `[server] doh-trusted-proxies`, in the spirit of ECS trusted front ends: anyone else could
//! name any address, and the ACL and the ECS decision both use it. Each proxy appends the
//! address it received the request from, so the list is walked from the right, skipping
//! trusted proxies: the first address that is not one is the client. An entry that is not an
//! address (`unknown`, an obfuscated identifier) ends the walk at the last trusted hop.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use ipnet::IpNet;

/// The address the pipeline should see for a request from `peer` carrying `headers`.
pub(crate) fn client_address(
    peer: SocketAddr,
    headers: &HeaderMap,
    trusted: &[IpNet],
) -> SocketAddr {
    let is_trusted = |ip: IpAddr| {
        let ip = ip.to_canonical();
        trusted.iter().any(|net| net.contains(&ip))
    };
    if !is_trusted(peer.ip()) {
        return peer;
    }
    let mut hops = forwarded_for(headers);
    if hops.is_empty() {
        hops = x_forwarded_for(headers);
    }
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(address) = parse_node(hop) else {
            break;
        };
        client = address;
        if !is_trusted(address.ip()) {
            break;
        }
    }
    client
}

/// The `for=` values of every `Forwarded` header, in order.
fn forwarded_for(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(http::header::FORWARDED)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (key, value) = pair.trim().split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| value.trim().trim_matches('"').to_owned())
            })
        })
        .collect()
}

/// The entries of every `X-Forwarded-For` header, in order.
fn x_forwarded_for(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|entry| entry.trim().to_owned())
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:4711`;
/// port 0 where none is given.
fn parse_node(node: &str) -> Option<SocketAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 0));
    }
    if let Ok(address) = node.parse::<SocketAddr>() {
        return Some(address);
    }
    let bracketed = node.strip_prefix('[')?.strip_suffix(']')?;
    bracketed.parse().ok().map(|ip| SocketAddr::new(ip, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().expect("header value"));
        }
        map
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().expect("net")).collect()
    }

    const PROXY: &str = "127.0.0.1:40000";

    fn from(peer: &str, pairs: &[(&'static str, &str)], trusted: &[&str]) -> IpAddr {
        client_address(peer.parse().expect("peer"), &headers(pairs), &nets(trusted)).ip()
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let pairs = [
            ("forwarded", "for=198.51.100.7"),
            ("x-forwarded-for", "198.51.100.8"),
        ];
        assert_eq!(
            from(PROXY, &pairs, &[]),
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            from(PROXY, &pairs, &["10.0.0.0/8"]),
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client_forwarded_first() {
        let trusted = ["127.0.0.0/8"];
        let both = [
            ("forwarded", "for=\"[2001:db8::7]:4711\";proto=https"),
            ("x-forwarded-for", "198.51.100.8"),
        ];
        assert_eq!(
            from(PROXY, &both, &trusted),
            "2001:db8::7".parse::<IpAddr>().unwrap()
        );
        let xff = [("x-forwarded-for", "198.51.100.8, 127.0.0.2")];
        assert_eq!(
            from(PROXY, &xff, &trusted),
            "198.51.100.8".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            from(PROXY, &[], &trusted),
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn the_walk_from_the_right_stops_at_the_first_untrusted_hop() {
        let trusted = ["127.0.0.0/8", "10.0.0.0/8"];
        // A client forging the left-most entry does not get to choose its address.
        let chain = [(
            "forwarded",
            "for=192.0.2.66, for=198.51.100.9:1234, for=10.1.1.1",
        )];
        assert_eq!(
            from(PROXY, &chain, &trusted),
            "198.51.100.9".parse::<IpAddr>().unwrap()
        );
        let obfuscated = [("forwarded", "for=198.51.100.9, for=_hidden, for=10.1.1.1")];
        assert_eq!(
            from(PROXY, &obfuscated, &trusted),
            "10.1.1.1".parse::<IpAddr>().unwrap()
        );
        let split = [
            ("forwarded", "for=198.51.100.9"),
            ("forwarded", "for=10.1.1.1"),
        ];
        assert_eq!(
            from(PROXY, &split, &trusted),
            "198.51.100.9".parse::<IpAddr>().unwrap()
        );
    }
}
