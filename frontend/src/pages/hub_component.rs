//! A hub component's page: what it is, its README, and for the version chosen (`?tag=`) its
//! inputs and Polyaxonfile; Launch opens the editor on an operation that references it, Open in
//! editor on its own text.
//!
//! The inputs come from the compiler worker (the editor's), which reads them as the editor's
//! form does: the compiler stays out of the app's own WebAssembly. The README's Markdown is
//! turned into elements here, a small part of it (headings, paragraphs, lists, tables, code,
//! emphasis, links); whatever else it holds shows as text, never as HTML.

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::{query_signal_with_options, use_params_map};
use serde_json::Value as Json;
use shared::hub::{DEFAULT_TAG, HubComponent, HubVersion};

use crate::api::{self, ApiError};
use crate::compiler::{Answer, Compiler};
use crate::components::tabs::tab_buttons;
use crate::components::yaml_view::yaml_view;
use crate::pages::hub::{icon, kind_badge, reference_name};
use frontend::PreviewRequest;
use frontend::preview::Input;

/// The component's page.
#[component]
pub fn HubComponentPage() -> impl IntoView {
    let params = use_params_map();
    let place = Memo::new(move |_| {
        params.with(|params| {
            (
                params.get("owner").unwrap_or_default(),
                params.get("name").unwrap_or_default(),
            )
        })
    });
    let component = LocalResource::new(move || {
        let (owner, name) = place.get();
        async move { api::hub_component(&owner, &name).await }
    });
    view! {
        {move || match component.get() {
            None => view! { <p class="muted">"Loading the component…"</p> }.into_any(),
            Some(Err(ApiError::Status { code: 404, .. })) => {
                let (owner, name) = place.get_untracked();
                view! {
                    <header class="page-header">
                        <h1>"No such component"</h1>
                        <p>
                            "The hub has no component " <code>{format!("{owner}/{name}")}</code>
                            ". " <A href="/hub">"See every component"</A> "."
                        </p>
                    </header>
                }
                    .into_any()
            }
            Some(Err(error)) => {
                view! { <p class="problem" role="alert">{error.to_string()}</p> }.into_any()
            }
            Some(Ok(component)) => view! { <ComponentView component=component /> }.into_any(),
        }}
    }
}

/// The tabs under the inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Readme,
    Polyaxonfile,
}

impl Tab {
    const ALL: [Tab; 2] = [Tab::Readme, Tab::Polyaxonfile];

    fn title(self) -> &'static str {
        match self {
            Tab::Readme => "Readme",
            Tab::Polyaxonfile => "Polyaxonfile",
        }
    }
}

