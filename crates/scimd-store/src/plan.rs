//! The write plan: what a write means, decided once for every backend.
//!
//! A backend executes statements; this module says which, and what they mean for the event log.
//! The HTTP layer's PATCH and PUT results arrive as [`crate::Update`]; [`member_ops`] turns the
//! PATCH engine's member changes into storage operations ([`MemberOp`]), and the functions
//! [`created`], [`updated`] and [`deleted`] compute a write's events from the documents before and
//! after it and from the membership rows the backend reports it changed ([`MemberDelta`]).
//! [`seal`] numbers them and renders their bodies (docs/events.md, "Event"). All pure: the unit
//! tests below need no database.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use scimd_filter::Filter;
use scimd_schema::patch::MemberChange;
use scimd_schema::value::format_datetime;

use crate::events::EventType;
use crate::model::{ResourceKind, WriteContext};

/// One operation on a group's membership rows, applied in order.
#[derive(Clone, Debug, PartialEq)]
pub enum MemberOp {
    /// Insert rows for these ids; present ones are left as they are (RFC 7644 §3.5.2.1: "if the
    /// value already exists, … no change"), ids that name no resource of the tenant are skipped.
    Add(Vec<String>),
    /// Delete the rows of these ids; absent ones are ignored.
    Remove(Vec<String>),
    /// Delete the rows that satisfy this filter over `members` sub-attributes (`value`, `type`,
    /// `display`): one statement, compiled by [`crate::sql::compile_member_filter`].
    RemoveWhere(Filter),
    /// Make the rows exactly these ids (PUT's member list, a PATCH replace of `members`, a remove
    /// of `members` with an empty list): applied as the difference, so an unchanged list touches
    /// no row and a one-member change one row.
    Set(Vec<String>),
}

/// The PATCH engine's member changes as storage operations: `RemoveAll` followed by `Add` is a
/// replacement of the list ([`MemberOp::Set`]), `RemoveAll` alone sets it empty.
#[must_use]
pub fn member_ops(changes: Vec<MemberChange>) -> Vec<MemberOp> {
    let mut ops = Vec::with_capacity(changes.len());
    let mut changes = changes.into_iter().peekable();
    while let Some(change) = changes.next() {
        ops.push(match change {
            MemberChange::RemoveAll => match changes.next_if(|c| matches!(c, MemberChange::Add(_))) {
                Some(MemberChange::Add(refs)) => MemberOp::Set(refs.into_iter().map(|m| m.value).collect()),
                _ => MemberOp::Set(Vec::new()),
            },
            MemberChange::Add(refs) => MemberOp::Add(refs.into_iter().map(|m| m.value).collect()),
            MemberChange::Remove(ids) => MemberOp::Remove(ids),
            MemberChange::RemoveWhere(filter) => MemberOp::RemoveWhere(filter),
        });
    }
    ops
}

/// Membership rows one write may change on an async worker: a row costs two statements, some
/// 10 µs on SQLite; a write that may touch more runs where blocking is allowed.
pub const HEAVY_ROWS: usize = 256;

/// Whether `ops` may touch more than [`HEAVY_ROWS`] rows: a replacement of the whole list or a
/// filtered removal (the group's size is unknown until read), or many ids.
#[must_use]
pub fn heavy(ops: &[MemberOp]) -> bool {
    let mut rows = 0;
    for op in ops {
        rows += match op {
            MemberOp::Add(ids) | MemberOp::Remove(ids) => ids.len(),
            MemberOp::Set(_) | MemberOp::RemoveWhere(_) => return true,
        };
    }
    rows > HEAVY_ROWS
}

/// One membership row, as the backend found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRow {
    /// The member's id.
    pub id: String,
    /// User or Group.
    pub kind: ResourceKind,
}

/// The membership rows a write changed: every row inserted and every row deleted, nothing else
/// (an add of a present member or a remove of an absent one changed no row).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberDelta {
    /// Rows inserted.
    pub added: Vec<MemberRow>,
    /// Rows deleted.
    pub removed: Vec<MemberRow>,
}

