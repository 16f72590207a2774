//! Polyaxon's REST API as Myelin serves it, through `backend::app` without a socket: projects,
//! runs, PQL lists, statuses, lineage, logs with their cursor, errors (internal ones telling
//! nothing internal), and the token.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use serde_json::{Value as Json, json};
use tower::ServiceExt as _;

/// A server over its own data folder, removed when dropped.
struct Api {
    root: std::path::PathBuf,
    state: backend::AppState,
    token: Option<&'static str>,
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

impl Api {
    async fn new(name: &str, token: Option<&'static str>) -> Self {
        let root = std::env::temp_dir().join(format!("myelin-api-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let mut config = backend::Config::local(root.join("data"), root.join("dist"));
        config.token = token.map(str::to_owned);
        let state = backend::AppState::open(config, "http://127.0.0.1:9")
            .await
            .unwrap();
        Self { root, state, token }
    }

    async fn send(&self, method: &str, path: &str, body: Option<Json>) -> (StatusCode, Json) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = self.token {
            request = request.header(header::AUTHORIZATION, format!("Token {token}"));
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        self.respond(request).await
    }

    async fn respond(&self, request: Request<Body>) -> (StatusCode, Json) {
        let response = backend::app(self.state.clone())
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json = if bytes.is_empty() {
            Json::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(&bytes)))
        };
        (status, json)
    }

    /// A request whose answer is not JSON (a service's page): its status and text.
    async fn text(&self, method: &str, path: &str) -> (StatusCode, String) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = self.token {
            request = request.header(header::AUTHORIZATION, format!("Token {token}"));
        }
        let response = backend::app(self.state.clone())
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn ok(&self, method: &str, path: &str, body: Option<Json>) -> Json {
        let (status, json) = self.send(method, path, body).await;
        assert_eq!(status, StatusCode::OK, "{method} {path}: {json}");
        json
    }

    async fn project(&self, name: &str) {
        self.ok(
            "POST",
            "/api/v1/default/projects/create",
            Some(json!({"name": name})),
        )
        .await;
    }

    /// Submits a Polyaxonfile to `project`; the new run's uuid.
    async fn submit(&self, project: &str, content: &str) -> String {
        let run = self
            .ok(
                "POST",
                &format!("/api/v1/default/{project}/runs"),
                Some(json!({"content": content})),
            )
            .await;
        run["uuid"].as_str().unwrap().to_owned()
    }

    /// A run its client executes and reports (as the tracking client's standalone runs).
    async fn client_run(&self, project: &str, name: &str, tags: &[&str]) -> String {
        let run = self
            .ok(
                "POST",
                &format!("/api/v1/default/{project}/runs"),
                Some(
                    json!({"is_managed": false, "managed_by": "user", "name": name, "tags": tags}),
                ),
            )
            .await;
        run["uuid"].as_str().unwrap().to_owned()
    }

