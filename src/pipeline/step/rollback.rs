//! Rollback: `/rollback [reason]` (or its button) by an authorised user, or automatically
//! when a production deploy fails or its health does not hold. shipgate asks GitHub for the
//! last successful deployment of the environment before the current one, deploys that SHA
//! with `rollback=true` and the reason, marks the replaced deployment `inactive` once it
//! succeeds, and the pipeline becomes `rolled_back`, saying what, to what, why and by whom.
//!
//! Must not: roll back to a SHA this pipeline saw fail, or start a second rollback while one
//! is under way.

use super::Step;
use crate::pipeline::gates::GateKind;
use crate::pipeline::model::*;
use crate::pipeline::text::short;
use crate::pipeline::views::{failures, refusals as say, replies};

impl Step<'_> {
    /// The environment `/rollback` acts on in the current phase.
    fn rollback_environment(&self) -> Option<Environment> {
        match self.p.phase {
            Phase::Production | Phase::Done => Some(Environment::Production),
            Phase::Staging | Phase::Readiness => Some(Environment::Staging),
            Phase::Failed => match self.p.failure.as_ref().map(|f| f.phase) {
                Some(Phase::Production) => Some(Environment::Production),
                Some(Phase::Staging | Phase::Readiness) => Some(Environment::Staging),
                _ => None,
            },
            _ => None,
        }
    }

    /// `/rollback [reason]`: answers with what happens next, or why not.
    pub(super) fn rollback_command(
        &mut self,
        actor: &Actor,
        reason: Option<&str>,
        answer_on: u64,
    ) -> Result<String, String> {
        let Some(environment) = self.rollback_environment() else {
            return Err(say::nothing_to_roll_back(self.p.phase));
        };
        let gate = (environment == Environment::Production).then_some(GateKind::ProductionApproval);
        self.authorise(actor, gate, "roll back")?;
        let reason = reason
            .map(str::to_owned)
            .unwrap_or_else(|| format!("requested by @{}", actor.login));
        self.start_rollback(
            environment,
            reason,
            format!("@{}", actor.login),
            Some(answer_on),
            RollbackTrigger::Command,
        )?;
        Ok(replies::rolling_back(environment))
    }

    /// A failed production deploy or health window rolls back on its own.
    pub(super) fn roll_back_automatically(
        &mut self,
        environment: Environment,
        why: String,
        trigger: RollbackTrigger,
    ) {
        if let Err(cannot) =
            self.start_rollback(environment, why.clone(), "shipgate".into(), None, trigger)
        {
            self.fail(environment, format!("{why}; {cannot}"));
        }
    }

    pub(super) fn start_rollback(
        &mut self,
        environment: Environment,
        reason: String,
        by: String,
        answer_on: Option<u64>,
        trigger: RollbackTrigger,
    ) -> Result<(), String> {
        if self.p.rollback.as_ref().is_some_and(|r| !r.done) {
            return Err(say::rollback_under_way());
        }
        let Some(current) = self.p.current_deploy(environment).cloned() else {
            return Err(say::nothing_deployed_to(environment));
        };
        let bad_shas: Vec<String> = self
            .p
            .deploys
            .iter()
            .filter(|d| d.environment == environment && matches!(d.state, DeployState::Failed(_)))
            .map(|d| d.sha.clone())
            .collect();
        self.p.rollback = Some(RollbackRecord {
            environment,
            from_sha: current.sha.clone(),
            from_deployment: current.deployment_id,
            to_sha: None,
            reason: reason.clone(),
            by: by.clone(),
            at: self.now,
            answer_on,
            done: false,
            trigger: Some(trigger),
        });
        self.audit(
            by.trim_start_matches('@'),
            "rollback",
            format!("{environment} from `{}`: {reason}", short(&current.sha)),
        );
        self.emit(Action::FindRollbackTarget {
            environment,
            current_sha: current.sha,
            bad_shas,
        });
        Ok(())
    }

    /// GitHub answered with the last good deployment (or none).
    pub(super) fn on_rollback_target(&mut self, environment: Environment, sha: Option<&str>) {
        let Some(record) = self
            .p
            .rollback
            .clone()
            .filter(|r| !r.done && r.to_sha.is_none() && r.environment == environment)
        else {
            return;
        };
        let Some(sha) = sha else {
            self.p.rollback = None;
            let nothing = say::no_earlier_deployment(environment);
            match record.answer_on {
                Some(on) => {
                    self.audit(
                        record.by.trim_start_matches('@'),
                        "refused",
                        format!("/rollback: {nothing}"),
                    );
                    self.reply(on, replies::rollback_refused(&record.by, &nothing));
                }
                None => {
                    self.open_incident(&record);
                    self.fail(environment, format!("{}; {nothing}", record.reason))
                }
            }
            return;
        };
        if let Some(r) = self.p.rollback.as_mut() {
            r.to_sha = Some(sha.to_owned());
        }
        let branch = self.p.default_branch.clone();
        self.deploy_with(environment, sha, &branch, Some(record.reason));
    }

    /// The rollback deploy finished.
    pub(super) fn on_rollback_deployed(&mut self, sha: &str, succeeded: bool, url: &str) {
        let Some(record) = self.p.rollback.clone() else {
            return;
        };
        if !succeeded {
            let why = failures::rollback_failed(&record, sha, url);
            self.tell_incident(replies::failed(&why));
            self.fail(record.environment, why);
            return;
        }
        if let Some(r) = self.p.rollback.as_mut() {
            r.done = true;
        }
        if let Some(deployment_id) = record.from_deployment {
            self.emit(Action::DeploymentStatus {
                deployment_id,
                state: "inactive".into(),
                log_url: None,
                environment_url: None,
                description: format!("rolled back to {}", short(sha)),
            });
        }
        self.set_phase(Phase::RolledBack);
        let text = replies::rolled_back(&record, sha, url);
        let issue = self.p.issue;
        self.notify(
            "rollback",
            format!(
                "{} rolled back from `{}` to `{}` by {}: {}",
                record.environment,
                short(&record.from_sha),
                short(sha),
                record.by,
                record.reason
            ),
        );
        self.tell_incident(text.clone());
        self.reply(issue, text);
        self.audit(
            "shipgate",
            "rolled back",
            format!(
                "{} `{}` → `{}`",
                record.environment,
                short(&record.from_sha),
                short(sha)
            ),
        );
    }
}
