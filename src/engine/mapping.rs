//! From decoded webhooks to pipeline inputs: which repository, how to find the pipeline
//! (by issue, PR, workflow run, or a sub-issue of its plan), and whose access the core will
//! need to know.
//!
//! Must not: read the database or call GitHub (the worker resolves access and config, then
//! looks the pipeline up inside its transaction).

use std::sync::LazyLock;

use regex::Regex;

use crate::github::client::RepoRef;
use crate::github::events::{
    Account, CheckRunEvent, DeploymentProtectionRuleEvent, Event, IssueCommentEvent,
    IssueDependenciesEvent, IssuesEvent, PullRequest, PullRequestEvent, PullRequestReviewEvent,
    PushEvent, SubIssuesEvent, WorkflowRun, WorkflowRunEvent,
};
use crate::pipeline::commands;
use crate::pipeline::config::CONFIG_PATH;
use crate::pipeline::linking::pull_request_issues;
use crate::pipeline::model::*;

/// How to find the pipeline an input belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Issue(u64),
    /// An issue's own pipeline, else the pipeline that plans it as a sub-issue task (an
    /// issue closed or reopened, a "blocked by" changed).
    IssueOrTask(u64),
    /// A PR: by its number once linked, else by the issues it names.
    Pull {
        number: u64,
        issues: Vec<u64>,
    },
    /// A workflow run: by its id once known, else by the issue in its run name.
    Run {
        run_id: u64,
        issue: Option<u64>,
    },
    /// A pipeline by its id (a button on one of its check runs).
    Pipeline(i64),
}

