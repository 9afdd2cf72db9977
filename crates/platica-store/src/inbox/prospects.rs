//! Prospects (leads): who they are, where they sit (team, executive), and reassignment.
//!
//! Every read and write goes through the visibility rule: a prospect the viewer cannot see is
//! "not found". Creating a prospect also opens its WhatsApp conversation, in one transaction.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use platica_domain::policy::{self, Capability};
use platica_domain::search::Query;
use platica_domain::visibility::{self, Denied, Placement};
use platica_domain::{ProspectId, Role, TeamId, TenantId, UserId, Viewer};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};

use crate::error::{StoreError, StoreResult};
use crate::org::{teams, users};

/// The stages a prospect moves through.
pub const STAGES: [&str; 6] = ["new", "contacted", "interested", "negotiating", "won", "lost"];

#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Prospect {
    pub prospect_id: i64,
    pub name: String,
    /// E.164; `null` for a prospect WhatsApp shows only by its business-scoped user id.
    pub phone: Option<String>,
    /// WhatsApp's business-scoped user id (`US.1349…`), when known.
    pub bsuid: Option<String>,
    pub team_id: i64,
    pub executive_id: Option<i64>,
    pub stage: String,
    /// The prospect's WhatsApp conversation.
    pub conversation_id: Option<i64>,
    /// Contact e-mail, lower-cased.
    pub email: Option<String>,
    /// Free notes about the prospect (at most 4,000 characters).
    pub notes: Option<String>,
    /// Values of the tenant's contact fields (`GET /prospect-fields`), by key; a field without a
    /// value is absent.
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub custom: sqlx::types::Json<BTreeMap<String, String>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Prospect {
    pub fn placement(&self, tenant: TenantId) -> Placement {
        Placement { tenant_id: tenant, team_id: TeamId(self.team_id), executive_id: self.executive_id.map(UserId) }
    }
}

const SELECT: &str = "SELECT p.prospect_id, p.name, p.phone, p.bsuid, p.team_id, p.executive_id, p.stage,
        p.created_at, p.updated_at, p.email, p.notes,
        (SELECT coalesce(jsonb_object_agg(f.key, v.value), '{}'::jsonb) FROM prospect_field_values v
           JOIN prospect_fields f ON f.tenant_id = v.tenant_id AND f.field_id = v.field_id
          WHERE v.tenant_id = p.tenant_id AND v.prospect_id = p.prospect_id) AS custom,
        (SELECT c.conversation_id FROM conversations c
          WHERE c.tenant_id = p.tenant_id AND c.prospect_id = p.prospect_id AND c.channel = 'whatsapp') AS conversation_id
    FROM prospects p";

/// Pushes `AND <visibility of alias for viewer>` with the viewer's ids bound: the SQL form of
/// the one visibility rule ([`visibility::sql_predicate`]).
pub(crate) fn push_visible(qb: &mut QueryBuilder<Postgres>, viewer: &Viewer, alias: &str) {
    qb.push(" AND ");
    for part in visibility::sql_predicate(viewer.role, alias) {
        match part {
            visibility::SqlPart::Sql(s) => qb.push(s),
            visibility::SqlPart::TenantParam => qb.push_bind(viewer.tenant_id.0),
            visibility::SqlPart::UserParam => qb.push_bind(viewer.user_id.0),
        };
    }
}

/// Pushes `AND <prospect alias matches the search q>`: the SQL form of
/// [`platica_domain::search`] over the keys of migration 0028 (`platica_name_key`,
/// `platica_phone_key`), which its trigram indexes answer.
pub(crate) fn push_search(qb: &mut QueryBuilder<Postgres>, q: &str, alias: &str) {
    let query = Query::parse(q);
    let patterns = query.like_patterns();
    match query {
        Query::Nothing => {
            qb.push(" AND false");
        }
        Query::Phone(_) => {
            for p in patterns {
                qb.push(format!(" AND platica_phone_key({alias}.phone) LIKE ")).push_bind(p);
            }
        }
        Query::Words(_) => {
            for p in patterns {
                qb.push(format!(" AND platica_name_key({alias}.name) LIKE ")).push_bind(p);
            }
        }
    }
}

