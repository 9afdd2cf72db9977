//! The initial state: every row the engine follows, read inside the snapshot the replication slot
//! exported when it was created, so the state is exactly that of the slot's consistent point.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use platica_domain::{Role, TenantId};
use platica_inbox::Engine;
use platica_inbox::change::{Change, ConversationRow, Direction, MessageRow, ProspectRow, SenderKind, Status, UserRow};
use sqlx::{Connection, PgConnection, Row};

/// How much was loaded, and how long it took.
#[derive(Clone, Debug, Default)]
pub struct LoadStats {
    pub users: u64,
    pub prospects: u64,
    pub conversations: u64,
    pub messages: u64,
    pub millis: u128,
    /// Users, teams, prospects, conversations, labels and bot pauses, read and applied.
    pub structure_millis: u128,
    /// The newest message of each conversation, read and applied.
    pub newest_millis: u128,
    /// The message counts per conversation, on their own connection while the rest loads.
    pub counts_millis: u128,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("loading the initial state: {0}")]
    Database(#[from] sqlx::Error),
    #[error("loading the initial state: {0}")]
    Data(String),
}

/// Message counts per conversation: (messages, unread inbound) by (tenant, conversation).
type Counts = HashMap<(i64, i64), (u32, u32)>;

/// Opens a read-only transaction on a new connection that sees exactly `snapshot`.
async fn in_snapshot(conn: &mut PgConnection, snapshot: &str) -> Result<(), sqlx::Error> {
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *conn).await?;
    // The name comes from the server; quote it anyway.
    let set = format!("SET TRANSACTION SNAPSHOT '{}'", snapshot.replace('\'', "''"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(set)).execute(&mut *conn).await?;
    Ok(())
}

/// Counts every conversation's messages as of `snapshot`: one pass over the table, the longest
/// query of the load, run on a connection of its own while the rest loads.
async fn count_messages(url: String, snapshot: String) -> Result<(Counts, u128), sqlx::Error> {
    let started = Instant::now();
    let mut conn = PgConnection::connect(&url).await?;
    in_snapshot(&mut conn, &snapshot).await?;
    let mut counts = Counts::new();
    let mut rows = sqlx::query(
        "SELECT tenant_id, conversation_id, count(*),
                count(*) FILTER (WHERE direction = 'in' AND read_at IS NULL)
         FROM messages WHERE kind = 'message' GROUP BY tenant_id, conversation_id",
    )
    .fetch(&mut conn);
    while let Some(r) = rows.try_next().await? {
        let (n, unread): (i64, i64) = (r.get(2), r.get(3));
        counts.insert((r.get(0), r.get(1)), (n as u32, unread as u32));
    }
    drop(rows);
    sqlx::query("COMMIT").execute(&mut conn).await?;
    conn.close().await?;
    Ok((counts, started.elapsed().as_millis()))
}

