//! The hub: every component people can run as it is or name with `hubRef`, as cards to search
//! and filter by tag. The view lives in the URL (`?q=tensor&tag=notebook,ide`), so it can be
//! shared or reloaded.

use std::collections::BTreeSet;

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::query_signal_with_options;
use shared::hub::{DEFAULT_OWNER, HubComponent};

use crate::api;
use crate::components::page_header::PageHeader;
use crate::pages::hub_component::inline_markdown;

/// The hub's page.
#[component]
pub fn Hub() -> impl IntoView {
    let components = LocalResource::new(api::hub_components);
    // Typing and toggling rewrite the URL in place: going back leaves the hub rather than
    // undoing one letter at a time.
    let in_place = NavigateOptions {
        replace: true,
        scroll: false,
        ..NavigateOptions::default()
    };
    let (query, set_query) = query_signal_with_options::<String>("q", in_place.clone());
    let (tag_query, set_tag_query) = query_signal_with_options::<String>("tag", in_place);
    let typed = RwSignal::new(query.get_untracked().unwrap_or_default());
    // The URL changes under the search box on back and forward; what was typed here is in it
    // already.
    Effect::new(move |_| {
        let from_url = query.get().unwrap_or_default();
        if from_url != typed.get_untracked() {
            typed.set(from_url);
        }
    });
    let chosen = Memo::new(move |_| chosen_tags(tag_query.get().as_deref()));
    let toggle = move |tag: String| {
        let mut tags = chosen.get_untracked();
        if !tags.remove(&tag) {
            tags.insert(tag);
        }
        let joined = tags.into_iter().collect::<Vec<_>>().join(",");
        set_tag_query.set(Some(joined).filter(|joined| !joined.is_empty()));
    };
    let clear = move || {
        typed.set(String::new());
        set_query.set(None);
        set_tag_query.set(None);
    };

    view! {
        <PageHeader
            title="Hub"
            summary="Ready-made components: run one as it is, or name it with hubRef in your own Polyaxonfiles."
        />
        {move || match components.get() {
            None => view! { <p class="muted">"Loading the hub…"</p> }.into_any(),
            Some(Err(error)) => {
                view! { <p class="problem" role="alert">{error.to_string()}</p> }.into_any()
            }
            Some(Ok(list)) => {
                let all = StoredValue::new(list.results);
                let tags = all.with_value(|all| every_tag(all));
                view! {
                    <section class="panel hub-filters" aria-label="Filters">
                        <input
                            type="search"
                            name="q"
                            aria-label="Search components"
                            placeholder="Search by name, description, tag…"
                            autocomplete="off"
                            prop:value=move || typed.get()
                            on:input=move |event| {
                                let text = event_target_value(&event);
                                typed.set(text.clone());
                                set_query.set(Some(text).filter(|text| !text.trim().is_empty()));
                            }
                        />
                        <div class="chips" role="group" aria-label="Tags">
                            {tags
                                .into_iter()
                                .map(|tag| {
                                    let pressed = {
                                        let tag = tag.clone();
                                        move || chosen.with(|chosen| chosen.contains(&tag)).to_string()
                                    };
                                    let clicked = tag.clone();
                                    view! {
                                        <button
                                            type="button"
                                            class="chip"
                                            aria-pressed=pressed
                                            on:click=move |_| toggle(clicked.clone())
                                        >
                                            {tag}
                                        </button>
                                    }
                                })
                                .collect_view()}
                        </div>
                    </section>
                    {move || {
                        let words = typed.get();
                        let shown: Vec<HubComponent> = chosen.with(|tags| {
                            all.with_value(|all| {
                                all.iter()
                                    .filter(|component| matches(component, &words, tags))
                                    .cloned()
                                    .collect()
                            })
                        });
                        let total = all.with_value(Vec::len);
                        let count = if shown.len() == total {
                            format!("{total} components")
                        } else {
                            format!("{} of {total} components", shown.len())
                        };
                        if shown.is_empty() {
                            return view! {
                                <div class="panel hub-empty" role="status">
                                    <p>"No component matches this search."</p>
                                    <button type="button" class="secondary" on:click=move |_| clear()>
                                        "Clear the search and tags"
                                    </button>
                                </div>
                            }
                                .into_any();
                        }
                        view! {
                            <p class="muted count" role="status">{count}</p>
                            <ul class="hub-grid" aria-label="Components">
                                {shown.into_iter().map(card).collect_view()}
                            </ul>
                        }
                            .into_any()
                    }}
                }
                    .into_any()
            }
        }}
    }
}

