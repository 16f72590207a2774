//! Runs' metrics as Polyaxon's tracking client writes them: traceml's event files in each run's
//! artifacts (`events/metric/NAME.plx`, and the system resources it measures in
//! `resources/metric/NAME.plx`), read as they grow, summed up in the store and cut down for
//! charts.
//!
//! Each file has a cursor kept in memory ([`shared::events::EventCursor`]): a read takes only
//! the bytes written since the last one, and a last line that no newline follows yet (traceml
//! writes the newline before each event, so its last line never has one) is shown as it is and
//! read again once the next event follows it. What a file's values come to
//! ([`MetricSummary`]) is kept up to date as it is read and recorded in the store, where run
//! lists show it and the query language filters on it (`metrics.loss.min:<0.1`). The values
//! themselves are kept in memory only for files whose series someone asked for, within a
//! budget of rows ([`MAX_KEPT_ROWS`]): the least recently used files' rows go first, to be
//! read again from the start if asked for again. A restarted server reads every file again
//! from its start, once.
//!
//! Summaries are refreshed while a run runs ([`follow`], every [`REFRESH`]), once more when it
//! ends, and whenever a series or summaries are asked for. Polyaxon's own event routes answer
//! with the file's text (`orient=csv`) or its columns with the timestamps as written
//! (`orient=dict`), which the cursors do not keep, so they read the file ([`Metrics::events`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read as _, Seek as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::Value as Json;
use shared::api::{
    MetricKind, MetricSummaries, MetricSummary, Series, SeriesRequest, SeriesResponse, Status,
    XAxis, XRange,
};
use shared::downsample::{
    Downsampled, Point, downsample, downsample_summary, sample_indices, spread_indices,
};
use shared::events::{EventCursor, MetricRow, metric_points};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::artifacts::Artifacts;
use crate::store::{MetricsRecord, RunEvent, Store, StoreError};

/// How often the series of running runs are read while they run.
pub const REFRESH: Duration = Duration::from_secs(2);

/// How many values are kept in memory for charts, across every file: about 40 bytes each.
pub const MAX_KEPT_ROWS: usize = 5_000_000;

/// How many values of one file are kept for charts; a longer series is charted up to there
/// (its summary still counts every value).
pub const MAX_KEPT_ROWS_PER_FILE: usize = 2_000_000;

/// How many files have a cursor in memory: a few hundred bytes each.
const MAX_TRACKED_FILES: usize = 100_000;

/// How many series of a kind one run may have; the first ones by name are read.
pub const MAX_NAMES_PER_RUN: usize = 1_000;

/// How deep a name's folders go: `train/loss` is one folder deep.
const MAX_NAME_DEPTH: usize = 8;

/// How much of a file one read takes at once.
const READ_CHUNK: usize = 8 << 20;

/// Runs' metrics: their files' cursors and kept values, and the store their summaries go to.
pub struct Metrics {
    artifacts: Artifacts,
    store: Arc<dyn Store>,
    /// Per run, its files' state by kind and name.
    files: Mutex<HashMap<String, RunFiles>>,
    /// Values kept across every file.
    kept_rows: AtomicUsize,
    /// Summary buckets kept across every file.
    kept_buckets: AtomicUsize,
    /// Counts uses, to tell the least recently used files.
    uses: AtomicU64,
    /// Held while summaries are recorded, so that the store never takes an older summary
    /// after a newer one.
    recording: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Metrics")
            .field("kept_rows", &self.kept_rows)
            .finish_non_exhaustive()
    }
}

/// A run's files' state, by kind and name.
type RunFiles = HashMap<(MetricKind, String), Arc<Mutex<Tracked>>>;

/// One event file: a run's series of a kind, by name.
#[derive(Debug, Clone)]
struct FileKey {
    run: String,
    kind: MetricKind,
    name: String,
}

/// How far a file was read, and what it holds.
#[derive(Debug, Default)]
struct Tracked {
    /// The file read (device and inode): another file in its place is read from its start.
    identity: (u64, u64),
    cursor: EventCursor,
    /// What the values read (the pending one aside) come to.
    confirmed: MetricSummary,
    /// The last line, which no newline follows yet.
    pending: Option<MetricRow>,
    /// The values read, then the pending one, when kept for charts.
    rows: Option<Vec<MetricRow>>,
    /// Whether the pending value is the last of `rows`.
    pending_kept: bool,
    /// The values read (the pending one aside) on the step axis, cut down, when kept for
    /// charts.
    summary_steps: Option<StepSummary>,
    /// Changes with every value read, so the store is given a summary only when it changed.
    version: u64,
    /// The version the store has.
    recorded: u64,
    /// When it was last used, on [`Metrics::uses`]' count.
    last_used: u64,
}

impl Tracked {
    /// What every value of the file comes to, the pending one included.
    fn summary(&self) -> MetricSummary {
        let mut summary = self.confirmed.clone();
        if let Some(pending) = &self.pending {
            summary.add(pending);
        }
        summary
    }

    fn kept(&self) -> usize {
        self.rows.as_ref().map_or(0, Vec::len)
    }

    fn kept_buckets(&self) -> usize {
        self.summary_steps
            .as_ref()
            .map_or(0, |summary| summary.buckets.len())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why a metric's name cannot be read, if it cannot: a name is a path below its kind's folder,
/// without `..`, so no name reaches another run's files.
pub fn check_name(name: &str) -> Result<(), String> {
    let path = Path::new(name);
    let plain = !name.is_empty()
        && name.len() <= 1024
        && !name.contains('\0')
        && path.components().count() <= MAX_NAME_DEPTH
        && path
            .components()
            .all(|part| matches!(part, Component::Normal(_)));
    if plain {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a metric's name: a name is a relative path without `.` or `..` parts"
        ))
    }
}

