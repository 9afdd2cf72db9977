//! PostgreSQL itself: the private cluster, connecting and migrating, the publication's tables.

pub mod cluster;
pub mod db;
pub mod publication;
