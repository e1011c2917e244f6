//! The intake under hostile traffic, over real sockets on loopback: clients that send headers a
//! byte at a time, sit idle, open more connections than the process has descriptors, or start
//! uploads and stall. GitHub's deliveries (small, fast, signed, from another address) keep
//! getting 202 while each attack runs, and every attacking connection is answered or closed
//! within the limits the README lists.
//!
//! The attackers connect from 127.0.0.2 and 127.0.0.3 (all of 127/8 is loopback on Linux), the
//! deliveries from 127.0.0.1. One backend: nothing here depends on the database's kind.

#[macro_use]
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::attack::{self, Ended};
use common::{Backend, Shipgate, TestDb, fixture, guid};
use shipgate::github::signature;
use shipgate::sim::Simulator;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start(db: &TestDb, sim: &Simulator, limits: &[(&str, &str)]) -> Shipgate {
    let mut pairs = sim.app_env();
    pairs.extend(limits.iter().map(|(k, v)| (*k, v.to_string())));
    let settings = common::settings(db, &pairs);
    let secret = sim.with(|s| s.app.webhook_secret.clone());
    Shipgate::start_settings(
        settings,
        std::sync::Arc::new(shipgate::clock::SystemClock),
        secret,
    )
    .await
}

fn address(sg: &Shipgate) -> SocketAddr {
    format!("{}:{}", sg.url.host_str().unwrap(), sg.url.port().unwrap())
        .parse()
        .unwrap()
}

/// Holds an attacking connection, a byte of `drip` every 100 ms, for at most 20 s.
async fn hold(stream: TcpStream, drip: &'static [u8]) -> Ended {
    attack::hold(
        stream,
        drip,
        Duration::from_millis(100),
        Duration::from_secs(20),
    )
    .await
}

async fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    attack::connect_from(from, to).await.expect("connects")
}

/// Posts `n` signed deliveries from 127.0.0.1 one after another; returns their statuses.
async fn deliver(sg: &Shipgate, n: usize) -> Vec<u16> {
    let body = fixture("issues", "opened-15.json");
    let mut statuses = Vec::new();
    for _ in 0..n {
        statuses.push(
            sg.post_webhook("issues", &guid(), &body)
                .await
                .status()
                .as_u16(),
        );
    }
    statuses
}

const SLOW_HEAD: &[u8] =
    b"POST /api/github/webhooks HTTP/1.1\r\nHost: shipgate\r\nX-GitHub-Event: issues\r\n\r\n";

/// 300 connections sending their headers a byte at a time and 300 sending nothing: at most the
/// per-client cap of each is served (the rest are told why and closed at once), and the served
/// ones are closed when the header timeout passes, not when the client gives up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_capped_and_closed_while_deliveries_get_202() {
    let db = TestDb::new(Backend::Sqlite).await;
    let sim = Simulator::start().await;
    let sg = start(
        &db,
        &sim,
        &[
            ("SHIPGATE_HEADER_TIMEOUT", "1s"),
            ("SHIPGATE_MAX_CONNECTIONS", "200"),
            ("SHIPGATE_MAX_CONNECTIONS_PER_CLIENT", "20"),
        ],
    )
    .await;
    let to = address(&sg);
    let mut attack = Vec::new();
    for _ in 0..300 {
        let stream = connect_from("127.0.0.2", to).await;
        attack.push(tokio::spawn(hold(stream, SLOW_HEAD)));
    }
    for _ in 0..300 {
        let stream = connect_from("127.0.0.3", to).await;
        attack.push(tokio::spawn(hold(stream, b"")));
    }

    let statuses = deliver(&sg, 20).await;
    assert!(
        statuses.iter().all(|s| *s == 202),
        "deliveries during the attack: {statuses:?}"
    );

    let mut ended = Vec::new();
    for task in attack {
        ended.push(task.await.unwrap());
    }
    let refused: Vec<&Ended> = ended
        .iter()
        .filter(|e| e.answer.starts_with("HTTP/1.1 503"))
        .collect();
    let served = ended.len() - refused.len();
    let longest = ended.iter().map(|e| e.after).max().unwrap();
    println!(
        "{} attacking connections: {} refused at once, {served} served and closed, the last after {longest:?}",
        ended.len(),
        refused.len()
    );
    assert!(
        refused.iter().all(|e| e
            .answer
            .contains("too many connections from your address (at most 20)")),
        "{}",
        refused[0].answer
    );
    assert!(
        served >= 40 && refused.len() >= 400,
        "each address is served at most 20 at once: {served} served"
    );
    assert!(
        longest < Duration::from_secs(10),
        "every connection is closed soon after the 1 s header timeout, not held: {longest:?}"
    );
    let served_held = ended
        .iter()
        .filter(|e| !e.answer.starts_with("HTTP/1.1 503"))
        .map(|e| e.after)
        .min()
        .unwrap();
    assert!(
        served_held >= Duration::from_millis(900),
        "a served connection is given the header timeout: closed after {served_held:?}"
    );
    sg.stop().await;
}