/// An input for a pipeline, before the actor's access is known.
#[derive(Debug, Clone, PartialEq)]
pub struct Routed {
    pub repo: RepoRef,
    pub default_branch: String,
    pub lookup: Lookup,
    pub input: Input,
    /// The login whose repository access the core needs (commands, approval labels,
    /// reviews); `None` when access does not matter.
    pub needs_access: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Routing {
    Pipeline(Box<Routed>),
    /// A push that changed `.github/shipgate.yml`.
    ConfigPush {
        repo: RepoRef,
        sha: String,
        on_default_branch: bool,
        default_branch: String,
    },
    /// Nothing for the engine.
    Nothing,
}

/// The actor an account is; its access and teams are resolved before the step.
pub fn actor(account: &Account, bot_login: &str) -> Actor {
    Actor {
        login: account.login.clone(),
        access: Access::None,
        is_self: account.login.eq_ignore_ascii_case(bot_login),
        is_bot: account.is_bot(),
        teams: vec![],
    }
}

/// Milliseconds since the epoch (0 when GitHub gave no time).
fn ms(at: Option<chrono::DateTime<chrono::Utc>>) -> i64 {
    at.map_or(0, |t| t.timestamp_millis())
}

static RUN_ISSUE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bREQ-(\d+)-[tdk]\d+\b").expect("valid regex"));

/// The issue and the `pipeline` input (`REQ-<n>-d<k>`) in a deploy run's name.
pub fn deploy_in_run_name(title: &str) -> Option<(u64, String)> {
    let c = RUN_ISSUE.captures(title)?;
    let token = c.get(0)?.as_str();
    token
        .contains("-d")
        .then(|| Some((c[1].parse().ok()?, token.to_owned())))
        .flatten()
}

/// A pull request as the core sees it (webhook or REST: one shape). The author's access and
/// the commits' authors are the worker's to fill in.
pub fn pull_snapshot(pr: &PullRequest) -> PullSnapshot {
    PullSnapshot {
        number: pr.number,
        title: pr.title.clone(),
        body: pr.body.clone().unwrap_or_default(),
        author: pr.user.login.clone(),
        head_sha: pr.head.sha.clone(),
        head_branch: pr.head.branch.clone(),
        base_branch: pr.base.branch.clone(),
        from_fork: pr.is_from_fork(),
        author_access: Access::None,
        draft: pr.draft,
        open: pr.state == "open",
        merged: pr.merged.unwrap_or(false),
        merge_commit_sha: pr.merge_commit_sha.clone(),
        url: pr.html_url.clone(),
        contributors: vec![],
    }
}

/// A workflow run as the core sees it (webhook or REST), with its origin; `bot_login` is
/// shipgate's bot. Whether its name proves a dispatch is [`prove_dispatch`]'s to say.
pub fn run_report(run: &WorkflowRun, bot_login: &str, status: &str) -> RunReport {
    let by_bot = |a: &Option<Account>| {
        a.as_ref()
            .is_some_and(|a| !bot_login.is_empty() && a.login.eq_ignore_ascii_case(bot_login))
    };
    // Who started this attempt: a person who re-ran shipgate's run is named, not the bot.
    let actor = run
        .triggering_actor
        .as_ref()
        .or(run.actor.as_ref())
        .map(|a| a.login.clone())
        .unwrap_or_default();
    RunReport {
        run_id: run.id,
        status: run.status.clone().unwrap_or_else(|| status.to_owned()),
        conclusion: run.conclusion.clone(),
        url: run.html_url.clone(),
        display_title: run.display_title.clone(),
        attempt: run.run_attempt.unwrap_or(1),
        origin: Some(Box::new(RunOrigin {
            path: run.path.clone().unwrap_or_default(),
            event: run.event.clone(),
            actor,
            by_app: by_bot(&run.actor) && by_bot(&run.triggering_actor),
            head_branch: run.head_branch.clone().unwrap_or_default(),
            head_sha: run.head_sha.clone(),
            created_at: ms(run.created_at),
            proven: None,
        })),
    }
}

/// Marks which `pipeline` token the run's name proves: the one followed by `.<nonce>`, the
/// nonce only shipgate can make for it (`nonce(token)`).
pub fn prove_dispatch(report: &mut RunReport, nonce: impl Fn(&str) -> Option<String>) {
    let Some(origin) = report.origin.as_mut() else {
        return;
    };
    let title = report.display_title.as_deref().unwrap_or_default();
    origin.proven = RUN_ISSUE.find_iter(title).find_map(|m| {
        let token = m.as_str();
        let expected = format!("{token}.{}", nonce(token)?);
        title.contains(&expected).then(|| token.to_owned())
    });
}

/// A review's state, from a webhook (lower case) or the REST API (upper case); a dismissed
/// or commented review neither approves nor blocks.
pub fn review_state(state: &str) -> ReviewState {
    match state.to_ascii_lowercase().as_str() {
        "approved" => ReviewState::Approved,
        "changes_requested" => ReviewState::ChangesRequested,
        _ => ReviewState::Commented,
    }
}

/// Maps a webhook to what the engine does with it. `bot_login` is `<app-slug>[bot]`.
pub fn route(event: &Event, delivery: &str, bot_login: &str) -> Routing {
    let ctx = match event {
        Event::Issues(e) => &e.context,
        Event::SubIssues(e) => &e.context,
        Event::IssueDependencies(e) => &e.context,
        Event::IssueComment(e) => &e.context,
        Event::PullRequest(e) => &e.context,
        Event::PullRequestReview(e) => &e.context,
        Event::WorkflowRun(e) => &e.context,
        Event::Push(e) => &e.context,
        Event::CheckRun(e) => &e.context,
        Event::DeploymentProtectionRule(e) => &e.context,
        _ => return Routing::Nothing,
    };
    let Some(installation) = &ctx.installation else {
        return Routing::Nothing;
    };
    let Some(repo) = RepoRef::new(installation.id, &ctx.repository.full_name) else {
        return Routing::Nothing;
    };
    let to = Destination {
        repo,
        default_branch: ctx
            .repository
            .default_branch
            .clone()
            .unwrap_or_else(|| "main".into()),
        delivery,
        bot_login,
    };
    match event {
        Event::Issues(e) => issue(&to, e),
        Event::SubIssues(e) => sub_issues(&to, e),
        Event::IssueDependencies(e) => dependencies(&to, e),
        Event::IssueComment(e) => comment(&to, e),
        Event::PullRequest(e) => pull_request(&to, e),
        Event::PullRequestReview(e) => review(&to, e),
        Event::WorkflowRun(e) => workflow_run(&to, e),
        Event::DeploymentProtectionRule(e) => protection_rule(&to, e),
        Event::CheckRun(e) => button(&to, e),
        Event::Push(e) => push(to, e),
        _ => Routing::Nothing,
    }
}

/// The repository a webhook is for, and what every input from it carries.
struct Destination<'a> {
    repo: RepoRef,
    default_branch: String,
    delivery: &'a str,
    bot_login: &'a str,
}

