//! A [`SeriesResponse`] as bytes rather than JSON, for a request whose `Accept` names
//! [`SERIES_BINARY`]. A chart of a thousand runs asks for a few hundred thousand points: as
//! JSON, tens of megabytes to write, compress and parse number by number (in WebAssembly, on
//! the page that waits for the chart); as columns of little-endian floats, a copy. It is
//! smaller too: whole-number x (steps) go as varint deltas, and a band, whose four values per
//! bucket are those of the bucket's own first, last, lowest and highest points, goes as each
//! bucket's count of points when that is so, rather than four floats.
//!
//! Layout: varints are LEB128, signed ones zigzagged first; floats are IEEE 754 binary64,
//! little-endian.
//! - The magic `MYS1`, then a varint count of series, then each series:
//! - its run and its name, each a varint byte length and UTF-8;
//! - varints `total`, `non_finite`, `without_x` and `n`, the number of points;
//! - x: a byte `0` and `n` floats, or `1` and `n` signed varints, each point's x less the one
//!   before (the first less 0), every x whole and of magnitude at most 2⁵³;
//! - y: `n` floats;
//! - the band: a byte `0` (none); `1`, a varint `b` and `b` bytes, each bucket's count of
//!   points, in order, the band being their first x, last x, lowest and highest y; or `2`, a
//!   varint `b` and `b` floats each of `x_start`, `x_end`, `min` and `max`;
//! - the summary: a byte of flags, bit 0 for a summary at all, then bits 1 to 7 for `last`,
//!   `min`, `max`, `first_step`, `last_step`, `first_time` and `last_time`; with bit 0, varints
//!   `count` and `non_finite`, then the fields flagged, in that order: floats, signed varint
//!   steps, signed varint microseconds since the Unix epoch. A `last` that is not a number is
//!   not flagged, as JSON says `null` for it.
//!
//! Decoding takes any bytes: what is not this layout, or claims more than the bytes hold, is an
//! error naming the offset, and nothing is allocated beyond what the bytes can fill.

use super::{MetricSummary, Series, SeriesBand, SeriesResponse};
use crate::time::Timestamp;

/// The media type of the encoding: `POST /api/v1/series` answers in it when the request's
/// `Accept` header names it.
pub const SERIES_BINARY: &str = "application/vnd.myelin.series";

const MAGIC: &[u8; 4] = b"MYS1";

/// The largest magnitude of a whole x sent as a delta: every whole number up to it is a float.
const WHOLE_LIMIT: f64 = 9_007_199_254_740_992.0;

/// `response` in the [`SERIES_BINARY`] layout.
pub fn encode_series(response: &SeriesResponse) -> Vec<u8> {
    let points: usize = response.series.iter().map(|series| series.x.len()).sum();
    let mut out = Vec::with_capacity(8 + points * 11 + response.series.len() * 160);
    out.extend_from_slice(MAGIC);
    put_varint(&mut out, response.series.len() as u64);
    for series in &response.series {
        encode_one(&mut out, series);
    }
    out
}

fn encode_one(out: &mut Vec<u8>, series: &Series) {
    put_text(out, &series.run);
    put_text(out, &series.name);
    // x and y have one length on the wire: a series whose columns differ is sent as long as
    // the shorter, as a chart would draw it.
    let n = series.x.len().min(series.y.len());
    let (x, y) = (&series.x[..n], &series.y[..n]);
    for count in [series.total, series.non_finite, series.without_x, n as u64] {
        put_varint(out, count);
    }
    if x.iter().all(|&x| whole(x)) {
        out.push(1);
        let mut previous = 0_i64;
        for &x in x {
            // Whole and within ±2⁵³: exact as an integer, and so is the difference.
            let x = x as i64;
            put_signed(out, x - previous);
            previous = x;
        }
    } else {
        out.push(0);
        x.iter().for_each(|&x| put_float(out, x));
    }
    y.iter().for_each(|&y| put_float(out, y));
    match &series.band {
        None => out.push(0),
        Some(band) => match bucket_counts(x, y, band) {
            Some(counts) => {
                out.push(1);
                put_varint(out, counts.len() as u64);
                out.extend_from_slice(&counts);
            }
            None => {
                out.push(2);
                let b = band.min.len();
                put_varint(out, b as u64);
                for column in [&band.x_start, &band.x_end, &band.min, &band.max] {
                    // Columns of another length are sent as long as `min`, padded with NaN.
                    for k in 0..b {
                        put_float(out, column.get(k).copied().unwrap_or(f64::NAN));
                    }
                }
            }
        },
    }
    encode_summary(out, series.summary.as_ref());
}

