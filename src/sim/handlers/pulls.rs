//! Pull requests (which share numbers with issues), merging, and reviews.
//! Must not: merge what GitHub would not (drafts, closed PRs, a moved head).

use regex::Regex;
use serde_json::{Value, json};

use super::{Call, Outcome, Reply, repo, repo_mut};
use crate::sim::render;
use crate::sim::state::{Issue, Pull, SimState};

fn pull_number(s: &SimState, c: &Call) -> Result<u64, Reply> {
    let n = c.number("pull_number");
    if repo(s, c)?.pulls.contains_key(&n) {
        Ok(n)
    } else {
        Err(Reply::not_found())
    }
}

pub fn list(s: &mut SimState, c: &Call) -> Outcome {
    let r = repo(s, c)?;
    let state = c.query("state").unwrap_or("open");
    let head = c.query("head");
    let base = c.query("base");
    let all: Vec<Value> = r
        .pulls
        .values()
        .rev()
        .filter(|p| state == "all" || r.issues[&p.number].state == state)
        .filter(|p| {
            head.is_none_or(|h| {
                let owner = p.head_repo.split('/').next().unwrap_or_default();
                h == format!("{owner}:{}", p.head_ref) || h == p.head_ref
            })
        })
        .filter(|p| base.is_none_or(|b| b == p.base_ref))
        .map(|p| render::pull(s, r, p))
        .collect();
    Ok(Reply::ok(Value::Array(c.page(&all))))
}

pub fn create(s: &mut SimState, c: &Call) -> Outcome {
    let head = c.text("head").unwrap_or_default().to_owned();
    let base = c.text("base").unwrap_or_default().to_owned();
    let key = c.repo_key();
    let (head_repo, head_ref) = match head.split_once(':') {
        Some((owner, branch)) => {
            let name = key.split('/').nth(1).unwrap_or_default();
            (format!("{owner}/{name}"), branch.to_owned())
        }
        None => (key.clone(), head.clone()),
    };
    let head_sha = s
        .repo(&head_repo)
        .and_then(|r| r.branches.get(&head_ref).cloned())
        .ok_or_else(|| Reply::invalid("PullRequest", "head", "invalid"))?;
    let Some(base_sha) = repo(s, c)?.branches.get(&base).cloned() else {
        return Err(Reply::invalid("PullRequest", "base", "invalid"));
    };
    // GitHub refuses a PR that would merge nothing, and a second open PR for one head.
    let custom = |message: String| {
        Reply::new(
            422,
            json!({"message": "Validation Failed",
                   "errors": [{"resource": "PullRequest", "code": "custom", "message": message}],
                   "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
                   "status": "422"}),
        )
    };
    if head_sha == base_sha {
        return Err(custom(format!("No commits between {base} and {head}")));
    }
    let open_twin = repo(s, c)?.pulls.values().any(|p| {
        p.head_repo == head_repo
            && p.head_ref == head_ref
            && p.base_ref == base
            && repo(s, c).is_ok_and(|r| r.issues[&p.number].state == "open")
    });
    if open_twin {
        return Err(custom(format!("A pull request already exists for {head}.")));
    }
    let (id, pull_id, now, actor) = (s.next_id(), s.next_id(), s.now(), c.actor(s));
    let r = repo_mut(s, c)?;
    let number = r.next_number;
    r.next_number += 1;
    let mut issue = Issue::open(
        id,
        number,
        c.text("title").unwrap_or_default(),
        c.text("body"),
        &actor,
        now,
    );
    issue.is_pull_request = true;
    r.issues.insert(number, issue);
    r.pulls.insert(
        number,
        Pull {
            number,
            id: pull_id,
            head_ref,
            head_sha,
            head_repo,
            base_ref: base,
            draft: c.field("draft").and_then(Value::as_bool).unwrap_or(false),
            merged: false,
            merge_commit_sha: None,
            merged_at: None,
            merged_by: None,
        },
    );
    let r = repo(s, c)?;
    let pr = render::pull(s, r, &r.pulls[&number]);
    let full = r.full_name();
    crate::sim::people::repo_event(
        s,
        &full,
        "pull_request",
        "opened",
        &actor,
        json!({"number": number, "pull_request": pr.clone()}),
    );
    Ok(Reply::created(pr))
}

