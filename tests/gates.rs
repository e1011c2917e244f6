//! Gates that cannot be walked around, end to end through real HTTP on SQLite and
//! PostgreSQL (DESIGN.md §7): a run counts only if shipgate started it, a fork's PR never
//! takes the pipeline, the PR must target the default branch, a re-sent stale delivery never
//! rewinds the head, whoever wrote the commits cannot approve them, bots never approve, and a
//! configuration that cannot be read holds the gates.

#[macro_use]
mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use common::Backend;
use common::world::*;
use serde_json::{Value, json};
use shipgate::sim::NewPull;
use shipgate::sim::state::Permission;

impl World {
    /// Every answer shipgate gave on the issue and its PR.
    fn answers(&self, n: u64, pr: u64) -> Vec<String> {
        let mut all = self.replies(n);
        all.extend(self.replies(pr));
        all
    }

    /// The newest run shipgate's bot dispatched with `environment` (None: a tests run).
    fn shipgates_run(&self, environment: Option<&str>) -> Option<u64> {
        self.sim.with(|s| {
            s.repos[REPO]
                .runs
                .values()
                .filter(|r| r.actor.ends_with("[bot]"))
                .filter(|r| r.inputs.get("environment").and_then(Value::as_str) == environment)
                .map(|r| r.id)
                .max()
        })
    }

