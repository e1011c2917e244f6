//! Custom deployment protection rules: when shipgate is the rule on an environment, GitHub
//! asks it before a job deploys there. shipgate approves only a run of its own pipeline
//! whose gates for that environment hold — review and tests at the SHA for staging, the
//! production approval of that merge commit for production, and any rollback it started —
//! and otherwise rejects, saying what is missing.
//!
//! Must not: approve a run this pipeline did not dispatch, or anything while it is blocked
//! or over.

use super::model::*;
use super::render;
use super::step::{Step, short};

impl Step<'_> {
    pub(super) fn on_protection_rule(&mut self, run_id: u64, environment: &str, sha: &str) {
        let verdict = self.protection_verdict(run_id, environment);
        let (approved, comment) = match verdict {
            Ok(why) => (true, format!("{}: {why}", self.p.name())),
            Err(missing) => (false, format!("{}: {missing}", self.p.name())),
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
        if !approved {
            let issue = self.p.issue;
            self.reply(
                issue,
                format!(
                    "🛑 The `{environment}` deployment of `{}` is rejected: {comment}",
                    short(sha)
                ),
            );
        }
        self.emit(Action::ReviewProtection {
            run_id,
            environment: environment.to_owned(),
            approved,
            comment,
        });
    }

    /// Why the run may deploy, or what it still needs.
    /// (The run's commit is not compared: a rollback runs on the default branch's head and
    /// deploys its `sha` input. The run id is what ties the run to the deploy.)
    fn protection_verdict(&self, run_id: u64, environment: &str) -> Result<String, String> {
        let deploy = self
            .p
            .deploys
            .iter()
            .rev()
            .find(|d| d.run_id == Some(run_id))
            .ok_or_else(|| format!("run {run_id} is not a deploy shipgate dispatched"))?;
        if deploy.environment != environment {
            return Err(format!(
                "run {run_id} was dispatched for {}, not {environment}",
                deploy.environment
            ));
        }
        if let Some(reason) = &deploy.rollback_reason {
            return Ok(format!("a rollback to `{}`: {reason}", short(&deploy.sha)));
        }
        if self.p.phase.is_terminal() || self.p.phase == Phase::Failed {
            return Err(format!("the pipeline is {}", self.p.phase.name()));
        }
        if let Some(b) = self.p.blockers.first() {
            return Err(format!(
                "it is blocked by @{}: {}",
                b.by,
                b.reason.as_deref().unwrap_or("no reason given")
            ));
        }
        if deploy.state == DeployState::Superseded {
            return Err("a newer deploy replaced this one".into());
        }
        match environment {
            "staging" => {
                let open: Vec<String> = [
                    render::review_gate(&self.p, self.cfg, &deploy.sha),
                    render::tests_gate(&self.p, self.cfg, &deploy.sha),
                ]
                .into_iter()
                .filter(|g| !g.passed)
                .map(|g| format!("{}: {}", g.name, g.waiting.unwrap_or(g.state)))
                .collect();
                if open.is_empty() {
                    Ok(format!("review and tests passed at `{}`", short(&deploy.sha)))
                } else {
                    Err(format!("not passed yet — {}", open.join("; ")))
                }
            }
            "production" => match &self.p.production {
                Some(a) if self.p.merge_sha() == Some(deploy.sha.as_str()) => Ok(format!(
                    "production approved by @{} ({}), merged as `{}`",
                    a.by,
                    a.via,
                    short(&deploy.sha)
                )),
                Some(_) => Err(format!(
                    "`{}` is not the merge commit production was approved for",
                    short(&deploy.sha)
                )),
                None => Err("production is not approved: it needs `/approve production` from a release approver".into()),
            },
            other => Err(format!(
                "shipgate guards `staging` and `production`; `{other}` is not one of them"
            )),
        }
    }
}
