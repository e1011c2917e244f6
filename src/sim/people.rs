//! What people do on GitHub, as the simulator's tests drive it: open and label issues,
//! comment, open pull requests, push, review. Each changes the simulator's state and sends
//! the webhooks GitHub sends for it (validated against the webhook description like every
//! other webhook the simulator sends).
//!
//! Must not: bypass the webhook queue (ordering and signatures are the queue's job).

use serde_json::{Value, json};

use super::Simulator;
use super::render;
use super::state::{Issue, Label, OutgoingWebhook, Pull, SimState};

/// Queues `<event>.<action>` for a repository, with `repository`, `sender` and
/// `installation` filled in.
pub fn repo_event(
    s: &mut SimState,
    full_name: &str,
    event: &str,
    action: &str,
    sender: &str,
    mut fields: Value,
) {
    s.ensure_user(sender);
    let r = &s.repos[full_name];
    if !action.is_empty() {
        fields["action"] = json!(action); // `push` has none
    }
    fields["repository"] = render::repository(s, r);
    fields["sender"] = render::user(s, sender);
    let installation_id = s.installation_for(full_name).map(|i| i.id);
    if let Some(id) = installation_id {
        fields["installation"] =
            json!({"id": id, "node_id": format!("MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9u{id}")});
    }
    let repository_id = Some(r.id);
    s.outbox.push(OutgoingWebhook {
        event: event.to_owned(),
        action: (!action.is_empty()).then(|| action.to_owned()),
        installation_id,
        repository_id,
        payload: fields,
    });
}

/// An issue the simulator holds, to change (tests name only issues they made).
fn issue_mut<'a>(s: &'a mut SimState, repo: &str, number: u64) -> &'a mut Issue {
    s.repo_mut(repo)
        .expect("known repository")
        .issues
        .get_mut(&number)
        .expect("known issue")
}

fn ensure_label(s: &mut SimState, full_name: &str, name: &str) -> Label {
    let id = s.next_id();
    s.repo_mut(full_name)
        .expect("known repository")
        .labels
        .entry(name.to_lowercase())
        .or_insert_with(|| Label {
            id,
            name: name.to_owned(),
            color: "ededed".into(),
            description: None,
        })
        .clone()
}

/// Webhooks carry the issue with its reactions rollup (the REST answer may omit it).
fn issue_json(s: &SimState, full_name: &str, number: u64) -> Value {
    let r = &s.repos[full_name];
    let mut issue = render::issue(s, r, &r.issues[&number]);
    issue["reactions"] =
        reactions_rollup(&s.api_url(&format!("repos/{full_name}/issues/{number}/reactions")));
    issue
}

fn reactions_rollup(url: &str) -> Value {
    json!({"url": url, "total_count": 0, "+1": 0, "-1": 0, "laugh": 0, "confused": 0, "heart": 0, "hooray": 0, "eyes": 0, "rocket": 0})
}

fn pull_json(s: &SimState, full_name: &str, number: u64) -> Value {
    let r = &s.repos[full_name];
    render::pull(s, r, &r.pulls[&number])
}

/// `issues.labeled` (also when the App labels an issue through the API).
pub fn labeled(s: &mut SimState, full_name: &str, number: u64, label: &str, sender: &str) {
    label_event(s, full_name, number, label, sender, "labeled");
}

/// `issues.unlabeled`.
pub fn unlabeled(s: &mut SimState, full_name: &str, number: u64, label: &str, sender: &str) {
    label_event(s, full_name, number, label, sender, "unlabeled");
}

/// A label change on an issue (`issues.<action>`) or a pull request (`pull_request.<action>`).
fn label_event(
    s: &mut SimState,
    full_name: &str,
    number: u64,
    label: &str,
    sender: &str,
    action: &str,
) {
    let l = ensure_label(s, full_name, label);
    let r = &s.repos[full_name];
    let label = render::label(s, r, &l);
    let (event, fields) = if r.issues[&number].is_pull_request {
        let pr = pull_json(s, full_name, number);
        (
            "pull_request",
            json!({"number": number, "pull_request": pr, "label": label}),
        )
    } else {
        let issue = issue_json(s, full_name, number);
        ("issues", json!({"issue": issue, "label": label}))
    };
    repo_event(s, full_name, event, action, sender, fields);
}

