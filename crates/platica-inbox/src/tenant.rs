//! One tenant's inbox: every conversation's row, the ordered indexes (whole tenant, per team, per
//! executive, per cell — team and executive —, and per tag — label or priority — alone, by team
//! and by cell), search by any word of the name or either form of the phone
//! ([`platica_domain::search`]), and the users and coordinator teams that decide visibility.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;

use platica_domain::Role;
use platica_domain::search::{self, Query};

use crate::change::Direction;
use crate::change::{Change, ConversationRow, MessageRow, Micros, ProspectRow, Status, Table};
use crate::query::{Cursor, Filter, LastMessage, PREVIEW_CHARS, Page, Row, Sort, View};
use crate::scope::{Entry, Key, Keys, Live, Merge, Scope, Selection};

#[derive(Clone, Debug)]
struct Prospect {
    name: Box<str>,
    phone: Option<Box<str>>,
    team_id: i64,
    executive_id: Option<i64>,
    conversations: Vec<i64>,
}

/// Where a conversation sits: the facts visibility looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Seat {
    pub team_id: i64,
    pub executive_id: Option<i64>,
}

/// Where a conversation currently sits in the indexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Placed {
    team_id: i64,
    executive_id: Option<i64>,
    priority: u8,
    entry: Entry,
}

#[derive(Clone, Debug)]
struct Conversation {
    prospect_id: i64,
    channel: Box<str>,
    status: Status,
    snoozed_until: Option<Micros>,
    priority: u8,
    /// Label ids, ascending.
    labels: Vec<i64>,
    /// The label indexes it sits in (its labels as of its last placement).
    labels_placed: Vec<i64>,
    created_at: Micros,
    last: Option<LastMessage>,
    unread: u32,
    messages: u32,
    bot_paused: bool,
    placed: Option<Placed>,
}

impl Conversation {
    fn activity(&self) -> Micros {
        self.last.as_ref().map_or(self.created_at, |m| m.at)
    }
}

fn newer(m: &MessageRow, than: Option<&LastMessage>) -> bool {
    match than {
        None => true,
        Some(l) => (m.created_at, m.message_id) > (l.at, l.message_id),
    }
}

fn last_of(m: &MessageRow) -> LastMessage {
    LastMessage {
        message_id: m.message_id,
        at: m.created_at,
        direction: m.direction,
        sender: m.sender_kind,
        preview: preview(&m.body),
    }
}

fn preview(body: &str) -> Box<str> {
    match body.char_indices().nth(PREVIEW_CHARS) {
        Some((cut, _)) => body[..cut].into(),
        None => body.into(),
    }
}

/// The conversations a viewer's query covers, before labels and priority: visibility first, then
/// the view, team and executive filters.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Slice {
    /// The whole tenant.
    All,
    /// These teams.
    Teams(BTreeSet<i64>),
    /// One executive's, in these teams only (`None`: in any team).
    Executive(i64, Option<BTreeSet<i64>>),
    /// Those without an executive, in these teams only (`None`: in any team).
    Unassigned(Option<BTreeSet<i64>>),
}

impl Slice {
    fn covers(&self, p: Placed) -> bool {
        let in_teams = |teams: &Option<BTreeSet<i64>>| teams.as_ref().is_none_or(|t| t.contains(&p.team_id));
        match self {
            Slice::All => true,
            Slice::Teams(t) => t.contains(&p.team_id),
            Slice::Executive(e, teams) => p.executive_id == Some(*e) && in_teams(teams),
            Slice::Unassigned(teams) => p.executive_id.is_none() && in_teams(teams),
        }
    }
}

/// A tag a conversation is filtered by: one of its labels, its priority (above none), or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Tag {
    Label(i64),
    Priority(u8),
    Both(i64, u8),
}

/// The tags of a conversation placed with `priority` and `labels`.
fn tags_of(priority: u8, labels: &[i64]) -> impl Iterator<Item = Tag> + '_ {
    let both = labels.iter().filter(move |_| priority > 0).map(move |l| Tag::Both(*l, priority));
    (priority > 0)
        .then_some(Tag::Priority(priority))
        .into_iter()
        .chain(labels.iter().map(|l| Tag::Label(*l)))
        .chain(both)
}

/// A conversation's cell: its team and its executive (`None`: unassigned). Every placed
/// conversation sits in exactly one.
type Cell = (i64, Option<i64>);

