//! The builder, the compiled SQL of representative filters in both dialects (snapshots, read and
//! checked by hand), and the errors. Agreement with the evaluator on real rows is the differential
//! test's job (`scimd-store-sqlite/tests/differential`).

use std::sync::Arc;

use scimd_filter::{AttrPath, parse_filter};
use scimd_schema::{AttrType, AttributeDef, ResourceSchema, Schema, ScimError, ScimType};

use super::*;
use crate::model::{ResourceKind, SortOrder};

const TEST_EXT: &str = "urn:example:params:scim:schemas:extension:test:2.0:User";

/// The User type with one more extension holding the types the built-in schemas lack: numbers, a
/// dateTime, binary, a multi-valued string and a multi-valued sub-attribute.
fn user_with_test_extension() -> ResourceSchema {
    let mut projects = AttributeDef::new("projects", AttrType::Complex);
    projects.multi_valued = true;
    let mut codes = AttributeDef::new("codes", AttrType::String);
    codes.multi_valued = true;
    codes.case_exact = true;
    projects.sub_attributes = vec![AttributeDef::new("name", AttrType::String), codes];
    let mut tags = AttributeDef::new("tags", AttrType::String);
    tags.multi_valued = true;
    let ext = Schema {
        id: TEST_EXT.to_owned(),
        name: "Test".to_owned(),
        description: String::new(),
        attributes: vec![
            AttributeDef::new("level", AttrType::Integer),
            AttributeDef::new("score", AttrType::Decimal),
            AttributeDef::new("hired", AttrType::DateTime),
            AttributeDef::new("badge", AttrType::Binary),
            tags,
            projects,
        ],
    };
    let mut rs = ResourceSchema::user();
    rs.extensions.push((Arc::new(ext), false));
    rs
}

fn schema(kind: ResourceKind) -> ResourceSchema {
    match kind {
        ResourceKind::User => user_with_test_extension(),
        ResourceKind::Group => ResourceSchema::group(),
    }
}

fn compile(dialect: Dialect, kind: ResourceKind, filter: &str) -> Result<Sql, ScimError> {
    let f = parse_filter(filter).map_err(|e| ScimError::invalid_filter(e.to_string()))?;
    let mut b = SqlBuilder::new(dialect);
    compile_filter(&f, &schema(kind), kind, &mut b)?;
    Ok(b.build())
}

fn both(kind: ResourceKind, filter: &str) -> String {
    let show = |d| match compile(d, kind, filter) {
        Ok(sql) => sql.to_string(),
        Err(e) => format!("ERROR {e}"),
    };
    format!(
        "{} {filter}\n\n-- sqlite\n{}\n\n-- postgres\n{}\n",
        kind.as_str(),
        show(Dialect::Sqlite),
        show(Dialect::Postgres)
    )
}

fn sort(kind: ResourceKind, path: &str, order: SortOrder) -> Result<(Sql, Sql), ScimError> {
    let p = match scimd_filter::parse_path(path) {
        Ok(p) => p.attr,
        Err(e) => return Err(ScimError::invalid_value(e.to_string())),
    };
    let mut out = Vec::new();
    for d in [Dialect::Sqlite, Dialect::Postgres] {
        let mut b = SqlBuilder::new(d);
        compile_sort(&p, order, &schema(kind), kind, &mut b)?;
        out.push(b.build());
    }
    let pg = out.pop().ok_or_else(|| ScimError::invalid_value("no postgres"))?;
    let lite = out.pop().ok_or_else(|| ScimError::invalid_value("no sqlite"))?;
    Ok((lite, pg))
}

