//! Reading the event files Polyaxon's tracking client (traceml) writes, as they grow.
//!
//! A run logs each kind and name of event to `events/{kind}/{name}.plx`. Most kinds are text
//! separated by `|`: a header `step|timestamp|{kind}`, then a line `step|timestamp|value` per
//! event, where a metric's value is a float as Python prints it (`0.5`, `1e-05`, `nan`, `inf`)
//! and other kinds' values are JSON text. `html`, `text`, `chart` and `span` files are JSON
//! lines instead, `{"timestamp": …, "step": …, "{kind}": …}`. A step may be missing. Which of
//! the two a file is, its first line tells.
//!
//! An [`EventCursor`] remembers how far a file was read; each call takes the bytes from there
//! to the end of the file and does work proportional to them. A line counts as read once the
//! newline after it is there. The client writes each event as a newline followed by the line,
//! so a file's last line has none until the next event is written: that line is parsed apart,
//! as [`EventBatch::pending`], for the caller to show until it is confirmed, and is read again
//! by the next call. A line that cannot be read is skipped and reported with its number, and a
//! line longer than [`MAX_LINE_BYTES`] is skipped without being kept, so no file makes reading
//! fail or take memory beyond its rows.

use std::borrow::Cow;
use std::fmt;

use serde_json::{Map, Value as Json};

use crate::api::XAxis;
use crate::downsample::Point;
use crate::time::Timestamp;

/// The longest line read; a longer one is skipped as [`LineProblem::TooLong`].
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// How many unreadable lines one [`EventBatch`] lists; it counts them all.
pub const MAX_REPORTED_BAD_LINES: usize = 100;

/// How far an event file was read, carried from one read to the next. A new cursor
/// ([`EventCursor::default`]) stands at the start of the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventCursor {
    offset: u64,
    lines: u64,
    layout: Layout,
    /// Whether the bytes read last ended inside a line too long to read, whose rest is to be
    /// skipped.
    skipping_long_line: bool,
}

/// How a file's events are written, known from its first line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Layout {
    #[default]
    Unknown,
    Pipes,
    JsonLines,
}

/// One value of a metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricRow {
    /// The step it was logged at.
    pub step: Option<i64>,
    /// When it was logged.
    pub timestamp: Option<Timestamp>,
    /// The value, possibly `NaN` or infinite.
    pub value: f64,
}

/// One event of any kind, its value as the file has it: JSON text for images, histograms,
/// curves and the like, the text itself for `html` and `text`.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    /// The step it was logged at.
    pub step: Option<i64>,
    /// When it was logged.
    pub timestamp: Option<Timestamp>,
    /// The value.
    pub value: String,
}

/// What one read of an event file found.
#[derive(Debug, Clone, PartialEq)]
pub struct EventBatch<R> {
    /// The rows of the lines read, in file order.
    pub rows: Vec<R>,
    /// The last line, which no newline follows yet, read as far as it goes. It is likely whole
    /// (the client writes a newline before each line, not after), but it is not consumed: the
    /// next read reads it again, as a row once a newline follows it.
    pub pending: Option<R>,
    /// How many of the bytes given were read; the cursor moved past them.
    pub consumed: usize,
    /// The first [`MAX_REPORTED_BAD_LINES`] lines that could not be read.
    pub bad_lines: Vec<BadLine>,
    /// How many lines could not be read.
    pub bad_line_count: u64,
}

/// A line of an event file that could not be read, and was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadLine {
    /// Its number in the file, from 1.
    pub line: u64,
    /// What is wrong with it.
    pub problem: LineProblem,
}

/// What is wrong with a line of an event file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineProblem {
    /// It is longer than [`MAX_LINE_BYTES`].
    TooLong,
    /// It is not UTF-8.
    NotUtf8,
    /// The file's first line is neither a `step|timestamp|{kind}` header nor a JSON event.
    NotAHeader,
    /// It has fewer than three `|`-separated fields, or a JSON event has no value.
    MissingField,
    /// Its step is not an integer.
    InvalidStep,
    /// Its timestamp is not an ISO 8601 time.
    InvalidTimestamp,
    /// Its value is not of the kind's type (a metric's is a float), or a JSON event has more
    /// than one.
    InvalidValue,
    /// A line of a JSON lines file is not a JSON object.
    InvalidJson,
}