/// One tenant's live inbox.
#[derive(Clone, Debug, Default)]
pub struct TenantInbox {
    prospects: HashMap<i64, Prospect>,
    conversations: HashMap<i64, Conversation>,
    /// Conversations whose prospect is not (yet) known, by prospect.
    orphans: HashMap<i64, Vec<i64>>,
    all: Scope,
    teams: HashMap<i64, Scope>,
    executives: HashMap<i64, Scope>,
    /// Conversations whose prospect has no executive.
    unassigned: Scope,
    /// By cell (team and executive): an executive's or the unassigned conversations of some teams.
    cells: HashMap<Cell, Scope>,
    /// By tag (label, priority, both); by tag and team; by tag and cell. So that every slice with
    /// a tag is a union of whole indexes, and its counts are set lengths.
    tags: HashMap<Tag, Scope>,
    tag_teams: HashMap<(Tag, i64), Scope>,
    tag_cells: HashMap<(Tag, Cell), Scope>,
    /// Every folded word of every prospect's name, with the prospect.
    words: BTreeSet<(Box<str>, i64)>,
    /// Both keys (digits, national number) of every prospect's phone, with the prospect.
    phones: BTreeSet<(Box<str>, i64)>,
    users: HashMap<i64, Role>,
    coordinates: HashMap<i64, BTreeSet<i64>>,
}

impl TenantInbox {
    /// Applies one change; returns a conversation whose newest message was deleted and must be
    /// looked up again (see [`Change::LastMessageHint`]).
    pub fn apply(&mut self, change: &Change) -> Option<i64> {
        match change {
            Change::ProspectUpsert(p) => self.upsert_prospect(p),
            Change::ProspectDelete { prospect_id, .. } => self.delete_prospect(*prospect_id),
            Change::ConversationUpsert(c) => self.upsert_conversation(c),
            Change::ConversationDelete { conversation_id, .. } => self.delete_conversation(*conversation_id),
            Change::MessageInsert(m) => self.insert_message(m),
            Change::MessageUpdate { old, new } => return self.update_message(old.as_ref(), new),
            Change::MessageDelete(m) => return self.delete_message(m),
            Change::LastMessageHint(m) => self.hint(m),
            Change::ConversationStats { conversation_id, messages, unread, last, .. } => {
                if let Some(c) = self.conversations.get_mut(conversation_id) {
                    c.messages = *messages;
                    c.unread = *unread;
                    c.last = last.as_ref().map(last_of);
                    self.reindex(*conversation_id);
                }
            }
            Change::BotPause { conversation_id, paused, .. } => {
                if let Some(c) = self.conversations.get_mut(conversation_id) {
                    c.bot_paused = *paused;
                }
            }
            Change::ConversationLabel { conversation_id, label_id, member, .. } => {
                if let Some(c) = self.conversations.get_mut(conversation_id) {
                    match (c.labels.binary_search(label_id), *member) {
                        (Err(at), true) => c.labels.insert(at, *label_id),
                        (Ok(at), false) => {
                            c.labels.remove(at);
                        }
                        _ => {}
                    }
                    self.reindex(*conversation_id);
                }
            }
            Change::UserUpsert(u) => {
                self.users.insert(u.user_id, u.role);
            }
            Change::UserDelete { user_id, .. } => {
                self.users.remove(user_id);
                self.coordinates.remove(user_id);
            }
            Change::CoordinatorTeam { user_id, team_id, member, .. } => {
                let teams = self.coordinates.entry(*user_id).or_default();
                if *member {
                    teams.insert(*team_id);
                } else {
                    teams.remove(team_id);
                    if teams.is_empty() {
                        self.coordinates.remove(user_id);
                    }
                }
            }
            Change::TenantDelete { .. } => *self = TenantInbox::default(),
            Change::Truncate(tables) => self.truncate(tables),
        }
        None
    }

    /// The search keys of a prospect: its name's folded words and its phone's keys (recomputed
    /// rather than kept, to keep memory to the indexes themselves).
    fn search_keys(name: &str, phone: Option<&str>) -> (Vec<String>, Vec<String>) {
        (search::name_words(name), phone.map(search::phone_keys).unwrap_or_default())
    }