impl Metrics {
    /// The metrics of the runs in `artifacts`, their summaries recorded in `store`.
    pub fn new(artifacts: Artifacts, store: Arc<dyn Store>) -> Self {
        Self {
            artifacts,
            store,
            files: Mutex::default(),
            kept_rows: AtomicUsize::new(0),
            kept_buckets: AtomicUsize::new(0),
            uses: AtomicU64::new(0),
            recording: tokio::sync::Mutex::new(()),
        }
    }

    /// Where a run's series of `kind` are: `events/{kind}`, or `resources/metric` for Polyaxon's
    /// `system` kind.
    fn folder(&self, uuid: &str, kind: &str) -> PathBuf {
        let run = self.artifacts.run_folder(uuid);
        if kind == MetricKind::System.as_str() {
            run.join("resources").join("metric")
        } else {
            run.join("events").join(kind)
        }
    }

    /// The names of a run's series of `kind`, sorted: its `.plx` files, in folders for names
    /// with a `/`. At most [`MAX_NAMES_PER_RUN`].
    fn names_blocking(&self, uuid: &str, kind: &str) -> std::io::Result<Vec<String>> {
        let root = self.folder(uuid, kind);
        let mut names = Vec::new();
        let mut folders = vec![(root.clone(), 0)];
        while let Some((folder, depth)) = folders.pop() {
            let entries = match std::fs::read_dir(&folder) {
                Ok(entries) => entries,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(error) => return Err(error),
            };
            for entry in entries {
                let entry = entry?;
                let path = entry.path();
                if entry.file_type()?.is_dir() {
                    if depth + 1 < MAX_NAME_DEPTH {
                        folders.push((path, depth + 1));
                    }
                    continue;
                }
                let name = path
                    .strip_prefix(&root)
                    .ok()
                    .and_then(|relative| relative.to_str())
                    .and_then(|relative| relative.strip_suffix(".plx"));
                if let Some(name) = name.filter(|name| check_name(name).is_ok()) {
                    names.push(name.to_owned());
                }
            }
        }
        names.sort();
        if names.len() > MAX_NAMES_PER_RUN {
            tracing::warn!(
                uuid,
                kind,
                names = names.len(),
                "a run has more series than are read; the first {MAX_NAMES_PER_RUN} by name are"
            );
            names.truncate(MAX_NAMES_PER_RUN);
        }
        Ok(names)
    }

    /// The names of a run's series of `kind` (`metric`, `system`, `image`, …), sorted.
    pub async fn names(self: &Arc<Self>, uuid: &str, kind: &str) -> std::io::Result<Vec<String>> {
        let (metrics, uuid, kind) = (Arc::clone(self), uuid.to_owned(), kind.to_owned());
        blocking(move || metrics.names_blocking(&uuid, &kind)).await
    }

    /// Opens run `uuid`'s event file of `kind` and `name`: `None` when there is none, or when it
    /// is no file inside the run's folder once links are followed, since an upload unpacked
    /// there may hold links to anywhere on the server's disk.
    fn open(
        &self,
        uuid: &str,
        kind: &str,
        name: &str,
    ) -> std::io::Result<Option<(std::fs::File, std::fs::Metadata)>> {
        let missing = |error: std::io::Error| match error.kind() {
            std::io::ErrorKind::NotFound => Ok(None),
            _ => Err(error),
        };
        let path = self.folder(uuid, kind).join(format!("{name}.plx"));
        let (found, run) = match (
            std::fs::canonicalize(path),
            std::fs::canonicalize(self.artifacts.run_folder(uuid)),
        ) {
            (Ok(found), Ok(run)) => (found, run),
            (Err(error), _) | (_, Err(error)) => return missing(error),
        };
        if !found.starts_with(run) {
            return Ok(None);
        }
        let file = match std::fs::File::open(found) {
            Ok(file) => file,
            Err(error) => return missing(error),
        };
        let metadata = file.metadata()?;
        Ok(metadata.is_file().then_some((file, metadata)))
    }

    /// Reads what the file of `key` added since the last read, then hands its state to `use_it`;
    /// `None` when there is no such file. With `keep_rows`, the file's values are kept in
    /// memory (read again from the start if they were not); with `keep_summary`, its
    /// [`StepSummary`] (likewise).
    fn with_file<T>(
        &self,
        key: &FileKey,
        keep_rows: bool,
        keep_summary: bool,
        use_it: impl FnOnce(&Tracked) -> T,
    ) -> std::io::Result<Option<T>> {
        let Some((mut file, metadata)) = self.open(&key.run, key.kind.as_str(), &key.name)? else {
            self.forget_file(key);
            return Ok(None);
        };
        let entry = Arc::clone(
            lock(&self.files)
                .entry(key.run.clone())
                .or_default()
                .entry((key.kind, key.name.clone()))
                .or_default(),
        );
        let mut tracked = lock(&entry);
        tracked.last_used = self.uses.fetch_add(1, Ordering::Relaxed);
        let identity = (metadata.dev(), metadata.ino());
        let replaced = tracked.identity != identity || metadata.len() < tracked.cursor.offset();
        let rows_missing = keep_rows && tracked.rows.is_none();
        let summary_missing = keep_summary && tracked.summary_steps.is_none();
        if replaced || rows_missing || summary_missing {
            // What was kept is kept again, read from the start.
            let keep_rows = keep_rows || (!replaced && tracked.rows.is_some());
            let keep_summary = keep_summary || (!replaced && tracked.summary_steps.is_some());
            self.release_rows(&mut tracked);
            // The summary comes out the same from the same bytes: only its version moves.
            *tracked = Tracked {
                identity,
                rows: keep_rows.then(Vec::new),
                summary_steps: keep_summary.then(StepSummary::default),
                version: tracked.version + 1,
                recorded: tracked.recorded,
                last_used: tracked.last_used,
                ..Tracked::default()
            };
        }
        let (before, buckets_before) = (tracked.kept(), tracked.kept_buckets());
        let read = read_new(&mut tracked, &mut file, metadata.len(), key);
        let (after, buckets_after) = (tracked.kept(), tracked.kept_buckets());
        self.kept_rows.fetch_add(after, Ordering::Relaxed);
        self.kept_rows.fetch_sub(before, Ordering::Relaxed);
        self.kept_buckets
            .fetch_add(buckets_after, Ordering::Relaxed);
        self.kept_buckets
            .fetch_sub(buckets_before, Ordering::Relaxed);
        read?;
        Ok(Some(use_it(&tracked)))
    }

