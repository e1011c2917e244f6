//! `.github/shipgate.yml` described once: `shipgate.schema.json` (JSON Schema 2020-12) says
//! every key, type, range and pattern, and in `x-messages` how shipgate words each problem.
//! A parsed file is turned into JSON (YAML's core types; a quoted scalar stays text) with the
//! line of every key and value, validated against the schema, and each problem reported
//! with its line and dotted key. Editors read the same file (`shipgate config schema`).
//!
//! Must not: hold a rule the schema can say (the reader keeps only what it cannot: durations
//! over zero that fit in u64, and URLs that parse).

use std::collections::HashMap;
use std::sync::LazyLock;

use marked_yaml::Node;
use serde_json::{Map, Value};

/// The schema, as `shipgate config schema` prints it.
pub const SCHEMA: &str = include_str!("shipgate.schema.json");

static DOCUMENT: LazyLock<Value> =
    LazyLock::new(|| serde_json::from_str(SCHEMA).expect("the schema is JSON"));

static VALIDATOR: LazyLock<jsonschema::Validator> =
    LazyLock::new(|| jsonschema::validator_for(&DOCUMENT).expect("the schema is valid"));

/// A file as JSON, with where each part of it is.
pub(super) struct Located {
    pub value: Value,
    /// JSON pointer → line of the value.
    values: HashMap<String, usize>,
    /// JSON pointer → line of the key naming it (members of a mapping).
    keys: HashMap<String, usize>,
    /// JSON pointer → the scalar as written (for messages).
    written: HashMap<String, String>,
}

/// One problem: line, dotted key, message.
pub(super) type Problem = (usize, String, String);

/// A problem the schema found, and the JSON pointer of what it is about.
pub(super) struct Found {
    pub pointer: String,
    pub problem: Problem,
}

impl Located {
    pub fn from_yaml(root: &Node) -> Located {
        let mut located = Located {
            value: Value::Null,
            values: HashMap::new(),
            keys: HashMap::new(),
            written: HashMap::new(),
        };
        located.value = located.convert(root, String::new());
        located
    }

    fn convert(&mut self, node: &Node, pointer: String) -> Value {
        self.values.insert(pointer.clone(), line_of(node));
        match node {
            Node::Mapping(map) => {
                let mut out = Map::new();
                for (key, value) in map.iter() {
                    let child = format!("{pointer}/{}", escape(key.as_str()));
                    self.keys
                        .insert(child.clone(), key.span().start().map_or(0, |m| m.line()));
                    out.insert(key.as_str().to_owned(), self.convert(value, child));
                }
                Value::Object(out)
            }
            Node::Sequence(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.convert(item, format!("{pointer}/{i}")))
                    .collect(),
            ),
            Node::Scalar(s) => {
                let text = s.as_str();
                self.written.insert(pointer, text.to_owned());
                if !s.may_coerce() {
                    return Value::String(text.to_owned());
                }
                scalar(text)
            }
        }
    }

    /// Every problem the schema finds, in the order of the file.
    pub fn problems(&self) -> Vec<Found> {
        let mut out: Vec<Found> = Vec::new();
        for error in VALIDATOR.iter_errors(&self.value) {
            let instance = error.instance_path().as_str().to_owned();
            if let jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } =
                error.kind()
            {
                let known = known_keys(error.evaluation_path().as_str());
                for key in unexpected {
                    let pointer = format!("{instance}/{}", escape(key));
                    out.push(Found {
                        problem: (
                            self.keys.get(&pointer).copied().unwrap_or(0),
                            dotted(&self.value, &pointer),
                            format!("unknown key (expected one of: {})", known.join(", ")),
                        ),
                        pointer,
                    });
                }
                continue;
            }
            let (message, depth) =
                message(error.evaluation_path().as_str(), error.kind().keyword());
            // Reported at the key whose schema holds the message (a list's, for its items).
            let pointer = truncate(&instance, depth);
            let shown = self
                .written
                .get(&instance)
                .cloned()
                .unwrap_or_else(|| compact(error.instance()));
            let is_null = error.instance().is_null();
            let text = match message {
                Messages::Found {
                    null: Some(null), ..
                } if is_null => null,
                Messages::Found { text, .. } => text,
                Messages::None => error.to_string(),
            };
            out.push(Found {
                problem: (
                    self.values.get(&pointer).copied().unwrap_or(0),
                    dotted(&self.value, &pointer),
                    text.replace("{value}", &shown),
                ),
                pointer,
            });
        }
        out.sort_by(|a, b| a.problem.cmp(&b.problem));
        out.dedup_by(|a, b| a.problem.0 == b.problem.0 && a.problem.1 == b.problem.1);
        out
    }

    /// The file without the parts at `pointers` (a list with a bad item goes whole): what the
    /// rules beyond the schema still look at.
    pub fn without(&self, pointers: &[String]) -> Value {
        let mut value = self.value.clone();
        for pointer in pointers {
            let (parent, last) = pointer.rsplit_once('/').unwrap_or(("", pointer));
            match value.pointer_mut(parent) {
                Some(Value::Object(map)) => {
                    map.remove(&unescape(last));
                }
                Some(Value::Array(_)) => {
                    let (grand, key) = parent.rsplit_once('/').unwrap_or(("", parent));
                    if let Some(Value::Object(map)) = value.pointer_mut(grand) {
                        map.remove(&unescape(key));
                    }
                }
                _ => {}
            }
        }
        value
    }

    /// The line of the value at `pointer`.
    pub fn line(&self, pointer: &str) -> usize {
        self.values.get(pointer).copied().unwrap_or(0)
    }
}

