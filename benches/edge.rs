//! The intake under attack, measured: shipgate in-process (release, SQLite, default limits)
//! on loopback; attackers connect from 127.0.0.2 onwards, "GitHub" from 127.0.0.1 posts a
//! signed delivery every 20 ms throughout and the bench reports how those fared.
//!
//! Phases (each `SECONDS` long, default 8; `ADDRESSES` attacking addresses, default 4):
//! 1. quiet: the deliveries alone;
//! 2. slow headers: 600 connections per address sending a header byte every 500 ms;
//! 3. idle: 600 connections per address sending nothing;
//! 4. stalled uploads: 5 uploads per address of 20 MiB each, declared 24 MiB, then silence.
//!
//! For each phase: the deliveries' statuses and p50/p99 latency, and what became of the
//! attacking connections (refused at once with 503, or served and closed after how long).
//!
//! `cargo bench --bench edge`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "../tests/common/mod.rs"]
#[macro_use]
#[allow(unused_macros)]
mod common;

use common::attack::{Ended, connect_from, hold};
use shipgate::clock::SystemClock;
use shipgate::github::signature;
use shipgate::settings::Settings;
use shipgate::sim::Simulator;
use tokio::io::AsyncWriteExt;

/// How often a slow client sends the next byte of its headers.
const DRIP_EVERY: Duration = Duration::from_millis(500);

const PAYLOAD: &str = include_str!("../tests/fixtures/github/webhooks/issues/opened-15.json");

/// Posts a signed delivery every 20 ms for `length`; returns (status, latency) of each.
async fn deliveries(url: String, secret: String, length: Duration) -> Vec<(u16, Duration)> {
    let http = reqwest::Client::builder()
        .local_address(Some("127.0.0.1".parse().unwrap()))
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let sig = signature::sign(secret.as_bytes(), PAYLOAD.as_bytes());
    let started = Instant::now();
    let mut out = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut i = 0u64;
    while started.elapsed() < length {
        tick.tick().await;
        i += 1;
        let sent = Instant::now();
        let status = http
            .post(&url)
            .header("x-github-event", "issues")
            .header(
                "x-github-delivery",
                format!("edge-{}-{i}", started.elapsed().as_nanos()),
            )
            .header("x-hub-signature-256", &sig)
            .body(PAYLOAD)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        out.push((status, sent.elapsed()));
    }
    out
}

fn report(phase: &str, delivered: &[(u16, Duration)], fates: &[Ended]) {
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    for (s, _) in delivered {
        *by_status.entry(*s).or_default() += 1;
    }
    let mut latencies: Vec<Duration> = delivered.iter().map(|d| d.1).collect();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    let statuses = by_status
        .iter()
        .map(|(s, n)| {
            format!(
                "{n}× {}",
                if *s == 0 {
                    "no answer".to_owned()
                } else {
                    s.to_string()
                }
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "{phase}: deliveries {statuses}; p50 {:.1} ms, p99 {:.1} ms",
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
    if fates.is_empty() {
        return;
    }
    let refused = fates.iter().filter(|f| f.refused()).count();
    let mut served: Vec<Duration> = fates
        .iter()
        .filter(|f| !f.refused())
        .map(|f| f.after)
        .collect();
    served.sort();
    let (min, max) = (
        served.first().copied().unwrap_or_default(),
        served.last().copied().unwrap_or_default(),
    );
    println!(
        "  attack: {} connections, {refused} answered 503 at once, {} served and then closed after {:.1}–{:.1} s",
        fates.len(),
        served.len(),
        min.as_secs_f64(),
        max.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::var("SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let addresses: usize = std::env::var("ADDRESSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let length = Duration::from_secs(seconds);
    shipgate::http::serve::raise_descriptor_limit();
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start().await;
    let mut env: BTreeMap<&str, String> = sim.app_env().into_iter().collect();
    env.insert(
        "DATABASE_URL",
        format!("sqlite://{}", dir.path().join("edge.db").display()),
    );
    env.insert("SHIPGATE_BIND", "127.0.0.1:0".into());
    let settings = Settings::from_lookup(|k| env.get(k).cloned()).expect("bench settings");
    let limits = settings.intake;
    let running = shipgate::app::start(settings, Arc::new(SystemClock))
        .await
        .expect("shipgate starts");
    let to = running.addr;
    let url = format!("http://{to}/api/github/webhooks");
    let secret = sim.with(|s| s.app.webhook_secret.clone());
    println!(
        "limits: {} connections, {} per client, header timeout {} s, body timeout {} s; {addresses} attacking addresses, {seconds} s a phase",
        limits.max_connections,
        limits.max_connections_per_client,
        limits.header_timeout.as_secs(),
        limits.body_timeout.as_secs()
    );

    let quiet = deliveries(url.clone(), secret.clone(), length).await;
    report("quiet", &quiet, &[]);

    let attack_for = length + Duration::from_secs(10);
    for (phase, drip) in [
        ("slow headers", b"POST /api/github/webhooks HTTP/1.1\r\nHost: shipgate\r\nX-GitHub-Event: issues\r\n\r\n".as_slice()),
        ("idle", b"".as_slice()),
    ] {
        let mut attack = Vec::new();
        for a in 0..addresses {
            let from = format!("127.0.0.{}", a + 2);
            for _ in 0..600 {
                if let Ok(stream) = connect_from(&from, to).await {
                    attack.push(tokio::spawn(hold(stream, drip, DRIP_EVERY, attack_for)));
                }
            }
        }
        let delivered = deliveries(url.clone(), secret.clone(), length).await;
        let mut fates = Vec::new();
        for t in attack {
            fates.push(t.await.unwrap());
        }
        report(phase, &delivered, &fates);
    }

    let mut attack = Vec::new();
    for a in 0..addresses {
        let from = format!("127.0.0.{}", a + 2);
        for _ in 0..5 {
            if let Ok(mut stream) = connect_from(&from, to).await {
                let mut upload = format!(
                    "POST /api/github/webhooks HTTP/1.1\r\nHost: shipgate\r\nX-GitHub-Event: issues\r\nX-GitHub-Delivery: x\r\nX-Hub-Signature-256: sha256={}\r\nContent-Length: {}\r\n\r\n",
                    "0".repeat(64),
                    24 * 1024 * 1024
                )
                .into_bytes();
                upload.extend(std::iter::repeat_n(b' ', 20 * 1024 * 1024));
                attack.push(tokio::spawn(async move {
                    let _ = stream.write_all(&upload).await;
                    hold(stream, b"", DRIP_EVERY, attack_for).await
                }));
            }
        }
    }
    let delivered = deliveries(url.clone(), secret.clone(), length).await;
    let mut fates = Vec::new();
    for t in attack {
        fates.push(t.await.unwrap());
    }
    report("stalled uploads", &delivered, &fates);
    running.shutdown();
    running.wait().await.expect("clean shutdown");
}
