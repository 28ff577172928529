//! Intercom objects → unified records. A record that cannot be mapped is quarantined with the
//! reason; the rest of the page goes on. Each search page is parsed into each record's exact
//! text plus the few fields Engage maps.

use chrono::{DateTime, Utc};
use engage_connect::Page;
use engage_model::{Identity, Quarantined, Record, SurveyKind, SurveyResponse, Ticket, raw_json};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// The conversation fields Engage maps; everything else stays in the raw text untouched.
#[derive(Deserialize)]
struct ConversationFields {
    id: Option<Value>,
    created_at: Option<Value>,
    updated_at: Option<Value>,
    title: Option<Value>,
    state: Option<Value>,
    priority: Option<Value>,
    source: Option<Source>,
    contacts: Option<Contacts>,
    /// Null until Intercom has computed anything.
    statistics: Option<Statistics>,
    /// Null until the contact rated the conversation.
    conversation_rating: Option<Rating>,
}

#[derive(Deserialize)]
struct Source {
    #[serde(rename = "type")]
    kind: Option<Value>,
    subject: Option<Value>,
    author: Option<Author>,
}

#[derive(Deserialize)]
struct Author {
    #[serde(rename = "type")]
    kind: Option<Value>,
    email: Option<Value>,
}

#[derive(Deserialize)]
struct Contacts {
    #[serde(default)]
    contacts: Vec<Reference>,
}

#[derive(Deserialize)]
struct Reference {
    id: Option<Value>,
}

#[derive(Deserialize)]
struct Statistics {
    first_admin_reply_at: Option<Value>,
    first_close_at: Option<Value>,
    last_close_at: Option<Value>,
    count_reopens: Option<Value>,
}

#[derive(Deserialize)]
struct Rating {
    rating: Option<Value>,
    remark: Option<Value>,
    created_at: Option<Value>,
    contact: Option<Reference>,
}

/// The fields a rating record is made from: the conversation's id and its rating, as text.
#[derive(Deserialize)]
struct RatedConversation<'a> {
    id: Option<Value>,
    #[serde(borrow)]
    conversation_rating: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ContactFields {
    id: Option<Value>,
    email: Option<Value>,
    phone: Option<Value>,
    name: Option<Value>,
    created_at: Option<Value>,
    updated_at: Option<Value>,
}

#[derive(Deserialize)]
struct IdOnly {
    id: Option<Value>,
    updated_at: Option<Value>,
}

/// Text of a string or number field; `None` for null, absent, empty or other types.
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An Intercom id: a non-empty string (`"335"`, `"667d60b0…"`) or an integer. Anything else is
/// a malformed record.
fn id(value: Option<&Value>) -> Result<String, String> {
    match value {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Ok(n.to_string()),
        Some(other) => Err(format!("id: `{other}` is not an id")),
        None => Err("id: missing".into()),
    }
}

fn time(value: Option<&Value>, field: &str) -> Result<Option<DateTime<Utc>>, String> {
    engage_connect::time::json_timestamp(value).map_err(|e| format!("{field}: {e}"))
}

fn payload(text: &str) -> Result<Box<RawValue>, String> {
    raw_json(text).map_err(|e| format!("payload: {e}"))
}

/// The `updated_at` of an item (Unix seconds), when it has a readable one.
fn updated_of(item: &RawValue) -> Option<i64> {
    let fields: IdOnly = serde_json::from_str(item.get()).ok()?;
    time(fields.updated_at.as_ref(), "updated_at").ok().flatten().map(|t| t.timestamp())
}

/// A record that could not be mapped, kept as received with the reason.
fn quarantine(item: &RawValue, reason: String) -> Quarantined {
    let id = serde_json::from_str::<IdOnly>(item.get()).ok().and_then(|f| text(f.id.as_ref()));
    Quarantined { source_id: id, raw: item.get().to_owned(), reason }
}

/// Maps every item with `map`, quarantining the ones it rejects; also returns the newest
/// readable `updated_at` of the page (the checkpoint follows it whatever the mapping said).
fn page_of(
    items: &[Box<RawValue>],
    mut map: impl FnMut(&RawValue) -> Result<Option<Record>, String>,
) -> (Page, Option<i64>) {
    let mut page = Page::default();
    let mut newest = None;
    for item in items {
        newest = newest.max(updated_of(item));
        match map(item) {
            Ok(Some(record)) => page.records.push(record),
            Ok(None) => {}
            Err(reason) => page.quarantined.push(quarantine(item, reason)),
        }
    }
    (page, newest)
}