#[component]
fn ComponentView(component: HubComponent) -> impl IntoView {
    // Another version is the same page in another state: it replaces the address.
    let in_place = NavigateOptions {
        replace: true,
        scroll: false,
        ..NavigateOptions::default()
    };
    let (tag_query, set_tag_query) = query_signal_with_options::<String>("tag", in_place);
    let component = StoredValue::new(component);
    // The version the address names (through the tag's aliases), or the one a reference
    // without a tag gets; and a word when the address names none.
    let chosen = Memo::new(move |_| {
        let asked = tag_query.get();
        component.with_value(|component| {
            let fallback = component
                .version(DEFAULT_TAG)
                .or_else(|| component.versions.first())
                .cloned();
            match asked.as_deref().map(|tag| (tag, component.version(tag))) {
                None => (fallback, None),
                Some((_, Some(version))) => (Some(version.clone()), None),
                Some((tag, None)) => {
                    let shown = fallback
                        .as_ref()
                        .map(|version| format!(": shown is `{}`", version.tag))
                        .unwrap_or_default();
                    let note = format!("{} has no version `{tag}`{shown}", component.title);
                    (fallback, Some(note))
                }
            }
        })
    });
    let version = Memo::new(move |_| chosen.with(|(version, _)| version.clone()));
    let reference = move || {
        let tag = version.with(|version| version.as_ref().map(|version| version.tag.clone()));
        let name = component.with_value(reference_name);
        match tag {
            Some(tag) => format!("{name}:{tag}"),
            None => name,
        }
    };
    let launch = move || format!("/new?hub={}", api::percent_encode(&reference()));
    let open = move || format!("{}&inline=true", launch());
    let tab = RwSignal::new(Tab::Readme);
    let inputs = version_inputs(version);
    let (title, description, kind, full_name, aliases, tags, readme, versions) = component
        .with_value(|component| {
            (
                component.title.clone(),
                component.description.clone(),
                component.kind.clone(),
                format!("{}/{}", component.owner, component.name),
                component.aliases.clone(),
                component.tags.clone(),
                component.readme.clone(),
                component.versions.clone(),
            )
        });
    let big_icon = component.with_value(|component| icon(component, "large"));

    view! {
        <header class="page-header hub-header">
            <div class="hub-title">
                {big_icon}
                <div>
                    <h1>{title.clone()}</h1>
                    <p>{inline_markdown(&description)}</p>
                    <div class="hub-facts">
                        {kind_badge(&kind)}
                        <code>{full_name}</code>
                        {(!aliases.is_empty()).then(|| view! {
                            <span class="muted">"also "{aliases.join(", ")}</span>
                        })}
                        <ul class="tags" aria-label="Tags">
                            {tags.into_iter().map(|tag| view! { <li class="tag">{tag}</li> }).collect_view()}
                        </ul>
                    </div>
                </div>
            </div>
            <div class="actions">
                <A href=open attr:class="button secondary">"Open in editor"</A>
                <A href=launch attr:class="button">"Launch"</A>
            </div>
        </header>
        <section class="panel hub-version" aria-label="Version">
            <div class="hub-version-bar">
                <label class="inline">
                    "Version"
                    <select
                        aria-label="Version"
                        on:change=move |event| set_tag_query.set(Some(event_target_value(&event)))
                    >
                        {versions
                            .into_iter()
                            .map(|each| {
                                let selected = {
                                    let tag = each.tag.clone();
                                    move || version.with(|version| version.as_ref().is_some_and(|version| version.tag == tag))
                                };
                                let label = each.tag.clone();
                                view! { <option value=each.tag selected=selected>{label}</option> }
                            })
                            .collect_view()}
                    </select>
                </label>
                <p class="muted">
                    "Reference it as " <code>{move || format!("hubRef: {}", reference())}</code>
                    ", or run " <code>{move || format!("polyaxon run --hub {}", reference())}</code>
                </p>
            </div>
            {move || chosen.with(|(_, note)| note.clone()).map(|note| view! { <p class="problem" role="alert">{inline_markdown(&note)}</p> })}
            <h2>"Inputs"</h2>
            <InputsTable inputs=inputs />
        </section>
        <section class="panel" aria-label="About">
            <div class="tabs" role="tablist">
                {tab_buttons(Tab::ALL, Tab::title, move || tab.get(), move |choice| tab.set(choice))}
            </div>
            {move || match tab.get() {
                Tab::Readme => match &readme {
                    Some(text) => view! { <div class="markdown">{markdown(text, &title)}</div> }.into_any(),
                    None => view! { <p class="muted">"This component has no README."</p> }.into_any(),
                },
                Tab::Polyaxonfile => yaml_view(
                    version.get().map(|version| version.content),
                    "polyaxonfile.yaml",
                    Some("The component has no version.".to_owned()),
                ),
            }}
        </section>
    }
}

