//! One tenant's inbox: every conversation's row, the ordered indexes (whole tenant, per team, per
//! executive), prefix search, and the users and coordinator teams that decide visibility.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;

use platica_domain::Role;

use crate::change::{Change, ConversationRow, MessageRow, Micros, ProspectRow, Status, Table};
use crate::query::{Filter, LastMessage, PREVIEW_CHARS, Page, Row};
use crate::scope::{Entry, Key, Merge, Scope, Selection};

#[derive(Clone, Debug)]
struct Prospect {
    name: Box<str>,
    name_lower: Box<str>,
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

/// What a search term matches: a name prefix (lower-cased) or a phone prefix.
enum Search {
    Name(String),
    Phone(String),
}

impl Search {
    fn parse(q: &str) -> Search {
        if q.starts_with('+') || q.starts_with(|c: char| c.is_ascii_digit()) {
            Search::Phone(format!("+{}", q.chars().filter(char::is_ascii_digit).collect::<String>()))
        } else {
            Search::Name(q.to_lowercase())
        }
    }
}

/// One index of a tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ScopeKey {
    All,
    Team(i64),
    Executive(i64),
}

impl ScopeKey {
    fn covers(self, p: Placed) -> bool {
        match self {
            ScopeKey::All => true,
            ScopeKey::Team(t) => p.team_id == t,
            ScopeKey::Executive(e) => p.executive_id == Some(e),
        }
    }
}

/// Which conversations a viewer's query covers: the indexes to scan, plus an optional team
/// condition for indexes that are not team indexes.
struct Plan {
    scopes: Vec<ScopeKey>,
    /// Conversations must sit in one of these teams (`None`: any team).
    teams: Option<BTreeSet<i64>>,
}

