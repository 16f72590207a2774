//! A DAG's next steps: which operations wait, start, or end without running, and what an
//! operation's params become once its upstream runs have ended. The scheduler asks; the store
//! and the clock stay with it.
//!
//! An operation's upstream is its `dependencies` and every operation its params `ref`
//! (`ops.NAME`). Once its upstream has ended (or, for the `one_*` triggers, as soon as one
//! upstream run says enough), its `trigger` decides:
//!
//! | trigger | starts when | otherwise, once every upstream run has ended |
//! |---|---|---|
//! | `all_succeeded` (default) | every upstream run succeeded (or was skipped) | `upstream_failed` |
//! | `all_failed` | every upstream run failed | `skipped` |
//! | `all_done` | every upstream run ended | — |
//! | `one_succeeded` | one upstream run succeeded | `upstream_failed` |
//! | `one_failed` | one upstream run failed | `skipped` |
//! | `one_done` | one upstream run ended | — |
//!
//! With `skipOnUpstreamSkip`, an operation is `skipped` as soon as an upstream run is. An
//! operation with no upstream starts at once. `upstream_failed` and `stopped` upstream runs
//! count as failed. An operation about to start whose `conditions` (a template over its
//! params, once they are resolved) render false is `skipped` instead.

use std::collections::HashMap;

use serde_json::{Map, Value as Json};

use crate::api::Status;

/// One operation of a DAG, as its scheduler needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    /// Its name, unique in the DAG.
    pub name: String,
    /// The operations whose runs it waits for.
    pub upstream: Vec<String>,
    /// Its trigger policy, as written (`all_succeeded` when none).
    pub trigger: String,
    /// Whether an upstream run that was skipped skips it.
    pub skip_on_upstream_skip: bool,
}

/// What an operation does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Its upstream has not said enough yet.
    Wait,
    /// It runs.
    Start,
    /// It ends without running, in this status (`skipped`, `upstream_failed`), for this reason.
    End(Status, String),
}

/// The triggers Polyaxon knows.
const TRIGGERS: &[&str] = &[
    "all_succeeded",
    "all_failed",
    "all_done",
    "one_succeeded",
    "one_failed",
    "one_done",
];

/// The operations of a compiled DAG's `run` section, in their written order.
pub fn ops(run: &Json) -> Result<Vec<Op>, String> {
    let operations = run
        .get("operations")
        .and_then(Json::as_array)
        .ok_or("the DAG has no `operations`")?;
    let names: Vec<&str> = operations
        .iter()
        .filter_map(|op| op.get("name").and_then(Json::as_str))
        .collect();
    let mut ops = Vec::with_capacity(operations.len());
    for (index, op) in operations.iter().enumerate() {
        let name = op
            .get("name")
            .and_then(Json::as_str)
            .ok_or_else(|| format!("`operations[{index}]` has no name"))?;
        let mut upstream: Vec<String> = op
            .get("dependencies")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(Json::as_str)
            .map(str::to_owned)
            .collect();
        for param in op
            .get("params")
            .and_then(Json::as_object)
            .into_iter()
            .flatten()
        {
            if let Some(other) = param
                .1
                .get("ref")
                .and_then(Json::as_str)
                .and_then(|reference| reference.strip_prefix("ops."))
                && !upstream.iter().any(|known| known == other)
            {
                upstream.push(other.to_owned());
            }
        }
        if let Some(missing) = upstream
            .iter()
            .find(|other| !names.contains(&other.as_str()))
        {
            return Err(format!(
                "operation `{name}` waits for `{missing}`, which is not an operation of the DAG"
            ));
        }
        let trigger = op
            .get("trigger")
            .and_then(Json::as_str)
            .unwrap_or("all_succeeded")
            .to_owned();
        if !TRIGGERS.contains(&trigger.as_str()) {
            return Err(format!(
                "operation `{name}` has trigger `{trigger}`; it must be one of {}",
                TRIGGERS.join(", ")
            ));
        }
        ops.push(Op {
            name: name.to_owned(),
            upstream,
            trigger,
            skip_on_upstream_skip: op.get("skipOnUpstreamSkip").and_then(Json::as_bool)
                == Some(true),
        });
    }
    Ok(ops)
}

