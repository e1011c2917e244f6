//! The summary comment that closes a feature issue: what went out, the timeline of phases
//! with times, the lead time from label to production, who approved each gate, and links to
//! every run and deployment with what it reported.
//!
//! Must not: read a clock (times come from the pipeline's timeline).

use super::skip_lines;
use crate::pipeline::config::{LoadedConfig, format_duration};
use crate::pipeline::evidence::describe;
use crate::pipeline::model::*;
use crate::pipeline::text::{at, short, span};

/// The repository's web address, from the PR's (`…/owner/repo/pull/12`).
fn repo_web(p: &Pipeline) -> Option<String> {
    let url = &p.pr.as_ref()?.url;
    url.rfind("/pull/").map(|i| url[..i].to_owned())
}

fn approval(what: &str, a: &Option<Approval>) -> Option<String> {
    a.as_ref()
        .map(|a| format!("{what} by @{} ({})", a.by, a.via))
}

pub fn closing_summary(p: &Pipeline, cfg: &LoadedConfig) -> String {
    let mut s = String::new();
    let merge = p.merge.as_ref();
    let merge_sha = p.merge_sha().unwrap_or_default();
    let pr = p.pr.as_ref().map(|pr| pr.number).unwrap_or_default();
    let health = &cfg.config.deploy.production.health;
    let held = if health.url.is_some() {
        format!("healthy for {}", format_duration(health.window))
    } else {
        "deploy succeeded (no health check configured)".to_owned()
    };
    s.push_str(&format!(
        "🚀 **{} is in production.** `{}` ({}) is deployed: {held}.\n\n",
        p.name(),
        short(merge_sha),
        merge.map(|m| m.title.as_str()).unwrap_or("merge of #?"),
    ));
    let started = p.timeline.first().map(|t| t.1).unwrap_or(p.created_at);
    let finished = p.timeline.last().map(|t| t.1).unwrap_or(started);
    s.push_str(&format!(
        "**Lead time:** {} from the `{}` label to a healthy production.\n\n",
        span(finished - started),
        cfg.config.trigger_label
    ));
    s.push_str("| phase | entered | time in phase |\n|---|---|---|\n");
    for (i, (phase, t)) in p.timeline.iter().enumerate() {
        let stay = p
            .timeline
            .get(i + 1)
            .map(|next| span(next.1 - t))
            .unwrap_or_else(|| "—".into());
        s.push_str(&format!("| {} | {} | {stay} |\n", phase.name(), at(*t)));
    }
    let approvals: Vec<String> = [
        approval("requirement", &p.requirement),
        approval("plan", &p.plan),
        approval("production", &p.production),
    ]
    .into_iter()
    .flatten()
    .chain(
        p.reviews
            .iter()
            .filter(|(_, r)| r.state == ReviewState::Approved)
            .map(|(login, _)| format!("review by @{login}")),
    )
    .collect();
    if !approvals.is_empty() {
        s.push_str(&format!("\n**Approved:** {}.\n", approvals.join(", ")));
    }
    if !p.skips.is_empty() {
        s.push_str("\n**Skipped gates**\n\n");
        s.push_str(&skip_lines(p));
    }
    s.push_str(&format!("\n**Runs and deployments** (#{pr})\n"));
    let head = p.pr_head_sha().unwrap_or_default();
    for r in p.runs.iter().filter(|r| r.sha == head) {
        let result = match &r.state {
            RunState::Succeeded => "success".to_owned(),
            RunState::Failed(c) => c.clone(),
            other => format!("{other:?}").to_lowercase(),
        };
        let link = r
            .url
            .as_ref()
            .map(|u| format!(" ([run]({u}))"))
            .unwrap_or_default();
        let reported = r.reported().and_then(describe);
        s.push_str(&format!(
            "- `{}` on `{}`: {result}{link}{}\n",
            r.workflow,
            short(&r.sha),
            reported.map(|e| format!(" — {e}")).unwrap_or_default()
        ));
    }
    s.push_str(&deploy_lines(p));
    for w in p.health.iter().filter(|w| w.outcome.is_some()) {
        s.push_str(&format!(
            "- {} health: {} of {} probes of {} ok\n",
            w.environment,
            w.total - w.failed,
            w.total,
            w.url
        ));
    }
    s
}

/// One line per deploy: environment, SHA, result, run and deployment links.
pub fn deploy_lines(p: &Pipeline) -> String {
    let mut s = String::new();
    let web = repo_web(p);
    for d in &p.deploys {
        let result = d.state.describe();
        let run = d
            .url
            .as_ref()
            .map(|u| format!(" ([run]({u}))"))
            .unwrap_or_default();
        let deployment = match (d.deployment_id, &web) {
            (Some(id), Some(web)) => {
                format!(", [deployment {id}]({web}/deployments/{})", d.environment)
            }
            (Some(id), None) => format!(", deployment {id}"),
            _ => String::new(),
        };
        let reported = d.evidence.as_ref().and_then(describe);
        s.push_str(&format!(
            "- {} {} of `{}`: {result}{run}{deployment}{}\n",
            d.environment,
            d.kind(),
            short(&d.sha),
            reported.map(|e| format!(" — {e}")).unwrap_or_default()
        ));
    }
    s
}

/// The closing summary's last line: the audit log's head (`SEQ:HASH`) when it was posted,
/// which a later `shipgate audit verify --head` checks the log against.
pub fn audit_head_note(head: &str) -> String {
    format!(
        "\n\n**Audit log head:** `{head}` — `shipgate audit verify --head {head}` proves the log still holds every entry up to this one."
    )
}
