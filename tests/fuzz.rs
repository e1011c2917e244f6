//! Property-based fuzzing of everything shipgate parses from outsiders: the webhook envelope
//! and event decoding (and routing), the slash-command parser, the configuration parser and
//! the Markdown readers (task lists, sections, closing keywords, the plan and its ticks).
//! Structure-aware: webhooks are GitHub's published examples with values replaced, removed
//! or corrupted; configurations are the documented defaults with lines rewritten; comments
//! and issue bodies are built from the constructs those readers look for. Nothing may panic,
//! and the readers keep their promises (a parse is the same twice; a task ticked is read back
//! ticked, and nothing else changes).
//!
//! Cases per parser: `SHIPGATE_FUZZ_CASES` (default 256 in the suite); `bench/fuzz.sh N`
//! runs N per parser in a release build and prints the figures.

use std::time::Instant;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;

use shipgate::engine::mapping::route;
use shipgate::github::envelope::{Envelope, handling};
use shipgate::github::events::decode;
use shipgate::pipeline::commands;
use shipgate::pipeline::config::LoadedConfig;
use shipgate::pipeline::{linking, markdown, plan};

fn cases() -> u32 {
    std::env::var("SHIPGATE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// Runs `check` on `cases()` values of `strategy`; a panic or a failed check is shrunk by
/// proptest and reported with the smallest input it found.
fn fuzz<S: Strategy>(name: &str, strategy: S, check: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let cases = cases();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let started = Instant::now();
    let result = runner.run(&strategy, check);
    let took = started.elapsed().as_secs_f64();
    println!(
        "fuzz {name}: {cases} cases in {took:.1} s ({:.0} cases/s), {}",
        f64::from(cases) / took.max(1e-9),
        if result.is_ok() {
            "nothing found"
        } else {
            "FOUND A FAILURE"
        }
    );
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
}

// ---------------------------------------------------------------------------------------
// Webhooks

/// GitHub's published examples: (event, body).
fn fixtures() -> Vec<(String, Value)> {
    let dir = format!(
        "{}/tests/fixtures/github/webhooks",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut all = Vec::new();
    for event in std::fs::read_dir(&dir).unwrap() {
        let event = event.unwrap();
        let name = event.file_name().to_string_lossy().into_owned();
        for file in std::fs::read_dir(event.path()).unwrap() {
            let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
            all.push((name.clone(), serde_json::from_str(&text).unwrap()));
        }
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// Any JSON value, with the strings webhooks carry and the ones that trip readers.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN", |f| f.is_finite())
            .prop_map(Value::from),
        tricky_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(tricky_text(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Text that parsers stumble on: empty, long, multi-byte, control and bidi characters,
/// Markdown and command syntax, numbers at the edges.
fn tricky_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("shipgate[bot]".to_owned()),
        Just("feature/REQ-18446744073709551615-x".to_owned()),
        Just("REQ-7-t1.deadbeef".to_owned()),
        Just("/approve production".to_owned()),
        Just("Closes #99999999999999999999".to_owned()),
        Just("- [ ] (after 0)".to_owned()),
        Just("\u{202e}\u{0}\u{feff}é日本".to_owned()),
        "[ -~]{0,40}",
        "\\PC{0,40}",
        prop::collection::vec(any::<char>(), 0..30).prop_map(|c| c.into_iter().collect()),
        ("[a-z]{1,3}", 1usize..5000).prop_map(|(s, n)| s.repeat(n)),
    ]
}

/// What is done to one webhook.
#[derive(Debug, Clone)]
enum Edit {
    /// The `n`-th value (in a walk of the document) becomes `value`.
    Replace(usize, Value),
    /// The `n`-th value is removed from its object or array.
    Remove(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<usize>(), any_json()).prop_map(|(n, v)| Edit::Replace(n, v)),
        1 => any::<usize>().prop_map(Edit::Remove),
    ]
}

/// How the bytes are spoiled after the edits, if at all.
#[derive(Debug, Clone)]
enum Spoil {
    None,
    /// Cut at this fraction of the length (per mille).
    Truncate(u16),
    /// The byte at this fraction of the length (per mille) becomes `byte`.
    Byte(u16, u8),
}

fn spoil() -> impl Strategy<Value = Spoil> {
    prop_oneof![
        6 => Just(Spoil::None),
        1 => (0u16..1000).prop_map(Spoil::Truncate),
        1 => (0u16..1000, any::<u8>()).prop_map(|(at, b)| Spoil::Byte(at, b)),
    ]
}

/// Counts the values of a document (the root included).
fn count(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count).sum(),
        Value::Object(o) => o.values().map(count).sum(),
        _ => 0,
    }
}

/// Applies `edit` to the `n`-th value (pre-order), `n` taken modulo the document's size.
fn apply(doc: &mut Value, edit: &Edit) {
    fn walk(v: &mut Value, n: &mut usize, edit: &Edit) -> bool {
        match v {
            Value::Array(a) => {
                for i in 0..a.len() {
                    if *n == 1 && matches!(edit, Edit::Remove(_)) {
                        a.remove(i);
                        return true;
                    }
                    *n -= 1;
                    if *n == 0 {
                        if let Edit::Replace(_, x) = edit {
                            a[i] = x.clone();
                        }
                        return true;
                    }
                    if walk(&mut a[i], n, edit) {
                        return true;
                    }
                }
                false
            }
            Value::Object(o) => {
                let keys: Vec<String> = o.keys().cloned().collect();
                for k in keys {
                    if *n == 1 && matches!(edit, Edit::Remove(_)) {
                        o.remove(&k);
                        return true;
                    }
                    *n -= 1;
                    if *n == 0 {
                        if let Edit::Replace(_, x) = edit {
                            o.insert(k, x.clone());
                        }
                        return true;
                    }
                    if walk(o.get_mut(&k).expect("key just listed"), n, edit) {
                        return true;
                    }
                }
                false
            }
            _ => false,
        }
    }
    let size = count(doc);
    let (Edit::Replace(at, _) | Edit::Remove(at)) = edit;
    let mut n = at % size;
    if n == 0 {
        if let Edit::Replace(_, x) = edit {
            *doc = x.clone();
        }
        return;
    }
    walk(doc, &mut n, edit);
}

const EVENTS: [&str; 19] = [
    "issues",
    "issue_comment",
    "pull_request",
    "pull_request_review",
    "check_run",
    "check_suite",
    "workflow_run",
    "workflow_job",
    "deployment",
    "deployment_status",
    "deployment_protection_rule",
    "installation",
    "installation_repositories",
    "push",
    "sub_issues",
    "issue_dependencies",
    "ping",
    "star",
    "",
];

#[test]
fn webhooks_never_panic_the_envelope_the_decoder_or_the_router() {
    let examples = fixtures();
    let n = examples.len();
    let strategy = (
        0..n,
        prop::collection::vec(edit(), 0..6),
        spoil(),
        prop_oneof![3 => Just(None), 1 => (0..EVENTS.len()).prop_map(Some)],
    );
    fuzz("webhooks", strategy, |(i, edits, spoil, other_event)| {
        let (event, doc) = &examples[i];
        let mut doc = doc.clone();
        doc["installation"] = serde_json::json!({"id": 7});
        for e in &edits {
            apply(&mut doc, e);
        }
        let mut bytes = serde_json::to_vec(&doc).unwrap();
        match spoil {
            Spoil::None => {}
            Spoil::Truncate(at) => bytes.truncate(bytes.len() * at as usize / 1000),
            Spoil::Byte(at, b) => {
                if !bytes.is_empty() {
                    let i = (bytes.len() - 1) * at as usize / 1000;
                    bytes[i] = b;
                }
            }
        }
        let event = other_event.map_or(event.as_str(), |k| EVENTS[k]);
        if let Ok(envelope) = Envelope::parse(&bytes) {
            handling(event, envelope.action.as_deref());
        }
        if let Ok(decoded) = decode(event, &bytes) {
            route(&decoded, "delivery-1", "shipgate[bot]");
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------
// Comments: slash-commands

const WORDS: [&str; 22] = [
    "approve",
    "reject",
    "pause",
    "resume",
    "stop",
    "retry",
    "block",
    "unblock",
    "skip",
    "priority",
    "deploy",
    "rollback",
    "status",
    "help",
    "frobnicate",
    "APPROVE",
    "approve-",
    "usr",
    "task",
    "production",
    "plan",
    "requirement",
];

/// One line of a comment: a command (known or not) with arguments, under whatever
/// Markdown wraps it, or prose.
fn comment_line() -> impl Strategy<Value = String> {
    let word = (0..WORDS.len()).prop_map(|i| WORDS[i].to_owned());
    let args = prop::collection::vec(
        prop_oneof![
            word.clone(),
            tricky_text(),
            (0u64..u64::MAX).prop_map(|n| n.to_string())
        ],
        0..4,
    );
    let command =
        ("/?", word, args).prop_map(|(slash, w, a)| format!("{slash}{w} {}", a.join(" ")));
    let prefix = prop_oneof![
        Just(""),
        Just("> "),
        Just("    "),
        Just("- "),
        Just("```\n"),
        Just("<!-- "),
        Just("~~~\n"),
        Just("# "),
        Just("| "),
        Just("`"),
    ];
    prop_oneof![
        3 => (prefix, command).prop_map(|(p, c)| format!("{p}{c}")),
        1 => tricky_text(),
    ]
}

fn comment() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(comment_line(), 0..30),
        prop_oneof![Just("\n"), Just("\r\n"), Just("\n\n"), Just("\r")],
    )
        .prop_map(|(lines, sep)| lines.join(sep))
}

#[test]
fn comments_never_panic_the_command_parser_and_it_stays_bounded() {
    fuzz("commands", comment(), |body| {
        let parsed = commands::parse(&body);
        prop_assert!(parsed.len() <= commands::MAX_COMMANDS_PER_COMMENT + 1);
        prop_assert_eq!(&parsed, &commands::parse(&body), "the same twice");
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------
// Configuration

const DEFAULTS: &str = include_str!("fixtures/shipgate-defaults.yml");

/// What is done to one line of the defaults.
#[derive(Debug, Clone)]
enum LineEdit {
    /// The value after the first `:` becomes this.
    Value(usize, String),
    Delete(usize),
    Duplicate(usize),
    /// Indented (or dedented) by this many spaces.
    Indent(usize, i8),
    /// A YAML fragment inserted before the line.
    Insert(usize, String),
}

fn yaml_scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("".to_owned()),
        Just("~".to_owned()),
        Just("null".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just("[a, [b, {c: d}]]".to_owned()),
        Just("&a x".to_owned()),
        Just("*a".to_owned()),
        Just("!!binary aGk=".to_owned()),
        Just("1e400".to_owned()),
        Just("-99999999999999999999".to_owned()),
        Just("99999999999h".to_owned()),
        Just("0x1F".to_owned()),
        Just("\"\\u0000\"".to_owned()),
        Just("'unterminated".to_owned()),
        Just("|\n  block\n  text".to_owned()),
        (0u64..u64::MAX).prop_map(|n| n.to_string()),
        "[0-9]{1,4}(ms|s|m|h|d|w|)".prop_map(|s| s),
        "[ -~]{0,30}",
        tricky_text().prop_map(|t| format!("{t:?}")),
    ]
}

fn line_edit() -> impl Strategy<Value = LineEdit> {
    let fragment = prop_oneof![
        Just("---".to_owned()),
        Just("? complex\n: key".to_owned()),
        Just("<<: *a".to_owned()),
        Just("\tindented: with a tab".to_owned()),
        Just("unknown_key: 1".to_owned()),
        Just("develop: {workflows: [a.yml, b.yml], max_parallel: 0}".to_owned()),
        Just("a: &x [*x]".to_owned()),
        "[a-z_]{1,12}: [ -~]{0,20}",
    ];
    prop_oneof![
        4 => (any::<usize>(), yaml_scalar()).prop_map(|(i, v)| LineEdit::Value(i, v)),
        1 => any::<usize>().prop_map(LineEdit::Delete),
        1 => any::<usize>().prop_map(LineEdit::Duplicate),
        1 => (any::<usize>(), -4i8..5).prop_map(|(i, d)| LineEdit::Indent(i, d)),
        1 => (any::<usize>(), fragment).prop_map(|(i, f)| LineEdit::Insert(i, f)),
    ]
}

fn configuration() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::collection::vec(line_edit(), 0..8).prop_map(|edits| {
            let mut lines: Vec<String> = DEFAULTS.lines().map(str::to_owned).collect();
            for e in edits {
                let n = lines.len().max(1);
                match e {
                    LineEdit::Value(i, v) => {
                        let line = &mut lines[i % n];
                        if let Some(colon) = line.find(':') {
                            line.truncate(colon + 1);
                            line.push(' ');
                            line.push_str(&v);
                        }
                    }
                    LineEdit::Delete(i) if !lines.is_empty() => {
                        lines.remove(i % n);
                    }
                    LineEdit::Delete(_) => {}
                    LineEdit::Duplicate(i) => {
                        let line = lines[i % n].clone();
                        lines.insert(i % n, line);
                    }
                    LineEdit::Indent(i, d) => {
                        let line = &mut lines[i % n];
                        if d >= 0 {
                            line.insert_str(0, &" ".repeat(d as usize));
                        } else {
                            let cut = line.len() - line.trim_start().len();
                            line.drain(..cut.min(d.unsigned_abs() as usize));
                        }
                    }
                    LineEdit::Insert(i, f) => lines.insert(i % n, f),
                }
            }
            lines.join("\n")
        }),
        1 => tricky_text(),
    ]
}

#[test]
fn configurations_never_panic_the_parser() {
    fuzz("configuration", configuration(), |text| {
        let repo = LoadedConfig::load(None, Some(&text));
        prop_assert_eq!(
            &repo,
            &LoadedConfig::load(None, Some(&text)),
            "the same twice"
        );
        // As the organisation's defaults, under a repository file of its own.
        LoadedConfig::load(Some(&text), Some("trigger_label: feature\n"));
        for e in &repo.errors {
            prop_assert!(!e.to_string().is_empty());
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------
// Issue and PR bodies: Markdown readers, the plan and its ticks

fn body_line() -> impl Strategy<Value = String> {
    let text = prop_oneof![
        "[A-Za-z ]{0,12}",
        Just("Tests".to_owned()),
        Just("Tests".to_owned()),
        tricky_text(),
    ];
    let marker = prop_oneof![
        Just(String::new()),
        Just(String::new()),
        (0u64..8).prop_map(|n| format!(" (after {n})")),
        (0u64..8, 0u64..8).prop_map(|(a, b)| format!(" (after {a}, #{b})")),
        Just(" (after lunch)".to_owned()),
        Just("(after 18446744073709551616)".to_owned()),
        Just(" (after )".to_owned()),
        Just(" (after".to_owned()),
    ];
    let item = (
        prop_oneof![
            Just(""),
            Just("  "),
            Just("    "),
            Just("\t"),
            Just("> "),
            Just(">> ")
        ],
        prop_oneof![
            Just("- "),
            Just("* "),
            Just("+ "),
            Just("1. "),
            Just("-"),
            Just("12) ")
        ],
        prop_oneof![
            Just("[ ] "),
            Just("[x] "),
            Just("[X] "),
            Just("[] "),
            Just("[ ]"),
            Just("")
        ],
        text,
        marker,
    )
        .prop_map(|(indent, bullet, check, t, m)| format!("{indent}{bullet}{check}{t}{m}"));
    prop_oneof![
        5 => item,
        1 => prop_oneof![
            Just("## Acceptance criteria".to_owned()),
            Just("Acceptance criteria\n---".to_owned()),
            Just("```".to_owned()),
            Just("<!--".to_owned()),
            Just("-->".to_owned()),
            Just("| a | b |\n|---|---|".to_owned()),
            Just("Closes #12, fixes acme/widgets#3".to_owned()),
            Just("<details><summary>x</summary>".to_owned()),
            Just("".to_owned()),
        ],
        1 => tricky_text(),
    ]
}

fn body() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(body_line(), 0..25),
        prop_oneof![Just("\n"), Just("\r\n")],
    )
        .prop_map(|(lines, sep)| lines.join(sep))
}

#[test]
fn issue_bodies_never_panic_the_readers_and_a_tick_reads_back() {
    fuzz("markdown", body(), |body| {
        markdown::headings(&body);
        let _ = markdown::plain_lines(&body).count();
        linking::missing_sections(&body, &["Acceptance criteria".to_owned()]);
        linking::pull_request_issues(&body, "feature/REQ-7-x", "acme/widgets");
        let tasks = linking::task_list(&body);
        let planned = plan::plan(&tasks, &[]);
        // Each unticked task, ticked in the body, reads back ticked; nothing else moves.
        for t in planned.tasks.iter().filter(|t| !t.done) {
            let Some(ticked) = plan::tick_task(&body, &t.title, t.nth) else {
                return Err(TestCaseError::fail(format!(
                    "task {} ({:?}, nth {}) could not be ticked",
                    t.id, t.title, t.nth
                )));
            };
            let again = plan::plan(&linking::task_list(&ticked), &[]);
            prop_assert_eq!(again.tasks.len(), planned.tasks.len());
            for (before, after) in planned.tasks.iter().zip(&again.tasks) {
                let want = before.done || before.id == t.id;
                prop_assert_eq!(after.done, want, "task {} after ticking {}", after.id, t.id);
            }
        }
        Ok(())
    });
}
