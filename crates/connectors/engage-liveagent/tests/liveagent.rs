//! The LiveAgent connector over real HTTP on 127.0.0.1, against the LiveAgent simulator
//! (`engage-sandbox`) and, where the exact requests matter, a hand-made axum server. Each test
//! pins one vendor gotcha of `shared/api/helpdesk.md` §5 and §8.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use chrono::DateTime;
use engage_connect::{
    Checkpoint, Connector, ConnectorContext, ConnectorError, DynConnector, ErrorClass, Page, PageStream,
    Secret,
};
use engage_liveagent::{LiveAgent, LiveAgentConfig};
use engage_model::{Entity, Record};
use engage_sandbox::liveagent::{CONTACTS, LiveAgentOptions, LiveAgentSim, TICKETS, parse_local};
use engage_sandbox::{Faults, Mutation, TruthRecord};
use futures::StreamExt;
use serde_json::{Value, json};

const KEY: &str = "sandbox-liveagent-key";

fn options(records: usize, zone: &str) -> LiveAgentOptions {
    let mut o = LiveAgentOptions::new(17, records);
    o.requests_per_minute = 0;
    o.time_zone = zone.to_owned();
    o
}

fn context(base_url: String, now: i64) -> ConnectorContext {
    let mut ctx = ConnectorContext::new("liveagent-test");
    ctx.base_url = Some(base_url);
    // The tests that do not measure pacing lift the 180-a-minute pace (the simulator is unlimited).
    ctx.max_requests_per_minute = None;
    ctx.clock = Arc::new(move || DateTime::from_timestamp(now, 0).unwrap());
    ctx.http_tuning = Some(Arc::new(|b: engage_connect::http::HttpClientBuilder| {
        b.backoff(Duration::from_millis(1), Duration::from_millis(20))
            .timeout(Duration::from_secs(10))
            .max_requests_per_minute(None)
    }));
    ctx
}

fn config(zone: &str, page_size: i64) -> LiveAgentConfig {
    LiveAgentConfig {
        account: None,
        api_key: Secret::new(KEY),
        time_zone: zone.to_owned(),
        start_date: None,
        page_size: Some(page_size),
        lookback_minutes: None,
    }
}

fn connector(sim: &LiveAgentSim, zone: &str, page_size: i64) -> LiveAgent {
    LiveAgent::new(config(zone, page_size), context(sim.base_url(), sim.now())).unwrap()
}

async fn collect(mut stream: PageStream<'_>) -> Result<Vec<Page>, ConnectorError> {
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
    tokio::time::timeout(Duration::from_secs(60), run).await.expect("the read finishes")
}

async fn read(c: &dyn DynConnector, stream: &str, checkpoint: Option<Checkpoint>) -> Vec<Page> {
    match collect(c.read(stream, checkpoint)).await {
        Ok(pages) => pages,
        Err(e) => panic!("reading {stream} failed: {e:?}"),
    }
}

/// Records by id; a repeat (the seam between requests) must be identical.
fn by_id(pages: &[Page]) -> BTreeMap<String, &Record> {
    let mut map: BTreeMap<String, &Record> = BTreeMap::new();
    for record in pages.iter().flat_map(|p| &p.records) {
        if let Some(seen) = map.insert(record.source_id.clone(), record) {
            assert_eq!(seen.raw.get(), record.raw.get(), "{} repeated differently", record.source_id);
        }
    }
    map
}

fn raw(record: &Record) -> Value {
    serde_json::from_str(record.raw.get()).unwrap()
}

