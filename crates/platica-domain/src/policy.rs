//! What a role may do, by name: the capabilities the server checks and sends to the web app (which
//! shows only what the user may use and never compares roles itself).
//!
//! Which *objects* a viewer may see is [`crate::visibility`] (prospects and what follows them) and
//! [`crate::support`] (tickets and notifications); this module is about *actions* and about what
//! a role reaches. Every check in the store, the realtime hub and the HTTP layer that depends on
//! the role asks it ([`may`] and the predicates below); nothing else compares roles.

use serde::Serialize;
use utoipa::ToSchema;

use crate::ids::{TeamId, UserId};
use crate::role::{Role, Viewer};

/// An action some roles may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// The admin screens and routes: users, teams, API tokens, channels, settings, jobs,
    /// publishing a web version, verification.
    Administer,
    /// Change a ticket's status, priority and assignee (and be its assignee).
    ManageTickets,
    /// Move a visible prospect to another team or executive.
    Reassign,
    /// Move many prospects at once (by ids or by a filter).
    BulkReassign,
    /// Create and run WhatsApp campaigns.
    RunCampaigns,
    /// See and filter by teams and executives (an executive's inbox holds only their own).
    SeeTeams,
    /// Create, rename, recolour and delete the tenant's conversation labels (everyone who sees
    /// the inbox lists them, and applies them to conversations they see: [`may_triage`]).
    ManageLabels,
}

impl Capability {
    /// Every capability.
    pub const ALL: [Capability; 7] = [
        Capability::Administer,
        Capability::ManageTickets,
        Capability::Reassign,
        Capability::BulkReassign,
        Capability::RunCampaigns,
        Capability::SeeTeams,
        Capability::ManageLabels,
    ];
}

/// Whether `role` has `capability`.
pub fn role_may(role: Role, capability: Capability) -> bool {
    use Capability::*;
    match capability {
        Administer | ManageTickets | ManageLabels => role == Role::Admin,
        Reassign | BulkReassign | RunCampaigns | SeeTeams => matches!(role, Role::Admin | Role::Coordinator),
    }
}

/// Whether `viewer` has `capability`.
pub fn may(viewer: &Viewer, capability: Capability) -> bool {
    role_may(viewer.role, capability)
}

/// Whether `viewer` reading a conversation marks its messages read (and sends WhatsApp's read
/// receipt). Unread belongs to the conversation's owner, the executive its prospect is assigned
/// to: a supervisor who looks never clears it. A conversation with no owner is read by whoever
/// reads it.
pub fn reading_marks_read(viewer: &Viewer, owner: Option<UserId>) -> bool {
    owner.is_none_or(|owner| owner == viewer.user_id)
}

/// Whether `viewer` may triage a conversation it sees: change its status (close, snooze, open),
/// its priority and its labels. Every role works the conversations it sees, so every role may;
/// the conversation's visibility is checked by the store as for any write.
pub fn may_triage(viewer: &Viewer) -> bool {
    match reach(viewer.role) {
        Reach::Tenant | Reach::Teams | Reach::Own => true,
    }
}

/// The inbox views `role` is offered (`mine`: assigned to the viewer; `unassigned`: no
/// executive; `all`: everything the viewer sees). Whoever takes assignments has `mine`; whoever
/// sees teams has `unassigned` and `all`. An executive's `all` would equal `mine`, so it is not
/// offered.
pub fn inbox_views(role: Role) -> &'static [&'static str] {
    match (takes_assignments(role), role_may(role, Capability::SeeTeams)) {
        (true, true) => &["mine", "unassigned", "all"],
        (true, false) => &["mine"],
        (false, true) => &["unassigned", "all"],
        (false, false) => &[],
    }
}

/// Every capability `role` has, in a fixed order (what the API tells the web app).
pub fn capabilities(role: Role) -> Vec<Capability> {
    Capability::ALL.into_iter().filter(|c| role_may(role, *c)).collect()
}

/// How far a role sees over prospects (and what follows them: conversations, messages, calls):
/// the reach [`crate::visibility::can_see`] and its SQL form apply, for callers that index by it
/// (the realtime hub places a subscription where its user's reach is).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Every prospect of the tenant.
    Tenant,
    /// The prospects of the teams the user coordinates.
    Teams,
    /// The prospects assigned to the user.
    Own,
}

/// The reach of `role` over prospects.
pub fn reach(role: Role) -> Reach {
    match role {
        Role::Admin => Reach::Tenant,
        Role::Coordinator => Reach::Teams,
        Role::Executive => Reach::Own,
    }
}

/// Whether users of `role` coordinate teams (a user of another role coordinates none).
pub fn coordinates_teams(role: Role) -> bool {
    reach(role) == Reach::Teams
}

/// Whether users of `role` are given prospects and calls (the role a prospect's `executive_id` and
/// a scheduled call's executive must have).
pub fn takes_assignments(role: Role) -> bool {
    reach(role) == Reach::Own
}

/// Whether `viewer` may move prospects into `team`: admins into any team of the tenant,
/// coordinators into teams they coordinate, executives nowhere.
pub fn may_move_into(viewer: &Viewer, team: TeamId) -> bool {
    may(viewer, Capability::Reassign)
        && match reach(viewer.role) {
            Reach::Tenant => true,
            Reach::Teams => viewer.teams.contains(&team),
            Reach::Own => false,
        }
}

/// Whether `viewer` may schedule a call for (or hand one to) `executive`: an executive only for
/// themselves, the other roles for any executive.
pub fn may_schedule_for(viewer: &Viewer, executive: UserId) -> bool {
    !takes_assignments(viewer.role) || executive == viewer.user_id
}

