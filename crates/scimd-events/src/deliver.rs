//! The delivery worker: takes deliveries from the store's outbox ([`scimd_store::delivery`]) and
//! sends them — Standard Webhooks, RFC 8935 SET pushes, NATS JetStream publishes — then records
//! how each attempt ended.
//!
//! The state lives in the database, not here: a worker that is killed loses at most the answers
//! to its in-flight attempts, whose leases expire and are claimed again (by this process after a
//! restart, or by another replica), with the same event id. So delivery is at least once, and a
//! receiver deduplicates by `webhook-id` (or JetStream by `Nats-Msg-Id`).
//!
//! One loop per process: fan out the log into deliveries, claim as many heads of queues as there
//! are free slots (`concurrency`), send each in its own task, and sleep until a commit of this
//! process, a finished attempt, the next retry's time or the poll interval (which is how writes of
//! other replicas are noticed) — whichever comes first.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use serde_json::{Value, json};
use tokio::sync::{Mutex, Notify, Semaphore};

use scimd_oauth::keys::KeyRing;
use scimd_store::delivery::{Claimed, Outcome, Transport, WebhookFormat};
use scimd_store::{Clock, Store};

use crate::error::EventsError;
use crate::schedule::{RetrySchedule, retry_after};
use crate::set::{self, Mode, PushError};
use crate::signature::{self, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, WebhookSecret};
use crate::ssrf::{GuardedResolver, check_url};

/// How the worker behaves; the defaults are the documented ones (docs/events.md, "Delivery").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// When failed attempts are retried.
    pub schedule: RetrySchedule,
    /// Let webhooks reach loopback and private addresses (tests, and receivers on the same host).
    pub allow_private: bool,
    /// Attempts in flight at once, every endpoint together.
    pub concurrency: usize,
    /// Standard Webhooks 1.0, "Delivery success and failure": a receiver that has not answered
    /// within this is a failure (the specification's 15 s).
    pub timeout: Duration,
    /// How long a claim holds a delivery: longer than any attempt can take (twice `timeout`), so
    /// that only a dead worker's claims expire.
    pub lease: time::Duration,
    /// An endpoint failing this long without a success is disabled (Standard Webhooks 1.0,
    /// "Disabling endpoints": five days).
    pub disable_after: time::Duration,
    /// How often the outbox is looked at without a local wake-up (other replicas' writes).
    pub poll: Duration,
    /// The SETs' `iss` (RFC 8417 §2.2): the server's base URL.
    pub issuer: String,
    /// Delivered rows are deleted this long after delivery.
    pub keep_delivered: time::Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            schedule: RetrySchedule::default(),
            allow_private: false,
            concurrency: 64,
            timeout: Duration::from_secs(15),
            lease: time::Duration::seconds(30),
            disable_after: time::Duration::days(5),
            poll: Duration::from_secs(1),
            issuer: String::new(),
            keep_delivered: time::Duration::days(7),
        }
    }
}

/// Events fanned out per endpoint per round.
const FAN_OUT: u32 = 1000;

/// How long a commit's wake-up waits for more commits before the round it starts.
const GATHER: Duration = Duration::from_millis(5);

/// What the worker counts, registered in the server's registry (`/metrics`).
#[derive(Clone, Debug)]
pub struct DeliveryMetrics {
    attempts: IntCounterVec,
    latency: HistogramVec,
}

