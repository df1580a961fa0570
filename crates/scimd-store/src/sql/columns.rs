//! What a backend writes beside each document, and the cursors of its pages: shared by the SQL
//! backends so that replicas of either kind derive the same columns and read each other's cursors.

use base64::Engine as _;
use serde_json::Value;
use uuid::Uuid;

use scimd_schema::ScimError;
use scimd_schema::value::fold_case;

use super::INDEXED_VALUES;
use crate::error::Result;
use crate::model::{ListQuery, Paging, ResourceKind};

/// Columns derived from a document: what the unique index, the hot filters and member display read
/// (the column table in the [module docs](super)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Derived {
    /// The folded uniqueness key: userName (Users) or displayName (Groups).
    pub name_key: String,
    /// The folded displayName.
    pub display_name_key: Option<String>,
    /// displayName as given.
    pub display_name: Option<String>,
    /// userName as given.
    pub user_name: Option<String>,
    /// externalId (caseExact).
    pub external_id: Option<String>,
    /// User `active`.
    pub active: Option<bool>,
    /// `resource_values` rows: (`"emails.value"`, folded value), without repeats.
    pub values: Vec<(String, String)>,
}

impl Derived {
    /// Derives the columns of a validated document of `kind`.
    ///
    /// # Errors
    ///
    /// 400 `invalidValue` when the uniqueness attribute is missing: RFC 7643 §4.1.1 userName and
    /// §4.2 displayName are REQUIRED; validation guarantees them, and this is the last line of
    /// defence before the unique index.
    pub fn of(kind: ResourceKind, doc: &Value) -> Result<Derived> {
        let text = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_owned);
        let user_name = text("userName");
        let display_name = text("displayName");
        let key_source = match kind {
            ResourceKind::User => user_name.as_deref(),
            ResourceKind::Group => display_name.as_deref(),
        };
        let Some(key_source) = key_source else {
            return Err(ScimError::invalid_value(format!("{} is required", unique_attr(kind))).into());
        };
        let mut values = Vec::new();
        for (attr, sub) in INDEXED_VALUES {
            for item in doc.get(*attr).and_then(Value::as_array).into_iter().flatten() {
                if let Some(v) = item.get(*sub).and_then(Value::as_str) {
                    let pair = (format!("{attr}.{sub}"), fold_case(v).into_owned());
                    if !values.contains(&pair) {
                        values.push(pair);
                    }
                }
            }
        }
        Ok(Derived {
            name_key: fold_case(key_source).into_owned(),
            display_name_key: display_name.as_deref().map(|d| fold_case(d).into_owned()),
            display_name,
            user_name,
            external_id: text("externalId"),
            active: doc.get("active").and_then(Value::as_bool),
            values,
        })
    }
}

/// The attribute the unique `name_key` stands for: what a 409 `uniqueness` names.
#[must_use]
pub fn unique_attr(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "userName",
        ResourceKind::Group => "displayName",
    }
}

/// RFC 9865 cursors: opaque to clients. With the default order (by id, which is creation order for
/// UUIDv7) the cursor is the last id seen, so pages stay consistent while resources are added; with
/// `sortBy` it is the offset of the next page. Every replica reads every other's cursors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cursor {
    /// Keyset: the next page starts after this id.
    After(String),
    /// The next page starts at this offset (with `sortBy`).
    Offset(u64),
}

impl Cursor {
    /// The opaque text handed to the client.
    #[must_use]
    pub fn encode(&self) -> String {
        let raw = match self {
            Cursor::After(id) => format!("a:{id}"),
            Cursor::Offset(n) => format!("o:{n}"),
        };
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    /// Reads a cursor this server issued; `None` for anything else (→ 400 `invalidCursor`).
    #[must_use]
    pub fn decode(s: &str) -> Option<Cursor> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).ok()?;
        let raw = String::from_utf8(raw).ok()?;
        match raw.split_once(':')? {
            ("a", id) if Uuid::parse_str(id).is_ok() => Some(Cursor::After(id.to_owned())),
            ("o", n) => n.parse().ok().map(Cursor::Offset),
            _ => None,
        }
    }
}

/// The part of the resources a list request asks for: `count` of them from `offset`, after the
/// id `after` (RFC 7644 §3.4.2.4 index paging; RFC 9865 cursors, see [`Cursor`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// At most this many resources.
    pub count: u64,
    /// Skipped before the first.
    pub offset: u64,
    /// Only resources with a greater id (a default-ordered cursor page).
    pub after: Option<String>,
}

