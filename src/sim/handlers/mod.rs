//! The simulator's operations, one function per `operationId` of GitHub's REST description.
//!
//! A handler gets the state and a validated [`Call`] and returns a [`Reply`]; the webhooks it
//! causes go to `state.outbox`. Register new handlers in [`lookup`] (and [`need`] if the
//! operation is not an installation call).
//! Must not: validate requests against the description (the dispatcher does) or send
//! webhooks directly (they go through the outbox).

pub(crate) mod actions;
mod apps;
mod checks;
mod deployments;
mod issues;
pub(crate) mod pulls;
mod repos;
mod users;

use std::collections::HashMap;

use serde_json::{Value, json};

use super::auth::Caller;
use super::state::{Repo, SimState};

/// A validated request.
pub struct Call {
    pub params: HashMap<String, String>,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    pub caller: Caller,
}

impl Call {
    pub fn param(&self, name: &str) -> &str {
        self.params
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// A numeric path parameter (already checked against the description).
    pub fn number(&self, name: &str) -> u64 {
        self.param(name).parse().unwrap_or_default()
    }

    pub fn repo_key(&self) -> String {
        format!("{}/{}", self.param("owner"), self.param("repo"))
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn field(&self, name: &str) -> Option<&Value> {
        self.body.as_ref().and_then(|b| b.get(name))
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        self.field(name).and_then(Value::as_str)
    }

    /// The login the call acts as: the App's bot for installation tokens.
    pub fn actor(&self, state: &SimState) -> String {
        match &self.caller {
            Caller::Installation(_) => state.app.bot_login(),
            Caller::User(login) => login.clone(),
            Caller::App => state.app.slug.clone(),
            Caller::Anonymous => "ghost".into(),
        }
    }

    /// `per_page` and `page` applied to a list.
    pub fn page<T: Clone>(&self, items: &[T]) -> Vec<T> {
        let per_page: usize = self
            .query("per_page")
            .and_then(|v| v.parse().ok())
            .unwrap_or(30)
            .clamp(1, 100);
        let page: usize = self
            .query("page")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1)
            .max(1);
        items
            .iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .cloned()
            .collect()
    }
}

/// An answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn new(status: u16, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    pub fn ok(body: Value) -> Self {
        Self::new(200, body)
    }

    pub fn created(body: Value) -> Self {
        Self::new(201, body)
    }

    pub fn no_content() -> Self {
        Self {
            status: 204,
            body: None,
            headers: Vec::new(),
        }
    }

    pub fn error(status: u16, message: &str) -> Self {
        Self::new(
            status,
            json!({"message": message, "documentation_url": "https://docs.github.com/rest", "status": status.to_string()}),
        )
    }

    pub fn not_found() -> Self {
        Self::error(404, "Not Found")
    }

    /// GitHub's 422 with a field-level error.
    pub fn invalid(resource: &str, field: &str, code: &str) -> Self {
        Self::new(
            422,
            json!({
                "message": "Validation Failed",
                "errors": [{"resource": resource, "field": field, "code": code}],
                "documentation_url": "https://docs.github.com/rest",
                "status": "422",
            }),
        )
    }
}

/// What a handler returns: `Err` for an early error answer (so `?` works).
pub type Outcome = Result<Reply, Reply>;

pub type Handler = fn(&mut SimState, &Call) -> Outcome;

/// The credential an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Nothing,
    AppJwt,
    Installation,
    /// A user access token (`/user/...` operations).
    User,
}

pub fn need(operation: &str) -> Need {
    match operation {
        "apps/create-from-manifest" => Need::Nothing,
        "apps/get-authenticated"
        | "apps/list-webhook-deliveries"
        | "apps/get-webhook-delivery"
        | "apps/redeliver-webhook-delivery"
        | "apps/list-installations"
        | "apps/create-installation-access-token"
        | "apps/get-repo-installation" => Need::AppJwt,
        "users/get-authenticated"
        | "apps/list-installations-for-authenticated-user"
        | "apps/list-installation-repos-for-authenticated-user" => Need::User,
        _ => Need::Installation,
    }
}

