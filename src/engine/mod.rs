//! The shell around the core: the worker that turns stored deliveries into state changes
//! (later also the effect executor, timers and the reconciler).
//!
//! Must not: answer HTTP requests or hold lifecycle rules.

pub mod background;
pub mod worker;
