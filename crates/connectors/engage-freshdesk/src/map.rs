//! Freshdesk objects → unified records. A record that cannot be mapped is quarantined with the
//! reason; the rest of the page goes on.
//!
//! Each record is parsed into its exact text plus the few fields Engage maps (typed structs,
//! no full JSON tree); the text is what the store keeps as `raw`.

use chrono::{DateTime, Utc};
use engage_model::{Identity, Quarantined, Record, SurveyKind, SurveyResponse, Ticket, raw_json};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// The ticket fields Engage maps (as listed with `include=requester,stats`).
#[derive(Deserialize)]
pub(crate) struct TicketFields {
    pub id: Option<Value>,
    pub created_at: Option<Value>,
    pub updated_at: Option<Value>,
    subject: Option<Value>,
    status: Option<Value>,
    priority: Option<Value>,
    source: Option<Value>,
    requester_id: Option<Value>,
    requester: Option<Requester>,
    stats: Option<Stats>,
    pub deleted: Option<bool>,
    pub spam: Option<bool>,
}

#[derive(Deserialize)]
struct Requester {
    email: Option<Value>,
}

/// `ticket.stats`: the helpdesk-metric timestamps.
#[derive(Deserialize)]
struct Stats {
    first_responded_at: Option<Value>,
    reopened_at: Option<Value>,
    resolved_at: Option<Value>,
    closed_at: Option<Value>,
}

/// The conversation fields that tell an agent's public reply.
#[derive(Deserialize)]
struct ConversationFields {
    incoming: Option<bool>,
    private: Option<bool>,
}

#[derive(Deserialize)]
struct ContactFields {
    id: Option<Value>,
    email: Option<Value>,
    phone: Option<Value>,
    mobile: Option<Value>,
    name: Option<Value>,
    created_at: Option<Value>,
    updated_at: Option<Value>,
    deleted: Option<bool>,
}

#[derive(Deserialize)]
struct RatingFields {
    id: Option<Value>,
    user_id: Option<Value>,
    ticket_id: Option<Value>,
    feedback: Option<Value>,
    ratings: Option<Scores>,
    created_at: Option<Value>,
    updated_at: Option<Value>,
}

