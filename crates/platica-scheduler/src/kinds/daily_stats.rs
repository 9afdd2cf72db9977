//! `daily_stats_snapshot`: one row per team and per executive in `stats_snapshots` for a local
//! day (the job's time zone): conversations open, open with unread messages and open assigned to
//! an executive (as of the run), and messages in and out during that day. Running it again for
//! the same day replaces that day's rows.

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use platica_domain::validate::Invalid;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{BoxFuture, JobContext, JobKind, RunResult, parse_args};

pub struct DailyStatsSnapshot;

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum Day {
    /// The local day before the occurrence (for jobs that run after midnight).
    Previous,
    /// The local day of the occurrence (for jobs that run late in the evening).
    Current,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(default = "default_day")]
    day: Day,
}

fn default_day() -> Day {
    Day::Previous
}

/// The local date a run covers, and its bounds as instants.
fn day_bounds(
    tz: chrono_tz::Tz,
    at: DateTime<Utc>,
    day: Day,
) -> Result<(NaiveDate, DateTime<Utc>, DateTime<Utc>), String> {
    let today = at.with_timezone(&tz).date_naive();
    let date = match day {
        Day::Current => today,
        Day::Previous => today.checked_sub_days(Days::new(1)).ok_or("date out of range")?,
    };
    let next = date.checked_add_days(Days::new(1)).ok_or("date out of range")?;
    // Local midnight may not exist (a DST change at 00:00): take the first instant of the day.
    let start_of = |d: NaiveDate| -> Result<DateTime<Utc>, String> {
        let midnight = d.and_hms_opt(0, 0, 0).ok_or("bad date")?;
        (0..=120)
            .find_map(|m| tz.from_local_datetime(&(midnight + chrono::Duration::minutes(m))).earliest())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| format!("no start of day {d} in {tz}"))
    };
    Ok((date, start_of(date)?, start_of(next)?))
}

impl JobKind for DailyStatsSnapshot {
    fn name(&self) -> &'static str {
        "daily_stats_snapshot"
    }

    fn description(&self) -> &'static str {
        "Snapshots per team and per executive: conversations open, unread and assigned, and messages in and \
         out during the local `day` (\"previous\", default, or \"current\")."
    }

    fn default_args(&self) -> Value {
        json!({"day": "previous"})
    }

    fn validate(&self, args: &Value) -> Result<(), Invalid> {
        parse_args::<Args>(args).map(drop)
    }

    fn run<'a>(&'a self, ctx: &'a JobContext<'a>, args: &'a Value) -> BoxFuture<'a, RunResult> {
        Box::pin(async move {
            let a: Args = parse_args(args).map_err(|e| e.message)?;
            let at = ctx.scheduled_for.unwrap_or(ctx.started_at);
            let (date, start, end) = day_bounds(ctx.time_zone, at, a.day)?;
            let rows = sqlx::query(
                "WITH conv AS (
                     SELECT p.team_id, p.executive_id, c.status = 'open' AS open,
                            EXISTS (SELECT 1 FROM messages u WHERE u.tenant_id = c.tenant_id
                                    AND u.conversation_id = c.conversation_id
                                    AND u.direction = 'in' AND u.read_at IS NULL) AS unread,
                            coalesce(d.msgs_in, 0) AS msgs_in, coalesce(d.msgs_out, 0) AS msgs_out
                     FROM conversations c
                     JOIN prospects p ON p.tenant_id = c.tenant_id AND p.prospect_id = c.prospect_id
                     LEFT JOIN LATERAL (
                         SELECT count(*) FILTER (WHERE m.direction = 'in') AS msgs_in,
                                count(*) FILTER (WHERE m.direction = 'out') AS msgs_out
                         FROM messages m WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.conversation_id
                           AND m.created_at >= $3 AND m.created_at < $4) d ON true
                     WHERE c.tenant_id = $1)
                 INSERT INTO stats_snapshots AS s (tenant_id, day, scope, scope_id, conversations_open,
                     conversations_unread, conversations_assigned, messages_in, messages_out)
                 SELECT $1, $2, CASE WHEN GROUPING(team_id) = 0 THEN 'team' ELSE 'executive' END,
                        coalesce(team_id, executive_id),
                        count(*) FILTER (WHERE open), count(*) FILTER (WHERE open AND unread),
                        count(*) FILTER (WHERE open AND executive_id IS NOT NULL),
                        sum(msgs_in), sum(msgs_out)
                 FROM conv GROUP BY GROUPING SETS ((team_id), (executive_id))
                 HAVING GROUPING(team_id) = 0 OR executive_id IS NOT NULL
                 ON CONFLICT (tenant_id, day, scope, scope_id) DO UPDATE SET
                     conversations_open = excluded.conversations_open,
                     conversations_unread = excluded.conversations_unread,
                     conversations_assigned = excluded.conversations_assigned,
                     messages_in = excluded.messages_in, messages_out = excluded.messages_out,
                     taken_at = now()",
            )
            .bind(ctx.tenant.0)
            .bind(date)
            .bind(start)
            .bind(end)
            .execute(ctx.pool)
            .await
            .map_err(|e| format!("writing the stats snapshot: {e}"))?;
            Ok(format!("{} snapshot rows for {date} ({})", rows.rows_affected(), ctx.time_zone))
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_previous_local_day_has_local_bounds() {
        let at = DateTime::parse_from_rfc3339("2026-06-02T06:00:00Z").unwrap().with_timezone(&Utc);
        // 00:00 in Mexico City on June 2 (UTC-6) is 06:00 UTC: the occurrence is on June 2 local.
        let (d, s, e) = day_bounds(chrono_tz::America::Mexico_City, at, Day::Previous).unwrap();
        assert_eq!(d.to_string(), "2026-06-01");
        assert_eq!(s.to_rfc3339(), "2026-06-01T06:00:00+00:00");
        assert_eq!(e.to_rfc3339(), "2026-06-02T06:00:00+00:00");
        // A 23-hour day: Madrid, spring forward on 2026-03-29.
        let at = DateTime::parse_from_rfc3339("2026-03-29T21:00:00Z").unwrap().with_timezone(&Utc);
        let (d, s, e) = day_bounds(chrono_tz::Europe::Madrid, at, Day::Current).unwrap();
        assert_eq!(d.to_string(), "2026-03-29");
        assert_eq!((e - s).num_hours(), 23);
    }
}
