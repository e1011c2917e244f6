//! Core tests from readiness to done: production approval and its refusals, the merge, the
//! production deploy of the merge commit, the closing summary, the deploy watchdog, and a PR
//! merged by a person before the approval.

use super::model::*;
use super::tests::*;
use super::views;
use super::views::replies::merge_title;

fn approver() -> Actor {
    actor("releaser", Access::Write)
}

/// A pipeline in readiness (staging deployed, no health check).
fn ready() -> World {
    let (mut w, _) = World::new(COMPLETE);
    deployed_to_staging(&mut w);
    assert_eq!(w.p.phase, Phase::Readiness);
    w
}

/// GitHub created the deployment the effects asked for; returns its correlation.
fn deployment_created(w: &mut World, effects: &Outputs, deployment_id: u64) -> String {
    let correlation = find(effects, |a| match a {
        Action::CreateDeployment { correlation, .. } => Some(correlation.clone()),
        _ => None,
    })
    .expect("a deployment is asked for");
    w.go(Input::EffectDone {
        key: format!("created-{correlation}"),
        result: EffectResult::DeploymentCreated {
            correlation: correlation.clone(),
            deployment_id,
        },
    });
    correlation
}

fn find<T>(effects: &Outputs, pick: impl Fn(&Action) -> Option<T>) -> Option<T> {
    effects.effects.iter().find_map(|e| pick(&e.action))
}

#[test]
fn production_approval_is_refused_to_the_author_the_unauthorised_and_before_readiness() {
    let (mut early, _) = World::new(COMPLETE);
    early.advance_to_development();
    let r = early.comment(approver(), "/approve production");
    assert!(
        replies(&r)[0].contains("once staging is healthy, and the pipeline is in development"),
        "{:?}",
        replies(&r)
    );

    let mut w = ready();
    for (who, why) in [
        (actor("dev", Access::Admin), "@dev opened #30"),
        (reader(), "needs write access"),
    ] {
        let effects = w.comment(who, "/approve production");
        assert!(
            replies(&effects)[0].contains(why),
            "{:?}",
            replies(&effects)
        );
        assert!(w.p.production.is_none());
        assert_eq!(w.p.phase, Phase::Readiness);
    }
    // Approver lists are honoured.
    w.cfg.config.approvers.production = vec!["someone-else".into()];
    let effects = w.comment(approver(), "/approve production");
    assert!(replies(&effects)[0].contains("`approvers.production` allows only `someone-else`"));
}

