//! The scheduler against real PostgreSQL: the jobs API, run now and history, exactly-once runs
//! with two scheduler instances on one database, failures, and the missed-occurrence policy.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use platica_domain::TenantId;
use platica_scheduler::store::{self, NewJob};
use platica_scheduler::{Scheduler, SchedulerConfig};
use reqwest::StatusCode;
use serde_json::json;
use support::TestApp;

fn config(instance: &str, grace_minutes: u64) -> SchedulerConfig {
    SchedulerConfig {
        tick: Duration::from_millis(100),
        grace: Duration::from_secs(grace_minutes * 60),
        run_timeout: Duration::from_secs(30),
        instance: instance.into(),
    }
}

async fn new_job(app: &TestApp, tenant: TenantId, name: &str, schedule: &str, kind: &str) -> store::Job {
    let job = NewJob {
        name: name.into(),
        schedule: schedule.into(),
        time_zone: "UTC".into(),
        kind: kind.into(),
        args: platica_scheduler::kinds::find(kind).ok().unwrap().default_args(),
        active: true,
    };
    store::create(&app.pool, tenant, &job).await.unwrap()
}

async fn wait_all(handles: Vec<tokio::task::JoinHandle<()>>) {
    for h in handles {
        h.await.unwrap();
    }
}

/// Runs of a job: scheduled_for -> (status, message, instance).
async fn runs(app: &TestApp, job: &store::Job) -> Vec<(Option<DateTime<Utc>>, String, Option<String>, String)> {
    sqlx::query_as(
        "SELECT scheduled_for, status, message, instance FROM job_runs WHERE tenant_id = $1 AND job_id = $2 ORDER BY run_id",
    )
    .bind(job.tenant_id)
    .bind(job.job_id)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn jobs_api_create_alter_run_now_history_unschedule() {
    let app = TestApp::spawn().await;
    let w = support::world(&app, "jobs", 2).await;
    let admin = w.token(w.admin);

    // Admins only.
    let r = app.get("/api/v1/jobs", w.token(w.coord_boom)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let kinds = app.get("/api/v1/jobs/kinds", admin).await;
    assert_eq!(kinds.status, StatusCode::OK);
    let names: Vec<&str> = kinds.body.as_array().unwrap().iter().map(|k| k["name"].as_str().unwrap()).collect();
    for k in ["close_idle_conversations", "purge_expired_sessions", "run_history_retention", "daily_stats_snapshot"] {
        assert!(names.contains(&k), "{names:?}");
    }
    // Each kind says its recommended job (the web app's "add the recommended jobs" creates them),
    // exactly the server's list, with arguments the kind accepts.
    for k in kinds.body.as_array().unwrap() {
        let rec = &k["recommended"];
        let expected = platica_scheduler::store::RECOMMENDED.iter().find(|r| r.2 == k["name"]);
        let Some((name, schedule, _, args)) = expected else {
            assert!(rec.is_null(), "{k}");
            continue;
        };
        assert_eq!(rec["name"], *name, "{k}");
        assert_eq!(rec["schedule"], *schedule, "{k}");
        assert_eq!(rec["args"], serde_json::from_str::<serde_json::Value>(args).unwrap(), "{k}");
        platica_scheduler::kinds::find(k["name"].as_str().unwrap()).ok().unwrap().validate(&rec["args"]).unwrap();
    }
    assert_eq!(
        kinds.body.as_array().unwrap().iter().filter(|k| !k["recommended"].is_null()).count(),
        platica_scheduler::store::RECOMMENDED.len()
    );

    // Bad input names the field.
    let cases = [
        (json!({"name": "x", "schedule": "* * * *", "kind": "purge_expired_sessions"}), "schedule"),
        (
            json!({"name": "x", "schedule": "0 3 * * *", "time_zone": "Nowhere/City", "kind": "purge_expired_sessions"}),
            "time_zone",
        ),
        (json!({"name": "x", "schedule": "0 3 * * *", "kind": "make_coffee"}), "kind"),
        (
            json!({"name": "x", "schedule": "0 3 * * *", "kind": "close_idle_conversations", "args": {"days": 0}}),
            "args",
        ),
        (json!({"name": "Bad Name", "schedule": "0 3 * * *", "kind": "purge_expired_sessions"}), "name"),
    ];
    for (body, field) in cases {
        let r = app.post("/api/v1/jobs", admin, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {:?}", r.body);
        assert_eq!(r.body["error"]["field"], field, "{body}: {:?}", r.body);
    }

    let r = app
        .post(
            "/api/v1/jobs",
            admin,
            json!({"name": "close-idle", "schedule": "0 3 * * *", "time_zone": "America/Mexico_City",
                   "kind": "close_idle_conversations", "args": {"days": 7}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["job_id"].as_i64().unwrap();
    assert_eq!(r.body["active"], true);
    // 03:00 in Mexico City is 09:00 UTC.
    assert!(r.body["next_run"].as_str().unwrap().contains("T09:00:00"), "{:?}", r.body);
    let dup = app
        .post(
            "/api/v1/jobs",
            admin,
            json!({"name": "close-idle", "schedule": "0 4 * * *", "kind": "purge_expired_sessions"}),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(dup.body["error"]["field"], "name");

    // Alter: schedule, active, args; bad values refused and nothing changed.
    let r = app.patch(&format!("/api/v1/jobs/{id}"), admin, json!({"schedule": "61 * * * *"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["error"]["field"], "schedule");
    let r = app.patch(&format!("/api/v1/jobs/{id}"), admin, json!({"args": {"days": "many"}})).await;
    assert_eq!(r.body["error"]["field"], "args");
    let r = app
        .patch(
            &format!("/api/v1/jobs/{id}"),
            admin,
            json!({"schedule": "30 2 * * 1", "active": false, "args": {"days": 10}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!((r.body["schedule"].as_str(), r.body["active"].as_bool()), (Some("30 2 * * 1"), Some(false)));
    assert_eq!(r.body["args"]["days"], 10);

    // Run now: one conversation idle for 12 days is closed, the others stay open.
    let idle_conv: i64 = sqlx::query_scalar(
        "SELECT conversation_id FROM conversations WHERE tenant_id = $1 ORDER BY conversation_id LIMIT 1",
    )
    .bind(w.tenant.0)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    for table in ["messages", "conversations"] {
        let sql = format!(
            "UPDATE {table} SET created_at = now() - interval '12 days' WHERE tenant_id = $1 AND conversation_id = $2"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(w.tenant.0).bind(idle_conv).execute(&app.pool).await.unwrap();
    }
    let r = app.post(&format!("/api/v1/jobs/{id}/run"), admin, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"], "succeeded", "{:?}", r.body);
    assert_eq!(r.body["trigger"], "manual");
    assert!(r.body["message"].as_str().unwrap().starts_with("closed 1 "), "{:?}", r.body);
    assert!(r.body["duration_ms"].as_f64().unwrap() >= 0.0);
    let statuses: Vec<(i64, String)> =
        sqlx::query_as("SELECT conversation_id, status FROM conversations WHERE tenant_id = $1 ORDER BY 1")
            .bind(w.tenant.0)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    for (c, s) in &statuses {
        assert_eq!(s, if *c == idle_conv { "closed" } else { "open" });
    }
    // The live inbox follows: the admin's open inbox no longer has it.
    app.sync().await;
    let inbox = app.get("/api/v1/conversations?status=open&limit=200", admin).await;
    let ids: Vec<i64> =
        inbox.body["items"].as_array().unwrap().iter().map(|c| c["conversation_id"].as_i64().unwrap()).collect();
    assert!(!ids.contains(&idle_conv), "{ids:?}");

    // History, paged newest first.
    for _ in 0..4 {
        assert_eq!(app.post(&format!("/api/v1/jobs/{id}/run"), admin, json!({})).await.status, StatusCode::OK);
    }
    let p1 = app.get(&format!("/api/v1/jobs/{id}/runs?limit=3"), admin).await;
    assert_eq!(p1.status, StatusCode::OK);
    let runs1 = p1.body["runs"].as_array().unwrap();
    assert_eq!(runs1.len(), 3);
    assert!(runs1[0]["run_id"].as_i64() > runs1[1]["run_id"].as_i64());
    assert!(runs1[1]["message"].as_str().unwrap().starts_with("closed 0 "));
    let before = p1.body["next_before"].as_i64().unwrap();
    let p2 = app.get(&format!("/api/v1/jobs/{id}/runs?limit=3&before={before}"), admin).await;
    assert_eq!(p2.body["runs"].as_array().unwrap().len(), 2);
    assert!(p2.body["next_before"].is_null());
    let bad = app.get(&format!("/api/v1/jobs/{id}/runs?limit=0"), admin).await;
    assert_eq!(bad.body["error"]["field"], "limit");

    // Another tenant's admin sees none of it.
    let other = support::world(&app, "jobs-other", 1).await;
    let r = app.get(&format!("/api/v1/jobs/{id}"), other.token(other.admin)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.post(&format!("/api/v1/jobs/{id}/run"), other.token(other.admin), json!({})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Unschedule.
    let listed = app.get("/api/v1/jobs", admin).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    let r = app.delete(&format!("/api/v1/jobs/{id}"), admin).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&format!("/api/v1/jobs/{id}"), admin).await.status, StatusCode::NOT_FOUND);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM job_runs WHERE tenant_id = $1")
        .bind(w.tenant.0)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

/// Two scheduler instances, each with its own pool (as two servers have), tick at the same
/// instants, twice each: every occurrence of every job runs exactly once.
#[tokio::test]
async fn two_schedulers_on_one_database_run_each_occurrence_once() {
    let app = TestApp::spawn().await;
    let t1 = platica_store::org::tenants::create(&app.pool, "sched-a", "A").await.unwrap();
    let t2 = platica_store::org::tenants::create(&app.pool, "sched-b", "B").await.unwrap();
    let jobs = vec![
        new_job(&app, t1, "every-minute", "* * * * *", "purge_expired_sessions").await,
        new_job(&app, t1, "every-2", "*/2 * * * *", "run_history_retention").await,
        new_job(&app, t2, "every-minute", "* * * * *", "purge_expired_sessions").await,
    ];
    let pool_a = platica_store::pg::db::connect(&app.db_url, 4).await.unwrap();
    let pool_b = platica_store::pg::db::connect(&app.db_url, 4).await.unwrap();
    let a = Scheduler::new(pool_a, config("server-a", 60));
    let b = Scheduler::new(pool_b, config("server-b", 60));

    // An even minute: the */2 job's first due occurrence is then `base` itself, not a missed
    // one a minute before it (which the missed-occurrence policy would rightly run).
    let base = Utc::now().duration_trunc(TimeDelta::minutes(2)).unwrap() + TimeDelta::minutes(4);
    let minutes = 12;
    for k in 0..minutes {
        let now = base + TimeDelta::minutes(k) + TimeDelta::milliseconds(500);
        let (ha1, hb1, ha2, hb2) = tokio::join!(a.tick(now), b.tick(now), a.tick(now), b.tick(now));
        for h in [ha1, hb1, ha2, hb2] {
            wait_all(h.unwrap()).await;
        }
    }
    let mut total = 0;
    let mut instances = BTreeMap::new();
    for job in &jobs {
        let rs = runs(&app, job).await;
        let mut seen = std::collections::BTreeSet::new();
        for (at, status, message, instance) in &rs {
            let at = at.unwrap();
            assert!(seen.insert(at), "{} ran twice at {at}", job.name);
            assert_eq!(status, "succeeded", "{message:?}");
            assert!(
                at >= base && at < base + TimeDelta::minutes(minutes),
                "{} ran at {at}, outside [{base}, +{minutes} min): {rs:?}",
                job.name
            );
            *instances.entry(instance.clone()).or_insert(0) += 1;
        }
        let expected = if job.name == "every-2" { minutes / 2 } else { minutes };
        assert_eq!(rs.len() as i64, expected, "{}: {rs:?}", job.name);
        total += rs.len() as u64;
    }
    let claimed = a.stats.claimed.load(std::sync::atomic::Ordering::Relaxed)
        + b.stats.claimed.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(claimed, total, "every claim is one run, and only claims run");
    println!("runs by instance: {instances:?}");
}

/// A run that fails is recorded `failed` with its message; other jobs in the same tick run, and
/// the failing job runs (and fails) again at its next occurrence. The loop itself keeps going.
#[tokio::test]
async fn a_failing_job_records_failed_and_the_scheduler_goes_on() {
    let app = TestApp::spawn().await;
    let t = platica_store::org::tenants::create(&app.pool, "sched-fail", "F").await.unwrap();
    let bad = new_job(&app, t, "bad", "* * * * *", "close_idle_conversations").await;
    let good = new_job(&app, t, "good", "* * * * *", "purge_expired_sessions").await;
    // Arguments broken behind the API's back (a hand edit): the run must say what is wrong.
    sqlx::query("UPDATE jobs SET args = '{\"days\": -4}' WHERE tenant_id = $1 AND job_id = $2")
        .bind(t.0)
        .bind(bad.job_id)
        .execute(&app.pool)
        .await
        .unwrap();
    let s = Scheduler::new(app.pool.clone(), config("solo", 60));
    // An even minute: the */2 job's first due occurrence is then `base` itself, not a missed
    // one a minute before it (which the missed-occurrence policy would rightly run).
    let base = Utc::now().duration_trunc(TimeDelta::minutes(2)).unwrap() + TimeDelta::minutes(4);
    for k in 0..3 {
        wait_all(s.tick(base + TimeDelta::minutes(k) + TimeDelta::seconds(1)).await.unwrap()).await;
    }
    let bad_runs = runs(&app, &bad).await;
    assert_eq!(bad_runs.len(), 3);
    for (_, status, message, _) in &bad_runs {
        assert_eq!(status, "failed");
        assert!(message.as_deref().unwrap().contains("args.days"), "{message:?}");
    }
    let good_runs = runs(&app, &good).await;
    assert_eq!(good_runs.len(), 3);
    assert!(good_runs.iter().all(|r| r.1 == "succeeded"));

    // The real loop: with a job that fails at every occurrence it keeps ticking (a manual run
    // through the API meanwhile is recorded as failed too).
    let stop = platica::CancellationToken::new();
    let handle = platica::start_scheduler(app.pool.clone(), config("loop", 60), stop.clone());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!handle.is_finished());
    let w = support::world(&app, "sched-fail-api", 1).await;
    let api_bad = new_job(&app, w.tenant, "bad", "0 0 1 1 *", "close_idle_conversations").await;
    sqlx::query("UPDATE jobs SET args = '{\"days\": \"soon\"}' WHERE tenant_id = $1 AND job_id = $2")
        .bind(w.tenant.0)
        .bind(api_bad.job_id)
        .execute(&app.pool)
        .await
        .unwrap();
    let r = app.post(&format!("/api/v1/jobs/{}/run", api_bad.job_id), w.token(w.admin), json!({})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "failed");
    assert!(r.body["message"].as_str().unwrap().contains("args.days"), "{:?}", r.body);
    assert!(!handle.is_finished(), "the scheduler loop stopped");
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), handle).await.unwrap().unwrap();
}

/// Missed occurrences after downtime: a fresh instance (a restarted server) runs the latest
/// occurrence once if it is within the grace window, never the ones before it, and never twice.
#[tokio::test]
async fn after_downtime_only_the_latest_occurrence_within_grace_runs_once() {
    let app = TestApp::spawn().await;
    let t = platica_store::org::tenants::create(&app.pool, "sched-missed", "M").await.unwrap();
    let job = new_job(&app, t, "hourly", "0 * * * *", "purge_expired_sessions").await;
    let h0 = Utc::now().duration_trunc(TimeDelta::hours(1)).unwrap() + TimeDelta::hours(2);
    let restart = |name: &str| Scheduler::new(app.pool.clone(), config(name, 60));

    // Up at h0+20min (h0 missed by 20 minutes, within the 60-minute grace): runs h0 once.
    wait_all(restart("up-1").tick(h0 + TimeDelta::minutes(20)).await.unwrap()).await;
    // Restarted at h0+25min: h0 is claimed already, nothing runs.
    wait_all(restart("up-2").tick(h0 + TimeDelta::minutes(25)).await.unwrap()).await;
    assert_eq!(runs(&app, &job).await.iter().map(|r| r.0.unwrap()).collect::<Vec<_>>(), vec![h0]);

    // Down from h0+25min to h0+3h40min: h0+1h and h0+2h are missed, h0+3h is 40 minutes late.
    let s = restart("up-3");
    wait_all(s.tick(h0 + TimeDelta::minutes(220)).await.unwrap()).await;
    assert_eq!(
        runs(&app, &job).await.iter().map(|r| r.0.unwrap()).collect::<Vec<_>>(),
        vec![h0, h0 + TimeDelta::hours(3)],
        "only the latest missed occurrence runs, no backlog"
    );
    // The same server, its ticks stalled for 2.5 hours (database unreachable): h0+4h and h0+5h
    // are skipped (and counted), h0+6h, 10 minutes late, runs.
    wait_all(s.tick(h0 + TimeDelta::minutes(370)).await.unwrap()).await;
    assert_eq!(s.stats.skipped.load(std::sync::atomic::Ordering::Relaxed), 2);

    // With a 30-minute grace, restarted at h0+7h45min: the latest occurrence (h0+7h) is 45
    // minutes late, past the grace window, so nothing runs.
    let s = Scheduler::new(app.pool.clone(), config("up-4", 30));
    wait_all(s.tick(h0 + TimeDelta::hours(7) + TimeDelta::minutes(45)).await.unwrap()).await;
    assert_eq!(runs(&app, &job).await.len(), 3, "an occurrence older than the grace window is skipped");
    // The same instance then follows the schedule: h0+8h runs on time.
    wait_all(s.tick(h0 + TimeDelta::hours(8) + TimeDelta::seconds(2)).await.unwrap()).await;
    let all: Vec<_> = runs(&app, &job).await.iter().map(|r| r.0.unwrap()).collect();
    let hours = |h| h0 + TimeDelta::hours(h);
    assert_eq!(all, vec![h0, hours(3), hours(6), hours(8)]);
}

/// The daily snapshot counts per team and executive what SQL counts directly.
#[tokio::test]
async fn daily_stats_snapshot_matches_sql() {
    let app = TestApp::spawn().await;
    let w = support::world(&app, "stats", 2).await;
    let job = NewJob {
        name: "stats".into(),
        schedule: "55 23 * * *".into(),
        time_zone: "UTC".into(),
        kind: "daily_stats_snapshot".into(),
        args: json!({"day": "current"}),
        active: true,
    };
    let job = store::create(&app.pool, w.tenant, &job).await.unwrap();
    // One executive's conversation read, and an outbound reply today.
    let conv: i64 = sqlx::query_scalar(
        "SELECT c.conversation_id FROM conversations c JOIN prospects p USING (tenant_id, prospect_id)
         WHERE c.tenant_id = $1 AND p.executive_id = $2 ORDER BY 1 LIMIT 1",
    )
    .bind(w.tenant.0)
    .bind(w.exec_luis.0)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    sqlx::query("UPDATE messages SET read_at = now() WHERE tenant_id = $1 AND conversation_id = $2")
        .bind(w.tenant.0)
        .bind(conv)
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body) VALUES ($1, $2, 'out', 'bot', 'hola')")
        .bind(w.tenant.0)
        .bind(conv)
        .execute(&app.pool)
        .await
        .unwrap();
    let run = platica_scheduler::runner::run_now(&app.pool, w.tenant, job.job_id, "test", Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(run.status, "succeeded", "{:?}", run.message);
    let rows: Vec<(String, i64, i32, i32, i32, i32, i32)> = sqlx::query_as(
        "SELECT scope, scope_id, conversations_open, conversations_unread, conversations_assigned, messages_in, messages_out
         FROM stats_snapshots WHERE tenant_id = $1 AND day = (now() AT TIME ZONE 'UTC')::date ORDER BY 1, 2",
    )
    .bind(w.tenant.0)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let get = |scope: &str, id: i64| rows.iter().find(|r| r.0 == scope && r.1 == id).cloned().unwrap();
    // world(per_cell=2): BOOM has Ana x2 and Luis x2; VEN has Ana x2, Sofía x2 and 2 unassigned.
    let boom = get("team", w.boom.0);
    assert_eq!((boom.2, boom.3, boom.4, boom.5, boom.6), (4, 3, 4, 4, 1));
    let ven = get("team", w.ven.0);
    assert_eq!((ven.2, ven.3, ven.4, ven.5, ven.6), (6, 6, 4, 6, 0));
    let ana = get("executive", w.exec_ana.0);
    assert_eq!((ana.2, ana.3, ana.4, ana.5, ana.6), (4, 4, 4, 4, 0));
    let luis = get("executive", w.exec_luis.0);
    assert_eq!((luis.2, luis.3, luis.4, luis.5, luis.6), (2, 1, 2, 2, 1));
    assert_eq!(rows.len(), 5, "two teams and three executives: {rows:?}");
    // Running it again replaces the day's rows.
    platica_scheduler::runner::run_now(&app.pool, w.tenant, job.job_id, "test", Duration::from_secs(30)).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM stats_snapshots WHERE tenant_id = $1")
        .bind(w.tenant.0)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(n, 5);
}

/// `platica jobs ...` as an operator runs it: create, list, alter, run, history, unschedule, and
/// clear refusals naming what is wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_cli_manages_jobs_and_names_bad_input() {
    let app = TestApp::spawn().await;
    let w = support::world(&app, "jobcli", 1).await;
    let jobs = |args: &[&str]| {
        let url = app.db_url.clone();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        async move {
            let out = tokio::task::spawn_blocking(move || {
                std::process::Command::new(env!("CARGO_BIN_EXE_platica"))
                    .arg("jobs")
                    .args(args)
                    .args(["--database-url", &url])
                    .output()
                    .unwrap()
            })
            .await
            .unwrap();
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            (out.status.code(), text)
        }
    };
    let (code, text) = jobs(&[
        "create",
        "--tenant",
        "jobcli",
        "idle",
        "0 3 * * *",
        "close_idle_conversations",
        "--tz",
        "Europe/Madrid",
        "--args",
        r#"{"days": 5}"#,
    ])
    .await;
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = jobs(&["list", "--tenant", "jobcli"]).await;
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("idle") && text.contains("Europe/Madrid") && text.contains("close_idle_conversations"),
        "{text}"
    );

    // An unknown kind is a usage error (exit 2) that lists the kinds; the rest are refused by the
    // store's validation (exit 1), naming the field.
    let (code, text) = jobs(&["create", "--tenant", "jobcli", "x", "0 3 * * *", "nap"]).await;
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("invalid value 'nap'") && text.contains("purge_expired_sessions"), "{text}");
    for (args, expected) in [
        (vec!["create", "--tenant", "jobcli", "x", "0 3 * *", "purge_expired_sessions"], "schedule:"),
        (
            vec!["create", "--tenant", "jobcli", "x", "0 3 * * *", "purge_expired_sessions", "--tz", "Mars/Base"],
            "time_zone:",
        ),
        (vec!["create", "--tenant", "jobcli", "x", "0 3 * * *", "purge_expired_sessions", "--args", "{"], "--args"),
        (vec!["create", "--tenant", "nobody", "x", "0 3 * * *", "purge_expired_sessions"], "no tenant with slug"),
        (vec!["alter", "--tenant", "jobcli", "ghost", "--active", "false"], "no job named \"ghost\""),
        (vec!["alter", "--tenant", "jobcli", "idle", "--args", r#"{"days": 0}"#], "args.days"),
    ] {
        let (code, text) = jobs(&args).await;
        assert_eq!(code, Some(1), "{args:?}: {text}");
        assert!(text.contains(expected), "{args:?}: {expected:?} missing from {text}");
    }

    let (code, text) =
        jobs(&["alter", "--tenant", "jobcli", "idle", "--schedule", "15 4 * * *", "--active", "false"]).await;
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("15 4 * * *") && text.contains("active=false"), "{text}");
    let (code, text) = jobs(&["run", "--tenant", "jobcli", "idle"]).await;
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("succeeded") && text.contains("closed 0 conversations"), "{text}");
    let (code, text) = jobs(&["history", "--tenant", "jobcli", "idle"]).await;
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("manual") && text.contains("succeeded"), "{text}");
    // The API sees what the CLI did.
    let listed = app.get("/api/v1/jobs", w.token(w.admin)).await;
    assert_eq!(listed.body[0]["schedule"], "15 4 * * *");
    assert_eq!(listed.body[0]["active"], false);
    let (code, text) = jobs(&["unschedule", "--tenant", "jobcli", "idle"]).await;
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(app.get("/api/v1/jobs", w.token(w.admin)).await.body, json!([]));

    // The recommended set, once.
    let (code, text) = jobs(&["recommended", "--tenant", "jobcli", "--tz", "America/Mexico_City"]).await;
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("8 jobs created; 0 already existed"), "{text}");
    let (code, text) = jobs(&["recommended", "--tenant", "jobcli", "--tz", "America/Mexico_City"]).await;
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("0 jobs created; 8 already existed"), "{text}");
    let listed = app.get("/api/v1/jobs", w.token(w.admin)).await;
    let kinds: Vec<&str> = listed.body.as_array().unwrap().iter().map(|j| j["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.len(), 8, "{kinds:?}");
    assert!(listed.body.as_array().unwrap().iter().all(|j| j["time_zone"] == "America/Mexico_City"));
}

/// The housekeeping kinds do what they say, to this tenant only: expired or revoked sessions go
/// (live ones stay, and still work), and runs older than the retention go (recent ones stay).
#[tokio::test]
async fn purge_and_retention_remove_exactly_what_is_old() {
    let app = TestApp::spawn().await;
    let w = support::world(&app, "house", 1).await;
    let other = support::world(&app, "house-other", 1).await;
    let run = |tenant: TenantId, job: i64| {
        let pool = app.pool.clone();
        async move {
            let r =
                platica_scheduler::runner::run_now(&pool, tenant, job, "test", Duration::from_secs(30)).await.unwrap();
            assert_eq!(r.status, "succeeded", "{:?}", r.message);
            r.message.unwrap()
        }
    };
    // Two old sessions of each tenant: one expired two days ago, one revoked two days ago.
    for t in [w.tenant, other.tenant] {
        sqlx::query(
            "UPDATE sessions SET expires_at = now() - interval '2 days'
             WHERE tenant_id = $1 AND session_id = (SELECT min(session_id) FROM sessions WHERE tenant_id = $1)",
        )
        .bind(t.0)
        .execute(&app.pool)
        .await
        .unwrap();
        sqlx::query(
            "UPDATE sessions SET revoked_at = now() - interval '2 days'
             WHERE tenant_id = $1 AND session_id = (SELECT max(session_id) FROM sessions WHERE tenant_id = $1)",
        )
        .bind(t.0)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    let count = |t: TenantId| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM sessions WHERE tenant_id = $1")
                .bind(t.0)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let (before, other_before) = (count(w.tenant).await, count(other.tenant).await);
    let purge = new_job(&app, w.tenant, "purge", "0 4 * * *", "purge_expired_sessions").await;
    // Kept for 3 days: nothing is old enough yet.
    sqlx::query("UPDATE jobs SET args = '{\"keep_days\": 3}' WHERE job_id = $1")
        .bind(purge.job_id)
        .execute(&app.pool)
        .await
        .unwrap();
    assert!(run(w.tenant, purge.job_id).await.starts_with("deleted 0 sessions"));
    sqlx::query("UPDATE jobs SET args = '{\"keep_days\": 1}' WHERE job_id = $1")
        .bind(purge.job_id)
        .execute(&app.pool)
        .await
        .unwrap();
    assert!(run(w.tenant, purge.job_id).await.starts_with("deleted 2 sessions"));
    assert_eq!(count(w.tenant).await, before - 2);
    assert_eq!(count(other.tenant).await, other_before, "another tenant's sessions are untouched");
    // A live session still authenticates.
    assert_eq!(app.get("/api/v1/auth/me", w.token(w.exec_ana)).await.status, StatusCode::OK);

    // Retention: 5 runs, 3 of them made 40 days old.
    for _ in 0..4 {
        run(w.tenant, purge.job_id).await;
    }
    sqlx::query(
        "UPDATE job_runs SET started_at = started_at - interval '40 days', ended_at = ended_at - interval '40 days'
         WHERE tenant_id = $1 AND run_id IN (SELECT run_id FROM job_runs WHERE tenant_id = $1 ORDER BY run_id LIMIT 3)",
    )
    .bind(w.tenant.0)
    .execute(&app.pool)
    .await
    .unwrap();
    let retention = new_job(&app, w.tenant, "retention", "0 5 * * *", "run_history_retention").await;
    assert!(run(w.tenant, retention.job_id).await.starts_with("deleted 3 runs older than 30 days"));
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM job_runs WHERE tenant_id = $1")
        .bind(w.tenant.0)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(left, 4, "3 recent purge runs and the retention run itself");
}
