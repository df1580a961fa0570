//! Event numbers given after the commit (migration 0009 says why and what a reader can rely on).
//!
//! A write commits its events with placeholder numbers ([`PLACEHOLDER`]) and then waits in
//! [`Sequencer::settle`] for them to be numbered, so that when its response leaves, its events
//! are in the log with their final numbers, as on SQLite. The numbering is per tenant and batched
//! as a group commit is: while one numbering transaction of a tenant runs, the writes that commit
//! meanwhile queue and the next transaction numbers all of them. Tenants are numbered
//! independently, so one tenant's burst never delays another's writes.
//!
//! A process that stops between a write's commit and its numbering leaves placeholders; every
//! replica's [`number_stranded`] numbers them within a second (scimd-http's events task).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sqlx::PgPool;
use tokio::sync::oneshot;
use uuid::Uuid;

use scimd_store::events::Appended;
use scimd_store::{EventSignal, Result, StoreError};

use crate::map_err;

/// Placeholders numbered per transaction at most: a PUT of 100,000 members numbers in a few
/// transactions of bounded size, so no transaction holds the tenant's head for long.
const BATCH: i64 = 10_000;

/// Each event's placeholder, as the write's `INSERT` computes it: the negated next value of the
/// `event_placeholders` sequence. PostgreSQL evaluates a multi-row `VALUES` row by row in order,
/// so a write's placeholders go down in its events' order, and the first is numbered first
/// ([`number`] goes up from the placeholder nearest zero). A sequence never blocks: writers of one
/// tenant on every replica take theirs at once.
pub(crate) const PLACEHOLDER: &str = "-nextval('event_placeholders')";

/// Numbers `tenant`'s placeholders, at most [`BATCH`] per transaction (`number_events`, migration
/// 0009: one round trip each); returns how many.
pub(crate) async fn number(pool: &PgPool, tenant: Uuid) -> Result<u64> {
    let tenant = tenant.to_string();
    let mut total = 0;
    loop {
        let numbered: i64 = sqlx::query_scalar("SELECT number_events($1, $2)")
            .bind(&tenant)
            .bind(BATCH)
            .fetch_one(pool)
            .await
            .map_err(map_err)?;
        total += u64::try_from(numbered).unwrap_or_default();
        if numbered < BATCH {
            return Ok(total);
        }
    }
}

/// Numbers every tenant's placeholders that wait longer than a numbering takes: what a process
/// committed and did not number because it stopped in between. Returns how many it numbered.
pub(crate) async fn number_stranded(pool: &PgPool) -> Result<u64> {
    let tenants: Vec<String> = sqlx::query_scalar("SELECT DISTINCT tenant_id FROM events WHERE seq < 0")
        .fetch_all(pool)
        .await
        .map_err(map_err)?;
    let mut total = 0;
    for t in tenants {
        let tenant =
            Uuid::parse_str(&t).map_err(|e| StoreError::Internal(format!("tenant id {t:?}: {e}")))?;
        total += number(pool, tenant).await?;
    }
    Ok(total)
}

/// The writes of one tenant waiting for their events to be numbered.
#[derive(Default)]
struct Queue {
    /// Each waiting write's reply.
    waiting: Vec<oneshot::Sender<std::result::Result<(), String>>>,
    /// What they appended, for the signal once numbered.
    appended: Appended,
}

/// Numbers this process's writes after their commits, tenant by tenant (see the module).
#[derive(Debug)]
pub(crate) struct Sequencer {
    pool: PgPool,
    signal: Arc<EventSignal>,
    /// The tenants with a numbering task running, and the writes waiting for its next round.
    tenants: Mutex<HashMap<Uuid, Queue>>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").field("waiting", &self.waiting.len()).finish_non_exhaustive()
    }
}

impl Sequencer {
    pub(crate) fn new(pool: PgPool, signal: Arc<EventSignal>) -> Self {
        Self { pool, signal, tenants: Mutex::default() }
    }

    /// Called after a write of `tenant` that appended `appended` committed: returns once its
    /// events are numbered, and wakes the tenant's readers then.
    ///
    /// # Errors
    /// The numbering failed (the database went away after the commit). The write itself stands
    /// and its events are numbered by the next write of the tenant or by [`number_stranded`].
    pub(crate) async fn settle(self: &Arc<Self>, tenant: Uuid, appended: &Appended) -> Result<()> {
        let (reply, done) = oneshot::channel();
        let start = {
            let mut tenants =
                self.tenants.lock().map_err(|_| StoreError::Internal("sequencer lock".into()))?;
            let start = !tenants.contains_key(&tenant);
            let queue = tenants.entry(tenant).or_default();
            queue.waiting.push(reply);
            queue.appended.merge(appended);
            start
        };
        if start {
            // Spawned: the round finishes even if the request that started it is cancelled.
            tokio::spawn(Arc::clone(self).run(tenant));
        }
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Unavailable(e)),
            Err(_) => Err(StoreError::Internal("the event numbering task ended".into())),
        }
    }

    /// Rounds for `tenant` until no write waits: each takes the writes queued so far (all
    /// committed before the round starts) and numbers every placeholder of the tenant.
    async fn run(self: Arc<Self>, tenant: Uuid) {
        // Removes the tenant's entry if this task ends any other way than by finding its queue
        // empty (a panic): the waiting writes are answered (their senders dropped) and the next
        // write starts a new task instead of queueing behind none.
        struct Leave<'a>(&'a Sequencer, Uuid, bool);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                if !self.2
                    && let Ok(mut tenants) = self.0.tenants.lock()
                {
                    tenants.remove(&self.1);
                }
            }
        }
        let mut leave = Leave(&self, tenant, false);
        loop {
            let queue = {
                let Ok(mut tenants) = self.tenants.lock() else { return };
                match tenants.get_mut(&tenant) {
                    Some(q) if !q.waiting.is_empty() => std::mem::take(q),
                    _ => {
                        tenants.remove(&tenant);
                        leave.2 = true;
                        return;
                    }
                }
            };
            let outcome = number(&self.pool, tenant).await.map(|_| ()).map_err(|e| e.to_string());
            // Counted and signalled either way: the events are committed, and a reader woken
            // before they are numbered only reads again.
            self.signal.committed(tenant, &queue.appended);
            for w in queue.waiting {
                // A write whose request was cancelled no longer listens.
                let _ = w.send(outcome.clone());
            }
        }
    }
}
