use proptest::prelude::*;
use serde_json::{Value, json};

use super::{PatchOptions, apply, parse_patch_request};
use crate::filter_eval::tests::full_user;
use crate::resource::ResourceSchema;

fn patch(doc: &Value, ops: Value) -> (Value, bool) {
    let ops = parse_patch_request(&json!({"Operations": ops})).unwrap();
    let mut out = doc.clone();
    let outcome = apply(&ResourceSchema::user(), &mut out, &ops, &PatchOptions::default()).unwrap();
    (out, outcome.changed)
}

/// Single-valued paths of every kind: core, sub-attribute, extension by URN, through a filter.
const PATHS: &[&str] = &[
    "displayName",
    "title",
    "nickName",
    "name.givenName",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    "manager",
    "emails[type eq \"work\"].value",
    "phoneNumbers[type eq \"fax\"].value",
    "active",
];

proptest! {
    /// Adding a value the attribute does not have, then removing it, gives back the document.
    #[test]
    fn add_then_remove_restores(
        attr in proptest::sample::select(vec!["emails", "phoneNumbers", "ims", "roles", "entitlements"]),
        value in "[a-z0-9]{1,10}@[a-z]{1,6}\\.test",
        kind in proptest::option::of("[a-z]{1,8}"),
    ) {
        let doc = full_user();
        let mut element = json!({"value": value});
        if let Some(k) = kind {
            element["type"] = json!(k);
        }
        let (added, changed) = patch(&doc, json!([{"op": "add", "path": attr, "value": [element]}]));
        prop_assert!(changed);
        prop_assert_ne!(&added, &doc);
        let filter = format!("{attr}[value eq {}]", json!(value));
        let (back, _) = patch(&added, json!([{"op": "remove", "path": filter}]));
        prop_assert_eq!(&back, &doc);
        // Both in one request: no change at all.
        let (same, changed) = patch(&doc, json!([
            {"op": "add", "path": attr, "value": [element]},
            {"op": "remove", "path": format!("{attr}[value eq {}]", json!(value))}
        ]));
        prop_assert_eq!(&same, &doc);
        prop_assert!(!changed);
    }

    /// Replacing twice with the same value is replacing once; the second is a no-op.
    #[test]
    fn replace_is_idempotent(
        path in proptest::sample::select(PATHS),
        value in prop_oneof![
            "[a-zA-Z ]{0,10}".prop_map(Value::String),
            Just(json!("True")),
            Just(json!(false)),
            Just(json!(null)),
            Just(json!({"value": "m1"})),
        ],
        no_path in any::<bool>(),
    ) {
        let op = if no_path && !path.contains('[') {
            json!([{"op": "replace", "value": {path: value}}])
        } else {
            json!([{"op": "replace", "path": path, "value": value}])
        };
        let ops = parse_patch_request(&json!({"Operations": op})).unwrap();
        let rs = ResourceSchema::user();
        let mut once = full_user();
        // Some values do not fit some attributes (an object for a string): then both fail alike.
        match apply(&rs, &mut once, &ops, &PatchOptions::default()) {
            Ok(_) => {
                let mut twice = once.clone();
                let outcome = apply(&rs, &mut twice, &ops, &PatchOptions::default()).unwrap();
                prop_assert_eq!(&twice, &once);
                prop_assert!(!outcome.changed);
            }
            Err(e) => {
                prop_assert_eq!(&once, &full_user());
                prop_assert!(e.status == 400, "{}", e);
            }
        }
    }
}
