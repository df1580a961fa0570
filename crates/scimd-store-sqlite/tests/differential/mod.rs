//! THE differential test: the SQL compiler against the in-memory evaluator, row for row.
//!
//! The in-memory evaluator is the oracle the SQL compiler is checked against (docs/architecture.md).
//! Each run builds random populations in a real SQLite database through the store's own path
//! (`ResourceStore::create`, which writes the columns, the search copy, `resource_values` and
//! membership rows), then for random filters asks `ResourceStore::list` (the filter compiled by
//! `scimd_store::sql`) and compares the ids it returns with the resources for which
//! `scimd_schema::filter_eval` says the filter matches the rendered document (`id`, `meta`,
//! `groups` / `members` included, as a client would see it). With a random `sortBy`, the order is
//! compared too, against a reference implementation of RFC 7644 §3.4.2.3 written here.
//!
//! Strings come from a small alphabet with mixed case and letters whose case folding is not ASCII
//! (`É`, `Σ`, `ß`, `İ`, which folds to two code points), and filter literals are drawn from the
//! values actually stored (whole, cut, re-cased), so every operator finds matches. A failure is
//! shrunk by proptest to a minimal filter and printed with its SQL and the documents on which the
//! two sides disagree.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;
use time::macros::datetime;
use time::{Duration, OffsetDateTime, UtcOffset};
use uuid::Uuid;

use scimd_filter::{AttrPath, CompValue, CompareOp, Filter, Span};
use scimd_schema::filter_eval::check_filter;
use scimd_schema::value::{fold_case, format_datetime};
use scimd_schema::{AttrType, ResourceSchema, ScimError, urn};
use scimd_store::sql::{Dialect, SqlBuilder, compile_filter};
use scimd_store::{
    ListQuery, MockClock, NewResource, Paging, ResourceKind, SortOrder, Store, StoreError, WriteContext,
    search_document,
};

const USERS: usize = 40;
const GROUPS: usize = 12;
/// Populations per run, and filters checked against each: 4 × 64 = 256 filters per kind.
const POPULATIONS: usize = 4;
const FILTERS_PER_POPULATION: u32 = 64;

/// Few letters, so values collide and every operator finds matches; mixed case, and case folding
/// beyond ASCII.
const ALPHABET: &[&str] = &["a", "A", "é", "É", "σ", "Σ", "ß", "1", "-", "İ"];

const START: OffsetDateTime = datetime!(2026-11-23 07:46 UTC);

fn word() -> BoxedStrategy<String> {
    prop::collection::vec(select(ALPHABET), 1..=3).prop_map(|v| v.concat()).boxed()
}

/// Texts that a filter may carry as unquoted number literals (Entra's `externalId eq 12345…`):
/// past 64 bits, with a trailing zero, an exponent. As string values they must match their own
/// literal's text exactly, never a float's rounding of it.
const NUMERIC_TEXTS: &[&str] = &["12345678901234567890123", "1.50", "1e3", "-0", "42"];

/// A word, or now and then a numeric text.
fn word_or_number() -> BoxedStrategy<String> {
    prop_oneof![4 => word(), 1 => select(NUMERIC_TEXTS).prop_map(str::to_owned)].boxed()
}

fn maybe<T: std::fmt::Debug + Clone + 'static>(
    s: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Option<T>> {
    prop::option::weighted(0.6, s).boxed()
}

// ---------------------------------------------------------------------------------------------
// Populations
// ---------------------------------------------------------------------------------------------

