//! Postmark per-day objects → one [`EmailCampaign`] per day.
//!
//! Each endpoint's `Days` array is sparse and its day objects leave out zero-valued keys, so a
//! day is the union of what the five endpoints say about it, and every count they leave out is
//! **zero**. The raw payload of a day keeps each endpoint's day object exactly as received:
//! `{"Date": "2014-01-01", "sends": {…}, "bounces": {…}}` (an endpoint that omitted the day has
//! no key).

use std::collections::BTreeMap;

use chrono::{FixedOffset, NaiveDate, TimeZone, Utc};
use engage_connect::Page;
use engage_model::{EmailCampaign, Quarantined, Record, raw_json};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The per-day endpoints under `/stats/outbound/`, in the order of a day's raw payload.
pub const ENDPOINTS: [&str; 5] = ["sends", "bounces", "spam", "opens", "clicks"];

/// The body of a per-day endpoint: its days, each kept as the exact text received (the totals
/// beside them are not used).
#[derive(Debug, Deserialize)]
pub struct DaysBody {
    /// `Days`, absent when there are none.
    #[serde(rename = "Days", default)]
    pub days: Vec<Box<RawValue>>,
}

/// One endpoint's object for one day.
struct Part<'a> {
    endpoint: &'static str,
    raw: &'a RawValue,
    fields: Map<String, Value>,
}

