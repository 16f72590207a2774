//! The hub: a search narrows the cards to TensorBoard, its page lists the inputs of the version
//! chosen, and Launch opens the editor on an operation that references it, which previews as a
//! service once its required input is filled in. The search and the tags live in the URL.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{Browser, Server};

const CARDS: &str = "//ul[@aria-label='Components']/li";
const SEARCH: &str = "//input[@aria-label='Search components']";

/// The titles of the cards shown, in order.
async fn card_titles(browser: &Browser) -> Vec<String> {
    let titles = browser
        .evaluate("[...document.querySelectorAll('.hub-card h2')].map(title => title.textContent)")
        .await;
    serde_json::from_value(titles).expect("a list of titles")
}

/// Waits until the cards shown are exactly `expected`.
async fn expect_cards(browser: &Browser, expected: &[&str]) {
    let mut seen = Vec::new();
    for _ in 0..200 {
        seen = card_titles(browser).await;
        if seen == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the hub should show {expected:?} but shows {seen:?}");
}

/// Waits until the page's address has `part` in its query (or not, with `present` false).
async fn expect_query(browser: &Browser, part: &str, present: bool) {
    let mut query = String::new();
    for _ in 0..200 {
        let url = browser.client.current_url().await.expect("a URL");
        query = url.query().unwrap_or_default().to_owned();
        if query.contains(part) == present {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the query {query:?} should {}contain {part:?}",
        if present { "" } else { "not " }
    );
}

/// The editor's text, once Monaco is there and holds something containing `expected`.
async fn editor_text_with(browser: &Browser, expected: &str) -> String {
    let text = "window.monaco && monaco.editor.getEditors().length ? monaco.editor.getEditors()[0].getValue() : ''";
    let mut shown = String::new();
    for _ in 0..200 {
        shown = browser
            .evaluate(text)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if shown.contains(expected) {
            return shown;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the editor should hold {expected:?} but holds {shown:?}");
}

#[tokio::test]
async fn tensorboard_is_found_read_and_launched_as_a_service() {
    let server = Server::start();
    server.post("/api/v1/default/projects/create", &json!({"name": "demo"}));
    let browser = Browser::start().await;
    browser.open(&server.url("/projects")).await;
    browser
        .nav_link("Hub")
        .await
        .click()
        .await
        .expect("cannot click");
    browser.expect_heading("Hub").await;
    browser
        .find(&format!("{CARDS}//h2[normalize-space()='TensorBoard']"))
        .await;
    let all = card_titles(&browser).await;
    assert!(all.len() > 10, "{all:?}");
    for title in ["JupyterLab", "VS Code", "Papermill", "Slack notifier"] {
        assert!(
            all.iter().any(|shown| shown == title),
            "{title} is not in {all:?}"
        );
    }
    // Every icon is an image of its SVG, never SVG put in the page.
    let icons = browser
        .evaluate("[...document.querySelectorAll('.hub-card .hub-icon')].map(icon => icon.tagName + ' ' + (icon.getAttribute('src') || '').slice(0, 26))")
        .await;
    for icon in icons.as_array().expect("a list") {
        assert_eq!(icon, "IMG data:image/svg+xml;charset", "{icons}");
    }
    let loaded = browser
        .evaluate("[...document.querySelectorAll('.hub-card img')].every(icon => icon.complete && icon.naturalWidth > 0)")
        .await;
    assert_eq!(loaded, json!(true), "an icon did not load");
    browser.screenshot("hub-grid").await;

    browser
        .find(SEARCH)
        .await
        .send_keys("tensor")
        .await
        .expect("cannot type");
    expect_cards(&browser, &["TensorBoard"]).await;
    expect_query(&browser, "q=tensor", true).await;

    browser
        .click(&format!("{CARDS}//h2/a[normalize-space()='TensorBoard']"))
        .await;
    browser.expect_heading("TensorBoard").await;
    assert_eq!(browser.path().await, "/hub/polyaxon/tensorboard");
    let inputs = "//table[@aria-label='Inputs']";
    // The default version first: every input optional.
    browser
        .find(&format!(
            "{inputs}//tr[th/code[text()='uuid']]/td[normalize-space()='optional']"
        ))
        .await;
    browser
        .click("//select[@aria-label='Version']/option[text()='path']")
        .await;
    expect_query(&browser, "tag=path", true).await;
    let path_row = format!("{inputs}//tr[th/code[text()='path']]");
    browser
        .find(&format!("{path_row}/td/span[normalize-space()='required']"))
        .await;
    browser
        .find(&format!(
            "{inputs}//tr[th/code[text()='image']]/td/code[text()='tensorflow/tensorflow:2.15.0']"
        ))
        .await;
    let rows = browser
        .evaluate("document.querySelectorAll(\"table[aria-label='Inputs'] tbody tr\").length")
        .await;
    assert_eq!(rows, json!(2), "the `path` version has `image` and `path`");
    // The README is rendered: a heading, a table, code; no Markdown left as text.
    let readme = "//section[@aria-label='About']//div[contains(@class,'markdown')]";
    browser
        .find(&format!("{readme}/h3[normalize-space()='Run it']"))
        .await;
    browser.find(&format!("{readme}/table")).await;
    browser
        .find(&format!(
            "{readme}/pre/code[contains(., 'polyaxon run --hub tensorboard:single-run')]"
        ))
        .await;
    let raw = browser
        .evaluate(&format!(
            "document.evaluate(\"{readme}\", document, null, 9, null).singleNodeValue.textContent.includes('##')"
        ))
        .await;
    assert_eq!(raw, json!(false), "Markdown is shown as text");
    browser.screenshot("hub-component").await;
    browser
        .evaluate(&format!(
            "document.evaluate(\"{readme}\", document, null, 9, null).singleNodeValue.scrollIntoView()"
        ))
        .await;
    browser.screenshot("hub-component-readme").await;
    browser.evaluate("window.scrollTo(0, 0)").await;

    // The version's Polyaxonfile, as it is.
    browser
        .click("//section[@aria-label='About']//button[@role='tab' and normalize-space()='Polyaxonfile']")
        .await;
    browser
        .find("//section[@aria-label='About']//pre[contains(@class,'yaml')]/code[contains(., '--logdir={{ path }}')]")
        .await;

    browser
        .click("//header//a[normalize-space()='Launch']")
        .await;
    browser.expect_heading("New run").await;
    expect_query(&browser, "hub=tensorboard%3Apath", true).await;
    let text = editor_text_with(&browser, "hubRef").await;
    assert_eq!(text, "kind: operation\nhubRef: tensorboard:path\n");
    // The required input has no value yet: the compiler says so.
    let field = "//section[@aria-label='Inputs']//input[@name='path']";
    browser.find(field).await;
    browser
        .find("//div[@aria-label='Problems']//button[contains(@class,'error')]")
        .await;
    browser
        .find(field)
        .await
        .send_keys("/data/logs")
        .await
        .expect("cannot type the input");
    browser
        .expect_text(
            "//div[@aria-label='Problems']/p[@role='status']",
            "No problems: the file is valid.",
        )
        .await;
    let tree = "//ul[@aria-label='Structure']";
    browser
        .find(&format!(
            "{tree}//span[starts-with(normalize-space(),'Operation (service)')]"
        ))
        .await;
    browser
        .find(&format!(
            "{tree}//span[starts-with(normalize-space(),'Deployment')]"
        ))
        .await;
    browser
        .find(&format!(
            "{tree}//span[starts-with(normalize-space(),'Service')]"
        ))
        .await;
    browser
        .click("//div[@role='tablist']/button[text()='Kubernetes']")
        .await;
    browser
        .find("//pre[contains(@class,'yaml')]/code[contains(.,'--logdir=/data/logs') and contains(.,'kind: Deployment')]")
        .await;
    browser
        .click("//div[@role='tablist']/button[text()='Structure']")
        .await;
    browser
        .evaluate(
            "document.querySelector(\"[aria-label='Problems']\").scrollIntoView({block: 'center'})",
        )
        .await;
    browser.screenshot("hub-launch").await;
    browser.close().await;
}

#[tokio::test]
async fn the_search_and_tags_are_in_the_url_and_open_again_from_it() {
    let server = Server::start();
    let browser = Browser::start().await;

    // A shared link opens on the same view: the search typed in, the tag pressed.
    browser.open(&server.url("/hub?q=note&tag=batch")).await;
    expect_cards(&browser, &["Papermill"]).await;
    let typed = browser
        .find(SEARCH)
        .await
        .prop("value")
        .await
        .expect("a value");
    assert_eq!(typed.as_deref(), Some("note"));
    let chip = |tag: &str| format!("//div[@aria-label='Tags']/button[normalize-space()='{tag}']");
    let pressed = browser
        .find(&chip("batch"))
        .await
        .attr("aria-pressed")
        .await
        .expect("an attribute");
    assert_eq!(pressed.as_deref(), Some("true"));

    // Toggled off, the tag leaves the URL; another one joins it.
    browser.click(&chip("batch")).await;
    expect_query(&browser, "tag=", false).await;
    expect_cards(&browser, &["JupyterLab", "Jupyter Notebook", "Papermill"]).await;
    browser.click(&chip("ide")).await;
    expect_query(&browser, "tag=ide", true).await;
    expect_cards(&browser, &["JupyterLab", "Jupyter Notebook"]).await;

    // Nothing matches: the page says so, and clears the search and tags on request.
    browser
        .find(SEARCH)
        .await
        .send_keys("zzz")
        .await
        .expect("cannot type");
    expect_query(&browser, "q=notezzz", true).await;
    browser
        .find("//div[@role='status' and contains(., 'No component matches')]")
        .await;
    browser.screenshot("hub-empty").await;
    browser
        .click("//button[normalize-space()='Clear the search and tags']")
        .await;
    expect_query(&browser, "q=", false).await;
    expect_query(&browser, "tag=", false).await;
    let all = card_titles(&browser).await;
    assert!(all.len() > 10, "{all:?}");

    // A tag the component does not have: the page says so and shows its default version.
    browser
        .open(&server.url("/hub/polyaxon/tensorboard?tag=nope"))
        .await;
    browser
        .expect_text(
            "//section[@aria-label='Version']/p[@role='alert']",
            "TensorBoard has no version nope: shown is latest",
        )
        .await;

    // Open in editor starts the editor with the component's own text, to change.
    browser
        .open(&server.url("/hub/polyaxon/tensorboard?tag=multi-run"))
        .await;
    browser.expect_heading("TensorBoard").await;
    let chosen = browser
        .find("//select[@aria-label='Version']")
        .await
        .prop("value")
        .await
        .expect("a value");
    assert_eq!(
        chosen.as_deref(),
        Some("multi-runs"),
        "the tag's alias names it"
    );
    browser
        .click("//header//a[normalize-space()='Open in editor']")
        .await;
    browser.expect_heading("New run").await;
    let text = editor_text_with(&browser, "kind: component").await;
    assert!(text.contains("name: uuids"), "{text}");

    // A component the hub does not have.
    browser.open(&server.url("/hub/polyaxon/no-such")).await;
    browser.expect_heading("No such component").await;
    browser.close().await;
}

#[tokio::test]
async fn a_version_registered_through_the_api_joins_the_grid_without_a_restart() {
    let server = Server::start();
    let browser = Browser::start().await;
    browser.open(&server.url("/hub")).await;
    browser
        .find("//ul[@aria-label='Components']/li//h2[normalize-space()='TensorBoard']")
        .await;
    let before = card_titles(&browser).await;
    assert!(!before.iter().any(|title| title == "sleeper"), "{before:?}");

    // A user's component: a project whose versions are Polyaxonfiles, registered over the API.
    server.post(
        "/api/v1/default/projects/create",
        &json!({"name": "sleeper"}),
    );
    let register = |version: &str| {
        server.post(
            "/api/v1/default/sleeper/versions/component",
            &json!({
                "name": version,
                "description": "sleeps a while",
                "content": "kind: component\nname: sleeper\nrun: {kind: job, container: {image: busybox, command: [sleep, '1']}}\n",
            }),
        );
    };
    register("v1");
    browser.open(&server.url("/hub?q=sleep")).await;
    expect_cards(&browser, &["sleeper"]).await;
    browser
        .click(&format!("{CARDS}//h2/a[normalize-space()='sleeper']"))
        .await;
    assert_eq!(browser.path().await, "/hub/default/sleeper");
    browser
        .find("//select[@aria-label='Version']/option[text()='v1']")
        .await;

    // A second version, and the page shows it when opened again: no rebuild, no restart.
    register("v2");
    browser.open(&server.url("/hub/default/sleeper")).await;
    browser
        .find("//select[@aria-label='Version']/option[text()='v2']")
        .await;
    let versions = browser
        .evaluate("[...document.querySelectorAll(\"select[aria-label='Version'] option\")].map(option => option.textContent)")
        .await;
    assert_eq!(versions, json!(["v2", "v1"]), "the newest first");
    browser.close().await;
}
