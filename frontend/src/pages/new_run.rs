//! New run: a Polyaxonfile in an editor, checked and compiled in the browser on every edit by
//! the compiler the server runs, with a form for its inputs, a preview of what Kubernetes will
//! receive, and a submit that lands on the new run's page.

use std::collections::BTreeMap;
use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{query_signal, use_navigate};
use serde_json::Value as Json;
use shared::Diagnostic;
use shared::api::{OperationBody, Run};
use wasm_bindgen::JsCast as _;

use crate::api::{self, ApiError};
use crate::compiler::{Answer, Compiler};
use crate::components::dag_graph::DagGraph;
use crate::components::tabs::tab_buttons;
use crate::components::yaml_view::{documents, download, yaml_view};
use crate::editor::{Editor, Marker};
use crate::examples::EXAMPLES;
use frontend::preview::{Input, Preview, Shape};
use frontend::{PreviewRequest, diff};

/// How long typing pauses before the text is compiled again.
const DEBOUNCE: Duration = Duration::from_millis(40);
/// Where the editor's text and params survive a reload.
const SAVED_TEXT: &str = "myelin.new-run.text";
const SAVED_PARAMS: &str = "myelin.new-run.params";

/// Whether what the page shows belongs to the text on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// The problems, form and preview are the text's.
    Current,
    /// The text changed since: what is shown is an older text's, until the compiler answers.
    Checking,
    /// The compiler gave up on this text; nothing shown is its verdict.
    GaveUp,
}

/// The preview tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Structure,
    Operation,
    Resource,
    Kubernetes,
}

impl Tab {
    const ALL: [Tab; 4] = [
        Tab::Structure,
        Tab::Operation,
        Tab::Resource,
        Tab::Kubernetes,
    ];

    fn label(self) -> &'static str {
        match self {
            Tab::Structure => "Structure",
            Tab::Operation => "Operation",
            Tab::Resource => "Polyaxon resource",
            Tab::Kubernetes => "Kubernetes",
        }
    }
}

fn storage() -> Option<web_sys::Storage> {
    window().local_storage().ok().flatten()
}

fn now_iso() -> String {
    js_sys::Date::new_0()
        .to_iso_string()
        .as_string()
        .unwrap_or_default()
}

