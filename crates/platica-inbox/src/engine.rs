//! The engine: every tenant's inbox, and the position in the change stream it reflects.

use std::collections::{HashMap, HashSet};

use platica_domain::TenantId;

use crate::change::{Change, MessageRow, Table, Transaction};
use crate::tenant::{Seat, TenantInbox};

/// The live inbox of every tenant.
#[derive(Clone, Debug, Default)]
pub struct Engine {
    tenants: HashMap<TenantId, TenantInbox>,
    applied_lsn: u64,
    transactions: u64,
    changes: u64,
}

/// The newest message of conversations, read after a commit (`None`: it has no message).
pub type Newest = HashMap<(TenantId, i64), Option<MessageRow>>;

/// What applying a transaction left for the caller to do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Conversations whose newest message was deleted: read their newest message again and feed
    /// it back as [`Change::LastMessageHint`].
    pub refresh_last_message: Vec<(TenantId, i64)>,
    /// Conversations the changes touched, in order of first touch, with where each sat in the
    /// inbox before (`None`: it was not in the inbox).
    pub touched: Vec<(TenantId, i64, Option<Seat>)>,
    /// Users whose visibility may have changed (role, activity, coordinated teams).
    pub users: Vec<(TenantId, i64)>,
    /// Tenants whose whole state changed at once (tenant deleted); `all_reset` for a truncate.
    pub tenants_reset: Vec<TenantId>,
    pub all_reset: bool,
    seen: HashSet<(TenantId, i64)>,
}

fn tenant_of(change: &Change) -> Option<TenantId> {
    Some(match change {
        Change::ProspectUpsert(p) => p.tenant_id,
        Change::ProspectDelete { tenant_id, .. }
        | Change::ConversationDelete { tenant_id, .. }
        | Change::BotPause { tenant_id, .. }
        | Change::ConversationLabel { tenant_id, .. }
        | Change::ConversationStats { tenant_id, .. }
        | Change::UserDelete { tenant_id, .. }
        | Change::CoordinatorTeam { tenant_id, .. }
        | Change::TenantDelete { tenant_id } => *tenant_id,
        Change::ConversationUpsert(c) => c.tenant_id,
        Change::MessageInsert(m) | Change::MessageDelete(m) | Change::LastMessageHint(m) => m.tenant_id,
        Change::MessageUpdate { new, .. } => new.tenant_id,
        Change::UserUpsert(u) => u.tenant_id,
        Change::Truncate(_) => return None,
    })
}

impl Engine {
    /// Applies a committed transaction, change by change, in order.
    ///
    /// A transaction that deletes a conversation's newest message (or moves it back in time, or
    /// to another conversation) leaves that conversation without its newest message: those are
    /// reported in [`Applied::refresh_last_message`]. To keep such a transaction atomic for
    /// readers, use [`Engine::newest_needed`] and [`Engine::apply_with_newest`] instead.
    pub fn apply(&mut self, tx: &Transaction) -> Applied {
        let mut out = Applied::default();
        for change in &tx.changes {
            self.apply_change(change, &mut out);
        }
        self.applied_lsn = self.applied_lsn.max(tx.commit_lsn);
        self.transactions += 1;
        out
    }

    /// The conversations whose newest message `tx` may take away, so that their newest message
    /// can be read (after the commit) *before* the transaction is applied. A superset of what
    /// [`Engine::apply`] would report in [`Applied::refresh_last_message`]: a deleted or moved
    /// message counts when it is the conversation's newest now or is written earlier in `tx`.
    pub fn newest_needed(&self, tx: &Transaction) -> Vec<(TenantId, i64)> {
        let mut written: HashSet<i64> = HashSet::new();
        let mut out: Vec<(TenantId, i64)> = Vec::new();
        let mut seen: HashSet<(TenantId, i64)> = HashSet::new();
        let mut need = |m: &MessageRow, written: &HashSet<i64>| {
            let newest = self.tenants.get(&m.tenant_id).and_then(|t| t.last_message_id(m.conversation_id));
            if (newest == Some(m.message_id) || written.contains(&m.message_id))
                && seen.insert((m.tenant_id, m.conversation_id))
            {
                out.push((m.tenant_id, m.conversation_id));
            }
        };
        for change in &tx.changes {
            match change {
                Change::MessageInsert(m) => {
                    written.insert(m.message_id);
                }
                Change::MessageDelete(m) => need(m, &written),
                Change::MessageUpdate { old: Some(old), new } => {
                    if old.conversation_id != new.conversation_id
                        || (new.created_at, new.message_id) < (old.created_at, old.message_id)
                    {
                        need(old, &written);
                    }
                    written.insert(new.message_id);
                }
                _ => {}
            }
        }
        out
    }

