//! The engine against a naive model: random sequences of row changes (as PostgreSQL would emit
//! them, foreign keys and cascades included) are applied to both; then every user's inbox, under
//! a set of filters and walked page by page, must be identical, counts included.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use platica_domain::search;
use platica_domain::visibility::{Placement, can_see};
use platica_domain::{Role, TeamId, TenantId, UserId, Viewer};
use platica_inbox::change::{
    Change, ConversationRow, Direction, MessageRow, ProspectRow, SenderKind, Status, Table, Transaction, UserRow,
};
use platica_inbox::query::{LastMessage, PREVIEW_CHARS};
use platica_inbox::{Cursor, Engine, Filter, Newest, Row, Sort, View};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    User { tenant: i64, user: i64, role: Role },
    Coord { tenant: i64, user: i64, team: i64, member: bool },
    Prospect { tenant: i64, id: i64, name: usize, team: i64, exec: Option<i64> },
    DeleteProspect { id: i64 },
    Conversation { id: i64, prospect: i64, status: usize, priority: u8, at: i64 },
    Label { conv: i64, label: i64, member: bool },
    DeleteConversation { id: i64 },
    Message { conv: i64, inbound: bool, at: i64, read: bool, body: usize },
    ReadMessage { pick: usize, read: bool },
    MoveMessageTime { pick: usize, at: i64 },
    DeleteMessage { pick: usize },
    BotPause { conv: i64, paused: Option<bool> },
    Truncate(Table),
}

const NAMES: &[&str] = &[
    "Ana López",
    "ángel Ruiz",
    "Beto",
    "ana maría",
    "Zoë",
    "Luis",
    "María Romero",
    "ROMERO, Lucía",
    "José Ángel Núñez",
];
const BODIES: &[&str] = &["hola", "¿Cómo estás?", "", "precio por favor", "ok 👍"];

fn op() -> impl Strategy<Value = Op> {
    let role = prop_oneof![Just(Role::Admin), Just(Role::Coordinator), Just(Role::Executive)];
    prop_oneof![
        2 => (1i64..3, 1i64..6, role).prop_map(|(tenant, user, role)| Op::User { tenant, user, role }),
        2 => (1i64..3, 1i64..6, 1i64..4, any::<bool>()).prop_map(|(tenant, user, team, member)| Op::Coord { tenant, user, team, member }),
        4 => (1i64..3, 1i64..9, 0..NAMES.len(), 1i64..4, proptest::option::of(1i64..6))
            .prop_map(|(tenant, id, name, team, exec)| Op::Prospect { tenant, id, name, team, exec }),
        1 => (1i64..9).prop_map(|id| Op::DeleteProspect { id }),
        4 => (1i64..12, 1i64..9, 0usize..3, 0u8..5, 0i64..50).prop_map(|(id, prospect, status, priority, at)| Op::Conversation { id, prospect, status, priority, at }),
        2 => (1i64..12, 1i64..4, any::<bool>()).prop_map(|(conv, label, member)| Op::Label { conv, label, member }),
        1 => (1i64..12).prop_map(|id| Op::DeleteConversation { id }),
        8 => (1i64..12, any::<bool>(), 0i64..60, any::<bool>(), 0..BODIES.len())
            .prop_map(|(conv, inbound, at, read, body)| Op::Message { conv, inbound, at, read, body }),
        3 => (any::<usize>(), any::<bool>()).prop_map(|(pick, read)| Op::ReadMessage { pick, read }),
        1 => (any::<usize>(), 0i64..60).prop_map(|(pick, at)| Op::MoveMessageTime { pick, at }),
        2 => any::<usize>().prop_map(|pick| Op::DeleteMessage { pick }),
        1 => (1i64..12, proptest::option::of(any::<bool>())).prop_map(|(conv, paused)| Op::BotPause { conv, paused }),
        1 => prop_oneof![Just(Table::Messages), Just(Table::BotPause), Just(Table::CoordinatorTeams), Just(Table::ConversationLabels)].prop_map(Op::Truncate),
    ]
}

