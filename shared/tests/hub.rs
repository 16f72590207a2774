//! The bundled hub: every component it ships checks and compiles, and `hubRef` resolves against
//! a catalog as if the component had been written inline, with problems said where they are.

use serde_json::Value;
use shared::hub::{Catalog, DEFAULT_OWNER};
use shared::{RunContext, Severity};

#[path = "common/oracle_run.rs"]
mod common;

fn run() -> RunContext {
    let agent = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/agent.yaml"),
    )
    .unwrap();
    common::oracle_run(&agent)
}

/// A value for each input a component requires, as `-P` would give it.
fn required_params(content: &str) -> Vec<(String, String)> {
    let checked = shared::lint(content, &[]);
    let operation = checked.operation.unwrap_or_else(|| {
        panic!("{:#?}", checked.diagnostics);
    });
    let inputs = operation["component"]["inputs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    inputs
        .iter()
        .filter(|input| input["isOptional"] != Value::Bool(true))
        .map(|input| {
            let value = match input["type"].as_str().unwrap_or("str") {
                "int" => "1",
                "float" => "0.5",
                "bool" => "true",
                "dict" => "{\"a\": 1}",
                "list" => "[1]",
                "path" => "/tmp/in",
                _ => "value",
            };
            (input["name"].as_str().unwrap().to_owned(), value.to_owned())
        })
        .collect()
}

/// `content` indented under `component:` of an operation with `params`.
fn inline_operation(content: &str, params: &[(String, String)]) -> String {
    let component: String = content.lines().map(|line| format!("  {line}\n")).collect();
    format!(
        "kind: operation\n{}component:\n{component}",
        params_section(params)
    )
}

fn params_section(params: &[(String, String)]) -> String {
    if params.is_empty() {
        return String::new();
    }
    let mut section = String::from("params:\n");
    for (name, value) in params {
        section.push_str(&format!("  {name}: {{value: {value}}}\n"));
    }
    section
}

#[test]
fn every_bundled_component_checks_and_compiles() {
    let catalog = Catalog::bundled();
    let names: Vec<&str> = catalog.components.iter().map(|c| c.name.as_str()).collect();
    for expected in [
        "jupyter-lab",
        "jupyter-notebook",
        "tensorboard",
        "vscode",
        "streamlit",
        "papermill",
        "shell",
        "slack",
        "webhook",
        "discord",
        "teams",
        "bayes-tuner",
        "hyperband-tuner",
        "hyperopt-tuner",
    ] {
        assert!(
            names.contains(&expected),
            "the hub lacks `{expected}`: {names:?}"
        );
    }
    for component in &catalog.components {
        assert_eq!(component.owner, DEFAULT_OWNER);
        assert!(
            component
                .icon
                .as_deref()
                .is_some_and(|svg| svg.contains("<svg")),
            "{}",
            component.name
        );
        assert!(
            component
                .readme
                .as_deref()
                .is_some_and(|text| !text.is_empty()),
            "{}",
            component.name
        );
        for version in &component.versions {
            let label = format!("{}:{}", component.name, version.tag);
            let checked = shared::lint(&version.content, &[]);
            assert!(checked.is_valid(), "{label}: {:#?}", checked.diagnostics);
            let params = required_params(&version.content);
            let compiled = shared::compile(&version.content, &params, &run());
            assert!(
                compiled.compiled.is_some(),
                "{label} with {params:?}: {:#?} {:#?}",
                compiled.checked.diagnostics,
                compiled.diagnostics
            );
            assert_eq!(
                compiled.compiled.as_ref().unwrap()["name"],
                component.name.as_str(),
                "{label}: a component's name is its hub name"
            );
        }
    }
    let tensorboard = catalog.resolve("tensorboard").unwrap();
    let tags: Vec<&str> = tensorboard
        .component
        .versions
        .iter()
        .map(|version| version.tag.as_str())
        .collect();
    for tag in ["latest", "single-run", "multi-runs", "path"] {
        assert!(tags.contains(&tag), "{tags:?}");
    }
    assert_eq!(
        catalog
            .resolve("tensorboard:multi-run")
            .unwrap()
            .version
            .tag,
        "multi-runs"
    );
    assert_eq!(
        catalog.resolve("jupyterlab").unwrap().component.name,
        "jupyter-lab"
    );
    assert_eq!(
        catalog.resolve("notebook").unwrap().component.name,
        "jupyter-notebook"
    );
    assert_eq!(
        catalog
            .resolve("polyaxon/vscode:latest")
            .unwrap()
            .component
            .name,
        "vscode"
    );
}

#[test]
fn a_hub_ref_compiles_as_the_component_written_inline() {
    for component in &Catalog::bundled().components {
        for version in &component.versions {
            let label = format!("{}:{}", component.name, version.tag);
            let params = required_params(&version.content);
            let by_reference = format!(
                "kind: operation\nhubRef: {label}\n{}",
                params_section(&params)
            );
            let referenced = shared::compile(&by_reference, &[], &run());
            let inline = shared::compile(&inline_operation(&version.content, &params), &[], &run());
            assert!(
                referenced.compiled.is_some(),
                "{label}: {:#?} {:#?}",
                referenced.checked.diagnostics,
                referenced.diagnostics
            );
            assert_eq!(referenced.compiled, inline.compiled, "{label}");
        }
    }
}

fn errors(text: &str) -> Vec<shared::Diagnostic> {
    shared::check(text, &[])
        .diagnostics
        .into_iter()
        .filter(|diagnostic| diagnostic.severity == Severity::Error)
        .collect()
}

#[test]
fn an_unknown_component_or_tag_is_an_error_at_the_reference_that_says_what_there_is() {
    let typo = errors("kind: operation\nhubRef: jupyter-lap\n");
    assert_eq!(typo.len(), 1, "{typo:#?}");
    assert_eq!((typo[0].line, typo[0].column), (2, 9));
    assert_eq!(typo[0].path, "hubRef");
    assert_eq!(typo[0].message, "the hub has no component `jupyter-lap`");
    assert_eq!(typo[0].hints, ["did you mean `jupyter-lab`?"]);

    let tag = errors("kind: operation\nhubRef: tensorboard:nope\n");
    assert_eq!(tag.len(), 1, "{tag:#?}");
    assert_eq!(tag[0].message, "`tensorboard` has no version `nope`");
    for listed in ["`latest`", "`single-run`", "`multi-runs`", "`path`"] {
        assert!(tag[0].hints[0].contains(listed), "{:?}", tag[0].hints);
    }

    // Another owner's components are not the bundled ones.
    let owner = errors("kind: operation\nhubRef: acme/tensorboard:latest\n");
    assert_eq!(
        owner[0].message,
        "the hub has no component `acme/tensorboard`"
    );
    let malformed = errors("kind: operation\nhubRef: a:b:c\n");
    assert!(
        malformed[0].message.contains("more than one `:`"),
        "{malformed:#?}"
    );
}

/// A catalog of one component, `polyaxon/mine:latest`, written as `content`.
fn catalog_of(content: &str) -> Catalog {
    let index = "- {name: mine, title: Mine, description: a test, kind: job, versions: [latest]}\n";
    Catalog::from_files(
        DEFAULT_OWNER,
        &[("catalog.yaml", index), ("mine/latest.yaml", content)],
    )
    .unwrap()
}

#[test]
fn a_problem_inside_a_hub_component_is_shown_in_the_components_text() {
    let component =
        "kind: component\nname: mine\nrun:\n  kind: job\n  contianer: {image: busybox}\n";
    let hub = catalog_of(component);
    let operation = "kind: operation\nname: from-the-hub\nhubRef: mine\n";
    let checked = shared::check_with(operation, &[], &hub);
    let typo = checked
        .diagnostics
        .iter()
        .find(|diagnostic| diagnostic.message.contains("contianer"))
        .unwrap_or_else(|| panic!("{:#?}", checked.diagnostics));
    assert_eq!(typo.source.as_deref(), Some("polyaxon/mine:latest"));
    assert_eq!(typo.line, 5, "the line of the component's text: {typo:#?}");
    assert!(typo.path.starts_with("component.run"), "{typo:#?}");
    let frames = shared::report::code_frames(operation, "op.yaml", &checked.diagnostics);
    assert!(frames.contains("hub:polyaxon/mine:latest:5:"), "{frames}");

    // The operation's own problems stay the operation's.
    let own = shared::check_with(
        "kind: operation\nhubRef: mine\nparms: {}\n",
        &[],
        &catalog_of("kind: component\nname: mine\nrun: {kind: job, container: {image: busybox}}\n"),
    );
    let parms = own
        .diagnostics
        .iter()
        .find(|diagnostic| diagnostic.message.contains("parms"))
        .unwrap_or_else(|| panic!("{:#?}", own.diagnostics));
    assert_eq!((parms.source.as_deref(), parms.line), (None, 3));
}

#[test]
fn a_component_that_names_itself_stops_at_a_bound() {
    let looping = "kind: component\nname: mine\nrun:\n  kind: dag\n  operations:\n  - name: again\n    hubRef: mine\n";
    let hub = catalog_of(looping);
    let checked = shared::check_with("kind: operation\nhubRef: mine\n", &[], &hub);
    assert!(!checked.is_valid());
    assert!(
        checked
            .diagnostics
            .iter()
            .any(|diagnostic| diagnostic.message.contains("nest more than")),
        "{:#?}",
        checked.diagnostics
    );
}

#[test]
fn a_component_that_names_itself_many_times_is_bounded_in_what_it_brings_in() {
    let operations: String = (0..10)
        .map(|index| format!("  - {{name: op{index}, hubRef: mine}}\n"))
        .collect();
    let fanning =
        format!("kind: component\nname: mine\nrun:\n  kind: dag\n  operations:\n{operations}");
    let hub = catalog_of(&fanning);
    let started = std::time::Instant::now();
    let checked = shared::check_with("kind: operation\nhubRef: mine\n", &[], &hub);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(!checked.is_valid());
    assert!(
        checked
            .diagnostics
            .iter()
            .any(|diagnostic| diagnostic.message.contains("more hub components than")),
        "{:#?}",
        checked.diagnostics.first()
    );
}
