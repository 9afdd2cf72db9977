//! Live traffic for the demo: prospects writing in, executives answering, delivery and read
//! receipts, conversations being read, prospects being reassigned.
//!
//! Every event goes through the same store functions the API uses. What the simulator needs to
//! pick from (prospects, conversations, executives, the admin) is loaded once at start and
//! refreshed every minute, not per event.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use anyhow::Context;
use platica_domain::{ConversationId, MessageId, ProspectId, Role, TeamId, TenantId, UserId, Viewer};
use platica_store::PgPool;
use platica_store::inbox::prospects::Target;
use rand::seq::IndexedRandom;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::watch;
use tokio::time::{Instant, interval_at, sleep, sleep_until};

use crate::chat::{self, Cast};
use crate::names;
use crate::{SimulatorOptions, WhatsAppRoute};

/// How often the summary line is logged.
const SUMMARY_EVERY: Duration = Duration::from_secs(10);
/// How often the prospects, executives and the admin are reloaded.
const REFRESH_EVERY: Duration = Duration::from_secs(60);
/// How long to wait before retrying a failed initial load.
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// Failed events logged at `warn` per summary period; the rest go to `debug`.
const WARNINGS_PER_SUMMARY: u64 = 10;
/// Falling further behind schedule than this drops the backlog instead of bursting.
const MAX_LAG: Duration = Duration::from_secs(1);

/// Bounds of the simulator's working lists.
const RECENT_CAP: usize = 200;
const UNREAD_CAP: usize = 1_000;
const PENDING_CAP: usize = 2_000;

/// The kinds of event and their weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Inbound,
    Reply,
    Status,
    MarkRead,
    Reassign,
}

const KINDS: [(Kind, u32); 5] =
    [(Kind::Inbound, 37), (Kind::Reply, 25), (Kind::Status, 23), (Kind::MarkRead, 12), (Kind::Reassign, 3)];

/// Runs until `stop` turns true (or its sender is dropped, or the pool is closed).
pub async fn run(
    pool: PgPool,
    tenant: TenantId,
    opts: SimulatorOptions,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let rate = opts.events_per_second;
    if !rate.is_finite() || rate < 0.0 {
        anyhow::bail!("events_per_second must be a finite number >= 0, got {rate}");
    }
    if rate == 0.0 {
        tracing::info!("traffic simulator idle (rate 0)");
        stopped(&mut stop).await;
        return Ok(());
    }

    let mut sim = loop {
        let whatsapp = opts.whatsapp.clone();
        let started = tokio::select! {
            biased;
            () = stopped(&mut stop) => return Ok(()),
            s = Simulator::start(pool.clone(), tenant, opts.seed) => s,
        };
        match started {
            Ok(mut sim) => {
                sim.whatsapp = whatsapp.map(|w| (reqwest::Client::new(), w));
                break sim;
            }
            Err(_) if pool.is_closed() => return Ok(()),
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "traffic simulator cannot load its data; retrying");
                tokio::select! {
                    biased;
                    () = stopped(&mut stop) => return Ok(()),
                    () = sleep(RETRY_AFTER) => {}
                }
            }
        }
    };
    tracing::info!(
        events_per_second = rate,
        seed = opts.seed,
        prospects = sim.world.leads.len(),
        "traffic simulator started"
    );

    let now = Instant::now();
    let mut summary = interval_at(now + SUMMARY_EVERY, SUMMARY_EVERY);
    let mut refresh = interval_at(now + REFRESH_EVERY, REFRESH_EVERY);
    let mut pace = Pace::new(rate);
    loop {
        enum Due {
            Summary,
            Refresh,
            Event,
        }
        let due = tokio::select! {
            biased;
            () = stopped(&mut stop) => break,
            _ = summary.tick() => Due::Summary,
            _ = refresh.tick() => Due::Refresh,
            () = sleep_until(pace.next()) => Due::Event,
        };
        match due {
            Due::Summary => sim.log_summary(),
            Due::Refresh => {
                let refreshed = tokio::select! {
                    biased;
                    () = stopped(&mut stop) => break,
                    r = sim.refresh() => r,
                };
                if let Err(e) = refreshed {
                    if pool.is_closed() {
                        break;
                    }
                    tracing::warn!(error = format!("{e:#}"), "traffic simulator cannot refresh its data");
                }
            }
            Due::Event => {
                let kind = sim.pick_kind();
                let outcome = tokio::select! {
                    biased;
                    () = stopped(&mut stop) => break,
                    r = sim.event(kind) => r,
                };
                pace.done();
                match outcome {
                    Ok(true) => sim.interval.count(kind),
                    Ok(false) => sim.interval.skipped += 1,
                    Err(e) => {
                        if pool.is_closed() {
                            tracing::info!("the database pool is closed: traffic simulator stops");
                            break;
                        }
                        sim.interval.errors += 1;
                        // A database outage fails every event: warn about the first few of each
                        // summary period only (the summary counts them all).
                        if sim.interval.errors <= WARNINGS_PER_SUMMARY {
                            tracing::warn!(event = ?kind, error = format!("{e:#}"), "simulated event failed");
                        } else {
                            tracing::debug!(event = ?kind, error = format!("{e:#}"), "simulated event failed");
                        }
                    }
                }
            }
        }
    }
    sim.interval.add_to(&mut sim.total);
    let t = &sim.total;
    tracing::info!(
        inbound = t.inbound,
        replies = t.replies,
        status_updates = t.status,
        marked_read = t.marked_read,
        reassignments = t.reassignments,
        skipped = t.skipped,
        errors = t.errors,
        "traffic simulator stopped"
    );
    Ok(())
}

