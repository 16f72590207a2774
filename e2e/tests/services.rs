//! A service's page from its run page: **Open** shows the proxy's "starting" page while the
//! service does not answer yet, which reloads itself into the service's own page.

mod support;

use std::time::Duration;

use support::{Browser, Server};

/// A web server that starts answering only after a few seconds.
const SLOW_SERVICE: &str = r#"kind: component
name: slow-page
run:
  kind: service
  ports: [8767]
  container:
    image: python:3.11
    command: [python3, -c]
    args:
    - |
      import http.server, sys, time
      time.sleep(4)
      class Page(http.server.BaseHTTPRequestHandler):
          def do_GET(self):
              body = b"<h1>The service's own page</h1>"
              self.send_response(200)
              self.send_header("Content-Type", "text/html")
              self.send_header("Content-Length", str(len(body)))
              self.end_headers()
              self.wfile.write(body)
      http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Page).serve_forever()
    - "{{ globals.ports[0] }}"
"#;

#[tokio::test]
async fn open_shows_a_starting_page_that_turns_into_the_service() {
    let server = Server::start();
    let uuid = server.project_with_run("demo", SLOW_SERVICE);
    let browser = Browser::start().await;
    browser
        .open(&server.url(&format!("/projects/demo/runs/{uuid}")))
        .await;
    let open = browser.find("//a[normalize-space()='Open']").await;
    let href = open
        .attr("href")
        .await
        .expect("a link")
        .expect("with an address");
    assert!(
        href.starts_with("/services/v1/") && href.contains(&uuid),
        "{href}"
    );
    assert_eq!(
        open.attr("target").await.unwrap().as_deref(),
        Some("_blank")
    );

    // Followed in this tab, early: the starting page, until the service answers.
    browser.open(&server.url(&href)).await;
    browser.expect_text("//h1", "Starting slow-page…").await;
    browser.screenshot("service-starting").await;
    let mut seen = String::new();
    for _ in 0..100 {
        seen = browser
            .evaluate("document.querySelector('h1')?.textContent ?? ''")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if seen == "The service's own page" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(seen, "The service's own page");
    browser.close().await;
}
