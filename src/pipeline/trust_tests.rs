//! Core tests for gates that cannot be walked around (DESIGN.md §7): runs count only if
//! shipgate started them, untrusted pull requests never take a pipeline, the PR must target
//! the default branch, GitHub's newest state wins, the people rules have no side doors.

use super::gates;
use super::governance_tests::production_dispatched;
use super::model::*;
use super::provenance::{CLOCK_SKEW_MS, Sent, mismatch};
use super::tests::*;
use super::views;

fn bot(login: &str, access: Access) -> Actor {
    Actor {
        is_bot: true,
        ..actor(login, access)
    }
}

/// A run someone started by hand, named after one of the pipeline's dispatches.
fn hand_run(run_id: u64, correlation: &str, workflow: &str, branch: &str) -> RunReport {
    RunReport {
        run_id,
        status: "completed".into(),
        conclusion: Some("success".into()),
        url: format!("https://github.test/runs/{run_id}"),
        display_title: Some(correlation.to_owned()),
        attempt: 1,
        origin: Some(Box::new(RunOrigin {
            path: format!(".github/workflows/{workflow}"),
            event: "workflow_dispatch".into(),
            actor: "mallory".into(),
            by_app: false,
            head_branch: branch.into(),
            head_sha: "evil999".into(),
            created_at: 5_000,
            proven: None,
        })),
    }
}

/// The protection rule's answer among the effects: (approved, comment).
fn protection_answer(effects: &Outputs) -> Option<(bool, String)> {
    actions(effects).into_iter().find_map(|a| match a {
        Action::ReviewProtection {
            approved, comment, ..
        } => Some((*approved, comment.clone())),
        _ => None,
    })
}

fn audited<'a>(effects: &'a Outputs, what: &str) -> Vec<&'a str> {
    effects
        .audit
        .iter()
        .filter(|a| a.action == what)
        .map(|a| a.detail.as_str())
        .collect()
}

// ---- 1. a workflow run counts only if shipgate started it ----

#[test]
fn a_run_is_adopted_only_if_everything_matches_what_was_dispatched() {
    let sent = Sent {
        workflow: "tests.yml",
        git_ref: "feature/REQ-1-x",
        sha: Some("aaa111"),
        correlation: "REQ-1-t22",
        at: 100_000,
    };
    let ours = RunOrigin {
        path: ".github/workflows/tests.yml@refs/heads/feature/REQ-1-x".into(),
        event: "workflow_dispatch".into(),
        actor: "shipgate[bot]".into(),
        by_app: true,
        head_branch: "feature/REQ-1-x".into(),
        head_sha: "aaa111".into(),
        created_at: 101_000,
        proven: Some("REQ-1-t22".into()),
    };
    assert_eq!(mismatch(&ours, &sent), None);
    let cases: Vec<(RunOrigin, &str)> = vec![
        (
            RunOrigin {
                path: ".github/workflows/other.yml".into(),
                ..ours.clone()
            },
            "it runs `.github/workflows/other.yml`, not `tests.yml`",
        ),
        (
            RunOrigin {
                event: "push".into(),
                ..ours.clone()
            },
            "a `push` event started it, not a dispatch",
        ),
        (
            RunOrigin {
                by_app: false,
                actor: "mallory".into(),
                ..ours.clone()
            },
            "@mallory started it, not shipgate",
        ),
        (
            RunOrigin {
                head_branch: "no-tests".into(),
                ..ours.clone()
            },
            "it runs on `no-tests`, not `feature/REQ-1-x`",
        ),
        (
            RunOrigin {
                head_sha: "bbb222".into(),
                ..ours.clone()
            },
            "it runs `bbb222`, not `aaa111`",
        ),
        (
            RunOrigin {
                created_at: 100_000 - CLOCK_SKEW_MS - 1,
                ..ours.clone()
            },
            "it was created before shipgate dispatched it",
        ),
        (
            RunOrigin {
                proven: None,
                ..ours.clone()
            },
            "its name lacks the dispatch's nonce",
        ),
    ];
    for (origin, why) in cases {
        assert_eq!(mismatch(&origin, &sent).as_deref(), Some(why));
    }
    // A rollback runs whatever the default branch's head is: no SHA to compare.
    let rollback = Sent { sha: None, ..sent };
    let moved = RunOrigin {
        head_sha: "ccc333".into(),
        ..ours
    };
    assert_eq!(mismatch(&moved, &rollback), None);
}