#[derive(Deserialize)]
struct Scores {
    default_question: Option<Value>,
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

/// Freshdesk ids are integers (account-scoped ones beyond 32 bits); anything else is malformed.
pub(crate) fn integer_id(value: Option<&Value>) -> Result<String, String> {
    match value {
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Ok(n.to_string()),
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => Ok(s.clone()),
        Some(other) => Err(format!("id: `{other}` is not an integer id")),
        None => Err("id: missing".into()),
    }
}

pub(crate) fn time(value: Option<&Value>, field: &str) -> Result<Option<DateTime<Utc>>, String> {
    engage_connect::time::json_timestamp(value).map_err(|e| format!("{field}: {e}"))
}

fn payload(text: &str) -> Result<Box<RawValue>, String> {
    raw_json(text).map_err(|e| format!("payload: {e}"))
}

/// A record that could not be mapped, kept as received with the reason.
pub(crate) fn quarantine(item: &RawValue, reason: String) -> Quarantined {
    let id = serde_json::from_str::<IdOnly>(item.get()).ok().and_then(|f| text(f.id.as_ref()));
    Quarantined { source_id: id, raw: item.get().to_owned(), reason }
}

/// Minutes from `from` to `to`.
fn minutes(from: DateTime<Utc>, to: Option<DateTime<Utc>>) -> Option<f64> {
    to.map(|to| (to - from).num_seconds() as f64 / 60.0)
}

/// Freshdesk's `source` codes, as channel names.
fn channel(code: i64) -> String {
    match code {
        1 => "email".into(),
        2 => "portal".into(),
        3 => "phone".into(),
        4 => "forum".into(),
        5 => "twitter".into(),
        6 => "facebook".into(),
        7 => "chat".into(),
        8 => "mobihelp".into(),
        9 => "feedback_widget".into(),
        10 => "outbound_email".into(),
        11 => "ecommerce".into(),
        12 => "bot".into(),
        13 => "whatsapp".into(),
        other => format!("source_{other}"),
    }
}

/// Freshdesk's `status` codes: 2 Open, 3 Pending, 4 Resolved (solved), 5 Closed; higher codes
/// are the account's custom statuses.
fn status(code: i64) -> String {
    match code {
        2 => "open".into(),
        3 => "pending".into(),
        4 => "solved".into(),
        5 => "closed".into(),
        other => format!("custom_{other}"),
    }
}

fn priority(code: i64) -> String {
    match code {
        1 => "low".into(),
        2 => "medium".into(),
        3 => "high".into(),
        4 => "urgent".into(),
        other => format!("priority_{other}"),
    }
}

/// Agent public replies among a ticket's conversations (not incoming, not private notes).
pub(crate) fn replies(conversations: &[Box<RawValue>]) -> i64 {
    conversations
        .iter()
        .filter_map(|c| serde_json::from_str::<ConversationFields>(c.get()).ok())
        .filter(|c| c.incoming == Some(false) && c.private == Some(false))
        .count() as i64
}

/// A ticket (as listed with `include=requester,stats`) → a unified ticket. `conversations` are
/// its conversations when they were fetched: they count the replies and are added to the raw
/// text under `conversations`. A deleted or spam ticket is a deletion at its `updated_at`.
pub(crate) fn ticket(item: &RawValue, conversations: Option<&[Box<RawValue>]>) -> Result<Record, String> {
    let f: TicketFields = serde_json::from_str(item.get()).map_err(|e| format!("ticket: {e}"))?;
    let id = integer_id(f.id.as_ref())?;
    let created_at = time(f.created_at.as_ref(), "created_at")?.ok_or("created_at: missing")?;
    let updated_at = time(f.updated_at.as_ref(), "updated_at")?;
    let code = |v: &Option<Value>, field: &str| match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| format!("{field}: `{v}` is not a code")),
    };
    let (mut first_reply_at, mut solved_at, mut reopens, mut first_resolution) = (None, None, None, None);
    if let Some(stats) = &f.stats {
        first_reply_at = time(stats.first_responded_at.as_ref(), "stats.first_responded_at")?;
        let resolved = time(stats.resolved_at.as_ref(), "stats.resolved_at")?;
        let closed = time(stats.closed_at.as_ref(), "stats.closed_at")?;
        let reopened = time(stats.reopened_at.as_ref(), "stats.reopened_at")?;
        solved_at = resolved.or(closed);
        // Freshdesk gives the time of the last reopen, not a count: 0 or at least 1.
        reopens = Some(i64::from(reopened.is_some()));
        first_resolution = if reopened.is_none() { minutes(created_at, solved_at) } else { None };
    }
    let ticket = Ticket {
        customer_source_id: text(f.requester_id.as_ref()),
        customer_email: f.requester.as_ref().and_then(|r| text(r.email.as_ref())),
        subject: text(f.subject.as_ref()),
        channel: code(&f.source, "source")?.map(channel),
        status: code(&f.status, "status")?.map(status),
        priority: code(&f.priority, "priority")?.map(priority),
        created_at: Some(created_at),
        updated_at,
        first_reply_at,
        solved_at,
        first_reply_minutes: minutes(created_at, first_reply_at),
        first_resolution_minutes: first_resolution,
        full_resolution_minutes: minutes(created_at, solved_at),
        reopens,
        replies: conversations.map(replies),
        satisfaction: None,
    };
    let raw = match conversations {
        Some(list) => with_conversations(item.get(), list)?,
        None => payload(item.get())?,
    };
    let removed = f.deleted == Some(true) || f.spam == Some(true);
    let record = Record::new(id, raw, ticket);
    Ok(if removed { record.deleted(updated_at.unwrap_or(created_at)) } else { record })
}