    /// Takes a prospect's search keys out of the word and phone indexes.
    fn unindex_search(&mut self, prospect_id: i64, old: &Prospect) {
        let (words, phones) = Self::search_keys(&old.name, old.phone.as_deref());
        for w in words {
            self.words.remove(&(w.into_boxed_str(), prospect_id));
        }
        for k in phones {
            self.phones.remove(&(k.into_boxed_str(), prospect_id));
        }
    }

    fn upsert_prospect(&mut self, p: &ProspectRow) {
        let (words, phone_keys) = Self::search_keys(&p.name, p.phone.as_deref());
        let conversations = match self.prospects.remove(&p.prospect_id) {
            Some(old) => {
                self.unindex_search(p.prospect_id, &old);
                old.conversations
            }
            None => self.orphans.remove(&p.prospect_id).unwrap_or_default(),
        };
        for w in words {
            self.words.insert((w.into_boxed_str(), p.prospect_id));
        }
        for k in phone_keys {
            self.phones.insert((k.into_boxed_str(), p.prospect_id));
        }
        let convs = conversations.clone();
        self.prospects.insert(
            p.prospect_id,
            Prospect {
                name: p.name.as_str().into(),
                phone: p.phone.as_deref().map(Into::into),
                team_id: p.team_id,
                executive_id: p.executive_id,
                conversations,
            },
        );
        for c in convs {
            self.reindex(c);
        }
    }

    fn delete_prospect(&mut self, prospect_id: i64) {
        let Some(old) = self.prospects.remove(&prospect_id) else { return };
        self.unindex_search(prospect_id, &old);
        for &c in &old.conversations {
            self.reindex(c);
        }
        // Its conversations are deleted by the cascade in the same transaction; until then they
        // wait for a prospect like any other orphan.
        if !old.conversations.is_empty() {
            self.orphans.insert(prospect_id, old.conversations);
        }
    }

    fn conversations_of(&mut self, prospect_id: i64) -> &mut Vec<i64> {
        match self.prospects.get_mut(&prospect_id) {
            Some(p) => &mut p.conversations,
            None => self.orphans.entry(prospect_id).or_default(),
        }
    }

    fn detach(&mut self, prospect_id: i64, conversation_id: i64) {
        let list = self.conversations_of(prospect_id);
        list.retain(|c| *c != conversation_id);
        if list.is_empty() {
            self.orphans.remove(&prospect_id);
        }
    }

    fn upsert_conversation(&mut self, c: &ConversationRow) {
        match self.conversations.get_mut(&c.conversation_id) {
            Some(conv) => {
                let moved_from = (conv.prospect_id != c.prospect_id).then_some(conv.prospect_id);
                conv.prospect_id = c.prospect_id;
                conv.channel = c.channel.as_str().into();
                conv.status = c.status;
                conv.snoozed_until = c.snoozed_until;
                conv.priority = c.priority;
                conv.created_at = c.created_at;
                if let Some(old) = moved_from {
                    self.detach(old, c.conversation_id);
                    self.conversations_of(c.prospect_id).push(c.conversation_id);
                }
            }
            None => {
                self.conversations.insert(
                    c.conversation_id,
                    Conversation {
                        prospect_id: c.prospect_id,
                        channel: c.channel.as_str().into(),
                        status: c.status,
                        snoozed_until: c.snoozed_until,
                        priority: c.priority,
                        labels: Vec::new(),
                        labels_placed: Vec::new(),
                        created_at: c.created_at,
                        last: None,
                        unread: 0,
                        messages: 0,
                        bot_paused: false,
                        placed: None,
                    },
                );
                self.conversations_of(c.prospect_id).push(c.conversation_id);
            }
        }
        self.reindex(c.conversation_id);
    }

    fn delete_conversation(&mut self, conversation_id: i64) {
        let Some(conv) = self.conversations.get(&conversation_id) else { return };
        let (prospect_id, placed) = (conv.prospect_id, conv.placed);
        if let Some(p) = placed {
            self.unplace(conversation_id, p);
        }
        self.detach(prospect_id, conversation_id);
        self.conversations.remove(&conversation_id);
    }

    fn insert_message(&mut self, m: &MessageRow) {
        let Some(conv) = self.conversations.get_mut(&m.conversation_id) else { return };
        conv.messages += 1;
        if m.is_unread() {
            conv.unread += 1;
        }
        if newer(m, conv.last.as_ref()) {
            conv.last = Some(last_of(m));
        }
        self.reindex(m.conversation_id);
    }

