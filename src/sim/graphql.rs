//! GitHub's GraphQL endpoint (`POST /graphql`), for the one change REST has no twin of:
//! `markPullRequestReadyForReview` (docs.github.com/graphql/reference/mutations
//! #markpullrequestreadyforreview; REST's `pulls/update` cannot take a PR out of draft). The
//! query is parsed with `graphql-parser` and checked against that mutation's shape: its one
//! argument `input: MarkPullRequestReadyForReviewInput!` (`pullRequestId: ID!`,
//! `clientMutationId: String`) and the fields of its payload. GraphQL answers 200 with
//! `errors` for a query it refuses; the simulator also records a violation then.
//!
//! Must not: accept a query GitHub would refuse without recording a violation.

use graphql_parser::query::{
    Definition, Document, OperationDefinition, Selection, SelectionSet, Type, Value as GqlValue,
    parse_query,
};
use serde_json::{Map, Value, json};

use super::auth::{self, Caller};
use super::handlers::Reply;
use super::permissions;
use super::state::SimState;

/// The operation name a GraphQL request is recorded under.
pub const OPERATION: &str = "graphql";

/// Fields of `PullRequest` a payload may select (those the simulator can answer).
const PULL_FIELDS: [&str; 5] = ["id", "number", "isDraft", "url", "state"];

/// Serves one GraphQL request: the answer, and what it did wrong.
pub fn serve(s: &mut SimState, bytes: &[u8], authorization: Option<&str>) -> (Reply, Vec<String>) {
    let installation = match auth::identify(s, authorization) {
        Ok(Caller::Installation(id)) => id,
        Ok(_) => {
            let why = "GraphQL needs an installation token here".to_owned();
            return (
                Reply::error(401, "This endpoint requires you to be authenticated."),
                vec![why],
            );
        }
        Err(refused) => return (Reply::error(401, &refused.0), vec![refused.0]),
    };
    let request: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => return refuse(format!("the body is not JSON ({e})")),
    };
    let Some(query) = request["query"].as_str() else {
        return refuse("the body has no `query` string".into());
    };
    let variables = request["variables"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let document = match parse_query::<String>(query) {
        Ok(d) => d,
        Err(e) => return refuse(format!("the query does not parse: {e}")),
    };
    let id = match ready_for_review(&document, &variables) {
        Ok(call) => call,
        Err(why) => return refuse(why),
    };
    if !permissions::granted(&s.app.permissions, "pull_requests", "write") {
        let why = "the App lacks the `pull_requests: write` permission".to_owned();
        return (errors(&why, "FORBIDDEN"), vec![why]);
    }
    let found = s.repos.iter().find_map(|(full, r)| {
        let visible = s
            .installation_for(full)
            .is_some_and(|i| i.id == installation);
        r.pulls
            .values()
            .find(|p| visible && super::render::node_id("PR_", p.id) == id.pull)
            .map(|p| (full.clone(), p.number))
    });
    let Some((full, number)) = found else {
        let message = format!(
            "Could not resolve to a node with the global id of '{}'",
            id.pull
        );
        return (errors(&message, "NOT_FOUND"), Vec::new());
    };
    let pull = s
        .repo_mut(&full)
        .and_then(|r| r.pulls.get_mut(&number))
        .expect("found above");
    if pull.draft {
        pull.draft = false;
        let bot = s.app.bot_login();
        let r = &s.repos[&full];
        let pr = super::render::pull(s, r, &r.pulls[&number]);
        super::people::repo_event(
            s,
            &full,
            "pull_request",
            "ready_for_review",
            &bot,
            json!({"number": number, "pull_request": pr}),
        );
    }
    let r = &s.repos[&full];
    let rendered = super::render::pull(s, r, &r.pulls[&number]);
    let mut pull = Map::new();
    for field in &id.fields {
        let value = match field.as_str() {
            "id" => rendered["node_id"].clone(),
            "number" => rendered["number"].clone(),
            "isDraft" => rendered["draft"].clone(),
            "url" => rendered["html_url"].clone(),
            _ => json!(rendered["state"].as_str().unwrap_or("open").to_uppercase()),
        };
        pull.insert(field.clone(), value);
    }
    let mut payload = Map::new();
    if id.select_pull {
        payload.insert("pullRequest".into(), Value::Object(pull));
    }
    if id.select_client_id {
        payload.insert(
            "clientMutationId".into(),
            id.client_id.map_or(Value::Null, Value::String),
        );
    }
    let data = json!({"data": {"markPullRequestReadyForReview": payload}});
    (Reply::new(200, data), Vec::new())
}

/// What a `markPullRequestReadyForReview` mutation asks for.
struct ReadyForReview {
    pull: String,
    client_id: Option<String>,
    select_pull: bool,
    select_client_id: bool,
    fields: Vec<String>,
}

