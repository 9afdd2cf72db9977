//! Platica's scheduler: periodic jobs stored in PostgreSQL, run exactly once across any number
//! of servers, each run recorded in a history with retention.
//!
//! It owns the tables `jobs`, `job_runs` and `stats_snapshots` (migration 0006) and every query
//! on them.
//!
//! - [`schedule`]: a 5-field cron expression in an IANA time zone (`croner`, `chrono-tz`);
//! - [`kinds`]: the registry of job kinds (what a job does) — add a kind there;
//! - [`store`]: jobs and runs in the database (create, alter, unschedule, claim, history);
//! - [`runner`]: the loop that claims due occurrences and runs them, and manual runs.

pub mod kinds;
pub mod runner;
pub mod schedule;
pub mod store;

pub use runner::{Scheduler, SchedulerConfig};
pub use schedule::Schedule;
