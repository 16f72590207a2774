//! A project's run changes as server-sent events (`/streams/v1/{namespace}/{owner}/{project}/
//! runs/events`): each `run` event is a run created, moved to a status, changed or deleted; a
//! `resync` event tells a watcher that fell behind to read the list again. Tables and run pages
//! update from it instead of polling.

use std::convert::Infallible;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use crate::store::RunEvent;
use crate::{AppError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/v1/{namespace}/{owner}/{project}/runs/events",
        get(run_events),
    )
}

async fn run_events(
    State(state): State<AppState>,
    Path((_, owner, project)): Path<(String, String, String)>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    state.store.project(&owner, &project).await?;
    let receiver = state.run_events.subscribe();
    let events = futures_util::stream::unfold(
        (receiver, owner, project),
        |(mut receiver, owner, project)| async move {
            loop {
                let event = match receiver.recv().await {
                    Ok(event) if event.owner == owner && event.project == project => run(&event),
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => Event::default().event("resync").data("missed"),
                    Err(RecvError::Closed) => return None,
                };
                return Some((Ok(event), (receiver, owner, project)));
            }
        },
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

fn run(event: &RunEvent) -> Event {
    Event::default()
        .event("run")
        .json_data(event)
        .unwrap_or_else(|_| Event::default().event("resync").data("unreadable"))
}
