use leptos::prelude::*;
use shared::api::Status;

/// A run's status as a coloured label: green when it succeeded, red when it failed, amber when
/// it needs attention, blue while it runs.
#[component]
pub fn StatusBadge(status: Status) -> impl IntoView {
    let tone = match status {
        Status::Succeeded | Status::Done => "ok",
        Status::Failed | Status::UpstreamFailed => "danger",
        Status::Warning | Status::Unschedulable | Status::Retrying | Status::Stopping => "warn",
        Status::Running | Status::Processing => "active",
        _ => "idle",
    };
    view! { <span class=format!("badge {tone}")>{status.as_str()}</span> }
}
