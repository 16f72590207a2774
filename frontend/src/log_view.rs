//! What the Logs tab shows of a run's lines: which pod and container printed each, a search
//! over their text (a regular expression, case-insensitive), and where its matches fall inside
//! a line's coloured pieces, so they can be marked without losing the colours.

use std::ops::Range;

use regex_lite::{Regex, RegexBuilder};
use shared::api::LogLine;

use crate::ansi::Segment;

/// Who printed a line: `pod/container`, or what of it is known.
pub fn source(line: &LogLine) -> String {
    match (line.pod.as_deref(), line.container.as_deref()) {
        (Some(pod), Some(container)) => format!("{pod}/{container}"),
        (Some(only), None) | (None, Some(only)) => only.to_owned(),
        (None, None) => String::new(),
    }
}

/// Every source the lines have, in order of first sight.
pub fn sources(lines: &[LogLine]) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for line in lines {
        let source = source(line);
        if !found.contains(&source) {
            found.push(source);
        }
    }
    found
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

    /// Where it matches in `text`; empty matches (of `a*`, say) do not count.
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

    #[test]
    fn lines_name_their_sources_once_each() {
        let lines = [
            line(Some("worker-0"), Some("main")),
            line(Some("worker-1"), Some("main")),
            line(Some("worker-0"), Some("main")),
            line(None, Some("main")),
        ];
        assert_eq!(sources(&lines), ["worker-0/main", "worker-1/main", "main"]);
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