/// The database, naively: tables as maps, with the foreign keys and cascades of the schema.
#[derive(Default, Clone)]
struct Model {
    users: BTreeMap<(i64, i64), Role>,
    coord: BTreeSet<(i64, i64, i64)>,
    prospects: BTreeMap<i64, ProspectRow>,
    conversations: BTreeMap<i64, ConversationRow>,
    messages: BTreeMap<i64, MessageRow>,
    bot_pause: BTreeMap<i64, bool>,
    /// (conversation, label)
    labels: BTreeSet<(i64, i64)>,
    next_message: i64,
}

impl Model {
    /// Applies an operation like PostgreSQL would (refusing foreign-key violations) and returns
    /// the changes the replication stream would carry.
    fn apply(&mut self, op: &Op) -> Vec<Change> {
        let t = |x: i64| TenantId(x);
        match *op {
            Op::User { tenant, user, role } => {
                // Ids are global in the database: a user id lives in one tenant.
                if self.users.keys().any(|(tn, u)| *u == user && *tn != tenant) {
                    return vec![];
                }
                self.users.insert((tenant, user), role);
                vec![Change::UserUpsert(UserRow { tenant_id: t(tenant), user_id: user, role })]
            }
            Op::Coord { tenant, user, team, member } => {
                if !self.users.contains_key(&(tenant, user)) {
                    return vec![];
                }
                let changed = if member {
                    self.coord.insert((tenant, user, team))
                } else {
                    self.coord.remove(&(tenant, user, team))
                };
                if !changed {
                    return vec![];
                }
                vec![Change::CoordinatorTeam { tenant_id: t(tenant), user_id: user, team_id: team, member }]
            }
            Op::Prospect { tenant, id, name, team, exec } => {
                if let Some(p) = self.prospects.get(&id)
                    && p.tenant_id != t(tenant)
                {
                    return vec![];
                }
                if exec.is_some_and(|e| !self.users.contains_key(&(tenant, e))) {
                    return vec![];
                }
                let row = ProspectRow {
                    tenant_id: t(tenant),
                    prospect_id: id,
                    name: NAMES[name].into(),
                    phone: Some(format!("+52155{name:04}{id:04}")),
                    team_id: team,
                    executive_id: exec,
                };
                self.prospects.insert(id, row.clone());
                vec![Change::ProspectUpsert(row)]
            }
            Op::DeleteProspect { id } => {
                let Some(p) = self.prospects.remove(&id) else { return vec![] };
                let mut out = vec![Change::ProspectDelete { tenant_id: p.tenant_id, prospect_id: id }];
                let convs: Vec<i64> =
                    self.conversations.values().filter(|c| c.prospect_id == id).map(|c| c.conversation_id).collect();
                for c in convs {
                    out.extend(self.delete_conversation(c));
                }
                out
            }
            Op::Conversation { id, prospect, status, priority, at } => {
                let Some(p) = self.prospects.get(&prospect) else { return vec![] };
                if let Some(c) = self.conversations.get(&id)
                    && c.tenant_id != p.tenant_id
                {
                    return vec![];
                }
                let row = ConversationRow {
                    tenant_id: p.tenant_id,
                    conversation_id: id,
                    prospect_id: prospect,
                    channel: "whatsapp".into(),
                    status: Status::ALL[status],
                    snoozed_until: (Status::ALL[status] == Status::Snoozed).then_some(at + 1000),
                    priority,
                    created_at: at,
                };
                self.conversations.insert(id, row.clone());
                vec![Change::ConversationUpsert(row)]
            }
            Op::DeleteConversation { id } => self.delete_conversation(id),
            Op::Label { conv, label, member } => {
                let Some(c) = self.conversations.get(&conv) else { return vec![] };
                let tenant_id = c.tenant_id;
                let changed =
                    if member { self.labels.insert((conv, label)) } else { self.labels.remove(&(conv, label)) };
                if !changed {
                    return vec![];
                }
                vec![Change::ConversationLabel { tenant_id, conversation_id: conv, label_id: label, member }]
            }
            Op::Message { conv, inbound, at, read, body } => {
                let Some(c) = self.conversations.get(&conv) else { return vec![] };
                self.next_message += 1;
                let m = MessageRow {
                    tenant_id: c.tenant_id,
                    message_id: self.next_message,
                    conversation_id: conv,
                    direction: if inbound { Direction::In } else { Direction::Out },
                    sender_kind: if inbound { SenderKind::Prospect } else { SenderKind::Executive },
                    body: BODIES[body].repeat(if body == 0 { 40 } else { 1 }),
                    created_at: at,
                    read,
                };
                self.messages.insert(m.message_id, m.clone());
                vec![Change::MessageInsert(m)]
            }
            Op::ReadMessage { pick, read } => self.update_message(pick, |m| m.read = read),
            Op::MoveMessageTime { pick, at } => self.update_message(pick, |m| m.created_at = at),
            Op::DeleteMessage { pick } => {
                let Some(id) = self.pick(pick) else { return vec![] };
                let m = self.messages.remove(&id).unwrap();
                vec![Change::MessageDelete(m)]
            }
            Op::BotPause { conv, paused } => {
                let Some(c) = self.conversations.get(&conv) else { return vec![] };
                let tenant_id = c.tenant_id;
                match paused {
                    Some(p) => {
                        self.bot_pause.insert(conv, p);
                        vec![Change::BotPause { tenant_id, conversation_id: conv, paused: p }]
                    }
                    None => {
                        if self.bot_pause.remove(&conv).is_none() {
                            return vec![];
                        }
                        vec![Change::BotPause { tenant_id, conversation_id: conv, paused: false }]
                    }
                }
            }
            Op::Truncate(table) => {
                match table {
                    Table::Messages => self.messages.clear(),
                    Table::BotPause => self.bot_pause.clear(),
                    Table::CoordinatorTeams => self.coord.clear(),
                    Table::ConversationLabels => self.labels.clear(),
                    _ => unreachable!(),
                }
                vec![Change::Truncate(vec![table])]
            }
        }
    }

