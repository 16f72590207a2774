use leptos::prelude::*;
use leptos_router::components::A;
use shared::api::Health;

use crate::api::ApiError;

/// The bar across the top of every page: the product name, the main navigation and whether the
/// server answers.
#[component]
pub fn TopBar(
    /// The server's answer on its health route, loaded once when the app starts.
    health: LocalResource<Result<Health, ApiError>>,
) -> impl IntoView {
    view! {
        <header class="top-bar">
            <A href="/projects" attr:class="brand">
                <svg viewBox="0 0 32 32" width="24" height="24" aria-hidden="true">
                    <rect width="32" height="32" rx="7" class="brand-mark" />
                    <path d="M7 23V10l5 8 4-8 4 8 5-8v13" class="brand-stroke" />
                </svg>
                <span>"Myelin"</span>
            </A>
            <nav aria-label="Main">
                <A href="/projects">"Projects"</A>
                <A href="/runs">"Runs"</A>
                <A href="/new">"New run"</A>
                <A href="/hub">"Hub"</A>
                <A href="/compare">"Compare"</A>
            </nav>
            <ServerStatus health=health />
        </header>
    }
}

/// The server's version once it has answered, or why it could not be reached.
#[component]
fn ServerStatus(health: LocalResource<Result<Health, ApiError>>) -> impl IntoView {
    move || match health.get() {
        None => view! { <span class="server-status pending" role="status">"Connecting…"</span> }
            .into_any(),
        Some(Ok(health)) => {
            let title = format!(
                "Server {}, compatible with Polyaxon {}",
                health.version, health.polyaxon_compat
            );
            view! {
                <span class="server-status ok" role="status" title=title>
                    "Server v"{health.version}
                </span>
            }
            .into_any()
        }
        Some(Err(error)) => view! {
            <span class="server-status down" role="status" title=error.to_string()>
                "Server unreachable"
            </span>
        }
        .into_any(),
    }
}
