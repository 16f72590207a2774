//! Serving the browser app that Trunk builds into `dist/`.
//!
//! Files are served as they are, or as their `.gz` sibling when the build wrote one and the
//! browser accepts gzip. Any other path without a file extension is a client-side route of the
//! single-page app, so it gets `index.html`; a missing path *with* an extension is a missing
//! asset and stays a 404, so a broken build shows up as a failed request, not as HTML parsed as
//! JavaScript.

use std::convert::Infallible;
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::service_fn;
use tower::util::{BoxCloneSyncService, ServiceExt};
use tower_http::services::{ServeDir, ServeFile};

/// The service answering every request that is not for the API.
pub fn service(web_dir: &Path) -> BoxCloneSyncService<Request, Response, Infallible> {
    let index = web_dir.join("index.html");
    let spa_fallback = service_fn(move |request: Request| {
        let index = index.clone();
        async move { Ok::<_, Infallible>(spa_route(index, request).await) }
    });
    let files = ServeDir::new(web_dir)
        .precompressed_gzip()
        .fallback(spa_fallback);
    let with_policy = service_fn(move |request: Request| {
        let path = request.uri().path().to_owned();
        let files = files.clone();
        async move {
            let response = match files.oneshot(request).await {
                Ok(response) => response.map(Body::new),
                Err(never) => match never {},
            };
            Ok::<_, Infallible>(with_cache_policy(&path, response))
        }
    });
    BoxCloneSyncService::new(with_policy)
}

async fn spa_route(index: PathBuf, request: Request) -> Response {
    let last_segment = request.uri().path().rsplit('/').next().unwrap_or_default();
    if last_segment.contains('.') {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    }
    if !index.is_file() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the Myelin web app is not built yet: run `cargo xtask build`, then reload",
        )
            .into_response();
    }
    match ServeFile::new(index)
        .precompressed_gzip()
        .oneshot(request)
        .await
    {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    }
}

/// Trunk names the assets it builds after a hash of their content (`frontend-<16 hex>_bg.wasm`),
/// so those can be cached for good. Everything else, `index.html` first, must be revalidated so
/// that a new build is picked up at once.
fn with_cache_policy(path: &str, mut response: Response) -> Response {
    if !response.status().is_success() {
        return response;
    }
    let policy = if has_content_hash(path) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    response
}

fn has_content_hash(path: &str) -> bool {
    let file_name = path.rsplit('/').next().unwrap_or_default();
    file_name
        .split(['-', '_', '.'])
        .any(|part| part.len() == 16 && part.bytes().all(|byte| byte.is_ascii_hexdigit()))
}
