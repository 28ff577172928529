//! The Mailchimp connector over real HTTP against the Mailchimp simulator (`engage-sandbox`):
//! each test pins one vendor gotcha of `shared/api/reviews-email.md` §6.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use engage_connect::{Checkpoint, Connector, ConnectorContext, ConnectorError, ErrorClass, Page, Secret};
use engage_mailchimp::{Mailchimp, MailchimpConfig, key_datacenter};
use engage_sandbox::mailchimp::{CAMPAIGNS, EMAIL_ACTIVITY, MailchimpOptions, MailchimpSim};
use engage_sandbox::{Faults, Mutation};
use futures::StreamExt;
use serde_json::Value;

const KEY: &str = "0123456789abcdef0123456789abcdef-us21";

async fn sim(campaigns: usize) -> MailchimpSim {
    MailchimpSim::start(MailchimpOptions::new(9, campaigns)).await.unwrap()
}

fn config(page_size: Option<i64>) -> MailchimpConfig {
    MailchimpConfig {
        api_key: Some(Secret::new(KEY)),
        access_token: None,
        datacenter: None,
        start_date: None,
        rescan_days: None,
        page_size,
    }
}

fn context(base_url: Option<String>) -> ConnectorContext {
    let mut ctx = ConnectorContext::new("mailchimp-test");
    ctx.base_url = base_url;
    ctx.http_tuning = Some(Arc::new(|b: engage_connect::http::HttpClientBuilder| {
        b.backoff(Duration::from_millis(1), Duration::from_millis(20)).timeout(Duration::from_secs(10))
    }));
    ctx
}

fn connector(sim: &MailchimpSim, config: MailchimpConfig) -> Mailchimp {
    Mailchimp::new(config, context(Some(sim.base_url()))).unwrap()
}

