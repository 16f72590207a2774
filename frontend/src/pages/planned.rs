//! The pages whose features are still being built. Each says what it is for and what will come
//! there, so the navigation is whole from the start; a page moves to a module of its own when its
//! feature lands.

use leptos::prelude::*;

use crate::components::page_header::PageHeader;

/// What a page is for and what it will offer.
pub struct Plan {
    /// The page's name, as in the navigation.
    pub title: &'static str,
    /// What a person does on the page.
    pub summary: &'static str,
    /// What the page will let a person do, one sentence each; text between backticks is code.
    pub features: &'static [&'static str],
}

pub const RUNS: Plan = Plan {
    title: "Runs",
    summary: "Every run of a project: its status, inputs, outputs and how long it took.",
    features: &[
        "A table of runs that stays fast with a hundred thousand rows, filtered with Polyaxon's query language.",
        "Statuses that update live, and bulk stop, delete and tag.",
    ],
};

pub const COMPARE: Plan = Plan {
    title: "Compare",
    summary: "Put runs side by side: their inputs, outputs and metric curves.",
    features: &[
        "Metric charts over many runs, downsampled so that long series stay quick.",
        "A table of the inputs and outputs that differ between the chosen runs.",
    ],
};

/// A page that says what it is for and what is coming to it.
#[component]
pub fn Planned(
    /// The page to show.
    plan: &'static Plan,
) -> impl IntoView {
    view! {
        <PageHeader title=plan.title summary=plan.summary />
        <section class="panel coming-soon">
            <h2>"Coming to this page"</h2>
            <ul>
                {plan.features.iter().map(|feature| view! { <li>{with_code(feature)}</li> }).collect_view()}
            </ul>
        </section>
    }
}

/// Text with `code` spans: every other backtick-delimited piece is rendered as code.
fn with_code(text: &'static str) -> impl IntoView {
    text.split('`')
        .enumerate()
        .map(|(index, piece)| {
            if index % 2 == 1 {
                view! { <code>{piece}</code> }.into_any()
            } else {
                piece.into_any()
            }
        })
        .collect_view()
}
