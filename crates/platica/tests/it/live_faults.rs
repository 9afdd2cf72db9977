//! The live inbox under faults: it loses no change and applies none twice.
//!
//! Each scenario writes raw SQL on plain connections (not the API) from background tasks while a
//! fault happens — the walsender killed, the Platica server restarted, PostgreSQL restarted, one
//! 200,000-row transaction, TRUNCATE and DELETE — then waits until the engine has caught up and
//! checks three things:
//!
//! - `verify` (the engine against the SQL reference inbox at the same LSN, field by field) is
//!   clean;
//! - every writer transaction whose COMMIT succeeded is in SQL, none that failed before COMMIT is,
//!   and one whose COMMIT failed (the server went away) is there whole or not at all; the engine's
//!   message count of every conversation (read through HTTP) equals the seed plus the writes SQL
//!   holds;
//! - every user's inbox counts through HTTP (`total`, `unread`) equal counts computed in SQL.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use platica::CancellationToken;
use platica_changes::LiveInbox;
use platica_domain::{TenantId, UserId};
use platica_store::PgPool;
use platica_store::pg::cluster::{ClusterOptions, PrivateCluster};
use rand::distr::Alphanumeric;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use sqlx::{Connection, PgConnection, Row};
use support::TestApp;
use support::proxy::Proxy;

/// How long the engine may take to catch up after a fault.
const CATCH_UP: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------------------------

/// A user of the fixture tenant and a session token for them.
struct User {
    id: i64,
    role: &'static str,
    token: String,
}

/// A tenant laid out like the original incident (teams BOOM and VEN, an admin, three
/// coordinators, three executives, prospects in every placement), written with raw SQL.
struct Fixture {
    tenant: i64,
    teams: Vec<i64>,
    executives: Vec<i64>,
    users: Vec<User>,
    prospects: Vec<i64>,
    conversations: Vec<i64>,
}

impl Fixture {
    fn admin(&self) -> &str {
        &self.users[0].token
    }
}

async fn scalar_i64(pool: &PgPool, sql: &'static str, binds: &[i64]) -> i64 {
    let mut q = sqlx::query_scalar::<_, i64>(sql);
    for b in binds {
        q = q.bind(*b);
    }
    q.fetch_one(pool).await.unwrap()
}

/// Seeds a tenant: `per_cell` prospects in each of five (team, executive) placements, each with a
/// conversation holding an older outbound message (longer than the preview) and a newer unread
/// inbound one.
async fn seed(pool: &PgPool, slug: &str, per_cell: i64) -> Fixture {
    let tenant = sqlx::query_scalar::<_, i64>("INSERT INTO tenants (slug, name) VALUES ($1, $1) RETURNING tenant_id")
        .bind(slug)
        .fetch_one(pool)
        .await
        .unwrap();
    let mut teams = Vec::new();
    for name in ["BOOM", "VEN"] {
        let id = sqlx::query_scalar::<_, i64>("INSERT INTO teams (tenant_id, name) VALUES ($1, $2) RETURNING team_id")
            .bind(tenant)
            .bind(name)
            .fetch_one(pool)
            .await
            .unwrap();
        teams.push(id);
    }
    let (boom, ven) = (teams[0], teams[1]);
    let people: [(&str, &'static str, &[i64]); 7] = [
        ("admin", "admin", &[]),
        ("coord.boom", "coordinator", &[boom]),
        ("coord.ven", "coordinator", &[ven]),
        ("coord.both", "coordinator", &[boom, ven]),
        ("ana", "executive", &[]),
        ("luis", "executive", &[]),
        ("sofia", "executive", &[]),
    ];
    let mut users = Vec::new();
    for (name, role, coordinates) in people {
        let id = sqlx::query_scalar::<_, i64>(
            "INSERT INTO users (tenant_id, email, display_name, role, password_hash)
             VALUES ($1, $2, $3, $4, 'unused: sessions are made directly') RETURNING user_id",
        )
        .bind(tenant)
        .bind(format!("{name}@{slug}.test"))
        .bind(name)
        .bind(role)
        .fetch_one(pool)
        .await
        .unwrap();
        for team in coordinates {
            sqlx::query("INSERT INTO coordinator_teams (tenant_id, user_id, team_id) VALUES ($1, $2, $3)")
                .bind(tenant)
                .bind(id)
                .bind(team)
                .execute(pool)
                .await
                .unwrap();
        }
        let token = platica_store::org::auth::create_session(pool, TenantId(tenant), UserId(id)).await.unwrap().0;
        users.push(User { id, role, token });
    }
    let executives: Vec<i64> = users.iter().filter(|u| u.role == "executive").map(|u| u.id).collect();
    let (ana, luis, sofia) = (executives[0], executives[1], executives[2]);
    // Sofía is not operational: visibility must not care.
    sqlx::query("UPDATE users SET operational = false WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant)
        .bind(sofia)
        .execute(pool)
        .await
        .unwrap();
    let cells = [(boom, Some(ana)), (ven, Some(ana)), (boom, Some(luis)), (ven, Some(sofia)), (ven, None)];
    for (cell, (team, exec)) in cells.iter().enumerate() {
        sqlx::query(
            "INSERT INTO prospects (tenant_id, name, phone, team_id, executive_id)
             SELECT $1, 'Prospecto ' || ($2 * 10000 + g), '+52155' || lpad(($2 * 10000 + g)::text, 8, '0'), $3, $4
             FROM generate_series(1, $5::bigint) g",
        )
        .bind(tenant)
        .bind(cell as i64)
        .bind(team)
        .bind(exec)
        .bind(per_cell)
        .execute(pool)
        .await
        .unwrap();
    }
    let prospects: Vec<i64> =
        sqlx::query_scalar("SELECT prospect_id FROM prospects WHERE tenant_id = $1 ORDER BY prospect_id")
            .bind(tenant)
            .fetch_all(pool)
            .await
            .unwrap();
    let conversations: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO conversations (tenant_id, prospect_id)
         SELECT tenant_id, prospect_id FROM prospects WHERE tenant_id = $1 RETURNING conversation_id",
    )
    .bind(tenant)
    .fetch_all(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status, created_at)
         SELECT $1, conversation_id, 'out', 'bot',
                repeat('Bienvenido a Platica. ', 8) || 'conversacion ' || conversation_id, 'sent',
                now() - interval '2 hours' + conversation_id * interval '1 millisecond'
         FROM conversations WHERE tenant_id = $1",
    )
    .bind(tenant)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status, created_at)
         SELECT $1, conversation_id, 'in', 'prospect', 'Hola, soy la conversacion ' || conversation_id, 'delivered',
                now() - interval '1 hour' + conversation_id * interval '1 millisecond'
         FROM conversations WHERE tenant_id = $1",
    )
    .bind(tenant)
    .execute(pool)
    .await
    .unwrap();
    Fixture { tenant, teams, executives, users, prospects, conversations }
}

// ---------------------------------------------------------------------------------------------
// Writers: small multi-statement transactions, and the ledger of what they committed
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Op {
    /// A new message, tagged with a unique `external_id`.
    Insert {
        conv: i64,
        inbound: bool,
        sender: &'static str,
        body: String,
        tag: String,
    },
    /// Every unread inbound message of a conversation read.
    MarkRead {
        conv: i64,
    },
    /// The newest inbound message of a conversation unread again.
    MarkUnread {
        conv: i64,
    },
    Reassign {
        prospect: i64,
        team: i64,
        executive: Option<i64>,
    },
    BotPause {
        conv: i64,
        paused: bool,
    },
    ToggleStatus {
        conv: i64,
    },
}

/// What one writer task is to do.
#[derive(Clone)]
struct Spec {
    url: String,
    tenant: i64,
    conversations: Vec<i64>,
    prospects: Vec<i64>,
    teams: Vec<i64>,
    executives: Vec<i64>,
    /// Prefix of this writer's message tags (unique per writer).
    tag: String,
    seed: u64,
    max_txs: u64,
    max_time: Duration,
    /// At most one transaction per `pace`.
    pace: Duration,
    /// When set, the writer also stops once this is true.
    stop: Option<Arc<std::sync::atomic::AtomicBool>>,
}

impl Spec {
    fn new(url: &str, fx: &Fixture, tag: &str, seed: u64, max_txs: u64, max_time: Duration) -> Spec {
        Spec {
            url: url.to_owned(),
            tenant: fx.tenant,
            conversations: fx.conversations.clone(),
            prospects: fx.prospects.clone(),
            teams: fx.teams.clone(),
            executives: fx.executives.clone(),
            tag: tag.to_owned(),
            seed,
            max_txs,
            max_time,
            pace: Duration::from_millis(6),
            stop: None,
        }
    }
}

/// The messages a transaction inserted: (tag, conversation).
type Tags = Vec<(String, i64)>;

/// What a writer did.
#[derive(Default)]
struct Ledger {
    /// Transactions whose COMMIT succeeded.
    committed: Vec<Tags>,
    /// Transactions whose COMMIT failed: they may or may not have committed.
    ambiguous: Vec<Tags>,
    /// Transactions that failed before COMMIT: they did not commit.
    failed: Vec<Tags>,
    /// When each committed transaction committed.
    commit_times: Vec<Instant>,
    connect_errors: u64,
    first_errors: Vec<String>,
}

impl Ledger {
    fn error(&mut self, e: impl std::fmt::Display) {
        if self.first_errors.len() < 5 {
            self.first_errors.push(e.to_string());
        }
    }
}

