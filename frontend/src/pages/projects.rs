//! Projects: every project of the team, and a form to create one.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use shared::api::{Project, ProjectBody};

use crate::api;
use crate::components::page_header::PageHeader;
use crate::format::minute;

/// The projects page.
#[component]
pub fn Projects() -> impl IntoView {
    // Bumped after a creation, to load the list again.
    let reload = RwSignal::new(0_u32);
    let projects = LocalResource::new(move || {
        reload.track();
        api::projects()
    });
    let name = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let create = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let body = ProjectBody {
            name: Some(name.get_untracked().trim().to_owned()),
            description: Some(description.get_untracked().trim().to_owned())
                .filter(|text| !text.is_empty()),
            ..ProjectBody::default()
        };
        busy.set(true);
        spawn_local(async move {
            match api::create_project(&body).await {
                Ok(_) => {
                    name.set(String::new());
                    description.set(String::new());
                    problem.set(None);
                    reload.update(|count| *count += 1);
                }
                Err(error) => problem.set(Some(error.to_string())),
            }
            busy.set(false);
        });
    };
    view! {
        <PageHeader
            title="Projects"
            summary="Projects group the runs of one piece of work, with their settings and their team."
        />
        <form class="panel new-project" aria-label="New project" on:submit=create>
            <h2>"New project"</h2>
            <div class="fields">
                <label>
                    "Name"
                    <input
                        name="name"
                        required
                        pattern="[A-Za-z0-9][A-Za-z0-9_\\-]*"
                        title="letters, digits, - and _"
                        bind:value=name
                    />
                </label>
                <label>
                    "Description"
                    <input name="description" bind:value=description />
                </label>
                <button type="submit" disabled=move || busy.get()>"Create project"</button>
            </div>
            {move || problem.get().map(|text| view! { <p class="problem" role="alert">{text}</p> })}
        </form>
        <section class="panel" aria-label="Project list">
            {move || match projects.get() {
                None => view! { <p class="muted">"Loading the projects…"</p> }.into_any(),
                Some(Err(error)) => {
                    view! { <p class="problem" role="alert">{error.to_string()}</p> }.into_any()
                }
                Some(Ok(list)) if list.results.is_empty() => {
                    view! {
                        <p class="muted">
                            "No projects yet: create one above, or with "
                            <code>"polyaxon project create"</code>"."
                        </p>
                    }
                        .into_any()
                }
                Some(Ok(list)) => {
                    view! {
                        <table class="listing">
                            <thead>
                                <tr>
                                    <th scope="col">"Name"</th>
                                    <th scope="col">"Description"</th>
                                    <th scope="col">"Tags"</th>
                                    <th scope="col">"Created"</th>
                                </tr>
                            </thead>
                            <tbody>{list.results.into_iter().map(row).collect_view()}</tbody>
                        </table>
                    }
                        .into_any()
                }
            }}
        </section>
    }
}

fn row(project: Project) -> impl IntoView {
    let href = format!("/projects/{}", project.name);
    view! {
        <tr>
            <th scope="row">
                <A href=href>{project.name}</A>
            </th>
            <td>{project.description.unwrap_or_default()}</td>
            <td>{project.tags.join(", ")}</td>
            <td>{minute(&project.created_at.to_string())}</td>
        </tr>
    }
}