impl fmt::Display for LineProblem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            LineProblem::TooLong => "line longer than 1 MiB",
            LineProblem::NotUtf8 => "line is not UTF-8",
            LineProblem::NotAHeader => "first line is not a `step|timestamp|kind` header",
            LineProblem::MissingField => "expected `step|timestamp|value`",
            LineProblem::InvalidStep => "step is not an integer",
            LineProblem::InvalidTimestamp => "timestamp is not an ISO 8601 time",
            LineProblem::InvalidValue => "value is not of the event's kind",
            LineProblem::InvalidJson => "line is not a JSON object",
        })
    }
}

impl EventCursor {
    /// How many bytes of the file were read: the next read starts there.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// How many whole lines were read.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Reads the metric values in `bytes`, the file's bytes from [`EventCursor::offset`] to its
    /// end.
    pub fn read_metrics(&mut self, bytes: &[u8]) -> EventBatch<MetricRow> {
        self.read(bytes, fast_metric_row, |fields| {
            Ok(MetricRow {
                step: fields.step,
                timestamp: fields.timestamp,
                value: fields
                    .value
                    .trim()
                    .parse()
                    .map_err(|_| LineProblem::InvalidValue)?,
            })
        })
    }

    /// Reads the events of any kind in `bytes`, the file's bytes from [`EventCursor::offset`]
    /// to its end.
    pub fn read_events(&mut self, bytes: &[u8]) -> EventBatch<EventRow> {
        self.read(
            bytes,
            |_| None,
            |fields| {
                Ok(EventRow {
                    step: fields.step,
                    timestamp: fields.timestamp,
                    value: fields.value.into_owned(),
                })
            },
        )
    }

    fn read<R>(
        &mut self,
        bytes: &[u8],
        fast_row: impl Fn(&[u8]) -> Option<R>,
        row: impl Fn(Fields<'_>) -> Result<R, LineProblem>,
    ) -> EventBatch<R> {
        let mut batch = EventBatch {
            rows: Vec::new(),
            pending: None,
            consumed: 0,
            bad_lines: Vec::new(),
            bad_line_count: 0,
        };
        let mut at = 0;
        if self.skipping_long_line {
            let Some(end) = newline(bytes) else {
                self.advance(&mut batch, bytes.len());
                return batch;
            };
            self.skipping_long_line = false;
            self.lines += 1;
            at = end + 1;
        }
        while at < bytes.len() {
            let rest = &bytes[at..];
            let number = self.lines + 1;
            let Some(len) = newline(rest) else {
                if rest.len() > MAX_LINE_BYTES {
                    batch.report(number, LineProblem::TooLong);
                    self.skipping_long_line = true;
                    at = bytes.len();
                } else {
                    // Read with a copy of the layout: the line is not consumed, so what it
                    // says about the file must not stick.
                    let mut layout = self.layout;
                    batch.pending = read_line(&mut layout, rest)
                        .ok()
                        .flatten()
                        .and_then(|fields| row(fields).ok());
                }
                break;
            };
            self.lines += 1;
            at += len + 1;
            let line = &rest[..len];
            if self.layout == Layout::Pipes
                && len <= MAX_LINE_BYTES
                && let Some(read) = fast_row(line)
            {
                batch.rows.push(read);
                continue;
            }
            let fields = if len > MAX_LINE_BYTES {
                Err(LineProblem::TooLong)
            } else {
                read_line(&mut self.layout, line)
            };
            match fields.and_then(|fields| fields.map(&row).transpose()) {
                Ok(Some(read)) => batch.rows.push(read),
                Ok(None) => {}
                Err(problem) => batch.report(number, problem),
            }
        }
        self.advance(&mut batch, at);
        batch
    }

    fn advance<R>(&mut self, batch: &mut EventBatch<R>, consumed: usize) {
        batch.consumed = consumed;
        self.offset += consumed as u64;
    }
}

impl<R> EventBatch<R> {
    fn report(&mut self, line: u64, problem: LineProblem) {
        self.bad_line_count += 1;
        if self.bad_lines.len() < MAX_REPORTED_BAD_LINES {
            self.bad_lines.push(BadLine { line, problem });
        }
    }
}

/// The points of a metric's rows on `axis`, sorted by x, and how many rows have no x there.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricPoints {
    /// One point per row that has an x, in x order (file order among equal x).
    pub points: Vec<Point>,
    /// How many rows have no x on the axis: no step, or no timestamp.
    pub without_x: usize,
}

