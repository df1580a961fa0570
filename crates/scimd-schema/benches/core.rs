//! How long the two per-request hot paths of this crate take: evaluating a filter against a
//! resource in memory, and applying the PATCH Entra ID sends on every user update. Figures are
//! printed, not asserted; they are recorded in the crate README.
#![expect(clippy::unwrap_used, reason = "a benchmark of fixed inputs known to be valid")]

use std::hint::black_box;

use divan::Bencher;
use scimd_schema::ResourceSchema;
use scimd_schema::filter_eval::{check_filter, matches};
use scimd_schema::patch::{PatchOptions, apply, parse_patch_request};
use serde_json::{Value, json};

fn main() {
    divan::main();
}

/// The RFC 7643 §8.2 full user, as stored.
fn full_user() -> Value {
    serde_json::from_str(include_str!("../testdata/full_user.json")).unwrap()
}

/// Ten attribute expressions, every one true of the full user, so none is skipped: case folding, a
/// boolean, a value filter, `co`/`ew`/`sw`, `not`, an extension URN, a dateTime, a string boolean.
const TEN_CLAUSES: &str = concat!(
    r#"userName eq "BJensen@example.com" and active eq true and "#,
    r#"(emails[type eq "work" and value co "@example.com"] or emails.value ew "@example.org") and "#,
    r#"not (title eq "CEO") and "#,
    r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value ne "2819c223" and "#,
    r#"meta.lastModified gt "2011-01-01T00:00:00Z" and name.familyName sw "Jen" and "#,
    r#"roles[primary eq "True"]"#,
);

/// Entra ID without `aadOptscim062020`: one `Replace` per changed attribute, a value-filter path,
/// an extension attribute by URN, a string boolean (docs/idp-compatibility.md §2.3).
fn entra_body() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "Replace", "path": "displayName", "value": "Barbara Jensen"},
            {"op": "Replace", "path": "name.givenName", "value": "Barbara"},
            {"op": "Replace", "path": "name.familyName", "value": "Jensen-Smith"},
            {"op": "Replace", "path": "title", "value": "Senior Tour Guide"},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "barbara@example.com"},
            {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Rides"},
            {"op": "Replace", "path": "active", "value": "True"}
        ]
    })
}

/// Okta deactivating a user (docs/idp-compatibility.md §3.1).
fn okta_body() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": false}}]
    })
}

/// Check and evaluate, as a caller with a filter string's tree does each time.
#[divan::bench]
fn filter_ten_clauses(bencher: Bencher) {
    let rs = ResourceSchema::user();
    let doc = full_user();
    let filter = scimd_filter::parse_filter(TEN_CLAUSES).unwrap();
    assert!(matches(&rs, &filter, &doc).unwrap());
    bencher.bench(|| matches(black_box(&rs), black_box(&filter), black_box(&doc)));
}

/// Evaluation alone, the filter checked once.
#[divan::bench]
fn filter_ten_clauses_checked(bencher: Bencher) {
    let rs = ResourceSchema::user();
    let doc = full_user();
    let filter = scimd_filter::parse_filter(TEN_CLAUSES).unwrap();
    let checked = check_filter(&rs, &filter).unwrap();
    bencher.bench(|| black_box(&checked).matches(black_box(&doc)));
}

/// `apply` of the Entra PATCH to the full user (the operations parsed once).
#[divan::bench]
fn patch_entra_apply(bencher: Bencher) {
    let rs = ResourceSchema::user();
    let ops = parse_patch_request(&entra_body()).unwrap();
    let opts = PatchOptions::default();
    bencher
        .with_inputs(full_user)
        .bench_local_refs(|doc| apply(black_box(&rs), doc, black_box(&ops), &opts).unwrap().changed);
}

/// The whole PATCH: request body to applied document (paths parsed each time).
#[divan::bench]
fn patch_entra_parse_and_apply(bencher: Bencher) {
    let rs = ResourceSchema::user();
    let body = entra_body();
    let opts = PatchOptions::default();
    bencher.with_inputs(full_user).bench_local_refs(|doc| {
        let ops = parse_patch_request(black_box(&body)).unwrap();
        apply(&rs, doc, &ops, &opts).unwrap().changed
    });
}

/// Okta's no-path deactivation, parse and apply.
#[divan::bench]
fn patch_okta_deactivate(bencher: Bencher) {
    let rs = ResourceSchema::user();
    let body = okta_body();
    let opts = PatchOptions::default();
    bencher.with_inputs(full_user).bench_local_refs(|doc| {
        let ops = parse_patch_request(black_box(&body)).unwrap();
        apply(&rs, doc, &ops, &opts).unwrap().changed
    });
}

/// Projection with no parameters (every GET and POST response): the full user as returned.
#[divan::bench]
fn project_full_user_default(bencher: Bencher) {
    use scimd_schema::projection::{Projection, project};
    let rs = ResourceSchema::user();
    let doc = full_user();
    let p = Projection::new(&rs, None, None);
    bencher.bench(|| project(black_box(&rs), black_box(&doc), black_box(&p)));
}

/// `attributes=userName,emails` (what a reconciliation job asks for), parameters parsed each time.
#[divan::bench]
fn project_full_user_attributes(bencher: Bencher) {
    use scimd_schema::projection::{Projection, project};
    let rs = ResourceSchema::user();
    let doc = full_user();
    bencher.bench(|| {
        let p = Projection::new(&rs, Some(black_box("userName,emails")), None);
        project(&rs, black_box(&doc), &p)
    });
}

/// `excludedAttributes=members` on a group, parameters parsed each time.
#[divan::bench]
fn project_group_excluding_members(bencher: Bencher) {
    use scimd_schema::projection::{Projection, project};
    let rs = ResourceSchema::group();
    let members: Vec<Value> = (0..100)
        .map(|i| json!({"value": format!("id-{i}"), "type": "User", "display": format!("u{i}")}))
        .collect();
    let doc = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
        "displayName": "Tour Guides",
        "members": members,
        "meta": {"resourceType": "Group", "version": "W/\"3\""}
    });
    bencher.bench(|| {
        let p = Projection::new(&rs, None, Some(black_box("members")));
        project(&rs, black_box(&doc), &p)
    });
}