impl DeliveryMetrics {
    /// The instruments, registered in `registry`.
    ///
    /// # Errors
    /// When `registry` already has instruments of these names.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let attempts = IntCounterVec::new(
            Opts::new(
                "scimd_delivery_attempts_total",
                "Delivery attempts by transport and result (delivered, retry, dead, disabled).",
            ),
            &["transport", "result"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "scimd_delivery_latency_seconds",
                "From an event's commit to its receiver's acknowledgement, by transport.",
            )
            .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 300.0, 3600.0, 86400.0]),
            &["transport"],
        )?;
        registry.register(Box::new(attempts.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        Ok(Self { attempts, latency })
    }

    fn record(&self, transport: &str, outcome: &Outcome, latency: Option<f64>) {
        let result = match outcome {
            Outcome::Delivered { .. } => "delivered",
            Outcome::Retry { .. } => "retry",
            Outcome::Dead { .. } => "dead",
            Outcome::Disable { .. } => "disabled",
        };
        self.attempts.with_label_values(&[transport, result]).inc();
        if let (Outcome::Delivered { .. }, Some(s)) = (outcome, latency) {
            self.latency.with_label_values(&[transport]).observe(s);
        }
    }
}

/// The worker. Start it with [`Deliverer::run`].
pub struct Deliverer {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    keys: Arc<KeyRing>,
    http: reqwest::Client,
    nats: Mutex<HashMap<String, async_nats::jetstream::Context>>,
    settings: Settings,
    metrics: Option<DeliveryMetrics>,
    finished: Notify,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer").field("settings", &self.settings).finish_non_exhaustive()
    }
}

/// What one attempt learned, before it becomes an [`Outcome`].
enum Attempt {
    Ok(Option<u16>),
    /// Failed; may be retried (with the receiver's `Retry-After`, if any).
    Failed {
        status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
    },
    /// Failed in a way retrying cannot fix.
    Permanent {
        status: Option<u16>,
        error: String,
    },
    /// Standard Webhooks 1.0: 410 Gone disables the endpoint.
    Gone,
}