/// The ticket's exact text with `"conversations": [...]` (each as received) as its last member.
fn with_conversations(ticket: &str, conversations: &[Box<RawValue>]) -> Result<Box<RawValue>, String> {
    let inner = ticket.trim_end().strip_suffix('}').ok_or("ticket: not a JSON object")?;
    let separator = if inner.trim_end().ends_with('{') { "" } else { "," };
    let list: Vec<&str> = conversations.iter().map(|c| c.get()).collect();
    payload(&format!(r#"{inner}{separator}"conversations":[{}]}}"#, list.join(",")))
}

/// A contact → an identity (`phone`, else `mobile`); `deleted: true` is a deletion.
pub(crate) fn contact(item: &RawValue) -> Result<Record, String> {
    let f: ContactFields = serde_json::from_str(item.get()).map_err(|e| format!("contact: {e}"))?;
    let id = integer_id(f.id.as_ref())?;
    let identity = Identity {
        email: text(f.email.as_ref()),
        phone: text(f.phone.as_ref()).or_else(|| text(f.mobile.as_ref())),
        name: text(f.name.as_ref()),
        created_at: time(f.created_at.as_ref(), "created_at")?,
        updated_at: time(f.updated_at.as_ref(), "updated_at")?,
    };
    let deleted_at = (f.deleted == Some(true)).then(|| identity.updated_at.or(identity.created_at)).flatten();
    let record = Record::new(id, payload(item.get())?, identity);
    Ok(match deleted_at {
        Some(at) => record.deleted(at),
        None => record,
    })
}

/// Freshdesk's satisfaction values (103 extremely happy ... -103 extremely unhappy) on an
/// ordinal 1–7 scale; the 2-, 3- and 5-point surveys use a subset of the same values.
fn ordinal(value: i64) -> Option<f64> {
    match value {
        -103 => Some(1.0),
        -102 => Some(2.0),
        -101 => Some(3.0),
        100 => Some(4.0),
        101 => Some(5.0),
        102 => Some(6.0),
        103 => Some(7.0),
        _ => None,
    }
}

#[derive(Deserialize)]
struct Times {
    created_at: Option<Value>,
    updated_at: Option<Value>,
}

/// The creation time of a record, for a checkpoint (`None` when unreadable).
pub(crate) fn created_at(item: &RawValue) -> Option<DateTime<Utc>> {
    let f: Times = serde_json::from_str(item.get()).ok()?;
    time(f.created_at.as_ref(), "created_at").ok().flatten()
}

/// The update time of a record, for a checkpoint (`None` when unreadable).
pub(crate) fn updated_at(item: &RawValue) -> Option<DateTime<Utc>> {
    let f: Times = serde_json::from_str(item.get()).ok()?;
    time(f.updated_at.as_ref(), "updated_at").ok().flatten()
}

/// A satisfaction rating → a CSAT response for the default question, on the 1–7 scale; the
/// ticket is the survey (as for every helpdesk), answered when last updated.
pub(crate) fn rating(item: &RawValue) -> Result<Record, String> {
    let f: RatingFields = serde_json::from_str(item.get()).map_err(|e| format!("rating: {e}"))?;
    let id = integer_id(f.id.as_ref())?;
    let created = time(f.created_at.as_ref(), "created_at")?;
    let updated = time(f.updated_at.as_ref(), "updated_at")?;
    let score = match f.ratings.as_ref().and_then(|r| r.default_question.as_ref()) {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .and_then(ordinal)
                .ok_or_else(|| format!("ratings.default_question: unknown value `{v}`"))?,
        ),
    };
    let response = SurveyResponse {
        platform: "freshdesk".into(),
        survey_id: text(f.ticket_id.as_ref()),
        question: Some("default_question".into()),
        kind: SurveyKind::Csat,
        score,
        scale_min: Some(1.0),
        scale_max: Some(7.0),
        comment: text(f.feedback.as_ref()),
        customer_source_id: text(f.user_id.as_ref()),
        customer_email: None,
        answered_at: updated.or(created),
    };
    Ok(Record::new(id, payload(item.get())?, response))
}

#[cfg(test)]
mod tests {
    //! The official Freshdesk examples (and variants of them) mapped field by field.

    #![allow(clippy::unwrap_used)]

    use engage_model::Entity;
    use serde_json::json;

    use super::*;

    const TICKET: &str = include_str!(
        "../../../engage-sandbox/fixtures/freshdesk/python_freshdesk_ticket_show_include_stats_requester.json"
    );
    const CONVERSATIONS: &str =
        include_str!("../../../engage-sandbox/fixtures/freshdesk/python_freshdesk_ticket_conversations.json");
    const RATINGS: &str =
        include_str!("../../../engage-sandbox/fixtures/freshdesk/docs_satisfaction_ratings_list.json");

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    fn value(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    fn items(text: &str) -> Vec<Box<RawValue>> {
        serde_json::from_str(text).unwrap()
    }

    fn ticket_of(record: &Record) -> &Ticket {
        match &record.entity {
            Entity::Ticket(ticket) => ticket,
            other => panic!("not a ticket: {other:?}"),
        }
    }

    fn minutes_between(from: &str, to: &str) -> f64 {
        (at(to) - at(from)).num_seconds() as f64 / 60.0
    }

    /// Every mapped field of the official ticket (`include=stats,requester`) with its official
    /// conversations (a private note and one public reply): one reply, never reopened.
    #[test]
    fn official_ticket_with_its_conversations_maps_every_field() {
        let conversations = items(CONVERSATIONS);
        let record = ticket(&raw(TICKET), Some(&conversations)).unwrap();
        assert_eq!(record.source_id, "1");
        assert_eq!(record.deleted_at, None);
        let created = "2016-05-18T04:36:04Z";
        let full = minutes_between(created, "2020-07-24T15:35:21Z");
        assert_eq!(
            record.entity,
            Entity::Ticket(Ticket {
                // `requester_id`, not the sideloaded `requester.id` (the example disagrees with itself).
                customer_source_id: Some("6012691534".into()),
                customer_email: Some("dummyname@example.com".into()),
                subject: Some("This is a sample ticket".into()),
                channel: Some("portal".into()),
                status: Some("open".into()),
                priority: Some("low".into()),
                created_at: Some(at(created)),
                updated_at: Some(at("2016-05-18T23:42:50Z")),
                first_reply_at: Some(at("2020-06-17T20:23:43Z")),
                solved_at: Some(at("2020-07-24T15:35:21Z")),
                first_reply_minutes: Some(minutes_between(created, "2020-06-17T20:23:43Z")),
                first_resolution_minutes: Some(full),
                full_resolution_minutes: Some(full),
                reopens: Some(0),
                replies: Some(1),
                satisfaction: None,
            })
        );
        // raw = the ticket as received plus its conversations, each as received, last.
        let mut expected = value(TICKET);
        expected.as_object_mut().unwrap().insert("conversations".into(), value(CONVERSATIONS));
        assert_eq!(value(record.raw.get()), expected);
        assert!(record.raw.get().ends_with(&format!(
            r#""conversations":[{}]}}"#,
            conversations.iter().map(|c| c.get()).collect::<Vec<_>>().join(",")
        )));

        // Without conversations (the `replies = false` option), replies are unknown and raw is
        // exactly the ticket.
        let record = ticket(&raw(TICKET), None).unwrap();
        assert_eq!(ticket_of(&record).replies, None);
        assert_eq!(record.raw.get(), TICKET.trim_end());
    }

    /// Codes become words; a reopened ticket counts one reopen and has no first resolution time
    /// (Freshdesk gives only the last resolution); deleted and spam tickets are deletions at
    /// `updated_at`.
    #[test]
    fn codes_reopens_and_removals() {
        let mut t = value(TICKET);
        t["status"] = json!(4);
        t["source"] = json!(7);
        t["priority"] = json!(4);
        t["stats"]["reopened_at"] = json!("2020-07-01T00:00:00Z");
        let record = ticket(&raw(&t.to_string()), None).unwrap();
        let mapped = ticket_of(&record);
        assert_eq!(mapped.status.as_deref(), Some("solved"));
        assert_eq!(mapped.channel.as_deref(), Some("chat"));
        assert_eq!(mapped.priority.as_deref(), Some("urgent"));
        assert_eq!(mapped.reopens, Some(1));
        assert_eq!(mapped.first_resolution_minutes, None);
        assert!(mapped.full_resolution_minutes.is_some());

        for (code, word) in [(3, "pending"), (5, "closed"), (12, "custom_12")] {
            t["status"] = json!(code);
            let record = ticket(&raw(&t.to_string()), None).unwrap();
            assert_eq!(ticket_of(&record).status.as_deref(), Some(word));
        }
        let mut deleted = value(TICKET);
        deleted["deleted"] = json!(true);
        let mut spam = value(TICKET);
        spam["spam"] = json!(true);
        for removed in [deleted, spam] {
            let record = ticket(&raw(&removed.to_string()), None).unwrap();
            assert_eq!(record.deleted_at, Some(at("2016-05-18T23:42:50Z")));
        }
        assert_eq!(ticket(&raw(TICKET), None).unwrap().deleted_at, None, "`spam: false` is live");

        // Without stats nothing is known about replies and resolution.
        let mut bare = value(TICKET);
        bare.as_object_mut().unwrap().remove("stats");
        let record = ticket(&raw(&bare.to_string()), None).unwrap();
        let mapped = ticket_of(&record);
        assert_eq!((mapped.first_reply_at, mapped.solved_at, mapped.reopens), (None, None, None));
    }

    /// Only public agent replies count: incoming messages and private notes do not.
    #[test]
    fn replies_count_public_agent_messages() {
        let mut list = value(CONVERSATIONS);
        let reply = list[1].clone();
        let mut incoming = reply.clone();
        incoming["incoming"] = json!(true);
        list.as_array_mut().unwrap().extend([reply.clone(), incoming, reply]);
        let conversations = items(&list.to_string());
        assert_eq!(replies(&conversations), 3);
        assert_eq!(replies(&[]), 0);
    }

    /// The official ratings: the first maps to a CSAT response on the 1–7 scale (103 → 7), the
    /// ticket as the survey; the second carries the published example's malformed timestamps
    /// (`2015-08-28T010:08:16Z`) and is quarantined, not guessed.
    #[test]
    fn official_ratings_map_and_the_malformed_one_is_refused() {
        let ratings = items(RATINGS);
        let record = rating(&ratings[0]).unwrap();
        assert_eq!(record.source_id, "102");
        assert_eq!(record.raw.get(), ratings[0].get());
        assert_eq!(
            record.entity,
            Entity::SurveyResponse(SurveyResponse {
                platform: "freshdesk".into(),
                survey_id: Some("432".into()),
                question: Some("default_question".into()),
                kind: SurveyKind::Csat,
                score: Some(7.0),
                scale_min: Some(1.0),
                scale_max: Some(7.0),
                comment: Some("Thank you for the quick action".into()),
                customer_source_id: Some("2".into()),
                customer_email: None,
                answered_at: Some(at("2015-08-28T09:08:16Z")),
            })
        );
        assert_eq!(created_at(&ratings[0]), Some(at("2015-08-28T09:08:16Z")));
        let reason = rating(&ratings[1]).unwrap_err();
        assert!(reason.starts_with("created_at:"), "{reason}");
        assert_eq!(created_at(&ratings[1]), None);
        let q = quarantine(&ratings[1], reason);
        assert_eq!(q.source_id.as_deref(), Some("112"));
        assert_eq!(q.raw, ratings[1].get());

        let scale: Vec<Option<f64>> =
            [-103, -102, -101, 100, 101, 102, 103].into_iter().map(ordinal).collect();
        assert_eq!(scale, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0].map(Some));
        let odd = ratings[0].get().replace("103", "42");
        assert!(rating(&raw(&odd)).unwrap_err().starts_with("ratings.default_question:"));
    }

    /// A contact (shaped as `GET /api/v2/contacts` lists it) → an identity; `mobile` stands in
    /// for a missing `phone`; `deleted: true` (the `state=deleted` list) is a deletion.
    #[test]
    fn contacts_map_to_identities() {
        let contact_json = json!({
            "active": true, "address": null, "company_id": null, "email": "dummyname@example.com",
            "id": 43026449322u64, "job_title": null, "language": "en", "mobile": "+1 415 555 0101",
            "name": "Dummyname", "phone": null, "time_zone": "Eastern Time (US & Canada)",
            "created_at": "2016-05-18T04:36:04Z", "updated_at": "2016-05-18T23:42:50Z"
        })
        .to_string();
        let record = contact(&raw(&contact_json)).unwrap();
        assert_eq!(record.source_id, "43026449322");
        assert_eq!(record.raw.get(), contact_json);
        assert_eq!(
            record.entity,
            Entity::Identity(Identity {
                email: Some("dummyname@example.com".into()),
                phone: Some("+1 415 555 0101".into()),
                name: Some("Dummyname".into()),
                created_at: Some(at("2016-05-18T04:36:04Z")),
                updated_at: Some(at("2016-05-18T23:42:50Z")),
            })
        );
        assert_eq!(record.deleted_at, None);
        let deleted = contact_json.replace(r#""active":true"#, r#""active":true,"deleted":true"#);
        assert_eq!(contact(&raw(&deleted)).unwrap().deleted_at, Some(at("2016-05-18T23:42:50Z")));
    }

    /// Malformed records are refused with a reason naming the field.
    #[test]
    fn malformed_records_name_the_field() {
        let mut bad_id = value(TICKET);
        bad_id["id"] = json!("FD-10042");
        let mut bad_created = value(TICKET);
        bad_created["created_at"] = json!("not a date");
        let mut bad_stats = value(TICKET);
        bad_stats["stats"]["resolved_at"] = json!("2015-08-28T010:08:16Z");
        let mut bad_status = value(TICKET);
        bad_status["status"] = json!("open");
        for (item, field) in [
            (bad_id, "id:"),
            (bad_created, "created_at:"),
            (bad_stats, "stats.resolved_at:"),
            (bad_status, "status:"),
        ] {
            let reason = ticket(&raw(&item.to_string()), None).unwrap_err();
            assert!(reason.starts_with(field), "{reason}");
        }
        assert!(contact(&raw(r#"{"id":"C-1","email":"a@b"}"#)).unwrap_err().starts_with("id:"));
        assert!(ticket(&raw("[1]"), None).unwrap_err().starts_with("ticket:"));
    }
}
