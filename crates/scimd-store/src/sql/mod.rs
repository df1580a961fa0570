//! SQL for the backends: a small statement builder, and the compiler from a SCIM filter or `sortBy`
//! to a SQL expression over the `resources` table.
//!
//! A filter travels as an AST: it is parsed once and compiled to SQL by the store, never evaluated by loading
//! a tenant's resources into memory (docs/architecture.md). [`compile_filter`] is a pure function from
//! (filter, schema, [`Dialect`]) to SQL text plus [`Bind`] values; the in-memory evaluator
//! (`scimd_schema::filter_eval`) is the oracle it is tested against, row for row, by the differential test in
//! `scimd-store-sqlite/tests/differential`.
//!
//! # The table the SQL reads
//!
//! `migrations/0001_resources.sql` of each backend; every fragment names the resource row `r`:
//!
//! | attribute (RFC 7643)                          | read from                                            |
//! |-----------------------------------------------|------------------------------------------------------|
//! | `id`                                          | `r.id`                                               |
//! | `externalId` (caseExact)                      | `r.external_id`                                      |
//! | User `userName` (folded)                      | `r.name_key` (the unique index)                      |
//! | `displayName` (folded)                        | `r.display_name_key`                                 |
//! | User `active`                                 | `r.active` (SQLite 0/1, PostgreSQL boolean)          |
//! | `meta.created` / `meta.lastModified`          | `r.created` / `r.last_modified` (canonical text)     |
//! | `meta.resourceType`                           | `r.kind`                                             |
//! | `meta.version`                                | `'W/"' ‖ r.version ‖ '"'` (the ETag)                 |
//! | User `emails.value eq` (and `emails eq`)      | `resource_values` (`attr = 'emails.value'`), indexed |
//! | Group `members`, User `groups`                | the `members` table, from either side                |
//! | `members.type` / `groups.type`                | `member_kind` (folded) / `'direct'` (no nesting)     |
//! | `members.display` / `groups.display`          | the other resource's `display_name_key`/`name_key`   |
//! | everything else                               | the JSON in `r.search`                               |
//!
//! `meta.location`, `members.$ref` and `groups.$ref` depend on the base URL the request came in on,
//! which the store does not know: filters on them are `invalidFilter`.
//!
//! # Why `r.search` and not `r.doc`
//!
//! Case-insensitive comparison (RFC 7643 §2.2 `caseExact: false`) must mean
//! [`fold_case`](scimd_schema::value::fold_case) in SQL exactly as in Rust, and databases fold case
//! differently (SQLite's `lower()` folds ASCII only). So the store keeps a search copy of each
//! document in which every case-insensitive string is already folded (see
//! [`crate::search_document`]), and the compiler folds the literal with the same function: the
//! database then only ever compares bytes. Ordering is code-point order (SQLite's default `BINARY`
//! collation; `COLLATE "C"` on PostgreSQL), as in the evaluator.
//!
//! # NULL
//!
//! SQL's three-valued logic would make `not (title eq "x")` drop a resource without a title: `NULL =
//! 'x'` is NULL, and so is its negation. The evaluator says such a resource matches. So every atom
//! the compiler emits is two-valued, TRUE or FALSE and never NULL, and `and`/`or`/`not` of
//! two-valued expressions stay two-valued:
//!
//! * a value read from the JSON document is wrapped: `COALESCE(<comparison>, FALSE)`;
//! * a nullable column is guarded: `(r.external_id IS NOT NULL AND r.external_id = ?)` (the
//!   comparison stays visible to the planner, so the index still serves it);
//! * a multi-valued attribute is an `EXISTS (…)`, which is never NULL;
//! * `pr` is `… IS NOT NULL`, never NULL.
//!
//! With that, `ne` is compiled as `NOT (eq)` and `not (f)` as `NOT (f)`, the evaluator's definitions.
//!
//! # Trust in the stored data
//!
//! The SQL follows the schema's shape (a multi-valued attribute is an array, a singular one is not)
//! and trusts the validator's normal form: values have their attribute's type, dateTimes are
//! canonical text, and there are no `null`, `""`, `[]` or `{}` values (RFC 7643 §2.5: unassigned).
//! The evaluator reads whatever shape a document has; on documents the store can hold the two agree.

mod columns;
mod compile;

pub use columns::{Cursor, Derived, Window, unique_attr};
pub use compile::{
    INDEXED_VALUES, compile_filter, compile_member_filter, compile_sort, list_condition, page_statement,
};

use std::fmt;

/// The SQL dialect: placeholders, JSON functions and collation differ; nothing else does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// SQLite 3.30 or later with the JSON functions (`json_extract`, `json_each`, `json_type`;
    /// `NULLS LAST`), as sqlx bundles it; `doc`/`search` are JSON text, `active` is 0/1.
    /// Placeholders are `?`.
    Sqlite,
    /// PostgreSQL 12 or later; `doc`/`search` are `jsonb`, `active` is `boolean`. Placeholders are
    /// `$1`…`$n`.
    Postgres,
}

/// A value bound to a placeholder. Every literal of a filter travels as one of these, never as SQL
/// text.
#[derive(Clone, Debug, PartialEq)]
pub enum Bind {
    /// Text (strings, dateTimes, JSON paths and keys).
    Text(String),
    /// A whole number.
    Int(i64),
    /// A number with a fraction.
    Real(f64),
    /// A boolean (SQLite stores it as 0/1).
    Bool(bool),
    /// SQL NULL, typed for PostgreSQL (which refuses a text NULL in a boolean column). Only the
    /// store's own statements bind it (absent optional columns); a filter never does.
    Null(NullType),
}