/// The new run page.
#[component]
pub fn NewRun() -> impl IntoView {
    // A component from the hub (`?hub=NAME:TAG`): the editor starts with an operation that
    // references it, and with `&inline=true` takes the component's own text once it arrives.
    let (hub_query, _) = query_signal::<String>("hub");
    let (inline_query, _) = query_signal::<bool>("inline");
    let hub = hub_query
        .get_untracked()
        .filter(|reference| !reference.is_empty());
    let saved = storage().and_then(|store| store.get_item(SAVED_TEXT).ok().flatten());
    let initial = match &hub {
        Some(reference) => format!("kind: operation\nhubRef: {reference}\n"),
        None => saved.unwrap_or_else(|| EXAMPLES[0].text.to_owned()),
    };
    let saved_params: BTreeMap<String, String> = storage()
        .filter(|_| hub.is_none())
        .and_then(|store| store.get_item(SAVED_PARAMS).ok().flatten())
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    // What the editor holds, and what was last compiled (after a pause in typing).
    let typed = RwSignal::new(initial.clone());
    let text = RwSignal::new(initial.clone());
    let params = RwSignal::new(saved_params);
    let server_problems = RwSignal::new(Vec::<Diagnostic>::new());
    let problem = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let tab = RwSignal::new(Tab::Structure);
    let (project_query, set_project_query) = query_signal::<String>("project");
    let name = RwSignal::new(String::new());
    let tags = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    // A run copied from its page (`?copy=UUID`): its Polyaxonfile fills the editor, the changes
    // from it show below, and the submission is recorded as its copy.
    let (copy_query, _) = query_signal::<String>("copy");
    let original = RwSignal::new(None::<Run>);

    let projects = LocalResource::new(api::projects);
    let agent = LocalResource::new(api::agent);
    // Users' own components, which the worker resolves `hubRef` against besides the bundled.
    let registered = LocalResource::new(|| async {
        api::hub_components().await.map(|list| {
            list.results
                .into_iter()
                .filter(|component| component.owner != shared::hub::DEFAULT_OWNER)
                .collect::<Vec<_>>()
        })
    });
    let project = Memo::new(move |_| {
        project_query
            .get()
            .filter(|name| !name.is_empty())
            .or_else(|| {
                projects
                    .get()
                    .and_then(|list| list.ok())
                    .and_then(|list| list.results.first().map(|project| project.name.clone()))
            })
    });

    // What the newest text compiles to, as the compiler worker answers, and whether that answer
    // is for the text on screen: no verdict is shown for a text that is not checked yet.
    let compiled = RwSignal::new(Preview::default());
    let compiler = StoredValue::new_local(None::<Compiler>);
    let compiler_problem = RwSignal::new(None::<String>);
    let awaiting = RwSignal::new(true);
    let gave_up = RwSignal::new(false);
    let verdict = Memo::new(move |_| {
        if gave_up.get() {
            Verdict::GaveUp
        } else if awaiting.get() || typed.with(|typed| text.with(|text| typed != text)) {
            Verdict::Checking
        } else {
            Verdict::Current
        }
    });
    let on_answer = move |answer| match answer {
        Answer::Preview(preview) => {
            compiled.set(*preview);
            compiler_problem.set(None);
            awaiting.set(false);
        }
        Answer::GaveUp(why) => {
            compiler_problem.set(Some(why));
            awaiting.set(false);
            gave_up.set(true);
        }
    };
    Effect::new(move |_| {
        let request = PreviewRequest {
            id: 0,
            text: text.get(),
            params: params.get().into_iter().collect(),
            project: project.get().unwrap_or_else(|| "project".to_owned()),
            api_host: window().location().origin().unwrap_or_default(),
            now: now_iso(),
            agent: agent.get().and_then(Result::ok).unwrap_or_default(),
            hub: registered.get().and_then(Result::ok).unwrap_or_default(),
        };
        awaiting.set(true);
        gave_up.set(false);
        compiler.update_value(|running| {
            if running.is_none() {
                match Compiler::start(on_answer) {
                    Ok(started) => *running = Some(started),
                    Err(why) => {
                        compiler_problem.set(Some(why));
                        gave_up.set(true);
                    }
                }
            }
            if let Some(compiler) = running {
                compiler.compile(request);
            }
        });
    });
    on_cleanup(move || compiler.set_value(None));

    // The editor, once Monaco has loaded; kept here so that the page's effects can reach it.
    let editor = StoredValue::new_local(None::<Editor>);
    let host = NodeRef::<leptos::html::Div>::new();
    let editor_problem = RwSignal::new(None::<String>);

    // Taken now: submissions come from event handlers, outside the router's reach.
    let navigate = StoredValue::new_local(use_navigate());
    let submit = move || {
        let Some(project) = project.get_untracked() else {
            problem.set(Some(
                "create a project first, on the Projects page".to_owned(),
            ));
            return;
        };
        let given = params.get_untracked();
        let tag_list: Vec<String> = tags
            .get_untracked()
            .split(',')
            .map(|tag| tag.trim().to_owned())
            .filter(|tag| !tag.is_empty())
            .collect();
        let body = OperationBody {
            content: Some(typed.get_untracked()),
            params: (!given.is_empty()).then_some(given),
            name: Some(name.get_untracked().trim().to_owned()).filter(|name| !name.is_empty()),
            description: Some(description.get_untracked().trim().to_owned())
                .filter(|text| !text.is_empty()),
            tags: (!tag_list.is_empty()).then_some(tag_list),
            ..OperationBody::default()
        };
        busy.set(true);
        problem.set(None);
        let copied = original.with_untracked(|run| run.as_ref().map(|run| run.uuid.clone()));
        spawn_local(async move {
            let submitted = match copied {
                Some(uuid) => api::copy_run(&project, &uuid, &body).await,
                None => api::submit_run(&project, &body).await,
            };
            match submitted {
                Ok(run) => navigate.with_value(|navigate| {
                    navigate(
                        &format!("/projects/{project}/runs/{}", run.uuid),
                        Default::default(),
                    );
                }),
                Err(ApiError::Status {
                    message,
                    diagnostics,
                    ..
                }) => {
                    problem.set(Some(format!("the server refused the run: {message}")));
                    server_problems.set(diagnostics);
                }
                Err(error) => problem.set(Some(error.to_string())),
            }
            busy.set(false);
        });
    };
    let save = move || download("polyaxonfile.yaml", &typed.get_untracked());

    // Monaco loads when the page mounts (and only here).
    Effect::new(move |_| {
        let Some(element) = host.get() else {
            return;
        };
        let element: web_sys::HtmlElement = element.unchecked_into();
        let initial = typed.get_untracked();
        spawn_local(async move {
            let on_change = move |value: String| {
                typed.set(value.clone());
                server_problems.set(Vec::new());
                if let Some(store) = storage() {
                    let _ = store.set_item(SAVED_TEXT, &value);
                }
                set_timeout(
                    move || {
                        if typed.get_untracked() == value {
                            text.set(value);
                        }
                    },
                    DEBOUNCE,
                );
            };
            match Editor::create(&element, &initial, on_change, submit, save).await {
                Ok(created) => {
                    // The text may have changed while Monaco loaded (a copied run arrived).
                    created.set_text(&typed.get_untracked());
                    editor.set_value(Some(created));
                    // Markers of what was compiled before the editor was there.
                    let markers = markers_of(&compiled.get_untracked().diagnostics, &[]);
                    editor.with_value(|editor| {
                        if let Some(editor) = editor {
                            editor.set_markers(&markers);
                        }
                    });
                }
                Err(why) => editor_problem.set(Some(why)),
            }
        });
    });
    on_cleanup(move || editor.set_value(None));

    Effect::new(move |_| {
        let (Some(uuid), Some(project)) = (copy_query.get(), project.get()) else {
            return;
        };
        if original.with_untracked(|run| run.as_ref().is_some_and(|run| run.uuid == uuid)) {
            return;
        }
        spawn_local(async move {
            match api::run(&project, &uuid).await {
                Ok(run) => {
                    let Some(content) = run.raw_content.clone() else {
                        problem.set(Some(format!(
                            "run {uuid} has no Polyaxonfile to copy: its client ran it"
                        )));
                        return;
                    };
                    // Its params are written into the content already.
                    params.set(BTreeMap::new());
                    name.set(run.name.clone().unwrap_or_default());
                    tags.set(run.tags.join(", "));
                    description.set(run.description.clone().unwrap_or_default());
                    editor.with_value(|editor| {
                        if let Some(editor) = editor {
                            editor.set_text(&content);
                        }
                    });
                    typed.set(content.clone());
                    text.set(content);
                    original.set(Some(run));
                }
                Err(error) => problem.set(Some(format!("cannot copy run {uuid}: {error}"))),
            }
        });
    });

    Effect::new(move |_| {
        let (Some(reference), Some(true)) = (hub_query.get(), inline_query.get()) else {
            return;
        };
        spawn_local(async move {
            match hub_text(&reference).await {
                Ok(content) => {
                    editor.with_value(|editor| {
                        if let Some(editor) = editor {
                            editor.set_text(&content);
                        }
                    });
                    typed.set(content.clone());
                    text.set(content);
                }
                Err(why) => problem.set(Some(format!("cannot open {reference}: {why}"))),
            }
        });
    });

    // Every compile's problems, and the server's, underlined in the editor.
    Effect::new(move |_| {
        let markers = compiled.with(|preview| {
            server_problems.with(|server| markers_of(&preview.diagnostics, server))
        });
        editor.with_value(|editor| {
            if let Some(editor) = editor {
                editor.set_markers(&markers);
            }
        });
    });

    // Ctrl/Cmd+Enter and Ctrl/Cmd+S also work when the focus is outside the editor.
    let keys = window_event_listener(leptos::ev::keydown, move |event| {
        if !(event.ctrl_key() || event.meta_key()) {
            return;
        }
        match event.key().as_str() {
            "Enter" => {
                event.prevent_default();
                submit();
            }
            "s" => {
                event.prevent_default();
                save();
            }
            _ => {}
        }
    });
    on_cleanup(move || keys.remove());

    let load_example = move |event: leptos::ev::Event| {
        let index: usize = event_target_value(&event).parse().unwrap_or(usize::MAX);
        if let Some(example) = EXAMPLES.get(index) {
            params.set(BTreeMap::new());
            if let Some(store) = storage() {
                let _ = store.remove_item(SAVED_PARAMS);
            }
            editor.with_value(|editor| {
                if let Some(editor) = editor {
                    editor.set_text(example.text);
                }
            });
            typed.set(example.text.to_owned());
            text.set(example.text.to_owned());
        }
    };
    let set_param = move |name: String, value: String| {
        params.update(|params| {
            if value.trim().is_empty() {
                params.remove(&name);
            } else {
                params.insert(name, value);
            }
        });
        if let Some(store) = storage() {
            let _ = store.set_item(
                SAVED_PARAMS,
                &serde_json::to_string(&params.get_untracked()).unwrap_or_default(),
            );
        }
    };
    let jump = move |line: u32, column: u32| {
        editor.with_value(|editor| {
            if let Some(editor) = editor {
                editor.reveal(line, column);
            }
        });
    };

    view! {
        <header class="page-header new-run-header">
            <div>
                <h1>"New run"</h1>
                <p>"Write a Polyaxonfile: it is checked and compiled as you type, by the compiler the server runs."</p>
            </div>
            <div class="actions">
                <label class="inline">
                    "Start from"
                    <select aria-label="Examples" on:change=load_example>
                        <option value="" selected>"an example…"</option>
                        {EXAMPLES
                            .iter()
                            .enumerate()
                            .map(|(index, example)| {
                                view! { <option value=index.to_string()>{example.title}</option> }
                            })
                            .collect_view()}
                    </select>
                </label>
                <button type="button" class="secondary" on:click=move |_| save() title="Ctrl+S">
                    "Download"
                </button>
                <button
                    type="button"
                    on:click=move |_| submit()
                    disabled=move || busy.get() || project.get().is_none()
                    title="Ctrl+Enter"
                >
                    "Run"
                </button>
            </div>
        </header>
        <section class="panel run-settings" aria-label="Run settings">
            <div class="fields">
                <label>
                    "Project"
                    <select
                        aria-label="Project"
                        on:change=move |event| set_project_query.set(Some(event_target_value(&event)))
                    >
                        {move || {
                            let chosen = project.get().unwrap_or_default();
                            projects
                                .get()
                                .and_then(|list| list.ok())
                                .map(|list| {
                                    list.results
                                        .into_iter()
                                        .map(|p| {
                                            let selected = p.name == chosen;
                                            let label = p.name.clone();
                                            view! { <option value=p.name selected=selected>{label}</option> }
                                        })
                                        .collect_view()
                                })
                        }}
                    </select>
                </label>
                <label>"Name" <input name="run-name" placeholder="the operation's" bind:value=name /></label>
                <label>"Tags" <input name="tags" placeholder="comma, separated" bind:value=tags /></label>
                <label class="wide">"Description" <input name="description" bind:value=description /></label>
            </div>
            {move || problem.get().map(|text| view! { <p class="problem" role="alert">{text}</p> })}
        </section>
        <div class="new-run">
            <section class="panel editor-panel" aria-label="Polyaxonfile">
                <div class="editor-host" node_ref=host data-testid="editor"></div>
                {move || editor_problem.get().or_else(|| compiler_problem.get()).map(|text| view! { <p class="problem" role="alert">{text}</p> })}
                <Problems compiled=compiled server=server_problems verdict=verdict jump=jump />
                <Changes original=original typed=typed />
            </section>
            <div class="side">
                <InputsForm compiled=compiled params=params verdict=verdict set_param=set_param />
                <section
                    class="panel preview"
                    class:stale=move || verdict.get() != Verdict::Current
                    aria-busy=move || (verdict.get() == Verdict::Checking).to_string()
                    aria-label="Preview"
                >
                    <div class="tabs" role="tablist">
                        {tab_buttons(Tab::ALL, Tab::label, move || tab.get(), move |choice| tab.set(choice))}
                    </div>
                    {move || compiled.with(|preview| render_tab(tab.get(), preview))}
                </section>
            </div>
        </div>
    }
}

