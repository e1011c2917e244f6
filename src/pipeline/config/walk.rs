//! Reads one parsed `.github/shipgate.yml` into the typed configuration, key by key, and
//! reports every unknown key and bad value with its line and dotted key.
//!
//! Must not: stop at the first problem.

use marked_yaml::Node;
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};

use super::*;
use crate::pipeline::text::parse_duration;

pub(super) fn apply_file(
    config: &mut Config,
    text: &str,
    source: ConfigSource,
    errors: &mut Vec<ConfigError>,
) {
    let meaningful = text
        .lines()
        .map(str::trim)
        .any(|l| !l.is_empty() && !l.starts_with('#') && l != "---" && l != "...");
    if !meaningful {
        return; // an empty file means "all defaults"
    }
    let options = marked_yaml::LoaderOptions::default().error_on_duplicate_keys(true);
    let root = match marked_yaml::parse_yaml_with_options(0, text, options) {
        Ok(root) => root,
        Err(e) => {
            errors.push(ConfigError {
                source,
                line: load_error_line(&e),
                key: String::new(),
                message: format!("not valid YAML for shipgate: {}", load_error_text(&e)),
            });
            return;
        }
    };
    let mut walk = Walk { source, errors };
    walk.root(config, &root);
}

fn load_error_line(e: &marked_yaml::LoadError) -> usize {
    use marked_yaml::LoadError as L;
    match e {
        L::TopLevelMustBeMapping(m)
        | L::TopLevelMustBeSequence(m)
        | L::UnexpectedAnchor(m)
        | L::MappingKeyMustBeScalar(m)
        | L::UnexpectedTag(m)
        | L::ScanError(m, _) => m.line(),
        L::DuplicateKey(inner) => inner.key.span().start().map_or(0, |m| m.line()),
    }
}

fn load_error_text(e: &marked_yaml::LoadError) -> String {
    use marked_yaml::LoadError as L;
    match e {
        L::TopLevelMustBeMapping(_) | L::TopLevelMustBeSequence(_) => {
            "the file must be a mapping of keys".into()
        }
        L::UnexpectedAnchor(_) => "anchors and aliases are not supported".into(),
        L::MappingKeyMustBeScalar(_) => "keys must be plain text".into(),
        L::UnexpectedTag(_) => "tags are not supported".into(),
        L::DuplicateKey(inner) => format!("the key `{}` appears twice", inner.key.as_str()),
        L::ScanError(_, scan) => scan.info().to_owned(),
    }
}

/// Walks a parsed file, writing values into the config and problems into `errors`.
struct Walk<'a> {
    source: ConfigSource,
    errors: &'a mut Vec<ConfigError>,
}

fn line_of(node: &Node) -> usize {
    node.span().start().map_or(0, |m| m.line())
}

