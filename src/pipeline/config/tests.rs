use super::*;

#[test]
fn no_file_and_an_empty_file_give_the_documented_defaults() {
    let defaults = LoadedConfig::load(None, None);
    assert!(defaults.is_valid());
    let c = &defaults.config;
    assert_eq!(c.trigger_label, "feature");
    assert_eq!(c.requirement.required_sections, ["Acceptance criteria"]);
    assert_eq!(c.requirement.escalate_after, 24 * 3600);
    assert_eq!(c.plan.approval, PlanApproval::Required);
    assert_eq!(c.review.required_approvals, 1);
    assert!(c.review.dismiss_stale);
    assert_eq!(c.tests.workflows, ["tests.yml"]);
    assert_eq!(c.tests.timeout, 3600);
    assert_eq!(c.deploy.production.health.max_latency_factor, Some(5.0));
    assert_eq!(LoadedConfig::load(None, Some("# nothing yet\n")), defaults);
}

#[test]
fn the_design_example_file_is_accepted_as_written() {
    let text = include_str!("../../../tests/fixtures/shipgate-defaults.yml");
    let loaded = LoadedConfig::load(None, Some(text));
    assert_eq!(loaded.errors, vec![]);
    assert_eq!(loaded.config, Config::default());
}

#[test]
fn repository_values_override_organisation_defaults_key_by_key() {
    let org = "review:\n  required_approvals: 2\n  dismiss_stale: false\ntrigger_label: story\n";
    let repo = "review:\n  required_approvals: 3\n";
    let loaded = LoadedConfig::load(Some(org), Some(repo));
    assert!(loaded.is_valid(), "{:?}", loaded.errors);
    assert_eq!(loaded.config.review.required_approvals, 3);
    assert!(
        !loaded.config.review.dismiss_stale,
        "kept from the organisation"
    );
    assert_eq!(loaded.config.trigger_label, "story");
}

#[test]
fn every_problem_is_reported_with_line_and_key() {
    let text = "\
trigger_label: feature
review:
  required_aprovals: 2
  dismiss_stale: maybe
tests:
  workflows: [tests.yml, ci]
  timeout: 60
plan:
  approval: sometimes
";
    let loaded = LoadedConfig::load(None, Some(text));
    let found: Vec<(usize, &str)> = loaded
        .errors
        .iter()
        .map(|e| (e.line, e.key.as_str()))
        .collect();
    assert_eq!(
        found,
        vec![
            (3, "review.required_aprovals"),
            (4, "review.dismiss_stale"),
            (6, "tests.workflows"),
            (7, "tests.timeout"),
            (9, "plan.approval"),
        ]
    );
    let first = loaded.errors[0].to_string();
    assert!(
        first.contains("line 3") && first.contains("unknown key"),
        "{first}"
    );
    assert!(
        first.contains("required_approvals"),
        "suggests the known keys: {first}"
    );
    assert!(loaded.errors[3].to_string().contains("duration"));
    // Bad values keep the defaults rather than something half-parsed.
    assert_eq!(loaded.config.review.required_approvals, 1);
}

#[test]
fn unreadable_yaml_is_one_clear_problem() {
    let loaded = LoadedConfig::load(None, Some("review: [unclosed\n"));
    assert_eq!(loaded.errors.len(), 1);
    assert!(loaded.errors[0].to_string().contains("not valid YAML"));
    let loaded = LoadedConfig::load(None, Some("- a\n- b\n"));
    assert_eq!(loaded.errors.len(), 1, "{:?}", loaded.errors);
}

#[test]
fn a_file_that_exists_but_cannot_be_read_is_an_error_never_the_defaults() {
    let approvers = b"approvers:\n  production: [releaser]\n# caf\xe9\n";
    let not_utf8 = LoadedConfig::read(
        ConfigFile::Missing,
        ConfigFile::Found {
            bytes: approvers,
            size: approvers.len(),
        },
    );
    assert!(!not_utf8.is_valid());
    assert_eq!(
        not_utf8.errors[0].to_string(),
        ".github/shipgate.yml line 3: not UTF-8 text (byte 42 is not valid UTF-8)"
    );
    let huge = LoadedConfig::read(
        ConfigFile::Missing,
        ConfigFile::Found {
            bytes: b"",
            size: 2_000_000,
        },
    );
    assert!(huge.errors[0].message.contains("2000000 bytes"), "{huge:?}");
    let refused = LoadedConfig::read(
        ConfigFile::Unreadable("GitHub answered 403: Resource not accessible"),
        ConfigFile::Missing,
    );
    assert_eq!(
        refused.errors[0].to_string(),
        "the organisation's .github/.github/shipgate.yml: could not be read: GitHub answered 403: Resource not accessible"
    );
    // Only a missing file means the defaults.
    assert_eq!(
        LoadedConfig::read(ConfigFile::Missing, ConfigFile::Missing),
        LoadedConfig::default()
    );
}

