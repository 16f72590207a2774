//! Expanding a resource whose distributed run kept templates in its own fields, as Polyaxon
//! keeps them: with the run (`expand_run`) they are rendered; from the resource alone (`expand`)
//! only those the native objects carry stop the expansion.

use serde_json::Value;
use shared::RunContext;

#[path = "common/oracle_run.rs"]
mod common;

fn oracle_run() -> RunContext {
    let agent = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/agent.yaml"),
    )
    .unwrap();
    common::oracle_run(&agent)
}

/// The compiled operation and Polyaxon's resource of a Polyaxonfile.
fn converted(text: &str, params: &[(&str, &str)], run: &RunContext) -> (Value, Value) {
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    let compiled = shared::compile(text, &params, run).compiled.unwrap();
    let resource = shared::convert::convert(&compiled, run).unwrap();
    (compiled, resource)
}

const RAY: &str = "
kind: component
inputs:
- {name: ray, type: str, value: '2.9.0'}
- {name: epochs, type: int, value: 1}
run:
  kind: raycluster
  entrypoint: python train.py --epochs={{ epochs }}
  rayVersion: '{{ ray }}'
  head: {container: {image: rayproject/ray}}
";

#[test]
fn a_template_the_native_objects_carry_is_rendered_with_the_runs_params() {
    let run = oracle_run();
    let (compiled, resource) = converted(RAY, &[("ray", "2.10.0")], &run);
    assert_eq!(resource["rayClusterSpec"]["rayVersion"], "{{ ray }}");
    let objects = shared::convert::native::expand_run(&resource, &compiled, &run).unwrap();
    assert_eq!(objects[0]["spec"]["rayVersion"], "2.10.0");
}

#[test]
fn without_the_run_a_template_the_native_objects_carry_is_refused() {
    let run = oracle_run();
    let (_, resource) = converted(RAY, &[], &run);
    let why = shared::convert::native::expand(&resource).unwrap_err();
    assert!(why.contains("`rayClusterSpec.rayVersion`"), "{why}");
}

#[test]
fn a_template_in_an_entrypoint_no_native_object_carries_stops_nothing() {
    let run = oracle_run();
    let text = RAY.replace("rayVersion: '{{ ray }}'", "rayVersion: '2.9.0'");
    let (compiled, resource) = converted(&text, &[], &run);
    let alone = shared::convert::native::expand(&resource).unwrap();
    let with_run = shared::convert::native::expand_run(&resource, &compiled, &run).unwrap();
    assert_eq!(alone, with_run);
}

#[test]
fn a_template_that_cannot_render_says_which_field() {
    let run = oracle_run();
    let text = RAY.replace("'{{ ray }}'", "'{{ ray.missing.deeper }}'");
    let (compiled, resource) = converted(&text, &[], &run);
    let why = shared::convert::native::expand_run(&resource, &compiled, &run).unwrap_err();
    assert!(
        why.starts_with("`rayClusterSpec.rayVersion` cannot be rendered"),
        "{why}"
    );
}

#[test]
fn a_runs_own_field_renders_as_its_replicas_do() {
    let run = oracle_run();
    let template = "{{ epochs }} {{ params.as_args }} {{ globals.name }} \
                    {{ globals.run_outputs_path }} {{ momentum }} {{ connections }}";
    let text = format!(
        "
kind: component
name: same
inputs:
- {{name: epochs, type: int, value: 1}}
- {{name: verbose, type: bool, value: true, isFlag: true}}
run:
  kind: raycluster
  rayVersion: '{template}'
  head:
    connections: [s3-data]
    container: {{image: rayproject/ray, args: ['{template}']}}
"
    );
    let (compiled, resource) = converted(&text, &[("epochs", "3"), ("momentum", "0.9")], &run);
    let replica = &compiled["run"]["head"]["container"]["args"][0];
    assert!(
        replica
            .as_str()
            .unwrap()
            .starts_with("3 ['--epochs=3', '--verbose', '--momentum=0.9'] same /plx-context"),
        "{replica}"
    );
    let objects = shared::convert::native::expand_run(&resource, &compiled, &run).unwrap();
    // The head sees its own connections; the run's own fields, as the run, none.
    let own = replica
        .as_str()
        .unwrap()
        .replace("{'s3-data': {'bucket': 's3://acme-data'}}", "{}");
    assert_eq!(objects[0]["spec"]["rayVersion"], Value::String(own));
}
