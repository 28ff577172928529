//! Zendesk objects → unified records. A record that cannot be mapped is quarantined with the
//! reason; the rest of the page goes on.
//!
//! The export pages are parsed into each record's exact text plus the few fields Engage maps,
//! never into a full JSON tree: that is what keeps a sync of large tickets fast and lean.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use engage_connect::Page;
use engage_model::{Identity, Quarantined, Record, SurveyKind, SurveyResponse, Ticket, raw_json};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// One page of an incremental export, each record kept as the exact text received.
#[derive(Deserialize)]
pub(crate) struct ExportPage {
    #[serde(default)]
    pub tickets: Vec<Box<RawValue>>,
    #[serde(default)]
    pub users: Vec<Box<RawValue>>,
    #[serde(default)]
    pub metric_sets: Vec<Box<RawValue>>,
    pub after_cursor: Option<String>,
    pub end_of_stream: Option<bool>,
}

/// The ticket fields Engage maps; everything else stays in the raw text untouched.
#[derive(Deserialize)]
struct TicketFields {
    id: Option<Value>,
    created_at: Option<Value>,
    updated_at: Option<Value>,
    subject: Option<Value>,
    raw_subject: Option<Value>,
    status: Option<Value>,
    priority: Option<Value>,
    requester_id: Option<Value>,
    via: Option<Via>,
    satisfaction_rating: Option<Rating>,
}

#[derive(Deserialize)]
struct Via {
    channel: Option<Value>,
}

#[derive(Deserialize)]
struct Rating {
    score: Option<Value>,
}

/// The metric-set fields Engage maps.
#[derive(Deserialize)]
struct MetricFields {
    ticket_id: Option<Value>,
    reply_time_in_minutes: Option<Minutes>,
    first_resolution_time_in_minutes: Option<Minutes>,
    full_resolution_time_in_minutes: Option<Minutes>,
    reopens: Option<Value>,
    replies: Option<Value>,
    solved_at: Option<Value>,
}

/// Zendesk's `{calendar, business}` minutes; null until the event happened.
#[derive(Deserialize)]
struct Minutes {
    calendar: Option<f64>,
}

#[derive(Deserialize)]
struct UserFields {
    id: Option<Value>,
    email: Option<Value>,
    phone: Option<Value>,
    name: Option<Value>,
    created_at: Option<Value>,
    updated_at: Option<Value>,
    active: Option<Value>,
}

#[derive(Deserialize)]
struct IdOnly {
    id: Option<Value>,
}

/// Text of a string or number field; `None` for null, absent, empty or other types.
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Zendesk ids are integers (often beyond 32 bits); anything else is a malformed record.
fn integer_id(value: Option<&Value>) -> Result<String, String> {
    match value {
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Ok(n.to_string()),
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => Ok(s.clone()),
        Some(other) => Err(format!("id: `{other}` is not an integer id")),
        None => Err("id: missing".into()),
    }
}

fn time(value: Option<&Value>, field: &str) -> Result<Option<DateTime<Utc>>, String> {
    engage_connect::time::json_timestamp(value).map_err(|e| format!("{field}: {e}"))
}

fn payload(text: &str) -> Result<Box<RawValue>, String> {
    raw_json(text).map_err(|e| format!("payload: {e}"))
}

/// A record that could not be mapped, kept as received with the reason.
fn quarantine(item: &RawValue, reason: String) -> Quarantined {
    let id = serde_json::from_str::<IdOnly>(item.get()).ok().and_then(|f| text(f.id.as_ref()));
    Quarantined { source_id: id, raw: item.get().to_owned(), reason }
}

/// Maps every item with `map`, quarantining the ones it rejects.
fn page_of<T: IntoIterator<Item = Record>>(
    items: &[Box<RawValue>],
    mut map: impl FnMut(&RawValue) -> Result<T, String>,
) -> Page {
    let mut page = Page::default();
    for item in items {
        match map(item) {
            Ok(records) => page.records.extend(records),
            Err(reason) => page.quarantined.push(quarantine(item, reason)),
        }
    }
    page
}

/// Tickets of one export page, each with its sideloaded metric set added to its raw text under
/// `metric_set`.
pub(crate) fn tickets(items: &[Box<RawValue>], metric_sets: &[Box<RawValue>]) -> Page {
    let metrics: HashMap<String, (&RawValue, MetricFields)> = metric_sets
        .iter()
        .filter_map(|m| {
            let fields: MetricFields = serde_json::from_str(m.get()).ok()?;
            Some((text(fields.ticket_id.as_ref())?, (m.as_ref(), fields)))
        })
        .collect();
    page_of(items, |item| ticket(item, &metrics))
}

