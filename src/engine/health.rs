//! Health probes: one GET of an environment's `health.url`, under DESIGN.md §7's rules — https
//! only, and never a private, loopback, link-local or otherwise internal address (checked on
//! every address the name resolves to, and the connection pinned to the checked address so a
//! second lookup cannot swap it) — unless the operator sets
//! `SHIPGATE_ALLOW_PRIVATE_HEALTH_URLS=true`. Redirects are not followed.
//!
//! Must not: decide what a failed probe means (the core counts them).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use url::Url;

/// One probe's outcome, as evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutcome {
    pub ok: bool,
    pub status: Option<u16>,
    pub latency_ms: u64,
    /// Why it failed (timeout, connection refused, …).
    pub error: Option<String>,
    /// The URL is not allowed at all (the SSRF rules): the stage fails at once.
    pub refused: Option<String>,
}

const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Prober {
    pub allow_private: bool,
}

/// Whether an address is internal: loopback, private, link-local, carrier-grade NAT,
/// unspecified, broadcast, documentation, or IPv6 unique-local / link-local (and IPv4
/// addresses mapped into IPv6).
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || v6 == Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0)
        }
    }
}

fn is_internal_v4(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT 100.64/10
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18/15
}

/// Checks a URL and the addresses its host resolved to against the rules.
pub fn check_target(url: &Url, addrs: &[SocketAddr], allow_private: bool) -> Result<(), String> {
    if allow_private {
        return match url.scheme() {
            "https" | "http" => Ok(()),
            other => Err(format!("`{other}` URLs are not probed")),
        };
    }
    if url.scheme() != "https" {
        return Err("health URLs must be https".into());
    }
    if addrs.is_empty() {
        return Err("the host does not resolve".into());
    }
    if let Some(bad) = addrs.iter().find(|a| is_internal(a.ip())) {
        return Err(format!(
            "{} is an internal address (set SHIPGATE_ALLOW_PRIVATE_HEALTH_URLS=true to allow it)",
            bad.ip()
        ));
    }
    Ok(())
}

impl Prober {
    pub async fn probe(&self, raw: &str) -> ProbeOutcome {
        let refused = |why: String| ProbeOutcome {
            ok: false,
            status: None,
            latency_ms: 0,
            error: None,
            refused: Some(why),
        };
        let Ok(url) = Url::parse(raw) else {
            return refused("not a valid URL".into());
        };
        let Some(host) = url.host_str().map(str::to_owned) else {
            return refused("the URL has no host".into());
        };
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host.as_str(), port)).await {
            Ok(a) => a.collect(),
            Err(e) => {
                return ProbeOutcome {
                    ok: false,
                    status: None,
                    latency_ms: 0,
                    error: Some(format!("cannot resolve {host}: {e}")),
                    refused: None,
                };
            }
        };
        if let Err(why) = check_target(&url, &addrs, self.allow_private) {
            return refused(why);
        }
        // Connect to the address that was checked, not to a second lookup's answer.
        let client = match reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROBE_TIMEOUT)
            .resolve(&host, addrs[0])
            .user_agent("shipgate-health-probe")
            .build()
        {
            Ok(c) => c,
            Err(e) => return refused(format!("cannot build an HTTP client: {e}")),
        };
        let started = Instant::now();
        let answer = client.get(url).send().await;
        let latency_ms = started.elapsed().as_millis() as u64;
        match answer {
            Ok(response) => {
                let status = response.status();
                ProbeOutcome {
                    ok: status.is_success(),
                    status: Some(status.as_u16()),
                    latency_ms,
                    error: (!status.is_success()).then(|| format!("answered {status}")),
                    refused: None,
                }
            }
            Err(e) => ProbeOutcome {
                ok: false,
                status: None,
                latency_ms,
                error: Some(if e.is_timeout() {
                    format!("no answer within {} s", PROBE_TIMEOUT.as_secs())
                } else {
                    "could not connect".into()
                }),
                refused: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 443)
    }

    #[test]
    fn internal_addresses_are_refused_unless_allowed() {
        let url = Url::parse("https://status.example.com/health").unwrap();
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(check_target(&url, &[addr(ip)], false).is_err(), "{ip}");
            assert!(
                check_target(&url, &[addr(ip)], true).is_ok(),
                "{ip} when allowed"
            );
        }
        assert!(check_target(&url, &[addr("93.184.216.34")], false).is_ok());
        // One internal answer among public ones is enough to refuse.
        assert!(check_target(&url, &[addr("93.184.216.34"), addr("10.0.0.1")], false).is_err());
    }

    #[test]
    fn only_https_unless_allowed() {
        let url = Url::parse("http://status.example.com/health").unwrap();
        let err = check_target(&url, &[addr("93.184.216.34")], false).unwrap_err();
        assert!(err.contains("https"));
        assert!(check_target(&url, &[addr("93.184.216.34")], true).is_ok());
        let ftp = Url::parse("ftp://status.example.com/").unwrap();
        assert!(check_target(&ftp, &[addr("93.184.216.34")], true).is_err());
    }
}