/// Uploads from one address that stall hold at most that address's share of the memory for
/// bodies, and only until the pause passes the header timeout; GitHub's deliveries from
/// elsewhere are stored meanwhile, and the address's share comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_uploads_hold_only_their_share_and_not_for_long() {
    let db = TestDb::new(Backend::Sqlite).await;
    let sim = Simulator::start().await;
    let sg = start(&db, &sim, &[("SHIPGATE_HEADER_TIMEOUT", "2s")]).await;
    let to = address(&sg);
    // Four uploads of 20 MiB each from one address: 80 MiB, over its 64 MiB share.
    let mut uploads = Vec::new();
    for _ in 0..4 {
        let mut stream = connect_from("127.0.0.2", to).await;
        uploads.push(tokio::spawn(async move {
            let head = format!(
                "POST /api/github/webhooks HTTP/1.1\r\nHost: shipgate\r\nX-GitHub-Event: issues\r\nX-GitHub-Delivery: {}\r\nX-Hub-Signature-256: sha256={}\r\nContent-Length: {}\r\n\r\n",
                guid(),
                "0".repeat(64),
                24 * 1024 * 1024
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            let chunk = vec![b' '; 1024 * 1024];
            for _ in 0..20 {
                if stream.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            let sent = Instant::now();
            // ... and then nothing more: wait for the answer.
            hold(stream, b"").await.answer + &format!(" (answered {:?} after the pause began)", sent.elapsed())
        }));
    }
    let statuses = deliver(&sg, 10).await;
    assert!(
        statuses.iter().all(|s| *s == 202),
        "deliveries during the stalled uploads: {statuses:?}"
    );
    let mut answers = Vec::new();
    for upload in uploads {
        answers.push(upload.await.unwrap());
    }
    println!("{answers:#?}");
    let over_share = answers
        .iter()
        .filter(|a| a.starts_with("HTTP/1.1 503") && a.contains("from your address"))
        .count();
    let stalled = answers
        .iter()
        .filter(|a| a.starts_with("HTTP/1.1 408") && a.contains("stopped arriving for 2 s"))
        .count();
    assert!(over_share >= 1, "80 MiB is over one address's 64 MiB");
    assert_eq!(over_share + stalled, 4, "each upload is answered");

    // The address's share is back: a delivery from it is stored.
    let body = fixture("issues", "opened-15.json");
    let from_attacker = reqwest::Client::builder()
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .build()
        .unwrap();
    let r = from_attacker
        .post(sg.webhook_url())
        .header("x-github-event", "issues")
        .header("x-github-delivery", guid())
        .header(
            "x-hub-signature-256",
            signature::sign(sg.secret.as_bytes(), &body),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    sg.stop().await;
}

/// The case: a process with 1,024 descriptors and 1,100 idle connections from one
/// address. shipgate raises its limit to the hard limit at start, serves at most its
/// per-client cap from that address, and GitHub's deliveries still get 202.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_cannot_use_up_the_descriptors() {
    shipgate::http::serve::raise_descriptor_limit();
    let db = TestDb::new(Backend::Sqlite).await;
    let sim = Simulator::start().await;
    let logs = tempfile::tempdir().unwrap();
    let sg = Shipgate::spawn_with_descriptors(
        &db,
        &sim,
        None,
        &[("SHIPGATE_HEADER_TIMEOUT", "30s")],
        &logs.path().join("shipgate.log"),
        Some((1024, 4096)),
    )
    .await;
    let pid = sg.process.as_ref().unwrap().child.lock().unwrap().id();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert!(
        open_files
            .split_whitespace()
            .filter(|w| *w == "4096")
            .count()
            == 2,
        "the soft limit is raised to the hard one: {open_files}"
    );

    let to = address(&sg);
    let mut idle = Vec::new();
    for _ in 0..1100 {
        idle.push(connect_from("127.0.0.2", to).await);
    }
    let statuses = deliver(&sg, 10).await;
    assert!(
        statuses.iter().all(|s| *s == 202),
        "deliveries beside 1,100 idle connections: {statuses:?}"
    );
    let mut refused = 0;
    for stream in &mut idle {
        let mut buf = [0u8; 512];
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(5), stream.read(&mut buf)).await
            && String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 503")
        {
            refused += 1;
        }
    }
    println!("1,100 idle connections from one address: {refused} refused with 503");
    assert_eq!(refused, 1100 - 512, "the default cap per client is 512");
}