/// Whether users of `role` see every campaign of their tenant; the other roles see the campaigns
/// they created.
pub fn sees_every_campaign(role: Role) -> bool {
    role_may(role, Capability::Administer)
}

/// Whether users of `role` see every template of their tenant (drafts and refused ones too); the
/// other roles see the approved ones, which they can send.
pub fn sees_every_template(role: Role) -> bool {
    role_may(role, Capability::Administer)
}

/// Whether users of `role` manage the tenant's WhatsApp numbers (settings, secrets, connection
/// tests, health): admins.
pub fn manages_channels(role: Role) -> bool {
    role_may(role, Capability::Administer)
}

/// Whether users of `role` see every ticket of their tenant (those who manage tickets); the other
/// roles see the tickets they opened or are assigned (see [`crate::support`]).
pub fn sees_every_ticket(role: Role) -> bool {
    role_may(role, Capability::ManageTickets)
}

/// Whether a user of `role` may be a ticket's assignee: those who manage tickets.
pub fn takes_tickets(role: Role) -> bool {
    role_may(role, Capability::ManageTickets)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;
    use crate::ids::TenantId;
    use crate::visibility::{Placement, can_see};

    fn viewer(role: Role, user: i64) -> Viewer {
        Viewer { tenant_id: crate::TenantId(1), user_id: UserId(user), role, teams: Default::default() }
    }

    #[test]
    fn only_the_owner_reading_marks_read() {
        for role in [Role::Admin, Role::Coordinator, Role::Executive] {
            assert!(reading_marks_read(&viewer(role, 7), Some(UserId(7))), "{role:?} owning it");
            assert!(!reading_marks_read(&viewer(role, 8), Some(UserId(7))), "{role:?} not owning it");
            assert!(reading_marks_read(&viewer(role, 8), None), "{role:?}, nobody owning it");
        }
    }

    #[test]
    fn admins_may_do_everything() {
        assert_eq!(capabilities(Role::Admin), Capability::ALL.to_vec());
    }

    #[test]
    fn coordinators_run_their_teams_but_not_the_tenant() {
        let c = capabilities(Role::Coordinator);
        assert!(c.contains(&Capability::BulkReassign) && c.contains(&Capability::RunCampaigns));
        assert!(!c.contains(&Capability::Administer) && !c.contains(&Capability::ManageTickets));
    }

    #[test]
    fn executives_work_their_own_conversations_only() {
        assert_eq!(capabilities(Role::Executive), Vec::<Capability>::new());
    }

    #[test]
    fn capabilities_serialise_in_snake_case() {
        let json = serde_json::to_string(&capabilities(Role::Coordinator)).unwrap();
        assert_eq!(json, r#"["reassign","bulk_reassign","run_campaigns","see_teams"]"#);
    }

    fn role() -> impl Strategy<Value = Role> {
        prop_oneof![Just(Role::Admin), Just(Role::Coordinator), Just(Role::Executive)]
    }

    #[test]
    fn each_role_has_one_reach_and_one_kind_of_assignment() {
        assert_eq!(reach(Role::Admin), Reach::Tenant);
        assert_eq!(reach(Role::Coordinator), Reach::Teams);
        assert_eq!(reach(Role::Executive), Reach::Own);
        assert!(coordinates_teams(Role::Coordinator) && !coordinates_teams(Role::Admin));
        assert!(!coordinates_teams(Role::Executive));
        assert!(takes_assignments(Role::Executive) && !takes_assignments(Role::Coordinator));
        assert!(!takes_assignments(Role::Admin));
        assert!(takes_tickets(Role::Admin) && !takes_tickets(Role::Coordinator) && !takes_tickets(Role::Executive));
    }

    #[test]
    fn only_admins_see_everything_created_in_the_tenant() {
        for role in [Role::Admin, Role::Coordinator, Role::Executive] {
            let admin = role == Role::Admin;
            assert_eq!(sees_every_campaign(role), admin, "{role}");
            assert_eq!(sees_every_template(role), admin, "{role}");
            assert_eq!(sees_every_ticket(role), admin, "{role}");
        }
    }

    proptest! {
        /// The predicates written out by cases equal the predicates as implemented, and agree with
        /// the visibility rule: a reach covers exactly the placements `can_see` allows, and
        /// whoever may move prospects into a team may reassign and sees that team's prospects.
        #[test]
        fn predicates_match_their_definitions(
            role in role(),
            user in 1i64..6,
            teams in proptest::collection::btree_set(1i64..5, 0..4),
            team in 1i64..5,
            exec in proptest::option::of(1i64..6),
            target in 1i64..6,
        ) {
            let teams: BTreeSet<TeamId> =
                if role == Role::Coordinator { teams.into_iter().map(TeamId).collect() } else { BTreeSet::new() };
            let v = Viewer { tenant_id: TenantId(1), user_id: UserId(user), role, teams };
            let placement = Placement { tenant_id: TenantId(1), team_id: TeamId(team), executive_id: exec.map(UserId) };
            let in_reach = match reach(role) {
                Reach::Tenant => true,
                Reach::Teams => v.teams.contains(&TeamId(team)),
                Reach::Own => exec == Some(user),
            };
            prop_assert_eq!(can_see(&v, &placement), in_reach);
            let moves = match role {
                Role::Admin => true,
                Role::Coordinator => v.teams.contains(&TeamId(team)),
                Role::Executive => false,
            };
            prop_assert_eq!(may_move_into(&v, TeamId(team)), moves);
            if moves {
                prop_assert!(may(&v, Capability::Reassign));
                let unassigned = Placement { executive_id: None, ..placement };
                prop_assert!(can_see(&v, &unassigned));
            }
            prop_assert_eq!(may_schedule_for(&v, UserId(target)), role != Role::Executive || target == user);
        }
    }
}
