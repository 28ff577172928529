//! The Klaviyo connector over real HTTP against the Klaviyo simulator (`engage-sandbox`): each
//! test pins one vendor gotcha of `shared/api/reviews-email.md` §8.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use engage_connect::http::{Auth, HttpClient};
use engage_connect::{Checkpoint, Connector, ConnectorContext, ConnectorError, ErrorClass, Page, Secret};
use engage_klaviyo::{Klaviyo, KlaviyoConfig, REVISION};
use engage_sandbox::klaviyo::{EVENTS, KlaviyoOptions, KlaviyoSim, PROFILES};
use engage_sandbox::{Faults, Mutation};
use futures::StreamExt;
use serde_json::Value;

const KEY: &str = "pk_sandbox_0123456789abcdef";

async fn sim(events: usize) -> KlaviyoSim {
    KlaviyoSim::start(KlaviyoOptions::new(3, events)).await.unwrap()
}

fn config(page_size: Option<i64>) -> KlaviyoConfig {
    KlaviyoConfig { api_key: Secret::new(KEY), start_date: None, metrics: None, page_size }
}

fn context(base_url: String) -> ConnectorContext {
    let mut ctx = ConnectorContext::new("klaviyo-test");
    ctx.base_url = Some(base_url);
    ctx.http_tuning = Some(Arc::new(|b: engage_connect::http::HttpClientBuilder| {
        b.backoff(Duration::from_millis(1), Duration::from_millis(20)).timeout(Duration::from_secs(10))
    }));
    ctx
}