/// Example A: while shipgate's tests dispatch waits out a rate limit, someone dispatches
/// tests.yml by hand under its run name from a branch with no tests.
#[test]
fn a_hand_started_run_under_shipgates_run_name_is_not_evidence() {
    let (mut w, _) = World::new(COMPLETE);
    w.advance_to_development();
    let effects = w.pr(PullAction::Opened, "aaa111");
    let c = dispatches(&effects)[0].2.clone();
    w.review(
        actor("reviewer", Access::Write),
        ReviewState::Approved,
        "aaa111",
    );
    let effects = w.go(Input::WorkflowRun(hand_run(
        9001,
        &c,
        "tests.yml",
        "no-tests",
    )));
    assert!(!gates::tests_gate(&w.p, &w.cfg, "aaa111").passed);
    assert_eq!(w.p.phase, Phase::Review, "no staging on a forged result");
    assert_eq!(
        replies(&effects),
        [
            "⚠️ run 9001 of tests.yml was not started by shipgate; ignored (@mallory started it, not shipgate)"
        ]
    );
    assert_eq!(audited(&effects, "run ignored").len(), 1);
    // Its later webhooks are not reported again.
    let again = w.go(Input::WorkflowRun(hand_run(
        9001,
        &c,
        "tests.yml",
        "no-tests",
    )));
    assert!(replies(&again).is_empty());
    // shipgate's own dispatch goes through; its run fails: the tests gate fails.
    w.go(Input::EffectDone {
        key: "dispatched".into(),
        result: EffectResult::Dispatched {
            correlation: c.clone(),
            run_id: 501,
            url: "u".into(),
        },
    });
    w.run_done(&c, 501, "failure");
    assert!(gates::tests_gate(&w.p, &w.cfg, "aaa111").failed);
    assert!(w.p.deploys.is_empty(), "staging does not go ahead");
    // Once shipgate has its run, no other run with that name counts either.
    let late = w.go(Input::WorkflowRun(hand_run(
        9002,
        &c,
        "tests.yml",
        "no-tests",
    )));
    assert!(replies(&late)[0].contains(&format!("shipgate's run for `{c}` is 501")));
}

/// Example B: a writer who is not a release approver reads the production Deployment's
/// payload and dispatches deploy.yml from their own branch under that run name.
#[test]
fn the_protection_rule_rejects_a_run_made_to_look_like_shipgates_deploy() {
    let (mut w, _) = World::new(COMPLETE);
    deployed_to_staging(&mut w);
    let correlation = production_dispatched(&mut w);
    let forged = hand_run(666, &correlation, "deploy.yml", "mallory-branch");
    let effects = w.go(Input::ProtectionRule {
        delivery: "rule-forged".into(),
        run_id: 666,
        environment: "production".into(),
        sha: "merge1".into(),
        run: Some(forged),
    });
    let answer = protection_answer(&effects);
    assert_eq!(
        answer,
        Some((
            false,
            "REQ-12: run 666 of deploy.yml was not started by shipgate; ignored (@mallory started it, not shipgate)".into()
        ))
    );
    assert_eq!(
        w.p.phase,
        Phase::Production,
        "shipgate's deploy still waits"
    );
    // shipgate's own run asks next (its dispatch answer not in yet): approved.
    let ours = w.own_run(&correlation, 88, "waiting", None);
    let effects = w.go(Input::ProtectionRule {
        delivery: "rule-ours".into(),
        run_id: 88,
        environment: "production".into(),
        sha: "merge1".into(),
        run: Some(ours),
    });
    assert!(actions(&effects).iter().any(|a| matches!(
        a,
        Action::ReviewProtection {
            approved: true,
            run_id: 88,
            ..
        }
    )));
    w.run_done(&correlation, 88, "success");
    assert_eq!(
        w.p.current_deploy(Environment::Production)
            .map(|d| &d.state),
        Some(&DeployState::Succeeded)
    );
}

// ---- 2. untrusted pull requests never take a pipeline ----

