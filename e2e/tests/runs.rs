//! A project's runs and a run's page: the table shows a submitted run and its status, the run
//! page streams its 2,000 lines live, through a reload mid-stream, to its final status, and a
//! million lines are searched and scrolled with a screenful of them in the page.

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
          if i % 25 == 0:
              time.sleep(0.1)
";

#[tokio::test]
async fn a_run_is_listed_and_its_page_streams_its_logs_to_the_end() {
    let server = Server::start();
    let uuid = server.project_with_run("demo", PRINTER);

    let browser = Browser::start().await;
    browser.open(&server.url("/projects")).await;
    browser.click("//table//a[normalize-space()='demo']").await;
    browser.expect_heading("demo").await;
    browser
        .expect_text(
            "//section[@aria-label='Runs']//p[contains(@class,'count')]",
            "1 run",
        )
        .await;
    browser.screenshot("runs-table").await;
    browser
        .click("//table//a[normalize-space()='printer']")
        .await;
    assert_eq!(browser.path().await, format!("/projects/demo/runs/{uuid}"));
    // Reload while the run still prints: the page streams again from the start.
    let mut shown = 0;
    for _ in 0..200 {
        shown = browser.log_count().await;
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
    browser
        .expect_text("//*[contains(@class,'log-count')]", "2000 lines")
        .await;
    // The view followed the end.
    browser
        .find("//div[contains(@class,'log-line') and normalize-space()='line-1999']")
        .await;
    let (lines, most_in_page) = browser.read_log_lines().await;
    let expected: Vec<String> = (0..2000).map(|i| format!("line-{i}")).collect();
    assert_eq!(
        lines, expected,
        "every line once, in order, across the reload"
    );
    assert!(
        most_in_page < 100,
        "{most_in_page} lines were in the page at once: only those in view should be"
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
        .click("//form[@aria-label='Filter runs']//button")
        .await;
    browser
        .expect_text(
            "//section[@aria-label='Runs']//p[contains(@class,'empty')]",
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
            "//form[@aria-label='Filter runs']//*[@role='alert']",
            "the server answered 400: `query` is not valid at character 1: unknown field `stauts`; did you mean `status`?",
        )
        .await;
    browser.close().await;
}

const MILLION: &str = r#"kind: component
name: million
run:
  kind: job
  container:
    image: python:3.11
    command: [python3, -c]
    args: ["import sys; sys.stdout.write(''.join(f'line-{i}\\n' for i in range(1_000_000)))"]
"#;
#[tokio::test]
async fn a_million_lines_are_counted_searched_and_scrolled_with_only_a_screenful_in_the_page() {
    let server = Server::start();
    let uuid = server.project_with_run("demo", MILLION);
    let browser = Browser::start().await;
    let started = std::time::Instant::now();
    browser
        .open(&server.url(&format!("/projects/demo/runs/{uuid}")))
        .await;
    while browser.log_count().await < 1_000_000 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "{} lines shown after two minutes",
            browser.log_count().await
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    eprintln!(
        "a million lines reached the page in {:?}",
        started.elapsed()
    );
    browser
        .find("//div[contains(@class,'log-line') and normalize-space()='line-999999']")
        .await;
    let in_page = "document.querySelectorAll('.log-line').length";
    assert!(browser.evaluate(in_page).await.as_u64().unwrap_or(0) < 100);

    // A search over all of them finds the one line and brings it into view.
    let search = browser.find("//input[@name='log-search']").await;
    search
        .send_keys("^line-777777$")
        .await
        .expect("cannot type");
    browser
        .expect_text("//*[contains(@class,'log-matches')]", "1 / 1")
        .await;
    browser.click("//button[@aria-label='Next match']").await;
    browser
        .find("//div[contains(@class,'current') and normalize-space()='line-777777']")
        .await;
    browser.screenshot("logs-million").await;

    // Jumps across the whole log render in a frame or so each.
    let jumps = browser
        .evaluate(
            "(async () => {
                const view = document.querySelector('.log-lines');
                const frame = () => new Promise(done => requestAnimationFrame(() => setTimeout(done, 0)));
                const times = [];
                for (const share of [0.1, 0.5, 0.9, 0.25, 0.75, 0]) {
                    const begun = performance.now();
                    view.scrollTop = share * view.scrollHeight;
                    await frame();
                    await frame();
                    times.push(performance.now() - begun);
                }
                return [times, view.querySelector('.log-line').textContent];
            })()",
        )
        .await;
    eprintln!(
        "scroll jumps over a million lines, ms to render: {}",
        jumps[0]
    );
    assert_eq!(jumps[1], "line-0");
    assert!(browser.evaluate(in_page).await.as_u64().unwrap_or(0) < 100);
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
    let uuid = server.project_with_run("demo", COLOURED);
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

    // A search marks its matches inside the coloured pieces and counts the lines it finds;
    // times show on demand.
    let search = browser.find("//input[@name='log-search']").await;
    search.send_keys("r+or|nearly").await.expect("cannot type");
    browser
        .expect_text("//*[contains(@class,'log-matches')]", "1 / 1")
        .await;
    let marks = browser
        .evaluate("[...document.querySelectorAll('.log-line mark')].map(m => m.textContent)")
        .await;
    assert_eq!(marks, json!(["RROR", "nearly"]));
    browser
        .find("//div[contains(@class,'log-line') and contains(@class,'current')]/span[contains(@style,'var(--ansi-1)')]/mark[text()='RROR']")
        .await;
    browser
        .click("//label[normalize-space()='times']/input")
        .await;
    let times = browser
        .evaluate("document.querySelectorAll('.log-line .log-time').length")
        .await;
    assert_eq!(times, json!(2));
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
    let waiting = "kind: component\nname: waiting\nrun:\n  kind: job\n  container:\n    image: busybox\n    command: [sh, -c, 'echo started; sleep 60']\n";
    let uuid = server.project_with_run("demo", waiting);
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
        .click(&format!("{actions}/button[text()='Stop']"))
        .await;
    browser.find(&badge("stopped")).await;

    browser
        .click(&format!("{actions}/button[text()='Restart']"))
        .await;
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
        .click(&format!("{actions}/button[text()='Delete']"))
        .await;
    browser.client.accept_alert().await.expect("a confirmation");
    browser.expect_heading("demo").await;
    assert_eq!(browser.path().await, "/projects/demo");
    let gone = server.get_status(&format!("/api/v1/default/demo/runs/{restarted}"));
    assert_eq!(gone, 404);
    browser.close().await;
}