    /// Gives back the rows and summary buckets a file kept to the budgets.
    fn release_rows(&self, tracked: &mut Tracked) {
        if let Some(rows) = tracked.rows.take() {
            self.kept_rows.fetch_sub(rows.len(), Ordering::Relaxed);
        }
        self.release_summary(tracked);
    }

    /// Gives back the summary buckets a file kept to the budget.
    fn release_summary(&self, tracked: &mut Tracked) {
        if let Some(summary) = tracked.summary_steps.take() {
            self.kept_buckets
                .fetch_sub(summary.buckets.len(), Ordering::Relaxed);
        }
    }

    fn forget_file(&self, key: &FileKey) {
        let removed = {
            let mut files = lock(&self.files);
            let Some(run) = files.get_mut(&key.run) else {
                return;
            };
            let removed = run.remove(&(key.kind, key.name.clone()));
            if run.is_empty() {
                files.remove(&key.run);
            }
            removed
        };
        if let Some(entry) = removed {
            self.release_rows(&mut lock(&entry));
        }
    }

    /// Forgets what was read of a run's files (a deleted run).
    pub fn forget(&self, uuid: &str) {
        let removed = lock(&self.files).remove(uuid);
        for entry in removed.into_iter().flat_map(RunFiles::into_values) {
            self.release_rows(&mut lock(&entry));
        }
    }

    /// Every file's state, with the file it is of.
    fn every_file(&self) -> Vec<(FileKey, Arc<Mutex<Tracked>>)> {
        let files = lock(&self.files);
        let mut every = Vec::new();
        for (run, run_files) in files.iter() {
            every.extend(run_files.iter().map(|((kind, name), entry)| {
                let key = FileKey {
                    run: run.clone(),
                    kind: *kind,
                    name: name.clone(),
                };
                (key, Arc::clone(entry))
            }));
        }
        every
    }

    /// Keeps memory within [`MAX_KEPT_ROWS`] and [`MAX_TRACKED_FILES`]: the rows of the least
    /// recently used files go first, then, past the count of files, their cursors.
    fn trim(&self) {
        let count = || lock(&self.files).values().map(HashMap::len).sum::<usize>();
        let over_rows = || self.kept_rows.load(Ordering::Relaxed) > MAX_KEPT_ROWS;
        let over_buckets = || self.kept_buckets.load(Ordering::Relaxed) > MAX_SUMMARY_BUCKETS;
        if !over_rows() && !over_buckets() && count() <= MAX_TRACKED_FILES {
            return;
        }
        // A file in use is newer than any other: it is left alone.
        let mut by_use: Vec<(u64, FileKey, Arc<Mutex<Tracked>>)> = self
            .every_file()
            .into_iter()
            .filter_map(|(key, entry)| {
                let last_used = entry.try_lock().ok()?.last_used;
                Some((last_used, key, entry))
            })
            .collect();
        by_use.sort_unstable_by_key(|(last_used, _, _)| *last_used);
        let mut files_over = count().saturating_sub(MAX_TRACKED_FILES);
        for (_, key, entry) in by_use {
            if files_over > 0 {
                self.forget_file(&key);
                files_over -= 1;
            } else if over_rows() || over_buckets() {
                if let Ok(mut tracked) = entry.try_lock() {
                    if over_rows()
                        && let Some(rows) = tracked.rows.take()
                    {
                        self.kept_rows.fetch_sub(rows.len(), Ordering::Relaxed);
                    }
                    if over_buckets() {
                        self.release_summary(&mut tracked);
                    }
                }
            } else {
                return;
            }
        }
    }

    /// Reads what run `uuid`'s series of `kind` added; their summaries by name.
    fn refresh_blocking(
        &self,
        uuid: &str,
        kind: MetricKind,
    ) -> std::io::Result<BTreeMap<String, MetricSummary>> {
        let mut summaries = BTreeMap::new();
        for name in self.names_blocking(uuid, kind.as_str())? {
            let key = FileKey {
                run: uuid.to_owned(),
                kind,
                name,
            };
            if let Some(summary) = self.with_file(&key, false, false, Tracked::summary)? {
                summaries.insert(key.name, summary);
            }
        }
        Ok(summaries)
    }

    /// Reads what run `uuid`'s files added since the last read, and records the summaries that
    /// changed.
    pub async fn refresh(self: &Arc<Self>, uuid: &str) -> Result<(), MetricsError> {
        let (metrics, run) = (Arc::clone(self), uuid.to_owned());
        blocking(move || {
            for kind in [MetricKind::Metric, MetricKind::System] {
                metrics.refresh_blocking(&run, kind)?;
            }
            metrics.trim();
            Ok(())
        })
        .await?;
        self.record(&[uuid.to_owned()]).await
    }

