//! The SQL alternatives Platica is measured against, each with its best indexes and queries:
//!
//! - (a) `bench_inbox_view`: a plain view of the reference inbox query
//!   (`platica_store::inbox::conversations`), computed live on every read;
//! - (b) `bench_inbox_mv`: the same query as a materialized view with ordering indexes, refreshed
//!   with `REFRESH MATERIALIZED VIEW CONCURRENTLY`;
//! - (c) `bench_inbox_t`: a table kept current by row triggers on messages, prospects,
//!   conversations and bot_pause (the best hand-tuned SQL);
//! - (d) a statement trigger on messages that refreshes (b) on every insert.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use platica_domain::inbox::InboxRow;
use sqlx::{PgConnection, PgPool};

use super::generate::Dataset;
use super::scenario::{PAGE, Role, Viewer, Which};
use crate::stats::{Budget, Rng, Samples, measure};

/// The reference inbox query of `platica_store::inbox::conversations` (every tenant). The bench checks
/// that (a) answers exactly what `conversations::list` answers.
pub const INBOX_ALL: &str = platica_store::inbox::conversations::REFERENCE_INBOX_SQL;

const COLS: &str = "i.conversation_id, i.prospect_id, i.prospect_name, i.prospect_phone, i.team_id, i.executive_id, \
    i.channel, i.status, i.snoozed_until, i.priority, i.label_ids, i.last_message_id, i.last_message_preview, i.last_message_at, i.last_message_direction, \
    i.last_message_sender, i.last_activity_at, i.unread_count, i.message_count, i.bot_paused, i.created_at";

/// The ordering indexes of (b) and (c): keyset pages per scope, counts by index-only scans.
const ORDER_INDEXES: [(&str, &str); 3] = [
    ("all", "(tenant_id, last_activity_at DESC, conversation_id DESC) INCLUDE (unread_count)"),
    ("team", "(tenant_id, team_id, last_activity_at DESC, conversation_id DESC) INCLUDE (unread_count)"),
    ("executive", "(tenant_id, executive_id, last_activity_at DESC, conversation_id DESC) INCLUDE (unread_count)"),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alt {
    View,
    MatView,
    Table,
}

impl Alt {
    pub const ALL: [Alt; 3] = [Alt::View, Alt::MatView, Alt::Table];

    pub fn relation(self) -> &'static str {
        match self {
            Alt::View => "bench_inbox_view",
            Alt::MatView => "bench_inbox_mv",
            Alt::Table => "bench_inbox_t",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Alt::View => "(a) plain view (live SQL)",
            Alt::MatView => "(b) materialized view",
            Alt::Table => "(c) trigger-kept table",
        }
    }
}

