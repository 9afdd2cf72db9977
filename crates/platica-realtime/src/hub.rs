//! The hub: connections, their subscriptions, the indexes that route each change to exactly the
//! subscriptions it concerns, per-tenant replay buffers, and per-connection queues.
//!
//! Routing never scans all subscribers and never queries the database: a change is looked up in
//! hash indexes (by tenant, then by team, executive, conversation, table and filter value), and
//! authorised against the live engine's in-memory users, coordinator teams and seats.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use platica_changes::decode::{Op, RowEvent};
use platica_changes::{ChangeSink, Committed};
use platica_domain::TenantId;
use platica_domain::policy::{self, Reach};
use platica_inbox::{Engine, Row, Seat, TenantInbox};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::protocol::{Refusal, frame};
use crate::topic::{Topic, Visibility, index_text, table_visibility};

pub type ConnId = u64;

/// What a connection authenticated with: a login session or an API token (by id). When it is
/// revoked, expires or is deleted, the connection is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Credential {
    Session(i64),
    Api(i64),
}

impl Credential {
    /// The credential a row change of `sessions` or `api_tokens` ended (revoked, expired or
    /// deleted), if any.
    fn ended_by(change: &RowEvent) -> Option<Credential> {
        let credential = match change.table.as_str() {
            "sessions" => Credential::Session(change.int("session_id")?),
            "api_tokens" => Credential::Api(change.int("token_id")?),
            _ => return None,
        };
        if change.op == Op::Delete {
            return Some(credential);
        }
        let row = change.row()?;
        let revoked = row.get("revoked_at").is_some_and(|v| !v.is_null());
        let expired = row
            .get("expires_at")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .is_some_and(|t| t <= Utc::now());
        (revoked || expired).then_some(credential)
    }
}

/// The reason sent to a connection whose credential ended.
pub const CREDENTIAL_ENDED: &str = "your session ended (logged out, revoked or expired): log in again";

/// What a connection's queue holds: one frame, or the frames of a resume (replayed as one item,
/// so a resume of up to the whole replay buffer never counts against the queue's length).
#[derive(Debug)]
pub enum Queued {
    Frame(String),
    Frames(Vec<String>),
    /// The last frame: send it, then close the socket (the credential ended).
    Closing(String),
}

/// Conversations one transaction may change in a tenant before the subscriptions it concerns are
/// told to refetch (a `reset` each) instead of getting a frame per conversation: a bulk
/// reassignment of thousands would otherwise overflow every admin's queue. Subscriptions it does
/// not concern get nothing, and the replay buffer keeps the reset for resuming clients.
pub const MAX_FANOUT_CONVERSATIONS: usize = 200;

/// Limits of the hub.
#[derive(Clone, Copy, Debug)]
pub struct HubConfig {
    /// Frames queued per connection before it counts as too slow and is reset.
    pub queue: usize,
    /// Events kept per tenant for resuming clients.
    pub replay_events: usize,
    /// Subscriptions one connection may hold.
    pub max_subscriptions: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig { queue: 1024, replay_events: 20_000, max_subscriptions: 100 }
    }
}

/// Counters for metrics.
#[derive(Debug, Default)]
pub struct HubStats {
    pub frames: AtomicU64,
    pub events_routed: AtomicU64,
    pub slow_resets: AtomicU64,
}

/// One change as the hub routes it (and keeps it for replay).
#[derive(Debug)]
enum Event {
    /// A conversation of the inbox changed: where it sat before, and its row now (`None`: gone).
    Inbox { conversation_id: i64, before: Option<Seat>, after: Option<Arc<Row>>, payload: Option<Arc<str>> },
    /// A row of a followed table changed.
    Row { change: Arc<RowEvent>, seat: Option<Seat>, conversation_id: Option<i64>, payload: Arc<str> },
    /// A change too large to send row by row: the subscriptions it concerns refetch.
    Reset(Box<Touched>),
}

/// What a large change touched in one tenant.
#[derive(Debug, Default)]
struct Touched {
    /// Inbox conversations changed (so inbox subscriptions reaching these seats refetch).
    inbox: bool,
    teams: HashSet<i64>,
    executives: HashSet<i64>,
    conversations: HashSet<i64>,
    tables: HashSet<String>,
}

impl Touched {
    fn seat(&mut self, seat: Seat) {
        self.teams.insert(seat.team_id);
        if let Some(e) = seat.executive_id {
            self.executives.insert(e);
        }
    }

    /// Whether a user's view of rows placed by seat may have changed.
    fn reaches(&self, inbox: &TenantInbox, user: i64) -> bool {
        match inbox.role(user).map(policy::reach) {
            Some(Reach::Tenant) => true,
            Some(Reach::Teams) => inbox.coordinated_teams(user).iter().any(|t| self.teams.contains(t)),
            Some(Reach::Own) => self.executives.contains(&user),
            None => false,
        }
    }
}

const LARGE_CHANGE: &str = "a large change: refetch";

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    InboxAll,
    InboxTeam(i64),
    InboxExecutive(i64),
    Conversation(i64),
    TableAny(String),
    TableValue(String, String, String),
    System,
}

