//! GitHub's GraphQL endpoint (`POST /graphql`), for the changes REST has no twin of:
//! `markPullRequestReadyForReview` (REST's `pulls/update` cannot take a PR out of draft), and
//! `addLabelsToLabelable` with `removeLabelsFromLabelable` (REST adds and removes labels in
//! separate calls; one document may carry both). docs.github.com/graphql/reference/mutations.
//! The query is parsed with `graphql-parser` and each mutation field is checked against its
//! shape: the one argument `input`, given inline or as one variable of the input type, its
//! fields and their types, and the fields of its payload. Fields run in order, as GitHub runs
//! a mutation's fields; one that fails answers `null` with an entry in `errors` and the others
//! still run. GraphQL answers 200 with `errors` for a query it refuses; the simulator also
//! records a violation then.
//!
//! Must not: accept a query GitHub would refuse without recording a violation (the checks
//! are those of the mutations above: fields, arguments, input types, variables declared and
//! used, one answer per response key).

use graphql_parser::query::{
    Definition, Document, Field, OperationDefinition, Selection, SelectionSet, Type,
    Value as GqlValue, VariableDefinition, parse_query,
};
use serde_json::{Map, Value, json};

use super::auth::{self, Caller};
use super::handlers::Reply;
use super::permissions;
use super::render::node_id;
use super::state::SimState;

/// The operation name a GraphQL request is recorded under.
pub const OPERATION: &str = "graphql";

/// Fields of `PullRequest` a payload may select (those the simulator can answer).
const PULL_FIELDS: [&str; 5] = ["id", "number", "isDraft", "url", "state"];

/// The mutations the simulator serves.
#[derive(Clone, Copy, PartialEq)]
enum Mutation {
    ReadyForReview,
    AddLabels,
    RemoveLabels,
}

impl Mutation {
    fn named(name: &str) -> Option<Self> {
        match name {
            "markPullRequestReadyForReview" => Some(Self::ReadyForReview),
            "addLabelsToLabelable" => Some(Self::AddLabels),
            "removeLabelsFromLabelable" => Some(Self::RemoveLabels),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::ReadyForReview => "markPullRequestReadyForReview",
            Self::AddLabels => "addLabelsToLabelable",
            Self::RemoveLabels => "removeLabelsFromLabelable",
        }
    }

    /// The input type's name and its fields with their GraphQL types.
    fn input(self) -> (&'static str, &'static [(&'static str, &'static str)]) {
        match self {
            Self::ReadyForReview => (
                "MarkPullRequestReadyForReviewInput",
                &[("pullRequestId", "ID!"), ("clientMutationId", "String")],
            ),
            Self::AddLabels => (
                "AddLabelsToLabelableInput",
                &[
                    ("labelableId", "ID!"),
                    ("labelIds", "[ID!]!"),
                    ("clientMutationId", "String"),
                ],
            ),
            Self::RemoveLabels => (
                "RemoveLabelsFromLabelableInput",
                &[
                    ("labelableId", "ID!"),
                    ("labelIds", "[ID!]!"),
                    ("clientMutationId", "String"),
                ],
            ),
        }
    }

    fn payload(self) -> String {
        let (input, _) = self.input();
        format!("{}Payload", input.trim_end_matches("Input"))
    }

    /// The App permission the mutation needs.
    fn permission(self) -> &'static str {
        match self {
            Self::ReadyForReview => "pull_requests",
            Self::AddLabels | Self::RemoveLabels => "issues",
        }
    }
}

/// One mutation field of the document, read and checked.
struct Call {
    /// Where its answer goes in `data` (its alias, else its name).
    key: String,
    mutation: Mutation,
    /// The input's fields, as JSON.
    input: Map<String, Value>,
    /// The payload's selected fields; `pullRequest`'s own selection beside it.
    selected: Vec<String>,
    pull_fields: Vec<String>,
}

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
    let calls = match mutation_fields(&document, &variables) {
        Ok(calls) => calls,
        Err(why) => return refuse(why),
    };
    for call in &calls {
        let permission = call.mutation.permission();
        if !permissions::granted(&s.app.permissions, permission, "write") {
            let why = format!("the App lacks the `{permission}: write` permission");
            return (errors(&why, "FORBIDDEN"), vec![why]);
        }
    }
    if let Some(reply) = super::dispatch::fault_before(s, OPERATION) {
        return (reply, Vec::new());
    }
    let (mut data, mut failed) = (Map::new(), Vec::new());
    for call in calls {
        let answer = match call.mutation {
            Mutation::ReadyForReview => ready_for_review(s, installation, &call),
            Mutation::AddLabels | Mutation::RemoveLabels => relabel(s, installation, &call),
        };
        match answer {
            Ok(mut payload) => {
                if call.selected.iter().any(|f| f == "clientMutationId") {
                    let id = call.input.get("clientMutationId").cloned();
                    payload.insert("clientMutationId".into(), id.unwrap_or(Value::Null));
                }
                data.insert(call.key, Value::Object(payload));
            }
            Err(message) => {
                failed.push(json!({"type": "NOT_FOUND", "path": [call.key], "message": message}));
                data.insert(call.key, Value::Null);
            }
        }
    }
    let mut body = json!({"data": data});
    if !failed.is_empty() {
        body["errors"] = Value::Array(failed);
    }
    (Reply::new(200, body), Vec::new())
}

