//! Platica's change stream.
//!
//! PostgreSQL's logical replication stream (pgoutput, on a Platica-owned slot and publication)
//! is decoded once into typed changes ([`decode`]), grouped by transaction and applied in commit
//! order to the live inbox engine. The engine's initial state is read inside the snapshot the
//! slot exported when it was created ([`load`]), so the stream continues exactly where the
//! snapshot ends: no change is missed or applied twice.

pub mod decode;
pub mod live;
pub mod load;
pub mod lsn;
pub mod verify;

pub use live::{ChangeSink, Committed, Fanout, LiveInbox, Status, StreamConfig, StreamError};
