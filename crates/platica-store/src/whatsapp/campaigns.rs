//! WhatsApp campaigns: an approved template sent to a segment of the creator's visible
//! prospects, scheduled or now, through the outbox every other outbound message uses.
//!
//! Admins and coordinators create campaigns; an admin sees every campaign of the tenant, a
//! coordinator the ones they created. Recipients are fixed at creation. The dispatcher
//! ([`dispatch_chunk`]) turns pending recipients into messages and outbox rows in small chunks
//! (one transaction each: recipient `queued` ⇔ message and outbox row written), keeping the
//! account's outbox backlog short so executives' replies are not stuck behind a campaign; the
//! sender's per-number rate limits the pace.

use chrono::{DateTime, Utc};
use platica_domain::policy::{self, Capability};
use platica_domain::{TenantId, Viewer};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool, QueryBuilder};

use crate::error::{StoreError, StoreResult};
use crate::inbox::prospects::{ProspectFilter, push_filter, push_visible};
use crate::whatsapp::outbox::{self, Route, TemplateSend};
use crate::whatsapp::templates;

/// Most recipients one campaign may have.
pub const MAX_RECIPIENTS: i64 = 100_000;

#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Campaign {
    pub campaign_id: i64,
    pub name: String,
    pub channel_account_id: i64,
    pub template_name: String,
    pub template_language: String,
    #[schema(value_type = Vec<String>)]
    pub parameters: Value,
    pub created_by: i64,
    /// `scheduled`, `running`, `paused`, `completed` or `cancelled`.
    pub status: String,
    pub scheduled_at: DateTime<Utc>,
    /// At most this many of its messages go to WhatsApp in any minute (`null`: as fast as the
    /// number's rate allows).
    pub max_per_minute: Option<i32>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "campaign_id, name, channel_account_id, template_name, template_language, parameters,
    created_by, status, scheduled_at, max_per_minute, started_at, finished_at, created_at";

/// Recipients by delivery state, counted from the recipients and their messages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Progress {
    pub total: i64,
    /// Not yet handed to the outbox.
    pub pending: i64,
    /// In the outbox, not yet accepted by WhatsApp.
    pub queued: i64,
    pub sent: i64,
    pub delivered: i64,
    pub read: i64,
    pub failed: i64,
    pub skipped: i64,
    pub cancelled: i64,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CampaignView {
    #[serde(flatten)]
    pub campaign: Campaign,
    pub progress: Progress,
}

/// Who receives a campaign.
#[derive(Clone, Debug)]
pub enum Segment {
    /// The creator's visible prospects matching a filter.
    Filter(ProspectFilter),
    /// These prospects (each must be visible to the creator).
    List(Vec<i64>),
}

pub struct NewCampaign {
    pub name: String,
    /// `None`: the tenant's first account.
    pub channel_account_id: Option<i64>,
    pub template: TemplateSend,
    pub segment: Segment,
    pub scheduled_at: Option<DateTime<Utc>>,
    /// At most this many messages a minute (`None`: the number's own pace).
    pub max_per_minute: Option<i32>,
}

fn may_run_campaigns(viewer: &Viewer) -> StoreResult<()> {
    if policy::may(viewer, Capability::RunCampaigns) {
        Ok(())
    } else {
        Err(StoreError::Forbidden("only admins and coordinators run campaigns"))
    }
}

/// Why a prospect the segment matches is left out, before anything is written: SQL over `p`,
/// true for a prospect who stopped the business's marketing messages (WhatsApp refused a template
/// to them with 131050; migration 0031 indexes exactly those failures).
const OPTED_OUT: &str = "EXISTS (SELECT 1 FROM conversations oc JOIN messages om
        ON om.tenant_id = oc.tenant_id AND om.conversation_id = oc.conversation_id
        AND om.status = 'failed' AND om.direction = 'out' AND (om.error ->> 'code') = '131050'
     WHERE oc.tenant_id = p.tenant_id AND oc.prospect_id = p.prospect_id)";

