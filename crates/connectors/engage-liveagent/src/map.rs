//! LiveAgent objects → unified records. Times are read in the account's zone; a record that
//! cannot be mapped is quarantined with the reason and the rest of the page goes on.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use engage_connect::Page;
use engage_model::{Identity, Quarantined, Record, Ticket, raw_json};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::parse_local;

/// A mapped page and the list times (`date_changed` / `date_created`, Unix seconds) of its
/// records, in the order received, for the next request's filter.
pub(crate) struct Mapped {
    pub page: Page,
    pub times: Vec<i64>,
}

/// The ticket fields Engage maps; everything else stays in the raw text untouched.
#[derive(Deserialize)]
struct TicketFields {
    id: Option<Value>,
    owner_contactid: Option<Value>,
    owner_email: Option<Value>,
    status: Option<Value>,
    channel_type: Option<Value>,
    subject: Option<Value>,
    date_created: Option<Value>,
    date_changed: Option<Value>,
    date_resolved: Option<Value>,
    date_deleted: Option<Value>,
}

#[derive(Deserialize)]
struct ContactFields {
    id: Option<Value>,
    firstname: Option<Value>,
    lastname: Option<Value>,
    systemname: Option<Value>,
    date_created: Option<Value>,
    #[serde(default)]
    emails: Vec<Value>,
    #[serde(default)]
    phones: Vec<Value>,
}

#[derive(Deserialize)]
struct Keys {
    id: Option<Value>,
    date_changed: Option<Value>,
    date_created: Option<Value>,
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// LiveAgent ids are short alphanumeric strings (`gv6dy7vk`).
fn id(value: Option<&Value>) -> Result<String, String> {
    match value {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Ok(n.to_string()),
        Some(other) => Err(format!("id: `{other}` is not an id")),
        None => Err("id: missing".into()),
    }
}

/// A zone-less LiveAgent time read in `tz`; `Ok(None)` for null, absent or empty.
fn time(value: Option<&Value>, field: &str, tz: Tz) -> Result<Option<DateTime<Utc>>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        // Seen as `0000-00-00 00:00:00` in older LiveAgent data for "never".
        Some(Value::String(s)) if s.starts_with("0000-00-00") => Ok(None),
        Some(Value::String(s)) => parse_local(s, tz)
            .map(Some)
            .ok_or_else(|| format!("{field}: `{s}` is not a time (YYYY-MM-DD HH:MM:SS)")),
        Some(other) => Err(format!("{field}: `{other}` is not a time")),
    }
}

fn payload(text: &str) -> Result<Box<RawValue>, String> {
    raw_json(text).map_err(|e| format!("payload: {e}"))
}

fn quarantine(item: &RawValue, reason: String) -> Quarantined {
    let id = serde_json::from_str::<Keys>(item.get()).ok().and_then(|k| text(k.id.as_ref()));
    Quarantined { source_id: id, raw: item.get().to_owned(), reason }
}

/// LiveAgent's status codes in the unified words.
fn status(code: &str) -> String {
    match code {
        "I" | "N" => "new",
        "T" | "P" | "C" => "open",
        "A" => "pending",
        "W" => "hold",
        "R" => "solved",
        "L" => "closed",
        "B" => "spam",
        "X" => "deleted",
        other => return other.to_ascii_lowercase(),
    }
    .to_owned()
}

/// LiveAgent's channel codes in the unified words.
fn channel(code: &str) -> String {
    match code {
        "E" => "email",
        "B" | "I" => "chat",
        "M" => "web",
        "C" | "W" => "phone",
        "F" | "A" => "facebook",
        "T" => "twitter",
        "Q" => "forum",
        "S" => "suggestion",
        other => return other.to_ascii_lowercase(),
    }
    .to_owned()
}

fn mapped(
    items: &[Box<RawValue>],
    key: fn(&Keys) -> Option<&Value>,
    tz: Tz,
    mut map: impl FnMut(&RawValue) -> Result<Record, String>,
) -> Mapped {
    let mut page = Page::default();
    let mut times = Vec::with_capacity(items.len());
    for item in items {
        let at =
            serde_json::from_str::<Keys>(item.get()).ok().and_then(|k| time(key(&k), "", tz).ok().flatten());
        times.extend(at.map(|t| t.timestamp()));
        match map(item) {
            Ok(record) => page.records.push(record),
            Err(reason) => page.quarantined.push(quarantine(item, reason)),
        }
    }
    Mapped { page, times }
}