impl Deliverer {
    /// A worker over `store`, signing SETs with `keys` (the authorization server's, so that its
    /// JWKS holds every key a SET is signed with). The HTTP client follows no redirects (a redirect could lead past
    /// the address guard, which only sees the first host) and resolves names through
    /// [`GuardedResolver`].
    ///
    /// # Errors
    /// When the HTTP client cannot be built (no TLS roots).
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        keys: Arc<KeyRing>,
        settings: Settings,
        metrics: Option<DeliveryMetrics>,
    ) -> Result<Self, EventsError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .dns_resolver(Arc::new(GuardedResolver::new(settings.allow_private)))
            .user_agent(concat!("scimd/", env!("CARGO_PKG_VERSION"), " (webhooks)"))
            .build()
            .map_err(|e| EventsError::Transport(format!("building the HTTP client: {e}")))?;
        Ok(Self {
            store,
            clock,
            keys,
            http,
            nats: Mutex::new(HashMap::new()),
            settings,
            metrics,
            finished: Notify::new(),
        })
    }

    /// Runs until `closing` resolves: in-flight attempts are then left to their leases.
    pub async fn run(self: Arc<Self>, closing: impl std::future::Future<Output = ()>) {
        let slots = Arc::new(Semaphore::new(self.settings.concurrency.max(1)));
        let mut closing = std::pin::pin!(closing);
        let mut last_prune = self.clock.now();
        loop {
            let now = self.clock.now();
            if let Err(e) = self.store.fan_out(now, FAN_OUT).await {
                tracing::warn!(error = %e, "fanning out events to their endpoints failed; retrying");
            }
            let free = slots.available_permits();
            let mut claimed = 0;
            // Claiming takes SQLite's writer: only when the earliest head is due.
            let due = match self.store.next_due(now).await {
                Ok(next) => next.is_some_and(|at| at <= now),
                Err(e) => {
                    tracing::warn!(error = %e, "reading the delivery outbox failed; retrying");
                    false
                }
            };
            if free > 0 && due {
                let limit = u32::try_from(free).unwrap_or(u32::MAX);
                match self.store.claim(now, self.settings.lease, limit).await {
                    Ok(batch) => {
                        claimed = batch.len();
                        for c in batch {
                            let Ok(permit) = slots.clone().acquire_owned().await else { break };
                            let me = self.clone();
                            tokio::spawn(async move {
                                me.deliver(c).await;
                                drop(permit);
                                me.finished.notify_one();
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "claiming deliveries failed; retrying"),
                }
            }
            if now - last_prune > time::Duration::minutes(1) {
                last_prune = now;
                if let Err(e) = self.store.prune_deliveries(now - self.settings.keep_delivered, 1000).await {
                    tracing::warn!(error = %e, "pruning delivered deliveries failed");
                }
            }
            // Slots filled to the brim: there may be more due at once.
            if free > 0 && claimed == free {
                continue;
            }
            let wait = if slots.available_permits() == 0 {
                self.settings.poll
            } else {
                match self.store.next_due(self.clock.now()).await {
                    Ok(Some(at)) => {
                        let ms = (at - self.clock.now()).whole_milliseconds().max(0);
                        // Never spin: a due delivery that was not claimed (another replica holds
                        // it this instant) is looked at again shortly.
                        Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX).max(20))
                            .min(self.settings.poll)
                    }
                    _ => self.settings.poll,
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.store.event_signal().any_committed() => {
                    // Commits come thousands a second under load: gathering them for a few
                    // milliseconds makes one round of the many, at a latency no receiver notices.
                    tokio::time::sleep(GATHER).await;
                }
                () = self.finished.notified() => {
                    // Attempts finish one by one: a moment gathers several free slots into one
                    // claim, instead of a claim (a write) per finished attempt.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                () = &mut closing => return,
            }
        }
    }

    fn random_unit(&self) -> f64 {
        let mut b = [0u8; 4];
        self.clock.random_bytes(&mut b);
        f64::from(u32::from_le_bytes(b)) / (f64::from(u32::MAX) + 1.0)
    }

    /// One attempt of one delivery, recorded.
    async fn deliver(&self, c: Claimed) {
        let transport = match c.endpoint.transport {
            Transport::Webhook { .. } => "webhook",
            Transport::Nats { .. } => "nats",
        };
        let attempt = match &c.body {
            None => Attempt::Permanent {
                status: None,
                error: "the event was pruned by retention before it could be delivered".into(),
            },
            Some(body) => match &c.endpoint.transport {
                Transport::Webhook { url, format, audience } => {
                    self.webhook(&c, body, url, *format, audience.as_deref()).await
                }
                Transport::Nats { url, subject } => self.publish(&c, body, url, subject).await,
            },
        };
        let now = self.clock.now();
        let outcome = match attempt {
            Attempt::Ok(status) => Outcome::Delivered { status },
            Attempt::Gone => Outcome::Disable {
                status: Some(410),
                error: "the receiver answered 410 Gone (Standard Webhooks 1.0: the endpoint is disabled)"
                    .into(),
            },
            Attempt::Permanent { status, error } => Outcome::Dead { status, error },
            Attempt::Failed { status, error, retry_after } => {
                let retry = usize::try_from(c.attempts).unwrap_or(usize::MAX);
                match self.settings.schedule.next(retry, self.random_unit(), retry_after) {
                    Some(delay) => Outcome::Retry {
                        at: now + time::Duration::try_from(delay).unwrap_or(time::Duration::DAY),
                        status,
                        error,
                    },
                    None => Outcome::Dead { status, error: format!("{error} (the last retry)") },
                }
            }
        };
        match &outcome {
            Outcome::Delivered { .. } => {
                tracing::debug!(delivery = %c.id, event = %c.event_id, "delivered");
            }
            other => {
                tracing::info!(delivery = %c.id, event = %c.event_id, outcome = ?other, "delivery attempt failed")
            }
        }
        if let Some(m) = &self.metrics {
            m.record(transport, &outcome, c.occurred_at.map(|t| (now - t).as_seconds_f64()));
        }
        if let Err(e) = self.store.complete(c.id, now, outcome, self.settings.disable_after).await {
            // The lease expires and the attempt is made again: at least once, not lost.
            tracing::warn!(delivery = %c.id, error = %e, "recording a delivery attempt failed");
        }
    }

    async fn webhook(
        &self,
        c: &Claimed,
        body: &str,
        url: &str,
        format: WebhookFormat,
        audience: Option<&str>,
    ) -> Attempt {
        let parsed = match url::Url::parse(url) {
            Ok(u) => u,
            Err(e) => {
                return Attempt::Permanent { status: None, error: format!("the URL does not parse: {e}") };
            }
        };
        // The literal-address half of the guard: reqwest does not resolve an IP literal, so the
        // resolver never sees it. Checked at every attempt, as the resolver is.
        if let Err(e) = check_url(&parsed, self.settings.allow_private) {
            return Attempt::Failed { status: None, error: e.to_string(), retry_after: None };
        }
        let now = self.clock.now().unix_timestamp();
        let request = match format {
            WebhookFormat::Standard => {
                let secrets: Vec<WebhookSecret> = c
                    .endpoint
                    .signing_secrets(self.clock.now())
                    .into_iter()
                    .filter_map(|s| WebhookSecret::parse(s.expose()).ok())
                    .collect();
                if secrets.is_empty() {
                    return Attempt::Permanent {
                        status: None,
                        error: "the endpoint has no signing secret".into(),
                    };
                }
                let refs: Vec<&WebhookSecret> = secrets.iter().collect();
                // Standard Webhooks 1.0, "Signature scheme": the id is the event's, stable across
                // retries, so a receiver deduplicates by it.
                let signature = signature::sign(&c.event_id, now, body.as_bytes(), &refs);
                self.http
                    .post(parsed)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header(HEADER_ID, &c.event_id)
                    .header(HEADER_TIMESTAMP, now.to_string())
                    .header(HEADER_SIGNATURE, signature)
                    .body(body.to_owned())
            }
            WebhookFormat::Set => {
                let token = match self.set_token(c, body, url, audience, now).await {
                    Ok(t) => t,
                    Err(e) => return Attempt::Permanent { status: None, error: e },
                };
                // RFC 8935 §2.1: the SET is the body, `application/secevent+jwt`.
                self.http
                    .post(parsed)
                    .header(reqwest::header::CONTENT_TYPE, set::CONTENT_TYPE)
                    .header(reqwest::header::ACCEPT, set::ACCEPT)
                    .body(token)
            }
        };
        let resp = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                let what = if e.is_timeout() { "no answer within the timeout" } else { "the request failed" };
                return Attempt::Failed {
                    status: None,
                    error: format!("{what}: {}", redact(e)),
                    retry_after: None,
                };
            }
        };
        let status = resp.status().as_u16();
        if resp.status().is_success() {
            return Attempt::Ok(Some(status));
        }
        if status == 410 {
            return Attempt::Gone;
        }
        // Standard Webhooks 1.0: `Retry-After` on 429 and 503 is honoured (capped).
        let retry_after = if status == 429 || status == 503 {
            resp.headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| retry_after(v, now))
        } else {
            None
        };
        // Only the start of a body is read: a receiver cannot make the worker hold megabytes.
        let text = read_prefix(resp, 512).await;
        if format == WebhookFormat::Set && status == 400 {
            // RFC 8935 §2.3: a 400 with an error code says the SET was refused; sending the same
            // SET again gets the same answer.
            if let Some(err) = PushError::parse(text.as_bytes()) {
                let detail = err.description.map(|d| format!(": {d}")).unwrap_or_default();
                return Attempt::Permanent {
                    status: Some(status),
                    error: format!("SET refused ({}){detail}", err.err),
                };
            }
        }
        Attempt::Failed {
            status: Some(status),
            error: format!("the receiver answered {status}"),
            retry_after,
        }
    }

    /// The SET of one delivery (RFC 9967), signed with the server's current key.
    async fn set_token(
        &self,
        c: &Claimed,
        body: &str,
        url: &str,
        audience: Option<&str>,
        now: i64,
    ) -> Result<String, String> {
        let event: Value = serde_json::from_str(body).map_err(|e| format!("the event is not JSON: {e}"))?;
        // RFC 8417 §2.2: `aud` names the receiver; its URL when none was configured.
        let aud = audience.unwrap_or(url);
        let claims = if c.event_type == crate::filter::PING {
            ping_claims(&event, &self.settings.issuer, aud, now)
        } else {
            let tenant = event.get("tenant").and_then(Value::as_str).unwrap_or_default();
            let scim_base =
                format!("{}/tenants/{tenant}/scim/v2", self.settings.issuer.trim_end_matches('/'));
            set::set_claims(&event, &self.settings.issuer, aud, &scim_base, Mode::Full, now)
                .map_err(|e| e.to_string())?
        };
        let (kid, key) = self.keys.signing_key().await.map_err(|e| format!("no signing key: {e}"))?;
        set::sign_set(&claims, &kid, &key).map_err(|e| e.to_string())
    }

    /// Publishes to JetStream and waits for the stream's acknowledgement: a publish without one
    /// is not delivered. `Nats-Msg-Id` is the event id, so JetStream's duplicate window drops a
    /// repeat of an attempt whose acknowledgement was lost.
    async fn publish(&self, c: &Claimed, body: &str, url: &str, template: &str) -> Attempt {
        let tenant = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v.get("tenant").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default();
        let subject = template.replace("{tenant}", &tenant).replace("{type}", &c.event_type);
        let js = match self.jetstream(url).await {
            Ok(js) => js,
            Err(error) => return Attempt::Failed { status: None, error, retry_after: None },
        };
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, c.event_id.as_str());
        let ack = match js.publish_with_headers(subject.clone(), headers, body.to_owned().into()).await {
            Ok(ack) => ack,
            Err(e) => {
                self.nats.lock().await.remove(url);
                return Attempt::Failed {
                    status: None,
                    error: format!("publishing to {subject}: {e}"),
                    retry_after: None,
                };
            }
        };
        match tokio::time::timeout(self.settings.timeout, ack).await {
            Ok(Ok(_)) => Attempt::Ok(None),
            Ok(Err(e)) => Attempt::Failed {
                status: None,
                error: format!("no JetStream acknowledgement for {subject}: {e}"),
                retry_after: None,
            },
            Err(_) => Attempt::Failed {
                status: None,
                error: format!("no JetStream acknowledgement for {subject} within the timeout"),
                retry_after: None,
            },
        }
    }

    /// The JetStream context for `url`, connecting on first use.
    async fn jetstream(&self, url: &str) -> Result<async_nats::jetstream::Context, String> {
        let mut conns = self.nats.lock().await;
        if let Some(js) = conns.get(url) {
            return Ok(js.clone());
        }
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(self.settings.timeout)
            .connect(url)
            .await
            .map_err(|e| format!("connecting to NATS at {url}: {e}"))?;
        let js = async_nats::jetstream::new(client);
        conns.insert(url.to_owned(), js.clone());
        Ok(js)
    }
}

/// The SET of a `test` ping: the OpenID Shared Signals Framework's verification event, the one
/// event type whose purpose is to check that a receiver gets and verifies SETs.
fn ping_claims(ping: &Value, issuer: &str, audience: &str, now: i64) -> Value {
    json!({
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "jti": ping.get("id").cloned().unwrap_or(Value::Null),
        "events": {
            "https://schemas.openid.net/secevent/ssf/event-type/verification": {
                "state": ping.get("id").cloned().unwrap_or(Value::Null)
            }
        }
    })
}

/// An HTTP error without the URL's query (which may carry a receiver's token).
fn redact(e: reqwest::Error) -> String {
    let source = std::error::Error::source(&e).map(|s| format!(": {s}")).unwrap_or_default();
    format!("{}{source}", e.without_url())
}

async fn read_prefix(mut resp: reqwest::Response, max: usize) -> String {
    let mut buf = Vec::new();
    while buf.len() < max {
        match resp.chunk().await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            _ => break,
        }
    }
    buf.truncate(max);
    String::from_utf8_lossy(&buf).into_owned()
}
