//! No secret reaches the logs, at any level: webhook secret, App private key, App JWTs,
//! installation tokens, client secret. Everything shipgate logs while it receives webhooks,
//! authenticates as the App and calls GitHub is captured at TRACE and searched.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{Backend, Shipgate, TestDb, fixture, guid};
use shipgate::github::client::{GitHub, RepoRef};
use shipgate::github::octocrab_client::OctocrabGitHub;
use shipgate::sim::Simulator;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_secret_is_logged_even_at_trace() {
    let captured = Captured::default();
    let sink = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .init();

    let db = TestDb::new(Backend::Sqlite).await;
    let sim = Simulator::start().await;
    sim.add_repo("acme/widgets");
    let sg = Shipgate::start(&db, &sim).await;
    let installation = sim.install("acme", &["acme/widgets"]).await;
    let r = sg
        .post_webhook(
            "pull_request",
            &guid(),
            &fixture("pull_request", "opened-12.json"),
        )
        .await;
    assert_eq!(r.status(), 202);
    sg.drain().await;
    let github = sg.running.as_ref().unwrap().github.clone();
    let client = OctocrabGitHub::new(github.clone());
    let repo = RepoRef::new(installation, "acme/widgets").unwrap();
    client.branch_sha(&repo, "main").await.unwrap();
    client
        .collaborator_permission(&repo, "someone")
        .await
        .unwrap();
    let token = github
        .load_full()
        .unwrap()
        .installation_token(installation)
        .await
        .unwrap();
    // A failing call's error is logged by callers: it must not carry credentials either.
    let failure = client
        .create_issue_comment(&repo, 999, "hello")
        .await
        .unwrap_err();
    tracing::warn!(error = %failure, "a failed call as the executor would log it");
    sg.stop().await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.len() > 1000,
        "TRACE logging captured something ({} bytes)",
        logs.len()
    );
    let (secret, pem, client_secret) = sim.with(|s| {
        (
            s.app.webhook_secret.clone(),
            s.app.private_key_pem.clone(),
            s.app.client_secret.clone(),
        )
    });
    let key_line = pem.lines().nth(1).unwrap().to_owned();
    let token = secrecy::ExposeSecret::expose_secret(&token).to_owned();
    for (what, needle) in [
        ("webhook secret", secret.as_str()),
        ("private key", key_line.as_str()),
        ("client secret", client_secret.as_str()),
        ("installation token", token.as_str()),
        ("a JWT", "eyJ"),
        ("a signature", "sha256="),
    ] {
        assert!(!logs.contains(needle), "the {what} appears in the logs");
    }
}
