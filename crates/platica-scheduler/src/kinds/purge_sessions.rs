//! `purge_expired_sessions`: deletes login sessions and API tokens that expired or were revoked
//! more than `keep_days` days ago (they can no longer authenticate anyone).

use platica_domain::validate::Invalid;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{BoxFuture, JobContext, JobKind, RunResult, check_range, parse_args};

pub struct PurgeExpiredSessions;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(default)]
    keep_days: u32,
}

fn args(v: &Value) -> Result<Args, Invalid> {
    let a: Args = parse_args(v)?;
    check_range("keep_days", a.keep_days, 0..=3650)?;
    Ok(a)
}

impl JobKind for PurgeExpiredSessions {
    fn name(&self) -> &'static str {
        "purge_expired_sessions"
    }

    fn description(&self) -> &'static str {
        "Deletes sessions and API tokens expired or revoked more than `keep_days` days ago (default 0)."
    }

    fn default_args(&self) -> Value {
        json!({"keep_days": 0})
    }

    fn validate(&self, args: &Value) -> Result<(), Invalid> {
        self::args(args).map(drop)
    }

    fn run<'a>(&'a self, ctx: &'a JobContext<'a>, args: &'a Value) -> BoxFuture<'a, RunResult> {
        Box::pin(async move {
            let a = self::args(args).map_err(|e| e.message)?;
            let fail = |e: sqlx::Error| format!("purging sessions: {e}");
            let mut tx = ctx.pool.begin().await.map_err(fail)?;
            let sessions = sqlx::query(
                "DELETE FROM sessions WHERE tenant_id = $1
                   AND (expires_at < $2 - make_interval(days => $3) OR revoked_at < $2 - make_interval(days => $3))",
            )
            .bind(ctx.tenant.0)
            .bind(ctx.started_at)
            .bind(a.keep_days as i32)
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
            let tokens = sqlx::query(
                "DELETE FROM api_tokens WHERE tenant_id = $1
                   AND (expires_at < $2 - make_interval(days => $3) OR revoked_at < $2 - make_interval(days => $3))",
            )
            .bind(ctx.tenant.0)
            .bind(ctx.started_at)
            .bind(a.keep_days as i32)
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
            tx.commit().await.map_err(fail)?;
            Ok(format!("deleted {} sessions and {} API tokens", sessions.rows_affected(), tokens.rows_affected()))
        })
    }
}
