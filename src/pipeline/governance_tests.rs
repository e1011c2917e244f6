//! Core tests for `/skip` (admin only, on the record, separation of duties), the latency
//! trigger, automatic staging rollback and incident issues.

use super::gates;
use super::model::*;
use super::tests::*;
use super::views;

fn admin() -> Actor {
    actor("owner", Access::Admin)
}

fn audited_actions(effects: &Outputs) -> Vec<String> {
    effects.audit.iter().map(|a| a.action.clone()).collect()
}

fn creates_deployment(effects: &Outputs) -> bool {
    actions(effects)
        .iter()
        .any(|a| matches!(a, Action::CreateDeployment { .. }))
}

#[test]
fn an_admin_skips_failed_tests_on_the_record_and_cannot_then_approve_production() {
    let (mut w, _) = World::new(COMPLETE);
    w.advance_to_development();
    let effects = w.pr(PullAction::Opened, "aaa111");
    let c = dispatches(&effects)[0].2.clone();
    w.run_done(&c, 501, "failure");
    w.review(
        actor("reviewer", Access::Write),
        ReviewState::Approved,
        "aaa111",
    );
    assert_eq!(w.p.phase, Phase::Review);

    let r = w.comment(lead(), "/skip tests flaky runner");
    assert!(replies(&r)[0].contains("admin access"), "{:?}", replies(&r));
    assert_eq!(audited_actions(&r), ["refused"]);
    let r = w.comment(admin(), "/skip tests");
    assert!(replies(&r)[0].contains("needs a gate and a reason"));
    let r = w.comment(admin(), "/skip coverage it is fine");
    assert!(replies(&r)[0].contains("no gate `coverage`"));
    let r = w.comment(admin(), "/skip review looks fine");
    assert!(replies(&r)[0].contains("has passed"), "{:?}", replies(&r));
    assert!(w.p.skips.is_empty());

    let r = w.comment(admin(), "/skip tests flaky runner");
    assert!(replies(&r)[0].contains("`tests` gate is skipped at `aaa111`"));
    assert_eq!(audited_actions(&r), ["skip"]);
    assert_eq!(w.p.phase, Phase::Staging);
    assert!(
        creates_deployment(&r),
        "staging is deployed once tests are skipped"
    );
    let view = views::check_run(&w.p, &w.cfg, "aaa111");
    assert!(
        view.summary
            .contains("⏭️ skipped by @owner: flaky runner (was: `tests.yml` ❌ failure"),
        "{}",
        view.summary
    );
    assert_ne!(view.conclusion, Some("failure"));
    let status = views::status_comment(&w.p, &w.cfg);
    assert!(status.contains("⏭️ 1 skipped"), "{status}");
    assert!(
        status.contains("⏭️ `tests` skipped at `aaa111` by @owner: flaky runner"),
        "{status}"
    );
    let again = w.comment(admin(), "/skip tests again");
    assert!(replies(&again)[0].contains("already skipped"));

    // Staging too, then the skipper may not approve production; someone else may.
    w.comment(admin(), "/skip staging staging is down for maintenance");
    assert_eq!(w.p.phase, Phase::Readiness);
    let r = w.comment(admin(), "/approve production");
    assert!(
        replies(&r)[0].contains("@owner skipped the `tests` gate"),
        "{:?}",
        replies(&r)
    );
    assert!(w.p.production.is_none());
    w.comment(actor("releaser", Access::Write), "/approve production");
    assert_eq!(w.p.phase, Phase::Production);
    let r = w.comment(admin(), "/skip review too late");
    assert!(replies(&r)[0].contains("production is approved"));
}

