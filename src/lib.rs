//! shipgate: a GitHub App that takes a feature from an issue to production through gates.
//!
//! See `README.md` for the architecture; each module's doc comment says what it owns and
//! what it must not do.
// `json!` literals of GitHub's larger objects nest deeper than the default limit.
#![recursion_limit = "256"]

pub mod app;
pub mod clock;
pub mod engine;
pub mod env_file;
pub mod github;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod pipeline;
pub mod settings;
pub mod sim;
pub mod store;
