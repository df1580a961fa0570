//! The filter and `sortBy` compiler: a checked filter in, a boolean SQL expression over `r` out.
//!
//! The schema checks are not repeated here: [`compile_filter`] starts from
//! [`check_filter`](scimd_schema::filter_eval::check_filter), the same function the in-memory
//! evaluator starts from, so both reject the same filters with the same detail, and every literal
//! arrives already converted to its attribute's type (folded, canonicalised, parsed as a number).
//! What is left is choosing where each attribute is read ([`Loc`]) and writing the comparison in
//! the dialect. See the [module docs](super) for the NULL rules and the column table.

use scimd_filter::{AttrPath, CompareOp, Filter};
use scimd_schema::filter_eval::{CheckedFilter, Operand, Target, check_filter};
use scimd_schema::{AttrType, AttributeDef, ResourceSchema, ScimError};

use super::{Bind, Dialect, SqlBuilder, Window};
use crate::model::{ListQuery, ResourceKind, SortOrder};

/// Sub-attributes of multi-valued User attributes that the store also keeps as rows of
/// `resource_values` (`attr = "emails.value"`, `value` folded by
/// [`fold_case`](scimd_schema::value::fold_case)), so that an equality filter on them is an index
/// lookup instead of a scan of JSON arrays. The backends write exactly these rows; the compiler
/// reads them for `eq`/`ne` (and for a `value eq` conjunct inside a value filter).
pub const INDEXED_VALUES: &[(&str, &str)] = &[("emails", "value")];

/// Compiles `filter` into a boolean SQL expression over the resource row `r`, appended to `out`.
///
/// The expression is two-valued (never NULL, see the module docs), so the caller can put it under
/// `AND`/`NOT` freely; it reads `r.search`, the resource columns, `resource_values` and `members`,
/// and binds every literal. `kind` says which columns exist for the type (`userName` is `r.name_key`
/// for Users only).
///
/// # Errors
///
/// 400 `invalidFilter` for everything the in-memory evaluator rejects (unknown attribute, operator
/// and type that do not go together, …; see `scimd_schema::filter_eval`), with the same detail; and
/// for the attributes whose value the store does not hold (`meta.location`, `members.$ref`,
/// `groups.$ref`: they depend on the request's base URL). On error `out` is left as it was.
pub fn compile_filter(
    filter: &Filter,
    rs: &ResourceSchema,
    kind: ResourceKind,
    out: &mut SqlBuilder,
) -> Result<(), ScimError> {
    let checked = check_filter(rs, filter)?;
    let mut fragment = SqlBuilder::new(out.dialect());
    Compiler { dialect: out.dialect(), kind, aliases: 0 }.filter(
        &checked,
        &Subject::Resource,
        &mut fragment,
    )?;
    out.append(&fragment);
    Ok(())
}

/// The `WHERE` condition of a list (RFC 7644 §3.4.2): the tenant's resources of `kind`, and the
/// compiled filter when there is one. Every backend's list starts from it.
///
/// # Errors
/// As [`compile_filter`].
pub fn list_condition(
    dialect: Dialect,
    tenant: &str,
    kind: ResourceKind,
    filter: Option<&Filter>,
    rs: &ResourceSchema,
) -> Result<SqlBuilder, ScimError> {
    let mut b = SqlBuilder::new(dialect);
    b.push("r.tenant_id = ").bind(Bind::Text(tenant.to_owned()));
    b.push(" AND r.kind = ").bind(Bind::Text(kind.as_str().to_owned()));
    if let Some(filter) = filter {
        b.push(" AND (");
        compile_filter(filter, rs, kind, &mut b)?;
        b.push(")");
    }
    Ok(b)
}

/// Compiles the filter of a PATCH `members[<filter>]` remove (RFC 7644 §3.5.2.2) into a boolean SQL
/// expression over one membership row `m` of the table `members`, appended to `out`: the store
/// deletes `FROM members AS m WHERE <group> AND (<this>)` in one statement. The filter is checked
/// as the value filter of Group `members` it is, so it accepts and refuses exactly what
/// `members[…]` in a list filter does, with the same semantics (the compiler's row subject).
///
/// # Errors
///
/// 400 `invalidFilter` as [`compile_filter`] for `members[<filter>]`. On error `out` is left as it
/// was.
pub fn compile_member_filter(filter: &Filter, out: &mut SqlBuilder) -> Result<(), ScimError> {
    let rs = ResourceSchema::group();
    let wrapped = Filter::ValuePath {
        attr: AttrPath::simple("members"),
        filter: Box::new(filter.clone()),
        span: scimd_filter::Span::default(),
    };
    let checked = check_filter(&rs, &wrapped)?;
    let CheckedFilter::ValuePath { filter: inner, .. } = &checked else {
        return Err(ScimError::invalid_filter("a members filter must be a value filter"));
    };
    let mut fragment = SqlBuilder::new(out.dialect());
    Compiler { dialect: out.dialect(), kind: ResourceKind::Group, aliases: 0 }.filter(
        inner,
        &Subject::Row(Rows::GroupMembers),
        &mut fragment,
    )?;
    out.append(&fragment);
    Ok(())
}

