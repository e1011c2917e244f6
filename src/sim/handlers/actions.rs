//! GitHub Actions: dispatching workflows, their runs, and custom deployment protection rules.
//! Must not: run workflows; a test completes runs through `Simulator::complete_workflow_run`.

use serde_json::{Value, json};

use super::{Call, Outcome, Reply, repo, repo_mut};
use crate::sim::render;
use crate::sim::state::{SimState, WorkflowRun};
use crate::sim::webhooks;

/// `POST …/actions/workflows/{workflow_id}/dispatches`, with GitHub's refusals: an unknown
/// workflow (404), a `ref` that is not a branch or tag (422), inputs the workflow does not
/// declare (422).
pub fn dispatch(s: &mut SimState, c: &Call) -> Outcome {
    let key = c.repo_key();
    repo(s, c)?;
    let inputs = c
        .field("inputs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let actor = c.actor(s);
    let git_ref = c.text("ref").unwrap_or_default().to_owned();
    let id = start_run(s, &key, c.param("workflow_id"), &git_ref, inputs, actor)?;
    if c.field("return_run_details").and_then(Value::as_bool) == Some(true) {
        let full = key.clone();
        Ok(Reply::ok(json!({
            "workflow_run_id": id,
            "run_url": s.api_url(&format!("repos/{full}/actions/runs/{id}")),
            "html_url": s.html_url(&format!("{full}/actions/runs/{id}")),
        })))
    } else {
        Ok(Reply::no_content())
    }
}

/// A `workflow_dispatch` run of `workflow` (its file name) on `git_ref`, started by `actor`
/// (the App's bot, or a person), with GitHub's refusals; sends `workflow_run.requested` and
/// returns the run's id.
pub fn start_run(
    s: &mut SimState,
    key: &str,
    workflow: &str,
    git_ref: &str,
    inputs: serde_json::Map<String, Value>,
    actor: String,
) -> Result<u64, Reply> {
    let r = s.repo(key).ok_or_else(Reply::not_found)?;
    let workflow = r
        .workflow_by_file(workflow)
        .ok_or_else(Reply::not_found)?
        .clone();
    let branch = git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref);
    let tag = git_ref.strip_prefix("refs/tags/").unwrap_or(git_ref);
    let head_sha = r
        .branches
        .get(branch)
        .or_else(|| r.tags.get(tag))
        .cloned()
        .ok_or_else(|| Reply::error(422, &format!("No ref found for: {git_ref}")))?;
    let unexpected: Vec<&String> = inputs
        .keys()
        .filter(|k| !workflow.inputs.contains(k))
        .collect();
    if !unexpected.is_empty() {
        return Err(Reply::error(
            422,
            &format!("Unexpected inputs provided: {unexpected:?}"),
        ));
    }
    if inputs.values().map(|v| v.to_string().len()).sum::<usize>() > 65_535 {
        return Err(Reply::error(422, "inputs are too large"));
    }
    if let Some((name, _)) = inputs
        .iter()
        .find(|(_, v)| !v.is_string() && !v.is_boolean() && !v.is_number())
    {
        return Err(Reply::error(
            422,
            &format!("input {name} must be a string, number or boolean"),
        ));
    }
    let (id, now) = (s.next_id(), s.now());
    let r = s.repo_mut(key).ok_or_else(Reply::not_found)?;
    let run_number = r
        .runs
        .values()
        .filter(|x| x.workflow_id == workflow.id)
        .count() as u64
        + 1;
    r.runs.insert(
        id,
        WorkflowRun {
            id,
            workflow_id: workflow.id,
            run_number,
            head_branch: branch.to_owned(),
            head_sha,
            event: "workflow_dispatch".into(),
            status: "queued".into(),
            conclusion: None,
            // Like the workflow templates' `run-name`: the pipeline input, for humans and
            // for finding a dispatched run again.
            display_title: match inputs.get("pipeline").and_then(Value::as_str) {
                Some(pipeline) => format!("{} {pipeline}", workflow.name),
                None => workflow.name.clone(),
            },
            inputs,
            actor,
            triggering_actor: None,
            attempt: 1,
            created_at: now,
            updated_at: now,
        },
    );
    webhooks::workflow_run(s, key, id, "requested");
    Ok(id)
}