/// What each alternative got, for the report.
pub fn descriptions() -> Vec<(String, String)> {
    let order: Vec<String> = ORDER_INDEXES.iter().map(|(_, cols)| format!("`{cols}`")).collect();
    vec![
        (
            Alt::View.label().into(),
            "`CREATE VIEW bench_inbox_view AS <reference query>` (the query of \
             `platica_store::inbox::conversations`, plus `tenant_id`). Indexes: the schema's own, which are \
             the ones this query can use: `messages (tenant_id, conversation_id, created_at DESC, message_id DESC)` \
             (last message, message count), the partial `messages (tenant_id, conversation_id) WHERE direction = 'in' \
             AND read_at IS NULL` (unread count), `prospects (tenant_id, team_id)`, `prospects (tenant_id, executive_id)` \
             and the primary keys. The order is on a computed column, so every read computes every visible row \
             and sorts; no index can avoid that."
                .into(),
        ),
        (
            Alt::MatView.label().into(),
            format!(
                "`CREATE MATERIALIZED VIEW bench_inbox_mv AS <reference query>`; `UNIQUE (tenant_id, conversation_id)` \
                 (required by `REFRESH ... CONCURRENTLY`) and {}; `VACUUM ANALYZE` after building (visibility map \
                 for index-only counts). Same queries as (c).",
                order.join(", ")
            ),
        ),
        (
            Alt::Table.label().into(),
            format!(
                "`bench_inbox_t`, filled from the reference query, kept by AFTER row triggers: messages INSERT \
                 (row-locks the inbox row and updates counts and last message incrementally), messages UPDATE \
                 (read-state change: unread ±1; anything else: recompute the row), messages DELETE (recompute), \
                 prospects UPDATE of name/phone/team/executive (`WHEN` clause), conversations INSERT/UPDATE/DELETE, \
                 bot_pause INSERT/UPDATE/DELETE. Primary key `(tenant_id, conversation_id)`, \
                 `(tenant_id, prospect_id)` for the prospect trigger, and {}. Queries: admin and executive are one \
                 keyset range scan (`(last_activity_at, conversation_id) < ($at, $id) ORDER BY ... LIMIT 51`); the \
                 coordinator's is a `LATERAL` keyset scan per coordinated team merged by a top-51 sort (an \
                 `IN (teams)` list cannot use the index order). Counts: `count(*), count(*) FILTER (WHERE \
                 unread_count > 0)` over the viewer's index range.",
                order.join(", ")
            ),
        ),
        (
            "(d) refresh trigger".into(),
            "`AFTER INSERT ON messages FOR EACH STATEMENT EXECUTE FUNCTION` a function running \
             `REFRESH MATERIALIZED VIEW CONCURRENTLY bench_inbox_mv`: the matview is never stale, every insert \
             pays a full refresh. Only its write cost is measured (reads are (b)'s)."
                .into(),
        ),
    ]
}

/// How long building each alternative took.
#[derive(Clone, Debug, Default)]
pub struct SetupTimes {
    pub mv_build: f64,
    pub mv_indexes: f64,
    pub table_build: f64,
    pub table_indexes: f64,
}

async fn exec(conn: &mut PgConnection, sql: &str) -> anyhow::Result<()> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut *conn).await?;
    Ok(())
}

/// Builds (a), (b), (c) and the trigger functions of (c) and (d) (their triggers are created only
/// while their write cost is measured).
pub async fn setup(conn: &mut PgConnection) -> anyhow::Result<SetupTimes> {
    let mut times = SetupTimes::default();
    exec(conn, &format!("CREATE VIEW bench_inbox_view AS {INBOX_ALL}")).await?;

    let t = Instant::now();
    exec(conn, &format!("CREATE MATERIALIZED VIEW bench_inbox_mv AS {INBOX_ALL}")).await?;
    times.mv_build = t.elapsed().as_secs_f64();
    let t = Instant::now();
    exec(conn, "CREATE UNIQUE INDEX bench_inbox_mv_key ON bench_inbox_mv (tenant_id, conversation_id)").await?;
    for (name, cols) in ORDER_INDEXES {
        exec(conn, &format!("CREATE INDEX bench_inbox_mv_{name} ON bench_inbox_mv {cols}")).await?;
    }
    exec(conn, "VACUUM ANALYZE bench_inbox_mv").await?;
    times.mv_indexes = t.elapsed().as_secs_f64();

    let t = Instant::now();
    exec(conn, &format!("CREATE TABLE bench_inbox_t AS {INBOX_ALL}")).await?;
    times.table_build = t.elapsed().as_secs_f64();
    let t = Instant::now();
    exec(conn, "ALTER TABLE bench_inbox_t ADD PRIMARY KEY (tenant_id, conversation_id)").await?;
    exec(conn, "CREATE INDEX bench_inbox_t_prospect ON bench_inbox_t (tenant_id, prospect_id)").await?;
    for (name, cols) in ORDER_INDEXES {
        exec(conn, &format!("CREATE INDEX bench_inbox_t_{name} ON bench_inbox_t {cols}")).await?;
    }
    exec(conn, "VACUUM ANALYZE bench_inbox_t").await?;
    times.table_indexes = t.elapsed().as_secs_f64();

    exec(conn, TRIGGER_FUNCTIONS).await?;
    Ok(times)
}

