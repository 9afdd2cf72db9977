//! pgoutput rows (binary format) into the engine's typed changes.
//!
//! The stream runs with pgoutput's `binary` option, so values arrive in PostgreSQL's binary send
//! format: `bigint` as 8 big-endian bytes, `boolean` as one byte, `timestamptz` as microseconds
//! since 2000-01-01 (8 big-endian bytes), `text` as UTF-8. No locale or DateStyle is involved.

use pg_walstream::{ColumnValue, EventType, RowData};
use platica_domain::{Role, TenantId};
use platica_inbox::change::{
    Change, ConversationRow, Direction, MessageRow, ProspectRow, SenderKind, Status, Table, UserRow,
};

/// A row that cannot be decoded: the schema and the decoder disagree.
#[derive(Debug, thiserror::Error)]
#[error("cannot decode {table}.{column}: {problem}")]
pub struct DecodeError {
    pub table: String,
    pub column: String,
    pub problem: String,
}

/// Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Reads columns of one row; for an update, columns missing from the new row (unchanged TOAST)
/// are taken from the old row.
struct Cols<'a> {
    table: &'a str,
    row: &'a RowData,
    fallback: Option<&'a RowData>,
}

impl<'a> Cols<'a> {
    fn err(&self, column: &str, problem: impl Into<String>) -> DecodeError {
        DecodeError { table: self.table.to_owned(), column: column.to_owned(), problem: problem.into() }
    }

    fn value(&self, column: &str) -> Result<&'a ColumnValue, DecodeError> {
        self.row
            .get(column)
            .or_else(|| self.fallback.and_then(|f| f.get(column)))
            .ok_or_else(|| self.err(column, "missing from the row (is it in the publication?)"))
    }

    fn opt_i64(&self, column: &str) -> Result<Option<i64>, DecodeError> {
        match self.value(column)? {
            ColumnValue::Null => Ok(None),
            v => {
                let bytes: [u8; 8] =
                    v.as_bytes().try_into().map_err(|_| self.err(column, "expected an 8-byte bigint"))?;
                Ok(Some(i64::from_be_bytes(bytes)))
            }
        }
    }

    fn i64(&self, column: &str) -> Result<i64, DecodeError> {
        self.opt_i64(column)?.ok_or_else(|| self.err(column, "unexpected NULL"))
    }

    /// A `smallint` in 0..=255.
    fn i16(&self, column: &str) -> Result<u8, DecodeError> {
        match self.value(column)? {
            ColumnValue::Null => Err(self.err(column, "unexpected NULL")),
            v => {
                let bytes: [u8; 2] =
                    v.as_bytes().try_into().map_err(|_| self.err(column, "expected a 2-byte smallint"))?;
                u8::try_from(i16::from_be_bytes(bytes)).map_err(|_| self.err(column, "out of range"))
            }
        }
    }

    fn text(&self, column: &str) -> Result<String, DecodeError> {
        match self.value(column)? {
            ColumnValue::Null => Err(self.err(column, "unexpected NULL")),
            v => String::from_utf8(v.as_bytes().to_vec()).map_err(|_| self.err(column, "invalid UTF-8")),
        }
    }

    fn opt_text(&self, column: &str) -> Result<Option<String>, DecodeError> {
        match self.value(column)? {
            ColumnValue::Null => Ok(None),
            v => String::from_utf8(v.as_bytes().to_vec()).map(Some).map_err(|_| self.err(column, "invalid UTF-8")),
        }
    }

    fn bool(&self, column: &str) -> Result<bool, DecodeError> {
        match self.value(column)?.as_bytes() {
            [b] => Ok(*b != 0),
            _ => Err(self.err(column, "expected a 1-byte boolean")),
        }
    }

    /// A `timestamptz` as microseconds since the Unix epoch; `None` for NULL.
    fn opt_micros(&self, column: &str) -> Result<Option<i64>, DecodeError> {
        Ok(self.opt_i64(column)?.map(|pg| pg.saturating_add(PG_EPOCH_MICROS)))
    }

    fn micros(&self, column: &str) -> Result<i64, DecodeError> {
        self.opt_micros(column)?.ok_or_else(|| self.err(column, "unexpected NULL"))
    }

    fn tenant(&self) -> Result<TenantId, DecodeError> {
        Ok(TenantId(self.i64("tenant_id")?))
    }
}

