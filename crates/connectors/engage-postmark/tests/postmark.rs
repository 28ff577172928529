//! The Postmark connector over real HTTP against the Postmark simulator (`engage-sandbox`): the
//! official days served and mapped, the trailing re-read of days whose counts keep growing,
//! quarantine, and the errors a person must act on.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use engage_connect::{Checkpoint, Connector, ConnectorContext, ConnectorError, ErrorClass, Page, Secret};
use engage_model::{EmailCampaign, Entity};
use engage_postmark::{Postmark, PostmarkConfig};
use engage_sandbox::postmark::{PostmarkOptions, PostmarkSim, SENDS, STREAM};
use engage_sandbox::{Faults, Mutation};
use futures::StreamExt;

const TOKEN: &str = "sandbox-server-token";

async fn sim(days: usize) -> PostmarkSim {
    let mut o = PostmarkOptions::new(5, days);
    o.requests_per_minute = 0;
    PostmarkSim::start(o).await.unwrap()
}

fn config(lookback_days: Option<i64>) -> PostmarkConfig {
    PostmarkConfig {
        server_token: Secret::new(TOKEN),
        message_stream: None,
        tag: None,
        start_date: None,
        lookback_days,
    }
}

fn connector(sim: &PostmarkSim, config: PostmarkConfig) -> Postmark {
    let mut ctx = ConnectorContext::new("postmark-test");
    ctx.base_url = Some(sim.base_url());
    ctx.http_tuning = Some(Arc::new(|b: engage_connect::http::HttpClientBuilder| {
        b.backoff(Duration::from_millis(1), Duration::from_millis(20)).timeout(Duration::from_secs(10))
    }));
    Postmark::new(config, ctx).unwrap()
}

async fn read(c: &Postmark, checkpoint: Option<Checkpoint>) -> Result<Page, ConnectorError> {
    let mut pages: Vec<Page> = Vec::new();
    let mut stream = c.read(STREAM, checkpoint);
    while let Some(page) = stream.next().await {
        pages.push(page?);
    }
    assert_eq!(pages.len(), 1);
    Ok(pages.remove(0))
}

fn by_day(page: &Page) -> BTreeMap<String, EmailCampaign> {
    page.records
        .iter()
        .map(|r| match &r.entity {
            Entity::EmailCampaign(c) => (r.source_id.clone(), c.clone()),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn official_days_are_served_and_mapped_with_zeros_for_missing_keys() {
    let sim = sim(30).await;
    let c = connector(&sim, config(None));
    c.check().await.unwrap();
    let page = read(&c, None).await.unwrap();
    // Five requests, one per day endpoint.
    assert_eq!(sim.total_requests(), 6);
    let days = by_day(&page);
    let truth = sim.ground_truth();
    assert_eq!(days.len(), truth.stream(STREAM).len());
    let jan3 = &days["2014-01-03"];
    assert_eq!((jan3.recipients, jan3.hard_bounces, jan3.soft_bounces), (Some(0), Some(0), Some(0)));
    assert_eq!((jan3.total_opens, jan3.spam_reports), (Some(0), Some(0)));
    let jan5 = &days["2014-01-05"];
    assert_eq!((jan5.recipients, jan5.hard_bounces), (Some(115), Some(0)));
    // Every raw payload is exactly what the endpoints served.
    for record in &page.records {
        let raw: serde_json::Value = serde_json::from_str(record.raw.get()).unwrap();
        assert_eq!(raw, truth.stream(STREAM)[&record.source_id].raw, "{}", record.source_id);
    }
    let newest = days.keys().max().unwrap().clone();
    assert_eq!(page.checkpoint, serde_json::json!({ "last_date": newest }));
}

/// Counts of recent days keep growing: the next sync re-reads the lookback window before the
/// newest synced day and picks the changes up; with a window shorter than the days that still
/// change, it would miss them.
#[tokio::test]
async fn recent_days_are_read_again() {
    let sim = sim(60).await;
    let c = connector(&sim, config(None));
    let first = read(&c, None).await.unwrap();
    sim.mutate(Mutation { updates: 5, deletions: 0, creations: 2 });
    let truth = sim.ground_truth();
    let changed: Vec<String> = truth
        .stream(STREAM)
        .iter()
        .filter(|(id, r)| {
            first
                .records
                .iter()
                .find(|x| &x.source_id == *id)
                .is_none_or(|x| serde_json::from_str::<serde_json::Value>(x.raw.get()).unwrap() != r.raw)
        })
        .map(|(id, _)| id.clone())
        .collect();
    assert!(changed.len() >= 5, "{changed:?}");
    let second = read(&c, Some(first.checkpoint.clone())).await.unwrap();
    // Only the window is read again, not all time.
    assert!(second.records.len() < first.records.len() / 2 + 5, "{}", second.records.len());
    for id in &changed {
        let record = second.records.iter().find(|r| &r.source_id == id).unwrap();
        let raw: serde_json::Value = serde_json::from_str(record.raw.get()).unwrap();
        assert_eq!(raw, truth.stream(STREAM)[id].raw);
    }
    // A one-day window misses days that changed earlier than that.
    let short = connector(&sim, config(Some(1)));
    let last =
        NaiveDate::parse_from_str(first.checkpoint["last_date"].as_str().unwrap(), "%Y-%m-%d").unwrap();
    assert_eq!(short.from_date(Some(last)), Some(last - chrono::Duration::days(1)));
    assert_eq!(c.from_date(Some(last)), Some(last - chrono::Duration::days(30)));
}

#[tokio::test]
async fn malformed_days_are_quarantined_and_the_rest_kept() {
    let sim = sim(200).await;
    sim.set_faults(SENDS, Faults { malformed_rate: 0.1, ..Faults::default() });
    let page = read(&connector(&sim, config(None)), None).await.unwrap();
    let truth = sim.ground_truth();
    let malformed = truth.malformed(STREAM);
    assert!(!malformed.is_empty());
    let quarantined: Vec<String> = page.quarantined.iter().map(|q| q.source_id.clone().unwrap()).collect();
    assert_eq!(quarantined, malformed.iter().cloned().collect::<Vec<_>>());
    assert!(page.quarantined.iter().all(|q| q.reason.starts_with("sends.Sent: ")));
    assert_eq!(page.records.len(), truth.stream(STREAM).len());
}

#[tokio::test]
async fn bad_token_and_unknown_stream_need_a_human() {
    let sim = sim(10).await;
    let mut wrong = config(None);
    wrong.server_token = Secret::new("not-the-token");
    let error = read(&connector(&sim, wrong), None).await.unwrap_err();
    assert_eq!((error.class, error.status), (ErrorClass::NeedsHuman, Some(401)));
    assert!(error.message.contains("\"ErrorCode\": 10"), "{}", error.message);
    assert!(!error.message.contains("not-the-token"));

    let mut unknown = config(None);
    unknown.message_stream = Some("newsletters".to_owned());
    let error = read(&connector(&sim, unknown), None).await.unwrap_err();
    assert_eq!((error.class, error.status), (ErrorClass::NeedsHuman, Some(422)));
    assert!(error.message.contains("1235"), "{}", error.message);
}
