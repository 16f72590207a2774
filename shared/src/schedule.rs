//! When a schedule's runs are due: `cron`, `interval` and `datetime` schedules, read from a
//! compiled operation's `schedule` section, with `startAt`, `endAt` and `maxRuns`. The clock is
//! the caller's: it asks which ticks are due at `now`, having made runs for the ticks up to
//! `last`.
//!
//! - `cron` is five fields (minute, hour, day of month, month, day of week), or six with
//!   seconds last, as croniter (Polyaxon's) reads them: `*`, lists, ranges, steps, month and
//!   day names, `7` for Sunday, the `@hourly`-style aliases; when both days are restricted, a
//!   day matching either is due. Times are UTC. Ticks come strictly after `startAt` (or the
//!   schedule's creation).
//! - `interval` ticks at `startAt` (or the creation), then every `frequency` (seconds, or a
//!   Python `timedelta` as Polyaxon writes it: `1 day, 2:00:00`).
//! - `datetime` ticks once, at `startAt`.
//!
//! Ticks missed while nobody asked (a server that was down) are due together, the latest
//! [`MAX_MISSED`] of them, as Kubernetes' CronJob starts at most 100; how many older ones were
//! passed over is said. Counting them is bounded too, so a schedule by the second that was
//! down for years costs no more than [`MAX_SCAN`] steps.

use serde_json::Value as Json;

use crate::time::Timestamp;

/// The most missed ticks due at once.
pub const MAX_MISSED: usize = 100;

/// The most ticks counted in one call.
pub const MAX_SCAN: usize = 100_000;

/// A schedule, read.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    kind: Kind,
    start_at: Option<Timestamp>,
    end_at: Option<Timestamp>,
    max_runs: Option<u64>,
    /// Whether a tick waits until the run of the tick before it has ended.
    pub depends_on_past: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Cron(Cron),
    Interval { seconds: i64 },
    Once,
}

/// What is due at a moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Due {
    /// The ticks to start, oldest first.
    pub ticks: Vec<Timestamp>,
    /// How many missed ticks before them are not started (past [`MAX_MISSED`]).
    pub passed_over: u64,
    /// Whether the schedule has no tick left after these (`endAt`, `maxRuns`, a `datetime`).
    pub finished: bool,
    /// When the next tick after these is, if any.
    pub next: Option<Timestamp>,
}

/// Reads a compiled `schedule` section.
pub fn read(schedule: &Json) -> Result<Schedule, String> {
    let time = |name: &str| -> Result<Option<Timestamp>, String> {
        match schedule.get(name) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(text)) => Timestamp::parse(text)
                .map(Some)
                .ok_or_else(|| format!("`{name}` is not a time: `{text}`")),
            Some(other) => Err(format!("`{name}` is not a time: `{other}`")),
        }
    };
    let kind = match schedule.get("kind").and_then(Json::as_str) {
        Some("cron") => Kind::Cron(Cron::parse(
            schedule
                .get("cron")
                .and_then(Json::as_str)
                .ok_or("a cron schedule needs `cron`")?,
        )?),
        Some("interval") => {
            let seconds = match schedule.get("frequency") {
                Some(Json::Number(number)) => number.as_f64().map(|f| f as i64),
                Some(Json::String(text)) => timedelta_seconds(text),
                _ => None,
            }
            .ok_or("an interval schedule needs `frequency`: seconds, or `H:MM:SS`")?;
            if seconds <= 0 {
                return Err("`frequency` must be at least one second".to_owned());
            }
            Kind::Interval { seconds }
        }
        Some("datetime") => Kind::Once,
        other => return Err(format!("`{}` is not a schedule kind", other.unwrap_or(""))),
    };
    let start_at = time("startAt")?;
    if kind == Kind::Once && start_at.is_none() {
        return Err("a datetime schedule needs `startAt`".to_owned());
    }
    Ok(Schedule {
        kind,
        start_at,
        end_at: time("endAt")?,
        max_runs: schedule.get("maxRuns").and_then(Json::as_u64),
        depends_on_past: schedule.get("dependsOnPast").and_then(Json::as_bool) == Some(true),
    })
}

