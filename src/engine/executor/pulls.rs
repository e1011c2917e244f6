//! Effects on branches and pull requests: the feature branch, the issue's sub-issues, the
//! pull request that names the issue, and the merge.

use super::{Attempt, Executor};
use crate::github::client::{MergeRequest, PullInfo};
use crate::github::rest::{FailureKind, GitHubError};
use crate::pipeline::linking;
use crate::pipeline::model::{EffectResult, Task};

type Done = Result<Option<EffectResult>, GitHubError>;

impl Executor {
    /// The feature branch from the head of `from` ("Reference already exists" means it was
    /// created). (`git/get-ref`, `git/create-ref`)
    pub(super) async fn create_branch(&self, at: &Attempt<'_>, branch: &str, from: &str) -> Done {
        let gh = self.github();
        let Some(sha) = gh.branch_sha(at.repo, from).await? else {
            return Err(GitHubError::Status {
                operation: "read the default branch",
                status: 404,
                message: format!("branch `{from}` not found"),
                kind: FailureKind::Permanent,
            });
        };
        let created = gh.create_branch(at.repo, branch, &sha).await?;
        Ok(Some(EffectResult::Branch { existed: !created }))
    }

    /// The issue's sub-issues, as tasks (`issues/list-sub-issues`); with the development
    /// stage on, each with the issues that block it (`issues/list-dependencies-blocked-by`,
    /// one request per sub-issue).
    pub(super) async fn fetch_sub_issues(&self, at: &Attempt<'_>) -> Done {
        let gh = self.github();
        let mut tasks = Vec::new();
        for s in gh.sub_issues(at.repo, at.p.issue).await? {
            let blocked_by = if at.cfg.config.develop.is_on() && s.state != "closed" {
                let blockers = gh.blocked_by(at.repo, s.number).await?;
                blockers.into_iter().map(|b| b.number).collect()
            } else {
                vec![]
            };
            tasks.push(Task {
                text: s.title,
                done: s.state == "closed",
                issue: Some(s.number),
                blocked_by,
            });
        }
        Ok(Some(EffectResult::SubIssues { tasks }))
    }

    /// The open pull requests that name the issue (a PR may be opened before the pipeline
    /// exists), with their authors' access and commits' authors. (`pulls/list`)
    pub(super) async fn find_pull_request(&self, at: &Attempt<'_>) -> Done {
        let (p, repo, gh) = (at.p, at.repo, self.github());
        let mut pulls = Vec::new();
        for pr in gh.open_pulls(repo).await? {
            let mut pr = crate::engine::mapping::pull_snapshot(&pr);
            if !linking::pull_request_issues(&pr.body, &pr.head_branch, &p.repo).contains(&p.issue)
            {
                continue;
            }
            pr.author_access = self
                .resolver
                .access(repo, &pr.author)
                .await
                .unwrap_or_default();
            pr.contributors = gh.pull_contributors(repo, pr.number).await?;
            pulls.push(pr);
        }
        Ok(Some(EffectResult::PullFound { pulls }))
    }

    /// Merges PR `number` at the approved head, only into `base` (the branch production
    /// runs; a base changed since is refused). Merged already — an earlier attempt whose
    /// answer was lost, or a person — counts only if the approved head is what was merged.
    /// (`pulls/get`, `pulls/merge`)
    pub(super) async fn merge(
        &self,
        at: &Attempt<'_>,
        number: u64,
        base: &str,
        request: MergeRequest,
    ) -> Done {
        let (repo, gh) = (at.repo, self.github());
        let sha = request.sha.clone();
        let merged_head = |pr: &Option<PullInfo>| {
            pr.as_ref()
                .filter(|pr| pr.merged == Some(true) && pr.head.sha == sha)
                .and_then(|pr| pr.merge_commit_sha.clone())
        };
        let now = gh.pull(repo, number).await?;
        if let Some(pr) = now
            .as_ref()
            .filter(|pr| !base.is_empty() && pr.base.branch != base)
        {
            // Not into the branch production runs (a person may have merged it there).
            return Ok(Some(EffectResult::NotMerged {
                number,
                base: pr.base.branch.clone(),
            }));
        }
        if let Some(merge_sha) = merged_head(&now) {
            return Ok(Some(EffectResult::Merged { sha: merge_sha }));
        }
        match gh.merge_pull(repo, number, &request).await {
            Ok(merged) => Ok(Some(EffectResult::Merged { sha: merged })),
            Err(e) if e.kind() == FailureKind::Permanent => {
                match merged_head(&gh.pull(repo, number).await?) {
                    Some(merge_sha) => Ok(Some(EffectResult::Merged { sha: merge_sha })),
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }
}
