//! The commands (docs/operations.md describes each): `serve`, `migrate`, `tenant create`,
//! `token create|list|revoke`, `client create|list|rotate|delete`, `admin create`, `key rotate`,
//! `webhook …` and `sink …` (in `webhooks.rs`).
//!
//! Output discipline: stdout carries only what a script captures (the slug, the token, on first
//! start the SCIM URL and bootstrap token); logs and messages for people go to stderr.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;
use time::Duration;

use scimd_http::auth::{TokenRequest, create_static_token};
use scimd_http::{AppState, Scopes};
use scimd_store::{Clock, Store, StoreError, SystemClock, Tenant};

use crate::config::Settings;

/// scimd: a SCIM 2.0 provisioning server (RFC 7643, RFC 7644).
#[derive(Debug, Parser)]
#[command(name = "scimd", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Database URL: sqlite://PATH (created if missing) or postgres://USER@HOST/DB (PostgreSQL).
    /// [default: sqlite://scimd.db]
    #[arg(long, global = true, env = "SCIMD_DATABASE_URL", value_name = "URL")]
    pub database: Option<String>,
    /// A TOML file with settings (flags and environment variables take precedence over it).
    #[arg(long, global = true, env = "SCIMD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log format on stderr. [default: pretty]
    #[arg(long, global = true, env = "SCIMD_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line (for log shippers).
    Json,
    /// Human-readable lines.
    #[default]
    Pretty,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (migrates the database; on an empty database creates tenant `default` and
    /// prints a bootstrap token once).
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage static bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage OAuth 2.0 clients (identity providers that connect with client credentials or an
    /// authorization code).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage tenant admins (the people who approve an authorization-code connection).
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Manage the keys OAuth access tokens are signed with.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Read a tenant's provisioning log: one JSON object per SCIM request, oldest first.
    Logs(LogsArgs),
    /// Manage a tenant's verified domains (only users in them are accepted once it has any).
    #[command(subcommand)]
    Domain(DomainCommand),
    /// Read a tenant's event log (docs/events.md).
    #[command(subcommand)]
    Events(EventsCommand),
    /// Manage a tenant's webhooks: HTTP(S) receivers its events are pushed to (docs/events.md).
    #[command(subcommand)]
    Webhook(crate::webhooks::WebhookCommand),
    /// Manage a tenant's NATS sinks: JetStream subjects its events are published to.
    #[command(subcommand)]
    Sink(crate::webhooks::SinkCommand),
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Print events as JSON lines, in seq order.
    Tail(EventsTailArgs),
}

/// `events tail` options.
#[derive(Debug, Args)]
pub struct EventsTailArgs {
    /// The tenant.
    #[arg(long, value_name = "SLUG")]
    pub tenant: String,
    /// Start after this seq (0: from the oldest held). [default: 0]
    #[arg(long, value_name = "SEQ", default_value_t = 0)]
    pub after: u64,
    /// Only these types (repeatable): user.deactivated, group.member_added, user.*, …
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// Keep printing new events as they are committed (until interrupted).
    #[arg(long)]
    pub follow: bool,
}

#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// Claim a domain; prints the DNS TXT record to publish.
    Add {
        /// The tenant.
        #[arg(long, value_name = "SLUG")]
        tenant: String,
        /// The domain (example.com).
        domain: String,
    },
    /// Look up the TXT record and mark the domain verified.
    Verify {
        /// The tenant.
        #[arg(long, value_name = "SLUG")]
        tenant: String,
        /// The domain.
        domain: String,
        /// Ask this DNS server (IP:PORT) instead of the system resolver.
        #[arg(long, value_name = "ADDR")]
        dns_server: Option<std::net::SocketAddr>,
    },
    /// List the tenant's domains as JSON lines.
    List {
        /// The tenant.
        #[arg(long, value_name = "SLUG")]
        tenant: String,
    },
    /// Drop a domain.
    Remove {
        /// The tenant.
        #[arg(long, value_name = "SLUG")]
        tenant: String,
        /// The domain.
        domain: String,
    },
}

