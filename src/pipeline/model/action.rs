//! What a pipeline asks the shell to do, typed by where it goes ([`Outputs`]): effects on
//! GitHub (comments, labels, check runs, dispatches, deployments, merges, issues) for the
//! pipeline's outbox, timer changes for the timer table, audit entries, and notifications
//! for the repository's lane.
//!
//! Must not: describe how to do it (the executor knows GitHub; an action says what).

use serde::{Deserialize, Serialize};

use super::records::{Environment, GateKind};

/// Timers a pipeline sets; they come back as [`Input::Timer`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimerKind {
    /// A test run silent this long is polled.
    RunWatchdog { correlation: String },
    /// A task's backoff after a failed attempt is over: it may be dispatched again.
    TaskRetry { task: u64 },
    /// Another pipeline of the repository freed a slot of a shared `develop.max_parallel`
    /// (or changed its place in line): look at the ready tasks again.
    TaskSlot,
    /// A gate's clock ran out (escalate, reject, auto-approve).
    GateTimeout {
        gate: GateKind,
        action: TimeoutAction,
    },
    /// Time for the next health probe of an environment.
    HealthTick {
        environment: Environment,
        /// The watch this tick belongs to (its start); a tick of an earlier watch of the
        /// same environment does nothing.
        #[serde(default)]
        since: i64,
    },
}

/// What a gate's clock does when it runs out (`requirement.escalate_after`, `reject_after`,
/// `plan.auto_approve_after`, `approval_timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeoutAction {
    /// Mention `requirement.escalate_to`.
    Escalate,
    Reject,
    /// The plan is approved by shipgate, with a warning.
    AutoApprove,
}

impl TimeoutAction {
    /// `escalate`, `reject`, `auto_approve`: the stored name, also in timer keys.
    pub fn name(self) -> &'static str {
        match self {
            TimeoutAction::Escalate => "escalate",
            TimeoutAction::Reject => "reject",
            TimeoutAction::AutoApprove => "auto_approve",
        }
    }
}

