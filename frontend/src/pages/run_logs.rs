//! The run page's Logs tab: the lines as they come, from one source or all, searched, with or
//! without their times, following the end unless the reader scrolls up. Only the lines in view
//! are in the page, so a million of them scroll as smoothly as ten.

use leptos::prelude::*;
use shared::api::Status;

use crate::components::status_badge::StatusBadge;
use frontend::log_view::{self, LogBook, Shown};
use frontend::rows::FixedRows;

/// Every line is this tall (CSS keeps it so). A million lines stay under the tallest element
/// browsers lay out (about 17.9 million pixels in Firefox).
const LINES: FixedRows = FixedRows(17.0);

/// How long typing pauses before a search starts.
const SEARCH_PAUSE: std::time::Duration = std::time::Duration::from_millis(150);

/// How far from the end a reader may be and still follow it, in pixels.
const FOLLOW_SLACK: i32 = 24;

/// The Logs tab.
#[component]
pub fn LogsView(
    book: RwSignal<LogBook>,
    ended: RwSignal<Option<Status>>,
    problem: RwSignal<Option<String>>,
) -> impl IntoView {
    let source = RwSignal::new(String::new());
    let typed = RwSignal::new(String::new());
    let times = RwSignal::new(false);
    let follow = RwSignal::new(true);
    let current = RwSignal::new(0_usize);
    let sources = Memo::new(move |_| book.with(|book| book.sources().to_vec()));
    // A search reads every line: it starts when the typing pauses, not on every key.
    let settled = RwSignal::new(String::new());
    Effect::new(move |_| {
        let text = typed.get();
        set_timeout(
            // The tab may be gone by then.
            move || {
                if typed.try_get_untracked().as_ref() == Some(&text) {
                    settled.try_set(text);
                }
            },
            SEARCH_PAUSE,
        );
    });
    let search = Memo::new(move |_| {
        settled.with(|text| (!text.is_empty()).then(|| log_view::Search::new(text)))
    });
    Effect::new(move |_| {
        let chosen = source.get();
        book.update(|book| book.choose((!chosen.is_empty()).then_some(chosen.as_str())));
    });
    Effect::new(move |_| {
        let search = search.get().and_then(Result::ok);
        book.update(|book| book.search(search));
    });
    let counts = Memo::new(move |_| book.with(|book| (book.shown_len(), book.len())));
    let found = Memo::new(move |_| book.with(|book| book.found().len()));

    // Where the reader is: the scroll position and the height of the view, in pixels.
    let viewport = NodeRef::<leptos::html::Div>::new();
    let place = RwSignal::new((0.0_f64, 0.0_f64));
    let measure = move || {
        if let Some(element) = viewport.get_untracked() {
            place.set((
                f64::from(element.scroll_top()),
                f64::from(element.client_height()),
            ));
        }
    };
    // After the new lines are laid out (the next frame), not before: the end moved.
    Effect::new(move |_| {
        counts.track();
        if follow.get() {
            request_animation_frame(move || {
                if let Some(element) = viewport.get_untracked() {
                    element.set_scroll_top(element.scroll_height());
                    measure();
                }
            });
        }
    });
    let step = move |by: isize| {
        let count = found.get_untracked();
        if count == 0 {
            return;
        }
        follow.set(false);
        current.update(|at| *at = (*at as isize + by).rem_euclid(count as isize) as usize);
        let line = book.with_untracked(|book| book.found().get(current.get_untracked()).copied());
        if let (Some(line), Some(element)) = (line, viewport.get_untracked()) {
            let middle = LINES.span(line) - f64::from(element.client_height()) / 2.0;
            element.set_scroll_top(middle.max(0.0) as i32);
            measure();
        }
    };
    let on_key = move |event: leptos::ev::KeyboardEvent| {
        if event.key() == "Enter" {
            event.prevent_default();
            step(if event.shift_key() { -1 } else { 1 });
        }
    };
    view! {
        <section class="panel logs" aria-label="Logs">
            <div class="log-tools" role="toolbar" aria-label="Log tools">
                {move || (sources.with(Vec::len) > 1).then(|| view! {
                    <label>
                        "Source "
                        <select aria-label="Source" on:change=move |event| source.set(event_target_value(&event))>
                            <option value="">"all"</option>
                            {sources.get().into_iter().map(|each| view! { <option value=each.clone()>{each.clone()}</option> }).collect_view()}
                        </select>
                    </label>
                })}
                <input
                    type="search"
                    name="log-search"
                    aria-label="Search the logs"
                    placeholder="search (regex)"
                    bind:value=typed
                    on:input=move |_| current.set(0)
                    on:keydown=on_key
                />
                <span class="muted log-matches" role="status">
                    {move || match search.get() {
                        None => String::new(),
                        Some(Err(why)) => format!("not a regex: {why}"),
                        Some(Ok(_)) => match found.get() {
                            0 => "no match".to_owned(),
                            count => format!("{} / {count}", current.get().min(count - 1) + 1),
                        },
                    }}
                </span>
                <button type="button" class="secondary" aria-label="Previous match" on:click=move |_| step(-1)>"↑"</button>
                <button type="button" class="secondary" aria-label="Next match" on:click=move |_| step(1)>"↓"</button>
                <label><input type="checkbox" bind:checked=times />" times"</label>
                <label><input type="checkbox" bind:checked=follow />" follow"</label>
                <span class="muted log-count">
                    {move || match counts.get() {
                        (shown, all) if shown == all => lines(all),
                        (shown, all) => format!("{shown} of {}", lines(all)),
                    }}
                </span>
            </div>
            <div
                class="log-lines"
                node_ref=viewport
                on:scroll=move |_| {
                    let (before, _) = place.get_untracked();
                    measure();
                    let Some(element) = viewport.get_untracked() else {
                        return;
                    };
                    // Lines arriving between a scroll to the end and its event move the end
                    // away: only the reader scrolling up stops the following.
                    let bottom = element.scroll_top() + element.client_height() + FOLLOW_SLACK;
                    if bottom >= element.scroll_height() {
                        follow.set(true);
                    } else if f64::from(element.scroll_top()) < before {
                        follow.set(false);
                    }
                }
            >
                <div class="log-space" style:height=move || format!("{}px", LINES.span(counts.get().0))>
                    {move || {
                        let (top, height) = place.get();
                        // Hidden (another tab) or not laid out yet: a screenful is assumed.
                        let height = if height > 0.0 { height } else { 800.0 };
                        let search = search.get().and_then(Result::ok);
                        let show_times = times.get();
                        let current = current.get();
                        book.with(|book| {
                            let rows = LINES.window(top, height, book.shown_len());
                            let current = book.found().get(current).copied();
                            let shift = format!("translateY({}px)", LINES.span(rows.start));
                            let lines = rows
                                .filter_map(|at| {
                                    let line = book.shown(at)?;
                                    let search = search.as_ref().filter(|_| book.is_found(at));
                                    Some(log_line(at, line, search, show_times, current == Some(at)))
                                })
                                .collect_view();
                            view! { <div class="log-window" style:transform=shift>{lines}</div> }
                        })
                    }}
                </div>
            </div>
            {move || {
                ended
                    .get()
                    .map(|status| {
                        view! {
                            <p class="muted log-end">
                                "The run ended: "<StatusBadge status=status />
                            </p>
                        }
                    })
            }}
            {move || problem.get().map(|text| view! { <p class="problem" role="alert">{text}</p> })}
        </section>
    }
}

