//! The app. Built and served by `cargo xtask run`; Trunk compiles it to WebAssembly. The
//! compiler runs beside it in a worker (`src/bin/compiler.rs`), loaded by the pages that need it.

mod api;
mod app;
mod compiler;
mod components;
mod editor;
mod examples;
mod pages;
mod terminal;

// Shared with the library's pure views; pages read it as `crate::format`.
use frontend::format;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
