//! The runs table, a project's and every project's: it renders only the rows in view (so
//! 100,000 runs scroll as smoothly as ten), filtered with Polyaxon's query language, sorted by
//! any column (a metric's last, lowest or highest value included), with columns shown or
//! hidden, and all of it in the URL. Rows can be selected and stopped, tagged, deleted or
//! compared together, and the view's rows exported as CSV.
//!
//! The table calls no server itself: the page hands it a [`RunsSource`], and tells it through
//! `changes` when runs changed, so the rows in view are read again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use frontend::runs_view::{self, Column, Direction, EXPORT_MAX, EXPORT_PAGE, PAGE, ROWS, Scope};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::query_signal;
use shared::api::{ListResponse, Run};
use wasm_bindgen::JsCast as _;

use crate::api::{ApiError, RunsWindow};
use crate::components::status_badge::StatusBadge;

/// What the server will answer, as the page's calls give it.
pub type Reply<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

/// Something done to the selected runs at once.
#[derive(Debug, Clone, PartialEq)]
pub enum BulkAction {
    /// Stop those still going.
    Stop,
    /// Add these tags.
    Tag(Vec<String>),
    /// Delete them, their logs and artifacts.
    Delete,
}

/// How the table reaches the server: the page's calls, so the table itself calls nothing.
#[derive(Clone)]
pub struct RunsSource {
    /// Reads a window of the runs, filtered and sorted as it says.
    pub list: Rc<dyn Fn(RunsWindow) -> Reply<ListResponse<Run>>>,
    /// Does an action to runs of one project: the project's name, then the runs' uuids.
    pub act: Rc<dyn Fn(BulkAction, String, Vec<String>) -> Reply<()>>,
}

/// The rows loaded, by page, each with the generation it was read in.
type Pages = HashMap<usize, (u64, Vec<Run>)>;

/// The selected runs: each uuid with its project, which actions are sent to.
type Chosen = BTreeMap<String, String>;

