//! Instants as the API writes them. The clock itself is the caller's: this module only reads and
//! writes timestamps, so the server and the browser print and compare them the same way.

use std::fmt;

/// An instant in UTC, to the microsecond, as Polyaxon keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

impl Timestamp {
    /// The instant this many microseconds after the Unix epoch.
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// The instant `micros` microseconds later (earlier when negative).
    pub const fn plus_micros(self, micros: i64) -> Self {
        Self(self.0 + micros)
    }

    /// Seconds from `earlier` to `self`.
    pub fn seconds_since(self, earlier: Timestamp) -> f64 {
        (self.0 - earlier.0) as f64 / MICROS_PER_SECOND as f64
    }

    /// Reads the ISO 8601 forms clients send: `2024-01-02T03:04:05Z`, with a fraction of a
    /// second or not, with a `+00:00`, `+0000` or `-05:30` offset, a space instead of the `T`,
    /// or a bare date (midnight UTC).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (date, rest) = match text.find(['T', 't', ' ']) {
            Some(at) => (&text[..at], &text[at + 1..]),
            None => (text, ""),
        };
        let days = days_from_date(date)?;
        if rest.is_empty() {
            return Some(Self(days * SECONDS_PER_DAY * MICROS_PER_SECOND));
        }
        let (clock, offset_seconds) = split_offset(rest)?;
        let (hms, fraction) = match clock.split_once('.') {
            Some((hms, fraction)) => (hms, Some(fraction)),
            None => (clock, None),
        };
        let mut parts = hms.split(':');
        let hour = number(parts.next()?, 2)?;
        let minute = number(parts.next()?, 2)?;
        let second = parts.next().map_or(Some(0), |second| number(second, 2))?;
        if parts.next().is_some() || hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let micros = match fraction {
            Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                // Nanoseconds (Kubernetes) are cut to microseconds, as Polyaxon does.
                let kept = &digits[..digits.len().min(6)];
                kept.parse::<i64>().ok()? * 10_i64.pow(6 - kept.len() as u32)
            }
            Some(_) => return None,
            None => 0,
        };
        let seconds = days * SECONDS_PER_DAY + hour * 3_600 + minute * 60 + second - offset_seconds;
        Some(Self(seconds * MICROS_PER_SECOND + micros))
    }
}

impl Timestamp {
    /// Reads the shapes traceml and Python write, fast: `2024-01-02T03:04:05.123456+00:00`,
    /// with a space for the `T`, any number of fraction digits or none, and a `Z`, `±HH:MM` or
    /// `±HHMM` offset or none. Anything else, a valid time included, is `None`: [`Timestamp::parse`]
    /// reads those, and whatever this reads it reads the same.
    pub fn parse_common(text: &[u8]) -> Option<Self> {
        let head: &[u8; 19] = text.get(..19)?.try_into().ok()?;
        let separators = head[4] == b'-'
            && head[7] == b'-'
            && matches!(head[10], b'T' | b't' | b' ')
            && head[13] == b':'
            && head[16] == b':';
        let digits = head
            .iter()
            .enumerate()
            .all(|(at, byte)| matches!(at, 4 | 7 | 10 | 13 | 16) || byte.is_ascii_digit());
        if !(separators && digits) {
            return None;
        }
        let two = |at: usize| i64::from(head[at] - b'0') * 10 + i64::from(head[at + 1] - b'0');
        let year = two(0) * 100 + two(2);
        let (month, day) = (two(5), two(8));
        let (hour, minute, second) = (two(11), two(14), two(17));
        let digit = |at: usize| -> Option<i64> {
            let byte = *text.get(at)?;
            byte.is_ascii_digit().then(|| i64::from(byte - b'0'))
        };
        let two_at = |at: usize| Some(digit(at)? * 10 + digit(at + 1)?);
        let at = |index: usize, byte: u8| text.get(index) == Some(&byte);
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let month_days = match month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            1..=12 => 31,
            _ => return None,
        };
        if day < 1 || day > month_days || hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let mut index = 19;
        let mut micros = 0;
        if at(index, b'.') {
            index += 1;
            let start = index;
            while let Some(value) = digit(index) {
                if index - start < 6 {
                    micros = micros * 10 + value;
                }
                index += 1;
            }
            let kept = (index - start).min(6);
            if kept == 0 {
                return None;
            }
            micros *= 10_i64.pow(6 - kept as u32);
        }
        let offset_seconds = match &text[index..] {
            [] | [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), _, _, rest @ ..] => {
                let minutes = match rest {
                    [b':', _, _] => two_at(index + 4)?,
                    [_, _] => two_at(index + 3)?,
                    _ => return None,
                };
                let seconds = two_at(index + 1)? * 3_600 + minutes * 60;
                if *sign == b'-' { -seconds } else { seconds }
            }
            _ => return None,
        };
        let days = days_from_civil(year, month, day);
        let seconds = days * SECONDS_PER_DAY + hour * 3_600 + minute * 60 + second - offset_seconds;
        Some(Self(seconds * MICROS_PER_SECOND + micros))
    }
}

