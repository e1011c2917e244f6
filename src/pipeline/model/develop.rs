//! The development stage's tasks as the pipeline keeps them: each task of the approved plan
//! with its dependencies, the workflow and attempt it is on, the run in flight and how it
//! ended. Plain data; the scheduling rules are `step/develop.rs`'s.
//!
//! Must not: hold rules.

use serde::{Deserialize, Serialize};

/// The inputs a task's workflow is dispatched with, in order (`pipeline`, last, is added by
/// the shell with the dispatch's nonce). A develop workflow must declare exactly these:
/// GitHub refuses a dispatch with inputs the file does not declare.
pub const TASK_INPUTS: [&str; 7] = [
    "task",
    "task_id",
    "task_issue",
    "issue",
    "branch",
    "attempt",
    "pipeline",
];

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One task of the plan, as the development stage runs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevTask {
    /// The plan's number for it (1-based), the `task_id` input.
    pub id: u64,
    pub title: String,
    /// For a task-list item, how many items before it have the same title (0 for most).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub nth: usize,
    /// Its sub-issue, if it is one.
    pub issue: Option<u64>,
    /// The tasks it waits for.
    pub after: Vec<u64>,
    pub state: TaskState,
    /// Which of `develop.workflows` it is on.
    pub workflow: usize,
    /// Attempts on that workflow so far (the `attempt` input of the latest is this).
    pub attempt: u32,
    /// Not dispatched again before this time (ms): the backoff after a failed attempt.
    pub not_before: Option<i64>,
    /// The latest dispatch's `pipeline` input, `REQ-<n>-k<k>`.
    pub correlation: Option<String>,
    /// The workflow file the latest dispatch went to (the list may change meanwhile).
    #[serde(default)]
    pub sent_workflow: Option<String>,
    pub run_id: Option<u64>,
    pub url: Option<String>,
    pub dispatched_at: Option<i64>,
    /// Each attempt that failed, as `develop.yml attempt 1: failure`.
    #[serde(default)]
    pub failures: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskState {
    /// Waits for its dependencies, a free slot or its backoff.
    Waiting,
    /// The dispatch effect has not answered yet.
    Dispatching,
    Running,
    /// Its run succeeded, or a person ticked it or closed its sub-issue: who or what.
    Done(String),
    /// Every workflow failed it `attempts` times: the last reason.
    Failed(String),
    /// An admin's `/skip task <n> <reason>`.
    Skipped {
        by: String,
        reason: String,
    },
}

impl TaskState {
    pub fn in_flight(&self) -> bool {
        matches!(self, TaskState::Dispatching | TaskState::Running)
    }
    /// Done or skipped: its dependents may start.
    pub fn settled(&self) -> bool {
        matches!(self, TaskState::Done(_) | TaskState::Skipped { .. })
    }
}

/// The pull request shipgate opens itself (`develop.open_pr`): a draft once a task is done,
/// ready for review once every task is. Its number is the linked PR's: the open PR from the
/// feature branch, whoever opened it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnPull {
    /// How many tasks were done or skipped when it was last asked for: GitHub refuses a PR
    /// with no commits, so a refused one is asked for again when another task is done.
    pub asked_at: usize,
    /// Why GitHub would not open it, the last time it was asked.
    pub refused: Option<String>,
    /// Asked to be taken out of draft.
    pub ready_asked: bool,
    /// Why GitHub would not take it out of draft.
    #[serde(default)]
    pub not_ready: Option<String>,
}

/// The rest of the repository's development load, when `develop.max_parallel` is shared
/// (`max_parallel_scope: repository`): read by the shell inside the step's transaction, from
/// what each other pipeline's last step left ([`TaskLoad`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepoLoad {
    /// Task runs of the other pipelines in flight.
    pub in_flight: u32,
    /// Ready tasks of the pipelines ahead of this one in line (higher `/priority`, or as
    /// high and older): they take free slots first.
    pub ahead: u32,
    /// Another step holds the repository's slots right now: dispatch nothing (the shell
    /// looks again shortly).
    pub busy: bool,
}

/// One pipeline's share of the repository's development load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskLoad {
    /// Its task runs in flight (dispatching or running).
    pub in_flight: u32,
    /// Its tasks that would be dispatched now if a slot were free.
    pub ready: u32,
    /// Its place in line: 0 for `/priority critical`, 1 high, 2 medium (the default), 3 low.
    pub rank: u8,
}
