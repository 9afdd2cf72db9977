//! The search benchmark at a small size (issue 19), outside CI (ignored): names and phones in
//! the live inbox (HTTP) and in SQL with the trigram indexes (the prospect list, HTTP), message
//! text with the GIN index (HTTP), each beside the naive `ILIKE '%...%'` query (SQL, the same
//! visibility) as an admin, a coordinator and an executive; and the cost the GIN index adds to a
//! message insert. Run it alone:
//! `PLATICA_SEARCH_BENCH=3230 cargo test -p platica --test it search_bench:: -- --ignored --nocapture`
//! (`--release` for engine figures that mean anything; PostgreSQL does the SQL work either way).
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use crate::support::{self, TestApp};

const FIRST: &str = "ARRAY['María','José','Lucía','Ángel','Sofía','Jesús','Andrés','Mónica','Raúl','Verónica',\
    'Luis','Ana','Carlos','Fernanda','Iván','Zoë','Héctor','Inés','Óscar','Julián']";
const LAST: &str = "ARRAY['Romero','López','Núñez','Pérez','Martínez','González','Ruiz','Hernández','Díaz','Muñoz',\
    'Sánchez','Gómez','Vázquez','Ramírez','Cruz','Ortiz','Chávez','Peña','Zúñiga','Ibáñez']";
const WORDS: &str = "ARRAY['hola','precio','envío','envíos','cotización','gracias','mañana','pago','tarjeta','entrega',\
    'Monterrey','Querétaro','promoción','descuento','factura','garantía','modelo','color','talla','urgente',\
    'shipping','price','order','invoice','delivery','refund','warranty','tomorrow','thanks','payment',\
    'casa','crédito','enganche','mensualidad','visita','cita','domicilio','departamento','terreno','oferta']";

/// The `p`-th percentile (nearest rank) of sorted durations.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// Milliseconds with two decimals.
pub(crate) fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// p50 and p99 of `n` runs of `f` (after one to warm up).
pub(crate) async fn time<F, Fut>(n: usize, mut f: F) -> (Duration, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    f().await; // warm
    let mut s = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f().await;
        s.push(t.elapsed());
    }
    s.sort();
    (percentile(&s, 50.0), percentile(&s, 99.0))
}