/// The Polyaxonfile of the hub component's version `reference` names, from the server's hub.
async fn hub_text(reference: &str) -> Result<String, String> {
    let (owner, name, tag) =
        shared::hub::parse_reference(reference).map_err(|error| error.message())?;
    let component = api::hub_component(&owner, &name)
        .await
        .map_err(|error| error.to_string())?;
    let tag = tag.as_deref().unwrap_or(shared::hub::DEFAULT_TAG);
    component
        .version(tag)
        .map(|version| version.content.clone())
        .ok_or_else(|| format!("it has no version `{tag}`"))
}

/// What changed from the run being copied, line by line.
#[component]
fn Changes(original: RwSignal<Option<Run>>, typed: RwSignal<String>) -> impl IntoView {
    move || {
        original.with(|run| {
            let run = run.as_ref()?;
            let before = run.raw_content.as_deref().unwrap_or_default();
            let name = run.name.clone().unwrap_or_else(|| run.uuid.clone());
            let rows = typed.with(|after| {
                let changes = diff::lines(before, after);
                if changes
                    .iter()
                    .all(|line| matches!(line, diff::Line::Same(_)))
                {
                    return view! { <p class="muted">"No changes yet."</p> }.into_any();
                }
                changes
                    .into_iter()
                    .filter_map(|line| match line {
                        diff::Line::Same(_) => None,
                        diff::Line::Removed(text) => Some(("removed", "-", text.to_owned())),
                        diff::Line::Added(text) => Some(("added", "+", text.to_owned())),
                    })
                    .map(|(class, sign, text)| {
                        view! { <div class=class><span class="sign">{sign}</span>{text}</div> }
                    })
                    .collect_view()
                    .into_any()
            });
            Some(view! {
                <div class="changes" aria-label="Changes">
                    <h3>{format!("Changes from {name}")}</h3>
                    <pre class="diff">{rows}</pre>
                </div>
            })
        })
    }
}