    /// Gives the store the summaries of `runs`' files that changed since it last took them.
    async fn record(&self, runs: &[String]) -> Result<(), MetricsError> {
        let _recording = self.recording.lock().await;
        let mut records: BTreeMap<(&str, MetricKind), MetricsRecord> = BTreeMap::new();
        // Each file's state and the version the store is given.
        let mut versions = Vec::new();
        for run in runs {
            let entries: RunFiles = lock(&self.files).get(run).cloned().unwrap_or_default();
            for ((kind, name), entry) in entries {
                let tracked = lock(&entry);
                if tracked.version != tracked.recorded {
                    let record = records.entry((run, kind)).or_insert_with(|| MetricsRecord {
                        uuid: run.clone(),
                        kind,
                        summaries: Vec::new(),
                    });
                    record.summaries.push((name, tracked.summary()));
                    versions.push((Arc::clone(&entry), tracked.version));
                }
            }
        }
        if records.is_empty() {
            return Ok(());
        }
        self.store
            .record_metrics(records.into_values().collect())
            .await?;
        for (entry, version) in versions {
            let mut tracked = lock(&entry);
            tracked.recorded = tracked.recorded.max(version);
        }
        Ok(())
    }

    /// The series a chart asked for, each read up to what its file holds now and cut down to
    /// the request's buckets; the request's size and names must have been checked. A run
    /// without a metric has no series for it.
    pub async fn series(
        self: &Arc<Self>,
        request: SeriesRequest,
    ) -> Result<SeriesResponse, MetricsError> {
        let metrics = Arc::clone(self);
        let runs = request.runs.clone();
        let response = blocking(move || {
            let mut response = SeriesResponse::default();
            let mut scratch = Vec::new();
            for run in &request.runs {
                for name in &request.names {
                    let key = FileKey {
                        run: run.clone(),
                        kind: request.kind,
                        name: name.clone(),
                    };
                    let summarized = request.axis == XAxis::Step
                        && request.range.is_none_or(|range| range.from <= range.to);
                    if summarized {
                        let served = metrics.with_file(&key, false, true, |tracked| {
                            let drawn = serve_from_summary(tracked, &request, &mut scratch)?;
                            let summary = tracked.summary_steps.as_ref()?;
                            let mut series = Series::new(run, name, drawn);
                            series.without_x = summary.without_x as u64
                                + u64::from(
                                    tracked
                                        .pending
                                        .as_ref()
                                        .is_some_and(|row| row.step.is_none()),
                                );
                            series.summary = Some(tracked.summary());
                            Some(series)
                        })?;
                        match served {
                            // No file: no series.
                            None => continue,
                            Some(Some(series)) => {
                                response.series.push(series);
                                continue;
                            }
                            Some(None) => {}
                        }
                    }
                    let series = metrics.with_file(&key, true, false, |tracked| {
                        let rows = tracked.rows.as_deref().unwrap_or_default();
                        let points = metric_points(rows, request.axis, None);
                        let buckets = request.buckets as usize;
                        let drawn = downsample(&points.points, request.range, buckets);
                        let mut series = Series::new(run, name, drawn);
                        series.without_x = points.without_x as u64;
                        series.summary = Some(tracked.summary());
                        series
                    })?;
                    response.series.extend(series);
                }
            }
            metrics.trim();
            Ok(response)
        })
        .await?;
        self.record(&runs).await?;
        Ok(response)
    }

    /// What runs' series of `kind` come to, by run and name, for choosing among them. Runs that
    /// have ended are answered from the store, which took their summaries at their end, unless
    /// it has none (their files came later: an upload, a synced offline run); the others' files
    /// are read first.
    pub async fn summaries(
        self: &Arc<Self>,
        runs: &[String],
        kind: MetricKind,
    ) -> Result<MetricSummaries, MetricsError> {
        let stored = self.store.metric_summaries(runs, kind).await?;
        let stale: Vec<String> = stored
            .iter()
            .filter(|(_, run)| !run.status.is_done() || run.summaries.is_empty())
            .map(|(uuid, _)| uuid.clone())
            .collect();
        let metrics = Arc::clone(self);
        let to_read = stale.clone();
        let fresh = blocking(move || {
            let mut fresh = BTreeMap::new();
            for uuid in to_read {
                let summaries = metrics.refresh_blocking(&uuid, kind)?;
                fresh.insert(uuid, summaries);
            }
            metrics.trim();
            Ok(fresh)
        })
        .await?;
        self.record(&stale).await?;
        let mut answer = MetricSummaries::default();
        for (uuid, run) in stored {
            let summaries = fresh.get(&uuid).cloned().unwrap_or(run.summaries);
            answer.runs.insert(uuid, summaries);
        }
        let names: std::collections::BTreeSet<&String> =
            answer.runs.values().flat_map(BTreeMap::keys).collect();
        answer.names = names.into_iter().cloned().collect();
        Ok(answer)
    }

    /// The named event series of a run's `kind` (`metric`, `image`, …; `system` reads its
    /// resources), as Polyaxon's streams answer: `{name, kind, data}`, `data` being the file's
    /// text with [`EventOrient::Csv`], or one list per column with [`EventOrient::Dict`],
    /// reduced to about `sample` rows if asked. A name without a file is left out, as Polyaxon
    /// does. Names must have passed [`check_name`].
    pub async fn events(
        self: &Arc<Self>,
        uuid: &str,
        kind: &str,
        names: &[String],
        orient: EventOrient,
        sample: Option<usize>,
    ) -> std::io::Result<Vec<Json>> {
        let metrics = Arc::clone(self);
        let (uuid, kind, names) = (uuid.to_owned(), kind.to_owned(), names.to_vec());
        blocking(move || {
            let mut events = Vec::new();
            for name in names {
                let Some((mut file, _)) = metrics.open(&uuid, &kind, &name)? else {
                    continue;
                };
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes)?;
                // A line that is not UTF-8 is as unreadable to Polyaxon's client as any other.
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let data = match orient {
                    EventOrient::Csv => Json::String(text),
                    EventOrient::Dict => polyaxon_columns(&kind, &text, sample),
                };
                events.push(serde_json::json!({"name": name, "kind": kind, "data": data}));
            }
            Ok(events)
        })
        .await
    }
}