impl MemberDelta {
    /// Whether any row changed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// The resource a write changed, as it stands after the write.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    /// User or Group.
    pub kind: ResourceKind,
    /// Its id.
    pub id: &'a str,
    /// Its version after the write.
    pub version: i64,
    /// Its `externalId` after the write (before it, for a delete).
    pub external_id: Option<&'a str>,
    /// `meta.lastModified` after the write.
    pub at: OffsetDateTime,
}

/// An event before it has a number.
#[derive(Clone, Debug, PartialEq)]
pub struct Draft {
    /// What happened.
    pub type_: EventType,
    /// User or Group.
    pub kind: ResourceKind,
    /// The resource's id.
    pub id: String,
    /// Its version after the change.
    pub version: i64,
    /// Its externalId, when it has one.
    pub external_id: Option<String>,
    /// The attribute paths that changed (updates only).
    pub changed: Option<Vec<String>>,
    /// The old values of the changed paths (updates only; never a password).
    pub previous: Option<Map<String, Value>>,
    /// The resource after the change, or the membership that changed.
    pub data: Value,
}

impl Draft {
    fn of(type_: EventType, s: &Subject<'_>, data: Value) -> Self {
        Self {
            type_,
            kind: s.kind,
            id: s.id.to_owned(),
            version: s.version,
            external_id: s.external_id.map(str::to_owned),
            changed: None,
            previous: None,
            data,
        }
    }
}

/// The `data` of a resource event: the stored document with its `id` and the `meta` a reader
/// compares (`version`, RFC 7644 §3.14, and `lastModified`). Never a password: stored documents
/// hold none (the hash is a column). A Group's members are not in it: each membership change is an
/// event of its own, so a group of 100,000 members does not put 100,000 ids in every rename.
fn resource_data(s: &Subject<'_>, doc: &Value) -> Value {
    let mut data = doc.as_object().cloned().unwrap_or_default();
    data.remove("password");
    data.remove("members");
    data.insert("id".into(), Value::String(s.id.to_owned()));
    data.insert(
        "meta".into(),
        json!({
            "resourceType": s.kind.as_str(),
            "lastModified": format_datetime(s.at),
            "version": format!("W/\"{}\"", s.version),
        }),
    );
    Value::Object(data)
}

fn membership(type_: EventType, s: &Subject<'_>, group: &str, member: &MemberRow) -> Draft {
    Draft::of(type_, s, json!({"group": group, "member": member.id, "member_type": member.kind.as_str()}))
}

fn member_events(s: &Subject<'_>, delta: &MemberDelta, out: &mut Vec<Draft>) {
    // Removals first: a replacement that swaps members reads as "left, then joined".
    for m in &delta.removed {
        out.push(membership(EventType::GroupMemberRemoved, s, s.id, m));
    }
    for m in &delta.added {
        out.push(membership(EventType::GroupMemberAdded, s, s.id, m));
    }
}

/// The events of a create: `user.created` or `group.created`, then one `group.member_added` per
/// initial member that was added.
#[must_use]
pub fn created(s: &Subject<'_>, doc: &Value, delta: &MemberDelta) -> Vec<Draft> {
    let type_ = match s.kind {
        ResourceKind::User => EventType::UserCreated,
        ResourceKind::Group => EventType::GroupCreated,
    };
    let mut out = vec![Draft::of(type_, s, resource_data(s, doc))];
    member_events(s, delta, &mut out);
    out
}

/// Whether a user counts as active: RFC 7643 §4.1.1 `active` "a Boolean value indicating the
/// User's administrative status"; a user without the attribute is not deactivated.
fn is_active(doc: &Value) -> bool {
    doc.get("active").and_then(Value::as_bool) != Some(false)
}