/// Appends the `ORDER BY` list for `sortBy`/`sortOrder` (without the keywords `ORDER BY`), ending
/// with `r.id` so that the order is total and pages are stable.
///
/// RFC 7644 §3.4.2.3: a multi-valued attribute sorts by its primary value, else its first; a
/// complex attribute named alone sorts by its `value` sub-attribute (scimd's reading, as in
/// filters); "if there is no data for the specified sortBy value", the resource sorts last when
/// ascending and first when descending (`NULLS LAST` / `NULLS FIRST`); case-insensitive strings sort
/// by their folded text, all strings in code-point order. Descending is exactly ascending reversed,
/// tie-breaker included.
///
/// # Errors
///
/// 400 `invalidValue` when `sort_by` names no attribute of the type, a complex attribute without a
/// `value` sub-attribute, or an attribute the store cannot sort by (`members`, `groups`,
/// `meta.location`).
pub fn compile_sort(
    sort_by: &AttrPath,
    order: SortOrder,
    rs: &ResourceSchema,
    kind: ResourceKind,
    out: &mut SqlBuilder,
) -> Result<(), ScimError> {
    let dialect = out.dialect();
    let name = sort_by.to_string();
    let bad = |why: String| ScimError::invalid_value(format!("sortBy \"{name}\": {why}"));
    let resolved = rs.resolve_path(sort_by).map_err(|e| bad(e.to_string()))?;
    let mut sub = resolved.sub;
    if resolved.leaf().kind == AttrType::Complex {
        sub = match resolved.attr.sub_attribute("value") {
            Some(v) if resolved.sub.is_none() => Some(v),
            _ => return Err(bad("a complex attribute sorts by one of its sub-attributes".into())),
        };
    }
    let leaf_def = sub.unwrap_or(resolved.attr);
    let mut as_ = As::of_def(leaf_def);

    let mut expr = SqlBuilder::new(dialect);
    if resolved.is_core
        && let Some(col) = column_for(kind, resolved.attr, sub).map_err(|e| bad(e.detail))?
    {
        let (sql, col_as) = col.sort_sql();
        expr.push(sql);
        as_ = col_as;
    } else if resolved.is_core && resolved.attr.name == "meta" {
        return Err(bad("not a sortable attribute".into()));
    } else if resolved.attr.stored_as_rows {
        return Err(bad(format!("\"{}\" is kept as rows and cannot be sorted by", resolved.attr.name)));
    } else {
        let mut keys = root_keys(resolved.is_core, &resolved.schema.id, &resolved.attr.name);
        let primary = resolved.attr.sub_attribute("primary").filter(|p| p.kind == AttrType::Boolean);
        let mut sub_keys = Vec::new();
        if let Some(sub) = sub {
            sub_keys.push(Key::Name(sub.name.clone()));
            if sub.multi_valued {
                sub_keys.push(Key::Index(0));
            }
        }
        match (resolved.attr.multi_valued, primary) {
            // RFC 7644 §3.4.2.3: "the primary attribute [value], if any, or else the first value".
            (true, Some(primary)) => {
                let e = "e";
                expr.push("(SELECT ");
                json_scalar(&mut expr, &element_base(dialect, e), &sub_keys, as_)?;
                expr.push(" FROM ");
                match dialect {
                    Dialect::Sqlite => {
                        json_each(&mut expr, "r.search", &keys, e)?;
                        expr.push(" ORDER BY ");
                        json_scalar(&mut expr, "e.value", &[Key::Name(primary.name.clone())], As::Bool)?;
                        expr.push(" IS TRUE DESC, e.key LIMIT 1)");
                    }
                    Dialect::Postgres => {
                        expr.push("jsonb_array_elements(");
                        json_chain(&mut expr, "r.search", &keys, false);
                        expr.push(") WITH ORDINALITY AS e(v, i) ORDER BY COALESCE(");
                        json_scalar(&mut expr, "e.v", &[Key::Name(primary.name.clone())], As::Bool)?;
                        expr.push(", FALSE) DESC, e.i LIMIT 1)");
                    }
                }
            }
            (multi, _) => {
                if multi {
                    keys.push(Key::Index(0));
                }
                keys.extend(sub_keys);
                json_scalar(&mut expr, "r.search", &keys, as_)?;
            }
        }
    }

    out.append(&expr);
    if dialect == Dialect::Postgres && as_ == As::Text {
        out.push(" COLLATE \"C\"");
    }
    out.push(match order {
        SortOrder::Ascending => " ASC NULLS LAST, r.id ASC",
        SortOrder::Descending => " DESC NULLS FIRST, r.id DESC",
    });
    Ok(())
}

/// How a JSON value is read. SQLite's `json_extract` returns the SQL value of the JSON type by
/// itself; PostgreSQL needs to be told (`->>` for text, a cast for numbers and booleans).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum As {
    Text,
    Number,
    Bool,
}

impl As {
    fn of_operand(operand: &Operand) -> As {
        match operand {
            Operand::Str(_) | Operand::DateTime(_) => As::Text,
            Operand::Int(_) | Operand::Dec(_) => As::Number,
            Operand::Bool(_) => As::Bool,
        }
    }

    fn of_def(def: &AttributeDef) -> As {
        match def.kind {
            AttrType::Integer | AttrType::Decimal => As::Number,
            AttrType::Boolean => As::Bool,
            _ => As::Text,
        }
    }
}

/// One step into a JSON value.
#[derive(Clone, Debug, PartialEq)]
enum Key {
    /// An object member, by its canonical attribute name (or schema URN).
    Name(String),
    /// An array element (sorting reads the first).
    Index(i64),
}

