//! Comparing runs of a real training script that logs with the real tracking client (PyPI
//! polyaxon 2.18): three `lr` values, their charts, what differs, grouping, parallel
//! coordinates, the spec diff, and the whole view reopened from its address in a second
//! browser.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use support::{Browser, Server, tracking_python};

/// A training run: `loss` falls at a speed set by `lr`, logged every step by the tracking
/// client; `epochs` and `seed` are the same in every run.
fn training(lr: f64) -> Json {
    let script = "import sys\nfrom polyaxon import tracking\n\
        lr = float(sys.argv[1])\n\
        tracking.init()\n\
        for step in range(1, 41):\n    tracking.log_metrics(step=step, loss=1.0 / (1.0 + lr * step * 10), accuracy=1.0 - 1.0 / (1.0 + lr * step))\n\
        tracking.end()\n";
    let component = format!(
        "kind: component\nname: train\ninputs:\n- {{name: lr, type: float}}\n- {{name: epochs, type: int, value: 3, isOptional: true}}\n- {{name: seed, type: int, value: 1, isOptional: true}}\nrun:\n  kind: job\n  container:\n    image: python:3.11\n    command: [{}, -u, -c, {}, '{{{{ lr }}}}']\n",
        serde_json::to_string(&tracking_python().to_string_lossy()).unwrap(),
        serde_json::to_string(script).unwrap(),
    );
    let operation = format!(
        "kind: operation\nname: train-{}\nparams:\n  lr: {{value: {lr}}}\ncomponent:\n{}",
        lr.to_string().replace('.', "-"),
        component
            .lines()
            .map(|line| format!("  {line}\n"))
            .collect::<String>()
    );
    json!({ "content": operation })
}

