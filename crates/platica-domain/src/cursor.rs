//! The one page cursor of the API: a position `(time, id)` in a list ordered newest first (the
//! inbox by last activity, a conversation's messages by creation). Clients treat it as opaque.

use chrono::{DateTime, Datelike, Utc};

/// A position in a list ordered by `(at, id)`, both descending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub at: DateTime<Utc>,
    pub id: i64,
}

impl Cursor {
    /// Encodes as `<microseconds since epoch>_<id>` (treat as opaque).
    pub fn encode(&self) -> String {
        format!("{}_{}", self.at.timestamp_micros(), self.id)
    }

    /// Decodes what [`Cursor::encode`] made; `None` for anything else, or for a cursor no real row
    /// can have (an id below 1, a year beyond PostgreSQL's range: forged).
    pub fn decode(s: &str) -> Option<Cursor> {
        let (micros, id) = s.split_once('_')?;
        let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
        let id: i64 = id.parse().ok()?;
        (id > 0 && (1..=9999).contains(&at.year())).then_some(Cursor { at, id })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn malformed_and_forged_cursors_are_refused() {
        for bad in
            ["", "x", "1_", "_1", "1_0", "1_-3", "a_1", "1_1_1", "99999999999999999999_1", "253402300800000000_1"]
        {
            assert_eq!(Cursor::decode(bad), None, "{bad:?}");
        }
    }

    proptest! {
        /// Every cursor of a real row survives a round trip unchanged.
        #[test]
        fn cursors_round_trip(micros in -62_135_596_800_000_000i64..253_402_300_799_000_000, id in 1i64..i64::MAX) {
            let at = DateTime::from_timestamp_micros(micros).unwrap();
            let c = Cursor { at, id };
            prop_assert_eq!(Cursor::decode(&c.encode()), Some(c));
        }
    }
}
