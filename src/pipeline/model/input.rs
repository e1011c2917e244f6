//! Everything that can happen to a pipeline, as the shell hands it to `step`: issue, comment,
//! PR, push, review, workflow-run, button and protection-rule events, timers, and the
//! results of effects.
//!
//! Must not: carry anything GitHub did not say (the shell fills `Actor::access` in).

use serde::{Deserialize, Serialize};

use super::action::{Action, TimerKind};
use super::evidence::Evidence;
use super::records::*;
use crate::pipeline::commands::CommandLine;
use crate::pipeline::linking::Task;

/// Who did something, with their access as the shell resolved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub login: String,
    pub access: Access,
    /// shipgate's own bot.
    pub is_self: bool,
    /// A bot or GitHub App (`type: Bot`, or a login ending in `[bot]`): never an approver.
    #[serde(default)]
    pub is_bot: bool,
    /// The `@org/team` entries of the configured approver lists this actor is a member of
    /// (resolved by the shell before the step).
    #[serde(default)]
    pub teams: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueSnapshot {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub author: String,
    pub labels: Vec<String>,
    /// GitHub's `updated_at`, ms (0 when unknown): an older snapshot never overwrites a
    /// newer one.
    #[serde(default)]
    pub updated_at: i64,
    /// The issue's GraphQL node id (`node_id`), when the payload carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IssueAction {
    Opened,
    Edited,
    Labeled(String),
    Unlabeled(String),
    Reopened,
    /// Closed by someone other than shipgate (for a sub-issue task: done by hand).
    Closed,
    /// Deleted, or transferred to another repository.
    Removed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PullAction {
    Opened,
    Reopened,
    Edited,
    Synchronize,
    ReadyForReview,
    ConvertedToDraft,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullSnapshot {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub author: String,
    pub head_sha: String,
    pub head_branch: String,
    #[serde(default)]
    pub base_branch: String,
    pub from_fork: bool,
    /// The author's access, as the shell resolved it.
    #[serde(default)]
    pub author_access: Access,
    pub draft: bool,
    pub open: bool,
    pub merged: bool,
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    pub url: String,
    /// Logins of the commits' authors and committers, from GitHub.
    #[serde(default)]
    pub contributors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReviewAction {
    Submitted,
    Dismissed,
}

/// A workflow run as GitHub reported it (webhook or poll).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    pub run_id: u64,
    pub status: String,
    pub conclusion: Option<String>,
    pub url: String,
    /// The run name, where workflows put the `pipeline` input.
    pub display_title: Option<String>,
    /// GitHub's `run_attempt`: a re-run keeps the run id and counts up.
    #[serde(default = "first_attempt")]
    pub attempt: u64,
    /// Who started the run and how: what adopts a run whose dispatch answer never came.
    #[serde(default)]
    pub origin: Option<Box<RunOrigin>>,
}

/// A workflow run's provenance as GitHub reports it, compared with what shipgate dispatched
/// before a run it has no id for is adopted (DESIGN.md §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunOrigin {
    /// The workflow file, `.github/workflows/tests.yml`.
    pub path: String,
    /// `workflow_dispatch` for a dispatch.
    pub event: String,
    /// Who started it (`triggering_actor` if it differs from `actor`).
    pub actor: String,
    /// Both its actor and triggering actor are shipgate's own bot.
    pub by_app: bool,
    pub head_branch: String,
    pub head_sha: String,
    /// ms.
    pub created_at: i64,
    /// The `pipeline` token whose per-dispatch nonce the run name carries (checked by the
    /// shell, which holds the key); `None` without a valid one.
    pub proven: Option<String>,
}

/// The claims of a GitHub Actions OIDC token that say which run is speaking
/// (docs.github.com: "About security hardening with OpenID Connect", the token's claims).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunClaims {
    /// `owner/name`.
    pub repository: String,
    pub run_id: u64,
    pub run_attempt: u64,
    /// The commit the run checked out.
    pub sha: String,
    /// `refs/heads/<branch>`.
    pub git_ref: String,
    /// `owner/name/.github/workflows/tests.yml@refs/heads/<branch>`.
    pub workflow_ref: String,
    /// `workflow_dispatch` for a run shipgate dispatched.
    pub event_name: String,
}

/// What an effect produced, fed back to the pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EffectResult {
    StatusComment {
        id: u64,
    },
    CheckRun {
        sha: String,
        id: u64,
        completed: bool,
    },
    Dispatched {
        correlation: String,
        run_id: u64,
        url: String,
    },
    Branch {
        existed: bool,
    },
    SubIssues {
        tasks: Vec<Task>,
    },
    /// The open PRs that link the issue, oldest first, found when development starts (they
    /// may have been opened before the pipeline existed).
    PullFound {
        pulls: Vec<PullSnapshot>,
    },
    DeploymentCreated {
        correlation: String,
        deployment_id: u64,
    },
    Probed {
        environment: Environment,
        ok: bool,
        status: Option<u16>,
        latency_ms: u64,
        error: Option<String>,
        /// The URL is not allowed (SSRF rules).
        refused: Option<String>,
    },
    RunPolled {
        correlation: String,
        report: RunReport,
    },
    /// The last good deployment of an environment before the current one, if any.
    RollbackTarget {
        environment: Environment,
        sha: Option<String>,
    },
    /// GitHub would not open shipgate's own PR (`Validation Failed: No commits between …`).
    PullNotOpened {
        reason: String,
    },
    /// The PR is merged (by this effect, or found already merged when it ran again).
    Merged {
        sha: String,
    },
    /// The merge was not made: the PR's base is no longer the branch production runs.
    NotMerged {
        number: u64,
        base: String,
    },
    /// The incident issue exists (found by its marker, or created).
    IncidentOpened {
        number: u64,
    },
}

