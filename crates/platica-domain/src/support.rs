//! Who sees support tickets and user notifications (rules that do not follow a prospect).
//!
//! - A **ticket** (and its comments) is seen by whoever opened it, by its assignee, and by every
//!   admin of the tenant. Only admins change a ticket's status or assignee; anyone who sees a
//!   ticket may comment on it.
//! - A **notification** is seen by the user it is for, and nobody else (not even admins).
//!
//! As with prospects, each rule exists as a Rust predicate and as SQL over the row.

use crate::ids::{TenantId, UserId};
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
        && (viewer.role == Role::Admin || t.opened_by == viewer.user_id || t.assignee_id == Some(viewer.user_id))
}

/// Whether `viewer` may change a ticket's status or assignee.
pub fn can_manage_ticket(viewer: &Viewer, t: &TicketParties) -> bool {
    viewer.tenant_id == t.tenant_id && viewer.role == Role::Admin
}

/// The SQL form of [`can_see_ticket`] over the ticket row aliased `t`, as parts with bind slots
/// (like [`crate::visibility::sql_predicate`]).
pub fn ticket_predicate(role: Role, t: &str) -> Vec<SqlPart> {
    use SqlPart::{Sql, TenantParam, UserParam};
    let mut parts = vec![Sql(format!("({t}.tenant_id = ")), TenantParam];
    if role != Role::Admin {
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

/// Whether `viewer` may see a notification addressed to `owner` in `tenant`.
pub fn can_see_notification(viewer: &Viewer, tenant: TenantId, owner: UserId) -> bool {
    viewer.tenant_id == tenant && viewer.user_id == owner
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
        /// The rules written out by cases equal the rules as implemented; managing implies seeing;
        /// nothing crosses tenants; a notification is its owner's only.
        #[test]
        fn ticket_and_notification_rules(
            role in role(),
            user in 1i64..5,
            tenant in 1i64..3,
            opened_by in 1i64..5,
            assignee in proptest::option::of(1i64..5),
            owner in 1i64..5,
        ) {
            let v = Viewer { tenant_id: TenantId(1), user_id: UserId(user), role, teams: BTreeSet::new() };
            let t = TicketParties { tenant_id: TenantId(tenant), opened_by: UserId(opened_by), assignee_id: assignee.map(UserId) };
            let expected = tenant == 1 && (role == Role::Admin || opened_by == user || assignee == Some(user));
            prop_assert_eq!(can_see_ticket(&v, &t), expected);
            if can_manage_ticket(&v, &t) { prop_assert!(can_see_ticket(&v, &t)); }
            prop_assert_eq!(can_manage_ticket(&v, &t), tenant == 1 && role == Role::Admin);
            prop_assert_eq!(can_see_notification(&v, TenantId(tenant), UserId(owner)), tenant == 1 && owner == user);
        }
    }
}
