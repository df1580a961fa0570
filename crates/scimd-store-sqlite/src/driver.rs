//! What the request path's rusqlite connections (`readers.rs`, `writer.rs`) share: one error type
//! and its translation into [`StoreError`], compiled filter values as parameters, and rows as
//! [`Columns`](scimd_store::rows::Columns).

use std::fmt;

use rusqlite::ErrorCode;
use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};

use scimd_store::sql::Bind;
use scimd_store::{Result, StoreError};

/// Why a statement failed: SQLite's error, or the store's own (a row that does not map, a
/// document the schema refuses, a refused member).
#[derive(Debug)]
pub(crate) enum DbError {
    Sql(rusqlite::Error),
    Store(StoreError),
    /// A write operation found, before writing anything, that it is too large to run on an async
    /// worker (`writer.rs`): it is run again where blocking is allowed.
    Heavy,
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        DbError::Sql(e)
    }
}

impl From<StoreError> for DbError {
    fn from(e: StoreError) -> Self {
        DbError::Store(e)
    }
}

impl From<scimd_schema::ScimError> for DbError {
    fn from(e: scimd_schema::ScimError) -> Self {
        DbError::Store(e.into())
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::Sql(e) => e.fmt(f),
            DbError::Store(e) => e.fmt(f),
            DbError::Heavy => f.write_str("the operation must run off the async workers"),
        }
    }
}

/// What the closures run on these connections return.
pub(crate) type DbResult<T> = std::result::Result<T, DbError>;

/// SQLite's extended result codes for a violated UNIQUE or PRIMARY KEY constraint
/// (<https://www.sqlite.org/rescode.html#constraint_unique>).
const CONSTRAINT_UNIQUE: i32 = 2067;
const CONSTRAINT_PRIMARYKEY: i32 = 1555;

impl DbError {
    /// Whether SQLite failed with `code`.
    pub(crate) fn is(&self, code: ErrorCode) -> bool {
        matches!(self, DbError::Sql(rusqlite::Error::SqliteFailure(e, _)) if e.code == code)
    }

    /// The progress handler interrupted the statement: it went over its budget.
    pub(crate) fn over_budget(&self) -> bool {
        self.is(ErrorCode::OperationInterrupted)
    }

    /// The one translation into [`StoreError`], as `crate::map_err` does for sqlx's errors:
    ///
    /// - a UNIQUE or PRIMARY KEY violation → [`StoreError::Conflict`] naming the column;
    /// - busy, locked, out of memory, read-only, I/O, disk full, cannot open → [`StoreError::Unavailable`]
    ///   (503: the client may retry);
    /// - anything else → [`StoreError::Internal`] (500, logged, never shown).
    pub(crate) fn into_store(self) -> StoreError {
        match self {
            DbError::Store(e) => e,
            DbError::Sql(rusqlite::Error::SqliteFailure(e, msg)) => {
                let text = msg.unwrap_or_else(|| e.to_string());
                match e.code {
                    ErrorCode::ConstraintViolation
                        if matches!(e.extended_code, CONSTRAINT_UNIQUE | CONSTRAINT_PRIMARYKEY) =>
                    {
                        StoreError::Conflict(crate::conflicting_column(&text))
                    }
                    ErrorCode::DatabaseBusy
                    | ErrorCode::DatabaseLocked
                    | ErrorCode::OutOfMemory
                    | ErrorCode::ReadOnly
                    | ErrorCode::SystemIoFailure
                    | ErrorCode::DiskFull
                    | ErrorCode::CannotOpen
                    | ErrorCode::FileLockingProtocolFailed => StoreError::Unavailable(text),
                    _ => StoreError::Internal(text),
                }
            }
            DbError::Sql(e) => StoreError::Internal(e.to_string()),
            DbError::Heavy => {
                StoreError::Internal("a heavy write was not moved off the async workers".into())
            }
        }
    }

    /// [`DbError::into_store`] for a bare rusqlite error, for `map_err`.
    pub(crate) fn into_store_err(e: rusqlite::Error) -> StoreError {
        DbError::Sql(e).into_store()
    }
}

/// A compiled filter's value as a rusqlite parameter. Booleans are 0/1, as SQLite stores them.
pub(crate) struct Param<'a>(pub(crate) &'a Bind);

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            Bind::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Bind::Int(i) => ToSqlOutput::Owned(SqlValue::Integer(*i)),
            Bind::Real(r) => ToSqlOutput::Owned(SqlValue::Real(*r)),
            Bind::Bool(b) => ToSqlOutput::Owned(SqlValue::Integer(i64::from(*b))),
            Bind::Null(_) => ToSqlOutput::Owned(SqlValue::Null),
        })
    }
}

/// A compiled statement's binds as rusqlite parameters.
pub(crate) fn params(binds: &[Bind]) -> impl rusqlite::Params + '_ {
    rusqlite::params_from_iter(binds.iter().map(Param))
}

/// A rusqlite row as [`scimd_store::rows::Columns`], so records map as on every other backend.
pub(crate) struct RowCols<'a, 'r>(pub(crate) &'a rusqlite::Row<'r>);

fn unreadable(e: rusqlite::Error) -> StoreError {
    StoreError::Internal(format!("a stored column does not read: {e}"))
}

impl scimd_store::rows::Columns for RowCols<'_, '_> {
    fn text(&self, col: &str) -> Result<String> {
        self.0.get(col).map_err(unreadable)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        self.0.get(col).map_err(unreadable)
    }
    fn bytes(&self, col: &str) -> Result<Vec<u8>> {
        self.0.get(col).map_err(unreadable)
    }
    fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>> {
        self.0.get(col).map_err(unreadable)
    }
    fn int(&self, col: &str) -> Result<i64> {
        self.0.get(col).map_err(unreadable)
    }
    fn flag(&self, col: &str) -> Result<bool> {
        self.0.get::<_, i64>(col).map(|v| v != 0).map_err(unreadable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_violations_are_conflicts_naming_the_column() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE t (a TEXT, b TEXT, UNIQUE (a, b)); INSERT INTO t VALUES ('x', 'y');")
            .unwrap();
        let e = c.execute("INSERT INTO t VALUES ('x', 'y')", []).unwrap_err();
        assert!(matches!(DbError::from(e).into_store(), StoreError::Conflict(c) if c == "b"));
        let e = c.execute("INSERT INTO missing VALUES (1)", []).unwrap_err();
        assert!(matches!(DbError::from(e).into_store(), StoreError::Internal(_)));
    }

    #[test]
    fn binds_round_trip_as_sqlite_stores_them() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        let binds = [Bind::Text("a".into()), Bind::Int(7), Bind::Real(1.5), Bind::Bool(true)];
        let row: (String, i64, f64, i64) = c
            .query_row("SELECT ?, ?, ?, ?", params(&binds), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .unwrap();
        assert_eq!(row, ("a".to_owned(), 7, 1.5, 1));
    }
}
