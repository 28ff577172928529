//! Zendesk objects → unified records. A record that cannot be mapped is quarantined with the
//! reason; the rest of the page goes on.

use std::collections::HashMap;

use engage_connect::{Page, source_id};
use engage_model::{Channel, Identity, Interaction, Record, SurveyKind, SurveyResponse, Ticket, raw_json};
use serde_json::Value;

use crate::{quarantine, time_field};

fn text(record: &Value, pointer: &str) -> Option<String> {
    match record.pointer(pointer)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn minutes(metric: Option<&Value>, pointer: &str) -> Option<f64> {
    metric?.pointer(pointer)?.as_f64()
}

/// Zendesk ids are integers (often beyond 32 bits); anything else is a malformed record.
fn numeric_id(record: &Value) -> Result<String, String> {
    match record.get("id") {
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Ok(n.to_string()),
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => Ok(s.clone()),
        Some(other) => Err(format!("id: `{other}` is not an integer id")),
        None => Err("id: missing".into()),
    }
}

fn raw(value: &Value) -> Result<Box<serde_json::value::RawValue>, String> {
    raw_json(&value.to_string()).map_err(|e| format!("payload: {e}"))
}

/// Tickets of one export page, each with its sideloaded metric set.
pub(crate) fn tickets(items: &[Value], metric_sets: Option<&Value>) -> Page {
    let metrics: HashMap<String, &Value> = metric_sets
        .and_then(Value::as_array)
        .map(|sets| sets.iter().filter_map(|m| Some((source_id(m, "ticket_id")?, m))).collect())
        .unwrap_or_default();
    let mut page = Page::default();
    for item in items {
        let metric = source_id(item, "id").and_then(|id| metrics.get(&id).copied());
        match ticket(item, metric) {
            Ok(records) => page.records.extend(records),
            Err(reason) => page.quarantined.push(quarantine(item, "id", reason)),
        }
    }
    page
}

fn ticket(item: &Value, metric: Option<&Value>) -> Result<[Record; 2], String> {
    let id = numeric_id(item)?;
    let created_at = time_field(item, "created_at")?.ok_or("created_at: missing")?;
    let updated_at = time_field(item, "updated_at")?;
    let solved_at = match metric {
        Some(m) => time_field(m, "solved_at")?,
        None => None,
    };
    let payload = match metric {
        Some(m) => {
            let mut with_metrics = item.clone();
            if let Some(object) = with_metrics.as_object_mut() {
                object.insert("metric_set".into(), m.clone());
            }
            raw(&with_metrics)?
        }
        None => raw(item)?,
    };
    let status = text(item, "/status").map(|s| s.to_lowercase());
    let deleted = status.as_deref() == Some("deleted");
    let customer = text(item, "/requester_id");
    let ticket = Ticket {
        customer_source_id: customer.clone(),
        customer_email: None,
        subject: text(item, "/subject").or_else(|| text(item, "/raw_subject")),
        channel: text(item, "/via/channel").map(|c| c.to_lowercase()),
        status,
        priority: text(item, "/priority").map(|p| p.to_lowercase()),
        created_at: Some(created_at),
        updated_at,
        first_reply_at: None,
        solved_at,
        first_reply_minutes: minutes(metric, "/reply_time_in_minutes/calendar"),
        first_resolution_minutes: minutes(metric, "/first_resolution_time_in_minutes/calendar"),
        full_resolution_minutes: minutes(metric, "/full_resolution_time_in_minutes/calendar"),
        reopens: metric.and_then(|m| m.get("reopens")).and_then(Value::as_i64),
        replies: metric.and_then(|m| m.get("replies")).and_then(Value::as_i64),
        satisfaction: text(item, "/satisfaction_rating/score"),
    };
    let interaction = Interaction {
        customer_source_id: customer,
        customer_email: None,
        channel: Channel::Helpdesk,
        kind: "ticket".into(),
        occurred_at: Some(created_at),
        value: None,
    };
    let deleted_at = deleted.then(|| updated_at.unwrap_or(created_at));
    let mut records =
        [Record::new(id.clone(), payload.clone(), ticket), Record::new(id, payload, interaction)];
    if let Some(at) = deleted_at {
        records = records.map(|r| r.deleted(at));
    }
    Ok(records)
}

/// Users of one export page → identities.
pub(crate) fn users(items: &[Value]) -> Page {
    let mut page = Page::default();
    for item in items {
        match user(item) {
            Ok(record) => page.records.push(record),
            Err(reason) => page.quarantined.push(quarantine(item, "id", reason)),
        }
    }
    page
}

fn user(item: &Value) -> Result<Record, String> {
    let id = numeric_id(item)?;
    let identity = Identity {
        email: text(item, "/email"),
        phone: text(item, "/phone"),
        name: text(item, "/name"),
        created_at: time_field(item, "created_at")?,
        updated_at: time_field(item, "updated_at")?,
    };
    // Zendesk keeps deleted users with `active: false`.
    let inactive = item.get("active").and_then(Value::as_bool) == Some(false);
    let deleted_at = if inactive { identity.updated_at.or(identity.created_at) } else { None };
    let record = Record::new(id, raw(item)?, identity);
    Ok(match deleted_at {
        Some(at) => record.deleted(at),
        None => record,
    })
}

/// Satisfaction ratings of one page → CSAT responses (good = 1, bad = 0, offered = no score).
pub(crate) fn ratings(items: &[Value]) -> Page {
    let mut page = Page::default();
    for item in items {
        match rating(item) {
            Ok(record) => page.records.push(record),
            Err(reason) => page.quarantined.push(quarantine(item, "id", reason)),
        }
    }
    page
}

fn rating(item: &Value) -> Result<Record, String> {
    let id = numeric_id(item)?;
    let score = match text(item, "/score").as_deref() {
        Some("good") => Some(1.0),
        Some("bad") => Some(0.0),
        Some("offered" | "unoffered") | None => None,
        Some(other) => return Err(format!("score: unknown value `{other}`")),
    };
    let response = SurveyResponse {
        platform: "zendesk".into(),
        survey_id: text(item, "/ticket_id"),
        question: Some("How would you rate the support you received?".into()),
        kind: SurveyKind::Csat,
        score,
        scale_min: Some(0.0),
        scale_max: Some(1.0),
        comment: text(item, "/comment"),
        customer_source_id: text(item, "/requester_id"),
        customer_email: None,
        answered_at: time_field(item, "updated_at")?.or(time_field(item, "created_at")?),
    };
    Ok(Record::new(id, raw(item)?, response))
}
