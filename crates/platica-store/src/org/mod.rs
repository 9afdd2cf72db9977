//! The organisation: tenants, teams and their coordinators, users, sessions and API tokens, passwords.

pub mod auth;
pub mod password;
pub mod teams;
pub mod tenants;
pub mod users;