impl Plan {
    fn covers(&self, p: Placed) -> bool {
        self.scopes.iter().any(|s| s.covers(p)) && self.teams.as_ref().is_none_or(|t| t.contains(&p.team_id))
    }
}

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
    names: BTreeSet<(Box<str>, i64)>,
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

    fn upsert_prospect(&mut self, p: &ProspectRow) {
        let name_lower: Box<str> = p.name.to_lowercase().into();
        let conversations = match self.prospects.remove(&p.prospect_id) {
            Some(old) => {
                self.names.remove(&(old.name_lower, p.prospect_id));
                if let Some(phone) = old.phone {
                    self.phones.remove(&(phone, p.prospect_id));
                }
                old.conversations
            }
            None => self.orphans.remove(&p.prospect_id).unwrap_or_default(),
        };
        self.names.insert((name_lower.clone(), p.prospect_id));
        if let Some(phone) = &p.phone {
            self.phones.insert((phone.as_str().into(), p.prospect_id));
        }
        let convs = conversations.clone();
        self.prospects.insert(
            p.prospect_id,
            Prospect {
                name: p.name.as_str().into(),
                name_lower,
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
        self.names.remove(&(old.name_lower, prospect_id));
        if let Some(phone) = old.phone {
            self.phones.remove(&(phone, prospect_id));
        }
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
                Table::ConversationLabels => self.conversations.values_mut().for_each(|c| c.labels.clear()),
            }
        }
    }

    /// Puts a conversation where its prospect and activity say it belongs.
    fn reindex(&mut self, conversation_id: i64) {
        let Some(conv) = self.conversations.get(&conversation_id) else { return };
        let want = self.prospects.get(&conv.prospect_id).map(|p| Placed {
            team_id: p.team_id,
            executive_id: p.executive_id,
            entry: Entry {
                key: Key { at: conv.activity(), id: conversation_id },
                status: conv.status,
                unread: conv.unread > 0,
            },
        });
        let have = conv.placed;
        if want == have {
            return;
        }
        if let Some(h) = have {
            self.unplace(conversation_id, h);
        }
        if let Some(w) = want {
            self.all.insert(w.entry);
            self.teams.entry(w.team_id).or_default().insert(w.entry);
            if let Some(e) = w.executive_id {
                self.executives.entry(e).or_default().insert(w.entry);
            }
        }
        if let Some(conv) = self.conversations.get_mut(&conversation_id) {
            conv.placed = want;
        }
    }

    fn unplace(&mut self, conversation_id: i64, p: Placed) {
        self.all.remove(p.entry);
        if let Some(s) = self.teams.get_mut(&p.team_id) {
            s.remove(p.entry);
            if s.is_empty() {
                self.teams.remove(&p.team_id);
            }
        }
        if let Some(e) = p.executive_id
            && let Some(s) = self.executives.get_mut(&e)
        {
            s.remove(p.entry);
            if s.is_empty() {
                self.executives.remove(&e);
            }
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

    /// Whether a row of `filter`'s shape matches (visibility aside).
    pub fn matches(&self, row: &Row, filter: &Filter) -> bool {
        filter.team_id.is_none_or(|t| t == row.team_id)
            && filter.executive_id.is_none_or(|e| Some(e) == row.executive_id)
            && filter.unread.is_none_or(|u| u == (row.unread_count > 0))
            && filter.status.is_none_or(|s| s == row.status)
            && filter.q.as_deref().filter(|q| !q.is_empty()).is_none_or(|q| match Search::parse(q) {
                Search::Name(p) => row.prospect_name.to_lowercase().starts_with(&p),
                Search::Phone(p) => row.prospect_phone.as_deref().is_some_and(|phone| phone.starts_with(&p)),
            })
    }

    /// The role of a user, as the change stream last said.
    pub fn role(&self, user_id: i64) -> Option<Role> {
        self.users.get(&user_id).copied()
    }

    /// The teams a coordinator coordinates.
    pub fn coordinated_teams(&self, user_id: i64) -> BTreeSet<i64> {
        self.coordinates.get(&user_id).cloned().unwrap_or_default()
    }

    /// The conversations a user's inbox covers under `filter` (visibility first, then filters).
    fn plan(&self, user_id: i64, filter: &Filter) -> Option<Plan> {
        let role = self.role(user_id)?;
        let wanted_team = |t: i64| filter.team_id.is_none_or(|f| f == t);
        match role {
            Role::Admin => Some(match (filter.executive_id, filter.team_id) {
                (Some(e), team) => Plan { scopes: vec![ScopeKey::Executive(e)], teams: team.map(|t| [t].into()) },
                (None, Some(t)) => Plan { scopes: vec![ScopeKey::Team(t)], teams: None },
                (None, None) => Plan { scopes: vec![ScopeKey::All], teams: None },
            }),
            Role::Coordinator => {
                let allowed: BTreeSet<i64> =
                    self.coordinated_teams(user_id).into_iter().filter(|t| wanted_team(*t)).collect();
                Some(match filter.executive_id {
                    Some(e) => Plan { scopes: vec![ScopeKey::Executive(e)], teams: Some(allowed) },
                    None => Plan { scopes: allowed.iter().map(|t| ScopeKey::Team(*t)).collect(), teams: None },
                })
            }
            Role::Executive => {
                if filter.executive_id.is_some_and(|e| e != user_id) {
                    return None;
                }
                Some(Plan { scopes: vec![ScopeKey::Executive(user_id)], teams: filter.team_id.map(|t| [t].into()) })
            }
        }
    }

    fn scope(&self, key: ScopeKey) -> Option<&Scope> {
        match key {
            ScopeKey::All => Some(&self.all),
            ScopeKey::Team(t) => self.teams.get(&t),
            ScopeKey::Executive(e) => self.executives.get(&e),
        }
    }

    /// One page of `user_id`'s inbox, newest activity first, strictly after `after`.
    pub fn page(&self, user_id: i64, filter: &Filter, after: Option<Key>, limit: usize) -> Page {
        let Some(plan) = self.plan(user_id, filter) else { return Page::default() };
        let sel = Selection { status: filter.status, unread: filter.unread };
        if let Some(q) = filter.q.as_deref().filter(|q| !q.is_empty()) {
            return self.search_page(&plan, sel, q, after, limit);
        }
        let scopes: Vec<&Scope> = plan.scopes.iter().filter_map(|k| self.scope(*k)).collect();
        let accept = |k: &Key| -> bool {
            let Some(p) = self.conversations.get(&k.id).and_then(|c| c.placed) else { return false };
            plan.teams.as_ref().is_none_or(|t| t.contains(&p.team_id)) && (sel.unread != Some(false) || !p.entry.unread)
        };
        let (total, unread) = if plan.teams.is_none() {
            scopes.iter().fold((0, 0), |(t, u), s| {
                let (st, su) = s.counts(sel);
                (t + st, u + su)
            })
        } else {
            let ranges = scopes.iter().flat_map(|s| s.ranges(sel, None)).collect();
            Merge::new(ranges).filter(|k| accept(k)).fold((0, 0), |(t, u), k| {
                let unread = self.conversations.get(&k.id).is_some_and(|c| c.unread > 0);
                (t + 1, u + usize::from(unread))
            })
        };
        let ranges = scopes.iter().flat_map(|s| s.ranges(sel, after)).collect();
        self.paginate(Merge::new(ranges).filter(|k| accept(k)), limit, total, unread)
    }

    /// The page of the first `limit` keys of an ordered stream, with the cursor of the next one.
    fn paginate(&self, keys: impl Iterator<Item = Key>, limit: usize, total: usize, unread: usize) -> Page {
        let mut keys: Vec<Key> = keys.take(limit + 1).collect();
        let next = if keys.len() > limit {
            keys.truncate(limit);
            keys.last().copied()
        } else {
            None
        };
        Page { rows: keys.iter().filter_map(|k| self.row(k.id)).collect(), next, total, unread }
    }

    fn search_page(&self, plan: &Plan, sel: Selection, q: &str, after: Option<Key>, limit: usize) -> Page {
        let (set, prefix) = match Search::parse(q) {
            Search::Name(p) => (&self.names, p),
            Search::Phone(p) => (&self.phones, p),
        };
        let start: (Box<str>, i64) = (prefix.as_str().into(), i64::MIN);
        let mut entries: Vec<Entry> = Vec::new();
        for (text, prospect_id) in set.range((Bound::Included(start), Bound::Unbounded)) {
            if !text.starts_with(prefix.as_str()) {
                break;
            }
            let Some(p) = self.prospects.get(prospect_id) else { continue };
            for c in &p.conversations {
                let Some(placed) = self.conversations.get(c).and_then(|c| c.placed) else { continue };
                if plan.covers(placed) && selected(sel, placed.entry) {
                    entries.push(placed.entry);
                }
            }
        }
        entries.sort_by_key(|e| e.key);
        let total = entries.len();
        let unread = entries.iter().filter(|e| e.unread).count();
        self.paginate(entries.iter().map(|e| e.key).filter(|k| after.is_none_or(|a| *k > a)), limit, total, unread)
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
            labels: c.labels.clone(),
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
        Merge::new(self.all.ranges(Selection::default(), None)).filter_map(|k| self.row(k.id)).collect()
    }
}

fn selected(sel: Selection, e: Entry) -> bool {
    sel.status.is_none_or(|s| s == e.status) && sel.unread.is_none_or(|u| u == e.unread)
}
