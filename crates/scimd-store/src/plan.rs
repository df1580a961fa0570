//! The write plan: what a write means, decided once for every backend.
//!
//! A backend executes statements; this module says which, and what they mean for the event log.
//! The HTTP layer's PATCH and PUT results arrive as [`crate::Update`]; [`member_ops`] turns the
//! PATCH engine's member changes into storage operations ([`MemberOp`]), and the functions
//! [`created`], [`updated`] and [`deleted`] compute a write's events from the documents before and
//! after it and from the membership rows the backend reports it changed ([`MemberDelta`]).
//! [`seal`] numbers them and renders their bodies (docs/events.md, "Event"). All pure: the unit
//! tests below need no database.

use serde::Serialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use scimd_filter::Filter;
use scimd_schema::patch::MemberChange;
use scimd_schema::value::format_datetime;

use crate::error::{Result, StoreError};
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
    /// `meta.lastModified` after the change.
    pub last_modified: OffsetDateTime,
    /// The attribute paths that changed (updates only).
    pub changed: Option<Vec<String>>,
    /// The old values of the changed paths (updates only; never a password).
    pub previous: Option<Map<String, Value>>,
    /// What the event's `data` is.
    pub data: Data,
}

/// An event's `data`.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// The resource after the change (as it was, for a deletion): the write's [`Document`] with
    /// its `id` and the `meta` a reader compares (`version`, RFC 7644 §3.14, and `lastModified`),
    /// rendered by [`seal`]. Never a password: stored documents hold none (the hash is a
    /// column). A Group's members are not in it: each membership change is an event of its own,
    /// so a group of 100,000 members does not put 100,000 ids in every rename.
    Resource,
    /// The membership that changed: `{"group", "member", "member_type"}`.
    Membership(Value),
}

impl Draft {
    fn of(type_: EventType, s: &Subject<'_>, data: Data) -> Self {
        Self {
            type_,
            kind: s.kind,
            id: s.id.to_owned(),
            version: s.version,
            external_id: s.external_id.map(str::to_owned),
            last_modified: s.at,
            changed: None,
            previous: None,
            data,
        }
    }
}

fn membership(type_: EventType, s: &Subject<'_>, group: &str, member: &MemberRow) -> Draft {
    let data = json!({"group": group, "member": member.id, "member_type": member.kind.as_str()});
    Draft::of(type_, s, Data::Membership(data))
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
pub fn created(s: &Subject<'_>, delta: &MemberDelta) -> Vec<Draft> {
    let type_ = match s.kind {
        ResourceKind::User => EventType::UserCreated,
        ResourceKind::Group => EventType::GroupCreated,
    };
    let mut out = vec![Draft::of(type_, s, Data::Resource)];
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
            let mut event = Draft::of(type_, s, Data::Resource);
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
pub fn deleted(s: &Subject<'_>, ended: &[EndedMembership]) -> Vec<Draft> {
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
    out.push(Draft::of(type_, s, Data::Resource));
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
    /// Per-tenant sequence number; `None` for a placeholder ([`EventNumbers::Placeholders`]).
    pub seq: Option<i64>,
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

/// The document a write's resource events carry ([`Data::Resource`]): its value, and the JSON
/// text the write stores when it has it, so that a create or an update serialises its document
/// once for the row and the event alike.
#[derive(Clone, Copy, Debug)]
pub struct Document<'a> {
    /// The document.
    pub value: &'a Value,
    /// `value` as compact JSON text, when the write has it.
    pub text: Option<&'a str>,
}

/// Top-level keys a resource event's `data` does not take from the document: `id` and `meta` are
/// the event's own, and a password or a Group's members never appear (see [`Data::Resource`]).
const NOT_DATA: [&str; 4] = ["id", "meta", "password", "members"];

/// The fields of an event body other than `data` (docs/events.md, "Event").
#[derive(Serialize)]
struct Head<'a> {
    /// First, so that a number given after the commit is written as `{"seq":"N",` + the rest.
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<String>,
    id: &'a str,
    #[serde(rename = "type")]
    type_: &'a str,
    tenant: &'a str,
    occurred_at: &'a str,
    resource: ResourceRef<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    changed: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous: Option<&'a Map<String, Value>>,
    request_id: Option<&'a str>,
    client: Client<'a>,
}

#[derive(Serialize)]
struct ResourceRef<'a> {
    #[serde(rename = "type")]
    type_: &'a str,
    id: &'a str,
    version: i64,
    #[serde(rename = "externalId", skip_serializing_if = "Option::is_none")]
    external_id: Option<&'a str>,
}

#[derive(Serialize)]
struct Client<'a> {
    name: &'a str,
    kind: &'a str,
}

