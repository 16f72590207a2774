//! New run: a Polyaxonfile with a typo gets a marker at the typo with the compiler's hint; the
//! problem, clicked, takes the cursor there and the fix is typed; the preview shows the Job and
//! its main container; an input set in the form reaches the compile; the run is submitted and
//! runs to success. Monaco comes from this server, and only on this page.

mod support;

use std::time::Duration;

use fantoccini::key::Key;
use serde_json::json;
use support::{Browser, Server};

const WITH_TYPO: &str = "kind: component
name: counter
inputs:
- {name: count, type: int, value: 2, isOptional: true, validation: {ge: 1, le: 10}}
run:
  kind: job
  contianer:
    image: python:3.11
    command: [python3, -u, -c]
    args: ['for i in range({{ count }}): print(f\"counted {i}\")']
";

/// JavaScript that replaces the editor's whole text, as a paste would.
fn paste(text: &str) -> String {
    format!(
        "monaco.editor.getEditors()[0].executeEdits('e2e', [{{range: monaco.editor.getEditors()[0].getModel().getFullModelRange(), text: {}}}])",
        serde_json::to_string(text).unwrap()
    )
}

/// Monaco's markers for the editor's text, as `[line, column, message]`.
const MARKERS: &str =
    "monaco.editor.getModelMarkers({}).map(m => [m.startLineNumber, m.startColumn, m.message])";