/// The keys from the top of the document to a top-level attribute: under its schema URN for an
/// extension (RFC 7643 §3.3).
fn root_keys(is_core: bool, schema_id: &str, attr: &str) -> Vec<Key> {
    let mut keys = Vec::with_capacity(2);
    if !is_core {
        keys.push(Key::Name(schema_id.to_owned()));
    }
    keys.push(Key::Name(attr.to_owned()));
    keys
}

/// The column holding an element of `json_each`/`jsonb_array_elements` under alias `alias`.
fn element_base(dialect: Dialect, alias: &str) -> String {
    match dialect {
        Dialect::Sqlite => format!("{alias}.value"),
        Dialect::Postgres => format!("{alias}.v"),
    }
}

/// A SQLite JSON path (`$.emails`, `$."urn:…:User".employeeNumber`), bound, never spliced into the
/// SQL text. Names come from the schema; one SQLite's path syntax cannot quote is refused.
fn sqlite_path(keys: &[Key]) -> Result<String, ScimError> {
    let mut path = String::from("$");
    for key in keys {
        match key {
            Key::Index(i) => {
                path.push('[');
                path.push_str(&i.to_string());
                path.push(']');
            }
            Key::Name(n)
                if !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') =>
            {
                path.push('.');
                path.push_str(n);
            }
            Key::Name(n) if !n.contains(['"', '\\']) => {
                path.push_str(".\"");
                path.push_str(n);
                path.push('"');
            }
            Key::Name(n) => {
                return Err(ScimError::invalid_filter(format!(
                    "the attribute or schema name {n:?} cannot be searched"
                )));
            }
        }
    }
    Ok(path)
}

/// PostgreSQL: `base -> $1 -> $2` (JSON), or `base -> $1 ->> $2` when `text_last` (text).
fn json_chain(out: &mut SqlBuilder, base: &str, keys: &[Key], text_last: bool) {
    out.push(base);
    for (i, key) in keys.iter().enumerate() {
        out.push(if text_last && i + 1 == keys.len() { " ->> " } else { " -> " });
        match key {
            Key::Name(n) => {
                out.bind(Bind::Text(n.clone()));
            }
            Key::Index(i) => {
                pg_int(out, *i);
            }
        }
    }
}

/// A LIKE pattern matching `lit` literally: PostgreSQL's default escape character is `\\`.
fn like_escape(lit: &str) -> String {
    let mut out = String::with_capacity(lit.len());
    for c in lit.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The least string greater, in code-point order, than every string that starts with `prefix`: the
/// prefix with its last code point that can be incremented incremented, and what follows dropped.
/// `None` when every code point is `char::MAX` (no upper bound exists).
fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // The next scalar value: surrogates are not chars, so U+D7FF is followed by U+E000.
        let next = match u32::from(last) {
            0xD7FF => Some('\u{E000}'),
            n => n.checked_add(1).and_then(char::from_u32),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// PostgreSQL: an integer argument. Binds travel as `int8`, and `jsonb -> int`, `left` and `right`
/// take `int4`, to which PostgreSQL does not convert implicitly.
fn pg_int(out: &mut SqlBuilder, i: i64) {
    out.bind(Bind::Int(i)).push("::integer");
}

/// The scalar at `keys` below the JSON in `base`, read `as_`; NULL when absent.
fn json_scalar(out: &mut SqlBuilder, base: &str, keys: &[Key], as_: As) -> Result<(), ScimError> {
    match out.dialect() {
        Dialect::Sqlite => {
            if keys.is_empty() {
                out.push(base);
            } else {
                out.push("json_extract(").push(base).push(", ");
                out.bind(Bind::Text(sqlite_path(keys)?));
                out.push(")");
            }
        }
        Dialect::Postgres => match (as_, keys.is_empty()) {
            (As::Text, true) => {
                out.push("(").push(base).push(" #>> '{}')");
            }
            (As::Text, false) => {
                out.push("(");
                json_chain(out, base, keys, true);
                out.push(")");
            }
            (As::Number | As::Bool, _) => {
                out.push("(");
                json_chain(out, base, keys, false);
                out.push(if as_ == As::Number { ")::numeric" } else { ")::boolean" });
            }
        },
    }
    Ok(())
}

/// A `FROM` item iterating the array at `keys` below `base`, one row per element, as `alias`.
fn json_each(out: &mut SqlBuilder, base: &str, keys: &[Key], alias: &str) -> Result<(), ScimError> {
    match out.dialect() {
        Dialect::Sqlite => {
            out.push("json_each(").push(base);
            if !keys.is_empty() {
                out.push(", ");
                out.bind(Bind::Text(sqlite_path(keys)?));
            }
            out.push(") AS ").push(alias);
        }
        Dialect::Postgres => {
            out.push("jsonb_array_elements(");
            json_chain(out, base, keys, false);
            out.push(") AS ").push(alias).push("(v)");
        }
    }
    Ok(())
}

/// Resource columns that stand for attributes (see the table in the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    Id,
    NameKey,
    DisplayNameKey,
    ExternalId,
    Active,
    Created,
    LastModified,
    Kind,
    Version,
}

impl Column {
    /// The expression a filter compares.
    fn sql(self) -> &'static str {
        match self {
            Column::Id => "r.id",
            Column::NameKey => "r.name_key",
            Column::DisplayNameKey => "r.display_name_key",
            Column::ExternalId => "r.external_id",
            Column::Active => "r.active",
            Column::Created => "r.created",
            Column::LastModified => "r.last_modified",
            Column::Kind => "r.kind",
            // docs/architecture.md "Data": the ETag (and `meta.version`) is `W/"<version>"`.
            Column::Version => "('W/\"' || r.version || '\"')",
        }
    }

    /// The expression a sort orders by (versions numerically), and its type.
    fn sort_sql(self) -> (&'static str, As) {
        match self {
            Column::Version => ("r.version", As::Number),
            Column::Active => ("r.active", As::Bool),
            other => (other.sql(), As::Text),
        }
    }

    fn nullable(self) -> bool {
        matches!(self, Column::DisplayNameKey | Column::ExternalId | Column::Active)
    }
}

