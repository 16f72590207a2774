//! The hub's services for real: TensorBoard and JupyterLab, installed from PyPI by the test
//! set-up, launched from the hub, opened from their run pages through Myelin's proxy, and
//! used: TensorBoard shows a scalar from event files the test wrote, JupyterLab runs a cell
//! over its kernel's WebSocket.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use fantoccini::key::Key;
use serde_json::json;
use support::{Browser, Server, TempDir};

const SEARCH: &str = "//input[@aria-label='Search components']";

/// Event files as a training script writes them, by TensorBoard's own writer: `loss` at
/// steps 0 to 9, falling from 1.0.
fn write_event_files(folder: &Path) {
    let venv = std::env::var_os("MYELIN_SERVICES_VENV").expect("the services venv");
    let script = r#"
import sys, time
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter
writer = EventFileWriter(sys.argv[1])
for step in range(10):
    value = summary_pb2.Summary.Value(tag="loss", simple_value=1.0 / (step + 1))
    summary = summary_pb2.Summary(value=[value])
    writer.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))
writer.close()
"#;
    let status = Command::new(Path::new(&venv).join("bin/python"))
        .args(["-c", script])
        .arg(folder.join("train"))
        .status()
        .expect("cannot start the venv's Python");
    assert!(status.success(), "cannot write the event files");
}

