//! The Freshdesk connector over real HTTP on 127.0.0.1, against the Freshdesk simulator
//! (`engage-sandbox`). The connector is driven directly through `engage_connect::Connector`;
//! each test pins one vendor gotcha of `shared/api/helpdesk.md` §2 and fails when its handling
//! is removed.

#![allow(clippy::unwrap_used)]

use engage_sandbox::truth::changed;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use engage_connect::{
    Checkpoint, Connector, ConnectorContext, ConnectorError, ErrorClass, Page, PageStream, Secret,
};
use engage_freshdesk::{Freshdesk, FreshdeskConfig};
use engage_model::{Entity, Record};
use engage_sandbox::freshdesk::{CONTACTS, FreshdeskOptions, FreshdeskSim, SATISFACTION, TICKETS};
use engage_sandbox::{Faults, Mutation, TruthRecord};
use futures::StreamExt;
use serde_json::Value;

const KEY: &str = "sandbox-api-key";

/// A small dataset without the rate limit (the tests that need it set it).
fn options(tickets: usize) -> FreshdeskOptions {
    let mut o = FreshdeskOptions::new(11, tickets);
    o.credits_per_minute = 0;
    o.api_key = KEY.to_owned();
    o
}

async fn start(o: FreshdeskOptions) -> FreshdeskSim {
    FreshdeskSim::start(o).await.unwrap()
}

fn context(base_url: String) -> ConnectorContext {
    let mut ctx = ConnectorContext::new("freshdesk-test");
    ctx.base_url = Some(base_url);
    ctx.http_tuning = Some(Arc::new(|b: engage_connect::http::HttpClientBuilder| {
        b.backoff(Duration::from_millis(1), Duration::from_millis(20)).timeout(Duration::from_secs(10))
    }));
    ctx
}

fn config() -> FreshdeskConfig {
    FreshdeskConfig {
        domain: None,
        api_key: Secret::new(KEY),
        start_date: None,
        page_size: Some(25),
        replies: None,
        ratings_lookback_days: None,
    }
}

fn connector_with(sim: &FreshdeskSim, config: FreshdeskConfig) -> Freshdesk {
    Freshdesk::new(config, context(sim.base_url())).unwrap()
}

fn connector(sim: &FreshdeskSim) -> Freshdesk {
    connector_with(sim, config())
}

async fn collect(mut stream: PageStream<'_>, limit: Duration) -> Result<Vec<Page>, ConnectorError> {
    let run = async {
        let mut pages = Vec::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(page) => pages.push(page),
                Err(error) => {
                    assert!(stream.next().await.is_none(), "the stream ends after an error");
                    return Err(error);
                }
            }
        }
        Ok(pages)
    };
    tokio::time::timeout(limit, run).await.expect("the read finishes")
}

async fn read(c: &Freshdesk, stream: &str, checkpoint: Option<Checkpoint>) -> Vec<Page> {
    match collect(c.read(stream, checkpoint), Duration::from_secs(60)).await {
        Ok(pages) => pages,
        Err(e) => panic!("reading {stream} failed: {e:?}"),
    }
}

/// Records by source id (a later page's copy of a record replaces an earlier one, as the
/// store's upsert does).
fn by_id(pages: &[Page]) -> BTreeMap<String, &Record> {
    pages.iter().flat_map(|p| &p.records).map(|r| (r.source_id.clone(), r)).collect()
}

fn raw(record: &Record) -> Value {
    serde_json::from_str(record.raw.get()).unwrap()
}

fn last_checkpoint(pages: &[Page]) -> Checkpoint {
    pages.last().expect("at least one page").checkpoint.clone()
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap()).unwrap().with_timezone(&Utc)
}

