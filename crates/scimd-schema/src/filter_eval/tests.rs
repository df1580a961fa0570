use std::sync::Arc;

use scimd_filter::{AttrPath, Filter, Span, parse_filter};
use serde_json::{Value, json};

use super::*;
use crate::attribute::{AttrType, AttributeDef, Mutability, Schema};
use crate::error::ScimType;
use crate::resource::ResourceSchema;

/// The RFC 7643 §8.2 full user, as a stored (normalised) document.
pub(crate) fn full_user() -> Value {
    serde_json::from_str(include_str!("../../testdata/full_user.json")).unwrap()
}

pub(crate) const CUSTOM: &str = "urn:example:params:scim:schemas:extension:test:2.0:User";

/// The User type with one more extension holding the types the built-in schemas lack.
pub(crate) fn custom_rs() -> ResourceSchema {
    let mut rs = ResourceSchema::user();
    let mut badge = AttributeDef::new("badge", AttrType::String);
    badge.mutability = Mutability::Immutable;
    badge.case_exact = true;
    let mut tags = AttributeDef::new("tags", AttrType::String);
    tags.multi_valued = true;
    let mut serial = AttributeDef::new("serial", AttrType::String);
    serial.mutability = Mutability::Immutable;
    let mut devices = AttributeDef::new("devices", AttrType::Complex);
    devices.multi_valued = true;
    devices.sub_attributes = vec![
        serial,
        AttributeDef::new("label", AttrType::String),
        AttributeDef::new("primary", AttrType::Boolean),
    ];
    let schema = Schema {
        id: CUSTOM.to_owned(),
        name: "Test".to_owned(),
        description: String::new(),
        attributes: vec![
            AttributeDef::new("loginCount", AttrType::Integer),
            AttributeDef::new("score", AttrType::Decimal),
            AttributeDef::new("hired", AttrType::DateTime),
            badge,
            tags,
            devices,
        ],
    };
    rs.extensions.push((Arc::new(schema), false));
    rs
}

fn eval(rs: &ResourceSchema, filter: &str, doc: &Value) -> Result<bool, ScimError> {
    matches(rs, &parse_filter(filter).unwrap_or_else(|e| panic!("{filter}: {e}")), doc)
}

#[track_caller]
fn assert_match(filter: &str, expected: bool) {
    let rs = ResourceSchema::user();
    assert_eq!(eval(&rs, filter, &full_user()), Ok(expected), "{filter}");
}

#[track_caller]
fn assert_invalid(rs: &ResourceSchema, filter: &str) -> String {
    let e = eval(rs, filter, &full_user()).expect_err(filter);
    assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{filter}: {e}");
    assert_eq!(e.status, 400);
    e.detail
}

