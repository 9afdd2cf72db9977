//! `purge_idempotency_keys`: deletes the `Idempotency-Key`s whose time is up
//! (`platica_store::idempotency::TTL` after their first use); they would be claimed anew anyway.

use platica_domain::validate::Invalid;
use serde::Deserialize;
use serde_json::Value;

use super::{BoxFuture, JobContext, JobKind, RunResult, parse_args};

pub struct PurgeIdempotencyKeys;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {}

impl JobKind for PurgeIdempotencyKeys {
    fn name(&self) -> &'static str {
        "purge_idempotency_keys"
    }

    fn description(&self) -> &'static str {
        "Deletes expired Idempotency-Keys of the API (kept 24 hours after their first use). No arguments."
    }

    fn validate(&self, args: &Value) -> Result<(), Invalid> {
        parse_args::<Args>(args).map(drop)
    }

    fn run<'a>(&'a self, ctx: &'a JobContext<'a>, _args: &'a Value) -> BoxFuture<'a, RunResult> {
        Box::pin(async move {
            let n = platica_store::idempotency::purge_expired(ctx.pool, ctx.tenant, ctx.started_at)
                .await
                .map_err(|e| format!("purging idempotency keys: {e}"))?;
            Ok(format!("deleted {n} expired idempotency keys"))
        })
    }
}