#[test]
fn a_push_voids_a_tests_skip_and_requirement_skips_hold() {
    let (mut w, _) = World::new("No sections at all.");
    assert_eq!(w.p.phase, Phase::Intake);
    w.comment(admin(), "/skip requirement hotfix for an outage");
    assert_eq!(w.p.phase, Phase::Planning);
    w.comment(admin(), "/skip plan nothing to plan");
    assert_eq!(w.p.phase, Phase::Development);
    let effects = w.pr(PullAction::Opened, "aaa111");
    let c = dispatches(&effects)[0].2.clone();
    w.run_done(&c, 501, "failure");
    w.comment(admin(), "/skip tests flaky runner");
    assert!(gates::tests_gate(&w.p, &w.cfg, "aaa111").passed);
    let effects = w.pr(PullAction::Synchronize, "bbb222");
    assert_eq!(dispatches(&effects).len(), 1, "the new head is tested");
    let gate = gates::tests_gate(&w.p, &w.cfg, "bbb222");
    assert!(
        !gate.passed && !gate.state.contains("skipped"),
        "{}",
        gate.state
    );
    let summary = views::status_comment(&w.p, &w.cfg);
    assert!(summary.contains("`requirement` skipped by @owner: hotfix for an outage"));
}

pub(super) fn production_probe(w: &mut World, ok: bool, latency_ms: u64, key: &str) -> Outputs {
    w.go(Input::EffectDone {
        key: key.into(),
        result: EffectResult::Probed {
            environment: Environment::Production,
            ok,
            status: Some(if ok { 200 } else { 502 }),
            latency_ms,
            error: (!ok).then(|| "answered 502".into()),
            refused: None,
        },
    })
}

fn rollback_target(effects: &Outputs) -> Option<String> {
    actions(effects).iter().find_map(|a| match a {
        Action::FindRollbackTarget { environment, .. } => Some(environment.name().to_owned()),
        _ => None,
    })
}

/// Readiness with a staging baseline measured from probes of `staging_ms`, then production
/// approved, merged and deployed; returns the world watching production health.
pub(super) fn watching_production(staging_ms: u64) -> World {
    let cfg = super::config::LoadedConfig::load(
        None,
        Some(
            "deploy:\n  environments:\n    staging:\n      health: { url: \"https://s.example.com/h\", interval: 10s, window: 20s }\n    production:\n      health: { url: \"https://p.example.com/h\", interval: 10s, window: 1m, failures: 3, max_latency_factor: 5 }\n",
        ),
    );
    let (mut w, _) = World::with_config(COMPLETE, cfg);
    deployed_to_staging(&mut w);
    for i in 0..5 {
        if w.p.phase == Phase::Readiness {
            break;
        }
        w.now += 10_000;
        w.go(Input::EffectDone {
            key: format!("s{i}"),
            result: EffectResult::Probed {
                environment: Environment::Staging,
                ok: true,
                status: Some(200),
                latency_ms: staging_ms,
                error: None,
                refused: None,
            },
        });
    }
    assert_eq!(w.p.phase, Phase::Readiness);
    assert_eq!(w.p.staging_baseline_ms, Some(staging_ms));
    let correlation = production_dispatched(&mut w);
    w.run_done(&correlation, 88, "success");
    assert_eq!(w.p.phase, Phase::Production);
    w
}

#[test]
fn sustained_latency_over_the_staging_baseline_rolls_production_back_with_evidence() {
    let mut w = watching_production(40);
    // 5× a 40 ms baseline is 200 ms. One slow probe, then a fast one: no trend.
    assert!(rollback_target(&production_probe(&mut w, true, 450, "p1")).is_none());
    assert!(rollback_target(&production_probe(&mut w, true, 60, "p2")).is_none());
    production_probe(&mut w, true, 300, "p3");
    production_probe(&mut w, true, 310, "p4");
    let effects = production_probe(&mut w, true, 320, "p5");
    assert_eq!(rollback_target(&effects).as_deref(), Some("production"));
    let why = &w.p.rollback.as_ref().expect("a rollback").reason;
    assert!(
        why.contains("3 health probes of https://p.example.com/h in a row were slower than 200 ms (5× the staging baseline of 40 ms): 200 in 300 ms, 200 in 310 ms, 200 in 320 ms"),
        "{why}"
    );
}