/// A UTC time's calendar fields: year, month, day, hour, minute, second, and the day of the
/// week (0 for Sunday).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// The year.
    pub year: i64,
    /// 1 to 12.
    pub month: i64,
    /// 1 to 31.
    pub day: i64,
    /// 0 to 23.
    pub hour: i64,
    /// 0 to 59.
    pub minute: i64,
    /// 0 to 59.
    pub second: i64,
    /// 0 (Sunday) to 6.
    pub weekday: i64,
}

impl Timestamp {
    /// The calendar fields of this time in UTC (microseconds dropped).
    pub fn civil(self) -> Civil {
        let seconds = self.0.div_euclid(MICROS_PER_SECOND);
        let days = seconds.div_euclid(SECONDS_PER_DAY);
        let (year, month, day) = date_from_days(days);
        let rest = seconds.rem_euclid(SECONDS_PER_DAY);
        Civil {
            year,
            month,
            day,
            hour: rest / 3_600,
            minute: rest % 3_600 / 60,
            second: rest % 60,
            // 1970-01-01 was a Thursday.
            weekday: (days + 4).rem_euclid(7),
        }
    }

    /// A UTC time from calendar fields; a day past its month's end rolls into the next month.
    pub fn from_civil(
        year: i64,
        month: i64,
        day: i64,
        hour: i64,
        minute: i64,
        second: i64,
    ) -> Self {
        let days = days_from_civil(year, month, day);
        Self((days * SECONDS_PER_DAY + hour * 3_600 + minute * 60 + second) * MICROS_PER_SECOND)
    }

    /// Whole seconds since 1970-01-01 UTC.
    pub const fn as_seconds(self) -> i64 {
        self.0.div_euclid(MICROS_PER_SECOND)
    }
}

/// Written as Python's `datetime.isoformat()` writes an aware UTC time, which is what Polyaxon's
/// API returns: `2024-01-02T03:04:05.123456+00:00`.
impl fmt::Display for Timestamp {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.0.div_euclid(MICROS_PER_SECOND);
        let micros = self.0.rem_euclid(MICROS_PER_SECOND);
        let (year, month, day) = date_from_days(seconds.div_euclid(SECONDS_PER_DAY));
        let rest = seconds.rem_euclid(SECONDS_PER_DAY);
        write!(
            formatter,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}+00:00",
            rest / 3_600,
            rest % 3_600 / 60,
            rest % 60
        )
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Timestamp::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is not an ISO 8601 time such as 2024-01-02T03:04:05+00:00"
            ))
        })
    }
}

fn number(text: &str, width: usize) -> Option<i64> {
    (text.len() == width && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// Splits `03:04:05.1+05:30` into the clock and the offset in seconds east of UTC.
fn split_offset(rest: &str) -> Option<(&str, i64)> {
    if let Some(clock) = rest.strip_suffix(['Z', 'z']) {
        return Some((clock, 0));
    }
    let Some(at) = rest.rfind(['+', '-']) else {
        // No offset: Polyaxon's clients send UTC.
        return Some((rest, 0));
    };
    let (clock, offset) = rest.split_at(at);
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let digits: String = offset[1..].chars().filter(|c| *c != ':').collect();
    let hours = number(digits.get(..2)?, 2)?;
    let minutes = match digits.get(2..) {
        Some("") | None => 0,
        Some(minutes) => number(minutes, 2)?,
    };
    Some((clock, sign * (hours * 3_600 + minutes * 60)))
}

fn days_from_date(date: &str) -> Option<i64> {
    let mut parts = date.split('-');
    let year = number(parts.next()?, 4)?;
    let month = number(parts.next()?, 2)?;
    let day = number(parts.next()?, 2)?;
    if parts.next().is_some() || !(1..=12).contains(&month) || day < 1 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    // A day past the month's end would roll into the next month; refuse it instead.
    (date_from_days(days) == (year, month, day)).then_some(days)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn date_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::Timestamp;

    #[test]
    fn written_as_python_isoformat_and_read_back() {
        let instant = Timestamp::from_micros(1_704_164_645_123_456);
        assert_eq!(instant.to_string(), "2024-01-02T03:04:05.123456+00:00");
        assert_eq!(Timestamp::parse(&instant.to_string()), Some(instant));
        assert_eq!(
            Timestamp::from_micros(951_782_400_000_000).to_string(),
            "2000-02-29T00:00:00.000000+00:00"
        );
    }

    #[test]
    fn reads_the_forms_clients_send() {
        let instant = Timestamp::from_micros(1_704_164_645_116_050);
        for text in [
            "2024-01-02T03:04:05.116050+0000",
            "2024-01-02T03:04:05.11605Z",
            "2024-01-02 03:04:05.116050+00:00",
            "2024-01-02T08:34:05.116050+05:30",
            "2024-01-02T03:04:05.116050123Z",
        ] {
            assert_eq!(Timestamp::parse(text), Some(instant), "{text}");
        }
        assert_eq!(
            Timestamp::parse("2024-01-02"),
            Some(Timestamp::from_micros(1_704_153_600_000_000))
        );
        for bad in [
            "2024-02-30",
            "2024-13-01",
            "yesterday",
            "2024-01-02T25:00:00Z",
            "",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad}");
        }
    }
}