fn prospect(c: &Cols<'_>) -> Result<ProspectRow, DecodeError> {
    Ok(ProspectRow {
        tenant_id: c.tenant()?,
        prospect_id: c.i64("prospect_id")?,
        name: c.text("name")?,
        phone: c.opt_text("phone")?,
        team_id: c.i64("team_id")?,
        executive_id: c.opt_i64("executive_id")?,
    })
}

fn conversation(c: &Cols<'_>) -> Result<ConversationRow, DecodeError> {
    Ok(ConversationRow {
        tenant_id: c.tenant()?,
        conversation_id: c.i64("conversation_id")?,
        prospect_id: c.i64("prospect_id")?,
        channel: c.text("channel")?,
        status: {
            let s = c.text("status")?;
            Status::parse(&s).ok_or_else(|| c.err("status", format!("unknown status {s:?}")))?
        },
        snoozed_until: c.opt_micros("snoozed_until")?,
        priority: c.i16("priority")?,
        created_at: c.micros("created_at")?,
    })
}

fn message(c: &Cols<'_>) -> Result<MessageRow, DecodeError> {
    let direction = match c.text("direction")?.as_str() {
        "in" => Direction::In,
        "out" => Direction::Out,
        other => return Err(c.err("direction", format!("unknown direction {other:?}"))),
    };
    let sender = c.text("sender_kind")?;
    Ok(MessageRow {
        tenant_id: c.tenant()?,
        message_id: c.i64("message_id")?,
        conversation_id: c.i64("conversation_id")?,
        direction,
        sender_kind: SenderKind::parse(&sender)
            .ok_or_else(|| c.err("sender_kind", format!("unknown sender kind {sender:?}")))?,
        body: c.text("body")?,
        created_at: c.micros("created_at")?,
        read: c.opt_micros("read_at")?.is_some(),
    })
}

/// Whether a message row is a private note (`kind = 'note'`); a row without the column (the
/// schema before notes) is a message.
fn is_note(c: &Cols<'_>) -> Result<bool, DecodeError> {
    match c.row.get("kind").or_else(|| c.fallback.and_then(|f| f.get("kind"))) {
        None => Ok(false),
        Some(_) => Ok(c.opt_text("kind")?.as_deref() == Some("note")),
    }
}

fn user(c: &Cols<'_>) -> Result<Option<UserRow>, DecodeError> {
    let role = c.text("role")?;
    let role = Role::parse(&role).ok_or_else(|| c.err("role", format!("unknown role {role:?}")))?;
    // A deactivated user sees nothing: the engine forgets them until they are active again.
    if !c.bool("active")? {
        return Ok(None);
    }
    Ok(Some(UserRow { tenant_id: c.tenant()?, user_id: c.i64("user_id")?, role }))
}

