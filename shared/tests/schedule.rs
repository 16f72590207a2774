//! When a schedule's runs are due, with the clock passed in: `shared::schedule`.

use serde_json::json;
use shared::schedule::{self, MAX_MISSED};
use shared::time::Timestamp;

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

fn texts(ticks: &[Timestamp]) -> Vec<String> {
    ticks
        .iter()
        .map(|tick| tick.to_string()[..19].to_owned())
        .collect()
}

#[test]
fn a_nightly_cron_ticks_at_two_each_day_from_its_start_and_stops_at_max_runs() {
    let nightly = schedule::read(&json!({
        "kind": "cron", "cron": "0 2 * * *", "startAt": "2024-01-01 00:00:00", "maxRuns": 3,
    }))
    .unwrap();
    let created = at("2023-12-30T10:00:00Z");
    // Before the first tick: nothing, and when the next is.
    let due = nightly.due(created, None, 0, at("2024-01-01T01:59:59Z"));
    assert!(due.ticks.is_empty() && !due.finished);
    assert_eq!(due.next, Some(at("2024-01-01T02:00:00Z")));
    let due = nightly.due(created, None, 0, at("2024-01-01T02:00:00Z"));
    assert_eq!(texts(&due.ticks), ["2024-01-01T02:00:00"]);
    // Asked again with that tick made: nothing twice.
    let last = due.ticks[0];
    let again = nightly.due(created, Some(last), 1, at("2024-01-01T02:00:30Z"));
    assert!(again.ticks.is_empty());
    // Two days later, two ticks were missed: both are due, and then `maxRuns` is reached.
    let due = nightly.due(created, Some(last), 1, at("2024-01-03T09:00:00Z"));
    assert_eq!(
        texts(&due.ticks),
        ["2024-01-02T02:00:00", "2024-01-03T02:00:00"]
    );
    assert!(due.finished);
    let over = nightly.due(
        created,
        due.ticks.last().copied(),
        3,
        at("2024-02-01T00:00:00Z"),
    );
    assert!(over.ticks.is_empty() && over.finished);
}

#[test]
fn cron_fields_read_as_croniter_reads_them() {
    let next = |cron: &str, after: &str| -> Vec<String> {
        let schedule =
            schedule::read(&json!({"kind": "cron", "cron": cron, "startAt": after})).unwrap();
        // Each tick is the next one after the last, asked at the last.
        let mut ticks = Vec::new();
        let mut last = None;
        for _ in 0..3 {
            let now = last.unwrap_or(at(after));
            let Some(next) = schedule.due(at(after), last, 0, now).next else {
                break;
            };
            ticks.push(next);
            last = Some(next);
        }
        texts(&ticks)
    };
    assert_eq!(
        next("*/15 9-10 * * mon-fri", "2024-01-05T10:40:00Z"),
        [
            "2024-01-05T10:45:00",
            "2024-01-08T09:00:00",
            "2024-01-08T09:15:00"
        ]
    );
    // Both days restricted: either matches (the 1st, or a Sunday).
    assert_eq!(
        next("0 0 1 * 7", "2024-01-27T00:00:00Z"),
        [
            "2024-01-28T00:00:00",
            "2024-02-01T00:00:00",
            "2024-02-04T00:00:00"
        ]
    );
    assert_eq!(
        next("0 12 29 feb *", "2023-01-01T00:00:00Z"),
        [
            "2024-02-29T12:00:00",
            "2028-02-29T12:00:00",
            "2032-02-29T12:00:00"
        ]
    );
    // A sixth field is seconds.
    assert_eq!(
        next("* * * * * */20", "2024-01-01T00:00:00Z"),
        [
            "2024-01-01T00:00:20",
            "2024-01-01T00:00:40",
            "2024-01-01T00:01:00"
        ]
    );
    assert_eq!(
        next("@hourly", "2024-01-01T00:30:00Z"),
        [
            "2024-01-01T01:00:00",
            "2024-01-01T02:00:00",
            "2024-01-01T03:00:00"
        ]
    );
    for (bad, why) in [
        ("* * *", "needs 5 fields"),
        ("61 * * * *", "61 is not in 0-59"),
        ("*/0 * * * *", "is not a step"),
        ("5-1 * * * *", "is empty"),
        ("* * * smarch *", "is not a number"),
    ] {
        let error = schedule::read(&json!({"kind": "cron", "cron": bad})).unwrap_err();
        assert!(error.contains(why), "{bad}: {error}");
    }
    // Never matches: no tick, not a hang.
    let never = schedule::read(&json!({"kind": "cron", "cron": "0 0 30 2 *"})).unwrap();
    let due = never.due(
        at("2024-01-01T00:00:00Z"),
        None,
        0,
        at("2099-01-01T00:00:00Z"),
    );
    assert!(due.ticks.is_empty() && due.finished);
}

