//! People and their tokens, through the real binary: an admin adds two people (by the API and
//! by `myelin users`), each works with their own token and sees who made which run; a project
//! limited to its members is not there for the others; a revoked or expired token is refused
//! on the API, the log socket, exec and the service proxy.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Server, TOKEN, python_job};
use serde_json::{Value as Json, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// A request as the person holding `token`: the status and the JSON body (`null` when empty).
fn call(
    server: &Server,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Json>,
) -> (u16, Json) {
    let (status, _, bytes) = server.send_as(token, method, path, body.as_ref(), "application/json");
    let text = String::from_utf8_lossy(&bytes);
    let json = if text.trim().is_empty() {
        Json::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| Json::String(text.into_owned()))
    };
    (status, json)
}

/// A token an admin makes for `user`; its secret.
fn token_for(server: &Server, user: &str, body: Json) -> String {
    let (status, token) = call(
        server,
        Some(TOKEN),
        "POST",
        &format!("/api/v1/orgs/default/members/{user}/tokens"),
        Some(body),
    );
    assert_eq!(status, 201, "{token}");
    token["key"].as_str().unwrap().to_owned()
}

/// The status a WebSocket upgrade to `path` gets with `token`: 101 when it opens.
fn socket_status(server: &Server, path: &str, token: &str) -> u16 {
    let url = format!("{}{path}", server.url.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Authorization",
        HeaderValue::from_str(&format!("Token {token}")).unwrap(),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        match tokio_tungstenite::connect_async(request).await {
            Ok((_, response)) => response.status().as_u16(),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                response.status().as_u16()
            }
            Err(error) => panic!("{path}: {error}"),
        }
    })
}

fn submit(server: &Server, token: &str, project: &str, script: &str) -> String {
    let (status, run) = call(
        server,
        Some(token),
        "POST",
        &format!("/api/v1/default/{project}/runs"),
        Some(json!({"content": python_job("work", script)})),
    );
    assert_eq!(status, 200, "{run}");
    run["uuid"].as_str().unwrap().to_owned()
}

