//! Hostile Polyaxonfiles, as an attacker would send them: "billion laughs" alias bombs in flow
//! and block style, through merge keys and in params, and templates or literals that would run
//! for hours given with `-P`. `myelin check` refuses each at its line and column in well under
//! 100 ms, and the server answers each submission with a 400 that says where, its memory flat.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::Server;
use serde_json::json;

/// The processor time a refusal may take. Processor time, not the time on the clock: the
/// tests run beside others on a busy machine, and what is measured is the work a file causes.
const LIMIT: Duration = Duration::from_millis(100);

/// Runs `myelin ARGS`; its output and the processor time it took (bash's `times` reports what
/// its finished children used, which no waiting for a busy processor inflates).
fn myelin_timed(args: &[&str]) -> (std::process::Output, Duration) {
    let output = Command::new("bash")
        .arg("-c")
        .arg(r#""$0" "$@"; status=$?; times >&2; exit $status"#)
        .arg(env!("CARGO_BIN_EXE_myelin"))
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The last line is the children's user and system time: `0m0.031s 0m0.004s`.
    let children = stderr.lines().last().unwrap_or_default();
    let took = children
        .split_whitespace()
        .map(|time| {
            let (minutes, seconds) = time.trim_end_matches('s').split_once('m').unwrap();
            minutes.parse::<f64>().unwrap() * 60.0 + seconds.parse::<f64>().unwrap()
        })
        .sum::<f64>();
    (output, Duration::from_secs_f64(took))
}

/// The processor time a process has used so far (`/proc/PID/stat`, in clock ticks of 10 ms).
fn processor_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command's name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// The hostile cases of the compiler's golden corpus: each file, with where and why it is
/// refused.
const BOMBS: [(&str, &str, &str); 4] = [
    (
        "hostile_alias_bomb_flow.yaml",
        "8:35",
        "this alias expands to",
    ),
    (
        "hostile_alias_bomb_block.yaml",
        "50:5",
        "this alias expands to",
    ),
    (
        "hostile_alias_bomb_merge.yaml",
        "8:30",
        "this alias expands to",
    ),
    (
        "hostile_alias_bomb_params.yaml",
        "8:35",
        "this alias expands to",
    ),
];

fn hostile(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/tests/data/myelin")
        .join(name)
}

/// Params given with `-P` that would run for hours or nest past any stack, for a component that
/// renders them in its container.
const COMPONENT: &str = "kind: component\ninputs:\n- {name: p, type: str}\nrun:\n  kind: job\n  container:\n    image: busybox\n    workingDir: '{{ p }}'\n";

fn hostile_params() -> [(String, &'static str); 2] {
    [
        (
            "p={% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
                .to_owned(),
            "does more work than a template may",
        ),
        // Kept as text, as Python's parser refuses such nesting too.
        (
            format!("p={}{}", "[".repeat(50_000), "]".repeat(50_000)),
            "",
        ),
    ]
}

#[test]
fn myelin_check_refuses_each_bomb_at_its_place_within_the_limit() {
    for (name, place, message) in BOMBS {
        let file = hostile(name);
        let (output, took) = myelin_timed(&["check", "-f", file.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("{name}:{place}")),
            "{name}: {stderr}"
        );
        assert!(stderr.contains(message), "{name}: {stderr}");
        assert!(
            took < LIMIT,
            "{name}: refused in {took:?} of processor time"
        );
        eprintln!("myelin check {name}: refused in {took:?} of processor time");
    }
}

#[test]
fn myelin_check_bounds_what_params_given_with_p_can_cause() {
    let folder = std::env::temp_dir().join(format!("myelin-hostile-params-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let file = folder.join("component.yaml");
    std::fs::write(&file, COMPONENT).unwrap();
    for (param, message) in hostile_params() {
        let (output, took) = myelin_timed(&["compile", "-f", file.to_str().unwrap(), "-P", &param]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let shown = &param[..40];
        if message.is_empty() {
            assert!(output.status.success(), "{shown}: {stderr}");
        } else {
            assert_eq!(output.status.code(), Some(1), "{shown}: {stderr}");
            assert!(stderr.contains(message), "{shown}: {stderr}");
        }
        assert!(
            took < LIMIT,
            "{shown}: answered in {took:?} of processor time"
        );
    }
    let _ = std::fs::remove_dir_all(&folder);
}

/// The server's resident memory, in KiB.
fn resident_kib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

#[test]
fn the_server_answers_each_bomb_with_a_400_that_says_where_its_memory_flat() {
    let server = Server::start("hostile", &[]);
    let (status, _) = server.request(
        "POST",
        "/api/v1/default/projects/create",
        Some(&json!({"name": "hostile"})),
    );
    assert_eq!(status, 200);
    let resident = resident_kib(&server);
    // Many times each: a server that kept what a bomb expanded would grow with every one.
    for round in 0..5 {
        for (name, place, message) in BOMBS {
            let content = json!({"content": std::fs::read_to_string(hostile(name)).unwrap()});
            let before = processor_time(server.pid());
            let started = Instant::now();
            let (status, body) =
                server.request("POST", "/api/v1/default/hostile/runs", Some(&content));
            let (took, waited) = (processor_time(server.pid()) - before, started.elapsed());
            assert_eq!(status, 400, "{name}: {body}");
            let diagnostic = &body["diagnostics"][0];
            assert_eq!(
                format!("{}:{}", diagnostic["line"], diagnostic["column"]),
                place,
                "{name}: {body}"
            );
            assert!(
                diagnostic["message"]
                    .as_str()
                    .is_some_and(|text| text.contains(message)),
                "{name}: {body}"
            );
            assert!(
                took < LIMIT,
                "{name} (round {round}): answered with {took:?} of processor time"
            );
            assert!(
                waited < LIMIT * 20,
                "{name} (round {round}): answered in {waited:?}"
            );
        }
    }
    let grown = resident_kib(&server).saturating_sub(resident);
    assert!(
        grown < 64 * 1024,
        "the server grew by {grown} KiB answering 60 bombs"
    );
    let (status, runs) = server.request("GET", "/api/v1/default/hostile/runs", None);
    assert_eq!(status, 200);
    assert_eq!(runs["count"], 0, "a refused file left a run: {runs}");
}
