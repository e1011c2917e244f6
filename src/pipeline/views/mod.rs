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
    let tasks: Vec<&Task> = p.tasks.iter().chain(&p.sub_issues).collect();
    if !tasks.is_empty() {
        s.push_str("\n**Tasks**\n");
        for t in tasks {
            let mark = if t.done { "x" } else { " " };
            match t.issue {
                Some(n) => s.push_str(&format!("- [{mark}] #{n} {}\n", t.text)),
                None => s.push_str(&format!("- [{mark}] {}\n", t.text)),
            }
        }
    }
    s.push_str(&config_errors(cfg));
    s.push_str(&format!("\n{}\n", commands::footer()));
    s
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
    format!(
        "{}\n\n{}**Waiting for:** {}\n\n{}\n\n{}{}",
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
    fn user_text_in_the_gate_table_stays_in_its_cell() {
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
