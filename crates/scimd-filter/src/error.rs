//! The one error type of this crate.
//!
//! A filter or a PATCH path comes from a client, so the error must tell that client what to fix: at
//! which column, what the grammar expected there and what it found instead. The HTTP layer turns any
//! [`Error`] into `400 invalidFilter` or `400 invalidPath` (RFC 7644 §3.12); [`ErrorKind`] lets it (and
//! the logs) tell a syntax error from a request that was refused for its size.

use std::borrow::Cow;
use std::fmt;

/// What went wrong, in broad classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text does not follow the RFC 7644 grammar (or the tolerances this crate documents).
    Syntax,
    /// The input is longer than [`Limits::max_len`](crate::Limits::max_len) bytes.
    TooLong,
    /// Parentheses, `not (…)` and value filters nest deeper than
    /// [`Limits::max_depth`](crate::Limits::max_depth).
    TooDeep,
    /// The filter holds more attribute expressions than [`Limits::max_terms`](crate::Limits::max_terms).
    TooManyTerms,
}

/// What was being parsed: it names the error (`invalid filter …` or `invalid path …`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    /// A `filter` query parameter or a `.search` body's filter (RFC 7644 §3.4.2.2).
    Filter,
    /// A PATCH operation's `path` (RFC 7644 §3.5.2).
    Path,
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Subject::Filter => "filter",
            Subject::Path => "path",
        })
    }
}

/// A filter or path that could not be parsed.
///
/// Displays as `invalid filter at column 10: expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le,
/// pr), found "equals"`. The text quotes at most a few dozen characters of the input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {subject} at column {column}: expected {expected}, found {found}")]
pub struct Error {
    kind: ErrorKind,
    subject: Subject,
    offset: usize,
    column: usize,
    expected: Cow<'static, str>,
    found: String,
}

impl Error {
    /// Builds an error at byte `offset` of `input`; the column is computed from the input.
    pub(crate) fn new(
        kind: ErrorKind,
        subject: Subject,
        input: &str,
        offset: usize,
        expected: impl Into<Cow<'static, str>>,
        found: impl Into<String>,
    ) -> Self {
        let mut offset = offset.min(input.len());
        while !input.is_char_boundary(offset) {
            offset -= 1;
        }
        let column = input[..offset].chars().count() + 1;
        Self { kind, subject, offset, column, expected: expected.into(), found: found.into() }
    }

    /// The class of error.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether a filter or a path was being parsed.
    #[must_use]
    pub fn subject(&self) -> Subject {
        self.subject
    }

    /// The byte offset in the input where the error was found.
    #[must_use]
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The 1-based column (in characters, counted from the start of the input) of [`Self::offset`].
    #[must_use]
    pub fn column(&self) -> usize {
        self.column
    }

    /// What the grammar expected at that point, in words (`an operator (eq, ne, …)`).
    #[must_use]
    pub fn expected(&self) -> &str {
        &self.expected
    }

    /// What was found instead, in words (`"equals"`, `end of input`).
    #[must_use]
    pub fn found(&self) -> &str {
        &self.found
    }
}

/// Longest piece of input quoted back in an error, in characters.
const MAX_QUOTED: usize = 32;

/// Quotes a piece of the input for an error message: in double quotes, control characters and
/// quotes escaped, cut after [`MAX_QUOTED`] characters.
pub(crate) fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_QUOTED * 2) + 2);
    out.push('"');
    for (i, c) in text.chars().enumerate() {
        if i == MAX_QUOTED {
            out.push('…');
            break;
        }
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_counts_characters_not_bytes() {
        // "é" is two bytes; the "x" after it is byte 3 but column 3.
        let e = Error::new(ErrorKind::Syntax, Subject::Filter, "éax", 3, "something", "x");
        assert_eq!(e.offset(), 3);
        assert_eq!(e.column(), 3);
        assert_eq!(e.to_string(), "invalid filter at column 3: expected something, found x");
    }

    #[test]
    fn offset_inside_a_character_moves_back_to_its_start() {
        let e = Error::new(ErrorKind::TooLong, Subject::Path, "aé", 2, "less", "more");
        assert_eq!(e.offset(), 1);
        assert_eq!(e.column(), 2);
        assert!(e.to_string().starts_with("invalid path at column 2: "));
    }

    #[test]
    fn quote_escapes_and_truncates() {
        assert_eq!(quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(quote("\n\u{85}"), r#""\u000A\u0085""#);
        let long = "x".repeat(40);
        assert_eq!(quote(&long), format!("\"{}…\"", "x".repeat(32)));
    }
}
