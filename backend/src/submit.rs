//! From a submitted operation to a stored run: compiled with `shared` (the compiler the browser
//! runs too), converted to its resource, and handed to the runtime.

use serde_json::{Map, Value as Json};
use shared::api::{OperationBody, Project, Status, StatusCondition};
use shared::hub::Catalog;
use shared::time::Timestamp;
use shared::{Agent, RunContext};

use shared::api::{Run, pending};

use crate::runtime::{Execution, Runtime};
use crate::store::{NewRun, PipelineSlot};
use crate::{AppError, AppState, clock};

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
                pipeline: None,
                cache_key: None,
                user: None,
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
    let is_schedule = operation.get("schedule").is_some();
    let is_dag = kind == "dag" && operation.get("matrix").is_none();
    if !is_dag {
        runtime.supports(&kind).map_err(AppError::BadRequest)?;
    }
    if is_schedule || is_dag || operation.get("matrix").is_some() {
        let pipeline = Pipeline {
            uuid,
            body,
            content: &content,
            operation,
            kind,
            created: vec![created],
            now,
        };
        return if is_schedule {
            prepare_schedule(pipeline, &context, hub)
        } else if is_dag {
            prepare_dag(pipeline)
        } else {
            prepare_matrix(pipeline, &context, hub)
        };
    }
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
            pipeline: None,
            cache_key: None,
            user: None,
        },
        execution: Some(execution),
    })
}

/// Who submits a run: whom it is recorded as made by, and whose view of the hub its `hubRef`s
/// resolve in (every project's components when `None`).
#[derive(Debug, Clone, Default)]
pub struct Submitter {
    /// The person it is made by.
    pub user: Option<String>,
    /// The person whose projects its hub components may come from.
    pub viewer: Option<String>,
}

impl Submitter {
    /// The caller of an API request.
    pub fn caller(caller: &crate::people::Caller) -> Self {
        Self {
            user: caller.user(),
            viewer: caller.viewer().map(str::to_owned),
        }
    }

    /// A pipeline's child: made by whoever made the pipeline, whose components were resolved
    /// in their view when it was submitted.
    pub fn child_of(pipeline: &Run) -> Self {
        Self {
            user: pipeline.user.clone(),
            viewer: None,
        }
    }
}

/// Compiles, stores and hands a run to the runtime: every run takes this path, a client's, a
/// copy's and a pipeline's child's. A copy gets its original's artifacts before it starts; a
/// pipeline's child is stored and left to its scheduler, which hands it to the runtime when
/// the pipeline's concurrency allows.
pub async fn submit_run(
    state: &AppState,
    project: &Project,
    body: OperationBody,
    origin: Option<Origin<'_>>,
    pipeline: Option<PipelineSlot>,
    by: Submitter,
) -> Result<Run, AppError> {
    // `polyaxon run --local`: the CLI executes the run itself (`ops execute`) once the server
    // has compiled it, as an agent's would be; it reports the statuses from then on.
    let by_cli = body.managed_by.as_deref() == Some(CLI) && body.content.is_some();
    let mut body = body;
    if by_cli {
        body.managed_by = Some("agent".to_owned());
    }
    let body = with_joins(state, project, body).await?;
    let hub = state
        .hub_for(body.content.as_deref(), by.viewer.as_deref())
        .await?;
    let mut prepared = prepare(
        Submission {
            project,
            body,
            uuid: clock::new_uuid(),
            now: clock::now(),
            api_host: &state.api_host,
            agent: &state.agent,
            hub: &hub,
        },
        state.runtime.as_ref(),
    )?;
    if by_cli {
        prepared.execution = None;
        prepared.run.body.managed_by = Some(CLI.to_owned());
        prepared.run.executor = CLI.to_owned();
    }
    prepared.run.cloned_from = origin
        .as_ref()
        .map(|origin| (origin.run.to_owned(), origin.kind.as_str().to_owned()));
    // Polyaxon holds a run that waits for its client's upload (`polyaxon run -u`), or whose
    // Polyaxonfile says `isApproved: false`, until `polyaxon ops approve`.
    if prepared.run.body.pending.is_none() && asks_approval(prepared.run.compiled.as_ref()) {
        prepared.run.body.pending = Some(pending::APPROVAL.to_owned());
    }
    let child = pipeline.is_some();
    prepared.run.pipeline = pipeline;
    prepared.run.user = by.user;
    let cached = cache_hit(state, project, &mut prepared).await?;
    let uuid = prepared.run.uuid.clone();
    if let Some(Origin {
        run,
        kind: Cloning::Copy(paths),
    }) = &origin
    {
        state
            .artifacts
            .copy_run(run, &uuid, paths)
            .await
            .map_err(AppError::BadRequest)?;
    }
    let mut run = state
        .store
        .create_run(&project.owner, &project.name, prepared.run)
        .await?;
    if let Some(outputs) = cached {
        // What the run it stands for logged, for whoever reads its outputs (a DAG's next
        // operation).
        let patch = shared::api::RunPatch {
            outputs: Some(outputs),
            ..shared::api::RunPatch::default()
        };
        run = state
            .store
            .patch_run(&project.owner, &project.name, &run.uuid, patch)
            .await?;
    }
    if let Some(execution) = prepared.execution
        && run.pending.is_none()
        && !child
    {
        execute(state, execution).await?;
    }
    Ok(run)
}

