//! WhatsApp and calls housekeeping kinds:
//! - `resume_paused_bots`: lifts automatic bot pauses (after a human reply or a handover) whose
//!   idle time has passed; each is a `bot_pause` row change, so inboxes and clients see it.
//! - `webhook_events_retention`: deletes logged webhook payloads (the ones not stored as domain
//!   rows) older than `keep_days`.
//! - `mark_overdue_scheduled_calls`: pending scheduled calls past their due time become missed.

use platica_domain::validate::Invalid;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{BoxFuture, JobContext, JobKind, RunResult, check_range, parse_args};

pub struct ResumePausedBots;

impl JobKind for ResumePausedBots {
    fn name(&self) -> &'static str {
        "resume_paused_bots"
    }

    fn description(&self) -> &'static str {
        "Resumes the bot in conversations whose automatic pause has passed its idle time (no arguments)."
    }

    fn validate(&self, args: &Value) -> Result<(), Invalid> {
        parse_args::<NoArgs>(args).map(drop)
    }

    fn run<'a>(&'a self, ctx: &'a JobContext<'a>, _args: &'a Value) -> BoxFuture<'a, RunResult> {
        Box::pin(async move {
            let n = platica_store::whatsapp::bot::resume_idle_in(ctx.pool, ctx.tenant)
                .await
                .map_err(|e| format!("resuming bots: {e}"))?;
            Ok(format!("resumed the bot in {n} conversations"))
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

pub struct WebhookEventsRetention;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionArgs {
    #[serde(default = "default_keep_days")]
    keep_days: u32,
}

fn default_keep_days() -> u32 {
    30
}

fn retention_args(v: &Value) -> Result<RetentionArgs, Invalid> {
    let a: RetentionArgs = parse_args(v)?;
    check_range("keep_days", a.keep_days, 1..=3650)?;
    Ok(a)
}

impl JobKind for WebhookEventsRetention {
    fn name(&self) -> &'static str {
        "webhook_events_retention"
    }

    fn description(&self) -> &'static str {
        "Deletes logged webhook payloads older than `keep_days` days (default 30)."
    }

    fn default_args(&self) -> Value {
        json!({"keep_days": 30})
    }

    fn validate(&self, args: &Value) -> Result<(), Invalid> {
        retention_args(args).map(drop)
    }

    fn run<'a>(&'a self, ctx: &'a JobContext<'a>, args: &'a Value) -> BoxFuture<'a, RunResult> {
        Box::pin(async move {
            let a = retention_args(args).map_err(|e| e.message)?;
            let n = platica_store::whatsapp::ingest::purge_webhook_events(ctx.pool, ctx.tenant, a.keep_days as i32)
                .await
                .map_err(|e| format!("purging webhook payloads: {e}"))?;
            Ok(format!("deleted {n} webhook payloads older than {} days", a.keep_days))
        })
    }
}

/// `mark_overdue_scheduled_calls`: scheduled calls still pending after their due time become
/// `missed` (their executive is notified by the database).
pub struct MarkOverdueScheduledCalls;

impl JobKind for MarkOverdueScheduledCalls {
    fn name(&self) -> &'static str {
        "mark_overdue_scheduled_calls"
    }

    fn description(&self) -> &'static str {
        "Marks scheduled calls still pending after their due time as missed (no arguments)."
    }

    fn validate(&self, args: &Value) -> Result<(), Invalid> {
        parse_args::<NoArgs>(args).map(drop)
    }

    fn run<'a>(&'a self, ctx: &'a JobContext<'a>, _args: &'a Value) -> BoxFuture<'a, RunResult> {
        Box::pin(async move {
            let n = platica_store::inbox::calls::mark_overdue_scheduled_calls_in(ctx.pool, ctx.tenant)
                .await
                .map_err(|e| format!("marking overdue scheduled calls: {e}"))?;
            Ok(format!("{n} scheduled calls marked missed"))
        })
    }
}
