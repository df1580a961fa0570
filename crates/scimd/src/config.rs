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
//! log_format = "json"          # or "pretty"
//! max_body_bytes = 1048576
//! max_page_size = 1000
//! default_page_size = 100
//! ```

use std::path::Path;

use serde::Deserialize;

use crate::cli::{GlobalArgs, LogFormat, ServeArgs};

/// The database when nothing names one (DESIGN.md "Contracts").
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
    /// `--log-format`.
    pub log_format: Option<LogFormat>,
    /// `--max-body-bytes`.
    pub max_body_bytes: Option<usize>,
    /// `--max-page-size`.
    pub max_page_size: Option<u64>,
    /// `--default-page-size`.
    pub default_page_size: Option<u64>,
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
        let http = scimd_http::HttpConfig {
            base_url: serve
                .and_then(|s| s.base_url.clone())
                .or(file.base_url)
                .map(|u| u.trim_end_matches('/').to_owned()),
            max_body_bytes: serve
                .and_then(|s| s.max_body_bytes)
                .or(file.max_body_bytes)
                .unwrap_or(defaults.max_body_bytes),
            max_page_size: flag(|s| s.max_page_size).or(file.max_page_size).unwrap_or(defaults.max_page_size),
            default_page_size: flag(|s| s.default_page_size)
                .or(file.default_page_size)
                .unwrap_or(defaults.default_page_size),
            oauth: scimd_http::OAuthConfig {
                access_token_ttl: serve
                    .and_then(|s| s.access_token_ttl)
                    .unwrap_or(defaults.oauth.access_token_ttl),
                ..defaults.oauth.clone()
            },
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
        let http = scimd_http::HttpConfig {
            default_page_size: http.default_page_size.min(http.max_page_size),
            ..http
        };
        Ok(Settings {
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
            // Issue 5: 30 days by default.
            log_retention: serve.and_then(|s| s.log_retention).unwrap_or(time::Duration::days(30)),
        })
    }
}