    fn update_message(&mut self, old: Option<&MessageRow>, new: &MessageRow) -> Option<i64> {
        let Some(old) = old else {
            // Without the old row (no REPLICA IDENTITY FULL) only what the new row says can be
            // applied; the migration sets FULL, so this is a schema error upstream.
            return None;
        };
        if old.conversation_id != new.conversation_id {
            let refresh = self.delete_message(old);
            self.insert_message(new);
            return refresh;
        }
        let conv = self.conversations.get_mut(&new.conversation_id)?;
        if old.is_unread() {
            conv.unread = conv.unread.saturating_sub(1);
        }
        if new.is_unread() {
            conv.unread += 1;
        }
        let mut refresh = None;
        if conv.last.as_ref().is_some_and(|l| l.message_id == new.message_id) {
            // The newest message changed; if it moved back in time another may now be newest.
            if (new.created_at, new.message_id) < (old.created_at, old.message_id) && conv.messages > 1 {
                refresh = Some(new.conversation_id);
            }
            conv.last = Some(last_of(new));
        } else if newer(new, conv.last.as_ref()) {
            conv.last = Some(last_of(new));
        }
        self.reindex(new.conversation_id);
        refresh
    }

    fn delete_message(&mut self, m: &MessageRow) -> Option<i64> {
        let conv = self.conversations.get_mut(&m.conversation_id)?;
        conv.messages = conv.messages.saturating_sub(1);
        if m.is_unread() {
            conv.unread = conv.unread.saturating_sub(1);
        }
        let mut refresh = None;
        if conv.last.as_ref().is_some_and(|l| l.message_id == m.message_id) {
            conv.last = None;
            if conv.messages > 0 {
                refresh = Some(m.conversation_id);
            }
        }
        self.reindex(m.conversation_id);
        refresh
    }

    fn hint(&mut self, m: &MessageRow) {
        let Some(conv) = self.conversations.get_mut(&m.conversation_id) else { return };
        if conv.messages > 0 && newer(m, conv.last.as_ref()) {
            conv.last = Some(last_of(m));
            self.reindex(m.conversation_id);
        }
    }

    fn truncate(&mut self, tables: &[Table]) {
        for t in tables {
            match t {
                Table::Tenants => *self = TenantInbox::default(),
                Table::Users => {
                    self.users.clear();
                    self.coordinates.clear();
                }
                Table::CoordinatorTeams => self.coordinates.clear(),
                Table::Prospects => {
                    let ids: Vec<i64> = self.prospects.keys().copied().collect();
                    for id in ids {
                        self.delete_prospect(id);
                    }
                }
                Table::Conversations => {
                    let ids: Vec<i64> = self.conversations.keys().copied().collect();
                    for id in ids {
                        self.delete_conversation(id);
                    }
                }
                Table::Messages => {
                    let ids: Vec<i64> = self.conversations.keys().copied().collect();
                    for id in ids {
                        if let Some(c) = self.conversations.get_mut(&id) {
                            c.last = None;
                            c.unread = 0;
                            c.messages = 0;
                        }
                        self.reindex(id);
                    }
                }
                Table::BotPause => self.conversations.values_mut().for_each(|c| c.bot_paused = false),
                Table::ConversationLabels => {
                    let ids: Vec<i64> = self.conversations.keys().copied().collect();
                    for id in ids {
                        if let Some(c) = self.conversations.get_mut(&id) {
                            c.labels.clear();
                        }
                        self.reindex(id);
                    }
                }
            }
        }
    }