fn key_line(key: &MarkedScalarNode) -> usize {
    key.span().start().map_or(0, |m| m.line())
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl Walk<'_> {
    fn error(&mut self, line: usize, key: &str, message: impl Into<String>) {
        self.errors.push(ConfigError {
            source: self.source,
            line,
            key: key.to_owned(),
            message: message.into(),
        });
    }

    /// The entries of a mapping, each with its dotted key; unknown keys are reported.
    fn entries<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        known: &[&str],
    ) -> Vec<(&'n str, String, &'n Node)> {
        let Some(map) = self.mapping(node, path) else {
            return vec![];
        };
        let mut out = Vec::new();
        for (key, value) in map.iter() {
            let name = key.as_str();
            let dotted = join(path, name);
            if known.contains(&name) {
                out.push((name, dotted, value));
            } else {
                self.error(
                    key_line(key),
                    &dotted,
                    format!("unknown key (expected one of: {})", known.join(", ")),
                );
            }
        }
        out
    }

    fn mapping<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n MarkedMappingNode> {
        match node {
            Node::Mapping(map) => Some(map),
            Node::Scalar(s) if path.is_empty() || s.as_str().is_empty() => {
                // `key:` with nothing after it means "defaults" below the root.
                if path.is_empty() {
                    self.error(line_of(node), path, "the file must be a mapping of keys");
                }
                None
            }
            _ => {
                self.error(line_of(node), path, "expected a mapping of keys");
                None
            }
        }
    }

    fn root(&mut self, config: &mut Config, node: &Node) {
        const KEYS: &[&str] = &[
            "trigger_label",
            "requirement",
            "plan",
            "review",
            "approvers",
            "tests",
            "deploy",
            "merge",
            "rollback",
        ];
        for (name, key, value) in self.entries(node, "", KEYS) {
            match name {
                "trigger_label" => self.label(value, &key, &mut config.trigger_label),
                "requirement" => self.requirement(&mut config.requirement, value, &key),
                "plan" => self.plan(&mut config.plan, value, &key),
                "review" => self.review(&mut config.review, value, &key),
                "approvers" => self.approvers(&mut config.approvers, value, &key),
                "tests" => self.tests(&mut config.tests, value, &key),
                "deploy" => self.deploy(&mut config.deploy, value, &key),
                "merge" => {
                    for (_, key, value) in self.entries(value, &key, &["method"]) {
                        if let Some(m) = self.choice(
                            value,
                            &key,
                            &[
                                ("squash", MergeMethod::Squash),
                                ("merge", MergeMethod::Merge),
                                ("rebase", MergeMethod::Rebase),
                            ],
                        ) {
                            config.merge.method = m;
                        }
                    }
                }
                "rollback" => {
                    for (_, key, value) in self.entries(value, &key, &["open_incident"]) {
                        if let Some(b) = self.boolean(value, &key) {
                            config.rollback.open_incident = b;
                        }
                    }
                }
                _ => unreachable!("entries() returns known keys only"),
            }
        }
    }

    fn requirement(&mut self, r: &mut RequirementConfig, node: &Node, path: &str) {
        const KEYS: &[&str] = &[
            "required_sections",
            "approval_label",
            "escalate_after",
            "reject_after",
            "escalate_to",
        ];
        for (name, key, value) in self.entries(node, path, KEYS) {
            match name {
                "required_sections" => {
                    if let Some(list) = self.strings(value, &key) {
                        r.required_sections = list;
                    }
                }
                "approval_label" => self.label(value, &key, &mut r.approval_label),
                "escalate_after" => self.duration_into(value, &key, &mut r.escalate_after),
                "reject_after" => self.duration_into(value, &key, &mut r.reject_after),
                "escalate_to" => {
                    if let Some(list) = self.principals(value, &key) {
                        r.escalate_to = list;
                    }
                }
                _ => unreachable!(),
            }
        }
    }

    fn plan(&mut self, p: &mut PlanConfig, node: &Node, path: &str) {
        for (name, key, value) in self.entries(node, path, &["approval", "auto_approve_after"]) {
            match name {
                "approval" => {
                    if let Some(a) = self.choice(
                        value,
                        &key,
                        &[
                            ("required", PlanApproval::Required),
                            ("auto", PlanApproval::Auto),
                        ],
                    ) {
                        p.approval = a;
                    }
                }
                _ => self.duration_into(value, &key, &mut p.auto_approve_after),
            }
        }
    }

    fn review(&mut self, r: &mut ReviewConfig, node: &Node, path: &str) {
        for (name, key, value) in self.entries(node, path, &["required_approvals", "dismiss_stale"])
        {
            match name {
                "required_approvals" => {
                    if let Some(n) = self.count(value, &key, 0, 10) {
                        r.required_approvals = n;
                    }
                }
                _ => {
                    if let Some(b) = self.boolean(value, &key) {
                        r.dismiss_stale = b;
                    }
                }
            }
        }
    }

    fn approvers(&mut self, a: &mut Approvers, node: &Node, path: &str) {
        for (name, key, value) in
            self.entries(node, path, &["requirement", "plan", "review", "production"])
        {
            let Some(list) = self.principals(value, &key) else {
                continue;
            };
            match name {
                "requirement" => a.requirement = list,
                "plan" => a.plan = list,
                "review" => a.review = list,
                _ => a.production = list,
            }
        }
    }

    fn tests(&mut self, t: &mut TestsConfig, node: &Node, path: &str) {
        const KEYS: &[&str] = &["workflows", "timeout", "min_coverage", "max_findings"];
        for (name, key, value) in self.entries(node, path, KEYS) {
            match name {
                "workflows" => {
                    if let Some(list) = self.strings(value, &key) {
                        let bad: Vec<&String> = list
                            .iter()
                            .filter(|w| {
                                !(w.ends_with(".yml") || w.ends_with(".yaml")) || w.contains('/')
                            })
                            .collect();
                        if bad.is_empty() {
                            t.workflows = list;
                        } else {
                            self.error(
                                line_of(value),
                                &key,
                                format!(
                                    "workflows are file names in .github/workflows, like `tests.yml` (got `{}`)",
                                    bad[0]
                                ),
                            );
                        }
                    }
                }
                "timeout" => self.duration_into(value, &key, &mut t.timeout),
                "min_coverage" => {
                    if is_null(value) {
                        t.min_coverage = None;
                    } else if let Some(p) = self.number(value, &key, 0.0, 100.0) {
                        t.min_coverage = Some(p);
                    }
                }
                _ => {
                    for (name, key, value) in self.entries(value, &key, &["critical", "high"]) {
                        if let Some(n) = self.count(value, &key, 0, 1_000_000) {
                            match name {
                                "critical" => t.max_findings.critical = n,
                                _ => t.max_findings.high = n,
                            }
                        }
                    }
                }
            }
        }
    }

    fn deploy(&mut self, d: &mut DeployConfig, node: &Node, path: &str) {
        for (name, key, value) in self.entries(node, path, &["workflow", "timeout", "environments"])
        {
            match name {
                "timeout" => self.duration_into(value, &key, &mut d.timeout),
                "workflow" => {
                    if let Some(w) = self.text(value, &key) {
                        if w.ends_with(".yml") || w.ends_with(".yaml") {
                            d.workflow = w;
                        } else {
                            self.error(
                                line_of(value),
                                &key,
                                "expected a workflow file name like `deploy.yml`",
                            );
                        }
                    }
                }
                _ => {
                    for (name, key, value) in self.entries(value, &key, &["staging", "production"])
                    {
                        let env = if name == "staging" {
                            &mut d.staging
                        } else {
                            &mut d.production
                        };
                        self.environment(env, value, &key, name == "staging");
                    }
                }
            }
        }
    }

    fn environment(&mut self, e: &mut EnvironmentConfig, node: &Node, path: &str, staging: bool) {
        for (name, key, value) in
            self.entries(node, path, &["approval_timeout", "auto_rollback", "health"])
        {
            if name == "auto_rollback" {
                if let Some(b) = self.boolean(value, &key) {
                    e.auto_rollback = b;
                }
                continue;
            }
            if name == "approval_timeout" {
                if is_null(value) {
                    e.approval_timeout = None;
                } else if let Some(s) = self.duration(value, &key) {
                    e.approval_timeout = Some(s);
                }
                continue;
            }
            const KEYS: &[&str] = &[
                "url",
                "interval",
                "window",
                "failures",
                "max_latency_factor",
            ];
            let h = &mut e.health;
            for (name, key, value) in self.entries(value, &key, KEYS) {
                match name {
                    "url" => {
                        if is_null(value) {
                            h.url = None;
                        } else if let Some(u) = self.text(value, &key) {
                            match url::Url::parse(&u) {
                                Ok(parsed) if matches!(parsed.scheme(), "https" | "http") => {
                                    h.url = Some(u)
                                }
                                _ => self.error(line_of(value), &key, "expected an https:// URL"),
                            }
                        }
                    }
                    "interval" => self.duration_into(value, &key, &mut h.interval),
                    "window" => self.duration_into(value, &key, &mut h.window),
                    "failures" => {
                        if let Some(n) = self.count(value, &key, 1, 100) {
                            h.failures = n;
                        }
                    }
                    _ => {
                        if is_null(value) {
                            h.max_latency_factor = None;
                        } else if staging {
                            self.error(
                                line_of(value),
                                &key,
                                "latency is measured against the staging baseline, so this applies to production only",
                            );
                        } else if let Some(f) = self.number(value, &key, 1.0, 1000.0) {
                            h.max_latency_factor = Some(f);
                        }
                    }
                }
            }
        }
    }

    // ---- scalar readers: each reports its own problem and returns None ----

    fn scalar<'n>(&mut self, node: &'n Node, key: &str, wanted: &str) -> Option<&'n str> {
        match node {
            Node::Scalar(s) => Some(s.as_str()),
            _ => {
                self.error(line_of(node), key, format!("expected {wanted}"));
                None
            }
        }
    }

    fn text(&mut self, node: &Node, key: &str) -> Option<String> {
        let s = self.scalar(node, key, "text")?.trim();
        if s.is_empty() {
            self.error(line_of(node), key, "must not be empty");
            return None;
        }
        Some(s.to_owned())
    }

    fn label(&mut self, node: &Node, key: &str, into: &mut String) {
        if let Some(l) = self.text(node, key) {
            if l.chars().count() > 50 {
                self.error(
                    line_of(node),
                    key,
                    "GitHub labels are at most 50 characters",
                );
            } else {
                *into = l;
            }
        }
    }

    fn boolean(&mut self, node: &Node, key: &str) -> Option<bool> {
        match self.scalar(node, key, "true or false")? {
            "true" => Some(true),
            "false" => Some(false),
            other => {
                self.error(
                    line_of(node),
                    key,
                    format!("expected true or false, got `{other}`"),
                );
                None
            }
        }
    }

    fn count(&mut self, node: &Node, key: &str, min: u32, max: u32) -> Option<u32> {
        let s = self.scalar(node, key, "a whole number")?;
        match s.parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.error(
                    line_of(node),
                    key,
                    format!("expected a whole number from {min} to {max}, got `{s}`"),
                );
                None
            }
        }
    }

    fn number(&mut self, node: &Node, key: &str, min: f64, max: f64) -> Option<f64> {
        let s = self.scalar(node, key, "a number")?;
        match s.parse::<f64>() {
            Ok(n) if n.is_finite() && n >= min && n <= max => Some(n),
            _ => {
                self.error(
                    line_of(node),
                    key,
                    format!("expected a number from {min} to {max}, got `{s}`"),
                );
                None
            }
        }
    }

    fn duration(&mut self, node: &Node, key: &str) -> Option<u64> {
        let s = self.scalar(node, key, "a duration like 30s, 5m, 24h or 3d")?;
        match parse_duration(s) {
            Some(secs) if secs > 0 => Some(secs),
            _ => {
                self.error(
                    line_of(node),
                    key,
                    format!("expected a duration like 30s, 5m, 24h or 3d, got `{s}`"),
                );
                None
            }
        }
    }

    fn duration_into(&mut self, node: &Node, key: &str, into: &mut u64) {
        if let Some(secs) = self.duration(node, key) {
            *into = secs;
        }
    }

    fn choice<T: Copy>(&mut self, node: &Node, key: &str, options: &[(&str, T)]) -> Option<T> {
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let s = self.scalar(node, key, &format!("one of {}", names.join(", ")))?;
        match options.iter().find(|(n, _)| *n == s) {
            Some((_, v)) => Some(*v),
            None => {
                self.error(
                    line_of(node),
                    key,
                    format!("expected one of {}, got `{s}`", names.join(", ")),
                );
                None
            }
        }
    }

    fn strings(&mut self, node: &Node, key: &str) -> Option<Vec<String>> {
        let Node::Sequence(items) = node else {
            self.error(line_of(node), key, "expected a list, like [a, b]");
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.text(item, &format!("{key}[{i}]")) {
                Some(s) => out.push(s),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// A list of logins and `@org/team` names.
    fn principals(&mut self, node: &Node, key: &str) -> Option<Vec<String>> {
        let list = self.strings(node, key)?;
        let login = regex_lite_login;
        let mut ok = true;
        for (i, p) in list.iter().enumerate() {
            let valid = match p.strip_prefix('@') {
                Some(rest) => match rest.split_once('/') {
                    Some((org, team)) => login(org) && !team.is_empty() && !team.contains('/'),
                    None => login(rest),
                },
                None => login(p),
            };
            if !valid {
                ok = false;
                let line = match node {
                    Node::Sequence(items) => line_of(&items[i]),
                    _ => line_of(node),
                };
                self.error(
                    line,
                    &format!("{key}[{i}]"),
                    format!("expected a GitHub login or @org/team, got `{p}`"),
                );
            }
        }
        ok.then(|| {
            list.into_iter()
                .map(|p| {
                    p.strip_prefix('@')
                        .filter(|r| !r.contains('/'))
                        .map_or(p.clone(), str::to_owned)
                })
                .collect()
        })
    }
}

fn is_null(node: &Node) -> bool {
    matches!(node, Node::Scalar(s) if matches!(s.as_str(), "null" | "~" | ""))
}

/// GitHub logins: letters, digits and single hyphens, at most 39 characters.
fn regex_lite_login(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 39
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.starts_with('-')
}
