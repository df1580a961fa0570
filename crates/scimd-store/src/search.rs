//! The search copy of a document: what filters and sorting read in the database.
//!
//! Case-insensitive comparison must mean the same in SQL as in the in-memory evaluator
//! (`scimd_schema::value::fold_case`, full Unicode). Databases disagree on case folding (SQLite's
//! `lower()` folds ASCII only), so the store keeps a second copy of each document in which every
//! string of a case-insensitive attribute is already folded by that one function, and the filter
//! compiler folds the literal with it too. Case-exact attributes are copied as they are.

use serde_json::{Map, Value};

use scimd_schema::value::fold_case;
use scimd_schema::{AttrType, AttributeDef, ResourceSchema};

/// Returns the search copy of a normalised document (attribute names in canonical case).
#[must_use]
pub fn search_document(rs: &ResourceSchema, doc: &Value) -> Value {
    let Some(obj) = doc.as_object() else { return doc.clone() };
    let mut out = Map::with_capacity(obj.len());
    for (key, value) in obj {
        if let Some((ext, _)) = rs.schema(key).filter(|(_, is_core)| !is_core) {
            let folded = match value.as_object() {
                Some(inner) => Value::Object(
                    inner.iter().map(|(k, v)| (k.clone(), fold_attr(ext.attribute(k), v))).collect(),
                ),
                None => value.clone(),
            };
            out.insert(key.clone(), folded);
        } else {
            out.insert(key.clone(), fold_attr(rs.core.attribute(key), value));
        }
    }
    Value::Object(out)
}

fn fold_attr(def: Option<&AttributeDef>, value: &Value) -> Value {
    let Some(def) = def else { return value.clone() };
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|v| fold_single(def, v)).collect()),
        v => fold_single(def, v),
    }
}

fn fold_single(def: &AttributeDef, value: &Value) -> Value {
    match (def.kind, value) {
        (AttrType::Complex, Value::Object(obj)) => Value::Object(
            obj.iter()
                .map(|(k, v)| {
                    let sub = def.sub_attribute(k);
                    let folded = match (sub, v) {
                        (Some(sub), Value::String(s)) if sub.folds_case() => {
                            Value::String(fold_case(s).into_owned())
                        }
                        _ => v.clone(),
                    };
                    (k.clone(), folded)
                })
                .collect(),
        ),
        (_, Value::String(s)) if def.folds_case() => Value::String(fold_case(s).into_owned()),
        _ => value.clone(),
    }
}
