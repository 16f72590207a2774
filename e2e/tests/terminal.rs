//! A shell in a running run from the browser: the Terminal tab opens one over the exec
//! WebSocket, prints what the shell prints, and closes cleanly on `exit`; a browser that has
//! not signed in to a server with a token is refused the socket.

mod support;

use serde_json::json;
use support::{Browser, Server};

const TOKEN: &str = "e2e-terminal-token";

#[tokio::test]
async fn the_terminal_runs_a_shell_in_the_run_and_needs_the_token() {
    let server = Server::with_token(TOKEN);
    server.post("/api/v1/default/projects/create", &json!({"name": "demo"}));
    let waiting = "kind: component\nname: waiting\nrun:\n  kind: job\n  container:\n    image: busybox\n    command: [sh, -c, 'echo started; sleep 120']\n";
    let run = server.post("/api/v1/default/demo/runs", &json!({"content": waiting}));
    let uuid = run["uuid"].as_str().expect("a uuid").to_owned();
    let namespace = run["settings"]["namespace"].as_str().expect("a namespace");
    let instance = format!("default.demo.runs.{uuid}");

    let browser = Browser::start().await;
    browser
        .open(&server.url(&format!("/projects/demo/runs/{uuid}?tab=terminal")))
        .await;
    browser.expect_heading("Sign in").await;
    // Not signed in: the exec socket is refused before any command starts.
    let exec = format!(
        "{}/k8s/v1/{namespace}/default/demo/runs/{uuid}/k8s_exec/{uuid}/polyaxon-main?command=sh&stdin=true&stdout=true&tty=true",
        server.origin.replacen("http", "ws", 1)
    );
    let refused = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const socket = new WebSocket(arguments[0], ['v5.channel.k8s.io']);
             let opened = false;
             socket.onopen = () => { opened = true; socket.close(); };
             socket.onclose = (event) => done({ opened, code: event.code });",
            vec![json!(exec)],
        )
        .await
        .expect("cannot try the socket");
    assert_eq!(refused["opened"], json!(false), "{refused}");

    let token = browser
        .find("//form[@aria-label='Sign in']//input[@name='token']")
        .await;
    token
        .send_keys(&format!("{TOKEN}\n"))
        .await
        .expect("cannot type the token");
    let state = "//section[@aria-label='Terminal']//*[contains(@class,'terminal-state')]";
    browser
        .expect_text(state, "Connected. Type `exit` to end the session.")
        .await;
    let input = browser
        .find("//textarea[contains(@class,'xterm-helper-textarea')]")
        .await;
    input
        .send_keys("echo $POLYAXON_RUN_INSTANCE\n")
        .await
        .expect("cannot type in the terminal");
    // The typed command names the variable; only the shell's answer holds its value.
    let screen = "document.querySelector('.xterm-rows').textContent";
    let mut text = String::new();
    for _ in 0..200 {
        text = browser
            .evaluate(screen)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if text.contains(&instance) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(text.contains(&instance), "the terminal shows {text:?}");
    browser.screenshot("terminal").await;

    input
        .send_keys("exit\n")
        .await
        .expect("cannot type in the terminal");
    browser
        .expect_text(state, "The shell exited with code 0.")
        .await;
    let mut code = None;
    for _ in 0..100 {
        code = browser
            .find(state)
            .await
            .attr("data-close-code")
            .await
            .expect("an attribute");
        if code.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(code.as_deref(), Some("1000"), "the socket closes cleanly");
    browser.close().await;
}