/// A user document in the validator's normal form (canonical names, no null/""/[]/{}), without
/// `userName` (made unique when inserted), `id` and `meta`.
fn user_doc() -> BoxedStrategy<Map<String, Value>> {
    let email = (word(), word(), maybe(select(&["work", "home", "Other"][..])), any::<bool>());
    (
        word(),
        maybe(word()),
        maybe((maybe(word()), maybe(word()))),
        maybe(word()),
        maybe(word()),
        maybe(any::<bool>()),
        maybe(word_or_number()),
        prop::collection::vec(email, 0..=3),
        prop::collection::vec((word(), maybe(any::<bool>())), 0..=2),
        maybe((maybe(word_or_number()), maybe(word()), maybe(word()))),
    )
        .prop_map(
            |(user_name, display, name, title, user_type, active, external_id, emails, roles, enterprise)| {
                let mut doc = Map::new();
                let mut schemas = vec![json!(urn::USER)];
                doc.insert("userName".into(), json!(user_name));
                if let Some(d) = display {
                    doc.insert("displayName".into(), json!(d));
                }
                if let Some((given, family)) = name {
                    let mut n = Map::new();
                    if let Some(g) = given {
                        n.insert("givenName".into(), json!(g));
                    }
                    if let Some(f) = family {
                        n.insert("familyName".into(), json!(f));
                    }
                    if !n.is_empty() {
                        doc.insert("name".into(), Value::Object(n));
                    }
                }
                if let Some(t) = title {
                    doc.insert("title".into(), json!(t));
                }
                if let Some(t) = user_type {
                    doc.insert("userType".into(), json!(t));
                }
                if let Some(a) = active {
                    doc.insert("active".into(), json!(a));
                }
                if let Some(e) = external_id {
                    doc.insert("externalId".into(), json!(e));
                }
                // RFC 7643 §2.4: at most one `primary: true`.
                let mut primary_taken = false;
                let emails: Vec<Value> = emails
                    .into_iter()
                    .map(|(local, domain, kind, primary)| {
                        let mut e = Map::new();
                        e.insert("value".into(), json!(format!("{local}@{domain}")));
                        if let Some(k) = kind {
                            e.insert("type".into(), json!(k));
                        }
                        if primary && !primary_taken {
                            primary_taken = true;
                            e.insert("primary".into(), json!(true));
                        } else if primary {
                            e.insert("primary".into(), json!(false));
                        }
                        Value::Object(e)
                    })
                    .collect();
                if !emails.is_empty() {
                    doc.insert("emails".into(), Value::Array(emails));
                }
                let mut primary_taken = false;
                let roles: Vec<Value> = roles
                    .into_iter()
                    .map(|(value, primary)| {
                        let mut r = Map::new();
                        r.insert("value".into(), json!(value));
                        if let Some(p) = primary {
                            let p = p && !primary_taken;
                            primary_taken |= p;
                            r.insert("primary".into(), json!(p));
                        }
                        Value::Object(r)
                    })
                    .collect();
                if !roles.is_empty() {
                    doc.insert("roles".into(), Value::Array(roles));
                }
                if let Some((number, department, manager)) = enterprise {
                    let mut ext = Map::new();
                    if let Some(n) = number {
                        ext.insert("employeeNumber".into(), json!(n));
                    }
                    if let Some(d) = department {
                        ext.insert("department".into(), json!(d));
                    }
                    if let Some(m) = manager {
                        ext.insert("manager".into(), json!({ "value": m }));
                    }
                    if !ext.is_empty() {
                        doc.insert(urn::ENTERPRISE_USER.into(), Value::Object(ext));
                        schemas.push(json!(urn::ENTERPRISE_USER));
                    }
                }
                doc.insert("schemas".into(), Value::Array(schemas));
                doc
            },
        )
        .boxed()
}

/// Everything random about one population.
#[derive(Clone, Debug)]
struct PopulationSpec {
    users: Vec<Map<String, Value>>,
    /// Seconds the clock moves before each user is created (0 gives equal timestamps: sort ties).
    steps: Vec<i64>,
    groups: Vec<(String, Option<String>)>,
    /// Per group: indexes of member users, and maybe an earlier group.
    members: Vec<(Vec<usize>, Option<usize>)>,
}

fn population_spec() -> BoxedStrategy<PopulationSpec> {
    (
        prop::collection::vec(user_doc(), USERS),
        prop::collection::vec(0..3i64, USERS + GROUPS),
        prop::collection::vec((word(), maybe(word())), GROUPS),
        prop::collection::vec((prop::collection::vec(0..USERS, 0..=6), maybe(0..GROUPS)), GROUPS),
    )
        .prop_map(|(users, steps, groups, members)| PopulationSpec { users, steps, groups, members })
        .boxed()
}

/// A stored resource and the document the evaluator sees: the stored one with `id`, `meta` and
/// the membership attribute, as the HTTP layer renders it.
#[derive(Clone, Debug)]
struct Resource {
    id: String,
    doc: Value,
    /// What the store keeps in `search` (printed when the two sides disagree).
    search: Value,
    rendered: Value,
}

