//! Run metrics through the crate's public API: event files read as they grow, summaries folded
//! from their rows, and series downsampled, smoothed and aggregated for charts. Downsampling is
//! checked on hundreds of random series against a brute-force reference written here.

use shared::api::{
    CHART_POINTS, DEFAULT_SERIES_BUCKETS, MetricSummary, Series, SeriesBand, SeriesRequest,
    SeriesResponse, XAxis, XRange, chart_buckets, decode_series, encode_series,
};
use shared::downsample::{
    Alignment, Downsampled, Point, aggregate_runs, downsample, sample_indices, smooth_ema,
    spread_indices,
};
use shared::events::{
    BadLine, EventCursor, LineProblem, MAX_LINE_BYTES, MetricRow, epoch_millis, metric_points,
};
use shared::time::Timestamp;

/// A metric file as traceml writes it: the header, then a newline and a line per event, so the
/// last line has no newline. Python's `str(datetime)` puts a space between date and time.
const METRIC_FILE: &str = "step|timestamp|metric\
\n0|2024-01-02 03:04:05.123456+00:00|0.5\
\n1|2024-01-02 03:04:06+00:00|nan\
\n2|2024-01-02T03:04:07.5+00:00|inf\
\n3|2024-01-02 03:04:08.000001+00:00|-inf\
\n4|2024-01-02 03:04:09.100000+00:00|NaN\
\n|2024-01-02 03:04:10.100000+00:00|1e-05\
\n6||-2.25\
\n7|2024-01-02 03:04:12.000000+00:00|0.125";

/// A row as comparable data: `NaN` is not equal to itself, its bits are.
type RowKey = (Option<i64>, Option<i64>, u64);

fn key(row: &MetricRow) -> RowKey {
    (
        row.step,
        row.timestamp.map(Timestamp::as_micros),
        row.value.to_bits(),
    )
}

fn keys<'a>(rows: impl IntoIterator<Item = &'a MetricRow>) -> Vec<RowKey> {
    rows.into_iter().map(key).collect()
}

/// Reads a whole file in one go: its rows, the last line included.
fn read_whole(bytes: &[u8]) -> Vec<RowKey> {
    let batch = EventCursor::default().read_metrics(bytes);
    assert!(batch.bad_lines.is_empty(), "{:?}", batch.bad_lines);
    keys(batch.rows.iter().chain(&batch.pending))
}

#[test]
fn a_metric_file_reads_every_value_with_its_step_and_time() {
    let batch = EventCursor::default().read_metrics(METRIC_FILE.as_bytes());
    assert_eq!(batch.bad_line_count, 0);
    assert_eq!(batch.rows.len(), 7);
    let first = batch.rows[0];
    assert_eq!(first.step, Some(0));
    assert_eq!(
        first.timestamp.map(epoch_millis),
        Some(1_704_164_645_123.456)
    );
    assert_eq!(first.value, 0.5);
    assert!(batch.rows[1].value.is_nan());
    assert_eq!(batch.rows[2].value, f64::INFINITY);
    assert_eq!(batch.rows[3].value, f64::NEG_INFINITY);
    assert!(batch.rows[4].value.is_nan());
    assert_eq!((batch.rows[5].step, batch.rows[5].value), (None, 1e-5));
    assert_eq!(
        (batch.rows[6].step, batch.rows[6].timestamp),
        (Some(6), None)
    );
    // The last line has no newline after it: it is shown, but read again next time.
    let pending = batch.pending.expect("the last line");
    assert_eq!((pending.step, pending.value), (Some(7), 0.125));
    assert_eq!(
        batch.consumed,
        METRIC_FILE.rfind('\n').unwrap() + 1,
        "everything up to the last line"
    );
}

#[test]
fn a_file_read_in_two_parts_split_anywhere_gives_the_same_rows() {
    let bytes = METRIC_FILE.as_bytes();
    let whole = read_whole(bytes);
    for split in 0..=bytes.len() {
        let mut cursor = EventCursor::default();
        let first = cursor.read_metrics(&bytes[..split]);
        assert_eq!(cursor.offset(), first.consumed as u64);
        let second = cursor.read_metrics(&bytes[first.consumed..]);
        let mut rows = keys(&first.rows);
        rows.extend(keys(second.rows.iter().chain(&second.pending)));
        assert_eq!(rows, whole, "split at byte {split}");
        assert_eq!(first.bad_line_count + second.bad_line_count, 0);
    }
}

#[test]
fn a_file_growing_byte_by_byte_gives_the_same_rows() {
    let bytes = METRIC_FILE.as_bytes();
    let mut cursor = EventCursor::default();
    let mut rows = Vec::new();
    let mut last_pending = None;
    for end in 0..=bytes.len() {
        let batch = cursor.read_metrics(&bytes[cursor.offset() as usize..end]);
        assert_eq!(batch.bad_line_count, 0, "file cut at byte {end}");
        rows.extend(keys(&batch.rows));
        last_pending = batch.pending;
    }
    rows.extend(keys(&last_pending));
    assert_eq!(rows, read_whole(bytes));
    assert_eq!(cursor.lines(), 8, "the header and seven events");
}

#[test]
fn a_half_written_last_line_waits_for_its_newline() {
    let mut cursor = EventCursor::default();
    let written = "step|timestamp|metric\n0|2024-01-02 03:04:05+00:00|0.5\n1|2024-01-02 03:04:0";
    let batch = cursor.read_metrics(written.as_bytes());
    assert_eq!(keys(&batch.rows).len(), 1);
    assert_eq!(batch.pending, None, "a cut timestamp does not read");
    assert_eq!(
        batch.bad_line_count, 0,
        "and is no bad line: it is not finished"
    );
    assert_eq!(batch.consumed, written.rfind('\n').unwrap() + 1);

    // The rest of the line arrives with the next one, itself cut short.
    let mut file = written.to_owned();
    file.push_str("6+00:00|0.25\n2|2024-01-02 03:04:07+00:00|0.1");
    let batch = cursor.read_metrics(&file.as_bytes()[cursor.offset() as usize..]);
    assert_eq!(
        batch.rows.iter().map(|row| row.value).collect::<Vec<_>>(),
        [0.25]
    );
    // A value cut short reads as another value: pending rows are provisional.
    assert_eq!(batch.pending.map(|row| row.value), Some(0.1));
    file.push_str("25");
    let batch = cursor.read_metrics(&file.as_bytes()[cursor.offset() as usize..]);
    assert!(batch.rows.is_empty());
    assert_eq!(batch.pending.map(|row| row.value), Some(0.125));
}

