//! The server's HTTP surface, exercised through `backend::app` without a socket, plus one run
//! of `backend::serve` over a real socket to check start-up and graceful shutdown.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use http_body_util::BodyExt as _;
use shared::api::{ErrorBody, Health, HealthStatus};
use tower::ServiceExt as _;

/// A data folder and a fake built web app, removed when dropped.
struct Fixture {
    root: PathBuf,
}

impl Fixture {
    fn new(name: &str) -> Self {
        let root =
            std::env::temp_dir().join(format!("myelin-backend-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("dist")).unwrap();
        Self { root }
    }

    fn with_web_file(self, name: &str, contents: &[u8]) -> Self {
        std::fs::write(self.web_dir().join(name), contents).unwrap();
        self
    }

    fn web_dir(&self) -> PathBuf {
        self.root.join("dist")
    }

    fn config(&self) -> backend::Config {
        backend::Config::local(self.root.join("data"), self.web_dir())
    }

    async fn get(&self, path: &str) -> Response {
        self.request(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    async fn request(&self, request: Request<Body>) -> Response {
        let state = backend::AppState::open(self.config(), "http://127.0.0.1:9")
            .await
            .unwrap();
        backend::app(state).oneshot(request).await.unwrap()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

const INDEX: &[u8] = b"<!DOCTYPE html><title>Myelin</title>";

async fn body_bytes(response: Response) -> Vec<u8> {
    response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec()
}

fn header_of(response: &Response, name: header::HeaderName) -> Option<&str> {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap())
}

#[tokio::test]
async fn health_reports_the_server_version_as_json() {
    let fixture = Fixture::new("health");
    let response = fixture.get("/api/v1/health").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header_of(&response, header::CONTENT_TYPE),
        Some("application/json")
    );
    let health: Health = serde_json::from_slice(&body_bytes(response).await).unwrap();
    assert_eq!(health.status, HealthStatus::Ok);
    assert_eq!(health.version, backend::VERSION);
    assert_eq!(health.polyaxon_compat, "2.18.0");
}

#[tokio::test]
async fn unknown_api_paths_answer_a_json_404_not_the_app() {
    let fixture = Fixture::new("api-404").with_web_file("index.html", INDEX);
    let response = fixture.get("/api/v2/nothing/here").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let error: ErrorBody = serde_json::from_slice(&body_bytes(response).await).unwrap();
    assert_eq!(error.message, "no API route at /api/v2/nothing/here");
}

#[tokio::test]
async fn client_side_routes_get_the_app_which_is_always_revalidated() {
    let fixture = Fixture::new("spa").with_web_file("index.html", INDEX);
    for path in ["/", "/projects", "/runs/some-uuid", "/new"] {
        let response = fixture.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            header_of(&response, header::CACHE_CONTROL),
            Some("no-cache")
        );
        assert!(
            header_of(&response, header::CONTENT_TYPE)
                .is_some_and(|content_type| content_type.starts_with("text/html")),
            "{path}"
        );
        assert_eq!(body_bytes(response).await, INDEX, "{path}");
    }
}

#[tokio::test]
async fn a_missing_asset_is_a_404_not_the_app() {
    let fixture = Fixture::new("missing-asset").with_web_file("index.html", INDEX);
    let response = fixture.get("/frontend-0123456789abcdef.js").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn hashed_assets_are_cached_for_good_and_others_revalidated() {
    let fixture = Fixture::new("cache")
        .with_web_file("index.html", INDEX)
        .with_web_file("frontend-0123456789abcdef_bg.wasm", b"\0asm")
        .with_web_file("favicon.svg", b"<svg/>");
    let hashed = fixture.get("/frontend-0123456789abcdef_bg.wasm").await;
    assert_eq!(hashed.status(), StatusCode::OK);
    assert_eq!(
        header_of(&hashed, header::CACHE_CONTROL),
        Some("public, max-age=31536000, immutable")
    );
    let plain = fixture.get("/favicon.svg").await;
    assert_eq!(header_of(&plain, header::CACHE_CONTROL), Some("no-cache"));
}

#[tokio::test]
async fn precompressed_files_are_sent_to_browsers_that_accept_gzip() {
    let script = b"console.log('hello');".repeat(100);
    let gzipped = b"\x1f\x8b pretend gzip";
    let fixture = Fixture::new("gzip")
        .with_web_file("index.html", INDEX)
        .with_web_file("app-0123456789abcdef.js", &script)
        .with_web_file("app-0123456789abcdef.js.gz", gzipped);

    let request = Request::get("/app-0123456789abcdef.js")
        .header(header::ACCEPT_ENCODING, "gzip")
        .body(Body::empty())
        .unwrap();
    let response = fixture.request(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header_of(&response, header::CONTENT_ENCODING), Some("gzip"));
    assert_eq!(body_bytes(response).await, gzipped);

    let plain = fixture.get("/app-0123456789abcdef.js").await;
    assert_eq!(header_of(&plain, header::CONTENT_ENCODING), None);
    assert_eq!(body_bytes(plain).await, script);
}

#[tokio::test]
async fn pages_say_how_to_build_the_app_when_it_is_not_built() {
    let fixture = Fixture::new("unbuilt");
    let response = fixture.get("/projects").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = String::from_utf8(body_bytes(response).await).unwrap();
    assert!(text.contains("cargo xtask build"), "{text}");
}

#[tokio::test]
async fn serve_listens_creates_the_data_dir_and_stops_on_the_shutdown_signal() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let fixture = Fixture::new("serve");
    let data_dir = fixture.config().data_dir;
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(backend::serve(
        fixture.config(),
        move |addr| addr_tx.send(addr).unwrap(),
        async move {
            let _ = stop_rx.await;
        },
    ));
    let addr = addr_rx.await.unwrap();
    assert_ne!(
        addr.port(),
        0,
        "port 0 is replaced by the port the system picked"
    );
    assert!(Path::new(&data_dir).is_dir());

    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET /api/v1/health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
    assert!(
        reply.contains(&format!("\"version\":\"{}\"", backend::VERSION)),
        "{reply}"
    );

    stop_tx.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), server)
        .await
        .expect("the server stops once told to")
        .unwrap()
        .unwrap();
}
