//! [`GitHub`] on octocrab, acting as the App's installations.
//!
//! Calls go through octocrab's HTTP stack with explicit paths and shipgate's own small answer
//! types, so every failure keeps its status and rate-limit headers (see [`rest`]) and decoding
//! never depends on octocrab's models (which, for one, misread the collaborator-permission
//! answer).
//! Must not: retry (the effect executor decides), or log request bodies.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::LiveApp;
use super::app::GitHubApp;
use super::client::{
    Access, CheckRunInfo, CheckRunRequest, DeploymentInfo, DeploymentRequest,
    DeploymentStatusRequest, DispatchedRun, FileContent, GitHub, HookDeliveryPage, IssueComment,
    IssueInfo, MergeRequest, NewIssue, NewPullRequest, ProtectionReview, PullInfo, RepoRef,
    SubIssue, UserRef, WorkflowRunInfo,
};
use super::rest::{self, GitHubError};
use secrecy::ExposeSecret as _;

/// Percent-encodes one path segment.
fn enc(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Percent-encodes a path that may contain `/` (file paths, refs).
fn enc_path(path: &str) -> String {
    path.split('/').map(enc).collect::<Vec<_>>().join("/")
}

/// `/repos/{owner}/{repo}<rest>` for a repository.
fn repo_path(repo: &RepoRef, rest: &str) -> String {
    format!("/repos/{}/{}{rest}", enc(&repo.owner), enc(&repo.name))
}

/// The GraphQL node id of a REST object (a label, an issue).
#[derive(Deserialize)]
struct NodeId {
    node_id: String,
}

/// The octocrab implementation, acting as whichever App is live.
#[derive(Clone)]
pub struct OctocrabGitHub {
    live: Arc<LiveApp>,
}

impl OctocrabGitHub {
    pub fn new(live: Arc<LiveApp>) -> Self {
        Self { live }
    }

    fn app(&self) -> Result<Arc<GitHubApp>, GitHubError> {
        self.live.load_full().ok_or(GitHubError::NotConfigured)
    }

    /// `GET path` as the repository's installation.
    async fn get(
        &self,
        repo: &RepoRef,
        operation: &'static str,
        path: &str,
    ) -> Result<rest::Answer, GitHubError> {
        self.call::<()>(repo, operation, Method::GET, path, None)
            .await
    }

    /// `POST path` with a JSON body.
    async fn post<B: Serialize + Sync + ?Sized>(
        &self,
        repo: &RepoRef,
        operation: &'static str,
        path: &str,
        body: &B,
    ) -> Result<rest::Answer, GitHubError> {
        self.call(repo, operation, Method::POST, path, Some(body))
            .await
    }

    /// `PATCH path` with a JSON body.
    async fn patch<B: Serialize + Sync + ?Sized>(
        &self,
        repo: &RepoRef,
        operation: &'static str,
        path: &str,
        body: &B,
    ) -> Result<rest::Answer, GitHubError> {
        self.call(repo, operation, Method::PATCH, path, Some(body))
            .await
    }

    /// `PUT path` with a JSON body.
    async fn put<B: Serialize + Sync + ?Sized>(
        &self,
        repo: &RepoRef,
        operation: &'static str,
        path: &str,
        body: &B,
    ) -> Result<rest::Answer, GitHubError> {
        self.call(repo, operation, Method::PUT, path, Some(body))
            .await
    }

    /// `DELETE path`.
    async fn delete(
        &self,
        repo: &RepoRef,
        operation: &'static str,
        path: &str,
    ) -> Result<rest::Answer, GitHubError> {
        self.call::<()>(repo, operation, Method::DELETE, path, None)
            .await
    }

    async fn call<B: Serialize + Sync + ?Sized>(
        &self,
        repo: &RepoRef,
        operation: &'static str,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<rest::Answer, GitHubError> {
        self.app()?
            .as_installation(repo.installation_id, operation, method, path, body)
            .await
    }
}

#[async_trait]
impl GitHub for OctocrabGitHub {
    fn low_budget_until(
        &self,
        repo: &RepoRef,
        resource: super::limits::Resource,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        self.app()
            .ok()?
            .low_budget_until(repo.installation_id, resource)
    }

    async fn app_slug(&self) -> Result<String, GitHubError> {
        #[derive(Deserialize)]
        struct App {
            slug: String,
        }
        const OP: &str = "read the App";
        let answer = self
            .app()?
            .as_app::<()>(OP, Method::GET, "/app", None)
            .await?;
        Ok(answer.json::<App>(OP)?.slug)
    }

    async fn sub_issues(&self, repo: &RepoRef, issue: u64) -> Result<Vec<SubIssue>, GitHubError> {
        const OP: &str = "list sub-issues";
        self.get(
            repo,
            OP,
            &repo_path(repo, &format!("/issues/{issue}/sub_issues?per_page=100")),
        )
        .await?
        .json(OP)
    }

    async fn blocked_by(&self, repo: &RepoRef, issue: u64) -> Result<Vec<SubIssue>, GitHubError> {
        const OP: &str = "list the issues blocking an issue";
        self.get(
            repo,
            OP,
            &repo_path(
                repo,
                &format!("/issues/{issue}/dependencies/blocked_by?per_page=100"),
            ),
        )
        .await?
        .json(OP)
    }

    async fn open_pulls(&self, repo: &RepoRef) -> Result<Vec<PullInfo>, GitHubError> {
        const OP: &str = "list open pull requests";
        self.get(
            repo,
            OP,
            &repo_path(
                repo,
                "/pulls?state=open&sort=created&direction=asc&per_page=100",
            ),
        )
        .await?
        .json(OP)
    }

    async fn open_pulls_from(
        &self,
        repo: &RepoRef,
        branch: &str,
    ) -> Result<Vec<PullInfo>, GitHubError> {
        const OP: &str = "list the open pull requests from a branch";
        let head = format!("{}:{branch}", repo.owner);
        let path = format!("/pulls?state=open&head={}&per_page=100", enc(&head));
        self.get(repo, OP, &repo_path(repo, &path)).await?.json(OP)
    }

    async fn create_pull(
        &self,
        repo: &RepoRef,
        new: &NewPullRequest,
    ) -> Result<PullInfo, GitHubError> {
        const OP: &str = "open a pull request";
        self.post(repo, OP, &repo_path(repo, "/pulls"), new)
            .await?
            .json(OP)
    }

    async fn mark_ready_for_review(
        &self,
        repo: &RepoRef,
        node_id: &str,
    ) -> Result<(), GitHubError> {
        const OP: &str = "mark a pull request ready for review";
        const MUTATION: &str = "mutation($id: ID!) { markPullRequestReadyForReview(input: {pullRequestId: $id}) { pullRequest { isDraft } } }";
        let body = serde_json::json!({"query": MUTATION, "variables": {"id": node_id}});
        self.app()?
            .graphql_as_installation(repo.installation_id, OP, &body)
            .await?;
        Ok(())
    }

    async fn pull(&self, repo: &RepoRef, number: u64) -> Result<Option<PullInfo>, GitHubError> {
        const OP: &str = "read a pull request";
        let path = repo_path(repo, &format!("/pulls/{number}"));
        match self.get(repo, OP, &path).await {
            Ok(answer) => Ok(Some(answer.json(OP)?)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn pull_reviews(
        &self,
        repo: &RepoRef,
        number: u64,
    ) -> Result<Vec<super::events::Review>, GitHubError> {
        const OP: &str = "list a pull request's reviews";
        let path = repo_path(repo, &format!("/pulls/{number}/reviews?per_page=100"));
        self.get(repo, OP, &path).await?.json(OP)
    }

    async fn pull_contributors(
        &self,
        repo: &RepoRef,
        number: u64,
    ) -> Result<Vec<String>, GitHubError> {
        #[derive(Deserialize)]
        struct Login {
            login: String,
        }
        #[derive(Deserialize)]
        struct Parent {}
        #[derive(Deserialize)]
        struct Commit {
            author: Option<Login>,
            committer: Option<Login>,
            #[serde(default)]
            parents: Vec<Parent>,
        }
        const OP: &str = "list a pull request's commits";
        const PER_PAGE: usize = 100;
        let mut logins = std::collections::BTreeSet::new();
        // GitHub lists at most 250 commits here: three pages.
        for page in 1..=3 {
            let path = repo_path(
                repo,
                &format!("/pulls/{number}/commits?per_page={PER_PAGE}&page={page}"),
            );
            let commits: Vec<Commit> = self.get(repo, OP, &path).await?.json(OP)?;
            for c in &commits {
                let by_github = c.committer.as_ref().is_some_and(|w| w.login == "web-flow");
                if by_github && c.parents.len() > 1 {
                    continue; // "Update branch": a merge of what the base already has
                }
                for who in [&c.author, &c.committer].into_iter().flatten() {
                    if who.login != "web-flow" {
                        logins.insert(who.login.clone());
                    }
                }
            }
            if commits.len() < PER_PAGE {
                break;
            }
        }
        Ok(logins.into_iter().collect())
    }

    fn dispatch_nonce(&self, repo: &RepoRef, token: &str) -> Option<String> {
        let app = self.live.load_full()?;
        let secret = app.credentials.webhook_secret.expose_secret().as_bytes();
        Some(super::signature::dispatch_nonce(
            secret,
            &repo.full_name(),
            token,
        ))
    }

    async fn find_dispatched_runs(
        &self,
        repo: &RepoRef,
        branch: &str,
        pipeline: &str,
    ) -> Result<Vec<WorkflowRunInfo>, GitHubError> {
        #[derive(Deserialize)]
        struct Runs {
            workflow_runs: Vec<WorkflowRunInfo>,
        }
        const OP: &str = "list workflow runs";
        let runs: Runs = self
            .get(
                repo,
                OP,
                &repo_path(
                    repo,
                    &format!(
                        "/actions/runs?event=workflow_dispatch&branch={}&per_page=100",
                        enc(branch)
                    ),
                ),
            )
            .await?
            .json(OP)?;
        Ok(runs
            .workflow_runs
            .into_iter()
            .filter(|r| {
                r.display_title
                    .as_deref()
                    .is_some_and(|t| t.contains(pipeline))
            })
            .collect())
    }

    async fn repo_installation(&self, full_name: &str) -> Result<u64, GitHubError> {
        #[derive(Deserialize)]
        struct Installation {
            id: u64,
        }
        let (owner, name) = full_name.split_once('/').unwrap_or((full_name, ""));
        let answer = self
            .app()?
            .as_app::<()>(
                "find the repository's installation",
                Method::GET,
                &format!("/repos/{}/{}/installation", enc(owner), enc(name)),
                None,
            )
            .await?;
        Ok(answer
            .json::<Installation>("find the repository's installation")?
            .id)
    }

    async fn collaborator_permission(
        &self,
        repo: &RepoRef,
        login: &str,
    ) -> Result<Access, GitHubError> {
        #[derive(Deserialize)]
        struct Answer {
            permission: String,
            role_name: Option<String>,
        }
        const OP: &str = "read a collaborator's permission";
        match self
            .get(
                repo,
                OP,
                &repo_path(repo, &format!("/collaborators/{}/permission", enc(login))),
            )
            .await
        {
            Ok(answer) => {
                let a: Answer = answer.json(OP)?;
                Ok(Access::from_answer(&a.permission, a.role_name.as_deref()))
            }
            // Not a collaborator (or not a user at all): no access.
            Err(e) if e.is_not_found() => Ok(Access::None),
            Err(e) => Err(e),
        }
    }

    async fn team_member(
        &self,
        repo: &RepoRef,
        org: &str,
        team_slug: &str,
        login: &str,
    ) -> Result<bool, GitHubError> {
        #[derive(Deserialize)]
        struct Membership {
            state: String,
        }
        const OP: &str = "read a team membership";
        let path = format!(
            "/orgs/{}/teams/{}/memberships/{}",
            enc(org),
            enc(team_slug),
            enc(login)
        );
        match self.get(repo, OP, &path).await {
            Ok(answer) => Ok(answer.json::<Membership>(OP)?.state == "active"),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn list_issue_comments(
        &self,
        repo: &RepoRef,
        issue: u64,
    ) -> Result<Vec<IssueComment>, GitHubError> {
        const OP: &str = "list issue comments";
        let mut all = Vec::new();
        for page in 1.. {
            let path = repo_path(
                repo,
                &format!("/issues/{issue}/comments?per_page=100&page={page}"),
            );
            let batch: Vec<IssueComment> = self.get(repo, OP, &path).await?.json(OP)?;
            let done = batch.len() < 100;
            all.extend(batch);
            if done {
                break;
            }
        }
        Ok(all)
    }

    async fn create_issue_comment(
        &self,
        repo: &RepoRef,
        issue: u64,
        body: &str,
    ) -> Result<IssueComment, GitHubError> {
        const OP: &str = "comment on an issue";
        self.post(
            repo,
            OP,
            &repo_path(repo, &format!("/issues/{issue}/comments")),
            &json!({"body": body}),
        )
        .await?
        .json(OP)
    }

    async fn update_issue_comment(
        &self,
        repo: &RepoRef,
        comment_id: u64,
        body: &str,
    ) -> Result<IssueComment, GitHubError> {
        const OP: &str = "edit a comment";
        self.patch(
            repo,
            OP,
            &repo_path(repo, &format!("/issues/comments/{comment_id}")),
            &json!({"body": body}),
        )
        .await?
        .json(OP)
    }

    async fn add_reaction(
        &self,
        repo: &RepoRef,
        comment_id: u64,
        content: &str,
    ) -> Result<(), GitHubError> {
        let path = repo_path(repo, &format!("/issues/comments/{comment_id}/reactions"));
        self.post(
            repo,
            "react to a comment",
            &path,
            &json!({"content": content}),
        )
        .await?;
        Ok(())
    }

    async fn ensure_label(
        &self,
        repo: &RepoRef,
        name: &str,
        color: &str,
        description: &str,
    ) -> Result<String, GitHubError> {
        const OP: &str = "create a label";
        if let Some(id) = self.label_node_id(repo, name).await? {
            return Ok(id);
        }
        let body = json!({"name": name, "color": color, "description": description});
        match self
            .post(repo, OP, &repo_path(repo, "/labels"), &body)
            .await
        {
            Ok(answer) => Ok(answer.json::<NodeId>(OP)?.node_id),
            // Another replica created it in between.
            Err(e) if e.status() == Some(422) => self.label_node_id(repo, name).await?.ok_or(e),
            Err(e) => Err(e),
        }
    }

    async fn label_node_id(
        &self,
        repo: &RepoRef,
        name: &str,
    ) -> Result<Option<String>, GitHubError> {
        const OP: &str = "read a label";
        let path = repo_path(repo, &format!("/labels/{}", enc(name)));
        match self.get(repo, OP, &path).await {
            Ok(answer) => Ok(Some(answer.json::<NodeId>(OP)?.node_id)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn issue_node_id(&self, repo: &RepoRef, number: u64) -> Result<String, GitHubError> {
        const OP: &str = "read an issue";
        let path = repo_path(repo, &format!("/issues/{number}"));
        Ok(self.get(repo, OP, &path).await?.json::<NodeId>(OP)?.node_id)
    }

    async fn relabel(
        &self,
        repo: &RepoRef,
        labelable: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<(), GitHubError> {
        const OP: &str = "change labels";
        const ADD: &str = "add: addLabelsToLabelable(input: {labelableId: $on, labelIds: $add}) { clientMutationId }";
        const REMOVE: &str = "remove: removeLabelsFromLabelable(input: {labelableId: $on, labelIds: $remove}) { clientMutationId }";
        let (mut declared, mut fields, mut variables) =
            (vec!["$on: ID!"], Vec::new(), json!({"on": labelable}));
        if !add.is_empty() {
            declared.push("$add: [ID!]!");
            fields.push(ADD);
            variables["add"] = json!(add);
        }
        if !remove.is_empty() {
            declared.push("$remove: [ID!]!");
            fields.push(REMOVE);
            variables["remove"] = json!(remove);
        }
        if fields.is_empty() {
            return Ok(());
        }
        let query = format!(
            "mutation({}) {{ {} }}",
            declared.join(", "),
            fields.join(" ")
        );
        self.app()?
            .graphql_as_installation(
                repo.installation_id,
                OP,
                &json!({"query": query, "variables": variables}),
            )
            .await?;
        Ok(())
    }

    async fn remove_label(
        &self,
        repo: &RepoRef,
        issue: u64,
        label: &str,
    ) -> Result<(), GitHubError> {
        let path = repo_path(repo, &format!("/issues/{issue}/labels/{}", enc(label)));
        match self.delete(repo, "remove a label", &path).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn file(
        &self,
        repo: &RepoRef,
        path: &str,
        git_ref: &str,
    ) -> Result<Option<FileContent>, GitHubError> {
        #[derive(Deserialize)]
        struct Content {
            sha: String,
            #[serde(rename = "type", default)]
            kind: Option<String>,
            #[serde(default)]
            size: usize,
            content: Option<String>,
            encoding: Option<String>,
        }
        const OP: &str = "read a file";
        // An empty ref means the repository's default branch.
        let query = if git_ref.is_empty() {
            String::new()
        } else {
            format!("?ref={}", enc(git_ref))
        };
        let url = repo_path(repo, &format!("/contents/{}{query}", enc_path(path)));
        let answer = match self.get(repo, OP, &url).await {
            Ok(a) => a,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let c: Content = answer.json(OP)?;
        if let Some(kind) = c.kind.as_deref().filter(|k| *k != "file") {
            // A symlink or submodule at the path has no content: never "an empty file".
            return Err(GitHubError::Decode {
                operation: OP,
                detail: format!("`{path}` is a {kind}, not a file"),
            });
        }
        let raw = c.content.unwrap_or_default();
        // GitHub sends `encoding: none` and no content for a file over 1 MB: the size says so.
        let bytes = match c.encoding.as_deref() {
            Some("base64") => {
                let compact: String = raw.chars().filter(|ch| !ch.is_whitespace()).collect();
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .map_err(|e| GitHubError::Decode {
                        operation: OP,
                        detail: e.to_string(),
                    })?
            }
            _ => raw.into_bytes(),
        };
        Ok(Some(FileContent {
            sha: c.sha,
            size: c.size.max(bytes.len()),
            bytes,
        }))
    }

    async fn branch_sha(
        &self,
        repo: &RepoRef,
        branch: &str,
    ) -> Result<Option<String>, GitHubError> {
        #[derive(Deserialize)]
        struct Object {
            sha: String,
        }
        #[derive(Deserialize)]
        struct GitRef {
            object: Object,
        }
        const OP: &str = "read a branch";
        let path = repo_path(repo, &format!("/git/ref/heads/{}", enc_path(branch)));
        match self.get(repo, OP, &path).await {
            Ok(answer) => Ok(Some(answer.json::<GitRef>(OP)?.object.sha)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn repository_id(&self, repo: &RepoRef) -> Result<Option<u64>, GitHubError> {
        #[derive(Deserialize)]
        struct Repository {
            id: u64,
        }
        const OP: &str = "read a repository";
        match self.get(repo, OP, &repo_path(repo, "")).await {
            Ok(answer) => Ok(Some(answer.json::<Repository>(OP)?.id)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn create_branch(
        &self,
        repo: &RepoRef,
        branch: &str,
        sha: &str,
    ) -> Result<bool, GitHubError> {
        let body = json!({"ref": format!("refs/heads/{branch}"), "sha": sha});
        match self
            .post(
                repo,
                "create a branch",
                &repo_path(repo, "/git/refs"),
                &body,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(GitHubError::Status {
                status: 422,
                ref message,
                ..
            }) if message.contains("already exists") => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn dispatch_workflow(
        &self,
        repo: &RepoRef,
        workflow: &str,
        git_ref: &str,
        inputs: &serde_json::Map<String, Value>,
    ) -> Result<DispatchedRun, GitHubError> {
        const OP: &str = "dispatch a workflow";
        let path = repo_path(
            repo,
            &format!("/actions/workflows/{}/dispatches", enc(workflow)),
        );
        let body = json!({"ref": git_ref, "inputs": inputs, "return_run_details": true});
        let answer = self.post(repo, OP, &path, &body).await?;
        if answer.status == http::StatusCode::NO_CONTENT {
            return Err(GitHubError::Decode {
                operation: OP,
                detail: "GitHub returned no run details (GitHub Enterprise Server before 3.18?)"
                    .into(),
            });
        }
        answer.json(OP)
    }

    async fn workflow_run(
        &self,
        repo: &RepoRef,
        run_id: u64,
    ) -> Result<WorkflowRunInfo, GitHubError> {
        const OP: &str = "read a workflow run";
        self.get(
            repo,
            OP,
            &repo_path(repo, &format!("/actions/runs/{run_id}")),
        )
        .await?
        .json(OP)
    }

    async fn create_check_run(
        &self,
        repo: &RepoRef,
        check: &CheckRunRequest,
    ) -> Result<CheckRunInfo, GitHubError> {
        const OP: &str = "create a check run";
        self.post(repo, OP, &repo_path(repo, "/check-runs"), check)
            .await?
            .json(OP)
    }

    async fn update_check_run(
        &self,
        repo: &RepoRef,
        id: u64,
        check: &CheckRunRequest,
    ) -> Result<CheckRunInfo, GitHubError> {
        const OP: &str = "update a check run";
        self.patch(
            repo,
            OP,
            &repo_path(repo, &format!("/check-runs/{id}")),
            check,
        )
        .await?
        .json(OP)
    }

    async fn check_runs_for(
        &self,
        repo: &RepoRef,
        sha: &str,
        name: &str,
    ) -> Result<Vec<CheckRunInfo>, GitHubError> {
        #[derive(Deserialize)]
        struct List {
            check_runs: Vec<CheckRunInfo>,
        }
        const OP: &str = "list check runs";
        let app_id = self.app()?.credentials.app_id;
        let path = repo_path(
            repo,
            &format!(
                "/commits/{}/check-runs?check_name={}&app_id={app_id}&filter=all&per_page=100",
                enc(sha),
                enc(name)
            ),
        );
        Ok(self
            .get(repo, OP, &path)
            .await?
            .json::<List>(OP)?
            .check_runs)
    }

    async fn create_deployment(
        &self,
        repo: &RepoRef,
        d: &DeploymentRequest,
    ) -> Result<DeploymentInfo, GitHubError> {
        const OP: &str = "create a deployment";
        // shipgate is the gate: no required contexts, no auto-merge of the default branch.
        let mut body = serde_json::to_value(d).expect("serialisable");
        body["required_contexts"] = json!([]);
        body["auto_merge"] = json!(false);
        self.post(repo, OP, &repo_path(repo, "/deployments"), &body)
            .await?
            .json(OP)
    }

    async fn deployments_for(
        &self,
        repo: &RepoRef,
        sha: &str,
        environment: &str,
    ) -> Result<Vec<DeploymentInfo>, GitHubError> {
        const OP: &str = "list deployments";
        let path = repo_path(
            repo,
            &format!(
                "/deployments?sha={}&environment={}&per_page=100",
                enc(sha),
                enc(environment)
            ),
        );
        self.get(repo, OP, &path).await?.json(OP)
    }

    async fn create_deployment_status(
        &self,
        repo: &RepoRef,
        deployment_id: u64,
        status: &DeploymentStatusRequest,
    ) -> Result<(), GitHubError> {
        let path = repo_path(repo, &format!("/deployments/{deployment_id}/statuses"));
        self.post(repo, "report a deployment status", &path, status)
            .await?;
        Ok(())
    }

    async fn environment_deployments(
        &self,
        repo: &RepoRef,
        environment: &str,
    ) -> Result<Vec<DeploymentInfo>, GitHubError> {
        const OP: &str = "list deployments";
        let path = repo_path(
            repo,
            &format!("/deployments?environment={}&per_page=100", enc(environment)),
        );
        self.get(repo, OP, &path).await?.json(OP)
    }

    async fn branch_contains(
        &self,
        repo: &RepoRef,
        branch: &str,
        sha: &str,
    ) -> Result<bool, GitHubError> {
        const OP: &str = "compare commits";
        #[derive(Deserialize)]
        struct Comparison {
            status: String,
        }
        let path = repo_path(repo, &format!("/compare/{}...{}", enc(branch), enc(sha)));
        match self.get(repo, OP, &path).await {
            Ok(answer) => {
                let c: Comparison = answer.json(OP)?;
                Ok(matches!(c.status.as_str(), "identical" | "behind"))
            }
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn deployment_states(
        &self,
        repo: &RepoRef,
        deployment_id: u64,
    ) -> Result<Vec<(String, String)>, GitHubError> {
        const OP: &str = "list deployment statuses";
        #[derive(Deserialize)]
        struct Status {
            state: String,
            creator: Option<UserRef>,
        }
        let path = repo_path(
            repo,
            &format!("/deployments/{deployment_id}/statuses?per_page=100"),
        );
        let statuses: Vec<Status> = self.get(repo, OP, &path).await?.json(OP)?;
        Ok(statuses
            .into_iter()
            .map(|s| (s.state, s.creator.map(|c| c.login).unwrap_or_default()))
            .collect())
    }

    async fn merge_pull(
        &self,
        repo: &RepoRef,
        number: u64,
        merge: &MergeRequest,
    ) -> Result<String, GitHubError> {
        const OP: &str = "merge a pull request";
        #[derive(Deserialize)]
        struct Merged {
            sha: String,
        }
        let merged: Merged = self
            .put(
                repo,
                OP,
                &repo_path(repo, &format!("/pulls/{number}/merge")),
                merge,
            )
            .await?
            .json(OP)?;
        Ok(merged.sha)
    }

    async fn cancel_run(&self, repo: &RepoRef, run_id: u64) -> Result<(), GitHubError> {
        const OP: &str = "cancel a workflow run";
        let path = repo_path(repo, &format!("/actions/runs/{run_id}/cancel"));
        match self.call::<()>(repo, OP, Method::POST, &path, None).await {
            Ok(_) => Ok(()),
            // 409: it finished meanwhile; nothing left to cancel.
            Err(GitHubError::Status { status: 409, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn close_issue(&self, repo: &RepoRef, number: u64) -> Result<(), GitHubError> {
        const OP: &str = "close an issue";
        self.patch(
            repo,
            OP,
            &repo_path(repo, &format!("/issues/{number}")),
            &json!({"state": "closed", "state_reason": "completed"}),
        )
        .await?;
        Ok(())
    }

    async fn issue_body(&self, repo: &RepoRef, number: u64) -> Result<String, GitHubError> {
        #[derive(Deserialize)]
        struct Issue {
            body: Option<String>,
        }
        const OP: &str = "read an issue";
        let path = repo_path(repo, &format!("/issues/{number}"));
        let issue: Issue = self.get(repo, OP, &path).await?.json(OP)?;
        Ok(issue.body.unwrap_or_default())
    }

    async fn set_issue_body(
        &self,
        repo: &RepoRef,
        number: u64,
        body: &str,
    ) -> Result<(), GitHubError> {
        const OP: &str = "edit an issue";
        self.patch(
            repo,
            OP,
            &repo_path(repo, &format!("/issues/{number}")),
            &json!({ "body": body }),
        )
        .await?;
        Ok(())
    }

    async fn issues_labelled(
        &self,
        repo: &RepoRef,
        label: &str,
    ) -> Result<Vec<IssueInfo>, GitHubError> {
        const OP: &str = "list issues";
        let path = repo_path(
            repo,
            &format!("/issues?state=all&labels={}&per_page=100", enc(label)),
        );
        self.get(repo, OP, &path).await?.json(OP)
    }

    async fn create_issue(&self, repo: &RepoRef, issue: &NewIssue) -> Result<u64, GitHubError> {
        const OP: &str = "create an issue";
        let created: IssueInfo = self
            .post(repo, OP, &repo_path(repo, "/issues"), issue)
            .await?
            .json(OP)?;
        Ok(created.number)
    }

    async fn review_protection_rule(
        &self,
        repo: &RepoRef,
        run_id: u64,
        review: &ProtectionReview,
    ) -> Result<(), GitHubError> {
        const OP: &str = "review a deployment protection rule";
        let path = repo_path(
            repo,
            &format!("/actions/runs/{run_id}/deployment_protection_rule"),
        );
        self.post(repo, OP, &path, review).await?;
        Ok(())
    }

    async fn hook_deliveries(&self, cursor: Option<&str>) -> Result<HookDeliveryPage, GitHubError> {
        const OP: &str = "list webhook deliveries";
        let mut path = "/app/hook/deliveries?per_page=100".to_owned();
        if let Some(cursor) = cursor {
            path.push_str("&cursor=");
            path.extend(url::form_urlencoded::byte_serialize(cursor.as_bytes()));
        }
        let answer = self
            .app()?
            .as_app::<()>(OP, Method::GET, &path, None)
            .await?;
        Ok(HookDeliveryPage {
            deliveries: answer.json(OP)?,
            next_cursor: answer
                .headers
                .get_all(http::header::LINK)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(next_cursor),
        })
    }

    async fn redeliver(&self, delivery_id: u64) -> Result<(), GitHubError> {
        self.app()?
            .as_app::<()>(
                "redeliver a webhook",
                Method::POST,
                &format!("/app/hook/deliveries/{delivery_id}/attempts"),
                None,
            )
            .await?;
        Ok(())
    }
}

/// The `cursor` of the `rel="next"` link in a `Link` header value
/// (`<https://api.github.com/app/hook/deliveries?per_page=100&cursor=v1_123>; rel="next"`).
fn next_cursor(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        if !params.split(';').any(|p| p.trim() == "rel=\"next\"") {
            return None;
        }
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        url::Url::parse(target)
            .ok()?
            .query_pairs()
            .find(|(k, _)| k == "cursor")
            .map(|(_, v)| v.into_owned())
    })
}
