//! SendGrid statistics → one [`EmailCampaign`] per day (global) or per day and category.
//!
//! A day of `/v3/stats` is `{"date": D, "stats": [{"metrics": {…}}]}` and is stored verbatim.
//! A day of `/v3/categories/stats` holds one stats object per requested category,
//! `{"type": "category", "name": N, "metrics": {…}}`; each becomes its own record, its raw
//! payload `{"date": D, <the stats object's fields, verbatim>}`.
//!
//! Counts: `recipients` = `processed`, `hard_bounces` = `bounces` (SendGrid's bounces are
//! permanent), `soft_bounces` = `blocks` (temporary rejections by the receiving server), so
//! that Engage's delivered (recipients − bounces) is SendGrid's processed − bounces − blocks;
//! `unique_clickers` = `unique_clicks` (SendGrid counts unique *recipients* who clicked).
//! SendGrid's statistics do not tell machine opens apart: `unique_opens_human` stays empty.
//! Days are taken as UTC days (the API does not state the zone of its day buckets).

use chrono::NaiveDate;
use engage_connect::Page;
use engage_model::{EmailCampaign, Quarantined, Record, raw_json};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The metrics every stats object carries (missing keys are an error: SendGrid sends all).
pub const METRICS: [&str; 16] = [
    "blocks",
    "bounce_drops",
    "bounces",
    "clicks",
    "deferred",
    "delivered",
    "invalid_emails",
    "opens",
    "processed",
    "requests",
    "spam_report_drops",
    "spam_reports",
    "unique_clicks",
    "unique_opens",
    "unsubscribe_drops",
    "unsubscribes",
];

fn quarantine(source_id: Option<String>, raw: &str, reason: String) -> Quarantined {
    Quarantined { source_id, raw: raw.to_owned(), reason }
}

/// A day object's `date`, as text and as a date.
fn date_of(day: &Map<String, Value>) -> Result<(String, NaiveDate), String> {
    let text = day.get("date").and_then(Value::as_str).ok_or("date: missing")?;
    let date =
        NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| format!("date: `{text}` is not a date"))?;
    Ok((text.to_owned(), date))
}

fn count(metrics: &Map<String, Value>, key: &str) -> Result<i64, String> {
    match metrics.get(key) {
        Some(Value::Number(n)) => match n.as_i64() {
            Some(n) if n >= 0 => Ok(n),
            _ => Err(format!("metrics.{key}: `{n}` is not a count")),
        },
        Some(other) => Err(format!("metrics.{key}: `{other}` is not a count")),
        None => Err(format!("metrics.{key}: missing")),
    }
}

/// The campaign of one stats object of `date`, named `name`.
pub fn campaign(date: NaiveDate, name: String, stat: &Value) -> Result<EmailCampaign, String> {
    let metrics = stat.get("metrics").and_then(Value::as_object).ok_or("metrics: missing")?;
    for key in METRICS {
        count(metrics, key)?;
    }
    let get = |key: &str| count(metrics, key).ok();
    let sent_at = date.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    Ok(EmailCampaign {
        platform: "sendgrid".to_owned(),
        name: Some(name),
        subject: None,
        sent_at,
        recipients: get("processed"),
        hard_bounces: get("bounces"),
        soft_bounces: get("blocks"),
        unique_opens: get("unique_opens"),
        unique_opens_human: None,
        total_opens: get("opens"),
        unique_clickers: get("unique_clicks"),
        unique_clicks: None,
        total_clicks: get("clicks"),
        unsubscribes: get("unsubscribes"),
        spam_reports: get("spam_reports"),
    })
}

