//! The Zendesk connector over real HTTP on 127.0.0.1: against the Zendesk simulator
//! (`engage-sandbox`) and, where the exact queries matter, a hand-made axum server that serves
//! scripted pages and records every request. The connector is driven directly through
//! `engage_connect::Connector` / `DynConnector`; each test pins one vendor gotcha of
//! `shared/api/helpdesk.md` §1 and §8.

#![allow(clippy::unwrap_used)]

use engage_sandbox::truth::changed;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use engage_connect::{
    Checkpoint, Connector, ConnectorContext, ConnectorError, DynConnector, ErrorClass, Page, PageStream,
    Secret,
};
use engage_model::{Entity, Record};
use engage_sandbox::zendesk::{SATISFACTION, TICKETS, USERS, ZendeskOptions, ZendeskSim};
use engage_sandbox::{Faults, Mutation, TruthRecord};
use engage_zendesk::{Zendesk, ZendeskConfig};
use futures::StreamExt;
use serde_json::{Value, json};

const EMAIL: &str = "admin@example.com";
const TOKEN: &str = "sandbox-token";

/// A small, fast dataset: short tickets and no rate limits (the tests that need throttling inject
/// it as a fault).
fn options(tickets: usize) -> ZendeskOptions {
    let mut o = ZendeskOptions::new(11, tickets);
    o.ticket_bytes = 400;
    o.account_limit = 0;
    o.incremental_limit = 0;
    o.email = EMAIL.to_owned();
    o.api_token = TOKEN.to_owned();
    o
}

async fn start(o: ZendeskOptions) -> ZendeskSim {
    ZendeskSim::start(o).await.unwrap()
}

/// A context pointing at `base_url`, whose clock reads `now` (the simulator's clock, not the
/// wall clock), with millisecond backoff.
fn context(base_url: String, now: i64) -> ConnectorContext {
    let mut ctx = ConnectorContext::new("zendesk-test");
    ctx.base_url = Some(base_url);
    ctx.clock = Arc::new(move || DateTime::from_timestamp(now, 0).unwrap());
    ctx.http_tuning = Some(Arc::new(|b: engage_connect::http::HttpClientBuilder| {
        b.backoff(Duration::from_millis(1), Duration::from_millis(20)).timeout(Duration::from_secs(10))
    }));
    ctx
}

fn config(start_date: Option<&str>, page_size: Option<i64>) -> ZendeskConfig {
    ZendeskConfig {
        subdomain: None,
        email: EMAIL.to_owned(),
        api_token: Secret::new(TOKEN),
        start_date: start_date.map(str::to_owned),
        page_size,
    }
}

fn connector(sim: &ZendeskSim, start_date: Option<&str>, page_size: Option<i64>) -> Zendesk {
    Zendesk::new(config(start_date, page_size), context(sim.base_url(), sim.now())).unwrap()
}

/// Every page of a read, or the error that ended it (checking that nothing follows an error).
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
    tokio::time::timeout(Duration::from_secs(15), run).await.expect("the read finishes")
}

async fn read(c: &dyn DynConnector, stream: &str, checkpoint: Option<Checkpoint>) -> Vec<Page> {
    match collect(c.read(stream, checkpoint)).await {
        Ok(pages) => pages,
        Err(e) => panic!("reading {stream} failed: {e:?}"),
    }
}

/// Lets any request the connector started in the background (a prefetch) reach the server before
/// requests are counted.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

fn records(pages: &[Page]) -> Vec<&Record> {
    pages.iter().flat_map(|p| &p.records).collect()
}