/// The events of an update (PUT or PATCH). `before` is the document the update was computed from
/// (the stored one: the store checked its version) and `after` the new one, when the document
/// changed; `before` alone when only the password did. One resource event when the document or
/// the password changed — `user.deactivated` / `user.reactivated` when `active` flipped, else
/// `user.updated` / `group.updated` — with `changed` and `previous`; then one event per membership
/// row changed. A write that changed nothing has no events.
#[must_use]
pub fn updated(
    s: &Subject<'_>,
    before: Option<&Value>,
    after: Option<&Value>,
    password_changed: bool,
    delta: &MemberDelta,
) -> Vec<Draft> {
    let mut out = Vec::new();
    if let Some(before) = before {
        let now = after.unwrap_or(before);
        let mut changes = if after.is_some() { diff(before, now) } else { Vec::new() };
        if password_changed {
            // Named, never valued: neither the password nor its hash appears in an event.
            changes.push(("password".to_owned(), None));
        }
        if !changes.is_empty() {
            let type_ = match (s.kind, is_active(before), is_active(now)) {
                (ResourceKind::User, true, false) => EventType::UserDeactivated,
                (ResourceKind::User, false, true) => EventType::UserReactivated,
                (ResourceKind::User, ..) => EventType::UserUpdated,
                (ResourceKind::Group, ..) => EventType::GroupUpdated,
            };
            let mut event = Draft::of(type_, s, resource_data(s, now));
            let mut previous = Map::new();
            let mut changed = Vec::with_capacity(changes.len());
            for (path, old) in changes {
                if let Some(old) = old {
                    previous.insert(path.clone(), old);
                }
                changed.push(path);
            }
            event.changed = Some(changed);
            event.previous = Some(previous);
            out.push(event);
        }
    }
    member_events(s, delta, &mut out);
    out
}

/// A group whose membership of the deleted resource ended, as it stands after the delete (its
/// version was incremented: its member list changed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndedMembership {
    /// The group's id.
    pub group: String,
    /// The group's version after the delete.
    pub version: i64,
    /// The group's externalId.
    pub external_id: Option<String>,
}

/// The events of a delete: one `group.member_removed` per group the resource belonged to (its
/// memberships end with it), then `user.deleted` / `group.deleted` with the resource as it was. A
/// deleted group's own members are not listed one by one: `group.deleted` ends them all.
#[must_use]
pub fn deleted(s: &Subject<'_>, doc: &Value, ended: &[EndedMembership]) -> Vec<Draft> {
    let mut out = Vec::with_capacity(ended.len() + 1);
    let member = MemberRow { id: s.id.to_owned(), kind: s.kind };
    for g in ended {
        let group = Subject {
            kind: ResourceKind::Group,
            id: &g.group,
            version: g.version,
            external_id: g.external_id.as_deref(),
            at: s.at,
        };
        out.push(membership(EventType::GroupMemberRemoved, &group, &g.group, &member));
    }
    let type_ = match s.kind {
        ResourceKind::User => EventType::UserDeleted,
        ResourceKind::Group => EventType::GroupDeleted,
    };
    out.push(Draft::of(type_, s, resource_data(s, doc)));
    out
}

/// The attribute paths whose values differ between two stored documents, each with its old value
/// (`None` when it had none), in a stable order. Paths use RFC 7644 §3.10's notation: `userName`,
/// a sub-attribute of a singular complex attribute as `name.givenName`, an extension's attribute
/// URN-qualified (`urn:…:enterprise:2.0:User:department`, its sub-attributes `…:manager.value`).
/// A multi-valued attribute is one path (`emails`): its values have no stable identity to name.
/// `schemas` follows from the attributes present and is not listed.
#[must_use]
pub fn diff(before: &Value, after: &Value) -> Vec<(String, Option<Value>)> {
    let mut out = Vec::new();
    diff_object(before.as_object(), after.as_object(), "", 0, &mut out);
    out
}