/// The editor's underlines: the problems of its own text, not those inside a hub component it
/// names (listed with the component's name instead).
fn markers_of(compiled: &[Diagnostic], server: &[Diagnostic]) -> Vec<Marker> {
    compiled
        .iter()
        .chain(server)
        .filter(|diagnostic| diagnostic.source.is_none())
        .map(Marker::of)
        .collect()
}

/// Every problem, each a button that moves the editor to it.
#[component]
fn Problems(
    compiled: RwSignal<Preview>,
    server: RwSignal<Vec<Diagnostic>>,
    verdict: Memo<Verdict>,
    jump: impl Fn(u32, u32) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <div
            class="problems"
            class:stale=move || verdict.get() != Verdict::Current
            aria-busy=move || (verdict.get() == Verdict::Checking).to_string()
            aria-label="Problems"
            role="list"
        >
            {move || {
                let state = verdict.get();
                let all: Vec<Diagnostic> = compiled.with(|preview| {
                    server.with(|server| preview.diagnostics.iter().chain(server).cloned().collect())
                });
                // An older text's problems stay listed, dimmed, while the new one is checked;
                // the verdict itself is only ever the text's own.
                let status = match state {
                    Verdict::Checking => Some(view! { <p class="checking" role="status">"Checking…"</p> }.into_any()),
                    Verdict::GaveUp => Some(view! { <p class="problem" role="status">"Not checked: the compiler gave up on this text."</p> }.into_any()),
                    Verdict::Current if all.is_empty() => Some(view! { <p class="ok" role="status">"No problems: the file is valid."</p> }.into_any()),
                    Verdict::Current => None,
                };
                let rows = all.into_iter()
                    .map(|diagnostic| {
                        let (line, column) = (diagnostic.line, diagnostic.column);
                        let class = if diagnostic.is_error() { "problem-row error" } else { "problem-row warning" };
                        // A problem inside a hub component is at a line of that component's text.
                        let source = diagnostic.source.clone();
                        let place = match &source {
                            Some(name) => format!("{name} {line}:{column}"),
                            None => format!("{line}:{column}"),
                        };
                        let in_text = source.is_none();
                        view! {
                            <button type="button" role="listitem" class=class on:click=move |_| if in_text { jump(line, column) }>
                                <span class="where">{place}</span>
                                <span class="what">{diagnostic.message.clone()}</span>
                                {diagnostic.hints.iter().map(|hint| view! { <span class="hint">{hint.clone()}</span> }).collect_view()}
                            </button>
                        }
                    })
                    .collect_view();
                view! { {status} {rows} }.into_any()
            }}
        </div>
    }
}

