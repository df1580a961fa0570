//! Any bytes as a resource body (POST or PUT), validated against the User and Group types in both
//! modes. Validation must never panic, and what it returns must be a fixpoint: validating the
//! validated document again gives it back unchanged.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use scimd_schema::ResourceSchema;
use scimd_schema::validate::{ValidateOptions, validate_create, validate_replace};
use serde_json::Value;

static SCHEMAS: LazyLock<[ResourceSchema; 2]> =
    LazyLock::new(|| [ResourceSchema::user(), ResourceSchema::group()]);

static EXISTING: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../crates/scimd-schema/testdata/full_user.json"))
        .expect("the fixture is JSON")
});

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    for rs in SCHEMAS.iter() {
        for strict in [false, true] {
            let opts = ValidateOptions { strict };
            if let Ok(doc) = validate_create(rs, body.clone(), &opts) {
                let again = validate_create(rs, doc.clone(), &opts);
                assert_eq!(again.as_ref(), Ok(&doc), "validation is not a fixpoint");
            }
            let _ = validate_replace(rs, &EXISTING, body.clone(), &opts);
        }
    }
});