/// `logs` options.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The tenant.
    #[arg(long, value_name = "SLUG")]
    pub tenant: String,
    /// Only these statuses: a class (4xx, 5xx) or one status (409).
    #[arg(long, value_name = "STATUS")]
    pub status: Option<String>,
    /// Only records this recent (1h, 30m, 7d) or since an RFC 3339 time.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// How many of the latest records to show first.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: u32,
    /// Keep printing new records as they arrive (until interrupted).
    #[arg(long)]
    pub follow: bool,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints JSON {"client_id", "client_secret"} (the secret only this once).
    Create(ClientCreateArgs),
    /// List a tenant's clients as JSON lines (never their secrets).
    List {
        /// The tenant.
        #[arg(long, value_name = "SLUG")]
        tenant: String,
    },
    /// Replace a client's secret (revoking every token issued to it); prints JSON
    /// {"client_id", "client_secret"}.
    Rotate {
        /// The tenant.
        #[arg(long, value_name = "SLUG")]
        tenant: String,
        /// The client id.
        client_id: String,
    },
    /// Delete a client and everything issued to it.
    Delete {
        /// The tenant.
        #[arg(long, value_name = "SLUG")]
        tenant: String,
        /// The client id.
        client_id: String,
    },
}

/// `client create` options.
#[derive(Debug, Args)]
pub struct ClientCreateArgs {
    /// The tenant the client acts for.
    #[arg(long, value_name = "SLUG")]
    pub tenant: String,
    /// client_credentials (Microsoft Entra ID) or authorization_code (Okta).
    #[arg(long, value_name = "GRANT")]
    pub grant: String,
    /// A redirect URI (repeatable; authorization_code only), compared exactly.
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// A scope the client may be granted (repeatable; as for `token create`, plus `admin`).
    /// Default: every SCIM scope.
    #[arg(long = "scope", value_name = "S")]
    pub scopes: Vec<String>,
    /// A label for people (shown on the consent page).
    #[arg(long, value_name = "TEXT")]
    pub name: Option<String>,
    /// A public client: no secret, PKCE required (authorization_code only).
    #[arg(long)]
    pub public: bool,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a tenant admin; the password is read from stdin (one line).
    Create {
        /// The tenant.
        #[arg(long, value_name = "SLUG")]
        tenant: String,
        /// The admin's email (the sign-in name).
        #[arg(long, value_name = "E")]
        email: String,
        /// Read the password from stdin (required: passwords never go on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// An operator: signs in with this tenant and may act in every tenant from the console.
        #[arg(long)]
        operator: bool,
    },
    /// List the tenant's admins as JSON lines (never their password hashes).
    List {
        /// The tenant.
        #[arg(long, value_name = "SLUG")]
        tenant: String,
    },
    /// Remove an admin; their console and consent-page sessions end with them.
    Delete {
        /// The tenant.
        #[arg(long, value_name = "SLUG")]
        tenant: String,
        /// The admin's email.
        #[arg(long, value_name = "E")]
        email: String,
    },
    /// Give an admin a new password, read from stdin (one line); ends every session they have.
    ResetPassword {
        /// The tenant.
        #[arg(long, value_name = "SLUG")]
        tenant: String,
        /// The admin's email.
        #[arg(long, value_name = "E")]
        email: String,
        /// Read the password from stdin (required: passwords never go on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Add a signing key: published in the JWK Set at once, it signs two minutes later (when every
    /// server and client has seen it); older keys keep verifying until their tokens expire. Prints
    /// the new key id.
    Rotate,
}

/// `serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on. [default: 127.0.0.1:8080]
    #[arg(long, env = "SCIMD_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Public URL of this server (`https://scim.example.com`), for absolute `meta.location` behind a
    /// proxy and the OAuth issuer; its host is allowed. Default: taken from each request's Host
    /// header.
    #[arg(long, env = "SCIMD_BASE_URL", value_name = "URL")]
    pub base_url: Option<String>,
    /// Another host name requests may name in `Host` (any port), besides the listen address and
    /// the --base-url host; repeatable. Requests for other hosts are refused with 421.
    #[arg(long = "allowed-host", env = "SCIMD_ALLOWED_HOSTS", value_delimiter = ',', value_name = "HOST")]
    pub allowed_hosts: Vec<String>,
    /// Largest request body accepted, in bytes. [default: 1048576]
    #[arg(long, env = "SCIMD_MAX_BODY_BYTES", value_name = "N")]
    pub max_body_bytes: Option<usize>,
    /// Most resources in one list response; larger `count`s are capped. [default: 1000]
    #[arg(long, env = "SCIMD_MAX_PAGE_SIZE", value_name = "N")]
    pub max_page_size: Option<u64>,
    /// Page size when a list request gives no `count`. [default: 100]
    #[arg(long, env = "SCIMD_DEFAULT_PAGE_SIZE", value_name = "N")]
    pub default_page_size: Option<u64>,
    /// Most operations in one PATCH request; more is 413. [default: 1000]
    #[arg(long, env = "SCIMD_MAX_PATCH_OPERATIONS", value_name = "N")]
    pub max_patch_operations: Option<usize>,
    /// Most values a request may leave in one multi-valued attribute (emails, roles, …; not Group
    /// members); more is 413. [default: 1000]
    #[arg(long, env = "SCIMD_MAX_ATTRIBUTE_VALUES", value_name = "N")]
    pub max_attribute_values: Option<usize>,
    /// The DNS server (IP:PORT) that domain verification from the admin API and the console asks,
    /// instead of the system's resolver.
    #[arg(long, env = "SCIMD_DNS_SERVER", value_name = "ADDR")]
    pub dns_server: Option<std::net::SocketAddr>,
    /// Lifetime of OAuth access tokens, e.g. 1h, 90m. [default: 1h]
    #[arg(long, env = "SCIMD_ACCESS_TOKEN_TTL", value_name = "DURATION", value_parser = scimd_http::duration::parse)]
    pub access_token_ttl: Option<Duration>,
    /// How long the provisioning log keeps records, e.g. 30d, 12h. [default: 30d]
    #[arg(long, env = "SCIMD_LOG_RETENTION", value_name = "DURATION", value_parser = scimd_http::duration::parse)]
    pub log_retention: Option<Duration>,
    /// How long the event log keeps events, e.g. 90d; older ones are pruned in the background and
    /// a reader asking for them gets 410. [default: 90d]
    #[arg(long, env = "SCIMD_EVENT_RETENTION", value_name = "DURATION", value_parser = scimd_http::duration::parse)]
    pub event_retention: Option<Duration>,
    /// A request's headers must arrive within this (also how long an idle keep-alive connection
    /// stays open), e.g. 10s. [default: 10s]
    #[arg(long, env = "SCIMD_HEADER_READ_TIMEOUT", value_name = "DURATION", value_parser = scimd_http::duration::parse)]
    pub header_read_timeout: Option<Duration>,
    /// Close a connection on which no byte moves for this long, e.g. 60s. [default: 60s]
    #[arg(long, env = "SCIMD_IDLE_TIMEOUT", value_name = "DURATION", value_parser = scimd_http::duration::parse)]
    pub idle_timeout: Option<Duration>,
    /// Connections served at once; more wait to be accepted. [default: 1024]
    #[arg(long, env = "SCIMD_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
    /// Do not apply pending migrations on start (run `scimd migrate` in a separate step instead).
    #[arg(long)]
    pub no_migrate: bool,
    /// When failed webhook and sink deliveries are retried: comma-separated waits after each
    /// failure (units ms, s, m, h, d), with ±10 % jitter; after the last, a delivery is
    /// dead-lettered. [default: 5s,5m,30m,2h,5h,10h,14h,20h,24h]
    #[arg(long, env = "SCIMD_WEBHOOK_RETRY_SCHEDULE", value_name = "LIST")]
    pub webhook_retry_schedule: Option<scimd_events::RetrySchedule>,
    /// Let webhooks reach loopback, private and unique-local addresses (off: such URLs are
    /// refused at delivery time, so a tenant admin cannot aim scimd at the internal network).
    #[arg(long, env = "SCIMD_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,
    /// A webhook receiver must answer within this, e.g. 15s; a delivery's claim lasts twice as
    /// long, so a replica that died mid-attempt has its deliveries taken over after that.
    /// [default: 15s]
    #[arg(long, env = "SCIMD_WEBHOOK_TIMEOUT", value_name = "DURATION", value_parser = scimd_http::duration::parse)]
    pub webhook_timeout: Option<Duration>,
    /// Delivery attempts in flight at once, every endpoint together. [default: 64]
    #[arg(long, env = "SCIMD_DELIVERY_CONCURRENCY", value_name = "N")]
    pub delivery_concurrency: Option<usize>,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant; prints its slug.
    Create {
        /// URL name: 1-63 characters a-z, 0-9 and '-'.
        slug: String,
    },
    /// List every tenant as JSON lines (slug, id, created), by slug.
    List,
    /// Delete a tenant and everything of it: users, groups, credentials, admins, domains,
    /// event log, deliveries and provisioning log. Prints what was removed as JSON. Cannot be
    /// undone; without --yes it only says what it would delete.
    Delete {
        /// The tenant.
        slug: String,
        /// Really delete.
        #[arg(long)]
        yes: bool,
    },
    /// Print a tenant's settings as JSON.
    Show {
        /// The tenant.
        slug: String,
    },
    /// Change a tenant's settings (only those given); prints the result as JSON.
    Set(TenantSetArgs),
}

