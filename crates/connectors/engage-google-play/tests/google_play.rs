//! The Google Play connector against its simulator: client-credentials tokens, and an exhausted
//! hourly quota that pauses the stream instead of failing it for good.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use engage_connect::{Connector, ConnectorContext, ErrorClass, Secret};
use engage_google_play::{GooglePlay, GooglePlayConfig};
use engage_sandbox::Sim;
use engage_sandbox::google_play::{GooglePlay as GooglePlaySim, GooglePlayOptions};
use futures::StreamExt;

fn config(o: &GooglePlayOptions) -> GooglePlayConfig {
    GooglePlayConfig {
        package_name: o.package_name.clone(),
        access_token: Some(Secret::new(o.access_token.clone())),
        client_id: None,
        client_secret: None,
        token_url: None,
        translation_language: None,
        languages: None,
        reads_per_hour: Some(600_000),
        page_size: Some(10),
    }
}

fn context(base_url: String) -> ConnectorContext {
    let mut ctx = ConnectorContext::new("android");
    ctx.base_url = Some(base_url);
    ctx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_fetch_a_token_once() {
    let mut o = GooglePlayOptions::new(5, 35);
    o.reads_per_hour = 0;
    let sim = Sim::<GooglePlaySim>::start(o.clone()).await.unwrap();
    let mut c = config(&o);
    c.access_token = None;
    c.client_id = Some(o.client_id.clone());
    c.client_secret = Some(Secret::new(o.client_secret.clone()));
    c.token_url = Some(format!("{}/token", sim.base_url()));
    let play = GooglePlay::new(c, context(sim.base_url())).unwrap();
    let pages: Vec<_> = play.read("reviews", None).collect().await;
    assert_eq!(pages.len(), 4);
    let records: usize = pages.iter().map(|p| p.as_ref().unwrap().records.len()).sum();
    assert_eq!(records, 35);
    assert_eq!(sim.requests("token"), 1);
    assert_eq!(sim.requests("reviews"), 4);

    let mut neither = config(&o);
    neither.access_token = None;
    let error = GooglePlay::new(neither, ConnectorContext::new("android")).unwrap_err();
    assert!(error.message.contains("access_token, or client_id and client_secret"), "{}", error.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_hourly_quota_pauses_the_stream() {
    let mut o = GooglePlayOptions::new(5, 35);
    o.reads_per_hour = 2;
    let sim = Sim::<GooglePlaySim>::start(o.clone()).await.unwrap();
    let play = GooglePlay::new(config(&o), context(sim.base_url())).unwrap();
    let pages: Vec<_> = play.read("reviews", None).collect().await;
    assert_eq!(pages.len(), 3, "two pages, then the quota");
    let error = pages[2].as_ref().unwrap_err();
    assert_eq!(error.class, ErrorClass::Retry);
    assert_eq!(error.status, Some(429));
    let wait = error.retry_after.unwrap().as_secs();
    assert!((3_500..=3_600).contains(&wait), "wait for the hour's oldest read to leave the window: {wait}");
}