#[test]
fn a_tiny_baseline_counts_as_the_floor_and_failed_probes_roll_back_too() {
    let mut w = watching_production(1);
    // 5× the 20 ms floor: 90 ms probes are fine even though they are 90× the baseline.
    for i in 0..4 {
        let effects = production_probe(&mut w, true, 90, &format!("f{i}"));
        assert!(rollback_target(&effects).is_none());
    }
    production_probe(&mut w, false, 3, "x1");
    production_probe(&mut w, false, 4, "x2");
    let effects = production_probe(&mut w, false, 5, "x3");
    assert_eq!(rollback_target(&effects).as_deref(), Some("production"));
    let why = &w.p.rollback.as_ref().expect("a rollback").reason;
    assert!(
        why.ends_with("answered 502 after 3 ms, answered 502 after 4 ms, answered 502 after 5 ms"),
        "{why}"
    );
}

#[test]
fn staging_rolls_back_to_the_last_good_deploy_and_retry_deploys_the_feature_again() {
    let cfg = super::config::LoadedConfig::load(
        None,
        Some(
            "deploy:\n  environments:\n    staging:\n      health: { url: \"https://s.example.com/h\", failures: 2 }\n",
        ),
    );
    let (mut w, _) = World::with_config(COMPLETE, cfg);
    deployed_to_staging(&mut w);
    probed(&mut w, false, "p1");
    let effects = probed(&mut w, false, "p2");
    assert_eq!(rollback_target(&effects).as_deref(), Some("staging"));
    let effects = rollback_target_is(&mut w, "staging", Some("good000"));
    let correlation = actions(&effects)
        .iter()
        .find_map(|a| match a {
            Action::CreateDeployment {
                correlation, sha, ..
            } if sha == "good000" => Some(correlation.clone()),
            _ => None,
        })
        .expect("staging's last good SHA is deployed again");
    w.go(Input::EffectDone {
        key: "cd-rb".into(),
        result: EffectResult::DeploymentCreated {
            correlation: correlation.clone(),
            deployment_id: 12,
        },
    });
    let effects = w.run_done(&correlation, 90, "success");
    assert_eq!(w.p.phase, Phase::RolledBack);
    let said = replies(&effects)
        .into_iter()
        .find(|r| r.contains("Rolled back"))
        .expect("a rollback reply");
    assert!(
        said.contains("staging is back on `good000`") && said.contains("`/retry`"),
        "{said}"
    );
    assert_eq!(
        views::check_run(&w.p, &w.cfg, "aaa111").actions,
        vec![super::commands::Button::Retry]
    );
    // Other commands still say the pipeline is over; /retry brings the feature back.
    let r = w.comment(lead(), "/pause");
    assert!(replies(&r)[0].contains("rolled_back"));
    let effects = w.comment(lead(), "/retry");
    assert_eq!(w.p.phase, Phase::Staging);
    assert!(
        actions(&effects)
            .iter()
            .any(|a| matches!(a, Action::CreateDeployment { sha, .. } if sha == "aaa111")),
        "the feature's head is deployed to staging again"
    );
}

#[test]
fn auto_rollback_off_fails_the_stage_instead_and_staging_latency_is_a_config_error() {
    let cfg = super::config::LoadedConfig::load(
        None,
        Some(
            "deploy:\n  environments:\n    staging:\n      auto_rollback: false\n      health: { url: \"https://s.example.com/h\", failures: 2 }\n",
        ),
    );
    let (mut w, _) = World::with_config(COMPLETE, cfg);
    deployed_to_staging(&mut w);
    probed(&mut w, false, "p1");
    let effects = probed(&mut w, false, "p2");
    assert!(rollback_target(&effects).is_none());
    assert_eq!(w.p.phase, Phase::Failed);

    let bad = super::config::LoadedConfig::load(
        None,
        Some("deploy:\n  environments:\n    staging:\n      health: { max_latency_factor: 3 }\n"),
    );
    assert!(
        bad.errors.iter().any(
            |e| e.to_string().contains("staging.health.max_latency_factor")
                && e.to_string().contains("production only")
        ),
        "{:?}",
        bad.errors
    );
}

