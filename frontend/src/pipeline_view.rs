//! What a pipeline's page shows of its children, computed without a browser: each DAG
//! operation's run, and a matrix's results as one input against one metric, the best run
//! marked.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;
use shared::api::{Run, Status};

/// The run of each of a DAG's operations, by operation name (a run is named after its
/// operation).
pub fn runs_by_op(children: &[Run]) -> BTreeMap<String, (Status, String)> {
    children
        .iter()
        .filter_map(|child| Some((child.name.clone()?, (child.status, child.uuid.clone()))))
        .collect()
}

/// One child on the results chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Where it is across: its input's value, or its category's place.
    pub x: f64,
    /// Its metric's last value.
    pub y: f64,
    /// The run.
    pub uuid: String,
    /// What a hover says: its input and metric.
    pub label: String,
}

/// A matrix's results as one input against one metric.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Results {
    /// A point per child that has both.
    pub points: Vec<Point>,
    /// The best point's index: lowest metric, or highest when maximizing.
    pub best: Option<usize>,
    /// The categories, in order, when the input is not numeric (the x of each is its index).
    pub categories: Vec<String>,
    /// The x range, the y range.
    pub x: (f64, f64),
    /// The y range.
    pub y: (f64, f64),
}

/// The inputs that vary among the children, and the metrics they logged: what the chart's
/// axes may show.
pub fn axes(children: &[Run]) -> (Vec<String>, Vec<String>) {
    let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut metrics = BTreeSet::new();
    for child in children {
        for (name, value) in child.inputs.iter().flatten() {
            values
                .entry(name.clone())
                .or_default()
                .insert(value.to_string());
        }
        metrics.extend(child.metrics.iter().flatten().map(|(name, _)| name.clone()));
    }
    let varying = values
        .into_iter()
        .filter(|(_, seen)| seen.len() > 1)
        .map(|(name, _)| name)
        .collect();
    (varying, metrics.into_iter().collect())
}

/// The children's `metric` (its last value) against `input`.
pub fn results(children: &[Run], input: &str, metric: &str, maximize: bool) -> Results {
    let mut categories: Vec<String> = Vec::new();
    let raw: Vec<(&Run, Json, f64)> = children
        .iter()
        .filter_map(|child| {
            let value = child.inputs.as_ref()?.get(input)?.clone();
            let summary = child.metrics.as_ref()?.get(metric)?;
            Some((child, value, summary.last?))
        })
        .filter(|(_, _, y)| y.is_finite())
        .collect();
    let numeric = raw.iter().all(|(_, value, _)| value.as_f64().is_some());
    if !numeric {
        let mut seen: Vec<String> = raw.iter().map(|(_, value, _)| text(value)).collect();
        seen.sort();
        seen.dedup();
        categories = seen;
    }
    let points: Vec<Point> = raw
        .iter()
        .map(|(child, value, y)| {
            let x = if numeric {
                value.as_f64().unwrap_or_default()
            } else {
                categories
                    .iter()
                    .position(|category| *category == text(value))
                    .unwrap_or_default() as f64
            };
            Point {
                x,
                y: *y,
                uuid: child.uuid.clone(),
                label: format!("{input} {} · {metric} {y}", text(value)),
            }
        })
        .collect();
    let better = |a: f64, b: f64| if maximize { a > b } else { a < b };
    let best = points
        .iter()
        .enumerate()
        .fold(None::<usize>, |best, (index, point)| match best {
            Some(at) if !better(point.y, points[at].y) => Some(at),
            _ => Some(index),
        });
    let range = |values: &mut dyn Iterator<Item = f64>| {
        let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), v| {
            (low.min(v), high.max(v))
        });
        if low > high {
            (0.0, 1.0)
        } else if low == high {
            (low - 0.5, high + 0.5)
        } else {
            (low, high)
        }
    };
    Results {
        x: if numeric {
            range(&mut points.iter().map(|point| point.x))
        } else {
            (-0.5, categories.len() as f64 - 0.5)
        },
        y: range(&mut points.iter().map(|point| point.y)),
        best,
        categories,
        points,
    }
}

fn text(value: &Json) -> String {
    match value {
        Json::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn child(uuid: &str, lr: Json, loss: Option<f64>) -> Run {
        use crate::runs_view::tests::{run, with_metrics};
        let mut child = run(json!({"lr": lr, "seed": 1}), Json::Null);
        child.uuid = uuid.to_owned();
        match loss {
            Some(loss) => with_metrics(child, json!({"loss": {"last": loss, "count": 1}})),
            None => child,
        }
    }

    #[test]
    fn the_best_run_is_the_lowest_unless_maximizing() {
        let children = [
            child("a", json!(0.1), Some(0.5)),
            child("b", json!(0.01), Some(0.2)),
            child("c", json!(0.001), Some(0.9)),
            child("d", json!(0.5), None),
        ];
        let results = results(&children, "lr", "loss", false);
        assert_eq!(results.points.len(), 3, "a run without the metric is left out");
        assert_eq!(results.points[results.best.unwrap()].uuid, "b");
        assert_eq!(results.x, (0.001, 0.1));
        assert_eq!(results.y, (0.2, 0.9));
        let highest = super::results(&children, "lr", "loss", true);
        assert_eq!(highest.points[highest.best.unwrap()].uuid, "c");
        assert_eq!(axes(&children), (vec!["lr".to_owned()], vec!["loss".to_owned()]));
    }

    #[test]
    fn a_categorical_input_spreads_its_values_in_order() {
        let children = [
            child("a", json!("sgd"), Some(0.5)),
            child("b", json!("adam"), Some(0.2)),
            child("c", json!("sgd"), Some(0.4)),
        ];
        let results = results(&children, "lr", "loss", false);
        assert_eq!(results.categories, ["adam", "sgd"]);
        let xs: Vec<f64> = results.points.iter().map(|point| point.x).collect();
        assert_eq!(xs, [1.0, 0.0, 1.0]);
        assert_eq!(results.x, (-0.5, 1.5));
    }
}
