//! Which inputs matter to a metric across runs, as Polyaxon's `runs/multi/importance` answers:
//! for each input (each value of a text input, one-hot, as `opt_adam`), its importance to the
//! metric by an ensemble of extremely randomized trees (Geurts et al., "Extremely randomized
//! trees", 2006; Polyaxon fits scikit-learn's `ExtraTreesRegressor` with 250 of them) and its
//! Pearson correlation with the metric, both to three decimals.
//!
//! Importance is each column's mean decrease in variance over the trees' splits, weighted by
//! the runs each split divides, normalized per tree and averaged (scikit-learn's
//! `feature_importances_`). The trees' randomness comes from a seed the caller passes, so an
//! answer is reproducible; it is not scikit-learn's generator, so the numbers are not
//! Polyaxon's to the digit, only alike in what they say.
//!
//! The work is bounded whatever the input: at most [`MAX_RUNS`] runs, [`MAX_KEYS`] input names
//! and [`MAX_COLUMNS`] columns are taken, and fewer trees are grown when many runs and columns would make 250 too
//! slow ([`WORK`]).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value as Json};

/// The most runs weighed; the first ones are taken.
pub const MAX_RUNS: usize = 5_000;
/// The most columns (inputs, and text inputs' values) weighed; the first by name are taken.
pub const MAX_COLUMNS: usize = 200;
/// The most input names looked at, the first by name: each is looked up in every run, and a
/// name may bring no column (one that is always null).
pub const MAX_KEYS: usize = 1_000;
/// Trees grown when the work allows, as Polyaxon grows.
pub const TREES: usize = 250;
/// About how many comparisons the trees may take in all.
pub const WORK: usize = 100_000_000;

/// One input's weight for the metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weight {
    /// Its share of the trees' variance reduction, from 0 to 1; the columns' shares sum to 1
    /// (or are all 0 when the metric never varies).
    pub importance: f64,
    /// Its Pearson correlation with the metric, from -1 to 1; `None` when it or the metric
    /// never varies.
    pub correlation: Option<f64>,
}

/// The weight of each input (or text input's value, as `name_value`) for `metrics`, the
/// metric's value of each run whose inputs are in `params`, in the same order. `None` when
/// there is nothing to weigh: fewer than two runs, lists of different lengths, a metric that
/// is not a finite number, or no input. A run without a numeric input that others have is left
/// out; a text input a run lacks is none of its values.
pub fn importance(
    params: &[Map<String, Json>],
    metrics: &[Json],
    seed: u64,
) -> Option<BTreeMap<String, Weight>> {
    if params.len() != metrics.len() {
        return None;
    }
    let runs = params.len().min(MAX_RUNS);
    let (params, metrics) = (&params[..runs], &metrics[..runs]);
    let targets: Vec<f64> = metrics
        .iter()
        .map(|metric| metric.as_f64().filter(|value| value.is_finite()))
        .collect::<Option<_>>()?;
    let (names, rows) = encode(params);
    // Runs missing a numeric input are left out.
    let (rows, targets): (Vec<Vec<f64>>, Vec<f64>) = rows
        .into_iter()
        .zip(targets)
        .filter(|(row, _)| row.iter().all(|value| value.is_finite()))
        .unzip();
    if rows.len() < 2 || names.is_empty() {
        return None;
    }
    let columns: Vec<Vec<f64>> = (0..names.len())
        .map(|column| rows.iter().map(|row| row[column]).collect())
        .collect();
    let importances = forest(&columns, &targets, seed);
    Some(
        names
            .into_iter()
            .zip(importances)
            .zip(&columns)
            .map(|((name, importance), column)| {
                let weight = Weight {
                    importance: round3(importance),
                    correlation: pearson(column, &targets).map(round3),
                };
                (name, weight)
            })
            .collect(),
    )
}

fn round3(value: f64) -> f64 {
    (value * 1_000.0).round() / 1_000.0
}

/// How a column is read from a run's inputs.
enum Column<'a> {
    /// A number (a boolean as 0 or 1); `NaN` when the run has none.
    Number(&'a str),
    /// 1 when the input has this value (as text), else 0.
    OneHot(&'a str, String),
}

impl Column<'_> {
    fn read(&self, run: &Map<String, Json>) -> f64 {
        match self {
            Self::Number(key) => run.get(*key).and_then(number).unwrap_or(f64::NAN),
            Self::OneHot(key, value) => {
                let matches = run
                    .get(*key)
                    .is_some_and(|input| !input.is_null() && text(input) == *value);
                f64::from(u8::from(matches))
            }
        }
    }

    fn name(&self) -> String {
        match self {
            Self::Number(key) => (*key).to_owned(),
            Self::OneHot(key, value) => format!("{key}_{value}"),
        }
    }
}

fn number(value: &Json) -> Option<f64> {
    match value {
        Json::Number(number) => number.as_f64(),
        Json::Bool(flag) => Some(f64::from(u8::from(*flag))),
        _ => None,
    }
}

