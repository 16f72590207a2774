//! Plain scalars resolve as PyYAML's `safe_load` resolves them (YAML 1.1), since that is how
//! Polyaxon reads every Polyaxonfile. Each row was checked against PyYAML 6.

use serde_json::{Value, json};
use shared::yaml::{self, Value as Yaml};

/// The value of `v` in the one-line document `v: TEXT`.
fn load(text: &str) -> yaml::Node {
    let (root, diagnostics) = yaml::parse(&format!("v: {text}"));
    assert!(diagnostics.is_empty(), "{text}: {diagnostics:?}");
    root.unwrap().get("v").unwrap().clone()
}

#[test]
fn scalars_resolve_as_pyyaml_resolves_them() {
    let table: &[(&str, Value)] = &[
        ("yes", json!(true)),
        ("No", json!(false)),
        ("on", json!(true)),
        ("OFF", json!(false)),
        ("true", json!(true)),
        ("y", json!("y")),
        ("010", json!(8)),
        ("0o10", json!("0o10")),
        ("0x1F", json!(31)),
        ("0b101", json!(5)),
        ("-0b11", json!(-3)),
        ("1_000", json!(1000)),
        ("1:30", json!(90)),
        ("-1:30:00", json!(-5400)),
        ("12:30:45", json!(45045)),
        ("190:20:30.15", json!(685230.15)),
        ("1e3", json!("1e3")),
        ("1.0e-3", json!(0.001)),
        ("1.0e3", json!("1.0e3")),
        ("1.5", json!(1.5)),
        ("1.", json!(1.0)),
        ("+1.5", json!(1.5)),
        (".5", json!(0.5)),
        ("+.5", json!("+.5")),
        // Found by the fuzzer: a lone dot is text, not a float.
        (".", json!(".")),
        ("-.", json!("-.")),
        ("~", json!(null)),
        ("null", json!(null)),
        ("", json!(null)),
        ("0", json!(0)),
        ("-0", json!(0)),
        ("00", json!(0)),
        ("09", json!("09")),
        ("+12", json!(12)),
        ("abc", json!("abc")),
        ("2024-01-02", json!("2024-01-02")),
        ("2024-1-2", json!("2024-1-2")),
        ("2024-01-02T03:04:05", json!("2024-01-02 03:04:05")),
        ("2024-01-02 03:04:05.5", json!("2024-01-02 03:04:05.500000")),
        ("2024-01-02t03:04:05Z", json!("2024-01-02 03:04:05+00:00")),
        (
            "2024-01-02T03:04:05+02:00",
            json!("2024-01-02 03:04:05+02:00"),
        ),
        ("2024-1-2 3:04:05", json!("2024-01-02 03:04:05")),
        ("'yes'", json!("yes")),
        ("\"1.5\"", json!("1.5")),
        ("!!str 010", json!("010")),
        ("!!float 1", json!(1.0)),
        ("!!int '7'", json!(7)),
    ];
    let wrong: Vec<String> = table
        .iter()
        .filter_map(|(text, expected)| {
            let actual = load(text).to_json();
            (actual != *expected).then(|| format!("{text:?}: expected {expected}, got {actual}"))
        })
        .collect();
    assert!(wrong.is_empty(), "\n{}\n", wrong.join("\n"));
}

#[test]
fn infinities_and_nan_are_floats() {
    assert_eq!(load("-.inf").value, Yaml::Float(f64::NEG_INFINITY));
    assert!(matches!(load(".NaN").value, Yaml::Float(value) if value.is_nan()));
}

#[test]
fn merge_keys_fill_in_what_the_mapping_does_not_set() {
    let (root, diagnostics) = yaml::parse(
        "base: &base {image: busybox, command: [echo]}\nmain:\n  <<: *base\n  image: alpine\n",
    );
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    assert_eq!(
        root.unwrap().get("main").unwrap().to_json(),
        json!({"image": "alpine", "command": ["echo"]})
    );
}

#[test]
fn nodes_know_their_line_and_column() {
    let (root, _) = yaml::parse("kind: component\nrun:\n  container:\n    image: busybox\n");
    let image = root
        .unwrap()
        .get("run")
        .and_then(|run| run.get("container"))
        .and_then(|container| container.get("image"))
        .cloned()
        .unwrap();
    assert_eq!((image.span.start.line, image.span.start.column), (4, 12));
    assert_eq!((image.span.end.line, image.span.end.column), (4, 19));
}

#[test]
fn a_second_document_is_an_error_at_its_start() {
    let (root, diagnostics) = yaml::parse("kind: component\n---\nkind: operation\n");
    assert!(root.is_none());
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0].line, 2);
}