#[tokio::test]
async fn a_typo_is_marked_fixed_previewed_and_the_run_succeeds() {
    let server = Server::start();
    server.post("/api/v1/default/projects/create", &json!({"name": "demo"}));
    let browser = Browser::start().await;

    // Other pages do not load the editor.
    browser.open(&server.url("/projects")).await;
    browser.expect_heading("Projects").await;
    assert!(
        !browser
            .requested_urls()
            .await
            .iter()
            .any(|url| url.contains("/vs/")),
        "Monaco was loaded on a page without an editor"
    );

    browser
        .nav_link("New run")
        .await
        .click()
        .await
        .expect("cannot click");
    browser.expect_heading("New run").await;
    browser
        .find("//div[@data-testid='editor']//div[contains(@class,'monaco-editor')]")
        .await;
    let urls = browser.requested_urls().await;
    assert!(
        urls.iter().any(|url| url.ends_with("/vs/loader.js")),
        "{urls:?}"
    );
    let origin = server.url("/");
    assert!(
        urls.iter().all(|url| url.starts_with(&origin)),
        "a request left this server: {urls:?}"
    );

    // The whole file goes in as a paste would; the compiler runs on the change.
    browser.evaluate(&paste(WITH_TYPO)).await;
    let mut markers = json!([]);
    for _ in 0..100 {
        markers = browser.evaluate(MARKERS).await;
        if markers.as_array().is_some_and(|list| !list.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let typo = markers
        .as_array()
        .unwrap()
        .iter()
        .find(|marker| {
            marker[2]
                .as_str()
                .unwrap_or_default()
                .contains("did you mean `container`")
        })
        .unwrap_or_else(|| panic!("no marker with the hint: {markers}"));
    assert_eq!(
        (typo[0].as_u64(), typo[1].as_u64()),
        (Some(7), Some(3)),
        "{markers}"
    );
    browser
        .find("//div[@aria-label='Problems']//button[.//span[@class='where' and text()='7:3']]")
        .await;
    browser.screenshot("new-run-diagnostics").await;

    // The problem takes the cursor to the typo; the fix is typed there.
    browser
        .click("//div[@aria-label='Problems']//button[.//span[text()='7:3']]")
        .await;
    let typing = browser
        .client
        .active_element()
        .await
        .expect("a focused element");
    let mut keys = String::new();
    for _ in 0.."contianer".len() {
        keys.push(char::from(Key::Delete));
    }
    keys.push_str("container");
    typing.send_keys(&keys).await.expect("cannot type");
    for _ in 0..100 {
        if browser.evaluate(MARKERS).await == json!([]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        browser.evaluate(MARKERS).await,
        json!([]),
        "the fix left markers"
    );
    browser
        .expect_text(
            "//div[@aria-label='Problems']//p",
            "No problems: the file is valid.",
        )
        .await;

    // The structure: the Job, its pod and its main container.
    let tree = "//ul[@aria-label='Structure']";
    browser
        .find(&format!(
            "{tree}//span[starts-with(normalize-space(),'Job')]"
        ))
        .await;
    browser
        .find(&format!("{tree}//code[text()='polyaxon-main']"))
        .await;

    // An input from the form reaches the compile: the native Job runs `range(4)`.
    let count = browser
        .find("//section[@aria-label='Inputs']//input[@name='count']")
        .await;
    count.send_keys("4").await.expect("cannot type the input");
    browser
        .click("//div[@role='tablist']/button[text()='Kubernetes']")
        .await;
    browser
        .find("//pre[contains(@class,'yaml')]/code[contains(.,'range(4)') and contains(.,'kind: Job')]")
        .await;
    browser.screenshot("new-run-preview").await;

    // Submitted with Ctrl+Enter, the run lands on its page and runs to success with the
    // input's value.
    let chord = format!("{}{}", char::from(Key::Control), char::from(Key::Enter));
    count
        .send_keys(&chord)
        .await
        .expect("cannot press Ctrl+Enter");
    let mut path = String::new();
    for _ in 0..100 {
        path = browser.path().await;
        if path.starts_with("/projects/demo/runs/") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(path.starts_with("/projects/demo/runs/"), "still at {path}");
    browser
        .find("//header//*[contains(@class,'badge') and normalize-space()='succeeded']")
        .await;
    browser
        .find("//*[contains(@class,'log-line') and contains(.,'counted 3')]")
        .await;
    browser.close().await;
}

#[tokio::test]
async fn examples_show_a_dag_and_a_grid_and_the_text_survives_a_reload() {
    let server = Server::start();
    server.post("/api/v1/default/projects/create", &json!({"name": "demo"}));
    let browser = Browser::start().await;
    browser.open(&server.url("/new")).await;
    browser.expect_heading("New run").await;
    browser
        .find("//div[@data-testid='editor']//div[contains(@class,'monaco-editor')]")
        .await;
    let pick = |title: &'static str| {
        let browser = &browser;
        async move {
            browser
                .click(&format!(
                    "//select[@aria-label='Examples']/option[text()='{title}']"
                ))
                .await;
        }
    };

    pick("Small DAG").await;
    browser
        .find("//*[name()='svg' and @aria-label='DAG']")
        .await;
    let operations = browser
        .evaluate("document.querySelectorAll('svg.dag g.op').length")
        .await;
    assert_eq!(operations, json!(4));
    let edges = browser
        .evaluate("document.querySelectorAll('svg.dag path.edge').length")
        .await;
    assert_eq!(
        edges,
        json!(3),
        "prepare → train → evaluate, train → report"
    );
    browser.screenshot("new-run-dag").await;

    pick("Grid search").await;
    browser
        .expect_text(
            "//p[contains(@class,'matrix-count')]",
            "This grid search makes 9 runs.",
        )
        .await;
    // The server runs it: the page of the search opens on its runs.
    browser.click("//button[text()='Run']").await;
    browser
        .find("//nav[@aria-label='Run sections']/button[@aria-selected='true' and text()='Runs']")
        .await;
    browser.find("//header//p[contains(.,'matrix')]").await;

    // What was in the editor is there after a reload.
    browser.open(&server.url("/new")).await;
    browser
        .find("//div[@data-testid='editor']//div[contains(@class,'monaco-editor')]")
        .await;
    let text = browser
        .evaluate("monaco.editor.getEditors()[0].getValue()")
        .await;
    assert!(
        text.as_str().unwrap_or_default().contains("kind: grid"),
        "{text}"
    );
    browser.close().await;
}

#[tokio::test]
async fn a_run_is_copied_to_the_editor_changed_and_run_again_as_its_copy() {
    let server = Server::start();
    let first = "kind: component\nname: greeter\nrun:\n  kind: job\n  container:\n    image: busybox\n    command: [sh, -c, 'echo hello']\n";
    let uuid = server.project_with_run("demo", first);
    let browser = Browser::start().await;
    browser
        .open(&server.url(&format!("/projects/demo/runs/{uuid}?tab=spec")))
        .await;
    // Every stage of the run is there to read: the file, the compiled operation, Polyaxon's
    // resource and the objects Kubernetes would receive.
    let stage = |title: &str| {
        format!(
            "//section[@aria-label='Spec']//button[@role='tab' and normalize-space()='{title}']"
        )
    };
    let shown = "//section[@aria-label='Spec']//pre[contains(@class,'yaml')]";
    browser
        .find(&format!("{shown}[contains(., \"echo hello\")]"))
        .await;
    for (title, expected) in [
        ("Compiled operation", "kind: compiled_operation"),
        ("Polyaxon resource", "apiVersion: polyaxon.com/v1"),
        ("Kubernetes objects", "apiVersion: batch/v1"),
    ] {
        browser.click(&stage(title)).await;
        browser
            .find(&format!("{shown}[contains(., '{expected}')]"))
            .await;
    }
    browser.screenshot("run-spec").await;
    browser
        .click("//section[@aria-label='Spec']//a[normalize-space()='Copy to the editor']")
        .await;
    browser.expect_heading("New run").await;
    let text = "window.monaco && monaco.editor.getEditors().length ? monaco.editor.getEditors()[0].getValue() : ''";
    let mut shown = json!("");
    for _ in 0..200 {
        shown = browser.evaluate(text).await;
        if shown
            .as_str()
            .is_some_and(|text| text.contains("echo hello"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        shown.as_str().unwrap_or_default().contains("name: greeter"),
        "{shown}"
    );
    let edited = first.replace("echo hello", "echo changed");
    browser.evaluate(&paste(&edited)).await;
    let changes = "//div[@aria-label='Changes']";
    browser
        .expect_text(&format!("{changes}/h3"), "Changes from greeter")
        .await;
    browser
        .find(&format!(
            "{changes}//div[@class='removed' and contains(., \"echo hello\")]"
        ))
        .await;
    browser
        .find(&format!(
            "{changes}//div[@class='added' and contains(., \"echo changed\")]"
        ))
        .await;
    browser.screenshot("copy-to-editor").await;
    browser
        .click("//header//button[normalize-space()='Run']")
        .await;
    let mut path = String::new();
    for _ in 0..200 {
        path = browser.path().await;
        if path.starts_with("/projects/demo/runs/") && !path.ends_with(&uuid) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!path.ends_with(&uuid), "still at {path}");
    browser
        .find("//*[contains(@class,'log-line') and normalize-space()='changed']")
        .await;
    browser
        .click("//nav[@aria-label='Run sections']/button[normalize-space()='Overview']")
        .await;
    browser
        .find("//section[@aria-label='Overview']//p[starts-with(normalize-space(),'A copy of')]/a[normalize-space()='greeter']")
        .await;
    browser.close().await;
}

/// A "billion laughs": nine anchors, each a list of nine aliases of the one before. Expanded,
/// it would be 387 million values; the compiler refuses it at the alias that crosses its limit.
fn alias_bomb() -> String {
    let mut text = String::from(
        "version: 1.1\nkind: component\nx0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for level in 1..9 {
        let aliases = vec![format!("*x{}", level - 1); 9].join(", ");
        text.push_str(&format!("x{level}: &x{level} [{aliases}]\n"));
    }
    text.push_str("run:\n  kind: job\n  container:\n    image: busybox\n");
    text
}

/// Every text the Problems list's status line shows, in order, from now on (`window.statuses`),
/// and when each appeared (`window.shown`, from `performance.now()`).
const RECORD_STATUSES: &str = "(() => {
    const problems = document.querySelector(\"[aria-label='Problems']\");
    window.statuses = [];
    window.shown = [];
    const record = () => {
        const status = problems.querySelector(\"[role='status']\");
        const text = status ? status.textContent : 'none';
        if (window.statuses[window.statuses.length - 1] !== text) {
            window.statuses.push(text);
            window.shown.push(performance.now());
        }
    };
    new MutationObserver(record).observe(problems, {subtree: true, childList: true, characterData: true});
    return true;
})()";

#[tokio::test]
async fn the_editor_says_checking_and_never_shows_a_verdict_for_an_older_text() {
    let server = Server::start();
    server.post("/api/v1/default/projects/create", &json!({"name": "demo"}));
    let browser = Browser::start().await;
    browser.open(&server.url("/new")).await;
    browser
        .find("//div[@data-testid='editor']//div[contains(@class,'monaco-editor')]")
        .await;
    let valid = "//div[@aria-label='Problems']/p[@role='status']";
    browser
        .expect_text(valid, "No problems: the file is valid.")
        .await;

    // The bomb replaces a valid text: until the compiler answers, the page says it is checking,
    // never that the file is valid; the answer is a marker at the alias that crosses the limit.
    browser.evaluate(RECORD_STATUSES).await;
    let started = browser.evaluate("performance.now()").await;
    browser.evaluate(&paste(&alias_bomb())).await;
    let bomb = "//div[@aria-label='Problems']//button[.//span[@class='where' and text()='7:35']]";
    browser.find(bomb).await;
    // When the verdict replaced "Checking…", as the page saw it.
    let took =
        browser.evaluate("window.shown[1]").await.as_f64().unwrap() - started.as_f64().unwrap();
    let markers = browser.evaluate(MARKERS).await;
    let marker = &markers[0];
    assert_eq!(
        (marker[0].as_u64(), marker[1].as_u64()),
        (Some(7), Some(35)),
        "{markers}"
    );
    assert!(
        marker[2]
            .as_str()
            .unwrap_or_default()
            .contains("this alias expands to"),
        "{markers}"
    );
    let statuses = browser.evaluate("window.statuses").await;
    assert_eq!(statuses, json!(["Checking…", "none"]), "{statuses}");
    eprintln!(
        "the alias bomb was marked {took:.0} ms after it was pasted (40 ms of it the typing pause)"
    );
    // The compiler's own bound is the point; a generous limit leaves room for a busy machine.
    assert!(
        took < 1000.0,
        "the bomb was refused {took:.0} ms after it was pasted"
    );
    browser.screenshot("new-run-alias-bomb").await;

    // Back to a valid text: again "checking" first, then the verdict for this text.
    browser.evaluate(RECORD_STATUSES).await;
    browser
        .evaluate(&paste(WITH_TYPO.replace("contianer", "container").as_str()))
        .await;
    browser
        .expect_text(valid, "No problems: the file is valid.")
        .await;
    let statuses = browser.evaluate("window.statuses").await;
    assert_eq!(
        statuses,
        json!(["Checking…", "No problems: the file is valid."]),
        "{statuses}"
    );
    assert_eq!(browser.evaluate(MARKERS).await, json!([]));

    // A worker that never answers (its messages dropped, as a hung one's would be) is replaced
    // once its budget runs out; the page says the text is not checked, and why.
    browser
        .evaluate(
            "(() => { window.post = Worker.prototype.postMessage; \
             Worker.prototype.postMessage = function () {}; return true; })()",
        )
        .await;
    browser.evaluate(RECORD_STATUSES).await;
    browser
        .evaluate(&paste(
            &WITH_TYPO
                .replace("contianer", "container")
                .replace("counter", "hung"),
        ))
        .await;
    browser.expect_text(valid, "Checking…").await;
    browser
        .expect_text(valid, "Not checked: the compiler gave up on this text.")
        .await;
    browser
        .find("//p[@role='alert' and contains(., 'did not answer within 8 s and was restarted')]")
        .await;
    browser.screenshot("new-run-compiler-gave-up").await;
    let statuses = browser.evaluate("window.statuses").await;
    assert_eq!(
        statuses,
        json!([
            "Checking…",
            "Not checked: the compiler gave up on this text."
        ]),
        "{statuses}"
    );
    // The new worker checks the next edit.
    browser
        .evaluate("(() => { Worker.prototype.postMessage = window.post; return true; })()")
        .await;
    browser
        .evaluate(&paste(
            &WITH_TYPO
                .replace("contianer", "container")
                .replace("counter", "answered"),
        ))
        .await;
    browser
        .expect_text(valid, "No problems: the file is valid.")
        .await;
    browser.close().await;
}