/// Ids, raw payloads and deletions equal the truth; a deletion is at `date_deleted`, read in the
/// account's zone (the simulator's own reading of it).
fn assert_matches(
    got: &BTreeMap<String, &Record>,
    truth: &BTreeMap<String, TruthRecord>,
    zone: &str,
    what: &str,
) {
    let tz: chrono_tz::Tz = zone.parse().unwrap();
    let got_ids: BTreeSet<&String> = got.keys().collect();
    let want_ids: BTreeSet<&String> = truth.keys().collect();
    assert_eq!(got_ids, want_ids, "{what}: ids");
    for (id, record) in got {
        let want = &truth[id];
        assert_eq!(raw(record), want.raw, "{what}: raw of {id}");
        let deleted_at = want.raw["date_deleted"].as_str().and_then(|d| parse_local(d, tz));
        assert_eq!(record.deleted_at.map(|t| t.timestamp()), deleted_at, "{what}: deletion of {id}");
        assert_eq!(record.deleted_at.is_some(), want.deleted, "{what}: {id}");
    }
}

/// A full read equals the ground truth: deleted tickets (status `X`) are deletions at their
/// `date_deleted`, malformed records are quarantined with the field named, 7 records a page
/// until a short page.
#[tokio::test]
async fn full_read_equals_ground_truth_with_deletions() {
    let zone = "Europe/Bratislava";
    let sim = LiveAgentSim::start(options(90, zone)).await.unwrap();
    sim.mutate(Mutation { updates: 10, deletions: 6, creations: 4 });
    sim.set_all_faults(Faults { malformed_rate: 0.08, ..Faults::default() });
    let la = connector(&sim, zone, 7);
    let truth = sim.ground_truth();
    for stream in [TICKETS, CONTACTS] {
        let pages = read(&la, stream, None).await;
        assert!(pages.len() > 5);
        assert_matches(&by_id(&pages), truth.stream(stream), zone, stream);
        let quarantined: BTreeSet<String> =
            pages.iter().flat_map(|p| &p.quarantined).map(|q| q.source_id.clone().unwrap()).collect();
        assert_eq!(&quarantined, truth.malformed(stream), "{stream}: quarantined");
    }
    let tickets = read(&la, TICKETS, None).await;
    let deleted = by_id(&tickets).values().filter(|r| r.deleted_at.is_some()).count();
    assert!(deleted >= 4, "{deleted}");
}

/// Times carry no zone: they are read in the account's zone. In New York, a ticket created at
/// "2025-…" local time is stored at the instant the simulator meant — read as UTC it would be
/// four or five hours off.
#[tokio::test]
async fn times_are_read_in_the_account_zone() {
    let zone = "America/New_York";
    let sim = LiveAgentSim::start(options(30, zone)).await.unwrap();
    let tz: chrono_tz::Tz = zone.parse().unwrap();
    let la = connector(&sim, zone, 100);
    let pages = read(&la, TICKETS, None).await;
    for record in pages.iter().flat_map(|p| &p.records) {
        let r = raw(record);
        let ticket = match &record.entity {
            Entity::Ticket(t) => t,
            other => panic!("{other:?}"),
        };
        let created = parse_local(r["date_created"].as_str().unwrap(), tz).unwrap();
        assert_eq!(ticket.created_at.unwrap().timestamp(), created, "{}", record.source_id);
        let changed = parse_local(r["date_changed"].as_str().unwrap(), tz).unwrap();
        assert_eq!(ticket.updated_at.unwrap().timestamp(), changed);
    }
    // The checkpoint is the newest change as a UTC instant.
    let newest = pages
        .iter()
        .flat_map(|p| &p.records)
        .map(|r| parse_local(raw(r)["date_changed"].as_str().unwrap(), tz).unwrap())
        .max();
    assert_eq!(pages.last().unwrap().checkpoint["since"].as_i64(), newest);
}

