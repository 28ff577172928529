//! Zendesk objects → unified records. A record that cannot be mapped is quarantined with the
//! reason; the rest of the page goes on.
//!
//! The export pages are parsed into each record's exact text plus the few fields Engage maps,
//! never into a full JSON tree: that is what keeps a sync of large tickets fast and lean.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use engage_connect::Page;
use engage_model::{Identity, Quarantined, Record, SurveyKind, SurveyResponse, Ticket};
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
        None => item.to_owned(),
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

/// The ticket's exact text with `"metric_set": <metric text>` added as its last member, built
/// in one buffer of the final size.
fn with_metric_set(ticket: &str, metric: &str) -> Result<Box<RawValue>, String> {
    const KEY: &str = r#""metric_set":"#;
    let inner = ticket.trim_end().strip_suffix('}').ok_or("ticket: not a JSON object")?;
    let mut text = String::with_capacity(inner.len() + 1 + KEY.len() + metric.len() + 1);
    text.push_str(inner);
    if !inner.trim_end().ends_with('{') {
        text.push(',');
    }
    text.push_str(KEY);
    text.push_str(metric);
    text.push('}');
    RawValue::from_string(text).map_err(|e| format!("payload: {e}"))
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
        let record = Record::new(id, item.to_owned(), identity);
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
        Ok([Record::new(id, item.to_owned(), response)])
    })
}

#[cfg(test)]
mod tests {
    //! The official Zendesk examples (and variants of them) mapped field by field.

    #![allow(clippy::unwrap_used)]

    use engage_model::{Entity, SurveyKind};
    use serde_json::json;

    use super::*;

