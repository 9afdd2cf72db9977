//! Topics a client can subscribe to, parsed and checked.

use std::collections::BTreeMap;

use platica_inbox::Filter;
use serde_json::Value;

use crate::protocol::Refusal;

/// Tables a `table:` subscription may follow, and the integer column that ties a row to a
/// conversation or prospect for visibility (`None`: visible to the whole tenant).
pub const TABLES: &[(&str, Visibility)] = &[
    ("prospects", Visibility::Prospect),
    ("conversations", Visibility::Conversation),
    ("messages", Visibility::Conversation),
    ("bot_pause", Visibility::Conversation),
    ("users", Visibility::Tenant),
    ("teams", Visibility::Tenant),
    ("coordinator_teams", Visibility::Tenant),
    ("system_config", Visibility::Tenant),
    // Issue 9: rows visible when the prospect named in their `prospect_id` is.
    ("calls", Visibility::ProspectRef),
    ("scheduled_calls", Visibility::ProspectRef),
    ("tickets", Visibility::Ticket),
    ("ticket_comments", Visibility::Ticket),
    ("notifications", Visibility::Owner),
    // WhatsApp campaigns: admins and their creator (progress snapshots arrive as updates).
    ("campaigns", Visibility::Creator),
    // WhatsApp message templates and their review state (issue 18): those who see every
    // template (admins), as `GET /templates` shows them.
    ("whatsapp_templates", Visibility::EveryTemplate),
    // Each WhatsApp number's health (issue 24): those who manage channels (admins).
    ("channel_health", Visibility::Channels),
];

/// How a table's rows are authorised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// By the row's own `team_id` and `executive_id` (prospects).
    Prospect,
    /// By the conversation named in `conversation_id`.
    Conversation,
    /// Anyone in the tenant.
    Tenant,
    /// By the prospect named in `prospect_id` (calls, scheduled calls).
    ProspectRef,
    /// Admins, and the users in the row's `opened_by` / `assignee_id` (tickets, comments).
    Ticket,
    /// Only the user in the row's `user_id` (notifications).
    Owner,
    /// Admins, and the user in the row's `created_by` (campaigns).
    Creator,
    /// Those who see every template of the tenant (`policy::sees_every_template`: admins).
    EveryTemplate,
    /// Those who manage the tenant's WhatsApp numbers (`policy::manages_channels`: admins).
    Channels,
}

pub fn table_visibility(table: &str) -> Option<Visibility> {
    TABLES.iter().find(|(t, _)| *t == table).map(|(_, v)| *v)
}

/// A column condition: the row's value is one of `values` (`eq` is a list of one).
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnFilter {
    pub column: String,
    pub values: Vec<Value>,
}

impl ColumnFilter {
    pub fn matches(&self, row: &serde_json::Map<String, Value>) -> bool {
        row.get(&self.column).is_some_and(|v| self.values.iter().any(|x| same(x, v)))
    }
}

/// Equality of a filter value with a row value: numbers by value, anything else as text (a
/// filter always arrives as text: `eq.5` matches the number 5 and the string "5").
fn same(filter: &Value, row: &Value) -> bool {
    match (filter, row) {
        (Value::String(f), Value::Number(n)) => f == &n.to_string(),
        (Value::String(f), Value::Bool(b)) => f == &b.to_string(),
        (f, r) => f == r,
    }
}

/// The text form used to index a value (so `eq.5` and the number 5 meet).
pub fn index_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What a subscription follows.
#[derive(Clone, Debug, PartialEq)]
pub enum Topic {
    /// The user's visible inbox, narrowed by filters.
    Inbox(Filter),
    /// One conversation's messages, status and bot pause.
    Conversation(i64),
    /// Row changes of a table.
    Table { table: String, events: [bool; 3], filters: Vec<ColumnFilter> },
    /// The tenant's system settings (app version, force update).
    System,
}

const INBOX_FILTERS: &[&str] =
    &["team_id", "executive_id", "unread", "status", "q", "view", "label_id", "priority", "sort"];

fn int(name: &str, v: &Value) -> Result<i64, Refusal> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .ok_or_else(|| Refusal::new("bad_filter", format!("filter {name} must be an integer")))
}

