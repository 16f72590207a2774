//! Runs' specs as the SQLite store keeps them: packed against a base of their component, each
//! read back exactly, through a transfer and the deletion of the project that made the base,
//! and beside rows (specs, status conditions) an older server wrote as text.

use backend::clock;
use backend::store::{NewRun, Sqlite, Store};
use serde_json::{Value as Json, json};
use shared::api::{OperationBody, ProjectBody, Status, StatusCondition};

fn resource(uuid: &str, lr: f64) -> Json {
    let env: Vec<Json> = (0..40)
        .map(|i| json!({"name": format!("POLYAXON_SETTING_{i}"), "value": format!("value-{i}-{uuid}")}))
        .collect();
    json!({
        "apiVersion": "core.polyaxon.com/v1",
        "kind": "Operation",
        "metadata": {"name": format!("plx-operation-{uuid}"), "labels": {"app.kubernetes.io/instance": uuid}},
        "spec": {"containers": [{"name": "polyaxon-main", "image": "python:3.11", "args": [format!("--lr={lr}")], "env": env}]},
    })
}

fn new_run(uuid: &str, lr: f64) -> NewRun {
    let now = clock::now();
    NewRun {
        uuid: uuid.to_owned(),
        body: OperationBody {
            content: Some(format!(
                "kind: operation\nparams:\n  lr: {{value: {lr}}}\nhubRef: trainer\n"
            )),
            ..OperationBody::default()
        },
        name: Some("trainer".to_owned()),
        kind: "job".to_owned(),
        runtime: "job".to_owned(),
        executor: "process".to_owned(),
        inputs: None,
        compiled: Some(
            json!({"kind": "compiled_operation", "name": "trainer", "inputs": [{"name": "lr", "value": lr}]}),
        ),
        resource: Some(resource(uuid, lr)),
        conditions: vec![StatusCondition::new(Status::Created, "Test", "", now)],
        created_at: now,
        cloned_from: None,
        pipeline: None,
        cache_key: None,
        user: None,
    }
}

#[tokio::test]
async fn specs_read_back_exactly_through_transfers_deletions_and_older_rows() {
    let root = std::env::temp_dir().join(format!("myelin-store-specs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let database = root.join("myelin.db");
    let store = Sqlite::open(&database, "polyaxon", None).unwrap();
    for name in ["first", "second"] {
        let body = ProjectBody {
            name: Some(name.to_owned()),
            ..ProjectBody::default()
        };
        store.create_project("default", body, None).await.unwrap();
    }
    let uuids: Vec<String> = (0..20).map(|i| format!("{i:032x}")).collect();
    for (i, uuid) in uuids.iter().enumerate() {
        store
            .create_run("default", "first", new_run(uuid, i as f64 / 100.0))
            .await
            .unwrap();
    }
    let check = |stored: &backend::store::StoredRun, i: usize| {
        let expected = new_run(&uuids[i], i as f64 / 100.0);
        assert_eq!(stored.resource, expected.resource);
        assert_eq!(stored.compiled, expected.compiled);
        assert_eq!(stored.run.raw_content, expected.body.content);
    };
    for (i, uuid) in uuids.iter().enumerate() {
        check(&store.run_by_uuid(uuid).await.unwrap(), i);
    }

    // Runs of one component share a base: after the first, a resource takes a fraction of
    // its text.
    let connection = rusqlite::Connection::open(&database).unwrap();
    let text_length = resource(&uuids[0], 0.0).to_string().len() as i64;
    let packed: Vec<i64> = connection
        .prepare("SELECT length(resource) FROM run_specs ORDER BY run_id")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        packed[1..].iter().all(|length| *length * 8 < text_length),
        "{packed:?} against {text_length} bytes of text"
    );

    // A run moved away keeps reading after the project whose runs made its base is gone.
    store
        .transfer_run("default", "first", &uuids[3], "second")
        .await
        .unwrap();
    store.delete_project("default", "first").await.unwrap();
    check(&store.run_by_uuid(&uuids[3]).await.unwrap(), 3);

    // A row an older server wrote as text reads as it was written.
    connection
        .execute(
            "UPDATE run_specs SET content = 'kind: operation', compiled = '{\"kind\":\"old\"}', \
             resource = NULL WHERE run_id = (SELECT id FROM runs WHERE uuid = ?1)",
            [&uuids[3]],
        )
        .unwrap();
    let conditions = r#"[{"type":"created","status":"True","reason":"Old","message":"as text","last_update_time":"2024-01-02T03:04:05+00:00","last_transition_time":"2024-01-02T03:04:05+00:00"}]"#;
    connection
        .execute(
            "UPDATE runs SET conditions = ?1 WHERE uuid = ?2",
            [conditions, &uuids[3]],
        )
        .unwrap();
    let older = store.run_by_uuid(&uuids[3]).await.unwrap();
    assert_eq!(
        older.run.status_conditions[0].reason.as_deref(),
        Some("Old")
    );
    assert_eq!(older.run.raw_content.as_deref(), Some("kind: operation"));
    assert_eq!(older.compiled, Some(json!({"kind": "old"})));
    assert_eq!(older.resource, None);
    let _ = std::fs::remove_dir_all(&root);
}
