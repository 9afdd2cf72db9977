//! The campaign dispatcher: starts scheduled campaigns when due and feeds running ones into the
//! outbox in chunks, only while their number's outbox backlog is short, so a campaign never
//! holds executives' replies back for long. The sender's per-number rate sets the pace, and a
//! campaign's own throttle (`max_per_minute`) slows it further; a scheduled campaign waits for
//! its time (see [`platica_store::whatsapp::campaigns::active`]). Every
//! chunk is one transaction (see [`platica_store::whatsapp::campaigns::dispatch_chunk`]), so a restart
//! queues nobody twice.

use std::collections::HashMap;
use std::time::Duration;

use platica_domain::TenantId;
use platica_store::PgPool;
use platica_store::whatsapp::campaigns;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Clone, Debug)]
pub struct CampaignConfig {
    /// How often running campaigns are looked at.
    pub tick: Duration,
    /// Recipients queued per chunk at most.
    pub chunk: i64,
    /// A campaign waits while its number has this many rows in the outbox.
    pub max_backlog: i64,
    /// How often a running campaign's progress snapshot is written.
    pub snapshot_every: Duration,
}

impl Default for CampaignConfig {
    fn default() -> Self {
        CampaignConfig {
            tick: Duration::from_millis(500),
            chunk: 100,
            max_backlog: 200,
            snapshot_every: Duration::from_secs(5),
        }
    }
}

/// Runs the dispatcher until the shutdown signal.
pub fn start(pool: PgPool, config: CampaignConfig, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(config.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut snapshots: HashMap<(i64, i64), tokio::time::Instant> = HashMap::new();
        loop {
            tokio::select! {
                _ = shutdown.changed() => if *shutdown.borrow() { break },
                _ = tick.tick() => {
                    if let Err(e) = round(&pool, &config, &mut snapshots).await {
                        tracing::warn!(error = %e, "campaign dispatcher round failed");
                    }
                }
            }
        }
    })
}

async fn round(
    pool: &PgPool,
    config: &CampaignConfig,
    snapshots: &mut HashMap<(i64, i64), tokio::time::Instant>,
) -> platica_store::StoreResult<()> {
    let running = campaigns::active(pool).await?;
    for c in &running {
        let tenant = TenantId(c.tenant_id);
        let backlog = campaigns::backlog(pool, tenant, c.channel_account_id).await?;
        let mut room = (config.max_backlog - backlog).min(config.chunk);
        // A throttled campaign queues no more than its minute allows; when it allows nothing,
        // the chunk of 0 still completes a campaign with nobody left pending.
        let throttle = campaigns::throttle_room(pool, c).await?;
        if let Some(allowed) = throttle {
            room = room.min(allowed);
        }
        if room > 0 || throttle.is_some() {
            let room = room.max(0);
            let queued = campaigns::dispatch_chunk(pool, c, room).await?;
            metrics::counter!("platica_campaign_queued_total").increment(queued);
        }
        let key = (c.tenant_id, c.campaign_id);
        let due = snapshots.get(&key).is_none_or(|t| t.elapsed() >= config.snapshot_every);
        if due {
            campaigns::snapshot(pool, tenant, c.campaign_id).await?;
            snapshots.insert(key, tokio::time::Instant::now());
        }
    }
    snapshots.retain(|k, _| running.iter().any(|c| (c.tenant_id, c.campaign_id) == *k));
    Ok(())
}