fn unresolved(id: &str) -> String {
    format!("Could not resolve to a node with the global id of '{id}'")
}

/// The repository and number of the node `id` among those `nodes` lists (node id, number)
/// in each repository the installation sees, or GitHub's `NOT_FOUND` message.
fn visible_node(
    s: &SimState,
    installation: u64,
    id: &str,
    nodes: impl Fn(&super::state::Repo) -> Vec<(String, u64)>,
) -> Result<(String, u64), String> {
    s.repos
        .iter()
        .filter(|(full, _)| {
            s.installation_for(full)
                .is_some_and(|i| i.id == installation)
        })
        .find_map(|(full, r)| {
            nodes(r)
                .into_iter()
                .find(|(node, _)| node == id)
                .map(|(_, number)| (full.clone(), number))
        })
        .ok_or_else(|| unresolved(id))
}

/// `markPullRequestReadyForReview`: a draft PR the installation sees becomes ready
/// (`pull_request.ready_for_review`); the payload's `pullRequest` as selected.
fn ready_for_review(
    s: &mut SimState,
    installation: u64,
    call: &Call,
) -> Result<Map<String, Value>, String> {
    let id = call.input["pullRequestId"].as_str().unwrap_or_default();
    let (full, number) = visible_node(s, installation, id, |r| {
        r.pulls
            .values()
            .map(|p| (node_id("PR_", p.id), p.number))
            .collect()
    })?;
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
    let mut payload = Map::new();
    if call.selected.iter().any(|f| f == "pullRequest") {
        let r = &s.repos[&full];
        let rendered = super::render::pull(s, r, &r.pulls[&number]);
        let mut pull = Map::new();
        for field in &call.pull_fields {
            let value = match field.as_str() {
                "id" => rendered["node_id"].clone(),
                "number" => rendered["number"].clone(),
                "isDraft" => rendered["draft"].clone(),
                "url" => rendered["html_url"].clone(),
                _ => json!(rendered["state"].as_str().unwrap_or("open").to_uppercase()),
            };
            pull.insert(field.clone(), value);
        }
        payload.insert("pullRequest".into(), Value::Object(pull));
    }
    Ok(payload)
}

/// `addLabelsToLabelable` / `removeLabelsFromLabelable` on an issue or PR the installation
/// sees, by node ids: each label added that was not there sends `labeled`, each removed that
/// was there `unlabeled` (sender the App's bot); a label already there, or not there to
/// remove, changes nothing and is no error.
fn relabel(s: &mut SimState, installation: u64, call: &Call) -> Result<Map<String, Value>, String> {
    let target = call.input["labelableId"].as_str().unwrap_or_default();
    let (full, number) = visible_node(s, installation, target, |r| {
        r.issues
            .values()
            .map(|i| match r.pulls.get(&i.number) {
                Some(p) if i.is_pull_request => (node_id("PR_", p.id), i.number),
                _ => (node_id("I_", i.id), i.number),
            })
            .collect()
    })?;
    let mut names = Vec::new();
    for id in call.input["labelIds"].as_array().into_iter().flatten() {
        let id = id.as_str().unwrap_or_default();
        let label = s.repos[&full]
            .labels
            .values()
            .find(|l| node_id("LA_", l.id) == id)
            .ok_or_else(|| unresolved(id))?;
        names.push(label.name.clone());
    }
    let now = s.now();
    let issue = s
        .repo_mut(&full)
        .and_then(|r| r.issues.get_mut(&number))
        .expect("found above");
    let mut changed = Vec::new();
    for name in names {
        let there = issue.labels.iter().any(|l| l.eq_ignore_ascii_case(&name));
        match call.mutation {
            Mutation::AddLabels if !there => issue.labels.push(name.clone()),
            Mutation::RemoveLabels if there => {
                issue.labels.retain(|l| !l.eq_ignore_ascii_case(&name));
            }
            _ => continue,
        }
        changed.push(name);
    }
    if !changed.is_empty() {
        issue.updated_at = now;
    }
    let bot = s.app.bot_login();
    for name in changed {
        if call.mutation == Mutation::AddLabels {
            super::people::labeled(s, &full, number, &name, &bot);
        } else {
            super::people::unlabeled(s, &full, number, &name, &bot);
        }
    }
    Ok(Map::new())
}

