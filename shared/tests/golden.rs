//! Golden tests of the compiler, walked by one loop over `tests/data/cases/`.
//!
//! Each case is a Polyaxonfile (`NAME.yaml`, optional `NAME.params` with one `-P name=value` a
//! line). The cases in `cases/` come from the Polyaxon 2.18 oracle corpus with what Polyaxon
//! recorded for them (`NAME.check.json`); those in `myelin/` are ours: for what Polyaxon does not
//! do (positions, hints), and more behaviour of Polyaxon's recorded with the same oracle. Two things are checked:
//!
//! - For a recorded case, our result agrees with Polyaxon's at every stage Polyaxon reached
//!   (`NAME.check.json`, `NAME.compile.json`, `NAME.convert.json`), as the oracle's `compare.py`
//!   judges it: the same
//!   JSON when both accept the file, or both rejecting it at the same stage. The run is the
//!   oracle's: its identity below and the agent in `tests/data/agent.yaml`. The cases that do not agree
//!   yet are listed in `tests/data/known_mismatches.txt`; the test fails when a case stops
//!   agreeing, and also when a listed case starts to, so the list only ever shrinks on purpose.
//! - Our diagnostics of every stage, rendered as code frames, equal `NAME.diagnostics.txt`.
//!
//! `UPDATE_GOLDEN=1 cargo test -p shared --test golden` rewrites the expected files from the
//! current output; review the diff before committing it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use shared::{RunContext, report};

#[path = "common/oracle_run.rs"]
mod common;

/// The run the oracle recorded every case for.
fn oracle_run() -> RunContext {
    let agent = std::fs::read_to_string(data_dir().join("agent.yaml")).unwrap();
    common::oracle_run(&agent)
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn updating() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some()
}

struct Case {
    name: String,
    folder: PathBuf,
    text: String,
    params: Vec<(String, String)>,
    recorded_check: Option<Value>,
    recorded_compile: Option<Value>,
    recorded_convert: Option<Value>,
}

fn cases() -> Vec<Case> {
    ["cases", "myelin"]
        .into_iter()
        .flat_map(|folder| cases_in(&data_dir().join(folder)))
        .collect()
}

fn cases_in(folder: &Path) -> Vec<Case> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".yaml").map(str::to_owned)
        })
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let read = |extension: &str| {
                std::fs::read_to_string(folder.join(format!("{name}.{extension}")))
            };
            let params = read("params")
                .map(|text| {
                    text.lines()
                        .map(str::trim)
                        .filter(|line| !line.is_empty() && !line.starts_with('#'))
                        .map(|line| {
                            let (name, value) = line.split_once('=').expect("name=value");
                            (name.to_owned(), value.to_owned())
                        })
                        .collect()
                })
                .unwrap_or_default();
            Case {
                text: read("yaml").unwrap(),
                recorded_check: read("check.json")
                    .ok()
                    .map(|text| serde_json::from_str(&text).unwrap()),
                recorded_compile: read("compile.json")
                    .ok()
                    .map(|text| serde_json::from_str(&text).unwrap()),
                recorded_convert: read("convert.json")
                    .ok()
                    .map(|text| serde_json::from_str(&text).unwrap()),
                params,
                name,
                folder: folder.to_path_buf(),
            }
        })
        .collect()
}

/// Polyaxon names init containers `polyaxon-init-<what>-<10 random hex digits>`; like
/// compare.py, names are compared up to that suffix.
fn unrandom(value: &Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, value)| (key.clone(), unrandom(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(unrandom).collect()),
        Value::String(text) if text.starts_with("polyaxon-init-") => match text.rsplit_once('-') {
            Some((stem, suffix))
                if suffix.len() == 10
                    && suffix
                        .bytes()
                        .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte)) =>
            {
                Value::String(format!("{stem}-<random>"))
            }
            _ => value.clone(),
        },
        _ => value.clone(),
    }
}

