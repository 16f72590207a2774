//! Everything Myelin's server and browser app agree on.
//!
//! This crate holds the wire types of the HTTP API ([`api`]) and, as it grows, the Polyaxonfile
//! compiler (check → compile → resolve → convert). The same code runs natively in the server and
//! as WebAssembly in the browser, so the browser can show exactly what the server will do.
//!
//! The crate deliberately does no IO: no files, environment, network, clock or randomness.
//! Whatever depends on the outside world (the time, a run's uuid, the agent configuration) is
//! passed in by the caller. That keeps it buildable for `wasm32-unknown-unknown` and keeps every
//! function here a deterministic, testable transformation of data.
#![warn(missing_docs)]

pub mod api;
pub mod bayes;
pub mod cache;
pub mod check;
pub mod compile;
pub mod convert;
mod dag;
pub mod diagnostic;
pub mod downsample;
pub mod early_stopping;
pub mod events;
pub mod guided;
pub mod hooks;
pub mod hub;
pub mod hyperband;
pub mod importance;
mod inline;
pub mod iterative;
pub mod matrix;
mod params;
pub mod pipeline;
mod python;
pub mod report;
pub mod run;
pub mod schedule;
pub mod schema;
mod shortcuts;
mod suggest;
mod template;
pub mod time;
pub mod tpe;
pub mod types;
mod validation;
pub mod yaml;

pub use check::{Checked, check, check_with, lint, lint_with};
pub use compile::{Compiled, compile, compile_with};
pub use diagnostic::{Diagnostic, Position, Severity, Span};
pub use run::{Agent, RunContext};