/// Reads the bytes of `file` from the cursor to `length` into `tracked`.
fn read_new(
    tracked: &mut Tracked,
    file: &mut std::fs::File,
    length: u64,
    key: &FileKey,
) -> std::io::Result<()> {
    let mut buffer = Vec::new();
    while tracked.cursor.offset() < length {
        let start = tracked.cursor.offset();
        let wanted =
            usize::try_from(length - start).map_or(READ_CHUNK, |left| left.min(READ_CHUNK));
        buffer.clear();
        file.seek(std::io::SeekFrom::Start(start))?;
        file.by_ref().take(wanted as u64).read_to_end(&mut buffer)?;
        // The file may have been cut short since it was measured: it is read again next time.
        let at_end = start + buffer.len() as u64 >= length || buffer.len() < wanted;
        let batch = tracked.cursor.read_metrics(&buffer);
        if let Some(bad) = batch.bad_lines.first() {
            tracing::warn!(
                run = key.run,
                name = key.name,
                line = bad.line,
                problem = %bad.problem,
                count = batch.bad_line_count,
                "lines of a metric's file cannot be read; they are passed over"
            );
        }
        let new_rows = !batch.rows.is_empty();
        for row in &batch.rows {
            tracked.confirmed.add(row);
        }
        if let Some(summary) = &mut tracked.summary_steps {
            for row in &batch.rows {
                summary.add(row);
            }
        }
        // Only the file's real end has a pending line: a chunk's end cuts lines anywhere.
        let pending = if at_end { batch.pending } else { None };
        let pending_changed = pending != tracked.pending;
        if let Some(rows) = &mut tracked.rows {
            if tracked.pending_kept {
                rows.pop();
            }
            let room = MAX_KEPT_ROWS_PER_FILE.saturating_sub(rows.len());
            if batch.rows.len() > room {
                tracing::warn!(
                    run = key.run,
                    name = key.name,
                    "a metric has more values than are kept for charts; its chart stops at \
                     {MAX_KEPT_ROWS_PER_FILE}"
                );
            }
            rows.extend(batch.rows.into_iter().take(room));
            tracked.pending_kept = pending.is_some() && rows.len() < MAX_KEPT_ROWS_PER_FILE;
            if let Some(pending) = pending.filter(|_| tracked.pending_kept) {
                rows.push(pending);
            }
        }
        tracked.pending = pending;
        if new_rows || pending_changed {
            tracked.version += 1;
        }
        if at_end || batch.consumed == 0 {
            break;
        }
    }
    Ok(())
}

/// Runs file work on tokio's blocking threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(std::io::Error::other)?
}

/// Why metrics could not be read or recorded.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// A run's files could not be read.
    #[error("cannot read the run's metrics: {0}")]
    Unreadable(#[from] std::io::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads the series of running runs as they grow, and each run's once more when it ends, until
/// the store's events end (the server stops). Which runs run is learned from the store's events
/// (and from the unfinished runs at start, or after events were missed).
pub async fn follow(metrics: Arc<Metrics>, mut events: broadcast::Receiver<RunEvent>) {
    let mut running = HashSet::new();
    resync(&metrics, &mut running).await;
    let mut tick = tokio::time::interval(REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                // Its own records: nothing new to read.
                Ok(event) if event.change == "metrics" => {}
                Ok(event) => match event.status {
                    Some(Status::Running) => {
                        running.insert(event.uuid);
                    }
                    Some(status) if status.is_done() => {
                        running.remove(&event.uuid);
                        refresh(&metrics, &event.uuid).await;
                    }
                    Some(_) => {}
                    None => {
                        running.remove(&event.uuid);
                        metrics.forget(&event.uuid);
                    }
                },
                Err(RecvError::Lagged(_)) => resync(&metrics, &mut running).await,
                Err(RecvError::Closed) => return,
            },
            _ = tick.tick() => {
                for uuid in &running {
                    refresh(&metrics, uuid).await;
                }
            }
        }
    }
}

/// Follows every run that has not ended, as the store has them now.
async fn resync(metrics: &Metrics, running: &mut HashSet<String>) {
    match metrics.store.unfinished_runs().await {
        Ok(unfinished) => *running = unfinished.into_iter().collect(),
        Err(error) => tracing::warn!(%error, "cannot list the active runs to read their metrics"),
    }
}

async fn refresh(metrics: &Arc<Metrics>, uuid: &str) {
    if let Err(error) = metrics.refresh(uuid).await {
        tracing::warn!(%error, uuid, "cannot read a run's metrics");
    }
}

/// How Polyaxon's event routes answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOrient {
    /// The file's text.
    Csv,
    /// One list per column: `{"step": […], "timestamp": […], "metric": […]}`.
    Dict,
}

/// The kinds traceml writes as JSON lines rather than `|`-separated rows.
const JSON_LINES_KINDS: &[&str] = &["html", "text", "chart", "span"];