async fn read(
    c: &Klaviyo,
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

fn apply(stored: &mut BTreeMap<String, Value>, pages: &[Page]) {
    for r in pages.iter().flat_map(|p| &p.records) {
        stored.insert(r.source_id.clone(), serde_json::from_str(r.raw.get()).unwrap());
    }
}

fn truth(sim: &KlaviyoSim, stream: &str) -> BTreeMap<String, Value> {
    sim.ground_truth().stream(stream).iter().map(|(id, r)| (id.clone(), r.raw.clone())).collect()
}

/// Every request carries the pinned `revision`; Klaviyo rejects a request without one.
#[tokio::test]
async fn revision_is_pinned_and_required() {
    let sim = sim(10).await;
    let bare = HttpClient::builder("bare")
        .base_url(&sim.base_url())
        .unwrap()
        .auth(Auth::Header {
            name: "Authorization".into(),
            value: Secret::new(format!("Klaviyo-API-Key {KEY}")),
        })
        .max_retries(0)
        .build()
        .unwrap();
    let error = bare.get("/api/events").send().await.unwrap_err();
    assert_eq!(error.status, Some(400));
    assert!(error.message.contains("revision"), "{}", error.message);
    let c = Klaviyo::new(config(None), context(sim.base_url())).unwrap();
    c.check().await.unwrap();
    assert!(REVISION >= engage_sandbox::klaviyo::OLDEST_REVISION);
}

/// `links.next` is followed (its `page[cursor]` and the unencoded `+` of the offset included)
/// until it is null; metrics name the events and other metrics' events are skipped.
#[tokio::test]
async fn follows_next_links_and_keeps_email_events() {
    let sim = sim(120).await;
    let c = Klaviyo::new(config(Some(25)), context(sim.base_url())).unwrap();
    let pages = read(&c, "events", None).await.unwrap();
    let mut stored = BTreeMap::new();
    apply(&mut stored, &pages);
    assert_eq!(stored, truth(&sim, EVENTS));
    // 123 events served (non-email ones included) at 25 a page: 5 pages, plus the metrics.
    assert_eq!((sim.requests(EVENTS), sim.requests("metrics")), (5, 1));
    let first = pages[0].records.iter().find(|r| r.source_id == "3qvdbYg3").unwrap();
    let engage_model::Entity::EmailEvent(e) = &first.entity else { panic!() };
    assert_eq!(e.kind, engage_model::EmailEventKind::Click);
    assert!(pages.iter().flat_map(|p| &p.records).any(|r| matches!(&r.entity,
        engage_model::Entity::EmailEvent(e) if e.machine_open)));
}

/// The checkpoint is the newest `datetime`; the next sync asks for events from there on
/// (`greater-or-equal`) and gets only the new ones (and the boundary repeat).
#[tokio::test]
async fn incremental_by_datetime_filter() {
    let sim = sim(200).await;
    let c = Klaviyo::new(config(None), context(sim.base_url())).unwrap();
    let first = read(&c, "events", None).await.unwrap();
    let mut stored = BTreeMap::new();
    apply(&mut stored, &first);
    sim.mutate(Mutation { updates: 0, deletions: 0, creations: 30 });
    let checkpoint = first.last().unwrap().checkpoint.clone();
    assert!(checkpoint["datetime"].as_str().unwrap().ends_with("+00:00"));
    let second = read(&c, "events", Some(checkpoint)).await.unwrap();
    let fresh: usize = second.iter().map(|p| p.records.len()).sum();
    apply(&mut stored, &second);
    assert_eq!(stored, truth(&sim, EVENTS));
    assert!((20..=31).contains(&fresh), "{fresh}");
}

#[tokio::test]
async fn profiles_are_identities_and_incremental() {
    let sim = sim(200).await;
    let c = Klaviyo::new(config(None), context(sim.base_url())).unwrap();
    let first = read(&c, "profiles", None).await.unwrap();
    let mut stored = BTreeMap::new();
    apply(&mut stored, &first);
    assert_eq!(stored, truth(&sim, PROFILES));
    sim.mutate(Mutation { updates: 5, deletions: 0, creations: 3 });
    let second = read(&c, "profiles", Some(first.last().unwrap().checkpoint.clone())).await.unwrap();
    assert!(second.iter().map(|p| p.records.len()).sum::<usize>() <= 9);
    apply(&mut stored, &second);
    assert_eq!(stored, truth(&sim, PROFILES));
}

/// Burst limits answer 429 with `Retry-After`: the sync waits and still gets everything.
#[tokio::test]
async fn burst_limit_is_waited_out() {
    let mut o = KlaviyoOptions::new(3, 150);
    o.events_limits = (2, 3_500);
    let sim = KlaviyoSim::start(o).await.unwrap();
    let ctx = context(sim.base_url());
    let clients = ctx.clients.clone();
    let c = Klaviyo::new(config(Some(30)), ctx).unwrap();
    let pages = read(&c, "events", None).await.unwrap();
    let mut stored = BTreeMap::new();
    apply(&mut stored, &pages);
    assert_eq!(stored, truth(&sim, EVENTS));
    assert!(clients.stats().throttled >= 1, "{:?}", clients.stats());
}

#[tokio::test]
async fn malformed_events_are_quarantined() {
    let sim = sim(300).await;
    sim.set_all_faults(Faults { malformed_rate: 0.05, ..Faults::default() });
    let c = Klaviyo::new(config(None), context(sim.base_url())).unwrap();
    let pages = read(&c, "events", None).await.unwrap();
    let quarantined: std::collections::BTreeSet<String> =
        pages.iter().flat_map(|p| &p.quarantined).filter_map(|q| q.source_id.clone()).collect();
    let malformed = sim.ground_truth().malformed(EVENTS).clone();
    assert!(!malformed.is_empty());
    assert!(malformed.is_subset(&quarantined));
}

#[tokio::test]
async fn a_bad_key_needs_a_human_and_is_not_shown() {
    let sim = sim(5).await;
    let mut wrong = config(None);
    wrong.api_key = Secret::new("pk_wrong_key_123");
    let c = Klaviyo::new(wrong, context(sim.base_url())).unwrap();
    let error = read(&c, "events", None).await.unwrap_err();
    assert_eq!((error.class, error.status), (ErrorClass::NeedsHuman, Some(401)));
    assert!(error.message.contains("not_authenticated"), "{}", error.message);
    assert!(!error.message.contains("pk_wrong_key_123"));
}
