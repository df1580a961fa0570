use proptest::prelude::*;
use scimd_filter::parse_filter;
use serde_json::{Value, json};

use super::matches;
use super::tests::full_user;
use crate::resource::ResourceSchema;
use crate::value::fold_case;

/// Paths of every type the User schema has, single- and multi-valued, core and extension.
const PATHS: &[&str] = &[
    "userName",
    "displayName",
    "title",
    "externalId",
    "name.givenName",
    "emails.value",
    "emails.type",
    "emails",
    "phoneNumbers.value",
    "active",
    "emails.primary",
    "meta.created",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    "manager",
];

/// Literals: values the fixture holds (in other cases too) and others.
fn literal() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("bjensen@example.com")),
        Just(json!("BJENSEN@EXAMPLE.COM")),
        Just(json!("Babs Jensen")),
        Just(json!("work")),
        Just(json!("Work")),
        Just(json!("701984")),
        Just(json!("Tour Operations")),
        Just(json!("26118915-6090-4610-87e4-49d8ca9f808d")),
        Just(json!("2010-01-23T04:56:22Z")),
        Just(json!(true)),
        Just(json!(false)),
        Just(json!("True")),
        "[a-zA-Z@. ]{0,12}".prop_map(Value::String),
    ]
}

/// The fixture with some attributes removed.
fn document() -> impl Strategy<Value = Value> {
    proptest::collection::vec(
        proptest::sample::select(vec!["title", "emails", "active", "userName", "meta"]),
        0..3,
    )
    .prop_map(|gone| {
        let mut doc = full_user();
        for key in gone {
            doc.as_object_mut().map(|o| o.shift_remove(key));
        }
        doc
    })
}

proptest! {
    /// `a eq v` and `not (a ne v)` always agree, including when one of them is an invalid filter.
    #[test]
    fn eq_is_not_ne(path in proptest::sample::select(PATHS), lit in literal(), doc in document()) {
        let rs = ResourceSchema::user();
        let eq = parse_filter(&format!("{path} eq {lit}")).unwrap();
        let not_ne = parse_filter(&format!("not ({path} ne {lit})")).unwrap();
        prop_assert_eq!(matches(&rs, &eq, &doc), matches(&rs, &not_ne, &doc));
    }

    /// `pr` holds exactly when the attribute has a non-empty value.
    #[test]
    fn pr_agrees_with_presence(choice in 0usize..8, path in proptest::sample::select(vec!["title", "emails", "name"])) {
        let (value, present) = match choice {
            0 => (None, false),
            1 => (Some(json!(null)), false),
            2 => (Some(json!("")), false),
            3 => (Some(json!([])), false),
            4 => (Some(json!({})), false),
            5 => (Some(json!([{"value": ""}])), false),
            6 => (Some(json!([{"value": "a"}])), true),
            _ => (Some(json!("x")), true),
        };
        let mut doc = json!({"userName": "u"});
        if let Some(v) = value {
            doc[path] = v;
        }
        let f = parse_filter(&format!("{path} pr")).unwrap();
        prop_assert_eq!(matches(&ResourceSchema::user(), &f, &doc), Ok(present));
    }

    /// `userName eq v` is exactly "equal after case folding" (userName is not caseExact).
    #[test]
    fn eq_on_a_case_insensitive_string_folds_both_sides(stored in "[a-zA-ZÄÖäö]{1,6}", lit in "[a-zA-ZÄÖäö]{1,6}") {
        let doc = json!({"userName": stored});
        let f = parse_filter(&format!("userName eq {}", json!(lit))).unwrap();
        let want = fold_case(&stored) == fold_case(&lit);
        prop_assert_eq!(matches(&ResourceSchema::user(), &f, &doc), Ok(want));
    }
}
