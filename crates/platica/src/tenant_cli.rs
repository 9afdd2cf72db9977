//! `platica tenant ...`: create a tenant with its first admin, list tenants.

use anyhow::Context;
use clap::Subcommand;
use platica_domain::{Role, validate};
use platica_store::PgPool;

#[derive(Subcommand)]
pub enum TenantCommand {
    /// Create a tenant and its first admin; prints the admin's one-time password (they sign in
    /// with it at the tenant's slug and should change it).
    Create {
        /// The tenant's slug, used at sign-in: lower-case letters, digits and '-', e.g. acme-sales.
        slug: String,
        /// The tenant's display name.
        #[arg(long)]
        name: String,
        /// The first admin's e-mail address.
        #[arg(long)]
        admin_email: String,
        /// The first admin's display name (default: the part of the e-mail before '@').
        #[arg(long)]
        admin_name: Option<String>,
    },
    /// List the tenants with their number of active users.
    List,
}

fn invalid(e: validate::Invalid) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", e.field, e.message)
}

/// A random password of 20 letters and digits (about 119 bits).
fn one_time_password() -> anyhow::Result<String> {
    use std::io::Read;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut bytes = [0u8; 64];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).context("reading /dev/urandom")?;
    // Rejection sampling keeps every character equally likely.
    let limit = 256 - 256 % ALPHABET.len();
    let out: String = bytes
        .iter()
        .filter(|b| usize::from(**b) < limit)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .take(20)
        .collect();
    anyhow::ensure!(out.len() == 20, "not enough random bytes");
    Ok(out)
}

/// Runs one `platica tenant` command; prints to stdout.
pub async fn run(pool: &PgPool, command: TenantCommand) -> anyhow::Result<()> {
    match command {
        TenantCommand::Create { slug, name, admin_email, admin_name } => {
            let slug = validate::slug("slug", &slug).map_err(invalid)?;
            let name = validate::name("--name", &name).map_err(invalid)?;
            let email = validate::email("--admin-email", &admin_email).map_err(invalid)?;
            let admin_name = match admin_name {
                Some(n) => validate::name("--admin-name", &n).map_err(invalid)?,
                None => email.split('@').next().unwrap_or("admin").to_owned(),
            };
            if platica_store::org::tenants::find_by_slug(pool, &slug).await?.is_some() {
                anyhow::bail!("a tenant with slug {slug:?} already exists (see: platica tenant list)");
            }
            let tenant = match platica_store::org::tenants::create(pool, &slug, &name).await {
                Ok(t) => t,
                Err(platica_store::StoreError::Conflict { .. }) => {
                    anyhow::bail!("a tenant with slug {slug:?} already exists (see: platica tenant list)")
                }
                Err(e) => return Err(e).context("creating the tenant"),
            };
            let password = one_time_password()?;
            let admin = platica_store::org::users::NewUser {
                email: &email,
                display_name: &admin_name,
                role: Role::Admin,
                operational: false,
                password: &password,
                team_ids: &[],
            };
            let user = match platica_store::org::users::create(pool, tenant, &admin).await {
                Ok(u) => u,
                Err(e) => {
                    // No tenant without an admin: nobody could sign in to it.
                    let _ = sqlx::query("DELETE FROM tenants WHERE tenant_id = $1").bind(tenant.0).execute(pool).await;
                    return Err(e).context("creating the tenant's admin");
                }
            };
            println!("created tenant {slug} ({}, id {}) with admin {email} (user {})", name, tenant.0, user.user_id);
            println!("one-time password for {email}: {password}");
            println!("(shown once: sign in at tenant {slug} with it, then change it)");
        }
        TenantCommand::List => {
            let rows: Vec<(i64, String, String, i64, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
                "SELECT t.tenant_id, t.slug, t.name,
                        (SELECT count(*) FROM users u WHERE u.tenant_id = t.tenant_id AND u.active),
                        t.created_at
                 FROM tenants t ORDER BY t.slug",
            )
            .fetch_all(pool)
            .await?;
            println!("{:<6} {:<24} {:<32} {:>6}  CREATED", "ID", "SLUG", "NAME", "USERS");
            for (id, slug, name, users, created) in &rows {
                println!("{id:<6} {slug:<24} {name:<32} {users:>6}  {}", created.to_rfc3339());
            }
            println!("{} tenant(s)", rows.len());
        }
    }
    Ok(())
}