    async fn wait_until_done(&self, project: &str, uuid: &str) -> Json {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let run = self
                .ok(
                    "GET",
                    &format!("/api/v1/default/{project}/runs/{uuid}"),
                    None,
                )
                .await;
            let status = run["status"].as_str().unwrap();
            if ["succeeded", "failed", "stopped"].contains(&status) {
                return run;
            }
            assert!(Instant::now() < deadline, "run {uuid} is still {status}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn uuids(list: &Json) -> Vec<String> {
    list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["uuid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_typo_in_a_submitted_polyaxonfile_is_a_400_with_its_line_column_and_hint() {
    let api = Api::new("typo", None).await;
    api.project("demo").await;
    let content = "kind: component\nrun:\n  kind: job\n  contianer:\n    image: python:3.11\n";
    let (status, body) = api
        .send(
            "POST",
            "/api/v1/default/demo/runs",
            Some(json!({"content": content})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let diagnostic = body["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|diagnostic| diagnostic["path"] == "run.contianer")
        .unwrap_or_else(|| panic!("no diagnostic for the typo: {body}"));
    assert_eq!(diagnostic["line"], 4);
    assert_eq!(diagnostic["column"], 3);
    assert_eq!(diagnostic["severity"], "error");
    assert!(
        diagnostic["hints"]
            .as_array()
            .unwrap()
            .contains(&json!("did you mean `container`?")),
        "{diagnostic}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("line 4, column 3"),
        "{body}"
    );
    let list = api.ok("GET", "/api/v1/default/demo/runs", None).await;
    assert_eq!(list["count"], 0, "a rejected operation leaves no run");
}

#[tokio::test]
async fn what_the_process_runtime_cannot_run_is_refused_with_why() {
    let api = Api::new("refused", None).await;
    api.project("demo").await;
    let tfjob = "kind: component\nrun:\n  kind: tfjob\n  chief:\n    replicas: 1\n    container:\n      image: tensorflow/tensorflow\n      command: [python, train.py]\n";
    let (status, body) = api
        .send(
            "POST",
            "/api/v1/default/demo/runs",
            Some(json!({"content": tfjob})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Kubernetes runtime"),
        "{body}"
    );
    let (status, body) = api
        .send(
            "POST",
            "/api/v1/default/demo/runs",
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a managed run needs content: {body}"
    );
    let (status, _) = api
        .send(
            "POST",
            "/api/v1/default/nowhere/runs",
            Some(json!({"content": tfjob})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_token_is_required_when_the_server_has_one() {
    let api = Api::new("token", Some("s3cret")).await;
    let ask = |authorization: Option<&'static str>| {
        let mut request = Request::get("/api/v1/default/projects/list");
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        request.body(Body::empty()).unwrap()
    };
    let (status, body) = api.respond(ask(None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("POLYAXON_AUTH_TOKEN")
    );
    assert_eq!(
        api.respond(ask(Some("Token wrong"))).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.respond(ask(Some("Token s3cret"))).await.0,
        StatusCode::OK
    );
    assert_eq!(
        api.respond(ask(Some("Bearer s3cret"))).await.0,
        StatusCode::OK
    );
    let logs =
        Request::get("/streams/v1/polyaxon/default/p/runs/0123456789abcdef0123456789abcdef/logs")
            .body(Body::empty())
            .unwrap();
    assert_eq!(api.respond(logs).await.0, StatusCode::UNAUTHORIZED);
    let health = Request::get("/api/v1/health").body(Body::empty()).unwrap();
    assert_eq!(
        api.respond(health).await.0,
        StatusCode::OK,
        "health stays open"
    );
    let installation = api.ok("GET", "/api/v1/installation", None).await;
    assert_eq!(installation["dist"], "ce");
    assert_eq!(installation["auth"], true);
}

#[tokio::test]
async fn the_web_app_signs_in_once_and_carries_the_token_in_a_strict_cookie() {
    let api = Api::new("session", Some("s3cret")).await;
    let sign_in = |token: &str| {
        Request::post("/api/v1/session")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({ "token": token }).to_string()))
            .unwrap()
    };
    let wrong = backend::app(api.state.clone())
        .oneshot(sign_in("wrong"))
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get(header::SET_COOKIE).is_none());

    let signed = backend::app(api.state.clone())
        .oneshot(sign_in("s3cret"))
        .await
        .unwrap();
    assert_eq!(signed.status(), StatusCode::NO_CONTENT);
    let cookie = signed.headers()[header::SET_COOKIE].to_str().unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(
        !cookie.contains("s3cret"),
        "the cookie keeps the token out of plain sight"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();

    let with_cookie = |value: &str| {
        Request::get("/api/v1/default/projects/list")
            .header(header::COOKIE, format!("theme=dark; {value}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(api.respond(with_cookie(&pair)).await.0, StatusCode::OK);
    let events = Request::get("/streams/v1/polyaxon/default/p/runs/events")
        .header(header::COOKIE, pair.clone())
        .body(Body::empty())
        .unwrap();
    assert_ne!(api.respond(events).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        api.respond(with_cookie("myelin_token=77726f6e67")).await.0,
        StatusCode::UNAUTHORIZED,
        "a cookie with another token is refused"
    );

    let signed_out = backend::app(api.state.clone())
        .oneshot(
            Request::delete("/api/v1/session")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let cleared = signed_out.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
}

#[tokio::test]
async fn projects_are_created_read_listed_changed_and_deleted() {
    let api = Api::new("projects", None).await;
    for name in ["alpha", "beta", "gamma"] {
        api.project(name).await;
    }
    let (status, body) = api
        .send(
            "POST",
            "/api/v1/default/projects/create",
            Some(json!({"name": "alpha"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = api
        .send(
            "POST",
            "/api/v1/default/projects/create",
            Some(json!({"name": "no spaces"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = api
        .send(
            "POST",
            "/api/v1/default/projects/create",
            Some(json!({"name": 7})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let page = api
        .ok("GET", "/api/v1/default/projects/list?limit=2", None)
        .await;
    assert_eq!(page["count"], 3);
    let names: Vec<&str> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["gamma", "beta"], "newest first");
    assert_eq!(
        page["next"],
        "/api/v1/default/projects/list?limit=2&offset=2"
    );
    assert_eq!(page["previous"], Json::Null);

    let changed = api
        .ok(
            "PATCH",
            "/api/v1/default/alpha",
            Some(json!({"description": "the first", "tags": ["x"]})),
        )
        .await;
    assert_eq!(changed["description"], "the first");
    assert_eq!(
        api.ok("GET", "/api/v1/default/alpha", None).await["tags"],
        json!(["x"])
    );
    let (status, _) = api.send("DELETE", "/api/v1/default/alpha", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = api.send("GET", "/api/v1/default/alpha", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "no project `alpha` for owner `default`");
}

#[tokio::test]
async fn runs_are_listed_with_pql_and_sort_and_bad_queries_say_where() {
    let api = Api::new("pql", None).await;
    api.project("demo").await;
    let a = api.client_run("demo", "alpha", &["nlp", "big"]).await;
    let b = api.client_run("demo", "beta", &["cv"]).await;
    let c = api.client_run("demo", "gamma", &["nlp"]).await;
    for (uuid, loss) in [(&a, 0.5), (&b, 0.1), (&c, 0.3)] {
        api.ok(
            "PATCH",
            &format!("/api/v1/default/demo/runs/{uuid}"),
            Some(json!({"outputs": {"loss": loss}, "merge": true})),
        )
        .await;
    }
    let list = |query: &'static str| {
        let api = &api;
        async move {
            api.ok("GET", &format!("/api/v1/default/demo/runs?{query}"), None)
                .await
        }
    };
    assert_eq!(uuids(&list("").await), [c.as_str(), b.as_str(), a.as_str()]);
    assert_eq!(
        uuids(&list("query=tags:nlp").await),
        [c.as_str(), a.as_str()]
    );
    assert_eq!(
        uuids(&list("query=tags:nlp,name:alpha").await),
        [a.as_str()]
    );
    assert_eq!(
        uuids(&list("query=outputs.loss:%3C0.4&sort=outputs.loss").await),
        [b.as_str(), c.as_str()]
    );
    assert_eq!(
        uuids(&list("sort=name&limit=2&offset=1").await),
        [b.as_str(), c.as_str()]
    );
    // Sorted by an output: by value, runs without it last, pages across that boundary.
    let d = api.client_run("demo", "delta", &["nlp"]).await;
    let by_loss = [b.as_str(), c.as_str(), a.as_str(), d.as_str()];
    assert_eq!(uuids(&list("sort=outputs.loss").await), by_loss);
    assert_eq!(
        uuids(&list("sort=-outputs.loss").await),
        [a.as_str(), c.as_str(), b.as_str(), d.as_str()]
    );
    assert_eq!(
        uuids(&list("sort=outputs.loss&limit=2&offset=2").await),
        &by_loss[2..]
    );
    assert_eq!(
        uuids(&list("sort=outputs.loss&limit=2&offset=3").await),
        &by_loss[3..]
    );
    assert_eq!(
        uuids(&list("query=tags:nlp&sort=outputs.loss").await),
        [c.as_str(), a.as_str(), d.as_str()]
    );
    let page = list("sort=name&limit=1").await;
    assert_eq!(page["count"], 4);
    assert_eq!(
        page["next"],
        "/api/v1/default/demo/runs?limit=1&offset=1&sort=name"
    );

    let (status, body) = api
        .send(
            "GET",
            "/api/v1/default/demo/runs?query=stauts:running",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("character 1") && message.contains("`status`"),
        "{message}"
    );
    let (status, _) = api
        .send("GET", "/api/v1/default/demo/runs?sort=-nonsense", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api
        .send("GET", "/api/v1/default/demo/runs?limit=0", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api
        .send("GET", "/api/v1/default/demo/runs?limit=many", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_client_run_reports_its_statuses_outputs_and_lineage() {
    let api = Api::new("client-run", None).await;
    api.project("demo").await;
    let uuid = api.client_run("demo", "tracked", &[]).await;
    let path = format!("/api/v1/default/demo/runs/{uuid}");
    let report = |kind: &'static str| {
        let api = &api;
        let path = format!("{path}/statuses");
        async move {
            api.ok(
                "POST",
                &path,
                Some(json!({"condition": {"type": kind, "status": true, "reason": "PolyaxonClient", "message": "from the client"}})),
            )
            .await
        }
    };
    assert_eq!(report("running").await["status"], "running");
    assert_eq!(report("succeeded").await["status"], "succeeded");
    let after = report("running").await;
    assert_eq!(after["status"], "succeeded", "a final status stays");
    let kinds: Vec<&str> = after["status_conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["created", "running", "succeeded"]);

    api.ok(
        "PATCH",
        &path,
        Some(json!({"outputs": {"loss": 0.5}, "merge": true})),
    )
    .await;
    api.ok(
        "PATCH",
        &path,
        Some(json!({"outputs": {"acc": 0.9}, "meta_info": {"has_metrics": true}, "merge": true})),
    )
    .await;
    let run = api.ok("GET", &path, None).await;
    assert_eq!(run["outputs"], json!({"loss": 0.5, "acc": 0.9}));
    assert_eq!(run["meta_info"], json!({"has_metrics": true}));
    assert!(run["started_at"].is_string() && run["finished_at"].is_string());
    api.ok("PATCH", &path, Some(json!({"outputs": {"only": 1}})))
        .await;
    assert_eq!(
        api.ok("GET", &path, None).await["outputs"],
        json!({"only": 1}),
        "no merge replaces"
    );

    let metric = json!({"name": "loss", "kind": "metric", "path": "events/metric/loss.plx", "summary": {"last": 0.5}, "is_input": false});
    let (status, _) = api
        .send(
            "POST",
            &format!("{path}/lineage/artifacts"),
            Some(json!({"artifacts": [metric]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let updated = json!({"name": "loss", "kind": "metric", "path": "events/metric/loss.plx", "summary": {"last": 0.25}, "is_input": false});
    let (status, _) = api
        .send(
            "POST",
            &format!("{path}/lineage/artifacts"),
            Some(json!({"artifacts": [updated]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let lineage = api
        .ok("GET", &format!("{path}/lineage/artifacts"), None)
        .await;
    assert_eq!(lineage["count"], 1);
    assert_eq!(lineage["results"][0]["summary"]["last"], 0.25);

    let (status, _) = api.send("DELETE", &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api.send("GET", &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api
        .send("GET", "/api/v1/default/demo/runs/not-a-uuid", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_polled_with_a_cursor_without_loss_or_duplicates() {
    let api = Api::new("logs", None).await;
    api.project("demo").await;
    let content = "kind: component\nname: printer\nrun:\n  kind: job\n  container:\n    image: busybox\n    command: [sh, -c]\n    args: ['i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done']\n";
    let uuid = api.submit("demo", content).await;
    let run = api
        .ok("GET", &format!("/api/v1/default/demo/runs/{uuid}"), None)
        .await;
    let mut cursor = run["created_at"].as_str().unwrap().to_owned();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // As the polyaxon client sends it: no colon in the offset.
        let last_time = cursor.replace("+00:00", "+0000").replace('+', "%2B");
        let logs = api
            .ok(
                "GET",
                &format!(
                    "/streams/v1/polyaxon/default/demo/runs/{uuid}/logs?last_time={last_time}"
                ),
                None,
            )
            .await;
        for line in logs["logs"].as_array().unwrap() {
            assert_eq!(line["container"], "polyaxon-main");
            seen.push(line["value"].as_str().unwrap().to_owned());
        }
        match logs["last_time"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
        assert!(Instant::now() < deadline, "the logs never ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let expected: Vec<String> = (0..300).map(|i| format!("line-{i}")).collect();
    assert_eq!(seen, expected);
    assert_eq!(
        api.wait_until_done("demo", &uuid).await["status"],
        "succeeded"
    );
    let archive = api
        .ok(
            "GET",
            &format!("/streams/v1/polyaxon/default/demo/runs/{uuid}/logs"),
            None,
        )
        .await;
    assert_eq!(
        archive["logs"].as_array().unwrap().len(),
        300,
        "the archive has every line"
    );
    assert_eq!(archive["last_time"], Json::Null);
    let (status, _) = api
        .send(
            "GET",
            &format!("/streams/v1/polyaxon/default/demo/runs/{uuid}/logs?last_time=yesterday"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_a_managed_run_and_records_a_client_one() {
    let api = Api::new("stop", None).await;
    api.project("demo").await;
    let content = "kind: component\nrun:\n  kind: job\n  container:\n    image: busybox\n    command: [sleep, '60']\n";
    let uuid = api.submit("demo", content).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while api
        .ok("GET", &format!("/api/v1/default/demo/runs/{uuid}"), None)
        .await["status"]
        != "running"
    {
        assert!(Instant::now() < deadline, "never running");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    api.ok(
        "POST",
        &format!("/api/v1/default/demo/runs/{uuid}/stop"),
        None,
    )
    .await;
    assert_eq!(
        api.wait_until_done("demo", &uuid).await["status"],
        "stopped"
    );

    let client = api.client_run("demo", "by-hand", &[]).await;
    api.ok(
        "POST",
        &format!("/api/v1/default/demo/runs/{client}/stop"),
        None,
    )
    .await;
    assert_eq!(
        api.wait_until_done("demo", &client).await["status"],
        "stopped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_tagged_stopped_and_deleted_in_bulk() {
    let api = Api::new("bulk", None).await;
    api.project("demo").await;
    let first = api.client_run("demo", "first", &["keep"]).await;
    let second = api.client_run("demo", "second", &[]).await;
    let managed = api.submit("demo", &job_with("sleep 60")).await;
    let untouched = api.client_run("demo", "untouched", &[]).await;
    let all = json!([first, second, managed]);

    // A bad uuid anywhere refuses the whole request, before anything is done.
    let (status, error) = api
        .send(
            "POST",
            "/api/v1/default/demo/runs/tag",
            Some(json!({"uuids": [first, "nope"], "tags": ["x"]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(error.to_string().contains("`nope`"), "{error}");
    let (status, error) = api
        .send(
            "POST",
            "/api/v1/default/demo/runs/tag",
            Some(json!({"uuids": [first], "tags": [" "]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let run = api
        .ok("GET", &format!("/api/v1/default/demo/runs/{first}"), None)
        .await;
    assert_eq!(run["tags"], json!(["keep"]));

    api.ok(
        "POST",
        "/api/v1/default/demo/runs/tag",
        Some(json!({"uuids": all, "tags": ["bulk", "keep"]})),
    )
    .await;
    let tagged = api
        .ok(
            "GET",
            "/api/v1/default/demo/runs?query=tags:bulk&limit=10",
            None,
        )
        .await;
    assert_eq!(tagged["count"], 3, "{tagged}");
    let run = api
        .ok("GET", &format!("/api/v1/default/demo/runs/{first}"), None)
        .await;
    assert_eq!(
        run["tags"],
        json!(["keep", "bulk"]),
        "tags are added, not replaced"
    );

    api.ok(
        "POST",
        "/api/v1/default/demo/runs/stop",
        Some(json!({"uuids": all})),
    )
    .await;
    for uuid in [&first, &second, &managed] {
        assert_eq!(api.wait_until_done("demo", uuid).await["status"], "stopped");
    }
    let run = api
        .ok(
            "GET",
            &format!("/api/v1/default/demo/runs/{untouched}"),
            None,
        )
        .await;
    assert_eq!(run["status"], "created", "{run}");

    // Gone already (another tab deleted it): passed over, the rest deleted.
    let (status, _) = api
        .send(
            "DELETE",
            &format!("/api/v1/default/demo/runs/{second}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = api
        .send(
            "DELETE",
            "/api/v1/default/demo/runs/delete",
            Some(json!({"uuids": all})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let left = api
        .ok("GET", "/api/v1/default/demo/runs?limit=10", None)
        .await;
    assert_eq!(uuids(&left), vec![untouched]);
    let (status, _) = api
        .send(
            "POST",
            "/api/v1/default/nowhere/runs/stop",
            Some(json!({"uuids": [first]})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_restarted_or_copied_with_its_artifacts() {
    let api = Api::new("clone", None).await;
    api.project("demo").await;
    // Writes an output the first time, and says whether it found one.
    let content = "kind: component\nname: maker\nrun:\n  kind: job\n  container:\n    image: busybox\n    command: [sh, -c]\n    args: ['out=$POLYAXON_CONTEXT_ROOT/artifacts/${POLYAXON_RUN_INSTANCE##*.}/outputs; if [ -f $out/model.txt ]; then echo found $(cat $out/model.txt); else mkdir -p $out; echo 42 > $out/model.txt; echo made; fi']\n";
    let first = api
        .ok(
            "POST",
            "/api/v1/default/demo/runs",
            Some(json!({"content": content, "tags": ["v1"]})),
        )
        .await;
    let first = first["uuid"].as_str().unwrap().to_owned();
    assert_eq!(
        api.wait_until_done("demo", &first).await["status"],
        "succeeded"
    );
    let logs_of = |uuid: String| {
        let api = &api;
        async move {
            let logs = api
                .ok(
                    "GET",
                    &format!("/streams/v1/polyaxon/default/demo/runs/{uuid}/logs"),
                    None,
                )
                .await;
            logs["logs"][0]["value"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
    };
    assert_eq!(logs_of(first.clone()).await, "made");
    let read = api
        .ok("GET", &format!("/api/v1/default/demo/runs/{first}"), None)
        .await;
    assert_eq!(
        read["raw_content"], content,
        "a run shows what was submitted"
    );
    let compiled: Json = serde_json::from_str(read["content"].as_str().unwrap()).unwrap();
    assert_eq!(compiled["kind"], "compiled_operation", "and what executes");
    let listed = api.ok("GET", "/api/v1/default/demo/runs", None).await;
    assert_eq!(
        listed["results"][0]["content"],
        Json::Null,
        "lists leave it out"
    );

    let restarted = api
        .ok(
            "POST",
            &format!("/api/v1/default/demo/runs/{first}/restart"),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        restarted["original"],
        json!({"uuid": first, "name": "maker", "kind": "restart"})
    );
    assert_eq!(restarted["name"], "maker");
    assert_eq!(restarted["tags"], json!(["v1"]));
    let restarted = restarted["uuid"].as_str().unwrap().to_owned();
    api.wait_until_done("demo", &restarted).await;
    assert_eq!(
        logs_of(restarted).await,
        "made",
        "a restart starts from nothing"
    );

    let copied = api
        .ok(
            "POST",
            &format!("/api/v1/default/demo/runs/{first}/copy"),
            Some(json!({"name": "copied"})),
        )
        .await;
    assert_eq!(copied["original"]["kind"], "copy");
    assert_eq!(copied["name"], "copied");
    let copied = copied["uuid"].as_str().unwrap().to_owned();
    api.wait_until_done("demo", &copied).await;
    assert_eq!(
        logs_of(copied).await,
        "found 42",
        "a copy starts with the original's artifacts"
    );

    let (status, body) = api
        .send(
            "POST",
            &format!("/api/v1/default/demo/runs/{first}/copy"),
            Some(json!({"meta_info": {"copy_artifacts": {"dirs": ["../../etc"]}}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_runs_wait_for_approval_and_runs_move_or_resume_in_place() {
    let api = Api::new("run-actions", None).await;
    api.project("demo").await;
    api.project("other").await;
    let run_path = |project: &str, uuid: &str| format!("/api/v1/default/{project}/runs/{uuid}");

    // As `polyaxon run -u` of a file saying `isApproved: false`: the upload first, then a
    // person's approval; nothing runs before both.
    let content = format!("isApproved: false\n{}", job_with("echo held"));
    let run = api
        .ok(
            "POST",
            "/api/v1/default/demo/runs",
            Some(json!({"content": content, "pending": "upload", "tags": ["t"]})),
        )
        .await;
    let uuid = run["uuid"].as_str().unwrap().to_owned();
    let approve = format!("{}/approve", run_path("demo", &uuid));
    for waits_for in ["upload", "approval"] {
        let run = api.ok("GET", &run_path("demo", &uuid), None).await;
        assert_eq!(
            (&run["status"], &run["pending"]),
            (&json!("compiled"), &json!(waits_for))
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(api.ok("POST", &approve, None).await, json!({}));
    }
    let run = api.wait_until_done("demo", &uuid).await;
    assert_eq!(
        (&run["status"], &run["pending"]),
        (&json!("succeeded"), &Json::Null)
    );
    // Approving what waits for nothing changes nothing.
    assert_eq!(api.ok("POST", &approve, None).await, json!({}));

    // Invalidate: there is no cache to forget, only the run to find.
    let invalidate = format!("{}/invalidate", run_path("demo", &uuid));
    assert_eq!(api.ok("POST", &invalidate, None).await, json!({}));
    let (status, _) = api
        .send(
            "POST",
            &format!("{}/invalidate", run_path("demo", &"0".repeat(32))),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Transfer: the run and its tags go to the other project, where filters find it.
    let transfer = format!("{}/transfer", run_path("demo", &uuid));
    for (body, expected) in [
        (json!({}), StatusCode::BAD_REQUEST),
        (json!({"project": "nowhere"}), StatusCode::BAD_REQUEST),
        (json!({"project": "demo"}), StatusCode::OK),
    ] {
        let (status, answer) = api.send("POST", &transfer, Some(body.clone())).await;
        assert_eq!(status, expected, "{body}: {answer}");
    }
    api.ok("POST", &transfer, Some(json!({"project": "other"})))
        .await;
    let (status, _) = api.send("GET", &run_path("demo", &uuid), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for (project, count) in [("other", 1), ("demo", 0)] {
        let found = api
            .ok(
                "GET",
                &format!("/api/v1/default/{project}/runs?query=tags:t"),
                None,
            )
            .await;
        assert_eq!(found["count"], count, "{project}: {found}");
    }

    // Resume with another command: the same run goes again, its logs continued.
    let again = job_with("echo again");
    let resumed = api
        .ok(
            "POST",
            &format!("{}/resume", run_path("other", &uuid)),
            Some(json!({"content": again})),
        )
        .await;
    assert_eq!(resumed["uuid"], uuid.as_str());
    assert_eq!(resumed["finished_at"], Json::Null, "{resumed}");
    let run = api.wait_until_done("other", &uuid).await;
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["raw_content"], again.as_str());
    let logs = api
        .ok(
            "GET",
            &format!("/streams/v1/polyaxon/default/other/runs/{uuid}/logs"),
            None,
        )
        .await;
    let printed: Vec<&str> = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|line| line["value"].as_str())
        .collect();
    assert_eq!(printed, ["held", "again"]);
}

/// A multipart body as the tracking client's sync sends it.
fn multipart(file_name: &str, contents: &[u8], spec: &Json) -> (String, Vec<u8>) {
    let boundary = "myelin-test-boundary";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"upload_file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(contents);
    body.extend_from_slice(
        format!(
            "\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"json\"\r\n\r\n{spec}\r\n--{boundary}--\r\n"
        )
        .as_bytes(),
    );
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn a_run_s_artifacts_are_listed_and_downloaded_and_nothing_outside_them() {
    let api = Api::new("artifacts", None).await;
    api.project("demo").await;
    let uuid = api.client_run("demo", "maker", &[]).await;
    let folder = api.state.artifacts.run_folder(&uuid);
    std::fs::create_dir_all(folder.join("outputs/sub")).unwrap();
    std::fs::write(folder.join("outputs/model.txt"), "hello").unwrap();
    std::fs::write(folder.join("outputs/sub/weights.bin"), [0_u8; 10]).unwrap();
    let secret = api.root.join("secret.txt");
    std::fs::write(&secret, "not yours").unwrap();
    std::os::unix::fs::symlink(&secret, folder.join("outputs/escape.txt")).unwrap();
    let base = format!("/streams/v1/polyaxon/default/demo/runs/{uuid}");

    let root = api.ok("GET", &format!("{base}/artifacts/tree"), None).await;
    assert_eq!(root["dirs"], json!(["outputs"]), "{root}");
    let outputs = api
        .ok("GET", &format!("{base}/artifacts/tree?path=outputs"), None)
        .await;
    assert_eq!(outputs["dirs"], json!(["sub"]));
    assert_eq!(outputs["files"]["model.txt"], 5, "{outputs}");

    let (status, text) = api
        .text("GET", &format!("{base}/artifact?path=outputs/model.txt"))
        .await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "hello"));
    let response = backend::app(api.state.clone())
        .oneshot(
            Request::get(format!(
                "{base}/artifact?path=outputs/model.txt&download=true"
            ))
            .body(Body::empty())
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        response.headers()[header::CONTENT_DISPOSITION],
        "attachment; filename=\"model.txt\""
    );

    // A folder, packed: what is in it, links as links (nothing outside the run is read).
    for (path, expected) in [
        (
            "",
            vec![
                "outputs/ (dir)",
                "outputs/escape.txt -> link",
                "outputs/model.txt: hello",
                "outputs/sub/ (dir)",
                "outputs/sub/weights.bin: \0\0\0\0\0\0\0\0\0\0",
            ],
        ),
        ("outputs/sub", vec!["weights.bin: \0\0\0\0\0\0\0\0\0\0"]),
        ("outputs/model.txt", vec!["model.txt: hello"]),
    ] {
        let (status, archive) = bytes(&api, &format!("{base}/artifacts?path={path}")).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(unpacked(&archive), expected, "{path}");
    }
    let (status, file) = bytes(
        &api,
        &format!("{base}/artifacts?path=outputs/model.txt&check_path=True"),
    )
    .await;
    assert_eq!((status, file.as_slice()), (StatusCode::OK, &b"hello"[..]));
    for (path, expected) in [
        ("outputs/missing", StatusCode::NOT_FOUND),
        ("../..", StatusCode::BAD_REQUEST),
    ] {
        let (status, _) = bytes(&api, &format!("{base}/artifacts?path={path}")).await;
        assert_eq!(status, expected, "{path}");
    }

    for (path, expected) in [
        ("../../secret.txt", StatusCode::BAD_REQUEST),
        ("outputs/escape.txt", StatusCode::BAD_REQUEST),
        ("/etc/hostname", StatusCode::NOT_FOUND),
        ("outputs/missing.txt", StatusCode::NOT_FOUND),
        ("outputs", StatusCode::BAD_REQUEST),
    ] {
        let (status, text) = api
            .text("GET", &format!("{base}/artifact?path={path}"))
            .await;
        assert_eq!(status, expected, "{path}: {text}");
        assert!(!text.contains("not yours"), "{path}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_s_spec_shows_what_was_submitted_compiled_and_what_kubernetes_would_receive() {
    let api = Api::new("spec", None).await;
    api.project("demo").await;
    let content = job_with("echo hi");
    let uuid = api.submit("demo", &content).await;
    let spec = api
        .ok(
            "GET",
            &format!("/api/v1/default/demo/runs/{uuid}/spec"),
            None,
        )
        .await;
    assert_eq!(spec["content"], json!(content));
    assert_eq!(spec["compiled"]["kind"], "compiled_operation", "{spec}");
    assert_eq!(
        spec["compiled"]["run"]["container"]["command"],
        json!(["sh", "-c", "echo hi"])
    );
    assert_eq!(spec["resource"]["kind"], "Job");
    assert_eq!(
        spec["resource"]["metadata"]["name"],
        format!("plx-operation-{uuid}")
    );
    let native = spec["native"].as_array().expect("a list of objects");
    assert_eq!(native.len(), 1, "{spec}");
    assert_eq!(
        (native[0]["apiVersion"].as_str(), native[0]["kind"].as_str()),
        (Some("batch/v1"), Some("Job"))
    );
    assert_eq!(spec["native_error"], Json::Null);

    // A client's own run was made from nothing Myelin compiled.
    let client = api.client_run("demo", "notebook", &[]).await;
    let spec = api
        .ok(
            "GET",
            &format!("/api/v1/default/demo/runs/{client}/spec"),
            None,
        )
        .await;
    assert_eq!(
        (
            &spec["content"],
            &spec["compiled"],
            &spec["resource"],
            &spec["native"]
        ),
        (&Json::Null, &Json::Null, &Json::Null, &json!([]))
    );
    let (status, _) = api
        .send(
            "GET",
            "/api/v1/default/demo/runs/0123456789abcdef0123456789abcdef/spec",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn files_are_uploaded_into_a_run_s_artifacts_and_archives_unpacked() {
    let api = Api::new("upload", None).await;
    api.project("demo").await;
    let uuid = api.client_run("demo", "uploader", &[]).await;
    let upload = |file_name: &'static str, contents: Vec<u8>, spec: Json| {
        let api = &api;
        let uuid = uuid.clone();
        async move {
            let (content_type, body) = multipart(file_name, &contents, &spec);
            let request = Request::post(format!(
                "/streams/v1/polyaxon/default/demo/runs/{uuid}/artifact"
            ))
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap();
            api.respond(request).await
        }
    };
    let metric = b"step|timestamp|metric\n1|2026-11-22 14:48:53.521626+00:00|0.5".to_vec();
    let (status, body) = upload(
        "/tmp/plx/artifacts/x/events/metric/loss.plx",
        metric.clone(),
        json!({"untar": false, "path": "events/metric", "overwrite": true, "connection": "store"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let folder = api.state.artifacts.run_folder(&uuid);
    assert_eq!(
        std::fs::read(folder.join("events/metric/loss.plx")).unwrap(),
        metric
    );

    let (status, body) = upload(
        "again.txt",
        b"new".to_vec(),
        json!({"path": "", "overwrite": false}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = upload(
        "again.txt",
        b"newer".to_vec(),
        json!({"path": "", "overwrite": false}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(std::fs::read(folder.join("again.txt")).unwrap(), b"new");

    let (status, _) = upload(
        "evil.txt",
        b"x".to_vec(),
        json!({"path": "../../elsewhere"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!folder.join("../../elsewhere").exists());

    let mut archive = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut header = tar::Header::new_gnu();
    header.set_size(5);
    header.set_mode(0o644);
    header.set_cksum();
    archive
        .append_data(&mut header, "code/train.py", &b"print"[..])
        .unwrap();
    let packed = archive.into_inner().unwrap().finish().unwrap();
    let (status, body) = upload(
        "code.tar.gz",
        packed,
        json!({"path": "uploads", "untar": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        std::fs::read(folder.join("uploads/code/train.py")).unwrap(),
        b"print"
    );
    assert!(
        !std::fs::read_dir(&folder).unwrap().any(|entry| entry
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".upload")),
        "no temporary file is left behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_project_stops_its_runs_and_removes_their_files() {
    let api = Api::new("delete-project", None).await;
    api.project("doomed").await;
    let content = "kind: component\nrun:\n  kind: job\n  container:\n    image: busybox\n    command: [sh, -c, 'echo started; sleep 60']\n";
    let uuid = api.submit("doomed", content).await;
    let folder = api.state.artifacts.run_folder(&uuid);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !folder.join("plxlogs").is_dir() {
        assert!(Instant::now() < deadline, "the run never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, _) = api.send("DELETE", "/api/v1/default/doomed", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api
        .send("GET", &format!("/api/v1/default/doomed/runs/{uuid}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The stopped run may still be writing its last lines for a moment.
    let deadline = Instant::now() + Duration::from_secs(15);
    while folder.exists() || api.root.join(format!("data/runs/{uuid}")).exists() {
        assert!(Instant::now() < deadline, "the deleted run's files stay");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_gets_a_free_port_when_its_own_is_taken_and_is_reached_through_the_proxy() {
    let api = Api::new("service", None).await;
    api.project("demo").await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let declared = taken.local_addr().unwrap().port();
    let content = format!(
        "kind: component\nname: web\nrun:\n  kind: service\n  ports: [{declared}]\n  container:\n    image: python:3.11\n    command: [python3, -m, http.server, '{{{{ globals.ports[0] }}}}', --bind, 127.0.0.1]\n"
    );
    let uuid = api.submit("demo", &content).await;
    let path = format!("/api/v1/default/demo/runs/{uuid}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let message = loop {
        let run = api.ok("GET", &path, None).await;
        let running = run["status_conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|condition| condition["type"] == "running")
            .map(|condition| condition["message"].as_str().unwrap().to_owned());
        if let Some(message) = running {
            break message;
        }
        assert!(Instant::now() < deadline, "never running: {run}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let url = message
        .rsplit(' ')
        .next()
        .and_then(|url| url.strip_prefix("http://"))
        .unwrap_or_else(|| panic!("no address in `{message}`"))
        .to_owned();
    assert_ne!(
        url,
        format!("127.0.0.1:{declared}"),
        "the taken port was given again"
    );
    let port = url.rsplit(':').next().unwrap();
    // Through the services proxy: `/rewrite-services/` gives the service the path past the
    // port, `/services/` the whole path (http.server has no such folder). The server starts
    // listening a moment after the process starts.
    let base = format!("v1/polyaxon/default/demo/runs/{uuid}/{port}");
    let mut listing = (StatusCode::BAD_GATEWAY, String::new());
    for _ in 0..100 {
        listing = api.text("GET", &format!("/rewrite-services/{base}/")).await;
        if listing.0 == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(listing.1.contains("Directory listing for /"), "{listing:?}");
    let (status, page) = api.text("GET", &format!("/services/{base}/notes")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{page}");
    assert!(
        page.contains("File not found"),
        "http.server's own page: {page}"
    );
    let elsewhere = format!("/services/v1/polyaxon/default/demo/runs/{uuid}/{declared}/");
    assert_eq!(api.text("GET", &elsewhere).await.0, StatusCode::CONFLICT);
    let (status, _) = api
        .text(
            "GET",
            &format!("/services/v1/polyaxon/default/other/runs/{uuid}/{port}/"),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another project's path");
    api.ok("POST", &format!("{path}/stop"), None).await;
    assert_eq!(
        api.wait_until_done("demo", &uuid).await["status"],
        "stopped"
    );
    drop(taken);
}

#[tokio::test]
async fn event_series_are_read_as_columns_text_or_a_sample() {
    let api = Api::new("events", None).await;
    api.project("demo").await;
    let first = api.client_run("demo", "first", &[]).await;
    let second = api.client_run("demo", "second", &[]).await;
    // As traceml writes them: a header, then `step|timestamp|value` rows, no final newline.
    let rows: Vec<String> = (0..100)
        .map(|step| {
            format!(
                "{step}|2026-11-22 14:48:{:02}.000000+00:00|{}",
                step % 60,
                f64::from(step) / 100.0
            )
        })
        .collect();
    let series = format!("step|timestamp|metric\n{}", rows.join("\n"));
    for uuid in [&first, &second] {
        let folder = api.state.artifacts.run_folder(uuid).join("events/metric");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("loss.plx"), &series).unwrap();
    }
    let base = format!("/streams/v1/polyaxon/default/demo/runs/{first}");
    let columns = api
        .ok(
            "GET",
            &format!("{base}/events/metric?names=loss,missing&orient=dict"),
            None,
        )
        .await;
    let events = columns["data"].as_array().unwrap();
    assert_eq!(
        events.len(),
        1,
        "a name without a file is left out: {columns}"
    );
    assert_eq!(
        (&events[0]["name"], &events[0]["kind"]),
        (&json!("loss"), &json!("metric"))
    );
    let data = &events[0]["data"];
    assert_eq!(data["step"].as_array().unwrap().len(), 100);
    assert_eq!(data["step"][99], 99);
    assert_eq!(data["metric"][99], 0.99);
    assert_eq!(data["timestamp"][1], "2026-11-22 14:48:01.000000+00:00");

    let text = api
        .ok(
            "GET",
            &format!("{base}/events/metric?names=loss&orient=csv"),
            None,
        )
        .await;
    assert_eq!(text["data"][0]["data"], series.as_str());

    let sampled = api
        .ok(
            "GET",
            &format!("{base}/events/metric?names=loss&sample=6"),
            None,
        )
        .await;
    assert_eq!(
        sampled["data"][0]["data"]["step"],
        json!([0, 1, 98, 99]),
        "the first and last rows, and the lowest and highest between"
    );

    let multi = api
        .ok(
            "GET",
            &format!("/streams/v1/polyaxon/default/demo/runs/multi/events/metric?runs={first},{second}&names=loss&sample=2"),
            None,
        )
        .await;
    for uuid in [&first, &second] {
        assert_eq!(
            multi["data"][uuid.as_str()][0]["data"]["step"],
            json!([0, 99]),
            "{multi}"
        );
    }
    for bad in [
        format!("{base}/events/nonsense?names=loss"),
        format!("{base}/events/metric"),
        format!("{base}/events/metric?names=loss&orient=table"),
        "/streams/v1/polyaxon/default/demo/runs/multi/events/metric?names=loss".to_owned(),
    ] {
        let (status, body) = api.send("GET", &bad, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn params_beside_the_editor_s_text_fill_its_inputs_and_problems_point_into_it() {
    let api = Api::new("params", None).await;
    api.project("demo").await;
    let content = "kind: component\ninputs:\n- {name: greeting, type: str}\n- {name: times, type: int, value: 1, isOptional: true}\nrun:\n  kind: job\n  container:\n    image: busybox\n    command: [sh, -c, 'echo {{ greeting }} x{{ times }}']\n";
    let (status, refused) = api
        .send(
            "POST",
            "/api/v1/default/demo/runs",
            Some(json!({"content": content, "params": {"greeting": "hi", "times": "many"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let problem = &refused["diagnostics"][0];
    assert_eq!(
        (problem["path"].as_str(), problem["line"].as_u64()),
        (Some("-P times"), Some(4)),
        "{refused}"
    );

    let run = api
        .ok(
            "POST",
            "/api/v1/default/demo/runs",
            Some(json!({"content": content, "params": {"greeting": "hi", "times": "2"}})),
        )
        .await;
    let uuid = run["uuid"].as_str().unwrap().to_owned();
    let done = api.wait_until_done("demo", &uuid).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["inputs"], json!({"greeting": "hi", "times": 2}));
    // The operation is kept with its params written in, so a restart needs none.
    let restarted = api
        .ok(
            "POST",
            &format!("/api/v1/default/demo/runs/{uuid}/restart"),
            Some(json!({})),
        )
        .await;
    let again = api
        .wait_until_done("demo", restarted["uuid"].as_str().unwrap())
        .await;
    assert_eq!(again["status"], "succeeded", "{again}");
    assert_eq!(again["inputs"], json!({"greeting": "hi", "times": 2}));
}

#[tokio::test]
async fn the_browser_learns_the_agent_runs_are_compiled_for() {
    let api = Api::new("agent", None).await;
    let agent = api.ok("GET", "/api/v1/compiler/agent", None).await;
    assert_eq!(agent["namespace"], "polyaxon");
    assert_eq!(agent["artifactsStore"]["kind"], "host_path");
    let parsed: shared::Agent = serde_json::from_value(agent).unwrap();
    assert_eq!(parsed, *api.state.agent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_changes_are_pushed_as_server_sent_events() {
    let api = Api::new("events-stream", None).await;
    api.project("demo").await;
    api.project("other").await;
    let request = Request::get("/streams/v1/polyaxon/default/demo/runs/events")
        .body(Body::empty())
        .unwrap();
    let response = backend::app(api.state.clone())
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();

    api.submit("other", &job_with("echo elsewhere")).await;
    let uuid = api.submit("demo", &job_with("echo here")).await;
    let mut seen: Vec<(String, String, String)> = Vec::new();
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen.iter().any(|(_, _, status)| status == "succeeded") {
        assert!(Instant::now() < deadline, "events so far: {seen:?}");
        let frame = tokio::time::timeout(Duration::from_secs(30), body.frame())
            .await
            .expect("an event in time")
            .expect("the stream goes on")
            .unwrap();
        let Ok(data) = frame.into_data() else {
            continue;
        };
        text.push_str(&String::from_utf8_lossy(&data));
        while let Some((event, rest)) = text.split_once("\n\n") {
            let data = event
                .lines()
                .find_map(|line| line.strip_prefix("data: "))
                .map(str::to_owned);
            text = rest.to_owned();
            if let Some(data) = data {
                let event: Json = serde_json::from_str(&data).unwrap();
                seen.push((
                    event["uuid"].as_str().unwrap_or_default().to_owned(),
                    event["change"].as_str().unwrap_or_default().to_owned(),
                    event["status"].as_str().unwrap_or_default().to_owned(),
                ));
            }
        }
    }
    assert!(
        seen.iter().all(|(run, _, _)| *run == uuid),
        "only this project's runs: {seen:?}"
    );
    assert_eq!(seen[0].1, "created", "{seen:?}");
    let statuses: Vec<&str> = seen.iter().map(|(_, _, status)| status.as_str()).collect();
    for expected in ["queued", "running", "succeeded"] {
        assert!(
            statuses.contains(&expected),
            "{expected} not in {statuses:?}"
        );
    }
}

#[tokio::test]
async fn an_internal_failure_tells_the_client_an_id_and_the_log_what_failed() {
    let log = Captured::default();
    let writer = log.clone();
    let _logging = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish(),
    );
    let api = Api::new("internal", None).await;
    api.project("demo").await;
    let uuid = api.client_run("demo", "broken", &[]).await;
    // A file where the run's log folder belongs: reading the logs fails inside the server.
    let folder = api.state.artifacts.run_folder(&uuid);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("plxlogs"), "not a folder").unwrap();
    let logs = format!("/streams/v1/polyaxon/default/demo/runs/{uuid}/logs");

    let mut ids = Vec::new();
    for _ in 0..2 {
        let (status, body) = api.send("GET", &logs, None).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
        let message = body["message"].as_str().unwrap();
        let id = message
            .split_once("(error id ")
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(id, _)| id.to_owned())
            .unwrap_or_else(|| panic!("no error id in {message:?}"));
        assert!(
            id.len() == 12 && id.bytes().all(|byte| byte.is_ascii_hexdigit()),
            "{message}"
        );
        for internal in ["plxlogs", "directory", "cannot read", &uuid] {
            assert!(
                !message.contains(internal),
                "{message:?} tells {internal:?}"
            );
        }
        let logged = log.text();
        let line = logged
            .lines()
            .find(|line| line.contains(&id))
            .unwrap_or_else(|| panic!("no log line with {id}:\n{logged}"));
        assert!(line.contains("cannot read the run's logs"), "{line}");
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1], "each failure has an id of its own");
}

/// What a test's log subscriber wrote.
#[derive(Debug, Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A job that runs `command` with `sh -c`.
/// A GET's status and body, whatever its type.
async fn bytes(api: &Api, path: &str) -> (StatusCode, Vec<u8>) {
    let response = backend::app(api.state.clone())
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, body.to_vec())
}

/// What a `.tar.gz` holds, an entry a line: `name: contents`, `name/ (dir)` or `name -> link`.
fn unpacked(archive: &[u8]) -> Vec<String> {
    use std::io::Read as _;
    let mut entries = Vec::new();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        entries.push(match entry.header().entry_type() {
            tar::EntryType::Directory => format!("{}/ (dir)", name.trim_end_matches('/')),
            tar::EntryType::Symlink => format!("{name} -> link"),
            _ => {
                let mut contents = String::new();
                entry.read_to_string(&mut contents).unwrap();
                format!("{name}: {contents}")
            }
        });
    }
    entries
}

fn job_with(command: &str) -> String {
    format!(
        "kind: component\nrun:\n  kind: job\n  container:\n    image: busybox\n    command: [sh, -c, {}]\n",
        serde_json::to_string(command).unwrap()
    )
}

/// The uuids a list answered, in its order.
fn listed(list: &Json) -> Vec<String> {
    list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["uuid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn archived_runs_and_projects_leave_lists_and_come_back_and_bookmarks_are_listed_apart() {
    let api = Api::new("shelves", None).await;
    api.project("demo").await;
    let kept = api.client_run("demo", "kept", &[]).await;
    let shelved = api.client_run("demo", "shelved", &[]).await;
    let runs = "/api/v1/default/demo/runs";

    api.ok("POST", &format!("{runs}/{shelved}/archive"), None)
        .await;
    assert_eq!(listed(&api.ok("GET", runs, None).await), [kept.as_str()]);
    let archived = api.ok("GET", "/api/v1/archives/default/runs", None).await;
    assert_eq!(listed(&archived), [shelved.as_str()]);
    // As Polyaxon's own clients ask for them.
    let archived = api
        .ok("GET", &format!("{runs}?query=live_state:0"), None)
        .await;
    assert_eq!(listed(&archived), [shelved.as_str()]);
    let every = api
        .ok("GET", &format!("{runs}?query=live_state:%3E%3D0"), None)
        .await;
    assert_eq!(every["count"], 2, "{every}");
    let run = api.ok("GET", &format!("{runs}/{shelved}"), None).await;
    assert_eq!(run["live_state"], 0, "{run}");
    assert_eq!(
        run["status"], "stopped",
        "an archived run does not go on: {run}"
    );
    api.ok(
        "POST",
        &format!("{runs}/restore"),
        Some(json!({"uuids": [shelved]})),
    )
    .await;
    assert_eq!(listed(&api.ok("GET", runs, None).await).len(), 2);

    let (status, _) = api
        .send("POST", &format!("{runs}/{kept}/bookmark"), None)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let bookmarks = api.ok("GET", "/api/v1/bookmarks/default/runs", None).await;
    assert_eq!(listed(&bookmarks), [kept.as_str()]);
    assert_eq!(bookmarks["results"][0]["bookmarked"], true);
    let bookmarks = api.ok("GET", &format!("{runs}?bookmarks=true"), None).await;
    assert_eq!(listed(&bookmarks), [kept.as_str()]);
    let (status, _) = api
        .send("DELETE", &format!("{runs}/{kept}/unbookmark"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let bookmarks = api.ok("GET", "/api/v1/bookmarks/default/runs", None).await;
    assert_eq!(bookmarks["count"], 0);

    // A project archived takes its runs out of sight with it, and brings them back.
    api.ok("POST", "/api/v1/default/demo/archive", None).await;
    let projects = api.ok("GET", "/api/v1/default/projects/list", None).await;
    assert_eq!(projects["count"], 0, "{projects}");
    assert_eq!(
        api.ok("GET", "/api/v1/default/demo", None).await["live_state"],
        0
    );
    assert_eq!(api.ok("GET", runs, None).await["count"], 0);
    api.ok("POST", "/api/v1/default/demo/restore", None).await;
    let names = api.ok("GET", "/api/v1/default/projects/names", None).await;
    assert_eq!(names["results"], json!([{"name": "demo"}]));
    assert_eq!(api.ok("GET", runs, None).await["count"], 2);
}

#[tokio::test]
async fn edges_skips_and_synced_runs_behave_as_polyaxon_s() {
    let api = Api::new("edges", None).await;
    api.project("demo").await;
    let runs = "/api/v1/default/demo/runs";
    let upstream = api.client_run("demo", "data", &[]).await;
    let downstream = api.client_run("demo", "train", &[]).await;

    // Set from the downstream run, with the key Polyaxon's server reads (`run`).
    let (status, body) = api
        .send(
            "POST",
            &format!("{runs}/{downstream}/lineage/edges"),
            Some(
                json!({"edges": [{"run": upstream, "is_upstream": true, "values": {"rows": 10}}]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let ups = api
        .ok(
            "GET",
            &format!("{runs}/{downstream}/lineage/upstream"),
            None,
        )
        .await;
    assert_eq!(ups["results"][0]["upstream"]["uuid"], upstream.as_str());
    assert_eq!(ups["results"][0]["values"], json!({"rows": 10}));
    assert_eq!(ups["results"][0]["kind"], "manual");
    let downs = api
        .ok(
            "GET",
            &format!("{runs}/{upstream}/lineage/downstream"),
            None,
        )
        .await;
    assert_eq!(
        downs["results"][0]["downstream"]["uuid"],
        downstream.as_str()
    );
    let (status, body) = api
        .send(
            "POST",
            &format!("{runs}/{downstream}/lineage/edges"),
            Some(json!({"edges": [{"uuid": "0123456789abcdef0123456789abcdef"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("edges[0]"),
        "{body}"
    );
    let ups = api
        .ok(
            "GET",
            &format!("{runs}/{downstream}/lineage/upstream"),
            None,
        )
        .await;
    assert_eq!(ups["count"], 1, "a refused request changes nothing: {ups}");

    // Skipping acts on a run that has not started; an ended one stays as it is.
    api.ok(
        "POST",
        &format!("{runs}/{upstream}/statuses"),
        Some(json!({"condition": {"type": "succeeded", "status": "True"}})),
    )
    .await;
    api.ok(
        "POST",
        &format!("{runs}/skip"),
        Some(json!({"uuids": [upstream, downstream]})),
    )
    .await;
    let status_of = |uuid: &str| {
        let path = format!("{runs}/{uuid}");
        let api = &api;
        async move { api.ok("GET", &path, None).await["status"].clone() }
    };
    assert_eq!(status_of(&upstream).await, "succeeded");
    assert_eq!(status_of(&downstream).await, "skipped");

    // A run tracked offline keeps its uuid, times and conditions; a second upload is refused.
    let offline = json!({
        "uuid": "5e1f0c4d3b2a49788695a4b3c2d1e0f9",
        "created_at": "2026-12-01T10:00:00Z",
        "kind": "job",
        "is_managed": false,
        "status_conditions": [
            {"type": "running", "status": "True", "last_transition_time": "2026-12-01T10:00:01Z"},
            {"type": "succeeded", "status": "True", "last_transition_time": "2026-12-01T10:00:05Z"},
        ],
        "outputs": {"loss": 0.1},
    });
    let (status, run) = api
        .send("POST", &format!("{runs}/sync"), Some(offline.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{run}");
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["duration"], 4.0);
    assert_eq!(run["outputs"], json!({"loss": 0.1}));
    assert_eq!(run["is_managed"], false);
    let (status, body) = api
        .send("POST", &format!("{runs}/sync"), Some(offline))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn a_run_submitted_by_hub_reference_runs_the_bundled_component() {
    let api = Api::new("hub-run", None).await;
    api.project("demo").await;
    let run = api
        .ok(
            "POST",
            "/api/v1/default/demo/runs",
            Some(json!({"content": "kind: operation\nhubRef: shell\nparams:\n  timeout: {value: 1}\n"})),
        )
        .await;
    let uuid = run["uuid"].as_str().unwrap().to_owned();
    assert_eq!(run["name"], "shell", "{run}");
    let compiled: Json = serde_json::from_str(run["content"].as_str().unwrap()).unwrap();
    assert_eq!(
        compiled["run"]["container"]["args"],
        json!(["1"]),
        "{compiled}"
    );
    let done = api.wait_until_done("demo", &uuid).await;
    assert_eq!(done["status"], "succeeded", "{done}");

    let (status, refused) = api
        .send(
            "POST",
            "/api/v1/default/demo/runs",
            Some(json!({"content": "kind: operation\nhubRef: shel\n"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(
        refused.to_string().contains("did you mean `shell`?"),
        "{refused}"
    );
}

#[tokio::test]
async fn versions_are_registered_checked_staged_and_moved() {
    let api = Api::new("versions", None).await;
    api.project("models").await;
    api.project("elsewhere").await;
    let base = "/api/v1/default/models/versions";

    let (status, body) = api
        .send("POST", &format!("{base}/component"), Some(json!({"name": "v1", "content": "kind: component\nrun: {kind: job, contianer: {image: busybox}}\n"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.to_string().contains("contianer"),
        "a component version must check: {body}"
    );
    let (status, body) = api
        .send(
            "POST",
            &format!("{base}/models"),
            Some(json!({"name": "v1"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let run = api.client_run("models", "trainer", &[]).await;
    let (status, body) = api
        .send(
            "POST",
            &format!("{base}/model"),
            Some(json!({"name": "v1", "run": run, "artifacts": ["weights"]})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "an artifact the run did not log: {body}"
    );
    let (status, created) = api
        .send(
            "POST",
            &format!("{base}/model"),
            Some(json!({"name": "v1", "run": run, "description": "first"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["run"], run.as_str());
    let (status, body) = api
        .send(
            "POST",
            &format!("{base}/model"),
            Some(json!({"name": "v1"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a taken name: {body}");

    let (status, staged) = api
        .send(
            "POST",
            &format!("{base}/model/v1/stages"),
            Some(json!({"condition": {"type": "production", "status": "True"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{staged}");
    assert_eq!(staged["stage"], "production");
    let (status, body) = api
        .send(
            "POST",
            &format!("{base}/model/v1/stages"),
            Some(json!({"condition": {"type": "shipped"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let names = api.ok("GET", &format!("{base}/model/names"), None).await;
    assert_eq!(names["results"], json!([{"name": "v1"}]));
    api.ok(
        "POST",
        &format!("{base}/model/v1/transfer"),
        Some(json!({"project": "elsewhere"})),
    )
    .await;
    let moved = api
        .ok("GET", "/api/v1/default/elsewhere/versions/model/v1", None)
        .await;
    assert_eq!(moved["description"], "first");
    assert_eq!(moved["stage_conditions"][0]["type"], "production");
    let (status, _) = api
        .send(
            "DELETE",
            "/api/v1/default/elsewhere/versions/model/v1",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.ok("GET", &format!("{base}/model"), None).await["count"],
        0
    );
}