const TRIGGER_FUNCTIONS: &str = r#"
CREATE FUNCTION bench_inbox_recompute(p_tenant bigint, p_conv bigint) RETURNS void LANGUAGE sql AS $$
  UPDATE bench_inbox_t t SET
    unread_count = (SELECT count(*) FROM messages m WHERE m.tenant_id = p_tenant AND m.conversation_id = p_conv
                      AND m.kind = 'message' AND m.direction = 'in' AND m.read_at IS NULL),
    message_count = (SELECT count(*) FROM messages m WHERE m.tenant_id = p_tenant AND m.conversation_id = p_conv
                       AND m.kind = 'message'),
    last_message_id = lm.message_id, last_message_preview = left(lm.body, 120), last_message_at = lm.created_at,
    last_message_direction = lm.direction, last_message_sender = lm.sender_kind,
    last_activity_at = coalesce(lm.created_at, t.created_at)
  FROM (SELECT 1) one LEFT JOIN LATERAL (
    SELECT m.message_id, m.body, m.created_at, m.direction, m.sender_kind FROM messages m
    WHERE m.tenant_id = p_tenant AND m.conversation_id = p_conv AND m.kind = 'message'
    ORDER BY m.created_at DESC, m.message_id DESC LIMIT 1) lm ON true
  WHERE t.tenant_id = p_tenant AND t.conversation_id = p_conv
$$;

CREATE FUNCTION bench_inbox_msg_ins() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE newer boolean;
BEGIN
  IF NEW.kind = 'note' THEN RETURN NULL; END IF;
  SELECT t.last_message_at IS NULL OR (NEW.created_at, NEW.message_id) > (t.last_message_at, t.last_message_id)
    INTO newer FROM bench_inbox_t t
    WHERE t.tenant_id = NEW.tenant_id AND t.conversation_id = NEW.conversation_id FOR UPDATE;
  IF NOT FOUND THEN RETURN NULL; END IF;
  IF newer THEN
    UPDATE bench_inbox_t SET message_count = message_count + 1,
      unread_count = unread_count + (NEW.direction = 'in' AND NEW.read_at IS NULL)::int,
      last_message_id = NEW.message_id, last_message_preview = left(NEW.body, 120),
      last_message_at = NEW.created_at, last_message_direction = NEW.direction,
      last_message_sender = NEW.sender_kind, last_activity_at = NEW.created_at
    WHERE tenant_id = NEW.tenant_id AND conversation_id = NEW.conversation_id;
  ELSE
    UPDATE bench_inbox_t SET message_count = message_count + 1,
      unread_count = unread_count + (NEW.direction = 'in' AND NEW.read_at IS NULL)::int
    WHERE tenant_id = NEW.tenant_id AND conversation_id = NEW.conversation_id;
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION bench_inbox_msg_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.tenant_id = NEW.tenant_id AND OLD.conversation_id = NEW.conversation_id AND OLD.created_at = NEW.created_at
     AND OLD.body = NEW.body AND OLD.direction = NEW.direction AND OLD.sender_kind = NEW.sender_kind
     AND OLD.kind = NEW.kind THEN
    IF NEW.kind = 'note' THEN RETURN NULL; END IF;
    IF (OLD.direction = 'in' AND OLD.read_at IS NULL) <> (NEW.direction = 'in' AND NEW.read_at IS NULL) THEN
      UPDATE bench_inbox_t SET unread_count = unread_count + CASE WHEN NEW.read_at IS NULL THEN 1 ELSE -1 END
      WHERE tenant_id = NEW.tenant_id AND conversation_id = NEW.conversation_id;
    END IF;
  ELSE
    PERFORM bench_inbox_recompute(OLD.tenant_id, OLD.conversation_id);
    PERFORM bench_inbox_recompute(NEW.tenant_id, NEW.conversation_id);
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION bench_inbox_msg_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM bench_inbox_recompute(OLD.tenant_id, OLD.conversation_id);
  RETURN NULL;