/// The column for a core attribute, if one holds it. The folded columns serve only
/// case-insensitive definitions and the exact ones only case-exact definitions, so a schema that
/// changed `caseExact` would fall back to the JSON rather than compare wrongly.
fn column_for(
    kind: ResourceKind,
    attr: &AttributeDef,
    sub: Option<&AttributeDef>,
) -> Result<Option<Column>, ScimError> {
    let folded = |def: &AttributeDef, col: Column| def.folds_case().then_some(col);
    let exact = |def: &AttributeDef, col: Column| (!def.folds_case()).then_some(col);
    Ok(match (attr.name.as_str(), sub) {
        ("id", None) => Some(Column::Id),
        ("externalId", None) => exact(attr, Column::ExternalId),
        ("userName", None) if kind == ResourceKind::User => folded(attr, Column::NameKey),
        ("displayName", None) => folded(attr, Column::DisplayNameKey),
        ("active", None) if kind == ResourceKind::User && attr.kind == AttrType::Boolean => {
            Some(Column::Active)
        }
        ("meta", Some(sub)) => match sub.name.as_str() {
            "created" => Some(Column::Created),
            "lastModified" => Some(Column::LastModified),
            "resourceType" => exact(sub, Column::Kind),
            "version" => exact(sub, Column::Version),
            other => {
                return Err(ScimError::invalid_filter(format!(
                    "\"meta.{other}\" is not stored and cannot be searched (it depends on the URL of the request)"
                )));
            }
        },
        _ => None,
    })
}

/// Which side of the membership table an attribute kept as rows reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rows {
    /// Group `members`: rows with `group_id = r.id`, the member in `member_id`.
    GroupMembers,
    /// User `groups` (RFC 7643 §4.1.2): rows with `member_id = r.id`, the group in `group_id`.
    UserGroups,
}

impl Rows {
    fn of(kind: ResourceKind, attr: &AttributeDef) -> Result<Rows, ScimError> {
        match (kind, attr.name.as_str()) {
            (ResourceKind::Group, "members") => Ok(Rows::GroupMembers),
            (ResourceKind::User, "groups") => Ok(Rows::UserGroups),
            _ => Err(ScimError::invalid_filter(format!("\"{}\" cannot be searched", attr.name))),
        }
    }

    /// `FROM members m WHERE <this>`: the rows of the resource `r`.
    fn correlation(self) -> &'static str {
        match self {
            Rows::GroupMembers => "m.tenant_id = r.tenant_id AND m.group_id = r.id",
            Rows::UserGroups => "m.tenant_id = r.tenant_id AND m.member_id = r.id",
        }
    }

    /// The expression for one sub-attribute of the row's element, and whether it can be NULL.
    ///
    /// Member ids are ids of existing resources (the store skips the others), which scimd assigns as
    /// lower-case UUIDs: they are their own case fold, so `value` compares as stored whichever
    /// `caseExact` says. `type` is `User`/`Group` (ASCII, so SQL `lower` is the fold) for members;
    /// for a user's groups it is `direct`, since the store keeps direct memberships only.
    /// `display` is read through the other resource, as the store renders it: a member's
    /// displayName, else its userName; a group's displayName.
    fn field(self, sub: Option<&AttributeDef>) -> Result<(&'static str, bool), ScimError> {
        let name = sub.map_or("value", |s| s.name.as_str());
        let folds = sub.is_some_and(AttributeDef::folds_case);
        Ok(match (self, name, folds) {
            (Rows::GroupMembers, "value", _) => ("m.member_id", false),
            (Rows::UserGroups, "value", _) => ("m.group_id", false),
            (Rows::GroupMembers, "type", true) => ("lower(m.member_kind)", false),
            (Rows::GroupMembers, "type", false) => ("m.member_kind", false),
            (Rows::UserGroups, "type", _) => ("'direct'", false),
            (Rows::GroupMembers, "display", true) => (
                "(SELECT COALESCE(x.display_name_key, x.name_key) FROM resources x \
                 WHERE x.tenant_id = m.tenant_id AND x.id = m.member_id)",
                true,
            ),
            (Rows::GroupMembers, "display", false) => (
                "(SELECT COALESCE(x.display_name, x.user_name) FROM resources x \
                 WHERE x.tenant_id = m.tenant_id AND x.id = m.member_id)",
                true,
            ),
            (Rows::UserGroups, "display", true) => (
                "(SELECT x.display_name_key FROM resources x WHERE x.tenant_id = m.tenant_id AND x.id = m.group_id)",
                true,
            ),
            (Rows::UserGroups, "display", false) => (
                "(SELECT x.display_name FROM resources x WHERE x.tenant_id = m.tenant_id AND x.id = m.group_id)",
                true,
            ),
            (_, other, _) => {
                let attr = if self == Rows::GroupMembers { "members" } else { "groups" };
                return Err(ScimError::invalid_filter(format!(
                    "\"{attr}.{other}\" is not stored and cannot be searched (it depends on the URL of the request)"
                )));
            }
        })
    }
}

