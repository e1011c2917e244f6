//! Webhook payloads decoded into the typed events shipgate reasons about.
//!
//! Owns: the shape of each handled event, reduced to the fields shipgate uses; tolerant of
//! fields GitHub omits (many payloads have no `installation`, older ones no `draft`).
//! Must not: do I/O or decide what an event means for a pipeline (that is the core's job).

use chrono::{DateTime, Utc};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Account {
    pub id: u64,
    pub login: String,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

impl Account {
    pub fn is_bot(&self) -> bool {
        self.kind.as_deref() == Some("Bot") || self.login.ends_with("[bot]")
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct InstallationRef {
    pub id: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Repository {
    pub id: u64,
    pub name: String,
    pub full_name: String,
    pub owner: Account,
    #[serde(default)]
    pub default_branch: Option<String>,
    #[serde(default)]
    pub fork: bool,
    #[serde(default)]
    pub private: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Label {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Issue {
    pub number: u64,
    /// GraphQL node id.
    #[serde(default)]
    pub node_id: Option<String>,
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    pub user: Account,
    #[serde(default)]
    pub labels: Vec<Label>,
    pub state: String,
    pub html_url: String,
    /// When GitHub last changed it (body, title, labels, …): what orders two deliveries.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    /// Present when the "issue" is a pull request (comments on PRs arrive as issue comments).
    #[serde(default)]
    pub pull_request: Option<serde_json::Value>,
}

impl Issue {
    pub fn is_pull_request(&self) -> bool {
        self.pull_request.is_some()
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Comment {
    pub id: u64,
    #[serde(default)]
    pub body: Option<String>,
    pub user: Account,
    pub html_url: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct GitRef {
    #[serde(rename = "ref")]
    pub branch: String,
    pub sha: String,
    /// `None` when the head repository was deleted.
    #[serde(default)]
    pub repo: Option<Repository>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct PullRequest {
    pub number: u64,
    /// GitHub's global id (GraphQL); absent in some older payloads.
    #[serde(default)]
    pub node_id: Option<String>,
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    pub state: String,
    #[serde(default)]
    pub draft: bool,
    #[serde(default)]
    pub merged: Option<bool>,
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    pub user: Account,
    pub head: GitRef,
    pub base: GitRef,
    pub html_url: String,
}

impl PullRequest {
    /// A PR whose head lives in another repository (a fork). Its code must never run with
    /// the base repository's secrets.
    pub fn is_from_fork(&self) -> bool {
        match (&self.head.repo, &self.base.repo) {
            (Some(head), Some(base)) => head.id != base.id,
            // A deleted head repository is treated as foreign.
            (None, _) => true,
            (Some(_), None) => false,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Review {
    pub id: u64,
    pub user: Account,
    /// `approved`, `changes_requested`, `commented` or `dismissed` (webhooks use lower case).
    pub state: String,
    #[serde(default)]
    pub commit_id: Option<String>,
    #[serde(default)]
    pub submitted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct CheckRun {
    pub id: u64,
    pub name: String,
    pub head_sha: String,
    pub status: String,
    #[serde(default)]
    pub conclusion: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    /// The open PRs whose head is this SHA (empty for forks and merge commits).
    #[serde(default)]
    pub pull_requests: Vec<PullNumber>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct PullNumber {
    pub number: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct RequestedAction {
    pub identifier: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct CheckSuite {
    pub id: u64,
    pub head_sha: String,
    #[serde(default)]
    pub head_branch: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub conclusion: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct WorkflowRun {
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    pub head_sha: String,
    #[serde(default)]
    pub head_branch: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub conclusion: Option<String>,
    pub html_url: String,
    #[serde(default)]
    pub run_attempt: Option<u64>,
    #[serde(default)]
    pub display_title: Option<String>,
    /// What started it: `workflow_dispatch`, `push`, …
    pub event: String,
    pub workflow_id: u64,
    /// Who started it (for a dispatch, whoever made the request) and who started this
    /// attempt; shipgate adopts a run only if both are its own bot.
    #[serde(default)]
    pub actor: Option<Account>,
    #[serde(default)]
    pub triggering_actor: Option<Account>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct WorkflowJob {
    pub id: u64,
    pub run_id: u64,
    pub name: String,
    pub status: String,
    #[serde(default)]
    pub conclusion: Option<String>,
    pub head_sha: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Deployment {
    pub id: u64,
    pub sha: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub environment: String,
    #[serde(default)]
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct DeploymentStatus {
    pub id: u64,
    pub state: String,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub log_url: Option<String>,
    #[serde(default)]
    pub environment_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct InstallationInfo {
    pub id: u64,
    pub account: Account,
    #[serde(default)]
    pub repository_selection: Option<String>,
    #[serde(default)]
    pub suspended_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct RepositoryRef {
    pub id: u64,
    pub full_name: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct PushCommit {
    #[serde(default)]
    pub added: Vec<String>,
    #[serde(default)]
    pub modified: Vec<String>,
    #[serde(default)]
    pub removed: Vec<String>,
}

/// Fields every repository event shares.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Context {
    pub repository: Repository,
    pub sender: Account,
    #[serde(default)]
    pub installation: Option<InstallationRef>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct IssuesEvent {
    pub action: String,
    pub issue: Issue,
    #[serde(default)]
    pub label: Option<Label>,
    #[serde(flatten)]
    pub context: Context,
}

/// `sub_issues`: a sub-issue added to or removed from a parent (`sub_issue_added`,
/// `sub_issue_removed`; GitHub also sends the mirror `parent_issue_added` / `_removed`).
/// Webhook description: `@octokit/openapi-webhooks`, `webhook-sub-issues-sub-issue-added`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct SubIssuesEvent {
    pub action: String,
    pub parent_issue: Issue,
    pub sub_issue: Issue,
    #[serde(flatten)]
    pub context: Context,
}

/// `issue_dependencies`: a "blocked by" dependency added or removed (`blocked_by_added`,
/// `blocked_by_removed`; GitHub also sends the mirror `blocking_added` / `_removed`).
/// Webhook description: `@octokit/openapi-webhooks`,
/// `webhook-issue-dependencies-blocked-by-added`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct IssueDependenciesEvent {
    pub action: String,
    /// The issue that waits (the blocker is read again with the sub-issues, not taken from
    /// here).
    pub blocked_issue: Issue,
    #[serde(flatten)]
    pub context: Context,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct IssueCommentEvent {
    pub action: String,
    pub issue: Issue,
    pub comment: Comment,
    #[serde(flatten)]
    pub context: Context,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct PullRequestEvent {
    pub action: String,
    pub number: u64,
    pub pull_request: PullRequest,
    #[serde(default)]
    pub before: Option<String>,
    #[serde(default)]
    pub after: Option<String>,
    #[serde(flatten)]
    pub context: Context,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct PullRequestReviewEvent {
    pub action: String,
    pub review: Review,
    pub pull_request: PullRequest,
    #[serde(flatten)]
    pub context: Context,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct CheckRunEvent {
    pub action: String,
    pub check_run: CheckRun,
    #[serde(default)]
    pub requested_action: Option<RequestedAction>,
    #[serde(flatten)]
    pub context: Context,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct CheckSuiteEvent {
    pub action: String,
    pub check_suite: CheckSuite,
    #[serde(flatten)]
    pub context: Context,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct WorkflowRunEvent {
    pub action: String,
    pub workflow_run: WorkflowRun,
    #[serde(flatten)]
    pub context: Context,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct WorkflowJobEvent {
    pub action: String,
    pub workflow_job: WorkflowJob,
    #[serde(flatten)]
    pub context: Context,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct DeploymentEvent {
    pub action: String,
    pub deployment: Deployment,
    #[serde(flatten)]
    pub context: Context,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct DeploymentStatusEvent {
    pub action: String,
    pub deployment_status: DeploymentStatus,
    pub deployment: Deployment,
    #[serde(flatten)]
    pub context: Context,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct DeploymentProtectionRuleEvent {
    pub action: String,
    pub environment: String,
    #[serde(default)]
    pub event: Option<String>,
    pub deployment_callback_url: String,
    #[serde(default)]
    pub deployment: Option<Deployment>,
    #[serde(flatten)]
    pub context: Context,
}

impl DeploymentProtectionRuleEvent {
    /// The workflow run waiting for the rule, taken from the callback URL
    /// (`…/actions/runs/{run_id}/deployment_protection_rule`).
    pub fn run_id(&self) -> Option<u64> {
        let mut parts = self.deployment_callback_url.rsplit('/');
        let last = parts.next()?;
        if last != "deployment_protection_rule" {
            return None;
        }
        parts.next()?.parse().ok()
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct InstallationEvent {
    pub action: String,
    pub installation: InstallationInfo,
    #[serde(default)]
    pub repositories: Option<Vec<RepositoryRef>>,
    pub sender: Account,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct InstallationRepositoriesEvent {
    pub action: String,
    pub installation: InstallationInfo,
    #[serde(default)]
    pub repositories_added: Vec<RepositoryRef>,
    #[serde(default)]
    pub repositories_removed: Vec<RepositoryRef>,
    pub sender: Account,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct PushEvent {
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub before: String,
    pub after: String,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub commits: Vec<PushCommit>,
    #[serde(flatten)]
    pub context: Context,
}

impl PushEvent {
    /// Whether any pushed commit touched `path`.
    pub fn touches(&self, path: &str) -> bool {
        self.commits.iter().any(|c| {
            c.added
                .iter()
                .chain(&c.modified)
                .chain(&c.removed)
                .any(|p| p == path)
        })
    }
}

/// A decoded webhook delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Issues(Box<IssuesEvent>),
    SubIssues(Box<SubIssuesEvent>),
    IssueDependencies(Box<IssueDependenciesEvent>),
    IssueComment(Box<IssueCommentEvent>),
    PullRequest(Box<PullRequestEvent>),
    PullRequestReview(Box<PullRequestReviewEvent>),
    CheckRun(Box<CheckRunEvent>),
    CheckSuite(Box<CheckSuiteEvent>),
    WorkflowRun(Box<WorkflowRunEvent>),
    WorkflowJob(Box<WorkflowJobEvent>),
    Deployment(Box<DeploymentEvent>),
    DeploymentStatus(Box<DeploymentStatusEvent>),
    DeploymentProtectionRule(Box<DeploymentProtectionRuleEvent>),
    Installation(Box<InstallationEvent>),
    InstallationRepositories(Box<InstallationRepositoriesEvent>),
    Push(Box<PushEvent>),
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("shipgate does not decode `{0}` events")]
    Unsupported(String),
    #[error("the `{event}` payload does not have the expected shape: {detail}")]
    Shape { event: String, detail: String },
}

/// Decodes a stored delivery body into a typed event.
pub fn decode(event: &str, body: &[u8]) -> Result<Event, DecodeError> {
    fn parse<T: serde::de::DeserializeOwned>(
        event: &str,
        body: &[u8],
    ) -> Result<Box<T>, DecodeError> {
        serde_json::from_slice(body).map_err(|e| DecodeError::Shape {
            event: event.to_owned(),
            detail: e.to_string(),
        })
    }
    Ok(match event {
        "issues" => Event::Issues(parse(event, body)?),
        "sub_issues" => Event::SubIssues(parse(event, body)?),
        "issue_dependencies" => Event::IssueDependencies(parse(event, body)?),
        "issue_comment" => Event::IssueComment(parse(event, body)?),
        "pull_request" => Event::PullRequest(parse(event, body)?),
        "pull_request_review" => Event::PullRequestReview(parse(event, body)?),
        "check_run" => Event::CheckRun(parse(event, body)?),
        "check_suite" => Event::CheckSuite(parse(event, body)?),
        "workflow_run" => Event::WorkflowRun(parse(event, body)?),
        "workflow_job" => Event::WorkflowJob(parse(event, body)?),
        "deployment" => Event::Deployment(parse(event, body)?),
        "deployment_status" => Event::DeploymentStatus(parse(event, body)?),
        "deployment_protection_rule" => Event::DeploymentProtectionRule(parse(event, body)?),
        "installation" => Event::Installation(parse(event, body)?),
        "installation_repositories" => Event::InstallationRepositories(parse(event, body)?),
        "push" => Event::Push(parse(event, body)?),
        other => return Err(DecodeError::Unsupported(other.to_owned())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GitHub publishes no example of this event; this one follows its webhook description.
    #[test]
    fn deployment_protection_rule_names_the_waiting_run() {
        let body = serde_json::json!({
            "action": "requested",
            "environment": "production",
            "event": "workflow_dispatch",
            "deployment_callback_url": "https://api.github.com/repos/acme/widgets/actions/runs/7531/deployment_protection_rule",
            "deployment": {"id": 9, "sha": "a1b2c3", "ref": "main", "environment": "production", "payload": {}},
            "pull_requests": [],
            "repository": {"id": 1, "name": "widgets", "full_name": "acme/widgets", "owner": {"id": 2, "login": "acme", "type": "Organization"}},
            "sender": {"id": 3, "login": "dev", "type": "User"},
            "installation": {"id": 44}
        });
        let Event::DeploymentProtectionRule(e) =
            decode("deployment_protection_rule", body.to_string().as_bytes()).unwrap()
        else {
            panic!("wrong event");
        };
        assert_eq!(e.run_id(), Some(7531));
        assert_eq!(e.environment, "production");
        assert_eq!(e.deployment.unwrap().sha, "a1b2c3");
        assert_eq!(e.context.installation, Some(InstallationRef { id: 44 }));
    }

    #[test]
    fn pull_requests_from_forks_are_recognised() {
        let repo = |id: u64| Repository {
            id,
            name: "widgets".into(),
            full_name: format!("owner{id}/widgets"),
            owner: Account {
                id,
                login: format!("owner{id}"),
                kind: None,
            },
            default_branch: None,
            fork: id != 1,
            private: false,
        };
        let git_ref = |id: Option<u64>| GitRef {
            branch: "b".into(),
            sha: "s".into(),
            repo: id.map(repo),
        };
        let mut pr = PullRequest {
            number: 1,
            node_id: None,
            title: "t".into(),
            body: None,
            state: "open".into(),
            draft: false,
            merged: None,
            merge_commit_sha: None,
            user: Account {
                id: 5,
                login: "dev".into(),
                kind: None,
            },
            head: git_ref(Some(1)),
            base: git_ref(Some(1)),
            html_url: String::new(),
        };
        assert!(!pr.is_from_fork());
        pr.head = git_ref(Some(2));
        assert!(pr.is_from_fork());
        pr.head = git_ref(None);
        assert!(
            pr.is_from_fork(),
            "a deleted head repository is not trusted"
        );
    }

    #[test]
    fn unknown_events_are_reported_not_guessed() {
        assert!(matches!(
            decode("star", b"{}"),
            Err(DecodeError::Unsupported(_))
        ));
        assert!(matches!(
            decode("issues", b"{}"),
            Err(DecodeError::Shape { .. })
        ));
    }
}
