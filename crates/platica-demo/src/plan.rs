//! What the demo seed writes, computed in memory from a fixed random seed: prospects, their
//! placement and stage, and every message of their conversations with its timestamps.
//!
//! Pure and deterministic: the same seed always gives the same plan, down to the microsecond,
//! because every time is an offset from [`reference`], never from the clock.

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::chat::{self, Cast, Phase};
use crate::names::{self, Phones};
use crate::roster::{BOTH_TEAMS_EXECUTIVE, EXECUTIVES, TEAMS};

/// The seed of the demo data.
pub const SEED: u64 = 0x0050_4C41_5449_4341; // "PLATICA"
/// How many prospects the demo has (one conversation each).
pub const PROSPECTS: usize = 3_000;
/// Seconds since the Unix epoch of [`reference`]: 2026-11-01T00:00:00Z.
const REFERENCE_UNIX: i64 = 1_793_491_200;
/// Messages are spread over this many days before [`reference`].
pub const WINDOW_DAYS: i64 = 30;

/// The instant the demo data is "as of": every seeded time lies in the `WINDOW_DAYS` days
/// before it.
pub fn reference() -> DateTime<Utc> {
    DateTime::from_timestamp(REFERENCE_UNIX, 0).unwrap_or_default()
}

/// Stages and their weights.
const STAGES: [(&str, u32); 6] =
    [("new", 24), ("contacted", 22), ("interested", 20), ("negotiating", 14), ("won", 9), ("lost", 11)];
/// Share of prospects nobody is assigned to yet.
const UNASSIGNED: f64 = 0.02;
/// Share of the both-teams executive's prospects that sit in her other team.
const OTHER_TEAM: f64 = 0.3;
/// Share of conversations whose newest inbound messages are unread.
const UNREAD: f64 = 0.15;

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sender {
    Prospect,
    Bot,
    Executive,
}