/// Seconds of a Python `timedelta` as `str()` writes it: `[D day[s], ]H:MM:SS[.ffffff]`.
fn timedelta_seconds(text: &str) -> Option<i64> {
    let (days, clock) = match text.split_once(", ") {
        Some((days, clock)) => (
            days.trim_end_matches(" days")
                .trim_end_matches(" day")
                .parse::<i64>()
                .ok()?,
            clock,
        ),
        None => (0, text),
    };
    let mut parts = clock.split(':');
    let hours: i64 = parts.next()?.parse().ok()?;
    let minutes: i64 = parts.next()?.parse().ok()?;
    let seconds: f64 = parts.next()?.parse().ok()?;
    Some(days * 86_400 + hours * 3_600 + minutes * 60 + seconds as i64)
}

impl Schedule {
    /// The ticks due at `now` for a schedule created at `created`, which has made `made` runs,
    /// the last for the tick `last`.
    pub fn due(
        &self,
        created: Timestamp,
        last: Option<Timestamp>,
        made: u64,
        now: Timestamp,
    ) -> Due {
        let mut due = Due::default();
        let left = self.max_runs.map(|max| max.saturating_sub(made));
        if left == Some(0) {
            due.finished = true;
            return due;
        }
        let mut ticks = std::collections::VecDeque::with_capacity(MAX_MISSED);
        let mut cursor = last;
        let mut scanned = 0;
        loop {
            let Some(tick) = self.after(created, cursor) else {
                due.finished = true;
                break;
            };
            if tick > now {
                due.next = Some(tick);
                break;
            }
            if ticks.len() == MAX_MISSED {
                ticks.pop_front();
                due.passed_over += 1;
            }
            ticks.push_back(tick);
            cursor = Some(tick);
            scanned += 1;
            if scanned == MAX_SCAN {
                // Years of missed ticks: the rest up to `now` are passed over uncounted but
                // the latest, found by starting again close to `now`.
                let span = tick.as_micros() - last.unwrap_or(created).as_micros();
                let step = span / MAX_SCAN as i64 * (MAX_MISSED as i64 + 1);
                let restart = Timestamp::from_micros(now.as_micros() - step.max(1));
                if restart > tick {
                    due.passed_over += ticks.len() as u64;
                    ticks.clear();
                    cursor = Some(restart);
                }
                scanned = 0;
            }
        }
        let mut ticks: Vec<Timestamp> = ticks.into();
        if let Some(left) = left.and_then(|left| usize::try_from(left).ok())
            && ticks.len() >= left
        {
            // `maxRuns` counts the runs made, the oldest ticks first.
            ticks.truncate(left);
            due.finished = true;
            due.next = None;
        }
        due.ticks = ticks;
        due
    }

    /// The first tick after `last` (the first of all when `None`), within `endAt`.
    fn after(&self, created: Timestamp, last: Option<Timestamp>) -> Option<Timestamp> {
        let start = self.start_at.unwrap_or(created);
        let tick = match (&self.kind, last) {
            (Kind::Once, None) => Some(start),
            (Kind::Once, Some(_)) => None,
            (Kind::Interval { .. }, None) => Some(start),
            (Kind::Interval { seconds }, Some(last)) => {
                Some(last.plus_micros(seconds.saturating_mul(1_000_000)))
            }
            (Kind::Cron(cron), last) => cron.next_after(last.unwrap_or(start).max(start)),
        }?;
        self.end_at.is_none_or(|end| tick <= end).then_some(tick)
    }
}

/// A cron expression: the values each field allows.
#[derive(Debug, Clone, PartialEq)]
struct Cron {
    seconds: Vec<bool>,
    minutes: Vec<bool>,
    hours: Vec<bool>,
    days: Vec<bool>,
    months: Vec<bool>,
    weekdays: Vec<bool>,
    days_restricted: bool,
    weekdays_restricted: bool,
}

