//! What the demo tenant holds, read back from the database, and the banner that tells a person
//! how to use it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Context;
use platica_domain::{Role, TenantId};
use platica_store::PgPool;

use crate::roster::{self, Staff, TEAMS, TENANT_NAME, TENANT_SLUG};
use crate::{DemoInfo, DemoLogin};

/// Counts and logins of the demo tenant `tenant`, as it is now.
pub async fn load(pool: &PgPool, tenant: TenantId) -> anyhow::Result<DemoInfo> {
    let (users, prospects, conversations, messages, unread_conversations): (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM users WHERE tenant_id = $1),
                    (SELECT count(*) FROM prospects WHERE tenant_id = $1),
                    (SELECT count(*) FROM conversations WHERE tenant_id = $1),
                    (SELECT count(*) FROM messages WHERE tenant_id = $1),
                    (SELECT count(DISTINCT conversation_id) FROM messages
                      WHERE tenant_id = $1 AND direction = 'in' AND read_at IS NULL)",
    )
    .bind(tenant.0)
    .fetch_one(pool)
    .await
    .context("counting the demo data")?;

    // Prospects per (executive e-mail, team name).
    let placed: Vec<(Option<String>, String, i64)> = sqlx::query_as(
        "SELECT u.email, t.name, count(*)
         FROM prospects p
         JOIN teams t ON t.tenant_id = p.tenant_id AND t.team_id = p.team_id
         LEFT JOIN users u ON u.tenant_id = p.tenant_id AND u.user_id = p.executive_id
         WHERE p.tenant_id = $1
         GROUP BY 1, 2",
    )
    .bind(tenant.0)
    .fetch_all(pool)
    .await
    .context("counting prospects per executive and team")?;
    let mut per_team: BTreeMap<String, i64> = BTreeMap::new();
    let mut per_exec: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for (email, team, n) in placed {
        *per_team.entry(team.clone()).or_default() += n;
        if let Some(email) = email {
            *per_exec.entry(email).or_default().entry(team).or_default() += n;
        }
    }

    let logins = roster::everyone()
        .map(|s| DemoLogin {
            role: s.role.as_str(),
            email: s.email.to_owned(),
            password: s.password().to_owned(),
            note: note(s, prospects, &per_team, per_exec.get(s.email)),
        })
        .collect();
    Ok(DemoInfo {
        tenant_id: tenant,
        tenant_slug: TENANT_SLUG.to_owned(),
        logins,
        prospects,
        messages,
        users,
        conversations,
        unread_conversations,
    })
}

/// "12 in BOOM, 3 in VEN".
fn breakdown(per_team: &BTreeMap<String, i64>) -> String {
    let parts: Vec<String> = TEAMS
        .iter()
        .filter_map(|t| per_team.get(*t).filter(|n| **n > 0).map(|n| format!("{} in {t}", thousands(*n))))
        .collect();
    if parts.is_empty() { "none".to_owned() } else { parts.join(", ") }
}

fn note(s: &Staff, total: i64, per_team: &BTreeMap<String, i64>, mine: Option<&BTreeMap<String, i64>>) -> String {
    match s.role {
        Role::Admin => format!("sees everything: all {} prospects ({})", thousands(total), breakdown(per_team)),
        Role::Coordinator => {
            let names: Vec<&str> = s.teams.iter().map(|&t| TEAMS[t]).collect();
            let seen: i64 = names.iter().filter_map(|t| per_team.get(*t)).sum();
            if names.len() == 1 {
                format!("coordinates {} only: sees its {} prospects", names.join(""), thousands(seen))
            } else {
                format!("coordinates {} (several teams): sees their {} prospects", names.join(" and "), thousands(seen))
            }
        }
        Role::Executive => {
            let empty = BTreeMap::new();
            let mine = mine.unwrap_or(&empty);
            let seen: i64 = mine.values().sum();
            let both = mine.values().filter(|n| **n > 0).count() > 1;
            let assigned = format!("{} prospects assigned to them ({})", thousands(seen), breakdown(mine));
            if !s.operational {
                format!("NOT operational (no new assignments), still sees the {assigned}")
            } else if both {
                format!("has prospects in BOTH teams: sees all {assigned}")
            } else {
                format!("sees the {assigned}")
            }
        }
    }
}