    const TICKETS_PAGE: &str =
        include_str!("../../../engage-sandbox/fixtures/zendesk/oas_incremental_tickets_cursor.json");
    const USERS_PAGE: &str =
        include_str!("../../../engage-sandbox/fixtures/zendesk/oas_incremental_users_cursor.json");
    const RATINGS_PAGE: &str =
        include_str!("../../../engage-sandbox/fixtures/zendesk/oas_satisfaction_ratings_list.json");
    const METRIC_SHOW: &str = include_str!("../fixtures/zendesk/oas_ticket_metric_show.json");
    const METRICS_LIST: &str = include_str!("../fixtures/zendesk/oas_ticket_metrics_list.json");

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    fn value(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    /// The items of a fixture's array `key`, each kept as its exact text.
    fn items(page: &str, key: &str) -> Vec<Box<RawValue>> {
        let map: HashMap<String, Box<RawValue>> = serde_json::from_str(page).unwrap();
        serde_json::from_str(map[key].get()).unwrap()
    }

    /// The official export page, parsed as the connector parses it.
    fn ticket_page() -> ExportPage {
        serde_json::from_str(TICKETS_PAGE).unwrap()
    }

    /// The official ticket as a JSON value (to make variants of it).
    fn official_ticket() -> Value {
        value(ticket_page().tickets[0].get())
    }

    /// The official metric set example, made to belong to ticket `ticket_id`.
    fn metric_for(ticket_id: Value) -> Value {
        let mut metric = value(items(METRIC_SHOW, "ticket_metric")[0].get());
        metric["ticket_id"] = ticket_id;
        metric
    }

    fn ticket_of(record: &Record) -> &Ticket {
        match &record.entity {
            Entity::Ticket(ticket) => ticket,
            other => panic!("not a ticket: {other:?}"),
        }
    }

    fn map_tickets(tickets: &[Value], metric_sets: &[Value]) -> Page {
        let encode = |v: &Value| raw(&v.to_string());
        let tickets: Vec<_> = tickets.iter().map(encode).collect();
        let metric_sets: Vec<_> = metric_sets.iter().map(encode).collect();
        super::tickets(&tickets, &metric_sets)
    }

    /// Every mapped field of the official incremental-export ticket, with the official metric set
    /// example (its `ticket_id` rewritten to the ticket's) among metric sets of other tickets.
    #[test]
    fn official_ticket_maps_every_field_and_keeps_its_exact_text_plus_metric_set() {
        let page = ticket_page();
        assert_eq!(page.after_cursor.as_deref(), Some("MTU3NjYxMzUzOS4wfHw0Njd8"));
        assert_eq!(page.end_of_stream, Some(true));
        let ticket_text = page.tickets[0].get();

        let show = items(METRIC_SHOW, "ticket_metric");
        let metric_text = show[0].get().replace(r#""ticket_id": 1517"#, r#""ticket_id": 35436"#);
        assert_ne!(metric_text, show[0].get(), "the example's ticket_id was rewritten");
        // The list example's metric sets (tickets 1517 and 1511) surround it: only the one whose
        // ticket_id is the ticket's may be attached.
        let mut metric_sets = items(METRICS_LIST, "ticket_metrics");
        assert_eq!(metric_sets.len(), 2);
        metric_sets.insert(1, raw(&metric_text));

        let out = tickets(&page.tickets, &metric_sets);
        assert!(out.quarantined.is_empty(), "{:?}", out.quarantined);
        assert_eq!(out.records.len(), 1);
        let record = &out.records[0];
        assert_eq!(record.source_id, "35436");
        assert_eq!(record.deleted_at, None);
        assert_eq!(
            record.entity,
            Entity::Ticket(Ticket {
                customer_source_id: Some("20978392".into()),
                customer_email: None,
                // `subject`, not the dynamic-content placeholder in `raw_subject`.
                subject: Some("Help, my printer is on fire!".into()),
                channel: Some("web".into()),
                status: Some("open".into()),
                priority: Some("high".into()),
                created_at: Some(at("2009-07-20T22:55:29Z")),
                updated_at: Some(at("2011-05-05T10:38:52Z")),
                first_reply_at: None,
                solved_at: Some(at("2020-07-20T06:21:26Z")),
                first_reply_minutes: Some(16.0),
                first_resolution_minutes: Some(0.0),
                full_resolution_minutes: Some(0.0),
                reopens: Some(0),
                replies: Some(1),
                satisfaction: Some("good".into()),
            })
        );

        // raw = the ticket as received plus "metric_set" as its last member.
        let mut expected = value(ticket_text);
        expected.as_object_mut().unwrap().insert("metric_set".into(), value(&metric_text));
        let got = value(record.raw.get());
        assert_eq!(got, expected);
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&got), keys(&expected), "members keep their order, metric_set last");
        // Byte for byte: the ticket's own text (up to its closing brace) and the metric set's.
        let ticket_body = ticket_text.trim_end().strip_suffix('}').unwrap().trim_end();
        assert!(record.raw.get().starts_with(ticket_body), "{}", record.raw.get());
        assert!(record.raw.get().contains(&metric_text));
        assert_eq!(got["metric_set"]["ticket_id"], json!(35436));
    }

    /// A ticket without a metric set in the page keeps exactly its own text, with no metrics.
    #[test]
    fn ticket_without_its_metric_set_is_kept_verbatim() {
        let page = ticket_page();
        let others = items(METRICS_LIST, "ticket_metrics");
        let out = tickets(&page.tickets, &others);
        assert_eq!(out.records.len(), 1);
        let record = &out.records[0];
        assert_eq!(record.raw.get(), page.tickets[0].get());
        let ticket = ticket_of(record);
        assert_eq!(ticket.subject.as_deref(), Some("Help, my printer is on fire!"));
        assert_eq!(ticket.solved_at, None);
        assert_eq!(ticket.first_reply_minutes, None);
        assert_eq!(ticket.first_resolution_minutes, None);
        assert_eq!(ticket.full_resolution_minutes, None);
        assert_eq!(ticket.reopens, None);
        assert_eq!(ticket.replies, None);
    }

