//! From readiness to done: production approval (by command or check-run button), the squash
//! merge, the production deploy of the merge commit, and closing the issue with a summary.
//! Also `/deploy staging`, the manual way onto staging.
//!
//! Must not: deploy or merge anything a gate has not let through; read anything but the
//! pipeline, the configuration and `now`.

use super::Step;
use crate::pipeline::config::MergeMethod;
use crate::pipeline::gates::Gate;
use crate::pipeline::gates::{self, GateKind};
use crate::pipeline::model::*;
use crate::pipeline::text::short;
use crate::pipeline::views::refusals as say;
use crate::pipeline::views::{self, replies, replies::merge_title};

impl Step<'_> {
    /// `/approve production` or the button: an authorised release approver who did not
    /// author the PR, while every gate holds.
    pub(super) fn approve_production(&mut self, actor: &Actor, via: &str) -> Result<(), String> {
        if let Some(a) = &self.p.production {
            return Err(say::production_already_approved(&a.by));
        }
        if !self.cfg.is_valid() {
            return Err(say::gates_hold_config_broken());
        }
        let report = gates::evaluate(&self.p, self.cfg);
        let open: Vec<&Gate> = report.open_for_production().collect();
        if self.p.phase != Phase::Readiness {
            return Err(say::production_not_yet(self.p.phase, &open));
        }
        let Some(pr) = self.p.pr.clone() else {
            return Err(say::no_pull_request_yet());
        };
        if pr.author.eq_ignore_ascii_case(&actor.login) {
            return Err(say::author_cannot_release(&actor.login, pr.number));
        }
        if gates::changed_the_code(&self.p, &actor.login) {
            return Err(say::committer_cannot_release(&actor.login, pr.number));
        }
        if let Some(skip) = self
            .p
            .skips
            .iter()
            .find(|s| s.by.eq_ignore_ascii_case(&actor.login))
        {
            return Err(say::skipper_cannot_release(&actor.login, skip.gate));
        }
        self.authorise(
            actor,
            Some(GateKind::ProductionApproval),
            "approve production",
        )?;
        if !open.is_empty() {
            return Err(say::gates_must_pass(&open));
        }
        self.p.production = Some(Approval {
            by: actor.login.clone(),
            at: self.now,
            via: via.to_owned(),
        });
        self.p.production_sha = Some(pr.head_sha.clone());
        self.audit(
            &actor.login,
            "approve production",
            format!("{via}, #{} at `{}`", pr.number, short(&pr.head_sha)),
        );
        Ok(())
    }

    /// `/deploy staging`: deploys the PR's head to staging now (again, if it was), from
    /// review, staging or readiness.
    pub(super) fn deploy_staging_now(
        &mut self,
        environment: Environment,
        actor: &Actor,
    ) -> Result<String, String> {
        if environment != Environment::Staging {
            return Err(say::only_staging_by_command(environment));
        }
        if !matches!(
            self.p.phase,
            Phase::Review | Phase::Staging | Phase::Readiness
        ) {
            return Err(say::no_staging_deploy_now(self.p.phase));
        }
        if self.p.paused {
            return Err(say::paused_resume_first());
        }
        let Some(pr) = self.p.pr.clone().filter(|p| p.open) else {
            return Err(say::no_open_pull_request());
        };
        if pr.from_fork {
            return Err(say::fork_never_deployed(pr.number));
        }
        if let Some(d) = self.p.current_deploy(Environment::Staging)
            && !d.state.is_finished()
        {
            return Err(say::staging_deploy_under_way(&d.sha));
        }
        self.supersede_deploys(Environment::Staging);
        self.deploy_to(Environment::Staging, &pr.head_sha, &pr.head_branch);
        if let Some(d) = self.p.deploys.last_mut() {
            d.requested_by = Some(actor.login.clone());
        }
        if self.p.phase == Phase::Readiness {
            self.set_phase(Phase::Staging); // readiness needs the new deploy healthy
        }
        Ok(replies::deploying_staging(&pr.head_sha))
    }

    /// Production phase: merge once, then deploy the merge commit.
    pub(super) fn drive_production(&mut self) {
        if self.p.paused {
            return;
        }
        match self.p.merge.as_ref().map(|m| m.sha.clone()) {
            None => {
                let Some(pr) = self.p.pr.clone() else {
                    return;
                };
                if self.p.production_sha.as_deref() != Some(pr.head_sha.as_str()) {
                    // Only the head that was approved goes out.
                    self.p.production = None;
                    self.p.production_sha = None;
                    self.set_phase(Phase::Review);
                    return;
                }
                if let Some(problem) = gates::base_problem(&self.p, &pr) {
                    // Its base moved since the approval (it may even be merged there).
                    return self.fail(Stage::Merge, problem);
                }
                if let (true, Some(sha)) = (pr.merged, pr.merge_commit_sha.clone()) {
                    // Merged by a person before the approval: that commit goes out.
                    self.p.merge = Some(MergeRecord {
                        title: format!("merged on GitHub (#{})", pr.number),
                        requested_at: self.now,
                        sha: Some(sha),
                        merged_at: Some(self.now),
                        refused: None,
                    });
                    return self.drive_production();
                }
                let title = merge_title(&self.p, &pr);
                let approver = self
                    .p
                    .production
                    .as_ref()
                    .map(|a| a.by.clone())
                    .unwrap_or_default();
                let message = format!(
                    "Refs: {}\nProduction-approved-by: @{approver}",
                    self.p.name()
                );
                let method = match self.cfg.config.merge.method {
                    MergeMethod::Squash => "squash",
                    MergeMethod::Merge => "merge",
                    MergeMethod::Rebase => "rebase",
                };
                // The head's check run concludes first, so a branch protection rule that
                // requires it lets the merge through.
                self.emit(Action::SyncCheckRun {
                    sha: pr.head_sha.clone(),
                });
                self.p.merge = Some(MergeRecord {
                    title: title.clone(),
                    requested_at: self.now,
                    sha: None,
                    merged_at: None,
                    refused: None,
                });
                self.emit(Action::Merge {
                    number: pr.number,
                    sha: pr.head_sha.clone(),
                    base: self.p.default_branch.clone(),
                    title,
                    message,
                    method: method.into(),
                });
            }
            Some(None) => {} // the merge is under way
            Some(Some(sha)) => {
                if self.p.current_deploy(Environment::Production).is_none() {
                    let branch = self.p.default_branch.clone();
                    self.deploy_to(Environment::Production, &sha, &branch);
                }
            }
        }
    }

    pub(super) fn on_merged(&mut self, sha: &str) {
        if let Some(m) = self.p.merge.as_mut()
            && m.sha.is_none()
        {
            m.sha = Some(sha.to_owned());
            m.merged_at = Some(self.now);
            m.refused = None;
            let detail = format!("`{}`: {}", short(sha), m.title);
            self.audit("shipgate", "merge", detail);
        }
        if let Some(pr) = self.p.pr.as_mut() {
            pr.merged = true;
            pr.open = false;
        }
    }

    /// The merge did not happen: `why` says who refused it and why.
    pub(super) fn on_merge_refused(&mut self, why: String) {
        match self.p.merge.as_mut() {
            Some(m) if m.sha.is_none() => m.refused = Some(why.clone()),
            // The approval was withdrawn (a push) while the merge was on its way.
            _ => return,
        }
        self.fail(Stage::Merge, why);
    }

    /// Production held its window: done, the issue closed with a summary.
    pub(super) fn finish_production(&mut self) {
        self.set_phase(Phase::Done);
        let sha = self.p.merge_sha().unwrap_or_default().to_owned();
        self.audit(
            "shipgate",
            "production healthy",
            format!("`{}` is in production", short(&sha)),
        );
        let summary = views::closing_summary(&self.p, self.cfg);
        let issue = self.p.issue;
        self.emit(Action::ClosingSummary {
            on: issue,
            body: summary,
        });
        self.emit(Action::CloseIssue);
    }
}
