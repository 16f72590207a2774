//! A quick reader for the YAML that Polyaxonfiles are almost always written in.
//!
//! saphyr's scanner allocates a string per token and queues tokens for its parser, which made
//! reading the YAML about a third of the time of compiling a file. This reader works on the bytes
//! directly and borrows scalars from the text where it can. It reads a subset of YAML: block
//! mappings and sequences, plain scalars (also over several lines), quoted scalars on one line,
//! literal and folded block scalars, flow collections on one line, and comments. For those it
//! gives the [`Builder`] exactly the events, with exactly the spans, that saphyr's parser gives,
//! so the tree and every diagnostic are the same whichever reads the text.
//!
//! Everything else gives up with [`Unsupported`], and the text is read again by saphyr: anchors,
//! aliases, tags, explicit keys, directives and document markers, tabs, carriage returns and
//! other control or non-ASCII characters, multi-line flow collections and quoted scalars, empty
//! sequence items, indentation indicators, and every syntax error, so that saphyr reports it.

use std::borrow::Cow;

use saphyr_parser::{Event, ScalarStyle};

use super::Builder;
use crate::diagnostic::{Position, Span};

/// The text is outside the subset read here.
pub(super) struct Unsupported;

type Read<T = ()> = Result<T, Unsupported>;

/// Deeper nesting than Polyaxonfiles have is left to saphyr, so recursion stays shallow.
const MAX_DEPTH: usize = 64;

/// saphyr refuses a simple key that runs past 1024 characters; long keys are left to it.
const MAX_KEY_LENGTH: usize = 1000;

/// Feeds the events of `text` to `builder`, or gives up (leaving `builder` half-built) when the
/// text is not in the subset.
pub(super) fn read(text: &str, builder: &mut Builder) -> Read {
    let bytes = text.as_bytes();
    if !bytes
        .iter()
        .all(|&byte| byte == b'\n' || (b' '..=b'~').contains(&byte))
    {
        return Err(Unsupported);
    }
    // Directives and document markers are only read at the start of a line.
    let line_starts = std::iter::once(0).chain(
        bytes
            .iter()
            .enumerate()
            .filter(|(_, byte)| **byte == b'\n')
            .map(|(at, _)| at + 1),
    );
    for start in line_starts {
        let line = &bytes[start..];
        if line.starts_with(b"---") || line.starts_with(b"...") || line.starts_with(b"%") {
            return Err(Unsupported);
        }
    }
    let mut reader = Reader {
        text,
        bytes,
        pos: 0,
        line: 1,
        line_start: 0,
        depth: 0,
        builder,
    };
    reader.skip_to_next_token()?;
    if reader.at_end() {
        return Ok(());
    }
    reader.block_node(-1, Place::Line)?;
    reader.skip_to_next_token()?;
    if reader.at_end() {
        Ok(())
    } else {
        Err(Unsupported)
    }
}

/// Where a block node starts, which decides what it may be.
#[derive(Clone, Copy, PartialEq)]
enum Place {
    /// After `key: ` on the key's line: a scalar or a flow collection.
    Inline,
    /// After `- ` on the dash's line: a mapping may start there too.
    Item,
    /// First on its line: anything but a block scalar.
    Line,
}

/// A scalar read, not yet given to the builder.
struct Scalar<'a> {
    text: Cow<'a, str>,
    style: ScalarStyle,
    span: Span,
}

#[derive(Clone, Copy, PartialEq)]
enum Chomping {
    Strip,
    Clip,
    Keep,
}

struct Reader<'a, 'b> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// The line of `pos`, counting from 1.
    line: u32,
    /// Where the line of `pos` starts.
    line_start: usize,
    depth: usize,
    builder: &'b mut Builder,
}

/// A space, a line break or the end of the text (which `peek` reads as 0).
fn is_blank_or_end(byte: u8) -> bool {
    matches!(byte, b' ' | b'\n' | 0)
}