#[test]
fn approval_concludes_the_head_check_then_merges_then_deploys_the_merge_commit() {
    let mut w = ready();
    let effects = w.comment(approver(), "/approve production");
    assert_eq!(w.p.phase, Phase::Production, "{:?}", replies(&effects));
    let kinds: Vec<&str> = effects.effects.iter().map(|e| e.action.name()).collect();
    let check = kinds.iter().position(|k| *k == "sync_check_run").unwrap();
    let merge = kinds.iter().position(|k| *k == "merge").unwrap();
    assert!(
        check < merge,
        "the head's check run concludes first: {kinds:?}"
    );
    assert_eq!(
        views::check_run(&w.p, &w.cfg, "aaa111").conclusion,
        Some("success")
    );
    let (title, message, sha, method) = find(&effects, |a| match a {
        Action::Merge {
            title,
            message,
            sha,
            method,
            ..
        } => Some((title.clone(), message.clone(), sha.clone(), method.clone())),
        _ => None,
    })
    .unwrap();
    assert_eq!(title, "feat(REQ-12): Export invoices (#30)");
    assert!(message.starts_with("Refs: REQ-12"), "{message}");
    assert_eq!((sha.as_str(), method.as_str()), ("aaa111", "squash"));

    let effects = w.go(Input::EffectDone {
        key: "m".into(),
        result: EffectResult::Merged {
            sha: "merge999".into(),
        },
    });
    let (environment, sha, correlation) = find(&effects, |a| match a {
        Action::CreateDeployment {
            environment,
            sha,
            correlation,
        } => Some((*environment, sha.clone(), correlation.clone())),
        _ => None,
    })
    .expect("the production deployment");
    assert_eq!(
        (environment.name(), sha.as_str()),
        ("production", "merge999")
    );
    let effects = w.go(Input::EffectDone {
        key: "cd2".into(),
        result: EffectResult::DeploymentCreated {
            correlation: correlation.clone(),
            deployment_id: 11,
        },
    });
    let git_ref = find(&effects, |a| match a {
        Action::DispatchDeploy { git_ref, .. } => Some(git_ref.clone()),
        _ => None,
    });
    assert_eq!(
        git_ref.as_deref(),
        Some("main"),
        "production runs on the default branch"
    );

    // No health URL: healthy when the run succeeds. Done: summary, closed issue, label.
    let effects = w.run_done(&correlation, 88, "success");
    assert_eq!(w.p.phase, Phase::Done);
    let summary = replies(&effects)
        .into_iter()
        .find(|r| r.contains("is in production"))
        .expect("summary");
    assert!(summary.contains("**Lead time:**") && summary.contains("| readiness |"));
    assert!(actions(&effects).contains(&&Action::CloseIssue));
    assert!(
        actions(&effects)
            .iter()
            .any(|a| matches!(a, Action::SetPhaseLabel { add, .. } if add == "shipgate:done"))
    );
    assert!(
        actions(&effects)
            .iter()
            .any(|a| matches!(a, Action::SyncCheckRun { sha } if sha == "merge999"))
    );
    let view = views::check_run(&w.p, &w.cfg, "merge999");
    assert_eq!(
        (view.status, view.conclusion),
        ("completed", Some("success"))
    );
    // Further commands are refused: the pipeline is done.
    let r = w.comment(approver(), "/retry");
    assert!(replies(&r)[0].contains("the pipeline is done"));
}

#[test]
fn a_refused_merge_fails_and_retry_merges_again() {
    let mut w = ready();
    let effects = w.comment(approver(), "/approve production");
    let action = find(&effects, |a| {
        matches!(a, Action::Merge { .. }).then(|| a.clone())
    })
    .unwrap();
    w.go(Input::EffectFailed {
        key: "m".into(),
        action,
        reason: "405 Pull Request is not mergeable".into(),
    });
    assert_eq!(w.p.phase, Phase::Failed);
    assert_eq!(
        views::check_run(&w.p, &w.cfg, "aaa111").actions,
        vec![super::commands::Button::Retry]
    );
    let effects = w.comment(lead(), "/retry merge");
    assert_eq!(w.p.phase, Phase::Production);
    assert!(
        find(&effects, |a| matches!(a, Action::Merge { .. })
            .then_some(()))
        .is_some()
    );
}

#[test]
fn a_silent_deploy_run_is_polled_then_fails_the_stage() {
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
    let correlation = deployment_created(&mut w, &effects, 9);
    let effects = w.go(Input::EffectDone {
        key: "dd".into(),
        result: EffectResult::Dispatched {
            correlation: correlation.clone(),
            run_id: 77,
            url: "run77".into(),
        },
    });
    let (key, due_at, kind) = effects
        .timers
        .iter()
        .find_map(|t| match t {
            TimerChange::Set { key, due_at, kind } => Some((key.clone(), *due_at, kind.clone())),
            TimerChange::Cancel { .. } => None,
        })
        .expect("a watchdog");
    assert_eq!(
        due_at,
        w.now + 60 * 60 * 1000,
        "deploy.timeout defaults to 60m"
    );
    let effects = w.go(Input::Timer { key, kind });
    assert!(actions(&effects).contains(&&Action::PollRun {
        run_id: 77,
        correlation: correlation.clone()
    }));
    w.go(Input::EffectDone {
        key: "poll".into(),
        result: EffectResult::RunPolled {
            correlation,
            report: RunReport {
                run_id: 77,
                status: "in_progress".into(),
                conclusion: None,
                url: "run77".into(),
                display_title: None,
                attempt: 1,
                origin: None,
            },
        },
    });
    assert_eq!(w.p.phase, Phase::Failed);
    assert!(
        w.p.failure
            .as_ref()
            .unwrap()
            .reason
            .contains("has not finished after 1h"),
        "{:?}",
        w.p.failure
    );
}