/// How compare.py judges one stage: `None` when ours agrees with the recording, else why not.
fn disagreement(recorded: &Value, ours: &Value) -> Option<String> {
    let accepted = |report: &Value| report["ok"] == Value::Bool(true);
    match (accepted(recorded), accepted(ours)) {
        (false, false) if recorded["stage"] == ours["stage"] => None,
        (false, false) => Some(format!(
            "rejected at stage {} instead of {}",
            ours["stage"], recorded["stage"]
        )),
        (true, false) => Some(format!(
            "rejected, but Polyaxon accepts it: {}",
            ours["errors"]
        )),
        (false, true) => Some(format!(
            "accepted, but Polyaxon rejects it at stage {}",
            recorded["stage"]
        )),
        (true, true) => first_difference(recorded, ours, "$"),
    }
}

fn first_difference(expected: &Value, actual: &Value, path: &str) -> Option<String> {
    match (expected, actual) {
        (Value::Object(expected), Value::Object(actual)) => {
            for (key, expected_value) in expected {
                let child = format!("{path}.{key}");
                match actual.get(key) {
                    None => return Some(format!("{child}: missing")),
                    Some(actual_value) => {
                        if let Some(difference) =
                            first_difference(expected_value, actual_value, &child)
                        {
                            return Some(difference);
                        }
                    }
                }
            }
            actual
                .keys()
                .find(|key| !expected.contains_key(*key))
                .map(|key| format!("{path}.{key}: not expected"))
        }
        (Value::Array(expected), Value::Array(actual)) if expected.len() == actual.len() => {
            expected
                .iter()
                .zip(actual)
                .enumerate()
                .find_map(|(index, (expected, actual))| {
                    first_difference(expected, actual, &format!("{path}[{index}]"))
                })
        }
        _ if expected == actual => None,
        _ => Some(format!("{path}: expected {expected}, got {actual}")),
    }
}

fn read_known_mismatches() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(data_dir().join("known_mismatches.txt")).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (name, why) = line.split_once(' ').unwrap_or((line, ""));
            (name.to_owned(), why.trim().to_owned())
        })
        .collect()
}

fn write_known_mismatches(mismatches: &BTreeMap<String, String>) {
    let mut text = String::from(
        "# Cases where Myelin does not agree with Polyaxon 2.18 yet, with the first difference.\n\
         # Written by `UPDATE_GOLDEN=1 cargo test -p shared --test golden`; it should only shrink.\n",
    );
    for (name, why) in mismatches {
        text.push_str(&format!("{name} {why}\n"));
    }
    std::fs::write(data_dir().join("known_mismatches.txt"), text).unwrap();
}

