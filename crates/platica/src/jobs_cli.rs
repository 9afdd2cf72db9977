//! `platica jobs ...`: the scheduler's jobs from the command line (the same operations as
//! `/api/v1/jobs`). Jobs are named within a tenant, given by its slug.

use anyhow::Context;
use clap::Subcommand;
use platica_domain::TenantId;
use platica_scheduler::store::{self, JobChanges, NewJob};
use platica_scheduler::{Schedule, kinds};
use platica_store::PgPool;

#[derive(Subcommand)]
pub enum JobsCommand {
    /// List the jobs (of one tenant, or of every tenant) with their next run.
    List {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Schedule a job of one of the kinds listed under KIND.
    Create {
        #[arg(long)]
        tenant: String,
        name: String,
        /// 5-field cron expression, e.g. "0 3 * * *".
        schedule: String,
        /// What the job does.
        #[arg(value_parser = kind_values())]
        kind: String,
        /// IANA time zone the schedule is read in.
        #[arg(long, default_value = "UTC")]
        tz: String,
        /// The kind's arguments as JSON (default: the kind's defaults).
        #[arg(long)]
        args: Option<String>,
        /// Create it inactive.
        #[arg(long)]
        inactive: bool,
    },
    /// Create the recommended jobs a tenant lacks (close idle conversations, purge expired
    /// sessions, run history retention, daily stats snapshot), at night in its time zone.
    Recommended {
        #[arg(long)]
        tenant: String,
        /// IANA time zone of the tenant.
        #[arg(long, default_value = "UTC")]
        tz: String,
    },
    /// Change a job's schedule, time zone, arguments or active flag.
    Alter {
        #[arg(long)]
        tenant: String,
        name: String,
        #[arg(long)]
        schedule: Option<String>,
        #[arg(long)]
        tz: Option<String>,
        #[arg(long)]
        args: Option<String>,
        #[arg(long)]
        active: Option<bool>,
    },
    /// Run a job now and print its run.
    Run {
        #[arg(long)]
        tenant: String,
        name: String,
    },
    /// Delete a job and its history.
    Unschedule {
        #[arg(long)]
        tenant: String,
        name: String,
    },
    /// A job's latest runs, newest first.
    History {
        #[arg(long)]
        tenant: String,
        name: String,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

/// Every job kind, with its description, for `--help` and for checking the argument.
fn kind_values() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(
        kinds::REGISTRY.iter().map(|k| clap::builder::PossibleValue::new(k.name()).help(k.description())),
    )
}

async fn tenant_id(pool: &PgPool, slug: &str) -> anyhow::Result<TenantId> {
    let id: Option<i64> =
        sqlx::query_scalar("SELECT tenant_id FROM tenants WHERE slug = $1").bind(slug).fetch_optional(pool).await?;
    id.map(TenantId).ok_or_else(|| anyhow::anyhow!("no tenant with slug {slug:?}"))
}

fn json_arg(raw: Option<&str>) -> anyhow::Result<Option<serde_json::Value>> {
    raw.map(|a| serde_json::from_str(a).with_context(|| format!("--args: {a:?} is not JSON"))).transpose()
}

fn invalid(e: platica_domain::validate::Invalid) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", e.field, e.message)
}

/// Runs one `platica jobs` command; prints to stdout.
pub async fn run(pool: &PgPool, command: JobsCommand) -> anyhow::Result<()> {
    match command {
        JobsCommand::List { tenant } => {
            let tenants: Vec<(i64, String)> =
                sqlx::query_as("SELECT tenant_id, slug FROM tenants WHERE $1::text IS NULL OR slug = $1 ORDER BY 1")
                    .bind(&tenant)
                    .fetch_all(pool)
                    .await?;
            if let Some(slug) = &tenant
                && tenants.is_empty()
            {
                anyhow::bail!("no tenant with slug {slug:?}");
            }
            println!(
                "{:<16} {:<28} {:<16} {:<20} {:<26} {:<7} NEXT RUN",
                "TENANT", "NAME", "SCHEDULE", "TIME ZONE", "KIND", "ACTIVE"
            );
            for (id, slug) in tenants {
                for job in store::list(pool, TenantId(id)).await? {
                    let next = Schedule::parse(&job.schedule, &job.time_zone)
                        .ok()
                        .and_then(|s| s.next_after(chrono::Utc::now().max(job.schedule_since)))
                        .map_or_else(|| "-".to_owned(), |t| t.to_rfc3339());
                    println!(
                        "{slug:<16} {:<28} {:<16} {:<20} {:<26} {:<7} {next}",
                        job.name, job.schedule, job.time_zone, job.kind, job.active
                    );
                }
            }
        }
        JobsCommand::Create { tenant, name, schedule, kind, tz, args, inactive } => {
            let t = tenant_id(pool, &tenant).await?;
            let args = match json_arg(args.as_deref())? {
                Some(a) => a,
                None => kinds::find(&kind).map_err(invalid)?.default_args(),
            };
            let job = NewJob { name, schedule, time_zone: tz, kind, args, active: !inactive };
            job.validate().map_err(invalid)?;
            let job = store::create(pool, t, &job).await?;
            println!(
                "created job {} ({}): {} {} {} {}",
                job.name, job.job_id, job.schedule, job.time_zone, job.kind, job.args
            );
        }
        JobsCommand::Recommended { tenant, tz } => {
            let t = tenant_id(pool, &tenant).await?;
            let created = store::install_recommended(pool, t, &tz).await?;
            for job in &created {
                println!("created job {}: {} {} {} {}", job.name, job.schedule, job.time_zone, job.kind, job.args);
            }
            println!("{} jobs created; {} already existed", created.len(), store::RECOMMENDED.len() - created.len());
        }
        JobsCommand::Alter { tenant, name, schedule, tz, args, active } => {
            let t = tenant_id(pool, &tenant).await?;
            let job = store::get_by_name(pool, t, &name).await?;
            let changes = JobChanges { schedule, time_zone: tz, args: json_arg(args.as_deref())?, active };
            let job = store::alter(pool, t, job.job_id, &changes).await?;
            println!(
                "job {}: {} {} {} {} active={}",
                job.name, job.schedule, job.time_zone, job.kind, job.args, job.active
            );
        }
        JobsCommand::Run { tenant, name } => {
            let t = tenant_id(pool, &tenant).await?;
            let job = store::get_by_name(pool, t, &name).await?;
            let instance = platica_scheduler::runner::default_instance();
            let run = platica_scheduler::runner::run_now(
                pool,
                t,
                job.job_id,
                &instance,
                platica_scheduler::SchedulerConfig::default().run_timeout,
            )
            .await?;
            println!("run {} of {}: {}: {}", run.run_id, job.name, run.status, run.message.as_deref().unwrap_or(""));
            if run.status != "succeeded" {
                anyhow::bail!("the run failed");
            }
        }
        JobsCommand::Unschedule { tenant, name } => {
            let t = tenant_id(pool, &tenant).await?;
            let job = store::get_by_name(pool, t, &name).await?;
            store::unschedule(pool, t, job.job_id).await?;
            println!("unscheduled {name}");
        }
        JobsCommand::History { tenant, name, limit } => {
            if !(1..=10_000).contains(&limit) {
                anyhow::bail!("--limit must be between 1 and 10000, got {limit}");
            }
            let t = tenant_id(pool, &tenant).await?;
            let job = store::get_by_name(pool, t, &name).await?;
            println!("{:<8} {:<9} {:<10} {:<26} {:>10}  MESSAGE", "RUN", "TRIGGER", "STATUS", "STARTED", "MS");
            for r in store::history(pool, t, Some(job.job_id), None, limit).await? {
                println!(
                    "{:<8} {:<9} {:<10} {:<26} {:>10}  {}",
                    r.run_id,
                    r.trigger,
                    r.status,
                    r.started_at.to_rfc3339(),
                    r.duration_ms.map_or_else(|| "-".to_owned(), |d| format!("{d:.0}")),
                    r.message.as_deref().unwrap_or("")
                );
            }
        }
    }
    Ok(())
}
