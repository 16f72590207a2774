//! The app's side of the compiler worker: started the first time a page needs the compiler,
//! it answers each text with its preview. Only the newest text's answer is kept.

use std::cell::RefCell;
use std::rc::Rc;

use frontend::preview::Preview;
use frontend::{PreviewRequest, Reply, Request};
use wasm_bindgen::JsCast as _;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, Worker};

/// Trunk's loader for the worker's WebAssembly.
const WORKER_SCRIPT: &str = "/compiler_loader.js";

/// Whether the worker listens yet. Messages sent while its WebAssembly loads would be lost, so
/// the newest one waits.
enum Link {
    Loading(Option<String>),
    Ready,
}

/// A running compiler worker.
pub struct Compiler {
    worker: Worker,
    latest: Rc<RefCell<u64>>,
    link: Rc<RefCell<Link>>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl Compiler {
    /// Starts a worker; `on_preview` gets the preview of each newest text.
    pub fn start(mut on_preview: impl FnMut(Preview) + 'static) -> Result<Self, String> {
        let worker = Worker::new(WORKER_SCRIPT)
            .map_err(|error| format!("the compiler did not start: {error:?}"))?;
        let latest = Rc::new(RefCell::new(0_u64));
        let link = Rc::new(RefCell::new(Link::Loading(None)));
        let (newest, state, sender) = (Rc::clone(&latest), Rc::clone(&link), worker.clone());
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let Some(text) = event.data().as_string() else {
                return;
            };
            match serde_json::from_str::<Reply>(&text) {
                Ok(Reply::Ready) => {
                    let previous = std::mem::replace(&mut *state.borrow_mut(), Link::Ready);
                    if let Link::Loading(Some(request)) = previous {
                        let _ = sender.post_message(&JsValue::from_str(&request));
                    }
                }
                Ok(Reply::Preview { id, preview }) if id == *newest.borrow() => {
                    on_preview(*preview)
                }
                Ok(Reply::Refused(why)) => leptos::logging::error!("compiler worker: {why}"),
                _ => {}
            }
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        Ok(Self {
            worker,
            latest,
            link,
            _on_message: on_message,
        })
    }

    /// Asks for the preview of a text; earlier requests' answers are dropped.
    pub fn compile(&self, mut request: PreviewRequest) {
        let id = *self.latest.borrow() + 1;
        *self.latest.borrow_mut() = id;
        request.id = id;
        let Ok(text) = serde_json::to_string(&Request::Preview(request)) else {
            return;
        };
        match &mut *self.link.borrow_mut() {
            Link::Ready => {
                let _ = self.worker.post_message(&JsValue::from_str(&text));
            }
            Link::Loading(waiting) => *waiting = Some(text),
        }
    }
}

impl Drop for Compiler {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}
