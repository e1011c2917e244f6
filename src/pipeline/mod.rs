//! THE PURE CORE: the pipeline model, `step`, the gates, the command parser, the repository
//! configuration and what people read (status comment, check runs, replies).
//!
//! **How to drive it.** The shell hands [`step`] the pipeline as stored, one [`Input`] (a
//! webhook mapped to the core's terms, a fired timer, or an effect's result), the
//! repository's [`LoadedConfig`](config::LoadedConfig) and the time in ms; it gets back the
//! next pipeline and the [`Effect`]s to carry out, and stores both in one transaction
//! (`engine::advance`). The core never waits: what GitHub does with an effect comes back
//! later as another input. [`starts_pipeline`] says whether an issue event creates one.
//!
//! **Layers**, each importing only those before it (no circle; `core_shape.py` checks):
//!
//! | layer | module | what it holds |
//! |---|---|---|
//! | text | `text`, `markdown` | short SHAs, plurals, lists of people, times and durations; bodies read as GitHub renders them (plain paragraph lines, headings, task items) |
//! | nouns | `domain` | `Environment`, `Stage`, `GateKind`: parsed once where text comes in |
//! | commands | `commands` | the slash-command parser, the command list, check-run buttons |
//! | reading | `linking`, `config`, `plan` | issue and PR text (branch names, sections, tasks); `.github/shipgate.yml` and its JSON Schema; the tasks' dependencies and order |
//! | state | `model` | the pipeline, its inputs and the actions it asks for |
//! | rules over state | `provenance`, `evidence` | whether a workflow run is the one shipgate dispatched; which run a verified token reports for, and whether its evidence meets the thresholds |
//! | gates | `gates` | every gate evaluated once: kind, state, evidence, readiness, what it waits for |
//! | views | `views` | status comment, `/status`, check runs, closing summary, incident issue, replies |
//! | queries | `dora` | a repository's DORA metrics over a window, from its pipelines' records |
//! | step | `step` | applies an input, drives the phases through the gates, asks for effects |
//!
//! Must not: import `engine`, `store`, `http`, the GitHub client or `sim`; touch a clock, a
//! socket or a database. Everything it needs comes in as arguments.

pub mod commands;
pub mod config;
pub mod domain;
pub mod dora;
pub mod evidence;
pub mod gates;
pub mod linking;
pub mod markdown;
pub mod model;
pub mod plan;
pub mod provenance;
pub mod step;
pub mod text;
pub mod views;

pub use gates::skip_of;
pub use model::{Access, Action, Effect, Input, Pipeline};
pub use step::{starts_pipeline, step, step_with, task_load};

#[cfg(test)]
mod develop_tests;
#[cfg(test)]
mod evidence_tests;
#[cfg(test)]
mod governance_tests;
#[cfg(test)]
mod production_tests;
#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod stored_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod trust_tests;
