//! Test support: the real scimd server (the real router, the real store) on `127.0.0.1:0` against
//! a fresh database, and an HTTP client that speaks to it.
//!
//! One fresh database per [`TestServer`], so tests never see each other's data and can run in
//! parallel. The backend is a parameter ([`Backend`]) so the same suite runs against PostgreSQL
//! when that store exists. Panicking on setup failure is intended: this crate only runs in tests.
#![warn(missing_docs)]
#![expect(clippy::expect_used, clippy::panic, reason = "test support: a failed setup is a failed test")]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use scimd_http::auth::{TokenRequest, create_static_token};
use scimd_http::{AppState, HttpConfig, Scopes};
use scimd_store::{Clock, Store, SystemClock, Tenant};
use scimd_store_postgres::{PgOptions, PgStore};
use scimd_store_sqlite::SqliteStore;

pub mod dns;
pub mod pg;
pub mod tables;

/// The storage backend a test server runs on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// A SQLite file in a temporary directory.
    #[default]
    Sqlite,
    /// A fresh database on the PostgreSQL server `SCIMD_TEST_POSTGRES_URL` names ([`pg`]), dropped
    /// with the server.
    Postgres,
}

impl Backend {
    /// Every backend, for tests that loop over them.
    pub const ALL: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

    /// Whether a test can run on this backend here; prints a skip message when it cannot
    /// (PostgreSQL without `SCIMD_TEST_POSTGRES_URL`).
    #[must_use]
    pub fn available_or_skip(self, test: &str) -> bool {
        match self {
            Backend::Sqlite => true,
            Backend::Postgres => pg::available_or_skip(test),
        }
    }
}

/// Generates one test per backend from an async test body taking a [`Backend`]: for
/// `async fn name(backend) { … }` it writes a module `name` with the tests `sqlite` and `postgres`
/// (which prints a skip message and passes without `SCIMD_TEST_POSTGRES_URL`). The shared suite is
/// written once and runs against every store.
///
/// ```ignore
/// scimd_testkit::backend_tests! {
///     async fn creates_users(backend) {
///         let s = TestServer::start_with(backend).await;
///         assert_eq!(s.get("/scim/v2/Users").await.status, 200);
///     }
/// }
/// ```
#[macro_export]
macro_rules! backend_tests {
    ($( $(#[$attr:meta])* async fn $name:ident($backend:ident) $body:block )+) => {
        $(
            $(#[$attr])*
            mod $name {
                #[allow(unused_imports, reason = "the test body is written in the parent module's scope")]
                use super::*;

                async fn body($backend: $crate::Backend) $body

                #[tokio::test]
                async fn sqlite() {
                    body($crate::Backend::Sqlite).await;
                }

                #[tokio::test]
                async fn postgres() {
                    if $crate::Backend::Postgres.available_or_skip(module_path!()) {
                        body($crate::Backend::Postgres).await;
                    }
                }
            }
        )+
    };
}

/// How to start a [`TestServer`].
pub struct Options {
    /// The storage backend.
    pub backend: Backend,
    /// HTTP settings (e.g. a small `max_body_bytes` for limit tests).
    pub config: HttpConfig,
    /// The clock (a `MockClock` to pin times); the system clock by default.
    pub clock: Arc<dyn Clock>,
    /// Extra routes merged into the SCIM router (see [`scimd_http::router_with`]).
    pub extra_routes: Router<AppState>,
    /// Routes mounted beside SCIM's, as the binary mounts the console (see
    /// [`scimd_http::router_mounting`]).
    pub pages: Router<AppState>,
    /// The listener's timeouts and connection cap (short ones for timeout tests).
    pub listener: scimd_http::ListenerConfig,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            backend: Backend::Sqlite,
            config: HttpConfig::default(),
            clock: Arc::new(SystemClock),
            extra_routes: Router::new(),
            pages: Router::new(),
            listener: scimd_http::ListenerConfig::default(),
        }
    }
}

/// The backend's own handle, for what the `Store` trait does not offer (closing it).
enum Db {
    Sqlite(SqliteStore),
    Postgres(PgStore, pg::TestDatabase),
}

/// A response, read whole.
#[derive(Debug)]
pub struct TestResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body parsed as JSON; `Value::Null` when empty, `Value::String` when not JSON.
    pub body: Value,
}

