//! Incident issues (`rollback.open_incident`, on by default): a production rollback opens an
//! issue with the trigger, the timeline, and links to the runs and deployments, assigned to
//! the PR's author and cross-linked from the feature issue; the rollback's outcome is added
//! to it when it is known.
//!
//! Must not: open one for a staging rollback, or two for one rollback (the executor finds
//! an issue carrying the rollback's marker before it creates one).

use super::Step;
use crate::pipeline::model::*;
use crate::pipeline::views::incident::{incident_body, incident_marker};
use crate::pipeline::views::replies;

impl Step<'_> {
    /// A production rollback is under way (or found nothing to restore): open its
    /// incident issue, if configured.
    pub(super) fn open_incident(&mut self, r: &RollbackRecord) {
        if r.environment != Environment::Production || !self.cfg.config.rollback.open_incident {
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
        self.reply(issue, replies::incident_opened(number));
        self.notify(
            "incident",
            format!(
                "Incident #{number}: production rolled back for {} “{}”",
                self.p.name(),
                self.p.title
            ),
        );
    }

    /// Adds the rollback's outcome to its incident issue, when there is one.
    pub(super) fn tell_incident(&mut self, text: String) {
        if let Some(&number) = self.p.incidents.last() {
            self.reply(number, text);
        }
    }
}
