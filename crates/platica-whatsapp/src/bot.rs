//! The auto-reply bot: what it answers ([`decide`]), how long it "types" first
//! ([`typing_delay`]), and the runner that answers stored inbound messages ([`Bot`]).
//!
//! The bot answers messages that came in through a channel (webhook or session), on the server
//! that stored them, right after they were committed. It first sends a typing indicator, waits a
//! humanised delay (longer replies take longer, with jitter, within bounds), then stores its
//! reply and queues it in one transaction, unless meanwhile a human replied or paused it, or a
//! newer message from the prospect arrived (whose own turn answers). A server that stops during
//! the delay drops that reply; the message stays unread in the inbox for a human.

use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};
use platica_domain::TenantId;
use platica_store::PgPool;
use platica_store::whatsapp::bot::{self, BotRule, BotSettings};
use platica_store::whatsapp::ingest::StoredInbound;
use rand::{Rng, SeedableRng};
use regex::{Regex, RegexBuilder};

/// A rule ready to match.
#[derive(Clone, Debug)]
pub enum Matcher {
    /// Any of these words (normalised) appears as a whole word.
    Keywords(Vec<String>),
    Regex(Regex),
}

/// Checks a rule's pattern; the error says what is wrong with it.
pub fn compile(match_kind: &str, pattern: &str) -> Result<Matcher, String> {
    match match_kind {
        "keyword" => {
            let words: Vec<String> =
                pattern.split(',').map(|w| normalise(w.trim())).filter(|w| !w.is_empty()).collect();
            if words.is_empty() {
                return Err("give at least one keyword (comma-separated)".to_owned());
            }
            Ok(Matcher::Keywords(words))
        }
        "regex" => RegexBuilder::new(pattern)
            .case_insensitive(true)
            .size_limit(1 << 20)
            .build()
            .map(Matcher::Regex)
            .map_err(|e| format!("not a valid regular expression: {e}")),
        _ => Err("must be keyword or regex".to_owned()),
    }
}

impl Matcher {
    pub fn matches(&self, text: &str) -> bool {
        match self {
            Matcher::Keywords(words) => {
                let norm = normalise(text);
                let tokens: Vec<&str> = norm.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).collect();
                words.iter().any(|w| {
                    // A keyword of several words matches as a phrase.
                    let parts: Vec<&str> = w.split_whitespace().collect();
                    !parts.is_empty() && tokens.windows(parts.len()).any(|win| win == parts.as_slice())
                })
            }
            Matcher::Regex(r) => r.is_match(text),
        }
    }
}

/// Lowercase without Spanish (and other common Latin) accents: "Información" → "informacion".
pub fn normalise(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'á' | 'à' | 'ä' | 'â' | 'ã' => 'a',
            'é' | 'è' | 'ë' | 'ê' => 'e',
            'í' | 'ì' | 'ï' | 'î' => 'i',
            'ó' | 'ò' | 'ö' | 'ô' | 'õ' => 'o',
            'ú' | 'ù' | 'ü' | 'û' => 'u',
            'ç' => 'c',
            other => other,
        })
        .collect()
}

/// One reply the bot sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub text: String,
    /// After this reply the bot pauses and a human takes over.
    pub handover: bool,
}

/// Whether `now` is within the office hours of `s`.
pub fn in_office_hours(s: &BotSettings, now: DateTime<Utc>) -> bool {
    let Ok(tz) = s.time_zone.parse::<chrono_tz::Tz>() else { return true };
    let local = now.with_timezone(&tz);
    let day = local.weekday().number_from_monday() as i32;
    let t = local.time();
    s.office_days.contains(&day) && t >= s.office_open && t < s.office_close
}

/// A tenant's active rule, ready to match, in the order rules are tried.
#[derive(Clone, Debug)]
pub struct CompiledRule {
    pub bot_rule_id: i64,
    pub matcher: Matcher,
    pub reply: String,
}