/// When the operation caches and a run of the project did the same and succeeded within its
/// `ttl`, the new run stands for it: recorded as succeeded from the cache, pointing at it,
/// never executed. The earlier run's outputs, to give the new one.
async fn cache_hit(
    state: &AppState,
    project: &Project,
    prepared: &mut Prepared,
) -> Result<Option<Map<String, Json>>, AppError> {
    let Some(cache) = prepared.run.compiled.as_ref().and_then(shared::cache::of) else {
        return Ok(None);
    };
    prepared.run.cache_key = Some(cache.key.clone());
    if prepared.execution.is_none() {
        return Ok(None);
    }
    let now = clock::now();
    let since = cache.ttl.map(|ttl| {
        now.plus_micros(-i64::try_from(ttl).unwrap_or(i64::MAX / 1_000_000) * 1_000_000)
    });
    let Some(hit) = state
        .store
        .cached_run(&project.owner, &project.name, &cache.key, since)
        .await?
    else {
        return Ok(None);
    };
    prepared.execution = None;
    prepared.run.body.pending = None;
    prepared.run.cloned_from = Some((hit.uuid.clone(), "cache".to_owned()));
    prepared.run.conditions.push(StatusCondition::new(
        Status::Succeeded,
        "Cached",
        format!(
            "run {} did the same and succeeded{}: its results stand for this run",
            hit.uuid,
            hit.finished_at
                .map(|at| format!(" at {at}"))
                .unwrap_or_default()
        ),
        now,
    ));
    Ok(Some(hit.outputs.unwrap_or_default()))
}

/// Who executes a run that `polyaxon run --local` submits.
const CLI: &str = "cli";

/// Hands a stored run to the runtime; a run the runtime does not take fails, saying why.
pub async fn execute(state: &AppState, execution: Execution) -> Result<(), AppError> {
    let uuid = execution.uuid.clone();
    if let Err(error) = state.runtime.submit(execution).await {
        let condition = StatusCondition::new(
            Status::Failed,
            "RuntimeUnavailable",
            format!(
                "the {} runtime did not take the run: {error}",
                state.runtime.name()
            ),
            clock::now(),
        );
        state.store.add_condition(&uuid, condition, false).await?;
    }
    Ok(())
}

/// Whether a compiled operation waits for a person's approval (`isApproved: false`).
pub fn asks_approval(compiled: Option<&Json>) -> bool {
    match compiled.and_then(|operation| operation.get("isApproved")) {
        Some(Json::Bool(approved)) => !approved,
        Some(Json::String(text)) => text.eq_ignore_ascii_case("false"),
        _ => false,
    }
}

/// The run a new one is made from, and how.
pub struct Origin<'a> {
    /// The original run's uuid.
    pub run: &'a str,
    /// How the new run is made from it.
    pub kind: Cloning,
}

