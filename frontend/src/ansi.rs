//! Terminal colours in log lines: a line's text split where its ANSI SGR sequences
//! (`ESC [ … m`) change the style, each piece with the style it is printed in. Other escape
//! sequences (cursor moves, titles) are dropped rather than shown as noise.

use std::borrow::Cow;
/// A piece of a line and how it is printed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Segment {
    /// The text.
    pub text: String,
    /// The attributes' CSS classes (`ansi-bold ansi-underline`), empty when none.
    pub classes: String,
    /// The colours, as inline CSS naming the palette's variables
    /// (`color: var(--ansi-1)`), empty for the default ones.
    pub colours: String,
}

/// The style in force: a colour of the 16-colour palette (0–15) for the text and the
/// background, and the attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Style {
    foreground: Option<u8>,
    background: Option<u8>,
    bold: bool,
    dim: bool,
    italic: bool,
    underline: bool,
}

impl Style {
    fn colours(&self) -> String {
        let mut colours = Vec::new();
        if let Some(color) = self.foreground {
            colours.push(format!("color: var(--ansi-{color})"));
        }
        if let Some(color) = self.background {
            colours.push(format!("background: var(--ansi-{color})"));
        }
        colours.join("; ")
    }

    fn classes(&self) -> String {
        let mut classes = Vec::new();
        for (on, name) in [
            (self.bold, "ansi-bold"),
            (self.dim, "ansi-dim"),
            (self.italic, "ansi-italic"),
            (self.underline, "ansi-underline"),
        ] {
            if on {
                classes.push(name.to_owned());
            }
        }
        classes.join(" ")
    }

    /// Applies one SGR sequence's parameters.
    fn apply(&mut self, parameters: &str) {
        let codes: Vec<u16> = parameters
            .split(';')
            .map(|code| code.parse().unwrap_or(0))
            .collect();
        let mut index = 0;
        while index < codes.len() {
            match codes[index] {
                0 => *self = Style::default(),
                1 => self.bold = true,
                2 => self.dim = true,
                3 => self.italic = true,
                4 => self.underline = true,
                22 => (self.bold, self.dim) = (false, false),
                23 => self.italic = false,
                24 => self.underline = false,
                code @ 30..=37 => self.foreground = Some((code - 30) as u8),
                39 => self.foreground = None,
                code @ 40..=47 => self.background = Some((code - 40) as u8),
                49 => self.background = None,
                code @ 90..=97 => self.foreground = Some((code - 90 + 8) as u8),
                code @ 100..=107 => self.background = Some((code - 100 + 8) as u8),
                // 256-colour and true-colour: the nearest of the 16 for the first 16, and the
                // sequence skipped otherwise.
                code @ (38 | 48) => {
                    let color = match codes.get(index + 1) {
                        Some(5) => {
                            index += 2;
                            codes
                                .get(index)
                                .and_then(|&n| u8::try_from(n).ok())
                                .filter(|&n| n < 16)
                        }
                        Some(2) => {
                            index += 4;
                            None
                        }
                        _ => None,
                    };
                    if code == 38 {
                        self.foreground = color;
                    } else {
                        self.background = color;
                    }
                }
                _ => {}
            }
            index += 1;
        }
    }
}

/// `line` as it reads on screen, without its escapes; borrowed when it has none, as most
/// lines do, since searches read every line.
pub fn plain(line: &str) -> Cow<'_, str> {
    if !line.contains('\u{1b}') {
        return Cow::Borrowed(line);
    }
    Cow::Owned(
        segments(line)
            .into_iter()
            .map(|segment| segment.text)
            .collect(),
    )
}

/// `line` in pieces of one style each; a line without escapes is one plain piece.
pub fn segments(line: &str) -> Vec<Segment> {
    let mut pieces: Vec<Segment> = Vec::new();
    let mut style = Style::default();
    let mut text = String::new();
    let mut chars = line.chars().peekable();
    let flush = |text: &mut String, style: &Style, pieces: &mut Vec<Segment>| {
        if !text.is_empty() {
            pieces.push(Segment {
                text: std::mem::take(text),
                classes: style.classes(),
                colours: style.colours(),
            });
        }
    };
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            text.push(c);
            continue;
        }
        match chars.peek() {
            // CSI: parameters and intermediates, then a final byte in @–~.
            Some('[') => {
                chars.next();
                let mut parameters = String::new();
                let mut last = None;
                for next in chars.by_ref() {
                    if ('@'..='~').contains(&next) {
                        last = Some(next);
                        break;
                    }
                    parameters.push(next);
                }
                if last == Some('m') {
                    flush(&mut text, &style, &mut pieces);
                    style.apply(&parameters);
                }
            }
            // OSC (a title, a link): up to BEL or ESC \.
            Some(']') => {
                while let Some(next) = chars.next() {
                    if next == '\u{7}' || (next == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                        break;
                    }
                }
            }
            // Anything else: intermediate bytes (`(` of a charset), then one final byte.
            _ => {
                while chars.next_if(|next| (' '..='/').contains(next)).is_some() {}
                chars.next();
            }
        }
    }
    flush(&mut text, &style, &mut pieces);
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(text: &str, classes: &str, colours: &str) -> Segment {
        Segment {
            text: text.to_owned(),
            classes: classes.to_owned(),
            colours: colours.to_owned(),
        }
    }

    #[test]
    fn plain_text_is_one_plain_piece() {
        assert_eq!(
            segments("epoch 1: loss=0.5"),
            [piece("epoch 1: loss=0.5", "", "")]
        );
        assert!(segments("").is_empty());
    }

    #[test]
    fn colours_and_attributes_split_the_line() {
        let line = "\u{1b}[1;31mERROR\u{1b}[0m disk \u{1b}[93mfull\u{1b}[39m!";
        assert_eq!(
            segments(line),
            [
                piece("ERROR", "ansi-bold", "color: var(--ansi-1)"),
                piece(" disk ", "", ""),
                piece("full", "", "color: var(--ansi-11)"),
                piece("!", "", ""),
            ]
        );
        assert_eq!(
            segments("\u{1b}[38;5;2mok\u{1b}[48;2;1;2;3m!"),
            [
                piece("ok", "", "color: var(--ansi-2)"),
                piece("!", "", "color: var(--ansi-2)"),
            ]
        );
    }

    #[test]
    fn other_escapes_are_dropped() {
        let line = "\u{1b}]0;title\u{7}50%\u{1b}[2K\u{1b}[1Gdone\u{1b}(B";
        assert_eq!(segments(line), [piece("50%done", "", "")]);
        assert_eq!(plain(line), "50%done");
        assert!(matches!(plain("no escapes"), Cow::Borrowed("no escapes")));
    }
}
