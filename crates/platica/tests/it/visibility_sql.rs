//! The visibility rule exists as a Rust predicate and as SQL. On random tenants, teams, users,
//! coordinator assignments and prospect placements, both must select exactly the same prospects
//! and conversations for every viewer, and nothing of another tenant. Calls and scheduled calls
//! follow their prospect through the store's queries; tickets follow their own rule
//! (`support::can_see_ticket`) in Rust and SQL alike.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::collections::{BTreeMap, BTreeSet};

use platica_domain::support::{TicketParties, can_see_ticket};
use platica_domain::visibility::{Placement, can_see, sql_predicate_text};
use platica_domain::{Role, TeamId, TenantId, UserId, Viewer};
use platica_store::inbox::conversations::InboxFilter;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

#[derive(Clone, Debug)]
struct RandomUser {
    role: Role,
    /// Indexes into the tenant's teams (coordinators only).
    coordinates: BTreeSet<usize>,
}

#[derive(Clone, Debug)]
struct RandomTenant {
    teams: usize,
    users: Vec<RandomUser>,
    /// (team index, executive: index into users, used only if that user is an executive)
    prospects: Vec<(usize, Option<usize>)>,
    /// (opener, assignee): indexes into users (taken modulo their number).
    tickets: Vec<(usize, Option<usize>)>,
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Admin), Just(Role::Coordinator), Just(Role::Executive), Just(Role::Executive)]
}

fn tenant() -> impl Strategy<Value = RandomTenant> {
    (1usize..5).prop_flat_map(|teams| {
        let user = (role(), proptest::collection::btree_set(0..teams, 0..=teams))
            .prop_map(|(role, coordinates)| RandomUser { role, coordinates });
        (
            Just(teams),
            proptest::collection::vec(user, 1..7),
            proptest::collection::vec((0..teams, proptest::option::of(0usize..7)), 0..25),
            proptest::collection::vec((0usize..7, proptest::option::of(0usize..7)), 0..6),
        )
            .prop_map(|(teams, users, prospects, tickets)| RandomTenant { teams, users, prospects, tickets })
    })
}

/// Every placement by prospect id (with its conversation), and per prospect its call and
/// scheduled call (when it has an executive); every ticket with its parties.
type Loaded = (
    Vec<Viewer>,
    BTreeMap<i64, (Placement, i64)>,
    BTreeMap<i64, i64>,
    BTreeMap<i64, i64>,
    BTreeMap<i64, TicketParties>,
);