/// Filters for listing prospects.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ProspectFilter {
    /// Words starting words of the name (case and accents aside), or a phone's digits, in local
    /// or international form (see `platica_domain::search`).
    pub q: Option<String>,
    pub team_id: Option<i64>,
    pub executive_id: Option<i64>,
    pub stage: Option<String>,
}

pub(crate) fn push_filter(qb: &mut QueryBuilder<Postgres>, f: &ProspectFilter) {
    if let Some(q) = f.q.as_deref().filter(|q| !q.is_empty()) {
        push_search(qb, q, "p");
    }
    if let Some(t) = f.team_id {
        qb.push(" AND p.team_id = ").push_bind(t);
    }
    if let Some(e) = f.executive_id {
        qb.push(" AND p.executive_id = ").push_bind(e);
    }
    if let Some(s) = &f.stage {
        qb.push(" AND p.stage = ").push_bind(s.clone());
    }
}

/// One page of visible prospects matching `filter`, newest first; `after` is the last id seen.
pub async fn list(
    pool: &PgPool,
    viewer: &Viewer,
    filter: &ProspectFilter,
    after: Option<ProspectId>,
    limit: i64,
) -> StoreResult<Vec<Prospect>> {
    let mut qb = QueryBuilder::new(SELECT);
    qb.push(" WHERE true");
    push_visible(&mut qb, viewer, "p");
    push_filter(&mut qb, filter);
    if let Some(a) = after {
        qb.push(" AND p.prospect_id < ").push_bind(a.0);
    }
    qb.push(" ORDER BY p.prospect_id DESC LIMIT ").push_bind(limit);
    Ok(qb.build_query_as().fetch_all(pool).await?)
}

/// A visible prospect, or not-found.
pub async fn get(conn: &mut PgConnection, viewer: &Viewer, id: ProspectId) -> StoreResult<Prospect> {
    fetch(conn, viewer, id, false).await
}

async fn fetch(conn: &mut PgConnection, viewer: &Viewer, id: ProspectId, for_update: bool) -> StoreResult<Prospect> {
    let mut qb = QueryBuilder::new(SELECT);
    qb.push(" WHERE p.prospect_id = ").push_bind(id.0);
    push_visible(&mut qb, viewer, "p");
    if for_update {
        qb.push(" FOR UPDATE OF p");
    }
    let row: Option<Prospect> = qb.build_query_as().fetch_optional(conn).await?;
    row.ok_or_else(|| StoreError::not_found("prospect"))
}

fn denied(d: Denied) -> StoreError {
    match d {
        Denied::NotVisible => StoreError::not_found("prospect"),
        Denied::Forbidden(m) => StoreError::Forbidden(m),
    }
}

/// A prospect to create (validated).
pub struct NewProspect {
    pub name: String,
    pub phone: String,
    pub team_id: TeamId,
    pub executive_id: Option<UserId>,
    pub stage: String,
}

pub async fn create(pool: &PgPool, viewer: &Viewer, new: &NewProspect) -> StoreResult<Prospect> {
    visibility::can_create_prospect(viewer, new.team_id, new.executive_id).map_err(denied)?;
    let mut tx = pool.begin().await?;
    teams::ensure_exist(&mut tx, viewer.tenant_id, &[new.team_id], "team_id").await?;
    if let Some(exec) = new.executive_id {
        users::ensure_assignable(&mut tx, viewer.tenant_id, exec, "executive_id").await?;
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO prospects (tenant_id, name, phone, team_id, executive_id, stage)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING prospect_id",
    )
    .bind(viewer.tenant_id.0)
    .bind(&new.name)
    .bind(&new.phone)
    .bind(new.team_id.0)
    .bind(new.executive_id.map(|e| e.0))
    .bind(&new.stage)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO conversations (tenant_id, prospect_id) VALUES ($1, $2)")
        .bind(viewer.tenant_id.0)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO assignment_history (tenant_id, prospect_id, to_team_id, to_executive_id, actor_user_id, kind)
         VALUES ($1, $2, $3, $4, $5, 'single')",
    )
    .bind(viewer.tenant_id.0)
    .bind(id)
    .bind(new.team_id.0)
    .bind(new.executive_id.map(|e| e.0))
    .bind(viewer.user_id.0)
    .execute(&mut *tx)
    .await?;
    let created = fetch(&mut tx, viewer, ProspectId(id), false).await?;
    tx.commit().await?;
    Ok(created)
}

