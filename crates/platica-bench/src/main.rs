//! `platica-bench`: Platica's benchmarks, one subcommand each (see BENCHMARKS.md). Never part of
//! the test suite.
//!
//! - `live` (`scripts/bench`): the live inbox against the SQL alternatives on generated data;
//! - `realtime` (`scripts/bench-realtime`): the realtime gateway under many WebSocket clients;
//! - `webhooks` (`scripts/bench-whatsapp`): WhatsApp Cloud API webhook ingestion.
//!
//! Each starts a private PostgreSQL cluster under its `--dir` and `platica serve` as a process of
//! its own ([`setup`]); all traffic stays on 127.0.0.1, and every request loop is bounded in count
//! and time.

mod live;
mod procfs;
mod realtime;
mod setup;
mod stats;
mod webhooks;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "platica-bench",
    about = "Platica's benchmarks: the live inbox, the realtime gateway, webhook ingestion"
)]
struct Cli {
    #[command(subcommand)]
    command: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// The live inbox against the SQL alternatives; rewrites BENCHMARKS.md (`--out`).
    Live(live::Args),
    /// The realtime gateway under load: latency, server RSS and CPU, database activity.
    Realtime(realtime::Args),
    /// The WhatsApp webhook under stepped open-loop load: ack latency, no loss, webhook to
    /// WebSocket latency.
    Webhooks(webhooks::Args),
    /// Two `platica` binaries serving the same inbox pages at once, requests paired: whether a
    /// change made the HTTP path slower, on a noisy machine (prints a Markdown table).
    Compare(live::compare::Args),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Bench::Live(args) => live::run(args),
        Bench::Realtime(args) => realtime::run(args),
        Bench::Webhooks(args) => webhooks::run(args),
        Bench::Compare(args) => live::compare::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Bench {
        Cli::try_parse_from(std::iter::once("platica-bench").chain(args.iter().copied())).unwrap().command
    }

    #[test]
    fn each_subcommand_keeps_its_flags() {
        let Bench::Live(a) = parse(&["live", "--sizes", "3230", "--out", "/tmp/x.md", "--keep"]) else { panic!() };
        assert_eq!(a.sizes(), vec![3_230]);
        assert!(a.keep);
        let Bench::Live(a) = parse(&["live", "--quick"]) else { panic!() };
        assert_eq!(a.sizes(), vec![3_230, 100_000]);
        let Bench::Live(a) = parse(&["live"]) else { panic!() };
        assert_eq!(a.sizes(), vec![3_230, 100_000, 1_000_000]);

        let Bench::Compare(_) = parse(&["compare", "--a", "/x/platica", "--b", "/y/platica", "--pairs", "100"]) else {
            panic!()
        };
        assert!(Cli::try_parse_from(["platica-bench", "compare", "--a", "/x/platica"]).is_err(), "--b is required");

        let Bench::Realtime(a) = parse(&["realtime", "--quick", "--benchmarks-md", "B.md"]) else { panic!() };
        let a = a.effective();
        assert_eq!((a.idle, a.active, a.rate, a.seconds, a.broadcast), (1_000, 200, 200, 5, 1_000));
        assert_eq!(a.benchmarks_md.as_deref(), Some(std::path::Path::new("B.md")));
        let Bench::Realtime(a) = parse(&["realtime", "--idle", "50", "--server-bin", "/bin/true"]) else { panic!() };
        assert_eq!((a.idle, a.active, a.rate, a.seconds, a.broadcast), (50, 2_000, 1_000, 20, 10_000));

        let Bench::Webhooks(a) = parse(&["webhooks", "--quick"]) else { panic!() };
        let a = a.effective().unwrap();
        assert_eq!((a.rates.clone(), a.seconds), (vec![200, 1_000], 5));
        let Bench::Webhooks(a) = parse(&["webhooks", "--rates", "500,1000", "--seconds", "10", "--all-steps"]) else {
            panic!()
        };
        let a = a.effective().unwrap();
        assert_eq!((a.rates.clone(), a.seconds, a.connections, a.all_steps), (vec![500, 1_000], 10, 256, true));
        let Bench::Webhooks(a) = parse(&["webhooks", "--rates", "0"]) else { panic!() };
        assert!(a.effective().is_err());
    }

    #[test]
    fn a_subcommand_is_required() {
        assert!(Cli::try_parse_from(["platica-bench"]).is_err());
        assert!(Cli::try_parse_from(["platica-bench", "--sizes", "3230"]).is_err());
    }
}
