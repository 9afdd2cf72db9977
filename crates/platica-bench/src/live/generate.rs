//! The data generator: tenants laid out like the original incident (teams BOOM and VEN plus three
//! more, 40 executives, 2 coordinators, an admin) and N conversations with ~20 messages each,
//! written server-side (`INSERT ... SELECT generate_series`, one transaction per table), then
//! vacuumed and analysed.
//!
//! Row ids are explicit (`OVERRIDING SYSTEM VALUE`): in tenant `k` prospect `i` has conversation
//! `i`, and the main tenant owns ids `1..=N`. Everything is a deterministic function of the id
//! (`hashint8extended(id, stream)`), so every run generates the same data.

use std::time::Instant;

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection, Row};

/// Team names; the first two are the incident's.
pub const TEAMS: [&str; 5] = ["BOOM", "VEN", "NORTE", "SUR", "DIGITAL"];
pub const EXECUTIVES: usize = 40;

/// One generated tenant.
#[derive(Clone, Debug)]
pub struct Tenant {
    pub tenant_id: i64,
    /// Conversation (and prospect) ids `first..=last`.
    pub first: i64,
    pub last: i64,
    pub teams: Vec<i64>,
    pub admin: i64,
    /// Coordinates BOOM and VEN.
    pub coordinator: i64,
    pub executives: Vec<i64>,
}

impl Tenant {
    pub fn conversations(&self) -> i64 {
        self.last - self.first + 1
    }
}

/// The generated data set.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// The measured tenant (N conversations), then two small ones.
    pub tenants: Vec<Tenant>,
    /// Time stamps are at or before this instant.
    pub t_end: DateTime<Utc>,
    pub facts: Facts,
}

impl Dataset {
    pub fn main(&self) -> &Tenant {
        &self.tenants[0]
    }
}

/// What was generated, counted afterwards.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub conversations_total: i64,
    pub messages_total: i64,
    pub main_messages: i64,
    pub main_unread_conversations: i64,
    pub main_closed_conversations: i64,
    pub main_bot_paused: i64,
    /// Per team of the main tenant: (name, conversations).
    pub team_sizes: Vec<(String, i64)>,
    /// Conversations assigned to the measured executive.
    pub executive_conversations: i64,
    pub coordinator_conversations: i64,
    pub generate_secs: f64,
    pub vacuum_secs: f64,
    pub database_bytes: i64,
}

// Deterministic per-id values (`i` is the conversation/prospect id).
fn h(stream: u32) -> String {
    format!("(hashint8extended(i, {stream}) & 2147483647)")
}

/// Last activity: uniform over the 90 days before `t_end` ($4).
fn last_expr() -> String {
    format!("($4::timestamptz - ({} % 7776000) * interval '1 second')", h(7))
}

/// Messages in the conversation: 10..=30 (mean 20).
fn count_expr() -> String {
    format!("(10 + {} % 21)", h(8))
}

const FIRST_NAMES: &str = "ARRAY['Ana','Luis','María','José','Carmen','Jorge','Lucía','Carlos','Sofía','Miguel',\
    'Valeria','Diego','Camila','Andrés','Paula','Javier','Daniela','Fernando','Gabriela','Ricardo']";
const LAST_NAMES: &str = "ARRAY['García','Martínez','López','Hernández','González','Pérez','Rodríguez','Sánchez',\
    'Ramírez','Torres','Flores','Rivera','Gómez','Díaz','Cruz','Morales','Reyes','Ortiz','Castillo','Vargas']";
const INBOUND: &str = "ARRAY['Hola, quisiera información sobre el plan',\
    'Buenas tardes, ¿me pueden enviar los precios actualizados y las condiciones de pago para esta semana? Me interesa contratar pronto, gracias',\
    '¿Tienen disponibilidad para mañana?','Ok, gracias','¿Cuál es el costo total con el descuento?',\
    'Perfecto, lo platico con mi esposa y les confirmo en cuanto pueda, ¿hasta cuándo está vigente la promoción que me comentaron por teléfono?',\
    'Sí, me interesa','¿Me pueden llamar?']";
