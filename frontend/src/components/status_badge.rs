use leptos::prelude::*;
use shared::api::Status;

/// A run's status as a coloured label: green when it succeeded, red when it failed, amber when
/// it needs attention, blue while it runs.
#[component]
pub fn StatusBadge(status: Status) -> impl IntoView {
    view! { <span class=format!("badge {}", tone(status))>{status.as_str()}</span> }
}

/// The class that colours a status: `ok`, `danger`, `warn`, `active` or `idle`.
pub fn tone(status: Status) -> &'static str {
    match status {
        Status::Succeeded | Status::Done => "ok",
        Status::Failed | Status::UpstreamFailed => "danger",
        Status::Warning | Status::Unschedulable | Status::Retrying | Status::Stopping => "warn",
        Status::Running | Status::Processing => "active",
        _ => "idle",
    }
}
