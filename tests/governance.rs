//! Who may decide and for how long: `@org/team` approver lists, resolved through GitHub's
//! team membership API (cached briefly), and gate timeouts on durable timers, moved by an
//! injected clock across a restart — on SQLite and PostgreSQL.

#[macro_use]
mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::world::{REPO, Setup};
use common::{Backend, Shipgate};
use shipgate::clock::ManualClock;
use shipgate::sim::Simulator;
use shipgate::sim::state::Permission;

const BODY: &str = "## Acceptance criteria\n- works\n";

fn replies(sim: &Simulator, n: u64) -> Vec<String> {
    common::bot_replies(sim, REPO, n)
}

async fn team_approvers_are_members_of_the_team(backend: Backend) {
    let w = Setup::new(backend)
        .config("approvers:\n  requirement: [\"@acme/product\"]\n")
        .start()
        .await;
    let (sim, sg) = (&w.sim, &w.sg);
    sim.set_permission(REPO, "pm-lead", Permission::Write);
    sim.with(|s| {
        s.teams
            .entry(("acme".into(), "product".into()))
            .or_default()
            .insert("pm-lead".into(), "member".into());
    });
    let n = sim
        .open_issue(REPO, "pm", "Export invoices", BODY, &["feature"])
        .await;
    // A maintainer outside the team is refused; a member of it approves.
    sim.comment(REPO, n, "lead", "/approve").await;
    sg.settle(sim).await;
    assert!(
        replies(sim, n).iter().any(|r| r.contains("refused")
            && r.contains("`approvers.requirement` allows only `@acme/product`")),
        "{:?}",
        replies(sim, n)
    );
    sim.comment(REPO, n, "pm-lead", "/approve").await;
    sg.settle(sim).await;
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
    sg.settle(sim).await;
    assert_eq!(asked("pm-lead"), 1, "cached");
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
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
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let w = Setup::new(backend)
        .config("requirement:\n  escalate_to: [\"@acme/product\", cto]\n")
        .clock(clock.clone())
        .start()
        .await;
    let (sim, sg) = (&w.sim, &w.sg);
    let n = sim
        .open_issue(REPO, "pm", "Export invoices", BODY, &["feature"])
        .await;
    sim.comment(REPO, n, "lead", "/pause").await;
    sg.settle(sim).await;

    // Paused for a day: that day does not count.
    clock.advance(chrono::Duration::hours(24));
    sim.comment(REPO, n, "lead", "/resume").await;
    sg.settle(sim).await;
    clock.advance(chrono::Duration::hours(23));
    sg.settle(sim).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    sg.settle(sim).await;
    assert!(
        !replies(sim, n).iter().any(|r| r.contains("waited 1d")),
        "47 hours in, 23 of them unpaused: {:?}",
        replies(sim, n)
    );
    clock.advance(chrono::Duration::hours(2));
    wait_for_reply(sim, sg, n, "waited 1d for approval. @acme/product @cto").await;

    // Two days of unpaused waiting, with shipgate restarted in between: rejected.
    let w = w
        .restarted(|| clock.advance(chrono::Duration::hours(25)))
        .await;
    let (sim, sg) = (&w.sim, &w.sg);
    wait_for_reply(sim, sg, n, "requirement approval did not come within 2d").await;
    let labels = sim.with(|s| s.repos[REPO].issues[&n].labels.clone());
    assert!(
        labels.contains(&"shipgate:rejected".to_owned()),
        "{labels:?}"
    );
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    w.sg.stop().await;
}

/// One request a notification receiver got: event, body, signature valid, delivery.
type Received = (String, serde_json::Value, bool, String);

/// A notification receiver: checks each request's signature, answers 500 to the first one
/// (shipgate must retry it), and keeps (event, body, signature valid, delivery) of every
/// request.
async fn receiver(secret: &'static str) -> (String, Arc<std::sync::Mutex<Vec<Received>>>) {
    let seen: Arc<std::sync::Mutex<Vec<Received>>> = Arc::default();
    let kept = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let kept = kept.clone();
                async move {
                    let header = headers
                        .get("x-shipgate-signature-256")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    let valid =
                        shipgate::github::signature::verify(secret.as_bytes(), &body, header);
                    let event = headers
                        .get("x-shipgate-event")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    let delivery = headers
                        .get("x-shipgate-delivery")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                    let mut seen = kept.lock().unwrap();
                    seen.push((event, json, valid, delivery));
                    if seen.len() == 1 {
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        axum::http::StatusCode::OK
                    }
                }
            },
        ),
    );
    (
        format!("http://{}/hook", common::serve_local(app).await),
        seen,
    )
}

