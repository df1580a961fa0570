//! `CredentialStore` on PostgreSQL: static bearer tokens, looked up by the SHA-256 digest of the
//! secret through a unique index. The secret itself never reaches the database.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use scimd_store::credentials::TOUCH_GRANULARITY;
use scimd_store::{CredentialStore, NewToken, Result, StoreError, TokenRecord};

use crate::{PgStore, map_err, time_to_db};

use scimd_store::rows::{self, TOKEN_COLUMNS as COLUMNS};

use crate::Cols;

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
        rows::token(&Cols(&row.ok_or(StoreError::NotFound)?))
    }

    async fn token_by_digest(&self, digest: &[u8; 32]) -> Result<Option<TokenRecord>> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM tokens WHERE digest = $1"))
            .bind(&digest[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(|r| rows::token(&Cols(r)))
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
            .map(|r| rows::token(&Cols(r)))
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