/// An event file as Polyaxon's `orient=dict` answers: one list per column. Rows are
/// `step|timestamp|value` under a header naming the columns (an empty step is null; a
/// metric's value is a number, null when it is not one; the timestamp is kept as written), or
/// JSON objects for the kinds traceml writes as JSON lines. With `sample`, at most that many
/// rows are kept: a metric's first and last rows and the extremes between
/// ([`sample_indices`]), other kinds' rows evenly spread ([`spread_indices`]).
fn polyaxon_columns(kind: &str, text: &str, sample: Option<usize>) -> Json {
    let numeric = kind == MetricKind::Metric.as_str() || kind == MetricKind::System.as_str();
    let mut columns: Vec<(String, Vec<Json>)> = Vec::new();
    let rows: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    if JSON_LINES_KINDS.contains(&kind) {
        for row in &rows {
            let Ok(Json::Object(fields)) = serde_json::from_str::<Json>(row) else {
                continue;
            };
            for (name, value) in fields {
                match columns.iter_mut().find(|(column, _)| *column == name) {
                    Some((_, values)) => values.push(value),
                    None => columns.push((name, vec![value])),
                }
            }
        }
    } else if let Some((header, rows)) = rows.split_first() {
        let names: Vec<&str> = header.split('|').collect();
        columns = names
            .iter()
            .map(|name| ((*name).to_owned(), Vec::with_capacity(rows.len())))
            .collect();
        for row in rows {
            for (index, cell) in row.splitn(names.len(), '|').enumerate() {
                let value = match names[index] {
                    "timestamp" => Json::String(cell.to_owned()),
                    _ if cell.is_empty() => Json::Null,
                    "step" => cell.parse::<i64>().map_or(Json::Null, Json::from),
                    _ if numeric => serde_json::from_str(cell).unwrap_or(Json::Null),
                    _ => Json::String(cell.to_owned()),
                };
                columns[index].1.push(value);
            }
        }
    }
    let length = columns
        .iter()
        .map(|(_, values)| values.len())
        .max()
        .unwrap_or(0);
    let keep = sample
        .filter(|&sample| sample > 0 && length > sample)
        .map(|sample| {
            let values = columns
                .iter()
                .find(|(name, _)| name != "step" && name != "timestamp")
                .filter(|_| numeric);
            match values {
                Some((_, values)) => {
                    let values: Vec<f64> = values
                        .iter()
                        .map(|value| value.as_f64().unwrap_or(f64::NAN))
                        .collect();
                    sample_indices(&values, sample)
                }
                None => spread_indices(length, sample),
            }
        });
    Json::Object(
        columns
            .into_iter()
            .map(|(name, values)| {
                let values = match &keep {
                    Some(indices) => indices
                        .iter()
                        .map(|&i| values.get(i).cloned().unwrap_or(Json::Null))
                        .collect(),
                    None => values,
                };
                (name, Json::Array(values))
            })
            .collect(),
    )
}

/// How many buckets of the step axis a file's [`StepSummary`] has at most.
const SUMMARY_BUCKETS: i128 = 2048;

/// How many summary buckets are kept across every file: about 120 bytes each, so a few hundred
/// megabytes for a thousand long series; the least recently used files' go first.
pub const MAX_SUMMARY_BUCKETS: usize = 2_500_000;

/// One point of a file, with its row's place in the file (to order points of equal steps).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Kept {
    row: u64,
    point: Point,
}

/// The first, lowest, highest and last finite values of one bucket of a [`StepSummary`].
#[derive(Debug, Clone, Copy)]
struct Fine {
    /// The bucket's place on the grid: `(step - first step) / width`.
    index: u32,
    first: Kept,
    min: Kept,
    max: Kept,
    last: Kept,
}

impl Fine {
    fn of(index: u32, kept: Kept) -> Self {
        Self {
            index,
            first: kept,
            min: kept,
            max: kept,
            last: kept,
        }
    }

    /// Adds what follows it, in file order: a later point, or a later bucket's extremes. Ties
    /// keep the earlier point, as [`downsample`] does.
    fn absorb(&mut self, later: &Fine) {
        self.last = later.last;
        if later.min.point.y < self.min.point.y {
            self.min = later.min;
        }
        if later.max.point.y > self.max.point.y {
            self.max = later.max;
        }
    }
}

/// A file's values on the step axis cut down to at most [`SUMMARY_BUCKETS`] buckets of equal
/// width (a power of two of steps, from the first step), each keeping its first, lowest,
/// highest and last finite value, built as rows are read: the width doubles, and pairs of
/// buckets merge, when a step falls past the last bucket. Series coarser than it are drawn from
/// it, without the file's values (see [`serve_from_summary`]).
#[derive(Debug, Clone, Default)]
struct StepSummary {
    /// Steps went back (a resumed run logging its steps again): it cannot be used.
    unordered: bool,
    /// The first and last step of the rows with a step.
    first_step: Option<i64>,
    last_step: i64,
    /// Each bucket's width in steps.
    width: i128,
    /// The buckets with a finite value, in step order.
    buckets: Vec<Fine>,
    /// Rows with a step, and of them those whose value is not finite.
    total: usize,
    non_finite: usize,
    /// Rows without a step.
    without_x: usize,
    /// Rows added, the next row's place.
    rows: u64,
}

