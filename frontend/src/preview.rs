//! What the editor shows beside a Polyaxonfile, computed in the browser by `shared`, the
//! compiler the server runs: every problem, the inputs a form asks for, and what the file
//! becomes (the compiled operation, Polyaxon's resource, the native Kubernetes objects), or its
//! shape when it becomes several runs (a DAG's graph, a matrix's count). Pure: the run's
//! identity and the time come in as data.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use shared::{Diagnostic, RunContext};

/// What one text and its params compile to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Preview {
    /// Every problem, errors first in the order of the text, then warnings.
    pub diagnostics: Vec<Diagnostic>,
    /// The component's inputs, for the form (also when params are still missing): those its
    /// `template.fields` name, in that order, when it has them.
    pub inputs: Vec<Input>,
    /// A template's description (`template.description`), to head the form.
    pub template: Option<String>,
    /// The operation as compiled for the run.
    pub compiled: Option<Json>,
    /// The `polyaxon.com/v1` resource it converts to.
    pub resource: Option<Json>,
    /// The native objects that resource becomes.
    pub native: Option<Vec<Json>>,
    /// Why there is no resource or no native objects, when the file is valid.
    pub note: Option<String>,
    /// How many runs, and in which order, the operation makes.
    pub shape: Shape,
}

/// How an operation runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub enum Shape {
    /// Nothing valid yet.
    #[default]
    Unknown,
    /// One run of this kind (`job`, `service`, …).
    Single(String),
    /// A graph of operations.
    Dag(Vec<DagNode>),
    /// A search over params: its kind (`grid`, `random`, …) and how many runs it makes.
    Matrix {
        /// The matrix kind.
        kind: String,
        /// The number of runs, when it is known before running.
        runs: Option<u64>,
    },
    /// A schedule: runs at times or intervals.
    Schedule(String),
}

/// One operation of a DAG.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DagNode {
    /// Its name.
    pub name: String,
    /// The operations it waits for.
    pub after: Vec<String>,
}

/// An input of the component, as the form shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// Its name, the param's.
    pub name: String,
    /// Its IO type (`int`, `float`, `bool`, `str`, `dict`, …), with `[]` after it for a list
    /// (`isList`), which the form takes as JSON text.
    pub kind: String,
    /// Its default, when it has one.
    pub default: Option<Json>,
    /// Whether a run may leave it out.
    pub optional: bool,
    /// The values it may take, when it is a choice.
    pub options: Vec<Json>,
    /// The smallest value allowed (`ge`, or `gt`).
    pub min: Option<f64>,
    /// The largest value allowed (`le`, or `lt`).
    pub max: Option<f64>,
    /// What it is for.
    pub description: Option<String>,
    /// Where it is declared in the text (1-based line).
    pub line: u32,
    /// Its place among the declared inputs (`inputs[N]` in diagnostics' paths).
    pub index: usize,
}

/// Checks, compiles and converts `text` with `params` for the run `context` describes.
pub fn preview(
    text: &str,
    params: &[(String, String)],
    context: &RunContext,
    hub: &shared::hub::Catalog,
) -> Preview {
    let linted = shared::lint_with(text, &[], hub);
    // While the file has errors elsewhere, its inputs are read as written, so the form stays.
    let document = match &linted.operation {
        Some(operation) => Some(operation.clone()),
        None => shared::yaml::parse(text).0.map(|root| root.to_json()),
    };
    let (inputs, template) = document
        .as_ref()
        .map(|document| form_of(document, text))
        .unwrap_or_default();
    let compiled = shared::compile_with(text, params, context, hub);
    let mut diagnostics: Vec<Diagnostic> = compiled.problems().cloned().collect();
    diagnostics
        .sort_by_key(|diagnostic| (!diagnostic.is_error(), diagnostic.line, diagnostic.column));
    let Some(operation) = compiled.compiled else {
        return Preview {
            diagnostics,
            inputs,
            template,
            shape: linted.operation.as_ref().map_or(Shape::Unknown, shape_of),
            ..Preview::default()
        };
    };
    let shape = shape_of(&operation);
    let mut preview = Preview {
        diagnostics,
        inputs,
        template,
        shape,
        ..Preview::default()
    };
    match shared::convert::convert(&operation, context) {
        Ok(resource) => {
            match shared::convert::native::expand(&resource) {
                Ok(objects) => preview.native = Some(objects),
                Err(why) => preview.note = Some(why),
            }
            preview.resource = Some(resource);
        }
        Err(shared::convert::NotConverted::Pipeline) => {
            preview.note = Some(
                "a DAG, matrix or schedule becomes its runs when it executes; each of them \
                 converts to its own resource"
                    .to_owned(),
            );
        }
        Err(shared::convert::NotConverted::Invalid(why)) => preview.note = Some(why),
    }
    preview.compiled = Some(operation);
    preview
}