#[test]
fn a_pull_request_merged_by_a_person_still_waits_for_production_approval() {
    let mut w = ready();
    w.ids += 1;
    let merged = |delivery: &str| Input::PullRequest {
        delivery: delivery.into(),
        action: PullAction::Closed,
        pr: PullSnapshot {
            number: 30,
            title: "Export".into(),
            body: "Closes #12".into(),
            author: "dev".into(),
            head_sha: "aaa111".into(),
            head_branch: "feature/REQ-12-export-invoices".into(),
            base_branch: "main".into(),
            author_access: Access::Write,
            contributors: vec![],
            from_fork: false,
            draft: false,
            open: false,
            merged: true,
            merge_commit_sha: Some("manual777".into()),
            url: "https://github.test/acme/widgets/pull/30".into(),
        },
        actor: actor("dev", Access::Write),
    };
    let effects = w.go(merged("merged"));
    assert_eq!(w.p.phase, Phase::Readiness, "merging is not approving");
    assert!(replies(&effects)[0].contains("merged outside shipgate"));
    // Told again (another delivery, or GitHub read again), it is not said again.
    let effects = w.go(merged("read again"));
    assert!(replies(&effects).is_empty(), "{effects:?}");
    let effects = w.comment(approver(), "/approve production");
    assert!(
        find(&effects, |a| matches!(a, Action::Merge { .. })
            .then_some(()))
        .is_none()
    );
    let sha = find(&effects, |a| match a {
        Action::CreateDeployment { sha, .. } => Some(sha.clone()),
        _ => None,
    });
    assert_eq!(sha.as_deref(), Some("manual777"));
}

#[test]
fn merge_titles_follow_conventional_commits() {
    let (w, _) = World::new(COMPLETE);
    let pr = |title: &str| PullRequest {
        number: 30,
        author: "dev".into(),
        head_sha: "a".into(),
        head_branch: "b".into(),
        base_branch: "main".into(),
        from_fork: false,
        author_access: Access::Write,
        draft: false,
        open: true,
        merged: false,
        merge_commit_sha: None,
        url: String::new(),
        title: title.into(),
        contributors: Default::default(),
        pushers: Default::default(),
    };
    assert_eq!(
        merge_title(&w.p, &pr("Add export")),
        "feat(REQ-12): Export invoices (#30)"
    );
    assert_eq!(
        merge_title(&w.p, &pr("fix(billing): rounding")),
        "fix(billing): Export invoices (#30)"
    );
    assert_eq!(
        merge_title(&w.p, &pr("chore: bump")),
        "chore(REQ-12): Export invoices (#30)"
    );
}

#[test]
fn commands_in_one_comment_apply_in_order() {
    let (mut w, _) = World::new(COMPLETE);
    let effects = w.comment(lead(), "/approve\n/approve plan");
    assert_eq!(w.p.phase, Phase::Development, "{:?}", replies(&effects));
    assert!(replies(&effects).is_empty(), "{:?}", replies(&effects));
}

/// Approves production and has the merge refused; returns the refused merge action.
fn refused_merge(w: &mut World) {
    let effects = w.comment(approver(), "/approve production");
    let action = find(&effects, |a| {
        matches!(a, Action::Merge { .. }).then(|| a.clone())
    })
    .unwrap();
    w.go(Input::EffectFailed {
        key: "m".into(),
        action,
        reason: "405 Pull Request is not mergeable".into(),
    });
    assert_eq!(w.p.phase, Phase::Failed);
}

