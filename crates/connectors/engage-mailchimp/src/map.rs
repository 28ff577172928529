//! Mailchimp campaigns, reports and email activity → unified records. A record that cannot be
//! mapped is quarantined with the reason; the rest of the page goes on.
//!
//! Report gotchas: `opens.open_rate` and `clicks.click_rate` are fractions while
//! `list_stats.*_rate` are percentages — Engage stores the counts and lets the metrics compute
//! rates; `opens.proxy_excluded_unique_opens` (newer sends) is the unique openers without Apple
//! Mail Privacy Protection's machine opens, stored as `unique_opens_human` (empty when Mailchimp
//! does not report it); `clicks.unique_subscriber_clicks` is the unique *clickers*,
//! `clicks.unique_clicks` the unique *link* clicks.

use chrono::{DateTime, Utc};
use engage_connect::Page;
use engage_model::{EmailCampaign, EmailEvent, EmailEventKind, Quarantined, Record, raw_json};
use serde::Deserialize;
use serde_json::{Map, Value};

/// A page of `GET /reports/{id}/email-activity`.
#[derive(Debug, Deserialize)]
pub struct ActivityBody {
    /// The recipients with their activity.
    #[serde(default)]
    pub emails: Vec<Value>,
    /// All recipients matching the request.
    pub total_items: Option<u64>,
}

/// Whether an id can go into a URL path as is.
pub fn safe_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn time(value: Option<&Value>, field: &str) -> Result<Option<DateTime<Utc>>, String> {
    engage_connect::time::json_timestamp(value).map_err(|e| format!("{field}: {e}"))
}

/// A campaign's `create_time`, when it is one.
pub fn campaign_created(campaign: &Value) -> Option<DateTime<Utc>> {
    time(campaign.get("create_time"), "create_time").ok().flatten()
}

/// A campaign's `send_time`, when it has been sent (`""` or null before).
pub fn campaign_sent(campaign: &Value) -> Option<DateTime<Utc>> {
    time(campaign.get("send_time"), "send_time").ok().flatten()
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// A count at `pointer` in the report: absent → `None`; not a non-negative integer → error.
fn count(report: Option<&Value>, pointer: &str) -> Result<Option<i64>, String> {
    let Some(value) = report.and_then(|r| r.pointer(pointer)) else { return Ok(None) };
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_i64() {
            Some(n) if n >= 0 => Ok(Some(n)),
            _ => Err(format!("report{pointer}: `{n}` is not a count")),
        },
        other => Err(format!("report{pointer}: `{other}` is not a count")),
    }
}

/// Maps a campaign (and its report, once sent) into an [`EmailCampaign`].
pub fn campaign(campaign: &Value, report: Option<&Value>) -> Result<(String, EmailCampaign), String> {
    let id = text(campaign.get("id")).ok_or("id: missing")?;
    time(campaign.get("create_time"), "create_time")?.ok_or("create_time: missing")?;
    let sent_at = match time(campaign.get("send_time"), "send_time")? {
        Some(t) => Some(t),
        None => time(report.and_then(|r| r.get("send_time")), "report.send_time")?,
    };
    let settings = campaign.get("settings");
    let setting = |key: &str| text(settings.and_then(|s| s.get(key)));
    let from_report = |key: &str| text(report.and_then(|r| r.get(key)));
    let entity = EmailCampaign {
        platform: "mailchimp".to_owned(),
        name: setting("title").or_else(|| from_report("campaign_title")),
        subject: setting("subject_line").or_else(|| from_report("subject_line")),
        sent_at,
        recipients: count(report, "/emails_sent")?,
        hard_bounces: count(report, "/bounces/hard_bounces")?,
        soft_bounces: count(report, "/bounces/soft_bounces")?,
        unique_opens: count(report, "/opens/unique_opens")?,
        unique_opens_human: count(report, "/opens/proxy_excluded_unique_opens")?,
        total_opens: count(report, "/opens/opens_total")?,
        unique_clickers: count(report, "/clicks/unique_subscriber_clicks")?,
        unique_clicks: count(report, "/clicks/unique_clicks")?,
        total_clicks: count(report, "/clicks/clicks_total")?,
        unsubscribes: count(report, "/unsubscribed")?,
        spam_reports: count(report, "/abuse_reports")?,
    };
    Ok((id, entity))
}

