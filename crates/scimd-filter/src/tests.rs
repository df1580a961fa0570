//! Tests of the public parsing API: the RFC's examples, the tolerances, errors and limits.

use crate::Number;

use crate::ast::{AttrPath, CompValue, CompareOp, Filter, PatchPath, Span};
use crate::{ErrorKind, Limits, Subject, parse_filter, parse_filter_with, parse_path, parse_path_with};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

// Builders for expected trees, written by hand (not through the parser).

fn at(name: &str) -> AttrPath {
    match name.split_once('.') {
        Some((n, s)) => AttrPath::with_sub(n, s),
        None => AttrPath::simple(name),
    }
}

fn urn(urn: &str, name: &str, sub: Option<&str>) -> AttrPath {
    AttrPath {
        urn: Some(urn.into()),
        name: name.into(),
        sub_attr: sub.map(Into::into),
        span: Span::default(),
    }
}

fn cmp(attr: AttrPath, op: CompareOp, value: CompValue) -> Filter {
    Filter::Compare { attr, op, value, span: Span::default() }
}

fn eq(name: &str, value: &str) -> Filter {
    cmp(at(name), CompareOp::Eq, s(value))
}

fn s(v: &str) -> CompValue {
    CompValue::String(v.into())
}

fn pr(name: &str) -> Filter {
    Filter::Present { attr: at(name), span: Span::default() }
}

fn and(a: Filter, b: Filter) -> Filter {
    Filter::And(Box::new(a), Box::new(b), Span::default())
}

fn or(a: Filter, b: Filter) -> Filter {
    Filter::Or(Box::new(a), Box::new(b), Span::default())
}

fn not(a: Filter) -> Filter {
    Filter::Not(Box::new(a), Span::default())
}

fn vp(name: &str, f: Filter) -> Filter {
    Filter::ValuePath { attr: at(name), filter: Box::new(f), span: Span::default() }
}

fn parse(input: &str) -> Filter {
    match parse_filter(input) {
        Ok(f) => f,
        Err(e) => panic!("{input}: {e}"),
    }
}