/// Parses a subscription's topic, filters and events.
pub fn parse(topic: &str, filters: &BTreeMap<String, Value>, events: Option<&[String]>) -> Result<Topic, Refusal> {
    if events.is_some() && !topic.starts_with("table:") {
        return Err(Refusal::new("bad_subscription", "events apply to table: topics only"));
    }
    match topic {
        "inbox" => inbox_filter(filters).map(Topic::Inbox),
        "system" => {
            if !filters.is_empty() {
                return Err(Refusal::new("bad_filter", "the system topic takes no filters"));
            }
            Ok(Topic::System)
        }
        _ if topic.starts_with("conversation:") => {
            let id =
                topic["conversation:".len()..].parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
                    Refusal::new("bad_topic", format!("invalid topic {topic:?}: use conversation:<id>"))
                })?;
            if !filters.is_empty() {
                return Err(Refusal::new("bad_filter", "conversation topics take no filters"));
            }
            Ok(Topic::Conversation(id))
        }
        _ if topic.starts_with("table:") => table_topic(&topic["table:".len()..], filters, events),
        _ => Err(Refusal::new(
            "bad_topic",
            format!("unknown topic {topic:?}: use inbox, conversation:<id>, table:<name> or system"),
        )),
    }
}

/// The filters of an `inbox` topic.
fn inbox_filter(filters: &BTreeMap<String, Value>) -> Result<Filter, Refusal> {
    let mut f = Filter::default();
    for (name, v) in filters {
        match name.as_str() {
            "team_id" => f.team_id = Some(int(name, v)?),
            "executive_id" => f.executive_id = Some(int(name, v)?),
            "unread" => {
                f.unread =
                    Some(v.as_bool().ok_or_else(|| Refusal::new("bad_filter", "filter unread must be true or false"))?)
            }
            "status" => {
                f.status = Some(
                    v.as_str()
                        .and_then(platica_inbox::Status::parse)
                        .ok_or_else(|| Refusal::new("bad_filter", "filter status must be open, snoozed or closed"))?,
                )
            }
            "view" => {
                f.view = Some(
                    v.as_str()
                        .and_then(platica_inbox::View::parse)
                        .ok_or_else(|| Refusal::new("bad_filter", "filter view must be mine, unassigned or all"))?,
                )
            }
            "label_id" => f.label = Some(int(name, v)?),
            "priority" => {
                f.priority = Some(v.as_str().and_then(platica_domain::inbox::priority_rank).ok_or_else(|| {
                    Refusal::new("bad_filter", "filter priority must be none, low, medium, high or urgent")
                })?)
            }
            "sort" => {
                f.sort = v
                    .as_str()
                    .and_then(platica_inbox::Sort::parse)
                    .ok_or_else(|| Refusal::new("bad_filter", "filter sort must be latest, waiting or unread_first"))?
            }
            "q" => {
                let q = v.as_str().ok_or_else(|| Refusal::new("bad_filter", "filter q must be a string"))?;
                if q.chars().count() > 100 {
                    return Err(Refusal::new("bad_filter", "filter q must be at most 100 characters"));
                }
                f.q = Some(q.trim().to_owned()).filter(|q| !q.is_empty());
            }
            other => {
                return Err(Refusal::new(
                    "bad_filter",
                    format!("unknown inbox filter {other:?}: use one of {}", INBOX_FILTERS.join(", ")),
                ));
            }
        }
    }
    Ok(f)
}

/// A `table:<name>` topic: a followed table, the events wanted (all when none are named) and
/// column filters.
fn table_topic(table: &str, filters: &BTreeMap<String, Value>, events: Option<&[String]>) -> Result<Topic, Refusal> {
    if table_visibility(table).is_none() {
        let known: Vec<&str> = TABLES.iter().map(|(t, _)| *t).collect();
        return Err(Refusal::new(
            "unknown_table",
            format!("unknown table {table:?}: realtime follows {}", known.join(", ")),
        ));
    }
    let mut mask = [events.is_none(); 3];
    for e in events.unwrap_or_default() {
        match e.as_str() {
            "insert" => mask[0] = true,
            "update" => mask[1] = true,
            "delete" => mask[2] = true,
            other => {
                return Err(Refusal::new(
                    "bad_subscription",
                    format!("unknown event {other:?}: use insert, update, delete"),
                ));
            }
        }
    }
    let filters = filters.iter().map(|(column, v)| column_filter(column, v)).collect::<Result<_, _>>()?;
    Ok(Topic::Table { table: table.to_owned(), events: mask, filters })
}

