//! What the Logs tab shows of a run's lines: every line kept compactly (a million of them fit),
//! which pod and container printed each, a search over their text (a regular expression,
//! case-insensitive), and where its matches fall inside a line's coloured pieces, so they can be
//! marked without losing the colours.

use std::ops::Range;

use regex_lite::{Regex, RegexBuilder};
use shared::api::LogLine;
use shared::time::Timestamp;

use crate::ansi::{self, Segment};

/// Who printed a line: `pod/container`, or what of it is known.
pub fn source(line: &LogLine) -> String {
    match (line.pod.as_deref(), line.container.as_deref()) {
        (Some(pod), Some(container)) => format!("{pod}/{container}"),
        (Some(only), None) | (None, Some(only)) => only.to_owned(),
        (None, None) => String::new(),
    }
}

/// Every line a run printed so far, and what the reader chose to see of them: one source or
/// all, and the lines a search finds among those.
///
/// The lines' texts sit one after another in one string rather than a `String` each, and the
/// lines shown and found are kept up to date as lines arrive, so a batch costs its own size,
/// not the size of everything before it.
#[derive(Debug, Default)]
pub struct LogBook {
    text: String,
    /// Where each line's text ends in `text`.
    ends: Vec<usize>,
    times: Vec<Timestamp>,
    /// Every source, in order of first sight.
    sources: Vec<String>,
    /// For each source, the places of its lines.
    lines_of: Vec<Vec<u32>>,
    /// The source shown, or all of them.
    chosen: Option<usize>,
    search: Option<Search>,
    /// The places, among the shown lines, of those the search finds.
    found: Vec<usize>,
}

/// A line as shown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shown<'a> {
    /// The text, with its terminal escapes.
    pub value: &'a str,
    /// When it was printed.
    pub timestamp: Timestamp,
}

impl LogBook {
    /// Adds lines after those there are.
    pub fn push(&mut self, lines: impl IntoIterator<Item = LogLine>) {
        for line in lines {
            let place = self.ends.len();
            let named = source(&line);
            let source = match self.sources.iter().position(|known| *known == named) {
                Some(known) => known,
                None => {
                    self.sources.push(named);
                    self.lines_of.push(Vec::new());
                    self.sources.len() - 1
                }
            };
            self.text.push_str(&line.value);
            self.ends.push(self.text.len());
            self.times.push(line.timestamp);
            // wasm32's addresses are 32 bits wide: a place always fits.
            self.lines_of[source].push(place as u32);
            if self.chosen.is_none_or(|chosen| chosen == source) {
                let shown = self.shown_len() - 1;
                if self.finds(place) {
                    self.found.push(shown);
                }
            }
        }
    }

    /// How many lines there are, shown or not.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no lines yet.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Every source the lines have, in order of first sight.
    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    /// Shows only the lines of `source`, or all of them when it is `None` or not known.
    pub fn choose(&mut self, source: Option<&str>) {
        self.chosen =
            source.and_then(|source| self.sources.iter().position(|known| known == source));
        self.find_again();
    }

    /// Searches the shown lines, or stops searching.
    pub fn search(&mut self, search: Option<Search>) {
        self.search = search;
        self.find_again();
    }

    /// How many lines are shown.
    pub fn shown_len(&self) -> usize {
        match self.chosen {
            Some(chosen) => self.lines_of[chosen].len(),
            None => self.len(),
        }
    }

    /// The shown line at `place` among the shown ones.
    pub fn shown(&self, place: usize) -> Option<Shown<'_>> {
        let line = self.line_at(place)?;
        Some(Shown {
            value: self.text_of(line),
            timestamp: self.times[line],
        })
    }

    /// The places, among the shown lines, of those the search finds, in order.
    pub fn found(&self) -> &[usize] {
        &self.found
    }

    /// Whether the search finds the shown line at `place`.
    pub fn is_found(&self, place: usize) -> bool {
        self.found.binary_search(&place).is_ok()
    }

    fn line_at(&self, place: usize) -> Option<usize> {
        match self.chosen {
            Some(chosen) => self.lines_of[chosen].get(place).map(|line| *line as usize),
            None => (place < self.len()).then_some(place),
        }
    }

    fn text_of(&self, line: usize) -> &str {
        let start = line.checked_sub(1).map_or(0, |before| self.ends[before]);
        &self.text[start..self.ends[line]]
    }

    fn finds(&self, line: usize) -> bool {
        self.search
            .as_ref()
            .is_some_and(|search| search.finds(&ansi::plain(self.text_of(line))))
    }

    fn find_again(&mut self) {
        self.found = (0..self.shown_len())
            .filter(|place| self.line_at(*place).is_some_and(|line| self.finds(line)))
            .collect();
    }
}

/// A search typed in the Logs tab.
#[derive(Debug, Clone)]
pub struct Search(Regex);

/// Two searches are the same when their patterns are.
impl PartialEq for Search {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Search {
    /// The search for `text`, or why it is not a regular expression.
    pub fn new(text: &str) -> Result<Self, String> {
        RegexBuilder::new(text)
            .case_insensitive(true)
            .build()
            .map(Search)
            .map_err(|error| error.to_string())
    }

    /// Whether it matches somewhere in `text`, not counting empty matches (of `a*`, say).
    pub fn finds(&self, text: &str) -> bool {
        self.0.find_iter(text).any(|found| !found.is_empty())
    }

