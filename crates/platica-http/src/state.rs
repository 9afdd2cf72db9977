//! What every handler shares.

use std::sync::Arc;

use platica_changes::LiveInbox;
use platica_store::PgPool;

use crate::auth::LoginLimits;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub login_limits: Arc<LoginLimits>,
    /// Mark the session cookie `Secure` (serve behind HTTPS).
    pub secure_cookies: bool,
    /// The live inbox; without it inbox reads fall back to the SQL reference.
    pub live: Option<Arc<LiveInbox>>,
}

impl AppState {
    pub fn new(pool: PgPool) -> Self {
        AppState { pool, login_limits: Arc::new(LoginLimits::default()), secure_cookies: false, live: None }
    }

    pub fn with_live(mut self, live: Arc<LiveInbox>) -> Self {
        self.live = Some(live);
        self
    }
}
