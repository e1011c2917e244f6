//! Deployments and their statuses, with the GitHub behaviours that trip Apps up: without
//! `required_contexts: []` a deployment is refused (409) while any check on the commit is not
//! green (or a named context is missing); `auto_merge` (on by default) merges the default
//! branch into a branch that is behind it instead of deploying (202, or 409 on a conflict);
//! a new `success` status marks older deployments of the environment `inactive`.
//! Must not: create a deployment GitHub would refuse.

use serde_json::{Value, json};

use super::{Call, Outcome, Reply, repo, repo_mut};
use crate::sim::render;
use crate::sim::state::{Deployment, DeploymentStatus, Repo, SimState};

fn is_ancestor(r: &Repo, ancestor: &str, of: &str) -> bool {
    let mut stack = vec![of.to_owned()];
    let mut seen = std::collections::HashSet::new();
    while let Some(sha) = stack.pop() {
        if sha == ancestor {
            return true;
        }
        if seen.insert(sha.clone())
            && let Some(c) = r.commits.get(&sha)
        {
            stack.extend(c.parents.iter().cloned());
        }
    }
    false
}

pub fn create(s: &mut SimState, c: &Call) -> Outcome {
    let r = repo(s, c)?;
    let git_ref = c.text("ref").unwrap_or_default().to_owned();
    let sha = r
        .resolve(&git_ref)
        .ok_or_else(|| Reply::error(422, &format!("No ref found for: {git_ref}")))?;
    let auto_merge = c
        .field("auto_merge")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    if auto_merge && r.branches.contains_key(&git_ref) && git_ref != r.default_branch {
        let default_head = r.branches[&r.default_branch].clone();
        if !is_ancestor(r, &default_head, &sha) {
            // GitHub merges the default branch into the ref instead of deploying: 202 with no
            // deployment, or 409 when the two conflict.
            return merge_default_into(s, c, &git_ref, &sha, &default_head);
        }
    }
    let required: Option<Vec<String>> =
        c.field("required_contexts")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            });
    let runs: Vec<&crate::sim::state::CheckRun> = r
        .check_runs
        .values()
        .filter(|x| x.head_sha == sha)
        .collect();
    let green = |name: &str| {
        runs.iter()
            .filter(|x| x.name == name)
            .max_by_key(|x| x.id)
            .is_some_and(|x| {
                matches!(
                    x.conclusion.as_deref(),
                    Some("success" | "neutral" | "skipped")
                )
            })
    };
    let failing: Vec<String> = match &required {
        // Every context on the commit must be green.
        None => runs
            .iter()
            .map(|x| x.name.clone())
            .filter(|n| !green(n))
            .collect(),
        // Every named context must exist and be green.
        Some(names) => names.iter().filter(|n| !green(n)).cloned().collect(),
    };
    if !failing.is_empty() {
        return Err(Reply::new(
            409,
            json!({
                "message": format!("Conflict: Commit status checks failed for {git_ref}."),
                "errors": failing.iter().map(|n| json!({"contexts": [{"context": n, "state": "pending"}], "resource": "Deployment", "field": "required_contexts", "code": "invalid"})).collect::<Vec<_>>(),
                "documentation_url": "https://docs.github.com/rest/deployments/deployments#create-a-deployment",
            }),
        ));
    }
    let environment = c.text("environment").unwrap_or("production").to_owned();
    let (id, env_id, now, actor) = (s.next_id(), s.next_id(), s.now(), c.actor(s));
    let r = repo_mut(s, c)?;
    r.environments.entry(environment.clone()).or_insert(env_id);
    r.deployments.insert(
        id,
        Deployment {
            id,
            sha,
            git_ref,
            task: c.text("task").unwrap_or("deploy").to_owned(),
            production_environment: c
                .field("production_environment")
                .and_then(Value::as_bool)
                .unwrap_or(environment == "production"),
            environment,
            payload: match c.field("payload") {
                Some(Value::String(text)) => serde_json::from_str(text).unwrap_or(json!({})),
                Some(v) => v.clone(),
                None => json!({}),
            },
            description: c.text("description").map(str::to_owned),
            creator: actor,
            transient_environment: c
                .field("transient_environment")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            required_contexts: required,
            created_at: now,
        },
    );
    let r = repo(s, c)?;
    Ok(Reply::created(render::deployment(
        s,
        r,
        &r.deployments[&id],
    )))
}

