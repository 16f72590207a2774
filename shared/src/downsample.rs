//! Series as a chart draws them: reduced to what a chart's width can show without hiding an
//! extreme, smoothed, and aggregated across runs.
//!
//! Functions that take points take them sorted by x, with finite x (a step, a time or a duration). Points
//! whose y is not finite (`NaN`, `±inf`, what a diverging run logs) cannot be drawn: they never
//! become an extreme nor a point of the output, and every function that leaves them out says how
//! many it left out. Unsorted input or a non-finite x gives an output that may not be sorted, but
//! never a panic.
//!
//! Downsampling is M4 (Jugel et al., "M4: A Visualization-Oriented Time Series Data
//! Aggregation", VLDB 2014): the x range is cut into buckets of equal width and each bucket keeps
//! its first, lowest, highest and last point. A line drawn through those, one bucket per pixel
//! column, is the line drawn through every point, so a spike never disappears at any zoom.

use crate::api::XRange;

/// One point of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Where the point sits along the x axis.
    pub x: f64,
    /// Its value.
    pub y: f64,
}

/// A series reduced for drawing by [`downsample`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Downsampled {
    /// The points to draw, sorted by x: every point in range when there are few enough,
    /// otherwise each bucket's first, lowest, highest and last point, each once.
    pub points: Vec<Point>,
    /// Each non-empty bucket's lowest and highest value, in x order, for drawing a band around
    /// the line; empty when `points` are all the points in range.
    pub bands: Vec<Band>,
    /// How many points lie in range, non-finite ones included: what `points` stand for.
    pub total: usize,
    /// How many of the points in range have a `NaN` or infinite y, and so are not in `points`.
    pub non_finite: usize,
}

/// The spread of values in one bucket of a downsampled series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    /// The x of the bucket's first point.
    pub x_start: f64,
    /// The x of the bucket's last point.
    pub x_end: f64,
    /// The bucket's lowest value.
    pub min: f64,
    /// The bucket's highest value.
    pub max: f64,
}

/// Reduces the points within `range` (all of them when `None`; both ends included) to at most
/// four per bucket, `buckets` buckets cutting the range into equal widths, keeping each bucket's
/// first, lowest, highest and last point.
///
/// When there are no more than `4 × buckets` points in range they are all returned as they are
/// (but for those whose y is not finite): zoomed in far enough, a chart shows every point.
///
/// The buckets span `range` when its ends are finite, so that a chart's buckets stay where its
/// pixels are as data arrives, and otherwise the x of the first and last points in range. With
/// `lo` and `hi` those ends, a point goes into bucket
/// `min(buckets - 1, floor((x - lo) / (hi - lo) × buckets))`, or bucket 0 when `hi == lo`.
pub fn downsample(points: &[Point], range: Option<XRange>, buckets: usize) -> Downsampled {
    let in_range = within(points, range);
    let total = in_range.len();
    if total <= buckets.saturating_mul(4) {
        let mut finite = Vec::with_capacity(total);
        finite.extend(in_range.iter().filter(|point| point.y.is_finite()));
        return Downsampled {
            non_finite: total - finite.len(),
            points: finite,
            bands: Vec::new(),
            total,
        };
    }
    let mut reduced = Downsampled {
        points: Vec::with_capacity(buckets.saturating_mul(4).min(total)),
        bands: Vec::with_capacity(buckets.min(total)),
        total,
        non_finite: 0,
    };
    let Some(grid) = Grid::spanning(in_range, range, buckets) else {
        // No buckets were asked for: nothing is drawn, but what is there is still counted.
        reduced.non_finite = in_range.iter().filter(|point| !point.y.is_finite()).count();
        return reduced;
    };
    reduced.non_finite = scan_buckets(
        in_range.len(),
        |i| in_range[i],
        grid,
        |extremes| {
            let (indices, len) = extremes.in_order();
            reduced
                .points
                .extend(indices[..len].iter().map(|&i| in_range[i]));
            reduced.bands.push(Band {
                x_start: in_range[extremes.first].x,
                x_end: in_range[extremes.last].x,
                min: extremes.min_y,
                max: extremes.max_y,
            });
        },
    );
    reduced
}