/// Intercom's `source.type` as a unified channel: the Messenger (`conversation`) is chat, the
/// phone types are phone; the rest keep their names.
fn channel(source_type: &str) -> String {
    match source_type.to_ascii_lowercase().as_str() {
        "conversation" => "chat".to_owned(),
        "phone_call" | "phone_switch" => "phone".to_owned(),
        other => other.to_owned(),
    }
}

/// Intercom's `state` as a unified status: a closed conversation is solved (it can be reopened,
/// unlike a closed Zendesk ticket); a snoozed one waits, like a pending ticket.
fn status(state: &str) -> String {
    match state.to_ascii_lowercase().as_str() {
        "closed" => "solved".to_owned(),
        "snoozed" => "pending".to_owned(),
        other => other.to_owned(),
    }
}

/// Minutes from `from` to `to`, when both are known and in order.
fn minutes(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Option<f64> {
    let secs = (to? - from?).num_seconds();
    (secs >= 0).then(|| secs as f64 / 60.0)
}

/// Conversations of one search page → tickets.
pub(crate) fn conversations(items: &[Box<RawValue>]) -> (Page, Option<i64>) {
    page_of(items, |item| conversation(item).map(Some))
}

fn conversation(item: &RawValue) -> Result<Record, String> {
    let f: ConversationFields = serde_json::from_str(item.get()).map_err(|e| format!("conversation: {e}"))?;
    let source_id = id(f.id.as_ref())?;
    let created_at = time(f.created_at.as_ref(), "created_at")?.ok_or("created_at: missing")?;
    let updated_at = time(f.updated_at.as_ref(), "updated_at")?;
    let stats = f.statistics.as_ref();
    let stat = |v: Option<&Option<Value>>, field: &str| match v {
        Some(v) => time(v.as_ref(), &format!("statistics.{field}")),
        None => Ok(None),
    };
    let first_reply_at = stat(stats.map(|s| &s.first_admin_reply_at), "first_admin_reply_at")?;
    let first_close_at = stat(stats.map(|s| &s.first_close_at), "first_close_at")?;
    let last_close_at = stat(stats.map(|s| &s.last_close_at), "last_close_at")?;
    let state = text(f.state.as_ref());
    let closed = state.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("closed"));
    let solved_at = if closed { last_close_at } else { None };
    let source = f.source.as_ref();
    let author = source.and_then(|s| s.author.as_ref());
    let customer_authored = author
        .and_then(|a| text(a.kind.as_ref()))
        .is_some_and(|k| matches!(k.as_str(), "user" | "lead" | "contact"));
    let subject = text(f.title.as_ref()).or_else(|| source.and_then(|s| text(s.subject.as_ref())));
    let ticket = Ticket {
        customer_source_id: f
            .contacts
            .as_ref()
            .and_then(|c| c.contacts.first())
            .and_then(|c| text(c.id.as_ref())),
        customer_email: if customer_authored { author.and_then(|a| text(a.email.as_ref())) } else { None },
        subject,
        channel: source.and_then(|s| text(s.kind.as_ref())).map(|t| channel(&t)),
        status: state.as_deref().map(status),
        priority: text(f.priority.as_ref()).map(|p| match p.as_str() {
            "priority" => "high".to_owned(),
            "not_priority" => "normal".to_owned(),
            other => other.to_ascii_lowercase(),
        }),
        created_at: Some(created_at),
        updated_at,
        first_reply_at,
        solved_at,
        first_reply_minutes: minutes(Some(created_at), first_reply_at),
        first_resolution_minutes: minutes(Some(created_at), first_close_at),
        full_resolution_minutes: minutes(Some(created_at), solved_at),
        reopens: stats.and_then(|s| s.count_reopens.as_ref()).and_then(Value::as_i64),
        // Intercom counts conversation parts (notes and assignments included), not replies.
        replies: None,
        satisfaction: f.conversation_rating.as_ref().and_then(|r| text(r.rating.as_ref())),
    };
    Ok(Record::new(source_id, payload(item.get())?, ticket))
}

