use scimd_filter::parse_filter;
use serde_json::{Value, json};

use super::*;
use crate::error::ScimType;
use crate::filter_eval::tests::{CUSTOM, custom_rs, full_user};

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const MANAGER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";
const GID: &str = "e9e30dba-f08f-4109-8486-d5c6a331660a";

fn body(ops: Value) -> Value {
    json!({"schemas": [urn::PATCH_OP], "Operations": ops})
}

fn group() -> Value {
    json!({
        "schemas": [urn::GROUP],
        "id": GID,
        "displayName": "Tour Guides",
        "meta": {"resourceType": "Group", "created": "2010-01-23T04:56:22.000Z", "lastModified": "2011-05-13T04:42:34.000Z"}
    })
}

/// Parses and applies `body`; checks that a failed apply left the document alone.
fn run(
    rs: &ResourceSchema,
    doc: &Value,
    body: &Value,
    strict: bool,
) -> Result<(Value, PatchOutcome), ScimError> {
    let ops = parse_patch_request(body)?;
    let mut out = doc.clone();
    match apply(rs, &mut out, &ops, &PatchOptions { strict }) {
        Ok(outcome) => Ok((out, outcome)),
        Err(e) => {
            assert_eq!(&out, doc, "the document changed although apply failed: {e}");
            Err(e)
        }
    }
}

#[track_caller]
fn patch_user(ops: Value) -> (Value, PatchOutcome) {
    run(&ResourceSchema::user(), &full_user(), &body(ops), false).unwrap()
}

#[track_caller]
fn patch_err(rs: &ResourceSchema, doc: &Value, ops: Value, strict: bool) -> ScimError {
    run(rs, doc, &body(ops), strict).unwrap_err()
}

/// Sets (or with `None` removes) the value at a JSON pointer; appends when the index is the length.
fn edit(doc: &mut Value, pointer: &str, v: Option<Value>) {
    let (parent, last) = pointer.rsplit_once('/').unwrap();
    let parent =
        if parent.is_empty() { doc } else { doc.pointer_mut(parent).unwrap_or_else(|| panic!("{pointer}")) };
    match (parent, v) {
        (Value::Object(o), Some(v)) => {
            o.insert(last.to_owned(), v);
        }
        (Value::Object(o), None) => {
            assert!(o.shift_remove(last).is_some(), "{pointer} is not there");
        }
        (Value::Array(a), Some(v)) => {
            let i: usize = last.parse().unwrap();
            if i == a.len() { a.push(v) } else { a[i] = v }
        }
        (Value::Array(a), None) => {
            a.remove(last.parse::<usize>().unwrap());
        }
        _ => panic!("{pointer}"),
    }
}

fn m(id: &str) -> MemberRef {
    MemberRef { value: id.to_owned(), type_: None, display: None }
}

struct Case {
    name: &'static str,
    ops: Value,
    edits: Vec<(&'static str, Option<Value>)>,
    members: Vec<MemberChange>,
}

fn case(name: &'static str, ops: Value, edits: Vec<(&'static str, Option<Value>)>) -> Case {
    Case { name, ops, edits, members: Vec::new() }
}

#[track_caller]
fn check_table(rs: &ResourceSchema, base: &Value, cases: Vec<Case>) {
    for c in cases {
        let (doc, outcome) = run(rs, base, &body(c.ops), false).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let mut want = base.clone();
        for (pointer, v) in c.edits {
            edit(&mut want, pointer, v);
        }
        assert_eq!(doc, want, "{}", c.name);
        assert_eq!(outcome.members, c.members, "{}", c.name);
        assert_eq!(outcome.changed, doc != *base || !outcome.members.is_empty(), "{}", c.name);
    }
}