/// A field per input of the component, typed; values go to the compile as `-P` params.
#[component]
fn InputsForm(
    compiled: RwSignal<Preview>,
    params: RwSignal<BTreeMap<String, String>>,
    verdict: Memo<Verdict>,
    set_param: impl Fn(String, String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <section
            class="panel inputs-form"
            class:stale=move || verdict.get() != Verdict::Current
            aria-busy=move || (verdict.get() == Verdict::Checking).to_string()
            aria-label="Inputs"
        >
            <h2>"Inputs"</h2>
            {move || compiled.with(|preview| preview.template.clone()).map(|text| view! { <p class="muted">{text}</p> })}
            {move || {
                let (inputs, diagnostics) = compiled.with(|preview| (preview.inputs.clone(), preview.diagnostics.clone()));
                if inputs.is_empty() {
                    return view! { <p class="muted">"The component declares no inputs."</p> }.into_any();
                }
                inputs
                    .into_iter()
                    .map(|input| {
                        let error = field_error(&diagnostics, &input.name, input.index);
                        let value = params.with_untracked(|params| params.get(&input.name).cloned());
                        input_field(input, value, error, set_param)
                    })
                    .collect_view()
                    .into_any()
            }}
        </section>
    }
}

/// The compiler's complaint about one input's param, if any.
fn field_error(diagnostics: &[Diagnostic], name: &str, index: usize) -> Option<String> {
    diagnostics
        .iter()
        .find(|diagnostic| {
            diagnostic.path == format!("-P {name}") || diagnostic.path == format!("inputs[{index}]")
        })
        .map(|diagnostic| diagnostic.message.clone())
}