#[test]
fn bad_lines_are_skipped_and_reported_with_their_line_numbers() {
    let mut cursor = EventCursor::default();
    let first =
        "step|timestamp|metric\n0|2024-01-02 03:04:05+00:00|0.5\nx|2024-01-02 03:04:05+00:00|0.5\n";
    let batch = cursor.read_metrics(first.as_bytes());
    assert_eq!(batch.rows.len(), 1);
    assert_eq!(
        batch.bad_lines,
        [BadLine {
            line: 3,
            problem: LineProblem::InvalidStep
        }]
    );
    // Numbers go on from where the last read stopped.
    let mut second = b"1|yesterday|0.5\n2|2024-01-02 03:04:05+00:00|half\n".to_vec();
    second.extend(b"no separators\n3|2024-01-02 03:04:05+00:00|\xff\n");
    second.extend(b"4|2024-01-02 03:04:05+00:00|4.5\r\n\n5|2024-01-02 03:04:05+00:00|5.5\n");
    let batch = cursor.read_metrics(&second);
    assert_eq!(
        batch.bad_lines,
        [
            BadLine {
                line: 4,
                problem: LineProblem::InvalidTimestamp
            },
            BadLine {
                line: 5,
                problem: LineProblem::InvalidValue
            },
            BadLine {
                line: 6,
                problem: LineProblem::MissingField
            },
            BadLine {
                line: 7,
                problem: LineProblem::NotUtf8
            },
        ]
    );
    assert_eq!(batch.bad_line_count, 4);
    assert_eq!(
        batch.rows.iter().map(|row| row.value).collect::<Vec<_>>(),
        [4.5, 5.5],
        "a carriage return and a blank line are no trouble"
    );
    assert_eq!(cursor.lines(), 10);
    assert_eq!(
        LineProblem::InvalidTimestamp.to_string(),
        "timestamp is not an ISO 8601 time"
    );
}

#[test]
fn a_first_line_that_is_no_header_is_reported_and_the_rest_still_read() {
    let batch = EventCursor::default().read_metrics(b"0|2024-01-02 03:04:05+00:00|0.5\n1||2\n");
    assert_eq!(
        batch.bad_lines,
        [BadLine {
            line: 1,
            problem: LineProblem::NotAHeader
        }]
    );
    assert_eq!(batch.rows.len(), 1);
}

#[test]
fn a_header_only_file_has_no_rows_and_waits_for_its_first_event() {
    let mut cursor = EventCursor::default();
    let batch = cursor.read_metrics(b"step|timestamp|metric");
    assert_eq!(
        (batch.rows.len(), batch.pending, batch.consumed),
        (0, None, 0)
    );
    assert_eq!(batch.bad_line_count, 0);
    let batch = cursor.read_metrics(b"step|timestamp|metric\n0||1.5");
    assert_eq!(batch.rows.len(), 0);
    assert_eq!(batch.consumed, 22);
    assert_eq!(batch.pending.map(|row| row.value), Some(1.5));
    let batch = cursor.read_metrics(b"");
    assert_eq!((batch.rows.len(), batch.consumed), (0, 0));
}

#[test]
fn a_line_too_long_is_skipped_without_being_kept_even_when_it_arrives_in_parts() {
    let mut long_line = vec![b'7'; MAX_LINE_BYTES + 10];
    long_line.push(b'\n');
    let mut file = b"step|timestamp|metric\n0||1\n".to_vec();
    file.extend(&long_line);
    file.extend(b"2||3\n");
    let whole = EventCursor::default().read_metrics(&file);
    assert_eq!(
        whole.bad_lines,
        [BadLine {
            line: 3,
            problem: LineProblem::TooLong
        }]
    );
    assert_eq!(
        whole.rows.iter().map(|row| row.value).collect::<Vec<_>>(),
        [1.0, 3.0]
    );

    let mut cursor = EventCursor::default();
    let mut rows = Vec::new();
    let mut bad_lines = Vec::new();
    let mut end = 0;
    while end < file.len() {
        end = (end + MAX_LINE_BYTES / 3).min(file.len());
        let batch = cursor.read_metrics(&file[cursor.offset() as usize..end]);
        assert!(
            end - cursor.offset() as usize <= MAX_LINE_BYTES,
            "no more than a line's worth is left to read again"
        );
        rows.extend(batch.rows.iter().map(|row| row.value));
        bad_lines.extend(batch.bad_lines);
    }
    assert_eq!(rows, [1.0, 3.0]);
    assert_eq!(bad_lines, whole.bad_lines);
    assert_eq!(cursor.lines(), 4);
    assert_eq!(cursor.offset(), file.len() as u64);
}

