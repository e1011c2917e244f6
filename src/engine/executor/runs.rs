//! Effects on workflow runs: dispatching a workflow once, polling a run shipgate started,
//! and cancelling one.

use super::{Attempt, Executor};
use crate::engine::mapping;
use crate::github::rest::GitHubError;
use crate::pipeline::model::EffectResult;
use crate::pipeline::provenance;

type Done = Result<Option<EffectResult>, GitHubError>;

impl Executor {
    /// Dispatches a workflow with `inputs` and the `pipeline` input (`correlation` and the
    /// dispatch's nonce), unless an earlier attempt may have dispatched it and GitHub has a
    /// run that is, in every respect, the one it sent (`provenance::mismatch`).
    pub(super) async fn dispatch_once(
        &self,
        at: &Attempt<'_>,
        workflow: &str,
        git_ref: &str,
        correlation: &str,
        inputs: &[(&str, &str)],
    ) -> Done {
        let (p, cfg, repo, gh) = (at.p, at.cfg, at.repo, self.github());
        let nonce = gh
            .dispatch_nonce(repo, correlation)
            .ok_or(GitHubError::NotConfigured)?;
        let pipeline = format!("{correlation}.{nonce}");
        if at.may_have_run
            && let Some(sent) = provenance::dispatch_sent(p, &cfg.config, correlation)
        {
            let bot = self.bot_login().await?;
            for run in gh.find_dispatched_runs(repo, git_ref, &pipeline).await? {
                let mut report = mapping::run_report(&run, &bot, "");
                mapping::prove_dispatch(&mut report, |token| gh.dispatch_nonce(repo, token));
                let matches = report
                    .origin
                    .as_ref()
                    .is_some_and(|o| provenance::mismatch(o, &sent).is_none());
                if matches {
                    return Ok(Some(EffectResult::Dispatched {
                        correlation: correlation.to_owned(),
                        run_id: run.id,
                        url: run.html_url,
                    }));
                }
            }
        }
        let inputs: serde_json::Map<String, serde_json::Value> = inputs
            .iter()
            .chain([&("pipeline", pipeline.as_str())])
            .map(|(k, v)| ((*k).to_owned(), (*v).into()))
            .collect();
        let run = gh
            .dispatch_workflow(repo, workflow, git_ref, &inputs)
            .await?;
        Ok(Some(EffectResult::Dispatched {
            correlation: correlation.to_owned(),
            run_id: run.workflow_run_id,
            url: run.html_url,
        }))
    }

    /// A run polled by the id the dispatch answered with: shipgate's own run.
    /// (`actions/get-workflow-run`)
    pub(super) async fn poll_run(&self, at: &Attempt<'_>, run_id: u64, correlation: &str) -> Done {
        let run = self.github().workflow_run(at.repo, run_id).await?;
        Ok(Some(EffectResult::RunPolled {
            correlation: correlation.to_owned(),
            report: mapping::run_report(&run, "", ""),
        }))
    }

    /// `/stop`: 409 (the run finished or was cancelled) counts as done.
    /// (`actions/cancel-workflow-run`)
    pub(super) async fn cancel_run(&self, at: &Attempt<'_>, run_id: u64) -> Done {
        self.github().cancel_run(at.repo, run_id).await?;
        Ok(None)
    }
}
