//! `run_history_retention`: deletes finished runs that started more than `keep_days` days ago.
//!
//! At least one day is kept: the claim of a scheduled occurrence is its run row, and occurrences
//! are only ever claimed within the scheduler's grace window (at most a day), so a claim is never
//! deleted while its occurrence could still be claimed again.

use platica_domain::validate::Invalid;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{BoxFuture, JobContext, JobKind, RunResult, check_range, parse_args};

pub struct RunHistoryRetention;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(default = "default_keep")]
    keep_days: u32,
}

fn default_keep() -> u32 {
    30
}

fn args(v: &Value) -> Result<Args, Invalid> {
    let a: Args = parse_args(v)?;
    check_range("keep_days", a.keep_days, 2..=3650)?;
    Ok(a)
}

impl JobKind for RunHistoryRetention {
    fn name(&self) -> &'static str {
        "run_history_retention"
    }

    fn description(&self) -> &'static str {
        "Deletes this tenant's job runs that started more than `keep_days` days ago (default 30, at least 2)."
    }

    fn default_args(&self) -> Value {
        json!({"keep_days": default_keep()})
    }

    fn validate(&self, args: &Value) -> Result<(), Invalid> {
        self::args(args).map(drop)
    }

    fn run<'a>(&'a self, ctx: &'a JobContext<'a>, args: &'a Value) -> BoxFuture<'a, RunResult> {
        Box::pin(async move {
            let a = self::args(args).map_err(|e| e.message)?;
            let deleted = sqlx::query(
                "DELETE FROM job_runs WHERE tenant_id = $1 AND status <> 'running'
                   AND started_at < $2 - make_interval(days => $3)",
            )
            .bind(ctx.tenant.0)
            .bind(ctx.started_at)
            .bind(a.keep_days as i32)
            .execute(ctx.pool)
            .await
            .map_err(|e| format!("deleting old runs: {e}"))?;
            Ok(format!("deleted {} runs older than {} days", deleted.rows_affected(), a.keep_days))
        })
    }
}
