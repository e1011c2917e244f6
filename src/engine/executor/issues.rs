//! Effects on the feature issue and its PR's conversation: the status comment, replies,
//! reactions, phase labels, closing the issue, and incident issues.

use std::collections::BTreeSet;

use super::{Attempt, Executor};
use crate::github::client::NewIssue;
use crate::github::rest::GitHubError;
use crate::pipeline::model::EffectResult;
use crate::pipeline::views;
use crate::pipeline::views::incident::INCIDENT_LABEL;

type Done = Result<Option<EffectResult>, GitHubError>;

impl Executor {
    /// The one status comment: edited by its id, else found by its hidden marker among the
    /// bot's comments (anyone can paste the marker), else created. (`issues/update-comment`,
    /// `issues/list-comments`, `issues/create-comment`)
    ///
    /// An edit that would leave the comment as shipgate last drew it is not sent. The marker
    /// is looked for only when an attempt of this effect may have created the comment: a
    /// comment shipgate created is otherwise known by its id (its result is recorded with
    /// the effect that created it).
    pub(super) async fn sync_status_comment(&self, at: &Attempt<'_>) -> Done {
        let (p, repo, gh) = (at.p, at.repo, self.github());
        let body = views::status_comment(p, at.cfg);
        let surface = self.surface(p.id, "status".into());
        if let Some(id) = p.status_comment {
            if surface.shows(id, &body).await {
                return Ok(None);
            }
            match gh.update_issue_comment(repo, id, &body).await {
                Ok(_) => {
                    surface.drew(id, &body).await;
                    return Ok(None);
                }
                Err(e) if e.is_not_found() => {} // deleted by someone: write it again
                Err(e) => return Err(e),
            }
        }
        let found = if at.may_have_run {
            let marker = views::status_marker(p.id);
            let bot = self.resolver.bot_login().await.ok();
            gh.list_issue_comments(repo, p.issue)
                .await?
                .into_iter()
                .find(|c| {
                    Some(&c.user.login) == bot.as_ref()
                        && c.body.as_deref().is_some_and(|b| b.starts_with(&marker))
                })
        } else {
            None
        };
        let id = match found {
            Some(c) => gh.update_issue_comment(repo, c.id, &body).await?.id,
            None => gh.create_issue_comment(repo, p.issue, &body).await?.id,
        };
        surface.drew(id, &body).await;
        Ok(Some(EffectResult::StatusComment { id }))
    }

    /// A reply, ending with a hidden marker naming the effect, by which a retry finds it.
    pub(super) async fn reply(&self, at: &Attempt<'_>, on: u64, body: &str) -> Done {
        let gh = self.github();
        let marker = format!("<!-- shipgate:reply {} -->", at.key);
        if at.may_have_run {
            let comments = gh.list_issue_comments(at.repo, on).await?;
            if comments.iter().any(|c| {
                c.body
                    .as_deref()
                    .is_some_and(|b| b.trim_end().ends_with(&marker))
            }) {
                return Ok(None);
            }
        }
        gh.create_issue_comment(at.repo, on, &format!("{body}\n\n{marker}"))
            .await?;
        Ok(None)
    }

    /// 👀 on a comment whose commands were read (GitHub answers 200 with an existing one).
    pub(super) async fn react(&self, at: &Attempt<'_>, comment_id: u64) -> Done {
        self.github()
            .add_reaction(at.repo, comment_id, "eyes")
            .await?;
        Ok(None)
    }