/// Filter values are written in the account's zone too. After a first incremental read, a second
/// round of changes lands within hours of the checkpoint: written in UTC, the New York server
/// would read the bound four hours late and miss them.
#[tokio::test]
async fn filter_values_are_written_in_the_account_zone() {
    let zone = "America/New_York";
    let sim = LiveAgentSim::start(options(60, zone)).await.unwrap();
    let mut checkpoint =
        read(&connector(&sim, zone, 100), TICKETS, None).await.last().unwrap().checkpoint.clone();
    for round in 0..2 {
        let before = sim.ground_truth();
        sim.mutate(Mutation { updates: 8, deletions: 2, creations: 3 });
        let after = sim.ground_truth();
        let pages = read(&connector(&sim, zone, 100), TICKETS, Some(checkpoint)).await;
        let got = by_id(&pages);
        for (id, record) in after.stream(TICKETS) {
            if before.stream(TICKETS).get(id) != Some(record) {
                let read = got.get(id).unwrap_or_else(|| panic!("round {round}: {id} missed"));
                assert_eq!(raw(read), record.raw);
            }
        }
        checkpoint = pages.last().unwrap().checkpoint.clone();
    }
}

/// Page numbers over a list that changes while it is read would skip records (an update moves a
/// ticket from an early page to the end and everything after it shifts down). Each request asks
/// from the newest time read so far instead: a read interrupted after two pages, resumed after
/// changes, still ends with every ticket.
#[tokio::test]
async fn changes_during_a_read_do_not_skip_records() {
    let zone = "Europe/Bratislava";
    let sim = LiveAgentSim::start(options(60, zone)).await.unwrap();
    let la = connector(&sim, zone, 10);
    let mut stream = Connector::read(&la, TICKETS, None);
    let mut pages = Vec::new();
    for _ in 0..2 {
        pages.push(stream.next().await.unwrap().unwrap());
    }
    drop(stream);
    sim.mutate(Mutation { updates: 15, deletions: 0, creations: 0 });
    let rest = read(&la, TICKETS, Some(pages[1].checkpoint.clone())).await;
    pages.extend(rest);
    // Records changed between the two reads come twice, the later version last.
    let got: BTreeMap<&String, &Record> =
        pages.iter().flat_map(|p| &p.records).map(|r| (&r.source_id, r)).collect();
    let truth = sim.ground_truth();
    let missing: Vec<&String> = truth.stream(TICKETS).keys().filter(|id| !got.contains_key(*id)).collect();
    assert!(missing.is_empty(), "skipped: {missing:?}");
}

#[derive(Default)]
struct Seen {
    requests: Vec<(BTreeMap<String, String>, HeaderMap, Instant)>,
    total: usize,
}

async fn scripted(
    State(seen): State<Arc<Mutex<Seen>>>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> axum::Json<Value> {
    let mut seen = seen.lock().unwrap();
    let per_page: usize = q["_perPage"].parse().unwrap();
    let page: usize = q["_page"].parse().unwrap();
    // Every ticket changed in the same second: the connector has to page by number.
    let start = (page - 1) * per_page;
    let items: Vec<Value> = (start..seen.total.min(start + per_page))
        .map(|i| {
            json!({ "id": format!("t{i:07}"), "status": "C", "date_created": "2025-01-15 12:00:00",
                    "date_changed": "2025-01-15 12:00:00" })
        })
        .collect();
    seen.requests.push((q, headers, Instant::now()));
    axum::Json(Value::Array(items))
}

async fn script(total: usize) -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen { total, ..Seen::default() }));
    let app = Router::new().fallback(scripted).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

