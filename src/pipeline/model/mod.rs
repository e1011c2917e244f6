//! The pipeline's state, the inputs that change it and the effects it asks for. All plain
//! data (serialisable, comparable), so the core can be tested exhaustively and the shell can
//! store a pipeline as one row.
//!
//! Files: `records.rs` the values a pipeline holds (phases, approvals, reviews, runs,
//! deploys, health watches, skips), `develop.rs` the development stage's tasks,
//! `evidence.rs` what runs reported through the action,
//! `input.rs` everything that can happen to a pipeline,
//! `action.rs` what it asks the shell to do; this file the [`Pipeline`] itself.
//!
//! Must not: hold behaviour beyond small queries over the data (the rules are in `step`).

mod action;
mod develop;
mod evidence;
mod input;
mod records;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use super::linking::Task;
use super::linking::branch_name;
pub use action::*;
pub use develop::*;
pub use evidence::*;
pub use input::*;
pub use records::*;

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
    /// The development stage's tasks, once it started (`develop.workflows` set).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dev_tasks: Vec<DevTask>,
    /// The PR shipgate opens itself (`develop.open_pr`), once asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_pr: Option<OwnPull>,
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
    /// The issue's GraphQL node id (`node_id` in its webhook payloads), by which its phase
    /// label is changed in one request; `None` in pipelines older than it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_node_id: Option<String>,
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
            branch: branch_name(issue.number, &issue.title),
            branch_state: BranchState::NotCreated,
            pr: None,
            reviews: BTreeMap::new(),
            runs: vec![],
            dev_tasks: vec![],
            own_pr: None,
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
            issue_node_id: issue.node_id.clone(),
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
    pub fn current_deploy(&self, environment: Environment) -> Option<&Deploy> {
        self.deploys
            .iter()
            .rev()
            .find(|d| d.environment == environment && d.state != DeployState::Superseded)
    }

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

    /// The test run dispatched with this `pipeline` input.
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
