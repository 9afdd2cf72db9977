//! What a role may do, by name: the capabilities the server checks and sends to the web app (which
//! shows only what the user may use and never compares roles itself).
//!
//! Which *objects* a viewer may see is [`crate::visibility`] (prospects and what follows them) and
//! [`crate::support`] (tickets and notifications); this module is about *actions*. Each check in
//! the store and the HTTP layer that depends only on the role asks [`may`].

use serde::Serialize;
use utoipa::ToSchema;

use crate::UserId;
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
}

impl Capability {
    /// Every capability.
    pub const ALL: [Capability; 6] = [
        Capability::Administer,
        Capability::ManageTickets,
        Capability::Reassign,
        Capability::BulkReassign,
        Capability::RunCampaigns,
        Capability::SeeTeams,
    ];
}

/// Whether `role` has `capability`.
pub fn role_may(role: Role, capability: Capability) -> bool {
    use Capability::*;
    match capability {
        Administer | ManageTickets => role == Role::Admin,
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

/// Every capability `role` has, in a fixed order (what the API tells the web app).
pub fn capabilities(role: Role) -> Vec<Capability> {
    Capability::ALL.into_iter().filter(|c| role_may(role, *c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
