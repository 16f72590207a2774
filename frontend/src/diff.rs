//! Line differences between two texts, for "what did I change from the run I copied?".

/// One line of a difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    /// In both texts.
    Same(&'a str),
    /// Only in the original.
    Removed(&'a str),
    /// Only in the new text.
    Added(&'a str),
}

/// The shortest edit from `before` to `after`, line by line: the longest common subsequence,
/// with removals listed before the additions that replace them. Quadratic in lines, which a
/// Polyaxonfile (tens to hundreds of lines) affords on every keystroke.
pub fn lines<'a>(before: &'a str, after: &'a str) -> Vec<Line<'a>> {
    let old: Vec<&str> = before.lines().collect();
    let new: Vec<&str> = after.lines().collect();
    // common[i][j]: the longest common subsequence of old[i..] and new[j..].
    let mut common = vec![vec![0_u32; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            common[i][j] = if old[i] == new[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut changes = Vec::with_capacity(old.len().max(new.len()));
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            changes.push(Line::Same(old[i]));
            i += 1;
            j += 1;
        } else if i < old.len() && (j == new.len() || common[i + 1][j] >= common[i][j + 1]) {
            changes.push(Line::Removed(old[i]));
            i += 1;
        } else {
            changes.push(Line::Added(new[j]));
            j += 1;
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_line_is_removed_then_added_and_the_rest_stays() {
        let before = "kind: component\ninputs:\n- name: lr\n  value: 0.1\nrun:\n  kind: job\n";
        let after = "kind: component\ninputs:\n- name: lr\n  value: 0.01\nrun:\n  kind: job\n  environment: {}\n";
        assert_eq!(
            lines(before, after),
            [
                Line::Same("kind: component"),
                Line::Same("inputs:"),
                Line::Same("- name: lr"),
                Line::Removed("  value: 0.1"),
                Line::Added("  value: 0.01"),
                Line::Same("run:"),
                Line::Same("  kind: job"),
                Line::Added("  environment: {}"),
            ]
        );
    }

    #[test]
    fn the_same_text_has_no_change_and_an_empty_one_removes_everything() {
        let text = "a\nb\n";
        assert!(
            lines(text, text)
                .iter()
                .all(|line| matches!(line, Line::Same(_)))
        );
        assert_eq!(lines(text, ""), [Line::Removed("a"), Line::Removed("b")]);
        assert_eq!(lines("", "x"), [Line::Added("x")]);
    }
}
