//! Cache keys: the same computation, the same key; anything it reads changed, another.

use serde_json::{Value as Json, json};
use shared::cache;

fn operation(lr: f64, seed: i64, command: &str) -> Json {
    json!({
        "inputs": [{"name": "lr", "type": "float", "value": lr}, {"name": "seed", "type": "int", "value": seed}],
        "cache": {"ttl": 3600, "io": ["lr"]},
        "run": {"kind": "job", "container": {"image": "python:3.11", "command": [command]}},
    })
}

#[test]
fn the_key_follows_the_listed_inputs_and_the_containers() {
    let first = cache::of(&operation(0.1, 1, "train")).unwrap();
    assert_eq!(first.ttl, Some(3600));
    assert_eq!(first.key.len(), 40);
    // `seed` is not in `io`: it does not count.
    assert_eq!(
        cache::of(&operation(0.1, 2, "train")).unwrap().key,
        first.key
    );
    assert_ne!(
        cache::of(&operation(0.2, 1, "train")).unwrap().key,
        first.key
    );
    assert_ne!(
        cache::of(&operation(0.1, 1, "eval")).unwrap().key,
        first.key
    );
    // Without `io`, every input counts.
    let mut all = operation(0.1, 1, "train");
    all["cache"] = json!({});
    let mut other_seed = operation(0.1, 2, "train");
    other_seed["cache"] = json!({});
    assert_ne!(
        cache::of(&all).unwrap().key,
        cache::of(&other_seed).unwrap().key
    );
    assert_eq!(cache::of(&all).unwrap().ttl, None);
}

#[test]
fn no_section_or_a_disabled_one_caches_nothing() {
    let mut none = operation(0.1, 1, "train");
    none.as_object_mut().unwrap().remove("cache");
    assert!(cache::of(&none).is_none());
    let mut disabled = operation(0.1, 1, "train");
    disabled["cache"]["disable"] = json!(true);
    assert!(cache::of(&disabled).is_none());
}
