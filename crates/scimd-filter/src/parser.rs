//! The recursive-descent parser for RFC 7644 §3.4.2.2 filters and §3.5.2 PATCH paths.
//!
//! The grammar, loosest binding first (RFC 7644 §3.4.2.2, Figure 1, with the left recursion of
//! `logExp` turned into loops):
//!
//! ```text
//! FILTER    = or
//! or        = and *(SP "or" SP and)
//! and       = unary *(SP "and" SP unary)
//! unary     = "not" "(" FILTER ")" / "(" FILTER ")" / attrExp / valuePath
//! attrExp   = attrPath SP "pr" / attrPath SP compareOp SP compValue
//! valuePath = attrPath "[" valFilter "]"          ; valFilter: the same, without valuePath
//! attrPath  = [URI ":"] ATTRNAME *1subAttr
//! PATH      = attrPath / valuePath [subAttr]      ; RFC 7644 §3.5.2
//! ```
//!
//! `and` and `or` are left-associative: `a or b or c` is `(a or b) or c`. Keywords, operators and the
//! literals `true`, `false` and `null` are matched without regard to case (RFC 7644 §3.4.2.2:
//! "Attribute names and attribute operators used in filters are case insensitive").
//!
//! # Limits
//!
//! The input comes from anyone holding a token, so the parser checks [`Limits`] as it goes: the
//! length first, before reading a byte; the nesting depth of `(`, `not (` and `[` on the way down, so
//! the recursion never goes deeper than [`Limits::max_depth`] however many parentheses are sent; and
//! the number of attribute expressions, which bounds the size of the tree.
//!
//! # Tolerances
//!
//! Real clients send filters the RFC grammar does not allow. Each tolerance below is accepted because
//! a client named beside it sends it, and none of them changes the meaning of a filter the RFC allows:
//!
//! - **(a) Runs of whitespace.** Any run of spaces, tabs or line breaks separates tokens, and none is
//!   needed next to a parenthesis, a bracket or a quoted string (`not(…)`). Entra encodes spaces as
//!   `+` (`filter=userName+eq+%22…%22`), which the URL layer decodes; hand-typed filters in the
//!   Microsoft SCIM validator and Postman collection bring doubled spaces.
//! - **(b) Unquoted values.** A value that is not a JSON string is read as one word (up to whitespace,
//!   a parenthesis, a bracket or a quote). If the word is `true`, `false`, `null` (any case) or a JSON
//!   number, it is that; otherwise it is a string. Entra's provisioning tutorial sends
//!   `externalId eq jyoung`; the Microsoft Postman collection sends `name.FamilyName eq Employee`,
//!   `emails.Value co example.com` and `meta.Created gt 2015-10-10T14:38:21.8617979-07:00`; Entra's
//!   reference checks send `manager eq 2819c223-7f76-453a-919d-413861904646` (not a number: a string).
//!   A word that looks like a number but is not a JSON number (`007`, `1.`) stays a string.
//! - **(c) A sub-attribute comparison after a value path.** Entra (`aadOptscim062020` off) sends
//!   `emails[type eq "work"].value eq "x"`. It means "an email whose type is work and whose value is
//!   x", so it is parsed as `emails[type eq "work" and value eq "x"]` (any operator, and `pr`). The
//!   `.` must follow the `]` directly.
//! - **(d) Leading and trailing whitespace** is ignored.
//!
//! Not tolerated: nested value filters (`a[b[c eq 1]]`), a value filter on a sub-attribute
//! (`name.givenName[…]`; no SCIM sub-attribute is multi-valued), more than one sub-attribute
//! (`a.b.c`), and unterminated strings or groups.

use crate::Limits;
use crate::ast::{AttrPath, CompValue, CompareOp, Filter, Number, PatchPath, Span};
use crate::error::{Error, ErrorKind, Subject, quote};
use crate::lexer::{Lexer, Token, TokenKind};

/// What the `expected …` half of an error says where an attribute expression must start.
const EXPECTED_EXPRESSION: &str = "an attribute path, \"(\" or \"not (\"";
/// What the `expected …` half of an error says where an operator must stand.
const EXPECTED_OPERATOR: &str = "an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)";
/// What the `expected …` half of an error says where a value must stand.
const EXPECTED_VALUE: &str = "a value (a JSON string, a number, true, false or null)";
/// RFC 7644 §3.4.2.2 `ATTRNAME = ALPHA *(nameChar)`, `nameChar = "-" / "_" / DIGIT / ALPHA`.
const EXPECTED_NAME: &str = "an attribute name (a letter, then letters, digits, \"-\" or \"_\")";
/// The same rule for the name after the dot (`subAttr = "." ATTRNAME`).
const EXPECTED_SUB_NAME: &str = "a sub-attribute name (a letter, then letters, digits, \"-\" or \"_\")";