fn is_flow_indicator(byte: u8) -> bool {
    matches!(byte, b',' | b'[' | b']' | b'{' | b'}')
}

/// Whether a plain scalar may start with `byte` followed by `next`. Indicators are refused even
/// where YAML would take them as plain (`?x`, `:x`); saphyr reads those.
fn starts_plain(byte: u8, next: u8, in_flow: bool) -> bool {
    match byte {
        b'-' => !(is_blank_or_end(next) || (in_flow && is_flow_indicator(next))),
        b'?' | b':' | b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|'
        | b'>' | b'\'' | b'"' | b'%' | b'@' | b'`' | b' ' | b'\n' | 0 => false,
        _ => true,
    }
}

impl<'a> Reader<'a, '_> {
    fn peek(&self) -> u8 {
        self.peek_at(0)
    }

    fn peek_at(&self, offset: usize) -> u8 {
        self.bytes.get(self.pos + offset).copied().unwrap_or(0)
    }

    fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }

    fn col(&self) -> usize {
        self.pos - self.line_start
    }

    fn mark(&self) -> Position {
        Position {
            line: self.line,
            column: self.col() as u32 + 1,
        }
    }

    /// Where saphyr ends a block collection indented by `indent`: at the next token, or at the
    /// end of the text where the end of the text is, unless the last line's blanks reach the
    /// collection's indentation; then at the start of the line after the last one.
    fn end_mark(&self, indent: usize) -> Position {
        if self.at_end() && self.col() > 0 && indent <= self.col() {
            Position {
                line: self.line + 1,
                column: 1,
            }
        } else {
            self.mark()
        }
    }

    fn newline(&mut self) {
        self.pos += 1;
        self.line += 1;
        self.line_start = self.pos;
    }

    fn skip_spaces(&mut self) {
        self.pos = self.after_spaces(self.pos);
    }

    /// Where the spaces from `at` on end.
    fn after_spaces(&self, mut at: usize) -> usize {
        while self.bytes.get(at) == Some(&b' ') {
            at += 1;
        }
        at
    }

    fn skip_to_line_end(&mut self) {
        while !matches!(self.peek(), b'\n' | 0) {
            self.pos += 1;
        }
    }

    /// Whether only spaces come before `pos` on its line.
    fn first_on_line(&self) -> bool {
        self.bytes[self.line_start..self.pos]
            .iter()
            .all(|&byte| byte == b' ')
    }

    /// Skips spaces, line breaks and comments, as saphyr does between tokens.
    fn skip_to_next_token(&mut self) -> Read {
        loop {
            match self.peek() {
                b' ' => self.pos += 1,
                b'\n' => self.newline(),
                b'#' => {
                    // saphyr takes a comment glued to the token before it in some places and
                    // refuses it in others; such text is left to it.
                    if self.pos > self.line_start && self.bytes[self.pos - 1] != b' ' {
                        return Err(Unsupported);
                    }
                    self.skip_to_line_end();
                }
                _ => return Ok(()),
            }
        }
    }

    /// Skips spaces and a comment up to the end of the line, as saphyr does after a quoted scalar
    /// and a block scalar's header.
    fn skip_spaces_and_comment(&mut self) -> Read {
        let start = self.pos;
        self.skip_spaces();
        if self.peek() == b'#' {
            if self.pos == start {
                return Err(Unsupported);
            }
            self.skip_to_line_end();
        }
        Ok(())
    }

    fn emit(&mut self, event: Event<'a>, span: Span) -> Read {
        self.builder.event(event, span).map_err(|_| Unsupported)
    }

    fn emit_scalar(&mut self, scalar: Scalar<'a>) -> Read {
        self.emit(
            Event::Scalar(scalar.text, scalar.style, 0, None),
            scalar.span,
        )
    }

    /// The empty scalar of a key with no value, placed where saphyr places it: at the `:`.
    fn emit_empty(&mut self, at: Position) -> Read {
        self.emit_at(
            Event::Scalar(Cow::Borrowed(""), ScalarStyle::Plain, 0, None),
            at,
        )
    }

    fn emit_at(&mut self, event: Event<'a>, at: Position) -> Read {
        self.emit(event, Span { start: at, end: at })
    }

    fn enter(&mut self) -> Read {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Unsupported);
        }
        Ok(())
    }

    /// A node in block context, starting at `pos`, inside a block whose indentation is `parent`
    /// (-1 for the document).
    fn block_node(&mut self, parent: i64, place: Place) -> Read {
        self.enter()?;
        match self.peek() {
            b'-' if is_blank_or_end(self.peek_at(1)) => {
                if place != Place::Line {
                    return Err(Unsupported);
                }
                self.block_sequence(false)?;
            }
            b'[' | b'{' => {
                self.flow_collection()?;
                if !matches!(self.peek(), b'\n' | 0) {
                    return Err(Unsupported);
                }
            }
            b'|' | b'>' => {
                if place == Place::Line {
                    return Err(Unsupported);
                }
                self.block_scalar(parent)?;
            }
            b'\'' | b'"' => {
                let scalar = self.quoted()?;
                if self.peek() == b':' {
                    if place == Place::Inline || !is_blank_or_end(self.peek_at(1)) {
                        return Err(Unsupported);
                    }
                    self.block_mapping(scalar)?;
                } else if matches!(self.peek(), b'\n' | 0) {
                    self.emit_scalar(scalar)?;
                } else {
                    return Err(Unsupported);
                }
            }
            byte if starts_plain(byte, self.peek_at(1), false) => {
                let (scalar, is_key) = self.block_plain(parent)?;
                if is_key {
                    if place == Place::Inline {
                        return Err(Unsupported);
                    }
                    self.block_mapping(scalar)?;
                } else {
                    self.emit_scalar(scalar)?;
                }
            }
            _ => return Err(Unsupported),
        }
        self.depth -= 1;
        Ok(())
    }

    /// A block mapping whose first key has been read; `pos` is at the key's `:`.
    fn block_mapping(&mut self, first_key: Scalar<'a>) -> Read {
        let indent = first_key.span.start.column as usize - 1;
        self.emit_at(Event::MappingStart(0, None), first_key.span.start)?;
        let mut key = first_key;
        loop {
            if self.col() - (key.span.start.column as usize - 1) > MAX_KEY_LENGTH {
                return Err(Unsupported);
            }
            self.emit_scalar(key)?;
            let colon = self.mark();
            self.pos += 1;
            self.mapping_value(indent, colon)?;
            self.skip_to_next_token()?;
            if self.at_end() || self.col() < indent {
                return self.emit_at(Event::MappingEnd, self.end_mark(indent));
            }
            if self.col() > indent || !self.first_on_line() {
                return Err(Unsupported);
            }
            key = self.mapping_key()?;
        }
    }

    /// The key of a mapping's next entry, which must be one; `pos` is left at its `:`.
    fn mapping_key(&mut self) -> Read<Scalar<'a>> {
        let key = match self.peek() {
            b'\'' | b'"' => self.quoted()?,
            byte if starts_plain(byte, self.peek_at(1), false) => self.plain(false)?,
            _ => return Err(Unsupported),
        };
        self.skip_spaces();
        if self.peek() == b':' && is_blank_or_end(self.peek_at(1)) {
            Ok(key)
        } else {
            Err(Unsupported)
        }
    }

    /// The value after a key's `:` (at `colon`), in a mapping indented by `indent`.
    fn mapping_value(&mut self, indent: usize, colon: Position) -> Read {
        self.skip_spaces();
        if !matches!(self.peek(), b'\n' | b'#' | 0) {
            return self.block_node(indent as i64, Place::Inline);
        }
        self.skip_to_next_token()?;
        if self.at_end() || self.col() < indent {
            return self.emit_empty(colon);
        }
        if self.col() == indent {
            return if self.peek() == b'-' && is_blank_or_end(self.peek_at(1)) {
                self.block_sequence(true)
            } else {
                self.emit_empty(colon)
            };
        }
        self.block_node(indent as i64, Place::Line)
    }

    /// A block sequence; `pos` is at its first `-`. An indentless one is a mapping's value
    /// written at the mapping's own indentation.
    fn block_sequence(&mut self, indentless: bool) -> Read {
        let indent = self.col();
        if !indentless {
            self.emit_at(Event::SequenceStart(0, None), self.mark())?;
        }
        let mut first = true;
        loop {
            self.pos += 1;
            self.skip_spaces();
            if matches!(self.peek(), b'\n' | b'#' | 0) {
                return Err(Unsupported);
            }
            if indentless && first {
                // saphyr starts an indentless sequence where its first item's content starts.
                self.emit_at(Event::SequenceStart(0, None), self.mark())?;
            }
            first = false;
            self.block_node(indent as i64, Place::Item)?;
            self.skip_to_next_token()?;
            if self.at_end() || self.col() < indent {
                break;
            }
            if self.col() > indent || !self.first_on_line() {
                return Err(Unsupported);
            }
            if !(self.peek() == b'-' && is_blank_or_end(self.peek_at(1))) {
                if indentless {
                    break;
                }
                return Err(Unsupported);
            }
        }
        self.emit_at(Event::SequenceEnd, self.end_mark(indent))
    }

    /// The first line of a plain scalar, from `pos` to the end of its content: the end of the
    /// line, a comment, a `: ` (it is a key then), or in a flow a flow indicator.
    fn plain_line(&mut self, in_flow: bool) -> Read {
        loop {
            match self.peek() {
                b'\n' | 0 => return Ok(()),
                b':' if is_blank_or_end(self.peek_at(1))
                    || (in_flow && is_flow_indicator(self.peek_at(1))) =>
                {
                    return Ok(());
                }
                byte if in_flow && is_flow_indicator(byte) => return Ok(()),
                b' ' => {
                    let ahead = self.after_spaces(self.pos);
                    let next = self.bytes.get(ahead + 1).copied().unwrap_or(0);
                    match self.bytes.get(ahead).copied().unwrap_or(0) {
                        b'\n' | b'#' | 0 => return Ok(()),
                        b':' if is_blank_or_end(next) || (in_flow && is_flow_indicator(next)) => {
                            return Ok(());
                        }
                        byte if in_flow && is_flow_indicator(byte) => return Ok(()),
                        // saphyr refuses a word in a flow that starts like `-]`.
                        b'-' if in_flow && is_flow_indicator(next) => return Err(Unsupported),
                        _ => self.pos = ahead,
                    }
                }
                _ => self.pos += 1,
            }
        }
    }

    /// A plain scalar that ends on its line (see [`Self::plain_line`]).
    fn plain(&mut self, in_flow: bool) -> Read<Scalar<'a>> {
        let start = self.mark();
        let from = self.pos;
        self.plain_line(in_flow)?;
        Ok(Scalar {
            text: Cow::Borrowed(&self.text[from..self.pos]),
            style: ScalarStyle::Plain,
            span: Span {
                start,
                end: self.mark(),
            },
        })
    }

    /// A plain scalar in block context inside a block indented by `parent`, and whether it is a
    /// key (then `pos` is left at its `:`).
    fn block_plain(&mut self, parent: i64) -> Read<(Scalar<'a>, bool)> {
        let mut scalar = self.plain(false)?;
        let ahead = self.after_spaces(self.pos);
        match self.bytes.get(ahead) {
            Some(b':') => {
                self.pos = ahead;
                return Ok((scalar, true));
            }
            Some(b'\n') => {}
            _ => return Ok((scalar, false)),
        }
        // Lines indented deeper than the block continue the scalar, folded into it.
        loop {
            let (mut pos, mut line, mut line_start) = (self.pos, self.line, self.line_start);
            let mut breaks = 0;
            loop {
                pos = self.after_spaces(pos);
                if self.bytes.get(pos) != Some(&b'\n') {
                    break;
                }
                pos += 1;
                line += 1;
                line_start = pos;
                breaks += 1;
            }
            let byte = self.bytes.get(pos).copied().unwrap_or(0);
            if breaks == 0 || byte == 0 || byte == b'#' || (pos - line_start) as i64 <= parent {
                break;
            }
            if !starts_plain(byte, self.bytes.get(pos + 1).copied().unwrap_or(0), false) {
                return Err(Unsupported);
            }
            (self.pos, self.line, self.line_start) = (pos, line, line_start);
            let from = self.pos;
            self.plain_line(false)?;
            let folded = scalar.text.to_mut();
            if breaks == 1 {
                folded.push(' ');
            } else {
                folded.extend(std::iter::repeat_n('\n', breaks - 1));
            }
            folded.push_str(&self.text[from..self.pos]);
            scalar.span.end = self.mark();
            match self.bytes.get(self.after_spaces(self.pos)) {
                // A continuation line cannot hold a key.
                Some(b':') => return Err(Unsupported),
                Some(b'\n') => {}
                _ => break,
            }
        }
        Ok((scalar, false))
    }

    /// A single- or double-quoted scalar on one line. saphyr ends its span after the spaces and
    /// the comment that follow it, where `pos` is left.
    fn quoted(&mut self) -> Read<Scalar<'a>> {
        let start = self.mark();
        let quote = self.peek();
        self.pos += 1;
        let from = self.pos;
        let mut escaped = false;
        loop {
            match self.peek() {
                b'\n' | 0 => return Err(Unsupported),
                b'\'' if quote == b'\'' && self.peek_at(1) == b'\'' => {
                    escaped = true;
                    self.pos += 2;
                }
                b'\\' if quote == b'"' => {
                    // An escaped line break continues the scalar on the next line.
                    if matches!(self.peek_at(1), b'\n' | 0) {
                        return Err(Unsupported);
                    }
                    escaped = true;
                    self.pos += 2;
                }
                byte if byte == quote => break,
                _ => self.pos += 1,
            }
        }
        let raw = &self.text[from..self.pos];
        let text = match (escaped, quote) {
            (false, _) => Cow::Borrowed(raw),
            (true, b'\'') => Cow::Owned(raw.replace("''", "'")),
            (true, _) => Cow::Owned(unescape(raw)?),
        };
        self.pos += 1;
        self.skip_spaces_and_comment()?;
        Ok(Scalar {
            text,
            style: if quote == b'\'' {
                ScalarStyle::SingleQuoted
            } else {
                ScalarStyle::DoubleQuoted
            },
            span: Span {
                start,
                end: self.mark(),
            },
        })
    }

    /// A literal (`|`) or folded (`>`) block scalar inside a block indented by `parent`, read
    /// the way saphyr reads one; `pos` is left where saphyr ends its span: after the indentation
    /// of the first line that is not part of it.
    fn block_scalar(&mut self, parent: i64) -> Read {
        let literal = self.peek() == b'|';
        self.pos += 1;
        let chomping = match self.peek() {
            b'-' => Chomping::Strip,
            b'+' => Chomping::Keep,
            _ => Chomping::Clip,
        };
        if chomping != Chomping::Clip {
            self.pos += 1;
        }
        if self.peek().is_ascii_digit() {
            return Err(Unsupported);
        }
        self.skip_spaces_and_comment()?;
        if self.peek() != b'\n' {
            return Err(Unsupported);
        }
        self.newline();
        self.skip_spaces();
        let indent = self.col();
        if matches!(self.peek(), b'\n' | 0) || indent as i64 <= parent {
            return Err(Unsupported);
        }
        let start = self.mark();
        let mut text = String::new();
        let mut leading_break = false;
        let mut trailing_breaks = 0;
        let mut leading_blank = false;
        loop {
            let trailing_blank = self.peek() == b' ';
            if !literal && leading_break && !leading_blank && !trailing_blank {
                if trailing_breaks == 0 {
                    text.push(' ');
                }
            } else if leading_break {
                text.push('\n');
            }
            text.extend(std::iter::repeat_n('\n', trailing_breaks));
            leading_break = false;
            trailing_breaks = 0;
            leading_blank = trailing_blank;
            let from = self.pos;
            self.skip_to_line_end();
            text.push_str(&self.text[from..self.pos]);
            if self.peek() != b'\n' {
                break;
            }
            self.newline();
            leading_break = true;
            loop {
                while self.col() < indent && self.peek() == b' ' {
                    self.pos += 1;
                }
                if self.peek() != b'\n' {
                    break;
                }
                self.newline();
                trailing_breaks += 1;
            }
            if self.col() != indent || self.at_end() {
                break;
            }
        }
        if chomping != Chomping::Strip {
            if leading_break {
                text.push('\n');
            }
            if self.at_end() && self.col() >= indent.max(1) {
                text.push('\n');
            }
        }
        if chomping == Chomping::Keep {
            text.extend(std::iter::repeat_n('\n', trailing_breaks));
        }
        let style = if literal {
            ScalarStyle::Literal
        } else {
            ScalarStyle::Folded
        };
        let span = Span {
            start,
            end: self.mark(),
        };
        self.emit_scalar(Scalar {
            text: Cow::Owned(text),
            style,
            span,
        })
    }

    /// A flow sequence or mapping that ends on the line it starts on.
    fn flow_collection(&mut self) -> Read {
        self.enter()?;
        let sequence = self.peek() == b'[';
        let close = if sequence { b']' } else { b'}' };
        let start = if sequence {
            Event::SequenceStart(0, None)
        } else {
            Event::MappingStart(0, None)
        };
        self.flow_indicator(start)?;
        self.flow_spaces()?;
        if self.peek() != close {
            loop {
                if !sequence {
                    let key = match self.peek() {
                        b'\'' | b'"' => self.quoted()?,
                        byte if starts_plain(byte, self.peek_at(1), true) => self.plain(true)?,
                        _ => return Err(Unsupported),
                    };
                    self.emit_scalar(key)?;
                    self.flow_spaces()?;
                    if !(self.peek() == b':' && self.peek_at(1) == b' ') {
                        return Err(Unsupported);
                    }
                    self.pos += 1;
                    self.flow_spaces()?;
                }
                self.flow_node()?;
                self.flow_spaces()?;
                match self.peek() {
                    b',' => {
                        self.pos += 1;
                        self.flow_spaces()?;
                        if self.peek() == close {
                            return Err(Unsupported);
                        }
                    }
                    byte if byte == close => break,
                    _ => return Err(Unsupported),
                }
            }
        }
        let end = if sequence {
            Event::SequenceEnd
        } else {
            Event::MappingEnd
        };
        self.flow_indicator(end)?;
        self.depth -= 1;
        Ok(())
    }

    /// A bracket or brace, whose span saphyr ends after the spaces and comment that follow it.
    fn flow_indicator(&mut self, event: Event<'a>) -> Read {
        let start = self.mark();
        self.pos += 1;
        self.skip_spaces_and_comment()?;
        self.emit(
            event,
            Span {
                start,
                end: self.mark(),
            },
        )
    }

    /// A sequence item or mapping value in a flow collection.
    fn flow_node(&mut self) -> Read {
        match self.peek() {
            b'[' | b'{' => self.flow_collection(),
            b'\'' | b'"' => {
                let scalar = self.quoted()?;
                self.emit_scalar(scalar)
            }
            byte if starts_plain(byte, self.peek_at(1), true) => {
                let scalar = self.plain(true)?;
                self.emit_scalar(scalar)
            }
            _ => Err(Unsupported),
        }
    }

    /// Spaces inside a flow collection, which must go on on the same line.
    fn flow_spaces(&mut self) -> Read {
        self.skip_spaces();
        if matches!(self.peek(), b'\n' | b'#' | 0) {
            Err(Unsupported)
        } else {
            Ok(())
        }
    }
}

