//! A run's `hooks`: which of them its final status calls, with their `conditions` and `params`
//! rendered as Polyaxon renders them, against what the run came to.
//!
//! A hook's `trigger` is a final status (`succeeded`, `failed`, `stopped`, `skipped`,
//! `upstream_failed`) or `done`, which any of them calls. Its `conditions` is a template that
//! must render true (`True`, `true`, `1`); its `params` values may be templates too. Both see
//! `status`, `inputs`, `outputs` and `globals` (`uuid`, `name`, `status`, `owner`,
//! `project_name`, `run_info`).

use serde_json::{Map, Value as Json, json};

use crate::api::{Run, Status};
use crate::template::{Context, Templates};

/// A hook its run's final status calls.
#[derive(Debug, Clone, PartialEq)]
pub struct Called {
    /// Its place among the run's hooks.
    pub index: usize,
    /// The component that delivers it (`hubRef`), as written.
    pub hub_ref: Option<String>,
    /// The connection it delivers through.
    pub connection: Option<String>,
    /// Its params, each rendered to its value.
    pub params: Map<String, Json>,
}

/// The hooks of a compiled operation that `run`'s final status calls; a hook whose conditions
/// or params do not render is an error naming it.
pub fn called(compiled: &Json, run: &Run) -> Vec<Result<Called, String>> {
    if !run.status.is_done() {
        return Vec::new();
    }
    let context = Context::new(context(run));
    let templates = Templates::shared();
    let render = |text: &str| templates.render(text, &context);
    compiled
        .get("hooks")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .filter(|(_, hook)| {
            let trigger = hook.get("trigger").and_then(Json::as_str).unwrap_or("done");
            trigger == "done" || Status::parse(trigger) == Some(run.status)
        })
        .filter_map(|(index, hook)| {
            let conditions = hook.get("conditions").and_then(Json::as_str);
            let called = match conditions.map(|text| render(text).map(|out| truthy(&out))) {
                None => Ok(true),
                Some(Ok(Some(called))) => Ok(called),
                Some(Ok(None)) => Err(format!(
                    "hook {index}: its conditions `{}` do not render true or false",
                    conditions.unwrap_or_default()
                )),
                Some(Err(error)) => Err(format!("hook {index}: its conditions: {error}")),
            };
            match called {
                Ok(false) => None,
                Err(why) => Some(Err(why)),
                Ok(true) => Some(
                    params(hook, &render)
                        .map(|params| Called {
                            index,
                            hub_ref: hook.get("hubRef").and_then(Json::as_str).map(str::to_owned),
                            connection: hook
                                .get("connection")
                                .and_then(Json::as_str)
                                .map(str::to_owned),
                            params,
                        })
                        .map_err(|why| format!("hook {index}: {why}")),
                ),
            }
        })
        .collect()
}

fn params(
    hook: &Json,
    render: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Map<String, Json>, String> {
    let mut params = Map::new();
    for (name, param) in hook
        .get("params")
        .and_then(Json::as_object)
        .into_iter()
        .flatten()
    {
        let value = param.get("value").cloned().unwrap_or(Json::Null);
        let value = match value {
            Json::String(text) if text.contains("{{") || text.contains("{%") => {
                Json::String(render(&text).map_err(|error| format!("param `{name}`: {error}"))?)
            }
            other => other,
        };
        params.insert(name.clone(), value);
    }
    Ok(params)
}

/// What a hook's templates see of the run.
fn context(run: &Run) -> Json {
    let globals = json!({
        "uuid": run.uuid,
        "name": run.name,
        "status": run.status.as_str(),
        "owner": run.owner,
        "project_name": run.project,
        "run_info": format!("{}.{}.runs.{}", run.owner, run.project, run.uuid),
    });
    json!({
        "status": run.status.as_str(),
        "inputs": run.inputs.clone().unwrap_or_default(),
        "outputs": run.outputs.clone().unwrap_or_default(),
        "globals": globals,
    })
}

/// How a rendered condition reads: Python's and JSON's booleans, numbers, emptiness.
pub(crate) fn truthy(rendered: &str) -> Option<bool> {
    match rendered.trim() {
        "True" | "true" | "1" => Some(true),
        "False" | "false" | "0" | "" | "None" => Some(false),
        _ => None,
    }
}

/// The name of the component a `hubRef` names: `webhook` for `acme/webhook:v1`.
pub fn component_name(hub_ref: &str) -> &str {
    let name = hub_ref.rsplit('/').next().unwrap_or(hub_ref);
    name.split(':').next().unwrap_or(name)
}