#[derive(Serialize)]
struct Meta<'a> {
    #[serde(rename = "resourceType")]
    resource_type: &'a str,
    #[serde(rename = "lastModified")]
    last_modified: &'a str,
    version: String,
}

fn json_to(out: &mut Vec<u8>, value: &impl Serialize) -> Result<()> {
    serde_json::to_writer(out, value)
        .map_err(|e| StoreError::Internal(format!("an event does not render: {e}")))
}

/// `data` of a [`Data::Resource`] event: `{"id", "meta", …the document's attributes}`.
fn resource_data(out: &mut Vec<u8>, d: &Draft, doc: Document<'_>) -> Result<()> {
    out.extend_from_slice(b"{\"id\":");
    json_to(out, &d.id)?;
    out.extend_from_slice(b",\"meta\":");
    let last_modified = format_datetime(d.last_modified);
    let version = format!("W/\"{}\"", d.version);
    json_to(out, &Meta { resource_type: d.kind.as_str(), last_modified: &last_modified, version })?;
    let Some(attrs) = doc.value.as_object() else {
        out.push(b'}');
        return Ok(());
    };
    match doc.text.and_then(|t| t.strip_prefix('{')?.strip_suffix('}')) {
        // The stored text already is the attributes: spliced after ours, not serialised again.
        // Only when it has none of the keys `data` leaves out.
        Some(inner) if !NOT_DATA.iter().any(|k| attrs.contains_key(*k)) => {
            if !inner.trim().is_empty() {
                out.push(b',');
                out.extend_from_slice(inner.as_bytes());
            }
        }
        _ => {
            for (k, v) in attrs.iter().filter(|(k, _)| !NOT_DATA.contains(&k.as_str())) {
                out.push(b',');
                json_to(out, k)?;
                out.push(b':');
                json_to(out, v)?;
            }
        }
    }
    out.push(b'}');
    Ok(())
}

/// How a write's events are numbered (`crate::write::Tx::event_numbers`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventNumbers {
    /// Final: the events are `seq` `first`, `first + 1`, …, and their bodies say so.
    From(i64),
    /// Placeholders: each event's `seq` is this SQL expression, evaluated once per inserted row in
    /// the order of the rows (the negated `nextval` of a sequence). Negative, so no reader of
    /// `seq > N` (N ≥ 0) sees them; the backend gives each its final number after the commit, in
    /// placeholder order, and writes `"seq"` into its body then (PostgreSQL's `sequencer.rs`).
    Placeholders(&'static str),
}