/// Records by source id; panics on a duplicate (an export never repeats a record).
fn by_id(pages: &[Page]) -> BTreeMap<String, &Record> {
    let mut map = BTreeMap::new();
    for record in records(pages) {
        assert!(map.insert(record.source_id.clone(), record).is_none(), "{} twice", record.source_id);
    }
    map
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

/// The records read equal the simulator's ground truth for `stream`: the same ids, each raw
/// payload exactly the truth's (unknown fields and the sideloaded metric set included), and a
/// deletion exactly where the source deleted, at the record's `updated_at`.
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

/// The truth records that differ between two snapshots (changed, deleted or created).
/// A full read of every stream equals the ground truth, ids beyond 32 bits kept as their exact
/// digits, the official examples verbatim at the head of each stream; malformed records (a
/// non-integer id or an unparseable `created_at`, 8% of them) are quarantined with a reason
/// naming the field and the rest of each page maps.
#[tokio::test]
async fn full_read_equals_ground_truth_and_quarantines_malformed_records() {
    let sim = start(options(120)).await;
    sim.set_all_faults(Faults { malformed_rate: 0.08, ..Faults::default() });
    let zendesk = connector(&sim, None, Some(25));
    let truth = sim.ground_truth();
    let mut kinds = BTreeSet::new();
    for stream in [TICKETS, USERS, SATISFACTION] {
        let pages = read(&zendesk, stream, None).await;
        let got = by_id(&pages);
        assert_matches(&got, truth.stream(stream), stream);

        let malformed = truth.malformed(stream);
        assert!(!malformed.is_empty(), "{stream}: the seed yields malformed records");
        let mut quarantined = BTreeSet::new();
        for q in pages.iter().flat_map(|p| &p.quarantined) {
            let source_id = q.source_id.clone().unwrap();
            // A bad id is served as `ZD-<id>` (`U-`, `CSAT-`); a bad timestamp keeps the id.
            let (id, field) = match source_id.split_once('-') {
                Some((_, id)) => (id.to_owned(), "id:"),
                None => (source_id, "created_at:"),
            };
            assert!(q.reason.starts_with(field), "{stream} {id}: reason `{}`", q.reason);
            serde_json::from_str::<Value>(&q.raw).unwrap();
            kinds.insert(field);
            quarantined.insert(id);
        }
        assert_eq!(&quarantined, malformed, "{stream}: quarantined");
    }
    assert_eq!(kinds.len(), 2, "both malformations were served");

    // Every generated id is beyond 2^32 and arrives as its exact digits.
    let tickets = read(&zendesk, TICKETS, None).await;
    let ids: Vec<u64> = records(&tickets).iter().map(|r| r.source_id.parse().unwrap()).collect();
    assert_eq!(ids[0], 35436, "the official example ticket comes first");
    assert!(ids[1..].iter().all(|&id| id > u64::from(u32::MAX)));
    let first = records(&tickets)[0];
    let example: Value = serde_json::from_str(engage_sandbox::zendesk::INCREMENTAL_TICKETS).unwrap();
    let mut example_ticket = example["tickets"][0].clone();
    example_ticket.as_object_mut().unwrap().insert("metric_set".into(), raw(first)["metric_set"].clone());
    assert_eq!(raw(first), example_ticket);
}

/// `end_of_stream: true` comes with a non-null `after_cursor`: the last page's checkpoint keeps it,
/// so the next read asks only for what changed — one request when nothing did, exactly the
/// changed tickets (and users) after updates, deletions and creations. A read resumed from any
/// page's checkpoint yields exactly the pages after it.
#[tokio::test]
async fn end_of_stream_keeps_the_cursor_for_the_next_read() {
    let sim = start(options(40)).await;
    let zendesk = connector(&sim, None, Some(15));
    let before = sim.ground_truth();
    for stream in [TICKETS, USERS] {
        sim.reset_requests();
        let pages = read(&zendesk, stream, None).await;
        settle().await;
        let total = before.stream(stream).len();
        assert_eq!(pages.len(), total.div_ceil(15), "{stream}: pages of 15");
        assert_eq!(sim.requests(stream) as usize, pages.len(), "{stream}: one request per page");
        for page in &pages {
            assert!(page.checkpoint["cursor"].is_string(), "{stream}: {:?}", page.checkpoint);
        }
        assert_matches(&by_id(&pages), before.stream(stream), stream);

        // Resuming from the first page's checkpoint yields exactly the later pages.
        let rest = read(&zendesk, stream, Some(pages[0].checkpoint.clone())).await;
        let later: BTreeSet<_> = pages[1..].iter().flat_map(|p| &p.records).map(|r| &r.source_id).collect();
        assert_eq!(by_id(&rest).keys().collect::<BTreeSet<_>>(), later, "{stream}: resumed");

        // Nothing changed: one request, no records, the same cursor.
        let checkpoint = last_checkpoint(&pages);
        sim.reset_requests();
        let again = read(&zendesk, stream, Some(checkpoint.clone())).await;
        settle().await;
        assert_eq!(sim.total_requests(), 1, "{stream}: a read with nothing changed is one request");
        assert!(records(&again).is_empty(), "{stream}: nothing changed");
        assert_eq!(last_checkpoint(&again), checkpoint, "{stream}: the cursor is kept");
    }

    let checkpoints: BTreeMap<&str, Checkpoint> = {
        let mut map = BTreeMap::new();
        for stream in [TICKETS, USERS] {
            map.insert(stream, last_checkpoint(&read(&zendesk, stream, None).await));
        }
        map
    };
    sim.mutate(Mutation { updates: 4, deletions: 2, creations: 3 });
    let after = sim.ground_truth();
    for stream in [TICKETS, USERS] {
        let delta = changed(before.stream(stream), after.stream(stream));
        assert_eq!(delta.len(), 9, "{stream}: 4 updated, 2 deleted, 3 created");
        assert_eq!(delta.values().filter(|r| r.deleted).count(), 2);
        sim.reset_requests();
        let pages = read(&zendesk, stream, Some(checkpoints[stream].clone())).await;
        settle().await;
        assert_eq!(sim.total_requests(), 1, "{stream}: the changes fit one page");
        assert_matches(&by_id(&pages), &delta, &format!("{stream} after the mutation"));
        assert_ne!(last_checkpoint(&pages), checkpoints[stream], "{stream}: the cursor moved on");
    }
}

/// Deleted tickets come through the export with `status: "deleted"` (and no metric set) and are
/// deletions at their `updated_at`; deleted users come as `active: false`, deletions too.
#[tokio::test]
async fn deleted_tickets_and_users_are_deletions() {
    let sim = start(options(30)).await;
    let zendesk = connector(&sim, None, None);
    let checkpoints = [
        last_checkpoint(&read(&zendesk, TICKETS, None).await),
        last_checkpoint(&read(&zendesk, USERS, None).await),
    ];
    sim.mutate(Mutation { updates: 0, deletions: 3, creations: 0 });
    let tickets = read(&zendesk, TICKETS, Some(checkpoints[0].clone())).await;
    let tickets = records(&tickets);
    assert_eq!(tickets.len(), 3);
    for record in tickets {
        let raw = raw(record);
        assert_eq!(raw["status"], "deleted");
        assert!(raw.get("metric_set").is_none());
        assert_eq!(record.deleted_at, Some(time(&raw["updated_at"])));
        let Entity::Ticket(ticket) = &record.entity else { panic!("{record:?}") };
        assert_eq!(ticket.status.as_deref(), Some("deleted"));
    }
    let users = read(&zendesk, USERS, Some(checkpoints[1].clone())).await;
    let users = records(&users);
    assert_eq!(users.len(), 3);
    for record in users {
        let raw = raw(record);
        assert_eq!(raw["active"], false);
        assert_eq!(record.deleted_at, Some(time(&raw["updated_at"])));
    }
}

/// The first export request must use a `start_time` at least a minute in the past ("data isn't
/// provided for the most recent minute"; the simulator answers 400 otherwise), even when
/// `start_date` is today or in the future.
#[tokio::test]
async fn first_start_time_is_at_least_a_minute_in_the_past() {
    let sim = start(options(20)).await;
    let today = DateTime::from_timestamp(sim.now(), 0).unwrap().format("%Y-%m-%d").to_string();
    assert_eq!(DateTime::parse_from_rfc3339(&format!("{today}T00:00:00Z")).unwrap().timestamp(), sim.now());

    // The control: a client whose clock runs an hour ahead of the server sends a start_time the
    // server finds too recent, and gets the 400.
    let ahead = Zendesk::new(config(Some(&today), None), context(sim.base_url(), sim.now() + 3_600)).unwrap();
    let error = collect(Connector::read(&ahead, TICKETS, None)).await.unwrap_err();
    assert_eq!(error.status, Some(400), "{error:?}");
    assert!(error.message.contains("Too recent start_time"), "{error:?}");

    for start_date in [today.as_str(), "2031-01-01"] {
        let zendesk = connector(&sim, Some(start_date), None);
        for stream in [TICKETS, USERS] {
            sim.reset_requests();
            let pages = collect(Connector::read(&zendesk, stream, None))
                .await
                .unwrap_or_else(|e| panic!("{stream} from {start_date}: {e:?}"));
            assert_eq!(sim.requests(stream), 1, "{stream} from {start_date}");
            assert!(records(&pages).is_empty(), "no data in the last minute");
        }
    }
}

/// The path and query pairs (in order, repeats kept) of one request.
type Seen = (String, Vec<(String, String)>);

/// A scripted server: answers each request with the next scripted JSON body and records the path
/// and query pairs of every request.
#[derive(Default)]
struct Script {
    replies: Mutex<VecDeque<Value>>,
    seen: Mutex<Vec<Seen>>,
}

async fn scripted(
    State(script): State<Arc<Script>>,
    uri: Uri,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    script.seen.lock().unwrap().push((uri.path().to_owned(), query));
    match script.replies.lock().unwrap().pop_front() {
        Some(body) => ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response(),
        None => (StatusCode::NOT_FOUND, "no more scripted replies").into_response(),
    }
}

async fn serve_script(script: Arc<Script>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(scripted).with_state(script);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn script_ticket(id: u64, updated_at: &str) -> Value {
    json!({ "id": id, "created_at": "2024-01-01T00:00:00Z", "updated_at": updated_at, "status": "open" })
}

fn query_of<'a>(pairs: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
}

/// The exact queries: the first export request carries `start_time` (a minute in the past at
/// least, though `start_date` is in the future), `per_page` and `include=metric_sets`; every later
/// one carries the cursor and no `start_time`. An empty page whose `after_cursor` is null (as on
/// an empty export) keeps the cursor the read started from; users are asked without sideloads.
#[tokio::test]
async fn later_requests_use_only_the_cursor() {
    let now = 1_750_000_000;
    let script = Arc::new(Script::default());
    script.replies.lock().unwrap().extend([
        json!({ "tickets": [script_ticket(1, "2025-06-15T10:00:00Z")], "metric_sets": [],
                "after_cursor": "C1", "before_cursor": null, "end_of_stream": false }),
        json!({ "tickets": [script_ticket(2, "2025-06-15T11:00:00Z")], "metric_sets": [],
                "after_cursor": "C2", "before_cursor": null, "end_of_stream": true }),
        json!({ "tickets": [], "metric_sets": [], "after_cursor": null, "before_cursor": null,
                "end_of_stream": true }),
        json!({ "users": [], "after_cursor": null, "before_cursor": null, "end_of_stream": true }),
    ]);
    let base_url = serve_script(script.clone()).await;
    let zendesk = Zendesk::new(config(Some("2031-01-01"), None), context(base_url, now)).unwrap();

    let pages = read(&zendesk, TICKETS, None).await;
    assert_eq!(
        pages.iter().map(|p| p.checkpoint.clone()).collect::<Vec<_>>(),
        [json!({ "cursor": "C1" }), json!({ "cursor": "C2" })]
    );
    assert_eq!(by_id(&pages).keys().collect::<Vec<_>>(), ["1", "2"]);
    let again = read(&zendesk, TICKETS, Some(json!({ "cursor": "C2" }))).await;
    assert_eq!(last_checkpoint(&again), json!({ "cursor": "C2" }), "a null after_cursor keeps the cursor");
    let users = read(&zendesk, USERS, None).await;
    assert_eq!(last_checkpoint(&users), json!({}), "an empty first export has no cursor yet");

    let seen = script.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4);
    let (path, first) = &seen[0];
    assert_eq!(path, "/api/v2/incremental/tickets/cursor.json");
    let start_time: i64 = query_of(first, "start_time")[0].parse().unwrap();
    assert!(start_time <= now - 60, "start_time {start_time} is at least a minute before {now}");
    assert_eq!(query_of(first, "start_time").len(), 1);
    assert_eq!(query_of(first, "cursor"), Vec::<&str>::new());
    assert_eq!(query_of(first, "include"), ["metric_sets"]);
    assert_eq!(query_of(first, "per_page"), ["1000"]);
    assert_eq!(query_of(first, "exclude_deleted"), Vec::<&str>::new(), "deleted tickets are asked for");
    for ((path, query), cursor) in seen[1..3].iter().zip(["C1", "C2"]) {
        assert_eq!(path, "/api/v2/incremental/tickets/cursor.json");
        assert_eq!(query_of(query, "cursor"), [cursor]);
        assert_eq!(query_of(query, "start_time"), Vec::<&str>::new(), "no start_time with a cursor");
        assert_eq!(query_of(query, "include"), ["metric_sets"]);
    }
    let (path, users_query) = &seen[3];
    assert_eq!(path, "/api/v2/incremental/users/cursor.json");
    assert_eq!(query_of(users_query, "start_time").len(), 1);
    assert_eq!(query_of(users_query, "include"), Vec::<&str>::new());
}

