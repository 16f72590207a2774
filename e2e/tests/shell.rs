//! The application shell: the page loads from the real server, shows the server's version
//! fetched from the API, and every page of the navigation is reachable.

mod support;

use support::{Browser, ColorScheme, Server, VERSION};

#[tokio::test]
async fn opening_the_app_shows_the_shell_and_the_server_version() {
    let server = Server::start();
    let browser = Browser::start().await;

    browser.open(&server.url("/")).await;
    browser.expect_heading("Projects").await;
    assert_eq!(browser.path().await, "/projects", "/ leads to the projects");
    browser
        .expect_text("//header//*[@role='status']", &format!("Server v{VERSION}"))
        .await;
    let health_url = server.url("/api/v1/health");
    assert!(
        browser.requested_urls().await.contains(&health_url),
        "the version shown was fetched from {health_url}"
    );
    browser.screenshot("shell-projects").await;
    browser.close().await;
}

#[tokio::test]
async fn the_navigation_reaches_every_page_and_back() {
    let server = Server::start();
    let browser = Browser::start().await;
    browser.open(&server.url("/projects")).await;
    browser.expect_heading("Projects").await;

    for (link, path) in [
        ("Runs", "/runs"),
        ("New run", "/new"),
        ("Hub", "/hub"),
        ("Compare", "/compare"),
        ("Projects", "/projects"),
    ] {
        browser
            .nav_link(link)
            .await
            .click()
            .await
            .expect("cannot click");
        browser.expect_heading(link).await;
        assert_eq!(browser.path().await, path);
        let current = browser
            .nav_link(link)
            .await
            .attr("aria-current")
            .await
            .expect("cannot read aria-current");
        assert_eq!(
            current.as_deref(),
            Some("page"),
            "{link} is marked as the current page"
        );
    }

    browser.client.back().await.expect("cannot go back");
    browser.expect_heading("Compare").await;
    assert_eq!(browser.path().await, "/compare");
    browser.screenshot("shell-compare").await;
    browser.close().await;
}

#[tokio::test]
async fn deep_links_open_their_page_and_unknown_paths_say_so() {
    let server = Server::start();
    let browser = Browser::start().await;

    browser.open(&server.url("/hub")).await;
    browser.expect_heading("Hub").await;

    browser.open(&server.url("/no/such/page")).await;
    browser.expect_heading("Page not found").await;
    browser.expect_text("//main//code", "/no/such/page").await;
    browser.screenshot("shell-not-found").await;
    browser.close().await;
}

#[tokio::test]
async fn the_shell_follows_the_os_colour_scheme() {
    let server = Server::start();
    for (scheme, background, name) in [
        (ColorScheme::Light, "rgb(247, 247, 250)", "shell-light"),
        (ColorScheme::Dark, "rgb(15, 17, 23)", "shell-dark"),
    ] {
        let browser = Browser::start_with(scheme).await;
        browser.open(&server.url("/runs")).await;
        browser.expect_heading("Runs").await;
        let painted = browser
            .evaluate("getComputedStyle(document.body).backgroundColor")
            .await;
        assert_eq!(painted, background, "{scheme:?} background");
        browser.screenshot(name).await;
        browser.close().await;
    }
}
