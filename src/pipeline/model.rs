//! The pipeline's state, the inputs that change it and the effects it asks for. All plain
//! data (serialisable, comparable), so the core can be tested exhaustively and the shell can
//! store a pipeline as one row.
//!
//! Must not: hold behaviour beyond small queries over the data (the rules are in `step`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::commands::CommandLine;

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
pub struct Task {
    pub text: String,
    pub done: bool,
    /// A sub-issue's number; `None` for a task-list line.
    pub issue: Option<u64>,
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
    pub environment: String,
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
    pub environment: String,
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
    pub environment: String,
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
    pub stage: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkipRecord {
    /// `requirement`, `plan`, `review`, `tests` or `staging`.
    pub gate: String,
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pipeline {
    pub id: i64,
    pub installation_id: u64,
    pub repo: String,
    pub default_branch: String,
    pub issue: u64,
    pub title: String,
    pub author: String,
    pub phase: Phase,
    pub paused: bool,
    pub missing_sections: Vec<String>,
    pub requirement: Option<Approval>,
    pub tasks: Vec<Task>,
    pub sub_issues: Vec<Task>,
    pub plan: Option<Approval>,
    pub branch: String,
    pub branch_state: BranchState,
    pub pr: Option<PullRequest>,
    /// Latest decisive review per reviewer on the linked PR.
    pub reviews: BTreeMap<String, ReviewRecord>,
    pub runs: Vec<TestRun>,
    #[serde(default)]
    pub deploys: Vec<Deploy>,
    #[serde(default)]
    pub health: Vec<HealthWatch>,
    /// The release approval that lets the PR merge and go to production.
    #[serde(default)]
    pub production: Option<Approval>,
    /// The PR head the production approval was given for: only that head is merged.
    #[serde(default)]
    pub production_sha: Option<String>,
    #[serde(default)]
    pub merge: Option<MergeRecord>,
    #[serde(default)]
    pub rollback: Option<RollbackRecord>,
    /// `/block` reasons: while there is one, the pipeline does not advance.
    #[serde(default)]
    pub blockers: Vec<Rejection>,
    #[serde(default)]
    pub priority: Option<super::commands::Priority>,
    /// Gates an admin let through with `/skip <gate> <reason>`.
    #[serde(default)]
    pub skips: Vec<SkipRecord>,
    /// Median latency of the healthy staging probes: what `max_latency_factor` multiplies.
    #[serde(default)]
    pub staging_baseline_ms: Option<u64>,
    /// Incident issues opened for this pipeline's rollbacks.
    #[serde(default)]
    pub incidents: Vec<u64>,
    /// When the current pause began.
    #[serde(default)]
    pub paused_at: Option<i64>,
    /// Paused time before the current pause (gate clocks do not count it).
    #[serde(default)]
    pub held_ms: i64,
    /// Paused time when the current phase began.
    #[serde(default)]
    pub phase_held_at_entry: i64,
    pub failure: Option<Failure>,
    pub rejection: Option<Rejection>,
    pub status_comment: Option<u64>,
    /// Check runs by head SHA.
    pub check_runs: BTreeMap<String, CheckRunRecord>,
    /// Phase changes, in order, with their times (milliseconds).
    pub timeline: Vec<(Phase, i64)>,
    /// One-shot inputs already applied (comments, reviews, effect results, timers).
    pub handled: BTreeSet<String>,
    /// Numbers the next effect and dispatch keys.
    pub seq: u64,
    /// PRs shipgate already said it will not dispatch for (forks).
    pub fork_warned: BTreeSet<u64>,
    /// Other PRs that name the issue but do not drive the pipeline, with why.
    #[serde(default)]
    pub passed_over: BTreeMap<u64, String>,
    /// Workflow runs that claimed to be this pipeline's but were not started by shipgate
    /// (each is reported once).
    #[serde(default)]
    pub foreign_runs: BTreeSet<u64>,
    /// The issue's `updated_at` (ms) when it was last applied: an older snapshot is stale.
    #[serde(default)]
    pub issue_updated_at: i64,
    /// The issue's labels in the newest snapshot applied.
    #[serde(default)]
    pub issue_labels: Vec<String>,
    /// Everyone seen pushing to the pipeline's branch (`push` webhooks), before or after a
    /// PR from it was linked.
    #[serde(default)]
    pub branch_pushers: BTreeSet<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Pipeline {
    /// `REQ-<issue>`, the name people see.
    pub fn name(&self) -> String {
        format!("REQ-{}", self.issue)
    }

    pub fn new(
        id: i64,
        installation_id: u64,
        repo: &str,
        default_branch: &str,
        issue: &IssueSnapshot,
        now: i64,
    ) -> Self {
        Pipeline {
            id,
            installation_id,
            repo: repo.to_owned(),
            default_branch: default_branch.to_owned(),
            issue: issue.number,
            title: issue.title.clone(),
            author: issue.author.clone(),
            phase: Phase::Intake,
            paused: false,
            missing_sections: vec![],
            requirement: None,
            tasks: vec![],
            sub_issues: vec![],
            plan: None,
            branch: super::linking::branch_name(issue.number, &issue.title),
            branch_state: BranchState::NotCreated,
            pr: None,
            reviews: BTreeMap::new(),
            runs: vec![],
            deploys: vec![],
            health: vec![],
            production: None,
            production_sha: None,
            merge: None,
            rollback: None,
            blockers: vec![],
            priority: None,
            skips: vec![],
            staging_baseline_ms: None,
            incidents: vec![],
            paused_at: None,
            held_ms: 0,
            phase_held_at_entry: 0,
            failure: None,
            rejection: None,
            status_comment: None,
            check_runs: BTreeMap::new(),
            timeline: vec![(Phase::Intake, now)],
            handled: BTreeSet::new(),
            seq: 0,
            fork_warned: BTreeSet::new(),
            passed_over: BTreeMap::new(),
            foreign_runs: BTreeSet::new(),
            issue_updated_at: issue.updated_at,
            issue_labels: issue.labels.clone(),
            branch_pushers: BTreeSet::new(),
            created_at: now,
            updated_at: now,
        }
    }

    /// The linked PR's head SHA, if a PR is linked and open.
    pub fn head_sha(&self) -> Option<&str> {
        self.pr
            .as_ref()
            .filter(|p| p.open)
            .map(|p| p.head_sha.as_str())
    }

    /// The deploy dispatched with this `pipeline` input.
    pub fn deploy_mut(&mut self, correlation: &str) -> Option<&mut Deploy> {
        self.deploys
            .iter_mut()
            .find(|d| d.correlation == correlation)
    }

    /// The latest deploy of an environment that was not superseded.
    pub fn current_deploy(&self, environment: &str) -> Option<&Deploy> {
        self.deploys
            .iter()
            .rev()
            .find(|d| d.environment == environment && d.state != DeployState::Superseded)
    }

    /// The test run dispatched with this `pipeline` input.
    /// The merge commit, once the PR is merged for production.
    pub fn merge_sha(&self) -> Option<&str> {
        self.merge.as_ref().and_then(|m| m.sha.as_deref())
    }

    /// The SHA whose `shipgate` check run follows the pipeline now: the merge commit once
    /// there is one (production), else the open PR's head.
    pub fn check_run_sha(&self) -> Option<&str> {
        self.merge_sha().or_else(|| self.head_sha())
    }

    /// The head SHA the gates judge: the open PR's, or the merged PR's.
    pub fn pr_head_sha(&self) -> Option<&str> {
        self.pr
            .as_ref()
            .filter(|p| p.open || p.merged)
            .map(|p| p.head_sha.as_str())
    }

    pub fn run_mut(&mut self, correlation: &str) -> Option<&mut TestRun> {
        self.runs.iter_mut().find(|r| r.correlation == correlation)
    }

    /// The current (not superseded) runs for a SHA.
    pub fn runs_for<'a>(&'a self, sha: &'a str) -> impl Iterator<Item = &'a TestRun> + 'a {
        self.runs
            .iter()
            .filter(move |r| r.sha == sha && r.state != RunState::Superseded)
    }
}

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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IssueAction {
    Opened,
    Edited,
    Labeled(String),
    Unlabeled(String),
    Reopened,
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

fn first_attempt() -> u64 {
    1
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
        environment: String,
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
        environment: String,
        sha: Option<String>,
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

/// Timers a pipeline sets; they come back as [`Input::Timer`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimerKind {
    /// A test run silent this long is polled.
    RunWatchdog { correlation: String },
    /// Time for the next health probe of an environment.
    /// A gate's clock ran out (escalate, reject, auto-approve).
    GateTimeout { gate: String, action: String },
    HealthTick {
        environment: String,
        /// The watch this tick belongs to (its start); a tick of an earlier watch of the
        /// same environment does nothing.
        #[serde(default)]
        since: i64,
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
    /// The repository's configuration changed on the default branch (pushed at `sha`).
    ConfigChanged {
        sha: String,
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
            other => other.one_shot_id().unwrap_or_default(),
        }
    }
}

/// What the pipeline asks the shell to do. `SetTimer`/`CancelTimer` go to the timer table;
/// the rest to the outbox, run in order per pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Create or edit the one status comment (rendered from the state when it runs).
    SyncStatusComment,
    /// Create or update the `shipgate` check run on a SHA.
    SyncCheckRun {
        sha: String,
    },
    SetPhaseLabel {
        add: String,
        remove: Vec<String>,
    },
    RemoveLabel {
        label: String,
    },
    React {
        comment_id: u64,
    },
    Reply {
        on: u64,
        body: String,
    },
    CreateBranch {
        branch: String,
        from: String,
    },
    FetchSubIssues,
    /// Look for an open PR that already links the issue.
    FindPullRequest,
    /// Create a GitHub Deployment of `sha` to `environment` (shipgate is the gate:
    /// no required contexts).
    CreateDeployment {
        environment: String,
        sha: String,
        correlation: String,
    },
    /// Dispatch `deploy.workflow` with inputs `environment`, `sha`, `pipeline`, `rollback`.
    DispatchDeploy {
        workflow: String,
        git_ref: String,
        environment: String,
        sha: String,
        correlation: String,
        /// Set for a rollback: inputs `rollback=true` and `reason`.
        #[serde(default)]
        rollback_reason: Option<String>,
    },
    /// Finds the last successful deployment of `environment` whose SHA is not `current_sha`
    /// (nor one of `bad_shas`), from GitHub's Deployments API.
    FindRollbackTarget {
        environment: String,
        current_sha: String,
        bad_shas: Vec<String>,
    },
    /// Answer a custom deployment protection rule: `approved` or `rejected`, with why.
    ReviewProtection {
        run_id: u64,
        environment: String,
        approved: bool,
        comment: String,
    },
    /// Find the issue carrying `marker` (label `shipgate:incident`), else open it.
    OpenIncident {
        marker: String,
        title: String,
        body: String,
        assignee: Option<String>,
    },
    /// Probe an environment's health URL once.
    Probe {
        environment: String,
        url: String,
    },
    /// Report a deploy's progress on its GitHub Deployment.
    DeploymentStatus {
        deployment_id: u64,
        state: String,
        log_url: Option<String>,
        environment_url: Option<String>,
        description: String,
    },
    Dispatch {
        workflow: String,
        git_ref: String,
        sha: String,
        correlation: String,
    },
    PollRun {
        run_id: u64,
        correlation: String,
    },
    /// Merges the PR at `sha` (refused by GitHub if the head moved) into `base` (refused by
    /// the executor if the PR's base is no longer `base`).
    Merge {
        number: u64,
        sha: String,
        #[serde(default)]
        base: String,
        title: String,
        message: String,
        method: String,
    },
    /// Closes the feature issue as completed.
    CloseIssue,
    /// A notification for the operator's webhook (sent from the repository-level lane, so it
    /// never holds up the pipeline).
    Notify {
        event: String,
        text: String,
    },
    /// Cancels a workflow run (`/stop`).
    CancelRun {
        run_id: u64,
    },
    /// An entry for the audit log (written with the state, not run against GitHub).
    Audit {
        actor: String,
        action: String,
        detail: String,
    },
    SetTimer {
        key: String,
        due_at: i64,
        kind: TimerKind,
    },
    CancelTimer {
        key: String,
    },
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::SyncStatusComment => "sync_status_comment",
            Action::SyncCheckRun { .. } => "sync_check_run",
            Action::SetPhaseLabel { .. } => "set_phase_label",
            Action::RemoveLabel { .. } => "remove_label",
            Action::React { .. } => "react",
            Action::Reply { .. } => "reply",
            Action::CreateBranch { .. } => "create_branch",
            Action::FetchSubIssues => "fetch_sub_issues",
            Action::FindPullRequest => "find_pull_request",
            Action::CreateDeployment { .. } => "create_deployment",
            Action::DispatchDeploy { .. } => "dispatch_deploy",
            Action::FindRollbackTarget { .. } => "find_rollback_target",
            Action::DeploymentStatus { .. } => "deployment_status",
            Action::Probe { .. } => "probe",
            Action::OpenIncident { .. } => "open_incident",
            Action::ReviewProtection { .. } => "review_protection",
            Action::Dispatch { .. } => "dispatch",
            Action::PollRun { .. } => "poll_run",
            Action::Merge { .. } => "merge",
            Action::CloseIssue => "close_issue",
            Action::CancelRun { .. } => "cancel_run",
            Action::Notify { .. } => "notify",
            Action::Audit { .. } => "audit",
            Action::SetTimer { .. } => "set_timer",
            Action::CancelTimer { .. } => "cancel_timer",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effect {
    /// Unique per pipeline: `p<id>.e<seq>`; the executor's idempotency key.
    pub key: String,
    /// The input that caused it ([`Input::cause`]).
    pub cause: String,
    pub action: Action,
}
