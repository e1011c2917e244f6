//! The simulator's resources as GitHub's JSON. Each starts from the REST description's own
//! example (so every field GitHub sends is there) with the simulated values laid over it;
//! the spec check on every answer keeps the result honest.
//!
//! Must not: change state.

use base64::Engine as _;
use serde_json::{Value, json};

use super::spec::example;
use super::state::{
    CheckRun, Comment, Commit, Deployment, DeploymentStatus, HookDelivery, Installation, Issue,
    Label, Pull, Reaction, Repo, Review, SimState, Workflow, WorkflowRun,
};

/// Lays `over`'s keys onto `base`.
pub fn merge(mut base: Value, over: Value) -> Value {
    if let (Some(b), Value::Object(o)) = (base.as_object_mut(), over) {
        for (k, v) in o {
            b.insert(k, v);
        }
    }
    base
}

pub fn ts(t: chrono::DateTime<chrono::Utc>) -> Value {
    json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// GitHub's global node id for an object of `kind` (`PR_`, `I_`, …) with database id `id`.
pub fn node_id(kind: &str, id: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{kind}{id}"))
}

pub fn user(s: &SimState, login: &str) -> Value {
    let (id, kind) = s
        .users
        .get(login)
        .map(|u| (u.id, u.kind.clone()))
        .unwrap_or((0, "User".into()));
    // GitHub escapes the brackets of bot logins in URLs.
    let path = login.replace('[', "%5B").replace(']', "%5D");
    let api = s.api_url(&format!("users/{path}"));
    json!({
        "login": login, "id": id, "node_id": node_id("U_", id),
        "avatar_url": s.html_url(&format!("avatars/{path}")), "gravatar_id": "",
        "url": api, "html_url": s.html_url(&path),
        "followers_url": format!("{api}/followers"), "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"), "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"), "organizations_url": format!("{api}/orgs"),
        "repos_url": format!("{api}/repos"), "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events"), "type": kind, "site_admin": false,
        "user_view_type": "public",
    })
}

pub fn repository(s: &SimState, r: &Repo) -> Value {
    let full = r.full_name();
    let api = s.api_url(&format!("repos/{full}"));
    let mut v = example("full-repository-default-response");
    let obj = v.as_object_mut().expect("repository example is an object");
    // Every `*_url` of the example points at octocat/Hello-World: re-point them here.
    for value in obj.values_mut() {
        if let Value::String(text) = value
            && text.starts_with("https://api.github.com/repos/octocat/Hello-World")
        {
            *text = text.replace("https://api.github.com/repos/octocat/Hello-World", &api);
        }
    }
    for key in ["parent", "source", "template_repository", "organization"] {
        obj.remove(key);
    }
    let open_issues = r.issues.values().filter(|i| i.state == "open").count();
    merge(
        v,
        json!({
            "id": r.id, "node_id": node_id("R_", r.id), "name": r.name, "full_name": full,
            "owner": user(s, &r.owner), "private": r.private, "fork": false,
            "html_url": s.html_url(&full), "url": api, "description": null, "homepage": null,
            "language": null, "license": null, "default_branch": r.default_branch,
            "clone_url": s.html_url(&format!("{full}.git")), "git_url": format!("git://sim/{full}.git"),
            "ssh_url": format!("git@sim:{full}.git"), "svn_url": s.html_url(&full), "mirror_url": null,
            "open_issues": open_issues, "open_issues_count": open_issues,
            "visibility": if r.private { "private" } else { "public" },
            "archived": false, "disabled": false,
        }),
    )
}

pub fn label(s: &SimState, r: &Repo, l: &Label) -> Value {
    json!({
        "id": l.id, "node_id": node_id("LA_", l.id),
        "url": s.api_url(&format!("repos/{}/labels/{}", r.full_name(), l.name)),
        "name": l.name, "description": l.description, "color": l.color, "default": false,
    })
}

fn labels_of(s: &SimState, r: &Repo, names: &[String]) -> Value {
    Value::Array(
        names
            .iter()
            .filter_map(|n| r.label(n))
            .map(|l| label(s, r, l))
            .collect(),
    )
}

