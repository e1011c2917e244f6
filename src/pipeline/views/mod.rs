//! What people read, made from the pipeline and its [`GateReport`]: the status comment, the
//! `/status` answer, the `shipgate` check runs (`check_run.rs`), the closing summary
//! (`summary.rs`), the incident issue (`incident.rs`) and the replies shipgate posts
//! (`replies.rs`).
//!
//! Must not: decide anything (gates are evaluated in `gates`; a view only shows them) or
//! change the pipeline.

mod check_run;
pub mod failures;
pub mod incident;
pub mod refusals;
pub mod replies;
mod summary;
pub mod verdict;

pub use check_run::{CheckRunView, buttons, check_run};
pub use summary::{audit_head_note, closing_summary, deploy_lines};

use super::commands;
use super::config::LoadedConfig;
use super::gates::{self, Gate, GateReport};
use super::model::*;
use super::plan::plan;
use super::text::{short, table_cell};

/// The hidden marker that lets shipgate find its status comment again.
pub fn status_marker(pipeline_id: i64) -> String {
    format!("<!-- shipgate:status pipeline={pipeline_id} -->")
}

fn gate_table(gates: &[Gate]) -> String {
    let mut t = String::from("| gate | state |\n|---|---|\n");
    for g in gates {
        let mark = if g.passed {
            "✅"
        } else if g.failed {
            "❌"
        } else {
            "⏳"
        };
        t.push_str(&format!(
            "| {mark} {} | {} |\n",
            g.name(),
            table_cell(&g.state)
        ));
    }
    t
}

fn config_errors(cfg: &LoadedConfig) -> String {
    if cfg.is_valid() {
        return String::new();
    }
    let mut s =
        String::from("\n**Configuration errors** — every gate holds until they are fixed:\n");
    for e in &cfg.errors {
        s.push_str(&format!("- {e}\n"));
    }
    s
}

fn readiness_line(report: &GateReport) -> String {
    let (score, missing) = (report.readiness.score, &report.readiness.missing);
    if missing.is_empty() {
        format!("**Readiness:** {score}/100")
    } else {
        format!("**Readiness:** {score}/100 ({})", missing.join(", "))
    }
}

fn headline(p: &Pipeline) -> String {
    let mut h = format!("**{}** · phase **{}**", p.name(), p.phase.name());
    if p.paused {
        h.push_str(" · ⏸️ paused");
    }
    if !p.blockers.is_empty() {
        h.push_str(" · 🚧 blocked");
    }
    if !p.skips.is_empty() {
        h.push_str(&format!(" · ⏭️ {} skipped", p.skips.len()));
    }
    if let Some(priority) = p.priority {
        h.push_str(&format!(
            " · priority **{}**",
            format!("{priority:?}").to_lowercase()
        ));
    }
    h
}

/// The status comment's body, marker first.
pub fn status_comment(p: &Pipeline, cfg: &LoadedConfig) -> String {
    let report = gates::evaluate(p, cfg);
    let mut s = status_marker(p.id);
    s.push_str(&format!("\n### shipgate · {}\n\n", headline(p)));
    if let Some(r) = &p.rejection {
        s.push_str(&format!(
            "❌ Rejected by @{}{}.\n\n",
            r.by,
            r.reason
                .as_ref()
                .map(|x| format!(": {x}"))
                .unwrap_or_default()
        ));
    }
    if let Some(f) = &p.failure {
        s.push_str(&format!(
            "⚠️ The **{}** stage failed: {}\n\n",
            f.stage, f.reason
        ));
    }
    for b in &p.blockers {
        s.push_str(&format!(
            "🚧 Blocked by @{}: {}\n\n",
            b.by,
            b.reason.as_deref().unwrap_or("no reason given")
        ));
    }
    s.push_str(&skip_lines(p));
    s.push_str(&pull_request_lines(p));
    for n in &p.incidents {
        s.push_str(&format!(
            "🚨 Incident #{n} is open for a production rollback.\n\n"
        ));
    }
    s.push_str(&format!("**Waiting for:** {}\n\n", report.waiting_for));
    s.push_str(&format!("{}\n\n", readiness_line(&report)));
    s.push_str(&gate_table(&report.gates));
    s.push_str(&task_lines(p, cfg));
    s.push_str(&config_errors(cfg));
    s.push_str(&format!("\n{}\n", commands::footer()));
    s
}

/// Where the PR shipgate opens itself stands (`develop.open_pr`).
fn own_pull_line(p: &Pipeline) -> String {
    let all_done = p.dev_tasks.iter().all(|t| t.state.settled());
    let line = match (&p.own_pr, &p.pr) {
        (Some(own), Some(pr)) if pr.draft && own.not_ready.is_some() => format!(
            "GitHub would not take #{} out of draft ({}): mark it ready for review by hand",
            pr.number,
            own.not_ready.as_deref().unwrap_or_default()
        ),
        (_, Some(pr)) if pr.draft => {
            format!("#{} is a draft until every task is done", pr.number)
        }
        (_, Some(pr)) => format!("#{}", pr.number),
        (Some(own), None) if own.refused.is_some() => {
            let next = if all_done {
                "open it by hand"
            } else {
                "asked again when another task is done"
            };
            format!(
                "GitHub would not open it ({}); {next}",
                own.refused.as_deref().unwrap_or_default()
            )
        }
        (Some(_), None) => "being opened".to_owned(),
        (None, None) => "shipgate opens it (a draft) once a task is done".to_owned(),
    };
    format!("\n**Pull request:** {line}\n")
}