/// Completes when `stop` is true or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Schedules events `1/rate` seconds apart, catching up after a slow event but never bursting
/// more than [`MAX_LAG`] worth of events.
struct Pace {
    rate: f64,
    start: Instant,
    done: u64,
}

impl Pace {
    fn new(rate: f64) -> Pace {
        Pace { rate, start: Instant::now(), done: 0 }
    }

    fn next(&self) -> Instant {
        self.start + Duration::from_secs_f64(self.done as f64 / self.rate)
    }

    fn done(&mut self) {
        self.done += 1;
        let now = Instant::now();
        if now > self.next() + MAX_LAG {
            tracing::debug!("traffic simulator is behind schedule: dropping the backlog");
            self.start = now;
            self.done = 0;
        }
    }
}

/// Events per kind.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    inbound: u64,
    replies: u64,
    status: u64,
    marked_read: u64,
    reassignments: u64,
    skipped: u64,
    errors: u64,
}

impl Counts {
    fn count(&mut self, kind: Kind) {
        match kind {
            Kind::Inbound => self.inbound += 1,
            Kind::Reply => self.replies += 1,
            Kind::Status => self.status += 1,
            Kind::MarkRead => self.marked_read += 1,
            Kind::Reassign => self.reassignments += 1,
        }
    }

    fn add_to(&self, total: &mut Counts) {
        total.inbound += self.inbound;
        total.replies += self.replies;
        total.status += self.status;
        total.marked_read += self.marked_read;
        total.reassignments += self.reassignments;
        total.skipped += self.skipped;
        total.errors += self.errors;
    }
}

/// A prospect and its conversation, as the simulator knows them.
#[derive(Clone, Debug)]
struct Lead {
    prospect: ProspectId,
    conversation: ConversationId,
    first_name: String,
    name: String,
    phone: String,
    team: TeamId,
    executive: Option<UserId>,
}

/// What the simulator picks from, loaded from the database.
#[derive(Default)]
struct World {
    admin: Option<Viewer>,
    teams: Vec<TeamId>,
    /// Active, operational executives: who may receive a reassigned prospect.
    assignable: Vec<UserId>,
    /// First names of executives, for signing replies.
    executive_names: HashMap<UserId, String>,
    leads: Vec<Lead>,
    by_conversation: HashMap<ConversationId, usize>,
}