struct Population {
    /// The backend under test (the including binary's `open_store`), and what keeps its database.
    store: Arc<dyn Store>,
    _database: Box<dyn std::any::Any>,
    tenant: Uuid,
    users: Vec<Resource>,
    groups: Vec<Resource>,
    /// Every string of the users' and of the groups' documents: where filter literals come from.
    user_strings: Vec<String>,
    group_strings: Vec<String>,
    ids: Vec<String>,
    times: Vec<OffsetDateTime>,
}

fn meta(kind: ResourceKind, created: OffsetDateTime, modified: OffsetDateTime, version: i64) -> Value {
    json!({
        "resourceType": kind.as_str(),
        "created": format_datetime(created),
        "lastModified": format_datetime(modified),
        "version": format!("W/\"{version}\""),
    })
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        Value::Object(o) => o.values().for_each(|i| collect_strings(i, out)),
        _ => {}
    }
}

async fn build(spec: PopulationSpec) -> Population {
    let clock = MockClock::new(START);
    let (store, database) = super::open_store(Arc::new(clock.clone())).await;
    let tenant = store.create_tenant("differential").await.unwrap().id;
    let ctx = WriteContext {
        tenant,
        actor: "differential".into(),
        tenant_slug: "test".into(),
        client: "other".into(),
        request_id: None,
        refuse_unknown_members: false,
    };
    let user_rs = ResourceSchema::user();
    let group_rs = ResourceSchema::group();
    let mut steps = spec.steps.into_iter();
    let mut times = Vec::new();

    let mut users = Vec::new();
    for (i, mut doc) in spec.users.into_iter().enumerate() {
        // userName is unique case-insensitively: the index keeps it so ("·" is not in ALPHABET).
        let base = doc.get("userName").and_then(Value::as_str).unwrap_or("u").to_owned();
        doc.insert("userName".into(), json!(format!("{base}·{i}")));
        clock.advance(Duration::seconds(steps.next().unwrap_or(1)));
        let doc = Value::Object(doc);
        let search = search_document(&user_rs, &doc);
        let new = NewResource {
            kind: ResourceKind::User,
            doc: doc.clone(),
            search: search.clone(),
            members: Vec::new(),
            password_hash: None,
        };
        let (stored, _) = store.create(&ctx, new).await.unwrap();
        times.push(stored.created);
        let mut rendered = doc.clone();
        rendered["id"] = json!(stored.id);
        rendered["meta"] = meta(ResourceKind::User, stored.created, stored.last_modified, stored.version);
        users.push(Resource { id: stored.id, doc, search, rendered });
    }

    let mut groups: Vec<Resource> = Vec::new();
    for (i, ((name, external_id), (member_users, member_group))) in
        spec.groups.into_iter().zip(spec.members).enumerate()
    {
        let mut doc = json!({ "schemas": [urn::GROUP], "displayName": format!("{name}·g{i}") });
        if let Some(e) = external_id {
            doc["externalId"] = json!(e);
        }
        let mut member_ids: Vec<String> = member_users.iter().map(|u| users[*u].id.clone()).collect();
        if let Some(g) = member_group.filter(|g| *g < groups.len()) {
            member_ids.push(groups[g].id.clone());
        }
        member_ids.sort();
        member_ids.dedup();
        clock.advance(Duration::seconds(steps.next().unwrap_or(1)));
        let search = search_document(&group_rs, &doc);
        let new = NewResource {
            kind: ResourceKind::Group,
            doc: doc.clone(),
            search: search.clone(),
            members: member_ids.clone(),
            password_hash: None,
        };
        let (stored, report) = store.create(&ctx, new).await.unwrap();
        assert!(report.skipped.is_empty(), "{report:?}");
        times.push(stored.created);
        let mut rendered = doc.clone();
        rendered["id"] = json!(stored.id);
        rendered["meta"] = meta(ResourceKind::Group, stored.created, stored.last_modified, stored.version);
        // RFC 7643 §4.2 members: value, type, display (the member's displayName, else userName).
        let members: Vec<Value> = member_ids
            .iter()
            .map(|id| {
                if let Some(u) = users.iter().find(|u| &u.id == id) {
                    let display = u.doc.get("displayName").or_else(|| u.doc.get("userName"));
                    json!({ "value": id, "type": "User", "display": display })
                } else {
                    let g = groups.iter().find(|g| &g.id == id);
                    json!({ "value": id, "type": "Group", "display": g.map(|g| g.doc["displayName"].clone()) })
                }
            })
            .collect();
        if !members.is_empty() {
            rendered["members"] = Value::Array(members);
        }
        // RFC 7643 §4.1.2 groups, computed from membership: direct memberships only.
        for id in &member_ids {
            if let Some(u) = users.iter_mut().find(|u| &u.id == id) {
                let entry = json!({ "value": stored.id, "display": doc["displayName"], "type": "direct" });
                match u.rendered.get_mut("groups").and_then(Value::as_array_mut) {
                    Some(list) => list.push(entry),
                    None => u.rendered["groups"] = json!([entry]),
                }
            }
        }
        groups.push(Resource { id: stored.id, doc, search, rendered });
    }

    let strings = |resources: &[Resource]| {
        let mut strings = Vec::new();
        for r in resources {
            collect_strings(&r.rendered, &mut strings);
        }
        strings.retain(|s| !s.starts_with("urn:"));
        strings.sort();
        strings.dedup();
        strings
    };
    let (user_strings, group_strings) = (strings(&users), strings(&groups));
    let ids = users.iter().chain(&groups).map(|r| r.id.clone()).collect();
    Population { store, _database: database, tenant, users, groups, user_strings, group_strings, ids, times }
}