    /// Minutes are the `calendar` ones (not `business`), each from its own field, and stay empty
    /// while Zendesk reports them null (the event has not happened).
    #[test]
    fn metric_minutes_are_calendar_and_null_until_the_event() {
        let mut metric = metric_for(json!(35436));
        metric["reply_time_in_minutes"] = json!({ "business": 9, "calendar": 16 });
        metric["first_resolution_time_in_minutes"] = json!({ "business": 40, "calendar": 70 });
        metric["full_resolution_time_in_minutes"] = json!({ "business": 100, "calendar": 250 });
        metric["reopens"] = json!(2);
        metric["replies"] = json!(5);
        let out = map_tickets(&[official_ticket()], &[metric]);
        let ticket = ticket_of(&out.records[0]);
        assert_eq!(ticket.first_reply_minutes, Some(16.0));
        assert_eq!(ticket.first_resolution_minutes, Some(70.0));
        assert_eq!(ticket.full_resolution_minutes, Some(250.0));
        assert_eq!(ticket.reopens, Some(2));
        assert_eq!(ticket.replies, Some(5));

        let mut unsolved = metric_for(json!(35436));
        unsolved["first_resolution_time_in_minutes"] = json!({ "business": null, "calendar": null });
        unsolved["full_resolution_time_in_minutes"] = json!({ "business": null, "calendar": null });
        unsolved["solved_at"] = Value::Null;
        let out = map_tickets(&[official_ticket()], &[unsolved.clone()]);
        assert!(out.quarantined.is_empty(), "{:?}", out.quarantined);
        let ticket = ticket_of(&out.records[0]);
        assert_eq!(ticket.first_reply_minutes, Some(16.0));
        assert_eq!(ticket.first_resolution_minutes, None);
        assert_eq!(ticket.full_resolution_minutes, None);
        assert_eq!(ticket.solved_at, None);
        assert_eq!(value(out.records[0].raw.get())["metric_set"], unsolved);
    }

    /// Channel, status and priority are lower-cased; an empty or null `subject` falls back to
    /// `raw_subject`.
    #[test]
    fn ticket_text_fields_are_normalised() {
        let mut ticket = official_ticket();
        ticket["via"]["channel"] = json!("Web");
        ticket["status"] = json!("Open");
        ticket["priority"] = json!("HIGH");
        ticket["subject"] = Value::Null;
        let mut empty_subject = official_ticket();
        empty_subject["id"] = json!(35437);
        empty_subject["subject"] = json!("");
        let out = map_tickets(&[ticket, empty_subject], &[]);
        assert_eq!(out.records.len(), 2);
        let first = ticket_of(&out.records[0]);
        assert_eq!(first.channel.as_deref(), Some("web"));
        assert_eq!(first.status.as_deref(), Some("open"));
        assert_eq!(first.priority.as_deref(), Some("high"));
        assert_eq!(first.subject.as_deref(), Some("{{dc.printer_on_fire}}"));
        assert_eq!(ticket_of(&out.records[1]).subject.as_deref(), Some("{{dc.printer_on_fire}}"));
    }

    /// `status: "deleted"` (which the OAS enum does not list, but the export sends) is a deletion
    /// at `updated_at`; only that status is.
    #[test]
    fn deleted_tickets_are_deletions_at_updated_at() {
        let mut deleted = official_ticket();
        deleted["status"] = json!("deleted");
        let mut deleted_upper = official_ticket();
        deleted_upper["id"] = json!(35437);
        deleted_upper["status"] = json!("Deleted");
        deleted_upper["updated_at"] = json!("2012-01-02T03:04:05Z");
        let mut solved = official_ticket();
        solved["id"] = json!(35438);
        solved["status"] = json!("solved");
        let out = map_tickets(&[deleted, deleted_upper, solved], &[metric_for(json!(35436))]);
        assert!(out.quarantined.is_empty(), "{:?}", out.quarantined);
        let [a, b, c] = &out.records[..] else { panic!("{:?}", out.records) };
        assert_eq!(a.deleted_at, Some(at("2011-05-05T10:38:52Z")));
        assert_eq!(ticket_of(a).status.as_deref(), Some("deleted"));
        assert_eq!(b.deleted_at, Some(at("2012-01-02T03:04:05Z")));
        assert_eq!(c.deleted_at, None);
    }

