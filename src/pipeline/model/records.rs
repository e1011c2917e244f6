//! The values a pipeline holds: who may act, phases, approvals, the linked PR and its
//! reviews, test runs, deploys and their health, rollbacks, merges, skips and refusals.
//!
//! Must not: hold rules (they are in `gates` and `step`).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::evidence::Evidence;

pub use crate::pipeline::domain::{Environment, GateKind, Stage};

/// A collaborator's access to the repository, from GitHub's `{permission, role_name}`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum Access {
    #[default]
    None,
    Read,
    Triage,
    Write,
    Maintain,
    Admin,
}

impl Access {
    /// Reads GitHub's `{permission, role_name}` answer; custom roles fall back to `permission`.
    pub fn from_answer(permission: &str, role_name: Option<&str>) -> Self {
        match role_name.unwrap_or(permission) {
            "admin" => Access::Admin,
            "maintain" => Access::Maintain,
            "write" | "push" => Access::Write,
            "triage" => Access::Triage,
            "read" | "pull" => Access::Read,
            _ => match permission {
                "admin" => Access::Admin,
                "write" => Access::Write,
                "read" => Access::Read,
                _ => Access::None,
            },
        }
    }

    pub fn can_write(self) -> bool {
        self >= Access::Write
    }

    pub fn name(self) -> &'static str {
        match self {
            Access::None => "no access",
            Access::Read => "read access",
            Access::Triage => "triage access",
            Access::Write => "write access",
            Access::Maintain => "maintain access",
            Access::Admin => "admin access",
        }
    }
}

/// Phases of DESIGN.md §1, then the terminal and side states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Intake,
    Planning,
    Development,
    Review,
    Staging,
    Readiness,
    Production,
    Done,
    Rejected,
    Failed,
    RolledBack,
    Stopped,
}

impl Phase {
    pub const ALL: [Phase; 12] = [
        Phase::Intake,
        Phase::Planning,
        Phase::Development,
        Phase::Review,
        Phase::Staging,
        Phase::Readiness,
        Phase::Production,
        Phase::Done,
        Phase::Rejected,
        Phase::Failed,
        Phase::RolledBack,
        Phase::Stopped,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Intake => "intake",
            Phase::Planning => "planning",
            Phase::Development => "development",
            Phase::Review => "review",
            Phase::Staging => "staging",
            Phase::Readiness => "readiness",
            Phase::Production => "production",
            Phase::Done => "done",
            Phase::Rejected => "rejected",
            Phase::Failed => "failed",
            Phase::RolledBack => "rolled_back",
            Phase::Stopped => "stopped",
        }
    }

    /// The phase label on the issue, `shipgate:<phase>`.
    pub fn label(self) -> String {
        format!("shipgate:{}", self.name())
    }

    /// No way forward (short of a new pipeline).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Phase::Done | Phase::Rejected | Phase::RolledBack | Phase::Stopped
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub by: String,
    pub at: i64,
    /// `/approve` or the approval label.
    pub via: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BranchState {
    NotCreated,
    Requested,
    Created,
    /// It was there already (someone pushed it first).
    Existed,
}

/// The pull request linked to the pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    pub author: String,
    pub head_sha: String,
    pub head_branch: String,
    /// The branch it merges into; production runs only the default branch.
    #[serde(default)]
    pub base_branch: String,
    pub from_fork: bool,
    /// The author's access to the repository: a PR from this repository by someone with
    /// write access drives the pipeline before any other.
    #[serde(default)]
    pub author_access: Access,
    pub draft: bool,
    pub open: bool,
    pub merged: bool,
    /// The merge commit, once merged (by shipgate or by a person).
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    pub url: String,
    /// The PR's title (its conventional-commit prefix, if any, names the merge commit).
    #[serde(default)]
    pub title: String,
    /// Everyone who authored or committed its commits, as GitHub lists them (separation of
    /// duties: they neither review nor release it).
    #[serde(default)]
    pub contributors: BTreeSet<String>,
    /// Everyone seen pushing to it (`pull_request.synchronize` senders): a commit's author
    /// can be any e-mail address, a push's sender cannot.
    #[serde(default)]
    pub pushers: BTreeSet<String>,
}

