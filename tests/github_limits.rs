//! GitHub's rate limits honoured, not mistaken for refusals: a secondary limit without
//! `retry-after` holds the installation's requests for at least a minute and then they go on;
//! content-creating requests are paced so the simulator's secondary limit (GitHub's "about one
//! a second") is never met — on SQLite and PostgreSQL.

#[macro_use]
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Backend;
use common::world::{BODY, REPO, Setup};
use shipgate::clock::ManualClock;

/// Requests the simulator answered for `operation`, by status.
fn answered(w: &common::world::World, operation: &str) -> Vec<u16> {
    w.sim
        .requests()
        .iter()
        .filter(|r| r.operation.as_deref() == Some(operation))
        .map(|r| r.status)
        .collect()
}

/// The issue's case: a 403 with GitHub's secondary-limit message and no `retry-after` is a
/// rate limit. Nothing more of that installation is sent for a minute (the phase label, and
/// the reading and answering of a comment, wait too), nothing fails or asks for `/retry`, and
/// after the minute everything goes through once.
async fn a_secondary_limit_is_waited_out_for_the_installation(backend: Backend) {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let w = Setup::new(backend).clock(clock.clone()).start().await;
    w.sim.inject_secondary_rate_limit("issues/create-comment");
    let n = w
        .sim
        .open_issue(REPO, "pm", "Export invoices", BODY, &["feature"])
        .await;
    // The status comment met the limit and waits, and so does everything else of the
    // installation (the phase label, if it has not gone yet; the issue's second delivery,
    // if the worker has not taken it). A comment that arrives now waits too: reading its
    // author's access is a request of the same installation.
    let held = waiting(&w, 1).await;
    assert!(
        held.iter()
            .all(|e| e.attempts >= 1 && e.status == "pending"),
        "{held:#?}"
    );
    let sent = w.sim.requests().len();
    assert_eq!(answered(&w, "issues/create-comment"), vec![403]);
    w.sim.comment(REPO, n, "visitor", "/approve").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        w.sim.requests().len(),
        sent,
        "nothing of the installation is sent while the limit holds"
    );

    clock.advance(chrono::Duration::seconds(59));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(w.sim.requests().len(), sent, "not yet");

    clock.advance(chrono::Duration::seconds(2));
    w.sg.settle(&w.sim).await;
    w.expect_status(n, "phase **intake**");
    w.expect_reply(n, &["needs write access"]);
    assert_eq!(
        answered(&w, "issues/create-comment"),
        vec![403, 201, 201],
        "the status comment and the reply, once each"
    );
    assert!(
        w.replies(n).iter().all(|r| !r.contains("/retry")),
        "{:?}",
        w.replies(n)
    );
    // Operators see it: one secondary limit, held for its minute; the 403 among the answers.
    let metrics = w.sg.metrics().await;
    let value = |series: &str| common::metric(&metrics, series).unwrap();
    assert_eq!(
        value("shipgate_github_rate_limit_waits_total{limit=\"secondary\"}"),
        1.0
    );
    assert_eq!(
        value("shipgate_github_rate_limit_wait_seconds_total{limit=\"secondary\"}"),
        60.0
    );
    assert_eq!(
        value("shipgate_github_requests_total{operation=\"comment on an issue\",status=\"403\"}"),
        1.0
    );
    assert!(w.sim.violations().is_empty(), "{:?}", w.sim.violations());
    w.sg.stop().await;
}

