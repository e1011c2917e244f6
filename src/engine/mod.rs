//! The shell around the core: the worker that turns stored deliveries into state changes,
//! the effect executor, durable timers, health probes, notifications, and the reconciler
//! that recovers what GitHub could not deliver.
//!
//! Must not: answer HTTP requests or hold lifecycle rules.

pub mod addresses;
pub mod advance;
pub mod background;
pub mod evidence;
pub mod executor;
pub mod health;
pub mod mapping;
pub mod notify;
pub mod reconciler;
pub mod repo_jobs;
pub mod resolver;
pub mod resync;
pub mod timers;
pub mod worker;
