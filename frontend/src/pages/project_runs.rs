//! A project's runs: a table that renders only the rows in view (so 100,000 runs scroll as
//! smoothly as ten), filtered with Polyaxon's query language, sorted by any column, with
//! columns shown or hidden, and all of it in the URL; rows can be selected and stopped,
//! tagged or deleted together. The server pushes every change, and the rows in view are read
//! again.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use frontend::runs_view::{self, Column, Direction, PAGE, ROWS};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::{query_signal, use_params_map};
use shared::api::Run;

use crate::api::{self, RunsWindow};
use crate::components::status_badge::StatusBadge;
use crate::pages::project_versions::ProjectVersions;

/// Changes pushed by the server are gathered for this long before the rows are read again:
/// a burst of submissions costs one read, not one per run.
const SETTLE: Duration = Duration::from_millis(300);

/// The rows loaded, by page, each with the generation it was read in.
type Pages = HashMap<usize, (u64, Vec<Run>)>;

/// The runs page of one project.
#[component]
pub fn ProjectRuns() -> impl IntoView {
    let params = use_params_map();
    let project = Memo::new(move |_| params.read().get("name").unwrap_or_default());
    // The view lives in the URL (`?query=…&sort=…&columns=…`), so it can be shared or reopened.
    let (query, set_query) = query_signal::<String>("query");
    let (sort, set_sort) = query_signal::<String>("sort");
    let (listed, set_listed) = query_signal::<String>("columns");
    let typed = RwSignal::new(query.get_untracked().unwrap_or_default());
    Effect::new(move |_| typed.set(query.get().unwrap_or_default()));

    let count = RwSignal::new(None::<usize>);
    let pages = RwSignal::new(Pages::new());
    let problem = RwSignal::new(None::<String>);
    // Bumped when the view changes (everything is read anew) or the server reports changes
    // (the rows in view are read again, the others when they next come into view).
    let generation = RwSignal::new(0_u64);
    let requested = StoredValue::new(HashSet::<(u64, usize)>::new());
    let selected = RwSignal::new(BTreeSet::<String>::new());

    let viewport = NodeRef::<leptos::html::Div>::new();
    let scroll_top = RwSignal::new(0.0_f64);
    let height = RwSignal::new(600.0_f64);
    let measure = move || {
        if let Some(element) = viewport.get_untracked() {
            height.set(f64::from(element.client_height()));
        }
    };
    Effect::new(move |_| {
        if viewport.get().is_some() {
            measure();
        }
    });
    let resized = window_event_listener(leptos::ev::resize, move |_| measure());
    on_cleanup(move || resized.remove());

    Effect::new(move |_| {
        let _view = (project.get(), query.get(), sort.get());
        pages.set(Pages::new());
        count.set(None);
        selected.set(BTreeSet::new());
        scroll_top.set(0.0);
        if let Some(element) = viewport.get_untracked() {
            element.set_scroll_top(0);
        }
        generation.update(|generation| *generation += 1);
    });
    let rows = Memo::new(move |_| {
        // Before the first answer, one page's worth is assumed, so the first page is asked for.
        let count = count.get().unwrap_or(PAGE);
        ROWS.window(scroll_top.get(), height.get(), count)
    });
    Effect::new(move |_| {
        let generation_now = generation.get();
        let wanted = runs_view::pages(&rows.get());
        let (project, query, sort) = (
            project.get_untracked(),
            query.get_untracked().unwrap_or_default(),
            sort.get_untracked().unwrap_or_default(),
        );
        for page in wanted {
            if !requested
                .try_update_value(|asked| asked.insert((generation_now, page)))
                .unwrap_or(false)
            {
                continue;
            }
            let window = RunsWindow {
                query: query.clone(),
                sort: sort.clone(),
                offset: page * PAGE,
                limit: PAGE,
            };
            let project = project.clone();
            spawn_local(async move {
                let answer = api::runs(&project, &window).await;
                if generation.try_get_untracked() != Some(generation_now) {
                    return;
                }
                match answer {
                    Ok(list) => {
                        count.set(Some(usize::try_from(list.count).unwrap_or(usize::MAX)));
                        pages.update(|pages| {
                            pages.insert(page, (generation_now, list.results));
                        });
                        problem.set(None);
                    }
                    Err(error) => problem.set(Some(error.to_string())),
                }
            });
        }
    });

    // The server pushes every change to the project's runs.
    let settling = StoredValue::new(false);
    let watch = StoredValue::new_local(None::<api::RunWatch>);
    Effect::new(move |_| {
        let watching = api::watch_runs(&project.get(), move |_| {
            if settling.try_get_value() != Some(false) {
                return;
            }
            settling.set_value(true);
            set_timeout(
                move || {
                    settling.try_set_value(false);
                    generation.try_update(|generation| *generation += 1);
                },
                SETTLE,
            );
        });
        watch.set_value(watching.ok());
    });
    on_cleanup(move || watch.set_value(None));

    let discovered = Memo::new(move |_| {
        pages.with(|pages| runs_view::discovered(pages.values().flat_map(|(_, runs)| runs)))
    });
    let columns = Memo::new(move |_| {
        discovered.with(|found| runs_view::shown(listed.get().as_deref(), found))
    });
    let filter = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let typed = typed.get_untracked().trim().to_owned();
        set_query.set(Some(typed).filter(|typed| !typed.is_empty()));
    };
    let loaded = move || {
        pages.with(|pages| {
            pages
                .values()
                .flat_map(|(_, runs)| runs.iter().map(|run| run.uuid.clone()))
                .collect::<Vec<_>>()
        })
    };
    let all_selected = move || {
        let loaded = loaded();
        !loaded.is_empty()
            && selected.with(|chosen| loaded.iter().all(|uuid| chosen.contains(uuid)))
    };
    let select_all = move |event: leptos::ev::Event| {
        let loaded = loaded();
        selected.update(|chosen| {
            if event_target_checked(&event) {
                chosen.extend(loaded);
            } else {
                chosen.clear();
            }
        });
    };
    let refresh = move || {
        selected.set(BTreeSet::new());
        generation.update(|generation| *generation += 1);
    };

    view! {
        <header class="page-header">
            <h1>{move || project.get()}</h1>
            <p>"The project's runs. Statuses update as the server records them."</p>
        </header>
        <form class="panel filter" aria-label="Filter runs" on:submit=filter>
            <div class="fields">
                <label>
                    "Query"
                    <input
                        name="query"
                        placeholder="status:failed, inputs.lr:>0.01, tags:baseline"
                        bind:value=typed
                    />
                </label>
                <button type="submit">"Filter"</button>
            </div>
            {move || problem.get().map(|text| view! { <p class="problem" role="alert">{text}</p> })}
        </form>
        <section class="panel runs-table" aria-label="Runs">
            <div class="table-tools">
                <p class="muted count" role="status">
                    {move || match count.get() {
                        None => "Loading the runs…".to_owned(),
                        Some(1) => "1 run".to_owned(),
                        Some(count) => format!("{count} runs"),
                    }}
                </p>
                <BulkActions project=project selected=selected done=refresh />
                <ColumnChooser columns=columns discovered=discovered set_listed=set_listed />
            </div>
            <div
                class="runs-viewport"
                node_ref=viewport
                on:scroll=move |_| {
                    if let Some(element) = viewport.get_untracked() {
                        scroll_top.set(f64::from(element.scroll_top()));
                    }
                }
            >
                <table class="listing runs" aria-rowcount=move || count.get().unwrap_or(0) + 1>
                    <thead>
                        <tr>
                            <th scope="col" class="select">
                                <input
                                    type="checkbox"
                                    aria-label="Select the loaded runs"
                                    prop:checked=all_selected
                                    on:change=select_all
                                />
                            </th>
                            {move || {
                                columns
                                    .get()
                                    .into_iter()
                                    .map(|column| header(column, sort, set_sort))
                                    .collect_view()
                            }}
                        </tr>
                    </thead>
                    <tbody>
                        {move || {
                            let range = rows.get();
                            let total = count.get().unwrap_or(0);
                            let shown = columns.get();
                            let above = ROWS.span(range.start);
                            let below = ROWS.span(total.saturating_sub(range.end));
                            let body = pages
                                .with(|pages| {
                                    range
                                        .clone()
                                        .filter(|index| *index < total)
                                        .map(|index| {
                                            let run = pages
                                                .get(&(index / PAGE))
                                                .and_then(|(_, runs)| runs.get(index % PAGE))
                                                .cloned();
                                            row(index, run, &shown, selected)
                                        })
                                        .collect_view()
                                });
                            view! {
                                <tr class="spacer" aria-hidden="true" style=format!("height:{above}px")></tr>
                                {body}
                                <tr class="spacer" aria-hidden="true" style=format!("height:{below}px")></tr>
                            }
                        }}
                    </tbody>
                </table>
                {move || (count.get() == Some(0)).then(|| view! {
                    <p class="muted empty">
                        "No runs match. Submit one with "
                        <code>"polyaxon run -f polyaxonfile.yaml -p "{project.get()}</code>"."
                    </p>
                })}
            </div>
        </section>
        <ProjectVersions project=project />
    }
}

