use leptos::prelude::*;

/// The title of a page and one sentence on what it is for.
#[component]
pub fn PageHeader(
    /// The page's name, as in the navigation.
    title: &'static str,
    /// What a person does on this page.
    summary: &'static str,
) -> impl IntoView {
    view! {
        <header class="page-header">
            <h1>{title}</h1>
            <p>{summary}</p>
        </header>
    }
}