pub fn issue(s: &SimState, r: &Repo, i: &Issue) -> Value {
    let full = r.full_name();
    let api = s.api_url(&format!("repos/{full}/issues/{}", i.number));
    let comments = r
        .comments
        .values()
        .filter(|c| c.issue_number == i.number)
        .count();
    let mut v = merge(
        example("issue"),
        json!({
            "id": i.id, "node_id": node_id("I_", i.id), "url": api,
            "repository_url": s.api_url(&format!("repos/{full}")),
            "labels_url": format!("{api}/labels{{/name}}"), "comments_url": format!("{api}/comments"),
            "events_url": format!("{api}/events"),
            "html_url": s.html_url(&format!("{full}/{}/{}", if i.is_pull_request { "pull" } else { "issues" }, i.number)),
            "number": i.number, "state": i.state, "state_reason": i.state_reason, "title": i.title,
            "body": i.body, "user": user(s, &i.user), "labels": labels_of(s, r, &i.labels),
            "assignee": i.assignees.first().map(|a| user(s, a)),
            "assignees": i.assignees.iter().map(|a| user(s, a)).collect::<Vec<_>>(),
            "milestone": null, "locked": false, "active_lock_reason": null, "comments": comments,
            "closed_at": i.closed_at.map(ts), "created_at": ts(i.created_at), "updated_at": ts(i.updated_at),
            "closed_by": i.closed_by.as_deref().map(|u| user(s, u)),
            "author_association": association(r, &i.user),
        }),
    );
    if i.is_pull_request {
        v["pull_request"] = json!({
            "url": s.api_url(&format!("repos/{full}/pulls/{}", i.number)),
            "html_url": s.html_url(&format!("{full}/pull/{}", i.number)),
            "diff_url": s.html_url(&format!("{full}/pull/{}.diff", i.number)),
            "patch_url": s.html_url(&format!("{full}/pull/{}.patch", i.number)),
            "merged_at": r.pulls.get(&i.number).and_then(|p| p.merged_at).map(ts),
        });
    } else if let Some(obj) = v.as_object_mut() {
        obj.remove("pull_request");
    }
    v
}

pub fn association(r: &Repo, login: &str) -> &'static str {
    if login == r.owner {
        "OWNER"
    } else if r.collaborators.contains_key(login) {
        "COLLABORATOR"
    } else {
        "NONE"
    }
}

pub fn reaction(s: &SimState, x: &Reaction) -> Value {
    json!({
        "id": x.id, "node_id": node_id("REA_", x.id), "user": user(s, &x.user),
        "content": x.content, "created_at": ts(x.created_at),
    })
}

pub fn comment(s: &SimState, r: &Repo, c: &Comment) -> Value {
    let full = r.full_name();
    let issue_kind = if r
        .issues
        .get(&c.issue_number)
        .is_some_and(|i| i.is_pull_request)
    {
        "pull"
    } else {
        "issues"
    };
    let mut counts = serde_json::Map::new();
    for content in [
        "+1", "-1", "laugh", "confused", "heart", "hooray", "eyes", "rocket",
    ] {
        counts.insert(
            content.into(),
            json!(c.reactions.iter().filter(|x| x.content == content).count()),
        );
    }
    counts.insert("total_count".into(), json!(c.reactions.len()));
    counts.insert(
        "url".into(),
        json!(s.api_url(&format!("repos/{full}/issues/comments/{}/reactions", c.id))),
    );
    merge(
        example("issue-comment"),
        json!({
            "id": c.id, "node_id": node_id("IC_", c.id),
            "url": s.api_url(&format!("repos/{full}/issues/comments/{}", c.id)),
            "html_url": s.html_url(&format!("{full}/{issue_kind}/{}#issuecomment-{}", c.issue_number, c.id)),
            "issue_url": s.api_url(&format!("repos/{full}/issues/{}", c.issue_number)),
            "body": c.body, "user": user(s, &c.user), "created_at": ts(c.created_at),
            "updated_at": ts(c.updated_at), "author_association": association(r, &c.user),
            "reactions": Value::Object(counts),
        }),
    )
}

fn branch_ref(s: &SimState, branch: &str, sha: &str, repo_of: &Repo) -> Value {
    json!({
        "label": format!("{}:{branch}", repo_of.owner), "ref": branch, "sha": sha,
        "user": user(s, &repo_of.owner), "repo": repository(s, repo_of),
    })
}

