//! Incident issues (`rollback.open_incident`, on by default): a production rollback opens an
//! issue with the trigger, the timeline, and links to the runs and deployments, assigned to
//! the PR's author and cross-linked from the feature issue; the rollback's outcome is added
//! to it when it is known.
//!
//! Must not: open one for a staging rollback, or two for one rollback (the executor finds
//! an issue carrying the rollback's marker before it creates one).

use super::deploys::probe_evidence;
use super::model::*;
use super::step::{Step, short};
use super::summary::{at, deploy_lines};

/// The label incident issues carry (the executor finds them by it).
pub const INCIDENT_LABEL: &str = "shipgate:incident";

/// The hidden marker that names one rollback's incident issue.
pub fn incident_marker(pipeline_id: i64, rollback_at: i64) -> String {
    format!("<!-- shipgate:incident pipeline={pipeline_id} rollback={rollback_at} -->")
}

fn incident_body(p: &Pipeline, r: &RollbackRecord) -> String {
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
        s.push_str(&format!("| {} | {what} |\n", at(t)));
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

impl Step<'_> {
    /// A production rollback is under way (or found nothing to restore): open its
    /// incident issue, if configured.
    pub(super) fn open_incident(&mut self, r: &RollbackRecord) {
        if r.environment != "production" || !self.cfg.config.rollback.open_incident {
            return;
        }
        self.emit(Action::OpenIncident {
            marker: incident_marker(self.p.id, r.at),
            title: format!(
                "Incident: production rolled back — {} {}",
                self.p.name(),
                self.p.title
            ),
            body: incident_body(&self.p, r),
            assignee: self.p.pr.as_ref().map(|pr| pr.author.clone()),
        });
    }

    /// GitHub has the incident issue: link it from the feature issue and tell the operators.
    pub(super) fn on_incident_opened(&mut self, number: u64) {
        if self.p.incidents.contains(&number) {
            return;
        }
        self.p.incidents.push(number);
        let issue = self.p.issue;
        self.reply(
            issue,
            format!("🚨 Incident #{number} is open for this production rollback."),
        );
        self.emit(Action::Notify {
            event: "incident".into(),
            text: format!(
                "Incident #{number}: production rolled back for {} “{}”",
                self.p.name(),
                self.p.title
            ),
        });
    }

    /// Adds the rollback's outcome to its incident issue, when there is one.
    pub(super) fn tell_incident(&mut self, text: String) {
        if let Some(&number) = self.p.incidents.last() {
            self.reply(number, text);
        }
    }
}