    /// The official user example → an identity with every mapped field; `active: false` is a
    /// deletion at `updated_at`.
    #[test]
    fn official_user_maps_to_an_identity_and_inactive_is_deleted() {
        let users = items(USERS_PAGE, "users");
        assert_eq!(users.len(), 1);
        let out = super::users(&users);
        assert!(out.quarantined.is_empty(), "{:?}", out.quarantined);
        let record = &out.records[0];
        assert_eq!(record.source_id, "35436");
        assert_eq!(record.raw.get(), users[0].get());
        assert_eq!(record.deleted_at, None);
        assert_eq!(
            record.entity,
            Entity::Identity(Identity {
                email: Some("johnny@example.com".into()),
                phone: Some("+15551234567".into()),
                name: Some("Johnny Agent".into()),
                created_at: Some(at("2009-07-20T22:55:29Z")),
                updated_at: Some(at("2011-05-05T10:38:52Z")),
            })
        );

        let inactive_text = users[0].get().replace(r#""active": true"#, r#""active": false"#);
        assert_ne!(inactive_text, users[0].get());
        let out = super::users(&[raw(&inactive_text)]);
        let record = &out.records[0];
        assert_eq!(record.deleted_at, Some(at("2011-05-05T10:38:52Z")));
        assert_eq!(record.raw.get(), inactive_text);
        let Entity::Identity(identity) = &record.entity else { panic!("{record:?}") };
        assert_eq!(identity.email.as_deref(), Some("johnny@example.com"));
    }

    fn response_of(record: &Record) -> &SurveyResponse {
        match &record.entity {
            Entity::SurveyResponse(response) => response,
            other => panic!("not a survey response: {other:?}"),
        }
    }

    /// The official satisfaction ratings → CSAT responses: good = 1 on a 0–1 scale, the ticket is
    /// the survey, answered when last updated (the second example was updated a day after it was
    /// created).
    #[test]
    fn official_ratings_map_to_csat_responses() {
        let ratings = items(RATINGS_PAGE, "satisfaction_ratings");
        let out = super::ratings(&ratings);
        assert!(out.quarantined.is_empty(), "{:?}", out.quarantined);
        assert_eq!(out.records.len(), 2);
        let expected = [("35436", "208", "2011-07-20T22:55:29Z"), ("120447", "209", "2012-02-02T10:32:59Z")];
        for ((record, item), (id, ticket, answered)) in out.records.iter().zip(&ratings).zip(expected) {
            assert_eq!(record.source_id, id);
            assert_eq!(record.raw.get(), item.get());
            assert_eq!(record.deleted_at, None);
            assert_eq!(
                response_of(record),
                &SurveyResponse {
                    platform: "zendesk".into(),
                    survey_id: Some(ticket.into()),
                    question: Some("How would you rate the support you received?".into()),
                    kind: SurveyKind::Csat,
                    score: Some(1.0),
                    scale_min: Some(0.0),
                    scale_max: Some(1.0),
                    comment: Some("Awesome support!".into()),
                    customer_source_id: Some("7881".into()),
                    customer_email: None,
                    answered_at: Some(at(answered)),
                }
            );
        }
    }

    /// bad = 0; offered and unoffered (asked, not answered) carry no score; an unknown score is a
    /// bad record, not a guess.
    #[test]
    fn rating_scores() {
        let official = items(RATINGS_PAGE, "satisfaction_ratings")[0].get().to_owned();
        let variant = |id: u64, score: &str| {
            let text = official
                .replace(r#""score": "good""#, &format!(r#""score": "{score}""#))
                .replace(r#""id": 35436"#, &format!(r#""id": {id}"#));
            assert_ne!(text, official);
            raw(&text)
        };
        let items =
            [variant(1, "bad"), variant(2, "offered"), variant(3, "unoffered"), variant(4, "excellent")];
        let out = super::ratings(&items);
        let scores: Vec<_> =
            out.records.iter().map(|r| (r.source_id.as_str(), response_of(r).score)).collect();
        assert_eq!(scores, [("1", Some(0.0)), ("2", None), ("3", None)]);
        assert_eq!(out.quarantined.len(), 1);
        assert_eq!(out.quarantined[0].source_id.as_deref(), Some("4"));
        assert!(out.quarantined[0].reason.starts_with("score:"), "{}", out.quarantined[0].reason);
        assert_eq!(out.quarantined[0].raw, items[3].get());

        let mut no_comment = value(&official);
        no_comment["comment"] = Value::Null;
        let out = super::ratings(&[raw(&no_comment.to_string())]);
        assert_eq!(response_of(&out.records[0]).comment, None);
    }

    fn assert_quarantined(page: &Page, raw: &str, source_id: &str, field: &str) {
        let q = page.quarantined.iter().find(|q| q.raw == raw).unwrap_or_else(|| panic!("{raw} kept"));
        assert_eq!(q.source_id.as_deref(), Some(source_id));
        assert!(q.reason.starts_with(&format!("{field}:")), "reason `{}` names {field}", q.reason);
    }

    /// Malformed records (a non-integer id, an unparseable timestamp) are quarantined as received,
    /// with a reason naming the field, and the rest of the page still maps.
    #[test]
    fn malformed_records_are_quarantined_and_the_page_goes_on() {
        let good = official_ticket();
        let mut bad_id = official_ticket();
        bad_id["id"] = json!("ZD-5000000042");
        let mut fractional_id = official_ticket();
        fractional_id["id"] = json!(35436.5);
        let mut bad_created = official_ticket();
        bad_created["id"] = json!(5000000043u64);
        bad_created["created_at"] = json!("not a date");
        let mut no_created = official_ticket();
        no_created["id"] = json!(5000000044u64);
        no_created.as_object_mut().unwrap().remove("created_at");
        let mut bad_updated = official_ticket();
        bad_updated["id"] = json!(5000000045u64);
        bad_updated["updated_at"] = json!("2015-08-28T010:08:16Z");
        let mut bad_solved = metric_for(json!(5000000046u64));
        bad_solved["solved_at"] = json!("20140704T99:99:99Z");
        let mut with_bad_metric = official_ticket();
        with_bad_metric["id"] = json!(5000000046u64);
        let tickets = [bad_id, good, fractional_id, bad_created, no_created, bad_updated, with_bad_metric];
        let out = map_tickets(&tickets, &[bad_solved]);
        assert_eq!(out.records.len(), 1);
        assert_eq!(out.records[0].source_id, "35436");
        assert_eq!(out.quarantined.len(), 6);
        let text = |i: usize| tickets[i].to_string();
        assert_quarantined(&out, &text(0), "ZD-5000000042", "id");
        assert!(out.quarantined.iter().any(|q| q.raw == text(2) && q.reason.starts_with("id:")));
        assert_quarantined(&out, &text(3), "5000000043", "created_at");
        assert_quarantined(&out, &text(4), "5000000044", "created_at");
        assert_quarantined(&out, &text(5), "5000000045", "updated_at");
        assert_quarantined(&out, &text(6), "5000000046", "metric_set.solved_at");

        let user = items(USERS_PAGE, "users")[0].get().to_owned();
        let user_bad_id = user.replace(r#""id": 35436"#, r#""id": "U-1900000000042""#);
        let user_bad_created = user
            .replace(r#""id": 35436"#, r#""id": 1900000000043"#)
            .replace(r#""created_at": "2009-07-20T22:55:29Z""#, r#""created_at": "not a date""#);
        let out = super::users(&[raw(&user_bad_id), raw(&user), raw(&user_bad_created)]);
        assert_eq!(out.records.len(), 1);
        assert_eq!(out.records[0].source_id, "35436");
        assert_quarantined(&out, &user_bad_id, "U-1900000000042", "id");
        assert_quarantined(&out, &user_bad_created, "1900000000043", "created_at");

        let ratings = items(RATINGS_PAGE, "satisfaction_ratings");
        let rating = ratings[0].get();
        let rating_bad_id = rating.replace(r#""id": 35436"#, r#""id": "CSAT-2800000000042""#);
        let rating_bad_created = rating
            .replace(r#""id": 35436"#, r#""id": 2800000000043"#)
            .replace(r#""created_at": "2011-07-20T22:55:29Z""#, r#""created_at": "not a date""#);
        let out = super::ratings(&[raw(&rating_bad_id), raw(&rating_bad_created), ratings[1].clone()]);
        assert_eq!(out.records.len(), 1);
        assert_eq!(out.records[0].source_id, "120447");
        assert_quarantined(&out, &rating_bad_id, "CSAT-2800000000042", "id");
        assert_quarantined(&out, &rating_bad_created, "2800000000043", "created_at");
    }

    /// Zendesk ids pass 2^32 routinely; beyond 2^53 (where a double loses digits) they may come as
    /// strings. Every id is kept as its exact digits, and a metric set still finds its ticket
    /// whichever form either id takes.
    #[test]
    fn ids_beyond_32_and_53_bits_survive_as_text() {
        let mut big = official_ticket();
        big["id"] = json!(5527084754447u64);
        big["requester_id"] = json!(18446744073709551615u64);
        let mut huge = official_ticket();
        huge["id"] = json!("9007199254740993");
        huge["requester_id"] = json!("9007199254740995");
        let out = map_tickets(
            &[big, huge],
            &[metric_for(json!(9007199254740993u64)), metric_for(json!("5527084754447"))],
        );
        assert!(out.quarantined.is_empty(), "{:?}", out.quarantined);
        let [a, b] = &out.records[..] else { panic!("{:?}", out.records) };
        assert_eq!(a.source_id, "5527084754447");
        assert_eq!(ticket_of(a).customer_source_id.as_deref(), Some("18446744073709551615"));
        assert_eq!(b.source_id, "9007199254740993");
        assert_eq!(ticket_of(b).customer_source_id.as_deref(), Some("9007199254740995"));
        for record in [a, b] {
            assert_eq!(ticket_of(record).first_reply_minutes, Some(16.0), "metric set joined");
        }
        assert!(a.raw.get().contains(r#""id":5527084754447"#));
        assert!(b.raw.get().contains(r#""ticket_id":9007199254740993"#), "{}", b.raw.get());

        let user =
            items(USERS_PAGE, "users")[0].get().replace(r#""id": 35436"#, r#""id": "9007199254740993""#);
        assert_eq!(super::users(&[raw(&user)]).records[0].source_id, "9007199254740993");

        let rating = items(RATINGS_PAGE, "satisfaction_ratings")[0]
            .get()
            .replace(r#""id": 35436"#, r#""id": 9007199254740993"#)
            .replace(r#""ticket_id": 208"#, r#""ticket_id": "9007199254740995""#)
            .replace(r#""requester_id": 7881"#, r#""requester_id": 9007199254740997"#);
        let out = super::ratings(&[raw(&rating)]);
        let record = &out.records[0];
        assert_eq!(record.source_id, "9007199254740993");
        assert_eq!(response_of(record).survey_id.as_deref(), Some("9007199254740995"));
        assert_eq!(response_of(record).customer_source_id.as_deref(), Some("9007199254740997"));
        assert_eq!(record.raw.get(), rating);
    }
}
