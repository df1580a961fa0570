//! [`TenantStore`] on SQLite: the `tenants` table of migration 0001.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use scimd_schema::ScimError;
use scimd_store::sql::Dialect;
use scimd_store::tenants::{TenantDeletion, delete_in_batches, valid_slug};
use scimd_store::{DomainRecord, Result, StoreError, Tenant, TenantSettings, TenantStore};

use crate::pool::{time_from_db, time_to_db};
use crate::{SqliteStore, map_err};

fn tenant_from_row(row: &SqliteRow) -> Result<Tenant> {
    scimd_store::rows::tenant(&crate::Cols(row))
}

fn domain_from_row(row: &SqliteRow) -> Result<DomainRecord> {
    scimd_store::rows::domain(&crate::Cols(row))
}

#[async_trait]
impl TenantStore for SqliteStore {
    async fn create_tenant(&self, slug: &str) -> Result<Tenant> {
        if !valid_slug(slug) {
            return Err(StoreError::Scim(ScimError::invalid_value(format!(
                "invalid tenant slug {slug:?}: use 1-63 characters a-z, 0-9 and '-', starting with a letter or digit"
            ))));
        }
        let tenant = Tenant {
            id: self.clock.new_id(),
            slug: slug.to_owned(),
            created: self.clock.now(),
            settings: TenantSettings::default(),
        };
        // Round-trip through the stored text so the returned value equals what a read gives back.
        let created = time_to_db(tenant.created);
        let mut tx = self.write_tx().await?;
        sqlx::query("INSERT INTO tenants (id, slug, created) VALUES (?1, ?2, ?3)")
            .bind(tenant.id.to_string())
            .bind(&tenant.slug)
            .bind(&created)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(Tenant { created: time_from_db(&created)?, ..tenant })
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        sqlx::query("SELECT id, slug, created, settings FROM tenants ORDER BY slug")
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(tenant_from_row)
            .collect()
    }

    async fn tenant_by_slug(&self, slug: &str) -> Result<Option<Tenant>> {
        sqlx::query("SELECT id, slug, created, settings FROM tenants WHERE slug = ?1")
            .bind(slug)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(tenant_from_row)
            .transpose()
    }

    async fn tenant_by_id(&self, id: Uuid) -> Result<Option<Tenant>> {
        // On the request path's connections (`readers.rs`): requests with an OAuth access token
        // find their tenant here.
        let id = id.to_string();
        self.readers
            .read(move |conn| {
                let mut stmt =
                    conn.prepare_cached("SELECT id, slug, created, settings FROM tenants WHERE id = ?1")?;
                let mut rows = stmt.query([&id])?;
                match rows.next()? {
                    Some(row) => Ok(Some(scimd_store::rows::tenant(&crate::driver::RowCols(row))?)),
                    None => Ok(None),
                }
            })
            .await
    }

    async fn update_tenant_settings(&self, id: Uuid, settings: &TenantSettings) -> Result<Tenant> {
        let json =
            serde_json::to_string(settings).map_err(|e| StoreError::Internal(format!("settings: {e}")))?;
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(
            "UPDATE tenants SET settings = ?2 WHERE id = ?1 RETURNING id, slug, created, settings",
        )
        .bind(id.to_string())
        .bind(json)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
        let tenant = tenant_from_row(&row)?;
        tx.commit().await.map_err(map_err)?;
        Ok(tenant)
    }

