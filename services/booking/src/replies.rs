//! Request/reply: the HTTP request that produced a command waits here, by
//! request id, for the outcome the processor commits.
//!
//! The processor completes the waiters of its own instance directly after
//! each commit. A request that landed on another instance (several booking
//! instances behind the gateway) learns its outcome through PostgreSQL: the
//! batch transaction also sends a `NOTIFY` on [`OUTCOMES_CHANNEL`], and every
//! instance that has waiters of its own then reads their outcomes from
//! `command_results`. Notifications are delivered only after the commit, so
//! whatever a waiter reads is decided for good. Earlier versions read all of
//! `booking.events` for this in every instance; on the local broker that one
//! extra reader of every outcome cost about a fifth of the sale's throughput.

use crate::store::queries;
use common_types::messages::booking::BookingOutcome;
use common_types::RequestId;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// The `NOTIFY` channel of committed batches; the payload is the committing
/// instance's [`Replies::instance`], so an instance skips its own batches
/// (their waiters were completed directly).
pub const OUTCOMES_CHANNEL: &str = "booking_outcomes";

#[derive(Clone)]
pub struct Replies {
    instance: Arc<str>,
    waiters: Arc<Mutex<HashMap<RequestId, oneshot::Sender<BookingOutcome>>>>,
}

impl Default for Replies {
    fn default() -> Self {
        Self {
            instance: uuid::Uuid::new_v4().simple().to_string().into(),
            waiters: Arc::default(),
        }
    }
}

impl Replies {
    /// Register before producing the command, so the answer cannot be missed.
    pub fn register(&self, id: RequestId) -> oneshot::Receiver<BookingOutcome> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = self.waiters.lock() {
            w.insert(id, tx);
        }
        rx
    }

    pub fn forget(&self, id: RequestId) {
        if let Ok(mut w) = self.waiters.lock() {
            w.remove(&id);
        }
    }

    /// This process's tag in [`OUTCOMES_CHANNEL`] notifications.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Hand an outcome to the request waiting for it, if it waits here.
    pub fn complete(&self, outcome: BookingOutcome) {
        let Some(id) = outcome.request_id() else {
            return;
        };
        let waiter = self.waiters.lock().ok().and_then(|mut w| w.remove(&id));
        if let Some(tx) = waiter {
            let _ = tx.send(outcome);
        }
    }

    fn waiting(&self) -> Vec<uuid::Uuid> {
        self.waiters
            .lock()
            .map(|w| w.keys().map(|id| id.0).collect())
            .unwrap_or_default()
    }

    /// Start listening; done before the API serves, so no batch committed
    /// after a request registered can go unnoticed.
    pub async fn listener(pool: &PgPool) -> anyhow::Result<PgListener> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(OUTCOMES_CHANNEL).await?;
        Ok(listener)
    }

    pub async fn run(self, mut listener: PgListener, pool: PgPool, shutdown: CancellationToken) {
        loop {
            let received = tokio::select! {
                _ = shutdown.cancelled() => break,
                received = listener.try_recv() => received,
            };
            match received {
                Ok(Some(n)) if n.payload() == &*self.instance => {}
                Ok(Some(_)) => self.catch_up(&pool).await,
                // The connection dropped (the listener reconnects on the next
                // call): what was committed meanwhile sent nothing we saw.
                Ok(None) => self.catch_up(&pool).await,
                Err(e) => {
                    tracing::warn!(error = %e, "outcome notifications unavailable; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }

    /// Complete every local waiter whose outcome is committed.
    async fn catch_up(&self, pool: &PgPool) {
        let waiting = self.waiting();
        if waiting.is_empty() {
            return;
        }
        match queries::command_outcomes(pool, &waiting).await {
            Ok(outcomes) => {
                for value in outcomes {
                    match serde_json::from_value::<BookingOutcome>(value) {
                        Ok(outcome) => self.complete(outcome),
                        Err(e) => {
                            tracing::debug!(error = %e, "skipping an outcome this version cannot read")
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading committed outcomes failed"),
        }
    }
}