pub fn pull(s: &SimState, r: &Repo, p: &Pull) -> Value {
    let full = r.full_name();
    let i = &r.issues[&p.number];
    let api = s.api_url(&format!("repos/{full}/pulls/{}", p.number));
    let head_repo = s.repos.get(&p.head_repo).unwrap_or(r);
    let html = s.html_url(&format!("{full}/pull/{}", p.number));
    merge(
        example("pull-request"),
        json!({
            "id": p.id, "node_id": node_id("PR_", p.id), "url": api, "html_url": html,
            "diff_url": format!("{html}.diff"), "patch_url": format!("{html}.patch"),
            "issue_url": s.api_url(&format!("repos/{full}/issues/{}", p.number)),
            "commits_url": format!("{api}/commits"), "review_comments_url": format!("{api}/comments"),
            "review_comment_url": s.api_url(&format!("repos/{full}/pulls/comments{{/number}}")),
            "comments_url": s.api_url(&format!("repos/{full}/issues/{}/comments", p.number)),
            "statuses_url": s.api_url(&format!("repos/{full}/statuses/{}", p.head_sha)),
            "number": p.number, "state": i.state, "locked": false, "active_lock_reason": null,
            "title": i.title, "user": user(s, &i.user), "body": i.body,
            "labels": labels_of(s, r, &i.labels), "milestone": null,
            "created_at": ts(i.created_at), "updated_at": ts(i.updated_at),
            "closed_at": i.closed_at.map(ts), "merged_at": p.merged_at.map(ts),
            "merge_commit_sha": p.merge_commit_sha, "assignee": null, "assignees": [],
            "requested_reviewers": [], "requested_teams": [],
            "head": branch_ref(s, &p.head_ref, &p.head_sha, head_repo),
            "base": branch_ref(s, &p.base_ref, r.branches.get(&p.base_ref).map(String::as_str).unwrap_or(""), r),
            "_links": {
                "self": {"href": api}, "html": {"href": html},
                "issue": {"href": s.api_url(&format!("repos/{full}/issues/{}", p.number))},
                "comments": {"href": s.api_url(&format!("repos/{full}/issues/{}/comments", p.number))},
                "review_comments": {"href": format!("{api}/comments")},
                "review_comment": {"href": s.api_url(&format!("repos/{full}/pulls/comments{{/number}}"))},
                "commits": {"href": format!("{api}/commits")},
                "statuses": {"href": s.api_url(&format!("repos/{full}/statuses/{}", p.head_sha))},
            },
            "author_association": association(r, &i.user), "auto_merge": null, "draft": p.draft,
            "merged": p.merged, "mergeable": if p.merged { Value::Null } else { json!(true) },
            "rebaseable": true, "mergeable_state": if p.merged { "unknown" } else { "clean" },
            "merged_by": p.merged_by.as_deref().map(|u| user(s, u)),
            "comments": r.comments.values().filter(|c| c.issue_number == p.number).count(),
            "review_comments": 0, "maintainer_can_modify": false, "commits": 1,
            "additions": 1, "deletions": 0, "changed_files": 1,
        }),
    )
}

pub fn review(s: &SimState, r: &Repo, x: &Review) -> Value {
    let full = r.full_name();
    let html = s.html_url(&format!(
        "{full}/pull/{}#pullrequestreview-{}",
        x.pull_number, x.id
    ));
    let pr_api = s.api_url(&format!("repos/{full}/pulls/{}", x.pull_number));
    merge(
        example("pull-request-review-items"),
        json!({
            "id": x.id, "node_id": node_id("PRR_", x.id), "user": user(s, &x.user), "body": x.body,
            "state": x.state, "html_url": html, "pull_request_url": pr_api,
            "_links": {"html": {"href": html}, "pull_request": {"href": pr_api}},
            "submitted_at": ts(x.submitted_at), "commit_id": x.commit_id,
            "author_association": association(r, &x.user),
        }),
    )
}

pub fn app(s: &SimState) -> Value {
    let a = &s.app;
    merge(
        example("integration"),
        json!({
            "id": a.id, "slug": a.slug, "node_id": node_id("A_", a.id), "client_id": a.client_id,
            "owner": user(s, &a.owner), "name": a.name, "description": "",
            "external_url": s.html_url(""), "html_url": s.html_url(&format!("apps/{}", a.slug)),
            "created_at": ts(a.created_at), "updated_at": ts(a.created_at),
            "permissions": a.permissions, "events": a.events,
        }),
    )
}

