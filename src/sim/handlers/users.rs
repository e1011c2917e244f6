//! The signed-in user, as a user access token for the App sees GitHub: who they are, the
//! App's installations they can reach, and the repositories of one they can read.
//! GitHub lists only installations and repositories the user has explicit permission
//! (read or more) on: `apps/list-installations-for-authenticated-user`.
//! Must not: show a repository the user cannot read.

use serde_json::{Value, json};

use super::{Call, Outcome, Reply};
use crate::sim::auth::Caller;
use crate::sim::render;
use crate::sim::state::{Permission, SimState};

fn login(c: &Call) -> &str {
    match &c.caller {
        Caller::User(login) => login,
        _ => "",
    }
}

/// Repositories of installation `id` that `login` can read.
fn readable(s: &SimState, id: u64, login: &str) -> Vec<String> {
    s.installations.get(&id).map_or_else(Vec::new, |i| {
        i.repositories
            .iter()
            .filter(|r| {
                s.repo(r)
                    .is_some_and(|repo| repo.permission_of(login) != Permission::None)
            })
            .cloned()
            .collect()
    })
}

pub fn get_authenticated(s: &mut SimState, c: &Call) -> Outcome {
    let login = login(c);
    let created = render::ts(s.now());
    let mut user = render::user(s, login);
    let extra = json!({
        "name": login, "company": null, "blog": "", "location": null, "email": null,
        "hireable": null, "bio": null, "public_repos": 0, "public_gists": 0,
        "followers": 0, "following": 0, "created_at": created, "updated_at": created,
    });
    for (k, v) in extra.as_object().expect("an object") {
        user[k] = v.clone();
    }
    Ok(Reply::ok(user))
}

pub fn installations(s: &mut SimState, c: &Call) -> Outcome {
    let login = login(c);
    let all: Vec<Value> = s
        .installations
        .values()
        .filter(|i| !i.suspended && !readable(s, i.id, login).is_empty())
        .map(|i| render::installation(s, i))
        .collect();
    let page = c.page(&all);
    Ok(Reply::ok(
        json!({"total_count": all.len(), "installations": page}),
    ))
}

pub fn repositories(s: &mut SimState, c: &Call) -> Outcome {
    let id = c.number("installation_id");
    let names = readable(s, id, login(c));
    if names.is_empty() {
        return Err(Reply::not_found());
    }
    let all: Vec<Value> = names
        .iter()
        .filter_map(|n| s.repo(n))
        .map(|r| render::repository(s, r))
        .collect();
    let page = c.page(&all);
    Ok(Reply::ok(json!({
        "total_count": all.len(),
        "repository_selection": "selected",
        "repositories": page,
    })))
}