impl TestResponse {
    /// A header as text.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A running server and a client for it.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// A token with every SCIM scope for tenant `default`.
    pub token: String,
    /// Tenant `default`.
    pub tenant: Tenant,
    /// A client (no TLS, no proxy).
    pub client: reqwest::Client,
    /// The store the server uses, for fixtures and checks beside the HTTP surface.
    pub store: Arc<dyn Store>,
    /// The clock the server uses.
    pub clock: Arc<dyn Clock>,
    /// The address listened on.
    pub addr: SocketAddr,
    db: Db,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// A server on SQLite with default settings.
    pub async fn start() -> TestServer {
        Self::start_with(Backend::Sqlite).await
    }

    /// A server on `backend` with default settings.
    pub async fn start_with(backend: Backend) -> TestServer {
        Self::start_opts(Options { backend, ..Options::default() }).await
    }

    /// A server as `options` say.
    pub async fn start_opts(options: Options) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, db): (Arc<dyn Store>, Db) = match options.backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("scimd.db").display());
                let store = SqliteStore::open(&url, options.clock.clone()).await.expect("open SQLite");
                store.migrate().await.expect("migrate SQLite");
                (Arc::new(store.clone()), Db::Sqlite(store))
            }
            Backend::Postgres => {
                let db = pg::TestDatabase::create().await;
                // Short waits, so tests that take the database away see 503 quickly.
                let pg_options =
                    PgOptions { acquire_timeout: std::time::Duration::from_secs(2), ..PgOptions::default() };
                let store =
                    PgStore::open(&db.url, &pg_options, options.clock.clone()).expect("open PostgreSQL");
                store.migrate().await.expect("migrate PostgreSQL");
                (Arc::new(store.clone()), Db::Postgres(store, db))
            }
        };
        let tenant = store.create_tenant("default").await.expect("create tenant default");
        // The provisioning log where `serve` keeps it: a file beside a SQLite database, the `log`
        // table of a PostgreSQL one.
        let log: Arc<dyn scimd_store::LogStore> = match &db {
            Db::Sqlite(_) => {
                let log_db = format!("sqlite://{}", dir.path().join("scimd-log.db").display());
                Arc::new(
                    scimd_store_sqlite::SqliteLogStore::open(&log_db)
                        .await
                        .expect("open the provisioning log"),
                )
            }
            Db::Postgres(_, database) => Arc::new(
                scimd_store_postgres::PgLogStore::open(&database.url, &PgOptions::default())
                    .expect("open the provisioning log"),
            ),
        };
        let state = AppState::new(store.clone(), options.clock.clone(), options.config)
            .with_log(log, time::Duration::days(30));
        let (secret, _) = create_static_token(
            &*store,
            &*options.clock,
            &tenant,
            TokenRequest { name: "testkit".into(), scopes: Scopes::all(), expires: None, operator: false },
        )
        .await
        .expect("create token");

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let app = scimd_http::router_mounting(state, options.extra_routes, options.pages);
        let (tx, rx) = oneshot::channel::<()>();
        // The binary's listener, so its timeouts and cap are what tests see.
        let limits = options.listener;
        let task = tokio::spawn(async move {
            scimd_http::listener::serve(listener, app, limits, async {
                let _ = rx.await;
            })
            .await
        });
        TestServer {
            base_url: format!("http://{addr}"),
            token: secret.expose().to_owned(),
            tenant,
            client: reqwest::Client::builder().no_proxy().build().expect("reqwest client"),
            store,
            clock: options.clock,
            addr,
            db,
            shutdown: Some(tx),
            task: Some(task),
            _dir: dir,
        }
    }

    /// A new token for tenant `default` with exactly these scope names (aliases allowed; none =
    /// every SCIM scope, as `scimd token create` does).
    pub async fn token(&self, scopes: &[&str]) -> String {
        let scopes = if scopes.is_empty() {
            Scopes::all()
        } else {
            Scopes::parse(scopes.iter().copied()).expect("known scopes")
        };
        self.token_for(&self.tenant, scopes, false).await
    }

    /// A new token for any tenant.
    pub async fn token_for(&self, tenant: &Tenant, scopes: Scopes, operator: bool) -> String {
        let (secret, _) = create_static_token(
            &*self.store,
            &*self.clock,
            tenant,
            TokenRequest { name: "testkit".into(), scopes, expires: None, operator },
        )
        .await
        .expect("create token");
        secret.expose().to_owned()
    }

    /// The URL of a path (`/scim/v2/Users`).
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// A request with the default token; send it with [`TestServer::send`].
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(&self.token)
    }

    /// Sends a request and reads the whole response.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> TestResponse {
        let resp = request.send().await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("response body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        TestResponse { status, headers, body }
    }

    fn with_json(&self, method: Method, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.request(method, path).header(CONTENT_TYPE, "application/scim+json").body(body.to_string())
    }

    /// `GET path` with the default token.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(self.request(Method::GET, path)).await
    }

    /// `POST path` with a SCIM JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> TestResponse {
        self.send(self.with_json(Method::POST, path, body)).await
    }

    /// `PUT path` with a SCIM JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> TestResponse {
        self.send(self.with_json(Method::PUT, path, body)).await
    }

    /// `PATCH path` with a SCIM JSON body.
    pub async fn patch(&self, path: &str, body: &Value) -> TestResponse {
        self.send(self.with_json(Method::PATCH, path, body)).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> TestResponse {
        self.send(self.request(Method::DELETE, path)).await
    }

    /// Closes the database under the running server, so the store answers `Unavailable` (for
    /// readiness and 503 tests).
    pub async fn close_database(&self) {
        match &self.db {
            Db::Sqlite(store) => store.close().await,
            Db::Postgres(store, _) => store.close().await,
        }
    }

    /// The temporary directory of the server's SQLite files (`scimd.db`, `scimd-log.db` and their
    /// `-wal` / `-shm` companions); empty on PostgreSQL. For checks that read every byte at rest.
    #[must_use]
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// A user's stored password hash (RFC 7643 §4.1.1 `password` is returned never, so no API and
    /// no `Store` method reads it back), read from the database directly.
    pub async fn user_password_hash(&self, id: &str) -> Option<String> {
        const SQL: &str = "SELECT password_hash FROM resources WHERE tenant_id = $1 AND id = $2";
        let tenant = self.tenant.id.to_string();
        match &self.db {
            Db::Sqlite(_) => {
                let url = format!("sqlite://{}?mode=ro", self._dir.path().join("scimd.db").display());
                let pool = sqlx::SqlitePool::connect(&url).await.expect("open SQLite read-only");
                let hash: Option<Option<String>> = sqlx::query_scalar(SQL)
                    .bind(&tenant)
                    .bind(id)
                    .fetch_optional(&pool)
                    .await
                    .expect("read password_hash");
                pool.close().await;
                hash.flatten()
            }
            Db::Postgres(_, database) => {
                let pool = sqlx::PgPool::connect(&database.url).await.expect("connect PostgreSQL");
                let hash: Option<Option<String>> = sqlx::query_scalar(SQL)
                    .bind(&tenant)
                    .bind(id)
                    .fetch_optional(&pool)
                    .await
                    .expect("read password_hash");
                pool.close().await;
                hash.flatten()
            }
        }
    }

    /// The backend the server runs on.
    #[must_use]
    pub fn backend(&self) -> Backend {
        match &self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(..) => Backend::Postgres,
        }
    }

    /// The PostgreSQL database under the server, for tests that take it away and give it back.
    #[must_use]
    pub fn postgres(&self) -> Option<(&PgStore, &pg::TestDatabase)> {
        match &self.db {
            Db::Postgres(store, db) => Some((store, db)),
            Db::Sqlite(_) => None,
        }
    }

    /// Asks the server to shut down gracefully (in-flight requests finish) without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Shuts down gracefully and waits until the server has stopped.
    pub async fn shutdown(mut self) {
        self.begin_shutdown();
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => panic!("server failed: {e}"),
                Err(e) => panic!("server task failed: {e}"),
            }
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Whether the server closes `stream` (end of stream, or a reset) within `within`, reading and
/// discarding whatever it sends first: for the listener's timeouts. A bound against a hang, not a
/// timing assertion.
pub async fn closed_by_server(stream: &mut tokio::net::TcpStream, within: std::time::Duration) -> bool {
    use tokio::io::AsyncReadExt as _;
    let mut buf = [0u8; 256];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}
