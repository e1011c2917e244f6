//! Check runs: created and updated by the App, listed per commit.
//! Must not: accept what GitHub refuses (button, output and conclusion limits).

use serde_json::{Value, json};

use super::{Call, Outcome, Reply, repo, repo_mut};
use crate::sim::render;
use crate::sim::state::{CheckRun, SimState};

/// GitHub's limits the description cannot express.
fn check_limits(c: &Call, status: &str, conclusion: Option<&str>) -> Result<(), Reply> {
    if status == "completed" && conclusion.is_none() {
        return Err(Reply::invalid("CheckRun", "conclusion", "missing_field"));
    }
    if let Some(actions) = c.field("actions").and_then(Value::as_array) {
        if actions.len() > 3 {
            return Err(Reply::invalid("CheckRun", "actions", "too_many"));
        }
        for a in actions {
            let len = |k: &str| {
                a.get(k)
                    .and_then(Value::as_str)
                    .map_or(0, |v| v.chars().count())
            };
            if len("label") > 20 || len("description") > 40 || len("identifier") > 20 {
                return Err(Reply::invalid("CheckRun", "actions", "too_long"));
            }
        }
    }
    for field in ["summary", "text"] {
        if c.field("output")
            .and_then(|o| o.get(field))
            .and_then(Value::as_str)
            .is_some_and(|t| t.chars().count() > 65_535)
        {
            return Err(Reply::invalid(
                "CheckRun",
                &format!("output.{field}"),
                "too_long",
            ));
        }
    }
    Ok(())
}

fn parse_time(c: &Call, name: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    c.text(name)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
}

pub fn create(s: &mut SimState, c: &Call) -> Outcome {
    let head_sha = c.text("head_sha").unwrap_or_default().to_owned();
    if !repo(s, c)?.commits.contains_key(&head_sha) {
        return Err(Reply::error(422, "No commit found for SHA"));
    }
    let conclusion = c.text("conclusion").map(str::to_owned);
    let status = if conclusion.is_some() {
        "completed".to_owned()
    } else {
        c.text("status").unwrap_or("queued").to_owned()
    };
    check_limits(c, &status, conclusion.as_deref())?;
    let (id, now, app_id) = (s.next_id(), s.now(), s.app.id);
    let run = CheckRun {
        id,
        head_sha,
        name: c.text("name").unwrap_or_default().to_owned(),
        completed_at: (status == "completed").then(|| parse_time(c, "completed_at").unwrap_or(now)),
        status,
        conclusion,
        external_id: c.text("external_id").map(str::to_owned),
        details_url: c.text("details_url").map(str::to_owned),
        output: c.field("output").cloned().unwrap_or(json!({})),
        actions: c.field("actions").cloned().unwrap_or(json!([])),
        started_at: parse_time(c, "started_at").unwrap_or(now),
        app_id,
        history: vec![c.body.clone().unwrap_or(Value::Null)],
    };
    repo_mut(s, c)?.check_runs.insert(id, run);
    let r = repo(s, c)?;
    Ok(Reply::created(render::check_run(s, r, &r.check_runs[&id])))
}

pub fn update(s: &mut SimState, c: &Call) -> Outcome {
    let id = c.number("check_run_id");
    let now = s.now();
    let r = repo_mut(s, c)?;
    let run = r.check_runs.get(&id).ok_or_else(Reply::not_found)?;
    let conclusion = c
        .text("conclusion")
        .map(str::to_owned)
        .or(run.conclusion.clone());
    let status = if c.text("conclusion").is_some() {
        "completed".to_owned()
    } else {
        c.text("status")
            .map(str::to_owned)
            .unwrap_or(run.status.clone())
    };
    check_limits(c, &status, conclusion.as_deref())?;
    let run = r.check_runs.get_mut(&id).expect("checked");
    if let Some(name) = c.text("name") {
        run.name = name.to_owned();
    }
    if let Some(url) = c.text("details_url") {
        run.details_url = Some(url.to_owned());
    }
    if let Some(ext) = c.text("external_id") {
        run.external_id = Some(ext.to_owned());
    }
    if let Some(output) = c.field("output") {
        run.output = output.clone();
    }
    if let Some(actions) = c.field("actions") {
        run.actions = actions.clone();
    }
    if status == "completed" && run.completed_at.is_none() {
        run.completed_at = Some(parse_time(c, "completed_at").unwrap_or(now));
    }
    run.status = status;
    run.conclusion = conclusion;
    run.history.push(c.body.clone().unwrap_or(Value::Null));
    let r = repo(s, c)?;
    Ok(Reply::ok(render::check_run(s, r, &r.check_runs[&id])))
}

pub fn list_for_ref(s: &mut SimState, c: &Call) -> Outcome {
    let r = repo(s, c)?;
    let sha = r
        .resolve(c.param("ref"))
        .ok_or_else(|| Reply::error(422, "No commit found for SHA"))?;
    let app_id: Option<u64> = c.query("app_id").and_then(|v| v.parse().ok());
    let mut runs: Vec<&CheckRun> = r
        .check_runs
        .values()
        .filter(|x| x.head_sha == sha)
        .filter(|x| c.query("check_name").is_none_or(|n| n == x.name))
        .filter(|x| c.query("status").is_none_or(|st| st == x.status))
        .filter(|x| app_id.is_none_or(|a| a == x.app_id))
        .collect();
    if c.query("filter") != Some("all") {
        // "latest": the newest run of each name.
        runs.sort_by_key(|x| std::cmp::Reverse(x.id));
        let mut seen = std::collections::HashSet::new();
        runs.retain(|x| seen.insert(x.name.clone()));
    }
    let all: Vec<Value> = runs.iter().map(|x| render::check_run(s, r, x)).collect();
    Ok(Reply::ok(
        json!({"total_count": all.len(), "check_runs": c.page(&all)}),
    ))
}