type SubRef = (ConnId, Arc<str>);

#[derive(Default)]
struct TenantIndex {
    keys: HashMap<Key, HashSet<SubRef>>,
    users: HashMap<i64, HashSet<ConnId>>,
    credentials: HashMap<Credential, HashSet<ConnId>>,
}

struct Sub {
    topic: Topic,
    keys: Vec<Key>,
}

struct Conn {
    tenant: TenantId,
    user: i64,
    credential: Option<Credential>,
    tx: mpsc::Sender<Queued>,
    seq: u64,
    subs: HashMap<Arc<str>, Sub>,
}

#[derive(Default)]
struct Replay {
    /// Transactions kept, oldest first: (lsn, events).
    entries: VecDeque<(u64, Arc<Vec<Event>>)>,
    events: usize,
    /// Resuming from an LSN below this is impossible (events were dropped or never kept).
    horizon: u64,
}

#[derive(Default)]
struct State {
    conns: HashMap<ConnId, Conn>,
    tenants: HashMap<TenantId, TenantIndex>,
    replay: HashMap<TenantId, Replay>,
    /// The position the hub started (or restarted) at: nothing older can be replayed.
    horizon: u64,
}

/// The realtime hub. One per server; fed by the live inbox as its [`ChangeSink`].
pub struct Hub {
    state: Mutex<State>,
    next: AtomicU64,
    config: HubConfig,
    pub stats: HubStats,
}

fn lsn_text(lsn: u64) -> String {
    platica_changes::lsn::format(lsn)
}