/// The example: after `/approve plan` someone without write access opens a fork PR that
/// says `Closes #12`; then the team opens the real PR from shipgate's branch.
#[test]
fn the_teams_pull_request_displaces_a_fork_that_came_first() {
    let (mut w, _) = World::new(COMPLETE);
    w.advance_to_development();
    let mut fork = pull(40, "f0f0f0");
    fork.from_fork = true;
    fork.author = "stranger".into();
    fork.author_access = Access::Read;
    fork.head_branch = "patch-1".into();
    w.pull(PullAction::Opened, fork.clone());
    assert_eq!(w.p.pr.as_ref().map(|p| p.number), Some(40));
    let effects = w.pull(PullAction::Opened, pull(30, "aaa111"));
    assert_eq!(
        w.p.pr.as_ref().map(|p| p.number),
        Some(30),
        "the team's PR drives it"
    );
    assert!(
        actions(&effects)
            .iter()
            .any(|a| matches!(a, Action::SyncCheckRun { sha } if sha == "aaa111")),
        "the team's PR gets its check run"
    );
    assert_eq!(dispatches(&effects).len(), 1, "and its tests");
    let told = replies(&effects);
    assert!(
        told[0].starts_with("This pull request no longer drives REQ-12: #30 drives it instead"),
        "{told:?}"
    );
    let status = views::status_comment(&w.p, &w.cfg);
    assert!(
        status.contains("🔀 #30 drives this pipeline. #40 does not: #30 drives it instead: it is from this repository's branch `feature/REQ-12-export-invoices`, by @dev (write access), and #40 is from a fork."),
        "{status}"
    );
    // A fork opened later never displaces it, and is told so once.
    let mut later = fork.clone();
    later.number = 41;
    let effects = w.pull(PullAction::Opened, later.clone());
    assert_eq!(w.p.pr.as_ref().map(|p| p.number), Some(30));
    assert!(replies(&effects)[0].contains("does not drive REQ-12: #30 drives it"));
    assert!(replies(&w.pull(PullAction::Edited, later)).is_empty());
}

/// After `/skip tests` and a review, a fork's head went to staging.
#[test]
fn a_forks_head_is_never_deployed_by_any_path() {
    let (mut w, _) = World::new(COMPLETE);
    w.advance_to_development();
    w.pr_with(PullAction::Opened, "f0f0f0", true);
    let effects = w.comment(actor("owner", Access::Admin), "/skip tests flaky");
    assert!(
        replies(&effects)[0].contains("comes from a fork"),
        "{:?}",
        replies(&effects)
    );
    w.review(
        actor("reviewer", Access::Write),
        ReviewState::Approved,
        "f0f0f0",
    );
    let effects = w.comment(lead(), "/deploy staging");
    assert!(replies(&effects)[0].contains("comes from a fork"));
    assert!(w.p.deploys.is_empty());
    // Even if the gates were let through, the automatic deploy refuses it.
    w.p.skips.push(SkipRecord {
        gate: GateKind::Tests,
        by: "owner".into(),
        reason: "r".into(),
        at: 0,
        sha: Some("f0f0f0".into()),
    });
    w.comment(lead(), "/status");
    assert!(w.p.deploys.is_empty(), "{:?}", w.p.deploys);
    assert!(
        !gates::evaluate(&w.p, &w.cfg)
            .gates
            .iter()
            .any(|g| g.kind == gates::GateKind::PullRequest && g.passed)
    );
}

// ---- 3. the PR must target what production runs ----

#[test]
fn a_pull_request_into_another_branch_is_said_and_never_approved_for_production() {
    let (mut w, _) = World::new(COMPLETE);
    w.advance_to_development();
    let mut pr = pull(30, "aaa111");
    pr.base_branch = "release".into();
    let effects = w.pull(PullAction::Opened, pr.clone());
    assert!(
        replies(&effects)[0].contains("#30 targets `release`, but production runs `main`"),
        "{:?}",
        replies(&effects)
    );
    // Through review, tests and staging: production approval is refused with the reason.
    let c = dispatches(&effects)[0].2.clone();
    w.run_done(&c, 501, "success");
    let effects = w.review(
        actor("reviewer", Access::Write),
        ReviewState::Approved,
        "aaa111",
    );
    let correlation = staging_deployment_created(&mut w, &effects);
    w.run_done(&correlation, 77, "success");
    assert_eq!(w.p.phase, Phase::Readiness);
    let effects = w.comment(actor("releaser", Access::Write), "/approve production");
    assert!(
        replies(&effects)[0].contains("#30 targets `release`, but production runs `main`"),
        "{:?}",
        replies(&effects)
    );
    assert!(w.p.production.is_none());
    // The base changed back (`pull_request.edited` with `changes.base`): said, and allowed.
    pr.base_branch = "main".into();
    let effects = w.pull(PullAction::Edited, pr.clone());
    assert_eq!(replies(&effects), ["#30 targets `main` again."]);
    // ... and away again: said again.
    pr.base_branch = "release".into();
    let effects = w.pull(PullAction::Edited, pr);
    assert!(replies(&effects)[0].contains("Change its base back"));
}