fn text(value: &Json) -> String {
    match value {
        Json::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The inputs as numeric columns: numbers (and booleans, as 0 and 1) as they are, other values
/// one-hot by their text (`name_value`), columns sorted by name. A missing number is `NaN`.
fn encode(params: &[Map<String, Json>]) -> (Vec<String>, Vec<Vec<f64>>) {
    let keys: BTreeSet<&String> = params.iter().flat_map(Map::keys).collect();
    let mut columns = Vec::new();
    for key in keys.into_iter().take(MAX_KEYS) {
        // A key is numeric when every value it has is a number; null is no value.
        let values: Vec<&Json> = params
            .iter()
            .filter_map(|run| run.get(key))
            .filter(|value| !value.is_null())
            .collect();
        if values.iter().all(|value| number(value).is_some()) {
            columns.push(Column::Number(key));
        } else {
            let kinds: BTreeSet<String> = values.iter().map(|value| text(value)).collect();
            columns.extend(kinds.into_iter().map(|kind| Column::OneHot(key, kind)));
        }
        if columns.len() >= MAX_COLUMNS {
            columns.truncate(MAX_COLUMNS);
            break;
        }
    }
    let rows = params
        .iter()
        .map(|run| columns.iter().map(|column| column.read(run)).collect())
        .collect();
    (columns.iter().map(Column::name).collect(), rows)
}

fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len() as f64;
    let (mean_x, mean_y) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut covariance, mut var_x, mut var_y) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mean_x, b - mean_y);
        covariance += dx * dy;
        var_x += dx * dx;
        var_y += dy * dy;
    }
    let denominator = (var_x * var_y).sqrt();
    (denominator > 0.0).then(|| (covariance / denominator).clamp(-1.0, 1.0))
}

/// xorshift64*: the trees' randomness, from the caller's seed.
struct Random(u64);

impl Random {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1_u64 << 53) as f64
    }
}

/// Each column's importance over an ensemble of extremely randomized trees.
fn forest(columns: &[Vec<f64>], targets: &[f64], seed: u64) -> Vec<f64> {
    let runs = targets.len();
    let depth = (usize::BITS - runs.leading_zeros()) as usize;
    let per_tree = runs
        .saturating_mul(columns.len())
        .saturating_mul(depth)
        .max(1);
    let trees = (WORK / per_tree).clamp(1, TREES);
    let mut random = Random(seed | 1);
    let mut totals = vec![0.0; columns.len()];
    for _ in 0..trees {
        let mut gains = vec![0.0; columns.len()];
        let mut indices: Vec<usize> = (0..runs).collect();
        grow(columns, targets, &mut indices, &mut gains, &mut random);
        let sum: f64 = gains.iter().sum();
        if sum > 0.0 {
            for (total, gain) in totals.iter_mut().zip(gains) {
                *total += gain / sum;
            }
        }
    }
    let sum: f64 = totals.iter().sum();
    if sum > 0.0 {
        totals.iter_mut().for_each(|total| *total /= sum);
    }
    totals
}

/// Sum of squared deviations from the mean of `targets` at `indices`.
fn spread(targets: &[f64], indices: &[usize]) -> f64 {
    let n = indices.len() as f64;
    let mean = indices.iter().map(|&i| targets[i]).sum::<f64>() / n;
    indices.iter().map(|&i| (targets[i] - mean).powi(2)).sum()
}

/// Splits the runs at `indices` until each node holds one run or cannot be split, adding each
/// split's variance reduction to its column's gain. A work list rather than recursion, so a
/// deep tree cannot overflow the stack.
fn grow(
    columns: &[Vec<f64>],
    targets: &[f64],
    indices: &mut [usize],
    gains: &mut [f64],
    random: &mut Random,
) {
    let mut nodes: Vec<&mut [usize]> = vec![indices];
    while let Some(node) = nodes.pop() {
        if node.len() < 2 {
            continue;
        }
        let before = spread(targets, node);
        if before <= 0.0 {
            continue;
        }
        // One random threshold per column, between its lowest and highest value here; the
        // best of them splits the node.
        let mut best: Option<(usize, f64, f64)> = None;
        for (column, values) in columns.iter().enumerate() {
            let (low, high) = node
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &i| {
                    (lo.min(values[i]), hi.max(values[i]))
                });
            if low >= high {
                continue;
            }
            let threshold = low + random.unit() * (high - low);
            let (mut left, mut right) = ((0.0, 0.0, 0_usize), (0.0, 0.0, 0_usize));
            for &i in node.iter() {
                let side = if values[i] <= threshold {
                    &mut left
                } else {
                    &mut right
                };
                side.0 += targets[i];
                side.1 += targets[i] * targets[i];
                side.2 += 1;
            }
            let within = |(sum, squares, n): (f64, f64, usize)| {
                if n == 0 {
                    0.0
                } else {
                    squares - sum * sum / n as f64
                }
            };
            let after = within(left) + within(right);
            if best.is_none_or(|(_, _, best_after)| after < best_after) {
                best = Some((column, threshold, after));
            }
        }
        let Some((column, threshold, after)) = best else {
            continue;
        };
        gains[column] += (before - after).max(0.0);
        let values = &columns[column];
        let mut split = 0;
        for at in 0..node.len() {
            if values[node[at]] <= threshold {
                node.swap(at, split);
                split += 1;
            }
        }
        let (left, right) = node.split_at_mut(split);
        nodes.push(left);
        nodes.push(right);
    }
}
