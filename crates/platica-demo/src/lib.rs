//! The demo: a deterministic demo tenant ([`seed`]) and a live traffic simulator ([`simulate`]).
//!
//! (Being written: see the helper's task.)

use platica_domain::TenantId;
use platica_store::PgPool;

/// One login printed in the demo banner.
#[derive(Clone, Debug)]
pub struct DemoLogin {
    pub role: &'static str,
    pub email: String,
    pub password: String,
    /// What this user should see, e.g. "coordinates BOOM and VEN".
    pub note: String,
}

/// What [`seed`] made (or found, when the demo tenant already exists).
#[derive(Clone, Debug)]
pub struct DemoInfo {
    pub tenant_id: TenantId,
    pub tenant_slug: String,
    pub logins: Vec<DemoLogin>,
    pub prospects: i64,
    pub messages: i64,
}

impl DemoInfo {
    /// The text printed when the demo starts: URL, logins and a curl example.
    pub fn banner(&self, base_url: &str) -> String {
        let _ = base_url;
        String::new()
    }
}

/// Simulator settings.
#[derive(Clone, Copy, Debug)]
pub struct SimulatorOptions {
    pub events_per_second: f64,
    pub seed: u64,
}

/// Seeds the demo tenant unless it exists.
pub async fn seed(pool: &PgPool) -> anyhow::Result<DemoInfo> {
    let _ = pool;
    anyhow::bail!("not written yet")
}

/// Runs the traffic simulator until `stop` turns true.
pub async fn simulate(
    pool: PgPool,
    tenant: TenantId,
    opts: SimulatorOptions,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let _ = (pool, tenant, opts);
    let _ = stop.changed().await;
    Ok(())
}