/// Where an expression being parsed ends: it decides what the error says may follow it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Close {
    /// The end of the input.
    End,
    /// A `)` of a group or a `not (`.
    Paren,
    /// The `]` of a value filter.
    Bracket,
}

/// Where the parser stands: what closes the current expression, and whether it is inside `[…]`.
#[derive(Clone, Copy, Debug)]
struct Ctx {
    close: Close,
    in_brackets: bool,
}

/// Parser state for one input.
struct Parser<'a, 'l> {
    lexer: Lexer<'a>,
    peeked: Option<Token<'a>>,
    limits: &'l Limits,
    subject: Subject,
    depth: usize,
    terms: usize,
}

/// Parses a filter; see [`crate::parse_filter_with`].
pub(crate) fn filter(input: &str, limits: &Limits) -> Result<Filter, Error> {
    check_len(input, limits, Subject::Filter)?;
    let mut p = Parser::new(input, limits, Subject::Filter);
    let ctx = Ctx { close: Close::End, in_brackets: false };
    let f = p.or(ctx)?;
    p.close(ctx)?;
    Ok(f)
}

/// Parses a PATCH path; see [`crate::parse_path_with`].
pub(crate) fn path(input: &str, limits: &Limits) -> Result<PatchPath, Error> {
    check_len(input, limits, Subject::Path)?;
    let mut p = Parser::new(input, limits, Subject::Path);
    p.path()
}

/// [`Limits::max_len`], checked before anything else is done with the input.
fn check_len(input: &str, limits: &Limits, subject: Subject) -> Result<(), Error> {
    if input.len() > limits.max_len {
        return Err(Error::new(
            ErrorKind::TooLong,
            subject,
            input,
            limits.max_len,
            format!("at most {} bytes", limits.max_len),
            format!("{} bytes", input.len()),
        ));
    }
    Ok(())
}

/// RFC 7644 §3.4.2.2 `nameChar = "-" / "_" / DIGIT / ALPHA`.
fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// RFC 7644 §3.4.2.2 `ATTRNAME = ALPHA *(nameChar)`; also `$ref`, which RFC 7643 §2.3.7 uses as the
/// name of reference sub-attributes (`members.$ref`, `manager.$ref`).
pub(crate) fn is_attr_name(s: &str) -> bool {
    if s.eq_ignore_ascii_case("$ref") {
        return true;
    }
    let bytes = s.as_bytes();
    bytes.first().is_some_and(u8::is_ascii_alphabetic) && bytes.iter().all(|&b| is_name_char(b))
}

/// RFC 3986 §3.1 `scheme ":" …`: the part of an attribute path before its last colon must at least
/// look like a URI (`urn:…`, `http:…`), so that a stray colon is reported rather than taken for one.
fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let b = scheme.as_bytes();
    b.first().is_some_and(u8::is_ascii_alphabetic)
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        && !rest.is_empty()
}

/// RFC 7159 §6 `number = [ minus ] int [ frac ] [ exp ]`.
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// RFC 7644 §3.4.2.2 Table 3, matched without regard to case.
fn compare_op(word: &str) -> Option<CompareOp> {
    CompareOp::ALL.into_iter().find(|op| op.as_str().eq_ignore_ascii_case(word))
}

impl<'a, 'l> Parser<'a, 'l> {
    fn new(input: &'a str, limits: &'l Limits, subject: Subject) -> Self {
        Self { lexer: Lexer::new(input, subject), peeked: None, limits, subject, depth: 0, terms: 0 }
    }

