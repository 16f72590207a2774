//! Pipelines written in the editor and run on the process runtime: a three-operation DAG shown
//! as a graph whose operations take their runs' statuses, and a four-run grid whose results
//! (a metric logged by the real tracking client) show as a chart with the best run marked.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::{Browser, Server, tracking_python};

/// JavaScript that replaces the editor's whole text, as a paste would.
fn paste(text: &str) -> String {
    format!(
        "monaco.editor.getEditors()[0].executeEdits('e2e', [{{range: monaco.editor.getEditors()[0].getModel().getFullModelRange(), text: {}}}])",
        serde_json::to_string(text).unwrap()
    )
}

/// Waits until the page's `expression` is true, for up to a minute.
async fn wait_until(browser: &Browser, expression: &str, what: &str, shot: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if browser.evaluate(expression).await == json!(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    browser.screenshot(shot).await;
    panic!("{what}; the page is in {shot}.png");
}

/// Pastes `text` into the editor, waits for its preview, runs it, and waits on the new run's
/// page for it to succeed; the page's path.
async fn run_from_editor(browser: &Browser, server: &Server, text: &str, preview: &str) -> String {
    browser.open(&server.url("/new")).await;
    browser
        .find("//div[@data-testid='editor']//div[contains(@class,'monaco-editor')]")
        .await;
    browser.evaluate(&paste(text)).await;
    browser.find(preview).await;
    browser.click("//button[text()='Run']").await;
    let mut path = String::new();
    for _ in 0..200 {
        path = browser.path().await;
        if path.starts_with("/projects/demo/runs/") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(path.starts_with("/projects/demo/runs/"), "still at {path}");
    wait_until(
        browser,
        "[...document.querySelectorAll('header .badge')].some(b => b.textContent.trim() == 'succeeded')",
        "the pipeline did not succeed",
        "pipeline-failed",
    )
    .await;
    path
}

const DAG: &str = "kind: operation
name: flow
component:
  run:
    kind: dag
    operations:
    - {name: prepare, dagRef: say, params: {word: {value: prepared}}}
    - {name: train, dagRef: say, dependencies: [prepare], params: {word: {value: trained}}}
    - {name: evaluate, dagRef: say, dependencies: [train], params: {word: {value: evaluated}}}
    components:
    - name: say
      inputs: [{name: word, type: str}]
      run:
        kind: job
        container:
          image: python:3.11
          command: [python3, -c, 'import time; time.sleep(0.5); print(\"{{ word }}\")']
";

/// A grid of four learning rates; each run logs a loss lowest at 0.1.
fn grid() -> String {
    let script = "import sys\nfrom polyaxon import tracking\nlr = float(sys.argv[1])\ntracking.init()\nfor step in range(1, 4):\n    tracking.log_metrics(step=step, loss=(lr - 0.1) ** 2 + 1.0 / step)\ntracking.end()\n";
    format!(
        "kind: operation
name: sweep
matrix:
  kind: grid
  concurrency: 2
  params:
    lr: {{kind: choice, value: [0.01, 0.03, 0.1, 0.3]}}
component:
  inputs: [{{name: lr, type: float}}]
  run:
    kind: job
    container:
      image: python:3.11
      command: [{}, -u, -c, {}, '{{{{ lr }}}}']
",
        serde_json::to_string(&tracking_python().to_string_lossy()).unwrap(),
        serde_json::to_string(script).unwrap()
    )
}

#[tokio::test]
async fn a_dag_and_a_grid_from_the_editor_run_and_show_as_a_graph_and_a_results_chart() {
    let server = Server::start();
    server.post("/api/v1/default/projects/create", &json!({"name": "demo"}));
    let browser = Browser::start().await;

    // The DAG: its graph takes each operation's status, and an operation opens its run.
    run_from_editor(
        &browser,
        &server,
        DAG,
        "//*[name()='svg' and @aria-label='DAG']",
    )
    .await;
    browser
        .find("//nav[@aria-label='Run sections']/button[@aria-selected='true' and text()='Runs']")
        .await;
    wait_until(
        &browser,
        "document.querySelectorAll(\"section[aria-label='Graph'] svg.dag g.op[data-status='succeeded']\").length == 3",
        "the graph does not show three succeeded operations",
        "pipeline-dag-failed",
    )
    .await;
    let edges = browser
        .evaluate(
            "document.querySelectorAll(\"section[aria-label='Graph'] svg.dag path.edge\").length",
        )
        .await;
    assert_eq!(edges, json!(2), "prepare → train → evaluate");
    wait_until(
        &browser,
        "document.querySelectorAll(\"section[aria-label='Pipeline runs'] tbody tr[data-uuid]\").length == 3",
        "the runs table does not list the three runs",
        "pipeline-dag-failed",
    )
    .await;
    browser.screenshot("pipeline-dag").await;
    browser
        .click("//section[@aria-label='Graph']//*[name()='g' and contains(@class,'op')][*[name()='text' and text()='train']]")
        .await;
    browser
        .find("//header//h1[starts-with(normalize-space(),'train')]")
        .await;
    browser
        .find("//*[contains(@class,'log-line') and contains(.,'trained')]")
        .await;

    // The grid: four runs, their loss against their learning rate, the best ringed.
    run_from_editor(
        &browser,
        &server,
        &grid(),
        "//p[contains(@class,'matrix-count') and contains(.,'4 runs')]",
    )
    .await;
    wait_until(
        &browser,
        "document.querySelectorAll(\"section[aria-label='Results'] svg.scatter circle.point\").length == 4",
        "the results chart does not show four runs",
        "pipeline-grid-failed",
    )
    .await;
    let best = browser
        .evaluate(
            "(() => { const best = document.querySelector(\"section[aria-label='Results'] circle.best\"); \
             const points = [...document.querySelectorAll(\"section[aria-label='Results'] circle.point\")]; \
             const at = points.find(p => p.getAttribute('cx') == best.getAttribute('cx') && p.getAttribute('cy') == best.getAttribute('cy')); \
             return at.querySelector('title').textContent; })()",
        )
        .await;
    assert!(
        best.as_str().unwrap_or_default().starts_with("lr 0.1 "),
        "{best}"
    );
    browser.screenshot("pipeline-grid").await;
    browser.close().await;
}
