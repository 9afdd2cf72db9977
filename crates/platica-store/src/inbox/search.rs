//! Message text search: PostgreSQL full-text search over `messages.body` (messages and private
//! notes), through the GIN index of migration 0028.
//!
//! A text is indexed twice, under `platica_es` and `platica_en` (`unaccent`, then the Spanish or
//! English Snowball stemmer; the stored column `messages.search`, GIN-indexed), and a query
//! (`websearch_to_tsquery`: words, `"a phrase"`, `or`, `-word`) matches when it matches in
//! either language, so "envíos" finds "envío" and "Envio".
//! Results are ranked by `ts_rank`, newest first among equals, and only ever come from
//! conversations the viewer sees (the one visibility rule, on the conversation's prospect).
//! Each carries a snippet (`ts_headline`) split into plain and matching segments, so the web
//! app renders the matching words without ever parsing HTML (what the text search parser reads
//! as an HTML tag, `<b>`, is left out of a snippet).

use chrono::{DateTime, Utc};
use platica_domain::Viewer;
use serde::Serialize;
use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::error::StoreResult;
use crate::inbox::prospects::push_visible;

/// Where `ts_headline` marks a match: control characters removed from the text first, so the
/// markers cannot be forged by a message.
const START: char = '\u{1}';
const STOP: char = '\u{2}';

/// Deepest page offset a search serves (deeper pages are not worth their cost).
pub const MAX_OFFSET: i64 = 1000;

/// A piece of a snippet: plain text or a matching word.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SnippetSegment {
    pub text: String,
    /// The text is a match of the query.
    pub hit: bool,
}

/// A message (or note) that matches a search.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MessageHit {
    pub message_id: i64,
    pub conversation_id: i64,
    pub prospect_id: i64,
    pub prospect_name: String,
    /// `message` or `note`.
    pub kind: String,
    /// `in` (from the prospect) or `out`.
    pub direction: String,
    /// `prospect`, `bot`, `executive` or `system`.
    pub sender_kind: String,
    pub created_at: DateTime<Utc>,
    /// `ts_rank` of the message for the query (higher first).
    pub rank: f32,
    /// The part of the text around the matches, matches marked.
    pub snippet: Vec<SnippetSegment>,
}

/// One page of message search results.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MessageHits {
    pub items: Vec<MessageHit>,
    /// Offset of the next page (`null`: this was the last, or the deepest served).
    pub next_offset: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct HitRow {
    message_id: i64,
    conversation_id: i64,
    prospect_id: i64,
    prospect_name: String,
    kind: String,
    direction: String,
    sender_kind: String,
    created_at: DateTime<Utc>,
    rank: f32,
    headline: String,
}

/// Splits a `ts_headline` marked with `START` and `STOP` into segments.
pub fn segments(headline: &str) -> Vec<SnippetSegment> {
    let mut out: Vec<SnippetSegment> = Vec::new();
    let mut hit = false;
    let mut text = String::new();
    let flush = |text: &mut String, hit: bool, out: &mut Vec<SnippetSegment>| {
        let text = std::mem::take(text);
        if !text.is_empty() {
            match out.last_mut() {
                Some(last) if last.hit == hit => last.text.push_str(&text),
                _ => out.push(SnippetSegment { text, hit }),
            }
        }
    };
    for c in headline.chars() {
        match c {
            START => {
                flush(&mut text, hit, &mut out);
                hit = true;
            }
            STOP => {
                flush(&mut text, hit, &mut out);
                hit = false;
            }
            c => text.push(c),
        }
    }
    flush(&mut text, hit, &mut out);
    out
}

/// The messages and notes matching `q` in conversations `viewer` sees, best first: `limit` of
/// them from `offset`.
pub async fn messages(pool: &PgPool, viewer: &Viewer, q: &str, offset: i64, limit: i64) -> StoreResult<MessageHits> {
    let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(
        "SELECT hit.message_id, hit.conversation_id, hit.prospect_id, hit.prospect_name, hit.kind, hit.direction,
                hit.sender_kind, hit.created_at, hit.rank,
                CASE WHEN to_tsvector('platica_es', hit.body) @@ websearch_to_tsquery('platica_es', ",
    );
    qb.push_bind(q.to_owned())
        .push(") THEN ts_headline('platica_es', translate(hit.body, chr(1) || chr(2), ''), websearch_to_tsquery('platica_es', ")
        .push_bind(q.to_owned())
        .push("), hit.options) ELSE ts_headline('platica_en', translate(hit.body, chr(1) || chr(2), ''), websearch_to_tsquery('platica_en', ")
        .push_bind(q.to_owned())
        .push(
            "), hit.options) END AS headline
         FROM (
            SELECT m.message_id, m.conversation_id, c.prospect_id, p.name AS prospect_name, m.kind, m.direction,
                   m.sender_kind, m.created_at, m.body,
                   ts_rank(m.search, platica_message_query(",
        )
        .push_bind(q.to_owned())
        .push(
            ")) AS rank,
                   format('StartSel=%s, StopSel=%s, MaxWords=30, MinWords=10', chr(1), chr(2)) AS options
            FROM messages m
            JOIN conversations c ON c.tenant_id = m.tenant_id AND c.conversation_id = m.conversation_id
            JOIN prospects p ON p.tenant_id = c.tenant_id AND p.prospect_id = c.prospect_id
            WHERE m.tenant_id = ",
        )
        .push_bind(viewer.tenant_id.0)
        .push(" AND m.search @@ platica_message_query(")
        .push_bind(q.to_owned())
        .push(")");
    push_visible(&mut qb, viewer, "p");
    qb.push(" ORDER BY rank DESC, m.created_at DESC, m.message_id DESC LIMIT ")
        .push_bind(limit + 1)
        .push(" OFFSET ")
        .push_bind(offset)
        .push(") hit ORDER BY hit.rank DESC, hit.created_at DESC, hit.message_id DESC");
    let mut rows: Vec<HitRow> = qb.build_query_as().fetch_all(pool).await?;
    let next_offset = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        Some(offset + limit).filter(|n| *n <= MAX_OFFSET)
    } else {
        None
    };
    let items = rows
        .into_iter()
        .map(|r| MessageHit {
            message_id: r.message_id,
            conversation_id: r.conversation_id,
            prospect_id: r.prospect_id,
            prospect_name: r.prospect_name,
            kind: r.kind,
            direction: r.direction,
            sender_kind: r.sender_kind,
            created_at: r.created_at,
            rank: r.rank,
            snippet: segments(&r.headline),
        })
        .collect();
    Ok(MessageHits { items, next_offset })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marked_headline_splits_into_segments() {
        let s = segments("hola \u{1}envío\u{2} de \u{1}precio\u{2}");
        assert_eq!(
            s,
            vec![
                SnippetSegment { text: "hola ".into(), hit: false },
                SnippetSegment { text: "envío".into(), hit: true },
                SnippetSegment { text: " de ".into(), hit: false },
                SnippetSegment { text: "precio".into(), hit: true },
            ]
        );
        assert_eq!(segments(""), vec![]);
        assert_eq!(segments("\u{1}a\u{2}\u{1}b\u{2}"), vec![SnippetSegment { text: "ab".into(), hit: true }]);
    }
}
