//! YAML written by `shared::yaml::emit` reads back, by Polyaxon's YAML rules, as the value it
//! was written from: every compiled operation and converted resource of the golden files, and
//! the scalars most easily misread.

use std::path::Path;

use serde_json::{Value as Json, json};

fn round_trip(value: &Json) -> Json {
    let text = shared::yaml::emit(value);
    let (node, diagnostics) = shared::yaml::parse(&text);
    assert!(diagnostics.is_empty(), "{diagnostics:?} in\n{text}");
    node.map(|node| node.to_json()).unwrap_or(Json::Null)
}

#[test]
fn emitted_yaml_reads_back_as_the_same_value() {
    let tricky = json!({
        "yes": "no", "on": ["off", "y", "null", "~", "", " lead", "trail ", "a: b", "# c", "- d"],
        "numbers": ["1", "0x1F", "010", "1:30", "1e3", "2024-01-02", ".5", "+1"],
        "floats": [0.00001, 1.5, 1e300, -2.0], "ints": [0, -7, 12345678901_i64],
        "text": "line one\nline two\ttab \"quoted\" \\ back", "unicode": "café ☕",
        "empty": {}, "none": [], "nested": [[1, [2, 3]], [], {}, {"a": [{"b": null}]}],
        "/path/like": "s3://bucket/key", "@at": "user@host", "url": "http://x.y/z?q=1&r=2",
    });
    assert_eq!(
        round_trip(&tricky),
        tricky,
        "{}",
        shared::yaml::emit(&tricky)
    );

    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut checked = 0;
    for folder in ["cases", "myelin"] {
        for entry in std::fs::read_dir(data.join(folder)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.to_string_lossy();
            if !(name.ends_with(".compile.json") || name.ends_with(".convert.json")) {
                continue;
            }
            let recorded: Json =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            assert_eq!(round_trip(&recorded), recorded, "{name}");
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} files");
}
