//! The development plan: the issue's task-list items and its sub-issues as numbered tasks,
//! with the dependencies written on them — `(after 2)` names task 2 of the plan, `(after
//! #7)` the task that is sub-issue #7, several at once as `(after 1, #7)` — and GitHub's own
//! "blocked by" between sub-issues, and the order
//! they can run in, as levels (every task of a level waits only for earlier levels). A
//! dependency on no task of the plan, or tasks that wait for each other, is a problem that
//! holds the plan's approval.
//!
//! Also `tick_task`: the issue body with one task-list item ticked, found by the same reading.
//!
//! Must not: read anything but the tasks (or, to tick one, the body) it is given; the
//! marker is read from a task's text, which the Markdown reader already took out of the
//! issue.

use std::collections::BTreeMap;

use super::linking::Task;

/// The most tasks a plan may have: each is a workflow run and a row in the status comment
/// (a 65,536-character issue body could list thousands).
pub const MAX_TASKS: usize = 100;

/// One task of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedTask {
    /// 1-based: task-list items first, in order, then sub-issues.
    pub id: u64,
    /// The task's text without its `(after …)` marker.
    pub title: String,
    /// For a task-list item: how many items before it have the same title (what tells
    /// two "Tests" apart); 0 for a sub-issue.
    pub nth: usize,
    /// The sub-issue's number; `None` for a task-list item.
    pub issue: Option<u64>,
    /// Ticked, or the sub-issue closed.
    pub done: bool,
    /// The tasks it waits for.
    pub after: Vec<u64>,
}

/// The tasks, their order, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub tasks: Vec<PlannedTask>,
    /// Task ids by level: level 0 waits for nothing.
    pub levels: Vec<Vec<u64>>,
    /// Dependencies on no task of the plan, cycles: each holds the plan's approval.
    pub problems: Vec<String>,
}

/// The plan of an issue with task-list items `tasks` and sub-issues `sub_issues`.
pub fn plan(tasks: &[Task], sub_issues: &[Task]) -> Plan {
    let mut problems = Vec::new();
    let listed: Vec<(u64, &Task)> = tasks
        .iter()
        .chain(sub_issues)
        .zip(1..)
        .map(|(t, i)| (i, t))
        .collect();
    let by_issue: BTreeMap<u64, u64> = listed
        .iter()
        .filter_map(|(id, t)| t.issue.map(|n| (n, *id)))
        .collect();
    let count = listed.len() as u64;
    let planned: Vec<PlannedTask> = listed
        .iter()
        .map(|(id, t)| {
            let (title, marks) = split_marker(&t.text);
            let mut after = Vec::new();
            for mark in marks {
                let target = match mark {
                    Mark::Task(n) if (1..=count).contains(&n) => Some(n),
                    Mark::Issue(n) => by_issue.get(&n).copied(),
                    Mark::Task(_) => None,
                };
                match target {
                    Some(n) if !after.contains(&n) => after.push(n),
                    Some(_) => {}
                    None => problems.push(format!(
                        "task {id} waits for {}, which is no task of this plan",
                        mark.name()
                    )),
                }
            }
            // GitHub's own "blocked by" between sub-issues; a blocker outside the plan is
            // not the plan's to order.
            for blocker in &t.blocked_by {
                if let Some(n) = by_issue.get(blocker)
                    && !after.contains(n)
                {
                    after.push(*n);
                }
            }
            after.sort_unstable();
            let nth = if t.issue.is_some() {
                0
            } else {
                listed
                    .iter()
                    .take_while(|(other, _)| other < id)
                    .filter(|(_, o)| o.issue.is_none() && split_marker(&o.text).0 == title)
                    .count()
            };
            PlannedTask {
                id: *id,
                title,
                nth,
                issue: t.issue,
                done: t.done,
                after,
            }
        })
        .collect();
    if planned.len() > MAX_TASKS {
        problems.push(format!(
            "the plan has {} tasks; at most {MAX_TASKS} (split the feature)",
            planned.len()
        ));
    }
    let (levels, stuck) = levels(&planned);
    match stuck.as_slice() {
        [] => {}
        [one] if planned[*one as usize - 1].after.contains(one) => {
            problems.push(format!("task {one} waits for itself"));
        }
        _ => {
            let names: Vec<String> = stuck.iter().map(u64::to_string).collect();
            problems.push(format!(
                "tasks {} can never start: their `(after …)` form a cycle",
                names.join(", ")
            ));
        }
    }
    Plan {
        tasks: planned,
        levels,
        problems,
    }
}