impl Hub {
    pub fn new(config: HubConfig, position: u64) -> Hub {
        Hub {
            state: Mutex::new(State { horizon: position, ..State::default() }),
            next: AtomicU64::new(1),
            config,
            stats: HubStats::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Registers a connection of `user`, authenticated by `credential`; frames for it arrive on
    /// the receiver. The receiver closes when the hub drops the connection (too slow, the user
    /// gone, the credential ended).
    pub fn connect(
        &self,
        tenant: TenantId,
        user: i64,
        credential: Option<Credential>,
    ) -> (ConnId, mpsc::Receiver<Queued>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(self.config.queue);
        let mut st = self.lock();
        st.conns.insert(id, Conn { tenant, user, credential, tx, seq: 0, subs: HashMap::new() });
        let index = st.tenants.entry(tenant).or_default();
        index.users.entry(user).or_default().insert(id);
        if let Some(c) = credential {
            index.credentials.entry(c).or_default().insert(id);
        }
        (id, rx)
    }

    fn close_credential(&self, st: &mut State, tenant: TenantId, credential: Credential, lsn: u64) {
        let conns: Vec<ConnId> = st
            .tenants
            .get(&tenant)
            .and_then(|i| i.credentials.get(&credential))
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        let lsn = lsn_text(lsn);
        for conn in conns {
            if let Some(c) = st.conns.get_mut(&conn) {
                c.seq += 1;
                // A full queue: the receiver still closes when the connection is removed.
                let _ = c.tx.try_send(Queued::Closing(frame::reset(None, c.seq, &lsn, CREDENTIAL_ENDED)));
            }
            remove_conn(st, conn);
            tracing::info!(conn, tenant_id = tenant.0, ?credential, "credential ended: websocket closed");
        }
    }

    /// Forgets a connection and its subscriptions.
    pub fn disconnect(&self, conn: ConnId) {
        let mut st = self.lock();
        remove_conn(&mut st, conn);
    }

    /// Open connections of one user.
    pub fn user_connections(&self, tenant: TenantId, user: i64) -> usize {
        self.lock().tenants.get(&tenant).and_then(|i| i.users.get(&user)).map_or(0, HashSet::len)
    }

    /// Connections and subscriptions now held.
    pub fn counts(&self) -> (usize, usize) {
        let st = self.lock();
        (st.conns.len(), st.conns.values().map(|c| c.subs.len()).sum())
    }

    /// Adds a subscription and queues its `subscribed` frame; with `since`, also what it missed
    /// (or a `reset` when that is older than the replay buffer).
    pub fn subscribe(
        &self,
        engine: &Engine,
        position: u64,
        conn: ConnId,
        id: &str,
        topic: Topic,
        since: Option<u64>,
    ) -> Result<(), Refusal> {
        if id.is_empty() || id.len() > crate::protocol::MAX_ID_LEN {
            return Err(Refusal::new("bad_subscription", "a subscription id is 1 to 64 bytes"));
        }
        let mut st = self.lock();
        let Some(c) = st.conns.get(&conn) else { return Err(Refusal::new("closed", "connection closed")) };
        let (tenant, user) = (c.tenant, c.user);
        if c.subs.contains_key(id) {
            return Err(Refusal::new("duplicate_id", format!("subscription {id:?} exists: unsubscribe it first")));
        }
        if c.subs.len() >= self.config.max_subscriptions {
            return Err(Refusal::new(
                "too_many_subscriptions",
                format!("at most {} subscriptions per connection", self.config.max_subscriptions),
            ));
        }
        let inbox = engine.tenant(tenant);
        if let Topic::Conversation(cid) = topic {
            let visible = inbox.and_then(|i| i.seat(cid)).is_some_and(|s| inbox.is_some_and(|i| i.can_see(user, s)));
            if !visible {
                return Err(Refusal::new("not_found", format!("conversation {cid} not found")));
            }
        }
        let keys = index_keys(inbox, user, &topic);
        let id: Arc<str> = Arc::from(id);
        let index = st.tenants.entry(tenant).or_default();
        for k in &keys {
            index.keys.entry(k.clone()).or_default().insert((conn, id.clone()));
        }
        let queued = match st.conns.get_mut(&conn) {
            Some(c) => {
                c.subs.insert(id.clone(), Sub { topic, keys });
                c.tx.try_send(Queued::Frame(frame::subscribed(&id, &lsn_text(position)))).is_ok()
            }
            None => true,
        };
        if !queued {
            self.drop_slow(&mut st, conn);
            return Ok(());
        }
        if let Some(since) = since {
            self.replay(&mut st, engine, conn, &id, since, position);
        }
        Ok(())
    }

    /// Removes a subscription; `false` if there was none.
    pub fn unsubscribe(&self, conn: ConnId, id: &str) -> bool {
        let mut st = self.lock();
        let Some(c) = st.conns.get_mut(&conn) else { return false };
        let tenant = c.tenant;
        let Some(sub) = c.subs.remove(id) else { return false };
        unindex(&mut st, tenant, conn, id, &sub.keys);
        true
    }

    /// Queues a frame for a connection (answers to its own messages).
    pub fn send_direct(&self, conn: ConnId, text: String) {
        let mut st = self.lock();
        let slow = match st.conns.get(&conn) {
            Some(c) => c.tx.try_send(Queued::Frame(text)).is_err(),
            None => false,
        };
        if slow {
            self.drop_slow(&mut st, conn);
        }
    }

    fn replay(&self, st: &mut State, engine: &Engine, conn: ConnId, id: &Arc<str>, since: u64, position: u64) {
        let Some(tenant) = st.conns.get(&conn).map(|c| c.tenant) else { return };
        let horizon = st.replay.get(&tenant).map_or(st.horizon, |r| r.horizon.max(st.horizon));
        if since < horizon {
            let lsn = lsn_text(position);
            if !push(st, conn, |seq| frame::reset(Some(id), seq, &lsn, "resume point too old: refetch")) {
                self.drop_slow(st, conn);
            }
            return;
        }
        let entries: Vec<(u64, Arc<Vec<Event>>)> = st
            .replay
            .get(&tenant)
            .map(|r| r.entries.iter().filter(|(l, _)| *l > since).cloned().collect())
            .unwrap_or_default();
        let only = Some((conn, id.clone()));
        let mut frames = Vec::new();
        for (lsn, events) in entries {
            self.deliver(st, engine, tenant, lsn, &events, only.as_ref(), Some(&mut frames));
        }
        if frames.is_empty() {
            return;
        }
        self.stats.frames.fetch_add(frames.len() as u64, Ordering::Relaxed);
        let queued = st.conns.get(&conn).is_none_or(|c| c.tx.try_send(Queued::Frames(frames)).is_ok());
        if !queued {
            self.drop_slow(st, conn);
        }
    }

    /// Routes one applied transaction.
    fn publish(&self, engine: &Engine, tx: &Committed) {
        let mut by_tenant: HashMap<TenantId, Vec<Event>> = HashMap::new();
        let before: HashMap<(TenantId, i64), Option<Seat>> =
            tx.applied.touched.iter().map(|(t, c, s)| ((*t, *c), *s)).collect();
        let mut large = large_changes(tx);
        for (tenant, conv, before_seat) in &tx.applied.touched {
            if let Some(t) = large.get_mut(tenant) {
                t.inbox = true;
                t.conversations.insert(*conv);
                let after = engine.tenant(*tenant).and_then(|i| i.seat(*conv));
                for seat in [*before_seat, after].into_iter().flatten() {
                    t.seat(seat);
                }
                continue;
            }
            by_tenant.entry(*tenant).or_default().push(inbox_event(engine, *tenant, *conv, *before_seat));
        }
        let mut ended: Vec<(TenantId, Credential)> = Vec::new();
        for change in &tx.rows {
            if let Some(c) = Credential::ended_by(change) {
                ended.push((change.tenant_id, c));
                continue;
            }
            let Some(vis) = table_visibility(&change.table) else { continue };
            let conversation_id = match change.table.as_str() {
                "conversations" | "messages" | "bot_pause" => change.int("conversation_id"),
                _ => None,
            };
            let seat = row_seat(engine, &before, change, vis, conversation_id);
            if let Some(t) = large.get_mut(&change.tenant_id) {
                t.tables.insert(change.table.clone());
                t.conversations.extend(conversation_id);
                if let Some(seat) = seat {
                    t.seat(seat);
                }
                continue;
            }
            by_tenant.entry(change.tenant_id).or_default().push(row_event(change, seat, conversation_id));
        }
        for (tenant, touched) in large {
            by_tenant.insert(tenant, vec![Event::Reset(Box::new(touched))]);
        }
        let mut st = self.lock();
        for (tenant, credential) in ended {
            self.close_credential(&mut st, tenant, credential, tx.lsn);
        }
        for (tenant, events) in by_tenant {
            let events = Arc::new(events);
            self.remember(&mut st, tenant, tx.lsn, &events);
            self.deliver(&mut st, engine, tenant, tx.lsn, &events, None, None);
        }
        if tx.applied.all_reset {
            let tenants: Vec<TenantId> = st.tenants.keys().copied().collect();
            for t in tenants {
                self.reset_tenant(&mut st, engine, t, tx.lsn, "the data was truncated: refetch");
            }
        }
        for t in &tx.applied.tenants_reset {
            self.reset_tenant(&mut st, engine, *t, tx.lsn, "the tenant was deleted");
        }
        let users: std::collections::BTreeSet<(TenantId, i64)> = tx.applied.users.iter().copied().collect();
        for (tenant, user) in users {
            self.user_changed(&mut st, engine, tenant, user, tx.lsn);
        }
    }

    fn remember(&self, st: &mut State, tenant: TenantId, lsn: u64, events: &Arc<Vec<Event>>) {
        let r = st.replay.entry(tenant).or_default();
        r.entries.push_back((lsn, events.clone()));
        r.events += events.len();
        while r.events > self.config.replay_events {
            match r.entries.pop_front() {
                Some((l, e)) => {
                    r.events -= e.len();
                    r.horizon = r.horizon.max(l);
                }
                None => break,
            }
        }
    }

    /// Sends one transaction's events of a tenant to the subscriptions they concern (or only to
    /// `only`, when replaying: then the frames are added to `capture`, sent as one batch).
    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &self,
        st: &mut State,
        engine: &Engine,
        tenant: TenantId,
        lsn: u64,
        events: &[Event],
        only: Option<&SubRef>,
        capture: Option<&mut Vec<String>>,
    ) {
        let Some(inbox) = engine.tenant(tenant) else { return };
        let routed = {
            let Some(index) = st.tenants.get(&tenant) else { return };
            let router = Router { st: &*st, index, inbox, only };
            let mut out = Routed::default();
            for ev in events {
                self.stats.events_routed.fetch_add(1, Ordering::Relaxed);
                match ev {
                    Event::Inbox { conversation_id, before, after, payload } => {
                        router.inbox(&mut out, *conversation_id, *before, after.as_deref(), payload.as_deref());
                    }
                    Event::Reset(touched) => router.reset(&mut out, touched),
                    Event::Row { change, seat, conversation_id, payload } => {
                        router.row(&mut out, change, *seat, *conversation_id, payload);
                    }
                }
            }
            out
        };
        self.send(st, &lsn_text(lsn), routed, capture);
    }

    /// Sends what [`Hub::deliver`] routed: events, then resets, then revocations (each
    /// subscription revoked leaves its indexes); a connection whose queue overflows gets nothing
    /// more and is dropped.
    fn send(&self, st: &mut State, lsn: &str, routed: Routed, mut capture: Option<&mut Vec<String>>) {
        let Routed { sends, mut resets, revoke, .. } = routed;
        let mut slow: HashSet<ConnId> = HashSet::new();
        for (conn, id, body) in sends {
            if slow.contains(&conn) {
                continue;
            }
            if emit(st, conn, capture.as_deref_mut(), |seq| frame::event(&id, seq, lsn, &body)) {
                if capture.is_none() {
                    self.stats.frames.fetch_add(1, Ordering::Relaxed);
                }
            } else {
                slow.insert(conn);
            }
        }
        resets.sort();
        resets.dedup();
        for (conn, id) in resets {
            if !slow.contains(&conn)
                && !emit(st, conn, capture.as_deref_mut(), |seq| frame::reset(Some(&id), seq, lsn, LARGE_CHANGE))
            {
                slow.insert(conn);
            }
        }
        for (conn, id) in revoke {
            let Some(c) = st.conns.get_mut(&conn) else { continue };
            let tenant = c.tenant;
            let Some(sub) = c.subs.remove(&id) else { continue };
            unindex(st, tenant, conn, &id, &sub.keys);
            if !slow.contains(&conn)
                && !emit(st, conn, capture.as_deref_mut(), |seq| {
                    frame::revoked(&id, seq, lsn, "the conversation is no longer visible to you")
                })
            {
                slow.insert(conn);
            }
        }
        for conn in slow {
            self.drop_slow(st, conn);
        }
    }

    /// A connection whose queue is full: forget it. Its writer drains what is queued, then sends
    /// `reset` and closes; the client resumes or refetches. Nobody else waits for it.
    fn drop_slow(&self, st: &mut State, conn: ConnId) {
        if remove_conn(st, conn) {
            self.stats.slow_resets.fetch_add(1, Ordering::Relaxed);
            tracing::info!(conn, "realtime client too slow: dropped");
        }
    }

    fn reset_tenant(&self, st: &mut State, engine: &Engine, tenant: TenantId, lsn: u64, reason: &str) {
        st.replay.remove(&tenant);
        let users: Vec<i64> = st.tenants.get(&tenant).map(|i| i.users.keys().copied().collect()).unwrap_or_default();
        for u in users {
            self.refresh_user(st, engine, tenant, u, lsn, reason, true);
        }
        let r = st.replay.entry(tenant).or_default();
        r.horizon = lsn;
    }

    fn user_changed(&self, st: &mut State, engine: &Engine, tenant: TenantId, user: i64, lsn: u64) {
        self.refresh_user(st, engine, tenant, user, lsn, "your access changed: refetch", false);
    }

    /// Re-indexes a user's subscriptions after their role or teams changed, revokes what they may
    /// no longer see, resets inbox subscriptions (`all`: every subscription), and drops the
    /// connections of a user who is gone or deactivated.
    #[allow(clippy::too_many_arguments)]
    fn refresh_user(
        &self,
        st: &mut State,
        engine: &Engine,
        tenant: TenantId,
        user: i64,
        lsn: u64,
        reason: &str,
        all: bool,
    ) {
        let inbox = engine.tenant(tenant);
        let conns: Vec<ConnId> = st
            .tenants
            .get(&tenant)
            .and_then(|i| i.users.get(&user))
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        let lsn_s = lsn_text(lsn);
        for conn in conns {
            if inbox.and_then(|i| i.role(user)).is_none() {
                // The writer then closes the socket; reconnecting is refused (401).
                push(st, conn, |seq| frame::reset(None, seq, &lsn_s, "your account is no longer active"));
                remove_conn(st, conn);
                continue;
            }
            let ids: Vec<Arc<str>> = st.conns.get(&conn).map(|c| c.subs.keys().cloned().collect()).unwrap_or_default();
            for id in ids {
                let Some(sub) = st.conns.get_mut(&conn).and_then(|c| c.subs.remove(&id)) else { continue };
                unindex(st, tenant, conn, &id, &sub.keys);
                let keep = match sub.topic {
                    Topic::Conversation(cid) => {
                        inbox.and_then(|i| i.seat(cid).map(|s| i.can_see(user, s))).unwrap_or(false)
                    }
                    _ => true,
                };
                if !st.conns.contains_key(&conn) {
                    break;
                }
                let queued = if !keep {
                    push(st, conn, |seq| {
                        frame::revoked(&id, seq, &lsn_s, "the conversation is no longer visible to you")
                    })
                } else if all || matches!(sub.topic, Topic::Inbox(_)) {
                    push(st, conn, |seq| frame::reset(Some(&id), seq, &lsn_s, reason))
                } else {
                    true
                };
                if !queued {
                    self.drop_slow(st, conn);
                    break;
                }
                if !keep {
                    continue;
                }
                let keys = index_keys(inbox, user, &sub.topic);
                let Some(c) = st.conns.get_mut(&conn) else { break };
                c.subs.insert(id.clone(), Sub { topic: sub.topic, keys: keys.clone() });
                let index = st.tenants.entry(tenant).or_default();
                for k in keys {
                    index.keys.entry(k).or_default().insert((conn, id.clone()));
                }
            }
        }
    }
}

/// Queues a frame that takes the connection's next sequence number (the number is used only if
/// the frame is queued, so a client never sees a gap that is not a loss). `false` when the queue
/// is full: the caller drops the connection.
fn push(st: &mut State, conn: ConnId, make: impl FnOnce(u64) -> String) -> bool {
    let Some(c) = st.conns.get_mut(&conn) else { return true };
    let f = make(c.seq + 1);
    if c.tx.try_send(Queued::Frame(f)).is_ok() {
        c.seq += 1;
        true
    } else {
        false
    }
}

/// [`push`], or when replaying (`capture`), adds the frame to the resume's batch.
fn emit(st: &mut State, conn: ConnId, capture: Option<&mut Vec<String>>, make: impl FnOnce(u64) -> String) -> bool {
    match capture {
        None => push(st, conn, make),
        Some(frames) => {
            let Some(c) = st.conns.get_mut(&conn) else { return true };
            c.seq += 1;
            frames.push(make(c.seq));
            true
        }
    }
}

/// What one transaction's events ask of a tenant's subscriptions, before any frame is sent.
#[derive(Default)]
struct Routed {
    /// Event frames: connection, subscription id, body.
    sends: Vec<(ConnId, Arc<str>, String)>,
    /// Subscriptions whose conversation left their user's sight.
    revoke: Vec<SubRef>,
    /// Subscriptions a large change concerns: they refetch.
    resets: Vec<SubRef>,
    /// The counts of each inbox subscription, computed once per transaction.
    counted: HashMap<SubRef, String>,
}

/// Routes the events of one transaction among one tenant's subscriptions (`only`: a single one,
/// when a resume replays to it), authorising each against the live engine's view of the tenant.
struct Router<'a> {
    st: &'a State,
    index: &'a TenantIndex,
    inbox: &'a TenantInbox,
    only: Option<&'a SubRef>,
}

