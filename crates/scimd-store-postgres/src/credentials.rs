//! `CredentialStore` on PostgreSQL: static bearer tokens, looked up by the SHA-256 digest of the
//! secret through a unique index. The secret itself never reaches the database.

use async_trait::async_trait;
use sqlx::Row as _;
use sqlx::postgres::PgRow;
use time::OffsetDateTime;
use uuid::Uuid;

use scimd_store::credentials::TOUCH_GRANULARITY;
use scimd_store::{CredentialStore, NewToken, Result, StoreError, TokenRecord};

use crate::{PgStore, map_err, time_from_db, time_to_db, uuid_from_db};

const COLUMNS: &str = "id, tenant_id, name, digest, scopes, operator, created, expires, last_used, revoked";

fn opt_time(row: &PgRow, col: &str) -> Result<Option<OffsetDateTime>> {
    let s: Option<String> = row.try_get(col).map_err(map_err)?;
    s.as_deref().map(time_from_db).transpose()
}

fn token_from_row(row: &PgRow) -> Result<TokenRecord> {
    let id: String = row.try_get("id").map_err(map_err)?;
    let tenant: String = row.try_get("tenant_id").map_err(map_err)?;
    let digest: Vec<u8> = row.try_get("digest").map_err(map_err)?;
    let scopes: String = row.try_get("scopes").map_err(map_err)?;
    let created: String = row.try_get("created").map_err(map_err)?;
    Ok(TokenRecord {
        id: uuid_from_db(&id)?,
        tenant: uuid_from_db(&tenant)?,
        name: row.try_get("name").map_err(map_err)?,
        digest: digest
            .try_into()
            .map_err(|_| StoreError::Internal(format!("token {id}: stored digest is not 32 bytes")))?,
        scopes: scopes.split_ascii_whitespace().map(str::to_owned).collect(),
        operator: row.try_get("operator").map_err(map_err)?,
        created: time_from_db(&created)?,
        expires: opt_time(row, "expires")?,
        last_used: opt_time(row, "last_used")?,
        revoked: opt_time(row, "revoked")?,
    })
}

#[async_trait]
impl CredentialStore for PgStore {
    async fn create_token(&self, new: NewToken) -> Result<TokenRecord> {
        let id = self.clock.new_id();
        let created = time_to_db(self.clock.now());
        // One statement: the tenant check and the insert cannot be separated by a tenant delete on
        // another replica (the foreign key holds either way; this turns "no tenant" into NotFound).
        let row = sqlx::query(&format!(
            "INSERT INTO tokens (id, tenant_id, name, digest, scopes, operator, created, expires) \
             SELECT $1, t.id, $3, $4, $5, $6, $7, $8 FROM tenants t WHERE t.id = $2 \
             RETURNING {COLUMNS}"
        ))
        .bind(id.to_string())
        .bind(new.tenant.to_string())
        .bind(&new.name)
        .bind(&new.digest[..])
        .bind(new.scopes.join(" "))
        .bind(new.operator)
        .bind(&created)
        .bind(new.expires.map(time_to_db))
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)
        .map_err(|e| match e {
            StoreError::Conflict(_) => StoreError::Conflict("token".into()),
            other => other,
        })?;
        token_from_row(&row.ok_or(StoreError::NotFound)?)
    }

    async fn token_by_digest(&self, digest: &[u8; 32]) -> Result<Option<TokenRecord>> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM tokens WHERE digest = $1"))
            .bind(&digest[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(token_from_row)
            .transpose()
    }

    async fn touch_token(&self, id: Uuid, at: OffsetDateTime) -> Result<()> {
        // Conditional, so replicas touching one token in the same minute write once between them.
        sqlx::query(
            "UPDATE tokens SET last_used = $2 WHERE id = $1 AND (last_used IS NULL OR last_used <= $3)",
        )
        .bind(id.to_string())
        .bind(time_to_db(at))
        .bind(time_to_db(at - TOUCH_GRANULARITY))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn list_tokens(&self, tenant: Uuid) -> Result<Vec<TokenRecord>> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM tokens WHERE tenant_id = $1 ORDER BY created, id"))
            .bind(tenant.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(token_from_row)
            .collect()
    }

    async fn revoke_token(&self, id: Uuid) -> Result<()> {
        let done = sqlx::query("UPDATE tokens SET revoked = coalesce(revoked, $2) WHERE id = $1")
            .bind(id.to_string())
            .bind(time_to_db(self.clock.now()))
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
