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

pub mod artifacts;
pub mod clock;
mod config;
mod culling;
mod error;
mod guard;
pub mod hooks;
pub mod metrics;
pub mod people;
mod routes;
pub mod runtime;
pub mod scheduler;
mod state;
pub mod store;
pub mod submit;
mod web;

use std::future::Future;
use std::sync::Arc;

use axum::{Router, middleware};
use tokio::net::TcpListener;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate as _};
use tower_http::trace::TraceLayer;

pub use config::{Config, RuntimeChoice};
pub use error::AppError;
pub use state::AppState;

/// The server's own version, as reported by the health route and `myelin --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything the server answers, as one router; every route answers only requests addressed
/// to the server's own names, and changes only what its own pages ask for (`guard`).
pub fn app(state: AppState) -> Router {
    let hosts = Arc::new(guard::AllowedHosts::new(
        &state.config.allowed_hosts,
        &state.api_host,
    ));
    Router::new()
        .nest("/api", routes::api(&state))
        .nest("/streams", routes::streams(&state))
        .nest("/k8s", routes::k8s(&state))
        .nest("/internal", routes::internal(&state))
        .merge(routes::registry())
        .merge(routes::services(&state))
        .fallback_service(web::service(&state.config.web_dir))
        // Series in their binary layout are mostly floats, which gzip barely shrinks and would
        // spend longer on than the transfer it saves.
        .layer(CompressionLayer::new().compress_when(
            DefaultPredicate::new().and(NotForContentType::const_new(shared::api::SERIES_BINARY)),
        ))
        .layer(middleware::from_fn_with_state(hosts, guard::check))
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

    if !config.web_dir.join("index.html").is_file() {
        tracing::warn!(
            web_dir = %config.web_dir.display(),
            "the browser app is not built; the API works but pages answer 503 until `cargo xtask build` runs"
        );
    }
    let listener = TcpListener::bind(config.addr())
        .await
        .with_context(|| format!("cannot listen on {}", config.addr()))?;
    let addr = listener.local_addr()?;
    let api_host = config.api_host.clone().unwrap_or_else(|| api_host(addr));
    let state = AppState::open(config, &api_host).await?;
    recover(&state).await?;
    scheduler::spawn(state.clone());
    hooks::spawn(state.clone());
    tokio::spawn(culling::cull(state.clone()));
    tokio::spawn(metrics::follow(
        state.metrics.clone(),
        state.run_events.subscribe(),
    ));
    on_listening(addr);
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("the server stopped with an error")
}

/// Where runs on this machine reach the API: the bound address, or loopback when the server
/// listens on every interface.
fn api_host(addr: std::net::SocketAddr) -> String {
    let host = if addr.ip().is_unspecified() {
        std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
    } else {
        addr.ip()
    };
    format!("http://{}", std::net::SocketAddr::new(host, addr.port()))
}

/// Hands every run that was active when the server last stopped back to the runtime, which
/// resumes it or ends it with a reason: no run stays "running" forever.
pub async fn recover(state: &AppState) -> anyhow::Result<()> {
    for uuid in state.store.unfinished_runs().await? {
        let stored = state.store.run_by_uuid(&uuid).await?;
        let Some(execution) = state.execution(stored).await? else {
            continue;
        };
        if let Err(error) = state.runtime.recover(execution).await {
            tracing::error!(%error, uuid, "cannot recover a run");
        }
    }
    Ok(())
}