/// Every User PATCH body of docs/idp-compatibility.md (§1.7, §2.3, §3), with the document it must leave.
#[test]
fn identity_provider_user_patches() {
    let flag_off_several = json!([
        {"op": "Replace", "path": "displayName", "value": "Bjfe"},
        {"op": "Replace", "path": "name.givenName", "value": "Kkom"},
        {"op": "Replace", "path": "name.familyName", "value": "Unua"},
        {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "Aklq"}
    ]);
    let several_edits = || {
        vec![
            ("/displayName", Some(json!("Bjfe"))),
            ("/name/givenName", Some(json!("Kkom"))),
            ("/name/familyName", Some(json!("Unua"))),
            (
                "/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User/employeeNumber",
                Some(json!("Aklq")),
            ),
        ]
    };
    let ent = |k: &'static str| -> &'static str {
        match k {
            "manager" => "/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User/manager",
            "department" => "/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User/department",
            _ => "/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User/employeeNumber",
        }
    };
    let cases = vec![
        case(
            "Entra flag-off disable",
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
            vec![("/active", Some(json!(false)))],
        ),
        case(
            "Entra flag-on disable",
            json!([{"op": "replace", "path": "active", "value": false}]),
            vec![("/active", Some(json!(false)))],
        ),
        case(
            "lower-case string boolean",
            json!([{"op": "Replace", "path": "active", "value": "false"}]),
            vec![("/active", Some(json!(false)))],
        ),
        case(
            "string boolean in a no-path object",
            json!([{"op": "Replace", "value": {"active": "FALSE"}}]),
            vec![("/active", Some(json!(false)))],
        ),
        case("Entra flag-off: one Replace per attribute", flag_off_several, several_edits()),
        case(
            "Entra flag-on: one no-path replace with dotted and URN keys",
            json!([{"op": "replace", "value": {
                "displayName": "Bjfe", "name.givenName": "Kkom", "name.familyName": "Unua",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq"}}]),
            several_edits(),
        ),
        case(
            "Entra value-filter path",
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "barbara@example.com"}]),
            vec![("/emails/0/value", Some(json!("barbara@example.com")))],
        ),
        case(
            "value-filter path that matches nothing creates the value",
            json!([{"op": "Add", "path": "phoneNumbers[type eq \"fax\"].value", "value": "555-555-8377"}]),
            vec![("/phoneNumbers/2", Some(json!({"type": "fax", "value": "555-555-8377"})))],
        ),
        case(
            "Logic App suite: address sub-attributes",
            json!([
                {"op": "replace", "path": "addresses[type eq \"work\"].locality", "value": "Burbank"},
                {"op": "replace", "path": "addresses[type eq \"other\"].postalCode", "value": "10001"}
            ]),
            vec![
                ("/addresses/0/locality", Some(json!("Burbank"))),
                ("/addresses/2", Some(json!({"type": "other", "postalCode": "10001"}))),
            ],
        ),
        case(
            "Entra Add on an existing single value replaces it",
            json!([{"op": "Add", "path": "nickName", "value": "Barbie"}]),
            vec![("/nickName", Some(json!("Barbie")))],
        ),
        case(
            "Entra manager: short path, a list of one",
            json!([{"op": "Add", "path": "manager", "value": [{"$ref": "https://example.com/scim/Users/m2", "value": "m2"}]}]),
            vec![(ent("manager"), Some(json!({"value": "m2", "$ref": "https://example.com/scim/Users/m2"})))],
        ),
        case(
            "MS validator manager: URN path, an object (the old $ref goes with the old manager)",
            json!([{"op": "Add", "path": MANAGER, "value": {"value": "m3"}}]),
            vec![(ent("manager"), Some(json!({"value": "m3"})))],
        ),
        case(
            "MS validator manager removal",
            json!([{"op": "replace", "path": MANAGER, "value": {"value": ""}}]),
            vec![(ent("manager"), None)],
        ),
        case(
            "Logic App suite: manager as a plain id",
            json!([{"op": "Add", "path": MANAGER, "value": "m4"}]),
            vec![(ent("manager"), Some(json!({"value": "m4"})))],
        ),
        case(
            "Logic App suite: manager cleared with \"\"",
            json!([{"op": "replace", "path": MANAGER, "value": ""}]),
            vec![(ent("manager"), None)],
        ),
        case(
            "manager cleared with null",
            json!([{"op": "replace", "path": "manager", "value": null}]),
            vec![(ent("manager"), None)],
        ),
        case(
            "Logic App suite: null update with \"\"",
            json!([{"op": "replace", "path": "title", "value": ""}]),
            vec![("/title", None)],
        ),
        case(
            "null update with null",
            json!([{"op": "replace", "path": "title", "value": null}]),
            vec![("/title", None)],
        ),
        case(
            "Entra role with JSON in a string, kept opaque",
            json!([{"op": "Add", "path": "roles", "value": [{"value": "{\"id\":\"06b0\",\"value\":\"25\",\"displayName\":\"Role1234\"}"}]}]),
            vec![(
                "/roles/1",
                Some(json!({"value": "{\"id\":\"06b0\",\"value\":\"25\",\"displayName\":\"Role1234\"}"})),
            )],
        ),
        case(
            "MS validator role through a primary filter with a string boolean",
            json!([{"op": "add", "path": "roles[primary eq \"True\"].display", "value": "Guide"}]),
            vec![("/roles/0/display", Some(json!("Guide")))],
        ),
        case(
            "Entra AssertiveAppRoleAssignmentsComplex replace",
            json!([{"op": "replace", "path": "roles", "value": [
                {"primary": false, "type": "WindowsAzureActiveDirectoryRole", "display": "User", "value": "User"},
                {"primary": "True", "type": "WindowsAzureActiveDirectoryRole", "display": "Admin", "value": "Admin"}]}]),
            vec![(
                "/roles",
                Some(json!([
                {"primary": false, "type": "WindowsAzureActiveDirectoryRole", "display": "User", "value": "User"},
                {"primary": true, "type": "WindowsAzureActiveDirectoryRole", "display": "Admin", "value": "Admin"}])),
            )],
        ),
        case(
            "Okta deactivate",
            json!([{"op": "replace", "value": {"active": false}}]),
            vec![("/active", Some(json!(false)))],
        ),
        case(
            "Okta password sync",
            json!([{"op": "replace", "value": {"password": "t1meMa$heen"}}]),
            vec![("/password", Some(json!("t1meMa$heen")))],
        ),
        case(
            "MS validator: remove, add, replace in one request",
            json!([
                {"op": "remove", "path": "displayName"},
                {"op": "add", "path": "displayName", "value": "A"},
                {"op": "replace", "path": "displayName", "value": "B"}
            ]),
            vec![("/displayName", Some(json!("B")))],
        ),
        case(
            "Okta echoes groups: ignored",
            json!([{"op": "replace", "value": {"groups": [], "displayName": "Babs"}}]),
            vec![("/displayName", Some(json!("Babs")))],
        ),
        case(
            "RFC 7644 extension object in a no-path add",
            json!([{"op": "add", "value": {ENT: {"department": "Rides", "manager": {"value": "m5"}}}}]),
            vec![(ent("department"), Some(json!("Rides"))), (ent("manager"), Some(json!({"value": "m5"})))],
        ),
        case(
            "Postman collection: attribute names in any case",
            json!([
                {"op": "Replace", "path": "Name.GivenName", "value": "Barb"},
                {"op": "replace", "path": "emails[Type eq \"WORK\"].Value", "value": "b@example.com"}
            ]),
            vec![("/name/givenName", Some(json!("Barb"))), ("/emails/0/value", Some(json!("b@example.com")))],
        ),
        case(
            "extension attribute by its short name",
            json!([{"op": "Add", "path": "employeeNumber", "value": "42"}]),
            vec![(ent("employeeNumber"), Some(json!("42")))],
        ),
        case(
            "MS validator verbose adds: a new primary email takes over",
            json!([
                {"op": "add", "path": "emails[type eq \"other\"].value", "value": "o@example.com"},
                {"op": "add", "path": "emails[type eq \"other\"].primary", "value": "True"}
            ]),
            vec![
                ("/emails/2", Some(json!({"type": "other", "value": "o@example.com", "primary": true}))),
                ("/emails/0/primary", Some(json!(false))),
            ],
        ),
        case(
            "a remove naming another manager leaves the current one (it changed since)",
            json!([{"op": "Remove", "path": "manager", "value": [{"value": "0000-former-manager"}]}]),
            vec![],
        ),
        case(
            "a remove naming the current manager removes it",
            json!([{"op": "Remove", "path": MANAGER, "value": [{"value": "26118915-6090-4610-87e4-49d8ca9f808d"}]}]),
            vec![(ent("manager"), None)],
        ),
        case(
            "a remove naming the current manager as a plain id removes it",
            json!([{"op": "remove", "path": "manager", "value": "26118915-6090-4610-87e4-49d8ca9f808d"}]),
            vec![(ent("manager"), None)],
        ),
        case(
            "a remove of the manager without a value removes it",
            json!([{"op": "remove", "path": "manager"}]),
            vec![(ent("manager"), None)],
        ),
        case(
            "removing the work email's address removes the work email, not leaving {type: work}",
            json!([{"op": "remove", "path": "emails[type eq \"work\"].value"}]),
            vec![("/emails/0", None)],
        ),
        case(
            "removing a sub-attribute other than value keeps the element",
            json!([{"op": "remove", "path": "emails[type eq \"home\"].type"}]),
            vec![("/emails/1", Some(json!({"value": "babs@jensen.org"})))],
        ),
    ];
    check_table(&ResourceSchema::user(), &full_user(), cases);
}

/// Every Group PATCH body of docs/idp-compatibility.md (§1.7.5, §2.3, §3.1): member changes as rows.
#[test]
fn identity_provider_group_patches() {
    let cases = vec![
        Case {
            name: "Entra add member",
            ops: json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "u1"}]}]),
            edits: vec![],
            members: vec![MemberChange::Add(vec![m("u1")])],
        },
        Case {
            name: "Okta add member with display",
            ops: json!([{"op": "add", "path": "members", "value": [{"value": "u2", "display": "dade@example.com"}]}]),
            edits: vec![],
            members: vec![MemberChange::Add(vec![MemberRef {
                value: "u2".into(),
                type_: None,
                display: Some("dade@example.com".into()),
            }])],
        },
        Case {
            name: "Postman collection: member as a bare string",
            ops: json!([{"op": "Add", "path": "members", "value": "string id 1"}]),
            edits: vec![],
            members: vec![MemberChange::Add(vec![m("string id 1")])],
        },
        Case {
            name: "Entra flag-off remove: only the listed members",
            ops: json!([{"op": "Remove", "path": "members", "value": [{"value": "u1091"}]}]),
            edits: vec![],
            members: vec![MemberChange::Remove(vec!["u1091".into()])],
        },
        Case {
            name: "Entra flag-on and Okta remove through a filter",
            ops: json!([{"op": "remove", "path": "members[value eq \"u1\"]"}]),
            edits: vec![],
            members: vec![MemberChange::Remove(vec!["u1".into()])],
        },
        Case {
            name: "Postman collection: remove without value: all members",
            ops: json!([{"op": "remove", "path": "members"}]),
            edits: vec![],
            members: vec![MemberChange::RemoveAll],
        },
        Case {
            name: "Okta full push / MS validator add member by replace",
            ops: json!([{"op": "replace", "path": "members", "value": [{"value": "u1", "type": "User"}, {"value": "u2"}]}]),
            edits: vec![],
            members: vec![
                MemberChange::RemoveAll,
                MemberChange::Add(vec![
                    MemberRef { value: "u1".into(), type_: Some("User".into()), display: None },
                    m("u2"),
                ]),
            ],
        },
        Case {
            name: "Okta rename echoes the id",
            ops: json!([{"op": "replace", "value": {"id": GID, "displayName": "Ride Operators"}}]),
            edits: vec![("/displayName", Some(json!("Ride Operators")))],
            members: vec![],
        },
        Case {
            name: "several members in one op, duplicates once",
            ops: json!([{"op": "Add", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}, {"value": "u1"}]}]),
            edits: vec![],
            members: vec![MemberChange::Add(vec![m("u1"), m("u2")])],
        },
        Case {
            name: "add then remove the same member in one request",
            ops: json!([
                {"op": "add", "path": "members", "value": [{"value": "u3"}]},
                {"op": "remove", "path": "members[value eq \"u3\"]"}
            ]),
            edits: vec![],
            members: vec![MemberChange::Add(vec![m("u3")]), MemberChange::Remove(vec!["u3".into()])],
        },
        Case {
            name: "an or of ids is a list of ids",
            ops: json!([{"op": "remove", "path": "members[value eq \"a\" or value eq \"b\"]"}]),
            edits: vec![],
            members: vec![MemberChange::Remove(vec!["a".into(), "b".into()])],
        },
        Case {
            name: "any other member filter is left to the store",
            ops: json!([{"op": "remove", "path": "members[type eq \"Group\"]"}]),
            edits: vec![],
            members: vec![MemberChange::RemoveWhere(parse_filter("type eq \"Group\"").unwrap())],
        },
        Case {
            name: "members in a no-path add",
            ops: json!([{"op": "add", "value": {"members": [{"value": "u9"}]}}]),
            edits: vec![],
            members: vec![MemberChange::Add(vec![m("u9")])],
        },
        Case {
            name: "adding nothing changes nothing",
            ops: json!([{"op": "add", "path": "members", "value": []}]),
            edits: vec![],
            members: vec![],
        },
    ];
    check_table(&ResourceSchema::group(), &group(), cases);
}

