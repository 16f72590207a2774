//! The run page's Terminal tab: a shell inside the running run, in xterm.js, over the same
//! exec WebSocket `polyaxon ops shell` uses. One session per visit of the tab: leaving the tab,
//! or the page, closes it.

use std::cell::RefCell;
use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::api::Run;

use crate::api::{self, ExecEvent, ExecSocket, ExecTarget};
use crate::terminal::Terminal;

/// The shell: bash where the image has it, sh otherwise.
const SHELL: [&str; 3] = [
    "/bin/sh",
    "-c",
    "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi",
];

/// The Terminal tab of a running run: which container, then the session.
#[component]
pub fn RunTerminal(run: Run) -> impl IntoView {
    let targets = LocalResource::new({
        let run = run.clone();
        move || {
            let run = run.clone();
            async move { api::exec_targets(&run).await }
        }
    });
    let chosen = RwSignal::new(0_usize);
    view! {
        <section class="panel terminal-panel" aria-label="Terminal">
            {move || match targets.get() {
                None => view! { <p class="muted">"Finding the run's containers…"</p> }.into_any(),
                Some(Err(error)) => {
                    view! { <p class="problem" role="alert">{error.to_string()}</p> }.into_any()
                }
                Some(Ok(list)) if list.is_empty() => {
                    view! { <p class="muted">"The run has no container to open a terminal in."</p> }
                        .into_any()
                }
                Some(Ok(list)) => {
                    let options = list
                        .iter()
                        .enumerate()
                        .map(|(index, target)| {
                            view! {
                                <option value=index.to_string() selected=move || chosen.get() == index>
                                    {format!("{} / {}", target.pod, target.container)}
                                </option>
                            }
                        })
                        .collect_view();
                    let run = run.clone();
                    view! {
                        <label class="terminal-target">
                            "Container "
                            <select on:change=move |event| {
                                chosen.set(event_target_value(&event).parse().unwrap_or(0));
                            }>{options}</select>
                        </label>
                        {move || {
                            let target = list.get(chosen.get()).cloned();
                            let run = run.clone();
                            target.map(|target| view! { <Session run=run target=target /> })
                        }}
                    }
                        .into_any()
                }
            }}
        </section>
    }
}

/// The parts of a session that refer to each other: the terminal sends typing to the socket,
/// the socket writes output to the terminal. Dropped together when the session ends.
#[derive(Default)]
struct Parts {
    terminal: RefCell<Option<Terminal>>,
    socket: RefCell<Option<ExecSocket>>,
    size: std::cell::Cell<Option<(u16, u16)>>,
    closed: std::cell::Cell<bool>,
}

/// One shell session in `target`.
#[component]
fn Session(run: Run, target: ExecTarget) -> impl IntoView {
    let host = NodeRef::<leptos::html::Div>::new();
    let state = RwSignal::new(format!("Connecting to {}…", target.container));
    // How the socket closed (1000 when both sides ended it cleanly), for the eye and for tests.
    let closed = RwSignal::new(None::<u16>);
    let parts = Rc::new(Parts::default());
    let kept = StoredValue::new_local(parts.clone());
    on_cleanup(move || {
        kept.with_value(|parts| {
            parts.closed.set(true);
            // Taking them out breaks the cycle between the two, so both are dropped: the socket
            // closes, the terminal leaves the page.
            parts.socket.borrow_mut().take();
            parts.terminal.borrow_mut().take();
        });
    });
    Effect::new(move |_| {
        let Some(element) = host.get() else {
            return;
        };
        let (parts, run, target) = (parts.clone(), run.clone(), target.clone());
        spawn_local(async move {
            let typed = parts.clone();
            let resized = parts.clone();
            let opened = Terminal::open(
                &element,
                move |text| {
                    if let Some(socket) = typed.socket.borrow().as_ref() {
                        socket.input(&text);
                    }
                },
                move |columns, rows| {
                    resized.size.set(Some((columns, rows)));
                    if let Some(socket) = resized.socket.borrow().as_ref() {
                        socket.resize(columns, rows);
                    }
                },
            )
            .await;
            let terminal = match opened {
                Ok(terminal) => terminal,
                Err(error) => {
                    state.try_set(format!("The terminal could not open: {error}"));
                    return;
                }
            };
            if parts.closed.get() {
                return;
            }
            parts.terminal.replace(Some(terminal));
            let events = parts.clone();
            let socket = ExecSocket::open(&run, &target, &SHELL, move |event| {
                on_event(&events, event, state, closed);
            });
            match socket {
                Ok(socket) => {
                    parts.socket.replace(Some(socket));
                }
                Err(error) => {
                    state.try_set(error.to_string());
                }
            }
        });
    });
    view! {
        <p class="muted terminal-state" role="status" data-close-code=move || closed.get().map(|code| code.to_string())>
            {move || state.get()}
        </p>
        <div class="terminal-frame">
            <div class="terminal" node_ref=host></div>
        </div>
    }
}

fn on_event(
    parts: &Parts,
    event: ExecEvent,
    state: RwSignal<String>,
    closed: RwSignal<Option<u16>>,
) {
    let terminal = parts.terminal.borrow();
    let Some(terminal) = terminal.as_ref() else {
        return;
    };
    match event {
        ExecEvent::Opened => {
            state.try_set("Connected. Type `exit` to end the session.".to_owned());
            if let (Some((columns, rows)), Some(socket)) =
                (parts.size.get(), parts.socket.borrow().as_ref())
            {
                socket.resize(columns, rows);
            }
        }
        ExecEvent::Output(bytes) => terminal.write(&bytes),
        ExecEvent::Exited { code, message } => {
            let said = match (code, message) {
                (Some(code), _) => format!("The shell exited with code {code}."),
                (None, Some(message)) => format!("The shell ended: {message}"),
                (None, None) => "The shell ended.".to_owned(),
            };
            terminal.note(&said);
            state.try_set(said);
            if let Some(socket) = parts.socket.borrow().as_ref() {
                socket.close();
            }
        }
        ExecEvent::Closed {
            opened: false,
            code,
        } => {
            closed.try_set(Some(code));
            let said = format!(
                "The server refused the terminal (WebSocket code {code}): the run may have \
                 stopped, or this browser is not signed in."
            );
            terminal.note(&said);
            state.try_set(said);
        }
        ExecEvent::Closed { opened: true, code } => {
            closed.try_set(Some(code));
            state.update(|state| {
                if !state.starts_with("The shell") {
                    *state = "The connection closed.".to_owned();
                }
            });
        }
    }
}
