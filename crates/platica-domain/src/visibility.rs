//! The visibility rule, in one place.
//!
//! - **Admin**: every prospect of the tenant.
//! - **Coordinator**: every prospect whose team is one they coordinate.
//! - **Executive**: every prospect assigned to them, whatever the team.
//!
//! A conversation and its messages are visible exactly when their prospect is. The
//! `operational` flag of a user decides eligibility for *new* assignments only, never visibility.
//! Nothing is ever visible across tenants.
//!
//! The rule exists twice: [`can_see`] for data held in memory, and [`sql_predicate`] for queries
//! (every query of the store builds its visibility condition from it).
//! Tests check on random data that the two always agree.

use crate::ids::{TeamId, TenantId, UserId};
use crate::policy::{self, Capability, Reach};
use crate::role::{Role, Viewer};

/// Where a prospect sits: the facts the visibility rule looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Placement {
    pub tenant_id: TenantId,
    pub team_id: TeamId,
    pub executive_id: Option<UserId>,
}

/// Whether `viewer` may see a prospect placed at `placement` (and its conversations and messages).
pub fn can_see(viewer: &Viewer, placement: &Placement) -> bool {
    if viewer.tenant_id != placement.tenant_id {
        return false;
    }
    match policy::reach(viewer.role) {
        Reach::Tenant => true,
        Reach::Teams => viewer.teams.contains(&placement.team_id),
        Reach::Own => placement.executive_id == Some(viewer.user_id),
    }
}

/// A piece of the SQL form of the rule: text, or a parameter the caller binds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SqlPart {
    Sql(String),
    /// The viewer's tenant id (`bigint`).
    TenantParam,
    /// The viewer's user id (`bigint`).
    UserParam,
}

/// The SQL equivalent of [`can_see`] for a viewer of role `role`: a boolean expression over the
/// prospect row aliased `prospect` (columns `tenant_id`, `team_id`, `executive_id`), as parts so
/// that a query builder can bind the parameters where they stand.
///
/// A coordinator's teams are read from `coordinator_teams` at query time, so the SQL never
/// depends on state held by the caller.
pub fn sql_predicate(role: Role, prospect: &str) -> Vec<SqlPart> {
    use SqlPart::{Sql, TenantParam, UserParam};
    let mut parts = vec![Sql(format!("({prospect}.tenant_id = ")), TenantParam];
    match policy::reach(role) {
        Reach::Tenant => {}
        Reach::Teams => parts.extend([
            Sql(format!(
                " AND {prospect}.team_id IN (SELECT ct.team_id FROM coordinator_teams ct WHERE ct.tenant_id = "
            )),
            TenantParam,
            Sql(" AND ct.user_id = ".into()),
            UserParam,
            Sql(")".into()),
        ]),
        Reach::Own => parts.extend([Sql(format!(" AND {prospect}.executive_id = ")), UserParam]),
    }
    parts.push(Sql(")".into()));
    parts
}

/// [`sql_predicate`] as one string, with `tenant_param` and `user_param` (e.g. `"$1"`, `"$2"`)
/// standing for the parameters.
pub fn sql_predicate_text(role: Role, prospect: &str, tenant_param: &str, user_param: &str) -> String {
    sql_predicate(role, prospect)
        .into_iter()
        .map(|part| match part {
            SqlPart::Sql(s) => s,
            SqlPart::TenantParam => tenant_param.to_owned(),
            SqlPart::UserParam => user_param.to_owned(),
        })
        .collect()
}

/// Why a write is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The object is not visible to the viewer: callers answer as if it did not exist.
    #[error("not visible")]
    NotVisible,
    /// The object is visible but the viewer's role may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
}

/// Whether `viewer` may move a prospect from `from` to team `to_team`.
///
/// Admins may move anything anywhere within the tenant. Coordinators may move prospects they see
/// into teams they coordinate. Executives may not reassign.
pub fn can_reassign(viewer: &Viewer, from: &Placement, to_team: TeamId) -> Result<(), Denied> {
    if !can_see(viewer, from) {
        return Err(Denied::NotVisible);
    }
    if !policy::may(viewer, Capability::Reassign) {
        return Err(Denied::Forbidden("executives may not reassign prospects"));
    }
    if !policy::may_move_into(viewer, to_team) {
        return Err(Denied::Forbidden("coordinators may only move prospects into teams they coordinate"));
    }
    Ok(())
}

/// Whether `viewer` may create a prospect in `team_id`, assigned to `executive_id`.
///
/// Admins: anywhere. Coordinators: in teams they coordinate. Executives: only assigned to
/// themselves (in any team, as the visibility rule follows the assignment, not the team).
pub fn can_create_prospect(viewer: &Viewer, team_id: TeamId, executive_id: Option<UserId>) -> Result<(), Denied> {
    match viewer.role {
        Role::Admin => Ok(()),
        Role::Coordinator if viewer.teams.contains(&team_id) => Ok(()),
        Role::Coordinator => Err(Denied::Forbidden("coordinators may only create prospects in teams they coordinate")),
        Role::Executive if executive_id == Some(viewer.user_id) => Ok(()),
        Role::Executive => Err(Denied::Forbidden("executives may only create prospects assigned to themselves")),
    }
}