/// The inputs of each version chosen, as the compiler worker reads them: `None` until it has
/// answered, or why it could not.
fn version_inputs(
    version: Memo<Option<HubVersion>>,
) -> RwSignal<Option<Result<Vec<Input>, String>>> {
    let inputs = RwSignal::new(None);
    let compiler = StoredValue::new_local(None::<Compiler>);
    let on_answer = move |answer| match answer {
        Answer::Preview(preview) => inputs.set(Some(Ok(preview.inputs))),
        Answer::GaveUp(why) => inputs.set(Some(Err(why))),
    };
    Effect::new(move |_| {
        let Some(text) =
            version.with(|version| version.as_ref().map(|version| version.content.clone()))
        else {
            inputs.set(Some(Ok(Vec::new())));
            return;
        };
        inputs.set(None);
        let request = PreviewRequest {
            id: 0,
            text,
            params: Vec::new(),
            project: "project".to_owned(),
            api_host: window().location().origin().unwrap_or_default(),
            now: js_sys::Date::new_0()
                .to_iso_string()
                .as_string()
                .unwrap_or_default(),
            agent: Json::Null,
            hub: Vec::new(),
        };
        compiler.update_value(|running| {
            if running.is_none() {
                match Compiler::start(on_answer) {
                    Ok(started) => *running = Some(started),
                    Err(why) => inputs.set(Some(Err(why))),
                }
            }
            if let Some(compiler) = running {
                compiler.compile(request);
            }
        });
    });
    on_cleanup(move || compiler.set_value(None));
    inputs
}

/// A row per input: its name, type, default, whether it is required, and what it is for.
#[component]
fn InputsTable(inputs: RwSignal<Option<Result<Vec<Input>, String>>>) -> impl IntoView {
    move || match inputs.get() {
        None => view! { <p class="muted" role="status">"Reading the inputs…"</p> }.into_any(),
        Some(Err(why)) => view! { <p class="problem" role="alert">{why}</p> }.into_any(),
        Some(Ok(inputs)) if inputs.is_empty() => {
            view! { <p class="muted">"This version declares no inputs."</p> }.into_any()
        }
        Some(Ok(inputs)) => view! {
            <table class="listing inputs" aria-label="Inputs">
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Type"</th>
                        <th scope="col">"Default"</th>
                        <th scope="col">"Required"</th>
                        <th scope="col">"Description"</th>
                    </tr>
                </thead>
                <tbody>{inputs.into_iter().map(input_row).collect_view()}</tbody>
            </table>
        }
        .into_any(),
    }
}

fn input_row(input: Input) -> impl IntoView {
    // An input with a default may be left out as well.
    let required = !input.optional && input.default.is_none();
    let choices = (!input.options.is_empty()).then(|| {
        let listed: Vec<String> = input.options.iter().map(shown_value).collect();
        format!("one of {}", listed.join(", "))
    });
    let bounds = match (input.min, input.max) {
        (Some(min), Some(max)) => Some(format!("from {min} to {max}")),
        (Some(min), None) => Some(format!("at least {min}")),
        (None, Some(max)) => Some(format!("at most {max}")),
        (None, None) => None,
    };
    view! {
        <tr>
            <th scope="row"><code>{input.name}</code></th>
            <td><code>{input.kind}</code></td>
            <td>{input.default.as_ref().map(|value| view! { <code>{shown_value(value)}</code> })}</td>
            <td>
                {if required {
                    view! { <span class="badge warn">"required"</span> }.into_any()
                } else {
                    view! { <span class="muted">"optional"</span> }.into_any()
                }}
            </td>
            <td>
                {input.description.as_deref().map(inline_markdown)}
                {choices.into_iter().chain(bounds).map(|rule| view! { <small class="muted rule">{rule}</small> }).collect_view()}
            </td>
        </tr>
    }
}