#[test]
fn json_lines_and_other_kinds_keep_their_values_as_written() {
    // traceml starts a JSON lines file empty and writes a newline before each event.
    let html = concat!(
        "\n{\"timestamp\": \"2024-01-02 03:04:05.123456+00:00\", \"step\": 1, \"html\": \"<b>a|b</b>\"}",
        "\n{\"timestamp\": \"2024-01-02 03:04:06+00:00\", \"step\": null, \"html\": \"<i>c</i>\"}",
        "\n{\"timestamp\": \"2024-01-02 03:04:06+00:00\", \"step\": 3}",
        "\n{\"timestamp\": \"2024-01-02 03:04:06+00:00\", \"step\": 4, \"chart\": {\"kind\": \"vega\"}}\n",
    );
    let batch = EventCursor::default().read_events(html.as_bytes());
    let values: Vec<_> = batch
        .rows
        .iter()
        .map(|row| (row.step, row.value.as_str()))
        .collect();
    assert_eq!(
        values,
        [
            (Some(1), "<b>a|b</b>"),
            (None, "<i>c</i>"),
            (Some(4), "{\"kind\":\"vega\"}")
        ]
    );
    assert_eq!(
        batch.bad_lines,
        [BadLine {
            line: 4,
            problem: LineProblem::MissingField
        }]
    );
    assert_eq!(
        batch.rows[0].timestamp.map(Timestamp::as_micros),
        Some(1_704_164_645_123_456)
    );

    // An image's value is JSON, whose text may hold the separator.
    let image =
        "step|timestamp|image\n2|2024-01-02 03:04:05+00:00|{\"path\": \"a|b.png\", \"height\": 2}";
    let batch = EventCursor::default().read_events(image.as_bytes());
    let pending = batch.pending.expect("the image event");
    assert_eq!(pending.value, "{\"path\": \"a|b.png\", \"height\": 2}");
    assert_eq!(pending.step, Some(2));
}

#[test]
fn a_summary_folds_rows_and_nan_spoils_neither_min_nor_max() {
    let batch = EventCursor::default().read_metrics(METRIC_FILE.as_bytes());
    let mut summary = MetricSummary::default();
    for row in batch.rows.iter().chain(&batch.pending) {
        summary.add(row);
    }
    assert_eq!(summary.count, 8);
    assert_eq!(summary.non_finite, 4);
    assert_eq!(summary.min, Some(-2.25));
    assert_eq!(summary.max, Some(0.5));
    assert_eq!(summary.last, Some(0.125));
    assert_eq!((summary.first_step, summary.last_step), (Some(0), Some(7)));
    assert_eq!(
        summary.first_time.map(|time| time.to_string()),
        Some("2024-01-02T03:04:05.123456+00:00".to_owned())
    );
    assert_eq!(
        summary.last_time.map(|time| time.to_string()),
        Some("2024-01-02T03:04:12.000000+00:00".to_owned())
    );

    // Folding row by row across reads is folding them all at once.
    let mut cursor = EventCursor::default();
    let mut incremental = MetricSummary::default();
    for end in [10, 60, 61, 200, METRIC_FILE.len()] {
        let batch = cursor.read_metrics(&METRIC_FILE.as_bytes()[cursor.offset() as usize..end]);
        batch.rows.iter().for_each(|row| incremental.add(row));
    }
    let mut expected = MetricSummary::default();
    batch.rows.iter().for_each(|row| expected.add(row));
    assert_eq!(incremental, expected);

    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["last"], 0.125);
    assert_eq!(json["first_time"], "2024-01-02T03:04:05.123456+00:00");
    assert_eq!(
        serde_json::from_value::<MetricSummary>(json).unwrap(),
        summary
    );
}

#[test]
fn a_summary_whose_last_value_is_nan_says_null_on_the_wire() {
    let mut summary = MetricSummary::default();
    for value in [1.0, f64::NAN] {
        summary.add(&MetricRow {
            step: None,
            timestamp: None,
            value,
        });
    }
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["last"], serde_json::Value::Null);
    assert_eq!(
        (json["min"].as_f64(), json["max"].as_f64()),
        (Some(1.0), Some(1.0))
    );
}

#[test]
fn metric_rows_become_points_on_each_axis() {
    let batch = EventCursor::default().read_metrics(METRIC_FILE.as_bytes());
    let rows: Vec<MetricRow> = batch.rows.iter().chain(&batch.pending).copied().collect();

    let by_step = metric_points(&rows, XAxis::Step, None);
    assert_eq!(by_step.without_x, 1, "the value logged without a step");
    assert_eq!(
        by_step
            .points
            .iter()
            .map(|point| point.x)
            .collect::<Vec<_>>(),
        [0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 7.0]
    );

    let by_time = metric_points(&rows, XAxis::Time, None);
    assert_eq!(by_time.without_x, 1, "the value logged without a time");
    assert_eq!(by_time.points[0].x, 1_704_164_645_123.456);

    let relative = metric_points(&rows, XAxis::Relative, None);
    assert_eq!(relative.points[0].x, 0.0);
    assert_eq!(relative.points.last().unwrap().x, 6.876544);
    let origin = Timestamp::parse("2024-01-02T03:04:00Z");
    let relative = metric_points(&rows, XAxis::Relative, origin);
    assert_eq!(relative.points.last().unwrap().x, 12.0);

    // A resumed run logs earlier steps again: points come out in order all the same.
    let resumed: Vec<MetricRow> = [(5, 1.0), (6, 2.0), (3, 3.0), (4, 4.0)]
        .into_iter()
        .map(|(step, value)| MetricRow {
            step: Some(step),
            timestamp: None,
            value,
        })
        .collect();
    let points = metric_points(&resumed, XAxis::Step, None).points;
    assert_eq!(
        points
            .iter()
            .map(|point| (point.x, point.y))
            .collect::<Vec<_>>(),
        [(3.0, 3.0), (4.0, 4.0), (5.0, 1.0), (6.0, 2.0)]
    );
}

/// SplitMix64: a small, seeded source of random numbers, so that every run of the test sees the
/// same series.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound`.
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    /// A float in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1_u64 << 53) as f64
    }

    /// True once in `n` times.
    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

/// A series with repeated x, runs of equal values, spikes and values that are not finite.
fn random_series(random: &mut Random) -> Vec<Point> {
    let len = match random.below(10) {
        0 => random.below(5),
        1..=7 => random.below(400),
        _ => random.below(5_000),
    } as usize;
    let mut x = random.unit() * 100.0 - 50.0;
    let mut y = 0.0;
    let fractional = random.one_in(2);
    (0..len)
        .map(|_| {
            x += match random.below(6) {
                0 => 0.0,
                _ if fractional => random.unit() * 3.0,
                _ => 1.0,
            };
            if !random.one_in(5) {
                y += random.unit() - 0.5;
            }
            let value = match random.below(100) {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => f64::NEG_INFINITY,
                3 | 4 => y + (random.unit() - 0.5) * 1e6,
                _ => y,
            };
            Point { x, y: value }
        })
        .collect()
}