/// Writes the tenants; returns every viewer (as the Rust rule sees them) and every placement.
async fn load(pool: &sqlx::PgPool, tenants: &[RandomTenant]) -> Loaded {
    sqlx::query("TRUNCATE tenants CASCADE").execute(pool).await.unwrap();
    let mut viewers = Vec::new();
    let mut placements = BTreeMap::new();
    let mut calls = BTreeMap::new();
    let mut scheduled = BTreeMap::new();
    let mut tickets = BTreeMap::new();
    for (ti, t) in tenants.iter().enumerate() {
        let tenant = platica_store::org::tenants::create(pool, &format!("t{ti}"), "T").await.unwrap();
        let mut teams = Vec::new();
        for k in 0..t.teams {
            let id: i64 = sqlx::query_scalar("INSERT INTO teams (tenant_id, name) VALUES ($1, $2) RETURNING team_id")
                .bind(tenant.0)
                .bind(format!("team{k}"))
                .fetch_one(pool)
                .await
                .unwrap();
            teams.push(TeamId(id));
        }
        let mut users = Vec::new();
        for (k, u) in t.users.iter().enumerate() {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO users (tenant_id, email, display_name, role, password_hash)
                 VALUES ($1, $2, 'U', $3, 'x') RETURNING user_id",
            )
            .bind(tenant.0)
            .bind(format!("u{k}@t.test"))
            .bind(u.role.as_str())
            .fetch_one(pool)
            .await
            .unwrap();
            let coordinated: BTreeSet<TeamId> = if u.role == Role::Coordinator {
                u.coordinates.iter().map(|i| teams[*i]).collect()
            } else {
                BTreeSet::new()
            };
            for team in &coordinated {
                sqlx::query("INSERT INTO coordinator_teams (tenant_id, user_id, team_id) VALUES ($1, $2, $3)")
                    .bind(tenant.0)
                    .bind(id)
                    .bind(team.0)
                    .execute(pool)
                    .await
                    .unwrap();
            }
            users.push((UserId(id), u.role));
            viewers.push(Viewer { tenant_id: tenant, user_id: UserId(id), role: u.role, teams: coordinated });
        }
        for (k, (team, exec)) in t.prospects.iter().enumerate() {
            let exec = exec.and_then(|i| users.get(i)).filter(|(_, r)| *r == Role::Executive).map(|(id, _)| *id);
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO prospects (tenant_id, name, phone, team_id, executive_id)
                 VALUES ($1, 'P', $2, $3, $4) RETURNING prospect_id",
            )
            .bind(tenant.0)
            .bind(format!("+5215500{:06}", k))
            .bind(teams[*team].0)
            .bind(exec.map(|e| e.0))
            .fetch_one(pool)
            .await
            .unwrap();
            let conv: i64 = sqlx::query_scalar(
                "INSERT INTO conversations (tenant_id, prospect_id) VALUES ($1, $2) RETURNING conversation_id",
            )
            .bind(tenant.0)
            .bind(id)
            .fetch_one(pool)
            .await
            .unwrap();
            placements.insert(id, (Placement { tenant_id: tenant, team_id: teams[*team], executive_id: exec }, conv));
            let call: i64 = sqlx::query_scalar(
                "INSERT INTO calls (tenant_id, prospect_id, executive_id, provider, provider_call_id, status)
                 VALUES ($1, $2, $3, 'voicebot', $4, 'ringing') RETURNING call_id",
            )
            .bind(tenant.0)
            .bind(id)
            .bind(exec.map(|e| e.0))
            .bind(format!("c{id}"))
            .fetch_one(pool)
            .await
            .unwrap();
            calls.insert(call, id);
            if let Some(e) = exec {
                let s: i64 = sqlx::query_scalar(
                    "INSERT INTO scheduled_calls (tenant_id, prospect_id, executive_id, due_at)
                     VALUES ($1, $2, $3, now()) RETURNING scheduled_call_id",
                )
                .bind(tenant.0)
                .bind(id)
                .bind(e.0)
                .fetch_one(pool)
                .await
                .unwrap();
                scheduled.insert(s, id);
            }
        }
        for (opener, assignee) in &t.tickets {
            let opened_by = users[opener % users.len()].0;
            let assignee_id = assignee.map(|a| users[a % users.len()].0);
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO tickets (tenant_id, opened_by, subject, body, assignee_id) VALUES ($1, $2, 'S', 'B', $3)
                 RETURNING ticket_id",
            )
            .bind(tenant.0)
            .bind(opened_by.0)
            .bind(assignee_id.map(|a| a.0))
            .fetch_one(pool)
            .await
            .unwrap();
            tickets.insert(id, TicketParties { tenant_id: tenant, opened_by, assignee_id });
        }
    }
    (viewers, placements, calls, scheduled, tickets)
}