#[test]
fn builder_numbers_placeholders_across_the_statement() {
    let mut filter = SqlBuilder::new(Dialect::Postgres);
    filter.push("r.a = ");
    filter.bind(Bind::Int(1));
    filter.push(" AND r.b = ");
    filter.bind(Bind::Text("x".into()));

    let mut stmt = SqlBuilder::new(Dialect::Postgres);
    stmt.push("SELECT 1 FROM resources r WHERE r.tenant_id = ");
    stmt.bind(Bind::Text("t".into()));
    stmt.push(" AND ");
    stmt.append(&filter);
    stmt.push(" AND ");
    stmt.append(&filter);
    stmt.push(" LIMIT ");
    stmt.bind(Bind::Int(10));
    let (text, binds) = stmt.finish();
    assert_eq!(
        text,
        "SELECT 1 FROM resources r WHERE r.tenant_id = $1 AND r.a = $2 AND r.b = $3 AND r.a = $4 AND r.b = $5 LIMIT $6"
    );
    assert_eq!(
        binds,
        vec![
            Bind::Text("t".into()),
            Bind::Int(1),
            Bind::Text("x".into()),
            Bind::Int(1),
            Bind::Text("x".into()),
            Bind::Int(10)
        ]
    );

    let mut lite = SqlBuilder::new(Dialect::Sqlite);
    lite.push("a = ").bind(Bind::Bool(true)).push(" OR b = ").bind(Bind::Real(1.5));
    assert_eq!(lite.to_sql().text, "a = ? OR b = ?");
    assert_eq!(lite.build().binds, vec![Bind::Bool(true), Bind::Real(1.5)]);
}