/// Places a metric's rows on `axis`. [`XAxis::Relative`] counts seconds from `origin`, or from
/// the first row's time when there is no origin.
pub fn metric_points(rows: &[MetricRow], axis: XAxis, origin: Option<Timestamp>) -> MetricPoints {
    let origin = origin.or_else(|| rows.iter().find_map(|row| row.timestamp));
    let x_of = |row: &MetricRow| match axis {
        XAxis::Step => row.step.map(|step| step as f64),
        XAxis::Time => row.timestamp.map(epoch_millis),
        XAxis::Relative => row
            .timestamp
            .zip(origin)
            .map(|(at, from)| at.seconds_since(from)),
    };
    let mut points: Vec<Point> = rows
        .iter()
        .filter_map(|row| x_of(row).map(|x| Point { x, y: row.value }))
        .collect();
    // Files are nearly always in order already; a resumed run that logs its steps again is
    // not, and downsampling needs order.
    if !points.is_sorted_by(|a, b| a.x <= b.x) {
        points.sort_by(|a, b| a.x.total_cmp(&b.x));
    }
    MetricPoints {
        without_x: rows.len() - points.len(),
        points,
    }
}

/// Milliseconds since the Unix epoch, the time axis' unit, as JavaScript counts time.
pub fn epoch_millis(timestamp: Timestamp) -> f64 {
    timestamp.as_micros() as f64 / 1_000.0
}

/// A line's fields, its value not yet read as the kind's type.
struct Fields<'a> {
    step: Option<i64>,
    timestamp: Option<Timestamp>,
    value: Cow<'a, str>,
}

/// Reads a line (without its newline): its fields, or nothing for a blank line or a header.
/// The first line that is not blank sets the file's `layout`.
fn read_line<'a>(layout: &mut Layout, line: &'a [u8]) -> Result<Option<Fields<'a>>, LineProblem> {
    let line = std::str::from_utf8(line).map_err(|_| LineProblem::NotUtf8)?;
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.trim().is_empty() {
        return Ok(None);
    }
    match *layout {
        Layout::Unknown if line.trim_start().starts_with('{') => {
            *layout = Layout::JsonLines;
            json_fields(line).map(Some)
        }
        Layout::Unknown => {
            // A first line that is no header is reported, and the lines after it are still read
            // as the header would have them.
            *layout = Layout::Pipes;
            let mut names = line.split('|');
            let is_header = names.next() == Some("step")
                && names.next() == Some("timestamp")
                && names.next().is_some_and(|kind| !kind.is_empty())
                && names.next().is_none();
            if is_header {
                Ok(None)
            } else {
                Err(LineProblem::NotAHeader)
            }
        }
        Layout::Pipes => pipe_fields(line).map(Some),
        Layout::JsonLines => json_fields(line).map(Some),
    }
}