impl StepSummary {
    fn add(&mut self, row: &MetricRow) {
        let place = self.rows;
        self.rows += 1;
        let Some(step) = row.step else {
            self.without_x += 1;
            return;
        };
        if self.unordered {
            return;
        }
        let first = *self.first_step.get_or_insert(step);
        if self.total > 0 && step < self.last_step {
            self.unordered = true;
            self.buckets = Vec::new();
            return;
        }
        if self.width == 0 {
            self.width = 1;
        }
        self.last_step = step;
        self.total += 1;
        if !row.value.is_finite() {
            self.non_finite += 1;
            return;
        }
        let offset = i128::from(step) - i128::from(first);
        while offset / self.width >= SUMMARY_BUCKETS {
            self.widen();
        }
        // Below `SUMMARY_BUCKETS`.
        let index = (offset / self.width) as u32;
        let kept = Kept {
            row: place,
            point: Point {
                x: step as f64,
                y: row.value,
            },
        };
        match self.buckets.last_mut() {
            Some(last) if last.index == index => last.absorb(&Fine::of(index, kept)),
            _ => self.buckets.push(Fine::of(index, kept)),
        }
    }

    /// Doubles the buckets' width, merging pairs.
    fn widen(&mut self) {
        self.width *= 2;
        let mut merged: Vec<Fine> = Vec::with_capacity(self.buckets.len() / 2 + 1);
        for mut bucket in self.buckets.drain(..) {
            bucket.index /= 2;
            match merged.last_mut() {
                Some(last) if last.index == bucket.index => last.absorb(&bucket),
                _ => merged.push(bucket),
            }
        }
        self.buckets = merged;
    }

    /// The kept points in file order: each bucket's first, lowest, highest and last, once.
    fn points(&self, into: &mut Vec<Point>) {
        for bucket in &self.buckets {
            let mut kept = [bucket.first, bucket.min, bucket.max, bucket.last];
            kept.sort_unstable_by_key(|kept| kept.row);
            let mut previous = None;
            for kept in kept {
                if previous != Some(kept.row) {
                    into.push(kept.point);
                    previous = Some(kept.row);
                }
            }
        }
    }
}