/// One column filter of a table topic: `eq.<value>` or `in.(<v1>,<v2>,...)`.
fn column_filter(column: &str, v: &Value) -> Result<ColumnFilter, Refusal> {
    if !column.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') || column.is_empty() {
        return Err(Refusal::new("bad_filter", format!("invalid column name {column:?}")));
    }
    let text = v.as_str().ok_or_else(|| {
        Refusal::new("bad_filter", format!("filter {column} must be a string like \"eq.5\" or \"in.(1,2)\""))
    })?;
    let values = if let Some(x) = text.strip_prefix("eq.") {
        vec![Value::String(x.to_owned())]
    } else if let Some(list) = text.strip_prefix("in.(").and_then(|r| r.strip_suffix(')')) {
        let vals: Vec<Value> = list.split(',').map(|x| Value::String(x.trim().to_owned())).collect();
        if vals.is_empty() || vals.len() > 100 {
            return Err(Refusal::new("bad_filter", format!("filter {column}: in.(...) takes 1 to 100 values")));
        }
        vals
    } else {
        return Err(Refusal::new(
            "bad_filter",
            format!("filter {column}: {text:?} is not eq.<value> or in.(<v1>,<v2>,...)"),
        ));
    };
    Ok(ColumnFilter { column: column.to_owned(), values })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
    }

    #[test]
    fn parses_topics() {
        assert_eq!(parse("system", &f(&[]), None).unwrap(), Topic::System);
        assert_eq!(parse("conversation:7", &f(&[]), None).unwrap(), Topic::Conversation(7));
        let Topic::Inbox(i) =
            parse("inbox", &f(&[("team_id", json!(3)), ("unread", json!(true)), ("status", json!("open"))]), None)
                .unwrap()
        else {
            panic!()
        };
        assert_eq!((i.team_id, i.unread, i.status), (Some(3), Some(true), Some(platica_inbox::Status::Open)));
        let t = parse(
            "table:messages",
            &f(&[("conversation_id", json!("eq.5")), ("status", json!("in.(sent, read)"))]),
            Some(&["insert".into()]),
        )
        .unwrap();
        let Topic::Table { events, filters, .. } = t else { panic!() };
        assert_eq!(events, [true, false, false]);
        let row = json!({"conversation_id": 5, "status": "read"});
        assert!(filters.iter().all(|c| c.matches(row.as_object().unwrap())));
        let row = json!({"conversation_id": 6, "status": "read"});
        assert!(!filters.iter().all(|c| c.matches(row.as_object().unwrap())));
    }

    #[test]
    fn issue_9_tables_are_followed_with_their_rules() {
        for (table, vis) in [
            ("calls", Visibility::ProspectRef),
            ("scheduled_calls", Visibility::ProspectRef),
            ("tickets", Visibility::Ticket),
            ("ticket_comments", Visibility::Ticket),
            ("notifications", Visibility::Owner),
        ] {
            assert_eq!(table_visibility(table), Some(vis));
            let t = parse(&format!("table:{table}"), &f(&[("status", json!("in.(ringing,in_progress)"))]), None);
            assert!(matches!(t, Ok(Topic::Table { .. })), "{table}");
        }
    }

    #[test]
    fn refuses_clearly() {
        for (topic, filters, events, code) in [
            ("table:sessions", f(&[]), None, "unknown_table"),
            ("table:messages", f(&[("x", json!("gt.1"))]), None, "bad_filter"),
            ("table:messages", f(&[("x", json!(1))]), None, "bad_filter"),
            ("table:messages", f(&[]), Some(vec!["upsert".to_owned()]), "bad_subscription"),
            ("conversation:abc", f(&[]), None, "bad_topic"),
            ("conversation:-1", f(&[]), None, "bad_topic"),
            ("inbox", f(&[("color", json!("red"))]), None, "bad_filter"),
            ("inbox", f(&[("status", json!("maybe"))]), None, "bad_filter"),
            ("inbox", f(&[]), Some(vec!["insert".to_owned()]), "bad_subscription"),
            ("nope", f(&[]), None, "bad_topic"),
        ] {
            let err = parse(topic, &filters, events.as_deref()).unwrap_err();
            assert_eq!(err.code, code, "{topic} {filters:?}: {}", err.message);
        }
    }
}