/// Everything that can happen to a pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input {
    Issue {
        /// The webhook delivery (a redelivery keeps it).
        delivery: String,
        action: IssueAction,
        issue: IssueSnapshot,
        actor: Actor,
    },
    Comment {
        id: u64,
        /// The issue or PR number the comment is on.
        on: u64,
        commands: Vec<CommandLine>,
        actor: Actor,
    },
    PullRequest {
        delivery: String,
        action: PullAction,
        pr: PullSnapshot,
        actor: Actor,
    },
    Review {
        id: u64,
        action: ReviewAction,
        state: ReviewState,
        commit_sha: String,
        pr: u64,
        reviewer: Actor,
        /// GitHub's `submitted_at`, ms (0 when unknown).
        #[serde(default)]
        submitted_at: i64,
    },
    WorkflowRun(RunReport),
    /// A button on the `shipgate` check run was pressed (`check_run.requested_action`).
    Button {
        delivery: String,
        identifier: String,
        /// The commit of the check run whose button was pressed.
        #[serde(default)]
        sha: String,
        /// Where an answer goes: the PR (or the issue when there is none).
        on: u64,
        actor: Actor,
    },
    /// A workflow run waits on a custom deployment protection rule shipgate answers.
    ProtectionRule {
        delivery: String,
        run_id: u64,
        environment: String,
        /// The commit being deployed (the deployment's SHA).
        sha: String,
        /// The run as GitHub has it, read when its id is not known to the pipeline yet (the
        /// rule can ask before the dispatch's answer lands): adopted only if it matches.
        #[serde(default)]
        run: Option<RunReport>,
    },
    Timer {
        key: String,
        kind: TimerKind,
    },
    EffectDone {
        key: String,
        result: EffectResult,
    },
    /// Someone pushed to the pipeline's branch.
    Push {
        delivery: String,
        branch: String,
        pusher: Actor,
    },
    /// A sub-issue of the feature issue was added or removed (`sub_issues`), or a "blocked
    /// by" dependency of `sub_issue` changed (`issue_dependencies`). The event only says
    /// that: the sub-issues are read again, GitHub's newest state wins.
    TasksChanged {
        delivery: String,
        sub_issue: u64,
    },
    /// The repository's configuration changed on the default branch (pushed at `sha`).
    ConfigChanged {
        sha: String,
    },
    /// A workflow run reported evidence (`POST /api/v1/evidence`); the shell verified the
    /// OIDC token that carries `claims` (signature, issuer, audience, times, repository id).
    Evidence {
        claims: RunClaims,
        /// The `pipeline` input the report names, if it names one.
        correlation: Option<String>,
        report: Evidence,
    },
    /// An effect failed for good (a permanent 4xx, or retries exhausted).
    EffectFailed {
        key: String,
        action: Action,
        reason: String,
    },
}

impl Input {
    /// A stable identity for one-shot inputs; applying one twice changes nothing.
    pub fn one_shot_id(&self) -> Option<String> {
        match self {
            Input::Issue { delivery, .. }
            | Input::PullRequest { delivery, .. }
            | Input::Push { delivery, .. }
            | Input::TasksChanged { delivery, .. }
            | Input::Button { delivery, .. }
            | Input::ProtectionRule { delivery, .. } => Some(format!("delivery:{delivery}")),
            Input::Comment { id, .. } => Some(format!("comment:{id}")),
            Input::ConfigChanged { sha } => Some(format!("config:{sha}")),
            Input::Review { id, action, .. } => Some(format!("review:{id}:{action:?}")),
            Input::Timer { key, .. } => Some(format!("timer:{key}")),
            Input::EffectDone { key, .. } | Input::EffectFailed { key, .. } => {
                Some(format!("effect:{key}"))
            }
            _ => None,
        }
    }

    /// What to name as the cause of the effects this input produces.
    pub fn cause(&self) -> String {
        match self {
            Input::Issue { action, issue, .. } => format!("issue:{}:{action:?}", issue.number),
            Input::PullRequest { action, pr, .. } => {
                format!("pull:{}:{action:?}:{}", pr.number, pr.head_sha)
            }
            Input::WorkflowRun(r) => format!("run:{}:{}", r.run_id, r.status),
            Input::Evidence { claims, .. } => {
                format!("evidence:run:{}:{}", claims.run_id, claims.run_attempt)
            }
            other => other.one_shot_id().unwrap_or_default(),
        }
    }
}
