//! SCIM events as Security Event Tokens: RFC 9967 ("SCIM Profile for Security Event Tokens")
//! events in RFC 8417 SETs, for delivery by HTTP push (RFC 8935).
//!
//! [`set_claims`] turns one scimd event (docs/events.md) into the JWT claims of one SET;
//! [`sign_set`] signs them as a JWS with the server's signing key. The push itself is an HTTP
//! POST of the compact JWS with [`CONTENT_TYPE`] and [`ACCEPT`]; [`PushError`] reads a refusal.
//!
//! # The mapping
//!
//! | scimd event | SET events (RFC 9967) | payload, [`Mode::Full`] | payload, [`Mode::Notice`] |
//! |---|---|---|---|
//! | `user.created`, `group.created` | `prov:create:full` / `:notice` (§2.4.1) | `data`: the resource, `version` | `attributes`: its attribute names, `version` |
//! | `user.updated`, `group.updated` | `prov:put:full` / `:notice` (§2.4.3) | `data`: the resource after, `version` | `attributes`: `changed`, `version` |
//! | `user.deactivated` | `prov:deactivate` (§2.4.6) and the `prov:put` event above | as `user.updated` | as `user.updated` |
//! | `user.reactivated` | `prov:activate` (§2.4.5) and the `prov:put` event above | as `user.updated` | as `user.updated` |
//! | `user.deleted`, `group.deleted` | `prov:delete` (§2.4.4) | none | none |
//! | `group.member_added`, `group.member_removed` | `prov:patch:full` / `:notice` (§2.4.2), on the Group | `data`: the `PatchOp` adding or removing the member, `version` | `attributes`: `["members"]`, `version` |
//!
//! Why `put` for updates: scimd's event records the resource after the change, not the request
//! that changed it. RFC 9967 §2.2 defines `data` as "the equivalent SCIM command processed by the
//! SCIM Service Provider", and §2.4.3 puts "the SCIM PUT request body" in a `put:full` event's
//! `data`; the final representation *is* a PUT body that is equivalent to whatever PATCH or PUT
//! produced it, whereas a `patch:full` event carries a `PatchOp` (§2.4.2, Figure 6), which scimd
//! does not keep. A receiver that applies the event as a replacement reaches the same state.
//!
//! Why `patch` for membership: a membership change is exactly one PATCH operation on the Group's
//! `members` (RFC 7644 §3.5.2), which scimd can state precisely, as Figure 6 of RFC 9967 does for
//! an added member; in notice mode it is Figure 7, `"attributes": ["members"]`. §5 recommends
//! PATCH events over PUT for large groups, since a PUT body would carry every member. scimd emits
//! one event per member, so one SET names one member.
//!
//! Why deactivation carries two events: RFC 9967 §2.1 "A SET with multiple event URIs indicates
//! that the events arise from the same transaction or resource state change for a single resource
//! or subject". `prov:deactivate` (§2.4.6, "Typically, this means the subject may no longer have
//! an active security session") is the signal a receiver acts on; the `prov:put` event beside it
//! carries the state (`active: false`, and any other attribute the same write changed).

use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::EventsError;

/// RFC 9967 §7.4: the event URIs this module emits.
pub mod uri {
    /// §2.4.1, with `data`.
    pub const CREATE_FULL: &str = "urn:ietf:params:scim:event:prov:create:full";
    /// §2.4.1, with `attributes`.
    pub const CREATE_NOTICE: &str = "urn:ietf:params:scim:event:prov:create:notice";
    /// §2.4.2, with `data`.
    pub const PATCH_FULL: &str = "urn:ietf:params:scim:event:prov:patch:full";
    /// §2.4.2, with `attributes`.
    pub const PATCH_NOTICE: &str = "urn:ietf:params:scim:event:prov:patch:notice";
    /// §2.4.3, with `data`.
    pub const PUT_FULL: &str = "urn:ietf:params:scim:event:prov:put:full";
    /// §2.4.3, with `attributes`.
    pub const PUT_NOTICE: &str = "urn:ietf:params:scim:event:prov:put:notice";
    /// §2.4.4: no payload, and "the qualifiers 'full' and 'notice' SHALL NOT be used".
    pub const DELETE: &str = "urn:ietf:params:scim:event:prov:delete";
    /// §2.4.5.
    pub const ACTIVATE: &str = "urn:ietf:params:scim:event:prov:activate";
    /// §2.4.6.
    pub const DEACTIVATE: &str = "urn:ietf:params:scim:event:prov:deactivate";
}

