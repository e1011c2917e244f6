//! What shipgate says on an issue or a PR besides its status comment: answers to commands,
//! stage failures, fork and rollback notices, escalations — as named functions, so the
//! wording lives in one place and is snapshotted (refusals are in `refusals.rs`).
//!
//! Must not: decide anything.

use std::sync::LazyLock;

use regex::Regex;

use crate::pipeline::model::*;

/// The longest reply shipgate posts, in characters: well under GitHub's 65,536 for a
/// comment, leaving room for the effect's hidden marker.
pub const MAX_REPLY_CHARS: usize = 60_000;

/// A reply to `login`: `@login: body`, cut to [`MAX_REPLY_CHARS`] with a note saying so.
pub fn to(login: &str, body: &str) -> String {
    let reply = format!("@{login}: {body}");
    if reply.chars().count() <= MAX_REPLY_CHARS {
        return reply;
    }
    let note = "\n\n… (cut here: a reply is at most 60,000 characters)";
    let keep = MAX_REPLY_CHARS - note.chars().count();
    let end = reply
        .char_indices()
        .nth(keep)
        .map_or(reply.len(), |(i, _)| i);
    format!("{}{note}", &reply[..end])
}

pub fn stage_failed(stage: Stage, reason: &str) -> String {
    format!("⚠️ The **{stage}** stage failed: {reason}\n\nFix the cause, then comment `/retry`.")
}

/// `/approve production` accepted: PR `pr` is merged now, or when the pipeline resumes.
pub fn production_approved(pr: u64, paused: bool) -> String {
    if paused {
        "🚀 Production approved; the pipeline is paused, so the merge waits for `/resume`.".into()
    } else {
        format!("🚀 Production approved: merging #{pr}, then deploying it to production.")
    }
}

/// `/pause` (true) or `/resume` accepted.
pub fn paused(pause: bool) -> String {
    if pause {
        "⏸️ Paused: nothing new is dispatched until `/resume`.".into()
    } else {
        "▶️ Resumed.".into()
    }
}

pub fn blocked(reason: &str) -> String {
    format!("🚧 Blocked: nothing advances until `/unblock`. Reason: {reason}")
}

pub fn unblocked() -> String {
    "✅ Unblocked.".into()
}

pub fn priority_set(name: &str) -> String {
    format!("Priority set to **{name}**.")
}

/// The approval label removed again, and why.
pub fn label_removed(label: &str, why: &str) -> String {
    format!("Removed the `{label}` label: {why}.")
}

/// `/skip` accepted; `at` is ` at \`<sha>\`` for a skip tied to a head, else empty.
pub fn skipped(gate: &str, at: &str, login: &str, reason: &str, pipeline: &str) -> String {
    format!(
        "⏭️ The `{gate}` gate is skipped{at} by @{login}: {reason}. It is on the record, and @{login} \
         cannot approve production for {pipeline}."
    )
}

/// `/deploy staging` accepted.
pub fn deploying_staging(sha: &str) -> String {
    format!(
        "🚚 Deploying `{}` to staging.",
        crate::pipeline::text::short(sha)
    )
}

/// `/rollback` accepted: the last good deployment is being looked for.
pub fn rolling_back(environment: Environment) -> String {
    format!("⏪ Rolling {environment} back: looking for its last good deployment.")
}

/// `/rollback` found nothing to go back to (`by` is `@login`).
pub fn rollback_refused(by: &str, why: &str) -> String {
    format!("{by}: `/rollback` refused: {why}.")
}

/// A rollback finished: what is back where, why, by whom, and its run.
pub fn rolled_back(r: &RollbackRecord, sha: &str, run_url: &str) -> String {
    use crate::pipeline::text::short;
    let text = format!(
        "⏪ **Rolled back.** {} is back on `{}` (was `{}`).\n\n**Why:** {}\n\n**By:** {}\n\n[Rollback run]({run_url})",
        r.environment,
        short(sha),
        short(&r.from_sha),
        r.reason,
        r.by
    );
    if r.environment == Environment::Staging {
        format!("{text}\n\n`/retry` deploys this feature to staging again once it is fixed.")
    } else {
        text
    }
}

// ---- the pull request ----

/// Why a PR is trusted as much as it is, for people: `from this repository's branch
/// feature/REQ-1-x, by @dev (write access)`.
fn provenance(pr: &PullRequest, own_branch: &str) -> String {
    if pr.from_fork {
        return "from a fork".into();
    }
    let place = if pr.head_branch == own_branch {
        format!("from this repository's branch `{own_branch}`")
    } else {
        "from this repository".to_owned()
    };
    format!("{place}, by @{} ({})", pr.author, pr.author_access.name())
}

/// Why `candidate` now drives the pipeline instead of `linked`.
pub fn displaced(candidate: &PullRequest, linked: &PullRequest, own_branch: &str) -> String {
    format!(
        "#{} drives it instead: it is {}, and #{} is {}",
        candidate.number,
        provenance(candidate, own_branch),
        linked.number,
        provenance(linked, own_branch)
    )
}

/// Why `linked` keeps driving the pipeline and `candidate` does not.
pub fn linked_first(linked: &PullRequest, candidate: &PullRequest, own_branch: &str) -> String {
    format!(
        "#{} drives it: it was linked first and is {}{}; this one is {}",
        linked.number,
        provenance(linked, own_branch),
        if linked.open {
            ""
        } else {
            " (reopen it, or open one as trusted)"
        },
        provenance(candidate, own_branch)
    )
}

