//! The application shell: the router, the frame every page sits in, and the app-wide state,
//! all set up here and nowhere else.

use leptos::prelude::*;
use leptos_router::components::{Redirect, Route, Router, Routes};
use leptos_router::path;

use crate::api;
use crate::components::top_bar::TopBar;
use crate::pages::new_run::NewRun;
use crate::pages::not_found::NotFound;
use crate::pages::planned::{self, Planned};
use crate::pages::project_runs::ProjectRuns;
use crate::pages::projects::Projects;
use crate::pages::run::RunPage;
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
            <Route path=path!("/runs") view=|| view! { <Planned plan=&planned::RUNS /> } />
            <Route path=path!("/new") view=NewRun />
            <Route path=path!("/hub") view=|| view! { <Planned plan=&planned::HUB /> } />
            <Route path=path!("/compare") view=|| view! { <Planned plan=&planned::COMPARE /> } />
        </Routes>
    }
}