/// `tenant set` options: the per-tenant policies (docs/operations.md).
#[derive(Debug, Args)]
pub struct TenantSetArgs {
    /// The tenant.
    pub slug: String,
    /// RFC-strict mode: PATCH filters that match nothing are 400 noTarget, unknown attributes are
    /// refused. Off by default (Entra needs it off).
    #[arg(long, value_name = "BOOL")]
    pub strict: Option<bool>,
    /// What a successful PATCH answers: auto (default: Users 200 with the resource, Groups 204),
    /// body (200 with the resource) or no-content (204).
    #[arg(long, value_name = "WHAT", value_parser = ["auto", "body", "no-content"])]
    pub patch_response: Option<String>,
    /// Refuse PUT, PATCH and DELETE without If-Match (428).
    #[arg(long, value_name = "BOOL")]
    pub require_if_match: Option<bool>,
    /// A POST whose userName belongs to an inactive user: reject (409, default) or reactivate
    /// (replace and re-activate that user, 201).
    #[arg(long, value_name = "POLICY", value_parser = ["reject", "reactivate"])]
    pub reprovision: Option<String>,
    /// Member ids that name no User or Group: skip (default; they are audited) or refuse (400).
    #[arg(long, value_name = "POLICY", value_parser = ["skip", "refuse"])]
    pub unknown_members: Option<String>,
    /// Requests per second per credential before 429 (0: unlimited; "default": the server's).
    #[arg(long, value_name = "N")]
    pub rate_limit: Option<String>,
    /// Whether the tenant provisions Groups: on (default), or off (/Groups is 404 and gone from
    /// /ResourceTypes and /Schemas, for applications that do not model groups).
    #[arg(long, value_name = "ON|OFF", value_parser = ["on", "off"])]
    pub groups: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a static bearer token; prints the token alone on stdout (shown only this once).
    Create(TokenCreateArgs),
    /// List a tenant's tokens as JSON lines: id, name, scopes, expiry, last use; never the secret.
    List {
        /// The tenant.
        #[arg(long, value_name = "SLUG")]
        tenant: String,
    },
    /// Revoke a token by id (from `token list`); it stops working at once.
    Revoke {
        /// The tenant.
        #[arg(long, value_name = "SLUG")]
        tenant: String,
        /// The token id.
        id: String,
    },
}