fn random_range(random: &mut Random, points: &[Point]) -> Option<XRange> {
    let (low, high) = match (points.first(), points.last()) {
        (Some(first), Some(last)) => (first.x, last.x),
        _ => (-10.0, 10.0),
    };
    let span = (high - low).max(1.0);
    let somewhere = |random: &mut Random| low - span * 0.2 + random.unit() * span * 1.4;
    match random.below(10) {
        0..=2 => None,
        3 => Some(XRange {
            from: f64::NEG_INFINITY,
            to: somewhere(random),
        }),
        4 => Some(XRange {
            from: somewhere(random),
            to: f64::INFINITY,
        }),
        5 => {
            // A range of a single x, often one that some points share.
            let at = points
                .get(random.below(points.len().max(1) as u64) as usize)
                .map_or(0.0, |point| point.x);
            Some(XRange { from: at, to: at })
        }
        _ => {
            let (a, b) = (somewhere(random), somewhere(random));
            // Now and then an inverted range, which holds nothing.
            if random.one_in(10) {
                Some(XRange { from: a, to: b })
            } else {
                Some(XRange {
                    from: a.min(b),
                    to: a.max(b),
                })
            }
        }
    }
}

/// The bucket a point goes in, computed as `downsample`'s documentation says.
fn reference_bucket(x: f64, lo: f64, hi: f64, buckets: usize) -> usize {
    if hi == lo {
        return 0;
    }
    let at = ((x - lo) / (hi - lo) * buckets as f64).floor();
    if at <= 0.0 {
        0
    } else {
        (at as usize).min(buckets - 1)
    }
}

fn same(a: Point, b: Point) -> bool {
    a.x.to_bits() == b.x.to_bits() && a.y.to_bits() == b.y.to_bits()
}

/// Checks one downsampling against a brute-force reference: every point compared, nothing
/// shared with the code under test but the documented bucket formula.
fn check_downsampling(points: &[Point], range: Option<XRange>, buckets: usize, case: &str) {
    let reduced = downsample(points, range, buckets);
    let in_range: Vec<Point> = points
        .iter()
        .copied()
        .filter(|point| range.is_none_or(|r| r.from <= point.x && point.x <= r.to))
        .collect();
    let finite: Vec<Point> = in_range
        .iter()
        .copied()
        .filter(|point| point.y.is_finite())
        .collect();
    assert_eq!(reduced.total, in_range.len(), "{case}: total");
    assert_eq!(
        reduced.non_finite,
        in_range.len() - finite.len(),
        "{case}: non-finite count"
    );
    assert!(
        reduced.points.len() <= 4 * buckets,
        "{case}: {} points for {buckets} buckets",
        reduced.points.len()
    );
    assert!(
        reduced.points.windows(2).all(|pair| pair[0].x <= pair[1].x),
        "{case}: output sorted by x"
    );
    // Every point drawn is a point of the series, in the series' order.
    let mut rest = finite.iter();
    for point in &reduced.points {
        assert!(
            rest.any(|candidate| same(*candidate, *point)),
            "{case}: {point:?} is no point of the series, or out of order"
        );
    }

    if in_range.len() <= 4 * buckets {
        assert_eq!(
            reduced.points, finite,
            "{case}: few points come back as they are"
        );
        assert!(
            reduced.bands.is_empty(),
            "{case}: no band without downsampling"
        );
        return;
    }
    if buckets == 0 {
        assert!(
            reduced.points.is_empty(),
            "{case}: no buckets, nothing drawn"
        );
        return;
    }
    let (Some(first), Some(last)) = (finite.first(), finite.last()) else {
        assert!(reduced.points.is_empty(), "{case}: nothing finite to draw");
        return;
    };
    assert!(same(reduced.points[0], *first), "{case}: first point kept");
    assert!(
        same(*reduced.points.last().unwrap(), *last),
        "{case}: last point kept"
    );
    let global_min = finite.iter().map(|p| p.y).fold(f64::INFINITY, f64::min);
    let global_max = finite.iter().map(|p| p.y).fold(f64::NEG_INFINITY, f64::max);
    assert!(
        reduced.points.iter().any(|p| p.y == global_min),
        "{case}: global min"
    );
    assert!(
        reduced.points.iter().any(|p| p.y == global_max),
        "{case}: global max"
    );

    // Each bucket, brute force: its points, then its extremes must all be drawn.
    let lo = match range {
        Some(r) if r.from.is_finite() => r.from,
        _ => in_range[0].x,
    };
    let hi = match range {
        Some(r) if r.to.is_finite() => r.to,
        _ => in_range[in_range.len() - 1].x,
    };
    let mut expected_bands = Vec::new();
    for bucket in 0..buckets {
        let members: Vec<Point> = finite
            .iter()
            .copied()
            .filter(|p| reference_bucket(p.x, lo, hi, buckets) == bucket)
            .collect();
        let drawn: Vec<Point> = reduced
            .points
            .iter()
            .copied()
            .filter(|p| reference_bucket(p.x, lo, hi, buckets) == bucket)
            .collect();
        let (Some(bucket_first), Some(bucket_last)) = (members.first(), members.last()) else {
            assert!(
                drawn.is_empty(),
                "{case}: points drawn in empty bucket {bucket}"
            );
            continue;
        };
        let min = members.iter().map(|p| p.y).fold(f64::INFINITY, f64::min);
        let max = members
            .iter()
            .map(|p| p.y)
            .fold(f64::NEG_INFINITY, f64::max);
        assert!(drawn.len() <= 4, "{case}: bucket {bucket} drew {drawn:?}");
        assert!(
            same(drawn[0], *bucket_first),
            "{case}: bucket {bucket} first"
        );
        assert!(
            same(drawn[drawn.len() - 1], *bucket_last),
            "{case}: bucket {bucket} last"
        );
        assert!(
            drawn.iter().any(|p| p.y == min),
            "{case}: bucket {bucket} min"
        );
        assert!(
            drawn.iter().any(|p| p.y == max),
            "{case}: bucket {bucket} max"
        );
        expected_bands.push((bucket_first.x, bucket_last.x, min, max));
    }
    let bands: Vec<_> = reduced
        .bands
        .iter()
        .map(|band| (band.x_start, band.x_end, band.min, band.max))
        .collect();
    assert_eq!(bands, expected_bands, "{case}: bands");
}