/// Which rows of a series of `values` (in file order) to keep so that at most `max_rows` remain
/// and none of its extremes is lost: Polyaxon's `sample=N`, which takes a random subset, made
/// deterministic and faithful to the curve. Returns ascending indices.
///
/// The first and last rows are always kept (the last alone when `max_rows` is 1); the rows
/// between are reduced by [`downsample`]'s rule with the row index as x and `(max_rows - 2) / 4`
/// buckets. Rows between whose value is not finite are dropped, as any sample drops rows.
pub fn sample_indices(values: &[f64], max_rows: usize) -> Vec<usize> {
    let len = values.len();
    if len <= max_rows {
        return (0..len).collect();
    }
    if max_rows == 0 {
        return Vec::new();
    }
    if max_rows == 1 {
        return vec![len - 1];
    }
    let mut kept = Vec::with_capacity(max_rows);
    kept.push(0);
    // `len > max_rows >= 2`, so there is at least one row between the first and the last.
    let between = &values[1..len - 1];
    let index_as_x = |i: usize| Point {
        x: i as f64,
        y: between[i],
    };
    let grid = Grid::new(0.0, (between.len() - 1) as f64, (max_rows - 2) / 4);
    if let Some(grid) = grid {
        scan_buckets(between.len(), index_as_x, grid, |extremes| {
            let (indices, len) = extremes.in_order();
            kept.extend(indices[..len].iter().map(|&i| i + 1));
        });
    }
    kept.push(len - 1);
    kept
}

/// Which of `len` rows to keep so that at most `max_rows` remain, spread evenly from the first
/// to the last: `sample=N` for kinds without a value to keep the extremes of (images, audio, …).
/// Returns ascending indices.
pub fn spread_indices(len: usize, max_rows: usize) -> Vec<usize> {
    match max_rows {
        _ if len <= max_rows => (0..len).collect(),
        0 => Vec::new(),
        1 => vec![len - 1],
        // Rounding `k × (len - 1) / (max_rows - 1)` gives strictly increasing indices since
        // the step between them is more than one; u128 keeps the product from overflowing.
        _ => (0..max_rows)
            .map(|k| {
                let scaled = k as u128 * (len - 1) as u128;
                let steps = (max_rows - 1) as u128;
                ((scaled + steps / 2) / steps) as usize
            })
            .collect(),
    }
}

/// Smooths `values` by an exponential moving average debiased as TensorBoard's smoothing
/// slider does, so that the first values are not pulled towards zero.
///
/// `weight` is the slider: 0 leaves the values as they are, values towards 1 smooth more; it is
/// held within `[0, 0.999]` (the slider's end), a `NaN` weight counting as 0. A value that is
/// not finite is passed through and does not enter the average, and a series whose values are
/// all equal is returned as it is, as TensorBoard does to avoid showing rounding noise.
pub fn smooth_ema(values: &[f64], weight: f64) -> Vec<f64> {
    let weight = if weight.is_nan() {
        0.0
    } else {
        weight.clamp(0.0, 0.999)
    };
    let constant = values.windows(2).all(|pair| pair[0] == pair[1]);
    if constant {
        return values.to_vec();
    }
    let mut average = 0.0;
    // `weight` raised to the number of values averaged so far: the part of the average still
    // owed to its zero start, which debiasing divides out.
    let mut zero_share = 1.0;
    values
        .iter()
        .map(|&value| {
            if !value.is_finite() {
                return value;
            }
            average = average * weight + (1.0 - weight) * value;
            zero_share *= weight;
            average / (1.0 - zero_share)
        })
        .collect()
}

/// How the points of several runs are matched up by [`aggregate_runs`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Alignment {
    /// Points at the same x belong together: steps, which runs share.
    SameX,
    /// Points in the same bucket belong together: times, which runs rarely share. The buckets
    /// cut `range` into `count` equal widths, as [`downsample`]'s do, an open or missing end
    /// stopping at the first or last x of all runs, and each bucket is placed at its middle.
    Buckets {
        /// The x range to aggregate; points outside it are left out.
        range: Option<XRange>,
        /// How many buckets cut it.
        count: usize,
    },
}

/// Several runs' series aggregated into one, as columns: at each x, statistics of the runs'
/// values there. A run with several values at one x (or in one bucket) counts once, with their
/// mean. Only finite values count; an x where no run has one is left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupSeries {
    /// Where each aggregate sits, ascending.
    pub x: Vec<f64>,
    /// The mean of the runs' values.
    pub mean: Vec<f64>,
    /// The lowest of the runs' values.
    pub min: Vec<f64>,
    /// The highest of the runs' values.
    pub max: Vec<f64>,
    /// The population standard deviation of the runs' values (0 for a single run).
    pub std: Vec<f64>,
    /// How many runs have a value there.
    pub runs: Vec<usize>,
}

