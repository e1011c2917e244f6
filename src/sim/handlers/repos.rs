//! Repositories, git refs, commits, file contents, collaborators and environments.
//! Must not: invent refs or files a test did not create.

use serde_json::json;

use super::{Call, Outcome, Reply, repo, repo_mut};
use crate::sim::render;
use crate::sim::state::SimState;

pub fn get(s: &mut SimState, c: &Call) -> Outcome {
    let r = repo(s, c)?;
    Ok(Reply::ok(render::repository(s, r)))
}

pub fn get_branch(s: &mut SimState, c: &Call) -> Outcome {
    let r = repo(s, c)?;
    let name = c.param("branch");
    let sha = r
        .branches
        .get(name)
        .ok_or_else(|| Reply::error(404, "Branch not found"))?;
    Ok(Reply::ok(render::branch(s, r, name, sha)))
}

pub fn get_commit(s: &mut SimState, c: &Call) -> Outcome {
    let r = repo(s, c)?;
    let sha = r
        .resolve(c.param("ref"))
        .ok_or_else(|| Reply::error(422, "No commit found for SHA"))?;
    Ok(Reply::ok(render::commit(s, r, &r.commits[&sha])))
}

pub fn get_content(s: &mut SimState, c: &Call) -> Outcome {
    let r = repo(s, c)?;
    let git_ref = c.query("ref").unwrap_or(&r.default_branch).to_owned();
    let sha = r
        .resolve(&git_ref)
        .ok_or_else(|| Reply::error(404, &format!("No commit found for the ref {git_ref}")))?;
    let path = c.param("path").trim_matches('/');
    let content = r.commits[&sha]
        .files
        .get(path)
        .ok_or_else(Reply::not_found)?;
    Ok(Reply::ok(render::content_file(
        s, r, path, content, &git_ref,
    )))
}

pub fn collaborator_permission(s: &mut SimState, c: &Call) -> Outcome {
    let r = repo(s, c)?;
    let login = c.param("username");
    if !s.users.contains_key(login) {
        return Err(Reply::not_found());
    }
    let permission = r.permission_of(login);
    let mut user = render::user(s, login);
    user["permissions"] = json!({
        "admin": permission >= crate::sim::state::Permission::Admin,
        "maintain": permission >= crate::sim::state::Permission::Maintain,
        "push": permission >= crate::sim::state::Permission::Write,
        "triage": permission >= crate::sim::state::Permission::Triage,
        "pull": permission >= crate::sim::state::Permission::Read,
    });
    user["role_name"] = json!(permission.role_name());
    Ok(Reply::ok(json!({
        "permission": permission.legacy(),
        "role_name": permission.role_name(),
        "user": user,
    })))
}

pub fn get_environment(s: &mut SimState, c: &Call) -> Outcome {
    let r = repo(s, c)?;
    let name = c.param("environment_name");
    let id = *r.environments.get(name).ok_or_else(Reply::not_found)?;
    let full = r.full_name();
    let created = s
        .app
        .created_at
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Ok(Reply::ok(json!({
        "id": id, "node_id": format!("EN_{id}"), "name": name,
        "url": s.api_url(&format!("repos/{full}/environments/{name}")),
        "html_url": s.html_url(&format!("{full}/deployments/activity_log?environments_filter={name}")),
        "created_at": created, "updated_at": created, "protection_rules": [],
        "deployment_branch_policy": null,
    })))
}

pub fn get_ref(s: &mut SimState, c: &Call) -> Outcome {
    let r = repo(s, c)?;
    let name = c.param("ref");
    let sha = if let Some(branch) = name.strip_prefix("heads/") {
        r.branches.get(branch)
    } else if let Some(tag) = name.strip_prefix("tags/") {
        r.tags.get(tag)
    } else {
        None
    }
    .ok_or_else(Reply::not_found)?;
    Ok(Reply::ok(render::git_ref(
        s,
        r,
        &format!("refs/{name}"),
        sha,
    )))
}

pub fn create_ref(s: &mut SimState, c: &Call) -> Outcome {
    let full_ref = c.text("ref").unwrap_or_default().to_owned();
    let sha = c.text("sha").unwrap_or_default().to_owned();
    let r = repo_mut(s, c)?;
    if !full_ref.starts_with("refs/") || full_ref.matches('/').count() < 2 {
        return Err(Reply::error(
            422,
            "Reference name must start with 'refs/' and have at least two slashes.",
        ));
    }
    if !r.commits.contains_key(&sha) {
        return Err(Reply::error(422, "Object does not exist"));
    }
    let (refs, name) = if let Some(branch) = full_ref.strip_prefix("refs/heads/") {
        (&mut r.branches, branch)
    } else if let Some(tag) = full_ref.strip_prefix("refs/tags/") {
        (&mut r.tags, tag)
    } else {
        return Err(Reply::error(
            422,
            "Only branches and tags are supported by the simulator",
        ));
    };
    if refs.contains_key(name) {
        return Err(Reply::error(422, "Reference already exists"));
    }
    refs.insert(name.to_owned(), sha.clone());
    let r = repo(s, c)?;
    Ok(Reply::created(render::git_ref(s, r, &full_ref, &sha)))
}

/// `GET …/compare/{base}...{head}`: how far apart two refs are.
pub fn compare(s: &mut SimState, c: &Call) -> Outcome {
    let r = repo(s, c)?;
    let (base, head) = c
        .param("basehead")
        .split_once("...")
        .ok_or_else(|| Reply::error(404, "Not Found"))?;
    let not_found = || Reply::error(404, "Not Found");
    let base_sha = r.resolve(base).ok_or_else(not_found)?;
    let head_sha = r.resolve(head).ok_or_else(not_found)?;
    let of_base = r.ancestors(&base_sha);
    let of_head = r.ancestors(&head_sha);
    let ahead: Vec<&String> = of_head.iter().filter(|x| !of_base.contains(x)).collect();
    let behind = of_base.iter().filter(|x| !of_head.contains(x)).count();
    let merge_base = of_head
        .iter()
        .find(|x| of_base.contains(x))
        .cloned()
        .unwrap_or(base_sha.clone());
    let status = match (ahead.len(), behind) {
        (0, 0) => "identical",
        (_, 0) => "ahead",
        (0, _) => "behind",
        _ => "diverged",
    };
    let full = r.full_name();
    let body = render::merge(
        crate::sim::spec::example("commit-comparison"),
        json!({
            "url": s.api_url(&format!("repos/{full}/compare/{base}...{head}")),
            "html_url": s.html_url(&format!("{full}/compare/{base}...{head}")),
            "permalink_url": s.html_url(&format!("{full}/compare/{base_sha}...{head_sha}")),
            "diff_url": s.html_url(&format!("{full}/compare/{base}...{head}.diff")),
            "patch_url": s.html_url(&format!("{full}/compare/{base}...{head}.patch")),
            "base_commit": render::commit(s, r, &r.commits[&base_sha]),
            "merge_base_commit": render::commit(s, r, &r.commits[&merge_base]),
            "status": status, "ahead_by": ahead.len(), "behind_by": behind,
            "total_commits": ahead.len(),
            "commits": ahead.iter().map(|sha| render::commit(s, r, &r.commits[*sha])).collect::<Vec<_>>(),
            "files": [],
        }),
    );
    Ok(Reply::ok(body))
}