fn usernames(list: &Json) -> Vec<String> {
    let mut names: Vec<String> = list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["user"].as_str().unwrap_or("-").to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn people_work_with_their_own_tokens_and_limited_projects_are_theirs_alone() {
    let server = Server::start("people", &[]);

    // An admin adds Ada by the API, Bob on the command line beside the running server.
    let (status, ada) = call(
        &server,
        Some(TOKEN),
        "POST",
        "/api/v1/orgs/default/members",
        Some(json!({"username": "ada"})),
    );
    assert_eq!(status, 201, "{ada}");
    assert_eq!(ada["role"], "member");
    let cli = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_myelin"))
            .arg("users")
            .args(args)
            .arg("--data-dir")
            .arg(server.data())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    cli(&["add", "bob"]);
    let refused = Command::new(env!("CARGO_BIN_EXE_myelin"))
        .args(["users", "add", "bob", "--data-dir"])
        .arg(server.data())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("exists already"));
    let ada_token = token_for(&server, "ada", json!({"name": "laptop"}));
    let bob_token = cli(&["token", "bob", "--name", "laptop"]).trim().to_owned();
    assert!(bob_token.starts_with("myl_"), "{bob_token}");
    // Only a hash is kept: the secret is nowhere in the database file.
    let database = std::fs::read(server.data().join("myelin.db")).unwrap();
    assert!(
        !database
            .windows(bob_token.len())
            .any(|window| window == bob_token.as_bytes())
    );

    let (_, me) = call(&server, Some(&ada_token), "GET", "/api/v1/users", None);
    assert_eq!(me["username"], "ada");
    // A person cannot add people.
    let (status, _) = call(
        &server,
        Some(&ada_token),
        "POST",
        "/api/v1/orgs/default/members",
        Some(json!({"username": "eve"})),
    );
    assert_eq!(status, 403);

    // The team's project: both submit; each run says who made it.
    let (status, team) = call(
        &server,
        Some(&ada_token),
        "POST",
        "/api/v1/default/projects/create",
        Some(json!({"name": "team"})),
    );
    assert_eq!(status, 200, "{team}");
    assert_eq!(team["user"], "ada");
    submit(&server, &ada_token, "team", "print('ada')");
    submit(&server, &bob_token, "team", "print('bob')");
    let (_, runs) = call(
        &server,
        Some(&bob_token),
        "GET",
        "/api/v1/default/team/runs",
        None,
    );
    assert_eq!(usernames(&runs), ["ada", "bob"]);
    let (_, mine) = call(
        &server,
        Some(&bob_token),
        "GET",
        "/api/v1/default/team/runs?query=user:ada",
        None,
    );
    assert_eq!(usernames(&mine), ["ada"]);

    // Ada's own project, limited to her: it is not there for Bob, on any route that names it.
    let (status, secret) = call(
        &server,
        Some(&ada_token),
        "POST",
        "/api/v1/default/projects/create",
        Some(json!({"name": "secret", "members": ["ada"]})),
    );
    assert_eq!(status, 200, "{secret}");
    assert_eq!(secret["members"], json!(["ada"]));
    let hidden = submit(
        &server,
        &ada_token,
        "secret",
        "import time\nprint('hidden', flush=True)\ntime.sleep(60)",
    );
    for path in [
        "/api/v1/default/secret".to_owned(),
        "/api/v1/default/secret/runs".to_owned(),
        format!("/api/v1/default/secret/runs/{hidden}"),
        format!("/api/v1/default/secret/runs/{hidden}/statuses"),
        format!("/streams/v1/polyaxon/default/secret/runs/{hidden}/logs"),
        // Through a project Bob sees, the run is not one of its runs.
        format!("/api/v1/default/team/runs/{hidden}"),
    ] {
        let (status, body) = call(&server, Some(&bob_token), "GET", &path, None);
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (status, _) = call(
        &server,
        Some(&bob_token),
        "PATCH",
        "/api/v1/default/secret",
        Some(json!({"members": []})),
    );
    assert_eq!(status, 404, "Bob cannot open what he cannot see");
    let many: Vec<String> = (0..1_001).map(|n| format!("user{n}")).collect();
    let (status, refused) = call(
        &server,
        Some(&ada_token),
        "PATCH",
        "/api/v1/default/secret",
        Some(json!({"members": many})),
    );
    assert_eq!(status, 400, "{refused}");
    assert!(refused.to_string().contains("at most 1000"), "{refused}");
    let (status, _) = call(
        &server,
        Some(&bob_token),
        "POST",
        "/api/v1/series/summaries",
        Some(json!({"runs": [hidden], "kind": "metric"})),
    );
    assert_eq!(status, 404);
    let (_, projects) = call(
        &server,
        Some(&bob_token),
        "GET",
        "/api/v1/default/projects/list",
        None,
    );
    let names: Vec<&str> = projects["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|project| project["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["team"]);
    assert_eq!(projects["count"], 1);
    let (_, everything) = call(
        &server,
        Some(&bob_token),
        "GET",
        "/api/v1/orgs/default/runs",
        None,
    );
    assert_eq!(everything["count"], 2, "{everything}");
    assert_eq!(
        socket_status(
            &server,
            &format!("/streams/v1/polyaxon/default/secret/runs/{hidden}/logs/ws"),
            &bob_token
        ),
        404
    );
    // A component registered in it is not in Bob's hub: not listed, not runnable by reference.
    let (status, version) = call(
        &server,
        Some(&ada_token),
        "POST",
        "/api/v1/default/secret/versions/component",
        Some(json!({"name": "v1", "content": python_job("private", "print('private')")})),
    );
    assert_eq!(status, 201, "{version}");
    let by_reference = json!({"content": "kind: operation\nhubRef: default/secret:v1\n"});
    let (status, refused) = call(
        &server,
        Some(&bob_token),
        "POST",
        "/api/v1/default/team/runs",
        Some(by_reference.clone()),
    );
    assert_eq!(status, 400, "{refused}");
    let (_, hub) = call(&server, Some(&bob_token), "GET", "/api/v1/hub", None);
    assert!(!hub.to_string().contains("\"secret\""), "{hub}");
    let (status, run) = call(
        &server,
        Some(&ada_token),
        "POST",
        "/api/v1/default/team/runs",
        Some(by_reference),
    );
    assert_eq!(status, 200, "{run}");
    let (_, everything) = call(
        &server,
        Some(&bob_token),
        "GET",
        "/api/v1/orgs/default/runs",
        None,
    );
    assert_eq!(
        everything["count"], 3,
        "Ada's run by reference is in the team's project"
    );

    // Ada and the admin see it.
    let (status, _) = call(
        &server,
        Some(&ada_token),
        "GET",
        &format!("/api/v1/default/secret/runs/{hidden}"),
        None,
    );
    assert_eq!(status, 200);
    let (_, all) = call(
        &server,
        Some(TOKEN),
        "GET",
        "/api/v1/orgs/default/runs",
        None,
    );
    assert_eq!(all["count"], 4);

    // Ada's second token, made by herself, works on every door until she revokes it.
    let (status, second) = call(
        &server,
        Some(&ada_token),
        "POST",
        "/api/v1/users/tokens",
        Some(json!({"name": "ci"})),
    );
    assert_eq!(status, 201, "{second}");
    let second_key = second["key"].as_str().unwrap().to_owned();
    let (_, listed) = call(
        &server,
        Some(&ada_token),
        "GET",
        "/api/v1/users/tokens",
        None,
    );
    assert_eq!(listed["count"], 2);
    assert!(
        listed.to_string().find("myl_").is_none(),
        "secrets are never listed: {listed}"
    );
    server.wait_for(
        "secret",
        &hidden,
        |status| status == "running",
        Duration::from_secs(60),
    );
    let logs_socket = format!("/streams/v1/polyaxon/default/secret/runs/{hidden}/logs/ws");
    let exec_socket = format!(
        "/k8s/v1/polyaxon/default/secret/runs/{hidden}/k8s_exec/pod/polyaxon-main?command=true"
    );
    let proxy = format!("/services/v1/polyaxon/default/secret/runs/{hidden}/8888/");
    assert_eq!(socket_status(&server, &logs_socket, &second_key), 101);
    assert_eq!(socket_status(&server, &exec_socket, &second_key), 101);
    let (status, _, _) = server.send_as(Some(&second_key), "GET", &proxy, None, "*/*");
    assert_ne!(status, 401, "the proxy takes a live token");
    let uuid = second["uuid"].as_str().unwrap();
    let (status, revoked) = call(
        &server,
        Some(&ada_token),
        "DELETE",
        &format!("/api/v1/users/tokens/{uuid}"),
        None,
    );
    assert_eq!(status, 200, "{revoked}");
    assert!(revoked["revoked_at"].is_string());
    let (status, refusal) = call(&server, Some(&second_key), "GET", "/api/v1/users", None);
    assert_eq!(status, 401);
    assert!(refusal.to_string().contains("was revoked"), "{refusal}");
    assert_eq!(socket_status(&server, &logs_socket, &second_key), 401);
    assert_eq!(socket_status(&server, &exec_socket, &second_key), 401);
    let (status, _, _) = server.send_as(Some(&second_key), "GET", &proxy, None, "*/*");
    assert_eq!(status, 401);

    // A token past its expiry is refused the same way.
    let soon = {
        let (_, me) = call(&server, Some(&ada_token), "GET", "/api/v1/users", None);
        assert_eq!(me["username"], "ada");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        let at = now + Duration::from_secs(2);
        shared::time::Timestamp::from_micros(at.as_micros() as i64).to_string()
    };
    let brief = token_for(&server, "bob", json!({"name": "brief", "expires_at": soon}));
    let (status, _) = call(
        &server,
        Some(&brief),
        "GET",
        "/api/v1/default/team/runs",
        None,
    );
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_millis(2_500));
    let (status, refusal) = call(
        &server,
        Some(&brief),
        "GET",
        "/api/v1/default/team/runs",
        None,
    );
    assert_eq!(status, 401);
    assert!(refusal.to_string().contains("expired"), "{refusal}");
    assert_eq!(socket_status(&server, &logs_socket, &brief), 401);
    assert_eq!(socket_status(&server, &exec_socket, &brief), 401);
    let (status, _, _) = server.send_as(Some(&brief), "GET", &proxy, None, "*/*");
    assert_eq!(status, 401);
    // Without a token, a server with people answers no one.
    let (status, _) = call(&server, None, "GET", "/api/v1/default/team/runs", None);
    assert_eq!(status, 401);

    let (status, _) = call(
        &server,
        Some(TOKEN),
        "POST",
        &format!("/api/v1/default/secret/runs/{hidden}/stop"),
        None,
    );
    assert_eq!(status, 200);
}