/// `token create` options.
#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// The tenant the token acts for.
    #[arg(long, value_name = "SLUG")]
    pub tenant: String,
    /// A scope to grant (repeatable): users:read|create|update|delete, groups:read|create|update|delete,
    /// scim (all eight), or an Auth0-style alias (get:users, post:users, put:users, patch:users,
    /// delete:users, and the same for groups). Default: every SCIM scope.
    #[arg(long = "scope", value_name = "S")]
    pub scopes: Vec<String>,
    /// Lifetime, e.g. 90d, 12h, 30m, 2w. Default: no expiry.
    #[arg(long, value_name = "DURATION", value_parser = scimd_http::duration::parse)]
    pub expires_in: Option<Duration>,
    /// A label for people (shown in listings and audit records).
    #[arg(long, value_name = "TEXT", default_value = "cli")]
    pub name: String,
    /// Let the token reach every tenant (`/tenants/{slug}/scim/v2/...` for any slug).
    #[arg(long)]
    pub operator: bool,
}

/// A command's failure, shown as `error: …` with exit status 1.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input or settings.
    #[error("{0}")]
    Usage(String),
    /// The store failed.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// Network or I/O.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Writes one line to stdout. Unlike `println!`, a closed pipe is an error to return (and end
/// quietly on), not a panic.
pub(crate) fn out(line: impl std::fmt::Display) -> Result<(), CliError> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()?;
    Ok(())
}