#[test]
fn a_production_rollback_opens_one_incident_issue_and_reports_the_outcome_on_it() {
    let mut w = watching_production(40);
    for i in 0..3 {
        production_probe(&mut w, false, 7, &format!("x{i}"));
    }
    rollback_target_is(&mut w, "production", Some("good000"));
    let (correlation, effects) = rollback_created(&mut w, 13);
    let kinds: Vec<&str> = actions(&effects).iter().map(|a| a.name()).collect();
    let dispatch = kinds.iter().position(|k| *k == "dispatch_deploy");
    let incident = kinds.iter().position(|k| *k == "open_incident");
    assert!(
        dispatch.is_some() && incident > dispatch,
        "the incident issue waits behind the rollback's dispatch: {kinds:?}"
    );
    let (marker, title, body, assignee) = actions(&effects)
        .iter()
        .find_map(|a| match a {
            Action::OpenIncident {
                marker,
                title,
                body,
                assignee,
            } => Some((
                marker.clone(),
                title.clone(),
                body.clone(),
                assignee.clone(),
            )),
            _ => None,
        })
        .expect("an incident issue is opened");
    assert!(body.starts_with(&marker), "the marker lets a retry find it");
    assert_eq!(
        title,
        "Incident: production rolled back — REQ-12 Export invoices"
    );
    assert_eq!(
        assignee.as_deref(),
        Some(w.p.pr.as_ref().unwrap().author.as_str())
    );
    for part in [
        "**Trigger:** 3 health probes of https://p.example.com/h failed in a row",
        "**Feature:** #12",
        "from `merge1` to `good000`",
        "| phase **production** |",
        "production deploy of `merge1` succeeded",
        "rollback started by shipgate",
        "3 of 3 probes of https://p.example.com/h failed",
        "### Runs and deployments",
    ] {
        assert!(body.contains(part), "{part} in:\n{body}");
    }
    let effects = w.go(Input::EffectDone {
        key: "incident".into(),
        result: EffectResult::IncidentOpened { number: 99 },
    });
    assert!(replies(&effects)[0].contains("Incident #99"));
    assert!(effects.notifications.iter().any(|n| n.event == "incident"));
    assert!(views::status_comment(&w.p, &w.cfg).contains("🚨 Incident #99"));
    // The same result again (a redelivered effect) links nothing twice.
    let again = w.go(Input::EffectDone {
        key: "incident-again".into(),
        result: EffectResult::IncidentOpened { number: 99 },
    });
    assert!(replies(&again).is_empty());

    let effects = w.run_done(&correlation, 91, "success");
    assert_eq!(w.p.phase, Phase::RolledBack);
    let on_incident: Vec<&Action> = actions(&effects)
        .into_iter()
        .filter(|a| matches!(a, Action::Reply { on: 99, .. }))
        .collect();
    assert_eq!(on_incident.len(), 1, "the outcome is added to the incident");
}

#[test]
fn a_staging_rollback_opens_no_incident() {
    let (mut w, _) = World::new(COMPLETE);
    assert!(w.cfg.config.rollback.open_incident);
    deployed_to_staging(&mut w);
    w.comment(lead(), "/rollback broken");
    let effects = rollback_target_is(&mut w, "staging", Some("good000"));
    assert!(
        !actions(&effects)
            .iter()
            .any(|a| matches!(a, Action::OpenIncident { .. }))
    );
}

fn protection(w: &mut World, run_id: u64, environment: &str) -> (bool, String, Outputs) {
    let effects = w.go(Input::ProtectionRule {
        delivery: format!("d{run_id}{environment}{}", w.p.seq),
        run_id,
        environment: environment.into(),
        sha: "whatever".into(),
        run: None,
    });
    let (approved, comment) = actions(&effects)
        .iter()
        .find_map(|a| match a {
            Action::ReviewProtection {
                run_id: r,
                approved,
                comment,
                ..
            } if *r == run_id => Some((*approved, comment.clone())),
            _ => None,
        })
        .expect("every request is answered");
    (approved, comment, effects)
}

