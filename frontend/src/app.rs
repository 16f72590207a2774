//! The application shell: the router, the frame every page sits in, and the app-wide state,
//! all set up here and nowhere else.

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::components::{Redirect, Route, Router, Routes};
use leptos_router::hooks::use_params_map;
use leptos_router::path;

use crate::api;
use crate::components::top_bar::TopBar;
use crate::pages::compare::Compare;
use crate::pages::hub::Hub;
use crate::pages::hub_component::HubComponentPage;
use crate::pages::new_run::NewRun;
use crate::pages::not_found::NotFound;
use crate::pages::project_runs::ProjectRuns;
use crate::pages::projects::Projects;
use crate::pages::run::RunPage;
use crate::pages::runs::Runs;
use crate::pages::sign_in::SignIn;

/// The whole app: a top bar with the navigation and the server's status above the current page.
#[component]
pub fn App() -> impl IntoView {
    let health = LocalResource::new(api::health);
    // Whether the server takes this browser's requests; until it is known nothing is asked,
    // so no page shows a refusal before the sign-in form.
    let signed_in = LocalResource::new(api::signed_in);
    view! {
        <Router>
            <div class="shell">
                <TopBar health=health />
                <main class="page">
                    {move || match signed_in.get() {
                        None => ().into_any(),
                        Some(Ok(false)) => view! { <SignIn /> }.into_any(),
                        // Reachable, or not at all: each page says what it could not load.
                        Some(_) => view! { <Pages /> }.into_any(),
                    }}
                </main>
            </div>
        </Router>
    }
}

/// The routes, each to its page.
#[component]
fn Pages() -> impl IntoView {
    view! {
        <Routes fallback=NotFound>
            <Route path=path!("/") view=|| view! { <Redirect path="/projects" /> } />
            <Route path=path!("/projects") view=Projects />
            <Route path=path!("/projects/:name") view=ProjectRuns />
            <Route path=path!("/projects/:name/runs/:uuid") view=RunPage />
            <Route path=path!("/runs") view=Runs />
            <Route path=path!("/new") view=NewRun />
            <Route path=path!("/hub") view=Hub />
            <Route path=path!("/hub/:owner/:name") view=HubComponentPage />
            <Route path=path!("/compare") view=Compare />
            // Polyaxon's UI, as the links the `polyaxon` CLI prints name it.
            <Route path=path!("/ui") view=|| view! { <Redirect path="/projects" /> } />
            <Route path=path!("/ui/orgs/:owner/projects") view=|| view! { <Redirect path="/projects" /> } />
            <Route path=path!("/ui/:owner/:project") view=PolyaxonLink />
            <Route path=path!("/ui/:owner/:project/:section") view=PolyaxonLink />
            <Route path=path!("/ui/:owner/:project/runs/:uuid") view=PolyaxonLink />
            <Route path=path!("/ui/:owner/:project/runs/:uuid/:section") view=PolyaxonLink />
        </Routes>
    }
}

/// A link into Polyaxon's UI, as the `polyaxon` CLI prints them after `project create`, `run`,
/// `ops dashboard` or `ops service` (`/ui/{owner}/{project}/runs/{uuid}/`), replaced by
/// Myelin's page for the same thing: the project's runs, or the run on the tab the link names.
/// Myelin has one owner, so the link's owner is not needed.
#[component]
fn PolyaxonLink() -> impl IntoView {
    let params = use_params_map().get_untracked();
    let project = params.get("project").unwrap_or_default();
    let section = params.get("section");
    let target = match params.get("uuid") {
        None => format!("/projects/{project}"),
        Some(uuid) => {
            let tab = section.as_deref().and_then(run_tab);
            let query = tab.map(|tab| format!("?tab={tab}")).unwrap_or_default();
            format!("/projects/{project}/runs/{uuid}{query}")
        }
    };
    // The link's address gives way to the page's, so going back does not come here again.
    let options = NavigateOptions {
        replace: true,
        ..NavigateOptions::default()
    };
    view! { <Redirect path=target options=options /> }
}

/// The run page's tab that shows what a section of Polyaxon's run page shows, when one does.
fn run_tab(section: &str) -> Option<&'static str> {
    match section {
        "info" | "overview" | "statuses" | "timeline" | "settings" | "service" => Some("overview"),
        "logs" => Some("logs"),
        "shell" => Some("terminal"),
        "polyaxonfile" => Some("spec"),
        "files" | "artifacts" | "lineage" | "outputs" => Some("artifacts"),
        _ => None,
    }
}
