//! The compiler worker: `shared`'s check, compile and convert off the page's thread, so typing
//! never waits for them. Messages are JSON text both ways (`frontend::Request`, `Reply`).

use frontend::{Reply, Request, answer};
use wasm_bindgen::JsCast as _;
use wasm_bindgen::prelude::*;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

fn main() {
    console_error_panic_hook::set_once();
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let replies = scope.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let reply = match event
            .data()
            .as_string()
            .map(|text| serde_json::from_str::<Request>(&text))
        {
            Some(Ok(request)) => {
                let clock = || {
                    replies
                        .performance()
                        .map_or(0.0, |performance| performance.now())
                };
                answer(request, clock)
            }
            Some(Err(error)) => Reply::Refused(format!("unreadable request: {error}")),
            None => Reply::Refused("requests are JSON text".to_owned()),
        };
        let text = serde_json::to_string(&reply).unwrap_or_default();
        let _ = replies.post_message(&JsValue::from_str(&text));
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    if let Ok(ready) = serde_json::to_string(&Reply::Ready) {
        let _ = scope.post_message(&JsValue::from_str(&ready));
    }
    // The handler lives as long as the worker.
    on_message.forget();
}
