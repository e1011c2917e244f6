//! Slash-commands in comments (DESIGN.md §2): one per line, read only from the plain
//! paragraph text GitHub shows (see `markdown`), so quoting someone's `/approve`, pasting a
//! shell session or hiding a line in an HTML comment never triggers anything. Also the one list of commands (`/help`, the status comment's footer and
//! the README's table are made from it) and the check-run buttons, each its command by
//! another route.
//!
//! Must not: decide whether a command is allowed (that depends on the pipeline and the
//! actor; `step` decides).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::domain::Environment;
use super::markdown;
use super::text::code_list;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApproveTarget {
    /// `/approve` alone: whatever the pipeline waits for now (requirement or plan).
    Current,
    Requirement,
    Plan,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Priority {
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    Approve(ApproveTarget),
    Reject(Option<String>),
    Pause,
    Resume,
    Stop,
    Retry(Option<String>),
    /// `/retry task <n>`: a development task that failed on every workflow.
    RetryTask(u64),
    Block(String),
    Unblock,
    Skip {
        gate: String,
        reason: String,
    },
    /// `/skip task <n> <reason>` (admins).
    SkipTask {
        task: u64,
        reason: String,
    },
    Priority(Priority),
    Deploy(Environment),
    Rollback(Option<String>),
    Status,
    Help,
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Approve(_) => "approve",
            Command::Reject(_) => "reject",
            Command::Pause => "pause",
            Command::Resume => "resume",
            Command::Stop => "stop",
            Command::Retry(_) | Command::RetryTask(_) => "retry",
            Command::Block(_) => "block",
            Command::Unblock => "unblock",
            Command::Skip { .. } | Command::SkipTask { .. } => "skip",
            Command::Priority(_) => "priority",
            Command::Deploy(_) => "deploy",
            Command::Rollback(_) => "rollback",
            Command::Status => "status",
            Command::Help => "help",
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.name())?;
        match self {
            Command::Approve(ApproveTarget::Current) => Ok(()),
            Command::Approve(t) => write!(f, " {}", format!("{t:?}").to_lowercase()),
            Command::Retry(Some(s)) => write!(f, " {s}"),
            Command::Deploy(e) => write!(f, " {e}"),
            Command::Skip { gate, .. } => write!(f, " {gate}"),
            Command::RetryTask(n) | Command::SkipTask { task: n, .. } => write!(f, " task {n}"),
            Command::Priority(p) => write!(f, " {}", format!("{p:?}").to_lowercase()),
            _ => Ok(()),
        }
    }
}

/// One command line in a comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandLine {
    Command(Command),
    /// `/frobnicate`: no such command.
    Unknown(String),
    /// A known command with arguments it does not take; says what was expected.
    Malformed {
        command: String,
        problem: String,
    },
}

/// Commands read from one comment; one more is kept to know there were more (they are
/// answered with one line, not run). Bounds the work, the audit log and the reply a single
/// comment can cause.
pub const MAX_COMMANDS_PER_COMMENT: usize = 10;

/// The command lines of a comment, in order: at most [`MAX_COMMANDS_PER_COMMENT`] + 1 (the
/// reading stops there).
pub fn parse(body: &str) -> Vec<CommandLine> {
    markdown::plain_lines(body)
        .filter_map(parse_line)
        .take(MAX_COMMANDS_PER_COMMENT + 1)
        .collect()
}