impl<'a> Router<'a> {
    fn subs_of(&self, key: &Key) -> std::iter::Flatten<std::option::IntoIter<&'a HashSet<SubRef>>> {
        self.index.keys.get(key).into_iter().flatten()
    }

    /// Whether `sr` is one this delivery is for.
    fn wanted(&self, sr: &SubRef) -> bool {
        self.only.is_none_or(|o| o == sr)
    }

    /// A conversation of the inbox changed: inbox subscriptions that see it (now or before) get
    /// its row or its removal with their counts; conversation subscriptions that no longer see it
    /// are revoked.
    fn inbox(
        &self,
        out: &mut Routed,
        conversation_id: i64,
        before: Option<Seat>,
        after: Option<&Row>,
        payload: Option<&str>,
    ) {
        let inbox = self.inbox;
        let after_seat = after.map(|r| Seat { team_id: r.team_id, executive_id: r.executive_id });
        let mut cands: HashSet<&SubRef> = self.subs_of(&Key::InboxAll).collect();
        for seat in [before, after_seat].into_iter().flatten() {
            cands.extend(self.subs_of(&Key::InboxTeam(seat.team_id)));
            if let Some(e) = seat.executive_id {
                cands.extend(self.subs_of(&Key::InboxExecutive(e)));
            }
        }
        for sr in cands {
            if !self.wanted(sr) {
                continue;
            }
            let Some((user, Topic::Inbox(filter))) = sub_topic(self.st, sr) else { continue };
            let now = after.filter(|r| {
                inbox.can_see(user, Seat { team_id: r.team_id, executive_id: r.executive_id })
                    && inbox.matches(user, r, filter)
            });
            let was = before.is_some_and(|b| inbox.can_see(user, b));
            let body = match (now, payload) {
                (Some(_), Some(p)) => p.to_owned(),
                _ if was => format!(r#"{{"kind":"remove","conversation_id":{conversation_id}}}"#),
                _ => continue,
            };
            let counts = out
                .counted
                .entry(sr.clone())
                .or_insert_with(|| {
                    let p = inbox.page(user, filter, None, 0);
                    format!(r#""counts":{{"total":{},"unread":{}}}"#, p.total, p.unread)
                })
                .clone();
            let body = format!("{},{counts}}}", &body[..body.len() - 1]);
            out.sends.push((sr.0, sr.1.clone(), body));
        }
        // A conversation moved out of a subscriber's sight: revoke it.
        for sr in self.subs_of(&Key::Conversation(conversation_id)) {
            if !self.wanted(sr) {
                continue;
            }
            let Some((user, _)) = sub_topic(self.st, sr) else { continue };
            if !after_seat.is_some_and(|s| inbox.can_see(user, s)) {
                out.revoke.push(sr.clone());
            }
        }
    }

    /// A change too large to send row by row: every subscription it may concern refetches;
    /// conversation subscriptions whose conversation left their user's sight are revoked.
    fn reset(&self, out: &mut Routed, touched: &Touched) {
        let inbox = self.inbox;
        let mut cands: HashSet<&SubRef> = HashSet::new();
        if touched.inbox {
            cands.extend(self.subs_of(&Key::InboxAll));
            cands.extend(touched.teams.iter().flat_map(|t| self.subs_of(&Key::InboxTeam(*t))));
            cands.extend(touched.executives.iter().flat_map(|e| self.subs_of(&Key::InboxExecutive(*e))));
        }
        for c in &touched.conversations {
            for sr in self.subs_of(&Key::Conversation(*c)) {
                let Some((user, _)) = sub_topic(self.st, sr) else { continue };
                if !self.wanted(sr) {
                    continue;
                }
                if inbox.seat(*c).is_some_and(|s| inbox.can_see(user, s)) {
                    out.resets.push(sr.clone());
                } else {
                    out.revoke.push(sr.clone());
                }
            }
        }
        for (key, subs) in &self.index.keys {
            let table = match key {
                Key::TableAny(t) | Key::TableValue(t, _, _) => t,
                _ => continue,
            };
            if !touched.tables.contains(table) {
                continue;
            }
            for sr in subs {
                let Some((user, _)) = sub_topic(self.st, sr) else { continue };
                let concerned = match table_visibility(table) {
                    Some(Visibility::Prospect | Visibility::ProspectRef | Visibility::Conversation) => {
                        touched.reaches(inbox, user)
                    }
                    _ => inbox.role(user).is_some(),
                };
                if concerned {
                    cands.insert(sr);
                }
            }
        }
        for sr in cands {
            if self.wanted(sr) && sub_topic(self.st, sr).is_some() {
                out.resets.push(sr.clone());
            }
        }
    }

    /// Whether `user` may see the row `change` is about (placed at `seat` when it follows a
    /// prospect).
    fn sees_row(&self, user: i64, change: &RowEvent, seat: Option<Seat>) -> bool {
        let inbox = self.inbox;
        match table_visibility(&change.table) {
            Some(Visibility::Tenant) => inbox.role(user).is_some(),
            Some(Visibility::Owner) => inbox.role(user).is_some() && change.int("user_id") == Some(user),
            Some(Visibility::Creator) => inbox
                .role(user)
                .is_some_and(|role| policy::sees_every_campaign(role) || change.int("created_by") == Some(user)),
            Some(Visibility::EveryTemplate) => inbox.role(user).is_some_and(policy::sees_every_template),
            Some(Visibility::Channels) => inbox.role(user).is_some_and(policy::manages_channels),
            Some(Visibility::Ticket) => inbox.role(user).is_some_and(|role| {
                policy::sees_every_ticket(role)
                    || change.int("opened_by") == Some(user)
                    || change.int("assignee_id") == Some(user)
            }),
            _ => seat.is_some_and(|s| inbox.can_see(user, s)),
        }
    }

    /// A row of a followed table changed: table, conversation and system subscriptions whose
    /// user sees the row and whose topic matches it get the payload.
    fn row(
        &self,
        out: &mut Routed,
        change: &RowEvent,
        seat: Option<Seat>,
        conversation_id: Option<i64>,
        payload: &str,
    ) {
        let mut cands: HashSet<&SubRef> = self.subs_of(&Key::TableAny(change.table.clone())).collect();
        if let Some(row) = change.row() {
            for (col, v) in row {
                cands.extend(self.subs_of(&Key::TableValue(change.table.clone(), col.clone(), index_text(v))));
            }
        }
        if let Some(c) = conversation_id {
            cands.extend(self.subs_of(&Key::Conversation(c)));
        }
        if change.table == "system_config" {
            cands.extend(self.subs_of(&Key::System));
        }
        for sr in cands {
            if !self.wanted(sr) {
                continue;
            }
            let Some((user, topic)) = sub_topic(self.st, sr) else { continue };
            if !self.sees_row(user, change, seat) {
                continue;
            }
            let ok = match topic {
                Topic::Table { events, filters, .. } => {
                    let e = match change.op {
                        Op::Insert => events[0],
                        Op::Update => events[1],
                        Op::Delete => events[2],
                    };
                    e && change.row().is_some_and(|r| filters.iter().all(|f| f.matches(r)))
                }
                Topic::Conversation(c) => Some(*c) == conversation_id,
                Topic::System => change.table == "system_config",
                Topic::Inbox(_) => false,
            };
            if ok {
                out.sends.push((sr.0, sr.1.clone(), payload.to_owned()));
            }
        }
    }
}

fn sub_topic<'a>(st: &'a State, sr: &SubRef) -> Option<(i64, &'a Topic)> {
    let c = st.conns.get(&sr.0)?;
    Some((c.user, &c.subs.get(&sr.1)?.topic))
}