/// The exact requests: the `apikey` header; `_filters` on `date_changed` with a local time
/// (Bratislava, an hour before the checkpoint), sorted ascending; page numbers while a whole page
/// shares one second. A list of exactly two pages ends with an empty third page; a short page
/// ends it at once.
#[tokio::test]
async fn apikey_local_filter_and_short_or_empty_page_as_the_end() {
    let (url, seen) = script(10).await;
    let la = LiveAgent::new(config("Europe/Bratislava", 5), context(url.clone(), 1_737_000_000)).unwrap();
    // 2025-01-15 12:00:00 UTC is 13:00 in Bratislava; minus the hour of lookback: 12:00.
    let since = json!({ "since": 1_736_942_400 });
    let pages = read(&la, TICKETS, Some(since.clone())).await;
    assert_eq!(pages.iter().map(|p| p.records.len()).collect::<Vec<_>>(), [5, 5, 0]);
    let requests = std::mem::take(&mut seen.lock().unwrap().requests);
    assert_eq!(requests.len(), 3);
    for (i, (q, headers, _)) in requests.iter().enumerate() {
        assert_eq!(headers["apikey"], KEY);
        assert!(headers.get("authorization").is_none());
        assert_eq!(q["_filters"], r#"[["date_changed","D>=","2025-01-15 12:00:00"]]"#);
        assert_eq!((q["_sortField"].as_str(), q["_sortDir"].as_str()), ("date_changed", "ASC"));
        assert_eq!(q["_perPage"], "5");
        assert_eq!(q["_page"], (i + 1).to_string());
    }
    assert_eq!(pages[0].checkpoint, json!({ "from": 1_736_938_800, "page": 2, "newest": 1_736_942_400 }));
    assert_eq!(pages[2].checkpoint, json!({ "since": 1_736_942_400 }));

    seen.lock().unwrap().total = 7;
    let pages = read(&la, TICKETS, Some(since)).await;
    assert_eq!(pages.iter().map(|p| p.records.len()).collect::<Vec<_>>(), [5, 2]);
    assert_eq!(seen.lock().unwrap().requests.len(), 2, "a short page is the end");
}

/// 180 requests a minute per key: without any configured limit the client paces itself at
/// three a second (after a burst of three), so a long read never runs into LiveAgent's 429s.
#[tokio::test]
async fn paces_at_one_hundred_eighty_a_minute() {
    let (url, seen) = script(8).await;
    let mut ctx = context(url, 1_737_000_000);
    ctx.http_tuning = Some(Arc::new(|b: engage_connect::http::HttpClientBuilder| {
        b.backoff(Duration::from_millis(1), Duration::from_millis(20))
    }));
    let la = LiveAgent::new(config("UTC", 1), ctx).unwrap();
    let started = Instant::now();
    let pages = read(&la, TICKETS, Some(json!({ "since": 1_736_942_400 }))).await;
    // The first request asks from an hour before the checkpoint and moves to it, then pages by
    // number through the one second every ticket shares, to the empty page.
    assert_eq!(pages.len(), 10);
    let elapsed = started.elapsed();
    // Requests 4 to 10 wait a third of a second each.
    assert!(elapsed >= Duration::from_millis(2_200) && elapsed < Duration::from_secs(6), "{elapsed:?}");
    let times: Vec<Instant> = seen.lock().unwrap().requests.iter().map(|r| r.2).collect();
    let last_seven = times[9].duration_since(times[3]);
    assert!(last_seven >= Duration::from_millis(1_900), "{last_seven:?}");
}

/// A 401 fails `check` and every stream with an error a person must act on, that says 401 and
/// never shows the key.
#[tokio::test]
async fn unauthorized_needs_a_human_and_never_shows_the_key() {
    let sim = LiveAgentSim::start(options(10, "UTC")).await.unwrap();
    let mut cfg = config("UTC", 10);
    cfg.api_key = Secret::new("wrong-key-5678");
    let la = LiveAgent::new(cfg, context(sim.base_url(), sim.now())).unwrap();
    let error = Connector::check(&la).await.unwrap_err();
    assert_eq!((error.class, error.status), (ErrorClass::NeedsHuman, Some(401)));
    for stream in [TICKETS, CONTACTS] {
        let error = collect(Connector::read(&la, stream, None)).await.unwrap_err();
        assert_eq!(error.class, ErrorClass::NeedsHuman);
        assert!(error.message.contains("401"), "{}", error.message);
        assert!(!error.message.contains("wrong-key-5678"), "{}", error.message);
    }
    Connector::check(&connector(&sim, "UTC", 10)).await.unwrap();
    let bad_zone = LiveAgent::new(config("Mars/Olympus", 10), context(sim.base_url(), sim.now()));
    assert!(bad_zone.is_err());
}