fn input_field(
    input: Input,
    value: Option<String>,
    error: Option<String>,
    set_param: impl Fn(String, String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let name = input.name.clone();
    let default_text = input.default.as_ref().map(display_value);
    let placeholder = default_text.clone().unwrap_or_default();
    let current = value.clone().unwrap_or_default();
    let label_note = match (&default_text, input.optional) {
        (Some(default), _) => format!("{} · default {default}", input.kind),
        (None, true) => format!("{} · optional", input.kind),
        (None, false) => format!("{} · required", input.kind),
    };
    let on_input = {
        let name = name.clone();
        move |event: leptos::ev::Event| set_param(name.clone(), event_target_value(&event))
    };
    let widget = if !input.options.is_empty() {
        let options = input.options.iter().map(display_value).collect::<Vec<_>>();
        view! {
            <select name=name.clone() on:change=on_input>
                <option value="" selected=current.is_empty()>{format!("(default{})", default_text.map(|d| format!(": {d}")).unwrap_or_default())}</option>
                {options
                    .into_iter()
                    .map(|option| {
                        let selected = option == current;
                        view! { <option value=option.clone() selected=selected>{option.clone()}</option> }
                    })
                    .collect_view()}
            </select>
        }
        .into_any()
    } else {
        match input.kind.as_str() {
            "int" | "float" => view! {
                <input
                    type="number"
                    name=name.clone()
                    step=if input.kind == "int" { "1" } else { "any" }
                    min=input.min.map(|min| min.to_string())
                    max=input.max.map(|max| max.to_string())
                    placeholder=placeholder
                    value=current
                    on:input=on_input
                />
            }
            .into_any(),
            "bool" => {
                let checked = value
                    .as_deref()
                    .map(|value| value == "true")
                    .or_else(|| input.default.as_ref().and_then(Json::as_bool))
                    .unwrap_or(false);
                let name_for_change = name.clone();
                view! {
                    <input
                        type="checkbox"
                        name=name.clone()
                        checked=checked
                        on:change=move |event| {
                            let checked = event_target_checked(&event);
                            set_param(name_for_change.clone(), checked.to_string());
                        }
                    />
                }
                .into_any()
            }
            kind if kind == "dict" || kind == "list" || kind.ends_with("[]") => view! {
                <textarea name=name.clone() placeholder=placeholder rows="3" on:input=on_input>{current}</textarea>
            }
            .into_any(),
            _ => view! {
                <input type="text" name=name.clone() placeholder=placeholder value=current on:input=on_input />
            }
            .into_any(),
        }
    };
    let invalid = error.is_some();
    view! {
        <label class="input-field" class:invalid=invalid>
            <span class="input-name">{name.clone()} <small>{label_note}</small></span>
            {widget}
            {input.description.map(|text| view! { <small class="muted">{text}</small> })}
            {error.map(|text| view! { <small class="field-problem" role="alert">{text}</small> })}
        </label>
    }
}

fn display_value(value: &Json) -> String {
    match value {
        Json::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn render_tab(tab: Tab, preview: &Preview) -> AnyView {
    let note = preview.note.clone();
    match tab {
        Tab::Structure => view! { <Structure preview=preview.clone() /> }.into_any(),
        Tab::Operation => yaml_view(
            preview.compiled.as_ref().map(shared::yaml::emit),
            "operation.yaml",
            None,
        ),
        Tab::Resource => yaml_view(
            preview.resource.as_ref().map(shared::yaml::emit),
            "resource.yaml",
            note,
        ),
        Tab::Kubernetes => yaml_view(
            preview.native.as_deref().map(documents),
            "kubernetes.yaml",
            note,
        ),
    }
}

/// The operation as Polyaxon's docs draw it: Operation → workload → pod → containers; a DAG's
/// graph; a matrix's count.
#[component]
fn Structure(preview: Preview) -> impl IntoView {
    match preview.shape.clone() {
        Shape::Unknown => view! { <p class="muted">"Nothing to show until the file is valid."</p> }.into_any(),
        Shape::Dag(nodes) => view! { <DagGraph nodes=nodes /> }.into_any(),
        Shape::Matrix { kind, runs } => {
            let count = runs.map_or_else(
                || format!("This {kind} search decides how many runs to make as it goes."),
                |runs| format!("This {kind} search makes {runs} run{}.", if runs == 1 { "" } else { "s" }),
            );
            view! { <p class="matrix-count" role="status">{count}</p> }.into_any()
        }
        Shape::Schedule(kind) => view! { <p class="muted">{format!("A {kind} schedule: it makes a run each time it fires.")}</p> }.into_any(),
        Shape::Single(kind) => {
            let Some(native) = preview.native else {
                return view! { <p class="muted">{preview.note.unwrap_or_else(|| format!("A {kind} run."))}</p> }.into_any();
            };
            view! {
                <ul class="tree" aria-label="Structure">
                    <li>
                        <span class="node">{format!("Operation ({kind})")}</span>
                        <ul>{native.iter().map(object_node).collect_view()}</ul>
                    </li>
                </ul>
            }
            .into_any()
        }
    }
}

/// A native object and, for workloads, their pods' containers.
fn object_node(object: &Json) -> impl IntoView {
    let kind = object
        .get("kind")
        .and_then(Json::as_str)
        .unwrap_or("object")
        .to_owned();
    let name = object
        .pointer("/metadata/name")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned();
    // Pod templates sit at `spec.template` or in each replica spec.
    let mut pods: Vec<(String, Json)> = Vec::new();
    if let Some(template) = object.pointer("/spec/template/spec") {
        pods.push(("Pod".to_owned(), template.clone()));
    }
    for (key, replicas) in object
        .get("spec")
        .and_then(Json::as_object)
        .into_iter()
        .flatten()
    {
        if let Some(specs) = replicas
            .as_object()
            .filter(|_| key.ends_with("ReplicaSpecs"))
        {
            for (role, spec) in specs {
                if let Some(template) = spec.pointer("/template/spec") {
                    let count = spec.get("replicas").and_then(Json::as_u64).unwrap_or(1);
                    pods.push((format!("Pod: {role} × {count}"), template.clone()));
                }
            }
        }
    }
    view! {
        <li>
            <span class="node">{kind}" "<small>{name}</small></span>
            <ul>
                {pods
                    .into_iter()
                    .map(|(label, spec)| {
                        let list = |key: &str, role: &'static str| {
                            spec.get(key)
                                .and_then(Json::as_array)
                                .into_iter()
                                .flatten()
                                .map(|container| {
                                    let name = container.get("name").and_then(Json::as_str).unwrap_or_default().to_owned();
                                    let image = container.get("image").and_then(Json::as_str).unwrap_or_default().to_owned();
                                    let role = if role == "container" && name != shared::convert::MAIN_CONTAINER && name.starts_with("polyaxon-") { "sidecar" } else { role };
                                    view! { <li><span class=format!("leaf {role}")>{role}" "<code>{name}</code>" "<small>{image}</small></span></li> }
                                })
                                .collect_view()
                        };
                        view! {
                            <li>
                                <span class="node">{label}</span>
                                <ul>{list("initContainers", "init")}{list("containers", "container")}</ul>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </li>
    }
}
