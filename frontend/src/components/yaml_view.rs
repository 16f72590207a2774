//! YAML to read, copy or save: the editor's previews and a run's Spec tab.

use leptos::prelude::*;
use wasm_bindgen::JsCast as _;

/// `text` with Copy and Download (as `file`); without text, `note` says why there is none.
pub fn yaml_view(text: Option<String>, file: &'static str, note: Option<String>) -> AnyView {
    let Some(text) = text else {
        let why = note.unwrap_or_else(|| "Nothing to show until the file is valid.".to_owned());
        return view! { <p class="muted">{why}</p> }.into_any();
    };
    let copied = text.clone();
    let downloaded = text.clone();
    view! {
        <div class="yaml-actions">
            <button type="button" class="secondary" on:click=move |_| {
                let _ = window().navigator().clipboard().write_text(&copied);
            }>"Copy"</button>
            <button type="button" class="secondary" on:click=move |_| download(file, &downloaded)>"Download"</button>
        </div>
        <pre class="yaml"><code>{text}</code></pre>
    }
    .into_any()
}

/// Objects as one multi-document YAML text, in order.
pub fn documents(objects: &[serde_json::Value]) -> String {
    objects
        .iter()
        .map(shared::yaml::emit)
        .collect::<Vec<_>>()
        .join("---\n")
}

/// Saves `text` as a file named `name`, as the browser saves downloads.
pub fn download(name: &str, text: &str) {
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/yaml");
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return;
    };
    if let Ok(anchor) = document().create_element("a") {
        let anchor: web_sys::HtmlAnchorElement = anchor.unchecked_into();
        anchor.set_href(&url);
        anchor.set_download(name);
        anchor.click();
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}