impl Sender {
    pub fn direction(self) -> &'static str {
        match self {
            Sender::Prospect => "in",
            Sender::Bot | Sender::Executive => "out",
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            Sender::Prospect => "prospect",
            Sender::Bot => "bot",
            Sender::Executive => "executive",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct PlannedMessage {
    pub sender: Sender,
    pub body: String,
    pub status: &'static str,
    /// The channel's id of an inbound message.
    pub external_id: Option<String>,
    pub at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PlannedProspect {
    pub name: String,
    pub phone: String,
    /// Index into [`TEAMS`].
    pub team: usize,
    /// Index into [`EXECUTIVES`].
    pub executive: Option<usize>,
    pub stage: &'static str,
    pub created_at: DateTime<Utc>,
    /// Whether the conversation is closed.
    pub closed: bool,
    /// Oldest first.
    pub messages: Vec<PlannedMessage>,
}

impl PlannedProspect {
    /// The conversation's last activity.
    pub fn last_at(&self) -> DateTime<Utc> {
        self.messages.last().map_or(self.created_at, |m| m.at)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub prospects: Vec<PlannedProspect>,
}

impl Plan {
    pub fn message_count(&self) -> usize {
        self.prospects.iter().map(|p| p.messages.len()).sum()
    }
}

fn weighted<T: Copy>(rng: &mut impl Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total.max(1));
    for (item, w) in items {
        if roll < *w {
            return *item;
        }
        roll -= w;
    }
    items[0].0
}

/// The demo data for `seed`: `count` prospects with their chats.
pub fn generate(seed: u64, count: usize) -> Plan {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut phones = Phones::default();
    let prospects = (0..count).map(|i| prospect(&mut rng, &mut phones, i)).collect();
    Plan { prospects }
}

fn prospect(rng: &mut ChaCha8Rng, phones: &mut Phones, index: usize) -> PlannedProspect {
    let name = names::full_name(rng);
    let phone = phones.next(rng);
    let executive = (!rng.random_bool(UNASSIGNED)).then(|| rng.random_range(0..EXECUTIVES.len()));
    let team = match executive {
        Some(e) => {
            let home = EXECUTIVES[e].teams.first().copied().unwrap_or(0);
            if e == BOTH_TEAMS_EXECUTIVE && rng.random_bool(OTHER_TEAM) { (home + 1) % TEAMS.len() } else { home }
        }
        None => rng.random_range(0..TEAMS.len()),
    };
    let stage = weighted(rng, &STAGES);
    let unread = rng.random_bool(UNREAD);

    // Shape: alternating inbound/outbound pairs, then a few inbound messages nobody answered yet.
    let pairs: usize = rng.random_range(7..=13);
    let trailing: usize = if unread { rng.random_range(1..=3) } else { usize::from(rng.random_bool(0.1)) };
    let len = pairs * 2 + trailing;

    // Times, in seconds: gaps between messages (short within a session, hours or days between
    // sessions), the prospect's creation shortly before its first message, all fitted into the
    // window and skewed towards recent activity.
    let mut gaps: Vec<i64> = (1..len)
        .map(|_| if rng.random_bool(0.12) { rng.random_range(3_600..172_800) } else { rng.random_range(20..900) })
        .collect();
    let lead: i64 = rng.random_range(60..7_200);
    let window = WINDOW_DAYS * 86_400 - 3_600;
    let span: i64 = lead + gaps.iter().sum::<i64>();
    if span > window {
        let factor = window as f64 / span as f64;
        for g in &mut gaps {
            *g = ((*g as f64 * factor) as i64).max(10);
        }
    }
    let span: i64 = lead + gaps.iter().sum::<i64>();
    let slack = (WINDOW_DAYS * 86_400 - span - 60).max(0) as f64;
    let u: f64 = rng.random();
    let end_offset = 60 + (slack * u * u) as i64;
    let reference = reference();
    let mut times = vec![reference - Duration::seconds(end_offset); len];
    for i in (0..len - 1).rev() {
        times[i] = times[i + 1] - Duration::seconds(gaps[i]);
    }
    let created_at = times[0] - Duration::seconds(lead);

    let prospect_first = names::first_name(&name).to_owned();
    let executive_first = executive.map_or("el equipo de Autofinanzas", |e| EXECUTIVES[e].first_name());
    let cast = Cast { prospect: &prospect_first, executive: executive_first };
    let mut messages = Vec::with_capacity(len);
    for i in 0..len {
        let inbound = i >= pairs * 2 || i % 2 == 0;
        let phase = Phase::of(i, len);
        let at = times[i];
        let next_at = times.get(i + 1).copied();
        let message = if inbound {
            let read_at = if unread && i >= pairs * 2 {
                None
            } else {
                // Read when answered, or a while after arriving when it was the last word.
                Some(next_at.unwrap_or_else(|| (at + Duration::seconds(rng.random_range(30..3_600))).min(reference)))
            };
            PlannedMessage {
                sender: Sender::Prospect,
                body: chat::inbound(phase, stage, cast, rng),
                status: "delivered",
                external_id: Some(format!("demo-{index}-{i}")),
                at,
                read_at,
            }
        } else {
            let (sender, body) = match executive {
                Some(_) if i > 1 => (Sender::Executive, chat::outbound(phase, stage, cast, rng)),
                _ if i == 1 => (Sender::Bot, chat::bot(rng)),
                _ => (Sender::Bot, chat::outbound(phase, stage, cast, rng)),
            };
            // The prospect answered it, so it was read; the last word may still be on its way.
            let status = if next_at.is_some() {
                if rng.random_bool(0.92) { "read" } else { "delivered" }
            } else {
                weighted(rng, &[("read", 35), ("delivered", 47), ("sent", 15), ("failed", 3)])
            };
            PlannedMessage { sender, body, status, external_id: None, at, read_at: None }
        };
        messages.push(message);
    }

    let closed = !unread && rng.random_bool(if matches!(stage, "won" | "lost") { 0.6 } else { 0.04 });
    PlannedProspect { name, phone, team, executive, stage, created_at, closed, messages }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::roster::NON_OPERATIONAL_EXECUTIVE;

    #[test]
    fn reference_is_fixed() {
        assert_eq!(reference().to_rfc3339(), "2026-11-01T00:00:00+00:00");
    }

    #[test]
    fn plan_is_deterministic_and_shaped_like_the_brief() {
        let plan = generate(SEED, PROSPECTS);
        assert_eq!(plan, generate(SEED, PROSPECTS));
        assert_ne!(plan, generate(SEED + 1, PROSPECTS));

        let messages = plan.message_count();
        assert!((57_000..=63_000).contains(&messages), "{messages} messages");
        let phones: BTreeSet<&str> = plan.prospects.iter().map(|p| p.phone.as_str()).collect();
        assert_eq!(phones.len(), PROSPECTS);

        let start = reference() - Duration::days(WINDOW_DAYS);
        let mut unread = 0;
        for p in &plan.prospects {
            assert!(p.created_at >= start - Duration::hours(3) && p.created_at < p.messages[0].at);
            assert!(p.messages.windows(2).all(|w| w[0].at < w[1].at));
            assert!(p.last_at() < reference());
            assert!(p.messages.iter().all(|m| m.read_at.is_none_or(|r| r >= m.at && r <= reference())));
            if p.messages.iter().any(|m| m.sender == Sender::Prospect && m.read_at.is_none()) {
                unread += 1;
                assert_eq!(p.messages.last().map(|m| m.sender), Some(Sender::Prospect));
                assert!(!p.closed);
            }
            for m in &p.messages {
                assert!(platica_domain::validate::body("body", &m.body).is_ok());
            }
        }
        let share = unread as f64 / PROSPECTS as f64;
        assert!((0.12..0.18).contains(&share), "{share} unread");

        let teams_of = |e: usize| -> BTreeSet<usize> {
            plan.prospects.iter().filter(|p| p.executive == Some(e)).map(|p| p.team).collect()
        };
        assert_eq!(teams_of(BOTH_TEAMS_EXECUTIVE).len(), 2);
        assert!(!teams_of(NON_OPERATIONAL_EXECUTIVE).is_empty());
        for stage in STAGES.map(|s| s.0) {
            assert!(plan.prospects.iter().any(|p| p.stage == stage));
        }
        assert!(plan.prospects.iter().any(|p| p.closed));
        assert!(plan.prospects.iter().any(|p| p.executive.is_none()));
    }
}
