//! Everything GitHub-shaped: webhook signatures, payload decoding, App authentication, and
//! the REST calls shipgate makes.
//!
//! Must not: touch the database or hold pipeline rules.

pub mod app;
pub mod client;
pub mod credentials;
pub mod envelope;
pub mod events;
pub mod limits;
pub mod manifest;
pub mod oauth;
pub mod octocrab_client;
pub mod oidc;
pub mod rest;
pub mod signature;
pub mod users;

/// The App shipgate currently acts as: empty until setup finishes, then swapped in place
/// (the manifest flow needs no restart).
pub type LiveApp = arc_swap::ArcSwapOption<app::GitHubApp>;