    async fn add_domain(&self, tenant: Uuid, domain: &str, token: &str) -> Result<DomainRecord> {
        let domain = domain.to_ascii_lowercase();
        let created = time_to_db(self.clock.now());
        let mut tx = self.write_tx().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM tenants WHERE id = ?1")
            .bind(tenant.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        sqlx::query("INSERT INTO tenant_domains (tenant_id, domain, token, created) VALUES (?1, ?2, ?3, ?4)")
            .bind(tenant.to_string())
            .bind(&domain)
            .bind(token)
            .bind(&created)
            .execute(&mut *tx)
            .await
            .map_err(map_err)
            .map_err(|e| match e {
                StoreError::Conflict(_) => StoreError::Conflict("domain".into()),
                other => other,
            })?;
        tx.commit().await.map_err(map_err)?;
        Ok(DomainRecord { domain, token: token.to_owned(), created: time_from_db(&created)?, verified: None })
    }

    async fn list_domains(&self, tenant: Uuid) -> Result<Vec<DomainRecord>> {
        // On the request path's connections (`readers.rs`): every user write checks the tenant's verified
        // domains (docs/operations.md, `scimd domain`), and through sqlx this one statement cost 5 % of the
        // server's CPU under POST /Users in the load benchmark's profile.
        let tenant = tenant.to_string();
        self.readers
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT domain, token, created, verified FROM tenant_domains WHERE tenant_id = ?1 \
                     ORDER BY created, domain",
                )?;
                let mut rows = stmt.query([&tenant])?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    out.push(scimd_store::rows::domain(&crate::driver::RowCols(row))?);
                }
                Ok(out)
            })
            .await
    }

    async fn mark_domain_verified(&self, tenant: Uuid, domain: &str) -> Result<DomainRecord> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(
            "UPDATE tenant_domains SET verified = coalesce(verified, ?3) WHERE tenant_id = ?1 AND domain = ?2
             RETURNING domain, token, created, verified",
        )
        .bind(tenant.to_string())
        .bind(domain.to_ascii_lowercase())
        .bind(time_to_db(self.clock.now()))
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
        let record = domain_from_row(&row)?;
        tx.commit().await.map_err(map_err)?;
        Ok(record)
    }

    async fn remove_domain(&self, tenant: Uuid, domain: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("DELETE FROM tenant_domains WHERE tenant_id = ?1 AND domain = ?2")
            .bind(tenant.to_string())
            .bind(domain.to_ascii_lowercase())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(map_err)
    }

    async fn tenant_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM tenants")
            .fetch_one(&self.reader)
            .await
            .map_err(map_err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn delete_tenant(&self, id: Uuid) -> Result<TenantDeletion> {
        let tenant = id.to_string();
        // One short write transaction per batch on sqlx's writer: the group-commit writer takes
        // SQLite's write lock between them, so other tenants' writes wait at most one batch.
        delete_in_batches(Dialect::Sqlite, |sql, limit| {
            let tenant = tenant.clone();
            async move {
                let mut tx = self.write_tx().await?;
                let mut q = sqlx::query(&sql).bind(tenant);
                if let Some(limit) = limit {
                    q = q.bind(limit);
                }
                let done = q.execute(&mut *tx).await.map_err(map_err)?;
                tx.commit().await.map_err(map_err)?;
                Ok(done.rows_affected())
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use scimd_store::{StoreError, TenantStore};

    use crate::test_support;

    #[tokio::test]
    async fn creates_and_finds_tenants() {
        let (_dir, store) = test_support::store().await;
        assert_eq!(store.tenant_count().await.unwrap(), 0);
        let t = store.create_tenant("acme").await.unwrap();
        assert_eq!(t.slug, "acme");
        assert_eq!(store.tenant_by_slug("acme").await.unwrap(), Some(t.clone()));
        assert_eq!(store.tenant_by_id(t.id).await.unwrap(), Some(t.clone()));
        assert_eq!(store.tenant_by_slug("ACME").await.unwrap(), None);
        assert_eq!(store.tenant_by_id(uuid::Uuid::nil()).await.unwrap(), None);
        assert_eq!(store.tenant_count().await.unwrap(), 1);
        assert_eq!(t.settings, scimd_store::TenantSettings::default());
        let strict = scimd_store::TenantSettings {
            strict: true,
            reprovision: scimd_store::Reprovision::Reactivate,
            rate_limit: Some(0),
            ..Default::default()
        };
        let updated = store.update_tenant_settings(t.id, &strict).await.unwrap();
        assert_eq!(updated.settings, strict);
        assert_eq!(store.tenant_by_slug("acme").await.unwrap().unwrap().settings, strict);
        assert!(store.update_tenant_settings(uuid::Uuid::nil(), &strict).await.is_err());
    }

    #[tokio::test]
    async fn domains() {
        let (_dir, store) = test_support::store().await;
        let t = store.create_tenant("acme").await.unwrap();
        let d = store.add_domain(t.id, "Example.COM", "tok").await.unwrap();
        assert_eq!((d.domain.as_str(), d.verified), ("example.com", None));
        assert!(matches!(store.add_domain(t.id, "example.com", "x").await, Err(StoreError::Conflict(_))));
        assert!(matches!(
            store.add_domain(uuid::Uuid::nil(), "a.example", "x").await,
            Err(StoreError::NotFound)
        ));
        let v = store.mark_domain_verified(t.id, "EXAMPLE.com").await.unwrap();
        assert!(v.verified.is_some());
        assert_eq!(store.list_domains(t.id).await.unwrap(), vec![v]);
        store.remove_domain(t.id, "example.com").await.unwrap();
        assert!(store.list_domains(t.id).await.unwrap().is_empty());
        assert!(matches!(store.remove_domain(t.id, "example.com").await, Err(StoreError::NotFound)));
    }

    #[tokio::test]
    async fn duplicate_slug_is_a_conflict() {
        let (_dir, store) = test_support::store().await;
        store.create_tenant("acme").await.unwrap();
        let err = store.create_tenant("acme").await.unwrap_err();
        assert!(matches!(&err, StoreError::Conflict(c) if c == "slug"), "{err:?}");
        assert_eq!(store.tenant_count().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn invalid_slug_is_refused() {
        let (_dir, store) = test_support::store().await;
        let err = store.create_tenant("Not/A Slug").await.unwrap_err();
        assert!(matches!(err, StoreError::Scim(_)), "{err:?}");
        assert_eq!(store.tenant_count().await.unwrap(), 0);
    }
}