#[test]
fn downsampling_random_series_keeps_every_extreme_for_any_buckets_and_range() {
    let mut random = Random(0x5EED_0F4D_0E5A_3F00);
    for case in 0..600 {
        let points = random_series(&mut random);
        let range = random_range(&mut random, &points);
        let buckets = match random.below(8) {
            0 => random.below(3) as usize,
            1..=5 => 1 + random.below(40) as usize,
            _ => 1 + random.below(2_000) as usize,
        };
        let case = format!(
            "case {case} ({} points, {buckets} buckets, {range:?})",
            points.len()
        );
        check_downsampling(&points, range, buckets, &case);
    }
}

#[test]
fn downsampling_a_constant_series_keeps_its_ends() {
    let points: Vec<Point> = (0..1_000)
        .map(|i| Point {
            x: f64::from(i),
            y: 3.0,
        })
        .collect();
    check_downsampling(&points, None, 10, "constant");
    let reduced = downsample(&points, None, 10);
    assert_eq!(reduced.points.len(), 20, "first and last of each bucket");
}

#[test]
fn a_million_points_become_a_thousand_buckets() {
    let points: Vec<Point> = (0..1_000_000)
        .map(|i| {
            let x = f64::from(i);
            let y = if i == 777_777 { 1e9 } else { (x / 1e4).sin() };
            Point { x, y }
        })
        .collect();
    let reduced = downsample(&points, None, 1_000);
    assert_eq!(reduced.total, 1_000_000);
    assert_eq!(reduced.bands.len(), 1_000);
    assert!(reduced.points.len() <= 4_000);
    assert!(reduced.points.contains(&Point {
        x: 777_777.0,
        y: 1e9
    }));

    let series = Series::new("uuid", "loss", reduced);
    assert_eq!(series.returned as usize, series.x.len());
    assert_eq!((series.total, series.non_finite), (1_000_000, 0));
    let band = series.band.expect("a band for a downsampled series");
    assert_eq!(band.max.len(), 1_000);
    assert_eq!(band.max.iter().copied().fold(f64::MIN, f64::max), 1e9);
}

#[test]
fn a_few_points_come_back_as_they_are_but_for_those_not_finite() {
    let points = [
        Point { x: 0.0, y: 1.0 },
        Point {
            x: 1.0,
            y: f64::NAN,
        },
        Point { x: 2.0, y: 2.0 },
    ];
    let reduced = downsample(&points, None, 1);
    assert_eq!(
        reduced,
        Downsampled {
            points: vec![points[0], points[2]],
            bands: Vec::new(),
            total: 3,
            non_finite: 1,
        }
    );
    let series = Series::new("uuid", "loss", reduced);
    assert_eq!(series.band, None);
    let json = serde_json::to_value(&series).unwrap();
    assert_eq!(json["x"], serde_json::json!([0.0, 2.0]));
    assert_eq!(json["returned"], 2);
    assert_eq!(json["non_finite"], 1);
    assert!(json.get("band").is_none());
}

#[test]
fn sampling_keeps_the_first_and_last_rows_and_the_extremes() {
    let mut random = Random(42);
    for case in 0..300 {
        let len = random.below(600) as usize;
        let values: Vec<f64> = (0..len)
            .map(|_| match random.below(50) {
                0 => f64::NAN,
                1 => 1e6 * (random.unit() - 0.5),
                _ => random.unit(),
            })
            .collect();
        let max_rows = random.below(120) as usize;
        let kept = sample_indices(&values, max_rows);
        assert!(kept.len() <= max_rows, "case {case}");
        assert!(kept.windows(2).all(|pair| pair[0] < pair[1]), "case {case}");
        if len <= max_rows {
            assert_eq!(kept, (0..len).collect::<Vec<_>>(), "case {case}");
            continue;
        }
        match max_rows {
            0 => assert!(kept.is_empty()),
            1 => assert_eq!(kept, [len - 1]),
            _ => {
                assert_eq!((kept[0], kept[kept.len() - 1]), (0, len - 1), "case {case}");
            }
        }
        if max_rows >= 6 {
            let finite = || values.iter().copied().filter(|v| v.is_finite());
            let min = finite().fold(f64::INFINITY, f64::min);
            let max = finite().fold(f64::NEG_INFINITY, f64::max);
            assert!(kept.iter().any(|&i| values[i] == min), "case {case}: min");
            assert!(kept.iter().any(|&i| values[i] == max), "case {case}: max");
        }
    }
}

