//! Verification: the live engine against the SQL reference inbox, at the same LSN.
//!
//! The method: pause the engine; create a temporary replication slot, whose exported snapshot
//! holds exactly the transactions committed below its consistent point `C`; recompute every
//! inbox row in SQL inside that snapshot; emit a transactional marker (so a transaction at or past
//! `C` follows); let the engine apply everything committed below `C` and compare it there, before
//! the first transaction at or past `C`. Both sides then describe the same instant.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};

use pg_walstream::{LogicalReplicationStream, ReplicationSlotOptions, ReplicationStreamConfig};
use platica_domain::inbox::InboxRow;
use platica_domain::policy;
use platica_domain::visibility::{Placement, can_see};
use platica_domain::{Role, TeamId, TenantId, UserId, Viewer};
use platica_inbox::{Engine, Filter, Row};
use sqlx::{Connection, PgConnection};

use crate::live::{LiveInbox, MARKER_PREFIX, StreamError};

/// The outcome of a verification.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Report {
    /// The LSN both sides were compared at.
    pub lsn: String,
    pub tenants: usize,
    pub conversations: usize,
    pub users: usize,
    /// Every difference found (at most [`MAX_DIFFERENCES`] are listed).
    pub differences: Vec<String>,
    /// Differences found in all (may exceed the listed ones).
    pub difference_count: usize,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.difference_count == 0
    }
}

/// The most differences a report lists.
pub const MAX_DIFFERENCES: usize = 200;

/// What the SQL side computed.
struct Reference {
    rows: BTreeMap<TenantId, Vec<InboxRow>>,
    viewers: Vec<Viewer>,
}

static NEXT_SLOT: AtomicU32 = AtomicU32::new(1);

/// Compares the engine with the SQL reference for `only` one tenant, or all tenants.
///
/// Concurrent calls take turns (each waits for the one before it), so each caller gets its own
/// report: the engine runs one comparison at a time.
/// An active user as the verification reads them: whom each viewer is.
#[derive(sqlx::FromRow)]
struct ViewerRow {
    tenant_id: i64,
    user_id: i64,
    role: String,
    teams: Vec<i64>,
}

pub async fn verify(live: &LiveInbox, only: Option<TenantId>) -> Result<Report, StreamError> {
    let _turn = live.verifying.lock().await;
    // A degraded engine is not following the database: comparing it would only say "stale".
    if let Some(since) = live.stale_since() {
        return Err(StreamError::Setup(format!(
            "the live inbox is not following the change stream since {since} (it is reconnecting): \
             it cannot be verified until it is live again"
        )));
    }
    live.pause().await?;
    let prepared = prepare(live, only).await;
    let (lsn, reference) = match prepared {
        Ok(p) => p,
        Err(e) => {
            live.resume();
            return Err(e);
        }
    };
    live.run_at(lsn, move |engine| compare(engine, &reference, lsn)).await
}