/// RFC 8935 §2.1: a SET is pushed with `Content-Type: application/secevent+jwt` (the media type
/// RFC 8417 §7.2 registers).
pub const CONTENT_TYPE: &str = "application/secevent+jwt";
/// RFC 8935 §2.1: the push request's `Accept`, the media type of an error response (§2.3).
pub const ACCEPT: &str = "application/json";
/// RFC 8417 §2.3: "the 'typ' value used SHOULD be 'secevent+jwt'" — the explicit type keeps a SET
/// from being mistaken for one of scimd's access tokens (`at+jwt`) signed with the same keys.
pub const TYP: &str = "secevent+jwt";
/// The JWS algorithm: the one scimd's signing keys use (Ed25519, RFC 8037).
pub const ALG: jsonwebtoken::Algorithm = jsonwebtoken::Algorithm::EdDSA;

/// RFC 7644 §3.5.2: the schema of a PATCH request body.
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Which of the two payloads of RFC 9967 §2.4 a receiver gets.
///
/// RFC 9967 §2.4: "when the 'data' payload attribute is included, the event URI MUST end with
/// 'full', otherwise the event URI ends with 'notice'", and "Exactly one of the payload attributes
/// 'data' or 'attributes', MUST be present".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// The values: Domain Based Replication (RFC 9967 §1.3, Appendix A.1), no callback needed.
    #[default]
    Full,
    /// Only which attributes changed: Co-ordinated Provisioning (RFC 9967 §1.3, Appendix A.2);
    /// the receiver reads the resource back with a SCIM GET when it needs the values, so
    /// personal data crosses only when the receiver is authorized to fetch it.
    Notice,
}