#[test]
fn the_protection_rule_approves_only_the_pipelines_own_runs_whose_gates_hold() {
    let (mut w, _) = World::new(COMPLETE);
    let correlation = staging_dispatched(&mut w);
    let (ok, why, effects) = protection(&mut w, 77, "staging");
    assert!(ok, "{why}");
    assert_eq!(why, "REQ-12: review and tests passed at `aaa111`");
    assert_eq!(audited_actions(&effects), ["protection rule approved"]);

    let (ok, why, effects) = protection(&mut w, 5, "staging");
    assert!(!ok);
    assert!(
        why.contains("run 5 is not a deploy shipgate dispatched"),
        "{why}"
    );
    assert!(replies(&effects)[0].contains("is rejected"));
    // Once the deploy has finished, running it again (a re-run keeps the run id) deploys
    // nothing shipgate decided.
    w.run_done(&correlation, 77, "success");
    let (ok, why, _) = protection(&mut w, 77, "staging");
    assert!(!ok && why.contains("this deploy has finished"), "{why}");

    // Each rejection of a deploy in flight fails it (GitHub fails the run): one world each.
    let in_flight = || {
        let (mut w, _) = World::new(COMPLETE);
        staging_dispatched(&mut w);
        w
    };
    for environment in ["production", "preview"] {
        let (ok, why, _) = protection(&mut in_flight(), 77, environment);
        assert!(!ok && why.contains("dispatched for staging"), "{why}");
    }
    let mut w = in_flight();
    w.comment(lead(), "/block legal review");
    let (ok, why, effects) = protection(&mut w, 77, "staging");
    assert!(
        !ok && why.contains("blocked by @lead: legal review"),
        "{why}"
    );
    // GitHub fails the rejected run: the stage fails, on the record too.
    assert_eq!(
        audited_actions(&effects),
        ["protection rule rejected", "stage failed"]
    );
}

#[test]
fn the_protection_rule_approves_production_only_for_the_approved_merge() {
    let (mut w, _) = World::new(COMPLETE);
    deployed_to_staging(&mut w);
    let correlation = production_dispatched(&mut w);
    w.go(Input::EffectDone {
        key: "dispatched-88".into(),
        result: EffectResult::Dispatched {
            correlation,
            run_id: 88,
            url: "https://github.test/runs/88".into(),
        },
    });
    let (ok, why, _) = protection(&mut w, 88, "production");
    assert!(ok, "{why}");
    assert!(
        why.contains("production approved by @releaser") && why.contains("merged as `merge1`"),
        "{why}"
    );
    // A staging deploy whose review went stale: rejected with what is missing.
    let (mut s, _) = World::new(COMPLETE);
    staging_dispatched(&mut s);
    s.review(
        actor("reviewer", Access::Write),
        ReviewState::ChangesRequested,
        "aaa111",
    );
    let (ok, why, _) = protection(&mut s, 77, "staging");
    assert!(!ok && why.contains("not passed yet — Review:"), "{why}");
}

#[test]
fn deploy_outcomes_and_approval_requests_are_notified() {
    let (mut w, _) = World::new(COMPLETE);
    let effects = deployed_to_staging(&mut w);
    let notes: Vec<(String, String)> = effects
        .notifications
        .iter()
        .map(|n| (n.event.clone(), n.text.clone()))
        .collect();
    assert!(
        notes.iter().any(|(e, t)| e == "deploy"
            && t.starts_with("REQ-12: the staging deploy of `aaa111` succeeded")),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|(e, t)| e == "approval"
            && t.contains("waits for approval of production (`/approve production`)")),
        "{notes:?}"
    );
}

/// Readiness (no health URLs), production approved and merged, its deploy run 88 under way.
fn production_in_flight() -> (World, String) {
    let (mut w, _) = World::new(COMPLETE);
    deployed_to_staging(&mut w);
    let correlation = production_dispatched(&mut w);
    let report = w.own_run(&correlation, 88, "in_progress", None);
    w.go(Input::WorkflowRun(report));
    assert_eq!(w.p.phase, Phase::Production);
    (w, correlation)
}

fn dispatches_rollback(effects: &Outputs) -> bool {
    actions(effects).iter().any(|a| {
        matches!(
            a,
            Action::DispatchDeploy {
                rollback_reason: Some(_),
                ..
            }
        )
    })
}

