//! Bayesian optimization for `bayes` matrices: a Gaussian process fitted to the runs that
//! reported their metric, and an acquisition function (`ucb`, `ei`, `poi`) maximized over
//! random candidates. It suggests as many runs as it is asked for at once, each next one
//! chosen as if the ones before it had reported what the process expects of them (the
//! "kriging believer"), so a search keeps `concurrency` runs busy; Polyaxon's tuner suggests
//! one at a time after its first batch (polyaxon#706, #707).
//!
//! Every param is mapped to `[0, 1]`: a distribution by its bounds (`loguniform` in its
//! logarithm; normals within three deviations), a finite list by the position of a value in
//! it (categories in their written order). The kernel is `rbf` or `matern` with ν rounded to
//! the nearest of ½, 3⁄2 and 5⁄2 (the closed forms; sklearn's general ν needs Bessel
//! functions). Work is bounded: at most [`MAX_OBSERVED`] runs are fitted (the best ones) and as
//! many running ones believed, [`MAX_CANDIDATES`] candidates tried per suggestion, and
//! [`MAX_BATCH`] suggestions made at once.

use serde_json::{Map, Value as Json};

use crate::matrix::{Rng, Suggestion};

/// The most runs the process is fitted to.
pub const MAX_OBSERVED: usize = 300;
/// The most candidates tried for one suggestion.
pub const MAX_CANDIDATES: usize = 2_000;
/// The most runs suggested at once; a larger ask gets this many, the rest at the next ask.
pub const MAX_BATCH: usize = 100;

/// One param's place in the unit cube.
#[derive(Debug, Clone)]
enum Axis {
    /// `low + u·(high − low)`, `exp` of it when logarithmic.
    Range { low: f64, high: f64, log: bool },
    /// One of these values.
    List(Vec<Json>),
}

impl Axis {
    fn read(kind: &str, value: &Json) -> Result<Self, String> {
        let field = |name: &str| {
            value
                .get(name)
                .and_then(Json::as_f64)
                .ok_or_else(|| format!("`value.{name}` must be a number"))
        };
        match kind {
            "uniform" | "quniform" => Ok(Axis::Range {
                low: field("low")?,
                high: field("high")?,
                log: false,
            }),
            "loguniform" | "qloguniform" => Ok(Axis::Range {
                low: field("low")?,
                high: field("high")?,
                log: true,
            }),
            "normal" | "qnormal" | "lognormal" | "qlognormal" => {
                let (loc, scale) = (field("loc")?, field("scale")?);
                Ok(Axis::Range {
                    low: loc - 3.0 * scale,
                    high: loc + 3.0 * scale,
                    log: kind.contains("log"),
                })
            }
            "pchoice" => Ok(Axis::List(
                value
                    .as_array()
                    .ok_or("`value` must be a list")?
                    .iter()
                    .filter_map(|pair| pair.get(0).cloned())
                    .collect(),
            )),
            _ => Ok(Axis::List(crate::matrix::finite_values(kind, value)?)),
        }
    }

    fn decode(&self, unit: f64) -> Json {
        let unit = unit.clamp(0.0, 1.0);
        match self {
            Axis::Range { low, high, log } => {
                let value = low + unit * (high - low);
                let value = if *log { value.exp() } else { value };
                serde_json::Number::from_f64(value).map_or(Json::Null, Json::Number)
            }
            Axis::List(values) => {
                let at = (unit * (values.len() - 1) as f64).round() as usize;
                values[at.min(values.len() - 1)].clone()
            }
        }
    }

    fn encode(&self, value: &Json) -> Option<f64> {
        match self {
            Axis::Range { low, high, log } => {
                let value = value.as_f64()?;
                let value = if *log { value.ln() } else { value };
                (high > low).then(|| ((value - low) / (high - low)).clamp(0.0, 1.0))
            }
            Axis::List(values) => {
                let at = values.iter().position(|known| known == value)?;
                Some(if values.len() > 1 {
                    at as f64 / (values.len() - 1) as f64
                } else {
                    0.0
                })
            }
        }
    }
}

/// A bayes matrix's search, read.
#[derive(Debug, Clone)]
pub struct Bayes {
    names: Vec<String>,
    axes: Vec<Axis>,
    maximize: bool,
    metric: String,
    acquisition: String,
    kappa: f64,
    eps: f64,
    matern: Option<f64>,
    length_scale: f64,
    candidates: usize,
}