#[test]
fn spreading_keeps_rows_evenly_from_first_to_last() {
    assert_eq!(spread_indices(10, 4), [0, 3, 6, 9]);
    assert_eq!(spread_indices(3, 5), [0, 1, 2]);
    assert_eq!(spread_indices(10, 1), [9]);
    assert!(spread_indices(10, 0).is_empty());
    for (len, max_rows) in [(1_000, 7), (5, 4), (1_000_001, 1_000)] {
        let kept = spread_indices(len, max_rows);
        assert_eq!(kept.len(), max_rows);
        assert!(kept.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!((kept[0], kept[max_rows - 1]), (0, len - 1));
    }
}

#[test]
fn ema_smoothing_is_debiased_as_tensorboard_does() {
    let smoothed = smooth_ema(&[1.0, 2.0, 3.0], 0.5);
    let expected = [1.0, 1.25 / 0.75, 2.125 / 0.875];
    for (got, want) in smoothed.iter().zip(expected) {
        assert!((got - want).abs() < 1e-12, "{smoothed:?}");
    }
    assert_eq!(smooth_ema(&[1.0, 5.0, 2.0], 0.0), [1.0, 5.0, 2.0]);
    assert_eq!(smooth_ema(&[1.0, 5.0, 2.0], f64::NAN), [1.0, 5.0, 2.0]);
    assert_eq!(
        smooth_ema(&[4.0; 5], 0.9),
        [4.0; 5],
        "constant series untouched"
    );
    assert!(smooth_ema(&[], 0.6).is_empty());

    // A value that is not finite is passed through and left out of the average.
    let smoothed = smooth_ema(&[1.0, f64::NAN, 3.0], 0.5);
    assert!(smoothed[1].is_nan());
    assert!((smoothed[2] - 1.75 / 0.75).abs() < 1e-12);

    // A weight of 1 or more smooths as much as the slider allows, still following the data.
    let smoothed = smooth_ema(&[1.0, 2.0, 3.0], 7.0);
    assert!(smoothed.iter().all(|value| (1.0..=3.0).contains(value)));
}

#[test]
fn runs_with_the_same_steps_aggregate_into_mean_min_max_and_std() {
    let a = [
        Point { x: 0.0, y: 1.0 },
        Point { x: 1.0, y: 2.0 },
        Point { x: 2.0, y: 3.0 },
    ];
    let b = [
        Point { x: 0.0, y: 3.0 },
        Point { x: 2.0, y: 4.0 },
        // The same step twice counts once, with the mean.
        Point { x: 2.0, y: 6.0 },
    ];
    let c = [
        Point {
            x: 1.0,
            y: f64::NAN,
        },
        Point {
            x: 3.0,
            y: f64::NAN,
        },
    ];
    let group = aggregate_runs(&[&a, &b, &c], Alignment::SameX);
    assert_eq!(group.x, [0.0, 1.0, 2.0]);
    assert_eq!(group.mean, [2.0, 2.0, 4.0]);
    assert_eq!(group.min, [1.0, 2.0, 3.0]);
    assert_eq!(group.max, [3.0, 2.0, 5.0]);
    assert_eq!(group.std, [1.0, 0.0, 1.0]);
    assert_eq!(group.runs, [2, 1, 2]);
    assert_eq!(aggregate_runs(&[], Alignment::SameX), Default::default());
}

#[test]
fn runs_logged_at_different_times_aggregate_by_bucket() {
    let a = [
        Point { x: 0.0, y: 1.0 },
        Point { x: 4.0, y: 3.0 },
        Point { x: 10.0, y: 5.0 },
    ];
    let b = [Point { x: 1.0, y: 2.0 }, Point { x: 9.0, y: 4.0 }];
    let group = aggregate_runs(
        &[&a, &b],
        Alignment::Buckets {
            range: None,
            count: 2,
        },
    );
    assert_eq!(group.x, [2.5, 7.5]);
    assert_eq!(group.mean, [2.0, 4.5]);
    assert_eq!(group.std, [0.0, 0.5]);
    assert_eq!(group.runs, [2, 2]);

    let zoomed = aggregate_runs(
        &[&a, &b],
        Alignment::Buckets {
            range: Some(XRange {
                from: 0.5,
                to: f64::INFINITY,
            }),
            count: 1,
        },
    );
    assert_eq!(zoomed.x, [5.25]);
    assert_eq!(zoomed.mean, [(4.0 + 3.0) / 2.0]);
}

#[test]
fn a_series_request_needs_only_runs_and_names() {
    let request: SeriesRequest =
        serde_json::from_str(r#"{"runs": ["a", "b"], "names": ["loss"]}"#).unwrap();
    assert_eq!(request.axis, XAxis::Step);
    assert_eq!(request.buckets, DEFAULT_SERIES_BUCKETS);
    assert_eq!(request.range, None);
    let request: SeriesRequest = serde_json::from_str(
        r#"{"runs": ["a"], "names": ["loss"], "axis": "relative", "buckets": 10, "range": {"from": 1, "to": 2}}"#,
    )
    .unwrap();
    assert_eq!(request.axis, XAxis::Relative);
    assert_eq!(request.range, Some(XRange { from: 1.0, to: 2.0 }));
    assert_eq!(serde_json::to_value(XAxis::Time).unwrap(), "time");
}

/// Picks one of `choices`.
fn pick<'a>(random: &mut Random, choices: &[&'a str]) -> &'a str {
    choices[random.below(choices.len() as u64) as usize]
}

/// A timestamp built from parts in and out of range, in the shapes clients write and others.
fn random_timestamp(random: &mut Random) -> String {
    let year = pick(
        random,
        &[
            "0000", "1900", "1970", "1999", "2000", "2024", "2100", "9999",
        ],
    );
    let month = pick(
        random,
        &["00", "01", "02", "04", "06", "09", "11", "12", "13", "1"],
    );
    let day = pick(
        random,
        &["00", "01", "15", "28", "29", "30", "31", "32", "7"],
    );
    let separator = pick(random, &["T", "t", " ", "x", ""]);
    let hour = pick(random, &["00", "09", "23", "24", "5"]);
    let minute = pick(random, &["00", "30", "59", "60"]);
    let second = pick(random, &[":00", ":05", ":59", ":60", ":61", "", ":5"]);
    let digits = random.below(11) as usize;
    let fraction = match digits {
        10 => String::new(),
        digits => format!(".{}", &"9081726354"[..digits]),
    };
    let offset = pick(
        random,
        &[
            "",
            "Z",
            "z",
            "+00:00",
            "-05:30",
            "+05:30",
            "+0530",
            "-0000",
            "+05",
            "+5:30",
            "+99:99",
            "+00:00 ",
            "-05:3",
            "Zz",
            "+0:530",
            "+aa:bb",
            "|",
            "+00:00:00",
        ],
    );
    format!("{year}-{month}-{day}{separator}{hour}:{minute}{second}{fraction}{offset}")
}

