//! Reading issue and PR text: the feature branch name, which issues a PR closes, the
//! requirement's sections and its task list (as [`Task`]s).
//!
//! Must not: do I/O. The worker uses these to find a PR's pipeline; `step` uses them to
//! decide.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::markdown;

/// One task of the plan: a task-list line of the issue, or a sub-issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub text: String,
    pub done: bool,
    /// A sub-issue's number; `None` for a task-list line.
    pub issue: Option<u64>,
    /// For a sub-issue: the issues GitHub says block it ("blocked by", issue numbers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocked_by: Vec<u64>,
}

/// `feature/REQ-<n>-<slug>` from the issue's number and title.
pub fn branch_name(issue: u64, title: &str) -> String {
    let mut slug = String::new();
    for word in title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if slug.len() + word.len() + 1 > 40 {
            break;
        }
        if !slug.is_empty() {
            slug.push('-');
        }
        slug.push_str(&word.to_ascii_lowercase());
    }
    if slug.is_empty() {
        format!("feature/REQ-{issue}")
    } else {
        format!("feature/REQ-{issue}-{slug}")
    }
}

static BRANCH: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^feature/REQ-(\d+)(?:-|$)").expect("valid regex"));

/// The issue a `feature/REQ-<n>-…` branch belongs to.
pub fn branch_issue(branch: &str) -> Option<u64> {
    BRANCH.captures(branch)?.get(1)?.as_str().parse().ok()
}

static CLOSING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s*:?\s+(?:https://[^\s/]+/([\w.-]+/[\w.-]+)/issues/|([\w.-]+/[\w.-]+)?#)(\d+)\b",
    )
    .expect("valid regex")
});

/// Issues of `repo` (`owner/name`) that a PR body closes with GitHub's closing keywords.
pub fn closed_issues(body: &str, repo: &str) -> Vec<u64> {
    let mut out: Vec<u64> = CLOSING
        .captures_iter(body)
        .filter(|c| {
            c.get(1)
                .or(c.get(2))
                .is_none_or(|r| r.as_str().eq_ignore_ascii_case(repo))
        })
        .filter_map(|c| c.get(3)?.as_str().parse().ok())
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The issues a PR may belong to: those it closes, and the one its branch is named for.
pub fn pull_request_issues(body: &str, head_branch: &str, repo: &str) -> Vec<u64> {
    let mut out = closed_issues(body, repo);
    out.extend(branch_issue(head_branch));
    out.sort_unstable();
    out.dedup();
    out
}

/// Whether `text` contains `token` as a whole word (so `REQ-1-t1` is not found in
/// `REQ-1-t12`), wherever workflows put it in their run name.
pub fn contains_token(text: &str, token: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    text.match_indices(token).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + token.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

fn normalise_heading(text: &str) -> String {
    text.trim().trim_end_matches(':').trim().to_lowercase()
}

/// The required section headings the body lacks: headings as GitHub renders them (ATX or
/// setext, any level, any case, a trailing colon ignored), not in code, HTML comments or quotes.
pub fn missing_sections(body: &str, required: &[String]) -> Vec<String> {
    let headings: Vec<String> = markdown::headings(body)
        .iter()
        .map(|h| normalise_heading(h))
        .collect();
    required
        .iter()
        .filter(|r| !headings.contains(&normalise_heading(r)))
        .cloned()
        .collect()
}

/// The task-list items that are tasks: those with text (`- [ ]` alone is no task). What
/// [`task_list`] reads and `plan::tick_task` ticks, so both count the same items.
pub fn task_items(body: &str) -> Vec<markdown::TaskItem> {
    markdown::task_items(body)
        .into_iter()
        .filter(|t| !t.text.is_empty())
        .collect()
}

/// The body's task list: GitHub's task-list items (`- [ ] …`, `+ [x] …`, `1. [ ] …`, nested
/// ones too), not in code, HTML comments or quotes.
pub fn task_list(body: &str) -> Vec<Task> {
    task_items(body)
        .into_iter()
        .map(|t| Task {
            text: t.text,
            done: t.checked,
            issue: None,
            blocked_by: vec![],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names_are_stable_and_safe() {
        assert_eq!(
            branch_name(12, "Export invoices as CSV (finance)"),
            "feature/REQ-12-export-invoices-as-csv-finance"
        );
        assert_eq!(branch_name(3, "!!!"), "feature/REQ-3");
        assert!(branch_name(9, &"word ".repeat(40)).len() <= "feature/REQ-9-".len() + 40);
        assert_eq!(branch_issue("feature/REQ-12-export"), Some(12));
        assert_eq!(branch_issue("feature/REQ-12"), Some(12));
        assert_eq!(branch_issue("feature/REQ-123x"), None);
        assert_eq!(branch_issue("main"), None);
    }

    #[test]
    fn closing_keywords_link_issues_of_this_repository_only() {
        let body = "Closes #12, fixes: #13 and resolves acme/widgets#14.\n\
                    Also fixes other/repo#15 and mentions #16.\n\
                    Fixed https://github.com/acme/widgets/issues/17";
        assert_eq!(closed_issues(body, "acme/widgets"), vec![12, 13, 14, 17]);
        assert_eq!(
            pull_request_issues("", "feature/REQ-4-x", "acme/widgets"),
            vec![4]
        );
    }

    #[test]
    fn correlations_are_whole_words_in_run_names() {
        assert!(contains_token("tests (REQ-1-t3)", "REQ-1-t3"));
        assert!(contains_token("tests REQ-1-t3", "REQ-1-t3"));
        assert!(!contains_token("tests REQ-1-t31", "REQ-1-t3"));
        assert!(!contains_token("xREQ-1-t3", "REQ-1-t3"));
    }

    #[test]
    fn sections_are_headings_in_any_case_and_level() {
        let required = vec!["Acceptance criteria".to_owned(), "Rollout".to_owned()];
        let body = "Intro\n## acceptance Criteria:\n- works\n```\n# Rollout\n```\n";
        assert_eq!(missing_sections(body, &required), vec!["Rollout"]);
        assert_eq!(
            missing_sections("### Acceptance criteria ##\n#Rollout", &required),
            vec!["Rollout"],
            "`#Rollout` without a space is not a heading"
        );
    }

    #[test]
    fn task_lists_are_read_outside_code() {
        let tasks =
            task_list("- [ ] parse CSV\n* [x] add route\n```\n- [ ] not a task\n```\n- [] no");
        assert_eq!(
            tasks
                .iter()
                .map(|t| (t.text.as_str(), t.done))
                .collect::<Vec<_>>(),
            vec![("parse CSV", false), ("add route", true)]
        );
    }
}