fn parse_line(line: &str) -> Option<CommandLine> {
    let rest = line.strip_prefix('/')?;
    let name_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .unwrap_or(rest.len());
    let (name, args) = rest.split_at(name_len);
    // `/usr/bin/env` or `/ 2` is prose, not a command.
    if name.is_empty()
        || !name.starts_with(|c: char| c.is_ascii_alphabetic())
        || !(args.is_empty() || args.starts_with(char::is_whitespace))
    {
        return None;
    }
    let name = name.to_ascii_lowercase();
    let args = args.trim();
    let words: Vec<&str> = args.split_whitespace().collect();
    let text = (!args.is_empty()).then(|| args.to_owned());
    let malformed = |problem: &str| CommandLine::Malformed {
        command: name.clone(),
        problem: problem.to_owned(),
    };
    let no_args = |c: Command| {
        if words.is_empty() {
            CommandLine::Command(c)
        } else {
            malformed("takes no arguments")
        }
    };
    Some(match name.as_str() {
        "approve" => match words.as_slice() {
            [] => CommandLine::Command(Command::Approve(ApproveTarget::Current)),
            [w] => match w.to_ascii_lowercase().as_str() {
                "requirement" => CommandLine::Command(Command::Approve(ApproveTarget::Requirement)),
                "plan" => CommandLine::Command(Command::Approve(ApproveTarget::Plan)),
                "production" | "prod" => {
                    CommandLine::Command(Command::Approve(ApproveTarget::Production))
                }
                _ => malformed("expects `requirement`, `plan` or `production`"),
            },
            _ => malformed("expects at most one of `requirement`, `plan` or `production`"),
        },
        "reject" => CommandLine::Command(Command::Reject(text)),
        "pause" => no_args(Command::Pause),
        "resume" => no_args(Command::Resume),
        "stop" => no_args(Command::Stop),
        "unblock" => no_args(Command::Unblock),
        "status" => no_args(Command::Status),
        "help" => no_args(Command::Help),
        "retry" => match words.as_slice() {
            [] => CommandLine::Command(Command::Retry(None)),
            [t, n] if t.eq_ignore_ascii_case("task") => match n.parse() {
                Ok(n) => CommandLine::Command(Command::RetryTask(n)),
                Err(_) => malformed("expects a task number, like `/retry task 2`"),
            },
            [stage] => CommandLine::Command(Command::Retry(Some(stage.to_ascii_lowercase()))),
            _ => malformed("expects at most one stage, like `/retry tests`"),
        },
        "block" => match text {
            Some(reason) => CommandLine::Command(Command::Block(reason)),
            None => malformed("needs a reason, like `/block waiting for legal`"),
        },
        "skip" => match words.as_slice() {
            [t, n, _, ..] if t.eq_ignore_ascii_case("task") => match n.parse() {
                Ok(task) => CommandLine::Command(Command::SkipTask {
                    task,
                    reason: args[t.len()..].trim()[n.len()..].trim().to_owned(),
                }),
                Err(_) => malformed(
                    "expects a task number and a reason, like `/skip task 2 done by hand`",
                ),
            },
            [t, _] if t.eq_ignore_ascii_case("task") => {
                malformed("needs a task number and a reason, like `/skip task 2 done by hand`")
            }
            [gate, _, ..] => CommandLine::Command(Command::Skip {
                gate: gate.to_ascii_lowercase(),
                reason: args[gate.len()..].trim().to_owned(),
            }),
            _ => malformed("needs a gate and a reason, like `/skip tests flaky runner`"),
        },
        "priority" => match words.as_slice() {
            [p] => match p.to_ascii_lowercase().as_str() {
                "low" => CommandLine::Command(Command::Priority(Priority::Low)),
                "medium" => CommandLine::Command(Command::Priority(Priority::Medium)),
                "high" => CommandLine::Command(Command::Priority(Priority::High)),
                "critical" => CommandLine::Command(Command::Priority(Priority::Critical)),
                _ => malformed("expects low, medium, high or critical"),
            },
            _ => malformed("expects low, medium, high or critical"),
        },
        "deploy" => match words.as_slice() {
            [env] if env.eq_ignore_ascii_case("staging") => {
                CommandLine::Command(Command::Deploy(Environment::Staging))
            }
            _ => malformed("only `/deploy staging` exists; production needs `/approve production`"),
        },
        "rollback" => CommandLine::Command(Command::Rollback(text)),
        _ => CommandLine::Unknown(name),
    })
}

