//! Addresses a cell may call on a user's behalf (webhook URLs, enrichment lookups): only
//! globally routable ones, so a URL cannot reach the cell's own network, its cloud's metadata
//! service or a loopback port.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Whether `ip` is globally routable unicast: not private, loopback, link-local (the cloud
/// metadata service at 169.254.169.254), CGNAT, documentation, benchmarking, multicast or
/// reserved space (IPv6: inside `2000::/3`, outside `2001:db8::/32`; an IPv4-mapped address is
/// judged as its IPv4 address).
pub fn is_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_documentation()
        || ip.is_multicast()
        || ip.is_broadcast()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (b == 18 || b == 19))
        || (a == 192 && b == 0 && c == 0))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let [first, second, ..] = ip.segments();
    (first & 0xe000) == 0x2000 && !(first == 0x2001 && second == 0x0db8)
}

/// `Ok` when every address `host` names is public (an IP literal is judged as it is); the
/// reason otherwise. A name with any non-public address is refused: one that answers both is a
/// rebinding attempt or a misconfiguration.
pub fn check_addresses(host: &str, addrs: &[SocketAddr]) -> Result<(), String> {
    if addrs.is_empty() {
        return Err(format!("`{host}` does not resolve to any address"));
    }
    match addrs.iter().find(|a| !is_public(a.ip())) {
        Some(a) => Err(format!(
            "`{host}` resolves to {}, which is not a public address",
            a.ip()
        )),
        None => Ok(()),
    }
}

/// Resolves `url`'s host and checks its addresses with [`check_addresses`].
pub async fn check_public(url: &url::Url) -> Result<(), String> {
    match url.host() {
        Some(url::Host::Domain(name)) => {
            let addrs = resolve(name, url.port_or_known_default().unwrap_or(443)).await?;
            check_addresses(name, &addrs)
        }
        _ => check_literal(url),
    }
}

/// Checks `url`'s host when it is an IP address (a name is left to the resolver that connects:
/// an HTTP client's, as webhooks' checks each address it answers).
pub fn check_literal(url: &url::Url) -> Result<(), String> {
    let ip = match url.host() {
        None => return Err("the URL has no host".into()),
        Some(url::Host::Domain(_)) => return Ok(()),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
    };
    check_addresses(&ip.to_string(), &[SocketAddr::new(ip, 0)])
}

/// The addresses of `name` (the system's resolver), waiting at most five seconds.
pub async fn resolve(name: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let lookup = tokio::net::lookup_host((name, port));
    match tokio::time::timeout(std::time::Duration::from_secs(5), lookup).await {
        Ok(Ok(addrs)) => Ok(addrs.collect()),
        Ok(Err(e)) => Err(format!("`{name}` does not resolve: {e}")),
        Err(_) => Err(format!("`{name}` did not resolve within 5 seconds")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "::ffff:127.0.0.1",
            "2001:db8::1",
        ] {
            let ip: IpAddr = ip.parse().expect("an address");
            assert!(!is_public(ip), "{ip} must not count as public");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8"] {
            let ip: IpAddr = ip.parse().expect("an address");
            assert!(is_public(ip), "{ip} is public");
        }
    }

    #[tokio::test]
    async fn urls_reaching_the_cells_network_are_refused() {
        for url in [
            "http://127.0.0.1:8080/x",
            "http://10.0.0.5/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]:9000/",
            "http://localhost:8080/",
        ] {
            let url = url::Url::parse(url).expect("a URL");
            let refused = check_public(&url).await;
            assert!(refused.is_err(), "{url} must be refused");
        }
        let public = url::Url::parse("https://93.184.216.34/hook").expect("a URL");
        assert_eq!(check_public(&public).await, Ok(()));
    }
}
