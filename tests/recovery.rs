//! Recovery (DESIGN §5), as an operator would try it: `shipgate serve` killed with SIGKILL
//! right after GitHub carried out an effect and before shipgate recorded the answer. The
//! process started again on the same address continues at once (it releases the claims of
//! the process that held its address), finds out from GitHub what was already done, and does
//! nothing twice — one test per effect kind, on SQLite and PostgreSQL. Webhooks GitHub could
//! not deliver while shipgate was down are asked for again by the reconciler.

#[macro_use]
mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use common::Backend;
use common::world::{REPO, World, setup_process};
use shipgate::engine::executor::LEASE_MS;

/// No health URLs (an environment is healthy when its deploy run succeeds), so a lifecycle
/// takes seconds; `releaser` approves production.
const CONFIG: &str = "approvers:\n  production: [releaser]\n";

async fn world(backend: Backend) -> World {
    setup_process(backend, CONFIG, &[]).await
}

/// Runs `scenario` while the next request to `operation` is carried out by the simulator
/// and never answered: shipgate is SIGKILLed as soon as GitHub has done the work, and
/// started again on the same address. Prints how long after the kill the interrupted effect
/// was finished by the new process.
async fn killed_after<T>(w: &World, operation: &str, scenario: impl Future<Output = T>) -> T {
    killed_after_nth(w, operation, 0, scenario).await
}