#[test]
fn an_interval_ticks_from_its_start_every_frequency_until_its_end() {
    let hourly = schedule::read(&json!({
        "kind": "interval", "frequency": "1:00:00", "startAt": "2024-01-01 00:00:00",
        "endAt": "2024-01-01 02:30:00",
    }))
    .unwrap();
    let due = hourly.due(
        at("2023-12-31T00:00:00Z"),
        None,
        0,
        at("2024-01-02T00:00:00Z"),
    );
    assert_eq!(
        texts(&due.ticks),
        [
            "2024-01-01T00:00:00",
            "2024-01-01T01:00:00",
            "2024-01-01T02:00:00"
        ]
    );
    assert!(due.finished);
    let daily =
        schedule::read(&json!({"kind": "interval", "frequency": "1 day, 0:00:30"})).unwrap();
    let created = at("2024-01-01T00:00:00Z");
    let due = daily.due(created, Some(created), 1, at("2024-01-02T00:00:30Z"));
    assert_eq!(texts(&due.ticks), ["2024-01-02T00:00:30"]);
    assert!(schedule::read(&json!({"kind": "interval", "frequency": 0})).is_err());
}

#[test]
fn a_datetime_ticks_once() {
    let once =
        schedule::read(&json!({"kind": "datetime", "startAt": "2024-06-01 12:00:00"})).unwrap();
    let created = at("2024-01-01T00:00:00Z");
    assert!(
        once.due(created, None, 0, at("2024-06-01T11:00:00Z"))
            .ticks
            .is_empty()
    );
    let due = once.due(created, None, 0, at("2024-07-01T00:00:00Z"));
    assert_eq!(texts(&due.ticks), ["2024-06-01T12:00:00"]);
    assert!(due.finished);
    assert!(schedule::read(&json!({"kind": "datetime"})).is_err());
}

#[test]
fn missed_ticks_start_the_latest_hundred_and_years_of_them_cost_little() {
    let minutely = schedule::read(&json!({"kind": "cron", "cron": "* * * * *"})).unwrap();
    let created = at("2024-01-01T00:00:00Z");
    // Down for 150 minutes: the latest 100 are due, 50 passed over.
    let due = minutely.due(created, None, 0, at("2024-01-01T02:30:00Z"));
    assert_eq!(due.ticks.len(), MAX_MISSED);
    assert_eq!(due.passed_over, 50);
    assert_eq!(texts(&due.ticks[99..]), ["2024-01-01T02:30:00"]);
    // Ten years of a schedule by the second.
    let every_second = schedule::read(&json!({"kind": "cron", "cron": "* * * * * *"})).unwrap();
    let started = std::time::Instant::now();
    let due = every_second.due(created, None, 0, at("2034-01-01T00:00:00Z"));
    assert!(
        started.elapsed().as_secs_f64() < 2.0,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(due.ticks.len(), MAX_MISSED);
    assert_eq!(texts(&due.ticks[99..]), ["2034-01-01T00:00:00"]);
    assert!(due.passed_over > 0);
}
