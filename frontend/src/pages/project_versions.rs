//! The project page's registry: its component, model and artifact versions, each with its
//! stage; a component version links to its page in the hub.

use leptos::prelude::*;
use shared::api::{ProjectVersion, VERSION_KINDS};

use crate::api;
use crate::format::minute;

/// The versions of `project`, every kind, most recently changed first within a kind; nothing
/// at all when it has none.
#[component]
pub fn ProjectVersions(project: Memo<String>) -> impl IntoView {
    let versions = LocalResource::new(move || {
        let project = project.get();
        async move {
            let mut all: Vec<ProjectVersion> = Vec::new();
            for kind in VERSION_KINDS {
                all.extend(api::project_versions(&project, kind).await?.results);
            }
            Ok::<_, api::ApiError>(all)
        }
    });
    move || {
        match versions.get() {
        Some(Ok(versions)) if !versions.is_empty() => Some(
            view! {
                <section class="panel versions" aria-label="Versions">
                    <h2>"Versions"</h2>
                    <table>
                        <thead>
                            <tr>
                                <th scope="col">"Kind"</th>
                                <th scope="col">"Name"</th>
                                <th scope="col">"Stage"</th>
                                <th scope="col">"Description"</th>
                                <th scope="col">"Updated"</th>
                            </tr>
                        </thead>
                        <tbody>{versions.into_iter().map(row).collect_view()}</tbody>
                    </table>
                </section>
            }
            .into_any(),
        ),
        Some(Err(error)) => Some(
            view! { <p class="problem" role="alert">{format!("cannot list the versions: {error}")}</p> }
                .into_any(),
        ),
        _ => None,
    }
    }
}

fn row(version: ProjectVersion) -> impl IntoView {
    let name = if version.kind == "component" {
        let href = format!(
            "/hub/{}/{}?tag={}",
            version.owner,
            version.project,
            api::percent_encode(&version.name)
        );
        view! { <a href=href>{version.name.clone()}</a> }.into_any()
    } else {
        view! { <span>{version.name.clone()}</span> }.into_any()
    };
    view! {
        <tr>
            <td>{version.kind.clone()}</td>
            <td>{name}</td>
            <td>{version.stage.clone().unwrap_or_else(|| "—".to_owned())}</td>
            <td>{version.description.clone().unwrap_or_default()}</td>
            <td>{minute(&version.updated_at.to_string())}</td>
        </tr>
    }
}
