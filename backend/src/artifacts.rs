//! Runs' artifacts: one folder per run under the artifacts root, laid out as Polyaxon lays out
//! its artifacts store (`{uuid}/outputs`, `{uuid}/events`, `{uuid}/plxlogs`, …).
//!
//! Logs are kept as Polyaxon keeps them: JSON lines in `{uuid}/plxlogs/{pod}.jsonl`, one file
//! per pod (or process). Lines are appended as they are printed, so what a run printed survives
//! the run, its pod and the server; the API serves live and finished runs from the same files.
//! Whoever follows a run's logs is woken by [`LogWrites`] when lines are written, rather than
//! looking at the files again and again.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use shared::api::{ArtifactTree, LogLine};
use shared::time::Timestamp;
use tokio::sync::{mpsc, watch};

use crate::clock;

/// The artifacts of every run, under one root.
#[derive(Debug, Clone)]
pub struct Artifacts {
    root: PathBuf,
    /// Per run, the channel that tells its log readers of lines written, while anyone holds it.
    log_channels: Arc<Mutex<HashMap<String, Weak<watch::Sender<()>>>>>,
}

/// The writer of one pod's log file.
#[derive(Debug)]
pub struct LogWriter {
    sender: mpsc::Sender<Captured>,
    task: tokio::task::JoinHandle<()>,
    cut: watch::Receiver<Option<LogCut>>,
}

impl LogWriter {
    /// Where to send lines.
    pub fn sender(&self) -> mpsc::Sender<Captured> {
        self.sender.clone()
    }

    /// Resolves if the file cannot be written any more (a full disk): from then on, lines sent
    /// are not kept. Never resolves for a writer that keeps every line.
    pub async fn cut(&self) -> LogCut {
        let mut cut = self.cut.clone();
        let found = cut
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|cut| cut.clone());
        match found {
            Some(cut) => cut,
            // The writer ended without being cut.
            None => std::future::pending().await,
        }
    }

    /// Waits until every line sent so far (by every sender, which must be dropped by now) is in
    /// the file: a run's final status is reported only after its last line is readable. Says
    /// where the file was cut, if it was.
    pub async fn close(self) -> Option<LogCut> {
        drop(self.sender);
        let _ = self.task.await;
        self.cut.borrow().clone()
    }
}

/// Where a pod's log file stopped because it could not be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogCut {
    /// The artifacts store's folder, which holds the file.
    pub folder: PathBuf,
    /// Whether the disk holding it is full (or its quota spent).
    pub disk_full: bool,
    /// The error the write met.
    pub error: String,
    /// How many lines the file holds: the logs stop after this one.
    pub lines: u64,
    /// When the last line kept was stamped.
    pub last: Option<Timestamp>,
}

impl LogCut {
    /// What happened, as a run's status message says it.
    pub fn describe(&self) -> String {
        if self.disk_full {
            format!(
                "the disk holding {} is full: the run's output could not be kept; its logs stop at line {}",
                self.folder.display(),
                self.lines
            )
        } else {
            format!(
                "the run's logs could not be written to {} ({}): its output could not be kept; its logs stop at line {}",
                self.folder.display(),
                self.error,
                self.lines
            )
        }
    }
}

/// Whether `error` says a disk is full or a quota spent.
pub fn is_disk_full(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// Wakes a reader of one run's logs when lines are written to them.
#[derive(Debug)]
pub struct LogWrites {
    receiver: watch::Receiver<()>,
    /// Held so that the channel lives while the reader does, through writers that come and go.
    _channel: Arc<watch::Sender<()>>,
}

impl LogWrites {
    /// Takes every write so far as seen. Called before reading the logs, it makes [`Self::next`]
    /// wait only for lines that reading may have missed.
    pub fn seen(&mut self) {
        self.receiver.mark_unchanged();
    }

    /// Waits until lines are written after the last [`Self::seen`] (at once if some were).
    pub async fn next(&mut self) {
        // The sender is `_channel`, so the channel cannot close while this waits.
        let _ = self.receiver.changed().await;
    }
}

/// One line as a runtime captured it, before it is stamped and written.
#[derive(Debug, Clone)]
pub struct Captured {
    /// The container that printed it.
    pub container: String,
    /// The text, without its newline.
    pub value: String,
    /// Where the line came from, written down once the line is in the archive.
    pub mark: Option<Mark>,
    /// When it was printed, if its source says (a kubelet does); otherwise it is stamped when
    /// the writer receives it. Lines of several pods then merge in the order they were printed,
    /// however late one pod's log was read.
    pub printed: Option<Timestamp>,
}

/// How far into a source file (a process's captured output) the archive has read: once a line
/// is written, its mark's offset is saved to the mark's file, so whoever reads the source again
/// (a restarted server) resumes right after the last archived line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// The file that keeps the offset.
    pub file: Arc<Path>,
    /// The byte offset in the source just past the line.
    pub offset: u64,
}

