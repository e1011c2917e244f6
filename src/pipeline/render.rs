//! What people read: the gates with their evidence, the status comment, the `shipgate`
//! check run and the `/status` answer — strings from state.
//!
//! Must not: decide anything the status shows (gate results are computed here once and
//! `step` uses the same functions, so what is shown is what is enforced).

use super::config::{LoadedConfig, format_duration};
use super::model::*;

/// The hidden marker that lets shipgate find its status comment again.
pub fn status_marker(pipeline_id: i64) -> String {
    format!("<!-- shipgate:status pipeline={pipeline_id} -->")
}

/// One gate as shown and as enforced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gate {
    pub name: &'static str,
    pub passed: bool,
    /// Failed for good on this SHA (not just waiting).
    pub failed: bool,
    pub state: String,
    /// What shipgate waits for, and from whom.
    pub waiting: Option<String>,
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

fn who(list: &[String]) -> String {
    if list.is_empty() {
        "someone with write access".into()
    } else {
        list.iter()
            .map(|a| format!("@{}", a.trim_start_matches('@')))
            .collect::<Vec<_>>()
            .join(" or ")
    }
}

/// The review gate at `sha`, shown as skipped when an admin `/skip`ped it there.
pub fn review_gate(p: &Pipeline, cfg: &LoadedConfig, sha: &str) -> Gate {
    with_skip(p, "review", sha, review_gate_unskipped(p, cfg, sha))
}

/// The tests gate at `sha`, shown as skipped when an admin `/skip`ped it there.
pub fn tests_gate(p: &Pipeline, cfg: &LoadedConfig, sha: &str) -> Gate {
    with_skip(p, "tests", sha, tests_gate_unskipped(p, cfg, sha))
}

fn with_skip(p: &Pipeline, gate: &str, sha: &str, g: Gate) -> Gate {
    match super::skip::skip_of(p, gate, Some(sha)) {
        Some(s) if !g.passed => super::skip::as_skipped(g, s),
        _ => g,
    }
}

pub fn review_gate_unskipped(p: &Pipeline, cfg: &LoadedConfig, sha: &str) -> Gate {
    let c = &cfg.config;
    let author = p.pr.as_ref().map(|pr| pr.author.as_str()).unwrap_or("");
    let allowed = |login: &str| {
        c.approvers.review.is_empty()
            || c.approvers
                .review
                .iter()
                .any(|a| a.eq_ignore_ascii_case(login))
    };
    let counts = |login: &str, r: &ReviewRecord| {
        r.state == ReviewState::Approved
            && login != author
            && !changed_the_code(p, login)
            && r.access.can_write()
            && allowed(login)
            && (r.sha == sha || !c.review.dismiss_stale)
    };
    let approvers: Vec<String> = p
        .reviews
        .iter()
        .filter(|(login, r)| counts(login, r))
        .map(|(login, _)| format!("@{login}"))
        .collect();
    let blocking: Vec<String> = p
        .reviews
        .iter()
        .filter(|(_, r)| r.state == ReviewState::ChangesRequested && r.access.can_write())
        .map(|(login, _)| format!("@{login}"))
        .collect();
    let stale: Vec<String> = p
        .reviews
        .iter()
        .filter(|(login, r)| {
            r.state == ReviewState::Approved
                && **login != author
                && r.sha != sha
                && c.review.dismiss_stale
        })
        .map(|(login, _)| format!("@{login}"))
        .collect();
    let needed = c.review.required_approvals as usize;
    let passed = approvers.len() >= needed && blocking.is_empty();
    let mut state = format!(
        "{}/{} approvals at `{}`",
        approvers.len(),
        needed,
        short(sha)
    );
    if !approvers.is_empty() {
        state.push_str(&format!(" ({})", approvers.join(", ")));
    }
    if !blocking.is_empty() {
        state.push_str(&format!("; changes requested by {}", blocking.join(", ")));
    }
    if !stale.is_empty() {
        state.push_str(&format!("; stale: {}", stale.join(", ")));
    }
    let waiting = (!passed).then(|| {
        if !blocking.is_empty() {
            format!(
                "{} to approve or dismiss their requested changes",
                blocking.join(", ")
            )
        } else {
            format!(
                "{} more approving review{} of `{}` from {} other than @{author}",
                needed - approvers.len(),
                if needed - approvers.len() == 1 {
                    ""
                } else {
                    "s"
                },
                short(sha),
                who(&c.approvers.review)
            )
        }
    });
    Gate {
        name: "Review",
        passed,
        failed: false,
        state,
        waiting,
    }
}