    fn pick(&self, pick: usize) -> Option<i64> {
        if self.messages.is_empty() {
            return None;
        }
        self.messages.keys().nth(pick % self.messages.len()).copied()
    }

    fn update_message(&mut self, pick: usize, f: impl FnOnce(&mut MessageRow)) -> Vec<Change> {
        let Some(id) = self.pick(pick) else { return vec![] };
        let old = self.messages[&id].clone();
        let m = self.messages.get_mut(&id).unwrap();
        f(m);
        vec![Change::MessageUpdate { old: Some(old), new: m.clone() }]
    }

    fn delete_conversation(&mut self, id: i64) -> Vec<Change> {
        let Some(c) = self.conversations.remove(&id) else { return vec![] };
        let mut out = vec![Change::ConversationDelete { tenant_id: c.tenant_id, conversation_id: id }];
        let msgs: Vec<i64> = self.messages.values().filter(|m| m.conversation_id == id).map(|m| m.message_id).collect();
        for m in msgs {
            out.push(Change::MessageDelete(self.messages.remove(&m).unwrap()));
        }
        if self.bot_pause.remove(&id).is_some() {
            out.push(Change::BotPause { tenant_id: c.tenant_id, conversation_id: id, paused: false });
        }
        let labels: Vec<i64> = self.labels.iter().filter(|(cv, _)| *cv == id).map(|(_, l)| *l).collect();
        for l in labels {
            self.labels.remove(&(id, l));
            out.push(Change::ConversationLabel {
                tenant_id: c.tenant_id,
                conversation_id: id,
                label_id: l,
                member: false,
            });
        }
        out
    }

    /// The newest message of a conversation, as the driver would read it from the database.
    fn newest(&self, conv: i64) -> Option<MessageRow> {
        self.messages
            .values()
            .filter(|m| m.conversation_id == conv)
            .max_by_key(|m| (m.created_at, m.message_id))
            .cloned()
    }