/// `FROM prospects p WHERE ...`: the prospects a segment matches as the viewer sees them. The
/// preview counts over it and creation inserts from it, so the two cannot drift apart.
fn push_segment(qb: &mut QueryBuilder<sqlx::Postgres>, viewer: &Viewer, segment: &Segment) {
    qb.push(" FROM prospects p WHERE true");
    push_visible(qb, viewer, "p");
    qb.push(" AND p.tenant_id = ").push_bind(viewer.tenant_id.0);
    match segment {
        Segment::Filter(f) => push_filter(qb, f),
        Segment::List(ids) => {
            qb.push(" AND p.prospect_id = ANY(").push_bind(ids.clone()).push(")");
        }
    }
}

/// Who a campaign would reach, counted the way creation fixes its recipients.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Preview {
    /// Exactly the recipients the campaign gets if created now: the prospects the segment
    /// matches, less the opted-out, each once.
    pub recipients: i64,
    /// Prospects the segment matches (each once).
    pub matched: i64,
    /// Left out, by reason.
    pub excluded: Excluded,
    /// The number it would send from.
    pub channel_account_id: i64,
    pub template_name: String,
    pub template_language: String,
    /// The template's text as a prospect named "Ana López" would read it.
    pub sample: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Excluded {
    /// Matched prospects who stopped the business's marketing messages (WhatsApp error 131050
    /// on an earlier template).
    pub opted_out: i64,
    /// Prospect ids listed more than once (each gets one message).
    pub duplicates: i64,
}

/// Checks a campaign as it would be created (template, number, segment) and counts it.
async fn resolve(conn: &mut PgConnection, viewer: &Viewer, new: &NewCampaign) -> StoreResult<Preview> {
    may_run_campaigns(viewer)?;
    let tenant = viewer.tenant_id;
    // The template must exist and take these parameters (placeholders render per recipient).
    let probe = TemplateSend {
        params: new.template.params.iter().map(|p| personalise(p, "Ana López")).collect(),
        ..new.template.clone()
    };
    let sample = templates::prepare(&mut *conn, tenant, &probe).await?;
    let account: Option<i64> = sqlx::query_scalar(
        "SELECT channel_account_id FROM channel_accounts WHERE tenant_id = $1 AND ($2::bigint IS NULL OR channel_account_id = $2)
         ORDER BY channel_account_id LIMIT 1",
    )
    .bind(tenant.0)
    .bind(new.channel_account_id)
    .fetch_optional(&mut *conn)
    .await?;
    let account = account.ok_or_else(|| match new.channel_account_id {
        Some(_) => StoreError::missing_ref("channel account", "channel_account_id"),
        None => StoreError::Refused {
            code: "no_channel",
            message: "this tenant has no WhatsApp number to send from".to_owned(),
            field: None,
            params: vec![],
        },
    })?;
    let mut qb = QueryBuilder::new(format!("SELECT count(*), count(*) FILTER (WHERE {OPTED_OUT})"));
    push_segment(&mut qb, viewer, &new.segment);
    let (matched, opted_out): (i64, i64) = qb.build_query_as().fetch_one(&mut *conn).await?;
    let mut duplicates = 0;
    if let Segment::List(ids) = &new.segment {
        let distinct = ids.iter().collect::<std::collections::BTreeSet<_>>().len() as i64;
        if matched < distinct {
            return Err(StoreError::missing_ref("prospect (some listed prospects)", "prospect_ids"));
        }
        duplicates = ids.len() as i64 - distinct;
    }
    let recipients = matched - opted_out;
    if recipients > MAX_RECIPIENTS {
        return Err(platica_domain::validate::Invalid::new(
            "segment",
            format!("a campaign reaches at most {MAX_RECIPIENTS} prospects: narrow the segment"),
        )
        .into());
    }
    Ok(Preview {
        recipients,
        matched,
        excluded: Excluded { opted_out, duplicates },
        channel_account_id: account,
        template_name: new.template.name.clone(),
        template_language: new.template.language.clone(),
        sample,
    })
}