#[tokio::test]
#[ignore = "a benchmark: run it alone with --ignored"]
async fn search_bench() {
    let _alone = support::exclusive().await;
    let n: i64 = std::env::var("PLATICA_SEARCH_BENCH").ok().and_then(|v| v.parse().ok()).unwrap_or(3_230);
    let per = 31i64; // messages per conversation: 3,230 conversations -> 100,130 messages
    let app = TestApp::spawn().await;
    let w = support::world(&app, "sbench", 1).await;
    let t = w.tenant.0;
    let started = Instant::now();
    // Prospects over the world's five cells, names from 20 x 20 x 20 accented parts, MX mobiles.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO prospects (tenant_id, name, phone, team_id, executive_id)
         SELECT $1, ({FIRST})[1 + i % 20] || ' ' || ({LAST})[1 + (i / 20) % 20] || ' ' || ({LAST})[1 + (i * 7 / 400) % 20],
                '+52155' || lpad((10000000 + i * 7919 % 89999999)::text, 8, '0'),
                CASE WHEN i % 5 IN (0, 2) THEN $2 ELSE $3 END,
                (ARRAY[$4, $4, $5, $6, NULL])[1 + i % 5]
         FROM generate_series(1, $7::bigint) i"
    )))
    .bind(t)
    .bind(w.boom.0)
    .bind(w.ven.0)
    .bind(w.exec_ana.0)
    .bind(w.exec_luis.0)
    .bind(w.exec_sofia.0)
    .bind(n)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO conversations (tenant_id, prospect_id) SELECT tenant_id, prospect_id FROM prospects p
         WHERE tenant_id = $1 AND NOT EXISTS (SELECT 1 FROM conversations c WHERE c.tenant_id = p.tenant_id AND c.prospect_id = p.prospect_id)",
    )
    .bind(t)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status, created_at)
         SELECT $1, c.conversation_id, CASE WHEN k % 2 = 0 THEN 'in' ELSE 'out' END,
                CASE WHEN k % 2 = 0 THEN 'prospect' ELSE 'executive' END,
                initcap(({WORDS})[1 + (c.conversation_id * 31 + k * 17) % 40]) || ' ' || ({WORDS})[1 + (c.conversation_id * 7 + k * 13) % 40]
                  || ', ' || ({WORDS})[1 + (c.conversation_id + k * 29) % 40] || ' de ' || ({WORDS})[1 + (c.conversation_id * 3 + k) % 40]
                  || ' ' || (c.conversation_id * 1000 + k)::text,
                'read', now() - (($2 - k) * interval '7 minutes')
         FROM conversations c CROSS JOIN generate_series(1, $2::int) k WHERE c.tenant_id = $1"
    )))
    .bind(t)
    .bind(per as i32)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::raw_sql("ANALYZE prospects; ANALYZE conversations; ANALYZE messages").execute(&app.pool).await.unwrap();
    app.sync().await;
    let messages: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE tenant_id = $1")
        .bind(t)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    println!(
        "\n{n} conversations, {messages} messages, generated and applied in {:.1} s\n",
        started.elapsed().as_secs_f64()
    );

    let roles = [
        ("admin", w.admin, "true".to_owned()),
        ("coordinator (BOOM)", w.coord_boom, format!("p.team_id = {}", w.boom.0)),
        ("executive (Ana)", w.exec_ana, format!("p.executive_id = {}", w.exec_ana.0)),
    ];
    let iters = 50;
    println!("| role | query | Platica | p50 ms | p99 ms | naive ILIKE p50 ms | p99 ms |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let enc = |q: &str| {
        q.bytes()
            .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect::<String>()
    };
    for (role, user, visible) in &roles {
        let token = w.token(*user).to_owned();
        for (q, naive) in [
            ("maria", "maría"),
            ("ROMERO", "romero"),
            ("zu peña", "zúñiga"),
            ("55 1234", "551234"),
            ("+52 1 55 2", "+521552"),
        ] {
            let naive_sql = format!(
                "SELECT c.conversation_id FROM conversations c JOIN prospects p ON p.tenant_id = c.tenant_id AND p.prospect_id = c.prospect_id
                 WHERE c.tenant_id = $1 AND ({visible}) AND (p.name ILIKE $2 OR p.phone ILIKE $2)
                 ORDER BY c.updated_at DESC, c.conversation_id DESC LIMIT 50"
            );
            let pattern = format!("%{naive}%");
            let (np50, np99) = time(iters, || {
                let (pool, sql, pattern) = (app.pool.clone(), naive_sql.clone(), pattern.clone());
                async move {
                    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(t).bind(pattern).fetch_all(&pool).await.unwrap();
                }
            })
            .await;
            for (what, path) in [
                ("live inbox (engine)", format!("/api/v1/conversations?q={}&limit=50", enc(q))),
                ("prospect list (SQL, trigram)", format!("/api/v1/prospects?q={}&limit=50", enc(q))),
            ] {
                let (p50, p99) = time(iters, || {
                    let (app, path, token) = (&app, path.clone(), token.clone());
                    async move {
                        let r = app.get(&path, &token).await;
                        assert_eq!(r.status, 200, "{path}: {:?}", r.body);
                    }
                })
                .await;
                println!("| {role} | `{q}` | {what} | {} | {} | {} | {} |", ms(p50), ms(p99), ms(np50), ms(np99));
            }
        }
        for q in ["envío", "cotización urgente", "gracias", "refund", "\"pago de\""] {
            let word = q.trim_matches('"').split(' ').next().unwrap().to_owned();
            let naive_sql = format!(
                "SELECT m.message_id FROM messages m JOIN conversations c ON c.tenant_id = m.tenant_id AND c.conversation_id = m.conversation_id
                 JOIN prospects p ON p.tenant_id = c.tenant_id AND p.prospect_id = c.prospect_id
                 WHERE m.tenant_id = $1 AND ({visible}) AND m.body ILIKE $2 ORDER BY m.created_at DESC, m.message_id DESC LIMIT 20"
            );
            let (np50, np99) = time(iters, || {
                let (pool, sql, pattern) = (app.pool.clone(), naive_sql.clone(), format!("%{word}%"));
                async move {
                    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(t).bind(pattern).fetch_all(&pool).await.unwrap();
                }
            })
            .await;
            let path = format!("/api/v1/search/messages?q={}&limit=20", enc(q));
            let (p50, p99) = time(iters, || {
                let (app, path, token) = (&app, path.clone(), token.clone());
                async move {
                    let r = app.get(&path, &token).await;
                    assert_eq!(r.status, 200, "{path}: {:?}", r.body);
                }
            })
            .await;
            println!(
                "| {role} | `{q}` | message text (FTS, GIN) | {} | {} | {} | {} |",
                ms(p50),
                ms(p99),
                ms(np50),
                ms(np99)
            );
        }
    }

    // A message insert (its own transaction), with the GIN index and without it.
    let conv: i64 = sqlx::query_scalar("SELECT conversation_id FROM conversations WHERE tenant_id = $1 LIMIT 1")
        .bind(t)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let insert = |i: usize| {
        let pool = app.pool.clone();
        async move {
            sqlx::query(
                "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status)
                 VALUES ($1, $2, 'in', 'prospect', $3, 'delivered')",
            )
            .bind(t)
            .bind(conv)
            .bind(format!("Hola, quisiera saber el precio del envío a Querétaro y la garantía, pedido {i}"))
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    let mut k = 0usize;
    let with = time(1000, || {
        k += 1;
        insert(k)
    })
    .await;
    sqlx::raw_sql("DROP INDEX messages_search; ALTER TABLE messages DROP COLUMN search")
        .execute(&app.pool)
        .await
        .unwrap();
    let without = time(1000, || {
        k += 1;
        insert(k)
    })
    .await;
    println!(
        "\nmessage insert (1,000 each, one transaction each): with messages.search and its index p50 {} ms p99 {} ms; without p50 {} ms p99 {} ms",
        ms(with.0),
        ms(with.1),
        ms(without.0),
        ms(without.1)
    );
}
