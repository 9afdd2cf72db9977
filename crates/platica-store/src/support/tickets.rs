//! Support tickets and their comments.
//!
//! Anyone opens a ticket; a ticket is seen by its opener, its assignee and the tenant's admins
//! ([`platica_domain::support`]); only admins change its status or assignee (an admin). The
//! notifications a ticket causes are written by triggers in the same transaction (migration 0007).

use chrono::{DateTime, Utc};
use platica_domain::policy::{self, Capability};
use platica_domain::support::ticket_predicate;
use platica_domain::visibility::SqlPart;
use platica_domain::{Role, TenantId, Viewer};
use serde::Serialize;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};

use crate::error::{StoreError, StoreResult};

pub const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];
pub const STATUSES: [&str; 4] = ["open", "in_progress", "resolved", "closed"];

#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Ticket {
    pub ticket_id: i64,
    pub opened_by: i64,
    pub subject: String,
    pub body: String,
    pub priority: String,
    pub status: String,
    pub assignee_id: Option<i64>,
    pub comment_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Comment {
    pub comment_id: i64,
    pub ticket_id: i64,
    pub author_id: i64,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

const SELECT: &str = "SELECT t.ticket_id, t.opened_by, t.subject, t.body, t.priority, t.status, t.assignee_id,
        (SELECT count(*) FROM ticket_comments c WHERE c.tenant_id = t.tenant_id AND c.ticket_id = t.ticket_id) AS comment_count,
        t.created_at, t.updated_at
    FROM tickets t WHERE ";

fn push_visible(qb: &mut QueryBuilder<Postgres>, viewer: &Viewer) {
    for part in ticket_predicate(viewer.role, "t") {
        match part {
            SqlPart::Sql(s) => qb.push(s),
            SqlPart::TenantParam => qb.push_bind(viewer.tenant_id.0),
            SqlPart::UserParam => qb.push_bind(viewer.user_id.0),
        };
    }
}

/// Filters for listing tickets.
#[derive(Clone, Debug, Default)]
pub struct TicketFilter {
    pub status: Option<String>,
    pub priority: Option<String>,
    pub assignee_id: Option<i64>,
    pub opened_by: Option<i64>,
}

/// Visible tickets, newest first.
pub async fn list(pool: &PgPool, viewer: &Viewer, f: &TicketFilter, limit: i64) -> StoreResult<Vec<Ticket>> {
    let mut qb = QueryBuilder::new(SELECT);
    push_visible(&mut qb, viewer);
    if let Some(s) = &f.status {
        qb.push(" AND t.status = ").push_bind(s.clone());
    }
    if let Some(p) = &f.priority {
        qb.push(" AND t.priority = ").push_bind(p.clone());
    }
    if let Some(a) = f.assignee_id {
        qb.push(" AND t.assignee_id = ").push_bind(a);
    }
    if let Some(o) = f.opened_by {
        qb.push(" AND t.opened_by = ").push_bind(o);
    }
    qb.push(" ORDER BY t.ticket_id DESC LIMIT ").push_bind(limit);
    Ok(qb.build_query_as().fetch_all(pool).await?)
}

async fn fetch(conn: &mut PgConnection, viewer: &Viewer, id: i64, for_update: bool) -> StoreResult<Ticket> {
    let mut qb = QueryBuilder::new(SELECT);
    push_visible(&mut qb, viewer);
    qb.push(" AND t.ticket_id = ").push_bind(id);
    if for_update {
        qb.push(" FOR UPDATE OF t");
    }
    let row: Option<Ticket> = qb.build_query_as().fetch_optional(conn).await?;
    row.ok_or_else(|| StoreError::not_found("ticket"))
}

/// A visible ticket and its comments, oldest first.
pub async fn get(pool: &PgPool, viewer: &Viewer, id: i64) -> StoreResult<(Ticket, Vec<Comment>)> {
    let mut conn = pool.acquire().await?;
    let ticket = fetch(&mut conn, viewer, id, false).await?;
    let comments = sqlx::query_as(
        "SELECT comment_id, ticket_id, author_id, body, created_at FROM ticket_comments
          WHERE tenant_id = $1 AND ticket_id = $2 ORDER BY comment_id",
    )
    .bind(viewer.tenant_id.0)
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok((ticket, comments))
}

async fn check_admin(conn: &mut PgConnection, tenant: TenantId, user: i64) -> StoreResult<()> {
    let role: Option<String> =
        sqlx::query_scalar("SELECT role FROM users WHERE tenant_id = $1 AND user_id = $2 AND active")
            .bind(tenant.0)
            .bind(user)
            .fetch_optional(conn)
            .await?;
    match role.as_deref() {
        Some(r) if Role::parse(r).is_some_and(policy::takes_tickets) => Ok(()),
        Some(_) => Err(StoreError::Refused {
            code: "not_an_admin",
            message: "tickets are assigned to admins".into(),
            field: Some("assignee_id"),
            params: vec![],
        }),
        None => Err(StoreError::missing_ref("assignee", "assignee_id")),
    }
}

/// A new ticket (validated).
#[derive(Clone, Debug)]
pub struct NewTicket {
    pub subject: String,
    pub body: String,
    pub priority: String,
    pub assignee_id: Option<i64>,
}

/// Opens a ticket. Only admins may assign it on creation.
pub async fn create(pool: &PgPool, viewer: &Viewer, new: &NewTicket) -> StoreResult<Ticket> {
    let mut tx = pool.begin().await?;
    if let Some(a) = new.assignee_id {
        if !policy::may(viewer, Capability::ManageTickets) {
            return Err(StoreError::Forbidden("only admins assign tickets"));
        }
        check_admin(&mut tx, viewer.tenant_id, a).await?;
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO tickets (tenant_id, opened_by, subject, body, priority, assignee_id, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $2) RETURNING ticket_id",
    )
    .bind(viewer.tenant_id.0)
    .bind(viewer.user_id.0)
    .bind(&new.subject)
    .bind(&new.body)
    .bind(&new.priority)
    .bind(new.assignee_id)
    .fetch_one(&mut *tx)
    .await?;
    let t = fetch(&mut tx, viewer, id, false).await?;
    tx.commit().await?;
    Ok(t)
}

/// Changes to a ticket.
#[derive(Clone, Debug, Default)]
pub struct TicketChanges {
    pub status: Option<String>,
    /// `Some(None)` unassigns.
    pub assignee_id: Option<Option<i64>>,
    pub priority: Option<String>,
}

/// Changes a visible ticket's status, assignee or priority: admins only.
pub async fn update(pool: &PgPool, viewer: &Viewer, id: i64, ch: &TicketChanges) -> StoreResult<Ticket> {
    let mut tx = pool.begin().await?;
    fetch(&mut tx, viewer, id, true).await?;
    if !policy::may(viewer, Capability::ManageTickets) {
        return Err(StoreError::Forbidden("only admins change a ticket's status, priority or assignee"));
    }
    if let Some(Some(a)) = ch.assignee_id {
        check_admin(&mut tx, viewer.tenant_id, a).await?;
    }
    sqlx::query(
        "UPDATE tickets SET status = coalesce($3, status), priority = coalesce($4, priority),
             assignee_id = CASE WHEN $5 THEN $6 ELSE assignee_id END, updated_by = $7, updated_at = now()
         WHERE tenant_id = $1 AND ticket_id = $2",
    )
    .bind(viewer.tenant_id.0)
    .bind(id)
    .bind(&ch.status)
    .bind(&ch.priority)
    .bind(ch.assignee_id.is_some())
    .bind(ch.assignee_id.flatten())
    .bind(viewer.user_id.0)
    .execute(&mut *tx)
    .await?;
    let t = fetch(&mut tx, viewer, id, false).await?;
    tx.commit().await?;
    Ok(t)
}

/// Comments on a visible ticket.
pub async fn comment(pool: &PgPool, viewer: &Viewer, id: i64, body: &str) -> StoreResult<Comment> {
    let mut tx = pool.begin().await?;
    fetch(&mut tx, viewer, id, true).await?;
    let c: Comment = sqlx::query_as(
        "INSERT INTO ticket_comments (tenant_id, ticket_id, author_id, body) VALUES ($1, $2, $3, $4)
         RETURNING comment_id, ticket_id, author_id, body, created_at",
    )
    .bind(viewer.tenant_id.0)
    .bind(id)
    .bind(viewer.user_id.0)
    .bind(body)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("UPDATE tickets SET updated_at = now() WHERE tenant_id = $1 AND ticket_id = $2")
        .bind(viewer.tenant_id.0)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(c)
}