/// The component of an operation (inline, or the operation's own `run` when kind-less).
fn component(operation: &Json) -> &Json {
    operation.get("component").unwrap_or(operation)
}

/// The form a file asks for: its inputs (narrowed to `template.fields` when it is a template),
/// and the template's description.
fn form_of(document: &Json, text: &str) -> (Vec<Input>, Option<String>) {
    let inputs = inputs_of(document, text);
    let template = document
        .get("template")
        .or_else(|| component(document).get("template"))
        .filter(|template| template.get("enabled") != Some(&Json::Bool(false)));
    let Some(template) = template else {
        return (inputs, None);
    };
    let description = template
        .get("description")
        .and_then(Json::as_str)
        .map(str::to_owned);
    let fields: Vec<&str> = template
        .get("fields")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(Json::as_str)
        .collect();
    if fields.is_empty() {
        return (inputs, description);
    }
    let chosen = fields
        .iter()
        .filter_map(|field| {
            let name = field.strip_prefix("inputs.").unwrap_or(field);
            inputs.iter().find(|input| input.name == name).cloned()
        })
        .collect();
    (chosen, description)
}

fn inputs_of(operation: &Json, text: &str) -> Vec<Input> {
    let declared = component(operation)
        .get("inputs")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    declared
        .iter()
        .enumerate()
        .filter_map(|(index, input)| {
            let name = input.get("name")?.as_str()?.to_owned();
            let validation = input.get("validation");
            let bound =
                |keys: [&str; 2]| keys.iter().find_map(|key| validation?.get(*key)?.as_f64());
            Some(Input {
                index,
                line: line_of(text, &name),
                kind: {
                    let kind = input.get("type").and_then(Json::as_str).unwrap_or("any");
                    if input.get("isList").and_then(Json::as_bool) == Some(true) {
                        format!("{kind}[]")
                    } else {
                        kind.to_owned()
                    }
                },
                default: input.get("value").filter(|value| !value.is_null()).cloned(),
                optional: input.get("isOptional").and_then(Json::as_bool) == Some(true),
                options: validation
                    .and_then(|validation| validation.get("options"))
                    .and_then(Json::as_array)
                    .cloned()
                    .unwrap_or_default(),
                min: bound(["ge", "gt"]),
                max: bound(["le", "lt"]),
                description: input
                    .get("description")
                    .and_then(Json::as_str)
                    .map(str::to_owned),
                name,
            })
        })
        .collect()
}

/// The line that declares input `name` (`name: NAME`), or 0.
fn line_of(text: &str, name: &str) -> u32 {
    text.lines()
        .position(|line| {
            line.split_once("name:").is_some_and(|(_, rest)| {
                rest.trim_start()
                    .trim_start_matches(['"', '\''])
                    .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
                    .next()
                    == Some(name)
            })
        })
        .map_or(0, |index| u32::try_from(index + 1).unwrap_or(0))
}

