//! Platica's domain: the words every other crate speaks.
//!
//! This crate is pure (no I/O, no async). It owns:
//! - [`cursor`]: the one page cursor of the API (`(time, id)`, newest first);
//! - [`inbox`]: the inbox's rows and pages as clients see them (from SQL, the live inbox or a
//!   realtime frame);
//! - [`ids`]: typed identifiers, so a team id can never be passed where a prospect id is expected;
//! - [`role`]: user roles and the [`Viewer`] (who is asking);
//! - [`visibility`]: the one rule that decides what a viewer may see, as a Rust predicate and as
//!   the equivalent SQL predicate;
//! - [`signature`]: HMAC-SHA256 signatures of webhook bodies (`sha256=<hex>`), for every signed
//!   webhook Platica receives or sends;
//! - [`support`]: who sees support tickets and user notifications;
//! - [`policy`]: what each role may do (capabilities), asked by name;
//! - [`search`]: what a prospect search matches (accent- and case-insensitive words of the name,
//!   phones in local or international form), for the engine and mirrored in SQL;
//! - [`validate`]: checks on user input (phone numbers, names, e-mail addresses).

pub mod cursor;
pub mod fields;
pub mod ids;
pub mod inbox;
pub mod policy;
pub mod reports;
pub mod role;
pub mod search;
pub mod signature;
pub mod support;
pub mod validate;
pub mod visibility;

pub use ids::{ConversationId, MessageId, ProspectId, TeamId, TenantId, UserId};
pub use role::{Role, Viewer};
pub use visibility::Placement;