/// Changes to a prospect's own fields (not its placement: see [`reassign`]).
#[derive(Default)]
pub struct ProspectChanges {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub stage: Option<String>,
    /// `Some(None)` clears the e-mail.
    pub email: Option<Option<String>>,
    /// `Some(None)` clears the notes.
    pub notes: Option<Option<String>>,
    /// Contact field values by field id (checked against their definitions); `None` clears one.
    pub custom: Vec<(i64, Option<String>)>,
}

pub async fn update(pool: &PgPool, viewer: &Viewer, id: ProspectId, ch: &ProspectChanges) -> StoreResult<Prospect> {
    let mut tx = pool.begin().await?;
    fetch(&mut tx, viewer, id, true).await?;
    sqlx::query(
        "UPDATE prospects SET name = coalesce($3, name), phone = coalesce($4, phone),
                stage = coalesce($5, stage),
                email = CASE WHEN $6 THEN $7 ELSE email END,
                notes = CASE WHEN $8 THEN $9 ELSE notes END, updated_at = now()
         WHERE tenant_id = $1 AND prospect_id = $2",
    )
    .bind(viewer.tenant_id.0)
    .bind(id.0)
    .bind(&ch.name)
    .bind(&ch.phone)
    .bind(&ch.stage)
    .bind(ch.email.is_some())
    .bind(ch.email.clone().flatten())
    .bind(ch.notes.is_some())
    .bind(ch.notes.clone().flatten())
    .execute(&mut *tx)
    .await?;
    for (field_id, value) in &ch.custom {
        match value {
            Some(v) => {
                sqlx::query(
                    "INSERT INTO prospect_field_values (tenant_id, prospect_id, field_id, value) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (tenant_id, prospect_id, field_id) DO UPDATE SET value = excluded.value, updated_at = now()",
                )
                .bind(viewer.tenant_id.0)
                .bind(id.0)
                .bind(field_id)
                .bind(v)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query(
                    "DELETE FROM prospect_field_values WHERE tenant_id = $1 AND prospect_id = $2 AND field_id = $3",
                )
                .bind(viewer.tenant_id.0)
                .bind(id.0)
                .bind(field_id)
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    let updated = fetch(&mut tx, viewer, id, false).await?;
    tx.commit().await?;
    Ok(updated)
}

/// Deletes a prospect with its conversations and messages (admins and coordinators).
pub async fn delete(pool: &PgPool, viewer: &Viewer, id: ProspectId) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    let p = fetch(&mut tx, viewer, id, true).await?;
    visibility::can_delete_prospect(viewer, &p.placement(viewer.tenant_id)).map_err(denied)?;
    sqlx::query("DELETE FROM prospects WHERE tenant_id = $1 AND prospect_id = $2")
        .bind(viewer.tenant_id.0)
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Where to move prospects. `executive_id: Some(None)` unassigns; `None` keeps the executive.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    pub team_id: Option<TeamId>,
    pub executive_id: Option<Option<UserId>>,
}

async fn check_target(conn: &mut PgConnection, viewer: &Viewer, target: &Target) -> StoreResult<()> {
    if target.team_id.is_none() && target.executive_id.is_none() {
        return Err(platica_domain::validate::Invalid::new("team_id", "give team_id, executive_id or both").into());
    }
    if let Some(team) = target.team_id {
        teams::ensure_exist(conn, viewer.tenant_id, &[team], "team_id").await?;
    }
    if let Some(Some(exec)) = target.executive_id {
        users::ensure_assignable(conn, viewer.tenant_id, exec, "executive_id").await?;
    }
    Ok(())
}

/// A row of assignment history.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Assignment {
    pub assignment_id: i64,
    pub prospect_id: i64,
    pub from_team_id: Option<i64>,
    pub to_team_id: i64,
    pub from_executive_id: Option<i64>,
    pub to_executive_id: Option<i64>,
    pub actor_user_id: Option<i64>,
    pub batch_id: Option<i64>,
    pub kind: String,
    pub created_at: DateTime<Utc>,
}

/// Moves one prospect; writes one history row. Returns the prospect as it now is.
pub async fn reassign(pool: &PgPool, viewer: &Viewer, id: ProspectId, target: &Target) -> StoreResult<Prospect> {
    let mut tx = pool.begin().await?;
    let current = fetch(&mut tx, viewer, id, true).await?;
    let to_team = target.team_id.unwrap_or(TeamId(current.team_id));
    visibility::can_reassign(viewer, &current.placement(viewer.tenant_id), to_team).map_err(denied)?;
    check_target(&mut tx, viewer, target).await?;
    let to_exec = target.executive_id.unwrap_or(current.executive_id.map(UserId));
    sqlx::query(
        "UPDATE prospects SET team_id = $3, executive_id = $4, updated_at = now()
         WHERE tenant_id = $1 AND prospect_id = $2",
    )
    .bind(viewer.tenant_id.0)
    .bind(id.0)
    .bind(to_team.0)
    .bind(to_exec.map(|e| e.0))
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO assignment_history
            (tenant_id, prospect_id, from_team_id, to_team_id, from_executive_id, to_executive_id, actor_user_id, kind)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'single')",
    )
    .bind(viewer.tenant_id.0)
    .bind(id.0)
    .bind(current.team_id)
    .bind(to_team.0)
    .bind(current.executive_id)
    .bind(to_exec.map(|e| e.0))
    .bind(viewer.user_id.0)
    .execute(&mut *tx)
    .await?;
    // The viewer may have moved the prospect out of their own sight (a coordinator moving it to
    // an executive is still fine; the team is checked above). Read it back as the tenant.
    let updated = fetch(&mut tx, &as_admin(viewer), id, false).await?;
    tx.commit().await?;
    Ok(updated)
}

