//! Writing the demo tenant: staff through the store (so passwords are hashed as for any user),
//! bulk data (prospects, conversations, messages, history) in one transaction with multi-row
//! `INSERT ... SELECT FROM unnest(...)` statements.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use platica_domain::{TeamId, TenantId, UserId};
use platica_store::PgPool;
use platica_store::org::users::NewUser;
use sqlx::{Postgres, Transaction};

use crate::DemoInfo;
use crate::info;
use crate::plan::{self, Plan, Sender};
use crate::roster::{self, EXECUTIVES, TEAMS, TENANT_NAME, TENANT_SLUG};

/// Rows per bulk statement.
const CHUNK: usize = 10_000;

/// Seeds the demo tenant unless it exists; see [`crate::seed`].
pub async fn seed(pool: &PgPool) -> anyhow::Result<DemoInfo> {
    let started = Instant::now();
    if let Some(tenant) =
        platica_store::org::tenants::find_by_slug(pool, TENANT_SLUG).await.context("looking for the demo tenant")?
    {
        if finished(pool, tenant).await? {
            tracing::info!(tenant_id = tenant.0, "the demo tenant already exists: keeping its data");
            return info::load(pool, tenant).await;
        }
        // Staff are created before the bulk transaction: a run stopped in between leaves a tenant
        // with users and no prospects. Nothing but the seed wrote there: start over.
        tracing::warn!(tenant_id = tenant.0, "the demo tenant was left half-seeded: removing it and seeding again");
        sqlx::query("DELETE FROM tenants WHERE tenant_id = $1")
            .bind(tenant.0)
            .execute(pool)
            .await
            .context("removing the half-seeded demo tenant")?;
    }

    // The plan is CPU work: make it on a blocking thread while the staff's passwords are hashed.
    let planning = tokio::task::spawn_blocking(|| plan::generate(plan::SEED, plan::PROSPECTS));

    let tenant = platica_store::org::tenants::create(pool, TENANT_SLUG, TENANT_NAME)
        .await
        .context("creating the demo tenant")?;
    // A Mexican sales team: its report days are Mexico City's.
    platica_store::reports::set_time_zone(pool, tenant, "America/Mexico_City")
        .await
        .context("setting the demo tenant's time zone")?;
    let mut teams = Vec::with_capacity(TEAMS.len());
    for name in TEAMS {
        let team = platica_store::org::teams::create(pool, tenant, name)
            .await
            .with_context(|| format!("creating team {name}"))?;
        teams.push(TeamId(team.team_id));
    }
    let mut staff_ids = Vec::new();
    for staff in roster::everyone() {
        let team_ids: Vec<TeamId> = match staff.role {
            platica_domain::Role::Coordinator => staff.teams.iter().map(|&t| teams[t]).collect(),
            _ => Vec::new(),
        };
        let user = platica_store::org::users::create(
            pool,
            tenant,
            &NewUser {
                email: staff.email,
                display_name: staff.name,
                role: staff.role,
                operational: staff.operational,
                password: staff.password(),
                team_ids: &team_ids,
            },
        )
        .await
        .with_context(|| format!("creating user {}", staff.email))?;
        staff_ids.push(UserId(user.user_id));
    }
    let admin = staff_ids[0];
    let executives = &staff_ids[1 + roster::COORDINATORS.len()..];
    debug_assert_eq!(executives.len(), EXECUTIVES.len());

    let plan = planning.await.context("planning the demo data")?;
    let mut tx = pool.begin().await.context("starting the seed transaction")?;
    write(&mut tx, tenant, &teams, admin, executives, &plan).await?;
    tx.commit().await.context("committing the demo data")?;

    let info = info::load(pool, tenant).await?;
    tracing::info!(
        tenant_id = tenant.0,
        prospects = info.prospects,
        messages = info.messages,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "seeded the demo tenant"
    );
    Ok(info)
}

/// Whether the bulk transaction of an earlier seed committed.
async fn finished(pool: &PgPool, tenant: TenantId) -> anyhow::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM prospects WHERE tenant_id = $1)
             OR EXISTS (SELECT 1 FROM system_config WHERE tenant_id = $1 AND key = 'app_version')",
    )
    .bind(tenant.0)
    .fetch_one(pool)
    .await
    .context("checking the demo tenant")
}

const INSERT_PROSPECTS: &str = "
    INSERT INTO prospects (tenant_id, name, phone, team_id, executive_id, stage, created_at, updated_at)
    SELECT $1, u.name, u.phone, u.team_id, u.executive_id, u.stage, u.created_at, u.created_at
    FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::timestamptz[])
         WITH ORDINALITY AS u(name, phone, team_id, executive_id, stage, created_at, ord)
    ORDER BY u.ord
    RETURNING phone, prospect_id";

