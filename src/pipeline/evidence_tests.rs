//! Core tests for evidence from the workflows: which run a verified token may report for,
//! how reports merge, and how the tests gate judges the thresholds (and who hears of it).

use super::config::LoadedConfig;
use super::evidence::{Refusal, Target, admit, percent, shortfalls};
use super::gates::tests_gate;
use super::model::*;
use super::tests::*;

const HEAD: &str = "aaa111";

/// A pipeline in review with its tests run dispatched (and known as run 501), under `cfg`.
fn tested(cfg: &str) -> (World, String) {
    let (mut w, _) = World::with_config(COMPLETE, LoadedConfig::load(None, Some(cfg)));
    w.advance_to_development();
    let effects = w.pr(PullAction::Opened, HEAD);
    let correlation = dispatches(&effects)[0].2.clone();
    let report = w.own_run(&correlation, 501, "in_progress", None);
    w.go(Input::WorkflowRun(report));
    (w, correlation)
}

fn claims(w: &World) -> RunClaims {
    let branch = &w.p.runs[0].git_ref;
    RunClaims {
        repository: "acme/widgets".into(),
        run_id: 501,
        run_attempt: 1,
        sha: HEAD.into(),
        git_ref: format!("refs/heads/{branch}"),
        workflow_ref: format!("acme/widgets/.github/workflows/tests.yml@refs/heads/{branch}"),
        event_name: "workflow_dispatch".into(),
    }
}

fn coverage(hundredths: u32) -> Evidence {
    Evidence {
        coverage_hundredths: Some(hundredths),
        ..Evidence::default()
    }
}

fn reported(w: &mut World, claims: RunClaims, report: Evidence) -> Outputs {
    w.go(Input::Evidence {
        claims,
        correlation: None,
        report,
    })
}

#[test]
fn a_token_reports_only_for_the_run_it_was_issued_to_at_the_commit_it_was_sent_for() {
    let (w, correlation) = tested("tests:\n  min_coverage: 80\n");
    let ok = claims(&w);
    assert_eq!(
        admit(&w.p, "deploy.yml", &ok, Some(&correlation)),
        Ok(Target::Test(0))
    );
    let refused = |edit: &dyn Fn(&mut RunClaims), named: Option<&str>| {
        let mut c = ok.clone();
        edit(&mut c);
        admit(&w.p, "deploy.yml", &c, named).map_err(|Refusal { claim, .. }| claim)
    };
    assert_eq!(
        refused(&|c| c.repository = "acme/other".into(), None),
        Err("repository")
    );
    assert_eq!(refused(&|c| c.run_id = 502, None), Err("run_id"));
    assert_eq!(
        refused(&|_| {}, Some("REQ-12-t99")),
        Err("run_id"),
        "another run's report"
    );
    assert_eq!(
        refused(&|c| c.event_name = "push".into(), None),
        Err("event_name")
    );
    assert_eq!(refused(&|c| c.sha = "bbb222".into(), None), Err("sha"));
    assert_eq!(
        refused(&|c| c.git_ref = "refs/heads/main".into(), None),
        Err("ref")
    );
    assert_eq!(
        refused(
            &|c| c.workflow_ref = c.workflow_ref.replace("tests.yml", "evil.yml"),
            None
        ),
        Err("workflow_ref")
    );
    assert_eq!(
        refused(
            &|c| c.workflow_ref = c.workflow_ref.replace("acme/widgets/", "acme/other/"),
            None
        ),
        Err("workflow_ref"),
        "a reusable workflow of another repository"
    );
}

#[test]
fn reports_of_one_attempt_merge_and_a_later_attempt_replaces_them() {
    let (mut w, _) = tested("tests:\n  min_coverage: 80\n");
    let c = claims(&w);
    let tests = Evidence {
        tests: Some(TestCounts {
            passed: 10,
            failed: 0,
            skipped: 1,
        }),
        ..Evidence::default()
    };
    let effects = reported(&mut w, c.clone(), tests);
    assert!(
        effects
            .audit
            .iter()
            .any(|a| a.action == "evidence" && a.actor == "run 501"),
        "audited: {:?}",
        effects.audit
    );
    reported(&mut w, c.clone(), coverage(8_150));
    let kept = w.p.runs[0].evidence.clone().unwrap();
    assert_eq!(kept.tests.unwrap().passed, 10, "kept from the first report");
    assert_eq!(kept.coverage_hundredths, Some(8_150));
    let second = RunClaims {
        run_attempt: 2,
        ..c.clone()
    };
    reported(&mut w, second, coverage(7_000));
    let kept = w.p.runs[0].evidence.clone().unwrap();
    assert_eq!(
        (kept.attempt, kept.tests),
        (2, None),
        "a re-run starts afresh"
    );
    // The first attempt's token cannot speak any more.
    reported(&mut w, c, coverage(9_999));
    assert_eq!(
        w.p.runs[0].evidence.as_ref().unwrap().coverage_hundredths,
        Some(7_000)
    );
}