/// The records read equal the ground truth: same ids, same raw payloads, deletions at
/// `updated_at` exactly where the source removed the record.
fn assert_matches(got: &BTreeMap<String, &Record>, truth: &BTreeMap<String, TruthRecord>, what: &str) {
    let got_ids: BTreeSet<&String> = got.keys().collect();
    let want_ids: BTreeSet<&String> = truth.keys().collect();
    assert_eq!(got_ids, want_ids, "{what}: ids");
    for (id, record) in got {
        let want = &truth[id];
        assert_eq!(raw(record), want.raw, "{what}: raw of {id}");
        let deleted_at = want.deleted.then(|| time(&want.raw["updated_at"]));
        assert_eq!(record.deleted_at, deleted_at, "{what}: deletion of {id}");
    }
}

/// A full read of every stream equals the ground truth (tickets with their conversations, the
/// official examples first); malformed records are quarantined with a reason naming the field,
/// and so is the second official rating, whose published timestamps are malformed.
#[tokio::test]
async fn full_read_equals_ground_truth_and_quarantines_malformed_records() {
    let sim = start(options(150)).await;
    sim.set_all_faults(Faults { malformed_rate: 0.08, ..Faults::default() });
    let freshdesk = connector(&sim);
    let truth = sim.ground_truth();
    for stream in [TICKETS, CONTACTS, SATISFACTION] {
        let pages = read(&freshdesk, stream, None).await;
        assert_matches(&by_id(&pages), truth.stream(stream), stream);
        let quarantined: BTreeSet<String> = pages
            .iter()
            .flat_map(|p| &p.quarantined)
            .map(|q| q.source_id.clone().unwrap().rsplit('-').next().unwrap().to_owned())
            .collect();
        assert_eq!(&quarantined, truth.malformed(stream), "{stream}: quarantined");
        assert!(!quarantined.is_empty(), "{stream}: the seed yields malformed records");
    }
    assert!(truth.malformed(SATISFACTION).contains("112"), "the official example with `T010:08:16`");
    let tickets = read(&freshdesk, TICKETS, None).await;
    let first = &tickets[0].records[0];
    assert_eq!(first.source_id, "1", "the official example ticket is the oldest");
    assert_eq!(raw(first)["conversations"].as_array().unwrap().len(), 2);
}

/// Without `updated_since` Freshdesk lists only tickets created in the last 30 days; the
/// connector always sends it, so two years of tickets (and the 2016 example) arrive.
#[tokio::test]
async fn updated_since_reaches_beyond_the_default_30_days() {
    let sim = start(options(200)).await;
    let url = format!("{}/api/v2/tickets?per_page=100", sim.base_url());
    let client = reqwest_free_get(&url).await;
    assert!(client.len() < 20, "the simulator's default window holds few tickets: {}", client.len());
    let freshdesk = connector(&sim);
    let pages = read(&freshdesk, TICKETS, None).await;
    let got = by_id(&pages);
    let live = sim.ground_truth().stream(TICKETS).values().filter(|r| !r.deleted).count();
    assert_eq!(got.len(), live);
    assert!(got.contains_key("1"));
}

/// A GET through the SDK's client (the test crate has no HTTP client of its own).
async fn reqwest_free_get(url: &str) -> Vec<Value> {
    let http = engage_connect::http::HttpClient::builder("probe")
        .base_url(url)
        .unwrap()
        .auth(engage_connect::http::Auth::Basic { username: KEY.into(), password: Secret::new("X") })
        .build()
        .unwrap();
    http.get(url).send_parsed::<Vec<Value>>().await.unwrap().1
}

