//! The whole lifecycle end to end, through real HTTP on SQLite and PostgreSQL: from an issue
//! labelled `feature` to a healthy production deploy and a closed issue — with the check-run
//! button, production approval refused to the PR author, to an unauthorised user and to
//! someone off the approver list, the squash merge through a branch protection rule that
//! requires shipgate's check run, the production deploy of the merge SHA, its health
//! monitored on a real local endpoint, and a failing production deploy retried.

#[macro_use]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::Backend;
use common::world::*;
use serde_json::Value;

/// `/metrics` counts one production rollback started by `trigger`, and `failed` production
/// deploys.
async fn expect_rollback_counted(sg: &common::Shipgate, trigger: &str, failed: f64) {
    let metrics = sg.metrics().await;
    let value = |series: &str| common::metric(&metrics, series).unwrap();
    let rollbacks =
        format!("shipgate_rollbacks_total{{environment=\"production\",trigger=\"{trigger}\"}}");
    assert_eq!(value(&rollbacks), 1.0, "{metrics}");
    assert_eq!(
        value(
            "shipgate_deploys_total{environment=\"production\",kind=\"deploy\",outcome=\"failed\"}"
        ),
        failed,
        "{metrics}"
    );
}

async fn feature_goes_to_production(backend: Backend) {
    let staging_ok = Arc::new(AtomicBool::new(true));
    let production_ok = Arc::new(AtomicBool::new(true));
    let staging = endpoint(staging_ok).await;
    let production = endpoint(production_ok).await;
    let w = setup(backend, &staging, &production).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let (n, pr, head) = w.to_readiness().await;

    // Readiness: the check run waits for production approval and offers the button.
    let CheckRunSeen {
        id: check,
        status,
        title,
        buttons,
        ..
    } = w.check_run(&head);
    assert_eq!(status, "in_progress");
    assert!(title.contains("waiting for production approval"), "{title}");
    assert_eq!(buttons, ["approve_prod"]);
    assert!(
        w.status(n).contains("**Readiness:** 100/100"),
        "{}",
        w.status(n)
    );
    assert!(
        w.status(n).contains("Production approval"),
        "{}",
        w.status(n)
    );

    // Refused: the PR's author, someone without write access, someone off the list.
    sim.comment(REPO, pr, "dev", "/approve production").await;
    sim.comment(REPO, pr, "outsider", "/approve production")
        .await;
    sim.comment(REPO, n, "lead", "/approve production").await;
    sim.press_button(REPO, check, "dev", "approve_prod").await;
    sg.settle(sim).await;
    let on_pr = w.replies(pr);
    let refused = |who: &str, why: &str| {
        on_pr
            .iter()
            .chain(w.replies(n).iter())
            .any(|r| r.starts_with(&format!("@{who}:")) && r.contains("refused") && r.contains(why))
    };
    assert!(refused("dev", "author cannot approve"), "{on_pr:?}");
    assert!(refused("outsider", "write access"), "{on_pr:?}");
    assert!(
        refused("lead", "`approvers.production` allows only `releaser`"),
        "{:?}",
        w.replies(n)
    );
    assert_eq!(
        on_pr
            .iter()
            .filter(|r| r.starts_with("@dev:") && r.contains("author cannot approve"))
            .count(),
        2,
        "the button is refused like the command: {on_pr:?}"
    );
    assert!(w.status(n).contains("phase **readiness**"));
    assert!(sim.with(|s| !s.repos[REPO].pulls[&pr].merged));

    // The release approver presses the button: the head's check run concludes success,
    // then the PR is squash-merged through the branch protection rule.
    sim.press_button(REPO, check, "releaser", "approve_prod")
        .await;
    sg.settle(sim).await;
    let CheckRunSeen {
        status,
        conclusion,
        title,
        ..
    } = w.check_run(&head);
    assert_eq!(
        (status.as_str(), conclusion.as_deref()),
        ("completed", Some("success"))
    );
    assert_eq!(title, "Production approved by @releaser");
    let (merged, merge_sha) = sim.with(|s| {
        let p = &s.repos[REPO].pulls[&pr];
        (p.merged, p.merge_commit_sha.clone().unwrap_or_default())
    });
    assert!(merged, "the PR is merged");
    let message = sim.with(|s| s.repos[REPO].commits[&merge_sha].message.clone());
    assert!(
        message.starts_with(&format!("feat(REQ-{n}): Export invoices (#{pr})\n\n")),
        "{message}"
    );
    assert!(message.contains(&format!("Refs: REQ-{n}")), "{message}");
    assert_eq!(
        sim.with(|s| s.repos[REPO].commits[&merge_sha].parents.len()),
        1,
        "squash: one parent"
    );

    // The merge SHA goes to production: a Deployment on it, the workflow on `main`.
    let RunSeen {
        id: run,
        branch: git_ref,
        inputs,
    } = w.newest_run(Some("production")).expect("production deploy");
    assert_eq!(git_ref, "main");
    assert_eq!(inputs["sha"], merge_sha.as_str());
    assert_eq!(inputs["rollback"], "false");
    let prod = w.deployments("production");
    assert_eq!(prod.len(), 1);
    assert_eq!(
        (prod[0].sha.as_str(), prod[0].production_environment),
        (merge_sha.as_str(), true)
    );
    assert!(
        w.status(n).contains("phase **production**"),
        "{}",
        w.status(n)
    );
    let CheckRunSeen { status, title, .. } = w.check_run(&merge_sha);
    assert_eq!(status, "in_progress");
    assert!(title.contains("to production"), "{title}");
    assert!(sim.with(|s| {
        s.repos[REPO].issues[&n]
            .labels
            .contains(&"shipgate:production".to_owned())
    }));

    // The deploy succeeds, production holds for its window: done.
    sim.complete_workflow_run(REPO, run, "success").await;
    w.wait_for_phase(n, "done").await;
    let prod = w.deployments("production");
    assert_eq!(
        prod[0].statuses,
        [
            ("in_progress".to_owned(), String::new()),
            ("success".to_owned(), production.clone())
        ]
    );
    let CheckRunSeen {
        status,
        conclusion,
        title,
        buttons,
        ..
    } = w.check_run(&merge_sha);
    assert_eq!(
        (status.as_str(), conclusion.as_deref()),
        ("completed", Some("success"))
    );
    assert_eq!(title, "In production — healthy");
    assert_eq!(buttons, ["rollback"], "done offers a rollback");
    let summary = sim.with(|s| {
        s.repos[REPO]
            .check_runs
            .values()
            .filter(|c| c.head_sha == merge_sha)
            .max_by_key(|c| c.id)
            .map(|c| c.output["summary"].as_str().unwrap_or("").to_owned())
            .unwrap_or_default()
    });
    for row in [
        "| ✅ Production approval | approved by @releaser",
        "| ✅ Merge |",
        "| ✅ Production |",
        "healthy for 2s",
    ] {
        assert!(summary.contains(row), "{row:?} in {summary}");
    }
    // Three dispatches in all, each with the inputs its workflow declares.
    let dispatched: Vec<Value> = sim.with(|s| {
        s.repos[REPO]
            .runs
            .values()
            .map(|r| Value::Object(r.inputs.clone()))
            .collect()
    });
    assert_eq!(dispatched.len(), 3, "{dispatched:?}");
    assert_eq!(dispatched[0]["sha"], head.as_str());
    assert_eq!(
        (
            dispatched[1]["environment"].as_str(),
            dispatched[1]["sha"].as_str()
        ),
        (Some("staging"), Some(head.as_str()))
    );
    assert_eq!(
        (
            dispatched[2]["environment"].as_str(),
            dispatched[2]["sha"].as_str()
        ),
        (Some("production"), Some(merge_sha.as_str()))
    );
    let (state, labels) = sim.with(|s| {
        let i = &s.repos[REPO].issues[&n];
        (i.state.clone(), i.labels.clone())
    });
    assert_eq!(state, "closed");
    assert!(labels.contains(&"shipgate:done".to_owned()), "{labels:?}");
    assert!(
        !labels.contains(&"shipgate:production".to_owned()),
        "{labels:?}"
    );
    let summary = w
        .replies(n)
        .into_iter()
        .find(|r| r.contains("is in production"))
        .expect("a closing summary");
    for expected in [
        "**Lead time:**",
        "| intake |",
        "| readiness |",
        "| production |",
        "| done |",
        "production by @releaser",
        "review by @reviewer",
        &format!("/actions/runs/{run}"),
        "/deployments/production",
        "production health: 3 of 3 probes",
    ] {
        assert!(summary.contains(expected), "{expected:?} in {summary}");
    }
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

/// Edits of the status comment or of a check run that send what it already shows (a reader
/// could not tell they happened), over every request shipgate made.
fn repeated_edits(sim: &shipgate::sim::Simulator) -> Vec<String> {
    let requests = sim.with(|s| s.requests.clone());
    let mut shown: std::collections::HashMap<String, Value> = Default::default();
    let mut repeated = Vec::new();
    for r in requests {
        let Some(body) = r.body.clone() else { continue };
        let target = match r.operation.as_deref() {
            Some("issues/create-comment" | "issues/update-comment")
                if body["body"]
                    .as_str()
                    .is_some_and(|b| b.starts_with("<!-- shipgate:status")) =>
            {
                "status".to_owned()
            }
            Some("checks/create") => format!("check {}", body["head_sha"]),
            Some("checks/update") => {
                let id: u64 = r.path.rsplit('/').next().unwrap().parse().unwrap();
                let sha = sim.with(|s| s.repos[REPO].check_runs[&id].head_sha.clone());
                format!("check {}", Value::String(sha))
            }
            _ => continue,
        };
        let drawn = if target == "status" {
            body["body"].clone()
        } else {
            // What a check run shows (creating it also sends its name, SHA and id).
            let mut shown = body.clone();
            for key in ["name", "head_sha", "external_id"] {
                shown.as_object_mut().unwrap().remove(key);
            }
            shown
        };
        let update = r
            .operation
            .as_deref()
            .is_some_and(|op| op.ends_with("update") || op.ends_with("update-comment"));
        if update && shown.get(&target) == Some(&drawn) {
            repeated.push(format!("{} {}", r.method, r.path));
        }
        shown.insert(target, drawn);
    }
    repeated
}

/// What people read is drawn once for each burst of work, and only when it changes: the
/// review that sends a feature to staging (a Deployment created, the deploy dispatched, the
/// Deployment marked in progress — each result shown) edits the status comment and the check
/// run once each, and no edit in the whole lifecycle repeats what its target shows. The
/// merged PR is not read again when its `closed` delivery arrives (only its commits).
async fn surfaces_are_drawn_once_a_burst_and_only_when_they_change(backend: Backend) {
    let w = setup_with(backend, "").await;
    let (sim, sg) = (&w.sim, &w.sg);
    let (n, pr) = w.feature_tested().await;
    sg.settle(sim).await;
    let before = sim.with(|s| s.requests.len());
    sim.review(REPO, pr, "reviewer", "APPROVED").await;
    sg.settle(sim).await;
    let burst: Vec<String> = sim.with(|s| {
        s.requests[before..]
            .iter()
            .filter_map(|r| r.operation.clone())
            .collect()
    });
    let count = |op: &str| burst.iter().filter(|o| *o == op).count();
    assert_eq!(
        (
            count("repos/create-deployment"),
            count("actions/create-workflow-dispatch"),
            count("repos/create-deployment-status")
        ),
        (1, 1, 1),
        "{burst:?}"
    );
    assert_eq!(count("issues/update-comment"), 1, "{burst:?}");
    assert_eq!(count("checks/update"), 1, "{burst:?}");
    w.expect_status(n, "phase **staging**");
    w.expect_status(n, "/actions/runs/");

    let deploy = w.wait_for_run(Some("staging")).await;
    sim.complete_workflow_run(REPO, deploy, "success").await;
    w.wait_for_phase(n, "readiness").await;
    sim.comment(REPO, pr, "releaser", "/approve production")
        .await;
    sg.settle(sim).await;
    let run = w
        .newest_run(Some("production"))
        .expect("production deploy")
        .id;
    sim.complete_workflow_run(REPO, run, "success").await;
    w.wait_for_phase(n, "done").await;
    sg.settle(sim).await;
    assert_eq!(repeated_edits(sim), Vec::<String>::new());
    // The merged PR's `closed` delivery is taken as it is (a merge is final); only its
    // commits' authors are read.
    let after_merge: Vec<String> = sim.with(|s| {
        s.requests
            .iter()
            .filter_map(|r| r.operation.clone())
            .skip_while(|op| op != "pulls/merge")
            .filter(|op| op.starts_with("pulls/"))
            .collect()
    });
    assert_eq!(after_merge, ["pulls/merge", "pulls/list-commits"]);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

async fn a_failing_production_deploy_fails_the_stage_and_is_retried(backend: Backend) {
    let ok = Arc::new(AtomicBool::new(true));
    let url = endpoint(ok.clone()).await;
    let w = setup(backend, &url, &url).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let (n, pr, _) = w.to_readiness().await;
    sim.comment(REPO, pr, "releaser", "/approve production")
        .await;
    sg.settle(sim).await;
    assert!(
        w.replies(pr)
            .iter()
            .any(|r| r.contains("Production approved: merging")),
        "{:?}",
        w.replies(pr)
    );
    let run = w
        .newest_run(Some("production"))
        .expect("production deploy")
        .id;
    sim.complete_workflow_run(REPO, run, "failure").await;
    sg.settle(sim).await;
    assert!(w.status(n).contains("phase **failed**"), "{}", w.status(n));
    assert!(
        w.replies(n).iter().any(|r| r.contains("production deploy")
            && r.contains("`failure`")
            && r.contains("no earlier successful production deployment to roll back to")),
        "{:?}",
        w.replies(n)
    );
    let merge_sha = sim.with(|s| s.repos[REPO].pulls[&pr].merge_commit_sha.clone().unwrap());
    let CheckRunSeen {
        status,
        conclusion,
        buttons,
        ..
    } = w.check_run(&merge_sha);
    assert_eq!(
        (status.as_str(), conclusion.as_deref()),
        ("completed", Some("failure"))
    );
    assert_eq!(buttons, ["retry"], "the failed check run offers Retry");

    // `/retry production` deploys the same merge SHA again; now production goes unhealthy
    // (two failed probes in a row) and the stage fails with the evidence.
    ok.store(false, Ordering::SeqCst);
    sim.comment(REPO, n, "lead", "/retry production").await;
    sg.settle(sim).await;
    let RunSeen {
        id: retry, inputs, ..
    } = w.newest_run(Some("production")).unwrap();
    assert_ne!(retry, run);
    assert_eq!(inputs["sha"], merge_sha.as_str());
    assert_eq!(w.deployments("production").len(), 2);
    sim.complete_workflow_run(REPO, retry, "success").await;
    w.wait_for_phase(n, "failed").await;
    assert!(
        w.replies(n)
            .iter()
            .any(|r| r.contains("2 health probes") && r.contains("failed in a row")),
        "{:?}",
        w.replies(n)
    );
    assert_eq!(
        sim.with(|s| s.repos[REPO].issues[&n].state.clone()),
        "closed",
        "GitHub closed it at the merge (`Closes #n`); shipgate does not reopen it"
    );
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

async fn deploy_staging_by_command_and_button(backend: Backend) {
    let ok = Arc::new(AtomicBool::new(true));
    let url = endpoint(ok).await;
    let w = setup(backend, &url, &url).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let (n, pr) = w
        .feature_in_review("Export invoices", "Add invoice export")
        .await;
    let (head, branch) = sim.with(|s| {
        let pull = &s.repos[REPO].pulls[&pr];
        (pull.head_sha.clone(), pull.head_ref.clone())
    });

    // In review, before any approval: `/deploy staging` deploys the head now; an outsider
    // cannot.
    sim.comment(REPO, pr, "outsider", "/deploy staging").await;
    sim.comment(REPO, pr, "dev", "/deploy staging").await;
    sg.settle(sim).await;
    let replies = w.replies(pr);
    assert!(
        replies
            .iter()
            .any(|r| r.starts_with("@outsider:") && r.contains("write access")),
        "{replies:?}"
    );
    assert!(
        replies.iter().any(|r| r.contains("Deploying `")),
        "{replies:?}"
    );
    let RunSeen {
        id: run,
        branch: git_ref,
        inputs,
    } = w.newest_run(Some("staging")).expect("deployed by command");
    assert_eq!(
        (git_ref.as_str(), inputs["sha"].as_str()),
        (branch.as_str(), Some(head.as_str()))
    );
    // A second one while it runs is refused.
    sim.comment(REPO, pr, "dev", "/deploy staging").await;
    sg.settle(sim).await;
    assert!(
        w.replies(pr).iter().any(|r| r.contains("is under way")),
        "{:?}",
        w.replies(pr)
    );
    sim.complete_workflow_run(REPO, run, "success").await;
    sg.settle(sim).await;
    assert!(w.status(n).contains("phase **review**"), "{}", w.status(n));
    // The button redeploys once it finished.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    sg.settle(sim).await;
    let CheckRunSeen {
        id: check, buttons, ..
    } = w.check_run(&head);
    assert!(
        buttons.contains(&"deploy_staging".to_owned()),
        "{buttons:?}"
    );
    sim.press_button(REPO, check, "dev", "deploy_staging").await;
    sg.settle(sim).await;
    let again = w.newest_run(Some("staging")).unwrap().id;
    assert_ne!(again, run, "the button deployed again: {:?}", w.replies(pr));
    sim.complete_workflow_run(REPO, again, "success").await;

    // Tests and review go green: the healthy staging deploy of this head counts, and no
    // third deploy is made.
    let tests = w.newest_run(None).expect("tests dispatched").id;
    sim.complete_workflow_run(REPO, tests, "success").await;
    sim.review(REPO, pr, "reviewer", "APPROVED").await;
    w.wait_for_phase(n, "readiness").await;
    let deploys = w.deployments("staging");
    assert_eq!(deploys.len(), 2, "{deploys:?}");
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

async fn a_failed_production_deploy_rolls_back_to_the_last_good_one(backend: Backend) {
    let ok = Arc::new(AtomicBool::new(true));
    let url = endpoint(ok).await;
    let w = setup(backend, &url, &url).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let (_, good) = w.to_done().await;

    let (n, pr, _) = w.to_readiness().await;
    sim.comment(REPO, pr, "releaser", "/approve production")
        .await;
    sg.settle(sim).await;
    let bad = sim.with(|s| s.repos[REPO].pulls[&pr].merge_commit_sha.clone().unwrap());
    let run = w.newest_run(Some("production")).unwrap().id;
    sim.complete_workflow_run(REPO, run, "failure").await;
    sg.settle(sim).await;

    // Without anyone: the last good SHA is deployed again, as a rollback, with the reason.
    let RunSeen {
        id: rollback,
        branch: git_ref,
        inputs,
    } = w.newest_run(Some("production")).unwrap();
    assert_ne!(rollback, run);
    assert_eq!(git_ref, "main");
    assert_eq!(inputs["sha"], good.as_str());
    assert_eq!(inputs["rollback"], "true");
    let reason = inputs["reason"].as_str().unwrap_or_default().to_owned();
    assert!(reason.contains("concluded `failure`"), "{reason}");
    sim.complete_workflow_run(REPO, rollback, "success").await;
    sg.settle(sim).await;
    assert!(
        w.status(n).contains("phase **rolled_back**"),
        "{}",
        w.status(n)
    );
    let said = w
        .replies(n)
        .into_iter()
        .find(|r| r.contains("Rolled back"))
        .expect("a rollback reply");
    assert!(
        said.contains(&format!("back on `{}`", &good[..7]))
            && said.contains(&format!("was `{}`", &bad[..7]))
            && said.contains("**By:** shipgate"),
        "{said}"
    );
    // The replaced deployment is inactive; the rollback's deployment succeeded.
    let prod = w.deployments("production");
    let replaced = prod.iter().find(|d| d.sha == bad).unwrap();
    assert_eq!(
        replaced.statuses.last().map(|x| x.0.as_str()),
        Some("inactive"),
        "{prod:?}"
    );
    let restored = prod.iter().rev().find(|d| d.sha == good).unwrap();
    assert_eq!(
        restored.statuses.last().map(|x| x.0.as_str()),
        Some("success")
    );
    let CheckRunSeen {
        status,
        conclusion,
        title,
        ..
    } = w.check_run(&bad);
    assert_eq!(
        (status.as_str(), conclusion.as_deref()),
        ("completed", Some("failure"))
    );
    assert_eq!(title, format!("Rolled back to `{}`", &good[..7]));
    expect_rollback_counted(sg, "deploy_failed", 1.0).await;
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

async fn rollback_by_command_after_done_and_its_refusals(backend: Backend) {
    let ok = Arc::new(AtomicBool::new(true));
    let url = endpoint(ok).await;
    let w = setup(backend, &url, &url).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let (first, good) = w.to_done().await;
    // The first feature ever deployed has nothing before it.
    sim.comment(REPO, first, "releaser", "/rollback").await;
    sg.settle(sim).await;
    assert!(
        w.replies(first)
            .iter()
            .any(|r| r.contains("no earlier successful production deployment")),
        "{:?}",
        w.replies(first)
    );
    assert!(w.status(first).contains("phase **done**"));

    let (n, bad) = w.to_done().await;
    sim.comment(REPO, n, "outsider", "/rollback").await;
    sim.comment(REPO, n, "lead", "/rollback").await;
    sg.settle(sim).await;
    let replies = w.replies(n);
    assert!(
        replies
            .iter()
            .any(|r| r.starts_with("@outsider:") && r.contains("write access")),
        "{replies:?}"
    );
    assert!(
        replies
            .iter()
            .any(|r| r.starts_with("@lead:") && r.contains("`approvers.production`")),
        "{replies:?}"
    );
    assert!(w.status(n).contains("phase **done**"));

    sim.comment(REPO, n, "releaser", "/rollback totals are off")
        .await;
    sg.settle(sim).await;
    let RunSeen {
        id: run, inputs, ..
    } = w.newest_run(Some("production")).unwrap();
    assert_eq!(
        (
            inputs["sha"].as_str(),
            inputs["rollback"].as_str(),
            inputs["reason"].as_str()
        ),
        (Some(good.as_str()), Some("true"), Some("totals are off"))
    );
    sim.complete_workflow_run(REPO, run, "success").await;
    sg.settle(sim).await;
    assert!(
        w.status(n).contains("phase **rolled_back**"),
        "{}",
        w.status(n)
    );
    assert!(
        w.replies(n)
            .iter()
            .any(|r| r.contains("**Why:** totals are off")
                && r.contains("**By:** @releaser")
                && r.contains(&format!("was `{}`", &bad[..7]))),
        "{:?}",
        w.replies(n)
    );
    let audit = sg.store.audit_entries(0, 500).await.unwrap();
    assert!(
        audit.iter().any(|e| e.actor == "releaser"
            && e.action == "rollback"
            && e.detail.contains("totals are off")),
        "{audit:#?}"
    );
    assert!(sg.store.verify_audit().await.unwrap().is_ok());
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

async fn failed_probes_roll_production_back_and_a_flapping_probe_does_not(backend: Backend) {
    let staging = endpoint(Arc::new(AtomicBool::new(true))).await;
    let mode = Arc::new(std::sync::atomic::AtomicU8::new(0));
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let production = scripted_endpoint(mode.clone(), hits.clone()).await;
    // DESIGN's `failures: 3`, over a 3 s window of probes a second apart.
    let config = format!(
        "approvers:\n  production: [releaser]\n\
         deploy:\n  environments:\n\
         \x20   staging:\n      health: {{ url: \"{staging}\", interval: 1s, window: 2s }}\n\
         \x20   production:\n      health: {{ url: \"{production}\", interval: 1s, window: 3s, max_latency_factor: null }}\n"
    );
    let w = setup_with(backend, &config).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let (_, first) = w.to_done().await;

    // Flapping (down, up, down, up over the window): never three in a row, so the feature
    // is done, not rolled back.
    hits.store(0, Ordering::SeqCst);
    mode.store(2, Ordering::SeqCst);
    let (flapped, good) = w.to_done().await;
    assert_ne!(first, good);
    assert!(w.status(flapped).contains("phase **done**"));
    let status = w.status(flapped);
    let line = status
        .lines()
        .find(|l| l.contains("| ✅ Production |"))
        .unwrap_or_default();
    assert!(line.contains("healthy for 3s: 2 of 4 probes"), "{status}");

    // Down: three failed probes in a row roll production back to the last good SHA.
    let (n, pr, _) = w.to_readiness().await;
    mode.store(1, Ordering::SeqCst);
    sim.comment(REPO, pr, "releaser", "/approve production")
        .await;
    sg.settle(sim).await;
    let run = w.newest_run(Some("production")).unwrap().id;
    sim.complete_workflow_run(REPO, run, "success").await;
    let mut rollback = None;
    for _ in 0..50 {
        sg.settle(sim).await;
        let newest = w.newest_run(Some("production")).unwrap();
        if newest.id != run {
            rollback = Some(newest);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let RunSeen {
        id: rollback,
        inputs,
        ..
    } = rollback.expect("a rollback was dispatched");
    assert_eq!(inputs["sha"], good.as_str());
    assert_eq!(inputs["rollback"], "true");
    let reason = inputs["reason"].as_str().unwrap_or_default().to_owned();
    assert!(
        reason.contains("3 health probes") && reason.contains("answered 502 Bad Gateway after"),
        "the trigger and its evidence: {reason}"
    );
    mode.store(0, Ordering::SeqCst);
    sim.complete_workflow_run(REPO, rollback, "success").await;
    sg.settle(sim).await;
    assert!(
        w.status(n).contains("phase **rolled_back**"),
        "{}",
        w.status(n)
    );
    expect_rollback_counted(sg, "health", 0.0).await;
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

async fn stop_cancels_runs_and_rolls_production_back(backend: Backend) {
    let ok = Arc::new(AtomicBool::new(true));
    let url = endpoint(ok).await;
    let w = setup(backend, &url, &url).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let (_, good) = w.to_done().await;

    // In review: `/stop` cancels the tests run and the pipeline stops.
    let n = sim
        .open_issue(REPO, "pm", "Import invoices", BODY, &["feature"])
        .await;
    sim.comment(REPO, n, "lead", "/approve\n/approve plan")
        .await;
    sg.settle(sim).await;
    let branch = format!("feature/REQ-{n}-import-invoices");
    sim.open_pull(REPO, "dev", &branch, "Import", &format!("Closes #{n}"))
        .await;
    sg.settle(sim).await;
    let tests = w.newest_run(None).unwrap().id;
    sim.comment(REPO, n, "outsider", "/stop").await;
    sim.comment(REPO, n, "lead", "/stop").await;
    sg.settle(sim).await;
    let conclusion = sim.with(|s| s.repos[REPO].runs[&tests].conclusion.clone());
    assert_eq!(conclusion.as_deref(), Some("cancelled"));
    assert!(w.status(n).contains("phase **stopped**"), "{}", w.status(n));
    assert!(
        w.replies(n)
            .iter()
            .any(|r| r.starts_with("@outsider:") && r.contains("write access")),
        "{:?}",
        w.replies(n)
    );

    // During the production deploy: the run is cancelled and production rolls back.
    let (m, pr, _) = w.to_readiness().await;
    sim.comment(REPO, pr, "releaser", "/approve production")
        .await;
    sg.settle(sim).await;
    let deploy = w.newest_run(Some("production")).unwrap().id;
    // It rolls production back: a maintainer who is not a release approver may not.
    sim.comment(REPO, m, "lead", "/stop").await;
    sg.settle(sim).await;
    assert!(
        w.replies(m).iter().any(|r| r.starts_with("@lead:")
            && r.contains("cannot stop a production deploy (it rolls production back)")),
        "{:?}",
        w.replies(m)
    );
    assert_eq!(
        sim.with(|s| s.repos[REPO].runs[&deploy].conclusion.clone()),
        None
    );
    sim.comment(REPO, m, "releaser", "/stop").await;
    sg.settle(sim).await;
    let conclusion = sim.with(|s| s.repos[REPO].runs[&deploy].conclusion.clone());
    assert_eq!(conclusion.as_deref(), Some("cancelled"));
    let RunSeen {
        id: rollback,
        inputs,
        ..
    } = w.newest_run(Some("production")).unwrap();
    assert_ne!(rollback, deploy);
    assert_eq!(
        (inputs["sha"].as_str(), inputs["rollback"].as_str()),
        (Some(good.as_str()), Some("true"))
    );
    assert_eq!(inputs["reason"], "/stop by @releaser");
    sim.complete_workflow_run(REPO, rollback, "success").await;
    sg.settle(sim).await;
    assert!(
        w.status(m).contains("phase **rolled_back**"),
        "{}",
        w.status(m)
    );
    expect_rollback_counted(sg, "stop", 1.0).await; // the deploy run /stop cancelled
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

on_both_backends!(
    surfaces_are_drawn_once_a_burst_and_only_when_they_change,
    stop_cancels_runs_and_rolls_production_back,
    failed_probes_roll_production_back_and_a_flapping_probe_does_not,
    a_failed_production_deploy_rolls_back_to_the_last_good_one,
    rollback_by_command_after_done_and_its_refusals,
    feature_goes_to_production,
    a_failing_production_deploy_fails_the_stage_and_is_retried,
    deploy_staging_by_command_and_button
);
