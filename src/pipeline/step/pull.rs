//! The pull request that drives the pipeline, and its reviews.
//!
//! Which PR: of the open PRs that name the issue, one from this repository by someone with
//! write access wins over any other, and a fork's never displaces it; the others are told
//! why they do not drive it, and the status lists them. What the PR is: GitHub's current
//! word (the shell reads the PR and its commits before each step), so a late or re-sent
//! delivery never rewinds the head. Its base must be the default branch, which production
//! runs. Reviews are ordered by GitHub's `submitted_at`, then id: an older review never
//! replaces a newer one, and a dismissed one never comes back.
//!
//! Must not: link a PR that does not name the issue, or let a bot's review approve.

use super::Step;
use crate::pipeline::gates::{GateKind, base_problem, changed_the_code};
use crate::pipeline::linking;
use crate::pipeline::model::*;
use crate::pipeline::text::short;
use crate::pipeline::views::{refusals as say, replies};

/// The trust of a PR from this repository by someone with write access (see
/// [`PullRequest::trust`]): enough to replace a closed PR from the pipeline's own branch.
const WRITERS: u8 = 2;

/// The record of a PR as GitHub reports it now.
fn record(pr: &PullSnapshot) -> PullRequest {
    PullRequest {
        number: pr.number,
        author: pr.author.clone(),
        head_sha: pr.head_sha.clone(),
        head_branch: pr.head_branch.clone(),
        base_branch: pr.base_branch.clone(),
        from_fork: pr.from_fork,
        author_access: pr.author_access,
        draft: pr.draft,
        open: pr.open,
        merged: pr.merged,
        merge_commit_sha: pr.merge_commit_sha.clone(),
        url: pr.url.clone(),
        title: pr.title.clone(),
        contributors: pr.contributors.iter().cloned().collect(),
        pushers: Default::default(),
    }
}