/// Adds a campaign's record to the page: the campaign object with its report under `report`,
/// or the campaign quarantined with the reason.
pub fn push_campaign(page: &mut Page, campaign_value: &Value, report: Option<&Value>) {
    let mut raw = campaign_value.clone();
    if let (Some(report), Value::Object(map)) = (report, &mut raw) {
        map.insert("report".to_owned(), report.clone());
    }
    let text = raw.to_string();
    let mapped = campaign(campaign_value, report).and_then(|(id, entity)| {
        raw_json(&text).map(|raw| (id, raw, entity)).map_err(|e| format!("payload: {e}"))
    });
    match mapped {
        Ok((id, raw, entity)) => page.records.push(Record::new(id, raw, entity)),
        Err(reason) => page.quarantined.push(Quarantined {
            source_id: self::text(campaign_value.get("id")),
            raw: text,
            reason,
        }),
    }
}

/// The id of an activity item: `{campaign_id}/{email_id}/{action}/{timestamp}`, plus `/{url}`
/// for clicks (two clicks in the same second on different links are different events).
pub fn activity_id(
    campaign: &str,
    email_id: &str,
    action: &str,
    timestamp: &str,
    url: Option<&str>,
) -> String {
    match url {
        Some(url) => format!("{campaign}/{email_id}/{action}/{timestamp}/{url}"),
        None => format!("{campaign}/{email_id}/{action}/{timestamp}"),
    }
}

fn kind(action: &str) -> EmailEventKind {
    match action {
        "open" => EmailEventKind::Open,
        "click" => EmailEventKind::Click,
        "bounce" => EmailEventKind::Bounce,
        "unsub" | "unsubscribe" => EmailEventKind::Unsubscribe,
        "abuse" => EmailEventKind::SpamReport,
        "sent" => EmailEventKind::Delivered,
        _ => EmailEventKind::Other,
    }
}

