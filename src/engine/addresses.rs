//! Which addresses are not the public internet: the ranges of IANA's special-purpose address
//! registries that are not globally reachable, and the others a health probe must never reach.
//!
//! Sources: IANA IPv4 Special-Purpose Address Registry and IPv6 Special-Purpose Address
//! Registry (<https://www.iana.org/assignments/iana-ipv4-special-registry>,
//! <https://www.iana.org/assignments/iana-ipv6-special-registry>), plus multicast
//! (RFC 5771, RFC 4291) and the deprecated IPv6 site-local (RFC 3879) and IPv4-compatible
//! (RFC 4291 §2.5.5.1) ranges. Addresses that carry an IPv4 address (IPv4-mapped, and NAT64's
//! well-known prefix) are judged by that address.
//! Must not: resolve names or open sockets (`health` does, and asks here for every address).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::LazyLock;

use ipnet::{IpNet, Ipv6Net};

/// Ranges that are never probed, with what they are; the first that holds an address names
/// it, so a range inside another comes first.
pub const SPECIAL_PURPOSE: &[(&str, &str)] = &[
    // IPv4
    ("0.0.0.0/8", "\"this network\" (RFC 791)"),
    ("10.0.0.0/8", "private-use (RFC 1918)"),
    (
        "100.64.0.0/10",
        "shared address space, carrier-grade NAT (RFC 6598)",
    ),
    ("127.0.0.0/8", "loopback (RFC 1122)"),
    ("169.254.0.0/16", "link-local (RFC 3927)"),
    ("172.16.0.0/12", "private-use (RFC 1918)"),
    ("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
    ("192.0.2.0/24", "documentation, TEST-NET-1 (RFC 5737)"),
    (
        "192.88.99.0/24",
        "6to4 relay anycast, deprecated (RFC 7526)",
    ),
    ("192.168.0.0/16", "private-use (RFC 1918)"),
    ("198.18.0.0/15", "benchmarking (RFC 2544)"),
    ("198.51.100.0/24", "documentation, TEST-NET-2 (RFC 5737)"),
    ("203.0.113.0/24", "documentation, TEST-NET-3 (RFC 5737)"),
    ("224.0.0.0/4", "multicast (RFC 5771)"),
    ("255.255.255.255/32", "limited broadcast (RFC 919)"),
    ("240.0.0.0/4", "reserved (RFC 1112)"),
    // IPv6
    (
        "::/96",
        "IPv4-compatible, deprecated (RFC 4291), with loopback and unspecified",
    ),
    (
        "64:ff9b:1::/48",
        "local-use IPv4/IPv6 translation (RFC 8215)",
    ),
    ("100::/64", "discard-only (RFC 6666)"),
    ("100:0:0:1::/64", "dummy IPv6 prefix (RFC 9780)"),
    (
        "2001::/23",
        "IETF protocol assignments, Teredo 2001::/32 among them (RFC 2928, RFC 4380)",
    ),
    ("2001:db8::/32", "documentation (RFC 3849)"),
    ("2002::/16", "6to4 (RFC 3056)"),
    ("3fff::/20", "documentation (RFC 9637)"),
    ("5f00::/16", "segment routing SIDs (RFC 9602)"),
    ("fc00::/7", "unique-local (RFC 4193)"),
    ("fe80::/10", "link-local (RFC 4291)"),
    ("fec0::/10", "site-local, deprecated (RFC 3879)"),
    ("ff00::/8", "multicast (RFC 4291)"),
];

static RANGES: LazyLock<Vec<(IpNet, &'static str)>> = LazyLock::new(|| {
    SPECIAL_PURPOSE
        .iter()
        .map(|(net, name)| (net.parse().expect("a valid range in the table"), *name))
        .collect()
});

/// NAT64's well-known prefix (RFC 6052): the last 32 bits are an IPv4 address.
static NAT64: LazyLock<Ipv6Net> = LazyLock::new(|| "64:ff9b::/96".parse().expect("a valid prefix"));

/// Why `ip` is not a public internet address (the range it falls in), or `None` if it is.
pub fn not_public(ip: IpAddr) -> Option<String> {
    if let IpAddr::V6(v6) = ip {
        if let Some(v4) = v6.to_ipv4_mapped() {
            return not_public(IpAddr::V4(v4)).map(|why| format!("IPv4-mapped {v4}: {why}"));
        }
        if NAT64.contains(&v6) {
            let v4 = Ipv4Addr::from(u32::try_from(u128::from(v6) & 0xffff_ffff).unwrap_or(0));
            return not_public(IpAddr::V4(v4)).map(|why| format!("NAT64 of {v4}: {why}"));
        }
    }
    RANGES
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(net, name)| format!("{net} is {name}"))
}

/// The address of a URL host written as an IP literal (`192.0.2.1`, `[2001:db8::1]`).
pub fn literal(host: &url::Host<&str>) -> Option<IpAddr> {
    match host {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(*v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(*v6)),
        url::Host::Domain(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(text: &str) -> std::net::Ipv6Addr {
        text.parse().unwrap()
    }

    fn refused(ip: &str) -> Option<String> {
        not_public(ip.parse().unwrap())
    }

    #[test]
    fn every_range_in_the_table_is_refused_at_its_edges() {
        for (net, _) in RANGES.iter() {
            for ip in [net.network(), net.broadcast()] {
                assert!(not_public(ip).is_some(), "{ip} in {net}");
            }
        }
    }

    #[test]
    fn the_issue_cases_are_refused_with_their_range() {
        for (ip, range) in [
            ("64:ff9b::7f00:1", "NAT64 of 127.0.0.1"),
            ("64:ff9b::a00:1", "NAT64 of 10.0.0.1"),
            ("64:ff9b:1::1", "local-use IPv4/IPv6"),
            ("2002:7f00:1::1", "6to4"),
            ("2001:0:4136:e378::1", "Teredo"),
            ("::7f00:1", "IPv4-compatible"),
            ("::", "IPv4-compatible"),
            ("::1", "IPv4-compatible"),
            ("fec0::1", "site-local"),
            ("2001:db8::1", "documentation"),
            ("3fff::1", "documentation"),
            ("192.0.2.1", "documentation"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "broadcast"),
            ("::ffff:169.254.169.254", "IPv4-mapped 169.254.169.254"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("ff02::1", "multicast"),
        ] {
            let why = refused(ip).unwrap_or_else(|| panic!("{ip} is refused"));
            assert!(why.contains(range), "{ip}: {why}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "93.184.216.34",
            "140.82.112.3",
            "1.1.1.1",
            "2606:4700::1111",
            "2a00:1450:4001::200e",
            "64:ff9b::5db8:d822",
            "::ffff:93.184.216.34",
        ] {
            assert_eq!(refused(ip), None, "{ip}");
        }
    }

    #[test]
    fn ipv6_literals_in_urls_are_addresses_not_names() {
        let url = url::Url::parse("https://[2001:db8::1]:8443/health").unwrap();
        assert_eq!(
            literal(&url.host().unwrap()),
            Some(IpAddr::V6(v6("2001:db8::1")))
        );
        let url = url::Url::parse("https://status.example.com/").unwrap();
        assert_eq!(literal(&url.host().unwrap()), None);
    }
}