#[test]
fn a_pause_or_a_block_never_holds_a_rollback() {
    for hold in ["/pause", "/block waiting on legal"] {
        let (mut w, correlation) = production_in_flight();
        w.comment(lead(), hold);
        w.run_done(&correlation, 88, "failure");
        rollback_target_is(&mut w, "production", Some("good000"));
        let (_, effects) = rollback_created(&mut w, 12);
        assert!(dispatches_rollback(&effects), "{hold} held the rollback");
    }
    // An ordinary deploy created while paused waits, and goes on `/resume`.
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
    let staging = actions(&effects)
        .iter()
        .find_map(|a| match a {
            Action::CreateDeployment { correlation, .. } => Some(correlation.clone()),
            _ => None,
        })
        .unwrap();
    w.comment(lead(), "/pause");
    let effects = w.go(Input::EffectDone {
        key: "cd".into(),
        result: EffectResult::DeploymentCreated {
            correlation: staging,
            deployment_id: 9,
        },
    });
    assert!(
        !actions(&effects)
            .iter()
            .any(|a| matches!(a, Action::DispatchDeploy { .. }))
    );
    let effects = w.comment(lead(), "/resume");
    assert!(
        actions(&effects)
            .iter()
            .any(|a| matches!(a, Action::DispatchDeploy { .. })),
        "the held staging deploy goes when the pause lifts"
    );
}

#[test]
fn rejecting_its_own_deploy_fails_the_stage_without_a_rollback() {
    let (mut w, correlation) = production_in_flight();
    w.comment(lead(), "/block legal hold");
    let (ok, why, effects) = protection(&mut w, 88, "production");
    assert!(!ok && why.contains("blocked by @lead: legal hold"), "{why}");
    assert_eq!(w.p.phase, Phase::Failed);
    assert!(rollback_target(&effects).is_none(), "nothing was deployed");
    assert!(
        actions(&effects).iter().any(|a| matches!(
            a,
            Action::DeploymentStatus { deployment_id: 11, state, .. } if state == "failure"
        )),
        "the deployment says it failed"
    );
    // GitHub then fails the run: nothing more happens.
    let effects = w.run_done(&correlation, 88, "failure");
    assert!(rollback_target(&effects).is_none());
    w.comment(lead(), "/unblock");
    let effects = w.comment(lead(), "/retry production");
    assert_eq!(w.p.phase, Phase::Production);
    assert!(
        actions(&effects)
            .iter()
            .any(|a| matches!(a, Action::CreateDeployment { sha, .. } if sha == "merge1")),
        "the merge commit is deployed again"
    );
}

#[test]
fn the_rule_finds_a_run_by_its_pipeline_input_and_approves_deploy_staging() {
    let (mut w, _) = World::new(COMPLETE);
    w.advance_to_development();
    w.pr(PullAction::Opened, "aaa111");
    let effects = w.comment(lead(), "/deploy staging");
    let correlation = actions(&effects)
        .iter()
        .find_map(|a| match a {
            Action::CreateDeployment { correlation, .. } => Some(correlation.clone()),
            _ => None,
        })
        .expect("deployed by command before review and tests passed");
    // The rule asks before the dispatch's answer gave shipgate the run id.
    let effects = w.go(Input::ProtectionRule {
        delivery: "rule-1".into(),
        run_id: 4242,
        environment: "staging".into(),
        sha: "aaa111".into(),
        run: Some(w.own_run(&correlation, 4242, "waiting", None)),
    });
    let approved = actions(&effects).iter().find_map(|a| match a {
        Action::ReviewProtection {
            approved, comment, ..
        } => Some((*approved, comment.clone())),
        _ => None,
    });
    assert_eq!(
        approved,
        Some((
            true,
            "REQ-12: `/deploy staging` by @lead of `aaa111`".to_owned()
        ))
    );
}

