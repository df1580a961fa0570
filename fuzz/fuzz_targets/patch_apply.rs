//! Any bytes as a PATCH request body, applied to the RFC 7643 §8.2 full user and to a group, in
//! both dialects. Parsing and applying must never panic. A failed apply must leave the document
//! equal to what it was (all or nothing); a successful one must report `changed` truthfully and
//! leave a document that validation would not change (PATCH normalises as POST does).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use scimd_schema::ResourceSchema;
use scimd_schema::patch::{PatchOptions, apply, parse_patch_request};
use scimd_schema::validate::{ValidateOptions, validate_create};
use serde_json::{Value, json};

static USER_SCHEMA: LazyLock<ResourceSchema> = LazyLock::new(ResourceSchema::user);
static GROUP_SCHEMA: LazyLock<ResourceSchema> = LazyLock::new(ResourceSchema::group);

static USER: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../crates/scimd-schema/testdata/full_user.json"))
        .expect("the fixture is JSON")
});

static GROUP: LazyLock<Value> = LazyLock::new(|| {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
        "displayName": "Tour Guides",
        "meta": {"resourceType": "Group", "created": "2010-01-23T04:56:22.000Z"}
    })
});

/// The document as validation sees it: without the store-owned `id` and `meta`.
fn without_store_fields(doc: &Value) -> Value {
    let mut doc = doc.clone();
    if let Some(obj) = doc.as_object_mut() {
        obj.shift_remove("id");
        obj.shift_remove("meta");
    }
    doc
}

fn check(rs: &ResourceSchema, original: &Value, body: &Value) {
    let Ok(ops) = parse_patch_request(body) else {
        return;
    };
    for strict in [false, true] {
        let mut doc = original.clone();
        match apply(rs, &mut doc, &ops, &PatchOptions { strict }) {
            Err(e) => {
                assert_eq!(&doc, original, "failed with {e} but changed the document");
                assert_eq!(e.status, 400, "unexpected status for {e}");
            }
            Ok(outcome) => {
                if doc != *original {
                    assert!(outcome.changed, "the document changed but changed is false");
                } else {
                    assert_eq!(outcome.changed, !outcome.members.is_empty(), "changed without a change");
                }
                let plain = without_store_fields(&doc);
                match validate_create(rs, plain.clone(), &ValidateOptions::default()) {
                    Ok(validated) => assert_eq!(validated, plain, "PATCH left a document validation rewrites"),
                    Err(e) => {
                        // A PATCH may remove a required attribute (RFC 7644 leaves that to the
                        // server); any other refusal means PATCH let in what POST would not.
                        assert!(
                            e.detail.contains("userName") || e.detail.contains("displayName"),
                            "PATCH left a document validation refuses: {e}"
                        );
                    }
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    check(&USER_SCHEMA, &USER, &body);
    check(&GROUP_SCHEMA, &GROUP, &body);
});