    /// Where it matches in `text`; empty matches do not count.
    pub fn ranges(&self, text: &str) -> Vec<Range<usize>> {
        self.0
            .find_iter(text)
            .map(|found| found.range())
            .filter(|range| !range.is_empty())
            .collect()
    }
}

/// A coloured piece of a line cut where matches begin and end: each part says whether it is
/// inside a match.
pub fn marked(segments: &[Segment], matches: &[Range<usize>]) -> Vec<Vec<(String, bool)>> {
    let mut start = 0;
    segments
        .iter()
        .map(|segment| {
            let end = start + segment.text.len();
            let mut cuts = vec![start, end];
            for found in matches {
                cuts.extend(
                    [found.start, found.end]
                        .into_iter()
                        .filter(|at| (start..end).contains(at)),
                );
            }
            cuts.sort_unstable();
            cuts.dedup();
            let parts = cuts
                .windows(2)
                .filter_map(|pair| {
                    let text = segment.text.get(pair[0] - start..pair[1] - start)?;
                    let inside = matches
                        .iter()
                        .any(|found| found.start <= pair[0] && pair[1] <= found.end);
                    Some((text.to_owned(), inside))
                })
                .collect();
            start = end;
            parts
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ansi::segments;

    fn line(pod: Option<&str>, container: Option<&str>) -> LogLine {
        serde_json::from_value(serde_json::json!({
            "timestamp": "2026-11-23T09:00:00Z",
            "pod": pod,
            "container": container,
            "value": "x",
        }))
        .expect("a line")
    }

    fn printed(pod: &str, container: &str, value: &str) -> LogLine {
        LogLine {
            value: value.to_owned(),
            ..line(Some(pod), Some(container))
        }
    }

    fn shown(book: &LogBook) -> Vec<&str> {
        (0..book.shown_len())
            .map(|place| book.shown(place).expect("a shown line").value)
            .collect()
    }

    #[test]
    fn lines_name_their_sources_once_each() {
        let mut book = LogBook::default();
        book.push([
            line(Some("worker-0"), Some("main")),
            line(Some("worker-1"), Some("main")),
            line(Some("worker-0"), Some("main")),
            line(None, Some("main")),
        ]);
        assert_eq!(book.sources(), ["worker-0/main", "worker-1/main", "main"]);
    }

    #[test]
    fn a_source_and_a_search_narrow_the_lines_as_they_arrive() {
        let mut book = LogBook::default();
        book.push([
            printed("w0", "main", "loss=0.9"),
            printed("w1", "main", "\u{1b}[31mloss\u{1b}[0m=0.8"),
        ]);
        assert_eq!(shown(&book), ["loss=0.9", "\u{1b}[31mloss\u{1b}[0m=0.8"]);
        // Colours do not hide a match: the search reads the text as shown.
        book.search(Some(Search::new("LOSS=0\\.8").unwrap()));
        assert_eq!(book.found(), [1]);
        book.choose(Some("w1/main"));
        assert_eq!(shown(&book), ["\u{1b}[31mloss\u{1b}[0m=0.8"]);
        assert_eq!(book.found(), [0]);
        // Lines arriving later are shown and found by the same choice and search.
        book.push([
            printed("w0", "main", "loss=0.8"),
            printed("w1", "main", "epoch 2"),
            printed("w1", "main", "loss=0.81"),
        ]);
        assert_eq!(book.len(), 5);
        assert_eq!(book.shown_len(), 3);
        assert_eq!(book.found(), [0, 2]);
        assert!(book.is_found(2) && !book.is_found(1));
        assert_eq!(book.shown(3), None);
        book.choose(None);
        assert_eq!(book.found(), [1, 2, 4]);
        assert_eq!(book.shown(4).map(|line| line.value), Some("loss=0.81"));
        book.search(None);
        assert!(book.found().is_empty());
        // A source nobody printed from shows everything rather than nothing.
        book.choose(Some("w7/main"));
        assert_eq!(book.shown_len(), 5);
    }

    #[test]
    fn a_search_is_a_case_insensitive_regex_or_says_why_not() {
        let search = Search::new("loss=0\\.\\d").expect("a regex");
        assert_eq!(
            search.ranges("epoch 1: LOSS=0.52 loss=0.41"),
            [9..17, 19..27]
        );
        let error = Search::new("(").unwrap_err();
        assert!(error.contains("open group"), "{error}");
        assert_eq!(
            Search::new("a*").unwrap().ranges("bbb"),
            Vec::<Range<usize>>::new()
        );
    }

    #[test]
    fn matches_are_cut_out_of_coloured_pieces() {
        // "ERROR" red, then " disk nearly " plain, then "full" yellow.
        let pieces = segments("\u{1b}[31mERROR\u{1b}[0m disk nearly \u{1b}[33mfull\u{1b}[0m");
        let plain: String = pieces.iter().map(|piece| piece.text.as_str()).collect();
        let found = Search::new("r.*ly f").unwrap().ranges(&plain);
        let cut = marked(&pieces, &found);
        assert_eq!(
            cut,
            [
                vec![("E".to_owned(), false), ("RROR".to_owned(), true)],
                vec![(" disk nearly ".to_owned(), true)],
                vec![("f".to_owned(), true), ("ull".to_owned(), false)],
            ]
        );
    }
}
