//! Login attempt limits (the login route checks them before it looks at the password).

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

/// Login attempt limits: per account (tenant + e-mail) from one client address, and per client
/// address. Keyed per address, a stranger's trickle of wrong attempts from elsewhere never locks
/// the owner out; the limits refill, so a correct password after the wait always works.
pub struct LoginLimits {
    account: DefaultKeyedRateLimiter<String>,
    address: DefaultKeyedRateLimiter<IpAddr>,
}

/// Attempts an account may make in a burst, then one more per `ACCOUNT_PERIOD_SECS`.
pub const ACCOUNT_BURST: u32 = 10;
const ACCOUNT_PERIOD_SECS: u64 = 30;
/// Attempts one address may make in a burst, then one more per second.
pub const ADDRESS_BURST: u32 = 60;

impl Default for LoginLimits {
    fn default() -> Self {
        let burst = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        let account = Quota::with_period(std::time::Duration::from_secs(ACCOUNT_PERIOD_SECS))
            .map(|q| q.allow_burst(burst(ACCOUNT_BURST)))
            .unwrap_or_else(|| Quota::per_minute(burst(2)));
        let address = Quota::per_second(burst(1)).allow_burst(burst(ADDRESS_BURST));
        LoginLimits { account: RateLimiter::keyed(account), address: RateLimiter::keyed(address) }
    }
}

impl LoginLimits {
    /// Counts one attempt; refuses with 429 and a `Retry-After` when a limit is exceeded.
    pub fn check(&self, account: &str, address: IpAddr) -> Result<(), ApiError> {
        if self.account.len() > 100_000 {
            self.account.retain_recent();
            self.address.retain_recent();
        }
        let clock = governor::clock::DefaultClock::default();
        let refuse = |wait: std::time::Duration| {
            let mut err = ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "too many login attempts: wait and try again",
            );
            err.retry_after = Some(wait.as_secs().max(1));
            err = err.with_param("retry_after", wait.as_secs().max(1));
            err
        };
        use governor::clock::Clock;
        if let Err(not_until) = self.address.check_key(&address) {
            return Err(refuse(not_until.wait_time_from(clock.now())));
        }
        if let Err(not_until) = self.account.check_key(&format!("{account}@{address}")) {
            return Err(refuse(not_until.wait_time_from(clock.now())));
        }
        Ok(())
    }
}
