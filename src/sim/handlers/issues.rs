//! Issues, their comments, labels and reactions, sub-issues and dependencies.
//! Must not: send webhooks for the App's own actions yet (a later test helper will).

use serde_json::Value;

use super::{Call, Outcome, Reply, repo, repo_mut};
use crate::sim::render;
use crate::sim::state::{Comment, Issue, Label, Reaction, SimState};

/// The labels on an issue, rendered.
fn labels_of(s: &SimState, c: &Call, number: u64) -> Result<Value, Reply> {
    let r = repo(s, c)?;
    Ok(Value::Array(
        r.issues[&number]
            .labels
            .iter()
            .filter_map(|l| r.label(l))
            .map(|l| render::label(s, r, l))
            .collect(),
    ))
}

fn issue_number(s: &SimState, c: &Call) -> Result<u64, Reply> {
    let n = c.number("issue_number");
    if repo(s, c)?.issues.contains_key(&n) {
        Ok(n)
    } else {
        Err(Reply::not_found())
    }
}

/// Label names from an add-labels body: `{"labels": [...]}` or a bare array, of strings or
/// `{"name": ...}` objects.
fn label_names(body: Option<&Value>) -> Vec<String> {
    let list = match body {
        Some(Value::Array(items)) => items.clone(),
        Some(v) => v
            .get("labels")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        None => Vec::new(),
    };
    list.iter()
        .filter_map(|v| {
            v.as_str()
                .or_else(|| v.get("name").and_then(Value::as_str))
                .map(str::to_owned)
        })
        .collect()
}

/// Makes sure a label exists in the repository (GitHub creates unknown ones on the fly).
fn ensure_label(s: &mut SimState, key: &str, name: &str) {
    let id = s.next_id();
    let r = s.repo_mut(key).expect("repository checked");
    r.labels
        .entry(name.to_lowercase())
        .or_insert_with(|| Label {
            id,
            name: name.to_owned(),
            color: "ededed".into(),
            description: None,
        });
}

pub fn create(s: &mut SimState, c: &Call) -> Outcome {
    let key = c.repo_key();
    repo(s, c)?;
    let title = c
        .field("title")
        .map(|t| {
            t.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| t.to_string())
        })
        .unwrap_or_default();
    let labels = label_names(c.body.as_ref());
    for l in &labels {
        ensure_label(s, &key, l);
    }
    let assignees: Vec<String> = c
        .field("assignees")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for a in &assignees {
        s.ensure_user(a);
    }
    let (id, now, actor) = (s.next_id(), s.now(), c.actor(s));
    let r = repo_mut(s, c)?;
    let number = r.next_number;
    r.next_number += 1;
    let mut issue = Issue::open(id, number, &title, c.text("body"), &actor, now);
    issue.labels = labels;
    issue.assignees = assignees;
    r.issues.insert(number, issue);
    let r = repo(s, c)?;
    Ok(Reply::created(render::issue(s, r, &r.issues[&number])))
}