    /// The reference inbox of a tenant: every conversation with a prospect, in inbox order.
    fn rows(&self, tenant: i64) -> Vec<Row> {
        let mut rows: Vec<Row> = self
            .conversations
            .values()
            .filter(|c| c.tenant_id == TenantId(tenant))
            .filter_map(|c| {
                let p = self.prospects.get(&c.prospect_id)?;
                let msgs: Vec<&MessageRow> =
                    self.messages.values().filter(|m| m.conversation_id == c.conversation_id).collect();
                let last = msgs.iter().max_by_key(|m| (m.created_at, m.message_id)).map(|m| LastMessage {
                    message_id: m.message_id,
                    at: m.created_at,
                    direction: m.direction,
                    sender: m.sender_kind,
                    preview: m.body.chars().take(PREVIEW_CHARS).collect::<String>().into(),
                });
                Some(Row {
                    conversation_id: c.conversation_id,
                    prospect_id: p.prospect_id,
                    prospect_name: p.name.clone(),
                    prospect_phone: p.phone.clone(),
                    team_id: p.team_id,
                    executive_id: p.executive_id,
                    channel: c.channel.clone(),
                    status: c.status,
                    snoozed_until: c.snoozed_until,
                    priority: c.priority,
                    labels: self.labels.iter().filter(|(cv, _)| *cv == c.conversation_id).map(|(_, l)| *l).collect(),
                    last_activity_at: last.as_ref().map_or(c.created_at, |l| l.at),
                    last_message: last,
                    unread_count: msgs.iter().filter(|m| m.is_unread()).count() as i64,
                    message_count: msgs.len() as i64,
                    bot_paused: self.bot_pause.get(&c.conversation_id).copied().unwrap_or(false),
                    created_at: c.created_at,
                })
            })
            .collect();
        rows.sort_by_key(|r| r.key());
        rows
    }

    fn viewer(&self, tenant: i64, user: i64) -> Option<Viewer> {
        let role = *self.users.get(&(tenant, user))?;
        let teams = if role == Role::Coordinator {
            self.coord.iter().filter(|(tn, u, _)| *tn == tenant && *u == user).map(|(_, _, t)| TeamId(*t)).collect()
        } else {
            BTreeSet::new()
        };
        Some(Viewer { tenant_id: TenantId(tenant), user_id: UserId(user), role, teams })
    }

    /// What `user` sees under `filter`, by the visibility rule and the filter written out.
    fn expected(&self, tenant: i64, user: i64, f: &Filter) -> Vec<Row> {
        let Some(v) = self.viewer(tenant, user) else { return vec![] };
        let mut rows: Vec<Row> = self
            .rows(tenant)
            .into_iter()
            .filter(|r| {
                let pl = Placement {
                    tenant_id: TenantId(tenant),
                    team_id: TeamId(r.team_id),
                    executive_id: r.executive_id.map(UserId),
                };
                can_see(&v, &pl)
                    && f.team_id.is_none_or(|t| t == r.team_id)
                    && f.executive_id.is_none_or(|e| Some(e) == r.executive_id)
                    && f.unread.is_none_or(|u| u == (r.unread_count > 0))
                    && f.status.is_none_or(|s| s == r.status)
                    && match f.view.unwrap_or_default() {
                        View::All => true,
                        View::Mine => r.executive_id == Some(user),
                        View::Unassigned => r.executive_id.is_none(),
                    }
                    && f.label.is_none_or(|l| r.labels.contains(&l))
                    && f.priority.is_none_or(|p| p == r.priority)
                    && (f.sort != Sort::Waiting || r.waiting())
                    && f.q.as_deref().is_none_or(|q| naive_search(q, &r.prospect_name, r.prospect_phone.as_deref()))
            })
            .collect();
        // The sort written out: newest first; oldest first; unread ones first.
        match f.sort {
            Sort::Latest => {}
            Sort::Waiting => rows.sort_by_key(|r| (r.last_activity_at, r.conversation_id)),
            Sort::UnreadFirst => {
                rows.sort_by_key(|r| (r.unread_count == 0, std::cmp::Reverse((r.last_activity_at, r.conversation_id))))
            }
        }
        rows
    }
}