/// The claims of the SET for one scimd event.
///
/// - `issuer` (`iss`, RFC 8417 §2.2): this server's issuer identifier, the one its JWK Set is
///   published under, so a receiver finds the key that verifies the SET.
/// - `audience` (`aud`, RFC 8417 §2.2): the receiver, as configured for the endpoint.
/// - `scim_base`: the tenant's SCIM base URL, used for the `$ref` of a member in a membership
///   PATCH, as scimd writes it in its own responses.
/// - `now` (`iat`, RFC 8417 §2.2): when the SET is issued, in Unix seconds.
///
/// The other claims:
/// - `jti` (RFC 7519 §4.1.7): derived from the event id and the audience, so a retry of one event
///   to one receiver carries the same `jti` (the receiver can discard a duplicate) while the
///   copies of an event sent to two receivers, different tokens, differ.
/// - `txn` (RFC 9967 §2.2, RFC 8417 §2.2): the write's request id, shared by every event that one
///   write produced ("a common 'txn' value" for the SETs of one transaction); the event id when
///   the event has no request id.
/// - `toe` (RFC 8417 §2.2): `occurred_at`, the time of the change.
/// - `sub_id` (RFC 9967 §2.1): `{"format": "scim", "uri": "/Users/{id}", "externalId"?}`; RFC 9967
///   §2.1 says "The JWT 'sub' claim MUST NOT be used", so there is none.
/// - no `exp`: RFC 8417 §2.2 marks it "NOT RECOMMENDED" for SETs, since a SET states something
///   that has already happened rather than a grant that runs out.
///
/// # Errors
/// [`EventsError::Event`] when the event lacks `id`, `type`, `resource.type`/`id`/`version`, or
/// the `data` its type needs, when `occurred_at` is not RFC 3339, or for a type with no SCIM
/// event (such as a webhook `ping`).
pub fn set_claims(
    event: &Value,
    issuer: &str,
    audience: &str,
    scim_base: &str,
    mode: Mode,
    now: i64,
) -> Result<Value, EventsError> {
    let event_id = string(event, "id")?;
    let type_name = string(event, "type")?;
    let resource = event.get("resource").ok_or_else(|| missing("resource"))?;
    let resource_type = string(resource, "type").map_err(|_| missing("resource.type"))?;
    let resource_id = string(resource, "id").map_err(|_| missing("resource.id"))?;
    let endpoint = endpoint(resource_type)?;

    let mut claims = Map::new();
    claims.insert("iss".into(), issuer.into());
    claims.insert("aud".into(), audience.into());
    claims.insert("iat".into(), now.into());
    claims.insert("jti".into(), jti(event_id, audience).into());
    let txn = event.get("request_id").and_then(Value::as_str).filter(|s| !s.is_empty()).unwrap_or(event_id);
    claims.insert("txn".into(), txn.into());
    if let Some(at) = event.get("occurred_at") {
        let at = at
            .as_str()
            .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
            .ok_or_else(|| EventsError::Event(format!("occurred_at is not an RFC 3339 timestamp: {at}")))?;
        claims.insert("toe".into(), at.unix_timestamp().into());
    }

    // RFC 9967 §2.1: "uri … The SCIM relative path for the resource which usually consists of the
    // resource type endpoint plus the resource 'id'" (MUST), and "externalId … If known".
    let mut sub_id = Map::new();
    sub_id.insert("format".into(), "scim".into());
    sub_id.insert("uri".into(), format!("/{endpoint}/{resource_id}").into());
    if let Some(external_id) = resource.get("externalId").and_then(Value::as_str) {
        sub_id.insert("externalId".into(), external_id.into());
    }
    claims.insert("sub_id".into(), Value::Object(sub_id));

    let events = match type_name {
        "user.created" | "group.created" => {
            let data = data_object(event)?;
            let payload = match mode {
                Mode::Full => json!({"version": version(resource)?, "data": data}),
                // Figure 5 lists what the resource has, `id` included; `schemas` and `meta` are
                // the server's framing, not attributes the client set.
                Mode::Notice => {
                    let names: Vec<&str> = data
                        .keys()
                        .map(String::as_str)
                        .filter(|k| !matches!(*k, "schemas" | "meta"))
                        .collect();
                    json!({"version": version(resource)?, "attributes": names})
                }
            };
            let uri = match mode {
                Mode::Full => uri::CREATE_FULL,
                Mode::Notice => uri::CREATE_NOTICE,
            };
            single(uri, payload)
        }
        "user.updated" | "group.updated" => single_put(put(event, resource, mode)?, mode),
        "user.deactivated" | "user.reactivated" => {
            let signal = if type_name == "user.deactivated" { uri::DEACTIVATE } else { uri::ACTIVATE };
            let mut events = single_put(put(event, resource, mode)?, mode);
            // §2.4.5 and §2.4.6 define no payload attributes (Figure 11: `{}`).
            events.insert(signal.into(), json!({}));
            events
        }
        // §2.4.4: "A delete event has no payload attributes."
        "user.deleted" | "group.deleted" => single(uri::DELETE, json!({})),
        "group.member_added" | "group.member_removed" => {
            let (uri, payload) = match mode {
                Mode::Full => {
                    let op = member_op(event, type_name == "group.member_added", scim_base)?;
                    let data = json!({"schemas": [PATCH_OP], "Operations": [op]});
                    (uri::PATCH_FULL, json!({"version": version(resource)?, "data": data}))
                }
                Mode::Notice => {
                    (uri::PATCH_NOTICE, json!({"version": version(resource)?, "attributes": ["members"]}))
                }
            };
            single(uri, payload)
        }
        other => return Err(EventsError::Event(format!("no RFC 9967 event for type {other:?}"))),
    };
    claims.insert("events".into(), Value::Object(events));
    Ok(Value::Object(claims))
}