/// Why the bot answers what it answers (or nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The tenant's bot is off: nothing answers.
    BotOff,
    /// Outside office hours: only the out-of-hours reply.
    OutOfHours,
    /// This rule (its id) matched (after the greeting, on a new conversation's first message).
    Rule(i64),
    /// No rule matched; the greeting of a new conversation answered alone.
    Greeting,
    /// No rule matched: the fallback reply hands over to a human.
    Fallback,
    /// No rule matched and there is no fallback reply: nothing answers.
    NoMatch,
}

impl Outcome {
    /// The outcome as the API names it.
    pub fn code(self) -> &'static str {
        match self {
            Outcome::BotOff => "bot_off",
            Outcome::OutOfHours => "out_of_hours",
            Outcome::Rule(_) => "rule",
            Outcome::Greeting => "greeting",
            Outcome::Fallback => "fallback",
            Outcome::NoMatch => "no_match",
        }
    }
}

/// What the bot answers and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    pub replies: Vec<Reply>,
    /// Whether the moment was within office hours.
    pub in_office_hours: bool,
}

/// What the bot answers to `text`: outside office hours only the out-of-hours reply; a new
/// conversation's first message gets the greeting; then the first matching rule; with no match,
/// the fallback reply hands over to a human (unless the greeting already answered).
pub fn decide(
    s: &BotSettings,
    rules: &[CompiledRule],
    text: &str,
    new_conversation: bool,
    now: DateTime<Utc>,
) -> Vec<Reply> {
    explain(s, rules, text, new_conversation, now).replies
}

/// [`decide`] with the reason: the bot and the "try a message" box both go through here.
pub fn explain(
    s: &BotSettings,
    rules: &[CompiledRule],
    text: &str,
    new_conversation: bool,
    now: DateTime<Utc>,
) -> Decision {
    let in_hours = in_office_hours(s, now);
    let decision = |outcome, replies| Decision { outcome, replies, in_office_hours: in_hours };
    if !s.enabled {
        return decision(Outcome::BotOff, Vec::new());
    }
    if !in_hours && let Some(r) = &s.out_of_hours_reply {
        return decision(Outcome::OutOfHours, vec![Reply { text: r.clone(), handover: false }]);
    }
    let mut out = Vec::new();
    if new_conversation && let Some(g) = &s.greeting {
        out.push(Reply { text: g.clone(), handover: false });
    }
    match rules.iter().find(|r| r.matcher.matches(text)) {
        Some(r) => {
            out.push(Reply { text: r.reply.clone(), handover: false });
            decision(Outcome::Rule(r.bot_rule_id), out)
        }
        None if out.is_empty() => match &s.fallback_reply {
            Some(f) => decision(Outcome::Fallback, vec![Reply { text: f.clone(), handover: true }]),
            None => decision(Outcome::NoMatch, out),
        },
        None => decision(Outcome::Greeting, out),
    }
}

/// What the tenant's bot would answer to `text` at `at`, with its stored settings and rules, as
/// it answers an inbound message (the same loading and the same [`explain`]), without sending.
pub async fn try_message(
    pool: &PgPool,
    tenant: TenantId,
    text: &str,
    new_conversation: bool,
    at: DateTime<Utc>,
) -> platica_store::StoreResult<Decision> {
    let mut conn = pool.acquire().await?;
    let settings = bot::settings(&mut conn, tenant).await?;
    let rules = bot::rules(&mut conn, tenant).await?;
    Ok(explain(&settings, &compiled_rules(tenant, &rules), text, new_conversation, at))
}

/// How long the bot "types" a reply of `chars` characters: base + per character, ± jitter,
/// within [min, max].
pub fn typing_delay(s: &BotSettings, chars: usize, rng: &mut impl Rng) -> Duration {
    let nominal = f64::from(s.typing_base_ms.max(0)) + f64::from(s.typing_ms_per_char.max(0)) * chars as f64;
    let jitter = f64::from(s.typing_jitter.clamp(0.0, 1.0));
    let factor = if jitter > 0.0 { rng.random_range(1.0 - jitter..=1.0 + jitter) } else { 1.0 };
    let min = f64::from(s.typing_min_ms.max(0));
    let max = f64::from(s.typing_max_ms.max(s.typing_min_ms).max(0));
    Duration::from_millis((nominal * factor).clamp(min, max) as u64)
}