    /// Puts a conversation where its prospect, activity, priority and labels say it belongs.
    fn reindex(&mut self, conversation_id: i64) {
        let Some(conv) = self.conversations.get(&conversation_id) else { return };
        let want = self.prospects.get(&conv.prospect_id).map(|p| Placed {
            team_id: p.team_id,
            executive_id: p.executive_id,
            priority: conv.priority,
            entry: Entry {
                key: Key { at: conv.activity(), id: conversation_id },
                status: conv.status,
                unread: conv.unread > 0,
                waiting: conv.last.as_ref().is_some_and(|l| l.direction == Direction::In),
            },
        });
        let have = conv.placed;
        if want == have && (want.is_none() || conv.labels == conv.labels_placed) {
            return;
        }
        let labels = conv.labels.clone();
        if let Some(h) = have {
            self.unplace(conversation_id, h);
        }
        if let Some(w) = want {
            let cell = (w.team_id, w.executive_id);
            self.all.insert(w.entry);
            self.teams.entry(w.team_id).or_default().insert(w.entry);
            match w.executive_id {
                Some(e) => self.executives.entry(e).or_default().insert(w.entry),
                None => self.unassigned.insert(w.entry),
            }
            self.cells.entry(cell).or_default().insert(w.entry);
            for tag in tags_of(w.priority, &labels) {
                self.tags.entry(tag).or_default().insert(w.entry);
                self.tag_teams.entry((tag, w.team_id)).or_default().insert(w.entry);
                self.tag_cells.entry((tag, cell)).or_default().insert(w.entry);
            }
        }
        if let Some(conv) = self.conversations.get_mut(&conversation_id) {
            conv.placed = want;
            conv.labels_placed = if want.is_some() { labels } else { Vec::new() };
        }
    }

