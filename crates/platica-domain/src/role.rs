//! Roles and the viewer: who is asking, and what they coordinate.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::ids::{TeamId, TenantId, UserId};

/// A user's role. It decides visibility (see [`crate::visibility`]) and which writes are allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sees and manages the whole tenant.
    Admin,
    /// Sees the prospects of the teams they coordinate (one or several).
    Coordinator,
    /// A salesperson: sees every prospect assigned to them, whatever the team.
    Executive,
}

impl Role {
    /// The role's name as stored in the database and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Coordinator => "coordinator",
            Role::Executive => "executive",
        }
    }

    /// Parses the stored name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "coordinator" => Some(Role::Coordinator),
            "executive" => Some(Role::Executive),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The authenticated principal a request acts as.
///
/// `teams` holds the teams a coordinator coordinates; it is empty for other roles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Viewer {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub role: Role,
    pub teams: BTreeSet<TeamId>,
}