#[test]
fn a_push_after_a_refused_merge_voids_the_approval_so_retry_merges_nothing() {
    let mut w = ready();
    refused_merge(&mut w);
    let effects = w.pr(PullAction::Synchronize, "bbb222");
    assert!(w.p.production.is_none());
    assert!(
        replies(&effects)
            .iter()
            .any(|r| r.contains("no longer counts"))
    );
    let effects = w.comment(lead(), "/retry merge");
    assert!(
        find(&effects, |a| matches!(a, Action::Merge { .. })
            .then_some(()))
        .is_none(),
        "an unreviewed head is never merged: {effects:?}"
    );
    assert_eq!(w.p.phase, Phase::Review);
    // The new head is tested again before anything else.
    assert!(dispatches(&effects).iter().any(|d| d.1 == "bbb222"));
}

#[test]
fn retry_after_unhealthy_production_deploys_again() {
    let mut w = ready();
    w.cfg.config.deploy.production.health.url = Some("https://shop.example/health".into());
    w.cfg.config.deploy.production.health.failures = 1;
    let effects = w.comment(approver(), "/approve production");
    assert!(
        find(&effects, |a| matches!(a, Action::Merge { .. })
            .then_some(()))
        .is_some()
    );
    let effects = w.go(Input::EffectDone {
        key: "m".into(),
        result: EffectResult::Merged { sha: "m1".into() },
    });
    let correlation = deployment_created(&mut w, &effects, 5);
    w.run_done(&correlation, 91, "success");
    let probe = w.go(Input::EffectDone {
        key: "probe".into(),
        result: EffectResult::Probed {
            environment: Environment::Production,
            ok: false,
            status: Some(500),
            latency_ms: 3,
            error: Some("answered 500".into()),
            refused: None,
        },
    });
    // Unhealthy production rolls back on its own; with nothing earlier, the stage fails.
    let target = find(&probe, |a| match a {
        Action::FindRollbackTarget {
            environment,
            current_sha,
            ..
        } => Some((environment.name().to_owned(), current_sha.clone())),
        _ => None,
    });
    assert_eq!(target, Some(("production".into(), "m1".into())));
    w.go(Input::EffectDone {
        key: "target".into(),
        result: EffectResult::RollbackTarget {
            environment: Environment::Production,
            sha: None,
        },
    });
    assert_eq!(w.p.phase, Phase::Failed);
    assert!(
        w.p.failure
            .as_ref()
            .unwrap()
            .reason
            .contains("no earlier successful production deployment"),
        "{:?}",
        w.p.failure
    );
    let effects = w.comment(lead(), "/retry production");
    assert_eq!(w.p.phase, Phase::Production);
    let again = find(&effects, |a| match a {
        Action::CreateDeployment {
            environment, sha, ..
        } => Some((environment.name().to_owned(), sha.clone())),
        _ => None,
    });
    assert_eq!(again, Some(("production".into(), "m1".into())));
}

#[test]
fn the_deploy_watchdog_is_armed_when_the_run_webhook_comes_before_the_dispatch_answer() {
    let (mut w, _) = World::new(COMPLETE);
    deployed_to_staging(&mut w); // completes the staging deploy; now a manual redeploy
    let effects = w.comment(lead(), "/deploy staging");
    let correlation = deployment_created(&mut w, &effects, 12);
    let report = w.own_run(&correlation, 303, "in_progress", None);
    let early = w.go(Input::WorkflowRun(report));
    assert!(
        actions(&early)
            .iter()
            .any(|a| matches!(a, Action::DeploymentStatus { state, .. } if state == "in_progress"))
    );
    let effects = w.go(Input::EffectDone {
        key: "dd9".into(),
        result: EffectResult::Dispatched {
            correlation: correlation.clone(),
            run_id: 303,
            url: "run303".into(),
        },
    });
    assert!(
        effects.timers.iter().any(|t| matches!(
            t,
            TimerChange::Set {
                kind: TimerKind::RunWatchdog { .. },
                ..
            }
        )),
        "{effects:?}"
    );
    assert!(
        !actions(&effects)
            .iter()
            .any(|a| matches!(a, Action::DeploymentStatus { .. })),
        "in_progress is sent once"
    );
}

