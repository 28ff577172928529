//! Klaviyo JSON:API resources → unified records. A record that cannot be mapped is quarantined
//! with the reason; the rest of the page goes on.
//!
//! An event's time is `attributes.datetime` (ISO 8601 with an offset) or, when that is absent,
//! `attributes.timestamp` (Unix seconds; some revisions and exports give only that). A
//! `datetime` that is present but unreadable makes the event malformed.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use engage_connect::Page;
use engage_model::{EmailEvent, EmailEventKind, Entity, Identity, Quarantined, Record, raw_json};
use serde_json::Value;

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn time(value: Option<&Value>, field: &str) -> Result<Option<DateTime<Utc>>, String> {
    engage_connect::time::json_timestamp(value).map_err(|e| format!("{field}: {e}"))
}

/// The unified kind of an email metric's events.
pub fn kind(metric: &str) -> EmailEventKind {
    match metric {
        "Received Email" => EmailEventKind::Delivered,
        "Opened Email" => EmailEventKind::Open,
        "Clicked Email" => EmailEventKind::Click,
        "Bounced Email" => EmailEventKind::Bounce,
        "Dropped Email" => EmailEventKind::Dropped,
        "Marked Email as Spam" => EmailEventKind::SpamReport,
        "Unsubscribed" | "Unsubscribed from Email Marketing" => EmailEventKind::Unsubscribe,
        _ => EmailEventKind::Other,
    }
}

/// Whether an open was made by a machine (Apple Mail Privacy Protection): Klaviyo flags such
/// opens in the event's properties (`machine_open`, or `Apple Privacy Open`).
fn machine_open(props: Option<&Value>) -> bool {
    let flag = |key: &str| match props.and_then(|p| p.get(key)) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    };
    flag("machine_open") || flag("Apple Privacy Open")
}

fn quarantine(item: &Value, reason: String) -> Quarantined {
    Quarantined { source_id: text(item.get("id")), raw: item.to_string(), reason }
}

/// Maps the events of one page whose metric is in `wanted`; `names` maps metric ids to names.
/// Events of other metrics are skipped (they are not email events).
pub fn events(items: &[Value], names: &HashMap<String, String>, wanted: &[String]) -> Page {
    let mut page = Page::default();
    for item in items {
        match event(item, names, wanted) {
            Ok(Some((id, event))) => match raw_json(&item.to_string()) {
                Ok(raw) => page.records.push(Record::new(id, raw, event)),
                Err(e) => page.quarantined.push(quarantine(item, format!("payload: {e}"))),
            },
            Ok(None) => {}
            Err(reason) => page.quarantined.push(quarantine(item, reason)),
        }
    }
    page
}

fn event(
    item: &Value,
    names: &HashMap<String, String>,
    wanted: &[String],
) -> Result<Option<(String, EmailEvent)>, String> {
    let id = text(item.get("id")).ok_or("id: missing")?;
    let metric =
        text(item.pointer("/relationships/metric/data/id")).ok_or("relationships.metric: missing")?;
    let name =
        names.get(&metric).ok_or_else(|| format!("metric `{metric}` is not listed by /api/metrics"))?;
    if !wanted.iter().any(|w| w == name) {
        return Ok(None);
    }
    let attributes = item.get("attributes");
    let occurred_at = match attributes.and_then(|a| a.get("datetime")) {
        None | Some(Value::Null) => {
            time(attributes.and_then(|a| a.get("timestamp")), "attributes.timestamp")?
        }
        datetime => time(datetime, "attributes.datetime")?,
    }
    .ok_or("attributes.datetime and attributes.timestamp: missing")?;
    let props = attributes.and_then(|a| a.get("event_properties"));
    let prop = |key: &str| text(props.and_then(|p| p.get(key)));
    let kind = kind(name);
    let event = EmailEvent {
        platform: "klaviyo".to_owned(),
        campaign_source_id: prop("$message"),
        email: prop("$email"),
        customer_source_id: text(item.pointer("/relationships/profile/data/id")),
        kind,
        occurred_at: Some(occurred_at),
        machine_open: kind == EmailEventKind::Open && machine_open(props),
        url: prop("URL"),
        bounce_type: if kind == EmailEventKind::Bounce { prop("Bounce Type") } else { None },
    };
    Ok(Some((id, event)))
}

