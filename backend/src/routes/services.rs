//! Services' reverse proxy, at Polyaxon's addresses: `/services/v1/{namespace}/{owner}/
//! {project}/runs/{uuid}/{port}/…` passes the whole path on (the service is told its base URL,
//! `globals.base_url`), `/rewrite-services/v1/…` passes only what follows the port (for services
//! declared with `rewritePath`). The runtime carries the request to the run: to a port on this
//! machine, or through the cluster's API server to the run's Service.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{Response, StatusCode, Uri};
use axum::routing::any;
use hyper_util::rt::TokioIo;

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
    state
        .store
        .run(&address.owner, &address.project, &address.uuid)
        .await?;
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
                tokio::spawn(async move {
                    let (Ok(browser), Ok(service)) = tokio::join!(browser_side, service_side)
                    else {
                        return;
                    };
                    let mut browser = TokioIo::new(browser);
                    let mut service = TokioIo::new(service);
                    let _ = tokio::io::copy_bidirectional(&mut browser, &mut service).await;
                });
            }
            Ok(response)
        }
        Err(RuntimeError::NotActive) => Err(AppError::Conflict(format!(
            "run {} is not running, or does not listen on port {}",
            address.uuid, address.port
        ))),
        Err(RuntimeError::Failed(message)) => Err(AppError::BadGateway(message)),
    }
}
