//! Transition and refusal tests for `step`, and property tests over random input sequences.

use proptest::prelude::*;

use super::commands::parse;
use super::config::LoadedConfig;
use super::gates;
use super::model::*;
use super::step::{starts_pipeline, step, step_with};
use super::views;

pub(super) const COMPLETE: &str =
    "Export invoices.\n\n## Acceptance criteria\n- a CSV per month\n\n- [ ] parse\n- [ ] route\n";

pub(super) fn actor(login: &str, access: Access) -> Actor {
    Actor {
        login: login.into(),
        access,
        is_self: false,
        is_bot: false,
        teams: vec![],
    }
}
pub(super) fn lead() -> Actor {
    actor("lead", Access::Maintain)
}
pub(super) fn reader() -> Actor {
    actor("visitor", Access::Read)
}
pub(super) fn issue(body: &str) -> IssueSnapshot {
    IssueSnapshot {
        number: 12,
        title: "Export invoices".into(),
        body: body.into(),
        author: "pm".into(),
        labels: vec!["feature".into()],
        updated_at: 0,
        node_id: None,
    }
}

/// PR `number` at `sha` by `dev` (write access) from shipgate's branch into `main`, closing
/// #12.
pub(super) fn pull(number: u64, sha: &str) -> PullSnapshot {
    PullSnapshot {
        number,
        title: "Export".into(),
        body: "Closes #12".into(),
        author: "dev".into(),
        head_sha: sha.into(),
        head_branch: "feature/REQ-12-export-invoices".into(),
        base_branch: "main".into(),
        author_access: Access::Write,
        contributors: vec!["dev".into()],
        from_fork: false,
        draft: false,
        open: true,
        merged: false,
        merge_commit_sha: None,
        url: format!("https://github.test/acme/widgets/pull/{number}"),
    }
}

pub(super) struct World {
    pub(super) p: Pipeline,
    pub(super) cfg: LoadedConfig,
    pub(super) now: i64,
    pub(super) ids: u64,
    /// What the repository's other pipelines hold (a shared `develop.max_parallel`).
    pub(super) load: RepoLoad,
}

impl World {
    pub(super) fn new(body: &str) -> (Self, Outputs) {
        Self::with_config(body, LoadedConfig::default())
    }
    pub(super) fn with_config(body: &str, cfg: LoadedConfig) -> (Self, Outputs) {
        let snapshot = issue(body);
        let input = Input::Issue {
            delivery: "d0".into(),
            action: IssueAction::Opened,
            issue: snapshot.clone(),
            actor: actor("pm", Access::Read),
        };
        assert!(starts_pipeline(&input, &cfg));
        let p = Pipeline::new(7, 1, "acme/widgets", "main", &snapshot, 1_000);
        let mut w = World {
            p,
            cfg,
            now: 1_000,
            ids: 100,
            load: RepoLoad::default(),
        };
        let effects = w.go(input);
        (w, effects)
    }
    pub(super) fn go(&mut self, input: Input) -> Outputs {
        self.now += 1_000;
        let (p, effects) = step_with(&self.p, &input, &self.cfg, self.now, self.load);
        for e in &effects.effects {
            assert_eq!(e.cause, input.cause(), "every effect names its cause");
        }
        for n in &effects.notifications {
            assert_eq!(n.cause, input.cause(), "every notification names its cause");
        }
        self.p = p;
        effects
    }
    pub(super) fn comment(&mut self, who: Actor, body: &str) -> Outputs {
        self.ids += 1;
        self.go(Input::Comment {
            id: self.ids,
            on: 12,
            commands: parse(body),
            actor: who,
        })
    }
    pub(super) fn label(&mut self, who: Actor, label: &str) -> Outputs {
        self.ids += 1;
        let mut snapshot = issue(COMPLETE);
        snapshot.labels.push(label.into());
        self.go(Input::Issue {
            delivery: format!("d{}", self.ids),
            action: IssueAction::Labeled(label.into()),
            issue: snapshot,
            actor: who,
        })
    }
    pub(super) fn pr(&mut self, action: PullAction, sha: &str) -> Outputs {
        self.pr_with(action, sha, false)
    }
    pub(super) fn pr_with(&mut self, action: PullAction, sha: &str, fork: bool) -> Outputs {
        let mut pr = pull(30, sha);
        pr.from_fork = fork;
        self.pull(action, pr)
    }
    /// A pull-request event, with the PR as GitHub reports it now.
    pub(super) fn pull(&mut self, action: PullAction, pr: PullSnapshot) -> Outputs {
        self.ids += 1;
        self.go(Input::PullRequest {
            delivery: format!("d{}", self.ids),
            action,
            actor: actor(&pr.author, pr.author_access),
            pr,
        })
    }
    pub(super) fn review(&mut self, who: Actor, state: ReviewState, sha: &str) -> Outputs {
        self.ids += 1;
        self.go(Input::Review {
            id: self.ids,
            action: ReviewAction::Submitted,
            state,
            commit_sha: sha.into(),
            pr: 30,
            reviewer: who,
            submitted_at: 0,
        })
    }
    pub(super) fn run_done(&mut self, correlation: &str, run_id: u64, conclusion: &str) -> Outputs {
        let report = self.own_run(correlation, run_id, "completed", Some(conclusion));
        self.go(Input::WorkflowRun(report))
    }
    /// A report of the run shipgate dispatched as `correlation`, as GitHub would send it
    /// before the dispatch's answer gave its id: every part of its origin matches.
    pub(super) fn own_run(
        &self,
        correlation: &str,
        run_id: u64,
        status: &str,
        conclusion: Option<&str>,
    ) -> RunReport {
        let sent = super::provenance::dispatch_sent(&self.p, &self.cfg.config, correlation)
            .expect("a dispatch of this pipeline");
        RunReport {
            run_id,
            status: status.into(),
            conclusion: conclusion.map(str::to_owned),
            url: format!("https://github.test/runs/{run_id}"),
            display_title: Some(format!("shipgate {correlation}.n0nce")),
            attempt: 1,
            origin: Some(Box::new(RunOrigin {
                path: format!(".github/workflows/{}", sent.workflow),
                event: "workflow_dispatch".into(),
                actor: "shipgate[bot]".into(),
                by_app: true,
                head_branch: sent.git_ref.to_owned(),
                head_sha: sent.sha.unwrap_or("0000000").to_owned(),
                created_at: self.now,
                proven: Some(correlation.to_owned()),
            })),
        }
    }
    /// Through intake and planning to development.
    pub(super) fn advance_to_development(&mut self) {
        self.comment(lead(), "/approve");
        self.comment(lead(), "/approve plan");
        assert_eq!(self.p.phase, Phase::Development);
    }
}

