//! The one backend-specific part of turning a row into a record (`scimd_store::rows`).

use sqlx::Row as _;
use sqlx::postgres::PgRow;

use scimd_store::Result;

use crate::map_err;

fn get<
    'r,
    T: sqlx::Decode<'r, <PgRow as sqlx::Row>::Database> + sqlx::Type<<PgRow as sqlx::Row>::Database>,
>(
    row: &'r PgRow,
    col: &str,
) -> Result<T> {
    row.try_get(col).map_err(map_err)
}

/// A row as [`scimd_store::rows::Columns`]: the one backend-specific part of turning it into a record.
pub(crate) struct Cols<'a>(pub(crate) &'a PgRow);

impl scimd_store::rows::Columns for Cols<'_> {
    fn text(&self, col: &str) -> Result<String> {
        get(self.0, col)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        get(self.0, col)
    }
    fn bytes(&self, col: &str) -> Result<Vec<u8>> {
        get(self.0, col)
    }
    fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>> {
        get(self.0, col)
    }
    fn int(&self, col: &str) -> Result<i64> {
        let row = self.0;
        row.try_get::<i64, _>(col).or_else(|_| row.try_get::<i32, _>(col).map(i64::from)).map_err(map_err)
    }
    fn flag(&self, col: &str) -> Result<bool> {
        get(self.0, col)
    }
}