/// Kahn's layering: the levels, and the tasks left in or behind a cycle.
pub(crate) fn levels(tasks: &[PlannedTask]) -> (Vec<Vec<u64>>, Vec<u64>) {
    let mut placed: BTreeMap<u64, usize> = BTreeMap::new();
    let mut levels: Vec<Vec<u64>> = Vec::new();
    loop {
        let level: Vec<u64> = tasks
            .iter()
            .filter(|t| !placed.contains_key(&t.id))
            .filter(|t| t.after.iter().all(|d| placed.contains_key(d)))
            .map(|t| t.id)
            .collect();
        if level.is_empty() {
            break;
        }
        for id in &level {
            placed.insert(*id, levels.len());
        }
        levels.push(level);
    }
    let stuck = tasks
        .iter()
        .filter(|t| !placed.contains_key(&t.id))
        .map(|t| t.id)
        .collect();
    (levels, stuck)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    /// `(after 2)`: task 2 of the plan.
    Task(u64),
    /// `(after #7)`: the task that is sub-issue #7.
    Issue(u64),
}

impl Mark {
    fn name(self) -> String {
        match self {
            Mark::Task(n) => format!("task {n}"),
            Mark::Issue(n) => format!("#{n}"),
        }
    }
}

/// The text without its `(after …)` markers, and what they name. A marker that names
/// nothing it can read (`(after lunch)`) stays part of the text.
fn split_marker(text: &str) -> (String, Vec<Mark>) {
    let mut title = String::new();
    let mut marks = Vec::new();
    let mut rest = text;
    while let Some(start) = find_ascii_ci(rest, "(after ") {
        let Some(len) = rest[start..].find(')') else {
            break;
        };
        let inner = &rest[start + "(after ".len()..start + len];
        let parsed: Option<Vec<Mark>> = inner
            .split([',', ' '])
            .filter(|p| !p.is_empty() && !p.eq_ignore_ascii_case("and"))
            .map(|p| match p.strip_prefix('#') {
                Some(n) => n.parse().ok().map(Mark::Issue),
                None => p.parse().ok().map(Mark::Task),
            })
            .collect();
        match parsed {
            Some(found) if !found.is_empty() => {
                title.push_str(&rest[..start]);
                marks.extend(found);
            }
            _ => title.push_str(&rest[..start + len + 1]),
        }
        rest = &rest[start + len + 1..];
    }
    title.push_str(rest);
    (
        title.split_whitespace().collect::<Vec<_>>().join(" "),
        marks,
    )
}

/// `body` with the task-list item ticked whose text (without its `(after …)` marker) is
/// `title`, the `nth` (0-based) of the items with that text; `None` when it is not there or
/// is ticked already.
pub fn tick_task(body: &str, title: &str, nth: usize) -> Option<String> {
    let item = super::linking::task_items(body)
        .into_iter()
        .filter(|t| split_marker(&t.text).0 == title)
        .nth(nth)
        .filter(|t| !t.checked)?;
    let marker = body.get(item.marker.clone())?;
    if !marker.starts_with('[') || !marker.ends_with(']') {
        return None;
    }
    let mut ticked = body.to_owned();
    ticked.replace_range(item.marker, "[x]");
    Some(ticked)
}

fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .to_ascii_lowercase()
        .find(&needle.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(text: &str) -> Task {
        Task {
            text: text.into(),
            done: false,
            issue: None,
            blocked_by: vec![],
        }
    }

    fn sub(n: u64, text: &str) -> Task {
        Task {
            issue: Some(n),
            ..item(text)
        }
    }

    #[test]
    fn githubs_blocked_by_orders_sub_issues_and_blockers_outside_the_plan_do_not() {
        let blocked = |n: u64, text: &str, by: &[u64]| Task {
            blocked_by: by.to_vec(),
            ..sub(n, text)
        };
        let p = plan(
            &[item("Schema")],
            &[blocked(41, "API", &[40, 99]), sub(40, "Storage (after 1)")],
        );
        assert_eq!(
            p.tasks[1].after,
            vec![3],
            "#41 waits for #40, task 3; #99 is elsewhere"
        );
        assert_eq!(p.levels, vec![vec![1], vec![3], vec![2]]);
        assert!(p.problems.is_empty());
    }

    #[test]
    fn ticking_a_task_changes_its_marker_and_nothing_else() {
        let body = "Intro\r\n\r\n- [ ] Schema\r\n- [ ] Parser (after 1)\r\n  - [ ] Parser\r\n> - [ ] Parser\r\n";
        let ticked = tick_task(body, "Parser", 0).unwrap();
        assert_eq!(
            ticked,
            "Intro\r\n\r\n- [ ] Schema\r\n- [x] Parser (after 1)\r\n  - [ ] Parser\r\n> - [ ] Parser\r\n"
        );
        assert_eq!(
            tick_task(&ticked, "Parser", 1).unwrap(),
            "Intro\r\n\r\n- [ ] Schema\r\n- [x] Parser (after 1)\r\n  - [x] Parser\r\n> - [ ] Parser\r\n",
            "the second item of that text; never one in a quote"
        );
        assert_eq!(tick_task(&ticked, "Parser", 0), None, "ticked already");
        assert_eq!(tick_task(body, "Parser", 2), None, "a quote holds no task");
        assert_eq!(tick_task(body, "Missing", 0), None);
    }

    /// Found by `tests/fuzz.rs`: an item with no text is no task, so it must not be the one
    /// ticked for a task whose text is only its marker.
    #[test]
    fn an_empty_item_is_never_ticked_for_a_task() {
        let body = "- [ ] \n- [ ] (after 2)\n- [ ] Docs\n";
        let planned = plan(&crate::pipeline::linking::task_list(body), &[]);
        assert_eq!(planned.tasks[0].title, "");
        assert_eq!(
            tick_task(body, "", planned.tasks[0].nth).as_deref(),
            Some("- [ ] \n- [x] (after 2)\n- [ ] Docs\n")
        );
    }

    #[test]
    fn a_plan_of_more_than_a_hundred_tasks_is_a_problem() {
        let many: Vec<Task> = (0..=MAX_TASKS).map(|i| item(&format!("T{i}"))).collect();
        assert_eq!(
            plan(&many, &[]).problems,
            vec!["the plan has 101 tasks; at most 100 (split the feature)"]
        );
        assert!(plan(&many[..MAX_TASKS], &[]).problems.is_empty());
    }

    #[test]
    fn a_diamond_is_planned_in_three_levels() {
        let p = plan(
            &[
                item("Schema"),
                item("Parser (after 1)"),
                item("Exporter (After 1)"),
                item("CLI (after 2, 3)"),
            ],
            &[sub(40, "Docs (after #40)")],
        );
        assert_eq!(p.tasks[1].title, "Parser");
        assert_eq!(p.tasks[3].after, vec![2, 3]);
        assert_eq!(p.levels, vec![vec![1], vec![2, 3], vec![4]]);
        assert_eq!(p.problems, vec!["task 5 waits for itself"]);
    }

    #[test]
    fn cycles_and_unknown_tasks_are_problems_and_other_parentheses_are_text() {
        let p = plan(
            &[
                item("A (after 2)"),
                item("B (after 1)"),
                item("C (after 9)"),
                item("D (after lunch)"),
            ],
            &[],
        );
        assert_eq!(p.tasks[3].title, "D (after lunch)");
        assert!(p.tasks[3].after.is_empty());
        assert_eq!(p.levels, vec![vec![3, 4]]);
        assert_eq!(
            p.problems,
            vec![
                "task 3 waits for task 9, which is no task of this plan".to_owned(),
                "tasks 1, 2 can never start: their `(after …)` form a cycle".to_owned()
            ]
        );
    }

    proptest::proptest! {
        /// Over random dependency graphs: every task is placed after all it waits for, or
        /// the plan says there is a cycle — exactly when there is one.
        #[test]
        fn levels_respect_every_dependency_or_name_the_cycle(
            edges in proptest::collection::vec((1u64..=8, 1u64..=8), 0..16),
            n in 1u64..=8,
        ) {
            let texts: Vec<Task> = (1..=n)
                .map(|id| {
                    let after: Vec<String> = edges
                        .iter()
                        .filter(|(from, to)| *from == id && *to <= n)
                        .map(|(_, to)| to.to_string())
                        .collect();
                    if after.is_empty() {
                        item(&format!("T{id}"))
                    } else {
                        item(&format!("T{id} (after {})", after.join(", ")))
                    }
                })
                .collect();
            let p = plan(&texts, &[]);
            let level_of = |id: u64| p.levels.iter().position(|l| l.contains(&id));
            // A cycle exists iff depth-first search finds a back edge.
            fn cyclic(p: &Plan) -> bool {
                fn visit(p: &Plan, id: u64, state: &mut Vec<u8>) -> bool {
                    match state[id as usize] {
                        1 => return true,
                        2 => return false,
                        _ => {}
                    }
                    state[id as usize] = 1;
                    let found = p.tasks[id as usize - 1].after.iter().any(|d| visit(p, *d, state));
                    state[id as usize] = 2;
                    found
                }
                let mut state = vec![0u8; p.tasks.len() + 1];
                (1..=p.tasks.len() as u64).any(|id| visit(p, id, &mut state))
            }
            proptest::prop_assert_eq!(cyclic(&p), !p.problems.is_empty());
            for t in &p.tasks {
                match level_of(t.id) {
                    Some(l) => {
                        for d in &t.after {
                            let dl = level_of(*d);
                            proptest::prop_assert!(dl.is_some_and(|dl| dl < l));
                        }
                    }
                    None => proptest::prop_assert!(!p.problems.is_empty()),
                }
            }
        }
    }
}