#[test]
fn approvers_accept_logins_and_teams_only() {
    let loaded = LoadedConfig::load(
        None,
        Some("approvers:\n  production: [\"@acme/release\", octocat, \"not a user\"]\n"),
    );
    assert_eq!(loaded.errors.len(), 1);
    assert_eq!(loaded.errors[0].key, "approvers.production[2]");
    let loaded = LoadedConfig::load(
        None,
        Some("approvers:\n  review: [\"@acme/qa\", \"@octocat\"]\n"),
    );
    assert!(loaded.is_valid());
    assert_eq!(loaded.config.approvers.review, ["@acme/qa", "octocat"]);
}

#[test]
fn durations_read_like_people_write_them() {
    assert_eq!(parse_duration("30s"), Some(30));
    assert_eq!(parse_duration("5m"), Some(300));
    assert_eq!(parse_duration("1h30m"), Some(5400));
    assert_eq!(parse_duration("3d"), Some(259_200));
    assert_eq!(parse_duration("60"), None);
    assert_eq!(parse_duration("5 minutes"), None);
    assert_eq!(format_duration(5400), "1h30m");
}

/// Every key the schema knows, dotted, with `$ref`s followed and a node's own `properties`
/// beside its `$ref` (staging's health) merged.
fn schema_keys(
    node: &serde_json::Value,
    doc: &serde_json::Value,
    path: &str,
    out: &mut Vec<String>,
) {
    let mut properties = serde_json::Map::new();
    let mut at = Some(node);
    while let Some(n) = at {
        if let Some(p) = n.get("properties").and_then(|p| p.as_object()) {
            for (k, v) in p {
                properties.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        at = n
            .get("$ref")
            .and_then(|r| r.as_str())
            .and_then(|r| doc.pointer(r.trim_start_matches('#')));
    }
    for (key, child) in properties {
        let dotted = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        out.push(dotted.clone());
        schema_keys(&child, doc, &dotted, out);
    }
}

#[test]
fn the_readme_key_table_and_the_schema_agree() {
    let doc: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
    let mut schema = Vec::new();
    schema_keys(&doc, &doc, "", &mut schema);
    let readme = include_str!("../../../README.md");
    let section = readme
        .split("### Repository configuration")
        .nth(1)
        .and_then(|s| s.split("\n\n").find(|p| p.starts_with("| key |")))
        .expect("the README's key table");
    let mut documented = Vec::new();
    for row in section.lines().skip(2) {
        let cell = row
            .split(" | ")
            .next()
            .unwrap_or("")
            .trim_start_matches("| ");
        let mut keys: Vec<String> = Vec::new();
        for part in cell.split(" / ") {
            let part = part.trim_matches('`');
            match part.strip_prefix('.') {
                // `a.b` / `.c`: a sibling of the first key.
                Some(last) => {
                    let first = keys[0]
                        .rsplit_once('.')
                        .map_or("", |(head, _)| head)
                        .to_owned();
                    keys.push(format!("{first}.{last}"));
                }
                None => keys.push(part.to_owned()),
            }
        }
        for key in keys {
            for env in ["staging", "production"] {
                documented.push(
                    key.replace("<staging\\|production>", env)
                        .replace("<env>", env),
                );
            }
        }
    }
    documented.sort();
    documented.dedup();
    for key in &documented {
        assert!(
            schema.contains(key),
            "the README documents `{key}`, the schema has no such key"
        );
    }
    for key in &schema {
        let covered = documented.iter().any(|d| {
            key == d || key.starts_with(&format!("{d}.")) || d.starts_with(&format!("{key}."))
        });
        assert!(
            covered,
            "the schema has `{key}`, the README does not document it"
        );
    }
}

#[test]
fn quoted_scalars_stay_text_as_an_editor_reads_them() {
    // A quoted number is text: refused where a number is meant, kept where text is.
    let loaded = LoadedConfig::load(None, Some("review:\n  required_approvals: \"3\"\n"));
    assert_eq!(
        loaded.errors[0].to_string(),
        ".github/shipgate.yml line 2, `review.required_approvals`: expected a whole number from 0 to 10, got `3`"
    );
    let loaded = LoadedConfig::load(None, Some("trigger_label: \"2024\"\n"));
    assert!(loaded.is_valid(), "{:?}", loaded.errors);
    assert_eq!(loaded.config.trigger_label, "2024");
}

#[test]
fn good_values_apply_beside_bad_ones() {
    // The trigger label still counts (issues labelled `story` start pipelines, which then
    // hold on the error), the bad value keeps its default.
    let loaded = LoadedConfig::load(
        None,
        Some("trigger_label: story\nreview:\n  required_approvals: many\n"),
    );
    assert_eq!(loaded.errors.len(), 1, "{:?}", loaded.errors);
    assert_eq!(loaded.config.trigger_label, "story");
    assert_eq!(loaded.config.review.required_approvals, 1);
}
