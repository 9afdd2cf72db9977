//! Benchmark (issue 17, part 2), not a test: `scripts/bench-send` runs it in release mode.
//!
//! Two rigs side by side in one run, each an app, a database, a simulator of the Cloud API and
//! a sender: the same steady stream of messages to 60 recipients, but in the second one
//! recipient's requests take 15 s. Reported: the send latency (API accepted → the simulator
//! received it) of every other recipient's messages, p50/p99/max, in both rigs. The slow
//! recipient must not stall the others: the p99s should stay within 100 ms of each other.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::time::Duration;

use platica_simulator::SimHandle;
use platica_whatsapp::sender::{Sender, SenderConfig};
use reqwest::StatusCode;
use serde_json::json;
use support::{SimChannel, TestApp, World, world};
use tokio::sync::watch;

const PNID: &str = support::SIM_PNID;

struct Rig {
    app: TestApp,
    w: World,
    sim: SimHandle,
    convs: Vec<(i64, String)>,
    _stop: watch::Sender<bool>,
    _sender: Sender,
}

async fn rig(slow: bool) -> Rig {
    let key = support::install_test_key();
    let app = TestApp::spawn().await;
    let w = world(&app, if slow { "slow" } else { "calm" }, 12).await;
    let channel = SimChannel { kind: "cloud", ..SimChannel::DEFAULT };
    let (sim, _) = support::simulator_channel(&app, &w, support::quick_simulator(0.0), &channel).await;
    let convs: Vec<(i64, String)> = sqlx::query_as(
        "SELECT c.conversation_id, substr(p.phone, 2) FROM conversations c JOIN prospects p USING (tenant_id, prospect_id)
         WHERE c.tenant_id = $1 ORDER BY c.conversation_id",
    )
    .bind(w.tenant.0)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    if slow {
        let r = reqwest::Client::new()
            .post(format!("{}/_sim/faults", sim.url()))
            .json(&json!({"phone_number_id": PNID, "recipient_delay_ms": {convs[0].1.clone(): 15_000}}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }
    let stop = watch::channel(false).0;
    let sender = Sender::start(
        app.pool.clone(),
        key,
        SenderConfig {
            request_timeout: Duration::from_secs(30),
            poll: Duration::from_millis(500),
            refresh: Duration::from_millis(200),
            ..SenderConfig::default()
        },
        stop.subscribe(),
    );
    Rig { app, w, sim, convs, _stop: stop, _sender: sender }
}

/// Posts `n` messages at `rate` per second round the recipients; (text, wall-clock time posted).
async fn load(r: &Rig, n: usize, rate: f64) -> Vec<(String, chrono::DateTime<chrono::Utc>)> {
    let admin = r.w.token(r.w.admin);
    let mut posted = Vec::with_capacity(n);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    for i in 0..n {
        tick.tick().await;
        let (conv, _) = &r.convs[i % r.convs.len()];
        let text = format!("m{i}");
        let at = chrono::Utc::now();
        let resp = r.app.post(&format!("/api/v1/conversations/{conv}/messages"), admin, json!({"body": text})).await;
        assert_eq!(resp.status, StatusCode::CREATED, "{:?}", resp.body);
        posted.push((text, at));
    }
    posted
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Latencies (ms) of the sends to everyone but `skip`, once all of them arrived.
async fn latencies(r: &Rig, posted: &[(String, chrono::DateTime<chrono::Utc>)], skip: Option<&str>) -> Vec<f64> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let others =
        posted.len() - posted.iter().enumerate().filter(|(i, _)| skip.is_some() && i % r.convs.len() == 0).count();
    loop {
        let sent = r.sim.sent(PNID);
        let mut lat: Vec<f64> = sent
            .iter()
            .filter(|m| skip != Some(m.to.as_str()))
            .filter_map(|m| {
                let (_, at) = posted.iter().find(|(t, _)| Some(t.as_str()) == m.text.as_deref())?;
                let got = chrono::DateTime::parse_from_rfc3339(&m.received_at).ok()?.to_utc();
                Some((got - *at).num_microseconds()? as f64 / 1000.0)
            })
            .collect();
        if lat.len() >= others || std::time::Instant::now() > deadline {
            assert_eq!(lat.len(), others, "every other recipient's message was sent");
            lat.sort_by(f64::total_cmp);
            return lat;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a benchmark: scripts/bench-send"]
async fn one_slow_recipient_side_by_side() {
    let _alone = support::exclusive().await;
    let n: usize = std::env::var("BENCH_SEND_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(600);
    let rate: f64 = std::env::var("BENCH_SEND_RATE").ok().and_then(|v| v.parse().ok()).unwrap_or(20.0);
    let (calm, slow) = tokio::join!(rig(false), rig(true));
    let started = chrono::Utc::now();
    let (pc, ps) = tokio::join!(load(&calm, n, rate), load(&slow, n, rate));
    let slow_to = slow.convs[0].1.clone();
    let (lc, ls) = tokio::join!(latencies(&calm, &pc, None), latencies(&slow, &ps, Some(&slow_to)));
    let slow_sent = slow.sim.sent(PNID).iter().filter(|m| m.to == slow_to).count();
    let row = |name: &str, l: &[f64]| {
        format!(
            "| {name} | {} | {:.1} ms | {:.1} ms | {:.1} ms |",
            l.len(),
            pct(l, 0.5),
            pct(l, 0.99),
            l.last().copied().unwrap_or_default()
        )
    };
    println!("BENCH started {started}, {n} messages per rig at {rate}/s to 60 recipients, concurrently");
    println!("| run | sends measured | p50 | p99 | max |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    println!("{}", row("no fault", &lc));
    println!("{}", row("one recipient's requests take 15 s (the other 59)", &ls));
    println!("BENCH p99 difference: {:.1} ms", pct(&ls, 0.99) - pct(&lc, 0.99));
    println!("BENCH slow recipient's messages sent so far: {slow_sent} of {}", n.div_ceil(60));
}