/// Where a subscription is indexed. An inbox subscription sits where the user's visibility
/// reaches: the whole tenant (admin), each coordinated team, or the executive's own seat.
fn index_keys(inbox: Option<&TenantInbox>, user: i64, topic: &Topic) -> Vec<Key> {
    match topic {
        Topic::Inbox(_) => match inbox.and_then(|i| i.role(user)).map(policy::reach) {
            Some(Reach::Tenant) => vec![Key::InboxAll],
            Some(Reach::Teams) => {
                inbox.map(|i| i.coordinated_teams(user)).unwrap_or_default().into_iter().map(Key::InboxTeam).collect()
            }
            Some(Reach::Own) => vec![Key::InboxExecutive(user)],
            None => vec![],
        },
        Topic::Conversation(c) => vec![Key::Conversation(*c)],
        Topic::System => vec![Key::System],
        Topic::Table { table, filters, .. } => match filters.first() {
            // Indexed by one filter's values: only rows with such a value are looked at.
            Some(f) => {
                f.values.iter().map(|v| Key::TableValue(table.clone(), f.column.clone(), index_text(v))).collect()
            }
            None => vec![Key::TableAny(table.clone())],
        },
    }
}

fn unindex(st: &mut State, tenant: TenantId, conn: ConnId, id: &str, keys: &[Key]) {
    if let Some(index) = st.tenants.get_mut(&tenant) {
        let sr: SubRef = (conn, Arc::from(id));
        for k in keys {
            if let Some(set) = index.keys.get_mut(k) {
                set.remove(&sr);
                if set.is_empty() {
                    index.keys.remove(k);
                }
            }
        }
    }
}