    /// The phase label, drawn from the state like the other redraws (so that effects of
    /// this kind may run in any order): the label of the phase the pipeline is in now
    /// (created first if missing) is added and each of `remove` — and `add`, if the pipeline
    /// has left that phase since — is removed, in one GraphQL request by node ids (labels
    /// the repository does not have are left out). When an id no longer resolves (a label
    /// deleted, perhaps made again), the ids are read again, once.
    pub(super) async fn set_phase_label(
        &self,
        at: &Attempt<'_>,
        add: &str,
        remove: &[String],
    ) -> Done {
        let gh = self.github();
        let now = at.p.phase.label();
        let stale: BTreeSet<&str> = remove
            .iter()
            .map(String::as_str)
            .chain([add])
            .filter(|l| *l != now)
            .collect();
        let mut labelable = match &at.p.issue_node_id {
            Some(id) => id.clone(),
            // A pipeline from before shipgate kept the issue's node id (its next `issues`
            // delivery, such as this change's own `labeled`, brings it).
            None => gh.issue_node_id(at.repo, at.p.issue).await?,
        };
        let mut read_again = false;
        loop {
            let current = self.ensure_label(at.repo, &now).await?;
            let mut old = Vec::new();
            for name in &stale {
                old.extend(self.label_id(at.repo, name).await?);
            }
            match gh.relabel(at.repo, &labelable, &[current], &old).await {
                // GraphQL does not say which id resolved to nothing: the issue's is read
                // again (a deleted or transferred issue fails here, as REST would) and the
                // labels' too.
                Err(e) if e.is_not_found() && !read_again => {
                    labelable = gh.issue_node_id(at.repo, at.p.issue).await?;
                    self.forget_labels(at.repo);
                    read_again = true;
                }
                done => return done.map(|()| None),
            }
        }
    }

    pub(super) async fn remove_label(&self, at: &Attempt<'_>, label: &str) -> Done {
        self.github()
            .remove_label(at.repo, at.p.issue, label)
            .await?;
        Ok(None)
    }

    /// Closes issue `number` as completed; closing a closed issue again changes nothing.
    /// (`issues/update`)
    pub(super) async fn close_issue(&self, at: &Attempt<'_>, number: u64) -> Done {
        self.github().close_issue(at.repo, number).await?;
        Ok(None)
    }

    /// Ticks a task-list item of the feature issue, read just before: a retry finds it
    /// ticked and changes nothing. (`issues/get`, `issues/update`)
    pub(super) async fn tick_task(&self, at: &Attempt<'_>, title: &str, nth: usize) -> Done {
        let gh = self.github();
        let body = gh.issue_body(at.repo, at.p.issue).await?;
        if let Some(ticked) = crate::pipeline::plan::tick_task(&body, title, nth) {
            gh.set_issue_body(at.repo, at.p.issue, &ticked).await?;
        }
        Ok(None)
    }

    /// An incident issue, found by its marker among `shipgate:incident` issues before one is
    /// created: a retry after a crash finds the issue it opened.
    pub(super) async fn open_incident(
        &self,
        at: &Attempt<'_>,
        marker: &str,
        title: &str,
        body: &str,
        assignee: Option<&str>,
    ) -> Done {
        let (repo, gh) = (at.repo, self.github());
        let label = INCIDENT_LABEL;
        let found = gh
            .issues_labelled(repo, label)
            .await?
            .into_iter()
            .find(|i| i.body.as_deref().is_some_and(|b| b.contains(marker)));
        let number = match found {
            Some(issue) => issue.number,
            None => {
                self.ensure_label(repo, label).await?;
                let mut issue = NewIssue {
                    title: title.to_owned(),
                    body: body.to_owned(),
                    labels: vec![label.to_owned()],
                    assignees: assignee.iter().map(|a| (*a).to_owned()).collect(),
                };
                match gh.create_issue(repo, &issue).await {
                    // GitHub refuses an assignee it cannot assign (a bot, someone without
                    // access): the incident matters more than who has it.
                    Err(GitHubError::Status { status: 422, .. }) if !issue.assignees.is_empty() => {
                        issue.assignees.clear();
                        gh.create_issue(repo, &issue).await?
                    }
                    other => other?,
                }
            }
        };
        Ok(Some(EffectResult::IncidentOpened { number }))
    }
}
