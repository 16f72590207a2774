//! Services' reverse proxy, at Polyaxon's addresses: `/services/v1/{namespace}/{owner}/
//! {project}/runs/{uuid}/{port}/…` passes the whole path on (the service is told its base URL,
//! `globals.base_url`), `/rewrite-services/v1/…` passes only what follows the port (for services
//! declared with `rewritePath`). The runtime carries the request to the run: to a port on this
//! machine, or through the cluster's API server to the run's Service.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{Response, Uri};
use axum::routing::any;

use crate::runtime::RuntimeError;
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
    match state
        .runtime
        .proxy(&address.uuid, address.port, request)
        .await
    {
        Ok(response) => Ok(response),
        Err(RuntimeError::NotActive) => Err(AppError::Conflict(format!(
            "run {} is not running, or does not listen on port {}",
            address.uuid, address.port
        ))),
        Err(RuntimeError::Failed(message)) => Err(AppError::BadGateway(message)),
    }
}
