//! Platica's PostgreSQL layer.
//!
//! - [`cluster`]: the private PostgreSQL cluster Platica starts when no server is given;
//! - [`db`]: connecting, checking server settings, migrations;
//! - [`error`]: the one error type of this crate;
//! - one module per aggregate ([`tenants`], [`teams`], [`users`], [`auth`], [`prospects`],
//!   [`conversations`], [`messages`], [`config`]): every query Platica runs lives there, and
//!   every read of tenant data applies [`platica_domain::visibility`].
//! - WhatsApp: [`channels`] (channel accounts, secrets sealed with [`secrets`]), [`whatsapp`]
//!   (webhook ingestion: messages, statuses, the webhook log), [`outbox`] (what is to be sent,
//!   written with what decided it), [`templates`] (approved message templates) and [`bot`] (the
//!   auto-reply bot's settings, rules and per-conversation pause), [`channel_events`] (a channel's
//!   event log: account-level errors WhatsApp reports in webhooks), [`media`] (media files: inbound
//!   fetches, uploads, where their bytes are).
//! - [`idempotency`]: the `Idempotency-Key`s of the API's creating requests and their answers.

pub mod auth;
pub mod bot;
pub mod calls;
pub mod campaigns;
pub mod channel_events;
pub mod channels;
pub mod cluster;
pub mod config;
pub mod conversations;
pub mod db;
pub mod error;
pub mod idempotency;
pub mod media;
pub mod messages;
pub mod notifications;
pub mod outbox;
pub mod password;
pub mod prospects;
pub mod publication;
pub mod secrets;
pub mod sessions;
pub mod teams;
pub mod templates;
pub mod tenants;
pub mod tickets;
pub mod users;
pub mod whatsapp;

pub use error::{StoreError, StoreResult};
pub use sqlx::PgPool;
