//! Settings: command-line flags, `SCIMD_*` environment variables, an optional TOML file, defaults.
//!
//! Precedence, highest first: flag > environment variable > config file > built-in default. Clap
//! resolves flag over environment; [`Settings::resolve`] fills what neither gave from the file, then
//! from the defaults. Unknown keys in the file are an error, so a typo does not pass silently.
//!
//! ```toml
//! # scimd.toml
//! database = "sqlite:///var/lib/scimd/scimd.db"
//! listen = "0.0.0.0:8080"
//! base_url = "https://scim.example.com"
//! allowed_hosts = ["scim.internal"]  # further names a request's Host may give
//! log_format = "json"          # or "pretty"
//! max_body_bytes = 1048576
//! max_page_size = 1000
//! default_page_size = 100
//! max_patch_operations = 1000  # operations in one PATCH request
//! max_attribute_values = 1000  # values in one multi-valued attribute (not Group members)
//!
//! # PostgreSQL only (docs/postgres.md); each also read from the environment variable named beside it
//! [postgres]
//! max_connections = 10         # SCIMD_PG_MAX_CONNECTIONS: per process; keep the sum over replicas
//!                              # below the server's max_connections
//! min_connections = 0          # SCIMD_PG_MIN_CONNECTIONS
//! acquire_timeout_ms = 5000    # SCIMD_PG_ACQUIRE_TIMEOUT_MS: wait for a connection, then 503
//! statement_timeout_ms = 30000 # SCIMD_PG_STATEMENT_TIMEOUT_MS: 0 disables
//! idle_timeout_ms = 600000     # SCIMD_PG_IDLE_TIMEOUT_MS: 0 keeps idle connections open
//! ```

use std::path::Path;
use std::time::Duration;

use scimd_store_postgres::PgOptions;
use serde::Deserialize;

use crate::cli::{GlobalArgs, LogFormat, ServeArgs};

/// The database when nothing names one (docs/operations.md).
pub const DEFAULT_DATABASE: &str = "sqlite://scimd.db";
/// The listen address when nothing names one.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The config file's keys; every one optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `--database`.
    pub database: Option<String>,
    /// `--listen`.
    pub listen: Option<String>,
    /// `--base-url`.
    pub base_url: Option<String>,
    /// `--allowed-host`, each.
    pub allowed_hosts: Option<Vec<String>>,
    /// `--log-format`.
    pub log_format: Option<LogFormat>,
    /// `--max-body-bytes`.
    pub max_body_bytes: Option<usize>,
    /// `--max-page-size`.
    pub max_page_size: Option<u64>,
    /// `--default-page-size`.
    pub default_page_size: Option<u64>,
    /// `--max-patch-operations`.
    pub max_patch_operations: Option<usize>,
    /// `--max-attribute-values`.
    pub max_attribute_values: Option<usize>,
    /// PostgreSQL pool and session settings.
    #[serde(default)]
    pub postgres: PostgresFile,
}

/// The `[postgres]` table: pool and session settings, ignored for SQLite.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresFile {
    /// Most connections per process.
    pub max_connections: Option<u32>,
    /// Idle connections kept open.
    pub min_connections: Option<u32>,
    /// Wait for a connection this long, then 503.
    pub acquire_timeout_ms: Option<u64>,
    /// PostgreSQL `statement_timeout`; 0 disables.
    pub statement_timeout_ms: Option<u64>,
    /// Close idle connections after this long; 0 never.
    pub idle_timeout_ms: Option<u64>,
}

