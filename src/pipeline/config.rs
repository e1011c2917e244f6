//! The per-repository configuration, `.github/shipgate.yml` (DESIGN.md §4): a typed schema
//! with the documented defaults, organisation defaults from the `.github` repository that the
//! repository's own file overrides key by key, and every unknown key or bad value reported
//! with its line and dotted key — all of them, not just the first.
//!
//! Must not: fetch files (the shell hands in their text) or hold secrets.

use std::fmt;

use marked_yaml::Node;
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use serde::{Deserialize, Serialize};

/// Where the repository's configuration lives.
pub const CONFIG_PATH: &str = ".github/shipgate.yml";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub trigger_label: String,
    pub requirement: RequirementConfig,
    pub plan: PlanConfig,
    pub review: ReviewConfig,
    pub approvers: Approvers,
    pub tests: TestsConfig,
    pub deploy: DeployConfig,
    pub merge: MergeConfig,
    pub rollback: RollbackConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequirementConfig {
    pub required_sections: Vec<String>,
    pub approval_label: String,
    /// Seconds.
    pub escalate_after: u64,
    pub reject_after: u64,
    pub escalate_to: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanApproval {
    Required,
    Auto,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanConfig {
    pub approval: PlanApproval,
    pub auto_approve_after: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewConfig {
    pub required_approvals: u32,
    pub dismiss_stale: bool,
}

/// Who may approve each gate: logins and `@org/team`; empty means anyone with write access.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Approvers {
    pub requirement: Vec<String>,
    pub plan: Vec<String>,
    pub review: Vec<String>,
    pub production: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestsConfig {
    pub workflows: Vec<String>,
    pub timeout: u64,
    pub min_coverage: Option<f64>,
    pub max_findings: MaxFindings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaxFindings {
    pub critical: u32,
    pub high: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployConfig {
    pub workflow: String,
    /// Seconds a deploy run may stay silent before it is polled, then failed.
    #[serde(default = "default_deploy_timeout")]
    pub timeout: u64,
    pub staging: EnvironmentConfig,
    pub production: EnvironmentConfig,
}

fn default_deploy_timeout() -> u64 {
    60 * MINUTE
}

impl Approvers {
    /// The `@org/team` entries of every list, once each.
    pub fn teams(&self) -> Vec<String> {
        let mut teams: Vec<String> = [
            &self.requirement,
            &self.plan,
            &self.review,
            &self.production,
        ]
        .into_iter()
        .flatten()
        .filter(|a| a.starts_with('@') && a.contains('/'))
        .cloned()
        .collect();
        teams.sort();
        teams.dedup();
        teams
    }
}

impl DeployConfig {
    /// The settings of `staging` or `production` (anything else is production's stricter
    /// settings).
    pub fn environment(&self, name: &str) -> &EnvironmentConfig {
        if name == "staging" {
            &self.staging
        } else {
            &self.production
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentConfig {
    /// Seconds; only production has one by default.
    pub approval_timeout: Option<u64>,
    pub health: HealthConfig,
    /// Roll back on its own when a deploy fails or its health does not hold.
    #[serde(default = "yes")]
    pub auto_rollback: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthConfig {
    pub url: Option<String>,
    pub interval: u64,
    pub window: u64,
    pub failures: u32,
    pub max_latency_factor: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MergeMethod {
    Squash,
    Merge,
    Rebase,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeConfig {
    pub method: MergeMethod,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackConfig {
    pub open_incident: bool,
}

const HOUR: u64 = 3600;
const MINUTE: u64 = 60;

impl Default for Config {
    fn default() -> Self {
        Config {
            trigger_label: "feature".into(),
            requirement: RequirementConfig {
                required_sections: vec!["Acceptance criteria".into()],
                approval_label: "approved".into(),
                escalate_after: 24 * HOUR,
                reject_after: 48 * HOUR,
                escalate_to: vec![],
            },
            plan: PlanConfig {
                approval: PlanApproval::Required,
                auto_approve_after: 72 * HOUR,
            },
            review: ReviewConfig {
                required_approvals: 1,
                dismiss_stale: true,
            },
            approvers: Approvers::default(),
            tests: TestsConfig {
                workflows: vec!["tests.yml".into()],
                timeout: 60 * MINUTE,
                min_coverage: None,
                max_findings: MaxFindings {
                    critical: 0,
                    high: 0,
                },
            },
            deploy: DeployConfig {
                workflow: "deploy.yml".into(),
                timeout: 60 * MINUTE,
                staging: EnvironmentConfig {
                    approval_timeout: None,
                    auto_rollback: true,
                    health: HealthConfig {
                        url: None,
                        interval: 30,
                        window: 5 * MINUTE,
                        failures: 3,
                        max_latency_factor: None,
                    },
                },
                production: EnvironmentConfig {
                    approval_timeout: Some(72 * HOUR),
                    auto_rollback: true,
                    health: HealthConfig {
                        url: None,
                        interval: 15,
                        window: 10 * MINUTE,
                        failures: 3,
                        max_latency_factor: Some(5.0),
                    },
                },
            },
            merge: MergeConfig {
                method: MergeMethod::Squash,
            },
            rollback: RollbackConfig {
                open_incident: true,
            },
        }
    }
}

/// Which file a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfigSource {
    /// The repository's own `.github/shipgate.yml`.
    Repository,
    /// The organisation defaults in the `.github` repository.
    Organisation,
}

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigError {
    pub source: ConfigSource,
    /// 1-based; 0 when the problem has no position (an unreadable file).
    pub line: usize,
    /// Dotted key, e.g. `review.required_approvals`; empty for the whole file.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = match self.source {
            ConfigSource::Repository => CONFIG_PATH.to_owned(),
            ConfigSource::Organisation => format!("the organisation's .github/{CONFIG_PATH}"),
        };
        match (self.line, self.key.is_empty()) {
            (0, _) => write!(f, "{file}: {}", self.message),
            (line, true) => write!(f, "{file} line {line}: {}", self.message),
            (line, false) => write!(f, "{file} line {line}, `{}`: {}", self.key, self.message),
        }
    }
}

/// A configuration as shipgate will use it: the merged values, and the problems found. With
/// any problem the pipeline holds its gates (a typo must not loosen them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LoadedConfig {
    pub config: Config,
    pub errors: Vec<ConfigError>,
}

/// The largest configuration file shipgate reads, in bytes (a real one is a few hundred).
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;

/// What the shell found where a configuration file lives. Only `Missing` means defaults: a
/// file that exists but cannot be read holds every gate, as a YAML error does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigFile<'a> {
    Missing,
    /// The file's bytes as GitHub stored them, and its size in bytes (GitHub's contents API
    /// sends no content for a file over 1 MB, so the size can exceed the bytes).
    Found {
        bytes: &'a [u8],
        size: usize,
    },
    /// GitHub answered an error for it that trying again will not cure; why, in words.
    Unreadable(&'a str),
}

impl LoadedConfig {
    /// Defaults, then the organisation's file, then the repository's.
    pub fn load(organisation: Option<&str>, repository: Option<&str>) -> Self {
        fn file(text: Option<&str>) -> ConfigFile<'_> {
            match text {
                Some(t) => ConfigFile::Found {
                    bytes: t.as_bytes(),
                    size: t.len(),
                },
                None => ConfigFile::Missing,
            }
        }
        Self::read(file(organisation), file(repository))
    }

    /// Like [`LoadedConfig::load`], for files as the shell found them: a file that is not
    /// UTF-8, over [`MAX_CONFIG_BYTES`], or unreadable is an error at line 0 of that file.
    pub fn read(organisation: ConfigFile<'_>, repository: ConfigFile<'_>) -> Self {
        let mut config = Config::default();
        let mut errors = Vec::new();
        for (file, source) in [
            (organisation, ConfigSource::Organisation),
            (repository, ConfigSource::Repository),
        ] {
            let unreadable = |message: String| ConfigError {
                source,
                line: 0,
                key: String::new(),
                message,
            };
            match file {
                ConfigFile::Missing => {}
                ConfigFile::Unreadable(why) => {
                    errors.push(unreadable(format!("could not be read: {why}")))
                }
                ConfigFile::Found { size, .. } if size > MAX_CONFIG_BYTES => {
                    errors.push(unreadable(format!(
                        "the file is {size} bytes; shipgate reads at most {MAX_CONFIG_BYTES}"
                    )))
                }
                ConfigFile::Found { bytes, .. } => match std::str::from_utf8(bytes) {
                    Ok(text) => apply_file(&mut config, text, source, &mut errors),
                    Err(e) => errors.push(ConfigError {
                        line: line_at(bytes, e.valid_up_to()),
                        ..unreadable(format!(
                            "not UTF-8 text (byte {} is not valid UTF-8)",
                            e.valid_up_to() + 1
                        ))
                    }),
                },
            }
        }
        LoadedConfig { config, errors }
    }

    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// The 1-based line that byte `offset` is on.
fn line_at(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
}

fn apply_file(
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

/// `30s`, `5m`, `24h`, `3d` (and combinations like `1h30m`) in seconds.
pub fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        let n: u64 = digits.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        digits.clear();
    }
    if !digits.is_empty() {
        return None; // a number without a unit is ambiguous
    }
    Some(total)
}

/// `90` → `1m30s`, for messages.
pub fn format_duration(secs: u64) -> String {
    let mut out = String::new();
    let mut rest = secs;
    for (unit, name) in [(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")] {
        if rest >= unit {
            out.push_str(&format!("{}{name}", rest / unit));
            rest %= unit;
        }
    }
    if out.is_empty() { "0s".into() } else { out }
}

#[cfg(test)]
mod tests {
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
        let text = include_str!("../../tests/fixtures/shipgate-defaults.yml");
        let loaded = LoadedConfig::load(None, Some(text));
        assert_eq!(loaded.errors, vec![]);
        assert_eq!(loaded.config, Config::default());
    }

    #[test]
    fn repository_values_override_organisation_defaults_key_by_key() {
        let org =
            "review:\n  required_approvals: 2\n  dismiss_stale: false\ntrigger_label: story\n";
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
}