impl Mark {
    /// The offset saved in `file`, or 0 when nothing was archived yet.
    pub fn saved(file: &Path) -> u64 {
        std::fs::read_to_string(file)
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(0)
    }

    fn save(&self) -> std::io::Result<()> {
        // Written aside and renamed, so a crash leaves the old offset or the new, never half.
        let aside = self.file.with_extension("saving");
        std::fs::write(&aside, self.offset.to_string())?;
        std::fs::rename(aside, &self.file)
    }
}

impl Artifacts {
    /// The artifacts under `root`: a run's go to `root/{uuid}/`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            log_channels: Arc::default(),
        }
    }

    /// The folder of a run's artifacts.
    pub fn run_folder(&self, uuid: &str) -> PathBuf {
        self.root.join(uuid)
    }

    /// Where `path` (relative to run `uuid`'s artifacts, `""` for all of them) is on disk, or why
    /// it is not a place there: it must be relative, without `..`, exist, and still be inside the
    /// run's folder once links are followed, so no path reaches another run's files.
    pub async fn locate(&self, uuid: &str, path: &str) -> Result<PathBuf, Locate> {
        let relative = Path::new(path.trim_start_matches('/'));
        if relative
            .components()
            .any(|part| !matches!(part, std::path::Component::Normal(_)))
        {
            return Err(Locate::Outside(path.to_owned()));
        }
        let folder = self.run_folder(uuid);
        let missing = |_| Locate::Missing(path.to_owned());
        let root = tokio::fs::canonicalize(&folder).await.map_err(missing)?;
        let found = tokio::fs::canonicalize(folder.join(relative))
            .await
            .map_err(missing)?;
        if found.starts_with(&root) {
            Ok(found)
        } else {
            Err(Locate::Outside(path.to_owned()))
        }
    }

    /// What the folder `path` of run `uuid`'s artifacts holds (Polyaxon's `V1ArtifactTree`).
    pub async fn tree(&self, uuid: &str, path: &str) -> Result<ArtifactTree, Locate> {
        let folder = self.locate(uuid, path).await?;
        let mut entries = tokio::fs::read_dir(&folder)
            .await
            .map_err(|_| Locate::Missing(path.to_owned()))?;
        let mut tree = ArtifactTree::default();
        while let Some(entry) = entries.next_entry().await.map_err(Locate::Unreadable)? {
            let name = entry.file_name().to_string_lossy().into_owned();
            let metadata = entry.metadata().await.map_err(Locate::Unreadable)?;
            if metadata.is_dir() {
                tree.dirs.push(name);
            } else {
                tree.files.insert(name, metadata.len());
            }
        }
        tree.dirs.sort();
        Ok(tree)
    }

    /// Deletes `path` of run `uuid`'s artifacts: a file, or a folder with what it holds. The
    /// run's root (`""`) is emptied, not removed, so the run can go on writing.
    pub async fn delete(&self, uuid: &str, path: &str) -> Result<(), Locate> {
        let found = self.locate(uuid, path).await?;
        let root = tokio::fs::canonicalize(self.run_folder(uuid))
            .await
            .map_err(Locate::Unreadable)?;
        if found == root {
            let mut entries = tokio::fs::read_dir(&root)
                .await
                .map_err(Locate::Unreadable)?;
            while let Some(entry) = entries.next_entry().await.map_err(Locate::Unreadable)? {
                remove_entry(&entry.path())
                    .await
                    .map_err(Locate::Unreadable)?;
            }
            return Ok(());
        }
        remove_entry(&found).await.map_err(Locate::Unreadable)
    }

    /// Deletes everything a run left.
    pub async fn remove_run(&self, uuid: &str) -> std::io::Result<()> {
        match tokio::fs::remove_dir_all(self.run_folder(uuid)).await {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    /// Copies artifacts of run `from` into run `to`: the given paths (relative to the artifacts
    /// root, so they start with `from`'s uuid, as Polyaxon's clients write them), or everything
    /// but the logs when none are given. The error says which path is not allowed or missing.
    pub async fn copy_run(&self, from: &str, to: &str, paths: &[String]) -> Result<(), String> {
        let source = self.run_folder(from);
        let target = self.run_folder(to);
        let mut copies = Vec::new();
        if paths.is_empty() {
            for entry in std::fs::read_dir(&source).into_iter().flatten().flatten() {
                if entry.file_name() != "plxlogs" {
                    copies.push((entry.path(), target.join(entry.file_name())));
                }
            }
        }
        for path in paths {
            let relative = Path::new(path)
                .strip_prefix(from)
                .ok()
                .filter(|relative| {
                    relative
                        .components()
                        .all(|part| matches!(part, std::path::Component::Normal(_)))
                })
                .ok_or_else(|| format!("`{path}` is not a path inside run {from}'s artifacts"))?;
            let from_path = source.join(relative);
            if !from_path.exists() {
                return Err(format!("run {from} has no artifact `{path}`"));
            }
            copies.push((from_path, target.join(relative)));
        }
        tokio::task::spawn_blocking(move || {
            copies
                .iter()
                .try_for_each(|(from, to)| copy_recursively(from, to))
                .map_err(|error| format!("cannot copy the artifacts: {error}"))
        })
        .await
        .map_err(|error| error.to_string())?
    }

    /// Begins receiving a file for run `uuid`'s artifacts, into a temporary file beside them.
    pub async fn start_upload(&self, uuid: &str) -> std::io::Result<Upload> {
        let folder = self.run_folder(uuid);
        tokio::fs::create_dir_all(&folder).await?;
        let temporary = folder.join(format!(".upload-{}", clock::new_uuid()));
        let file = tokio::fs::File::create(&temporary).await?;
        Ok(Upload {
            run: folder,
            temporary,
            file,
        })
    }

    fn logs_folder(&self, uuid: &str) -> PathBuf {
        self.run_folder(uuid).join("plxlogs")
    }

    /// Starts the writer of one pod's log file. Each line is stamped when the writer receives
    /// it, strictly later than the line before, so a reader's "after this time" cursor never
    /// skips a line that shares a time with another.
    ///
    /// If the file cannot be written (a full disk), it is cut where the last whole line ends and
    /// the writer says so ([`LogWriter::cut`]); lines sent after that are not kept.
    pub fn log_writer(&self, uuid: &str, pod: &str, node: &str) -> std::io::Result<LogWriter> {
        let folder = self.logs_folder(uuid);
        std::fs::create_dir_all(&folder)?;
        let path = folder.join(format!("{pod}.jsonl"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        let (sender, receiver) = mpsc::channel(1024);
        let (cut_sender, cut) = watch::channel(None);
        let log = LogFile {
            path,
            root: self.root.clone(),
            pod: pod.to_owned(),
            node: node.to_owned(),
        };
        let written = self.log_channel(uuid);
        let task = tokio::task::spawn_blocking(move || {
            write_lines(file, receiver, &written, &log, &cut_sender);
        });
        Ok(LogWriter { sender, task, cut })
    }

    /// Whether run `uuid` has logs: a log file with something in it.
    pub fn has_logs(&self, uuid: &str) -> bool {
        std::fs::read_dir(self.logs_folder(uuid))
            .into_iter()
            .flatten()
            .flatten()
            .any(|entry| entry.metadata().is_ok_and(|meta| meta.len() > 0))
    }

    /// How many lines pod `pod` of run `uuid` has logged.
    pub fn log_lines(&self, uuid: &str, pod: &str) -> std::io::Result<u64> {
        let path = self.logs_folder(uuid).join(format!("{pod}.jsonl"));
        count_records(&path, u64::MAX)
    }

    /// Ends pod `pod`'s log, once it was `cut`, with a line saying that what the run printed
    /// after it was not kept and why. The line is stamped after the last kept one.
    pub fn mark_cut(&self, uuid: &str, pod: &str, node: &str, cut: &LogCut) -> std::io::Result<()> {
        let why = if cut.disk_full {
            format!("the disk holding {} was full", cut.folder.display())
        } else {
            cut.error.clone()
        };
        let now = clock::now();
        let line = LogLine {
            timestamp: match cut.last {
                Some(last) if last >= now => last.plus_micros(1),
                _ => now,
            },
            node: Some(node.to_owned()),
            pod: Some(pod.to_owned()),
            container: Some(shared::convert::MAIN_CONTAINER.to_owned()),
            value: format!("[myelin] the run's output after this line was not kept: {why}"),
        };
        let mut record = vec![b'\n'];
        serde_json::to_writer(&mut record, &line).map_err(std::io::Error::other)?;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(self.logs_folder(uuid).join(format!("{pod}.jsonl")))?;
        file.write_all(&record)?;
        self.log_channel(uuid).send_replace(());
        Ok(())
    }

    /// What wakes a reader of run `uuid`'s logs when lines are written to them.
    pub fn log_writes(&self, uuid: &str) -> LogWrites {
        let channel = self.log_channel(uuid);
        LogWrites {
            receiver: channel.subscribe(),
            _channel: channel,
        }
    }

    /// Run `uuid`'s channel for news of written lines, shared by its writers and readers.
    fn log_channel(&self, uuid: &str) -> Arc<watch::Sender<()>> {
        let mut channels = self
            .log_channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(channel) = channels.get(uuid).and_then(Weak::upgrade) {
            return channel;
        }
        // The channels of runs that nobody reads or writes any more go as new ones come.
        channels.retain(|_, channel| channel.strong_count() > 0);
        let channel = Arc::new(watch::Sender::new(()));
        channels.insert(uuid.to_owned(), Arc::downgrade(&channel));
        channel
    }

    /// The lines of a run past `cursor` (at most about `limit`), oldest first, and the cursor
    /// after them. A cursor counts bytes read in each pod's file, so unlike a time it never
    /// skips a line printed at the same instant in another pod, nor repeats one.
    pub async fn read_logs_from(
        &self,
        uuid: &str,
        cursor: &LogCursor,
        limit: usize,
    ) -> std::io::Result<(Vec<LogLine>, LogCursor)> {
        let folder = self.logs_folder(uuid);
        let cursor = cursor.clone();
        tokio::task::spawn_blocking(move || read_folder_from(&folder, cursor, limit))
            .await
            .map_err(std::io::Error::other)?
    }

    /// Every line of a run printed after `after` (all of them without it), oldest first, from
    /// every pod and container.
    pub async fn read_logs(
        &self,
        uuid: &str,
        after: Option<Timestamp>,
    ) -> std::io::Result<Vec<LogLine>> {
        let folder = self.logs_folder(uuid);
        tokio::task::spawn_blocking(move || read_folder(&folder, after))
            .await
            .map_err(std::io::Error::other)?
    }
}

/// Why a path is not one of a run's artifacts.
#[derive(Debug, thiserror::Error)]
pub enum Locate {
    /// It leads out of the run's folder.
    #[error("`{0}` is not a path inside the run's artifacts (relative, without `..`)")]
    Outside(String),
    /// Nothing is there.
    #[error("the run has no artifact at `{0}`")]
    Missing(String),
    /// The folder could not be read.
    #[error("cannot read the run's artifacts: {0}")]
    Unreadable(std::io::Error),
}

/// A file being received for a run's artifacts.
#[derive(Debug)]
pub struct Upload {
    run: PathBuf,
    temporary: PathBuf,
    file: tokio::fs::File,
}

impl Upload {
    /// Appends received bytes.
    pub async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt as _;
        self.file.write_all(bytes).await
    }

    /// Puts the file at `folder/name` under the run's artifacts, or unpacks it into `folder`
    /// when it is a `.tar.gz`. The error says what is not allowed.
    pub async fn finish(
        mut self,
        folder: &str,
        name: &str,
        untar: bool,
        overwrite: bool,
    ) -> Result<(), String> {
        use tokio::io::AsyncWriteExt as _;
        let result = async {
            self.file
                .flush()
                .await
                .map_err(|error| format!("cannot store the upload: {error}"))?;
            let relative = Path::new(folder);
            if !relative
                .components()
                .all(|part| matches!(part, std::path::Component::Normal(_)))
            {
                return Err(format!(
                    "`{folder}` is not a folder inside the run's artifacts"
                ));
            }
            let destination = self.run.join(relative);
            let (temporary, name) = (self.temporary.clone(), name.to_owned());
            tokio::task::spawn_blocking(move || {
                place(&temporary, &destination, &name, untar, overwrite)
            })
            .await
            .map_err(|error| error.to_string())?
        }
        .await;
        let _ = tokio::fs::remove_file(&self.temporary).await;
        result
    }
}

fn place(
    temporary: &Path,
    destination: &Path,
    name: &str,
    untar: bool,
    overwrite: bool,
) -> Result<(), String> {
    std::fs::create_dir_all(destination)
        .map_err(|error| format!("cannot create {}: {error}", destination.display()))?;
    if untar {
        let file = std::fs::File::open(temporary).map_err(|error| error.to_string())?;
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
        archive.set_overwrite(overwrite);
        // `unpack_in` refuses entries that would land outside the destination.
        for entry in archive
            .entries()
            .map_err(|error| format!("`{name}` is not a .tar.gz: {error}"))?
        {
            let mut entry = entry.map_err(|error| format!("`{name}` is not a .tar.gz: {error}"))?;
            entry
                .unpack_in(destination)
                .map_err(|error| format!("cannot unpack `{name}`: {error}"))?;
        }
        return Ok(());
    }
    let target = destination.join(name);
    if !overwrite && target.exists() {
        return Err(format!("`{name}` exists already and `overwrite` is false"));
    }
    std::fs::rename(temporary, &target).map_err(|error| format!("cannot store `{name}`: {error}"))
}

fn copy_recursively(from: &Path, to: &Path) -> std::io::Result<()> {
    if from.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_recursively(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(from, to).map(drop)
    }
}

/// One pod's log file, as its writer knows it.
struct LogFile {
    path: PathBuf,
    /// The artifacts store's folder.
    root: PathBuf,
    pod: String,
    node: String,
}

/// How many records the first `length` bytes of a log file hold: each starts with a newline.
fn count_records(path: &Path, length: u64) -> std::io::Result<u64> {
    use std::io::Read as _;
    let mut reader = std::fs::File::open(path)?.take(length);
    let mut chunk = vec![0; READ_CHUNK];
    let mut records = 0;
    loop {
        let read = reader.read(&mut chunk)?;
        if read == 0 {
            return Ok(records);
        }
        records += chunk[..read].iter().filter(|byte| **byte == b'\n').count() as u64;
    }
}

fn write_lines(
    mut file: std::fs::File,
    mut receiver: mpsc::Receiver<Captured>,
    written: &watch::Sender<()>,
    log: &LogFile,
    cut: &watch::Sender<Option<LogCut>>,
) {
    let (pod, node) = (log.pod.as_str(), log.node.as_str());
    let mut last = Timestamp::from_micros(i64::MIN);
    let mut kept_last = None;
    let mut length = file.metadata().map_or(0, |meta| meta.len());
    let mut mark_failed = false;
    let mut batch = Vec::new();
    while let Some(first) = receiver.blocking_recv() {
        // Whatever else is already waiting goes out in the same write.
        let mut lines = vec![first];
        while let Ok(more) = receiver.try_recv() {
            lines.push(more);
        }
        batch.clear();
        let mut marks: Vec<Mark> = Vec::new();
        for captured in lines {
            if let Some(mark) = captured.mark {
                match marks.iter_mut().find(|known| known.file == mark.file) {
                    Some(known) => known.offset = mark.offset,
                    None => marks.push(mark),
                }
            }
            let at = captured.printed.unwrap_or_else(clock::now);
            last = if at > last { at } else { last.plus_micros(1) };
            let line = LogLine {
                timestamp: last,
                node: Some(node.to_owned()),
                pod: Some(pod.to_owned()),
                container: Some(captured.container),
                value: captured.value,
            };
            // Polyaxon's writer puts the newline before each record.
            batch.push(b'\n');
            serde_json::to_writer(&mut batch, &line).expect("a log line serialises");
        }
        if let Err(error) = file.write_all(&batch) {
            // What was written of this batch is taken back, so the file ends with a whole line,
            // and the writer stops: lines after a gap would tell a wrong story.
            let _ = file.set_len(length);
            let lines = count_records(&log.path, length).unwrap_or_default();
            tracing::error!(%error, pod, lines, "cannot write a run's logs; they stop here");
            cut.send_replace(Some(LogCut {
                folder: log.root.clone(),
                disk_full: is_disk_full(&error),
                error: error.to_string(),
                lines,
                last: kept_last,
            }));
            return;
        }
        length += batch.len() as u64;
        kept_last = Some(last);
        written.send_replace(());
        for mark in marks {
            if let Err(error) = mark.save()
                && !mark_failed
            {
                // Said once: on a full disk it would be said for every line.
                mark_failed = true;
                tracing::error!(%error, pod, "cannot record how far a run's logs were read");
            }
        }
    }
}

/// How far a reader has read a run's logs: bytes per pod file. Written as `pod:offset,…`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogCursor {
    offsets: std::collections::BTreeMap<String, u64>,
}

impl std::fmt::Display for LogCursor {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .offsets
            .iter()
            .map(|(pod, offset)| format!("{pod}:{offset}"))
            .collect();
        formatter.write_str(&parts.join(","))
    }
}