/// `issues.<action>` (`closed`, `reopened`, …) for an issue the simulator holds.
pub fn issue_event(s: &mut SimState, full_name: &str, number: u64, action: &str, sender: &str) {
    let issue = issue_json(s, full_name, number);
    repo_event(
        s,
        full_name,
        "issues",
        action,
        sender,
        json!({"issue": issue}),
    );
}

/// A relation between two issues of one repository, as GitHub announces it: `<event>` with
/// the first action from the `(over, under)` pair's first side, then the mirror action from
/// the other. `sub_issues`: `over` is the parent, `under` the sub-issue;
/// `issue_dependencies`: `over` blocks `under`.
fn issue_pair_events(
    s: &mut SimState,
    repo: &str,
    who: &str,
    event: &str,
    (first, mirror): (&str, &str),
    (over, under): (u64, u64),
) {
    let (a, b) = (issue_json(s, repo, over), issue_json(s, repo, under));
    let (a_id, b_id) = (a["id"].clone(), b["id"].clone());
    let repository = render::repository(s, &s.repos[repo]);
    let owner = s.repos[repo].owner.clone();
    let org = organization(s, &owner);
    for action in [first, mirror] {
        let fields = match event {
            "sub_issues" => {
                let side = if action == first {
                    "sub_issue_repo"
                } else {
                    "parent_issue_repo"
                };
                json!({"parent_issue_id": a_id, "parent_issue": a, "sub_issue_id": b_id,
                       "sub_issue": b, side: repository, "organization": org})
            }
            _ => {
                let side = if action == first {
                    "blocking_issue_repo"
                } else {
                    "blocked_issue_repo"
                };
                json!({"blocking_issue_id": a_id, "blocking_issue": a, "blocked_issue_id": b_id,
                       "blocked_issue": b, side: repository, "organization": org})
            }
        };
        repo_event(s, repo, event, action, who, fields);
    }
}

/// The repository owner as a webhook's `organization`.
fn organization(s: &SimState, login: &str) -> Value {
    let api = s.api_url(&format!("orgs/{login}"));
    let id = s.users.get(login).map_or(0, |u| u.id);
    json!({
        "login": login, "id": id, "node_id": format!("O_{id}"), "url": api,
        "repos_url": format!("{api}/repos"), "events_url": format!("{api}/events"),
        "hooks_url": format!("{api}/hooks"), "issues_url": format!("{api}/issues"),
        "members_url": format!("{api}/members{{/member}}"),
        "public_members_url": format!("{api}/public_members{{/member}}"),
        "avatar_url": s.html_url(&format!("avatars/{login}")), "description": null,
    })
}

/// `issue_comment.created` for a comment the simulator holds (also for the App's own).
pub fn comment_created(s: &mut SimState, repo: &str, id: u64, who: &str) {
    let r = &s.repos[repo];
    let number = r.comments[&id].issue_number;
    let mut comment = render::comment(s, r, &r.comments[&id]);
    comment["performed_via_github_app"] = Value::Null;
    comment["reactions"] =
        reactions_rollup(&s.api_url(&format!("repos/{repo}/issues/comments/{id}/reactions")));
    let issue = issue_json(s, repo, number);
    repo_event(
        s,
        repo,
        "issue_comment",
        "created",
        who,
        json!({"issue": issue, "comment": comment}),
    );
}

impl Simulator {
    /// `author` opens an issue with labels: `issues.opened`, then `issues.labeled` per label.
    pub async fn open_issue(
        &self,
        repo: &str,
        author: &str,
        title: &str,
        body: &str,
        labels: &[&str],
    ) -> u64 {
        let number = self.with(|s| {
            let number = s.add_issue(repo, author, title, body, labels);
            let issue = issue_json(s, repo, number);
            repo_event(s, repo, "issues", "opened", author, json!({"issue": issue}));
            for label in labels {
                labeled(s, repo, number, label, author);
            }
            number
        });
        self.settle().await;
        number
    }

    /// `who` adds a label to an issue or pull request.
    pub async fn label(&self, repo: &str, number: u64, who: &str, label: &str) {
        self.with(|s| {
            ensure_label(s, repo, label);
            let now = s.now();
            let issue = issue_mut(s, repo, number);
            if !issue.labels.iter().any(|l| l.eq_ignore_ascii_case(label)) {
                issue.labels.push(label.to_owned());
            }
            issue.updated_at = now;
            labeled(s, repo, number, label, who);
        });
        self.settle().await;
    }