#[test]
fn every_case_agrees_with_polyaxon_or_is_a_known_mismatch() {
    let known = read_known_mismatches();
    let mut mismatches = BTreeMap::new();
    let mut problems = Vec::new();
    let run = oracle_run();
    for case in cases() {
        let Some(recorded_check) = &case.recorded_check else {
            continue;
        };
        let compiled = shared::compile(&case.text, &case.params, &run);
        let mut why = disagreement(recorded_check, &report::check_json(&compiled.checked))
            .map(|why| format!("check: {why}"));
        if why.is_none()
            && let Some(recorded_compile) = &case.recorded_compile
        {
            why = disagreement(recorded_compile, &report::compile_json(&compiled))
                .map(|why| format!("compile: {why}"));
        }
        if why.is_none()
            && let Some(recorded_convert) = &case.recorded_convert
        {
            let converted = compiled
                .compiled
                .as_ref()
                .map(|operation| shared::convert::convert(operation, &run));
            let ours = report::convert_json(&compiled, converted.as_ref());
            why = disagreement(&unrandom(recorded_convert), &unrandom(&ours))
                .map(|why| format!("convert: {why}"));
        }
        if let Some(why) = why {
            if !known.contains_key(&case.name) {
                problems.push(format!("{}: {why}", case.name));
            }
            mismatches.insert(case.name.clone(), why);
        } else if known.contains_key(&case.name) {
            problems.push(format!(
                "{}: agrees with Polyaxon now; take it off known_mismatches.txt",
                case.name
            ));
        }
    }
    if updating() {
        write_known_mismatches(&mismatches);
        return;
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[test]
fn diagnostics_match_their_golden_code_frames() {
    let mut problems = Vec::new();
    let run = oracle_run();
    for case in cases() {
        let rendered = report::code_frames(
            &case.text,
            &format!("{}.yaml", case.name),
            &every_diagnostic(&case, &run),
        );
        let golden = case.folder.join(format!("{}.diagnostics.txt", case.name));
        if updating() {
            if rendered.is_empty() {
                let _ = std::fs::remove_file(&golden);
            } else {
                std::fs::write(&golden, &rendered).unwrap();
            }
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        if expected != rendered {
            problems.push(format!(
                "{}: diagnostics differ from {}\n--- expected\n{expected}--- got\n{rendered}",
                case.name,
                golden.display()
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

/// The native Kubernetes objects of every case that converts (or why it cannot be expanded),
/// against `NAME.native.json`.
#[test]
fn native_objects_match_their_golden_files() {
    let mut problems = Vec::new();
    let run = oracle_run();
    for case in cases() {
        let compiled = shared::compile(&case.text, &case.params, &run);
        let converted = compiled.compiled.as_ref().and_then(|operation| {
            let resource = shared::convert::convert(operation, &run).ok()?;
            Some((operation, resource))
        });
        let golden = case.folder.join(format!("{}.native.json", case.name));
        let Some((operation, resource)) = converted else {
            assert!(
                !golden.exists(),
                "{}: does not convert, yet has {}",
                case.name,
                golden.display()
            );
            continue;
        };
        // A resource that cannot be expanded records why, so a change of reason shows too.
        let native = match shared::convert::native::expand_run(&resource, operation, &run) {
            Ok(objects) => Value::Array(objects),
            Err(why) => serde_json::json!({"error": why}),
        };
        if updating() {
            let text = serde_json::to_string_pretty(&native).unwrap() + "\n";
            std::fs::write(&golden, text).unwrap();
            continue;
        }
        let expected: Value = std::fs::read_to_string(&golden)
            .map(|text| serde_json::from_str(&text).unwrap())
            .unwrap_or(Value::Null);
        if let Some(why) = disagreement(&expected, &native) {
            problems.push(format!(
                "{}: {} differs: {why}",
                case.name,
                golden.display()
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

/// The diagnostics of checking and compiling a case, in that order.
fn every_diagnostic(case: &Case, run: &RunContext) -> Vec<shared::Diagnostic> {
    let compiled = shared::compile(&case.text, &case.params, run);
    let mut diagnostics = compiled.checked.diagnostics.clone();
    diagnostics.extend(compiled.diagnostics);
    diagnostics
}

#[test]
fn every_rejection_points_at_a_line_and_column() {
    let run = oracle_run();
    for case in cases() {
        let compiled = shared::compile(&case.text, &case.params, &run);
        if compiled.compiled.is_some() {
            continue;
        }
        let diagnostics = every_diagnostic(&case, &run);
        let errors: Vec<_> = diagnostics.iter().filter(|d| d.is_error()).collect();
        assert!(
            !errors.is_empty(),
            "{}: rejected without an error",
            case.name
        );
        let line_count = case.text.lines().count().max(1) as u32;
        for error in errors {
            assert!(
                (1..=line_count).contains(&error.line) && error.column >= 1,
                "{}: {error} points outside the file",
                case.name
            );
            // An error about one node is shown at that node, not at the top of the file.
            assert!(
                error.path.is_empty()
                    || (error.line, error.column) != (1, 1)
                    || case
                        .text
                        .starts_with(error.path.split(['.', '[']).next().unwrap_or_default()),
                "{}: {error} is about `{}` but points at the start of the file",
                case.name,
                error.path
            );
        }
    }
}