impl Destination<'_> {
    fn pipeline(&self, lookup: Lookup, input: Input, needs_access: Option<String>) -> Routing {
        Routing::Pipeline(Box::new(Routed {
            repo: self.repo.clone(),
            default_branch: self.default_branch.clone(),
            lookup,
            input,
            needs_access,
        }))
    }

    fn actor(&self, account: &Account) -> Actor {
        actor(account, self.bot_login)
    }
}

/// `issues`: opened, edited, closed, reopened, deleted, transferred, labelled and unlabelled
/// plain issues. Closed, deleted or transferred matter only as a sub-issue task (done by
/// hand, or gone from the plan); shipgate's own closes (its sub-issues, `Closes #N` on
/// merge) are its own doing.
fn issue(to: &Destination<'_>, e: &IssuesEvent) -> Routing {
    if e.issue.is_pull_request() {
        return Routing::Nothing;
    }
    let action = match e.action.as_str() {
        "opened" => IssueAction::Opened,
        "edited" => IssueAction::Edited,
        "closed" if to.actor(&e.context.sender).is_self => return Routing::Nothing,
        "closed" => IssueAction::Closed,
        "deleted" | "transferred" => IssueAction::Removed,
        "reopened" => IssueAction::Reopened,
        "labeled" | "unlabeled" => {
            let Some(label) = &e.label else {
                return Routing::Nothing;
            };
            if e.action == "labeled" {
                IssueAction::Labeled(label.name.clone())
            } else {
                IssueAction::Unlabeled(label.name.clone())
            }
        }
        _ => return Routing::Nothing,
    };
    let sender = to.actor(&e.context.sender);
    // Only a label can be a decision; its author's access is resolved then.
    let needs = matches!(action, IssueAction::Labeled(_)).then(|| sender.login.clone());
    let lookup = match action {
        IssueAction::Closed | IssueAction::Reopened | IssueAction::Removed => {
            Lookup::IssueOrTask(e.issue.number)
        }
        _ => Lookup::Issue(e.issue.number),
    };
    let input = Input::Issue {
        delivery: to.delivery.to_owned(),
        action,
        issue: IssueSnapshot {
            number: e.issue.number,
            title: e.issue.title.clone(),
            body: e.issue.body.clone().unwrap_or_default(),
            author: e.issue.user.login.clone(),
            labels: e.issue.labels.iter().map(|l| l.name.clone()).collect(),
            updated_at: ms(e.issue.updated_at),
            node_id: e.issue.node_id.clone(),
        },
        actor: sender,
    };
    to.pipeline(lookup, input, needs)
}

/// `sub_issues` `sub_issue_added` / `sub_issue_removed`: the parent's plan changed (the
/// mirror `parent_issue_*` actions say the same from the sub-issue's side).
fn sub_issues(to: &Destination<'_>, e: &SubIssuesEvent) -> Routing {
    if !matches!(e.action.as_str(), "sub_issue_added" | "sub_issue_removed") {
        return Routing::Nothing;
    }
    let input = Input::TasksChanged {
        delivery: to.delivery.to_owned(),
        sub_issue: e.sub_issue.number,
    };
    to.pipeline(Lookup::Issue(e.parent_issue.number), input, None)
}

/// `issue_dependencies` `blocked_by_added` / `blocked_by_removed`: found by the blocked
/// issue, a sub-issue task of a pipeline (the mirror `blocking_*` actions say the same from
/// the blocker's side).
fn dependencies(to: &Destination<'_>, e: &IssueDependenciesEvent) -> Routing {
    if !matches!(e.action.as_str(), "blocked_by_added" | "blocked_by_removed") {
        return Routing::Nothing;
    }
    let input = Input::TasksChanged {
        delivery: to.delivery.to_owned(),
        sub_issue: e.blocked_issue.number,
    };
    to.pipeline(Lookup::IssueOrTask(e.blocked_issue.number), input, None)
}

