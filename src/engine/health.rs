//! Health probes: one GET of an environment's `health.url`, under DESIGN.md §7's rules — https
//! only, and only to public internet addresses (`addresses`): an IP literal is checked as it
//! is written, a name on every address it resolves to, inside the probe client's own resolver,
//! so the address checked is the address connected to and no later lookup can swap it. One
//! pooled client, no proxy (a proxy from the environment would connect on shipgate's behalf,
//! unchecked), redirects not followed. `SHIPGATE_ALLOW_PRIVATE_HEALTH_URLS=true` lifts the
//! address and scheme rules (private networks, tests).
//!
//! Must not: decide what a failed probe means (the core counts them).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

use super::addresses::{literal, not_public};

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

/// Probes health URLs through one pooled client.
pub struct Prober {
    allow_private: bool,
    client: reqwest::Client,
}

/// A name that resolves to an address that is not public; found again in the error chain.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct NotPublic(String);

/// The probe client's resolver: the system's answers, refused whole if any is not public.
struct PublicOnly {
    allow_private: bool,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_private {
                check_addresses(&addrs).map_err(NotPublic)?;
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

fn internal(ip: std::net::IpAddr, why: &str) -> String {
    format!(
        "{ip} is an internal address ({why}); set SHIPGATE_ALLOW_PRIVATE_HEALTH_URLS=true to allow it"
    )
}

/// Refuses the whole answer if one address in it is not public: the client may try any.
pub fn check_addresses(addrs: &[SocketAddr]) -> Result<(), String> {
    match addrs
        .iter()
        .find_map(|a| Some((a.ip(), not_public(a.ip())?)))
    {
        Some((ip, why)) => Err(internal(ip, &why)),
        None => Ok(()),
    }
}

/// Checks what can be checked before connecting: the scheme, and a host written as an IP.
pub fn check_url(url: &Url, allow_private: bool) -> Result<(), String> {
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        "http" => return Err("health URLs must be https".into()),
        other => return Err(format!("`{other}` URLs are not probed")),
    }
    let Some(host) = url.host() else {
        return Err("the URL has no host".into());
    };
    if let Some(ip) = literal(&host)
        && !allow_private
        && let Some(why) = not_public(ip)
    {
        return Err(internal(ip, &why));
    }
    Ok(())
}

impl Prober {
    /// The prober and its client. Fails only if the TLS back end cannot start.
    pub fn new(allow_private: bool) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROBE_TIMEOUT)
            .no_proxy()
            .dns_resolver(Arc::new(PublicOnly { allow_private }))
            .user_agent("shipgate-health-probe")
            .build()?;
        Ok(Self {
            allow_private,
            client,
        })
    }

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
        if let Err(why) = check_url(&url, self.allow_private) {
            return refused(why);
        }
        let started = Instant::now();
        let answer = self.client.get(url).send().await;
        let latency_ms = started.elapsed().as_millis() as u64;
        let e = match answer {
            Ok(response) => {
                let status = response.status();
                return ProbeOutcome {
                    ok: status.is_success(),
                    status: Some(status.as_u16()),
                    latency_ms,
                    error: (!status.is_success()).then(|| format!("answered {status}")),
                    refused: None,
                };
            }
            Err(e) => e,
        };
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(c) = cause {
            if let Some(NotPublic(why)) = c.downcast_ref::<NotPublic>() {
                return refused(why.clone());
            }
            cause = c.source();
        }
        ProbeOutcome {
            ok: false,
            status: None,
            latency_ms,
            error: Some(if e.is_timeout() {
                format!("no answer within {} s", PROBE_TIMEOUT.as_secs())
            } else if e.is_connect() {
                "could not connect (or the host does not resolve)".into()
            } else {
                "the request failed".into()
            }),
            refused: None,
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
    fn one_internal_answer_among_public_ones_is_enough_to_refuse() {
        assert!(check_addresses(&[addr("93.184.216.34")]).is_ok());
        let err = check_addresses(&[addr("93.184.216.34"), addr("10.0.0.1")]).unwrap_err();
        assert!(err.contains("10.0.0.1 is an internal address"), "{err}");
    }

    #[test]
    fn only_https_unless_allowed_and_ip_literals_are_checked_as_written() {
        let http = Url::parse("http://status.example.com/health").unwrap();
        assert!(check_url(&http, false).unwrap_err().contains("https"));
        assert!(check_url(&http, true).is_ok());
        let ftp = Url::parse("ftp://status.example.com/").unwrap();
        assert!(check_url(&ftp, true).is_err());
        for literal in [
            "https://[2001:db8::1]/",
            "https://[64:ff9b::7f00:1]:8443/health",
            "https://[::ffff:127.0.0.1]/",
            "https://127.0.0.1/",
            "https://2130706433/",
        ] {
            let url = Url::parse(literal).unwrap();
            let err = check_url(&url, false).unwrap_err();
            assert!(err.contains("internal address"), "{literal}: {err}");
            assert!(check_url(&url, true).is_ok(), "{literal} when allowed");
        }
        assert!(check_url(&Url::parse("https://[2606:4700::1111]/").unwrap(), false).is_ok());
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused_by_the_resolver() {
        let prober = Prober::new(false).unwrap();
        let outcome = prober.probe("https://localhost:1/health").await;
        let why = outcome.refused.expect("refused, not merely failed");
        assert!(why.contains("internal address"), "{why}");
        assert!(
            why.contains("loopback") || why.contains("IPv4-compatible"),
            "{why}"
        );
    }
}