/// The export filters on `generated_timestamp`, not `updated_at`: tickets whose `updated_at` is
/// older than the start (system updates bump `generated_timestamp` only) still come through —
/// the read from `start_date` returns exactly the tickets generated since.
#[tokio::test]
async fn filter_is_generated_timestamp_not_updated_at() {
    let sim = start(options(300)).await;
    let truth = sim.ground_truth();
    let tickets = truth.stream(TICKETS);
    let stamp =
        |r: &TruthRecord| (r.raw["generated_timestamp"].as_i64(), time(&r.raw["updated_at"]).timestamp());
    // The latest midnight that a ticket straddles: updated before it, generated after it.
    let day = 86_400;
    let start = tickets
        .values()
        .filter_map(|r| match stamp(r) {
            (Some(generated), updated) => {
                let midnight = generated - generated.rem_euclid(day);
                (updated < midnight && midnight <= sim.now() - 61).then_some(midnight)
            }
            _ => None,
        })
        .max()
        .expect("the dataset has a ticket updated before the midnight it was generated after");
    let start_date = DateTime::from_timestamp(start, 0).unwrap().format("%Y-%m-%d").to_string();
    let expected: BTreeMap<String, TruthRecord> = tickets
        .iter()
        .filter(|(_, r)| stamp(r).0.is_some_and(|g| g >= start))
        .map(|(id, r)| (id.clone(), r.clone()))
        .collect();
    let older: Vec<&String> = expected.iter().filter(|(_, r)| stamp(r).1 < start).map(|(id, _)| id).collect();
    assert!(!older.is_empty());
    assert!(expected.len() < tickets.len(), "the start filters");

    let zendesk = connector(&sim, Some(&start_date), None);
    let pages = read(&zendesk, TICKETS, None).await;
    let got = by_id(&pages);
    assert_matches(&got, &expected, &format!("tickets from {start_date}"));
    for id in older {
        let Entity::Ticket(ticket) = &got[id].entity else { unreachable!() };
        assert!(ticket.updated_at.unwrap().timestamp() < start, "{id} updated before the start");
    }
}