/// Every page of a read.
async fn read(
    c: &Mailchimp,
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

/// Raw payloads by source id after applying `pages` on top of `stored`.
fn apply(stored: &mut BTreeMap<String, Value>, pages: &[Page]) {
    for page in pages {
        for r in &page.records {
            stored.insert(r.source_id.clone(), serde_json::from_str(r.raw.get()).unwrap());
        }
    }
}

fn truth(sim: &MailchimpSim, stream: &str) -> BTreeMap<String, Value> {
    sim.ground_truth().stream(stream).iter().map(|(id, r)| (id.clone(), r.raw.clone())).collect()
}

#[tokio::test]
async fn datacenter_comes_from_the_key_suffix_unless_base_url_is_given() {
    assert_eq!(key_datacenter(KEY), Some("us21"));
    assert_eq!(key_datacenter("abc-us6"), Some("us6"));
    assert_eq!(key_datacenter("no-suffix-"), None);
    assert_eq!(key_datacenter("nodash"), None);
    let c = Mailchimp::new(config(None), context(None)).unwrap();
    assert_eq!(c.base_url(), "https://us21.api.mailchimp.com/3.0");
    let c = Mailchimp::new(config(None), context(Some("http://127.0.0.1:9/3.0".into()))).unwrap();
    assert_eq!(c.base_url(), "http://127.0.0.1:9/3.0");
    let mut bad = config(None);
    bad.api_key = Some(Secret::new("key-without-datacenter-"));
    let error = Mailchimp::new(bad, context(None)).err().unwrap();
    assert_eq!(error.class, ErrorClass::NeedsHuman);
    assert!(error.message.contains("datacenter"), "{}", error.message);
    assert!(!error.message.contains("key-without"));
}

/// Offset/count paging stops at `total_items` (no request for an empty page past the end).
#[tokio::test]
async fn pages_until_total_items() {
    let sim = sim(21).await; // 24 campaigns with the three official ones
    let c = connector(&sim, config(Some(5)));
    let pages = read(&c, "campaigns", None).await.unwrap();
    let mut stored = BTreeMap::new();
    apply(&mut stored, &pages);
    assert_eq!(stored, truth(&sim, CAMPAIGNS));
    // 24 campaigns at 5 a page: 5 list requests on the creation pass, plus the window's.
    let window = sim.simulator().sent_since(sim.simulator().newest_send().unwrap() - 45 * 86_400);
    assert_eq!(sim.requests(CAMPAIGNS), 5 + window.div_ceil(5).max(1) as u64);
}

/// Reports keep changing after the send: the next sync reads the campaigns sent in the trailing
/// window again, though they were created long before the creation checkpoint.
#[tokio::test]
async fn reports_are_read_again_in_the_trailing_window() {
    let sim = sim(300).await;
    let c = connector(&sim, config(None));
    let first = read(&c, "campaigns", None).await.unwrap();
    let mut stored = BTreeMap::new();
    apply(&mut stored, &first);
    let checkpoint = first.last().unwrap().checkpoint.clone();
    sim.mutate(Mutation { updates: 4, deletions: 0, creations: 1 });
    let expected = truth(&sim, CAMPAIGNS);
    let changed: Vec<&String> = expected
        .iter()
        .filter(|(id, raw)| stored.get(*id).is_some_and(|s| s != *raw))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(changed.len(), 4);
    sim.reset_requests();
    let second = read(&c, "campaigns", Some(checkpoint)).await.unwrap();
    apply(&mut stored, &second);
    assert_eq!(stored, expected);
    // One creation-pass list, one report for the new campaign, the window's two lists.
    assert_eq!((sim.requests(CAMPAIGNS), sim.requests("report"), sim.requests("reports")), (2, 1, 1));
}

/// A machine-open share exists in the reports, and the human count is kept beside the total.
#[tokio::test]
async fn human_opens_are_stored_beside_all_opens() {
    let sim = sim(40).await;
    let pages = read(&connector(&sim, config(None)), "campaigns", None).await.unwrap();
    let (mut all, mut human) = (0, 0);
    for r in pages.iter().flat_map(|p| &p.records) {
        if let engage_model::Entity::EmailCampaign(c) = &r.entity
            && r.source_id != "a79651273b"
            && let (Some(a), Some(h)) = (c.unique_opens, c.unique_opens_human)
        {
            assert!(h <= a);
            (all, human) = (all + a, human + h);
        }
    }
    assert!(human < all && human > 0, "{human} of {all}");
}

/// Email activity of every campaign is read with at most 10 requests in flight: Mailchimp
/// refuses the 11th simultaneous connection.
#[tokio::test]
async fn never_more_than_ten_connections() {
    let mut o = MailchimpOptions::new(9, 60);
    o.response_delay = Duration::from_millis(40);
    let sim = MailchimpSim::start(o).await.unwrap();
    let pages = read(&connector(&sim, config(None)), "email_activity", None).await.unwrap();
    let mut stored = BTreeMap::new();
    apply(&mut stored, &pages);
    assert_eq!(stored, truth(&sim, EMAIL_ACTIVITY));
    let mc = sim.simulator();
    assert_eq!(mc.refused_connections(), 0);
    assert!(mc.max_in_flight() >= 5, "requests were not concurrent: {}", mc.max_in_flight());
    assert!(mc.max_in_flight() <= 10, "{}", mc.max_in_flight());
}

/// New activity (on campaigns still settling, and on new campaigns) is picked up from `since`.
#[tokio::test]
async fn activity_is_incremental() {
    let sim = sim(200).await;
    let c = connector(&sim, config(Some(7)));
    let first = read(&c, "email_activity", None).await.unwrap();
    let mut stored = BTreeMap::new();
    apply(&mut stored, &first);
    assert_eq!(stored, truth(&sim, EMAIL_ACTIVITY));
    sim.mutate(Mutation { updates: 3, deletions: 0, creations: 2 });
    let second = read(&c, "email_activity", Some(first.last().unwrap().checkpoint.clone())).await.unwrap();
    let fresh: usize = second.iter().map(|p| p.records.len()).sum();
    apply(&mut stored, &second);
    assert_eq!(stored, truth(&sim, EMAIL_ACTIVITY));
    // Only activity since the last sync (less an hour's overlap) came back.
    assert!(fresh < stored.len() / 4, "{fresh} of {}", stored.len());
}

#[tokio::test]
async fn malformed_records_are_quarantined() {
    let sim = sim(80).await;
    sim.set_all_faults(Faults { malformed_rate: 0.05, ..Faults::default() });
    let c = connector(&sim, config(None));
    let truth = sim.ground_truth();
    for stream in [CAMPAIGNS, EMAIL_ACTIVITY] {
        let pages = read(&c, stream, None).await.unwrap();
        let quarantined: std::collections::BTreeSet<String> =
            pages.iter().flat_map(|p| &p.quarantined).filter_map(|q| q.source_id.clone()).collect();
        assert!(!truth.malformed(stream).is_empty(), "{stream}");
        assert!(truth.malformed(stream).is_subset(&quarantined), "{stream}");
    }
}

#[tokio::test]
async fn a_bad_key_needs_a_human_and_is_not_shown() {
    let sim = sim(3).await;
    let mut wrong = config(None);
    wrong.api_key = Some(Secret::new("ffffffffffffffffffffffffffffffff-us21"));
    let error = read(&connector(&sim, wrong), "campaigns", None).await.unwrap_err();
    assert_eq!((error.class, error.status), (ErrorClass::NeedsHuman, Some(401)));
    assert!(error.message.contains("API Key Invalid"), "{}", error.message);
    assert!(!error.message.contains("ffffffff"), "{}", error.message);
}
