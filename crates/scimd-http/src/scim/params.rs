//! Request parameters of the SCIM list, search and read operations, from the query string
//! (RFC 7644 §3.4.2) or from a SearchRequest body (§3.4.3), into one shape.

use serde_json::Value;

use scimd_filter::{AttrPath, Filter};
use scimd_schema::{ScimError, urn};
use scimd_store::{Paging, SortOrder};

use crate::HttpConfig;

/// `attributes` / `excludedAttributes` (RFC 7644 §3.9), as the client wrote them.
#[derive(Clone, Debug, Default)]
pub(crate) struct ProjectionParams {
    pub attributes: Vec<String>,
    pub excluded: Vec<String>,
}

/// A list or search request, parsed and bounded.
#[derive(Clone, Debug)]
pub(crate) struct ListParams {
    pub filter: Option<Filter>,
    pub sort_by: Option<AttrPath>,
    pub sort_order: SortOrder,
    pub paging: Paging,
    /// The 1-based index echoed in `startIndex` (index paging).
    pub start_index: u64,
    pub projection: ProjectionParams,
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// Finds a query parameter by name. RFC 7644 does not say parameter names are case-insensitive,
/// but clients are inconsistent (`startindex`, `Count`), and no two SCIM parameters differ only
/// in case, so names are matched case-insensitively.
fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

impl ProjectionParams {
    pub(crate) fn from_query(query: &[(String, String)]) -> Self {
        Self {
            attributes: param(query, "attributes").map(split_list).unwrap_or_default(),
            excluded: param(query, "excludedAttributes").map(split_list).unwrap_or_default(),
        }
    }
}

/// RFC 7644 §3.4.2.4: `startIndex` below 1 is treated as 1; `count` below 0 as 0; `count` above the
/// server's maximum is capped (the response's `itemsPerPage` tells the client what it got).
fn integer(name: &str, raw: Option<&str>) -> Result<Option<i64>, ScimError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ScimError::invalid_value(format!("{name} must be an integer, got {s:?}"))),
    }
}

fn parse_filter(raw: &str) -> Result<Filter, ScimError> {
    scimd_filter::parse_filter(raw).map_err(|e| ScimError::invalid_filter(e.to_string()))
}

fn parse_sort_by(raw: &str) -> Result<AttrPath, ScimError> {
    // sortBy is an attribute path (RFC 7644 §3.4.2.3); the PATCH-path grammar without a filter is
    // exactly that grammar.
    let path = scimd_filter::parse_path(raw).map_err(|e| ScimError::invalid_value(format!("sortBy: {e}")))?;
    if path.filter.is_some() {
        return Err(ScimError::invalid_value("sortBy must be an attribute path without a filter"));
    }
    Ok(path.attr)
}

fn sort_order(raw: Option<&str>) -> Result<SortOrder, ScimError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(SortOrder::Ascending),
        Some(s) if s.eq_ignore_ascii_case("ascending") => Ok(SortOrder::Ascending),
        Some(s) if s.eq_ignore_ascii_case("descending") => Ok(SortOrder::Descending),
        Some(s) => Err(ScimError::invalid_value(format!(
            "sortOrder must be \"ascending\" or \"descending\", got {s:?}"
        ))),
    }
}

fn paging(
    config: &HttpConfig,
    start_index: Option<i64>,
    count: Option<i64>,
    cursor: Option<String>,
) -> (Paging, u64) {
    let count = count.map_or(config.default_page_size, |c| u64::try_from(c.max(0)).unwrap_or(0));
    let count = count.min(config.max_page_size);
    match cursor {
        // RFC 9865 §3: the first page is asked for with an empty `cursor` parameter.
        Some(c) => (Paging::Cursor { cursor: (!c.is_empty()).then_some(c), count }, 1),
        None => {
            let start = u64::try_from(start_index.unwrap_or(1).max(1)).unwrap_or(1);
            (Paging::Index { start_index: start, count }, start)
        }
    }
}

impl ListParams {
    /// From the query string of `GET /Users` (RFC 7644 §3.4.2). Unknown parameters (Entra's
    /// `aadOptscim062020`) are ignored.
    pub(crate) fn from_query(config: &HttpConfig, query: &[(String, String)]) -> Result<Self, ScimError> {
        let filter = param(query, "filter").filter(|f| !f.trim().is_empty()).map(parse_filter).transpose()?;
        let sort_by =
            param(query, "sortBy").filter(|s| !s.trim().is_empty()).map(parse_sort_by).transpose()?;
        let (paging, start_index) = paging(
            config,
            integer("startIndex", param(query, "startIndex"))?,
            integer("count", param(query, "count"))?,
            param(query, "cursor").map(str::to_owned),
        );
        Ok(Self {
            filter,
            sort_by,
            sort_order: sort_order(param(query, "sortOrder"))?,
            paging,
            start_index,
            projection: ProjectionParams::from_query(query),
        })
    }

