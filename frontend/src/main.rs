//! Built and served by `cargo xtask run`; Trunk compiles it to WebAssembly.

mod api;
mod app;
mod components;
mod format;
mod pages;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