/// One command as `/help`, the status comment's footer and the README list it.
pub struct CommandDoc {
    /// The syntax, as Markdown code: `` `/approve [requirement\\|plan\\|production]` ``.
    pub usage: &'static str,
    /// The forms the status comment's footer names.
    pub short: &'static [&'static str],
    pub does: &'static str,
}

/// Every command, in the order `/help` lists them: the one list the `/help` answer, the
/// status comment's footer and the README's command table are made from.
pub const COMMANDS: &[CommandDoc] = &[
    CommandDoc {
        usage: "`/approve [requirement\\|plan\\|production]`",
        short: &["/approve", "/approve production"],
        does: "approves what the pipeline waits for (write access, never a bot; production: not the PR's author nor anyone who changed its code or skipped a gate)",
    },
    CommandDoc {
        usage: "`/reject [reason]`",
        short: &["/reject"],
        does: "rejects the feature; nothing more is dispatched",
    },
    CommandDoc {
        usage: "`/pause`, `/resume`",
        short: &["/pause", "/resume"],
        does: "holds / releases dispatches",
    },
    CommandDoc {
        usage: "`/retry [tests\\|staging\\|merge\\|production]`",
        short: &["/retry"],
        does: "re-runs failed tests on the head SHA, or a failed stage",
    },
    CommandDoc {
        usage: "`/retry task <n>`",
        short: &[],
        does: "dispatches a development task that failed on every workflow again, from the first",
    },
    CommandDoc {
        usage: "`/deploy staging`",
        short: &["/deploy staging"],
        does: "deploys the PR's head to staging now (write access)",
    },
    CommandDoc {
        usage: "`/rollback [reason]`",
        short: &["/rollback"],
        does: "redeploys the environment's last good SHA (production: `approvers.production` if set)",
    },
    CommandDoc {
        usage: "`/stop`",
        short: &["/stop"],
        does: "cancels the pipeline's runs in flight; during a production deploy or its monitoring also rolls production back (so it takes `approvers.production`, as `/rollback` does), otherwise the pipeline is `stopped`",
    },
    CommandDoc {
        usage: "`/block <reason>`, `/unblock`",
        short: &["/block", "/unblock"],
        does: "nothing advances while blocked; the status comment lists each blocker",
    },
    CommandDoc {
        usage: "`/skip <gate> <reason>`",
        short: &["/skip"],
        does: "admins only: lets an open `requirement`, `plan`, `review`, `tests` or `staging` gate through, on the record; the skipper cannot approve production",
    },
    CommandDoc {
        usage: "`/skip task <n> <reason>`",
        short: &[],
        does: "admins only: a development task counts as done for the tasks that wait for it, on the record",
    },
    CommandDoc {
        usage: "`/priority low\\|medium\\|high\\|critical`",
        short: &["/priority"],
        does: "recorded, shown in the status comment and check run",
    },
    CommandDoc {
        usage: "`/status`, `/help`",
        short: &["/status", "/help"],
        does: "answers with the gates / the command list",
    },
];

/// The command table (Markdown), as `/help` answers and the README shows it.
pub fn command_table() -> String {
    let mut t = String::from("| command | effect |\n|---|---|\n");
    for c in COMMANDS {
        t.push_str(&format!("| {} | {} |\n", c.usage, c.does));
    }
    t
}

/// The `/help` answer.
pub fn help() -> String {
    // The table starts on a line of its own: the reply's `@login: ` prefix would otherwise
    // turn its header row into text.
    format!(
        "shipgate's commands:\n\n{}\nOne per line, on a line of its own as GitHub shows it (not in code, quotes, lists or HTML); the check run's buttons do what their command does.",
        command_table()
    )
}

/// The status comment's last line: every command by name.
pub fn footer() -> String {
    let names = code_list(COMMANDS.iter().flat_map(|c| c.short));
    format!("<sub>Commands: {names}.</sub>")
}

/// A check-run button (GitHub's `actions` of `checks/create`: label ≤ 20 characters,
/// description ≤ 40, identifier ≤ 20). A button is a command by another route: pressing it
/// runs [`Button::command`] with the same authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Button {
    ApproveProduction,
    Retry,
    Rollback,
    Resume,
    DeployStaging,
}