#[test]
fn a_merge_refused_because_the_base_moved_fails_the_merge_stage() {
    let (mut w, _) = World::new(COMPLETE);
    deployed_to_staging(&mut w);
    let effects = w.comment(actor("releaser", Access::Write), "/approve production");
    let base = actions(&effects).into_iter().find_map(|a| match a {
        Action::Merge { base, .. } => Some(base.clone()),
        _ => None,
    });
    assert_eq!(
        base.as_deref(),
        Some("main"),
        "the merge names the branch it must land on"
    );
    w.go(Input::EffectDone {
        key: "merge".into(),
        result: EffectResult::NotMerged {
            number: 30,
            base: "release".into(),
        },
    });
    assert_eq!(w.p.phase, Phase::Failed);
    assert!(
        w.p.failure
            .as_ref()
            .unwrap()
            .reason
            .contains("it now targets `release`"),
        "{:?}",
        w.p.failure
    );
    assert!(
        w.p.deploys
            .iter()
            .all(|d| d.environment.name() != "production")
    );
}

// ---- 4. GitHub's latest state wins over the last delivered event ----

#[test]
fn an_older_review_never_replaces_a_newer_one_and_a_dismissed_one_never_returns() {
    let (mut w, _) = World::new(COMPLETE);
    w.advance_to_development();
    let effects = w.pr(PullAction::Opened, "aaa111");
    let c = dispatches(&effects)[0].2.clone();
    w.run_done(&c, 501, "success");
    let review = |id: u64, action: ReviewAction, state: ReviewState, at: i64| Input::Review {
        id,
        action,
        state,
        commit_sha: "aaa111".into(),
        pr: 30,
        reviewer: actor("reviewer", Access::Write),
        submitted_at: at,
    };
    // Changes requested at t=20 is delivered first; the approval from t=10 arrives late.
    w.go(review(
        8,
        ReviewAction::Submitted,
        ReviewState::ChangesRequested,
        20,
    ));
    w.go(review(
        7,
        ReviewAction::Submitted,
        ReviewState::Approved,
        10,
    ));
    assert!(!gates::review_gate(&w.p, &w.cfg, "aaa111").passed);
    assert_eq!(w.p.phase, Phase::Review);
    // A dismissal delivered before the review it dismisses: the review never counts.
    w.go(review(
        9,
        ReviewAction::Dismissed,
        ReviewState::Dismissed,
        30,
    ));
    w.go(review(
        9,
        ReviewAction::Submitted,
        ReviewState::Approved,
        30,
    ));
    assert!(!gates::review_gate(&w.p, &w.cfg, "aaa111").passed);
    // A newer approval counts.
    w.go(review(
        10,
        ReviewAction::Submitted,
        ReviewState::Approved,
        40,
    ));
    assert!(gates::review_gate(&w.p, &w.cfg, "aaa111").passed);
}

#[test]
fn a_late_issue_event_changes_nothing() {
    let (mut w, _) = World::new("idea");
    let edit = |body: &str, at: i64, delivery: &str| Input::Issue {
        delivery: delivery.into(),
        action: IssueAction::Edited,
        issue: IssueSnapshot {
            updated_at: at,
            ..issue(body)
        },
        actor: actor("pm", Access::Read),
    };
    w.go(edit(COMPLETE, 20_000, "new"));
    assert!(w.p.missing_sections.is_empty());
    // The older text arrives late: the requirement stays complete.
    w.go(edit("idea", 10_000, "old"));
    assert!(
        w.p.missing_sections.is_empty(),
        "{:?}",
        w.p.missing_sections
    );
    // An approval label delivered after it was removed (the snapshot lacks it) is no approval.
    let effects = w.go(Input::Issue {
        delivery: "label".into(),
        action: IssueAction::Labeled("approved".into()),
        issue: IssueSnapshot {
            updated_at: 30_000,
            ..issue(COMPLETE)
        },
        actor: lead(),
    });
    assert!(w.p.requirement.is_none(), "{:?}", replies(&effects));
}

// ---- 5. the people rules have no side doors ----