fn lines(count: usize) -> String {
    match count {
        1 => "1 line".to_owned(),
        count => format!("{count} lines"),
    }
}

/// One line: its time when asked for, its colours, and the search's matches marked.
fn log_line(
    at: usize,
    line: Shown<'_>,
    search: Option<&log_view::Search>,
    show_time: bool,
    current: bool,
) -> impl IntoView + use<> {
    let time = show_time.then(|| {
        let stamp = line.timestamp.to_string();
        view! { <span class="log-time">{stamp.get(11..23).unwrap_or(&stamp).to_owned()}" "</span> }
    });
    let segments = frontend::ansi::segments(line.value);
    let ranges = search.map(|search| search.ranges(&frontend::ansi::plain(line.value)));
    let text = match ranges {
        None => segments
            .into_iter()
            .map(|segment| {
                if segment.classes.is_empty() && segment.colours.is_empty() {
                    segment.text.into_any()
                } else {
                    view! { <span class=segment.classes style=segment.colours>{segment.text}</span> }
                        .into_any()
                }
            })
            .collect_view(),
        Some(ranges) => log_view::marked(&segments, &ranges)
            .into_iter()
            .zip(segments)
            .map(|(parts, segment)| {
                let parts = parts
                    .into_iter()
                    .map(|(text, inside)| {
                        if inside {
                            view! { <mark>{text}</mark> }.into_any()
                        } else {
                            text.into_any()
                        }
                    })
                    .collect_view();
                view! { <span class=segment.classes style=segment.colours>{parts}</span> }
                    .into_any()
            })
            .collect_view(),
    };
    let class = match (search.is_some(), current) {
        (_, true) => "log-line match current",
        (true, false) => "log-line match",
        (false, false) => "log-line",
    };
    view! { <div class=class data-line=at>{time}{text}</div> }
}
