//! Reports (the dashboard): what the reader's part of the tenant holds now and did over a period,
//! in total, per team and per executive (`GET /reports`); the tenant's time zone, in which a
//! report's days are local days (`PUT /reports/time-zone`, admins).
//!
//! The live figures are the inbox engine's (from memory; computed in SQL on a server without
//! it), the period's are the counters PostgreSQL keeps per day and cell. Both are taken per
//! cell (team x executive) the reader sees, then added up into rows.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use platica_domain::reports::{Figures, Period, RESPONSE_BOUNDS, Tally};
use platica_domain::visibility::{self, Placement};
use platica_domain::{TeamId, UserId};
use platica_store::reports::{self as store, Cell};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Admin, Auth};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(report)).routes(routes!(set_time_zone))
}

/// The default for "waiting longer than" (minutes).
pub const DEFAULT_WAITING_MINUTES: i64 = 15;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// First local day of the period (`YYYY-MM-DD`; default: six days before `to`).
    pub from: Option<String>,
    /// Last local day of the period, included (`YYYY-MM-DD`; default: today in the tenant's time
    /// zone). At most 366 days.
    pub to: Option<String>,
    /// "Waiting longer than" this many minutes (1 to 10,080; default 15).
    #[param(minimum = 1, maximum = 10080)]
    pub waiting_minutes: Option<i64>,
}

/// One row of a report: a team, an executive (or a team's prospects without one, executive
/// `null`), or the total.
#[derive(Serialize, ToSchema)]
pub struct ReportRow {
    pub team_id: Option<i64>,
    pub executive_id: Option<i64>,
    /// The team's or executive's name (empty for "without an executive").
    pub name: String,
    pub figures: Figures,
}

/// One local day's activity over what the reader sees.
#[derive(Serialize, ToSchema)]
pub struct ReportDay {
    pub day: NaiveDate,
    pub messages_in: i64,
    pub messages_out: i64,
    pub new_prospects: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Report {
    /// The tenant's time zone: the period's days are local days there.
    pub time_zone: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub waiting_minutes: i64,
    /// When the live figures were taken.
    pub generated_at: DateTime<Utc>,
    /// Upper bounds (seconds) of the response-time buckets; the last bucket has none.
    pub response_bounds_secs: Vec<i32>,
    /// Everything the reader sees.
    pub totals: Figures,
    /// Per team the reader sees (a coordinator: theirs; an executive: those their prospects are in).
    pub teams: Vec<ReportRow>,
    /// Per executive (an executive: only themselves), and per team's prospects without one.
    pub executives: Vec<ReportRow>,
    /// Every local day of the period with activity, in order.
    pub days: Vec<ReportDay>,
}

/// The reader's report: live figures now and the period's counters, in total, per team and per
/// executive, over the cells the reader sees (admin: the tenant; coordinator: their teams;
/// executive: their own prospects).
#[utoipa::path(get, path = "/reports", tag = "reports", params(ReportQuery),
    responses((status = 200, body = Report), (status = 400, body = ErrorBody)))]