fn ticket(
    item: &RawValue,
    metrics: &HashMap<String, (&RawValue, MetricFields)>,
) -> Result<[Record; 1], String> {
    let fields: TicketFields = serde_json::from_str(item.get()).map_err(|e| format!("ticket: {e}"))?;
    let id = integer_id(fields.id.as_ref())?;
    let created_at = time(fields.created_at.as_ref(), "created_at")?.ok_or("created_at: missing")?;
    let updated_at = time(fields.updated_at.as_ref(), "updated_at")?;
    let metric = metrics.get(&id);
    let m = metric.map(|(_, fields)| fields);
    let solved_at = match m {
        Some(m) => time(m.solved_at.as_ref(), "metric_set.solved_at")?,
        None => None,
    };
    let raw = match metric {
        Some((metric_raw, _)) => with_metric_set(item.get(), metric_raw.get())?,
        None => payload(item.get())?,
    };
    let status = text(fields.status.as_ref()).map(|s| s.to_lowercase());
    let deleted = status.as_deref() == Some("deleted");
    let customer = text(fields.requester_id.as_ref());

    let calendar = |v: &Option<Minutes>| v.as_ref().and_then(|v| v.calendar);
    let count = |v: &Option<Value>| v.as_ref().and_then(Value::as_i64);
    let ticket = Ticket {
        customer_source_id: customer,
        customer_email: None,
        subject: text(fields.subject.as_ref()).or_else(|| text(fields.raw_subject.as_ref())),
        channel: fields.via.as_ref().and_then(|v| text(v.channel.as_ref())).map(|c| c.to_lowercase()),
        status,
        priority: text(fields.priority.as_ref()).map(|p| p.to_lowercase()),
        created_at: Some(created_at),
        updated_at,
        first_reply_at: None,
        solved_at,
        first_reply_minutes: m.and_then(|m| calendar(&m.reply_time_in_minutes)),
        first_resolution_minutes: m.and_then(|m| calendar(&m.first_resolution_time_in_minutes)),
        full_resolution_minutes: m.and_then(|m| calendar(&m.full_resolution_time_in_minutes)),
        reopens: m.and_then(|m| count(&m.reopens)),
        replies: m.and_then(|m| count(&m.replies)),
        satisfaction: fields.satisfaction_rating.as_ref().and_then(|r| text(r.score.as_ref())),
    };
    let record = Record::new(id, raw, ticket);
    Ok([if deleted { record.deleted(updated_at.unwrap_or(created_at)) } else { record }])
}

/// The ticket's exact text with `"metric_set": <metric text>` added as its last member.
fn with_metric_set(ticket: &str, metric: &str) -> Result<Box<RawValue>, String> {
    let inner = ticket.trim_end().strip_suffix('}').ok_or("ticket: not a JSON object")?;
    let separator = if inner.trim_end().ends_with('{') { "" } else { "," };
    payload(&format!(r#"{inner}{separator}"metric_set":{metric}}}"#))
}

/// Users of one export page → identities; a user with `active: false` was deleted.
pub(crate) fn users(items: &[Box<RawValue>]) -> Page {
    page_of(items, |item| {
        let fields: UserFields = serde_json::from_str(item.get()).map_err(|e| format!("user: {e}"))?;
        let id = integer_id(fields.id.as_ref())?;
        let identity = Identity {
            email: text(fields.email.as_ref()),
            phone: text(fields.phone.as_ref()),
            name: text(fields.name.as_ref()),
            created_at: time(fields.created_at.as_ref(), "created_at")?,
            updated_at: time(fields.updated_at.as_ref(), "updated_at")?,
        };
        let inactive = fields.active.as_ref().and_then(Value::as_bool) == Some(false);
        let deleted_at = if inactive { identity.updated_at.or(identity.created_at) } else { None };
        let record = Record::new(id, payload(item.get())?, identity);
        Ok([match deleted_at {
            Some(at) => record.deleted(at),
            None => record,
        }])
    })
}

/// Satisfaction ratings of one page → CSAT responses (good = 1, bad = 0, offered = no score).
pub(crate) fn ratings(items: &[Box<RawValue>]) -> Page {
    page_of(items, |item| {
        let fields: Value = serde_json::from_str(item.get()).map_err(|e| format!("rating: {e}"))?;
        let id = integer_id(fields.get("id"))?;
        let score = match text(fields.get("score")).as_deref() {
            Some("good") => Some(1.0),
            Some("bad") => Some(0.0),
            Some("offered" | "unoffered") | None => None,
            Some(other) => return Err(format!("score: unknown value `{other}`")),
        };
        let response = SurveyResponse {
            platform: "zendesk".into(),
            survey_id: text(fields.get("ticket_id")),
            question: Some("How would you rate the support you received?".into()),
            kind: SurveyKind::Csat,
            score,
            scale_min: Some(0.0),
            scale_max: Some(1.0),
            comment: text(fields.get("comment")),
            customer_source_id: text(fields.get("requester_id")),
            customer_email: None,
            answered_at: time(fields.get("updated_at"), "updated_at")?
                .or(time(fields.get("created_at"), "created_at")?),
        };
        Ok([Record::new(id, payload(item.get())?, response)])
    })
}
