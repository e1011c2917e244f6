//! Who may decide: `@org/team` approver lists, resolved through GitHub's team membership API
//! (cached briefly), on SQLite and PostgreSQL.

#[macro_use]
mod common;

use common::{Backend, Shipgate, TestDb};
use shipgate::sim::Simulator;
use shipgate::sim::state::Permission;

const REPO: &str = "acme/widgets";
const BODY: &str = "## Acceptance criteria\n- works\n";

fn replies(sim: &Simulator, n: u64) -> Vec<String> {
    sim.with(|s| {
        let bot = s.app.bot_login();
        s.repos[REPO]
            .comments
            .values()
            .filter(|c| c.issue_number == n && c.user == bot)
            .filter(|c| !c.body.starts_with("<!-- shipgate:status"))
            .map(|c| c.body.clone())
            .collect()
    })
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

on_both_backends!(team_approvers_are_members_of_the_team);
