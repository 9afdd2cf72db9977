//! The integration tests, one test binary: each module below was a test binary of its own. They
//! share one throwaway PostgreSQL cluster (started on first use, stopped when the process ends),
//! and each test works on its own clone of one migrated template database (`support`).
//!
//! Run one module with `cargo test -p platica --test it <module>::` (e.g. `live_faults::`).
//! Tests run in parallel threads of this one process: a test that is heavy (a browser, a fuzzer,
//! thousands of rows or messages, a load) or measures the process takes
//! [`support::exclusive`], so no two of them run at once; a test that restarts PostgreSQL does
//! it on a cluster of its own, never the shared one.

mod support;

mod api_smoke;
mod architecture;
mod auth;
mod bad_input;
mod bot_admin;
mod bulk_reassign;
mod calls;
mod campaign_safeguards;
mod channels_admin;
mod cli;
mod composer;
mod contact_panel;
mod contract;
mod demo;
mod idempotency;
mod js_client;
mod live_faults;
mod live_inbox;
mod openapi;
mod ops;
mod realtime;
mod reports;
mod reports_bench;
mod scheduler;
mod search;
mod search_bench;
mod templates_api;
mod tenant_isolation;
mod tickets_notifications;
mod triage;
mod visibility_matrix;
mod visibility_sql;
mod web_e2e;
mod webhook_fuzz;
mod whatsapp_bsuid;
mod whatsapp_campaigns;
mod whatsapp_failures;
mod whatsapp_inbound;
mod whatsapp_kinds;
mod whatsapp_media;
mod whatsapp_outbound;
mod whatsapp_send_bench;
mod whatsapp_sessions;
