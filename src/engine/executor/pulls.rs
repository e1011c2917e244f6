//! Effects on branches and pull requests: the feature branch, the issue's sub-issues, the
//! pull request that names the issue — found, or opened and marked ready for review
//! (`develop.open_pr`) — and the merge.

use super::{Attempt, Executor};
use crate::github::client::{MergeRequest, NewPullRequest, PullInfo};
use crate::github::rest::{FailureKind, GitHubError};
use crate::pipeline::linking;
use crate::pipeline::model::{EffectResult, PullSnapshot, Task};

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

    /// The issue's sub-issues in its own repository, as tasks (`issues/list-sub-issues`); with the development
    /// stage on, each with the issues that block it (`issues/list-dependencies-blocked-by`,
    /// one request per sub-issue).
    pub(super) async fn fetch_sub_issues(&self, at: &Attempt<'_>) -> Done {
        let gh = self.github();
        let mut tasks = Vec::new();
        // A sub-issue in another repository is not this repository's to close or order.
        let subs = gh.sub_issues(at.repo, at.p.issue).await?;
        for s in subs.into_iter().filter(|s| s.is_in(at.repo)) {
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
            if !linking::pull_request_issues(
                pr.body.as_deref().unwrap_or(""),
                &pr.head.branch,
                &p.repo,
            )
            .contains(&p.issue)
            {
                continue;
            }
            pulls.push(self.snapshot(at, &pr).await?);
        }
        Ok(Some(EffectResult::PullFound { pulls }))
    }

    /// A PR as the core sees it: its author's access and its commits' people filled in.
    async fn snapshot(&self, at: &Attempt<'_>, pr: &PullInfo) -> Result<PullSnapshot, GitHubError> {
        let mut snapshot = crate::engine::mapping::pull_snapshot(pr);
        snapshot.author_access = self
            .resolver
            .access(at.repo, &snapshot.author)
            .await
            .unwrap_or_default();
        snapshot.contributors = self.github().pull_contributors(at.repo, pr.number).await?;
        Ok(snapshot)
    }

    /// The pipeline's PR from its branch into the default branch (`develop.open_pr`). One
    /// already open from the branch (an earlier attempt whose answer was lost, or a person's)
    /// is taken instead of opening a second (`pulls/list` by `head`, `pulls/create`). GitHub's 422 (no
    /// commits yet, …) is an answer, not a failure: the core asks again later.
    pub(super) async fn open_pull_request(
        &self,
        at: &Attempt<'_>,
        title: &str,
        body: &str,
        draft: bool,
    ) -> Done {
        let (p, repo, gh) = (at.p, at.repo, self.github());
        let from_branch = async || -> Result<Option<PullInfo>, GitHubError> {
            let open = gh.open_pulls_from(repo, &p.branch).await?;
            Ok(open.into_iter().find(|pr| !pr.is_from_fork()))
        };
        let pr = match from_branch().await? {
            Some(pr) => pr,
            None => {
                let new = NewPullRequest {
                    title: title.to_owned(),
                    body: body.to_owned(),
                    head: p.branch.clone(),
                    base: p.default_branch.clone(),
                    draft,
                };
                match gh.create_pull(repo, &new).await {
                    Ok(pr) => pr,
                    // Opened meanwhile (GitHub's lists lag a little behind): take that one.
                    Err(e) if e.to_string().contains("already exists") => {
                        match from_branch().await? {
                            Some(pr) => pr,
                            None => return Err(e),
                        }
                    }
                    Err(e) if e.status() == Some(422) => {
                        let reason = match e {
                            GitHubError::Status { message, .. } => message,
                            other => other.to_string(),
                        };
                        return Ok(Some(EffectResult::PullNotOpened { reason }));
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let pr = self.snapshot(at, &pr).await?;
        Ok(Some(EffectResult::PullFound { pulls: vec![pr] }))
    }

    /// Takes PR `number` out of draft (GraphQL `markPullRequestReadyForReview`, after
    /// `pulls/get` for its node id); one out of draft or closed already is left as it is.
    pub(super) async fn mark_ready(&self, at: &Attempt<'_>, number: u64) -> Done {
        let gh = self.github();
        let Some(mut pr) = gh.pull(at.repo, number).await? else {
            return Ok(None);
        };
        if pr.draft && pr.state == "open" {
            let Some(node_id) = pr.node_id.clone() else {
                return Err(GitHubError::Refused {
                    operation: "mark a pull request ready for review",
                    reason: format!("GitHub gave no node id for #{number}"),
                });
            };
            gh.mark_ready_for_review(at.repo, &node_id).await?;
            pr.draft = false;
        }
        let pr = self.snapshot(at, &pr).await?;
        Ok(Some(EffectResult::PullFound { pulls: vec![pr] }))
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