fn remove_conn(st: &mut State, conn: ConnId) -> bool {
    let Some(c) = st.conns.remove(&conn) else { return false };
    for (id, sub) in &c.subs {
        unindex(st, c.tenant, conn, id, &sub.keys);
    }
    if let Some(index) = st.tenants.get_mut(&c.tenant) {
        if let Some(set) = index.users.get_mut(&c.user) {
            set.remove(&conn);
            if set.is_empty() {
                index.users.remove(&c.user);
            }
        }
        if let Some(credential) = c.credential
            && let Some(set) = index.credentials.get_mut(&credential)
        {
            set.remove(&conn);
            if set.is_empty() {
                index.credentials.remove(&credential);
            }
        }
    }
    true
}

impl ChangeSink for Hub {
    fn committed(&self, engine: &Engine, tx: &Committed) {
        self.publish(engine, tx);
    }

    fn degraded(&self, since: DateTime<Utc>, reason: &str) {
        let frame = frame::degraded(since, reason);
        let mut st = self.lock();
        let conns: Vec<ConnId> = st.conns.keys().copied().collect();
        for conn in conns {
            let full = st.conns.get(&conn).is_some_and(|c| c.tx.try_send(Queued::Frame(frame.clone())).is_err());
            if full {
                self.drop_slow(&mut st, conn);
            }
        }
    }

