//! "Did you mean …?": the closest known name to a misspelt one.

/// The candidate closest to `written`, if it is close enough to be what was meant: a typo (at most
/// one edit for short names, at most a third of the name's length for longer ones), or else an
/// abbreviation (`cmd` for `command`: same first letter, the letters in order). Letter case is
/// ignored, so `Container` suggests `container`.
pub fn closest<'a>(
    written: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let written_lower = written.to_lowercase();
    let budget = (written.chars().count() / 3).max(1);
    let candidates: Vec<&str> = candidates.into_iter().collect();
    let typo = candidates
        .iter()
        .map(|candidate| {
            (
                edit_distance(&written_lower, &candidate.to_lowercase()),
                *candidate,
            )
        })
        .filter(|(distance, _)| *distance <= budget)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate);
    typo.or_else(|| {
        candidates
            .iter()
            .copied()
            .filter(|candidate| is_abbreviation(&written_lower, &candidate.to_lowercase()))
            .min_by_key(|candidate| candidate.len())
    })
}

fn is_abbreviation(short: &str, long: &str) -> bool {
    if short.len() < 2 || short.len() >= long.len() || short.chars().next() != long.chars().next() {
        return false;
    }
    let mut rest = long.chars();
    short
        .chars()
        .all(|wanted| rest.any(|character| character == wanted))
}

/// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
/// neighbouring characters each cost one, so `contianer` is one edit from `container`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut previous_previous = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let substitution = usize::from(a[i - 1] != b[j - 1]);
            current[j] = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + substitution);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                current[j] = current[j].min(previous_previous[j - 2] + 1);
            }
        }
        std::mem::swap(&mut previous_previous, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}
