//! Reports: the counters migration 0032 keeps per local day and cell (`report_days`), summed over
//! a period for what the reader sees; the live figures computed in SQL (the reference the inbox
//! engine's are compared with, and what a server without the engine answers); the tenant's time
//! zone; and the checks `verify` and the tests run (counters against a recomputation).
//!
//! See [`platica_domain::reports`] for what each figure means.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use platica_domain::reports::{BUCKETS, Period, Tally};
use platica_domain::validate::Invalid;
use platica_domain::{TenantId, Viewer};
use sqlx::{PgPool, Postgres, QueryBuilder, Row};

use crate::error::StoreResult;
use crate::inbox::conversations::REFERENCE_INBOX_SQL;
use crate::inbox::prospects::push_visible;

/// A cell: a team and one of its executives (`None`: its prospects without one).
pub type Cell = (i64, Option<i64>);

/// One local day's message and prospect counts over the cells the reader sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Day {
    pub day: NaiveDate,
    pub messages_in: i64,
    pub messages_out: i64,
    pub new_prospects: i64,
}

/// A period's counters for what a reader sees.
#[derive(Clone, Debug, Default)]
pub struct PeriodTallies {
    /// Per cell, the period's counters (live figures zero).
    pub cells: Vec<(Cell, Tally)>,
    /// Per local day with activity, in order.
    pub days: Vec<Day>,
}

/// `ARRAY[sum(<col>[1]), ..., sum(<col>[13])]`: a histogram column summed bucket by bucket.
fn summed_buckets(col: &str) -> String {
    let parts: Vec<String> = (1..=BUCKETS).map(|i| format!("coalesce(sum(r.{col}[{i}]), 0)::bigint")).collect();
    format!("ARRAY[{}]", parts.join(", "))
}

fn histogram(v: Vec<i64>) -> [i64; BUCKETS] {
    let mut out = [0; BUCKETS];
    for (o, x) in out.iter_mut().zip(v) {
        *o = x;
    }
    out
}