/// 429s with a `text/plain` body and no `Retry-After` (Zendesk's endpoint-specific limits) are
/// waited out with backoff: every read still completes with every record.
#[tokio::test]
async fn throttled_without_retry_after_still_completes() {
    let sim = start(options(60)).await;
    let truth = sim.ground_truth();
    sim.set_all_faults(Faults { throttle_rate: 0.4, throttle_retry_after: None, ..Faults::default() });
    let ctx = context(sim.base_url(), sim.now());
    let clients = ctx.clients.clone();
    let zendesk = Zendesk::new(config(None, Some(5)), ctx).unwrap();
    let mut pages_read = 0;
    for stream in [TICKETS, USERS, SATISFACTION] {
        let pages = read(&zendesk, stream, None).await;
        assert_matches(&by_id(&pages), truth.stream(stream), stream);
        pages_read += pages.len() as u64;
    }
    let stats = clients.stats();
    assert!(stats.throttled >= 3, "{stats:?}");
    assert_eq!(sim.total_requests(), pages_read + stats.throttled, "every 429 was retried, nothing else");
}

fn rating_time(record: &Record) -> i64 {
    time(&raw(record)["updated_at"]).timestamp()
}

/// Satisfaction ratings: cursor pagination (`meta.has_more`, `meta.after_cursor`) across pages of
/// 100; each page's checkpoint resumes after it; the last checkpoint's `start_time` is the newest
/// `updated_at` seen, and a later read from it returns only the ratings changed since (the
/// inclusive `start_time` may repeat the one rating at the boundary).
#[tokio::test]
async fn satisfaction_ratings_paginate_and_resume_from_the_newest_update() {
    let sim = start(options(650)).await;
    let zendesk = connector(&sim, None, None);
    let before = sim.ground_truth();
    let truth = before.stream(SATISFACTION);
    assert_eq!(truth.len(), 218);

    let pages = read(&zendesk, SATISFACTION, None).await;
    assert_eq!(sim.requests(SATISFACTION), 3);
    assert_eq!(pages.iter().map(|p| p.records.len()).collect::<Vec<_>>(), [100, 100, 18]);
    assert_matches(&by_id(&pages), truth, "ratings");
    for page in &pages[..2] {
        assert_eq!(page.checkpoint["start_time"], 0, "{:?}", page.checkpoint);
        assert!(page.checkpoint["after"].is_string(), "{:?}", page.checkpoint);
    }
    let newest = truth.values().map(|r| time(&r.raw["updated_at"]).timestamp()).max().unwrap();
    assert_eq!(last_checkpoint(&pages), json!({ "start_time": newest }));

    // Every score maps: good = 1, bad = 0, offered / unoffered = no score.
    for record in records(&pages) {
        let Entity::SurveyResponse(response) = &record.entity else { panic!("{record:?}") };
        let want = match raw(record)["score"].as_str().unwrap() {
            "good" => Some(1.0),
            "bad" => Some(0.0),
            _ => None,
        };
        assert_eq!(response.score, want, "{}", record.source_id);
        assert_eq!(response.survey_id.as_deref(), Some(raw(record)["ticket_id"].to_string().as_str()));
    }

    // Resuming from the first page's checkpoint yields exactly the later pages.
    let rest = read(&zendesk, SATISFACTION, Some(pages[0].checkpoint.clone())).await;
    let later: BTreeSet<_> = pages[1..].iter().flat_map(|p| &p.records).map(|r| &r.source_id).collect();
    assert_eq!(by_id(&rest).keys().collect::<BTreeSet<_>>(), later);

    sim.mutate(Mutation { updates: 5, deletions: 0, creations: 3 });
    let after = sim.ground_truth();
    let delta = changed(truth, after.stream(SATISFACTION));
    assert_eq!(delta.len(), 8);
    let since = read(&zendesk, SATISFACTION, Some(last_checkpoint(&pages))).await;
    let got = by_id(&since);
    let (new, repeated): (BTreeMap<_, _>, BTreeMap<_, _>) =
        got.into_iter().partition(|(id, _)| delta.contains_key(id));
    assert_matches(&new, &delta, "ratings changed since");
    assert!(repeated.len() <= 1, "only the boundary repeats: {:?}", repeated.keys());
    for record in repeated.values() {
        assert_eq!(rating_time(record), newest, "a repeat sits at the boundary");
    }
    let newest_now = records(&since).iter().map(|r| rating_time(r)).max().unwrap();
    assert_eq!(last_checkpoint(&since), json!({ "start_time": newest_now }));
    assert!(newest_now > newest);
}

