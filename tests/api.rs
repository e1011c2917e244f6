//! The JSON API through real HTTP on SQLite and PostgreSQL, signed in with GitHub user access
//! tokens from the simulator: who sees what (a user who can read one repository never sees
//! another's pipelines, titles or counts — by list, by id or through DORA), pagination and
//! filters, errors as problem+json, DORA over a lifecycle with a rollback — and every
//! response validated against the OpenAPI document shipgate serves.

#[macro_use]
mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use common::Backend;
use common::openapi::OpenApi;
use common::world::*;
use serde_json::Value;

const SECRET: &str = STRANGERS_REPO;

/// Calls the API and checks each answer against the served OpenAPI document.
struct Api {
    base: url::Url,
    http: reqwest::Client,
    openapi: OpenApi,
}

impl Api {
    async fn new(w: &World) -> Api {
        let http = reqwest::Client::new();
        let base = w.sg.url.clone();
        let openapi = OpenApi::fetch(&http, &base).await;
        Api {
            base,
            http,
            openapi,
        }
    }

    /// `GET path` as `token` (`template` is the documented path): the status and body,
    /// after checking the body against the document's schema for that status.
    async fn get(&self, token: Option<&str>, template: &str, path: &str) -> (u16, Value) {
        let mut request = self
            .http
            .get(self.base.join(path.trim_start_matches('/')).unwrap());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.openapi.send("get", template, request).await
    }
}