pub fn check_run(s: &SimState, r: &Repo, c: &CheckRun) -> Value {
    let full = r.full_name();
    let pulls: Vec<Value> = r
        .pulls
        .values()
        .filter(|p| p.head_sha == c.head_sha && r.issues[&p.number].state == "open")
        .map(|p| {
            json!({
                "id": p.id, "number": p.number, "url": s.api_url(&format!("repos/{full}/pulls/{}", p.number)),
                "head": {"ref": p.head_ref, "sha": p.head_sha, "repo": {"id": r.id, "url": s.api_url(&format!("repos/{full}")), "name": r.name}},
                "base": {"ref": p.base_ref, "sha": r.branches.get(&p.base_ref).cloned().unwrap_or_default(), "repo": {"id": r.id, "url": s.api_url(&format!("repos/{full}")), "name": r.name}},
            })
        })
        .collect();
    let output = merge(
        json!({"title": null, "summary": null, "text": null, "annotations_count": 0,
               "annotations_url": s.api_url(&format!("repos/{full}/check-runs/{}/annotations", c.id))}),
        c.output.clone(),
    );
    merge(
        example("check-run"),
        json!({
            "id": c.id, "node_id": node_id("CR_", c.id), "head_sha": c.head_sha, "name": c.name,
            "external_id": c.external_id, "url": s.api_url(&format!("repos/{full}/check-runs/{}", c.id)),
            "html_url": s.html_url(&format!("{full}/runs/{}", c.id)),
            // Without one of its own, GitHub points at the App's page.
            "details_url": c.details_url.clone().unwrap_or_else(|| s.html_url(&format!("apps/{}", s.app.slug))),
            "status": c.status, "conclusion": c.conclusion, "started_at": ts(c.started_at),
            "completed_at": c.completed_at.map(ts), "output": output,
            "check_suite": {"id": c.id + 1},
            "app": app(s), "pull_requests": pulls,
        }),
    )
}

pub fn workflow(s: &SimState, r: &Repo, w: &Workflow) -> Value {
    let full = r.full_name();
    json!({
        "id": w.id, "node_id": node_id("W_", w.id), "name": w.name, "path": w.path, "state": "active",
        "created_at": ts(s.app.created_at), "updated_at": ts(s.app.created_at),
        "url": s.api_url(&format!("repos/{full}/actions/workflows/{}", w.id)),
        "html_url": s.html_url(&format!("{full}/blob/{}/{}", r.default_branch, w.path)),
        "badge_url": s.html_url(&format!("{full}/workflows/{}/badge.svg", w.name)),
    })
}

/// A login's no-reply address; a bot's (`name[bot]`) as GitHub writes it, without brackets.
fn noreply_email(login: &str) -> String {
    let local = login.replace("[bot]", "-bot");
    format!("{local}@users.noreply.sim")
}

pub fn commit_summary(c: &Commit) -> Value {
    let who = json!({"name": c.author, "email": noreply_email(&c.author)});
    json!({
        "id": c.sha, "tree_id": c.sha, "message": c.message, "timestamp": ts(c.date),
        "author": who, "committer": who,
    })
}