// RFC 7644 §3.5.2 examples.

#[test]
fn rfc_add_member_leaves_the_document_alone() {
    let ops = json!([{"op": "add", "path": "members", "value": [{
        "display": "Babs Jensen",
        "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646",
        "value": "2819c223-7f76-453a-919d-413861904646"}]}]);
    let (doc, outcome) = run(&ResourceSchema::group(), &group(), &body(ops), true).unwrap();
    assert_eq!(doc, group());
    assert!(outcome.changed);
    assert_eq!(
        outcome.members,
        vec![MemberChange::Add(vec![MemberRef {
            value: "2819c223-7f76-453a-919d-413861904646".into(),
            type_: None,
            display: Some("Babs Jensen".into()),
        }])]
    );
}

#[test]
fn rfc_no_path_add_of_values_already_there_is_a_no_op() {
    // RFC 7644 §3.5.2.1; the full user already has this email and nickname.
    let ops = json!([{"op": "add", "value": {"emails": [{"value": "babs@jensen.org", "type": "home"}], "nickname": "Babs"}}]);
    let (doc, outcome) = patch_user(ops.clone());
    assert_eq!(doc, full_user());
    assert!(!outcome.changed);
    // On a user without them, they are added (`nickname` in its canonical case).
    let rs = ResourceSchema::user();
    let (doc, outcome) = run(&rs, &json!({"userName": "b"}), &body(ops), true).unwrap();
    assert_eq!(
        doc,
        json!({"userName": "b", "emails": [{"value": "babs@jensen.org", "type": "home"}], "nickName": "Babs"})
    );
    assert!(outcome.changed);
}

