//! The credential commands: `token list|revoke`, `client create|list|rotate|delete`,
//! `admin create`, `key rotate`. Output for scripts on stdout (JSON, one object per line for
//! listings); secrets appear only in the output of the command that creates them.

use std::io::BufRead as _;
use std::sync::Arc;

use serde_json::json;
use uuid::Uuid;

use scimd_http::Scopes;
use scimd_oauth::{AuthorizationServer, ClientRegistration};
use scimd_store::oauth::{AdminRecord, GrantType};
use scimd_store::{Clock, Store, StoreError, Tenant};

use crate::cli::{CliError, ClientCommand, tenant_by_slug};
use crate::config::Settings;

fn server(store: &Arc<dyn Store>, clock: &Arc<dyn Clock>, settings: &Settings) -> AuthorizationServer {
    AuthorizationServer::new(store.clone(), clock.clone(), settings.http.oauth.clone())
}

/// `token list --tenant T`.
pub(crate) async fn token_list(store: &dyn Store, tenant: &str) -> Result<(), CliError> {
    let tenant = tenant_by_slug(store, tenant).await?;
    for t in store.list_tokens(tenant.id).await? {
        crate::cli::out(scimd_http::token_json(&t))?;
    }
    Ok(())
}

/// `token revoke --tenant T ID`.
pub(crate) async fn token_revoke(store: &dyn Store, tenant: &str, id: &str) -> Result<(), CliError> {
    let tenant = tenant_by_slug(store, tenant).await?;
    let missing = || CliError::Usage(format!("no token {id:?} in tenant {:?}", tenant.slug));
    let id = Uuid::parse_str(id).map_err(|_| missing())?;
    if !store.list_tokens(tenant.id).await?.iter().any(|t| t.id == id) {
        return Err(missing());
    }
    store.revoke_token(id).await?;
    tracing::info!(credential = %id, tenant = %tenant.slug, "token revoked");
    eprintln!("token {id} revoked");
    Ok(())
}

/// `client …`.
pub(crate) async fn client(
    store: &Arc<dyn Store>,
    clock: &Arc<dyn Clock>,
    settings: &Settings,
    cmd: ClientCommand,
) -> Result<(), CliError> {
    let oauth = server(store, clock, settings);
    match cmd {
        ClientCommand::Create(args) => {
            let tenant = tenant_by_slug(&**store, &args.tenant).await?;
            let grant = GrantType::parse(&args.grant).ok_or_else(|| {
                CliError::Usage(format!(
                    "--grant {:?}: use client_credentials or authorization_code",
                    args.grant
                ))
            })?;
            let scopes = if args.scopes.is_empty() {
                Scopes::all()
            } else {
                Scopes::parse(args.scopes.iter().map(String::as_str))
                    .map_err(|e| CliError::Usage(e.to_string()))?
            };
            let reg = ClientRegistration {
                name: args.name.unwrap_or_else(|| grant.as_str().to_owned()),
                grant,
                redirect_uris: args.redirect_uris,
                scopes,
                public: args.public,
            };
            let registered = oauth.register_client(&tenant, reg).await.map_err(|e| match e {
                scimd_oauth::RegisterError::Invalid(m) => CliError::Usage(m),
                scimd_oauth::RegisterError::Store(e) => CliError::Store(e),
            })?;
            tracing::info!(client = %registered.record.client_id, tenant = %tenant.slug, "client created");
            let secret = registered.secret.as_ref().map(|s| s.expose().to_owned());
            crate::cli::out(json!({"client_id": registered.record.client_id, "client_secret": secret}))?;
        }
        ClientCommand::List { tenant } => {
            let tenant = tenant_by_slug(&**store, &tenant).await?;
            for c in store.list_clients(tenant.id).await? {
                crate::cli::out(scimd_http::client_json(&c))?;
            }
        }
        ClientCommand::Rotate { tenant, client_id } => {
            let client = own_client(&**store, &tenant, &client_id).await?;
            let secret = oauth.rotate_client_secret(&client).await.map_err(|e| match e {
                StoreError::Conflict(m) => CliError::Usage(m),
                other => other.into(),
            })?;
            crate::cli::out(json!({"client_id": client.client_id, "client_secret": secret.expose()}))?;
        }
        ClientCommand::Delete { tenant, client_id } => {
            let client = own_client(&**store, &tenant, &client_id).await?;
            store.delete_client(&client.client_id).await?;
            eprintln!("client {client_id} deleted");
        }
    }
    Ok(())
}

