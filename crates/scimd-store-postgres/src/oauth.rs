//! [`OAuthStore`] on PostgreSQL: the tables of migration 0003, shared by every replica.
//!
//! Single use of codes and refresh tokens across replicas: a redemption is one conditional
//! `UPDATE … SET used = now WHERE digest = $1 AND used IS NULL RETURNING …`. Two redemptions of one
//! code on two replicas race for the row lock; the second, once the first commits, re-checks
//! `used IS NULL`, finds it false and updates nothing, so exactly one of them is the first.

use async_trait::async_trait;
use sqlx::Row as _;
use sqlx::postgres::PgRow;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Cols;
use scimd_schema::value::fold_case;
use scimd_store::oauth::{
    AdminRecord, ClientRecord, CodeRecord, Consumed, GrantRecord, NewAdmin, NewClient, NewCode, NewGrant,
    NewRefreshToken, RefreshRecord, SessionRecord, SigningKey, ThrottleRule, ThrottleState,
};
use scimd_store::rows::{self, ADMIN_COLUMNS, CLIENT_COLUMNS, GRANT_COLUMNS};
use scimd_store::{OAuthStore, Result, StoreError};

use crate::{PgStore, map_err, time_from_db, time_to_db};

type WriteTx = sqlx::Transaction<'static, sqlx::Postgres>;

fn get<'r, T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>>(
    row: &'r PgRow,
    col: &str,
) -> Result<T> {
    row.try_get(col).map_err(map_err)
}

fn client_from_row(row: &PgRow) -> Result<ClientRecord> {
    rows::client(&Cols(row))
}

fn admin_from_row(row: &PgRow) -> Result<AdminRecord> {
    rows::admin(&Cols(row))
}

fn grant_from_row(row: &PgRow) -> Result<GrantRecord> {
    rows::grant(&Cols(row))
}

fn session_from_row(row: &PgRow) -> Result<SessionRecord> {
    rows::session(&Cols(row))
}

fn key_from_row(row: &PgRow) -> Result<SigningKey> {
    rows::signing_key(&Cols(row))
}

async fn tenant_exists(tx: &mut WriteTx, tenant: Uuid) -> Result<()> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1::int8 FROM tenants WHERE id = $1")
        .bind(tenant.to_string())
        .fetch_optional(&mut **tx)
        .await
        .map_err(map_err)?;
    found.map(|_| ()).ok_or(StoreError::NotFound)
}