    /// Waits (without letting shipgate settle) until a dispatch of `workflow` was refused;
    /// returns the `pipeline` token it carried, as anyone could guess or read it (without
    /// the nonce after the dot).
    async fn refused_dispatch(&self, workflow: &str) -> String {
        for _ in 0..200 {
            let token = self.sim.requests().iter().rev().find_map(|r| {
                (r.path
                    .ends_with(&format!("/workflows/{workflow}/dispatches"))
                    && r.status == 403)
                    .then(|| {
                        r.body.as_ref()?["inputs"]["pipeline"]
                            .as_str()
                            .map(str::to_owned)
                    })
                    .flatten()
            });
            if let Some(token) = token {
                return token.split('.').next().unwrap_or_default().to_owned();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("no refused dispatch of {workflow}");
    }

    /// The PR's tests pass (shipgate's run), `reviewer` approves it, and its staging deploy
    /// succeeds: the pipeline is in readiness.
    async fn green_to_readiness(&self, n: u64, pr: u64) {
        let (sim, sg) = (&self.sim, &self.sg);
        let tests = self.shipgates_run(None).expect("tests dispatched");
        sim.complete_workflow_run(REPO, tests, "success").await;
        sim.review(REPO, pr, "reviewer", "APPROVED").await;
        sg.settle(sim).await;
        let staging = self.shipgates_run(Some("staging")).expect("staging deploy");
        sim.complete_workflow_run(REPO, staging, "success").await;
        self.wait_for_phase(n, "readiness").await;
    }

    /// Someone without write access opens a PR that closes #`n` from a fork; returns its
    /// number.
    async fn forks_pull(&self, n: u64) -> u64 {
        self.sim.add_repo("stranger/widgets");
        let closes = format!("Closes #{n}");
        let fork = self
            .sim
            .open_pull_with(
                REPO,
                NewPull {
                    author: "stranger",
                    head_repo: Some("stranger/widgets"),
                    branch: "patch-1",
                    title: "Export invoices, my way",
                    body: &closes,
                    ..NewPull::default()
                },
            )
            .await;
        self.sg.settle(&self.sim).await;
        fork
    }

    /// Opens a feature issue and approves its requirement and plan; returns its number.
    fn audited(&self, action: &str) -> impl std::future::Future<Output = Vec<String>> + '_ {
        let action = action.to_owned();
        async move {
            self.sg
                .store
                .audit_entries(0, 1000)
                .await
                .unwrap()
                .into_iter()
                .filter(|e| e.action == action)
                .map(|e| e.detail)
                .collect()
        }
    }
}

/// GitHub's rate limit on the next dispatch: shipgate waits `retry-after` seconds.
fn rate_limit_next_dispatch(w: &World) {
    w.sim.inject_fault(
        "actions/create-workflow-dispatch",
        403,
        &[("retry-after", "2"), ("x-ratelimit-remaining", "0")],
    );
}

/// Example A: while shipgate's tests dispatch waits out a rate limit, a writer dispatches
/// tests.yml by hand under its run name from a branch with no tests; it succeeds. It must
/// not pass the tests gate: shipgate's own run fails, and staging never happens.
async fn a_run_started_by_hand_under_shipgates_run_name_counts_for_nothing(backend: Backend) {
    let url = endpoint(Arc::new(AtomicBool::new(true))).await;
    let w = setup(backend, &url, &url).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let n = w.planned_feature("Export invoices").await;
    rate_limit_next_dispatch(&w);
    let pr = sim
        .open_pull(
            REPO,
            "dev",
            &format!("feature/REQ-{n}-export-invoices"),
            "Add invoice export",
            &format!("Closes #{n}"),
        )
        .await;
    let token = w.refused_dispatch("tests.yml").await;
    let head = sim.with(|s| s.repos[REPO].pulls[&pr].head_sha.clone());
    sim.with(|s| s.commit(REPO, "no-tests", "nothing to test", "reviewer", &[]));
    let forged = sim
        .dispatch_by_hand(
            REPO,
            "reviewer",
            "tests.yml",
            "no-tests",
            json!({"sha": head, "pipeline": token}),
        )
        .await;
    sim.complete_workflow_run(REPO, forged, "success").await;
    sim.review(REPO, pr, "lead", "APPROVED").await;
    sg.settle(sim).await;
    let said = format!(
        "⚠️ run {forged} of tests.yml was not started by shipgate; ignored (@reviewer started it, not shipgate)"
    );
    assert!(
        w.replies(n).iter().any(|r| r.starts_with(&said)),
        "{:?}",
        w.replies(n)
    );
    assert!(
        w.audited("run ignored")
            .await
            .iter()
            .any(|d| d.contains(&format!("run {forged} of tests.yml"))),
        "audited"
    );

    // shipgate's own dispatch went out after the wait; its run fails.
    let ours = w
        .shipgates_run(None)
        .expect("shipgate dispatched the tests");
    assert_ne!(ours, forged);
    sim.complete_workflow_run(REPO, ours, "failure").await;
    sg.settle(sim).await;
    assert!(w.status(n).contains("phase **review**"), "{}", w.status(n));
    assert!(
        w.newest_run(Some("staging")).is_none(),
        "staging never went ahead"
    );
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

/// Example B: a writer who is not a release approver reads the production Deployment's
/// payload and dispatches deploy.yml from their own branch under that name, while shipgate's
/// dispatch waits. The protection rule rejects their run and approves shipgate's.
async fn the_protection_rule_approves_only_the_deploy_shipgate_started(backend: Backend) {
    let url = endpoint(Arc::new(AtomicBool::new(true))).await;
    let w = setup(backend, &url, &url).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let (n, pr, _) = w.to_readiness().await;
    rate_limit_next_dispatch(&w);
    sim.comment(REPO, pr, "releaser", "/approve production")
        .await;
    w.refused_dispatch("deploy.yml").await;
    let (merge_sha, token) = sim.with(|s| {
        let r = &s.repos[REPO];
        let d = r
            .deployments
            .values()
            .filter(|d| d.environment == "production")
            .max_by_key(|d| d.id)
            .expect("the production Deployment");
        (
            d.sha.clone(),
            d.payload["pipeline"].as_str().unwrap().to_owned(),
        )
    });
    assert!(
        !token.contains('.'),
        "the nonce is never published: {token}"
    );
    sim.with(|s| s.commit(REPO, "mallory", "my own deploy", "reviewer", &[]));
    let forged = sim
        .dispatch_by_hand(
            REPO,
            "reviewer",
            "deploy.yml",
            "mallory",
            json!({"environment": "production", "sha": merge_sha, "pipeline": token, "rollback": "false"}),
        )
        .await;
    sim.request_deployment_protection(REPO, forged, "production")
        .await;
    sg.settle(sim).await;
    let reviews = sim.with(|s| s.repos[REPO].protection_reviews.clone());
    let forged_answer = reviews.iter().find(|r| r.0 == forged).expect("answered");
    assert_eq!(forged_answer.2, "rejected", "{forged_answer:?}");
    assert!(
        forged_answer.3.contains(&format!(
            "run {forged} of deploy.yml was not started by shipgate"
        )),
        "{forged_answer:?}"
    );

    let ours = w
        .shipgates_run(Some("production"))
        .expect("shipgate's deploy");
    sim.request_deployment_protection(REPO, ours, "production")
        .await;
    sg.settle(sim).await;
    let reviews = sim.with(|s| s.repos[REPO].protection_reviews.clone());
    assert_eq!(
        reviews.iter().find(|r| r.0 == ours).map(|r| r.2.as_str()),
        Some("approved"),
        "{reviews:?}"
    );
    sim.complete_workflow_run(REPO, ours, "success").await;
    w.wait_for_phase(n, "done").await;

    // Weeks later a writer re-runs shipgate's deploy run (the same run id): rejected.
    sim.rerun_by_hand(REPO, ours, "reviewer").await;
    sim.request_deployment_protection(REPO, ours, "production")
        .await;
    sg.settle(sim).await;
    let last = sim.with(|s| s.repos[REPO].protection_reviews.last().cloned().unwrap());
    assert_eq!((last.0, last.2.as_str()), (ours, "rejected"), "{last:?}");
    assert!(last.3.contains("re-run by @reviewer"), "{last:?}");
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

/// After `/approve plan`, someone without write access opens a PR from a fork that closes
/// the issue; then the team opens the real PR. The team's PR drives the pipeline.
async fn the_teams_pull_request_displaces_a_forks(backend: Backend) {
    let url = endpoint(Arc::new(AtomicBool::new(true))).await;
    let w = setup(backend, &url, &url).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let n = w.planned_feature("Export invoices").await;
    let fork = w.forks_pull(n).await;
    let team = sim
        .open_pull(
            REPO,
            "dev",
            &format!("feature/REQ-{n}-export-invoices"),
            "Add invoice export",
            &format!("Closes #{n}"),
        )
        .await;
    sg.settle(sim).await;
    let head = sim.with(|s| s.repos[REPO].pulls[&team].head_sha.clone());
    let CheckRunSeen { status, .. } = w.check_run(&head);
    assert_eq!(status, "in_progress", "the team's PR has its check run");
    let tests = w.shipgates_run(None).expect("the team's PR is tested");
    assert_eq!(
        sim.with(|s| s.repos[REPO].runs[&tests].head_branch.clone()),
        format!("feature/REQ-{n}-export-invoices")
    );
    let status = w.status(n);
    assert!(
        status.contains(&format!(
            "🔀 #{team} drives this pipeline. #{fork} does not"
        )),
        "{status}"
    );
    assert!(
        w.replies(fork)
            .iter()
            .any(|r| r.starts_with(&format!("This pull request no longer drives REQ-{n}"))),
        "{:?}",
        w.replies(fork)
    );
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

/// The example's second half: after `/skip tests` and a review, a fork's head went to
/// staging. It never does, by any path: skip, review, `/deploy staging`.
async fn a_forks_head_never_reaches_staging(backend: Backend) {
    let url = endpoint(Arc::new(AtomicBool::new(true))).await;
    let w = setup(backend, &url, &url).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let n = w.planned_feature("Export invoices").await;
    let fork = w.forks_pull(n).await;
    sim.comment(REPO, fork, "owner", "/skip tests no runner for forks")
        .await;
    sim.review(REPO, fork, "reviewer", "APPROVED").await;
    sim.comment(REPO, fork, "lead", "/deploy staging").await;
    sg.settle(sim).await;
    let answers = w.answers(n, fork);
    for who in ["@owner:", "@lead:"] {
        assert!(
            answers
                .iter()
                .any(|r| r.starts_with(who) && r.contains("comes from a fork")),
            "{who} {answers:?}"
        );
    }
    assert!(w.shipgates_run(None).is_none(), "never tested");
    assert!(w.newest_run(Some("staging")).is_none(), "never deployed");
    assert!(w.deployments("staging").is_empty());
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

/// A fork's head someone deployed to production by hand is never a rollback target: a
/// rollback runs on the default branch, and production goes back only to a commit on it.
async fn a_rollback_never_deploys_a_forks_head(backend: Backend) {
    let url = endpoint(Arc::new(AtomicBool::new(true))).await;
    let w = setup(backend, &url, &url).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let (_, good) = w.to_done().await;
    sim.add_repo("stranger/widgets");
    let foreign = sim.with(|s| {
        let sha = s.commit("stranger/widgets", "patch-1", "my change", "stranger", &[]);
        let (id, status_id, now) = (s.next_id(), s.next_id(), s.now());
        let r = s.repo_mut(REPO).unwrap();
        r.deployments.insert(
            id,
            shipgate::sim::state::Deployment {
                id,
                sha: sha.clone(),
                git_ref: "patch-1".into(),
                task: "deploy".into(),
                environment: "production".into(),
                payload: json!({}),
                description: None,
                creator: "reviewer".into(),
                production_environment: true,
                transient_environment: false,
                required_contexts: Some(vec![]),
                created_at: now,
            },
        );
        r.deployment_statuses.insert(
            status_id,
            shipgate::sim::state::DeploymentStatus {
                id: status_id,
                deployment_id: id,
                state: "success".into(),
                description: String::new(),
                log_url: String::new(),
                environment_url: String::new(),
                creator: "reviewer".into(),
                created_at: now,
            },
        );
        sha
    });
    let (_, pr, _) = w.to_readiness().await;
    sim.comment(REPO, pr, "releaser", "/approve production")
        .await;
    sg.settle(sim).await;
    let run = w.shipgates_run(Some("production")).unwrap();
    sim.complete_workflow_run(REPO, run, "failure").await;
    sg.settle(sim).await;
    let RunSeen {
        id: rollback,
        branch: git_ref,
        inputs,
    } = w.newest_run(Some("production")).unwrap();
    assert_ne!(rollback, run);
    assert_eq!(git_ref, "main");
    assert_eq!(inputs["rollback"], "true");
    assert_eq!(inputs["sha"], good.as_str(), "not the fork's `{foreign}`");
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

/// A PR into `release`: said when it is linked, production approval refused with that
/// reason; once its base is `main` again, production deploys the merge commit on `main`.
async fn a_pull_request_into_another_branch_never_reaches_production(backend: Backend) {
    let w = setup_with(backend, "approvers:\n  production: [releaser]\n").await;
    let (sim, sg) = (&w.sim, &w.sg);
    let n = w.planned_feature("Export invoices").await;
    sim.with(|s| s.commit(REPO, "release", "release line", "lead", &[]));
    let closes = format!("Closes #{n}");
    let branch = format!("feature/REQ-{n}-export-invoices");
    let pr = sim
        .open_pull_with(
            REPO,
            NewPull {
                author: "dev",
                branch: &branch,
                base: Some("release"),
                title: "Add invoice export",
                body: &closes,
                ..NewPull::default()
            },
        )
        .await;
    sg.settle(sim).await;
    assert!(
        w.replies(pr).iter().any(|r| r.contains(&format!(
            "#{pr} targets `release`, but production runs `main`"
        ))),
        "{:?}",
        w.replies(pr)
    );
    w.green_to_readiness(n, pr).await;
    sim.comment(REPO, pr, "releaser", "/approve production")
        .await;
    sg.settle(sim).await;
    assert!(
        w.answers(n, pr).iter().any(|r| r.starts_with("@releaser:")
            && r.contains("targets `release`, but production runs `main`")),
        "{:?}",
        w.answers(n, pr)
    );
    assert!(!sim.with(|s| s.repos[REPO].pulls[&pr].merged), "not merged");

    sim.change_base(REPO, pr, "dev", "main").await;
    sg.settle(sim).await;
    assert!(
        w.replies(pr)
            .iter()
            .any(|r| r.starts_with(&format!("#{pr} targets `main` again."))),
        "{:?}",
        w.replies(pr)
    );
    sim.comment(REPO, pr, "releaser", "/approve production")
        .await;
    sg.settle(sim).await;
    let production = w.shipgates_run(Some("production")).expect("deployed");
    let (git_ref, sha, main) = sim.with(|s| {
        let r = &s.repos[REPO];
        let run = &r.runs[&production];
        (
            run.head_branch.clone(),
            run.inputs["sha"].as_str().unwrap().to_owned(),
            r.ancestors(&r.branches["main"]),
        )
    });
    assert_eq!(git_ref, "main");
    assert!(main.contains(&sha), "production deploys a commit on main");
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

/// A stale `pull_request.synchronize` re-sent under a new delivery GUID (old `after` SHA)
/// must not rewind the head to a commit that was ready.
async fn a_re_sent_stale_push_never_rewinds_the_head(backend: Backend) {
    let url = endpoint(Arc::new(AtomicBool::new(true))).await;
    let w = setup(backend, &url, &url).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let (n, pr, _) = w.to_readiness().await;
    // A push, made ready again (tests, review, staging) ...
    let ready = sim.push_to_pull(REPO, pr, "dev", "second commit").await;
    sg.settle(sim).await;
    let sync = sim.with(|s| {
        s.hook_deliveries
            .iter()
            .rev()
            .find(|d| d.event == "pull_request" && d.payload["after"] == ready.as_str())
            .map(|d| d.payload.clone())
            .expect("the synchronize delivery")
    });
    w.green_to_readiness(n, pr).await;
    // ... then another push: back to review.
    let newest = sim.push_to_pull(REPO, pr, "dev", "third commit").await;
    sg.settle(sim).await;
    assert!(w.status(n).contains("phase **review**"));
    // The second push's delivery again, under a new GUID.
    sim.send_webhook("pull_request", sync).await;
    sg.settle(sim).await;
    let status = w.status(n);
    assert!(status.contains("phase **review**"), "{status}");
    assert!(status.contains(&newest[..7]), "{status}");
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

/// One developer pushes every commit, a bot opens the PR, and the same developer approves
/// the review and production: neither counts. A bot with admin access never approves.
async fn whoever_wrote_the_commits_and_bots_never_approve(backend: Backend) {
    let url = endpoint(Arc::new(AtomicBool::new(true))).await;
    let w = setup(backend, &url, &url).await;
    let (sim, sg) = (&w.sim, &w.sg);
    sim.set_permission(REPO, "ci-helper[bot]", Permission::Admin);
    let n = w.planned_feature("Export invoices").await;
    let branch = format!("feature/REQ-{n}-export-invoices");
    let closes = format!("Closes #{n}");
    let pr = sim
        .open_pull_with(
            REPO,
            NewPull {
                author: "release-bot[bot]",
                committer: Some("releaser"),
                branch: &branch,
                title: "Add invoice export",
                body: &closes,
                ..NewPull::default()
            },
        )
        .await;
    sg.settle(sim).await;
    let tests = w.shipgates_run(None).unwrap();
    sim.complete_workflow_run(REPO, tests, "success").await;
    sim.review(REPO, pr, "releaser", "APPROVED").await;
    sim.review(REPO, pr, "ci-helper[bot]", "APPROVED").await;
    sg.settle(sim).await;
    let answers = w.answers(n, pr);
    assert!(
        answers.iter().any(
            |r| r.contains("@releaser authored, committed or pushed commits of #")
                && r.contains("does not count toward the review gate")
        ),
        "{answers:?}"
    );
    assert!(
        answers.iter().any(|r| r.contains(
            "@ci-helper[bot] cannot approve this pull request: bots and GitHub Apps never approve"
        )),
        "{answers:?}"
    );
    assert!(
        w.newest_run(Some("staging")).is_none(),
        "no approval counted"
    );
    sim.review(REPO, pr, "reviewer", "APPROVED").await;
    sg.settle(sim).await;
    let staging = w.shipgates_run(Some("staging")).unwrap();
    sim.complete_workflow_run(REPO, staging, "success").await;
    w.wait_for_phase(n, "readiness").await;
    sim.comment(REPO, pr, "releaser", "/approve production")
        .await;
    sim.comment(REPO, pr, "ci-helper[bot]", "/approve production")
        .await;
    sg.settle(sim).await;
    let answers = w.answers(n, pr);
    assert!(
        answers.iter().any(|r| r.starts_with("@releaser:")
            && r.contains("authored, committed or pushed commits of #")),
        "{answers:?}"
    );
    assert!(
        answers.iter().any(|r| r.starts_with("@ci-helper[bot]:")
            && r.contains("bots and GitHub Apps never approve")),
        "{answers:?}"
    );
    assert!(w.status(n).contains("phase **readiness**"));
    assert!(!sim.with(|s| s.repos[REPO].pulls[&pr].merged));
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

/// `.github/shipgate.yml` with one byte that is not UTF-8 on the default branch: the gates
/// hold with the reason shown (never the defaults, which would drop the approver list), and
/// a non-approver's `/approve production` is refused.
async fn a_configuration_that_cannot_be_read_holds_the_gates(backend: Backend) {
    let url = endpoint(Arc::new(AtomicBool::new(true))).await;
    let w = setup(backend, &url, &url).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let (n, pr, _) = w.to_readiness().await;
    let config = sim.with(|s| {
        let r = &s.repos[REPO];
        r.commits[&r.branches["main"]].files[".github/shipgate.yml"].clone()
    });
    let mut broken = config.clone();
    broken.extend_from_slice(b"# caf\xe9\n");
    let pushed = sim
        .push_bytes(REPO, "main", "lead", ".github/shipgate.yml", &broken)
        .await;
    sg.settle(sim).await;
    let status = w.status(n);
    assert!(
        status.contains("**Configuration errors**") && status.contains("not UTF-8 text"),
        "{status}"
    );
    sim.comment(REPO, pr, "reviewer", "/approve production")
        .await;
    sg.settle(sim).await;
    assert!(
        w.answers(n, pr).iter().any(|r| r.starts_with("@reviewer:")
            && r.contains("has errors; the gates hold until they are fixed")),
        "{:?}",
        w.answers(n, pr)
    );
    assert!(!sim.with(|s| s.repos[REPO].pulls[&pr].merged), "not merged");
    let check = sim.with(|s| {
        s.repos[REPO]
            .check_runs
            .values()
            .find(|c| c.head_sha == pushed && c.name == "shipgate / config")
            .map(|c| c.conclusion.clone())
    });
    assert_eq!(check, Some(Some("failure".into())));
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

on_both_backends!(
    a_run_started_by_hand_under_shipgates_run_name_counts_for_nothing,
    the_protection_rule_approves_only_the_deploy_shipgate_started,
    the_teams_pull_request_displaces_a_forks,
    a_rollback_never_deploys_a_forks_head,
    a_forks_head_never_reaches_staging,
    a_pull_request_into_another_branch_never_reaches_production,
    a_re_sent_stale_push_never_rewinds_the_head,
    whoever_wrote_the_commits_and_bots_never_approve,
    a_configuration_that_cannot_be_read_holds_the_gates,
);
