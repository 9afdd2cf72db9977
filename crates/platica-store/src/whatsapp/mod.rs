//! The WhatsApp channel: accounts and their event log, webhook ingestion, the outbox, templates,
//! media, channel sessions, campaigns and the auto-reply bot.

pub mod bot;
pub mod campaigns;
pub mod channel_events;
pub mod channel_health;
pub mod channels;
pub mod ingest;
pub mod media;
pub mod outbox;
pub mod sessions;
pub mod templates;