fn encode_summary(out: &mut Vec<u8>, summary: Option<&MetricSummary>) {
    let Some(summary) = summary else {
        out.push(0);
        return;
    };
    let last = summary.last.filter(|last| last.is_finite());
    let present = [
        last.is_some(),
        summary.min.is_some(),
        summary.max.is_some(),
        summary.first_step.is_some(),
        summary.last_step.is_some(),
        summary.first_time.is_some(),
        summary.last_time.is_some(),
    ];
    let flags = present.iter().enumerate().fold(1_u8, |flags, (bit, &set)| {
        flags | (u8::from(set) << (bit + 1))
    });
    out.push(flags);
    put_varint(out, summary.count);
    put_varint(out, summary.non_finite);
    for value in [last, summary.min, summary.max].into_iter().flatten() {
        put_float(out, value);
    }
    for step in [summary.first_step, summary.last_step]
        .into_iter()
        .flatten()
    {
        put_signed(out, step);
    }
    for time in [summary.first_time, summary.last_time]
        .into_iter()
        .flatten()
    {
        put_signed(out, time.as_micros());
    }
}

/// Whether `x` is sent as a whole number: it comes back the very same float.
fn whole(x: f64) -> bool {
    x.abs() <= WHOLE_LIMIT && ((x as i64) as f64).to_bits() == x.to_bits()
}

/// Each bucket's count of points, when the band is exactly what those counts give back
/// ([`band_of`]); `None` when it is not (a band made some other way), which is then sent whole.
fn bucket_counts(x: &[f64], y: &[f64], band: &SeriesBand) -> Option<Vec<u8>> {
    let b = band.min.len();
    if [band.x_start.len(), band.x_end.len(), band.max.len()] != [b; 3] {
        return None;
    }
    let mut counts = Vec::with_capacity(b);
    let mut at = 0;
    for k in 0..b {
        let start = at;
        while at < x.len() && at - start < usize::from(u8::MAX) && x[at] <= band.x_end[k] {
            at += 1;
        }
        let derived = band_of(&x[start..at], &y[start..at])?;
        let given = [band.x_start[k], band.x_end[k], band.min[k], band.max[k]];
        if derived.map(f64::to_bits) != given.map(f64::to_bits) {
            return None;
        }
        counts.push((at - start) as u8);
    }
    (at == x.len()).then_some(counts)
}

/// A bucket's band from its points: first x, last x, lowest and highest y (the earliest of
/// equal ones). `None` for a bucket without points.
fn band_of(x: &[f64], y: &[f64]) -> Option<[f64; 4]> {
    let (&first, &last) = (x.first()?, x.last()?);
    let (mut low, mut high) = (y[0], y[0]);
    for &value in &y[1..] {
        if value < low {
            low = value;
        }
        if value > high {
            high = value;
        }
    }
    Some([first, last, low, high])
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_signed(out: &mut Vec<u8>, value: i64) {
    put_varint(out, ((value << 1) ^ (value >> 63)) as u64);
}

fn put_float(out: &mut Vec<u8>, value: f64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_text(out: &mut Vec<u8>, text: &str) {
    put_varint(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

/// Why bytes are not a [`SERIES_BINARY`] answer: what was wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesDecodeError {
    /// Where in the bytes.
    pub offset: usize,
    /// What was wrong there.
    pub problem: String,
}

impl std::fmt::Display for SeriesDecodeError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "the series answer cannot be read at byte {}: {}",
            self.offset, self.problem
        )
    }
}

impl std::error::Error for SeriesDecodeError {}