/// Decodes one replication event into the changes it means for the engine. Events of tables the
/// engine does not follow, and non-row events, decode to nothing.
pub fn decode(event: &EventType) -> Result<Vec<Change>, DecodeError> {
    let (table, row, old, kind) = match event {
        EventType::Insert { table, data, .. } => (table, data, None, Kind::Insert),
        EventType::Update { table, old_data, new_data, .. } => (table, new_data, old_data.as_ref(), Kind::Update),
        EventType::Delete { table, old_data, .. } => (table, old_data, None, Kind::Delete),
        EventType::Truncate { tables, .. } => {
            let tables: Vec<Table> =
                tables.iter().filter_map(|t| Table::parse(t.rsplit('.').next().unwrap_or(t))).collect();
            return Ok(if tables.is_empty() { vec![] } else { vec![Change::Truncate(tables)] });
        }
        _ => return Ok(vec![]),
    };
    let Some(t) = Table::parse(table) else { return Ok(vec![]) };
    let cols = Cols { table, row, fallback: old };
    let tenant = cols.tenant()?;
    let change = match (t, kind) {
        (Table::Tenants, Kind::Delete) => Change::TenantDelete { tenant_id: tenant },
        (Table::Tenants, _) => return Ok(vec![]),
        (Table::Users, Kind::Delete) => Change::UserDelete { tenant_id: tenant, user_id: cols.i64("user_id")? },
        (Table::Users, _) => match user(&cols)? {
            Some(u) => Change::UserUpsert(u),
            None => Change::UserDelete { tenant_id: tenant, user_id: cols.i64("user_id")? },
        },
        (Table::CoordinatorTeams, kind) => {
            let (user_id, team_id) = (cols.i64("user_id")?, cols.i64("team_id")?);
            let mut out = Vec::with_capacity(2);
            if kind == Kind::Update
                && let Some(o) = old
            {
                let oc = Cols { table, row: o, fallback: None };
                out.push(Change::CoordinatorTeam {
                    tenant_id: oc.tenant()?,
                    user_id: oc.i64("user_id")?,
                    team_id: oc.i64("team_id")?,
                    member: false,
                });
            }
            out.push(Change::CoordinatorTeam { tenant_id: tenant, user_id, team_id, member: kind != Kind::Delete });
            return Ok(out);
        }
        (Table::Prospects, Kind::Delete) => {
            Change::ProspectDelete { tenant_id: tenant, prospect_id: cols.i64("prospect_id")? }
        }
        (Table::Prospects, _) => Change::ProspectUpsert(prospect(&cols)?),
        (Table::Conversations, Kind::Delete) => {
            Change::ConversationDelete { tenant_id: tenant, conversation_id: cols.i64("conversation_id")? }
        }
        (Table::Conversations, _) => Change::ConversationUpsert(conversation(&cols)?),
        // A private note is part of the thread (realtime routes its rows) but not of the inbox:
        // it is not the conversation's last message, never unread, and no reply to a waiting
        // customer. The engine only hears of customer-facing messages.
        (Table::Messages, Kind::Insert) if is_note(&cols)? => return Ok(vec![]),
        (Table::Messages, Kind::Insert) => Change::MessageInsert(message(&cols)?),
        (Table::Messages, Kind::Update) => {
            let old_cols = old.map(|o| Cols { table, row: o, fallback: None });
            let was_note = match &old_cols {
                Some(o) => is_note(o)?,
                None => false,
            };
            match (old_cols, was_note, is_note(&cols)?) {
                (_, true, true) => return Ok(vec![]),
                // A note turned into a message (or back) enters (or leaves) the inbox.
                (_, true, false) => Change::MessageInsert(message(&cols)?),
                (Some(o), false, true) => Change::MessageDelete(message(&o)?),
                (None, false, true) => return Ok(vec![]),
                (o, false, false) => {
                    let old_row = o.as_ref().map(message).transpose()?;
                    Change::MessageUpdate { old: old_row, new: message(&cols)? }
                }
            }
        }
        (Table::Messages, Kind::Delete) if is_note(&cols)? => return Ok(vec![]),
        (Table::Messages, Kind::Delete) => Change::MessageDelete(message(&cols)?),
        (Table::ConversationLabels, kind) => {
            let mut out = Vec::with_capacity(2);
            if kind == Kind::Update
                && let Some(o) = old
            {
                let oc = Cols { table, row: o, fallback: None };
                out.push(Change::ConversationLabel {
                    tenant_id: oc.tenant()?,
                    conversation_id: oc.i64("conversation_id")?,
                    label_id: oc.i64("label_id")?,
                    member: false,
                });
            }
            out.push(Change::ConversationLabel {
                tenant_id: tenant,
                conversation_id: cols.i64("conversation_id")?,
                label_id: cols.i64("label_id")?,
                member: kind != Kind::Delete,
            });
            return Ok(out);
        }
        (Table::BotPause, Kind::Delete) => {
            Change::BotPause { tenant_id: tenant, conversation_id: cols.i64("conversation_id")?, paused: false }
        }
        (Table::BotPause, _) => Change::BotPause {
            tenant_id: tenant,
            conversation_id: cols.i64("conversation_id")?,
            paused: cols.bool("paused")?,
        },
    };
    Ok(vec![change])
}

/// What a row change was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Insert,
    Update,
    Delete,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Insert => "insert",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }
}

/// A row change as JSON, for clients following a table: the new row (insert, update) and the old
/// one (update, delete; as far as the table's replica identity logs it).
#[derive(Clone, Debug, PartialEq)]
pub struct RowEvent {
    pub table: String,
    pub op: Op,
    pub tenant_id: TenantId,
    pub new: Option<serde_json::Map<String, serde_json::Value>>,
    pub old: Option<serde_json::Map<String, serde_json::Value>>,
}