/// Runs seeded for the scale test, and which of them failed (every seventh, from the fourth).
const SEEDED: usize = 10_000;
fn seeded_failed(index: usize) -> bool {
    index % 7 == 3
}

#[tokio::test]
async fn ten_thousand_runs_filter_sort_and_reopen_from_the_url() {
    let server = Server::start();
    server.post("/api/v1/default/projects/create", &json!({"name": "scale"}));
    // Seeded through the API as the tracking client creates runs, four requests at a time.
    std::thread::scope(|scope| {
        for worker in 0..4 {
            let server = &server;
            scope.spawn(move || {
                for index in (worker..SEEDED).step_by(4) {
                    let run = server.post(
                        "/api/v1/default/scale/runs",
                        &json!({"is_managed": false, "managed_by": "user", "name": format!("run-{index:05}")}),
                    );
                    if seeded_failed(index) {
                        let uuid = run["uuid"].as_str().expect("a uuid");
                        server.post(
                            &format!("/api/v1/default/scale/runs/{uuid}/statuses"),
                            &json!({"condition": {"type": "failed", "status": "True", "reason": "Seeded", "message": "failed on purpose"}}),
                        );
                    }
                }
            });
        }
    });
    let failed: Vec<String> = (0..SEEDED)
        .filter(|index| seeded_failed(*index))
        .map(|index| format!("run-{index:05}"))
        .collect();
    let (smallest, largest) = (&failed[0], &failed[failed.len() - 1]);

    let browser = Browser::start().await;
    browser.open(&server.url("/projects/scale")).await;
    let count = "//section[@aria-label='Runs']//p[contains(@class,'count')]";
    browser.expect_text(count, &format!("{SEEDED} runs")).await;
    // Only the rows in view are in the page.
    let rendered = "document.querySelectorAll('table.runs tbody tr:not(.spacer)').length";
    let rows = browser.evaluate(rendered).await.as_u64().unwrap_or(0);
    assert!(
        (10..100).contains(&rows),
        "{rows} rows rendered for {SEEDED} runs"
    );

    let query = browser
        .find("//form[@aria-label='Filter runs']//input[@name='query']")
        .await;
    query
        .send_keys("status:failed\n")
        .await
        .expect("cannot type");
    browser
        .expect_text(count, &format!("{} runs", failed.len()))
        .await;
    let name_header = "//table//thead//th[@data-column='name']";
    let sort_by_name = format!("{name_header}//button");
    // Largest first, then smallest first.
    browser.click(&sort_by_name).await;
    let first_name = "//table//tbody/tr[not(contains(@class,'spacer'))][1]/th";
    browser.expect_text(first_name, largest).await;
    browser.click(&sort_by_name).await;
    browser.expect_text(first_name, smallest).await;
    // Every row shown failed.
    let statuses = browser
        .evaluate(
            "[...document.querySelectorAll('table.runs tbody .badge')].map(b => b.textContent)",
        )
        .await;
    let statuses = statuses.as_array().expect("a list");
    assert!(
        !statuses.is_empty() && statuses.iter().all(|status| status == "failed"),
        "{statuses:?}"
    );
    // Hide the Kind column.
    browser
        .click("//details[contains(@class,'columns')]/summary")
        .await;
    browser
        .click("//details[contains(@class,'columns')]//label[normalize-space()='Kind']/input")
        .await;
    let kind_header = "count(//table//thead//th[@data-column='kind'])";
    for _ in 0..100 {
        if browser.evaluate(&format!("document.evaluate(\"{kind_header}\", document, null, XPathResult.NUMBER_TYPE).numberValue")).await == json!(0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Scrolled to the end, the last rows load and show.
    browser
        .evaluate("(() => { const v = document.querySelector('.runs-viewport'); v.scrollTop = v.scrollHeight; return true; })()")
        .await;
    browser
        .find(&format!(
            "//table//tbody//th[normalize-space()='{largest}']"
        ))
        .await;
    browser.screenshot("runs-table-10k").await;

    // The URL holds the whole view: another browser opening it sees the same.
    let url = browser.client.current_url().await.expect("a URL");
    let shared = url.as_str().to_owned();
    for part in ["query=status%3Afailed", "sort=name", "columns="] {
        assert!(shared.contains(part), "{shared} lacks {part}");
    }
    browser.close().await;
    let other = Browser::start().await;
    other.open(&shared).await;
    other
        .expect_text(count, &format!("{} runs", failed.len()))
        .await;
    other.expect_text(first_name, smallest).await;
    let sorted = other
        .find(name_header)
        .await
        .attr("aria-sort")
        .await
        .expect("an attribute");
    assert_eq!(sorted.as_deref(), Some("ascending"));
    let kinds = other
        .evaluate(&format!("document.evaluate(\"{kind_header}\", document, null, XPathResult.NUMBER_TYPE).numberValue"))
        .await;
    assert_eq!(kinds, json!(0), "the hidden column stays hidden");
    let typed = other
        .find("//form[@aria-label='Filter runs']//input[@name='query']")
        .await;
    assert_eq!(
        typed.prop("value").await.expect("a value").as_deref(),
        Some("status:failed")
    );
    other.close().await;
}

#[tokio::test]
async fn a_run_s_artifacts_are_browsed_previewed_and_downloadable() {
    let server = Server::start();
    let maker = "kind: component\nname: maker\nrun:\n  kind: job\n  container:\n    image: busybox\n    command: [sh, -c, 'mkdir -p {{ globals.run_outputs_path }}/plots && echo weights-v1 > {{ globals.run_outputs_path }}/model.txt && echo done']\n";
    let uuid = server.project_with_run("demo", maker);
    let browser = Browser::start().await;
    browser
        .open(&server.url(&format!("/projects/demo/runs/{uuid}")))
        .await;
    browser.find("//*[contains(@class,'log-end')]").await;
    browser
        .click("//nav[@aria-label='Run sections']/button[normalize-space()='Artifacts']")
        .await;
    let section = "//section[@aria-label='Artifacts']";
    browser
        .click(&format!("{section}//button[normalize-space()='outputs/']"))
        .await;
    browser
        .find(&format!("{section}//tr[th[normalize-space()='plots/']]"))
        .await;
    let row = format!("{section}//tr[th[normalize-space()='model.txt']]");
    let download = browser
        .find(&format!("{row}//a[normalize-space()='Download']"))
        .await
        .attr("href")
        .await
        .expect("an attribute")
        .expect("a link");
    assert!(
        download.ends_with("artifact?path=outputs%2Fmodel.txt&download=true"),
        "{download}"
    );
    browser
        .click(&format!("{row}//button[normalize-space()='Preview']"))
        .await;
    browser
        .expect_text(&format!("{section}//pre"), "weights-v1")
        .await;
    browser.screenshot("run-artifacts").await;
    browser.close().await;
}