pub fn tests_gate_unskipped(p: &Pipeline, cfg: &LoadedConfig, sha: &str) -> Gate {
    let workflows = &cfg.config.tests.workflows;
    if workflows.is_empty() {
        return Gate {
            name: "Tests",
            passed: true,
            failed: false,
            state: "no test workflows configured".into(),
            waiting: None,
        };
    }
    let mut parts = Vec::new();
    let mut passed = true;
    let mut failed = false;
    let mut pending = Vec::new();
    for w in workflows {
        let run = p.runs_for(sha).filter(|r| &r.workflow == w).last();
        let link = |r: &TestRun| {
            r.url
                .as_ref()
                .map(|u| format!(" ([run]({u}))"))
                .unwrap_or_default()
        };
        let text = match run {
            None => {
                passed = false;
                pending.push(format!("`{w}` to be dispatched"));
                format!("`{w}` not dispatched")
            }
            Some(r) => match &r.state {
                RunState::Succeeded => format!("`{w}` ✅ passed{}", link(r)),
                RunState::Dispatching | RunState::Running => {
                    passed = false;
                    pending.push(format!("`{w}` to finish"));
                    format!("`{w}` ⏳ running{}", link(r))
                }
                RunState::Failed(conclusion) => {
                    passed = false;
                    failed = true;
                    format!("`{w}` ❌ {conclusion}{}", link(r))
                }
                RunState::TimedOut => {
                    passed = false;
                    failed = true;
                    format!(
                        "`{w}` ❌ no result after {}{}",
                        format_duration(cfg.config.tests.timeout),
                        link(r)
                    )
                }
                RunState::NotDispatched(why) => {
                    passed = false;
                    failed = true;
                    format!("`{w}` ❌ not dispatched: {why}")
                }
                RunState::Superseded => unreachable!("runs_for skips superseded runs"),
            },
        };
        parts.push(text);
    }
    let waiting = if failed {
        Some("a fix pushed to the pull request, or `/retry tests`".to_owned())
    } else if !pending.is_empty() {
        Some(format!("{} on `{}`", pending.join(", "), short(sha)))
    } else {
        None
    };
    Gate {
        name: "Tests",
        passed,
        failed,
        state: format!("{} on `{}`", parts.join(", "), short(sha)),
        waiting,
    }
}

