//! BENCHMARKS.md, written from the measurements of one run.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use platica_changes::load::LoadStats;

use super::generate::{Dataset, EXECUTIVES, TEAMS};
use super::inbox::{ApplyResult, VisibleResult};
use super::scenario::{Role, Viewer, Which};
use super::sqlalt::{ReadCell, SetupTimes};
use crate::procfs::Machine;
use crate::stats::{Samples, fmt, thousands};

/// The size the targets are stated for.
pub const TARGET_SIZE: i64 = 1_000_000;

pub struct WriteRow {
    pub label: String,
    pub insert: Option<Samples>,
    pub reassign: Option<Samples>,
    pub note: String,
}

pub type Reference = (Role, Which, Vec<i64>, i64, i64);

pub struct SizeResult {
    pub n: i64,
    pub dataset: Option<Dataset>,
    pub viewers: Vec<Viewer>,
    pub setup: SetupTimes,
    pub reads: Vec<ReadCell>,
    /// Triage pages from the engine (issue 18).
    pub triage: Vec<super::inbox::TriageCell>,
    pub reference: Vec<Reference>,
    pub server_ready: Duration,
    /// (VmRSS, VmHWM) of `platica serve` once ready, and after the HTTP runs.
    pub server_memory: (u64, u64),
    pub server_memory_after: (u64, u64),
    pub cold: Duration,
    /// The second start (before the write measurements).
    pub cold2: Duration,
    pub load: LoadStats,
    /// `SELECT 1` through sqlx and `GET /health` over HTTP: this machine's floor.
    pub sql_floor: Samples,
    pub http_floor: Samples,
    pub bench_rss_growth: i64,
    pub apply: ApplyResult,
    pub apply_hot: ApplyResult,
    pub visible: VisibleResult,
    pub max_rate: VisibleResult,
    pub writes: Vec<WriteRow>,
    pub refresh: Samples,
}

impl SizeResult {
    pub fn new(n: i64) -> SizeResult {
        SizeResult {
            n,
            dataset: None,
            viewers: Vec::new(),
            setup: SetupTimes::default(),
            reads: Vec::new(),
            triage: Vec::new(),
            reference: Vec::new(),
            server_ready: Duration::ZERO,
            server_memory: (0, 0),
            server_memory_after: (0, 0),
            cold: Duration::ZERO,
            cold2: Duration::ZERO,
            sql_floor: Samples::default(),
            http_floor: Samples::default(),
            load: LoadStats::default(),
            bench_rss_growth: 0,
            apply: ApplyResult::default(),
            apply_hot: ApplyResult::default(),
            visible: VisibleResult::default(),
            max_rate: VisibleResult::default(),
            writes: Vec::new(),
            refresh: Samples::default(),
        }
    }

    fn worst_p99(&self, source_prefix: &str) -> Option<Duration> {
        self.reads.iter().filter(|c| c.source.starts_with(source_prefix)).map(|c| c.full.p99()).max()
    }

    fn worst_cpu_p99(&self) -> Option<Duration> {
        self.reads.iter().filter_map(|c| c.cpu.as_ref()).map(Samples::p99).max()
    }

    /// Pages where a source answers other rows or counts than (a), or (a) than the reference.
    fn disagreements(&self) -> Vec<String> {
        let mut out = Vec::new();
        for role in Role::ALL {
            for which in Which::ALL {
                let cells: Vec<&ReadCell> = self.reads.iter().filter(|c| c.role == role && c.which == which).collect();
                let Some(base) = cells.iter().find(|c| c.source.starts_with("(a)")) else { continue };
                for c in &cells {
                    if c.ids != base.ids || c.total != base.total || c.unread != base.unread {
                        out.push(format!(
                            "{} / {} / {}: {} answered {} rows (total {}, unread {}), (a) {} rows (total {}, unread {})",
                            c.source,
                            role.label(),
                            which.label(),
                            c.source,
                            c.ids.len(),
                            c.total,
                            c.unread,
                            base.ids.len(),
                            base.total,
                            base.unread
                        ));
                    }
                }
                if let Some((_, _, ids, total, unread)) =
                    self.reference.iter().find(|(r, w, ..)| *r == role && *w == which)
                    && (ids != &base.ids || *total != base.total || *unread != base.unread)
                {
                    out.push(format!("(a) differs from conversations::list for {} / {}", role.label(), which.label()));
                }
            }
        }
        out
    }
}