#[test]
fn case_exactness_follows_the_schema() {
    // userName: caseExact false (RFC 7643 §4.1.1).
    assert_match(r#"userName eq "BJensen@Example.COM""#, true);
    // externalId and id: caseExact true (RFC 7643 §3.1).
    assert_match(r#"id eq "2819c223-7f76-453a-919d-413861904646""#, true);
    assert_match(r#"id eq "2819C223-7F76-453A-919D-413861904646""#, false);
    assert_match(r#"meta.resourceType eq "user""#, false);
    assert_match(r#"meta.resourceType eq "User""#, true);
    // Attribute names are case-insensitive everywhere (RFC 7643 §2.1).
    assert_match(r#"NAME.FamilyName eq "JENSEN""#, true);
}

#[test]
fn string_operators_fold_case_and_order_by_code_point() {
    assert_match(r#"userName sw "BJ""#, true);
    assert_match(r#"userName ew "EXAMPLE.COM""#, true);
    assert_match(r#"userName co "jensen@""#, true);
    assert_match(r#"userName co "jensen#""#, false);
    assert_match(r#"userName gt "BJ""#, true);
    assert_match(r#"userName lt "bjensen@example.com""#, false);
    assert_match(r#"userName le "BJENSEN@EXAMPLE.COM""#, true);
    // "Babs Jensen" folds to "babs jensen", which sorts after "b" and before "c".
    assert_match(r#"displayName gt "B" and displayName lt "C""#, true);
}

#[test]
fn multi_valued_attributes_match_when_any_value_does() {
    assert_match(r#"emails.value eq "babs@jensen.org""#, true);
    assert_match(r#"emails.type eq "other""#, false);
    // A complex attribute named alone is compared by its `value`.
    assert_match(r#"emails co "jensen.org""#, true);
    assert_match(r#"emails.primary eq true"#, true);
    // The two terms may hold for different emails...
    assert_match(r#"emails.type eq "home" and emails.value co "example.com""#, true);
    // ...but inside brackets one email must satisfy all of it.
    assert_match(r#"emails[type eq "home" and value co "example.com"]"#, false);
    assert_match(r#"emails[type eq "work" and value co "example.com"]"#, true);
    assert_match(r#"emails[not (type eq "work")]"#, true);
    assert_match(r#"addresses[type eq "work" and primary eq true]"#, true);
    // Entra's form, read by the parser as `emails[type eq "work" and value eq …]`.
    assert_match(r#"emails[type eq "work"].value eq "BJensen@example.com""#, true);
    assert_match(r#"emails[type eq "home"].value eq "bjensen@example.com""#, false);
}

#[test]
fn ne_is_not_eq() {
    assert_match(r#"nickName ne "babs""#, false);
    assert_match(r#"nickName ne "Bobby""#, true);
    // One email equals, so "ne" does not hold, although another email differs.
    assert_match(r#"emails.value ne "babs@jensen.org""#, false);
    assert_match(r#"emails.value ne "nobody@example.com""#, true);
    // A resource without the attribute matches ne.
    let rs = ResourceSchema::user();
    let mut doc = full_user();
    doc.as_object_mut().unwrap().remove("title");
    assert_eq!(eval(&rs, r#"title ne "Tour Guide""#, &doc), Ok(true));
    assert_eq!(eval(&rs, r#"title eq "Tour Guide""#, &doc), Ok(false));
    assert_eq!(eval(&rs, r#"not (title pr)"#, &doc), Ok(true));
}

#[test]
fn present_means_a_non_empty_value() {
    assert_match("title pr", true);
    assert_match("emails pr", true);
    assert_match("emails.primary pr", true);
    assert_match("groups pr", false);
    assert_match("password pr", false);
    assert_match("name pr", true);
    assert_match("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager pr", true);
    let rs = ResourceSchema::user();
    let doc = json!({"title": "", "emails": [], "name": {}, "roles": [{"value": ""}], "nickName": null});
    for f in ["title pr", "emails pr", "name pr", "roles pr", "roles.value pr", "nickName pr"] {
        assert_eq!(eval(&rs, f, &doc), Ok(false), "{f}");
    }
}

#[test]
fn booleans_take_eq_and_ne_and_entra_strings() {
    assert_match("active eq true", true);
    assert_match("active ne true", false);
    assert_match(r#"active eq "True""#, true);
    assert_match(r#"active eq "FALSE""#, false);
    assert_match(r#"roles[primary eq "True"]"#, true);
    let rs = ResourceSchema::user();
    assert!(assert_invalid(&rs, r#"active eq "yes""#).contains("\"active\" is a boolean"));
    assert_invalid(&rs, "active gt false");
    assert_invalid(&rs, "active co true");
    assert_invalid(&rs, "active eq 1");
}

#[test]
fn datetimes_compare_as_instants() {
    assert_match(r#"meta.created gt "2010-01-01T00:00:00Z""#, true);
    assert_match(r#"meta.created gt 2015-10-10T14:38:21.8617979-07:00"#, false);
    // The same instant in another offset.
    assert_match(r#"meta.lastModified eq "2011-05-13T06:42:34+02:00""#, true);
    assert_match(r#"meta.lastModified lt "2011-05-13T06:42:34+02:00""#, false);
    assert_match(r#"meta.lastModified le "2011-05-13T06:42:34+02:00""#, true);
    let rs = ResourceSchema::user();
    assert_invalid(&rs, r#"meta.created gt "yesterday""#);
    assert_invalid(&rs, r#"meta.created sw "2010""#);
}

#[test]
fn numbers_compare_numerically_and_coerce_numeric_strings() {
    let rs = custom_rs();
    let doc = json!({CUSTOM: {"loginCount": 12, "score": 2.5, "hired": "2020-02-03T00:00:00.000Z"}});
    let check = |f: &str, want: bool| {
        assert_eq!(
            eval(&rs, &format!("urn:example:params:scim:schemas:extension:test:2.0:User:{f}"), &doc),
            Ok(want),
            "{f}"
        )
    };
    check("loginCount gt 9", true);
    check("loginCount gt \"9\"", true);
    check("loginCount eq 12", true);
    check("loginCount lt 12.5", true);
    check("score ge 2.5", true);
    check("score gt 2", true);
    check("score lt \"2.25\"", false);
    check("hired lt \"2020-02-03T01:00:00+01:00\"", false);
    check("hired eq \"2020-02-03T01:00:00+01:00\"", true);
    for bad in ["loginCount co 1", "loginCount eq \"twelve\"", "loginCount eq true", "score sw 2"] {
        eval(&rs, &format!("urn:example:params:scim:schemas:extension:test:2.0:User:{bad}"), &doc)
            .expect_err(bad);
    }
}

#[test]
fn unquoted_and_number_literals_compare_as_text_for_strings() {
    assert_match("externalId eq 701984", true);
    assert_match(r#"name.familyName eq Jensen"#, true);
}

#[test]
fn extension_and_common_attributes_resolve() {
    assert_match(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "26118915-6090-4610-87e4-49d8ca9f808d""#,
        true,
    );
    assert_match(r#"manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#, true);
    assert_match(r#"department eq "tour operations""#, true);
    assert_match(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bjensen@example.com""#, true);
    assert_match(r#"emails[urn:ietf:params:scim:schemas:core:2.0:User:emails.type eq "work"]"#, true);
}

#[test]
fn rows_attributes_are_read_from_the_document_when_present() {
    let rs = ResourceSchema::group();
    let doc = json!({"displayName": "Tour Guides", "members": [{"value": "u1", "type": "User"}, {"value": "g2", "type": "Group"}]});
    assert_eq!(eval(&rs, r#"members eq "u1""#, &doc), Ok(true));
    assert_eq!(eval(&rs, r#"members[type eq "group" and value eq "g2"]"#, &doc), Ok(true));
    assert_eq!(eval(&rs, r#"members eq "u3""#, &doc), Ok(false));
    assert_eq!(eval(&rs, r#"members eq "u1""#, &json!({"displayName": "x"})), Ok(false));
    let user = ResourceSchema::user();
    assert_eq!(eval(&user, r#"groups.value eq "g1""#, &json!({"groups": [{"value": "g1"}]})), Ok(true));
}

#[test]
fn invalid_filters_are_rejected_whatever_the_document() {
    let rs = ResourceSchema::user();
    let unknown = assert_invalid(&rs, r#"favouriteColour eq "blue""#);
    assert_eq!(unknown, r#"unknown attribute "favouriteColour" (in "favouriteColour")"#);
    assert_invalid(&rs, r#"name.nickname eq "x""#);
    assert_invalid(&rs, r#"name eq "x""#);
    assert_invalid(&rs, r#"userName[value eq "x"]"#);
    assert_invalid(&rs, r#"emails[colour eq "x"]"#);
    assert_invalid(&rs, r#"x509Certificates.value co "MII""#);
    assert_invalid(&rs, r#"x509Certificates.value gt "MII""#);
    assert_invalid(&rs, "title eq null");
    assert_invalid(&rs, r#"urn:example:unknown:2.0:User:x eq "y""#);
    // The check does not depend on which branch evaluation would reach.
    assert_invalid(&rs, r#"userName eq "bjensen@example.com" or active gt true"#);
    // validate_filter rejects the same.
    let f = parse_filter("active gt true").unwrap();
    assert_eq!(validate_filter(&rs, &f).map_err(|e| e.scim_type), Err(Some(ScimType::InvalidFilter)));
    assert_eq!(validate_filter(&rs, &parse_filter(r#"emails[type eq "work"]"#).unwrap()), Ok(()));
}

#[test]
fn value_filters_do_not_nest() {
    // The parser refuses `emails[type[…]]`; a hand-built tree is refused here.
    let inner = Filter::ValuePath {
        attr: AttrPath::simple("type"),
        filter: Box::new(parse_filter(r#"value eq "x""#).unwrap()),
        span: Span::default(),
    };
    let f = Filter::ValuePath {
        attr: AttrPath::simple("emails"),
        filter: Box::new(inner),
        span: Span::default(),
    };
    let e = matches(&ResourceSchema::user(), &f, &full_user()).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
}

#[test]
fn long_chains_are_flat_and_deep_nesting_is_refused() {
    let rs = ResourceSchema::user();
    let clause = parse_filter(r#"title eq "x""#).unwrap();
    let mut chain = clause.clone();
    for _ in 0..10_000 {
        chain = Filter::Or(Box::new(chain), Box::new(clause.clone()), Span::default());
    }
    chain = Filter::Or(Box::new(chain), Box::new(parse_filter("active eq true").unwrap()), Span::default());
    assert_eq!(matches(&rs, &chain, &full_user()), Ok(true));
    let Ok(CheckedFilter::Or(parts)) = check_filter(&rs, &chain) else { panic!("not an or") };
    assert_eq!(parts.len(), 10_002);
    // Dropping a 10,000-deep Box chain recurses; forget it rather than test the allocator.
    std::mem::forget(chain);

    let mut deep = clause;
    for _ in 0..=MAX_NESTING {
        deep = Filter::Not(Box::new(deep), Span::default());
    }
    let e = matches(&rs, &deep, &full_user()).unwrap_err();
    assert_eq!(e.detail, "the filter nests deeper than 64 levels");
}

#[test]
fn check_comparison_converts_literals() {
    let mut s = AttributeDef::new("userName", AttrType::String);
    assert_eq!(
        check_comparison(&s, CompareOp::Eq, &CompValue::String("BJ".into())),
        Ok(Operand::Str("bj".into()))
    );
    s.case_exact = true;
    assert_eq!(
        check_comparison(&s, CompareOp::Eq, &CompValue::String("BJ".into())),
        Ok(Operand::Str("BJ".into()))
    );
    let i = AttributeDef::new("n", AttrType::Integer);
    assert_eq!(check_comparison(&i, CompareOp::Gt, &CompValue::String(" 5 ".into())), Ok(Operand::Int(5)));
    assert_eq!(check_comparison(&i, CompareOp::Gt, &CompValue::Number(5.into())), Ok(Operand::Int(5)));
    let d = AttributeDef::new("d", AttrType::Decimal);
    assert_eq!(check_comparison(&d, CompareOp::Gt, &CompValue::Number(5.into())), Ok(Operand::Dec(5.0)));
    // An unquoted number against a string attribute is its literal text, not a float's.
    let lit = |t: &str| CompValue::Number(scimd_filter::Number::from_literal(t).unwrap());
    s.case_exact = false;
    for text in ["12345678901234567890123", "1.50", "1e3"] {
        assert_eq!(check_comparison(&s, CompareOp::Eq, &lit(text)), Ok(Operand::Str(text.to_lowercase())));
    }
    assert_eq!(
        check_comparison(&i, CompareOp::Eq, &lit("9007199254740993")),
        Ok(Operand::Int(9_007_199_254_740_993))
    );
    assert_eq!(check_comparison(&d, CompareOp::Eq, &lit("1.50")), Ok(Operand::Dec(1.5)));
    let t = AttributeDef::new("t", AttrType::DateTime);
    assert_eq!(
        check_comparison(&t, CompareOp::Lt, &CompValue::String("2011-05-13T06:42:34+02:00".into())),
        Ok(Operand::DateTime("2011-05-13T04:42:34.000Z".into()))
    );
    let b = AttributeDef::new("active", AttrType::Boolean);
    assert_eq!(
        check_comparison(&b, CompareOp::Ne, &CompValue::String("fAlSe".into())),
        Ok(Operand::Bool(false))
    );
}

#[test]
fn error_details() {
    let rs = ResourceSchema::user();
    insta::assert_snapshot!(assert_invalid(&rs, "active gt true"), @r#""active" is a boolean: only eq, ne and pr apply, not gt"#);
    insta::assert_snapshot!(assert_invalid(&rs, "name eq \"x\""), @r#""name" is complex: compare one of its sub-attributes"#);
    insta::assert_snapshot!(assert_invalid(&rs, "meta.created ge \"soon\""), @r#""meta.created" is a dateTime: "soon" is not an RFC 3339 date-time"#);
    insta::assert_snapshot!(assert_invalid(&rs, "emails[kind eq \"work\"]"), @r#"attribute "emails" has no sub-attribute "kind""#);
}

#[test]
fn the_fixture_is_a_normalised_document() {
    // What validation makes of it (less the store-owned id and meta) is what it already is.
    let mut doc = full_user();
    let obj = doc.as_object_mut().unwrap();
    obj.shift_remove("id");
    obj.shift_remove("meta");
    let rs = ResourceSchema::user();
    let validated = crate::validate::validate_create(&rs, doc.clone(), &Default::default()).unwrap();
    assert_eq!(validated, doc);
}