/// The mutation fields of `document`, read with `variables`, or why GitHub would refuse it.
fn mutation_fields(
    document: &Document<'_, String>,
    variables: &Map<String, Value>,
) -> Result<Vec<Call>, String> {
    let [Definition::Operation(OperationDefinition::Mutation(m))] = document.definitions.as_slice()
    else {
        return Err("the simulator serves one mutation per request, nothing else".into());
    };
    if m.selection_set.items.is_empty() {
        return Err("the mutation selects no field".into());
    }
    let declared = m.variable_definitions.as_slice();
    let mut calls = Vec::new();
    for item in &m.selection_set.items {
        let Selection::Field(field) = item else {
            return Err("the simulator does not serve fragments".into());
        };
        let Some(mutation) = Mutation::named(&field.name) else {
            return Err(format!(
                "Field '{}' doesn't exist on type 'Mutation'",
                field.name
            ));
        };
        let input = input_of(field, mutation, declared, variables)?;
        let (selected, pull_fields) = payload_fields(&field.selection_set, mutation)?;
        let key = field.alias.clone().unwrap_or_else(|| field.name.clone());
        if calls.iter().any(|c: &Call| c.key == key) {
            return Err(format!(
                "Field '{key}' has an argument conflict: two fields answer under one name (use aliases)"
            ));
        }
        calls.push(Call {
            key,
            mutation,
            input,
            selected,
            pull_fields,
        });
    }
    for d in declared {
        if !query_uses(&m.selection_set, &d.name) {
            return Err(format!("Variable ${} is declared but never used", d.name));
        }
    }
    Ok(calls)
}

/// Whether a selection's arguments use variable `name` anywhere.
fn query_uses(set: &SelectionSet<'_, String>, name: &str) -> bool {
    fn in_value(v: &GqlValue<'_, String>, name: &str) -> bool {
        match v {
            GqlValue::Variable(var) => var == name,
            GqlValue::List(items) => items.iter().any(|i| in_value(i, name)),
            GqlValue::Object(fields) => fields.values().any(|f| in_value(f, name)),
            _ => false,
        }
    }
    set.items.iter().any(|item| match item {
        Selection::Field(f) => {
            f.arguments.iter().any(|(_, v)| in_value(v, name)) || query_uses(&f.selection_set, name)
        }
        _ => false,
    })
}

/// The `input` argument of `field` as JSON, checked against the mutation's input type.
fn input_of<'a>(
    field: &Field<'a, String>,
    mutation: Mutation,
    declared: &[VariableDefinition<'a, String>],
    variables: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let (type_name, fields) = mutation.input();
    let name = mutation.name();
    let [(argument, input)] = field.arguments.as_slice() else {
        return Err(format!("{name} takes exactly the argument `input`"));
    };
    if argument != "input" {
        return Err(format!(
            "Field '{name}' doesn't accept argument '{argument}'"
        ));
    }
    let given: Map<String, Value> = match input {
        GqlValue::Object(given) => {
            let mut out = Map::new();
            for (key, value) in given {
                // An unknown key is refused below.
                let ty = fields.iter().find(|(f, _)| f == key).map_or("", |(_, t)| t);
                out.insert(key.clone(), literal(value, ty, declared, variables)?);
            }
            out
        }
        GqlValue::Variable(var) => {
            let expected = format!("{type_name}!");
            let ty = declared_type(declared, var)
                .ok_or_else(|| format!("Variable ${var} is used but not declared"))?;
            if ty.to_string() != expected {
                return Err(format!(
                    "Type mismatch on variable ${var}: declared {ty}, expected {expected}"
                ));
            }
            match variables.get(var.as_str()) {
                Some(Value::Object(given)) => given.clone(),
                _ => {
                    return Err(format!(
                        "Variable ${var} of type {expected} was provided invalid value"
                    ));
                }
            }
        }
        _ => {
            return Err(format!(
                "Argument 'input' on Field '{name}' has an invalid value"
            ));
        }
    };
    for (key, value) in &given {
        let Some((_, ty)) = fields.iter().find(|(f, _)| f == key) else {
            return Err(format!(
                "InputObject '{type_name}' doesn't accept argument '{key}'"
            ));
        };
        if !fits(value, ty) {
            return Err(format!(
                "Argument '{key}' on InputObject '{type_name}' has an invalid value ({value}). Expected type '{ty}'."
            ));
        }
    }
    for (key, ty) in fields.iter() {
        if ty.ends_with('!') && given.get(*key).is_none_or(Value::is_null) {
            return Err(format!(
                "Argument '{key}' on InputObject '{type_name}' is required. Expected type {ty}"
            ));
        }
    }
    Ok(given)
}

