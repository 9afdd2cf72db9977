//! The demo: a deterministic demo tenant ([`seed`]) and a live traffic simulator ([`simulate`]).
//!
//! - [`roster`]: the fixed cast (tenant, teams BOOM and VEN, staff and their passwords);
//! - `names`, `chat`: prospect names and phones, chat message bodies;
//! - `plan`: the demo data computed in memory from a fixed seed and a fixed reference instant;
//! - `seed`: writing it (staff through the store, bulk rows in one transaction);
//! - `info`: counts and logins read back, and the banner;
//! - `simulator`: live events through the store's own functions.

mod chat;
mod info;
mod names;
mod plan;
pub mod roster;
mod seed;
mod simulator;

use platica_domain::TenantId;
use platica_store::PgPool;

pub use plan::reference;

/// One login printed in the demo banner.
#[derive(Clone, Debug)]
pub struct DemoLogin {
    pub role: &'static str,
    pub email: String,
    pub password: String,
    /// What this user should see, e.g. "coordinates BOOM and VEN".
    pub note: String,
}

/// What [`seed`] made (or found, when the demo tenant already exists). Counts are read from the
/// database when [`seed`] returns.
#[derive(Clone, Debug)]
pub struct DemoInfo {
    pub tenant_id: TenantId,
    pub tenant_slug: String,
    pub logins: Vec<DemoLogin>,
    pub prospects: i64,
    pub messages: i64,
    pub users: i64,
    pub conversations: i64,
    /// Conversations with at least one unread inbound message.
    pub unread_conversations: i64,
}

impl DemoInfo {
    /// The text printed when the demo starts: URL, logins and a curl example.
    pub fn banner(&self, base_url: &str) -> String {
        info::banner(self, base_url)
    }
}

/// Simulator settings.
#[derive(Clone, Debug)]
pub struct SimulatorOptions {
    /// Events per second; 0 leaves the simulator idle until stopped.
    pub events_per_second: f64,
    /// Seed of the simulator's choices (which prospect writes, who is reassigned...).
    pub seed: u64,
    /// Send prospects' messages through this WhatsApp simulator (the Cloud API path) rather than
    /// writing them to the store.
    pub whatsapp: Option<WhatsAppRoute>,
}

/// Where the demo's prospects write: the built-in WhatsApp simulator and the demo's number.
#[derive(Clone, Debug)]
pub struct WhatsAppRoute {
    /// The simulator's root URL (its `/_sim/inbound`).
    pub simulator_url: String,
    pub phone_number_id: String,
}

/// Seeds the demo tenant (slug [`roster::TENANT_SLUG`]) unless it exists.
///
/// The data is the same on every run: a fixed random seed, and times relative to the fixed
/// instant [`reference()`] (2026-11-01T00:00:00Z), never the clock. When the tenant exists its
/// data is kept and only described; a tenant left half-seeded by an interrupted run (staff but no
/// prospects) is removed and seeded again. Prints nothing.
pub async fn seed(pool: &PgPool) -> anyhow::Result<DemoInfo> {
    seed::seed(pool).await
}

/// Runs the traffic simulator until `stop` turns true (or its sender is dropped, or the pool is
/// closed). An event that fails is logged and the simulator carries on.
pub async fn simulate(
    pool: PgPool,
    tenant: TenantId,
    opts: SimulatorOptions,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    simulator::run(pool, tenant, opts, stop).await
}

/// The demo tenant's WhatsApp number (the simulator's side must use the same values).
pub mod whatsapp {
    use anyhow::Context;
    use platica_domain::{TeamId, TenantId};
    use platica_store::PgPool;
    use platica_store::secrets::SecretKey;
    use platica_store::whatsapp::channels::{self, ChannelChanges, NewChannelAccount};

    pub const PHONE_NUMBER_ID: &str = "100000000000001";
    pub const DISPLAY_PHONE_NUMBER: &str = "+52 55 5000 0001";
    pub const APP_SECRET: &str = "demo-app-secret";
    pub const VERIFY_TOKEN: &str = "demo-verify-token";
    pub const ACCESS_TOKEN: &str = "demo-access-token";

    /// Creates the demo's number (kind `simulator`, sending to `base_url`), or points the existing
    /// one at `base_url` (the simulator's port changes on every run). Returns its id.
    pub async fn ensure_account(
        pool: &PgPool,
        key: &SecretKey,
        tenant: TenantId,
        base_url: &str,
    ) -> anyhow::Result<i64> {
        let existing = channels::list(pool, tenant).await?.into_iter().find(|a| a.phone_number_id == PHONE_NUMBER_ID);
        if let Some(a) = existing {
            let changes = ChannelChanges { base_url: Some(Some(base_url.to_owned())), ..ChannelChanges::default() };
            channels::update(pool, key, tenant, a.channel_account_id, &changes).await?;
            return Ok(a.channel_account_id);
        }
        let team: i64 = sqlx::query_scalar("SELECT min(team_id) FROM teams WHERE tenant_id = $1")
            .bind(tenant.0)
            .fetch_one(pool)
            .await
            .context("finding the demo's first team")?;
        let new = NewChannelAccount {
            business_account_id: None,
            kind: "simulator".to_owned(),
            display_name: "Ventas Platica Demo".to_owned(),
            phone_number_id: PHONE_NUMBER_ID.to_owned(),
            app_secret: APP_SECRET.to_owned(),
            verify_token: VERIFY_TOKEN.to_owned(),
            access_token: ACCESS_TOKEN.to_owned(),
            default_team_id: TeamId(team),
            base_url: Some(base_url.to_owned()),
            send_rate_per_sec: None,
        };
        Ok(channels::create(pool, key, tenant, &new).await?.channel_account_id)
    }
}
