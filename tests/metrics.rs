//! `/metrics` through real HTTP on SQLite and PostgreSQL: every metric the README's table
//! documents is exposed with its type (and nothing undocumented is), a whole lifecycle with
//! a rollback shows in the counts, labels carry no login, title or secret, and
//! `SHIPGATE_METRICS_TOKEN` guards the scrape.

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use common::Backend;
use common::world::*;

/// The metrics table of README.md: name → type (`counter`, `gauge`, `histogram`, `info`).
fn documented() -> BTreeMap<String, String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let section = readme
        .split("### Metrics")
        .nth(1)
        .expect("README has a Metrics section");
    let mut metrics = BTreeMap::new();
    for line in section.lines().skip_while(|l| !l.starts_with("| metric")) {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if let Some(name) = cells[1].strip_prefix("`shipgate_") {
            let kind = cells[2].split_whitespace().next().unwrap_or_default();
            metrics.insert(
                format!("shipgate_{}", name.trim_end_matches('`')),
                kind.into(),
            );
        }
    }
    assert!(metrics.len() >= 15, "the table was read: {metrics:?}");
    metrics
}

/// The families exposed (`# TYPE` lines), named as they are queried: a counter with
/// `_total`, an info metric with `_info`.
fn exposed(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| {
            let (name, kind) = l.split_once(' ').expect("# TYPE name type");
            let queried = match kind {
                "counter" => format!("{name}_total"),
                "info" => format!("{name}_info"),
                _ => name.to_owned(),
            };
            (queried, kind.to_owned())
        })
        .collect()
}

async fn a_lifecycle_shows_in_the_documented_metrics(backend: Backend) {
    let url = endpoint(Arc::new(AtomicBool::new(true))).await;
    let w = setup(backend, &url, &url).await;
    let (sim, sg) = (&w.sim, &w.sg);

    // Before anything happened, nothing undocumented is exposed, and what is documented
    // is there with its type — but for families keyed by an effect's action, which appear
    // with the first effect.
    let text = w.sg.metrics().await;
    let mut expected = documented();
    expected.remove("shipgate_effects_total");
    assert_eq!(exposed(&text), expected, "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        text.lines().any(|l| l.starts_with("shipgate_build_info{")
            && l.contains(&format!("version=\"{version}\""))
            && l.contains("commit=\"")),
        "{text}"
    );

    // Two features to production, then the second rolled back by command.
    let (_, _) = w.to_done().await;
    let (n, _) = w.to_done().await;
    sim.comment(REPO, n, "releaser", "/rollback totals are off")
        .await;
    sg.settle(sim).await;
    let rollback = w.newest_run(Some("production")).unwrap().id;
    sim.complete_workflow_run(REPO, rollback, "success").await;
    sg.settle(sim).await;
    w.wait_for_phase(n, "rolled_back").await;
    // Signed by someone else, and an event GitHub never sends: counted, bounded.
    let bad =
        w.sg.http
            .post(sg.webhook_url())
            .header("x-github-event", "made_up_by_an_attacker")
            .header("x-github-delivery", "d-1")
            .header("x-hub-signature-256", "sha256=00")
            .body("{}")
            .send()
            .await
            .unwrap();
    assert_eq!(bad.status(), 401);

    let text = w.sg.metrics().await;
    let value = |series: &str| {
        common::metric(&text, series).unwrap_or_else(|| panic!("{series} in\n{text}"))
    };
    assert_eq!(exposed(&text), documented(), "{text}");
    for (environment, n) in [("staging", 2.0), ("production", 2.0)] {
        assert_eq!(
            value(&format!(
                "shipgate_deploys_total{{environment=\"{environment}\",kind=\"deploy\",outcome=\"succeeded\"}}"
            )),
            n
        );
    }
    assert_eq!(
        value(
            "shipgate_deploys_total{environment=\"production\",kind=\"rollback\",outcome=\"succeeded\"}"
        ),
        1.0
    );
    assert_eq!(
        value("shipgate_rollbacks_total{environment=\"production\",trigger=\"command\"}"),
        1.0
    );
    assert_eq!(value("shipgate_lead_time_seconds_count"), 2.0);
    for gate in ["requirement", "plan", "review", "production"] {
        assert_eq!(
            value(&format!(
                "shipgate_gate_wait_seconds_count{{gate=\"{gate}\"}}"
            )),
            2.0,
            "{gate}"
        );
    }
    assert_eq!(value("shipgate_pipelines{phase=\"done\"}"), 1.0);
    assert_eq!(value("shipgate_pipelines{phase=\"rolled_back\"}"), 1.0);
    assert_eq!(value("shipgate_pipelines{phase=\"intake\"}"), 0.0);
    assert_eq!(value("shipgate_queue_depth{queue=\"deliveries\"}"), 0.0);
    assert_eq!(value("shipgate_queue_depth{queue=\"effects\"}"), 0.0);
    assert!(value("shipgate_webhook_deliveries_total{event=\"issues\",status=\"202\"}") >= 2.0);
    assert_eq!(
        value("shipgate_webhook_deliveries_total{event=\"other\",status=\"401\"}"),
        1.0
    );
    assert!(value("shipgate_ingest_batch_size_count") >= 1.0);
    assert!(value("shipgate_ingest_commit_seconds_count") >= 1.0);
    assert!(
        value("shipgate_effects_total{action=\"sync_status_comment\",outcome=\"done\"}") >= 2.0
    );
    // Tests, staging and production twice each, and the rollback.
    assert_eq!(
        value("shipgate_github_requests_total{operation=\"dispatch a workflow\",status=\"200\"}"),
        7.0
    );
    assert!(
        value("shipgate_github_request_duration_seconds_count{operation=\"dispatch a workflow\"}")
            >= 7.0
    );
    assert!(
        value(
            "shipgate_health_probe_duration_seconds_count{environment=\"production\",outcome=\"healthy\"}"
        ) >= 1.0
    );

    // Nothing personal or secret in a label.
    for private in [
        "releaser",
        "Export invoices",
        "totals are off",
        REPO,
        &sg.secret,
    ] {
        assert!(!text.contains(private), "{private:?} is exposed:\n{text}");
    }
    assert!(!text.contains("made_up_by_an_attacker"));
    w.sg.stop().await;
}

async fn a_metrics_token_guards_the_scrape(backend: Backend) {
    let w = Setup::new(backend)
        .setting("SHIPGATE_METRICS_TOKEN", "scrape-me-0123456789")
        .start()
        .await;
    let url = w.sg.url.join("metrics").unwrap();
    let get = |token: Option<&'static str>| {
        let mut request = w.sg.http.get(url.clone());
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        request.send()
    };
    let none = get(None).await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    assert!(
        none.text()
            .await
            .unwrap()
            .contains("SHIPGATE_METRICS_TOKEN")
    );
    assert_eq!(get(Some("scrape-me")).await.unwrap().status(), 401);
    let ok = get(Some("scrape-me-0123456789")).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().contains("shipgate_pipelines"));
    // The rest of the surface is unchanged.
    let healthz = w.sg.http.get(w.sg.url.join("healthz").unwrap()).send();
    assert_eq!(healthz.await.unwrap().status(), 200);
    w.sg.stop().await;
}

on_both_backends!(
    a_lifecycle_shows_in_the_documented_metrics,
    a_metrics_token_guards_the_scrape
);