pub fn workflow_run(s: &SimState, r: &Repo, run: &WorkflowRun) -> Value {
    let full = r.full_name();
    let api = s.api_url(&format!("repos/{full}/actions/runs/{}", run.id));
    let w = &r.workflows[&run.workflow_id];
    let head_commit = r
        .commits
        .get(&run.head_sha)
        .map(commit_summary)
        .unwrap_or(Value::Null);
    let repo_min = minimal_repository(s, r);
    merge(
        example("workflow-run"),
        json!({
            "id": run.id, "name": w.name, "node_id": node_id("WFR_", run.id),
            "check_suite_id": run.id + 7, "check_suite_node_id": node_id("CS_", run.id + 7),
            "head_branch": run.head_branch, "head_sha": run.head_sha,
            "path": format!("{}@{}", w.path, run.head_branch), "run_number": run.run_number,
            "run_attempt": run.attempt, "event": run.event, "display_title": run.display_title,
            "status": run.status, "conclusion": run.conclusion, "workflow_id": w.id,
            "url": api, "html_url": s.html_url(&format!("{full}/actions/runs/{}", run.id)),
            "pull_requests": [], "created_at": ts(run.created_at), "updated_at": ts(run.updated_at),
            "run_started_at": ts(run.created_at), "actor": user(s, &run.actor),
            "triggering_actor": user(s, run.triggering_actor.as_deref().unwrap_or(&run.actor)), "jobs_url": format!("{api}/jobs"),
            "logs_url": format!("{api}/logs"), "check_suite_url": s.api_url(&format!("repos/{full}/check-suites/{}", run.id + 7)),
            "artifacts_url": format!("{api}/artifacts"), "cancel_url": format!("{api}/cancel"),
            "rerun_url": format!("{api}/rerun"), "previous_attempt_url": null,
            "workflow_url": s.api_url(&format!("repos/{full}/actions/workflows/{}", w.id)),
            "head_commit": head_commit, "repository": repo_min, "head_repository": repo_min,
            "referenced_workflows": [],
        }),
    )
}

/// The `minimal-repository` shape (a subset of the full one).
pub fn minimal_repository(s: &SimState, r: &Repo) -> Value {
    let mut v = repository(s, r);
    if let Some(obj) = v.as_object_mut() {
        for key in ["network_count", "subscribers_count"] {
            obj.remove(key);
        }
    }
    v
}

pub fn deployment(s: &SimState, r: &Repo, d: &Deployment) -> Value {
    let full = r.full_name();
    let api = s.api_url(&format!("repos/{full}/deployments/{}", d.id));
    merge(
        example("deployment-simple-example"),
        json!({
            "id": d.id, "node_id": node_id("DE_", d.id), "sha": d.sha, "ref": d.git_ref, "task": d.task,
            "payload": d.payload, "original_environment": d.environment, "environment": d.environment,
            "description": d.description, "creator": user(s, &d.creator),
            "created_at": ts(d.created_at), "updated_at": ts(d.created_at), "url": api,
            "statuses_url": format!("{api}/statuses"), "repository_url": s.api_url(&format!("repos/{full}")),
            "transient_environment": d.transient_environment,
            "production_environment": d.production_environment,
            "performed_via_github_app": null,
        }),
    )
}

pub fn deployment_status(s: &SimState, r: &Repo, x: &DeploymentStatus) -> Value {
    let full = r.full_name();
    let d = &r.deployments[&x.deployment_id];
    let dep_api = s.api_url(&format!("repos/{full}/deployments/{}", d.id));
    merge(
        example("deployment-status"),
        json!({
            "id": x.id, "node_id": node_id("DES_", x.id), "state": x.state, "creator": user(s, &x.creator),
            "description": x.description, "environment": d.environment, "target_url": x.log_url,
            "log_url": x.log_url, "environment_url": x.environment_url,
            "created_at": ts(x.created_at), "updated_at": ts(x.created_at),
            "deployment_url": dep_api, "url": format!("{dep_api}/statuses/{}", x.id),
            "repository_url": s.api_url(&format!("repos/{full}")), "performed_via_github_app": null,
        }),
    )
}

pub fn installation(s: &SimState, i: &Installation) -> Value {
    let account_kind = s
        .users
        .get(&i.account)
        .map(|u| u.kind.clone())
        .unwrap_or_else(|| "User".into());
    merge(
        example("installation"),
        json!({
            "id": i.id, "account": user(s, &i.account), "app_id": s.app.id, "app_slug": s.app.slug,
            "client_id": s.app.client_id, "target_id": s.users.get(&i.account).map_or(0, |u| u.id),
            "target_type": account_kind, "repository_selection": "selected",
            "access_tokens_url": s.api_url(&format!("app/installations/{}/access_tokens", i.id)),
            "repositories_url": s.api_url("installation/repositories"),
            "html_url": s.html_url(&format!("settings/installations/{}", i.id)),
            "permissions": s.app.permissions, "events": s.app.events,
            "created_at": ts(i.created_at), "updated_at": ts(i.created_at),
            "single_file_name": null, "has_multiple_single_files": false, "single_file_paths": [],
            "suspended_at": if i.suspended { ts(i.created_at) } else { Value::Null },
            "suspended_by": null,
        }),
    )
}

