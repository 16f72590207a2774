//! Stages 2 and 3 of the pipeline: a checked operation → the compiled operation Polyaxon's
//! `compile` prints, with params written into the inputs and every template rendered.
//!
//! In Polyaxon's order: the operation is composed with its component (root shortcuts applied to
//! the run, `runPatch` merged), params are cast and written into `inputs`/`outputs` (undeclared
//! ones become `contexts`), the agent's namespace is checked, then templates are rendered in two
//! stages: the IO and the operation-level sections with the params and the run's globals, then
//! the `run` section with everything, paths included.

use serde_json::{Map, Value as Json, json};

use crate::check::{self, Checked};
use crate::diagnostic::{Diagnostic, Position, Span};
use crate::hub::Catalog;
use crate::inline::Inlined;
use crate::python;
use crate::run::RunContext;
use crate::schema::{self, Object, Shape};
use crate::shortcuts;
use crate::template::{Context, Kind, TemplateError, Templates};
use crate::types;
use crate::yaml;

/// Where the run's context (artifacts, configs) is mounted in its containers.
const CONTEXT_ROOT: &str = "/plx-context";

/// The sections rendered in the first templating stage, with the params and the globals.
const PARSING_SECTIONS: &[&str] = &[
    "isApproved",
    "matrix",
    "presets",
    "cost",
    "queue",
    "cache",
    "connections",
    "plugins",
    "namespace",
    "termination",
    "schedule",
    "dependencies",
    "trigger",
    "conditions",
    "mount",
    "skipOnUpstreamSkip",
    "patchStrategy",
];

/// Sections of a component that the compiled operation keeps.
const KEPT_SECTIONS: &[&str] = &[
    "version",
    "name",
    "description",
    "tags",
    "presets",
    "queue",
    "namespace",
    "cache",
    "termination",
    "plugins",
    "build",
    "hooks",
    "isApproved",
    "cost",
    "mount",
    "schedule",
    "events",
    "matrix",
    "joins",
    "dependencies",
    "trigger",
    "conditions",
    "skipOnUpstreamSkip",
    "inputs",
    "outputs",
    "run",
];

/// IO types whose values stay text through templating.
const TEXT_TYPES: &[&str] = &["str", "path", "image", "uuid"];

/// The outcome of compiling a Polyaxonfile.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    /// The check that came first.
    pub checked: Checked,
    /// The compiled operation, when the file compiles.
    pub compiled: Option<Json>,
    /// The problems compiling found, after a successful check.
    pub diagnostics: Vec<Diagnostic>,
    /// The hub components its `hubRef`s brought in, so a run can record what it ran.
    pub hub_components: Vec<HubUse>,
}

/// A hub component a file used: which version, where, and the hash of its text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HubUse {
    /// Where it stands in the operation (`component`, `run.operations[0].component`).
    pub path: String,
    /// `owner/name:tag`.
    pub name: String,
    /// The hash of its text ([`crate::hub::content_state`]).
    pub state: String,
}

impl Compiled {
    /// Every problem found: the check's, then the compile's.
    pub fn problems(&self) -> impl Iterator<Item = &Diagnostic> {
        self.checked.diagnostics.iter().chain(&self.diagnostics)
    }

    /// The stage that failed, if one did: `check` or `compile`.
    pub fn failed_stage(&self) -> Option<&'static str> {
        if !self.checked.is_valid() {
            Some("check")
        } else if self.compiled.is_none() {
            Some("compile")
        } else {
            None
        }
    }
}

/// Why an operation does not compile, and the dotted path of what it is about in the composed
/// operation (`run.container.args[1]`, `params.lr`; empty for the whole file).
#[derive(Debug)]
struct Failure {
    message: String,
    path: String,
}

impl Failure {
    fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            path: path.into(),
        }
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self::at("", message)
    }
}

impl From<TemplateError> for Failure {
    fn from(error: TemplateError) -> Self {
        Self::at(error.path.trim_start_matches('.'), error.message)
    }
}

/// Where a failure's path points in the text: the node at that path, in the document or in its
/// inline component, or the nearest enclosing node that is there.
fn locate(text: &str, path: &str) -> Span {
    find(text, path).unwrap_or(Span {
        start: Position { line: 1, column: 1 },
        end: Position { line: 1, column: 1 },
    })
}

/// The node of `text` at `path`, or at the nearest of its parents there is, read from the
/// document or from its inline component.
fn find(text: &str, path: &str) -> Option<Span> {
    let root = yaml::parse(text).0?;
    let mut steps = path_steps(path);
    while !steps.is_empty() {
        for base in [Some(&root), root.get("component")].into_iter().flatten() {
            if let Some(node) = base.at(&steps) {
                return Some(node.span);
            }
        }
        steps.pop();
    }
    None
}

/// Where a compile failure points: into the hub component the operation names, when the
/// failing field is one of the component's, or else into the file.
fn failure_diagnostic(text: &str, inlined: &[Inlined], failure: Failure) -> Diagnostic {
    let component = inlined
        .iter()
        .find(|component| component.path == "component");
    let in_component = component.and_then(|component| {
        let relative = failure
            .path
            .strip_prefix("component.")
            .unwrap_or(&failure.path);
        let span = find(&component.text, relative)?;
        // The operation's own fields (`params`, `name`) are the file's, not the component's.
        let ours = find(text, &failure.path).is_some() && !failure.path.starts_with("component");
        (!ours).then_some((component, span))
    });
    match in_component {
        Some((component, span)) => {
            let mut diagnostic = Diagnostic::error(failure.message, failure.path, span);
            diagnostic.source = Some(component.name.clone());
            diagnostic
        }
        None => {
            let span = locate(text, &failure.path);
            Diagnostic::error(failure.message, failure.path, span)
        }
    }
}

/// `run.init[0].connection` as steps: `run`, `init`, `[0]`, `connection`.
fn path_steps(path: &str) -> Vec<String> {
    let mut steps = Vec::new();
    for part in path.split('.').filter(|part| !part.is_empty()) {
        let mut rest = part;
        if let Some(open) = rest.find('[') {
            if open > 0 {
                steps.push(rest[..open].to_owned());
            }
            rest = &rest[open..];
            while let Some(close) = rest.find(']') {
                steps.push(rest[..=close].to_owned());
                rest = &rest[close + 1..];
            }
        } else {
            steps.push(rest.to_owned());
        }
    }
    steps
}

/// Checks and compiles a Polyaxonfile for the run described by `run`, its `hubRef`s resolved
/// against the bundled components.
pub fn compile(text: &str, params: &[(String, String)], run: &RunContext) -> Compiled {
    compile_with(text, params, run, Catalog::bundled())
}