/// What a filter is tested against: the whole resource, or one value of the attribute a value
/// filter (`emails[…]`) is on. (Not an OAuth scope: those are `scimd_oauth::Scope`.)
#[derive(Clone, Debug)]
enum Subject {
    Resource,
    /// One value held as JSON: `base` holds JSON, the value is at `keys` below it (empty for the
    /// element of a `json_each`; the attribute's keys for a singular complex attribute).
    Json {
        base: String,
        keys: Vec<Key>,
    },
    /// `meta[…]`: its sub-attributes are columns.
    Meta,
    /// `members[…]` / `groups[…]`: one membership row `m`.
    Row(Rows),
}

/// Where a target's values are read.
#[derive(Clone, Debug)]
enum Loc {
    /// `meta` itself: every resource has one.
    Always,
    /// A resource column.
    Column(Column),
    /// JSON: `arrays` are iterated in turn (`json_each`), each below the previous element (the first
    /// below `base`); the value is at `leaf` below the last element (or below `base` when there is
    /// no array).
    Json { base: String, arrays: Vec<Vec<Key>>, leaf: Vec<Key> },
    /// Membership rows; the expression is the row field.
    Rows { rows: Rows, field: &'static str },
    /// One field of the membership row the subject stands on.
    RowField { field: &'static str, nullable: bool },
}

/// What is asked of each value.
#[derive(Clone, Copy, Debug)]
enum Test<'f> {
    /// RFC 7644 §3.4.2.2 `pr`.
    Present,
    /// A comparison; never `ne` (compiled as `NOT (eq)`).
    Compare(CompareOp, &'f Operand),
}

struct Compiler {
    dialect: Dialect,
    kind: ResourceKind,
    /// Counter for `json_each` aliases (`e1`, `e2`, …), unique in the statement.
    aliases: usize,
}

impl Compiler {
    fn alias(&mut self) -> String {
        self.aliases += 1;
        format!("e{}", self.aliases)
    }

    /// The recursion follows the checked tree, whose depth `check_filter` bounds
    /// ([`scimd_schema::filter_eval::MAX_NESTING`]); `and`/`or` chains are flat lists there.
    fn filter(
        &mut self,
        f: &CheckedFilter<'_>,
        subject: &Subject,
        out: &mut SqlBuilder,
    ) -> Result<(), ScimError> {
        match f {
            CheckedFilter::And(parts) => self.chain(parts, " AND ", "TRUE", subject, out),
            CheckedFilter::Or(parts) => self.chain(parts, " OR ", "FALSE", subject, out),
            CheckedFilter::Not(inner) => {
                out.push("NOT (");
                self.filter(inner, subject, out)?;
                out.push(")");
                Ok(())
            }
            CheckedFilter::Present(target) => {
                let loc = self.locate(target, subject)?;
                self.emit(&loc, Test::Present, out)
            }
            CheckedFilter::Compare { target, op, operand } => {
                self.compare(target, *op, operand, subject, out)
            }
            CheckedFilter::ValuePath { target, filter } => self.value_path(target, filter, subject, out),
        }
    }

    fn chain(
        &mut self,
        parts: &[CheckedFilter<'_>],
        op: &str,
        empty: &str,
        subject: &Subject,
        out: &mut SqlBuilder,
    ) -> Result<(), ScimError> {
        if parts.is_empty() {
            out.push(empty);
            return Ok(());
        }
        out.push("(");
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                out.push(op);
            }
            self.filter(part, subject, out)?;
        }
        out.push(")");
        Ok(())
    }

    fn compare(
        &mut self,
        target: &Target<'_>,
        op: CompareOp,
        operand: &Operand,
        subject: &Subject,
        out: &mut SqlBuilder,
    ) -> Result<(), ScimError> {
        if op == CompareOp::Ne {
            // RFC 7644 leaves `ne` on absent and multi-valued attributes open; scimd defines it as
            // `not (eq)` (scimd_schema::filter_eval), so it matches resources without the attribute.
            out.push("NOT (");
            self.compare(target, CompareOp::Eq, operand, subject, out)?;
            out.push(")");
            return Ok(());
        }
        if matches!(subject, Subject::Resource)
            && let Some(indexed) = self.indexed_value(target, op, operand)
        {
            self.index_lookup(indexed, out);
            return Ok(());
        }
        let loc = self.locate(target, subject)?;
        self.emit(&loc, Test::Compare(op, operand), out)
    }

    /// The `resource_values` attribute and the folded literal of an `eq` that the index can answer
    /// (`emails.value eq "x"`, `emails eq "x"`).
    fn indexed_value<'o>(
        &self,
        target: &Target<'_>,
        op: CompareOp,
        operand: &'o Operand,
    ) -> Option<(&'static str, &'static str, &'o str)> {
        let sub = target.sub?;
        let r = &target.resolved;
        let (attr, sub_name) = INDEXED_VALUES.iter().find(|(a, s)| *a == r.attr.name && *s == sub.name)?;
        match operand {
            Operand::Str(v)
                if op == CompareOp::Eq
                    && self.kind == ResourceKind::User
                    && r.is_core
                    && r.attr.multi_valued
                    && sub.folds_case() =>
            {
                Some((attr, sub_name, v))
            }
            _ => None,
        }
    }

