use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_location;

use crate::components::page_header::PageHeader;

/// What any path the app does not know shows.
#[component]
pub fn NotFound() -> impl IntoView {
    let location = use_location();
    view! {
        <PageHeader title="Page not found" summary="There is no page at this address." />
        <section class="panel">
            <p>
                "Nothing lives at " <code>{move || location.pathname.get()}</code> ". "
                <A href="/projects">"Go to the projects"</A> "."
            </p>
        </section>
    }
}
