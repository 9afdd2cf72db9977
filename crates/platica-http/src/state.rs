//! What every handler shares.

use std::sync::Arc;

use platica_store::PgPool;

use crate::auth::LoginLimits;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub login_limits: Arc<LoginLimits>,
    /// Mark the session cookie `Secure` (serve behind HTTPS).
    pub secure_cookies: bool,
}

impl AppState {
    pub fn new(pool: PgPool) -> Self {
        AppState { pool, login_limits: Arc::new(LoginLimits::default()), secure_cookies: false }
    }
}
