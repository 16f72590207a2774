//! The app's side of the compiler worker: started the first time a page needs the compiler,
//! it answers each text with its preview. Only the newest text's answer is kept.
//!
//! The worker is watched: one that fails, or does not answer the newest text within
//! [`ANSWER_BUDGET`], is replaced by a new one and the page is told why, so a page never waits
//! for ever on a text the compiler choked on.

use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::time::Duration;

use frontend::preview::Preview;
use frontend::{PreviewRequest, Reply, Request};
use leptos::prelude::set_timeout;
use wasm_bindgen::JsCast as _;
use wasm_bindgen::prelude::*;
use web_sys::{ErrorEvent, MessageEvent, Worker};

/// Trunk's loader for the worker's WebAssembly.
const WORKER_SCRIPT: &str = "/compiler_loader.js";

/// How long the worker may take to answer the newest text. The compiler bounds its own work
/// (a few hundred milliseconds at its limits); past this, something is wrong with the worker.
pub const ANSWER_BUDGET: Duration = Duration::from_secs(8);

/// What the page hears from the compiler.
pub enum Answer {
    /// The preview of the newest text.
    Preview(Box<Preview>),
    /// The worker failed or took too long on the newest text, and was replaced: that text has
    /// no verdict.
    GaveUp(String),
}

/// Whether the worker listens yet. Messages sent while its WebAssembly loads would be lost, so
/// the newest one waits.
enum Link {
    Loading(Option<String>),
    Ready,
}

/// A running compiler worker, replaced when it fails.
pub struct Compiler {
    inner: Rc<RefCell<Inner>>,
    /// Kept apart from `inner`, so the page's handler may ask for a compile while it runs.
    on_answer: Rc<RefCell<dyn FnMut(Answer)>>,
}

struct Inner {
    worker: Worker,
    link: Link,
    /// The newest request's id, and whether it has been answered.
    latest: u64,
    answered: bool,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(ErrorEvent)>,
}

impl Compiler {
    /// Starts a worker; `on_answer` gets the preview of each newest text, or why there is none.
    pub fn start(on_answer: impl FnMut(Answer) + 'static) -> Result<Self, String> {
        let on_answer: Rc<RefCell<dyn FnMut(Answer)>> = Rc::new(RefCell::new(on_answer));
        let worker = new_worker()?;
        let inner = Rc::new_cyclic(|inner| {
            RefCell::new(Inner::around(worker, inner.clone(), Rc::clone(&on_answer)))
        });
        Ok(Self { inner, on_answer })
    }

    /// Asks for the preview of a text; earlier requests' answers are dropped.
    pub fn compile(&self, mut request: PreviewRequest) {
        let id = {
            let mut inner = self.inner.borrow_mut();
            inner.latest += 1;
            inner.answered = false;
            inner.latest
        };
        request.id = id;
        let Ok(text) = serde_json::to_string(&Request::Preview(request)) else {
            return;
        };
        send(&self.inner, text);
        let (inner, on_answer) = (Rc::downgrade(&self.inner), Rc::clone(&self.on_answer));
        set_timeout(
            move || {
                let Some(inner) = inner.upgrade() else {
                    return;
                };
                let overdue = {
                    let state = inner.borrow();
                    state.latest == id && !state.answered
                };
                if overdue {
                    replace(
                        &inner,
                        &on_answer,
                        format!(
                            "the compiler did not answer within {} s and was restarted; \
                             this text is not checked (edit it to check again)",
                            ANSWER_BUDGET.as_secs()
                        ),
                    );
                }
            },
            ANSWER_BUDGET,
        );
    }
}

/// Sends a request now, or when the worker is ready.
fn send(inner: &Rc<RefCell<Inner>>, text: String) {
    let mut inner = inner.borrow_mut();
    match &mut inner.link {
        Link::Ready => {
            let _ = inner.worker.post_message(&JsValue::from_str(&text));
        }
        Link::Loading(waiting) => *waiting = Some(text),
    }
}

/// Ends the worker, starts another, and tells the page why its newest text has no verdict.
fn replace(inner: &Rc<RefCell<Inner>>, on_answer: &Rc<RefCell<dyn FnMut(Answer)>>, why: String) {
    let why = {
        let mut state = inner.borrow_mut();
        state.worker.terminate();
        state.answered = true;
        match new_worker() {
            Ok(worker) => {
                let fresh = Inner {
                    latest: state.latest,
                    ..Inner::around(worker, Rc::downgrade(inner), Rc::clone(on_answer))
                };
                // The old worker's handlers may be what is running now: they are dropped after.
                let old = std::mem::replace(&mut *state, fresh);
                set_timeout(move || drop(old), Duration::ZERO);
                why
            }
            Err(failed) => format!("{why}; {failed}"),
        }
    };
    (on_answer.borrow_mut())(Answer::GaveUp(why));
}

fn new_worker() -> Result<Worker, String> {
    Worker::new(WORKER_SCRIPT).map_err(|error| format!("the compiler did not start: {error:?}"))
}

impl Inner {
    /// Listens to `worker`: its answers reach `inner` and the page, and its failure replaces it.
    fn around(
        worker: Worker,
        inner: Weak<RefCell<Inner>>,
        on_answer: Rc<RefCell<dyn FnMut(Answer)>>,
    ) -> Self {
        let (messages, replies) = (inner.clone(), Rc::clone(&on_answer));
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let (Some(text), Some(inner)) = (event.data().as_string(), messages.upgrade()) else {
                return;
            };
            match serde_json::from_str::<Reply>(&text) {
                Ok(Reply::Ready) => {
                    let mut state = inner.borrow_mut();
                    let previous = std::mem::replace(&mut state.link, Link::Ready);
                    if let Link::Loading(Some(request)) = previous {
                        let _ = state.worker.post_message(&JsValue::from_str(&request));
                    }
                }
                Ok(Reply::Preview { id, preview }) => {
                    let newest = {
                        let mut state = inner.borrow_mut();
                        let newest = id == state.latest && !state.answered;
                        state.answered |= newest;
                        newest
                    };
                    if newest {
                        (replies.borrow_mut())(Answer::Preview(preview));
                    }
                }
                Ok(Reply::Refused(why)) => leptos::logging::error!("compiler worker: {why}"),
                _ => {}
            }
        });
        let on_error = Closure::<dyn FnMut(ErrorEvent)>::new(move |event: ErrorEvent| {
            if let Some(inner) = inner.upgrade() {
                let why = format!(
                    "the compiler failed ({}) and was restarted; this text is not checked \
                     (edit it to check again)",
                    event.message()
                );
                replace(&inner, &on_answer, why);
            }
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Self {
            worker,
            link: Link::Loading(None),
            latest: 0,
            answered: true,
            _on_message: on_message,
            _on_error: on_error,
        }
    }
}

impl Drop for Compiler {
    fn drop(&mut self) {
        self.inner.borrow().worker.terminate();
    }
}
