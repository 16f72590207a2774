//! Long lists rendered a window at a time. Every row has one height (CSS keeps it so), which
//! lets a scroll position name the rows under it without measuring any.

use std::ops::Range;

/// Rows rendered above and below the visible ones, so a fast scroll shows rows, not gaps.
const OVERSCAN: usize = 10;

/// Rows of one height, in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FixedRows(pub f64);

impl FixedRows {
    /// The rows to render for a scroll position and viewport height, out of `count`.
    pub fn window(self, scroll_top: f64, height: f64, count: usize) -> Range<usize> {
        let first = (scroll_top.max(0.0) / self.0).floor() as usize;
        let visible = (height.max(0.0) / self.0).ceil() as usize + 1;
        let start = first.saturating_sub(OVERSCAN).min(count);
        let end = (first + visible + OVERSCAN).min(count);
        start..end
    }

    /// Where `rows` rows end: the top of the next one, or the height of that many.
    pub fn span(self, rows: usize) -> f64 {
        rows as f64 * self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scroll_position_names_the_rows_under_it_and_a_margin() {
        let rows = FixedRows(36.0);
        assert_eq!(rows.window(0.0, 360.0, 10_000), 0..21);
        assert_eq!(rows.window(rows.span(5_000), 360.0, 10_000), 4_990..5_021);
        assert_eq!(rows.window(rows.span(9_995), 360.0, 10_000), 9_985..10_000);
        assert_eq!(rows.window(0.0, 360.0, 3), 0..3);
        assert_eq!(rows.window(-5.0, 0.0, 0), 0..0);
        // A million lines of 16 px stay under the tallest element browsers lay out.
        assert!(FixedRows(16.0).span(1_000_000) < 17_000_000.0);
    }
}