impl World {
    async fn load(pool: &PgPool, tenant: TenantId) -> anyhow::Result<World> {
        let users: Vec<(i64, String, bool, bool, String)> = sqlx::query_as(
            "SELECT user_id, role, operational, active, display_name FROM users WHERE tenant_id = $1 ORDER BY user_id",
        )
        .bind(tenant.0)
        .fetch_all(pool)
        .await
        .context("loading users")?;
        let teams: Vec<i64> = sqlx::query_scalar("SELECT team_id FROM teams WHERE tenant_id = $1 ORDER BY team_id")
            .bind(tenant.0)
            .fetch_all(pool)
            .await
            .context("loading teams")?;
        let leads: Vec<(i64, i64, String, String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT p.prospect_id, c.conversation_id, p.name, p.phone, p.team_id, p.executive_id
             FROM prospects p
             JOIN conversations c ON c.tenant_id = p.tenant_id AND c.prospect_id = p.prospect_id
                                 AND c.channel = 'whatsapp'
             WHERE p.tenant_id = $1
             ORDER BY p.prospect_id",
        )
        .bind(tenant.0)
        .fetch_all(pool)
        .await
        .context("loading prospects")?;

        let mut world = World { teams: teams.into_iter().map(TeamId).collect(), ..World::default() };
        for (id, role, operational, active, name) in users {
            match Role::parse(&role) {
                Some(Role::Admin) if active && world.admin.is_none() => {
                    world.admin = Some(Viewer {
                        tenant_id: tenant,
                        user_id: UserId(id),
                        role: Role::Admin,
                        teams: BTreeSet::new(),
                    });
                }
                Some(Role::Executive) => {
                    if active && operational {
                        world.assignable.push(UserId(id));
                    }
                    let first = name.split(' ').next().unwrap_or(&name).to_owned();
                    world.executive_names.insert(UserId(id), first);
                }
                _ => {}
            }
        }
        for (i, (prospect, conversation, name, phone, team, executive)) in leads.into_iter().enumerate() {
            world.by_conversation.insert(ConversationId(conversation), i);
            world.leads.push(Lead {
                prospect: ProspectId(prospect),
                conversation: ConversationId(conversation),
                first_name: names::first_name(&name).to_owned(),
                name,
                phone,
                team: TeamId(team),
                executive: executive.map(UserId),
            });
        }
        Ok(world)
    }
}

struct Simulator {
    pool: PgPool,
    tenant: TenantId,
    seed: u64,
    rng: ChaCha8Rng,
    /// Differs on every run, so external ids stay unique when a run repeats an earlier seed.
    nonce: u32,
    /// Inbound messages written so far.
    sent_in: u64,
    world: World,
    /// Conversations with recent inbound messages, newest last.
    recent: VecDeque<ConversationId>,
    /// Conversations with unread inbound messages, oldest first.
    unread: VecDeque<ConversationId>,
    /// Outbound messages on their way, with their last known status.
    pending: VecDeque<(MessageId, &'static str)>,
    interval: Counts,
    total: Counts,
    /// Inbound messages go through WhatsApp (the built-in Cloud API simulator) instead of the
    /// store; statuses then come from it too.
    whatsapp: Option<(reqwest::Client, WhatsAppRoute)>,
}

impl Simulator {
    async fn start(pool: PgPool, tenant: TenantId, seed: u64) -> anyhow::Result<Simulator> {
        let world = World::load(&pool, tenant).await?;
        let mut sim = Simulator {
            pool,
            tenant,
            seed,
            rng: ChaCha8Rng::seed_from_u64(seed),
            nonce: rand::rng().next_u32(),
            sent_in: 0,
            world,
            recent: VecDeque::new(),
            unread: VecDeque::new(),
            pending: VecDeque::new(),
            interval: Counts::default(),
            total: Counts::default(),
            whatsapp: None,
        };
        sim.load_recent().await?;
        sim.load_unread().await?;
        sim.load_pending().await?;
        Ok(sim)
    }