/// On a PR another one displaced; `why` says which drives the pipeline and why.
pub fn no_longer_drives(pipeline: &str, why: &str) -> String {
    format!("This pull request no longer drives {pipeline}: {why}.")
}

/// On a PR that names the issue but another one drives it.
pub fn does_not_drive(issue: u64, pipeline: &str, why: &str) -> String {
    format!("This pull request names #{issue} but does not drive {pipeline}: {why}.")
}

/// The PR targets another branch than production runs (`again`: it was changed to).
pub fn wrong_base(problem: &str, again: bool) -> String {
    if again {
        format!("⚠️ {problem}. Change its base back.")
    } else {
        format!("⚠️ {problem}. Change its base.")
    }
}

pub fn base_fixed(pr: &PullRequest) -> String {
    format!("#{} targets `{}` again.", pr.number, pr.base_branch)
}

pub fn merged_outside(pr: u64) -> String {
    format!(
        "#{pr} was merged outside shipgate before production was approved. Nothing goes to production until `/approve production`; the gates are judged on its last head."
    )
}

/// New commits at `head` made the approvals by `stale` (mentions) stale.
pub fn approvals_stale(head: &str, stale: &[String]) -> String {
    use crate::pipeline::text::{plural, short};
    format!(
        "New commits (`{}`): the approval{} by {} no longer count{} — a new review of the current head is needed.",
        short(head),
        plural(stale.len()),
        stale.join(", "),
        if stale.len() == 1 { "s" } else { "" },
    )
}

pub fn production_approval_stale(head: &str) -> String {
    format!(
        "New commits (`{}`) after the production approval: it no longer counts. The new head goes through review, tests and staging again.",
        crate::pipeline::text::short(head)
    )
}

pub fn approval_not_counted(why: &str) -> String {
    format!("This approval does not count toward the review gate: {why}.")
}

// ---- timeouts, incidents, warnings ----

/// The requirement waited `waited` unapproved: `escalate_to` are mentioned; it is rejected
/// after `reject_after` seconds.
pub fn escalated(waited: &str, escalate_to: &[String], reject_after: u64) -> String {
    let mention = if escalate_to.is_empty() {
        "Nobody is named in `requirement.escalate_to`.".to_owned()
    } else {
        format!(
            "{}: please review it.",
            escalate_to
                .iter()
                .map(|x| format!("@{}", x.trim_start_matches('@')))
                .collect::<Vec<_>>()
                .join(" ")
        )
    };
    format!(
        "⏰ This requirement has waited {waited} for approval. {mention} It is rejected after {}.",
        crate::pipeline::text::format_duration(reject_after)
    )
}

pub fn plan_auto_approved(waited: &str) -> String {
    format!(
        "⚠️ Nobody approved the plan in {waited}: shipgate approved it (`plan.auto_approve_after`). Check the tasks before the work goes far."
    )
}

pub fn rejected_by_timeout(reason: &str) -> String {
    format!("❌ Rejected: {reason}.")
}

pub fn incident_opened(number: u64) -> String {
    format!("🚨 Incident #{number} is open for this production rollback.")
}

pub fn incident_not_opened(why: &str) -> String {
    format!("⚠️ Could not open the incident issue for this rollback: {why}")
}

/// Something that failed, said on its own (on the incident issue).
pub fn failed(why: &str) -> String {
    format!("❌ {why}.")
}

/// Something shipgate noticed and ignored (a run it did not start, say).
pub fn warning(what: &str) -> String {
    format!("⚠️ {what}")
}

/// `/stop` accepted: `runs` says what was cancelled; production is rolled back if it was
/// being deployed or watched.
pub fn stopped(runs: &str, rolling_back: bool) -> String {
    if rolling_back {
        format!("⏹️ Stopped: {runs}; rolling production back.")
    } else {
        format!("⏹️ Stopped: {runs}. Nothing more happens.")
    }
}

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

/// A development task failed on every develop workflow.
pub fn task_failed(id: u64, title: &str, why: &str) -> String {
    format!(
        "⚠️ Task {id} “{title}” failed on every develop workflow ({why}). Tasks that wait for it \
         wait. `/retry task {id}` tries again; an admin's `/skip task {id} <reason>` lets the \
         others go on."
    )
}

/// On a task's sub-issue, as shipgate closes it: the run that did it.
pub fn task_done(pipeline: &str, id: u64, run_url: &str) -> String {
    format!("✅ Done for {pipeline} (task {id}) by [this run]({run_url}).")
}

/// `/skip task <n> <reason>` accepted.
pub fn task_skipped(id: u64, reason: &str) -> String {
    format!("⏭️ Task {id} is skipped: {reason}. It is on the record.")
}

/// `/retry task <n>` or `/skip task <n>` names no task of the plan.
pub fn no_such_task(id: u64) -> String {
    format!("there is no task {id} in development (the status comment lists them)")
}

/// `/retry task <n>` on a task that has not failed.
pub fn task_not_failed(id: u64) -> String {
    format!("task {id} has not failed")
}

/// `/skip task <n>` on a task that is done or skipped.
pub fn task_settled(id: u64) -> String {
    format!("task {id} is already done or skipped")
}

/// The body of the PR shipgate opens itself (`develop.open_pr`): it closes the issue, and says
/// why it is a draft.
pub fn own_pull_body(p: &Pipeline, draft: bool) -> String {
    let why = if draft {
        "It stays a draft until every task of the plan is done; shipgate then marks it ready \
         for review."
    } else {
        "Every task of the plan is done."
    };
    format!(
        "Closes #{}.\n\nOpened by shipgate for {}: the development tasks push to `{}`. {why}",
        p.issue,
        p.name(),
        p.branch
    )
}