const INSERT_CONVERSATIONS: &str = "
    INSERT INTO conversations (tenant_id, prospect_id, status, created_at, updated_at)
    SELECT $1, u.prospect_id, u.status, u.created_at, u.updated_at
    FROM unnest($2::bigint[], $3::text[], $4::timestamptz[], $5::timestamptz[])
         WITH ORDINALITY AS u(prospect_id, status, created_at, updated_at, ord)
    ORDER BY u.ord
    RETURNING prospect_id, conversation_id";

const INSERT_MESSAGES: &str = "
    INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, sender_user_id, body, external_id,
                          status, created_at, read_at)
    SELECT $1, u.conversation_id, u.direction, u.sender_kind, u.sender_user_id, u.body, u.external_id,
           u.status, u.created_at, u.read_at
    FROM unnest($2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[],
                $9::timestamptz[], $10::timestamptz[])
         WITH ORDINALITY AS u(conversation_id, direction, sender_kind, sender_user_id, body, external_id, status,
                              created_at, read_at, ord)
    ORDER BY u.ord";

const INSERT_HISTORY: &str = "
    INSERT INTO assignment_history (tenant_id, prospect_id, to_team_id, to_executive_id, actor_user_id, kind, created_at)
    SELECT $1, u.prospect_id, u.team_id, u.executive_id, $2, 'single', u.created_at
    FROM unnest($3::bigint[], $4::bigint[], $5::bigint[], $6::timestamptz[])
         WITH ORDINALITY AS u(prospect_id, team_id, executive_id, created_at, ord)
    ORDER BY u.ord";

