//! Hostile texts too large to keep as golden files, made here: each is refused (or read) with
//! bounded work, with a diagnostic at the place that crosses a limit. The committed hostile
//! cases (`tests/data/myelin/hostile_*`) are the golden test's.

use std::time::{Duration, Instant};

use shared::yaml::{self, MAX_BYTES, MAX_DEPTH, MAX_NODES};

/// Generous for a debug build on a loaded machine; a release build takes a few milliseconds.
const BUDGET: Duration = Duration::from_secs(2);

/// Checks `text` as the CLI, the server and the editor do, and returns the first error's
/// message and line, with how long the whole check took.
fn first_error(text: &str) -> (String, u32, Duration) {
    let started = Instant::now();
    let checked = shared::check::check(text, &[]);
    let took = started.elapsed();
    let error = checked
        .diagnostics
        .iter()
        .find(|diagnostic| diagnostic.is_error())
        .unwrap_or_else(|| panic!("no error for a hostile text: {:?}", checked.diagnostics));
    (error.message.clone(), error.line, took)
}

fn component_with(section: &str) -> String {
    format!(
        "version: 1.1\nkind: component\n{section}\nrun:\n  kind: job\n  container:\n    image: busybox\n"
    )
}

#[test]
fn hostile_texts_are_refused_at_the_place_that_crosses_a_limit() {
    let block_nesting = {
        let mut text = String::from("x:\n");
        for depth in 1..=MAX_DEPTH + 5 {
            text.push_str(&format!("{}- \n", "  ".repeat(depth)));
        }
        text
    };
    let wide_list = format!("x: [{}]", vec!["1"; MAX_NODES + 10].join(", "));
    let long_text = format!("x: \"{}\"", "a".repeat(MAX_BYTES));
    let cases: [(&str, String, &str, u32); 3] = [
        (
            "block nesting",
            component_with(&block_nesting),
            "nested more than 100 levels deep",
            // Under the component's two lines and `x:`, the root mapping being the first level,
            // the 100th list opens the 101st.
            3 + MAX_DEPTH as u32,
        ),
        (
            "a list of more values than a document may hold",
            component_with(&wide_list),
            "brings the document to more than 50000 values",
            3,
        ),
        (
            "a text longer than a document may be",
            component_with(&long_text),
            "more than the 1048576 bytes a Polyaxonfile may have",
            3,
        ),
    ];
    for (what, text, message, line) in cases {
        let (error, at, took) = first_error(&text);
        assert!(error.contains(message), "{what}: {error}");
        assert_eq!(at, line, "{what}: {error}");
        assert!(took < BUDGET, "{what}: took {took:?}");
        eprintln!("{what}: refused in {took:?}");
    }
}

/// Keys are compared through an index: a mapping of many keys costs its size, not its square
/// (45,000 keys were 10^9 comparisons, seconds of a server's time, before).
#[test]
fn a_mapping_of_many_keys_with_duplicates_is_read_in_linear_time() {
    let keys = MAX_NODES / 2 - 10;
    let mut text = String::from("x:\n");
    for key in 0..keys {
        text.push_str(&format!("  k{key}: 1\n"));
    }
    text.push_str("  k7: 2\n");
    let started = Instant::now();
    let (root, diagnostics) = yaml::parse(&text);
    let took = started.elapsed();
    assert!(took < BUDGET, "took {took:?}");
    let x = root.unwrap().get("x").unwrap().clone();
    let yaml::Value::Map(entries) = &x.value else {
        panic!("not a mapping")
    };
    assert_eq!(entries.len(), keys);
    assert_eq!(entries.last().unwrap().0.as_str(), Some("k7"));
    assert_eq!(diagnostics.len(), 1);
    assert!(diagnostics[0].message.starts_with("duplicate key `k7`"));
}

/// The limits are far from what people write: anchors, aliases and merge keys used the normal
/// way read as before, the aliases expanded.
#[test]
fn ordinary_aliases_and_merge_keys_still_expand() {
    let text = "defaults: &defaults {image: python:3.11, env: [{name: A, value: '1'}]}\n\
                a: {<<: *defaults, command: [a]}\n\
                b:\n  <<: *defaults\n  image: python:3.12\n\
                list: [*defaults, *defaults]\n";
    let (root, diagnostics) = yaml::parse(text);
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let json = root.unwrap().to_json();
    assert_eq!(json["a"]["image"], "python:3.11");
    assert_eq!(json["a"]["env"][0]["value"], "1");
    assert_eq!(json["b"]["image"], "python:3.12");
    assert_eq!(json["list"][1]["image"], "python:3.11");
}