impl RowEvent {
    /// The row the event is about: the new one, or the old one for a delete.
    pub fn row(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
        self.new.as_ref().or(self.old.as_ref())
    }

    /// An integer column of [`RowEvent::row`].
    pub fn int(&self, column: &str) -> Option<i64> {
        self.row()?.get(column)?.as_i64()
    }
}

/// Column types of the relations seen on the stream (pgoutput sends a Relation message before a
/// relation's first row, and again when it changes).
#[derive(Clone, Debug, Default)]
pub struct Relations {
    types: std::collections::HashMap<u32, std::collections::HashMap<std::sync::Arc<str>, u32>>,
}

impl Relations {
    /// Records a Relation message; returns `true` for one.
    pub fn observe(&mut self, event: &EventType) -> bool {
        if let EventType::Relation { relation_id, columns, .. } = event {
            self.types.insert(*relation_id, columns.iter().map(|c| (c.name.clone(), c.type_id)).collect());
            return true;
        }
        false
    }

    fn json(&self, relation: u32, row: &RowData) -> serde_json::Map<String, serde_json::Value> {
        let types = self.types.get(&relation);
        row.iter()
            .map(|(name, value)| {
                let oid = types.and_then(|t| t.get(name)).copied().unwrap_or(25);
                (name.to_string(), json_value(oid, value))
            })
            .collect()
    }

