//! The development stage through real HTTP against the simulator, on SQLite and PostgreSQL:
//! a workflow per task of the approved plan, dispatched on the feature branch in dependency
//! order and never more than `develop.max_parallel` at once, retried with backoff and handed
//! to the fallback workflow; `/pause` holds new dispatches; a plan whose tasks wait for each
//! other cannot be approved.

#[macro_use]
mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::Backend;
use common::world::*;
use shipgate::clock::ManualClock;
use shipgate::pipeline::model::TASK_INPUTS;

const CONFIG: &str =
    "develop:\n  workflows: [develop.yml, fallback.yml]\n  max_parallel: 2\n  attempts: 3\n";

/// Five tasks: 2 and 3 wait for 1, 4 for both, 5 for 4.
const DIAMOND: &str = "## Acceptance criteria\n- one CSV per month\n\n\
- [ ] Schema\n- [ ] Parser (after 1)\n- [ ] Exporter (after 1)\n- [ ] CLI (after 2, 3)\n- [ ] Docs (after 4)\n";

/// A task run as GitHub has it.
#[derive(Debug, Clone)]
struct TaskRun {
    id: u64,
    workflow: String,
    task: u64,
    attempt: u64,
    done: bool,
    branch: String,
}

fn task_runs(w: &World) -> Vec<TaskRun> {
    w.sim.with(|s| {
        let r = &s.repos[REPO];
        r.runs
            .values()
            .filter_map(|run| {
                let task = run.inputs.get("task_id")?.as_str()?.parse().ok()?;
                Some(TaskRun {
                    id: run.id,
                    workflow: r.workflows[&run.workflow_id].file_name().to_owned(),
                    task,
                    attempt: run.inputs["attempt"].as_str()?.parse().ok()?,
                    done: run.status == "completed",
                    branch: run.head_branch.clone(),
                })
            })
            .collect()
    })
}

async fn world(backend: Backend, clock: Option<Arc<ManualClock>>) -> World {
    let mut setup = Setup::new(backend).config(CONFIG);
    if let Some(clock) = clock {
        setup = setup.clock(clock);
    }
    let w = setup.start().await;
    for file in ["develop.yml", "fallback.yml"] {
        w.sim.add_workflow(REPO, file, &TASK_INPUTS);
    }
    w
}

/// Opens the feature with `body` and approves its requirement and plan.
async fn planned(w: &World, body: &str) -> u64 {
    w.planned_feature_with("Export invoices", body).await
}

/// Opens a feature whose task list is one task, "Schema" (its requirement and plan not yet
/// approved: sub-issues are added first).
async fn open_schema_feature(w: &World) -> u64 {
    let body = "## Acceptance criteria\n- one CSV per month\n\n- [ ] Schema\n";
    w.sim
        .open_issue(REPO, "pm", "Export invoices", body, &["feature"])
        .await
}