    fn unplace(&mut self, conversation_id: i64, p: Placed) {
        fn take<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Scope>, k: K, e: Entry) {
            if let Some(s) = map.get_mut(&k) {
                s.remove(e);
                if s.is_empty() {
                    map.remove(&k);
                }
            }
        }
        let cell = (p.team_id, p.executive_id);
        self.all.remove(p.entry);
        take(&mut self.teams, p.team_id, p.entry);
        match p.executive_id {
            Some(e) => take(&mut self.executives, e, p.entry),
            None => self.unassigned.remove(p.entry),
        }
        take(&mut self.cells, cell, p.entry);
        let placed = self.conversations.get_mut(&conversation_id).map(|c| std::mem::take(&mut c.labels_placed));
        for tag in tags_of(p.priority, &placed.unwrap_or_default()) {
            take(&mut self.tags, tag, p.entry);
            take(&mut self.tag_teams, (tag, p.team_id), p.entry);
            take(&mut self.tag_cells, (tag, cell), p.entry);
        }
        if let Some(conv) = self.conversations.get_mut(&conversation_id) {
            conv.placed = None;
        }
    }

    // ---- reading ----

    /// Where a conversation sits in the inbox (`None`: not in it, e.g. its prospect is unknown).
    pub fn seat(&self, conversation_id: i64) -> Option<Seat> {
        let p = self.conversations.get(&conversation_id)?.placed?;
        Some(Seat { team_id: p.team_id, executive_id: p.executive_id })
    }

    /// The conversations of a prospect.
    pub fn prospect_conversations(&self, prospect_id: i64) -> Vec<i64> {
        match self.prospects.get(&prospect_id) {
            Some(p) => p.conversations.clone(),
            None => self.orphans.get(&prospect_id).cloned().unwrap_or_default(),
        }
    }

    /// Where a prospect sits.
    pub fn prospect_seat(&self, prospect_id: i64) -> Option<Seat> {
        self.prospects.get(&prospect_id).map(|p| Seat { team_id: p.team_id, executive_id: p.executive_id })
    }

    /// Whether `user_id` may see a conversation sitting at `seat` (the visibility rule, on the
    /// engine's own users and coordinator teams).
    pub fn can_see(&self, user_id: i64, seat: Seat) -> bool {
        match self.role(user_id) {
            None => false,
            Some(Role::Admin) => true,
            Some(Role::Coordinator) => self.coordinates.get(&user_id).is_some_and(|t| t.contains(&seat.team_id)),
            Some(Role::Executive) => seat.executive_id == Some(user_id),
        }
    }

    /// Whether a row matches `filter` for `user_id` (visibility aside: see [`Self::can_see`]).
    pub fn matches(&self, user_id: i64, row: &Row, filter: &Filter) -> bool {
        filter.team_id.is_none_or(|t| t == row.team_id)
            && filter.executive_id.is_none_or(|e| Some(e) == row.executive_id)
            && match filter.view.unwrap_or_default() {
                View::All => true,
                View::Mine => row.executive_id == Some(user_id),
                View::Unassigned => row.executive_id.is_none(),
            }
            && filter.unread.is_none_or(|u| u == (row.unread_count > 0))
            && filter.status.is_none_or(|s| s == row.status)
            && filter.label.is_none_or(|l| row.labels.contains(&l))
            && filter.priority.is_none_or(|p| p == row.priority)
            && (filter.sort != Sort::Waiting || row.waiting())
            && filter
                .q
                .as_deref()
                .filter(|q| !q.is_empty())
                .is_none_or(|q| Query::parse(q).matches(&row.prospect_name, row.prospect_phone.as_deref()))
    }

    /// The role of a user, as the change stream last said.
    pub fn role(&self, user_id: i64) -> Option<Role> {
        self.users.get(&user_id).copied()
    }

    /// The teams a coordinator coordinates.
    pub fn coordinated_teams(&self, user_id: i64) -> BTreeSet<i64> {
        self.coordinates.get(&user_id).cloned().unwrap_or_default()
    }

    /// The conversations a user's inbox covers under `filter`'s view, team and executive
    /// (visibility first, then those filters); `None` when it covers none.
    fn slice(&self, user_id: i64, filter: &Filter) -> Option<Slice> {
        let role = self.role(user_id)?;
        let view = filter.view.unwrap_or_default();
        let executive = match (view, filter.executive_id) {
            (View::Mine, Some(e)) if e != user_id => return None,
            (View::Mine, _) => Some(user_id),
            (View::Unassigned, Some(_)) => return None,
            (_, e) => e,
        };
        let unassigned = view == View::Unassigned;
        let team = filter.team_id.map(|t| BTreeSet::from([t]));
        match role {
            Role::Admin => Some(match (executive, unassigned, team) {
                (Some(e), _, team) => Slice::Executive(e, team),
                (None, true, team) => Slice::Unassigned(team),
                (None, false, Some(team)) => Slice::Teams(team),
                (None, false, None) => Slice::All,
            }),
            Role::Coordinator => {
                let allowed: BTreeSet<i64> = self
                    .coordinated_teams(user_id)
                    .into_iter()
                    .filter(|t| filter.team_id.is_none_or(|f| f == *t))
                    .collect();
                Some(match (executive, unassigned) {
                    (Some(e), _) => Slice::Executive(e, Some(allowed)),
                    (None, true) => Slice::Unassigned(Some(allowed)),
                    (None, false) => Slice::Teams(allowed),
                })
            }
            Role::Executive => {
                if executive.is_some_and(|e| e != user_id) || unassigned {
                    return None;
                }
                Some(Slice::Executive(user_id, team))
            }
        }
    }

    /// The teams a slice's cells can be in: its own, or every team of the tenant.
    fn teams_of<'a>(&'a self, teams: &'a Option<BTreeSet<i64>>) -> Box<dyn Iterator<Item = i64> + 'a> {
        match teams {
            Some(t) => Box::new(t.iter().copied()),
            None => Box::new(self.teams.keys().copied()),
        }
    }

    /// The whole indexes whose union is exactly `slice`'s conversations with `tag` (with every
    /// conversation of the slice when `tag` is `None`).
    fn indexes(&self, slice: &Slice, tag: Option<Tag>) -> Vec<&Scope> {
        fn some(s: Option<&Scope>) -> Vec<&Scope> {
            s.into_iter().collect()
        }
        let cells = |executive: Option<i64>, teams: &Option<BTreeSet<i64>>| -> Vec<&Scope> {
            self.teams_of(teams)
                .filter_map(|t| match tag {
                    None => self.cells.get(&(t, executive)),
                    Some(g) => self.tag_cells.get(&(g, (t, executive))),
                })
                .collect()
        };
        match (slice, tag) {
            (Slice::All, None) => vec![&self.all],
            (Slice::All, Some(g)) => some(self.tags.get(&g)),
            (Slice::Teams(teams), None) => teams.iter().filter_map(|t| self.teams.get(t)).collect(),
            (Slice::Teams(teams), Some(g)) => teams.iter().filter_map(|t| self.tag_teams.get(&(g, *t))).collect(),
            (Slice::Executive(e, None), None) => some(self.executives.get(e)),
            (Slice::Unassigned(None), None) => vec![&self.unassigned],
            (Slice::Executive(e, teams), _) => cells(Some(*e), teams),
            (Slice::Unassigned(teams), _) => cells(None, teams),
        }
    }

    /// Every cell's (team, executive) live figures for a report, conversations waiting since
    /// before `waiting_before` counted apart. Cells without conversations are left out.
    pub fn live_cells(&self, waiting_before: Micros) -> Vec<(Seat, Live)> {
        self.cells
            .iter()
            .filter(|(_, s)| !s.is_empty())
            .map(|((team_id, executive_id), s)| {
                (Seat { team_id: *team_id, executive_id: *executive_id }, s.live(waiting_before))
            })
            .collect()
    }

    /// One page of `user_id`'s inbox in `filter.sort`'s order, strictly after `after`.
    ///
    /// The slice with its label, priority or both is a union of whole indexes, so its counts are
    /// set lengths and its pages range scans.
    pub fn page(&self, user_id: i64, filter: &Filter, after: Option<Cursor>, limit: usize) -> Page {
        let Some(slice) = self.slice(user_id, filter) else { return Page::default() };
        let sel = Selection { status: filter.status, unread: filter.unread, waiting: filter.sort == Sort::Waiting };
        if let Some(q) = filter.q.as_deref().filter(|q| !q.is_empty()) {
            return self.search_page(&slice, sel, filter, q, after, limit);
        }
        // Priority none is no tag: the conversations of the slice (with the label) less those with
        // each priority, whose pages check each conversation's priority.
        let none_priority = filter.priority == Some(0);
        let tag = match (filter.label, filter.priority.filter(|p| *p > 0)) {
            (Some(l), Some(p)) => Some(Tag::Both(l, p)),
            (Some(l), None) => Some(Tag::Label(l)),
            (None, Some(p)) => Some(Tag::Priority(p)),
            (None, None) => None,
        };
        let scopes = self.indexes(&slice, tag);
        let accept = |k: &Key| -> bool {
            let Some(c) = self.conversations.get(&k.id) else { return false };
            let Some(p) = c.placed else { return false };
            (!none_priority || p.priority == 0) && (sel.unread != Some(false) || !p.entry.unread)
        };
        let counts_of = |scopes: &[&Scope]| {
            scopes.iter().fold((0, 0), |(t, u), s| {
                let (st, su) = s.counts(sel);
                (t + st, u + su)
            })
        };
        let (total, unread) = if none_priority {
            let priorities = self.tags.keys().filter_map(|t| match (t, filter.label) {
                (Tag::Priority(p), None) => Some(Tag::Priority(*p)),
                (Tag::Both(l, p), Some(want)) if *l == want => Some(Tag::Both(*l, *p)),
                _ => None,
            });
            priorities.fold(counts_of(&scopes), |(t, u), p| {
                let (pt, pu) = counts_of(&self.indexes(&slice, Some(p)));
                (t.saturating_sub(pt), u.saturating_sub(pu))
            })
        } else {
            counts_of(&scopes)
        };
        let walk = |sel: Selection, after: Option<Key>, backwards: bool| -> Merge<'_> {
            let ranges: Vec<Keys<'_>> = scopes.iter().flat_map(|s| s.ranges(sel, after, backwards)).collect();
            Merge::new(ranges, backwards)
        };
        match filter.sort {
            Sort::Latest => {
                let keys = walk(sel, after.map(|c| c.key), false).filter(|k| accept(k)).map(Cursor::from);
                self.paginate(keys, limit, total, unread)
            }
            Sort::Waiting => {
                let keys = walk(sel, after.map(|c| c.key), true).filter(|k| accept(k)).map(Cursor::from);
                self.paginate(keys, limit, total, unread)
            }
            Sort::UnreadFirst => {
                let in_rest = after.is_some_and(|c| c.rest);
                let first = (filter.unread != Some(false) && !in_rest).then(|| {
                    walk(Selection { unread: Some(true), ..sel }, after.map(|c| c.key), false)
                        .filter(|k| accept(k))
                        .map(|key| Cursor { key, rest: false })
                });
                let rest_after = if in_rest { after.map(|c| c.key) } else { None };
                let rest = (filter.unread != Some(true)).then(|| {
                    walk(Selection { unread: Some(false), ..sel }, rest_after, false)
                        .filter(|k| accept(k) && self.conversations.get(&k.id).is_none_or(|c| c.unread == 0))
                        .map(|key| Cursor { key, rest: true })
                });
                let keys = first.into_iter().flatten().chain(rest.into_iter().flatten());
                self.paginate(keys, limit, total, unread)
            }
        }
    }

    /// The page of the first `limit` positions of an ordered stream, with the cursor of the next.
    fn paginate(&self, keys: impl Iterator<Item = Cursor>, limit: usize, total: usize, unread: usize) -> Page {
        let mut keys: Vec<Cursor> = keys.take(limit + 1).collect();
        let next = if keys.len() > limit {
            keys.truncate(limit);
            keys.last().copied()
        } else {
            None
        };
        Page { rows: keys.iter().filter_map(|k| self.row(k.key.id)).collect(), next, total, unread }
    }

    fn search_page(
        &self,
        slice: &Slice,
        sel: Selection,
        filter: &Filter,
        q: &str,
        after: Option<Cursor>,
        limit: usize,
    ) -> Page {
        let query = Query::parse(q);
        // The candidates: every prospect with a key starting with the query's phone digits, or
        // with its longest word (the fewest candidates); each then checked against every word.
        let (set, prefix) = match &query {
            Query::Phone(d) => (&self.phones, d.as_str()),
            Query::Words(ws) => match ws.iter().max_by_key(|w| w.len()) {
                Some(w) => (&self.words, w.as_str()),
                None => return Page::default(),
            },
            Query::Nothing => return Page::default(),
        };
        let start: (Box<str>, i64) = (prefix.into(), i64::MIN);
        let mut candidates: Vec<i64> = set
            .range((Bound::Included(start), Bound::Unbounded))
            .take_while(|(text, _)| text.starts_with(prefix))
            .map(|(_, prospect_id)| *prospect_id)
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        let mut entries: Vec<Entry> = Vec::new();
        for prospect_id in &candidates {
            let Some(p) = self.prospects.get(prospect_id) else { continue };
            // One word or a phone: every candidate matches; more words: check the others.
            if matches!(&query, Query::Words(ws) if ws.len() > 1) && !query.matches(&p.name, p.phone.as_deref()) {
                continue;
            }
            for c in &p.conversations {
                let Some(conv) = self.conversations.get(c) else { continue };
                let Some(placed) = conv.placed else { continue };
                if slice.covers(placed)
                    && selected(sel, placed.entry)
                    && filter.label.is_none_or(|l| conv.labels_placed.binary_search(&l).is_ok())
                    && filter.priority.is_none_or(|pr| placed.priority == pr)
                {
                    entries.push(placed.entry);
                }
            }
        }
        let sort = filter.sort;
        entries.sort_by(|a, b| sort.cmp(&sort.position(a), &sort.position(b)));
        let total = entries.len();
        let unread = entries.iter().filter(|e| e.unread).count();
        let keys = entries
            .iter()
            .map(|e| sort.position(e))
            .filter(|p| after.is_none_or(|a| sort.cmp(p, &a) == std::cmp::Ordering::Greater));
        self.paginate(keys, limit, total, unread)
    }

    /// The id of a conversation's newest message, as the engine knows it.
    pub fn last_message_id(&self, conversation_id: i64) -> Option<i64> {
        self.conversations.get(&conversation_id)?.last.as_ref().map(|l| l.message_id)
    }

    /// The inbox row of a conversation, if it is placed (its prospect is known).
    pub fn row(&self, conversation_id: i64) -> Option<Row> {
        let c = self.conversations.get(&conversation_id)?;
        let placed = c.placed?;
        let p = self.prospects.get(&c.prospect_id)?;
        Some(Row {
            conversation_id,
            prospect_id: c.prospect_id,
            prospect_name: p.name.to_string(),
            prospect_phone: p.phone.as_deref().map(str::to_owned),
            team_id: placed.team_id,
            executive_id: placed.executive_id,
            channel: c.channel.to_string(),
            status: c.status,
            snoozed_until: c.snoozed_until,
            priority: c.priority,
            labels: c.labels_placed.clone(),
            last_message: c.last.clone(),
            last_activity_at: c.activity(),
            unread_count: i64::from(c.unread),
            message_count: i64::from(c.messages),
            bot_paused: c.bot_paused,
            created_at: c.created_at,
        })
    }

    /// Every inbox row, in inbox order (for verification).
    pub fn rows(&self) -> Vec<Row> {
        Merge::new(self.all.ranges(Selection::default(), None, false), false).filter_map(|k| self.row(k.id)).collect()
    }
}

fn selected(sel: Selection, e: Entry) -> bool {
    (!sel.waiting || e.waiting) && sel.status.is_none_or(|s| s == e.status) && sel.unread.is_none_or(|u| u == e.unread)
}