async fn prepare(live: &LiveInbox, only: Option<TenantId>) -> Result<(u64, Reference), StreamError> {
    let config = live.config();
    let slot = format!("platica_verify_{}_{}", std::process::id(), NEXT_SLOT.fetch_add(1, Ordering::Relaxed));
    let side_config = ReplicationStreamConfig::builder(slot.clone(), config.publication.clone()).with_slot_options(
        ReplicationSlotOptions { temporary: true, snapshot: Some("export".into()), ..Default::default() },
    );
    let sep = if config.database_url.contains('?') { '&' } else { '?' };
    let mut side =
        LogicalReplicationStream::new(&format!("{}{sep}replication=database", config.database_url), side_config)
            .await?;
    side.ensure_replication_slot().await?;
    let snapshot = side
        .exported_snapshot_name()
        .ok_or_else(|| StreamError::Setup("the verification slot exported no snapshot".into()))?
        .to_owned();

    let mut conn = PgConnection::connect(&config.database_url).await?;
    let lsn_text: String =
        sqlx::query_scalar("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1")
            .bind(&slot)
            .fetch_one(&mut conn)
            .await?;
    let lsn = crate::lsn::parse(&lsn_text)
        .ok_or_else(|| StreamError::Setup(format!("unreadable consistent point {lsn_text:?}")))?;

    let mut tx = conn.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SET TRANSACTION SNAPSHOT '{}'", snapshot.replace('\'', "''"))))
        .execute(&mut *tx)
        .await?;
    let tenants: Vec<i64> =
        sqlx::query_scalar("SELECT tenant_id FROM tenants WHERE $1::bigint IS NULL OR tenant_id = $1")
            .bind(only.map(|t| t.0))
            .fetch_all(&mut *tx)
            .await?;
    let mut rows = BTreeMap::new();
    for t in &tenants {
        let r = platica_store::inbox::conversations::reference_rows(&mut tx, TenantId(*t))
            .await
            .map_err(|e| StreamError::Setup(format!("reference inbox: {e}")))?;
        rows.insert(TenantId(*t), r);
    }
    let users: Vec<ViewerRow> = sqlx::query_as(
        "SELECT u.tenant_id, u.user_id, u.role,
                ARRAY(SELECT ct.team_id FROM coordinator_teams ct
                      WHERE ct.tenant_id = u.tenant_id AND ct.user_id = u.user_id) AS teams
         FROM users u WHERE u.active AND ($1::bigint IS NULL OR u.tenant_id = $1)",
    )
    .bind(only.map(|t| t.0))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let viewers = users
        .into_iter()
        .filter_map(|u| {
            let role = Role::parse(&u.role)?;
            Some(Viewer {
                tenant_id: TenantId(u.tenant_id),
                user_id: UserId(u.user_id),
                role,
                teams: if policy::coordinates_teams(role) {
                    u.teams.into_iter().map(TeamId).collect()
                } else {
                    BTreeSet::new()
                },
            })
        })
        .collect();
    // The temporary slot goes with its connection.
    drop(side);
    // A transaction committed past the consistent point, so the engine reaches it.
    sqlx::query("SELECT pg_logical_emit_message(true, $1, '')").bind(MARKER_PREFIX).execute(&mut conn).await?;
    conn.close().await?;
    Ok((lsn, Reference { rows, viewers }))
}

/// The fields of a row as both sides must agree on them.
fn engine_fields(r: &Row) -> Vec<(&'static str, String)> {
    let last = r.last_message.as_ref();
    vec![
        ("conversation_id", r.conversation_id.to_string()),
        ("prospect_id", r.prospect_id.to_string()),
        ("prospect_name", r.prospect_name.clone()),
        ("prospect_phone", format!("{:?}", r.prospect_phone)),
        ("team_id", r.team_id.to_string()),
        ("executive_id", format!("{:?}", r.executive_id)),
        ("channel", r.channel.clone()),
        ("status", r.status.as_str().to_owned()),
        ("snoozed_until", format!("{:?}", r.snoozed_until)),
        ("priority", platica_domain::inbox::priority_name(r.priority).to_owned()),
        ("label_ids", format!("{:?}", r.labels)),
        ("last_message_id", format!("{:?}", last.map(|l| l.message_id))),
        ("last_message_preview", format!("{:?}", last.map(|l| l.preview.to_string()))),
        ("last_message_at", format!("{:?}", last.map(|l| l.at))),
        ("last_message_direction", format!("{:?}", last.map(|l| l.direction.as_str()))),
        ("last_message_sender", format!("{:?}", last.map(|l| l.sender.as_str()))),
        ("last_activity_at", r.last_activity_at.to_string()),
        ("unread_count", r.unread_count.to_string()),
        ("message_count", r.message_count.to_string()),
        ("bot_paused", r.bot_paused.to_string()),
        ("created_at", r.created_at.to_string()),
    ]
}

fn sql_fields(r: &InboxRow) -> Vec<(&'static str, String)> {
    vec![
        ("conversation_id", r.conversation_id.to_string()),
        ("prospect_id", r.prospect_id.to_string()),
        ("prospect_name", r.prospect_name.clone()),
        ("prospect_phone", format!("{:?}", r.prospect_phone)),
        ("team_id", r.team_id.to_string()),
        ("executive_id", format!("{:?}", r.executive_id)),
        ("channel", r.channel.clone()),
        ("status", r.status.clone()),
        ("snoozed_until", format!("{:?}", r.snoozed_until.map(|t| t.timestamp_micros()))),
        ("priority", r.priority.clone()),
        ("label_ids", format!("{:?}", r.label_ids)),
        ("last_message_id", format!("{:?}", r.last_message_id)),
        ("last_message_preview", format!("{:?}", r.last_message_preview)),
        ("last_message_at", format!("{:?}", r.last_message_at.map(|t| t.timestamp_micros()))),
        ("last_message_direction", format!("{:?}", r.last_message_direction.as_deref())),
        ("last_message_sender", format!("{:?}", r.last_message_sender.as_deref())),
        ("last_activity_at", r.last_activity_at.timestamp_micros().to_string()),
        ("unread_count", r.unread_count.to_string()),
        ("message_count", r.message_count.to_string()),
        ("bot_paused", r.bot_paused.to_string()),
        ("created_at", r.created_at.timestamp_micros().to_string()),
    ]
}

