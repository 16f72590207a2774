//! Services' reverse proxy, at Polyaxon's addresses: `/services/v1/{namespace}/{owner}/
//! {project}/runs/{uuid}/{port}/…` passes the whole path on (the service is told its base URL,
//! `globals.base_url`), `/rewrite-services/v1/…` passes only what follows the port (for services
//! declared with `rewritePath`). The runtime carries the request to the run: to a port on this
//! machine, or through the cluster's API server to the run's Service.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{Response, StatusCode, Uri};
use axum::routing::any;
use hyper_util::rt::TokioIo;

use crate::culling::Counted;
use crate::runtime::{RuntimeError, is_upgrade};
use crate::{AppError, AppState};

/// Where in the path the service's own part starts, for each kind of address.
const BASES: [(&str, bool); 2] = [("services", false), ("rewrite-services", true)];

pub fn routes() -> Router<AppState> {
    BASES.iter().fold(Router::new(), |router, (base, rewrite)| {
        let prefix =
            format!("/{base}/v1/{{namespace}}/{{owner}}/{{project}}/runs/{{uuid}}/{{port}}");
        let handler = move |state, path, request| proxy(state, path, request, *rewrite);
        router
            .route(&prefix, any(handler))
            .route(&format!("{prefix}/"), any(handler))
            .route(&format!("{prefix}/{{*rest}}"), any(handler))
    })
}

#[derive(Debug, serde::Deserialize)]
struct Address {
    owner: String,
    project: String,
    uuid: String,
    port: u16,
    rest: Option<String>,
}

async fn proxy(
    State(state): State<AppState>,
    Path(address): Path<Address>,
    mut request: Request,
    rewrite: bool,
) -> Result<Response<Body>, AppError> {
    // The run must be this project's, whatever the runtime knows.
    let run = state
        .store
        .run(&address.owner, &address.project, &address.uuid)
        .await?
        .run;
    let browser = accepts_html(request.headers());
    let path = if rewrite {
        format!("/{}", address.rest.as_deref().unwrap_or_default())
    } else {
        request.uri().path().to_owned()
    };
    let path_and_query = match request.uri().query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    *request.uri_mut() = path_and_query.parse::<Uri>().map_err(|error| {
        AppError::BadRequest(format!("cannot proxy `{path_and_query}`: {error}"))
    })?;
    // A WebSocket (Jupyter's kernels, TensorBoard's live data): once the service switched
    // protocols, the browser's connection and the service's are joined both ways.
    let browser_side = is_upgrade(request.headers()).then(|| hyper::upgrade::on(&mut request));
    state.activity.touch(&address.uuid);
    match state
        .runtime
        .proxy(&address.uuid, address.port, request)
        .await
    {
        Ok(mut response) => {
            if response.status() == StatusCode::SWITCHING_PROTOCOLS
                && let Some(browser_side) = browser_side
            {
                let service_side = hyper::upgrade::on(&mut response);
                let activity = Arc::clone(&state.activity);
                tokio::spawn(async move {
                    let (Ok(browser), Ok(service)) = tokio::join!(browser_side, service_side)
                    else {
                        return;
                    };
                    // Its messages keep an idle timeout away, as requests do.
                    let mut browser = Counted::new(TokioIo::new(browser), activity, &address.uuid);
                    let mut service = TokioIo::new(service);
                    let _ = tokio::io::copy_bidirectional(&mut browser, &mut service).await;
                });
            }
            Ok(response)
        }
        // A person who opened the service early gets a page that says so and tries again.
        Err(_) if browser && !run.status.is_done() => Ok(starting_page(&run)),
        Err(RuntimeError::NotActive) => Err(AppError::Conflict(format!(
            "run {} is not running, or does not listen on port {}",
            address.uuid, address.port
        ))),
        Err(RuntimeError::Failed(message)) => Err(AppError::BadGateway(message)),
    }
}

/// Whether the request is a page load (a browser's navigation), not a script's or a client's.
fn accepts_html(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// How often the starting page tries again, in seconds.
const RETRY_SECONDS: u32 = 2;

/// `503` with a page that names the run, says how far it got, and reloads itself until the
/// service answers: never a blank page or a bare 502 for someone who is early.
fn starting_page(run: &shared::api::Run) -> Response<Body> {
    let name = escape(run.name.as_deref().unwrap_or(&run.uuid));
    let status = run.status.as_str();
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{RETRY_SECONDS}\">\
         <title>Starting {name}</title><style>body{{font:16px system-ui,sans-serif;\
         margin:20vh auto;max-width:34rem;color:#1f2937}}p{{color:#4b5563}}\
         .spin{{width:1.5rem;height:1.5rem;border:3px solid #e5e7eb;border-top-color:#4f46e5;\
         border-radius:50%;animation:s 1s linear infinite}}@keyframes s{{to{{transform:rotate(1turn)}}}}\
         </style></head><body><div class=\"spin\" aria-hidden=\"true\"></div>\
         <h1>Starting {name}…</h1><p role=\"status\">The run is <strong>{status}</strong>; \
         its service does not answer yet. This page tries again every {RETRY_SECONDS} \
         seconds.</p></body></html>"
    );
    Response::builder()
        .status(StatusCode::SERVICE_UNAVAILABLE)
        .header(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(axum::http::header::RETRY_AFTER, RETRY_SECONDS.to_string())
        .header(axum::http::header::CACHE_CONTROL, "no-store")
        .body(Body::from(page))
        .unwrap_or_default()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