async fn report(State(state): State<AppState>, auth: Auth, Query(q): Query<ReportQuery>) -> ApiResult<Json<Report>> {
    let viewer = auth.viewer();
    let waiting_minutes = q.waiting_minutes.unwrap_or(DEFAULT_WAITING_MINUTES);
    if !(1..=10_080).contains(&waiting_minutes) {
        return Err(platica_domain::validate::Invalid::new("waiting_minutes", "must be between 1 and 10080").into());
    }
    let (time_zone, today) = store::time_zone(&state.pool, viewer.tenant_id).await?;
    let period = Period::parse(q.from.as_deref(), q.to.as_deref(), today)?;
    let generated_at = Utc::now();
    let waiting_before = generated_at - chrono::Duration::minutes(waiting_minutes);

    let mut cells: BTreeMap<Cell, Tally> = BTreeMap::new();
    // Live: the engine's cells the reader sees (the same rule as every read), or SQL's.
    let live = state.live.as_ref().map(|live| {
        live.read(|engine| {
            engine.tenant(viewer.tenant_id).map(|t| t.live_cells(waiting_before.timestamp_micros())).unwrap_or_default()
        })
    });
    match live {
        Some(live) => {
            for (seat, l) in live {
                let placement = Placement {
                    tenant_id: viewer.tenant_id,
                    team_id: TeamId(seat.team_id),
                    executive_id: seat.executive_id.map(UserId),
                };
                if visibility::can_see(viewer, &placement) {
                    cells.entry((seat.team_id, seat.executive_id)).or_default().add_live(
                        l.open as i64,
                        l.unread as i64,
                        l.waiting as i64,
                        l.waiting_long as i64,
                    );
                }
            }
        }
        None => {
            for (cell, [open, unread, waiting, long]) in store::live_cells(&state.pool, viewer, waiting_before).await? {
                cells.entry(cell).or_default().add_live(open, unread, waiting, long);
            }
        }
    }
    let tallies = store::period(&state.pool, viewer, period).await?;
    for (cell, t) in &tallies.cells {
        cells.entry(*cell).or_default().add(t);
    }

    let (team_names, user_names) = store::names(&state.pool, viewer.tenant_id).await?;
    let mut totals = Tally::default();
    let mut teams: BTreeMap<i64, Tally> = BTreeMap::new();
    let mut executives: BTreeMap<(Option<i64>, Option<i64>), Tally> = BTreeMap::new();
    for ((team, executive), t) in &cells {
        totals.add(t);
        teams.entry(*team).or_default().add(t);
        // An executive's row spans their teams; prospects without one have a row per team.
        let key = match executive {
            Some(e) => (Some(*e), None),
            None => (None, Some(*team)),
        };
        executives.entry(key).or_default().add(t);
    }
    let teams = teams
        .into_iter()
        .map(|(team, t)| ReportRow {
            team_id: Some(team),
            executive_id: None,
            name: team_names.get(&team).cloned().unwrap_or_default(),
            figures: t.figures(),
        })
        .collect();
    let mut executives: Vec<ReportRow> = executives
        .into_iter()
        .map(|((executive, team), t)| ReportRow {
            team_id: team,
            executive_id: executive,
            name: executive.and_then(|e| user_names.get(&e).cloned()).unwrap_or_default(),
            figures: t.figures(),
        })
        .collect();
    // People by name, then each team's prospects without an executive.
    executives.sort_by(|a, b| {
        (a.executive_id.is_none(), &a.name, a.executive_id, a.team_id).cmp(&(
            b.executive_id.is_none(),
            &b.name,
            b.executive_id,
            b.team_id,
        ))
    });
    let days = tallies
        .days
        .into_iter()
        .map(|d| ReportDay {
            day: d.day,
            messages_in: d.messages_in,
            messages_out: d.messages_out,
            new_prospects: d.new_prospects,
        })
        .collect();
    Ok(Json(Report {
        time_zone,
        from: period.from,
        to: period.to,
        waiting_minutes,
        generated_at,
        response_bounds_secs: RESPONSE_BOUNDS.to_vec(),
        totals: totals.figures(),
        teams,
        executives,
        days,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeZoneInput {
    /// An IANA time zone, e.g. `America/Mexico_City`.
    pub time_zone: String,
}

/// Sets the tenant's time zone (admins): report days become local days there, the past ones
/// included (the counters are summed again in the new zone).
#[utoipa::path(put, path = "/reports/time-zone", tag = "reports", request_body = TimeZoneInput,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn set_time_zone(
    State(state): State<AppState>,
    admin: Admin,
    Json(input): Json<TimeZoneInput>,
) -> ApiResult<StatusCode> {
    store::set_time_zone(&state.pool, admin.viewer().tenant_id, input.time_zone.trim()).await?;
    Ok(StatusCode::NO_CONTENT)
}
