//! The replies shipgate posts on an issue or a PR, as named functions: what a command or a
//! button was refused for is built where it is decided; the texts that stand alone are here.
//!
//! Must not: decide anything.

use std::sync::LazyLock;

use regex::Regex;

use crate::pipeline::model::*;

/// What shipgate says about a fork's PR: it never runs or deploys its code.
pub fn fork_refusal(pr: &PullRequest) -> String {
    format!(
        "#{} comes from a fork. shipgate tracks its reviews but never dispatches workflows for it or deploys it: its code would run with this repository's secrets. Push the branch to this repository to test and deploy it.",
        pr.number
    )
}

static CONVENTIONAL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([a-z]+)(?:\(([^)\s]+)\))?!?:\s*\S").expect("valid regex"));

/// The merge commit's title, `<type>(<scope>): <issue title> (#<pr>)`: type and scope from
/// the PR title's conventional-commit prefix when it has one, else `feat` and `REQ-<n>`.
pub fn merge_title(p: &Pipeline, pr: &PullRequest) -> String {
    let (kind, scope) = match CONVENTIONAL.captures(&pr.title) {
        Some(c) => (
            c[1].to_owned(),
            c.get(2)
                .map(|s| s.as_str().to_owned())
                .unwrap_or_else(|| p.name()),
        ),
        None => ("feat".to_owned(), p.name()),
    };
    format!("{kind}({scope}): {} (#{})", p.title.trim(), pr.number)
}