/// [`compile`], resolving `hubRef` against `hub` (the bundled components and a server's own).
pub fn compile_with(
    text: &str,
    params: &[(String, String)],
    run: &RunContext,
    hub: &Catalog,
) -> Compiled {
    let (checked, inlined) = check::check_inlined(text, params, hub);
    let hub_components = inlined
        .iter()
        .map(|component| HubUse {
            path: component.path.clone(),
            name: component.name.clone(),
            state: crate::hub::content_state(&component.text),
        })
        .collect();
    let Some(operation) = &checked.operation else {
        return Compiled {
            checked,
            compiled: None,
            diagnostics: Vec::new(),
            hub_components,
        };
    };
    let (compiled, diagnostics) = match compile_operation(operation, run) {
        Ok(compiled) => (Some(compiled), Vec::new()),
        Err(failure) => (None, vec![failure_diagnostic(text, &inlined, failure)]),
    };
    Compiled {
        checked,
        compiled,
        diagnostics,
        hub_components,
    }
}

fn compile_operation(operation: &Json, run: &RunContext) -> Result<Json, Failure> {
    let mut compiled = compose(operation)?;
    refuse_delay_validation(&compiled)?;
    let params = operation
        .get("params")
        .and_then(Json::as_object)
        .cloned()
        .unwrap_or_default();
    let specs = apply_params(&mut compiled, &params)?;
    // Joins are run by the server to fill params; their params are now contexts or inputs.
    // Events are what the scheduler waits for before it starts the run; neither is compiled.
    compiled.remove("joins");
    compiled.remove("events");
    check_namespace(&compiled, run)?;
    resolve_connections(&mut compiled, run)?;
    params_to_init(&mut compiled, &params)?;
    if compiled.contains_key("build") {
        return Err(Failure::at(
            "build",
            "building images is not supported: remove the `build` section",
        ));
    }
    let templates = Templates::shared();
    let mut context = params_context(&specs, templates)?;
    context.insert("globals".to_owned(), globals(&compiled, run));

    // Stage 1: the IO and the operation-level sections, with the params and the globals.
    let stage_one = Context::new(Json::Object(context));
    for section in ["contexts", "inputs", "outputs"] {
        // Taken out (a null keeps its place in the order) and put back rendered.
        if let Some(Json::Array(ios)) = compiled
            .get_mut(section)
            .filter(|value| value.is_array())
            .map(Json::take)
        {
            let rendered = ios
                .into_iter()
                .enumerate()
                .map(|(index, io)| {
                    render_io(io, &stage_one, templates)
                        .map_err(|error| error.within(&format!("{section}[{index}]")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            compiled.insert(section.to_owned(), Json::Array(rendered));
        }
    }
    for section in PARSING_SECTIONS {
        if let Some(value) = compiled.get_mut(*section) {
            templates
                .expand_in_place(value, &stage_one, Kind::Expression)
                .map_err(|error| error.within(section))?;
        }
    }
    revalidate_io(&compiled)?;
    if let Some(plugins) = compiled.get_mut("plugins") {
        reread_plugins(plugins, &schema::PLUGINS, "plugins")?;
    }

    // Stage 2: the run, with the globals' paths too. Pipelines are expanded into runs later.
    let is_pipeline = compiled.contains_key("matrix")
        || compiled.contains_key("schedule")
        || compiled
            .get("run")
            .and_then(|run| run.get("kind"))
            .and_then(Json::as_str)
            == Some("dag");
    if is_pipeline {
        // A pipeline keeps its params policy for the runs it will create.
        let strict = operation_flag(operation, "strictParams");
        compiled.insert("strictParams".to_owned(), Json::Bool(strict));
        let is_dag = compiled
            .get("run")
            .and_then(|run| run.get("kind"))
            .and_then(Json::as_str)
            == Some("dag");
        if is_dag {
            compiled
                .entry("contexts")
                .or_insert_with(|| Json::Array(Vec::new()));
        }
    } else if let Some(run_section) = compiled.get_mut("run").map(Json::take) {
        let Json::Object(context) = stage_one.into_json() else {
            unreachable!("the stage one context is a mapping")
        };
        let stage_two = stage_two_context(context, &compiled, &run_section, run);
        let mut rendered = run_section;
        render_run_section(&mut rendered, stage_two, run, templates)
            .map_err(|error| error.within("run"))?;
        keep_text_maps(&mut rendered, "run")?;
        read_tensorboard_uuids(&mut rendered, "run")?;
        compiled.insert("run".to_owned(), rendered);
    }
    Ok(Json::Object(compiled))
}

/// Stage one's context (the params and the globals) made stage two's: with the run's paths, a
/// service's URLs, and the connections its run and its init steps use.
fn stage_two_context(
    mut context: Map<String, Json>,
    compiled: &Map<String, Json>,
    run_section: &Json,
    run: &RunContext,
) -> Map<String, Json> {
    let globals = context
        .entry("globals")
        .or_insert_with(|| Json::Object(Map::new()));
    stage_two_globals(globals, compiled, run);
    add_service_urls(globals, run_section, run);
    context.insert(
        "connections".to_owned(),
        connections_context(run_section, run, false),
    );
    context.insert(
        "init".to_owned(),
        connections_context(run_section, run, true),
    );
    context
}

/// The context the run of a compiled operation renders with, rebuilt from it: its params are
/// the values its inputs, outputs and contexts hold. For what Polyaxon leaves unrendered (a
/// distributed run's own fields) and Myelin's native objects need rendered.
pub(crate) fn run_context(compiled: &Json, run: &RunContext) -> Result<Context, String> {
    let Json::Object(compiled) = compiled else {
        return Err("the compiled operation is not a mapping".to_owned());
    };
    let mut specs = Vec::new();
    for section in ["inputs", "outputs", "contexts"] {
        let ios = compiled
            .get(section)
            .and_then(Json::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let names: Vec<String> = ios
            .iter()
            .map(|io| io.get("name").map(python::str_of).unwrap_or_default())
            .collect();
        for (index, io) in ios.iter().enumerate() {
            // Of two IOs with one name the last is the param, as when compiling.
            if names[index + 1..].contains(&names[index]) {
                continue;
            }
            let flag = |key: &str| io.get(key) == Some(&Json::Bool(true));
            specs.push(ParamSpec {
                name: names[index].clone(),
                io_type: (section != "contexts")
                    .then(|| io.get("type").and_then(Json::as_str).map(str::to_owned))
                    .flatten(),
                value: io.get("value").cloned().unwrap_or(Json::Null),
                is_flag: flag("isFlag"),
                is_list: flag("isList"),
                arg_format: io
                    .get("argFormat")
                    .and_then(Json::as_str)
                    .map(str::to_owned),
                connection: io.get("connection").cloned(),
            });
        }
    }
    let mut context = params_context(&specs, Templates::shared())?;
    context.insert("globals".to_owned(), globals(compiled, run));
    let run_section = compiled.get("run").unwrap_or(&Json::Null);
    let context = stage_two_context(context, compiled, run_section, run);
    Ok(Context::new(Json::Object(context)))
}

/// A TensorBoard init step's `uuids`, rendered now, must list run UUIDs; they are kept as
/// Polyaxon keeps them, a list of 32 hex digits each. Replicas have init steps of their own.
fn read_tensorboard_uuids(section: &mut Json, path: &str) -> Result<(), Failure> {
    let Json::Object(fields) = section else {
        return Ok(());
    };
    for (key, value) in fields.iter_mut() {
        let path = format!("{path}.{key}");
        match (key.as_str(), value) {
            ("init", Json::Array(steps)) => {
                for (index, step) in steps.iter_mut().enumerate() {
                    let Some(uuids) = step
                        .get_mut("tensorboard")
                        .and_then(|tensorboard| tensorboard.get_mut("uuids"))
                    else {
                        continue;
                    };
                    *uuids = types::uuid_list(uuids).map_err(|why| {
                        Failure::at(
                            format!("{path}[{index}].tensorboard.uuids"),
                            format!("the TensorBoard's runs must be UUIDs: {why}"),
                        )
                    })?;
                }
            }
            ("container" | "sidecars" | "environment", _) => {}
            (_, value @ Json::Object(_)) => read_tensorboard_uuids(value, &path)?,
            _ => {}
        }
    }
    Ok(())
}

/// Whether the operation or its component sets a boolean flag.
fn operation_flag(operation: &Json, key: &str) -> bool {
    let component = operation.get("component").unwrap_or(operation);
    [operation, component]
        .iter()
        .any(|layer| layer.get(key) == Some(&Json::Bool(true)))
}

/// Every input and output, inputs first, with its path (`inputs[0]`).
fn ios(compiled: &Map<String, Json>) -> impl Iterator<Item = (String, &Json)> {
    ["inputs", "outputs"].into_iter().flat_map(move |section| {
        compiled
            .get(section)
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .map(move |(index, io)| (format!("{section}[{index}]"), io))
    })
}

/// Polyaxon 2.18 crashes compiling an input or output that sets `delayValidation` (it reads the
/// snake_case attribute that its own reader never sets); say so instead.
fn refuse_delay_validation(compiled: &Map<String, Json>) -> Result<(), Failure> {
    for (path, io) in ios(compiled) {
        if io.get("delayValidation").is_some() {
            let name = io.get("name").map(python::str_of).unwrap_or_default();
            return Err(Failure::at(
                format!("{path}.delayValidation"),
                format!(
                    "`{name}` sets `delayValidation`, which Polyaxon 2.18 cannot compile; write `validation: {{delay: true}}` instead"
                ),
            ));
        }
    }
    Ok(())
}

/// After the first templating stage every IO value must still read as its type: a string that
/// rendered into a literal of the wrong shape is caught here.
fn revalidate_io(compiled: &Map<String, Json>) -> Result<(), Failure> {
    for (path, io) in ios(compiled) {
        let (Some(io_type), Some(value)) = (io.get("type").and_then(Json::as_str), io.get("value"))
        else {
            continue;
        };
        if value.is_null() || matches!(value, Json::String(text) if text.contains("{{")) {
            continue;
        }
        let is_list = io.get("isList") == Some(&Json::Bool(true));
        if let Err(why) = types::cast(io_type, value, is_list) {
            let name = io.get("name").map(python::str_of).unwrap_or_default();
            return Err(Failure::at(
                format!("{path}.value"),
                format!("the value of `{name}` is invalid after templating: {why}"),
            ));
        }
    }
    Ok(())
}

/// Every connection a run requests must be in the agent's catalog; init steps that fetch
/// artifacts or paths without naming a connection fetch from the artifacts store.
fn resolve_connections(compiled: &mut Map<String, Json>, run: &RunContext) -> Result<(), Failure> {
    let store = run
        .agent
        .artifacts_store
        .as_ref()
        .map(|store| store.name.clone());
    let known = |name: &str| run.connection(name).is_some() || store.as_deref() == Some(name);
    // Each unknown name with where it is asked for.
    let mut missing: Vec<(String, String)> = Vec::new();
    let Some(Json::Object(run_section)) = compiled.get_mut("run") else {
        return Ok(());
    };
    for (pod_path, pod) in pods_mut(run_section) {
        for (index, name) in pod
            .get("connections")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let name = python::str_of(name);
            if !known(&name) && !name.contains("{{") {
                missing.push((name, format!("{pod_path}.connections[{index}]")));
            }
        }
        if let Some(Json::Array(steps)) = pod.get_mut("init") {
            for (index, step) in steps.iter_mut().enumerate() {
                let Json::Object(step) = step else { continue };
                match step.get("connection").map(python::str_of) {
                    Some(name) if !known(&name) && !name.contains("{{") => {
                        missing.push((name, format!("{pod_path}.init[{index}].connection")));
                    }
                    Some(_) => {}
                    None if step.contains_key("artifacts") || step.contains_key("paths") => {
                        if let Some(store) = &store {
                            step.insert("connection".to_owned(), Json::from(store.clone()));
                        }
                    }
                    None => {}
                }
            }
        }
    }
    let Some((_, first_path)) = missing.first() else {
        return refuse_cleaner_connections(run_section, store.as_deref());
    };
    Err(Failure::at(
        first_path.clone(),
        format!(
            "the agent has no connection named {}; its catalog has {}",
            missing
                .iter()
                .map(|(name, _)| format!("`{name}`"))
                .collect::<Vec<_>>()
                .join(", "),
            run.agent
                .connections
                .iter()
                .map(|connection| format!("`{}`", connection.name))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

/// Polyaxon 2.18 collects the connections of jobs, services, notifiers, tuners and distributed
/// runs, but not a cleaner's: rendering one that asks for any other than the artifacts store
/// fails (a `KeyError` on the connection's name). Say so instead.
fn refuse_cleaner_connections(
    run_section: &Map<String, Json>,
    store: Option<&str>,
) -> Result<(), Failure> {
    if run_section.get("kind").and_then(Json::as_str) != Some("cleaner") {
        return Ok(());
    }
    let asked = |key: &'static str| {
        run_section
            .get(key)
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .map(move |(index, item)| (key, index, item))
    };
    let requested =
        asked("connections").map(|(key, index, name)| (format!("run.{key}[{index}]"), name));
    let of_init = asked("init").filter_map(|(key, index, step)| {
        Some((
            format!("run.{key}[{index}].connection"),
            step.get("connection")?,
        ))
    });
    for (path, name) in requested.chain(of_init) {
        let name = python::str_of(name);
        if Some(name.as_str()) != store {
            return Err(Failure::at(
                path,
                format!(
                    "a cleaner cannot use the connection `{name}`: Polyaxon 2.18 collects no \
                     connections for cleaners and fails compiling one that asks for any"
                ),
            ));
        }
    }
    Ok(())
}

/// The parts of a run that become pods: the run itself for a job or a service, each replica for
/// a distributed run. Distributed replicas get an `init` list, as Polyaxon gives them.
fn pods_mut(run: &mut Map<String, Json>) -> Vec<(String, &mut Map<String, Json>)> {
    let kind = run
        .get("kind")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned();
    if !is_distributed(&kind) {
        return vec![("run".to_owned(), run)];
    }
    let mut pods = Vec::new();
    for (key, value) in run.iter_mut() {
        if !REPLICA_FIELDS.contains(&key.as_str()) {
            continue;
        }
        let replicas: Vec<(String, &mut Json)> = if key == "workers" {
            match value {
                Json::Object(workers) => workers
                    .iter_mut()
                    .map(|(group, replica)| (format!("run.workers.{group}"), replica))
                    .collect(),
                _ => Vec::new(),
            }
        } else {
            vec![(format!("run.{key}"), value)]
        };
        for (path, replica) in replicas {
            if let Json::Object(replica) = replica {
                if matches!(kind.as_str(), "tfjob" | "pytorchjob" | "mpijob") {
                    replica
                        .entry("init")
                        .or_insert_with(|| Json::Array(Vec::new()));
                }
                pods.push((path, replica));
            }
        }
    }
    pods
}

/// `connections['name']` (or `init['name']`): the schema of each connection the run requests
/// (or its init steps use).
fn connections_context(run_section: &Json, run: &RunContext, for_init: bool) -> Json {
    let mut names: Vec<String> = Vec::new();
    if for_init {
        for step in run_section
            .get("init")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            names.extend(step.get("connection").map(python::str_of));
        }
    } else {
        names.extend(
            run_section
                .get("connections")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
                .map(python::str_of),
        );
    }
    let mut context = Map::new();
    for name in names {
        let schema = match (run.connection(&name), &run.agent.artifacts_store) {
            (Some(connection), _) => connection.raw.get("schema").cloned(),
            (None, Some(store)) if store.name == name => store.raw.get("schema").cloned(),
            _ => None,
        };
        context.insert(name, schema.unwrap_or(Json::Object(Map::new())));
    }
    Json::Object(context)
}

/// A service's `globals.ports`, `globals.base_url` (of its first port) and `globals.base_urls`.
fn add_service_urls(globals: &mut Json, run_section: &Json, run: &RunContext) {
    if run_section.get("kind").and_then(Json::as_str) != Some("service") {
        return;
    }
    let Json::Object(globals) = globals else {
        return;
    };
    let ports = run_section.get("ports").cloned().unwrap_or(Json::Null);
    let rewrite = run_section.get("rewritePath") == Some(&Json::Bool(true));
    let prefix = match (
        run_section.get("isExternal") == Some(&Json::Bool(true)),
        rewrite,
    ) {
        (true, true) => "rewrite-external",
        (true, false) => "external",
        (false, true) => "rewrite-services",
        (false, false) => "services",
    };
    let url = |port: &Json| {
        format!(
            "/{prefix}/v1/{}/{}/{}/runs/{}/{}",
            run.agent.namespace,
            run.owner,
            run.project,
            run.run_uuid,
            python::str_of(port)
        )
    };
    // A service without ports is reached on port 80.
    let urls: Vec<Json> = match ports.as_array() {
        Some(ports) if !ports.is_empty() => {
            ports.iter().map(|port| Json::from(url(port))).collect()
        }
        _ => vec![Json::from(url(&Json::from(80)))],
    };
    globals.insert("base_url".to_owned(), urls[0].clone());
    globals.insert("base_urls".to_owned(), Json::Array(urls));
    globals.insert("ports".to_owned(), ports);
}

/// Polyaxon reads the rendered run back through its models, where a mapping of names to text
/// (an environment's labels, annotations and node selector, a Ray replica's `rayStartParams`)
/// keeps a value that rendered to a number, boolean or structure as its JSON text, and refuses
/// one that rendered to `None`. Kubernetes objects inside the run keep what rendered.
fn keep_text_maps(section: &mut Json, path: &str) -> Result<(), Failure> {
    let Json::Object(fields) = section else {
        return Ok(());
    };
    for (key, value) in fields.iter_mut() {
        let path = format!("{path}.{key}");
        match (key.as_str(), value) {
            ("environment", Json::Object(environment)) => {
                for name in ["labels", "annotations", "nodeSelector"] {
                    if let Some(map) = environment.get_mut(name) {
                        text_values(map, &format!("{path}.{name}"))?;
                    }
                }
            }
            ("rayStartParams", map) => text_values(map, &path)?,
            // A Ray cluster's groups of workers, by name.
            ("workers", Json::Object(groups)) => {
                for (group, replica) in groups.iter_mut() {
                    keep_text_maps(replica, &format!("{path}.{group}"))?;
                }
            }
            (key, replica) if REPLICA_FIELDS.contains(&key) => keep_text_maps(replica, &path)?,
            _ => {}
        }
    }
    Ok(())
}

/// The values of a mapping of names to text, as clipped's `GenericStr` keeps them.
fn text_values(map: &mut Json, path: &str) -> Result<(), Failure> {
    let Json::Object(entries) = map else {
        return Ok(());
    };
    for (name, value) in entries.iter_mut() {
        let text = match &*value {
            Json::String(_) => continue,
            Json::Null => {
                return Err(Failure::at(
                    format!("{path}.{name}"),
                    format!("`{path}.{name}` must be text, but it rendered to None"),
                ));
            }
            Json::Number(number) if number.is_f64() => {
                python::orjson_float(number.as_f64().unwrap_or_default())
            }
            other => python::orjson_dumps(other),
        };
        *value = Json::String(text);
    }
    Ok(())
}

/// After the first templating stage Polyaxon reads the plugins again: a flag that rendered to
/// text reads as pydantic reads a boolean (`no` is false), and a number must be a whole one.
fn reread_plugins(plugins: &mut Json, object: &Object, path: &str) -> Result<(), Failure> {
    let Json::Object(fields) = plugins else {
        return Ok(());
    };
    for field in object.fields {
        let Some(value) = fields.get_mut(field.name) else {
            continue;
        };
        let path = format!("{path}.{}", field.name);
        let read = match (&field.shape, &*value) {
            (Shape::Object(inner), _) => {
                reread_plugins(value, inner, &path)?;
                continue;
            }
            (_, Json::Null) => continue,
            (Shape::Bool, Json::Bool(_)) | (Shape::Int, Json::Number(_)) if !value.is_f64() => {
                continue;
            }
            (Shape::Bool, Json::String(text)) => check::lax_bool(text).map(Json::Bool),
            (Shape::Bool, Json::Number(number)) => match number.as_f64() {
                Some(0.0) => Some(Json::Bool(false)),
                Some(1.0) => Some(Json::Bool(true)),
                _ => None,
            },
            (Shape::Bool | Shape::Int, _) => None,
            _ => continue,
        };
        let Some(read) = read else {
            let expected = if matches!(field.shape, Shape::Bool) {
                "a boolean"
            } else {
                "an integer"
            };
            return Err(Failure::at(
                &path,
                format!(
                    "`{path}` must be {expected}, but it rendered to `{}`",
                    python::str_of(value)
                ),
            ));
        };
        *value = read;
    }
    Ok(())
}

/// The component with the operation's own sections over it, the root shortcuts applied to the
/// run and `runPatch` merged in.
fn compose(operation: &Json) -> Result<Map<String, Json>, String> {
    let component = operation.get("component").unwrap_or(operation);
    let strategy = match operation.get("patchStrategy").and_then(Json::as_str) {
        Some("replace") => Strategy::Replace,
        Some("isnull") => Strategy::IsNull,
        Some("pre_merge") => Strategy::PreMerge,
        _ => Strategy::PostMerge,
    };
    let mut compiled = Map::new();
    compiled.insert("kind".to_owned(), Json::from("compiled_operation"));
    for section in KEPT_SECTIONS {
        if let Some(value) = component.get(*section).filter(|value| !value.is_null()) {
            compiled.insert((*section).to_owned(), value.clone());
        }
    }
    if !std::ptr::eq(component, operation) {
        let overrides: Map<String, Json> = KEPT_SECTIONS
            .iter()
            .filter_map(|section| Some(((*section).to_owned(), operation.get(*section)?.clone())))
            .filter(|(_, value)| !value.is_null())
            .collect();
        patch(&mut compiled, &overrides, strategy);
    }
    let mut run = compiled.remove("run");
    for layer in [component, operation] {
        run = apply_shortcuts(run, layer);
        if let Some(Json::Object(changes)) = layer.get("runPatch")
            && let Some(Json::Object(run)) = run.as_mut()
        {
            patch(run, changes, strategy);
        }
    }
    match run {
        Some(run) => {
            compiled.insert("run".to_owned(), run);
        }
        None => {
            return Err(
                "the resolved Polyaxonfile has no run: add a `run` section or a `container`"
                    .to_owned(),
            );
        }
    }
    Ok(compiled)
}

/// How an operation's sections and `runPatch` combine with its component's (`patchStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    /// Values given replace those of the base.
    Replace,
    /// Values given fill only what the base leaves unset.
    IsNull,
    /// Merged, the values given winning; lists get the new items after their own (the default).
    PostMerge,
    /// Merged, the base winning; lists get the new items before their own.
    PreMerge,
}

/// Patches `base` with `changes` by `strategy`, as Polyaxon patches its models. A run of another
/// kind is not merged with the base's run: it replaces it (`post_merge`) or is ignored
/// (`pre_merge`).
fn patch(base: &mut Map<String, Json>, changes: &Map<String, Json>, strategy: Strategy) {
    for (key, value) in changes {
        let Some(current) = base.get_mut(key).filter(|current| !current.is_null()) else {
            base.insert(key.clone(), value.clone());
            continue;
        };
        let other_kind = key == "run" && current.get("kind") != value.get("kind");
        // Objects of Polyaxon's and Kubernetes' schemas are patched field by field whatever the
        // strategy; free-form mappings (labels, selectors, quantities) are values like any other.
        let is_model = !matches!(
            key.as_str(),
            "labels" | "annotations" | "nodeSelector" | "limits" | "requests" | "env"
        );
        match (current, value) {
            (Json::Object(current), Json::Object(value))
                if !other_kind
                    && (is_model
                        || matches!(strategy, Strategy::PostMerge | Strategy::PreMerge)) =>
            {
                patch(current, value, strategy);
            }
            (current, value) => match strategy {
                Strategy::IsNull => {}
                Strategy::Replace => *current = value.clone(),
                Strategy::PostMerge | Strategy::PreMerge if other_kind => {
                    if strategy == Strategy::PostMerge {
                        *current = value.clone();
                    }
                }
                Strategy::PostMerge | Strategy::PreMerge => merge_values(current, value, strategy),
            },
        }
    }
}

/// Two values under a merge strategy: lists keep the items of both, the winner's first; other
/// values are the winner's.
fn merge_values(current: &mut Json, value: &Json, strategy: Strategy) {
    match (current, value) {
        (Json::Array(current), Json::Array(value)) => {
            if strategy == Strategy::PostMerge {
                let new: Vec<Json> = value
                    .iter()
                    .filter(|item| !current.contains(item))
                    .cloned()
                    .collect();
                current.extend(new);
            } else {
                let mut merged = value.clone();
                merged.extend(current.iter().filter(|item| !value.contains(item)).cloned());
                *current = merged;
            }
        }
        (current, value) => {
            if strategy == Strategy::PostMerge {
                *current = value.clone();
            }
        }
    }
}

/// Params with `toInit: true` become init steps, put before the run's own: a `git`,
/// `dockerfile` or `artifacts` value fetches that, a `path` copies those paths, and any other
/// param with a connection initialises the connection.
fn params_to_init(
    compiled: &mut Map<String, Json>,
    params: &Map<String, Json>,
) -> Result<(), Failure> {
    let types_by_name: Map<String, Json> = ios(compiled)
        .filter_map(|(_, io)| {
            Some((
                io.get("name")?.as_str()?.to_owned(),
                io.get("type").cloned().unwrap_or(Json::Null),
            ))
        })
        .collect();
    let mut steps = Vec::new();
    for (name, param) in params {
        if param.get("toInit") != Some(&Json::Bool(true)) {
            continue;
        }
        let value = param.get("value").cloned().unwrap_or(Json::Null);
        let connection = param.get("connection").cloned();
        let io_type = types_by_name
            .get(name)
            .and_then(Json::as_str)
            .unwrap_or_default();
        let mut step = Map::new();
        match io_type {
            "git" | "dockerfile" | "artifacts" => {
                step.insert(io_type.to_owned(), value);
            }
            "path" => {
                let paths = match value {
                    Json::Array(paths) => paths,
                    Json::Null => Vec::new(),
                    other => vec![other],
                };
                step.insert("paths".to_owned(), Json::Array(paths));
            }
            _ if connection.is_some() => {}
            _ => {
                return Err(Failure::at(
                    format!("params.{name}.toInit"),
                    format!(
                        "param `{name}` has type `{io_type}`, which cannot become an init step: only git, dockerfile, artifacts and path params, or params with a connection, can"
                    ),
                ));
            }
        }
        if let Some(connection) = connection {
            step.insert("connection".to_owned(), connection);
        }
        steps.push(Json::Object(step));
    }
    if steps.is_empty() {
        return Ok(());
    }
    if let Some(Json::Object(run)) = compiled.get_mut("run") {
        let existing = run
            .remove("init")
            .and_then(|init| init.as_array().cloned())
            .unwrap_or_default();
        steps.extend(existing);
        run.insert("init".to_owned(), Json::Array(steps));
    }
    Ok(())
}

/// Polyaxon 2.x's root shortcuts: `ports` makes a service, `container`, `cmd`, `env` and
/// `resources` fill the main container, the rest go to the run.
fn apply_shortcuts(run: Option<Json>, layer: &Json) -> Option<Json> {
    let mut run = run;
    let mut ensure = |kind: &str| -> Map<String, Json> {
        match run.take() {
            Some(Json::Object(run)) => run,
            _ => {
                let mut fresh = Map::new();
                fresh.insert("kind".to_owned(), Json::from(kind));
                fresh
            }
        }
    };
    let mut touched: Option<Map<String, Json>> = None;
    if let Some(ports) = layer.get("ports") {
        let mut current = ensure("service");
        current.insert("ports".to_owned(), ports.clone());
        touched = Some(current);
    }
    let container_patches = main_container_patch(layer);
    if !container_patches.is_empty() {
        let mut current = touched.take().unwrap_or_else(|| ensure("job"));
        let container = current
            .entry("container")
            .or_insert_with(|| Json::Object(Map::new()));
        if let Json::Object(container) = container {
            for (key, value) in container_patches {
                container.insert(key, value);
            }
        }
        touched = Some(current);
    }
    for section in ["environment", "init", "connections", "sidecars", "volumes"] {
        if let Some(value) = layer.get(section) {
            let mut current = touched.take().unwrap_or_else(|| ensure("job"));
            current.insert(section.to_owned(), value.clone());
            touched = Some(current);
        }
    }
    touched.map(Json::Object).or(run)
}

/// The main-container fields the shortcuts of one layer set.
fn main_container_patch(layer: &Json) -> Vec<(String, Json)> {
    let mut patch = Vec::new();
    if let Some(Json::Object(container)) = layer.get("container") {
        patch.extend(
            container
                .iter()
                .map(|(key, value)| (key.clone(), value.clone())),
        );
    }
    if let Some(cmd) = layer.get("cmd") {
        let lines: Vec<String> = match cmd {
            Json::Array(lines) => lines.iter().map(python::str_of).collect(),
            other => vec![python::str_of(other)],
        };
        let script = std::iter::once("set -e".to_owned())
            .chain(lines)
            .collect::<Vec<_>>();
        patch.push(("command".to_owned(), json!(["/bin/sh", "-c"])));
        patch.push(("args".to_owned(), json!([script.join("\n")])));
    }
    if let Some(Json::Object(env)) = layer.get("env") {
        let entries: Vec<Json> = env
            .iter()
            .map(|(name, value)| json!({"name": name, "value": value, "value_from": null}))
            .collect();
        patch.push(("env".to_owned(), Json::Array(entries)));
    }
    if let Some(Json::Object(resources)) = layer.get("resources") {
        patch.push((
            "resources".to_owned(),
            shortcuts::lower_resources(resources),
        ));
    }
    patch
}

/// A param as the templates see it: its name, declared type and value.
struct ParamSpec {
    name: String,
    io_type: Option<String>,
    value: Json,
    is_flag: bool,
    is_list: bool,
    arg_format: Option<String>,
    connection: Option<Json>,
}

/// Writes params into the inputs and outputs they are for, cast to their types; params for no
/// input become `contexts`. Returns the params every template sees.
fn apply_params(
    compiled: &mut Map<String, Json>,
    params: &Map<String, Json>,
) -> Result<Vec<ParamSpec>, Failure> {
    // A join's params fill inputs on the server, from the runs its query finds.
    let joined: Vec<String> = compiled
        .get("joins")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(|join| join.get("params").and_then(Json::as_object))
        .flat_map(|params| params.keys().cloned())
        .collect();
    let mut specs = Vec::new();
    let mut declared = Vec::new();
    for section in ["inputs", "outputs"] {
        let Some(Json::Array(ios)) = compiled.get_mut(section) else {
            continue;
        };
        // Polyaxon keys IOs by name, so of two with one name the last takes the param.
        let names: Vec<String> = ios
            .iter()
            .map(|io| io.get("name").map(python::str_of).unwrap_or_default())
            .collect();
        let mut shadowed_values: Vec<(usize, Json)> = Vec::new();
        for (index, io) in ios.iter_mut().enumerate() {
            let Json::Object(io) = io else { continue };
            let name = names[index].clone();
            let shadowed = names[index + 1..].contains(&name);
            if shadowed {
                if section == "outputs" || params.contains_key(&name) || joined.contains(&name) {
                    io.insert("isOptional".to_owned(), Json::Bool(true));
                }
                continue;
            }
            let io_type = io.get("type").and_then(Json::as_str).map(str::to_owned);
            let is_list = io.get("isList") == Some(&Json::Bool(true));
            declared.push(name.clone());
            if section == "outputs" || params.contains_key(&name) || joined.contains(&name) {
                io.insert("isOptional".to_owned(), Json::Bool(true));
            }
            for key in ["connection", "toInit", "toEnv"] {
                if let Some(setting) = params.get(&name).and_then(|param| param.get(key))
                    && !io.contains_key(key)
                {
                    io.insert(key.to_owned(), setting.clone());
                }
            }
            if let Some(reference) = params.get(&name).and_then(|param| param.get("ref")) {
                // Another run's outputs are only known to the server, when the run is scheduled.
                let value = params[&name]
                    .get("value")
                    .map(python::str_of)
                    .unwrap_or_default();
                return Err(Failure::at(
                    format!("params.{name}.ref"),
                    format!(
                        "param `{name}` takes `{value}` from `{}`, which is resolved when the run is scheduled, not when one operation is compiled alone",
                        python::str_of(reference)
                    ),
                ));
            }
            if let Some(param) = params.get(&name)
                && let Some(value) = param.get("value")
            {
                let cast = match (&io_type, value) {
                    (_, Json::String(text)) if text.contains("{{") => value.clone(),
                    (Some(io_type), _) => types::cast(io_type, value, is_list).map_err(|why| {
                        Failure::at(
                            format!("params.{name}"),
                            format!("param `{name}` is invalid: {why}"),
                        )
                    })?,
                    (None, _) => value.clone(),
                };
                io.insert("value".to_owned(), cast);
            } else if let (Some(io_type), Some(Json::String(text))) = (&io_type, io.get("value"))
                && !text.contains("{{")
                && !types::is_text(io_type)
                && let Ok(read) = types::cast(io_type, &Json::String(text.clone()), is_list)
            {
                // A default written as text is read as its type, as a param's value is: the
                // templates see the mapping `{"a": 1}`, not the string.
                io.insert("value".to_owned(), read);
            }
            let value = io.get("value").cloned().unwrap_or(Json::Null);
            // The IOs it shadowed take its value too, as written, uncast.
            for (earlier, earlier_name) in names[..index].iter().enumerate() {
                if *earlier_name == name {
                    shadowed_values.push((earlier, value.clone()));
                }
            }
            specs.push(ParamSpec {
                io_type,
                value,
                is_flag: io.get("isFlag") == Some(&Json::Bool(true)),
                is_list,
                arg_format: io
                    .get("argFormat")
                    .and_then(Json::as_str)
                    .map(str::to_owned),
                connection: io.get("connection").cloned(),
                name,
            });
        }
        for (index, value) in shadowed_values {
            if let Some(Json::Object(io)) = ios.get_mut(index) {
                io.insert("value".to_owned(), value);
            }
        }
    }
    let mut contexts = Vec::new();
    // Join params that fill no input are contexts too, after the operation's own.
    let join_params: Vec<(String, Json)> = compiled
        .get("joins")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(|join| join.get("params").and_then(Json::as_object))
        .flat_map(|params| {
            params
                .iter()
                .map(|(name, param)| (name.clone(), param.clone()))
        })
        .filter(|(name, _)| !params.contains_key(name))
        .collect();
    let all_params = params
        .iter()
        .map(|(name, param)| (name.clone(), param.clone()))
        .chain(join_params);
    for (name, param) in all_params {
        let (name, param) = (&name, &param);
        if declared.contains(name) {
            continue;
        }
        let value = param.get("value").cloned().unwrap_or(Json::Null);
        let mut context = json!({"name": name, "value": value, "isOptional": true});
        for key in ["connection", "toInit", "toEnv"] {
            if let (Some(setting), Json::Object(context)) = (param.get(key), &mut context) {
                context.insert(key.to_owned(), setting.clone());
            }
        }
        contexts.push(context);
        specs.push(ParamSpec {
            name: name.clone(),
            io_type: None,
            value,
            is_flag: false,
            is_list: false,
            arg_format: None,
            connection: param.get("connection").cloned(),
        });
    }
    if !contexts.is_empty() {
        compiled.insert("contexts".to_owned(), Json::Array(contexts));
    }
    Ok(specs)
}

/// The namespace a run asks for must be the agent's or one it manages too.
fn check_namespace(compiled: &Map<String, Json>, run: &RunContext) -> Result<(), Failure> {
    let Some(namespace) = compiled.get("namespace").and_then(Json::as_str) else {
        return Ok(());
    };
    if namespace == run.agent.namespace
        || run
            .agent
            .additional_namespaces
            .iter()
            .any(|n| n == namespace)
    {
        return Ok(());
    }
    Err(Failure::at(
        "namespace",
        format!(
            "the namespace `{namespace}` is not managed by the agent, which runs in `{}`",
            run.agent.namespace
        ),
    ))
}

/// Polyaxon's `to_string`: numbers and structures as compact JSON, text as it is.
fn to_string(value: &Json) -> Option<String> {
    match value {
        Json::Null => None,
        Json::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    }
}

impl ParamSpec {
    fn typed_value(&self) -> Json {
        if self.io_type.as_deref() == Some("str") {
            if self.is_list {
                // An unset list of strings is an empty list.
                let items = self.value.as_array().cloned().unwrap_or_default();
                return Json::Array(
                    items
                        .iter()
                        .map(|item| to_string(item).map_or(Json::Null, Json::String))
                        .collect(),
                );
            }
            return to_string(&self.value).map_or(Json::Null, Json::String);
        }
        self.value.clone()
    }

    fn display_value(&self) -> Json {
        if self.is_flag {
            let set = !matches!(self.value, Json::Null | Json::Bool(false));
            return Json::String(if set {
                format!("--{}", self.name)
            } else {
                String::new()
            });
        }
        self.typed_value()
    }

    fn as_str(&self) -> String {
        to_string(&self.display_value()).unwrap_or_default()
    }

    fn as_arg(&self, templates: &Templates) -> Result<String, String> {
        if self.value.is_null() {
            return Ok(String::new());
        }
        if let Some(format) = &self.arg_format {
            let mut context = Map::new();
            context.insert(self.name.clone(), self.typed_value());
            let rendered = templates
                .expand(
                    &Json::String(format.clone()),
                    &Context::new(Json::Object(context)),
                    Kind::Expression,
                )
                .map_err(|error| {
                    format!("the `argFormat` of `{}`: {}", self.name, error.message)
                })?;
            return Ok(python::str_of(&rendered));
        }
        if self.is_flag {
            return Ok(self.as_str());
        }
        Ok(format!("--{}={}", self.name, self.as_str()))
    }
}

/// The params part of the template context: each param by name, and `params.<name>`.
fn params_context(specs: &[ParamSpec], templates: &Templates) -> Result<Map<String, Json>, String> {
    let mut context = Map::new();
    let mut params = Map::new();
    let mut as_args = Vec::new();
    for spec in specs {
        context.insert(spec.name.clone(), spec.display_value());
        let as_arg = spec.as_arg(templates)?;
        if !as_arg.is_empty() {
            as_args.push(Json::String(as_arg.clone()));
        }
        params.insert(
            spec.name.clone(),
            json!({
                "connection": spec.connection.clone().unwrap_or(Json::Null),
                "value": spec.typed_value(),
                "type": spec.io_type,
                "as_str": spec.as_str(),
                "as_arg": as_arg,
            }),
        );
    }
    params.insert("as_args".to_owned(), Json::Array(as_args));
    context.insert("params".to_owned(), Json::Object(params));
    Ok(context)
}

/// `globals.*` as stage one sees them: who and where the run is.
fn globals(compiled: &Map<String, Json>, run: &RunContext) -> Json {
    json!({
        "owner_name": run.owner,
        "project_name": run.project,
        "project_unique_name": run.project_unique_name(),
        "project_uuid": run.project_uuid,
        "username": null,
        "user_email": null,
        "run_info": format!("{}.runs.{}", run.project_unique_name(), run.run_uuid),
        "name": run_name(compiled, run),
        "uuid": run.run_uuid,
        "namespace": run.agent.namespace,
        "iteration": null,
        "context_path": CONTEXT_ROOT,
        "artifacts_path": format!("{CONTEXT_ROOT}/artifacts"),
        "created_at": python_datetime(&run.created_at),
        "compiled_at": python_datetime(&run.compiled_at),
        "schedule_at": null,
        "started_at": null,
        "finished_at": null,
        "duration": null,
        "cloning_kind": null,
        "original_uuid": null,
        "is_independent": true,
        "store_path": "",
        "run_relative_outputs_path": format!("{}/outputs", run.run_uuid),
    })
}

fn run_name<'a>(compiled: &'a Map<String, Json>, run: &'a RunContext) -> &'a str {
    compiled
        .get("name")
        .and_then(Json::as_str)
        .unwrap_or(&run.default_run_name)
}

/// Stage one's globals made stage two's: the run's name as stage one rendered it, and the
/// paths of its outputs, artifacts and store.
fn stage_two_globals(globals: &mut Json, compiled: &Map<String, Json>, run: &RunContext) {
    let Json::Object(globals) = globals else {
        return;
    };
    globals.insert("name".to_owned(), Json::from(run_name(compiled, run)));
    let plugins = compiled.get("plugins");
    let plugin = |key: &str| {
        plugins
            .and_then(|plugins| plugins.get(key))
            .and_then(Json::as_bool)
    };
    let store_path = run
        .agent
        .artifacts_store
        .as_ref()
        .and_then(|store| store.store_path());
    if plugin("collectArtifacts") != Some(false) {
        let artifacts = format!("{CONTEXT_ROOT}/artifacts/{}", run.run_uuid);
        globals.insert(
            "run_outputs_path".to_owned(),
            Json::from(format!("{artifacts}/outputs")),
        );
        globals.insert("run_artifacts_path".to_owned(), Json::from(artifacts));
    } else if let Some(store_path) = &store_path {
        let artifacts = format!("{store_path}/{}", run.run_uuid);
        globals.insert(
            "run_outputs_path".to_owned(),
            Json::from(format!("{artifacts}/outputs")),
        );
        globals.insert("run_artifacts_path".to_owned(), Json::from(artifacts));
    }
    if plugin("mountArtifactsStore") == Some(true)
        && let Some(store_path) = store_path
    {
        globals.insert("store_path".to_owned(), Json::from(store_path));
    }
}

/// An ISO 8601 timestamp as Python prints the datetime (`2024-01-02 03:04:05+00:00`).
fn python_datetime(iso: &str) -> String {
    yaml::parse_timestamp(iso).unwrap_or_else(|| iso.to_owned())
}

/// An input, output or context rendered in stage 1; the value of a text input stays text and
/// `argFormat` is left for its own rendering.
fn render_io(io: Json, context: &Context, templates: &Templates) -> Result<Json, TemplateError> {
    let Json::Object(mut fields) = io else {
        return Ok(io);
    };
    let arg_format = fields.remove("argFormat");
    let io_type = fields
        .get("type")
        .and_then(Json::as_str)
        .unwrap_or_default();
    let is_text = TEXT_TYPES.contains(&io_type);
    let value = fields.remove("value");
    templates.expand_fields(&mut fields, context, |_, value, templates| {
        templates.expand_in_place(value, context, Kind::Expression)
    })?;
    if let Some(mut value) = value {
        let kind = if is_text {
            Kind::Text
        } else {
            Kind::Expression
        };
        templates
            .expand_in_place(&mut value, context, kind)
            .map_err(|error| error.within(".value"))?;
        fields.insert("value".to_owned(), value);
    }
    if let Some(arg_format) = arg_format {
        fields.insert("argFormat".to_owned(), arg_format);
    }
    Ok(Json::Object(fields))
}

/// The fields of distributed runs that hold replicas (`workers` a map of them); the rest of such
/// a run, its policies and settings, Polyaxon keeps as written.
const REPLICA_FIELDS: &[&str] = &[
    "chief",
    "ps",
    "worker",
    "evaluator",
    "master",
    "launcher",
    "scheduler",
    "head",
    "workers",
];

/// Whether a run kind runs several kinds of replicas rather than one pod.
fn is_distributed(kind: &str) -> bool {
    matches!(
        kind,
        "tfjob" | "pytorchjob" | "mpijob" | "daskcluster" | "raycluster"
    )
}

/// Renders a run: all of a job or service, only the replicas of a distributed run, each with
/// the connections and init steps of its own. A Ray cluster's groups of workers are rendered
/// as Polyaxon renders them: they see the params and, under each group's name, that group's
/// globals, connections and init steps, but no `globals` of their own.
fn render_run_section(
    run_section: &mut Json,
    context: Map<String, Json>,
    run: &RunContext,
    templates: &Templates,
) -> Result<(), TemplateError> {
    let kind = run_section
        .get("kind")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned();
    let (Json::Object(fields), true) = (&mut *run_section, is_distributed(&kind)) else {
        return render_run(run_section, &Context::new(Json::Object(context)), templates);
    };
    let replica_context = |replica: &Json| {
        let mut context = context.clone();
        context.insert(
            "connections".to_owned(),
            connections_context(replica, run, false),
        );
        context.insert("init".to_owned(), connections_context(replica, run, true));
        context
    };
    for key in REPLICA_FIELDS {
        let Some(replica) = fields.get_mut(*key) else {
            continue;
        };
        let by_group = kind == "raycluster" && *key == "workers";
        let own = if by_group {
            let mut own: Map<String, Json> = context
                .iter()
                .filter(|(name, _)| !matches!(name.as_str(), "globals" | "connections" | "init"))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect();
            for (group, worker) in replica.as_object().into_iter().flatten() {
                let mut group_context = replica_context(worker);
                let mut entry = Map::new();
                for name in ["globals", "init", "connections"] {
                    entry.insert(
                        name.to_owned(),
                        group_context.remove(name).unwrap_or(Json::Null),
                    );
                }
                own.insert(group.clone(), Json::Object(entry));
            }
            own
        } else {
            replica_context(replica)
        };
        render_run(replica, &Context::new(Json::Object(own)), templates).map_err(|mut error| {
            if by_group && error.message.contains("`globals") {
                error.message.push_str(
                    "; a Ray cluster's workers see the globals under their group's name \
                     (`{{ <group>.globals.uuid }}`)",
                );
            }
            error.within(&format!(".{key}"))
        })?;
    }
    Ok(())
}

/// The run section rendered in stage 2; a container's `command` and `args` stay text.
fn render_run(
    run: &mut Json,
    context: &Context,
    templates: &Templates,
) -> Result<(), TemplateError> {
    match run {
        Json::Object(fields) => {
            templates.expand_fields(fields, context, |key, value, templates| {
                if matches!(key, "command" | "args") && value.is_array() {
                    templates.expand_in_place(value, context, Kind::ContainerText)
                } else {
                    render_run(value, context, templates)
                }
            })
        }
        Json::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                render_run(item, context, templates)
                    .map_err(|error| error.within(&format!("[{index}]")))?;
            }
            Ok(())
        }
        other => templates.expand_in_place(other, context, Kind::Expression),
    }
}