/// As [`killed_after`], at the request to `operation` after the next `skip`.
async fn killed_after_nth<T>(
    w: &World,
    operation: &str,
    skip: usize,
    scenario: impl Future<Output = T>,
) -> T {
    let process = w.sg.process.clone().expect("shipgate runs as a process");
    let before = w.retried_effects_done().await;
    let crash = |_| async move {
        let killed = Instant::now();
        process.kill_and_restart().await;
        while w.retried_effects_done().await == before {
            assert!(killed.elapsed() < Duration::from_secs(60), "never resumed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Released by the restart, not waited out: well before the dead process's lease
        // would have run out.
        let resumed = killed.elapsed();
        assert!(
            resumed < Duration::from_millis(LEASE_MS as u64),
            "resumed after {resumed:?}: the lease ran out instead"
        );
        eprintln!(
            "{operation}: the interrupted effect was finished {} ms after SIGKILL",
            resumed.as_millis()
        );
    };
    common::crash_at_nth(&w.sim, operation, skip, crash, scenario).await
}

/// The lifecycle from the label to `done`, with the kill at `operation`; checks the
/// feature was merged and deployed to production once, and nothing was made twice.
async fn lifecycle_killed_after(backend: Backend, operation: &str) {
    lifecycle_killed_after_nth(backend, operation, 0).await;
}

/// As [`lifecycle_killed_after`], at the request to `operation` after the next `skip`.
async fn lifecycle_killed_after_nth(backend: Backend, operation: &str, skip: usize) {
    let w = world(backend).await;
    let (n, merge_sha) = killed_after_nth(&w, operation, skip, w.to_done()).await;
    assert!(w.status(n).contains("phase **done**"), "{}", w.status(n));
    assert_eq!(w.phase_labels(n), ["shipgate:done"]);
    let production = w.deployments("production");
    assert_eq!(production.len(), 1, "{production:?}");
    assert_eq!(production[0].sha, merge_sha);
    w.assert_nothing_doubled();
    w.sg.stop().await;
}

/// Comments: the status comment is created when the label is added.
async fn comments(backend: Backend) {
    lifecycle_killed_after(backend, "issues/create-comment").await;
}

/// Reactions: 👀 on `/approve`.
async fn reactions(backend: Backend) {
    lifecycle_killed_after(backend, "reactions/create-for-issue-comment").await;
}

/// Labels: the first phase label (GraphQL's `addLabelsToLabelable`).
async fn labels(backend: Backend) {
    lifecycle_killed_after(backend, "graphql").await;
}

/// Status comment edits: the first edit, when the requirement is approved.
async fn comment_edits(backend: Backend) {
    lifecycle_killed_after(backend, "issues/update-comment").await;
}

/// Labels taken off: when planning starts, `shipgate:planning` added and `shipgate:intake`
/// removed in one GraphQL request (the second of the lifecycle).
async fn label_removals(backend: Backend) {
    lifecycle_killed_after_nth(backend, "graphql", 1).await;
}

/// Check run updates: the first update of `shipgate` on the PR's head.
async fn check_run_updates(backend: Backend) {
    lifecycle_killed_after(backend, "checks/update").await;
}

/// Refs: the feature branch, created when the plan is approved.
async fn refs(backend: Backend) {
    lifecycle_killed_after(backend, "git/create-ref").await;
}

/// Check runs: `shipgate` on the PR's head.
async fn check_runs(backend: Backend) {
    lifecycle_killed_after(backend, "checks/create").await;
}

/// Dispatches: the tests run on the PR's head.
async fn dispatches(backend: Backend) {
    lifecycle_killed_after(backend, "actions/create-workflow-dispatch").await;
}

/// Deployments: the staging Deployment.
async fn deployments(backend: Backend) {
    lifecycle_killed_after(backend, "repos/create-deployment").await;
}

/// Deployment statuses: staging's `in_progress`.
async fn deployment_statuses(backend: Backend) {
    lifecycle_killed_after(backend, "repos/create-deployment-status").await;
}

/// Merges: the squash merge of the approved head; production is deployed from it.
async fn merges(backend: Backend) {
    lifecycle_killed_after(backend, "pulls/merge").await;
}

/// Issue updates: the feature issue closed at `done`.
async fn issue_updates(backend: Backend) {
    lifecycle_killed_after(backend, "issues/update").await;
}

/// Sub-issue calls: the plan's sub-issues, read when planning starts.
async fn sub_issue_calls(backend: Backend) {
    lifecycle_killed_after(backend, "issues/list-sub-issues").await;
}

/// Protection-rule answers: GitHub asks about staging's deploy job; shipgate's approval is
/// carried out, and the process answering it dies.
async fn protection_rule_answers(backend: Backend) {
    let w = world(backend).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let (n, pr) = w.feature_tested().await;
    sim.review(REPO, pr, "reviewer", "APPROVED").await;
    sg.settle(sim).await;
    let staging = w.newest_run(Some("staging")).expect("staging deploy").id;
    killed_after(&w, "actions/review-custom-gates-for-run", async {
        sim.request_deployment_protection(REPO, staging, "staging")
            .await;
        sg.settle(sim).await;
    })
    .await;
    sg.settle(sim).await;
    let reviews = sim.with(|s| s.repos[REPO].protection_reviews.clone());
    assert_eq!(reviews.len(), 1, "{reviews:?}");
    assert_eq!(reviews[0].2, "approved");
    // The retry was refused (the rule no longer waited), which counts as answered.
    let answers: Vec<u16> = sim
        .requests()
        .iter()
        .filter(|r| r.operation.as_deref() == Some("actions/review-custom-gates-for-run"))
        .map(|r| r.status)
        .collect();
    assert_eq!(answers.last(), Some(&422), "{answers:?}");
    let pipeline = sg.store.pipelines_of(REPO).await.unwrap()[0].id;
    let effects = sg.store.effects_of(pipeline).await.unwrap();
    assert!(
        effects
            .iter()
            .filter(|e| e.action == "review_protection")
            .all(|e| e.status == "done"),
        "{effects:?}"
    );
    sim.complete_workflow_run(REPO, staging, "success").await;
    w.wait_for_phase(n, "readiness").await;
    w.assert_nothing_doubled();
    w.sg.stop().await;
}

/// Incident issues: `/rollback` after a second feature is `done` dispatches the rollback and
/// opens an incident issue; the kill comes right after the issue was opened.
async fn incident_issues(backend: Backend) {
    let w = world(backend).await;
    w.to_done().await;
    let (n, _) = w.to_done().await;
    killed_after(&w, "issues/create", async {
        w.sim
            .comment(REPO, n, "releaser", "/rollback the export is wrong")
            .await;
        w.sg.settle(&w.sim).await;
    })
    .await;
    w.sg.settle(&w.sim).await;
    let incidents = w.sim.with(|s| {
        s.repos[REPO]
            .issues
            .values()
            .filter(|i| i.labels.iter().any(|l| l == "shipgate:incident"))
            .count()
    });
    assert_eq!(incidents, 1);
    w.assert_nothing_doubled();
    w.sg.stop().await;
}

/// `/stop` during review cancels the tests run; the process dies right after GitHub
/// cancelled it (GitHub refuses to cancel a finished run: 409), and the pipeline stops.
async fn cancellations(backend: Backend) {
    let w = world(backend).await;
    let (n, _) = w
        .feature_in_review("Export invoices", "Add invoice export")
        .await;
    killed_after(&w, "actions/cancel-workflow-run", async {
        w.sim.comment(REPO, n, "lead", "/stop").await;
        w.sg.settle(&w.sim).await;
    })
    .await;
    w.sg.settle(&w.sim).await;
    assert!(w.status(n).contains("phase **stopped**"), "{}", w.status(n));
    w.assert_nothing_doubled();
    w.sg.stop().await;
}

on_both_backends!(
    comments,
    comment_edits,
    reactions,
    labels,
    label_removals,
    refs,
    check_runs,
    check_run_updates,
    dispatches,
    deployments,
    deployment_statuses,
    merges,
    issue_updates,
    sub_issue_calls,
    protection_rule_answers,
    incident_issues,
    cancellations,
);

/// shipgate is stopped while people keep working: the requirement and plan are approved,
/// the PR is opened and approved. Started again, it asks GitHub to redeliver
/// what failed, once each, and the pipeline catches up with nothing done twice.
async fn deliveries_missed_while_down_are_redelivered(backend: Backend) {
    let w = world(backend).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let n = sim
        .open_issue(
            REPO,
            "pm",
            "Export invoices",
            common::world::BODY,
            &["feature"],
        )
        .await;
    sg.settle(sim).await;
    let process = sg.process.clone().expect("a process");
    process.kill();

    sim.comment(REPO, n, "lead", "/approve").await;
    sim.comment(REPO, n, "lead", "/approve plan").await;
    let pr = w
        .open_feature_pull(n, "Export invoices", "Add invoice export")
        .await;
    sim.review(REPO, pr, "reviewer", "APPROVED").await;
    sim.settle().await;
    let failed = sim.with(|s| {
        s.hook_deliveries
            .iter()
            .filter(|d| d.status_code == 0)
            .count()
    });
    assert!(failed >= 4, "GitHub could not deliver {failed} webhooks");

    let started = Instant::now();
    process.kill_and_restart().await;
    // The requirement and plan approvals, the PR and the review arrive again: tests run.
    let tests = w.wait_for_run(None).await;
    eprintln!(
        "caught up (tests dispatched) {} ms after the restart",
        started.elapsed().as_millis()
    );
    sg.settle(sim).await;
    sim.complete_workflow_run(REPO, tests, "success").await;
    let staging = w.wait_for_run(Some("staging")).await;
    sim.complete_workflow_run(REPO, staging, "success").await;
    w.wait_for_phase(n, "readiness").await;

    let asked = sg.store.redeliveries().await.unwrap();
    assert_eq!(asked.len(), failed, "{asked:?}");
    assert!(asked.iter().all(|r| r.outcome == "requested"), "{asked:?}");
    let guids: std::collections::HashSet<_> = asked.iter().map(|r| r.guid.clone()).collect();
    assert_eq!(guids.len(), asked.len(), "each GUID asked for once");
    // Redelivered with their GUIDs, each stored and taken once.
    let redelivered = sim.with(|s| {
        s.hook_deliveries
            .iter()
            .filter(|d| d.redelivery)
            .map(|d| (d.guid.clone(), d.status_code))
            .collect::<Vec<_>>()
    });
    assert_eq!(redelivered.len(), failed, "{redelivered:?}");
    assert!(redelivered.iter().all(|(_, code)| *code == 202));
    // Started again, its first scan asks for nothing twice.
    let count = |op: &str| {
        sim.requests()
            .iter()
            .filter(|r| r.operation.as_deref() == Some(op))
            .count()
    };
    let (scans, asks) = (
        count("apps/list-webhook-deliveries"),
        count("apps/redeliver-webhook-delivery"),
    );
    assert_eq!(asks, failed);
    process.kill_and_restart().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while count("apps/list-webhook-deliveries") == scans
        || sg.store.job_lease("reconciler").await.unwrap().1 != 0
    {
        assert!(Instant::now() < deadline, "no scan finished");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(count("apps/redeliver-webhook-delivery"), asks);
    assert_eq!(sg.store.redeliveries().await.unwrap().len(), failed);
    w.assert_nothing_doubled();
    w.sg.stop().await;
}

on_both_backends!(deliveries_missed_while_down_are_redelivered);

/// Webhooks GitHub never sends (not even as failed deliveries the reconciler could ask for
/// again): the PR's opening and its approving review. A pipeline that hears nothing for
/// `SHIPGATE_RESYNC_AFTER` reads its PR and reviews from GitHub and moves on.
async fn a_quiet_pipeline_reads_its_pull_request_and_reviews_again(backend: Backend) {
    let w = setup_process(backend, CONFIG, &[("SHIPGATE_RESYNC_AFTER", "1s")]).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let n = w.planned_feature("Export invoices").await;
    sim.hold_webhooks("pull_request");
    sim.hold_webhooks("pull_request_review");
    let pr = w
        .open_feature_pull(n, "Export invoices", "Add invoice export")
        .await;
    let started = Instant::now();
    let tests = w.wait_for_run(None).await;
    eprintln!(
        "the PR was found {} ms after it was opened",
        started.elapsed().as_millis()
    );
    sg.settle(sim).await;
    sim.complete_workflow_run(REPO, tests, "success").await;
    sim.review(REPO, pr, "reviewer", "APPROVED").await;
    w.wait_for_run(Some("staging")).await;
    sg.settle(sim).await;
    let held = sim.with(|s| s.held.len());
    assert!(
        held >= 2,
        "the PR's and the review's webhooks were never sent"
    );
    assert!(
        w.status(n).contains("@reviewer"),
        "the approval is shown: {}",
        w.status(n)
    );
    w.assert_nothing_doubled();
    w.sg.stop().await;
}

on_both_backends!(a_quiet_pipeline_reads_its_pull_request_and_reviews_again);

/// The reconciler pages through GitHub's list (more than one page of deliveries), asks once
/// for each failed one, and asks again 5 minutes later for one GitHub did not accept — and
/// for nothing else.
async fn a_redelivery_github_did_not_accept_is_asked_for_again(backend: Backend) {
    use shipgate::clock::{Clock, ManualClock};
    use std::sync::Arc;
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let sim = shipgate::sim::Simulator::start_with_clock(clock.clone()).await;
    let db = common::TestDb::new(backend).await;
    // Over a page of deliveries that came through, then three that failed (connection
    // refused: GitHub records status 0).
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(|| async { axum::http::StatusCode::ACCEPTED }),
    );
    let receiver = common::serve_local(receiver).await;
    sim.set_webhook_url(format!("http://{receiver}/hook").parse().unwrap());
    sim.add_repo(REPO);
    sim.add_installation("acme", &[REPO]);
    let n = sim
        .open_issue(REPO, "pm", "Export invoices", common::world::BODY, &[])
        .await;
    for i in 0..105 {
        sim.comment(REPO, n, "pm", &format!("note {i}")).await;
    }
    sim.settle().await;
    sim.set_webhook_url("http://127.0.0.1:9/hook".parse().unwrap());
    for i in 0..3 {
        sim.comment(REPO, n, "pm", &format!("late note {i}")).await;
    }
    sim.settle().await;
    let (listed, failed) = sim.with(|s| {
        let d = &s.hook_deliveries;
        (d.len(), d.iter().filter(|d| d.status_code == 0).count())
    });
    assert!(listed > 100 && failed == 3, "{listed} {failed}");
    let app = shipgate::github::app::GitHubApp::new(
        sim.app_credentials(),
        &sim.api_url(),
        clock.clone(),
        true,
        Default::default(),
    )
    .unwrap();
    let reconciler = shipgate::engine::reconciler::Reconciler::new(
        db.store().await,
        Arc::new(shipgate::github::octocrab_client::OctocrabGitHub::new(
            Arc::new(shipgate::github::LiveApp::new(Some(Arc::new(app)))),
        )),
        clock.clone() as Arc<dyn Clock>,
        "test".into(),
    );
    sim.inject_fault("apps/redeliver-webhook-delivery", 503, &[]);
    let first = reconciler.scan().await.unwrap();
    assert_eq!((first.looked_at, first.asked), (listed, failed));
    let refused: Vec<_> = reconciler
        .redeliveries()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.outcome != "requested")
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    // Too soon to ask again; the redeliveries themselves failed too, and are not asked for.
    sim.settle().await;
    assert_eq!(reconciler.scan().await.unwrap().asked, 0);
    // Newer deliveries come through: the refused one falls out of what a scan lists...
    clock.advance(chrono::Duration::minutes(3));
    sim.set_webhook_url(format!("http://{receiver}/hook").parse().unwrap());
    sim.comment(REPO, n, "pm", "a newer note").await;
    assert_eq!(reconciler.scan().await.unwrap().asked, 0, "not yet time");
    // ... and is asked for again from the record, once it is time.
    clock.advance(chrono::Duration::minutes(3));
    let last = reconciler.scan().await.unwrap();
    assert_eq!((last.looked_at, last.asked), (1, 1));
    let rows = reconciler.redeliveries().await.unwrap();
    assert!(rows.iter().all(|r| r.outcome == "requested"), "{rows:?}");
    let again = rows.iter().find(|r| r.guid == refused[0].guid).unwrap();
    assert_eq!(again.tries, 2);
    let asked = sim
        .requests()
        .iter()
        .filter(|r| r.operation.as_deref() == Some("apps/redeliver-webhook-delivery"))
        .count();
    assert_eq!(asked, failed + 1);
    assert!(sim.take_violations().is_empty());
}

on_both_backends!(a_redelivery_github_did_not_accept_is_asked_for_again);

/// A PR merged by a person while every webhook about it was lost: the quiet pipeline reads
/// the PR again and says it was merged outside shipgate — once.
async fn a_pull_request_merged_while_its_webhooks_were_lost_is_noticed(backend: Backend) {
    let w = setup_process(backend, CONFIG, &[("SHIPGATE_RESYNC_AFTER", "1s")]).await;
    let n = w.planned_feature("Export invoices").await;
    let pr = w
        .open_feature_pull(n, "Export invoices", "Add invoice export")
        .await;
    w.wait_for_run(None).await; // in review, its tests running
    w.sg.settle(&w.sim).await;
    for event in ["pull_request", "issues", "push"] {
        w.sim.hold_webhooks(event);
    }
    w.sim
        .with(|s| s.repo_mut(REPO).unwrap().required_checks.clear());
    w.sim.merge_by_hand(REPO, pr, "lead").await;
    let said = |w: &World| {
        w.replies(n)
            .iter()
            .filter(|r| r.contains(&format!("#{pr} was merged outside shipgate")))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while said(&w) == 0 {
        assert!(Instant::now() < deadline, "{:?}", w.replies(n));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Later rounds read the same PR again: nothing new, nothing said twice.
    let reads = || {
        w.sim
            .requests()
            .iter()
            .filter(|r| r.operation.as_deref() == Some("pulls/get"))
            .count()
    };
    let before = reads();
    while reads() < before + 2 {
        assert!(Instant::now() < deadline, "no later resync rounds");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    w.sg.settle(&w.sim).await;
    assert_eq!(said(&w), 1, "{:?}", w.replies(n));
    w.assert_nothing_doubled();
    w.sg.stop().await;
}

on_both_backends!(a_pull_request_merged_while_its_webhooks_were_lost_is_noticed);
