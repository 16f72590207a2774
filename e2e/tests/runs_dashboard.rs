//! The Runs page across projects: runs of two projects, each writing a `loss` series as
//! Polyaxon's tracking client does (traceml's `events/metric/loss.plx`), listed with their
//! project and their loss's last and lowest values; filtered and sorted on those values by
//! the server, exported as CSV, and the chosen runs sent to the compare page.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use support::{Browser, Server};

/// A run named `name` with input `lr` that logs `losses` at steps 1, 2, … and ends.
fn training(name: &str, lr: f64, losses: &[f64]) -> Json {
    // traceml's file: a header, then each event preceded by a newline.
    let script = "import os, sys\n\
        folder = os.path.join(sys.argv[1], 'events', 'metric')\n\
        os.makedirs(folder, exist_ok=True)\n\
        with open(os.path.join(folder, 'loss.plx'), 'w') as plx:\n    \
            plx.write('step|timestamp|metric')\n    \
            for step, value in enumerate(sys.argv[2].split(','), 1):\n        \
                plx.write('\\n%d|2026-12-01 10:00:%02d.000000+00:00|%s' % (step, step, value))\n";
    let losses: Vec<String> = losses.iter().map(f64::to_string).collect();
    let component = format!(
        "kind: component\nname: train\ninputs:\n- {{name: lr, type: float}}\nrun:\n  kind: job\n  container:\n    image: python:3.11\n    command: [python3, -c, {}, '{{{{ globals.run_artifacts_path }}}}', '{}']\n",
        serde_json::to_string(script).unwrap(),
        losses.join(","),
    );
    let operation = format!(
        "kind: operation\nname: {name}\nparams:\n  lr: {{value: {lr}}}\ncomponent:\n{}",
        component
            .lines()
            .map(|line| format!("  {line}\n"))
            .collect::<String>()
    );
    json!({ "content": operation })
}

/// The table's rows in view, each as its cells' texts by column key (`name`, `project`,
/// `metrics.loss.min`, …), in order.
const ROWS: &str = "(() => {
    const keys = [...document.querySelectorAll('table.runs thead th[data-column]')].map(th => th.dataset.column);
    return [...document.querySelectorAll('table.runs tbody tr[data-uuid]')].map(row => {
        const cells = [...row.querySelectorAll('th, td:not(.select)')].map(cell => cell.textContent.trim());
        return Object.fromEntries(keys.map((key, index) => [key, cells[index]]));
    });
})()";

/// Waits until the table's rows, reduced to `keys`, are `expected`, in order.
async fn expect_rows(browser: &Browser, keys: &[&str], expected: &[&[&str]]) {
    expect_rows_within(Duration::from_secs(20), browser, keys, expected).await;
}

/// [`expect_rows`], waiting up to `patience`.
async fn expect_rows_within(
    patience: Duration,
    browser: &Browser,
    keys: &[&str],
    expected: &[&[&str]],
) {
    let expected: Vec<Vec<String>> = expected
        .iter()
        .map(|row| row.iter().map(|cell| (*cell).to_owned()).collect())
        .collect();
    let deadline = Instant::now() + patience;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let rows: Vec<BTreeMap<String, String>> =
            serde_json::from_value(browser.evaluate(ROWS).await).unwrap_or_default();
        seen = rows
            .iter()
            .map(|row| {
                keys.iter()
                    .map(|key| row.get(*key).cloned().unwrap_or_default())
                    .collect::<Vec<_>>()
            })
            .collect();
        if seen == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.screenshot("runs-dashboard-failed").await;
    panic!("the rows' {keys:?} should be {expected:?} but are {seen:?}");
}

