//! What a simulator does: accounts, delays, failure rates, generated traffic, sessions.

use std::net::SocketAddr;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// A uniformly random duration in `[min, max]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurRange {
    pub min: Duration,
    pub max: Duration,
}

impl DurRange {
    pub const fn new(min: Duration, max: Duration) -> Self {
        Self { min, max }
    }

    /// Both bounds in milliseconds.
    pub const fn millis(min: u64, max: u64) -> Self {
        Self::new(Duration::from_millis(min), Duration::from_millis(max))
    }

    /// One sample (the minimum when `max <= min`).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        if self.max <= self.min {
            return self.min;
        }
        let span = (self.max - self.min).as_micros().min(u128::from(u64::MAX)) as u64;
        self.min + Duration::from_micros(rng.random_range(0..=span))
    }
}

/// When the statuses of an accepted send are reported, each delay counted from the previous
/// status (`sent` from the send itself).
#[derive(Clone, Debug)]
pub struct StatusDelays {
    pub sent: DurRange,
    pub delivered: DurRange,
    pub read: DurRange,
    /// Probability that the recipient reads a delivered message at all.
    pub read_probability: f64,
}

impl Default for StatusDelays {
    fn default() -> Self {
        Self {
            sent: DurRange::millis(50, 300),
            delivered: DurRange::millis(200, 1500),
            read: DurRange::millis(1000, 20_000),
            read_probability: 0.7,
        }
    }
}

/// Simulated prospects writing in.
#[derive(Clone, Debug)]
pub struct InboundConfig {
    /// Mean generated inbound messages per second, over all accounts (Poisson arrivals);
    /// 0 generates none (replies still happen).
    pub rate_per_sec: f64,
    /// How many distinct prospects write.
    pub prospects: usize,
    /// Seed of the prospects (names, numbers) and of what they write.
    pub seed: u64,
    /// Probability that a prospect who read an outbound message replies to it.
    pub reply_probability: f64,
    /// How long after reading a prospect replies.
    pub reply_delay: DurRange,
}

impl Default for InboundConfig {
    fn default() -> Self {
        Self {
            rate_per_sec: 0.5,
            prospects: 50,
            seed: 7,
            reply_probability: 0.5,
            reply_delay: DurRange::millis(2000, 30_000),
        }
    }
}

/// Linked-device sessions.
#[derive(Clone, Debug, Default)]
pub struct SessionConfig {
    /// Drop one connected session at random intervals in this range (for the demo).
    pub auto_drop_every: Option<DurRange>,
    /// A connect takes this long to answer (a linked device's handshake); the most connects in
    /// flight at once is counted in `max_connects_in_flight`.
    pub connect_delay: Option<DurRange>,
}

/// How status and inbound webhooks are retried when the receiver fails.
#[derive(Clone, Debug)]
pub struct WebhookRetry {
    /// Attempts per webhook, the first included; then it is given up and counted failed.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled each time, up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Per-attempt timeout.
    pub timeout: Duration,
}

impl Default for WebhookRetry {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Everything the simulator does.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Where to listen (default `127.0.0.1:0`, a free port).
    pub listen: SocketAddr,
    pub status_delays: StatusDelays,
    /// Fraction of accepted sends that later get a `failed` status (131026, undeliverable)
    /// instead of `delivered`.
    pub failure_rate: f64,
    /// Generated prospects; `None` for none (no generated messages, no replies).
    pub inbound: Option<InboundConfig>,
    pub session: SessionConfig,
    pub webhook_retry: WebhookRetry,
    /// Seed of the random delays, failures and reads.
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            status_delays: StatusDelays::default(),
            failure_rate: 0.02,
            inbound: None,
            session: SessionConfig::default(),
            webhook_retry: WebhookRetry::default(),
            seed: 42,
        }
    }
}

/// One business phone number of the fake Cloud API.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimAccount {
    pub phone_number_id: String,
    pub display_phone_number: String,
    /// The Bearer token sends must carry.
    pub access_token: String,
    /// The key of the webhooks' `X-Hub-Signature-256`.
    pub app_secret: String,
    /// Where status and inbound webhooks are POSTed (ignored in session mode).
    #[serde(default)]
    pub webhook_url: String,
    /// A linked-device session: inbound messages and statuses are buffered as events for the
    /// client to fetch instead of being POSTed.
    #[serde(default)]
    pub session_mode: bool,
}
