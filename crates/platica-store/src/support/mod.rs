//! Support tickets and each user's notification feed.

pub mod notifications;
pub mod tickets;
