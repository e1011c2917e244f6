//! A `.github/shipgate.yml` that the schema accepts, read with serde and laid over the
//! configuration so far (the defaults, then the organisation's file): every key it sets
//! replaces that value; `key: null` on a value that may be empty empties it; a mapping left
//! empty keeps what was there. Also the rules the schema cannot say: a duration is over zero
//! and fits, a health URL parses.
//!
//! Must not: read anything the schema refused (the loader drops it first) or set a value a
//! rule here refuses.

use serde::{Deserialize, Deserializer};

use super::schema::{Located, Problem, dotted};
use super::*;
use crate::pipeline::text::parse_duration;

/// Present and `null` (`Some(None)`) apart from absent (`None`).
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, Default)]
struct FileConfig {
    trigger_label: Option<String>,
    requirement: Option<RequirementFile>,
    plan: Option<PlanFile>,
    review: Option<ReviewFile>,
    approvers: Option<ApproversFile>,
    tests: Option<TestsFile>,
    deploy: Option<DeployFile>,
    develop: Option<DevelopFile>,
    merge: Option<MergeFile>,
    rollback: Option<RollbackFile>,
}

#[derive(Deserialize)]
struct RequirementFile {
    required_sections: Option<Vec<String>>,
    approval_label: Option<String>,
    escalate_after: Option<String>,
    reject_after: Option<String>,
    escalate_to: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct PlanFile {
    approval: Option<PlanApproval>,
    auto_approve_after: Option<String>,
}

#[derive(Deserialize)]
struct ReviewFile {
    required_approvals: Option<u32>,
    dismiss_stale: Option<bool>,
}

#[derive(Deserialize)]
struct ApproversFile {
    requirement: Option<Vec<String>>,
    plan: Option<Vec<String>>,
    review: Option<Vec<String>>,
    production: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct TestsFile {
    workflows: Option<Vec<String>>,
    timeout: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    min_coverage: Option<Option<f64>>,
    max_findings: Option<FindingsFile>,
}

#[derive(Deserialize)]
struct FindingsFile {
    critical: Option<u32>,
    high: Option<u32>,
}

#[derive(Deserialize)]
struct DeployFile {
    workflow: Option<String>,
    timeout: Option<String>,
    environments: Option<EnvironmentsFile>,
}

#[derive(Deserialize)]
struct EnvironmentsFile {
    staging: Option<EnvironmentFile>,
    production: Option<EnvironmentFile>,
}

#[derive(Deserialize)]
struct EnvironmentFile {
    #[serde(default, deserialize_with = "nullable")]
    approval_timeout: Option<Option<String>>,
    auto_rollback: Option<bool>,
    health: Option<HealthFile>,
}

#[derive(Deserialize)]
struct HealthFile {
    #[serde(default, deserialize_with = "nullable")]
    url: Option<Option<String>>,
    interval: Option<String>,
    window: Option<String>,
    failures: Option<u32>,
    #[serde(default, deserialize_with = "nullable")]
    max_latency_factor: Option<Option<f64>>,
}

#[derive(Deserialize)]
struct DevelopFile {
    workflows: Option<Vec<String>>,
    max_parallel: Option<u32>,
    max_parallel_scope: Option<ParallelScope>,
    attempts: Option<u32>,
    timeout: Option<String>,
    open_pr: Option<bool>,
}

#[derive(Deserialize)]
struct MergeFile {
    method: Option<MergeMethod>,
}

#[derive(Deserialize)]
struct RollbackFile {
    open_incident: Option<bool>,
}

/// Lays `accepted` (the parts of `file` the schema accepted) over `config`; the problems of
/// the rules a schema cannot say go to `problems`.
pub(super) fn apply(
    config: &mut Config,
    file: &Located,
    accepted: &serde_json::Value,
    problems: &mut Vec<Problem>,
) {
    let Ok(f) = serde_json::from_value::<FileConfig>(accepted.clone()) else {
        // The schema accepted what the types do not: a mismatch of the two, said plainly.
        problems.push((0, String::new(), "does not match shipgate's schema".into()));
        return;
    };
    let mut rules = Rules { file, problems };
    let c = config;
    set(&mut c.trigger_label, f.trigger_label);
    if let Some(r) = f.requirement {
        set(&mut c.requirement.required_sections, r.required_sections);
        set(&mut c.requirement.approval_label, r.approval_label);
        rules.duration(
            &mut c.requirement.escalate_after,
            r.escalate_after,
            "/requirement/escalate_after",
        );
        rules.duration(
            &mut c.requirement.reject_after,
            r.reject_after,
            "/requirement/reject_after",
        );
        set(
            &mut c.requirement.escalate_to,
            r.escalate_to.map(principals),
        );
    }
    if let Some(p) = f.plan {
        set(&mut c.plan.approval, p.approval);
        rules.duration(
            &mut c.plan.auto_approve_after,
            p.auto_approve_after,
            "/plan/auto_approve_after",
        );
    }
    if let Some(r) = f.review {
        set(&mut c.review.required_approvals, r.required_approvals);
        set(&mut c.review.dismiss_stale, r.dismiss_stale);
    }
    if let Some(a) = f.approvers {
        set(&mut c.approvers.requirement, a.requirement.map(principals));
        set(&mut c.approvers.plan, a.plan.map(principals));
        set(&mut c.approvers.review, a.review.map(principals));
        set(&mut c.approvers.production, a.production.map(principals));
    }
    if let Some(t) = f.tests {
        set(&mut c.tests.workflows, t.workflows);
        rules.duration(&mut c.tests.timeout, t.timeout, "/tests/timeout");
        set(&mut c.tests.min_coverage, t.min_coverage);
        if let Some(m) = t.max_findings {
            set(&mut c.tests.max_findings.critical, m.critical);
            set(&mut c.tests.max_findings.high, m.high);
        }
    }
    if let Some(d) = f.deploy {
        set(&mut c.deploy.workflow, d.workflow);
        rules.duration(&mut c.deploy.timeout, d.timeout, "/deploy/timeout");
        if let Some(envs) = d.environments {
            for (name, env, target) in [
                ("staging", envs.staging, &mut c.deploy.staging),
                ("production", envs.production, &mut c.deploy.production),
            ] {
                if let Some(e) = env {
                    rules.environment(target, e, &format!("/deploy/environments/{name}"));
                }
            }
        }
    }
    if let Some(d) = f.develop {
        set(&mut c.develop.workflows, d.workflows);
        set(&mut c.develop.max_parallel, d.max_parallel);
        set(&mut c.develop.max_parallel_scope, d.max_parallel_scope);
        set(&mut c.develop.attempts, d.attempts);
        rules.duration(&mut c.develop.timeout, d.timeout, "/develop/timeout");
        set(&mut c.develop.open_pr, d.open_pr);
    }
    if let Some(m) = f.merge {
        set(&mut c.merge.method, m.method);
    }
    if let Some(r) = f.rollback {
        set(&mut c.rollback.open_incident, r.open_incident);
    }
}

fn set<T>(into: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *into = v;
    }
}

/// `@login` is a login; `@org/team` stays a team.
fn principals(list: Vec<String>) -> Vec<String> {
    list.into_iter()
        .map(|p| match p.strip_prefix('@') {
            Some(login) if !login.contains('/') => login.to_owned(),
            _ => p,
        })
        .collect()
}

/// The rules the schema cannot say, each problem with its line.
struct Rules<'a> {
    file: &'a Located,
    problems: &'a mut Vec<Problem>,
}