    /// Applies a committed transaction together with the newest message, read after its commit,
    /// of each conversation [`Engine::newest_needed`] named (`newest`: `None` for a conversation
    /// left with no message). One call, so readers holding the engine between calls see the
    /// whole transaction or none of it. A conversation to refresh that `newest` does not name
    /// stays in [`Applied::refresh_last_message`].
    pub fn apply_with_newest(&mut self, tx: &Transaction, newest: &Newest) -> Applied {
        let mut out = self.apply(tx);
        let refresh = std::mem::take(&mut out.refresh_last_message);
        for (tenant, conversation) in refresh {
            match newest.get(&(tenant, conversation)) {
                Some(Some(m)) => self.apply_change(&Change::LastMessageHint(m.clone()), &mut out),
                Some(None) => {}
                None => out.refresh_last_message.push((tenant, conversation)),
            }
        }
        out
    }

    /// Applies one change of the initial load: nothing is reported.
    pub fn load(&mut self, change: &Change) {
        let mut out = Applied::default();
        self.changes += 1;
        self.route(change, &mut out);
    }

    /// Applies one change outside a transaction (hints), reporting what it touched.
    pub fn apply_change(&mut self, change: &Change, out: &mut Applied) {
        self.changes += 1;
        self.note(change, out);
        self.route(change, out);
    }

    fn route(&mut self, change: &Change, out: &mut Applied) {
        match (change, tenant_of(change)) {
            (Change::Truncate(tables), _) => {
                if tables.contains(&Table::Tenants) {
                    self.tenants.clear();
                } else {
                    self.tenants.values_mut().for_each(|t| {
                        t.apply(change);
                    });
                }
            }
            (Change::TenantDelete { tenant_id }, _) => {
                self.tenants.remove(tenant_id);
            }
            (_, Some(tenant)) => {
                if let Some(c) = self.tenants.entry(tenant).or_default().apply(change) {
                    out.refresh_last_message.push((tenant, c));
                }
            }
            (_, None) => {}
        }
    }

    /// Records what `change` is about to touch, with the state before it.
    fn note(&self, change: &Change, out: &mut Applied) {
        let Some(tenant) = tenant_of(change) else {
            out.all_reset = true;
            return;
        };
        let inbox = self.tenants.get(&tenant);
        let mut touch = |conv: i64| {
            if out.seen.insert((tenant, conv)) {
                out.touched.push((tenant, conv, inbox.and_then(|i| i.seat(conv))));
            }
        };
        match change {
            Change::ProspectUpsert(p) => {
                inbox.iter().flat_map(|i| i.prospect_conversations(p.prospect_id)).for_each(&mut touch)
            }
            Change::ProspectDelete { prospect_id, .. } => {
                inbox.iter().flat_map(|i| i.prospect_conversations(*prospect_id)).for_each(&mut touch)
            }
            Change::ConversationUpsert(c) => touch(c.conversation_id),
            Change::ConversationDelete { conversation_id, .. }
            | Change::BotPause { conversation_id, .. }
            | Change::ConversationLabel { conversation_id, .. }
            | Change::ConversationStats { conversation_id, .. } => touch(*conversation_id),
            Change::MessageInsert(m) | Change::MessageDelete(m) | Change::LastMessageHint(m) => {
                touch(m.conversation_id)
            }
            Change::MessageUpdate { old, new } => {
                if let Some(o) = old {
                    touch(o.conversation_id);
                }
                touch(new.conversation_id);
            }
            // Only a change of role or activity matters to visibility (other columns of users are
            // not in the publication, but their updates still arrive as upserts).
            Change::UserUpsert(u) => {
                if inbox.and_then(|i| i.role(u.user_id)) != Some(u.role) {
                    out.users.push((tenant, u.user_id));
                }
            }
            Change::UserDelete { user_id, .. } => {
                if inbox.and_then(|i| i.role(*user_id)).is_some() {
                    out.users.push((tenant, *user_id));
                }
            }
            Change::CoordinatorTeam { user_id, .. } => out.users.push((tenant, *user_id)),
            Change::TenantDelete { .. } => out.tenants_reset.push(tenant),
            Change::Truncate(_) => out.all_reset = true,
        }
    }

    /// The commit LSN of the last transaction applied.
    pub fn applied_lsn(&self) -> u64 {
        self.applied_lsn
    }

    /// Transactions and changes applied since start.
    pub fn stats(&self) -> (u64, u64) {
        (self.transactions, self.changes)
    }

    pub fn tenant(&self, tenant: TenantId) -> Option<&TenantInbox> {
        self.tenants.get(&tenant)
    }

    pub fn tenant_ids(&self) -> Vec<TenantId> {
        self.tenants.keys().copied().collect()
    }
}
