//! [`CredentialStore`] on SQLite: the `tokens` table of migration 0002.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use scimd_store::credentials::TOUCH_GRANULARITY;
use scimd_store::rows::{self, Columns as _, TOKEN_COLUMNS as COLUMNS};
use scimd_store::{CredentialStore, NewToken, Result, StoreError, TokenRecord};

use crate::driver::RowCols;
use crate::pool::{time_from_db, time_to_db};
use crate::{Cols, SqliteStore, map_err};

#[async_trait]
impl CredentialStore for SqliteStore {
    async fn create_token(&self, new: NewToken) -> Result<TokenRecord> {
        let id = self.clock.new_id();
        let created = time_to_db(self.clock.now());
        let mut tx = self.write_tx().await?;
        let tenant_exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM tenants WHERE id = ?1")
            .bind(new.tenant.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        if tenant_exists.is_none() {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "INSERT INTO tokens (id, tenant_id, name, digest, scopes, operator, created, expires)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(id.to_string())
        .bind(new.tenant.to_string())
        .bind(&new.name)
        .bind(&new.digest[..])
        .bind(new.scopes.join(" "))
        .bind(i64::from(new.operator))
        .bind(&created)
        .bind(new.expires.map(time_to_db))
        .execute(&mut *tx)
        .await
        .map_err(map_err)
        .map_err(|e| match e {
            StoreError::Conflict(_) => StoreError::Conflict("token".into()),
            other => other,
        })?;
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tokens WHERE id = ?1"))
            .bind(id.to_string())
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
        let record = rows::token(&Cols(&row))?;
        tx.commit().await.map_err(map_err)?;
        Ok(record)
    }

    async fn token_by_digest(&self, digest: &[u8; 32]) -> Result<Option<TokenRecord>> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM tokens WHERE digest = ?1"))
            .bind(&digest[..])
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(|r| rows::token(&Cols(r)))
            .transpose()
    }

    async fn touch_token(&self, id: Uuid, at: OffsetDateTime) -> Result<()> {
        // Through the resource writer, in the batch of whatever else is being written: on the
        // request path (the first request of each minute per token), and through sqlx's writer
        // it was a second connection contending for SQLite's one write lock. When 32 requests of a
        // new token arrived at once, their 32 touches and the resource writer took turns at the
        // lock through SQLite's sleeping busy handler: the first requests of a benchmark run
        // waited up to 1.8 s (as the provisioning log's durations showed).
        let (id, at, floor) = (id.to_string(), time_to_db(at), time_to_db(at - TOUCH_GRANULARITY));
        self.resource_writer
            .write(|tx, _| {
                // The condition makes a touch within the granularity a no-op: no row to change.
                tx.prepare_cached(
                    "UPDATE tokens SET last_used = ?2 WHERE id = ?1 AND (last_used IS NULL OR last_used <= ?3)",
                )?
                .execute([&id, &at, &floor])?;
                Ok(())
            })
            .await
    }

    async fn list_tokens(&self, tenant: Uuid) -> Result<Vec<TokenRecord>> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM tokens WHERE tenant_id = ?1 ORDER BY created, id"))
            .bind(tenant.to_string())
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(|r| rows::token(&Cols(r)))
            .collect()
    }

    async fn revoke_token(&self, id: Uuid) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("UPDATE tokens SET revoked = coalesce(revoked, ?2) WHERE id = ?1")
            .bind(id.to_string())
            .bind(time_to_db(self.clock.now()))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(map_err)
    }
}