/// `depth` 0 is the document, 1 an extension's object or a complex attribute, 2 a complex
/// attribute of an extension: the deepest a SCIM attribute nests (RFC 7643 §2.4: sub-attributes
/// are not complex).
fn diff_object(
    before: Option<&Map<String, Value>>,
    after: Option<&Map<String, Value>>,
    prefix: &str,
    depth: usize,
    out: &mut Vec<(String, Option<Value>)>,
) {
    let empty = Map::new();
    let (b, a) = (before.unwrap_or(&empty), after.unwrap_or(&empty));
    let mut keys: Vec<&String> = b.keys().chain(a.keys().filter(|k| !b.contains_key(*k))).collect();
    keys.sort();
    for key in keys {
        if depth == 0 && key == "schemas" {
            continue;
        }
        let (old, new) = (b.get(key), a.get(key));
        if old == new {
            continue;
        }
        let extension = depth == 0 && key.starts_with("urn:");
        let path = match (depth, extension) {
            (0, _) => key.clone(),
            // Inside an extension: `urn:…:User:attr`.
            (1, _) if prefix.starts_with("urn:") => format!("{prefix}:{key}"),
            _ => format!("{prefix}.{key}"),
        };
        let objects = old.is_none_or(Value::is_object) && new.is_none_or(Value::is_object);
        if objects && depth < 2 && (extension || depth < 1 || prefix.starts_with("urn:")) {
            diff_object(
                old.and_then(Value::as_object),
                new.and_then(Value::as_object),
                &path,
                depth + 1,
                out,
            );
        } else {
            out.push((path, old.cloned()));
        }
    }
}

/// A numbered event as a backend stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRow {
    /// Per-tenant sequence number.
    pub seq: i64,
    /// UUIDv7.
    pub id: String,
    /// The type's wire name.
    pub type_: &'static str,
    /// The resource's id.
    pub resource_id: String,
    /// When (RFC 3339, the store's text form).
    pub occurred_at: String,
    /// The whole event as JSON text (docs/events.md, "Event").
    pub body: String,
}

