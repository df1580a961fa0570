//! Stored rows to records, once for every backend. Both schemas keep the OAuth tables with the
//! same columns and the same text forms (RFC 3339 times, UUIDs as text, digests as bytes), so only
//! reading one column differs between them: a backend implements [`Columns`] for its row type and
//! these functions do the rest.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::credentials::TokenRecord;
use crate::error::{Result, StoreError};
use crate::log::LogEntry;
use crate::model::{DomainRecord, Tenant};
use crate::oauth::{AdminRecord, ClientRecord, GrantRecord, GrantType, SessionRecord, SigningKey};

/// One stored row, read column by column.
pub trait Columns {
    /// A text column.
    fn text(&self, col: &str) -> Result<String>;
    /// A nullable text column.
    fn opt_text(&self, col: &str) -> Result<Option<String>>;
    /// A byte column.
    fn bytes(&self, col: &str) -> Result<Vec<u8>>;
    /// A nullable byte column.
    fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>>;
    /// An integer column, whatever its width.
    fn int(&self, col: &str) -> Result<i64>;
    /// A boolean column (SQLite stores 0/1, PostgreSQL a `boolean`).
    fn flag(&self, col: &str) -> Result<bool>;
}

/// The database's text form of a time: RFC 3339, UTC, three fractional digits.
#[must_use]
pub fn time_to_db(t: OffsetDateTime) -> String {
    scimd_schema::value::format_datetime(t)
}

/// Parses a stored time.
pub fn time_from_db(s: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|e| StoreError::Internal(format!("stored time {s:?} does not parse: {e}")))
}

/// Parses a stored UUID.
pub fn uuid_from_db(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|e| StoreError::Internal(format!("stored id {s:?} does not parse: {e}")))
}

fn time(row: &dyn Columns, col: &str) -> Result<OffsetDateTime> {
    time_from_db(&row.text(col)?)
}

fn opt_time(row: &dyn Columns, col: &str) -> Result<Option<OffsetDateTime>> {
    row.opt_text(col)?.as_deref().map(time_from_db).transpose()
}

fn uuid(row: &dyn Columns, col: &str) -> Result<Uuid> {
    uuid_from_db(&row.text(col)?)
}

fn opt_uuid(row: &dyn Columns, col: &str) -> Result<Option<Uuid>> {
    row.opt_text(col)?.as_deref().map(uuid_from_db).transpose()
}

/// A stored SHA-256 digest.
pub fn digest32(bytes: Vec<u8>, what: &str) -> Result<[u8; 32]> {
    bytes.try_into().map_err(|_| StoreError::Internal(format!("{what}: stored digest is not 32 bytes")))
}

/// Scope names as stored: space-separated (RFC 6749 §3.3 style).
#[must_use]
pub fn scopes(s: &str) -> Vec<String> {
    s.split_ascii_whitespace().map(str::to_owned).collect()
}

/// The columns [`token`] reads.
pub const TOKEN_COLUMNS: &str =
    "id, tenant_id, name, digest, scopes, operator, created, expires, last_used, revoked";

/// A `tokens` row.
pub fn token(row: &dyn Columns) -> Result<TokenRecord> {
    let id = row.text("id")?;
    Ok(TokenRecord {
        tenant: uuid(row, "tenant_id")?,
        name: row.text("name")?,
        digest: digest32(row.bytes("digest")?, &format!("token {id}"))?,
        scopes: scopes(&row.text("scopes")?),
        operator: row.flag("operator")?,
        created: time(row, "created")?,
        expires: opt_time(row, "expires")?,
        last_used: opt_time(row, "last_used")?,
        revoked: opt_time(row, "revoked")?,
        id: uuid_from_db(&id)?,
    })
}

/// The columns [`client`] reads.
pub const CLIENT_COLUMNS: &str =
    "client_id, tenant_id, name, grant_type, secret_digest, redirect_uris, scopes, created, secret_rotated";

/// An `oauth_clients` row.
pub fn client(row: &dyn Columns) -> Result<ClientRecord> {
    let client_id = row.text("client_id")?;
    let grant = row.text("grant_type")?;
    let redirects = row.text("redirect_uris")?;
    Ok(ClientRecord {
        tenant: uuid(row, "tenant_id")?,
        name: row.text("name")?,
        grant: GrantType::parse(&grant).ok_or_else(|| {
            StoreError::Internal(format!("client {client_id}: unknown grant type {grant:?}"))
        })?,
        secret_digest: row.opt_bytes("secret_digest")?.map(|d| digest32(d, &client_id)).transpose()?,
        redirect_uris: serde_json::from_str(&redirects)
            .map_err(|e| StoreError::Internal(format!("client {client_id}: redirect_uris: {e}")))?,
        scopes: scopes(&row.text("scopes")?),
        created: time(row, "created")?,
        secret_rotated: opt_time(row, "secret_rotated")?,
        client_id,
    })
}