/// A table of runs, with its filter, column chooser, bulk actions and export.
#[component]
pub fn RunsTable(
    /// Where the rows come from and where actions go.
    source: RunsSource,
    /// Which runs the table lists: across projects it has a project column.
    scope: Scope,
    /// Changes whenever runs may have changed: the rows in view are read again.
    #[prop(into)]
    changes: Signal<u64>,
    /// The name an export is saved as (`runs.csv`).
    export_name: String,
    /// What a paragraph says when no run matches.
    #[prop(into)]
    empty: ViewFn,
) -> impl IntoView {
    let source = StoredValue::new_local(source);
    // The view lives in the URL (`?query=…&sort=…&columns=…`), so it can be shared or reopened.
    let (query, set_query) = query_signal::<String>("query");
    let (sort, set_sort) = query_signal::<String>("sort");
    let (listed, set_listed) = query_signal::<String>("columns");
    let typed = RwSignal::new(query.get_untracked().unwrap_or_default());
    Effect::new(move |_| typed.set(query.get().unwrap_or_default()));

    let count = RwSignal::new(None::<usize>);
    let pages = RwSignal::new(Pages::new());
    let problem = RwSignal::new(None::<String>);
    // Bumped when the view changes (everything is read anew) or runs changed (the rows in view
    // are read again, the others when they next come into view).
    let generation = RwSignal::new(0_u64);
    let requested = StoredValue::new(HashSet::<(u64, usize)>::new());
    let selected = RwSignal::new(Chosen::new());

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
        let _view = (query.get(), sort.get());
        pages.set(Pages::new());
        count.set(None);
        selected.set(Chosen::new());
        scroll_top.set(0.0);
        if let Some(element) = viewport.get_untracked() {
            element.set_scroll_top(0);
        }
        generation.update(|generation| *generation += 1);
    });
    Effect::new(move |seen: Option<u64>| {
        let now = changes.get();
        if seen.is_some_and(|seen| seen != now) {
            generation.update(|generation| *generation += 1);
        }
        now
    });
    let rows = Memo::new(move |_| {
        // Before the first answer, one page's worth is assumed, so the first page is asked for.
        let count = count.get().unwrap_or(PAGE);
        ROWS.window(scroll_top.get(), height.get(), count)
    });
    Effect::new(move |_| {
        let generation_now = generation.get();
        let wanted = runs_view::pages(&rows.get());
        let (query, sort) = (
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
            let Some(list) = source.try_with_value(|source| source.list.clone()) else {
                return;
            };
            let window = RunsWindow {
                query: query.clone(),
                sort: sort.clone(),
                offset: page * PAGE,
                limit: PAGE,
            };
            spawn_local(async move {
                let answer = list(window).await;
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

    let discovered = Memo::new(move |_| {
        pages.with(|pages| runs_view::discovered(pages.values().flat_map(|(_, runs)| runs)))
    });
    let columns = Memo::new(move |_| {
        discovered.with(|found| runs_view::shown(listed.get().as_deref(), found, scope))
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
                .flat_map(|(_, runs)| runs.iter())
                .map(|run| (run.uuid.clone(), run.project.clone()))
                .collect::<Chosen>()
        })
    };
    let all_selected = move || {
        let loaded = loaded();
        !loaded.is_empty()
            && selected.with(|chosen| loaded.keys().all(|uuid| chosen.contains_key(uuid)))
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
        selected.set(Chosen::new());
        generation.update(|generation| *generation += 1);
    };
    let current_view = move || {
        (
            query.get_untracked().unwrap_or_default(),
            sort.get_untracked().unwrap_or_default(),
            columns.get_untracked(),
        )
    };
    view! {
        <form class="panel filter" aria-label="Filter runs" on:submit=filter>
            <div class="fields">
                <label>
                    "Query"
                    <input
                        name="query"
                        placeholder="status:failed, inputs.lr:>0.01, metrics.loss.min:<0.1"
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
                <BulkActions selected=selected source=source done=refresh />
                <Export source=source current=current_view file=export_name />
                <ColumnChooser
                    columns=columns
                    discovered=discovered
                    set_listed=set_listed
                    scope=scope
                />
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
                {move || {
                    (count.get() == Some(0)).then(|| view! { <p class="muted empty">{empty.run()}</p> })
                }}
            </div>
        </section>
    }
}

/// A column's header: a button that sorts by it, when the server can.
fn header(
    column: Column,
    sort: Memo<Option<String>>,
    set_sort: SignalSetter<Option<String>>,
) -> impl IntoView {
    let title = column.title();
    let class = matches!(column, Column::Metric { .. }).then_some("number");
    if !column.sortable() {
        return view! { <th scope="col" class=class data-column=column.key()>{title}</th> }
            .into_any();
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
        <th scope="col" class=class aria-sort=aria data-column=data_column>
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
    selected: RwSignal<Chosen>,
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
    let project = run.project.clone();
    let chosen = {
        let uuid = uuid.clone();
        Memo::new(move |_| selected.with(|chosen| chosen.contains_key(&uuid)))
    };
    let label = format!("Select {}", Column::Name.text(&run));
    let toggle = move |event: leptos::ev::Event| {
        let on = event_target_checked(&event);
        selected.update(|chosen| {
            if on {
                chosen.insert(uuid.clone(), project.clone());
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
        <tr aria-rowindex=number class:chosen=chosen data-uuid=run.uuid.clone()>
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
        Column::Project => {
            let href = format!("/projects/{}", run.project);
            view! {
                <td>
                    <A href=href>{text}</A>
                </td>
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
        Column::Metric { .. } => {
            // The cell rounds; its tooltip has every digit.
            let title = column.exported(run);
            view! { <td class="number" title=title>{text}</td> }.into_any()
        }
        _ => {
            let title = text.clone();
            view! { <td title=title>{text}</td> }.into_any()
        }
    }
}

/// What can be done to the selected runs at once. Runs of several projects are acted on a
/// project at a time.
#[component]
fn BulkActions(
    selected: RwSignal<Chosen>,
    source: StoredValue<RunsSource, LocalStorage>,
    done: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let tag = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let run_action = move |action: BulkAction| {
        let chosen = selected.get_untracked();
        if let BulkAction::Tag(tags) = &action
            && tags.is_empty()
        {
            problem.set(Some("Type a tag to add first.".to_owned()));
            return;
        }
        if action == BulkAction::Delete
            && !window()
                .confirm_with_message(&format!(
                    "Delete {} runs with their logs and artifacts? This cannot be undone.",
                    chosen.len()
                ))
                .unwrap_or(false)
        {
            return;
        }
        let mut by_project = BTreeMap::<String, Vec<String>>::new();
        for (uuid, project) in chosen {
            by_project.entry(project).or_default().push(uuid);
        }
        let Some(calls) = source.try_with_value(|source| {
            by_project
                .into_iter()
                .map(|(project, uuids)| (source.act)(action.clone(), project, uuids))
                .collect::<Vec<_>>()
        }) else {
            return;
        };
        busy.set(true);
        spawn_local(async move {
            let mut outcome = Ok(());
            for call in calls {
                outcome = call.await;
                if outcome.is_err() {
                    break;
                }
            }
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
        let tags = tag
            .get_untracked()
            .split(',')
            .map(|tag| tag.trim().to_owned())
            .filter(|tag| !tag.is_empty())
            .collect();
        run_action(BulkAction::Tag(tags));
    };
    move || {
        let chosen = selected.with(Chosen::len);
        let compare = selected.with(|chosen| runs_view::compare_href(chosen.keys()));
        (chosen > 0).then(|| {
            view! {
                <div class="bulk" role="toolbar" aria-label="Selected runs">
                    <span class="chosen-count">{format!("{chosen} selected")}</span>
                    {match compare {
                        Some(href) => view! { <A href=href attr:class="button">"Compare"</A> }.into_any(),
                        None => view! {
                            <span class="muted" title="Select fewer runs to compare them">
                                {format!("Compare takes at most {} runs", runs_view::grouped(runs_view::MAX_COMPARED))}
                            </span>
                        }
                        .into_any(),
                    }}
                    <button type="button" disabled=move || busy.get() on:click=move |_| run_action(BulkAction::Stop)>
                        "Stop"
                    </button>
                    <form class="tag" on:submit=tag_submit>
                        <input name="tag" placeholder="tag, another" aria-label="Tags to add" bind:value=tag />
                        <button type="submit" disabled=move || busy.get()>"Tag"</button>
                    </form>
                    <button type="button" class="danger" disabled=move || busy.get() on:click=move |_| run_action(BulkAction::Delete)>
                        "Delete"
                    </button>
                    <button type="button" class="secondary" on:click=move |_| selected.set(Chosen::new())>
                        "Clear"
                    </button>
                    {move || problem.get().map(|text| view! { <p class="problem" role="alert">{text}</p> })}
                </div>
            }
        })
    }
}

/// An export made: where its file is, and what it holds.
#[derive(Clone)]
struct Exported {
    url: String,
    note: String,
}

/// Exports the view's rows, every page of them up to [`EXPORT_MAX`], with the shown columns,
/// as a CSV file the browser saves; the file stays linked until the next export.
#[component]
fn Export(
    /// Where the runs are read.
    source: StoredValue<RunsSource, LocalStorage>,
    /// The view now: its query, sort and shown columns.
    current: impl Fn() -> (String, String, Vec<Column>) + Copy + Send + Sync + 'static,
    /// The file's name.
    file: String,
) -> impl IntoView {
    let busy = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);
    let exported = RwSignal::new(None::<Exported>);
    on_cleanup(move || {
        if let Some(old) = exported.try_get_untracked().flatten() {
            let _ = web_sys::Url::revoke_object_url(&old.url);
        }
    });
    let file = StoredValue::new(file);
    let start = move |_| {
        let (query, sort, columns) = current();
        let name = file.get_value();
        busy.set(true);
        problem.set(None);
        spawn_local(async move {
            let outcome = read_all(source, query, sort).await;
            busy.try_set(false);
            let (runs, count) = match outcome {
                Ok(read) => read,
                Err(error) => {
                    problem.try_set(Some(format!("cannot export: {error}")));
                    return;
                }
            };
            let text = runs_view::csv(&columns, &runs);
            let Some(url) = object_url(&text) else {
                problem.try_set(Some("the browser could not make the file".to_owned()));
                return;
            };
            save(&url, &name);
            let note = runs_view::export_note(runs.len(), count);
            if let Some(Some(old)) = exported.try_update(|now| now.replace(Exported { url, note }))
            {
                let _ = web_sys::Url::revoke_object_url(&old.url);
            }
        });
    };
    view! {
        <div class="export">
            <button type="button" class="secondary" disabled=move || busy.get() on:click=start>
                {move || if busy.get() { "Exporting…" } else { "Export CSV" }}
            </button>
            {move || {
                exported
                    .get()
                    .map(|Exported { url, note }| {
                        view! {
                            <a class="download" href=url download=file.get_value() title=format!("Save it again: {note}")>
                                {file.get_value()}
                            </a>
                            <span class="muted">{format!("({note})")}</span>
                        }
                    })
            }}
            {move || problem.get().map(|text| view! { <span class="problem" role="alert">{text}</span> })}
        </div>
    }
}

/// Every run of the view, a page of [`EXPORT_PAGE`] at a time up to [`EXPORT_MAX`], each once
/// (a run created while reading shifts the pages), with how many match in all.
async fn read_all(
    source: StoredValue<RunsSource, LocalStorage>,
    query: String,
    sort: String,
) -> Result<(Vec<Run>, usize), ApiError> {
    let mut runs = Vec::new();
    let mut seen = HashSet::new();
    let mut offset = 0;
    loop {
        let window = RunsWindow {
            query: query.clone(),
            sort: sort.clone(),
            offset,
            limit: EXPORT_PAGE,
        };
        let Some(reading) = source.try_with_value(|source| (source.list)(window)) else {
            return Err(ApiError::Network("the page was left".to_owned()));
        };
        let page = reading.await?;
        let count = usize::try_from(page.count).unwrap_or(usize::MAX);
        let got = page.results.len();
        for run in page.results {
            if seen.insert(run.uuid.clone()) {
                runs.push(run);
            }
        }
        offset += EXPORT_PAGE;
        if got == 0 || offset >= count.min(EXPORT_MAX) {
            runs.truncate(EXPORT_MAX);
            return Ok((runs, count));
        }
    }
}

/// `text` as a CSV file in the browser's memory, at an object URL.
fn object_url(text: &str) -> Option<String> {
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("text/csv;charset=utf-8");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).ok()?;
    web_sys::Url::create_object_url_with_blob(&blob).ok()
}

/// Has the browser save the file at `url` as `name`.
fn save(url: &str, name: &str) {
    if let Ok(anchor) = document().create_element("a") {
        let anchor: web_sys::HtmlAnchorElement = anchor.unchecked_into();
        anchor.set_href(url);
        anchor.set_download(name);
        anchor.click();
    }
}

/// Shows or hides columns; the choice goes into the URL.
#[component]
fn ColumnChooser(
    columns: Memo<Vec<Column>>,
    discovered: Memo<Vec<Column>>,
    set_listed: SignalSetter<Option<String>>,
    scope: Scope,
) -> impl IntoView {
    view! {
        <details class="columns">
            <summary>"Columns"</summary>
            <fieldset>
                <legend class="visually-hidden">"Shown columns"</legend>
                {move || {
                    let shown = columns.get();
                    let offered = discovered.with(|found| runs_view::offered(&shown, found, scope));
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