/// What creating this campaign would do, without doing it: the exact recipient count and what is
/// left out (nothing is written; a segment nobody matches counts 0 rather than failing).
pub async fn preview(pool: &PgPool, viewer: &Viewer, new: &NewCampaign) -> StoreResult<Preview> {
    let mut conn = pool.acquire().await?;
    resolve(&mut conn, viewer, new).await
}

/// Creates a campaign and fixes its recipients: the prospects [`preview`] counts, inserted by the
/// same segment query. With `confirm_count` (the count the user confirmed), a segment that has
/// changed since is refused (`recipients_changed`, with the new `count`) and nothing is created.
pub async fn create(
    pool: &PgPool,
    viewer: &Viewer,
    new: &NewCampaign,
    confirm_count: Option<i64>,
) -> StoreResult<CampaignView> {
    let tenant = viewer.tenant_id;
    let mut tx = pool.begin().await?;
    let preview = resolve(&mut tx, viewer, new).await?;
    let sql = format!(
        "INSERT INTO campaigns (tenant_id, name, channel_account_id, template_name, template_language, parameters,
             created_by, scheduled_at, max_per_minute)
         VALUES ($1, $2, $3, $4, $5, $6, $7, coalesce($8, now()), $9) RETURNING {COLUMNS}"
    );
    let campaign: Campaign = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant.0)
        .bind(&new.name)
        .bind(preview.channel_account_id)
        .bind(&new.template.name)
        .bind(&new.template.language)
        .bind(json!(new.template.params))
        .bind(viewer.user_id.0)
        .bind(new.scheduled_at)
        .bind(new.max_per_minute)
        .fetch_one(&mut *tx)
        .await?;
    let mut qb =
        QueryBuilder::new("INSERT INTO campaign_recipients (tenant_id, campaign_id, prospect_id) SELECT p.tenant_id, ");
    qb.push_bind(campaign.campaign_id).push(", p.prospect_id");
    push_segment(&mut qb, viewer, &new.segment);
    qb.push(format!(" AND NOT {OPTED_OUT}"));
    qb.push(" ORDER BY p.prospect_id LIMIT ").push_bind(MAX_RECIPIENTS + 1);
    let added = qb.build().execute(&mut *tx).await?.rows_affected() as i64;
    if added > MAX_RECIPIENTS {
        return Err(platica_domain::validate::Invalid::new(
            "segment",
            format!("a campaign reaches at most {MAX_RECIPIENTS} prospects: narrow the segment"),
        )
        .into());
    }
    if added == 0 {
        return Err(platica_domain::validate::Invalid::new("segment", "no visible prospect matches").into());
    }
    if let Some(confirmed) = confirm_count
        && confirmed != added
    {
        return Err(StoreError::Refused {
            code: "recipients_changed",
            message: format!(
                "the segment now reaches {added} prospects, not the {confirmed} confirmed: review it again"
            ),
            field: Some("confirm_count"),
            params: vec![("count", added.to_string())],
        });
    }
    tx.commit().await?;
    tracing::info!(
        tenant_id = tenant.0,
        campaign_id = campaign.campaign_id,
        recipients = added,
        opted_out = preview.excluded.opted_out,
        max_per_minute = new.max_per_minute,
        "campaign created"
    );
    let progress = progress(pool, tenant, campaign.campaign_id).await?;
    Ok(CampaignView { campaign, progress })
}

/// `{name}` and `{first_name}` in a parameter become the recipient's.
pub fn personalise(param: &str, name: &str) -> String {
    let first = name.split_whitespace().next().unwrap_or(name);
    param.replace("{first_name}", first).replace("{name}", name)
}

fn push_mine(qb: &mut QueryBuilder<sqlx::Postgres>, viewer: &Viewer) {
    qb.push(" WHERE tenant_id = ").push_bind(viewer.tenant_id.0);
    if !policy::sees_every_campaign(viewer.role) {
        qb.push(" AND created_by = ").push_bind(viewer.user_id.0);
    }
}