/// Whether `viewer` may delete a visible prospect: admins and coordinators only.
pub fn can_delete_prospect(viewer: &Viewer, placement: &Placement) -> Result<(), Denied> {
    if !can_see(viewer, placement) {
        return Err(Denied::NotVisible);
    }
    match viewer.role {
        Role::Admin | Role::Coordinator => Ok(()),
        Role::Executive => Err(Denied::Forbidden("executives may not delete prospects")),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    fn viewer(role: Role, user: i64, teams: &[i64]) -> Viewer {
        Viewer {
            tenant_id: TenantId(1),
            user_id: UserId(user),
            role,
            teams: teams.iter().copied().map(TeamId).collect::<BTreeSet<_>>(),
        }
    }

    fn at(tenant: i64, team: i64, exec: Option<i64>) -> Placement {
        Placement { tenant_id: TenantId(tenant), team_id: TeamId(team), executive_id: exec.map(UserId) }
    }

    #[test]
    fn executive_sees_her_prospects_in_any_team() {
        let exec = viewer(Role::Executive, 7, &[]);
        assert!(can_see(&exec, &at(1, 1, Some(7))));
        assert!(can_see(&exec, &at(1, 2, Some(7))));
        assert!(!can_see(&exec, &at(1, 1, Some(8))));
        assert!(!can_see(&exec, &at(1, 1, None)));
    }

    #[test]
    fn coordinator_of_two_teams_sees_both() {
        let coord = viewer(Role::Coordinator, 3, &[1, 2]);
        assert!(can_see(&coord, &at(1, 1, Some(7))));
        assert!(can_see(&coord, &at(1, 2, None)));
        assert!(!can_see(&coord, &at(1, 3, Some(3))));
    }

    #[test]
    fn nothing_crosses_tenants() {
        for role in [Role::Admin, Role::Coordinator, Role::Executive] {
            let v = viewer(role, 7, &[1]);
            assert!(!can_see(&v, &at(2, 1, Some(7))), "{role} saw another tenant");
        }
    }

    #[test]
    fn reassign_rules() {
        let coord = viewer(Role::Coordinator, 3, &[1, 2]);
        assert_eq!(can_reassign(&coord, &at(1, 1, None), TeamId(2)), Ok(()));
        assert!(matches!(can_reassign(&coord, &at(1, 1, None), TeamId(3)), Err(Denied::Forbidden(_))));
        assert_eq!(can_reassign(&coord, &at(1, 3, None), TeamId(1)), Err(Denied::NotVisible));
        let exec = viewer(Role::Executive, 7, &[]);
        assert!(matches!(can_reassign(&exec, &at(1, 1, Some(7)), TeamId(1)), Err(Denied::Forbidden(_))));
        let admin = viewer(Role::Admin, 1, &[]);
        assert_eq!(can_reassign(&admin, &at(1, 9, None), TeamId(4)), Ok(()));
    }

    fn role() -> impl Strategy<Value = Role> {
        prop_oneof![Just(Role::Admin), Just(Role::Coordinator), Just(Role::Executive)]
    }

    #[test]
    fn sql_forms() {
        assert_eq!(sql_predicate_text(Role::Admin, "p", "$1", "$2"), "(p.tenant_id = $1)");
        assert_eq!(sql_predicate_text(Role::Executive, "p", "$1", "$2"), "(p.tenant_id = $1 AND p.executive_id = $2)");
        assert_eq!(
            sql_predicate_text(Role::Coordinator, "x", "$1", "$2"),
            "(x.tenant_id = $1 AND x.team_id IN (SELECT ct.team_id FROM coordinator_teams ct \
             WHERE ct.tenant_id = $1 AND ct.user_id = $2))"
        );
    }

    proptest! {
        /// The rule written out by cases equals the rule as implemented.
        #[test]
        fn can_see_matches_definition(
            role in role(),
            user in 1i64..6,
            teams in proptest::collection::btree_set(1i64..5, 0..4),
            tenant in 1i64..3,
            team in 1i64..5,
            exec in proptest::option::of(1i64..6),
        ) {
            let v = Viewer { tenant_id: TenantId(1), user_id: UserId(user), role,
                teams: if role == Role::Coordinator { teams.iter().copied().map(TeamId).collect() } else { BTreeSet::new() } };
            let p = at(tenant, team, exec);
            let expected = tenant == 1 && match role {
                Role::Admin => true,
                Role::Coordinator => teams.contains(&team),
                Role::Executive => exec == Some(user),
            };
            prop_assert_eq!(can_see(&v, &p), expected);
            // Whoever may reassign a prospect can see it.
            if can_reassign(&v, &p, TeamId(team)).is_ok() { prop_assert!(can_see(&v, &p)); }
        }
    }
}
