//! The links the real `polyaxon` CLI prints after `project create`, `run`, `ops dashboard` and
//! `ops service` (`You can view this run on Polyaxon UI: {host}/ui/default/demo/runs/{uuid}/`)
//! open Myelin's page for the same project or run, on the tab the link names.

mod support;

use support::{Browser, Server};

const JOB: &str = "kind: component
name: linked
run:
  kind: job
  container:
    image: python:3.11
    command: [python3, -c, \"print('linked')\"]
";

#[tokio::test]
async fn links_the_polyaxon_cli_prints_open_the_project_and_the_run() {
    let server = Server::start();
    let uuid = server.project_with_run("demo", JOB);
    let browser = Browser::start().await;

    // `polyaxon project create` and `project dashboard` print the project's link.
    browser.open(&server.url("/ui/default/demo/")).await;
    browser.expect_heading("demo").await;
    assert_eq!(browser.path().await, "/projects/demo");
    browser.screenshot("cli-link-project").await;

    // `polyaxon run` and `ops dashboard` print the run's; `ops service` its service's. A link
    // to a section of Polyaxon's run page opens the tab that shows the same.
    for (link, tab, title) in [
        (format!("/ui/default/demo/runs/{uuid}/"), None, "Logs"),
        (
            format!("/ui/default/demo/runs/{uuid}/service/"),
            Some("overview"),
            "Overview",
        ),
        (
            format!("/ui/default/demo/runs/{uuid}/logs"),
            Some("logs"),
            "Logs",
        ),
        (
            format!("/ui/default/demo/runs/{uuid}/files/"),
            Some("artifacts"),
            "Artifacts",
        ),
    ] {
        browser.open(&server.url(&link)).await;
        browser
            .find("//main//h1[contains(normalize-space(), 'linked')]")
            .await;
        let url = browser
            .client
            .current_url()
            .await
            .expect("cannot read the URL");
        assert_eq!(url.path(), format!("/projects/demo/runs/{uuid}"), "{link}");
        assert_eq!(
            url.query().map(str::to_owned),
            tab.map(|tab| format!("tab={tab}")),
            "{link}"
        );
        browser
            .expect_text(
                "//nav[@role='tablist']//button[@aria-selected='true']",
                title,
            )
            .await;
    }
    browser.screenshot("cli-link-run").await;

    // The link replaces itself: going back leaves the app rather than opening it again.
    let length = browser.evaluate("history.length").await;
    browser.open(&server.url("/ui/default/demo/")).await;
    browser.expect_heading("demo").await;
    assert_eq!(
        browser.evaluate("history.length").await.as_u64(),
        length.as_u64().map(|length| length + 1),
        "one entry for the link and its page"
    );

    // Polyaxon's own start and projects pages lead to the projects.
    for link in ["/ui/", "/ui/orgs/default/projects"] {
        browser.open(&server.url(link)).await;
        browser.expect_heading("Projects").await;
        assert_eq!(browser.path().await, "/projects", "{link}");
    }
    browser.close().await;
}
