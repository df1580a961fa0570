//! [`OAuthStore`] on SQLite: the tables of migration 0003.
//!
//! Single use of codes and refresh tokens: the read of `used` and its update run in one
//! `BEGIN IMMEDIATE` transaction on the one writer connection, so two redemptions of one code are
//! serialised and exactly one of them is the first.

use async_trait::async_trait;
use sqlx::Row as _;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Cols;
use crate::driver::RowCols;
use scimd_schema::value::fold_case;
use scimd_store::oauth::{
    AdminRecord, ClientRecord, CodeRecord, Consumed, GrantRecord, NewAdmin, NewClient, NewCode, NewGrant,
    NewRefreshToken, RefreshRecord, SessionRecord, SigningKey, ThrottleRule, ThrottleState,
};
use scimd_store::rows::{self, ADMIN_COLUMNS, CLIENT_COLUMNS, GRANT_COLUMNS};
use scimd_store::{OAuthStore, Result, StoreError};

use crate::pool::{WriteTx, time_from_db, time_to_db};
use crate::{SqliteStore, map_err};

fn get<'r, T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>>(
    row: &'r SqliteRow,
    col: &str,
) -> Result<T> {
    row.try_get(col).map_err(map_err)
}

fn client_from_row(row: &SqliteRow) -> Result<ClientRecord> {
    rows::client(&Cols(row))
}

fn admin_from_row(row: &SqliteRow) -> Result<AdminRecord> {
    rows::admin(&Cols(row))
}

fn grant_from_row(row: &SqliteRow) -> Result<GrantRecord> {
    rows::grant(&Cols(row))
}

fn session_from_row(row: &SqliteRow) -> Result<SessionRecord> {
    rows::session(&Cols(row))
}

fn key_from_row(row: &SqliteRow) -> Result<SigningKey> {
    rows::signing_key(&Cols(row))
}

async fn tenant_exists(tx: &mut WriteTx, tenant: Uuid) -> Result<()> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM tenants WHERE id = ?1")
        .bind(tenant.to_string())
        .fetch_optional(&mut **tx)
        .await
        .map_err(map_err)?;
    found.map(|_| ()).ok_or(StoreError::NotFound)
}

