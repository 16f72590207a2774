//! From a submitted operation to a stored run: compiled with `shared` (the compiler the browser
//! runs too), converted to its resource, and handed to the runtime.

use serde_json::{Map, Value as Json};
use shared::api::{OperationBody, Project, Status, StatusCondition};
use shared::hub::Catalog;
use shared::time::Timestamp;
use shared::{Agent, RunContext};

use crate::AppError;
use crate::runtime::{Execution, Runtime};
use crate::store::NewRun;

/// Who submits what, where.
#[derive(Debug)]
pub struct Submission<'a> {
    /// The project the run goes to.
    pub project: &'a Project,
    /// What the client sent.
    pub body: OperationBody,
    /// The new run's uuid.
    pub uuid: String,
    /// When it was submitted.
    pub now: Timestamp,
    /// Where its processes reach the API.
    pub api_host: &'a str,
    /// The agent it is compiled for.
    pub agent: &'a Agent,
    /// The components its `hubRef`s may name.
    pub hub: &'a Catalog,
}

/// A run ready to store, and what its runtime executes once it is stored.
#[derive(Debug)]
pub struct Prepared {
    /// The run to record.
    pub run: NewRun,
    /// What the runtime executes; `None` for a run its client executes and reports itself.
    pub execution: Option<Execution>,
}

/// Who executes a run that Myelin does not: the client that reports its statuses.
pub const CLIENT_EXECUTOR: &str = "client";

/// Who a run is, for the compiler. A run is compiled when it is created, so a run stored earlier
/// gets the same context again from its project, uuid, name and creation time.
pub fn run_context(
    project: &Project,
    uuid: &str,
    name: Option<&str>,
    created_at: Timestamp,
    api_host: &str,
    agent: &Agent,
) -> RunContext {
    RunContext {
        owner: project.owner.clone(),
        project: project.name.clone(),
        project_uuid: project.uuid.clone(),
        run_uuid: uuid.to_owned(),
        default_run_name: name.unwrap_or("run").to_owned(),
        api_host: api_host.to_owned(),
        created_at: created_at.to_string(),
        compiled_at: created_at.to_string(),
        agent: agent.clone(),
    }
}