/// Runs a command.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let serve_args = match &cli.command {
        Command::Serve(args) => Some(&**args),
        _ => None,
    };
    let settings = Settings::resolve(&cli.global, serve_args).map_err(CliError::Usage)?;
    init_logging(settings.log_format, serve_args.is_some());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // Every command migrates (it is idempotent), so `tenant create` works on a fresh file; `serve
    // --no-migrate` leaves that to a separate `scimd migrate` step.
    let migrate = serve_args.is_none_or(|a| !a.no_migrate) && !matches!(cli.command, Command::Migrate);
    let store = crate::database::open(&settings.database, &settings.postgres, clock.clone(), migrate).await?;
    let result = match cli.command {
        Command::Serve(_) => serve(&settings, store.clone(), clock).await,
        Command::Migrate => match store.migrate().await {
            Ok(applied) if applied.is_empty() => {
                eprintln!("database {} is up to date", settings.database);
                Ok(())
            }
            Ok(applied) => {
                eprintln!("database {}: applied {} migrations:", settings.database, applied.len());
                for m in &applied {
                    eprintln!("  {m}");
                }
                Ok(())
            }
            Err(e) => Err(e.into()),
        },
        Command::Tenant(TenantCommand::Create { slug }) => {
            let tenant = store.create_tenant(&slug).await.map_err(|e| match e {
                StoreError::Conflict(_) => CliError::Usage(format!("tenant {slug:?} already exists")),
                StoreError::Scim(e) => CliError::Usage(e.detail),
                other => other.into(),
            })?;
            out(tenant.slug)?;
            Ok(())
        }
        Command::Tenant(TenantCommand::List) => {
            for t in store.list_tenants().await? {
                out(scimd_http::tenant_json(&t))?;
            }
            Ok(())
        }
        Command::Tenant(TenantCommand::Delete { slug, yes }) => {
            let tenant = tenant_by_slug(&*store, &slug).await?;
            if !yes {
                let held = scimd_http::resource_totals(&*store, tenant.id).await?;
                return Err(CliError::Usage(format!(
                    "tenant {slug:?} holds {} users and {} groups: deleting it removes them, its credentials, \
                     admins, domains, events and provisioning log, and cannot be undone; run again with --yes",
                    held["users"], held["groups"]
                )));
            }
            let log = crate::database::open_log(&settings.database, &settings.postgres).await?;
            out(scimd_http::delete_tenant_everywhere(&*store, &*log, &tenant).await?)?;
            Ok(())
        }
        Command::Tenant(TenantCommand::Show { slug }) => {
            let tenant = tenant_by_slug(&*store, &slug).await?;
            out(settings_json(&tenant.settings)?)?;
            Ok(())
        }
        Command::Tenant(TenantCommand::Set(args)) => tenant_set(&*store, args).await,
        Command::Token(TokenCommand::Create(args)) => token_create(&*store, &*clock, args).await,
        Command::Token(TokenCommand::List { tenant }) => {
            crate::credentials::token_list(&*store, &tenant).await
        }
        Command::Token(TokenCommand::Revoke { tenant, id }) => {
            crate::credentials::token_revoke(&*store, &tenant, &id).await
        }
        Command::Client(cmd) => crate::credentials::client(&store, &clock, &settings, cmd).await,
        Command::Admin(AdminCommand::Create { tenant, email, password_stdin: _, operator }) => {
            crate::credentials::admin_create(&store, &clock, &settings, &tenant, &email, operator).await
        }
        Command::Admin(AdminCommand::List { tenant }) => {
            crate::credentials::admin_list(&*store, &tenant).await
        }
        Command::Admin(AdminCommand::Delete { tenant, email }) => {
            crate::credentials::admin_delete(&*store, &tenant, &email).await
        }
        Command::Admin(AdminCommand::ResetPassword { tenant, email, password_stdin: _ }) => {
            crate::credentials::admin_reset_password(&store, &clock, &settings, &tenant, &email).await
        }
        Command::Key(KeyCommand::Rotate) => crate::credentials::key_rotate(&store, &clock, &settings).await,
        Command::Logs(args) => crate::logs::run(&*store, &*clock, &settings, args).await,
        Command::Domain(cmd) => crate::domains::run(&*store, &*clock, cmd).await,
        Command::Events(EventsCommand::Tail(args)) => crate::events::tail(&*store, args).await,
        Command::Webhook(cmd) => crate::webhooks::webhook(&*store, &*clock, cmd).await,
        Command::Sink(cmd) => crate::webhooks::sink(&*store, &*clock, cmd).await,
    };
    store.close().await;
    result
}