// ---------------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------------

/// A filter that prints as filter text (proptest prints the minimal failing input).
#[derive(Clone)]
struct F(Filter);

impl std::fmt::Debug for F {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

fn path(spec: &str) -> AttrPath {
    // `urn:…:User:manager.value` → urn, name, sub.
    let (urn, rest) = match spec.rfind(':') {
        Some(i) => (Some(spec[..i].to_owned()), &spec[i + 1..]),
        None => (None, spec),
    };
    let (name, sub) = match rest.split_once('.') {
        Some((n, s)) => (n.to_owned(), Some(s.to_owned())),
        None => (rest.to_owned(), None),
    };
    AttrPath { urn, name, sub_attr: sub, span: Span::default() }
}

/// Attribute names are case-insensitive (RFC 7643 §2.1): sometimes shout them.
fn attr(specs: Vec<&'static str>) -> BoxedStrategy<AttrPath> {
    (select(specs), prop::bool::weighted(0.15))
        .prop_map(|(spec, shout)| {
            let mut p = path(spec);
            if shout {
                p.name = p.name.to_uppercase();
                p.sub_attr = p.sub_attr.map(|s| s.to_uppercase());
            }
            p
        })
        .boxed()
}

fn cmp(attr: AttrPath, op: CompareOp, value: CompValue) -> Filter {
    Filter::Compare { attr, op, value, span: Span::default() }
}

fn present(attr: AttrPath) -> Filter {
    Filter::Present { attr, span: Span::default() }
}

/// Text from the stored values: whole, cut to a substring, re-cased; or fresh; or empty.
fn text(strings: Arc<Vec<String>>) -> BoxedStrategy<String> {
    let recase = |s: String, how: u8| match how {
        1 => s.to_uppercase(),
        2 => s.to_lowercase(),
        _ => s,
    };
    prop_oneof![
        4 => (select(strings.to_vec()), 0..3u8).prop_map(move |(s, how)| recase(s, how)),
        3 => (select(strings.to_vec()), 0..4usize, 1..4usize, 0..3u8)
            .prop_map(move |(s, skip, take, how)| recase(s.chars().skip(skip).take(take).collect(), how)),
        2 => word(),
        1 => Just(String::new()),
    ]
    .boxed()
}

fn string_value(strings: Arc<Vec<String>>) -> BoxedStrategy<CompValue> {
    prop_oneof![
        12 => text(strings).prop_map(CompValue::String),
        // Entra's unquoted values arrive as numbers and booleans; they compare as text.
        1 => (0..3u8).prop_map(|n| CompValue::Number(n.into())),
        1 => select(NUMERIC_TEXTS)
            .prop_filter_map("a number literal", scimd_filter::Number::from_literal)
            .prop_map(CompValue::Number),
        1 => any::<bool>().prop_map(CompValue::Bool),
    ]
    .boxed()
}

fn bool_value() -> BoxedStrategy<CompValue> {
    prop_oneof![
        4 => any::<bool>().prop_map(CompValue::Bool),
        // docs/idp-compatibility.md §5: "True"/"false" as strings; "yes" is refused by both sides.
        2 => select(&["True", "false", "FALSE", "yes"][..]).prop_map(|s| CompValue::String(s.to_owned())),
    ]
    .boxed()
}

fn date_value(times: Arc<Vec<OffsetDateTime>>) -> BoxedStrategy<CompValue> {
    prop_oneof![
        9 => (select(times.to_vec()), -1..=1i64, select(&[0i8, 2, -5][..])).prop_map(|(t, ms, hours)| {
            let t = t + Duration::milliseconds(ms);
            let offset = UtcOffset::from_hms(hours, 0, 0).unwrap_or(UtcOffset::UTC);
            CompValue::String(t.to_offset(offset).format(&Rfc3339).unwrap_or_default())
        }),
        1 => Just(CompValue::String("yesterday".into())),
    ]
    .boxed()
}

fn any_op() -> BoxedStrategy<CompareOp> {
    select(&CompareOp::ALL[..]).boxed()
}

fn eq_ne_mostly() -> BoxedStrategy<CompareOp> {
    prop_oneof![8 => select(&[CompareOp::Eq, CompareOp::Ne][..]), 1 => any_op()].boxed()
}

fn order_op() -> BoxedStrategy<CompareOp> {
    prop_oneof![
        8 => select(&[CompareOp::Eq, CompareOp::Ne, CompareOp::Gt, CompareOp::Ge, CompareOp::Lt, CompareOp::Le][..]),
        1 => any_op(),
    ]
    .boxed()
}

/// The attributes of one kind, by type, for leaves at the top or inside a value filter.
struct Attrs {
    strings: &'static [&'static str],
    bools: &'static [&'static str],
    dates: &'static [&'static str],
    /// `pr` only (complex attributes).
    complex: &'static [&'static str],
}