impl Rules<'_> {
    fn problem(&mut self, pointer: &str, message: String) {
        let key = dotted(&self.file.value, pointer);
        self.problems.push((self.file.line(pointer), key, message));
    }

    /// A duration the schema let through by its shape: over zero, and not too long to count.
    fn seconds(&mut self, text: &str, pointer: &str) -> Option<u64> {
        match parse_duration(text) {
            Some(secs) if secs > 0 => Some(secs),
            _ => {
                self.problem(
                    pointer,
                    format!(
                        "expected a duration like 30s, 5m, 24h or 3d, got `{}`",
                        text.trim()
                    ),
                );
                None
            }
        }
    }

    fn duration(&mut self, into: &mut u64, value: Option<String>, pointer: &str) {
        if let Some(secs) = value.and_then(|t| self.seconds(&t, pointer)) {
            *into = secs;
        }
    }

    fn environment(&mut self, e: &mut EnvironmentConfig, f: EnvironmentFile, at: &str) {
        match f.approval_timeout {
            Some(None) => e.approval_timeout = None,
            Some(Some(t)) => {
                if let Some(secs) = self.seconds(&t, &format!("{at}/approval_timeout")) {
                    e.approval_timeout = Some(secs);
                }
            }
            None => {}
        }
        set(&mut e.auto_rollback, f.auto_rollback);
        let Some(h) = f.health else { return };
        match h.url {
            Some(None) => e.health.url = None,
            Some(Some(u)) => match url::Url::parse(&u) {
                Ok(parsed) if matches!(parsed.scheme(), "https" | "http") => e.health.url = Some(u),
                _ => self.problem(
                    &format!("{at}/health/url"),
                    "expected an https:// URL".into(),
                ),
            },
            None => {}
        }
        self.duration(
            &mut e.health.interval,
            h.interval,
            &format!("{at}/health/interval"),
        );
        self.duration(
            &mut e.health.window,
            h.window,
            &format!("{at}/health/window"),
        );
        set(&mut e.health.failures, h.failures);
        set(&mut e.health.max_latency_factor, h.max_latency_factor);
    }
}