/// One developer pushes every commit, a bot opens the PR, and the same developer approves
/// the review and production alone.
#[test]
fn whoever_wrote_the_commits_cannot_approve_them_even_when_a_bot_opened_the_pr() {
    let (mut w, _) = World::new(COMPLETE);
    w.advance_to_development();
    let mut pr = pull(30, "aaa111");
    pr.author = "release-bot[bot]".into();
    pr.contributors = vec!["dev".into()];
    let effects = w.pull(PullAction::Opened, pr);
    let c = dispatches(&effects)[0].2.clone();
    w.run_done(&c, 501, "success");
    let effects = w.review(actor("dev", Access::Admin), ReviewState::Approved, "aaa111");
    assert_eq!(
        replies(&effects),
        [
            "This approval does not count toward the review gate: @dev authored, committed or pushed commits of #30; whoever changed the code cannot approve it."
        ]
    );
    assert!(!gates::review_gate(&w.p, &w.cfg, "aaa111").passed);
    // Someone else reviews; staging goes green; dev still cannot release it.
    let effects = w.review(
        actor("reviewer", Access::Write),
        ReviewState::Approved,
        "aaa111",
    );
    let correlation = staging_deployment_created(&mut w, &effects);
    w.run_done(&correlation, 77, "success");
    let effects = w.comment(actor("dev", Access::Admin), "/approve production");
    assert!(
        replies(&effects)[0].contains("@dev authored, committed or pushed commits of #30"),
        "{:?}",
        replies(&effects)
    );
    assert!(w.p.production.is_none());
}

#[test]
fn stopping_a_production_deploy_takes_a_release_approver() {
    let (mut w, _) = World::new(COMPLETE);
    w.cfg.config.approvers.production = vec!["releaser".into()];
    deployed_to_staging(&mut w);
    production_dispatched(&mut w);
    let effects = w.comment(actor("reviewer", Access::Write), "/stop");
    assert!(
        replies(&effects)[0].contains(
            "@reviewer cannot stop a production deploy (it rolls production back): `approvers.production` allows only `releaser`"
        ),
        "{:?}",
        replies(&effects)
    );
    assert_eq!(w.p.phase, Phase::Production);
    assert!(w.p.rollback.is_none());
    w.comment(actor("releaser", Access::Write), "/stop");
    assert!(
        w.p.rollback.is_some(),
        "the release approver's /stop rolls back"
    );
    // Before production, anyone with write access may stop.
    let (mut early, _) = World::new(COMPLETE);
    early.cfg.config.approvers.production = vec!["releaser".into()];
    early.advance_to_development();
    early.comment(actor("reviewer", Access::Write), "/stop");
    assert_eq!(early.p.phase, Phase::Stopped);
}

#[test]
fn bots_never_approve_whatever_their_access() {
    let (mut w, _) = World::new(COMPLETE);
    let robot = bot("ci-helper[bot]", Access::Admin);
    let effects = w.comment(robot.clone(), "/approve");
    assert!(
        replies(&effects)[0].contains("bots and GitHub Apps never approve"),
        "{:?}",
        replies(&effects)
    );
    let effects = w.label(robot.clone(), "approved");
    assert!(
        actions(&effects)
            .iter()
            .any(|a| matches!(a, Action::RemoveLabel { label } if label == "approved"))
    );
    assert!(w.p.requirement.is_none());
    let effects = w.comment(robot.clone(), "/skip requirement automation");
    assert!(replies(&effects)[0].contains("bots and GitHub Apps never approve"));
    w.advance_to_development();
    let effects = w.pr(PullAction::Opened, "aaa111");
    let c = dispatches(&effects)[0].2.clone();
    w.run_done(&c, 501, "success");
    let effects = w.review(robot, ReviewState::Approved, "aaa111");
    assert!(replies(&effects)[0].contains("bots and GitHub Apps never approve"));
    assert!(
        w.p.reviews.is_empty(),
        "a bot's approval is not even recorded"
    );
    assert_eq!(w.p.phase, Phase::Review);
}

/// A commit's author is any e-mail address; who pushed is not. Whoever pushed to the PR, or
/// to the pipeline's branch before the PR existed, cannot approve it either.
#[test]
fn whoever_pushed_the_code_cannot_approve_it_whatever_the_commits_say() {
    let (mut w, _) = World::new(COMPLETE);
    w.advance_to_development();
    w.go(Input::Push {
        delivery: "push-1".into(),
        branch: w.p.branch.clone(),
        pusher: actor("early-bird", Access::Write),
    });
    w.pr(PullAction::Opened, "aaa111");
    let mut pushed = pull(30, "bbb222");
    pushed.contributors = vec!["dev".into()]; // the commit claims dev wrote it
    w.ids += 1;
    w.go(Input::PullRequest {
        delivery: "sync".into(),
        action: PullAction::Synchronize,
        pr: pushed,
        actor: actor("late-fixer", Access::Write),
    });
    for who in ["early-bird", "late-fixer"] {
        let effects = w.review(actor(who, Access::Write), ReviewState::Approved, "bbb222");
        assert!(
            replies(&effects)[0].contains(&format!(
                "@{who} authored, committed or pushed commits of #30"
            )),
            "{:?}",
            replies(&effects)
        );
    }
    assert!(gates::changed_the_code(&w.p, "late-fixer"));
    assert!(!gates::changed_the_code(&w.p, "reviewer"));
}

