//! Custom deployment protection rules: when shipgate is the rule on an environment, GitHub
//! asks it before a job deploys there. shipgate approves only a run of its own pipeline
//! whose gates for that environment hold — review and tests at the SHA for staging, the
//! production approval of that merge commit for production, and any rollback it started —
//! and otherwise rejects, saying what is missing.
//!
//! A rejected deploy of its own fails (GitHub fails the run) without a rollback: nothing
//! was deployed.
//!
//! Must not: approve a run this pipeline did not dispatch, or anything while it is blocked
//! or over (rollbacks excepted).

use super::Step;
use super::runs::Claim;
use crate::pipeline::gates::{self, Gate};
use crate::pipeline::model::*;
use crate::pipeline::provenance::foreign_run_text;
use crate::pipeline::text::short;
use crate::pipeline::views::{failures, refusals as say, verdict};

impl Step<'_> {
    pub(super) fn on_protection_rule(
        &mut self,
        run_id: u64,
        environment: &str,
        sha: &str,
        run: Option<&RunReport>,
    ) {
        // By run id; a run the pipeline has no id for yet (its dispatch answer has not
        // landed) only if it is, in every respect, the run shipgate dispatched.
        let mut index = self
            .p
            .deploys
            .iter()
            .rposition(|d| d.run_id == Some(run_id));
        let mut foreign = None;
        if let (None, Some(report)) = (index, run) {
            match self.claim(report, None) {
                Claim::Deploy(i) => {
                    let (correlation, url) =
                        (self.p.deploys[i].correlation.clone(), report.url.clone());
                    self.note_deploy_run(&correlation, run_id, &url);
                    index = Some(i);
                }
                Claim::Foreign(why) => {
                    self.p.foreign_runs.insert(run_id);
                    foreign = Some(foreign_run_text(report, &why));
                }
                Claim::Test(_) | Claim::Task(_) | Claim::Unrelated => {}
            }
        }
        let verdict = match (index, foreign) {
            (Some(i), _) => match (
                self.rerun_by_someone_else(run_id, run),
                run.and_then(|r| self.ran_elsewhere(&Claim::Deploy(i), r)),
            ) {
                (Some(why), _) => Err(why),
                // Its branch moved before GitHub started it: another commit's workflow.
                (None, Some(ran)) => Err(verdict::branch_moved(run_id, &ran)),
                (None, None) => self.protection_verdict(&self.p.deploys[i], environment),
            },
            (None, Some(text)) => Err(text),
            (None, None) => Err(verdict::not_dispatched(run_id)),
        };
        let (approved, comment) = match verdict {
            Ok(why) => (true, verdict::comment(&self.p.name(), &why)),
            Err(missing) => (false, verdict::comment(&self.p.name(), &missing)),
        };
        self.audit(
            "shipgate",
            if approved {
                "protection rule approved"
            } else {
                "protection rule rejected"
            },
            format!("{environment}, run {run_id} at `{}`: {comment}", short(sha)),
        );
        self.emit(Action::ReviewProtection {
            run_id,
            environment: environment.to_owned(),
            approved,
            comment: comment.clone(),
        });
        if approved {
            return;
        }
        match index {
            // GitHub fails the run; nothing was deployed, so this is no rollback trigger.
            Some(i) if !self.p.deploys[i].state.is_finished() => self.deploy_rejected(i, &comment),
            _ => {
                let issue = self.p.issue;
                self.reply(issue, verdict::rejected(environment, sha, run_id, &comment));
            }
        }
    }

    /// shipgate rejected its own deploy run: the deploy fails without deploying anything,
    /// and its stage fails if the pipeline was waiting for it.
    fn deploy_rejected(&mut self, i: usize, comment: &str) {
        let d = &self.p.deploys[i];
        let why = failures::deploy_rejected(d, comment);
        self.deploy_void(i, "rejected", why);
    }

    /// Deploy `i` ends as `conclusion` without having deployed what shipgate decided, so it
    /// is no rollback trigger: its stage fails if the pipeline was waiting for it, saying
    /// `why`.
    pub(super) fn deploy_void(&mut self, i: usize, conclusion: &str, why: String) {
        let d = self.finish_deploy(i, DeployState::Failed(conclusion.into()));
        let (environment, deployment_id) = (d.environment, d.deployment_id);
        if let Some(deployment_id) = deployment_id {
            self.emit(Action::DeploymentStatus {
                deployment_id,
                state: "failure".into(),
                log_url: None,
                environment_url: None,
                description: format!("{conclusion} by shipgate"),
            });
        }
        let waiting = matches!(
            (environment, self.p.phase),
            (Environment::Staging, Phase::Staging) | (Environment::Production, Phase::Production)
        );
        if waiting {
            self.fail(environment, why);
        } else {
            let issue = self.p.issue;
            self.reply(issue, verdict::stopped(&why));
        }
    }

    /// A person's re-run of shipgate's run keeps its id, but shipgate did not start it: why,
    /// if the run GitHub reports is that.
    fn rerun_by_someone_else(&self, run_id: u64, run: Option<&RunReport>) -> Option<String> {
        let origin = run?.origin.as_ref()?;
        (!origin.by_app).then(|| {
            format!(
                "run {run_id} was re-run by @{}; shipgate deploys only what it dispatches",
                origin.actor
            )
        })
    }

    /// Why the deploy may go to `environment`, or what it still needs. (The run's commit is
    /// not compared: a rollback runs on the default branch's head and deploys its `sha`
    /// input. The run id, or its `pipeline` input, is what ties the run to the deploy.)
    /// `environment` is GitHub's name for the environment the run deploys to.
    fn protection_verdict(&self, deploy: &Deploy, environment: &str) -> Result<String, String> {
        if deploy.environment.name() != environment {
            return Err(verdict::other_environment(deploy.environment, environment));
        }
        if deploy.state == DeployState::Superseded {
            return Err(verdict::superseded());
        }
        if deploy.state.is_finished() {
            return Err(verdict::finished(deploy));
        }
        if let Some(reason) = &deploy.rollback_reason {
            return Ok(verdict::rollback(&deploy.sha, reason));
        }
        if !self.cfg.is_valid() {
            return Err(say::gates_hold_config_broken());
        }
        if self.p.phase.is_terminal() || self.p.phase == Phase::Failed {
            return Err(say::pipeline_is(self.p.phase));
        }
        if let Some(b) = self.p.blockers.first() {
            return Err(verdict::blocked(b));
        }
        match deploy.environment {
            Environment::Staging => {
                if let Some(who) = &deploy.requested_by {
                    return Ok(verdict::deployed_by_command(who, &deploy.sha));
                }
                let open: Vec<Gate> = [
                    gates::review_gate(&self.p, self.cfg, &deploy.sha),
                    gates::tests_gate(&self.p, self.cfg, &deploy.sha),
                ]
                .into_iter()
                .filter(|g| !g.passed)
                .collect();
                if open.is_empty() {
                    Ok(verdict::reviewed_and_tested(&deploy.sha))
                } else {
                    Err(verdict::not_passed(&open))
                }
            }
            Environment::Production => match &self.p.production {
                Some(a) if self.p.merge_sha() == Some(deploy.sha.as_str()) => {
                    Ok(verdict::production_approved(a, &deploy.sha))
                }
                Some(_) => Err(verdict::not_the_approved_merge(&deploy.sha)),
                None => Err(verdict::production_not_approved()),
            },
        }
    }
}