/// Ratings of the conversations of one search page → CSAT responses (1–5), one per rated
/// conversation, keyed by the conversation id. `raw` is the `conversation_rating` exactly as
/// received with `"conversation_id"` added as its first member. Unrated conversations are
/// skipped.
pub(crate) fn ratings(items: &[Box<RawValue>]) -> (Page, Option<i64>) {
    page_of(items, rating)
}

fn rating(item: &RawValue) -> Result<Option<Record>, String> {
    let f: RatedConversation<'_> =
        serde_json::from_str(item.get()).map_err(|e| format!("conversation: {e}"))?;
    let conversation_id = id(f.id.as_ref())?;
    let Some(raw_rating) = f.conversation_rating.filter(|r| r.get().trim() != "null") else {
        return Ok(None);
    };
    let r: Rating =
        serde_json::from_str(raw_rating.get()).map_err(|e| format!("conversation_rating: {e}"))?;
    let score = match r.rating.as_ref() {
        Some(Value::Number(n)) if n.as_i64().is_some_and(|s| (1..=5).contains(&s)) => n.as_f64(),
        Some(other) => {
            return Err(format!("conversation_rating.rating: `{other}` is not a rating from 1 to 5"));
        }
        None => return Err("conversation_rating.rating: missing".into()),
    };
    let response = SurveyResponse {
        platform: "intercom".into(),
        survey_id: Some(conversation_id.clone()),
        question: Some("How would you rate your conversation?".into()),
        kind: SurveyKind::Csat,
        score,
        scale_min: Some(1.0),
        scale_max: Some(5.0),
        comment: text(r.remark.as_ref()),
        customer_source_id: r.contact.as_ref().and_then(|c| text(c.id.as_ref())),
        customer_email: None,
        answered_at: time(r.created_at.as_ref(), "conversation_rating.created_at")?,
    };
    let id_json =
        serde_json::to_string(f.id.as_ref().unwrap_or(&Value::Null)).map_err(|e| format!("id: {e}"))?;
    let raw = with_conversation_id(raw_rating.get(), &id_json)?;
    Ok(Some(Record::new(conversation_id, raw, response)))
}