/// A column's header: a button that sorts by it, when the server can.
fn header(
    column: Column,
    sort: Memo<Option<String>>,
    set_sort: SignalSetter<Option<String>>,
) -> impl IntoView {
    let title = column.title();
    if !column.sortable() {
        return view! { <th scope="col" data-column=column.key()>{title}</th> }.into_any();
    }
    let key = column.key();
    let data_column = key.clone();
    let direction =
        Memo::new(move |_| sort.with(|sort| runs_view::sorted_by(sort.as_deref(), &column)));
    let aria = move || match direction.get() {
        Some(Direction::Ascending) => "ascending",
        Some(Direction::Descending) => "descending",
        None => "none",
    };
    let click = move |_| {
        let column = Column::parse(&key).expect("a column's key reads back");
        set_sort.set(sort.with_untracked(|sort| runs_view::next_sort(sort.as_deref(), &column)));
    };
    view! {
        <th scope="col" aria-sort=aria data-column=data_column>
            <button type="button" class="sort" on:click=click>
                {title}
                <span class="arrow" aria-hidden="true">
                    {move || match direction.get() {
                        Some(Direction::Ascending) => "▲",
                        Some(Direction::Descending) => "▼",
                        None => "",
                    }}
                </span>
            </button>
        </th>
    }
    .into_any()
}