impl Bayes {
    /// Reads the params, `metric` and `utilityFunction` of a compiled `bayes` matrix; `order`
    /// is the params' written order.
    pub fn read(matrix: &Json, order: &[String]) -> Result<Self, String> {
        let searched = crate::guided::Searched::read(matrix, order, "bayes", Axis::read)?;
        let utility = matrix.get("utilityFunction").cloned().unwrap_or_default();
        let number = |key: &str| utility.get(key).and_then(Json::as_f64);
        let process = utility.get("gaussianProcess").cloned().unwrap_or_default();
        Ok(Self {
            names: searched.names,
            axes: searched.params,
            maximize: searched.maximize,
            metric: searched.metric,
            acquisition: utility
                .get("acquisitionFunction")
                .and_then(Json::as_str)
                .unwrap_or("ucb")
                .to_owned(),
            kappa: number("kappa").unwrap_or(2.576),
            eps: number("eps").unwrap_or(0.0),
            matern: (process.get("kernel").and_then(Json::as_str) == Some("matern")).then(|| {
                let nu = process.get("nu").and_then(Json::as_f64).unwrap_or(1.5);
                [0.5, 1.5, 2.5]
                    .into_iter()
                    .min_by(|a, b| (a - nu).abs().total_cmp(&(b - nu).abs()))
                    .unwrap_or(1.5)
            }),
            length_scale: process
                .get("lengthScale")
                .and_then(Json::as_f64)
                .filter(|scale| *scale > 0.0)
                .unwrap_or(1.0),
            candidates: number("numWarmup")
                .map_or(1_000, |warmup| warmup as usize)
                .clamp(1, MAX_CANDIDATES),
        })
    }

    /// The metric it optimizes.
    pub fn metric(&self) -> &str {
        &self.metric
    }

    /// `count` new runs' params, from the runs that reported (`observed`: params and metric)
    /// and those still running (`pending`), with randomness from `seed`. Without any report
    /// yet, they are drawn at random.
    pub fn suggest(
        &self,
        observed: &[(Suggestion, f64)],
        pending: &[Suggestion],
        count: usize,
        seed: u64,
    ) -> Vec<Suggestion> {
        let mut rng = Rng::new(seed);
        let sign = if self.maximize { 1.0 } else { -1.0 };
        let mut points: Vec<(Vec<f64>, f64)> = observed
            .iter()
            .filter(|(_, value)| value.is_finite())
            .filter_map(|(params, value)| Some((self.encode(params)?, sign * value)))
            .collect();
        // The best are kept when there are too many to fit.
        points.sort_by(|a, b| b.1.total_cmp(&a.1));
        points.truncate(MAX_OBSERVED);
        let mut believed: Vec<Vec<f64>> = pending
            .iter()
            .take(MAX_OBSERVED)
            .filter_map(|params| self.encode(params))
            .collect();
        let count = count.min(MAX_BATCH);
        let mut chosen = Vec::with_capacity(count);
        for _ in 0..count {
            let unit = if points.is_empty() {
                self.random_point(&mut rng)
            } else {
                self.best_candidate(&points, &believed, &mut rng)
            };
            believed.push(unit.clone());
            chosen.push(self.decode(&unit));
        }
        chosen
    }

    fn random_point(&self, rng: &mut Rng) -> Vec<f64> {
        self.axes.iter().map(|_| rng.unit()).collect()
    }

    /// The candidate that maximizes the acquisition, with the pending points believed to
    /// report the process's mean there.
    fn best_candidate(
        &self,
        points: &[(Vec<f64>, f64)],
        pending: &[Vec<f64>],
        rng: &mut Rng,
    ) -> Vec<f64> {
        let mean = points.iter().map(|(_, y)| y).sum::<f64>() / points.len() as f64;
        let spread = (points.iter().map(|(_, y)| (y - mean).powi(2)).sum::<f64>()
            / points.len() as f64)
            .sqrt()
            .max(1e-9);
        let mut xs: Vec<Vec<f64>> = points.iter().map(|(x, _)| x.clone()).collect();
        let mut ys: Vec<f64> = points.iter().map(|(_, y)| (y - mean) / spread).collect();
        if !pending.is_empty() {
            // Believed values: the mean of a process fitted to the reports alone.
            let fitted = Process::fit(self, &xs, &ys);
            for point in pending {
                let (believed, _) = fitted.predict(self, point);
                xs.push(point.clone());
                ys.push(believed);
            }
        }
        let process = Process::fit(self, &xs, &ys);
        let best = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut winner = self.random_point(rng);
        let mut top = f64::NEG_INFINITY;
        for _ in 0..self.candidates {
            let candidate = self.random_point(rng);
            let (mu, sigma) = process.predict(self, &candidate);
            let score = self.acquire(mu, sigma, best);
            if score > top {
                top = score;
                winner = candidate;
            }
        }
        winner
    }