pub struct Report {
    pub machine: Machine,
    pub pg_version: String,
    pub settings: Vec<(String, String)>,
    pub command: String,
    pub planned: Vec<i64>,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub sizes: Vec<SizeResult>,
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn opt(s: &Option<Samples>, f: impl Fn(&Samples) -> String) -> String {
    s.as_ref().filter(|s| !s.is_empty()).map_or("—".into(), f)
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**MISSED**" }
}

impl Report {
    pub fn new(pg_version: String, settings: Vec<(String, String)>, command: String, planned: &[i64]) -> Report {
        Report {
            machine: Machine::detect(),
            pg_version,
            settings,
            command,
            planned: planned.to_vec(),
            started: Utc::now(),
            finished: Utc::now(),
            sizes: Vec::new(),
        }
    }

    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = self.write(&mut s);
        s
    }

    fn write(&self, s: &mut String) -> std::fmt::Result {
        writeln!(s, "# Benchmarks: the live inbox against the SQL alternatives\n")?;
        writeln!(
            s,
            "Written by `platica-bench live` (`crates/platica-bench`, run with `scripts/bench`) from one run started \
             {} and finished {}. Every number below was measured in that run, all alternatives side by side on \
             the same generated data; nothing is edited by hand. Re-run `scripts/bench` (all sizes) or \
             `scripts/bench --quick` (3,230 and 100,000) to reproduce.\n",
            self.started.format("%Y-%m-%d %H:%M UTC"),
            self.finished.format("%Y-%m-%d %H:%M UTC")
        )?;
        writeln!(s, "Command: `{}`\n", self.command)?;
        let done: Vec<String> = self.sizes.iter().map(|r| thousands(r.n as u64)).collect();
        if self.sizes.len() < self.planned.len() {
            writeln!(
                s,
                "**Incomplete run:** sizes done so far: {}; planned: {}.\n",
                done.join(", "),
                self.planned.iter().map(|n| thousands(*n as u64)).collect::<Vec<_>>().join(", ")
            )?;
        }

        writeln!(s, "## Machine\n")?;
        writeln!(s, "| what | value |\n| --- | --- |")?;
        let m = &self.machine;
        writeln!(s, "| CPU | {} |", m.cpu.as_deref().unwrap_or("unknown"))?;
        writeln!(s, "| logical CPUs | {} |", m.processors)?;
        let ram = m.mem_total_kb.map_or("unknown".into(), |kb| format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0));
        writeln!(s, "| RAM | {ram} |")?;
        writeln!(s, "| kernel | {} |", m.kernel.as_deref().unwrap_or("unknown"))?;
        writeln!(s, "| PostgreSQL | {} |", self.pg_version)?;
        writeln!(
            s,
            "\nThe machine is a shared 2-core VM on which other builds and tests were running: every latency is \
             the p50/p99 of many repetitions, and the iteration count `n` is given with each. Client, server and \
             PostgreSQL all run on this one machine and talk over loopback.\n"
        )?;

        writeln!(s, "## PostgreSQL configuration\n")?;
        writeln!(
            s,
            "A private cluster (`platica_store::pg::cluster`, PostgreSQL run as the `postgres` user) created by the \
             tool, **durable** (fsync, synchronous_commit and full_page_writes on) for every measurement. Data \
             generation used `synchronous_commit = off` and `session_replication_role = replica` (no foreign-key \
             checks: the generator builds consistent rows) in its own session only. Settings in force:\n"
        )?;
        writeln!(s, "| setting | value |\n| --- | --- |")?;
        for (k, v) in &self.settings {
            writeln!(s, "| `{k}` | {v} |")?;
        }
        writeln!(s)?;