pub fn get(s: &mut SimState, c: &Call) -> Outcome {
    let n = pull_number(s, c)?;
    let r = repo(s, c)?;
    Ok(Reply::ok(render::pull(s, r, &r.pulls[&n])))
}

/// Issue numbers a PR body closes (`Closes #12`, `fixes #3`, `Resolved #4`, …).
pub fn closing_references(body: &str) -> Vec<u64> {
    let re = Regex::new(r"(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s*:?\s+#(\d+)\b")
        .expect("regex");
    re.captures_iter(body)
        .filter_map(|c| c[1].parse().ok())
        .collect()
}

pub fn merge(s: &mut SimState, c: &Call) -> Outcome {
    let n = pull_number(s, c)?;
    let (key, actor) = (c.repo_key(), c.actor(s));
    let how = Merge {
        method: c.text("merge_method").unwrap_or("merge"),
        title: c.text("commit_title"),
        message: c.text("commit_message"),
        head: c.text("sha"),
    };
    let sha = merge_as(s, &key, n, &actor, &how)?;
    Ok(Reply::ok(
        json!({"sha": sha, "merged": true, "message": "Pull Request successfully merged"}),
    ))
}

/// How a pull request is merged (`PUT …/pulls/{n}/merge`'s body).
pub struct Merge<'a> {
    /// `merge`, `squash` or `rebase`.
    pub method: &'a str,
    pub title: Option<&'a str>,
    pub message: Option<&'a str>,
    /// The head SHA the merge is for (409 if the head moved).
    pub head: Option<&'a str>,
}

/// Merges PR `n` of `key` as `actor` (through the API, or a person on the web), with what
/// GitHub checks first and the webhooks it sends; returns the merge commit's SHA.
pub fn merge_as(
    s: &mut SimState,
    key: &str,
    n: u64,
    actor: &str,
    how: &Merge,
) -> Result<String, Reply> {
    let (key, actor) = (key.to_owned(), actor.to_owned());
    let now = s.now();
    let r = s.repo(&key).ok_or_else(Reply::not_found)?;
    let pull = r.pulls[&n].clone();
    let issue = r.issues[&n].clone();
    if pull.merged || issue.state != "open" {
        return Err(Reply::error(405, "Pull Request is not mergeable"));
    }
    if pull.draft {
        return Err(Reply::error(405, "Pull Request is still a draft"));
    }
    if how.head.is_some_and(|sha| sha != pull.head_sha) {
        return Err(Reply::error(
            409,
            "Head branch was modified. Review and try the merge again.",
        ));
    }
    for check in r.required_checks.get(&pull.base_ref).into_iter().flatten() {
        let passed = r
            .check_runs
            .values()
            .filter(|x| x.head_sha == pull.head_sha && &x.name == check)
            .max_by_key(|x| x.id)
            .is_some_and(|x| x.status == "completed" && x.conclusion.as_deref() == Some("success"));
        if !passed {
            return Err(Reply::error(
                405,
                &format!("Required status check \"{check}\" is expected."),
            ));
        }
    }
    let method = how.method;
    let title = how
        .title
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{} (#{n})", issue.title));
    let message = match how.message {
        Some(m) if !m.is_empty() => format!("{title}\n\n{m}"),
        _ => title,
    };
    let head_files = s
        .repo(&pull.head_repo)
        .and_then(|hr| hr.commits.get(&pull.head_sha))
        .map(|commit| commit.files.clone())
        .unwrap_or_default();
    let base_files = r
        .branches
        .get(&pull.base_ref)
        .and_then(|sha| r.commits.get(sha))
        .map(|commit| commit.files.clone())
        .unwrap_or_default();
    let changes: Vec<(String, Option<Vec<u8>>)> = head_files
        .iter()
        .map(|(p, text)| (p.clone(), Some(text.clone())))
        .chain(
            base_files
                .keys()
                .filter(|p| !head_files.contains_key(*p))
                .map(|p| (p.clone(), None)),
        )
        .collect();
    let borrowed: Vec<(&str, Option<&[u8]>)> = changes
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_deref()))
        .collect();
    let sha = s.commit_bytes(&key, &pull.base_ref, &message, &actor, &borrowed);
    if method == "merge"
        && let Some(commit) = s.repo_mut(&key).and_then(|r| r.commits.get_mut(&sha))
    {
        commit.parents.push(pull.head_sha.clone());
    }
    let r = s.repo_mut(&key).expect("repository checked");
    let p = r.pulls.get_mut(&n).expect("checked");
    p.merged = true;
    p.merge_commit_sha = Some(sha.clone());
    p.merged_at = Some(now);
    p.merged_by = Some(actor.clone());
    let mut closed = Vec::new();
    for number in std::iter::once(n).chain(closing_references(
        issue.body.as_deref().unwrap_or_default(),
    )) {
        if let Some(i) = r.issues.get_mut(&number)
            && i.state == "open"
        {
            i.state = "closed".into();
            i.state_reason = Some("completed".into());
            i.closed_at = Some(now);
            i.closed_by = Some(actor.clone());
            i.updated_at = now;
            closed.push(number);
        }
    }
    // What GitHub sends: the PR closed (merged), the issues it closes, the push to the base.
    let pr = render::pull(s, &s.repos[&key], &s.repos[&key].pulls[&n]);
    crate::sim::people::repo_event(
        s,
        &key,
        "pull_request",
        "closed",
        &actor,
        json!({"number": n, "pull_request": pr}),
    );
    for number in closed.into_iter().filter(|x| *x != n) {
        crate::sim::people::issue_event(s, &key, number, "closed", &actor);
    }
    Ok(sha)
}