/// Waits (up to 20 s) until at least `n` effects have been tried and wait for GitHub's rate
/// limit; returns them.
async fn waiting(
    w: &common::world::World,
    n: usize,
) -> Vec<shipgate::store::pipelines::EffectSummary> {
    for _ in 0..200 {
        let pipelines = w.sg.store.pipelines_of(REPO).await.unwrap();
        let mut held = Vec::new();
        for p in &pipelines {
            held.extend(
                w.sg.store
                    .effects_of(p.id)
                    .await
                    .unwrap()
                    .into_iter()
                    .filter(|e| {
                        e.last_error
                            .as_deref()
                            .is_some_and(|e| e.contains("rate limit"))
                    }),
            );
        }
        if held.len() >= n {
            return held;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {n} effects waited for the rate limit");
}

/// Sixteen comments to create at once (the status comment and fifteen refusal replies)
/// against a simulator that refuses content beyond a burst of ten and then one every 0.9 s:
/// shipgate's pace never meets the limit, and every reply is posted.
async fn content_creation_is_paced_under_the_secondary_limit(backend: Backend) {
    let w = Setup::new(backend).start().await;
    w.sim.throttle_content(10, Duration::from_millis(900));
    let n = w
        .sim
        .open_issue(REPO, "pm", "Export invoices", BODY, &["feature"])
        .await;
    for _ in 0..15 {
        w.sim.comment(REPO, n, "visitor", "/approve").await;
    }
    let started = std::time::Instant::now();
    w.sg.settle(&w.sim).await;
    println!("16 comments created in {:?}", started.elapsed());
    assert_eq!(w.sim.content_refused(), 0, "the limit was never met");
    // The waits show as pacing, not as rate limits met.
    let metrics = w.sg.metrics().await;
    let value = |series: &str| common::metric(&metrics, series).unwrap();
    assert!(value("shipgate_github_rate_limit_waits_total{limit=\"pacing\"}") >= 5.0);
    assert!(value("shipgate_github_rate_limit_wait_seconds_total{limit=\"pacing\"}") >= 4.0);
    assert_eq!(
        value("shipgate_github_rate_limit_waits_total{limit=\"secondary\"}"),
        0.0
    );
    assert_eq!(w.replies(n).len(), 15, "{:?}", w.replies(n));
    w.expect_status(n, "phase **intake**");
    assert!(w.sim.violations().is_empty(), "{:?}", w.sim.violations());
    w.sg.stop().await;
}

/// The pipeline's pending effects, once one of them waits for the budget's reset and
/// every effect that does not wait is done (up to 20 s).
async fn postponed(w: &common::world::World) -> Vec<shipgate::store::pipelines::EffectSummary> {
    let mut effects = Vec::new();
    for _ in 0..200 {
        effects.clear();
        for p in w.sg.store.pipelines_of(REPO).await.unwrap() {
            effects.extend(w.sg.store.effects_of(p.id).await.unwrap());
        }
        let pending: Vec<_> = effects
            .iter()
            .filter(|e| e.status == "pending")
            .cloned()
            .collect();
        let postponed = pending.iter().any(|e| {
            e.last_error
                .as_deref()
                .is_some_and(|e| e.contains("budget"))
        });
        let cosmetic = |e: &&shipgate::store::pipelines::EffectSummary| {
            shipgate::pipeline::Action::COSMETIC.contains(&e.action.as_str())
        };
        if postponed && pending.iter().all(|e| cosmetic(&e)) {
            return pending;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no effect waited for the budget, or others are left: {effects:#?}");
}

/// The pipeline's pending effects (all cosmetic), once those that wait for a budget's
/// reset are of the kinds `expected` (sorted); panics after 100 looks.
async fn waiting_for_the_reset(
    w: &common::world::World,
    expected: &[&str],
) -> Vec<shipgate::store::pipelines::EffectSummary> {
    let mut waiting = Vec::new();
    for _ in 0..100 {
        waiting = postponed(w).await;
        let mut kinds: Vec<&str> = waiting
            .iter()
            .filter(|e| {
                e.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("budget"))
            })
            .map(|e| e.action.as_str())
            .collect();
        kinds.sort();
        kinds.dedup();
        if kinds == expected {
            return waiting;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("not only {expected:?} wait for the reset: {waiting:#?}");
}

/// With little of the installation's hourly REST budget left (120 of 5,000 requests), the
/// status comment waits, unsent and without counting as an attempt, for GitHub's reset, while
/// the gating work of an approval goes on (the 👀, the sub-issues read for planning) — and so
/// does the phase label, which spends GraphQL's budget. When GraphQL's budget is low too, the
/// label waits as well. After the reset the status comment is edited once, to what the
/// pipeline shows now, and the label follows.
async fn cosmetic_effects_wait_for_the_reset_when_the_budget_is_low(backend: Backend) {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let w = Setup::new(backend).clock(clock.clone()).start().await;
    let n = w
        .sim
        .open_issue(REPO, "pm", "Export invoices", BODY, &["feature"])
        .await;
    w.sg.settle(&w.sim).await;
    w.expect_status(n, "phase **intake**");

    w.sim.report_rate_limit_remaining(Some(120));
    w.sim.report_graphql_rate_limit_remaining(Some(120));
    let sent = w.sim.requests().len();
    w.sim.comment(REPO, n, "lead", "/approve").await;
    let waiting = waiting_for_the_reset(&w, &["sync_status_comment"]).await;
    assert!(waiting.iter().all(|e| e.attempts == 0), "{waiting:#?}");
    let since = |from: usize| -> Vec<String> {
        w.sim.requests()[from..]
            .iter()
            .filter_map(|r| r.operation.clone())
            .collect()
    };
    let ops = since(sent);
    for gating in [
        "reactions/create-for-issue-comment",
        "issues/list-sub-issues",
    ] {
        assert!(ops.iter().any(|o| o == gating), "{gating} in {ops:?}");
    }
    assert!(!ops.iter().any(|o| o == "issues/update-comment"), "{ops:?}");
    w.expect_status(n, "phase **intake**");
    // GraphQL's budget was not known to be low: the label went, and its answer said so —
    // after REST's answers had said REST's was low (the 👀 goes first).
    for _ in 0..200 {
        if w.phase_labels(n) == ["shipgate:planning"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(w.phase_labels(n), ["shipgate:planning"]);
    let ops = since(sent);
    let label = ops.iter().position(|o| o == "graphql").expect("the label");
    assert!(
        ops[..label]
            .iter()
            .any(|o| o == "reactions/create-for-issue-comment"),
        "{ops:?}"
    );

    let sent = w.sim.requests().len();
    w.sim.comment(REPO, n, "lead", "/approve plan").await;
    waiting_for_the_reset(&w, &["set_phase_label", "sync_status_comment"]).await;
    assert!(!since(sent).iter().any(|o| o == "graphql"));
    assert_eq!(w.phase_labels(n), ["shipgate:planning"]);

    w.sim.report_rate_limit_remaining(None);
    w.sim.report_graphql_rate_limit_remaining(None);
    clock.advance(chrono::Duration::seconds(3601));
    w.sg.settle(&w.sim).await;
    w.expect_status(n, "phase **development**");
    let ops = since(sent);
    assert_eq!(
        ops.iter().filter(|o| *o == "issues/update-comment").count(),
        1,
        "{ops:?}"
    );
    assert_eq!(w.phase_labels(n), ["shipgate:development"]);
    assert!(w.sim.violations().is_empty(), "{:?}", w.sim.violations());
    w.sg.stop().await;
}

/// A low budget never holds what gates a feature: production approved while the status
/// comment waits for the reset (a redraw waiting holds no other kind of effect), the head's
/// check run still concludes, the PR is merged and production is dispatched; the status
/// catches up after the reset.
async fn a_low_budget_holds_no_check_run_merge_or_deploy(backend: Backend) {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let w = Setup::new(backend).clock(clock.clone()).start().await;
    let (n, pr, head) = w.to_readiness().await;

    w.sim.report_rate_limit_remaining(Some(120));
    w.sim
        .comment(REPO, pr, "releaser", "/approve production")
        .await;
    let deploy = w.wait_for_run(Some("production")).await;
    let waiting = postponed(&w).await;
    assert!(
        waiting.iter().any(|e| e.action == "sync_status_comment"),
        "{waiting:#?}"
    );
    assert!(w.sim.with(|s| s.repos[REPO].pulls[&pr].merged), "merged");
    let check = w.check_run(&head);
    assert_eq!(
        (check.status.as_str(), check.conclusion.as_deref()),
        ("completed", Some("success"))
    );
    w.expect_status(n, "phase **readiness**");

    w.sim.report_rate_limit_remaining(None);
    clock.advance(chrono::Duration::seconds(3601));
    w.sim.complete_workflow_run(REPO, deploy, "success").await;
    w.wait_for_phase(n, "done").await;
    let labels = w.sim.with(|s| s.repos[REPO].issues[&n].labels.clone());
    assert!(labels.contains(&"shipgate:done".to_owned()), "{labels:?}");
    for stale in ["shipgate:readiness", "shipgate:production"] {
        assert!(!labels.contains(&stale.to_owned()), "{labels:?}");
    }
    assert!(w.sim.violations().is_empty(), "{:?}", w.sim.violations());
    w.sg.stop().await;
}

/// A primary rate limit on GraphQL's budget (403, `x-ratelimit-remaining: 0`, its reset)
/// holds the phase label until that reset and nothing that spends REST's budget: a command
/// given meanwhile gets its 👀 at once.
async fn a_graphql_rate_limit_holds_only_what_spends_graphql(backend: Backend) {
    graphql_limited(backend, |sim, reset| {
        let reset = reset.to_string();
        sim.inject_fault(
            "graphql",
            403,
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", reset.as_str()),
                ("x-ratelimit-resource", "graphql"),
            ],
        );
    })
    .await;
}

/// The same for GraphQL's own way of saying so: 200 with an error of type `RATE_LIMITED`.
async fn graphqls_rate_limited_error_is_held_like_a_rest_limit(backend: Backend) {
    graphql_limited(backend, |sim, reset| sim.inject_graphql_rate_limit(reset)).await;
}

/// Opens a feature while `limit` makes GraphQL answer a rate limit until a reset 3 s away,
/// and gives a command meanwhile: the label waits for the reset, the command's 👀 does not.
async fn graphql_limited(backend: Backend, limit: impl Fn(&shipgate::sim::Simulator, i64)) {
    let w = Setup::new(backend).start().await;
    let reset = (chrono::Utc::now() + chrono::Duration::seconds(3)).timestamp();
    limit(&w.sim, reset);
    let n = w
        .sim
        .open_issue(REPO, "pm", "Export invoices", BODY, &["feature"])
        .await;
    w.sim.wait_for_requests("graphql", 1).await;
    w.sim.comment(REPO, n, "lead", "/status").await;
    w.sim
        .wait_for_requests("reactions/create-for-issue-comment", 1)
        .await;
    w.sg.settle(&w.sim).await;
    let at = |op: &str| -> Vec<i64> {
        w.sim
            .requests()
            .into_iter()
            .filter(|r| r.operation.as_deref() == Some(op))
            .map(|r| r.at.timestamp())
            .collect()
    };
    let graphql = at("graphql");
    assert_eq!(graphql.len(), 2, "{graphql:?}");
    assert!(graphql[1] >= reset, "the label waited for the reset");
    let eyes = at("reactions/create-for-issue-comment");
    assert!(
        eyes[0] < reset,
        "REST was not held: {eyes:?}, reset {reset}"
    );
    assert_eq!(w.phase_labels(n), ["shipgate:intake"]);
    assert!(w.sim.violations().is_empty(), "{:?}", w.sim.violations());
    w.sg.stop().await;
}

on_both_backends!(
    a_graphql_rate_limit_holds_only_what_spends_graphql,
    graphqls_rate_limited_error_is_held_like_a_rest_limit,
    a_low_budget_holds_no_check_run_merge_or_deploy,
    cosmetic_effects_wait_for_the_reset_when_the_budget_is_low,
    a_secondary_limit_is_waited_out_for_the_installation,
    content_creation_is_paced_under_the_secondary_limit,
);