/// Signs SET claims as a compact JWS with the server's Ed25519 key.
///
/// The header is `{"alg": "EdDSA", "typ": "secevent+jwt", "kid": kid}`: [`TYP`] per RFC 8417
/// §2.3, and the `kid` of the key in the server's JWK Set, so a receiver picks the verifying key
/// without trying each (RFC 7515 §4.1.4). RFC 9967 §5: receivers "MUST verify the originator of a
/// SET using JWS signatures when the Event Publisher is not communicating directly with the Event
/// Receiver".
///
/// # Errors
/// [`EventsError::Sign`] when the key is not an Ed25519 key.
pub fn sign_set(claims: &Value, kid: &str, key: &jsonwebtoken::EncodingKey) -> Result<String, EventsError> {
    let mut header = jsonwebtoken::Header::new(ALG);
    header.typ = Some(TYP.to_owned());
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, key).map_err(EventsError::Sign)
}

/// A receiver's refusal of a pushed SET: RFC 8935 §2.3, a `400 Bad Request` whose JSON body has
/// `err` (one of the codes of §2.4, such as `invalid_request` or `authentication_failed`) and
/// `description`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushError {
    /// The error code (RFC 8935 §2.4).
    pub err: String,
    /// The human-readable description, if the receiver gave one.
    pub description: Option<String>,
}

impl PushError {
    /// Reads the body of a failed push; `None` when it is not the JSON object §2.3 describes
    /// (the delivery log then keeps the status alone).
    #[must_use]
    pub fn parse(body: &[u8]) -> Option<Self> {
        let v: Value = serde_json::from_slice(body).ok()?;
        let err = v.get("err")?.as_str()?.to_owned();
        let description = v.get("description").and_then(Value::as_str).map(str::to_owned);
        Some(Self { err, description })
    }
}

/// Whether a push response status means the receiver took the SET.
///
/// RFC 8935 §2.2: "the SET Recipient SHALL acknowledge successful transmission by responding with
/// HTTP Response Status Code 202 (Accepted)". That binds the recipient; a lax one answering 200 or
/// 204 has still taken the SET, and retrying would only deliver it again, so every 2xx counts.
/// Anything else is a failed attempt, retried on the schedule.
#[must_use]
pub fn push_succeeded(status: u16) -> bool {
    (200..300).contains(&status)
}

fn missing(what: &str) -> EventsError {
    EventsError::Event(format!("{what} is missing or not a string"))
}

fn string<'a>(v: &'a Value, key: &str) -> Result<&'a str, EventsError> {
    v.get(key).and_then(Value::as_str).ok_or_else(|| missing(key))
}

/// RFC 7644 §3.2: the resource type endpoints of RFC 7643's User and Group.
fn endpoint(resource_type: &str) -> Result<&'static str, EventsError> {
    match resource_type {
        "User" => Ok("Users"),
        "Group" => Ok("Groups"),
        other => Err(EventsError::Event(format!("unknown resource type {other:?}"))),
    }
}

/// RFC 9967 §2.2: "version — The Etag version of the resource as a result of the event and
/// corresponds to the Etag response header" — scimd's ETag for version N is `W/"N"` (RFC 7644
/// §3.14), the same string as the resource's `meta.version`.
fn version(resource: &Value) -> Result<String, EventsError> {
    match resource.get("version") {
        Some(Value::Number(n)) => Ok(format!("W/\"{n}\"")),
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(EventsError::Event("resource.version is missing".into())),
    }
}

fn data_object(event: &Value) -> Result<&Map<String, Value>, EventsError> {
    event
        .get("data")
        .and_then(Value::as_object)
        .ok_or_else(|| EventsError::Event("data is not an object".into()))
}