    /// The JSON form of a row change of a followed table (`None` for other events).
    pub fn row_event(&self, event: &EventType) -> Option<RowEvent> {
        let (table, relation, op, new, old) = match event {
            EventType::Insert { table, relation_oid, data, .. } => (table, *relation_oid, Op::Insert, Some(data), None),
            EventType::Update { table, relation_oid, new_data, old_data, .. } => {
                (table, *relation_oid, Op::Update, Some(new_data), old_data.as_ref())
            }
            EventType::Delete { table, relation_oid, old_data, .. } => {
                (table, *relation_oid, Op::Delete, None, Some(old_data))
            }
            _ => return None,
        };
        let mut new = new.map(|r| self.json(relation, r));
        let old = old.map(|r| self.json(relation, r));
        // Unchanged TOASTed columns are absent from an update's new row: take them from the old.
        if let (Some(n), Some(o)) = (new.as_mut(), old.as_ref()) {
            for (k, v) in o {
                n.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        let tenant = new.as_ref().or(old.as_ref())?.get("tenant_id")?.as_i64()?;
        Some(RowEvent { table: table.to_string(), op, tenant_id: TenantId(tenant), new, old })
    }
}

/// A binary-format value as JSON, by its type's OID (the types Platica's tables use; anything
/// else is passed as text when it is UTF-8).
fn json_value(oid: u32, v: &ColumnValue) -> serde_json::Value {
    use serde_json::Value;
    if v.is_null() {
        return Value::Null;
    }
    let b = v.as_bytes();
    let int = |n: usize| -> Option<i64> {
        Some(match n {
            2 => i64::from(i16::from_be_bytes(b.try_into().ok()?)),
            4 => i64::from(i32::from_be_bytes(b.try_into().ok()?)),
            _ => i64::from_be_bytes(b.try_into().ok()?),
        })
    };
    let text = || String::from_utf8_lossy(b).into_owned();
    match oid {
        16 => Value::Bool(b.first().is_some_and(|x| *x != 0)),
        20 => int(8).map_or(Value::Null, Value::from),
        21 => int(2).map_or(Value::Null, Value::from),
        23 => int(4).map_or(Value::Null, Value::from),
        700 => b.try_into().map(|a: [u8; 4]| Value::from(f32::from_be_bytes(a) as f64)).unwrap_or(Value::Null),
        701 => b.try_into().map(|a: [u8; 8]| Value::from(f64::from_be_bytes(a))).unwrap_or(Value::Null),
        1184 | 1114 => int(8)
            .and_then(|pg| chrono::DateTime::from_timestamp_micros(pg.saturating_add(PG_EPOCH_MICROS)))
            .map_or(Value::Null, |t| Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))),
        // jsonb's binary form is a version byte (1) and the JSON text.
        3802 => b.split_first().and_then(|(_, rest)| serde_json::from_slice(rest).ok()).unwrap_or(Value::Null),
        114 => serde_json::from_slice(b).unwrap_or(Value::Null),
        17 => Value::String(b.iter().map(|x| format!("{x:02x}")).collect()),
        _ => Value::String(text()),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Insert,
    Update,
    Delete,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(v: &[u8]) -> ColumnValue {
        ColumnValue::binary_bytes(v.to_vec().into())
    }

    fn row(pairs: Vec<(&str, ColumnValue)>) -> RowData {
        RowData::from_pairs(pairs)
    }

    #[test]
    fn decodes_a_message_insert_and_a_toasted_update() {
        let full = row(vec![
            ("tenant_id", b(&7i64.to_be_bytes())),
            ("message_id", b(&11i64.to_be_bytes())),
            ("conversation_id", b(&3i64.to_be_bytes())),
            ("direction", b(b"in")),
            ("sender_kind", b(b"prospect")),
            ("body", b("¿Hola?".as_bytes())),
            ("created_at", b(&0i64.to_be_bytes())),
            ("read_at", ColumnValue::Null),
        ]);
        let ev = EventType::Insert {
            schema: "public".into(),
            table: "messages".into(),
            relation_oid: 1,
            data: full.clone(),
        };
        let Change::MessageInsert(m) = &decode(&ev).unwrap()[0] else { panic!("not an insert") };
        assert_eq!(m.created_at, PG_EPOCH_MICROS);
        assert!(m.is_unread());
        assert_eq!(m.body, "¿Hola?");

        // The new row lacks the (unchanged, TOASTed) body: it comes from the old row.
        let mut new = row(vec![]);
        for (k, v) in full.iter() {
            if &**k == "read_at" {
                new.push(k.clone(), b(&5i64.to_be_bytes()));
            } else if &**k != "body" {
                new.push(k.clone(), v.clone());
            }
        }
        let ev = EventType::Update {
            schema: "public".into(),
            table: "messages".into(),
            relation_oid: 1,
            old_data: Some(full),
            new_data: new,
            replica_identity: pg_walstream::ReplicaIdentity::Full,
            key_columns: vec![],
        };
        let Change::MessageUpdate { old, new } = &decode(&ev).unwrap()[0] else { panic!("not an update") };
        assert!(old.as_ref().unwrap().is_unread());
        assert!(!new.is_unread());
        assert_eq!(new.body, "¿Hola?");
    }

    fn message_row(kind: &[u8]) -> RowData {
        row(vec![
            ("tenant_id", b(&7i64.to_be_bytes())),
            ("message_id", b(&12i64.to_be_bytes())),
            ("conversation_id", b(&3i64.to_be_bytes())),
            ("direction", b(b"out")),
            ("sender_kind", b(b"executive")),
            ("body", b(b"call her after lunch")),
            ("created_at", b(&0i64.to_be_bytes())),
            ("read_at", ColumnValue::Null),
            ("kind", b(kind)),
        ])
    }

    fn update(old: RowData, new: RowData) -> EventType {
        EventType::Update {
            schema: "public".into(),
            table: "messages".into(),
            relation_oid: 1,
            old_data: Some(old),
            new_data: new,
            replica_identity: pg_walstream::ReplicaIdentity::Full,
            key_columns: vec![],
        }
    }

    #[test]
    fn private_notes_never_reach_the_inbox_engine() {
        let insert =
            |data| EventType::Insert { schema: "public".into(), table: "messages".into(), relation_oid: 1, data };
        let delete = |old_data| EventType::Delete {
            schema: "public".into(),
            table: "messages".into(),
            relation_oid: 1,
            old_data,
            replica_identity: pg_walstream::ReplicaIdentity::Full,
            key_columns: vec![],
        };
        assert!(decode(&insert(message_row(b"note"))).unwrap().is_empty());
        assert!(decode(&delete(message_row(b"note"))).unwrap().is_empty());
        assert!(decode(&update(message_row(b"note"), message_row(b"note"))).unwrap().is_empty());
        assert!(matches!(decode(&insert(message_row(b"message"))).unwrap()[..], [Change::MessageInsert(_)]));
        // A message turned into a note leaves the inbox; a note turned into a message enters it.
        let left = decode(&update(message_row(b"message"), message_row(b"note"))).unwrap();
        assert!(matches!(&left[..], [Change::MessageDelete(m)] if m.message_id == 12));
        let entered = decode(&update(message_row(b"note"), message_row(b"message"))).unwrap();
        assert!(matches!(&entered[..], [Change::MessageInsert(m)] if m.message_id == 12));
    }

    #[test]
    fn rows_become_json_by_column_type() {
        let mut rel = Relations::default();
        let cols =
            [("tenant_id", 20u32), ("key", 25), ("value", 3802), ("updated_at", 1184), ("on", 16)].map(|(n, t)| {
                pg_walstream::RelationColumn { name: n.into(), type_id: t, type_modifier: -1, is_key: false }
            });
        assert!(rel.observe(&EventType::Relation {
            relation_id: 9,
            namespace: "public".into(),
            relation_name: "system_config".into(),
            replica_identity: pg_walstream::ReplicaIdentity::Default,
            columns: cols.to_vec(),
        }));
        let mut jsonb = vec![1u8];
        jsonb.extend_from_slice(br#"{"version":"2.0","force_update":true}"#);
        let data = row(vec![
            ("tenant_id", b(&4i64.to_be_bytes())),
            ("key", b(b"app_version")),
            ("value", b(&jsonb)),
            ("updated_at", b(&0i64.to_be_bytes())),
            ("on", b(&[1])),
        ]);
        let ev = EventType::Insert { schema: "public".into(), table: "system_config".into(), relation_oid: 9, data };
        let e = rel.row_event(&ev).unwrap();
        assert_eq!((e.op, e.tenant_id, e.table.as_str()), (Op::Insert, TenantId(4), "system_config"));
        let r = e.new.unwrap();
        assert_eq!(r["value"]["force_update"], serde_json::json!(true));
        assert_eq!(r["updated_at"], "2000-01-01T00:00:00.000000Z");
        assert_eq!(r["on"], true);
    }

    /// Tables published for realtime only (issue 9) never reach the engine, whatever their
    /// columns, yet their rows are available as JSON.
    #[test]
    fn realtime_only_tables_decode_to_nothing_but_rows() {
        let mut rel = Relations::default();
        let cols = [("tenant_id", 20u32), ("prospect_id", 20), ("status", 25)].map(|(n, t)| {
            pg_walstream::RelationColumn { name: n.into(), type_id: t, type_modifier: -1, is_key: false }
        });
        assert!(rel.observe(&EventType::Relation {
            relation_id: 5,
            namespace: "public".into(),
            relation_name: "calls".into(),
            replica_identity: pg_walstream::ReplicaIdentity::Full,
            columns: cols.to_vec(),
        }));
        for table in ["calls", "scheduled_calls", "tickets", "ticket_comments", "notifications"] {
            let data = row(vec![
                ("tenant_id", b(&3i64.to_be_bytes())),
                ("prospect_id", b(&7i64.to_be_bytes())),
                ("status", b(b"ringing")),
            ]);
            for ev in [
                EventType::Insert { schema: "public".into(), table: table.into(), relation_oid: 5, data: data.clone() },
                EventType::Delete {
                    schema: "public".into(),
                    table: table.into(),
                    relation_oid: 5,
                    old_data: data.clone(),
                    replica_identity: pg_walstream::ReplicaIdentity::Full,
                    key_columns: vec![],
                },
            ] {
                assert!(decode(&ev).unwrap().is_empty(), "{table}");
                let e = rel.row_event(&ev).unwrap();
                assert_eq!((e.tenant_id, e.table.as_str(), e.int("prospect_id")), (TenantId(3), table, Some(7)));
            }
        }
    }

    #[test]
    fn unknown_tables_decode_to_nothing_and_bad_values_are_errors() {
        let r = row(vec![("tenant_id", b(&1i64.to_be_bytes()))]);
        let ev = EventType::Insert { schema: "public".into(), table: "sessions".into(), relation_oid: 1, data: r };
        assert!(decode(&ev).unwrap().is_empty());
        let r = row(vec![("tenant_id", b(&[1, 2]))]);
        let ev = EventType::Insert { schema: "public".into(), table: "prospects".into(), relation_oid: 1, data: r };
        let err = decode(&ev).unwrap_err();
        assert_eq!((err.table.as_str(), err.column.as_str()), ("prospects", "tenant_id"));
    }
}