/// 40,000 tickets at 100 a page are 400 pages: past the cap of 300 (page 301 is a 400). The
/// connector restarts from the newest `updated_at` seen and every ticket arrives; no request is
/// refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_thousand_tickets_sync_past_the_page_300_cap() {
    let mut o = options(40_000);
    o.contacts = Some(100);
    o.extra_field_rate = 0.0;
    let sim = start(o).await;
    let mut c = config();
    (c.page_size, c.replies) = (Some(100), Some(false));
    let freshdesk = connector_with(&sim, c);
    let pages = collect(freshdesk.read(TICKETS, None), Duration::from_secs(600)).await.unwrap();
    let got: BTreeSet<String> = pages.iter().flat_map(|p| &p.records).map(|r| r.source_id.clone()).collect();
    let truth = sim.ground_truth();
    let want: BTreeSet<String> = truth.stream(TICKETS).keys().cloned().collect();
    assert_eq!(got.len(), 40_001);
    assert_eq!(got, want);
    assert!(sim.requests(TICKETS) > 300, "{} list requests", sim.requests(TICKETS));
    // 401 pages of live tickets (the last restart re-reads nothing: the seam's tickets are
    // skipped) and one page for each of the deleted and spam passes.
    assert_eq!(sim.requests(TICKETS), 403);
}

/// A simulator whose list stops at page 3 (the cap answering sooner than 300): the connector
/// takes the 400 as the cap, restarts from the newest `updated_at` and still reads everything.
#[tokio::test]
async fn an_earlier_page_cap_is_met_by_restarting() {
    let mut o = options(300);
    o.page_cap = 3;
    let sim = start(o).await;
    let freshdesk = connector(&sim);
    let pages = read(&freshdesk, TICKETS, None).await;
    assert_matches(&by_id(&pages), sim.ground_truth().stream(TICKETS), "tickets");
}

/// Deleted and spam tickets are missing from the default list: the deleted and spam passes
/// turn them into deletions. An incremental read picks up exactly the changes.
#[tokio::test]
async fn deleted_and_spam_tickets_are_deletions() {
    let sim = start(options(150)).await;
    let freshdesk = connector(&sim);
    let before = sim.ground_truth();
    let pages = read(&freshdesk, TICKETS, None).await;
    let checkpoint = last_checkpoint(&pages);
    sim.mutate(Mutation { updates: 5, deletions: 12, creations: 4 });
    let after = sim.ground_truth();
    let pages = read(&freshdesk, TICKETS, Some(checkpoint)).await;
    let got = by_id(&pages);
    let want = changed(before.stream(TICKETS), after.stream(TICKETS));
    assert_matches(&got, &want, "changed tickets");
    let removed: Vec<&Record> = got.values().copied().filter(|r| r.deleted_at.is_some()).collect();
    assert_eq!(removed.len(), 12);
    let spam = removed.iter().filter(|r| raw(r)["spam"] == true).count();
    let deleted = removed.iter().filter(|r| raw(r)["deleted"] == true).count();
    assert!(spam > 0 && deleted > 0, "both kinds: {spam} spam, {deleted} deleted");
    assert_eq!(spam + deleted, 12);
    for record in removed {
        assert!(
            raw(record).get("conversations").is_none(),
            "no conversations are fetched for removed tickets"
        );
    }
}

/// Nothing changed: one request per ticket pass (the boundary tickets that `updated_since`
/// repeats are skipped, so their conversations are not fetched again), two for contacts, one
/// for ratings.
#[tokio::test]
async fn nothing_changed_costs_one_request_per_pass() {
    let sim = start(options(120)).await;
    let freshdesk = connector(&sim);
    let mut checkpoints = BTreeMap::new();
    for stream in [TICKETS, CONTACTS, SATISFACTION] {
        checkpoints.insert(stream, last_checkpoint(&read(&freshdesk, stream, None).await));
    }
    for (stream, requests) in [(TICKETS, 3), (CONTACTS, 2), (SATISFACTION, 1)] {
        sim.reset_requests();
        let pages = read(&freshdesk, stream, Some(checkpoints[stream].clone())).await;
        assert_eq!(sim.total_requests(), requests, "{stream}");
        if stream == TICKETS {
            assert!(
                pages.iter().all(|p| p.records.is_empty()),
                "the boundary tickets are not delivered again"
            );
        }
    }
}