    /// A lookup in `resource_values`, served by its `(tenant_id, attr, value)` index.
    ///
    /// SQLite: `r.id IN (…)`, which it drives from the index. PostgreSQL: `EXISTS (…)` correlated
    /// on `tenant_id` and `id`, because PostgreSQL turns such an `EXISTS` into a semi-join but
    /// cannot do that with an `IN` whose subquery refers to the outer row: with `IN` it tested the
    /// subquery against every user of the tenant (load benchmark: 44 ms for
    /// `emails[type eq "work"].value eq` at 22,000 users, 0.3 ms as a semi-join).
    fn index_lookup(&self, (attr, sub, value): (&str, &str, &str), out: &mut SqlBuilder) {
        out.push(match self.dialect {
            Dialect::Sqlite => {
                "r.id IN (SELECT v.resource_id FROM resource_values v WHERE v.tenant_id = r.tenant_id AND v.attr = '"
            }
            Dialect::Postgres => {
                "EXISTS (SELECT 1 FROM resource_values v WHERE v.tenant_id = r.tenant_id \
                 AND v.resource_id = r.id AND v.attr = '"
            }
        });
        // A constant of this module (INDEXED_VALUES), not input.
        out.push(attr).push(".").push(sub);
        out.push("' AND v.value = ");
        out.bind(Bind::Text(value.to_owned()));
        out.push(")");
    }

    /// `attr[filter]` (RFC 7644 §3.4.2.2 valuePath): one value of `attr` satisfies all of `filter`.
    fn value_path(
        &mut self,
        target: &Target<'_>,
        filter: &CheckedFilter<'_>,
        subject: &Subject,
        out: &mut SqlBuilder,
    ) -> Result<(), ScimError> {
        if !matches!(subject, Subject::Resource) {
            // check_filter refuses nested value filters; this is the same answer should it ever not.
            return Err(ScimError::invalid_filter("a value filter cannot hold another value filter"));
        }
        let r = &target.resolved;
        if r.is_core && r.attr.name == "meta" {
            // `meta` is always there and its sub-attributes are columns.
            return self.filter(filter, &Subject::Meta, out);
        }
        if r.attr.stored_as_rows {
            let rows = Rows::of(self.kind, r.attr)?;
            out.push("EXISTS (SELECT 1 FROM members m WHERE ").push(rows.correlation()).push(" AND ");
            self.filter(filter, &Subject::Row(rows), out)?;
            out.push(")");
            return Ok(());
        }
        let keys = root_keys(r.is_core, &r.schema.id, &r.attr.name);
        if r.attr.multi_valued {
            // An equality on an indexed sub-attribute among the conjuncts narrows the candidates
            // through the index first (`emails[type eq "work" and value eq "x"]`).
            let conjuncts = match filter {
                CheckedFilter::And(parts) => parts.as_slice(),
                single => std::slice::from_ref(single),
            };
            let indexed = conjuncts.iter().find_map(|c| match c {
                CheckedFilter::Compare { target: t, op, operand } => self.indexed_value(t, *op, operand),
                _ => None,
            });
            if let Some(indexed) = indexed {
                out.push("(");
                self.index_lookup(indexed, out);
                out.push(" AND ");
            }
            let e = self.alias();
            out.push("EXISTS (SELECT 1 FROM ");
            json_each(out, "r.search", &keys, &e)?;
            out.push(" WHERE ");
            self.filter(
                filter,
                &Subject::Json { base: element_base(self.dialect, &e), keys: Vec::new() },
                out,
            )?;
            out.push(")");
            if indexed.is_some() {
                out.push(")");
            }
        } else {
            // A singular complex attribute (`name[givenName eq "x"]`): its one value, if it has one.
            out.push("(COALESCE(");
            match self.dialect {
                Dialect::Sqlite => {
                    out.push("json_type(r.search, ");
                    out.bind(Bind::Text(sqlite_path(&keys)?));
                    out.push(")");
                }
                Dialect::Postgres => {
                    out.push("jsonb_typeof(");
                    json_chain(out, "r.search", &keys, false);
                    out.push(")");
                }
            }
            out.push(" = 'object', FALSE) AND ");
            self.filter(filter, &Subject::Json { base: "r.search".to_owned(), keys }, out)?;
            out.push(")");
        }
        Ok(())
    }

    /// Where `target`'s values are read in `subject`.
    fn locate(&self, target: &Target<'_>, subject: &Subject) -> Result<Loc, ScimError> {
        let r = &target.resolved;
        let missing_sub =
            || ScimError::invalid_filter(format!("\"{}\" needs a sub-attribute here", r.attr.name));
        match subject {
            Subject::Resource => {
                if r.is_core {
                    if let Some(col) = column_for(self.kind, r.attr, target.sub)? {
                        return Ok(Loc::Column(col));
                    }
                    if r.attr.name == "meta" && target.sub.is_none() {
                        return Ok(Loc::Always);
                    }
                }
                if r.attr.stored_as_rows {
                    let rows = Rows::of(self.kind, r.attr)?;
                    let (field, _) = rows.field(target.sub)?;
                    return Ok(Loc::Rows { rows, field });
                }
                let mut arrays = Vec::new();
                let mut leaf = root_keys(r.is_core, &r.schema.id, &r.attr.name);
                if r.attr.multi_valued {
                    arrays.push(std::mem::take(&mut leaf));
                }
                if let Some(sub) = target.sub {
                    leaf.push(Key::Name(sub.name.clone()));
                    if sub.multi_valued {
                        arrays.push(std::mem::take(&mut leaf));
                    }
                }
                Ok(Loc::Json { base: "r.search".to_owned(), arrays, leaf })
            }
            Subject::Json { base, keys } => {
                let sub = target.sub.ok_or_else(missing_sub)?;
                let mut leaf = keys.clone();
                leaf.push(Key::Name(sub.name.clone()));
                let mut arrays = Vec::new();
                if sub.multi_valued {
                    arrays.push(std::mem::take(&mut leaf));
                }
                Ok(Loc::Json { base: base.clone(), arrays, leaf })
            }
            Subject::Meta => {
                let sub = target.sub.ok_or_else(missing_sub)?;
                match column_for(self.kind, r.attr, Some(sub))? {
                    Some(col) => Ok(Loc::Column(col)),
                    None => {
                        Err(ScimError::invalid_filter(format!("\"meta.{}\" cannot be searched", sub.name)))
                    }
                }
            }
            Subject::Row(rows) => {
                let (field, nullable) = rows.field(Some(target.sub.ok_or_else(missing_sub)?))?;
                Ok(Loc::RowField { field, nullable })
            }
        }
    }

