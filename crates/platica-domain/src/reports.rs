//! Reports: what a team's inbox holds now and what it did over a period, per tenant, team and
//! executive.
//!
//! The figures come in two kinds. *Live* ones (open, unread, waiting) are the inbox engine's
//! sets, counted per cell (team x executive). *Period* ones (messages in and out, new prospects,
//! reassignments, response times) are counters kept per local day and cell by PostgreSQL
//! triggers (migration 0032), summed over the days asked for. A cell's figures add up into an
//! executive's, a team's and the tenant's; the reader sees the cells [`crate::visibility`] lets
//! them see.
//!
//! Response times are counted in buckets ([`RESPONSE_BOUNDS`]), so a median or a 90th
//! percentile is the bucket it falls in ("between 5 and 10 minutes"): exact counts, and a band
//! a sales team reads as easily as a number.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use utoipa::ToSchema;

use crate::validate::Invalid;

/// Upper bounds (seconds, exclusive) of the response-time buckets; the last bucket is open.
/// Migration 0032's `platica_response_bucket` uses the same list (a test checks they agree).
pub const RESPONSE_BOUNDS: [i32; 12] = [60, 120, 300, 600, 900, 1800, 3600, 7200, 14_400, 28_800, 86_400, 172_800];

/// How many response-time buckets there are.
pub const BUCKETS: usize = RESPONSE_BOUNDS.len() + 1;

/// The longest period a report covers, in days.
pub const MAX_DAYS: i64 = 366;

/// The bucket (0-based) of a response time.
pub fn bucket(secs: i32) -> usize {
    RESPONSE_BOUNDS.iter().take_while(|b| secs >= **b).count()
}

/// A bucket's range: from (inclusive) and to (exclusive, `None` for the open last bucket).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Band {
    pub from_secs: i32,
    pub to_secs: Option<i32>,
}

impl Band {
    pub fn of(bucket: usize) -> Band {
        Band {
            from_secs: if bucket == 0 { 0 } else { RESPONSE_BOUNDS[bucket - 1] },
            to_secs: RESPONSE_BOUNDS.get(bucket).copied(),
        }
    }
}

/// Response times counted by bucket.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ResponseTimes {
    /// Replies counted.
    pub count: i64,
    /// The bucket the median falls in (none without replies).
    pub median: Option<Band>,
    /// The bucket the 90th percentile falls in.
    pub p90: Option<Band>,
    /// Replies per bucket, in [`RESPONSE_BOUNDS`] order (13 buckets).
    pub histogram: Vec<i64>,
}

impl ResponseTimes {
    pub fn from_histogram(histogram: [i64; BUCKETS]) -> ResponseTimes {
        let count = histogram.iter().sum();
        ResponseTimes {
            count,
            median: percentile(&histogram, 50),
            p90: percentile(&histogram, 90),
            histogram: histogram.to_vec(),
        }
    }
}

/// The bucket holding the `pct`-th percentile: the one where the ceil(pct% x n)-th smallest
/// reply falls (the nearest-rank definition); `None` without replies.
pub fn percentile(histogram: &[i64; BUCKETS], pct: i64) -> Option<Band> {
    let n: i64 = histogram.iter().sum();
    if n <= 0 {
        return None;
    }
    let rank = (n * pct + 99) / 100;
    let mut seen = 0;
    for (i, c) in histogram.iter().enumerate() {
        seen += c;
        if seen >= rank.max(1) {
            return Some(Band::of(i));
        }
    }
    Some(Band::of(BUCKETS - 1))
}

/// What one cell (or a sum of cells) did over the period, and holds now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub open: i64,
    pub unread: i64,
    pub waiting: i64,
    pub waiting_long: i64,
    pub messages_in: i64,
    pub messages_out: i64,
    pub new_prospects: i64,
    pub reassigned_in: i64,
    pub reassigned_out: i64,
    pub responses: [i64; BUCKETS],
    pub first_responses: [i64; BUCKETS],
}

impl Tally {
    pub fn add(&mut self, o: &Tally) {
        self.add_live(o.open, o.unread, o.waiting, o.waiting_long);
        self.messages_in += o.messages_in;
        self.messages_out += o.messages_out;
        self.new_prospects += o.new_prospects;
        self.reassigned_in += o.reassigned_in;
        self.reassigned_out += o.reassigned_out;
        for i in 0..BUCKETS {
            self.responses[i] += o.responses[i];
            self.first_responses[i] += o.first_responses[i];
        }
    }

    pub fn add_live(&mut self, open: i64, unread: i64, waiting: i64, waiting_long: i64) {
        self.open += open;
        self.unread += unread;
        self.waiting += waiting;
        self.waiting_long += waiting_long;
    }