/// A 401 (bad token, or credentials Zendesk stops accepting) fails `check` and every stream with
/// an error a person must act on: it says 401, carries the status, is not retried, and never
/// contains the token nor the Basic credential made from it.
#[tokio::test]
async fn unauthorized_needs_a_human_and_never_shows_the_token() {
    let sim = start(options(10)).await;
    let wrong = "zd-Sup3r-s3cret-TOKEN-value";
    // What a leaked `Authorization` header would show.
    let basic = STANDARD.encode(format!("{EMAIL}/token:{wrong}"));
    let options = json!({ "email": EMAIL, "api_token": wrong, "page_size": 100 });
    let build = engage_connect::descriptor::<Zendesk>().build;
    let bad_token = build(&options, context(sim.base_url(), sim.now())).unwrap();
    assert_eq!(bad_token.kind(), "zendesk");

    // The right token, but the account answers 401 anyway.
    let revoked = connector(&sim, None, None);
    sim.set_faults(TICKETS, Faults { fail_auth: true, ..Faults::default() });
    sim.set_faults(USERS, Faults { fail_auth: true, ..Faults::default() });
    sim.set_faults(SATISFACTION, Faults { fail_auth: true, ..Faults::default() });

    let check = |error: &ConnectorError, what: &str| {
        assert_eq!(error.class, ErrorClass::NeedsHuman, "{what}: {error:?}");
        assert_eq!(error.status, Some(401), "{what}: {error:?}");
        assert!(error.message.contains("401"), "{what}: {}", error.message);
        for secret in [wrong, TOKEN, basic.as_str()] {
            assert!(!error.message.contains(secret), "{what}: `{}` shows a secret", error.message);
            assert!(!format!("{error:?}").contains(secret), "{what}: the debug form shows a secret");
        }
    };
    for (name, c) in [("bad token", bad_token.as_ref()), ("revoked", &revoked as &dyn DynConnector)] {
        for stream in [TICKETS, USERS, SATISFACTION] {
            sim.reset_requests();
            let error = collect(c.read(stream, None)).await.unwrap_err();
            check(&error, &format!("{name} {stream}"));
            assert_eq!(sim.total_requests(), 1, "{name} {stream}: a 401 is not retried");
        }
    }
    // `check` (GET /api/v2/users/me.json) fails the same way.
    sim.reset_requests();
    check(&bad_token.check().await.unwrap_err(), "check");
    assert_eq!(sim.total_requests(), 1);
}
