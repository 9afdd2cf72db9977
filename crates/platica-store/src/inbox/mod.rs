//! The sales work every role sees by its reach: prospects, their conversations and messages, calls.

pub mod calls;
pub mod canned;
pub mod conversations;
pub mod fields;
pub mod labels;
pub mod messages;
pub mod prospects;
pub mod search;
