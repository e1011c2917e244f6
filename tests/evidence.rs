//! Evidence from the workflows through real HTTP: runs report with the OIDC tokens the
//! simulator issues as GitHub Actions would, the document `action/` builds from its sample
//! reports is posted as the action posts it, and the tests gate holds on the thresholds
//! (`tests.min_coverage`, `tests.max_findings`) until they are met or `/skip`ped. Tokens
//! that do not hold — another key, audience, issuer, repository, run or commit, expired —
//! are refused with the claim that failed.

#[macro_use]
mod common;

use common::Backend;
use common::openapi::OpenApi;
use common::world::*;
use serde_json::{Value, json};
use shipgate::sim::oidc;

/// What `action/` sends for its sample reports (its tests check it builds exactly this).
const ACTION_DOCUMENT: &str = include_str!("../action/test/expected/evidence.json");

/// The audience the action asks for by default: shipgate's URL without the trailing slash.
fn audience(w: &World) -> String {
    w.sg.url.as_str().trim_end_matches('/').to_owned()
}

/// POSTs `document` to `/api/v1/evidence` with `token`; the status and body, after checking
/// the body against the OpenAPI document shipgate serves.
async fn post(w: &World, token: Option<&str>, document: &Value) -> (u16, Value) {
    let http = reqwest::Client::new();
    let openapi = OpenApi::fetch(&http, &w.sg.url).await;
    let mut request = http
        .post(w.sg.url.join("api/v1/evidence").unwrap())
        .json(document);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    openapi.send("post", "/api/v1/evidence", request).await
}

/// Run `run`'s report of `document` (its `pipeline` set to the run's input, as the action
/// reads it from the dispatch), with a token the simulator issued to that run.
async fn report(w: &World, run: u64, mut document: Value) -> (u16, Value) {
    document["pipeline"] = pipeline_input(w, run).into();
    let token = w.sim.oidc_token(REPO, run, &audience(w));
    post(w, Some(&token), &document).await
}

fn pipeline_input(w: &World, run: u64) -> String {
    w.sim.with(|s| {
        s.repos[REPO].runs[&run].inputs["pipeline"]
            .as_str()
            .unwrap()
            .to_owned()
    })
}

fn clean_tests() -> Value {
    json!({
        "format": 1,
        "tests": {"passed": 120, "failed": 0, "skipped": 3},
        "coverage": {"percent": 91.5},
        "findings": {"critical": 0, "high": 0, "medium": 2, "low": 1},
        "metrics": {"lighthouse_accessibility": "98"}
    })
}

fn check_run_summary(w: &World, sha: &str) -> String {
    w.sim.with(|s| {
        s.repos[REPO]
            .check_runs
            .values()
            .filter(|c| c.head_sha == sha && c.name == "shipgate")
            .max_by_key(|c| c.id)
            .map(|c| c.output["summary"].as_str().unwrap_or("").to_owned())
            .unwrap_or_default()
    })
}

fn head_of(w: &World, pr: u64) -> String {
    w.sim.with(|s| s.repos[REPO].pulls[&pr].head_sha.clone())
}

const THRESHOLDS: &str = "tests:\n  min_coverage: 80\n";

/// A repository configured with `config`, a feature in review, its tests run dispatched:
/// (world, issue, PR, tests run).
async fn tests_dispatched(backend: Backend, config: &str) -> (World, u64, u64, u64) {
    let w = setup_with(backend, config).await;
    let (n, pr) = w
        .feature_in_review("Export invoices", "Add invoice export")
        .await;
    let tests = w.wait_for_run(None).await;
    (w, n, pr, tests)
}