const OUTBOUND: &str = "ARRAY['¡Hola! Gracias por escribirnos, en un momento te atiende un asesor.',\
    'Claro, te comparto la información del plan: incluye instalación sin costo, soporte todo el día y la primera mensualidad con 50% de descuento.',\
    'Con gusto, ¿a qué hora te queda mejor?','Te envío la cotización por este medio.',\
    'Quedo atento a tus comentarios.','¿Pudiste revisar la propuesta?']";

/// Generates the data into the (migrated, empty) database behind `conn`.
pub async fn generate(conn: &mut PgConnection, n: i64, t_end: DateTime<Utc>) -> anyhow::Result<Dataset> {
    let started = Instant::now();
    sqlx::raw_sql("SET synchronous_commit = off; SET session_replication_role = replica").execute(&mut *conn).await?;

    // Small rows first: tenants, teams, users, coordinator teams.
    let small = (n / 100).max(50);
    let sizes = [n, small, small];
    let mut tenants = Vec::new();
    let mut next_id = 1i64;
    let mut tx = conn.begin().await?;
    for (k, size) in sizes.iter().enumerate() {
        let slug = ["acme", "beta", "gamma"][k];
        let tenant_id: i64 = sqlx::query_scalar("INSERT INTO tenants (slug, name) VALUES ($1, $2) RETURNING tenant_id")
            .bind(slug)
            .bind(format!("{slug} ventas"))
            .fetch_one(&mut *tx)
            .await?;
        let mut teams = Vec::new();
        for name in TEAMS {
            let id: i64 = sqlx::query_scalar("INSERT INTO teams (tenant_id, name) VALUES ($1, $2) RETURNING team_id")
                .bind(tenant_id)
                .bind(name)
                .fetch_one(&mut *tx)
                .await?;
            teams.push(id);
        }
        let user = |email: String, name: String, role: &'static str| {
            sqlx::query_scalar::<_, i64>(
                "INSERT INTO users (tenant_id, email, display_name, role, password_hash)
                 VALUES ($1, $2, $3, $4, 'not-a-login') RETURNING user_id",
            )
            .bind(tenant_id)
            .bind(email)
            .bind(name)
            .bind(role)
        };
        let admin = user(format!("admin@{slug}.test"), "Admin".into(), "admin").fetch_one(&mut *tx).await?;
        let coordinator = user(format!("coord.boom.ven@{slug}.test"), "Coordinadora BOOM+VEN".into(), "coordinator")
            .fetch_one(&mut *tx)
            .await?;
        let coordinator2 = user(format!("coord.norte.sur@{slug}.test"), "Coordinador NORTE+SUR".into(), "coordinator")
            .fetch_one(&mut *tx)
            .await?;
        for (user_id, team) in
            [(coordinator, teams[0]), (coordinator, teams[1]), (coordinator2, teams[2]), (coordinator2, teams[3])]
        {
            sqlx::query("INSERT INTO coordinator_teams (tenant_id, user_id, team_id) VALUES ($1, $2, $3)")
                .bind(tenant_id)
                .bind(user_id)
                .bind(team)
                .execute(&mut *tx)
                .await?;
        }
        let mut executives = Vec::new();
        for e in 0..EXECUTIVES {
            let id = user(format!("exec{e:02}@{slug}.test"), format!("Ejecutiva {e:02}"), "executive")
                .fetch_one(&mut *tx)
                .await?;
            executives.push(id);
        }
        tenants.push(Tenant {
            tenant_id,
            first: next_id,
            last: next_id + size - 1,
            teams,
            admin,
            coordinator,
            executives,
        });
        next_id += size;
    }
    tx.commit().await?;

    // Prospects: executive e = h4 % 40 works in team e % 5; 10% sit in another team (visible to
    // their executive all the same), 5% are unassigned.
    let mut tx = conn.begin().await?;
    for t in &tenants {
        let sql = format!(
            "INSERT INTO prospects (tenant_id, prospect_id, name, phone, team_id, executive_id, stage, created_at, updated_at)
             OVERRIDING SYSTEM VALUE
             SELECT $1, i,
                    ({FIRST_NAMES})[1 + {h1} % 20] || ' ' || ({LAST_NAMES})[1 + ({h1} / 20) % 20],
                    '+52' || (5500000000 + i)::text,
                    CASE WHEN {h2} % 10 = 0 THEN $5[1 + ({h2} / 10) % 5] ELSE $5[1 + ({h4} % 40) % 5] END,
                    CASE WHEN {h3} % 20 = 0 THEN NULL ELSE $6[1 + {h4} % 40] END,
                    (ARRAY['new','contacted','interested','negotiating','won','lost'])[1 + {h3} % 6],
                    $4::timestamptz - interval '120 days', $4::timestamptz - interval '120 days'
             FROM generate_series($2::bigint, $3::bigint) i",
            h1 = h(1),
            h2 = h(2),
            h3 = h(3),
            h4 = h(4),
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(t.tenant_id)
            .bind(t.first)
            .bind(t.last)
            .bind(t_end)
            .bind(&t.teams)
            .bind(&t.executives)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;

    // Conversations: one per prospect, 20% closed, created before their first message.
    let mut tx = conn.begin().await?;
    for t in &tenants {
        let sql = format!(
            "INSERT INTO conversations (tenant_id, conversation_id, prospect_id, channel, status, created_at, updated_at)
             OVERRIDING SYSTEM VALUE
             SELECT $1, i, i, 'whatsapp', CASE WHEN {h5} % 5 = 0 THEN 'closed' ELSE 'open' END,
                    {last} - ({count} * 7 + 60) * interval '1 minute', {last}
             FROM generate_series($2::bigint, $3::bigint) i",
            h5 = h(5),
            last = last_expr(),
            count = count_expr(),
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(t.tenant_id)
            .bind(t.first)
            .bind(t.last)
            .bind(t_end)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;

    // Bot paused on 5%.
    let mut tx = conn.begin().await?;
    for t in &tenants {
        let sql = format!(
            "INSERT INTO bot_pause (tenant_id, conversation_id, paused, reason, updated_at)
             SELECT $1, i, true, 'an executive took over', $4::timestamptz - interval '1 day'
             FROM generate_series($2::bigint, $3::bigint) i WHERE {h6} % 20 = 0",
            h6 = h(6),
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(t.tenant_id)
            .bind(t.first)
            .bind(t.last)
            .bind(t_end)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;

    // Messages: 10..=30 per conversation, 7 minutes apart, alternating in/out, the last at the
    // conversation's last activity. In 30% of conversations the inbound messages among the last
    // three are unread.
    // Plain indexes (not those behind constraints, which other tables may reference) are dropped
    // for the load and rebuilt after it.
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT indexname::text, indexdef FROM pg_indexes i WHERE tablename = 'messages' AND schemaname = 'public'
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = 'messages'::regclass AND c.conname = i.indexname)",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut tx = conn.begin().await?;
    for (name, _) in &indexes {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP INDEX {name}"))).execute(&mut *tx).await?;
    }
    for t in &tenants {
        let sql = format!(
            "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status, created_at, read_at)
             SELECT $1, c.i, d.dir,
                    CASE WHEN d.dir = 'in' THEN 'prospect' WHEN k % 3 = 0 THEN 'bot' ELSE 'executive' END,
                    CASE WHEN d.dir = 'in' THEN ({INBOUND})[1 + (c.i + k) % 8] ELSE ({OUTBOUND})[1 + (c.i + k) % 6] END,
                    CASE WHEN d.dir = 'in' THEN 'delivered' ELSE 'read' END,
                    c.last - (c.m - k) * interval '7 minutes',
                    CASE WHEN d.dir = 'in' AND NOT (c.unread AND k > c.m - 3)
                         THEN c.last - (c.m - k) * interval '7 minutes' + interval '1 minute' END
             FROM (SELECT i, {last} AS last, {count} AS m, {h9} % 10 < 3 AS unread
                   FROM generate_series($2::bigint, $3::bigint) i) c
             CROSS JOIN LATERAL generate_series(1, c.m) k
             CROSS JOIN LATERAL (SELECT CASE WHEN (k + c.i) % 2 = 0 THEN 'in' ELSE 'out' END AS dir) d",
            last = last_expr(),
            count = count_expr(),
            h9 = h(9),
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(t.tenant_id)
            .bind(t.first)
            .bind(t.last)
            .bind(t_end)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    sqlx::raw_sql("SET max_parallel_maintenance_workers = 2").execute(&mut *conn).await?;
    for (_, def) in &indexes {
        sqlx::raw_sql(sqlx::AssertSqlSafe(def.clone())).execute(&mut *conn).await?;
    }
    for (table, column) in [("prospects", "prospect_id"), ("conversations", "conversation_id")] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), (SELECT max({column}) FROM {table}))"
        )))
        .execute(&mut *conn)
        .await?;
    }
    sqlx::raw_sql("SET session_replication_role = origin; SET synchronous_commit = on").execute(&mut *conn).await?;
    let generate_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    sqlx::raw_sql(
        "VACUUM (FREEZE, ANALYZE) tenants, teams, users, coordinator_teams, prospects, conversations, bot_pause, messages",
    )
    .execute(&mut *conn)
    .await?;
    let vacuum_secs = started.elapsed().as_secs_f64();

    let main = &tenants[0];
    let mut facts = Facts { generate_secs, vacuum_secs, ..Facts::default() };
    facts.conversations_total = sqlx::query_scalar("SELECT count(*) FROM conversations").fetch_one(&mut *conn).await?;
    facts.messages_total = sqlx::query_scalar("SELECT count(*) FROM messages").fetch_one(&mut *conn).await?;
    let row = sqlx::query(
        "SELECT (SELECT count(*) FROM messages WHERE tenant_id = $1),
                (SELECT count(DISTINCT conversation_id) FROM messages
                  WHERE tenant_id = $1 AND direction = 'in' AND read_at IS NULL),
                (SELECT count(*) FROM conversations WHERE tenant_id = $1 AND status = 'closed'),
                (SELECT count(*) FROM bot_pause WHERE tenant_id = $1 AND paused),
                (SELECT count(*) FROM prospects WHERE tenant_id = $1 AND executive_id = $2),
                (SELECT count(*) FROM prospects WHERE tenant_id = $1 AND team_id IN
                   (SELECT team_id FROM coordinator_teams WHERE tenant_id = $1 AND user_id = $3)),
                pg_database_size(current_database())",
    )
    .bind(main.tenant_id)
    .bind(main.executives[0])
    .bind(main.coordinator)
    .fetch_one(&mut *conn)
    .await?;
    facts.main_messages = row.get(0);
    facts.main_unread_conversations = row.get(1);
    facts.main_closed_conversations = row.get(2);
    facts.main_bot_paused = row.get(3);
    facts.executive_conversations = row.get(4);
    facts.coordinator_conversations = row.get(5);
    facts.database_bytes = row.get(6);
    let teams: Vec<(String, i64)> = sqlx::query_as(
        "SELECT t.name, count(p.*) FROM teams t LEFT JOIN prospects p ON p.tenant_id = t.tenant_id AND p.team_id = t.team_id
         WHERE t.tenant_id = $1 GROUP BY t.team_id, t.name ORDER BY t.team_id",
    )
    .bind(main.tenant_id)
    .fetch_all(&mut *conn)
    .await?;
    facts.team_sizes = teams;
    Ok(Dataset { tenants, t_end, facts })
}