#[test]
fn buttons_answer_on_the_pr_and_refuse_a_stale_check_run() {
    let mut w = ready();
    let effects = w.go(Input::Button {
        delivery: "b1".into(),
        identifier: "approve_prod".into(),
        sha: "old000".into(),
        on: 0,
        actor: approver(),
    });
    let r = effects
        .effects
        .iter()
        .find_map(|e| match &e.action {
            Action::Reply { on, body } => Some((*on, body.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        r.0, 30,
        "a check run naming no PR is answered on the linked PR"
    );
    assert!(r.1.contains("moved on"), "{}", r.1);
    assert!(w.p.production.is_none());
    w.go(Input::Button {
        delivery: "b2".into(),
        identifier: "approve_prod".into(),
        sha: "aaa111".into(),
        on: 30,
        actor: approver(),
    });
    assert_eq!(w.p.phase, Phase::Production);
    assert_eq!(
        w.p.production.as_ref().unwrap().via,
        "the Approve prod button"
    );
}

fn audited(effects: &Outputs) -> Vec<(String, String, String)> {
    effects
        .audit
        .iter()
        .map(|a| (a.actor.clone(), a.action.clone(), a.detail.clone()))
        .collect()
}

#[test]
fn decisions_and_refusals_are_audited() {
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
    assert_eq!(
        audited(&effects),
        [(
            "reviewer".to_owned(),
            "approve review".to_owned(),
            "#30 at `aaa111`".to_owned()
        )]
    );
    let effects = w.review(reader(), ReviewState::Approved, "aaa111");
    assert_eq!(audited(&effects)[0].1, "refused");

    let mut w = ready();
    let refused = w.comment(actor("dev", Access::Write), "/approve production");
    let a = audited(&refused);
    assert_eq!((a[0].0.as_str(), a[0].1.as_str()), ("dev", "refused"));
    assert!(
        a[0].2.contains("cannot approve its production deploy"),
        "{a:?}"
    );
    let approved = w.comment(approver(), "/approve production");
    assert_eq!(
        audited(&approved),
        [(
            "releaser".to_owned(),
            "approve production".to_owned(),
            "/approve production, #30 at `aaa111`".to_owned()
        )]
    );
    let merged = w.go(Input::EffectDone {
        key: "m".into(),
        result: EffectResult::Merged { sha: "m1".into() },
    });
    assert_eq!(audited(&merged)[0].1, "merge");
}

#[test]
fn a_configuration_error_is_audited_once_per_configuration() {
    let cfg =
        super::config::LoadedConfig::load(None, Some("review:\n  required_approvals: many\n"));
    let (mut w, effects) = World::with_config(COMPLETE, cfg);
    let a = audited(&effects);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(
        (a[0].0.as_str(), a[0].1.as_str()),
        ("shipgate", "configuration error")
    );
    assert!(a[0].2.contains("required_approvals"), "{}", a[0].2);
    let later = w.comment(lead(), "/status");
    assert!(audited(&later).is_empty(), "not again for every input");
}

#[test]
fn whoever_committed_to_the_pr_cannot_approve_its_production_deploy() {
    let (mut w, _) = World::new(COMPLETE);
    w.advance_to_development();
    w.pr(PullAction::Opened, "aaa111");
    // The release approver pushes a fix to the PR.
    w.ids += 1;
    let push = w.go(Input::PullRequest {
        delivery: "push".into(),
        action: PullAction::Synchronize,
        pr: PullSnapshot {
            number: 30,
            title: "Export".into(),
            body: "Closes #12".into(),
            author: "dev".into(),
            head_sha: "bbb222".into(),
            head_branch: "feature/REQ-12-export-invoices".into(),
            base_branch: "main".into(),
            author_access: Access::Write,
            // What GitHub lists for the PR's commits: dev's, and the release approver's fix.
            contributors: vec!["dev".into(), "releaser".into()],
            from_fork: false,
            draft: false,
            open: true,
            merged: false,
            merge_commit_sha: None,
            url: "https://github.test/acme/widgets/pull/30".into(),
        },
        actor: approver(),
    });
    let tests = dispatches(&push)
        .into_iter()
        .find(|d| d.1 == "bbb222")
        .expect("the new head is tested")
        .2;
    w.run_done(&tests, 601, "success");
    let effects = w.review(
        actor("reviewer", Access::Write),
        ReviewState::Approved,
        "bbb222",
    );
    let correlation = deployment_created(&mut w, &effects, 9);
    w.run_done(&correlation, 77, "success");
    assert_eq!(w.p.phase, Phase::Readiness);
    let effects = w.comment(approver(), "/approve production");
    assert!(
        replies(&effects)[0].contains("@releaser authored, committed or pushed commits of #30"),
        "{:?}",
        replies(&effects)
    );
    assert!(w.p.production.is_none());
    // Someone who did not touch the code can.
    w.comment(
        actor("other-releaser", Access::Admin),
        "/approve production",
    );
    assert_eq!(w.p.phase, Phase::Production);
}

#[test]
fn a_blocked_pipeline_does_not_advance_until_unblocked() {
    let (mut w, _) = World::new(COMPLETE);
    w.advance_to_development();
    let effects = w.pr(PullAction::Opened, "aaa111");
    let c = dispatches(&effects)[0].2.clone();
    let r = w.comment(lead(), "/block waiting on legal\n/priority high");
    assert!(replies(&r)[0].contains("Blocked"), "{:?}", replies(&r));
    assert_eq!(audited(&r)[0].1, "block");
    w.run_done(&c, 501, "success");
    let effects = w.review(
        actor("reviewer", Access::Write),
        ReviewState::Approved,
        "aaa111",
    );
    assert_eq!(
        w.p.phase,
        Phase::Review,
        "green gates do not move a blocked pipeline"
    );
    assert!(
        find(&effects, |a| matches!(a, Action::CreateDeployment { .. })
            .then_some(()))
        .is_none()
    );
    let status = views::status_comment(&w.p, &w.cfg);
    assert!(
        status.contains("🚧 Blocked by @lead: waiting on legal"),
        "{status}"
    );
    assert!(status.contains("priority **high**"), "{status}");
    assert!(status.contains("**Waiting for:** `/unblock`"), "{status}");
    let refused = w.comment(reader(), "/unblock");
    assert!(replies(&refused)[0].contains("write access"));
    let effects = w.comment(lead(), "/unblock");
    assert_eq!(w.p.phase, Phase::Staging);
    assert!(
        find(&effects, |a| matches!(a, Action::CreateDeployment { .. })
            .then_some(()))
        .is_some()
    );
    let again = w.comment(lead(), "/unblock");
    assert!(replies(&again)[0].contains("not blocked"));
}

/// The gate timers among the effects: (key, due_at, kind).
fn gate_timers(effects: &Outputs) -> Vec<(String, i64, TimerKind)> {
    effects
        .timers
        .iter()
        .filter_map(|t| match t {
            TimerChange::Set { key, due_at, kind }
                if matches!(kind, TimerKind::GateTimeout { .. }) =>
            {
                Some((key.clone(), *due_at, kind.clone()))
            }
            _ => None,
        })
        .collect()
}

/// Fires a timer at its due time.
fn fire(w: &mut World, timer: &(String, i64, TimerKind)) -> Outputs {
    w.now = timer.1 - 1000; // `go` moves the clock 1 s
    w.go(Input::Timer {
        key: timer.0.clone(),
        kind: timer.2.clone(),
    })
}

const HOUR: i64 = 3600 * 1000;

#[test]
fn an_unapproved_requirement_escalates_then_is_rejected() {
    let mut cfg = super::config::LoadedConfig::default();
    cfg.config.requirement.escalate_to = vec!["@cto".into(), "pm-lead".into()];
    let (mut w, effects) = World::with_config(COMPLETE, cfg);
    let timers = gate_timers(&effects);
    assert_eq!(timers.len(), 2, "{timers:?}");
    let start = w.now;
    assert_eq!(timers[0].1 - start, 24 * HOUR);
    assert_eq!(timers[1].1 - start, 48 * HOUR);
    let escalated = fire(&mut w, &timers[0]);
    let r = replies(&escalated);
    assert!(
        r[0].contains("waited 1d") && r[0].contains("@cto @pm-lead"),
        "{r:?}"
    );
    assert_eq!(w.p.phase, Phase::Intake);
    let rejected = fire(&mut w, &timers[1]);
    assert_eq!(w.p.phase, Phase::Rejected);
    assert!(replies(&rejected)[0].contains("requirement approval did not come within 2d"));
    assert_eq!(audited(&rejected)[0].1, "reject");
}

#[test]
fn pause_holds_the_gate_clocks() {
    let (mut w, effects) = World::new(COMPLETE);
    let timers = gate_timers(&effects);
    w.comment(lead(), "/pause");
    w.now += 10 * HOUR;
    w.comment(lead(), "/resume");
    // At the original deadline only 38 of the 48 hours counted: set again for the rest.
    let again = fire(&mut w, &timers[1]);
    assert_eq!(w.p.phase, Phase::Intake);
    let later = gate_timers(&again);
    assert_eq!(later.len(), 1);
    assert!(
        (later[0].1 - timers[1].1 - 10 * HOUR).abs() <= 3000,
        "10 paused hours later: {} ms",
        later[0].1 - timers[1].1
    );
    fire(&mut w, &later[0]);
    assert_eq!(w.p.phase, Phase::Rejected);
}

#[test]
fn the_plan_auto_approves_with_a_warning_and_production_approval_times_out() {
    let (mut w, _) = World::new(COMPLETE);
    let effects = w.comment(lead(), "/approve");
    assert_eq!(w.p.phase, Phase::Planning);
    let plan = gate_timers(&effects);
    assert_eq!(plan.len(), 1);
    let approved = fire(&mut w, &plan[0]);
    assert_eq!(w.p.phase, Phase::Development);
    assert!(
        replies(&approved)[0].contains("Nobody approved the plan in 3d"),
        "{:?}",
        replies(&approved)
    );
    assert_eq!(w.p.plan.as_ref().unwrap().by, "shipgate");

    // Readiness starts production's clock: rejected after 72h without an approval.
    let (mut late, _) = World::new(COMPLETE);
    let effects = deployed_to_staging(&mut late);
    let production = gate_timers(&effects);
    assert_eq!(production.len(), 1, "{production:?}");
    assert_eq!(
        production[0].1 - late.p.timeline.last().unwrap().1,
        72 * HOUR
    );
    let rejected = fire(&mut late, &production[0]);
    assert_eq!(late.p.phase, Phase::Rejected);
    assert!(replies(&rejected)[0].contains("production approval did not come within 3d"));
    // Approved in time: the timer finds nothing to do.
    let (mut on_time, _) = World::new(COMPLETE);
    deployed_to_staging(&mut on_time);
    on_time.comment(approver(), "/approve production");
    fire(&mut on_time, &production[0]);
    assert_eq!(on_time.p.phase, Phase::Production);
}