#[test]
fn rfc_remove_forms() {
    // §3.5.2.2: a value selected by a filter.
    let (doc, _) = patch_user(
        json!([{"op": "remove", "path": "emails[type eq \"work\" and value ew \"example.com\"]"}]),
    );
    let mut want = full_user();
    edit(&mut want, "/emails/0", None);
    assert_eq!(doc, want);
    // A sub-attribute of the selected values.
    let (doc, _) = patch_user(json!([{"op": "remove", "path": "addresses[type eq \"home\"].formatted"}]));
    let mut want = full_user();
    edit(&mut want, "/addresses/1/formatted", None);
    assert_eq!(doc, want);
    // A whole multi-valued attribute; then the x509 certificate through a filter.
    let (doc, _) = patch_user(json!([
        {"op": "remove", "path": "phoneNumbers"},
        {"op": "remove", "path": "x509Certificates[value eq \"MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx\"]"}
    ]));
    let mut want = full_user();
    edit(&mut want, "/phoneNumbers", None);
    edit(&mut want, "/x509Certificates", None);
    assert_eq!(doc, want);
    // A filter that matches nothing removes nothing, in either mode.
    for strict in [false, true] {
        let (doc, outcome) = run(
            &ResourceSchema::user(),
            &full_user(),
            &body(json!([{"op": "remove", "path": "emails[type eq \"other\"]"}])),
            strict,
        )
        .unwrap();
        assert_eq!(doc, full_user());
        assert!(!outcome.changed);
    }
    // Group members: one, then two (RFC's "remove multiple members").
    let (_, outcome) = run(
        &ResourceSchema::group(),
        &group(),
        &body(json!([
            {"op": "remove", "path": "members[value eq \"2819c223-7f76-...413861904646\"]"},
            {"op": "remove", "path": "members[value eq \"902c246b-6245-4190-8e05-00816be7344a\"]"}
        ])),
        true,
    )
    .unwrap();
    assert_eq!(
        outcome.members,
        vec![
            MemberChange::Remove(vec!["2819c223-7f76-...413861904646".into()]),
            MemberChange::Remove(vec!["902c246b-6245-4190-8e05-00816be7344a".into()]),
        ]
    );
}