/// The payload of an update's `prov:put` event.
fn put(event: &Value, resource: &Value, mode: Mode) -> Result<Value, EventsError> {
    let version = version(resource)?;
    Ok(match mode {
        Mode::Full => json!({"version": version, "data": data_object(event)?}),
        // RFC 9967 §2.2: "Names of modified attributes SHOULD conform to the ABNF syntax rule for
        // 'path' (Section 3.5.2 of [RFC7644])", which is what scimd's `changed` holds.
        Mode::Notice => {
            let changed = event
                .get("changed")
                .and_then(Value::as_array)
                .ok_or_else(|| EventsError::Event("changed is missing".into()))?;
            json!({"version": version, "attributes": changed})
        }
    })
}

fn single_put(payload: Value, mode: Mode) -> Map<String, Value> {
    let uri = match mode {
        Mode::Full => uri::PUT_FULL,
        Mode::Notice => uri::PUT_NOTICE,
    };
    single(uri, payload)
}

fn single(uri: &str, payload: Value) -> Map<String, Value> {
    let mut events = Map::new();
    events.insert(uri.into(), payload);
    events
}

/// The one PATCH operation (RFC 7644 §3.5.2) equivalent to a membership event.
fn member_op(event: &Value, added: bool, scim_base: &str) -> Result<Value, EventsError> {
    let data = event.get("data").ok_or_else(|| missing("data"))?;
    let member = string(data, "member").map_err(|_| missing("data.member"))?;
    if added {
        let kind = string(data, "member_type").map_err(|_| missing("data.member_type"))?;
        // RFC 7643 §4.2: a member is `value` (its id), `$ref` (its URI) and `type`.
        let reference = format!("{}/{}/{member}", scim_base.trim_end_matches('/'), endpoint(kind)?);
        Ok(json!({
            "op": "add",
            "path": "members",
            "value": [{"value": member, "$ref": reference, "type": kind}],
        }))
    } else {
        // RFC 7644 §3.5.2.2: removing one value of a multi-valued attribute uses a value filter.
        // The id is written as a JSON string (the filter's compValue, RFC 7644 §3.4.2.2), so a
        // quote in it is escaped rather than ending the filter.
        let literal = Value::String(member.to_owned()).to_string();
        Ok(json!({"op": "remove", "path": format!("members[value eq {literal}]")}))
    }
}

