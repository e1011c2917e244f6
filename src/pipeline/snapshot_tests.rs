//! What people read, as snapshots: the status comment, the check runs (title, summary,
//! buttons), `/status`, `/help`, every refusal, the closing summary and the incident issue.
//! A deliberate change of wording shows here as a diff to review (`cargo insta review`);
//! an accidental one fails.

use insta::assert_snapshot;

use super::governance_tests::{
    production_dispatched, production_probe, rollback_created, rollback_target_is,
    watching_production,
};
use super::model::*;
use super::tests::*;
use super::views::{self, CheckRunView};

/// A check run as GitHub shows it: status, title, buttons, then the summary.
fn shown(v: &CheckRunView) -> String {
    let buttons: Vec<String> = v
        .actions
        .iter()
        .map(|b| format!("[{}] ({}: {})", b.label(), b.identifier(), b.description()))
        .collect();
    format!(
        "{} / {}\n# {}\nbuttons: {}\n\n{}",
        v.status,
        v.conclusion.unwrap_or("-"),
        v.title,
        if buttons.is_empty() {
            "none".to_owned()
        } else {
            buttons.join(" ")
        },
        v.summary
    )
}

/// The one reply a step posted.
fn reply(effects: &Outputs) -> String {
    let all = replies(effects);
    assert_eq!(all.len(), 1, "{all:?}");
    all[0].to_owned()
}

fn releaser() -> Actor {
    actor("releaser", Access::Write)
}