async fn phase_changes_and_approval_requests_are_notified_signed_and_retried(backend: Backend) {
    let (url, seen) = receiver("notify-secret").await;
    let w = Setup::new(backend)
        .setting("SHIPGATE_NOTIFY_URL", url)
        .setting("SHIPGATE_NOTIFY_SECRET", "notify-secret")
        .start()
        .await;
    let (sim, sg) = (&w.sim, &w.sg);
    let n = sim
        .open_issue(REPO, "pm", "Export invoices", BODY, &["feature"])
        .await;
    sim.comment(REPO, n, "lead", "/approve\n/approve plan")
        .await;
    sg.settle(sim).await;
    // The receiver's failure holds nothing up: the pipeline is already in development.
    let status = common::status_comment(sim, REPO, n);
    assert!(status.contains("phase **development**"), "{status}");
    let mut delivered = vec![];
    for _ in 0..100 {
        delivered = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, body, _, _)| body["text"].as_str().is_some())
            .map(|(event, body, valid, delivery)| {
                (
                    event.clone(),
                    body["text"].as_str().unwrap().to_owned(),
                    *valid,
                    delivery.clone(),
                )
            })
            .collect::<Vec<_>>();
        if delivered.len() >= 4 {
            break; // three notifications, the first of them refused once and retried
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        delivered
            .iter()
            .all(|(event, _, valid, _)| *valid && (event == "phase" || event == "approval")),
        "every notification is signed: {delivered:?}"
    );
    // Each is delivered; the one the receiver refused came again.
    assert_eq!(delivered.len(), 4, "{delivered:?}");
    let first = &delivered[0].1;
    assert_eq!(
        delivered.iter().filter(|d| &d.1 == first).count(),
        2,
        "{delivered:?}"
    );
    // The retry carries the first attempt's `X-Shipgate-Delivery`, by which a receiver drops
    // a repeat; different notifications carry different ones.
    let named: std::collections::BTreeSet<_> = delivered.iter().map(|d| d.3.clone()).collect();
    assert_eq!(named.len(), 3, "{delivered:?}");
    assert!(
        named.iter().all(|d| d.starts_with(&format!("{REPO}#{n}/"))),
        "{named:?}"
    );
    assert!(
        delivered
            .iter()
            .any(|d| d.1 == format!("REQ-{n} “Export invoices” is now **planning**")),
        "{delivered:?}"
    );
    assert!(
        delivered
            .iter()
            .any(|d| d.1.ends_with("is now **development**")),
        "{delivered:?}"
    );
    // Entering planning asks for the plan's approval.
    assert!(
        delivered.iter().any(|d| d.0 == "approval"
            && d.1 == format!(
                "REQ-{n} “Export invoices” waits for approval of the plan (`/approve plan`) from someone with write access"
            )),
        "{delivered:?}"
    );
    let body = seen.lock().unwrap()[0].1.clone();
    assert_eq!(
        (body["repo"].as_str(), body["issue"].as_u64()),
        (Some(REPO), Some(n))
    );
    w.sg.stop().await;
}

/// A Slack-shaped receiver (`SHIPGATE_NOTIFY_FORMAT=slack`: a Slack webhook behind a relay)
/// gets the issue's title escaped as Slack asks: a title with `<!channel>` and a disguised
/// link pings nobody and links nowhere.
async fn titles_reach_slack_escaped(backend: Backend) {
    let (url, seen) = receiver("unused").await;
    let w = Setup::new(backend)
        .setting("SHIPGATE_NOTIFY_URL", url)
        .setting("SHIPGATE_NOTIFY_FORMAT", "slack")
        .start()
        .await;
    let (sim, sg) = (&w.sim, &w.sg);
    let title = "<!channel> <https://evil.example|click here> & co";
    let n = sim.open_issue(REPO, "pm", title, BODY, &["feature"]).await;
    sim.comment(REPO, n, "lead", "/approve").await;
    sg.settle(sim).await;
    let mut texts = Vec::new();
    for _ in 0..100 {
        texts = seen
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(_, body, _, _)| body["text"].as_str().map(str::to_owned))
            .collect::<Vec<_>>();
        if texts.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!texts.is_empty(), "notified");
    for text in &texts {
        assert!(
            text.contains("&lt;!channel&gt; &lt;https://evil.example|click here&gt; &amp; co"),
            "{text}"
        );
        assert!(!text.contains('<') && !text.contains('>'), "{text}");
    }
    w.sg.stop().await;
}

on_both_backends!(
    titles_reach_slack_escaped,
    phase_changes_and_approval_requests_are_notified_signed_and_retried,
    team_approvers_are_members_of_the_team,
    an_unapproved_requirement_escalates_and_is_rejected_across_a_restart
);
