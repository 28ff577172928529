//! Help Scout objects → unified records. A record that cannot be mapped is quarantined with the
//! reason; the rest of the page goes on.

use chrono::{DateTime, Utc};
use engage_model::{Identity, Quarantined, Record, SurveyKind, SurveyResponse, Ticket, raw_json};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// The conversation fields Engage maps (listed with `embed=threads`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConversationFields {
    id: Option<Value>,
    #[serde(rename = "type")]
    kind: Option<Value>,
    status: Option<Value>,
    state: Option<Value>,
    subject: Option<Value>,
    created_at: Option<Value>,
    closed_at: Option<Value>,
    user_updated_at: Option<Value>,
    primary_customer: Option<Person>,
    #[serde(rename = "_embedded")]
    embedded: Option<Embedded>,
}

#[derive(Deserialize)]
struct Person {
    id: Option<Value>,
    email: Option<Value>,
    #[serde(rename = "type")]
    kind: Option<Value>,
}

#[derive(Deserialize)]
struct Embedded {
    #[serde(default)]
    threads: Vec<ThreadFields>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThreadFields {
    #[serde(rename = "type")]
    kind: Option<String>,
    status: Option<String>,
    created_at: Option<Value>,
    created_by: Option<Person>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CustomerFields {
    id: Option<Value>,
    first_name: Option<Value>,
    last_name: Option<Value>,
    created_at: Option<Value>,
    updated_at: Option<Value>,
    #[serde(rename = "_embedded")]
    embedded: Option<CustomerEmbedded>,
}

#[derive(Deserialize)]
struct CustomerEmbedded {
    #[serde(default)]
    emails: Vec<Entry>,
    #[serde(default)]
    phones: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    value: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RatingFields {
    threadid: Option<Value>,
    id: Option<Value>,
    rating_id: Option<Value>,
    rating_customer_id: Option<Value>,
    rating_comments: Option<Value>,
    rating_created_at: Option<Value>,
}

/// Text of a string or number field; `None` for null, absent, empty or other types.
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Help Scout ids are integers; anything else is a malformed record.
fn integer_id(value: Option<&Value>, field: &str) -> Result<String, String> {
    match value {
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Ok(n.to_string()),
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => Ok(s.clone()),
        Some(other) => Err(format!("{field}: `{other}` is not an integer id")),
        None => Err(format!("{field}: missing")),
    }
}

fn time(value: Option<&Value>, field: &str) -> Result<Option<DateTime<Utc>>, String> {
    engage_connect::time::json_timestamp(value).map_err(|e| format!("{field}: {e}"))
}

fn payload(text: &str) -> Result<Box<RawValue>, String> {
    raw_json(text).map_err(|e| format!("payload: {e}"))
}

/// A record that could not be mapped, kept as received with the reason (its id, or a rating's
/// thread id, when readable).
pub(crate) fn quarantine(item: &RawValue, reason: String) -> Quarantined {
    #[derive(Deserialize)]
    struct Ids {
        id: Option<Value>,
        threadid: Option<Value>,
    }
    let ids = serde_json::from_str::<Ids>(item.get()).ok();
    let id = ids.and_then(|f| text(f.threadid.as_ref()).or_else(|| text(f.id.as_ref())));
    Quarantined { source_id: id, raw: item.get().to_owned(), reason }
}

fn minutes(from: DateTime<Utc>, to: Option<DateTime<Utc>>) -> Option<f64> {
    to.map(|to| (to - from).num_seconds() as f64 / 60.0)
}

/// Help Scout statuses: `active` is open; `pending`, `closed` and `spam` keep their names.
fn status(word: &str) -> String {
    match word {
        "active" => "open".into(),
        other => other.to_lowercase(),
    }
}

/// A conversation with its threads → a unified ticket. Agent replies are `reply` threads by a
/// user; the first one is the first reply; a thread setting `active` or `pending` after one set
/// `closed` is a reopen. A deleted conversation (`state: "deleted"`) or spam is a deletion at
/// `userUpdatedAt`.
pub(crate) fn conversation(item: &RawValue) -> Result<Record, String> {
    let f: ConversationFields = serde_json::from_str(item.get()).map_err(|e| format!("conversation: {e}"))?;
    let id = integer_id(f.id.as_ref(), "id")?;
    let created_at = time(f.created_at.as_ref(), "createdAt")?.ok_or("createdAt: missing")?;
    let updated_at = time(f.user_updated_at.as_ref(), "userUpdatedAt")?;
    let closed_at = time(f.closed_at.as_ref(), "closedAt")?;
    let word = text(f.status.as_ref());
    let (mut first_reply_at, mut replies, mut reopens) = (None, None, None);
    if let Some(embedded) = &f.embedded {
        let mut threads = Vec::with_capacity(embedded.threads.len());
        for (n, t) in embedded.threads.iter().enumerate() {
            let at = time(t.created_at.as_ref(), &format!("threads[{n}].createdAt"))?;
            threads.push((at, t));
        }
        threads.sort_by_key(|(at, _)| *at);
        let by_user = |t: &ThreadFields| {
            t.kind.as_deref() == Some("reply")
                && t.created_by.as_ref().and_then(|p| text(p.kind.as_ref())).as_deref() == Some("user")
        };
        let agent_replies: Vec<Option<DateTime<Utc>>> =
            threads.iter().filter(|(_, t)| by_user(t)).map(|(at, _)| *at).collect();
        first_reply_at = agent_replies.iter().flatten().min().copied();
        replies = Some(agent_replies.len() as i64);
        let (mut last, mut count) = (None::<&str>, 0);
        for (_, t) in &threads {
            match t.status.as_deref() {
                Some(s @ ("active" | "pending")) => {
                    if last == Some("closed") {
                        count += 1;
                    }
                    last = Some(s);
                }
                Some("closed") => last = Some("closed"),
                _ => {}
            }
        }
        reopens = Some(count);
    }
    let solved_at = closed_at.filter(|_| word.as_deref() == Some("closed"));
    let ticket = Ticket {
        customer_source_id: f.primary_customer.as_ref().and_then(|p| text(p.id.as_ref())),
        customer_email: f.primary_customer.as_ref().and_then(|p| text(p.email.as_ref())),
        subject: text(f.subject.as_ref()),
        channel: text(f.kind.as_ref()).map(|k| k.to_lowercase()),
        status: word.as_deref().map(status),
        priority: None,
        created_at: Some(created_at),
        updated_at,
        first_reply_at,
        solved_at,
        first_reply_minutes: minutes(created_at, first_reply_at),
        first_resolution_minutes: if reopens == Some(0) { minutes(created_at, solved_at) } else { None },
        full_resolution_minutes: minutes(created_at, solved_at),
        reopens,
        replies,
        satisfaction: None,
    };
    let removed = text(f.state.as_ref()).as_deref() == Some("deleted") || word.as_deref() == Some("spam");
    let record = Record::new(id, payload(item.get())?, ticket);
    Ok(if removed { record.deleted(updated_at.unwrap_or(created_at)) } else { record })
}

/// A customer → an identity: first email and phone of `_embedded`, name from first and last.
pub(crate) fn customer(item: &RawValue) -> Result<Record, String> {
    let f: CustomerFields = serde_json::from_str(item.get()).map_err(|e| format!("customer: {e}"))?;
    let id = integer_id(f.id.as_ref(), "id")?;
    let name =
        [text(f.first_name.as_ref()), text(f.last_name.as_ref())].into_iter().flatten().collect::<Vec<_>>();
    let first = |list: Option<&Vec<Entry>>| list.and_then(|l| l.iter().find_map(|e| text(e.value.as_ref())));
    let identity = Identity {
        email: first(f.embedded.as_ref().map(|e| &e.emails)),
        phone: first(f.embedded.as_ref().map(|e| &e.phones)),
        name: (!name.is_empty()).then(|| name.join(" ")),
        created_at: time(f.created_at.as_ref(), "createdAt")?,
        updated_at: time(f.updated_at.as_ref(), "updatedAt")?,
    };
    Ok(Record::new(id, payload(item.get())?, identity))
}

/// When a rating was given (for the stream's checkpoint; `None` when unreadable).
pub(crate) fn rated_at(item: &RawValue) -> Option<DateTime<Utc>> {
    let f: RatingFields = serde_json::from_str(item.get()).ok()?;
    time(f.rating_created_at.as_ref(), "ratingCreatedAt").ok().flatten()
}

/// A happiness rating → a CSAT response on a 1–3 scale (Great 3, Okay 2, Not Good 1), keyed by
/// the rated thread; the conversation is the survey.
pub(crate) fn rating(item: &RawValue) -> Result<Record, String> {
    let f: RatingFields = serde_json::from_str(item.get()).map_err(|e| format!("rating: {e}"))?;
    let id = integer_id(f.threadid.as_ref(), "threadid")?;
    let score = match f.rating_id.as_ref().and_then(Value::as_i64) {
        Some(1) => 3.0,
        Some(2) => 2.0,
        Some(3) => 1.0,
        _ => return Err(format!("ratingId: unknown value `{}`", f.rating_id.unwrap_or(Value::Null))),
    };
    let response = SurveyResponse {
        platform: "helpscout".into(),
        survey_id: text(f.id.as_ref()),
        question: Some("How would you rate my reply?".into()),
        kind: SurveyKind::Csat,
        score: Some(score),
        scale_min: Some(1.0),
        scale_max: Some(3.0),
        comment: text(f.rating_comments.as_ref()),
        customer_source_id: text(f.rating_customer_id.as_ref()),
        customer_email: None,
        answered_at: time(f.rating_created_at.as_ref(), "ratingCreatedAt")?,
    };
    Ok(Record::new(id, payload(item.get())?, response))
}

#[cfg(test)]
mod tests {
    //! The official Help Scout example (the happiness ratings report) and conversations and
    //! customers in the documented shape, mapped field by field.

    #![allow(clippy::unwrap_used)]

    use engage_model::Entity;
    use serde_json::json;

    use super::*;

    const RATINGS: &str = include_str!(
        "../../../engage-sandbox/fixtures/helpscout/docs_reports_happiness_ratings_first_result_only.json"
    );

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    fn official_rating() -> Box<RawValue> {
        #[derive(Deserialize)]
        struct Report {
            results: Vec<Box<RawValue>>,
        }
        serde_json::from_str::<Report>(RATINGS).unwrap().results.remove(0)
    }

    /// The official report row: Great → 3 on the 1–3 scale, keyed by the rated thread, the
    /// conversation as the survey.
    #[test]
    fn official_rating_maps_every_field() {
        let item = official_rating();
        let record = rating(&item).unwrap();
        assert_eq!(record.source_id, "1169815634");
        assert_eq!(record.raw.get(), item.get());
        assert_eq!(record.deleted_at, None);
        assert_eq!(
            record.entity,
            Entity::SurveyResponse(SurveyResponse {
                platform: "helpscout".into(),
                survey_id: Some("432207336".into()),
                question: Some("How would you rate my reply?".into()),
                kind: SurveyKind::Csat,
                score: Some(3.0),
                scale_min: Some(1.0),
                scale_max: Some(3.0),
                comment: Some("Thanks for the clear reply, Amanda!".into()),
                customer_source_id: Some("121198824".into()),
                customer_email: None,
                answered_at: Some(at("2017-09-15T12:26:53Z")),
            })
        );
        assert_eq!(rated_at(&item), Some(at("2017-09-15T12:26:53Z")));
        for (code, score) in [(2, 2.0), (3, 1.0)] {
            let text = item.get().replace(r#""ratingId": 1"#, &format!(r#""ratingId": {code}"#));
            let Entity::SurveyResponse(r) = rating(&raw(&text)).unwrap().entity else { panic!() };
            assert_eq!(r.score, Some(score));
        }
        let unknown = item.get().replace(r#""ratingId": 1"#, r#""ratingId": 9"#);
        assert!(rating(&raw(&unknown)).unwrap_err().starts_with("ratingId:"));
        let bad_thread = item.get().replace("1169815634", r#""HS-1169815634""#);
        let reason = rating(&raw(&bad_thread)).unwrap_err();
        assert!(reason.starts_with("threadid:"), "{reason}");
        assert_eq!(quarantine(&raw(&bad_thread), reason).source_id.as_deref(), Some("HS-1169815634"));
    }

    fn thread(kind: &str, status: &str, by: &str, at: &str) -> Value {
        json!({ "id": 1, "type": kind, "status": status, "state": "published", "createdAt": at,
                "createdBy": { "id": 7, "type": by, "email": "x@example.com" } })
    }

    fn conversation_json(status: &str, threads: Vec<Value>) -> Value {
        json!({
            "id": 2100000042u64, "number": 300042, "threads": threads.len(), "type": "email",
            "folderId": 8001, "status": status, "state": "published", "subject": "Refund still not received",
            "preview": "Hi, …", "mailboxId": 12000, "createdAt": "2025-03-03T10:00:00Z",
            "closedAt": "2025-03-05T10:00:00Z", "userUpdatedAt": "2025-03-05T10:00:00Z",
            "primaryCustomer": { "id": 400000007u64, "type": "customer", "email": "emily@example.com" },
            "_embedded": { "threads": threads }
        })
    }

    /// A closed conversation with a reopen: two agent replies (a note is not one), the first at
    /// the first reply, one reopen (closed → active), no first resolution time, solved at
    /// `closedAt`; `active` reads `open`.
    #[test]
    fn conversation_with_threads_maps_replies_and_reopens() {
        let threads = vec![
            thread("customer", "active", "customer", "2025-03-03T10:00:00Z"),
            thread("reply", "closed", "user", "2025-03-03T10:30:00Z"),
            thread("customer", "active", "customer", "2025-03-04T09:00:00Z"),
            thread("note", "nochange", "user", "2025-03-04T09:10:00Z"),
            thread("reply", "closed", "user", "2025-03-05T10:00:00Z"),
        ];
        let text = conversation_json("closed", threads).to_string();
        let record = conversation(&raw(&text)).unwrap();
        assert_eq!(record.source_id, "2100000042");
        assert_eq!(record.raw.get(), text);
        assert_eq!(
            record.entity,
            Entity::Ticket(Ticket {
                customer_source_id: Some("400000007".into()),
                customer_email: Some("emily@example.com".into()),
                subject: Some("Refund still not received".into()),
                channel: Some("email".into()),
                status: Some("closed".into()),
                priority: None,
                created_at: Some(at("2025-03-03T10:00:00Z")),
                updated_at: Some(at("2025-03-05T10:00:00Z")),
                first_reply_at: Some(at("2025-03-03T10:30:00Z")),
                solved_at: Some(at("2025-03-05T10:00:00Z")),
                first_reply_minutes: Some(30.0),
                first_resolution_minutes: None,
                full_resolution_minutes: Some(2880.0),
                reopens: Some(1),
                replies: Some(2),
                satisfaction: None,
            })
        );
        let open = conversation_json(
            "active",
            vec![thread("customer", "active", "customer", "2025-03-03T10:00:00Z")],
        );
        let record = conversation(&raw(&open.to_string())).unwrap();
        let Entity::Ticket(t) = &record.entity else { panic!() };
        assert_eq!(
            (t.status.as_deref(), t.replies, t.reopens, t.solved_at),
            (Some("open"), Some(0), Some(0), None)
        );
    }

    /// Deleted (`state: "deleted"`) and spam conversations are deletions at `userUpdatedAt`.
    #[test]
    fn deleted_and_spam_conversations_are_deletions() {
        let mut deleted = conversation_json("closed", vec![]);
        deleted["state"] = json!("deleted");
        let spam = conversation_json("spam", vec![]);
        for item in [deleted, spam] {
            let record = conversation(&raw(&item.to_string())).unwrap();
            assert_eq!(record.deleted_at, Some(at("2025-03-05T10:00:00Z")));
        }
        let live = conversation(&raw(&conversation_json("pending", vec![]).to_string())).unwrap();
        assert_eq!(live.deleted_at, None);
        let mut bad = conversation_json("closed", vec![]);
        bad["createdAt"] = json!("not a date");
        assert!(conversation(&raw(&bad.to_string())).unwrap_err().starts_with("createdAt:"));
    }

    /// A customer → an identity: name from first and last, the first email and phone.
    #[test]
    fn customers_map_to_identities() {
        let item = json!({
            "id": 121198824, "firstName": "Alexander", "lastName": "the Great",
            "createdAt": "2017-09-01T10:00:00Z", "updatedAt": "2017-09-15T12:26:53Z",
            "_embedded": { "emails": [{ "id": 1, "value": "alex@example.com", "type": "work" },
                                      { "id": 2, "value": "alt@example.com", "type": "home" }],
                           "phones": [{ "id": 3, "value": "+30 210 555 0100", "type": "work" }] }
        })
        .to_string();
        let record = customer(&raw(&item)).unwrap();
        assert_eq!(record.source_id, "121198824");
        assert_eq!(
            record.entity,
            Entity::Identity(Identity {
                email: Some("alex@example.com".into()),
                phone: Some("+30 210 555 0100".into()),
                name: Some("Alexander the Great".into()),
                created_at: Some(at("2017-09-01T10:00:00Z")),
                updated_at: Some(at("2017-09-15T12:26:53Z")),
            })
        );
        assert!(customer(&raw(r#"{"id":"HS-1"}"#)).unwrap_err().starts_with("id:"));
    }
}
