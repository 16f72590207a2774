//! One module per route.

pub mod compare;
pub mod hub;
pub mod hub_component;
pub mod new_run;
pub mod not_found;
pub mod project_runs;
pub mod project_versions;
pub mod projects;
pub mod run;
pub mod run_artifacts;
pub mod run_logs;
pub mod run_metrics;
pub mod run_pipeline;
pub mod run_spec;
pub mod run_terminal;
pub mod runs;
pub mod sign_in;