    /// From a `POST …/.search` body (RFC 7644 §3.4.3).
    pub(crate) fn from_search_request(config: &HttpConfig, body: &Value) -> Result<Self, ScimError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ScimError::invalid_syntax("a SearchRequest must be a JSON object"))?;
        let schemas_ok = obj.get("schemas").and_then(Value::as_array).is_some_and(|s| {
            s.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(urn::SEARCH_REQUEST)))
        });
        if !schemas_ok {
            return Err(ScimError::invalid_syntax(format!(
                "schemas must contain \"{}\"",
                urn::SEARCH_REQUEST
            )));
        }
        let get = |k: &str| obj.iter().find(|(key, _)| key.eq_ignore_ascii_case(k)).map(|(_, v)| v);
        let text = |k: &str| -> Result<Option<String>, ScimError> {
            match get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(ScimError::invalid_syntax(format!("{k} must be a string"))),
            }
        };
        let list = |k: &str| -> Result<Vec<String>, ScimError> {
            match get(k) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| {
                        v.as_str().map(str::to_owned).ok_or_else(|| {
                            ScimError::invalid_syntax(format!("{k} must be an array of strings"))
                        })
                    })
                    .collect(),
                // Tolerate the query-string form ("a,b") in a body.
                Some(Value::String(s)) => Ok(split_list(s)),
                Some(_) => Err(ScimError::invalid_syntax(format!("{k} must be an array of strings"))),
            }
        };
        let int = |k: &str| -> Result<Option<i64>, ScimError> {
            match get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => n
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| ScimError::invalid_value(format!("{k} must be an integer"))),
                Some(Value::String(s)) => integer(k, Some(s)),
                Some(_) => Err(ScimError::invalid_value(format!("{k} must be an integer"))),
            }
        };
        let filter =
            text("filter")?.filter(|f| !f.trim().is_empty()).map(|f| parse_filter(&f)).transpose()?;
        let sort_by =
            text("sortBy")?.filter(|s| !s.trim().is_empty()).map(|s| parse_sort_by(&s)).transpose()?;
        let (paging, start_index) = paging(config, int("startIndex")?, int("count")?, text("cursor")?);
        Ok(Self {
            filter,
            sort_by,
            sort_order: sort_order(text("sortOrder")?.as_deref())?,
            paging,
            start_index,
            projection: ProjectionParams {
                attributes: list("attributes")?,
                excluded: list("excludedAttributes")?,
            },
        })
    }
}

/// RFC 7644 §3.14 / RFC 9110 §13.1.1: the versions an `If-Match` or `If-None-Match` header names.
/// `*` matches any current version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Precondition {
    Any,
    Versions(Vec<i64>),
}

impl Precondition {
    pub(crate) fn parse(header: &str) -> Precondition {
        if header.trim() == "*" {
            return Precondition::Any;
        }
        let versions = header
            .split(',')
            .filter_map(|tag| {
                let tag = tag.trim();
                let tag = tag.strip_prefix("W/").unwrap_or(tag);
                tag.trim_matches('"').parse::<i64>().ok()
            })
            .collect();
        Precondition::Versions(versions)
    }

    pub(crate) fn matches(&self, version: i64) -> bool {
        match self {
            Precondition::Any => true,
            Precondition::Versions(v) => v.contains(&version),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
    }

    #[test]
    fn paging_bounds_follow_rfc_7644_3_4_2_4() {
        let config = HttpConfig::default();
        let p = ListParams::from_query(&config, &q(&[("startIndex", "-5"), ("count", "-1")])).unwrap();
        assert_eq!(p.paging, Paging::Index { start_index: 1, count: 0 });
        let p = ListParams::from_query(&config, &q(&[("count", "99999999")])).unwrap();
        assert_eq!(p.paging, Paging::Index { start_index: 1, count: config.max_page_size });
        let p = ListParams::from_query(&config, &q(&[("cursor", "")])).unwrap();
        assert!(matches!(p.paging, Paging::Cursor { cursor: None, .. }));
        assert!(ListParams::from_query(&config, &q(&[("count", "ten")])).is_err());
        let ignored = ListParams::from_query(&config, &q(&[("aadOptscim062020", "")])).unwrap();
        assert!(ignored.filter.is_none());
    }

    #[test]
    fn preconditions_parse_weak_and_strong_tags() {
        assert!(Precondition::parse("W/\"3\"").matches(3));
        assert!(Precondition::parse("\"3\"").matches(3));
        assert!(!Precondition::parse("W/\"3\"").matches(4));
        assert!(Precondition::parse("*").matches(42));
        assert!(!Precondition::parse("garbage").matches(1));
        // RFC 9110 §13.1.1: any listed entity-tag matches, not only the first.
        let list = Precondition::parse("W/\"9\", W/\"1\"");
        assert!(list.matches(1) && list.matches(9) && !list.matches(2));
    }
}
