//! Repository-level work in the outbox (no pipeline): checking a pushed
//! `.github/shipgate.yml` and reporting it as the `shipgate / config` check run, operator
//! notifications, and rejecting a protection rule for a run no pipeline dispatched.
//!
//! Must not: change pipelines.

use serde::{Deserialize, Serialize};

use super::resolver::Resolver;
use crate::github::client::{CheckOutput, CheckRunRequest, ProtectionReview, RepoRef};
use crate::github::rest::GitHubError;
use crate::pipeline::config::CONFIG_PATH;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RepoJob {
    ConfigCheck {
        installation_id: u64,
        repo: String,
        sha: String,
    },
    Notify(super::notify::Notification),
    /// A protection rule asked about a run no pipeline dispatched: rejected.
    RejectProtection {
        installation_id: u64,
        repo: String,
        run_id: u64,
        environment: String,
    },
}

pub const CONFIG_CHECK_NAME: &str = "shipgate / config";

impl RepoJob {
    /// Runs the job; `may_have_run`: an earlier attempt may have done it (its answer lost).
    pub async fn run(&self, resolver: &Resolver, may_have_run: bool) -> Result<(), GitHubError> {
        match self {
            // Sent by the executor, which holds the notifier.
            RepoJob::Notify(_) => Ok(()),
            RepoJob::RejectProtection {
                installation_id,
                repo,
                run_id,
                environment,
            } => {
                let Some(repo) = RepoRef::new(*installation_id, repo) else {
                    return Ok(());
                };
                let review = ProtectionReview {
                    environment_name: environment.clone(),
                    state: "rejected".into(),
                    comment: format!(
                        "shipgate deploys to `{environment}` only from a feature's pipeline; no pipeline dispatched run {run_id}"
                    ),
                };
                super::executor::answer_protection_rule(
                    resolver.github().as_ref(),
                    &repo,
                    *run_id,
                    &review,
                    may_have_run,
                )
                .await
            }
            RepoJob::ConfigCheck {
                installation_id,
                repo,
                sha,
            } => {
                let Some(repo) = RepoRef::new(*installation_id, repo) else {
                    return Ok(());
                };
                let (loaded, has_own) =
                    super::resolver::read_config(resolver.github().as_ref(), &repo, sha).await?;
                let (conclusion, title, summary) = if !has_own {
                    (
                        "success",
                        "No configuration: the defaults apply".to_owned(),
                        format!("`{CONFIG_PATH}` was removed; shipgate uses its defaults."),
                    )
                } else if loaded.is_valid() {
                    (
                        "success",
                        "Configuration is valid".to_owned(),
                        format!(
                            "`{CONFIG_PATH}` at `{}` is valid.",
                            &sha[..sha.len().min(7)]
                        ),
                    )
                } else {
                    let list: Vec<String> =
                        loaded.errors.iter().map(|e| format!("- {e}")).collect();
                    (
                        "failure",
                        format!(
                            "{} problem{} in {CONFIG_PATH}",
                            loaded.errors.len(),
                            if loaded.errors.len() == 1 { "" } else { "s" }
                        ),
                        format!(
                            "Every pipeline's gates hold while the configuration on the default branch has errors.\n\n{}",
                            list.join("\n")
                        ),
                    )
                };
                let request = CheckRunRequest {
                    name: Some(CONFIG_CHECK_NAME.into()),
                    head_sha: Some(sha.clone()),
                    external_id: Some(format!("config:{sha}")),
                    status: Some("completed".into()),
                    conclusion: Some(conclusion.into()),
                    output: Some(CheckOutput {
                        title,
                        summary,
                        text: None,
                    }),
                    ..Default::default()
                };
                // Find before create: a repeated job edits the same check run.
                let gh = resolver.github();
                let existing = gh.check_runs_for(&repo, sha, CONFIG_CHECK_NAME).await?;
                match existing.first() {
                    Some(found) => {
                        gh.update_check_run(
                            &repo,
                            found.id,
                            &CheckRunRequest {
                                name: None,
                                head_sha: None,
                                ..request
                            },
                        )
                        .await?;
                    }
                    None => {
                        gh.create_check_run(&repo, &request).await?;
                    }
                }
                Ok(())
            }
        }
    }
}
