//! Platica's HTTP API (`/api/v1`), built with axum.
//!
//! - [`app`]: the router, its middleware (request ids, tracing, body limit, panic guard) and the
//!   OpenAPI document;
//! - [`routes`]: one module per resource;
//! - [`auth`]: the authentication extractors (caller, admin, client address, cookie security);
//! - [`login_limits`]: login attempt limits per account and address;
//! - [`edge`]: trusted proxies (client address, HTTPS), Origin checks, security headers, the
//!   metrics token, Bearer tokens;
//! - [`error`]: the one error type and its JSON shape;
//! - [`openapi`](mod@openapi): completes the OpenAPI document (every status, unique operationIds);
//! - [`extract`]: the request inputs routes share (extractors whose rejections use that shape,
//!   page sizes, ids) and a request's limits (body size, time);
//! - [`idempotency`]: `Idempotency-Key` on the creating requests (one route layer);
//! - [`serve`]: the accept loop: connection limits, header timeout, graceful shutdown;
//! - [`state`]: what handlers share (below every module that uses it: the modules form a tree);
//! - [`web`]: the web app (`web/`, embedded), served at `/` and `/app/`;
//! - [`webhook_accounts`]: the channel accounts webhooks name, cached with their keyed signature check.

pub mod app;
pub mod auth;
pub mod credentials;
pub mod edge;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod live;
pub mod login_limits;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod routes;
pub mod serve;
pub mod state;
pub mod web;
pub mod webhook_accounts;

pub use app::{openapi, router};
pub use state::AppState;