    fn acquire(&self, mu: f64, sigma: f64, best: f64) -> f64 {
        let sigma = sigma.max(1e-12);
        let z = (mu - best - self.eps) / sigma;
        match self.acquisition.as_str() {
            "ei" => (mu - best - self.eps) * normal_cdf(z) + sigma * normal_pdf(z),
            "poi" => normal_cdf(z),
            _ => mu + self.kappa * sigma,
        }
    }

    fn kernel(&self, a: &[f64], b: &[f64]) -> f64 {
        let distance = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f64>()
            .sqrt()
            / self.length_scale;
        match self.matern {
            None => (-0.5 * distance * distance).exp(),
            Some(nu) if nu < 1.0 => (-distance).exp(),
            Some(nu) if nu < 2.0 => {
                let scaled = 3f64.sqrt() * distance;
                (1.0 + scaled) * (-scaled).exp()
            }
            Some(_) => {
                let scaled = 5f64.sqrt() * distance;
                (1.0 + scaled + scaled * scaled / 3.0) * (-scaled).exp()
            }
        }
    }

    fn encode(&self, params: &Suggestion) -> Option<Vec<f64>> {
        self.names
            .iter()
            .zip(&self.axes)
            .map(|(name, axis)| axis.encode(params.get(name)?))
            .collect()
    }

    fn decode(&self, unit: &[f64]) -> Suggestion {
        self.names
            .iter()
            .zip(&self.axes)
            .zip(unit)
            .map(|((name, axis), value)| (name.clone(), axis.decode(*value)))
            .collect::<Map<String, Json>>()
    }
}

/// A Gaussian process fitted to points: the Cholesky factor of its kernel matrix and the
/// weights of its mean.
struct Process {
    xs: Vec<Vec<f64>>,
    lower: Vec<Vec<f64>>,
    weights: Vec<f64>,
}

impl Process {
    fn fit(search: &Bayes, xs: &[Vec<f64>], ys: &[f64]) -> Self {
        let n = xs.len();
        let mut matrix = vec![vec![0.0; n]; n];
        for i in 0..n {
            for j in 0..=i {
                let k = search.kernel(&xs[i], &xs[j]);
                matrix[i][j] = k;
                matrix[j][i] = k;
            }
            // Noise, so that repeated points keep the matrix positive definite.
            matrix[i][i] += 1e-6;
        }
        let lower = cholesky(&matrix);
        let weights = solve_upper(&lower, &solve_lower(&lower, ys));
        Self {
            xs: xs.to_vec(),
            lower,
            weights,
        }
    }

    /// The process's mean and deviation at `x`.
    fn predict(&self, search: &Bayes, x: &[f64]) -> (f64, f64) {
        let k: Vec<f64> = self
            .xs
            .iter()
            .map(|known| search.kernel(known, x))
            .collect();
        let mean = k.iter().zip(&self.weights).map(|(a, b)| a * b).sum();
        let v = solve_lower(&self.lower, &k);
        let variance = (1.0 + 1e-6 - v.iter().map(|x| x * x).sum::<f64>()).max(0.0);
        (mean, variance.sqrt())
    }
}

fn cholesky(matrix: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = matrix.len();
    let mut lower = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let sum: f64 = (0..j).map(|k| lower[i][k] * lower[j][k]).sum();
            if i == j {
                lower[i][j] = (matrix[i][i] - sum).max(1e-12).sqrt();
            } else {
                lower[i][j] = (matrix[i][j] - sum) / lower[j][j];
            }
        }
    }
    lower
}

fn solve_lower(lower: &[Vec<f64>], b: &[f64]) -> Vec<f64> {
    let mut x = vec![0.0; b.len()];
    for i in 0..b.len() {
        let sum: f64 = (0..i).map(|k| lower[i][k] * x[k]).sum();
        x[i] = (b[i] - sum) / lower[i][i];
    }
    x
}

fn solve_upper(lower: &[Vec<f64>], b: &[f64]) -> Vec<f64> {
    let n = b.len();
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let sum: f64 = (i + 1..n).map(|k| lower[k][i] * x[k]).sum();
        x[i] = (b[i] - sum) / lower[i][i];
    }
    x
}

fn normal_pdf(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Φ(z), by Abramowitz and Stegun's 7.1.26 (error under 1.5e-7).
pub(crate) fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let erf = 1.0
        - t * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))))
            * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}