fn pick<T: Copy>(rng: &mut StdRng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

fn plan(rng: &mut StdRng, spec: &Spec, tx: u64) -> Vec<Op> {
    let n = rng.random_range(1..=4);
    let mut ops = Vec::with_capacity(n);
    for i in 0..n {
        let conv = pick(rng, &spec.conversations);
        let roll = rng.random_range(0..100);
        ops.push(match roll {
            0..55 => {
                let inbound = rng.random_bool(0.6);
                let sender = if inbound { "prospect" } else { pick(rng, &["bot", "executive", "system"]) };
                // Some bodies are long and incompressible: stored out of line (TOAST), so a later
                // read_at update sends them as "unchanged" and the decoder must use the old row.
                let body = if rng.random_bool(0.05) {
                    (0..3000).map(|_| char::from(rng.sample(Alphanumeric))).collect()
                } else {
                    format!("mensaje {tx}.{i} ñandú {}", rng.random_range(0..1_000_000))
                };
                Op::Insert { conv, inbound, sender, body, tag: format!("{}-{tx}-{i}", spec.tag) }
            }
            55..70 => Op::MarkRead { conv },
            70..78 => Op::MarkUnread { conv },
            78..93 => {
                let executive = if rng.random_bool(0.2) { None } else { Some(pick(rng, &spec.executives)) };
                Op::Reassign { prospect: pick(rng, &spec.prospects), team: pick(rng, &spec.teams), executive }
            }
            93..97 => Op::BotPause { conv, paused: rng.random_bool(0.5) },
            _ => Op::ToggleStatus { conv },
        });
    }
    ops
}

async fn exec(conn: &mut PgConnection, tenant: i64, op: &Op) -> Result<(), sqlx::Error> {
    match op {
        Op::Insert { conv, inbound, sender, body, tag } => {
            sqlx::query(
                "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status, external_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(tenant)
            .bind(conv)
            .bind(if *inbound { "in" } else { "out" })
            .bind(sender)
            .bind(body)
            .bind(if *inbound { "delivered" } else { "sent" })
            .bind(tag)
            .execute(conn)
            .await?;
        }
        Op::MarkRead { conv } => {
            sqlx::query(
                "UPDATE messages SET read_at = now()
                 WHERE tenant_id = $1 AND conversation_id = $2 AND direction = 'in' AND read_at IS NULL",
            )
            .bind(tenant)
            .bind(conv)
            .execute(conn)
            .await?;
        }
        Op::MarkUnread { conv } => {
            sqlx::query(
                "UPDATE messages SET read_at = NULL WHERE tenant_id = $1 AND message_id = (
                     SELECT message_id FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND direction = 'in'
                     ORDER BY created_at DESC, message_id DESC LIMIT 1)",
            )
            .bind(tenant)
            .bind(conv)
            .execute(conn)
            .await?;
        }
        Op::Reassign { prospect, team, executive } => {
            sqlx::query(
                "UPDATE prospects SET team_id = $3, executive_id = $4, updated_at = now()
                 WHERE tenant_id = $1 AND prospect_id = $2",
            )
            .bind(tenant)
            .bind(prospect)
            .bind(team)
            .bind(executive)
            .execute(conn)
            .await?;
        }
        Op::BotPause { conv, paused } => {
            sqlx::query(
                "INSERT INTO bot_pause (tenant_id, conversation_id, paused) VALUES ($1, $2, $3)
                 ON CONFLICT (tenant_id, conversation_id) DO UPDATE SET paused = EXCLUDED.paused, updated_at = now()",
            )
            .bind(tenant)
            .bind(conv)
            .bind(paused)
            .execute(conn)
            .await?;
        }
        Op::ToggleStatus { conv } => {
            sqlx::query(
                "UPDATE conversations SET status = CASE status WHEN 'open' THEN 'closed' ELSE 'open' END,
                        updated_at = now()
                 WHERE tenant_id = $1 AND conversation_id = $2",
            )
            .bind(tenant)
            .bind(conv)
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}

enum Outcome {
    Committed,
    /// Failed before COMMIT was sent: not committed.
    Failed(sqlx::Error),
    /// COMMIT was sent and failed: unknown.
    Ambiguous(sqlx::Error),
}

async fn run_tx(conn: &mut PgConnection, tenant: i64, ops: &[Op]) -> Outcome {
    let mut tx = match conn.begin().await {
        Ok(tx) => tx,
        Err(e) => return Outcome::Failed(e),
    };
    for op in ops {
        if let Err(e) = exec(&mut tx, tenant, op).await {
            return Outcome::Failed(e);
        }
    }
    match tx.commit().await {
        Ok(()) => Outcome::Committed,
        Err(e) => Outcome::Ambiguous(e),
    }
}

/// Writes until `max_txs` transactions were attempted or `max_time` passed. Connection errors
/// (the server restarting) are tolerated: it reconnects and goes on.
async fn write_loop(spec: Spec) -> Ledger {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let mut ledger = Ledger::default();
    let mut conn: Option<PgConnection> = None;
    let mut tick = tokio::time::interval(spec.pace);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut attempted = 0;
    let stopped = || spec.stop.as_ref().is_some_and(|s| s.load(std::sync::atomic::Ordering::SeqCst));
    while attempted < spec.max_txs && started.elapsed() < spec.max_time && !stopped() {
        tick.tick().await;
        if conn.is_none() {
            match PgConnection::connect(&spec.url).await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    ledger.connect_errors += 1;
                    ledger.error(format!("connect: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        attempted += 1;
        let ops = plan(&mut rng, &spec, attempted);
        let tags: Tags = ops
            .iter()
            .filter_map(|op| match op {
                Op::Insert { conv, tag, .. } => Some((tag.clone(), *conv)),
                _ => None,
            })
            .collect();
        match run_tx(c, spec.tenant, &ops).await {
            Outcome::Committed => {
                ledger.committed.push(tags);
                ledger.commit_times.push(Instant::now());
            }
            Outcome::Failed(e) => {
                ledger.error(&e);
                ledger.failed.push(tags);
                // The open transaction dies with its connection.
                conn = None;
            }
            Outcome::Ambiguous(e) => {
                ledger.error(&e);
                ledger.ambiguous.push(tags);
                conn = None;
            }
        }
    }
    ledger
}

/// Writer tasks that run until `stop` is set (or `max_time`, as a safety net).
fn spawn_writers_until(
    url: &str,
    fx: &Fixture,
    name: &str,
    writers: u64,
    max_time: Duration,
    stop: &Arc<std::sync::atomic::AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Ledger>> {
    (0..writers)
        .map(|w| {
            let seed = 0x5eed_0000 + w * 7919 + u64::from(std::process::id());
            let mut spec = Spec::new(url, fx, &format!("{name}{w}"), seed, u64::MAX, max_time);
            spec.stop = Some(Arc::clone(stop));
            tokio::spawn(write_loop(spec))
        })
        .collect()
}

/// Starts `writers` writer tasks on the fixture tenant.
fn spawn_writers(
    url: &str,
    fx: &Fixture,
    name: &str,
    writers: u64,
    max_txs: u64,
    max_time: Duration,
) -> Vec<tokio::task::JoinHandle<Ledger>> {
    (0..writers)
        .map(|w| {
            let seed = 0x5eed_0000 + w * 7919 + u64::from(std::process::id());
            println!("{name}: writer {w} seed {seed:#x}");
            tokio::spawn(write_loop(Spec::new(url, fx, &format!("{name}{w}"), seed, max_txs, max_time)))
        })
        .collect()
}

async fn join_writers(handles: Vec<tokio::task::JoinHandle<Ledger>>) -> Vec<Ledger> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// Messages per conversation of the tenant, in SQL.
async fn sql_message_counts(conn: &mut PgConnection, tenant: i64) -> BTreeMap<i64, (i64, i64)> {
    let rows = sqlx::query(
        "SELECT c.conversation_id, count(m.message_id),
                count(m.message_id) FILTER (WHERE m.direction = 'in' AND m.read_at IS NULL)
         FROM conversations c
         LEFT JOIN messages m ON m.tenant_id = c.tenant_id AND m.conversation_id = c.conversation_id
         WHERE c.tenant_id = $1 GROUP BY c.conversation_id",
    )
    .bind(tenant)
    .fetch_all(conn)
    .await
    .unwrap();
    rows.iter().map(|r| (r.get::<i64, _>(0), (r.get(1), r.get(2)))).collect()
}

/// Checks the ledgers against SQL (the truth) and returns the expected number of messages of
/// every conversation: the seed's plus every write that committed.
async fn expected_counts(
    conn: &mut PgConnection,
    tenant: i64,
    initial: &BTreeMap<i64, (i64, i64)>,
    ledgers: &[Ledger],
) -> BTreeMap<i64, i64> {
    let present: BTreeSet<String> =
        sqlx::query_scalar("SELECT external_id FROM messages WHERE tenant_id = $1 AND external_id IS NOT NULL")
            .bind(tenant)
            .fetch_all(&mut *conn)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let mut expected: BTreeMap<i64, i64> = initial.iter().map(|(c, (n, _))| (*c, *n)).collect();
    let mut accounted = 0;
    let (mut ambiguous_in, mut ambiguous_out) = (0, 0);
    for l in ledgers {
        for tx in &l.committed {
            for (tag, conv) in tx {
                assert!(present.contains(tag), "message {tag} of a committed transaction is not in SQL");
                *expected.entry(*conv).or_default() += 1;
                accounted += 1;
            }
        }
        for tx in &l.failed {
            for (tag, _) in tx {
                assert!(!present.contains(tag), "message {tag} of a transaction that failed before COMMIT is in SQL");
            }
        }
        for tx in &l.ambiguous {
            let found = tx.iter().filter(|(tag, _)| present.contains(tag)).count();
            assert!(found == 0 || found == tx.len(), "a transaction is half in SQL: {tx:?}");
            if found > 0 {
                ambiguous_in += 1;
                for (_, conv) in tx {
                    *expected.entry(*conv).or_default() += 1;
                    accounted += 1;
                }
            } else {
                ambiguous_out += 1;
            }
        }
    }
    assert_eq!(present.len(), accounted, "SQL holds writer messages no ledger accounts for");
    if ambiguous_in + ambiguous_out > 0 {
        println!("  commits that failed: {ambiguous_in} had committed, {ambiguous_out} had not");
    }
    let sql: BTreeMap<i64, i64> =
        sql_message_counts(conn, tenant).await.into_iter().map(|(c, (n, _))| (c, n)).collect();
    assert_eq!(sql, expected, "SQL message counts differ from the seed plus the committed writes");
    expected
}

fn summary(name: &str, ledgers: &[Ledger], started: Instant) {
    let committed: usize = ledgers.iter().map(|l| l.committed.len()).sum();
    let messages: usize = ledgers.iter().flat_map(|l| &l.committed).map(Vec::len).sum();
    let failed: usize = ledgers.iter().map(|l| l.failed.len()).sum();
    let ambiguous: usize = ledgers.iter().map(|l| l.ambiguous.len()).sum();
    let connect: u64 = ledgers.iter().map(|l| l.connect_errors).sum();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{name}: {committed} transactions committed ({messages} messages, {:.0} tx/s over {secs:.1} s), \
         {failed} failed before commit, {ambiguous} failed at commit, {connect} connection errors",
        committed as f64 / secs
    );
    for l in ledgers {
        for e in &l.first_errors {
            println!("  writer error: {e}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The server under test, and checks
// ---------------------------------------------------------------------------------------------

/// A Platica server of our own, as `platica serve` starts it (`platica::server::Server`): the
/// live inbox, the realtime hub, the HTTP API and the scheduler; the test's token is its shutdown
/// signal.
struct Server {
    server: platica::server::Server,
    token: CancellationToken,
    base: String,
}

impl Server {
    async fn start(db_url: &str) -> Server {
        Server::start_split(db_url, db_url).await
    }

    /// The live inbox on `live_url` (e.g. through a proxy the test can cut), everything else on
    /// `db_url`: the same database.
    async fn start_split(live_url: &str, db_url: &str) -> Server {
        let token = CancellationToken::new();
        let pool = platica_store::pg::db::connect(db_url, 4).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let options = platica::server::ServerOptions {
            slot: Some(platica::slot_name(db_url)),
            scheduler: Some(platica_scheduler::SchedulerConfig::default()),
            ..platica::server::ServerOptions::new(live_url)
        };
        let stop = token.clone();
        let server =
            platica::server::Server::start(pool, listener, options, |_| {}, async move { stop.cancelled().await })
                .await
                .unwrap();
        let base = format!("http://{}", server.addr());
        Server { server, token, base }
    }

    fn live(&self) -> &Arc<LiveInbox> {
        self.server.live()
    }

    /// Nothing stopped: a failure of the stream must never end the server's other work.
    fn assert_running(&self, what: &str) {
        assert!(!self.token.is_cancelled(), "{what}: the test's shutdown token was cancelled");
        let failed = self.server.failed_parts();
        assert!(failed.is_empty(), "{what}: {}", failed.join("; "));
    }

    /// Signals shutdown and waits for the server's orderly stop (HTTP, scheduler, stream).
    async fn stop(self) {
        self.token.cancel();
        match tokio::time::timeout(Duration::from_secs(60), self.server.stopped()).await {
            Ok(r) => r.unwrap(),
            Err(_) => panic!("the server did not stop within 60 s of its shutdown signal"),
        }
    }
}

/// Emits a barrier (retrying while the server is unreachable) and waits until the engine's
/// position passes it. Returns the barrier's LSN, for `min_lsn`.
async fn catch_up(live: &LiveInbox, url: &str) -> String {
    let started = Instant::now();
    let deadline = started + CATCH_UP;
    let lsn = loop {
        let attempt = async {
            let mut conn = PgConnection::connect(url).await?;
            let lsn: String = sqlx::query_scalar("SELECT pg_logical_emit_message(false, 'platica.barrier', '')::text")
                .fetch_one(&mut conn)
                .await?;
            conn.close().await?;
            Ok::<_, sqlx::Error>(lsn)
        };
        match attempt.await {
            Ok(lsn) => break lsn,
            Err(e) => {
                assert!(Instant::now() < deadline, "cannot emit a barrier: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let target = platica_changes::lsn::parse(&lsn).unwrap();
    let caught = live.wait_for(target, deadline.saturating_duration_since(Instant::now())).await;
    let status = live.status();
    assert!(
        caught,
        "the live inbox did not reach {lsn} within {CATCH_UP:?}: position {}, status {status:?}",
        platica_changes::lsn::format(live.position())
    );
    println!(
        "  caught up with {lsn} in {} ms (rebuilds {}, transactions {}, last error {:?})",
        started.elapsed().as_millis(),
        status.rebuilds,
        status.transactions,
        status.last_error
    );
    lsn
}

/// `verify` must be clean.
async fn verify_clean(live: &LiveInbox, what: &str) {
    let started = Instant::now();
    let report = tokio::time::timeout(CATCH_UP, platica_changes::verify::verify(live, None))
        .await
        .unwrap_or_else(|_| panic!("{what}: verify did not finish within {CATCH_UP:?}"))
        .unwrap_or_else(|e| panic!("{what}: verify failed: {e}"));
    assert!(
        report.is_clean(),
        "{what}: verify found {} differences at {}:\n{}",
        report.difference_count,
        report.lsn,
        report.differences.join("\n")
    );
    println!(
        "  {what}: verify clean at {} ({} conversations, {} users, {} ms)",
        report.lsn,
        report.conversations,
        report.users,
        started.elapsed().as_millis()
    );
}

/// An HTTP client of one server.
struct Http {
    client: reqwest::Client,
    base: String,
}

/// A user's whole inbox through HTTP.
struct Inbox {
    rows: Vec<Value>,
    total: i64,
    unread: i64,
}

impl Http {
    fn new(base: String) -> Http {
        Http { client: reqwest::Client::new(), base }
    }

    fn of(app: &TestApp) -> Http {
        Http::new(format!("http://{}", app.addr))
    }

    /// Every page of a user's inbox (`GET /api/v1/conversations`), read at or after `min_lsn`.
    async fn inbox(&self, token: &str, min_lsn: &str) -> Inbox {
        let mut rows = Vec::new();
        let mut cursor: Option<String> = None;
        let mut counts = None;
        loop {
            let mut url = format!("{}/api/v1/conversations?limit=200&min_lsn={min_lsn}", self.base);
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let resp = self.client.get(&url).bearer_auth(token).send().await.unwrap();
            let status = resp.status();
            let body: Value = resp.json().await.unwrap();
            assert_eq!(status, reqwest::StatusCode::OK, "GET {url}: {body}");
            let page = (body["total"].as_i64().unwrap(), body["unread"].as_i64().unwrap());
            assert!(counts.is_none_or(|c| c == page), "counts changed between pages");
            counts = Some(page);
            rows.extend(body["items"].as_array().unwrap().iter().cloned());
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        let (total, unread) = counts.unwrap();
        Inbox { rows, total, unread }
    }
}

/// (total, unread) of a user's inbox, computed in SQL from the visibility rule: admin sees the
/// tenant, a coordinator the teams they coordinate, an executive their prospects.
async fn sql_inbox_counts(conn: &mut PgConnection, tenant: i64, user: &User) -> (i64, i64) {
    sqlx::query_as(
        "SELECT count(*),
                count(*) FILTER (WHERE EXISTS (
                    SELECT 1 FROM messages m WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.conversation_id
                    AND m.direction = 'in' AND m.read_at IS NULL))
         FROM conversations c
         JOIN prospects p ON p.tenant_id = c.tenant_id AND p.prospect_id = c.prospect_id
         WHERE c.tenant_id = $1 AND CASE $3
             WHEN 'admin' THEN true
             WHEN 'coordinator' THEN p.team_id IN (
                 SELECT ct.team_id FROM coordinator_teams ct WHERE ct.tenant_id = $1 AND ct.user_id = $2)
             ELSE p.executive_id IS NOT DISTINCT FROM $2 END",
    )
    .bind(tenant)
    .bind(user.id)
    .bind(user.role)
    .fetch_one(conn)
    .await
    .unwrap()
}

/// Every user's inbox counts through HTTP equal SQL's; the admin's rows carry SQL's message and
/// unread counts (and `expected`'s message counts, when given). Returns the admin's inbox.
async fn check_http(
    http: &Http,
    url: &str,
    fx: &Fixture,
    min_lsn: &str,
    expected: Option<&BTreeMap<i64, i64>>,
) -> Inbox {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let mut admin = None;
    for user in &fx.users {
        let inbox = http.inbox(&user.token, min_lsn).await;
        let sql = sql_inbox_counts(&mut conn, fx.tenant, user).await;
        assert_eq!(
            (inbox.total, inbox.unread),
            sql,
            "user {} ({}): (total, unread) through HTTP vs SQL",
            user.id,
            user.role
        );
        assert_eq!(inbox.rows.len() as i64, inbox.total, "user {}: rows listed vs total", user.id);
        if user.role == "admin" {
            admin = Some(inbox);
        }
    }
    let admin = admin.unwrap();
    let sql = sql_message_counts(&mut conn, fx.tenant).await;
    let http_counts: BTreeMap<i64, (i64, i64)> = admin
        .rows
        .iter()
        .map(|r| {
            let id = r["conversation_id"].as_i64().unwrap();
            (id, (r["message_count"].as_i64().unwrap(), r["unread_count"].as_i64().unwrap()))
        })
        .collect();
    assert_eq!(http_counts, sql, "(message_count, unread_count) per conversation: HTTP vs SQL");
    if let Some(expected) = expected {
        let http_messages: BTreeMap<i64, i64> = http_counts.iter().map(|(c, (n, _))| (*c, *n)).collect();
        assert_eq!(&http_messages, expected, "message_count per conversation: HTTP vs the committed writes");
    }
    conn.close().await.unwrap();
    admin
}

async fn initial_counts(url: &str, tenant: i64) -> BTreeMap<i64, (i64, i64)> {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let counts = sql_message_counts(&mut conn, tenant).await;
    conn.close().await.unwrap();
    counts
}

/// The whole check after a fault: caught up, verify clean, writes accounted for, HTTP = SQL.
async fn check_after(
    live: &LiveInbox,
    http: &Http,
    url: &str,
    fx: &Fixture,
    initial: &BTreeMap<i64, (i64, i64)>,
    ledgers: &[Ledger],
) {
    let lsn = catch_up(live, url).await;
    verify_clean(live, "after the fault").await;
    let mut conn = PgConnection::connect(url).await.unwrap();
    let expected = expected_counts(&mut conn, fx.tenant, initial, ledgers).await;
    conn.close().await.unwrap();
    check_http(http, url, fx, &lsn, Some(&expected)).await;
}

async fn walsender_pid(pool: &PgPool, slot: &str) -> Option<i32> {
    sqlx::query_scalar::<_, Option<i32>>("SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1")
        .bind(slot)
        .fetch_optional(pool)
        .await
        .unwrap()
        .flatten()
}

// ---------------------------------------------------------------------------------------------
// 1. The walsender killed mid-stream
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walsender_killed_mid_stream_loses_nothing_and_applies_nothing_twice() {
    let _shared = support::shared().await;
    let started = Instant::now();
    let app = TestApp::spawn().await;
    let fx = seed(&app.pool, "kill", 30).await;
    let http = Http::of(&app);
    let slot = platica::slot_name(&app.db_url);
    catch_up(&app.live, &app.db_url).await;
    let initial = initial_counts(&app.db_url, fx.tenant).await;

    let writing = Instant::now();
    let writers = spawn_writers(&app.db_url, &fx, "k", 2, 800, Duration::from_secs(5));
    let mut killed = Vec::new();
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(800)).await;
        // The walsender of our slot (after a kill, the one the client reconnected with).
        let wait = Instant::now();
        let pid = loop {
            match walsender_pid(&app.pool, &slot).await {
                Some(pid) if !killed.contains(&pid) => break pid,
                _ => {
                    assert!(wait.elapsed() < Duration::from_secs(20), "the live inbox did not reconnect within 20 s");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        let ok: bool =
            sqlx::query_scalar("SELECT pg_terminate_backend($1)").bind(pid).fetch_one(&app.pool).await.unwrap();
        assert!(ok, "could not terminate walsender {pid}");
        println!(
            "  killed walsender {pid} at {} ms (reconnected after {} ms)",
            writing.elapsed().as_millis(),
            wait.elapsed().as_millis()
        );
        killed.push(pid);
    }
    let ledgers = join_writers(writers).await;
    summary("walsender killed", &ledgers, writing);
    assert!(ledgers.iter().map(|l| l.committed.len()).sum::<usize>() > 300, "too few writes to prove anything");
    check_after(&app.live, &http, &app.db_url, &fx, &initial, &ledgers).await;
    // The stream reconnected by itself: it must be streaming on a new walsender again.
    assert!(walsender_pid(&app.pool, &slot).await.is_some_and(|p| !killed.contains(&p)));
    println!("walsender killed: {} ms in all", started.elapsed().as_millis());
}

// ---------------------------------------------------------------------------------------------
// 2. The Platica server restarted during writes
// ---------------------------------------------------------------------------------------------

/// Our replication slots on the database of `pool`: (name, active).
async fn our_slots(pool: &PgPool) -> Vec<(String, bool)> {
    sqlx::query_as(
        "SELECT slot_name::text, active FROM pg_replication_slots
         WHERE database = current_database() AND slot_name LIKE 'platica%' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Waits (at most 10 s) until the database's only Platica slot is `slot`, `active` or not.
async fn expect_only_slot(pool: &PgPool, slot: &str, active: bool) {
    let started = Instant::now();
    loop {
        let slots = our_slots(pool).await;
        if slots == [(slot.to_owned(), active)] {
            println!("  only slot {slot} (active {active}) after {} ms", started.elapsed().as_millis());
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "expected only slot {slot} (active {active}), found {slots:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platica_restarted_during_writes_resumes_from_a_fresh_snapshot() {
    let _shared = support::shared().await;
    let started = Instant::now();
    let url = support::fresh_database().await;
    let pool = platica_store::pg::db::connect(&url, 2).await.unwrap();
    let fx = seed(&pool, "restart", 30).await;
    let slot = platica::slot_name(&url);

    let first = Server::start(&url).await;
    catch_up(first.live(), &url).await;
    let initial = initial_counts(&url, fx.tenant).await;
    let writing = Instant::now();
    let writers = spawn_writers(&url, &fx, "r", 2, 800, Duration::from_secs(5));

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stopping = Instant::now();
    first.stop().await;
    println!("  first server stopped in {} ms, slots now {:?}", stopping.elapsed().as_millis(), our_slots(&pool).await);
    // A new server at once, as a supervisor restarting the process would: it must take over the
    // slot the first one left.
    let restarting = Instant::now();
    let second = Server::start(&url).await;
    println!(
        "  second server loaded {} conversations in {} ms at {}",
        second.live().status().load.conversations,
        restarting.elapsed().as_millis(),
        platica_changes::lsn::format(second.live().status().loaded_at_lsn)
    );
    let ledgers = join_writers(writers).await;
    summary("server restarted", &ledgers, writing);
    let after_restart: usize = ledgers.iter().flat_map(|l| &l.commit_times).filter(|t| **t > restarting).count();
    assert!(after_restart > 100, "only {after_restart} writes after the restart");
    check_after(second.live(), &Http::new(second.base.clone()), &url, &fx, &initial, &ledgers).await;

    // One slot for the database, in use by the second server; not active once it stopped.
    expect_only_slot(&pool, &slot, true).await;
    second.stop().await;
    expect_only_slot(&pool, &slot, false).await;
    pool.close().await;
    println!("server restarted: {} ms in all", started.elapsed().as_millis());
}

// ---------------------------------------------------------------------------------------------
// 3. PostgreSQL restarted during writes
// ---------------------------------------------------------------------------------------------

enum ClusterCommand {
    Stop(tokio::sync::oneshot::Sender<()>),
    Start(tokio::sync::oneshot::Sender<Result<(), String>>),
}

/// A durable private cluster owned by a dedicated thread (the server dies with the thread that
/// started it), stopped and started again on the same port on command.
struct OwnCluster {
    commands: Option<std::sync::mpsc::Sender<ClusterCommand>>,
    thread: Option<std::thread::JoinHandle<()>>,
    admin_url: String,
    url_prefix: String,
    root: PathBuf,
}

impl OwnCluster {
    fn start(root: PathBuf) -> OwnCluster {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (commands, rx) = std::sync::mpsc::channel::<ClusterCommand>();
        let thread_root = root.clone();
        let thread = std::thread::Builder::new()
            .name("fault-postgres".into())
            .spawn(move || {
                let mut opts = ClusterOptions::new(thread_root, true);
                let cluster = match PrivateCluster::start(&opts) {
                    Ok(c) => c,
                    Err(e) => {
                        ready_tx.send(Err(e.to_string())).unwrap();
                        return;
                    }
                };
                // Restarts listen where clients expect the server.
                opts.port = Some(cluster.port());
                ready_tx.send(Ok((cluster.url("postgres"), cluster.url("")))).unwrap();
                let mut running = Some(cluster);
                // Until the owner hangs up (or panics): then the server stops with us.
                while let Ok(cmd) = rx.recv() {
                    match cmd {
                        ClusterCommand::Stop(reply) => {
                            if let Some(c) = running.take() {
                                c.stop().unwrap();
                            }
                            let _ = reply.send(());
                        }
                        ClusterCommand::Start(reply) => {
                            let result = match PrivateCluster::start(&opts) {
                                Ok(c) => {
                                    running = Some(c);
                                    Ok(())
                                }
                                Err(e) => Err(e.to_string()),
                            };
                            let _ = reply.send(result);
                        }
                    }
                }
                if let Some(c) = running.take() {
                    let _ = c.stop();
                }
            })
            .unwrap();
        let (admin_url, url_prefix) =
            ready_rx.recv().unwrap().unwrap_or_else(|e| panic!("cannot start the fault-test PostgreSQL: {e}"));
        OwnCluster { commands: Some(commands), thread: Some(thread), admin_url, url_prefix, root }
    }

    /// Stops the server (fast shutdown). It must be down within 30 s; if not, it is killed
    /// (immediate shutdown) and the test fails.
    async fn stop_server(&self) {
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        self.commands.as_ref().unwrap().send(ClusterCommand::Stop(tx)).unwrap();
        if tokio::time::timeout(Duration::from_secs(30), &mut rx).await.is_ok() {
            return;
        }
        let pid_file = self.root.join("pg").join("postmaster.pid");
        let pid: libc::pid_t =
            std::fs::read_to_string(&pid_file).unwrap().lines().next().unwrap().trim().parse().unwrap();
        // SAFETY: kill has no memory-safety preconditions; the pid is our own cluster's postmaster.
        unsafe { libc::kill(pid, libc::SIGQUIT) };
        let _ = rx.await;
        panic!(
            "PostgreSQL did not shut down within 30 s (killed it): is a walsender still waiting for its \
             client to confirm its last position?"
        );
    }

    async fn start_server(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.commands.as_ref().unwrap().send(ClusterCommand::Start(tx)).unwrap();
        rx.await.unwrap().unwrap_or_else(|e| panic!("cannot restart PostgreSQL: {e}"));
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        // Hanging up makes the owning thread stop the server and end.
        drop(self.commands.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Cluster roots of fault-test processes that no longer run.
fn remove_stale_cluster_roots() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) =
            name.strip_prefix("platica-faults-pg-").and_then(|p| p.split('-').next()?.parse::<u32>().ok())
            && !PathBuf::from(format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_during_writes_is_recovered_from() {
    let _shared = support::shared().await;
    let started = Instant::now();
    remove_stale_cluster_roots();
    let root = std::env::temp_dir().join(format!("platica-faults-pg-{}", std::process::id()));
    let cluster_root = root.clone();
    let cluster = tokio::task::spawn_blocking(move || OwnCluster::start(cluster_root)).await.unwrap();
    println!("  own durable cluster up in {} ms", started.elapsed().as_millis());
    platica_store::pg::db::create_database(&cluster.admin_url, "faults", None).await.unwrap();
    let url = format!("{}faults", cluster.url_prefix);
    let pool = platica_store::pg::db::connect(&url, 2).await.unwrap();
    platica_store::pg::db::migrate(&pool).await.unwrap();
    let fx = seed(&pool, "pgrestart", 30).await;
    // Its connections would not survive the restart; the checks open their own.
    pool.close().await;

    let server = Server::start(&url).await;
    catch_up(server.live(), &url).await;
    let initial = initial_counts(&url, fx.tenant).await;
    let writing = Instant::now();
    // The writers go on for 5 s after PostgreSQL is back, however long the restart takes.
    let stop_writers = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers = spawn_writers_until(&url, &fx, "p", 2, Duration::from_secs(90), &stop_writers);

    tokio::time::sleep(Duration::from_millis(1500)).await;
    // A transaction open when the server stops: the shutdown aborts it, which leaves WAL after the
    // last commit that holds nothing for the live inbox.
    let mut held = PgConnection::connect(&url).await.unwrap();
    let mut held_tx = held.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status, external_id)
         VALUES ($1, $2, 'in', 'prospect', 'never committed', 'delivered', 'held-at-shutdown')",
    )
    .bind(fx.tenant)
    .bind(fx.conversations[0])
    .execute(&mut *held_tx)
    .await
    .unwrap();
    let down = Instant::now();
    cluster.stop_server().await;
    drop(held_tx);
    drop(held);
    println!("  PostgreSQL stopped (fast shutdown) in {} ms", down.elapsed().as_millis());
    // Down for a while: writers fail and retry, the replication client loses its server.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    cluster.start_server().await;
    let up = Instant::now();
    println!("  PostgreSQL back on the same port after {} ms down", down.elapsed().as_millis());
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop_writers.store(true, std::sync::atomic::Ordering::SeqCst);

    let ledgers = join_writers(writers).await;
    summary("PostgreSQL restarted", &ledgers, writing);
    let after_restart: usize = ledgers.iter().flat_map(|l| &l.commit_times).filter(|t| **t > up).count();
    assert!(after_restart > 100, "only {after_restart} writes after PostgreSQL came back");
    let hurt: usize = ledgers.iter().map(|l| l.failed.len() + l.ambiguous.len() + l.connect_errors as usize).sum();
    assert!(hurt > 0, "the writers never noticed the restart: was the server really down?");
    check_after(server.live(), &Http::new(server.base.clone()), &url, &fx, &initial, &ledgers).await;
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE external_id = 'held-at-shutdown'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(held, 0, "the transaction open at the shutdown committed");
    conn.close().await.unwrap();

    server.stop().await;
    tokio::task::spawn_blocking(move || drop(cluster)).await.unwrap();
    assert!(!root.exists(), "the cluster directory {} is left behind", root.display());
    println!("PostgreSQL restarted: {} ms in all", started.elapsed().as_millis());
}

// ---------------------------------------------------------------------------------------------
// 4. One 200,000-row transaction
// ---------------------------------------------------------------------------------------------

/// A `/proc/self/status` value in kB (`VmRSS`, `VmHWM`).
fn vm_kb(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("no {key} in /proc/self/status"));
    line.trim_start_matches(key).trim_start_matches(':').trim().trim_end_matches("kB").trim().parse().unwrap()
}

/// How many messages the big transaction inserts.
const BIG_ROWS: i64 = 200_000;

/// Inserts [`BIG_ROWS`] messages in one transaction (one INSERT ... SELECT generate_series, spread
/// over the fixture's conversations) while the live inbox runs; checks it was applied whole (verify
/// clean, every conversation's count through HTTP) and returns how much the process's resident
/// memory grew meanwhile, in MB.
async fn big_transaction(live: &LiveInbox, http: &Http, url: &str, pool: &PgPool, slug: &str) -> u64 {
    let fx = seed(pool, slug, 20).await;
    catch_up(live, url).await;
    let initial = initial_counts(url, fx.tenant).await;

    let (rss_before, peak_before) = (vm_kb("VmRSS"), vm_kb("VmHWM"));
    let inserting = Instant::now();
    let mut conn = PgConnection::connect(url).await.unwrap();
    let inserted = sqlx::query(
        "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status, created_at, read_at)
         SELECT $1, ($2::bigint[])[1 + g % cardinality($2::bigint[])],
                CASE WHEN g % 3 = 0 THEN 'out' ELSE 'in' END,
                CASE WHEN g % 3 = 0 THEN 'bot' ELSE 'prospect' END,
                'mensaje masivo número ' || g, 'delivered',
                now() + g * interval '1 microsecond',
                CASE WHEN g % 4 = 0 THEN now() END
         FROM generate_series(1, $3::bigint) g",
    )
    .bind(fx.tenant)
    .bind(&fx.conversations)
    .bind(BIG_ROWS)
    .execute(&mut conn)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(inserted, BIG_ROWS as u64);
    conn.close().await.unwrap();
    println!("  one transaction inserted {BIG_ROWS} messages in {} ms", inserting.elapsed().as_millis());
    let applying = Instant::now();
    let lsn = catch_up(live, url).await;
    let apply_ms = applying.elapsed().as_millis();
    let (rss_after, peak_after) = (vm_kb("VmRSS"), vm_kb("VmHWM"));
    let growth_mb = rss_after.saturating_sub(rss_before) / 1024;
    println!(
        "  applied {apply_ms} ms after the commit; RSS before {} MB, after {} MB (growth {growth_mb} MB); \
         peak RSS before {} MB, after {} MB",
        rss_before / 1024,
        rss_after / 1024,
        peak_before / 1024,
        peak_after / 1024
    );

    verify_clean(live, "after the 200,000-row transaction").await;
    let n = fx.conversations.len() as i64;
    let mut expected: BTreeMap<i64, i64> = initial.iter().map(|(c, (m, _))| (*c, *m)).collect();
    for g in 1..=BIG_ROWS {
        *expected.get_mut(&fx.conversations[(g % n) as usize]).unwrap() += 1;
    }
    check_http(http, url, &fx, &lsn, Some(&expected)).await;
    growth_mb
}

/// The most the process's resident memory may grow while the live inbox applies the 200,000-row
/// transaction (measured: about 10 MB, peak about 35 MB).
const MAX_RSS_GROWTH_MB: u64 = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200k_row_transaction_is_applied_whole_in_bounded_memory() {
    // Alone: the memory measured is the whole process's.
    let _alone = support::exclusive().await;
    let started = Instant::now();
    // The live inbox and the HTTP API, without the realtime hub (see the next test).
    let url = support::fresh_database().await;
    let pool = platica_store::pg::db::connect(&url, 2).await.unwrap();
    let token = CancellationToken::new();
    let (live, task) = platica::start_live(&url, token.clone()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = Http::new(format!("http://{}", listener.local_addr().unwrap()));
    let mut state = platica_http::AppState::new(platica_store::pg::db::connect(&url, 4).await.unwrap());
    state.live = Some(Arc::clone(&live));
    let stop = token.clone();
    let server =
        tokio::spawn(async move { platica::serve(listener, state, async move { stop.cancelled().await }).await });

    let growth_mb = big_transaction(&live, &http, &url, &pool, "big").await;
    assert!(
        growth_mb < MAX_RSS_GROWTH_MB,
        "RSS grew by {growth_mb} MB applying {BIG_ROWS} rows (bound {MAX_RSS_GROWTH_MB} MB)"
    );
    token.cancel();
    task.await.unwrap();
    server.await.unwrap().unwrap();
    println!("200,000-row transaction: {} ms in all", started.elapsed().as_millis());
}

/// The same with the realtime hub attached, as `platica serve` runs. A transaction's rows are held
/// for fan-out only up to `MAX_FANOUT_ROWS`; past that its tenant's subscribers are told to refetch,
/// so memory stays bounded. (Before that cap: 565 MB of growth, about 2.8 KB per row.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200k_row_transaction_with_the_realtime_hub_is_applied_in_bounded_memory() {
    let _alone = support::exclusive().await;
    let app = TestApp::spawn().await;
    let growth_mb = big_transaction(&app.live, &Http::of(&app), &app.db_url, &app.pool, "bighub").await;
    assert!(
        growth_mb < MAX_RSS_GROWTH_MB,
        "RSS grew by {growth_mb} MB applying {BIG_ROWS} rows with the hub (bound {MAX_RSS_GROWTH_MB} MB)"
    );
}

// ---------------------------------------------------------------------------------------------
// 5. TRUNCATE and DELETE
// ---------------------------------------------------------------------------------------------

fn row_of(inbox: &Inbox, conversation: i64) -> &Value {
    inbox
        .rows
        .iter()
        .find(|r| r["conversation_id"].as_i64() == Some(conversation))
        .unwrap_or_else(|| panic!("conversation {conversation} is not in the inbox"))
}

/// The message before the newest of a conversation: (id, preview).
async fn previous_message(pool: &PgPool, tenant: i64, conversation: i64) -> (i64, String) {
    sqlx::query_as(
        "SELECT message_id, left(body, 120) FROM messages WHERE tenant_id = $1 AND conversation_id = $2
         ORDER BY created_at DESC, message_id DESC OFFSET 1 LIMIT 1",
    )
    .bind(tenant)
    .bind(conversation)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncate_and_delete_are_reflected_in_every_inbox() {
    let _shared = support::shared().await;
    let started = Instant::now();
    let app = TestApp::spawn().await;
    let fx = seed(&app.pool, "trunc", 4).await;
    let http = Http::of(&app);
    let url = app.db_url.as_str();
    catch_up(&app.live, url).await;
    verify_clean(&app.live, "seeded").await;
    let (ana, ven) = (fx.executives[0], fx.teams[1]);

    // DELETE of a conversation (its messages go by cascade): gone from every role's inbox.
    let victim = scalar_i64(
        &app.pool,
        "SELECT c.conversation_id FROM conversations c
         JOIN prospects p ON p.tenant_id = c.tenant_id AND p.prospect_id = c.prospect_id
         WHERE c.tenant_id = $1 AND p.executive_id = $2 AND p.team_id = $3 ORDER BY 1 LIMIT 1",
        &[fx.tenant, ana, ven],
    )
    .await;
    let lsn = catch_up(&app.live, url).await;
    let mut saw = Vec::new();
    for u in &fx.users {
        if http.inbox(&u.token, &lsn).await.rows.iter().any(|r| r["conversation_id"].as_i64() == Some(victim)) {
            saw.push(u.id);
        }
    }
    // The admin, the VEN and the two-team coordinators, and Ana.
    assert_eq!(saw.len(), 4, "users seeing conversation {victim} before: {saw:?}");
    let deleted = sqlx::query("DELETE FROM conversations WHERE tenant_id = $1 AND conversation_id = $2")
        .bind(fx.tenant)
        .bind(victim)
        .execute(&app.pool)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(deleted, 1);
    let left = scalar_i64(
        &app.pool,
        "SELECT count(*) FROM messages WHERE tenant_id = $1 AND conversation_id = $2",
        &[fx.tenant, victim],
    )
    .await;
    assert_eq!(left, 0, "the cascade left messages");
    let lsn = catch_up(&app.live, url).await;
    for u in &fx.users {
        let inbox = http.inbox(&u.token, &lsn).await;
        assert!(
            inbox.rows.iter().all(|r| r["conversation_id"].as_i64() != Some(victim)),
            "user {} ({}) still sees deleted conversation {victim}",
            u.id,
            u.role
        );
    }
    check_http(&http, url, &fx, &lsn, None).await;
    verify_clean(&app.live, "after DELETE of a conversation").await;

    // DELETE of a conversation's newest message: the previous one is its last message again, as
    // soon as the delete is applied (a read with its LSN sees it).
    let others: Vec<i64> = fx.conversations.iter().copied().filter(|c| *c != victim).collect();
    let one = others[0];
    let (prev_id, prev_preview) = previous_message(&app.pool, fx.tenant, one).await;
    sqlx::query(
        "DELETE FROM messages WHERE tenant_id = $1 AND message_id = (
             SELECT message_id FROM messages WHERE tenant_id = $1 AND conversation_id = $2
             ORDER BY created_at DESC, message_id DESC LIMIT 1)",
    )
    .bind(fx.tenant)
    .bind(one)
    .execute(&app.pool)
    .await
    .unwrap();
    let lsn = catch_up(&app.live, url).await;
    let inbox = http.inbox(fx.admin(), &lsn).await;
    let row = row_of(&inbox, one);
    assert_eq!(row["last_message_id"].as_i64(), Some(prev_id), "last message after deleting the newest: {row}");
    assert_eq!(row["last_message_preview"].as_str(), Some(prev_preview.as_str()), "{row}");
    assert_eq!((row["message_count"].as_i64(), row["unread_count"].as_i64()), (Some(1), Some(0)), "{row}");
    check_http(&http, url, &fx, &lsn, None).await;
    verify_clean(&app.live, "after DELETE of a newest message").await;

    // The newest messages of five conversations in one statement.
    let five = &others[1..6];
    let mut previous = Vec::new();
    for c in five {
        previous.push(previous_message(&app.pool, fx.tenant, *c).await);
    }
    let gone = sqlx::query(
        "DELETE FROM messages WHERE tenant_id = $1 AND message_id IN (
             SELECT DISTINCT ON (conversation_id) message_id FROM messages
             WHERE tenant_id = $1 AND conversation_id = ANY($2)
             ORDER BY conversation_id, created_at DESC, message_id DESC)",
    )
    .bind(fx.tenant)
    .bind(five)
    .execute(&app.pool)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(gone, 5);
    let lsn = catch_up(&app.live, url).await;
    let inbox = http.inbox(fx.admin(), &lsn).await;
    for (c, (prev_id, prev_preview)) in five.iter().zip(&previous) {
        let row = row_of(&inbox, *c);
        assert_eq!(row["last_message_id"].as_i64(), Some(*prev_id), "{row}");
        assert_eq!(row["last_message_preview"].as_str(), Some(prev_preview.as_str()), "{row}");
    }
    check_http(&http, url, &fx, &lsn, None).await;
    verify_clean(&app.live, "after DELETE of five newest messages").await;

    // The newest message deleted twice in quick succession (two transactions): the message read
    // back after the first delete is gone by the second; it must not come back.
    let twice = others[6];
    let (first_id, first_preview) = previous_message(&app.pool, fx.tenant, twice).await;
    sqlx::query(
        "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status)
         VALUES ($1, $2, 'in', 'prospect', 'un tercer mensaje', 'delivered')",
    )
    .bind(fx.tenant)
    .bind(twice)
    .execute(&app.pool)
    .await
    .unwrap();
    catch_up(&app.live, url).await;
    let mut conn = PgConnection::connect(url).await.unwrap();
    for _ in 0..2 {
        let gone = sqlx::query(
            "DELETE FROM messages WHERE tenant_id = $1 AND message_id = (
                 SELECT message_id FROM messages WHERE tenant_id = $1 AND conversation_id = $2
                 ORDER BY created_at DESC, message_id DESC LIMIT 1)",
        )
        .bind(fx.tenant)
        .bind(twice)
        .execute(&mut conn)
        .await
        .unwrap()
        .rows_affected();
        assert_eq!(gone, 1);
    }
    conn.close().await.unwrap();
    let lsn = catch_up(&app.live, url).await;
    let inbox = http.inbox(fx.admin(), &lsn).await;
    let row = row_of(&inbox, twice);
    assert_eq!(row["last_message_id"].as_i64(), Some(first_id), "{row}");
    assert_eq!(row["last_message_preview"].as_str(), Some(first_preview.as_str()), "{row}");
    assert_eq!(row["message_count"].as_i64(), Some(1), "{row}");
    check_http(&http, url, &fx, &lsn, None).await;
    verify_clean(&app.live, "after two quick DELETEs of the newest message").await;

    // TRUNCATE messages (CASCADE: delivery statuses reference them): every conversation stays,
    // with no messages, nothing unread, no preview.
    sqlx::query("TRUNCATE messages CASCADE").execute(&app.pool).await.unwrap();
    let lsn = catch_up(&app.live, url).await;
    let inbox = http.inbox(fx.admin(), &lsn).await;
    assert_eq!(inbox.total as usize, others.len());
    assert_eq!(inbox.unread, 0);
    for row in &inbox.rows {
        assert_eq!((row["message_count"].as_i64(), row["unread_count"].as_i64()), (Some(0), Some(0)), "{row}");
        assert!(row["last_message_preview"].is_null() && row["last_message_id"].is_null(), "{row}");
    }
    check_http(&http, url, &fx, &lsn, None).await;
    verify_clean(&app.live, "after TRUNCATE messages CASCADE").await;

    // TRUNCATE prospects CASCADE: conversations go with them; every inbox is empty.
    sqlx::query("TRUNCATE prospects CASCADE").execute(&app.pool).await.unwrap();
    let lsn = catch_up(&app.live, url).await;
    for u in &fx.users {
        let inbox = http.inbox(&u.token, &lsn).await;
        assert_eq!((inbox.total, inbox.unread, inbox.rows.len()), (0, 0, 0), "user {} ({})", u.id, u.role);
    }
    check_http(&http, url, &fx, &lsn, None).await;
    verify_clean(&app.live, "after TRUNCATE prospects CASCADE").await;
    println!("TRUNCATE and DELETE: {} ms in all", started.elapsed().as_millis());
}

// ---------------------------------------------------------------------------------------------
// 7. The fault matrix: the stream heals itself, and says so while it is not live
// ---------------------------------------------------------------------------------------------
//
// Each fault is injected at least three times under writers. After each: the inbox is live
// again within `HEAL_WITHIN` of the fault being over, WebSocket clients were told `degraded` and
// then `reset`, nothing else of the server stopped, and `check_after` holds (verify clean, every
// committed row there exactly once, every role's inbox through HTTP equal to SQL).

/// How soon after a fault is over (PostgreSQL reachable again) the inbox must be live.
const HEAL_WITHIN: Duration = Duration::from_secs(5);

/// A WebSocket client subscribed to the admin's inbox, recording the `degraded` and `reset`
/// frames it receives (reconnecting if its connection drops).
struct Watcher {
    frames: Arc<std::sync::Mutex<Vec<(Instant, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    async fn start(base: &str, token: &str) -> Watcher {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        let url = format!("{}/api/v1/ws?token={token}", base.replace("http://", "ws://"));
        let frames = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = Arc::clone(&frames);
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            loop {
                if let Ok((mut ws, _)) = tokio_tungstenite::connect_async(url.as_str()).await {
                    let sub = serde_json::json!({"type": "subscribe", "id": "inbox", "topic": "inbox"});
                    let _ = ws.send(Message::Text(sub.to_string().into())).await;
                    while let Some(Ok(msg)) = ws.next().await {
                        let Message::Text(text) = msg else { continue };
                        let v: Value = serde_json::from_str(text.as_str()).unwrap();
                        match v["type"].as_str() {
                            Some("subscribed") => {
                                if let Some(r) = ready.take() {
                                    let _ = r.send(());
                                }
                            }
                            Some(kind @ ("degraded" | "reset")) => {
                                seen.lock().unwrap().push((Instant::now(), kind.to_owned()));
                            }
                            _ => {}
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        tokio::time::timeout(Duration::from_secs(10), ready_rx)
            .await
            .expect("the watcher's WebSocket did not subscribe within 10 s")
            .unwrap();
        Watcher { frames, task }
    }

    fn kinds_after(&self, t: Instant) -> Vec<String> {
        self.frames.lock().unwrap().iter().filter(|(at, _)| *at >= t).map(|(_, k)| k.clone()).collect()
    }

    /// Since `t`, a `degraded` frame came, and a `reset` after it (waits up to 5 s for it).
    async fn assert_told(&self, t: Instant, what: &str) {
        let started = Instant::now();
        loop {
            let kinds = self.kinds_after(t);
            let told =
                kinds.iter().position(|k| k == "degraded").is_some_and(|d| kinds[d..].iter().any(|k| k == "reset"));
            if told {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(5), "{what}: expected degraded then reset, got {kinds:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits until the live inbox is live (streaming, not stale) and `ready(status)`; returns how long
/// that took from `from`.
async fn live_again(
    server: &Server,
    from: Instant,
    what: &str,
    ready: impl Fn(&platica_changes::Status) -> bool,
) -> Duration {
    loop {
        let s = server.live().status();
        if server.live().stale_since().is_none() && s.streaming && ready(&s) {
            let took = from.elapsed();
            println!("  {what}: live again {} ms after the fault ended (status {s:?})", took.as_millis());
            return took;
        }
        assert!(from.elapsed() < Duration::from_secs(90), "{what}: not live 90 s after the fault ended: {s:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What every round of the fault matrix shares: the server under test, its clients, and the
/// writes so far (every round's writes are checked against the seed, so the ledgers accumulate).
struct Matrix<'a> {
    server: &'a Server,
    http: Http,
    watcher: Watcher,
    url: &'a str,
    fx: &'a Fixture,
    initial: BTreeMap<i64, (i64, i64)>,
    all: Vec<Ledger>,
}

impl<'a> Matrix<'a> {
    async fn new(server: &'a Server, url: &'a str, fx: &'a Fixture) -> Matrix<'a> {
        let http = Http::new(server.base.clone());
        let watcher = Watcher::start(&server.base, fx.admin()).await;
        catch_up(server.live(), url).await;
        let initial = initial_counts(url, fx.tenant).await;
        Matrix { server, http, watcher, url, fx, initial, all: Vec::new() }
    }

    /// The end of a round whose fault ended at `over`: live again within `bound` (and `ready`),
    /// the writers done, `degraded` then `reset` pushed, nothing else stopped, and `check_after`.
    async fn healed(
        &mut self,
        what: &str,
        began: Instant,
        over: Instant,
        bound: Duration,
        writers: Vec<tokio::task::JoinHandle<Ledger>>,
        ready: impl Fn(&platica_changes::Status) -> bool,
    ) {
        let healed = live_again(self.server, over, what, ready).await;
        assert!(healed <= bound, "{what}: live again only {healed:?} after the fault ended");
        let ledgers = join_writers(writers).await;
        summary(what, &ledgers, began);
        self.all.extend(ledgers);
        self.watcher.assert_told(began, what).await;
        self.server.assert_running(what);
        check_after(self.server.live(), &self.http, self.url, self.fx, &self.initial, &self.all).await;
    }
}

/// How many times each fault of the matrix is injected: `ci` by default, `PLATICA_FAULT_ROUNDS`
/// when set (`scripts/soak` sets 20).
fn fault_rounds(ci: usize) -> usize {
    match std::env::var("PLATICA_FAULT_ROUNDS") {
        Ok(v) => v.parse().unwrap_or_else(|_| panic!("PLATICA_FAULT_ROUNDS={v:?} is not a number")),
        Err(_) => ci,
    }
}

async fn terminate(pool: &PgPool, pid: i32) -> bool {
    sqlx::query_scalar("SELECT pg_terminate_backend($1, 2000)").bind(pid).fetch_one(pool).await.unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_heals_after_bursts_of_walsender_kills() {
    let _shared = support::shared().await;
    let started = Instant::now();
    let url = support::fresh_database().await;
    let pool = platica_store::pg::db::connect(&url, 2).await.unwrap();
    let fx = seed(&pool, "bursts", 20).await;
    let slot = platica::slot_name(&url);
    let server = Server::start(&url).await;
    let mut m = Matrix::new(&server, &url, &fx).await;
    for round in 1..=fault_rounds(3) {
        let what = format!("kill burst {round}");
        catch_up(server.live(), &url).await;
        let began = Instant::now();
        let writers = spawn_writers(&url, &fx, &format!("b{round}"), 2, 600, Duration::from_secs(3));
        tokio::time::sleep(Duration::from_millis(400)).await;
        // Five kills, each of the walsender holding the slot then (the one just reconnected).
        let burst = Instant::now();
        let mut killed = Vec::new();
        while killed.len() < 5 {
            assert!(burst.elapsed() < Duration::from_secs(10), "{what}: the stream did not reconnect between kills");
            match walsender_pid(&pool, &slot).await {
                Some(pid) if !killed.contains(&pid) && terminate(&pool, pid).await => killed.push(pid),
                _ => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
        let over = Instant::now();
        println!("  {what}: 5 walsenders killed in {} ms", burst.elapsed().as_millis());
        m.healed(&what, began, over, HEAL_WITHIN, writers, |_| true).await;
    }
    assert!(
        server.live().status().resumes >= fault_rounds(3) as u64,
        "kill bursts are healed by resuming: {:?}",
        server.live().status()
    );
    drop(m);
    server.stop().await;
    pool.close().await;
    println!("kill bursts: {} ms in all", started.elapsed().as_millis());
}

/// Drops our slot: terminates its walsender and drops it before the stream can take it back.
async fn drop_slot(pool: &PgPool, slot: &str) {
    let started = Instant::now();
    loop {
        if let Some(pid) = walsender_pid(pool, slot).await {
            terminate(pool, pid).await;
        }
        if sqlx::query("SELECT pg_drop_replication_slot($1)").bind(slot).execute(pool).await.is_ok() {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "could not drop slot {slot} within 10 s");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_heals_after_its_slot_is_dropped_or_its_publication_altered() {
    let _shared = support::shared().await;
    let started = Instant::now();
    let url = support::fresh_database().await;
    let pool = platica_store::pg::db::connect(&url, 2).await.unwrap();
    let fx = seed(&pool, "slotpub", 20).await;
    let slot = platica::slot_name(&url);
    let server = Server::start(&url).await;
    let mut m = Matrix::new(&server, &url, &fx).await;
    let faults: [(&str, Option<&str>); 6] = [
        ("slot dropped 1", None),
        ("messages taken out of the publication", Some("ALTER PUBLICATION platica DROP TABLE messages")),
        ("slot dropped 2", None),
        ("publication dropped", Some("DROP PUBLICATION platica")),
        ("slot dropped 3", None),
        (
            "prospects and conversations taken out of the publication",
            Some("ALTER PUBLICATION platica DROP TABLE prospects, conversations"),
        ),
    ];
    // Each round drops the slot once and alters the publication once.
    for (i, (what, sql)) in faults.iter().cycle().take(2 * fault_rounds(3)).enumerate() {
        catch_up(server.live(), &url).await;
        let rebuilds = server.live().status().rebuilds;
        let began = Instant::now();
        let writers = spawn_writers(&url, &fx, &format!("s{i}"), 2, 500, Duration::from_secs(3));
        tokio::time::sleep(Duration::from_millis(500)).await;
        match sql {
            None => drop_slot(&pool, &slot).await,
            Some(sql) => {
                sqlx::query(sqlx::AssertSqlSafe(*sql)).execute(&pool).await.unwrap();
            }
        }
        let at = Instant::now();
        // A publication is checked every PUBLICATION_CHECK; a dropped slot is noticed at once.
        let bound = match sql {
            None => HEAL_WITHIN,
            Some(_) => HEAL_WITHIN + platica_changes::live::PUBLICATION_CHECK,
        };
        m.healed(what, began, at, bound, writers, |s| s.rebuilds > rebuilds).await;
        let publication = platica_store::pg::publication::check(&pool).await.unwrap();
        assert!(publication.is_clean(), "{what}: the publication was not repaired: {publication:?}");
    }
    drop(m);
    server.stop().await;
    pool.close().await;
    println!("slot and publication faults: {} ms in all", started.elapsed().as_millis());
}

/// `GET path` with a bearer token: (status, headers, body as text).
async fn get_raw(base: &str, path: &str, token: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let resp = reqwest::Client::new().get(format!("{base}{path}")).bearer_auth(token).send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_heals_after_postgres_outages_and_says_it_is_stale_meanwhile() {
    let _shared = support::shared().await;
    let started = Instant::now();
    remove_stale_cluster_roots();
    let root = std::env::temp_dir().join(format!("platica-faults-pg-{}-heal", std::process::id()));
    let cluster_root = root.clone();
    let cluster = tokio::task::spawn_blocking(move || OwnCluster::start(cluster_root)).await.unwrap();
    platica_store::pg::db::create_database(&cluster.admin_url, "healing", None).await.unwrap();
    let url = format!("{}healing", cluster.url_prefix);
    let pool = platica_store::pg::db::connect(&url, 2).await.unwrap();
    platica_store::pg::db::migrate(&pool).await.unwrap();
    let fx = seed(&pool, "outage", 20).await;
    pool.close().await;

    let pg_port: u16 = url.rsplit(':').next().and_then(|p| p.split('/').next()).unwrap().parse().unwrap();
    let proxy = Proxy::start(pg_port).await;
    let server = Server::start_split(&proxy.url(&url, pg_port), &url).await;
    let mut m = Matrix::new(&server, &url, &fx).await;

    // 1. The live inbox cut off from PostgreSQL (a network partition), while the rest of the
    //    server still reaches it: reads answer, and say so.
    for round in 1..=fault_rounds(1) {
        let what = &format!("network partition {round}");
        catch_up(server.live(), &url).await;
        let began = Instant::now();
        let writers = spawn_writers(&url, &fx, &format!("h{round}"), 2, 400, Duration::from_secs(6));
        tokio::time::sleep(Duration::from_millis(300)).await;
        proxy.set_cut(true);
        let pool = platica_store::pg::db::connect(&url, 1).await.unwrap();
        support::until(5, "the live inbox to say it is degraded", || async { server.live().stale_since().map(|_| ()) })
            .await;
        // Pages still answer, from memory, and say since when they may be stale.
        let (status, headers, body) = get_raw(&server.base, "/api/v1/inbox?limit=5", fx.admin()).await;
        assert_eq!(status, 200, "{body}");
        assert!(headers.contains_key("platica-stale-since"), "no Platica-Stale-Since header: {headers:?}");
        let page: Value = serde_json::from_str(&body).unwrap();
        assert!(page["stale_since"].is_string(), "no stale_since in the page: {body}");
        // A read-your-writes read that cannot be met now answers 503 at once, with Retry-After.
        let lsn: String = sqlx::query_scalar("SELECT pg_logical_emit_message(false, 'platica.barrier', '')::text")
            .fetch_one(&pool)
            .await
            .unwrap();
        let asked = Instant::now();
        let (status, headers, body) = get_raw(&server.base, &format!("/api/v1/inbox?min_lsn={lsn}"), fx.admin()).await;
        assert_eq!(status, 503, "{body}");
        assert!(headers.contains_key("retry-after"), "no Retry-After: {headers:?}");
        assert!(body.contains("stream_degraded"), "{body}");
        assert!(asked.elapsed() < Duration::from_secs(1), "the 503 waited {:?}", asked.elapsed());
        // Not ready, and the metrics show it.
        let (status, _, body) = get_raw(&server.base, "/ready", fx.admin()).await;
        assert_eq!(status, 503, "{body}");
        let ready: Value = serde_json::from_str(&body).unwrap();
        assert!(body.contains("\"stale_since\":\""), "/ready does not say since when: {ready}");
        let (_, _, metrics) = get_raw(&server.base, "/metrics", fx.admin()).await;
        let stale: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("platica_inbox_stale_seconds "))
            .unwrap_or_else(|| panic!("no platica_inbox_stale_seconds in /metrics"))
            .trim()
            .parse()
            .unwrap();
        assert!(stale > 0.0, "platica_inbox_stale_seconds is {stale} while degraded");
        // Verification refuses a stale engine instead of comparing it (it would not be "clean").
        let refused = platica_changes::verify::verify(server.live(), None).await;
        assert!(refused.is_err(), "verify ran on a degraded engine: {:?}", refused.map(|r| r.difference_count));
        // A WebSocket opened now is told at once, right after hello.
        {
            use futures_util::StreamExt;
            let ws_url = format!("{}/api/v1/ws?token={}", server.base.replace("http://", "ws://"), fx.admin());
            let (mut ws, _) = tokio_tungstenite::connect_async(ws_url.as_str()).await.unwrap();
            let mut kinds = Vec::new();
            while kinds.len() < 2 {
                let Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) =
                    tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap()
                else {
                    continue;
                };
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                kinds.push(v["type"].as_str().unwrap().to_owned());
            }
            assert_eq!(kinds, ["hello", "degraded"]);
        }
        pool.close().await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(server.live().stale_since().is_some(), "live again while the network is still cut");
        proxy.set_cut(false);
        m.healed(what, began, Instant::now(), HEAL_WITHIN, writers, |_| true).await;
    }

    // 2. A silent partition: nothing arrives, nothing is reset. An idle stream and a dead one
    //    look alike, so the server writes a heartbeat and gives the connection up when it does
    //    not come back.
    for round in 1..=fault_rounds(1) {
        let what = format!("silent network partition {round}");
        catch_up(server.live(), &url).await;
        let began = Instant::now();
        let writers = spawn_writers(&url, &fx, &format!("q{round}"), 2, 400, Duration::from_secs(6));
        tokio::time::sleep(Duration::from_millis(300)).await;
        proxy.set_silent(true);
        let silenced = Instant::now();
        // Noticed by the heartbeat (1 s of silence, then 3 s), unless the partition caught the
        // apply loop in a side query (the read-back after a delete), which first waits for its
        // own timeout.
        use platica_changes::live::{HEARTBEAT_AFTER, HINT_TIMEOUT, STALL_AFTER};
        let bound = HEARTBEAT_AFTER + STALL_AFTER + HINT_TIMEOUT + Duration::from_secs(2);
        support::until(bound.as_secs(), "the live inbox to notice the silent partition", || async {
            server.live().stale_since().map(|_| ())
        })
        .await;
        println!("  {what}: degraded {} ms after the partition began", silenced.elapsed().as_millis());
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(server.live().stale_since().is_some(), "{what}: live again while the network is still silent");
        proxy.set_silent(false);
        m.healed(&what, began, Instant::now(), HEAL_WITHIN, writers, |_| true).await;
    }

    // 3. PostgreSQL stopped: once for a minute, twice for a few seconds.
    let outages = (0..fault_rounds(3)).map(|i| if i % 3 == 0 { 60u64 } else { 5 });
    for (round, down_for) in outages.enumerate() {
        let what = format!("PostgreSQL down for {down_for} s ({})", round + 1);
        catch_up(server.live(), &url).await;
        let began = Instant::now();
        let writers = spawn_writers(&url, &fx, &format!("o{round}"), 2, 2000, Duration::from_secs(down_for + 4));
        tokio::time::sleep(Duration::from_millis(700)).await;
        for u in &fx.users {
            let (status, _, body) = get_raw(&server.base, "/api/v1/inbox?limit=5", &u.token).await;
            assert_eq!(status, 200, "{what}: {} before the outage: {body}", u.role);
        }
        cluster.stop_server().await;
        support::until(5, "the live inbox to say it is degraded", || async { server.live().stale_since().map(|_| ()) })
            .await;
        let (status, _, body) = get_raw(&server.base, "/ready", fx.admin()).await;
        assert_eq!(status, 503, "{what}: /ready while PostgreSQL is down: {body}");
        // With PostgreSQL itself down, every role's inbox still answers at once, from memory (the
        // tokens were verified before the outage), and says since when it may be stale.
        for u in &fx.users {
            let asked = Instant::now();
            let (status, headers, body) = get_raw(&server.base, "/api/v1/inbox?limit=5", &u.token).await;
            assert_eq!(status, 200, "{what}: {}'s inbox while PostgreSQL is down: {body}", u.role);
            assert!(headers.contains_key("platica-stale-since"), "{what}: no Platica-Stale-Since: {headers:?}");
            let page: Value = serde_json::from_str(&body).unwrap();
            assert!(page["stale_since"].is_string(), "{what}: no stale_since in the page: {body}");
            assert!(asked.elapsed() < Duration::from_secs(2), "{what}: the inbox took {:?}", asked.elapsed());
        }
        if down_for >= 30 {
            // A token never verified cannot be now: a clear 503 with Retry-After, not a 500.
            let unknown = format!("pls_{}_{}", fx.tenant, "x".repeat(43));
            let (status, headers, body) = get_raw(&server.base, "/api/v1/inbox?limit=5", &unknown).await;
            assert_eq!(status, 503, "{what}: an unverifiable token: {body}");
            assert!(headers.contains_key("retry-after"), "{what}: no Retry-After: {headers:?}");
        }
        tokio::time::sleep(Duration::from_secs(down_for)).await;
        server.assert_running(&what);
        cluster.start_server().await;
        m.healed(&what, began, Instant::now(), HEAL_WITHIN, writers, |_| true).await;
    }
    drop(m);
    server.stop().await;
    drop(proxy);
    tokio::task::spawn_blocking(move || drop(cluster)).await.unwrap();
    println!("PostgreSQL outages: {} ms in all", started.elapsed().as_millis());
}
