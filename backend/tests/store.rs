//! What every `Store` does, through the trait alone: each behaviour runs against each store
//! [`stores`] makes (SQLite, on a database of its own), as the runtime suite runs against both
//! runtimes. A store is right when it passes all of it.

use std::sync::Arc;

use backend::clock;
use backend::store::{
    Mark, NewRun, NewToken, PipelineSlot, RunFilter, RunScope, Sqlite, Store, StoreError,
    Transition, pql,
};
use serde_json::{Map, Value as Json, json};
use shared::api::{
    LineageArtifact, OperationBody, ProjectBody, Status, StatusCondition, TokenBody,
};
use shared::time::Timestamp;

/// A store on a database of its own, removed when dropped.
struct Fresh {
    name: &'static str,
    store: Arc<dyn Store>,
    folder: std::path::PathBuf,
}

impl Drop for Fresh {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// Every store, each empty: SQLite in a folder of `test`'s own.
fn stores(test: &str) -> Vec<Fresh> {
    let folder = std::env::temp_dir().join(format!("myelin-store-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).unwrap();
    let sqlite = Sqlite::open(&folder.join("myelin.db"), "polyaxon", None).unwrap();
    vec![Fresh {
        name: "sqlite",
        store: Arc::new(sqlite),
        folder,
    }]
}

async fn project(store: &dyn Store, name: &str, members: Option<Vec<&str>>) {
    let body = ProjectBody {
        name: Some(name.to_owned()),
        members: members.map(|names| names.into_iter().map(str::to_owned).collect()),
        ..ProjectBody::default()
    };
    store
        .create_project("default", body, Some("ada"))
        .await
        .unwrap();
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_micros(1_700_000_000_000_000 + seconds * 1_000_000)
}

fn run(uuid: &str, created: i64, inputs: Json) -> NewRun {
    NewRun {
        uuid: uuid.to_owned(),
        body: OperationBody {
            content: Some(
                "kind: component\nrun: {kind: job, container: {image: busybox}}\n".to_owned(),
            ),
            tags: Some(vec!["sweep".to_owned()]),
            ..OperationBody::default()
        },
        name: Some(format!("run-{created}")),
        kind: "job".to_owned(),
        runtime: "job".to_owned(),
        executor: "process".to_owned(),
        inputs: inputs.as_object().cloned(),
        compiled: Some(json!({"kind": "compiled_operation", "inputs": inputs})),
        resource: Some(json!({"kind": "Operation", "metadata": {"name": uuid}})),
        conditions: vec![StatusCondition::new(
            Status::Created,
            "Test",
            "",
            at(created),
        )],
        created_at: at(created),
        cloned_from: None,
        pipeline: None,
        cache_key: None,
        user: Some("ada".to_owned()),
    }
}

fn uuid(n: u32) -> String {
    format!("{n:032x}")
}

async fn condition(store: &dyn Store, uuid: &str, status: Status, seconds: i64) -> Transition {
    let condition = StatusCondition::new(status, "Test", "", at(seconds));
    store.add_condition(uuid, condition, false).await.unwrap()
}

fn filter(query: Option<&str>, sort: &str, limit: u32, offset: u32) -> RunFilter {
    RunFilter {
        query: query.map(|query| pql::parse(query).unwrap()),
        sort: pql::parse_sort(sort).unwrap(),
        limit,
        offset,
        ..RunFilter::default()
    }
}

fn uuids(runs: &[shared::api::Run]) -> Vec<String> {
    runs.iter().map(|run| run.uuid.clone()).collect()
}

#[tokio::test]
async fn projects_are_named_once_per_owner_renamed_limited_and_deleted_with_their_runs() {
    for fresh in stores("projects") {
        let store = fresh.store.as_ref();
        project(store, "alpha", None).await;
        let again = ProjectBody {
            name: Some("alpha".to_owned()),
            ..ProjectBody::default()
        };
        assert!(
            matches!(
                store.create_project("default", again, None).await,
                Err(StoreError::Conflict(_))
            ),
            "{}",
            fresh.name
        );
        let alpha = store.project("default", "alpha").await.unwrap();
        assert_eq!(alpha.user.as_deref(), Some("ada"));
        assert!(matches!(
            store.project("default", "nope").await,
            Err(StoreError::NotFound(_))
        ));

        store.add_user("ada", false).await.unwrap();
        store.add_user("bob", false).await.unwrap();
        project(store, "beta", None).await;
        let limited = ProjectBody {
            members: Some(vec!["ada".to_owned()]),
            ..ProjectBody::default()
        };
        store
            .update_project("default", "beta", limited)
            .await
            .unwrap();
        assert_eq!(
            store.project("default", "beta").await.unwrap().members,
            ["ada"]
        );
        let unknown = ProjectBody {
            members: Some(vec!["nobody".to_owned()]),
            ..ProjectBody::default()
        };
        assert!(matches!(
            store.update_project("default", "beta", unknown).await,
            Err(StoreError::NotFound(_))
        ));
        let names = |page: shared::api::ListResponse<shared::api::Project>| {
            page.results.into_iter().map(|p| p.name).collect::<Vec<_>>()
        };
        assert_eq!(
            names(store.projects("default", 10, 0, None).await.unwrap()),
            ["beta", "alpha"]
        );
        assert_eq!(
            names(store.projects("default", 10, 0, Some("bob")).await.unwrap()),
            ["alpha"]
        );
        assert_eq!(
            names(store.projects("default", 10, 0, Some("ada")).await.unwrap()),
            ["beta", "alpha"]
        );

        store
            .create_run("default", "beta", run(&uuid(1), 1, json!({})))
            .await
            .unwrap();
        store
            .create_run("default", "alpha", run(&uuid(2), 2, json!({})))
            .await
            .unwrap();
        let everything = |viewer: Option<&str>| {
            let filter = RunFilter {
                viewer: viewer.map(str::to_owned),
                ..filter(None, "", 10, 0)
            };
            async move {
                store
                    .runs(
                        &RunScope::Owner {
                            owner: "default".to_owned(),
                        },
                        &filter,
                    )
                    .await
                    .unwrap()
                    .count
            }
        };
        assert_eq!(everything(None).await, 2);
        assert_eq!(
            everything(Some("bob")).await,
            1,
            "the limited project's run is left out"
        );

        let renamed = ProjectBody {
            name: Some("gamma".to_owned()),
            ..ProjectBody::default()
        };
        store
            .update_project("default", "alpha", renamed)
            .await
            .unwrap();
        assert_eq!(
            store.run_uuids("default", "gamma").await.unwrap(),
            [uuid(2)]
        );
        store.delete_project("default", "gamma").await.unwrap();
        assert!(matches!(
            store.run_by_uuid(&uuid(2)).await,
            Err(StoreError::NotFound(_))
        ));
    }
}

#[tokio::test]
async fn a_run_goes_through_its_statuses_and_never_leaves_a_final_one() {
    for fresh in stores("lifecycle") {
        let store = fresh.store.as_ref();
        project(store, "work", None).await;
        let created = store
            .create_run("default", "work", run(&uuid(1), 0, json!({"lr": 0.1})))
            .await
            .unwrap();
        assert_eq!(created.status, Status::Created, "{}", fresh.name);
        assert_eq!(created.user.as_deref(), Some("ada"));
        assert!(matches!(
            store
                .create_run("default", "work", run(&uuid(1), 0, json!({})))
                .await,
            Err(StoreError::Conflict(_))
        ));
        for (status, second) in [
            (Status::Queued, 1),
            (Status::Running, 3),
            (Status::Succeeded, 13),
        ] {
            assert_eq!(
                condition(store, &uuid(1), status, second).await,
                Transition::Recorded(status)
            );
        }
        assert_eq!(
            condition(store, &uuid(1), Status::Running, 20).await,
            Transition::Refused
        );
        let stored = store.run("default", "work", &uuid(1)).await.unwrap();
        assert_eq!(stored.run.status, Status::Succeeded);
        assert_eq!(stored.run.started_at, Some(at(3)));
        assert_eq!(stored.run.finished_at, Some(at(13)));
        assert_eq!(stored.run.duration, Some(10.0));
        assert_eq!(
            stored.resource,
            Some(json!({"kind": "Operation", "metadata": {"name": uuid(1)}}))
        );
        assert_eq!(stored.run.inputs, json!({"lr": 0.1}).as_object().cloned());
        let kinds: Vec<Status> = stored
            .run
            .status_conditions
            .iter()
            .map(|c| c.kind)
            .collect();
        assert_eq!(
            kinds,
            [
                Status::Created,
                Status::Queued,
                Status::Running,
                Status::Succeeded
            ]
        );
        assert!(store.unfinished_runs().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn lists_filter_sort_page_and_count_in_every_scope() {
    for fresh in stores("lists") {
        let store = fresh.store.as_ref();
        project(store, "sweep", None).await;
        for n in 0..30u32 {
            let created = store
                .create_run(
                    "default",
                    "sweep",
                    run(&uuid(n), i64::from(n), json!({"lr": f64::from(n) / 100.0})),
                )
                .await
                .unwrap();
            if n % 3 == 0 {
                condition(store, &created.uuid, Status::Running, i64::from(n) + 1).await;
            }
        }
        let scope = RunScope::Project {
            owner: "default".to_owned(),
            project: "sweep".to_owned(),
        };
        let page = store.runs(&scope, &filter(None, "", 5, 0)).await.unwrap();
        assert_eq!(page.count, 30, "{}", fresh.name);
        assert_eq!(
            uuids(&page.results),
            (25..30).rev().map(uuid).collect::<Vec<_>>()
        );
        let second = store.runs(&scope, &filter(None, "", 5, 5)).await.unwrap();
        assert_eq!(
            uuids(&second.results),
            (20..25).rev().map(uuid).collect::<Vec<_>>()
        );

        let running = store
            .runs(
                &scope,
                &filter(Some("status:running"), "created_at", 100, 0),
            )
            .await
            .unwrap();
        assert_eq!(running.count, 10);
        assert_eq!(
            uuids(&running.results),
            (0..30).step_by(3).map(uuid).collect::<Vec<_>>()
        );
        let ranged = store
            .runs(
                &scope,
                &filter(
                    Some("inputs.lr:>0.2, status:~running"),
                    "-inputs.lr",
                    100,
                    0,
                ),
            )
            .await
            .unwrap();
        let expected: Vec<String> = (21..30).rev().filter(|n| n % 3 != 0).map(uuid).collect();
        assert_eq!(uuids(&ranged.results), expected);
        assert_eq!(ranged.count, expected.len() as u64);
        let mine = store
            .runs(&scope, &filter(Some("user:ada, tags:sweep"), "", 1, 0))
            .await
            .unwrap();
        assert_eq!(mine.count, 30);

        let places = store.run_places(&[uuid(3), "f".repeat(32)]).await.unwrap();
        assert_eq!(places.len(), 1, "a uuid that is no run is left out");
        assert_eq!(
            (places[0].project.as_str(), places[0].status),
            ("sweep", Status::Running)
        );
        let counts = store.status_counts("default", "sweep").await.unwrap();
        assert!(counts.contains(&(Status::Running, 10)), "{counts:?}");
        assert!(counts.contains(&(Status::Created, 20)), "{counts:?}");

        let archived = store
            .mark_runs("default", "sweep", &[uuid(0), uuid(1)], Mark::Archive)
            .await
            .unwrap();
        assert_eq!(archived.len(), 2);
        assert_eq!(
            store
                .runs(&scope, &filter(None, "", 1, 0))
                .await
                .unwrap()
                .count,
            28
        );
        let shelf = RunScope::Archived {
            owner: "default".to_owned(),
        };
        assert_eq!(
            store
                .runs(&shelf, &filter(None, "", 10, 0))
                .await
                .unwrap()
                .count,
            2
        );
        store
            .mark_runs("default", "sweep", &[uuid(5)], Mark::Bookmark)
            .await
            .unwrap();
        let marked = RunScope::Bookmarked {
            owner: "default".to_owned(),
        };
        assert_eq!(
            uuids(
                &store
                    .runs(&marked, &filter(None, "", 10, 0))
                    .await
                    .unwrap()
                    .results
            ),
            [uuid(5)]
        );

        project(store, "elsewhere", None).await;
        store
            .transfer_run("default", "sweep", &uuid(29), "elsewhere")
            .await
            .unwrap();
        let moved = RunScope::Project {
            owner: "default".to_owned(),
            project: "elsewhere".to_owned(),
        };
        let found = store
            .runs(&moved, &filter(Some("inputs.lr:0.29"), "", 10, 0))
            .await
            .unwrap();
        assert_eq!(
            uuids(&found.results),
            [uuid(29)],
            "its values moved with it"
        );
    }
}

#[tokio::test]
async fn a_pipeline_place_holds_one_run_ever_and_cached_runs_are_found_by_key() {
    for fresh in stores("places") {
        let store = fresh.store.as_ref();
        project(store, "grid", None).await;
        let mut pipeline = run(&uuid(100), 0, json!({}));
        pipeline.kind = "matrix".to_owned();
        pipeline.executor = backend::store::SCHEDULER_EXECUTOR.to_owned();
        store.create_run("default", "grid", pipeline).await.unwrap();
        let child = |n: u32, index: u32| {
            let mut child = run(&uuid(n), i64::from(n), json!({}));
            child.pipeline = Some(PipelineSlot {
                uuid: uuid(100),
                index,
                due_at: None,
            });
            child
        };
        for (n, index) in [(1, 1), (2, 0)] {
            store
                .create_run("default", "grid", child(n, index))
                .await
                .unwrap();
        }
        assert!(
            matches!(
                store.create_run("default", "grid", child(3, 1)).await,
                Err(StoreError::Conflict(_))
            ),
            "{}: a place is taken once",
            fresh.name
        );
        let children = store.pipeline_children(&uuid(100)).await.unwrap();
        let places: Vec<(u32, String)> =
            children.iter().map(|c| (c.index, c.uuid.clone())).collect();
        assert_eq!(places, [(0, uuid(2)), (1, uuid(1))]);
        assert_eq!(store.active_pipelines().await.unwrap(), [uuid(100)]);

        let mut cached = run(&uuid(7), 50, json!({}));
        cached.cache_key = Some("key".to_owned());
        store.create_run("default", "grid", cached).await.unwrap();
        assert!(
            store
                .cached_run("default", "grid", "key", None)
                .await
                .unwrap()
                .is_none()
        );
        condition(store, &uuid(7), Status::Running, 51).await;
        condition(store, &uuid(7), Status::Succeeded, 52).await;
        let hit = store
            .cached_run("default", "grid", "key", None)
            .await
            .unwrap();
        assert_eq!(hit.map(|run| run.uuid), Some(uuid(7)));
        let stale = store
            .cached_run("default", "grid", "key", Some(at(60)))
            .await
            .unwrap();
        assert!(
            stale.is_none(),
            "a run that succeeded before `since` is not reused"
        );
    }
}

#[tokio::test]
async fn people_tokens_and_their_revocation() {
    for fresh in stores("people") {
        let store = fresh.store.as_ref();
        assert!(!store.has_users().await.unwrap(), "{}", fresh.name);
        store.add_user("ada", true).await.unwrap();
        assert!(matches!(
            store.add_user("ada", false).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(store.has_users().await.unwrap());
        let token = NewToken {
            uuid: uuid(1),
            name: "laptop".to_owned(),
            hash: "ab".repeat(32),
            created_at: clock::now(),
            expires_at: None,
        };
        store.add_token("ada", token.clone()).await.unwrap();
        assert!(matches!(
            store.add_token("nobody", token).await,
            Err(StoreError::NotFound(_))
        ));
        let (user, found) = store
            .token_by_hash(&"ab".repeat(32))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (user.username.as_str(), user.role.as_str()),
            ("ada", "admin")
        );
        assert_eq!(found.name, "laptop");
        assert!(
            store
                .token_by_hash(&"cd".repeat(32))
                .await
                .unwrap()
                .is_none()
        );
        let first = store
            .revoke_token("ada", &uuid(1))
            .await
            .unwrap()
            .revoked_at;
        let second = store
            .revoke_token("ada", &uuid(1))
            .await
            .unwrap()
            .revoked_at;
        assert!(first.is_some() && first == second, "revoked once");
        let (_, revoked) = store
            .token_by_hash(&"ab".repeat(32))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(revoked.revoked_at, first);
        let made = backend::people::add_token(store, "ada", TokenBody::default())
            .await
            .unwrap();
        assert_eq!(store.tokens("ada").await.unwrap().len(), 2);
        assert!(
            store
                .token_by_hash(&backend::people::hash(&made.1))
                .await
                .unwrap()
                .is_some()
        );
    }
}

#[tokio::test]
async fn lineage_is_replaced_by_name_and_direction_and_forgotten() {
    for fresh in stores("lineage") {
        let store = fresh.store.as_ref();
        project(store, "data", None).await;
        store
            .create_run("default", "data", run(&uuid(1), 0, json!({})))
            .await
            .unwrap();
        let artifact = |name: &str, path: &str, input: bool| LineageArtifact {
            name: name.to_owned(),
            kind: Some("file".to_owned()),
            path: Some(path.to_owned()),
            summary: None,
            is_input: Some(input),
        };
        store
            .add_lineage(
                &uuid(1),
                vec![
                    artifact("model", "a.pt", false),
                    artifact("data", "in", true),
                ],
            )
            .await
            .unwrap();
        store
            .add_lineage(&uuid(1), vec![artifact("model", "b.pt", false)])
            .await
            .unwrap();
        let lineage = store.lineage(&uuid(1)).await.unwrap();
        let paths: Map<String, Json> = lineage
            .iter()
            .map(|a| (a.name.clone(), Json::from(a.path.clone())))
            .collect();
        assert_eq!(
            Json::Object(paths),
            json!({"model": "b.pt", "data": "in"}),
            "{}",
            fresh.name
        );
        assert!(store.delete_lineage(&uuid(1), "model").await.unwrap());
        assert!(!store.delete_lineage(&uuid(1), "model").await.unwrap());
        assert_eq!(store.lineage(&uuid(1)).await.unwrap().len(), 1);
    }
}