    /// The conversations whose latest messages are newest.
    async fn load_recent(&mut self) -> anyhow::Result<()> {
        let ids: Vec<i64> = sqlx::query_scalar(
            // Only conversations whose prospect wrote within WhatsApp's 24-hour service window:
            // free-text replies to older ones are refused (outside_service_window).
            "SELECT conversation_id FROM messages
             WHERE tenant_id = $1 AND direction = 'in' AND created_at > now() - interval '23 hours'
             GROUP BY conversation_id ORDER BY max(created_at) DESC, conversation_id DESC LIMIT $2",
        )
        .bind(self.tenant.0)
        .bind(RECENT_CAP as i64)
        .fetch_all(&self.pool)
        .await
        .context("loading recent conversations")?;
        self.recent = ids.into_iter().rev().map(ConversationId).collect();
        Ok(())
    }

    async fn load_unread(&mut self) -> anyhow::Result<()> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT conversation_id FROM messages
             WHERE tenant_id = $1 AND direction = 'in' AND read_at IS NULL
             GROUP BY conversation_id ORDER BY min(created_at), conversation_id LIMIT $2",
        )
        .bind(self.tenant.0)
        .bind(UNREAD_CAP as i64)
        .fetch_all(&self.pool)
        .await
        .context("loading unread conversations")?;
        self.unread = ids.into_iter().map(ConversationId).collect();
        Ok(())
    }

    /// Outbound messages still on their way (queued or sent), oldest first; with `recent`, only
    /// those of the last few minutes (e.g. sent through the API by someone trying the demo).
    async fn on_their_way(&self, recent: bool) -> anyhow::Result<Vec<(MessageId, &'static str)>> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT message_id, status FROM messages
             WHERE tenant_id = $1 AND direction = 'out' AND status IN ('queued', 'sent')
               AND ($3 = false OR created_at > now() - interval '5 minutes')
             ORDER BY message_id LIMIT $2",
        )
        .bind(self.tenant.0)
        .bind(PENDING_CAP as i64)
        .bind(recent)
        .fetch_all(&self.pool)
        .await
        .context("loading outbound messages on their way")?;
        Ok(rows
            .into_iter()
            .map(|(id, status)| (MessageId(id), if status == "queued" { "queued" } else { "sent" }))
            .collect())
    }

    async fn load_pending(&mut self) -> anyhow::Result<()> {
        self.pending = self.on_their_way(false).await?.into();
        Ok(())
    }

    /// Adds the recent messages on their way that the simulator does not track yet.
    async fn add_recent_pending(&mut self) -> anyhow::Result<()> {
        let known: std::collections::HashSet<MessageId> = self.pending.iter().map(|(id, _)| *id).collect();
        for entry in self.on_their_way(true).await? {
            if !known.contains(&entry.0) {
                push_capped(&mut self.pending, entry, PENDING_CAP);
            }
        }
        Ok(())
    }

    async fn refresh(&mut self) -> anyhow::Result<()> {
        self.world = World::load(&self.pool, self.tenant).await?;
        if self.unread.is_empty() {
            self.load_unread().await?;
        }
        if self.pending.is_empty() {
            self.load_pending().await?;
        } else {
            self.add_recent_pending().await?;
        }
        if self.recent.is_empty() {
            self.load_recent().await?;
        }
        Ok(())
    }

    fn log_summary(&mut self) {
        let c = self.interval;
        tracing::info!(
            inbound = c.inbound,
            replies = c.replies,
            status_updates = c.status,
            marked_read = c.marked_read,
            reassignments = c.reassignments,
            skipped = c.skipped,
            errors = c.errors,
            "traffic simulator: events in the last {} s",
            SUMMARY_EVERY.as_secs()
        );
        c.add_to(&mut self.total);
        self.interval = Counts::default();
    }

    /// The next event's kind. One that has nothing to work on becomes an inbound message.
    fn pick_kind(&mut self) -> Kind {
        let total: u32 = KINDS.iter().map(|(_, w)| w).sum();
        let mut roll = self.rng.random_range(0..total);
        let mut kind = Kind::Inbound;
        for (k, w) in KINDS {
            if roll < w {
                kind = k;
                break;
            }
            roll -= w;
        }
        let idle = match kind {
            Kind::Reply => self.recent.is_empty(),
            // Through WhatsApp, statuses are the simulator's to report.
            Kind::Status => self.pending.is_empty() || self.whatsapp.is_some(),
            Kind::MarkRead => self.unread.is_empty(),
            Kind::Reassign => self.world.admin.is_none() || self.world.leads.is_empty(),
            Kind::Inbound => false,
        };
        if idle { Kind::Inbound } else { kind }
    }

    /// Runs one event. `Ok(false)` when it had nothing to do.
    async fn event(&mut self, kind: Kind) -> anyhow::Result<bool> {
        match kind {
            Kind::Inbound => self.inbound().await,
            Kind::Reply => self.reply().await,
            Kind::Status => self.status().await,
            Kind::MarkRead => self.mark_read().await,
            Kind::Reassign => self.reassign().await,
        }
    }

    fn lead_of(&self, conversation: ConversationId) -> Option<&Lead> {
        self.world.by_conversation.get(&conversation).and_then(|&i| self.world.leads.get(i))
    }

    fn executive_viewer(&self, user: UserId) -> Viewer {
        Viewer { tenant_id: self.tenant, user_id: user, role: Role::Executive, teams: BTreeSet::new() }
    }

    fn cast_of<'a>(world: &'a World, lead: &'a Lead) -> Cast<'a> {
        let executive = lead
            .executive
            .and_then(|e| world.executive_names.get(&e))
            .map_or("el equipo de Autofinanzas", String::as_str);
        Cast { prospect: &lead.first_name, executive }
    }

    /// A prospect writes in: often one already chatting, otherwise anyone.
    async fn inbound(&mut self) -> anyhow::Result<bool> {
        let conversation = if !self.recent.is_empty() && self.rng.random_bool(0.35) {
            let tail = self.recent.len().min(50);
            let i = self.recent.len() - 1 - self.rng.random_range(0..tail);
            self.recent[i]
        } else {
            match self.world.leads.choose(&mut self.rng) {
                Some(lead) => lead.conversation,
                None => return Ok(false),
            }
        };
        let Some(lead) = self.lead_of(conversation).cloned() else { return Ok(false) };
        let body = chat::live_inbound(Self::cast_of(&self.world, &lead), &mut self.rng);
        if let Some((client, route)) = &self.whatsapp {
            // The prospect writes on WhatsApp: the simulator delivers a signed webhook, which
            // takes the same path as the Cloud API's.
            let resp = client
                .post(format!("{}/_sim/inbound", route.simulator_url))
                .json(&serde_json::json!({"phone_number_id": route.phone_number_id, "from": lead.phone,
                    "name": lead.name, "text": body}))
                .send()
                .await
                .context("asking the WhatsApp simulator for an inbound message")?;
            if !resp.status().is_success() {
                anyhow::bail!("the WhatsApp simulator refused an inbound message: {}", resp.status());
            }
            self.sent_in += 1;
            self.recent.retain(|c| *c != conversation);
            push_capped(&mut self.recent, conversation, RECENT_CAP);
            if !self.unread.contains(&conversation) {
                push_capped(&mut self.unread, conversation, UNREAD_CAP);
            }
            return Ok(true);
        }
        let external_id = format!("sim-{}-{}-{:08x}", self.seed, self.sent_in, self.nonce);
        self.sent_in += 1;
        let stored =
            platica_store::inbox::messages::ingest_inbound(&self.pool, self.tenant, conversation, &external_id, &body)
                .await
                .context("ingesting an inbound message")?;
        if stored.is_none() {
            return Ok(false);
        }
        self.recent.retain(|c| *c != conversation);
        push_capped(&mut self.recent, conversation, RECENT_CAP);
        if !self.unread.contains(&conversation) {
            push_capped(&mut self.unread, conversation, UNREAD_CAP);
        }
        Ok(true)
    }

    /// The assigned executive answers a recently active conversation.
    async fn reply(&mut self) -> anyhow::Result<bool> {
        let tail = self.recent.len().min(20);
        if tail == 0 {
            return Ok(false);
        }
        let i = self.recent.len() - 1 - self.rng.random_range(0..tail);
        let conversation = self.recent[i];
        let Some(lead) = self.lead_of(conversation).cloned() else { return Ok(false) };
        let Some(executive) = lead.executive else { return Ok(false) };
        let body = chat::live_reply(Self::cast_of(&self.world, &lead), &mut self.rng);
        let viewer = self.executive_viewer(executive);
        let msg = platica_store::inbox::messages::send(
            &self.pool,
            &viewer,
            conversation,
            &platica_store::inbox::messages::Outbound::Text(body),
        )
        .await
        .with_context(|| format!("replying as executive {executive} in conversation {conversation}"))?;
        push_capped(&mut self.pending, (MessageId(msg.message_id), "queued"), PENDING_CAP);
        Ok(true)
    }

    /// An outbound message moves one step: queued -> sent -> delivered -> read (not every
    /// delivered message gets read). Mostly the newest message on its way, so a reply is seen
    /// going through its receipts within seconds; sometimes the oldest, so none waits forever.
    async fn status(&mut self) -> anyhow::Result<bool> {
        let newest = self.rng.random_bool(0.7);
        let popped = if newest { self.pending.pop_back() } else { self.pending.pop_front() };
        let Some((message, status)) = popped else { return Ok(false) };
        let next = match status {
            "queued" => "sent",
            "sent" => "delivered",
            _ => "read",
        };
        let changed = platica_store::inbox::messages::advance_status(&self.pool, self.tenant, message, next)
            .await
            .with_context(|| format!("moving message {message} to {next}"))?;
        let keep = changed && (next == "sent" || (next == "delivered" && self.rng.random_bool(0.8)));
        if keep {
            push_capped(&mut self.pending, (message, next), PENDING_CAP);
        }
        Ok(changed)
    }

    /// Someone opens the conversation that has waited longest: its executive, or the admin when
    /// nobody is assigned.
    async fn mark_read(&mut self) -> anyhow::Result<bool> {
        let Some(conversation) = self.unread.pop_front() else { return Ok(false) };
        let Some(lead) = self.lead_of(conversation) else { return Ok(false) };
        let viewer = match (lead.executive, &self.world.admin) {
            (Some(e), _) => self.executive_viewer(e),
            (None, Some(admin)) => admin.clone(),
            (None, None) => return Ok(false),
        };
        platica_store::inbox::messages::mark_read(&self.pool, &viewer, conversation)
            .await
            .with_context(|| format!("marking conversation {conversation} read"))?;
        Ok(true)
    }

    /// The admin moves a prospect to another executive, to the other team, or both.
    async fn reassign(&mut self) -> anyhow::Result<bool> {
        let Some(admin) = self.world.admin.clone() else { return Ok(false) };
        if self.world.leads.is_empty() {
            return Ok(false);
        }
        let i = self.rng.random_range(0..self.world.leads.len());
        let lead = &self.world.leads[i];
        let other_team = self.world.teams.iter().copied().filter(|t| *t != lead.team).collect::<Vec<_>>();
        let executives: Vec<UserId> =
            self.world.assignable.iter().copied().filter(|e| Some(*e) != lead.executive).collect();
        let mode = self.rng.random_range(0..4);
        let team_id = if mode >= 2 || executives.is_empty() { other_team.choose(&mut self.rng).copied() } else { None };
        let executive_id = if mode != 2 { executives.choose(&mut self.rng).copied().map(Some) } else { None };
        if team_id.is_none() && executive_id.is_none() {
            return Ok(false);
        }
        let prospect = lead.prospect;
        let moved =
            platica_store::inbox::prospects::reassign(&self.pool, &admin, prospect, &Target { team_id, executive_id })
                .await
                .with_context(|| format!("reassigning prospect {prospect}"))?;
        let lead = &mut self.world.leads[i];
        lead.team = TeamId(moved.team_id);
        lead.executive = moved.executive_id.map(UserId);
        tracing::debug!(prospect = prospect.0, team = moved.team_id, executive = ?moved.executive_id, "reassigned");
        Ok(true)
    }
}

fn push_capped<T>(list: &mut VecDeque<T>, item: T, cap: usize) {
    list.push_back(item);
    while list.len() > cap {
        list.pop_front();
    }
}
