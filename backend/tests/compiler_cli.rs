//! `myelin check` and `myelin compile` as people and tools use them: code frames or JSON, and
//! exit codes 0 (valid), 1 (invalid) and 2 (usage).

use std::path::PathBuf;
use std::process::{Command, Output};

fn myelin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_myelin"))
        .args(args)
        .output()
        .expect("cannot run myelin")
}

/// Writes `text` to a file of its own and returns the path.
fn polyaxonfile(name: &str, text: &str) -> PathBuf {
    let folder = std::env::temp_dir().join(format!("myelin-check-cli-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let path = folder.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const TYPO: &str = "kind: component\nrun:\n  kind: job\n  contianer:\n    image: busybox\n";

#[test]
fn a_typo_is_shown_in_a_code_frame_with_a_suggestion_and_exits_1() {
    let file = polyaxonfile("typo.yaml", TYPO);
    let output = myelin(&["check", "-f", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("typo.yaml:4:3"), "{stderr}");
    assert!(stderr.contains("4 |   contianer:"), "{stderr}");
    assert!(stderr.contains("  |   ^^^^^^^^^"), "{stderr}");
    assert!(stderr.contains("did you mean `container`?"), "{stderr}");
}

#[test]
fn json_output_has_the_oracle_shape_plus_positioned_diagnostics() {
    let file = polyaxonfile("typo-json.yaml", TYPO);
    let output = myelin(&["check", "-f", file.to_str().unwrap(), "--json"]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["stage"], "check");
    let diagnostic = &report["diagnostics"][0];
    assert_eq!(diagnostic["path"], "run.contianer");
    assert_eq!(
        (diagnostic["line"].as_u64(), diagnostic["column"].as_u64()),
        (Some(4), Some(3))
    );
    assert_eq!(diagnostic["hints"][0], "did you mean `container`?");
}

#[test]
fn a_valid_component_is_wrapped_in_an_operation_with_its_params() {
    let file = polyaxonfile(
        "valid.yaml",
        "kind: component\ninputs:\n- {name: lr, type: float}\nrun:\n  kind: job\n  container: {image: busybox}\n",
    );
    let output = myelin(&[
        "check",
        "-f",
        file.to_str().unwrap(),
        "-P",
        "lr=0.1",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["kind"], "operation");
    assert_eq!(
        report["operation"]["params"],
        serde_json::json!({"lr": {"value": "0.1"}})
    );
    assert_eq!(
        report["operation"]["component"]["run"]["container"]["image"],
        "busybox"
    );
}

#[test]
fn usage_errors_exit_2() {
    let missing = myelin(&["check", "-f", "/no/such/file.yaml"]);
    assert_eq!(missing.status.code(), Some(2));
    let file = polyaxonfile("params.yaml", TYPO);
    let bad_param = myelin(&[
        "check",
        "-f",
        file.to_str().unwrap(),
        "-P",
        "no-equals-sign",
    ]);
    assert_eq!(bad_param.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_param.stderr).contains("expected `name=value`"));
}

#[test]
fn lint_checks_a_template_without_its_params() {
    let file = polyaxonfile(
        "template.yaml",
        "kind: component\ninputs:\n- {name: data, type: path}\nrun:\n  kind: job\n  container: {image: busybox}\n",
    );
    let path = file.to_str().unwrap();
    assert_eq!(
        myelin(&["check", "-f", path]).status.code(),
        Some(1),
        "data is required"
    );
    assert_eq!(
        myelin(&["check", "-f", path, "--lint"]).status.code(),
        Some(0)
    );
}

const AGENT: &str =
    "namespace: team-a\nconnections:\n- {name: data, kind: s3, schema: {bucket: s3://data}}\n";

#[test]
fn compile_renders_templates_with_the_run_identity_given() {
    let file = polyaxonfile(
        "compile.yaml",
        "kind: component\nname: train\ninputs:\n- {name: lr, type: float, value: 0.01}\nrun:\n  kind: job\n  container:\n    image: busybox\n    command: [echo, '{{ lr }}', '{{ globals.uuid }}', '{{ globals.namespace }}']\n",
    );
    let agent = polyaxonfile("agent.yaml", AGENT);
    let output = myelin(&[
        "compile",
        "-f",
        file.to_str().unwrap(),
        "-P",
        "lr=0.5",
        "--json",
        "--agent",
        agent.to_str().unwrap(),
        "--run-uuid",
        "0123456789abcdef0123456789abcdef",
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(
        report["compiled"]["run"]["container"]["command"],
        serde_json::json!(["echo", "0.5", "0123456789abcdef0123456789abcdef", "team-a"])
    );
    assert_eq!(report["compiled"]["inputs"][0]["value"], 0.5);
}

#[test]
fn compile_rejects_a_connection_the_agent_does_not_have() {
    let file = polyaxonfile(
        "connection.yaml",
        "kind: component\nrun:\n  kind: job\n  connections: [data, nope]\n  container: {image: busybox}\n",
    );
    let agent = polyaxonfile("agent-connections.yaml", AGENT);
    let output = myelin(&[
        "compile",
        "-f",
        file.to_str().unwrap(),
        "--json",
        "--agent",
        agent.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["stage"], "compile");
    let message = report["errors"][0].as_str().unwrap();
    assert!(
        message.contains("`nope`") && !message.contains("`data`,"),
        "{message}"
    );
}

#[test]
fn convert_native_prints_the_kubernetes_objects_that_run_the_resource() {
    let service = polyaxonfile(
        "service.yaml",
        "kind: component\nname: web\nrun:\n  kind: service\n  ports: [8888]\n  container:\n    image: python:3.11\n    command: [python, -m, http.server, '8888']\n",
    );
    let file = service.to_str().unwrap();
    let output = myelin(&["convert", "-f", file, "--native", "--json"]);
    assert_eq!(output.status.code(), Some(0));
    let objects: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let kinds: Vec<&str> = objects
        .as_array()
        .unwrap()
        .iter()
        .map(|object| object["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Deployment", "Service"]);
    assert_eq!(objects[1]["spec"]["ports"][0]["port"], 8888);
    assert_eq!(
        objects[0]["spec"]["selector"]["matchLabels"], objects[1]["spec"]["selector"],
        "the Service selects the Deployment's pods"
    );

    let documents = myelin(&["convert", "-f", file, "--native"]);
    let text = String::from_utf8(documents.stdout).unwrap();
    assert_eq!(text.matches("\n---\n").count(), 1, "{text}");

    let invalid = polyaxonfile("typo-native.yaml", TYPO);
    let rejected = myelin(&["convert", "-f", invalid.to_str().unwrap(), "--native"]);
    assert_eq!(rejected.status.code(), Some(1));
}

#[test]
fn a_hub_ref_resolves_offline_against_the_bundled_catalog_and_a_wrong_one_says_what_there_is() {
    let file = polyaxonfile(
        "hub.yaml",
        "kind: operation\nhubRef: jupyter-lab\nparams:\n  image: {value: jupyter/base-notebook}\n",
    );
    let output = myelin(&["check", "-f", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");

    let typo = polyaxonfile("hub-typo.yaml", "kind: operation\nhubRef: jupyter-lap\n");
    let output = myelin(&["check", "-f", typo.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("hub-typo.yaml:2:9"), "{stderr}");
    assert!(stderr.contains("did you mean `jupyter-lab`?"), "{stderr}");

    let tag = polyaxonfile(
        "hub-tag.yaml",
        "kind: operation\nhubRef: tensorboard:nope\n",
    );
    let output = myelin(&["check", "-f", tag.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("`tensorboard` has no version `nope`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`latest`, `single-run`, `multi-runs`, `path`")
            || ["`latest`", "`single-run`", "`multi-runs`", "`path`"]
                .iter()
                .all(|tag| stderr.contains(tag)),
        "{stderr}"
    );
}
