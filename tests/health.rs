//! Staging health monitoring end to end: after a successful deploy shipgate probes the
//! environment's `health.url` (a real local HTTP endpoint the test controls) every
//! `interval` for `window`; consecutive failures fail the stage; URLs the SSRF rules forbid
//! are refused — on SQLite and PostgreSQL.

#[macro_use]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::Backend;
use common::world::{World, setup_probing, setup_process};

/// A health endpoint: answers 200 while `healthy`, else 503; counts requests.
struct Endpoint {
    url: String,
    healthy: Arc<AtomicBool>,
    hits: Arc<AtomicUsize>,
}

async fn endpoint(healthy: bool) -> Endpoint {
    let flag = Arc::new(AtomicBool::new(healthy));
    let hits = Arc::new(AtomicUsize::new(0));
    let url = common::health_endpoint(flag.clone(), hits.clone()).await;
    Endpoint {
        url,
        healthy: flag,
        hits,
    }
}

/// The common repository with `url` as staging's health check (every second for 3 s, two
/// failures in a row fail it), probing internal addresses only if `allow_private`.
async fn setup(backend: Backend, url: &str, allow_private: bool) -> World {
    let config = format!(
        "deploy:\n  environments:\n    staging:\n      health: {{ url: \"{url}\", interval: 1s, window: 3s, failures: 2 }}\n"
    );
    setup_probing(backend, &config, allow_private).await
}

async fn a_healthy_staging_holds_for_the_window(backend: Backend) {
    let health = endpoint(true).await;
    let w = setup(backend, &health.url, true).await;
    let (n, _) = w.staging_deployed().await;
    w.expect_status(n, "watching health");
    w.wait_for_phase(n, "readiness").await;
    w.expect_status(n, "healthy for 3s");
    w.expect_status(n, "**Readiness:** 100/100");
    w.expect_status(n, &format!("probes of {} ok", health.url));
    assert!(
        health.hits.load(Ordering::SeqCst) >= 3,
        "probed every second for three seconds"
    );
    assert!(w.sim.violations().is_empty(), "{:?}", w.sim.violations());
    w.sg.stop().await;
}

async fn consecutive_failed_probes_fail_the_stage(backend: Backend) {
    let health = endpoint(true).await;
    let w = setup(backend, &health.url, true).await;
    health.healthy.store(false, Ordering::SeqCst);
    let (n, _) = w.staging_deployed().await;
    w.wait_for_phase(n, "failed").await;
    w.expect_reply(n, &["2 health probes of", "failed in a row", "503"]);
    assert_eq!(
        health.hits.load(Ordering::SeqCst),
        2,
        "stops probing once the stage failed"
    );
    w.expect_status(n, "unhealthy: 0 of 2 probes");
    w.sg.stop().await;
}

async fn an_internal_health_url_is_refused(backend: Backend) {
    let health = endpoint(true).await;
    let url = health.url.replace("http://", "https://");
    let w = setup(backend, &url, false).await;
    let (n, _) = w.staging_deployed().await;
    w.wait_for_phase(n, "failed").await;
    w.expect_reply(n, &["is refused", "internal address"]);
    assert_eq!(health.hits.load(Ordering::SeqCst), 0, "never contacted");
    w.sg.stop().await;
}

/// An IPv6 literal is an address, checked as written: NAT64's `64:ff9b::7f00:1` is
/// 127.0.0.1, and is refused as such without a connection.
async fn an_ipv6_literal_is_checked_as_the_address_it_is(backend: Backend) {
    let health = endpoint(true).await;
    let port = url::Url::parse(&health.url).unwrap().port().unwrap();
    let url = format!("https://[64:ff9b::7f00:1]:{port}/health");
    let w = setup(backend, &url, false).await;
    let (n, _) = w.staging_deployed().await;
    w.wait_for_phase(n, "failed").await;
    w.expect_reply(n, &["is refused", "NAT64 of 127.0.0.1", "loopback"]);
    assert_eq!(health.hits.load(Ordering::SeqCst), 0, "never contacted");
    w.sg.stop().await;
}

/// A proxy named in shipgate's environment is not used for probes: they connect to the
/// address they checked themselves.
async fn a_proxy_in_the_environment_is_not_used(backend: Backend) {
    let health = endpoint(true).await;
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let proxied = Arc::new(AtomicUsize::new(0));
    let counted = proxied.clone();
    tokio::spawn(async move {
        while let Ok((connection, _)) = proxy.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(connection);
        }
    });
    let config = format!(
        "deploy:\n  environments:\n    staging:\n      health: {{ url: \"{}\", interval: 1s, window: 3s, failures: 2 }}\n",
        health.url
    );
    let w = setup_process(
        backend,
        &config,
        &[
            ("HTTP_PROXY", &proxy_url),
            ("HTTPS_PROXY", &proxy_url),
            ("ALL_PROXY", &proxy_url),
        ],
    )
    .await;
    let (n, _) = w.staging_deployed().await;
    w.wait_for_phase(n, "readiness").await;
    assert!(health.hits.load(Ordering::SeqCst) >= 3, "probed directly");
    assert_eq!(proxied.load(Ordering::SeqCst), 0, "the proxy saw nothing");
    w.sg.stop().await;
}

on_both_backends!(
    a_healthy_staging_holds_for_the_window,
    consecutive_failed_probes_fail_the_stage,
    an_internal_health_url_is_refused,
    an_ipv6_literal_is_checked_as_the_address_it_is,
    a_proxy_in_the_environment_is_not_used
);