        self.write_targets(s)?;
        self.write_datasets(s)?;
        self.write_reads(s)?;
        self.write_writes(s)?;
        self.write_visible(s)?;
        self.write_apply(s)?;
        self.write_start(s)?;
        self.write_alternatives(s)?;
        self.write_methods(s)?;
        Ok(())
    }

    fn write_targets(&self, s: &mut String) -> std::fmt::Result {
        writeln!(s, "## Targets\n")?;
        writeln!(
            s,
            "The targets are stated for 1,000,000 conversations (20 M messages); smaller sizes are shown for \
             the trend and judged against the same figure.\n"
        )?;
        if !self.sizes.iter().any(|r| r.n == TARGET_SIZE) {
            writeln!(
                s,
                "**This run did not include 1,000,000 conversations, so no target is judged at its stated size.**\n"
            )?;
        }
        writeln!(s, "| target | size | measured | verdict |\n| --- | ---: | --- | --- |")?;
        for r in &self.sizes {
            let size = thousands(r.n as u64);
            if let Some(p) = r.worst_p99("Platica engine") {
                writeln!(
                    s,
                    "| engine page in-process, p99 ≤ 100 µs (worst of 3 roles × 2 pages, wall clock) | {size} | {} \
                     (thread CPU time p99 {}) | {} |",
                    fmt(p),
                    fmt(r.worst_cpu_p99().unwrap_or_default()),
                    verdict(p <= Duration::from_micros(100))
                )?;
            }
        }
        for r in &self.sizes {
            let size = thousands(r.n as u64);
            if let Some(p) = r.worst_p99("Platica over HTTP") {
                writeln!(
                    s,
                    "| page over HTTP, p99 ≤ 2 ms (worst of 3 roles × 2 pages) | {size} | {} | {} |",
                    fmt(p),
                    verdict(p <= Duration::from_millis(2))
                )?;
            }
        }
        for r in &self.sizes {
            let v = &r.visible;
            let rate_ok = v.achieved_rate >= 0.95 * v.target_rate.unwrap_or(0.0);
            writeln!(
                s,
                "| commit-to-visible p99 ≤ 50 ms at 2,000 writes/s | {} | p99 {} at {:.0} writes/s achieved{} | {} |",
                thousands(r.n as u64),
                fmt(v.latency.p99()),
                v.achieved_rate,
                if rate_ok { "" } else { " (below the 2,000/s asked)" },
                verdict(v.latency.p99() <= Duration::from_millis(50) && rate_ok && v.unseen == 0)
            )?;
        }
        for r in &self.sizes {
            writeln!(
                s,
                "| engine apply ≥ 200,000 changes/s (one core) | {} | {} changes/s | {} |",
                thousands(r.n as u64),
                thousands(r.apply.per_sec() as u64),
                verdict(r.apply.per_sec() >= 200_000.0)
            )?;
        }
        for r in &self.sizes {
            writeln!(
                s,
                "| RSS of `platica serve` holding the engine ≤ 512 MB | {} | {} (peak {}) | {} |",
                thousands(r.n as u64),
                mib(r.server_memory.0),
                mib(r.server_memory.1),
                verdict(r.server_memory.0 <= 512 * 1000 * 1000)
            )?;
        }
        for r in &self.sizes {
            writeln!(
                s,
                "| cold start (`LiveInbox::start`, incl. load) ≤ 30 s | {} | {:.1} s and {:.1} s (two starts) | {} |",
                thousands(r.n as u64),
                r.cold.as_secs_f64(),
                r.cold2.as_secs_f64(),
                verdict(r.cold.max(r.cold2) <= Duration::from_secs(30))
            )?;
        }
        writeln!(s)?;
        Ok(())
    }

    fn write_datasets(&self, s: &mut String) -> std::fmt::Result {
        writeln!(s, "## Datasets\n")?;
        writeln!(
            s,
            "Per size N, one database: the measured tenant with N conversations, and two small tenants with \
             N/100 (at least 50) each. Every tenant has teams {} ({} teams), one admin, two coordinators (one of \
             BOOM+VEN, one of NORTE+SUR) and {} executives. One prospect per conversation; an executive's \
             prospects sit in the executive's team except 10% in another team; 5% are unassigned. 10-30 \
             messages per conversation (mean 20), alternating inbound/outbound, 7 minutes apart; last activity \
             uniform over 90 days; 20% of conversations closed; 30% with unread inbound messages; bot paused on \
             5%. Rows are written in conversation order (so a conversation's messages are adjacent on disk, \
             which favours the SQL alternatives).\n",
            TEAMS.join(", "),
            TEAMS.len(),
            EXECUTIVES
        )?;
        writeln!(
            s,
            "| N | conversations (all tenants) | messages (measured tenant) | messages (all) | unread conv. | closed | \
             bot paused | executive sees | coordinator sees | generation | VACUUM (FREEZE, ANALYZE) | database size |"
        )?;
        writeln!(s, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")?;
        for r in &self.sizes {
            let Some(d) = &r.dataset else { continue };
            let f = &d.facts;
            writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} s | {:.1} s | {} |",
                thousands(r.n as u64),
                thousands(f.conversations_total as u64),
                thousands(f.main_messages as u64),
                thousands(f.messages_total as u64),
                thousands(f.main_unread_conversations as u64),
                thousands(f.main_closed_conversations as u64),
                thousands(f.main_bot_paused as u64),
                thousands(f.executive_conversations as u64),
                thousands(f.coordinator_conversations as u64),
                f.generate_secs,
                f.vacuum_secs,
                mib(f.database_bytes as u64)
            )?;
        }
        writeln!(s)?;
        for r in &self.sizes {
            let Some(d) = &r.dataset else { continue };
            let teams: Vec<String> =
                d.facts.team_sizes.iter().map(|(t, n)| format!("{t} {}", thousands(*n as u64))).collect();
            writeln!(s, "- N = {}: conversations per team: {}.", thousands(r.n as u64), teams.join(", "))?;
        }
        writeln!(s)?;
        Ok(())
    }

    fn write_reads(&self, s: &mut String) -> std::fmt::Result {
        writeln!(s, "## Inbox pages\n")?;
        writeln!(
            s,
            "Each viewer asks for the first page of 50 and for a deep keyset page (the 50 rows after the middle \
             of the viewer's list: cursor = the row at position total/2). The API answers the rows **and** the \
             counts of the whole list (total, unread), so every alternative is timed for both: *rows* is the page \
             query alone, *rows + counts* adds the count query (two round trips, as `conversations::list` does). \
             Platica's engine answers both in one call. SQL alternatives: sqlx over loopback, prepared \
             statements, one query at a time. Engine: `LiveInbox::read(|e| e.tenant(t).page(user, &Filter::default(), \
             cursor, 50))` in-process. HTTP: `GET /api/v1/conversations?limit=50[&cursor=...]` against `platica \
             serve` (separate process, default logging, session-token authentication, which is one PostgreSQL \
             query per request) from a keep-alive reqwest client, body fully read.\n"
        )?;
        writeln!(
            s,
            "For the in-process engine, the last column is the reading thread's own CPU time per call \
             (`CLOCK_THREAD_CPUTIME_ID`), which does not grow while the thread is preempted: on a loaded 2-core \
             machine the wall-clock p99 of a ~10 µs call mostly counts the calls during which the scheduler ran \
             something else.\n"
        )?;
        writeln!(
            s,
            "A cell whose first call takes over 1 s is not warmed up and gets at most 3 samples (p99 is then the \
             maximum); other cells are warmed up and repeated for ~4 s (SQL, HTTP) or ~2 s (engine).\n"
        )?;
        for r in &self.sizes {
            writeln!(s, "### N = {}\n", thousands(r.n as u64))?;
            let who: Vec<String> = r
                .viewers
                .iter()
                .map(|v| {
                    format!(
                        "{} sees {} (deep page after position {})",
                        v.role.label(),
                        thousands(v.total as u64),
                        thousands(v.deep_offset as u64)
                    )
                })
                .collect();
            writeln!(s, "Viewers: {}.\n", who.join("; "))?;
            writeln!(
                s,
                "Floor of this machine during the run: `SELECT 1` through sqlx p50 {}, p99 {} (n={}); \
                 `GET /health` on `platica serve` (no authentication, no engine) p50 {}, p99 {} (n={}).\n",
                fmt(r.sql_floor.p50()),
                fmt(r.sql_floor.p99()),
                r.sql_floor.n(),
                fmt(r.http_floor.p50()),
                fmt(r.http_floor.p99()),
                r.http_floor.n()
            )?;
            writeln!(
                s,
                "| source | viewer | page | rows p50 | rows p99 | rows + counts p50 | rows + counts p99 | n | thread CPU p50 / p99 |\n\
                 | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
            )?;
            let order = ["Platica engine", "Platica over HTTP", "(a)", "(b)", "(c)"];
            for prefix in order {
                for c in r.reads.iter().filter(|c| c.source.starts_with(prefix)) {
                    writeln!(
                        s,
                        "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                        c.source,
                        c.role.label(),
                        c.which.label(),
                        opt(&c.rows, |x| fmt(x.p50())),
                        opt(&c.rows, |x| fmt(x.p99())),
                        fmt(c.full.p50()),
                        fmt(c.full.p99()),
                        c.full.n(),
                        opt(&c.cpu, |x| format!("{} / {}", fmt(x.p50()), fmt(x.p99())))
                    )?;
                }
            }
            let bad = r.disagreements();
            if bad.is_empty() {
                writeln!(
                    s,
                    "\nAgreement: every source answered the same 50 conversation ids, total and unread count for \
                     every viewer and page{}.\n",
                    if r.reference.is_empty() {
                        ""
                    } else {
                        ", and (a) matched `platica_store::inbox::conversations::list` (the reference)"
                    }
                )?;
            } else {
                writeln!(s, "\n**Disagreements:**\n")?;
                for b in bad {
                    writeln!(s, "- {b}")?;
                }
                writeln!(s)?;
            }
        }
        Ok(())
    }

    fn write_writes(&self, s: &mut String) -> std::fmt::Result {
        writeln!(s, "## Triage pages (engine, in-process)\n")?;
        writeln!(
            s,
            "First pages of 50 with the triage views, filters and sorts (issue 18), from the engine in-process \
             like the default list above, rows and counts. Before the engine loads, the dataset gets per tenant \
             the labels Hot (every 10th conversation) and VIP (every 97th), priorities (1 in 20 each of urgent, \
             high, medium, low) and every 50th open conversation snoozed.\n"
        )?;
        for r in &self.sizes {
            if r.triage.is_empty() {
                continue;
            }
            writeln!(s, "### N = {}\n", thousands(r.n as u64))?;
            writeln!(s, "| case | viewer | total | p50 | p99 | thread CPU p99 |")?;
            writeln!(s, "| --- | --- | ---: | ---: | ---: | ---: |")?;
            for c in &r.triage {
                writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} |",
                    c.case,
                    c.role.label(),
                    thousands(c.total as u64),
                    fmt(c.full.p50()),
                    fmt(c.full.p99()),
                    fmt(c.cpu.p99())
                )?;
            }
            writeln!(s)?;
        }
        writeln!(s, "## Write costs\n")?;
        writeln!(
            s,
            "*Insert*: one autocommit `INSERT INTO messages` (an unread inbound message) into a random \
             conversation of the measured tenant, timed to the commit acknowledgement (fsync on). *Reassign*: \
             one `UPDATE prospects SET team_id, executive_id, updated_at WHERE tenant_id = $1 AND prospect_id = \
             ANY($2)` of 1,000 random prospects (targets alternate, so every row changes). The baseline already \
             pays for `wal_level=logical` and `REPLICA IDENTITY FULL` on prospects and messages (Platica's \
             migration). \"Platica's slot\" is the in-process live inbox attached to its slot and applying the \
             stream while the writes run (its decoding runs in a walsender process on the same 2 cores).\n"
        )?;
        writeln!(
            s,
            "| N | configuration | insert p50 | insert p99 | n | reassign 1,000 p50 | reassign 1,000 p99 | n | note |\n\
             | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
        )?;
        for r in &self.sizes {
            for w in &r.writes {
                writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    thousands(r.n as u64),
                    w.label,
                    opt(&w.insert, |x| fmt(x.p50())),
                    opt(&w.insert, |x| fmt(x.p99())),
                    opt(&w.insert, |x| x.n().to_string()),
                    opt(&w.reassign, |x| fmt(x.p50())),
                    opt(&w.reassign, |x| fmt(x.p99())),
                    opt(&w.reassign, |x| x.n().to_string()),
                    w.note
                )?;
            }
        }
        writeln!(s)?;
        writeln!(s, "### Building and refreshing the SQL alternatives\n")?;
        writeln!(
            s,
            "| N | matview build | matview indexes + VACUUM | table build | table indexes + VACUUM | REFRESH MATERIALIZED VIEW CONCURRENTLY p50 | max | n |\n\
             | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        )?;
        for r in &self.sizes {
            writeln!(
                s,
                "| {} | {:.1} s | {:.1} s | {:.1} s | {:.1} s | {} | {} | {} |",
                thousands(r.n as u64),
                r.setup.mv_build,
                r.setup.mv_indexes,
                r.setup.table_build,
                r.setup.table_indexes,
                fmt(r.refresh.p50()),
                fmt(r.refresh.max()),
                r.refresh.n()
            )?;
        }
        writeln!(
            s,
            "\nThe refresh ran after the write measurements (tens of thousands of new messages and moved \
             prospects to fold in). A matview refreshed every 5 minutes (the original system) is up to 5 minutes \
             stale; one refreshed by a trigger on every insert is current but each insert costs a refresh ((d) \
             above).\n"
        )?;
        Ok(())
    }

    fn write_visible(&self, s: &mut String) -> std::fmt::Result {
        writeln!(s, "## Commit-to-visible latency\n")?;
        writeln!(
            s,
            "Writers insert unread inbound messages with plain SQL on 16 connections (each writer owns a disjoint \
             set of conversations of the measured tenant and paces itself to its share of the rate). The time \
             starts when the writer's `INSERT` returns (commit acknowledged) and stops when a watcher thread, woken \
             by every advance of `LiveInbox::subscribe()` (the applied position), finds the engine's row for that \
             conversation showing that message (or a later one of the same writer) as its last message. The first \
             second is excluded as warm-up. Everything (PostgreSQL, its walsender, the writers, the live inbox, \
             the watcher) shares the 2 cores.\n"
        )?;
        writeln!(
            s,
            "| N | asked | writers | committed | achieved writes/s | insert p50 | insert p99 | visible p50 | visible p99 | max | n | not seen |\n\
             | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        )?;
        for r in &self.sizes {
            let v = &r.visible;
            writeln!(
                s,
                "| {} | {:.0}/s for {:.0} s | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} |",
                thousands(r.n as u64),
                v.target_rate.unwrap_or(0.0),
                v.secs,
                v.writers,
                thousands(v.committed as u64),
                v.achieved_rate,
                fmt(v.insert.p50()),
                fmt(v.insert.p99()),
                fmt(v.latency.p50()),
                fmt(v.latency.p99()),
                fmt(v.latency.max()),
                v.latency.n(),
                v.unseen
            )?;
        }
        writeln!(s, "\n### The highest write rate, end to end\n")?;
        writeln!(
            s,
            "The same 16 writers without pacing for 10 s: as many single-row commits as PostgreSQL takes here \
             while Platica follows. *Drain* is the time from the last commit until every insert was visible. The \
             lag is called bounded when the engine had caught up within 1 s of the last commit (drain < 1 s), no \
             insert went unseen and the p99 of the last two seconds stayed under 1 s; the p99 of seconds 1-3 and \
             of the last two seconds show whether it drifted.\n"
        )?;
        writeln!(
            s,
            "| N | achieved writes/s | insert p50 | insert p99 | visible p50 | visible p99 | p99 s 1-3 | p99 last 2 s | drain | not seen | lag |\n\
             | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
        )?;
        for r in &self.sizes {
            let v = &r.max_rate;
            let first = v.first_window.p99();
            let last = v.last_window.p99();
            let bounded = last < Duration::from_secs(1) && v.drain < Duration::from_secs(1) && v.unseen == 0;
            writeln!(
                s,
                "| {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                thousands(r.n as u64),
                v.achieved_rate,
                fmt(v.insert.p50()),
                fmt(v.insert.p99()),
                fmt(v.latency.p50()),
                fmt(v.latency.p99()),
                fmt(first),
                fmt(last),
                fmt(v.drain),
                v.unseen,
                if bounded { "bounded" } else { "**grew**" }
            )?;
        }
        writeln!(s)?;
        Ok(())
    }

    fn write_apply(&self, s: &mut String) -> std::fmt::Result {
        writeln!(s, "## Apply throughput of the engine alone\n")?;
        writeln!(
            s,
            "A copy of the loaded engine, one thread, pre-decoded `Transaction`s of one change each (so the \
             per-transaction work is paid every time): 70% message inserts into random conversations, 20% \
             mark-read updates of those messages (with the old row, as `REPLICA IDENTITY FULL` sends it), 10% \
             prospect reassignments (team and executive changed). Then 30 transactions of 1,000 prospect \
             reassignments each (a bulk move). *uniform*: inserts go to conversations drawn uniformly from the \
             whole tenant (every change touches cold memory; the target is judged on this one); *hot set*: 90% \
             of the inserts go to the 1% most recently active conversations, as real traffic does. Each run \
             starts from a fresh copy of the loaded engine.\n"
        )?;
        writeln!(
            s,
            "| N | inserts to | changes | inserts / reads / reassignments | changes/s | 1,000-prospect transaction p50 | max |\n\
             | ---: | --- | ---: | --- | ---: | ---: | ---: |"
        )?;
        for (r, a, label) in self.sizes.iter().flat_map(|r| [(r, &r.apply, "uniform"), (r, &r.apply_hot, "hot set")]) {
            writeln!(
                s,
                "| {} | {} | {} | {} / {} / {} | {} | {} | {} |",
                thousands(r.n as u64),
                label,
                thousands(a.changes as u64),
                thousands(a.inserts as u64),
                thousands(a.reads as u64),
                thousands(a.reassignments as u64),
                thousands(a.per_sec() as u64),
                fmt(a.bulk_1000.p50()),
                fmt(a.bulk_1000.max())
            )?;
        }
        writeln!(s)?;
        Ok(())
    }

    fn write_start(&self, s: &mut String) -> std::fmt::Result {
        writeln!(s, "## Cold start and memory\n")?;
        writeln!(
            s,
            "*LiveInbox::start*: `LiveInbox::start` on the database's slot, as `platica::start_live` calls it, in the bench process (drop a stale slot, create the slot \
             with an exported snapshot, load every row inside it, start streaming), timed until it returns; \
             PostgreSQL's caches are warm (the data was just generated and read). *Server ready*: from spawning \
             `platica serve --listen ...` with `DATABASE_URL` to its first `200` on `GET /api/v1/conversations` \
             (process start, pool, migrations check, the same start-up, HTTP). RSS is `VmRSS` of that server \
             process once ready and after the HTTP measurements; peak is `VmHWM` (the load's high-water mark).\n"
        )?;
        writeln!(
            s,
            "| N | LiveInbox::start (1st / 2nd) | load (1st) | rows loaded (users / prospects / conversations / messages counted) | server ready | server RSS | server peak RSS | server RSS after HTTP runs | bench process RSS growth at load |\n\
             | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |"
        )?;
        for r in &self.sizes {
            writeln!(
                s,
                "| {} | {:.2} s / {:.2} s | {:.2} s | {} / {} / {} / {} | {:.2} s | {} | {} | {} | {} |",
                thousands(r.n as u64),
                r.cold.as_secs_f64(),
                r.cold2.as_secs_f64(),
                r.load.millis as f64 / 1000.0,
                thousands(r.load.users),
                thousands(r.load.prospects),
                thousands(r.load.conversations),
                thousands(r.load.messages),
                r.server_ready.as_secs_f64(),
                mib(r.server_memory.0),
                mib(r.server_memory.1),
                mib(r.server_memory_after.0),
                mib(r.bench_rss_growth.max(0) as u64)
            )?;
        }
        writeln!(s)?;
        Ok(())
    }

    fn write_alternatives(&self, s: &mut String) -> std::fmt::Result {
        writeln!(s, "## The SQL alternatives: what each got\n")?;
        for (label, text) in super::sqlalt::descriptions() {
            writeln!(s, "- **{label}**: {text}")?;
        }
        writeln!(
            s,
            "\nAll four run under the PostgreSQL settings above (`work_mem` 64MB, `jit` off, 2 parallel workers per \
             gather, `random_page_cost` 1.1 for an SSD), with statistics from `ANALYZE` after loading.\n"
        )?;
        Ok(())
    }

    fn write_methods(&self, s: &mut String) -> std::fmt::Result {
        writeln!(s, "## Order of a size's run\n")?;
        writeln!(
            s,
            "1. Create the database, migrate, generate, `VACUUM (FREEZE, ANALYZE)`; build (a), (b), (c).\n\
             2. Spawn `platica serve`, wait until it answers, read its RSS, measure HTTP pages; stop it and drop \
             its slot.\n\
             3. Measure (a), (b), (c) pages (no slot, no write load).\n\
             4. Start the live inbox in-process (cold start); engine pages; apply throughput on a copy. Stop it \
             and drop the slot.\n\
             5. Insert and reassignment latency without a slot (baseline, before). Start the live inbox again \
             (second cold start); commit-to-visible at 2,000 writes/s; insert and reassignment latency with the \
             slot streaming; the unpaced run. Stop it and drop the slot. Baseline again (after).\n\
             6. Insert and reassignment latency with (c)'s triggers; `REFRESH ... CONCURRENTLY` time; one or more \
             inserts with (d)'s trigger. Drop the database.\n\n\
             Reads (steps 2-4) all run before any write, on identical data."
        )?;
        Ok(())
    }
}