/// Maps the days of the five endpoints (`(endpoint, days)`), labelling each day's campaign with
/// `label` (the message stream). Returns the page and the newest day seen (quarantined days
/// included, so that the checkpoint covers them too).
pub fn days(bodies: &[(&'static str, Vec<Box<RawValue>>)], label: &str) -> (Page, Option<NaiveDate>) {
    let mut page = Page::default();
    let mut by_date: BTreeMap<String, Vec<Part<'_>>> = BTreeMap::new();
    for (endpoint, days) in bodies {
        for raw in days {
            let fields = match serde_json::from_str::<Map<String, Value>>(raw.get()) {
                Ok(fields) => fields,
                Err(e) => {
                    page.quarantined.push(quarantine(None, raw.get(), format!("{endpoint}: {e}")));
                    continue;
                }
            };
            match fields.get("Date").and_then(Value::as_str) {
                Some(date) if !date.is_empty() => {
                    by_date.entry(date.to_owned()).or_default().push(Part { endpoint, raw, fields })
                }
                _ => page.quarantined.push(quarantine(None, raw.get(), format!("{endpoint}: Date: missing"))),
            }
        }
    }
    let mut newest = None;
    for (date, parts) in by_date {
        let raw = merged(&date, &parts);
        let day = NaiveDate::parse_from_str(&date, "%Y-%m-%d").ok();
        newest = newest.max(day);
        match day
            .ok_or_else(|| format!("Date: `{date}` is not a date"))
            .and_then(|d| campaign(d, &parts, label))
        {
            Ok(campaign) => match raw_json(&raw) {
                Ok(payload) => page.records.push(Record::new(date, payload, campaign)),
                Err(e) => page.quarantined.push(quarantine(Some(date), &raw, format!("payload: {e}"))),
            },
            Err(reason) => page.quarantined.push(quarantine(Some(date), &raw, reason)),
        }
    }
    (page, newest)
}

fn quarantine(source_id: Option<String>, raw: &str, reason: String) -> Quarantined {
    Quarantined { source_id, raw: raw.to_owned(), reason }
}

/// `{"Date": date, "<endpoint>": <its day object, verbatim>, ...}`.
fn merged(date: &str, parts: &[Part<'_>]) -> String {
    let mut text = format!("{{\"Date\":{}", Value::String(date.to_owned()));
    for endpoint in ENDPOINTS {
        for part in parts.iter().filter(|p| p.endpoint == endpoint) {
            text.push_str(&format!(",\"{endpoint}\":{}", part.raw.get()));
        }
    }
    text.push('}');
    text
}

/// A count: the key of the endpoint's day object, **0 when the key or the whole object is
/// absent** (Postmark omits zeros); anything but a non-negative integer is an error.
fn count(parts: &[Part<'_>], endpoint: &str, key: &str) -> Result<i64, String> {
    let Some(part) = parts.iter().find(|p| p.endpoint == endpoint) else { return Ok(0) };
    match part.fields.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(n) if n >= 0 => Ok(n),
            _ => Err(format!("{endpoint}.{key}: `{n}` is not a count")),
        },
        Some(other) => Err(format!("{endpoint}.{key}: `{other}` is not a count")),
    }
}

fn campaign(day: NaiveDate, parts: &[Part<'_>], label: &str) -> Result<EmailCampaign, String> {
    // Postmark's stats days are EST days.
    let est = FixedOffset::west_opt(5 * 3_600).ok_or("time zone")?;
    let start = day.and_hms_opt(0, 0, 0).ok_or("Date: out of range")?;
    let sent_at = est.from_local_datetime(&start).single().map(|t| t.with_timezone(&Utc));
    Ok(EmailCampaign {
        platform: "postmark".to_owned(),
        name: Some(format!("{label} {}", day.format("%Y-%m-%d"))),
        subject: None,
        sent_at,
        recipients: Some(count(parts, "sends", "Sent")?),
        hard_bounces: Some(count(parts, "bounces", "HardBounce")?),
        soft_bounces: Some(count(parts, "bounces", "SoftBounce")?),
        unique_opens: Some(count(parts, "opens", "Unique")?),
        // Postmark does not tell machine opens apart.
        unique_opens_human: None,
        total_opens: Some(count(parts, "opens", "Opens")?),
        unique_clickers: None,
        unique_clicks: Some(count(parts, "clicks", "Unique")?),
        total_clicks: Some(count(parts, "clicks", "Clicks")?),
        unsubscribes: None,
        spam_reports: Some(count(parts, "spam", "SpamComplaint")?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use engage_model::Entity;

    fn body(json: &str) -> Vec<Box<RawValue>> {
        serde_json::from_str::<DaysBody>(json).unwrap().days
    }

    fn campaigns(page: &Page) -> BTreeMap<&str, &EmailCampaign> {
        page.records
            .iter()
            .map(|r| match &r.entity {
                Entity::EmailCampaign(c) => (r.source_id.as_str(), c),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    /// The official sends and bounces examples: sparse days and missing keys become zeros.
    #[test]
    fn official_examples_missing_keys_and_days_are_zero() {
        use engage_sandbox::postmark::{BOUNCES_EXAMPLE, SENDS_EXAMPLE};
        let bodies = vec![
            ("sends", body(SENDS_EXAMPLE)),
            ("bounces", body(BOUNCES_EXAMPLE)),
            ("spam", Vec::new()),
            ("opens", Vec::new()),
            ("clicks", Vec::new()),
        ];
        let (page, newest) = days(&bodies, "outbound");
        assert!(page.quarantined.is_empty(), "{:?}", page.quarantined);
        assert_eq!(newest, NaiveDate::from_ymd_opt(2014, 1, 5));
        let c = campaigns(&page);
        assert_eq!(
            c.keys().copied().collect::<Vec<_>>(),
            ["2014-01-01", "2014-01-02", "2014-01-03", "2014-01-04", "2014-01-05"]
        );
        let jan1 = c["2014-01-01"];
        assert_eq!(jan1.platform, "postmark");
        assert_eq!(jan1.name.as_deref(), Some("outbound 2014-01-01"));
        assert_eq!(jan1.subject, None);
        assert_eq!(jan1.sent_at.map(|t| t.to_rfc3339()).as_deref(), Some("2014-01-01T05:00:00+00:00"));
        assert_eq!(jan1.recipients, Some(140));
        assert_eq!((jan1.hard_bounces, jan1.soft_bounces), (Some(12), Some(36)));
        // No spam/opens/clicks day objects: zero, not unknown.
        assert_eq!((jan1.spam_reports, jan1.unique_opens, jan1.total_opens), (Some(0), Some(0), Some(0)));
        assert_eq!((jan1.unique_clicks, jan1.total_clicks), (Some(0), Some(0)));
        assert_eq!((jan1.unique_opens_human, jan1.unique_clickers, jan1.unsubscribes), (None, None, None));
        // 2014-01-02: sends only; no bounce object at all → zero bounces.
        assert_eq!(c["2014-01-02"].recipients, Some(160));
        assert_eq!((c["2014-01-02"].hard_bounces, c["2014-01-02"].soft_bounces), (Some(0), Some(0)));
        // 2014-01-03: absent from sends (a sparse day), only `Transient` in bounces.
        assert_eq!(c["2014-01-03"].recipients, Some(0));
        assert_eq!((c["2014-01-03"].hard_bounces, c["2014-01-03"].soft_bounces), (Some(0), Some(0)));
        assert_eq!(c["2014-01-04"].recipients, Some(50));
        assert_eq!(c["2014-01-05"].recipients, Some(115));
        // Raw keeps each endpoint's object verbatim.
        let raw: Value = serde_json::from_str(page.records[0].raw.get()).unwrap();
        assert_eq!(
            raw,
            serde_json::json!({
                "Date": "2014-01-01",
                "sends": { "Date": "2014-01-01", "Sent": 140 },
                "bounces": { "Date": "2014-01-01", "HardBounce": 12, "SoftBounce": 36 }
            })
        );
    }

    #[test]
    fn opens_and_clicks_map_and_bad_counts_are_quarantined() {
        let bodies = vec![
            (
                "sends",
                body(r#"{"Days":[{"Date":"2024-03-01","Sent":10},{"Date":"2024-03-02","Sent":"n/a"}]}"#),
            ),
            ("bounces", Vec::new()),
            ("spam", body(r#"{"Days":[{"Date":"2024-03-01","SpamComplaint":1}]}"#)),
            ("opens", body(r#"{"Days":[{"Date":"2024-03-01","Opens":9,"Unique":4}]}"#)),
            ("clicks", body(r#"{"Days":[{"Date":"2024-03-01","Clicks":3,"Unique":2},{"Date":"bad"}]}"#)),
        ];
        let (page, newest) = days(&bodies, "broadcast [news]");
        assert_eq!(newest, NaiveDate::from_ymd_opt(2024, 3, 2));
        let c = campaigns(&page)["2024-03-01"].clone();
        assert_eq!(c.name.as_deref(), Some("broadcast [news] 2024-03-01"));
        assert_eq!((c.recipients, c.spam_reports), (Some(10), Some(1)));
        assert_eq!(
            (c.total_opens, c.unique_opens, c.total_clicks, c.unique_clicks),
            (Some(9), Some(4), Some(3), Some(2))
        );
        let reasons: Vec<(Option<&str>, &str)> =
            page.quarantined.iter().map(|q| (q.source_id.as_deref(), q.reason.as_str())).collect();
        assert_eq!(
            reasons,
            [
                (Some("2024-03-02"), "sends.Sent: `\"n/a\"` is not a count"),
                (Some("bad"), "Date: `bad` is not a date")
            ]
        );
    }
}