    /// Writes the two-valued test of `loc`'s values: any value passing `test`.
    fn emit(&mut self, loc: &Loc, test: Test<'_>, out: &mut SqlBuilder) -> Result<(), ScimError> {
        let mut leaf = SqlBuilder::new(self.dialect);
        match loc {
            Loc::Always => {
                out.push(match test {
                    Test::Present => "TRUE",
                    // check_filter refuses comparisons on a complex attribute without `value`.
                    Test::Compare(..) => "FALSE",
                });
            }
            Loc::Column(col) => {
                leaf.push(col.sql());
                self.guarded(&leaf, col.nullable(), test, out)?;
            }
            Loc::RowField { field, nullable } => {
                leaf.push(field);
                self.guarded(&leaf, *nullable, test, out)?;
            }
            Loc::Rows { rows, field } => {
                leaf.push(field);
                out.push("EXISTS (SELECT 1 FROM members m WHERE ").push(rows.correlation()).push(" AND ");
                self.test(&leaf, test, out)?;
                out.push(")");
            }
            Loc::Json { base, arrays, leaf: leaf_keys } => {
                let as_ = match test {
                    Test::Present => As::Text,
                    Test::Compare(_, operand) => As::of_operand(operand),
                };
                if arrays.is_empty() {
                    json_scalar(&mut leaf, base, leaf_keys, as_)?;
                    match test {
                        Test::Present => self.test(&leaf, test, out)?,
                        Test::Compare(..) => {
                            out.push("COALESCE(");
                            self.test(&leaf, test, out)?;
                            out.push(", FALSE)");
                        }
                    }
                } else {
                    out.push("EXISTS (SELECT 1 FROM ");
                    let mut current = base.clone();
                    for (i, keys) in arrays.iter().enumerate() {
                        if i > 0 {
                            out.push(", ");
                        }
                        let e = self.alias();
                        json_each(out, &current, keys, &e)?;
                        current = element_base(self.dialect, &e);
                    }
                    json_scalar(&mut leaf, &current, leaf_keys, as_)?;
                    out.push(" WHERE ");
                    self.test(&leaf, test, out)?;
                    out.push(")");
                }
            }
        }
        Ok(())
    }

    /// A test of a column expression, made two-valued: `(x IS NOT NULL AND x = ?)` when `x` can be
    /// NULL (the comparison stays sargable), the bare test otherwise.
    fn guarded(
        &self,
        leaf: &SqlBuilder,
        nullable: bool,
        test: Test<'_>,
        out: &mut SqlBuilder,
    ) -> Result<(), ScimError> {
        if nullable && matches!(test, Test::Compare(..)) {
            out.push("(");
            out.append(leaf);
            out.push(" IS NOT NULL AND ");
            self.test(leaf, test, out)?;
            out.push(")");
            Ok(())
        } else {
            self.test(leaf, test, out)
        }
    }