    /// `who` rewrites an issue's body: `issues.edited`.
    pub async fn edit_issue(&self, repo: &str, number: u64, who: &str, body: &str) {
        self.with(|s| {
            let now = s.now();
            let issue = issue_mut(s, repo, number);
            let before = issue.body.replace(body.to_owned()).unwrap_or_default();
            issue.updated_at = now;
            let issue = issue_json(s, repo, number);
            repo_event(
                s,
                repo,
                "issues",
                "edited",
                who,
                json!({"issue": issue, "changes": {"body": {"from": before}}}),
            );
        });
        self.settle().await;
    }

    /// `who` comments on an issue or pull request: `issue_comment.created`. Returns the
    /// comment's id.
    pub async fn comment(&self, repo: &str, number: u64, who: &str, body: &str) -> u64 {
        let id = self.with(|s| {
            s.ensure_user(who);
            let (id, now) = (s.next_id(), s.now());
            let r = s.repo_mut(repo).expect("known repository");
            r.comments.insert(
                id,
                super::state::Comment {
                    id,
                    issue_number: number,
                    body: body.to_owned(),
                    user: who.to_owned(),
                    created_at: now,
                    updated_at: now,
                    reactions: vec![],
                    history: vec![body.to_owned()],
                },
            );
            comment_created(s, repo, id, who);
            id
        });
        self.settle().await;
        id
    }

    /// `author` pushes a commit to `branch` (created from the default branch) and opens a
    /// pull request from it: `pull_request.opened`. Returns its number.
    pub async fn open_pull(
        &self,
        repo: &str,
        author: &str,
        branch: &str,
        title: &str,
        body: &str,
    ) -> u64 {
        self.open_pull_with(
            repo,
            NewPull {
                author,
                branch,
                title,
                body,
                ..NewPull::default()
            },
        )
        .await
    }

    /// Opens the pull request `new` describes: its commit is pushed to its branch (in the
    /// fork, for a fork's), then `pull_request.opened`. Returns its number.
    pub async fn open_pull_with(&self, repo: &str, new: NewPull<'_>) -> u64 {
        let number = self.with(|s| {
            let head_repo = new.head_repo.unwrap_or(repo).to_owned();
            assert!(
                s.repo(&head_repo).is_some(),
                "add the fork {head_repo} first"
            );
            let head_sha = s.commit(
                &head_repo,
                new.branch,
                new.title,
                new.committer.unwrap_or(new.author),
                &[(&format!("src/{}.txt", new.branch), Some(new.title))],
            );
            s.ensure_user(new.author);
            let (id, pull_id, now) = (s.next_id(), s.next_id(), s.now());
            let r = s.repo_mut(repo).expect("known repository");
            let number = r.next_number;
            r.next_number += 1;
            let base = new
                .base
                .map_or_else(|| r.default_branch.clone(), str::to_owned);
            let mut issue = Issue::open(id, number, new.title, Some(new.body), new.author, now);
            issue.is_pull_request = true;
            r.issues.insert(number, issue);
            r.pulls.insert(
                number,
                Pull {
                    number,
                    id: pull_id,
                    head_ref: new.branch.to_owned(),
                    head_sha,
                    head_repo,
                    base_ref: base,
                    draft: false,
                    merged: false,
                    merge_commit_sha: None,
                    merged_at: None,
                    merged_by: None,
                },
            );
            let pr = pull_json(s, repo, number);
            repo_event(
                s,
                repo,
                "pull_request",
                "opened",
                new.author,
                json!({"number": number, "pull_request": pr}),
            );
            number
        });
        self.settle().await;
        number
    }

    /// `who` changes the branch a pull request merges into: `pull_request.edited` with
    /// `changes.base`.
    pub async fn change_base(&self, repo: &str, number: u64, who: &str, base: &str) {
        self.with(|s| {
            let r = s.repo_mut(repo).expect("known repository");
            let old = std::mem::replace(
                &mut r.pulls.get_mut(&number).expect("known pull").base_ref,
                base.to_owned(),
            );
            let old_sha = r.branches.get(&old).cloned().unwrap_or_default();
            let pr = pull_json(s, repo, number);
            repo_event(
                s,
                repo,
                "pull_request",
                "edited",
                who,
                json!({"number": number, "pull_request": pr,
                       "changes": {"base": {"ref": {"from": old}, "sha": {"from": old_sha}}}}),
            );
        });
        self.settle().await;
    }