impl PullRequest {
    /// How much the PR is trusted to drive a pipeline whose branch is `own_branch`: 0 from a
    /// fork (or a deleted one); from this repository 1, plus 1 if its author has write
    /// access, plus 1 if it comes from the pipeline's own branch.
    pub fn trust(&self, own_branch: &str) -> u8 {
        if self.from_fork {
            return 0;
        }
        1 + u8::from(self.author_access.can_write()) + u8::from(self.head_branch == own_branch)
    }
}

/// A rollback: what triggered it, what it replaces, and what it restores once found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackRecord {
    pub environment: Environment,
    /// The SHA being rolled back (the environment's current deploy).
    pub from_sha: String,
    /// The deployment being rolled back, marked `inactive` once the rollback succeeds.
    pub from_deployment: Option<u64>,
    /// The last good SHA before it, once found.
    pub to_sha: Option<String>,
    pub reason: String,
    /// `@login` for `/rollback`, else the automatic trigger.
    pub by: String,
    pub at: i64,
    /// Where to answer a manual rollback.
    pub answer_on: Option<u64>,
    pub done: bool,
    /// What started it (absent in rollbacks recorded before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<RollbackTrigger>,
}

/// What starts a rollback (DESIGN §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackTrigger {
    /// `/rollback` or the check run's Rollback button.
    Command,
    /// `/stop` while production was being deployed.
    Stop,
    /// The deploy workflow concluded anything but success.
    DeployFailed,
    /// Health probes failed, or were too slow, too many times in a row.
    Health,
}

impl RollbackTrigger {
    pub const ALL: [RollbackTrigger; 4] = [
        RollbackTrigger::Command,
        RollbackTrigger::Stop,
        RollbackTrigger::DeployFailed,
        RollbackTrigger::Health,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RollbackTrigger::Command => "command",
            RollbackTrigger::Stop => "stop",
            RollbackTrigger::DeployFailed => "deploy_failed",
            RollbackTrigger::Health => "health",
        }
    }
}

/// The squash merge shipgate makes once production is approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeRecord {
    pub title: String,
    pub requested_at: i64,
    /// The merge commit, once GitHub has made it.
    pub sha: Option<String>,
    pub merged_at: Option<i64>,
    /// Why the merge was refused, if it was.
    pub refused: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    Approved,
    ChangesRequested,
    Commented,
    /// Dismissed: it neither approves nor blocks, and an older review never takes its place.
    Dismissed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewRecord {
    pub id: u64,
    pub state: ReviewState,
    pub sha: String,
    pub access: Access,
    /// GitHub's `submitted_at`, ms: with the id, what decides which review is newer.
    #[serde(default)]
    pub submitted_at: i64,
}

impl ReviewRecord {
    /// Whether a review `(submitted_at, id)` is older than this one: reviews are ordered by
    /// GitHub's `submitted_at`, then by id (GitHub's ids only grow).
    pub fn is_newer_than(&self, submitted_at: i64, id: u64) -> bool {
        (self.submitted_at, self.id) > (submitted_at, id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunState {
    /// The dispatch effect has not answered yet.
    Dispatching,
    Running,
    Succeeded,
    /// Concluded anything but success (`failure`, `cancelled`, `timed_out`, …).
    Failed(String),
    /// Silent past `tests.timeout`, and still not finished when polled.
    TimedOut,
    /// The dispatch was refused; the reason says why.
    NotDispatched(String),
    /// Replaced by a retry or a new head SHA.
    Superseded,
}

impl RunState {
    pub fn is_finished(&self) -> bool {
        !matches!(self, RunState::Dispatching | RunState::Running)
    }
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            RunState::Failed(_) | RunState::TimedOut | RunState::NotDispatched(_)
        )
    }
}

/// One dispatched test workflow: evidence for one SHA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRun {
    pub workflow: String,
    pub sha: String,
    /// The branch it was dispatched on.
    #[serde(default)]
    pub git_ref: String,
    /// The `pipeline` input, unique per dispatch; workflows put it in their run name.
    pub correlation: String,
    pub run_id: Option<u64>,
    pub url: Option<String>,
    pub state: RunState,
    pub dispatched_at: i64,
    pub finished_at: Option<i64>,
    /// The run attempt the state describes.
    #[serde(default = "first_attempt")]
    pub attempt: u64,
    /// What the run reported through the action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeployState {
    /// The GitHub Deployment is being created.
    Creating,
    /// Created; the deploy workflow is being dispatched.
    Dispatching,
    Running,
    Succeeded,
    /// The deploy run concluded anything but success.
    Failed(String),
    /// GitHub refused the deployment or the dispatch.
    NotStarted(String),
    /// Replaced by a retry.
    Superseded,
}

