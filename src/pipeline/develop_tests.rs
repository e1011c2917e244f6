//! Core tests for the development stage: tasks in dependency order, never more than
//! `max_parallel` in flight, retries with backoff, the fallback workflow, `/pause`,
//! `/retry task`, `/skip task`, and plans that cannot be ordered.

use super::config::LoadedConfig;
use super::model::*;
use super::tests::*;

const DIAMOND: &str = "Export invoices.\n\n## Acceptance criteria\n- a CSV per month\n\n\
- [ ] Schema\n- [ ] Parser (after 1)\n- [ ] Exporter (after 1)\n- [ ] CLI (after 2, 3)\n- [ ] Docs (after 4)\n";

const DEVELOP: &str =
    "develop:\n  workflows: [agent-a.yml, agent-b.yml]\n  max_parallel: 2\n  attempts: 3\n";

/// (workflow, task_id, attempt, correlation) of each task dispatch among `effects`.
fn task_dispatches(effects: &Outputs) -> Vec<(String, u64, u32, String)> {
    actions(effects)
        .into_iter()
        .filter_map(|a| match a {
            Action::DispatchTask {
                workflow,
                correlation,
                inputs,
                ..
            } => {
                let input = |k: &str| {
                    inputs
                        .iter()
                        .find(|(key, _)| key == k)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                Some((
                    workflow.clone(),
                    input("task_id").parse().unwrap(),
                    input("attempt").parse().unwrap(),
                    correlation.clone(),
                ))
            }
            _ => None,
        })
        .collect()
}

/// A pipeline with `body` and `config`, its plan approved and its branch created: the
/// dispatches that followed.
fn developing(body: &str, config: &str) -> (World, Vec<(String, u64, u32, String)>) {
    let (mut w, _) = World::with_config(body, LoadedConfig::load(None, Some(config)));
    w.advance_to_development();
    let effects = w.go(Input::EffectDone {
        key: "branch".into(),
        result: EffectResult::Branch { existed: false },
    });
    let sent = task_dispatches(&effects);
    (w, sent)
}

/// Task dispatch `correlation` got run `run_id`, which then concluded `conclusion`: what
/// the pipeline did next.
fn conclude(w: &mut World, correlation: &str, run_id: u64, conclusion: &str) -> Outputs {
    w.go(Input::EffectDone {
        key: format!("dispatch-{correlation}"),
        result: EffectResult::Dispatched {
            correlation: correlation.into(),
            run_id,
            url: format!("https://github.test/runs/{run_id}"),
        },
    });
    w.run_done(correlation, run_id, conclusion)
}

/// [`conclude`], and the task dispatches that followed.
fn finish(
    w: &mut World,
    correlation: &str,
    run_id: u64,
    conclusion: &str,
) -> Vec<(String, u64, u32, String)> {
    task_dispatches(&conclude(w, correlation, run_id, conclusion))
}

fn in_flight(w: &World) -> usize {
    w.p.dev_tasks.iter().filter(|t| t.state.in_flight()).count()
}

#[test]
fn a_diamond_runs_in_dependency_order_never_more_than_max_parallel_at_once() {
    let (mut w, first) = developing(DIAMOND, DEVELOP);
    assert_eq!(first.len(), 1);
    assert_eq!(
        (first[0].0.as_str(), first[0].1, first[0].2),
        ("agent-a.yml", 1, 1)
    );
    let next = finish(&mut w, &first[0].3, 101, "success");
    let ids: Vec<u64> = next.iter().map(|d| d.1).collect();
    assert_eq!(ids, vec![2, 3], "both branches of the diamond at once");
    assert_eq!(in_flight(&w), 2);
    assert!(
        finish(&mut w, &next[0].3, 102, "success").is_empty(),
        "4 waits for 3"
    );
    let cli = finish(&mut w, &next[1].3, 103, "success");
    assert_eq!(cli.iter().map(|d| d.1).collect::<Vec<_>>(), vec![4]);
    let docs = finish(&mut w, &cli[0].3, 104, "success");
    assert_eq!(docs.iter().map(|d| d.1).collect::<Vec<_>>(), vec![5]);
    finish(&mut w, &docs[0].3, 105, "success");
    assert!(
        w.p.dev_tasks
            .iter()
            .all(|t| t.state == TaskState::Done(format!("run {}", 100 + t.id)))
    );
    let row = "| 4 CLI | ✅ done (run 104) | `agent-a.yml` attempt 1 |";
    let status = super::views::status_comment(&w.p, &w.cfg);
    assert!(status.contains(row), "{status}");
    // A draft PR from the branch: its check run shows the tasks too.
    let mut draft = pull(30, "aaa111");
    draft.draft = true;
    w.pull(PullAction::Opened, draft);
    assert_eq!(w.p.phase, Phase::Development);
    let check = super::views::check_run(&w.p, &w.cfg, "aaa111");
    assert!(check.summary.contains(row), "{}", check.summary);
}

#[test]
fn a_task_failing_every_attempt_moves_to_the_fallback_workflow_then_fails() {
    let (mut w, first) = developing(
        "Export.\n\n## Acceptance criteria\n- x\n\n- [ ] Only\n",
        DEVELOP,
    );
    let mut dispatch = first[0].clone();
    let mut run = 200;
    let mut seen = vec![];
    let said = loop {
        seen.push((dispatch.0.clone(), dispatch.2));
        run += 1;
        let effects = conclude(&mut w, &dispatch.3, run, "failure");
        if let Some(d) = task_dispatches(&effects).first() {
            dispatch = d.clone(); // the fallback starts at once
            continue;
        }
        let t = &w.p.dev_tasks[0];
        if matches!(t.state, TaskState::Failed(_)) {
            break replies(&effects).join("\n");
        }
        // A retry waits for its backoff, on a timer.
        let due = t.not_before.expect("a retry is scheduled");
        assert!(due >= w.now + 29_000, "backoff");
        let (key, kind) = effects
            .timers
            .iter()
            .find_map(|c| match c {
                TimerChange::Set { key, due_at, kind } if *due_at == due => {
                    Some((key.clone(), kind.clone()))
                }
                _ => None,
            })
            .expect("the retry's timer");
        let early = w.go(Input::Timer {
            key: format!("early-{key}"),
            kind: kind.clone(),
        });
        assert!(
            task_dispatches(&early).is_empty(),
            "not before the backoff is over"
        );
        w.now = due;
        let effects = w.go(Input::Timer { key, kind });
        dispatch = task_dispatches(&effects)[0].clone();
    };
    assert_eq!(
        seen,
        vec![
            ("agent-a.yml".into(), 1),
            ("agent-a.yml".into(), 2),
            ("agent-a.yml".into(), 3),
            ("agent-b.yml".into(), 1),
            ("agent-b.yml".into(), 2),
            ("agent-b.yml".into(), 3),
        ]
    );
    assert!(
        said.contains("Task 1 “Only” failed on every develop workflow (failure)"),
        "{said}"
    );
    // `/retry task 1` starts over from the first workflow.
    let effects = w.comment(lead(), "/retry task 1");
    assert_eq!(task_dispatches(&effects)[0].0, "agent-a.yml");
}

#[test]
fn pause_holds_new_dispatches_and_resume_releases_them() {
    let (mut w, first) = developing(DIAMOND, DEVELOP);
    w.comment(lead(), "/pause");
    assert!(
        finish(&mut w, &first[0].3, 301, "success").is_empty(),
        "paused: nothing new"
    );
    let effects = w.comment(lead(), "/resume");
    assert_eq!(task_dispatches(&effects).len(), 2);
}

#[test]
fn an_admin_skips_a_task_and_its_dependents_go_on_a_writer_cannot() {
    let (mut w, first) = developing(DIAMOND, DEVELOP);
    let effects = w.comment(actor("dev", Access::Write), "/skip task 1 done by hand");
    assert!(task_dispatches(&effects).is_empty());
    let effects = w.comment(actor("owner", Access::Admin), "/skip task 1 done by hand");
    let ids: Vec<u64> = task_dispatches(&effects).iter().map(|d| d.1).collect();
    assert_eq!(
        ids,
        vec![2, 3],
        "task 1's slot is free: its run is cancelled"
    );
    assert!(effects.audit.iter().any(|a| a.action == "skip task"));
    assert_eq!(first.len(), 1);
}

#[test]
fn a_cycle_holds_the_plan_and_says_why() {
    let body = "Export.\n\n## Acceptance criteria\n- x\n\n- [ ] A (after 2)\n- [ ] B (after 1)\n";
    let (mut w, _) = World::with_config(body, LoadedConfig::load(None, Some(DEVELOP)));
    w.comment(lead(), "/approve");
    let effects = w.comment(lead(), "/approve plan");
    assert_eq!(w.p.phase, Phase::Planning);
    let said = replies(&effects).join("\n");
    assert!(said.contains("tasks 1, 2 can never start"), "{said}");
    let status = super::views::status_comment(&w.p, &w.cfg);
    assert!(status.contains("❌ tasks 1, 2 can never start"), "{status}");
}

#[test]
fn a_task_ticked_after_the_issue_was_edited_is_found_by_its_text() {
    let (mut w, first) = developing(DIAMOND, DEVELOP);
    // Someone adds a task at the top, then ticks "Parser" (task 2 of the plan).
    let edited = DIAMOND.replace("- [ ] Schema\n", "- [ ] Design\n- [ ] Schema\n");
    let ticked = edited.replace("- [ ] Parser", "- [x] Parser");
    w.ids += 1;
    let mut snapshot = issue(&ticked);
    snapshot.updated_at = 5;
    w.go(Input::Issue {
        delivery: format!("d{}", w.ids),
        action: IssueAction::Edited,
        issue: snapshot,
        actor: lead(),
    });
    let states: Vec<(u64, bool)> =
        w.p.dev_tasks
            .iter()
            .map(|t| (t.id, t.state.settled()))
            .collect();
    assert_eq!(
        states,
        vec![(1, false), (2, true), (3, false), (4, false), (5, false)],
        "Parser is done; nothing else moved"
    );
    assert_eq!(first.len(), 1);
}

#[test]
fn a_run_named_after_its_task_was_skipped_is_cancelled() {
    let (mut w, first) = developing(DIAMOND, DEVELOP);
    w.comment(actor("owner", Access::Admin), "/skip task 1 done by hand");
    let effects = w.go(Input::EffectDone {
        key: "late".into(),
        result: EffectResult::Dispatched {
            correlation: first[0].3.clone(),
            run_id: 901,
            url: "https://github.test/runs/901".into(),
        },
    });
    assert!(
        actions(&effects).contains(&&Action::CancelRun { run_id: 901 }),
        "{:?}",
        actions(&effects)
    );
}

#[test]
fn a_workflow_list_changed_under_a_task_holds_or_fails_it_without_a_panic() {
    let body = "Export.\n\n## Acceptance criteria\n- x\n\n- [ ] Only\n";
    let config = "develop:\n  workflows: [agent-a.yml, agent-b.yml]\n  attempts: 2\n";
    let (mut w, first) = developing(body, config);
    // A broken file: every gate holds, the task waits, nothing panics.
    let good = w.cfg.clone();
    w.cfg = LoadedConfig::load(None, Some("develop: [oops\n"));
    conclude(&mut w, &first[0].3, 401, "failure");
    w.now = w.p.dev_tasks[0].not_before.unwrap();
    let held = w.go(Input::Timer {
        key: "held".into(),
        kind: TimerKind::TaskRetry { task: 1 },
    });
    assert!(task_dispatches(&held).is_empty());
    assert_eq!(w.p.dev_tasks[0].state, TaskState::Waiting);
    // Fixed; the task goes on to the fallback (agent-b.yml)...
    w.cfg = good;
    let again = task_dispatches(&w.go(Input::Timer {
        key: "fixed".into(),
        kind: TimerKind::TaskRetry { task: 1 },
    }));
    let fallback = task_dispatches(&conclude(&mut w, &again[0].3, 402, "failure"));
    assert_eq!(fallback[0].0, "agent-b.yml");
    conclude(&mut w, &fallback[0].3, 403, "failure");
    // ...and the list loses agent-b.yml before its retry: the task fails, saying why.
    w.cfg = LoadedConfig::load(None, Some("develop:\n  workflows: [agent-a.yml]\n"));
    w.now = w.p.dev_tasks[0].not_before.unwrap();
    let none = w.go(Input::Timer {
        key: "shrunk".into(),
        kind: TimerKind::TaskRetry { task: 1 },
    });
    assert!(task_dispatches(&none).is_empty());
    assert!(
        matches!(&w.p.dev_tasks[0].state, TaskState::Failed(why) if why.contains("lists no workflow")),
        "{:?}",
        w.p.dev_tasks[0].state
    );
}

#[test]
fn a_task_retried_by_command_backs_off_on_a_timer_of_its_own() {
    let config = "develop:\n  workflows: [a.yml]\n  attempts: 2\n";
    let (mut w, first) = developing(
        "Export.\n\n## Acceptance criteria\n- x\n\n- [ ] Only\n",
        config,
    );
    let retry_timer = |e: &Outputs| {
        e.timers.iter().find_map(|c| match c {
            TimerChange::Set {
                key,
                kind: kind @ TimerKind::TaskRetry { .. },
                ..
            } => Some((key.clone(), kind.clone())),
            _ => None,
        })
    };
    let (k1, kind) = retry_timer(&conclude(&mut w, &first[0].3, 601, "failure")).unwrap();
    w.now = w.p.dev_tasks[0].not_before.unwrap();
    let second = task_dispatches(&w.go(Input::Timer {
        key: k1.clone(),
        kind: kind.clone(),
    }));
    conclude(&mut w, &second[0].3, 602, "failure");
    assert!(matches!(w.p.dev_tasks[0].state, TaskState::Failed(_)));
    // `/retry task 1` starts over at attempt 1; its failure's timer is a new one, and fires.
    let third = task_dispatches(&w.comment(lead(), "/retry task 1"));
    assert_eq!(third[0].2, 1);
    let (k3, kind) = retry_timer(&conclude(&mut w, &third[0].3, 603, "failure")).unwrap();
    assert_ne!(k1, k3, "a fired timer's key is never reused");
    w.now = w.p.dev_tasks[0].not_before.unwrap();
    let fourth = task_dispatches(&w.go(Input::Timer { key: k3, kind }));
    assert_eq!(
        fourth.len(),
        1,
        "the retry is dispatched when its backoff is over"
    );
}

/// GitHub's "blocked by" read again during development (an `issue_dependencies` webhook)
/// holds a sub-issue task that has not started, frees it when removed, and is not followed
/// when it would make tasks wait for each other.
#[test]
fn blocked_by_changed_during_development_is_followed_unless_it_makes_a_cycle() {
    let body = "Export invoices.\n\n## Acceptance criteria\n- a CSV per month\n\n- [ ] Schema\n";
    let config = "develop:\n  workflows: [agent-a.yml]\n  max_parallel: 1\n";
    let (mut w, _) = World::with_config(body, LoadedConfig::load(None, Some(config)));
    let sub = |n: u64, blocked_by: &[u64]| crate::pipeline::linking::Task {
        text: format!("Part {n}"),
        done: false,
        issue: Some(n),
        blocked_by: blocked_by.to_vec(),
    };
    let read = |w: &mut World, key: &str, tasks: Vec<crate::pipeline::linking::Task>| {
        w.go(Input::EffectDone {
            key: key.into(),
            result: EffectResult::SubIssues { tasks },
        })
    };
    w.comment(lead(), "/approve");
    read(&mut w, "subs-1", vec![sub(20, &[]), sub(21, &[])]);
    w.comment(lead(), "/approve plan");
    let sent = task_dispatches(&w.go(Input::EffectDone {
        key: "branch".into(),
        result: EffectResult::Branch { existed: false },
    }));
    assert_eq!(sent.len(), 1, "one at a time: task 1 first");
    // While task 1 runs, #21 becomes blocked by #20: task 3 now waits for task 2.
    read(&mut w, "subs-2", vec![sub(20, &[]), sub(21, &[20])]);
    assert_eq!(w.p.dev_tasks[2].after, vec![2]);
    // A change that would make 2 and 3 wait for each other is not followed, and said why.
    let effects = read(&mut w, "subs-3", vec![sub(20, &[21]), sub(21, &[20])]);
    assert_eq!(w.p.dev_tasks[1].after, Vec::<u64>::new());
    assert_eq!(w.p.dev_tasks[2].after, vec![2]);
    assert!(
        effects
            .audit
            .iter()
            .any(|a| a.detail.contains("tasks 2, 3 would wait for each other")),
        "{:?}",
        effects.audit
    );
    // Removed again: task 3 waits for nothing, and runs after task 1 in task order.
    read(&mut w, "subs-4", vec![sub(20, &[]), sub(21, &[])]);
    assert_eq!(w.p.dev_tasks[2].after, Vec::<u64>::new());
    // #21 removed from the plan (or deleted, or transferred) before it started: skipped.
    read(&mut w, "subs-5", vec![sub(20, &[])]);
    let parent = w.p.issue;
    assert!(
        matches!(&w.p.dev_tasks[2].state,
            TaskState::Skipped { reason, .. } if *reason == format!("#21 is no longer a sub-issue of #{parent}")),
        "{:?}",
        w.p.dev_tasks[2].state
    );
}

/// Two task-list items with the same text are two tasks: a tick on the second counts for the
/// second (the first's run goes on), and the first's run ticks the first.
#[test]
fn items_with_the_same_text_are_told_apart_by_their_place() {
    let body = "Export invoices.\n\n## Acceptance criteria\n- a CSV per month\n\n\
- [ ] Tests\n- [ ] Tests\n";
    let (mut w, sent) = developing(body, DEVELOP);
    assert_eq!(sent.len(), 2, "both run at once");
    w.go(Input::EffectDone {
        key: "dispatch-1".into(),
        result: EffectResult::Dispatched {
            correlation: sent[0].3.clone(),
            run_id: 71,
            url: "https://github.test/runs/71".into(),
        },
    });
    w.ids += 1;
    let mut snapshot =
        issue(&body.replacen("- [ ] Tests\n- [ ] Tests", "- [ ] Tests\n- [x] Tests", 1));
    snapshot.updated_at = 5;
    let effects = w.go(Input::Issue {
        delivery: format!("d{}", w.ids),
        action: IssueAction::Edited,
        issue: snapshot,
        actor: lead(),
    });
    let settled: Vec<bool> = w.p.dev_tasks.iter().map(|t| t.state.settled()).collect();
    assert_eq!(
        settled,
        vec![false, true],
        "the second is done, the first runs on"
    );
    assert!(
        !actions(&effects).contains(&&Action::CancelRun { run_id: 71 }),
        "the first task's run is not cancelled"
    );
    let effects = w.run_done(&sent[0].3, 71, "success");
    assert!(
        actions(&effects).contains(&&Action::TickTask {
            title: "Tests".into(),
            nth: 0
        }),
        "{:?}",
        actions(&effects)
    );
}

/// With `max_parallel_scope: repository`, the other pipelines' runs in flight hold slots and
/// the ready tasks of pipelines ahead in line take free ones first; the pipeline reports
/// what it holds and waits for.
#[test]
fn a_shared_max_parallel_leaves_room_for_the_others_and_those_ahead() {
    let body = "Export invoices.\n\n## Acceptance criteria\n- a CSV per month\n\n\
- [ ] Schema\n- [ ] Parser\n- [ ] Docs\n";
    let config = "develop:\n  workflows: [agent-a.yml]\n  max_parallel: 4\n  max_parallel_scope: repository\n";
    let (mut w, _) = World::with_config(body, LoadedConfig::load(None, Some(config)));
    w.load = RepoLoad {
        in_flight: 1,
        ahead: 2,
        busy: true,
    };
    w.advance_to_development();
    let sent = task_dispatches(&w.go(Input::EffectDone {
        key: "branch".into(),
        result: EffectResult::Branch { existed: false },
    }));
    assert!(sent.is_empty(), "another step holds the slots: nothing now");
    w.load.busy = false;
    let sent = task_dispatches(&w.go(Input::Timer {
        key: "task-slot:p9:1".into(),
        kind: TimerKind::TaskSlot,
    }));
    assert_eq!(
        sent.len(),
        1,
        "4 slots: 1 held by another run, 2 for those ahead"
    );
    let held = super::step::task_load(&w.p, &w.cfg, w.now);
    assert_eq!((held.in_flight, held.ready, held.rank), (1, 2, 2));
    w.comment(lead(), "/priority critical");
    assert_eq!(super::step::task_load(&w.p, &w.cfg, w.now).rank, 0);
    // Within one pipeline's scope the others do not count.
    let (mut own, _) = World::with_config(body, LoadedConfig::load(None, Some(DEVELOP)));
    own.load = w.load;
    own.advance_to_development();
    let sent = task_dispatches(&own.go(Input::EffectDone {
        key: "branch".into(),
        result: EffectResult::Branch { existed: false },
    }));
    assert_eq!(sent.len(), 2, "max_parallel 2 of its own");
}