/// Compiles and converts a submission, or says precisely why it cannot run.
pub fn prepare(submission: Submission<'_>, runtime: &dyn Runtime) -> Result<Prepared, AppError> {
    let Submission {
        project,
        body,
        uuid,
        now,
        api_host,
        agent,
        hub,
    } = submission;
    let created = StatusCondition::new(Status::Created, "Myelin", "Run is created", now);
    let managed =
        body.is_managed != Some(false) && body.managed_by.as_deref().is_none_or(|by| by == "agent");
    let Some(content) = body.content.clone().filter(|_| managed) else {
        if managed {
            return Err(AppError::BadRequest(
                "a run Myelin executes needs `content`: the Polyaxonfile to run".to_owned(),
            ));
        }
        // The tracking client runs itself and reports its statuses.
        return Ok(Prepared {
            run: NewRun {
                uuid,
                name: body.name.clone(),
                body,
                kind: "job".to_owned(),
                runtime: "job".to_owned(),
                executor: CLIENT_EXECUTOR.to_owned(),
                inputs: None,
                compiled: None,
                resource: None,
                conditions: vec![created],
                created_at: now,
                cloned_from: None,
            },
            execution: None,
        });
    };
    let context = run_context(project, &uuid, body.name.as_deref(), now, api_host, agent);
    let params: Vec<(String, String)> = body
        .params
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let mut compiled = shared::compile_with(&content, &params, &context, hub);
    let Some(operation) = compiled.compiled.take() else {
        let errors = compiled.problems().filter(|problem| problem.is_error());
        return Err(invalid(errors.cloned().collect()));
    };
    // With params, the run keeps its operation with them written in (what the CLI would have
    // sent), so a restart or a copy compiles the same without them; with hub components, with
    // them written in too, so a tag that later names another text cannot change what it ran.
    let kept_as_compiled = !params.is_empty() || !compiled.hub_components.is_empty();
    let mut body = body;
    if !compiled.hub_components.is_empty() {
        let used = serde_json::to_value(&compiled.hub_components)
            .map_err(|error| AppError::Internal(error.to_string()))?;
        body.meta_info
            .get_or_insert_with(Default::default)
            .insert("hub_components".to_owned(), used);
    }
    let (content, body) = match (&compiled.checked.operation, kept_as_compiled) {
        (Some(checked), true) => {
            let content = serde_json::to_string(checked)
                .map_err(|error| AppError::Internal(error.to_string()))?;
            let body = OperationBody {
                content: Some(content.clone()),
                params: None,
                ..body
            };
            (content, body)
        }
        _ => (content, body),
    };
    let kind = operation
        .pointer("/run/kind")
        .and_then(Json::as_str)
        .unwrap_or("job")
        .to_owned();
    let is_pipeline = operation.get("matrix").is_some() || operation.get("schedule").is_some();
    if is_pipeline || kind == "dag" {
        return Err(AppError::BadRequest(
            "matrix, DAG and scheduled operations compile, but Myelin does not execute them yet"
                .to_owned(),
        ));
    }
    runtime.supports(&kind).map_err(AppError::BadRequest)?;
    let operation = match with_ports(&content, &operation, runtime) {
        // Compiled again, so that templates (`{{ globals.ports[0] }}`) see the ports in use.
        Some(moved) => shared::compile_with(&moved, &[], &context, hub)
            .compiled
            .ok_or_else(|| {
                AppError::Internal("a service with new ports does not compile".to_owned())
            })?,
        None => operation,
    };
    let resource = shared::convert::convert(&operation, &context).map_err(|not_converted| {
        AppError::BadRequest(format!(
            "the operation compiles but cannot be converted to a resource: {not_converted:?}"
        ))
    })?;
    let name = body.name.clone().or_else(|| {
        operation
            .get("name")
            .and_then(Json::as_str)
            .map(str::to_owned)
    });
    let compiled_condition =
        StatusCondition::new(Status::Compiled, "Myelin", "Run is compiled", now);
    let execution = Execution {
        uuid: uuid.clone(),
        kind: kind.clone(),
        compiled: operation.clone(),
        resource: resource.clone(),
        status: Status::Compiled,
        context,
    };
    Ok(Prepared {
        run: NewRun {
            uuid,
            name,
            body,
            runtime: kind.clone(),
            kind,
            executor: runtime.name().to_owned(),
            inputs: Some(inputs_of(&operation)),
            compiled: Some(operation),
            resource: Some(resource),
            conditions: vec![created, compiled_condition],
            created_at: now,
            cloned_from: None,
        },
        execution: Some(execution),
    })
}

/// The Polyaxonfile with the ports the runtime gives a service in place of the ones it declares,
/// when they differ (another service holds one): `None` when the declared ones are used.
fn with_ports(content: &str, operation: &Json, runtime: &dyn Runtime) -> Option<String> {
    let declared: Vec<u16> = operation
        .pointer("/run/ports")?
        .as_array()?
        .iter()
        .filter_map(|port| port.as_u64().and_then(|port| u16::try_from(port).ok()))
        .collect();
    let given = runtime.service_ports(&declared);
    if given == declared {
        return None;
    }
    let mut document = shared::yaml::parse(content).0?.to_json();
    let ports = Json::from(given);
    // Where the ports were written: a patch of the operation, its component, or the root.
    for pointer in [
        "/runPatch/ports",
        "/component/run/ports",
        "/run/ports",
        "/ports",
    ] {
        if let Some(slot) = document.pointer_mut(pointer) {
            *slot = ports;
            return serde_json::to_string(&document).ok();
        }
    }
    None
}

/// The params' values by input name, as the compiled operation resolved them.
fn inputs_of(operation: &Json) -> Map<String, Json> {
    operation
        .get("inputs")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(|io| {
            let name = io.get("name")?.as_str()?;
            Some((
                name.to_owned(),
                io.get("value").cloned().unwrap_or(Json::Null),
            ))
        })
        .collect()
}

fn invalid(diagnostics: Vec<shared::Diagnostic>) -> AppError {
    let message = match diagnostics.as_slice() {
        [] => "the Polyaxonfile is not valid".to_owned(),
        [only] => format!(
            "the Polyaxonfile is not valid: {} (line {}, column {})",
            only.message, only.line, only.column
        ),
        [first, rest @ ..] => format!(
            "the Polyaxonfile has {} problems; the first: {} (line {}, column {})",
            rest.len() + 1,
            first.message,
            first.line,
            first.column
        ),
    };
    AppError::Invalid {
        message,
        diagnostics,
    }
}