/// Every gate up to the tested PR, in order.
pub fn gates(p: &Pipeline, cfg: &LoadedConfig) -> Vec<Gate> {
    let c = &cfg.config;
    let mut out = Vec::new();
    let requirement = match (&p.requirement, p.missing_sections.is_empty()) {
        (Some(a), _) => Gate {
            name: "Requirement",
            passed: true,
            failed: false,
            state: format!("✅ approved by @{} ({})", a.by, a.via),
            waiting: None,
        },
        (None, false) => Gate {
            name: "Requirement",
            passed: false,
            failed: false,
            state: format!(
                "missing section{}: {}",
                if p.missing_sections.len() == 1 {
                    ""
                } else {
                    "s"
                },
                p.missing_sections
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            waiting: Some(format!(
                "@{} to add {} to the issue",
                p.author,
                p.missing_sections
                    .iter()
                    .map(|s| format!("a `## {s}` section"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            )),
        },
        (None, true) => Gate {
            name: "Requirement",
            passed: false,
            failed: false,
            state: "complete, waiting for approval".into(),
            waiting: Some(format!(
                "`/approve` or the `{}` label from {}",
                c.requirement.approval_label,
                who(&c.approvers.requirement)
            )),
        },
    };
    out.push(requirement);
    let plan = match &p.plan {
        Some(a) => Gate {
            name: "Plan",
            passed: true,
            failed: false,
            state: format!(
                "✅ approved by {} ({})",
                if a.by == "shipgate" {
                    "shipgate".to_owned()
                } else {
                    format!("@{}", a.by)
                },
                a.via
            ),
            waiting: None,
        },
        None => Gate {
            name: "Plan",
            passed: false,
            failed: false,
            state: format!(
                "{} task{}",
                p.tasks.len() + p.sub_issues.len(),
                if p.tasks.len() + p.sub_issues.len() == 1 {
                    ""
                } else {
                    "s"
                }
            ),
            waiting: (p.phase == Phase::Planning)
                .then(|| format!("`/approve plan` from {}", who(&c.approvers.plan))),
        },
    };
    out.push(plan);
    let branch = match p.branch_state {
        BranchState::Created => format!("✅ `{}` created from `{}`", p.branch, p.default_branch),
        BranchState::Existed => format!("✅ `{}` (already existed)", p.branch),
        BranchState::Requested => format!("creating `{}`", p.branch),
        BranchState::NotCreated => format!("`{}` once the plan is approved", p.branch),
    };
    out.push(Gate {
        name: "Branch",
        passed: matches!(p.branch_state, BranchState::Created | BranchState::Existed),
        failed: false,
        state: branch,
        waiting: None,
    });
    // A fork's PR, or one into another branch than production runs, never passes — open
    // or merged (by a person) alike.
    let untrusted = |pr: &PullRequest| {
        if pr.from_fork {
            Some((
                format!(
                    "#{} by @{} comes from a fork: shipgate never tests, deploys or merges it",
                    pr.number, pr.author
                ),
                "a pull request from a branch of this repository".to_owned(),
            ))
        } else {
            base_problem(p, pr).map(|problem| {
                (
                    problem,
                    format!("#{} to target `{}`", pr.number, p.default_branch),
                )
            })
        }
    };
    let pr_gate = match &p.pr {
        Some(pr) if pr.merged || (pr.open && !pr.draft) => match untrusted(pr) {
            Some((state, waiting)) => Gate {
                name: "Pull request",
                passed: false,
                failed: true,
                state,
                waiting: Some(waiting),
            },
            None if pr.merged => Gate {
                name: "Pull request",
                passed: true,
                failed: false,
                state: format!(
                    "✅ #{} by @{} merged{}",
                    pr.number,
                    pr.author,
                    p.merge_sha()
                        .map(|m| format!(" as `{}`", short(m)))
                        .unwrap_or_default()
                ),
                waiting: None,
            },
            None => Gate {
                name: "Pull request",
                passed: true,
                failed: false,
                state: format!(
                    "✅ #{} by @{}, head `{}`",
                    pr.number,
                    pr.author,
                    short(&pr.head_sha)
                ),
                waiting: None,
            },
        },
        Some(pr) => Gate {
            name: "Pull request",
            passed: false,
            failed: false,
            state: format!(
                "#{} is {}",
                pr.number,
                if pr.open { "a draft" } else { "closed" }
            ),
            waiting: Some(format!(
                "#{} to be {}",
                pr.number,
                if pr.open {
                    "marked ready for review"
                } else {
                    "reopened, or a new pull request"
                }
            )),
        },
        None => Gate {
            name: "Pull request",
            passed: false,
            failed: false,
            state: "none yet".into(),
            waiting: (p.phase == Phase::Development).then(|| {
                format!(
                    "a pull request from `{}` or one that says `Closes #{}`",
                    p.branch, p.issue
                )
            }),
        },
    };
    out.push(pr_gate);
    if let Some(sha) = p.pr_head_sha() {
        out.push(review_gate(p, cfg, sha));
        out.push(tests_gate(p, cfg, sha));
    }
    if let Some(gate) = staging_gate(p, cfg) {
        out.push(gate);
    }
    out.extend(super::production_view::gates(p, cfg));
    super::skip::mark_skipped(p, out)
}

/// The staging deploy, once there is one.
pub fn staging_gate(p: &Pipeline, cfg: &LoadedConfig) -> Option<Gate> {
    deploy_gate(p, cfg, "staging", "Staging")
}

/// An environment's current deploy and its health, once there is one.
pub fn deploy_gate(
    p: &Pipeline,
    cfg: &LoadedConfig,
    environment: &str,
    name: &'static str,
) -> Option<Gate> {
    let d = p.current_deploy(environment)?;
    let retry = format!("a fix, then `/retry {environment}`");
    let run = d
        .url
        .as_ref()
        .map(|u| format!(" ([run]({u}))"))
        .unwrap_or_default();
    let sha = short(&d.sha);
    let (passed, failed, state, waiting) = match &d.state {
        DeployState::Creating | DeployState::Dispatching => (
            false,
            false,
            format!("deploying `{sha}`"),
            Some(format!("the {environment} deploy of `{sha}`")),
        ),
        DeployState::Running => (
            false,
            false,
            format!("deploying `{sha}`{run}"),
            Some(format!("the {environment} deploy of `{sha}` to finish")),
        ),
        DeployState::Succeeded => {
            let h = &cfg.config.deploy.environment(environment).health;
            let watch = p
                .health
                .iter()
                .rev()
                .find(|w| w.environment == environment && w.sha == d.sha);
            match watch {
                None => (
                    true,
                    false,
                    format!(
                        "✅ `{sha}` deployed{run}; no health check configured: healthy when the deploy run succeeds"
                    ),
                    None,
                ),
                Some(w) => {
                    let last = w
                        .recent
                        .last()
                        .map(|r| match (r.status, &r.error) {
                            (Some(code), _) if r.ok => {
                                format!("; last {code} in {} ms", r.latency_ms)
                            }
                            (_, Some(e)) => format!("; last: {e}"),
                            _ => String::new(),
                        })
                        .unwrap_or_default();
                    let probes = format!(
                        "{} of {} probes of {} ok{last}",
                        w.total - w.failed,
                        w.total,
                        w.url
                    );
                    match w.outcome {
                        None => (
                            false,
                            false,
                            format!("`{sha}` deployed{run}; watching health: {probes}"),
                            Some(format!(
                                "health probes of {} every {} to hold for {} (fails after {} in a row)",
                                w.url,
                                format_duration(h.interval),
                                format_duration(h.window),
                                h.failures
                            )),
                        ),
                        Some(true) => (
                            true,
                            false,
                            format!(
                                "✅ `{sha}` deployed{run}; healthy for {}: {probes}",
                                format_duration(h.window)
                            ),
                            None,
                        ),
                        Some(false) => (
                            false,
                            true,
                            format!("`{sha}` deployed{run}; unhealthy: {probes}"),
                            Some(retry.clone()),
                        ),
                    }
                }
            }
        }
        DeployState::Failed(conclusion) => (
            false,
            true,
            format!("deploy of `{sha}` concluded `{conclusion}`{run}"),
            Some(retry.clone()),
        ),
        DeployState::NotStarted(why) => (
            false,
            true,
            format!("not started: {why}"),
            Some(retry.clone()),
        ),
        DeployState::Superseded => return None,
    };
    Some(Gate {
        name,
        passed,
        failed,
        state,
        waiting,
    })
}

/// What shipgate waits for now, in one sentence.
pub fn waiting_for(p: &Pipeline, cfg: &LoadedConfig) -> String {
    if !cfg.is_valid() {
        return "a fix to the configuration errors below".into();
    }
    match p.phase {
        Phase::Rejected => return "nothing: the feature was rejected".into(),
        Phase::Failed => return "`/retry` once the cause of the failure is fixed".into(),
        Phase::Done => return "nothing: the feature is in production".into(),
        _ => {}
    }
    if p.paused {
        return "`/resume`: the pipeline is paused".into();
    }
    if !p.blockers.is_empty() {
        return "`/unblock`: the pipeline is blocked".into();
    }
    let waits: Vec<String> = gates(p, cfg)
        .into_iter()
        .filter_map(|g| g.waiting)
        .collect();
    if waits.is_empty() {
        "nothing".into()
    } else {
        waits.join("; ")
    }
}

fn gate_table(gates: &[Gate]) -> String {
    let mut t = String::from("| gate | state |\n|---|---|\n");
    for g in gates {
        let mark = if g.passed {
            "✅"
        } else if g.failed {
            "❌"
        } else {
            "⏳"
        };
        let state = g.state.trim_start_matches("✅ ");
        t.push_str(&format!(
            "| {mark} {} | {} |\n",
            g.name,
            state.replace('|', "\\|")
        ));
    }
    t
}

fn config_errors(cfg: &LoadedConfig) -> String {
    if cfg.is_valid() {
        return String::new();
    }
    let mut s =
        String::from("\n**Configuration errors** — every gate holds until they are fixed:\n");
    for e in &cfg.errors {
        s.push_str(&format!("- {e}\n"));
    }
    s
}

/// The readiness score, 0–100, and what each part contributed. Weights: requirement 10,
/// plan 10, review 25, tests 25, staging deploy 15, staging health 15. A gate that passed
/// scores its weight; open or failed, nothing. Without `health.url` the health part scores
/// nothing (no evidence), so such a pipeline tops out at 85.
pub fn readiness(p: &Pipeline, cfg: &LoadedConfig) -> (u8, Vec<String>) {
    let sha = p.pr_head_sha().map(str::to_owned);
    let review = sha
        .as_deref()
        .is_some_and(|s| review_gate(p, cfg, s).passed);
    let tests = sha.as_deref().is_some_and(|s| tests_gate(p, cfg, s).passed);
    let deployed = p
        .current_deploy("staging")
        .is_some_and(|d| d.state == DeployState::Succeeded);
    let healthy = deployed
        && p.health.iter().rev().any(|w| {
            w.environment == "staging"
                && Some(w.sha.as_str()) == p.current_deploy("staging").map(|d| d.sha.as_str())
                && w.outcome == Some(true)
        });
    let no_health_check = cfg.config.deploy.staging.health.url.is_none();
    let parts = [
        ("requirement", 10, p.requirement.is_some()),
        ("plan", 10, p.plan.is_some()),
        ("review", 25, review),
        ("tests", 25, tests),
        ("staging deploy", 15, deployed),
        ("staging health", 15, healthy),
    ];
    let score: u32 = parts
        .iter()
        .filter(|(_, _, ok)| *ok)
        .map(|(_, w, _)| w)
        .sum();
    let mut missing: Vec<String> = parts
        .iter()
        .filter(|(_, _, ok)| !ok)
        .map(|(name, w, _)| format!("{name} −{w}"))
        .collect();
    if no_health_check && let Some(m) = missing.iter_mut().find(|m| m.starts_with("staging health"))
    {
        *m = "staging health −15 (no health check configured)".into();
    }
    (score as u8, missing)
}

fn readiness_line(p: &Pipeline, cfg: &LoadedConfig) -> String {
    let (score, missing) = readiness(p, cfg);
    if missing.is_empty() {
        format!("**Readiness:** {score}/100")
    } else {
        format!("**Readiness:** {score}/100 ({})", missing.join(", "))
    }
}

fn headline(p: &Pipeline) -> String {
    let mut h = format!("**{}** · phase **{}**", p.name(), p.phase.name());
    if p.paused {
        h.push_str(" · ⏸️ paused");
    }
    if !p.blockers.is_empty() {
        h.push_str(" · 🚧 blocked");
    }
    if !p.skips.is_empty() {
        h.push_str(&format!(" · ⏭️ {} skipped", p.skips.len()));
    }
    if let Some(priority) = p.priority {
        h.push_str(&format!(
            " · priority **{}**",
            format!("{priority:?}").to_lowercase()
        ));
    }
    h
}

/// The status comment's body, marker first.
pub fn status_comment(p: &Pipeline, cfg: &LoadedConfig) -> String {
    let mut s = status_marker(p.id);
    s.push_str(&format!("\n### shipgate · {}\n\n", headline(p)));
    if let Some(r) = &p.rejection {
        s.push_str(&format!(
            "❌ Rejected by @{}{}.\n\n",
            r.by,
            r.reason
                .as_ref()
                .map(|x| format!(": {x}"))
                .unwrap_or_default()
        ));
    }
    if let Some(f) = &p.failure {
        s.push_str(&format!(
            "⚠️ The **{}** stage failed: {}\n\n",
            f.stage, f.reason
        ));
    }
    for b in &p.blockers {
        s.push_str(&format!(
            "🚧 Blocked by @{}: {}\n\n",
            b.by,
            b.reason.as_deref().unwrap_or("no reason given")
        ));
    }
    s.push_str(&super::skip::skip_lines(p));
    s.push_str(&pull_request_lines(p));
    for n in &p.incidents {
        s.push_str(&format!(
            "🚨 Incident #{n} is open for a production rollback.\n\n"
        ));
    }
    s.push_str(&format!("**Waiting for:** {}\n\n", waiting_for(p, cfg)));
    s.push_str(&format!("{}\n\n", readiness_line(p, cfg)));
    s.push_str(&gate_table(&gates(p, cfg)));
    let tasks: Vec<&Task> = p.tasks.iter().chain(&p.sub_issues).collect();
    if !tasks.is_empty() {
        s.push_str("\n**Tasks**\n");
        for t in tasks {
            let mark = if t.done { "x" } else { " " };
            match t.issue {
                Some(n) => s.push_str(&format!("- [{mark}] #{n} {}\n", t.text)),
                None => s.push_str(&format!("- [{mark}] {}\n", t.text)),
            }
        }
    }
    s.push_str(&config_errors(cfg));
    s.push_str("\n<sub>Commands: `/approve`, `/approve production`, `/deploy staging`, `/rollback`, `/reject`, `/pause`, `/resume`, `/retry`, `/status`, `/help`.</sub>\n");
    s
}

/// The answer to `/status`.
pub fn status_answer(p: &Pipeline, cfg: &LoadedConfig) -> String {
    format!(
        "{}\n\n**Waiting for:** {}\n\n{}",
        headline(p),
        waiting_for(p, cfg),
        gate_table(&gates(p, cfg))
    )
}

/// The `shipgate` check run for one SHA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRunView {
    /// `in_progress` or `completed`.
    pub status: &'static str,
    pub conclusion: Option<&'static str>,
    pub title: String,
    pub summary: String,
    /// Buttons (label, description, identifier), at most three.
    pub actions: Vec<super::production::Button>,
}

pub fn check_run(p: &Pipeline, cfg: &LoadedConfig, sha: &str) -> CheckRunView {
    let summary = || {
        format!(
            "{}\n\n{}**Waiting for:** {}\n\n{}\n\n{}{}",
            headline(p),
            super::skip::skip_lines(p),
            waiting_for(p, cfg),
            readiness_line(p, cfg),
            gate_table(&gates(p, cfg)),
            config_errors(cfg)
        )
    };
    if p.merge_sha() == Some(sha) {
        return super::production_view::merge_check_run(p, cfg, summary());
    }
    if p.production.is_some() && p.pr_head_sha() == Some(sha) && p.phase != Phase::Failed {
        return super::production_view::approved_head_check_run(p, summary());
    }
    if p.head_sha() != Some(sha) {
        return CheckRunView {
            status: "completed",
            conclusion: Some("neutral"),
            title: "Superseded".into(),
            summary: format!(
                "{} moved on: the pull request's head is now `{}`.",
                p.name(),
                p.head_sha().map(short).unwrap_or("gone")
            ),
            actions: vec![],
        };
    }
    let gates = gates(p, cfg);
    let summary = summary();
    let (status, conclusion, title) = match p.phase {
        Phase::Rejected => ("completed", Some("failure"), "Rejected".to_owned()),
        Phase::Failed => (
            "completed",
            Some("failure"),
            "Failed — /retry after fixing".to_owned(),
        ),
        _ if gates.iter().any(|g| g.failed) => {
            ("completed", Some("failure"), "Tests failed".to_owned())
        }
        _ => {
            let open = gates.iter().filter(|g| !g.passed).count();
            let title = if p.phase == Phase::Readiness {
                "Staging deployed — waiting for production approval".to_owned()
            } else if open == 0 {
                "Review and tests green — ready for staging".to_owned()
            } else {
                format!("{open} gate{} open", if open == 1 { "" } else { "s" })
            };
            ("in_progress", None, title)
        }
    };
    CheckRunView {
        status,
        conclusion,
        title,
        summary,
        actions: super::production_view::buttons(p),
    }
}

/// Which PR drives the pipeline when others name the issue too, and why each other does not.
fn pull_request_lines(p: &Pipeline) -> String {
    let (Some(pr), false) = (&p.pr, p.passed_over.is_empty()) else {
        return String::new();
    };
    let mut s = format!("🔀 #{} drives this pipeline.", pr.number);
    for (n, why) in &p.passed_over {
        s.push_str(&format!(" #{n} does not: {why}."));
    }
    s.push_str("\n\n");
    s
}

/// Whether `login` changed the linked PR's code: authored or committed any of its commits
/// (as GitHub lists them), or pushed to it (or to the pipeline's branch it comes from). They
/// neither review nor release their own change.
pub fn changed_the_code(p: &Pipeline, login: &str) -> bool {
    p.pr.as_ref().is_some_and(|pr| {
        let branch_pushers = (pr.head_branch == p.branch && !pr.from_fork)
            .then_some(&p.branch_pushers)
            .into_iter()
            .flatten();
        pr.contributors
            .iter()
            .chain(&pr.pushers)
            .chain(branch_pushers)
            .any(|c| c.eq_ignore_ascii_case(login))
    })
}

/// What shipgate says about a fork's PR: it never runs or deploys its code.
pub fn fork_refusal(pr: &PullRequest) -> String {
    format!(
        "#{} comes from a fork. shipgate tracks its reviews but never dispatches workflows for it or deploys it: its code would run with this repository's secrets. Push the branch to this repository to test and deploy it.",
        pr.number
    )
}

/// What is wrong with the PR's base, if anything: production runs only the default branch.
pub fn base_problem(p: &Pipeline, pr: &PullRequest) -> Option<String> {
    (!pr.base_branch.is_empty() && pr.base_branch != p.default_branch).then(|| {
        format!(
            "#{} targets `{}`, but production runs `{}`: shipgate merges and deploys only a pull request into `{}`",
            pr.number, pr.base_branch, p.default_branch, p.default_branch
        )
    })
}
