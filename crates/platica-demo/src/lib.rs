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
#[derive(Clone, Copy, Debug)]
pub struct SimulatorOptions {
    /// Events per second; 0 leaves the simulator idle until stopped.
    pub events_per_second: f64,
    /// Seed of the simulator's choices (which prospect writes, who is reassigned...).
    pub seed: u64,
}

/// Seeds the demo tenant (slug [`roster::TENANT_SLUG`]) unless it exists.
///
/// The data is the same on every run: a fixed random seed, and times relative to the fixed
/// instant [`reference`] (2026-11-01T00:00:00Z), never the clock. When the tenant exists its
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