fn shape_of(operation: &Json) -> Shape {
    if let Some(matrix) = operation.get("matrix") {
        return Shape::Matrix {
            kind: matrix
                .get("kind")
                .and_then(Json::as_str)
                .unwrap_or("matrix")
                .to_owned(),
            runs: matrix_runs(matrix),
        };
    }
    if let Some(schedule) = operation.get("schedule") {
        let kind = schedule
            .get("kind")
            .and_then(Json::as_str)
            .unwrap_or("schedule");
        return Shape::Schedule(kind.to_owned());
    }
    let run = component(operation)
        .get("run")
        .or_else(|| operation.get("run"));
    let kind = run
        .and_then(|run| run.get("kind"))
        .and_then(Json::as_str)
        .unwrap_or_default();
    if kind == "dag" {
        return Shape::Dag(dag_nodes(run.unwrap_or(&Json::Null)));
    }
    if kind.is_empty() {
        Shape::Unknown
    } else {
        Shape::Single(kind.to_owned())
    }
}

/// A DAG's operations with what each waits for: its `dependencies`, and the operations its
/// params read from (`{{ ops.NAME.… }}`).
pub fn dag_nodes(run: &Json) -> Vec<DagNode> {
    let operations = run
        .get("operations")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    let names: Vec<String> = operations
        .iter()
        .filter_map(|op| op.get("name")?.as_str().map(str::to_owned))
        .collect();
    operations
        .iter()
        .filter_map(|op| {
            let name = op.get("name")?.as_str()?.to_owned();
            let mut after: Vec<String> = op
                .get("dependencies")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
                .filter_map(|dependency| dependency.as_str().map(str::to_owned))
                .collect();
            let params = op.get("params").map(Json::to_string).unwrap_or_default();
            for other in &names {
                if *other != name
                    && !after.contains(other)
                    && params.contains(&format!("ops.{other}."))
                {
                    after.push(other.clone());
                }
            }
            Some(DagNode { name, after })
        })
        .collect()
}

/// How many runs a matrix makes, when its definition says.
fn matrix_runs(matrix: &Json) -> Option<u64> {
    let kind = matrix.get("kind").and_then(Json::as_str)?;
    let number = |key: &str| matrix.get(key).and_then(Json::as_u64);
    match kind {
        "grid" => {
            let params = matrix.get("params")?.as_object()?;
            let counts: Option<Vec<u64>> = params.values().map(values_count).collect();
            let total = counts?.into_iter().product::<u64>();
            Some(number("numRuns").map_or(total, |limit| limit.min(total)))
        }
        "mapping" => Some(matrix.get("values")?.as_array()?.len() as u64),
        "random" => number("numRuns"),
        "bayes" | "tpe" => Some(shared::guided::budget(matrix)?.ok()?.total as u64),
        "hyperband" => shared::hyperband::Hyperband::read(matrix)
            .ok()
            .map(|search| search.rungs().iter().map(|rung| rung.runs as u64).sum()),
        "iterative" => number("maxIterations"),
        _ => None,
    }
}

/// How many values a grid param takes.
fn values_count(param: &Json) -> Option<u64> {
    let value = param.get("value")?;
    match param.get("kind").and_then(Json::as_str)? {
        "choice" => Some(value.as_array()?.len() as u64),
        "range" => {
            let (start, stop, step) = triple(value)?;
            (step > 0.0).then(|| ((stop - start) / step).ceil().max(0.0) as u64)
        }
        "linspace" | "logspace" | "geomspace" => {
            let num = match value {
                Json::Object(fields) => fields.get("num")?.as_f64()?,
                _ => triple(value)?.2,
            };
            Some(num as u64)
        }
        _ => None,
    }
}