impl std::str::FromStr for LogCursor {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut offsets = std::collections::BTreeMap::new();
        for part in text.split(',').filter(|part| !part.is_empty()) {
            let (pod, offset) = part
                .rsplit_once(':')
                .and_then(|(pod, offset)| Some((pod, offset.parse().ok()?)))
                .ok_or_else(|| format!("`{part}` is not a log cursor's `pod:offset`"))?;
            offsets.insert(pod.to_owned(), offset);
        }
        Ok(Self { offsets })
    }
}

/// How much of a pod's log file one read takes at most, and in what steps it reads.
const MAX_READ_PER_CALL: u64 = 4 * 1024 * 1024;
const READ_CHUNK: usize = 64 * 1024;

fn read_folder_from(
    folder: &Path,
    mut cursor: LogCursor,
    limit: usize,
) -> std::io::Result<(Vec<LogLine>, LogCursor)> {
    use std::io::{BufRead as _, Read as _, Seek as _};
    let mut files: Vec<PathBuf> = match std::fs::read_dir(folder) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| {
                path.extension()
                    .is_some_and(|extension| extension == "jsonl")
            })
            .collect(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(error) => return Err(error),
    };
    files.sort();
    let mut lines = Vec::new();
    for path in files {
        let pod = path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default();
        let start = cursor.offsets.get(&pod).copied().unwrap_or(0);
        let mut file = std::fs::File::open(&path)?;
        file.seek(std::io::SeekFrom::Start(start))?;
        // Read only as far as the lines taken: a reader that fell behind would otherwise copy
        // megabytes for each batch it takes.
        let mut reader =
            std::io::BufReader::with_capacity(READ_CHUNK, file.take(MAX_READ_PER_CALL));
        let mut segment = Vec::new();
        // Records are written as "\n{json}": one is complete when its JSON parses, which a
        // record still being written does not.
        let mut consumed = 0;
        let mut taken = 0;
        while taken < limit {
            segment.clear();
            if reader.read_until(b'\n', &mut segment)? == 0 {
                break;
            }
            let record = segment.strip_suffix(b"\n").unwrap_or(&segment);
            if !record.iter().all(u8::is_ascii_whitespace) {
                match serde_json::from_slice::<LogLine>(record) {
                    Ok(line) => {
                        lines.push(line);
                        taken += 1;
                    }
                    Err(_) if segment.len() == record.len() => break,
                    // A damaged record (a crash mid-write) is passed over.
                    Err(_) => {}
                }
            }
            consumed += segment.len();
        }
        cursor.offsets.insert(pod, start + consumed as u64);
    }
    lines.sort_by_key(|line| line.timestamp);
    Ok((lines, cursor))
}

fn read_folder(folder: &Path, after: Option<Timestamp>) -> std::io::Result<Vec<LogLine>> {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut lines = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path
            .extension()
            .is_some_and(|extension| extension == "jsonl")
        {
            let text = std::fs::read_to_string(&path)?;
            // A record still being written does not parse yet; it is read on the next call.
            lines.extend(
                text.lines()
                    .filter(|line| !line.trim().is_empty())
                    .filter_map(|line| serde_json::from_str::<LogLine>(line).ok())
                    .filter(|line| after.is_none_or(|after| line.timestamp > after)),
            );
        }
    }
    lines.sort_by_key(|line| line.timestamp);
    Ok(lines)
}

/// Removes a file or a folder with its contents; a link is removed, not followed.
async fn remove_entry(path: &Path) -> std::io::Result<()> {
    if tokio::fs::symlink_metadata(path).await?.is_dir() {
        tokio::fs::remove_dir_all(path).await
    } else {
        tokio::fs::remove_file(path).await
    }
}