#[test]
fn the_fast_timestamp_path_reads_what_the_general_one_reads_and_nothing_else() {
    // The shapes traceml and Python write take the fast path.
    for text in [
        "2024-01-02 03:04:05.123456+00:00",
        "2024-01-02T03:04:05.123456+00:00",
        "2024-01-02T03:04:05+00:00",
        "2024-01-02T03:04:05.1Z",
        "2024-01-02T08:34:05.123456789-05:30",
        "2024-02-29 23:59:60+0000",
        "2000-02-29T00:00:00",
    ] {
        let fast = Timestamp::parse_common(text.as_bytes());
        assert!(fast.is_some(), "{text}");
        assert_eq!(fast, Timestamp::parse(text), "{text}");
    }
    let mut random = Random(0x7135);
    let mut fast_reads = 0;
    for _ in 0..200_000 {
        let mut text = random_timestamp(&mut random).into_bytes();
        // And now and then a byte changed, to any byte at all.
        if random.one_in(3) {
            let at = random.below(text.len() as u64) as usize;
            text[at] = random.below(256) as u8;
        }
        let Some(fast) = Timestamp::parse_common(&text) else {
            continue;
        };
        fast_reads += 1;
        let text = std::str::from_utf8(&text).expect("what the fast path reads is UTF-8");
        assert_eq!(Some(fast), Timestamp::parse(text), "{text}");
    }
    assert!(fast_reads > 2_000, "{fast_reads}");
}

#[test]
fn the_fast_metric_line_path_reads_as_the_general_one() {
    // `read_events` keeps values as text and reads no line the fast way: its step and time, and
    // its value read as a float, are what the general path makes of a metric line.
    let steps = [
        "0",
        "12",
        "-3",
        "+4",
        " 5",
        "",
        "007",
        "99999999999999999999",
        "1.5",
        "-",
    ];
    let values = [
        "0.5",
        "nan",
        "NaN",
        "-inf",
        "1e-05",
        " 0.25",
        "0.25 ",
        "1|2",
        "",
        "x",
        ".5",
        "5.",
        "0.7234567891234567",
        "inf\r",
        "1\u{a0}",
        "\u{a0}1",
    ];
    let mut random = Random(0x11e5);
    let mut fast_rows = 0;
    for _ in 0..20_000 {
        let timestamp = if random.one_in(4) {
            pick(
                &mut random,
                &["", " 2024-01-02 03:04:05+00:00", "2024-01-02"],
            )
            .to_owned()
        } else {
            random_timestamp(&mut random)
        };
        let step = pick(&mut random, &steps);
        let value = pick(&mut random, &values);
        let end = if random.one_in(5) { "\r" } else { "" };
        let file = format!("step|timestamp|metric\n{step}|{timestamp}|{value}{end}\n");
        let metrics = EventCursor::default().read_metrics(file.as_bytes());
        let events = EventCursor::default().read_events(file.as_bytes());
        let expected = match (events.rows.first(), events.bad_lines.first()) {
            (Some(row), None) => match row.value.trim().parse::<f64>() {
                Ok(value) => Ok((row.step, row.timestamp, value.to_bits())),
                Err(_) => Err(LineProblem::InvalidValue),
            },
            (None, Some(bad)) => Err(bad.problem),
            other => panic!("{file:?}: {other:?}"),
        };
        let read = match (metrics.rows.first(), metrics.bad_lines.first()) {
            (Some(row), None) => Ok((row.step, row.timestamp, row.value.to_bits())),
            (None, Some(bad)) => Err(bad.problem),
            other => panic!("{file:?}: {other:?}"),
        };
        assert_eq!(read, expected, "{file:?}");
        fast_rows += usize::from(read.is_ok());
    }
    assert!(fast_rows > 2_000, "{fast_rows}");
}

/// Equal, `NaN`s and signed zeros included: floats compared by their bits.
fn same_series(a: &SeriesResponse, b: &SeriesResponse) -> bool {
    let bits = |values: &[f64]| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    a.series.len() == b.series.len()
        && a.series.iter().zip(&b.series).all(|(a, b)| {
            let bands = |band: &Option<SeriesBand>| {
                band.as_ref().map(|band| {
                    [&band.x_start, &band.x_end, &band.min, &band.max].map(|column| bits(column))
                })
            };
            let (mut a_plain, mut b_plain) = (a.clone(), b.clone());
            for plain in [&mut a_plain, &mut b_plain] {
                plain.x.clear();
                plain.y.clear();
                plain.band = None;
            }
            bits(&a.x) == bits(&b.x)
                && bits(&a.y) == bits(&b.y)
                && bands(&a.band) == bands(&b.band)
                && a_plain == b_plain
        })
}

/// A summary with each field there or not, its last value now and then not a number.
fn random_summary(random: &mut Random) -> Option<MetricSummary> {
    if random.one_in(4) {
        return None;
    }
    let maybe = |random: &mut Random| !random.one_in(3);
    let time = |random: &mut Random| Timestamp::from_micros(random.next() as i64 >> 8);
    Some(MetricSummary {
        count: random.next() >> random.below(64),
        non_finite: random.below(1_000),
        last: maybe(random).then(|| {
            if random.one_in(4) {
                f64::NAN
            } else {
                random.unit() - 0.5
            }
        }),
        min: maybe(random).then(|| -random.unit()),
        max: maybe(random).then(|| random.unit() * 1e300),
        first_step: maybe(random).then(|| -(random.below(1_000) as i64)),
        last_step: maybe(random).then(|| random.next() as i64),
        first_time: maybe(random).then(|| time(random)),
        last_time: maybe(random).then(|| time(random)),
    })
}

/// What `summary` reads back as after any trip through the wire: a last value that is not a
/// number is none, as JSON's `null`.
fn on_the_wire(summary: Option<MetricSummary>) -> Option<MetricSummary> {
    summary.map(|mut summary| {
        summary.last = summary.last.filter(|last| last.is_finite());
        summary
    })
}