/// The tags a `tag` query value names (`notebook,ide`).
fn chosen_tags(value: Option<&str>) -> BTreeSet<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|tag| !tag.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Every tag of the catalog, in alphabetical order.
fn every_tag(components: &[HubComponent]) -> Vec<String> {
    components
        .iter()
        .flat_map(|component| component.tags.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Whether a component has every chosen tag and every word of the search, each somewhere in
/// its name, title, description, tags or aliases, whatever the case.
fn matches(component: &HubComponent, search: &str, tags: &BTreeSet<String>) -> bool {
    if !tags.iter().all(|tag| component.tags.contains(tag)) {
        return false;
    }
    let haystack = [
        component.name.as_str(),
        component.title.as_str(),
        component.description.as_str(),
    ]
    .into_iter()
    .chain(component.tags.iter().map(String::as_str))
    .chain(component.aliases.iter().map(String::as_str))
    .collect::<Vec<_>>()
    .join("\n")
    .to_lowercase();
    search
        .to_lowercase()
        .split_whitespace()
        .all(|word| haystack.contains(word))
}

/// Where a component's page is.
pub fn component_href(component: &HubComponent) -> String {
    format!(
        "/hub/{}/{}",
        api::percent_encode(&component.owner),
        api::percent_encode(&component.name)
    )
}

/// How references name a component: without the owner when it is the bundled hub's.
pub fn reference_name(component: &HubComponent) -> String {
    if component.owner == DEFAULT_OWNER {
        component.name.clone()
    } else {
        format!("{}/{}", component.owner, component.name)
    }
}

/// A component's icon. Its SVG is shown as an image, never put in the page, so a
/// user-registered icon cannot run scripts or load anything; without one, its initial.
pub fn icon(component: &HubComponent, class: &'static str) -> AnyView {
    match &component.icon {
        Some(svg) => {
            let source = format!(
                "data:image/svg+xml;charset=utf-8,{}",
                api::percent_encode(svg)
            );
            view! { <img class=format!("hub-icon {class}") src=source alt="" /> }.into_any()
        }
        None => {
            let initial: String = component.title.chars().take(1).collect();
            view! { <span class=format!("hub-icon initial {class}") aria-hidden="true">{initial}</span> }
                .into_any()
        }
    }
}

/// A component's kind as a label.
pub fn kind_badge(kind: &str) -> AnyView {
    view! { <span class=format!("badge kind {kind}")>{kind.to_owned()}</span> }.into_any()
}

fn card(component: HubComponent) -> impl IntoView {
    let href = component_href(&component);
    let name = reference_name(&component);
    view! {
        <li class="hub-card">
            <div class="hub-card-head">
                {icon(&component, "small")}
                <div class="hub-card-title">
                    <h2>
                        // The link covers the whole card (CSS), so the card is one target.
                        <A href=href>{component.title.clone()}</A>
                    </h2>
                    <code>{name}</code>
                </div>
                {kind_badge(&component.kind)}
            </div>
            <p class="hub-description">{inline_markdown(&component.description)}</p>
            <ul class="tags" aria-label="Tags">
                {component.tags.iter().map(|tag| view! { <li class="tag">{tag.clone()}</li> }).collect_view()}
            </ul>
        </li>
    }
}