END $$;

CREATE FUNCTION bench_inbox_prospect() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE bench_inbox_t SET prospect_name = NEW.name, prospect_phone = NEW.phone, team_id = NEW.team_id,
                           executive_id = NEW.executive_id
  WHERE tenant_id = NEW.tenant_id AND prospect_id = NEW.prospect_id;
  RETURN NULL;
END $$;

CREATE FUNCTION bench_inbox_conv() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM bench_inbox_t WHERE tenant_id = OLD.tenant_id AND conversation_id = OLD.conversation_id;
  ELSIF TG_OP = 'INSERT' THEN
    INSERT INTO bench_inbox_t (tenant_id, conversation_id, prospect_id, prospect_name, prospect_phone, team_id,
                               executive_id, channel, status, last_activity_at, unread_count, message_count,
                               bot_paused, created_at)
    SELECT NEW.tenant_id, NEW.conversation_id, NEW.prospect_id, p.name, p.phone, p.team_id, p.executive_id,
           NEW.channel, NEW.status, NEW.created_at, 0, 0, false, NEW.created_at
    FROM prospects p WHERE p.tenant_id = NEW.tenant_id AND p.prospect_id = NEW.prospect_id;
  ELSE
    UPDATE bench_inbox_t t SET prospect_id = NEW.prospect_id, channel = NEW.channel, status = NEW.status,
      created_at = NEW.created_at, prospect_name = p.name, prospect_phone = p.phone, team_id = p.team_id,
      executive_id = p.executive_id, last_activity_at = coalesce(t.last_message_at, NEW.created_at)
    FROM prospects p WHERE p.tenant_id = NEW.tenant_id AND p.prospect_id = NEW.prospect_id
      AND t.tenant_id = NEW.tenant_id AND t.conversation_id = NEW.conversation_id;
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION bench_inbox_pause() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    UPDATE bench_inbox_t SET bot_paused = false WHERE tenant_id = OLD.tenant_id AND conversation_id = OLD.conversation_id;
  ELSE
    UPDATE bench_inbox_t SET bot_paused = NEW.paused WHERE tenant_id = NEW.tenant_id AND conversation_id = NEW.conversation_id;
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION bench_mv_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  REFRESH MATERIALIZED VIEW CONCURRENTLY bench_inbox_mv;
  RETURN NULL;
END $$;
"#;

/// Creates (true) or drops (false) the triggers of (c).
pub async fn table_triggers(conn: &mut PgConnection, on: bool) -> anyhow::Result<()> {
    if on {
        exec(
            conn,
            "CREATE TRIGGER bench_inbox_msg_ins AFTER INSERT ON messages FOR EACH ROW EXECUTE FUNCTION bench_inbox_msg_ins();
             CREATE TRIGGER bench_inbox_msg_upd AFTER UPDATE ON messages FOR EACH ROW EXECUTE FUNCTION bench_inbox_msg_upd();
             CREATE TRIGGER bench_inbox_msg_del AFTER DELETE ON messages FOR EACH ROW EXECUTE FUNCTION bench_inbox_msg_del();
             CREATE TRIGGER bench_inbox_prospect AFTER UPDATE ON prospects FOR EACH ROW
               WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.phone IS DISTINCT FROM NEW.phone
                     OR OLD.team_id IS DISTINCT FROM NEW.team_id OR OLD.executive_id IS DISTINCT FROM NEW.executive_id)
               EXECUTE FUNCTION bench_inbox_prospect();
             CREATE TRIGGER bench_inbox_conv AFTER INSERT OR UPDATE OR DELETE ON conversations FOR EACH ROW
               EXECUTE FUNCTION bench_inbox_conv();
             CREATE TRIGGER bench_inbox_pause AFTER INSERT OR UPDATE OR DELETE ON bot_pause FOR EACH ROW
               EXECUTE FUNCTION bench_inbox_pause();",
        )
        .await
    } else {
        exec(
            conn,
            "DROP TRIGGER IF EXISTS bench_inbox_msg_ins ON messages;
             DROP TRIGGER IF EXISTS bench_inbox_msg_upd ON messages;
             DROP TRIGGER IF EXISTS bench_inbox_msg_del ON messages;
             DROP TRIGGER IF EXISTS bench_inbox_prospect ON prospects;
             DROP TRIGGER IF EXISTS bench_inbox_conv ON conversations;
             DROP TRIGGER IF EXISTS bench_inbox_pause ON bot_pause;",
        )
        .await
    }
}

