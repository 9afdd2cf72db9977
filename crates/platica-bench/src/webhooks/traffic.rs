//! The webhooks a step sends: the Cloud API payloads of the mix, signed like Meta signs them.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use super::{APP_SECRET, CYCLE, PHONE_NUMBER_ID};
use crate::stats::now_micros;

pub fn sign(body: &[u8]) -> String {
    platica_domain::signature::sign(APP_SECRET, body)
}

fn notification(value: Value) -> Value {
    let mut value = value;
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID});
    json!({"object": "whatsapp_business_account",
           "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}]})
}

/// What webhook `i` of a step carries.
#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Single,
    Batch,
    NewNumber,
    Status,
}

pub fn kind_of(i: u64) -> Kind {
    match i % CYCLE {
        4 | 14 => Kind::Batch,
        9 => Kind::NewNumber,
        7 | 17 => Kind::Status,
        _ => Kind::Single,
    }
}

fn messages_of(k: Kind) -> u64 {
    match k {
        Kind::Single | Kind::NewNumber => 1,
        Kind::Batch => 3,
        Kind::Status => 0,
    }
}

const TEXTS: &[&str] = &[
    "Hola, ¿me pasa el precio?",
    "¿Tienen disponibilidad para el jueves?",
    "Gracias, lo reviso con mi esposa",
    "¿Aceptan tarjeta?",
    "Ok, mándeme la cotización por favor",
];

/// The world a step sends into.
pub struct Plan {
    /// Phones of existing prospects, without the `+` (the Cloud API's `wa_id`).
    pub wa_ids: Vec<String>,
    /// Outbound message ids handed out to status webhooks.
    pub next_out: AtomicU64,
    pub out_total: u64,
}

/// The payload of webhook `i` of step `step`; (body, messages, statuses).
pub fn payload(plan: &Plan, step: usize, i: u64) -> (Vec<u8>, u64, u64) {
    let t = now_micros();
    let existing =
        |n: u64| plan.wa_ids[((n.wrapping_mul(7919) + step as u64 * 131) % plan.wa_ids.len() as u64) as usize].clone();
    let text = |wa: &str, k: u64| {
        json!({"from": wa, "id": format!("wamid.S{step}.{i}.{k}"), "timestamp": (t / 1_000_000).to_string(),
               "type": "text", "text": {"body": format!("t={t} {}", TEXTS[((i + k) % TEXTS.len() as u64) as usize])}})
    };
    let contact = |wa: &str| json!({"profile": {"name": format!("Cliente {wa}")}, "wa_id": wa});
    let kind = kind_of(i);
    let v = match kind {
        Kind::Single => {
            let wa = existing(i);
            notification(json!({"contacts": [contact(&wa)], "messages": [text(&wa, 0)]}))
        }
        Kind::Batch => {
            let was: Vec<String> = (0..3).map(|k| existing(i * 3 + k + 1)).collect();
            notification(json!({
                "contacts": was.iter().map(|w| contact(w)).collect::<Vec<_>>(),
                "messages": was.iter().enumerate().map(|(k, w)| text(w, k as u64)).collect::<Vec<_>>()}))
        }
        Kind::NewNumber => {
            let wa = format!("5219{step:02}{i:07}");
            notification(json!({"contacts": [contact(&wa)], "messages": [text(&wa, 0)]}))
        }
        Kind::Status => {
            let n = plan.next_out.fetch_add(1, Ordering::Relaxed) % plan.out_total.max(1);
            let id = format!("wamid.OUT.{n}");
            let ts = (t / 1_000_000).to_string();
            notification(json!({"statuses": [
                {"id": id, "status": "delivered", "timestamp": ts, "recipient_id": "5215500000000"},
                {"id": id, "status": "read", "timestamp": ts, "recipient_id": "5215500000000"}]}))
        }
    };
    let statuses = if kind == Kind::Status { 2 } else { 0 };
    (v.to_string().into_bytes(), messages_of(kind), statuses)
}
