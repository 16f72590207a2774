//! The run page's Artifacts tab: the run's files folder by folder, each to download, and a
//! text preview of the small ones.

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::api::Run;

use crate::api;

/// Files up to this size are previewed in the page; larger ones are only downloaded.
const PREVIEW_LIMIT: u64 = 1 << 20;

/// The Artifacts tab.
#[component]
pub fn RunArtifacts(run: Run) -> impl IntoView {
    let folder = RwSignal::new(String::new());
    let tree = LocalResource::new({
        let run = run.clone();
        move || {
            let (run, path) = (run.clone(), folder.get());
            async move { api::artifact_tree(&run, &path).await }
        }
    });
    let preview = RwSignal::new(None::<(String, Result<String, String>)>);
    let open = move |path: String| {
        preview.set(None);
        folder.set(path);
    };
    let join = |folder: &str, name: &str| {
        if folder.is_empty() {
            name.to_owned()
        } else {
            format!("{folder}/{name}")
        }
    };
    let run_for_rows = run.clone();
    view! {
        <section class="panel" aria-label="Artifacts">
            <nav class="crumbs" aria-label="Folder">
                <button type="button" class="link" on:click=move |_| open(String::new())>"artifacts"</button>
                {move || {
                    let path = folder.get();
                    let mut reached = String::new();
                    path.split('/')
                        .filter(|part| !part.is_empty())
                        .map(|part| {
                            reached = join(&reached, part);
                            let target = reached.clone();
                            view! {
                                " / "
                                <button type="button" class="link" on:click=move |_| open(target.clone())>{part.to_owned()}</button>
                            }
                        })
                        .collect_view()
                }}
            </nav>
            {move || match tree.get() {
                None => view! { <p class="muted">"Reading the artifacts…"</p> }.into_any(),
                Some(Err(error)) => view! { <p class="problem" role="alert">{error.to_string()}</p> }.into_any(),
                Some(Ok(tree)) if tree.dirs.is_empty() && tree.files.is_empty() => {
                    view! { <p class="muted">"Nothing here yet."</p> }.into_any()
                }
                Some(Ok(tree)) => {
                    let here = folder.get_untracked();
                    let dirs = tree
                        .dirs
                        .into_iter()
                        .map(|name| {
                            let target = join(&here, &name);
                            view! {
                                <tr>
                                    <th scope="row">
                                        <button type="button" class="link" on:click=move |_| open(target.clone())>{format!("{name}/")}</button>
                                    </th>
                                    <td></td>
                                    <td></td>
                                </tr>
                            }
                        })
                        .collect_view();
                    let files = tree
                        .files
                        .into_iter()
                        .map(|(name, size)| {
                            let path = join(&here, &name);
                            let href = api::artifact_url(&run_for_rows, &path, true);
                            let run = run_for_rows.clone();
                            let show = move |_| {
                                let (run, path) = (run.clone(), path.clone());
                                spawn_local(async move {
                                    let text = api::artifact_text(&run, &path)
                                        .await
                                        .map_err(|error| error.to_string());
                                    preview.set(Some((path, text)));
                                });
                            };
                            view! {
                                <tr>
                                    <th scope="row">{name.clone()}</th>
                                    <td class="size">{bytes(size)}</td>
                                    <td class="file-actions">
                                        {(size <= PREVIEW_LIMIT).then(|| view! {
                                            <button type="button" class="secondary" on:click=show>"Preview"</button>
                                        })}
                                        <a href=href download=name>"Download"</a>
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view();
                    view! {
                        <table class="listing artifacts">
                            <thead>
                                <tr>
                                    <th scope="col">"Name"</th>
                                    <th scope="col">"Size"</th>
                                    <th scope="col"></th>
                                </tr>
                            </thead>
                            <tbody>{dirs}{files}</tbody>
                        </table>
                    }
                    .into_any()
                }
            }}
            {move || preview.get().map(|(path, text)| match text {
                Ok(text) => view! {
                    <h3 class="preview-title">{path}</h3>
                    <pre class="spec artifact-preview">{text}</pre>
                }
                .into_any(),
                Err(error) => view! { <p class="problem" role="alert">{error}</p> }.into_any(),
            })}
        </section>
    }
}

/// A size as people read it.
fn bytes(size: u64) -> String {
    match size {
        0..1_024 => format!("{size} B"),
        1_024..1_048_576 => format!("{:.1} KB", size as f64 / 1_024.0),
        _ => format!("{:.1} MB", size as f64 / 1_048_576.0),
    }
}