/// Tickets of one page; a deleted ticket (status `X`) is a deletion at its `date_deleted`.
pub(crate) fn tickets(items: &[Box<RawValue>], tz: Tz) -> Mapped {
    mapped(
        items,
        |k| k.date_changed.as_ref(),
        tz,
        |item| {
            let f: TicketFields = serde_json::from_str(item.get()).map_err(|e| format!("ticket: {e}"))?;
            let source_id = id(f.id.as_ref())?;
            let created_at =
                time(f.date_created.as_ref(), "date_created", tz)?.ok_or("date_created: missing")?;
            let changed = time(f.date_changed.as_ref(), "date_changed", tz)?;
            let deleted_at = time(f.date_deleted.as_ref(), "date_deleted", tz)?;
            let code = text(f.status.as_ref());
            let ticket = Ticket {
                customer_source_id: text(f.owner_contactid.as_ref()),
                customer_email: text(f.owner_email.as_ref()),
                subject: text(f.subject.as_ref()),
                channel: text(f.channel_type.as_ref()).map(|c| channel(&c)),
                status: code.as_deref().map(status),
                priority: None,
                created_at: Some(created_at),
                updated_at: changed,
                first_reply_at: None,
                solved_at: time(f.date_resolved.as_ref(), "date_resolved", tz)?,
                first_reply_minutes: None,
                first_resolution_minutes: None,
                full_resolution_minutes: None,
                reopens: None,
                replies: None,
                satisfaction: None,
            };
            let record = Record::new(source_id, payload(item.get())?, ticket);
            Ok(match code.as_deref() {
                Some("X") => record.deleted(deleted_at.or(changed).unwrap_or(created_at)),
                _ => record,
            })
        },
    )
}

/// Contacts of one page → identities (the first e-mail and phone; the rest stay in `raw`).
pub(crate) fn contacts(items: &[Box<RawValue>], tz: Tz) -> Mapped {
    mapped(
        items,
        |k| k.date_created.as_ref(),
        tz,
        |item| {
            let f: ContactFields = serde_json::from_str(item.get()).map_err(|e| format!("contact: {e}"))?;
            let source_id = id(f.id.as_ref())?;
            let full = [text(f.firstname.as_ref()), text(f.lastname.as_ref())]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            let identity = Identity {
                email: f.emails.iter().find_map(|e| text(Some(e))),
                phone: f.phones.iter().find_map(|p| text(Some(p))),
                name: Some(full).filter(|n| !n.is_empty()).or_else(|| text(f.systemname.as_ref())),
                created_at: time(f.date_created.as_ref(), "date_created", tz)?,
                updated_at: None,
            };
            Ok(Record::new(source_id, payload(item.get())?, identity))
        },
    )
}

#[cfg(test)]
mod tests {
    //! LiveAgent has no official example payloads; these are built to the API v3 `Ticket` and
    //! `ContactListItem` models (helpdesk.md §5).

    #![allow(clippy::unwrap_used)]

    use engage_model::Entity;
    use serde_json::json;

    use super::*;