    fn input(&self) -> &'a str {
        self.lexer.input()
    }

    fn syntax(&self, offset: usize, expected: &'static str, found: String) -> Error {
        Error::new(ErrorKind::Syntax, self.subject, self.input(), offset, expected, found)
    }

    /// A syntax error that points at `token`.
    fn unexpected(&self, token: &Token<'_>, expected: &'static str) -> Error {
        self.syntax(token.span.start, expected, token.describe())
    }

    fn peek(&mut self) -> Result<&Token<'a>, Error> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lexer.next_token()?);
        }
        match &self.peeked {
            Some(t) => Ok(t),
            None => Err(self.syntax(self.input().len(), "a token", "nothing".to_owned())),
        }
    }

    fn bump(&mut self) -> Result<Token<'a>, Error> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lexer.next_token(),
        }
    }

    /// Whether the next token is the word `keyword` (any case).
    fn peek_keyword(&mut self, keyword: &str) -> Result<bool, Error> {
        Ok(matches!(self.peek()?.kind, TokenKind::Word(w) if w.eq_ignore_ascii_case(keyword)))
    }

    /// One level deeper: `(`, `not (` or `[` at `span`. [`Limits::max_depth`] is checked here, before
    /// the recursion goes down, so the stack never holds more than `max_depth` levels.
    fn enter(&mut self, span: Span) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            return Err(Error::new(
                ErrorKind::TooDeep,
                self.subject,
                self.input(),
                span.start,
                format!("at most {} levels of parentheses and brackets", self.limits.max_depth),
                format!("level {}", self.depth),
            ));
        }
        Ok(())
    }

    /// One more attribute expression, at `span`: [`Limits::max_terms`].
    fn count_term(&mut self, span: Span) -> Result<(), Error> {
        self.terms += 1;
        if self.terms > self.limits.max_terms {
            return Err(Error::new(
                ErrorKind::TooManyTerms,
                self.subject,
                self.input(),
                span.start,
                format!("at most {} attribute expressions", self.limits.max_terms),
                format!("expression number {}", self.terms),
            ));
        }
        Ok(())
    }

    /// Consumes the token that must end an expression in `ctx`, and returns its span.
    fn close(&mut self, ctx: Ctx) -> Result<Span, Error> {
        let t = self.bump()?;
        match (&t.kind, ctx.close) {
            (TokenKind::Eof, Close::End)
            | (TokenKind::RParen, Close::Paren)
            | (TokenKind::RBracket, Close::Bracket) => Ok(t.span),
            (_, Close::End) => Err(self.unexpected(&t, "\"and\", \"or\" or the end of the filter")),
            (_, Close::Paren) => Err(self.unexpected(&t, "\"and\", \"or\" or \")\"")),
            (_, Close::Bracket) => Err(self.unexpected(&t, "\"and\", \"or\" or \"]\"")),
        }
    }

    /// RFC 7644 §3.4.2.2 `logExp = FILTER SP "or" SP FILTER`: the loosest binding, left-associative.
    fn or(&mut self, ctx: Ctx) -> Result<Filter, Error> {
        let mut left = self.and(ctx)?;
        while self.peek_keyword("or")? {
            self.bump()?;
            let right = self.and(ctx)?;
            let span = left.span().to(right.span());
            left = Filter::Or(Box::new(left), Box::new(right), span);
        }
        Ok(left)
    }

    /// RFC 7644 §3.4.2.2 `logExp = FILTER SP "and" SP FILTER`: binds tighter than `or`
    /// ("the 'and' operator has higher precedence than 'or'", Table 4).
    fn and(&mut self, ctx: Ctx) -> Result<Filter, Error> {
        let mut left = self.unary(ctx)?;
        while self.peek_keyword("and")? {
            self.bump()?;
            let right = self.unary(ctx)?;
            let span = left.span().to(right.span());
            left = Filter::And(Box::new(left), Box::new(right), span);
        }
        Ok(left)
    }

    /// RFC 7644 §3.4.2.2 `*1"not" "(" FILTER ")"`, grouping, `attrExp` and `valuePath`.
    fn unary(&mut self, ctx: Ctx) -> Result<Filter, Error> {
        let t = self.bump()?;
        match t.kind {
            TokenKind::LParen => {
                self.enter(t.span)?;
                let inner = self.or(Ctx { close: Close::Paren, ..ctx })?;
                self.close(Ctx { close: Close::Paren, ..ctx })?;
                self.depth -= 1;
                Ok(inner)
            }
            // `not` is a keyword only before `(`: an attribute may be called `not`.
            TokenKind::Word(w) if w.eq_ignore_ascii_case("not") && self.lexer.next_byte() == Some(b'(') => {
                let open = self.bump()?;
                self.enter(open.span)?;
                let inner = self.or(Ctx { close: Close::Paren, ..ctx })?;
                let end = self.close(Ctx { close: Close::Paren, ..ctx })?;
                self.depth -= 1;
                Ok(Filter::Not(Box::new(inner), t.span.to(end)))
            }
            TokenKind::Word(w) => {
                let attr = self.attr_path(w, t.span)?;
                self.attr_exp(attr, ctx)
            }
            _ => Err(self.unexpected(&t, EXPECTED_EXPRESSION)),
        }
    }

    /// What follows an attribute path in a filter: `pr`, an operator and a value, or `[valFilter]`.
    fn attr_exp(&mut self, attr: AttrPath, ctx: Ctx) -> Result<Filter, Error> {
        if !matches!(self.peek()?.kind, TokenKind::LBracket) {
            return self.comparison(attr);
        }
        let open = self.bump()?;
        let (mut filter, close) = self.value_filter(&attr, &open, ctx)?;
        let mut end = close.end;
        // Tolerance (c): Entra's `emails[type eq "work"].value eq "x"` means
        // `emails[type eq "work" and value eq "x"]`.
        let next = self.peek()?;
        if let TokenKind::Word(w) = next.kind
            && w.starts_with('.')
            && next.span.start == close.end
        {
            let t = self.bump()?;
            let sub = self.sub_attr_name(w, t.span.start)?;
            let span = Span::new(t.span.start + 1, t.span.end);
            let sub_path = AttrPath { urn: None, name: sub, sub_attr: None, span };
            let cmp = self.comparison(sub_path)?;
            end = cmp.span().end;
            let span = filter.span().to(cmp.span());
            filter = Filter::And(Box::new(filter), Box::new(cmp), span);
        }
        let span = Span::new(attr.span.start, end);
        Ok(Filter::ValuePath { attr, filter: Box::new(filter), span })
    }

    /// RFC 7644 §3.4.2.2 `valuePath = attrPath "[" valFilter "]"`, after the `[` (`open`). Returns the
    /// filter and the span of the `]`.
    fn value_filter(&mut self, attr: &AttrPath, open: &Token<'a>, ctx: Ctx) -> Result<(Filter, Span), Error> {
        // RFC 7644 §3.4.2.2: `valFilter` has no `valuePath`, so value filters do not nest.
        if ctx.in_brackets {
            return Err(self.unexpected(open, "an operator (value filters do not nest)"));
        }
        // SCIM attributes nest two levels deep (RFC 7643 §2.4): a sub-attribute is never
        // multi-valued, so a value filter belongs on the attribute itself.
        if attr.sub_attr.is_some() {
            return Err(self.syntax(
                attr.span.start,
                "an attribute without a sub-attribute before \"[\"",
                quote(&self.input()[attr.span.start..attr.span.end]),
            ));
        }
        self.enter(open.span)?;
        let ctx = Ctx { close: Close::Bracket, in_brackets: true };
        let filter = self.or(ctx)?;
        let close = self.close(ctx)?;
        self.depth -= 1;
        Ok((filter, close))
    }

    /// RFC 7644 §3.4.2.2 `attrPath SP "pr"` / `attrPath SP compareOp SP compValue`.
    fn comparison(&mut self, attr: AttrPath) -> Result<Filter, Error> {
        let t = self.bump()?;
        let TokenKind::Word(w) = t.kind else {
            return Err(self.unexpected(&t, EXPECTED_OPERATOR));
        };
        if w.eq_ignore_ascii_case("pr") {
            self.count_term(attr.span)?;
            let span = attr.span.to(t.span);
            return Ok(Filter::Present { attr, span });
        }
        let Some(op) = compare_op(w) else {
            return Err(self.unexpected(&t, EXPECTED_OPERATOR));
        };
        self.count_term(attr.span)?;
        let v = self.bump()?;
        let value = match v.kind {
            TokenKind::Str(s) => CompValue::String(s),
            TokenKind::Word(w) => self.bare_value(w, v.span)?,
            _ => return Err(self.unexpected(&v, EXPECTED_VALUE)),
        };
        let span = attr.span.to(v.span);
        Ok(Filter::Compare { attr, op, value, span })
    }

    /// RFC 7644 §3.4.2.2 `compValue = false / null / true / number / string`, for a value that is not
    /// a quoted string: a literal, a JSON number, or tolerance (b), a bare word taken as a string.
    fn bare_value(&self, w: &str, span: Span) -> Result<CompValue, Error> {
        if w.eq_ignore_ascii_case("true") {
            Ok(CompValue::Bool(true))
        } else if w.eq_ignore_ascii_case("false") {
            Ok(CompValue::Bool(false))
        } else if w.eq_ignore_ascii_case("null") {
            Ok(CompValue::Null)
        } else if is_json_number(w) {
            Number::from_literal(w).map(CompValue::Number).ok_or_else(|| {
                self.syntax(span.start, "a number within the range of a 64-bit float", quote(w))
            })
        } else {
            Ok(CompValue::String(w.to_owned()))
        }
    }

    /// RFC 7644 §3.4.2.2 `attrPath = [URI ":"] ATTRNAME *1subAttr`, from one word. The URI is
    /// everything before the last colon: schema URNs hold dots and colons of their own
    /// (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`).
    fn attr_path(&self, word: &str, span: Span) -> Result<AttrPath, Error> {
        let (urn, rest, rest_at) = match word.rfind(':') {
            Some(i) => {
                let urn = &word[..i];
                if !is_uri(urn) {
                    return Err(self.syntax(
                        span.start,
                        "a schema URI before the last \":\" (urn:…:User:userName)",
                        quote(word),
                    ));
                }
                (Some(urn.to_owned()), &word[i + 1..], span.start + i + 1)
            }
            None => (None, word, span.start),
        };
        let (name, sub) = match rest.split_once('.') {
            Some((name, sub)) => (name, Some(sub)),
            None => (rest, None),
        };
        if !is_attr_name(name) {
            // `.foo`: nothing before the dot; quote what is there rather than "nothing".
            return Err(self.syntax(
                rest_at,
                EXPECTED_NAME,
                found_name(if name.is_empty() { rest } else { name }),
            ));
        }
        let sub_attr = match sub {
            None => None,
            Some(sub) => {
                let sub_at = rest_at + name.len() + 1;
                if let Some(i) = sub.find('.') {
                    return Err(self.syntax(
                        sub_at + i,
                        "at most one sub-attribute (attribute.subAttribute)",
                        quote(rest),
                    ));
                }
                if !is_attr_name(sub) {
                    return Err(self.syntax(sub_at, EXPECTED_SUB_NAME, found_name(sub)));
                }
                Some(sub.to_owned())
            }
        };
        Ok(AttrPath { urn, name: name.to_owned(), sub_attr, span })
    }

    /// RFC 7644 §3.4.2.2 `subAttr = "." ATTRNAME`, from a word that starts with the dot at `at`.
    fn sub_attr_name(&self, word: &str, at: usize) -> Result<String, Error> {
        let name = word.get(1..).unwrap_or_default();
        if is_attr_name(name) {
            Ok(name.to_owned())
        } else {
            Err(self.syntax(at + 1, EXPECTED_SUB_NAME, found_name(name)))
        }
    }

    /// RFC 7644 §3.5.2 `PATH = attrPath / valuePath [subAttr]`.
    fn path(&mut self) -> Result<PatchPath, Error> {
        let t = self.bump()?;
        let TokenKind::Word(w) = t.kind else {
            return Err(self.unexpected(&t, "an attribute path"));
        };
        let attr = self.attr_path(w, t.span)?;
        let next = self.bump()?;
        match next.kind {
            TokenKind::Eof => {
                let span = attr.span;
                Ok(PatchPath { attr, filter: None, sub_attr: None, span })
            }
            TokenKind::LBracket => {
                let ctx = Ctx { close: Close::Bracket, in_brackets: false };
                let (filter, close) = self.value_filter(&attr, &next, ctx)?;
                let mut end = close.end;
                let after = self.bump()?;
                let sub_attr = match after.kind {
                    TokenKind::Eof => None,
                    TokenKind::Word(w) if w.starts_with('.') && after.span.start == close.end => {
                        end = after.span.end;
                        let sub = self.sub_attr_name(w, after.span.start)?;
                        let last = self.bump()?;
                        if last.kind != TokenKind::Eof {
                            return Err(self.unexpected(&last, "the end of the path"));
                        }
                        Some(sub)
                    }
                    _ => {
                        return Err(
                            self.unexpected(&after, "\".\" and a sub-attribute, or the end of the path")
                        );
                    }
                };
                Ok(PatchPath { attr, filter: Some(filter), sub_attr, span: Span::new(t.span.start, end) })
            }
            _ => Err(self.unexpected(&next, "\"[\" or the end of the path")),
        }
    }
}

/// The `found …` text for an attribute name that is not one.
fn found_name(name: &str) -> String {
    if name.is_empty() { "nothing".to_owned() } else { quote(name) }
}
