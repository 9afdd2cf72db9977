//! Platica's live inbox engine.
//!
//! The engine keeps, for every tenant, one row per conversation (prospect, team, executive, last
//! message, unread and message counts, bot pause, status) and ordered indexes of those rows by
//! last activity: for the whole tenant, per team and per executive. It is fed committed
//! transactions of row changes ([`change`]) decoded from PostgreSQL's logical replication stream
//! and answers inbox pages ([`query`]) for any user under the visibility rule, without I/O.
//!
//! - [`change`]: the rows and changes the engine consumes;
//! - [`scope`]: ordered indexes with O(1) counts and keyset ranges;
//! - [`tenant`]: one tenant's state, applying changes and answering pages;
//! - [`engine`]: all tenants and the applied stream position.
//!
//! Every operation is O(log n) in the tenant's conversations (a reassignment moves a row between
//! indexes; a page is a range scan from its cursor), so the cost of a change does not grow with
//! the size of the inbox.

pub mod change;
pub mod engine;
pub mod query;
pub mod scope;
pub mod tenant;

pub use change::Status;
pub use change::{Change, Transaction};
pub use engine::{Applied, Engine, Newest};
pub use query::{Cursor, Filter, Page, Row, Sort, View};
pub use scope::Live;
pub use tenant::{Seat, TenantInbox};