/// A task stopped when its handle is dropped (the count, when the load fails before it).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Loads every followed row as of `snapshot` (an exported snapshot name) into `engine`.
///
/// Two connections share the snapshot: one counts the messages (a pass over the whole table)
/// while the other reads users, teams, prospects, conversations, labels and pauses; then the
/// newest message of each conversation is read and applied with its counts.
pub async fn load(url: &str, snapshot: &str, engine: &mut Engine) -> Result<LoadStats, LoadError> {
    let started = Instant::now();
    let mut counting = AbortOnDrop(tokio::spawn(count_messages(url.to_owned(), snapshot.to_owned())));
    let mut conn = PgConnection::connect(url).await?;
    in_snapshot(&mut conn, snapshot).await?;
    let tx = &mut conn;
    let mut stats = LoadStats::default();

    let mut rows = sqlx::query("SELECT tenant_id, user_id, role FROM users WHERE active").fetch(&mut *tx);
    while let Some(r) = rows.try_next().await? {
        let role: String = r.get(2);
        let role = Role::parse(&role).ok_or_else(|| LoadError::Data(format!("unknown role {role:?}")))?;
        engine.load(&Change::UserUpsert(UserRow { tenant_id: TenantId(r.get(0)), user_id: r.get(1), role }));
        stats.users += 1;
    }
    drop(rows);

    let mut rows = sqlx::query("SELECT tenant_id, user_id, team_id FROM coordinator_teams").fetch(&mut *tx);
    while let Some(r) = rows.try_next().await? {
        let change = Change::CoordinatorTeam {
            tenant_id: TenantId(r.get(0)),
            user_id: r.get(1),
            team_id: r.get(2),
            member: true,
        };
        engine.load(&change);
    }
    drop(rows);

    let mut rows =
        sqlx::query("SELECT tenant_id, prospect_id, name, phone, team_id, executive_id FROM prospects").fetch(&mut *tx);
    while let Some(r) = rows.try_next().await? {
        let p = ProspectRow {
            tenant_id: TenantId(r.get(0)),
            prospect_id: r.get(1),
            name: r.get(2),
            phone: r.get(3),
            team_id: r.get(4),
            executive_id: r.get(5),
        };
        engine.load(&Change::ProspectUpsert(p));
        stats.prospects += 1;
    }
    drop(rows);

    let mut rows = sqlx::query(
        "SELECT tenant_id, conversation_id, prospect_id, channel, status, created_at, snoozed_until, priority
         FROM conversations",
    )
    .fetch(&mut *tx);
    while let Some(r) = rows.try_next().await? {
        let created: DateTime<Utc> = r.get(5);
        let status: String = r.get(4);
        let snoozed: Option<DateTime<Utc>> = r.get(6);
        let priority: i16 = r.get(7);
        let c = ConversationRow {
            tenant_id: TenantId(r.get(0)),
            conversation_id: r.get(1),
            prospect_id: r.get(2),
            channel: r.get(3),
            status: Status::parse(&status).ok_or_else(|| LoadError::Data(format!("unknown status {status:?}")))?,
            snoozed_until: snoozed.map(|t| t.timestamp_micros()),
            priority: u8::try_from(priority).map_err(|_| LoadError::Data(format!("priority {priority}")))?,
            created_at: created.timestamp_micros(),
        };
        engine.load(&Change::ConversationUpsert(c));
        stats.conversations += 1;
    }
    drop(rows);

    let mut rows = sqlx::query("SELECT tenant_id, conversation_id, label_id FROM conversation_labels").fetch(&mut *tx);
    while let Some(r) = rows.try_next().await? {
        let change = Change::ConversationLabel {
            tenant_id: TenantId(r.get(0)),
            conversation_id: r.get(1),
            label_id: r.get(2),
            member: true,
        };
        engine.load(&change);
    }
    drop(rows);

    let mut rows = sqlx::query("SELECT tenant_id, conversation_id, paused FROM bot_pause WHERE paused").fetch(&mut *tx);
    while let Some(r) = rows.try_next().await? {
        let change = Change::BotPause { tenant_id: TenantId(r.get(0)), conversation_id: r.get(1), paused: r.get(2) };
        engine.load(&change);
    }
    drop(rows);

    stats.structure_millis = started.elapsed().as_millis();
    let (mut counts, counts_millis) =
        (&mut counting.0).await.map_err(|e| LoadError::Data(format!("the message count stopped: {e}")))??;
    stats.counts_millis = counts_millis;
    stats.messages = counts.values().map(|(n, _)| u64::from(*n)).sum();

    // The newest message of each conversation: one index probe each.
    let newest_started = Instant::now();
    let mut rows = sqlx::query(
        "SELECT c.tenant_id, c.conversation_id, lm.message_id, lm.direction, lm.sender_kind, lm.body,
                lm.created_at, lm.read
         FROM conversations c
         CROSS JOIN LATERAL (
             SELECT m.message_id, m.direction, m.sender_kind, left(m.body, 120) AS body, m.created_at,
                    m.read_at IS NOT NULL AS read
             FROM messages m WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.conversation_id
               AND m.kind = 'message'
             ORDER BY m.created_at DESC, m.message_id DESC LIMIT 1) lm",
    )
    .fetch(&mut *tx);
    while let Some(r) = rows.try_next().await? {
        let (tenant, conv): (i64, i64) = (r.get(0), r.get(1));
        let direction: String = r.get(3);
        let sender: String = r.get(4);
        let at: DateTime<Utc> = r.get(6);
        let last = MessageRow {
            tenant_id: TenantId(tenant),
            message_id: r.get(2),
            conversation_id: conv,
            direction: if direction == "in" { Direction::In } else { Direction::Out },
            sender_kind: SenderKind::parse(&sender)
                .ok_or_else(|| LoadError::Data(format!("unknown sender kind {sender:?}")))?,
            body: r.get(5),
            created_at: at.timestamp_micros(),
            read: r.get(7),
        };
        let (messages, unread) = counts.remove(&(tenant, conv)).unwrap_or((0, 0));
        let change = Change::ConversationStats {
            tenant_id: TenantId(tenant),
            conversation_id: conv,
            messages,
            unread,
            last: Some(last),
        };
        engine.load(&change);
    }
    drop(rows);
    stats.newest_millis = newest_started.elapsed().as_millis();
    sqlx::query("COMMIT").execute(&mut conn).await?;
    conn.close().await?;
    stats.millis = started.elapsed().as_millis();
    Ok(stats)
}