/// `GET /repos/{o}/{r}/issues`: issues and pull requests, newest first (or oldest with
/// `direction=asc`), filtered by `state` (default open) and `labels` (all must be on it).
pub fn list_for_repo(s: &mut SimState, c: &Call) -> Outcome {
    let r = repo(s, c)?;
    let state = c.query("state").unwrap_or("open");
    let labels: Vec<&str> = c
        .query("labels")
        .map(|l| {
            l.split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut all: Vec<&Issue> = r
        .issues
        .values()
        .filter(|i| state == "all" || i.state == state)
        .filter(|i| {
            labels
                .iter()
                .all(|l| i.labels.iter().any(|x| x.eq_ignore_ascii_case(l)))
        })
        .collect();
    if c.query("direction") != Some("asc") {
        all.reverse();
    }
    let all: Vec<Value> = all.into_iter().map(|i| render::issue(s, r, i)).collect();
    Ok(Reply::ok(Value::Array(c.page(&all))))
}

pub fn get(s: &mut SimState, c: &Call) -> Outcome {
    let n = issue_number(s, c)?;
    let r = repo(s, c)?;
    Ok(Reply::ok(render::issue(s, r, &r.issues[&n])))
}

pub fn update(s: &mut SimState, c: &Call) -> Outcome {
    let n = issue_number(s, c)?;
    let key = c.repo_key();
    let labels = c.field("labels").map(|_| label_names(c.body.as_ref()));
    for l in labels.iter().flatten() {
        ensure_label(s, &key, l);
    }
    let (now, actor) = (s.now(), c.actor(s));
    let issue = repo_mut(s, c)?.issues.get_mut(&n).expect("checked");
    if let Some(title) = c.text("title") {
        issue.title = title.to_owned();
    }
    if let Some(body) = c.field("body") {
        issue.body = body.as_str().map(str::to_owned);
    }
    let mut state_change = None;
    if let Some(state) = c.text("state")
        && state != issue.state
    {
        state_change = Some(if state == "closed" {
            "closed"
        } else {
            "reopened"
        });
        issue.state = state.to_owned();
        if state == "closed" {
            issue.closed_at = Some(now);
            issue.closed_by = Some(actor.clone());
            issue.state_reason = Some(c.text("state_reason").unwrap_or("completed").to_owned());
        } else {
            issue.closed_at = None;
            issue.closed_by = None;
            issue.state_reason = Some("reopened".into());
        }
    }
    if let Some(labels) = labels {
        issue.labels = labels;
    }
    if let Some(assignees) = c.field("assignees").and_then(Value::as_array) {
        issue.assignees = assignees
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
    }
    issue.updated_at = now;
    if let Some(action) = state_change {
        crate::sim::people::issue_event(s, &key, n, action, &actor);
    }
    let r = repo(s, c)?;
    Ok(Reply::ok(render::issue(s, r, &r.issues[&n])))
}

pub fn list_comments(s: &mut SimState, c: &Call) -> Outcome {
    let n = issue_number(s, c)?;
    let r = repo(s, c)?;
    let since = c
        .query("since")
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc));
    let all: Vec<Value> = r
        .comments
        .values()
        .filter(|x| x.issue_number == n && since.is_none_or(|t| x.updated_at >= t))
        .map(|x| render::comment(s, r, x))
        .collect();
    Ok(Reply::ok(Value::Array(c.page(&all))))
}

pub fn create_comment(s: &mut SimState, c: &Call) -> Outcome {
    let n = issue_number(s, c)?;
    let body = c.text("body").unwrap_or_default().to_owned();
    if body.chars().count() > 65_536 {
        return Err(Reply::invalid("IssueComment", "body", "too_long"));
    }
    let (id, now, actor) = (s.next_id(), s.now(), c.actor(s));
    let r = repo_mut(s, c)?;
    r.comments.insert(
        id,
        Comment {
            id,
            issue_number: n,
            body: body.clone(),
            user: actor,
            created_at: now,
            updated_at: now,
            reactions: Vec::new(),
            history: vec![body],
        },
    );
    let (key, actor) = (c.repo_key(), c.actor(s));
    // GitHub sends the App's own comments to it too.
    crate::sim::people::comment_created(s, &key, id, &actor);
    let r = repo(s, c)?;
    Ok(Reply::created(render::comment(s, r, &r.comments[&id])))
}

pub fn update_comment(s: &mut SimState, c: &Call) -> Outcome {
    let id = c.number("comment_id");
    let body = c.text("body").unwrap_or_default().to_owned();
    if body.chars().count() > 65_536 {
        return Err(Reply::invalid("IssueComment", "body", "too_long"));
    }
    let now = s.now();
    let comment = repo_mut(s, c)?
        .comments
        .get_mut(&id)
        .ok_or_else(Reply::not_found)?;
    comment.body = body.clone();
    comment.history.push(body);
    comment.updated_at = now;
    let r = repo(s, c)?;
    Ok(Reply::ok(render::comment(s, r, &r.comments[&id])))
}

