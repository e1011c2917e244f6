//! Which workflow runs count (DESIGN.md §7): a run is evidence, a deploy or a candidate for
//! the protection rule only if shipgate started it — its id came back from the dispatch —
//! or, when that answer was lost, it matches everything the dispatch sent: the workflow
//! file, `event: workflow_dispatch`, shipgate's bot as actor and triggering actor, the ref
//! and its head SHA, created after the dispatch, and the dispatch's nonce in its name. Any
//! other run that names one of the pipeline's dispatches is reported once, audited and
//! ignored.
//!
//! This module is the rule (what a dispatch sent, and how a run's origin must match it);
//! `step/runs.rs` applies it to the pipeline's runs and deploys.
//!
//! Must not: trust a run's name alone — anyone with write access can choose it, and the
//! `pipeline` token is public in the Deployment's payload.

use super::config::Config;
use super::model::*;
use super::text::short;

/// Runs not shipgate's that a pipeline reports (once each) before it stops saying so: anyone
/// can name a run after a pipeline, and each must not cost a comment forever.
pub const MAX_FOREIGN_RUNS: usize = 50;

/// Clock skew allowed between shipgate and GitHub when a run's creation time is compared
/// with the dispatch's, in ms.
pub const CLOCK_SKEW_MS: i64 = 60_000;

/// What shipgate sent in one dispatch.
#[derive(Debug, Clone, Copy)]
pub struct Sent<'a> {
    /// The workflow file name, `tests.yml`.
    pub workflow: &'a str,
    /// The branch it was dispatched on.
    pub git_ref: &'a str,
    /// The SHA that branch was at (a rollback runs the default branch's head, whatever it
    /// is, and deploys its `sha` input: `None`).
    pub sha: Option<&'a str>,
    /// The `pipeline` token, `REQ-<n>-t<k>`.
    pub correlation: &'a str,
    /// When shipgate asked for it, ms.
    pub at: i64,
}

/// Why the run `origin` describes is not the one shipgate dispatched as `sent`; `None` when
/// it matches in every respect.
pub fn mismatch(origin: &RunOrigin, sent: &Sent<'_>) -> Option<String> {
    // GitHub may add `@<ref>` to the path of a run.
    let file = origin.path.split('@').next().unwrap_or_default();
    if file != sent.workflow && !file.ends_with(&format!("/{}", sent.workflow)) {
        return Some(format!("it runs `{file}`, not `{}`", sent.workflow));
    }
    if origin.event != "workflow_dispatch" {
        return Some(format!(
            "a `{}` event started it, not a dispatch",
            origin.event
        ));
    }
    if !origin.by_app {
        return Some(format!("@{} started it, not shipgate", origin.actor));
    }
    if origin.head_branch != sent.git_ref {
        return Some(format!(
            "it runs on `{}`, not `{}`",
            origin.head_branch, sent.git_ref
        ));
    }
    if let Some(sha) = sent.sha
        && origin.head_sha != sha
    {
        return Some(format!(
            "it runs `{}`, not `{}`",
            short(&origin.head_sha),
            short(sha)
        ));
    }
    if origin.created_at + CLOCK_SKEW_MS < sent.at {
        return Some("it was created before shipgate dispatched it".into());
    }
    if origin.proven.as_deref() != Some(sent.correlation) {
        return Some("its name lacks the dispatch's nonce".into());
    }
    None
}

/// What shipgate sent for a deploy, dispatched as `workflow`. A deploy on the default branch
/// (production, rollbacks) runs whatever its head is and deploys its `sha` input, which is
/// on that branch; a staging deploy runs the PR's head, which is what it deploys.
pub fn deploy_sent<'a>(p: &Pipeline, d: &'a Deploy, workflow: &'a str) -> Sent<'a> {
    Sent {
        workflow,
        git_ref: &d.git_ref,
        sha: (d.git_ref != p.default_branch).then_some(d.sha.as_str()),
        correlation: &d.correlation,
        at: d.started_at,
    }
}

/// What shipgate sent for a development task's latest dispatch; a task runs its branch's
/// head, whatever it is. `None` before the task was dispatched.
pub fn task_sent<'a>(p: &'a Pipeline, t: &'a DevTask) -> Option<Sent<'a>> {
    Some(Sent {
        workflow: t.sent_workflow.as_deref()?,
        git_ref: &p.branch,
        sha: None,
        correlation: t.correlation.as_deref()?,
        at: t.dispatched_at?,
    })
}

/// What shipgate sent for a test run.
pub fn test_sent(r: &TestRun) -> Sent<'_> {
    Sent {
        workflow: &r.workflow,
        git_ref: &r.git_ref,
        sha: Some(&r.sha),
        correlation: &r.correlation,
        at: r.dispatched_at,
    }
}

/// What the pipeline's dispatch `correlation` sent under `config`, for checking a run found
/// after its answer was lost.
pub fn dispatch_sent<'a>(
    p: &'a Pipeline,
    config: &'a Config,
    correlation: &str,
) -> Option<Sent<'a>> {
    p.deploys
        .iter()
        .find(|d| d.correlation == correlation)
        .map(|d| deploy_sent(p, d, &config.deploy.workflow))
        .or_else(|| {
            p.runs
                .iter()
                .find(|r| r.correlation == correlation)
                .map(test_sent)
        })
        .or_else(|| {
            p.dev_tasks
                .iter()
                .find(|t| t.correlation.as_deref() == Some(correlation))
                .and_then(|t| task_sent(p, t))
        })
}

/// `run 123 of tests.yml was not started by shipgate; ignored (@mallory started it, not
/// shipgate)`.
pub fn foreign_run_text(report: &RunReport, why: &str) -> String {
    let workflow = report
        .origin
        .as_ref()
        .map(|o| {
            let file = o.path.split('@').next().unwrap_or_default();
            file.rsplit('/').next().unwrap_or(file).to_owned()
        })
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| "a workflow".into());
    format!(
        "run {} of {workflow} was not started by shipgate; ignored ({why})",
        report.run_id
    )
}
