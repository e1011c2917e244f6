//! GitHub's REST description (vendored subset) as the simulator's referee: which operation a
//! request is, and whether the request — and the simulator's own answer — conforms.
//!
//! Owns: route matching from the description's path templates, and JSON Schema validation of
//! path and query parameters and bodies (draft 2020-12, formats checked).
//! Must not: hold state or answer requests.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use http::Method;
use jsonschema::{Draft, Registry, Validator};
use regex::Regex;
use serde_json::{Value, json};

const REST_DESCRIPTION: &str = include_str!("../../tests/fixtures/github/rest-api-subset.json");
const WEBHOOK_DESCRIPTION: &str =
    include_str!("../../tests/fixtures/github/webhook-schemas-subset.json");
const REST_URI: &str = "https://sim.shipgate.invalid/rest-api.json";
const WEBHOOK_URI: &str = "https://sim.shipgate.invalid/webhooks.json";

static REST: LazyLock<Value> = LazyLock::new(|| {
    let mut doc = serde_json::from_str(REST_DESCRIPTION).expect("vendored REST description parses");
    apply_errata(&mut doc);
    doc
});

/// Known defects of GitHub's description, corrected where the real API (and the
/// description's own examples) disagree with it:
/// - An installation's `account` is a user *or* an enterprise; some inlined copies of the
///   schema say `allOf` (both at once), which no real account satisfies.
fn apply_errata(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let user_or_enterprise =
                map.get("allOf")
                    .and_then(Value::as_array)
                    .is_some_and(|parts| {
                        let titles: Vec<&str> = parts
                            .iter()
                            .filter_map(|p| p.get("title")?.as_str())
                            .collect();
                        titles == ["Simple User", "Enterprise"]
                    });
            if user_or_enterprise && let Some(parts) = map.remove("allOf") {
                map.insert("anyOf".into(), parts);
            }
            map.values_mut().for_each(apply_errata);
        }
        Value::Array(items) => items.iter_mut().for_each(apply_errata),
        _ => {}
    }
}

/// The `uri` format, except that the empty string passes: GitHub documents `""` as the
/// default of several URL fields (deployment statuses' `target_url`, `log_url`, …).
fn uri_or_empty(text: &str) -> bool {
    text.is_empty() || url::Url::parse(text).is_ok()
}
static WEBHOOKS: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(WEBHOOK_DESCRIPTION).expect("vendored webhook description parses")
});
static REGISTRY: LazyLock<Registry<'static>> = LazyLock::new(|| {
    Registry::new()
        .draft(Draft::Draft202012)
        .add(REST_URI, &*REST)
        .and_then(|b| b.add(WEBHOOK_URI, &*WEBHOOKS))
        .and_then(|b| b.prepare())
        .expect("the vendored descriptions form a valid schema registry")
});

/// One parameter of an operation.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub location: String,
    pub required: bool,
    pub schema: Value,
}

/// One operation of the REST description.
#[derive(Debug)]
pub struct Operation {
    pub id: String,
    pub method: Method,
    pub template: String,
    pattern: Regex,
    literal_chars: usize,
    names: Vec<String>,
    pub params: Vec<Param>,
    request_body: Option<(bool, Value)>,
    responses: HashMap<String, Option<Value>>,
}

/// The REST description, indexed.
pub struct Spec {
    operations: Vec<Operation>,
    validators: Mutex<HashMap<String, Arc<Validator>>>,
}

/// Parameters whose values may contain `/` (refs, file paths, branch names, `base...head`).
const MULTI_SEGMENT: [&str; 4] = ["ref", "path", "branch", "basehead"];

fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix('#')
            .and_then(|p| doc.pointer(p))
            .map(|v| resolve(doc, v))
            .unwrap_or(value),
        None => value,
    }
}

