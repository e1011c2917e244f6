//! The `shipgate` check run on a SHA.

use super::{Attempt, Executor};
use crate::github::client::{CheckAction, CheckOutput, CheckRunRequest};
use crate::github::rest::GitHubError;
use crate::pipeline::model::EffectResult;
use crate::pipeline::views;

impl Executor {
    /// The `shipgate` check run on `sha` drawn from the latest state: updated by its known
    /// id, else found by `external_id` (`p<id>:<sha>`) when an attempt may have created it,
    /// else created. (`checks/create`, `checks/update`, `checks/list-for-ref`) An update that
    /// would leave it as shipgate last drew it is not sent.
    pub(super) async fn sync_check_run(
        &self,
        at: &Attempt<'_>,
        sha: &str,
    ) -> Result<Option<EffectResult>, GitHubError> {
        let (p, cfg, repo) = (at.p, at.cfg, at.repo);
        let gh = self.github();
        let view = views::check_run(p, cfg, sha);
        let known = p.check_runs.get(sha);
        let is_head = p.head_sha() == Some(sha) || p.check_run_sha() == Some(sha);
        if known.is_none() && !is_head {
            return Ok(None); // nothing to mark superseded
        }
        let request = CheckRunRequest {
            status: Some(view.status.into()),
            conclusion: view.conclusion.map(Into::into),
            output: Some(CheckOutput {
                title: view.title.clone(),
                summary: view.summary.clone(),
                text: None,
            }),
            actions: Some(
                view.actions
                    .iter()
                    .map(|b| CheckAction {
                        label: b.label().into(),
                        description: b.description().into(),
                        identifier: b.identifier().into(),
                    })
                    .collect(),
            ),
            details_url: self
                .outlets
                .public_url
                .join(&format!("pipelines/{}", p.id))
                .ok()
                .map(String::from),
            ..Default::default()
        };
        let completed = view.status == "completed";
        let surface = self.surface(p.id, format!("check:{sha}"));
        let drawing = serde_json::to_string(&request).unwrap_or_default();
        // A completed check run is not reopened: a retry gets a new one on the same SHA.
        if let Some(known) = known.filter(|k| !k.completed || completed) {
            // Drawn already (perhaps by an attempt whose result was not recorded): not sent
            // again, and the pipeline still learns that it completed.
            if !surface.shows(known.id, &drawing).await {
                gh.update_check_run(repo, known.id, &request).await?;
                surface.drew(known.id, &drawing).await;
            }
            return Ok(
                (known.completed != completed).then_some(EffectResult::CheckRun {
                    sha: sha.into(),
                    id: known.id,
                    completed,
                }),
            );
        }
        let external_id = format!("p{}:{sha}", p.id);
        if at.may_have_run {
            let existing = gh.check_runs_for(repo, sha, "shipgate").await?;
            // The newest of ours on this SHA; a completed one is reused unless the pipeline
            // needs it open again (a retry), which gets a new check run.
            if let Some(found) = existing
                .into_iter()
                .filter(|c| c.external_id.as_deref() == Some(&external_id))
                .max_by_key(|c| c.id)
                .filter(|c| c.status != "completed" || completed)
            {
                let info = gh.update_check_run(repo, found.id, &request).await?;
                surface.drew(info.id, &drawing).await;
                return Ok(Some(EffectResult::CheckRun {
                    sha: sha.into(),
                    id: info.id,
                    completed,
                }));
            }
        }
        let create = CheckRunRequest {
            name: Some("shipgate".into()),
            head_sha: Some(sha.into()),
            external_id: Some(external_id),
            ..request
        };
        let info = gh.create_check_run(repo, &create).await?;
        surface.drew(info.id, &drawing).await;
        Ok(Some(EffectResult::CheckRun {
            sha: sha.into(),
            id: info.id,
            completed,
        }))
    }
}
