//! A job's schedule: a standard 5-field cron expression read in an IANA time zone.
//!
//! Occurrences are instants (UTC). Across DST changes `croner` follows Vixie cron: a fixed-time
//! job whose wall-clock time does not exist that day (spring forward) runs right after the gap,
//! and one whose time exists twice (fall back) runs once, at the first; interval and wildcard jobs
//! skip the missing hour and run in both passes of the repeated one.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use platica_domain::validate::Invalid;

/// A parsed schedule.
#[derive(Clone, Debug)]
pub struct Schedule {
    cron: Cron,
    tz: Tz,
}

impl Schedule {
    /// Parses `expression` (exactly 5 fields: minute hour day-of-month month day-of-week) in the
    /// time zone `zone` (an IANA name such as `America/Mexico_City`, or `UTC`).
    pub fn parse(expression: &str, zone: &str) -> Result<Schedule, Invalid> {
        let tz = parse_zone(zone)?;
        let fields = expression.split_whitespace().count();
        if fields != 5 {
            return Err(Invalid::new(
                "schedule",
                format!(
                    "{expression:?} has {fields} fields; a cron expression has 5: minute hour day-of-month month day-of-week"
                ),
            ));
        }
        let parser = CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).build();
        let cron = parser
            .parse(expression)
            .map_err(|e| Invalid::new("schedule", format!("{expression:?} is not a valid cron expression: {e}")))?;
        Ok(Schedule { cron, tz })
    }

    /// The first occurrence strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&self.tz);
        self.cron.find_next_occurrence(&local, false).ok().map(|t| t.with_timezone(&Utc))
    }

    /// The first occurrence at or after `from`.
    pub fn next_from(&self, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = from.with_timezone(&self.tz);
        self.cron.find_next_occurrence(&local, true).ok().map(|t| t.with_timezone(&Utc))
    }

    /// The latest occurrence at or before `at`.
    pub fn latest_at_or_before(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = at.with_timezone(&self.tz);
        self.cron.find_previous_occurrence(&local, true).ok().map(|t| t.with_timezone(&Utc))
    }

    pub fn time_zone(&self) -> Tz {
        self.tz
    }
}

/// An IANA time zone name.
pub fn parse_zone(zone: &str) -> Result<Tz, Invalid> {
    Tz::from_str(zone).map_err(|_| {
        Invalid::new("time_zone", format!("{zone:?} is not an IANA time zone (e.g. UTC, America/Mexico_City)"))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn rejects_what_is_not_a_five_field_expression() {
        for bad in ["", "* * * *", "0 * * * * *", "0 0 * * * 2030", "61 * * * *", "* 24 * * *", "every day"] {
            let e = Schedule::parse(bad, "UTC").unwrap_err();
            assert_eq!(e.field, "schedule", "{bad}");
        }
        let e = Schedule::parse("* * * * *", "Mars/Olympus").unwrap_err();
        assert_eq!(e.field, "time_zone");
        assert!(Schedule::parse("*/5 9-18 * * MON-FRI", "America/Mexico_City").is_ok());
        assert!(Schedule::parse("@daily", "UTC").is_err(), "nicknames are not 5 fields");
    }

    #[test]
    fn next_runs_in_the_zone_of_the_job() {
        // Mexico City has no DST since 2022: 02:00 local is always 08:00 UTC.
        let s = Schedule::parse("0 2 * * *", "America/Mexico_City").unwrap();
        assert_eq!(s.next_after(utc("2026-06-01T00:00:00Z")), Some(utc("2026-06-01T08:00:00Z")));
        assert_eq!(s.next_after(utc("2026-06-01T08:00:00Z")), Some(utc("2026-06-02T08:00:00Z")));
        assert_eq!(s.next_from(utc("2026-06-01T08:00:00Z")), Some(utc("2026-06-01T08:00:00Z")));
        assert_eq!(s.latest_at_or_before(utc("2026-06-01T07:59:00Z")), Some(utc("2026-05-31T08:00:00Z")));
        // Weekdays only: from Friday evening, the next run is Monday.
        let s = Schedule::parse("30 9 * * 1-5", "UTC").unwrap();
        assert_eq!(s.next_after(utc("2026-11-27T18:00:00Z")), Some(utc("2026-11-30T09:30:00Z")));
    }

    #[test]
    fn a_daily_job_keeps_its_wall_clock_time_across_dst() {
        // New York: EDT (UTC-4) until 2026-11-01 02:00, then EST (UTC-5).
        let s = Schedule::parse("0 9 * * *", "America/New_York").unwrap();
        assert_eq!(s.next_after(utc("2026-10-31T12:00:00Z")), Some(utc("2026-10-31T13:00:00Z")));
        assert_eq!(s.next_after(utc("2026-10-31T13:00:00Z")), Some(utc("2026-11-01T14:00:00Z")));
        // Madrid: CET (UTC+1) until 2026-03-29 02:00, then CEST (UTC+2).
        let s = Schedule::parse("30 8 * * *", "Europe/Madrid").unwrap();
        assert_eq!(s.next_after(utc("2026-03-28T07:30:00Z")), Some(utc("2026-03-29T06:30:00Z")));
    }

    #[test]
    fn spring_forward_gap_runs_right_after_the_gap_once() {
        // 2026-03-08 02:30 does not exist in New York (02:00 EST -> 03:00 EDT).
        let s = Schedule::parse("30 2 * * *", "America/New_York").unwrap();
        let first = s.next_after(utc("2026-03-08T05:00:00Z")).unwrap();
        let local = first.with_timezone(&chrono_tz::America::New_York);
        assert_eq!(local.date_naive(), chrono::NaiveDate::from_ymd_opt(2026, 3, 8).unwrap());
        assert_eq!(first, utc("2026-03-08T07:00:00Z"), "03:00 EDT, the first minute after the gap");
        // And the day after, back at 02:30 local (EDT).
        assert_eq!(s.next_after(first), Some(utc("2026-03-09T06:30:00Z")));
    }

    #[test]
    fn fall_back_overlap_runs_a_fixed_time_job_once() {
        // 2026-10-25 02:30 happens twice in Madrid (03:00 CEST -> 02:00 CET).
        let s = Schedule::parse("30 2 * * *", "Europe/Madrid").unwrap();
        let first = s.next_after(utc("2026-10-24T22:00:00Z")).unwrap();
        assert_eq!(first, utc("2026-10-25T00:30:00Z"), "the first 02:30 (CEST)");
        let second = s.next_after(first).unwrap();
        assert_eq!(second, chrono_tz::Europe::Madrid.with_ymd_and_hms(2026, 10, 26, 2, 30, 0).unwrap());
        assert_eq!(second, utc("2026-10-26T01:30:00Z"));
    }

    #[test]
    fn an_hourly_job_across_fall_back_runs_every_real_hour() {
        // In New York on 2026-11-01, 01:00 local happens twice: an hourly job runs at both.
        let s = Schedule::parse("0 * * * *", "America/New_York").unwrap();
        let mut t = utc("2026-11-01T04:30:00Z");
        let mut got = Vec::new();
        for _ in 0..3 {
            t = s.next_after(t).unwrap();
            got.push(t);
        }
        assert_eq!(got, vec![utc("2026-11-01T05:00:00Z"), utc("2026-11-01T06:00:00Z"), utc("2026-11-01T07:00:00Z")]);
    }
}
