//! The registry of job kinds: what a job can do.
//!
//! A kind is a type implementing [`JobKind`]: its name, a sentence for people, the default and
//! the validation of its JSON arguments, and `run`, which does the work for one tenant and
//! returns a message for the run history (or an error message, recorded as `failed`).
//!
//! **Adding a kind** is one small change: write a module here with a unit struct implementing
//! [`JobKind`] (parse its arguments with [`parse_args`], a `#[serde(deny_unknown_fields)]`
//! struct with defaults), and add it to [`REGISTRY`]. Nothing else dispatches on kinds: the API,
//! the CLI and the scheduler all go through [`find`] and [`REGISTRY`].

mod close_idle;
mod daily_stats;
mod idempotency;
mod purge_sessions;
mod run_retention;
mod whatsapp;

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use platica_domain::TenantId;
use platica_domain::validate::Invalid;
use platica_store::PgPool;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// What a run gets: the database, the tenant, the job's time zone, the occurrence it is (`None`
/// for a manual run) and the instant it started.
pub struct JobContext<'a> {
    pub pool: &'a PgPool,
    pub tenant: TenantId,
    pub time_zone: chrono_tz::Tz,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub started_at: DateTime<Utc>,
}

/// A run's outcome: `Ok(message)` or `Err(message)`, both recorded in the run history.
pub type RunResult = Result<String, String>;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One kind of job.
pub trait JobKind: Send + Sync {
    /// The name jobs refer to (`snake_case`, stable: it is stored).
    fn name(&self) -> &'static str;
    /// One sentence on what it does and its arguments.
    fn description(&self) -> &'static str;
    /// The arguments used when none are given.
    fn default_args(&self) -> Value {
        Value::Object(Default::default())
    }
    /// Checks arguments; the error names the field at fault (`args.<field>`).
    fn validate(&self, args: &Value) -> Result<(), Invalid>;
    /// Does the work once.
    fn run<'a>(&'a self, ctx: &'a JobContext<'a>, args: &'a Value) -> BoxFuture<'a, RunResult>;
}

/// Every kind. Add new kinds here.
pub static REGISTRY: &[&dyn JobKind] = &[
    &close_idle::CloseIdleConversations,
    &purge_sessions::PurgeExpiredSessions,
    &run_retention::RunHistoryRetention,
    &daily_stats::DailyStatsSnapshot,
    &whatsapp::ResumePausedBots,
    &whatsapp::WebhookEventsRetention,
    &whatsapp::MarkOverdueScheduledCalls,
    &idempotency::PurgeIdempotencyKeys,
];

/// The kind named `name`.
pub fn find(name: &str) -> Result<&'static dyn JobKind, Invalid> {
    REGISTRY.iter().copied().find(|k| k.name() == name).ok_or_else(|| {
        let known: Vec<&str> = REGISTRY.iter().map(|k| k.name()).collect();
        Invalid::new("kind", format!("unknown job kind {name:?}; known kinds: {}", known.join(", ")))
    })
}

/// Parses a kind's arguments (`{}` or `null` means every default), naming the field at fault.
pub fn parse_args<T: DeserializeOwned>(args: &Value) -> Result<T, Invalid> {
    let args = if args.is_null() { Value::Object(Default::default()) } else { args.clone() };
    serde_path_to_error::deserialize(args).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." { "args".to_owned() } else { format!("args.{path}") };
        Invalid::new("args", format!("{at}: {}", e.inner()))
    })
}

/// Checks that `value` lies in `range`, naming `args.<field>`.
pub(crate) fn check_range(field: &str, value: u32, range: std::ops::RangeInclusive<u32>) -> Result<(), Invalid> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(Invalid::new("args", format!("args.{field}: {value} is out of range {}..={}", range.start(), range.end())))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_kind_has_a_unique_name_and_valid_defaults() {
        let mut names: Vec<&str> = REGISTRY.iter().map(|k| k.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), REGISTRY.len());
        for k in REGISTRY {
            k.validate(&k.default_args()).unwrap();
            k.validate(&json!({})).unwrap();
            assert!(!k.description().is_empty());
        }
    }

    #[test]
    fn bad_arguments_name_their_field() {
        let k = find("close_idle_conversations").unwrap();
        let e = k.validate(&json!({"days": 0})).unwrap_err();
        assert!(e.message.contains("args.days"), "{}", e.message);
        let e = k.validate(&json!({"days": "x"})).unwrap_err();
        assert!(e.message.contains("args.days"), "{}", e.message);
        let e = k.validate(&json!({"dayz": 3})).unwrap_err();
        assert!(e.message.contains("dayz"), "{}", e.message);
        let Err(e) = find("nope") else { panic!("found a kind named nope") };
        assert_eq!(e.field, "kind");
        assert!(e.message.contains("close_idle_conversations"));
    }
}