/// What `op` does next, given the statuses of its upstream operations' runs (`None` for an
/// operation whose run does not exist yet).
pub fn decide(op: &Op, upstream: &[Option<Status>]) -> Decision {
    if upstream.is_empty() {
        return Decision::Start;
    }
    let ended: Vec<Status> = upstream
        .iter()
        .flatten()
        .copied()
        .filter(|status| status.is_done())
        .collect();
    let all_ended = ended.len() == upstream.len();
    let succeeded = |status: &Status| *status == Status::Succeeded;
    let failed = |status: &Status| {
        matches!(
            status,
            Status::Failed | Status::UpstreamFailed | Status::Stopped
        )
    };
    if op.skip_on_upstream_skip && ended.contains(&Status::Skipped) {
        return Decision::End(
            Status::Skipped,
            "an upstream operation was skipped".to_owned(),
        );
    }
    let upstream_failed = |why: &str| Decision::End(Status::UpstreamFailed, why.to_owned());
    let skipped = |why: &str| Decision::End(Status::Skipped, why.to_owned());
    match op.trigger.as_str() {
        "one_succeeded" if ended.iter().any(succeeded) => Decision::Start,
        "one_failed" if ended.iter().any(failed) => Decision::Start,
        "one_done" if !ended.is_empty() => Decision::Start,
        _ if !all_ended => Decision::Wait,
        "all_succeeded" => {
            if ended.iter().all(|s| succeeded(s) || *s == Status::Skipped) {
                Decision::Start
            } else {
                upstream_failed("an upstream operation did not succeed")
            }
        }
        "all_failed" => {
            if ended.iter().all(failed) {
                Decision::Start
            } else {
                skipped("an upstream operation did not fail (trigger all_failed)")
            }
        }
        "all_done" | "one_done" => Decision::Start,
        "one_succeeded" => upstream_failed("no upstream operation succeeded"),
        _ => skipped("no upstream operation failed (trigger one_failed)"),
    }
}

/// What an upstream run offers the params that `ref` it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Upstream {
    /// Its uuid.
    pub uuid: String,
    /// Its name.
    pub name: Option<String>,
    /// Its status.
    pub status: Option<Status>,
    /// Its inputs' values.
    pub inputs: Map<String, Json>,
    /// The outputs it logged.
    pub outputs: Map<String, Json>,
    /// The artifacts it recorded in its lineage.
    pub lineage: Vec<crate::api::LineageArtifact>,
}

/// The lineage kinds the tracking client writes as events (traceml's `V1EventKind`): what an
/// `events.NAME` ref may read.
const EVENT_KINDS: &[&str] = &[
    "metric",
    "image",
    "histogram",
    "audio",
    "video",
    "html",
    "text",
    "chart",
    "curve",
    "confusion",
    "span",
];

impl Upstream {
    /// The path of the artifact `name` it wrote (of an event kind when `events`).
    fn artifact_path(&self, name: &str, events: bool) -> Option<Json> {
        self.lineage
            .iter()
            .filter(|artifact| artifact.is_input != Some(true) && artifact.name == name)
            .filter(|artifact| {
                !events
                    || artifact
                        .kind
                        .as_deref()
                        .is_some_and(|kind| EVENT_KINDS.contains(&kind))
            })
            .find_map(|artifact| artifact.path.clone())
            .map(Json::from)
    }
}

/// An operation's params with every `ref` replaced by the value it names: `dag` refs read the
/// DAG's own inputs, `ops.NAME` refs read that operation's run (`inputs.x`, `outputs.x`,
/// `globals.uuid`, `globals.name`, `globals.status`, and the path of an artifact it recorded,
/// `artifacts.x`, or of its events, `events.x`). A ref that names nothing is an error
/// that says which param and what is missing.
pub fn resolve_params(
    params: &Map<String, Json>,
    dag_inputs: &Map<String, Json>,
    runs: &HashMap<String, Upstream>,
) -> Result<Map<String, Json>, String> {
    let mut resolved = Map::with_capacity(params.len());
    for (name, param) in params {
        let Some(reference) = param.get("ref").and_then(Json::as_str) else {
            resolved.insert(name.clone(), param.clone());
            continue;
        };
        let path = param
            .get("value")
            .and_then(Json::as_str)
            .unwrap_or_default();
        let (section, key) = path.split_once('.').unwrap_or((path, ""));
        let value = if reference == "dag" {
            match section {
                "inputs" | "params" => dag_inputs.get(key).cloned(),
                _ => None,
            }
        } else if let Some(op) = reference.strip_prefix("ops.") {
            let run = runs
                .get(op)
                .ok_or_else(|| format!("param `{name}`: operation `{op}` has no run"))?;
            match (section, key) {
                ("inputs", key) => run.inputs.get(key).cloned(),
                ("outputs", key) => run.outputs.get(key).cloned(),
                ("artifacts", key) => run.artifact_path(key, false),
                ("events", key) => run.artifact_path(key, true),
                ("globals", "uuid") => Some(Json::from(run.uuid.clone())),
                ("globals", "name") => run.name.clone().map(Json::from),
                ("globals", "status") => run.status.map(|status| Json::from(status.as_str())),
                _ => None,
            }
        } else {
            return Err(format!(
                "param `{name}` refers to `{reference}`; a DAG's params refer to `dag` or `ops.NAME`"
            ));
        };
        let Some(value) = value else {
            return Err(format!("param `{name}`: `{reference}` has no `{path}`"));
        };
        let mut param = param.as_object().cloned().unwrap_or_default();
        param.remove("ref");
        param.insert("value".to_owned(), value);
        resolved.insert(name.clone(), Json::Object(param));
    }
    Ok(resolved)
}