fn shown_value(value: &Json) -> String {
    match value {
        Json::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A block of Markdown.
#[derive(Debug, Clone, PartialEq)]
enum Block {
    Heading(usize, String),
    Paragraph(String),
    Code(String),
    List {
        ordered: bool,
        items: Vec<String>,
    },
    Table {
        head: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    Quote(String),
    Rule,
}

/// Markdown's blocks, one level deep (a list inside a list joins its parent's item).
fn blocks(text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        let trimmed = line.trim();
        index += 1;
        if trimmed.is_empty() {
            continue;
        }
        if let Some(fence) = ["```", "~~~"]
            .into_iter()
            .find(|fence| trimmed.starts_with(fence))
        {
            let mut code = Vec::new();
            while index < lines.len() && !lines[index].trim().starts_with(fence) {
                code.push(lines[index]);
                index += 1;
            }
            index += 1;
            blocks.push(Block::Code(code.join("\n")));
        } else if let Some((level, title)) = heading(trimmed) {
            blocks.push(Block::Heading(level, title.to_owned()));
        } else if ["---", "***", "___"].contains(&trimmed) {
            blocks.push(Block::Rule);
        } else if trimmed.starts_with('|')
            && lines.get(index).is_some_and(|next| is_table_rule(next))
        {
            let head = cells(trimmed);
            index += 1;
            let mut rows = Vec::new();
            while index < lines.len() && lines[index].trim().starts_with('|') {
                rows.push(cells(lines[index].trim()));
                index += 1;
            }
            blocks.push(Block::Table { head, rows });
        } else if let Some((ordered, first)) = list_item(trimmed) {
            let mut items = vec![first.to_owned()];
            while index < lines.len() {
                let next = lines[index].trim();
                if next.is_empty() {
                    // A blank line ends the list, unless the next line carries on with it.
                    let carries_on = lines.get(index + 1).is_some_and(|after| {
                        list_item(after.trim()).is_some_and(|(kind, _)| kind == ordered)
                    });
                    if !carries_on {
                        break;
                    }
                } else if let Some((_, item)) = list_item(next) {
                    items.push(item.to_owned());
                } else if starts_block(next) {
                    break;
                } else if let Some(last) = items.last_mut() {
                    last.push(' ');
                    last.push_str(next);
                }
                index += 1;
            }
            blocks.push(Block::List { ordered, items });
        } else if let Some(first) = trimmed.strip_prefix('>') {
            let mut quote = vec![first.trim().to_owned()];
            while let Some(next) = lines
                .get(index)
                .and_then(|next| next.trim().strip_prefix('>'))
            {
                quote.push(next.trim().to_owned());
                index += 1;
            }
            blocks.push(Block::Quote(quote.join(" ")));
        } else {
            let mut paragraph = vec![trimmed];
            while index < lines.len() {
                let next = lines[index].trim();
                if next.is_empty() || starts_block(next) {
                    break;
                }
                paragraph.push(next);
                index += 1;
            }
            blocks.push(Block::Paragraph(paragraph.join(" ")));
        }
    }
    blocks
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.chars().take_while(|c| *c == '#').count();
    let rest = &line[level..];
    ((1..=6).contains(&level) && (rest.is_empty() || rest.starts_with(' ')))
        .then(|| (level, rest.trim().trim_end_matches('#').trim()))
}

fn list_item(line: &str) -> Option<(bool, &str)> {
    for bullet in ["- ", "* ", "+ "] {
        if let Some(rest) = line.strip_prefix(bullet) {
            return Some((false, rest.trim()));
        }
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    let rest = line[digits..].strip_prefix(". ")?;
    (digits > 0).then(|| (true, rest.trim()))
}

fn starts_block(line: &str) -> bool {
    line.starts_with("```")
        || line.starts_with("~~~")
        || line.starts_with('>')
        || line.starts_with('|')
        || heading(line).is_some()
        || list_item(line).is_some()
}

/// The line under a table's head: `|---|:--:|`.
fn is_table_rule(line: &str) -> bool {
    let line = line.trim();
    line.starts_with('|')
        && line.contains('-')
        && line.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
}

/// A table row's cells; a `|` inside a code span or escaped (`\|`) stays in its cell.
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|');
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut in_code = false;
    let mut characters = inner.chars().peekable();
    while let Some(character) = characters.next() {
        match character {
            '\\' if characters.peek() == Some(&'|') => {
                cell.push('|');
                characters.next();
            }
            '`' => {
                in_code = !in_code;
                cell.push('`');
            }
            '|' if !in_code => cells.push(std::mem::take(&mut cell)),
            _ => cell.push(character),
        }
    }
    cells.push(cell);
    cells
        .into_iter()
        .map(|cell| cell.trim().to_owned())
        .collect()
}

/// Markdown as elements. A first heading that only repeats `title` is left out: the page
/// shows it already. Headings are a level lower than written, under the page's own.
fn markdown(text: &str, title: &str) -> impl IntoView + use<> {
    let mut blocks = blocks(text);
    if matches!(blocks.first(), Some(Block::Heading(1, heading)) if heading == title) {
        blocks.remove(0);
    }
    blocks
        .into_iter()
        .map(|block| match block {
            Block::Heading(level, text) => {
                let text = inline_markdown(&text);
                match level {
                    1 => view! { <h2>{text}</h2> }.into_any(),
                    2 => view! { <h3>{text}</h3> }.into_any(),
                    3 => view! { <h4>{text}</h4> }.into_any(),
                    4 => view! { <h5>{text}</h5> }.into_any(),
                    _ => view! { <h6>{text}</h6> }.into_any(),
                }
            }
            Block::Paragraph(text) => view! { <p>{inline_markdown(&text)}</p> }.into_any(),
            Block::Code(code) => view! { <pre class="yaml"><code>{code}</code></pre> }.into_any(),
            Block::List { ordered, items } => {
                let items = items
                    .iter()
                    .map(|item| view! { <li>{inline_markdown(item)}</li> })
                    .collect_view();
                if ordered {
                    view! { <ol>{items}</ol> }.into_any()
                } else {
                    view! { <ul>{items}</ul> }.into_any()
                }
            }
            Block::Table { head, rows } => view! {
                <table class="listing">
                    <thead>
                        <tr>{head.iter().map(|cell| view! { <th scope="col">{inline_markdown(cell)}</th> }).collect_view()}</tr>
                    </thead>
                    <tbody>
                        {rows
                            .iter()
                            .map(|row| view! { <tr>{row.iter().map(|cell| view! { <td>{inline_markdown(cell)}</td> }).collect_view()}</tr> })
                            .collect_view()}
                    </tbody>
                </table>
            }
            .into_any(),
            Block::Quote(text) => view! { <blockquote>{inline_markdown(&text)}</blockquote> }.into_any(),
            Block::Rule => view! { <hr /> }.into_any(),
        })
        .collect_view()
}

/// A piece of inline Markdown.
#[derive(Debug, Clone, PartialEq)]
enum Span {
    Text(String),
    Code(String),
    Strong(Vec<Span>),
    Emphasis(Vec<Span>),
    Link { text: Vec<Span>, href: String },
}

/// Inline Markdown's pieces: code spans, `**strong**`, `*emphasis*` and `[links](url)`.
/// Each nested piece is shorter than the one around it, and a strong or emphasised one holds
/// no marker of its own kind, so the nesting stays shallow whatever the text.
fn spans(text: &str) -> Vec<Span> {
    let mut found_spans = Vec::new();
    let mut plain = String::new();
    let mut rest = text;
    while let Some(character) = rest.chars().next() {
        let found = match character {
            '`' => rest[1..]
                .find('`')
                .map(|end| (Span::Code(rest[1..=end].to_owned()), end + 2)),
            '*' if rest.starts_with("**") => rest[2..]
                .find("**")
                .filter(|end| *end > 0)
                .map(|end| (Span::Strong(spans(&rest[2..2 + end])), end + 4)),
            '*' => rest[1..]
                .find('*')
                .filter(|end| *end > 0 && !rest[1..].starts_with(' '))
                .map(|end| (Span::Emphasis(spans(&rest[1..=end])), end + 2)),
            '[' => link(rest),
            _ => None,
        };
        match found {
            Some((span, length)) => {
                if !plain.is_empty() {
                    found_spans.push(Span::Text(std::mem::take(&mut plain)));
                }
                found_spans.push(span);
                rest = &rest[length..];
            }
            None => {
                plain.push(character);
                rest = &rest[character.len_utf8()..];
            }
        }
    }
    if !plain.is_empty() {
        found_spans.push(Span::Text(plain));
    }
    found_spans
}

/// `[text](href)` at the start of `rest`, and its length. Only web addresses and the app's own
/// paths become links; anything else (a `javascript:` one, say) stays text.
fn link(rest: &str) -> Option<(Span, usize)> {
    let close = rest.find("](")?;
    let end = close + 2 + rest[close + 2..].find(')')?;
    let href = rest[close + 2..end].trim();
    let safe = href.starts_with("https://")
        || href.starts_with("http://")
        || href.starts_with('#')
        || (href.starts_with('/') && !href.starts_with("//"));
    safe.then(|| {
        (
            Span::Link {
                text: spans(&rest[1..close]),
                href: href.to_owned(),
            },
            end + 1,
        )
    })
}

fn span_views(spans: Vec<Span>) -> AnyView {
    spans
        .into_iter()
        .map(|span| match span {
            Span::Text(text) => text.into_any(),
            Span::Code(code) => view! { <code>{code}</code> }.into_any(),
            Span::Strong(inner) => view! { <strong>{span_views(inner)}</strong> }.into_any(),
            Span::Emphasis(inner) => view! { <em>{span_views(inner)}</em> }.into_any(),
            Span::Link { text, href } => {
                let outside = href.starts_with("http");
                view! {
                    <a
                        href=href
                        target=outside.then_some("_blank")
                        rel=outside.then_some("noopener noreferrer")
                    >
                        {span_views(text)}
                    </a>
                }
                .into_any()
            }
        })
        .collect_view()
        .into_any()
}

/// One line of Markdown (a description, a table cell) as elements.
pub fn inline_markdown(text: &str) -> AnyView {
    span_views(spans(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_readme_splits_into_headings_paragraphs_lists_tables_and_code() {
        let text = "# Title\n\nOne\nparagraph.\n\n- `a`: first\n  carried on\n- second\n\n\
                    | name | what |\n|---|---|\n| `a\\|b` | **yes** |\n\n```bash\nrun it\n```\n";
        assert_eq!(
            blocks(text),
            vec![
                Block::Heading(1, "Title".to_owned()),
                Block::Paragraph("One paragraph.".to_owned()),
                Block::List {
                    ordered: false,
                    items: vec!["`a`: first carried on".to_owned(), "second".to_owned()],
                },
                Block::Table {
                    head: vec!["name".to_owned(), "what".to_owned()],
                    rows: vec![vec!["`a|b`".to_owned(), "**yes**".to_owned()]],
                },
                Block::Code("run it".to_owned()),
            ]
        );
    }

    #[test]
    fn inline_markdown_keeps_unsafe_links_and_unclosed_markers_as_text() {
        assert_eq!(
            spans("see [docs](https://x.dev) or [this](javascript:alert(1)) *now* 2 * 3"),
            vec![
                Span::Text("see ".to_owned()),
                Span::Link {
                    text: vec![Span::Text("docs".to_owned())],
                    href: "https://x.dev".to_owned(),
                },
                Span::Text(" or [this](javascript:alert(1)) ".to_owned()),
                Span::Emphasis(vec![Span::Text("now".to_owned())]),
                Span::Text(" 2 * 3".to_owned()),
            ]
        );
        assert_eq!(
            spans("**`x`** <script>"),
            vec![
                Span::Strong(vec![Span::Code("x".to_owned())]),
                Span::Text(" <script>".to_owned()),
            ]
        );
    }
}