pub fn create_reaction(s: &mut SimState, c: &Call) -> Outcome {
    let id = c.number("comment_id");
    let content = c.text("content").unwrap_or_default().to_owned();
    let (reaction_id, now, actor) = (s.next_id(), s.now(), c.actor(s));
    let comment = repo_mut(s, c)?
        .comments
        .get_mut(&id)
        .ok_or_else(Reply::not_found)?;
    if let Some(existing) = comment
        .reactions
        .iter()
        .find(|x| x.content == content && x.user == actor)
    {
        let existing = existing.clone();
        return Ok(Reply::ok(render::reaction(s, &existing)));
    }
    let reaction = Reaction {
        id: reaction_id,
        content,
        user: actor,
        created_at: now,
    };
    comment.reactions.push(reaction.clone());
    Ok(Reply::created(render::reaction(s, &reaction)))
}

pub fn add_labels(s: &mut SimState, c: &Call) -> Outcome {
    let n = issue_number(s, c)?;
    let key = c.repo_key();
    let names = label_names(c.body.as_ref());
    for l in &names {
        ensure_label(s, &key, l);
    }
    let (now, actor) = (s.now(), c.actor(s));
    let issue = repo_mut(s, c)?.issues.get_mut(&n).expect("checked");
    let mut added = Vec::new();
    for name in names {
        if !issue.labels.iter().any(|l| l.eq_ignore_ascii_case(&name)) {
            issue.labels.push(name.clone());
            added.push(name);
        }
    }
    issue.updated_at = now;
    for name in added {
        crate::sim::people::labeled(s, &key, n, &name, &actor);
    }
    Ok(Reply::ok(labels_of(s, c, n)?))
}

pub fn remove_label(s: &mut SimState, c: &Call) -> Outcome {
    let n = issue_number(s, c)?;
    let name = c.param("name").to_owned();
    let now = s.now();
    let issue = repo_mut(s, c)?.issues.get_mut(&n).expect("checked");
    let before = issue.labels.len();
    issue.labels.retain(|l| !l.eq_ignore_ascii_case(&name));
    if issue.labels.len() == before {
        return Err(Reply::error(404, "Label does not exist"));
    }
    issue.updated_at = now;
    let (key, actor) = (c.repo_key(), c.actor(s));
    crate::sim::people::unlabeled(s, &key, n, &name, &actor);
    Ok(Reply::ok(labels_of(s, c, n)?))
}

pub fn create_label(s: &mut SimState, c: &Call) -> Outcome {
    let name = c.text("name").unwrap_or_default().to_owned();
    let color = c
        .text("color")
        .unwrap_or("ededed")
        .trim_start_matches('#')
        .to_lowercase();
    if color.len() != 6 || !color.chars().all(|ch| ch.is_ascii_hexdigit()) {
        return Err(Reply::invalid("Label", "color", "invalid"));
    }
    let id = s.next_id();
    let r = repo_mut(s, c)?;
    if r.label(&name).is_some() {
        return Err(Reply::invalid("Label", "name", "already_exists"));
    }
    r.labels.insert(
        name.to_lowercase(),
        Label {
            id,
            name: name.clone(),
            color,
            description: c.text("description").map(str::to_owned),
        },
    );
    let r = repo(s, c)?;
    Ok(Reply::created(render::label(
        s,
        r,
        r.label(&name).expect("just created"),
    )))
}

pub fn get_label(s: &mut SimState, c: &Call) -> Outcome {
    let r = repo(s, c)?;
    let label = r.label(c.param("name")).ok_or_else(Reply::not_found)?;
    Ok(Reply::ok(render::label(s, r, label)))
}

fn related(s: &mut SimState, c: &Call, pick: fn(&Issue) -> &Vec<u64>) -> Outcome {
    let n = issue_number(s, c)?;
    let r = repo(s, c)?;
    let all: Vec<Value> = pick(&r.issues[&n])
        .iter()
        .filter_map(|m| r.issues.get(m))
        .map(|i| render::issue(s, r, i))
        .collect();
    Ok(Reply::ok(Value::Array(c.page(&all))))
}

pub fn list_sub_issues(s: &mut SimState, c: &Call) -> Outcome {
    related(s, c, |i| &i.sub_issues)
}

pub fn list_blocked_by(s: &mut SimState, c: &Call) -> Outcome {
    related(s, c, |i| &i.blocked_by)
}