    fn reset(&self, engine: &Engine, lsn: u64) {
        let mut st = self.lock();
        st.replay.clear();
        st.horizon = lsn;
        let tenants: Vec<TenantId> = st.tenants.keys().copied().collect();
        for t in tenants {
            self.reset_tenant(&mut st, engine, t, lsn, "live updates are back: refetch");
        }
    }
}

/// The tenants a transaction changed too much to fan out row by row (rows past the stream's
/// overflow, or more than [`MAX_FANOUT_CONVERSATIONS`] conversations): their subscribers get a
/// reset naming what was touched instead, filled in by the caller.
fn large_changes(tx: &Committed) -> HashMap<TenantId, Touched> {
    let mut big: HashSet<TenantId> = tx.overflow.iter().map(|(t, _)| *t).collect();
    let mut per_tenant: HashMap<TenantId, usize> = HashMap::new();
    for (t, _, _) in &tx.applied.touched {
        *per_tenant.entry(*t).or_default() += 1;
    }
    big.extend(per_tenant.into_iter().filter(|(_, n)| *n > MAX_FANOUT_CONVERSATIONS).map(|(t, _)| t));
    let mut large: HashMap<TenantId, Touched> = big.iter().map(|t| (*t, Touched::default())).collect();
    for (tenant, table) in &tx.overflow {
        if let Some(t) = large.get_mut(tenant) {
            t.tables.insert(table.clone());
        }
    }
    large
}