/// The campaigns the viewer sees, newest first.
pub async fn list(pool: &PgPool, viewer: &Viewer) -> StoreResult<Vec<Campaign>> {
    may_run_campaigns(viewer)?;
    let mut qb = QueryBuilder::new(format!("SELECT {COLUMNS} FROM campaigns"));
    push_mine(&mut qb, viewer);
    qb.push(" ORDER BY campaign_id DESC LIMIT 200");
    Ok(qb.build_query_as().fetch_all(pool).await?)
}

/// One campaign the viewer sees, with its progress counted now.
pub async fn get(pool: &PgPool, viewer: &Viewer, id: i64) -> StoreResult<CampaignView> {
    may_run_campaigns(viewer)?;
    let mut qb = QueryBuilder::new(format!("SELECT {COLUMNS} FROM campaigns"));
    push_mine(&mut qb, viewer);
    qb.push(" AND campaign_id = ").push_bind(id);
    let campaign: Campaign =
        qb.build_query_as().fetch_optional(pool).await?.ok_or_else(|| StoreError::not_found("campaign"))?;
    let progress = progress(pool, viewer.tenant_id, id).await?;
    Ok(CampaignView { campaign, progress })
}

/// Counts recipients by state, delivery state from their messages.
pub async fn progress(pool: &PgPool, tenant: TenantId, id: i64) -> StoreResult<Progress> {
    Ok(sqlx::query_as(
        "SELECT count(*) AS total,
                count(*) FILTER (WHERE r.state = 'pending') AS pending,
                count(*) FILTER (WHERE r.state = 'queued' AND m.status = 'queued') AS queued,
                count(*) FILTER (WHERE r.state = 'queued' AND m.status = 'sent') AS sent,
                count(*) FILTER (WHERE r.state = 'queued' AND m.status = 'delivered') AS delivered,
                count(*) FILTER (WHERE r.state = 'queued' AND m.status IN ('read', 'played')) AS read,
                count(*) FILTER (WHERE r.state = 'queued' AND (m.status = 'failed' OR m.message_id IS NULL)) AS failed,
                count(*) FILTER (WHERE r.state = 'skipped') AS skipped,
                count(*) FILTER (WHERE r.state = 'cancelled') AS cancelled
         FROM campaign_recipients r
         LEFT JOIN messages m ON m.tenant_id = r.tenant_id AND m.message_id = r.message_id
         WHERE r.tenant_id = $1 AND r.campaign_id = $2",
    )
    .bind(tenant.0)
    .bind(id)
    .fetch_one(pool)
    .await?)
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Recipient {
    pub prospect_id: i64,
    /// The prospect's name, while the caller can see the prospect (`null` once it is reassigned
    /// out of their sight).
    pub prospect_name: Option<String>,
    /// `pending`, `queued`, `skipped` or `cancelled`.
    pub state: String,
    pub message_id: Option<i64>,
    /// The message's delivery status: `queued`, `sent`, `delivered`, `read` or `failed`.
    pub status: Option<String>,
    /// Why the recipient was skipped.
    pub error: Option<String>,
    /// Why its message failed (as the message's `error`).
    #[schema(value_type = Option<crate::inbox::messages::MessageError>)]
    pub message_error: Option<sqlx::types::Json<crate::inbox::messages::MessageError>>,
}

/// A page of a visible campaign's recipients, by prospect id.
pub async fn recipients(
    pool: &PgPool,
    viewer: &Viewer,
    id: i64,
    after: Option<i64>,
    limit: i64,
) -> StoreResult<Vec<Recipient>> {
    get(pool, viewer, id).await?;
    let mut qb = QueryBuilder::new(
        "SELECT r.prospect_id, p.name AS prospect_name, r.state, r.message_id, m.status, r.error,
                m.error AS message_error
         FROM campaign_recipients r
         LEFT JOIN messages m ON m.tenant_id = r.tenant_id AND m.message_id = r.message_id
         LEFT JOIN prospects p ON p.tenant_id = r.tenant_id AND p.prospect_id = r.prospect_id",
    );
    push_visible(&mut qb, viewer, "p");
    qb.push(" WHERE r.tenant_id = ").push_bind(viewer.tenant_id.0);
    qb.push(" AND r.campaign_id = ").push_bind(id);
    qb.push(" AND r.prospect_id > ").push_bind(after.unwrap_or(0));
    qb.push(" ORDER BY r.prospect_id LIMIT ").push_bind(limit);
    Ok(qb.build_query_as().fetch_all(pool).await?)
}

/// Pauses, resumes or cancels a visible campaign. Cancelling withdraws what is not yet sent
/// (pending recipients, and queued messages whose outbox row was not claimed).
pub async fn control(pool: &PgPool, viewer: &Viewer, id: i64, action: &str) -> StoreResult<CampaignView> {
    let current = get(pool, viewer, id).await?;
    let (from, to): (&[&str], &str) = match action {
        "pause" => (&["scheduled", "running"], "paused"),
        "resume" => (&["paused"], "running"),
        "cancel" => (&["scheduled", "running", "paused"], "cancelled"),
        _ => return Err(platica_domain::validate::Invalid::new("action", "must be pause, resume or cancel").into()),
    };
    if !from.contains(&current.campaign.status.as_str()) {
        return Err(StoreError::Refused {
            code: "invalid_state",
            message: format!("a {} campaign cannot {action}", current.campaign.status),
            field: None,
            params: vec![],
        });
    }
    let tenant = viewer.tenant_id.0;
    let mut tx = pool.begin().await?;
    sqlx::query(
        // A campaign paused before it started goes back to waiting for its time (the dispatcher
        // starts it when due); one that had started runs again.
        "UPDATE campaigns SET status = CASE WHEN $3 = 'running' AND started_at IS NULL THEN 'scheduled' ELSE $3 END,
                updated_at = now(),
                finished_at = CASE WHEN $3 = 'cancelled' THEN now() ELSE finished_at END
         WHERE tenant_id = $1 AND campaign_id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(to)
    .execute(&mut *tx)
    .await?;
    if to == "cancelled" {
        sqlx::query(
            "UPDATE campaign_recipients SET state = 'cancelled' WHERE tenant_id = $1 AND campaign_id = $2 AND state = 'pending'",
        )
        .bind(tenant)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        // Queued but not claimed by a sender: withdrawn (message and outbox row deleted).
        let withdrawn: Vec<i64> = sqlx::query_scalar(
            "DELETE FROM messages m USING campaign_recipients r, outbox o
             WHERE r.tenant_id = $1 AND r.campaign_id = $2 AND r.state = 'queued'
               AND m.tenant_id = r.tenant_id AND m.message_id = r.message_id
               AND o.tenant_id = m.tenant_id AND o.message_id = m.message_id AND o.state = 'pending'
             RETURNING r.prospect_id",
        )
        .bind(tenant)
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE campaign_recipients SET state = 'cancelled', message_id = NULL
             WHERE tenant_id = $1 AND campaign_id = $2 AND prospect_id = ANY($3)",
        )
        .bind(tenant)
        .bind(id)
        .bind(&withdrawn)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    tracing::info!(tenant_id = tenant, campaign_id = id, action, "campaign {to}");
    get(pool, viewer, id).await
}

/// A campaign the dispatcher works on.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Active {
    pub tenant_id: i64,
    pub campaign_id: i64,
    pub channel_account_id: i64,
    /// The campaign's throttle (messages a minute), if it has one.
    pub max_per_minute: Option<i32>,
}

/// Starts campaigns whose time has come and lists the running ones (all tenants), in one
/// statement over the partial index of active campaigns (migration 0010): the dispatcher asks
/// twice a second, and an idle server must not pay per tenant for it.
pub async fn active(pool: &PgPool) -> StoreResult<Vec<Active>> {
    Ok(sqlx::query_as(
        "WITH started AS (
             UPDATE campaigns SET status = 'running', started_at = now(), updated_at = now()
             WHERE status = 'scheduled' AND scheduled_at <= now()
             RETURNING tenant_id, campaign_id, channel_account_id, max_per_minute
         )
         SELECT tenant_id, campaign_id, channel_account_id, max_per_minute FROM campaigns
         WHERE status = 'running'
         UNION
         SELECT tenant_id, campaign_id, channel_account_id, max_per_minute FROM started
         ORDER BY tenant_id, campaign_id",
    )
    .fetch_all(pool)
    .await?)
}