/// Creates (true) or drops (false) the refresh trigger of (d).
pub async fn refresh_trigger(conn: &mut PgConnection, on: bool) -> anyhow::Result<()> {
    if on {
        exec(
            conn,
            "CREATE TRIGGER bench_mv_refresh AFTER INSERT ON messages FOR EACH STATEMENT EXECUTE FUNCTION bench_mv_refresh()",
        )
        .await
    } else {
        exec(conn, "DROP TRIGGER IF EXISTS bench_mv_refresh ON messages").await
    }
}

/// Numbers the parameters of a query as they are pushed.
struct Params(usize);

impl Params {
    fn next(&mut self) -> String {
        self.0 += 1;
        format!("${}", self.0)
    }
}

/// The page query of `alt` for `role`; parameters in order: tenant, \[user\], \[at, id\], limit.
fn page_sql(alt: Alt, role: Role, deep: bool) -> String {
    let rel = alt.relation();
    let mut p = Params(0);
    let tenant = p.next();
    match role {
        Role::Admin | Role::Executive => {
            let who =
                if role == Role::Executive { format!(" AND i.executive_id = {}", p.next()) } else { String::new() };
            let after = if deep {
                format!(" AND (i.last_activity_at, i.conversation_id) < ({}, {})", p.next(), p.next())
            } else {
                String::new()
            };
            let limit = p.next();
            format!(
                "SELECT {COLS} FROM {rel} i WHERE i.tenant_id = {tenant}{who}{after}
                 ORDER BY i.last_activity_at DESC, i.conversation_id DESC LIMIT {limit}"
            )
        }
        Role::Coordinator => {
            let user = p.next();
            let after = if deep {
                format!(" AND (i.last_activity_at, i.conversation_id) < ({}, {})", p.next(), p.next())
            } else {
                String::new()
            };
            let limit = p.next();
            format!(
                "SELECT r.* FROM coordinator_teams ct CROSS JOIN LATERAL (
                    SELECT {COLS} FROM {rel} i WHERE i.tenant_id = ct.tenant_id AND i.team_id = ct.team_id{after}
                    ORDER BY i.last_activity_at DESC, i.conversation_id DESC LIMIT {limit}) r
                 WHERE ct.tenant_id = {tenant} AND ct.user_id = {user}
                 ORDER BY r.last_activity_at DESC, r.conversation_id DESC LIMIT {limit}"
            )
        }
    }
}

fn counts_sql(alt: Alt, role: Role) -> String {
    let rel = alt.relation();
    let cond = match role {
        Role::Admin => "",
        Role::Executive => " AND executive_id = $2",
        Role::Coordinator => {
            " AND team_id IN (SELECT team_id FROM coordinator_teams WHERE tenant_id = $1 AND user_id = $2)"
        }
    };
    format!("SELECT count(*), count(*) FILTER (WHERE unread_count > 0) FROM {rel} WHERE tenant_id = $1{cond}")
}