#[test]
fn status_comment_at_intake_says_what_the_requirement_lacks() {
    let (w, _) = World::new("Just an idea");
    assert_snapshot!(views::status_comment(&w.p, &w.cfg), @"
    <!-- shipgate:status pipeline=7 -->
    ### shipgate · **REQ-12** · phase **intake**

    **Waiting for:** @pm to add a `## Acceptance criteria` section to the issue

    **Readiness:** 0/100 (requirement −10, plan −10, review −25, tests −25, staging deploy −15, staging health −15 (no health check configured))

    | gate | state |
    |---|---|
    | ⏳ Requirement | missing section: `Acceptance criteria` |
    | ⏳ Plan | 0 tasks |
    | ⏳ Branch | `feature/REQ-12-export-invoices` once the plan is approved |
    | ⏳ Pull request | none yet |

    <sub>Commands: `/approve`, `/approve production`, `/reject`, `/pause`, `/resume`, `/retry`, `/deploy staging`, `/rollback`, `/stop`, `/block`, `/unblock`, `/skip`, `/priority`, `/status`, `/help`.</sub>
    ");
}

#[test]
fn status_comment_and_check_run_in_review() {
    let (mut w, _) = World::new(COMPLETE);
    w.advance_to_development();
    w.pr(PullAction::Opened, "aaa111");
    assert_snapshot!(views::status_comment(&w.p, &w.cfg), @"
    <!-- shipgate:status pipeline=7 -->
    ### shipgate · **REQ-12** · phase **review**

    **Waiting for:** 1 more approving review of `aaa111` from someone with write access other than @dev; `tests.yml` to finish on `aaa111`

    **Readiness:** 20/100 (review −25, tests −25, staging deploy −15, staging health −15 (no health check configured))

    | gate | state |
    |---|---|
    | ✅ Requirement | approved by @lead (/approve) |
    | ✅ Plan | approved by @lead (/approve plan) |
    | ⏳ Branch | creating `feature/REQ-12-export-invoices` |
    | ✅ Pull request | #30 by @dev, head `aaa111` |
    | ⏳ Review | 0/1 approvals at `aaa111` |
    | ⏳ Tests | `tests.yml` ⏳ running on `aaa111` |

    **Tasks**
    - [ ] parse
    - [ ] route

    <sub>Commands: `/approve`, `/approve production`, `/reject`, `/pause`, `/resume`, `/retry`, `/deploy staging`, `/rollback`, `/stop`, `/block`, `/unblock`, `/skip`, `/priority`, `/status`, `/help`.</sub>
    ");
    assert_snapshot!(shown(&views::check_run(&w.p, &w.cfg, "aaa111")), @"
    in_progress / -
    # 3 gates open
    buttons: [Deploy staging] (deploy_staging: Deploy the PR's head to staging now)

    **REQ-12** · phase **review**

    **Waiting for:** 1 more approving review of `aaa111` from someone with write access other than @dev; `tests.yml` to finish on `aaa111`

    **Readiness:** 20/100 (review −25, tests −25, staging deploy −15, staging health −15 (no health check configured))

    | gate | state |
    |---|---|
    | ✅ Requirement | approved by @lead (/approve) |
    | ✅ Plan | approved by @lead (/approve plan) |
    | ⏳ Branch | creating `feature/REQ-12-export-invoices` |
    | ✅ Pull request | #30 by @dev, head `aaa111` |
    | ⏳ Review | 0/1 approvals at `aaa111` |
    | ⏳ Tests | `tests.yml` ⏳ running on `aaa111` |
    ");
}

#[test]
fn readiness_offers_production_approval_and_status_answers() {
    let (mut w, _) = World::new(COMPLETE);
    deployed_to_staging(&mut w);
    assert_snapshot!(shown(&views::check_run(&w.p, &w.cfg, "aaa111")), @"
    in_progress / -
    # Staging deployed — waiting for production approval
    buttons: [Approve prod] (approve_prod: Merge, then deploy to production)

    **REQ-12** · phase **readiness**

    **Waiting for:** production approval: `/approve production` or the check run's **Approve prod** button, by someone with write access other than @dev

    **Readiness:** 85/100 (staging health −15 (no health check configured))

    | gate | state |
    |---|---|
    | ✅ Requirement | approved by @lead (/approve) |
    | ✅ Plan | approved by @lead (/approve plan) |
    | ⏳ Branch | creating `feature/REQ-12-export-invoices` |
    | ✅ Pull request | #30 by @dev, head `aaa111` |
    | ✅ Review | 1/1 approvals at `aaa111` (@reviewer) |
    | ✅ Tests | `tests.yml` ✅ passed ([run](https://github.test/runs/501)) on `aaa111` |
    | ✅ Staging | `aaa111` deployed ([run](https://github.test/runs/77)); no health check configured: healthy when the deploy run succeeds |
    | ⏳ Production approval | waiting for a release approver |
    ");
    let effects = w.comment(lead(), "/status");
    assert_snapshot!(reply(&effects), @"
    @lead: **REQ-12** · phase **readiness**

    **Waiting for:** production approval: `/approve production` or the check run's **Approve prod** button, by someone with write access other than @dev

    | gate | state |
    |---|---|
    | ✅ Requirement | approved by @lead (/approve) |
    | ✅ Plan | approved by @lead (/approve plan) |
    | ⏳ Branch | creating `feature/REQ-12-export-invoices` |
    | ✅ Pull request | #30 by @dev, head `aaa111` |
    | ✅ Review | 1/1 approvals at `aaa111` (@reviewer) |
    | ✅ Tests | `tests.yml` ✅ passed ([run](https://github.test/runs/501)) on `aaa111` |
    | ✅ Staging | `aaa111` deployed ([run](https://github.test/runs/77)); no health check configured: healthy when the deploy run succeeds |
    | ⏳ Production approval | waiting for a release approver |
    ");
    let effects = w.comment(releaser(), "/approve production");
    assert_snapshot!(reply(&effects), @"@releaser: 🚀 Production approved: merging #30, then deploying it to production.");
}

#[test]
fn help_lists_every_command() {
    let (mut w, _) = World::new(COMPLETE);
    let effects = w.comment(lead(), "/help");
    assert_snapshot!(reply(&effects), @r"
    @lead: shipgate's commands:

    | command | effect |
    |---|---|
    | `/approve [requirement\|plan\|production]` | approves what the pipeline waits for (write access, never a bot; production: not the PR's author nor anyone who changed its code or skipped a gate) |
    | `/reject [reason]` | rejects the feature; nothing more is dispatched |
    | `/pause`, `/resume` | holds / releases dispatches |
    | `/retry [tests\|staging\|merge\|production]` | re-runs failed tests on the head SHA, or a failed stage |
    | `/retry task <n>` | dispatches a development task that failed on every workflow again, from the first |
    | `/deploy staging` | deploys the PR's head to staging now (write access) |
    | `/rollback [reason]` | redeploys the environment's last good SHA (production: `approvers.production` if set) |
    | `/stop` | cancels the pipeline's runs in flight; during a production deploy or its monitoring also rolls production back (so it takes `approvers.production`, as `/rollback` does), otherwise the pipeline is `stopped` |
    | `/block <reason>`, `/unblock` | nothing advances while blocked; the status comment lists each blocker |
    | `/skip <gate> <reason>` | admins only: lets an open `requirement`, `plan`, `review`, `tests` or `staging` gate through, on the record; the skipper cannot approve production |
    | `/skip task <n> <reason>` | admins only: a development task counts as done for the tasks that wait for it, on the record |
    | `/priority low\|medium\|high\|critical` | recorded, shown in the status comment and check run |
    | `/status`, `/help` | answers with the gates / the command list |

    One per line, on a line of its own as GitHub shows it (not in code, quotes, lists or HTML); the check run's buttons do what their command does.
    ");
}

#[test]
fn refusals_say_why() {
    let (mut w, _) = World::new(COMPLETE);
    // Before anything is decided: unknown, malformed, and not allowed.
    let effects = w.comment(
        reader(),
        "/frobnicate\n/deploy production\n/approve\n/skip tests flaky\n/retry nothing\n/unblock",
    );
    assert_snapshot!(reply(&effects), @"
    @visitor: `/frobnicate` is not a shipgate command; `/help` lists them.

    `/deploy` only `/deploy staging` exists; production needs `/approve production`.

    `/approve` refused: @visitor cannot approve the requirement: it needs write access to the repository (they have read access).

    `/skip tests` refused: @visitor cannot skip a gate: it takes admin access to the repository (they have read access).

    `/retry nothing` refused: @visitor cannot retry: it needs write access to the repository (they have read access).

    `/unblock` refused: @visitor cannot unblock: it needs write access to the repository (they have read access).
    ");
    let effects = w.comment(
        lead(),
        "/approve production\n/unblock\n/resume\n/retry\n/skip tests flaky",
    );
    assert_snapshot!(reply(&effects), @"
    @lead: `/approve production` refused: production is approved once staging is healthy, and the pipeline is in intake; not passed yet: Requirement (complete, waiting for approval); Plan (2 tasks); Pull request (none yet).

    `/unblock` refused: the pipeline is not blocked.

    `/resume` refused: the pipeline is not paused.

    `/retry` refused: nothing has failed.

    `/skip tests` refused: @lead cannot skip a gate: it takes admin access to the repository (they have maintain access).
    ");
    // In readiness: the PR's author and a reader cannot release; a stale button.
    deployed_to_staging(&mut w);
    let effects = w.comment(actor("dev", Access::Admin), "/approve production");
    assert_snapshot!(reply(&effects), @"@dev: `/approve production` refused: @dev opened #30; a pull request's author cannot approve its production deploy.");
    let effects = w.go(Input::Button {
        delivery: "b1".into(),
        identifier: "approve_prod".into(),
        on: 30,
        sha: "old0000".into(),
        actor: releaser(),
    });
    assert_snapshot!(reply(&effects), @"@releaser: that button is on the check run of `old0000`, which the pipeline has moved on from; use the one on `aaa111`.");
}

#[test]
fn done_closes_with_a_summary_and_the_merge_commits_check_run() {
    let (mut w, _) = World::new(COMPLETE);
    deployed_to_staging(&mut w);
    let correlation = production_dispatched(&mut w);
    let effects = w.run_done(&correlation, 88, "success");
    assert_eq!(w.p.phase, Phase::Done);
    assert_snapshot!(reply(&effects), @"
    🚀 **REQ-12 is in production.** `merge1` (feat(REQ-12): Export invoices (#30)) is deployed: deploy succeeded (no health check configured).

    **Lead time:** 13s from the `feature` label to a healthy production.

    | phase | entered | time in phase |
    |---|---|---|
    | intake | 1970-01-01 00:00:01 UTC | 2s |
    | planning | 1970-01-01 00:00:03 UTC | 1s |
    | development | 1970-01-01 00:00:04 UTC | 1s |
    | review | 1970-01-01 00:00:05 UTC | 2s |
    | staging | 1970-01-01 00:00:07 UTC | 3s |
    | readiness | 1970-01-01 00:00:10 UTC | 1s |
    | production | 1970-01-01 00:00:11 UTC | 3s |
    | done | 1970-01-01 00:00:14 UTC | — |

    **Approved:** requirement by @lead (/approve), plan by @lead (/approve plan), production by @releaser (/approve production), review by @reviewer.

    **Runs and deployments** (#30)
    - `tests.yml` on `aaa111`: success ([run](https://github.test/runs/501))
    - staging deploy of `aaa111`: succeeded ([run](https://github.test/runs/77)), [deployment 9](https://github.test/acme/widgets/deployments/staging)
    - production deploy of `merge1`: succeeded ([run](https://github.test/runs/88)), [deployment 11](https://github.test/acme/widgets/deployments/production)
    ");
    assert_snapshot!(shown(&views::check_run(&w.p, &w.cfg, "merge1")), @"
    completed / success
    # In production — healthy
    buttons: [Rollback] (rollback: Redeploy the last good version)

    **REQ-12** · phase **done**

    **Waiting for:** nothing: the feature is in production

    **Readiness:** 85/100 (staging health −15 (no health check configured))

    | gate | state |
    |---|---|
    | ✅ Requirement | approved by @lead (/approve) |
    | ✅ Plan | approved by @lead (/approve plan) |
    | ⏳ Branch | creating `feature/REQ-12-export-invoices` |
    | ✅ Pull request | #30 by @dev merged as `merge1` |
    | ✅ Review | 1/1 approvals at `aaa111` (@reviewer) |
    | ✅ Tests | `tests.yml` ✅ passed ([run](https://github.test/runs/501)) on `aaa111` |
    | ✅ Staging | `aaa111` deployed ([run](https://github.test/runs/77)); no health check configured: healthy when the deploy run succeeds |
    | ✅ Production approval | approved by @releaser (/approve production) |
    | ✅ Merge | `merge1` — feat(REQ-12): Export invoices (#30) |
    | ✅ Production | `merge1` deployed ([run](https://github.test/runs/88)); no health check configured: healthy when the deploy run succeeds |
    ");
    assert_snapshot!(views::status_comment(&w.p, &w.cfg), @"
    <!-- shipgate:status pipeline=7 -->
    ### shipgate · **REQ-12** · phase **done**

    **Waiting for:** nothing: the feature is in production

    **Readiness:** 85/100 (staging health −15 (no health check configured))

    | gate | state |
    |---|---|
    | ✅ Requirement | approved by @lead (/approve) |
    | ✅ Plan | approved by @lead (/approve plan) |
    | ⏳ Branch | creating `feature/REQ-12-export-invoices` |
    | ✅ Pull request | #30 by @dev merged as `merge1` |
    | ✅ Review | 1/1 approvals at `aaa111` (@reviewer) |
    | ✅ Tests | `tests.yml` ✅ passed ([run](https://github.test/runs/501)) on `aaa111` |
    | ✅ Staging | `aaa111` deployed ([run](https://github.test/runs/77)); no health check configured: healthy when the deploy run succeeds |
    | ✅ Production approval | approved by @releaser (/approve production) |
    | ✅ Merge | `merge1` — feat(REQ-12): Export invoices (#30) |
    | ✅ Production | `merge1` deployed ([run](https://github.test/runs/88)); no health check configured: healthy when the deploy run succeeds |

    **Tasks**
    - [ ] parse
    - [ ] route

    <sub>Commands: `/approve`, `/approve production`, `/reject`, `/pause`, `/resume`, `/retry`, `/deploy staging`, `/rollback`, `/stop`, `/block`, `/unblock`, `/skip`, `/priority`, `/status`, `/help`.</sub>
    ");
}

#[test]
fn a_production_rollback_opens_an_incident_issue() {
    let mut w = watching_production(40);
    for i in 0..3 {
        production_probe(&mut w, false, 7, &format!("x{i}"));
    }
    rollback_target_is(&mut w, "production", Some("good000"));
    let (_, effects) = rollback_created(&mut w, 13);
    let (title, body) = actions(&effects)
        .into_iter()
        .find_map(|a| match a {
            Action::OpenIncident { title, body, .. } => Some((title.clone(), body.clone())),
            _ => None,
        })
        .expect("an incident issue");
    assert_snapshot!(format!("# {title}\n\n{body}"), @"
    # Incident: production rolled back — REQ-12 Export invoices

    <!-- shipgate:incident pipeline=7 rollback=39000 -->
    ## production rolled back: REQ-12 “Export invoices”

    **Trigger:** 3 health probes of https://p.example.com/h failed in a row: answered 502 after 7 ms, answered 502 after 7 ms, answered 502 after 7 ms

    **Started by:** shipgate · **Feature:** #12 · **Pull request:** #30 by @dev

    **Rolling back:** production from `merge1` to `good000`, its last good deployment; the outcome is added here.

    ### Timeline

    | when (UTC) | what |
    |---|---|
    | 1970-01-01 00:00:01 UTC | phase **intake** |
    | 1970-01-01 00:00:03 UTC | phase **planning** |
    | 1970-01-01 00:00:04 UTC | phase **development** |
    | 1970-01-01 00:00:05 UTC | phase **review** |
    | 1970-01-01 00:00:07 UTC | phase **staging** |
    | 1970-01-01 00:00:07 UTC | staging deploy of `aaa111` started |
    | 1970-01-01 00:00:10 UTC | staging deploy of `aaa111` succeeded |
    | 1970-01-01 00:00:32 UTC | phase **readiness** |
    | 1970-01-01 00:00:33 UTC | phase **production** |
    | 1970-01-01 00:00:34 UTC | production deploy of `merge1` started |
    | 1970-01-01 00:00:36 UTC | production deploy of `merge1` succeeded |
    | 1970-01-01 00:00:39 UTC | rollback started by shipgate |
    | 1970-01-01 00:00:40 UTC | production rollback of `good000` started |

    ### Health of `merge1`

    3 of 3 probes of https://p.example.com/h failed; the latest:

    - 1970-01-01 00:00:37 UTC: answered 502 after 7 ms
    - 1970-01-01 00:00:38 UTC: answered 502 after 7 ms
    - 1970-01-01 00:00:39 UTC: answered 502 after 7 ms

    ### Runs and deployments

    - staging deploy of `aaa111`: succeeded ([run](https://github.test/runs/77)), [deployment 9](https://github.test/acme/widgets/deployments/staging)
    - production deploy of `merge1`: succeeded ([run](https://github.test/runs/88)), [deployment 11](https://github.test/acme/widgets/deployments/production)
    - production rollback of `good000`: running, [deployment 13](https://github.test/acme/widgets/deployments/production)
    ");
    let merge = w.p.merge_sha().expect("merged").to_owned();
    assert_snapshot!(shown(&views::check_run(&w.p, &w.cfg, &merge)), @"
    in_progress / -
    # Deploying `good000` to production
    buttons: none

    **REQ-12** · phase **production**

    **Waiting for:** the production deploy of `good000` to finish; the production rollback

    **Readiness:** 100/100

    | gate | state |
    |---|---|
    | ✅ Requirement | approved by @lead (/approve) |
    | ✅ Plan | approved by @lead (/approve plan) |
    | ⏳ Branch | creating `feature/REQ-12-export-invoices` |
    | ✅ Pull request | #30 by @dev merged as `merge1` |
    | ✅ Review | 1/1 approvals at `aaa111` (@reviewer) |
    | ✅ Tests | `tests.yml` ✅ passed ([run](https://github.test/runs/501)) on `aaa111` |
    | ✅ Staging | `aaa111` deployed ([run](https://github.test/runs/77)); healthy for 20s: 2 of 2 probes of https://s.example.com/h ok; last 200 in 40 ms |
    | ✅ Production approval | approved by @releaser (/approve production) |
    | ✅ Merge | `merge1` — feat(REQ-12): Export invoices (#30) |
    | ⏳ Production | deploying `good000` |
    | ⏳ Rollback | rolling production back to `good000`: 3 health probes of https://p.example.com/h failed in a row: answered 502 after 7 ms, answered 502 after 7 ms, answered 502 after 7 ms |
    ");
}

/// Every reply, refusal and protection-rule verdict shipgate can say, once each with sample
/// values (drawn from a pipeline in readiness): the whole wording, reviewable in one place.
#[test]
fn every_reply_refusal_and_verdict_as_written() {
    use super::commands::{ApproveTarget, Command};
    use super::gates;
    use super::views::{failures as f, refusals as r, replies as y, verdict as v};

    let (mut w, _) = World::new(COMPLETE);
    deployed_to_staging(&mut w);
    let p = &w.p;
    let pr = p.pr.clone().expect("a PR");
    let other = PullRequest {
        number: 31,
        author: "contractor".into(),
        from_fork: true,
        ..pr.clone()
    };
    let deploy = p
        .current_deploy(Environment::Staging)
        .expect("deployed")
        .clone();
    let report = gates::evaluate(p, &w.cfg);
    let open: Vec<&gates::Gate> = report.gates.iter().filter(|g| !g.passed).take(2).collect();
    let unpassed: Vec<gates::Gate> = vec![gates::review_gate_unskipped(p, &w.cfg, "bbb222")];
    let approve = Command::Approve(ApproveTarget::Production);
    let list = vec!["releaser".to_owned(), "@acme/release".to_owned()];
    let rollback = RollbackRecord {
        environment: Environment::Production,
        reason: "3 health probes failed in a row".into(),
        by: "shipgate".into(),
        at: 1,
        from_sha: "bad0000".into(),
        from_deployment: Some(11),
        to_sha: Some("good000".into()),
        done: true,
        answer_on: None,
        trigger: Some(RollbackTrigger::Health),
    };
    let blocker = Rejection {
        by: "lead".into(),
        reason: Some("legal review".into()),
        at: 1,
    };
    let probe = |ok: bool, ms: u64| ProbeRecord {
        at: 1,
        ok,
        status: Some(if ok { 200 } else { 503 }),
        latency_ms: ms,
        error: (!ok).then(|| "answered 503".to_owned()),
    };
    let watch = HealthWatch {
        environment: Environment::Production,
        sha: "merge1".into(),
        url: "https://p.example.com/health".into(),
        started_at: 1,
        until: 60_001,
        total: 3,
        failed: 2,
        consecutive_failures: 2,
        consecutive_slow: 0,
        recent: vec![probe(true, 9), probe(false, 4), probe(false, 5)],
        outcome: None,
    };
    let approval = Approval {
        by: "releaser".into(),
        at: 1,
        via: "/approve production".into(),
    };
    let lines = [
        ("refused", r::refused(&approve, "the pipeline is in review")),
        ("unknown_command", r::unknown_command("frobnicate")),
        ("too_many_commands", r::too_many_commands(10)),
        (
            "malformed",
            r::malformed("deploy", "only `/deploy staging` exists"),
        ),
        ("pipeline_over", r::pipeline_over(&approve, Phase::Done)),
        (
            "bots_never_decide",
            r::bots_never_decide("ci-bot[bot]", "approve the plan"),
        ),
        (
            "only_admins_while_config_broken",
            r::only_admins_while_config_broken("lead", "approve the plan"),
        ),
        (
            "needs_write_access",
            r::needs_write_access("visitor", "retry", Access::Read),
        ),
        (
            "not_an_approver",
            r::not_an_approver("lead", "approve production", "production", &list),
        ),
        ("nothing_to_approve", r::nothing_to_approve(Phase::Review)),
        ("already (pause)", r::already(true)),
        ("already (resume)", r::already(false)),
        ("no_such_stage", r::no_such_stage("lint")),
        ("not_blocked", r::not_blocked()),
        ("nothing_failed", r::nothing_failed()),
        ("stale_button", r::stale_button("old0000", Some("aaa111"))),
        ("unknown_button", r::unknown_button("ship_it")),
        (
            "requirement_already_approved",
            r::requirement_already_approved(),
        ),
        ("pipeline_is", r::pipeline_is(Phase::Planning)),
        ("gates_hold_config_broken", r::gates_hold_config_broken()),
        (
            "requirement_incomplete",
            r::requirement_incomplete(&["Acceptance criteria".into(), "Risks".into()]),
        ),
        ("approve_requirement_first", r::approve_requirement_first()),
        ("plan_already_approved", r::plan_already_approved()),
        (
            "plan_gates_hold_config_broken",
            r::plan_gates_hold_config_broken(),
        ),
        (
            "skip_needs_admin",
            r::skip_needs_admin("lead", Access::Maintain),
        ),
        ("no_such_gate", r::no_such_gate("lint")),
        ("nothing_left_to_skip", r::nothing_left_to_skip()),
        ("staging_rolling_back", r::staging_rolling_back()),
        ("skip_on_a_fork", r::skip_on_a_fork(31, "tests")),
        (
            "no_pull_request_to_skip",
            r::no_pull_request_to_skip("review"),
        ),
        ("already_skipped", r::already_skipped("tests")),
        ("gate_passed", r::gate_passed("review")),
        (
            "production_already_approved",
            r::production_already_approved("releaser"),
        ),
        (
            "production_not_yet",
            r::production_not_yet(Phase::Review, &open),
        ),
        ("gates_must_pass", r::gates_must_pass(&open)),
        ("no_pull_request_yet", r::no_pull_request_yet()),
        ("author_cannot_release", r::author_cannot_release("dev", 30)),
        (
            "committer_cannot_release",
            r::committer_cannot_release("late-fixer", 30),
        ),
        (
            "skipper_cannot_release",
            r::skipper_cannot_release("owner", GateKind::Tests),
        ),
        (
            "only_staging_by_command",
            r::only_staging_by_command(Environment::Production),
        ),
        (
            "no_staging_deploy_now",
            r::no_staging_deploy_now(Phase::Planning),
        ),
        ("paused_resume_first", r::paused_resume_first()),
        ("no_open_pull_request", r::no_open_pull_request()),
        ("fork_never_deployed", r::fork_never_deployed(31)),
        (
            "staging_deploy_under_way",
            r::staging_deploy_under_way(&deploy.sha),
        ),
        (
            "nothing_to_roll_back",
            r::nothing_to_roll_back(Phase::Review),
        ),
        ("rollback_under_way", r::rollback_under_way()),
        (
            "nothing_deployed_to",
            r::nothing_deployed_to(Environment::Production),
        ),
        (
            "no_earlier_deployment",
            r::no_earlier_deployment(Environment::Staging),
        ),
        (
            "committer_cannot_review",
            r::committer_cannot_review("dev", 30),
        ),
        ("to", y::to("lead", "🚀 …")),
        (
            "stage_failed",
            y::stage_failed(Stage::Tests, "could not dispatch `tests.yml`: 422"),
        ),
        ("production_approved", y::production_approved(30, false)),
        (
            "production_approved (paused)",
            y::production_approved(30, true),
        ),
        ("paused", y::paused(true)),
        ("resumed", y::paused(false)),
        ("blocked", y::blocked("legal review")),
        ("unblocked", y::unblocked()),
        ("priority_set", y::priority_set("high")),
        (
            "label_removed",
            y::label_removed("approved", "@visitor cannot approve the requirement"),
        ),
        (
            "skipped",
            y::skipped("tests", " at `aaa111`", "owner", "flaky runner", &p.name()),
        ),
        ("deploying_staging", y::deploying_staging(&deploy.sha)),
        ("rolling_back", y::rolling_back(Environment::Production)),
        (
            "rollback_refused",
            y::rollback_refused("@lead", &r::no_earlier_deployment(Environment::Production)),
        ),
        (
            "rolled_back",
            y::rolled_back(&rollback, "good000", "https://github.test/runs/90"),
        ),
        (
            "no_longer_drives",
            y::no_longer_drives(&p.name(), "#31 drives it instead"),
        ),
        (
            "does_not_drive",
            y::does_not_drive(p.issue, &p.name(), "#30 drives it"),
        ),
        ("wrong_base", y::wrong_base("#30 targets `develop`", false)),
        (
            "wrong_base (again)",
            y::wrong_base("#30 targets `develop`", true),
        ),
        ("base_fixed", y::base_fixed(&pr)),
        ("merged_outside", y::merged_outside(30)),
        (
            "approvals_stale",
            y::approvals_stale("bbb222", &["@reviewer".into()]),
        ),
        (
            "production_approval_stale",
            y::production_approval_stale("bbb222"),
        ),
        (
            "approval_not_counted",
            y::approval_not_counted("@dev authored commits of #30"),
        ),
        (
            "escalated",
            y::escalated("1d", &["@acme/product".into(), "cto".into()], 172_800),
        ),
        ("escalated (nobody)", y::escalated("1d", &[], 172_800)),
        ("plan_auto_approved", y::plan_auto_approved("3d")),
        (
            "rejected_by_timeout",
            y::rejected_by_timeout("requirement approval did not come within 2d"),
        ),
        ("incident_opened", y::incident_opened(99)),
        (
            "incident_not_opened",
            y::incident_not_opened("GitHub answered 410"),
        ),
        (
            "warning",
            y::warning("run 9001 of tests.yml was not started by shipgate; ignored"),
        ),
        ("stopped", y::stopped("cancelled 1 run", false)),
        ("stopped (production)", y::stopped("cancelled 1 run", true)),
        ("fork_refusal", y::fork_refusal(&pr)),
        ("merge_title", y::merge_title(p, &pr)),
        (
            "verdict comment",
            v::comment(&p.name(), "review and tests passed at `aaa111`"),
        ),
        (
            "verdict rejected",
            v::rejected("staging", "aaa111", 77, "REQ-12: not passed yet"),
        ),
        (
            "verdict stopped",
            v::stopped("the staging deployment of `aaa111` was rejected"),
        ),
        ("verdict branch_moved", v::branch_moved(77, "ran `ccc333`")),
        ("verdict not_dispatched", v::not_dispatched(78)),
        (
            "verdict other_environment",
            v::other_environment(Environment::Staging, "qa"),
        ),
        ("verdict superseded", v::superseded()),
        ("verdict finished", v::finished(&deploy)),
        (
            "verdict rollback",
            v::rollback("good000", "3 health probes failed in a row"),
        ),
        ("verdict blocked", v::blocked(&blocker)),
        (
            "verdict deployed_by_command",
            v::deployed_by_command("lead", &deploy.sha),
        ),
        (
            "verdict reviewed_and_tested",
            v::reviewed_and_tested(&deploy.sha),
        ),
        ("verdict not_passed", v::not_passed(&unpassed)),
        (
            "verdict production_approved",
            v::production_approved(&approval, "merge1"),
        ),
        (
            "verdict not_the_approved_merge",
            v::not_the_approved_merge("other00"),
        ),
        (
            "verdict production_not_approved",
            v::production_not_approved(),
        ),
        (
            "failed deploy_concluded",
            f::deploy_concluded(
                Environment::Staging,
                "aaa111",
                "failure",
                "https://github.test/runs/77",
            ),
        ),
        ("failed deploy_never_started", f::deploy_never_started()),
        (
            "failed deploy_silent",
            f::deploy_silent(Environment::Production, 3600, "https://github.test/runs/88"),
        ),
        (
            "failed probe_refused",
            f::probe_refused("https://10.0.0.1/health", "an internal address"),
        ),
        ("failed probes_failed", f::probes_failed(&watch, 2)),
        (
            "failed probes_slow",
            f::probes_slow(&watch, 2, 100, 5.0, 12),
        ),
        (
            "failed not_dispatched",
            f::not_dispatched("tests.yml", "GitHub answered 422"),
        ),
        (
            "failed deploy_not_started",
            f::deploy_not_started(false, "GitHub answered 422"),
        ),
        (
            "failed deploy_not_started (dispatch)",
            f::deploy_not_started(true, "GitHub answered 422"),
        ),
        (
            "failed branch_not_created",
            f::branch_not_created(&p.branch, "GitHub answered 403"),
        ),
        (
            "failed merge_refused",
            f::merge_refused(30, "Required status check is failing"),
        ),
        (
            "failed base_changed",
            f::base_changed(30, "develop", "main"),
        ),
        (
            "failed no_rollback_target",
            f::no_rollback_target(Environment::Production, "GitHub answered 502"),
        ),
        (
            "failed deploy_rejected",
            f::deploy_rejected(&deploy, "REQ-12: not passed yet"),
        ),
        (
            "failed rollback_failed",
            f::rollback_failed(&rollback, "good000", "https://github.test/runs/90"),
        ),
        (
            "failed (on the incident)",
            y::failed("the rollback deploy failed"),
        ),
        ("displaced", y::displaced(&other, &pr, &p.branch)),
        ("linked_first", y::linked_first(&pr, &other, &p.branch)),
    ];
    let catalogue: String = lines
        .iter()
        .map(|(name, text)| format!("{name}: {text}\n"))
        .collect();
    assert_snapshot!(catalogue, @"
    refused: `/approve production` refused: the pipeline is in review.
    unknown_command: `/frobnicate` is not a shipgate command; `/help` lists them.
    too_many_commands: only the first 10 commands of a comment are read; comment again for the others.
    malformed: `/deploy` only `/deploy staging` exists.
    pipeline_over: `/approve production` refused: the pipeline is done; nothing more happens.
    bots_never_decide: @ci-bot[bot] cannot approve the plan: bots and GitHub Apps never approve, whatever their access
    only_admins_while_config_broken: @lead cannot approve the plan: `.github/shipgate.yml` has errors, so who may is unknown; until they are fixed only a repository admin may
    needs_write_access: @visitor cannot retry: it needs write access to the repository (they have read access)
    not_an_approver: @lead cannot approve production: `approvers.production` allows only `releaser`, `@acme/release`
    nothing_to_approve: nothing waits for `/approve` while the pipeline is in review; the pull request is approved by a review
    already (pause): the pipeline is already paused
    already (resume): the pipeline is not paused
    no_such_stage: there is no stage `lint` to retry (try `tests`, `staging`, `merge` or `production`)
    not_blocked: the pipeline is not blocked
    nothing_failed: nothing has failed
    stale_button: that button is on the check run of `old0000`, which the pipeline has moved on from; use the one on `aaa111`.
    unknown_button: the check run's `ship_it` button is not one shipgate offers (any more).
    requirement_already_approved: the requirement is already approved
    pipeline_is: the pipeline is planning
    gates_hold_config_broken: `.github/shipgate.yml` has errors; the gates hold until they are fixed
    requirement_incomplete: the requirement is incomplete: add the `Acceptance criteria`, `Risks` sections first
    approve_requirement_first: approve the requirement first
    plan_already_approved: the plan is already approved
    plan_gates_hold_config_broken: the configuration has errors; the gates hold until they are fixed
    skip_needs_admin: @lead cannot skip a gate: it takes admin access to the repository (they have maintain access)
    no_such_gate: there is no gate `lint` to skip (try `requirement`, `plan`, `review`, `tests`, `staging`)
    nothing_left_to_skip: production is approved; there is no gate before it left to skip
    staging_rolling_back: staging is being rolled back; let the rollback finish first
    skip_on_a_fork: #31 comes from a fork: its head is never tested or deployed, so skipping its `tests` gate leads nowhere
    no_pull_request_to_skip: there is no pull request whose `review` to skip
    already_skipped: `tests` is already skipped
    gate_passed: the `review` gate has passed; there is nothing to skip
    production_already_approved: production is already approved by @releaser
    production_not_yet: production is approved once staging is healthy, and the pipeline is in review; not passed yet: Branch (creating `feature/REQ-12-export-invoices`); Production approval (waiting for a release approver)
    gates_must_pass: these gates must pass first: Branch (creating `feature/REQ-12-export-invoices`); Production approval (waiting for a release approver)
    no_pull_request_yet: there is no pull request yet
    author_cannot_release: @dev opened #30; a pull request's author cannot approve its production deploy
    committer_cannot_release: @late-fixer authored, committed or pushed commits of #30; whoever changed the code cannot approve its production deploy
    skipper_cannot_release: @owner skipped the `tests` gate; whoever skips a gate cannot also approve production
    only_staging_by_command: only `staging` is deployed by command; production follows `/approve production` (not `production`)
    no_staging_deploy_now: the pipeline is in planning; staging deploys happen between review and production
    paused_resume_first: the pipeline is paused; `/resume` first
    no_open_pull_request: there is no open pull request to deploy
    fork_never_deployed: #31 comes from a fork; shipgate never runs its code with this repository's secrets
    staging_deploy_under_way: a staging deploy of `aaa111` is under way
    nothing_to_roll_back: there is nothing deployed to roll back while the pipeline is in review
    rollback_under_way: a rollback is already under way
    nothing_deployed_to: nothing has been deployed to production
    no_earlier_deployment: there is no earlier successful staging deployment to roll back to
    committer_cannot_review: @dev authored, committed or pushed commits of #30; whoever changed the code cannot approve it
    to: @lead: 🚀 …
    stage_failed: ⚠️ The **tests** stage failed: could not dispatch `tests.yml`: 422

    Fix the cause, then comment `/retry`.
    production_approved: 🚀 Production approved: merging #30, then deploying it to production.
    production_approved (paused): 🚀 Production approved; the pipeline is paused, so the merge waits for `/resume`.
    paused: ⏸️ Paused: nothing new is dispatched until `/resume`.
    resumed: ▶️ Resumed.
    blocked: 🚧 Blocked: nothing advances until `/unblock`. Reason: legal review
    unblocked: ✅ Unblocked.
    priority_set: Priority set to **high**.
    label_removed: Removed the `approved` label: @visitor cannot approve the requirement.
    skipped: ⏭️ The `tests` gate is skipped at `aaa111` by @owner: flaky runner. It is on the record, and @owner cannot approve production for REQ-12.
    deploying_staging: 🚚 Deploying `aaa111` to staging.
    rolling_back: ⏪ Rolling production back: looking for its last good deployment.
    rollback_refused: @lead: `/rollback` refused: there is no earlier successful production deployment to roll back to.
    rolled_back: ⏪ **Rolled back.** production is back on `good000` (was `bad0000`).

    **Why:** 3 health probes failed in a row

    **By:** shipgate

    [Rollback run](https://github.test/runs/90)
    no_longer_drives: This pull request no longer drives REQ-12: #31 drives it instead.
    does_not_drive: This pull request names #12 but does not drive REQ-12: #30 drives it.
    wrong_base: ⚠️ #30 targets `develop`. Change its base.
    wrong_base (again): ⚠️ #30 targets `develop`. Change its base back.
    base_fixed: #30 targets `main` again.
    merged_outside: #30 was merged outside shipgate before production was approved. Nothing goes to production until `/approve production`; the gates are judged on its last head.
    approvals_stale: New commits (`bbb222`): the approval by @reviewer no longer counts — a new review of the current head is needed.
    production_approval_stale: New commits (`bbb222`) after the production approval: it no longer counts. The new head goes through review, tests and staging again.
    approval_not_counted: This approval does not count toward the review gate: @dev authored commits of #30.
    escalated: ⏰ This requirement has waited 1d for approval. @acme/product @cto: please review it. It is rejected after 2d.
    escalated (nobody): ⏰ This requirement has waited 1d for approval. Nobody is named in `requirement.escalate_to`. It is rejected after 2d.
    plan_auto_approved: ⚠️ Nobody approved the plan in 3d: shipgate approved it (`plan.auto_approve_after`). Check the tasks before the work goes far.
    rejected_by_timeout: ❌ Rejected: requirement approval did not come within 2d.
    incident_opened: 🚨 Incident #99 is open for this production rollback.
    incident_not_opened: ⚠️ Could not open the incident issue for this rollback: GitHub answered 410
    warning: ⚠️ run 9001 of tests.yml was not started by shipgate; ignored
    stopped: ⏹️ Stopped: cancelled 1 run. Nothing more happens.
    stopped (production): ⏹️ Stopped: cancelled 1 run; rolling production back.
    fork_refusal: #30 comes from a fork. shipgate tracks its reviews but never dispatches workflows for it or deploys it: its code would run with this repository's secrets. Push the branch to this repository to test and deploy it.
    merge_title: feat(REQ-12): Export invoices (#30)
    verdict comment: REQ-12: review and tests passed at `aaa111`
    verdict rejected: 🛑 A `staging` deployment of `aaa111` (run 77) is rejected: REQ-12: not passed yet
    verdict stopped: 🛑 the staging deployment of `aaa111` was rejected
    verdict branch_moved: run 77 ran `ccc333`: its branch moved before it started
    verdict not_dispatched: run 78 is not a deploy shipgate dispatched
    verdict other_environment: this run was dispatched for staging, not qa
    verdict superseded: a newer deploy replaced this one
    verdict finished: this deploy has finished (succeeded); running it again deploys nothing shipgate decided
    verdict rollback: a rollback to `good000`: 3 health probes failed in a row
    verdict blocked: it is blocked by @lead: legal review; `/unblock`, then `/retry`
    verdict deployed_by_command: `/deploy staging` by @lead of `aaa111`
    verdict reviewed_and_tested: review and tests passed at `aaa111`
    verdict not_passed: not passed yet — Review: 1 more approving review of `bbb222` from someone with write access other than @dev
    verdict production_approved: production approved by @releaser (/approve production), merged as `merge1`
    verdict not_the_approved_merge: `other00` is not the merge commit production was approved for
    verdict production_not_approved: production is not approved: it needs `/approve production` from a release approver
    failed deploy_concluded: the staging deploy of `aaa111` concluded `failure` ([run](https://github.test/runs/77))
    failed deploy_never_started: the deploy run never started on GitHub
    failed deploy_silent: the production deploy run has not finished after 1h ([run](https://github.test/runs/88))
    failed probe_refused: the health URL https://10.0.0.1/health is refused: an internal address
    failed probes_failed: 2 health probes of https://p.example.com/health failed in a row: answered 503 after 4 ms, answered 503 after 5 ms
    failed probes_slow: 2 health probes of https://p.example.com/health in a row were slower than 100 ms (5× the staging baseline of 12 ms, counted as 20 ms): answered 503 after 4 ms, answered 503 after 5 ms
    failed not_dispatched: could not dispatch `tests.yml`: GitHub answered 422
    failed deploy_not_started: could not create the deployment: GitHub answered 422
    failed deploy_not_started (dispatch): could not dispatch the deploy workflow: GitHub answered 422
    failed branch_not_created: could not create `feature/REQ-12-export-invoices`: GitHub answered 403
    failed merge_refused: GitHub refused to merge #30: Required status check is failing
    failed base_changed: shipgate did not merge #30: it now targets `develop`, and production runs `main`
    failed no_rollback_target: could not look up the last good production deployment: GitHub answered 502
    failed deploy_rejected: the staging deployment of `aaa111` was rejected by the protection rule: REQ-12: not passed yet
    failed rollback_failed: the rollback deploy of `good000` failed ([run](https://github.test/runs/90)); production is still on `bad0000`
    failed (on the incident): ❌ the rollback deploy failed.
    displaced: #31 drives it instead: it is from a fork, and #30 is from this repository's branch `feature/REQ-12-export-invoices`, by @dev (write access)
    linked_first: #30 drives it: it was linked first and is from this repository's branch `feature/REQ-12-export-invoices`, by @dev (write access); this one is from a fork
    ");
}