/// A plain YAML scalar as JSON, by YAML's core schema (as shipgate reads it: only `true` and
/// `false` are booleans, and `~`, `null` or nothing is null).
fn scalar(text: &str) -> Value {
    match text {
        "" | "~" | "null" => return Value::Null,
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    let numeric = text.bytes().enumerate().all(|(i, b)| {
        b.is_ascii_digit() || b == b'.' || ((b == b'-' || b == b'+') && i == 0) || b == b'e'
    }) && text.bytes().any(|b| b.is_ascii_digit());
    if numeric {
        if let Ok(n) = text.parse::<i64>() {
            return Value::from(n);
        }
        if let Ok(f) = text.parse::<f64>()
            && f.is_finite()
            && let Some(n) = serde_json::Number::from_f64(f)
        {
            return Value::Number(n);
        }
    }
    Value::String(text.to_owned())
}

enum Messages {
    Found { text: String, null: Option<String> },
    None,
}

/// Shipgate's wording for `keyword` failing at `evaluation` (a path through the schema with
/// `$ref`s), from the nearest `x-messages` up that path that words it; and how many instance
/// levels deep that schema node is.
fn message(evaluation: &str, keyword: &str) -> (Messages, usize) {
    // The schema nodes along the path, each with the instance depth it stands for.
    let mut nodes: Vec<(&Value, usize)> = vec![(&DOCUMENT, 0)];
    let (mut node, mut depth) = (&*DOCUMENT, 0);
    let mut segments = evaluation.split('/').skip(1).map(unescape);
    while let Some(segment) = segments.next() {
        let next = match segment.as_str() {
            "$ref" => node.get("$ref").and_then(Value::as_str).and_then(resolve),
            "properties" | "$defs" => {
                let Some(name) = segments.next() else { break };
                if segment == "properties" {
                    depth += 1;
                }
                node.get(&segment).and_then(|m| m.get(&name))
            }
            "items" | "additionalProperties" => {
                depth += 1;
                node.get(&segment)
            }
            "anyOf" | "oneOf" | "allOf" => {
                let Some(i) = segments.next() else { break };
                node.get(&segment)
                    .and_then(|list| list.get(i.parse::<usize>().unwrap_or(usize::MAX)))
            }
            _ => None, // the keyword itself
        };
        match next {
            Some(n) => {
                node = n;
                nodes.push((node, depth));
            }
            None => break,
        }
    }
    for (node, depth) in nodes.into_iter().rev() {
        let Some(messages) = node.get("x-messages") else {
            continue;
        };
        let pick = messages.get(keyword).or_else(|| messages.get("*"));
        if let Some(text) = pick.and_then(Value::as_str) {
            let null = messages
                .get("null")
                .and_then(Value::as_str)
                .map(str::to_owned);
            return (
                Messages::Found {
                    text: text.to_owned(),
                    null,
                },
                depth,
            );
        }
    }
    (Messages::None, usize::MAX)
}

/// The object the schema's `"#/$defs/…"` reference names.
fn resolve(reference: &str) -> Option<&'static Value> {
    DOCUMENT.pointer(reference.strip_prefix('#')?)
}

/// The keys the object whose `additionalProperties` failed knows, sorted.
fn known_keys(evaluation: &str) -> Vec<String> {
    let path = evaluation
        .strip_suffix("/additionalProperties")
        .unwrap_or(evaluation);
    let mut node = &*DOCUMENT;
    for segment in path.split('/').skip(1).map(unescape) {
        node = match segment.as_str() {
            "$ref" => match node.get("$ref").and_then(Value::as_str).and_then(resolve) {
                Some(n) => n,
                None => break,
            },
            _ => match node.get(&segment) {
                Some(n) => n,
                None => break,
            },
        };
    }
    let mut keys: Vec<String> = node
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

/// `pointer` cut to its first `depth` segments.
fn truncate(pointer: &str, depth: usize) -> String {
    pointer
        .split('/')
        .skip(1)
        .take(depth)
        .fold(String::new(), |acc, s| format!("{acc}/{s}"))
}

/// `review.required_approvals`, `approvers.production[2]`: a JSON pointer as shipgate names
/// keys.
pub(super) fn dotted(value: &Value, pointer: &str) -> String {
    let mut out = String::new();
    let mut node = Some(value);
    for segment in pointer.split('/').skip(1).map(unescape) {
        match node {
            Some(Value::Array(items)) => {
                out.push_str(&format!("[{segment}]"));
                node = segment.parse::<usize>().ok().and_then(|i| items.get(i));
            }
            _ => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&segment);
                node = node.and_then(|n| n.get(&segment));
            }
        }
    }
    out
}

/// A value as a message shows it.
fn compact(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

fn line_of(node: &Node) -> usize {
    node.span().start().map_or(0, |m| m.line())
}
