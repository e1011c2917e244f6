//! THE PURE CORE: the pipeline model, `step`, gates, the command parser, the repository
//! configuration and the rendering of comments and check-run summaries.
//!
//! Must not: import `engine`, `store`, `http`, the GitHub client or `sim`; touch a clock, a
//! socket or a database. Everything it needs comes in as arguments.

pub mod commands;
pub mod config;
mod deploys;
pub mod incident;
pub mod linking;
pub mod model;
pub mod production;
mod production_view;
mod protection;
pub mod provenance;
pub mod pull;
pub mod render;
mod rollback;
pub mod skip;
pub mod step;
pub mod summary;
mod timeouts;

pub use model::{Access, Action, Effect, Input, Pipeline};
pub use step::{starts_pipeline, step};

#[cfg(test)]
mod governance_tests;
#[cfg(test)]
mod production_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod trust_tests;