/// One record per activity item of each email object: the item's email envelope (every field
/// but `activity` and `_links`) followed by the item's own fields.
pub fn activity(emails: &[Value]) -> Page {
    let mut page = Page::default();
    for email in emails {
        let Some(object) = email.as_object() else {
            page.quarantined.push(Quarantined {
                source_id: None,
                raw: email.to_string(),
                reason: "email: not an object".to_owned(),
            });
            continue;
        };
        let envelope: Map<String, Value> = object
            .iter()
            .filter(|(k, _)| *k != "activity" && *k != "_links")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let items = match object.get("activity") {
            Some(Value::Array(items)) => items.as_slice(),
            None | Some(Value::Null) => &[],
            Some(other) => {
                page.quarantined.push(Quarantined {
                    source_id: text(object.get("email_id")),
                    raw: email.to_string(),
                    reason: format!("activity: `{other}` is not a list"),
                });
                continue;
            }
        };
        for item in items {
            let mut raw = envelope.clone();
            if let Some(fields) = item.as_object() {
                raw.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            let raw = Value::Object(raw);
            match event(&raw) {
                Ok((id, event)) => match raw_json(&raw.to_string()) {
                    Ok(payload) => page.records.push(Record::new(id, payload, event)),
                    Err(e) => page.quarantined.push(Quarantined {
                        source_id: Some(id),
                        raw: raw.to_string(),
                        reason: format!("payload: {e}"),
                    }),
                },
                Err((id, reason)) => {
                    page.quarantined.push(Quarantined { source_id: id, raw: raw.to_string(), reason })
                }
            }
        }
    }
    page
}

/// Maps one flattened activity item; on failure, the id when it could be formed and the reason.
fn event(raw: &Value) -> Result<(String, EmailEvent), (Option<String>, String)> {
    let field = |key: &str| raw.get(key).and_then(Value::as_str).unwrap_or_default();
    let (campaign, email_id, action) = (field("campaign_id"), field("email_id"), field("action"));
    let timestamp = match raw.get("timestamp") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let url = text(raw.get("url"));
    let id =
        activity_id(campaign, email_id, action, &timestamp, url.as_deref().filter(|_| action == "click"));
    let fail = |reason: String| (Some(id.clone()), reason);
    if campaign.is_empty() || email_id.is_empty() {
        return Err((None, "campaign_id and email_id: missing".to_owned()));
    }
    if action.is_empty() {
        return Err(fail("action: missing".to_owned()));
    }
    let occurred_at = time(raw.get("timestamp"), "timestamp")
        .map_err(fail)?
        .ok_or_else(|| fail("timestamp: missing".into()))?;
    let kind = kind(action);
    let event = EmailEvent {
        platform: "mailchimp".to_owned(),
        campaign_source_id: Some(campaign.to_owned()),
        email: text(raw.get("email_address")),
        customer_source_id: Some(email_id.to_owned()),
        kind,
        occurred_at: Some(occurred_at),
        // The activity feed does not tell machine opens apart; the campaign's report does
        // (`proxy_excluded_*`, stored as `unique_opens_human`).
        machine_open: false,
        url,
        bounce_type: (kind == EmailEventKind::Bounce).then(|| text(raw.get("type"))).flatten(),
    };
    Ok((id, event))
}

/// The newest event time of a page.
pub fn newest_event(page: &Page) -> Option<DateTime<Utc>> {
    page.records
        .iter()
        .filter_map(|r| match &r.entity {
            engage_model::Entity::EmailEvent(e) => e.occurred_at,
            _ => None,
        })
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use engage_model::Entity;
    use engage_sandbox::mailchimp::{ACTIVITY_EXAMPLE, CAMPAIGNS_EXAMPLE, REPORT_EXAMPLE};

    fn example(json: &str) -> Value {
        serde_json::from_str(json).unwrap()
    }

    /// The real report record, mapped field by field; rates computed from the stored counts
    /// equal the rates the report itself gives.
    #[test]
    fn real_report_record() {
        let report = example(REPORT_EXAMPLE);
        let campaign = serde_json::json!({
            "id": "a79651273b",
            "create_time": "2022-12-27T08:20:41+00:00",
            "send_time": "2022-12-27T08:36:55+00:00",
            "settings": { "title": "Untitled", "subject_line": "Airbyte Test" }
        });
        let (id, c) = super::campaign(&campaign, Some(&report)).unwrap();
        assert_eq!(id, "a79651273b");
        assert_eq!(c.platform, "mailchimp");
        assert_eq!((c.name.as_deref(), c.subject.as_deref()), (Some("Untitled"), Some("Airbyte Test")));
        assert_eq!(c.sent_at.map(|t| t.to_rfc3339()).as_deref(), Some("2022-12-27T08:36:55+00:00"));
        assert_eq!(c.recipients, Some(50));
        assert_eq!((c.hard_bounces, c.soft_bounces), (Some(0), Some(0)));
        assert_eq!((c.unique_opens, c.total_opens), (Some(50), Some(412)));
        // An older send: no proxy_excluded_* fields, so the human count is unknown, not 0.
        assert_eq!(c.unique_opens_human, None);
        assert_eq!((c.unique_clickers, c.unique_clicks, c.total_clicks), (Some(33), Some(47), Some(48)));
        assert_eq!((c.unsubscribes, c.spam_reports), (Some(0), Some(0)));
        // METRICS.md §3: delivered = recipients − hard − soft; open rate = unique openers /
        // delivered; click rate = unique clickers / delivered — equal to the report's own
        // fractions (`opens.open_rate` 1, `clicks.click_rate` 0.66), not `list_stats` (percent).
        let delivered = (c.recipients.unwrap() - c.hard_bounces.unwrap() - c.soft_bounces.unwrap()) as f64;
        assert_eq!(
            c.unique_opens.unwrap() as f64 / delivered,
            report["opens"]["open_rate"].as_f64().unwrap()
        );
        assert_eq!(
            c.unique_clickers.unwrap() as f64 / delivered,
            report["clicks"]["click_rate"].as_f64().unwrap()
        );
        // Unique *link* clicks (47) would give 0.94: the wrong field.
        assert_ne!(
            c.unique_clicks.unwrap() as f64 / delivered,
            report["clicks"]["click_rate"].as_f64().unwrap()
        );
    }

    #[test]
    fn machine_opens_are_excluded_where_mailchimp_reports_them() {
        let mut report = example(REPORT_EXAMPLE);
        report["opens"]["proxy_excluded_unique_opens"] = serde_json::json!(21);
        report["opens"]["proxy_excluded_opens"] = serde_json::json!(97);
        let campaign = serde_json::json!({ "id": "a79651273b", "create_time": "2022-12-27T08:20:41+00:00" });
        let (_, c) = super::campaign(&campaign, Some(&report)).unwrap();
        assert_eq!((c.unique_opens, c.unique_opens_human), (Some(50), Some(21)));
    }

    #[test]
    fn unsent_campaign_example_has_no_counts() {
        let list = example(CAMPAIGNS_EXAMPLE);
        let campaign = &list["campaigns"][0];
        let mut page = Page::default();
        push_campaign(&mut page, campaign, None);
        let record = &page.records[0];
        assert_eq!(record.source_id, "324b8a398e");
        let Entity::EmailCampaign(c) = &record.entity else { panic!() };
        assert_eq!((c.name.as_deref(), c.subject.as_deref(), c.sent_at), (Some("Untitled"), None, None));
        assert_eq!((c.recipients, c.unique_opens, c.total_clicks), (None, None, None));
        assert_eq!(serde_json::from_str::<Value>(record.raw.get()).unwrap(), *campaign);
    }

    #[test]
    fn activity_example_flattened() {
        let body: ActivityBody = serde_json::from_str(ACTIVITY_EXAMPLE).unwrap();
        assert_eq!(body.total_items, Some(1));
        let page = activity(&body.emails);
        assert!(page.quarantined.is_empty());
        let record = &page.records[0];
        assert_eq!(
            record.source_id,
            "7847cdaeff/11273c9a5dc6ae6c5aaccfb77b2addfb/open/2023-11-06T20:17:57+00:00"
        );
        let Entity::EmailEvent(e) = &record.entity else { panic!() };
        assert_eq!(e.platform, "mailchimp");
        assert_eq!(e.campaign_source_id.as_deref(), Some("7847cdaeff"));
        assert_eq!(e.email.as_deref(), Some("AirbyteMailchimpUser@gmail.com"));
        assert_eq!(e.customer_source_id.as_deref(), Some("11273c9a5dc6ae6c5aaccfb77b2addfb"));
        assert_eq!(e.kind, EmailEventKind::Open);
        assert_eq!(e.occurred_at.map(|t| t.to_rfc3339()).as_deref(), Some("2023-11-06T20:17:57+00:00"));
        assert!(!e.machine_open);
        assert_eq!((e.url.as_deref(), e.bounce_type.as_deref()), (None, None));
        assert_eq!(
            serde_json::from_str::<Value>(record.raw.get()).unwrap(),
            serde_json::json!({
                "campaign_id": "7847cdaeff",
                "list_id": "16d6ec4ffc",
                "list_is_active": true,
                "email_id": "11273c9a5dc6ae6c5aaccfb77b2addfb",
                "email_address": "AirbyteMailchimpUser@gmail.com",
                "action": "open",
                "timestamp": "2023-11-06T20:17:57+00:00",
                "ip": "74.125.212.231"
            })
        );
    }

    #[test]
    fn clicks_bounces_and_bad_items() {
        let emails: Vec<Value> = serde_json::from_str(
            r#"[{"campaign_id":"c1","email_id":"e1","email_address":"a@example.com","activity":[
                {"action":"click","timestamp":"2024-01-01T10:00:00+00:00","url":"https://x.example/a"},
                {"action":"click","timestamp":"2024-01-01T10:00:00+00:00","url":"https://x.example/b"},
                {"action":"bounce","type":"hard","timestamp":"2024-01-01T09:00:00+00:00"},
                {"action":"open","timestamp":"not a date"}]}]"#,
        )
        .unwrap();
        let page = activity(&emails);
        let ids: Vec<&str> = page.records.iter().map(|r| r.source_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "c1/e1/click/2024-01-01T10:00:00+00:00/https://x.example/a",
                "c1/e1/click/2024-01-01T10:00:00+00:00/https://x.example/b",
                "c1/e1/bounce/2024-01-01T09:00:00+00:00"
            ]
        );
        let Entity::EmailEvent(bounce) = &page.records[2].entity else { panic!() };
        assert_eq!((bounce.kind, bounce.bounce_type.as_deref()), (EmailEventKind::Bounce, Some("hard")));
        assert_eq!(page.quarantined.len(), 1);
        assert_eq!(page.quarantined[0].source_id.as_deref(), Some("c1/e1/open/not a date"));
        assert_eq!(page.quarantined[0].reason, "timestamp: `not a date` is not a timestamp");
    }
}