/// Every operator, every kind of place an attribute lives, and the combinators: one snapshot per
/// filter, both dialects side by side.
#[test]
fn compiled_filters() {
    use ResourceKind::{Group, User};
    let cases: &[(&str, ResourceKind, &str)] = &[
        // Columns.
        ("user_name_eq_folds", User, r#"userName eq "BJensen""#),
        ("user_name_range", User, r#"userName ge "M" and userName lt "n""#),
        ("external_id_ne_exact", User, r#"externalId ne "Ab-1""#),
        ("external_id_number_literal", User, "externalId eq 12345"),
        ("display_name_ew", User, r#"displayName ew "SEN""#),
        ("id_and_resource_type", User, r#"id eq "2819c223" and meta.resourceType eq "User""#),
        ("meta_last_modified_gt_canonical", User, r#"meta.lastModified gt "2011-05-13T06:42:34+02:00""#),
        ("meta_version_eq", User, r#"meta.version eq "W/\"3\"""#),
        (
            "meta_value_path",
            User,
            r#"meta[created le "2026-01-01T00:00:00Z" and lastModified ge "2025-01-01T00:00:00Z"]"#,
        ),
        ("active_eq_true", User, "active eq true"),
        ("active_entra_string", User, r#"active ne "False""#),
        // JSON, singular.
        ("title_co", User, r#"title co "Vice""#),
        ("name_family_sw", User, r#"name.familyName sw "Jen""#),
        ("co_empty_literal", User, r#"nickName co """#),
        ("present_singular", User, "title pr and name pr"),
        (
            "enterprise_urn",
            User,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#,
        ),
        (
            "enterprise_manager_implicit_value",
            User,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "26118915""#,
        ),
        ("name_value_path", User, r#"name[givenName eq "Barbara" or not (familyName pr)]"#),
        // JSON, numbers, dateTime, binary.
        ("integer_gt", User, "level gt 3"),
        ("decimal_le", User, "score le 2.5"),
        ("integer_from_string", User, r#"level eq "7""#),
        ("datetime_ge", User, r#"hired ge "2020-01-01T00:00:00+02:00""#),
        ("binary_eq", User, r#"badge eq "AQID""#),
        // JSON, multi-valued.
        ("emails_value_eq_index", User, r#"emails.value eq "BJ@Example.com""#),
        ("emails_implicit_value_ne_index", User, r#"emails ne "bj@example.com""#),
        ("emails_value_co", User, r#"emails.value co "@EXAMPLE""#),
        ("emails_present", User, "emails pr"),
        ("emails_type_present", User, "emails.type pr"),
        ("emails_value_path", User, r#"emails[type eq "work" and value co "@example.com"]"#),
        ("emails_value_path_index", User, r#"emails[type eq "work" and value eq "A@B.c"]"#),
        ("emails_value_path_not", User, r#"emails[not (type eq "work")]"#),
        ("roles_primary_entra", User, r#"roles[primary eq "True"]"#),
        ("phone_numbers_ne", User, r#"phoneNumbers.value ne "555""#),
        ("multi_valued_simple", User, r#"tags eq "A""#),
        (
            "multi_valued_sub_attribute",
            User,
            r#"projects.codes sw "Q" or projects[codes eq "Q1" and name pr]"#,
        ),
        // Precedence.
        ("precedence_and_over_or", User, r#"title pr or userType eq "Employee" and not (active eq false)"#),
        (
            "precedence_grouped",
            User,
            r#"(title pr or userType eq "Employee") and not (title co "x" or title co "y")"#,
        ),
        // Rows.
        ("members_value_eq", Group, r#"members.value eq "2819C223-7F76""#),
        ("members_implicit_value", Group, r#"members eq "2819c223""#),
        ("members_present_not", Group, "members pr and not (members pr)"),
        ("members_value_path", Group, r#"members[type eq "user" and display co "Bab"]"#),
        ("group_display_name", Group, r#"displayName eq "Admins" and externalId pr"#),
        ("user_groups_display", User, r#"groups.display sw "Adm""#),
        ("user_groups_value_path", User, r#"groups[value eq "g1" and type eq "direct"]"#),
    ];
    for (name, kind, filter) in cases {
        insta::assert_snapshot!(*name, both(*kind, filter));
    }
}

#[test]
fn compiled_sorts() {
    use ResourceKind::User;
    let cases: &[(&str, &str, SortOrder)] = &[
        ("sort_user_name", "userName", SortOrder::Ascending),
        ("sort_user_name_desc", "userName", SortOrder::Descending),
        ("sort_emails_primary_or_first", "emails", SortOrder::Ascending),
        ("sort_emails_type_desc", "emails.type", SortOrder::Descending),
        ("sort_family_name", "name.familyName", SortOrder::Ascending),
        ("sort_last_modified_desc", "meta.lastModified", SortOrder::Descending),
        ("sort_meta_version", "meta.version", SortOrder::Ascending),
        (
            "sort_employee_number",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
            SortOrder::Ascending,
        ),
        ("sort_level", "level", SortOrder::Ascending),
        ("sort_active", "active", SortOrder::Descending),
        ("sort_tags_first", "tags", SortOrder::Ascending),
        ("sort_external_id", "externalId", SortOrder::Ascending),
    ];
    for (name, path, order) in cases {
        let text = match sort(User, path, *order) {
            Ok((lite, pg)) => {
                format!("User sortBy={path} {order:?}\n\n-- sqlite\n{lite}\n\n-- postgres\n{pg}\n")
            }
            Err(e) => format!("ERROR {e}"),
        };
        insta::assert_snapshot!(*name, text);
    }
}

fn invalid_filter(kind: ResourceKind, filter: &str) -> String {
    for d in [Dialect::Sqlite, Dialect::Postgres] {
        match compile(d, kind, filter) {
            Ok(sql) => panic!("{filter} compiled to {sql}"),
            Err(e) => {
                assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{filter}: {e}");
                assert_eq!(e.status, 400);
                if d == Dialect::Postgres {
                    return e.detail;
                }
            }
        }
    }
    String::new()
}

#[test]
fn unknown_attributes_are_invalid_filters_naming_the_attribute() {
    use ResourceKind::{Group, User};
    for (kind, filter, named) in [
        (User, r#"bogus eq "x""#, "bogus"),
        (User, "name.bogus pr", "bogus"),
        (User, r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "x""#, "displayName"),
        (User, r#"urn:example:nope:fax eq "1""#, "urn:example:nope"),
        (User, r#"emails[kind eq "work"]"#, "kind"),
        (Group, r#"userName eq "x""#, "userName"),
        (Group, "active eq true", "active"),
    ] {
        let detail = invalid_filter(kind, filter);
        assert!(detail.contains(named), "{filter}: {detail:?} does not name {named}");
    }
}

#[test]
fn bad_type_combinations_are_invalid_filters_naming_the_attribute() {
    use ResourceKind::User;
    for (filter, named) in [
        ("active gt true", "active"),
        (r#"active eq "yes""#, "active"),
        (r#"active co "t""#, "active"),
        (r#"meta.created co "2011""#, "meta.created"),
        (r#"meta.created eq "yesterday""#, "meta.created"),
        ("level co 3", "level"),
        (r#"level eq "three""#, "level"),
        (r#"badge gt "AQID""#, "badge"),
        (r#"name eq "Babs""#, "name"),
        ("userName eq null", "userName"),
        (r#"title[value eq "x"]"#, "title"),
    ] {
        let detail = invalid_filter(User, filter);
        assert!(detail.contains(named), "{filter}: {detail:?} does not name {named}");
    }
}

/// The parser refuses nested value filters; a tree built by hand meets the checker's refusal.
#[test]
fn nested_value_filters_built_by_hand_are_invalid_filters() {
    use scimd_filter::{Filter, Span};
    let inner = Filter::ValuePath {
        attr: AttrPath::simple("emails"),
        filter: Box::new(Filter::Present { attr: AttrPath::simple("value"), span: Span::default() }),
        span: Span::default(),
    };
    let outer = Filter::ValuePath {
        attr: AttrPath::simple("emails"),
        filter: Box::new(inner),
        span: Span::default(),
    };
    let mut b = SqlBuilder::new(Dialect::Sqlite);
    let e = compile_filter(&outer, &ResourceSchema::user(), ResourceKind::User, &mut b).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
    assert!(e.detail.contains("emails"), "{}", e.detail);
}

#[test]
fn attributes_the_store_does_not_hold_are_invalid_filters() {
    use ResourceKind::{Group, User};
    for (kind, filter, named) in [
        (User, r#"meta.location eq "https://x/Users/1""#, "meta.location"),
        (User, r#"meta[location co "x"]"#, "meta.location"),
        (Group, r#"members.$ref co "Users""#, "members.$ref"),
        (Group, r#"members[$ref co "Users"]"#, "members.$ref"),
        (User, "groups.$ref pr", "groups.$ref"),
    ] {
        let detail = invalid_filter(kind, filter);
        assert!(detail.contains(named), "{filter}: {detail:?} does not name {named}");
    }
}

#[test]
fn a_failed_compile_leaves_the_builder_alone() {
    let mut b = SqlBuilder::new(Dialect::Sqlite);
    b.push("r.tenant_id = ").bind(Bind::Text("t".into())).push(" AND (");
    let before = b.clone();
    let f = parse_filter(r#"title eq "x" and bogus pr"#).unwrap();
    assert!(compile_filter(&f, &ResourceSchema::user(), ResourceKind::User, &mut b).is_err());
    assert_eq!(b, before);
}

#[test]
fn literals_never_reach_the_sql_text() {
    let hostile = r#"x' OR 1=1; DROP TABLE resources; --"#;
    for filter in [
        format!("userName eq {hostile:?}"),
        format!("title co {hostile:?}"),
        format!("emails[type eq {hostile:?}]"),
        format!("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department sw {hostile:?}"),
    ] {
        for d in [Dialect::Sqlite, Dialect::Postgres] {
            let sql = compile(d, ResourceKind::User, &filter).unwrap();
            assert!(!sql.text.contains("DROP"), "{}", sql.text);
            assert!(
                sql.binds.iter().any(|b| matches!(b, Bind::Text(t) if t.contains("drop table"))),
                "{sql}"
            );
        }
    }
}

#[test]
fn sort_errors_are_invalid_values() {
    use ResourceKind::{Group, User};
    for (kind, path) in [
        (User, "bogus"),
        (User, "name"),
        (User, "groups"),
        (Group, "members.value"),
        (User, "meta.location"),
        (User, "meta"),
    ] {
        let p = AttrPath {
            urn: None,
            name: path.split('.').next().unwrap_or(path).to_owned(),
            sub_attr: path.split_once('.').map(|(_, s)| s.to_owned()),
            span: Default::default(),
        };
        let mut b = SqlBuilder::new(Dialect::Sqlite);
        let e = compile_sort(&p, SortOrder::Ascending, &schema(kind), kind, &mut b).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue), "{path}: {e}");
        assert!(e.detail.contains(path), "{path}: {}", e.detail);
    }
}