/// Pending outbox rows of an account (the campaign waits while its number is busy).
pub async fn backlog(pool: &PgPool, tenant: TenantId, account: i64) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE tenant_id = $1 AND channel_account_id = $2 AND state IN ('pending', 'sending')",
    )
    .bind(tenant.0)
    .bind(account)
    .fetch_one(pool)
    .await?)
}

/// How many more messages a throttled campaign may queue now: its limit less its last messages
/// that are still in the outbox (waiting, being sent, retried) or went to WhatsApp within the last
/// minute. A message counts from when it is queued until a minute after its send finished (the
/// request reached WhatsApp before that), so in any minute WhatsApp receives at most the limit of
/// the campaign's messages. Only the campaign's last `limit` messages are read (by index): when all
/// of them count, the minute is full; an older message still waiting for a retry is not counted.
pub async fn throttle_room(pool: &PgPool, c: &Active) -> StoreResult<Option<i64>> {
    let Some(limit) = c.max_per_minute else { return Ok(None) };
    let busy: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (
             SELECT message_id FROM messages WHERE tenant_id = $1 AND campaign_id = $2
             ORDER BY message_id DESC LIMIT $3
         ) last
         JOIN outbox o ON o.tenant_id = $1 AND o.message_id = last.message_id
         WHERE o.finished_at IS NULL OR o.finished_at > now() - interval '1 minute'",
    )
    .bind(c.tenant_id)
    .bind(c.campaign_id)
    .bind(i64::from(limit))
    .fetch_one(pool)
    .await?;
    Ok(Some((i64::from(limit) - busy).max(0)))
}

