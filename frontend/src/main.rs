//! The app. Built and served by `cargo xtask run`; Trunk compiles it to WebAssembly. The
//! compiler runs beside it in a worker (`src/bin/compiler.rs`), loaded by the pages that need it.

mod api;
mod app;
mod compiler;
mod components;
mod editor;
mod examples;
mod format;
mod pages;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