/// The [`SeriesResponse`] that `bytes` encode.
pub fn decode_series(bytes: &[u8]) -> Result<SeriesResponse, SeriesDecodeError> {
    let mut reader = Reader { bytes, at: 0 };
    if reader.take(MAGIC.len())? != MAGIC {
        return Err(reader.fail(0, "it does not start with `MYS1`"));
    }
    // Each series takes at least nine bytes.
    let count = reader.count(9)?;
    let mut series = Vec::with_capacity(count);
    for _ in 0..count {
        series.push(reader.series()?);
    }
    if reader.at != bytes.len() {
        return Err(reader.fail(reader.at, "bytes follow the last series"));
    }
    Ok(SeriesResponse { series })
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn fail(&self, offset: usize, problem: impl Into<String>) -> SeriesDecodeError {
        SeriesDecodeError {
            offset,
            problem: problem.into(),
        }
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], SeriesDecodeError> {
        let end = self
            .at
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| self.fail(self.at, format!("{len} more bytes are missing")))?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn byte(&mut self) -> Result<u8, SeriesDecodeError> {
        Ok(self.take(1)?[0])
    }

    fn varint(&mut self) -> Result<u64, SeriesDecodeError> {
        let start = self.at;
        let mut value = 0_u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            let part = u64::from(byte & 0x7f);
            if shift == 63 && part > 1 {
                break;
            }
            value |= part << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.fail(start, "a number is longer than 64 bits"))
    }

    fn signed(&mut self) -> Result<i64, SeriesDecodeError> {
        let value = self.varint()?;
        Ok(((value >> 1) as i64) ^ -((value & 1) as i64))
    }

    /// A count of things each taking at least `min_bytes`, no more than the bytes left hold.
    fn count(&mut self, min_bytes: usize) -> Result<usize, SeriesDecodeError> {
        let start = self.at;
        let count = self.varint()?;
        let left = (self.bytes.len() - self.at) / min_bytes.max(1);
        usize::try_from(count)
            .ok()
            .filter(|&count| count <= left)
            .ok_or_else(|| self.fail(start, format!("a count of {count} is more than follows")))
    }

    fn float(&mut self) -> Result<f64, SeriesDecodeError> {
        let bytes = self.take(8)?;
        let mut array = [0; 8];
        array.copy_from_slice(bytes);
        Ok(f64::from_le_bytes(array))
    }

    fn floats(&mut self, n: usize) -> Result<Vec<f64>, SeriesDecodeError> {
        let bytes = self.take(n.saturating_mul(8))?;
        Ok(bytes
            .chunks_exact(8)
            .map(|chunk| {
                let mut array = [0; 8];
                array.copy_from_slice(chunk);
                f64::from_le_bytes(array)
            })
            .collect())
    }

    fn text(&mut self) -> Result<String, SeriesDecodeError> {
        let len = self.count(1)?;
        let start = self.at;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.fail(start, "a name is not UTF-8"))
    }

    fn series(&mut self) -> Result<Series, SeriesDecodeError> {
        let run = self.text()?;
        let name = self.text()?;
        let [total, non_finite, without_x] = [self.varint()?, self.varint()?, self.varint()?];
        // Each point takes at least nine bytes: a one-byte x and an eight-byte y.
        let n = self.count(9)?;
        let x = match self.byte()? {
            0 => self.floats(n)?,
            1 => {
                let mut x = Vec::with_capacity(n);
                let mut previous = 0_i64;
                for _ in 0..n {
                    let start = self.at;
                    let next = previous
                        .checked_add(self.signed()?)
                        .filter(|next| next.unsigned_abs() <= WHOLE_LIMIT as u64)
                        .ok_or_else(|| self.fail(start, "an x is beyond 2⁵³"))?;
                    x.push(next as f64);
                    previous = next;
                }
                x
            }
            other => return Err(self.fail(self.at - 1, format!("no x layout is {other}"))),
        };
        let y = self.floats(n)?;
        let band = match self.byte()? {
            0 => None,
            1 => Some(self.counted_band(&x, &y)?),
            2 => {
                let b = self.count(32)?;
                let [x_start, x_end, min, max] = [
                    self.floats(b)?,
                    self.floats(b)?,
                    self.floats(b)?,
                    self.floats(b)?,
                ];
                Some(SeriesBand {
                    x_start,
                    x_end,
                    min,
                    max,
                })
            }
            other => return Err(self.fail(self.at - 1, format!("no band layout is {other}"))),
        };
        let summary = self.summary()?;
        Ok(Series {
            run,
            name,
            x,
            y,
            band,
            total,
            returned: n as u64,
            non_finite,
            without_x,
            summary,
        })
    }

    fn counted_band(&mut self, x: &[f64], y: &[f64]) -> Result<SeriesBand, SeriesDecodeError> {
        let b = self.count(1)?;
        let start = self.at;
        let counts = self.take(b)?;
        let mut band = SeriesBand {
            x_start: Vec::with_capacity(b),
            x_end: Vec::with_capacity(b),
            min: Vec::with_capacity(b),
            max: Vec::with_capacity(b),
        };
        let mut at = 0;
        for &count in counts {
            let end = at + usize::from(count);
            let [x_start, x_end, min, max] = (end <= x.len())
                .then(|| band_of(&x[at..end], &y[at..end]))
                .flatten()
                .ok_or_else(|| self.fail(start, "the band's counts do not fit the points"))?;
            band.x_start.push(x_start);
            band.x_end.push(x_end);
            band.min.push(min);
            band.max.push(max);
            at = end;
        }
        if at != x.len() {
            return Err(self.fail(start, "the band's counts do not cover the points"));
        }
        Ok(band)
    }

    fn summary(&mut self) -> Result<Option<MetricSummary>, SeriesDecodeError> {
        let flags = self.byte()?;
        if flags & 1 == 0 {
            return if flags == 0 {
                Ok(None)
            } else {
                Err(self.fail(self.at - 1, "a summary's fields are flagged without it"))
            };
        }
        let has = |bit: u8| flags & (1 << bit) != 0;
        let mut summary = MetricSummary {
            count: self.varint()?,
            non_finite: self.varint()?,
            ..MetricSummary::default()
        };
        for (bit, field) in [
            (1, &mut summary.last),
            (2, &mut summary.min),
            (3, &mut summary.max),
        ] {
            if has(bit) {
                *field = Some(self.float()?);
            }
        }
        for (bit, field) in [(4, &mut summary.first_step), (5, &mut summary.last_step)] {
            if has(bit) {
                *field = Some(self.signed()?);
            }
        }
        for (bit, field) in [(6, &mut summary.first_time), (7, &mut summary.last_time)] {
            if has(bit) {
                *field = Some(Timestamp::from_micros(self.signed()?));
            }
        }
        Ok(Some(summary))
    }
}