/// The one mutation the simulator serves, read from `document` with `variables`, or why
/// GitHub would refuse it.
fn ready_for_review(
    document: &Document<'_, String>,
    variables: &Map<String, Value>,
) -> Result<ReadyForReview, String> {
    let [Definition::Operation(OperationDefinition::Mutation(m))] = document.definitions.as_slice()
    else {
        return Err("the simulator serves one mutation per request, nothing else".into());
    };
    let [Selection::Field(field)] = m.selection_set.items.as_slice() else {
        return Err("the mutation must select exactly one field".into());
    };
    if field.name != "markPullRequestReadyForReview" {
        return Err(format!(
            "Field '{}' doesn't exist on type 'Mutation'",
            field.name
        ));
    }
    let [(name, input)] = field.arguments.as_slice() else {
        return Err("markPullRequestReadyForReview takes exactly the argument `input`".into());
    };
    if name != "input" {
        return Err(format!(
            "Field 'markPullRequestReadyForReview' doesn't accept argument '{name}'"
        ));
    }
    let declared = |var: &str| {
        m.variable_definitions
            .iter()
            .find(|d| d.name == var)
            .map(|d| &d.var_type)
    };
    // A variable's value, checked against its declared type and the type expected.
    let resolve =
        |value: &GqlValue<'_, String>, expected: &str| -> Result<Option<String>, String> {
            match value {
                GqlValue::String(s) => Ok(Some(s.clone())),
                GqlValue::Null => Ok(None),
                GqlValue::Variable(var) => {
                    let Some(ty) = declared(var) else {
                        return Err(format!("Variable ${var} is used but not declared"));
                    };
                    let named = match ty {
                        Type::NonNullType(inner) => match inner.as_ref() {
                            Type::NamedType(n) => n.as_str(),
                            _ => "",
                        },
                        Type::NamedType(n) => n.as_str(),
                        Type::ListType(_) => "",
                    };
                    if named != expected {
                        return Err(format!(
                            "Type mismatch on variable ${var}: declared {ty}, expected {expected}"
                        ));
                    }
                    match variables.get(var.as_str()) {
                        Some(Value::String(s)) => Ok(Some(s.clone())),
                        None | Some(Value::Null) => Ok(None),
                        Some(other) => Err(format!(
                            "Variable ${var} of type {ty} was provided invalid value {other}"
                        )),
                    }
                }
                other => Err(format!("Argument value {other} has an invalid type")),
            }
        };
    let fields = match input {
        GqlValue::Object(fields) => fields.clone(),
        GqlValue::Variable(var) => {
            // The whole input as one variable of type MarkPullRequestReadyForReviewInput!.
            let Some(Type::NonNullType(inner)) = declared(var) else {
                return Err(format!(
                    "Variable ${var} must be declared MarkPullRequestReadyForReviewInput!"
                ));
            };
            if !matches!(inner.as_ref(), Type::NamedType(n) if n == "MarkPullRequestReadyForReviewInput")
            {
                return Err(format!(
                    "Variable ${var} must be declared MarkPullRequestReadyForReviewInput!"
                ));
            }
            let Some(Value::Object(given)) = variables.get(var.as_str()) else {
                return Err(format!(
                    "Variable ${var} of type MarkPullRequestReadyForReviewInput! was provided invalid value"
                ));
            };
            given
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map_or(GqlValue::Null, |s| GqlValue::String(s.to_owned())),
                    )
                })
                .collect()
        }
        _ => {
            return Err(
                "Argument 'input' on Field 'markPullRequestReadyForReview' has an invalid value"
                    .into(),
            );
        }
    };
    let mut pull = None;
    let mut client_id = None;
    for (key, value) in &fields {
        match key.as_str() {
            "pullRequestId" => pull = resolve(value, "ID")?,
            "clientMutationId" => client_id = resolve(value, "String")?,
            other => {
                return Err(format!(
                    "InputObject 'MarkPullRequestReadyForReviewInput' doesn't accept argument '{other}'"
                ));
            }
        }
    }
    let Some(pull) = pull else {
        return Err("Argument 'pullRequestId' on InputObject 'MarkPullRequestReadyForReviewInput' is required".into());
    };
    let (mut select_pull, mut select_client_id, mut selected) = (false, false, Vec::new());
    for item in &field.selection_set.items {
        let Selection::Field(f) = item else {
            return Err("the simulator does not serve fragments".into());
        };
        match f.name.as_str() {
            "clientMutationId" => select_client_id = true,
            "pullRequest" => {
                select_pull = true;
                selected = pull_fields(&f.selection_set)?;
            }
            other => {
                return Err(format!(
                    "Field '{other}' doesn't exist on type 'MarkPullRequestReadyForReviewPayload'"
                ));
            }
        }
    }
    Ok(ReadyForReview {
        pull,
        client_id,
        select_pull,
        select_client_id,
        fields: selected,
    })
}

fn pull_fields(set: &SelectionSet<'_, String>) -> Result<Vec<String>, String> {
    if set.items.is_empty() {
        return Err("Field must have selections (field 'pullRequest' returns PullRequest but has no selections)".into());
    }
    set.items
        .iter()
        .map(|item| match item {
            Selection::Field(f) if PULL_FIELDS.contains(&f.name.as_str()) => Ok(f.name.clone()),
            Selection::Field(f) => Err(format!(
                "Field '{}' doesn't exist on type 'PullRequest'",
                f.name
            )),
            _ => Err("the simulator does not serve fragments".into()),
        })
        .collect()
}

/// A GraphQL refusal: 200 with `errors`, and a violation for the test.
fn refuse(why: String) -> (Reply, Vec<String>) {
    (
        errors(&why, "INVALID"),
        vec![format!("POST /graphql: {why}")],
    )
}

fn errors(message: &str, kind: &str) -> Reply {
    Reply::new(
        200,
        json!({"data": null, "errors": [{"type": kind, "message": message}]}),
    )
}
