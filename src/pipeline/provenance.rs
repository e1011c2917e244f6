//! Which workflow runs count (DESIGN.md §7): a run is evidence, a deploy or a candidate for
//! the protection rule only if shipgate started it — its id came back from the dispatch —
//! or, when that answer was lost, it matches everything the dispatch sent: the workflow
//! file, `event: workflow_dispatch`, shipgate's bot as actor and triggering actor, the ref
//! and its head SHA, created after the dispatch, and the dispatch's nonce in its name. Any
//! other run that names one of the pipeline's dispatches is reported once, audited and
//! ignored.
//!
//! Must not: trust a run's name alone — anyone with write access can choose it, and the
//! `pipeline` token is public in the Deployment's payload.

use super::linking::contains_token;
use super::model::*;
use super::step::{Step, short};

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
fn deploy_sent<'a>(p: &Pipeline, d: &'a Deploy, workflow: &'a str) -> Sent<'a> {
    Sent {
        workflow,
        git_ref: &d.git_ref,
        sha: (d.git_ref != p.default_branch).then_some(d.sha.as_str()),
        correlation: &d.correlation,
        at: d.started_at,
    }
}

/// What shipgate sent for a test run.
fn test_sent(r: &TestRun) -> Sent<'_> {
    Sent {
        workflow: &r.workflow,
        git_ref: &r.git_ref,
        sha: Some(&r.sha),
        correlation: &r.correlation,
        at: r.dispatched_at,
    }
}

/// What the pipeline's dispatch `correlation` sent (deploys dispatch `deploy_workflow`), for
/// checking a run found after its answer was lost.
pub fn dispatch_sent<'a>(
    p: &'a Pipeline,
    deploy_workflow: &'a str,
    correlation: &str,
) -> Option<Sent<'a>> {
    p.deploys
        .iter()
        .find(|d| d.correlation == correlation)
        .map(|d| deploy_sent(p, d, deploy_workflow))
        .or_else(|| {
            p.runs
                .iter()
                .find(|r| r.correlation == correlation)
                .map(test_sent)
        })
}

/// Which of the pipeline's dispatches a run report belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Claim {
    /// Deploy `i`.
    Deploy(usize),
    /// Test run `i`.
    Test(usize),
    /// Names one of this pipeline's dispatches but is not the run shipgate started: why.
    Foreign(String),
    /// Nothing of this pipeline's.
    Unrelated,
}

impl Step<'_> {
    /// A workflow run reported (by webhook, or a poll of `by_correlation`'s known run): it
    /// goes to the deploy or test run shipgate started it as, or is reported as not
    /// shipgate's.
    pub(super) fn on_run_report(&mut self, report: &RunReport, by_correlation: Option<&str>) {
        let claim = self.claim(report, by_correlation);
        // shipgate's run, but its branch had moved before GitHub started it: it ran another
        // commit's workflow, which proves nothing about the SHA it was sent for. A deploy of
        // it fails its stage, without a rollback (what it deployed was no decision of
        // shipgate's); a tests run fails.
        if let Some(ran) = self.ran_elsewhere(&claim, report) {
            match claim {
                Claim::Deploy(i) if !self.p.deploys[i].state.is_finished() => {
                    let d = &self.p.deploys[i];
                    let why = format!(
                        "the {} deploy run {} {ran}: its branch moved before GitHub started it; `/retry` deploys again",
                        d.environment, report.run_id
                    );
                    self.deploy_void(i, "ran another commit", why);
                }
                Claim::Test(i) => {
                    let failed = RunReport {
                        status: "completed".into(),
                        conclusion: Some(ran),
                        ..report.clone()
                    };
                    self.on_test_report(i, &failed);
                }
                _ => {}
            }
            return;
        }
        match claim {
            Claim::Deploy(i) => self.on_deploy_report(i, report),
            Claim::Test(i) => self.on_test_report(i, report),
            Claim::Foreign(why) => self.foreign_run(report, &why),
            Claim::Unrelated => {}
        }
    }

    /// `ran <sha>, not <sha>` when a claimed run's head is not the commit it was sent for.
    pub(super) fn ran_elsewhere(&self, claim: &Claim, report: &RunReport) -> Option<String> {
        let origin = report.origin.as_ref()?;
        let sent = match claim {
            Claim::Deploy(i) => deploy_sent(
                &self.p,
                &self.p.deploys[*i],
                &self.cfg.config.deploy.workflow,
            ),
            Claim::Test(i) => test_sent(&self.p.runs[*i]),
            _ => return None,
        };
        let sha = sent.sha?;
        (!origin.head_sha.is_empty() && origin.head_sha != sha)
            .then(|| format!("ran {}, not {}", short(&origin.head_sha), short(sha)))
    }

    /// The dispatch `report` is the run of: by run id (or the correlation of a poll of a
    /// known run), else adopted by its origin when the dispatch's answer never came.
    pub(super) fn claim(&self, report: &RunReport, by_correlation: Option<&str>) -> Claim {
        let p = &self.p;
        let known = |run_id: Option<u64>, correlation: &str| {
            run_id == Some(report.run_id) || by_correlation == Some(correlation)
        };
        if let Some(i) = p
            .deploys
            .iter()
            .position(|d| known(d.run_id, &d.correlation))
        {
            return Claim::Deploy(i);
        }
        if let Some(i) = p.runs.iter().position(|r| known(r.run_id, &r.correlation)) {
            return Claim::Test(i);
        }
        let title = report.display_title.as_deref().unwrap_or_default();
        let deploy = p
            .deploys
            .iter()
            .rposition(|d| contains_token(title, &d.correlation));
        let test = p
            .runs
            .iter()
            .rposition(|r| contains_token(title, &r.correlation));
        let workflow = &self.cfg.config.deploy.workflow;
        if report
            .origin
            .as_ref()
            .is_some_and(|o| o.event != "workflow_dispatch")
        {
            // A push or pull-request run that borrowed the name: plainly no dispatch of
            // shipgate's, and not worth a word.
            return Claim::Unrelated;
        }
        let (claim, run_id, sent) = match (deploy, test) {
            (Some(i), _) => (
                Claim::Deploy(i),
                p.deploys[i].run_id,
                deploy_sent(p, &p.deploys[i], workflow),
            ),
            (None, Some(i)) => (Claim::Test(i), p.runs[i].run_id, test_sent(&p.runs[i])),
            (None, None) => return Claim::Unrelated,
        };
        if let Some(ours) = run_id {
            return Claim::Foreign(format!(
                "shipgate's run for `{}` is {ours}",
                sent.correlation
            ));
        }
        match report.origin.as_ref().map(|o| mismatch(o, &sent)) {
            Some(None) => claim,
            Some(Some(why)) => Claim::Foreign(why),
            None => Claim::Foreign("GitHub did not say who started it".into()),
        }
    }

    /// A run that names this pipeline but that shipgate did not start: said once on the
    /// issue, audited, and otherwise ignored.
    pub(super) fn foreign_run(&mut self, report: &RunReport, why: &str) {
        if self.p.foreign_runs.len() >= MAX_FOREIGN_RUNS
            || !self.p.foreign_runs.insert(report.run_id)
        {
            return; // said once; and past the limit, nothing more is said or kept
        }
        let what = foreign_run_text(report, why);
        self.audit("shipgate", "run ignored", what.clone());
        let issue = self.p.issue;
        self.reply(issue, format!("⚠️ {what}"));
    }
}

/// `run 123 of tests.yml was not started by shipgate; ignored (@mallory started it, not
/// shipgate)`.
pub(super) fn foreign_run_text(report: &RunReport, why: &str) -> String {
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
