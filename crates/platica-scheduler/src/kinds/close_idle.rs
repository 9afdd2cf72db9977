//! `close_idle_conversations`: open conversations without a message for `days` days are closed.

use platica_domain::validate::Invalid;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{BoxFuture, JobContext, JobKind, RunResult, check_range, parse_args};

pub struct CloseIdleConversations;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(default = "default_days")]
    days: u32,
}

fn default_days() -> u32 {
    30
}

fn args(v: &Value) -> Result<Args, Invalid> {
    let a: Args = parse_args(v)?;
    check_range("days", a.days, 1..=3650)?;
    Ok(a)
}

impl JobKind for CloseIdleConversations {
    fn name(&self) -> &'static str {
        "close_idle_conversations"
    }

    fn description(&self) -> &'static str {
        "Closes open conversations with no message (and not created) in the last `days` days (default 30)."
    }

    fn default_args(&self) -> Value {
        json!({"days": default_days()})
    }

    fn validate(&self, args: &Value) -> Result<(), Invalid> {
        self::args(args).map(drop)
    }

    fn run<'a>(&'a self, ctx: &'a JobContext<'a>, args: &'a Value) -> BoxFuture<'a, RunResult> {
        Box::pin(async move {
            let a = self::args(args).map_err(|e| e.message)?;
            let closed = sqlx::query(
                "UPDATE conversations c SET status = 'closed', updated_at = now()
                 WHERE c.tenant_id = $1 AND c.status = 'open'
                   AND c.created_at < $2 - make_interval(days => $3)
                   AND NOT EXISTS (SELECT 1 FROM messages m
                                   WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.conversation_id
                                     AND m.created_at >= $2 - make_interval(days => $3))",
            )
            .bind(ctx.tenant.0)
            .bind(ctx.started_at)
            .bind(a.days as i32)
            .execute(ctx.pool)
            .await
            .map_err(|e| format!("closing idle conversations: {e}"))?;
            Ok(format!("closed {} conversations idle for {} days", closed.rows_affected(), a.days))
        })
    }
}