/// `issue_comment` created with at least one command line, not by shipgate (edits do not
/// re-run commands).
fn comment(to: &Destination<'_>, e: &IssueCommentEvent) -> Routing {
    if e.action != "created" {
        return Routing::Nothing;
    }
    let author = to.actor(&e.comment.user);
    if author.is_self {
        return Routing::Nothing;
    }
    let lines = commands::parse(e.comment.body.as_deref().unwrap_or(""));
    if lines.is_empty() {
        return Routing::Nothing;
    }
    let lookup = if e.issue.is_pull_request() {
        Lookup::Pull {
            number: e.issue.number,
            issues: vec![],
        }
    } else {
        Lookup::Issue(e.issue.number)
    };
    let needs = Some(author.login.clone());
    let input = Input::Comment {
        id: e.comment.id,
        on: e.issue.number,
        commands: lines,
        actor: author,
    };
    to.pipeline(lookup, input, needs)
}

/// `pull_request`: the PR as the webhook has it (the worker reads GitHub's current word
/// before the step), found by number or by the issues it names.
fn pull_request(to: &Destination<'_>, e: &PullRequestEvent) -> Routing {
    let action = match e.action.as_str() {
        "opened" => PullAction::Opened,
        "reopened" => PullAction::Reopened,
        "edited" => PullAction::Edited,
        "synchronize" => PullAction::Synchronize,
        "ready_for_review" => PullAction::ReadyForReview,
        "converted_to_draft" => PullAction::ConvertedToDraft,
        "closed" => PullAction::Closed,
        _ => return Routing::Nothing,
    };
    let pr = pull_snapshot(&e.pull_request);
    let issues = pull_request_issues(&pr.body, &pr.head_branch, &to.repo.full_name());
    // The author's access decides how far the PR is trusted.
    let author = pr.author.clone();
    let input = Input::PullRequest {
        delivery: to.delivery.to_owned(),
        action,
        pr,
        actor: to.actor(&e.context.sender),
    };
    let lookup = Lookup::Pull {
        number: e.pull_request.number,
        issues,
    };
    to.pipeline(lookup, input, Some(author))
}

/// `pull_request_review` submitted or dismissed.
fn review(to: &Destination<'_>, e: &PullRequestReviewEvent) -> Routing {
    let action = match e.action.as_str() {
        "submitted" => ReviewAction::Submitted,
        "dismissed" => ReviewAction::Dismissed,
        _ => return Routing::Nothing,
    };
    let state = review_state(&e.review.state);
    let reviewer = to.actor(&e.review.user);
    let needs = (state != ReviewState::Commented).then(|| reviewer.login.clone());
    let pr = &e.pull_request;
    let issues = pull_request_issues(
        pr.body.as_deref().unwrap_or(""),
        &pr.head.branch,
        &to.repo.full_name(),
    );
    let input = Input::Review {
        id: e.review.id,
        action,
        state,
        commit_sha: e
            .review
            .commit_id
            .clone()
            .unwrap_or_else(|| pr.head.sha.clone()),
        pr: pr.number,
        reviewer,
        submitted_at: ms(e.review.submitted_at),
    };
    let lookup = Lookup::Pull {
        number: pr.number,
        issues,
    };
    to.pipeline(lookup, input, needs)
}

/// `workflow_run`: found by its id, else by the pipeline in its run name (which only routes
/// it: whether it counts is the core's call).
fn workflow_run(to: &Destination<'_>, e: &WorkflowRunEvent) -> Routing {
    let run = &e.workflow_run;
    let issue = run
        .display_title
        .as_deref()
        .and_then(|t| RUN_ISSUE.captures(t))
        .and_then(|c| c[1].parse().ok());
    let input = Input::WorkflowRun(run_report(run, to.bot_login, &e.action));
    let lookup = Lookup::Run {
        run_id: run.id,
        issue,
    };
    to.pipeline(lookup, input, None)
}