/// Profiles → identities.
pub fn profiles(items: &[Value]) -> Page {
    let mut page = Page::default();
    for item in items {
        match profile(item) {
            Ok((id, identity)) => match raw_json(&item.to_string()) {
                Ok(raw) => page.records.push(Record::new(id, raw, identity)),
                Err(e) => page.quarantined.push(quarantine(item, format!("payload: {e}"))),
            },
            Err(reason) => page.quarantined.push(quarantine(item, reason)),
        }
    }
    page
}

fn profile(item: &Value) -> Result<(String, Identity), String> {
    let id = text(item.get("id")).ok_or("id: missing")?;
    let a = item.get("attributes");
    let attr = |key: &str| text(a.and_then(|a| a.get(key)));
    let name = match (attr("first_name"), attr("last_name")) {
        (Some(f), Some(l)) => Some(format!("{f} {l}")),
        (f, l) => f.or(l),
    };
    let identity = Identity {
        email: attr("email"),
        phone: attr("phone_number"),
        name,
        created_at: time(a.and_then(|a| a.get("created")), "attributes.created")?,
        updated_at: time(a.and_then(|a| a.get("updated")), "attributes.updated")?,
    };
    Ok((id, identity))
}

/// The newest event or profile-update time of a page.
pub fn newest(page: &Page) -> Option<DateTime<Utc>> {
    page.records
        .iter()
        .filter_map(|r| match &r.entity {
            Entity::EmailEvent(e) => e.occurred_at,
            Entity::Identity(i) => i.updated_at,
            _ => None,
        })
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use engage_sandbox::klaviyo::{EVENTS_DOCS_EXAMPLE, EVENTS_PAGE_1, EVENTS_PAGE_2};

    fn data(json: &str, key: &str) -> Vec<Value> {
        serde_json::from_str::<Value>(json).unwrap()[key].as_array().unwrap().clone()
    }

    fn names() -> HashMap<String, String> {
        HashMap::from([
            ("VFFb4u".to_owned(), "Clicked Email".to_owned()),
            ("ORD".to_owned(), "Placed Order".to_owned()),
        ])
    }

    fn wanted() -> Vec<String> {
        crate::EMAIL_METRICS.iter().map(|m| (*m).to_owned()).collect()
    }

    fn email_event(page: &Page, i: usize) -> &EmailEvent {
        match &page.records[i].entity {
            Entity::EmailEvent(e) => e,
            other => panic!("{other:?}"),
        }
    }

    /// The official pages, field by field.
    #[test]
    fn official_event_pages() {
        let mut items = data(EVENTS_PAGE_1, "data");
        items.extend(data(EVENTS_PAGE_2, "data"));
        let page = events(&items, &names(), &wanted());
        assert!(page.quarantined.is_empty());
        let ids: Vec<&str> = page.records.iter().map(|r| r.source_id.as_str()).collect();
        assert_eq!(ids, ["3qvdbYg3", "3qvdgpzF", "3qvdgs9P"]);
        let e = email_event(&page, 0);
        assert_eq!(e.platform, "klaviyo");
        assert_eq!(e.kind, EmailEventKind::Click);
        assert_eq!(e.occurred_at.map(|t| t.to_rfc3339()).as_deref(), Some("2021-05-17T23:43:28+00:00"));
        assert_eq!(e.customer_source_id.as_deref(), Some("01F5YBDQE9W7WDSH9KK398CAYX"));
        assert_eq!(e.url.as_deref(), Some("https://example.com/"));
        assert_eq!(
            (e.campaign_source_id.as_deref(), e.email.as_deref(), e.bounce_type.as_deref()),
            (None, None, None)
        );
        assert!(!e.machine_open);
        assert_eq!(email_event(&page, 2).occurred_at.map(|t| t.timestamp()), Some(1_621_295_125));
        assert_eq!(email_event(&page, 2).customer_source_id.as_deref(), Some("01F5YBGMK62AJR0955G7NW6EP7"));
        assert_eq!(serde_json::from_str::<Value>(page.records[1].raw.get()).unwrap(), items[1]);
        assert_eq!(newest(&page).map(|t| t.timestamp()), Some(1_621_295_125));
    }

    /// `datetime` (ISO) wins; without it, `timestamp` (Unix seconds) gives the time; an
    /// unreadable `datetime` is a malformed event.
    #[test]
    fn unix_and_iso_timestamps() {
        let base = |attributes: Value| {
            serde_json::json!({ "type": "event", "id": "e1", "attributes": attributes,
                "relationships": { "metric": { "data": { "type": "metric", "id": "VFFb4u" } } } })
        };
        let iso = base(serde_json::json!({ "datetime": "2024-03-01T10:00:00+02:00", "timestamp": 1 }));
        let unix = base(serde_json::json!({ "timestamp": 1_709_280_000 }));
        let unix_text = base(serde_json::json!({ "datetime": null, "timestamp": "1709280000" }));
        let bad = base(serde_json::json!({ "datetime": "not a date", "timestamp": 1_709_280_000 }));
        let page = events(&[iso, unix, unix_text, bad], &names(), &wanted());
        let times: Vec<String> =
            (0..3).map(|i| email_event(&page, i).occurred_at.unwrap().to_rfc3339()).collect();
        assert_eq!(
            times,
            ["2024-03-01T08:00:00+00:00", "2024-03-01T08:00:00+00:00", "2024-03-01T08:00:00+00:00"]
        );
        assert_eq!(page.quarantined.len(), 1);
        assert_eq!(page.quarantined[0].reason, "attributes.datetime: `not a date` is not a timestamp");
    }

    #[test]
    fn metrics_name_the_events() {
        let event = |id: &str, metric: &str, props: Value| {
            serde_json::json!({ "id": id, "attributes": { "datetime": "2024-01-01T00:00:00+00:00", "event_properties": props },
                "relationships": { "metric": { "data": { "type": "metric", "id": metric } },
                                   "profile": { "data": { "type": "profile", "id": "01P" } } } })
        };
        let names = HashMap::from([
            ("O".to_owned(), "Opened Email".to_owned()),
            ("B".to_owned(), "Bounced Email".to_owned()),
            ("P".to_owned(), "Placed Order".to_owned()),
        ]);
        let items = [
            event("1", "O", serde_json::json!({ "machine_open": true, "$message": "01CAMP" })),
            event("2", "O", serde_json::json!({ "Apple Privacy Open": "True" })),
            event("3", "O", serde_json::json!({})),
            event("4", "B", serde_json::json!({ "Bounce Type": "hard" })),
            event("5", "P", serde_json::json!({ "$value": 10.5 })),
            event("6", "X", serde_json::json!({})),
        ];
        let page = events(&items, &names, &wanted());
        let got: Vec<(&str, EmailEventKind, bool)> = page
            .records
            .iter()
            .map(|r| match &r.entity {
                Entity::EmailEvent(e) => (r.source_id.as_str(), e.kind, e.machine_open),
                _ => panic!(),
            })
            .collect();
        assert_eq!(
            got,
            [
                ("1", EmailEventKind::Open, true),
                ("2", EmailEventKind::Open, true),
                ("3", EmailEventKind::Open, false),
                ("4", EmailEventKind::Bounce, false)
            ]
        );
        assert_eq!(email_event(&page, 0).campaign_source_id.as_deref(), Some("01CAMP"));
        assert_eq!(email_event(&page, 3).bounce_type.as_deref(), Some("hard"));
        // Placed Order is skipped, an unknown metric quarantined.
        assert_eq!(page.quarantined.len(), 1);
        assert_eq!(page.quarantined[0].reason, "metric `X` is not listed by /api/metrics");
    }

    #[test]
    fn official_profile() {
        let included = data(EVENTS_DOCS_EXAMPLE, "included");
        let profile = included.iter().find(|i| i["type"] == "profile").unwrap();
        let page = profiles(std::slice::from_ref(profile));
        let record = &page.records[0];
        assert_eq!(record.source_id, "01GDDKASAP8TKDDA2GRZDSVP4H");
        let Entity::Identity(i) = &record.entity else { panic!() };
        assert_eq!(i.email.as_deref(), Some("sarah.mason@klaviyo-demo.com"));
        assert_eq!(i.phone.as_deref(), Some("+15005550006"));
        assert_eq!(i.name.as_deref(), Some("Sarah Mason"));
        assert_eq!(i.created_at.map(|t| t.to_rfc3339()).as_deref(), Some("2022-11-08T00:00:00+00:00"));
        assert_eq!(i.updated_at.map(|t| t.to_rfc3339()).as_deref(), Some("2022-11-08T00:00:00+00:00"));
    }
}