/// RFC 7644 §3.4.2.2 Figure 2, every example, with the tree each must give and its canonical text.
#[test]
fn rfc_7644_examples() {
    use CompareOp::*;
    let ts = "2011-05-13T04:42:34Z";
    let employee_or =
        || or(cmp(at("emails"), Co, s("example.com")), cmp(at("emails.value"), Co, s("example.org")));
    let table: Vec<(&str, Filter)> = vec![
        (r#"userName eq "bjensen""#, eq("userName", "bjensen")),
        (r#"name.familyName co "O'Malley""#, cmp(at("name.familyName"), Co, s("O'Malley"))),
        (r#"userName sw "J""#, cmp(at("userName"), Sw, s("J"))),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            cmp(urn("urn:ietf:params:scim:schemas:core:2.0:User", "userName", None), Sw, s("J")),
        ),
        ("title pr", pr("title")),
        (r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, cmp(at("meta.lastModified"), Gt, s(ts))),
        (r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, cmp(at("meta.lastModified"), Ge, s(ts))),
        (r#"meta.lastModified lt "2011-05-13T04:42:34Z""#, cmp(at("meta.lastModified"), Lt, s(ts))),
        (r#"meta.lastModified le "2011-05-13T04:42:34Z""#, cmp(at("meta.lastModified"), Le, s(ts))),
        (r#"title pr and userType eq "Employee""#, and(pr("title"), eq("userType", "Employee"))),
        (r#"title pr or userType eq "Intern""#, or(pr("title"), eq("userType", "Intern"))),
        (
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            eq("schemas", ENTERPRISE),
        ),
        (
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            and(eq("userType", "Employee"), employee_or()),
        ),
        (
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            and(cmp(at("userType"), Ne, s("Employee")), not(employee_or())),
        ),
        (
            r#"userType eq "Employee" and (emails.type eq "work")"#,
            and(eq("userType", "Employee"), eq("emails.type", "work")),
        ),
        (
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            and(
                eq("userType", "Employee"),
                vp("emails", and(eq("type", "work"), cmp(at("value"), Co, s("@example.com")))),
            ),
        ),
        (
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
            or(
                vp("emails", and(eq("type", "work"), cmp(at("value"), Co, s("@example.com")))),
                vp("ims", and(eq("type", "xmpp"), cmp(at("value"), Co, s("@foo.com")))),
            ),
        ),
    ];
    assert_eq!(table.len(), 17);
    for (input, expected) in table {
        let got = parse(input);
        assert_eq!(got, expected, "{input}");
        // Only the example that groups a single comparison loses its (needless) parentheses.
        let canonical = input.replace(r#"(emails.type eq "work")"#, r#"emails.type eq "work""#);
        assert_eq!(got.to_string(), canonical, "{input}");
        assert_eq!(parse(&got.to_string()), got, "{input}");
    }
}

#[test]
fn the_rfc_examples_wrapped_over_lines_parse_too() {
    // The RFC prints long examples over two lines; a line break is whitespace.
    let f = parse("userType eq \"Employee\" and emails[type eq \"work\" and\n  value co \"@example.com\"]");
    assert!(matches!(f, Filter::And(..)));
}

#[test]
fn spans_point_into_the_input() {
    let input = r#"title pr and emails[type eq "work"]"#;
    let Filter::And(l, r, span) = parse(input) else { panic!() };
    assert_eq!((span.start, span.end), (0, input.len()));
    assert_eq!((l.span().start, l.span().end), (0, 8));
    let Filter::ValuePath { attr, filter, span } = *r else { panic!() };
    assert_eq!((span.start, span.end), (13, input.len()));
    assert_eq!((attr.span.start, attr.span.end), (13, 19));
    let Filter::Compare { attr, span, .. } = *filter else { panic!() };
    assert_eq!(&input[attr.span.start..attr.span.end], "type");
    assert_eq!(&input[span.start..span.end], r#"type eq "work""#);
    let Filter::Not(_, span) = parse(r#" not (a pr) "#) else { panic!() };
    assert_eq!((span.start, span.end), (1, 11));
}

#[test]
fn precedence_and_associativity() {
    assert_eq!(parse("a pr or b pr and c pr"), or(pr("a"), and(pr("b"), pr("c"))));
    assert_eq!(parse("a pr and b pr or c pr"), or(and(pr("a"), pr("b")), pr("c")));
    assert_eq!(parse("a pr and (b pr or c pr)"), and(pr("a"), or(pr("b"), pr("c"))));
    assert_eq!(parse("a pr or b pr or c pr"), or(or(pr("a"), pr("b")), pr("c")));
    assert_eq!(parse("a pr and b pr and c pr"), and(and(pr("a"), pr("b")), pr("c")));
    assert_eq!(parse("a pr or (b pr or c pr)"), or(pr("a"), or(pr("b"), pr("c"))));
    assert_eq!(parse("not (a pr) and b pr"), and(not(pr("a")), pr("b")));
    assert_eq!(parse("((a pr))"), pr("a"));
    assert_eq!(
        parse("emails[not (type eq \"work\") or (primary eq true)]"),
        vp("emails", or(not(eq("type", "work")), cmp(at("primary"), CompareOp::Eq, CompValue::Bool(true))))
    );
}

#[test]
fn keywords_operators_and_names_ignore_case() {
    assert_eq!(parse(r#"UserName EQ "x""#), eq("username", "x"));
    assert_eq!(parse("A Pr AND B pR Or NOT (c PR)"), or(and(pr("a"), pr("b")), not(pr("c"))));
    for op in CompareOp::ALL {
        let upper = format!("a {} 1", op.as_str().to_uppercase());
        assert_eq!(parse(&upper), cmp(at("a"), op, CompValue::Number(1.into())));
    }
    // The name is kept as spelled; equality ignores case.
    let Filter::Present { attr, .. } = parse("DisplayName pr") else { panic!() };
    assert_eq!(attr.name, "DisplayName");
}

#[test]
fn literals() {
    let value = |input: &str| match parse(input) {
        Filter::Compare { value, .. } => value,
        other => panic!("{other:?}"),
    };
    assert_eq!(value("a eq true"), CompValue::Bool(true));
    assert_eq!(value("a eq False"), CompValue::Bool(false));
    assert_eq!(value("a eq NULL"), CompValue::Null);
    assert_eq!(value("a eq 42"), CompValue::Number(42.into()));
    assert_eq!(value("a eq -7"), CompValue::Number((-7).into()));
    assert_eq!(value("a eq 18446744073709551615"), CompValue::Number(u64::MAX.into()));
    assert_eq!(value("a eq 1.5e3"), CompValue::Number(Number::from_literal("1.5e3").unwrap()));
    assert_eq!(value("a eq -0.25"), CompValue::Number(Number::from_f64(-0.25).unwrap()));
    // The literal's text is kept as written: `1.50` is not `1.5` to a string attribute, and a
    // number past 64 bits is not rounded (Entra's unquoted `externalId eq 12345678901234567890123`).
    for text in ["1.5e3", "1.50", "12345678901234567890123", "-0.0", "1E+2"] {
        let CompValue::Number(n) = value(&format!("a eq {text}")) else { panic!("{text}") };
        assert_eq!(n.as_str(), text);
        assert_eq!(n.to_string(), text, "Display writes the literal back");
    }
    let CompValue::Number(n) = value("a eq 1.50") else { panic!() };
    assert_eq!(n.as_f64(), Some(1.5));
    assert_ne!(value("a eq 1.50"), value("a eq 1.5"));
    // Quoted literals are strings.
    assert_eq!(value(r#"a eq "true""#), s("true"));
    assert_eq!(value(r#"a eq "42""#), s("42"));
    assert_eq!(value(r#"a eq "\u00e9\ud83d\ude00\n""#), s("é😀\n"));
    assert_eq!(value(r#"a eq """#), s(""));
    // Words that are not JSON numbers are bare strings.
    assert_eq!(value("a eq 007"), s("007"));
    assert_eq!(value("a eq 1."), s("1."));
    assert_eq!(value("a eq -"), s("-"));
    assert_eq!(value("a eq 1e"), s("1e"));
    assert_eq!(value("a eq .5"), s(".5"));
}

#[test]
fn numbers_stay_integers_when_they_are() {
    let Filter::Compare { value: CompValue::Number(n), .. } = parse("a gt 9007199254740993") else {
        panic!()
    };
    // Beyond 2^53 an f64 would round this to ...992.
    assert_eq!(n.as_u64(), Some(9_007_199_254_740_993));
    assert_eq!(n.to_string(), "9007199254740993");
    // Floats are correctly rounded, so their shortest text reads back to the same float (found by
    // the round-trip property test: serde_json's fast float parser is off by one unit here).
    let Filter::Compare { value: CompValue::Number(n), .. } = parse("a gt 8.007047825534055e279") else {
        panic!()
    };
    assert_eq!(n.as_f64(), Some(8.007047825534055e279));
    assert_eq!(n.to_string(), "8.007047825534055e279", "the text as written");
    let Filter::Compare { value: CompValue::Number(n), .. } = parse("a gt -9223372036854775808") else {
        panic!()
    };
    assert_eq!(n.as_i64(), Some(i64::MIN));
    let Filter::Compare { value: CompValue::Number(n), .. } = parse("a gt 18446744073709551616") else {
        panic!()
    };
    assert_eq!(n.as_f64(), Some(18446744073709551616.0));
}

#[test]
fn attribute_paths() {
    let attr = |input: &str| match parse(&format!("{input} pr")) {
        Filter::Present { attr, .. } => attr,
        other => panic!("{other:?}"),
    };
    let a = attr("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value");
    assert_eq!(a.urn.as_deref(), Some(ENTERPRISE));
    assert_eq!(a.name, "manager");
    assert_eq!(a.sub_attr.as_deref(), Some("value"));
    let a = attr(&format!("{ENTERPRISE}:employeeNumber"));
    assert_eq!((a.urn.as_deref(), a.name.as_str(), a.sub_attr), (Some(ENTERPRISE), "employeeNumber", None));
    let a = attr("members.$ref");
    assert_eq!((a.name.as_str(), a.sub_attr.as_deref()), ("members", Some("$ref")));
    assert_eq!(attr("$ref").name, "$ref");
    assert_eq!(attr("x-custom_attr9").name, "x-custom_attr9");
    assert_eq!(attr("urn:acme:Thing:a.b"), urn("urn:acme:Thing", "a", Some("b")));
}

#[test]
fn tolerance_whitespace() {
    let expected = and(eq("userName", "a b"), pr("title"));
    for input in [
        "userName eq \"a b\" and title pr",
        "  userName   eq\t\"a b\"\n and  title pr  ",
        "userName eq\"a b\"and title pr",
    ] {
        assert_eq!(parse(input), expected, "{input:?}");
    }
    assert_eq!(parse("not(a pr)"), not(pr("a")));
    assert_eq!(parse("emails[ type eq \"work\" ]"), vp("emails", eq("type", "work")));
}

#[test]
fn tolerance_bare_words() {
    // Entra's provisioning tutorial, and Microsoft's Postman collection.
    assert_eq!(parse("externalId eq jyoung"), eq("externalId", "jyoung"));
    assert_eq!(
        parse("name.FamilyName eq Employee and (emails.Value co example.com or emails.Value co example.org)"),
        and(
            eq("name.familyName", "Employee"),
            or(
                cmp(at("emails.value"), CompareOp::Co, s("example.com")),
                cmp(at("emails.value"), CompareOp::Co, s("example.org"))
            )
        )
    );
    assert_eq!(
        parse("meta.Created gt 2015-10-10T14:38:21.8617979-07:00"),
        cmp(at("meta.created"), CompareOp::Gt, s("2015-10-10T14:38:21.8617979-07:00"))
    );
    assert_eq!(
        parse("id eq 54D382A4-2050-4C03-94D1-E769F1D15682 and manager eq 2819c223"),
        and(eq("id", "54D382A4-2050-4C03-94D1-E769F1D15682"), eq("manager", "2819c223"))
    );
    assert_eq!(parse("userName sw O"), cmp(at("userName"), CompareOp::Sw, s("O")));
}

#[test]
fn tolerance_entra_sub_attribute_after_value_path() {
    assert_eq!(
        parse(r#"emails[type eq "work"].value eq "x@example.com""#),
        vp("emails", and(eq("type", "work"), eq("value", "x@example.com")))
    );
    assert_eq!(
        parse(r#"emails[type eq "work" or primary eq true].value pr and title pr"#),
        and(
            vp(
                "emails",
                and(
                    or(eq("type", "work"), cmp(at("primary"), CompareOp::Eq, CompValue::Bool(true))),
                    pr("value")
                )
            ),
            pr("title")
        )
    );
    let f = parse(r#"emails[type eq "work"].value eq "x""#);
    assert_eq!(f.to_string(), r#"emails[type eq "work" and value eq "x"]"#);
    // The dot must follow the bracket.
    let e = parse_filter(r#"emails[type eq "work"] .value eq "x""#).unwrap_err();
    assert_eq!(e.offset(), 23);
}

#[test]
fn patch_paths() {
    let path = |input: &str| match parse_path(input) {
        Ok(p) => p,
        Err(e) => panic!("{input}: {e}"),
    };
    assert_eq!(
        path("members"),
        PatchPath { attr: at("members"), filter: None, sub_attr: None, span: Span::default() }
    );
    assert_eq!(path(" name.givenName ").attr, at("name.givenName"));
    let p = path(r#"emails[type eq "work"].value"#);
    assert_eq!(
        p,
        PatchPath {
            attr: at("emails"),
            filter: Some(eq("type", "work")),
            sub_attr: Some("value".into()),
            span: Span::default()
        }
    );
    assert_eq!((p.span.start, p.span.end), (0, 28));
    let p = path(r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#);
    assert_eq!(p.filter, Some(eq("value", "2819c223-7f76-453a-919d-413861904646")));
    assert_eq!(p.sub_attr, None);
    let p = path(&format!("{ENTERPRISE}:manager"));
    assert_eq!(p.attr, urn(ENTERPRISE, "manager", None));
    let p = path(r#"roles[primary eq "True"].display"#);
    assert_eq!(p.filter, Some(eq("primary", "True")));
    let p = path("addresses[type eq work and (primary eq true or primary pr)].streetAddress");
    assert_eq!(
        p.to_string(),
        r#"addresses[type eq "work" and (primary eq true or primary pr)].streetAddress"#
    );
    assert_eq!(path(&p.to_string()), p);
}

#[test]
fn bad_paths() {
    for (input, column) in [
        ("", 1),
        ("emails[", 8),
        ("emails[type eq \"work\"", 22),
        ("emails[type eq \"work\"]value", 23),
        ("emails[type eq \"work\"].", 24),
        ("emails[type eq \"work\"].value.x", 24),
        ("emails[type eq \"work\"].value x", 30),
        ("emails x", 8),
        ("name.givenName[type eq \"work\"]", 1),
        ("emails[type[value eq 1]]", 12),
        ("(emails)", 1),
        ("a.b.c", 4),
    ] {
        let e = parse_path(input).unwrap_err();
        assert_eq!((e.subject(), e.kind()), (Subject::Path, ErrorKind::Syntax), "{input}");
        assert_eq!(e.column(), column, "{input}: {e}");
        assert!(e.to_string().starts_with(&format!("invalid path at column {column}: expected ")), "{e}");
    }
}

#[test]
fn bad_filters_point_at_the_column() {
    for (input, column) in [
        ("", 1),
        ("   ", 4),
        ("userName", 9),
        ("userName equals \"x\"", 10),
        ("userName eq", 12),
        ("userName eq (", 13),
        ("userName eq \"x\" and", 20),
        ("userName eq \"x\" nand title pr", 17),
        ("(userName pr", 13),
        ("userName pr)", 12),
        ("not (a pr", 10),
        ("a[b pr", 7),
        ("a[b pr)", 7),
        ("a[b[c pr]]", 4),
        ("1abc pr", 1),
        ("a.1 pr", 3),
        ("a.b.c pr", 4),
        ("a. pr", 3),
        (".a pr", 1),
        ("urn:ietf:params:scim:schemas:core:2.0:User: pr", 44),
        ("bad:x pr", 1),
        ("a eq \"unterminated", 19),
        ("a eq \"bad \\q escape\"", 11),
        ("a eq 1e999", 6),
        ("a pr \"x\"", 6),
        ("é eq 1", 1),
        ("a eq \"é\" é", 10),
        (")", 1),
        ("]", 1),
    ] {
        let e = parse_filter(input).unwrap_err();
        assert_eq!((e.subject(), e.kind()), (Subject::Filter, ErrorKind::Syntax), "{input}");
        assert_eq!(e.column(), column, "{input:?}: {e}");
    }
}

#[test]
fn limits_default() {
    assert_eq!(Limits::default(), Limits { max_depth: 32, max_terms: 200, max_len: 8192 });
}

#[test]
fn limit_depth() {
    let limits = Limits { max_depth: 3, ..Limits::default() };
    assert!(parse_filter_with("(((a pr)))", &limits).is_ok());
    let e = parse_filter_with("((((a pr))))", &limits).unwrap_err();
    assert_eq!((e.kind(), e.column()), (ErrorKind::TooDeep, 4));
    let e = parse_filter_with("not(not(not(a[not(b pr)])))", &limits).unwrap_err();
    assert_eq!((e.kind(), e.column()), (ErrorKind::TooDeep, 14));
    assert!(parse_path_with("a[((b pr))]", &limits).is_ok());
    assert_eq!(parse_path_with("a[(((b pr)))]", &limits).unwrap_err().kind(), ErrorKind::TooDeep);
}

#[test]
fn limit_depth_100_000_parentheses() {
    let start = std::time::Instant::now();
    let input = "(".repeat(100_000);
    let limits = Limits { max_len: usize::MAX, ..Limits::default() };
    let e = parse_filter_with(&input, &limits).unwrap_err();
    assert_eq!((e.kind(), e.offset()), (ErrorKind::TooDeep, 32));
    let input = format!("{}a pr{}", "not (".repeat(100_000), ")".repeat(100_000));
    assert_eq!(parse_filter_with(&input, &limits).unwrap_err().kind(), ErrorKind::TooDeep);
    // With the default limits the length is refused first.
    let e = parse_filter(&input).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLong);
    assert!(start.elapsed() < std::time::Duration::from_secs(1), "{:?}", start.elapsed());
}

#[test]
fn limit_length() {
    let start = std::time::Instant::now();
    let input = format!("userName eq \"{}\"", "x".repeat(1 << 20));
    let e = parse_filter(&input).unwrap_err();
    assert_eq!((e.kind(), e.offset(), e.column()), (ErrorKind::TooLong, 8192, 8193));
    assert_eq!(
        e.to_string(),
        format!("invalid filter at column 8193: expected at most 8192 bytes, found {} bytes", input.len())
    );
    assert_eq!(parse_path(&input).unwrap_err().kind(), ErrorKind::TooLong);
    let exact = format!("a eq \"{}\"", "x".repeat(8192 - 7));
    assert_eq!(exact.len(), 8192);
    assert!(parse_filter(&exact).is_ok());
    assert!(start.elapsed() < std::time::Duration::from_secs(1), "{:?}", start.elapsed());
}

#[test]
fn limit_terms() {
    let clauses = |n: usize| vec!["a pr"; n].join(" or ");
    assert!(parse_filter(&clauses(200)).is_ok());
    let e = parse_filter(&clauses(201)).unwrap_err();
    assert_eq!((e.kind(), e.offset()), (ErrorKind::TooManyTerms, 200 * 8));
    let limits = Limits { max_terms: 2, ..Limits::default() };
    assert!(parse_filter_with("a[b pr and c pr]", &limits).is_ok());
    let e = parse_filter_with(r#"a[b pr and c pr].d eq "x""#, &limits).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooManyTerms);
}

/// The text of the errors a client sees, one per line: `input` → message. Each one was read and
/// checked against its input when the snapshot was accepted.
#[test]
fn error_messages_snapshot() {
    let filters = [
        "userName equals \"bjensen\"",
        "userName eq",
        "userName eq \"bjensen\" nand title pr",
        "userName eq \"bjensen",
        "userName eq \"a\\qb\"",
        "userName eq \"\\uD83D\"",
        "userName eq \"tab\there\"",
        "(title pr",
        "title pr)",
        "emails[type eq \"work\"",
        "emails[type[value eq \"x\"]]",
        "name.givenName[value pr]",
        "name.given.name pr",
        "9lives pr",
        "urn:ietf:params:scim:schemas:core:2.0:User: pr",
        "title pr and",
        "not (title pr",
        "userName eq 1e400",
        "emails[type eq \"work\"].value",
    ];
    let paths = ["members[value eq \"x\"", "emails[type eq \"work\"]value", "members value", ""];
    let mut out = String::new();
    for f in filters {
        let e = parse_filter(f).unwrap_err();
        out.push_str(&format!("{f}\n  {e}\n"));
    }
    for p in paths {
        let e = parse_path(p).unwrap_err();
        out.push_str(&format!("{p}\n  {e}\n"));
    }
    let deep = "(".repeat(40);
    out.push_str(&format!("(×40\n  {}\n", parse_filter(&deep).unwrap_err()));
    let many = vec!["a pr"; 201].join(" and ");
    out.push_str(&format!("a pr and …×201\n  {}\n", parse_filter(&many).unwrap_err()));
    insta::assert_snapshot!(out);
}

#[test]
fn ast_snapshot_value_path_with_urn() {
    insta::assert_debug_snapshot!(parse(
        r#"urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "work" and not (value ew ".org")]"#
    ));
}

#[test]
fn ast_snapshot_precedence() {
    insta::assert_debug_snapshot!(parse(r#"a eq 1 or b pr and c ne null"#));
}

#[test]
fn ast_snapshot_entra_value_path() {
    insta::assert_debug_snapshot!(parse(r#"emails[type eq "work"].value eq "bjensen@example.com""#));
}

#[test]
fn ast_snapshot_patch_path() {
    insta::assert_debug_snapshot!(parse_path(r#"addresses[type eq "work"].streetAddress"#).unwrap());
}
