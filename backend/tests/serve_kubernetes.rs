//! `myelin serve --runtime kubernetes`, the real binary: it finds its cluster through
//! `KUBECONFIG` (here, a fake API server on loopback), takes the namespace from the
//! configuration's context, and runs a submitted Polyaxonfile there to success, its logs in the
//! archive and the run saying which runtime ran it; a matrix and a DAG run there too, one run
//! at a time as the server's queue allows.

mod common;
mod fake_kube;
mod role;

use std::path::PathBuf;
use std::time::Duration;

use common::{Server, is_done};
use fake_kube::FakeCluster;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_on_a_cluster_runs_a_polyaxonfile_there() {
    let root =
        std::env::temp_dir().join(format!("myelin-cluster-for-serve-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let cluster = FakeCluster::start(&root).await;
    let kubeconfig = root.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {{server: \"{}\"}}\n\
             users:\n- name: tester\n  user: {{token: not-checked}}\ncontexts:\n- name: fake\n  \
             context: {{cluster: fake, user: tester, namespace: team-a}}\ncurrent-context: fake\n",
            cluster.url
        ),
    )
    .unwrap();
    let environment = [
        ("MYELIN_RUNTIME", PathBuf::from("kubernetes")),
        ("KUBECONFIG", kubeconfig),
        // The server's queue stands in front of the cluster too.
        ("MYELIN_MAX_CONCURRENT_RUNS", PathBuf::from("1")),
    ];
    let server = tokio::task::block_in_place(|| Server::start("serve-k8s", &environment));

    let uuid = tokio::task::block_in_place(|| {
        let (status, project) = server.request(
            "POST",
            "/api/v1/default/projects/create",
            Some(&json!({"name": "on-cluster"})),
        );
        assert_eq!(status, 200, "{project}");
        let content = "kind: component\nrun:\n  kind: job\n  container:\n    image: busybox\n    \
                       command: [sh, -c, 'echo hello from $POLYAXON_K8S_NAMESPACE']\n";
        let (status, run) = server.request(
            "POST",
            "/api/v1/default/on-cluster/runs",
            Some(&json!({"content": content})),
        );
        assert_eq!(status, 200, "{run}");
        run["uuid"].as_str().unwrap().to_owned()
    });
    let status = tokio::task::block_in_place(|| {
        server.wait_for("on-cluster", &uuid, is_done, Duration::from_secs(30))
    });
    let run = tokio::task::block_in_place(|| server.run("on-cluster", &uuid));
    assert_eq!(status, "succeeded", "{run}");
    assert_eq!(run["settings"]["runtime"], "kubernetes");
    assert_eq!(run["settings"]["namespace"], "team-a");
    let logs = tokio::task::block_in_place(|| {
        server.get(&format!(
            "/streams/v1/team-a/default/on-cluster/runs/{uuid}/logs"
        ))
    });
    let lines: Vec<&str> = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|line| line["value"].as_str())
        .collect();
    assert_eq!(lines, ["hello from team-a"], "{logs}");
    // The Job itself may be gone by now: once the run's end is recorded, the cluster cleans up.
    let job = format!("/apis/batch/v1/namespaces/team-a/jobs/plx-operation-{uuid}");
    assert!(
        cluster
            .requests()
            .iter()
            .any(|request| request.method == "PATCH" && request.path == job),
        "the Job is applied in the configuration's namespace"
    );

    // Pipelines run there too: a matrix two at a time, and a DAG in order.
    let pipelines = [
        "kind: operation\nname: sweep\nmatrix:\n  kind: mapping\n  concurrency: 2\n  values: [{word: a}, {word: b}, {word: c}]\ncomponent:\n  inputs: [{name: word, type: str}]\n  run:\n    kind: job\n    container: {image: busybox, command: [sh, -c, 'echo {{ word }}']}\n",
        "kind: operation\nname: flow\ncomponent:\n  run:\n    kind: dag\n    operations:\n    - {name: first, dagRef: say}\n    - {name: second, dagRef: say, dependencies: [first]}\n    components:\n    - name: say\n      run:\n        kind: job\n        container: {image: busybox, command: [sh, -c, 'echo said']}\n",
    ];
    for (content, runs) in pipelines.into_iter().zip([3, 2]) {
        let uuid = tokio::task::block_in_place(|| {
            let (status, run) = server.request(
                "POST",
                "/api/v1/default/on-cluster/runs",
                Some(&json!({"content": content})),
            );
            assert_eq!(status, 200, "{run}");
            run["uuid"].as_str().unwrap().to_owned()
        });
        let status = tokio::task::block_in_place(|| {
            server.wait_for("on-cluster", &uuid, is_done, Duration::from_secs(60))
        });
        let children = tokio::task::block_in_place(|| {
            server.get(&format!(
                "/api/v1/default/on-cluster/runs?query=pipeline:{uuid}&limit=10"
            ))
        });
        assert_eq!(status, "succeeded", "{children}");
        let children = children["results"].as_array().unwrap();
        assert_eq!(children.len(), runs, "{children:?}");
        for child in children {
            assert_eq!(child["status"], "succeeded", "{child}");
            assert_eq!(child["settings"]["runtime"], "kubernetes");
        }
        // One at a time, whatever the matrix's concurrency: the server's limit is 1.
        let mut spans: Vec<(&str, &str)> = children
            .iter()
            .map(|child| {
                (
                    child["started_at"].as_str().unwrap(),
                    child["finished_at"].as_str().unwrap(),
                )
            })
            .collect();
        spans.sort();
        for pair in spans.windows(2) {
            assert!(pair[0].1 <= pair[1].0, "runs overlapped: {spans:?}");
        }
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&root);
}