/// How a run is made from another.
pub enum Cloning {
    /// The same operation again.
    Restart,
    /// The same operation again, starting with these of the original's artifacts (all of them
    /// when empty).
    Copy(Vec<String>),
}

impl Cloning {
    fn as_str(&self) -> &'static str {
        match self {
            Cloning::Restart => "restart",
            Cloning::Copy(_) => "copy",
        }
    }
}

/// A pipeline run as compiled, before its children exist.
struct Pipeline<'a> {
    uuid: String,
    body: OperationBody,
    content: &'a str,
    operation: Json,
    /// The kind its children run.
    kind: String,
    created: Vec<StatusCondition>,
    now: Timestamp,
}

/// A schedule is stored as a pipeline for the scheduler once its timing reads and the run
/// each tick makes compiles.
fn prepare_schedule(
    pipeline: Pipeline<'_>,
    context: &RunContext,
    hub: &Catalog,
) -> Result<Prepared, AppError> {
    let Pipeline {
        uuid,
        body,
        content,
        operation,
        kind,
        mut created,
        now,
    } = pipeline;
    shared::schedule::read(&operation["schedule"])
        .map_err(|why| AppError::BadRequest(format!("the schedule cannot run: {why}")))?;
    let each = shared::pipeline::without(content, "schedule").map_err(AppError::BadRequest)?;
    compiles(
        &Json::Object(each).to_string(),
        context,
        hub,
        "the run each tick makes",
    )?;
    created.push(StatusCondition::new(
        Status::Compiled,
        "Myelin",
        "Schedule is compiled",
        now,
    ));
    Ok(Prepared {
        run: pipeline_run(uuid, body, operation, "schedule", kind, created, now),
        execution: None,
    })
}

/// The params of a matrix's first children: all of them, but for the searches whose later
/// runs follow from results: hyperband's first rung, bayes' initial runs, tpe's first one.
pub fn first_children(
    matrix: &Json,
    order: &[String],
    seed: u64,
) -> Result<Vec<shared::matrix::Suggestion>, String> {
    if let Some(search) = shared::guided::Guided::read(matrix, order) {
        let search = search?;
        let initial = shared::guided::budget(matrix)
            .transpose()?
            .map_or(0, |budget| budget.initial);
        if initial > 0 {
            return shared::matrix::draw(matrix, order, initial as u64, seed);
        }
        return Ok(search.suggest(&[], &[], 1, seed));
    }
    if matrix.get("kind").and_then(Json::as_str) != Some("hyperband") {
        return shared::matrix::suggestions(matrix, order, seed);
    }
    let hyperband = shared::hyperband::Hyperband::read(matrix)?;
    let rungs = hyperband.rungs();
    let first = rungs.first().ok_or("hyperband makes no runs")?;
    let configs = shared::matrix::draw(matrix, order, first.runs as u64, seed)?;
    Ok(configs
        .iter()
        .map(|params| hyperband.with_resource(params, first))
        .collect())
}

/// How many runs a matrix makes in all: hyperband's every rung, a guided search's budget, or
/// its `first` children.
fn planned_runs(matrix: &Json, first: usize) -> usize {
    if let Some(Ok(budget)) = shared::guided::budget(matrix) {
        return budget.total;
    }
    shared::hyperband::Hyperband::read(matrix)
        .ok()
        .filter(|_| matrix.get("kind").and_then(Json::as_str) == Some("hyperband"))
        .map_or(first, |hyperband| {
            hyperband.rungs().iter().map(|rung| rung.runs).sum()
        })
}

/// Refuses a pipeline whose child (`what`) does not compile, with the child's problems.
fn compiles(child: &str, context: &RunContext, hub: &Catalog, what: &str) -> Result<(), AppError> {
    let compiled = shared::compile_with(child, &[], context, hub);
    if compiled.compiled.is_some() {
        return Ok(());
    }
    let errors: Vec<_> = compiled
        .problems()
        .filter(|p| p.is_error())
        .cloned()
        .collect();
    let why = errors
        .first()
        .map_or("it is not valid".to_owned(), |first| first.message.clone());
    Err(AppError::Invalid {
        message: format!("{what} does not compile: {why}"),
        diagnostics: errors,
    })
}