    fn tz(name: &str) -> Tz {
        name.parse().unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn raw(v: &Value) -> Box<RawValue> {
        RawValue::from_string(v.to_string()).unwrap()
    }

    fn ticket() -> Value {
        json!({
            "id": "gv6dy7vk", "owner_contactid": "zbmc7d61", "owner_email": "emily.carter@example.com",
            "owner_name": "Emily Carter", "departmentid": "default", "agentid": "ag4k2x9b", "status": "R",
            "tags": ["tg_vip"], "code": "ZJQ-KPNLC-398", "channel_type": "E",
            "date_created": "2025-01-15 12:00:00", "date_changed": "2025-01-16 09:30:00",
            "date_resolved": "2025-01-16 09:29:00", "date_due": null, "date_deleted": null,
            "last_activity": "2025-01-16 09:30:00", "last_activity_public": "2025-01-16 09:29:00",
            "public_access_urlcode": "k2m9x7", "subject": "Order arrived damaged", "custom_fields": []
        })
    }

    fn ticket_of(record: &Record) -> &Ticket {
        match &record.entity {
            Entity::Ticket(t) => t,
            other => panic!("{other:?}"),
        }
    }

    /// Every mapped field; the times are Bratislava's (UTC+1 in January).
    #[test]
    fn ticket_maps_every_field_in_the_account_zone() {
        let item = raw(&ticket());
        let out = tickets(std::slice::from_ref(&item), tz("Europe/Bratislava"));
        assert!(out.page.quarantined.is_empty(), "{:?}", out.page.quarantined);
        let record = &out.page.records[0];
        assert_eq!(record.source_id, "gv6dy7vk");
        assert_eq!(record.raw.get(), item.get());
        assert_eq!(record.deleted_at, None);
        assert_eq!(
            ticket_of(record),
            &Ticket {
                customer_source_id: Some("zbmc7d61".into()),
                customer_email: Some("emily.carter@example.com".into()),
                subject: Some("Order arrived damaged".into()),
                channel: Some("email".into()),
                status: Some("solved".into()),
                priority: None,
                created_at: Some(at("2025-01-15T11:00:00Z")),
                updated_at: Some(at("2025-01-16T08:30:00Z")),
                first_reply_at: None,
                solved_at: Some(at("2025-01-16T08:29:00Z")),
                first_reply_minutes: None,
                first_resolution_minutes: None,
                full_resolution_minutes: None,
                reopens: None,
                replies: None,
                satisfaction: None,
            }
        );
        assert_eq!(out.times, [at("2025-01-16T08:30:00Z").timestamp()]);
        // The same text in New York is six hours later in UTC.
        let out = tickets(&[item], tz("America/New_York"));
        assert_eq!(ticket_of(&out.page.records[0]).created_at, Some(at("2025-01-15T17:00:00Z")));
    }

    /// Status `X` is a deletion at `date_deleted` (else at `date_changed`); spam is not one.
    #[test]
    fn deleted_status_x_is_a_deletion_at_date_deleted() {
        let mut deleted = ticket();
        deleted["status"] = json!("X");
        deleted["date_deleted"] = json!("2025-07-01 10:00:00");
        let mut without_date = ticket();
        without_date["id"] = json!("h7k2m4n1");
        without_date["status"] = json!("X");
        let mut spam = ticket();
        spam["id"] = json!("p3q8r2s5");
        spam["status"] = json!("B");
        let out = tickets(&[raw(&deleted), raw(&without_date), raw(&spam)], tz("Europe/Bratislava"));
        let [a, b, c] = &out.page.records[..] else { panic!("{:?}", out.page.records) };
        // July: UTC+2.
        assert_eq!(a.deleted_at, Some(at("2025-07-01T08:00:00Z")));
        assert_eq!(ticket_of(a).status.as_deref(), Some("deleted"));
        assert_eq!(b.deleted_at, Some(at("2025-01-16T08:30:00Z")));
        assert_eq!((c.deleted_at, ticket_of(c).status.as_deref()), (None, Some("spam")));
    }

    /// Every status and channel code in the unified words.
    #[test]
    fn status_and_channel_codes() {
        let statuses: Vec<String> =
            ["I", "N", "T", "P", "R", "X", "B", "A", "C", "W", "L"].iter().map(|c| status(c)).collect();
        assert_eq!(
            statuses,
            ["new", "new", "open", "open", "solved", "deleted", "spam", "pending", "open", "hold", "closed"]
        );
        let channels: Vec<String> =
            ["E", "B", "M", "I", "C", "W", "F", "A", "T", "Q", "S"].iter().map(|c| channel(c)).collect();
        assert_eq!(
            channels,
            [
                "email",
                "chat",
                "web",
                "chat",
                "phone",
                "phone",
                "facebook",
                "facebook",
                "twitter",
                "forum",
                "suggestion"
            ]
        );
    }

    /// Around daylight-saving changes: a repeated hour is its first occurrence, a skipped hour
    /// the time after the gap.
    #[test]
    fn times_across_daylight_saving_changes() {
        let zone = tz("Europe/Bratislava");
        assert_eq!(parse_local("2025-10-26 02:30:00", zone), Some(at("2025-10-26T00:30:00Z")));
        assert_eq!(parse_local("2025-03-30 02:30:00", zone), Some(at("2025-03-30T01:30:00Z")));
        assert_eq!(crate::format_local(at("2025-10-26T01:30:00Z"), zone), "2025-10-26 02:30:00");
        assert_eq!(parse_local("2025-02-30 25:61:00", zone), None);
    }

    /// A contact → an identity: first e-mail and phone, first and last name.
    #[test]
    fn contact_maps_to_an_identity() {
        let contact = json!({
            "id": "zbmc7d61", "firstname": "Emily", "lastname": "Carter", "systemname": "Emily",
            "description": null, "avatar_url": null, "type": "R", "gender": null,
            "date_created": "2024-08-01 14:15:00", "language": "en", "city": null, "countrycode": null,
            "emails": ["emily.carter@example.com", "emily@work.example"], "phones": ["+1 415 555 0101"],
            "groups": []
        });
        let out = contacts(&[raw(&contact)], tz("Europe/Bratislava"));
        assert_eq!(
            out.page.records[0].entity,
            Entity::Identity(Identity {
                email: Some("emily.carter@example.com".into()),
                phone: Some("+1 415 555 0101".into()),
                name: Some("Emily Carter".into()),
                created_at: Some(at("2024-08-01T12:15:00Z")),
                updated_at: None,
            })
        );
    }

    /// Unreadable times and ids are quarantined with the field named; the page goes on.
    #[test]
    fn malformed_records_are_quarantined() {
        let mut bad_created = ticket();
        bad_created["id"] = json!("a1b2c3d4");
        bad_created["date_created"] = json!("not a date");
        let mut bad_changed = ticket();
        bad_changed["id"] = json!("e5f6g7h8");
        bad_changed["date_changed"] = json!("2025-02-30 25:61:00");
        let mut bad_id = ticket();
        bad_id["id"] = json!(1.5);
        let out = tickets(&[raw(&bad_created), raw(&ticket()), raw(&bad_changed), raw(&bad_id)], tz("UTC"));
        assert_eq!(out.page.records.len(), 1);
        let reasons: Vec<(Option<&str>, &str)> = out
            .page
            .quarantined
            .iter()
            .map(|q| (q.source_id.as_deref(), q.reason.split(':').next().unwrap()))
            .collect();
        assert_eq!(
            reasons,
            [(Some("a1b2c3d4"), "date_created"), (Some("e5f6g7h8"), "date_changed"), (Some("1.5"), "id")]
        );
        // The unreadable date_changed does not count for the next filter.
        assert_eq!(out.times.len(), 3);
    }
}