/// The columns [`admin`] reads.
pub const ADMIN_COLUMNS: &str =
    "id, tenant_id, email, password_hash, failed_logins, last_failed_login, created, operator";

/// An `oauth_admins` row.
pub fn admin(row: &dyn Columns) -> Result<AdminRecord> {
    Ok(AdminRecord {
        id: uuid(row, "id")?,
        tenant: uuid(row, "tenant_id")?,
        email: row.text("email")?,
        password_hash: row.text("password_hash")?,
        failed_logins: u32::try_from(row.int("failed_logins")?).unwrap_or(u32::MAX),
        last_failed_login: opt_time(row, "last_failed_login")?,
        created: time(row, "created")?,
        operator: row.flag("operator")?,
    })
}

/// The columns [`grant`] reads, from `oauth_grants g`.
pub const GRANT_COLUMNS: &str = "g.id, g.tenant_id, g.client_id, g.admin_id, g.scopes, g.created, g.revoked";

/// An `oauth_grants` row.
pub fn grant(row: &dyn Columns) -> Result<GrantRecord> {
    Ok(GrantRecord {
        id: uuid(row, "id")?,
        tenant: uuid(row, "tenant_id")?,
        client_id: row.text("client_id")?,
        admin: opt_uuid(row, "admin_id")?,
        scopes: scopes(&row.text("scopes")?),
        created: time(row, "created")?,
        revoked: opt_time(row, "revoked")?,
    })
}

/// An `oauth_sessions` row (`id, digest, csrf, admin_id, expires`).
pub fn session(row: &dyn Columns) -> Result<SessionRecord> {
    let expires = time(row, "expires")?;
    Ok(SessionRecord {
        id: uuid(row, "id")?,
        digest: digest32(row.bytes("digest")?, "session")?,
        csrf: row.text("csrf")?,
        admin: opt_uuid(row, "admin_id")?,
        expires,
        created: opt_time(row, "created")?.unwrap_or(expires),
        tenant: opt_uuid(row, "tenant_id")?,
    })
}

/// A `signing_keys` row.
pub fn signing_key(row: &dyn Columns) -> Result<SigningKey> {
    Ok(SigningKey {
        kid: row.text("kid")?,
        alg: row.text("alg")?,
        private_der: row.bytes("private_der")?,
        public_jwk: row.text("public_jwk")?,
        created: time(row, "created")?,
        retired: opt_time(row, "retired")?,
    })
}

/// A `tenants` row (`id, slug, created, settings`).
pub fn tenant(row: &dyn Columns) -> Result<Tenant> {
    let id = row.text("id")?;
    let settings = row.text("settings")?;
    Ok(Tenant {
        settings: serde_json::from_str(&settings)
            .map_err(|e| StoreError::Internal(format!("tenant {id}: stored settings: {e}")))?,
        id: uuid_from_db(&id)?,
        slug: row.text("slug")?,
        created: time(row, "created")?,
    })
}

/// A `tenant_domains` row (`domain, token, created, verified`).
pub fn domain(row: &dyn Columns) -> Result<DomainRecord> {
    Ok(DomainRecord {
        domain: row.text("domain")?,
        token: row.text("token")?,
        created: time(row, "created")?,
        verified: opt_time(row, "verified")?,
    })
}

/// A provisioning `log` row.
pub fn log_entry(row: &dyn Columns) -> Result<LogEntry> {
    Ok(LogEntry {
        id: uuid(row, "id")?,
        time: time(row, "time")?,
        tenant: uuid(row, "tenant_id")?,
        credential_id: row.opt_text("credential_id")?,
        credential_name: row.opt_text("credential_name")?,
        credential_kind: row.opt_text("credential_kind")?,
        client: row.text("client")?,
        method: row.text("method")?,
        path: row.text("path")?,
        status: u16::try_from(row.int("status")?).unwrap_or(0),
        scim_type: row.opt_text("scim_type")?,
        detail: row.opt_text("detail")?,
        duration_us: u64::try_from(row.int("duration_us")?).unwrap_or(0),
        resource_id: row.opt_text("resource_id")?,
        request_body: row.opt_text("request_body")?,
        request_id: row.opt_text("request_id")?,
        response_body: row.opt_text("response_body")?,
    })
}