fn titles(list: &Value) -> Vec<String> {
    list["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["title"].as_str().unwrap().to_owned())
        .collect()
}

async fn a_user_sees_exactly_the_repositories_they_can_read(backend: Backend) {
    let url = endpoint(Arc::new(AtomicBool::new(true))).await;
    let w = setup(backend, &url, &url).await;
    let (sim, sg) = (&w.sim, &w.sg);
    w.with_strangers().await;
    sg.settle(sim).await;
    // Two features to production in acme/widgets; the second rolled back.
    let (first, _) = w.to_done().await;
    let (second, _) = w.to_done().await;
    sim.comment(REPO, second, "releaser", "/rollback totals are off")
        .await;
    sg.settle(sim).await;
    let rollback = w.newest_run(Some("production")).unwrap().id;
    sim.complete_workflow_run(REPO, rollback, "success").await;
    w.wait_for_phase(second, "rolled_back").await;

    let api = Api::new(&w).await;
    let alice = sim.user_token("alice");
    let carol = sim.user_token("carol");
    let list = "/api/v1/pipelines";
    let one = "/api/v1/pipelines/{id}";
    let dora = "/api/v1/repositories/{owner}/{repo}/dora";

    // Not signed in, or with a token GitHub refuses.
    assert_eq!(api.get(None, list, list).await.0, 401);
    assert_eq!(api.get(Some("ghu_forged"), list, list).await.0, 401);
    let refused = sim.take_violations();
    assert!(
        refused.len() == 1 && refused[0].contains("Bad credentials"),
        "GitHub was asked once: {refused:?}"
    );

    // alice reads acme/widgets: both features, newest first, and nothing of globex.
    let (status, mine) = api.get(Some(&alice), list, list).await;
    assert_eq!(status, 200);
    assert_eq!(titles(&mine), ["Export invoices", "Export invoices"]);
    let ids: Vec<i64> = mine["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(mine["pipelines"][0]["issue"], second);
    assert_eq!(mine["pipelines"][0]["phase"], "rolled_back");
    assert_eq!(mine["pipelines"][1]["issue"], first);
    assert_eq!(mine["pipelines"][1]["phase"], "done");
    assert!(!mine.to_string().contains("globex") && !mine.to_string().contains("Initech"));
    let (_, named) = api
        .get(Some(&alice), list, &format!("{list}?repository={SECRET}"))
        .await;
    assert_eq!(titles(&named), Vec::<String>::new());

    // carol reads globex/secret only.
    let (_, hers) = api.get(Some(&carol), list, list).await;
    assert_eq!(titles(&hers), ["Acquire Initech"]);
    let secret_id = hers["pipelines"][0]["id"].as_i64().unwrap();

    // By id: alice gets the same 404 for carol's pipeline as for one that does not exist.
    let (status, hidden) = api
        .get(Some(&alice), one, &format!("{list}/{secret_id}"))
        .await;
    let (_, absent) = api.get(Some(&alice), one, &format!("{list}/999999")).await;
    assert_eq!(status, 404);
    assert_eq!(hidden, absent);
    assert!(!hidden.to_string().contains("Initech"));

    // One pipeline: the gates the check run shows, the timeline, deploys, probes, the
    // rollback and the audit entries.
    let (status, detail) = api
        .get(Some(&alice), one, &format!("{list}/{}", ids[0]))
        .await;
    assert_eq!(status, 200);
    let gates: Vec<&str> = detail["gates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["gate"].as_str().unwrap())
        .collect();
    assert!(
        gates.contains(&"review") && gates.contains(&"tests"),
        "{gates:?}"
    );
    assert_eq!(detail["timeline"][0]["phase"], "intake");
    assert_eq!(detail["rollback"]["trigger"], "command");
    assert_eq!(detail["rollback"]["reason"], "totals are off");
    assert!(
        detail["deploys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["kind"] == "rollback" && d["state"] == "succeeded"),
        "{detail:#}"
    );
    assert!(!detail["health"][0]["probes"].as_array().unwrap().is_empty());
    assert!(
        detail["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "rollback" && e["actor"] == "releaser")
    );

    // DORA: two production deployments, one rolled back and restored; lead time of both.
    let (status, metrics) = api
        .get(
            Some(&alice),
            dora,
            &format!("/api/v1/repositories/{REPO}/dora?days=7"),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(metrics["deployments"], 2);
    assert_eq!(metrics["failed_deployments"], 1);
    assert_eq!(metrics["change_failure_rate"], 0.5);
    assert_eq!(metrics["changes"], 2);
    assert_eq!(metrics["restores"], 1);
    assert!(metrics["lead_time_median_seconds"].as_f64().unwrap() > 0.0);
    assert!(metrics["time_to_restore_median_seconds"].as_f64().unwrap() > 0.0);
    let (status, _) = api
        .get(
            Some(&alice),
            dora,
            &format!("/api/v1/repositories/{SECRET}/dora"),
        )
        .await;
    assert_eq!(status, 404, "no counts of a repository alice cannot read");
    let (status, theirs) = api
        .get(
            Some(&carol),
            dora,
            &format!("/api/v1/repositories/{SECRET}/dora"),
        )
        .await;
    assert_eq!((status, &theirs["deployments"]), (200, &Value::from(0)));

    // Pages of one, by cursor; filters; bad parameters.
    let (_, page) = api
        .get(Some(&alice), list, &format!("{list}?limit=1"))
        .await;
    assert_eq!(page["pipelines"][0]["id"], ids[0]);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (_, page) = api
        .get(
            Some(&alice),
            list,
            &format!("{list}?limit=1&cursor={cursor}"),
        )
        .await;
    assert_eq!(page["pipelines"][0]["id"], ids[1]);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (_, page) = api
        .get(
            Some(&alice),
            list,
            &format!("{list}?limit=1&cursor={cursor}"),
        )
        .await;
    assert_eq!(
        (titles(&page).len(), &page["next_cursor"]),
        (0, &Value::Null)
    );
    let (_, done) = api
        .get(Some(&alice), list, &format!("{list}?phase=done"))
        .await;
    assert_eq!(done["pipelines"][0]["id"], ids[1]);
    assert_eq!(titles(&done).len(), 1);
    let (_, future) = api
        .get(
            Some(&alice),
            list,
            &format!("{list}?updated_since=2999-01-01T00:00:00Z"),
        )
        .await;
    assert_eq!(titles(&future).len(), 0);
    for bad in [
        "limit=0",
        "limit=101",
        "phase=shipping",
        "cursor=abc",
        "updated_since=yesterday",
        "limit=x",
    ] {
        let (status, problem) = api.get(Some(&alice), list, &format!("{list}?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {problem}");
        assert_eq!(problem["status"], 400);
    }
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

on_both_backends!(a_user_sees_exactly_the_repositories_they_can_read);
