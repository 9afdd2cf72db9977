//! One module per resource; each exports `router()`, registering its handlers with their OpenAPI
//! description (utoipa), so a route cannot exist without being documented.

pub mod admin;
pub mod auth;
pub mod bot;
pub mod calls;
pub mod campaigns;
pub mod canned;
pub mod channels;
pub mod config;
pub mod conversations;
pub mod jobs;
pub mod labels;
pub mod media;
pub mod notifications;
pub mod prospect_fields;
pub mod prospects;
pub mod reports;
pub mod search;
pub mod teams;
pub mod templates;
pub mod tickets;
pub mod tokens;
pub mod users;
pub mod whatsapp;
pub mod ws;
