//! The domain's nouns as types: the environments shipgate deploys to, the stages that can
//! fail, and the kinds of gate. Parsed where text comes in (commands, configuration, stored
//! state — their snake_case serde names are the strings stored before they were types), so
//! the rest of the core matches on variants and the compiler lists every place a new one
//! must be handled.
//!
//! Must not: import anything of the core but `text` (everything above uses these).

use std::fmt;

use serde::{Deserialize, Serialize};

/// An environment shipgate deploys to (`deploy.environments.<staging|production>`; GitHub's
/// environment of the same name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    Staging,
    Production,
}

impl Environment {
    pub const ALL: [Environment; 2] = [Environment::Staging, Environment::Production];

    /// `staging` or `production`: GitHub's environment name and the config key.
    pub fn name(self) -> &'static str {
        match self {
            Environment::Staging => "staging",
            Environment::Production => "production",
        }
    }

    /// The environment GitHub or a command names, if it is one of shipgate's.
    pub fn parse(name: &str) -> Option<Environment> {
        Environment::ALL.into_iter().find(|e| e.name() == name)
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A stage that can fail a pipeline, and that `/retry <stage>` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Tests,
    /// Creating the feature branch.
    Branch,
    Staging,
    Merge,
    Production,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::Tests,
        Stage::Branch,
        Stage::Staging,
        Stage::Merge,
        Stage::Production,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Tests => "tests",
            Stage::Branch => "branch",
            Stage::Staging => "staging",
            Stage::Merge => "merge",
            Stage::Production => "production",
        }
    }

    /// The stage `/retry <name>` names.
    pub fn parse(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The environment a deploy stage deploys to.
    pub fn environment(self) -> Option<Environment> {
        match self {
            Stage::Staging => Some(Environment::Staging),
            Stage::Production => Some(Environment::Production),
            _ => None,
        }
    }
}

impl From<Environment> for Stage {
    fn from(e: Environment) -> Stage {
        match e {
            Environment::Staging => Stage::Staging,
            Environment::Production => Stage::Production,
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The gates of a pipeline, in the order they are passed.
///
/// Stored in skips (`/skip` names the five skippable ones) and gate timers (the three a
/// person approves): their serde names are those strings, and production approval's is
/// `production`, as its timer and `approvers.production` say (the production deploy gate is
/// never stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateKind {
    Requirement,
    Plan,
    Branch,
    PullRequest,
    Review,
    Tests,
    Staging,
    #[serde(rename = "production")]
    ProductionApproval,
    Merge,
    #[serde(rename = "production_deploy")]
    Production,
    Rollback,
}

impl GateKind {
    /// The gates `/skip` can let through.
    pub const SKIPPABLE: [GateKind; 5] = [
        GateKind::Requirement,
        GateKind::Plan,
        GateKind::Review,
        GateKind::Tests,
        GateKind::Staging,
    ];

    /// The gate's name in the status comment and the check run.
    pub fn name(self) -> &'static str {
        match self {
            GateKind::Requirement => "Requirement",
            GateKind::Plan => "Plan",
            GateKind::Branch => "Branch",
            GateKind::PullRequest => "Pull request",
            GateKind::Review => "Review",
            GateKind::Tests => "Tests",
            GateKind::Staging => "Staging",
            GateKind::ProductionApproval => "Production approval",
            GateKind::Merge => "Merge",
            GateKind::Production => "Production",
            GateKind::Rollback => "Rollback",
        }
    }

    /// The name `/skip` takes, a skip is stored under and `approvers.<name>` uses:
    /// `requirement`, `plan`, `review`, `tests`, `staging`, `production` (approval).
    pub fn key(self) -> &'static str {
        match self {
            GateKind::Requirement => "requirement",
            GateKind::Plan => "plan",
            GateKind::Branch => "branch",
            GateKind::PullRequest => "pull_request",
            GateKind::Review => "review",
            GateKind::Tests => "tests",
            GateKind::Staging => "staging",
            GateKind::ProductionApproval => "production",
            GateKind::Merge => "merge",
            GateKind::Production => "production_deploy",
            GateKind::Rollback => "rollback",
        }
    }

    /// The skippable gate `/skip <name>` names.
    pub fn skippable(name: &str) -> Option<GateKind> {
        GateKind::SKIPPABLE.into_iter().find(|g| g.key() == name)
    }

    /// The stage whose failure this gate's failure is (tests, staging), if any.
    pub fn stage(self) -> Option<Stage> {
        match self {
            GateKind::Tests => Some(Stage::Tests),
            GateKind::Staging => Some(Stage::Staging),
            _ => None,
        }
    }

    /// Whether a skip of this gate holds only for the head SHA it was made on (a push voids
    /// it, as it voids approvals); requirement and plan skips hold for the pipeline.
    pub fn skipped_per_sha(self) -> bool {
        matches!(self, GateKind::Review | GateKind::Tests | GateKind::Staging)
    }

    /// Whether production approval needs this gate passed (the branch is only how work
    /// starts; the gates after approval follow from it).
    pub fn needed_for_production(self) -> bool {
        matches!(
            self,
            GateKind::Requirement
                | GateKind::Plan
                | GateKind::PullRequest
                | GateKind::Review
                | GateKind::Tests
                | GateKind::Staging
        )
    }
}

impl fmt::Display for GateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}