fn leaf(a: &Attrs, strings: &Arc<Vec<String>>, times: &Arc<Vec<OffsetDateTime>>) -> BoxedStrategy<Filter> {
    let mut all: Vec<&'static str> = Vec::new();
    for group in [a.strings, a.bools, a.dates, a.complex] {
        all.extend_from_slice(group);
    }
    let mut options: Vec<(u32, BoxedStrategy<Filter>)> = vec![
        (
            6,
            (attr(a.strings.to_vec()), any_op(), string_value(strings.clone()))
                .prop_map(|(p, op, v)| cmp(p, op, v))
                .boxed(),
        ),
        (3, attr(all).prop_map(present).boxed()),
    ];
    if !a.bools.is_empty() {
        options.push((
            2,
            (attr(a.bools.to_vec()), eq_ne_mostly(), bool_value())
                .prop_map(|(p, op, v)| cmp(p, op, v))
                .boxed(),
        ));
    }
    if !a.dates.is_empty() {
        options.push((
            2,
            (attr(a.dates.to_vec()), order_op(), date_value(times.clone()))
                .prop_map(|(p, op, v)| cmp(p, op, v))
                .boxed(),
        ));
    }
    prop::strategy::Union::new_weighted(options).boxed()
}

fn combine(inner: BoxedStrategy<Filter>) -> BoxedStrategy<Filter> {
    prop_oneof![
        2 => (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b), Span::default())),
        2 => (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b), Span::default())),
        1 => inner.prop_map(|a| Filter::Not(Box::new(a), Span::default())),
    ]
    .boxed()
}

/// `attr[…]` with an inner filter over `subs`.
fn value_path(
    outer: &'static [&'static str],
    subs: &Attrs,
    strings: &Arc<Vec<String>>,
    times: &Arc<Vec<OffsetDateTime>>,
) -> BoxedStrategy<Filter> {
    let inner = leaf(subs, strings, times).prop_recursive(2, 6, 2, combine);
    (attr(outer.to_vec()), inner)
        .prop_map(|(attr, filter)| Filter::ValuePath {
            attr,
            filter: Box::new(filter),
            span: Span::default(),
        })
        .boxed()
}

