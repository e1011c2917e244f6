//! Who may decide and for how long: `@org/team` approver lists, resolved through GitHub's
//! team membership API (cached briefly), and gate timeouts on durable timers, moved by an
//! injected clock across a restart — on SQLite and PostgreSQL.

#[macro_use]
mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::{Backend, Shipgate, TestDb};
use shipgate::clock::ManualClock;
use shipgate::sim::Simulator;
use shipgate::sim::state::Permission;

const REPO: &str = "acme/widgets";
const BODY: &str = "## Acceptance criteria\n- works\n";

fn replies(sim: &Simulator, n: u64) -> Vec<String> {
    common::bot_replies(sim, REPO, n)
}

async fn team_approvers_are_members_of_the_team(backend: Backend) {
    let db = TestDb::new(backend).await;
    let sim = Simulator::start().await;
    sim.add_shipgate_repo(
        REPO,
        &[
            ("lead", Permission::Maintain),
            ("pm-lead", Permission::Write),
        ],
    );
    sim.with(|s| {
        s.teams
            .entry(("acme".into(), "product".into()))
            .or_default()
            .insert("pm-lead".into(), "member".into());
        s.commit(
            REPO,
            "main",
            "shipgate config",
            "lead",
            &[(
                ".github/shipgate.yml",
                Some("approvers:\n  requirement: [\"@acme/product\"]\n"),
            )],
        );
    });
    let sg = Shipgate::start(&db, &sim).await;
    sim.install("acme", &[REPO]).await;
    let n = sim
        .open_issue(REPO, "pm", "Export invoices", BODY, &["feature"])
        .await;
    // A maintainer outside the team is refused; a member of it approves.
    sim.comment(REPO, n, "lead", "/approve").await;
    sg.settle(&sim).await;
    assert!(
        replies(&sim, n).iter().any(|r| r.contains("refused")
            && r.contains("`approvers.requirement` allows only `@acme/product`")),
        "{:?}",
        replies(&sim, n)
    );
    sim.comment(REPO, n, "pm-lead", "/approve").await;
    sg.settle(&sim).await;
    let audit = sg.store.audit_entries(0, 100).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.actor == "pm-lead" && e.action == "approve requirement"),
        "{audit:#?}"
    );
    // Membership was asked of GitHub once per person and team, then cached.
    let asked = |login: &str| {
        sim.requests()
            .iter()
            .filter(|r| r.operation.as_deref() == Some("teams/get-membership-for-user-in-org"))
            .filter(|r| {
                r.path
                    .ends_with(&format!("/teams/product/memberships/{login}"))
            })
            .count()
    };
    assert_eq!((asked("lead"), asked("pm-lead")), (1, 1));
    assert_eq!(
        asked(&sim.with(|s| s.app.bot_login())),
        0,
        "never for shipgate's own bot"
    );
    sim.comment(REPO, n, "pm-lead", "/status").await;
    sg.settle(&sim).await;
    assert_eq!(asked("pm-lead"), 1, "cached");
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sg.stop().await;
}

/// Waits until shipgate has said something containing `text` on issue `n`.
async fn wait_for_reply(sim: &Simulator, sg: &Shipgate, n: u64, text: &str) {
    for _ in 0..100 {
        sg.settle(sim).await;
        if replies(sim, n).iter().any(|r| r.contains(text)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no reply with {text:?}: {:?}", replies(sim, n));
}

async fn an_unapproved_requirement_escalates_and_is_rejected_across_a_restart(backend: Backend) {
    let db = TestDb::new(backend).await;
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let sim = Simulator::start_with_clock(clock.clone()).await;
    sim.add_shipgate_repo(REPO, &[("lead", Permission::Maintain)]);
    sim.with(|s| {
        s.commit(
            REPO,
            "main",
            "shipgate config",
            "lead",
            &[(
                ".github/shipgate.yml",
                Some("requirement:\n  escalate_to: [\"@acme/product\", cto]\n"),
            )],
        );
    });
    let sg = Shipgate::start_with_clock(&db, &sim, clock.clone()).await;
    sim.install("acme", &[REPO]).await;
    let n = sim
        .open_issue(REPO, "pm", "Export invoices", BODY, &["feature"])
        .await;
    sim.comment(REPO, n, "lead", "/pause").await;
    sg.settle(&sim).await;

    // Paused for a day: that day does not count.
    clock.advance(chrono::Duration::hours(24));
    sim.comment(REPO, n, "lead", "/resume").await;
    sg.settle(&sim).await;
    clock.advance(chrono::Duration::hours(23));
    sg.settle(&sim).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    sg.settle(&sim).await;
    assert!(
        !replies(&sim, n).iter().any(|r| r.contains("waited 1d")),
        "47 hours in, 23 of them unpaused: {:?}",
        replies(&sim, n)
    );
    clock.advance(chrono::Duration::hours(2));
    wait_for_reply(&sim, &sg, n, "waited 1d for approval. @acme/product @cto").await;
    sg.stop().await;

    // Two days of unpaused waiting, with shipgate restarted in between: rejected.
    clock.advance(chrono::Duration::hours(25));
    let sg = Shipgate::start_with_clock(&db, &sim, clock.clone()).await;
    wait_for_reply(&sim, &sg, n, "requirement approval did not come within 2d").await;
    let labels = sim.with(|s| s.repos[REPO].issues[&n].labels.clone());
    assert!(
        labels.contains(&"shipgate:rejected".to_owned()),
        "{labels:?}"
    );
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sg.stop().await;
}

on_both_backends!(
    team_approvers_are_members_of_the_team,
    an_unapproved_requirement_escalates_and_is_rejected_across_a_restart
);