#[test]
fn rfc_replace_forms() {
    // §3.5.2.3: replace the whole selected value.
    let work = json!({"type": "work", "streetAddress": "911 Universal City Plaza", "locality": "Hollywood",
        "region": "CA", "postalCode": "91608", "country": "US",
        "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US", "primary": true});
    let (doc, _) =
        patch_user(json!([{"op": "replace", "path": "addresses[type eq \"work\"]", "value": work}]));
    let mut want = full_user();
    edit(&mut want, "/addresses/0", Some(work));
    assert_eq!(doc, want);
    // One sub-attribute of it.
    let (doc, _) = patch_user(
        json!([{"op": "replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1010 Broadway Ave"}]),
    );
    let mut want = full_user();
    edit(&mut want, "/addresses/0/streetAddress", Some(json!("1010 Broadway Ave")));
    assert_eq!(doc, want);
    // No path: the listed attributes are replaced; the same values again change nothing.
    let (doc, outcome) = patch_user(json!([{"op": "replace", "value": {
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}, {"value": "babs@jensen.org", "type": "home"}],
        "nickname": "Babs"}}]));
    assert_eq!(doc, full_user());
    assert!(!outcome.changed);
    // A complex attribute: the given sub-attributes replace theirs, the others stay.
    let (doc, _) = patch_user(
        json!([{"op": "replace", "path": "name", "value": {"givenName": "Barb", "middleName": ""}}]),
    );
    let mut want = full_user();
    edit(&mut want, "/name/givenName", Some(json!("Barb")));
    edit(&mut want, "/name/middleName", None);
    assert_eq!(doc, want);
}