/// Aggregates several runs' series, each sorted by x, into the mean line and min–max or
/// standard-deviation band of a group of runs. Takes time proportional to the number of points
/// times the number of runs, and memory for the output and a cursor per run.
pub fn aggregate_runs(runs: &[&[Point]], alignment: Alignment) -> GroupSeries {
    match alignment {
        Alignment::SameX => merge_runs(runs, |x| x, |key| key),
        Alignment::Buckets { range, count } => {
            let Some(data) = extent(runs) else {
                return GroupSeries::default();
            };
            // An open end of the range stops where the data does.
            let bounds = match range {
                Some(XRange { from, to }) => XRange {
                    from: if from.is_finite() { from } else { data.from },
                    to: if to.is_finite() { to } else { data.to },
                },
                None => data,
            };
            let Some(grid) = Grid::new(bounds.from, bounds.to, count) else {
                return GroupSeries::default();
            };
            let in_range: Vec<&[Point]> =
                runs.iter().map(|run| within(run, Some(bounds))).collect();
            merge_runs(
                &in_range,
                |x| grid.bucket(x) as f64,
                |key| grid.middle(key as usize),
            )
        }
    }
}

/// Walks all runs at once in order of `key(x)`, consuming at each key every run's points with
/// that key, and aggregates one mean per run there.
fn merge_runs(
    runs: &[&[Point]],
    key: impl Fn(f64) -> f64,
    x_of_key: impl Fn(f64) -> f64,
) -> GroupSeries {
    let mut group = GroupSeries::default();
    let mut next = vec![0; runs.len()];
    loop {
        // `total_cmp` orders every float, so each round consumes at least the point that holds
        // the smallest key, whatever the input: the loop always ends.
        let smallest = runs
            .iter()
            .zip(&next)
            .filter_map(|(run, &at)| run.get(at).map(|point| key(point.x)))
            .min_by(f64::total_cmp);
        let Some(current) = smallest else {
            return group;
        };
        let mut across_runs = Moments::default();
        for (run, at) in runs.iter().zip(&mut next) {
            let (mut sum, mut values) = (0.0, 0_u32);
            while let Some(point) = run
                .get(*at)
                .filter(|p| key(p.x).total_cmp(&current).is_le())
            {
                if point.y.is_finite() {
                    sum += point.y;
                    values += 1;
                }
                *at += 1;
            }
            if values > 0 {
                across_runs.add(sum / f64::from(values));
            }
        }
        if across_runs.count > 0 {
            group.x.push(x_of_key(current));
            group.mean.push(across_runs.mean);
            group.min.push(across_runs.min);
            group.max.push(across_runs.max);
            group
                .std
                .push((across_runs.sum_of_squares / across_runs.count as f64).sqrt());
            group.runs.push(across_runs.count);
        }
    }
}

/// Count, mean, spread and range of values added one by one (Welford's algorithm, which stays
/// accurate where summing squares would cancel).
#[derive(Default)]
struct Moments {
    count: usize,
    mean: f64,
    /// The sum of squared differences from the mean.
    sum_of_squares: f64,
    min: f64,
    max: f64,
}

impl Moments {
    fn add(&mut self, value: f64) {
        if self.count == 0 {
            (self.min, self.max) = (value, value);
        }
        self.count += 1;
        let delta = value - self.mean;
        self.mean += delta / self.count as f64;
        self.sum_of_squares += delta * (value - self.mean);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }
}

/// The points of a sorted series within `range`, both ends included.
fn within(points: &[Point], range: Option<XRange>) -> &[Point] {
    let Some(XRange { from, to }) = range else {
        return points;
    };
    if from.is_nan() || to.is_nan() || from > to {
        return &[];
    }
    let start = points.partition_point(|point| point.x < from);
    let len = points[start..].partition_point(|point| point.x <= to);
    &points[start..start + len]
}

/// From the first x of all runs to the last, when any run has points.
fn extent(runs: &[&[Point]]) -> Option<XRange> {
    let from = runs
        .iter()
        .filter_map(|run| run.first())
        .map(|p| p.x)
        .min_by(f64::total_cmp)?;
    let to = runs
        .iter()
        .filter_map(|run| run.last())
        .map(|p| p.x)
        .max_by(f64::total_cmp)?;
    Some(XRange { from, to })
}

/// Buckets of equal width cutting `[lo, hi]`.
#[derive(Debug, Clone, Copy)]
struct Grid {
    lo: f64,
    hi: f64,
    count: usize,
}

impl Grid {
    /// `count` buckets over `[lo, hi]`; none when no buckets are asked for.
    fn new(lo: f64, hi: f64, count: usize) -> Option<Grid> {
        (count > 0).then_some(Grid { lo, hi, count })
    }

    /// The buckets [`downsample`] documents for `points`, all of them within `range`.
    fn spanning(points: &[Point], range: Option<XRange>, count: usize) -> Option<Grid> {
        let first = points.first().map_or(0.0, |point| point.x);
        let last = points.last().map_or(0.0, |point| point.x);
        let (lo, hi) = match range {
            Some(XRange { from, to }) => (
                if from.is_finite() { from } else { first },
                if to.is_finite() { to } else { last },
            ),
            None => (first, last),
        };
        Grid::new(lo, hi, count)
    }

