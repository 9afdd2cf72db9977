//! Platica's realtime router.
//!
//! One WebSocket per browser tab carries every subscription of that tab. The change stream is
//! decoded once (by `platica-changes`); each applied transaction reaches the [`hub::Hub`] as a
//! [`platica_changes::Committed`] and is routed through hash indexes to exactly the subscriptions
//! it concerns, authorised from the live engine's in-memory state, with no database query.
//!
//! - [`protocol`]: client messages and server frames (protocol version 1, docs/realtime.md);
//! - [`topic`]: the topics (`inbox`, `conversation:<id>`, `table:<name>`, `system`) and filters;
//! - [`hub`]: connections, subscription indexes, routing, replay buffers, slow-consumer resets;
//! - [`json`]: the JSON shape of inbox rows shared with the HTTP API.

pub mod hub;
pub mod json;
pub mod protocol;
pub mod topic;

pub use hub::{ConnId, Hub, HubConfig};