/// The text of a double-quoted scalar with its escapes resolved, as saphyr resolves them.
fn unescape(raw: &str) -> Read<String> {
    let mut text = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            text.push(c);
            continue;
        }
        let escaped = chars.next().ok_or(Unsupported)?;
        let code_length = match escaped {
            'x' => 2,
            'u' => 4,
            'U' => 8,
            _ => 0,
        };
        if code_length > 0 {
            let digits = chars.as_str().get(..code_length).ok_or(Unsupported)?;
            if !digits.bytes().all(|byte| byte.is_ascii_hexdigit()) {
                return Err(Unsupported);
            }
            let code = u32::from_str_radix(digits, 16).map_err(|_| Unsupported)?;
            text.push(char::from_u32(code).ok_or(Unsupported)?);
            chars = chars.as_str()[code_length..].chars();
            continue;
        }
        text.push(match escaped {
            '0' => '\0',
            'a' => '\x07',
            'b' => '\x08',
            't' => '\t',
            'n' => '\n',
            'v' => '\x0b',
            'f' => '\x0c',
            'r' => '\r',
            'e' => '\x1b',
            ' ' => ' ',
            '"' => '"',
            '/' => '/',
            '\\' => '\\',
            'N' => '\u{85}',
            '_' => '\u{a0}',
            'L' => '\u{2028}',
            'P' => '\u{2029}',
            _ => return Err(Unsupported),
        });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{Builder, parse_with_saphyr};
    use super::read;

    /// Reads `text` with both readers; when the quick one takes it, both must give the same tree
    /// with the same spans, and the same diagnostics. Returns whether the quick one took it.
    fn reads_as_saphyr(text: &str) -> bool {
        let mut builder = Builder::default();
        if read(text, &mut builder).is_err() {
            return false;
        }
        let quick = format!("{:?}", builder.finish());
        let saphyr = format!("{:?}", parse_with_saphyr(text));
        assert_eq!(quick, saphyr, "the two readers disagree on:\n{text}");
        true
    }

    fn corpus() -> Vec<String> {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        let mut texts = Vec::new();
        for folder in ["cases", "myelin"] {
            let mut paths: Vec<_> = std::fs::read_dir(data.join(folder))
                .unwrap()
                .map(|entry| entry.unwrap().path())
                .filter(|path| {
                    path.extension()
                        .is_some_and(|extension| extension == "yaml")
                })
                .collect();
            paths.sort();
            texts.extend(
                paths
                    .iter()
                    .map(|path| std::fs::read_to_string(path).unwrap()),
            );
        }
        texts
    }

    #[test]
    fn the_corpus_reads_as_saphyr_reads_it() {
        let texts = corpus();
        let taken = texts.iter().filter(|text| reads_as_saphyr(text)).count();
        // The point of the quick reader is that it reads nearly every Polyaxonfile.
        assert!(taken * 10 >= texts.len() * 9, "{taken} of {}", texts.len());
    }

    /// Broken and unusual variants of the corpus: each line dropped, indented by one more or one
    /// less space, or cut short, and the text cut after each line.
    #[test]
    fn variants_of_the_corpus_read_as_saphyr_reads_them() {
        for text in corpus() {
            let lines: Vec<&str> = text.lines().collect();
            for (index, line) in lines.iter().enumerate() {
                let with = |replacement: Option<String>| {
                    let mut changed: Vec<String> =
                        lines.iter().map(|line| (*line).to_owned()).collect();
                    match replacement {
                        Some(replacement) => changed[index] = replacement,
                        None => {
                            changed.remove(index);
                        }
                    }
                    changed.join("\n") + "\n"
                };
                reads_as_saphyr(&with(None));
                reads_as_saphyr(&with(Some(format!(" {line}"))));
                reads_as_saphyr(&with(Some(line.replacen(' ', "", 1))));
                reads_as_saphyr(&with(Some(line[..line.len() / 2].to_owned())));
                reads_as_saphyr(&lines[..=index].join("\n"));
            }
        }
    }

    #[test]
    fn edge_cases_read_as_saphyr_reads_them() {
        let cases = [
            "",
            "# only a comment\n",
            "a: 1",
            "a: 1\n\n\n",
            "a: 1\n# trailing comment",
            "a:\nb: 2\n",
            "a:\n",
            "a:",
            "a:   # comment\n  b: 1\n",
            "a:\n- 1\n- 2\nb: 3\n",
            "a:\n  - 1\n  - 2\nb: 3\n",
            "a:\n  - x: 1\n    y: 2\n  - z\n",
            "- a\n- b: 1\n  c: 2\n-  d\n",
            "a: b c  \n",
            "a  : b\n",
            "'a' : b\n",
            "\"a\": 'b'  # c\n",
            "a: 'it''s'\n",
            "a: \"tab\\there \\u00e9 \\x41 \\\" \\\\\"\n",
            "a: \"\\q\"\n",
            "a: foo\n  bar\n\n  baz\nb: 1\n",
            "a: foo\n  bar: 1\n",
            "a: foo # c\n  bar\n",
            "a: foo\n  # c\nb: 1\n",
            "a: foo\n  - bar\n",
            "a: |\n  x\n  y\n\nb: 1\n",
            "a: |-\n    x\n\n      y\n    z\n\n\nb: 1\n",
            "a: |+\n  x\n\n\nb: 1\n",
            "a: >\n  folded\n  text\n\n  para\n    more\n  end\n",
            "a: >-\n  x\n   \n  y\n",
            "a: |\n  x",
            "a: |\n  x\n  ",
            "a: |\n  x\n    ",
            "a: | # c\n  x\n",
            "a: |2\n   x\n",
            "a: |\n\n  x\n",
            "a: |\nb: 1\n",
            "a: [1, 'two', \"three\", {k: v, 'q': [x]}]\n",
            "a: []\nb: {}\n",
            "a: [ x , y ]  # c\n",
            "a: [x,]\n",
            "a: [x: y]\n",
            "a: {x}\n",
            "a: {x:y}\n",
            "a: {\"x\":y}\n",
            "a: [http://x.io/a:b, -1, -x]\n",
            "a: [- x]\n",
            "a: [x\n  , y]\n",
            "a: b: c\n",
            "a: 'b': c\n",
            "a: 'b' c\n",
            "a: - b\n",
            "a:\n  b: 1\n c: 2\n",
            "a:\n    b: 1\n  c: 2\n",
            "a:\n  b: 1\n    c: 2\n",
            "a: 1\na: 2\n",
            "<<: {a: 1}\nb: 2\n",
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "---\na: 1\n",
            "a: 1\n---\nb: 2\n",
            "a:\tb\n",
            "a: b\r\n",
            "a: é\n",
            "? a\n: b\n",
            "a: 'x'#c\n",
            "a: x#c\n",
            "a: [x]#c\n",
            "a:#c\n",
            "-\n  a: 1\n",
            "- - x\n",
            "  a: 1\n  b: 2\n",
            "scalar\n",
            "[a, b]\n",
            "a: yes\nb: 010\nc: 1:30\nd: 2024-01-02\ne: .5\nf: ~\n",
        ];
        for text in cases {
            reads_as_saphyr(text);
        }
    }
}