/// The operation a DAG's operation runs: its component (by `dagRef` from the DAG's
/// `components`, or its own), its resolved `params`, and what else it says of itself, without
/// what only the DAG reads.
pub fn op_operation(run: &Json, index: usize, params: Map<String, Json>) -> Result<Json, String> {
    let op = run
        .get("operations")
        .and_then(Json::as_array)
        .and_then(|ops| ops.get(index))
        .and_then(Json::as_object)
        .ok_or_else(|| format!("the DAG has no operation {index}"))?;
    let mut operation = op.clone();
    for key in [
        "dagRef",
        "dependencies",
        "trigger",
        "conditions",
        "skipOnUpstreamSkip",
    ] {
        operation.remove(key);
    }
    if let Some(reference) = op.get("dagRef").and_then(Json::as_str) {
        let component = run
            .get("components")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .find(|component| component.get("name").and_then(Json::as_str) == Some(reference))
            .ok_or_else(|| format!("the DAG has no component `{reference}`"))?;
        operation.insert("component".to_owned(), component.clone());
    }
    operation.insert("kind".to_owned(), Json::from("operation"));
    if params.is_empty() {
        operation.remove("params");
    } else {
        operation.insert("params".to_owned(), Json::Object(params));
    }
    Ok(Json::Object(operation))
}

/// A pipeline's Polyaxonfile (`content`) as JSON without one of its sections (`matrix`,
/// `schedule`): what each of its runs executes.
pub fn without(content: &str, section: &str) -> Result<Map<String, Json>, String> {
    let (root, _) = crate::yaml::parse(content);
    let Json::Object(mut operation) = root
        .ok_or("the pipeline's Polyaxonfile does not read")?
        .to_json()
    else {
        return Err("the pipeline's Polyaxonfile is not a mapping".to_owned());
    };
    operation.remove(section);
    Ok(operation)
}

/// Whether an operation's `conditions` hold: the template rendered with its resolved params'
/// values (`{{ loss < 0.5 }}`) must read true. No conditions hold.
pub fn conditions_hold(
    run: &Json,
    index: usize,
    params: &Map<String, Json>,
) -> Result<bool, String> {
    let Some(conditions) = run
        .pointer(&format!("/operations/{index}/conditions"))
        .and_then(Json::as_str)
    else {
        return Ok(true);
    };
    let values: Map<String, Json> = params
        .iter()
        .map(|(name, param)| {
            (
                name.clone(),
                param.get("value").cloned().unwrap_or(Json::Null),
            )
        })
        .collect();
    let context = crate::template::Context::new(Json::Object(values));
    let rendered = crate::template::Templates::shared()
        .render(conditions, &context)
        .map_err(|error| format!("its conditions `{conditions}`: {error}"))?;
    crate::hooks::truthy(&rendered).ok_or_else(|| {
        format!("its conditions `{conditions}` render `{rendered}`, not true or false")
    })
}

/// The params a join gives (`joins[].params`): each one's `value` (`inputs.NAME`,
/// `outputs.NAME`, `inputs`, `outputs`, `artifacts.NAME`, `events.NAME`, `globals.uuid`,
/// `globals.name`, `globals.status`) read
/// from every run the join's query found, in its order, as a list.
pub fn join_params(join: &Json, runs: &[Upstream]) -> Result<Map<String, Json>, String> {
    let mut params = Map::new();
    for (name, param) in join
        .get("params")
        .and_then(Json::as_object)
        .into_iter()
        .flatten()
    {
        let path = param
            .get("value")
            .and_then(Json::as_str)
            .ok_or_else(|| format!("join param `{name}` needs a `value` naming what to read"))?;
        let (section, key) = path.split_once('.').unwrap_or((path, ""));
        let read = |run: &Upstream| -> Result<Json, String> {
            Ok(match (section, key) {
                ("inputs", "") => Json::Object(run.inputs.clone()),
                ("outputs", "") => Json::Object(run.outputs.clone()),
                ("inputs", key) => run.inputs.get(key).cloned().unwrap_or(Json::Null),
                ("outputs", key) => run.outputs.get(key).cloned().unwrap_or(Json::Null),
                ("artifacts", key) => run.artifact_path(key, false).unwrap_or(Json::Null),
                ("events", key) => run.artifact_path(key, true).unwrap_or(Json::Null),
                ("globals", "uuid") => Json::from(run.uuid.clone()),
                ("globals", "name") => run.name.clone().map_or(Json::Null, Json::from),
                ("globals", "status") => run.status.map_or(Json::Null, |s| Json::from(s.as_str())),
                _ => {
                    return Err(format!(
                        "join param `{name}` reads `{path}`; a join reads `inputs`, \
                         `outputs`, `artifacts.NAME`, `events.NAME` and \
                         `globals.uuid|name|status`"
                    ));
                }
            })
        };
        let values = runs.iter().map(read).collect::<Result<Vec<_>, _>>()?;
        let mut param = param.as_object().cloned().unwrap_or_default();
        param.insert("value".to_owned(), Json::Array(values));
        params.insert(name.clone(), Json::Object(param));
    }
    Ok(params)
}