/// Writes the plan's rows, and dates the tenant, its teams and staff before the data.
async fn write(
    tx: &mut Transaction<'static, Postgres>,
    tenant: TenantId,
    teams: &[TeamId],
    admin: UserId,
    executives: &[UserId],
    plan: &Plan,
) -> anyhow::Result<()> {
    let exec_id = |e: Option<usize>| e.map(|e| executives[e].0);

    // Prospects. Their ids come back keyed by phone (unique), whatever order RETURNING uses.
    let mut prospect_ids: HashMap<String, i64> = HashMap::with_capacity(plan.prospects.len());
    for chunk in plan.prospects.chunks(CHUNK) {
        let names: Vec<&str> = chunk.iter().map(|p| p.name.as_str()).collect();
        let phones: Vec<&str> = chunk.iter().map(|p| p.phone.as_str()).collect();
        let team_ids: Vec<i64> = chunk.iter().map(|p| teams[p.team].0).collect();
        let exec_ids: Vec<Option<i64>> = chunk.iter().map(|p| exec_id(p.executive)).collect();
        let stages: Vec<&str> = chunk.iter().map(|p| p.stage).collect();
        let created: Vec<DateTime<Utc>> = chunk.iter().map(|p| p.created_at).collect();
        let rows: Vec<(String, i64)> = sqlx::query_as(INSERT_PROSPECTS)
            .bind(tenant.0)
            .bind(&names)
            .bind(&phones)
            .bind(&team_ids)
            .bind(&exec_ids)
            .bind(&stages)
            .bind(&created)
            .fetch_all(&mut **tx)
            .await
            .context("inserting prospects")?;
        prospect_ids.extend(rows);
    }
    let prospect_ids: Vec<i64> = plan
        .prospects
        .iter()
        .map(|p| prospect_ids.get(&p.phone).copied().with_context(|| format!("no id came back for {}", p.phone)))
        .collect::<anyhow::Result<_>>()?;

    // Conversations, one per prospect.
    let mut conversation_ids: HashMap<i64, i64> = HashMap::with_capacity(prospect_ids.len());
    for (chunk, ids) in plan.prospects.chunks(CHUNK).zip(prospect_ids.chunks(CHUNK)) {
        let statuses: Vec<&str> = chunk.iter().map(|p| if p.closed { "closed" } else { "open" }).collect();
        let created: Vec<DateTime<Utc>> = chunk.iter().map(|p| p.created_at).collect();
        let updated: Vec<DateTime<Utc>> = chunk.iter().map(|p| p.last_at()).collect();
        let rows: Vec<(i64, i64)> = sqlx::query_as(INSERT_CONVERSATIONS)
            .bind(tenant.0)
            .bind(ids)
            .bind(&statuses)
            .bind(&created)
            .bind(&updated)
            .fetch_all(&mut **tx)
            .await
            .context("inserting conversations")?;
        conversation_ids.extend(rows);
    }

    // Messages, oldest first within each conversation.
    let mut flat = Vec::with_capacity(plan.message_count());
    for (p, prospect_id) in plan.prospects.iter().zip(&prospect_ids) {
        let conversation = conversation_ids
            .get(prospect_id)
            .copied()
            .with_context(|| format!("no conversation came back for prospect {prospect_id}"))?;
        let sender_user = exec_id(p.executive);
        flat.extend(p.messages.iter().map(|m| (conversation, sender_user, m)));
    }
    for chunk in flat.chunks(CHUNK) {
        let conversations: Vec<i64> = chunk.iter().map(|(c, _, _)| *c).collect();
        let directions: Vec<&str> = chunk.iter().map(|(_, _, m)| m.sender.direction()).collect();
        let kinds: Vec<&str> = chunk.iter().map(|(_, _, m)| m.sender.kind()).collect();
        let senders: Vec<Option<i64>> =
            chunk.iter().map(|(_, u, m)| if m.sender == Sender::Executive { *u } else { None }).collect();
        let bodies: Vec<&str> = chunk.iter().map(|(_, _, m)| m.body.as_str()).collect();
        let external: Vec<Option<&str>> = chunk.iter().map(|(_, _, m)| m.external_id.as_deref()).collect();
        let statuses: Vec<&str> = chunk.iter().map(|(_, _, m)| m.status).collect();
        let created: Vec<DateTime<Utc>> = chunk.iter().map(|(_, _, m)| m.at).collect();
        let read: Vec<Option<DateTime<Utc>>> = chunk.iter().map(|(_, _, m)| m.read_at).collect();
        sqlx::query(INSERT_MESSAGES)
            .bind(tenant.0)
            .bind(&conversations)
            .bind(&directions)
            .bind(&kinds)
            .bind(&senders)
            .bind(&bodies)
            .bind(&external)
            .bind(&statuses)
            .bind(&created)
            .bind(&read)
            .execute(&mut **tx)
            .await
            .context("inserting messages")?;
    }

    // One history row per prospect: the admin assigned it when it came in.
    for (chunk, ids) in plan.prospects.chunks(CHUNK).zip(prospect_ids.chunks(CHUNK)) {
        let team_ids: Vec<i64> = chunk.iter().map(|p| teams[p.team].0).collect();
        let exec_ids: Vec<Option<i64>> = chunk.iter().map(|p| exec_id(p.executive)).collect();
        let created: Vec<DateTime<Utc>> = chunk.iter().map(|p| p.created_at).collect();
        sqlx::query(INSERT_HISTORY)
            .bind(tenant.0)
            .bind(admin.0)
            .bind(ids)
            .bind(&team_ids)
            .bind(&exec_ids)
            .bind(&created)
            .execute(&mut **tx)
            .await
            .context("inserting assignment history")?;
    }
    // That history is months old: the notifications its trigger just wrote (one per prospect,
    // "assigned to you") would greet every executive with a bell at 99+. Live activity after the
    // seed notifies as usual.
    sqlx::query("DELETE FROM notifications WHERE tenant_id = $1")
        .bind(tenant.0)
        .execute(&mut **tx)
        .await
        .context("clearing the backfill's notifications")?;

    let app_version = serde_json::json!({"version": "1.0.0", "force_update": false});
    platica_store::config::validate_value("app_version", &app_version)
        .map_err(|e| anyhow::anyhow!("invalid app_version: {e}"))?;
    let reference = plan::reference();
    sqlx::query(
        "INSERT INTO system_config (tenant_id, key, value, updated_by, updated_at)
         VALUES ($1, 'app_version', $2, $3, $4)",
    )
    .bind(tenant.0)
    .bind(&app_version)
    .bind(admin.0)
    .bind(reference)
    .execute(&mut **tx)
    .await
    .context("writing app_version")?;

    // The organisation predates its data: date it, its teams and staff before the window.
    let founded = reference - Duration::days(plan::WINDOW_DAYS + 30);
    for sql in [
        "UPDATE tenants SET created_at = $2 WHERE tenant_id = $1",
        "UPDATE teams SET created_at = $2 WHERE tenant_id = $1",
        "UPDATE users SET created_at = $2, updated_at = $2 WHERE tenant_id = $1",
    ] {
        sqlx::query(sql).bind(tenant.0).bind(founded).execute(&mut **tx).await.context("dating the demo tenant")?;
    }
    Ok(())
}
