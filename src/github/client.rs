//! The GitHub operations shipgate performs, behind one trait, with the small request and
//! answer types they use. The implementation on octocrab is in `octocrab_client`.
//!
//! Must not: depend on how the operations are carried out.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::rest::GitHubError;

/// One repository, reached through one installation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RepoRef {
    pub installation_id: u64,
    pub owner: String,
    pub name: String,
}

impl RepoRef {
    pub fn new(installation_id: u64, full_name: &str) -> Option<Self> {
        let (owner, name) = full_name.split_once('/')?;
        Some(Self {
            installation_id,
            owner: owner.to_owned(),
            name: name.to_owned(),
        })
    }

    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

pub use crate::pipeline::Access;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserRef {
    pub login: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IssueComment {
    pub id: u64,
    #[serde(default)]
    pub body: Option<String>,
    pub user: UserRef,
    pub html_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IssueInfo {
    pub number: u64,
    #[serde(default)]
    pub body: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewIssue {
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    pub assignees: Vec<String>,
}

/// The answer to `deployment_protection_rule`: `state` is `approved` or `rejected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProtectionReview {
    pub environment_name: String,
    pub state: String,
    pub comment: String,
}

/// A file from `GET /repos/{owner}/{repo}/contents/{path}`: its bytes as stored (not
/// necessarily text) and its size in bytes (GitHub sends no content over 1 MB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileContent {
    pub sha: String,
    pub bytes: Vec<u8>,
    pub size: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DispatchedRun {
    pub workflow_run_id: u64,
    pub html_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CheckRunInfo {
    pub id: u64,
    pub name: String,
    pub head_sha: String,
    pub status: String,
    #[serde(default)]
    pub conclusion: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
}

/// The fields of a check run shipgate sets (create and update).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CheckRunRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_sha: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conclusion: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<CheckOutput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<CheckAction>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckOutput {
    pub title: String,
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckAction {
    pub label: String,
    pub description: String,
    pub identifier: String,
}

/// What shipgate asks of a new deployment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentRequest {
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub environment: String,
    pub description: String,
    pub payload: Value,
    pub production_environment: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DeploymentInfo {
    pub id: u64,
    pub sha: String,
    pub environment: String,
    #[serde(default)]
    pub payload: Value,
    /// Who created it (shipgate's bot for its own deploys).
    #[serde(default)]
    pub creator: Option<UserRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeploymentStatusRequest {
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment_url: Option<String>,
    pub description: String,
}

/// How shipgate merges a pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MergeRequest {
    /// The head SHA the approval was for: GitHub refuses the merge if the head moved.
    pub sha: String,
    pub commit_title: String,
    pub commit_message: String,
    pub merge_method: String,
}

/// One of the App's recent webhook deliveries, as GitHub recorded it
/// (`GET /app/hook/deliveries`, "List deliveries for an app webhook"). `status_code` is the
/// answer's HTTP status, 0 when no answer came (shipgate down, connection refused).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HookDeliveryInfo {
    pub id: u64,
    pub guid: String,
    pub status_code: u16,
    pub event: String,
    #[serde(default)]
    pub action: Option<String>,
    pub redelivery: bool,
    pub delivered_at: chrono::DateTime<chrono::Utc>,
}

/// A page of the App's webhook deliveries, newest first, and the cursor of the next (older)
/// page, from the `Link: <…&cursor=…>; rel="next"` header.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HookDeliveryPage {
    pub deliveries: Vec<HookDeliveryInfo>,
    pub next_cursor: Option<String>,
}

/// A pull request as the REST API gives it (`GET /repos/{owner}/{repo}/pulls[/{n}]`): the
/// same shape as in webhooks, so one conversion serves both.
pub type PullInfo = super::events::PullRequest;

/// The body of `POST /repos/{owner}/{repo}/pulls` ("Create a pull request").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewPullRequest {
    pub title: String,
    pub body: String,
    /// The branch with the changes.
    pub head: String,
    /// The branch to merge into.
    pub base: String,
    pub draft: bool,
}

/// A workflow run as the REST API gives it: the same shape as in `workflow_run` webhooks.
pub type WorkflowRunInfo = super::events::WorkflowRun;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SubIssue {
    pub number: u64,
    pub title: String,
    pub state: String,
    /// `https://api.github.com/repos/{owner}/{repo}`: a sub-issue may live in another
    /// repository.
    #[serde(default)]
    pub repository_url: Option<String>,
}

impl SubIssue {
    /// Whether it lives in `repo` (when GitHub says where it lives; else assumed).
    pub fn is_in(&self, repo: &RepoRef) -> bool {
        self.repository_url.as_deref().is_none_or(|url| {
            url.to_ascii_lowercase()
                .ends_with(&format!("/repos/{}", repo.full_name().to_ascii_lowercase()))
        })
    }
}

/// The GitHub operations shipgate performs.
#[async_trait]
pub trait GitHub: Send + Sync {
    /// Until when the repository's installation has little of its hourly budget `resource`
    /// left (fewer than a tenth, as GitHub's latest answer from it said): its reset. No
    /// request.
    fn low_budget_until(
        &self,
        repo: &RepoRef,
        resource: super::limits::Resource,
    ) -> Option<chrono::DateTime<chrono::Utc>>;
    /// The App's slug (its bot is `<slug>[bot]`), App JWT.
    async fn app_slug(&self) -> Result<String, GitHubError>;
    async fn sub_issues(&self, repo: &RepoRef, issue: u64) -> Result<Vec<SubIssue>, GitHubError>;
    /// The issues that block `issue` (`issues/list-dependencies-blocked-by`, up to 100).
    async fn blocked_by(&self, repo: &RepoRef, issue: u64) -> Result<Vec<SubIssue>, GitHubError>;
    /// Open pull requests, oldest first (up to 100).
    async fn open_pulls(&self, repo: &RepoRef) -> Result<Vec<PullInfo>, GitHubError>;
    /// The open pull requests from `branch` of the repository itself (`GET /repos/{o}/{r}/
    /// pulls?head={owner}:{branch}&state=open`, `pulls/list`).
    async fn open_pulls_from(
        &self,
        repo: &RepoRef,
        branch: &str,
    ) -> Result<Vec<PullInfo>, GitHubError>;
    /// Opens a pull request from `head` into `base` (`POST /repos/{o}/{r}/pulls`,
    /// `pulls/create`). GitHub answers 422 when the head has no commits the base lacks, or
    /// an open PR from that head exists.
    async fn create_pull(
        &self,
        repo: &RepoRef,
        new: &NewPullRequest,
    ) -> Result<PullInfo, GitHubError>;
    /// Takes a draft pull request out of draft: GraphQL's `markPullRequestReadyForReview`
    /// with its `node_id` (REST's `pulls/update` cannot; docs.github.com/graphql/reference/
    /// mutations#markpullrequestreadyforreview).
    async fn mark_ready_for_review(&self, repo: &RepoRef, node_id: &str)
    -> Result<(), GitHubError>;
    /// A pull request as GitHub has it now (`GET /repos/{o}/{r}/pulls/{n}`); `None` if gone.
    async fn pull(&self, repo: &RepoRef, number: u64) -> Result<Option<PullInfo>, GitHubError>;
    /// Everyone who authored or committed a commit of the pull request: the GitHub logins of
    /// each commit's `author` and `committer` (`GET /repos/{o}/{r}/pulls/{n}/commits`, which
    /// lists at most 250 commits; GitHub's own `web-flow` committer left out).
    async fn pull_contributors(
        &self,
        repo: &RepoRef,
        number: u64,
    ) -> Result<Vec<String>, GitHubError>;
    /// A pull request's reviews, oldest first, at most 100 (`GET /repos/{o}/{r}/pulls/{n}/
    /// reviews`, "List reviews for a pull request"); REST states are upper case (`APPROVED`,
    /// `CHANGES_REQUESTED`, `COMMENTED`, `DISMISSED`).
    async fn pull_reviews(
        &self,
        repo: &RepoRef,
        number: u64,
    ) -> Result<Vec<super::events::Review>, GitHubError>;
    /// The unguessable part of a dispatch's `pipeline` input, for `token` (`REQ-<n>-t<k>`) in
    /// `repo`: 24 hex digits of an HMAC-SHA256 keyed by the App's webhook secret, so only this
    /// App can make it, and the same after a restart. `None` while no App is configured.
    fn dispatch_nonce(&self, repo: &RepoRef, token: &str) -> Option<String>;
    /// `workflow_dispatch` runs on `branch` (newest first, up to 100) whose run name carries
    /// `pipeline`, the exact input shipgate sent; the caller checks who started them.
    async fn find_dispatched_runs(
        &self,
        repo: &RepoRef,
        branch: &str,
        pipeline: &str,
    ) -> Result<Vec<WorkflowRunInfo>, GitHubError>;
    /// The installation that covers `owner/name` (App JWT).
    async fn repo_installation(&self, full_name: &str) -> Result<u64, GitHubError>;
    async fn collaborator_permission(
        &self,
        repo: &RepoRef,
        login: &str,
    ) -> Result<Access, GitHubError>;
    /// Whether `login` is an active member of `org`'s team `team_slug`.
    async fn team_member(
        &self,
        repo: &RepoRef,
        org: &str,
        team_slug: &str,
        login: &str,
    ) -> Result<bool, GitHubError>;
    async fn list_issue_comments(
        &self,
        repo: &RepoRef,
        issue: u64,
    ) -> Result<Vec<IssueComment>, GitHubError>;
    async fn create_issue_comment(
        &self,
        repo: &RepoRef,
        issue: u64,
        body: &str,
    ) -> Result<IssueComment, GitHubError>;
    async fn update_issue_comment(
        &self,
        repo: &RepoRef,
        comment_id: u64,
        body: &str,
    ) -> Result<IssueComment, GitHubError>;
    async fn add_reaction(
        &self,
        repo: &RepoRef,
        comment_id: u64,
        content: &str,
    ) -> Result<(), GitHubError>;
    /// Creates the label unless it exists (`issues/get-label`, then `issues/create-label`);
    /// answers its GraphQL node id (`node_id`).
    async fn ensure_label(
        &self,
        repo: &RepoRef,
        name: &str,
        color: &str,
        description: &str,
    ) -> Result<String, GitHubError>;
    /// A label's GraphQL node id (`issues/get-label`), or `None` if the repository has no
    /// label of that name.
    async fn label_node_id(
        &self,
        repo: &RepoRef,
        name: &str,
    ) -> Result<Option<String>, GitHubError>;
    /// An issue's GraphQL node id (`issues/get`).
    async fn issue_node_id(&self, repo: &RepoRef, number: u64) -> Result<String, GitHubError>;
    /// Adds labels to an issue or PR and removes others in ONE request: GraphQL's
    /// `addLabelsToLabelable` then `removeLabelsFromLabelable` in one mutation document, by
    /// node ids (docs.github.com/graphql/reference/mutations#addlabelstolabelable; REST adds
    /// and removes in separate calls). Adding a label already there, or removing one that is
    /// not, changes nothing. A node id that does not resolve (a label deleted since its id was
    /// read) fails with status 404 (`is_not_found`).
    async fn relabel(
        &self,
        repo: &RepoRef,
        labelable: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<(), GitHubError>;
    /// Removes a label; one that is not there is fine.
    async fn remove_label(
        &self,
        repo: &RepoRef,
        issue: u64,
        label: &str,
    ) -> Result<(), GitHubError>;
    /// A file's text at a ref, or `None` if it does not exist.
    async fn file(
        &self,
        repo: &RepoRef,
        path: &str,
        git_ref: &str,
    ) -> Result<Option<FileContent>, GitHubError>;
    async fn branch_sha(&self, repo: &RepoRef, branch: &str)
    -> Result<Option<String>, GitHubError>;
    /// The repository's numeric id (`GET /repos/{owner}/{repo}`, `id`); `None` if it is gone.
    async fn repository_id(&self, repo: &RepoRef) -> Result<Option<u64>, GitHubError>;
    /// Creates `refs/heads/<branch>` at `sha`; an existing branch at any SHA is reported as `false`.
    async fn create_branch(
        &self,
        repo: &RepoRef,
        branch: &str,
        sha: &str,
    ) -> Result<bool, GitHubError>;
    async fn dispatch_workflow(
        &self,
        repo: &RepoRef,
        workflow: &str,
        git_ref: &str,
        inputs: &serde_json::Map<String, Value>,
    ) -> Result<DispatchedRun, GitHubError>;
    async fn workflow_run(
        &self,
        repo: &RepoRef,
        run_id: u64,
    ) -> Result<WorkflowRunInfo, GitHubError>;
    async fn create_check_run(
        &self,
        repo: &RepoRef,
        check: &CheckRunRequest,
    ) -> Result<CheckRunInfo, GitHubError>;
    async fn update_check_run(
        &self,
        repo: &RepoRef,
        id: u64,
        check: &CheckRunRequest,
    ) -> Result<CheckRunInfo, GitHubError>;
    /// This App's check runs named `name` on a commit.
    async fn check_runs_for(
        &self,
        repo: &RepoRef,
        sha: &str,
        name: &str,
    ) -> Result<Vec<CheckRunInfo>, GitHubError>;
    async fn create_deployment(
        &self,
        repo: &RepoRef,
        deployment: &DeploymentRequest,
    ) -> Result<DeploymentInfo, GitHubError>;
    /// Deployments of `sha` to `environment`, newest first.
    async fn deployments_for(
        &self,
        repo: &RepoRef,
        sha: &str,
        environment: &str,
    ) -> Result<Vec<DeploymentInfo>, GitHubError>;
    async fn create_deployment_status(
        &self,
        repo: &RepoRef,
        deployment_id: u64,
        status: &DeploymentStatusRequest,
    ) -> Result<(), GitHubError>;
    /// The newest deployments to `environment` (newest first, up to 100: others' deployments
    /// are passed over on the way to one of shipgate's).
    async fn environment_deployments(
        &self,
        repo: &RepoRef,
        environment: &str,
    ) -> Result<Vec<DeploymentInfo>, GitHubError>;
    /// Whether `sha` is on `branch`: the branch's head or one of its ancestors
    /// (`GET /repos/{o}/{r}/compare/{branch}...{sha}` answers `identical` or `behind`); an
    /// unknown SHA or branch is not on it.
    async fn branch_contains(
        &self,
        repo: &RepoRef,
        branch: &str,
        sha: &str,
    ) -> Result<bool, GitHubError>;
    /// The states a deployment went through (newest first), each with who reported it:
    /// `(state, creator login)`.
    async fn deployment_states(
        &self,
        repo: &RepoRef,
        deployment_id: u64,
    ) -> Result<Vec<(String, String)>, GitHubError>;
    /// Merges a pull request at `merge.sha`; the merge commit's SHA.
    async fn merge_pull(
        &self,
        repo: &RepoRef,
        number: u64,
        merge: &MergeRequest,
    ) -> Result<String, GitHubError>;
    /// Cancels a workflow run (a finished one is left as it is).
    async fn cancel_run(&self, repo: &RepoRef, run_id: u64) -> Result<(), GitHubError>;
    /// Closes an issue as completed.
    async fn close_issue(&self, repo: &RepoRef, number: u64) -> Result<(), GitHubError>;
    /// An issue's body as GitHub has it now (`issues/get`; empty when it has none).
    async fn issue_body(&self, repo: &RepoRef, number: u64) -> Result<String, GitHubError>;
    /// Replaces an issue's body (`issues/update`).
    async fn set_issue_body(
        &self,
        repo: &RepoRef,
        number: u64,
        body: &str,
    ) -> Result<(), GitHubError>;
    /// The newest 100 issues (open or closed) carrying `label`.
    async fn issues_labelled(
        &self,
        repo: &RepoRef,
        label: &str,
    ) -> Result<Vec<IssueInfo>, GitHubError>;
    /// Opens an issue; returns its number.
    async fn create_issue(&self, repo: &RepoRef, issue: &NewIssue) -> Result<u64, GitHubError>;
    /// Answers a custom deployment protection rule for a run waiting on an environment.
    async fn review_protection_rule(
        &self,
        repo: &RepoRef,
        run_id: u64,
        review: &ProtectionReview,
    ) -> Result<(), GitHubError>;
    /// A page of up to 100 of the App's webhook deliveries, newest first, from `cursor`
    /// (App JWT; `GET /app/hook/deliveries`). GitHub keeps them for 3 days.
    async fn hook_deliveries(&self, cursor: Option<&str>) -> Result<HookDeliveryPage, GitHubError>;
    /// Asks GitHub to send a delivery again, with its GUID (App JWT;
    /// `POST /app/hook/deliveries/{delivery_id}/attempts`).
    async fn redeliver(&self, delivery_id: u64) -> Result<(), GitHubError>;
}