/// The series of a file drawn from its [`StepSummary`] (and the pending row, which it does not
/// hold), when that gives what the file's values would: `None` when the values are needed.
///
/// It is used when the request is on the step axis, its range (if any) covers every step, the
/// series has more than `4 × buckets` points (fewer are all drawn), and each requested bucket
/// is at least as wide as the summary's. Each requested bucket then holds the first, lowest,
/// highest and last of the summary's points in it: exactly [`downsample`]'s over the values
/// wherever no summary bucket straddles a requested bucket's edge (M4 of whole buckets is the
/// M4 of their extremes). A summary bucket that straddles an edge (at most one per edge, no
/// wider than a requested bucket) gives each side only those of its own four points that
/// lie there, so near an edge a requested bucket's first, lowest, highest or last may be
/// another value of the series less than one summary bucket apart (or missing from a requested
/// bucket that only such straddling buckets reach). No extreme is hidden: a requested bucket's
/// lowest value either lies in a summary bucket within it, whose lowest it then is, so it is
/// drawn there, or in a straddling one, whose lowest (as low or lower, less than a summary
/// bucket away) falls in this bucket or the next, which draws it or a lower value; likewise
/// the highest. Every point drawn
/// is one of the file's, and the first and last are the series'.
fn serve_from_summary(
    tracked: &Tracked,
    request: &SeriesRequest,
    scratch: &mut Vec<Point>,
) -> Option<Downsampled> {
    let summary = tracked.summary_steps.as_ref()?;
    if request.axis != XAxis::Step || summary.unordered || request.buckets == 0 {
        return None;
    }
    let (mut first, mut last) = (summary.first_step?, summary.last_step);
    let (mut total, mut non_finite) = (summary.total, summary.non_finite);
    let mut pending = None;
    if let Some(row) = &tracked.pending
        && let Some(step) = row.step
    {
        if step < last {
            return None;
        }
        first = first.min(step);
        last = step;
        total += 1;
        if row.value.is_finite() {
            pending = Some(Point {
                x: step as f64,
                y: row.value,
            });
        } else {
            non_finite += 1;
        }
    }
    let buckets = request.buckets as usize;
    if total <= buckets.saturating_mul(4) {
        return None;
    }
    let (first_x, last_x) = (first as f64, last as f64);
    let (lo, hi) = match request.range {
        Some(XRange { from, to }) => {
            if !(from <= first_x && to >= last_x) {
                return None;
            }
            (
                if from.is_finite() { from } else { first_x },
                if to.is_finite() { to } else { last_x },
            )
        }
        None => (first_x, last_x),
    };
    if (hi - lo) / (buckets as f64) < summary.width as f64 {
        return None;
    }
    scratch.clear();
    summary.points(scratch);
    scratch.extend(pending);
    Some(downsample_summary(
        scratch,
        request.range,
        buckets,
        (first_x, last_x),
        (total, non_finite),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::events::metric_points;

    /// A series with a trend, noise, spikes up and down, `NaN`s and infinities, and steps
    /// logged twice.
    fn rows(seed: u64, last_step: i64) -> Vec<MetricRow> {
        let mut state = seed.wrapping_mul(6_364_136_223_846_793_005) | 1;
        let mut noise = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 1_000) as f64 / 1_000.0
        };
        let mut rows = Vec::new();
        for step in 0..=last_step {
            let value = match (step + seed as i64) % 997 {
                0 => 1e6,
                1 => -1e6,
                2 => f64::NAN,
                3 => f64::INFINITY,
                _ => 1.0 / (1.0 + step as f64) + noise(),
            };
            rows.push(MetricRow {
                step: Some(step),
                timestamp: None,
                value,
            });
            if step % 1_001 == 5 {
                rows.push(MetricRow {
                    step: Some(step),
                    timestamp: None,
                    value: noise() * 10.0,
                });
            }
        }
        rows
    }

    /// A file's state once `rows` were read, the last one still pending.
    fn tracked(rows: &[MetricRow]) -> Tracked {
        let (pending, confirmed) = rows.split_last().expect("rows");
        Tracked {
            pending: Some(*pending),
            ..confirmed_only(confirmed)
        }
    }

    /// A file's state once `rows` were read, none pending.
    fn confirmed_only(rows: &[MetricRow]) -> Tracked {
        let mut summary = StepSummary::default();
        for row in rows {
            summary.add(row);
        }
        Tracked {
            summary_steps: Some(summary),
            ..Tracked::default()
        }
    }

    fn request(buckets: u32, range: Option<XRange>) -> SeriesRequest {
        SeriesRequest {
            runs: vec!["run".into()],
            names: vec!["loss".into()],
            kind: MetricKind::Metric,
            axis: XAxis::Step,
            buckets,
            range,
        }
    }

    fn raw(rows: &[MetricRow], request: &SeriesRequest) -> Downsampled {
        let points = metric_points(rows, XAxis::Step, None);
        downsample(&points.points, request.range, request.buckets as usize)
    }

    #[test]
    fn many_series_drawn_from_summaries_are_drawn_as_from_their_values_when_buckets_align() {
        // Steps 0 to 16,384: the summary's buckets are 16 steps wide, and 512 or 128 requested
        // buckets (32 or 128 steps) are whole summary buckets each.
        let mut scratch = Vec::new();
        for seed in 0..40 {
            let mut rows = rows(seed, 16_384);
            // Every other series has a pending last line, at the last step again.
            let tracked = if seed % 2 == 0 {
                confirmed_only(&rows)
            } else {
                let last = MetricRow {
                    step: Some(16_384),
                    timestamp: None,
                    value: if seed % 4 == 1 { -5e6 } else { f64::NAN },
                };
                let tracked = Tracked {
                    pending: Some(last),
                    ..confirmed_only(&rows)
                };
                rows.push(last);
                tracked
            };
            assert_eq!(tracked.summary_steps.as_ref().unwrap().width, 16);
            let whole = XRange {
                from: 0.0,
                to: 16_384.0,
            };
            for request in [
                request(512, None),
                request(128, None),
                request(512, Some(whole)),
            ] {
                let served = serve_from_summary(&tracked, &request, &mut scratch)
                    .expect("served from the summary");
                let raw = raw(&rows, &request);
                assert!(raw.points.iter().any(|point| point.y == 1e6));
                assert!(raw.non_finite > 0);
                // `NaN`s compare unequal, but no point drawn has one.
                assert_eq!(served, raw, "seed {seed}, {} buckets", request.buckets);
            }
        }
    }

    #[test]
    fn a_summary_whose_buckets_straddle_the_requested_ones_still_draws_every_extreme() {
        let mut scratch = Vec::new();
        for seed in 0..40 {
            let rows = rows(seed, 9_999 + seed as i64 * 7);
            let tracked = tracked(&rows);
            let summary = tracked.summary_steps.as_ref().unwrap();
            for buckets in [1_000, 300, 50] {
                let request = request(buckets, None);
                let served = serve_from_summary(&tracked, &request, &mut scratch)
                    .expect("served from the summary");
                let raw = raw(&rows, &request);
                assert_eq!(
                    (served.total, served.non_finite),
                    (raw.total, raw.non_finite)
                );
                // Every point drawn is one of the series'.
                for point in &served.points {
                    assert!(
                        rows.iter()
                            .any(|row| row.step == Some(point.x as i64) && row.value == point.y)
                    );
                }
                // The first and last points are drawn.
                assert_eq!(served.points.first(), raw.points.first());
                assert_eq!(served.points.last(), raw.points.last());
                // So every bucket of the raw path has its extremes drawn, or a point beyond them
                // in the same or the next bucket.
                let extreme = |points: &[Point], pick: fn(f64, f64) -> f64| {
                    points.iter().map(|point| point.y).fold(points[0].y, pick)
                };
                assert_eq!(extreme(&served.points, f64::max), 1e6);
                assert_eq!(extreme(&served.points, f64::min), -1e6);
                let bucket_width = (rows.last().unwrap().step.unwrap() as f64) / f64::from(buckets);
                let near = |band: &shared::downsample::Band, point: &Point| {
                    let width = summary.width as f64 + bucket_width;
                    (band.x_start - width..=band.x_end + width).contains(&point.x)
                };
                for band in &raw.bands {
                    assert!(
                        served
                            .points
                            .iter()
                            .any(|p| p.y <= band.min && near(band, p))
                    );
                    assert!(
                        served
                            .points
                            .iter()
                            .any(|p| p.y >= band.max && near(band, p))
                    );
                }
            }
        }
    }

    #[test]
    fn zoomed_fine_short_unordered_or_timed_requests_need_the_values() {
        let mut scratch = Vec::new();
        let rows = rows(3, 16_384);
        let tracked = tracked(&rows);
        let zoomed = XRange {
            from: 100.0,
            to: 16_384.0,
        };
        assert!(serve_from_summary(&tracked, &request(512, Some(zoomed)), &mut scratch).is_none());
        // Finer than the summary's 8 steps.
        assert!(serve_from_summary(&tracked, &request(3_000, None), &mut scratch).is_none());
        let mut timed = request(512, None);
        timed.axis = XAxis::Time;
        assert!(serve_from_summary(&tracked, &timed, &mut scratch).is_none());
        // Few enough points to be drawn all.
        let short = rows[..1_000].to_vec();
        assert!(
            serve_from_summary(&self::tracked(&short), &request(250, None), &mut scratch).is_none()
        );
        let mut unordered = rows.clone();
        unordered.swap(10, 20);
        assert!(
            serve_from_summary(
                &self::tracked(&unordered),
                &request(512, None),
                &mut scratch
            )
            .is_none()
        );
    }
}