/// Waits as a person typing `reply` would (tokio time, so tests can pause the clock).
pub async fn type_out(s: &BotSettings, reply: &str, rng: &mut (impl Rng + Send)) -> Duration {
    let d = typing_delay(s, reply.chars().count(), rng);
    tokio::time::sleep(d).await;
    d
}

/// How long the runner trusts a tenant's "bot is off" before reading it again: turning a bot on
/// takes effect within this time, and ingestion does not pay a query per webhook for bots that
/// are off.
pub const OFF_CACHE: Duration = Duration::from_secs(2);

/// The bot runner of a server.
#[derive(Clone, Debug)]
pub struct Bot {
    pool: PgPool,
    /// Tenants whose bot was off, and when that was read.
    off: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<i64, std::time::Instant>>>,
}

impl Bot {
    pub fn new(pool: PgPool) -> Self {
        Bot { pool, off: Default::default() }
    }

    /// Answers the messages an ingestion stored (in the background).
    pub fn on_inbound(&self, tenant: TenantId, stored: &[StoredInbound]) {
        if stored.is_empty() {
            return;
        }
        let known_off =
            self.off.lock().map(|m| m.get(&tenant.0).is_some_and(|at| at.elapsed() < OFF_CACHE)).unwrap_or(false);
        if known_off {
            return;
        }
        let off = self.off.clone();
        let pool = self.pool.clone();
        let stored = stored.to_vec();
        tokio::spawn(async move {
            if let Err(e) = answer_all(&pool, tenant, stored, &off).await {
                tracing::warn!(tenant_id = tenant.0, error = %e, "the bot could not answer");
            }
        });
    }
}

async fn answer_all(
    pool: &PgPool,
    tenant: TenantId,
    stored: Vec<StoredInbound>,
    off: &std::sync::Mutex<std::collections::HashMap<i64, std::time::Instant>>,
) -> platica_store::StoreResult<()> {
    let (settings, rules) = {
        let mut conn = pool.acquire().await?;
        let settings = bot::settings(&mut conn, tenant).await?;
        if let Ok(mut m) = off.lock() {
            if settings.enabled {
                m.remove(&tenant.0);
            } else {
                m.insert(tenant.0, std::time::Instant::now());
            }
        }
        if !settings.enabled {
            return Ok(());
        }
        (settings, bot::rules(&mut conn, tenant).await?)
    };
    let compiled = compiled_rules(tenant, &rules);
    // Per conversation, only its newest message is answered (the others are overtaken anyway).
    let mut newest: Vec<StoredInbound> = Vec::new();
    for m in stored {
        match newest.iter_mut().find(|n| n.conversation_id == m.conversation_id) {
            Some(n) => {
                let new_conversation = n.new_conversation || m.new_conversation;
                *n = StoredInbound { new_conversation, ..m };
            }
            None => newest.push(m),
        }
    }
    let tasks: Vec<_> = newest
        .into_iter()
        .map(|m| {
            let pool = pool.clone();
            let settings = settings.clone();
            let compiled = compiled.clone();
            tokio::spawn(async move { answer(&pool, tenant, &settings, &compiled, m).await })
        })
        .collect();
    for t in tasks {
        match t.await {
            Ok(Err(e)) => tracing::warn!(tenant_id = tenant.0, error = %e, "the bot could not answer a message"),
            Err(e) => tracing::error!(tenant_id = tenant.0, error = %e, "a bot task panicked"),
            Ok(Ok(())) => {}
        }
    }
    Ok(())
}

/// The active rules that compile, in order (an invalid stored rule is skipped and logged).
pub fn compiled_rules(tenant: TenantId, rules: &[BotRule]) -> Vec<CompiledRule> {
    rules
        .iter()
        .filter(|r| r.active)
        .filter_map(|r| match compile(&r.match_kind, &r.pattern) {
            Ok(matcher) => Some(CompiledRule { bot_rule_id: r.bot_rule_id, matcher, reply: r.reply.clone() }),
            Err(e) => {
                tracing::warn!(tenant_id = tenant.0, bot_rule_id = r.bot_rule_id, error = %e, "skipping an invalid bot rule");
                None
            }
        })
        .collect()
}