/// An inline value as JSON: literals as they are, a variable by its value once its declared
/// type is one `expected` accepts (a non-null variable may fill a nullable place, not the
/// reverse).
fn literal<'a>(
    value: &GqlValue<'a, String>,
    expected: &str,
    declared: &[VariableDefinition<'a, String>],
    variables: &Map<String, Value>,
) -> Result<Value, String> {
    Ok(match value {
        GqlValue::String(s) => Value::String(s.clone()),
        GqlValue::Null => Value::Null,
        GqlValue::List(items) => {
            let inner = expected
                .trim_end_matches('!')
                .strip_prefix('[')
                .and_then(|t| t.strip_suffix(']'))
                .unwrap_or("");
            let items: Result<Vec<Value>, String> = items
                .iter()
                .map(|i| literal(i, inner, declared, variables))
                .collect();
            Value::Array(items?)
        }
        GqlValue::Variable(var) => {
            let ty = declared_type(declared, var)
                .ok_or_else(|| format!("Variable ${var} is used but not declared"))?;
            let ty = ty.to_string();
            if ty.trim_end_matches('!') != expected.trim_end_matches('!')
                || (expected.ends_with('!') && !ty.ends_with('!'))
            {
                return Err(format!(
                    "Type mismatch on variable ${var}: declared {ty}, expected {expected}"
                ));
            }
            let value = variables.get(var.as_str()).cloned().unwrap_or(Value::Null);
            if !fits(&value, &ty) {
                return Err(format!(
                    "Variable ${var} of type {ty} was provided invalid value {value}"
                ));
            }
            value
        }
        other => return Err(format!("Argument value {other} has an invalid type")),
    })
}

/// The type a variable is declared with.
fn declared_type<'d, 'a>(
    declared: &'d [VariableDefinition<'a, String>],
    var: &str,
) -> Option<&'d Type<'a, String>> {
    declared.iter().find(|d| d.name == var).map(|d| &d.var_type)
}

/// Whether a JSON value is one of GraphQL type `ty` (the scalars here are `ID` and `String`).
fn fits(value: &Value, ty: &str) -> bool {
    let (inner, required) = match ty.strip_suffix('!') {
        Some(inner) => (inner, true),
        None => (ty, false),
    };
    match value {
        Value::Null => !required,
        Value::String(_) => matches!(inner, "ID" | "String"),
        Value::Array(items) => inner
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .is_some_and(|item| items.iter().all(|i| fits(i, item))),
        _ => false,
    }
}

/// The payload fields a mutation selects, and `pullRequest`'s own fields.
fn payload_fields(
    set: &SelectionSet<'_, String>,
    mutation: Mutation,
) -> Result<(Vec<String>, Vec<String>), String> {
    if set.items.is_empty() {
        return Err(format!(
            "Field must have selections (field '{}' returns {} but has no selections)",
            mutation.name(),
            mutation.payload()
        ));
    }
    let (mut selected, mut pull) = (Vec::new(), Vec::new());
    for item in &set.items {
        let Selection::Field(f) = item else {
            return Err("the simulator does not serve fragments".into());
        };
        match (f.name.as_str(), mutation) {
            ("clientMutationId", _) => {}
            ("pullRequest", Mutation::ReadyForReview) => pull = pull_fields(&f.selection_set)?,
            (other, _) => {
                return Err(format!(
                    "Field '{other}' doesn't exist on type '{}' (or the simulator does not serve it)",
                    mutation.payload()
                ));
            }
        }
        selected.push(f.name.clone());
    }
    Ok((selected, pull))
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
