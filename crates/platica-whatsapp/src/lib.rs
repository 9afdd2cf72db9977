//! Platica's WhatsApp channel (the webhook's HTTP side is in platica-http):
//!
//! - [`webhook`]: the Cloud API webhook's protocol (handshake checks, the numbers a notification
//!   names, notifications read into per-number batches, events and problems);
//! - [`ingest`]: group commit of single-message webhooks (one statement for many);
//! - [`payload`]: Cloud API message and status objects → domain values (webhooks and sessions);
//! - [`cloud`]: the send endpoint and how to read its answers;
//! - [`media`]: media files: Graph's media endpoints, the object store, size limits, thumbnails
//!   and the fetcher of inbound media;
//! - [`sender`]: the outbox sender, one worker per number, exactly one in the cluster;
//! - [`bot`]: the auto-reply bot (rules, office hours, humanised typing delays, handover);
//! - [`supervisor`]: long-lived channel sessions (restore, read, health, reconnect);
//! - [`campaigns`]: the campaign dispatcher (scheduled templates to segments, through the outbox);
//! - [`templates`]: the Graph API's message templates of a business account (list with paging,
//!   submit for review).

pub mod bot;
pub mod campaigns;
pub mod cloud;
pub mod ingest;
pub mod media;
pub mod payload;
pub mod phone;
pub mod sender;
pub mod supervisor;
pub mod templates;
pub mod webhook;