fn user_filter(pop: &Population) -> BoxedStrategy<F> {
    let strings =
        Arc::new(pop.user_strings.iter().cloned().chain(pop.ids.iter().cloned()).collect::<Vec<_>>());
    let times = Arc::new(pop.times.clone());
    let top = Attrs {
        strings: &[
            "userName",
            "displayName",
            "title",
            "userType",
            "externalId",
            "id",
            "name.givenName",
            "name.familyName",
            "emails",
            "emails.value",
            "emails.type",
            "roles",
            "roles.value",
            "employeeNumber",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            "manager.value",
            "groups",
            "groups.value",
            "groups.display",
            "groups.type",
            "meta.resourceType",
            "meta.version",
        ],
        bools: &["active", "emails.primary", "roles.primary"],
        dates: &["meta.created", "meta.lastModified"],
        complex: &[
            "name",
            "emails",
            "roles",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            "groups",
            "meta",
        ],
    };
    let emails =
        Attrs { strings: &["value", "type", "display"], bools: &["primary"], dates: &[], complex: &[] };
    let roles = Attrs { strings: &["value", "type"], bools: &["primary"], dates: &[], complex: &[] };
    let name =
        Attrs { strings: &["givenName", "familyName", "formatted"], bools: &[], dates: &[], complex: &[] };
    let manager = Attrs { strings: &["value", "displayName"], bools: &[], dates: &[], complex: &[] };
    let groups = Attrs { strings: &["value", "display", "type"], bools: &[], dates: &[], complex: &[] };
    let meta = Attrs {
        strings: &["resourceType", "version"],
        bools: &[],
        dates: &["created", "lastModified"],
        complex: &[],
    };
    let leaves = prop_oneof![
        12 => leaf(&top, &strings, &times),
        2 => value_path(&["emails"], &emails, &strings, &times),
        1 => value_path(&["roles"], &roles, &strings, &times),
        1 => value_path(&["name"], &name, &strings, &times),
        1 => value_path(&["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"], &manager, &strings, &times),
        1 => value_path(&["groups"], &groups, &strings, &times),
        1 => value_path(&["meta"], &meta, &strings, &times),
    ];
    leaves.prop_recursive(3, 12, 2, combine).prop_map(F).boxed()
}

fn group_filter(pop: &Population) -> BoxedStrategy<F> {
    let strings = Arc::new(
        pop.group_strings
            .iter()
            .cloned()
            .chain(pop.ids.iter().cloned())
            .chain(["User", "group"].map(String::from))
            .collect::<Vec<_>>(),
    );
    let times = Arc::new(pop.times.clone());
    let top = Attrs {
        strings: &[
            "displayName",
            "externalId",
            "id",
            "members",
            "members.value",
            "members.type",
            "members.display",
            "meta.resourceType",
            "meta.version",
        ],
        bools: &[],
        dates: &["meta.created", "meta.lastModified"],
        complex: &["members", "meta"],
    };
    let members = Attrs { strings: &["value", "type", "display"], bools: &[], dates: &[], complex: &[] };
    // Member types as clients spell them: the store keeps `User`/`Group`, compared folded.
    let member_type = (
        attr(vec!["members.type"]),
        eq_ne_mostly(),
        select(&["User", "user", "GROUP", "Group", "usé"][..]).prop_map(|s| CompValue::String(s.to_owned())),
    )
        .prop_map(|(p, op, v)| cmp(p, op, v));
    let leaves = prop_oneof![
        4 => leaf(&top, &strings, &times),
        1 => member_type,
        1 => value_path(&["members"], &members, &strings, &times),
    ];
    leaves.prop_recursive(3, 12, 2, combine).prop_map(F).boxed()
}

// ---------------------------------------------------------------------------------------------
// The sort reference (RFC 7644 §3.4.2.3)
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, PartialOrd)]
enum Key {
    Bool(bool),
    Text(String),
}

/// The value a resource sorts by: for a multi-valued attribute, the primary element's, else the
/// first's; case-insensitive text folded.
fn sort_key(rs: &ResourceSchema, doc: &Value, sort_by: &AttrPath) -> Option<Key> {
    let r = rs.resolve_path(sort_by).ok()?;
    let container = if r.is_core { doc } else { doc.get(&r.schema.id)? };
    let mut v = container.get(&r.attr.name)?;
    let mut def = r.attr;
    if let Some(items) = v.as_array() {
        v = items.iter().find(|e| e.get("primary") == Some(&json!(true))).or_else(|| items.first())?;
    }
    let sub =
        r.sub.or_else(|| (r.attr.kind == AttrType::Complex).then(|| r.attr.sub_attribute("value")).flatten());
    if let Some(sub) = sub {
        v = v.get(&sub.name)?;
        def = sub;
    }
    match v {
        Value::Bool(b) => Some(Key::Bool(*b)),
        Value::String(s) if def.folds_case() => Some(Key::Text(fold_case(s).into_owned())),
        Value::String(s) => Some(Key::Text(s.clone())),
        _ => None,
    }
}

