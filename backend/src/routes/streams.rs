//! Polyaxon's streams service: runs' logs, polled with a time cursor, and artifact uploads
//! (events are in `events.rs`).

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value as Json_, json};
use shared::api::{ArtifactTree, LogBatch, Logs};
use shared::time::Timestamp;
use tokio::sync::broadcast;

use super::run_uuid;
use crate::artifacts::Locate;
use crate::store::RunEvent;
use crate::{AppError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/{namespace}/{owner}/{project}/runs/{uuid}/logs",
            get(logs),
        )
        .route(
            "/v1/{namespace}/{owner}/{project}/runs/{uuid}/logs/ws",
            get(logs_socket),
        )
        .route(
            "/v1/{namespace}/{owner}/{project}/runs/{uuid}/artifact",
            // Models and datasets are large: the upload streams to disk, whatever its size, and
            // so does the download.
            get(download)
                .post(upload)
                .delete(delete_artifact)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/v1/{namespace}/{owner}/{project}/runs/{uuid}/artifacts/tree",
            get(tree),
        )
        .route(
            "/v1/{namespace}/{owner}/{project}/runs/{uuid}/artifacts",
            // A folder, packed: downloaded (`ops artifacts`, `ops pull`) or uploaded to unpack
            // (`polyaxon run -u`, `ops upload`).
            get(archive)
                .post(upload)
                .delete(delete_artifacts)
                .layer(DefaultBodyLimit::disable()),
        )
}

/// The most lines one answer carries; the client asks again from the last one.
const MAX_LINES: usize = 5_000;

#[derive(Debug, Deserialize)]
struct LogsParams {
    last_time: Option<String>,
}

/// The lines printed after `last_time` (every line without it).
///
/// The answer's `last_time` is the cursor of the next poll: the last line's time, or the same
/// cursor again when nothing new was printed. It is null only once a run has ended and every
/// line has been sent, which is how Polyaxon's client knows to stop following.
async fn logs(
    State(state): State<AppState>,
    Path((_namespace, owner, project, uuid)): Path<(String, String, String, String)>,
    params: Result<Query<LogsParams>, QueryRejection>,
) -> Result<Json<Logs>, AppError> {
    let Query(params) = params?;
    let uuid = run_uuid(&uuid)?;
    let after = params
        .last_time
        .as_deref()
        .filter(|text| !text.is_empty())
        .map(|text| {
            Timestamp::parse(text).ok_or_else(|| {
                AppError::BadRequest(format!(
                    "`last_time` must be a time such as 2024-01-02T03:04:05.000000+0000, not `{text}`"
                ))
            })
        })
        .transpose()?;
    // The status is read before the lines: a run seen ended has written every line.
    let run = state.store.run(&owner, &project, &uuid).await?.run;
    let mut lines = state
        .artifacts
        .read_logs(&uuid, after)
        .await
        .map_err(|error| AppError::Internal(format!("cannot read the run's logs: {error}")))?;
    let complete = lines.len() <= MAX_LINES;
    lines.truncate(MAX_LINES);
    let last_time = match lines.last() {
        _ if run.status.is_done() && complete => None,
        Some(line) => Some(line.timestamp),
        None => Some(after.unwrap_or(run.created_at)),
    };
    Ok(Json(Logs {
        logs: lines,
        last_time,
        last_file: None,
        files: Vec::new(),
    }))
}

#[derive(Debug, Deserialize)]
struct SocketParams {
    cursor: Option<String>,
}

/// How many lines one message of the log stream carries at most.
const BATCH_LINES: usize = 1_000;
/// What a logs socket reads into. Its client sends nothing but a close or a ping, so this is
/// far below the 128 KiB default, which every idle socket would otherwise hold filled with zeros;
/// a larger frame still reads, into a buffer grown for it.
const CLIENT_READ_BUFFER: usize = 4 * 1024;