/// Maps the days of `/v3/stats`: one record per day, its raw payload the day verbatim. Returns
/// the page and the newest day seen (quarantined days included, so the checkpoint covers them).
pub fn global_days(days: &[Box<RawValue>]) -> (Page, Option<NaiveDate>) {
    let mut page = Page::default();
    let mut newest = None;
    for raw in days {
        let day = match serde_json::from_str::<Map<String, Value>>(raw.get()) {
            Ok(day) => day,
            Err(e) => {
                page.quarantined.push(quarantine(None, raw.get(), format!("day: {e}")));
                continue;
            }
        };
        let (text, date) = match date_of(&day) {
            Ok(d) => d,
            Err(reason) => {
                page.quarantined.push(quarantine(None, raw.get(), reason));
                continue;
            }
        };
        newest = newest.max(Some(date));
        let mapped = match day.get("stats").and_then(Value::as_array).map(Vec::as_slice) {
            Some([stat]) => campaign(date, format!("global {text}"), stat),
            Some(stats) => Err(format!("stats: {} entries where SendGrid sends one", stats.len())),
            None => Err("stats: missing".to_owned()),
        };
        match mapped.and_then(|c| raw_json(raw.get()).map(|r| (r, c)).map_err(|e| format!("payload: {e}"))) {
            Ok((payload, campaign)) => page.records.push(Record::new(text, payload, campaign)),
            Err(reason) => page.quarantined.push(quarantine(Some(text), raw.get(), reason)),
        }
    }
    (page, newest)
}

/// The source id of a category's day.
pub fn category_id(date: &str, category: &str) -> String {
    format!("{date}/{category}")
}