    pub fn figures(&self) -> Figures {
        Figures {
            open: self.open,
            unread: self.unread,
            waiting: self.waiting,
            waiting_long: self.waiting_long,
            messages_in: self.messages_in,
            messages_out: self.messages_out,
            new_prospects: self.new_prospects,
            reassigned_in: self.reassigned_in,
            reassigned_out: self.reassigned_out,
            responses: ResponseTimes::from_histogram(self.responses),
            first_responses: ResponseTimes::from_histogram(self.first_responses),
        }
    }
}

/// The figures of a report row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Figures {
    /// Open conversations now (live).
    pub open: i64,
    /// Open conversations with unread messages from the customer now (live).
    pub unread: i64,
    /// Open conversations whose last message is the customer's (live).
    pub waiting: i64,
    /// Of those, the ones waiting longer than the report's `waiting_minutes` (live).
    pub waiting_long: i64,
    /// Messages from customers in the period (private notes are not messages).
    pub messages_in: i64,
    /// Messages to customers in the period (by people, the bot and campaigns).
    pub messages_out: i64,
    /// Prospects created in the period (where they were first placed).
    pub new_prospects: i64,
    /// Prospects moved here by a reassignment in the period.
    pub reassigned_in: i64,
    /// Prospects moved away by a reassignment in the period.
    pub reassigned_out: i64,
    /// How long customers waited for a person's reply, for replies in the period.
    pub responses: ResponseTimes,
    /// The same for each conversation's first reply by a person.
    pub first_responses: ResponseTimes,
}

/// A report's period: local days `from` to `to`, both included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    /// `from` and `to` as given (ISO dates), or the last 7 days up to `today` by default.
    pub fn parse(from: Option<&str>, to: Option<&str>, today: NaiveDate) -> Result<Period, Invalid> {
        let date = |field: &'static str, v: &str| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .ok()
                .filter(|d| (1970..=9999).contains(&d.year()))
                .ok_or_else(|| Invalid::new(field, format!("must be a date as YYYY-MM-DD (1970 to 9999), not {v:?}")))
        };
        let to = match to {
            Some(v) => date("to", v)?,
            None => today,
        };
        let from = match from {
            Some(v) => date("from", v)?,
            None => to - chrono::Duration::days(6),
        };
        if from > to {
            return Err(Invalid::new("from", "must not be after to"));
        }
        if (to - from).num_days() + 1 > MAX_DAYS {
            return Err(Invalid::new("from", format!("a report covers at most {MAX_DAYS} days")).with("max", MAX_DAYS));
        }
        Ok(Period { from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_the_bounds() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(59), 0);
        assert_eq!(bucket(60), 1);
        assert_eq!(bucket(299), 2);
        assert_eq!(bucket(300), 3);
        assert_eq!(bucket(172_799), 11);
        assert_eq!(bucket(172_800), 12);
        assert_eq!(bucket(i32::MAX), 12);
        assert_eq!(Band::of(0), Band { from_secs: 0, to_secs: Some(60) });
        assert_eq!(Band::of(12), Band { from_secs: 172_800, to_secs: None });
    }

    #[test]
    fn percentiles_are_nearest_rank_buckets() {
        let mut h = [0; BUCKETS];
        assert_eq!(percentile(&h, 50), None);
        // 10 replies: 5 under a minute, 4 in 1-2 min, 1 over two days.
        h[0] = 5;
        h[1] = 4;
        h[12] = 1;
        assert_eq!(percentile(&h, 50), Some(Band::of(0)), "the 5th reply is under a minute");
        assert_eq!(percentile(&h, 90), Some(Band::of(1)), "the 9th is in 1-2 min");
        assert_eq!(percentile(&h, 100), Some(Band::of(12)));
        h[0] = 0;
        h[1] = 1;
        assert_eq!(percentile(&h, 50), Some(Band::of(1)));
        assert_eq!(percentile(&h, 90), Some(Band::of(12)));
    }

    #[test]
    fn periods_default_to_a_week_and_refuse_what_is_wrong() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        let week = Period::parse(None, None, today).unwrap();
        assert_eq!((week.from.to_string(), week.to.to_string()), ("2026-12-01".into(), "2026-12-07".into()));
        assert_eq!(Period::parse(Some("2026-02-30"), None, today).unwrap_err().field, "from");
        assert_eq!(Period::parse(Some("-2026-02-01"), Some("-2026-02-02"), today).unwrap_err().field, "to");
        assert_eq!(Period::parse(None, Some("+262143-01-01"), today).unwrap_err().field, "to");
        assert_eq!(Period::parse(Some("2026-12-08"), None, today).unwrap_err().field, "from");
        assert_eq!(Period::parse(Some("2025-01-01"), Some("2026-12-07"), today).unwrap_err().field, "from");
        assert!(Period::parse(Some("2025-12-07"), Some("2026-12-07"), today).is_ok(), "366 days");
    }
}