async fn grant_in(tx: &mut WriteTx, id: &str) -> Result<GrantRecord> {
    let row = sqlx::query(&format!("SELECT {GRANT_COLUMNS} FROM oauth_grants g WHERE g.id = $1"))
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
    store: &PgStore,
    table: &str,
    digest: &[u8; 32],
) -> Result<Option<(PgRow, bool, GrantRecord)>> {
    let now = time_to_db(store.clock.now());
    let mut tx = store.pool.begin().await.map_err(map_err)?;
    // RFC 6749 §4.1.2 / RFC 9700 §4.14.2: one statement decides the first use. A concurrent
    // redemption on another replica waits for this row lock, then finds `used` set and updates
    // nothing: it reads the row below and is told it was a replay.
    let spent =
        sqlx::query(&format!("UPDATE {table} SET used = $2 WHERE digest = $1 AND used IS NULL RETURNING *"))
            .bind(&digest[..])
            .bind(&now)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
    let (row, first) = match spent {
        Some(row) => (row, true),
        None => {
            let row = sqlx::query(&format!("SELECT * FROM {table} WHERE digest = $1"))
                .bind(&digest[..])
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
            match row {
                Some(row) => (row, false),
                None => return Ok(None),
            }
        }
    };
    let grant = grant_in(&mut tx, &get::<String>(&row, "grant_id")?).await?;
    tx.commit().await.map_err(map_err)?;
    Ok(Some((row, first, grant)))
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
impl OAuthStore for PgStore {
    async fn create_client(&self, new: NewClient) -> Result<ClientRecord> {
        let redirects = serde_json::to_string(&new.redirect_uris)
            .map_err(|e| StoreError::Internal(format!("redirect_uris: {e}")))?;
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        tenant_exists(&mut tx, new.tenant).await?;
        sqlx::query(
            "INSERT INTO oauth_clients (client_id, tenant_id, name, grant_type, secret_digest, redirect_uris, scopes, created)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
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
        let row = sqlx::query(&format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE client_id = $1"))
            .bind(&new.client_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
        let record = client_from_row(&row)?;
        tx.commit().await.map_err(map_err)?;
        Ok(record)
    }

    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>> {
        sqlx::query(&format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE client_id = $1"))
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(client_from_row)
            .transpose()
    }

    async fn list_clients(&self, tenant: Uuid) -> Result<Vec<ClientRecord>> {
        sqlx::query(&format!(
            "SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE tenant_id = $1 ORDER BY created, client_id"
        ))
        .bind(tenant.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?
        .iter()
        .map(client_from_row)
        .collect()
    }

    async fn rotate_client_secret(&self, client_id: &str, digest: [u8; 32]) -> Result<ClientRecord> {
        let now = time_to_db(self.clock.now());
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let row = sqlx::query(&format!(
            "UPDATE oauth_clients SET secret_digest = $2, secret_rotated = $3 WHERE client_id = $1
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
        sqlx::query("UPDATE oauth_grants SET revoked = coalesce(revoked, $2) WHERE client_id = $1")
            .bind(client_id)
            .bind(&now)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(record)
    }

    async fn delete_client(&self, client_id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        // Grants, codes and refresh tokens go with it (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM oauth_clients WHERE client_id = $1")
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
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        tenant_exists(&mut tx, new.tenant).await?;
        sqlx::query(
            "INSERT INTO oauth_admins (id, tenant_id, email, email_key, password_hash, created, operator)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
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
        let row = sqlx::query(&format!("SELECT {ADMIN_COLUMNS} FROM oauth_admins WHERE id = $1"))
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
            "SELECT {ADMIN_COLUMNS} FROM oauth_admins WHERE tenant_id = $1 AND email_key = $2"
        ))
        .bind(tenant.to_string())
        .bind(fold_case(email).as_ref())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(admin_from_row)
        .transpose()
    }

    async fn admin(&self, id: Uuid) -> Result<Option<AdminRecord>> {
        sqlx::query(&format!("SELECT {ADMIN_COLUMNS} FROM oauth_admins WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(admin_from_row)
            .transpose()
    }

    async fn list_admins(&self, tenant: Uuid) -> Result<Vec<AdminRecord>> {
        sqlx::query(&format!(
            "SELECT {ADMIN_COLUMNS} FROM oauth_admins WHERE tenant_id = $1 ORDER BY created, id"
        ))
        .bind(tenant.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?
        .iter()
        .map(admin_from_row)
        .collect()
    }

    async fn delete_admin(&self, id: Uuid) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        // Their sessions go by the foreign key's ON DELETE CASCADE; grants they approved stay,
        // with no admin (ON DELETE SET NULL).
        let done = sqlx::query("DELETE FROM oauth_admins WHERE id = $1")
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
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let done = sqlx::query("UPDATE oauth_admins SET password_hash = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(password_hash)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM oauth_sessions WHERE admin_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn record_login(&self, admin: Uuid, success: bool) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let q = if success {
            sqlx::query("UPDATE oauth_admins SET failed_logins = 0, last_failed_login = NULL WHERE id = $1")
                .bind(admin.to_string())
        } else {
            sqlx::query(
                "UPDATE oauth_admins SET failed_logins = failed_logins + 1, last_failed_login = $2 WHERE id = $1",
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
        // Housekeeping in its own statement, outside the transaction below: its row locks are
        // released at once and never interleave with the throttle rows' locks.
        let window = throttles.iter().map(|(_, r)| r.window).max().unwrap_or(time::Duration::ZERO);
        sqlx::query("DELETE FROM oauth_login_throttle WHERE last_attempt < $1 AND blocked_until < $1")
            .bind(unix_ms(now - window))
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let mut reserved = Vec::with_capacity(throttles.len());
        let mut refused = None;
        // In key order, so two transactions locking the same rows cannot deadlock.
        let mut throttles = throttles.to_vec();
        throttles.sort_by_key(|t| t.0);
        for (key, rule) in &throttles {
            let (key, rule) = (*key, *rule);
            // The row exists (a new one starts over at once), then is locked: concurrent reservations
            // on any replica queue on it, and each sees the one before.
            sqlx::query(
                "INSERT INTO oauth_login_throttle (key, attempts, last_attempt, blocked_until) VALUES ($1, 0, 0, 0) \
                 ON CONFLICT (key) DO NOTHING",
            )
            .bind(&key[..])
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            let row = sqlx::query(
                "SELECT attempts, last_attempt, blocked_until FROM oauth_login_throttle WHERE key = $1 FOR UPDATE",
            )
            .bind(&key[..])
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
            let state = ThrottleState {
                attempts: u32::try_from(get::<i64>(&row, "attempts")?).unwrap_or(u32::MAX),
                last_attempt: from_unix_ms(get::<i64>(&row, "last_attempt")?),
                blocked_until: from_unix_ms(get::<i64>(&row, "blocked_until")?),
            };
            match rule.reserve(Some(state), now) {
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
                "UPDATE oauth_login_throttle SET attempts = $2, last_attempt = $3, blocked_until = $4 WHERE key = $1",
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
        let keys: Vec<Vec<u8>> = keys.iter().map(|k| k.to_vec()).collect();
        sqlx::query("DELETE FROM oauth_login_throttle WHERE key = ANY($1)")
            .bind(&keys)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn create_session(
        &self,
        digest: [u8; 32],
        csrf: String,
        expires: OffsetDateTime,
    ) -> Result<SessionRecord> {
        let id = self.clock.new_id();
        let now = self.clock.now();
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        // Housekeeping: sessions are short-lived and created per visit, so expired ones are
        // dropped here rather than by a background task.
        sqlx::query("DELETE FROM oauth_sessions WHERE expires < $1")
            .bind(time_to_db(now))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        sqlx::query(
            "INSERT INTO oauth_sessions (id, digest, csrf, expires, created) VALUES ($1, $2, $3, $4, $5)",
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
            "SELECT id, digest, csrf, admin_id, expires, created, tenant_id FROM oauth_sessions WHERE digest = $1",
        )
        .bind(&digest[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(session_from_row)
        .transpose()
    }

    async fn sign_in_session(&self, id: Uuid, admin: Uuid, new_digest: [u8; 32], csrf: String) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let done =
            sqlx::query("UPDATE oauth_sessions SET admin_id = $2, digest = $3, csrf = $4 WHERE id = $1")
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
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let done = sqlx::query("UPDATE oauth_sessions SET expires = $2 WHERE id = $1 AND expires > $3")
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
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let done = sqlx::query("UPDATE oauth_sessions SET tenant_id = $2 WHERE id = $1")
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
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query("DELETE FROM oauth_sessions WHERE id = $1 OR expires < $2")
            .bind(id.to_string())
            .bind(time_to_db(self.clock.now()))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn create_grant(&self, new: NewGrant) -> Result<GrantRecord> {
        let id = self.clock.new_id();
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query(
            "INSERT INTO oauth_grants (id, tenant_id, client_id, admin_id, scopes, created)
             SELECT $1, $2, client_id, $4, $5, $6 FROM oauth_clients WHERE client_id = $3 AND tenant_id = $2",
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
        let grant = sqlx::query(&format!("SELECT {GRANT_COLUMNS} FROM oauth_grants g WHERE g.id = $1"))
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
        sqlx::query(&format!("SELECT {GRANT_COLUMNS} FROM oauth_grants g WHERE g.id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(grant_from_row)
            .transpose()
    }

    async fn revoke_grant(&self, id: Uuid) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query("UPDATE oauth_grants SET revoked = coalesce(revoked, $2) WHERE id = $1")
            .bind(id.to_string())
            .bind(time_to_db(self.clock.now()))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn create_code(&self, new: NewCode) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query(
            "INSERT INTO oauth_codes (digest, grant_id, redirect_uri, code_challenge, expires)
             VALUES ($1, $2, $3, $4, $5)",
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
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query("INSERT INTO oauth_refresh_tokens (digest, grant_id, expires) VALUES ($1, $2, $3)")
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
             FROM oauth_refresh_tokens r JOIN oauth_grants g ON g.id = r.grant_id WHERE r.digest = $1"
        ))
        .bind(&digest[..])
        .fetch_optional(&self.pool)
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
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        // Replicas rotating at once (two starting on a fresh database both create the first key)
        // take turns, so exactly one key is left unretired: the last one inserted.
        sqlx::query("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        sqlx::query("UPDATE signing_keys SET retired = $1 WHERE retired IS NULL")
            .bind(&now)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        sqlx::query("DELETE FROM signing_keys WHERE retired IS NOT NULL AND retired < $1")
            .bind(time_to_db(prune_before))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_der, public_jwk, created) VALUES ($1, $2, $3, $4, $5)",
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
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(key_from_row)
            .collect()
    }
}