async fn tenant_set(store: &dyn Store, args: TenantSetArgs) -> Result<(), CliError> {
    let tenant = tenant_by_slug(store, &args.slug).await?;
    let mut settings = tenant.settings;
    if let Some(v) = args.strict {
        settings.strict = v;
    }
    if let Some(v) = args.patch_response {
        settings.patch_response = match v.as_str() {
            "no-content" => scimd_store::PatchResponse::NoContent,
            "body" => scimd_store::PatchResponse::Body,
            _ => scimd_store::PatchResponse::Auto,
        };
    }
    if let Some(v) = args.require_if_match {
        settings.require_if_match = v;
    }
    if let Some(v) = args.reprovision {
        settings.reprovision = if v == "reactivate" {
            scimd_store::Reprovision::Reactivate
        } else {
            scimd_store::Reprovision::Reject
        };
    }
    if let Some(v) = args.unknown_members {
        settings.unknown_members = if v == "refuse" {
            scimd_store::UnknownMembers::Refuse
        } else {
            scimd_store::UnknownMembers::Skip
        };
    }
    if let Some(v) = args.rate_limit {
        settings.rate_limit = match v.as_str() {
            "default" => None,
            n => Some(
                n.parse()
                    .map_err(|_| CliError::Usage(format!("--rate-limit {n:?}: a number, or default")))?,
            ),
        };
    }
    if let Some(v) = args.groups {
        settings.groups = if v == "off" { scimd_store::Groups::Off } else { scimd_store::Groups::On };
    }
    let updated = store.update_tenant_settings(tenant.id, &settings).await?;
    out(settings_json(&updated.settings)?)?;
    Ok(())
}

/// A tenant's settings as `tenant show` and `tenant set` print them: `rate_limit` is the rate in
/// effect (the server's default when the tenant sets none), and `rate_limit_default` says which.
fn settings_json(settings: &scimd_store::TenantSettings) -> Result<String, CliError> {
    let mut v = serde_json::to_value(settings).map_err(|e| CliError::Usage(e.to_string()))?;
    if let Some(o) = v.as_object_mut() {
        let effective = settings.rate_limit.unwrap_or(scimd_store::DEFAULT_RATE_LIMIT);
        o.insert("rate_limit".into(), effective.into());
        o.insert("rate_limit_default".into(), settings.rate_limit.is_none().into());
    }
    Ok(v.to_string())
}

pub(crate) async fn tenant_by_slug(store: &dyn Store, slug: &str) -> Result<Tenant, CliError> {
    store.tenant_by_slug(slug).await?.ok_or_else(|| {
        CliError::Usage(format!("no tenant {slug:?}; create it with `scimd tenant create {slug}`"))
    })
}

async fn token_create(store: &dyn Store, clock: &dyn Clock, args: TokenCreateArgs) -> Result<(), CliError> {
    let scopes = if args.scopes.is_empty() {
        Scopes::all()
    } else {
        Scopes::parse(args.scopes.iter().map(String::as_str)).map_err(|e| CliError::Usage(e.to_string()))?
    };
    let tenant = tenant_by_slug(store, &args.tenant).await?;
    let expires = match args.expires_in {
        Some(d) => Some(
            scimd_http::duration::after(clock.now(), d)
                .map_err(|e| CliError::Usage(format!("--expires-in: {e}")))?,
        ),
        None => None,
    };
    let request = TokenRequest { name: args.name, scopes, expires, operator: args.operator };
    let (secret, record) =
        create_static_token(store, clock, &tenant, request).await.map_err(|e| match e {
            StoreError::Scim(e) => CliError::Usage(e.detail),
            other => other.into(),
        })?;
    tracing::info!(credential = %record.id, tenant = %tenant.slug, "token created");
    out(secret.expose())?;
    Ok(())
}

