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

/// The chart of `results` as SVG markup: a point per run (its title says its input and
/// metric), the best ringed, the axes' extremes at their ends. Built as text, so the chart
/// costs the app no code per element; every text from runs is escaped.
pub fn scatter_svg(results: &Results, input: &str, metric: &str) -> String {
    use std::fmt::Write as _;
    const WIDTH: f64 = 640.0;
    const HEIGHT: f64 = 260.0;
    // Room at the left for the metric's extremes.
    const PAD: f64 = 64.0;
    let (x0, x1) = results.x;
    let (y0, y1) = results.y;
    let place = |x: f64, y: f64| {
        (
            PAD + (x - x0) / (x1 - x0) * (WIDTH - 2.0 * PAD),
            HEIGHT - PAD - (y - y0) / (y1 - y0) * (HEIGHT - 2.0 * PAD),
        )
    };
    let (input, metric) = (escape(input), escape(metric));
    let mut svg = format!(
        "<svg class=\"scatter\" role=\"img\" aria-label=\"{metric} against {input}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\">\
         <line class=\"axis\" x1=\"{PAD}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\"/>\
         <line class=\"axis\" x1=\"{PAD}\" y1=\"{PAD}\" x2=\"{PAD}\" y2=\"{b}\"/>",
        b = HEIGHT - PAD,
        r = WIDTH - PAD,
    );
    let ticks: Vec<(f64, String)> = if results.categories.is_empty() {
        vec![(x0, short(x0)), (x1, short(x1))]
    } else {
        results
            .categories
            .iter()
            .enumerate()
            .map(|(index, category)| (index as f64, category.clone()))
            .collect()
    };
    for (x, label) in ticks {
        let (px, _) = place(x, y0);
        let _ = write!(
            svg,
            "<text class=\"tick\" x=\"{px:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            HEIGHT - PAD + 16.0,
            escape(&label)
        );
    }
    let _ = write!(
        svg,
        "<text class=\"tick\" x=\"{l}\" y=\"{b}\" text-anchor=\"end\">{}</text>\
         <text class=\"tick\" x=\"{l}\" y=\"{t}\" text-anchor=\"end\">{}</text>\
         <text class=\"axis-title\" x=\"{cx}\" y=\"{bottom}\" text-anchor=\"middle\">{input}</text>\
         <text class=\"axis-title\" x=\"12\" y=\"{cy}\" transform=\"rotate(-90 12 {cy})\" \
         text-anchor=\"middle\">{metric}</text>",
        short(y0),
        short(y1),
        l = PAD - 6.0,
        b = HEIGHT - PAD,
        t = PAD + 4.0,
        cx = WIDTH / 2.0,
        bottom = HEIGHT - 6.0,
        cy = HEIGHT / 2.0,
    );
    if let Some(best) = results.best {
        let point = &results.points[best];
        let (cx, cy) = place(point.x, point.y);
        let _ = write!(
            svg,
            "<circle class=\"best\" cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"9\"/>\
             <text class=\"best-label\" x=\"{:.1}\" y=\"{:.1}\">best</text>",
            cx + 12.0,
            cy - 10.0
        );
    }
    for point in &results.points {
        let (cx, cy) = place(point.x, point.y);
        let _ = write!(
            svg,
            "<circle class=\"point\" cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"5\" data-run=\"{}\">\
             <title>{}</title></circle>",
            escape(&point.uuid),
            escape(&point.label)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A number short enough for an axis end.
fn short(value: f64) -> String {
    let text = format!("{value:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Text made safe inside markup, attribute values included.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
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
        assert_eq!(
            results.points.len(),
            3,
            "a run without the metric is left out"
        );
        assert_eq!(results.points[results.best.unwrap()].uuid, "b");
        assert_eq!(results.x, (0.001, 0.1));
        assert_eq!(results.y, (0.2, 0.9));
        let highest = super::results(&children, "lr", "loss", true);
        assert_eq!(highest.points[highest.best.unwrap()].uuid, "c");
        assert_eq!(
            axes(&children),
            (vec!["lr".to_owned()], vec!["loss".to_owned()])
        );
    }

    #[test]
    fn the_chart_is_markup_with_every_run_s_text_escaped() {
        let children = [
            child("a", json!("<script>"), Some(0.5)),
            child("b", json!("adam"), Some(0.2)),
        ];
        let results = results(&children, "lr", "loss", false);
        let svg = scatter_svg(&results, "lr", "lo\"ss");
        assert!(svg.starts_with("<svg class=\"scatter\""), "{svg}");
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"), "{svg}");
        assert!(
            svg.contains("aria-label=\"lo&quot;ss against lr\""),
            "{svg}"
        );
        assert_eq!(svg.matches("class=\"point\"").count(), 2);
        assert_eq!(svg.matches("class=\"best\"").count(), 1);
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
