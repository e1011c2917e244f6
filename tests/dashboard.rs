//! The dashboard in a real browser — Debian's headless Chromium, driven over WebDriver
//! (chromedriver) — on SQLite and PostgreSQL: sign in through the simulator's GitHub sign-in
//! page, see the pipelines of the repository you can read and not another's, open a
//! pipeline (gates, chart, audit) and a repository's DORA page, by keyboard too; check runs
//! link to the pipeline's page. Screenshots go to `target/test-artefacts/`.
//! Needs `chromium` and `chromium-driver` (`.ci/run` installs them); without them it fails.

#[macro_use]
mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use common::Backend;
use common::world::*;
use fantoccini::{Client, ClientBuilder, Locator};

const SECRET: &str = STRANGERS_REPO;

/// A chromedriver process and a headless Chromium session through it.
struct Browser {
    client: Client,
    _driver: tokio::process::Child,
}

async fn browser() -> Browser {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let driver = tokio::process::Command::new(
        std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()),
    )
    .arg(format!("--port={port}"))
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .kill_on_drop(true)
    .spawn()
    .expect("chromedriver runs (Debian: apt-get install chromium chromium-driver; .ci/run does)");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "args": ["--headless", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--window-size=1280,1000"],
        }),
    );
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        if let Ok(client) = ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            return Browser {
                client,
                _driver: driver,
            };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start a Chromium session on {url}");
}

impl Browser {
    /// The page's text once it says `part` (waiting up to 10 s for a navigation to land).
    async fn text_with(&self, part: &str) -> String {
        let mut text = String::new();
        for _ in 0..100 {
            if let Ok(body) = self.client.find(Locator::Css("body")).await
                && let Ok(t) = body.text().await
            {
                text = t;
                if text.contains(part) {
                    return text;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page never said {part:?}:\n{text}");
    }

    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artefacts");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    async fn click_link(&self, text: &str) {
        self.client
            .find(Locator::LinkText(text))
            .await
            .unwrap_or_else(|_| panic!("a link {text:?}"))
            .click()
            .await
            .unwrap();
    }
}

async fn a_signed_in_user_sees_their_pipelines_in_a_browser(backend: Backend) {
    let url = endpoint(Arc::new(AtomicBool::new(true))).await;
    let w = setup(backend, &url, &url).await;
    let (sim, sg) = (&w.sim, &w.sg);
    w.with_strangers().await;
    let (n, pr, _) = w.to_readiness().await;
    sim.comment(REPO, pr, "releaser", "/approve production")
        .await;
    sg.settle(sim).await;
    // The production deploy reports what it deployed (the action's POST), then finishes.
    let production = w.newest_run(Some("production")).unwrap().id;
    let audience = sg.url.as_str().trim_end_matches('/');
    let answer = reqwest::Client::new()
        .post(sg.url.join("api/v1/evidence").unwrap())
        .bearer_auth(sim.oidc_token(REPO, production, audience))
        .json(&serde_json::json!({"format": 1, "deploy": {"url": "https://widgets.acme.test/", "version": "2.0.1"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    sim.complete_workflow_run(REPO, production, "success").await;
    w.wait_for_phase(n, "done").await;
    let id = sg.store.pipelines_of(REPO).await.unwrap()[0].id;
    let secret_id = sg.store.pipelines_of(SECRET).await.unwrap()[0].id;

    // Check runs link to the pipeline's page.
    let page = sg.url.join(&format!("pipelines/{id}")).unwrap().to_string();
    let links: Vec<Option<String>> = sim.with(|s| {
        s.repos[REPO]
            .check_runs
            .values()
            .filter(|c| c.name == "shipgate")
            .map(|c| c.details_url.clone())
            .collect()
    });
    assert!(!links.is_empty());
    assert!(
        links.iter().all(|l| l.as_deref() == Some(page.as_str())),
        "{links:?}"
    );

    let b = browser().await;
    let c = &b.client;
    // Not signed in: a page that offers to sign in; a pipeline's page sends to GitHub first.
    c.goto(sg.url.as_str()).await.unwrap();
    b.text_with("Sign in with GitHub").await;
    c.goto(&page).await.unwrap();
    b.text_with("Sign in to GitHub to continue to").await;
    c.find(Locator::Css("#login"))
        .await
        .unwrap()
        .send_keys("alice")
        .await
        .unwrap();
    c.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // Back on the pipeline's page, signed in.
    let text = b.text_with("Signed in as alice").await;
    assert_eq!(c.current_url().await.unwrap().as_str(), page);
    for part in [
        "Signed in as alice",
        &format!("REQ-{n}: Export invoices"),
        "phase done",
        "Gates",
        "Review",
        "passed",
        "Audit log",
        "Health of production",
        "Test runs",
        "version 2.0.1 at https://widgets.acme.test/",
    ] {
        assert!(text.contains(part), "{part:?} in\n{text}");
    }
    assert!(
        c.find(Locator::Css("svg[role=img] rect")).await.is_ok(),
        "a latency chart"
    );
    b.screenshot("pipeline").await;

    // The list: this repository's feature, nothing of globex.
    c.goto(sg.url.as_str()).await.unwrap();
    let text = b.text_with("Pipelines you can read").await;
    assert!(
        text.contains("Export invoices") && text.contains(REPO),
        "{text}"
    );
    assert!(
        !text.contains("Initech") && !text.contains("globex"),
        "{text}"
    );
    b.screenshot("pipelines").await;
    let labelled: serde_json::Value = c
        .execute(
            "return [...document.querySelectorAll('select, input')].every(e => e.labels.length > 0)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(labelled, true, "every control has a label");

    // By keyboard: the first Tab reaches the skip link, which leads to the content.
    c.find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("\u{E004}")
        .await
        .unwrap();
    let focused = c.active_element().await.unwrap().text().await.unwrap();
    assert_eq!(focused, "Skip to the content");

    // The DORA page of the repository.
    b.click_link(REPO).await;
    let text = b.text_with(&format!("DORA metrics of {REPO}")).await;
    assert!(text.contains("Deployment frequency") && text.contains("Change failure rate"));
    b.screenshot("dora").await;

    // Another's pipeline, by its address: not found, and nothing of it shown.
    c.goto(
        sg.url
            .join(&format!("pipelines/{secret_id}"))
            .unwrap()
            .as_str(),
    )
    .await
    .unwrap();
    let text = b.text_with("Not Found").await;
    assert!(
        text.contains("Not Found") && !text.contains("Initech"),
        "{text}"
    );

    // Signing out.
    c.goto(sg.url.as_str()).await.unwrap();
    c.find(Locator::Css("form[action='/logout'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.text_with("Sign in with GitHub").await;
    c.clone().close().await.unwrap();
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

on_both_backends!(a_signed_in_user_sees_their_pipelines_in_a_browser);
