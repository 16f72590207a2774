//! A project's runs and a run's page: the table shows a submitted run and its status, and the
//! run page streams its 2,000 lines live, through a reload mid-stream, to its final status.

mod support;

use serde_json::json;
use support::{Browser, Server};

const PRINTER: &str = "kind: component
name: printer
run:
  kind: job
  container:
    image: python:3.11
    command: [python3, -u, -c]
    args:
    - |
      import time
      for i in range(2000):
          print(f'line-{i}')
          if i % 50 == 0:
              time.sleep(0.1)
";

#[tokio::test]
async fn a_run_is_listed_and_its_page_streams_its_logs_to_the_end() {
    let server = Server::start();
    server.post("/api/v1/default/projects/create", &json!({"name": "demo"}));
    let run = server.post("/api/v1/default/demo/runs", &json!({"content": PRINTER}));
    let uuid = run["uuid"].as_str().expect("a uuid").to_owned();

    let browser = Browser::start().await;
    browser.open(&server.url("/projects")).await;
    browser
        .find("//table//a[normalize-space()='demo']")
        .await
        .click()
        .await
        .expect("cannot click");
    browser.expect_heading("demo").await;
    browser
        .expect_text(
            "//section[@aria-label='Runs']//p[contains(@class,'count')]",
            "1 run",
        )
        .await;
    browser.screenshot("runs-table").await;
    browser
        .find("//table//a[normalize-space()='printer']")
        .await
        .click()
        .await
        .expect("cannot click");
    assert_eq!(browser.path().await, format!("/projects/demo/runs/{uuid}"));
    // Reload while the run still prints: the page streams again from the start.
    let count = "document.querySelectorAll('.log-line').length";
    let mut shown = 0;
    for _ in 0..200 {
        shown = browser.evaluate(count).await.as_u64().unwrap_or(0);
        if shown >= 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(
        (200..2000).contains(&shown),
        "{shown} lines shown before the reload"
    );
    browser.client.refresh().await.expect("cannot reload");
    browser
        .expect_text(
            "//section[@aria-label='Logs']//p[contains(@class,'log-end')]",
            "The run ended: succeeded",
        )
        .await;
    let lines = browser
        .evaluate("[...document.querySelectorAll('.log-line')].map(line => line.textContent)")
        .await;
    let expected: Vec<String> = (0..2000).map(|i| format!("line-{i}")).collect();
    assert_eq!(
        lines,
        json!(expected),
        "every line once, in order, across the reload"
    );
    browser
        .expect_text("//main//h1/span[contains(@class,'badge')]", "succeeded")
        .await;
    browser.screenshot("run-page").await;

    // The filter is in the URL: typing one changes it, and opening a URL shows its view.
    browser.open(&server.url("/projects/demo")).await;
    browser
        .find("//form[@aria-label='Filter runs']//input[@name='query']")
        .await
        .send_keys("status:failed")
        .await
        .expect("cannot type");
    browser
        .find("//form[@aria-label='Filter runs']//button")
        .await
        .click()
        .await
        .expect("cannot click");
    browser
        .expect_text(
            "//section[@aria-label='Runs']//p",
            "No runs match. Submit one with polyaxon run -f polyaxonfile.yaml -p demo.",
        )
        .await;
    assert_eq!(
        browser.evaluate("location.search").await,
        "?query=status%3Afailed"
    );
    browser
        .open(&server.url("/projects/demo?query=status%3Asucceeded"))
        .await;
    browser
        .expect_text(
            "//section[@aria-label='Runs']//p[contains(@class,'count')]",
            "1 run",
        )
        .await;
    browser
        .open(&server.url("/projects/demo?query=stauts%3Afailed"))
        .await;
    browser
        .expect_text(
            "//section[@aria-label='Runs']//*[@role='alert']",
            "the server answered 400: `query` is not valid at character 1: unknown field `stauts`; did you mean `status`?",
        )
        .await;
    browser.close().await;
}

const COLOURED: &str = r#"kind: component
name: coloured
run:
  kind: job
  container:
    image: python:3.11
    command: [python3, -u, -c]
    args:
    - |
      print("\033[1;31mERROR\033[0m disk nearly \033[93mfull\033[0m")
      print("\033[32mok\033[0m plain again")
"#;

#[tokio::test]
async fn logs_show_terminal_colours() {
    let server = Server::start();
    server.post("/api/v1/default/projects/create", &json!({"name": "demo"}));
    let run = server.post("/api/v1/default/demo/runs", &json!({"content": COLOURED}));
    let uuid = run["uuid"].as_str().expect("a uuid").to_owned();
    let browser = Browser::start().await;
    browser
        .open(&server.url(&format!("/projects/demo/runs/{uuid}")))
        .await;
    let error = browser
        .find("//div[contains(@class,'log-line')]/span[contains(@style,'var(--ansi-1)') and contains(@class,'ansi-bold')]")
        .await;
    assert_eq!(error.text().await.expect("a text"), "ERROR");
    browser
        .find(
            "//div[contains(@class,'log-line')]/span[contains(@style,'var(--ansi-2)') and text()='ok']",
        )
        .await;
    // No escape character reaches the page.
    let text = browser
        .evaluate("document.querySelector('.log-lines').textContent")
        .await;
    let text = text.as_str().unwrap_or_default();
    assert!(text.contains("ERROR disk nearly full"), "{text}");
    assert!(!text.contains('\u{1b}') && !text.contains("[0m"), "{text}");
    browser.screenshot("logs-ansi").await;
    browser.close().await;
}

#[tokio::test]
async fn the_runs_table_follows_runs_as_the_server_records_them() {
    let server = Server::start();
    server.post("/api/v1/default/projects/create", &json!({"name": "demo"}));
    let browser = Browser::start().await;
    browser.open(&server.url("/projects/demo")).await;
    browser.expect_heading("demo").await;
    browser
        .find("//section[@aria-label='Runs']//p[starts-with(normalize-space(),'No runs match.')]")
        .await;
    // Submitted while the page is open: nothing reloads it but what the server pushes.
    let quick = "kind: component\nname: pushed\nrun:\n  kind: job\n  container:\n    image: busybox\n    command: [sh, -c, 'sleep 1; echo done']\n";
    server.post("/api/v1/default/demo/runs", &json!({"content": quick}));
    browser.find("//table//a[normalize-space()='pushed']").await;
    browser
        .find("//table//tr[.//a[normalize-space()='pushed']]//*[contains(@class,'badge') and normalize-space()='succeeded']")
        .await;
    browser.close().await;
}

#[tokio::test]
async fn a_run_is_stopped_restarted_and_deleted_from_its_page() {
    let server = Server::start();
    server.post("/api/v1/default/projects/create", &json!({"name": "demo"}));
    let waiting = "kind: component\nname: waiting\nrun:\n  kind: job\n  container:\n    image: busybox\n    command: [sh, -c, 'echo started; sleep 60']\n";
    let run = server.post("/api/v1/default/demo/runs", &json!({"content": waiting}));
    let uuid = run["uuid"].as_str().expect("a uuid").to_owned();
    let browser = Browser::start().await;
    browser
        .open(&server.url(&format!("/projects/demo/runs/{uuid}")))
        .await;
    let badge = |status: &str| {
        format!("//header//h1//*[contains(@class,'badge') and normalize-space()='{status}']")
    };
    browser.find(&badge("running")).await;
    let actions = "//div[@aria-label='Run actions']";
    browser
        .find(&format!("{actions}/button[text()='Stop']"))
        .await
        .click()
        .await
        .expect("cannot stop");
    browser.find(&badge("stopped")).await;

    browser
        .find(&format!("{actions}/button[text()='Restart']"))
        .await
        .click()
        .await
        .expect("cannot restart");
    let mut path = String::new();
    for _ in 0..100 {
        path = browser.path().await;
        if path.starts_with("/projects/demo/runs/") && !path.ends_with(&uuid) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let restarted = path.rsplit('/').next().unwrap_or_default().to_owned();
    assert!(
        restarted.len() == 32 && restarted != uuid,
        "still at {path}"
    );
    browser.find(&badge("running")).await;
    // The page shows the new run's logs, not the stopped one's end.
    browser
        .find("//*[contains(@class,'log-line') and normalize-space()='started']")
        .await;
    let ended = browser
        .evaluate("document.querySelectorAll('.log-end').length")
        .await;
    assert_eq!(ended, json!(0), "the stopped run's end is still shown");
    browser.screenshot("run-actions").await;

    // Deleting asks first; accepted, the run is gone and the project's page shows.
    browser
        .find(&format!("{actions}/button[text()='Delete']"))
        .await
        .click()
        .await
        .expect("cannot delete");
    browser.client.accept_alert().await.expect("a confirmation");
    browser.expect_heading("demo").await;
    assert_eq!(browser.path().await, "/projects/demo");
    let gone = server.get_status(&format!("/api/v1/default/demo/runs/{restarted}"));
    assert_eq!(gone, 404);
    browser.close().await;
}