/// Ratings are filtered on `created_since`, but customers edit them: an edit to a rating created
/// before the newest one synced is picked up through the 14-day lookback — and missed without it.
#[tokio::test]
async fn edited_ratings_are_picked_up_through_the_lookback() {
    let sim = start(options(150)).await;
    sim.mutate(Mutation { updates: 0, deletions: 0, creations: 3 });
    let truth = sim.ground_truth();
    let mut by_time: Vec<(DateTime<Utc>, String)> =
        truth.stream(SATISFACTION).iter().map(|(id, r)| (time(&r.raw["created_at"]), id.clone())).collect();
    by_time.sort();
    // The oldest of the three just created: older than the newest rating, the checkpoint.
    let edited = by_time[by_time.len() - 3].1.clone();
    for (lookback, expect_edit) in [(Some(14), true), (Some(0), false)] {
        let mut c = config();
        c.ratings_lookback_days = lookback;
        let freshdesk = connector_with(&sim, c);
        let checkpoint = last_checkpoint(&read(&freshdesk, SATISFACTION, None).await);
        // Three more ratings a day later; the newest of the earlier ones is edited.
        sim.mutate(Mutation { updates: 0, deletions: 0, creations: 3 });
        assert!(sim.simulator().edit_rating(edited.parse().unwrap(), sim.now() - 60));
        let pages = read(&freshdesk, SATISFACTION, Some(checkpoint)).await;
        let got = by_id(&pages);
        let truth = sim.ground_truth();
        let want = &truth.stream(SATISFACTION)[&edited];
        match got.get(&edited) {
            Some(record) if expect_edit => assert_eq!(raw(record), want.raw),
            None if !expect_edit => {}
            other => panic!("lookback {lookback:?}: edited rating {edited}: {:?}", other.map(|r| raw(r))),
        }
        let Entity::SurveyResponse(_) = &got.values().next().unwrap().entity else { panic!("a rating") };
    }
}

/// A wrong API key fails at once with a clear error that needs a person, without the key.
#[tokio::test]
async fn bad_key_fails_clearly_without_leaking_it() {
    let sim = start(options(20)).await;
    let mut c = config();
    c.api_key = Secret::new("wrong-key-123456");
    let freshdesk = connector_with(&sim, c);
    let error = collect(freshdesk.read(TICKETS, None), Duration::from_secs(10)).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::NeedsHuman);
    assert_eq!(error.status, Some(401));
    assert!(error.message.contains("401"), "{}", error.message);
    assert!(!error.message.contains("wrong-key-123456"), "{}", error.message);
    assert!(freshdesk.check().await.is_err());
    assert!(connector(&sim).check().await.is_ok());
}

/// Every ticket-list request with `include=requester,stats` costs three credits, which
/// Freshdesk reports in `X-RateLimit-Used-CurrentRequest`: against 60 credits a minute the
/// connector paces its 43 list requests over more than two minutes (virtual time) and never
/// meets a 429.
#[tokio::test(start_paused = true)]
async fn credits_per_request_pace_the_sync_without_a_429() {
    let mut o = options(40);
    o.credits_per_minute = 60;
    let sim = start(o).await;
    let mut c = config();
    (c.page_size, c.replies) = (Some(1), Some(false));
    let ctx = context(sim.base_url());
    let clients = ctx.clients.clone();
    let freshdesk = Freshdesk::new(c, ctx).unwrap();
    let started = tokio::time::Instant::now();
    let pages = collect(freshdesk.read(TICKETS, None), Duration::from_secs(3_600)).await.unwrap();
    assert_eq!(pages.iter().map(|p| p.records.len()).sum::<usize>(), 41);
    let stats = clients.stats();
    assert_eq!(stats.throttled, 0, "{stats:?}");
    assert_eq!(sim.requests(TICKETS), 43);
    assert!(started.elapsed() >= Duration::from_secs(120), "{:?}", started.elapsed());
}