impl DeployState {
    /// How the deploy ended, or that it is still running, in words.
    pub fn describe(&self) -> String {
        match self {
            DeployState::Succeeded => "succeeded".to_owned(),
            DeployState::Failed(c) => format!("concluded `{c}`"),
            DeployState::NotStarted(why) => format!("not started: {why}"),
            DeployState::Superseded => "superseded".to_owned(),
            _ => "running".to_owned(),
        }
    }

    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            DeployState::Succeeded
                | DeployState::Failed(_)
                | DeployState::NotStarted(_)
                | DeployState::Superseded
        )
    }
}

/// One deploy of one SHA to one environment: a GitHub Deployment and the deploy run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deploy {
    pub environment: Environment,
    pub sha: String,
    /// The branch the workflow is dispatched on.
    pub git_ref: String,
    /// The `pipeline` input, unique per deploy.
    pub correlation: String,
    pub deployment_id: Option<u64>,
    pub run_id: Option<u64>,
    pub url: Option<String>,
    pub state: DeployState,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// Set on a rollback deploy: why it redeploys an earlier SHA.
    #[serde(default)]
    pub rollback_reason: Option<String>,
    /// Who asked for it with `/deploy staging` (none when the gates sent it).
    #[serde(default)]
    pub requested_by: Option<String>,
    /// What the deploy run reported through the action (where it deployed, which version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
}

impl TestRun {
    /// What the run's current attempt reported (an earlier attempt's evidence does not
    /// speak for a re-run).
    pub fn reported(&self) -> Option<&Evidence> {
        self.evidence.as_ref().filter(|e| e.attempt >= self.attempt)
    }
}

impl Deploy {
    /// `rollback` for a rollback's redeploy, else `deploy`.
    pub fn kind(&self) -> &'static str {
        if self.rollback_reason.is_some() {
            "rollback"
        } else {
            "deploy"
        }
    }
}

/// One health probe, as evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRecord {
    pub at: i64,
    pub ok: bool,
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
}

/// Health monitoring of one deploy: probes every `interval` until `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthWatch {
    pub environment: Environment,
    pub sha: String,
    pub url: String,
    pub started_at: i64,
    pub until: i64,
    /// The latest probes (at most 20).
    pub recent: Vec<ProbeRecord>,
    pub total: u32,
    pub failed: u32,
    pub consecutive_failures: u32,
    /// Successful probes in a row slower than the latency limit.
    #[serde(default)]
    pub consecutive_slow: u32,
    /// `Some(true)` held for the window, `Some(false)` failed.
    pub outcome: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The phase the pipeline was in; `/retry` goes back to it.
    pub phase: Phase,
    pub stage: Stage,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkipRecord {
    /// `requirement`, `plan`, `review`, `tests` or `staging`.
    pub gate: GateKind,
    pub by: String,
    pub reason: String,
    pub at: i64,
    /// The head SHA a review, tests or staging skip holds for (a push voids it).
    pub sha: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub by: String,
    pub reason: Option<String>,
    pub at: i64,
}

/// What the pipeline knows about one check run it created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRunRecord {
    pub id: u64,
    pub completed: bool,
}

/// Runs recorded before attempts were kept are their first attempt.
pub(super) fn first_attempt() -> u64 {
    1
}