impl Step<'_> {
    pub(super) fn on_pull(&mut self, pr: &PullSnapshot) {
        let names_issue = linking::pull_request_issues(&pr.body, &pr.head_branch, &self.p.repo)
            .contains(&self.p.issue);
        let candidate = record(pr);
        let own = self.p.branch.clone();
        let Some(linked) = self.p.pr.clone() else {
            if names_issue && pr.open {
                self.link_pull(pr);
            }
            return;
        };
        if linked.number == pr.number {
            return self.update_pull(linked, pr);
        }
        if !names_issue || !pr.open {
            self.p.passed_over.remove(&pr.number);
            return;
        }
        // More trusted than the linked PR, or as trusted as a linked PR that was closed:
        // it takes the pipeline. A less trusted one never does, open or closed.
        // Never once merged, or while shipgate merges it: that PR is what goes out.
        let settled = linked.merged || self.p.merge.is_some();
        let (theirs, ours) = (candidate.trust(&own), linked.trust(&own));
        let closed = !linked.open && !linked.merged;
        if !settled && (theirs > ours || (closed && (theirs >= ours || theirs >= WRITERS))) {
            if linked.open {
                let why = replies::displaced(&candidate, &linked, &own);
                self.reply(
                    linked.number,
                    replies::no_longer_drives(&self.p.name(), &why),
                );
                self.p.passed_over.insert(linked.number, why);
            }
            self.link_pull(pr);
        } else if !self.p.passed_over.contains_key(&pr.number) {
            let why = replies::linked_first(&linked, &candidate, &own);
            self.reply(
                pr.number,
                replies::does_not_drive(self.p.issue, &self.p.name(), &why),
            );
            self.p.passed_over.insert(pr.number, why);
        }
    }

    /// Makes `pr` the pipeline's PR (the first, or one that replaces another).
    fn link_pull(&mut self, pr: &PullSnapshot) {
        let old = self.p.pr.take();
        self.p.passed_over.remove(&pr.number);
        if let Some(old) = &old {
            // A new PR replaces another: that one's reviews are not this one's.
            self.p.reviews.clear();
            self.emit(Action::SyncCheckRun {
                sha: old.head_sha.clone(),
            });
        }
        let linked = record(pr);
        if let Some(problem) = base_problem(&self.p, &linked) {
            self.reply(linked.number, replies::wrong_base(&problem, false));
        }
        self.p.pr = Some(linked);
        self.after_pull_change(pr, false);
    }

    /// The linked PR as GitHub reports it now.
    fn update_pull(&mut self, old: PullRequest, pr: &PullSnapshot) {
        let mut new = record(pr);
        if new.contributors.is_empty() {
            // GitHub could not list the commits this time: who wrote them is still known.
            new.contributors = old.contributors.clone();
        }
        new.pushers = old.pushers.clone();
        if old.base_branch != new.base_branch {
            match base_problem(&self.p, &new) {
                Some(problem) => self.reply(new.number, replies::wrong_base(&problem, true)),
                None => self.reply(new.number, replies::base_fixed(&new)),
            }
        }
        self.p.pr = Some(new);
        if old.head_sha != pr.head_sha {
            self.on_new_head(&old.head_sha, &pr.head_sha);
        }
        self.after_pull_change(pr, old.merged);
    }

    /// What the linked PR's state means now; `was_merged`: it was known merged before (so
    /// a merge outside shipgate has been said already).
    fn after_pull_change(&mut self, pr: &PullSnapshot, was_merged: bool) {
        if pr.merged
            && !was_merged
            && self.p.merge.is_none()
            && matches!(
                self.p.phase,
                Phase::Review | Phase::Staging | Phase::Readiness
            )
        {
            let on = self.p.issue;
            self.reply(on, replies::merged_outside(pr.number));
        }
        // GitHub's current state decides, not the action that was delivered (a late
        // `closed` for a reopened PR changes nothing).
        if ((!pr.open && !pr.merged) || pr.draft)
            && matches!(
                self.p.phase,
                Phase::Review | Phase::Staging | Phase::Readiness
            )
        {
            self.set_phase(Phase::Development);
        }
    }

    fn on_new_head(&mut self, old: &str, new: &str) {
        let author = self
            .p
            .pr
            .as_ref()
            .map(|p| p.author.clone())
            .unwrap_or_default();
        if self.cfg.config.review.dismiss_stale {
            let stale: Vec<String> = self
                .p
                .reviews
                .iter()
                .filter(|(login, r)| {
                    r.state == ReviewState::Approved && r.sha == old && **login != author
                })
                .map(|(login, _)| format!("@{login}"))
                .collect();
            if !stale.is_empty() {
                let issue = self.p.pr.as_ref().map_or(self.p.issue, |p| p.number);
                self.reply(issue, replies::approvals_stale(new, &stale));
            }
        }
        let unmerged = self.p.merge.as_ref().is_none_or(|m| m.sha.is_none());
        if unmerged && self.p.production.take().is_some() {
            self.p.production_sha = None;
            self.p.merge = None;
            let on = self.p.pr.as_ref().map_or(self.p.issue, |p| p.number);
            self.reply(on, replies::production_approval_stale(new));
        }
        let old = old.to_owned();
        self.cancel_watchdogs(|r| r.sha == old);
        // Marks the old SHA's check run superseded (the executor skips it if none exists).
        self.emit(Action::SyncCheckRun { sha: old });
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_review(
        &mut self,
        id: u64,
        action: &ReviewAction,
        state: ReviewState,
        sha: &str,
        pr: u64,
        reviewer: &Actor,
        submitted_at: i64,
    ) {
        let Some(linked) = self.p.pr.as_ref().filter(|p| p.number == pr) else {
            return;
        };
        // The author's own review never counts, whatever its state.
        if reviewer.is_self || reviewer.login == linked.author {
            return;
        }
        if let Some(known) = self.p.reviews.get(&reviewer.login)
            && (known.is_newer_than(submitted_at, id)
                || (known.id == id && known.state == ReviewState::Dismissed))
        {
            return; // an older review, or one already dismissed, never comes back
        }
        let record = |state| ReviewRecord {
            id,
            state,
            sha: sha.to_owned(),
            access: reviewer.access,
            submitted_at,
        };
        match action {
            ReviewAction::Dismissed => {
                // Kept as a dismissal, so a late delivery of the review itself is not
                // taken for a new one.
                self.p
                    .reviews
                    .insert(reviewer.login.clone(), record(ReviewState::Dismissed));
            }
            ReviewAction::Submitted => {
                if state == ReviewState::Commented {
                    return; // a comment neither approves nor blocks
                }
                if state == ReviewState::Approved {
                    let allowed = if changed_the_code(&self.p, &reviewer.login) {
                        Err(say::committer_cannot_review(&reviewer.login, pr))
                    } else {
                        self.authorise(
                            reviewer,
                            Some(GateKind::Review),
                            "approve this pull request",
                        )
                    };
                    if let Err(why) = allowed {
                        self.audit(
                            &reviewer.login,
                            "refused",
                            format!("review of #{pr}: {why}"),
                        );
                        self.reply(pr, replies::approval_not_counted(&why));
                        if reviewer.is_bot {
                            return; // a bot's approval is not even recorded
                        }
                    } else {
                        self.audit(
                            &reviewer.login,
                            "approve review",
                            format!("#{pr} at `{}`", short(sha)),
                        );
                    }
                }
                self.p.reviews.insert(reviewer.login.clone(), record(state));
            }
        }
    }

    /// Remembers who pushed to the linked PR: they may not approve it.
    pub(super) fn note_pusher(&mut self, number: u64, login: &str) {
        if let Some(pr) = self.p.pr.as_mut().filter(|p| p.number == number) {
            pr.pushers.insert(login.to_owned());
        }
    }
}