/// One page of `alt` for `v`.
pub async fn page(pool: &PgPool, alt: Alt, v: &Viewer, which: Which) -> anyhow::Result<Vec<InboxRow>> {
    let cursor = v.cursor(which);
    let sql = page_sql(alt, v.role, cursor.is_some());
    let mut q = sqlx::query_as::<_, InboxRow>(sqlx::AssertSqlSafe(sql)).bind(v.tenant_id);
    if v.role != Role::Admin {
        q = q.bind(v.user_id);
    }
    if let Some(c) = cursor {
        q = q.bind(c.at).bind(c.id);
    }
    Ok(q.bind(PAGE + 1).fetch_all(pool).await?)
}

/// The counts of `v`'s whole list in `alt`: (total, with unread).
pub async fn counts(pool: &PgPool, alt: Alt, v: &Viewer) -> anyhow::Result<(i64, i64)> {
    let mut q = sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(counts_sql(alt, v.role))).bind(v.tenant_id);
    if v.role != Role::Admin {
        q = q.bind(v.user_id);
    }
    Ok(q.fetch_one(pool).await?)
}

/// One measured cell of the read table.
#[derive(Clone, Debug)]
pub struct ReadCell {
    pub source: String,
    pub role: Role,
    pub which: Which,
    /// The rows alone (SQL alternatives only).
    pub rows: Option<Samples>,
    /// What the API answers: rows and the list's counts.
    pub full: Samples,
    /// The thread's CPU time per call (in-process engine only).
    pub cpu: Option<Samples>,
    /// The page's conversation ids (first 50), to check every source agrees.
    pub ids: Vec<i64>,
    pub total: i64,
    pub unread: i64,
}

/// Measures the two pages of every viewer on `alt`.
pub async fn bench_reads(pool: &PgPool, alt: Alt, viewers: &[Viewer], budget: Budget) -> anyhow::Result<Vec<ReadCell>> {
    let mut out = Vec::new();
    for v in viewers {
        for which in Which::ALL {
            let (samples, (ids, (total, unread))) = measure(budget, || {
                let pool = pool.clone();
                let v = v.clone();
                async move {
                    let t = Instant::now();
                    let rows = page(&pool, alt, &v, which).await?;
                    let t_rows = t.elapsed();
                    let c = counts(&pool, alt, &v).await?;
                    let ids: Vec<i64> = rows.iter().take(PAGE as usize).map(|r| r.conversation_id).collect();
                    Ok((vec![t_rows, t.elapsed()], (ids, c)))
                }
            })
            .await?;
            let mut it = samples.into_iter();
            let rows = it.next();
            let full = it.next().unwrap_or_default();
            eprintln!(
                "    {:<28} {:<24} {:<10} rows p50 {:>9} p99 {:>9} | +counts p50 {:>9} p99 {:>9} (n={})",
                alt.label(),
                v.role.label(),
                which.label(),
                crate::stats::fmt(rows.as_ref().map(Samples::p50).unwrap_or_default()),
                crate::stats::fmt(rows.as_ref().map(Samples::p99).unwrap_or_default()),
                crate::stats::fmt(full.p50()),
                crate::stats::fmt(full.p99()),
                full.n()
            );
            out.push(ReadCell {
                source: alt.label().into(),
                role: v.role,
                which,
                rows,
                full,
                cpu: None,
                ids,
                total,
                unread,
            });
        }
    }
    Ok(out)
}

/// The reference (`conversations::list`) page ids and counts, to check (a) against.
pub async fn reference(pool: &PgPool, v: &Viewer, which: Which) -> anyhow::Result<(Vec<i64>, i64, i64)> {
    let after = v.cursor(which).map(|c| platica_domain::inbox::InboxCursor {
        cursor: platica_domain::cursor::Cursor { at: c.at, id: c.id },
        rest: false,
    });
    let page = platica_store::inbox::conversations::list(
        pool,
        &v.domain(),
        &platica_store::inbox::conversations::InboxFilter::default(),
        after,
        PAGE,
    )
    .await?;
    Ok((page.items.iter().map(|r| r.conversation_id).collect(), page.total, page.unread))
}