impl PostgresFile {
    /// Environment over file over [`PgOptions::default`]; `env` looks a variable up (the process
    /// environment in `scimd`, a map in tests).
    pub fn resolve(&self, env: impl Fn(&str) -> Option<String>) -> Result<PgOptions, String> {
        fn pick<T: std::str::FromStr>(
            env: &impl Fn(&str) -> Option<String>,
            var: &str,
            file: Option<T>,
        ) -> Result<Option<T>, String> {
            match env(var) {
                Some(v) => {
                    v.trim().parse().map(Some).map_err(|_| format!("{var}={v:?} is not a whole number"))
                }
                None => Ok(file),
            }
        }
        let defaults = PgOptions::default();
        let ms = Duration::from_millis;
        let options = PgOptions {
            max_connections: pick(&env, "SCIMD_PG_MAX_CONNECTIONS", self.max_connections)?
                .unwrap_or(defaults.max_connections),
            min_connections: pick(&env, "SCIMD_PG_MIN_CONNECTIONS", self.min_connections)?
                .unwrap_or(defaults.min_connections),
            acquire_timeout: pick(&env, "SCIMD_PG_ACQUIRE_TIMEOUT_MS", self.acquire_timeout_ms)?
                .map_or(defaults.acquire_timeout, ms),
            statement_timeout: pick(&env, "SCIMD_PG_STATEMENT_TIMEOUT_MS", self.statement_timeout_ms)?
                .map_or(defaults.statement_timeout, ms),
            idle_timeout: match pick(&env, "SCIMD_PG_IDLE_TIMEOUT_MS", self.idle_timeout_ms)? {
                Some(0) => None,
                Some(n) => Some(ms(n)),
                None => defaults.idle_timeout,
            },
        };
        if options.max_connections == 0 {
            return Err("postgres max_connections must be at least 1".into());
        }
        if options.min_connections > options.max_connections {
            return Err("postgres min_connections must not exceed max_connections".into());
        }
        if options.acquire_timeout.is_zero() {
            return Err("postgres acquire_timeout_ms must be at least 1".into());
        }
        Ok(options)
    }
}

impl FileConfig {
    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// Every setting, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Database URL.
    pub database: String,
    /// Log output format.
    pub log_format: LogFormat,
    /// Listen address (`serve`).
    pub listen: String,
    /// HTTP settings (`serve`).
    pub http: scimd_http::HttpConfig,
    /// How long the provisioning log keeps records (`serve`).
    pub log_retention: time::Duration,
    /// How long the event log keeps events (`serve`).
    pub event_retention: time::Duration,
    /// The listener's timeouts and connection cap (`serve`).
    pub listener: scimd_http::ListenerConfig,
    /// PostgreSQL pool and session settings (unused on SQLite).
    pub postgres: PgOptions,
    /// Event delivery (`serve`): retries, the address guard, concurrency, the SETs' issuer.
    pub delivery: scimd_events::Settings,
}

