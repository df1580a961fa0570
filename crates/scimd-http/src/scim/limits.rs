//! Bounds on the work of one write request: how many PATCH operations it may carry, and how many
//! values it may leave in one multi-valued attribute. A PATCH costs about operations × values (each
//! value filter is tested against every value of its attribute), so both are bounded, and a request
//! beyond either is refused before any work is done with it.
//!
//! The refusal is 413 with a detail that names the limit: RFC 7644 §3.12 lists 413 for a request
//! that is too large for the service provider, and §3.7.4 shows it naming the limit exceeded
//! (`maxOperations`, `maxPayloadSize`) for a bulk request; RFC 9110 §15.5.14 makes 413 the status for
//! content "larger than the server is willing or able to process". A 400 `invalidValue` would tell
//! the client its data is wrong when only its size is.
//!
//! Group `members` are exempt from the values limit: they are rows, changed one at a time by
//! relative row operations, and a group of 100,000 members is normal.

use serde_json::Value;

use scimd_schema::ScimError;
use scimd_schema::patch::PatchOp;

/// The limits, from [`crate::HttpConfig`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Most operations in one PATCH request.
    pub patch_operations: usize,
    /// Most values in one multi-valued attribute other than Group `members`.
    pub attribute_values: usize,
}

fn too_large(detail: String) -> ScimError {
    ScimError::status(413, detail)
}

/// Whether `name` (an attribute name, maybe URN-qualified: `urn:…:Group:members`) is `members`.
fn is_members(name: &str) -> bool {
    name.rsplit(':').next().is_some_and(|n| n.eq_ignore_ascii_case("members"))
}

impl Limits {
    /// The PATCH request's operations, before any is applied: at most `patch_operations` of them,
    /// and no operation whose value holds more than `attribute_values` values for one attribute
    /// (`add emails [100,000 values]` is refused before the engine compares them with each other).
    pub(crate) fn check_patch(&self, ops: &[PatchOp]) -> Result<(), ScimError> {
        if ops.len() > self.patch_operations {
            return Err(too_large(format!(
                "the PATCH request has {} operations; this server applies at most {} in one request \
                 (max_patch_operations): split it",
                ops.len(),
                self.patch_operations
            )));
        }
        for (i, op) in ops.iter().enumerate() {
            let Some(value) = &op.value else { continue };
            let name = op.path.as_ref().map(|p| p.attr.name.as_str()).unwrap_or_default();
            self.check_value(value, name)
                .map_err(|e| ScimError { detail: format!("Operations[{i}]: {}", e.detail), ..e })?;
        }
        Ok(())
    }

    /// A value as a request sent it: every array in it, under whatever key, at most
    /// `attribute_values` long (except `members`).
    fn check_value(&self, value: &Value, name: &str) -> Result<(), ScimError> {
        if is_members(name) {
            return Ok(());
        }
        match value {
            Value::Array(items) => {
                self.check_count(name, items.len(), 0)?;
                items.iter().try_for_each(|v| self.check_value(v, name))
            }
            Value::Object(obj) => obj.iter().try_for_each(|(k, v)| self.check_value(v, k)),
            _ => Ok(()),
        }
    }

    fn check_count(&self, name: &str, count: usize, before: usize) -> Result<(), ScimError> {
        // An attribute that already held more (stored before the limit was lowered) may keep them
        // or shrink, so such a resource can still be changed, deactivated (Okta PUTs the whole
        // user) or cleaned up; it may not grow.
        if count > self.attribute_values && count > before {
            let name = if name.is_empty() { "a multi-valued attribute" } else { name };
            return Err(too_large(format!(
                "{name}: {count} values; this server keeps at most {} values in one multi-valued \
                 attribute (max_attribute_values)",
                self.attribute_values
            )));
        }
        Ok(())
    }

    /// The document a request would store (a validated POST or PUT body, a PATCH result), against
    /// the stored one (`None` for a create): no multi-valued attribute other than `members` may end
    /// up with more than `attribute_values` values, unless it had at least as many before. Checking
    /// the result covers every way a request writes values (POST, PUT, PATCH with and without
    /// path, value filters that create an element).
    pub(crate) fn check_document(&self, after: &Value, before: Option<&Value>) -> Result<(), ScimError> {
        let Value::Object(obj) = after else { return Ok(()) };
        for (key, value) in obj {
            if is_members(key) {
                continue;
            }
            let old = before.and_then(|b| b.get(key));
            match value {
                Value::Array(items) => {
                    let had = old.and_then(Value::as_array).map_or(0, Vec::len);
                    self.check_count(key, items.len(), had)?;
                }
                // An extension's attributes are one level down (RFC 7643 §3.3).
                Value::Object(_) => self.check_document(value, old)?,
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const LIMITS: Limits = Limits { patch_operations: 3, attribute_values: 2 };

    fn ops(body: Value) -> Vec<PatchOp> {
        scimd_schema::patch::parse_patch_request(&json!({ "Operations": body })).unwrap()
    }

    #[test]
    fn operations_and_request_values_are_counted_before_anything_is_applied() {
        let add = json!({"op": "add", "path": "nickName", "value": "x"});
        assert!(LIMITS.check_patch(&ops(json!([add, add, add]))).is_ok());
        let e = LIMITS.check_patch(&ops(json!([add, add, add, add]))).unwrap_err();
        assert_eq!(e.status, 413);
        assert!(
            e.detail.contains("4 operations") && e.detail.contains("max_patch_operations"),
            "{}",
            e.detail
        );

        let three = json!([{"value": "a"}, {"value": "b"}, {"value": "c"}]);
        for body in [
            json!([{"op": "add", "path": "emails", "value": three}]),
            json!([{"op": "replace", "value": {"emails": three}}]),
            json!([{"op": "replace", "value": {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"x": three}}}]),
        ] {
            let e = LIMITS.check_patch(&ops(body.clone())).unwrap_err();
            assert_eq!(e.status, 413, "{body}");
            assert!(e.detail.contains("max_attribute_values"), "{}", e.detail);
        }
        // Members are rows, not values of the document.
        assert!(LIMITS.check_patch(&ops(json!([{"op": "add", "path": "members", "value": three}]))).is_ok());
        assert!(LIMITS.check_patch(&ops(json!([{"op": "replace", "value": {"Members": three}}]))).is_ok());
    }

    #[test]
    fn a_document_may_not_grow_an_attribute_beyond_the_limit() {
        let two = json!({"emails": [{"value": "a"}, {"value": "b"}]});
        let three = json!({"emails": [{"value": "a"}, {"value": "b"}, {"value": "c"}]});
        assert!(LIMITS.check_document(&two, None).is_ok());
        assert_eq!(LIMITS.check_document(&three, None).unwrap_err().status, 413);
        assert_eq!(LIMITS.check_document(&three, Some(&two)).unwrap_err().status, 413);
        // A resource stored with more before the limit was lowered can still be changed.
        assert!(LIMITS.check_document(&three, Some(&three)).is_ok());
        let ext = json!({"urn:x": {"certs": [1, 2, 3]}});
        assert!(LIMITS.check_document(&ext, None).unwrap_err().detail.starts_with("certs:"));
        assert!(LIMITS.check_document(&json!({"members": [1, 2, 3]}), None).is_ok());
    }
}
