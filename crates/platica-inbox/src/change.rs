//! What the engine consumes: the rows of the tables it derives state from, and the changes to
//! them, grouped into committed transactions. The change stream decodes pgoutput into these.

use platica_domain::TenantId;

/// Microseconds since the Unix epoch (PostgreSQL `timestamptz` resolution).
pub type Micros = i64;

/// A `prospects` row (the columns the inbox needs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProspectRow {
    pub tenant_id: TenantId,
    pub prospect_id: i64,
    pub name: String,
    /// `None` for a prospect known only by its business-scoped user id.
    pub phone: Option<String>,
    pub team_id: i64,
    pub executive_id: Option<i64>,
}

/// A conversation's status (`conversations.status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Open,
    /// Until `snoozed_until`: an inbound message or the time opens it again (migration 0025).
    Snoozed,
    Closed,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Open, Status::Snoozed, Status::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Snoozed => "snoozed",
            Status::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "open" => Status::Open,
            "snoozed" => Status::Snoozed,
            "closed" => Status::Closed,
            _ => return None,
        })
    }

    /// Its place in per-status arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A `conversations` row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationRow {
    pub tenant_id: TenantId,
    pub conversation_id: i64,
    pub prospect_id: i64,
    pub channel: String,
    pub status: Status,
    /// Set exactly while snoozed.
    pub snoozed_until: Option<Micros>,
    /// 0 none, 1 low, 2 medium, 3 high, 4 urgent.
    pub priority: u8,
    pub created_at: Micros,
}

/// Direction of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// Who sent a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SenderKind {
    Prospect,
    Bot,
    Executive,
    System,
}

impl SenderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SenderKind::Prospect => "prospect",
            SenderKind::Bot => "bot",
            SenderKind::Executive => "executive",
            SenderKind::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<SenderKind> {
        Some(match s {
            "prospect" => SenderKind::Prospect,
            "bot" => SenderKind::Bot,
            "executive" => SenderKind::Executive,
            "system" => SenderKind::System,
            _ => return None,
        })
    }
}

/// A `messages` row (the columns the inbox needs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRow {
    pub tenant_id: TenantId,
    pub message_id: i64,
    pub conversation_id: i64,
    pub direction: Direction,
    pub sender_kind: SenderKind,
    pub body: String,
    pub created_at: Micros,
    pub read: bool,
}

impl MessageRow {
    /// Counts towards the conversation's unread messages.
    pub fn is_unread(&self) -> bool {
        self.direction == Direction::In && !self.read
    }
}

/// A `users` row (the columns visibility needs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRow {
    pub tenant_id: TenantId,
    pub user_id: i64,
    pub role: platica_domain::Role,
}

/// The tables the engine follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Table {
    Tenants,
    Users,
    CoordinatorTeams,
    Prospects,
    Conversations,
    Messages,
    BotPause,
    ConversationLabels,
}

impl Table {
    pub fn parse(name: &str) -> Option<Table> {
        Some(match name {
            "tenants" => Table::Tenants,
            "users" => Table::Users,
            "coordinator_teams" => Table::CoordinatorTeams,
            "prospects" => Table::Prospects,
            "conversations" => Table::Conversations,
            "messages" => Table::Messages,
            "bot_pause" => Table::BotPause,
            "conversation_labels" => Table::ConversationLabels,
            _ => return None,
        })
    }
}

/// One row change. Updates carry the new row; deletes carry the key (and, for messages, the whole
/// old row: `messages` has `REPLICA IDENTITY FULL` so a delete can be applied exactly).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    ProspectUpsert(ProspectRow),
    ProspectDelete {
        tenant_id: TenantId,
        prospect_id: i64,
    },
    ConversationUpsert(ConversationRow),
    ConversationDelete {
        tenant_id: TenantId,
        conversation_id: i64,
    },
    MessageInsert(MessageRow),
    /// `old` is the row before the update (always present with `REPLICA IDENTITY FULL`).
    MessageUpdate {
        old: Option<MessageRow>,
        new: MessageRow,
    },
    MessageDelete(MessageRow),
    BotPause {
        tenant_id: TenantId,
        conversation_id: i64,
        paused: bool,
    },
    /// A `conversation_labels` row inserted (`member`) or deleted.
    ConversationLabel {
        tenant_id: TenantId,
        conversation_id: i64,
        label_id: i64,
        member: bool,
    },
    UserUpsert(UserRow),
    UserDelete {
        tenant_id: TenantId,
        user_id: i64,
    },
    CoordinatorTeam {
        tenant_id: TenantId,
        user_id: i64,
        team_id: i64,
        member: bool,
    },
    TenantDelete {
        tenant_id: TenantId,
    },
    /// Every row of these tables is gone (all tenants).
    Truncate(Vec<Table>),
    /// A conversation's message statistics as computed in SQL (initial load only).
    ConversationStats {
        tenant_id: TenantId,
        conversation_id: i64,
        messages: u32,
        unread: u32,
        last: Option<MessageRow>,
    },
    /// The newest message of a conversation as read from the database after its previous newest
    /// message was deleted (see [`crate::Engine::apply`]); merged by "newest wins".
    LastMessageHint(MessageRow),
}

/// A committed transaction: its changes in the order they were made.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transaction {
    /// The LSN of the commit record.
    pub commit_lsn: u64,
    pub changes: Vec<Change>,
}
