//! The server killed with SIGKILL while a run prints a line every 100 ms, then started again on
//! the same data folder: the run ends in a final status with a reason, and its logs hold every
//! line it printed, once, in order.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Server, is_done, python_job};
use serde_json::{Value as Json, json};

/// A job printing `tick 0` … `tick {count - 1}`, one per 100 ms, that also notes in `side` each
/// number once it is printed: what the run printed, whatever the server saw.
fn ticking(count: u32, side: &Path) -> String {
    python_job(
        "ticks",
        &format!(
            "import time\nside = open({side:?}, 'a')\nfor i in range({count}):\n    print(f'tick {{i}}', flush=True)\n    side.write(f'{{i}}\\n')\n    side.flush()\n    time.sleep(0.1)",
            side = side.display().to_string()
        ),
    )
}

fn printed(side: &Path) -> usize {
    std::fs::read_to_string(side)
        .map(|text| text.lines().count())
        .unwrap_or(0)
}

fn submit(server: &Server, polyaxonfile: &str) -> String {
    let (status, run) = server.request(
        "POST",
        "/api/v1/default/restart/runs",
        Some(&json!({"content": polyaxonfile})),
    );
    assert_eq!(status, 200, "{run}");
    run["uuid"].as_str().unwrap().to_owned()
}

fn log_values(server: &Server, uuid: &str) -> Vec<String> {
    let logs = server.get(&format!(
        "/streams/v1/polyaxon/default/restart/runs/{uuid}/logs"
    ));
    logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line["value"].as_str().unwrap().to_owned())
        .collect()
}

fn wait_until(what: &str, within: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what} after {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ticks(count: u32) -> Vec<String> {
    (0..count).map(|i| format!("tick {i}")).collect()
}

fn last_condition(run: &Json) -> &Json {
    run["status_conditions"].as_array().unwrap().last().unwrap()
}

#[test]
fn a_run_goes_on_through_a_killed_server_and_keeps_every_line() {
    let mut server = Server::start("restart", &[]);
    let (status, _) = server.request(
        "POST",
        "/api/v1/default/projects/create",
        Some(&json!({"name": "restart"})),
    );
    assert_eq!(status, 200);

    // Killed while the run prints; it is still printing when the server comes back.
    let side = server.root.join("long.printed");
    let long = submit(&server, &ticking(40, &side));
    wait_until("10 lines printed", Duration::from_secs(30), || {
        printed(&side) >= 10
    });
    server.kill();
    let before = printed(&side);
    std::thread::sleep(Duration::from_millis(500));
    server.restart();

    // Killed while the run prints; it ends while the server is down.
    let side_short = server.root.join("short.printed");
    let short = submit(&server, &ticking(15, &side_short));
    wait_until("5 lines printed", Duration::from_secs(30), || {
        printed(&side_short) >= 5
    });
    server.kill();
    wait_until("the short run to end", Duration::from_secs(10), || {
        printed(&side_short) == 15
    });
    std::thread::sleep(Duration::from_millis(300));
    server.restart();

    for (uuid, count) in [(&long, 40), (&short, 15)] {
        let status = server.wait_for("restart", uuid, is_done, Duration::from_secs(30));
        let run = server.run("restart", uuid);
        assert_eq!(status, "succeeded", "{run}");
        assert!(
            last_condition(&run)["reason"]
                .as_str()
                .is_some_and(|r| !r.is_empty()),
            "{run}"
        );
        assert_eq!(log_values(&server, uuid), ticks(count), "run {uuid}");
    }
    assert!(
        (10..40).contains(&before),
        "the kill came mid-run ({before} lines)"
    );
}