/// 128 bits of SHA-256 over the event id and the audience, in hex: the length of RFC 9967's
/// example `jti`s. Unique per (event, receiver), as RFC 7519 §4.1.7 asks of a token id, and the
/// same on every retry of that pair.
fn jti(event_id: &str, audience: &str) -> String {
    let digest = Sha256::new().chain_update(event_id).chain_update([0u8]).chain_update(audience).finalize();
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;
    use jsonwebtoken::{DecodingKey, EncodingKey, Validation};

    use super::*;

    const ISS: &str = "https://scim.example.com";
    const AUD: &str = "https://app.example.com/scim-events";
    const BASE: &str = "https://scim.example.com/tenants/acme/scim/v2";
    const NOW: i64 = 1_780_000_000;

    fn user_event(type_: &str) -> Value {
        json!({
            "id": "01937f6e-0000-7000-8000-000000000001",
            "seq": "42",
            "type": type_,
            "tenant": "acme",
            "occurred_at": "2026-12-02T14:17:39.883Z",
            "resource": {"type": "User", "id": "2819c223", "version": 7, "externalId": "bjensen"},
            "changed": ["active", "name.givenName"],
            "previous": {"active": true, "name.givenName": "Barb"},
            "data": {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "id": "2819c223",
                "userName": "bjensen@example.com",
                "name": {"givenName": "Barbara"},
                "active": false,
                "meta": {"resourceType": "User", "version": "W/\"7\""},
            },
            "request_id": "01937f6e-0000-7000-8000-0000000000aa",
            "client": {"name": "entra", "kind": "entra"},
        })
    }

    fn member_event(type_: &str) -> Value {
        json!({
            "id": "01937f6e-0000-7000-8000-000000000002",
            "seq": "43",
            "type": type_,
            "tenant": "acme",
            "occurred_at": "2026-12-02T14:17:40Z",
            "resource": {"type": "Group", "id": "176f397e", "version": 3, "externalId": "crmUsers"},
            "data": {"group": "176f397e", "member": "2819c223", "member_type": "User"},
            "request_id": "req-1",
            "client": {"name": "okta", "kind": "okta"},
        })
    }

    fn claims(event: &Value, mode: Mode) -> Value {
        set_claims(event, ISS, AUD, BASE, mode, NOW).unwrap()
    }

    #[test]
    fn envelope_follows_rfc_8417_and_rfc_9967() {
        let c = claims(&user_event("user.created"), Mode::Full);
        assert_eq!(c["iss"], ISS);
        assert_eq!(c["aud"], AUD);
        assert_eq!(c["iat"], NOW);
        assert_eq!(c["toe"], 1_796_221_059, "occurred_at, whole seconds");
        assert_eq!(c["txn"], "01937f6e-0000-7000-8000-0000000000aa");
        assert_eq!(c["sub_id"], json!({"format": "scim", "uri": "/Users/2819c223", "externalId": "bjensen"}));
        assert!(c.get("sub").is_none(), "RFC 9967 §2.1: sub MUST NOT be used");
        assert!(c.get("exp").is_none(), "RFC 8417 §2.2: exp NOT RECOMMENDED");
        let jti = c["jti"].as_str().unwrap();
        assert_eq!(jti.len(), 32);
        assert!(jti.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn jti_is_stable_per_receiver_and_differs_between_receivers() {
        let e = user_event("user.created");
        let a = set_claims(&e, ISS, AUD, BASE, Mode::Full, NOW).unwrap();
        let retry = set_claims(&e, ISS, AUD, BASE, Mode::Full, NOW + 300).unwrap();
        let other = set_claims(&e, ISS, "https://other.example.com", BASE, Mode::Full, NOW).unwrap();
        assert_eq!(a["jti"], retry["jti"]);
        assert_ne!(a["jti"], other["jti"]);
        assert_eq!(a["txn"], other["txn"], "one transaction, however many receivers");
    }

    #[test]
    fn create_full_and_notice() {
        let e = user_event("user.created");
        let full = claims(&e, Mode::Full);
        assert_eq!(
            full["events"],
            json!({uri::CREATE_FULL: {"version": "W/\"7\"", "data": e["data"]}}),
            "RFC 9967 Figure 4"
        );
        let notice = claims(&e, Mode::Notice);
        assert_eq!(
            notice["events"],
            json!({uri::CREATE_NOTICE: {"version": "W/\"7\"", "attributes": ["id", "userName", "name", "active"]}}),
            "RFC 9967 Figure 5"
        );
    }

    #[test]
    fn an_update_is_a_put_of_the_resource_after() {
        let mut e = user_event("user.updated");
        e["changed"] = json!(["name.givenName"]);
        assert_eq!(
            claims(&e, Mode::Full)["events"],
            json!({uri::PUT_FULL: {"version": "W/\"7\"", "data": e["data"]}}),
            "RFC 9967 Figure 8"
        );
        assert_eq!(
            claims(&e, Mode::Notice)["events"],
            json!({uri::PUT_NOTICE: {"version": "W/\"7\"", "attributes": ["name.givenName"]}}),
            "RFC 9967 Figure 9"
        );
        let mut group = member_event("group.updated");
        group["data"] = json!({"id": "176f397e", "displayName": "CRM"});
        group["changed"] = json!(["displayName"]);
        let c = claims(&group, Mode::Full);
        assert_eq!(c["sub_id"]["uri"], "/Groups/176f397e");
        assert!(c["events"].get(uri::PUT_FULL).is_some());
    }

    #[test]
    fn exactly_one_of_data_and_attributes() {
        for type_ in ["user.created", "user.updated", "user.deactivated", "user.reactivated"] {
            for mode in [Mode::Full, Mode::Notice] {
                let c = claims(&user_event(type_), mode);
                for (name, payload) in c["events"].as_object().unwrap() {
                    if name == uri::ACTIVATE || name == uri::DEACTIVATE {
                        assert_eq!(payload, &json!({}));
                        continue;
                    }
                    let has_data = payload.get("data").is_some();
                    let has_attributes = payload.get("attributes").is_some();
                    assert!(has_data != has_attributes, "{type_} {mode:?}: {payload}");
                    assert_eq!(has_data, name.ends_with(":full"), "RFC 9967 §2.4: full iff data");
                }
            }
        }
    }

    #[test]
    fn deactivation_and_reactivation_carry_the_signal_and_the_state() {
        let e = user_event("user.deactivated");
        assert_eq!(
            claims(&e, Mode::Full)["events"],
            json!({
                uri::PUT_FULL: {"version": "W/\"7\"", "data": e["data"]},
                uri::DEACTIVATE: {},
            })
        );
        let notice = claims(&user_event("user.reactivated"), Mode::Notice);
        assert_eq!(
            notice["events"],
            json!({
                uri::PUT_NOTICE: {"version": "W/\"7\"", "attributes": ["active", "name.givenName"]},
                uri::ACTIVATE: {},
            })
        );
    }

    #[test]
    fn deletion_has_no_payload() {
        let mut e = user_event("user.deleted");
        e.as_object_mut().unwrap().remove("changed");
        for mode in [Mode::Full, Mode::Notice] {
            assert_eq!(claims(&e, mode)["events"], json!({uri::DELETE: {}}), "RFC 9967 Figure 10");
        }
        let mut g = member_event("group.deleted");
        g["data"] = json!({"id": "176f397e", "displayName": "CRM"});
        let c = claims(&g, Mode::Full);
        assert_eq!(c["events"], json!({uri::DELETE: {}}));
        assert_eq!(
            c["sub_id"],
            json!({"format": "scim", "uri": "/Groups/176f397e", "externalId": "crmUsers"})
        );
    }

    #[test]
    fn membership_is_a_patch_of_the_group() {
        let added = claims(&member_event("group.member_added"), Mode::Full);
        assert_eq!(added["sub_id"]["uri"], "/Groups/176f397e");
        assert_eq!(
            added["events"],
            json!({uri::PATCH_FULL: {
                "version": "W/\"3\"",
                "data": {
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{
                        "op": "add",
                        "path": "members",
                        "value": [{"value": "2819c223", "$ref": format!("{BASE}/Users/2819c223"), "type": "User"}],
                    }],
                },
            }}),
            "RFC 9967 Figure 6"
        );
        let removed = claims(&member_event("group.member_removed"), Mode::Full);
        assert_eq!(
            removed["events"][uri::PATCH_FULL]["data"]["Operations"],
            json!([{"op": "remove", "path": "members[value eq \"2819c223\"]"}])
        );
        for type_ in ["group.member_added", "group.member_removed"] {
            assert_eq!(
                claims(&member_event(type_), Mode::Notice)["events"],
                json!({uri::PATCH_NOTICE: {"version": "W/\"3\"", "attributes": ["members"]}}),
                "RFC 9967 Figure 7"
            );
        }
        let mut nested = member_event("group.member_added");
        nested["data"]["member_type"] = json!("Group");
        nested["data"]["member"] = json!("g9");
        let c = claims(&nested, Mode::Full);
        assert_eq!(
            c["events"][uri::PATCH_FULL]["data"]["Operations"][0]["value"][0]["$ref"],
            format!("{BASE}/Groups/g9")
        );
        let mut quoted = member_event("group.member_removed");
        quoted["data"]["member"] = json!("a\"b");
        let c = claims(&quoted, Mode::Full);
        assert_eq!(
            c["events"][uri::PATCH_FULL]["data"]["Operations"][0]["path"],
            "members[value eq \"a\\\"b\"]"
        );
    }

    #[test]
    fn refuses_what_it_cannot_map() {
        let mut ping = user_event("ping");
        assert!(set_claims(&ping, ISS, AUD, BASE, Mode::Full, NOW).is_err());
        ping["type"] = json!("user.created");
        ping["resource"]["type"] = json!("Device");
        assert!(set_claims(&ping, ISS, AUD, BASE, Mode::Full, NOW).is_err());
        let mut bad_time = user_event("user.created");
        bad_time["occurred_at"] = json!("yesterday");
        assert!(set_claims(&bad_time, ISS, AUD, BASE, Mode::Full, NOW).is_err());
        let mut no_version = user_event("user.updated");
        no_version["resource"].as_object_mut().unwrap().remove("version");
        assert!(set_claims(&no_version, ISS, AUD, BASE, Mode::Full, NOW).is_err());
        let mut no_changed = user_event("user.updated");
        no_changed.as_object_mut().unwrap().remove("changed");
        assert!(set_claims(&no_changed, ISS, AUD, BASE, Mode::Notice, NOW).is_err());
        let mut no_request = user_event("user.created");
        no_request.as_object_mut().unwrap().remove("request_id");
        let c = claims(&no_request, Mode::Full);
        assert_eq!(c["txn"], "01937f6e-0000-7000-8000-000000000001", "falls back to the event id");
    }

    fn keypair(seed: u8) -> (EncodingKey, DecodingKey) {
        let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        let der = key.to_pkcs8_der().unwrap();
        let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
        (EncodingKey::from_ed_der(der.as_bytes()), DecodingKey::from_ed_components(&x).unwrap())
    }

    #[test]
    fn signed_sets_verify_with_the_public_key() {
        let (enc, dec) = keypair(7);
        let (_, other) = keypair(8);
        let c = claims(&user_event("user.deactivated"), Mode::Full);
        let token = sign_set(&c, "kid-1", &enc).unwrap();

        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
        assert_eq!(header.typ.as_deref(), Some("secevent+jwt"));
        assert_eq!(header.kid.as_deref(), Some("kid-1"));

        let mut validation = Validation::new(jsonwebtoken::Algorithm::EdDSA);
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["iss", "aud"]);
        validation.set_issuer(&[ISS]);
        validation.set_audience(&[AUD]);
        let decoded = jsonwebtoken::decode::<Value>(&token, &dec, &validation).unwrap();
        assert_eq!(decoded.claims, c);
        assert!(jsonwebtoken::decode::<Value>(&token, &other, &validation).is_err());
        validation.set_audience(&["https://someone-else.example.com"]);
        assert!(jsonwebtoken::decode::<Value>(&token, &dec, &validation).is_err());
    }

    #[test]
    fn a_non_ed25519_key_is_an_error_not_a_panic() {
        let c = claims(&user_event("user.created"), Mode::Full);
        assert!(matches!(sign_set(&c, "k", &EncodingKey::from_secret(b"hmac")), Err(EventsError::Sign(_))));
    }

    #[test]
    fn reads_rfc_8935_responses() {
        assert!(push_succeeded(202));
        assert!(push_succeeded(200), "a lax receiver still took it");
        assert!(!push_succeeded(301));
        assert!(!push_succeeded(400));
        assert_eq!(
            PushError::parse(br#"{"err":"authentication_failed","description":"Access token is expired."}"#),
            Some(PushError {
                err: "authentication_failed".into(),
                description: Some("Access token is expired.".into())
            })
        );
        assert_eq!(PushError::parse(b"<html>"), None);
        assert_eq!(PushError::parse(br#"{"error":"x"}"#), None);
    }
}