#[test]
fn the_tests_gate_holds_until_the_evidence_meets_the_thresholds() {
    let (mut w, correlation) =
        tested("tests:\n  min_coverage: 80\n  max_findings: { critical: 0, high: 1 }\n");
    let c = claims(&w);
    reported(
        &mut w,
        c.clone(),
        Evidence {
            coverage_hundredths: Some(7_925),
            findings: Some(Findings {
                critical: 0,
                high: 2,
                medium: 9,
                low: 9,
            }),
            ..Evidence::default()
        },
    );
    let gate = tests_gate(&w.p, &w.cfg, HEAD);
    assert!(
        !gate.passed && !gate.failed,
        "a run still going may yet report: {gate:?}"
    );
    let effects = w.run_done(&correlation, 501, "success");
    let gate = tests_gate(&w.p, &w.cfg, HEAD);
    assert!(gate.failed, "{gate:?}");
    assert!(
        gate.state.contains("coverage 79.25 % is under 80 %"),
        "{}",
        gate.state
    );
    assert!(
        gate.state.contains("2 high findings (at most 1)"),
        "{}",
        gate.state
    );
    assert!(!gate.state.contains("critical finding"), "{}", gate.state);
    let readiness = super::gates::evaluate(&w.p, &w.cfg).readiness;
    assert!(
        readiness
            .missing
            .iter()
            .any(|m| m.starts_with("tests −25 (coverage 79.25 % is under 80 %")),
        "{readiness:?}"
    );
    let told: Vec<&str> = effects
        .notifications
        .iter()
        .filter(|n| n.event == "tests")
        .map(|n| n.text.as_str())
        .collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0].contains("tests failed") && told[0].contains("79.25 %"),
        "{told:?}"
    );
    // An admin's skip lets it through; nothing else does.
    w.comment(
        actor("owner", Access::Admin),
        "/skip tests scanner is wrong, see #4",
    );
    assert!(tests_gate(&w.p, &w.cfg, HEAD).passed);
}

#[test]
fn a_succeeded_run_without_the_evidence_its_thresholds_need_says_so() {
    let (mut w, correlation) = tested("tests:\n  min_coverage: 80\n");
    w.run_done(&correlation, 501, "success");
    let gate = tests_gate(&w.p, &w.cfg, HEAD);
    assert!(gate.failed);
    assert!(
        gate.state
            .contains("no coverage reported by `tests.yml` run 501"),
        "{}",
        gate.state
    );
    // Without thresholds, a run that reports nothing passes as before, and findings are
    // limits on what is reported, not a demand for a scan.
    let (mut w, correlation) = tested("trigger_label: feature\n");
    w.run_done(&correlation, 501, "success");
    assert!(tests_gate(&w.p, &w.cfg, HEAD).passed);
}

#[test]
fn coverage_is_the_lowest_any_run_reports_and_findings_add_up() {
    let (w, _) = tested("tests:\n  min_coverage: 80\n");
    let run = |coverage: Option<u32>, high: u64| TestRun {
        evidence: Some(Evidence {
            attempt: 1,
            coverage_hundredths: coverage,
            findings: Some(Findings {
                high,
                ..Findings::default()
            }),
            ..Evidence::default()
        }),
        ..w.p.runs[0].clone()
    };
    let (a, b) = (run(Some(9_500), 0), run(Some(7_900), 1));
    let short = shortfalls(&[&a, &b], &w.cfg.config.tests);
    assert_eq!(
        short,
        vec!["coverage 79 % is under 80 %", "1 high finding (at most 0)"]
    );
    let (a, b) = (run(None, 0), run(Some(8_000), 0));
    assert!(shortfalls(&[&a, &b], &w.cfg.config.tests).is_empty());
}

#[test]
fn percentages_read_as_people_write_them() {
    assert_eq!(percent(8_421), "84.21 %");
    assert_eq!(percent(8_420), "84.2 %");
    assert_eq!(percent(8_400), "84 %");
    assert_eq!(percent(5), "0.05 %");
    assert_eq!(percent(10_000), "100 %");
}

#[test]
fn a_finished_attempt_cannot_report_and_an_earlier_attempts_evidence_does_not_speak_for_a_rerun() {
    let (mut w, correlation) = tested("tests:\n  min_coverage: 80\n");
    let c = claims(&w);
    reported(&mut w, c, coverage(9_000));
    w.run_done(&correlation, 501, "failure");
    let late = admit(&w.p, "deploy.yml", &claims(&w), None);
    assert_eq!(late.map_err(|r| r.claim), Err("run_attempt"));
    // A re-run in GitHub: the same run id, attempt 2, which reports nothing.
    let mut rerun = w.own_run(&correlation, 501, "completed", Some("success"));
    rerun.attempt = 2;
    w.go(Input::WorkflowRun(rerun));
    let gate = tests_gate(&w.p, &w.cfg, HEAD);
    assert!(
        gate.failed && gate.state.contains("no coverage reported"),
        "attempt 1's 90 % does not count for attempt 2: {}",
        gate.state
    );
}
