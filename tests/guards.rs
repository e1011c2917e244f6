//! Rollback triggers and governance end to end, through real HTTP on SQLite and PostgreSQL:
//! an admin's `/skip` on the record (and the skipper refused production), latency over the
//! staging baseline rolling production back with an incident issue, staging rolling itself
//! back and `/retry` bringing the feature back, and the custom deployment protection rule
//! approving and rejecting runs.

#[macro_use]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use common::Backend;
use common::world::*;

/// Health URLs for both environments, with `extra` appended to the production health line.
fn config(staging: &str, production: &str, staging_extra: &str, production_extra: &str) -> String {
    format!(
        "deploy:\n  environments:\n\
         \x20   staging:\n      health: {{ url: \"{staging}\", interval: 1s, window: 2s{staging_extra} }}\n\
         \x20   production:\n      health: {{ url: \"{production}\", interval: 1s, window: 2s, failures: 2{production_extra} }}\n"
    )
}

impl World {
    /// Every answer shipgate gave on the issue and its PR.
    fn answers(&self, n: u64, pr: u64) -> Vec<String> {
        let mut all = self.replies(n);
        all.extend(self.replies(pr));
        all
    }

    /// Waits (probes run on the real clock) for a deploy run to `environment` other than
    /// `after`.
    async fn next_deploy(&self, environment: &str, after: u64) -> RunSeen {
        for _ in 0..60 {
            self.sg.settle(&self.sim).await;
            if let Some(run) = self.newest_run(Some(environment)).filter(|r| r.id != after) {
                return run;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("no new {environment} deploy after run {after}");
    }

    fn protection_reviews(&self) -> Vec<(u64, String, String, String)> {
        self.sim.with(|s| s.repos[REPO].protection_reviews.clone())
    }
}

async fn an_admin_skips_failing_tests_and_cannot_then_approve_production(backend: Backend) {
    let url = endpoint(Arc::new(AtomicBool::new(true))).await;
    let w = setup_with(backend, &config(&url, &url, "", "")).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let (n, pr) = w
        .feature_in_review("Export invoices", "Export invoices")
        .await;
    let tests = w.newest_run(None).expect("tests dispatched").id;
    sim.complete_workflow_run(REPO, tests, "failure").await;
    sim.review(REPO, pr, "reviewer", "APPROVED").await;
    sg.settle(sim).await;

    sim.comment(REPO, pr, "lead", "/skip tests flaky runner")
        .await;
    sg.settle(sim).await;
    assert!(
        w.answers(n, pr)
            .iter()
            .any(|r| r.starts_with("@lead:") && r.contains("admin access")),
        "{:?}",
        w.answers(n, pr)
    );
    assert!(w.newest_run(Some("staging")).is_none());

    sim.comment(REPO, pr, "owner", "/skip tests flaky runner")
        .await;
    let deploy = w.next_deploy("staging", 0).await.id;
    sim.complete_workflow_run(REPO, deploy, "success").await;
    w.wait_for_phase(n, "readiness").await;
    let status = w.status(n);
    assert!(
        status.contains("⏭️ `tests` skipped at") && status.contains("by @owner: flaky runner"),
        "{status}"
    );
    let head = sim.with(|s| s.repos[REPO].pulls[&pr].head_sha.clone());
    let summary = sim.with(|s| {
        s.repos[REPO]
            .check_runs
            .values()
            .filter(|c| c.head_sha == head && c.name == "shipgate")
            .max_by_key(|c| c.id)
            .map(|c| c.output["summary"].as_str().unwrap_or("").to_owned())
            .unwrap_or_default()
    });
    assert!(
        summary.contains("⏭️ skipped by @owner: flaky runner"),
        "{summary}"
    );

    // Anyone may approve production here (no approver list), except whoever skipped.
    sim.comment(REPO, pr, "owner", "/approve production").await;
    sg.settle(sim).await;
    assert!(
        w.answers(n, pr)
            .iter()
            .any(|r| r.contains("@owner skipped the `tests` gate")),
        "{:?}",
        w.answers(n, pr)
    );
    assert!(w.status(n).contains("phase **readiness**"));
    sim.comment(REPO, pr, "releaser", "/approve production")
        .await;
    w.next_deploy("production", 0).await;

    let audit = sg.store.audit_entries(0, 500).await.unwrap();
    assert!(
        audit.iter().any(|e| e.actor == "owner"
            && e.action == "skip"
            && e.detail.contains("tests")
            && e.detail.contains("flaky runner")),
        "{audit:#?}"
    );
    assert!(
        audit
            .iter()
            .any(|e| e.actor == "lead" && e.action == "refused" && e.detail.contains("/skip")),
        "{audit:#?}"
    );
    assert!(sg.store.verify_audit().await.unwrap().is_ok());
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

async fn slow_production_rolls_back_and_opens_one_incident_issue(backend: Backend) {
    let staging = endpoint(Arc::new(AtomicBool::new(true))).await;
    let mode = Arc::new(AtomicU8::new(0));
    let production = scripted_endpoint(mode.clone(), Arc::new(AtomicUsize::new(0))).await;
    let mut cfg = config(&staging, &production, "", ", max_latency_factor: 5");
    cfg.insert_str(0, "approvers:\n  production: [releaser]\n");
    let w = setup_with(backend, &cfg).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let (_, good) = w.to_done().await;

    let (n, pr, _) = w.to_readiness().await;
    mode.store(3, Ordering::SeqCst); // 400 ms answers: over 5× any local baseline
    sim.comment(REPO, pr, "releaser", "/approve production")
        .await;
    sg.settle(sim).await;
    let run = w.newest_run(Some("production")).unwrap().id;
    let bad = sim.with(|s| s.repos[REPO].pulls[&pr].merge_commit_sha.clone().unwrap());
    sim.complete_workflow_run(REPO, run, "success").await;
    let RunSeen {
        id: rollback,
        inputs,
        ..
    } = w.next_deploy("production", run).await;
    assert_eq!(inputs["sha"], good.as_str());
    assert_eq!(inputs["rollback"], "true");
    let reason = inputs["reason"].as_str().unwrap_or_default().to_owned();
    assert!(
        reason.contains("2 health probes")
            && reason.contains("in a row were slower than")
            && reason.contains("(5× the staging baseline")
            && reason.contains("200 in "),
        "the trigger and its evidence: {reason}"
    );
    mode.store(0, Ordering::SeqCst);
    sim.complete_workflow_run(REPO, rollback, "success").await;
    w.wait_for_phase(n, "rolled_back").await;

    let incidents: Vec<(u64, String, String, Vec<String>)> = sim.with(|s| {
        s.repos[REPO]
            .issues
            .values()
            .filter(|i| i.labels.iter().any(|l| l == "shipgate:incident"))
            .map(|i| {
                (
                    i.number,
                    i.title.clone(),
                    i.body.clone().unwrap_or_default(),
                    i.assignees.clone(),
                )
            })
            .collect()
    });
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let (number, title, body, assignees) = &incidents[0];
    assert_eq!(
        title,
        &format!("Incident: production rolled back — REQ-{n} Export invoices")
    );
    assert_eq!(assignees, &vec!["dev".to_owned()], "the PR's author");
    for part in [
        "**Trigger:** 2 health probes",
        &format!("**Feature:** #{n}"),
        &format!("**Pull request:** #{pr} by @dev"),
        &format!("from `{}` to `{}`", &bad[..7], &good[..7]),
        "### Timeline",
        "### Runs and deployments",
    ] {
        assert!(body.contains(part), "{part} in:\n{body}");
    }
    assert!(
        w.replies(n)
            .iter()
            .any(|r| r.contains(&format!("Incident #{number} is open"))),
        "cross-linked from the feature issue: {:?}",
        w.replies(n)
    );
    assert!(w.status(n).contains(&format!("🚨 Incident #{number}")));
    let outcome = common::bot_replies(sim, REPO, *number);
    assert!(
        outcome.iter().any(|r| r.contains("Rolled back.")
            && r.contains(&format!("back on `{}`", &good[..7]))),
        "{outcome:?}"
    );
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

async fn staging_rolls_itself_back_and_retry_brings_the_feature_back(backend: Backend) {
    let staging_mode = Arc::new(AtomicU8::new(0));
    let staging = scripted_endpoint(staging_mode.clone(), Arc::new(AtomicUsize::new(0))).await;
    let production = endpoint(Arc::new(AtomicBool::new(true))).await;
    let w = setup_with(backend, &config(&staging, &production, ", failures: 2", "")).await;
    let sim = &w.sim;
    let (_, _, good) = w.to_readiness().await;
    let first_deploy = w.newest_run(Some("staging")).unwrap().id;

    staging_mode.store(1, Ordering::SeqCst);
    let (n, pr) = w
        .feature_in_review("Import payments", "Import payments")
        .await;
    let tests = w.newest_run(None).unwrap().id;
    sim.complete_workflow_run(REPO, tests, "success").await;
    sim.review(REPO, pr, "reviewer", "APPROVED").await;
    let deploy = w.next_deploy("staging", first_deploy).await.id;
    sim.complete_workflow_run(REPO, deploy, "success").await;
    let RunSeen {
        id: rollback,
        branch: git_ref,
        inputs,
    } = w.next_deploy("staging", deploy).await;
    assert_eq!(git_ref, "main");
    assert_eq!(
        (inputs["sha"].as_str(), inputs["rollback"].as_str()),
        (Some(good.as_str()), Some("true")),
        "staging goes back to its last good deploy"
    );
    assert!(
        inputs["reason"]
            .as_str()
            .is_some_and(|r| r.contains("2 health probes") && r.contains("502")),
        "{inputs}"
    );
    staging_mode.store(0, Ordering::SeqCst);
    sim.complete_workflow_run(REPO, rollback, "success").await;
    w.wait_for_phase(n, "rolled_back").await;
    assert!(
        w.replies(n)
            .iter()
            .any(|r| r.contains("staging is back on") && r.contains("`/retry`")),
        "{:?}",
        w.replies(n)
    );
    let no_incident = sim.with(|s| {
        !s.repos[REPO]
            .issues
            .values()
            .any(|i| i.labels.iter().any(|l| l == "shipgate:incident"))
    });
    assert!(no_incident, "a staging rollback is not an incident");

    sim.comment(REPO, n, "lead", "/retry").await;
    let RunSeen {
        id: again, inputs, ..
    } = w.next_deploy("staging", rollback).await;
    let head = sim.with(|s| s.repos[REPO].pulls[&pr].head_sha.clone());
    assert_eq!(inputs["sha"], head.as_str());
    sim.complete_workflow_run(REPO, again, "success").await;
    w.wait_for_phase(n, "readiness").await;
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

async fn the_protection_rule_approves_shipgates_runs_and_rejects_the_rest(backend: Backend) {
    let url = endpoint(Arc::new(AtomicBool::new(true))).await;
    let w = setup(backend, &url, &url).await;
    let (sim, sg) = (&w.sim, &w.sg);
    // GitHub asks when the deploy job reaches the environment: while the run is under way.
    let (n, pr) = w.feature_tested().await;
    sim.review(REPO, pr, "reviewer", "APPROVED").await;
    sg.settle(sim).await;
    let staging_run = w.newest_run(Some("staging")).unwrap().id;
    sim.request_deployment_protection(REPO, staging_run, "staging")
        .await;
    sg.settle(sim).await;
    sim.complete_workflow_run(REPO, staging_run, "success")
        .await;
    w.wait_for_phase(n, "readiness").await;
    let reviews = w.protection_reviews();
    assert_eq!(reviews.len(), 1, "{reviews:?}");
    assert_eq!(
        (reviews[0].0, reviews[0].1.as_str(), reviews[0].2.as_str()),
        (staging_run, "staging", "approved")
    );
    assert!(
        reviews[0].3.contains("review and tests passed"),
        "{reviews:?}"
    );

    // The tests run is the pipeline's, but not a deploy: rejected, and said on the issue.
    let tests_run = w.newest_run(None).unwrap().id;
    sim.request_deployment_protection(REPO, tests_run, "production")
        .await;
    sg.settle(sim).await;
    let last = w.protection_reviews().pop().unwrap();
    assert_eq!((last.0, last.2.as_str()), (tests_run, "rejected"));
    assert!(
        last.3.contains("not a deploy shipgate dispatched"),
        "{last:?}"
    );
    assert!(
        w.replies(n).iter().any(|r| r.contains("is rejected")),
        "{:?}",
        w.replies(n)
    );

    // A deploy run someone started by hand: no pipeline dispatched it.
    let by_hand = sim.with(|s| {
        let id = s.next_id();
        let r = s.repo_mut(REPO).unwrap();
        let mut run = r.runs[&staging_run].clone();
        run.id = id;
        run.actor = "dev".into();
        run.display_title = "Deploy".into();
        r.runs.insert(id, run);
        id
    });
    sim.request_deployment_protection(REPO, by_hand, "production")
        .await;
    sg.settle(sim).await;
    let last = w.protection_reviews().pop().unwrap();
    assert_eq!((last.0, last.2.as_str()), (by_hand, "rejected"));
    assert!(last.3.contains("no pipeline dispatched run"), "{last:?}");

    // Production, blocked while its job waits: rejected, so GitHub fails the run. Nothing
    // was deployed, so the stage fails without a rollback.
    sim.comment(REPO, pr, "releaser", "/approve production")
        .await;
    sg.settle(sim).await;
    let held = w.newest_run(Some("production")).unwrap().id;
    sim.comment(REPO, n, "lead", "/block legal hold").await;
    sg.settle(sim).await;
    sim.request_deployment_protection(REPO, held, "production")
        .await;
    sg.settle(sim).await;
    let last = w.protection_reviews().pop().unwrap();
    assert_eq!((last.0, last.2.as_str()), (held, "rejected"));
    assert!(last.3.contains("blocked by @lead: legal hold"), "{last:?}");
    let status = w.status(n);
    assert!(
        status.contains("phase **failed**") && status.contains("rejected by the protection rule"),
        "{status}"
    );
    assert_eq!(
        w.newest_run(Some("production")).unwrap().id,
        held,
        "no rollback"
    );

    // Unblocked and retried: the new run is approved and goes out.
    sim.comment(REPO, n, "lead", "/unblock\n/retry production")
        .await;
    let production_run = w.next_deploy("production", held).await.id;
    sim.request_deployment_protection(REPO, production_run, "production")
        .await;
    sg.settle(sim).await;
    let last = w.protection_reviews().pop().unwrap();
    assert_eq!((last.0, last.2.as_str()), (production_run, "approved"));
    assert!(
        last.3.contains("production approved by @releaser"),
        "{last:?}"
    );
    sim.complete_workflow_run(REPO, production_run, "success")
        .await;
    w.wait_for_phase(n, "done").await;
    let incidents = sim.with(|s| {
        s.repos[REPO]
            .issues
            .values()
            .filter(|i| i.labels.iter().any(|l| l == "shipgate:incident"))
            .count()
    });
    assert_eq!(incidents, 0, "a rejected deploy is no incident");

    let audit = sg.store.audit_entries(0, 500).await.unwrap();
    let decisions: Vec<&str> = audit
        .iter()
        .filter(|e| e.action.starts_with("protection rule"))
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        decisions,
        [
            "protection rule approved",
            "protection rule rejected",
            "protection rule rejected",
            "protection rule approved"
        ]
    );
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

async fn the_rule_finds_a_run_whose_dispatch_answer_was_lost(backend: Backend) {
    let url = endpoint(Arc::new(AtomicBool::new(true))).await;
    let w = setup(backend, &url, &url).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let (_, pr, _) = w.to_readiness().await;
    // The production dispatch happens but its answer is lost; finding the run by name fails
    // twice (seconds of backoff); `workflow_run` webhooks arrive late. So shipgate does not
    // know the run's id when the rule asks, and finds it by the `pipeline` input in its name.
    sim.lose_answer("actions/create-workflow-dispatch", 502);
    for _ in 0..2 {
        sim.inject_fault("actions/list-workflow-runs-for-repo", 503, &[]);
    }
    sim.hold_webhooks("workflow_run");
    sim.comment(REPO, pr, "releaser", "/approve production")
        .await;
    let mut run = None;
    for _ in 0..500 {
        sim.settle().await;
        run = w.newest_run(Some("production"));
        if run.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let run = run.expect("the production run exists on GitHub").id;
    sim.request_deployment_protection(REPO, run, "production")
        .await;
    // The answer waits behind the dispatch, in the pipeline's order.
    let mut answered = None;
    for _ in 0..200 {
        answered = w.protection_reviews().pop();
        if answered.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let last = answered.expect("answered");
    assert_eq!((last.0, last.2.as_str()), (run, "approved"), "{last:?}");
    let looked_up = sim
        .requests()
        .iter()
        .any(|r| r.method == "GET" && r.path == format!("/repos/{REPO}/actions/runs/{run}"));
    assert!(looked_up, "routed by the run's name, read from GitHub");
    sim.release_webhooks().await;
    sg.settle(sim).await;
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

on_both_backends!(
    the_rule_finds_a_run_whose_dispatch_answer_was_lost,
    an_admin_skips_failing_tests_and_cannot_then_approve_production,
    slow_production_rolls_back_and_opens_one_incident_issue,
    staging_rolls_itself_back_and_retry_brings_the_feature_back,
    the_protection_rule_approves_shipgates_runs_and_rejects_the_rest,
);