impl Window {
    /// The window a query's paging names.
    ///
    /// # Errors
    ///
    /// 400 `invalidCursor` for a cursor this server did not issue for this query (a by-id cursor
    /// with `sortBy`, an offset cursor without it, or no cursor of ours at all).
    pub fn of(query: &ListQuery) -> std::result::Result<Window, ScimError> {
        let (count, offset, after) = match &query.paging {
            Paging::Index { start_index, count } => (*count, start_index.saturating_sub(1), None),
            Paging::Cursor { cursor, count } => match cursor.as_deref().map(Cursor::decode) {
                None => (*count, 0, None),
                Some(Some(Cursor::After(id))) if query.sort_by.is_none() => (*count, 0, Some(id)),
                Some(Some(Cursor::Offset(n))) if query.sort_by.is_some() => (*count, n, None),
                Some(_) => {
                    return Err(ScimError::new(
                        scimd_schema::ScimType::InvalidCursor,
                        "the cursor is not one this server issued for this query",
                    ));
                }
            },
        };
        Ok(Window { count, offset, after })
    }

    /// The cursor of the page after this one, for cursor paging when this page was full and more
    /// may follow: the last id seen (default order), or the next offset (`sortBy`) while below
    /// `total`.
    #[must_use]
    pub fn next_cursor(
        &self,
        query: &ListQuery,
        returned: usize,
        last_id: Option<&str>,
        total: u64,
    ) -> Option<String> {
        if !matches!(query.paging, Paging::Cursor { .. }) || returned as u64 != self.count {
            return None;
        }
        let next = self.offset + self.count;
        let more = match (&query.sort_by, last_id) {
            (None, Some(last)) => Some(Cursor::After(last.to_owned())),
            (Some(_), _) if next < total => Some(Cursor::Offset(next)),
            _ => None,
        };
        more.map(|c| c.encode())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use serde_json::json;

    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_forgeries() {
        let id = "0190f5a0-0000-7000-8000-000000000001";
        for c in [Cursor::After(id.into()), Cursor::Offset(200)] {
            assert_eq!(Cursor::decode(&c.encode()), Some(c));
        }
        assert_eq!(Cursor::decode("not base64!"), None);
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("a:'; DROP TABLE resources");
        assert_eq!(Cursor::decode(&forged), None);
    }

    fn query(paging: Paging, sorted: bool) -> ListQuery {
        ListQuery {
            filter: None,
            sort_by: sorted.then(|| scimd_filter::AttrPath::simple("userName")),
            sort_order: crate::model::SortOrder::Ascending,
            paging,
            with_members: false,
        }
    }

    #[test]
    fn windows_follow_the_paging_and_refuse_foreign_cursors() {
        let index = query(Paging::Index { start_index: 11, count: 5 }, false);
        let w = Window::of(&index).unwrap();
        assert_eq!(w, Window { count: 5, offset: 10, after: None });
        assert_eq!(w.next_cursor(&index, 5, Some("x"), 100), None, "index paging has no cursor");

        let id = "0190f5a0-0000-7000-8000-000000000001";
        let first = query(Paging::Cursor { cursor: None, count: 2 }, false);
        let w = Window::of(&first).unwrap();
        let next = w.next_cursor(&first, 2, Some(id), 100).unwrap();
        assert_eq!(Cursor::decode(&next), Some(Cursor::After(id.into())));
        assert_eq!(w.next_cursor(&first, 1, Some(id), 100), None, "a short page is the last");
        let second = query(Paging::Cursor { cursor: Some(next.clone()), count: 2 }, false);
        assert_eq!(Window::of(&second).unwrap().after.as_deref(), Some(id));

        // Sorted: offsets, ending at the total.
        let sorted = query(Paging::Cursor { cursor: Some(Cursor::Offset(4).encode()), count: 2 }, true);
        let w = Window::of(&sorted).unwrap();
        assert_eq!((w.offset, w.after.as_deref()), (4, None));
        assert_eq!(Cursor::decode(&w.next_cursor(&sorted, 2, None, 7).unwrap()), Some(Cursor::Offset(6)));
        assert_eq!(w.next_cursor(&sorted, 2, None, 6), None);

        // A by-id cursor with sortBy, or an offset cursor without it, is not this query's.
        assert!(Window::of(&query(Paging::Cursor { cursor: Some(next), count: 2 }, true)).is_err());
        let offset = Cursor::Offset(4).encode();
        assert!(Window::of(&query(Paging::Cursor { cursor: Some(offset), count: 2 }, false)).is_err());
        assert!(Window::of(&query(Paging::Cursor { cursor: Some("junk".into()), count: 2 }, false)).is_err());
    }

    #[test]
    fn derive_folds_keys_and_collects_email_values() {
        let doc = json!({
            "userName": "BJensen@Example.com",
            "displayName": "Babs",
            "emails": [{"value": "BJ@Example.com", "type": "work"}, {"value": "bj@example.com"}],
        });
        let d = Derived::of(ResourceKind::User, &doc).unwrap();
        assert_eq!(d.name_key, "bjensen@example.com");
        assert_eq!(d.values, vec![("emails.value".to_owned(), "bj@example.com".to_owned())]);
        assert!(Derived::of(ResourceKind::Group, &json!({"userName": "x"})).is_err());
    }
}