/// `step|timestamp|value`, the value being the rest of the line: JSON values may hold a `|`.
fn pipe_fields(line: &str) -> Result<Fields<'_>, LineProblem> {
    let mut fields = line.splitn(3, '|');
    let (Some(step), Some(timestamp), Some(value)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(LineProblem::MissingField);
    };
    let step = match step.trim() {
        "" => None,
        step => Some(step.parse().map_err(|_| LineProblem::InvalidStep)?),
    };
    let timestamp = match timestamp.trim() {
        "" => None,
        timestamp => Some(
            Timestamp::parse_common(timestamp.as_bytes())
                .or_else(|| Timestamp::parse(timestamp))
                .ok_or(LineProblem::InvalidTimestamp)?,
        ),
    };
    Ok(Fields {
        step,
        timestamp,
        value: Cow::Borrowed(value),
    })
}

/// `{"timestamp": …, "step": …, "{kind}": value}`, the value being whichever key is left.
fn json_fields(line: &str) -> Result<Fields<'static>, LineProblem> {
    let mut event: Map<String, Json> =
        serde_json::from_str(line).map_err(|_| LineProblem::InvalidJson)?;
    let step = match event.remove("step") {
        None | Some(Json::Null) => None,
        Some(step) => Some(step.as_i64().ok_or(LineProblem::InvalidStep)?),
    };
    let timestamp = match event.remove("timestamp") {
        None | Some(Json::Null) => None,
        Some(Json::String(text)) => {
            Some(Timestamp::parse(&text).ok_or(LineProblem::InvalidTimestamp)?)
        }
        Some(_) => return Err(LineProblem::InvalidTimestamp),
    };
    let mut values = event.into_iter();
    let value = match (values.next(), values.next()) {
        (None, _) => return Err(LineProblem::MissingField),
        (Some(_), Some(_)) => return Err(LineProblem::InvalidValue),
        (Some((_, Json::String(text))), None) => text,
        (Some((_, other)), None) => other.to_string(),
    };
    Ok(Fields {
        step,
        timestamp,
        value: Cow::Owned(value),
    })
}

/// A metric line of the shape traceml writes, `12|2024-01-02 03:04:05.123456+00:00|0.5`, read
/// without the general path's copies and checks; `None` for any other line, which the general
/// path reads instead (the same way, when this reads it at all).
fn fast_metric_row(line: &[u8]) -> Option<MetricRow> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let step_end = line.iter().position(|&byte| byte == b'|')?;
    let rest = &line[step_end + 1..];
    // The timestamp is nearly always 32 bytes long. (Were there a `|` before, the text up to
    // the 33rd byte would not be a timestamp, and the line would go the general way.)
    let time_end = match rest.get(32) {
        Some(b'|') => 32,
        _ => rest.iter().position(|&byte| byte == b'|')?,
    };
    let step = match &line[..step_end] {
        [] => None,
        digits => Some(fast_step(digits)?),
    };
    let timestamp = match &rest[..time_end] {
        [] => None,
        text => Some(Timestamp::parse_common(text)?),
    };
    let value = std::str::from_utf8(&rest[time_end + 1..]).ok()?;
    Some(MetricRow {
        step,
        timestamp,
        value: value.parse().ok()?,
    })
}

/// A step of up to 18 digits, with a `-` or not; `None` for any other text.
fn fast_step(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text {
        [b'-', digits @ ..] => (true, digits),
        digits => (false, digits),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut step: i64 = 0;
    for &byte in digits {
        if !byte.is_ascii_digit() {
            return None;
        }
        step = step * 10 + i64::from(byte - b'0');
    }
    Some(if negative { -step } else { step })
}

/// Where the first newline of `bytes` is, looked for a word at a time.
fn newline(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const NEWLINES: u64 = u64::from_ne_bytes([b'\n'; 8]);
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for word in words.by_ref() {
        let word = u64::from_ne_bytes(word.try_into().expect("chunks of 8 bytes"));
        let matches = word ^ NEWLINES;
        if matches.wrapping_sub(ONES) & !matches & HIGHS != 0 {
            break;
        }
        at += 8;
    }
    bytes[at..]
        .iter()
        .position(|&byte| byte == b'\n')
        .map(|found| at + found)
}