/// `[start, stop, step]` or `{start, stop, step|num}`.
fn triple(value: &Json) -> Option<(f64, f64, f64)> {
    match value {
        Json::Array(items) if items.len() == 3 => {
            Some((items[0].as_f64()?, items[1].as_f64()?, items[2].as_f64()?))
        }
        Json::Object(fields) => Some((
            fields.get("start")?.as_f64()?,
            fields.get("stop")?.as_f64()?,
            fields.get("step").or_else(|| fields.get("num"))?.as_f64()?,
        )),
        Json::String(text) => {
            let parts: Vec<f64> = text
                .split(':')
                .filter_map(|part| part.trim().parse().ok())
                .collect();
            (parts.len() == 3).then(|| (parts[0], parts[1], parts[2]))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> RunContext {
        RunContext {
            owner: "default".to_owned(),
            project: "demo".to_owned(),
            project_uuid: "0".repeat(32),
            run_uuid: "1".repeat(32),
            default_run_name: "run".to_owned(),
            api_host: "http://127.0.0.1:8000".to_owned(),
            created_at: "2026-01-02T03:04:05Z".to_owned(),
            compiled_at: "2026-01-02T03:04:05Z".to_owned(),
            agent: shared::Agent {
                namespace: "polyaxon".to_owned(),
                ..shared::Agent::default()
            },
        }
    }

    const TRAIN: &str = "kind: component\nname: train\ninputs:\n- {name: lr, type: float, value: 0.01, isOptional: true, validation: {ge: 0, le: 1}}\n- name: optimizer\n  type: str\n  value: adam\n  isOptional: true\n  validation: {options: [adam, sgd]}\n- {name: epochs, type: int}\nrun:\n  kind: job\n  container:\n    image: python:3.11\n    command: [python3, -c, 'print({{ epochs }})']\n";

    #[test]
    fn inputs_are_known_before_their_params_are_given() {
        let preview = preview(TRAIN, &[], &context(), shared::hub::Catalog::bundled());
        let names: Vec<&str> = preview
            .inputs
            .iter()
            .map(|input| input.name.as_str())
            .collect();
        assert_eq!(names, ["lr", "optimizer", "epochs"]);
        let lr = &preview.inputs[0];
        assert_eq!((lr.min, lr.max, lr.optional), (Some(0.0), Some(1.0), true));
        assert_eq!(lr.line, 4);
        assert_eq!(
            preview.inputs[1].options,
            [Json::from("adam"), Json::from("sgd")]
        );
        assert_eq!(preview.inputs[1].line, 5);
        assert!(!preview.inputs[2].optional);
        assert!(
            preview
                .diagnostics
                .iter()
                .any(|d| d.message.contains("`epochs` is required"))
        );
        assert!(preview.native.is_none());
    }

    #[test]
    fn a_template_s_fields_narrow_the_form() {
        let text = "kind: component\ntemplate:\n  description: Pick a rate.\n  fields: [inputs.lr]\ninputs:\n- {name: epochs, type: int, value: 1, isOptional: true}\n- {name: lr, type: float, value: 0.1, isOptional: true}\nrun: {kind: job, container: {image: busybox}}\n";
        let preview = preview(text, &[], &context(), shared::hub::Catalog::bundled());
        let names: Vec<&str> = preview
            .inputs
            .iter()
            .map(|input| input.name.as_str())
            .collect();
        assert_eq!(names, ["lr"]);
        assert_eq!(preview.template.as_deref(), Some("Pick a rate."));
    }

    #[test]
    fn a_valid_job_shows_its_resource_and_native_job() {
        let params = [("epochs".to_owned(), "3".to_owned())];
        let preview = preview(TRAIN, &params, &context(), shared::hub::Catalog::bundled());
        assert!(
            preview.diagnostics.iter().all(|d| !d.is_error()),
            "{:?}",
            preview.diagnostics
        );
        assert_eq!(preview.shape, Shape::Single("job".to_owned()));
        assert_eq!(preview.resource.as_ref().unwrap()["kind"], "Job");
        let native = preview.native.unwrap();
        assert_eq!(native[0]["kind"], "Job");
        let container = &native[0]["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["name"], "polyaxon-main");
        assert_eq!(container["command"][2], "print(3)");
    }

    #[test]
    fn a_typo_is_a_diagnostic_with_a_hint() {
        let text = "kind: component\ninputs: [{name: lr, type: float}]\nrun:\n  kind: job\n  contianer:\n    image: busybox\n";
        let preview = preview(text, &[], &context(), shared::hub::Catalog::bundled());
        assert_eq!(
            preview.inputs.len(),
            1,
            "the form stays while the file has errors"
        );
        let typo = preview
            .diagnostics
            .iter()
            .find(|d| {
                d.hints
                    .iter()
                    .any(|hint| hint.contains("did you mean `container`"))
            })
            .expect("a hint");
        assert_eq!((typo.line, typo.column), (5, 3));
    }

    #[test]
    fn a_dag_shows_its_graph_and_a_grid_its_run_count() {
        let dag = "kind: component\nrun:\n  kind: dag\n  operations:\n  - name: prepare\n    component: {run: {kind: job, container: {image: busybox}}}\n  - name: train\n    dependencies: [prepare]\n    component: {run: {kind: job, container: {image: busybox}}}\n  - name: report\n    dependencies: [train]\n    component: {run: {kind: job, container: {image: busybox}}}\n";
        let preview = preview(dag, &[], &context(), shared::hub::Catalog::bundled());
        let Shape::Dag(nodes) = &preview.shape else {
            panic!("{:?}", preview.shape);
        };
        assert_eq!(nodes.len(), 3);
        assert_eq!(nodes[2].after, ["train"]);
        assert!(preview.note.is_some() && preview.resource.is_none());

        let grid = "kind: operation\nmatrix:\n  kind: grid\n  params:\n    lr: {kind: choice, value: [0.1, 0.01, 0.001]}\n    layers: {kind: range, value: [1, 5, 1]}\ncomponent:\n  inputs: [{name: lr, type: float}, {name: layers, type: int}]\n  run: {kind: job, container: {image: busybox}}\n";
        let matrix = super::preview(grid, &[], &context(), shared::hub::Catalog::bundled());
        assert_eq!(
            matrix.shape,
            Shape::Matrix {
                kind: "grid".to_owned(),
                runs: Some(12)
            },
            "{:?}",
            matrix.diagnostics
        );
    }

    #[test]
    fn a_users_own_component_resolves_in_the_preview_when_the_server_lists_it() {
        let text = "kind: operation\nhubRef: default/sleeper:v1\n";
        let alone = preview(text, &[], &context(), shared::hub::Catalog::bundled());
        assert!(
            alone
                .diagnostics
                .iter()
                .any(|d| d.message.contains("default/sleeper")),
            "{:?}",
            alone.diagnostics
        );
        let registered = shared::hub::HubComponent {
            owner: "default".to_owned(),
            name: "sleeper".to_owned(),
            title: "sleeper".to_owned(),
            description: String::new(),
            kind: "job".to_owned(),
            aliases: Vec::new(),
            tags: Vec::new(),
            icon: None,
            readme: None,
            versions: vec![shared::hub::HubVersion {
                tag: "v1".to_owned(),
                content: "kind: component\ninputs: [{name: seconds, type: int, value: 1}]\nrun: {kind: job, container: {image: busybox, command: [sleep]}}\n".to_owned(),
            }],
            tag_aliases: Default::default(),
        };
        let hub = shared::hub::Catalog::bundled().with(vec![registered]);
        let with_it = preview(text, &[], &context(), &hub);
        assert!(with_it.diagnostics.is_empty(), "{:?}", with_it.diagnostics);
        assert_eq!(
            with_it.inputs.len(),
            1,
            "the form has the component's input"
        );
    }

    #[test]
    fn a_list_input_shows_as_a_list_of_its_type() {
        let text = "kind: component\ninputs:\n- {name: uuids, type: str, isList: true, isOptional: true}\nrun: {kind: job, container: {image: busybox}}\n";
        let preview = preview(text, &[], &context(), shared::hub::Catalog::bundled());
        assert_eq!(preview.inputs[0].kind, "str[]");
    }
}
