//! The projects page: the team's projects from the server, and creating one with the form, as
//! a person would, with the server's refusal shown when the name is taken.

mod support;

use support::{Browser, Server};

#[tokio::test]
async fn a_project_is_created_from_the_page_and_listed() {
    let server = Server::start();
    let browser = Browser::start().await;
    browser.open(&server.url("/projects")).await;
    browser.expect_heading("Projects").await;
    browser
        .expect_text(
            "//section[@aria-label='Project list']//p",
            "No projects yet: create one above, or with polyaxon project create.",
        )
        .await;

    for (field, text) in [("name", "mnist"), ("description", "digits, small and fast")] {
        browser
            .find(&format!(
                "//form[@aria-label='New project']//input[@name='{field}']"
            ))
            .await
            .send_keys(text)
            .await
            .expect("cannot type");
    }
    let create = "//form[@aria-label='New project']//button[normalize-space()='Create project']";
    browser.click(create).await;
    browser
        .expect_text("//table//tbody/tr[1]/th", "mnist")
        .await;
    browser
        .expect_text("//table//tbody/tr[1]/td[1]", "digits, small and fast")
        .await;
    let cleared = browser
        .evaluate("document.querySelector(\"input[name='name']\").value")
        .await;
    assert_eq!(cleared, "", "the form is cleared for the next project");

    // The same name again: the server refuses, and the page says why.
    browser
        .find("//form[@aria-label='New project']//input[@name='name']")
        .await
        .send_keys("mnist")
        .await
        .expect("cannot type");
    browser.click(create).await;
    browser
        .expect_text(
            "//form[@aria-label='New project']//*[@role='alert']",
            "the server answered 409: a project named `mnist` exists already",
        )
        .await;
    let rows = browser
        .evaluate("document.querySelectorAll('table tbody tr').length")
        .await;
    assert_eq!(rows, 1);
    browser.screenshot("projects").await;
    browser.close().await;
}

#[tokio::test]
async fn a_projects_page_lists_its_versions_with_their_stages() {
    let server = Server::start();
    server.post(
        "/api/v1/default/projects/create",
        &serde_json::json!({"name": "sleeper"}),
    );
    server.post(
        "/api/v1/default/sleeper/versions/component",
        &serde_json::json!({
            "name": "v1",
            "description": "sleeps a while",
            "content": "kind: component\nrun: {kind: job, container: {image: busybox, command: [sleep, '1']}}\n",
        }),
    );
    server.post(
        "/api/v1/default/sleeper/versions/component/v1/stages",
        &serde_json::json!({"condition": {"type": "production", "status": "True"}}),
    );
    let browser = Browser::start().await;
    browser.open(&server.url("/projects/sleeper")).await;
    browser
        .expect_text(
            "//section[@aria-label='Versions']//tbody/tr[1]/td[3]",
            "production",
        )
        .await;
    browser
        .expect_text(
            "//section[@aria-label='Versions']//tbody/tr[1]/td[4]",
            "sleeps a while",
        )
        .await;
    browser.screenshot("project-versions").await;
    browser
        .click("//section[@aria-label='Versions']//a[normalize-space()='v1']")
        .await;
    assert_eq!(browser.path().await, "/hub/default/sleeper");
    browser.close().await;
}