impl Button {
    pub const ALL: [Button; 5] = [
        Button::ApproveProduction,
        Button::Retry,
        Button::Rollback,
        Button::Resume,
        Button::DeployStaging,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Button::ApproveProduction => "Approve prod",
            Button::Retry => "Retry",
            Button::Rollback => "Rollback",
            Button::Resume => "Resume",
            Button::DeployStaging => "Deploy staging",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Button::ApproveProduction => "Merge, then deploy to production",
            Button::Retry => "Retry the stage that failed",
            Button::Rollback => "Redeploy the last good version",
            Button::Resume => "Resume the paused pipeline",
            Button::DeployStaging => "Deploy the PR's head to staging now",
        }
    }

    /// What GitHub sends back in `check_run.requested_action.identifier`.
    pub fn identifier(self) -> &'static str {
        match self {
            Button::ApproveProduction => "approve_prod",
            Button::Retry => "retry",
            Button::Rollback => "rollback",
            Button::Resume => "resume",
            Button::DeployStaging => "deploy_staging",
        }
    }

    /// The button a `check_run.requested_action` names, by identifier.
    pub fn from_identifier(identifier: &str) -> Option<Button> {
        Button::ALL
            .into_iter()
            .find(|b| b.identifier() == identifier)
    }

    /// The command the button stands for.
    pub fn command(self) -> Command {
        match self {
            Button::ApproveProduction => Command::Approve(ApproveTarget::Production),
            Button::Retry => Command::Retry(None),
            Button::Rollback => Command::Rollback(None),
            Button::Resume => Command::Resume,
            Button::DeployStaging => Command::Deploy(Environment::Staging),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_lists_the_commands_help_gives() {
        let readme = include_str!("../../README.md");
        assert!(
            readme.contains(&command_table()),
            "README's command table differs from COMMANDS:\n{}",
            command_table()
        );
    }

    #[test]
    fn reading_stops_one_past_the_most_commands_a_comment_runs() {
        let body = "/status\n".repeat(20_000);
        assert_eq!(parse(&body).len(), MAX_COMMANDS_PER_COMMENT + 1);
    }

    fn commands(body: &str) -> Vec<CommandLine> {
        parse(body)
    }

    #[test]
    fn one_command_per_line_with_arguments() {
        assert_eq!(
            commands("Looks good.\n/approve plan\n/reject   not now, sorry \n/retry tests"),
            vec![
                CommandLine::Command(Command::Approve(ApproveTarget::Plan)),
                CommandLine::Command(Command::Reject(Some("not now, sorry".into()))),
                CommandLine::Command(Command::Retry(Some("tests".into()))),
            ]
        );
        assert_eq!(
            commands("/APPROVE"),
            vec![CommandLine::Command(Command::Approve(
                ApproveTarget::Current
            ))]
        );
    }

    #[test]
    fn code_blocks_quotes_and_prose_are_not_commands() {
        let body = "\
> /approve
```sh
/approve
```
~~~~
/reject
~~~~
    /pause
Run /usr/bin/env or / 2 or see `/approve` inline.
/status";
        assert_eq!(commands(body), vec![CommandLine::Command(Command::Status)]);
    }

    #[test]
    fn unknown_and_malformed_commands_are_reported_not_dropped() {
        assert_eq!(
            commands("/frobnicate now"),
            vec![CommandLine::Unknown("frobnicate".into())]
        );
        assert!(matches!(
            &commands("/approve everything")[0],
            CommandLine::Malformed { command, .. } if command == "approve"
        ));
        assert!(matches!(
            &commands("/pause please")[0],
            CommandLine::Malformed { .. }
        ));
        assert!(matches!(
            &commands("/block")[0],
            CommandLine::Malformed { .. }
        ));
    }

    #[test]
    fn an_unclosed_fence_hides_the_rest() {
        assert_eq!(commands("```\n/approve\n"), vec![]);
    }
}