fn as_admin(viewer: &Viewer) -> Viewer {
    Viewer { role: Role::Admin, teams: Default::default(), ..viewer.clone() }
}

/// Which prospects a bulk reassignment takes.
#[derive(Clone, Debug)]
pub enum Selection {
    /// Exactly these; every one must be visible, else nothing happens.
    Ids(Vec<ProspectId>),
    /// Every visible prospect matching the filter.
    Filter(ProspectFilter),
}

/// Largest number of prospects one bulk reassignment may move.
pub const BULK_MAX: usize = 50_000;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct BulkOutcome {
    /// Shared by every history row this reassignment wrote.
    pub batch_id: i64,
    /// Prospects selected.
    pub matched: u64,
    /// Prospects whose team or executive changed (one history row each).
    pub moved: u64,
    /// Prospects already at the target.
    pub unchanged: u64,
}

/// Moves many prospects in one transaction: all or nothing.
pub async fn bulk_reassign(
    pool: &PgPool,
    viewer: &Viewer,
    selection: &Selection,
    target: &Target,
) -> StoreResult<BulkOutcome> {
    if !policy::may(viewer, Capability::BulkReassign) {
        return Err(StoreError::Forbidden("executives may not reassign prospects"));
    }
    if let Some(team) = target.team_id
        && !policy::may_move_into(viewer, team)
    {
        return Err(StoreError::Forbidden("coordinators may only move prospects into teams they coordinate"));
    }
    let mut tx = pool.begin().await?;
    check_target(&mut tx, viewer, target).await?;

    // Lock the selected, visible rows in a stable order (no deadlock with a concurrent bulk move).
    let mut qb = QueryBuilder::new("SELECT p.prospect_id, p.team_id, p.executive_id FROM prospects p WHERE true");
    push_visible(&mut qb, viewer, "p");
    match selection {
        Selection::Ids(ids) => {
            let ids: Vec<i64> = ids.iter().map(|i| i.0).collect();
            qb.push(" AND p.prospect_id = ANY(").push_bind(ids).push(")");
        }
        Selection::Filter(f) => push_filter(&mut qb, f),
    }
    qb.push(" ORDER BY p.prospect_id LIMIT ").push_bind(BULK_MAX as i64 + 1).push(" FOR UPDATE OF p");
    let rows: Vec<(i64, i64, Option<i64>)> = qb.build_query_as().fetch_all(&mut *tx).await?;

    if rows.len() > BULK_MAX {
        return Err(platica_domain::validate::Invalid::new(
            "filter",
            format!("more than {BULK_MAX} prospects match: narrow the filter"),
        )
        .into());
    }
    if let Selection::Ids(ids) = selection {
        let distinct: std::collections::BTreeSet<i64> = ids.iter().map(|i| i.0).collect();
        if rows.len() != distinct.len() {
            let found: std::collections::BTreeSet<i64> = rows.iter().map(|r| r.0).collect();
            let missing: Vec<String> = distinct.difference(&found).take(10).map(i64::to_string).collect();
            return Err(StoreError::NotFound {
                message: format!("prospects not found: {}", missing.join(", ")),
                field: Some("prospect_ids"),
            });
        }
    }
    let batch_id: i64 = sqlx::query_scalar("SELECT nextval('assignment_batch_seq')").fetch_one(&mut *tx).await?;
    let (mut ids, mut from_teams, mut from_execs, mut to_teams, mut to_execs) =
        (vec![], vec![], vec![], vec![], vec![]);
    for (id, team, exec) in &rows {
        let to_team = target.team_id.map(|t| t.0).unwrap_or(*team);
        let to_exec = match target.executive_id {
            Some(e) => e.map(|e| e.0),
            None => *exec,
        };
        if (to_team, to_exec) != (*team, *exec) {
            ids.push(*id);
            from_teams.push(*team);
            from_execs.push(*exec);
            to_teams.push(to_team);
            to_execs.push(to_exec);
        }
    }
    sqlx::query(
        "UPDATE prospects p SET team_id = m.to_team, executive_id = m.to_exec, updated_at = now()
         FROM unnest($2::bigint[], $3::bigint[], $4::bigint[]) AS m(id, to_team, to_exec)
         WHERE p.tenant_id = $1 AND p.prospect_id = m.id",
    )
    .bind(viewer.tenant_id.0)
    .bind(&ids)
    .bind(&to_teams)
    .bind(&to_execs)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO assignment_history
            (tenant_id, prospect_id, from_team_id, to_team_id, from_executive_id, to_executive_id, actor_user_id, batch_id, kind)
         SELECT $1, m.id, m.from_team, m.to_team, m.from_exec, m.to_exec, $7, $8, 'bulk'
         FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])
              AS m(id, from_team, to_team, from_exec, to_exec)",
    )
    .bind(viewer.tenant_id.0)
    .bind(&ids)
    .bind(&from_teams)
    .bind(&to_teams)
    .bind(&from_execs)
    .bind(&to_execs)
    .bind(viewer.user_id.0)
    .bind(batch_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let moved = ids.len() as u64;
    Ok(BulkOutcome { batch_id, matched: rows.len() as u64, moved, unchanged: rows.len() as u64 - moved })
}

/// The assignment history of a visible prospect, newest first.
pub async fn history(pool: &PgPool, viewer: &Viewer, id: ProspectId) -> StoreResult<Vec<Assignment>> {
    let mut conn = pool.acquire().await?;
    get(&mut conn, viewer, id).await?;
    Ok(sqlx::query_as(
        "SELECT assignment_id, prospect_id, from_team_id, to_team_id, from_executive_id, to_executive_id,
                actor_user_id, batch_id, kind, created_at
         FROM assignment_history WHERE tenant_id = $1 AND prospect_id = $2
         ORDER BY created_at DESC, assignment_id DESC LIMIT 500",
    )
    .bind(viewer.tenant_id.0)
    .bind(id.0)
    .fetch_all(&mut *conn)
    .await?)
}