pub(super) fn actions(effects: &Outputs) -> Vec<&Action> {
    effects.effects.iter().map(|e| &e.action).collect()
}
/// The replies a step posts, the closing summary among them.
pub(super) fn replies(effects: &Outputs) -> Vec<&str> {
    effects
        .effects
        .iter()
        .filter_map(|e| match &e.action {
            Action::Reply { body, .. } | Action::ClosingSummary { body, .. } => Some(body.as_str()),
            _ => None,
        })
        .collect()
}
pub(super) fn dispatches(effects: &Outputs) -> Vec<(String, String, String)> {
    effects
        .effects
        .iter()
        .filter_map(|e| match &e.action {
            Action::Dispatch {
                workflow,
                sha,
                correlation,
                ..
            } => Some((workflow.clone(), sha.clone(), correlation.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn the_readiness_score_counts_passed_gates_only() {
    let (mut w, _) = World::new(COMPLETE);
    assert_eq!(gates::evaluate(&w.p, &w.cfg).readiness.score, 0);
    w.comment(lead(), "/approve");
    assert_eq!(gates::evaluate(&w.p, &w.cfg).readiness.score, 10);
    w.comment(lead(), "/approve plan");
    let effects = w.pr(PullAction::Opened, "aaa111");
    let c = dispatches(&effects)[0].2.clone();
    w.run_done(&c, 501, "failure");
    assert_eq!(
        gates::evaluate(&w.p, &w.cfg).readiness.score,
        20,
        "failed tests score nothing"
    );
    w.review(
        actor("reviewer", Access::Write),
        ReviewState::Approved,
        "aaa111",
    );
    let gates::Readiness { score, missing } = gates::evaluate(&w.p, &w.cfg).readiness;
    assert_eq!(score, 45);
    assert!(missing.contains(&"tests −25".to_owned()), "{missing:?}");
}

#[test]
fn intake_lists_missing_sections_and_labels_the_phase() {
    let (w, effects) = World::new("Just an idea");
    assert_eq!(w.p.phase, Phase::Intake);
    assert_eq!(w.p.missing_sections, vec!["Acceptance criteria"]);
    assert!(actions(&effects).contains(&&Action::SyncStatusComment));
    assert!(actions(&effects).contains(&&Action::SetPhaseLabel {
        add: "shipgate:intake".into(),
        remove: vec![]
    }));
    let status = views::status_comment(&w.p, &w.cfg);
    assert!(status.starts_with("<!-- shipgate:status pipeline=7 -->"));
    assert!(
        status.contains("missing section: `Acceptance criteria`"),
        "{status}"
    );
}

#[test]
fn approving_an_incomplete_requirement_is_refused_with_the_reason() {
    let (mut w, _) = World::new("Just an idea");
    let effects = w.comment(lead(), "/approve");
    assert_eq!(w.p.phase, Phase::Intake);
    assert!(replies(&effects)[0].contains("add the `Acceptance criteria` section"));
    assert!(
        matches!(effects.effects[0].action, Action::React { .. }),
        "👀 first"
    );
}

#[test]
fn unauthorised_approve_and_label_are_refused() {
    let (mut w, _) = World::new(COMPLETE);
    let effects = w.comment(reader(), "/approve");
    assert_eq!(w.p.phase, Phase::Intake);
    assert!(
        replies(&effects)[0].contains("needs write access"),
        "{:?}",
        replies(&effects)
    );
    let effects = w.label(reader(), "approved");
    assert_eq!(w.p.phase, Phase::Intake);
    assert!(actions(&effects).contains(&&Action::RemoveLabel {
        label: "approved".into()
    }));
    assert!(replies(&effects)[0].contains("Removed the `approved` label"));
    // The same label from a maintainer counts.
    let effects = w.label(lead(), "approved");
    assert_eq!(w.p.phase, Phase::Planning);
    assert!(actions(&effects).contains(&&Action::FetchSubIssues));
    assert!(replies(&effects).is_empty());
}

#[test]
fn from_approval_to_a_tested_reviewed_pull_request() {
    let (mut w, _) = World::new(COMPLETE);
    w.comment(lead(), "/approve");
    assert_eq!(w.p.phase, Phase::Planning);
    assert_eq!(w.p.tasks.len(), 2);
    let effects = w.comment(lead(), "/approve plan");
    assert_eq!(w.p.phase, Phase::Development);
    assert!(actions(&effects).contains(&&Action::CreateBranch {
        branch: "feature/REQ-12-export-invoices".into(),
        from: "main".into()
    }));
    let effects = w.pr(PullAction::Opened, "aaa111");
    assert_eq!(w.p.phase, Phase::Review);
    let d = dispatches(&effects);
    assert_eq!(
        d,
        vec![("tests.yml".into(), "aaa111".into(), d[0].2.clone())]
    );
    assert!(
        effects.timers.is_empty(),
        "no watchdog before GitHub has the run"
    );
    assert!(actions(&effects).contains(&&Action::SyncCheckRun {
        sha: "aaa111".into()
    }));
    let correlation = d[0].2.clone();
    let effects = w.go(Input::EffectDone {
        key: "dispatch".into(),
        result: EffectResult::Dispatched {
            correlation: correlation.clone(),
            run_id: 501,
            url: "u".into(),
        },
    });
    assert!(
        effects
            .timers
            .iter()
            .any(|t| matches!(t, TimerChange::Set { due_at, .. } if *due_at == w.now + 3_600_000)),
        "a watchdog once dispatched"
    );
    w.run_done(&correlation, 501, "success");
    assert_eq!(w.p.phase, Phase::Review, "tests alone do not pass review");
    let effects = w.review(
        actor("reviewer", Access::Write),
        ReviewState::Approved,
        "aaa111",
    );
    assert_eq!(w.p.phase, Phase::Staging);
    assert!(actions(&effects).contains(&&Action::SetPhaseLabel {
        add: "shipgate:staging".into(),
        remove: vec!["shipgate:review".into()]
    }));
    let view = views::check_run(&w.p, &w.cfg, "aaa111");
    assert_eq!(view.status, "in_progress");
    assert!(
        view.summary
            .contains("1/1 approvals at `aaa111` (@reviewer)"),
        "{}",
        view.summary
    );
}

#[test]
fn the_authors_review_and_unauthorised_reviews_never_count() {
    let (mut w, _) = World::new(COMPLETE);
    w.advance_to_development();
    let effects = w.pr(PullAction::Opened, "aaa111");
    let c = dispatches(&effects)[0].2.clone();
    w.run_done(&c, 501, "success");
    w.review(actor("dev", Access::Admin), ReviewState::Approved, "aaa111");
    assert_eq!(w.p.phase, Phase::Review);
    let effects = w.review(reader(), ReviewState::Approved, "aaa111");
    assert_eq!(w.p.phase, Phase::Review);
    assert!(replies(&effects)[0].contains("does not count"));
    assert!(
        gates::review_gate(&w.p, &w.cfg, "aaa111")
            .state
            .starts_with("0/1")
    );
}

#[test]
fn a_push_makes_approvals_stale_and_tests_run_again() {
    let (mut w, _) = World::new(COMPLETE);
    w.advance_to_development();
    let effects = w.pr(PullAction::Opened, "aaa111");
    let c = dispatches(&effects)[0].2.clone();
    w.review(
        actor("reviewer", Access::Write),
        ReviewState::Approved,
        "aaa111",
    );
    let effects = w.pr(PullAction::Synchronize, "bbb222");
    assert!(
        replies(&effects)[0].contains("@reviewer no longer counts"),
        "{:?}",
        replies(&effects)
    );
    let d = dispatches(&effects);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].1, "bbb222");
    assert!(effects.timers.contains(&TimerChange::Cancel {
        key: format!("watch:{c}")
    }));
    assert!(
        actions(&effects).contains(&&Action::SyncCheckRun {
            sha: "aaa111".into()
        }),
        "old check run superseded"
    );
    w.run_done(&c, 501, "success"); // the old SHA's result is not evidence for the new one
    w.run_done(&d[0].2, 502, "success");
    assert_eq!(w.p.phase, Phase::Review);
    w.review(
        actor("reviewer", Access::Write),
        ReviewState::Approved,
        "bbb222",
    );
    assert_eq!(w.p.phase, Phase::Staging);
}

#[test]
fn a_push_or_requested_changes_after_green_gates_go_back_to_review() {
    let (mut w, _) = World::new(COMPLETE);
    w.advance_to_development();
    let effects = w.pr(PullAction::Opened, "aaa111");
    let c = dispatches(&effects)[0].2.clone();
    w.run_done(&c, 501, "success");
    w.review(
        actor("reviewer", Access::Write),
        ReviewState::Approved,
        "aaa111",
    );
    assert_eq!(w.p.phase, Phase::Staging);
    let effects = w.pr(PullAction::Synchronize, "bbb222");
    assert_eq!(
        w.p.phase,
        Phase::Review,
        "a new head is tested and reviewed again"
    );
    let d = dispatches(&effects);
    assert_eq!(d.len(), 1);
    w.run_done(&d[0].2, 502, "success");
    w.review(
        actor("reviewer", Access::Write),
        ReviewState::Approved,
        "bbb222",
    );
    assert_eq!(w.p.phase, Phase::Staging);
    w.review(
        actor("lead", Access::Maintain),
        ReviewState::ChangesRequested,
        "bbb222",
    );
    assert_eq!(w.p.phase, Phase::Review, "requested changes block again");
}

#[test]
fn a_rerun_in_github_replaces_the_failed_result() {
    let (mut w, _) = World::new(COMPLETE);
    w.advance_to_development();
    let effects = w.pr(PullAction::Opened, "aaa111");
    let c = dispatches(&effects)[0].2.clone();
    w.run_done(&c, 501, "failure");
    assert!(gates::tests_gate(&w.p, &w.cfg, "aaa111").failed);
    w.go(Input::WorkflowRun(RunReport {
        run_id: 501,
        status: "completed".into(),
        conclusion: Some("success".into()),
        url: "u".into(),
        display_title: None,
        attempt: 2,
        origin: None,
    }));
    assert!(gates::tests_gate(&w.p, &w.cfg, "aaa111").passed);
}

#[test]
fn a_failing_run_fails_the_check_and_retry_dispatches_again() {
    let (mut w, _) = World::new(COMPLETE);
    w.advance_to_development();
    let effects = w.pr(PullAction::Opened, "aaa111");
    let c = dispatches(&effects)[0].2.clone();
    w.run_done(&c, 501, "failure");
    let view = views::check_run(&w.p, &w.cfg, "aaa111");
    assert_eq!(
        (view.status, view.conclusion),
        ("completed", Some("failure"))
    );
    assert!(
        view.summary.contains("`tests.yml` ❌ failure"),
        "{}",
        view.summary
    );
    let effects = w.comment(reader(), "/retry tests");
    assert!(dispatches(&effects).is_empty());
    let effects = w.comment(lead(), "/retry tests");
    assert_eq!(dispatches(&effects).len(), 1);
    assert_eq!(
        views::check_run(&w.p, &w.cfg, "aaa111").status,
        "in_progress"
    );
    let effects = w.comment(lead(), "/retry");
    assert!(replies(&effects)[0].contains("nothing has failed"));
}

#[test]
fn unknown_and_malformed_commands_get_a_reply_and_code_is_ignored() {
    let (mut w, _) = World::new(COMPLETE);
    let effects = w.comment(
        lead(),
        "/frobnicate\n/approve everything\n```\n/reject\n```",
    );
    assert_eq!(w.p.phase, Phase::Intake);
    let r = replies(&effects);
    assert_eq!(r.len(), 1, "one reply per comment");
    assert!(r[0].contains("`/frobnicate` is not a shipgate command"));
    assert!(r[0].contains("`/approve` expects"));
    let effects = w.comment(lead(), "no commands here");
    assert!(effects.is_empty());
}

#[test]
fn forks_are_reviewed_but_never_dispatched() {
    let (mut w, _) = World::new(COMPLETE);
    w.advance_to_development();
    let effects = w.pr_with(PullAction::Opened, "aaa111", true);
    assert_eq!(w.p.phase, Phase::Review);
    assert!(dispatches(&effects).is_empty());
    assert!(replies(&effects)[0].contains("comes from a fork"));
    let effects = w.pr_with(PullAction::Synchronize, "bbb222", true);
    assert!(dispatches(&effects).is_empty());
    assert!(replies(&effects).is_empty(), "said once");
}

#[test]
fn pause_holds_dispatches_until_resume() {
    let (mut w, _) = World::new(COMPLETE);
    w.advance_to_development();
    w.comment(lead(), "/pause");
    assert!(w.p.paused);
    let effects = w.pr(PullAction::Opened, "aaa111");
    assert!(dispatches(&effects).is_empty());
    let effects = w.comment(lead(), "/resume");
    assert_eq!(dispatches(&effects).len(), 1);
}

#[test]
fn rejected_pipelines_refuse_commands_and_dispatch_nothing() {
    let (mut w, _) = World::new(COMPLETE);
    w.comment(lead(), "/reject out of scope");
    assert_eq!(w.p.phase, Phase::Rejected);
    assert_eq!(
        w.p.rejection.as_ref().unwrap().reason.as_deref(),
        Some("out of scope")
    );
    let effects = w.comment(lead(), "/approve");
    assert!(replies(&effects)[0].contains("rejected"));
    let effects = w.pr(PullAction::Opened, "aaa111");
    assert!(dispatches(&effects).is_empty());
}

#[test]
fn a_broken_configuration_holds_every_gate() {
    let cfg = LoadedConfig::load(None, Some("review:\n  required_approvals: many\n"));
    let (mut w, _) = World::with_config(COMPLETE, cfg);
    let effects = w.comment(lead(), "/approve");
    assert_eq!(w.p.phase, Phase::Intake);
    assert!(replies(&effects)[0].contains("has errors"));
    let status = views::status_comment(&w.p, &w.cfg);
    assert!(
        status.contains("line 2, `review.required_approvals`"),
        "{status}"
    );
}

#[test]
fn a_silent_run_is_polled_then_timed_out() {
    let (mut w, _) = World::new(COMPLETE);
    w.advance_to_development();
    let effects = w.pr(PullAction::Opened, "aaa111");
    let c = dispatches(&effects)[0].2.clone();
    let key = format!("{}.done", c);
    w.go(Input::EffectDone {
        key,
        result: EffectResult::Dispatched {
            correlation: c.clone(),
            run_id: 77,
            url: "u".into(),
        },
    });
    let effects = w.go(Input::Timer {
        key: format!("watch:{c}"),
        kind: TimerKind::RunWatchdog {
            correlation: c.clone(),
        },
    });
    assert_eq!(
        actions(&effects),
        vec![&Action::PollRun {
            run_id: 77,
            correlation: c.clone()
        }]
    );
    w.go(Input::EffectDone {
        key: "poll".into(),
        result: EffectResult::RunPolled {
            correlation: c.clone(),
            report: RunReport {
                run_id: 77,
                status: "in_progress".into(),
                conclusion: None,
                url: "u".into(),
                display_title: None,
                attempt: 1,
                origin: None,
            },
        },
    });
    assert!(
        gates::tests_gate(&w.p, &w.cfg, "aaa111")
            .state
            .contains("no result after 1h")
    );
}

#[test]
fn a_refused_dispatch_fails_the_pipeline_until_retry() {
    let (mut w, _) = World::new(COMPLETE);
    w.advance_to_development();
    let effects = w.pr(PullAction::Opened, "aaa111");
    let dispatch = effects
        .effects
        .iter()
        .find(|e| matches!(e.action, Action::Dispatch { .. }))
        .unwrap()
        .clone();
    let effects = w.go(Input::EffectFailed {
        key: dispatch.key.clone(),
        action: dispatch.action.clone(),
        reason: "GitHub answered 422: Unexpected inputs provided".into(),
    });
    assert_eq!(w.p.phase, Phase::Failed);
    assert!(replies(&effects)[0].contains("Unexpected inputs provided"));
    let effects = w.comment(lead(), "/retry");
    assert_eq!(w.p.phase, Phase::Review);
    assert_eq!(dispatches(&effects).len(), 1);
}

#[test]
fn every_command_refusal_says_why() {
    let (mut w, _) = World::new(COMPLETE);
    let cases: Vec<(Actor, &str, &str)> = vec![
        (lead(), "/approve plan", "approve the requirement first"),
        (
            lead(),
            "/approve production",
            "production is approved once staging is healthy, and the pipeline is in intake",
        ),
        (reader(), "/pause", "needs write access"),
        (reader(), "/reject", "needs write access"),
        (lead(), "/resume", "not paused"),
        (lead(), "/retry canary", "no stage `canary`"),
        (lead(), "/retry", "nothing has failed"),
        (lead(), "/rollback", "nothing deployed to roll back"),
        (lead(), "/skip tests flaky", "takes admin access"),
        (
            lead(),
            "/deploy production",
            "only `/deploy staging` exists",
        ),
    ];
    for (who, command, why) in cases {
        let effects = w.comment(who, command);
        let r = replies(&effects);
        assert_eq!(r.len(), 1, "{command}");
        assert!(r[0].contains(why), "{command}: {}", r[0]);
        assert_eq!(w.p.phase, Phase::Intake, "{command} changed nothing");
    }
    // Accepted commands answer with a state change, not a refusal; /status and /help answer.
    let effects = w.comment(lead(), "/status\n/help");
    let r = replies(&effects);
    assert!(
        r[0].contains("**Waiting for:**") && r[0].contains("| `/approve"),
        "{}",
        r[0]
    );
    w.comment(lead(), "/pause");
    let effects = w.comment(lead(), "/pause");
    assert!(replies(&effects)[0].contains("already paused"));
    w.comment(lead(), "/approve");
    let effects = w.comment(lead(), "/approve requirement");
    assert!(
        replies(&effects)[0].contains("already approved"),
        "{:?}",
        replies(&effects)
    );
}

#[test]
fn plan_approval_auto_moves_straight_to_development() {
    let cfg = LoadedConfig::load(None, Some("plan:\n  approval: auto\n"));
    let (mut w, _) = World::with_config(COMPLETE, cfg);
    let effects = w.comment(lead(), "/approve");
    assert_eq!(w.p.phase, Phase::Development);
    assert_eq!(w.p.plan.as_ref().unwrap().via, "plan.approval: auto");
    assert!(
        actions(&effects)
            .iter()
            .any(|a| matches!(a, Action::CreateBranch { .. }))
    );
    assert!(
        views::status_comment(&w.p, &w.cfg).contains("approved by shipgate (plan.approval: auto)")
    );
}

#[test]
fn green_gates_deploy_to_staging_then_readiness() {
    let (mut w, _) = World::new(COMPLETE);
    w.advance_to_development();
    let effects = w.pr(PullAction::Opened, "aaa111");
    let c = dispatches(&effects)[0].2.clone();
    w.run_done(&c, 501, "success");
    let effects = w.review(
        actor("reviewer", Access::Write),
        ReviewState::Approved,
        "aaa111",
    );
    assert_eq!(w.p.phase, Phase::Staging);
    let Some(Action::CreateDeployment {
        environment,
        sha,
        correlation,
    }) = actions(&effects)
        .into_iter()
        .find(|a| matches!(a, Action::CreateDeployment { .. }))
        .cloned()
    else {
        panic!("a deployment is created: {effects:?}");
    };
    assert_eq!((environment.name(), sha.as_str()), ("staging", "aaa111"));
    let effects = w.go(Input::EffectDone {
        key: "cd".into(),
        result: EffectResult::DeploymentCreated {
            correlation: correlation.clone(),
            deployment_id: 9,
        },
    });
    assert!(actions(&effects).iter().any(
        |a| matches!(a, Action::DispatchDeploy { environment, .. } if environment.name() == "staging")
    ));
    let effects = w.go(Input::EffectDone {
        key: "dd".into(),
        result: EffectResult::Dispatched {
            correlation: correlation.clone(),
            run_id: 77,
            url: "run77".into(),
        },
    });
    assert!(actions(&effects).iter().any(|a| matches!(a, Action::DeploymentStatus { state, deployment_id: 9, .. } if state == "in_progress")));
    let effects = w.run_done(&correlation, 77, "success");
    assert!(actions(&effects).iter().any(|a| matches!(a, Action::DeploymentStatus { state, log_url: Some(u), .. } if state == "success" && u.contains("77"))));
    assert_eq!(w.p.phase, Phase::Readiness);
    assert!(views::status_comment(&w.p, &w.cfg).contains("no health check configured"));
    assert_eq!(
        gates::evaluate(&w.p, &w.cfg).readiness,
        gates::Readiness {
            score: 85,
            missing: vec!["staging health −15 (no health check configured)".to_owned()]
        }
    );
}

/// Takes a pipeline to a successful staging deploy; returns the deploy's correlation.
pub(super) fn deployed_to_staging(w: &mut World) -> Outputs {
    let correlation = staging_dispatched(w);
    w.run_done(&correlation, 77, "success")
}

/// Through review and tests to a staging deploy whose run (77) GitHub has, still running;
/// returns its correlation.
pub(super) fn staging_dispatched(w: &mut World) -> String {
    w.advance_to_development();
    let effects = w.pr(PullAction::Opened, "aaa111");
    let c = dispatches(&effects)[0].2.clone();
    w.run_done(&c, 501, "success");
    let effects = w.review(
        actor("reviewer", Access::Write),
        ReviewState::Approved,
        "aaa111",
    );
    let correlation = staging_deployment_created(w, &effects);
    w.go(Input::EffectDone {
        key: "dispatched-77".into(),
        result: EffectResult::Dispatched {
            correlation: correlation.clone(),
            run_id: 77,
            url: "https://github.test/runs/77".into(),
        },
    });
    correlation
}

/// GitHub created the staging Deployment (9) the effects asked for; returns its correlation.
pub(super) fn staging_deployment_created(w: &mut World, effects: &Outputs) -> String {
    let correlation = effects
        .effects
        .iter()
        .find_map(|e| match &e.action {
            Action::CreateDeployment { correlation, .. } => Some(correlation.clone()),
            _ => None,
        })
        .expect("a deployment");
    w.go(Input::EffectDone {
        key: "cd".into(),
        result: EffectResult::DeploymentCreated {
            correlation: correlation.clone(),
            deployment_id: 9,
        },
    });
    correlation
}

pub(super) fn probed(w: &mut World, ok: bool, key: &str) -> Outputs {
    w.go(Input::EffectDone {
        key: key.into(),
        result: EffectResult::Probed {
            environment: Environment::Staging,
            ok,
            status: Some(if ok { 200 } else { 503 }),
            latency_ms: 12,
            error: (!ok).then(|| "answered 503".into()),
            refused: None,
        },
    })
}

#[test]
fn staging_health_holds_for_the_window_then_readiness() {
    let cfg = LoadedConfig::load(
        None,
        Some(
            "deploy:\n  environments:\n    staging:\n      health: { url: \"https://s.example.com/h\", interval: 30s, window: 1m, failures: 3 }\n",
        ),
    );
    let (mut w, _) = World::with_config(COMPLETE, cfg);
    let effects = deployed_to_staging(&mut w);
    assert_eq!(w.p.phase, Phase::Staging, "not ready until health held");
    assert!(actions(&effects).contains(&&Action::Probe {
        environment: Environment::Staging,
        url: "https://s.example.com/h".into()
    }));
    let effects = probed(&mut w, true, "p1");
    assert!(
        effects
            .timers
            .iter()
            .any(|t| matches!(t, TimerChange::Set { due_at, .. } if *due_at == w.now + 30_000))
    );
    // A flapping probe does not fail the stage; the window passing makes it healthy.
    probed(&mut w, false, "p2");
    probed(&mut w, true, "p3");
    w.now += 60_000;
    probed(&mut w, true, "p4");
    assert_eq!(w.p.phase, Phase::Readiness);
    assert!(
        views::status_comment(&w.p, &w.cfg).contains("healthy for 1m: 3 of 4 probes"),
        "{}",
        views::status_comment(&w.p, &w.cfg)
    );
}

#[test]
fn consecutive_failed_probes_fail_staging() {
    let cfg = LoadedConfig::load(
        None,
        Some(
            "deploy:\n  environments:\n    staging:\n      health: { url: \"https://s.example.com/h\", failures: 2 }\n",
        ),
    );
    let (mut w, _) = World::with_config(COMPLETE, cfg);
    deployed_to_staging(&mut w);
    probed(&mut w, false, "p1");
    assert_eq!(w.p.phase, Phase::Staging);
    let effects = probed(&mut w, false, "p2");
    assert!(
        actions(&effects)
            .iter()
            .any(|a| matches!(a, Action::FindRollbackTarget { environment, .. } if environment.name() == "staging")),
        "staging rolls back on its own when it can"
    );
    // With no earlier good staging deployment there is nothing to restore: the stage fails.
    let effects = w.go(Input::EffectDone {
        key: "target".into(),
        result: EffectResult::RollbackTarget {
            environment: Environment::Staging,
            sha: None,
        },
    });
    assert_eq!(w.p.phase, Phase::Failed);
    let said = replies(&effects)[0];
    assert!(
        said.contains("2 health probes of https://s.example.com/h failed in a row: answered 503 after 12 ms, answered 503 after 12 ms")
            && said.contains("no earlier successful staging deployment"),
        "{said}"
    );
    // Late probe results after the failure change nothing.
    assert!(probed(&mut w, true, "p3").is_empty());
}

#[test]
fn a_draft_pull_request_waits_for_ready_for_review() {
    let (mut w, _) = World::new(COMPLETE);
    w.advance_to_development();
    w.ids += 1;
    let mut pr = PullSnapshot {
        number: 30,
        title: "Export".into(),
        body: "Closes #12".into(),
        author: "dev".into(),
        head_sha: "aaa111".into(),
        head_branch: "wip".into(),
        base_branch: "main".into(),
        author_access: Access::Write,
        contributors: vec![],
        from_fork: false,
        draft: true,
        open: true,
        merged: false,
        merge_commit_sha: None,
        url: "u".into(),
    };
    let effects = w.go(Input::PullRequest {
        delivery: "x1".into(),
        action: PullAction::Opened,
        pr: pr.clone(),
        actor: lead(),
    });
    assert_eq!(w.p.phase, Phase::Development);
    assert!(dispatches(&effects).is_empty());
    pr.draft = false;
    let effects = w.go(Input::PullRequest {
        delivery: "x2".into(),
        action: PullAction::ReadyForReview,
        pr,
        actor: lead(),
    });
    assert_eq!(w.p.phase, Phase::Review);
    assert_eq!(dispatches(&effects).len(), 1);
}

// ---- properties over random sequences ----

fn arb_actor() -> impl Strategy<Value = Actor> {
    prop_oneof![
        Just(lead()),
        Just(reader()),
        Just(actor("reviewer", Access::Write)),
        Just(actor("dev", Access::Write)),
        Just(Actor {
            login: "shipgate[bot]".into(),
            access: Access::Write,
            is_self: true,
            is_bot: true,
            teams: vec![],
        }),
    ]
}

fn arb_input() -> impl Strategy<Value = Input> {
    let sha = prop_oneof![Just("aaa"), Just("bbb"), Just("ccc")];
    let comment = (
        1u64..40,
        arb_actor(),
        prop::sample::select(vec![
            "/approve",
            "/approve plan",
            "/pause",
            "/resume",
            "/reject no",
            "/retry",
            "/retry tests",
            "/frob",
            "/status",
        ]),
    )
        .prop_map(|(id, a, body)| Input::Comment {
            id,
            on: 12,
            commands: parse(body),
            actor: a,
        });
    let label = (0u64..8, arb_actor(), any::<bool>()).prop_map(|(d, a, complete)| Input::Issue {
        delivery: format!("l{d}"),
        action: IssueAction::Labeled("approved".into()),
        issue: issue(if complete { COMPLETE } else { "idea" }),
        actor: a,
    });
    let edit = (0u64..8, any::<bool>()).prop_map(|(d, complete)| Input::Issue {
        delivery: format!("e{d}"),
        action: IssueAction::Edited,
        issue: issue(if complete { COMPLETE } else { "idea" }),
        actor: actor("pm", Access::Read),
    });
    let pull = (
        0u64..8,
        sha.clone(),
        any::<bool>(),
        prop_oneof![
            Just(PullAction::Opened),
            Just(PullAction::Synchronize),
            Just(PullAction::Closed)
        ],
    )
        .prop_map(|(d, sha, fork, action)| {
            let open = action != PullAction::Closed;
            Input::PullRequest {
                delivery: format!("p{d}"),
                action,
                pr: PullSnapshot {
                    number: 30,
                    title: "t".into(),
                    body: "Closes #12".into(),
                    author: "dev".into(),
                    head_sha: sha.into(),
                    head_branch: "feature/REQ-12-x".into(),
                    base_branch: "main".into(),
                    author_access: Access::Write,
                    contributors: vec![],
                    from_fork: fork && d == 0,
                    draft: false,
                    open,
                    merged: false,
                    merge_commit_sha: None,
                    url: "u".into(),
                },
                actor: actor("dev", Access::Write),
            }
        });
    let review = (
        1u64..20,
        arb_actor(),
        sha.clone(),
        prop_oneof![
            Just(ReviewState::Approved),
            Just(ReviewState::ChangesRequested),
            Just(ReviewState::Commented)
        ],
    )
        .prop_map(|(id, a, sha, state)| Input::Review {
            id,
            action: ReviewAction::Submitted,
            state,
            commit_sha: sha.into(),
            pr: 30,
            reviewer: a,
            submitted_at: 0,
        });
    let run = (
        0u64..30,
        1u64..4,
        prop_oneof![Just("success"), Just("failure")],
    )
        .prop_map(|(t, id, c)| {
            Input::WorkflowRun(RunReport {
                run_id: id,
                status: "completed".into(),
                conclusion: Some(c.into()),
                url: "u".into(),
                display_title: Some(format!("REQ-12-{}{t}", if id == 3 { "d" } else { "t" })),
                attempt: 1,
                origin: None,
            })
        });
    let dispatched =
        (0u64..30, 1u64..4, any::<bool>()).prop_map(|(t, id, deploy)| Input::EffectDone {
            key: format!("x{t}.{id}.{deploy}"),
            result: EffectResult::Dispatched {
                correlation: format!("REQ-12-{}{t}", if deploy { "d" } else { "t" }),
                run_id: id,
                url: "u".into(),
            },
        });
    let created = (0u64..30, 1u64..4).prop_map(|(t, id)| Input::EffectDone {
        key: format!("c{t}.{id}"),
        result: EffectResult::DeploymentCreated {
            correlation: format!("REQ-12-d{t}"),
            deployment_id: id,
        },
    });
    let timer = (0u64..30).prop_map(|t| Input::Timer {
        key: format!("watch:REQ-12-t{t}"),
        kind: TimerKind::RunWatchdog {
            correlation: format!("REQ-12-t{t}"),
        },
    });
    prop_oneof![3 => comment, 2 => label, 1 => edit, 3 => pull, 3 => review, 3 => run, 2 => dispatched, 2 => created, 1 => timer]
}

fn passed_review_and_tests(p: &Pipeline, cfg: &LoadedConfig) -> bool {
    p.head_sha().is_some_and(|sha| {
        gates::review_gate(p, cfg, sha).passed && gates::tests_gate(p, cfg, sha).passed
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn invariants_hold_over_random_sequences(inputs in prop::collection::vec(arb_input(), 1..60)) {
        let cfg = LoadedConfig::default();
        let snapshot = issue(COMPLETE);
        let mut p = Pipeline::new(7, 1, "acme/widgets", "main", &snapshot, 0);
        let mut keys = std::collections::BTreeSet::new();
        for (i, input) in inputs.iter().enumerate() {
            let now = i as i64 * 1000;
            let (next, effects) = step(&p, input, &cfg, now);
            for n in &effects.notifications {
                prop_assert_eq!(&n.cause, &input.cause());
                prop_assert!(keys.insert(n.key.clone()), "notification key reused: {}", n.key);
            }
            for e in &effects.effects {
                // Every effect is traceable to the input that caused it, and keys never repeat.
                prop_assert_eq!(&e.cause, &input.cause());
                prop_assert!(keys.insert(e.key.clone()), "effect key reused: {}", e.key);
                if matches!(
                    e.action,
                    Action::Dispatch { .. } | Action::DispatchDeploy { .. } | Action::CreateDeployment { .. }
                ) {
                    // Nothing is dispatched while paused, after rejection, or for a fork.
                    prop_assert!(!next.paused);
                    prop_assert!(!p.paused || matches!(input, Input::Comment { .. }), "only /resume releases a paused pipeline");
                    prop_assert!(p.phase != Phase::Rejected && next.phase != Phase::Rejected);
                    prop_assert!(!next.pr.as_ref().unwrap().from_fork);
                }
            }
            // Nothing advances past review without an approved review and green tests on
            // the same head SHA.
            if next.phase >= Phase::Staging && next.phase <= Phase::Done && p.phase < Phase::Staging {
                prop_assert!(passed_review_and_tests(&next, &cfg), "advanced without green gates: {:?}", next);
            }
            // A duplicated input changes nothing.
            let (again, effects_again) = step(&next, input, &cfg, now + 1);
            prop_assert!(effects_again.is_empty(), "duplicate of {:?} produced {:?}", input, effects_again);
            prop_assert_eq!(&again, &next);
            p = next;
        }
    }
}

#[test]
fn one_comment_runs_at_most_ten_commands_and_is_one_audit_entry() {
    let (mut w, _) = World::new(COMPLETE);
    let effects = w.comment(reader(), &"/approve\n".repeat(25));
    let r = replies(&effects);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].matches("needs write access").count(), 10, "{}", r[0]);
    assert!(r[0].contains("only the first 10 commands of a comment are read"));
    assert_eq!(effects.audit.len(), 1, "{:?}", effects.audit);
    assert_eq!(effects.audit[0].action, "refused");
}

#[test]
fn a_reply_is_cut_well_under_githubs_limit() {
    let reply = views::replies::to("lead", &"x".repeat(100_000));
    assert_eq!(reply.chars().count(), views::replies::MAX_REPLY_CHARS);
    assert!(reply.ends_with("(cut here: a reply is at most 60,000 characters)"));
    assert_eq!(views::replies::to("lead", "short"), "@lead: short");
}