/// Maps the days of `/v3/categories/stats`: one record per (day, category), its raw payload
/// `{"date": D, <the stats object verbatim>}`. Returns the page and the newest day seen.
pub fn category_days(days: &[Box<RawValue>]) -> (Page, Option<NaiveDate>) {
    let mut page = Page::default();
    let mut newest = None;
    for raw in days {
        let day = match serde_json::from_str::<Map<String, Value>>(raw.get()) {
            Ok(day) => day,
            Err(e) => {
                page.quarantined.push(quarantine(None, raw.get(), format!("day: {e}")));
                continue;
            }
        };
        let (text, date) = match date_of(&day) {
            Ok(d) => d,
            Err(reason) => {
                page.quarantined.push(quarantine(None, raw.get(), reason));
                continue;
            }
        };
        newest = newest.max(Some(date));
        let Some(stats) = day.get("stats").and_then(Value::as_array) else {
            page.quarantined.push(quarantine(Some(text), raw.get(), "stats: missing".to_owned()));
            continue;
        };
        for stat in stats {
            let mut record = Map::new();
            record.insert("date".to_owned(), Value::String(text.clone()));
            if let Value::Object(fields) = stat {
                record.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            let record_text = Value::Object(record).to_string();
            let Some(name) = stat.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()) else {
                page.quarantined.push(quarantine(
                    Some(text.clone()),
                    &record_text,
                    "name: missing".to_owned(),
                ));
                continue;
            };
            let id = category_id(&text, name);
            let mapped = campaign(date, name.to_owned(), stat)
                .and_then(|c| raw_json(&record_text).map(|r| (r, c)).map_err(|e| format!("payload: {e}")));
            match mapped {
                Ok((payload, campaign)) => page.records.push(Record::new(id, payload, campaign)),
                Err(reason) => page.quarantined.push(quarantine(Some(id), &record_text, reason)),
            }
        }
    }
    (page, newest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use engage_model::Entity;

    fn days(json: &str) -> Vec<Box<RawValue>> {
        serde_json::from_str(json).unwrap()
    }

    fn campaigns(page: &Page) -> Vec<(&str, &EmailCampaign)> {
        page.records
            .iter()
            .map(|r| match &r.entity {
                Entity::EmailCampaign(c) => (r.source_id.as_str(), c),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    /// The official `/v3/stats` example: seven zero days, each stored verbatim.
    #[test]
    fn official_global_example_maps_every_day() {
        let (page, newest) = global_days(&days(engage_sandbox::sendgrid::GLOBAL_EXAMPLE));
        assert!(page.quarantined.is_empty(), "{:?}", page.quarantined);
        assert_eq!(newest, NaiveDate::from_ymd_opt(2015, 11, 9));
        let c = campaigns(&page);
        let ids: Vec<&str> = c.iter().map(|(id, _)| *id).collect();
        assert_eq!(
            ids,
            [
                "2015-11-03",
                "2015-11-04",
                "2015-11-05",
                "2015-11-06",
                "2015-11-07",
                "2015-11-08",
                "2015-11-09"
            ]
        );
        let first = c[0].1;
        assert_eq!(first.platform, "sendgrid");
        assert_eq!(first.name.as_deref(), Some("global 2015-11-03"));
        assert_eq!(first.sent_at.map(|t| t.to_rfc3339()).as_deref(), Some("2015-11-03T00:00:00+00:00"));
        assert_eq!((first.recipients, first.hard_bounces, first.soft_bounces), (Some(0), Some(0), Some(0)));
        assert_eq!((first.unique_opens_human, first.unique_clicks), (None, None));
        let raw: Value = serde_json::from_str(page.records[0].raw.get()).unwrap();
        let official: Value = serde_json::from_str(engage_sandbox::sendgrid::GLOBAL_EXAMPLE).unwrap();
        assert_eq!(raw, official[0]);
    }

    /// The official `/v3/categories/stats` example: two categories a day, one record each.
    #[test]
    fn official_category_example_maps_each_category() {
        let (page, newest) = category_days(&days(engage_sandbox::sendgrid::CATEGORY_EXAMPLE));
        assert!(page.quarantined.is_empty(), "{:?}", page.quarantined);
        assert_eq!(newest, NaiveDate::from_ymd_opt(2015, 11, 1));
        let ids: Vec<&str> = campaigns(&page).iter().map(|(id, _)| *id).collect();
        assert_eq!(
            ids,
            ["2015-10-01/docs", "2015-10-01/mattscategory", "2015-11-01/docs", "2015-11-01/mattscategory"]
        );
        assert_eq!(campaigns(&page)[1].1.name.as_deref(), Some("mattscategory"));
        let raw: Value = serde_json::from_str(page.records[1].raw.get()).unwrap();
        assert_eq!(raw["date"], "2015-10-01");
        assert_eq!(raw["type"], "category");
        assert_eq!(raw["name"], "mattscategory");
        assert_eq!(raw["metrics"]["unsubscribes"], 0);
    }

    #[test]
    fn counts_map_and_bad_days_are_quarantined() {
        let metrics = |processed: &str| {
            format!(
                r#"{{"blocks":2,"bounce_drops":0,"bounces":3,"clicks":9,"deferred":1,"delivered":95,
                "invalid_emails":0,"opens":40,"processed":{processed},"requests":101,"spam_report_drops":0,
                "spam_reports":1,"unique_clicks":6,"unique_opens":30,"unsubscribe_drops":0,"unsubscribes":2}}"#
            )
        };
        let json = format!(
            r#"[{{"date":"2024-03-01","stats":[{{"metrics":{}}}]}},
                {{"date":"2024-03-02","stats":[{{"metrics":{}}}]}},
                {{"date":"March 3","stats":[]}},
                {{"date":"2024-03-04","stats":[]}}]"#,
            metrics("100"),
            metrics("\"n/a\"")
        );
        let (page, newest) = global_days(&days(&json));
        assert_eq!(newest, NaiveDate::from_ymd_opt(2024, 3, 4));
        let c = campaigns(&page);
        assert_eq!(c.len(), 1);
        let day = c[0].1;
        assert_eq!((day.recipients, day.hard_bounces, day.soft_bounces), (Some(100), Some(3), Some(2)));
        assert_eq!((day.unique_opens, day.total_opens), (Some(30), Some(40)));
        assert_eq!((day.unique_clickers, day.total_clicks), (Some(6), Some(9)));
        assert_eq!((day.unsubscribes, day.spam_reports), (Some(2), Some(1)));
        let reasons: Vec<(Option<&str>, &str)> =
            page.quarantined.iter().map(|q| (q.source_id.as_deref(), q.reason.as_str())).collect();
        assert_eq!(
            reasons,
            [
                (Some("2024-03-02"), "metrics.processed: `\"n/a\"` is not a count"),
                (None, "date: `March 3` is not a date"),
                (Some("2024-03-04"), "stats: 0 entries where SendGrid sends one"),
            ]
        );
    }
}