/// A push lands between shipgate's choice of head and GitHub resolving the branch: the staging
/// deploy run executes the new commit's workflow. The protection rule rejects it, and its
/// report fails the stage without a rollback (nothing shipgate decided was deployed).
#[test]
fn a_deploy_run_of_another_commit_is_rejected_and_fails_without_a_rollback() {
    let (mut w, _) = World::new(COMPLETE);
    let correlation = staging_dispatched(&mut w);
    let mut moved = w.own_run(&correlation, 77, "waiting", None);
    if let Some(o) = moved.origin.as_mut() {
        o.head_sha = "bbb222".into();
    }
    let effects = w.go(Input::ProtectionRule {
        delivery: "rule-moved".into(),
        run_id: 77,
        environment: "staging".into(),
        sha: "aaa111".into(),
        run: Some(moved.clone()),
    });
    let answer = protection_answer(&effects);
    assert_eq!(
        answer,
        Some((
            false,
            "REQ-12: run 77 ran bbb222, not aaa111: its branch moved before it started".into()
        ))
    );
    // Without the rule, its report does the same: the stage fails, no rollback.
    let (mut w, _) = World::new(COMPLETE);
    let correlation = staging_dispatched(&mut w);
    let mut report = w.own_run(&correlation, 77, "completed", Some("success"));
    if let Some(o) = report.origin.as_mut() {
        o.head_sha = "bbb222".into();
    }
    let effects = w.go(Input::WorkflowRun(report));
    assert_eq!(w.p.phase, Phase::Failed);
    assert!(
        w.p.failure
            .as_ref()
            .unwrap()
            .reason
            .contains("ran bbb222, not aaa111"),
        "{:?}",
        w.p.failure
    );
    assert!(w.p.rollback.is_none());
    assert!(
        !actions(&effects)
            .iter()
            .any(|a| matches!(a, Action::FindRollbackTarget { .. }))
    );
}

#[test]
fn a_merged_pr_is_never_replaced_and_a_closed_one_by_any_writers() {
    // Merged (here by a person, before approval): a new PR does not take its place.
    let (mut w, _) = World::new(COMPLETE);
    w.advance_to_development();
    let mut team = pull(30, "aaa111");
    w.pull(PullAction::Opened, team.clone());
    team.open = false;
    team.merged = true;
    team.merge_commit_sha = Some("m1".into());
    w.pull(PullAction::Closed, team);
    let mut other = pull(31, "ccc333");
    other.head_branch = "feature/REQ-12-export-invoices".into();
    let effects = w.pull(PullAction::Opened, other);
    assert_eq!(w.p.pr.as_ref().map(|p| p.number), Some(30));
    assert!(replies(&effects)[0].contains("does not drive REQ-12"));

    // Closed without a merge: a writer's PR from another branch takes over.
    let (mut w, _) = World::new(COMPLETE);
    w.advance_to_development();
    let mut team = pull(30, "aaa111");
    w.pull(PullAction::Opened, team.clone());
    team.open = false;
    w.pull(PullAction::Closed, team);
    let mut other = pull(31, "ccc333");
    other.head_branch = "export-v2".into();
    w.pull(PullAction::Opened, other);
    assert_eq!(w.p.pr.as_ref().map(|p| p.number), Some(31));
}

/// The issue's node id arriving with a later snapshot (a pipeline saved before shipgate kept
/// it) is kept, and is no visible change: nothing is redrawn for it.
#[test]
fn the_issue_node_id_is_kept_and_redraws_nothing() {
    let (mut w, _) = World::new(COMPLETE);
    let effects = w.go(Input::Issue {
        delivery: "later".into(),
        action: IssueAction::Edited,
        issue: IssueSnapshot {
            node_id: Some("I_kwDOAbc".into()),
            updated_at: 10_000,
            ..issue(COMPLETE)
        },
        actor: actor("pm", Access::Read),
    });
    assert_eq!(w.p.issue_node_id.as_deref(), Some("I_kwDOAbc"));
    assert_eq!(actions(&effects), Vec::<&Action>::new());
}
