//! Splits a filter or PATCH path into tokens.
//!
//! The SCIM grammar is small but context-dependent: an attribute path may hold colons and dots
//! (`urn:…:2.0:User:manager.value`), and the clients this server meets send unquoted values
//! (`meta.Created gt 2015-10-10T14:38:21.8617979-07:00`, see the parser's tolerances). So the lexer
//! knows only the few characters that always separate tokens — whitespace, `(`, `)`, `[`, `]` and
//! the `"` that opens a JSON string — and hands every other run of characters to the parser as a
//! *word*. The parser decides what a word is (attribute path, operator, keyword, literal) from where
//! it stands.
//!
//! Whitespace is any run of ASCII spaces, tabs, carriage returns, line feeds or form feeds. The RFC
//! asks for exactly one `SP` between tokens, but a `+` in a query string that the URL layer decoded
//! to a space (Entra: `filter=userName+eq+%22…%22`) and hand-typed filters both bring runs of it.

use crate::ast::Span;
use crate::error::{Error, ErrorKind, Subject, quote};

/// What a token is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum TokenKind<'a> {
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// A JSON string (RFC 8259 §7), escapes decoded.
    Str(String),
    /// Any other run of characters up to whitespace, a bracket, a parenthesis or a `"`.
    Word(&'a str),
    /// The end of the input.
    Eof,
}

/// A token and where it stands in the input.
#[derive(Clone, Debug)]
pub(crate) struct Token<'a> {
    /// What it is.
    pub(crate) kind: TokenKind<'a>,
    /// Its bytes in the input.
    pub(crate) span: Span,
}

impl Token<'_> {
    /// The token in words, for the `found …` half of an error message.
    pub(crate) fn describe(&self) -> String {
        match &self.kind {
            TokenKind::LParen => "\"(\"".to_owned(),
            TokenKind::RParen => "\")\"".to_owned(),
            TokenKind::LBracket => "\"[\"".to_owned(),
            TokenKind::RBracket => "\"]\"".to_owned(),
            TokenKind::Str(s) => format!("the string {}", quote(s)),
            TokenKind::Word(w) => quote(w),
            TokenKind::Eof => "end of input".to_owned(),
        }
    }
}

/// RFC 8259 §2: the JSON whitespace characters, plus form feed, which some URL decoders produce.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0c)
}

/// The bytes that end a word.
fn ends_word(b: u8) -> bool {
    is_space(b) || matches!(b, b'(' | b')' | b'[' | b']' | b'"')
}

/// A cursor over the input that yields one token at a time.
#[derive(Clone, Debug)]
pub(crate) struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    subject: Subject,
}

impl<'a> Lexer<'a> {
    /// A lexer at the start of `input`.
    pub(crate) fn new(input: &'a str, subject: Subject) -> Self {
        Self { input, pos: 0, subject }
    }

