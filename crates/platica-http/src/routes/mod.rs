//! One module per resource; each exports `router()`, registering its handlers with their OpenAPI
//! description (utoipa), so a route cannot exist without being documented.

pub mod admin;
pub mod auth;
pub mod bot;
pub mod calls;
pub mod campaigns;
pub mod channels;
pub mod config;
pub mod conversations;
pub mod jobs;
pub mod media;
pub mod notifications;
pub mod prospects;
pub mod teams;
pub mod templates;
pub mod tickets;
pub mod tokens;
pub mod users;
pub mod whatsapp;
pub mod ws;

use serde::{Deserialize, Deserializer};

/// Deserialises a field that may be absent (`None`), `null` (`Some(None)`) or a value.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