/// Rewrites document-local `$ref`s (`#/…`) so they resolve inside the registered document.
fn anchor_refs(value: &Value, base: &str) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("$ref", Value::String(r)) if r.starts_with('#') => {
                            Value::String(format!("{base}{r}"))
                        }
                        _ => anchor_refs(v, base),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| anchor_refs(v, base)).collect()),
        other => other.clone(),
    }
}

impl Spec {
    pub fn load() -> Self {
        let doc = &*REST;
        let mut operations = Vec::new();
        for (template, item) in doc["paths"].as_object().expect("paths") {
            let shared: Vec<Value> = item
                .get("parameters")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for (method, op) in item.as_object().expect("path item") {
                let Ok(method) = method.to_uppercase().parse::<Method>() else {
                    continue;
                };
                let Some(id) = op.get("operationId").and_then(Value::as_str) else {
                    continue;
                };
                let params = shared
                    .iter()
                    .chain(
                        op.get("parameters")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten(),
                    )
                    .map(|p| resolve(doc, p))
                    .map(|p| Param {
                        name: p["name"].as_str().unwrap_or_default().to_owned(),
                        location: p["in"].as_str().unwrap_or_default().to_owned(),
                        required: p["required"].as_bool().unwrap_or(false),
                        schema: p.get("schema").cloned().unwrap_or(json!({})),
                    })
                    .collect();
                let request_body = op.get("requestBody").map(|b| {
                    let b = resolve(doc, b);
                    let schema = b
                        .pointer("/content/application~1json/schema")
                        .cloned()
                        .unwrap_or(json!({}));
                    (b["required"].as_bool().unwrap_or(false), schema)
                });
                let responses = op["responses"]
                    .as_object()
                    .map(|r| {
                        r.iter()
                            .map(|(status, resp)| {
                                let resp = resolve(doc, resp);
                                (
                                    status.clone(),
                                    resp.pointer("/content/application~1json/schema").cloned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let (pattern, names, literal_chars) = compile_template(template);
                operations.push(Operation {
                    id: id.to_owned(),
                    method: method.clone(),
                    template: template.clone(),
                    pattern,
                    literal_chars,
                    names,
                    params,
                    request_body,
                    responses,
                });
            }
        }
        Self {
            operations,
            validators: Mutex::new(HashMap::new()),
        }
    }

    pub fn operation(&self, id: &str) -> Option<&Operation> {
        self.operations.iter().find(|o| o.id == id)
    }

    /// Finds the operation for a request; the most specific template wins.
    pub fn route(
        &self,
        method: &Method,
        path: &str,
    ) -> Option<(&Operation, HashMap<String, String>)> {
        self.operations
            .iter()
            .filter(|op| op.method == *method)
            .filter_map(|op| {
                let caps = op.pattern.captures(path)?;
                let params = op
                    .names
                    .iter()
                    .enumerate()
                    .map(|(i, name)| {
                        let raw = caps.get(i + 1).map_or("", |m| m.as_str());
                        let decoded = percent_decode(raw);
                        (name.clone(), decoded)
                    })
                    .collect();
                Some((op, params))
            })
            .max_by_key(|(op, _)| op.literal_chars)
    }

    fn validator(&self, key: &str, schema: &Value, base: &str) -> Result<Arc<Validator>, String> {
        if let Some(v) = self.validators.lock().expect("validator cache").get(key) {
            return Ok(v.clone());
        }
        let anchored = anchor_refs(schema, base);
        let validator = jsonschema::options()
            .with_draft(Draft::Draft202012)
            .with_registry(&REGISTRY)
            .should_validate_formats(true)
            .with_format("uri", uri_or_empty)
            .build(&anchored)
            .map_err(|e| format!("schema for {key} does not compile: {e}"))?;
        let validator = Arc::new(validator);
        self.validators
            .lock()
            .expect("validator cache")
            .insert(key.to_owned(), validator.clone());
        Ok(validator)
    }

    fn check(
        &self,
        key: &str,
        schema: &Value,
        base: &str,
        instance: &Value,
        what: &str,
    ) -> Vec<String> {
        match self.validator(key, schema, base) {
            Ok(v) => v
                .iter_errors(instance)
                .take(5)
                .map(|e| {
                    let at = e.instance_path().to_string();
                    format!(
                        "{what}{}: {e}",
                        if at.is_empty() {
                            String::new()
                        } else {
                            format!(" at {at}")
                        }
                    )
                })
                .collect(),
            Err(e) => vec![e],
        }
    }

    /// Everything wrong with a request for `op`.
    pub fn check_request(
        &self,
        op: &Operation,
        path_params: &HashMap<String, String>,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        for p in op.params.iter().filter(|p| p.location == "path") {
            if let Some(raw) = path_params.get(&p.name) {
                let key = format!("{}#path:{}", op.id, p.name);
                problems.extend(self.check(
                    &key,
                    &p.schema,
                    REST_URI,
                    &typed(raw, &p.schema),
                    &format!("path parameter `{}`", p.name),
                ));
            }
        }
        for (name, raw) in query {
            match op
                .params
                .iter()
                .find(|p| p.location == "query" && p.name == *name)
            {
                None => problems.push(format!("unknown query parameter `{name}`")),
                Some(p) => {
                    let key = format!("{}#query:{}", op.id, p.name);
                    problems.extend(self.check(
                        &key,
                        &p.schema,
                        REST_URI,
                        &typed(raw, &p.schema),
                        &format!("query parameter `{name}`"),
                    ));
                }
            }
        }
        for p in op
            .params
            .iter()
            .filter(|p| p.location == "query" && p.required)
        {
            if !query.iter().any(|(n, _)| *n == p.name) {
                problems.push(format!("required query parameter `{}` is missing", p.name));
            }
        }
        match (&op.request_body, body) {
            (None, Some(_)) => problems.push("this operation takes no request body".into()),
            (Some((true, _)), None) => problems.push("the request body is required".into()),
            (Some((_, schema)), Some(body)) => {
                let key = format!("{}#request", op.id);
                problems.extend(self.check(&key, schema, REST_URI, body, "request body"));
            }
            _ => {}
        }
        problems
    }

    /// Everything wrong with the simulator's own answer (a bug in the simulator).
    pub fn check_response(&self, op: &Operation, status: u16, body: Option<&Value>) -> Vec<String> {
        let documented = op.responses.get(&status.to_string());
        match (documented, body) {
            (None, _) if status >= 400 => Vec::new(),
            (None, _) => vec![format!("status {status} is not documented for {}", op.id)],
            (Some(Some(schema)), Some(body)) => {
                let key = format!("{}#response:{status}", op.id);
                self.check(&key, schema, REST_URI, body, "response body")
            }
            (Some(Some(_)), None) => vec![format!("status {status} of {} must have a body", op.id)],
            (Some(None), _) => Vec::new(),
        }
    }

    /// Checks a webhook payload the simulator is about to send, against GitHub's webhook
    /// description (`event`-`action`, e.g. `workflow-run-completed`).
    pub fn check_webhook(&self, event: &str, action: Option<&str>, payload: &Value) -> Vec<String> {
        let name = match action {
            Some(a) => format!("{}-{}", event.replace('_', "-"), a.replace('_', "-")),
            None => event.replace('_', "-"),
        };
        let Some(schema) = WEBHOOKS.pointer(&format!(
            "/webhooks/{name}/post/requestBody/content/application~1json/schema"
        )) else {
            return vec![format!(
                "webhook `{name}` is not in the vendored webhook description"
            )];
        };
        self.check(
            &format!("webhook:{name}"),
            schema,
            WEBHOOK_URI,
            payload,
            &format!("webhook {name}"),
        )
    }
}

fn compile_template(template: &str) -> (Regex, Vec<String>, usize) {
    let mut pattern = String::from("^");
    let mut names = Vec::new();
    let mut literal = 0;
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let end = rest[start..]
            .find('}')
            .map(|e| start + e)
            .expect("balanced braces");
        pattern.push_str(&regex::escape(&rest[..start]));
        literal += start;
        let name = &rest[start + 1..end];
        let is_last = rest[end + 1..].is_empty();
        if is_last && MULTI_SEGMENT.contains(&name) {
            pattern.push_str("(.+)");
        } else {
            pattern.push_str("([^/]+)");
        }
        names.push(name.to_owned());
        rest = &rest[end + 1..];
    }
    pattern.push_str(&regex::escape(rest));
    literal += rest.len();
    pattern.push('$');
    (
        Regex::new(&pattern).expect("template regex"),
        names,
        literal,
    )
}

/// Turns a parameter's text into the JSON type its schema expects, so `"12"` checks as 12.
fn typed(raw: &str, schema: &Value) -> Value {
    let ty = schema.get("type");
    let is = |t: &str| {
        ty.is_some_and(|v| v == t || v.as_array().is_some_and(|a| a.iter().any(|x| x == t)))
    };
    if is("integer")
        && let Ok(n) = raw.parse::<i64>()
    {
        return json!(n);
    }
    if is("boolean")
        && let Ok(b) = raw.parse::<bool>()
    {
        return json!(b);
    }
    Value::String(raw.to_owned())
}

pub fn percent_decode(raw: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", raw.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// A copy of one of the description's examples (`components/examples/<name>`), the starting
/// point for the simulator's answers so they carry every field GitHub sends.
pub fn example(name: &str) -> Value {
    let value = REST
        .pointer(&format!("/components/examples/{name}/value"))
        .unwrap_or_else(|| panic!("the REST description has no example `{name}`"))
        .clone();
    match value {
        Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_prefer_the_most_specific_template() {
        let spec = Spec::load();
        let (op, params) = spec
            .route(&Method::GET, "/repos/o/r/commits/abc123/check-runs")
            .unwrap();
        assert_eq!(op.id, "checks/list-for-ref");
        assert_eq!(params["ref"], "abc123");
        let (op, params) = spec
            .route(&Method::GET, "/repos/o/r/git/ref/heads/feature/x")
            .unwrap();
        assert_eq!(op.id, "git/get-ref");
        assert_eq!(params["ref"], "heads/feature/x");
        let (op, params) = spec
            .route(&Method::GET, "/repos/o/r/contents/.github/shipgate.yml")
            .unwrap();
        assert_eq!(op.id, "repos/get-content");
        assert_eq!(params["path"], ".github/shipgate.yml");
        assert!(spec.route(&Method::DELETE, "/repos/o/r").is_none());
    }

    #[test]
    fn request_bodies_and_parameters_are_checked() {
        let spec = Spec::load();
        let op = spec.operation("issues/create-comment").unwrap();
        let params: HashMap<String, String> =
            [("owner", "o"), ("repo", "r"), ("issue_number", "7")]
                .map(|(k, v)| (k.into(), v.into()))
                .into();
        assert!(
            spec.check_request(op, &params, &[], Some(&json!({"body": "hi"})))
                .is_empty()
        );
        let missing = spec.check_request(op, &params, &[], Some(&json!({"text": "hi"})));
        assert!(missing.iter().any(|p| p.contains("body")), "{missing:?}");
        let bad_number: HashMap<String, String> =
            [("owner", "o"), ("repo", "r"), ("issue_number", "seven")]
                .map(|(k, v)| (k.into(), v.into()))
                .into();
        assert!(
            !spec
                .check_request(op, &bad_number, &[], Some(&json!({"body": "hi"})))
                .is_empty()
        );
        let unknown = spec.check_request(
            op,
            &params,
            &[("bogus".into(), "1".into())],
            Some(&json!({"body": "x"})),
        );
        assert_eq!(unknown, vec!["unknown query parameter `bogus`".to_string()]);
    }
}
