//! The report: the set-up, a row per step, the SQL checks, and how the figures are taken.

use super::Args;
use super::step::StepResult;
use crate::procfs::{self, Machine};
use crate::stats::{ms, percentile};

/// What the report says of the set-up.
pub struct World {
    pub pg_version: String,
    /// PostgreSQL settings as the server shows them.
    pub settings: Vec<(String, String)>,
    /// The demo tenant's conversations and messages (the prepared outbound ones included).
    pub conversations: i64,
    pub messages: i64,
    /// Outbound messages prepared for the status webhooks.
    pub status_webhooks: u64,
    /// The channel account's default team, and the tenant's operational executives.
    pub team_name: String,
    pub operational: i64,
}

/// The markdown section of a run.
pub fn markdown(args: &Args, w: &World, steps: &[StepResult]) -> String {
    let machine = Machine::detect();
    let World { pg_version, status_webhooks, team_name, operational, .. } = w;
    let when = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let cmd = if args.quick {
        "scripts/bench-whatsapp --quick".to_owned()
    } else {
        format!(
            "scripts/bench-whatsapp (rates {} msg/s, {} s per step, {} connections)",
            args.rates.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
            args.seconds,
            args.connections
        )
    };
    let settings = w.settings.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ");
    let mut md = String::new();
    md.push_str(&format!(
        "## WhatsApp webhook ingestion (platica-bench webhooks)\n\n\
         Measured {when} with `{cmd}` on {} ({} cores by nproc; CPU model as /proc/cpuinfo names it), {:.0} GB RAM. \
         **The 2 cores are shared** by PostgreSQL, the server and the load generator: the server is the release \
         `platica serve` in a process of its own (so the load generator does not run on its runtime), the load \
         generator and the WebSocket client are another process, PostgreSQL its own processes; all on loopback.\n\n\
         PostgreSQL {pg_version}, a private cluster with the durable settings `platica serve` uses for its own \
         cluster ({settings}); the server's pool has 32 connections (`platica serve`'s default), RUST_LOG=warn. \
         Data: the demo tenant ({} conversations, {} messages, of which {status_webhooks} prepared outbound messages \
         for the status webhooks), one Cloud API channel account whose default team is {team_name} (new prospects go round-robin to the \
         tenant's {operational} operational executives).\n\n\
         Open loop: webhook `i` is scheduled at `start + i/rate` and its ack latency is measured from that scheduled \
         time (at most {} requests in flight; a send waiting for a connection keeps its scheduled time), so a slow \
         server cannot slow the offered load down. Each webhook is signed with HMAC-SHA256 (`X-Hub-Signature-256`). \
         Mix per 20 webhooks (22 messages): 15 single texts from existing prospects, 2 batches of 3 messages, 1 text \
         from a new number (new prospect and conversation, assigned round-robin), 2 status webhooks \
         (`delivered` + `read` of an outbound message). A step keeps up when it achieves >= 95% of the offered \
         rate with p99 <= 1 s and < 0.5% errors; the steps stop after the first that does not.\n\n",
        machine.cpu.as_deref().unwrap_or("unknown CPU"),
        procfs::cores(),
        machine.mem_total_kb.unwrap_or(0) as f64 / 1024.0 / 1024.0,
        w.conversations,
        w.messages,
        args.connections,
    ));
    md.push_str(
        "| offered msg/s | webhooks | achieved msg/s | ack p50 | p95 | p99 | max | errors | stored = acked (SQL) | \
         webhook -> WebSocket p50 / p99 (samples) | CPU server / PostgreSQL / load gen / other (of 200%) | load avg |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for s in steps {
        let other = (s.machine_cpu - s.server_cpu - s.own_cpu - s.pg_cpu).max(0.0);
        md.push_str(&format!(
            "| {} | {} | {:.0} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {} | {} {} / {} |  {:.1} / {:.1} ms ({}) | {:.0}% / {:.0}% / {:.0}% / {:.0}% | {} |\n",
            s.offered,
            s.webhooks,
            s.achieved,
            ms(s.p50),
            ms(s.p95),
            ms(s.p99),
            ms(s.max),
            s.errors,
            if s.verified() { "yes" } else { "**NO**" },
            s.sql_messages,
            s.messages_acked,
            ms(percentile(&s.e2e, 0.5)),
            ms(percentile(&s.e2e, 0.99)),
            s.e2e.len(),
            s.server_cpu,
            s.pg_cpu,
            s.own_cpu,
            other,
            s.loadavg,
        ));
    }
    md.push_str(
        "\nChecks after each step, in SQL: the step's inbound messages (by WhatsApp id) equal the messages of the \
         acknowledged webhooks and are all distinct; the receipts' `messages_stored` sum to the same; new \
         prospects equal the new numbers; `message_statuses` rows equal the statuses sent. DB transactions: \
         `xact_commit + xact_rollback` of the database in pg_stat_database over the step (read 11 s after it, so \
         backends have flushed their statistics), divided by the step's webhooks; it includes this tool's few \
         verification queries.\n\n\
         | offered msg/s | messages sent / acked / SQL / distinct | duplicates reported | statuses acked / applied / SQL rows | new prospects (SQL) / assigned / executives | DB transactions per webhook | WebSocket errors | first error |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for s in steps {
        md.push_str(&format!(
            "| {} | {} / {} / {} / {} | {} | {} / {} / {} | {} / {} / {} | {:.2} ({}) | {} | {} |\n",
            s.offered,
            s.messages_sent,
            s.messages_acked,
            s.sql_messages,
            s.sql_distinct,
            s.duplicates,
            s.statuses_acked,
            s.statuses_applied,
            s.sql_statuses,
            s.sql_prospects,
            s.sql_assigned,
            s.sql_execs,
            s.xacts as f64 / s.webhooks.max(1) as f64,
            s.xacts,
            s.e2e_errors,
            s.first_error.as_deref().map(|e| e.replace('|', "/")).unwrap_or_else(|| "-".into()),
        ));
    }
    md.push_str(
        "\nWebhook -> WebSocket: an admin client subscribed to `inbox` (every conversation) receives one `upsert` per \
         conversation a webhook's transaction touches; the sample is its arrival time minus the `t=<micros>` that the \
         load generator wrote into the message body just before the POST (same clock). CPU is from /proc over each \
         step: the server process, PostgreSQL (postmaster and backends), the load generator process, and the rest of \
         the machine (`other`: work of other users of this shared machine, e.g. compilers); the load average is \
         read at the end of each step.\n",
    );
    md
}
