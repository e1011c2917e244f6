//! End to end through real HTTP: signed webhooks from the simulator into shipgate, octocrab
//! calls from shipgate back to the simulator. From an issue labelled `feature` to a pull
//! request with an approved review and green tests, and the refusals on the way — asserting
//! what a user sees on GitHub.

#[macro_use]
mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use shipgate::clock::ManualClock;

use common::world::{Setup, World, setup_with};
use common::{Backend, Shipgate, TestDb};
use shipgate::sim::Simulator;
use shipgate::sim::state::Permission;

const REPO: &str = "acme/widgets";
const BODY: &str = "Finance wants invoices as CSV.\n\n## Acceptance criteria\n- one file per month\n\n- [ ] CSV writer\n- [ ] download route\n";

struct Seen {
    status: Vec<String>,
    replies: Vec<String>,
    labels: Vec<String>,
}

/// What a user sees on the issue: shipgate's status comment (every version), its other
/// comments, and the labels.
fn seen(sim: &Simulator, number: u64) -> Seen {
    sim.with(|s| {
        let r = &s.repos[REPO];
        let bot = s.app.bot_login();
        let mine: Vec<_> = r
            .comments
            .values()
            .filter(|c| c.issue_number == number && c.user == bot)
            .collect();
        let status: Vec<_> = mine
            .iter()
            .filter(|c| c.body.starts_with("<!-- shipgate:status"))
            .collect();
        assert!(
            status.len() <= 1,
            "one status comment per pipeline, found {}",
            status.len()
        );
        Seen {
            status: status
                .first()
                .map(|c| c.history.clone())
                .unwrap_or_default(),
            replies: mine
                .iter()
                .filter(|c| !c.body.starts_with("<!-- shipgate:status"))
                .map(|c| c.body.clone())
                .collect(),
            labels: r.issues[&number].labels.clone(),
        }
    })
}

fn current(seen: &Seen) -> &str {
    seen.status.last().map(String::as_str).unwrap_or("")
}

/// The common repository (`lead` maintains; `dev`, `reviewer` write; `visitor` reads) with
/// the default configuration, and shipgate running.
async fn setup(backend: Backend) -> World {
    setup_with(backend, "").await
}

/// The run shipgate dispatched for tests on `sha`: its id and inputs.
fn test_runs(sim: &Simulator, sha: &str) -> Vec<(u64, serde_json::Map<String, serde_json::Value>)> {
    sim.with(|s| {
        s.repos[REPO]
            .runs
            .values()
            .filter(|r| r.inputs.get("sha").and_then(|v| v.as_str()) == Some(sha))
            .map(|r| (r.id, r.inputs.clone()))
            .collect()
    })
}

fn check_run(sim: &Simulator, sha: &str) -> (String, Option<String>, String) {
    sim.with(|s| {
        let runs: Vec<_> = s.repos[REPO]
            .check_runs
            .values()
            .filter(|c| c.head_sha == sha && c.name == "shipgate")
            .collect();
        let c = runs
            .last()
            .unwrap_or_else(|| panic!("no shipgate check run on {sha}"));
        (
            c.status.clone(),
            c.conclusion.clone(),
            c.output["summary"].as_str().unwrap_or("").to_owned(),
        )
    })
}

