//! How times and durations read on every page.

/// `2024-01-02T03:04:05.123456+00:00` as `2024-01-02 03:04 UTC`.
pub fn minute(timestamp: &str) -> String {
    format!(
        "{} UTC",
        timestamp
            .get(..16)
            .unwrap_or(timestamp)
            .replacen('T', " ", 1)
    )
}

/// A duration in seconds as people read it: `4.2 s`, `3 min 10 s`, `2 h 5 min`.
pub fn seconds(total: f64) -> String {
    let whole = total.round() as u64;
    match whole {
        0..=59 => format!("{total:.1} s"),
        60..=3_599 => format!("{} min {} s", whole / 60, whole % 60),
        _ => format!("{} h {} min", whole / 3_600, whole % 3_600 / 60),
    }
}