    /// `who` re-runs a workflow run in GitHub's UI (any run, finished or not): the same run
    /// id, its next attempt, with `who` as the triggering actor; `workflow_run.requested`.
    pub async fn rerun_by_hand(&self, repo: &str, run_id: u64, who: &str) {
        self.with(|s| {
            s.ensure_user(who);
            let now = s.now();
            let run = s
                .repo_mut(repo)
                .expect("known repository")
                .runs
                .get_mut(&run_id)
                .expect("known workflow run");
            run.status = "queued".into();
            run.conclusion = None;
            run.updated_at = now;
            run.attempt += 1;
            run.triggering_actor = Some(who.to_owned());
            crate::sim::webhooks::workflow_run(s, repo, run_id, "requested");
        });
        self.settle().await;
    }

    /// `who` dispatches `workflow` on `branch` by hand (the Actions tab, `gh workflow run`)
    /// with `inputs`: a run whose actor is that person. Returns its id.
    pub async fn dispatch_by_hand(
        &self,
        repo: &str,
        who: &str,
        workflow: &str,
        branch: &str,
        inputs: serde_json::Value,
    ) -> u64 {
        let id = self.with(|s| {
            s.ensure_user(who);
            let inputs = inputs.as_object().cloned().unwrap_or_default();
            crate::sim::handlers::actions::start_run(
                s,
                repo,
                workflow,
                branch,
                inputs,
                who.to_owned(),
            )
            .expect("GitHub takes the dispatch")
        });
        self.settle().await;
        id
    }

    /// `who` pushes a new commit to a pull request's branch: `pull_request.synchronize`.
    /// Returns the new head SHA.
    pub async fn push_to_pull(&self, repo: &str, number: u64, who: &str, message: &str) -> String {
        let sha = self.with(|s| {
            let (branch, before) = {
                let p = &s.repos[repo].pulls[&number];
                (p.head_ref.clone(), p.head_sha.clone())
            };
            let sha = s.commit(
                repo,
                &branch,
                message,
                who,
                &[(&format!("src/{message}.txt"), Some(message))],
            );
            s.repo_mut(repo)
                .expect("known repository")
                .pulls
                .get_mut(&number)
                .expect("known pull")
                .head_sha = sha.clone();
            let pr = pull_json(s, repo, number);
            repo_event(
                s,
                repo,
                "pull_request",
                "synchronize",
                who,
                json!({"number": number, "pull_request": pr, "before": before, "after": sha}),
            );
            sha
        });
        self.settle().await;
        sha
    }

    /// `who` reviews a pull request's current head (`APPROVED`, `CHANGES_REQUESTED`,
    /// `COMMENTED`): `pull_request_review.submitted`. Returns the review's id.
    pub async fn review(&self, repo: &str, number: u64, who: &str, state: &str) -> u64 {
        let id = self.with(|s| {
            let id = s.add_review(repo, number, who, state);
            let r = &s.repos[repo];
            let review = render::review(s, r, &r.reviews[&id]);
            let pr = pull_json(s, repo, number);
            repo_event(
                s,
                repo,
                "pull_request_review",
                "submitted",
                who,
                json!({"review": review, "pull_request": pr}),
            );
            id
        });
        self.settle().await;
        id
    }

    /// `who` merges PR `number` on the web (a merge commit), with the checks GitHub makes
    /// and the webhooks it sends; returns the merge commit's SHA.
    pub async fn merge_by_hand(&self, repo: &str, number: u64, who: &str) -> String {
        let how = crate::sim::handlers::pulls::Merge {
            method: "merge",
            title: None,
            message: None,
            head: None,
        };
        let sha = self
            .with(|s| crate::sim::handlers::pulls::merge_as(s, repo, number, who, &how))
            .unwrap_or_else(|refused| panic!("GitHub refuses the merge: {:?}", refused.body));
        self.settle().await;
        sha
    }

    /// `who` presses a button on a check run: `check_run.requested_action`.
    pub async fn press_button(&self, repo: &str, check_run_id: u64, who: &str, identifier: &str) {
        self.with(|s| {
            let r = &s.repos[repo];
            let check = &r.check_runs[&check_run_id];
            let run = render::check_run(s, r, check);
            repo_event(
                s,
                repo,
                "check_run",
                "requested_action",
                who,
                json!({"check_run": run, "requested_action": {"identifier": identifier}}),
            );
        });
        self.settle().await;
    }