    /// The test of one value `x` (which may be NULL; callers make the result two-valued).
    fn test(&self, x: &SqlBuilder, test: Test<'_>, out: &mut SqlBuilder) -> Result<(), ScimError> {
        let (op, operand) = match test {
            Test::Present => {
                // RFC 7644 §3.4.2.2 "If the attribute has a non-empty value": stored documents hold no
                // null, "", [] or {} (RFC 7643 §2.5), so having a value is being there.
                out.append(x).push(" IS NOT NULL");
                return Ok(());
            }
            Test::Compare(op, operand) => (op, operand),
        };
        let symbol = match op {
            CompareOp::Eq => "=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Co | CompareOp::Sw | CompareOp::Ew => "",
            CompareOp::Ne => {
                return Err(ScimError::invalid_filter("internal: ne reached the value test"));
            }
        };
        match operand {
            Operand::Str(lit) | Operand::DateTime(lit) => {
                let substring = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
                if substring && matches!(operand, Operand::DateTime(_)) {
                    return Err(ScimError::invalid_filter(format!("{op} applies to strings only")));
                }
                if substring && lit.is_empty() {
                    // Every string contains, starts and ends with "".
                    out.append(x).push(" IS NOT NULL");
                    return Ok(());
                }
                // RFC 7644 §3.4.2.2 co/sw/ew: substring tests on the (folded) text, code points
                // counted as the database counts characters; LIKE would add wildcards and, in
                // SQLite, ASCII case-insensitivity.
                let chars = i64::try_from(lit.chars().count()).unwrap_or(i64::MAX);
                match (op, self.dialect) {
                    (CompareOp::Co, Dialect::Sqlite) => {
                        out.push("instr(").append(x).push(", ");
                        out.bind(Bind::Text(lit.clone())).push(") > 0");
                    }
                    (CompareOp::Co, Dialect::Postgres) => {
                        // LIKE with the literal's wildcards escaped is the same substring test as
                        // strpos, and the one a pg_trgm index serves (PostgreSQL 0001).
                        out.append(x).push(" LIKE ");
                        out.bind(Bind::Text(format!("%{}%", like_escape(lit))));
                    }
                    (CompareOp::Sw, Dialect::Sqlite) => {
                        out.push("substr(").append(x).push(", 1, ");
                        out.bind(Bind::Int(chars)).push(") = ");
                        out.bind(Bind::Text(lit.clone()));
                    }
                    (CompareOp::Sw, Dialect::Postgres) => {
                        // In code-point order (COLLATE "C": UTF-8 byte order), the strings that
                        // start with `lit` are exactly those from `lit` up to, not including, its
                        // successor: a range the btree indexes on the C-collated keys serve.
                        out.push("(").append(x).push(" COLLATE \"C\" >= ");
                        out.bind(Bind::Text(lit.clone()));
                        if let Some(next) = prefix_successor(lit) {
                            out.push(" AND ").append(x).push(" COLLATE \"C\" < ");
                            out.bind(Bind::Text(next));
                        }
                        out.push(")");
                    }
                    (CompareOp::Ew, Dialect::Sqlite) => {
                        // A negative start counts from the end; a text shorter than the literal
                        // yields itself, which cannot equal the literal.
                        out.push("substr(").append(x).push(", ");
                        out.bind(Bind::Int(-chars)).push(") = ");
                        out.bind(Bind::Text(lit.clone()));
                    }
                    (CompareOp::Ew, Dialect::Postgres) => {
                        out.push("right(").append(x).push(", ");
                        pg_int(out, chars);
                        out.push(") = ");
                        out.bind(Bind::Text(lit.clone()));
                    }
                    (_, dialect) => {
                        out.append(x);
                        // Code-point order, as Rust's `str` order in the evaluator.
                        if dialect == Dialect::Postgres && op != CompareOp::Eq {
                            out.push(" COLLATE \"C\"");
                        }
                        out.push(" ").push(symbol).push(" ");
                        out.bind(Bind::Text(lit.clone()));
                    }
                }
            }
            Operand::Int(_) | Operand::Dec(_) | Operand::Bool(_) if symbol.is_empty() => {
                return Err(ScimError::invalid_filter(format!("{op} applies to strings only")));
            }
            Operand::Bool(_) if op != CompareOp::Eq => {
                return Err(ScimError::invalid_filter(format!("{op} does not apply to booleans")));
            }
            Operand::Int(i) => {
                out.append(x).push(" ").push(symbol).push(" ");
                out.bind(Bind::Int(*i));
            }
            Operand::Dec(d) => {
                out.append(x).push(" ").push(symbol).push(" ");
                out.bind(Bind::Real(*d));
            }
            Operand::Bool(b) => {
                out.append(x).push(" = ");
                out.bind(Bind::Bool(*b));
            }
        }
        Ok(())
    }
}

/// One page of a list (RFC 7644 §3.4.2.4), for every backend: `select` (the columns and
/// `FROM resources r WHERE `), then `filter`, then, with cursor paging, the resources after
/// `window.after` (ids are creation-ordered UUIDv7); in the query's `sortBy` order, else by id;
/// `window.count` of them from `window.offset`.
pub fn page_statement(
    select: &str,
    filter: &SqlBuilder,
    window: &Window,
    query: &ListQuery,
    rs: &ResourceSchema,
    kind: ResourceKind,
) -> Result<(String, Vec<Bind>), ScimError> {
    let mut page = SqlBuilder::new(filter.dialect());
    page.push(select);
    page.append(filter);
    if let Some(after_id) = &window.after {
        page.push(" AND r.id > ");
        page.bind(Bind::Text(after_id.clone()));
    }
    page.push(" ORDER BY ");
    match &query.sort_by {
        Some(sort_by) => compile_sort(sort_by, query.sort_order, rs, kind, &mut page)?,
        None => {
            page.push("r.id");
        }
    }
    page.push(" LIMIT ");
    page.bind(Bind::Int(i64::try_from(window.count).unwrap_or(i64::MAX)));
    page.push(" OFFSET ");
    page.bind(Bind::Int(i64::try_from(window.offset).unwrap_or(i64::MAX)));
    Ok(page.finish())
}

#[cfg(test)]
mod unit {
    use super::{like_escape, prefix_successor};

    #[test]
    fn prefix_successors_bound_exactly_the_strings_with_the_prefix() {
        assert_eq!(prefix_successor("abc").as_deref(), Some("abd"));
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_successor("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(prefix_successor("\u{10FFFF}"), None);
        for (prefix, s) in [("ab", "ab"), ("ab", "abz"), ("ab", "ab\u{10FFFF}x"), ("é", "éa")] {
            let next = prefix_successor(prefix).unwrap();
            assert!(prefix <= s && s < next.as_str(), "{s:?} in [{prefix:?}, {next:?})");
        }
        for (prefix, s) in [("ab", "aa"), ("ab", "ac"), ("ab", "a"), ("ab", "b")] {
            let next = prefix_successor(prefix).unwrap();
            assert!(!(prefix <= s && s < next.as_str()), "{s:?} not in [{prefix:?}, {next:?})");
        }
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_escape("50%_off\\"), "50\\%\\_off\\\\");
    }
}