/// Numbers `drafts` as `numbers` says and renders each body; `doc` is the write's document (see
/// [`Data::Resource`]). `ids` mints the UUIDv7 event ids. A body has `"seq"` only when its number
/// is final; a placeholder's is written when the backend numbers it (`"seq"` comes first in the
/// body so that it can be, without parsing the rest).
///
/// # Errors
/// [`StoreError::Internal`] if a body does not render (a document that is not JSON text).
pub fn seal(
    ctx: &WriteContext,
    drafts: Vec<Draft>,
    numbers: EventNumbers,
    at: OffsetDateTime,
    doc: Document<'_>,
    mut ids: impl FnMut() -> Uuid,
) -> Result<Vec<EventRow>> {
    let mut next = match numbers {
        EventNumbers::From(first) => Some(first),
        EventNumbers::Placeholders(_) => None,
    };
    let occurred_at = format_datetime(at);
    let mut rows = Vec::with_capacity(drafts.len());
    for d in drafts {
        let id = ids().to_string();
        let seq = next;
        next = next.map(|n| n + 1);
        let head = Head {
            seq: seq.map(|n| n.to_string()),
            id: &id,
            type_: d.type_.as_str(),
            tenant: &ctx.tenant_slug,
            occurred_at: &occurred_at,
            resource: ResourceRef {
                type_: d.kind.as_str(),
                id: &d.id,
                version: d.version,
                external_id: d.external_id.as_deref(),
            },
            changed: d.changed.as_deref(),
            previous: d.previous.as_ref(),
            request_id: ctx.request_id.as_deref(),
            client: Client { name: &ctx.actor, kind: &ctx.client },
        };
        let mut body = Vec::with_capacity(512 + doc.text.map_or(0, str::len));
        json_to(&mut body, &head)?;
        // `{…}` of the head, then `"data"` as its last member.
        body.pop();
        body.extend_from_slice(b",\"data\":");
        match &d.data {
            Data::Resource => resource_data(&mut body, &d, doc)?,
            Data::Membership(m) => json_to(&mut body, m)?,
        }
        body.push(b'}');
        let body = String::from_utf8(body)
            .map_err(|e| StoreError::Internal(format!("an event is not UTF-8: {e}")))?;
        rows.push(EventRow {
            seq,
            id,
            type_: d.type_.as_str(),
            resource_id: d.id,
            occurred_at: occurred_at.clone(),
            body,
        });
    }
    Ok(rows)
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

    fn ctx() -> WriteContext {
        WriteContext {
            tenant: Uuid::nil(),
            tenant_slug: "acme".into(),
            actor: "entra".into(),
            client: "entra".into(),
            request_id: Some("req-1".into()),
            refuse_unknown_members: false,
        }
    }

    /// The bodies `seal` renders for `drafts` of a write whose document is `doc` (its `text`).
    fn render(drafts: Vec<Draft>, doc: &Value, text: Option<&str>) -> Vec<Value> {
        let mut n = 0u128;
        let rows = seal(
            &ctx(),
            drafts,
            EventNumbers::From(41),
            OffsetDateTime::UNIX_EPOCH,
            Document { value: doc, text },
            || {
                n += 1;
                Uuid::from_u128(n)
            },
        )
        .unwrap();
        rows.iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect()
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
        assert_eq!(
            d[2].data,
            Data::Membership(json!({"group": "r1", "member": "g9", "member_type": "Group"}))
        );
        assert!(d.iter().all(|e| e.version == 4 && e.id == "r1"));
        let created = created(&g, &delta);
        assert_eq!(types(&created)[0], "group.created");
        assert_eq!(created.len(), 4);
        let doc = json!({"displayName": "x", "members": [{"value": "u2"}]});
        let bodies = render(created, &doc, None);
        assert_eq!(bodies[0]["data"].get("members"), None);
        assert_eq!(bodies[0]["data"]["displayName"], json!("x"));
    }

    #[test]
    fn a_delete_ends_memberships_before_the_resource() {
        let s = subject(ResourceKind::User);
        let ended = [
            EndedMembership { group: "g1".into(), version: 8, external_id: None },
            EndedMembership { group: "g2".into(), version: 3, external_id: Some("e".into()) },
        ];
        let d = deleted(&s, &ended);
        assert_eq!(types(&d), ["group.member_removed", "group.member_removed", "user.deleted"]);
        assert_eq!((d[1].id.as_str(), d[1].version, d[1].external_id.as_deref()), ("g2", 3, Some("e")));
        assert_eq!(
            d[1].data,
            Data::Membership(json!({"group": "g2", "member": "r1", "member_type": "User"}))
        );
        assert_eq!(d[2].data, Data::Resource);
        let bodies = render(d, &json!({"userName": "a"}), None);
        assert_eq!(bodies[2]["data"]["userName"], json!("a"));
    }

    #[test]
    fn sealed_events_carry_the_contract_fields() {
        let s = subject(ResourceKind::User);
        let drafts = created(&s, &MemberDelta::default());
        let bodies = render(drafts, &json!({"userName": "a"}), None);
        assert_eq!(bodies.len(), 1);
        let body = &bodies[0];
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
        assert_eq!(body["data"]["meta"]["lastModified"], json!("1970-01-01T00:00:00.000Z"));
        assert_eq!(body["data"]["meta"]["resourceType"], json!("User"));
    }

    /// The stored text is spliced into `data` when it can be, and the result is exactly the
    /// document rendered from its value; a document holding a key `data` leaves out is rendered
    /// from its value, without that key, whatever text comes with it.
    #[test]
    fn resource_data_from_the_stored_text_is_the_document_rendered() {
        let s = subject(ResourceKind::User);
        let docs = [
            json!({"userName": "a", "name": {"givenName": "\u{e9}\"q"}, "emails": [{"value": "a@x"}]}),
            json!({}),
            json!({"userName": "a", "password": "hunter2", "id": "forged", "meta": {"version": "W/\"99\""}}),
            json!({"displayName": "g", "members": [{"value": "u1"}]}),
        ];
        for doc in &docs {
            let text = doc.to_string();
            let drafts = created(&s, &MemberDelta::default());
            let spliced = render(drafts.clone(), doc, Some(&text));
            let rendered = render(drafts, doc, None);
            assert_eq!(spliced, rendered, "{doc}");
            let data = &spliced[0]["data"];
            assert_eq!(data["id"], json!("r1"), "{doc}");
            assert_eq!(data["meta"]["version"], json!("W/\"4\""), "{doc}");
            for key in ["password", "members"] {
                assert_eq!(data.get(key), None, "{doc}");
            }
            let attrs = doc.as_object().unwrap().iter().filter(|(k, _)| !NOT_DATA.contains(&k.as_str()));
            for (k, v) in attrs {
                assert_eq!(&data[k], v, "{doc}");
            }
            assert!(!spliced[0].to_string().contains("hunter2"));
        }
    }
}