/// Waits until the page's `expression` is true.
async fn wait_until(browser: &Browser, expression: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if browser.evaluate(expression).await == json!(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.screenshot("compare-failed").await;
    panic!("{what}; the page is in compare-failed.png");
}

/// Clicks what `xpath` finds once it is scrolled to the middle of the window, clear of the
/// sticky top bar.
async fn click_centered(browser: &Browser, xpath: &str) {
    browser.find(xpath).await;
    browser
        .evaluate(&format!(
            "document.evaluate({}, document, null, 9, null).singleNodeValue.scrollIntoView({{block: 'center'}})",
            serde_json::to_string(xpath).unwrap()
        ))
        .await;
    browser.click(xpath).await;
}

/// The labels of the lines the chart of `metric` draws (its legend, without the bands).
const LINES: &str = "(metric) => [...document.querySelectorAll(`figure[aria-label='Chart of ${metric}'] .u-legend .u-series`)].slice(1).filter(row => row.style.display !== 'none').map(row => row.querySelector('.u-label').textContent)";

#[tokio::test]
async fn three_runs_compare_by_chart_table_groups_and_spec_and_reopen_from_the_link() {
    let server = Server::start();
    server.post("/api/v1/default/projects/create", &json!({"name": "demo"}));
    let uuids: Vec<String> = [0.1, 0.01, 0.001]
        .into_iter()
        .map(|lr| {
            server.post("/api/v1/default/demo/runs", &training(lr))["uuid"]
                .as_str()
                .expect("a uuid")
                .to_owned()
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(90);
    for uuid in &uuids {
        loop {
            let run = server.get(&format!("/api/v1/default/demo/runs/{uuid}"));
            match run["status"].as_str() {
                Some("succeeded") => break,
                Some("failed" | "stopped") => panic!("the training run failed: {run}"),
                _ => {}
            }
            assert!(Instant::now() < deadline, "the runs did not finish: {run}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    let browser = Browser::start().await;
    // The Runs page: each run's `loss`, its last value and its lowest.
    browser
        .open(
            &server.url("/runs?columns=name,project,inputs.lr,metrics.loss.last,metrics.loss.min"),
        )
        .await;
    let table = "[...document.querySelectorAll('table.runs tbody tr[aria-rowindex]')].map(row => [...row.children].slice(1).map(cell => cell.textContent.trim()))";
    wait_until(
        &browser,
        &format!("{table}.length === 3"),
        "three runs listed",
    )
    .await;
    let mut rows: Vec<Vec<String>> =
        serde_json::from_value(browser.evaluate(table).await).expect("rows of cells");
    rows.sort();
    assert_eq!(
        rows,
        [
            ["train-0-001", "demo", "0.001", "0.714286", "0.714286"],
            ["train-0-01", "demo", "0.01", "0.2", "0.2"],
            ["train-0-1", "demo", "0.1", "0.0243902", "0.0243902"],
        ]
    );
    // Selected, then compared.
    for name in ["train-0-1", "train-0-01", "train-0-001"] {
        browser
            .click(&format!(
                "//table//tbody//input[@aria-label='Select {name}']"
            ))
            .await;
    }
    browser.screenshot("compare-runs-page").await;
    browser
        .click("//div[@aria-label='Selected runs']//a[normalize-space()='Compare']")
        .await;
    browser.expect_heading("Compare").await;
    let address = browser.client.current_url().await.expect("a URL");
    let mut compared: Vec<String> = address
        .query_pairs()
        .find(|(key, _)| key == "runs")
        .map(|(_, runs)| runs.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    compared.sort();
    let mut submitted = uuids.clone();
    submitted.sort();
    assert_eq!(compared, submitted);

    // Three lines on the loss chart, one per run, named after the runs.
    let lines = format!("({LINES})('loss')");
    wait_until(
        &browser,
        &format!("{lines}.length === 3"),
        "three lines on the loss chart",
    )
    .await;
    let mut drawn: Vec<String> =
        serde_json::from_value(browser.evaluate(&lines).await).expect("labels");
    drawn.sort();
    assert_eq!(drawn, ["train-0-001", "train-0-01", "train-0-1"]);
    // Pointing at the chart shows every run's value there.
    click_centered(
        &browser,
        "//figure[@aria-label='Chart of loss']//div[contains(@class,'u-over')]",
    )
    .await;
    let values = "[...document.querySelectorAll(\"figure[aria-label='Chart of loss'] .u-legend .u-series\")].slice(1, 4).map(row => row.querySelector('.u-value').textContent)";
    wait_until(
        &browser,
        &format!("{values}.every(value => /\\d/.test(value))"),
        "each run's value under the pointer",
    )
    .await;

    // `lr` differs and is marked; `epochs` is the same everywhere and leaves with the switch.
    let row = |name: &str| {
        format!("//section[@aria-label='Values']//tbody/tr[th[contains(., '{name}')]]")
    };
    let lr = browser.find(&row("lr")).await;
    assert!(
        lr.attr("class")
            .await
            .unwrap()
            .unwrap_or_default()
            .contains("differs"),
        "lr is not marked as differing"
    );
    browser.find(&row("epochs")).await;
    click_centered(&browser, "//input[@aria-label='Only what differs']").await;
    wait_until(
        &browser,
        "![...document.querySelectorAll(\"section[aria-label='Values'] tbody th\")].some(th => th.textContent.includes('epochs'))",
        "equal rows hidden",
    )
    .await;
    browser.find(&row("lr")).await;

    // The compiled specs differ only where `lr` is written.
    let diff = browser
        .evaluate("[...document.querySelectorAll(\"section[aria-label='Spec differences'] pre\")].map(pre => pre.textContent)")
        .await;
    let diffs = diff.as_array().expect("a list");
    assert_eq!(diffs.len(), 2, "{diff}");
    for text in diffs {
        let text = text.as_str().unwrap();
        // The name, `lr`'s value and the argument it renders into; nothing else.
        assert!(text.contains("\"value\": 0.0"), "{text}");
        for line in text.lines() {
            assert!(
                line.contains("train-0-") || line.contains("0.0") || line.contains("0.1"),
                "a line that does not differ by lr: {line}\n{text}"
            );
        }
        assert!(!text.contains("image"), "an equal line is shown: {text}");
    }

    // Parallel coordinates: a line per run across the inputs and the metric.
    let polylines =
        "document.querySelectorAll(\"section[aria-label='Parallel coordinates'] polyline\").length";
    assert_eq!(browser.evaluate(polylines).await, json!(3));
    browser.screenshot("compare").await;
    browser
        .evaluate("document.querySelector(\"section[aria-label='Metrics']\").scrollIntoView()")
        .await;
    browser.screenshot("compare-charts").await;
    browser
        .evaluate("document.querySelector(\"section[aria-label='Parallel coordinates']\").scrollIntoView()")
        .await;
    browser.screenshot("compare-parallel").await;

    // The scatter: a point per run, the first input (`epochs`, the same for all) at first,
    // then `lr`, whose three values spread the three points across.
    let dots = "[...document.querySelectorAll(\"section[aria-label='Scatter'] circle\")]";
    assert_eq!(browser.evaluate(&format!("{dots}.length")).await, json!(3));
    browser
        .evaluate(
            "(() => { const select = document.querySelector(\"select[aria-label='Scatter input']\"); \
             select.value = 'lr'; select.dispatchEvent(new Event('change')); return true; })()",
        )
        .await;
    let spread = format!("new Set({dots}.map((dot) => dot.getAttribute('cx'))).size");
    assert_eq!(browser.evaluate(&spread).await, json!(3));
    browser
        .evaluate("document.querySelector(\"section[aria-label='Scatter']\").scrollIntoView()")
        .await;
    browser.screenshot("compare-scatter").await;

    // Grouped by `seed` (the same in all): one line, the mean of the three, with their spread.
    click_centered(
        &browser,
        "//fieldset[@aria-label='Group inputs']//label[normalize-space()='seed']/input",
    )
    .await;
    wait_until(
        &browser,
        &format!("{lines}.length === 1"),
        "one line per group",
    )
    .await;
    assert_eq!(browser.evaluate(&lines).await, json!(["seed=1 (3 runs)"]));
    browser.screenshot("compare-grouped").await;

    // The address holds the whole view: a second browser opens the same.
    let address = browser
        .client
        .current_url()
        .await
        .expect("a URL")
        .to_string();
    assert!(
        address.contains("group=seed") && address.contains("differs=1"),
        "{address}"
    );
    let second = Browser::start().await;
    second.open(&address).await;
    wait_until(
        &second,
        &format!("{lines}.length === 1"),
        "the grouped line in the second browser",
    )
    .await;
    assert_eq!(second.evaluate(&lines).await, json!(["seed=1 (3 runs)"]));
    let switch = second
        .find("//input[@aria-label='Only what differs']")
        .await
        .prop("checked")
        .await
        .expect("a property");
    assert_eq!(switch.as_deref(), Some("true"));
    second.close().await;
    browser.close().await;
}
