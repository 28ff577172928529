//! The SendGrid connector over real HTTP against the SendGrid simulator (`engage-sandbox`): paging
//! through every day of the account, the trailing re-read, categories ten a request with the
//! checkpoint held until the last group, and the errors a person must act on.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use engage_connect::{Checkpoint, Connector, ConnectorContext, ConnectorError, ErrorClass, Page, Secret};
use engage_sandbox::sendgrid::{
    CATEGORY_STATS, CATEGORY_STREAM, GLOBAL_STREAM, STATS, SendGridOptions, SendGridSim,
};
use engage_sendgrid::{SendGrid, SendGridConfig};
use futures::StreamExt;

async fn sim(categories: usize) -> SendGridSim {
    let mut o = SendGridOptions::new(5, 20);
    o.requests_per_minute = 0;
    o.categories = (0..categories).map(|i| format!("cat-{i:02}")).collect();
    SendGridSim::start(o).await.unwrap()
}

fn connector(sim: &SendGridSim, key: &str, categories: Vec<String>) -> SendGrid {
    let config = SendGridConfig {
        api_key: Secret::new(key),
        categories,
        start_date: Some("2015-01-01".to_owned()),
        lookback_days: Some(10),
        on_behalf_of: None,
        webhook_verification_key: None,
    };
    let mut ctx = ConnectorContext::new("sendgrid-test");
    ctx.base_url = Some(sim.base_url());
    ctx.http_tuning = Some(Arc::new(|b: engage_connect::http::HttpClientBuilder| {
        b.backoff(Duration::from_millis(1), Duration::from_millis(20)).timeout(Duration::from_secs(10))
    }));
    SendGrid::new(config, ctx).unwrap()
}

async fn read(
    c: &SendGrid,
    stream: &str,
    checkpoint: Option<Checkpoint>,
) -> Result<Vec<Page>, ConnectorError> {
    let mut pages = Vec::new();
    let mut s = c.read(stream, checkpoint);
    while let Some(page) = s.next().await {
        pages.push(page?);
    }
    Ok(pages)
}

#[tokio::test]
async fn every_day_paged_then_only_the_lookback() {
    let sim = sim(3).await;
    let c = connector(&sim, &SendGridOptions::default().api_key, Vec::new());
    assert_eq!(c.streams().len(), 1, "no categories configured: no category stream");
    let pages = read(&c, GLOBAL_STREAM, None).await.unwrap();
    let truth = sim.ground_truth();
    let days = truth.stream(GLOBAL_STREAM).len();
    assert!(days > 3_400, "{days}");
    // 500 days a page; a short page ends.
    assert_eq!(pages.len(), days.div_ceil(500));
    assert_eq!(sim.requests(STATS), days.div_ceil(500) as u64);
    assert_eq!(pages.iter().map(|p| p.records.len()).sum::<usize>(), days);
    let last = truth.stream(GLOBAL_STREAM).keys().next_back().unwrap().clone();
    let checkpoint = pages.last().unwrap().checkpoint.clone();
    assert_eq!(checkpoint, serde_json::json!({ "last_date": last }));
    // The next sync re-reads the ten days before the newest one: eleven days, one request.
    sim.reset_requests();
    let pages = read(&c, GLOBAL_STREAM, Some(checkpoint)).await.unwrap();
    assert_eq!(sim.requests(STATS), 1);
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].records.len(), 11);
}

#[tokio::test]
async fn categories_ten_a_request_and_the_checkpoint_after_the_last_group() {
    let sim = sim(12).await;
    let categories: Vec<String> = (0..12).map(|i| format!("cat-{i:02}")).collect();
    let c = connector(&sim, &SendGridOptions::default().api_key, categories);
    assert_eq!(c.streams().iter().map(|s| s.name).collect::<Vec<_>>(), [GLOBAL_STREAM, CATEGORY_STREAM]);
    let checkpoint = serde_json::json!({ "last_date": "2025-05-20" });
    let pages = read(&c, CATEGORY_STREAM, Some(checkpoint.clone())).await.unwrap();
    assert_eq!(sim.requests(CATEGORY_STATS), 2);
    assert_eq!(pages.len(), 2);
    // 2025-05-10 … 2025-06-01: 23 days, ten categories then two.
    assert_eq!((pages[0].records.len(), pages[1].records.len()), (230, 46));
    assert_eq!(pages[0].checkpoint, checkpoint, "held until every group is read");
    assert_eq!(pages[1].checkpoint, serde_json::json!({ "last_date": "2025-06-01" }));
    assert_eq!(pages[1].records[0].source_id, "2025-05-10/cat-10");
}

#[tokio::test]
async fn bad_key_and_unknown_category_need_a_person() {
    let sim = sim(3).await;
    let c = connector(&sim, "SG.wrong", Vec::new());
    let error = read(&c, GLOBAL_STREAM, None).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::NeedsHuman);
    assert!(error.to_string().contains("401"), "{error}");
    let c = connector(&sim, &SendGridOptions::default().api_key, vec!["missing".to_owned()]);
    let error = read(&c, CATEGORY_STREAM, None).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::NeedsHuman);
    assert!(error.to_string().contains("404"), "{error}");
}