async fn feature_to_tested_pull_request(backend: Backend) {
    let w = setup(backend).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let before = sim.requests().len();
    let n = sim
        .open_issue(REPO, "pm", "Export invoices", BODY, &["feature"])
        .await;
    // A sub-issue, listed with the task list once planning starts.
    let sub = sim.with(|st| {
        let sub = st.add_issue(REPO, "pm", "Monthly CSV writer", "", &[]);
        let parent = st.repo_mut(REPO).unwrap().issues.get_mut(&n).unwrap();
        parent.sub_issues.push(sub);
        sub
    });
    sg.settle(sim).await;
    let s = seen(sim, n);
    assert!(current(&s).contains("phase **intake**"), "{}", current(&s));
    assert!(current(&s).contains("complete, waiting for approval"));
    assert!(
        s.labels.contains(&"shipgate:intake".to_owned()),
        "{:?}",
        s.labels
    );

    // Requirement and plan approval by a maintainer.
    let c = sim.comment(REPO, n, "lead", "/approve").await;
    sg.settle(sim).await;
    let eyes = sim.with(|st| {
        st.repos[REPO].comments[&c]
            .reactions
            .iter()
            .any(|r| r.content == "eyes")
    });
    assert!(eyes, "👀 on receipt");
    let s = seen(sim, n);
    assert!(
        current(&s).contains("phase **planning**"),
        "{}",
        current(&s)
    );
    assert!(current(&s).contains("approved by @lead"));
    assert!(
        current(&s).contains(&format!("- [ ] #{sub} Monthly CSV writer")),
        "sub-issues listed: {}",
        current(&s)
    );
    assert!(
        current(&s).contains("- [ ] CSV writer"),
        "tasks listed: {}",
        current(&s)
    );
    sim.comment(REPO, n, "lead", "/approve plan").await;
    sg.settle(sim).await;
    let branch = format!("feature/REQ-{n}-export-invoices");
    assert!(
        sim.with(|st| st.repos[REPO].branches.contains_key(&branch)),
        "shipgate created {branch}"
    );
    let s = seen(sim, n);
    assert!(current(&s).contains("phase **development**"));
    assert!(
        s.labels.contains(&"shipgate:development".to_owned())
            && !s.labels.contains(&"shipgate:intake".to_owned()),
        "{:?}",
        s.labels
    );

    // A pull request from the feature branch: tests dispatched with sha and pipeline.
    let pr = sim
        .open_pull(
            REPO,
            "dev",
            &branch,
            "Export invoices as CSV",
            &format!("Closes #{n}"),
        )
        .await;
    sg.settle(sim).await;
    let head = sim.with(|st| st.repos[REPO].pulls[&pr].head_sha.clone());
    let runs = test_runs(sim, &head);
    assert_eq!(runs.len(), 1, "one dispatch per workflow and head SHA");
    let (run_id, inputs) = &runs[0];
    assert_eq!(inputs["sha"], head.as_str());
    assert!(
        inputs["pipeline"]
            .as_str()
            .unwrap()
            .starts_with(&format!("REQ-{n}-t"))
    );
    let (status, _, summary) = check_run(sim, &head);
    assert_eq!(status, "in_progress");
    assert!(summary.contains("0/1 approvals"), "{summary}");

    // Green tests and an approving review on the same head SHA.
    sim.complete_workflow_run(REPO, *run_id, "success").await;
    sg.settle(sim).await;
    sim.review(REPO, pr, "reviewer", "APPROVED").await;
    sg.settle(sim).await;
    let s = seen(sim, n);
    assert!(current(&s).contains("phase **staging**"), "{}", current(&s));
    assert!(s.labels.contains(&"shipgate:staging".to_owned()));
    let (status, _, summary) = check_run(sim, &head);
    assert_eq!(
        status, "in_progress",
        "staging and production are still open"
    );
    assert!(summary.contains("1/1 approvals at"), "{summary}");
    assert!(summary.contains("`tests.yml` ✅ passed"), "{summary}");
    assert!(
        s.status.len() > 3,
        "the one status comment was edited in place"
    );
    assert!(s.replies.is_empty(), "nothing was refused: {:?}", s.replies);

    let requests: Vec<String> = sim.requests()[before..]
        .iter()
        .filter_map(|r| r.operation.clone())
        .collect();
    eprintln!(
        "GitHub requests from `feature` to green PR: {} {:?}",
        requests.len(),
        requests
    );
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

async fn refusals_say_why(backend: Backend) {
    let w = setup(backend).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let n = sim
        .open_issue(
            REPO,
            "pm",
            "Export invoices",
            "no sections yet",
            &["feature"],
        )
        .await;
    sg.settle(sim).await;
    assert!(current(&seen(sim, n)).contains("missing section: `Acceptance criteria`"));

    // Unauthorised /approve, an unauthorised label, an unknown command.
    sim.comment(REPO, n, "visitor", "/approve").await;
    sim.label(REPO, n, "visitor", "approved").await;
    sim.comment(REPO, n, "lead", "/frobnicate").await;
    sg.settle(sim).await;
    let s = seen(sim, n);
    assert!(
        s.replies
            .iter()
            .any(|r| r.contains("@visitor") && r.contains("needs write access")),
        "{:?}",
        s.replies
    );
    assert!(
        s.replies
            .iter()
            .any(|r| r.contains("Removed the `approved` label")),
        "{:?}",
        s.replies
    );
    assert!(
        !s.labels.contains(&"approved".to_owned()),
        "the label was taken off"
    );
    assert!(
        s.replies
            .iter()
            .any(|r| r.contains("`/frobnicate` is not a shipgate command"))
    );
    // An incomplete requirement cannot be approved, until it is completed.
    sim.comment(REPO, n, "lead", "/approve").await;
    sg.settle(sim).await;
    assert!(
        seen(sim, n)
            .replies
            .iter()
            .any(|r| r.contains("add the `Acceptance criteria` section"))
    );
    sim.edit_issue(REPO, n, "pm", BODY).await;
    sim.comment(REPO, n, "lead", "/approve").await;
    sim.comment(REPO, n, "lead", "/approve plan").await;
    sg.settle(sim).await;

    let branch = format!("feature/REQ-{n}-export-invoices");
    let pr = sim
        .open_pull(REPO, "dev", &branch, "Export", &format!("Closes #{n}"))
        .await;
    sg.settle(sim).await;
    let head = sim.with(|st| st.repos[REPO].pulls[&pr].head_sha.clone());
    // The author's own approval does not count; a failing run fails the check.
    sim.review(REPO, pr, "dev", "APPROVED").await;
    let (run_id, _) = test_runs(sim, &head)[0].clone();
    sim.complete_workflow_run(REPO, run_id, "failure").await;
    sg.settle(sim).await;
    let (status, conclusion, summary) = check_run(sim, &head);
    assert_eq!(
        (status.as_str(), conclusion.as_deref()),
        ("completed", Some("failure"))
    );
    assert!(
        summary.contains("0/1 approvals"),
        "self-approval never counts: {summary}"
    );
    assert!(summary.contains("`tests.yml` ❌ failure"), "{summary}");

    // Approval, then a push: the approval is stale and tests run on the new head.
    sim.review(REPO, pr, "reviewer", "APPROVED").await;
    let new_head = sim.push_to_pull(REPO, pr, "dev", "fix the writer").await;
    sg.settle(sim).await;
    let replies = seen(sim, pr).replies;
    assert!(
        replies
            .iter()
            .any(|r| r.contains("@reviewer no longer counts")),
        "{replies:?}"
    );
    assert_eq!(
        test_runs(sim, &new_head).len(),
        1,
        "tests dispatched for the new head"
    );
    let (status, _, summary) = check_run(sim, &new_head);
    assert_eq!(status, "in_progress", "a new check run for the new head");
    assert!(
        summary.contains("0/1 approvals") && summary.contains("stale: @reviewer"),
        "{summary}"
    );
    assert!(current(&seen(sim, n)).contains("phase **review**"));
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

async fn a_configuration_error_holds_the_gates_and_fails_the_config_check(backend: Backend) {
    let w = setup(backend).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let sha = sim
        .push_file(
            REPO,
            "main",
            "lead",
            ".github/shipgate.yml",
            "review:\n  required_approvals: two\nteste:\n  workflows: [ci.yml]\n",
        )
        .await;
    sg.settle(sim).await;
    let check = sim.with(|s| {
        s.repos[REPO]
            .check_runs
            .values()
            .find(|c| c.head_sha == sha && c.name == "shipgate / config")
            .cloned()
    });
    let check = check.expect("a shipgate / config check run on the push");
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    let summary = check.output["summary"].as_str().unwrap();
    assert!(
        summary.contains("line 2, `review.required_approvals`"),
        "{summary}"
    );
    assert!(
        summary.contains("line 3, `teste`: unknown key"),
        "{summary}"
    );

    let n = sim
        .open_issue(REPO, "pm", "Export invoices", BODY, &["feature"])
        .await;
    sim.comment(REPO, n, "lead", "/approve").await;
    sg.settle(sim).await;
    let s = seen(sim, n);
    assert!(
        current(&s).contains("phase **intake**"),
        "gates hold: {}",
        current(&s)
    );
    assert!(
        current(&s).contains("Configuration errors"),
        "{}",
        current(&s)
    );
    assert!(
        s.replies.iter().any(|r| r.contains("has errors")),
        "{:?}",
        s.replies
    );

    // Fixed on the default branch: every open pipeline is redrawn and its gates move again.
    sim.push_file(
        REPO,
        "main",
        "lead",
        ".github/shipgate.yml",
        "review:\n  required_approvals: 2\n",
    )
    .await;
    sg.settle(sim).await;
    assert!(
        !current(&seen(sim, n)).contains("Configuration errors"),
        "{}",
        current(&seen(sim, n))
    );
    sim.comment(REPO, n, "lead", "/approve").await;
    sg.settle(sim).await;
    assert!(
        current(&seen(sim, n)).contains("phase **planning**"),
        "{}",
        current(&seen(sim, n))
    );
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

async fn a_pull_request_opened_first_is_linked_when_development_starts(backend: Backend) {
    let w = setup(backend).await;
    let (sim, sg) = (&w.sim, &w.sg);
    // The developer starts before anyone files the feature: no pipeline, nothing happens.
    // Issues and PRs share numbers: the PR takes the next one, the feature the one after.
    let n = sim.with(|s| s.repos[REPO].issues.len() as u64 + 2);
    let pr = sim
        .open_pull(
            REPO,
            "dev",
            "work-in-progress",
            "Export",
            &format!("Fixes #{n}"),
        )
        .await;
    sg.settle(sim).await;
    assert!(
        sim.with(|s| s.repos[REPO].runs.is_empty()),
        "nothing dispatched without a pipeline"
    );
    let issue = sim
        .open_issue(REPO, "pm", "Export invoices", BODY, &["feature"])
        .await;
    assert_eq!(issue, n);
    sim.comment(REPO, n, "lead", "/approve").await;
    sim.comment(REPO, n, "lead", "/approve plan").await;
    sg.settle(sim).await;
    let head = sim.with(|st| st.repos[REPO].pulls[&pr].head_sha.clone());
    assert_eq!(
        test_runs(sim, &head).len(),
        1,
        "the existing PR was found and tested"
    );
    let s = seen(sim, n);
    assert!(
        current(&s).contains(&format!("#{pr} by @dev")),
        "{}",
        current(&s)
    );
    assert!(current(&s).contains("phase **review**"));
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

async fn a_silent_run_is_polled_after_the_timeout_even_across_a_restart(backend: Backend) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let w = Setup::new(backend).clock(clock.clone()).start().await;
    let (sim, sg) = (&w.sim, &w.sg);
    let n = sim
        .open_issue(REPO, "pm", "Export invoices", BODY, &["feature"])
        .await;
    sim.comment(REPO, n, "lead", "/approve").await;
    sim.comment(REPO, n, "lead", "/approve plan").await;
    sg.settle(sim).await;
    let branch = format!("feature/REQ-{n}-export-invoices");
    let pr = sim
        .open_pull(REPO, "lead", &branch, "Export", &format!("Closes #{n}"))
        .await;
    sg.settle(sim).await;
    let head = sim.with(|st| st.repos[REPO].pulls[&pr].head_sha.clone());
    let (run_id, _) = test_runs(sim, &head)[0].clone();

    // The run never reports. An hour and a minute later (default `tests.timeout: 60m`),
    // a restarted shipgate polls it, finds it still going, and fails the tests gate.
    let w = w
        .restarted(|| clock.advance(chrono::Duration::minutes(61)))
        .await;
    let (sim, sg) = (&w.sim, &w.sg);
    for _ in 0..100 {
        sg.settle(sim).await;
        if sim
            .requests()
            .iter()
            .any(|r| r.operation.as_deref() == Some("actions/get-workflow-run"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sg.settle(sim).await;
    let polls: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.operation.as_deref() == Some("actions/get-workflow-run"))
        .collect();
    assert_eq!(polls.len(), 1, "polled once");
    assert!(polls[0].path.ends_with(&format!("/actions/runs/{run_id}")));
    let (status, conclusion, summary) = check_run(sim, &head);
    assert_eq!(
        (status.as_str(), conclusion.as_deref()),
        ("completed", Some("failure"))
    );
    assert!(summary.contains("no result after 1h"), "{summary}");
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

async fn github_failures_are_retried_waited_out_or_reported(backend: Backend) {
    let db = TestDb::new(backend).await;
    let sim = Simulator::start().await;
    sim.add_repo(REPO);
    // A tests workflow that does not declare the `pipeline` input: GitHub refuses (422).
    sim.add_workflow(REPO, "tests.yml", &["sha"]);
    sim.set_permission(REPO, "lead", Permission::Maintain);
    let sg = Shipgate::start(&db, &sim).await;
    sim.install("acme", &[REPO]).await;
    sg.settle(&sim).await;

    // A 5xx and a rate limit on the way: retried, and waited out until the reset time.
    let reset = (Utc::now() + chrono::Duration::seconds(2))
        .timestamp()
        .to_string();
    sim.inject_fault("issues/create-comment", 502, &[]);
    sim.inject_fault(
        "issues/get-label",
        403,
        &[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", reset.as_str()),
        ],
    );
    let started = std::time::Instant::now();
    let n = sim
        .open_issue(REPO, "pm", "Export invoices", BODY, &["feature"])
        .await;
    sg.settle(&sim).await;
    let labelled = sim
        .requests()
        .into_iter()
        .filter(|r| r.operation.as_deref() == Some("issues/get-label"))
        .map(|r| (r.status, r.at))
        .collect::<Vec<_>>();
    assert_eq!(labelled.len(), 2, "{labelled:?}");
    assert!(
        labelled[1].1.timestamp() >= reset.parse::<i64>().unwrap(),
        "waited for x-ratelimit-reset"
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
    let s = seen(&sim, n);
    let created = sim
        .requests()
        .iter()
        .filter(|r| r.operation.as_deref() == Some("issues/create-comment") && r.status == 201)
        .count();
    assert_eq!(
        (created, s.status.is_empty()),
        (1, false),
        "the status comment, once, after a 502"
    );
    assert!(s.labels.contains(&"shipgate:intake".to_owned()));

    // A permanent refusal fails the pipeline, which says why on the issue; `/retry` after
    // the workflow is fixed dispatches again.
    sim.comment(REPO, n, "lead", "/approve").await;
    sim.comment(REPO, n, "lead", "/approve plan").await;
    sg.settle(&sim).await;
    let branch = format!("feature/REQ-{n}-export-invoices");
    let pr = sim
        .open_pull(REPO, "lead", &branch, "Export", &format!("Closes #{n}"))
        .await;
    sg.settle(&sim).await;
    let s = seen(&sim, n);
    assert!(current(&s).contains("phase **failed**"), "{}", current(&s));
    assert!(
        s.replies
            .iter()
            .any(|r| r.contains("could not dispatch `tests.yml`") && r.contains("422")),
        "{:?}",
        s.replies
    );
    assert!(s.labels.contains(&"shipgate:failed".to_owned()));
    sim.with(|st| {
        let r = st.repo_mut(REPO).unwrap();
        let w = r.workflows.values_mut().next().unwrap();
        w.inputs.push("pipeline".into());
    });
    sim.comment(REPO, n, "lead", "/retry").await;
    sg.settle(&sim).await;
    let head = sim.with(|st| st.repos[REPO].pulls[&pr].head_sha.clone());
    assert_eq!(test_runs(&sim, &head).len(), 1);
    assert!(current(&seen(&sim, n)).contains("phase **review**"));
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sg.stop().await;
}

/// The deployments of `sha` to `environment`, each with its statuses (oldest first).
fn deployments(sim: &Simulator, sha: &str, environment: &str) -> Vec<(u64, Vec<(String, String)>)> {
    sim.with(|s| {
        let r = &s.repos[REPO];
        r.deployments
            .values()
            .filter(|d| d.sha == sha && d.environment == environment)
            .map(|d| {
                let statuses = r
                    .deployment_statuses
                    .values()
                    .filter(|x| x.deployment_id == d.id)
                    .map(|x| (x.state.clone(), x.log_url.clone()))
                    .collect();
                (d.id, statuses)
            })
            .collect()
    })
}

fn deploy_runs(
    sim: &Simulator,
    sha: &str,
) -> Vec<(u64, serde_json::Map<String, serde_json::Value>)> {
    test_runs(sim, sha)
        .into_iter()
        .filter(|(_, inputs)| inputs.contains_key("environment"))
        .collect()
}

async fn green_gates_deploy_to_staging(backend: Backend) {
    let w = setup(backend).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let n = sim
        .open_issue(REPO, "pm", "Export invoices", BODY, &["feature"])
        .await;
    sim.comment(REPO, n, "lead", "/approve").await;
    sim.comment(REPO, n, "lead", "/approve plan").await;
    sg.settle(sim).await;
    let branch = format!("feature/REQ-{n}-export-invoices");
    let pr = sim
        .open_pull(REPO, "dev", &branch, "Export", &format!("Closes #{n}"))
        .await;
    sg.settle(sim).await;
    let head = sim.with(|st| st.repos[REPO].pulls[&pr].head_sha.clone());
    let (tests, _) = test_runs(sim, &head)[0].clone();
    sim.complete_workflow_run(REPO, tests, "success").await;
    sim.review(REPO, pr, "reviewer", "APPROVED").await;
    sg.settle(sim).await;

    // A Deployment for staging and the deploy workflow with its four inputs.
    let d = deployments(sim, &head, "staging");
    assert_eq!(d.len(), 1, "one staging deployment of the head SHA");
    let runs = deploy_runs(sim, &head);
    assert_eq!(runs.len(), 1);
    let (run, inputs) = runs[0].clone();
    assert_eq!(inputs["environment"], "staging");
    assert_eq!(inputs["sha"], head.as_str());
    assert_eq!(inputs["rollback"], "false");
    assert!(
        inputs["pipeline"]
            .as_str()
            .unwrap()
            .starts_with(&format!("REQ-{n}-d"))
    );
    assert_eq!(
        d[0].1.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
        ["in_progress"]
    );
    assert!(current(&seen(sim, n)).contains("phase **staging**"));

    // The deploy fails: the deployment says so, the pipeline fails and says why.
    sim.complete_workflow_run(REPO, run, "failure").await;
    sg.settle(sim).await;
    let d = deployments(sim, &head, "staging");
    let (state, log_url) = d[0].1.last().unwrap().clone();
    assert_eq!(state, "failure");
    assert!(
        log_url.ends_with(&format!("/actions/runs/{run}")),
        "{log_url}"
    );
    let s = seen(sim, n);
    assert!(current(&s).contains("phase **failed**"), "{}", current(&s));
    assert!(
        s.replies
            .iter()
            .any(|r| r.contains("staging deploy") && r.contains("`failure`")),
        "{:?}",
        s.replies
    );

    // `/retry staging` deploys again; this time it succeeds.
    sim.comment(REPO, n, "lead", "/retry staging").await;
    sg.settle(sim).await;
    let d = deployments(sim, &head, "staging");
    assert_eq!(d.len(), 2, "a new deployment for the retry");
    let runs = deploy_runs(sim, &head);
    assert_eq!(runs.len(), 2);
    let retry = runs.iter().map(|(id, _)| *id).max().unwrap();
    sim.complete_workflow_run(REPO, retry, "success").await;
    sg.settle(sim).await;
    let d = deployments(sim, &head, "staging");
    assert_eq!(
        d[1].1.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
        ["in_progress", "success"]
    );
    let s = seen(sim, n);
    assert!(
        current(&s).contains("phase **readiness**"),
        "{}",
        current(&s)
    );
    assert!(current(&s).contains("deployed"), "{}", current(&s));
    assert!(
        current(&s)
            .contains("**Readiness:** 85/100 (staging health −15 (no health check configured))"),
        "{}",
        current(&s)
    );
    assert!(
        s.labels.contains(&"shipgate:readiness".to_owned()),
        "{:?}",
        s.labels
    );
    let (status, _, summary) = check_run(sim, &head);
    assert_eq!(status, "in_progress", "production is still ahead");
    assert!(summary.contains("Staging"), "{summary}");
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

/// One comment, bounded work: a 65,535-character comment of `/approve` lines from someone
/// without access, and 8,191 `/status` lines from a maintainer, each get one reply well under
/// GitHub's 65,536-character limit, at most ten commands are read, and the refused comment is
/// one audit entry.
async fn a_flood_of_commands_in_one_comment_is_bounded(backend: Backend) {
    let w = setup(backend).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let n = sim
        .open_issue(REPO, "pm", "Export invoices", BODY, &["feature"])
        .await;
    sg.settle(sim).await;
    let approvals = "/approve\n".repeat(65_535 / 9);
    assert!(approvals.len() <= 65_535);
    sim.comment(REPO, n, "visitor", &approvals).await;
    sim.comment(REPO, n, "lead", &"/status\n".repeat(8_191))
        .await;
    sg.settle(sim).await;
    let s = seen(sim, n);
    assert_eq!(s.replies.len(), 2, "one reply per comment");
    for reply in &s.replies {
        assert!(
            reply.chars().count() < 65_536,
            "{} characters",
            reply.chars().count()
        );
        assert!(
            reply.contains("only the first 10 commands of a comment are read"),
            "{}",
            &reply[..reply.len().min(300)]
        );
    }
    let refused = &s.replies[0];
    assert_eq!(
        refused.matches("needs write access").count(),
        10,
        "ten read, no more"
    );
    let status = &s.replies[1];
    assert_eq!(status.matches("**Waiting for:**").count(), 10);
    let audit = sg.store.audit_entries(0, 100).await.unwrap();
    let refusals: Vec<_> = audit
        .iter()
        .filter(|e| e.actor == "visitor" && e.action == "refused")
        .collect();
    assert_eq!(
        refusals.len(),
        1,
        "one entry for the refused comment: {audit:#?}"
    );
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

/// Commands, sections and tasks are what GitHub shows: a section heading inside an HTML
/// comment does not count and a setext one does; `/approve` hidden in an HTML comment, a
/// `<pre>`, a quote's lazy continuation line or a code block whose closing fence is indented
/// four spaces runs nothing and gets no answer; `+ [ ]` and `1. [ ]` items are tasks.
async fn only_what_github_shows_counts(backend: Backend) {
    let w = setup(backend).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let hidden_section = "Finance wants CSV.\n\n<!--\n## Acceptance criteria\n-->\n";
    let n = sim
        .open_issue(REPO, "pm", "Export invoices", hidden_section, &["feature"])
        .await;
    sg.settle(sim).await;
    assert!(
        current(&seen(sim, n)).contains("`Acceptance criteria`"),
        "the commented-out heading is missing: {}",
        current(&seen(sim, n))
    );
    sim.edit_issue(
        REPO,
        n,
        "pm",
        "Finance wants CSV.\n\nAcceptance criteria\n---\n\n+ [ ] CSV writer\n1. [ ] download route\n",
    )
    .await;
    sg.settle(sim).await;
    assert!(
        current(&seen(sim, n)).contains("complete, waiting for approval"),
        "{}",
        current(&seen(sim, n))
    );

    let hidden = "<!--\n/approve\n-->\n\n<pre>\n/approve\n</pre>\n\n> quoted\n/approve\n\n```\n/approve\n    ```\n/approve\n";
    sim.comment(REPO, n, "lead", hidden).await;
    sg.settle(sim).await;
    let s = seen(sim, n);
    assert!(current(&s).contains("phase **intake**"), "{}", current(&s));
    assert!(s.replies.is_empty(), "nothing was read: {:?}", s.replies);

    sim.comment(REPO, n, "lead", "Reviewed.\n/approve").await;
    sg.settle(sim).await;
    let s = seen(sim, n);
    assert!(
        current(&s).contains("phase **planning**"),
        "{}",
        current(&s)
    );
    for task in ["- [ ] CSV writer", "- [ ] download route"] {
        assert!(current(&s).contains(task), "{task}: {}", current(&s));
    }
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

/// Each phase change is ONE request: the current phase's label added and the previous one
/// removed together (GraphQL), so the issue carries one `shipgate:` label at every step and
/// no REST label call is made. A label a person deleted and made again under the same name
/// (a new id) is read again, once, and the next feature still gets it.
async fn a_phase_change_is_one_label_request(backend: Backend) {
    let w = setup(backend).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let graphql = || {
        sim.requests()
            .iter()
            .filter(|r| r.operation.as_deref() == Some("graphql"))
            .count()
    };
    let n = sim
        .open_issue(REPO, "pm", "Export invoices", BODY, &["feature"])
        .await;
    sg.settle(sim).await;
    assert_eq!(w.phase_labels(n), ["shipgate:intake"]);
    assert_eq!(graphql(), 1);

    // A person deletes `shipgate:intake` and makes it again: GitHub takes a deleted label
    // off every issue, and the label made again has a new id.
    sim.with(|st| {
        let id = st.next_id();
        let r = st.repo_mut(REPO).unwrap();
        let mut label = r.labels.remove("shipgate:intake").unwrap();
        for issue in r.issues.values_mut() {
            issue.labels.retain(|l| l != "shipgate:intake");
        }
        label.id = id;
        r.labels.insert("shipgate:intake".into(), label);
    });
    let m = sim
        .open_issue(REPO, "pm", "Import invoices", BODY, &["feature"])
        .await;
    sg.settle(sim).await;
    assert_eq!(
        w.phase_labels(m),
        ["shipgate:intake"],
        "the label made again"
    );
    assert_eq!(graphql(), 3, "the old id refused once, then the change");

    sim.comment(REPO, n, "lead", "/approve").await;
    sg.settle(sim).await;
    assert_eq!(w.phase_labels(n), ["shipgate:planning"]);
    assert_eq!(graphql(), 4, "one request for the phase change");
    sim.comment(REPO, n, "lead", "/approve plan").await;
    sg.settle(sim).await;
    assert_eq!(w.phase_labels(n), ["shipgate:development"]);
    assert_eq!(graphql(), 5, "one request for the phase change");
    let rest_label_calls: Vec<_> = sim
        .requests()
        .into_iter()
        .filter_map(|r| r.operation)
        .filter(|op| op == "issues/add-labels" || op == "issues/remove-label")
        .collect();
    assert_eq!(rest_label_calls, Vec::<String>::new());
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

/// A pipeline saved before shipgate kept the issue's node id still has its phase label
/// changed: the id is read from GitHub (`issues/get`), and the label comes out right.
async fn a_pipeline_saved_without_the_issue_node_id_still_changes_its_label(backend: Backend) {
    let w = setup(backend).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let n = sim
        .open_issue(REPO, "pm", "Export invoices", BODY, &["feature"])
        .await;
    sg.settle(sim).await;
    let strip = match w._db.backend {
        Backend::Sqlite => "UPDATE pipelines SET state = json_remove(state, '$.issue_node_id')",
        Backend::Postgres => "UPDATE pipelines SET state = (state::jsonb - 'issue_node_id')::text",
    };
    w._db.execute(strip).await;
    let kept = w._db.texts("SELECT state FROM pipelines").await;
    assert!(!kept[0].contains("issue_node_id"), "{}", kept[0]);
    let before = sim.requests().len();
    sim.comment(REPO, n, "lead", "/approve").await;
    sg.settle(sim).await;
    assert_eq!(w.phase_labels(n), ["shipgate:planning"]);
    let read = sim.requests()[before..]
        .iter()
        .filter(|r| r.operation.as_deref() == Some("issues/get"))
        .count();
    assert!(read >= 1, "the issue's node id read from GitHub");
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

on_both_backends!(
    a_pipeline_saved_without_the_issue_node_id_still_changes_its_label,
    a_phase_change_is_one_label_request,
    a_flood_of_commands_in_one_comment_is_bounded,
    only_what_github_shows_counts,
    green_gates_deploy_to_staging,
    github_failures_are_retried_waited_out_or_reported,
    a_pull_request_opened_first_is_linked_when_development_starts,
    a_silent_run_is_polled_after_the_timeout_even_across_a_restart,
    feature_to_tested_pull_request,
    refusals_say_why,
    a_configuration_error_holds_the_gates_and_fails_the_config_check
);