/// A conversation's inbox event: its seat before, its row now (none when it is gone) and the
/// `upsert` frame body every subscriber who sees it is sent.
fn inbox_event(engine: &Engine, tenant: TenantId, conversation: i64, before: Option<Seat>) -> Event {
    let row = engine.tenant(tenant).and_then(|i| i.row(conversation)).map(Arc::new);
    let payload = row.as_ref().map(|r| {
        let json = serde_json::to_string(&crate::json::row_json((**r).clone())).unwrap_or_default();
        Arc::from(format!(r#"{{"kind":"upsert","row":{json}}}"#))
    });
    Event::Inbox { conversation_id: conversation, before, after: row, payload }
}

/// Where a changed row of a followed table sits for visibility: the seat of its prospect (now,
/// or before the transaction when it moved or went), or none for rows seen by other rules.
fn row_seat(
    engine: &Engine,
    before: &HashMap<(TenantId, i64), Option<Seat>>,
    change: &RowEvent,
    vis: Visibility,
    conversation_id: Option<i64>,
) -> Option<Seat> {
    let inbox = engine.tenant(change.tenant_id);
    match vis {
        Visibility::Tenant
        | Visibility::Ticket
        | Visibility::Owner
        | Visibility::Creator
        | Visibility::EveryTemplate
        | Visibility::Channels => None,
        Visibility::Prospect => {
            change.int("team_id").map(|t| Seat { team_id: t, executive_id: change.int("executive_id") })
        }
        Visibility::ProspectRef => change.int("prospect_id").and_then(|p| inbox.and_then(|i| i.prospect_seat(p))),
        Visibility::Conversation => conversation_id.and_then(|c| {
            inbox.and_then(|i| i.seat(c)).or_else(|| before.get(&(change.tenant_id, c)).copied().flatten())
        }),
    }
}

/// A row event of a followed table, with the frame body (`table`, `op`, `row`, and `old` for an
/// update) built once for every subscriber.
fn row_event(change: &RowEvent, seat: Option<Seat>, conversation_id: Option<i64>) -> Event {
    let mut body = serde_json::Map::new();
    body.insert("table".into(), Value::String(change.table.clone()));
    body.insert("op".into(), Value::String(change.op.as_str().into()));
    body.insert("row".into(), change.row().cloned().map_or(Value::Null, Value::Object));
    if change.op == Op::Update
        && let Some(old) = &change.old
    {
        body.insert("old".into(), Value::Object(old.clone()));
    }
    let payload: Arc<str> = Arc::from(Value::Object(body).to_string());
    Event::Row { change: Arc::new(change.clone()), seat, conversation_id, payload }
}