const MONTHS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Cron {
    fn parse(text: &str) -> Result<Self, String> {
        let expanded = match text.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if !(5..=6).contains(&fields.len()) {
            return Err(format!(
                "`{text}` is not a cron expression: it needs 5 fields (minute hour day month \
                 weekday), or 6 with seconds last"
            ));
        }
        let field = |index: usize, low: u32, high: u32, names: &[&str]| {
            allowed(fields[index], low, high, names).map_err(|why| {
                format!("`{text}`: field {} (`{}`): {why}", index + 1, fields[index])
            })
        };
        let mut weekdays = field(4, 0, 7, WEEKDAYS)?;
        if weekdays[7] {
            weekdays[0] = true;
        }
        Ok(Self {
            seconds: match fields.get(5) {
                Some(_) => field(5, 0, 59, &[])?,
                None => (0..60).map(|second| second == 0).collect(),
            },
            minutes: field(0, 0, 59, &[])?,
            hours: field(1, 0, 23, &[])?,
            days: field(2, 1, 31, &[])?,
            months: field(3, 1, 12, MONTHS)?,
            weekdays,
            days_restricted: fields[2] != "*" && fields[2] != "?",
            weekdays_restricted: fields[4] != "*" && fields[4] != "?",
        })
    }

    fn day_matches(&self, day: i64, weekday: i64) -> bool {
        let day = self.days[day as usize];
        let weekday = self.weekdays[weekday as usize];
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => day || weekday,
            (true, false) => day,
            (false, true) => weekday,
            (false, false) => true,
        }
    }

    /// The first matching second strictly after `after`; `None` when nothing matches within
    /// the next years (`0 0 30 2 *`).
    fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let mut time = Timestamp::from_micros((after.as_seconds() + 1) * 1_000_000);
        for _ in 0..100_000 {
            let c = time.civil();
            if !self.months[c.month as usize] {
                let (year, month) = if c.month == 12 {
                    (c.year + 1, 1)
                } else {
                    (c.year, c.month + 1)
                };
                time = Timestamp::from_civil(year, month, 1, 0, 0, 0);
            } else if !self.day_matches(c.day, c.weekday) {
                time = Timestamp::from_civil(c.year, c.month, c.day + 1, 0, 0, 0);
            } else if !self.hours[c.hour as usize] {
                time = Timestamp::from_civil(c.year, c.month, c.day, c.hour + 1, 0, 0);
            } else if !self.minutes[c.minute as usize] {
                time = Timestamp::from_civil(c.year, c.month, c.day, c.hour, c.minute + 1, 0);
            } else if !self.seconds[c.second as usize] {
                time = time.plus_micros(1_000_000);
            } else {
                return Some(time);
            }
        }
        None
    }
}

/// Which values of `low..=high` a cron field allows (indexed by value).
fn allowed(field: &str, low: u32, high: u32, names: &[&str]) -> Result<Vec<bool>, String> {
    let mut allowed = vec![false; high as usize + 1];
    let value = |text: &str| -> Result<u32, String> {
        let lower = text.to_ascii_lowercase();
        if let Some(index) = names.iter().position(|name| *name == lower) {
            // Month names count from 1, weekday names from 0.
            let first = if names.len() == MONTHS.len() { 1 } else { 0 };
            return Ok(index as u32 + first);
        }
        let number: u32 = text
            .parse()
            .map_err(|_| format!("`{text}` is not a number"))?;
        if !(low..=high).contains(&number) {
            return Err(format!("{number} is not in {low}-{high}"));
        }
        Ok(number)
    };
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step
                    .parse()
                    .ok()
                    .filter(|step| *step > 0)
                    .ok_or_else(|| format!("`{step}` is not a step"))?;
                (range, step)
            }
            None => (part, 1),
        };
        let (from, to) = match range {
            "*" | "?" => (low, high),
            _ => match range.split_once('-') {
                Some((from, to)) => (value(from)?, value(to)?),
                None if part.contains('/') => (value(range)?, high),
                None => {
                    let single = value(range)?;
                    (single, single)
                }
            },
        };
        if from > to {
            return Err(format!("the range {from}-{to} is empty"));
        }
        for allowed_value in (from..=to).step_by(step as usize) {
            allowed[allowed_value as usize] = true;
        }
    }
    Ok(allowed)
}
