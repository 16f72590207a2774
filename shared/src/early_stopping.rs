//! A pipeline's `earlyStopping`: whether what its runs came to so far ends the search, and which
//! running runs a policy stops. The scheduler passes the children's statuses and metric
//! summaries in.
//!
//! | kind | stops |
//! |---|---|
//! | `failure_early_stopping {percent}` | the pipeline (failed), once that share of its planned runs failed |
//! | `metric_early_stopping {metric, value, optimization}` | the pipeline (succeeded), once a run's metric reached `value` (at most when minimizing, at least when maximizing); that run goes on to its end |
//! | its `policy: median {evaluationInterval, minInterval, minSamples}` | a running run whose metric is worse than the median of the others' |
//! | its `policy: truncation {percent, …}` | the worst `percent` of the running runs |
//! | its `policy: diff {percent, …}` | a running run worse than the best by more than `percent` of it |
//!
//! A policy judges a run once it logged the metric at `minInterval` steps or more, against at
//! least `minSamples` runs that logged it, comparing the runs' last values (the summaries the
//! store keeps, not whole series); `evaluationInterval` is how often the scheduler asks.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::api::{MetricSummary, Status};

/// One child, as early stopping sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Child {
    /// Its uuid.
    pub uuid: String,
    /// Its status.
    pub status: Status,
    /// What its metrics came to so far, by name.
    pub metrics: BTreeMap<String, MetricSummary>,
}

/// What early stopping decides.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// The pipeline ends: in this status, for this reason and message.
    pub end: Option<(Status, String)>,
    /// Running runs a policy stops, each with why.
    pub stop: Vec<(String, String)>,
    /// The run that reached the metric's goal: ending the search does not stop it.
    pub winner: Option<String>,
}

/// The verdict of the `earlyStopping` list over `children`, of `planned` runs in all.
pub fn judge(early_stopping: &Json, children: &[Child], planned: usize) -> Verdict {
    let mut verdict = Verdict::default();
    for rule in early_stopping.as_array().into_iter().flatten() {
        match rule.get("kind").and_then(Json::as_str) {
            Some("failure_early_stopping") => {
                let percent = rule.get("percent").and_then(Json::as_f64).unwrap_or(100.0);
                let failed = children
                    .iter()
                    .filter(|child| matches!(child.status, Status::Failed | Status::UpstreamFailed))
                    .count();
                if failed > 0 && failed as f64 * 100.0 >= percent * planned.max(1) as f64 {
                    verdict.end.get_or_insert((
                        Status::Failed,
                        format!(
                            "early stopping: {failed} of {planned} runs failed, {percent}% or more"
                        ),
                    ));
                }
            }
            Some("metric_early_stopping") => metric_rule(rule, children, &mut verdict),
            _ => {}
        }
    }
    verdict
}

fn metric_rule(rule: &Json, children: &[Child], verdict: &mut Verdict) {
    let Some(metric) = rule.get("metric").and_then(Json::as_str) else {
        return;
    };
    let maximize = rule.get("optimization").and_then(Json::as_str) == Some("maximize");
    let better = |a: f64, b: f64| if maximize { a > b } else { a < b };
    let last = |child: &Child| child.metrics.get(metric).and_then(|summary| summary.last);
    if let Some(goal) = rule.get("value").and_then(Json::as_f64)
        && let Some((child, value)) = children
            .iter()
            .filter_map(|child| Some((child, last(child)?)))
            .find(|(_, value)| *value == goal || better(*value, goal))
    {
        verdict.winner.get_or_insert(child.uuid.clone());
        verdict.end.get_or_insert((
            Status::Succeeded,
            format!(
                "early stopping: run {} reached {metric} {value} ({} {goal})",
                child.uuid,
                if maximize { "at least" } else { "at most" }
            ),
        ));
    }
    let Some(policy) = rule.get("policy") else {
        return;
    };
    let number = |key: &str| policy.get(key).and_then(Json::as_f64);
    let min_interval = number("minInterval").unwrap_or(1.0) as i64;
    let min_samples = number("minSamples").unwrap_or(1.0).max(1.0) as usize;
    let reported: Vec<(&Child, f64)> = children
        .iter()
        .filter_map(|child| Some((child, last(child)?)))
        .filter(|(_, value)| value.is_finite())
        .collect();
    if reported.len() < min_samples {
        return;
    }
    let judged: Vec<&(&Child, f64)> = reported
        .iter()
        .filter(|(child, _)| child.status == Status::Running)
        .filter(|(child, _)| {
            let summary = &child.metrics[metric];
            summary
                .last_step
                .map_or(summary.count as i64, |step| step + 1)
                >= min_interval
        })
        .collect();
    let mut values: Vec<f64> = reported.iter().map(|(_, value)| *value).collect();
    values.sort_by(f64::total_cmp);
    let best = if maximize {
        values.last()
    } else {
        values.first()
    }
    .copied();
    match policy.get("kind").and_then(Json::as_str) {
        Some("median") => {
            for (child, value) in judged {
                let others: Vec<f64> = reported
                    .iter()
                    .filter(|(other, _)| other.uuid != child.uuid)
                    .map(|(_, value)| *value)
                    .collect();
                if let Some(median) = median(others)
                    && better(median, *value)
                {
                    verdict.stop.push((
                        child.uuid.clone(),
                        format!(
                            "early stopping: {metric} {value} is worse than the median {median}"
                        ),
                    ));
                }
            }
        }
        Some("truncation") => {
            let percent = number("percent").unwrap_or(0.0).clamp(0.0, 100.0);
            let mut ranked: Vec<&&(&Child, f64)> = judged.iter().collect();
            // The worst first.
            ranked.sort_by(|a, b| {
                let order = a.1.total_cmp(&b.1);
                if maximize { order } else { order.reverse() }
            });
            let cut = (ranked.len() as f64 * percent / 100.0).floor() as usize;
            for (child, value) in ranked.into_iter().take(cut) {
                verdict.stop.push((
                    child.uuid.clone(),
                    format!("early stopping: {metric} {value} is in the worst {percent}%"),
                ));
            }
        }
        Some("diff") => {
            let percent = number("percent").unwrap_or(0.0);
            if let Some(best) = best {
                for (child, value) in judged {
                    let gap = (value - best).abs();
                    if gap > best.abs() * percent / 100.0 && better(best, *value) {
                        verdict.stop.push((
                            child.uuid.clone(),
                            format!(
                                "early stopping: {metric} {value} is more than {percent}% from the best {best}"
                            ),
                        ));
                    }
                }
            }
        }
        _ => {}
    }
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    })
}