/// Waits until `expression` (which may be a promise) is true in the page.
async fn wait_until(browser: &Browser, expression: &str, patience: Duration, what: &str) {
    let deadline = Instant::now() + patience;
    while Instant::now() < deadline {
        if browser.evaluate(expression).await == json!(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    browser.screenshot("hub-services-failed").await;
    panic!("{what}: not within {patience:?}; the page is in hub-services-failed.png");
}

/// From the hub: search, open the component, pick `tag`, Launch; the editor on its `hubRef`.
async fn launch_from_hub(browser: &Browser, server: &Server, search: &str, title: &str, tag: &str) {
    browser.open(&server.url("/hub")).await;
    browser
        .find(SEARCH)
        .await
        .send_keys(search)
        .await
        .expect("cannot type");
    browser
        .click(&format!(
            "//ul[@aria-label='Components']/li//h2/a[normalize-space()='{title}']"
        ))
        .await;
    browser.expect_heading(title).await;
    browser
        .click(&format!(
            "//select[@aria-label='Version']/option[text()='{tag}']"
        ))
        .await;
    browser
        .click("//header//a[normalize-space()='Launch']")
        .await;
    browser.expect_heading("New run").await;
}

/// Submits the new run once the file is valid, and follows the run page's **Open** link to
/// the service; the run's uuid.
async fn run_and_open(browser: &Browser, server: &Server) -> String {
    browser
        .expect_text(
            "//div[@aria-label='Problems']/p[@role='status']",
            "No problems: the file is valid.",
        )
        .await;
    browser
        .click("//header//button[normalize-space()='Run']")
        .await;
    let mut path = String::new();
    for _ in 0..200 {
        path = browser.path().await;
        if path.starts_with("/projects/demo/runs/") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let uuid = path
        .strip_prefix("/projects/demo/runs/")
        .unwrap_or_else(|| panic!("the run page did not open: still at {path}"))
        .trim_end_matches('/')
        .to_owned();
    let open = browser.find("//a[normalize-space()='Open']").await;
    let href = open
        .attr("href")
        .await
        .expect("a link")
        .expect("with an address");
    assert!(href.contains(&uuid), "{href}");
    browser.open(&server.url(&href)).await;
    uuid
}

#[tokio::test]
async fn tensorboard_from_the_hub_shows_a_scalar_from_real_event_files() {
    let server = Server::with_services();
    server.post("/api/v1/default/projects/create", &json!({"name": "demo"}));
    let logs = TempDir::new("tensorboard-logs");
    write_event_files(&logs.0);
    let browser = Browser::start().await;

    launch_from_hub(&browser, &server, "tensor", "TensorBoard", "path").await;
    browser
        .find("//section[@aria-label='Inputs']//input[@name='path']")
        .await
        .send_keys(&logs.0.display().to_string())
        .await
        .expect("cannot type the input");
    run_and_open(&browser, &server).await;

    // TensorBoard's own page, under the run's address, with the scalar's card.
    wait_until(
        &browser,
        "document.title.includes('TensorBoard') && document.body.innerText.includes('loss')",
        Duration::from_secs(90),
        "TensorBoard's page with the `loss` scalar",
    )
    .await;
    // The values are the files': TensorBoard read them, through the proxy.
    let values = browser
        .evaluate(
            "fetch('data/plugin/scalars/scalars?run=train&tag=loss').then(answer => answer.json()).then(points => points.map(point => [point[1], point[2]]))",
        )
        .await;
    let expected: Vec<(u64, f64)> = (0..10)
        .map(|step| (step, 1.0 / (step + 1) as f64))
        .collect();
    let read: Vec<(u64, f64)> =
        serde_json::from_value(values.clone()).expect("[step, value] pairs");
    assert_eq!(read.len(), expected.len(), "{values}");
    for ((step, value), (expected_step, expected_value)) in read.iter().zip(&expected) {
        assert_eq!(step, expected_step);
        assert!((value - expected_value).abs() < 1e-6, "{values}");
    }
    browser.screenshot("hub-tensorboard").await;
    browser.close().await;
}

#[tokio::test]
async fn jupyterlab_from_the_hub_runs_a_cell_over_its_websocket() {
    let server = Server::with_services();
    server.post("/api/v1/default/projects/create", &json!({"name": "demo"}));
    let browser = Browser::start().await;

    launch_from_hub(&browser, &server, "jupyter", "JupyterLab", "latest").await;
    run_and_open(&browser, &server).await;

    // JupyterLab's launcher, then a notebook on the Python kernel.
    let notebook = "//div[contains(@class,'jp-LauncherCard') and @data-category='Notebook']";
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let found = browser
            .client
            .find(fantoccini::Locator::XPath(notebook))
            .await;
        if let Ok(card) = found {
            card.click().await.expect("cannot open a notebook");
            break;
        }
        if Instant::now() > deadline {
            browser.screenshot("hub-services-failed").await;
            panic!("JupyterLab's launcher did not show; the page is in hub-services-failed.png");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The kernel is connected (over the WebSocket) and idle.
    wait_until(
        &browser,
        "!!document.querySelector('.jp-Notebook') && [...document.querySelectorAll('.jp-Toolbar-kernelStatus, .jp-StatusBar-TextItem, [data-status]')].some(item => /Idle/i.test(item.textContent) || item.getAttribute('data-status') === 'idle')",
        Duration::from_secs(60),
        "the notebook's kernel to be idle",
    )
    .await;
    let cell = "//div[contains(@class,'jp-Notebook')]//div[contains(@class,'jp-Cell')][1]//div[contains(@class,'cm-content')]";
    browser.find(cell).await;
    // Typed, then run with Shift+Enter. JupyterLab may not take keys yet (its editor not yet
    // interactable) and drops a run asked for while its kernel connection is still settling,
    // as a person would see: they type and press it again.
    let run = format!("{}{}", char::from(Key::Shift), char::from(Key::Enter));
    let output = "[...document.querySelectorAll('.jp-OutputArea-output')].some(output => output.textContent.trim() === '2')";
    let mut shown = false;
    for _ in 0..4 {
        // The first cell's editor takes the focus (JupyterLab makes it the active cell, as a
        // click does, without WebDriver's wait for a widget that JupyterLab may be redrawing).
        browser
            .evaluate("document.querySelector('.jp-Notebook .jp-Cell .cm-content').focus()")
            .await;
        let focused = browser
            .client
            .active_element()
            .await
            .expect("a focused element");
        // A redraw of the cell may also have swallowed what was typed: it is typed again.
        let code = browser
            .evaluate("document.querySelector('.jp-Notebook .jp-Cell .cm-content').textContent")
            .await;
        let keys = if code.as_str().is_some_and(|code| code.trim() == "1+1") {
            run.clone()
        } else {
            format!("1+1{run}")
        };
        // JupyterLab may redraw the cell between focusing and typing (the element goes
        // stale): focus it again and type again.
        if let Err(error) = focused.send_keys(&keys).await {
            eprintln!("typing into the cell again: {error}");
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        for _ in 0..60 {
            shown = browser.evaluate(output).await == json!(true);
            if shown {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        if shown {
            break;
        }
    }
    if !shown {
        browser.screenshot("hub-services-failed").await;
        panic!("the cell's output `2` did not show; the page is in hub-services-failed.png");
    }
    let prompt = browser
        .evaluate("document.querySelector('.jp-Cell .jp-InputPrompt').textContent.trim()")
        .await;
    assert!(
        prompt
            .as_str()
            .is_some_and(|prompt| prompt.starts_with('[') && prompt != "[ ]:"),
        "{prompt}"
    );
    browser.screenshot("hub-jupyterlab").await;
    browser.close().await;
}