/// One row: a run, or a placeholder while its page loads.
fn row(
    index: usize,
    run: Option<Run>,
    columns: &[Column],
    selected: RwSignal<BTreeSet<String>>,
) -> impl IntoView + use<> {
    let number = index + 2; // The header is row 1.
    let Some(run) = run else {
        return view! {
            <tr class="placeholder" aria-rowindex=number>
                <td colspan=columns.len() + 1>"…"</td>
            </tr>
        }
        .into_any();
    };
    let uuid = run.uuid.clone();
    let chosen = {
        let uuid = uuid.clone();
        Memo::new(move |_| selected.with(|chosen| chosen.contains(&uuid)))
    };
    let label = format!("Select {}", Column::Name.text(&run));
    let toggle = move |event: leptos::ev::Event| {
        let on = event_target_checked(&event);
        selected.update(|chosen| {
            if on {
                chosen.insert(uuid.clone());
            } else {
                chosen.remove(&uuid);
            }
        });
    };
    let cells = columns
        .iter()
        .map(|column| cell(column, &run))
        .collect_view();
    view! {
        <tr aria-rowindex=number class:chosen=chosen>
            <td class="select">
                <input type="checkbox" aria-label=label prop:checked=chosen on:change=toggle />
            </td>
            {cells}
        </tr>
    }
    .into_any()
}

