//! Who sees support tickets and user notifications (rules that do not follow a prospect).
//!
//! - A **ticket** (and its comments) is seen by whoever opened it, by its assignee, and by every
//!   admin of the tenant. Only admins change a ticket's status or assignee; anyone who sees a
//!   ticket may comment on it.
//! - A **notification** is seen by the user it is for, and nobody else (not even admins).
//!
//! As with prospects, the ticket rule exists as a Rust predicate and as SQL over the row; who sees
//! every ticket is [`crate::policy::sees_every_ticket`]. The notification rule is one condition
//! (`user_id` is the viewer's), written where the store reads notifications.

use crate::ids::{TenantId, UserId};
use crate::policy;
use crate::role::{Role, Viewer};
use crate::visibility::SqlPart;

/// The facts the ticket rule looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TicketParties {
    pub tenant_id: TenantId,
    pub opened_by: UserId,
    pub assignee_id: Option<UserId>,
}

/// Whether `viewer` may see a ticket (and its comments).
pub fn can_see_ticket(viewer: &Viewer, t: &TicketParties) -> bool {
    viewer.tenant_id == t.tenant_id
        && (policy::sees_every_ticket(viewer.role)
            || t.opened_by == viewer.user_id
            || t.assignee_id == Some(viewer.user_id))
}

/// The SQL form of [`can_see_ticket`] over the ticket row aliased `t`, as parts with bind slots
/// (like [`crate::visibility::sql_predicate`]).
pub fn ticket_predicate(role: Role, t: &str) -> Vec<SqlPart> {
    use SqlPart::{Sql, TenantParam, UserParam};
    let mut parts = vec![Sql(format!("({t}.tenant_id = ")), TenantParam];
    if !policy::sees_every_ticket(role) {
        parts.extend([
            Sql(format!(" AND ({t}.opened_by = ")),
            UserParam,
            Sql(format!(" OR {t}.assignee_id = ")),
            UserParam,
            Sql(")".into()),
        ]);
    }
    parts.push(Sql(")".into()));
    parts
}

/// [`ticket_predicate`] as one string, with `tenant_param` / `user_param` standing for the slots.
pub fn ticket_sql(role: Role, t: &str, tenant_param: &str, user_param: &str) -> String {
    ticket_predicate(role, t)
        .into_iter()
        .map(|part| match part {
            SqlPart::Sql(s) => s,
            SqlPart::TenantParam => tenant_param.to_owned(),
            SqlPart::UserParam => user_param.to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    fn role() -> impl Strategy<Value = Role> {
        prop_oneof![Just(Role::Admin), Just(Role::Coordinator), Just(Role::Executive)]
    }

    #[test]
    fn sql_forms() {
        assert_eq!(ticket_sql(Role::Admin, "t", "$1", "$2"), "(t.tenant_id = $1)");
        assert_eq!(
            ticket_sql(Role::Executive, "t", "$1", "$2"),
            "(t.tenant_id = $1 AND (t.opened_by = $2 OR t.assignee_id = $2))"
        );
        assert_eq!(ticket_sql(Role::Coordinator, "t", "$1", "$2"), ticket_sql(Role::Executive, "t", "$1", "$2"));
    }

    proptest! {
        /// The rule written out by cases equals the rule as implemented; managing implies seeing;
        /// nothing crosses tenants.
        #[test]
        fn ticket_rule(
            role in role(),
            user in 1i64..5,
            tenant in 1i64..3,
            opened_by in 1i64..5,
            assignee in proptest::option::of(1i64..5),
        ) {
            let v = Viewer { tenant_id: TenantId(1), user_id: UserId(user), role, teams: BTreeSet::new() };
            let t = TicketParties { tenant_id: TenantId(tenant), opened_by: UserId(opened_by), assignee_id: assignee.map(UserId) };
            let expected = tenant == 1 && (role == Role::Admin || opened_by == user || assignee == Some(user));
            prop_assert_eq!(can_see_ticket(&v, &t), expected);
            if tenant == 1 && crate::policy::may(&v, crate::policy::Capability::ManageTickets) {
                prop_assert!(can_see_ticket(&v, &t));
            }
        }
    }
}