impl SqliteStore {
    /// [`scimd_store::Store::token_and_tenant`] in one statement, the token row and its tenant
    /// through a join, on the request path's own connections (`readers.rs`): every authenticated
    /// request starts here.
    pub(crate) async fn token_and_tenant_joined(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<(TokenRecord, Option<scimd_store::Tenant>)>> {
        let digest = *digest;
        self.readers
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT tk.id, tk.tenant_id, tk.name, tk.digest, tk.scopes, tk.operator, tk.created, \
                     tk.expires, tk.last_used, tk.revoked, tn.slug AS tenant_slug, \
                     tn.created AS tenant_created, tn.settings AS tenant_settings \
                     FROM tokens tk LEFT JOIN tenants tn ON tn.id = tk.tenant_id WHERE tk.digest = ?1",
                )?;
                let mut rows = stmt.query([&digest[..]])?;
                let Some(row) = rows.next()? else { return Ok(None) };
                let cols = RowCols(row);
                let record = rows::token(&cols)?;
                let tenant = match (
                    cols.opt_text("tenant_slug")?,
                    cols.opt_text("tenant_created")?,
                    cols.opt_text("tenant_settings")?,
                ) {
                    (Some(slug), Some(created), Some(settings)) => Some(scimd_store::Tenant {
                        id: record.tenant,
                        slug,
                        created: time_from_db(&created)?,
                        // As `rows::tenant` reads them.
                        settings: serde_json::from_str(&settings).map_err(|e| {
                            StoreError::Internal(format!("tenant {}: stored settings: {e}", record.tenant))
                        })?,
                    }),
                    _ => None,
                };
                Ok(Some((record, tenant)))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use scimd_store::token::digest;
    use scimd_store::{Clock as _, CredentialStore, NewToken, StoreError, TenantStore, TokenSecret};
    use time::Duration;

    use crate::test_support;

    fn new_token(tenant: uuid::Uuid, secret: &TokenSecret) -> NewToken {
        NewToken {
            tenant,
            name: "entra".into(),
            digest: secret.digest(),
            scopes: vec!["users:read".into(), "groups:read".into()],
            expires: None,
            operator: false,
        }
    }

    #[tokio::test]
    async fn creates_and_finds_by_digest() {
        let clock = test_support::clock();
        let (_dir, store) = test_support::store_with(clock.clone()).await;
        let t = store.create_tenant("acme").await.unwrap();
        let secret = TokenSecret::generate(&clock);
        let rec = store.create_token(new_token(t.id, &secret)).await.unwrap();
        assert_eq!(rec.tenant, t.id);
        assert_eq!(rec.name, "entra");
        assert_eq!(rec.scopes, ["users:read", "groups:read"]);
        assert_eq!(rec.created, clock.now());
        assert_eq!((rec.expires, rec.last_used, rec.revoked), (None, None, None));
        assert!(!rec.operator);

        let found = store.token_by_digest(&digest(secret.expose())).await.unwrap();
        assert_eq!(found.as_ref(), Some(&rec));
        assert_eq!(store.token_by_digest(&digest("scimd_nope")).await.unwrap(), None);
        // The digest is stored, never the secret.
        let stored: Vec<u8> =
            sqlx::query_scalar("SELECT digest FROM tokens").fetch_one(&store.reader).await.unwrap();
        assert_eq!(stored, secret.digest());
        let all: String = sqlx::query_scalar("SELECT group_concat(name || scopes) FROM tokens")
            .fetch_one(&store.reader)
            .await
            .unwrap();
        assert!(!all.contains(secret.expose()));
        // Debug never prints the digest either.
        assert!(format!("{rec:?}").contains("***"));
    }

    /// The joined lookup answers what the two separate calls answer.
    #[tokio::test]
    async fn token_and_tenant_in_one_statement_equals_the_two_calls() {
        use scimd_store::Store as _;
        let clock = test_support::clock();
        let (_dir, store) = test_support::store_with(clock.clone()).await;
        let t = store.create_tenant("acme").await.unwrap();
        let secret = TokenSecret::generate(&clock);
        let rec = store.create_token(new_token(t.id, &secret)).await.unwrap();
        let d = digest(secret.expose());
        let (found, tenant) = store.token_and_tenant(&d).await.unwrap().unwrap();
        assert_eq!(found, rec);
        assert_eq!(tenant.as_ref(), Some(&t));
        assert_eq!(tenant, store.tenant_by_id(rec.tenant).await.unwrap());
        assert_eq!(store.token_and_tenant(&digest("scimd_nope")).await.unwrap(), None);
    }

    #[tokio::test]
    async fn lookup_by_digest_uses_the_index() {
        use sqlx::Row as _;
        let (_dir, store) = test_support::store().await;
        let plan: Vec<String> = sqlx::query("EXPLAIN QUERY PLAN SELECT id FROM tokens WHERE digest = ?1")
            .bind(&[0u8; 32][..])
            .fetch_all(&store.reader)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>("detail"))
            .collect();
        assert!(
            plan.iter().any(|d| d.contains("USING INDEX") || d.contains("USING COVERING INDEX")),
            "{plan:?}"
        );
    }