async fn check(pool: &sqlx::PgPool, tenants: Vec<RandomTenant>) -> Result<(), TestCaseError> {
    let (viewers, placements, calls, scheduled, tickets) = load(pool, &tenants).await;
    for viewer in &viewers {
        let expected: BTreeSet<i64> =
            placements.iter().filter(|(_, (pl, _))| can_see(viewer, pl)).map(|(id, _)| *id).collect();

        // The SQL predicate, as text with explicit parameters.
        let sql = format!(
            "SELECT p.prospect_id FROM prospects p WHERE {} ORDER BY 1",
            sql_predicate_text(viewer.role, "p", "$1", "$2")
        );
        let got: BTreeSet<i64> = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
            .bind(viewer.tenant_id.0)
            .bind(viewer.user_id.0)
            .fetch_all(pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
        prop_assert_eq!(&got, &expected, "SQL predicate vs Rust rule for {:?}", viewer);

        // The store's reference inbox, which builds its condition from the same predicate.
        let page =
            platica_store::inbox::conversations::list(pool, viewer, &InboxFilter::default(), None, 1000).await.unwrap();
        let got_convs: BTreeSet<i64> = page.items.iter().map(|r| r.conversation_id).collect();
        let expected_convs: BTreeSet<i64> = expected.iter().map(|id| placements[id].1).collect();
        prop_assert_eq!(got_convs, expected_convs, "inbox vs Rust rule for {:?}", viewer);
        prop_assert_eq!(page.total as usize, expected.len());

        // And the prospect list.
        let listed =
            platica_store::inbox::prospects::list(pool, viewer, &Default::default(), None, 1000).await.unwrap();
        let listed: BTreeSet<i64> = listed.iter().map(|p| p.prospect_id).collect();
        prop_assert_eq!(listed, expected.clone());

        // Calls and scheduled calls: exactly those of the visible prospects.
        let f = platica_store::inbox::calls::CallFilter::default();
        let got: BTreeSet<i64> = platica_store::inbox::calls::list(pool, viewer, &f, None, 1000)
            .await
            .unwrap()
            .iter()
            .map(|c| c.call_id)
            .collect();
        let want: BTreeSet<i64> = calls.iter().filter(|(_, p)| expected.contains(p)).map(|(c, _)| *c).collect();
        prop_assert_eq!(got, want, "calls for {:?}", viewer);
        let f = platica_store::inbox::calls::ScheduledFilter::default();
        let got: BTreeSet<i64> = platica_store::inbox::calls::list_scheduled(pool, viewer, &f, 1000)
            .await
            .unwrap()
            .iter()
            .map(|s| s.scheduled_call_id)
            .collect();
        let want: BTreeSet<i64> = scheduled.iter().filter(|(_, p)| expected.contains(p)).map(|(s, _)| *s).collect();
        prop_assert_eq!(got, want, "scheduled calls for {:?}", viewer);

        // Tickets: their own rule, Rust against the store's SQL.
        let got: BTreeSet<i64> = platica_store::support::tickets::list(pool, viewer, &Default::default(), 1000)
            .await
            .unwrap()
            .iter()
            .map(|t| t.ticket_id)
            .collect();
        let want: BTreeSet<i64> =
            tickets.iter().filter(|(_, t)| can_see_ticket(viewer, t)).map(|(id, _)| *id).collect();
        prop_assert_eq!(got, want, "tickets for {:?}", viewer);
    }
    Ok(())
}

#[test]
fn rust_and_sql_visibility_agree() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let pool = rt.block_on(async {
        let url = support::fresh_database().await;
        platica_store::pg::db::connect(&url, 2).await.unwrap()
    });
    let mut runner = TestRunner::new(Config { cases: 48, ..Config::default() });
    runner.run(&proptest::collection::vec(tenant(), 1..3), |tenants| rt.block_on(check(&pool, tenants))).unwrap();
}

/// A viewer's tenant id never lets another tenant's rows through, even with ids that collide
/// across tenants' roles.
#[test]
fn tenant_mismatch_is_invisible() {
    let v = Viewer { tenant_id: TenantId(1), user_id: UserId(5), role: Role::Admin, teams: BTreeSet::new() };
    let p = Placement { tenant_id: TenantId(2), team_id: TeamId(1), executive_id: Some(UserId(5)) };
    assert!(!can_see(&v, &p));
}
