//! Hooks: when a run ends, the hooks its status calls (`shared::hooks` decides) are delivered.
//! Myelin delivers the `webhook` notifier itself: a JSON POST of what the run came to, to the
//! hook's `url` param or the `url` of its connection's schema. What happened to each hook is
//! kept in the run's `meta_info.hooks`, by the hook's place: it is claimed there before it is
//! sent, so a hook is never sent twice, and a failure says why.

use std::time::Duration;

use axum::body::Body;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Map, Value as Json, json};
use shared::api::{Run, RunPatch};
use shared::hooks::Called;
use tokio::sync::broadcast::error::RecvError;

use crate::AppState;

/// How long a receiver has to answer one delivery.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// How many times a delivery is tried, a second, then two, then four apart.
const ATTEMPTS: u32 = 4;

/// Starts delivering hooks for the runs `state`'s store sees end.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    let mut events = state.run_events.subscribe();
    let client = Client::builder(TokioExecutor::new()).build_http();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event)
                    if event.change == "status" && event.status.is_some_and(|s| s.is_done()) =>
                {
                    if let Err(error) = deliver(&state, &client, &event.uuid).await {
                        tracing::error!(%error, run = event.uuid, "cannot deliver a run's hooks");
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "the hooks fell behind the runs' changes");
                }
                Err(RecvError::Closed) => return,
            }
        }
    })
}

async fn deliver(
    state: &AppState,
    client: &Client<HttpConnector, Body>,
    uuid: &str,
) -> Result<(), crate::store::StoreError> {
    let stored = state.store.run_by_uuid(uuid).await?;
    let Some(compiled) = &stored.compiled else {
        return Ok(());
    };
    let called = shared::hooks::called(compiled, &stored.run);
    if called.is_empty() {
        return Ok(());
    }
    let run = &stored.run;
    let mut record = run
        .meta_info
        .get("hooks")
        .and_then(Json::as_object)
        .cloned()
        .unwrap_or_default();
    for hook in called {
        let (index, outcome) = match hook {
            Err(why) => (why_index(&why), None),
            Ok(hook) => (hook.index, Some(hook)),
        };
        let key = index.to_string();
        if record.contains_key(&key) {
            continue;
        }
        let Some(hook) = outcome else {
            record.insert(
                key,
                json!({"status": "failed", "message": "its conditions or params do not render"}),
            );
            continue;
        };
        // Claimed before it is sent: a restart in between never sends it twice.
        record.insert(key.clone(), json!({"status": "sending"}));
        keep(state, run, &record).await?;
        let told = match target(state, &hook) {
            Ok(url) => send(client, &url, &notice(run, &hook)).await,
            Err(why) => Err(why),
        };
        let entry = match told {
            Ok(code) => json!({"status": "delivered", "code": code}),
            Err(why) => json!({"status": "failed", "message": why}),
        };
        record.insert(key, entry);
    }
    keep(state, run, &record).await
}

/// A hook's place, from the error that names it (`hook 3: …`).
fn why_index(why: &str) -> usize {
    why.strip_prefix("hook ")
        .and_then(|rest| rest.split(':').next())
        .and_then(|index| index.parse().ok())
        .unwrap_or(usize::MAX)
}

async fn keep(
    state: &AppState,
    run: &Run,
    record: &Map<String, Json>,
) -> Result<(), crate::store::StoreError> {
    let patch = RunPatch {
        meta_info: Some(Map::from_iter([(
            "hooks".to_owned(),
            Json::Object(record.clone()),
        )])),
        ..RunPatch::default()
    };
    state
        .store
        .patch_run(&run.owner, &run.project, &run.uuid, patch)
        .await
        .map(|_| ())
}

/// Where a hook is delivered: the `webhook` notifier's URL.
fn target(state: &AppState, hook: &Called) -> Result<String, String> {
    let component = hook
        .hub_ref
        .as_deref()
        .map(shared::hooks::component_name)
        .unwrap_or("webhook");
    if component != "webhook" {
        return Err(format!(
            "`{}` is not a notifier Myelin delivers yet; `webhook` is",
            hook.hub_ref.as_deref().unwrap_or_default()
        ));
    }
    if let Some(url) = hook.params.get("url").and_then(Json::as_str) {
        return Ok(url.to_owned());
    }
    let connection = hook
        .connection
        .as_deref()
        .ok_or("a webhook needs a `url` param or a `connection` with a url")?;
    state
        .agent
        .connections
        .iter()
        .find(|known| known.name == connection)
        .and_then(|known| known.raw.pointer("/schema/url").and_then(Json::as_str))
        .map(str::to_owned)
        .ok_or_else(|| format!("the agent has no connection `{connection}` with a `schema.url`"))
}

/// What a webhook receives.
fn notice(run: &Run, hook: &Called) -> Json {
    json!({
        "kind": "myelin.hook",
        "hook": hook.index,
        "uuid": run.uuid,
        "name": run.name,
        "owner": run.owner,
        "project": run.project,
        "run_kind": run.kind,
        "status": run.status.as_str(),
        "message": run.status_conditions.last().and_then(|condition| condition.message.clone()),
        "finished_at": run.finished_at,
        "inputs": run.inputs,
        "outputs": run.outputs,
        "params": hook.params,
    })
}

/// POSTs `body` to `url`, trying again after a failure; the status code of the answer.
async fn send(client: &Client<HttpConnector, Body>, url: &str, body: &Json) -> Result<u16, String> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|error| format!("`{url}` is not a URL: {error}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!(
            "`{url}`: Myelin's webhook speaks plain `http` only so far"
        ));
    }
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
        }
        let request = hyper::Request::post(uri.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(
                hyper::header::USER_AGENT,
                concat!("myelin/", env!("CARGO_PKG_VERSION")),
            )
            .body(Body::from(body.to_string()))
            .map_err(|error| error.to_string())?;
        match tokio::time::timeout(ANSWER_WITHIN, client.request(request)).await {
            Ok(Ok(answer)) if answer.status().is_success() => return Ok(answer.status().as_u16()),
            // A receiver that refuses the notice will refuse it again.
            Ok(Ok(answer)) if answer.status().is_client_error() => {
                return Err(format!("`{url}` answered {}", answer.status()));
            }
            Ok(Ok(answer)) => last = format!("`{url}` answered {}", answer.status()),
            Ok(Err(error)) => last = format!("`{url}` cannot be reached: {error}"),
            Err(_) => last = format!("`{url}` did not answer within {ANSWER_WITHIN:?}"),
        }
    }
    Err(format!("{last} ({ATTEMPTS} attempts)"))
}