async fn a_feature_reaches_production_with_evidence_from_its_runs(backend: Backend) {
    let (w, n, pr, tests) = tests_dispatched(backend, THRESHOLDS).await;
    let (sim, sg) = (&w.sim, &w.sg);
    // A job reports in two steps: the tests, then the scan; the second keeps the first.
    let mut first = clean_tests();
    first.as_object_mut().unwrap().remove("findings");
    let (status, body) = report(&w, tests, first).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = report(
        &w,
        tests,
        json!({"format": 1, "findings": {"critical": 0, "high": 0, "medium": 2, "low": 1}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["kind"], "tests");
    assert_eq!(body["run_id"], tests);
    assert_eq!(body["evidence"]["tests"]["passed"], 120);
    assert_eq!(body["evidence"]["coverage"]["percent"], 91.5);
    assert_eq!(body["evidence"]["findings"]["medium"], 2);
    sim.complete_workflow_run(REPO, tests, "success").await;
    sim.review(REPO, pr, "reviewer", "APPROVED").await;
    sg.settle(sim).await;
    let head = head_of(&w, pr);
    let shown = "`tests.yml` ✅ passed";
    let evidence = "120 passed, 0 failed, 3 skipped · coverage 91.5 % · findings: 0 critical, 0 high, 2 medium, 1 low · `lighthouse_accessibility=98`";
    for (surface, text) in [
        ("status comment", w.status(n)),
        ("check run", check_run_summary(&w, &head)),
    ] {
        assert!(text.contains(shown), "{surface}: {text}");
        assert!(text.contains(evidence), "{surface}: {text}");
    }
    // The deploy reports where it deployed and which version: the Deployment shows it.
    let staging = w.wait_for_run(Some("staging")).await;
    let (status, body) = report(
        &w,
        staging,
        json!({"format": 1, "deploy": {"url": "https://staging.acme.test/", "version": "1.4.2"}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["kind"], "deploy");
    sim.complete_workflow_run(REPO, staging, "success").await;
    w.wait_for_phase(n, "readiness").await;
    let deployed = w.deployments("staging");
    assert!(
        deployed[0].statuses.contains(&(
            "success".to_owned(),
            "https://staging.acme.test/".to_owned()
        )),
        "{:?}",
        deployed[0].statuses
    );
    // The closing summary keeps the evidence.
    sim.comment(REPO, pr, "releaser", "/approve production")
        .await;
    sg.settle(sim).await;
    let production = w
        .newest_run(Some("production"))
        .unwrap_or_else(|| panic!("no production deploy: {}\n{:?}", w.status(n), w.replies(pr)));
    sim.complete_workflow_run(REPO, production.id, "success")
        .await;
    w.wait_for_phase(n, "done").await;
    let replies = w.replies(n).join("\n");
    assert!(replies.contains("is in production"), "{replies}");
    assert!(replies.contains(evidence), "{replies}");
    assert!(
        replies.contains("version `1.4.2` · at `https://staging.acme.test/`"),
        "{replies}"
    );
    // And the API shows it per run.
    let token = sim.user_token("dev");
    let id = sg
        .store
        .pipelines_of(REPO)
        .await
        .unwrap()
        .first()
        .unwrap()
        .id;
    let detail: Value = reqwest::Client::new()
        .get(sg.url.join(&format!("api/v1/pipelines/{id}")).unwrap())
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        detail["test_runs"][0]["evidence"]["coverage"]["percent"],
        91.5
    );
    assert_eq!(
        detail["deploys"][0]["evidence"]["deploy"]["version"],
        "1.4.2"
    );
}

on_both_backends!(a_feature_reaches_production_with_evidence_from_its_runs);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_actions_report_under_the_thresholds_holds_the_gate_until_an_admin_skips_it() {
    let (w, n, pr, tests) = tests_dispatched(Backend::Sqlite, "tests:\n  min_coverage: 90\n").await;
    let (sim, sg) = (&w.sim, &w.sg);
    let document: Value = serde_json::from_str(ACTION_DOCUMENT).unwrap();
    let (status, body) = report(&w, tests, document).await;
    assert_eq!(status, 201, "{body}");
    sim.complete_workflow_run(REPO, tests, "success").await;
    sim.review(REPO, pr, "reviewer", "APPROVED").await;
    sg.settle(sim).await;
    let status = w.status(n);
    for why in [
        "1 test case failed",
        "coverage 84.38 % is under 90 %",
        "1 critical finding (at most 0)",
        "5 high findings (at most 0)",
    ] {
        assert!(status.contains(why), "{why}: {status}");
    }
    assert!(
        w.newest_run(Some("staging")).is_none(),
        "nothing is deployed while the evidence falls short"
    );
    // Only an admin's `/skip tests` lets it through, and it is audited.
    sim.comment(REPO, pr, "owner", "/skip tests flaky scanner, see #99")
        .await;
    sg.settle(sim).await;
    w.wait_for_run(Some("staging")).await;
    let audit = w
        ._db
        .texts("SELECT action || ': ' || detail FROM audit_log ORDER BY id")
        .await
        .join("\n");
    assert!(audit.contains("flaky scanner"), "{audit}");
    assert!(
        audit.contains(&format!("evidence: run {tests} (attempt 1)")),
        "{audit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_reports_no_coverage_fails_the_gate_saying_so() {
    let (w, n, _, tests) = tests_dispatched(Backend::Sqlite, THRESHOLDS).await;
    let (sim, sg) = (&w.sim, &w.sg);
    sim.complete_workflow_run(REPO, tests, "success").await;
    sg.settle(sim).await;
    w.expect_status(
        n,
        &format!("no coverage reported by `tests.yml` run {tests}"),
    );
}

/// Tokens that do not hold, or speak for another run, are refused with the failing claim;
/// nothing they sent is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_that_do_not_hold_are_refused_with_the_claim_that_failed() {
    let (w, n, _, tests) = tests_dispatched(Backend::Sqlite, THRESHOLDS).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let aud = audience(&w);
    let mut document = clean_tests();
    document["pipeline"] = pipeline_input(&w, tests).into();
    let claims = sim.oidc_claims(REPO, tests, &aud);
    let edited = |f: &dyn Fn(&mut Value)| {
        let mut c = claims.clone();
        f(&mut c);
        oidc::sign(&c)
    };
    // A second run of the same pipeline's repository that shipgate did not dispatch.
    let stranger = sim.with(|s| {
        let mut run = s.repos[REPO].runs[&tests].clone();
        run.id = 999_999;
        run.event = "push".into();
        s.repos.get_mut(REPO).unwrap().runs.insert(run.id, run);
        999_999
    });
    let cases: Vec<(&str, Option<String>, u16, &str)> = vec![
        ("no token", None, 401, "token"),
        ("another key", Some(oidc::forge(&claims)), 401, "signature"),
        (
            "another audience",
            Some(edited(&|c| c["aud"] = "https://elsewhere.example".into())),
            401,
            "aud",
        ),
        (
            "another issuer",
            Some(edited(&|c| {
                c["iss"] = "https://token.actions.githubusercontent.com".into()
            })),
            401,
            "iss",
        ),
        (
            "expired",
            Some(edited(&|c| {
                let now = c["iat"].as_i64().unwrap();
                c["iat"] = (now - 3600).into();
                c["nbf"] = (now - 3600).into();
                c["exp"] = (now - 3000).into();
            })),
            401,
            "exp",
        ),
        (
            "another repository",
            Some(edited(&|c| {
                c["repository"] = STRANGERS_REPO.into();
                c["workflow_ref"] = c["workflow_ref"]
                    .as_str()
                    .unwrap()
                    .replace(REPO, STRANGERS_REPO)
                    .into();
            })),
            403,
            "repository",
        ),
        (
            "another repository's id",
            Some(edited(&|c| c["repository_id"] = "1".into())),
            403,
            "repository_id",
        ),
        (
            "a run shipgate did not dispatch",
            Some(sim.oidc_token(REPO, stranger, &aud)),
            403,
            "run_id",
        ),
        (
            "no audience",
            Some(edited(&|c| {
                c.as_object_mut().unwrap().remove("aud");
            })),
            401,
            "aud",
        ),
        (
            "not valid yet",
            Some(edited(&|c| {
                let now = c["iat"].as_i64().unwrap();
                c["nbf"] = (now + 600).into();
            })),
            401,
            "nbf",
        ),
        (
            "signed with a shared secret",
            Some(
                jsonwebtoken::encode(
                    &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
                    &claims,
                    &jsonwebtoken::EncodingKey::from_secret(b"guessable"),
                )
                .unwrap(),
            ),
            401,
            "alg",
        ),
        (
            "another commit",
            Some(edited(&|c| c["sha"] = "0".repeat(40).into())),
            403,
            "sha",
        ),
        (
            "another workflow",
            Some(edited(&|c| {
                c["workflow_ref"] = c["workflow_ref"]
                    .as_str()
                    .unwrap()
                    .replace("tests.yml", "lint.yml")
                    .into()
            })),
            403,
            "workflow_ref",
        ),
    ];
    for (what, token, status, claim) in cases {
        let (got, body) = post(&w, token.as_deref(), &document).await;
        assert_eq!(got, status, "{what}: {body}");
        assert_eq!(body["claim"], claim, "{what}: {body}");
        assert!(
            body["detail"].as_str().unwrap().starts_with(claim),
            "{what}: {body}"
        );
    }
    sim.with(|s| s.repos.get_mut(REPO).unwrap().runs.remove(&stranger));
    // One run's token replayed for another run's report.
    sim.complete_workflow_run(REPO, tests, "failure").await;
    sg.settle(sim).await;
    sim.comment(REPO, n, "dev", "/retry tests").await;
    sg.settle(sim).await;
    let retried = w.wait_for_run(None).await;
    assert_ne!(retried, tests);
    let mut theirs = document.clone();
    theirs["pipeline"] = pipeline_input(&w, retried).into();
    let (got, body) = post(&w, Some(&oidc::sign(&claims)), &theirs).await;
    assert_eq!(
        (got, body["claim"].as_str()),
        (403, Some("run_id")),
        "{body}"
    );
    // The same report for its own run, twice (the action retries): kept once, the same.
    for _ in 0..2 {
        let (got, body) = report(&w, retried, clean_tests()).await;
        assert_eq!(got, 201, "{body}");
        assert_eq!(body["evidence"]["tests"]["passed"], 120, "{body}");
        assert_eq!(body["evidence"]["metrics"].as_object().unwrap().len(), 1);
    }
    // At most 50 metrics per run attempt, over all its reports.
    let many = |from: usize| {
        let metrics: serde_json::Map<String, Value> = (from..from + 30)
            .map(|i| (format!("m{i}"), Value::from("1")))
            .collect();
        json!({"format": 1, "metrics": metrics})
    };
    assert_eq!(report(&w, retried, many(0)).await.0, 201);
    let (got, body) = report(&w, retried, many(100)).await;
    assert_eq!(got, 400, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("at most 50 metrics")
    );
    sim.complete_workflow_run(REPO, retried, "success").await;
    sg.settle(sim).await;
    w.expect_status(n, "coverage 91.5 %");
    w.expect_status(n, "26 more metrics");
    // Its run over, the token cannot rewrite what the gate judged.
    let (got, body) = report(
        &w,
        retried,
        json!({"format": 1, "coverage": {"percent": 1}}),
    )
    .await;
    assert_eq!(
        (got, body["claim"].as_str()),
        (403, Some("run_attempt")),
        "{body}"
    );
    w.expect_status(n, "coverage 91.5 %");
    // Keys were read once; a token naming an unknown key does not make shipgate read them
    // again within the minute.
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("rotated-away".into());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(
        shipgate::sim::keys::app_key_pair(2).private_pem.as_bytes(),
    )
    .unwrap();
    let unknown = jsonwebtoken::encode(&header, &claims, &key).unwrap();
    for _ in 0..3 {
        let (got, body) = post(&w, Some(&unknown), &document).await;
        assert_eq!((got, body["claim"].as_str()), (401, Some("kid")), "{body}");
    }
    assert_eq!(sim.with(|s| s.oidc_key_fetches), 1);
}

/// Documents that are not evidence are answered 400 or 413, and say why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_documents_are_refused_with_the_reason() {
    let (w, _, _, tests) = tests_dispatched(Backend::Sqlite, THRESHOLDS).await;
    let cases = [
        (json!({"format": 2}), "format 2"),
        (json!({"format": 1, "coverage": {"percent": 140}}), "0–100"),
        (json!({"format": 1, "metrics": {"a b": "1"}}), "metric name"),
        (
            json!({"format": 1, "metrics": {"score": "`@everyone`"}}),
            "backticks",
        ),
        (
            json!({"format": 1, "deploy": {"version": "1 <!-- shipgate:reply p1.e9 -->"}}),
            "`<`",
        ),
        (
            json!({"format": 1, "tests": {"passed": 1, "failed": u64::MAX, "skipped": 0}}),
            "counts are at most",
        ),
        (
            json!({"format": 1, "deploy": {"url": "javascript:alert(1)"}}),
            "http(s)",
        ),
        (json!({"format": 1, "secret": "x"}), "unknown field"),
    ];
    for (document, why) in cases {
        let (status, body) = report(&w, tests, document).await;
        assert_eq!(status, 400, "{why}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains(why),
            "{why}: {body}"
        );
    }
    let huge = json!({"format": 1, "metrics": {"x": "y".repeat(70_000)}});
    let (status, body) = report(&w, tests, huge).await;
    assert_eq!(status, 413, "{body}");
}

/// The committed bundle (`action/dist/index.js`) run as a job step would run it, with the
/// token endpoint a runner gives a job: it reads the sample reports, gets the run's token
/// from the simulated issuer and posts to shipgate, which records what the reports say.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_action_bundle_reports_a_runs_evidence_end_to_end() {
    let (w, n, _, tests) = tests_dispatched(Backend::Sqlite, THRESHOLDS).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        json!({"inputs": {"sha": "x", "pipeline": pipeline_input(&w, tests)}}).to_string(),
    )
    .unwrap();
    let output = dir.path().join("output");
    std::fs::write(&output, "").unwrap();
    let (token_url, token) = sim.actions_token_request(REPO, tests);
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/action/test/fixtures");
    let ran = tokio::process::Command::new("node")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/action/dist/index.js"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("INPUT_URL", sg.url.as_str())
        .env("INPUT_AUDIENCE", "")
        .env("INPUT_JUNIT", format!("{fixtures}/junit/node-junit.xml"))
        .env(
            "INPUT_COVERAGE",
            format!("{fixtures}/coverage/node-lcov.info"),
        )
        .env(
            "INPUT_SARIF",
            format!("{fixtures}/sarif/eslint.sarif\n{fixtures}/sarif/codeql.sarif"),
        )
        .env("INPUT_METRICS", "lighthouse_accessibility=98")
        .env("INPUT_DEPLOY-URL", "")
        .env("INPUT_DEPLOY-VERSION", "")
        .env("INPUT_PIPELINE", "")
        .env("INPUT_RETRIES", "2")
        .env("INPUT_FAIL-ON-ERROR", "true")
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_OUTPUT", &output)
        .env("ACTIONS_ID_TOKEN_REQUEST_URL", token_url)
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", token)
        .output()
        .await
        .expect("node runs (it is on the machine; .ci/run needs it for the action's tests)");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    );
    assert!(ran.status.success(), "{log}");
    let sent = std::fs::read_to_string(&output).unwrap();
    assert!(sent.contains("evidence<<"), "the step's output: {sent}");
    sim.complete_workflow_run(REPO, tests, "success").await;
    sg.settle(sim).await;
    let expected: Value = serde_json::from_str(ACTION_DOCUMENT).unwrap();
    w.expect_status(
        n,
        &format!(
            "{} passed, {} failed, {} skipped · coverage {} %",
            expected["tests"]["passed"],
            expected["tests"]["failed"],
            expected["tests"]["skipped"],
            expected["coverage"]["percent"]
        ),
    );
    w.expect_status(n, "1 critical finding (at most 0)");
}