/// `deployment_protection_rule` requested for a run.
fn protection_rule(to: &Destination<'_>, e: &DeploymentProtectionRuleEvent) -> Routing {
    let (Some(run_id), "requested") = (e.run_id(), e.action.as_str()) else {
        return Routing::Nothing;
    };
    let sha = e
        .deployment
        .as_ref()
        .map(|d| d.sha.clone())
        .unwrap_or_default();
    let input = Input::ProtectionRule {
        delivery: to.delivery.to_owned(),
        run_id,
        environment: e.environment.clone(),
        sha,
        run: None,
    };
    let lookup = Lookup::Run {
        run_id,
        issue: None,
    };
    to.pipeline(lookup, input, None)
}

/// `check_run` `requested_action`: a button on one of shipgate's own check runs
/// (`external_id` = `p<id>:<sha>`).
fn button(to: &Destination<'_>, e: &CheckRunEvent) -> Routing {
    let (Some(pressed), "requested_action") = (&e.requested_action, e.action.as_str()) else {
        return Routing::Nothing;
    };
    let Some(id) = e
        .check_run
        .external_id
        .as_deref()
        .and_then(|x| x.strip_prefix('p'))
        .and_then(|x| x.split_once(':'))
        .and_then(|(id, _)| id.parse::<i64>().ok())
    else {
        return Routing::Nothing;
    };
    let sender = to.actor(&e.context.sender);
    let on = e
        .check_run
        .pull_requests
        .first()
        .map(|pr| pr.number)
        .unwrap_or_default();
    let needs = Some(sender.login.clone());
    let input = Input::Button {
        delivery: to.delivery.to_owned(),
        identifier: pressed.identifier.clone(),
        sha: e.check_run.head_sha.clone(),
        on,
        actor: sender,
    };
    to.pipeline(Lookup::Pipeline(id), input, needs)
}