async fn own_client(
    store: &dyn Store,
    tenant: &str,
    client_id: &str,
) -> Result<scimd_store::oauth::ClientRecord, CliError> {
    let tenant = tenant_by_slug(store, tenant).await?;
    match store.client(client_id).await? {
        Some(c) if c.tenant == tenant.id => Ok(c),
        _ => Err(CliError::Usage(format!("no client {client_id:?} in tenant {:?}", tenant.slug))),
    }
}

/// `admin create --tenant T --email E --password-stdin`: the password is the first line of stdin
/// (a trailing newline is not part of it).
pub(crate) async fn admin_create(
    store: &Arc<dyn Store>,
    clock: &Arc<dyn Clock>,
    settings: &Settings,
    tenant: &str,
    email: &str,
    operator: bool,
) -> Result<(), CliError> {
    let tenant = tenant_by_slug(&**store, tenant).await?;
    let password = password_from_stdin()?;
    let oauth = server(store, clock, settings);
    let admin = if operator {
        oauth.create_operator(&tenant, email, password).await
    } else {
        oauth.create_admin(&tenant, email, password).await
    }
    .map_err(CliError::Usage)?;
    tracing::info!(admin = %admin.id, tenant = %tenant.slug, operator, "admin created");
    crate::cli::out(
        json!({"id": admin.id, "email": admin.email, "tenant": tenant.slug, "operator": admin.operator}),
    )?;
    Ok(())
}

/// One line of stdin, without its line ending: passwords never go on the command line, where
/// other users of the machine and the shell's history see them.
fn password_from_stdin() -> Result<String, CliError> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

/// The tenant's admin with this email (compared as sign-in compares it).
async fn admin_by_email(store: &dyn Store, tenant: &Tenant, email: &str) -> Result<AdminRecord, CliError> {
    store
        .admin_by_email(tenant.id, email.trim())
        .await?
        .ok_or_else(|| CliError::Usage(format!("tenant {:?} has no admin {:?}", tenant.slug, email.trim())))
}

/// `admin list`: JSON lines, oldest first.
pub(crate) async fn admin_list(store: &dyn Store, tenant: &str) -> Result<(), CliError> {
    let tenant = tenant_by_slug(store, tenant).await?;
    for a in store.list_admins(tenant.id).await? {
        crate::cli::out(scimd_http::admin_json(&a))?;
    }
    Ok(())
}

/// `admin delete`.
pub(crate) async fn admin_delete(store: &dyn Store, tenant: &str, email: &str) -> Result<(), CliError> {
    let tenant = tenant_by_slug(store, tenant).await?;
    let admin = admin_by_email(store, &tenant, email).await?;
    store.delete_admin(admin.id).await?;
    tracing::info!(admin = %admin.id, tenant = %tenant.slug, "admin deleted");
    eprintln!("admin {} removed from tenant {}", admin.email, tenant.slug);
    Ok(())
}

/// `admin reset-password`.
pub(crate) async fn admin_reset_password(
    store: &Arc<dyn Store>,
    clock: &Arc<dyn Clock>,
    settings: &Settings,
    tenant: &str,
    email: &str,
) -> Result<(), CliError> {
    let tenant = tenant_by_slug(&**store, tenant).await?;
    let admin = admin_by_email(&**store, &tenant, email).await?;
    let password = password_from_stdin()?;
    server(store, clock, settings).reset_admin_password(&admin, password).await.map_err(CliError::Usage)?;
    tracing::info!(admin = %admin.id, tenant = %tenant.slug, "admin password reset");
    eprintln!("admin {}'s password was changed; their sessions have ended", admin.email);
    Ok(())
}

/// `key rotate`: the new key is published at once and signs after the publication delay; retired
/// keys are kept for one access-token lifetime plus that delay, so every token they signed stays
/// valid until it expires.
pub(crate) async fn key_rotate(
    store: &Arc<dyn Store>,
    clock: &Arc<dyn Clock>,
    settings: &Settings,
) -> Result<(), CliError> {
    let oauth = server(store, clock, settings);
    let (kid, from) = oauth
        .keys()
        .rotate(settings.http.oauth.access_token_ttl + scimd_oauth::keys::PUBLICATION_DELAY)
        .await
        .map_err(|e| match e {
            scimd_oauth::keys::KeyError::Store(s) => CliError::Store(s),
            other => CliError::Usage(other.to_string()),
        })?;
    let from = from.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    eprintln!("key {kid} is published in the JWK Set now and signs from {from}");
    crate::cli::out(format_args!("{kid}"))?;
    Ok(())
}