    #[tokio::test]
    async fn token_for_missing_tenant_is_not_found() {
        let clock = test_support::clock();
        let (_dir, store) = test_support::store_with(clock.clone()).await;
        let secret = TokenSecret::generate(&clock);
        let err = store.create_token(new_token(uuid::Uuid::nil(), &secret)).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound), "{err:?}");
    }

    #[tokio::test]
    async fn duplicate_digest_is_a_conflict() {
        let clock = test_support::clock();
        let (_dir, store) = test_support::store_with(clock.clone()).await;
        let t = store.create_tenant("acme").await.unwrap();
        let secret = TokenSecret::generate(&clock);
        store.create_token(new_token(t.id, &secret)).await.unwrap();
        let err = store.create_token(new_token(t.id, &secret)).await.unwrap_err();
        assert!(matches!(&err, StoreError::Conflict(c) if c == "token"), "{err:?}");
    }

    #[tokio::test]
    async fn touch_writes_at_most_once_a_minute() {
        let clock = test_support::clock();
        let (_dir, store) = test_support::store_with(clock.clone()).await;
        let t = store.create_tenant("acme").await.unwrap();
        let secret = TokenSecret::generate(&clock);
        let rec = store.create_token(new_token(t.id, &secret)).await.unwrap();
        assert!(rec.needs_touch(clock.now()));

        let first = clock.now();
        store.touch_token(rec.id, first).await.unwrap();
        let get = || async { store.token_by_digest(&secret.digest()).await.unwrap().unwrap() };
        assert_eq!(get().await.last_used, Some(first));
        assert!(!get().await.needs_touch(first + Duration::seconds(59)));

        // Within the minute: no change.
        store.touch_token(rec.id, first + Duration::seconds(30)).await.unwrap();
        assert_eq!(get().await.last_used, Some(first));

        // A minute later: updated.
        let later = first + Duration::seconds(61);
        assert!(get().await.needs_touch(later));
        store.touch_token(rec.id, later).await.unwrap();
        assert_eq!(get().await.last_used, Some(later));

        // Unknown ids are fine.
        store.touch_token(uuid::Uuid::nil(), later).await.unwrap();
    }

    #[tokio::test]
    async fn lists_and_revokes() {
        let clock = test_support::clock();
        let (_dir, store) = test_support::store_with(clock.clone()).await;
        let acme = store.create_tenant("acme").await.unwrap();
        let other = store.create_tenant("other").await.unwrap();
        let a = store.create_token(new_token(acme.id, &TokenSecret::generate(&clock))).await.unwrap();
        clock.advance(Duration::seconds(1));
        let b = store
            .create_token(NewToken {
                expires: Some(clock.now() + Duration::days(90)),
                operator: true,
                ..new_token(acme.id, &TokenSecret::generate(&clock))
            })
            .await
            .unwrap();
        store.create_token(new_token(other.id, &TokenSecret::generate(&clock))).await.unwrap();

        let listed = store.list_tokens(acme.id).await.unwrap();
        assert_eq!(listed, vec![a.clone(), b.clone()]);
        assert_eq!(listed[1].expires, Some(b.created + Duration::days(90)));
        assert!(listed[1].operator);

        let revoked_at = clock.now();
        store.revoke_token(a.id).await.unwrap();
        clock.advance(Duration::hours(1));
        store.revoke_token(a.id).await.unwrap();
        let listed = store.list_tokens(acme.id).await.unwrap();
        assert_eq!(listed[0].revoked, Some(revoked_at), "the first revocation time is kept");
        assert!(!listed[0].is_active(clock.now()));
        assert!(listed[1].is_active(clock.now()));
        assert!(!listed[1].is_active(clock.now() + Duration::days(90)));

        let err = store.revoke_token(uuid::Uuid::nil()).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound), "{err:?}");
    }

    #[tokio::test]
    async fn deleting_a_tenant_deletes_its_tokens() {
        let clock = test_support::clock();
        let (_dir, store) = test_support::store_with(clock.clone()).await;
        let acme = store.create_tenant("acme").await.unwrap();
        store.create_token(new_token(acme.id, &TokenSecret::generate(&clock))).await.unwrap();
        sqlx::query("DELETE FROM tenants").execute(&store.writer).await.unwrap();
        assert!(store.list_tokens(acme.id).await.unwrap().is_empty());
    }
}
