//! The simulator's world: the App, its installations and tokens, users and teams, and
//! repositories with their git history, issues, pull requests, checks, workflows,
//! deployments and collaborators.
//!
//! Owns: the data and the small operations on it that several handlers share (ids, users,
//! commits, finding things). Tests reach it through `Simulator::with` to arrange a scene and
//! to look at what shipgate did.
//! Must not: speak HTTP.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

use crate::clock::Clock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Permission {
    None,
    Read,
    Triage,
    Write,
    Maintain,
    Admin,
}

impl Permission {
    /// The legacy `permission` field of the collaborator-permission answer.
    pub fn legacy(self) -> &'static str {
        match self {
            Permission::Admin => "admin",
            Permission::Maintain | Permission::Write => "write",
            Permission::Triage | Permission::Read => "read",
            Permission::None => "none",
        }
    }

    pub fn role_name(self) -> &'static str {
        match self {
            Permission::Admin => "admin",
            Permission::Maintain => "maintain",
            Permission::Write => "write",
            Permission::Triage => "triage",
            Permission::Read => "read",
            Permission::None => "none",
        }
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: u64,
    pub login: String,
    /// `User`, `Bot` or `Organization`.
    pub kind: String,
}

#[derive(Debug, Clone)]
pub struct AppInfo {
    pub id: u64,
    pub slug: String,
    pub name: String,
    pub owner: String,
    pub client_id: String,
    pub client_secret: String,
    pub webhook_secret: String,
    pub private_key_pem: String,
    pub public_key_pem: String,
    /// Where webhooks go; `None` until a test points it at shipgate.
    pub webhook_url: Option<Url>,
    pub permissions: BTreeMap<String, String>,
    pub events: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl AppInfo {
    pub fn bot_login(&self) -> String {
        format!("{}[bot]", self.slug)
    }
}

#[derive(Debug, Clone)]
pub struct Installation {
    pub id: u64,
    pub account: String,
    /// Full names of the repositories the installation covers.
    pub repositories: Vec<String>,
    pub suspended: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub installation_id: u64,
    pub expires_at: DateTime<Utc>,
}

/// A user access token (`ghu_…`) for the App: what a user gets by signing in with it.
#[derive(Debug, Clone)]
pub struct UserToken {
    pub login: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Commit {
    pub sha: String,
    pub message: String,
    pub parents: Vec<String>,
    /// The whole tree at this commit: path → content (bytes: a file need not be text).
    pub files: BTreeMap<String, Vec<u8>>,
    pub author: String,
    pub date: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Issue {
    pub id: u64,
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub user: String,
    pub state: String,
    pub state_reason: Option<String>,
    pub labels: Vec<String>,
    pub assignees: Vec<String>,
    pub is_pull_request: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<String>,
    pub sub_issues: Vec<u64>,
    pub blocked_by: Vec<u64>,
}

impl Issue {
    /// A new open issue (or the issue half of a pull request).
    pub fn open(
        id: u64,
        number: u64,
        title: &str,
        body: Option<&str>,
        user: &str,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            number,
            title: title.to_owned(),
            body: body.map(str::to_owned),
            user: user.to_owned(),
            state: "open".into(),
            state_reason: None,
            labels: Vec::new(),
            assignees: Vec::new(),
            is_pull_request: false,
            created_at: now,
            updated_at: now,
            closed_at: None,
            closed_by: None,
            sub_issues: Vec::new(),
            blocked_by: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Reaction {
    pub id: u64,
    pub content: String,
    pub user: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Comment {
    pub id: u64,
    pub issue_number: u64,
    pub body: String,
    pub user: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub reactions: Vec<Reaction>,
    /// Every body this comment had, oldest first (tests check "edited in place").
    pub history: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Label {
    pub id: u64,
    pub name: String,
    pub color: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Pull {
    pub number: u64,
    pub id: u64,
    pub head_ref: String,
    pub head_sha: String,
    /// Full name of the repository the head branch lives in (differs for forks).
    pub head_repo: String,
    pub base_ref: String,
    pub draft: bool,
    pub merged: bool,
    pub merge_commit_sha: Option<String>,
    pub merged_at: Option<DateTime<Utc>>,
    pub merged_by: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Review {
    pub id: u64,
    pub pull_number: u64,
    pub user: String,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED` or `DISMISSED`.
    pub state: String,
    pub commit_id: String,
    pub body: String,
    pub submitted_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct CheckRun {
    pub id: u64,
    pub head_sha: String,
    pub name: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub external_id: Option<String>,
    pub details_url: Option<String>,
    pub output: Value,
    pub actions: Value,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub app_id: u64,
    /// Every state this check run was in, oldest first.
    pub history: Vec<Value>,
}

#[derive(Debug, Clone)]
pub struct Workflow {
    pub id: u64,
    pub name: String,
    /// `.github/workflows/<file>`.
    pub path: String,
    /// The `workflow_dispatch` inputs the file declares; others are refused (422).
    pub inputs: Vec<String>,
}

impl Workflow {
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

#[derive(Debug, Clone)]
pub struct WorkflowRun {
    pub id: u64,
    pub workflow_id: u64,
    pub run_number: u64,
    pub head_branch: String,
    pub head_sha: String,
    pub event: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub inputs: serde_json::Map<String, Value>,
    pub actor: String,
    /// Who started the latest attempt (a re-run), if not `actor`.
    pub triggering_actor: Option<String>,
    /// GitHub's `run_attempt`: 1, then one more per re-run.
    pub attempt: u64,
    pub display_title: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Deployment {
    pub id: u64,
    pub sha: String,
    pub git_ref: String,
    pub task: String,
    pub environment: String,
    pub payload: Value,
    pub description: Option<String>,
    pub creator: String,
    pub production_environment: bool,
    pub transient_environment: bool,
    pub required_contexts: Option<Vec<String>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct DeploymentStatus {
    pub id: u64,
    pub deployment_id: u64,
    pub state: String,
    pub description: String,
    pub log_url: String,
    pub environment_url: String,
    pub creator: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct Repo {
    pub id: u64,
    pub owner: String,
    pub name: String,
    pub private: bool,
    pub default_branch: String,
    pub commits: HashMap<String, Commit>,
    pub branches: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub issues: BTreeMap<u64, Issue>,
    pub comments: BTreeMap<u64, Comment>,
    pub labels: BTreeMap<String, Label>,
    pub pulls: BTreeMap<u64, Pull>,
    pub reviews: BTreeMap<u64, Review>,
    pub check_runs: BTreeMap<u64, CheckRun>,
    pub workflows: BTreeMap<u64, Workflow>,
    pub runs: BTreeMap<u64, WorkflowRun>,
    pub deployments: BTreeMap<u64, Deployment>,
    pub deployment_statuses: BTreeMap<u64, DeploymentStatus>,
    pub environments: BTreeMap<String, u64>,
    pub collaborators: BTreeMap<String, Permission>,
    /// Answers of custom deployment protection rules: (run id, environment, state, comment).
    pub protection_reviews: Vec<(u64, String, String, String)>,
    /// Custom protection rules waiting for the App's answer: (run id, environment).
    pub protection_waiting: std::collections::BTreeSet<(u64, String)>,
    /// Branch protection: per branch, the check runs that must have concluded `success` on
    /// a PR's head before it merges.
    pub required_checks: BTreeMap<String, Vec<String>>,
    pub(crate) next_number: u64,
}

impl Repo {
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    pub fn workflow_by_file(&self, file: &str) -> Option<&Workflow> {
        self.workflows
            .values()
            .find(|w| w.file_name() == file || w.id.to_string() == file)
    }

    /// Resolves a branch, tag or SHA (full or abbreviated) to a commit SHA.
    /// `sha` and every commit it descends from, newest first (depth first).
    pub fn ancestors(&self, sha: &str) -> Vec<String> {
        let mut seen = Vec::new();
        let mut stack = vec![sha.to_owned()];
        while let Some(sha) = stack.pop() {
            if seen.contains(&sha) {
                continue;
            }
            if let Some(commit) = self.commits.get(&sha) {
                stack.extend(commit.parents.iter().cloned());
            }
            seen.push(sha);
        }
        seen
    }

    pub fn resolve(&self, reference: &str) -> Option<String> {
        let name = reference
            .strip_prefix("refs/heads/")
            .or_else(|| reference.strip_prefix("heads/"))
            .unwrap_or(reference);
        if let Some(sha) = self.branches.get(name) {
            return Some(sha.clone());
        }
        let tag = reference
            .strip_prefix("refs/tags/")
            .or_else(|| reference.strip_prefix("tags/"))
            .unwrap_or(reference);
        if let Some(sha) = self.tags.get(tag) {
            return Some(sha.clone());
        }
        if reference.len() >= 7 && reference.chars().all(|c| c.is_ascii_hexdigit()) {
            return self
                .commits
                .keys()
                .find(|sha| sha.starts_with(reference))
                .cloned();
        }
        None
    }

    pub fn permission_of(&self, login: &str) -> Permission {
        if login == self.owner {
            return Permission::Admin;
        }
        self.collaborators
            .get(login)
            .copied()
            .unwrap_or(Permission::None)
    }

    pub fn label(&self, name: &str) -> Option<&Label> {
        self.labels.get(&name.to_lowercase())
    }
}

/// A webhook waiting to be sent.
#[derive(Debug, Clone)]
pub struct OutgoingWebhook {
    pub event: String,
    pub action: Option<String>,
    pub installation_id: Option<u64>,
    pub repository_id: Option<u64>,
    pub payload: Value,
}

/// A webhook the simulator sent (GitHub's "recent deliveries" of the App).
#[derive(Debug, Clone)]
pub struct HookDelivery {
    pub id: u64,
    pub guid: String,
    pub event: String,
    pub action: Option<String>,
    pub installation_id: Option<u64>,
    pub repository_id: Option<u64>,
    pub delivered_at: DateTime<Utc>,
    pub redelivery: bool,
    pub duration_ms: f64,
    pub status_code: u16,
    pub request_headers: BTreeMap<String, String>,
    pub payload: Value,
    pub response_headers: BTreeMap<String, String>,
    pub response_body: String,
}

/// One request the simulator received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub operation: Option<String>,
    pub status: u16,
    pub body: Option<Value>,
    pub at: DateTime<Utc>,
    /// The caller's address (which of several shipgate processes sent it).
    pub peer: Option<std::net::SocketAddr>,
}

/// A failure the next matching request gets instead of its answer (retry tests).
#[derive(Debug, Clone)]
pub struct Fault {
    pub operation: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The request is carried out, and only its answer is lost (a 502 after the write).
    pub after: bool,
    /// With `after`: no answer comes at all; the request hangs until its caller gives up or
    /// dies (a process killed right after GitHub did the work).
    pub hang: bool,
    /// The error body, if not the simulator's usual one.
    pub body: Option<Value>,
    /// Requests to `operation` let through untouched before this fault takes one.
    pub skip: usize,
}

impl Fault {
    /// The next request to `operation` answered `status`, before it is carried out.
    pub fn new(operation: &str, status: u16) -> Self {
        Self {
            operation: operation.to_owned(),
            status,
            headers: Vec::new(),
            after: false,
            hang: false,
            body: None,
            skip: 0,
        }
    }
}

/// GitHub's secondary limit on requests that create content, as the simulator enforces it
/// when a test asks: a bucket per installation of `burst` requests, refilled one every
/// `every` (real time). A request that finds it empty gets GitHub's secondary-limit 403.
#[derive(Debug, Clone)]
pub struct ContentThrottle {
    pub burst: f64,
    pub every: std::time::Duration,
    pub buckets: HashMap<u64, (f64, std::time::Instant)>,
    /// Requests refused so far.
    pub refused: usize,
}

impl ContentThrottle {
    /// Takes one request's token from `installation`'s bucket; false if it is empty.
    pub fn take(&mut self, installation: u64) -> bool {
        let now = std::time::Instant::now();
        let (tokens, last) = self
            .buckets
            .entry(installation)
            .or_insert((self.burst, now));
        let refill = now.duration_since(*last).as_secs_f64() / self.every.as_secs_f64();
        *tokens = (*tokens + refill).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            self.refused += 1;
            false
        }
    }
}

/// A sign-in code GitHub gave (`/login/oauth/authorize`), waiting to be exchanged.
#[derive(Debug, Clone)]
pub struct PendingSignIn {
    pub login: String,
    pub redirect_uri: String,
    /// The S256 PKCE challenge.
    pub challenge: String,
    pub created_at: DateTime<Utc>,
}

/// A manifest posted to the new-App page, waiting for its code to be converted.
#[derive(Debug, Clone)]
pub struct PendingManifest {
    pub manifest: Value,
    pub created_at: DateTime<Utc>,
}

pub struct SimState {
    pub base: Url,
    pub clock: Arc<dyn Clock>,
    next_id: u64,
    pub app: AppInfo,
    pub installations: BTreeMap<u64, Installation>,
    pub tokens: HashMap<String, IssuedToken>,
    pub user_tokens: HashMap<String, UserToken>,
    pub users: BTreeMap<String, User>,
    /// (org, team slug) → member login → role (`member` or `maintainer`).
    pub teams: BTreeMap<(String, String), BTreeMap<String, String>>,
    pub repos: BTreeMap<String, Repo>,
    pub hook_deliveries: Vec<HookDelivery>,
    pub manifest_codes: HashMap<String, PendingManifest>,
    pub sign_in_codes: HashMap<String, PendingSignIn>,
    /// Apps created through the manifest flow, with the private key GitHub handed out.
    pub created_apps: Vec<AppInfo>,
    pub requests: Vec<RecordedRequest>,
    pub violations: Vec<String>,
    pub outbox: Vec<OutgoingWebhook>,
    /// Hook deliveries asked to be sent again (`POST …/attempts`).
    pub redeliveries: Vec<u64>,
    pub faults: Vec<Fault>,
    pub content_throttle: Option<ContentThrottle>,
    /// What `x-ratelimit-remaining` says to REST requests, when a test sets it (else 5,000
    /// less the REST requests of the last hour).
    pub rate_limit_remaining: Option<u64>,
    /// The same for GraphQL requests.
    pub graphql_rate_limit_remaining: Option<u64>,
    /// Events whose webhooks are held back (GitHub does not promise delivery order).
    pub held_events: Vec<String>,
    /// Webhooks held back, in order, until released.
    pub held: Vec<OutgoingWebhook>,
    /// How many times the OIDC issuer's keys were fetched (`/oidc/jwks`).
    pub oidc_key_fetches: u64,
    /// Request tokens handed to jobs (`ACTIONS_ID_TOKEN_REQUEST_TOKEN`) → (repository, run).
    pub job_token_requests: HashMap<String, (String, u64)>,
}

impl SimState {
    pub fn new(base: Url, clock: Arc<dyn Clock>, app: AppInfo) -> Self {
        let mut state = Self {
            base,
            clock,
            next_id: 1000,
            app,
            installations: BTreeMap::new(),
            tokens: HashMap::new(),
            user_tokens: HashMap::new(),
            users: BTreeMap::new(),
            teams: BTreeMap::new(),
            repos: BTreeMap::new(),
            hook_deliveries: Vec::new(),
            manifest_codes: HashMap::new(),
            sign_in_codes: HashMap::new(),
            created_apps: Vec::new(),
            requests: Vec::new(),
            violations: Vec::new(),
            outbox: Vec::new(),
            redeliveries: Vec::new(),
            faults: Vec::new(),
            content_throttle: None,
            rate_limit_remaining: None,
            graphql_rate_limit_remaining: None,
            held_events: Vec::new(),
            held: Vec::new(),
            oidc_key_fetches: 0,
            job_token_requests: HashMap::new(),
        };
        let bot = state.app.bot_login();
        state.ensure_user_of_kind(&bot, "Bot");
        let owner = state.app.owner.clone();
        state.ensure_user(&owner);
        state
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A 40-hex-digit id derived from `seed` and a fresh counter (commit SHAs).
    pub fn fresh_sha(&mut self, seed: &str) -> String {
        let n = self.next_id();
        hex::encode(&Sha256::digest(format!("{seed}\0{n}").as_bytes())[..20])
    }

    pub fn ensure_user(&mut self, login: &str) -> User {
        let kind = if login.ends_with("[bot]") {
            "Bot"
        } else {
            "User"
        };
        self.ensure_user_of_kind(login, kind)
    }

    pub fn ensure_user_of_kind(&mut self, login: &str, kind: &str) -> User {
        if let Some(user) = self.users.get(login) {
            return user.clone();
        }
        let user = User {
            id: self.next_id(),
            login: login.to_owned(),
            kind: kind.to_owned(),
        };
        self.users.insert(login.to_owned(), user.clone());
        user
    }

    /// Issues a user access token for the App to `login` (valid 8 h, as GitHub's expiring
    /// user tokens are).
    pub fn issue_user_token(&mut self, login: &str) -> String {
        self.ensure_user(login);
        let token = format!("ghu_{:032x}", rand::random::<u128>());
        let expires_at = self.now() + chrono::Duration::hours(8);
        self.user_tokens.insert(
            token.clone(),
            UserToken {
                login: login.to_owned(),
                expires_at,
            },
        );
        token
    }

    pub fn repo(&self, full_name: &str) -> Option<&Repo> {
        self.repos.get(full_name)
    }

    pub fn repo_mut(&mut self, full_name: &str) -> Option<&mut Repo> {
        self.repos.get_mut(full_name)
    }

    /// The installation that covers a repository.
    pub fn installation_for(&self, full_name: &str) -> Option<&Installation> {
        self.installations
            .values()
            .find(|i| i.repositories.iter().any(|r| r == full_name))
    }

    /// Adds a commit on top of `branch` (creating the branch from the default branch if
    /// needed) with `changes` applied to the tree; returns its SHA.
    pub fn commit(
        &mut self,
        full_name: &str,
        branch: &str,
        message: &str,
        author: &str,
        changes: &[(&str, Option<&str>)],
    ) -> String {
        let bytes: Vec<(&str, Option<&[u8]>)> = changes
            .iter()
            .map(|(path, text)| (*path, text.map(str::as_bytes)))
            .collect();
        self.commit_bytes(full_name, branch, message, author, &bytes)
    }

    /// Like [`SimState::commit`], with file contents as bytes (not necessarily UTF-8).
    pub fn commit_bytes(
        &mut self,
        full_name: &str,
        branch: &str,
        message: &str,
        author: &str,
        changes: &[(&str, Option<&[u8]>)],
    ) -> String {
        let sha = self.fresh_sha(message);
        let now = self.now();
        let repo = self
            .repos
            .get_mut(full_name)
            .expect("commit to a known repository");
        let parent = repo
            .branches
            .get(branch)
            .or_else(|| repo.branches.get(&repo.default_branch))
            .cloned();
        let mut files = parent
            .as_ref()
            .and_then(|p| repo.commits.get(p))
            .map(|c| c.files.clone())
            .unwrap_or_default();
        for (path, content) in changes {
            match content {
                Some(bytes) => files.insert((*path).to_owned(), bytes.to_vec()),
                None => files.remove(*path),
            };
        }
        repo.commits.insert(
            sha.clone(),
            Commit {
                sha: sha.clone(),
                message: message.to_owned(),
                parents: parent.into_iter().collect(),
                files,
                author: author.to_owned(),
                date: now,
            },
        );
        repo.branches.insert(branch.to_owned(), sha.clone());
        sha
    }

    /// Files an issue as `author` (no webhook; see `Simulator` for user actions that send one).
    pub fn add_issue(
        &mut self,
        full_name: &str,
        author: &str,
        title: &str,
        body: &str,
        labels: &[&str],
    ) -> u64 {
        self.ensure_user(author);
        let (id, now) = (self.next_id(), self.now());
        let mut label_ids = Vec::new();
        for _ in labels {
            label_ids.push(self.next_id());
        }
        let repo = self
            .repos
            .get_mut(full_name)
            .expect("issue in a known repository");
        for (name, label_id) in labels.iter().zip(label_ids) {
            repo.labels
                .entry(name.to_lowercase())
                .or_insert_with(|| Label {
                    id: label_id,
                    name: (*name).to_owned(),
                    color: "ededed".into(),
                    description: None,
                });
        }
        let number = repo.next_number;
        repo.next_number += 1;
        let mut issue = Issue::open(id, number, title, Some(body), author, now);
        issue.labels = labels.iter().map(|l| (*l).to_owned()).collect();
        repo.issues.insert(number, issue);
        number
    }

    /// Submits a review (`APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`) on a pull request's
    /// current head, as `user` (no webhook).
    pub fn add_review(
        &mut self,
        full_name: &str,
        pull_number: u64,
        user: &str,
        state: &str,
    ) -> u64 {
        self.ensure_user(user);
        let (id, now) = (self.next_id(), self.now());
        let repo = self
            .repos
            .get_mut(full_name)
            .expect("review in a known repository");
        let commit_id = repo.pulls[&pull_number].head_sha.clone();
        repo.reviews.insert(
            id,
            Review {
                id,
                pull_number,
                user: user.to_owned(),
                state: state.to_owned(),
                commit_id,
                body: String::new(),
                submitted_at: now,
            },
        );
        id
    }

    pub fn html_url(&self, path: &str) -> String {
        self.base
            .join(path.trim_start_matches('/'))
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    pub fn api_url(&self, path: &str) -> String {
        self.html_url(path)
    }
}
