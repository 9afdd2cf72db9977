//! Typed identifiers. Every row in Platica is addressed by `(tenant_id, id)`; ids are
//! PostgreSQL `bigint` identity values.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
            utoipa::ToSchema,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A tenant: one sales organisation. Nothing is ever shared between tenants.
    TenantId
);
id_type!(
    /// A team ("coordination"), e.g. BOOM or VEN.
    TeamId
);
id_type!(
    /// A user of any role.
    UserId
);
id_type!(
    /// A prospect (lead).
    ProspectId
);
id_type!(
    /// A conversation with a prospect on one channel.
    ConversationId
);
id_type!(
    /// A message in a conversation.
    MessageId
);