    /// The whole input.
    pub(crate) fn input(&self) -> &'a str {
        self.input
    }

    /// A syntax error at `offset`.
    pub(crate) fn error(&self, offset: usize, expected: &'static str, found: String) -> Error {
        Error::new(ErrorKind::Syntax, self.subject, self.input, offset, expected, found)
    }

    fn skip_space(&mut self) {
        let bytes = self.input.as_bytes();
        while bytes.get(self.pos).is_some_and(|&b| is_space(b)) {
            self.pos += 1;
        }
    }

    /// The first byte after any whitespace, without consuming anything.
    pub(crate) fn next_byte(&self) -> Option<u8> {
        let bytes = self.input.as_bytes();
        let mut pos = self.pos;
        while bytes.get(pos).is_some_and(|&b| is_space(b)) {
            pos += 1;
        }
        bytes.get(pos).copied()
    }

    /// Reads the next token.
    pub(crate) fn next_token(&mut self) -> Result<Token<'a>, Error> {
        self.skip_space();
        let start = self.pos;
        let bytes = self.input.as_bytes();
        let Some(&first) = bytes.get(start) else {
            return Ok(Token { kind: TokenKind::Eof, span: Span::new(start, start) });
        };
        let kind = match first {
            b'(' => {
                self.pos += 1;
                TokenKind::LParen
            }
            b')' => {
                self.pos += 1;
                TokenKind::RParen
            }
            b'[' => {
                self.pos += 1;
                TokenKind::LBracket
            }
            b']' => {
                self.pos += 1;
                TokenKind::RBracket
            }
            b'"' => TokenKind::Str(self.string()?),
            _ => {
                while bytes.get(self.pos).is_some_and(|&b| !ends_word(b)) {
                    self.pos += 1;
                }
                // Every byte that ends a word is ASCII, so `start..pos` lies on character boundaries.
                TokenKind::Word(&self.input[start..self.pos])
            }
        };
        Ok(Token { kind, span: Span::new(start, self.pos) })
    }

    /// Up to `n` characters of the input from byte `at` (a character boundary), for error messages.
    fn snippet(&self, at: usize, n: usize) -> String {
        self.input.get(at..).map(|s| s.chars().take(n).collect()).unwrap_or_default()
    }

    /// RFC 7644 §3.4.2.2: `compValue` strings are JSON strings (RFC 8259 §7): `"`, then characters
    /// other than `"`, `\` and the controls U+0000–U+001F, or escapes, then `"`.
    fn string(&mut self) -> Result<String, Error> {
        let bytes = self.input.as_bytes();
        self.pos += 1; // the opening quote
        let mut out = String::new();
        loop {
            let run = self.pos;
            while bytes.get(self.pos).is_some_and(|&b| b != b'"' && b != b'\\' && b >= 0x20) {
                self.pos += 1;
            }
            // The run stops only at ASCII bytes or at the end, so it is whole characters.
            out.push_str(&self.input[run..self.pos]);
            match bytes.get(self.pos) {
                None => {
                    return Err(self.error(
                        self.pos,
                        "a closing quote (\") at the end of the string",
                        "end of input".to_owned(),
                    ));
                }
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => self.escape(&mut out)?,
                Some(_) => {
                    return Err(self.error(
                        self.pos,
                        "control characters in a string to be escaped (\\t, \\n, \\u0000 …)",
                        quote(&self.snippet(self.pos, 1)),
                    ));
                }
            }
        }
    }

    /// RFC 8259 §7: `\" \\ \/ \b \f \n \r \t \uXXXX`, with characters outside the Basic Multilingual
    /// Plane written as a UTF-16 surrogate pair `\uD83D\uDE00`. `self.pos` is at the backslash.
    fn escape(&mut self, out: &mut String) -> Result<(), Error> {
        let bytes = self.input.as_bytes();
        let at = self.pos;
        let c = match bytes.get(at + 1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let unit = self.hex4(at)?;
                self.pos = at + 6;
                let code = match unit {
                    0xD800..=0xDBFF => {
                        let low = if bytes.get(self.pos) == Some(&b'\\')
                            && bytes.get(self.pos + 1) == Some(&b'u')
                        {
                            Some(self.hex4(self.pos)?)
                        } else {
                            None
                        };
                        match low {
                            Some(low @ 0xDC00..=0xDFFF) => {
                                self.pos += 6;
                                0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00)
                            }
                            _ => {
                                return Err(self.error(
                                    self.pos,
                                    "a low surrogate escape (\\uDC00 to \\uDFFF) after a high surrogate",
                                    self.found_at(self.pos, 6),
                                ));
                            }
                        }
                    }
                    0xDC00..=0xDFFF => {
                        return Err(self.error(
                            at,
                            "a high surrogate escape (\\uD800 to \\uDBFF) before a low surrogate",
                            quote(&self.snippet(at, 6)),
                        ));
                    }
                    unit => u32::from(unit),
                };
                let c = char::from_u32(code)
                    .ok_or_else(|| self.error(at, "a Unicode scalar value", quote(&self.snippet(at, 12))))?;
                out.push(c);
                return Ok(());
            }
            _ => {
                return Err(self.error(
                    at,
                    "a JSON escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX)",
                    if at + 1 >= self.input.len() { "end of input".to_owned() } else { self.found_at(at, 2) },
                ));
            }
        };
        out.push(c);
        self.pos = at + 2;
        Ok(())
    }

    /// The `found` text for an error at `at`: up to `n` characters, or `end of input`.
    fn found_at(&self, at: usize, n: usize) -> String {
        if at >= self.input.len() { "end of input".to_owned() } else { quote(&self.snippet(at, n)) }
    }

    /// The four hex digits of the `\uXXXX` escape whose backslash is at `at`.
    fn hex4(&self, at: usize) -> Result<u16, Error> {
        let digits = self.input.as_bytes().get(at + 2..at + 6);
        let mut value: u16 = 0;
        let mut ok = digits.is_some();
        for &b in digits.unwrap_or_default() {
            match char::from(b).to_digit(16) {
                Some(d) => value = (value << 4) | d as u16,
                None => ok = false,
            }
        }
        if ok {
            Ok(value)
        } else {
            Err(self.error(at, "four hex digits after \\u", quote(&self.snippet(at, 6))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(input: &str) -> Vec<TokenKind<'_>> {
        let mut lexer = Lexer::new(input, Subject::Filter);
        let mut out = Vec::new();
        loop {
            let t = lexer.next_token().unwrap();
            if t.kind == TokenKind::Eof {
                return out;
            }
            out.push(t.kind);
        }
    }

    fn string(input: &str) -> Result<String, Error> {
        match Lexer::new(input, Subject::Filter).next_token()?.kind {
            TokenKind::Str(s) => Ok(s),
            other => panic!("not a string: {other:?}"),
        }
    }

    #[test]
    fn words_and_punctuation() {
        use TokenKind::*;
        assert_eq!(
            kinds(" emails[type eq \"work\"].value  pr\t)( "),
            vec![
                Word("emails"),
                LBracket,
                Word("type"),
                Word("eq"),
                Str("work".into()),
                RBracket,
                Word(".value"),
                Word("pr"),
                RParen,
                LParen
            ]
        );
        assert_eq!(
            kinds("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName"),
            vec![Word("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName")]
        );
        // A quote ends a word; non-ASCII stays inside it.
        assert_eq!(kinds("eq\"x\"café"), vec![Word("eq"), Str("x".into()), Word("café")]);
    }

    #[test]
    fn spans_are_byte_ranges() {
        let mut lexer = Lexer::new("  ab \"é\"", Subject::Filter);
        assert_eq!(lexer.next_token().unwrap().span, Span::new(2, 4));
        let s = lexer.next_token().unwrap().span;
        assert_eq!((s.start, s.end), (5, 9));
        let e = lexer.next_token().unwrap();
        assert_eq!((e.span.start, e.span.end, e.kind), (9, 9, TokenKind::Eof));
    }

    #[test]
    fn json_escapes() {
        assert_eq!(string(r#""a\"b\\c\/d\be\ff\ng\rh\ti""#).unwrap(), "a\"b\\c/d\u{8}e\u{c}f\ng\rh\ti");
        assert_eq!(string(r#""\u00e9\u00C9""#).unwrap(), "éÉ");
        assert_eq!(string(r#""\uD83D\uDE00!""#).unwrap(), "😀!");
        assert_eq!(string(r#""\u0000""#).unwrap(), "\0");
        assert_eq!(string("\"é😀\"").unwrap(), "é😀");
    }

    #[test]
    fn bad_strings() {
        let e = string(r#""abc"#).unwrap_err();
        assert_eq!((e.offset(), e.found()), (4, "end of input"));
        let e = string(r#""a\x""#).unwrap_err();
        assert_eq!((e.offset(), e.found()), (2, r#""\\x""#));
        let e = string(r#""\u12G4""#).unwrap_err();
        assert_eq!(e.offset(), 1);
        assert!(e.expected().contains("four hex digits"));
        let e = string(r#""\u12""#).unwrap_err();
        assert!(e.expected().contains("four hex digits"));
        let e = string(r#""\uD83D""#).unwrap_err();
        assert!(e.expected().contains("low surrogate"), "{e}");
        let e = string(r#""\uD83Dx""#).unwrap_err();
        assert_eq!(e.offset(), 7);
        let e = string(r#""\uD83D\u0041""#).unwrap_err();
        assert!(e.expected().contains("low surrogate"), "{e}");
        let e = string(r#""\uDE00""#).unwrap_err();
        assert!(e.expected().contains("high surrogate"), "{e}");
        let e = string("\"a\tb\"").unwrap_err();
        assert_eq!(e.offset(), 2);
        assert!(e.expected().contains("control"));
        let e = string("\"\\").unwrap_err();
        assert_eq!(e.found(), "end of input");
    }
}