/// Numbers `drafts` from `first_seq` and renders each body. `ids` mints the UUIDv7 event ids.
#[must_use]
pub fn seal(
    ctx: &WriteContext,
    drafts: Vec<Draft>,
    first_seq: i64,
    at: OffsetDateTime,
    mut ids: impl FnMut() -> Uuid,
) -> Vec<EventRow> {
    let occurred_at = format_datetime(at);
    drafts
        .into_iter()
        .zip(first_seq..)
        .map(|(d, seq)| {
            let id = ids().to_string();
            let mut resource = json!({"type": d.kind.as_str(), "id": d.id, "version": d.version});
            if let (Some(e), Some(obj)) = (&d.external_id, resource.as_object_mut()) {
                obj.insert("externalId".into(), Value::String(e.clone()));
            }
            let mut body = Map::new();
            body.insert("id".into(), Value::String(id.clone()));
            body.insert("seq".into(), Value::String(seq.to_string()));
            body.insert("type".into(), Value::String(d.type_.as_str().to_owned()));
            body.insert("tenant".into(), Value::String(ctx.tenant_slug.clone()));
            body.insert("occurred_at".into(), Value::String(occurred_at.clone()));
            body.insert("resource".into(), resource);
            if let Some(changed) = d.changed {
                body.insert("changed".into(), changed.into());
            }
            if let Some(previous) = d.previous {
                body.insert("previous".into(), Value::Object(previous));
            }
            body.insert("data".into(), d.data);
            body.insert("request_id".into(), ctx.request_id.clone().map_or(Value::Null, Value::String));
            body.insert("client".into(), json!({"name": ctx.actor, "kind": ctx.client}));
            EventRow {
                seq,
                id,
                type_: d.type_.as_str(),
                resource_id: d.id,
                occurred_at: occurred_at.clone(),
                body: Value::Object(body).to_string(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use scimd_schema::patch::MemberRef;

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn subject(kind: ResourceKind) -> Subject<'static> {
        Subject { kind, id: "r1", version: 4, external_id: Some("ext"), at: OffsetDateTime::UNIX_EPOCH }
    }

    fn user(id: &str) -> MemberRow {
        MemberRow { id: id.to_owned(), kind: ResourceKind::User }
    }

    fn types(drafts: &[Draft]) -> Vec<&'static str> {
        drafts.iter().map(|d| d.type_.as_str()).collect()
    }

    fn refs(ids: &[&str]) -> Vec<MemberRef> {
        ids.iter().map(|v| MemberRef { value: (*v).to_owned(), type_: None, display: None }).collect()
    }

    #[test]
    fn member_changes_become_storage_operations() {
        let ops = member_ops(vec![
            MemberChange::RemoveAll,
            MemberChange::Add(refs(&["a", "b"])),
            MemberChange::Remove(vec!["a".into()]),
            MemberChange::RemoveAll,
            MemberChange::Add(refs(&["c"])),
            MemberChange::RemoveAll,
        ]);
        assert_eq!(
            ops,
            [
                MemberOp::Set(vec!["a".into(), "b".into()]),
                MemberOp::Remove(vec!["a".into()]),
                MemberOp::Set(vec!["c".into()]),
                MemberOp::Set(Vec::new()),
            ]
        );
        assert_eq!(member_ops(vec![MemberChange::Add(refs(&["d"]))]), [MemberOp::Add(vec!["d".into()])]);
        assert!(heavy(&[MemberOp::Set(Vec::new())]));
        assert!(!heavy(&[MemberOp::Add(vec!["x".into(); HEAVY_ROWS])]));
        assert!(heavy(&[MemberOp::Add(vec!["x".into(); HEAVY_ROWS]), MemberOp::Remove(vec!["y".into()])]));
    }

    #[test]
    fn active_flips_are_deactivations_and_reactivations() {
        let s = subject(ResourceKind::User);
        let on = json!({"userName": "a", "active": true});
        let off = json!({"userName": "a", "active": false});
        let none = MemberDelta::default();
        let d = updated(&s, Some(&on), Some(&off), false, &none);
        assert_eq!(types(&d), ["user.deactivated"]);
        assert_eq!(d[0].changed.as_deref(), Some(&["active".to_owned()][..]));
        assert_eq!(d[0].previous.as_ref().and_then(|p| p.get("active")), Some(&json!(true)));
        assert_eq!(types(&updated(&s, Some(&off), Some(&on), false, &none)), ["user.reactivated"]);
        // Removing `active` from an inactive user re-activates it; other changes are updates.
        let removed = json!({"userName": "a"});
        assert_eq!(types(&updated(&s, Some(&off), Some(&removed), false, &none)), ["user.reactivated"]);
        let renamed = json!({"userName": "b", "active": true});
        assert_eq!(types(&updated(&s, Some(&on), Some(&renamed), false, &none)), ["user.updated"]);
        // A group's `active`-like attribute does not exist: any change is group.updated.
        let g = subject(ResourceKind::Group);
        let (g1, g2) = (json!({"displayName": "x"}), json!({"displayName": "y"}));
        assert_eq!(types(&updated(&g, Some(&g1), Some(&g2), false, &none)), ["group.updated"]);
    }

    #[test]
    fn a_no_op_has_no_events_and_a_password_is_named_never_valued() {
        let s = subject(ResourceKind::User);
        let doc = json!({"userName": "a", "active": true});
        assert!(updated(&s, Some(&doc), Some(&doc), false, &MemberDelta::default()).is_empty());
        assert!(updated(&s, None, None, false, &MemberDelta::default()).is_empty());
        let d = updated(&s, Some(&doc), None, true, &MemberDelta::default());
        assert_eq!(types(&d), ["user.updated"]);
        assert_eq!(d[0].changed.as_deref(), Some(&["password".to_owned()][..]));
        assert_eq!(d[0].previous.as_ref().map(Map::len), Some(0));
        let secret = json!({"userName": "a", "password": "hunter2"});
        let text = format!("{:?}", updated(&s, Some(&doc), Some(&secret), true, &MemberDelta::default()));
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn paths_follow_rfc_7644_attribute_notation() {
        let before = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "a", "name": {"givenName": "A", "familyName": "F"},
            "emails": [{"value": "a@x", "type": "work"}],
        });
        let after = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
            "userName": "a", "name": {"givenName": "B", "familyName": "F"},
            "emails": [{"value": "b@x", "type": "work"}],
            ENTERPRISE: {"department": "R&D", "manager": {"value": "m1"}},
        });
        let paths: Vec<(String, Option<Value>)> = diff(&before, &after);
        let names: Vec<&str> = paths.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            names,
            [
                "emails",
                "name.givenName",
                &format!("{ENTERPRISE}:department"),
                &format!("{ENTERPRISE}:manager.value"),
            ]
        );
        assert_eq!(paths[0].1, Some(json!([{"value": "a@x", "type": "work"}])));
        assert_eq!(paths[1].1, Some(json!("A")));
        assert_eq!(paths[2].1, None, "an attribute that had no value has no previous value");
        // A complex attribute removed whole lists each sub-attribute it had.
        let gone = diff(&after, &before);
        assert!(
            gone.iter().any(|(p, v)| p == &format!("{ENTERPRISE}:department") && v == &Some(json!("R&D")))
        );
    }

    #[test]
    fn membership_events_are_one_per_row_removals_first() {
        let g = subject(ResourceKind::Group);
        let delta = MemberDelta {
            added: vec![user("u2"), MemberRow { id: "g9".into(), kind: ResourceKind::Group }],
            removed: vec![user("u1")],
        };
        let d = updated(&g, None, None, false, &delta);
        assert_eq!(types(&d), ["group.member_removed", "group.member_added", "group.member_added"]);
        assert_eq!(d[2].data, json!({"group": "r1", "member": "g9", "member_type": "Group"}));
        assert!(d.iter().all(|e| e.version == 4 && e.id == "r1"));
        let created = created(&g, &json!({"displayName": "x"}), &delta);
        assert_eq!(types(&created)[0], "group.created");
        assert_eq!(created.len(), 4);
        assert_eq!(created[0].data.get("members"), None);
    }

    #[test]
    fn a_delete_ends_memberships_before_the_resource() {
        let s = subject(ResourceKind::User);
        let ended = [
            EndedMembership { group: "g1".into(), version: 8, external_id: None },
            EndedMembership { group: "g2".into(), version: 3, external_id: Some("e".into()) },
        ];
        let d = deleted(&s, &json!({"userName": "a"}), &ended);
        assert_eq!(types(&d), ["group.member_removed", "group.member_removed", "user.deleted"]);
        assert_eq!((d[1].id.as_str(), d[1].version, d[1].external_id.as_deref()), ("g2", 3, Some("e")));
        assert_eq!(d[1].data, json!({"group": "g2", "member": "r1", "member_type": "User"}));
        assert_eq!(d[2].data.get("userName"), Some(&json!("a")));
    }

    #[test]
    fn sealed_events_carry_the_contract_fields() {
        let ctx = WriteContext {
            tenant: Uuid::nil(),
            tenant_slug: "acme".into(),
            actor: "entra".into(),
            client: "entra".into(),
            request_id: Some("req-1".into()),
            refuse_unknown_members: false,
        };
        let s = subject(ResourceKind::User);
        let drafts = created(&s, &json!({"userName": "a"}), &MemberDelta::default());
        let mut n = 0u128;
        let rows = seal(&ctx, drafts, 41, OffsetDateTime::UNIX_EPOCH, || {
            n += 1;
            Uuid::from_u128(n)
        });
        assert_eq!(rows.len(), 1);
        let body: Value = serde_json::from_str(&rows[0].body).unwrap_or_default();
        assert_eq!(body["seq"], json!("41"));
        assert_eq!(body["type"], json!("user.created"));
        assert_eq!(body["tenant"], json!("acme"));
        assert_eq!(body["resource"], json!({"type": "User", "id": "r1", "version": 4, "externalId": "ext"}));
        assert_eq!(body["data"]["id"], json!("r1"));
        assert_eq!(body["data"]["meta"]["version"], json!("W/\"4\""));
        assert_eq!(body["request_id"], json!("req-1"));
        assert_eq!(body["client"], json!({"name": "entra", "kind": "entra"}));
        assert_eq!(body["occurred_at"], json!("1970-01-01T00:00:00.000Z"));
        assert_eq!(body.get("changed"), None);
    }
}
