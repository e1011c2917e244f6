//! Effects on deployments: creating a GitHub Deployment once, dispatching the deploy
//! workflow, finding a rollback's target, posting deployment statuses, probing health and
//! answering deployment protection rules.

use super::{Attempt, Executor};
use crate::github::client::RepoRef;
use crate::github::client::{DeploymentRequest, DeploymentStatusRequest, GitHub, ProtectionReview};
use crate::github::rest::GitHubError;
use crate::pipeline::domain::Environment;
use crate::pipeline::model::EffectResult;

type Done = Result<Option<EffectResult>, GitHubError>;

/// What a deploy dispatch sends: `deploy.workflow` on `git_ref` with the inputs
/// `environment`, `sha`, `rollback` (and `reason` with a rollback's).
pub(super) struct DeployDispatch<'a> {
    pub workflow: &'a str,
    pub git_ref: &'a str,
    pub environment: Environment,
    pub sha: &'a str,
    pub correlation: &'a str,
    pub rollback_reason: Option<&'a str>,
}

impl Executor {
    /// A Deployment of `sha` to `environment`, found by `payload.pipeline` among the SHA's
    /// deployments when an attempt may have created it. (`repos/list-deployments`,
    /// `repos/create-deployment`)
    pub(super) async fn create_deployment(
        &self,
        at: &Attempt<'_>,
        environment: Environment,
        sha: &str,
        correlation: &str,
    ) -> Done {
        let (p, repo, gh) = (at.p, at.repo, self.github());
        if at.may_have_run {
            let found = gh
                .deployments_for(repo, sha, environment.name())
                .await?
                .into_iter()
                .find(|d| d.payload.get("pipeline").and_then(|v| v.as_str()) == Some(correlation));
            if let Some(d) = found {
                return Ok(Some(EffectResult::DeploymentCreated {
                    correlation: correlation.to_owned(),
                    deployment_id: d.id,
                }));
            }
        }
        let request = DeploymentRequest {
            git_ref: sha.to_owned(),
            environment: environment.name().to_owned(),
            description: format!("{} via shipgate", p.name()),
            payload: serde_json::json!({ "pipeline": correlation, "issue": p.issue }),
            production_environment: environment == Environment::Production,
        };
        let d = gh.create_deployment(repo, &request).await?;
        Ok(Some(EffectResult::DeploymentCreated {
            correlation: correlation.to_owned(),
            deployment_id: d.id,
        }))
    }

    /// Dispatches the deploy workflow. Production only ever deploys a commit on the branch
    /// it dispatches (a rollback's target was checked when it was found).
    /// (`repos/compare-commits`, `actions/create-workflow-dispatch`)
    pub(super) async fn dispatch_deploy(&self, at: &Attempt<'_>, d: DeployDispatch<'_>) -> Done {
        let mut inputs = vec![
            ("environment", d.environment.name()),
            ("sha", d.sha),
            (
                "rollback",
                if d.rollback_reason.is_some() {
                    "true"
                } else {
                    "false"
                },
            ),
        ];
        if let Some(reason) = d.rollback_reason {
            inputs.push(("reason", reason));
        }
        if d.environment == Environment::Production
            && d.rollback_reason.is_none()
            && !self
                .github()
                .branch_contains(at.repo, d.git_ref, d.sha)
                .await?
        {
            return Err(GitHubError::Refused {
                operation: "dispatch the production deploy",
                reason: format!("`{}` is not on `{}`", d.sha, d.git_ref),
            });
        }
        self.dispatch_once(at, d.workflow, d.git_ref, d.correlation, &inputs)
            .await
    }

    /// The newest deployment of another SHA that shipgate made and saw succeed (GitHub
    /// marks replaced deployments `inactive`, so any `success` of its in the history counts):
    /// a deployment or status anyone else created chooses nothing. Production goes back only
    /// to a commit on the default branch, where a rollback runs; staging also to a PR head
    /// shipgate deployed. (`repos/list-deployments`, `repos/list-deployment-statuses`)
    pub(super) async fn find_rollback_target(
        &self,
        at: &Attempt<'_>,
        environment: Environment,
        current_sha: &str,
        bad_shas: &[String],
    ) -> Done {
        let (p, repo, gh) = (at.p, at.repo, self.github());
        let bot = self.bot_login().await?;
        let by_bot = |login: &str| login.eq_ignore_ascii_case(&bot);
        for d in gh.environment_deployments(repo, environment.name()).await? {
            if d.sha == current_sha
                || bad_shas.contains(&d.sha)
                || !d.creator.as_ref().is_some_and(|c| by_bot(&c.login))
            {
                continue;
            }
            let states = gh.deployment_states(repo, d.id).await?;
            if !states.iter().any(|(s, by)| s == "success" && by_bot(by)) {
                continue;
            }
            if environment != Environment::Production
                || gh.branch_contains(repo, &p.default_branch, &d.sha).await?
            {
                return Ok(Some(EffectResult::RollbackTarget {
                    environment,
                    sha: Some(d.sha),
                }));
            }
        }
        Ok(Some(EffectResult::RollbackTarget {
            environment,
            sha: None,
        }))
    }

    /// A deployment status. shipgate posts each state at most once per deployment: one of
    /// its own in this state means an earlier attempt posted it.
    /// (`repos/create-deployment-status`)
    pub(super) async fn deployment_status(
        &self,
        at: &Attempt<'_>,
        deployment_id: u64,
        status: DeploymentStatusRequest,
    ) -> Done {
        let gh = self.github();
        if at.may_have_run {
            let bot = self.bot_login().await?;
            let posted = gh.deployment_states(at.repo, deployment_id).await?;
            if posted
                .iter()
                .any(|(s, by)| *s == status.state && by.eq_ignore_ascii_case(&bot))
            {
                return Ok(None);
            }
        }
        gh.create_deployment_status(at.repo, deployment_id, &status)
            .await?;
        Ok(None)
    }

    /// One health probe of `url` (the prober refuses addresses that are not public).
    pub(super) async fn probe(&self, environment: Environment, url: &str) -> EffectResult {
        let o = self.prober.probe(url).await;
        if o.refused.is_none() {
            self.outlets
                .metrics
                .probe(environment, o.ok, o.latency_ms as f64 / 1000.0);
        }
        EffectResult::Probed {
            environment,
            ok: o.ok,
            status: o.status,
            latency_ms: o.latency_ms,
            error: o.error,
            refused: o.refused,
        }
    }

    pub(super) async fn review_protection(
        &self,
        at: &Attempt<'_>,
        run_id: u64,
        review: &ProtectionReview,
    ) -> Done {
        answer_protection_rule(
            self.github().as_ref(),
            at.repo,
            run_id,
            review,
            at.may_have_run,
        )
        .await?;
        Ok(None)
    }
}

/// Answers a deployment protection rule. GitHub refuses (422) an answer to a rule that no
/// longer waits: after an attempt that may have answered it, that refusal means it did.
pub async fn answer_protection_rule(
    gh: &dyn GitHub,
    repo: &RepoRef,
    run_id: u64,
    review: &ProtectionReview,
    may_have_answered: bool,
) -> Result<(), GitHubError> {
    match gh.review_protection_rule(repo, run_id, review).await {
        Err(GitHubError::Status { status: 422, .. }) if may_have_answered => Ok(()),
        other => other,
    }
}