/// A DAG is stored as a pipeline for the scheduler once its operations form a graph it can
/// run; its inputs are what its operations' `dag` refs read.
fn prepare_dag(pipeline: Pipeline<'_>) -> Result<Prepared, AppError> {
    let Pipeline {
        uuid,
        body,
        operation,
        kind,
        mut created,
        now,
        ..
    } = pipeline;
    let ops = shared::pipeline::ops(&operation["run"])
        .map_err(|why| AppError::BadRequest(format!("the DAG cannot run: {why}")))?;
    created.push(StatusCondition::new(
        Status::Compiled,
        "Myelin",
        format!("DAG of {} operations is compiled", ops.len()),
        now,
    ));
    Ok(Prepared {
        run: pipeline_run(uuid, body, operation, &kind, kind.clone(), created, now),
        execution: None,
    })
}

/// A pipeline's own run: its children are the scheduler's to create.
fn pipeline_run(
    uuid: String,
    body: OperationBody,
    operation: Json,
    kind: &str,
    runtime: String,
    conditions: Vec<StatusCondition>,
    now: Timestamp,
) -> NewRun {
    let name = body.name.clone().or_else(|| {
        operation
            .get("name")
            .and_then(Json::as_str)
            .map(str::to_owned)
    });
    NewRun {
        uuid,
        name,
        body,
        kind: kind.to_owned(),
        runtime,
        executor: crate::store::SCHEDULER_EXECUTOR.to_owned(),
        inputs: Some(inputs_of(&operation)),
        compiled: Some(operation),
        resource: None,
        conditions,
        created_at: now,
        cloned_from: None,
        pipeline: None,
        cache_key: None,
        user: None,
    }
}