/// The period's counters per cell and per day, over the cells `viewer` sees.
pub async fn period(pool: &PgPool, viewer: &Viewer, period: Period) -> StoreResult<PeriodTallies> {
    let mut qb = QueryBuilder::<Postgres>::new(format!(
        "SELECT r.team_id, r.executive_id, sum(r.messages_in)::bigint AS messages_in,
                sum(r.messages_out)::bigint AS messages_out, sum(r.new_prospects)::bigint AS new_prospects,
                sum(r.reassigned_in)::bigint AS reassigned_in, sum(r.reassigned_out)::bigint AS reassigned_out,
                {} AS responses, {} AS first_responses
           FROM report_days r WHERE r.day BETWEEN ",
        summed_buckets("responses"),
        summed_buckets("first_responses"),
    ));
    qb.push_bind(period.from).push(" AND ").push_bind(period.to);
    push_visible(&mut qb, viewer, "r");
    qb.push(" GROUP BY r.team_id, r.executive_id ORDER BY r.team_id, r.executive_id");
    let rows = qb.build().fetch_all(pool).await?;
    let mut cells = Vec::with_capacity(rows.len());
    for r in rows {
        let executive: i64 = r.try_get("executive_id")?;
        let tally = Tally {
            messages_in: r.try_get("messages_in")?,
            messages_out: r.try_get("messages_out")?,
            new_prospects: r.try_get("new_prospects")?,
            reassigned_in: r.try_get("reassigned_in")?,
            reassigned_out: r.try_get("reassigned_out")?,
            responses: histogram(r.try_get("responses")?),
            first_responses: histogram(r.try_get("first_responses")?),
            ..Tally::default()
        };
        cells.push(((r.try_get("team_id")?, (executive != 0).then_some(executive)), tally));
    }

    let mut qb = QueryBuilder::<Postgres>::new(
        "SELECT r.day, sum(r.messages_in)::bigint AS messages_in, sum(r.messages_out)::bigint AS messages_out,
                sum(r.new_prospects)::bigint AS new_prospects
           FROM report_days r WHERE r.day BETWEEN ",
    );
    qb.push_bind(period.from).push(" AND ").push_bind(period.to);
    push_visible(&mut qb, viewer, "r");
    qb.push(" GROUP BY r.day ORDER BY r.day");
    let days = qb
        .build()
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|r| {
            Ok(Day {
                day: r.try_get("day")?,
                messages_in: r.try_get("messages_in")?,
                messages_out: r.try_get("messages_out")?,
                new_prospects: r.try_get("new_prospects")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(PeriodTallies { cells, days })
}

/// A cell's live figures: open, unread, waiting, waiting since before the cutoff.
pub type LiveCell = (Cell, [i64; 4]);

/// The live figures per cell the viewer sees, computed in SQL from the reference inbox: what the
/// inbox engine's counts must equal, and what a server without the
/// engine answers.
pub async fn live_cells(pool: &PgPool, viewer: &Viewer, waiting_before: DateTime<Utc>) -> StoreResult<Vec<LiveCell>> {
    let mut qb = QueryBuilder::<Postgres>::new(
        "SELECT i.team_id, i.executive_id,
                count(*) FILTER (WHERE i.status = 'open') AS open,
                count(*) FILTER (WHERE i.status = 'open' AND i.unread_count > 0) AS unread,
                count(*) FILTER (WHERE i.status = 'open' AND i.last_message_direction = 'in') AS waiting,
                count(*) FILTER (WHERE i.status = 'open' AND i.last_message_direction = 'in'
                                   AND i.last_activity_at < ",
    );
    qb.push_bind(waiting_before);
    qb.push(format!(") AS waiting_long FROM ({REFERENCE_INBOX_SQL}) i WHERE true"));
    push_visible(&mut qb, viewer, "i");
    qb.push(" GROUP BY i.team_id, i.executive_id");
    let rows = qb.build().fetch_all(pool).await?;
    rows.into_iter()
        .map(|r| {
            Ok((
                (r.try_get("team_id")?, r.try_get("executive_id")?),
                [r.try_get("open")?, r.try_get("unread")?, r.try_get("waiting")?, r.try_get("waiting_long")?],
            ))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(Into::into)
}

/// The tenant's time zone (its report days are local days) and today's date there.
pub async fn time_zone(pool: &PgPool, tenant: TenantId) -> StoreResult<(String, NaiveDate)> {
    Ok(sqlx::query_as("SELECT time_zone, (now() AT TIME ZONE time_zone)::date FROM tenants WHERE tenant_id = $1")
        .bind(tenant.0)
        .fetch_one(pool)
        .await?)
}

/// The names of the tenant's teams and users, by id (for a report's rows).
pub async fn names(pool: &PgPool, tenant: TenantId) -> StoreResult<(HashMap<i64, String>, HashMap<i64, String>)> {
    let teams: Vec<(i64, String)> =
        sqlx::query_as("SELECT team_id, name FROM teams WHERE tenant_id = $1").bind(tenant.0).fetch_all(pool).await?;
    let users: Vec<(i64, String)> = sqlx::query_as("SELECT user_id, display_name FROM users WHERE tenant_id = $1")
        .bind(tenant.0)
        .fetch_all(pool)
        .await?;
    Ok((teams.into_iter().collect(), users.into_iter().collect()))
}

/// Sets the tenant's time zone (an IANA name such as `America/Mexico_City`); its report days
/// are summed again in the new zone (migration 0032's trigger), in the same transaction.
pub async fn set_time_zone(pool: &PgPool, tenant: TenantId, tz: &str) -> StoreResult<()> {
    let valid: bool = sqlx::query_scalar("SELECT platica_valid_time_zone($1)").bind(tz).fetch_one(pool).await?;
    if !valid {
        return Err(Invalid::new(
            "time_zone",
            format!("must be an IANA time zone such as America/Mexico_City, not {tz:?}"),
        )
        .into());
    }
    sqlx::query("UPDATE tenants SET time_zone = $2 WHERE tenant_id = $1").bind(tenant.0).bind(tz).execute(pool).await?;
    Ok(())
}

/// Rows where the tenant's kept counters differ from their recomputation from the rows' facts
/// (rows whose counters are all zero count as absent): 0 when the triggers kept them exactly.
pub async fn counter_differences(pool: &PgPool, tenant: TenantId) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "WITH kept AS (
             SELECT day, team_id, executive_id, messages_in::bigint, messages_out::bigint, new_prospects::bigint,
                    reassigned_in::bigint, reassigned_out::bigint, responses, first_responses
               FROM report_days WHERE tenant_id = $1
                AND (messages_in, messages_out, new_prospects, reassigned_in, reassigned_out) <> (0, 0, 0, 0, 0)
         ), again AS (SELECT * FROM platica_report_days_recomputed($1))
         SELECT count(*) FROM ((TABLE kept EXCEPT ALL TABLE again) UNION ALL (TABLE again EXCEPT ALL TABLE kept)) d",
    )
    .bind(tenant.0)
    .fetch_one(pool)
    .await?)
}

/// Replies whose stored response facts differ from a recomputation from their conversation's
/// messages in order (exact when messages are written in time order).
pub async fn response_differences(pool: &PgPool, tenant: TenantId) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM messages m
           JOIN platica_message_responses_recomputed($1) r ON r.message_id = m.message_id
          WHERE m.tenant_id = $1
            AND (m.response_secs IS DISTINCT FROM r.response_secs OR m.first_response <> r.first_response)",
    )
    .bind(tenant.0)
    .fetch_one(pool)
    .await?)
}