/// An effect on GitHub (or a health probe) the executor carries out, in order per pipeline,
/// after the step commits.
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
    /// The closing summary: a reply to which the executor adds the audit log's head as it is
    /// when posted (`views::summary::audit_head_note`), so the head lives outside the
    /// database.
    ClosingSummary {
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
        environment: Environment,
        sha: String,
        correlation: String,
    },
    /// Dispatch `deploy.workflow` with inputs `environment`, `sha`, `pipeline`, `rollback`.
    DispatchDeploy {
        workflow: String,
        git_ref: String,
        environment: Environment,
        sha: String,
        correlation: String,
        /// Set for a rollback: inputs `rollback=true` and `reason`.
        #[serde(default)]
        rollback_reason: Option<String>,
    },
    /// Finds the last successful deployment of `environment` whose SHA is not `current_sha`
    /// (nor one of `bad_shas`), from GitHub's Deployments API.
    FindRollbackTarget {
        environment: Environment,
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
        environment: Environment,
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
    /// Dispatches a development task's workflow on the feature branch with `inputs` (and
    /// `pipeline`, which the executor adds with the dispatch's nonce).
    DispatchTask {
        workflow: String,
        git_ref: String,
        correlation: String,
        inputs: Vec<(String, String)>,
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
    /// Closes a development task's sub-issue as completed (its run succeeded).
    CloseSubIssue {
        number: u64,
    },
    /// Ticks the feature issue's task-list item `title` (its run succeeded), the `nth` of
    /// those with that text, in the body as GitHub has it then.
    TickTask {
        title: String,
        /// Which of the items with that title (0-based).
        #[serde(default)]
        nth: usize,
    },
    /// Cancels a workflow run (`/stop`).
    CancelRun {
        run_id: u64,
    },
    /// Opens the pipeline's PR from its branch into the default branch (`develop.open_pr`),
    /// as a draft while tasks remain; one already open from the branch is taken instead.
    OpenPullRequest {
        title: String,
        body: String,
        draft: bool,
    },
    /// Takes shipgate's own draft PR `number` out of draft: every task is done.
    MarkReadyForReview {
        number: u64,
    },
}

impl Action {
    /// Effects that show people the pipeline's state, each drawn from the state as it is
    /// when it runs (the status comment, the check run, the phase label), by
    /// [`Action::name`]. They wait while another effect of their pipeline is due, but not
    /// for those that wait for a retry or a reset, nor for redraws of other kinds (being
    /// drawn from the state, kinds may run in any order; one kind runs in order, so that a
    /// retry finds what its first attempt made), and the others pass them: the result of the
    /// work usually changes what they would draw, so one burst of work is drawn once (queued
    /// edits of a surface are coalesced by the executor), and a redraw that waits never
    /// holds gating work.
    pub const REDRAWS: [&'static str; 3] =
        ["sync_status_comment", "sync_check_run", "set_phase_label"];
    /// Effects that wait for every [`Action::AWAITED`] queued before them: a merge may need
    /// the `shipgate` check run's conclusion on the head first (branch protection's required
    /// checks) ...
    pub const WAITING: [&'static str; 1] = ["merge"];
    /// ... the check run.
    pub const AWAITED: [&'static str; 1] = ["sync_check_run"];
    /// Effects that wait, unsent, while their installation has little left of the hourly
    /// budget they spend, so that gating effects (dispatches, deployments, merges,
    /// protection answers, check runs) have it: the status comment and the phase label.
    pub const COSMETIC: [&'static str; 2] = ["sync_status_comment", "set_phase_label"];

    pub fn name(&self) -> &'static str {
        match self {
            Action::SyncStatusComment => "sync_status_comment",
            Action::SyncCheckRun { .. } => "sync_check_run",
            Action::SetPhaseLabel { .. } => "set_phase_label",
            Action::RemoveLabel { .. } => "remove_label",
            Action::React { .. } => "react",
            Action::Reply { .. } => "reply",
            Action::ClosingSummary { .. } => "closing_summary",
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
            Action::CloseSubIssue { .. } => "close_sub_issue",
            Action::TickTask { .. } => "tick_task",
            Action::CancelRun { .. } => "cancel_run",
            Action::DispatchTask { .. } => "dispatch_task",
            Action::OpenPullRequest { .. } => "open_pull_request",
            Action::MarkReadyForReview { .. } => "mark_ready_for_review",
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

/// A durable timer set or cancelled; a set timer comes back as [`Input::Timer`] when due.
///
/// [`Input::Timer`]: super::Input::Timer
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimerChange {
    Set {
        /// Unique per pipeline; setting a key again moves the timer.
        key: String,
        /// ms since the Unix epoch.
        due_at: i64,
        kind: TimerKind,
    },
    Cancel {
        key: String,
    },
}

/// A decision for the audit log: who, what, and the detail (a refusal's reason, a skip's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub actor: String,
    pub action: String,
    pub detail: String,
}

/// A notification for the operator's receiver (`SHIPGATE_NOTIFY_URL`): phase changes,
/// approvals asked for, deploy outcomes, rollbacks, incidents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// `p<id>.e<seq>`, like an effect's: the receiver's idempotency key.
    pub key: String,
    /// The input that caused it.
    pub cause: String,
    /// `phase`, `approval`, `deploy`, `rollback`, `incident`.
    pub event: String,
    pub text: String,
}

/// What one step asks for, by where it goes. Each list keeps the order it was asked in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outputs {
    /// Effects on GitHub: the pipeline's outbox.
    pub effects: Vec<Effect>,
    /// Timers set or cancelled.
    pub timers: Vec<TimerChange>,
    pub audit: Vec<AuditEntry>,
    pub notifications: Vec<Notice>,
}

impl Outputs {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.effects.is_empty()
            && self.timers.is_empty()
            && self.audit.is_empty()
            && self.notifications.is_empty()
    }
}
