//! A team's server in the browser: a person signs in with their own token, sees the team's
//! runs with who made each, and does not see a project limited to someone else.

mod support;

use serde_json::json;
use support::{Browser, Server};

const TOKEN: &str = "e2e-people-token";

const JOB: &str = "kind: component\nname: trainer\nrun:\n  kind: job\n  container:\n    image: python:3.11\n    command: [python3, -c, 'print(1)']\n";

#[tokio::test]
async fn a_person_signs_in_with_their_token_and_sees_who_made_each_run() {
    let server = Server::with_token(TOKEN);
    let mut keys = Vec::new();
    for name in ["ada", "bob"] {
        server.post("/api/v1/orgs/default/members", &json!({"username": name}));
        let token = server.post(
            &format!("/api/v1/orgs/default/members/{name}/tokens"),
            &json!({"name": "browser"}),
        );
        keys.push(token["key"].as_str().expect("a key").to_owned());
    }
    let (ada, bob) = (keys[0].as_str(), keys[1].as_str());
    server.post_as(
        Some(ada),
        "/api/v1/default/projects/create",
        &json!({"name": "team"}),
    );
    server.post_as(
        Some(ada),
        "/api/v1/default/projects/create",
        &json!({"name": "private", "members": ["ada"]}),
    );
    for (token, name) in [(ada, "ada-run"), (bob, "bob-run"), (ada, "ada-again")] {
        server.post_as(
            Some(token),
            "/api/v1/default/team/runs",
            &json!({"content": JOB, "name": name}),
        );
    }

    let browser = Browser::start().await;
    browser.open(&server.url("/projects")).await;
    browser.expect_heading("Sign in").await;
    let field = browser
        .find("//form[@aria-label='Sign in']//input[@name='token']")
        .await;
    field
        .send_keys(&format!("{bob}\n"))
        .await
        .expect("cannot type the token");
    browser
        .expect_text("//table//a[normalize-space()='team']", "team")
        .await;
    let projects = browser
        .evaluate("[...document.querySelectorAll('table a')].map(a => a.textContent.trim())")
        .await;
    assert!(
        !projects.to_string().contains("private"),
        "Bob does not see Ada's private project: {projects}"
    );
    browser.click("//table//a[normalize-space()='team']").await;
    browser
        .expect_text(
            "//section[@aria-label='Runs']//p[contains(@class,'count')]",
            "3 runs",
        )
        .await;
    browser
        .expect_text("//table//th[@data-column='user']", "USER")
        .await;
    let makers = browser
        .evaluate(
            "(() => { const at = [...document.querySelectorAll('table thead th')] \
               .findIndex(head => head.dataset.column === 'user'); \
             return [...document.querySelectorAll('table tbody tr')] \
               .filter(row => row.querySelector('th[scope=row]')).map(row => \
               [row.querySelector('th[scope=row]').textContent.trim(), \
                row.children[at].textContent.trim()]); })()",
        )
        .await;
    assert_eq!(
        makers,
        json!([["ada-again", "ada"], ["bob-run", "bob"], ["ada-run", "ada"]]),
        "{makers}"
    );
    browser.screenshot("people-runs").await;
    browser.close().await;
}