/// The tasks: in development (with `develop.workflows`), each with its state, workflow,
/// attempt and run; before, the plan with its order (levels) and what holds it.
pub fn task_lines(p: &Pipeline, cfg: &LoadedConfig) -> String {
    let mut s = String::new();
    if !p.dev_tasks.is_empty() {
        let workflows = &cfg.config.develop.workflows;
        s.push_str("\n**Tasks**\n\n| task | state | workflow | run |\n|---|---|---|---|\n");
        for t in &p.dev_tasks {
            let state = match &t.state {
                TaskState::Waiting if t.not_before.is_some() => "🔁 retry waits".to_owned(),
                TaskState::Waiting if t.after.is_empty() => "⏳ waiting".to_owned(),
                TaskState::Waiting => format!("⏳ after {}", numbers(&t.after)),
                TaskState::Dispatching | TaskState::Running => "🏃 running".to_owned(),
                TaskState::Done(by) => format!("✅ done ({by})"),
                TaskState::Failed(why) => format!("❌ failed: {}", table_cell(why)),
                TaskState::Skipped { by, reason } => {
                    format!("⏭️ skipped by @{by}: {}", table_cell(reason))
                }
            };
            let workflow = match (t.attempt, workflows.get(t.workflow)) {
                (0, _) | (_, None) => "—".to_owned(),
                (a, Some(w)) => format!("`{w}` attempt {a}"),
            };
            let run = t
                .url
                .as_ref()
                .map(|u| format!("[run]({u})"))
                .unwrap_or_else(|| "—".into());
            let name = match t.issue {
                Some(n) => format!("{} #{n} {}", t.id, table_cell(&t.title)),
                None => format!("{} {}", t.id, table_cell(&t.title)),
            };
            s.push_str(&format!("| {name} | {state} | {workflow} | {run} |\n"));
        }
        if cfg.config.develop.open_pr && p.phase == Phase::Development {
            s.push_str(&own_pull_line(p));
        }
        return s;
    }
    let planned = plan(&p.tasks, &p.sub_issues);
    if planned.tasks.is_empty() {
        return s;
    }
    s.push_str("\n**Tasks**\n");
    // Numbered where tasks are dispatched, so people can write `(after 2)`.
    let numbered = cfg.config.develop.is_on();
    for t in &planned.tasks {
        let mark = if t.done { "x" } else { " " };
        let number = if numbered {
            format!("{}. ", t.id)
        } else {
            String::new()
        };
        let after = if t.after.is_empty() {
            String::new()
        } else {
            format!(" (after {})", numbers(&t.after))
        };
        match t.issue {
            Some(n) => s.push_str(&format!("- [{mark}] {number}#{n} {}{after}\n", t.title)),
            None => s.push_str(&format!("- [{mark}] {number}{}{after}\n", t.title)),
        }
    }
    if planned.problems.is_empty() {
        if planned.levels.len() > 1 && cfg.config.develop.is_on() {
            let order: Vec<String> = planned.levels.iter().map(|l| numbers(l)).collect();
            s.push_str(&format!("\n**Order:** {}\n", order.join(" → ")));
        }
    } else {
        for problem in &planned.problems {
            s.push_str(&format!("\n❌ {problem}\n"));
        }
    }
    s
}

/// `1, 2 and 3`.
fn numbers(ids: &[u64]) -> String {
    let names: Vec<String> = ids.iter().map(u64::to_string).collect();
    match names.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The answer to `/status`.
pub fn status_answer(p: &Pipeline, cfg: &LoadedConfig) -> String {
    let report = gates::evaluate(p, cfg);
    format!(
        "{}\n\n**Waiting for:** {}\n\n{}",
        headline(p),
        report.waiting_for,
        gate_table(&report.gates)
    )
}

/// One line per skip, for the status comment, the check run and the closing summary.
pub fn skip_lines(p: &Pipeline) -> String {
    p.skips
        .iter()
        .map(|s| {
            let at = s
                .sha
                .as_deref()
                .map(|sha| format!(" at `{}`", short(sha)))
                .unwrap_or_default();
            format!("⏭️ `{}` skipped{at} by @{}: {}\n\n", s.gate, s.by, s.reason)
        })
        .collect()
}

/// The part of the status comment the check runs' summaries share.
fn summary_body(p: &Pipeline, cfg: &LoadedConfig, report: &GateReport) -> String {
    // The development stage's tasks, once it runs them (the plan's list is the comment's).
    let tasks = if p.dev_tasks.is_empty() {
        String::new()
    } else {
        task_lines(p, cfg)
    };
    format!(
        "{}\n\n{}**Waiting for:** {}\n\n{}\n\n{}{tasks}{}",
        headline(p),
        skip_lines(p),
        report.waiting_for,
        readiness_line(report),
        gate_table(&report.gates),
        config_errors(cfg)
    )
}

/// Which PR drives the pipeline when others name the issue too, and why each other does not.
fn pull_request_lines(p: &Pipeline) -> String {
    let (Some(pr), false) = (&p.pr, p.passed_over.is_empty()) else {
        return String::new();
    };
    let mut s = format!("🔀 #{} drives this pipeline.", pr.number);
    for (n, why) in &p.passed_over {
        s.push_str(&format!(" #{n} does not: {why}."));
    }
    s.push_str("\n\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::domain::GateKind;

    /// A title with a `|` and a line break in a gate's evidence stays in its cell and row.
    #[test]
    fn user_text_in_the_gate_table_stays_in_its_table_cell() {
        let gate = Gate {
            kind: GateKind::ProductionApproval,
            passed: false,
            failed: false,
            state: "merging as “feat: a | b\n| forged | row |”".into(),
            waiting: None,
        };
        let table = gate_table(&[gate]);
        let rows: Vec<&str> = table.lines().collect();
        assert_eq!(rows.len(), 3, "{table}");
        assert_eq!(
            rows[2].matches(" | ").count(),
            1,
            "one unescaped cell border: {}",
            rows[2]
        );
    }
}