    /// `who` pushes `path` with `content` to `branch`: `push`. Returns the new SHA.
    pub async fn push_file(
        &self,
        repo: &str,
        branch: &str,
        who: &str,
        path: &str,
        content: &str,
    ) -> String {
        self.push_bytes(repo, branch, who, path, content.as_bytes())
            .await
    }

    /// Like [`Simulator::push_file`], with content that need not be text.
    pub async fn push_bytes(
        &self,
        repo: &str,
        branch: &str,
        who: &str,
        path: &str,
        content: &[u8],
    ) -> String {
        let sha = self.with(|s| {
            let before = s.repos[repo].branches.get(branch).cloned().unwrap_or_else(|| "0".repeat(40));
            let sha = s.commit_bytes(repo, branch, &format!("update {path}"), who, &[(path, Some(content))]);
            let commit = json!({
                "id": sha, "tree_id": sha, "distinct": true, "message": format!("update {path}"),
                "timestamp": s.now().to_rfc3339(), "url": s.html_url(&format!("{repo}/commit/{sha}")),
                "author": {"name": who, "email": format!("{who}@users.noreply.github.test"), "username": who},
                "committer": {"name": who, "email": format!("{who}@users.noreply.github.test"), "username": who},
                "added": [], "removed": [], "modified": [path],
            });
            let fields = json!({
                "ref": format!("refs/heads/{branch}"), "before": before, "after": sha,
                "created": false, "deleted": false, "forced": false, "base_ref": null,
                "compare": s.html_url(&format!("{repo}/compare/{before}...{sha}")),
                "commits": [commit.clone()], "head_commit": commit,
                "pusher": {"name": who, "email": format!("{who}@users.noreply.github.test")},
            });
            repo_event(s, repo, "push", "", who, fields);
            sha
        });
        self.settle().await;
        sha
    }

    /// `who` makes `child` a sub-issue of `parent`: `sub_issues.sub_issue_added`, then the
    /// mirror `sub_issues.parent_issue_added`, as GitHub sends both.
    pub async fn add_sub_issue(&self, repo: &str, parent: u64, child: u64, who: &str) {
        self.with(|s| {
            let p = issue_mut(s, repo, parent);
            if !p.sub_issues.contains(&child) {
                p.sub_issues.push(child);
            }
            issue_pair_events(
                s,
                repo,
                who,
                "sub_issues",
                ("sub_issue_added", "parent_issue_added"),
                (parent, child),
            );
        });
        self.settle().await;
    }

    /// `who` records that `issue` is blocked by `blocker` (`added`) or no longer is:
    /// `issue_dependencies.blocked_by_added` (`_removed`), then the mirror `blocking_*`.
    pub async fn set_blocked_by(
        &self,
        repo: &str,
        issue: u64,
        blocker: u64,
        who: &str,
        added: bool,
    ) {
        self.with(|s| {
            let blocked = &mut issue_mut(s, repo, issue).blocked_by;
            blocked.retain(|b| *b != blocker);
            if added {
                blocked.push(blocker);
            }
            let actions = if added {
                ("blocked_by_added", "blocking_added")
            } else {
                ("blocked_by_removed", "blocking_removed")
            };
            issue_pair_events(
                s,
                repo,
                who,
                "issue_dependencies",
                actions,
                (blocker, issue),
            );
        });
        self.settle().await;
    }

    /// `who` closes an issue as completed: `issues.closed`.
    pub async fn close_issue(&self, repo: &str, number: u64, who: &str) {
        self.with(|s| {
            let now = s.now();
            let issue = issue_mut(s, repo, number);
            issue.state = "closed".into();
            issue.state_reason = Some("completed".into());
            issue.closed_at = Some(now);
            issue.closed_by = Some(who.to_owned());
            issue.updated_at = now;
            issue_event(s, repo, number, "closed", who);
        });
        self.settle().await;
    }
}

/// A pull request a person opens (see [`Simulator::open_pull_with`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct NewPull<'a> {
    pub author: &'a str,
    /// The fork its branch lives in (`owner/name`, added with `add_repo` first); `None`: the
    /// repository itself.
    pub head_repo: Option<&'a str>,
    pub branch: &'a str,
    /// The branch it merges into; `None`: the default branch.
    pub base: Option<&'a str>,
    pub title: &'a str,
    pub body: &'a str,
    /// Who made its commit; `None`: the author.
    pub committer: Option<&'a str>,
}
