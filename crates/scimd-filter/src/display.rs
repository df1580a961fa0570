//! Writes trees back as text.
//!
//! A filter is parsed once and then travels as a tree, but it also has to be written out again: in
//! logs, in error details, in the `filter` a client is told it sent, and to check the parser itself.
//! The text is canonical — lower-case operators, one space between tokens, strings JSON-escaped,
//! parentheses only where precedence needs them — and reads back to an equal tree:
//! `parse_filter(&f.to_string()) == Ok(f)` for every tree the parser can produce.
//!
//! Trees built by hand can hold what the grammar cannot: a value filter on a sub-attribute, a
//! value filter inside a value filter, names that are not `ATTRNAME`s. They display as best they can
//! and will not read back.

use std::fmt::{self, Write as _};

use crate::ast::{AttrPath, CompValue, Filter, PatchPath};

/// RFC 7644 §3.4.2.2 `attrPath = [URI ":"] ATTRNAME *1subAttr`.
impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            f.write_str(urn)?;
            f.write_char(':')?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub_attr {
            f.write_char('.')?;
            f.write_str(sub)?;
        }
        Ok(())
    }
}

/// RFC 7644 §3.4.2.2 `compValue`: JSON literals (RFC 8259). Strings are always quoted, so a value
/// that was sent bare (`externalId eq jyoung`) comes back as `externalId eq "jyoung"`.
impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Null => f.write_str("null"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Number(n) => write!(f, "{n}"),
            CompValue::String(s) => write_json_string(f, s),
        }
    }
}

/// RFC 8259 §7: a string in double quotes, with `"`, `\` and the control characters escaped.
fn write_json_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    let mut run = 0;
    for (i, c) in s.char_indices() {
        let escape = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            c if u32::from(c) < 0x20 => "",
            _ => continue,
        };
        f.write_str(&s[run..i])?;
        if escape.is_empty() {
            write!(f, "\\u{:04x}", u32::from(c))?;
        } else {
            f.write_str(escape)?;
        }
        run = i + c.len_utf8();
    }
    f.write_str(&s[run..])?;
    f.write_char('"')
}

/// Writes `filter`, in parentheses when `parens`.
fn side(f: &mut fmt::Formatter<'_>, filter: &Filter, parens: bool) -> fmt::Result {
    if parens { write!(f, "({filter})") } else { write!(f, "{filter}") }
}

/// RFC 7644 §3.4.2.2: `and` binds tighter than `or`, and both read left to right, so a child needs
/// parentheses when it binds more loosely than its parent, or as loosely and stands on the right.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Present { attr, .. } => write!(f, "{attr} pr"),
            Filter::Compare { attr, op, value, .. } => write!(f, "{attr} {op} {value}"),
            Filter::ValuePath { attr, filter, .. } => write!(f, "{attr}[{filter}]"),
            Filter::Not(inner, _) => write!(f, "not ({inner})"),
            Filter::And(left, right, _) => {
                side(f, left, matches!(**left, Filter::Or(..)))?;
                f.write_str(" and ")?;
                side(f, right, matches!(**right, Filter::Or(..) | Filter::And(..)))
            }
            Filter::Or(left, right, _) => {
                side(f, left, false)?;
                f.write_str(" or ")?;
                side(f, right, matches!(**right, Filter::Or(..)))
            }
        }
    }
}

/// RFC 7644 §3.5.2 `PATH = attrPath / valuePath [subAttr]`.
impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::{CompareOp, Span};

    fn cmp(name: &str, value: CompValue) -> Filter {
        Filter::Compare { attr: AttrPath::simple(name), op: CompareOp::Eq, value, span: Span::default() }
    }

    fn and(a: Filter, b: Filter) -> Filter {
        Filter::And(Box::new(a), Box::new(b), Span::default())
    }

    fn or(a: Filter, b: Filter) -> Filter {
        Filter::Or(Box::new(a), Box::new(b), Span::default())
    }

    fn s(v: &str) -> CompValue {
        CompValue::String(v.to_owned())
    }

    #[test]
    fn values() {
        assert_eq!(CompValue::Null.to_string(), "null");
        assert_eq!(CompValue::Bool(false).to_string(), "false");
        assert_eq!(CompValue::Number(crate::Number::from(-12_i64)).to_string(), "-12");
        assert_eq!(CompValue::Number(crate::Number::from(u64::MAX)).to_string(), "18446744073709551615");
        let half = crate::Number::from_f64(0.5).unwrap();
        assert_eq!(CompValue::Number(half).to_string(), "0.5");
        assert_eq!(s("a\"b\\c\nd\u{1}é😀\u{7f}").to_string(), "\"a\\\"b\\\\c\\nd\\u0001é😀\u{7f}\"");
        assert_eq!(s("\t\r\u{8}\u{c}").to_string(), r#""\t\r\b\f""#);
    }

    #[test]
    fn attr_paths() {
        let p = AttrPath {
            urn: Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".into()),
            name: "manager".into(),
            sub_attr: Some("value".into()),
            span: Span::default(),
        };
        assert_eq!(p.to_string(), "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value");
        assert_eq!(AttrPath::with_sub("name", "givenName").to_string(), "name.givenName");
    }

    #[test]
    fn parentheses_only_where_precedence_needs_them() {
        let (a, b, c) = (cmp("a", s("1")), cmp("b", s("2")), cmp("c", s("3")));
        assert_eq!(
            and(or(a.clone(), b.clone()), c.clone()).to_string(),
            r#"(a eq "1" or b eq "2") and c eq "3""#
        );
        assert_eq!(
            or(and(a.clone(), b.clone()), c.clone()).to_string(),
            r#"a eq "1" and b eq "2" or c eq "3""#
        );
        assert_eq!(
            or(a.clone(), and(b.clone(), c.clone())).to_string(),
            r#"a eq "1" or b eq "2" and c eq "3""#
        );
        assert_eq!(
            and(a.clone(), or(b.clone(), c.clone())).to_string(),
            r#"a eq "1" and (b eq "2" or c eq "3")"#
        );
        // Left-nested chains read back as they are; right-nested ones keep their grouping.
        assert_eq!(
            and(and(a.clone(), b.clone()), c.clone()).to_string(),
            r#"a eq "1" and b eq "2" and c eq "3""#
        );
        assert_eq!(
            and(a.clone(), and(b.clone(), c.clone())).to_string(),
            r#"a eq "1" and (b eq "2" and c eq "3")"#
        );
        assert_eq!(
            or(a.clone(), or(b.clone(), c.clone())).to_string(),
            r#"a eq "1" or (b eq "2" or c eq "3")"#
        );
        assert_eq!(Filter::Not(Box::new(a.clone()), Span::default()).to_string(), r#"not (a eq "1")"#);
        let vp = Filter::ValuePath {
            attr: AttrPath::simple("emails"),
            filter: Box::new(or(a, b)),
            span: Span::default(),
        };
        assert_eq!(and(vp, c).to_string(), r#"emails[a eq "1" or b eq "2"] and c eq "3""#);
    }

    #[test]
    fn patch_paths() {
        let p = PatchPath {
            attr: AttrPath::simple("emails"),
            filter: Some(cmp("type", s("work"))),
            sub_attr: Some("value".into()),
            span: Span::default(),
        };
        assert_eq!(p.to_string(), r#"emails[type eq "work"].value"#);
        let p = PatchPath {
            attr: AttrPath::with_sub("name", "givenName"),
            filter: None,
            sub_attr: None,
            span: Span::default(),
        };
        assert_eq!(p.to_string(), "name.givenName");
    }
}