/// The search rule written out: a phone-like query's digits start the phone's digits or its
/// national number; otherwise every folded word of the query starts some folded word of the name.
fn naive_search(q: &str, name: &str, phone: Option<&str>) -> bool {
    let phone_like =
        q.chars().all(|c| c.is_ascii_digit() || " +-.()/".contains(c)) && q.chars().any(|c| c.is_ascii_digit());
    if phone_like {
        let d: String = q.chars().filter(char::is_ascii_digit).collect();
        let Some(phone) = phone else { return false };
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        return digits.starts_with(&d) || search::national(&digits).is_some_and(|n| n.starts_with(&d));
    }
    let split = |s: &str| -> Vec<String> {
        search::fold(s)
            .split(|c: char| c.is_ascii() && !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let (want, have) = (split(q), split(name));
    !want.is_empty() && want.iter().all(|w| have.iter().any(|h| h.starts_with(w.as_str())))
}

fn filters() -> Vec<Filter> {
    let mut out = vec![Filter::default()];
    for team in [1, 2] {
        out.push(Filter { team_id: Some(team), ..Filter::default() });
    }
    for exec in [1, 3] {
        out.push(Filter { executive_id: Some(exec), ..Filter::default() });
        out.push(Filter { executive_id: Some(exec), team_id: Some(1), ..Filter::default() });
    }
    for unread in [true, false] {
        out.push(Filter { unread: Some(unread), ..Filter::default() });
        out.push(Filter { unread: Some(unread), status: Some(Status::Open), ..Filter::default() });
    }
    out.push(Filter { status: Some(Status::Closed), ..Filter::default() });
    out.push(Filter { status: Some(Status::Snoozed), ..Filter::default() });
    for q in [
        "an",
        "Á",
        "+52155",
        "+521550001",
        "zz",
        "romero",
        "ROM lu",
        "lucia",
        "jose ángel",
        "ANGEL",
        "ma ro",
        "%",
        "5500",
        "55 0006",
        "+52 1 55 0006",
        "(55) 00-07",
        "521550008",
    ] {
        out.push(Filter { q: Some(q.into()), ..Filter::default() });
        out.push(Filter { q: Some(q.into()), unread: Some(true), ..Filter::default() });
    }
    // Triage: views, labels, priorities, sorts, alone and together.
    let mut triage = vec![Filter::default()];
    for view in [View::Mine, View::Unassigned, View::All] {
        triage.push(Filter { view: Some(view), ..Filter::default() });
        triage.push(Filter { view: Some(view), team_id: Some(1), ..Filter::default() });
    }
    triage.push(Filter { view: Some(View::Mine), executive_id: Some(3), ..Filter::default() });
    for label in [1, 2] {
        triage.push(Filter { label: Some(label), ..Filter::default() });
        triage.push(Filter { label: Some(label), team_id: Some(2), status: Some(Status::Open), ..Filter::default() });
        triage.push(Filter { label: Some(label), priority: Some(2), ..Filter::default() });
        triage.push(Filter { label: Some(label), view: Some(View::Unassigned), ..Filter::default() });
    }
    for priority in [0, 1, 4] {
        triage.push(Filter { priority: Some(priority), ..Filter::default() });
        triage.push(Filter { priority: Some(priority), executive_id: Some(1), ..Filter::default() });
    }
    triage.push(Filter { status: Some(Status::Snoozed), unread: Some(true), ..Filter::default() });
    // Each way the engine answers a tag: by tag and team, by tag and cell, two tags, priority none.
    triage.push(Filter { label: Some(1), executive_id: Some(1), team_id: Some(1), ..Filter::default() });
    triage.push(Filter { label: Some(2), view: Some(View::Mine), ..Filter::default() });
    triage.push(Filter { priority: Some(0), label: Some(1), ..Filter::default() });
    triage.push(Filter { priority: Some(3), view: Some(View::Unassigned), team_id: Some(1), ..Filter::default() });
    triage.push(Filter { priority: Some(0), unread: Some(false), status: Some(Status::Open), ..Filter::default() });
    triage.push(Filter { priority: Some(0), view: Some(View::Unassigned), ..Filter::default() });
    triage.push(Filter { label: Some(1), priority: Some(3), executive_id: Some(1), ..Filter::default() });
    triage.push(Filter { label: Some(2), priority: Some(0), view: Some(View::Mine), ..Filter::default() });
    for sort in [Sort::Waiting, Sort::UnreadFirst] {
        for f in triage.clone() {
            out.push(Filter { sort, ..f });
        }
        out.push(Filter { sort, unread: Some(false), ..Filter::default() });
        out.push(Filter { sort, unread: Some(true), ..Filter::default() });
        out.push(Filter { sort, q: Some("an".into()), ..Filter::default() });
        out.push(Filter { sort, q: Some("maria r".into()), ..Filter::default() });
        out.push(Filter { sort, q: Some("55 00".into()), unread: Some(true), ..Filter::default() });
        out.push(Filter { sort, q: Some("+52155".into()), label: Some(1), ..Filter::default() });
    }
    out.extend(triage);
    out
}

fn check(engine: &Engine, model: &Model) -> Result<(), TestCaseError> {
    for tenant in [1i64, 2] {
        for user in 1i64..6 {
            for f in filters() {
                let expected = model.expected(tenant, user, &f);
                let Some(inbox) = engine.tenant(TenantId(tenant)) else {
                    prop_assert!(expected.is_empty());
                    continue;
                };
                let mut got = Vec::new();
                let mut after: Option<Cursor> = None;
                let mut first = None;
                loop {
                    let page = inbox.page(user, &f, after, 3);
                    if first.is_none() {
                        first = Some((page.total, page.unread));
                    }
                    got.extend(page.rows);
                    match page.next {
                        Some(n) => after = Some(n),
                        None => break,
                    }
                }
                prop_assert_eq!(&got, &expected, "tenant {} user {} filter {:?}", tenant, user, f);
                let (total, unread) = first.unwrap();
                prop_assert_eq!(total, expected.len(), "total, tenant {} user {} filter {:?}", tenant, user, f);
                prop_assert_eq!(unread, expected.iter().filter(|r| r.unread_count > 0).count(), "unread count {:?}", f);
            }
        }
        if let Some(inbox) = engine.tenant(TenantId(tenant)) {
            prop_assert_eq!(inbox.rows(), model.rows(tenant));
        }
    }
    Ok(())
}

/// Splits `ops` into transactions of the given sizes, applying each to the model; returns the
/// transactions with, for each, the newest message of every conversation the engine asked for,
/// read from the model after that commit (as the driver reads PostgreSQL).
fn transactions(model: &mut Model, engine: &Engine, ops: &[Op], sizes: &[usize]) -> Vec<(Transaction, Newest)> {
    let mut sizes = sizes.iter().cycle();
    let mut pending = ops;
    let mut lsn = 0u64;
    let mut scratch = engine.clone();
    let mut out = Vec::new();
    while !pending.is_empty() {
        let n = (*sizes.next().unwrap()).min(pending.len());
        let (now, rest) = pending.split_at(n);
        pending = rest;
        let changes: Vec<Change> = now.iter().flat_map(|op| model.apply(op)).collect();
        lsn += 1;
        let tx = Transaction { commit_lsn: lsn, changes };
        let newest: Newest = scratch.newest_needed(&tx).into_iter().map(|k| (k, model.newest(k.1))).collect();
        scratch.apply_with_newest(&tx, &newest);
        out.push((tx, newest));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn engine_equals_model(ops in proptest::collection::vec(op(), 1..120), tx_sizes in proptest::collection::vec(1usize..6, 1..40)) {
        let mut model = Model::default();
        let mut engine = Engine::default();
        let mut sizes = tx_sizes.iter().cycle();
        let mut lsn = 0u64;
        let mut pending = ops.as_slice();
        while !pending.is_empty() {
            let n = (*sizes.next().unwrap()).min(pending.len());
            let (now, rest) = pending.split_at(n);
            pending = rest;
            let changes: Vec<Change> = now.iter().flat_map(|op| model.apply(op)).collect();
            lsn += 1;
            let applied = engine.apply(&Transaction { commit_lsn: lsn, changes });
            // The driver reads the newest message of conversations whose newest was deleted.
            for (tenant, conv) in applied.refresh_last_message {
                if let Some(m) = model.newest(conv) {
                    let mut out = Default::default();
                    engine.apply_change(&Change::LastMessageHint(m), &mut out);
                    prop_assert_eq!(out.refresh_last_message.len(), 0);
                    let _ = tenant;
                }
            }
        }
        prop_assert_eq!(engine.applied_lsn(), lsn);
        check(&engine, &model)?;
    }

    /// With the newest messages read before applying ([`Engine::newest_needed`]), one call applies
    /// a whole transaction: after each call the engine equals the model at that commit (a reader
    /// between calls sees a committed prefix), and nothing is left to refresh afterwards.
    #[test]
    fn every_transaction_applies_whole(ops in proptest::collection::vec(op(), 1..120), tx_sizes in proptest::collection::vec(1usize..6, 1..40)) {
        let mut model = Model::default();
        let mut engine = Engine::default();
        let mut sizes = tx_sizes.iter().cycle();
        let mut lsn = 0u64;
        let mut pending = ops.as_slice();
        while !pending.is_empty() {
            let n = (*sizes.next().unwrap()).min(pending.len());
            let (now, rest) = pending.split_at(n);
            pending = rest;
            let changes: Vec<Change> = now.iter().flat_map(|op| model.apply(op)).collect();
            lsn += 1;
            let tx = Transaction { commit_lsn: lsn, changes };
            let newest: Newest = engine.newest_needed(&tx).into_iter().map(|k| (k, model.newest(k.1))).collect();
            let applied = engine.apply_with_newest(&tx, &newest);
            prop_assert!(applied.refresh_last_message.is_empty(), "left to refresh: {:?}", applied.refresh_last_message);
            for tenant in [1i64, 2] {
                let got = engine.tenant(TenantId(tenant)).map(|i| i.rows()).unwrap_or_default();
                prop_assert_eq!(got, model.rows(tenant), "tenant {} after commit {}", tenant, lsn);
            }
        }
        check(&engine, &model)?;
    }
}

/// Readers on other threads, holding the engine's lock as the server's readers do, only ever see
/// the state after some whole committed transaction, whatever the writer is applying meanwhile.
#[test]
fn concurrent_readers_see_only_committed_prefixes() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, RwLock};

    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 40, ..ProptestConfig::default() });
    let input = (proptest::collection::vec(op(), 20..150), proptest::collection::vec(1usize..6, 1..40));
    runner
        .run(&input, |(ops, sizes)| {
            let mut model = Model::default();
            let txs = transactions(&mut model, &Engine::default(), &ops, &sizes);
            // Every state a reader may legitimately see: the empty start and each commit.
            let mut states: Vec<Vec<Row>> = vec![Vec::new()];
            let mut replay = Engine::default();
            for (tx, newest) in &txs {
                replay.apply_with_newest(tx, newest);
                let mut rows = Vec::new();
                for t in [1i64, 2] {
                    rows.extend(replay.tenant(TenantId(t)).map(|i| i.rows()).unwrap_or_default());
                }
                states.push(rows);
            }
            let engine = Arc::new(RwLock::new(Engine::default()));
            let done = Arc::new(AtomicBool::new(false));
            let readers: Vec<_> = (0..2)
                .map(|_| {
                    let (engine, done, states) = (engine.clone(), done.clone(), states.clone());
                    std::thread::spawn(move || {
                        let mut seen = 0usize;
                        while !done.load(Ordering::Acquire) || seen == 0 {
                            let rows = {
                                let e = engine.read().unwrap();
                                let mut rows = Vec::new();
                                for t in [1i64, 2] {
                                    rows.extend(e.tenant(TenantId(t)).map(|i| i.rows()).unwrap_or_default());
                                }
                                rows
                            };
                            if !states.contains(&rows) {
                                return Err(format!("a reader saw a state no commit left: {rows:?}"));
                            }
                            seen += 1;
                        }
                        Ok(seen)
                    })
                })
                .collect();
            for (tx, newest) in &txs {
                engine.write().unwrap().apply_with_newest(tx, newest);
                std::thread::yield_now();
            }
            done.store(true, Ordering::Release);
            for r in readers {
                r.join().unwrap().map_err(TestCaseError::fail)?;
            }
            Ok(())
        })
        .unwrap();
}
