//! `TenantStore` on PostgreSQL: the slug is unique in the database, so two replicas creating the
//! same tenant at once get one success and one conflict.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use scimd_schema::ScimError;
use scimd_store::sql::Dialect;
use scimd_store::tenants::{TenantDeletion, delete_in_batches, valid_slug};
use scimd_store::{DomainRecord, Result, StoreError, Tenant, TenantSettings, TenantStore};

use crate::{PgStore, map_err, time_from_db, time_to_db};

fn tenant_from_row(row: &PgRow) -> Result<Tenant> {
    scimd_store::rows::tenant(&crate::Cols(row))
}

fn domain_from_row(row: &PgRow) -> Result<DomainRecord> {
    scimd_store::rows::domain(&crate::Cols(row))
}

#[async_trait]
impl TenantStore for PgStore {
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
        let created = time_to_db(tenant.created);
        sqlx::query("INSERT INTO tenants (id, slug, created) VALUES ($1, $2, $3)")
            .bind(tenant.id.to_string())
            .bind(&tenant.slug)
            .bind(&created)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        // The stored time has millisecond precision: hand back what a later read returns.
        Ok(Tenant { created: time_from_db(&created)?, ..tenant })
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        sqlx::query("SELECT id, slug, created, settings::text AS settings FROM tenants ORDER BY slug")
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(tenant_from_row)
            .collect()
    }

    async fn tenant_by_slug(&self, slug: &str) -> Result<Option<Tenant>> {
        sqlx::query("SELECT id, slug, created, settings::text AS settings FROM tenants WHERE slug = $1")
            .bind(slug)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(tenant_from_row)
            .transpose()
    }

    async fn tenant_by_id(&self, id: Uuid) -> Result<Option<Tenant>> {
        sqlx::query("SELECT id, slug, created, settings::text AS settings FROM tenants WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(tenant_from_row)
            .transpose()
    }

    async fn update_tenant_settings(&self, id: Uuid, settings: &TenantSettings) -> Result<Tenant> {
        let json =
            serde_json::to_string(settings).map_err(|e| StoreError::Internal(format!("settings: {e}")))?;
        // One statement: the last writer's settings win whole, on any replica (no merge of halves).
        let row = sqlx::query(
            "UPDATE tenants SET settings = $2::jsonb WHERE id = $1 \
             RETURNING id, slug, created, settings::text AS settings",
        )
        .bind(id.to_string())
        .bind(json)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
        tenant_from_row(&row)
    }

    async fn add_domain(&self, tenant: Uuid, domain: &str, token: &str) -> Result<DomainRecord> {
        let domain = domain.to_ascii_lowercase();
        let created = time_to_db(self.clock.now());
        // One statement: the tenant check and the insert cannot be separated by another replica.
        let row = sqlx::query(
            "INSERT INTO tenant_domains (tenant_id, domain, token, created) \
             SELECT t.id, $2, $3, $4 FROM tenants t WHERE t.id = $1 \
             RETURNING domain, token, created, verified",
        )
        .bind(tenant.to_string())
        .bind(&domain)
        .bind(token)
        .bind(&created)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)
        .map_err(|e| match e {
            StoreError::Conflict(_) => StoreError::Conflict("domain".into()),
            other => other,
        })?
        .ok_or(StoreError::NotFound)?;
        domain_from_row(&row)
    }

    async fn list_domains(&self, tenant: Uuid) -> Result<Vec<DomainRecord>> {
        sqlx::query(
            "SELECT domain, token, created, verified FROM tenant_domains WHERE tenant_id = $1 \
             ORDER BY created, domain",
        )
        .bind(tenant.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?
        .iter()
        .map(domain_from_row)
        .collect()
    }

    async fn mark_domain_verified(&self, tenant: Uuid, domain: &str) -> Result<DomainRecord> {
        let row = sqlx::query(
            "UPDATE tenant_domains SET verified = coalesce(verified, $3) WHERE tenant_id = $1 AND domain = $2 \
             RETURNING domain, token, created, verified",
        )
        .bind(tenant.to_string())
        .bind(domain.to_ascii_lowercase())
        .bind(time_to_db(self.clock.now()))
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
        domain_from_row(&row)
    }

    async fn remove_domain(&self, tenant: Uuid, domain: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM tenant_domains WHERE tenant_id = $1 AND domain = $2")
            .bind(tenant.to_string())
            .bind(domain.to_ascii_lowercase())
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn tenant_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM tenants")
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn delete_tenant(&self, id: Uuid) -> Result<TenantDeletion> {
        let tenant = id.to_string();
        // Each batch is one statement, so its own short transaction: no lock of the tenant's is
        // held across batches, and other replicas' writes go on beside it.
        delete_in_batches(Dialect::Postgres, |sql, limit| {
            let tenant = tenant.clone();
            async move {
                let mut q = sqlx::query(&sql).bind(tenant);
                if let Some(limit) = limit {
                    q = q.bind(limit);
                }
                Ok(q.execute(&self.pool).await.map_err(map_err)?.rows_affected())
            }
        })
        .await
    }
}