#[test]
fn strict_and_tolerant_differ_where_documented() {
    let rs = ResourceSchema::user();
    let user = full_user();
    // A filter that matches nothing.
    let ops = json!([{"op": "replace", "path": "emails[type eq \"other\"].value", "value": "o@example.com"}]);
    let e = patch_err(&rs, &user, ops.clone(), true);
    assert_eq!(e.scim_type, Some(ScimType::NoTarget));
    insta::assert_snapshot!(e.detail, @r#"Operations[0] (replace emails[type eq "other"].value): no value of "emails" matches the path"#);
    let (doc, _) = run(&rs, &user, &body(ops), false).unwrap();
    assert_eq!(doc["emails"][2], json!({"type": "other", "value": "o@example.com"}));
    // ...and cannot describe a new value.
    let e = patch_err(
        &rs,
        &user,
        json!([{"op": "replace", "path": "emails[value co \"zzz\"].display", "value": "x"}]),
        false,
    );
    assert_eq!(e.scim_type, Some(ScimType::NoTarget));
    // Unknown attributes, as a path and as a no-path key.
    for ops in [
        json!([{"op": "replace", "path": "favouriteColour", "value": "blue"}]),
        json!([{"op": "replace", "value": {"favouriteColour": "blue"}}]),
        json!([{"op": "replace", "path": "name.nickname", "value": "blue"}]),
    ] {
        let (doc, outcome) = run(&rs, &user, &body(ops.clone()), false).unwrap();
        assert_eq!(doc, user);
        assert!(!outcome.changed);
        assert_eq!(patch_err(&rs, &user, ops, true).scim_type, Some(ScimType::InvalidPath));
    }
    // An unknown sub-attribute inside a value.
    let ops = json!([{"op": "replace", "path": "name", "value": {"givenName": "X", "nickname": "Y"}}]);
    let (doc, _) = run(&rs, &user, &body(ops.clone()), false).unwrap();
    assert_eq!(doc["name"]["givenName"], json!("X"));
    assert_eq!(patch_err(&rs, &user, ops, true).scim_type, Some(ScimType::InvalidSyntax));
    // User groups: readOnly rows.
    let ops = json!([{"op": "add", "path": "groups", "value": [{"value": "g1"}]}]);
    let (doc, outcome) = run(&rs, &user, &body(ops.clone()), false).unwrap();
    assert_eq!((doc, outcome.changed), (user.clone(), false));
    let e = patch_err(&rs, &user, ops, true);
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
    insta::assert_snapshot!(e.detail, @r#"Operations[0] (add groups): "groups" is readOnly (RFC 7643 §7)"#);
}

#[test]
fn read_only_attributes_cannot_be_patched() {
    let rs = ResourceSchema::user();
    let user = full_user();
    for ops in [
        json!([{"op": "replace", "path": "id", "value": "x"}]),
        json!([{"op": "remove", "path": "meta"}]),
        json!([{"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}]),
        json!([{"op": "replace", "path": "manager.displayName", "value": "Boss"}]),
        json!([{"op": "replace", "value": {"id": "another-id"}}]),
    ] {
        for strict in [false, true] {
            assert_eq!(
                patch_err(&rs, &user, ops.clone(), strict).scim_type,
                Some(ScimType::Mutability),
                "{ops}"
            );
        }
    }
    insta::assert_snapshot!(
        patch_err(&rs, &user, json!([{"op": "replace", "path": "id", "value": "x"}]), false).detail,
        @r#"Operations[0] (replace id): "id" is readOnly (RFC 7643 §7)"#
    );
    // The same id, meta and schemas in a no-path value are echoes, ignored.
    let (doc, outcome) = patch_user(json!([{"op": "replace", "value": {
        "id": "2819c223-7f76-453a-919d-413861904646", "schemas": ["urn:x"], "meta": {"created": "2020-01-01T00:00:00Z"}}}]));
    assert_eq!((doc, outcome.changed), (full_user(), false));
    // A readOnly sub-attribute inside a value is dropped, as on PUT.
    let (doc, _) = patch_user(
        json!([{"op": "replace", "path": "manager", "value": {"value": "m9", "displayName": "Boss"}}]),
    );
    assert_eq!(doc[ENT]["manager"], json!({"value": "m9"}));
    // Members are added and removed whole.
    let e = patch_err(
        &ResourceSchema::group(),
        &group(),
        json!([{"op": "replace", "path": "members[value eq \"u1\"].display", "value": "x"}]),
        false,
    );
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
}

#[test]
fn immutable_attributes_are_set_once() {
    let rs = custom_rs();
    let badge = format!("{CUSTOM}:badge");
    let start = json!({"userName": "u"});
    let (doc, _) =
        run(&rs, &start, &body(json!([{"op": "add", "path": badge, "value": "B1"}])), true).unwrap();
    assert_eq!(doc, json!({"userName": "u", CUSTOM: {"badge": "B1"}}));
    let (same, outcome) =
        run(&rs, &doc, &body(json!([{"op": "replace", "path": badge, "value": "B1"}])), true).unwrap();
    assert_eq!((&same, outcome.changed), (&doc, false));
    let e = patch_err(&rs, &doc, json!([{"op": "replace", "path": badge, "value": "B2"}]), false);
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
    insta::assert_snapshot!(e.detail, @r#"Operations[0] (replace urn:example:params:scim:schemas:extension:test:2.0:User:badge): "badge" is immutable: it can be set when it has no value, never changed or removed (RFC 7643 §7)"#);
    assert_eq!(
        patch_err(&rs, &doc, json!([{"op": "remove", "path": badge}]), false).scim_type,
        Some(ScimType::Mutability)
    );

    // Immutable sub-attributes of a multi-valued attribute: values come and go, but do not change.
    let devices = format!("{CUSTOM}:devices");
    let (doc, _) = run(
        &rs,
        &start,
        &body(json!([{"op": "add", "path": devices, "value": [{"serial": "s1", "label": "x"}]}])),
        false,
    )
    .unwrap();
    let by_serial = format!("{devices}[serial eq \"s1\"]");
    for ops in [
        json!([{"op": "replace", "path": format!("{by_serial}.serial"), "value": "s2"}]),
        json!([{"op": "replace", "path": by_serial, "value": {"serial": "s2"}}]),
        json!([{"op": "remove", "path": format!("{by_serial}.serial")}]),
    ] {
        assert_eq!(patch_err(&rs, &doc, ops.clone(), false).scim_type, Some(ScimType::Mutability), "{ops}");
    }
    let (relabelled, _) = run(
        &rs,
        &doc,
        &body(json!([{"op": "replace", "path": format!("{by_serial}.label"), "value": "y"}])),
        false,
    )
    .unwrap();
    assert_eq!(relabelled[CUSTOM]["devices"], json!([{"serial": "s1", "label": "y"}]));
    let (gone, _) = run(&rs, &doc, &body(json!([{"op": "remove", "path": by_serial}])), false).unwrap();
    assert_eq!(gone, start);
}

#[test]
fn all_or_nothing() {
    let rs = ResourceSchema::user();
    let user = full_user();
    let e = patch_err(
        &rs,
        &user,
        json!([
            {"op": "replace", "path": "displayName", "value": "New"},
            {"op": "add", "path": "members", "value": [{"value": "u1"}]},
            {"op": "replace", "path": "active", "value": "maybe"}
        ]),
        false,
    );
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    insta::assert_snapshot!(e.detail, @r#"Operations[2] (replace active): "active" must be a boolean (true or false), not a string (RFC 7643 §2.3)"#);
    // A failed group PATCH reports no member changes either: apply returns only an error.
    let e = patch_err(
        &ResourceSchema::group(),
        &group(),
        json!([{"op": "add", "path": "members", "value": [{"value": "u1"}]}, {"op": "add", "path": "members", "value": [{"type": "User"}]}]),
        false,
    );
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
}

#[test]
fn primary_appears_at_most_once() {
    // A new primary email takes over from the old one.
    let (doc, _) = patch_user(
        json!([{"op": "add", "path": "emails", "value": [{"value": "new@example.com", "type": "other", "primary": true}]}]),
    );
    assert_eq!(doc["emails"][0]["primary"], json!(false));
    assert_eq!(doc["emails"][2], json!({"value": "new@example.com", "type": "other", "primary": true}));
    let (doc, _) =
        patch_user(json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}]));
    assert_eq!(
        (doc["emails"][0]["primary"].clone(), doc["emails"][1]["primary"].clone()),
        (json!(false), json!(true))
    );
    // One list with two primaries is refused, as on POST.
    let e = patch_err(
        &ResourceSchema::user(),
        &full_user(),
        json!([{"op": "replace", "path": "emails", "value": [{"value": "a@x", "primary": true}, {"value": "b@x", "primary": true}]}]),
        false,
    );
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
}

#[test]
fn remove_with_a_value_removes_the_listed_values() {
    // Entra's members dialect, on any multi-valued attribute; emails.value is not caseExact.
    let (doc, _) =
        patch_user(json!([{"op": "remove", "path": "emails", "value": [{"value": "BABS@jensen.org"}]}]));
    let mut want = full_user();
    edit(&mut want, "/emails/1", None);
    assert_eq!(doc, want);
}

#[test]
fn every_value_of_a_multi_valued_attribute_through_attr_sub() {
    let (doc, _) = patch_user(json!([{"op": "replace", "path": "phoneNumbers.type", "value": "other"}]));
    let mut want = full_user();
    edit(&mut want, "/phoneNumbers/0/type", Some(json!("other")));
    edit(&mut want, "/phoneNumbers/1/type", Some(json!("other")));
    assert_eq!(doc, want);
}

#[test]
fn schemas_follow_the_extension_data() {
    let rs = ResourceSchema::user();
    let (doc, _) = patch_user(json!([{"op": "remove", "path": ENT}]));
    let mut want = full_user();
    edit(&mut want, "/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", None);
    edit(&mut want, "/schemas/1", None);
    assert_eq!(doc, want);
    let start = json!({"schemas": [urn::USER], "userName": "u"});
    let (doc, _) =
        run(&rs, &start, &body(json!([{"op": "add", "path": "department", "value": "X"}])), false).unwrap();
    assert_eq!(doc, json!({"schemas": [urn::USER, ENT], "userName": "u", ENT: {"department": "X"}}));
    // Removing the last extension attribute removes the object and the URN.
    let (back, _) = run(&rs, &doc, &body(json!([{"op": "remove", "path": "department"}])), false).unwrap();
    assert_eq!(back, start);
}

#[test]
fn request_parsing() {
    let ok = json!({"SCHEMAS": [urn::PATCH_OP], "operations": [{"OP": "ADD", "Path": "title", "Value": "x"}, {"op": "Remove", "path": " "}]});
    // The second op has a blank path, which is no path: remove needs one.
    assert_eq!(parse_patch_request(&ok).unwrap_err().scim_type, Some(ScimType::NoTarget));
    let ok = json!({"Operations": [{"op": "Add", "path": "title", "value": "x"}]});
    let ops = parse_patch_request(&ok).unwrap();
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].op, PatchOpKind::Add);
    assert_eq!(ops[0].path.as_ref().map(|p| p.attr.name.as_str()), Some("title"));

    let err = |b: Value| parse_patch_request(&b).unwrap_err();
    let e = err(json!([]));
    assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
    let e = err(
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "Operations": [{"op": "add", "value": {}}]}),
    );
    insta::assert_snapshot!(e.detail, @r#""schemas" must contain "urn:ietf:params:scim:api:messages:2.0:PatchOp""#);
    assert_eq!(err(json!({"Operations": []})).scim_type, Some(ScimType::InvalidSyntax));
    assert_eq!(err(json!({"Operations": {}})).scim_type, Some(ScimType::InvalidSyntax));
    assert_eq!(err(json!({})).scim_type, Some(ScimType::InvalidSyntax));
    let e = err(body(json!([{"op": "move", "path": "title"}])));
    assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
    insta::assert_snapshot!(e.detail, @r#"Operations[0].op: "move" is not an operation; expected "add", "remove" or "replace""#);
    let e = err(body(json!([{"op": "add", "path": "emails[type eq", "value": "x"}])));
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    assert!(e.detail.starts_with("Operations[0].path: invalid path at column "), "{}", e.detail);
    assert_eq!(
        err(body(json!([{"op": "add", "path": 7, "value": "x"}]))).scim_type,
        Some(ScimType::InvalidPath)
    );
    let e = err(body(json!([{"op": "remove"}])));
    assert_eq!(e.scim_type, Some(ScimType::NoTarget));
    let e = err(body(json!([{"op": "replace", "path": "title"}])));
    assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
    insta::assert_snapshot!(e.detail, @r#"Operations[0]: replace needs a "value""#);
    // A no-path add needs an object.
    let e = patch_err(&ResourceSchema::user(), &full_user(), json!([{"op": "add", "value": "x"}]), false);
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
}

#[test]
fn paths_that_cannot_take_a_filter_are_invalid() {
    let rs = ResourceSchema::user();
    for path in ["userName[value eq \"x\"]", "name[givenName eq \"x\"].familyName"] {
        let e = patch_err(&rs, &full_user(), json!([{"op": "replace", "path": path, "value": "x"}]), false);
        assert_eq!(e.scim_type, Some(ScimType::InvalidPath), "{path}");
    }
    let e = patch_err(&rs, &full_user(), json!([{"op": "remove", "path": "emails[primary gt true]"}]), false);
    assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
    let e = patch_err(
        &ResourceSchema::group(),
        &group(),
        json!([{"op": "add", "path": "members[value eq \"u\"]", "value": {"value": "u"}}]),
        false,
    );
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
}

#[test]
fn a_document_that_is_not_an_object_is_a_server_error() {
    let mut doc = json!([1]);
    let ops = parse_patch_request(&body(json!([{"op": "remove", "path": "title"}]))).unwrap();
    let e = apply(&ResourceSchema::user(), &mut doc, &ops, &PatchOptions::default()).unwrap_err();
    assert_eq!(e.status, 500);
}

#[test]
fn extension_objects_do_not_nest() {
    let mut value = json!({"department": "X"});
    for _ in 0..3 {
        value = json!({ENT: value});
    }
    let e = patch_err(&ResourceSchema::user(), &full_user(), json!([{"op": "add", "value": value}]), false);
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    // One level is the RFC 7644 §3.5.2.1 form.
    let (doc, _) = patch_user(json!([{"op": "add", "value": {ENT: {"department": "X"}}}]));
    assert_eq!(doc[ENT]["department"], json!("X"));
}

#[test]
fn add_compares_under_case_exact_as_remove_does() {
    // RFC 7644 §3.5.2.1: a value already there is not added again; RFC 7643 §2.2 / §7:
    // `emails.value` is caseExact false, so `B@example.com` is `b@example.com`.
    let rs = ResourceSchema::user();
    let doc = json!({"userName": "b", "emails": [{"value": "b@example.com", "type": "work"}]});
    let add = |v: Value| {
        run(&rs, &doc, &body(json!([{"op": "add", "path": "emails", "value": v}])), false).unwrap()
    };
    let (out, outcome) = add(json!([{"value": "B@example.com", "type": "WORK"}]));
    assert_eq!(out, doc, "the same value: nothing added");
    assert!(!outcome.changed);
    // Only `value` matches: its sub-attributes go onto the existing element, no second email.
    let (out, _) = add(json!([{"value": "B@Example.com", "primary": true}]));
    assert_eq!(out["emails"], json!([{"value": "B@Example.com", "type": "work", "primary": true}]));
    // A different address is added.
    let (out, _) = add(json!([{"value": "c@example.com"}]));
    assert_eq!(out["emails"].as_array().map(Vec::len), Some(2));
    // The same rule in remove.
    let remove = json!([{"op": "remove", "path": "emails", "value": [{"value": "B@EXAMPLE.COM"}]}]);
    let (out, _) = run(&rs, &doc, &body(remove), false).unwrap();
    assert!(out.get("emails").is_none(), "{out}");
}

#[test]
fn replace_with_an_empty_value_removes_the_element_as_remove_does() {
    // RFC 7644 §3.5.2.3 with RFC 7643 §2.5 ("" is unassigned) and §2.4 (`value` is the primary
    // value): an email left without its address goes.
    let rs = ResourceSchema::user();
    let doc = json!({"userName": "b", "emails": [{"value": "w@example.com", "type": "work"},
                                                 {"value": "h@example.com", "type": "home"}]});
    let want = json!([{"value": "h@example.com", "type": "home"}]);
    for strict in [false, true] {
        for op in [
            json!({"op": "replace", "path": "emails[type eq \"work\"].value", "value": ""}),
            json!({"op": "replace", "path": "emails[type eq \"work\"].value", "value": null}),
            json!({"op": "replace", "path": "emails[type eq \"work\"]", "value": {"value": ""}}),
            json!({"op": "remove", "path": "emails[type eq \"work\"].value"}),
        ] {
            let (out, _) = run(&rs, &doc, &body(json!([op.clone()])), strict).unwrap();
            assert_eq!(out["emails"], want, "{op} strict={strict}");
        }
    }
}