fn sorted(
    rs: &ResourceSchema,
    mut hits: Vec<&Resource>,
    sort: Option<&(AttrPath, SortOrder)>,
) -> Vec<String> {
    match sort {
        None => hits.sort_by(|a, b| a.id.cmp(&b.id)),
        Some((by, order)) => {
            // Ascending: by value, resources without one last, then by id. Descending: the exact
            // reverse.
            hits.sort_by(|a, b| {
                let (ka, kb) = (sort_key(rs, &a.rendered, by), sort_key(rs, &b.rendered, by));
                let by_value = match (ka, kb) {
                    (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                };
                by_value.then_with(|| a.id.cmp(&b.id))
            });
            if *order == SortOrder::Descending {
                hits.reverse();
            }
        }
    }
    hits.into_iter().map(|r| r.id.clone()).collect()
}

fn sort_choice(specs: &'static [&'static str]) -> BoxedStrategy<Option<(AttrPath, SortOrder)>> {
    prop::option::weighted(
        0.5,
        (select(specs), select(&[SortOrder::Ascending, SortOrder::Descending][..]))
            .prop_map(|(s, o)| (path(s), o)),
    )
    .boxed()
}

// ---------------------------------------------------------------------------------------------
// The check
// ---------------------------------------------------------------------------------------------

fn sql_of(filter: &Filter, rs: &ResourceSchema, kind: ResourceKind) -> String {
    let mut b = SqlBuilder::new(super::DIALECT);
    match compile_filter(filter, rs, kind, &mut b) {
        Ok(()) => b.build().to_string(),
        Err(e) => format!("(does not compile: {e})"),
    }
}

/// How the filters of a run fell out: a generator that only produced refusals, or filters that
/// match nothing or everything, would test little.
#[derive(Debug, Default)]
struct Tally {
    refused: Cell<usize>,
    none: Cell<usize>,
    some: Cell<usize>,
    all: Cell<usize>,
}

impl Tally {
    fn count(&self, outcome: &Result<Vec<String>, ScimError>, population: usize) {
        let cell = match outcome {
            Err(_) => &self.refused,
            Ok(hits) if hits.is_empty() => &self.none,
            Ok(hits) if hits.len() == population => &self.all,
            Ok(_) => &self.some,
        };
        cell.set(cell.get() + 1);
    }
}

fn check(
    rt: &tokio::runtime::Runtime,
    pop: &Population,
    kind: ResourceKind,
    filter: &Filter,
    sort: Option<&(AttrPath, SortOrder)>,
    tally: &Tally,
) -> Result<(), TestCaseError> {
    let (rs, resources) = match kind {
        ResourceKind::User => (ResourceSchema::user(), &pop.users),
        ResourceKind::Group => (ResourceSchema::group(), &pop.groups),
    };
    let expected: Result<Vec<String>, ScimError> = check_filter(&rs, filter).map(|checked| {
        let hits = resources.iter().filter(|r| checked.matches(&r.rendered)).collect();
        sorted(&rs, hits, sort)
    });
    tally.count(&expected, resources.len());
    let query = ListQuery {
        filter: Some(filter.clone()),
        sort_by: sort.map(|(p, _)| p.clone()),
        sort_order: sort.map_or(SortOrder::Ascending, |(_, o)| *o),
        paging: Paging::Index { start_index: 1, count: 1000 },
        with_members: false,
    };
    let got = rt.block_on(pop.store.list(pop.tenant, kind, &rs, &query));
    let context = || {
        format!(
            "\nfilter: {filter}\nsort:   {:?}\nsql:    {}",
            sort.map(|(p, o)| format!("{p} {o:?}")),
            sql_of(filter, &rs, kind)
        )
    };
    match (expected, got) {
        (Err(want), Err(StoreError::Scim(got))) => {
            prop_assert_eq!(want, got, "both refuse, but differently{}", context());
        }
        (Ok(want), Ok(page)) => {
            let got: Vec<String> = page.resources.iter().map(|r| r.id.clone()).collect();
            if got != want {
                let (w, g): (BTreeSet<_>, BTreeSet<_>) = (want.iter().collect(), got.iter().collect());
                let differing: Vec<String> = w
                    .symmetric_difference(&g)
                    .filter_map(|id| resources.iter().find(|r| &&r.id == id))
                    .map(|r| {
                        let side = if w.contains(&r.id) { "evaluator only" } else { "SQL only" };
                        format!("  {side}: {}\n    search: {}", r.rendered, r.search)
                    })
                    .collect();
                let what = if w == g { "same resources, different order" } else { "different resources" };
                return Err(TestCaseError::fail(format!(
                    "{what}{}\nevaluator: {want:?}\nSQL:       {got:?}\n{}",
                    context(),
                    differing.join("\n")
                )));
            }
            prop_assert_eq!(page.total_results, want.len() as u64, "totalResults{}", context());
        }
        (want, got) => {
            return Err(TestCaseError::fail(format!(
                "one side refuses{}\nevaluator: {want:?}\nstore:     {got:?}",
                context()
            )));
        }
    }
    Ok(())
}

