//! Myelin's server.
//!
//! [`app`] builds the whole HTTP surface as one axum [`Router`]: the JSON API under `/api` and
//! the browser app (the files Trunk builds into `dist/`) everywhere else, with the app's
//! `index.html` answering every client-side route. [`serve`] binds it and runs it until a
//! shutdown signal.
//!
//! Handlers reach everything they need through [`AppState`]; there are no globals. Every failure
//! a handler can return is an [`AppError`], which turns into one JSON shape
//! ([`shared::api::ErrorBody`]).

pub mod clock;
mod config;
mod error;
mod routes;
mod state;
pub mod store;
mod web;

use std::future::Future;

use axum::Router;
use tokio::net::TcpListener;
use tower_http::{compression::CompressionLayer, trace::TraceLayer};

pub use config::Config;
pub use error::AppError;
pub use state::AppState;

/// The server's own version, as reported by the health route and `myelin --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything the server answers, as one router.
pub fn app(state: AppState) -> Router {
    Router::new()
        .nest("/api", routes::api())
        .fallback_service(web::service(&state.config.web_dir))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Binds the configured address and serves [`app`] until `shutdown` completes; requests in
/// flight are allowed to finish.
///
/// `on_listening` is told the bound address first, which is how a caller that asked for port 0
/// learns the port the system picked.
pub async fn serve(
    config: Config,
    on_listening: impl FnOnce(std::net::SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use anyhow::Context as _;

    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )
    })?;
    if !config.web_dir.join("index.html").is_file() {
        tracing::warn!(
            web_dir = %config.web_dir.display(),
            "the browser app is not built; the API works but pages answer 503 until `cargo xtask build` runs"
        );
    }
    let listener = TcpListener::bind(config.addr())
        .await
        .with_context(|| format!("cannot listen on {}", config.addr()))?;
    on_listening(listener.local_addr()?);
    let state = AppState::new(config);
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("the server stopped with an error")
}