#[test]
fn skipping_staging_drops_the_deploy_in_flight_and_recovers_a_failed_stage() {
    let cfg = super::config::LoadedConfig::load(
        None,
        Some(
            "deploy:\n  environments:\n    staging:\n      health: { url: \"https://s.example.com/h\", failures: 1 }\n",
        ),
    );
    let (mut w, _) = World::with_config(COMPLETE, cfg.clone());
    deployed_to_staging(&mut w);
    assert_eq!(w.p.phase, Phase::Staging, "health window running");
    w.comment(admin(), "/skip staging the probe host is down");
    assert_eq!(w.p.phase, Phase::Readiness);
    // The superseded watch's failing probe changes nothing.
    let effects = probed(&mut w, false, "late");
    assert!(rollback_target(&effects).is_none());
    assert_eq!(w.p.phase, Phase::Readiness);

    // A failed staging stage, then the skip: the pipeline goes on.
    let (mut w, _) = World::with_config(COMPLETE, cfg);
    deployed_to_staging(&mut w);
    probed(&mut w, false, "p1");
    rollback_target_is(&mut w, "staging", None);
    assert_eq!(w.p.phase, Phase::Failed);
    let r = w.comment(admin(), "/skip staging known flaky probe");
    assert!(replies(&r)[0].contains("skipped"), "{:?}", replies(&r));
    assert_eq!(w.p.phase, Phase::Readiness);
    assert!(w.p.failure.is_none());
}

#[test]
fn a_failed_rollback_ends_it_so_retry_and_rollback_work_again() {
    let cfg = super::config::LoadedConfig::load(
        None,
        Some(
            "deploy:\n  environments:\n    staging:\n      health: { url: \"https://s.example.com/h\", failures: 1 }\n",
        ),
    );
    let (mut w, _) = World::with_config(COMPLETE, cfg);
    deployed_to_staging(&mut w);
    probed(&mut w, false, "p1");
    rollback_target_is(&mut w, "staging", Some("good000"));
    let (rollback, _) = rollback_created(&mut w, 12);
    w.run_done(&rollback, 90, "failure");
    assert_eq!(w.p.phase, Phase::Failed);
    assert!(w.p.rollback.is_none(), "the failed rollback is over");
    let effects = w.comment(lead(), "/retry");
    assert_eq!(w.p.phase, Phase::Staging);
    assert!(
        actions(&effects)
            .iter()
            .any(|a| matches!(a, Action::CreateDeployment { sha, .. } if sha == "aaa111")),
        "the feature is deployed to staging again"
    );
}

/// Production approved and merged; its deployment created and the deploy workflow
/// dispatched. Returns the deploy's correlation.
pub(super) fn production_dispatched(w: &mut World) -> String {
    w.comment(actor("releaser", Access::Write), "/approve production");
    let effects = w.go(Input::EffectDone {
        key: "merged".into(),
        result: EffectResult::Merged {
            sha: "merge1".into(),
        },
    });
    let correlation = actions(&effects)
        .iter()
        .find_map(|a| match a {
            Action::CreateDeployment { correlation, .. } => Some(correlation.clone()),
            _ => None,
        })
        .expect("the production deployment");
    w.go(Input::EffectDone {
        key: "cd-prod".into(),
        result: EffectResult::DeploymentCreated {
            correlation: correlation.clone(),
            deployment_id: 11,
        },
    });
    correlation
}

/// GitHub's answer to the search for the environment's last good deployment.
pub(super) fn rollback_target_is(w: &mut World, environment: &str, sha: Option<&str>) -> Outputs {
    w.go(Input::EffectDone {
        key: "target".into(),
        result: EffectResult::RollbackTarget {
            environment: Environment::parse(environment).expect("an environment"),
            sha: sha.map(str::to_owned),
        },
    })
}

/// GitHub created the rollback's deployment; returns its correlation and the effects.
pub(super) fn rollback_created(w: &mut World, deployment_id: u64) -> (String, Outputs) {
    let correlation =
        w.p.deploys
            .iter()
            .rev()
            .find(|d| d.rollback_reason.is_some())
            .map(|d| d.correlation.clone())
            .expect("a rollback deploy");
    let effects = w.go(Input::EffectDone {
        key: "cd-rb".into(),
        result: EffectResult::DeploymentCreated {
            correlation: correlation.clone(),
            deployment_id,
        },
    });
    (correlation, effects)
}