/// Latency of one autocommit insert of an inbound message into a random conversation of the
/// main tenant.
pub async fn insert_latency(pool: &PgPool, ds: &Dataset, budget: Budget, seed: u64) -> anyhow::Result<Samples> {
    let main = ds.main().clone();
    let mut rng = Rng::new(seed);
    let (samples, ()) = measure(budget, || {
        let conv = rng.range(main.first, main.last);
        let pool = pool.clone();
        let tenant = main.tenant_id;
        async move {
            let t = Instant::now();
            insert_message(&pool, tenant, conv).await?;
            Ok((vec![t.elapsed()], ()))
        }
    })
    .await?;
    Ok(samples.into_iter().next().unwrap_or_default())
}

/// Inserts an unread inbound message; returns its id.
pub async fn insert_message(pool: &PgPool, tenant: i64, conversation: i64) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status)
         VALUES ($1, $2, 'in', 'prospect', 'Hola, ¿siguen teniendo la promoción de este mes?', 'delivered')
         RETURNING message_id",
    )
    .bind(tenant)
    .bind(conversation)
    .fetch_one(pool)
    .await?)
}

/// Latency of one bulk reassignment: `UPDATE prospects SET team_id, executive_id` of 1,000
/// random prospects of the main tenant (alternating between two targets so rows always change).
pub async fn reassign_latency(pool: &PgPool, ds: &Dataset, budget: Budget, seed: u64) -> anyhow::Result<Samples> {
    let main = ds.main().clone();
    let mut rng = Rng::new(seed);
    let mut flip = false;
    let targets = [(main.teams[3], main.executives[33]), (main.teams[4], main.executives[34])];
    let (samples, ()) = measure(budget, || {
        flip = !flip;
        let (team, exec) = targets[usize::from(flip)];
        let want = 1000.min(main.conversations() as usize);
        let mut ids = HashSet::with_capacity(want);
        while ids.len() < want {
            ids.insert(rng.range(main.first, main.last));
        }
        let ids: Vec<i64> = ids.into_iter().collect();
        let pool = pool.clone();
        let tenant = main.tenant_id;
        async move {
            let t = Instant::now();
            sqlx::query(
                "UPDATE prospects SET team_id = $2, executive_id = $3, updated_at = now()
                 WHERE tenant_id = $1 AND prospect_id = ANY($4)",
            )
            .bind(tenant)
            .bind(team)
            .bind(exec)
            .bind(&ids)
            .execute(&pool)
            .await?;
            Ok((vec![t.elapsed()], ()))
        }
    })
    .await?;
    Ok(samples.into_iter().next().unwrap_or_default())
}

/// Round trips of `SELECT 1`: the floor under every SQL latency on this machine.
pub async fn select1_latency(pool: &PgPool, budget: Budget) -> anyhow::Result<Samples> {
    let (samples, ()) = measure(budget, || {
        let pool = pool.clone();
        async move {
            let t = Instant::now();
            let _: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&pool).await?;
            Ok((vec![t.elapsed()], ()))
        }
    })
    .await?;
    Ok(samples.into_iter().next().unwrap_or_default())
}

/// Time of `REFRESH MATERIALIZED VIEW CONCURRENTLY bench_inbox_mv`.
pub async fn refresh_time(pool: &PgPool, budget: Budget) -> anyhow::Result<Samples> {
    let (samples, ()) = measure(budget, || {
        let pool = pool.clone();
        async move {
            let t = Instant::now();
            sqlx::raw_sql("REFRESH MATERIALIZED VIEW CONCURRENTLY bench_inbox_mv").execute(&pool).await?;
            Ok((vec![t.elapsed()], ()))
        }
    })
    .await?;
    Ok(samples.into_iter().next().unwrap_or_default())
}

/// A statement timeout long enough for the slowest alternative at 1M.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(600);