/// A run's logs as a stream: what was printed (after `cursor`), then each line as it is
/// printed, then a last message with the final status. Every message carries the cursor that
/// resumes right after it. The next batch is read only once the last one is sent, so a slow
/// client slows the stream instead of making the server hold lines for it. Once it has sent
/// everything, the stream sleeps until lines are written or the run changes: an idle socket
/// costs no reads.
async fn logs_socket(
    State(state): State<AppState>,
    Path((_namespace, owner, project, uuid)): Path<(String, String, String, String)>,
    params: Result<Query<SocketParams>, QueryRejection>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, AppError> {
    let Query(params) = params?;
    let uuid = run_uuid(&uuid)?;
    state.store.run(&owner, &project, &uuid).await?;
    let cursor = params
        .cursor
        .as_deref()
        .unwrap_or_default()
        .parse()
        .map_err(AppError::BadRequest)?;
    Ok(upgrade
        .read_buffer_size(CLIENT_READ_BUFFER)
        .on_upgrade(move |socket| stream_logs(socket, state, uuid, cursor)))
}

async fn stream_logs(
    mut socket: WebSocket,
    state: AppState,
    uuid: String,
    mut cursor: crate::artifacts::LogCursor,
) {
    // Both are watched from before the first read, so no write or change after a read is missed.
    let mut writes = state.artifacts.log_writes(&uuid);
    let mut changes = state.run_events.subscribe();
    loop {
        writes.seen();
        // The status is read before the lines: a run seen ended has written every line.
        let Ok(stored) = state.store.run_by_uuid(&uuid).await else {
            return;
        };
        let status = stored.run.status;
        let Ok((lines, next)) = state
            .artifacts
            .read_logs_from(&uuid, &cursor, BATCH_LINES)
            .await
        else {
            return;
        };
        cursor = next;
        let finished = status.is_done() && lines.is_empty();
        if !lines.is_empty() || finished {
            let batch = LogBatch {
                lines,
                cursor: cursor.to_string(),
                done: finished.then_some(status),
            };
            let text = serde_json::to_string(&batch).expect("a log batch serialises");
            if socket.send(Message::Text(text.into())).await.is_err() {
                return;
            }
            if finished {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
            continue;
        }
        tokio::select! {
            () = writes.next() => {}
            () = run_changed(&mut changes, &uuid) => {}
            message = socket.recv() => match message {
                None | Some(Err(_) | Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Waits for a change to run `uuid`, or for changes that were missed (one of them may be its).
async fn run_changed(changes: &mut broadcast::Receiver<RunEvent>, uuid: &str) {
    loop {
        match changes.recv().await {
            Ok(event) if event.uuid != uuid => {}
            // The store outlives every socket; were it gone, nothing would change any more.
            Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => return,
        }
    }
}

/// Where an upload goes, as the client's `json` field says.
#[derive(Debug, Deserialize)]
struct UploadSpec {
    /// A folder relative to the run's artifacts.
    #[serde(default)]
    path: String,
    /// The file is a `.tar.gz` to unpack there.
    #[serde(default)]
    untar: bool,
    /// Replace a file that is there.
    #[serde(default = "yes")]
    overwrite: bool,
}

fn yes() -> bool {
    true
}

/// A file for a run's artifacts, as the tracking client's sync sends it: multipart with the
/// file in `upload_file` (its name is the client's path; only the last part is kept) and the
/// destination in `json`.
async fn upload(
    State(state): State<AppState>,
    Path((_namespace, owner, project, uuid)): Path<(String, String, String, String)>,
    mut multipart: Multipart,
) -> Result<Json<Json_>, AppError> {
    let uuid = run_uuid(&uuid)?;
    state.store.run(&owner, &project, &uuid).await?;
    let bad = |error: axum::extract::multipart::MultipartError| {
        AppError::BadRequest(format!("the upload is not valid multipart: {error}"))
    };
    let mut spec: Option<UploadSpec> = None;
    let mut received: Option<(String, crate::artifacts::Upload)> = None;
    while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
        match field.name() {
            Some("json") => {
                let text = field.text().await.map_err(bad)?;
                spec = Some(serde_json::from_str(&text).map_err(|error| {
                    AppError::BadRequest(format!("the `json` field is not valid: {error}"))
                })?);
            }
            Some("upload_file") => {
                let name = field
                    .file_name()
                    .and_then(|name| name.rsplit(['/', '\\']).next())
                    .filter(|name| !name.is_empty() && *name != "." && *name != "..")
                    .ok_or_else(|| {
                        AppError::BadRequest("`upload_file` needs a file name".to_owned())
                    })?
                    .to_owned();
                let mut upload = state
                    .artifacts
                    .start_upload(&uuid)
                    .await
                    .map_err(internal)?;
                while let Some(chunk) = field.chunk().await.map_err(bad)? {
                    upload.write(&chunk).await.map_err(internal)?;
                }
                received = Some((name, upload));
            }
            _ => {}
        }
    }
    let spec =
        spec.ok_or_else(|| AppError::BadRequest("the upload has no `json` field".to_owned()))?;
    let (name, upload) = received
        .ok_or_else(|| AppError::BadRequest("the upload has no `upload_file` field".to_owned()))?;
    upload
        .finish(&spec.path, &name, spec.untar, spec.overwrite)
        .await
        .map_err(AppError::BadRequest)?;
    Ok(Json(json!({})))
}

fn internal(error: std::io::Error) -> AppError {
    AppError::Internal(format!("cannot store the upload: {error}"))
}

#[derive(Debug, Deserialize)]
struct ArtifactParams {
    #[serde(default)]
    path: String,
    /// Sent as a file to save rather than shown (`Content-Disposition: attachment`).
    #[serde(default)]
    download: bool,
}

fn located(error: Locate) -> AppError {
    match error {
        Locate::Outside(_) => AppError::BadRequest(error.to_string()),
        Locate::Missing(_) => AppError::NotFound(error.to_string()),
        Locate::Unreadable(_) => AppError::Internal(error.to_string()),
    }
}

/// A folder of a run's artifacts: `{"files": {name: size}, "dirs": [name]}`.
async fn tree(
    State(state): State<AppState>,
    Path((_namespace, owner, project, uuid)): Path<(String, String, String, String)>,
    params: Result<Query<ArtifactParams>, QueryRejection>,
) -> Result<Json<ArtifactTree>, AppError> {
    let Query(params) = params?;
    let uuid = run_uuid(&uuid)?;
    state.store.run(&owner, &project, &uuid).await?;
    let tree = state
        .artifacts
        .tree(&uuid, &params.path)
        .await
        .map_err(located)?;
    Ok(Json(tree))
}

#[derive(Debug, Deserialize)]
struct ArchiveParams {
    #[serde(default)]
    path: String,
    /// When `path` may name a file, which is then sent as it is rather than archived (Python's
    /// `True`, as the client's lineage downloads send it; `check_file` in older clients).
    check_path: Option<String>,
    check_file: Option<String>,
}

/// A folder of a run's artifacts (all of them when `path` is empty) as a `.tar.gz` of what is in
/// it, as `polyaxon ops artifacts` and `ops pull` download them; a file alone when `path` names
/// one. The archive is packed as it is sent, so none of it is held in memory or on disk.
async fn archive(
    State(state): State<AppState>,
    Path((_namespace, owner, project, uuid)): Path<(String, String, String, String)>,
    params: Result<Query<ArchiveParams>, QueryRejection>,
    request: axum::extract::Request,
) -> Result<Response, AppError> {
    let Query(params) = params?;
    let uuid = run_uuid(&uuid)?;
    state.store.run(&owner, &project, &uuid).await?;
    let found = state
        .artifacts
        .locate(&uuid, &params.path)
        .await
        .map_err(located)?;
    let is_true = |flag: &Option<String>| {
        flag.as_deref()
            .is_some_and(|text| matches!(text.to_ascii_lowercase().as_str(), "true" | "1"))
    };
    if found.is_file() && (is_true(&params.check_path) || is_true(&params.check_file)) {
        return serve_file(&found, false, request).await;
    }
    let name = params
        .path
        .trim_matches('/')
        .rsplit('/')
        .next()
        .filter(|last| !last.is_empty())
        .unwrap_or(&uuid)
        .replace('"', "");
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(8);
    tokio::task::spawn_blocking(move || {
        let chunks = ChunkSender(sender.clone());
        let packed = pack(&found, std::io::BufWriter::with_capacity(64 * 1024, chunks));
        if let Err(error) = packed {
            tracing::warn!(%error, folder = %found.display(), "cannot pack a run's artifacts");
            // Ends the response early: the client sees a broken archive, not a short one.
            let _ = sender.blocking_send(Err(error));
        }
    });
    let chunks = futures_util::stream::poll_fn(move |context| receiver.poll_recv(context));
    let mut response = Response::new(axum::body::Body::from_stream(chunks));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/gzip"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("inline; filename=\"{name}.tar.gz\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// Writes what it is given to a response body, chunk by chunk; fails once the client is gone.
struct ChunkSender(tokio::sync::mpsc::Sender<std::io::Result<Bytes>>);

impl std::io::Write for ChunkSender {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buffer)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client left"))?;
        Ok(buffer.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Packs `found` (a folder's contents, or a file) as a gzipped tar into `into`.
fn pack(found: &std::path::Path, into: impl std::io::Write) -> std::io::Result<()> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        into,
        flate2::Compression::fast(),
    ));
    if found.is_file() {
        let name = found.file_name().map(std::path::PathBuf::from);
        add_file(&mut tar, found, &name.unwrap_or_default())?;
    } else {
        add_folder(&mut tar, found, std::path::Path::new(""))?;
    }
    tar.into_inner()?.finish()?.flush()
}

/// Adds what `folder` holds under `inside`. Links are kept as links, so nothing outside the
/// run's folder is read; an entry that goes while the folder is read (a finished upload's
/// temporary file) is passed over.
fn add_folder<W: std::io::Write>(
    tar: &mut tar::Builder<W>,
    folder: &std::path::Path,
    inside: &std::path::Path,
) -> std::io::Result<()> {
    let mut entries = std::fs::read_dir(folder)?.collect::<std::io::Result<Vec<_>>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name();
        // An upload still being received is not an artifact yet.
        if name.to_string_lossy().starts_with(".upload-") {
            continue;
        }
        let (path, archived) = (entry.path(), inside.join(&name));
        let added = match entry.file_type()? {
            kind if kind.is_dir() => tar
                .append_dir(&archived, &path)
                .and_then(|()| add_folder(tar, &path, &archived)),
            kind if kind.is_symlink() => add_link(tar, &path, &archived),
            kind if kind.is_file() => add_file(tar, &path, &archived),
            _ => Ok(()),
        };
        match added {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    Ok(())
}

/// Adds a file with the size it has now: a file still written to (a running run's log) gets
/// that many bytes, and one cut short meanwhile is padded, so the archive stays well formed.
fn add_file<W: std::io::Write>(
    tar: &mut tar::Builder<W>,
    path: &std::path::Path,
    archived: &std::path::Path,
) -> std::io::Result<()> {
    use std::io::Read as _;

    let file = std::fs::File::open(path)?;
    let metadata = file.metadata()?;
    let mut header = tar::Header::new_gnu();
    header.set_metadata(&metadata);
    let size = metadata.len();
    let data = file.take(size).chain(std::io::repeat(0)).take(size);
    tar.append_data(&mut header, archived, data)
}

fn add_link<W: std::io::Write>(
    tar: &mut tar::Builder<W>,
    path: &std::path::Path,
    archived: &std::path::Path,
) -> std::io::Result<()> {
    let target = std::fs::read_link(path)?;
    let mut header = tar::Header::new_gnu();
    header.set_metadata(&std::fs::symlink_metadata(path)?);
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_size(0);
    tar.append_link(&mut header, archived, target)
}

/// One of a run's artifact files, streamed from disk (ranges and type as the file server
/// gives them).
/// `DELETE …/artifact?path=`: one file of the run's artifacts.
async fn delete_artifact(
    State(state): State<AppState>,
    Path((_namespace, owner, project, uuid)): Path<(String, String, String, String)>,
    params: Result<Query<ArtifactParams>, QueryRejection>,
) -> Result<StatusCode, AppError> {
    let Query(params) = params?;
    let instead = "delete it from `…/artifacts`";
    let (uuid, _) = run_file(&state, (&owner, &project, &uuid), &params.path, instead).await?;
    state
        .artifacts
        .delete(&uuid, &params.path)
        .await
        .map_err(located)?;
    Ok(StatusCode::NO_CONTENT)
}

/// A run's uuid and the file at `path` of its artifacts, for a run of the project; a folder is
/// refused, saying what to do `instead`.
async fn run_file(
    state: &AppState,
    (owner, project, uuid): (&str, &str, &str),
    path: &str,
    instead: &str,
) -> Result<(String, std::path::PathBuf), AppError> {
    let uuid = run_uuid(uuid)?;
    state.store.run(owner, project, &uuid).await?;
    let file = state.artifacts.locate(&uuid, path).await.map_err(located)?;
    if !file.is_file() {
        return Err(AppError::BadRequest(format!(
            "`{path}` is a folder: {instead}"
        )));
    }
    Ok((uuid, file))
}

/// `DELETE …/artifacts?path=`: a folder of the run's artifacts, all of them without `path`.
async fn delete_artifacts(
    State(state): State<AppState>,
    Path((_namespace, owner, project, uuid)): Path<(String, String, String, String)>,
    params: Result<Query<ArtifactParams>, QueryRejection>,
) -> Result<StatusCode, AppError> {
    let Query(params) = params?;
    let uuid = run_uuid(&uuid)?;
    state.store.run(&owner, &project, &uuid).await?;
    state
        .artifacts
        .delete(&uuid, &params.path)
        .await
        .map_err(located)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn download(
    State(state): State<AppState>,
    Path((_namespace, owner, project, uuid)): Path<(String, String, String, String)>,
    params: Result<Query<ArtifactParams>, QueryRejection>,
    request: axum::extract::Request,
) -> Result<Response, AppError> {
    let Query(params) = params?;
    let instead = "download its files one by one, or all of them from `…/artifacts`";
    let (_, file) = run_file(&state, (&owner, &project, &uuid), &params.path, instead).await?;
    serve_file(&file, params.download, request).await
}

/// A file, from disk, with ranges and its type as the file server gives them; as a file to save
/// (`Content-Disposition: attachment`) when `download`.
async fn serve_file(
    file: &std::path::Path,
    download: bool,
    request: axum::extract::Request,
) -> Result<Response, AppError> {
    use tower::ServiceExt as _;

    let name = file
        .file_name()
        .map(|name| name.to_string_lossy().replace('"', ""))
        .unwrap_or_default();
    let served = tower_http::services::ServeFile::new(file)
        .oneshot(request)
        .await
        .map_err(|error| AppError::Internal(error.to_string()))?;
    let mut response = served.map(axum::body::Body::new);
    if download
        && let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
    {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