async fn serve(settings: &Settings, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Result<(), CliError> {
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .map_err(|e| CliError::Usage(format!("cannot listen on {}: {e}", settings.listen)))?;
    let addr = listener.local_addr()?;
    let mut http = settings.http.clone();
    http.allowed_hosts.allow_listener(addr);
    if addr.ip().is_unspecified() && settings.http.base_url.is_none() {
        tracing::warn!(
            %addr,
            "listening on a wildcard address without --base-url: only the loopback names and each \
             --allowed-host are answered; requests naming another host get 421"
        );
    }
    let scim_url = match &settings.http.base_url {
        Some(base) => format!("{base}/scim/v2"),
        None if addr.ip().is_unspecified() => format!("http://127.0.0.1:{}/scim/v2", addr.port()),
        None => format!("http://{addr}/scim/v2"),
    };

    if store.tenant_count().await? == 0 {
        bootstrap(&*store, &*clock, &scim_url).await?;
    }
    // Before the first request is answered: events that wait for their numbers (PostgreSQL numbers
    // after the commit, see docs/events.md) are in the log when this process answers.
    match store.number_waiting().await {
        Ok(0) => {}
        Ok(numbered) => tracing::info!(numbered, "numbered events that waited for their numbers"),
        Err(e) => tracing::warn!(error = %e, "numbering waiting events failed; retrying every second"),
    }
    let console_url = format!("{}/console/", scim_url.trim_end_matches("/scim/v2"));
    tracing::info!(%addr, scim_url, console_url, "scimd listening");

    let log = crate::database::open_log(&settings.database, &settings.postgres).await?;
    let upkeep = scimd_http::events::spawn_upkeep(store.clone(), clock.clone(), settings.event_retention);
    let state = AppState::new(store.clone(), clock.clone(), http).with_log(log, settings.log_retention);
    let mut delivery = settings.delivery.clone();
    // RFC 8417 §2.2: a SET's `iss` is the server; without --base-url, the address it listens on.
    if delivery.issuer.is_empty() {
        delivery.issuer = scim_url.trim_end_matches("/scim/v2").to_owned();
    }
    let metrics = scimd_events::DeliveryMetrics::register(state.metrics.registry())
        .inspect_err(|e| tracing::error!(error = %e, "delivery metrics disabled"))
        .ok();
    let deliverer = std::sync::Arc::new(
        scimd_events::Deliverer::new(store.clone(), clock, state.oauth.shared_keys(), delivery, metrics)
            .map_err(|e| CliError::Usage(format!("event delivery: {e}")))?,
    );
    let (stop_delivery, delivery_stopped) = tokio::sync::oneshot::channel::<()>();
    let delivery_task = tokio::spawn(deliverer.run(async move {
        let _ = delivery_stopped.await;
    }));
    // The peer address feeds the per-address sign-in throttling of the authorization pages.
    let app = scimd_http::router_mounting(
        state,
        Default::default(),
        scimd_console::routes(scimd_console::ConsoleConfig::default()),
    );
    let shutdown = async {
        shutdown_signal().await;
        // Long polls of the event log answer now instead of holding the shutdown for their wait.
        store.event_signal().close();
    };
    scimd_http::listener::serve(listener, app, settings.listener.clone(), shutdown).await?;
    // In-flight attempts are left to their leases: what they did not record is sent again.
    let _ = stop_delivery.send(());
    let _ = delivery_task.await;
    upkeep.abort();
    tracing::info!("scimd stopped");
    Ok(())
}

/// docs/operations.md, `scimd serve`: on first start with an empty database, tenant `default` and one bootstrap token,
/// printed once with the SCIM URL.
///
/// Replicas started together on one empty PostgreSQL database all see no tenant; the unique slug
/// lets one create `default`, and the others, getting a conflict, leave the bootstrap to it.
async fn bootstrap(store: &dyn Store, clock: &dyn Clock, scim_url: &str) -> Result<(), CliError> {
    let tenant = match store.create_tenant("default").await {
        Ok(tenant) => tenant,
        Err(StoreError::Conflict(_)) => {
            tracing::info!("tenant default was created by another process; no bootstrap token here");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let request =
        TokenRequest { name: "bootstrap".into(), scopes: Scopes::all(), expires: None, operator: false };
    let (secret, record) = create_static_token(store, clock, &tenant, request).await?;
    tracing::info!(credential = %record.id, "created tenant default and a bootstrap token");
    println!(
        "Created tenant \"default\" and a bootstrap token. The token is shown only this once: store it now."
    );
    out(format_args!("SCIM URL: {scim_url}"))?;
    out(format_args!("Token: {}", secret.expose()))?;
    Ok(())
}

/// Resolves on ctrl-c or SIGTERM; the listener then stops accepting and lets in-flight requests finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// Logs to stderr, as JSON lines or pretty text; `RUST_LOG` overrides the level (`info` for
/// `serve`, `warn` for the one-shot commands). The request span's fields (request id, route,
/// tenant) appear on every line logged inside a request.
fn init_logging(format: LogFormat, serving: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if serving { "info" } else { "warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match format {
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_flag_over_file_over_default() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("scimd.toml");
        std::fs::write(&file, "database = \"sqlite://from-file.db\"\nlisten = \"127.0.0.1:9\"\nmax_page_size = 50\nlog_format = \"json\"\nmax_patch_operations = 7\nmax_attribute_values = 9\n").unwrap();
        let cli = Cli::parse_from([
            "scimd",
            "--config",
            file.to_str().unwrap(),
            "serve",
            "--listen",
            "127.0.0.1:1",
            "--max-attribute-values",
            "11",
        ]);
        let Command::Serve(serve) = &cli.command else { panic!() };
        let s = Settings::resolve(&cli.global, Some(serve)).unwrap();
        assert_eq!(s.listen, "127.0.0.1:1", "flag over file");
        assert_eq!(s.database, "sqlite://from-file.db", "file over default");
        assert_eq!(s.http.max_page_size, 50);
        assert_eq!(s.http.default_page_size, 50, "default page size capped at the maximum");
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(s.http.max_body_bytes, 1024 * 1024, "default");
        assert_eq!((s.http.max_patch_operations, s.http.max_attribute_values), (7, 11), "file, flag");

        let cli = Cli::parse_from(["scimd", "migrate"]);
        let s = Settings::resolve(&cli.global, None).unwrap();
        assert_eq!(s.listen, crate::config::DEFAULT_LISTEN);
    }

    #[test]
    fn allowed_hosts_come_from_the_base_url_and_flags_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("scimd.toml");
        std::fs::write(
            &file,
            "base_url = \"https://SCIM.example.com/\"\nallowed_hosts = [\"file.example\"]\n",
        )
        .unwrap();
        let resolve = |args: &[&str]| {
            let mut argv = vec!["scimd", "--config", file.to_str().unwrap(), "serve"];
            argv.extend_from_slice(args);
            let cli = Cli::parse_from(argv);
            let Command::Serve(serve) = &cli.command else { panic!() };
            Settings::resolve(&cli.global, Some(serve))
        };
        let s = resolve(&[]).unwrap();
        let hosts = &s.http.allowed_hosts;
        assert!(hosts.allows("scim.example.com") && hosts.allows("file.example:8443"));
        assert!(!hosts.allows("localhost"), "the listen address is added once bound");
        let s = resolve(&["--allowed-host", "a.example", "--allowed-host", "B.example:9000"]).unwrap();
        let hosts = &s.http.allowed_hosts;
        assert!(hosts.allows("a.example") && hosts.allows("b.example") && hosts.allows("scim.example.com"));
        assert!(!hosts.allows("file.example"), "flags replace the file's list");
        assert!(resolve(&["--allowed-host", "evil.example/x"]).unwrap_err().contains("evil.example/x"));
        assert!(resolve(&["--base-url", "ftp://scim.example.com"]).unwrap_err().contains("http"));
    }

    #[test]
    fn unknown_config_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("scimd.toml");
        std::fs::write(&file, "databse = \"x\"\n").unwrap();
        let cli = Cli::parse_from(["scimd", "--config", file.to_str().unwrap(), "migrate"]);
        let err = Settings::resolve(&cli.global, None).unwrap_err();
        assert!(err.contains("databse"), "{err}");
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