pub fn get_run(s: &mut SimState, c: &Call) -> Outcome {
    let r = repo(s, c)?;
    let run = r
        .runs
        .get(&c.number("run_id"))
        .ok_or_else(Reply::not_found)?;
    Ok(Reply::ok(render::workflow_run(s, r, run)))
}

pub fn list_runs(s: &mut SimState, c: &Call) -> Outcome {
    let r = repo(s, c)?;
    let all: Vec<Value> = r
        .runs
        .values()
        .rev()
        .filter(|x| c.query("branch").is_none_or(|b| b == x.head_branch))
        .filter(|x| c.query("event").is_none_or(|e| e == x.event))
        .filter(|x| c.query("head_sha").is_none_or(|h| h == x.head_sha))
        .filter(|x| c.query("actor").is_none_or(|a| a == x.actor))
        .filter(|x| {
            c.query("status")
                .is_none_or(|st| st == x.status || x.conclusion.as_deref() == Some(st))
        })
        .map(|x| render::workflow_run(s, r, x))
        .collect();
    Ok(Reply::ok(
        json!({"total_count": all.len(), "workflow_runs": c.page(&all)}),
    ))
}

pub fn cancel_run(s: &mut SimState, c: &Call) -> Outcome {
    let key = c.repo_key();
    let id = c.number("run_id");
    let now = s.now();
    let run = repo_mut(s, c)?
        .runs
        .get_mut(&id)
        .ok_or_else(Reply::not_found)?;
    if run.status == "completed" {
        return Err(Reply::error(
            409,
            "Cannot cancel a workflow run that is completed.",
        ));
    }
    run.status = "completed".into();
    run.conclusion = Some("cancelled".into());
    run.updated_at = now;
    webhooks::workflow_run(s, &key, id, "completed");
    Ok(Reply::new(202, json!({})))
}

pub fn rerun_failed_jobs(s: &mut SimState, c: &Call) -> Outcome {
    let key = c.repo_key();
    let id = c.number("run_id");
    let (now, actor) = (s.now(), c.actor(s));
    let run = repo_mut(s, c)?
        .runs
        .get_mut(&id)
        .ok_or_else(Reply::not_found)?;
    if run.status != "completed" || run.conclusion.as_deref() == Some("success") {
        return Err(Reply::error(
            403,
            "This workflow run has no failed jobs to re-run",
        ));
    }
    run.status = "queued".into();
    run.conclusion = None;
    run.updated_at = now;
    run.attempt += 1;
    run.triggering_actor = Some(actor);
    webhooks::workflow_run(s, &key, id, "requested");
    Ok(Reply::created(json!({})))
}

pub fn review_custom_gates(s: &mut SimState, c: &Call) -> Outcome {
    let id = c.number("run_id");
    let r = repo_mut(s, c)?;
    if !r.runs.contains_key(&id) {
        return Err(Reply::not_found());
    }
    let state = c.text("state").unwrap_or_default().to_owned();
    let environment = c.text("environment_name").unwrap_or_default().to_owned();
    // A rule answers once; GitHub refuses an answer for a gate that no longer waits.
    if !r.protection_waiting.remove(&(id, environment)) {
        return Err(Reply::new(
            422,
            json!({"message": "No pending deployment protection rule for this run and environment.", "documentation_url": "https://docs.github.com/rest/actions/workflow-runs#review-custom-deployment-protection-rules-for-a-workflow-run"}),
        ));
    }
    r.protection_reviews.push((
        id,
        c.text("environment_name").unwrap_or_default().to_owned(),
        state.clone(),
        c.text("comment").unwrap_or_default().to_owned(),
    ));
    let run = r.runs.get_mut(&id).expect("checked");
    if state == "rejected" && run.status != "completed" {
        // The job waiting on the environment fails, and with it the run.
        run.status = "completed".into();
        run.conclusion = Some("failure".into());
        let key = c.repo_key();
        webhooks::workflow_run(s, &key, id, "completed");
    }
    Ok(Reply::no_content())
}