fn compare(engine: &Engine, reference: &Reference, lsn: u64) -> Report {
    let mut report = Report {
        lsn: crate::lsn::format(lsn),
        tenants: reference.rows.len(),
        users: reference.viewers.len(),
        ..Report::default()
    };
    let differ = |report: &mut Report, text: String| {
        report.difference_count += 1;
        if report.differences.len() < MAX_DIFFERENCES {
            report.differences.push(text);
        }
    };
    for (tenant, expected) in &reference.rows {
        report.conversations += expected.len();
        let got = engine.tenant(*tenant).map(|t| t.rows()).unwrap_or_default();
        if got.len() != expected.len() {
            differ(
                &mut report,
                format!("tenant {tenant}: engine has {} inbox rows, SQL {}", got.len(), expected.len()),
            );
        }
        let got_by_id: BTreeMap<i64, &Row> = got.iter().map(|r| (r.conversation_id, r)).collect();
        for (pos, e) in expected.iter().enumerate() {
            let Some(g) = got_by_id.get(&e.conversation_id) else {
                differ(
                    &mut report,
                    format!("tenant {tenant}: conversation {} missing from the engine", e.conversation_id),
                );
                continue;
            };
            for ((name, gv), (_, ev)) in engine_fields(g).into_iter().zip(sql_fields(e)) {
                if gv != ev {
                    differ(
                        &mut report,
                        format!("tenant {tenant}: conversation {} {name}: engine {gv}, SQL {ev}", e.conversation_id),
                    );
                }
            }
            if got.get(pos).map(|r| r.conversation_id) != Some(e.conversation_id) {
                differ(
                    &mut report,
                    format!(
                        "tenant {tenant}: position {pos}: engine has conversation {:?}, SQL {}",
                        got.get(pos).map(|r| r.conversation_id),
                        e.conversation_id
                    ),
                );
            }
        }
        let expected_ids: BTreeSet<i64> = expected.iter().map(|r| r.conversation_id).collect();
        for extra in got.iter().filter(|r| !expected_ids.contains(&r.conversation_id)) {
            differ(
                &mut report,
                format!("tenant {tenant}: conversation {} is in the engine only", extra.conversation_id),
            );
        }
    }
    // Each user's inbox: what the visibility rule gives on the SQL rows, against the engine.
    for v in &reference.viewers {
        let rows = reference.rows.get(&v.tenant_id).map(Vec::as_slice).unwrap_or_default();
        let visible: Vec<&InboxRow> = rows
            .iter()
            .filter(|r| {
                can_see(
                    v,
                    &Placement {
                        tenant_id: v.tenant_id,
                        team_id: TeamId(r.team_id),
                        executive_id: r.executive_id.map(UserId),
                    },
                )
            })
            .collect();
        let unread = visible.iter().filter(|r| r.unread_count > 0).count();
        let page =
            engine.tenant(v.tenant_id).map(|t| t.page(v.user_id.0, &Filter::default(), None, 1)).unwrap_or_default();
        if (page.total, page.unread) != (visible.len(), unread) {
            differ(
                &mut report,
                format!(
                    "tenant {}: user {} ({}) sees {} conversations ({} unread) in the engine, {} ({} unread) by SQL",
                    v.tenant_id,
                    v.user_id,
                    v.role,
                    page.total,
                    page.unread,
                    visible.len(),
                    unread
                ),
            );
        }
        if page.rows.first().map(|r| r.conversation_id) != visible.first().map(|r| r.conversation_id) {
            differ(&mut report, format!("tenant {}: user {}: first inbox row differs", v.tenant_id, v.user_id));
        }
    }
    report
}
