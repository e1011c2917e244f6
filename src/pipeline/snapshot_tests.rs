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
    | `/deploy staging` | deploys the PR's head to staging now (write access) |
    | `/rollback [reason]` | redeploys the environment's last good SHA (production: `approvers.production` if set) |
    | `/stop` | cancels the pipeline's runs in flight; during a production deploy or its monitoring also rolls production back (so it takes `approvers.production`, as `/rollback` does), otherwise the pipeline is `stopped` |
    | `/block <reason>`, `/unblock` | nothing advances while blocked; the status comment lists each blocker |
    | `/skip <gate> <reason>` | admins only: lets an open `requirement`, `plan`, `review`, `tests` or `staging` gate through, on the record; the skipper cannot approve production |
    | `/priority low\|medium\|high\|critical` | recorded, shown in the status comment and check run |
    | `/status`, `/help` | answers with the gates / the command list |

    One per line, outside code blocks and quotes; the check run's buttons do what their command does.
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