/// 60412 -> "60,412".
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The banner: URL, logins, counts, and a curl session to copy.
pub fn banner(info: &DemoInfo, base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    let mut b = String::new();
    let rule = "=".repeat(100);
    let _ = writeln!(b, "{rule}");
    let _ = writeln!(b, "  Platica demo is running at {base}");
    let _ = writeln!(b, "{rule}");
    let _ = writeln!(b, "  Tenant \"{}\" ({TENANT_NAME}), teams {}:", info.tenant_slug, TEAMS.join(" and "));
    let _ = writeln!(
        b,
        "    {} users, {} prospects, {} conversations ({} with unread messages), {} messages.",
        thousands(info.users),
        thousands(info.prospects),
        thousands(info.conversations),
        thousands(info.unread_conversations),
        thousands(info.messages),
    );
    let _ = writeln!(b, "  The traffic simulator adds inbound messages, replies, receipts and reassignments (--rate).");
    let _ = writeln!(b, "  Web app: open {base}/ in a browser and sign in with a login below.");
    let _ = writeln!(b);
    let _ = writeln!(b, "  Logins (tenant \"{}\"):", info.tenant_slug);
    let email_width = info.logins.iter().map(|l| l.email.len()).max().unwrap_or(5).max(5);
    let password_width = info.logins.iter().map(|l| l.password.len()).max().unwrap_or(8).max(8);
    let _ =
        writeln!(b, "    {:<12} {:<email_width$}  {:<password_width$}  WHAT THEY SEE", "ROLE", "E-MAIL", "PASSWORD");
    for l in &info.logins {
        let _ =
            writeln!(b, "    {:<12} {:<email_width$}  {:<password_width$}  {}", l.role, l.email, l.password, l.note);
    }
    let _ = writeln!(b);
    if let Some(l) = info.logins.first() {
        let _ = writeln!(b, "  Try it (log in, then list the five most recent conversations):");
        let _ = writeln!(b, "    TOKEN=$(curl -s -X POST {base}/api/v1/auth/login \\");
        let _ = writeln!(b, "      -H 'content-type: application/json' \\");
        let _ = writeln!(
            b,
            "      -d '{{\"tenant\":\"{}\",\"email\":\"{}\",\"password\":\"{}\"}}' \\",
            info.tenant_slug, l.email, l.password
        );
        let _ = writeln!(b, "      | sed -E 's/.*\"token\":\"([^\"]+)\".*/\\1/')");
        let _ = writeln!(b, "    curl -s -H \"Authorization: Bearer $TOKEN\" '{base}/api/v1/conversations?limit=5'");
        let _ = writeln!(b);
    }
    let _ = writeln!(b, "  Press Ctrl-C to stop the server, the simulator and the database.");
    let _ = write!(b, "{rule}");
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(3_000), "3,000");
        assert_eq!(thousands(60_412), "60,412");
        assert_eq!(thousands(-1_234_567), "-1,234,567");
    }

    #[test]
    fn banner_lists_logins_and_curl() {
        let info = DemoInfo {
            tenant_id: TenantId(1),
            tenant_slug: "demo".into(),
            logins: vec![DemoLogin {
                role: "admin",
                email: "admin@demo.platica.test".into(),
                password: "platica-admin".into(),
                note: "sees everything".into(),
            }],
            prospects: 3_000,
            messages: 60_000,
            users: 15,
            conversations: 3_000,
            unread_conversations: 450,
        };
        let text = banner(&info, "http://127.0.0.1:8080/");
        assert!(text.contains("http://127.0.0.1:8080/api/v1/auth/login"), "{text}");
        assert!(text.contains("http://127.0.0.1:8080/api/v1/conversations?limit=5"));
        assert!(text.contains(r#"{"tenant":"demo","email":"admin@demo.platica.test","password":"platica-admin"}"#));
        assert!(text.contains("3,000 prospects") && text.contains("60,000 messages"));
        assert!(text.contains("Ctrl-C"));
    }
}