pub fn lookup(operation: &str) -> Option<Handler> {
    let found: Handler = match operation {
        // Apps
        "apps/get-authenticated" => apps::get_authenticated,
        "apps/create-from-manifest" => apps::create_from_manifest,
        "apps/list-installations" => apps::list_installations,
        "apps/create-installation-access-token" => apps::create_installation_access_token,
        "apps/get-repo-installation" => apps::get_repo_installation,
        "apps/list-webhook-deliveries" => apps::list_webhook_deliveries,
        "apps/get-webhook-delivery" => apps::get_webhook_delivery,
        "apps/redeliver-webhook-delivery" => apps::redeliver_webhook_delivery,
        "teams/get-membership-for-user-in-org" => apps::team_membership,
        // The signed-in user
        "users/get-authenticated" => users::get_authenticated,
        "apps/list-installations-for-authenticated-user" => users::installations,
        "apps/list-installation-repos-for-authenticated-user" => users::repositories,
        // Repositories, git and contents
        "repos/get" => repos::get,
        "repos/get-branch" => repos::get_branch,
        "repos/get-commit" => repos::get_commit,
        "repos/get-content" => repos::get_content,
        "repos/get-collaborator-permission-level" => repos::collaborator_permission,
        "repos/get-environment" => repos::get_environment,
        "repos/compare-commits-with-basehead" => repos::compare,
        "git/get-ref" => repos::get_ref,
        "git/create-ref" => repos::create_ref,
        // Issues, comments, labels, reactions
        "issues/create" => issues::create,
        "issues/list-for-repo" => issues::list_for_repo,
        "issues/get" => issues::get,
        "issues/update" => issues::update,
        "issues/list-comments" => issues::list_comments,
        "issues/create-comment" => issues::create_comment,
        "issues/update-comment" => issues::update_comment,
        "reactions/create-for-issue-comment" => issues::create_reaction,
        "issues/add-labels" => issues::add_labels,
        "issues/remove-label" => issues::remove_label,
        "issues/create-label" => issues::create_label,
        "issues/get-label" => issues::get_label,
        "issues/list-sub-issues" => issues::list_sub_issues,
        "issues/list-dependencies-blocked-by" => issues::list_blocked_by,
        // Pull requests and reviews
        "pulls/list" => pulls::list,
        "pulls/create" => pulls::create,
        "pulls/get" => pulls::get,
        "pulls/merge" => pulls::merge,
        "pulls/list-reviews" => pulls::list_reviews,
        "pulls/list-commits" => pulls::list_commits,
        // Checks
        "checks/create" => checks::create,
        "checks/update" => checks::update,
        "checks/list-for-ref" => checks::list_for_ref,
        // Actions
        "actions/create-workflow-dispatch" => actions::dispatch,
        "actions/get-workflow-run" => actions::get_run,
        "actions/list-workflow-runs-for-repo" => actions::list_runs,
        "actions/cancel-workflow-run" => actions::cancel_run,
        "actions/re-run-workflow-failed-jobs" => actions::rerun_failed_jobs,
        "actions/review-custom-gates-for-run" => actions::review_custom_gates,
        // Deployments
        "repos/create-deployment" => deployments::create,
        "repos/list-deployments" => deployments::list,
        "repos/create-deployment-status" => deployments::create_status,
        "repos/list-deployment-statuses" => deployments::list_statuses,
        _ => return None,
    };
    Some(found)
}

/// The repository a call names, or 404.
pub fn repo<'s>(state: &'s SimState, call: &Call) -> Result<&'s Repo, Reply> {
    state.repo(&call.repo_key()).ok_or_else(Reply::not_found)
}

pub fn repo_mut<'s>(state: &'s mut SimState, call: &Call) -> Result<&'s mut Repo, Reply> {
    state
        .repo_mut(&call.repo_key())
        .ok_or_else(Reply::not_found)
}