impl Settings {
    /// Resolves flags and environment (already merged by clap) over the file over the defaults.
    pub fn resolve(global: &GlobalArgs, serve: Option<&ServeArgs>) -> Result<Self, String> {
        let file = match &global.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        let defaults = scimd_http::HttpConfig::default();
        let flag = |f: fn(&ServeArgs) -> Option<u64>| serve.and_then(f);
        let base_url = serve
            .and_then(|s| s.base_url.clone())
            .or(file.base_url)
            .map(|u| u.trim_end_matches('/').to_owned());
        // The listen address is added once bound (`serve`); here the names the settings give.
        let mut allowed_hosts = scimd_http::AllowedHosts::none();
        if let Some(base) = &base_url {
            let scheme = base.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
            if !matches!(scheme.as_deref(), Some("http" | "https")) {
                return Err(format!("base_url {base:?} must be an http:// or https:// URL"));
            }
            allowed_hosts.allow_url(base)?;
        }
        let extra = match serve.map(|s| &s.allowed_hosts).filter(|h| !h.is_empty()) {
            Some(flags) => flags.clone(),
            None => file.allowed_hosts.unwrap_or_default(),
        };
        for host in &extra {
            allowed_hosts.allow(host.trim()).map_err(|e| format!("allowed host: {e}"))?;
        }
        let http = scimd_http::HttpConfig {
            base_url: base_url.clone(),
            allowed_hosts,
            max_body_bytes: serve
                .and_then(|s| s.max_body_bytes)
                .or(file.max_body_bytes)
                .unwrap_or(defaults.max_body_bytes),
            max_page_size: flag(|s| s.max_page_size).or(file.max_page_size).unwrap_or(defaults.max_page_size),
            default_page_size: flag(|s| s.default_page_size)
                .or(file.default_page_size)
                .unwrap_or(defaults.default_page_size),
            max_patch_operations: serve
                .and_then(|s| s.max_patch_operations)
                .or(file.max_patch_operations)
                .unwrap_or(defaults.max_patch_operations),
            max_attribute_values: serve
                .and_then(|s| s.max_attribute_values)
                .or(file.max_attribute_values)
                .unwrap_or(defaults.max_attribute_values),
            oauth: scimd_http::OAuthConfig {
                access_token_ttl: serve
                    .and_then(|s| s.access_token_ttl)
                    .unwrap_or(defaults.oauth.access_token_ttl),
                ..defaults.oauth.clone()
            },
            refused_rate_limit: defaults.refused_rate_limit,
            dns_server: serve.and_then(|s| s.dns_server),
        };
        // Entra ID's gallery check accepts expires_in between 60 and 360 minutes; other clients
        // may want shorter, but under a minute is a mistake.
        if http.oauth.access_token_ttl < time::Duration::minutes(1)
            || http.oauth.access_token_ttl > time::Duration::days(1)
        {
            return Err(
                "access token lifetime must be between 1 minute and 1 day (Entra ID wants 60-360 minutes)"
                    .into(),
            );
        }
        if http.max_page_size == 0 {
            return Err("max_page_size must be at least 1".into());
        }
        if http.max_patch_operations == 0 || http.max_attribute_values == 0 {
            return Err("max_patch_operations and max_attribute_values must be at least 1".into());
        }
        let http = scimd_http::HttpConfig {
            default_page_size: http.default_page_size.min(http.max_page_size),
            ..http
        };
        let postgres = file.postgres.resolve(|var| std::env::var(var).ok())?;
        let listener_defaults = scimd_http::ListenerConfig::default();
        let std_duration = |d: time::Duration| std::time::Duration::try_from(d).unwrap_or(Duration::MAX);
        let listener = scimd_http::ListenerConfig {
            header_read_timeout: serve
                .and_then(|s| s.header_read_timeout)
                .map_or(listener_defaults.header_read_timeout, std_duration),
            idle_timeout: serve
                .and_then(|s| s.idle_timeout)
                .map_or(listener_defaults.idle_timeout, std_duration),
            max_connections: serve
                .and_then(|s| s.max_connections)
                .unwrap_or(listener_defaults.max_connections),
        };
        if listener.max_connections == 0 {
            return Err("max_connections must be at least 1".into());
        }
        Ok(Settings {
            postgres,
            listener,
            database: global
                .database
                .clone()
                .or(file.database)
                .unwrap_or_else(|| DEFAULT_DATABASE.to_owned()),
            log_format: global.log_format.or(file.log_format).unwrap_or_default(),
            listen: serve
                .and_then(|s| s.listen.clone())
                .or(file.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.to_owned()),
            http,
            // 30 days by default (docs/operations.md).
            log_retention: serve.and_then(|s| s.log_retention).unwrap_or(time::Duration::days(30)),
            // 90 days by default (docs/events.md): three times WorkOS's 30, so that a consumer
            // that was down for weeks catches up from the log instead of re-listing.
            event_retention: serve.and_then(|s| s.event_retention).unwrap_or(time::Duration::days(90)),
            delivery: scimd_events::Settings {
                schedule: serve.and_then(|s| s.webhook_retry_schedule.clone()).unwrap_or_default(),
                allow_private: serve.is_some_and(|s| s.webhook_allow_private),
                concurrency: serve.and_then(|s| s.delivery_concurrency).unwrap_or(64),
                timeout: serve
                    .and_then(|s| s.webhook_timeout)
                    .and_then(|d| std::time::Duration::try_from(d).ok())
                    .unwrap_or(std::time::Duration::from_secs(15)),
                lease: serve.and_then(|s| s.webhook_timeout).map_or(time::Duration::seconds(30), |d| d * 2),
                issuer: base_url.clone().unwrap_or_default(),
                ..scimd_events::Settings::default()
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_settings_environment_over_file_over_defaults() {
        let file: FileConfig = toml::from_str(
            "[postgres]\nmax_connections = 4\nstatement_timeout_ms = 1500\nidle_timeout_ms = 0\n",
        )
        .unwrap();
        let env = |var: &str| (var == "SCIMD_PG_MAX_CONNECTIONS").then(|| "7".to_owned());
        let o = file.postgres.resolve(env).unwrap();
        assert_eq!(o.max_connections, 7, "environment over file");
        assert_eq!(o.statement_timeout, Duration::from_millis(1500), "file over default");
        assert_eq!(o.idle_timeout, None, "0 keeps idle connections");
        assert_eq!(o.acquire_timeout, PgOptions::default().acquire_timeout, "default");

        let bad = |var: &str| (var == "SCIMD_PG_ACQUIRE_TIMEOUT_MS").then(|| "soon".to_owned());
        assert!(file.postgres.resolve(bad).unwrap_err().contains("SCIMD_PG_ACQUIRE_TIMEOUT_MS"));
        let zero: FileConfig = toml::from_str("[postgres]\nmax_connections = 0\n").unwrap();
        assert!(zero.postgres.resolve(|_| None).is_err());
        let typo = toml::from_str::<FileConfig>("[postgres]\nmax_conections = 3\n").unwrap_err();
        assert!(typo.to_string().contains("max_conections"), "{typo}");
    }
}
