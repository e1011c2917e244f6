//! The incident issue a production rollback opens: its label, its hidden marker, and its
//! body (trigger, timeline, runs and deployments).
//!
//! Must not: read a clock (times come from the pipeline).

use super::deploy_lines;
use crate::pipeline::gates::probe_evidence;
use crate::pipeline::model::*;
use crate::pipeline::text::{at, short, table_cell};

/// The label incident issues carry (the executor finds them by it).
pub const INCIDENT_LABEL: &str = "shipgate:incident";

/// The hidden marker that names one rollback's incident issue.
pub fn incident_marker(pipeline_id: i64, rollback_at: i64) -> String {
    format!("<!-- shipgate:incident pipeline={pipeline_id} rollback={rollback_at} -->")
}

/// The incident issue's body: the trigger, the timeline and the runs and deployments.
pub fn incident_body(p: &Pipeline, r: &RollbackRecord) -> String {
    let mut s = incident_marker(p.id, r.at);
    s.push_str(&format!(
        "\n## {} rolled back: {} “{}”\n\n",
        r.environment,
        p.name(),
        p.title
    ));
    s.push_str(&format!("**Trigger:** {}\n\n", r.reason));
    s.push_str(&format!(
        "**Started by:** {} · **Feature:** #{}",
        r.by, p.issue
    ));
    if let Some(pr) = &p.pr {
        s.push_str(&format!(
            " · **Pull request:** #{} by @{}",
            pr.number, pr.author
        ));
    }
    match &r.to_sha {
        Some(to) => s.push_str(&format!(
            "\n\n**Rolling back:** {} from `{}` to `{}`, its last good deployment; the outcome \
             is added here.\n\n",
            r.environment,
            short(&r.from_sha),
            short(to)
        )),
        None => s.push_str(&format!(
            "\n\n**Not rolled back:** there is no earlier successful {} deployment to restore; \
             it is still on `{}` and needs a fix.\n\n",
            r.environment,
            short(&r.from_sha)
        )),
    }
    s.push_str("### Timeline\n\n| when (UTC) | what |\n|---|---|\n");
    let mut events: Vec<(i64, String)> = p
        .timeline
        .iter()
        .map(|(phase, t)| (*t, format!("phase **{}**", phase.name())))
        .collect();
    for d in &p.deploys {
        let what = format!("{} {} of `{}`", d.environment, d.kind(), short(&d.sha));
        events.push((d.started_at, format!("{what} started")));
        if let Some(end) = d.finished_at {
            events.push((end, format!("{what} {}", d.state.describe())));
        }
    }
    events.push((r.at, format!("rollback started by {}", r.by)));
    events.sort_by_key(|e| e.0);
    for (t, what) in events {
        s.push_str(&format!("| {} | {} |\n", at(t), table_cell(&what)));
    }
    if let Some(w) = p
        .health
        .iter()
        .rev()
        .find(|w| w.environment == r.environment && w.sha == r.from_sha)
    {
        s.push_str(&format!(
            "\n### Health of `{}`\n\n{} of {} probes of {} failed; the latest:\n\n",
            short(&w.sha),
            w.failed,
            w.total,
            w.url
        ));
        for probe in w.recent.iter().rev().take(5).rev() {
            s.push_str(&format!("- {}: {}\n", at(probe.at), probe_evidence(probe)));
        }
    }
    s.push_str("\n### Runs and deployments\n\n");
    s.push_str(&deploy_lines(p));
    s
}