fn cell(column: &Column, run: &Run) -> impl IntoView + use<> {
    let text = column.text(run);
    match column {
        Column::Name => {
            let href = format!("/projects/{}/runs/{}", run.project, run.uuid);
            view! {
                <th scope="row">
                    <A href=href>{text}</A>
                </th>
            }
            .into_any()
        }
        Column::Status => view! {
            <td>
                <StatusBadge status=run.status />
            </td>
        }
        .into_any(),
        Column::Uuid => view! {
            <td>
                <code>{text}</code>
            </td>
        }
        .into_any(),
        _ => {
            let title = text.clone();
            view! { <td title=title>{text}</td> }.into_any()
        }
    }
}

/// What can be done to the selected runs at once.
#[component]
fn BulkActions(
    project: Memo<String>,
    selected: RwSignal<BTreeSet<String>>,
    done: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let tag = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let act = move |action: &'static str| {
        let uuids: Vec<String> = selected.get_untracked().into_iter().collect();
        let tags: Vec<String> = tag
            .get_untracked()
            .split(',')
            .map(|tag| tag.trim().to_owned())
            .filter(|tag| !tag.is_empty())
            .collect();
        if action == "tag" && tags.is_empty() {
            problem.set(Some("Type a tag to add first.".to_owned()));
            return;
        }
        if action == "delete"
            && !window()
                .confirm_with_message(&format!(
                    "Delete {} runs with their logs and artifacts? This cannot be undone.",
                    uuids.len()
                ))
                .unwrap_or(false)
        {
            return;
        }
        busy.set(true);
        let project = project.get_untracked();
        spawn_local(async move {
            let outcome = match action {
                "stop" => api::stop_runs(&project, &uuids).await,
                "tag" => api::tag_runs(&project, &uuids, &tags).await,
                _ => api::delete_runs(&project, &uuids).await,
            };
            busy.try_set(false);
            match outcome {
                Ok(()) => {
                    problem.try_set(None);
                    tag.try_set(String::new());
                    done();
                }
                Err(error) => {
                    problem.try_set(Some(error.to_string()));
                }
            }
        });
    };
    let tag_submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        act("tag");
    };
    move || {
        let chosen = selected.with(BTreeSet::len);
        (chosen > 0).then(|| {
            view! {
                <div class="bulk" role="toolbar" aria-label="Selected runs">
                    <span class="chosen-count">{format!("{chosen} selected")}</span>
                    <button type="button" disabled=move || busy.get() on:click=move |_| act("stop")>
                        "Stop"
                    </button>
                    <form class="tag" on:submit=tag_submit>
                        <input name="tag" placeholder="tag, another" aria-label="Tags to add" bind:value=tag />
                        <button type="submit" disabled=move || busy.get()>"Tag"</button>
                    </form>
                    <button type="button" class="danger" disabled=move || busy.get() on:click=move |_| act("delete")>
                        "Delete"
                    </button>
                    <button type="button" class="secondary" on:click=move |_| selected.set(BTreeSet::new())>
                        "Clear"
                    </button>
                    {move || problem.get().map(|text| view! { <p class="problem" role="alert">{text}</p> })}
                </div>
            }
        })
    }
}

/// Shows or hides columns; the choice goes into the URL.
#[component]
fn ColumnChooser(
    columns: Memo<Vec<Column>>,
    discovered: Memo<Vec<Column>>,
    set_listed: SignalSetter<Option<String>>,
) -> impl IntoView {
    view! {
        <details class="columns">
            <summary>"Columns"</summary>
            <fieldset>
                <legend class="visually-hidden">"Shown columns"</legend>
                {move || {
                    let shown = columns.get();
                    let offered = discovered.with(|found| runs_view::offered(&shown, found));
                    offered
                        .iter()
                        .map(|column| {
                            let on = shown.contains(column);
                            let next = runs_view::toggled(&shown, &offered, column);
                            view! {
                                <label>
                                    <input
                                        type="checkbox"
                                        prop:checked=on
                                        on:change=move |_| set_listed.set(Some(next.clone()))
                                    />
                                    {column.title()}
                                </label>
                            }
                        })
                        .collect_view()
                }}
            </fieldset>
        </details>
    }
}