async fn answer(
    pool: &PgPool,
    tenant: TenantId,
    s: &BotSettings,
    rules: &[CompiledRule],
    m: StoredInbound,
) -> platica_store::StoreResult<()> {
    {
        let mut conn = pool.acquire().await?;
        if bot::is_paused(&mut conn, tenant, m.conversation_id).await? {
            return Ok(());
        }
    }
    let replies = decide(s, rules, &m.body, m.new_conversation, Utc::now());
    for reply in replies {
        {
            // The typing indicator (WhatsApp shows "typing…" until the reply or 25 s).
            let mut conn = pool.acquire().await?;
            platica_store::whatsapp::outbox::enqueue_typing(&mut conn, tenant, m.conversation_id, m.message_id).await?;
        }
        let mut rng = rand::rngs::StdRng::from_os_rng();
        let waited = type_out(s, &reply.text, &mut rng).await;
        let stored =
            bot::store_reply(pool, tenant, m.conversation_id, m.message_id, &reply.text, reply.handover).await?;
        match stored {
            Some(id) => tracing::info!(
                tenant_id = tenant.0,
                conversation_id = m.conversation_id,
                message_id = id,
                typed_ms = waited.as_millis() as u64,
                handover = reply.handover,
                "bot replied"
            ),
            None => {
                tracing::info!(
                    tenant_id = tenant.0,
                    conversation_id = m.conversation_id,
                    "bot reply withdrawn: paused, or a newer message came"
                );
                break;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::{NaiveTime, TimeZone};

    fn settings() -> BotSettings {
        BotSettings {
            enabled: true,
            greeting: Some("¡Hola! Soy el asistente.".into()),
            out_of_hours_reply: Some("Estamos cerrados.".into()),
            fallback_reply: Some("Te comunico con un asesor.".into()),
            time_zone: "America/Mexico_City".into(),
            office_days: vec![1, 2, 3, 4, 5],
            office_open: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            office_close: NaiveTime::from_hms_opt(18, 0, 0).unwrap(),
            ..BotSettings::default()
        }
    }

    fn rules() -> Vec<CompiledRule> {
        let rule = |id, kind, pattern, reply: &str| CompiledRule {
            bot_rule_id: id,
            matcher: compile(kind, pattern).unwrap(),
            reply: reply.into(),
        };
        vec![
            rule(1, "keyword", "precio, costo, cuánto cuesta", "Nuestros planes empiezan en $499."),
            rule(2, "regex", r"\bhorario(s)?\b", "Abrimos de 9 a 18 h."),
        ]
    }

    #[test]
    fn keywords_ignore_case_and_accents_and_match_whole_words() {
        let m = compile("keyword", "información, cuánto cuesta").unwrap();
        assert!(m.matches("Quiero INFORMACION por favor"));
        assert!(m.matches("¿Y cuanto cuesta?"));
        assert!(!m.matches("desinformación"));
        assert!(!m.matches("cuanto"));
        assert!(compile("keyword", " , ").is_err());
        assert!(compile("regex", "(").is_err());
        assert!(compile("other", "x").is_err());
    }

    #[test]
    fn decisions_follow_hours_greeting_rules_and_fallback() {
        // Tuesday 2026-11-24 12:00 in Mexico City (UTC-6) = 18:00 UTC.
        let open = Utc.with_ymd_and_hms(2026, 11, 24, 18, 0, 0).unwrap();
        let closed = Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap();
        let sunday = Utc.with_ymd_and_hms(2026, 11, 29, 18, 0, 0).unwrap();
        let s = settings();
        let r = rules();
        let texts = |v: Vec<Reply>| v.into_iter().map(|r| (r.text, r.handover)).collect::<Vec<_>>();
        assert_eq!(texts(decide(&s, &r, "precio?", false, closed)), [("Estamos cerrados.".into(), false)]);
        assert_eq!(texts(decide(&s, &r, "precio?", false, sunday)), [("Estamos cerrados.".into(), false)]);
        assert_eq!(
            texts(decide(&s, &r, "¿Cuál es el precio?", false, open)),
            [("Nuestros planes empiezan en $499.".into(), false)]
        );
        assert_eq!(
            texts(decide(&s, &r, "hola, ¿horarios?", true, open)),
            [("¡Hola! Soy el asistente.".into(), false), ("Abrimos de 9 a 18 h.".into(), false)]
        );
        assert_eq!(texts(decide(&s, &r, "hola", true, open)), [("¡Hola! Soy el asistente.".into(), false)]);
        assert_eq!(texts(decide(&s, &r, "otra cosa", false, open)), [("Te comunico con un asesor.".into(), true)]);
        let off = BotSettings { enabled: false, ..settings() };
        assert!(decide(&off, &r, "precio", true, open).is_empty());
    }

    #[test]
    fn explanations_name_the_rule_or_the_reason() {
        let open = Utc.with_ymd_and_hms(2026, 11, 24, 18, 0, 0).unwrap();
        let closed = Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap();
        let s = settings();
        let r = rules();
        let outcome = |s: &BotSettings, text, new, at| explain(s, &r, text, new, at).outcome;
        assert_eq!(outcome(&s, "¿horarios?", false, open), Outcome::Rule(2));
        assert_eq!(outcome(&s, "precio y horario", true, open), Outcome::Rule(1), "the first rule wins");
        assert_eq!(outcome(&s, "hola", true, open), Outcome::Greeting);
        assert_eq!(outcome(&s, "hola", false, open), Outcome::Fallback);
        assert_eq!(outcome(&s, "precio", false, closed), Outcome::OutOfHours);
        assert!(!explain(&s, &r, "precio", false, closed).in_office_hours);
        let quiet = BotSettings { fallback_reply: None, out_of_hours_reply: None, ..settings() };
        assert_eq!(outcome(&quiet, "hola", false, open), Outcome::NoMatch);
        assert_eq!(outcome(&quiet, "precio", false, closed), Outcome::Rule(1), "no out-of-hours reply: rules answer");
        let off = BotSettings { enabled: false, ..settings() };
        assert_eq!(outcome(&off, "precio", false, open), Outcome::BotOff);
    }

    #[test]
    fn typing_delays_grow_with_length_and_stay_within_bounds() {
        let s = settings();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for chars in [0, 1, 10, 50, 100, 400, 4096] {
            for _ in 0..500 {
                let d = typing_delay(&s, chars, &mut rng).as_millis() as i64;
                assert!(d >= i64::from(s.typing_min_ms) && d <= i64::from(s.typing_max_ms), "{chars}: {d}");
                let nominal = f64::from(s.typing_base_ms) + f64::from(s.typing_ms_per_char) * chars as f64;
                let (min, max) = (f64::from(s.typing_min_ms), f64::from(s.typing_max_ms));
                let lo = (nominal * (1.0 - f64::from(s.typing_jitter))).clamp(min, max);
                let hi = (nominal * (1.0 + f64::from(s.typing_jitter))).clamp(min, max);
                assert!(
                    (d as f64) >= lo.floor() - 1.0 && (d as f64) <= hi.ceil() + 1.0,
                    "{chars}: {d} not in [{lo}, {hi}]"
                );
            }
        }
        // Longer replies take longer on average.
        let mut mean = |chars| (0..200).map(|_| typing_delay(&s, chars, &mut rng).as_millis()).sum::<u128>() / 200;
        assert!(mean(20) < mean(120) && mean(120) < mean(280));
    }

    #[tokio::test(start_paused = true)]
    async fn the_bot_waits_its_typing_delay_on_the_tokio_clock() {
        let s = settings();
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        for reply in ["Sí", "Nuestros planes empiezan en $499 al mes, con instalación incluida.", &"x".repeat(1000)] {
            let start = tokio::time::Instant::now();
            let d = type_out(&s, reply, &mut rng).await;
            let waited = start.elapsed();
            assert_eq!(waited, d, "the waited time is the computed delay");
            assert!(waited >= Duration::from_millis(s.typing_min_ms as u64));
            assert!(waited <= Duration::from_millis(s.typing_max_ms as u64));
        }
    }
}
