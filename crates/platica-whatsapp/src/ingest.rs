//! Group commit for webhook ingestion.
//!
//! Most webhooks carry a message (or a few) from prospects Platica already knows. Stored one by
//! one, each costs PostgreSQL a statement, a commit and a WAL flush, and at a few thousand per
//! second those fixed costs, not the rows, fill its CPU. The [`Ingestor`] queues webhooks of
//! messages and a few workers store whatever has queued meanwhile as one statement
//! ([`platica_store::whatsapp::ingest::store_known_batch`]), then answer each webhook. Nothing waits for
//! a batch to fill: a worker takes what is there when it is free, so at low rates a batch is one
//! webhook and at high rates batches grow with the load.
//!
//! Every webhook is still acknowledged only after its rows are committed. What a batch cannot
//! store whole (a sender with no prospect yet) or when the batch statement fails (one bad row fails
//! them all) goes back to its own handler, which stores it alone with
//! [`platica_store::whatsapp::ingest::ingest`]: the batch never makes a webhook fail that would have
//! succeeded alone. Webhooks with statuses take that path directly.

use std::sync::{Arc, OnceLock};

use platica_store::whatsapp::channels::WebhookAccount;
use platica_store::whatsapp::ingest::{self as stored, InboundMessage, IngestReport, KnownJob, StatusUpdate};
use platica_store::{PgPool, StoreError, StoreResult};
use tokio::sync::{Mutex, mpsc, oneshot};

/// Most webhooks in one batch.
pub const MAX_BATCH: usize = 64;
/// Batches in flight at once (each holds one pooled connection while it runs).
pub const WORKERS: usize = 4;
/// Webhooks waiting for a worker; beyond this, handlers store their webhook alone.
const QUEUE: usize = 4 * 1024;

/// What a worker answers a queued webhook.
enum Reply {
    Stored(IngestReport),
    /// Store it alone (unknown sender, or the batch failed).
    Alone,
    Failed(StoreError),
}

struct Job {
    account: WebhookAccount,
    messages: Vec<InboundMessage>,
    reply: oneshot::Sender<Reply>,
}

/// The ingestion queue of one server.
pub struct Ingestor {
    pool: PgPool,
    /// Started on first use (inside the runtime that serves webhooks).
    queue: OnceLock<mpsc::Sender<Job>>,
}

impl Ingestor {
    pub fn new(pool: PgPool) -> Self {
        Ingestor { pool, queue: OnceLock::new() }
    }

    /// Stores a webhook's messages and statuses for `account` (see
    /// [`platica_store::whatsapp::ingest::ingest`]); a webhook of messages only goes through the queue.
    pub async fn ingest(
        &self,
        account: &WebhookAccount,
        messages: &[InboundMessage],
        statuses: &[StatusUpdate],
    ) -> StoreResult<IngestReport> {
        if !messages.is_empty() && messages.len() <= MAX_BATCH && statuses.is_empty() {
            match self.queued(account, messages).await {
                Some(Reply::Stored(report)) => return Ok(report),
                Some(Reply::Failed(e)) => return Err(e),
                // The batch tried the single statement already: straight to the transaction.
                Some(Reply::Alone) => {
                    return stored::ingest_in_transaction(&self.pool, account, messages, statuses, Default::default())
                        .await;
                }
                None => {}
            }
        }
        stored::ingest(&self.pool, account, messages, statuses).await
    }

    /// The worker's answer, or `None` when the webhook could not be queued or was not answered.
    async fn queued(&self, account: &WebhookAccount, messages: &[InboundMessage]) -> Option<Reply> {
        let (reply, answer) = oneshot::channel();
        let job = Job { account: account.clone(), messages: messages.to_vec(), reply };
        // A full queue (or stopped workers): store it alone rather than wait without bound.
        if self.queue().try_send(job).is_err() {
            metrics::counter!("platica_webhook_batch_bypassed_total").increment(1);
            return None;
        }
        answer.await.ok()
    }

    fn queue(&self) -> &mpsc::Sender<Job> {
        self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            let rx = Arc::new(Mutex::new(rx));
            for _ in 0..WORKERS {
                tokio::spawn(work(self.pool.clone(), Arc::clone(&rx)));
            }
            tx
        })
    }
}

/// Takes what has queued (at least one webhook, at most [`MAX_BATCH`]) and stores it.
async fn work(pool: PgPool, rx: Arc<Mutex<mpsc::Receiver<Job>>>) {
    loop {
        let batch = {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else { return };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            batch
        };
        store(&pool, batch).await;
    }
}

async fn store(pool: &PgPool, batch: Vec<Job>) {
    metrics::histogram!("platica_webhook_batch_size").record(batch.len() as f64);
    let result = match batch.as_slice() {
        [Job { account, messages, .. }] if messages.len() == 1 => {
            stored::store_known(pool, account, &messages[0]).await.map(|r| vec![r])
        }
        _ => {
            let jobs: Vec<KnownJob> =
                batch.iter().map(|j| KnownJob { account: &j.account, messages: &j.messages }).collect();
            stored::store_known_batch(pool, &jobs).await
        }
    };
    match result {
        Ok(reports) => {
            for (job, report) in batch.into_iter().zip(reports) {
                let _ = job.reply.send(report.map_or(Reply::Alone, Reply::Stored));
            }
        }
        Err(e) if batch.len() == 1 => {
            if let Some(job) = batch.into_iter().next() {
                let _ = job.reply.send(Reply::Failed(e));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, webhooks = batch.len(), "a webhook batch failed: storing each alone");
            for job in batch {
                let _ = job.reply.send(Reply::Alone);
            }
        }
    }
}