/// The rating's exact text with `"conversation_id": <id>` added as its first member.
fn with_conversation_id(rating: &str, id_json: &str) -> Result<Box<RawValue>, String> {
    let inner = rating.trim_start().strip_prefix('{').ok_or("conversation_rating: not a JSON object")?;
    let separator = if inner.trim_start().starts_with('}') { "" } else { "," };
    payload(&format!(r#"{{"conversation_id":{id_json}{separator}{inner}"#))
}

/// Contacts of one search page → identities.
pub(crate) fn contacts(items: &[Box<RawValue>]) -> (Page, Option<i64>) {
    page_of(items, |item| {
        let f: ContactFields = serde_json::from_str(item.get()).map_err(|e| format!("contact: {e}"))?;
        let source_id = id(f.id.as_ref())?;
        let identity = Identity {
            email: text(f.email.as_ref()),
            phone: text(f.phone.as_ref()),
            name: text(f.name.as_ref()),
            created_at: time(f.created_at.as_ref(), "created_at")?,
            updated_at: time(f.updated_at.as_ref(), "updated_at")?,
        };
        Ok(Some(Record::new(source_id, payload(item.get())?, identity)))
    })
}

#[cfg(test)]
mod tests {
    //! The official Intercom examples (and variants of them) mapped field by field.

    #![allow(clippy::unwrap_used)]

    use engage_model::Entity;
    use serde_json::json;

    use super::*;

    const LIST: &str = include_str!(
        "../../../engage-sandbox/fixtures/intercom/oas211_conversations_list_200_successful.json"
    );
    const SEARCH: &str = include_str!(
        "../../../engage-sandbox/fixtures/intercom/oas211_conversations_search_200_successful.json"
    );
    const RETRIEVE: &str = include_str!(
        "../../../engage-sandbox/fixtures/intercom/oas211_conversation_retrieve_200_conversation_found.json"
    );
    const RATING: &str = include_str!(
        "../../../engage-sandbox/fixtures/intercom/assembled_from_schema_conversation_rating.json"
    );
    const STATISTICS: &str = include_str!(
        "../../../engage-sandbox/fixtures/intercom/assembled_from_schema_conversation_statistics.json"
    );
    const CONTACT: &str =
        include_str!("../../../engage-sandbox/fixtures/intercom/oas211_contact_create_200_successful.json");

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    fn value(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    /// The conversations of an official page, each kept as its exact text.
    fn items(page: &str) -> Vec<Box<RawValue>> {
        #[derive(Deserialize)]
        struct P {
            conversations: Vec<Box<RawValue>>,
        }
        serde_json::from_str::<P>(page).unwrap().conversations
    }

    fn ticket_of(record: &Record) -> &Ticket {
        match &record.entity {
            Entity::Ticket(ticket) => ticket,
            other => panic!("not a ticket: {other:?}"),
        }
    }

    fn response_of(record: &Record) -> &SurveyResponse {
        match &record.entity {
            Entity::SurveyResponse(response) => response,
            other => panic!("not a survey response: {other:?}"),
        }
    }

    type MapPage = fn(&[Box<RawValue>]) -> (Page, Option<i64>);

    fn map_values(f: MapPage, values: &[Value]) -> (Page, Option<i64>) {
        let items: Vec<_> = values.iter().map(|v| raw(&v.to_string())).collect();
        f(&items)
    }

    /// The official conversation as Intercom's examples give it: admin-initiated, closed,
    /// statistics and rating null (not set yet).
    fn official(contact: &str, created: i64) -> Ticket {
        Ticket {
            customer_source_id: Some(contact.into()),
            customer_email: None,
            subject: None,
            channel: Some("chat".into()),
            status: Some("solved".into()),
            priority: Some("normal".into()),
            created_at: Some(at(created)),
            updated_at: Some(at(created)),
            first_reply_at: None,
            solved_at: None,
            first_reply_minutes: None,
            first_resolution_minutes: None,
            full_resolution_minutes: None,
            reopens: None,
            replies: None,
            satisfaction: None,
        }
    }

    /// The three official conversations (list, search, retrieve) map every field and keep their
    /// exact text; `statistics: null` and `conversation_rating: null` are not errors.
    #[test]
    fn official_conversations_map_every_field() {
        let cases = [
            (LIST, "335", "667d60bb8a68186f43bafdc5", 1_719_492_795),
            (SEARCH, "378", "667d60ea8a68186f43bafdec", 1_719_492_843),
        ];
        for (page, id, contact, created) in cases {
            let items = items(page);
            assert_eq!(items.len(), 1);
            let (out, newest) = conversations(&items);
            assert!(out.quarantined.is_empty(), "{:?}", out.quarantined);
            assert_eq!(newest, Some(created));
            let record = &out.records[0];
            assert_eq!(record.source_id, id);
            assert_eq!(record.raw.get(), items[0].get());
            assert_eq!(record.deleted_at, None);
            assert_eq!(ticket_of(record), &official(contact, created));
            // Nothing to rate yet: the ratings stream skips it.
            let (ratings, newest) = ratings(&items);
            assert!(ratings.records.is_empty() && ratings.quarantined.is_empty());
            assert_eq!(newest, Some(created));
        }
        let retrieved = raw(RETRIEVE);
        let (out, _) = conversations(std::slice::from_ref(&retrieved));
        assert!(out.quarantined.is_empty(), "{:?}", out.quarantined);
        assert_eq!(out.records[0].source_id, "367");
        assert_eq!(out.records[0].raw.get(), RETRIEVE);
        assert_eq!(ticket_of(&out.records[0]), &official("667d60d88a68186f43bafde1", 1_719_492_825));
    }

    /// The official conversation with the schema's example statistics and rating once they are
    /// set (created 2310 s before the first admin reply): calendar minutes derived from the
    /// timestamps (the `time_to_*` seconds are business-hours adjusted), reopens, the rating as
    /// satisfaction; and the rating as a CSAT response with the conversation id added to it.
    #[test]
    fn official_statistics_and_rating_once_set() {
        let mut conversation = value(items(LIST)[0].get());
        conversation["created_at"] = json!(1_663_597_233 - 2_310);
        conversation["statistics"] = value(STATISTICS);
        conversation["conversation_rating"] = value(RATING);
        conversation["source"]["subject"] = json!("Printer on fire");
        let (out, newest) = map_values(conversations, std::slice::from_ref(&conversation));
        assert!(out.quarantined.is_empty(), "{:?}", out.quarantined);
        assert_eq!(newest, Some(1_719_492_795));
        assert_eq!(
            ticket_of(&out.records[0]),
            &Ticket {
                customer_source_id: Some("667d60bb8a68186f43bafdc5".into()),
                customer_email: None,
                subject: Some("Printer on fire".into()),
                channel: Some("chat".into()),
                status: Some("solved".into()),
                priority: Some("normal".into()),
                created_at: Some(at(1_663_594_923)),
                updated_at: Some(at(1_719_492_795)),
                first_reply_at: Some(at(1_663_597_233)),
                solved_at: Some(at(1_663_597_233)),
                first_reply_minutes: Some(38.5),
                first_resolution_minutes: Some(38.5),
                full_resolution_minutes: Some(38.5),
                reopens: Some(1),
                replies: None,
                satisfaction: Some("5".into()),
            }
        );

        let (out, _) = map_values(ratings, std::slice::from_ref(&conversation));
        assert!(out.quarantined.is_empty(), "{:?}", out.quarantined);
        let record = &out.records[0];
        assert_eq!(record.source_id, "335");
        let mut expected = json!({ "conversation_id": "335" });
        expected.as_object_mut().unwrap().extend(value(RATING).as_object().unwrap().clone());
        assert_eq!(value(record.raw.get()), expected);
        assert!(record.raw.get().starts_with(r#"{"conversation_id":"335","#), "{}", record.raw.get());
        assert_eq!(
            response_of(record),
            &SurveyResponse {
                platform: "intercom".into(),
                survey_id: Some("335".into()),
                question: Some("How would you rate your conversation?".into()),
                kind: SurveyKind::Csat,
                score: Some(5.0),
                scale_min: Some(1.0),
                scale_max: Some(5.0),
                // The example's remark is empty.
                comment: None,
                customer_source_id: Some("5ba682d23d7cf92bef87bfd4".into()),
                customer_email: None,
                answered_at: Some(at(1_671_028_894)),
            }
        );

        // Reopened: no solve time, but the first close still gives the first resolution.
        conversation["state"] = json!("open");
        conversation["open"] = json!(true);
        let (out, _) = map_values(conversations, &[conversation]);
        let ticket = ticket_of(&out.records[0]);
        assert_eq!(ticket.status.as_deref(), Some("open"));
        assert_eq!((ticket.solved_at, ticket.full_resolution_minutes), (None, None));
        assert_eq!(ticket.first_resolution_minutes, Some(38.5));
    }

    /// The official contact (the spec's one complete example) → an identity.
    #[test]
    fn official_contact_maps_to_an_identity() {
        let item = raw(CONTACT.trim_end());
        let (out, newest) = contacts(std::slice::from_ref(&item));
        assert!(out.quarantined.is_empty(), "{:?}", out.quarantined);
        assert_eq!(newest, Some(1_719_492_784));
        let record = &out.records[0];
        assert_eq!(record.source_id, "667d60b08a68186f43bafdbf");
        assert_eq!(record.raw.get(), item.get());
        assert_eq!(
            record.entity,
            Entity::Identity(Identity {
                email: Some("joebloggs@intercom.io".into()),
                phone: None,
                name: None,
                created_at: Some(at(1_719_492_784)),
                updated_at: Some(at(1_719_492_784)),
            })
        );
    }

    /// Ids come as strings beside integer ids: a conversation id sent as an integer, an integer
    /// contact reference or rating contact are read as the same text; a fractional or empty id
    /// is a malformed record.
    #[test]
    fn string_and_integer_ids_are_the_same_text() {
        let mut conversation = value(items(LIST)[0].get());
        conversation["id"] = json!(335);
        conversation["contacts"]["contacts"][0]["id"] = json!(70);
        let mut rating = value(RATING);
        rating["contact"]["id"] = json!(5_000_000_000u64);
        conversation["conversation_rating"] = rating;
        let (out, _) = map_values(conversations, std::slice::from_ref(&conversation));
        assert_eq!(out.records[0].source_id, "335");
        assert_eq!(ticket_of(&out.records[0]).customer_source_id.as_deref(), Some("70"));
        let (out, _) = map_values(ratings, std::slice::from_ref(&conversation));
        assert_eq!(out.records[0].source_id, "335");
        assert!(out.records[0].raw.get().starts_with(r#"{"conversation_id":335,"#));
        assert_eq!(response_of(&out.records[0]).customer_source_id.as_deref(), Some("5000000000"));

        let mut fractional = conversation.clone();
        fractional["id"] = json!(335.5);
        let mut empty = conversation;
        empty["id"] = json!("");
        let (out, _) = map_values(conversations, &[fractional, empty]);
        assert!(out.records.is_empty());
        assert_eq!(out.quarantined.len(), 2);
        assert!(out.quarantined.iter().all(|q| q.reason.starts_with("id:")), "{:?}", out.quarantined);
    }

    /// Customer-started conversations carry the customer's email; channels, states and
    /// priorities become the unified words.
    #[test]
    fn channels_states_and_authors() {
        let base = value(items(SEARCH)[0].get());
        let cases = [
            ("email", "open", "priority", "user", Some("admin180@email.com"), ("email", "open", "high")),
            (
                "phone_call",
                "snoozed",
                "not_priority",
                "lead",
                Some("admin180@email.com"),
                ("phone", "pending", "normal"),
            ),
            ("whatsapp", "closed", "not_priority", "bot", None, ("whatsapp", "solved", "normal")),
        ];
        for (source, state, priority, author, email, (channel, status, prio)) in cases {
            let mut c = base.clone();
            c["source"]["type"] = json!(source);
            c["state"] = json!(state);
            c["priority"] = json!(priority);
            c["source"]["author"]["type"] = json!(author);
            let (out, _) = map_values(conversations, &[c]);
            let t = ticket_of(&out.records[0]);
            assert_eq!(t.channel.as_deref(), Some(channel));
            assert_eq!(t.status.as_deref(), Some(status));
            assert_eq!(t.priority.as_deref(), Some(prio));
            assert_eq!(t.customer_email.as_deref(), email);
        }
    }

    /// Malformed records are quarantined as received with a reason naming the field; the rest
    /// of the page maps and still moves the checkpoint.
    #[test]
    fn malformed_records_are_quarantined() {
        let good = value(items(LIST)[0].get());
        let mut bad_created = good.clone();
        bad_created["id"] = json!("5000000042");
        bad_created["created_at"] = json!("not a date");
        let mut bad_updated = good.clone();
        bad_updated["id"] = json!("5000000043");
        bad_updated["updated_at"] = json!("never");
        let mut bad_stat = good.clone();
        bad_stat["id"] = json!("5000000044");
        bad_stat["statistics"] = value(STATISTICS);
        bad_stat["statistics"]["first_admin_reply_at"] = json!("soon");
        let mut bad_shape = good.clone();
        bad_shape["id"] = json!("5000000045");
        bad_shape["contacts"] = json!("nobody");
        let values = [bad_created, good.clone(), bad_updated, bad_stat, bad_shape];
        let (out, newest) = map_values(conversations, &values);
        assert_eq!(out.records.len(), 1);
        assert_eq!(newest, Some(1_719_492_795));
        let reasons: Vec<(Option<&str>, &str)> = out
            .quarantined
            .iter()
            .map(|q| (q.source_id.as_deref(), q.reason.split(':').next().unwrap()))
            .collect();
        assert_eq!(
            reasons,
            [
                (Some("5000000042"), "created_at"),
                (Some("5000000043"), "updated_at"),
                (Some("5000000044"), "statistics.first_admin_reply_at"),
                (Some("5000000045"), "conversation"),
            ]
        );
        assert_eq!(out.quarantined[0].raw, values[0].to_string());

        let mut rated = good;
        rated["conversation_rating"] = value(RATING);
        let mut bad_rating = rated.clone();
        bad_rating["id"] = json!("5000000046");
        bad_rating["conversation_rating"]["rating"] = json!("five stars");
        let mut out_of_scale = rated.clone();
        out_of_scale["id"] = json!("5000000047");
        out_of_scale["conversation_rating"]["rating"] = json!(7);
        let (out, _) = map_values(ratings, &[bad_rating, rated, out_of_scale]);
        assert_eq!(out.records.len(), 1);
        assert_eq!(out.quarantined.len(), 2);
        assert!(out.quarantined.iter().all(|q| q.reason.starts_with("conversation_rating.rating:")));
        let contact = value(CONTACT);
        let mut bad_contact = contact.clone();
        bad_contact["created_at"] = json!("not a date");
        let (out, _) = map_values(contacts, &[bad_contact, contact]);
        assert_eq!(out.records.len(), 1);
        assert!(out.quarantined[0].reason.starts_with("created_at:"));
    }
}