pub fn list_reviews(s: &mut SimState, c: &Call) -> Outcome {
    let n = pull_number(s, c)?;
    let r = repo(s, c)?;
    let all: Vec<Value> = r
        .reviews
        .values()
        .filter(|x| x.pull_number == n)
        .map(|x| render::review(s, r, x))
        .collect();
    Ok(Reply::ok(Value::Array(c.page(&all))))
}

/// `GET …/pulls/{pull_number}/commits`: the commits of the PR's head that its base did not
/// have (for a merged PR, the base before the merge), oldest first, at most 250 — GitHub's
/// limit for this endpoint.
pub fn list_commits(s: &mut SimState, c: &Call) -> Outcome {
    let n = pull_number(s, c)?;
    let r = repo(s, c)?;
    let pull = &r.pulls[&n];
    let head_repo = s.repo(&pull.head_repo).unwrap_or(r);
    let base_tip = match pull.merge_commit_sha.as_ref().filter(|_| pull.merged) {
        Some(merge) => r
            .commits
            .get(merge)
            .and_then(|m| m.parents.first().cloned()),
        None => r.branches.get(&pull.base_ref).cloned(),
    };
    let on_base = base_tip.map(|tip| r.ancestors(&tip)).unwrap_or_default();
    let mut commits: Vec<Value> = head_repo
        .ancestors(&pull.head_sha)
        .iter()
        .filter(|sha| !on_base.contains(sha))
        .filter_map(|sha| head_repo.commits.get(sha))
        .map(|commit| render::commit(s, head_repo, commit))
        .collect();
    commits.reverse();
    commits.truncate(250);
    Ok(Reply::ok(Value::Array(c.page(&commits))))
}

#[cfg(test)]
mod tests {
    use super::closing_references;

    #[test]
    fn closing_keywords_are_found() {
        assert_eq!(
            closing_references("Closes #12 and fixes #3.\nresolved: #4"),
            vec![12, 3, 4]
        );
        assert!(closing_references("see #5, refs #6").is_empty());
    }
}