/// The type of a [`Bind::Null`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NullType {
    /// A text column.
    Text,
    /// A boolean column.
    Bool,
    /// An integer column.
    Int,
}

impl Bind {
    /// Text, or a text NULL.
    #[must_use]
    pub fn opt_text(value: Option<&str>) -> Self {
        value.map_or(Bind::Null(NullType::Text), |s| Bind::Text(s.to_owned()))
    }

    /// A boolean, or a boolean NULL.
    #[must_use]
    pub fn opt_bool(value: Option<bool>) -> Self {
        value.map_or(Bind::Null(NullType::Bool), Bind::Bool)
    }

    /// An integer, or an integer NULL.
    #[must_use]
    pub fn opt_int(value: Option<i64>) -> Self {
        value.map_or(Bind::Null(NullType::Int), Bind::Int)
    }
}

impl fmt::Display for Bind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bind::Text(s) => write!(f, "Text({s:?})"),
            Bind::Int(i) => write!(f, "Int({i})"),
            Bind::Real(r) => write!(f, "Real({r:?})"),
            Bind::Bool(b) => write!(f, "Bool({b})"),
            Bind::Null(_) => f.write_str("Null"),
        }
    }
}

/// A finished statement (or fragment): its text, with placeholders, and the values they stand for,
/// in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Sql {
    /// The SQL text, placeholders in the builder's dialect.
    pub text: String,
    /// One value per placeholder, in order.
    pub binds: Vec<Bind>,
}

/// The text, then one bind per line: what the snapshot tests record.
impl fmt::Display for Sql {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        for (i, b) in self.binds.iter().enumerate() {
            write!(f, "\n  {}: {b}", i + 1)?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Text(String),
    /// Index into `binds`.
    Param(usize),
}

/// Builds one SQL statement from text and binds, numbering placeholders across the whole statement.
///
/// The store writes its own parts around the compiled filter, in order:
///
/// ```
/// use scimd_store::sql::{Bind, Dialect, SqlBuilder};
/// let mut b = SqlBuilder::new(Dialect::Postgres);
/// b.push("SELECT r.id FROM resources r WHERE r.tenant_id = ");
/// b.bind(Bind::Text("t1".into()));
/// b.push(" AND r.kind = ");
/// b.bind(Bind::Text("User".into()));
/// let (text, binds) = b.finish();
/// assert_eq!(text, "SELECT r.id FROM resources r WHERE r.tenant_id = $1 AND r.kind = $2");
/// assert_eq!(binds.len(), 2);
/// ```
///
/// Placeholders are rendered by [`SqlBuilder::finish`], not as they are pushed, so a fragment built
/// on its own can be [appended](SqlBuilder::append) anywhere (and more than once) and its `$n`
/// renumbered to fit.
#[derive(Clone, Debug, PartialEq)]
pub struct SqlBuilder {
    dialect: Dialect,
    parts: Vec<Part>,
    binds: Vec<Bind>,
}

impl SqlBuilder {
    /// An empty statement in `dialect`.
    #[must_use]
    pub fn new(dialect: Dialect) -> Self {
        Self { dialect, parts: Vec::new(), binds: Vec::new() }
    }

    /// The dialect placeholders and functions are written in.
    #[must_use]
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Appends SQL text. Never pass a value here: values go through [`SqlBuilder::bind`].
    pub fn push(&mut self, sql: &str) -> &mut Self {
        match self.parts.last_mut() {
            Some(Part::Text(t)) => t.push_str(sql),
            _ => self.parts.push(Part::Text(sql.to_owned())),
        }
        self
    }

    /// Appends a placeholder standing for `value`.
    pub fn bind(&mut self, value: Bind) -> &mut Self {
        self.parts.push(Part::Param(self.binds.len()));
        self.binds.push(value);
        self
    }

    /// Appends another builder's text and binds (its placeholders are renumbered to follow this
    /// builder's).
    pub fn append(&mut self, other: &SqlBuilder) -> &mut Self {
        let offset = self.binds.len();
        for part in &other.parts {
            match part {
                Part::Text(t) => {
                    self.push(t);
                }
                Part::Param(i) => self.parts.push(Part::Param(offset + i)),
            }
        }
        self.binds.extend(other.binds.iter().cloned());
        self
    }

    /// Whether nothing has been pushed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The binds so far, in placeholder order.
    #[must_use]
    pub fn binds(&self) -> &[Bind] {
        &self.binds
    }

    /// Renders the text with placeholders, without consuming the builder.
    #[must_use]
    pub fn to_sql(&self) -> Sql {
        let mut text = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => text.push_str(t),
                Part::Param(i) => match self.dialect {
                    Dialect::Sqlite => text.push('?'),
                    Dialect::Postgres => {
                        text.push('$');
                        text.push_str(&(i + 1).to_string());
                    }
                },
            }
        }
        Sql { text, binds: self.binds.clone() }
    }

    /// The finished statement: text with placeholders, and the binds in order.
    #[must_use]
    pub fn finish(self) -> (String, Vec<Bind>) {
        let Sql { text, .. } = self.to_sql();
        (text, self.binds)
    }

    /// The finished statement as an [`Sql`].
    #[must_use]
    pub fn build(self) -> Sql {
        let (text, binds) = self.finish();
        Sql { text, binds }
    }
}

#[cfg(test)]
mod tests;