    /// The bucket `x` falls in; `x` below the grid falls in the first and above it in the last.
    fn bucket(self, x: f64) -> usize {
        // Halving is exact, so this is `(x - lo) / (hi - lo)`, except that it cannot overflow
        // to infinity (and so to NaN) for bounds a whole float range apart.
        let fraction = (x * 0.5 - self.lo * 0.5) / (self.hi * 0.5 - self.lo * 0.5);
        // A grid of no width gives NaN for its one x, which goes with everything before the
        // grid: in the first bucket.
        if fraction.is_nan() || fraction <= 0.0 {
            return 0;
        }
        // The cast saturates, and the last bucket includes its upper end.
        ((fraction * self.count as f64).floor() as usize).min(self.count - 1)
    }

    /// The x in the middle of `bucket`.
    fn middle(self, bucket: usize) -> f64 {
        let width = (self.hi - self.lo) / self.count as f64;
        self.lo + (bucket as f64 + 0.5) * width
    }
}

/// The points of one bucket that M4 keeps, as indices into the series, among the points whose y
/// is finite.
#[derive(Debug, Clone, Copy)]
struct Extremes {
    first: usize,
    last: usize,
    min: usize,
    max: usize,
    min_y: f64,
    max_y: f64,
}

impl Extremes {
    fn of(index: usize, y: f64) -> Extremes {
        Extremes {
            first: index,
            last: index,
            min: index,
            max: index,
            min_y: y,
            max_y: y,
        }
    }

    fn add(&mut self, index: usize, y: f64) {
        self.last = index;
        if y < self.min_y {
            (self.min, self.min_y) = (index, y);
        }
        if y > self.max_y {
            (self.max, self.max_y) = (index, y);
        }
    }

    /// The kept indices in ascending order, each once: the first `len` of the array.
    fn in_order(self) -> ([usize; 4], usize) {
        let mut indices = [self.first, self.min, self.max, self.last];
        indices.sort_unstable();
        let mut len = 1;
        for i in 1..indices.len() {
            if indices[i] != indices[len - 1] {
                indices[len] = indices[i];
                len += 1;
            }
        }
        (indices, len)
    }
}

/// Hands each non-empty bucket's extremes to `visit`, in x order, in one pass over the `len`
/// points that `point` gives; returns how many points were left out for a y that is not finite.
fn scan_buckets(
    len: usize,
    point: impl Fn(usize) -> Point,
    grid: Grid,
    mut visit: impl FnMut(Extremes),
) -> usize {
    let mut non_finite = 0;
    let mut current: Option<(usize, Extremes)> = None;
    for index in 0..len {
        let Point { x, y } = point(index);
        if !y.is_finite() {
            non_finite += 1;
            continue;
        }
        let bucket = grid.bucket(x);
        match &mut current {
            Some((open, extremes)) if *open == bucket => extremes.add(index, y),
            _ => {
                if let Some((_, done)) = current.replace((bucket, Extremes::of(index, y))) {
                    visit(done);
                }
            }
        }
    }
    if let Some((_, done)) = current {
        visit(done);
    }
    non_finite
}

/// [`downsample`] of a series known by a subset of its points that holds, for each bucket of a
/// finer grid, that bucket's first, lowest, highest and last point (an M4 summary of it).
/// The buckets span `range`'s finite ends, else `first_x` and `last_x` (the x of the series'
/// first and last points, non-finite values included, as [`downsample`] spans them); the
/// points are always bucketed (the series is known to have more than `4 × buckets` points),
/// and `total` and `non_finite` are the whole series' counts.
pub fn downsample_summary(
    points: &[Point],
    range: Option<XRange>,
    buckets: usize,
    (first_x, last_x): (f64, f64),
    (total, non_finite): (usize, usize),
) -> Downsampled {
    let mut reduced = Downsampled {
        points: Vec::with_capacity(buckets.saturating_mul(4).min(points.len())),
        bands: Vec::with_capacity(buckets.min(points.len())),
        total,
        non_finite,
    };
    let ends = [Point { x: first_x, y: 0.0 }, Point { x: last_x, y: 0.0 }];
    let Some(grid) = Grid::spanning(&ends, range, buckets) else {
        return reduced;
    };
    scan_buckets(
        points.len(),
        |i| points[i],
        grid,
        |extremes| {
            let (indices, len) = extremes.in_order();
            reduced
                .points
                .extend(indices[..len].iter().map(|&i| points[i]));
            reduced.bands.push(Band {
                x_start: points[extremes.first].x,
                x_end: points[extremes.last].x,
                min: extremes.min_y,
                max: extremes.max_y,
            });
        },
    );
    reduced
}
