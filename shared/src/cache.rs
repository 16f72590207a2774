//! A run's cache key: what makes two runs the same computation, as an operation's `cache`
//! section says. Runs with the same key, the earlier one succeeded within `ttl`, need not run
//! twice: the later is recorded as cached, pointing at the earlier.
//!
//! The key hashes the run's kind, its inputs' values (only those `io` lists, when it does)
//! and the `sections` of its run (by default `init`, `connections` and `containers`: each
//! container's image, command and args), as Polyaxon's cache manager does.

use serde_json::{Map, Value as Json, json};

/// The sections a key reads when `cache.sections` does not say.
const SECTIONS: &[&str] = &["init", "connections", "containers"];

/// A compiled operation's cache policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Cache {
    /// The key: a hex SHA-1 of what the run does.
    pub key: String,
    /// How long, in seconds, a succeeded run may stand for a new one; forever when `None`.
    pub ttl: Option<u64>,
}

/// The cache policy of a compiled operation; `None` when it has no `cache` section or
/// disables it.
pub fn of(compiled: &Json) -> Option<Cache> {
    let cache = compiled.get("cache")?.as_object()?;
    if cache.get("disable").and_then(Json::as_bool) == Some(true) {
        return None;
    }
    let only: Option<Vec<&str>> = cache
        .get("io")
        .and_then(Json::as_array)
        .map(|io| io.iter().filter_map(Json::as_str).collect());
    let inputs: Map<String, Json> = ["inputs", "outputs"]
        .iter()
        .flat_map(|section| {
            compiled
                .get(*section)
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
        })
        .filter_map(|io| {
            let name = io.get("name")?.as_str()?;
            let kept = only.as_ref().is_none_or(|only| only.contains(&name));
            kept.then(|| {
                (
                    name.to_owned(),
                    io.get("value").cloned().unwrap_or(Json::Null),
                )
            })
        })
        .collect();
    let sections: Vec<&str> = cache
        .get("sections")
        .and_then(Json::as_array)
        .map(|sections| sections.iter().filter_map(Json::as_str).collect())
        .unwrap_or_else(|| SECTIONS.to_vec());
    let run = compiled.get("run").unwrap_or(&Json::Null);
    let mut state = Map::new();
    state.insert(
        "kind".to_owned(),
        run.get("kind").cloned().unwrap_or(Json::Null),
    );
    state.insert("io".to_owned(), Json::Object(inputs));
    for section in sections {
        let value = match section {
            "containers" => Json::Array(
                ["container"]
                    .iter()
                    .filter_map(|key| run.get(*key))
                    .chain(
                        run.get("sidecars")
                            .and_then(Json::as_array)
                            .into_iter()
                            .flatten(),
                    )
                    .map(|container| {
                        json!({
                            "image": container.get("image"),
                            "command": container.get("command"),
                            "args": container.get("args"),
                        })
                    })
                    .collect(),
            ),
            other => run.get(other).cloned().unwrap_or(Json::Null),
        };
        state.insert(section.to_owned(), value);
    }
    // serde_json's maps are sorted: the same state always writes the same text.
    let text = Json::Object(state).to_string();
    Some(Cache {
        key: sha1_smol::Sha1::from(text).digest().to_string(),
        ttl: cache.get("ttl").and_then(Json::as_u64),
    })
}