/// Queues up to `limit` pending recipients of a running campaign: for each, in one transaction
/// with its state change, a message in the prospect's conversation and its outbox row. Returns
/// how many were queued; a campaign with nobody left pending is completed.
pub async fn dispatch_chunk(pool: &PgPool, c: &Active, limit: i64) -> StoreResult<u64> {
    let tenant = TenantId(c.tenant_id);
    let mut tx = pool.begin().await?;
    let running: Option<(String, String, Value)> = sqlx::query_as(
        "SELECT template_name, template_language, parameters FROM campaigns
         WHERE tenant_id = $1 AND campaign_id = $2 AND status = 'running' FOR UPDATE",
    )
    .bind(c.tenant_id)
    .bind(c.campaign_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((name, language, params)) = running else { return Ok(0) };
    let params: Vec<String> = serde_json::from_value(params).unwrap_or_default();
    let due: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT r.prospect_id, p.name, coalesce(substr(p.phone, 2), p.bsuid) FROM campaign_recipients r
         JOIN prospects p ON p.tenant_id = r.tenant_id AND p.prospect_id = r.prospect_id
         WHERE r.tenant_id = $1 AND r.campaign_id = $2 AND r.state = 'pending'
         ORDER BY r.prospect_id LIMIT $3 FOR UPDATE OF r SKIP LOCKED",
    )
    .bind(c.tenant_id)
    .bind(c.campaign_id)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let route_base = Route { channel_account_id: c.channel_account_id, recipient: String::new() };
    let mut queued = 0;
    for (prospect, prospect_name, recipient) in &due {
        let t = TemplateSend {
            name: name.clone(),
            language: language.clone(),
            params: params.iter().map(|p| personalise(p, prospect_name)).collect(),
            header_params: Vec::new(),
        };
        let body = match templates::prepare(&mut tx, tenant, &t).await {
            Ok(b) => b,
            Err(e) => {
                skip(&mut tx, c, *prospect, &e.to_string()).await?;
                continue;
            }
        };
        let (conversation, _) = crate::inbox::conversations::ensure_whatsapp(&mut tx, tenant, *prospect).await?;
        let message: i64 = sqlx::query_scalar(
            "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status, campaign_id)
             VALUES ($1, $2, 'out', 'system', $3, 'queued', $4) RETURNING message_id",
        )
        .bind(c.tenant_id)
        .bind(conversation)
        .bind(&body)
        .bind(c.campaign_id)
        .fetch_one(&mut *tx)
        .await?;
        let route = Route { recipient: recipient.clone(), ..route_base.clone() };
        let payload = outbox::template_payload(&route.recipient, &t);
        outbox::enqueue(&mut tx, tenant, &route, Some(message), "template", &payload, None).await?;
        sqlx::query(
            "UPDATE campaign_recipients SET state = 'queued', message_id = $4, queued_at = now()
             WHERE tenant_id = $1 AND campaign_id = $2 AND prospect_id = $3",
        )
        .bind(c.tenant_id)
        .bind(c.campaign_id)
        .bind(prospect)
        .bind(message)
        .execute(&mut *tx)
        .await?;
        queued += 1;
    }
    if due.is_empty() {
        let left: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM campaign_recipients WHERE tenant_id = $1 AND campaign_id = $2 AND state = 'pending')",
        )
        .bind(c.tenant_id)
        .bind(c.campaign_id)
        .fetch_one(&mut *tx)
        .await?;
        if !left {
            sqlx::query(
                "UPDATE campaigns SET status = 'completed', finished_at = now(), updated_at = now()
                 WHERE tenant_id = $1 AND campaign_id = $2",
            )
            .bind(c.tenant_id)
            .bind(c.campaign_id)
            .execute(&mut *tx)
            .await?;
            // Its creator hears of it (the bell), in the same transaction.
            sqlx::query(
                "INSERT INTO notifications (tenant_id, user_id, kind, title, body, link, params)
                 SELECT tenant_id, created_by, 'campaign_finished', 'Campaign finished: ' || name,
                        queued || ' messages queued', '#/campaigns/' || campaign_id,
                        jsonb_build_object('campaign', name, 'queued', queued)
                 FROM campaigns c,
                      LATERAL (SELECT count(*) AS queued FROM campaign_recipients r
                                WHERE r.tenant_id = c.tenant_id AND r.campaign_id = c.campaign_id
                                  AND r.state = 'queued') q
                 WHERE tenant_id = $1 AND campaign_id = $2",
            )
            .bind(c.tenant_id)
            .bind(c.campaign_id)
            .execute(&mut *tx)
            .await?;
            tracing::info!(tenant_id = c.tenant_id, campaign_id = c.campaign_id, "campaign completed");
        }
    }
    tx.commit().await?;
    Ok(queued)
}

async fn skip(conn: &mut PgConnection, c: &Active, prospect: i64, error: &str) -> StoreResult<()> {
    sqlx::query(
        "UPDATE campaign_recipients SET state = 'skipped', error = $4 WHERE tenant_id = $1 AND campaign_id = $2 AND prospect_id = $3",
    )
    .bind(c.tenant_id)
    .bind(c.campaign_id)
    .bind(prospect)
    .bind(error.chars().take(500).collect::<String>())
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes the progress snapshot of a campaign.
pub async fn snapshot(pool: &PgPool, tenant: TenantId, id: i64) -> StoreResult<Progress> {
    let p = progress(pool, tenant, id).await?;
    sqlx::query("UPDATE campaigns SET progress = $3 WHERE tenant_id = $1 AND campaign_id = $2")
        .bind(tenant.0)
        .bind(id)
        .bind(json!(p))
        .execute(pool)
        .await?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_personalised() {
        assert_eq!(personalise("Hola {first_name}", "Ana María López"), "Hola Ana");
        assert_eq!(personalise("{name}", "Ana López"), "Ana López");
        assert_eq!(personalise("noviembre", "Ana"), "noviembre");
    }
}
