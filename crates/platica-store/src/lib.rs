//! Platica's PostgreSQL layer.
//!
//! - [`cluster`]: the private PostgreSQL cluster Platica starts when no server is given;
//! - [`db`]: connecting, checking server settings, migrations;
//! - [`error`]: the one error type of this crate;
//! - one module per aggregate ([`tenants`], [`teams`], [`users`], [`auth`], [`prospects`],
//!   [`conversations`], [`messages`], [`config`]): every query Platica runs lives there, and
//!   every read of tenant data applies [`platica_domain::visibility`].

pub mod auth;
pub mod cluster;
pub mod config;
pub mod conversations;
pub mod db;
pub mod error;
pub mod messages;
pub mod password;
pub mod prospects;
pub mod teams;
pub mod tenants;
pub mod users;

pub use error::{StoreError, StoreResult};
pub use sqlx::PgPool;
