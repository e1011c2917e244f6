//! The per-repository configuration, `.github/shipgate.yml` (DESIGN.md §4): a typed schema
//! with the documented defaults, organisation defaults from the `.github` repository that the
//! repository's own file overrides key by key, and every unknown key or bad value reported
//! with its line and dotted key — all of them, not just the first.
//!
//! Files: this one the typed configuration, its defaults and loading; `shipgate.schema.json`
//! the file's keys, types and ranges, and how each problem is worded (`schema.rs` validates a
//! file with it, each problem with its line and key); `file.rs` lays a valid file over the
//! configuration; `load.rs` puts them together.
//!
//! Must not: fetch files (the shell hands in their text) or hold secrets.

mod file;
mod load;
mod schema;
#[cfg(test)]
mod tests;

use std::fmt;

use serde::{Deserialize, Serialize};

use super::domain::Environment;
pub use super::text::{format_duration, parse_duration};
use load::apply_file;
pub use schema::SCHEMA;

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
    #[serde(default)]
    pub develop: DevelopConfig,
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

/// What `develop.max_parallel` counts: the task runs of one pipeline, or of every pipeline
/// of the repository (then `/priority` decides whose ready tasks go first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParallelScope {
    #[default]
    Pipeline,
    Repository,
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
    /// The settings of one environment.
    pub fn environment(&self, environment: Environment) -> &EnvironmentConfig {
        match environment {
            Environment::Staging => &self.staging,
            Environment::Production => &self.production,
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

/// The development stage: a workflow per task of the approved plan (off while `workflows`
/// is empty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DevelopConfig {
    /// First choice first; the next is used when one fails `attempts` times.
    pub workflows: Vec<String>,
    /// Task runs in flight at once: of one pipeline, or of the whole repository.
    pub max_parallel: u32,
    /// What `max_parallel` counts.
    pub max_parallel_scope: ParallelScope,
    /// Attempts per workflow, with backoff, before the next one is tried.
    pub attempts: u32,
    /// Seconds a task run may stay silent before it is polled, then failed.
    pub timeout: u64,
    /// shipgate opens the pull request, draft until every task is done.
    pub open_pr: bool,
}

impl Default for DevelopConfig {
    fn default() -> Self {
        DevelopConfig {
            workflows: vec![],
            max_parallel: 4,
            max_parallel_scope: ParallelScope::Pipeline,
            attempts: 3,
            timeout: 4 * HOUR,
            open_pr: false,
        }
    }
}

impl DevelopConfig {
    pub fn is_on(&self) -> bool {
        !self.workflows.is_empty()
    }
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
            develop: DevelopConfig::default(),
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