#[tokio::test]
async fn runs_of_every_project_filter_sort_on_metrics_export_and_compare() {
    let server = Server::start();
    for project in ["vision", "speech"] {
        server.post("/api/v1/default/projects/create", &json!({"name": project}));
    }
    let mut uuids = BTreeMap::new();
    for (project, name, lr, losses) in [
        ("vision", "cnn-a", 0.1, &[0.9, 0.2, 0.4]),
        ("vision", "cnn-b", 0.01, &[0.8, 0.6, 0.5]),
        ("speech", "rnn-a", 0.05, &[0.7, 0.05, 0.1]),
    ] {
        let run = server.post(
            &format!("/api/v1/default/{project}/runs"),
            &training(name, lr, losses),
        );
        uuids.insert(name, run["uuid"].as_str().expect("a uuid").to_owned());
    }
    let browser = Browser::start().await;
    browser.open(&server.url("/runs")).await;
    browser.expect_heading("Runs").await;
    let count = "//section[@aria-label='Runs']//p[contains(@class,'count')]";
    browser.expect_text(count, "3 runs").await;
    // The page reads the runs again as they run (their scripts start Python).
    expect_rows_within(
        Duration::from_secs(90),
        &browser,
        &["name", "status"],
        &[
            &["rnn-a", "succeeded"],
            &["cnn-b", "succeeded"],
            &["cnn-a", "succeeded"],
        ],
    )
    .await;
    // By default: each run's project and its inputs and metrics' last values, newest first.
    expect_rows(
        &browser,
        &["name", "project", "inputs.lr", "metrics.loss.last"],
        &[
            &["rnn-a", "speech", "0.05", "0.1"],
            &["cnn-b", "vision", "0.01", "0.5"],
            &["cnn-a", "vision", "0.1", "0.4"],
        ],
    )
    .await;
    // The lowest loss is one more column away.
    browser
        .click("//details[contains(@class,'columns')]/summary")
        .await;
    browser
        .click("//details[contains(@class,'columns')]//label[normalize-space()='loss (min)']/input")
        .await;
    browser
        .click("//details[contains(@class,'columns')]/summary")
        .await;
    expect_rows(
        &browser,
        &["name", "metrics.loss.last", "metrics.loss.min"],
        &[
            &["rnn-a", "0.1", "0.05"],
            &["cnn-b", "0.5", "0.5"],
            &["cnn-a", "0.4", "0.2"],
        ],
    )
    .await;
    let search = browser.evaluate("location.search").await;
    assert!(
        search
            .as_str()
            .is_some_and(|search| search.contains("metrics.loss.last%2Cmetrics.loss.min")),
        "{search}"
    );

    // Sorted by the lowest loss on the server: largest first, then smallest first.
    let by_min = "//table//thead//th[@data-column='metrics.loss.min']//button";
    browser.click(by_min).await;
    expect_rows(&browser, &["name"], &[&["cnn-b"], &["cnn-a"], &["rnn-a"]]).await;
    browser.click(by_min).await;
    expect_rows(&browser, &["name"], &[&["rnn-a"], &["cnn-a"], &["cnn-b"]]).await;

    // Filtered on the lowest loss by the server's query language.
    browser
        .find("//form[@aria-label='Filter runs']//input[@name='query']")
        .await
        .send_keys("metrics.loss.min:<0.3\n")
        .await
        .expect("cannot type");
    browser.expect_text(count, "2 runs").await;
    expect_rows(
        &browser,
        &["name", "project", "metrics.loss.min"],
        &[&["rnn-a", "speech", "0.05"], &["cnn-a", "vision", "0.2"]],
    )
    .await;

    // Exported: the file the browser is asked to save holds the view's rows and columns.
    browser
        .evaluate(
            "(() => { window.saved = []; HTMLAnchorElement.prototype.click = function () { window.saved.push([this.download, this.href]); }; return true; })()",
        )
        .await;
    browser
        .click("//section[@aria-label='Runs']//button[normalize-space()='Export CSV']")
        .await;
    let link = browser
        .find("//section[@aria-label='Runs']//a[@download='runs.csv']")
        .await;
    let href = link
        .attr("href")
        .await
        .expect("an attribute")
        .expect("a link");
    assert!(href.starts_with("blob:"), "{href}");
    assert_eq!(
        browser.evaluate("window.saved").await,
        json!([["runs.csv", href]]),
        "the export is saved once, as runs.csv"
    );
    let csv = browser
        .evaluate(&format!("fetch('{href}').then(answer => answer.text())"))
        .await;
    let csv = csv.as_str().expect("the file's text");
    let lines: Vec<&str> = csv.split("\r\n").collect();
    let header = lines[0];
    for key in [
        "name",
        "project",
        "inputs.lr",
        "metrics.loss.last",
        "metrics.loss.min",
    ] {
        assert!(header.split(',').any(|field| field == key), "{header}");
    }
    let field = |line: &str, key: &str| {
        let index = header
            .split(',')
            .position(|field| field == key)
            .expect("a column");
        line.split(',').nth(index).unwrap_or_default().to_owned()
    };
    let exported: Vec<Vec<String>> = lines[1..lines.len() - 1]
        .iter()
        .map(|line| {
            ["name", "project", "inputs.lr", "metrics.loss.min"]
                .map(|key| field(line, key))
                .to_vec()
        })
        .collect();
    assert_eq!(
        exported,
        [
            ["rnn-a", "speech", "0.05", "0.05"],
            ["cnn-a", "vision", "0.1", "0.2"],
        ],
        "{csv}"
    );
    assert_eq!(
        lines.last(),
        Some(&""),
        "every line ends with CRLF: {csv:?}"
    );
    browser.screenshot("runs-dashboard-export").await;
    // A view named in full by its URL exports exactly its columns.
    let columns = "name,project,inputs.lr,metrics.loss.last,metrics.loss.min";
    browser
        .open(&server.url(&format!(
            "/runs?query=metrics.loss.min%3A%3C0.3&sort=metrics.loss.min&columns={columns}"
        )))
        .await;
    browser.expect_text(count, "2 runs").await;
    browser
        .evaluate("(() => { HTMLAnchorElement.prototype.click = function () {}; return true; })()")
        .await;
    browser
        .click("//section[@aria-label='Runs']//button[normalize-space()='Export CSV']")
        .await;
    let href = browser
        .find("//section[@aria-label='Runs']//a[@download='runs.csv']")
        .await
        .attr("href")
        .await
        .expect("an attribute")
        .expect("a link");
    let csv = browser
        .evaluate(&format!("fetch('{href}').then(answer => answer.text())"))
        .await;
    assert_eq!(
        csv,
        format!("{columns}\r\nrnn-a,speech,0.05,0.1,0.05\r\ncnn-a,vision,0.1,0.4,0.2\r\n")
    );

    // Chosen runs go to the compare page, by uuid.
    browser
        .open(&server.url("/runs?columns=name,project,metrics.loss.last,metrics.loss.min"))
        .await;
    browser.expect_text(count, "3 runs").await;
    browser
        .click("//table//tbody//input[@aria-label='Select cnn-a']")
        .await;
    browser
        .click("//table//tbody//input[@aria-label='Select rnn-a']")
        .await;
    browser
        .expect_text(
            "//div[@aria-label='Selected runs']//span[contains(@class,'chosen-count')]",
            "2 selected",
        )
        .await;
    browser.screenshot("runs-dashboard").await;
    browser
        .click("//div[@aria-label='Selected runs']//a[normalize-space()='Compare']")
        .await;
    assert_eq!(browser.path().await, "/compare");
    let search = browser.evaluate("location.search").await;
    let listed = search
        .as_str()
        .and_then(|search| search.strip_prefix("?runs="))
        .unwrap_or_else(|| panic!("no runs in {search}"));
    let mut compared: Vec<&str> = listed.split(',').collect();
    compared.sort_unstable();
    let mut chosen = vec![uuids["cnn-a"].as_str(), uuids["rnn-a"].as_str()];
    chosen.sort_unstable();
    assert_eq!(compared, chosen);

    // A run's project is a link to the project's page, whose table has the metric columns too.
    browser.client.back().await.expect("cannot go back");
    browser.expect_text(count, "3 runs").await;
    browser
        .click("//table//tbody/tr[th[normalize-space()='rnn-a']]//a[normalize-space()='speech']")
        .await;
    assert_eq!(browser.path().await, "/projects/speech");
    browser.expect_heading("speech").await;
    expect_rows(
        &browser,
        &["name", "project", "metrics.loss.last"],
        &[&["rnn-a", "", "0.1"]],
    )
    .await;
    browser.close().await;
}
