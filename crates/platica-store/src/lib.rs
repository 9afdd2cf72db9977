//! Platica's PostgreSQL layer: every SQL statement Platica runs, grouped by area. Every read of
//! tenant data applies [`platica_domain::visibility`].
//!
//! - [`pg`]: PostgreSQL itself (the private [`pg::cluster`], connecting and migrating in
//!   [`pg::db`], the publication's tables in [`pg::publication`]);
//! - [`org`]: tenants, teams, users, sessions and API tokens, passwords;
//! - [`inbox`]: prospects, conversations, messages and calls, the sales work itself;
//! - [`whatsapp`]: the channel (accounts and their event log, webhook ingestion, the outbox,
//!   templates, media, sessions, campaigns, the bot);
//! - [`support`]: tickets and notifications;
//! - [`reports`]: the counters per day and cell summed over a period, the live figures in SQL;
//! - across areas: [`error`] (the one error type), [`config`] (`system_config`), [`secrets`]
//!   (secrets sealed under the server key) and [`idempotency`] (the API's `Idempotency-Key`s).

pub mod config;
pub mod error;
pub mod idempotency;
pub mod inbox;
pub mod org;
pub mod pg;
pub mod reports;
pub mod secrets;
pub mod support;
pub mod whatsapp;

pub use error::{StoreError, StoreResult};
pub use sqlx::PgPool;