pub fn git_ref(s: &SimState, r: &Repo, full_ref: &str, sha: &str) -> Value {
    let full = r.full_name();
    json!({
        "ref": full_ref, "node_id": node_id("REF_", sha.len() as u64),
        "url": s.api_url(&format!("repos/{full}/git/{full_ref}")),
        "object": {"type": "commit", "sha": sha, "url": s.api_url(&format!("repos/{full}/git/commits/{sha}"))},
    })
}

pub fn commit(s: &SimState, r: &Repo, c: &Commit) -> Value {
    let full = r.full_name();
    let api = s.api_url(&format!("repos/{full}/commits/{}", c.sha));
    let who = json!({"name": c.author, "email": noreply_email(&c.author), "date": ts(c.date)});
    merge(
        example("commit"),
        json!({
            "sha": c.sha, "node_id": node_id("C_", c.sha.len() as u64), "url": api,
            "html_url": s.html_url(&format!("{full}/commit/{}", c.sha)), "comments_url": format!("{api}/comments"),
            "commit": {
                "url": s.api_url(&format!("repos/{full}/git/commits/{}", c.sha)), "message": c.message,
                "author": who, "committer": who, "comment_count": 0,
                "tree": {"sha": c.sha, "url": s.api_url(&format!("repos/{full}/git/trees/{}", c.sha))},
            },
            "author": s.users.contains_key(&c.author).then(|| user(s, &c.author)),
            "committer": s.users.contains_key(&c.author).then(|| user(s, &c.author)),
            "parents": c.parents.iter().map(|p| json!({
                "sha": p, "url": s.api_url(&format!("repos/{full}/commits/{p}")),
                "html_url": s.html_url(&format!("{full}/commit/{p}")),
            })).collect::<Vec<_>>(),
            "files": [],
        }),
    )
}

pub fn branch(s: &SimState, r: &Repo, name: &str, sha: &str) -> Value {
    let full = r.full_name();
    let c = &r.commits[sha];
    merge(
        example("branch-get"),
        json!({
            "name": name, "commit": commit(s, r, c), "protected": false,
            "_links": {"self": s.api_url(&format!("repos/{full}/branches/{name}")), "html": s.html_url(&format!("{full}/tree/{name}"))},
            "protection_url": s.api_url(&format!("repos/{full}/branches/{name}/protection")),
        }),
    )
}

pub fn content_file(s: &SimState, r: &Repo, path: &str, content: &[u8], git_ref: &str) -> Value {
    let full = r.full_name();
    let sha = hex::encode(&sha2::Sha256::digest(content)[..20]);
    let api = s.api_url(&format!("repos/{full}/contents/{path}?ref={git_ref}"));
    let html = s.html_url(&format!("{full}/blob/{git_ref}/{path}"));
    let git = s.api_url(&format!("repos/{full}/git/blobs/{sha}"));
    json!({
        "type": "file", "encoding": "base64", "size": content.len(),
        "name": path.rsplit('/').next().unwrap_or(path), "path": path,
        "content": base64::engine::general_purpose::STANDARD.encode(content),
        "sha": sha, "url": api, "git_url": git, "html_url": html,
        "download_url": s.html_url(&format!("raw/{full}/{git_ref}/{path}")),
        "_links": {"self": api, "git": git, "html": html},
    })
}

use sha2::Digest as _;

pub fn hook_delivery(d: &HookDelivery, full: bool) -> Value {
    let item = json!({
        "id": d.id, "guid": d.guid, "delivered_at": d.delivered_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "redelivery": d.redelivery, "duration": d.duration_ms / 1000.0,
        "status": if (200..300).contains(&d.status_code) { "OK".to_owned() } else { format!("{}", d.status_code) },
        "status_code": d.status_code, "event": d.event, "action": d.action,
        "installation_id": d.installation_id, "repository_id": d.repository_id,
        "throttled_at": null,
    });
    if !full {
        return item;
    }
    merge(
        item,
        json!({
            "request": {"headers": d.request_headers, "payload": d.payload},
            "response": {"headers": d.response_headers, "payload": d.response_body},
        }),
    )
}