async fn grant_in(tx: &mut WriteTx, id: &str) -> Result<GrantRecord> {
    let row = sqlx::query(&format!("SELECT {GRANT_COLUMNS} FROM oauth_grants g WHERE g.id = ?1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(map_err)?
        .ok_or_else(|| StoreError::Internal(format!("grant {id} is missing")))?;
    grant_from_row(&row)
}

/// Marks a single-use secret used and reports whether this was its first use. `table` is one of
/// two constants, never input.
async fn consume(
    store: &SqliteStore,
    table: &str,
    digest: &[u8; 32],
) -> Result<Option<(SqliteRow, bool, GrantRecord)>> {
    let now = time_to_db(store.clock.now());
    // The read and the update run in one IMMEDIATE transaction on the one writer connection: the
    // write lock is held from BEGIN, so no other redemption can interleave between them.
    let mut tx = store.write_tx().await?;
    let before = sqlx::query(&format!("SELECT * FROM {table} WHERE digest = ?1"))
        .bind(&digest[..])
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
    let Some(before) = before else { return Ok(None) };
    let first = get::<Option<String>>(&before, "used")?.is_none();
    if first {
        sqlx::query(&format!("UPDATE {table} SET used = ?2 WHERE digest = ?1"))
            .bind(&digest[..])
            .bind(&now)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
    }
    let grant = grant_in(&mut tx, &get::<String>(&before, "grant_id")?).await?;
    tx.commit().await.map_err(map_err)?;
    Ok(Some((before, first, grant)))
}

/// Unix milliseconds, as `oauth_login_throttle` stores times.
fn unix_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn from_unix_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[async_trait]
impl OAuthStore for SqliteStore {
    async fn create_client(&self, new: NewClient) -> Result<ClientRecord> {
        let redirects = serde_json::to_string(&new.redirect_uris)
            .map_err(|e| StoreError::Internal(format!("redirect_uris: {e}")))?;
        let mut tx = self.write_tx().await?;
        tenant_exists(&mut tx, new.tenant).await?;
        sqlx::query(
            "INSERT INTO oauth_clients (client_id, tenant_id, name, grant_type, secret_digest, redirect_uris, scopes, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(&new.client_id)
        .bind(new.tenant.to_string())
        .bind(&new.name)
        .bind(new.grant.as_str())
        .bind(new.secret_digest.as_ref().map(|d| d.to_vec()))
        .bind(redirects)
        .bind(new.scopes.join(" "))
        .bind(time_to_db(self.clock.now()))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        let row = sqlx::query(&format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE client_id = ?1"))
            .bind(&new.client_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
        let record = client_from_row(&row)?;
        tx.commit().await.map_err(map_err)?;
        Ok(record)
    }

    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>> {
        sqlx::query(&format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE client_id = ?1"))
            .bind(client_id)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(client_from_row)
            .transpose()
    }

    async fn list_clients(&self, tenant: Uuid) -> Result<Vec<ClientRecord>> {
        sqlx::query(&format!(
            "SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE tenant_id = ?1 ORDER BY created, client_id"
        ))
        .bind(tenant.to_string())
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?
        .iter()
        .map(client_from_row)
        .collect()
    }

    async fn rotate_client_secret(&self, client_id: &str, digest: [u8; 32]) -> Result<ClientRecord> {
        let now = time_to_db(self.clock.now());
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(&format!(
            "UPDATE oauth_clients SET secret_digest = ?2, secret_rotated = ?3 WHERE client_id = ?1
             RETURNING {CLIENT_COLUMNS}"
        ))
        .bind(client_id)
        .bind(&digest[..])
        .bind(&now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
        let record = client_from_row(&row)?;
        sqlx::query("UPDATE oauth_grants SET revoked = coalesce(revoked, ?2) WHERE client_id = ?1")
            .bind(client_id)
            .bind(&now)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(record)
    }

    async fn delete_client(&self, client_id: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        // Grants, codes and refresh tokens go with it (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM oauth_clients WHERE client_id = ?1")
            .bind(client_id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(map_err)
    }

    async fn create_admin(&self, new: NewAdmin) -> Result<AdminRecord> {
        let id = self.clock.new_id();
        let mut tx = self.write_tx().await?;
        tenant_exists(&mut tx, new.tenant).await?;
        sqlx::query(
            "INSERT INTO oauth_admins (id, tenant_id, email, email_key, password_hash, created, operator)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .bind(id.to_string())
        .bind(new.tenant.to_string())
        .bind(&new.email)
        .bind(fold_case(&new.email).as_ref())
        .bind(&new.password_hash)
        .bind(time_to_db(self.clock.now()))
        .bind(new.operator)
        .execute(&mut *tx)
        .await
        .map_err(map_err)
        .map_err(|e| match e {
            StoreError::Conflict(_) => StoreError::Conflict("email".into()),
            other => other,
        })?;
        let row = sqlx::query(&format!("SELECT {ADMIN_COLUMNS} FROM oauth_admins WHERE id = ?1"))
            .bind(id.to_string())
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
        let record = admin_from_row(&row)?;
        tx.commit().await.map_err(map_err)?;
        Ok(record)
    }

    async fn admin_by_email(&self, tenant: Uuid, email: &str) -> Result<Option<AdminRecord>> {
        sqlx::query(&format!(
            "SELECT {ADMIN_COLUMNS} FROM oauth_admins WHERE tenant_id = ?1 AND email_key = ?2"
        ))
        .bind(tenant.to_string())
        .bind(fold_case(email).as_ref())
        .fetch_optional(&self.reader)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(admin_from_row)
        .transpose()
    }

    async fn admin(&self, id: Uuid) -> Result<Option<AdminRecord>> {
        sqlx::query(&format!("SELECT {ADMIN_COLUMNS} FROM oauth_admins WHERE id = ?1"))
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(admin_from_row)
            .transpose()
    }

    async fn list_admins(&self, tenant: Uuid) -> Result<Vec<AdminRecord>> {
        sqlx::query(&format!(
            "SELECT {ADMIN_COLUMNS} FROM oauth_admins WHERE tenant_id = ?1 ORDER BY created, id"
        ))
        .bind(tenant.to_string())
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?
        .iter()
        .map(admin_from_row)
        .collect()
    }

    async fn delete_admin(&self, id: Uuid) -> Result<()> {
        let mut tx = self.write_tx().await?;
        // Their sessions go by the foreign key's ON DELETE CASCADE; grants they approved stay,
        // with no admin (ON DELETE SET NULL).
        let done = sqlx::query("DELETE FROM oauth_admins WHERE id = ?1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(map_err)
    }

    async fn set_admin_password(&self, id: Uuid, password_hash: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("UPDATE oauth_admins SET password_hash = ?2 WHERE id = ?1")
            .bind(id.to_string())
            .bind(password_hash)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM oauth_sessions WHERE admin_id = ?1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn record_login(&self, admin: Uuid, success: bool) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let q = if success {
            sqlx::query("UPDATE oauth_admins SET failed_logins = 0, last_failed_login = NULL WHERE id = ?1")
                .bind(admin.to_string())
        } else {
            sqlx::query(
                "UPDATE oauth_admins SET failed_logins = failed_logins + 1, last_failed_login = ?2 WHERE id = ?1",
            )
            .bind(admin.to_string())
            .bind(time_to_db(self.clock.now()))
        };
        q.execute(&mut *tx).await.map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn reserve_login_attempt(
        &self,
        throttles: &[([u8; 32], ThrottleRule)],
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>> {
        // BEGIN IMMEDIATE: the read below and the write after it are one serialised step.
        let mut tx = self.write_tx().await?;
        let window = throttles.iter().map(|(_, r)| r.window).max().unwrap_or(time::Duration::ZERO);
        sqlx::query("DELETE FROM oauth_login_throttle WHERE last_attempt < ?1 AND blocked_until < ?1")
            .bind(unix_ms(now - window))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let mut reserved = Vec::with_capacity(throttles.len());
        let mut refused = None;
        for (key, rule) in throttles {
            let (key, rule) = (*key, *rule);
            let row = sqlx::query(
                "SELECT attempts, last_attempt, blocked_until FROM oauth_login_throttle WHERE key = ?1",
            )
            .bind(&key[..])
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
            let state = match row {
                Some(row) => Some(ThrottleState {
                    attempts: u32::try_from(get::<i64>(&row, "attempts")?).unwrap_or(u32::MAX),
                    last_attempt: from_unix_ms(get::<i64>(&row, "last_attempt")?),
                    blocked_until: from_unix_ms(get::<i64>(&row, "blocked_until")?),
                }),
                None => None,
            };
            match rule.reserve(state, now) {
                Ok(next) => reserved.push((key, next)),
                Err(until) => refused = refused.max(Some(until)),
            }
        }
        if refused.is_some() {
            // Nothing is written: the transaction rolls back when dropped.
            return Ok(refused);
        }
        for (key, next) in reserved {
            sqlx::query(
                "INSERT INTO oauth_login_throttle (key, attempts, last_attempt, blocked_until) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (key) DO UPDATE SET attempts = excluded.attempts, last_attempt = excluded.last_attempt, \
                 blocked_until = excluded.blocked_until",
            )
            .bind(&key[..])
            .bind(i64::from(next.attempts))
            .bind(unix_ms(next.last_attempt))
            .bind(unix_ms(next.blocked_until))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(None)
    }

    async fn clear_login_throttles(&self, keys: &[[u8; 32]]) -> Result<()> {
        let mut tx = self.write_tx().await?;
        for key in keys {
            sqlx::query("DELETE FROM oauth_login_throttle WHERE key = ?1")
                .bind(&key[..])
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn create_session(
        &self,
        digest: [u8; 32],
        csrf: String,
        expires: OffsetDateTime,
    ) -> Result<SessionRecord> {
        let id = self.clock.new_id();
        let now = self.clock.now();
        let mut tx = self.write_tx().await?;
        // Housekeeping: sessions are short-lived and created per visit, so expired ones are
        // dropped here rather than by a background task.
        sqlx::query("DELETE FROM oauth_sessions WHERE expires < ?1")
            .bind(time_to_db(now))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        sqlx::query(
            "INSERT INTO oauth_sessions (id, digest, csrf, expires, created) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(id.to_string())
        .bind(&digest[..])
        .bind(&csrf)
        .bind(time_to_db(expires))
        .bind(time_to_db(now))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(SessionRecord { id, digest, csrf, admin: None, expires, created: now, tenant: None })
    }

    async fn session(&self, digest: &[u8; 32]) -> Result<Option<SessionRecord>> {
        sqlx::query(
            "SELECT id, digest, csrf, admin_id, expires, created, tenant_id FROM oauth_sessions WHERE digest = ?1",
        )
        .bind(&digest[..])
        .fetch_optional(&self.reader)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(session_from_row)
        .transpose()
    }

    async fn sign_in_session(&self, id: Uuid, admin: Uuid, new_digest: [u8; 32], csrf: String) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let done =
            sqlx::query("UPDATE oauth_sessions SET admin_id = ?2, digest = ?3, csrf = ?4 WHERE id = ?1")
                .bind(id.to_string())
                .bind(admin.to_string())
                .bind(&new_digest[..])
                .bind(&csrf)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(map_err)
    }

    async fn touch_session(&self, id: Uuid, expires: OffsetDateTime) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("UPDATE oauth_sessions SET expires = ?2 WHERE id = ?1 AND expires > ?3")
            .bind(id.to_string())
            .bind(time_to_db(expires))
            .bind(time_to_db(self.clock.now()))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(map_err)
    }

    async fn set_session_tenant(&self, id: Uuid, tenant: Option<Uuid>) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("UPDATE oauth_sessions SET tenant_id = ?2 WHERE id = ?1")
            .bind(id.to_string())
            .bind(tenant.map(|t| t.to_string()))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(map_err)
    }

    async fn delete_session(&self, id: Uuid) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM oauth_sessions WHERE id = ?1 OR expires < ?2")
            .bind(id.to_string())
            .bind(time_to_db(self.clock.now()))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn create_grant(&self, new: NewGrant) -> Result<GrantRecord> {
        let id = self.clock.new_id();
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO oauth_grants (id, tenant_id, client_id, admin_id, scopes, created)
             SELECT ?1, ?2, client_id, ?4, ?5, ?6 FROM oauth_clients WHERE client_id = ?3 AND tenant_id = ?2",
        )
        .bind(id.to_string())
        .bind(new.tenant.to_string())
        .bind(&new.client_id)
        .bind(new.admin.map(|a| a.to_string()))
        .bind(new.scopes.join(" "))
        .bind(time_to_db(self.clock.now()))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        let grant = sqlx::query(&format!("SELECT {GRANT_COLUMNS} FROM oauth_grants g WHERE g.id = ?1"))
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        let grant = grant_from_row(&grant)?;
        tx.commit().await.map_err(map_err)?;
        Ok(grant)
    }

    async fn grant(&self, id: Uuid) -> Result<Option<GrantRecord>> {
        // On the request path's connections (`readers.rs`): every request with an OAuth access
        // token checks that its grant still stands.
        let id = id.to_string();
        self.readers
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(&format!("SELECT {GRANT_COLUMNS} FROM oauth_grants g WHERE g.id = ?1"))?;
                let mut rows = stmt.query([&id])?;
                match rows.next()? {
                    Some(row) => Ok(Some(rows::grant(&RowCols(row))?)),
                    None => Ok(None),
                }
            })
            .await
    }

    async fn revoke_grant(&self, id: Uuid) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE oauth_grants SET revoked = coalesce(revoked, ?2) WHERE id = ?1")
            .bind(id.to_string())
            .bind(time_to_db(self.clock.now()))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn create_code(&self, new: NewCode) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO oauth_codes (digest, grant_id, redirect_uri, code_challenge, expires)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(&new.digest[..])
        .bind(new.grant.to_string())
        .bind(&new.redirect_uri)
        .bind(&new.code_challenge)
        .bind(time_to_db(new.expires))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn consume_code(&self, digest: &[u8; 32]) -> Result<Consumed<CodeRecord>> {
        let Some((row, first, grant)) = consume(self, "oauth_codes", digest).await? else {
            return Ok(Consumed::Unknown);
        };
        let record = CodeRecord {
            grant,
            redirect_uri: get(&row, "redirect_uri")?,
            code_challenge: get(&row, "code_challenge")?,
            expires: time_from_db(&get::<String>(&row, "expires")?)?,
        };
        Ok(if first { Consumed::First(record) } else { Consumed::Reused(record) })
    }

    async fn create_refresh_token(&self, new: NewRefreshToken) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("INSERT INTO oauth_refresh_tokens (digest, grant_id, expires) VALUES (?1, ?2, ?3)")
            .bind(&new.digest[..])
            .bind(new.grant.to_string())
            .bind(time_to_db(new.expires))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn consume_refresh_token(&self, digest: &[u8; 32]) -> Result<Consumed<RefreshRecord>> {
        let Some((row, first, grant)) = consume(self, "oauth_refresh_tokens", digest).await? else {
            return Ok(Consumed::Unknown);
        };
        let record = RefreshRecord { grant, expires: time_from_db(&get::<String>(&row, "expires")?)? };
        Ok(if first { Consumed::First(record) } else { Consumed::Reused(record) })
    }

    async fn refresh_token(&self, digest: &[u8; 32]) -> Result<Option<RefreshRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {GRANT_COLUMNS}, r.expires AS refresh_expires
             FROM oauth_refresh_tokens r JOIN oauth_grants g ON g.id = r.grant_id WHERE r.digest = ?1"
        ))
        .bind(&digest[..])
        .fetch_optional(&self.reader)
        .await
        .map_err(map_err)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(RefreshRecord {
            grant: grant_from_row(&row)?,
            expires: time_from_db(&get::<String>(&row, "refresh_expires")?)?,
        }))
    }

    async fn rotate_signing_key(&self, key: SigningKey, prune_before: OffsetDateTime) -> Result<()> {
        // The others stop signing when the new key starts: its `created`, which may lie ahead
        // (published first, signing later).
        let now = time_to_db(key.created);
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE signing_keys SET retired = ?1 WHERE retired IS NULL")
            .bind(&now)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        sqlx::query("DELETE FROM signing_keys WHERE retired IS NOT NULL AND retired < ?1")
            .bind(time_to_db(prune_before))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_der, public_jwk, created) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(&key.private_der)
        .bind(&key.public_jwk)
        .bind(time_to_db(key.created))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKey>> {
        sqlx::query("SELECT kid, alg, private_der, public_jwk, created, retired FROM signing_keys ORDER BY created DESC, kid DESC")
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(key_from_row)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use scimd_store::oauth::{Consumed, GrantType, NewAdmin, NewClient, NewCode, NewGrant, NewRefreshToken};
    use scimd_store::token::digest;
    use scimd_store::{Clock as _, OAuthStore, StoreError, TenantStore};
    use time::Duration;

    use crate::test_support;

    fn client(tenant: uuid::Uuid, id: &str) -> NewClient {
        NewClient {
            tenant,
            client_id: id.into(),
            name: "Okta".into(),
            grant: GrantType::AuthorizationCode,
            secret_digest: Some(digest("scimd_cs_secret")),
            redirect_uris: vec!["https://okta.example/cb".into()],
            scopes: vec!["users:read".into()],
        }
    }

    #[tokio::test]
    async fn clients_round_trip_and_cascade() {
        let (_dir, store) = test_support::store().await;
        let t = store.create_tenant("acme").await.unwrap();
        let c = store.create_client(client(t.id, "c1")).await.unwrap();
        assert_eq!(store.client("c1").await.unwrap().as_ref(), Some(&c));
        assert_eq!(c.redirect_uris, ["https://okta.example/cb"]);
        assert!(matches!(store.create_client(client(t.id, "c1")).await, Err(StoreError::Conflict(_))));
        assert!(matches!(
            store.create_client(client(uuid::Uuid::nil(), "c2")).await,
            Err(StoreError::NotFound)
        ));
        let g = store
            .create_grant(NewGrant {
                tenant: t.id,
                client_id: "c1".into(),
                admin: None,
                scopes: vec!["users:read".into()],
            })
            .await
            .unwrap();
        // Rotation revokes the client's grants.
        let rotated = store.rotate_client_secret("c1", digest("scimd_cs_new")).await.unwrap();
        assert_eq!(rotated.secret_digest, Some(digest("scimd_cs_new")));
        assert!(rotated.secret_rotated.is_some());
        assert!(store.grant(g.id).await.unwrap().unwrap().revoked.is_some());
        // Deleting removes grants, codes and refresh tokens with it.
        store.delete_client("c1").await.unwrap();
        assert_eq!(store.grant(g.id).await.unwrap(), None);
        assert!(matches!(store.delete_client("c1").await, Err(StoreError::NotFound)));
        // A grant for a client of another tenant is refused.
        store.create_client(client(t.id, "c3")).await.unwrap();
        let other = store.create_tenant("other").await.unwrap();
        let r = store
            .create_grant(NewGrant { tenant: other.id, client_id: "c3".into(), admin: None, scopes: vec![] })
            .await;
        assert!(matches!(r, Err(StoreError::NotFound)));
    }

    #[tokio::test]
    async fn a_code_is_consumed_exactly_once_under_concurrency() {
        let clock = test_support::clock();
        let (_dir, store) = test_support::store_with(clock.clone()).await;
        let store = Arc::new(store);
        let t = store.create_tenant("acme").await.unwrap();
        store.create_client(client(t.id, "c1")).await.unwrap();
        let g = store
            .create_grant(NewGrant {
                tenant: t.id,
                client_id: "c1".into(),
                admin: None,
                scopes: vec!["users:read".into()],
            })
            .await
            .unwrap();
        store
            .create_code(NewCode {
                digest: digest("the-code"),
                grant: g.id,
                redirect_uri: Some("https://okta.example/cb".into()),
                code_challenge: None,
                expires: clock.now() + Duration::minutes(2),
            })
            .await
            .unwrap();
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.consume_code(&digest("the-code")).await.unwrap() })
            })
            .collect();
        let mut first = 0;
        let mut reused = 0;
        for t in tasks {
            match t.await.unwrap() {
                Consumed::First(c) => {
                    first += 1;
                    assert_eq!(c.grant.id, g.id);
                    assert_eq!(c.redirect_uri.as_deref(), Some("https://okta.example/cb"));
                }
                Consumed::Reused(_) => reused += 1,
                Consumed::Unknown => panic!("the code exists"),
            }
        }
        assert_eq!((first, reused), (1, 31));
        assert_eq!(store.consume_code(&digest("other")).await.unwrap(), Consumed::Unknown);
    }

    #[tokio::test]
    async fn refresh_tokens_rotate_once_and_revocation_is_sticky() {
        let clock = test_support::clock();
        let (_dir, store) = test_support::store_with(clock.clone()).await;
        let t = store.create_tenant("acme").await.unwrap();
        store.create_client(client(t.id, "c1")).await.unwrap();
        let g = store
            .create_grant(NewGrant {
                tenant: t.id,
                client_id: "c1".into(),
                admin: None,
                scopes: vec!["users:read".into()],
            })
            .await
            .unwrap();
        let expires = clock.now() + Duration::days(90);
        store
            .create_refresh_token(NewRefreshToken { digest: digest("rt"), grant: g.id, expires })
            .await
            .unwrap();
        assert_eq!(store.refresh_token(&digest("rt")).await.unwrap().unwrap().expires, expires);
        assert!(matches!(store.consume_refresh_token(&digest("rt")).await.unwrap(), Consumed::First(_)));
        assert!(matches!(store.consume_refresh_token(&digest("rt")).await.unwrap(), Consumed::Reused(_)));
        store.revoke_grant(g.id).await.unwrap();
        let first = store.grant(g.id).await.unwrap().unwrap().revoked;
        clock.advance(Duration::minutes(5));
        store.revoke_grant(g.id).await.unwrap();
        assert_eq!(
            store.grant(g.id).await.unwrap().unwrap().revoked,
            first,
            "the first revocation time stays"
        );
        // Only digests are stored.
        let stored: Vec<u8> = sqlx::query_scalar("SELECT digest FROM oauth_refresh_tokens")
            .fetch_one(&store.reader)
            .await
            .unwrap();
        assert_eq!(stored, digest("rt"));
    }

    #[tokio::test]
    async fn admins_and_sessions() {
        let (_dir, store) = test_support::store().await;
        let t = store.create_tenant("acme").await.unwrap();
        let new = NewAdmin {
            tenant: t.id,
            email: "IT@Acme.example".into(),
            password_hash: "$argon2id$x".into(),
            operator: false,
        };
        let a = store.create_admin(new.clone()).await.unwrap();
        assert!(format!("{a:?}").contains("***") && !format!("{a:?}").contains("argon2id"));
        assert!(matches!(
            store.create_admin(NewAdmin { email: "it@acme.EXAMPLE".into(), ..new }).await,
            Err(StoreError::Conflict(c)) if c == "email"
        ));
        assert_eq!(store.admin_by_email(t.id, "it@acme.example").await.unwrap().unwrap().id, a.id);
        store.record_login(a.id, false).await.unwrap();
        store.record_login(a.id, false).await.unwrap();
        let after = store.admin(a.id).await.unwrap().unwrap();
        assert_eq!(after.failed_logins, 2);
        assert!(after.last_failed_login.is_some());
        store.record_login(a.id, true).await.unwrap();
        assert_eq!(store.admin(a.id).await.unwrap().unwrap().failed_logins, 0);

        let s = store
            .create_session(
                digest("cookie"),
                "csrf".into(),
                test_support::clock().now() + Duration::minutes(30),
            )
            .await
            .unwrap();
        assert_eq!(store.session(&digest("cookie")).await.unwrap().as_ref(), Some(&s));
        store.sign_in_session(s.id, a.id, digest("cookie2"), "csrf2".into()).await.unwrap();
        assert_eq!(
            store.session(&digest("cookie")).await.unwrap(),
            None,
            "the old cookie is dead after sign-in"
        );
        let signed = store.session(&digest("cookie2")).await.unwrap().unwrap();
        assert_eq!((signed.admin, signed.csrf.as_str()), (Some(a.id), "csrf2"));
        store.delete_session(s.id).await.unwrap();
        assert_eq!(store.session(&digest("cookie2")).await.unwrap(), None);
    }
}