/// Waits until the running task runs are exactly `tasks` (by task number).
async fn running(w: &World, tasks: &[u64]) -> Vec<TaskRun> {
    for _ in 0..100 {
        w.sg.settle(&w.sim).await;
        let mut now: Vec<TaskRun> = task_runs(w).into_iter().filter(|r| !r.done).collect();
        now.sort_by_key(|r| r.task);
        if now.iter().map(|r| r.task).collect::<Vec<_>>() == tasks {
            return now;
        }
        assert!(now.len() <= 2, "more than max_parallel in flight: {now:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "task runs in flight never became {tasks:?}: {:?}",
        task_runs(w)
    );
}

async fn five_tasks_run_in_dependency_order_two_at_a_time(backend: Backend) {
    let w = world(backend, None).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let n = planned(&w, DIAMOND).await;
    let branch = format!("feature/REQ-{n}-export-invoices");
    let first = running(&w, &[1]).await;
    assert_eq!(first[0].branch, branch, "on the feature branch");
    assert_eq!(first[0].workflow, "develop.yml");
    sim.complete_workflow_run(REPO, first[0].id, "success")
        .await;
    let both = running(&w, &[2, 3]).await;
    sim.complete_workflow_run(REPO, both[0].id, "success").await;
    sg.settle(sim).await;
    running(&w, &[3]).await; // 4 waits for 3 too
    sim.complete_workflow_run(REPO, both[1].id, "success").await;
    let cli = running(&w, &[4]).await;
    sim.complete_workflow_run(REPO, cli[0].id, "success").await;
    let docs = running(&w, &[5]).await;
    sim.complete_workflow_run(REPO, docs[0].id, "success").await;
    running(&w, &[]).await;
    assert_eq!(task_runs(&w).len(), 5, "one run per task, none twice");
    w.expect_status(n, "| 5 Docs | ✅ done (run");
    // The task list in the issue is ticked as the tasks finish.
    sg.settle(sim).await;
    let body = sim.with(|s| s.repos[REPO].issues[&n].body.clone().unwrap_or_default());
    assert_eq!(
        body.matches("- [x] ").count(),
        5,
        "every task ticked in the issue: {body}"
    );
    assert!(body.contains("- [x] CLI (after 2, 3)"), "{body}");
    // Each task's inputs are the ones the template declares (the simulator refuses others).
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

on_both_backends!(five_tasks_run_in_dependency_order_two_at_a_time);

async fn a_task_failing_three_times_moves_to_the_fallback_and_succeeds(backend: Backend) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let w = world(backend, Some(clock.clone())).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let n = planned(
        &w,
        "## Acceptance criteria\n- one CSV per month\n\n- [ ] Only\n",
    )
    .await;
    for attempt in 1..=3 {
        let run = running(&w, &[1]).await;
        assert_eq!(
            (run[0].workflow.as_str(), run[0].attempt),
            ("develop.yml", attempt)
        );
        sim.complete_workflow_run(REPO, run[0].id, "failure").await;
        sg.settle(sim).await;
        // The next attempt waits for its backoff (30 s, then 60 s).
        clock.advance(chrono::Duration::minutes(2));
    }
    let run = running(&w, &[1]).await;
    assert_eq!(
        (run[0].workflow.as_str(), run[0].attempt),
        ("fallback.yml", 1)
    );
    sim.complete_workflow_run(REPO, run[0].id, "success").await;
    running(&w, &[]).await;
    w.expect_status(n, "| 1 Only | ✅ done (run");
    w.expect_status(n, "`fallback.yml` attempt 1");
}

on_both_backends!(a_task_failing_three_times_moves_to_the_fallback_and_succeeds);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_holds_new_dispatches_until_resume() {
    let w = world(Backend::Sqlite, None).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let n = planned(&w, DIAMOND).await;
    let first = running(&w, &[1]).await;
    sim.comment(REPO, n, "lead", "/pause").await;
    sg.settle(sim).await;
    sim.complete_workflow_run(REPO, first[0].id, "success")
        .await;
    sg.settle(sim).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    running(&w, &[]).await;
    assert_eq!(task_runs(&w).len(), 1, "nothing new while paused");
    sim.comment(REPO, n, "lead", "/resume").await;
    running(&w, &[2, 3]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_whose_tasks_wait_for_each_other_cannot_be_approved() {
    let w = world(Backend::Sqlite, None).await;
    let n = planned(
        &w,
        "## Acceptance criteria\n- one CSV per month\n\n- [ ] A (after 2)\n- [ ] B (after 1)\n",
    )
    .await;
    w.expect_reply(n, &["/approve plan", "tasks 1, 2 can never start"]);
    w.expect_status(n, "phase **planning**");
    w.expect_status(n, "❌ tasks 1, 2 can never start");
    assert!(task_runs(&w).is_empty());
}

/// GitHub starts a task's run but the dispatch's answer is lost, and shipgate restarts
/// between dispatches: the retry finds the run instead of starting another, and no task
/// runs twice.
async fn a_lost_answer_and_a_restart_duplicate_no_task_run(backend: Backend) {
    let w = world(backend, None).await;
    w.sim.lose_answer("actions/create-workflow-dispatch", 502);
    let n = planned(&w, DIAMOND).await;
    let first = running(&w, &[1]).await;
    let w = w.restarted(|| {}).await;
    w.sim
        .complete_workflow_run(REPO, first[0].id, "success")
        .await;
    let both = running(&w, &[2, 3]).await;
    let w = w.restarted(|| {}).await;
    for run in &both {
        w.sim.complete_workflow_run(REPO, run.id, "success").await;
    }
    running(&w, &[4]).await;
    let mut tasks: Vec<u64> = task_runs(&w).iter().map(|r| r.task).collect();
    tasks.sort_unstable();
    assert_eq!(
        tasks,
        vec![1, 2, 3, 4],
        "one run per task dispatched so far"
    );
    let effects =
        w.sg.store
            .effects_of(w.sg.store.pipelines_of(REPO).await.unwrap()[0].id)
            .await
            .unwrap();
    assert!(
        effects
            .iter()
            .any(|e| e.action == "dispatch_task" && e.attempts == 2),
        "the lost dispatch was retried and found: {effects:?}"
    );
    w.expect_status(n, "| 1 Schema | ✅ done (run");
}

on_both_backends!(a_lost_answer_and_a_restart_duplicate_no_task_run);

/// Sub-issues are tasks too, ordered by GitHub's own "blocked by"; a sub-issue whose run
/// succeeds is closed by shipgate with a link to the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_issues_follow_githubs_blocked_by_and_are_closed_when_done() {
    let w = world(Backend::Sqlite, None).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let n = open_schema_feature(&w).await;
    let (storage, api) = sim.with(|st| {
        let storage = st.add_issue(REPO, "pm", "Storage", "", &[]);
        let api = st.add_issue(REPO, "pm", "API", "", &[]);
        let r = st.repo_mut(REPO).unwrap();
        r.issues
            .get_mut(&n)
            .unwrap()
            .sub_issues
            .extend([storage, api]);
        r.issues.get_mut(&api).unwrap().blocked_by.push(storage);
        (storage, api)
    });
    sim.comment(REPO, n, "lead", "/approve").await;
    sg.settle(sim).await;
    w.expect_status(n, &format!("3. #{api} API (after 2)"));
    sim.comment(REPO, n, "lead", "/approve plan").await;
    let first = running(&w, &[1, 2]).await;
    sim.complete_workflow_run(REPO, first[1].id, "success")
        .await;
    running(&w, &[1, 3]).await;
    let closed = sim.with(|st| st.repos[REPO].issues[&storage].state.clone());
    assert_eq!(closed, "closed", "shipgate closed the done sub-issue");
    let said = common::bot_replies(sim, REPO, storage).join("\n");
    assert!(
        said.contains(&format!("Done for REQ-{n} (task 2) by [this run]")),
        "{said}"
    );
}

/// What people change on GitHub after planning began is followed: sub-issues added while the
/// plan is made join it, a "blocked by" added orders them, one removed during development
/// frees the task, and a sub-issue closed by hand is done (its run cancelled).
async fn sub_issues_and_blocked_by_changed_on_github_are_followed(backend: Backend) {
    let w = world(backend, None).await;
    let (sim, sg) = (&w.sim, &w.sg);
    let n = open_schema_feature(&w).await;
    sim.comment(REPO, n, "lead", "/approve").await;
    sg.settle(sim).await;
    let storage = sim.open_issue(REPO, "pm", "Storage", "", &[]).await;
    let api = sim.open_issue(REPO, "pm", "API", "", &[]).await;
    sim.add_sub_issue(REPO, n, storage, "pm").await;
    sim.add_sub_issue(REPO, n, api, "pm").await;
    sg.settle(sim).await;
    w.expect_status(n, &format!("3. #{api} API"));
    sim.set_blocked_by(REPO, api, storage, "pm", true).await;
    sg.settle(sim).await;
    w.expect_status(n, &format!("3. #{api} API (after 2)"));
    sim.comment(REPO, n, "lead", "/approve plan").await;
    let first = running(&w, &[1, 2]).await;
    sim.complete_workflow_run(REPO, first[0].id, "success")
        .await;
    running(&w, &[2]).await; // the API waits for Storage
    sim.set_blocked_by(REPO, api, storage, "pm", false).await;
    let now = running(&w, &[2, 3]).await;
    sim.close_issue(REPO, storage, "dev").await;
    running(&w, &[3]).await;
    let storage_run = sim.with(|s| s.repos[REPO].runs[&now[0].id].conclusion.clone());
    assert_eq!(
        storage_run.as_deref(),
        Some("cancelled"),
        "done by hand: run cancelled"
    );
    w.expect_status(n, &format!("#{storage} closed"));
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

on_both_backends!(sub_issues_and_blocked_by_changed_on_github_are_followed);

/// `develop.open_pr`: shipgate opens the PR itself once a task has pushed (GitHub refuses one
/// with no commits, and the status comment says so until another task is done), keeps it a
/// draft while tasks remain, and marks it ready for review — through GraphQL, as REST cannot
/// — when the last is done, which ends the development phase.
async fn shipgate_opens_a_draft_pr_and_marks_it_ready_when_every_task_is_done(backend: Backend) {
    let w = Setup::new(backend)
        .config("develop:\n  workflows: [develop.yml]\n  open_pr: true\n")
        .start()
        .await;
    w.sim.add_workflow(REPO, "develop.yml", &TASK_INPUTS);
    let (sim, sg) = (&w.sim, &w.sg);
    let n = planned(
        &w,
        "## Acceptance criteria\n- one CSV per month\n\n\
         - [ ] Schema\n- [ ] Parser (after 1)\n- [ ] Docs (after 2)\n",
    )
    .await;
    let branch = format!("feature/REQ-{n}-export-invoices");
    let pulls = || sim.with(|s| s.repos[REPO].pulls.values().cloned().collect::<Vec<_>>());
    // Task 1 pushes nothing: GitHub will not open a PR without commits.
    let first = running(&w, &[1]).await;
    sim.complete_workflow_run(REPO, first[0].id, "success")
        .await;
    let second = running(&w, &[2]).await;
    w.expect_status(
        n,
        "GitHub would not open it (Validation Failed: No commits between",
    );
    w.expect_status(n, "asked again when another task is done");
    assert!(pulls().is_empty());
    // Task 2 pushes: a draft PR from the branch that closes the issue. GitHub opens it but
    // its answer is lost: the retry finds it by its branch, and opens no second one.
    sim.lose_answer("pulls/create", 502);
    sim.push_file(REPO, &branch, "dev", "src/parser.rs", "fn parse() {}")
        .await;
    sim.complete_workflow_run(REPO, second[0].id, "success")
        .await;
    let third = running(&w, &[3]).await;
    sg.settle(sim).await;
    let opened = pulls();
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert!(opened[0].draft, "a draft while task 3 runs");
    assert_eq!(opened[0].head_ref, branch);
    let pr = opened[0].number;
    let body = sim.with(|s| s.repos[REPO].issues[&pr].body.clone().unwrap_or_default());
    assert!(body.starts_with(&format!("Closes #{n}.")), "{body}");
    w.expect_status(
        n,
        &format!("**Pull request:** #{pr} is a draft until every task is done"),
    );
    w.expect_status(n, "phase **development**");
    // The last task done: ready for review, and the pipeline moves on to review.
    sim.complete_workflow_run(REPO, third[0].id, "success")
        .await;
    w.wait_for_phase(n, "review").await;
    assert!(!pulls()[0].draft, "marked ready for review");
    let graphql: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path == "/graphql")
        .filter(|r| {
            r.body.as_ref().is_some_and(|b| {
                b["query"]
                    .as_str()
                    .is_some_and(|q| q.contains("markPullRequestReadyForReview"))
            })
        })
        .collect();
    assert_eq!(graphql.len(), 1, "one markPullRequestReadyForReview");
    assert_eq!(pulls().len(), 1, "one PR, never a second");
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

on_both_backends!(shipgate_opens_a_draft_pr_and_marks_it_ready_when_every_task_is_done);

/// Task runs in flight, as (issue, task) pairs, sorted.
fn in_flight(w: &World) -> Vec<(u64, u64)> {
    let mut now: Vec<(u64, u64)> = w.sim.with(|s| {
        s.repos[REPO]
            .runs
            .values()
            .filter(|run| run.status != "completed")
            .filter_map(|run| {
                let issue = run.inputs.get("issue")?.as_str()?.parse().ok()?;
                let task = run.inputs.get("task_id")?.as_str()?.parse().ok()?;
                Some((issue, task))
            })
            .collect()
    });
    now.sort_unstable();
    now
}

/// Waits until the task runs in flight across the repository are exactly `want`.
async fn flying(w: &World, want: &[(u64, u64)]) {
    for _ in 0..100 {
        w.sg.settle(&w.sim).await;
        let now = in_flight(w);
        assert!(
            now.len() <= 2,
            "more than the shared max_parallel in flight: {now:?}"
        );
        if now == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "task runs in flight never became {want:?}: {:?}",
        in_flight(w)
    );
}

/// `develop.max_parallel_scope: repository`: the repository's pipelines share the slots, and
/// a freed slot goes to the ready tasks of the pipeline with the highest `/priority` (the
/// oldest first among equals), not to whoever asked first.
async fn a_shared_max_parallel_serves_the_highest_priority_first(backend: Backend) {
    let w = Setup::new(backend)
        .config("develop:\n  workflows: [develop.yml]\n  max_parallel: 2\n  max_parallel_scope: repository\n")
        .start()
        .await;
    w.sim.add_workflow(REPO, "develop.yml", &TASK_INPUTS);
    let (sim, sg) = (&w.sim, &w.sg);
    let two = "## Acceptance criteria\n- one CSV per month\n\n- [ ] Schema\n- [ ] Parser\n";
    let a = w.planned_feature_with("Export invoices", two).await;
    flying(&w, &[(a, 1), (a, 2)]).await;
    let b = w.planned_feature_with("Import payments", two).await;
    let c = w.planned_feature_with("Audit trail", two).await;
    sim.comment(REPO, c, "lead", "/priority critical").await;
    sg.settle(sim).await;
    flying(&w, &[(a, 1), (a, 2)]).await; // every slot is taken
    let run_of = |issue: u64, task: u64| {
        sim.with(|s| {
            s.repos[REPO]
                .runs
                .values()
                .find(|r| {
                    r.status != "completed"
                        && r.inputs.get("issue").and_then(|v| v.as_str())
                            == Some(&issue.to_string())
                        && r.inputs.get("task_id").and_then(|v| v.as_str())
                            == Some(&task.to_string())
                })
                .map(|r| r.id)
                .expect("a run in flight")
        })
    };
    sim.complete_workflow_run(REPO, run_of(a, 1), "success")
        .await;
    flying(&w, &[(a, 2), (c, 1)]).await; // critical first, though B waited longer
    sim.complete_workflow_run(REPO, run_of(a, 2), "success")
        .await;
    flying(&w, &[(c, 1), (c, 2)]).await;
    sim.complete_workflow_run(REPO, run_of(c, 1), "success")
        .await;
    flying(&w, &[(b, 1), (c, 2)]).await; // C has nothing left to start: B's turn
    sim.complete_workflow_run(REPO, run_of(c, 2), "success")
        .await;
    flying(&w, &[(b, 1), (b, 2)]).await;
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

on_both_backends!(a_shared_max_parallel_serves_the_highest_priority_first);