/// `push`: to a pipeline's branch (its sender changed the code), or one that changes
/// `.github/shipgate.yml`.
fn push(to: Destination<'_>, e: &PushEvent) -> Routing {
    if e.deleted {
        return Routing::Nothing;
    }
    if !e.touches(CONFIG_PATH) {
        // A push to a pipeline's branch: its sender changed the code (separation of duties),
        // whatever the commits say about their authors.
        let Some(branch) = e.git_ref.strip_prefix("refs/heads/") else {
            return Routing::Nothing;
        };
        let Some(issue) = crate::pipeline::linking::branch_issue(branch) else {
            return Routing::Nothing;
        };
        let input = Input::Push {
            delivery: to.delivery.to_owned(),
            branch: branch.to_owned(),
            pusher: to.actor(&e.context.sender),
        };
        return to.pipeline(Lookup::Issue(issue), input, None);
    }
    Routing::ConfigPush {
        on_default_branch: e.git_ref == format!("refs/heads/{}", to.default_branch),
        repo: to.repo,
        sha: e.after.clone(),
        default_branch: to.default_branch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::events::decode;

    /// GitHub's published example, with an installation and the fields a test varies.
    fn example(event: &str, file: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Event {
        let path = format!(
            "{}/tests/fixtures/github/webhooks/{event}/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        v["installation"] = serde_json::json!({"id": 7});
        edit(&mut v);
        decode(event, v.to_string().as_bytes()).unwrap()
    }

    /// Every published example, decoded and routed as shipgate receives it (with an
    /// installation): what each event becomes — an input for a pipeline and how it is found,
    /// a configuration push, nothing, or (an event shipgate does not decode) acknowledged and
    /// ignored before it gets here.
    #[test]
    fn every_published_example_routes_as_recorded() {
        insta::glob!("../../tests/fixtures/github/webhooks", "*/*.json", |path| {
            let event = path
                .parent()
                .and_then(|p| p.file_name())
                .and_then(|n| n.to_str())
                .expect("an event folder");
            let mut v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            v["installation"] = serde_json::json!({"id": 7});
            let routing = match decode(event, v.to_string().as_bytes()) {
                Ok(e) => format!("{:#?}", route(&e, "delivery-1", "shipgate[bot]")),
                Err(e) => format!("not decoded: {e}"),
            };
            insta::assert_snapshot!(routing);
        });
    }

    /// GitHub publishes no example of `sub_issues` or `issue_dependencies`; these follow its
    /// webhook description (the simulator's, validated against it, drive `tests/develop.rs`).
    #[test]
    fn plan_changes_on_github_route_to_the_pipeline_of_the_parent_or_of_the_task() {
        let path = format!(
            "{}/tests/fixtures/github/webhooks/issues/edited-0.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let edited: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let issue = |n: u64| {
            let mut v = edited["issue"].clone();
            v["number"] = n.into();
            v
        };
        let event = |name: &str, action: &str, fields: serde_json::Value| {
            let mut v = serde_json::json!({
                "action": action,
                "repository": {"id": 1, "name": "widgets", "full_name": "acme/widgets",
                               "owner": {"id": 2, "login": "acme", "type": "Organization"}},
                "sender": {"id": 3, "login": "pm", "type": "User"},
                "installation": {"id": 7},
            });
            for (k, x) in fields.as_object().unwrap() {
                v[k] = x.clone();
            }
            route(
                &decode(name, v.to_string().as_bytes()).unwrap(),
                "d1",
                "shipgate[bot]",
            )
        };
        let found = |r: Routing| match r {
            Routing::Pipeline(r) => Some((r.lookup, r.input)),
            _ => None,
        };
        let pair = serde_json::json!({"parent_issue": issue(10), "sub_issue": issue(11)});
        assert_eq!(
            found(event("sub_issues", "sub_issue_added", pair.clone())),
            Some((
                Lookup::Issue(10),
                Input::TasksChanged {
                    delivery: "d1".into(),
                    sub_issue: 11
                }
            ))
        );
        assert_eq!(
            event("sub_issues", "parent_issue_added", pair),
            Routing::Nothing
        );
        let dep = serde_json::json!({"blocked_issue": issue(11), "blocking_issue": issue(12)});
        assert_eq!(
            found(event(
                "issue_dependencies",
                "blocked_by_removed",
                dep.clone()
            )),
            Some((
                Lookup::IssueOrTask(11),
                Input::TasksChanged {
                    delivery: "d1".into(),
                    sub_issue: 11
                }
            ))
        );
        assert_eq!(
            event("issue_dependencies", "blocking_added", dep),
            Routing::Nothing
        );
        // A sub-issue closed by a person is found by the task; shipgate's own closes are not
        // news to it.
        let closed = |by: &str| {
            let by = by.to_owned();
            route(
                &example("issues", "edited-0.json", move |v| {
                    v["action"] = "closed".into();
                    v["sender"]["login"] = by.into();
                }),
                "d1",
                "shipgate[bot]",
            )
        };
        assert!(matches!(closed("shipgate[bot]"), Routing::Nothing));
        let Some((lookup, Input::Issue { action, .. })) = found(closed("dev")) else {
            panic!("a person's close is routed");
        };
        assert_eq!(action, IssueAction::Closed);
        assert!(matches!(lookup, Lookup::IssueOrTask(_)));
    }

    #[test]
    fn the_apps_own_comments_are_never_commands() {
        let by = |login: &str| {
            let login = login.to_owned();
            example("issue_comment", "created-0.json", move |v| {
                v["comment"]["body"] = "/approve".into();
                v["comment"]["user"]["login"] = login.into();
            })
        };
        assert_eq!(
            route(&by("shipgate[bot]"), "d1", "shipgate[bot]"),
            Routing::Nothing
        );
        let Routing::Pipeline(routed) = route(&by("Codertocat"), "d1", "shipgate[bot]") else {
            panic!("a person's command is routed");
        };
        assert_eq!(routed.needs_access.as_deref(), Some("Codertocat"));
        assert!(matches!(routed.lookup, Lookup::Issue(_)));
    }

    #[test]
    fn comments_without_commands_and_edits_cost_nothing() {
        let plain = example("issue_comment", "created-0.json", |v| {
            v["comment"]["body"] = "LGTM".into()
        });
        assert_eq!(route(&plain, "d", "bot[bot]"), Routing::Nothing);
        let edited = example("issue_comment", "edited-7.json", |v| {
            v["comment"]["body"] = "/approve".into()
        });
        assert_eq!(route(&edited, "d", "bot[bot]"), Routing::Nothing);
    }

    #[test]
    fn workflow_runs_are_found_by_the_pipeline_in_their_run_name() {
        let run = example("workflow_run", "completed-0.json", |v| {
            v["workflow_run"]["display_title"] = "tests REQ-42-t3".into();
        });
        let Routing::Pipeline(routed) = route(&run, "d", "bot[bot]") else {
            panic!("routed");
        };
        assert!(
            matches!(
                routed.lookup,
                Lookup::Run {
                    issue: Some(42),
                    ..
                }
            ),
            "{:?}",
            routed.lookup
        );
        assert_eq!(
            routed.needs_access, None,
            "a run's sender (often the bot) does not matter"
        );
    }

    #[test]
    fn a_pull_request_from_a_deleted_fork_is_a_forks_and_asks_for_its_authors_access() {
        let pr = example("pull_request", "opened-0.json", |v| {
            v["pull_request"]["head"]["repo"] = serde_json::Value::Null;
        });
        let Routing::Pipeline(routed) = route(&pr, "d", "bot[bot]") else {
            panic!("routed");
        };
        let Input::PullRequest { pr: snapshot, .. } = &routed.input else {
            panic!("{:?}", routed.input);
        };
        assert!(
            snapshot.from_fork,
            "a deleted head repository is not trusted"
        );
        assert_eq!(routed.needs_access.as_ref(), Some(&snapshot.author));
    }

    #[test]
    fn a_run_name_proves_a_dispatch_only_with_its_nonce() {
        let run = |title: &str, actor: &str| {
            let (title, actor) = (title.to_owned(), actor.to_owned());
            example("workflow_run", "completed-0.json", move |v| {
                v["workflow_run"]["display_title"] = title.into();
                let account = serde_json::json!({"id": 9, "login": actor, "type": "Bot"});
                v["workflow_run"]["actor"] = account.clone();
                v["workflow_run"]["triggering_actor"] = account;
            })
        };
        let nonce = |token: &str| Some(format!("n{}", token.len()));
        let report = |event: &Event| {
            let Routing::Pipeline(routed) = route(event, "d", "shipgate[bot]") else {
                panic!("routed");
            };
            let Input::WorkflowRun(mut report) = routed.input else {
                panic!("a run report");
            };
            prove_dispatch(&mut report, nonce);
            *report.origin.expect("an origin")
        };
        let ours = report(&run("Tests REQ-42-t3.n9", "shipgate[bot]"));
        assert_eq!(ours.proven.as_deref(), Some("REQ-42-t3"));
        assert!(ours.by_app);
        assert_eq!(ours.event, "workflow_dispatch");
        let copied = report(&run("Tests REQ-42-t3", "mallory"));
        assert_eq!(copied.proven, None, "the token alone proves nothing");
        assert!(!copied.by_app);
        assert_eq!(copied.actor, "mallory");
        let guessed = report(&run("Tests REQ-42-t3.n8", "shipgate[bot]"));
        assert_eq!(guessed.proven, None);
    }

    #[test]
    fn a_button_on_shipgates_check_run_finds_its_pipeline_and_asks_for_the_presser_access() {
        let pressed = |external_id: serde_json::Value| {
            example("check_run", "requested_action-6.json", move |v| {
                v["check_run"]["external_id"] = external_id;
                v["requested_action"]["identifier"] = "approve_prod".into();
                v["sender"]["login"] = "releaser".into();
            })
        };
        let Routing::Pipeline(routed) = route(&pressed("p12:abc".into()), "d", "bot[bot]") else {
            panic!("routed");
        };
        assert_eq!(routed.lookup, Lookup::Pipeline(12));
        assert_eq!(routed.needs_access.as_deref(), Some("releaser"));
        let Input::Button { identifier, .. } = &routed.input else {
            panic!("{:?}", routed.input);
        };
        assert_eq!(identifier, "approve_prod");
        // Someone else's check run (no shipgate external id) is not shipgate's business.
        assert_eq!(
            route(&pressed("".into()), "d", "bot[bot]"),
            Routing::Nothing
        );
    }
}