/// Merges the default branch into `branch` (GitHub's `auto_merge`): a conflict when a file
/// differs on both sides, else a merge commit and 202.
fn merge_default_into(
    s: &mut SimState,
    c: &Call,
    branch: &str,
    head: &str,
    default_head: &str,
) -> Outcome {
    let key = c.repo_key();
    let r = repo(s, c)?;
    let default_branch = r.default_branch.clone();
    let ours = &r.commits[head].files;
    let theirs = &r.commits[default_head].files;
    let conflict = theirs
        .iter()
        .any(|(path, text)| ours.get(path).is_some_and(|mine| mine != text));
    if conflict {
        return Err(Reply::error(
            409,
            &format!("Conflict merging {default_branch} into {branch}."),
        ));
    }
    let changes: Vec<(String, Vec<u8>)> = theirs
        .iter()
        .filter(|(path, _)| !ours.contains_key(*path))
        .map(|(p, t)| (p.clone(), t.clone()))
        .collect();
    let borrowed: Vec<(&str, Option<&[u8]>)> = changes
        .iter()
        .map(|(p, t)| (p.as_str(), Some(t.as_slice())))
        .collect();
    let actor = c.actor(s);
    let message = format!("Merge {default_branch} into {branch}");
    let merged = s.commit_bytes(&key, branch, &message, &actor, &borrowed);
    if let Some(commit) = s.repo_mut(&key).and_then(|r| r.commits.get_mut(&merged)) {
        commit.parents.push(default_head.to_owned());
    }
    Ok(Reply::new(
        202,
        json!({"message": format!("Auto-merged {default_branch} into {branch} on deployment.")}),
    ))
}

pub fn list(s: &mut SimState, c: &Call) -> Outcome {
    let r = repo(s, c)?;
    let all: Vec<Value> = r
        .deployments
        .values()
        .rev()
        .filter(|d| c.query("sha").is_none_or(|v| v == d.sha))
        .filter(|d| c.query("ref").is_none_or(|v| v == d.git_ref))
        .filter(|d| c.query("task").is_none_or(|v| v == d.task))
        .filter(|d| c.query("environment").is_none_or(|v| v == d.environment))
        .map(|d| render::deployment(s, r, d))
        .collect();
    Ok(Reply::ok(Value::Array(c.page(&all))))
}

pub fn create_status(s: &mut SimState, c: &Call) -> Outcome {
    let deployment_id = c.number("deployment_id");
    let state = c.text("state").unwrap_or_default().to_owned();
    let log_url = c
        .text("log_url")
        .or(c.text("target_url"))
        .unwrap_or_default()
        .to_owned();
    let auto_inactive = c
        .field("auto_inactive")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let (now, actor) = (s.now(), c.actor(s));
    let mut ids: Vec<u64> = Vec::new();
    let r = repo(s, c)?;
    let deployment = r
        .deployments
        .get(&deployment_id)
        .ok_or_else(Reply::not_found)?
        .clone();
    let superseded: Vec<u64> =
        if state == "success" && auto_inactive && !deployment.transient_environment {
            r.deployments
                .values()
                .filter(|d| d.environment == deployment.environment && d.id != deployment_id)
                .filter(|d| {
                    r.deployment_statuses
                        .values()
                        .filter(|st| st.deployment_id == d.id)
                        .max_by_key(|st| st.id)
                        .is_some_and(|st| st.state == "success")
                })
                .map(|d| d.id)
                .collect()
        } else {
            Vec::new()
        };
    for _ in 0..=superseded.len() {
        ids.push(s.next_id());
    }
    let r = repo_mut(s, c)?;
    let status_id = ids[0];
    r.deployment_statuses.insert(
        status_id,
        DeploymentStatus {
            id: status_id,
            deployment_id,
            state,
            description: c.text("description").unwrap_or_default().to_owned(),
            log_url,
            environment_url: c.text("environment_url").unwrap_or_default().to_owned(),
            creator: actor.clone(),
            created_at: now,
        },
    );
    for (old, id) in superseded.into_iter().zip(ids.into_iter().skip(1)) {
        r.deployment_statuses.insert(
            id,
            DeploymentStatus {
                id,
                deployment_id: old,
                state: "inactive".into(),
                description: "superseded by a newer deployment".into(),
                log_url: String::new(),
                environment_url: String::new(),
                creator: actor.clone(),
                created_at: now,
            },
        );
    }
    let r = repo(s, c)?;
    Ok(Reply::created(render::deployment_status(
        s,
        r,
        &r.deployment_statuses[&status_id],
    )))
}

pub fn list_statuses(s: &mut SimState, c: &Call) -> Outcome {
    let r = repo(s, c)?;
    let id = c.number("deployment_id");
    if !r.deployments.contains_key(&id) {
        return Err(Reply::not_found());
    }
    let all: Vec<Value> = r
        .deployment_statuses
        .values()
        .rev()
        .filter(|st| st.deployment_id == id)
        .map(|st| render::deployment_status(s, r, st))
        .collect();
    Ok(Reply::ok(Value::Array(c.page(&all))))
}