/// A matrix is stored as a pipeline for the scheduler, once its children's params are known
/// and its first child compiles; a random search without a seed gets one, from its uuid, so
/// that its children are the same after a restart.
fn prepare_matrix(
    pipeline: Pipeline<'_>,
    context: &RunContext,
    hub: &Catalog,
) -> Result<Prepared, AppError> {
    let Pipeline {
        uuid,
        body,
        content,
        mut operation,
        kind,
        mut created,
        now,
    } = pipeline;
    let seed = u64::from_str_radix(uuid.get(..16).unwrap_or_default(), 16).unwrap_or(0);
    if let Some(matrix) = operation.get_mut("matrix").and_then(Json::as_object_mut)
        && matches!(
            matrix.get("kind").and_then(Json::as_str),
            Some("random" | "hyperband" | "bayes" | "tpe" | "iterative")
        )
        && matrix.get("seed").is_none_or(Json::is_null)
    {
        matrix.insert("seed".to_owned(), Json::from(seed));
    }
    let matrix = &operation["matrix"];
    if matrix.get("kind").and_then(Json::as_str) == Some("iterative") {
        // Its runs are the tuner's to suggest: the first tuner run is what must compile.
        let search = shared::iterative::Iterative::read(matrix)
            .map_err(|why| AppError::BadRequest(format!("the matrix cannot run: {why}")))?;
        let tuner = search.tuner_operation(matrix, 0, &[]);
        compiles(&tuner, context, hub, "the matrix's tuner")?;
        created.push(StatusCondition::new(
            Status::Compiled,
            "Myelin",
            format!(
                "Iterative search of {} iterations is compiled",
                search.iterations
            ),
            now,
        ));
        return Ok(Prepared {
            run: pipeline_run(uuid, body, operation, "matrix", kind, created, now),
            execution: None,
        });
    }
    let order = shared::matrix::written_order(content);
    let children = first_children(matrix, &order, seed)
        .map_err(|why| AppError::BadRequest(format!("the matrix cannot run: {why}")))?;
    let Some(first) = children.first() else {
        return Err(AppError::BadRequest(
            "the matrix makes no runs: its params have no values".to_owned(),
        ));
    };
    let child = shared::matrix::child_operation(content, &operation, first)
        .map_err(|why| AppError::BadRequest(format!("the matrix cannot run: {why}")))?;
    compiles(
        &child,
        context,
        hub,
        &format!("the matrix's first run ({})", Json::Object(first.clone())),
    )?;
    created.push(StatusCondition::new(
        Status::Compiled,
        "Myelin",
        format!(
            "Matrix of {} runs is compiled",
            planned_runs(matrix, children.len())
        ),
        now,
    ));
    Ok(Prepared {
        run: pipeline_run(uuid, body, operation, "matrix", kind, created, now),
        execution: None,
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

/// The most runs one join reads, as Polyaxon bounds it.
const JOIN_LIMIT: u32 = 5_000;

/// An operation with `joins` gets their params, read from the project's runs each join's query
/// finds, written in as the CLI would have sent them; the `joins` go.
async fn with_joins(
    state: &AppState,
    project: &Project,
    mut body: OperationBody,
) -> Result<OperationBody, AppError> {
    use crate::store::{RunFilter, RunScope, pql};

    let Some(content) = body
        .content
        .as_deref()
        .filter(|text| text.contains("joins"))
    else {
        return Ok(body);
    };
    let (root, _) = shared::yaml::parse(content);
    let Some(joins) = root
        .map(|root| root.to_json())
        .and_then(|root| root.get("joins").and_then(Json::as_array).cloned())
    else {
        return Ok(body);
    };
    let mut operation =
        shared::pipeline::without(content, "joins").map_err(AppError::BadRequest)?;
    let mut params = operation
        .remove("params")
        .and_then(|params| params.as_object().cloned())
        .unwrap_or_default();
    for (index, join) in joins.iter().enumerate() {
        let text = |key: &str| join.get(key).and_then(Json::as_str).unwrap_or_default();
        let bad = |what: &str, error: pql::PqlError| {
            AppError::BadRequest(format!(
                "joins[{index}].{what} is not valid: {}",
                error.message
            ))
        };
        let filter = RunFilter {
            query: Some(text("query"))
                .filter(|query| !query.trim().is_empty())
                .map(|query| pql::parse(query).map_err(|error| bad("query", error)))
                .transpose()?,
            sort: Some(text("sort"))
                .filter(|sort| !sort.trim().is_empty())
                .map(|sort| pql::parse_sort(sort).map_err(|error| bad("sort", error)))
                .transpose()?
                .unwrap_or_default(),
            limit: join
                .get("limit")
                .and_then(Json::as_u64)
                .map_or(JOIN_LIMIT, |limit| {
                    u32::try_from(limit).unwrap_or(JOIN_LIMIT).min(JOIN_LIMIT)
                }),
            offset: join
                .get("offset")
                .and_then(Json::as_u64)
                .map_or(0, |offset| u32::try_from(offset).unwrap_or(u32::MAX)),
            bookmarked: false,
            viewer: None,
        };
        let scope = RunScope::Project {
            owner: project.owner.clone(),
            project: project.name.clone(),
        };
        let found = state.store.runs(&scope, &filter).await?.results;
        // Each run's lineage is read only for a join that reads artifacts.
        let reads_lineage = join.get("params").is_some_and(|params| {
            let text = params.to_string();
            text.contains("\"artifacts.") || text.contains("\"events.")
        });
        let mut runs: Vec<shared::pipeline::Upstream> = Vec::with_capacity(found.len());
        for run in found {
            let lineage = if reads_lineage {
                state.store.lineage(&run.uuid).await?
            } else {
                Vec::new()
            };
            runs.push(shared::pipeline::Upstream {
                uuid: run.uuid,
                name: run.name,
                status: Some(run.status),
                inputs: run.inputs.unwrap_or_default(),
                outputs: run.outputs.unwrap_or_default(),
                lineage,
            });
        }
        let joined = shared::pipeline::join_params(join, &runs)
            .map_err(|why| AppError::BadRequest(format!("joins[{index}]: {why}")))?;
        params.extend(joined);
    }
    operation.insert("params".to_owned(), Json::Object(params));
    body.content = Some(Json::Object(operation).to_string());
    Ok(body)
}