/// Random answers as the server makes them (downsampled series, whose bands go as counts) and
/// as it does not (fractional and huge x, bands of another making, columns of other lengths).
fn random_answer(random: &mut Random) -> SeriesResponse {
    let series = (0..random.below(6))
        .map(|index| {
            let mut points = random_series(random);
            if random.one_in(2) {
                // Steps: whole x.
                points
                    .iter_mut()
                    .for_each(|point| point.x = point.x.round());
            }
            let range = random_range(random, &points);
            let buckets = 1 + random.below(40) as usize;
            let mut series = Series::new(
                format!("{:032x}", random.next()),
                format!("loss/{index}"),
                downsample(&points, range, buckets),
            );
            series.without_x = random.below(3);
            series.summary = on_the_wire(random_summary(random));
            match random.below(8) {
                0 => {
                    // Beyond 2⁵³, x is no longer sent as whole numbers.
                    series.x.iter_mut().for_each(|x| *x *= 1e17);
                }
                1 => {
                    if let Some(band) = &mut series.band {
                        band.max.iter_mut().for_each(|max| *max += 1.0);
                    }
                }
                2 => {
                    series.band = Some(SeriesBand {
                        x_start: vec![1.5, f64::NAN],
                        x_end: vec![2.5],
                        min: vec![-0.0, 3.0],
                        max: vec![f64::INFINITY, 4.0],
                    });
                }
                _ => {}
            }
            series
        })
        .collect();
    SeriesResponse { series }
}

/// What `answer` reads back as: a band's columns padded with `NaN` to the length of `min`.
fn padded(mut answer: SeriesResponse) -> SeriesResponse {
    for series in &mut answer.series {
        if let Some(band) = &mut series.band {
            let b = band.min.len();
            for column in [&mut band.x_start, &mut band.x_end, &mut band.max] {
                column.resize(b, f64::NAN);
            }
        }
    }
    answer
}

#[test]
fn the_binary_series_answer_reads_back_exactly_what_was_sent() {
    let mut random = Random(0xB1_4A_27);
    let (mut counted, mut whole) = (0, 0);
    for case in 0..400 {
        let answer = random_answer(&mut random);
        let bytes = encode_series(&answer);
        let back = decode_series(&bytes).unwrap_or_else(|error| panic!("case {case}: {error}"));
        let expected = padded(answer.clone());
        assert!(same_series(&back, &expected), "case {case}: {back:?}");
        // The server's own bands go as a byte per bucket, steps as a few bytes each.
        for series in &answer.series {
            let alone = |series: Series| {
                encode_series(&SeriesResponse {
                    series: vec![series],
                })
            };
            let without_band = Series {
                band: None,
                ..series.clone()
            };
            let band_bytes = alone(series.clone()).len() - alone(without_band.clone()).len();
            if let Some(band) = series.band.as_ref().filter(|band| band.min.len() > 1) {
                counted += usize::from(band_bytes <= 4 + band.min.len());
            }
            let halves = Series {
                x: series.x.iter().map(|x| x + 0.5).collect(),
                ..without_band.clone()
            };
            let steps = !series.x.is_empty() && series.x.iter().all(|x| x.fract() == 0.0);
            let saved = alone(halves).len() - alone(without_band).len();
            whole += usize::from(steps && saved >= 5 * series.x.len());
        }
    }
    assert!(counted > 50 && whole > 100, "{counted} {whole}");
}

#[test]
fn a_downsampled_series_takes_about_ten_bytes_a_point() {
    let points: Vec<Point> = (0..100_000)
        .map(|step| Point {
            x: f64::from(step),
            y: 1.0 / (1.0 + f64::from(step)) + f64::from(step % 7) * 1e-3,
        })
        .collect();
    let mut series = Series::new("a".repeat(32), "loss", downsample(&points, None, 1_000));
    series.summary = Some(MetricSummary::default());
    let answer = SeriesResponse {
        series: vec![series],
    };
    let bytes = encode_series(&answer);
    let json = serde_json::to_vec(&answer).expect("JSON");
    let points = answer.series[0].x.len();
    assert!(points > 3_000, "{points}");
    // y's eight bytes, a delta of a step or two, and a byte per bucket of four points.
    assert!(bytes.len() < points * 11, "{} bytes", bytes.len());
    assert!(
        bytes.len() * 3 < json.len(),
        "{} / {}",
        bytes.len(),
        json.len()
    );
    assert!(same_series(&decode_series(&bytes).expect("reads"), &answer));
}

#[test]
fn bytes_that_are_not_a_series_answer_are_an_error_never_a_panic() {
    let mut random = Random(7);
    let answer = random_answer(&mut random);
    let bytes = encode_series(&answer);
    // Cut anywhere, it is an error saying where.
    for end in 0..bytes.len() {
        let error = decode_series(&bytes[..end]).expect_err("a cut answer");
        assert!(error.offset <= end, "{error}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        decode_series(&longer).expect_err("a byte too many").offset,
        bytes.len()
    );
    // Any byte changed: read or refused, never a panic.
    for case in 0..20_000 {
        let mut changed = bytes.clone();
        let at = random.below(changed.len() as u64) as usize;
        changed[at] = random.next() as u8;
        if case % 3 == 0 {
            let other = random.below(changed.len() as u64) as usize;
            changed[other] = 0xff;
        }
        let _ = decode_series(&changed);
    }
    // A count of more than the bytes hold allocates nothing and says so.
    let mut huge = b"MYS1".to_vec();
    huge.extend([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    let error = decode_series(&huge).expect_err("a huge count");
    assert_eq!(error.offset, 4);
    assert!(error.to_string().contains("more than follows"), "{error}");
    assert!(decode_series(b"JSON{}").is_err());
}

#[test]
fn a_chart_of_many_lines_asks_for_fewer_buckets_each_within_its_points() {
    assert_eq!(chart_buckets(0), DEFAULT_SERIES_BUCKETS);
    assert_eq!(chart_buckets(3), DEFAULT_SERIES_BUCKETS);
    assert_eq!(chart_buckets(100), 500);
    assert_eq!(chart_buckets(1_000), 50);
    assert_eq!(chart_buckets(usize::MAX), 50);
    for lines in [1, 10, 50, 51, 100, 999, 1_000] {
        assert!(lines as u32 * chart_buckets(lines) * 4 <= CHART_POINTS.max(lines as u32 * 200));
    }
}