fn run(kind: ResourceKind) {
    if !super::available() {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut population_runner = TestRunner::new(Config::default());
    let tally = Tally::default();
    for round in 0..POPULATIONS {
        let spec = population_spec().new_tree(&mut population_runner).unwrap().current();
        let pop = rt.block_on(build(spec));
        let (filters, sorts) = match kind {
            ResourceKind::User => (
                user_filter(&pop),
                sort_choice(&[
                    "userName",
                    "displayName",
                    "title",
                    "externalId",
                    "active",
                    "emails",
                    "emails.type",
                    "roles.value",
                    "name.familyName",
                    "meta.created",
                    "meta.lastModified",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
                ]),
            ),
            ResourceKind::Group => {
                (group_filter(&pop), sort_choice(&["displayName", "externalId", "meta.created", "id"]))
            }
        };
        let mut runner = TestRunner::new(Config {
            cases: FILTERS_PER_POPULATION,
            failure_persistence: None,
            // Each step is one query; shrink far enough to print a small filter.
            max_shrink_iters: 4096,
            ..Config::default()
        });
        let result = runner.run(&(filters, sorts), |(F(filter), sort)| {
            check(&rt, &pop, kind, &filter, sort.as_ref(), &tally)
        });
        match result {
            Ok(()) => {}
            Err(TestError::Fail(why, (filter, sort))) => {
                panic!("population {round}: SQL and evaluator disagree on {filter:?} (sort {sort:?}): {why}")
            }
            Err(e) => panic!("population {round}: {e}"),
        }
    }
    eprintln!("{kind:?} filters: {tally:?}");
    let total = POPULATIONS * FILTERS_PER_POPULATION as usize;
    assert!(tally.some.get() * 6 >= total, "too few filters select some but not all: {tally:?}");
    assert!(tally.none.get() > 0 && tally.all.get() > 0 && tally.refused.get() > 0, "{tally:?}");
    assert!(tally.refused.get() * 5 <= total, "too many refusals: {tally:?}");
}

#[test]
fn user_filters_agree_with_the_evaluator() {
    run(ResourceKind::User);
}

#[test]
fn group_filters_agree_with_the_evaluator() {
    run(ResourceKind::Group);
}

/// The comparison can fail: when the evaluator's copy of a user and the database's disagree, the
/// check says so and names the resource.
#[test]
fn the_comparison_catches_a_disagreement() {
    if !super::available() {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let spec = population_spec().new_tree(&mut TestRunner::deterministic()).unwrap().current();
    let mut pop = rt.block_on(build(spec));
    let filter = present(path("title"));
    assert!(check(&rt, &pop, ResourceKind::User, &filter, None, &Tally::default()).is_ok());

    // The evaluator's copy of the first user gains or loses a title; the database's does not.
    let first = &mut pop.users[0];
    let id = first.id.clone();
    let rendered = first.rendered.as_object_mut().unwrap();
    if rendered.remove("title").is_none() {
        rendered.insert("title".into(), json!("a"));
    }
    let err = check(&rt, &pop, ResourceKind::User, &filter, None, &Tally::default()).unwrap_err().to_string();
    assert!(err.contains("different resources") && err.contains(&id), "{err}");
    let sql = match super::DIALECT {
        Dialect::Sqlite => "sql:    json_extract(r.search, ?) IS NOT NULL",
        Dialect::Postgres => "sql:    (r.search ->> $1) IS NOT NULL",
    };
    assert!(err.contains(sql), "{err}");
}
