//! The Intercom connector over real HTTP on 127.0.0.1, against the Intercom simulator
//! (`engage-sandbox`) and, where the exact requests matter, a hand-made axum server. Each test
//! pins one vendor gotcha of `shared/api/helpdesk.md` §4 and §8.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::IntoResponse;
use chrono::DateTime;
use engage_connect::{
    Checkpoint, Connector, ConnectorContext, ConnectorError, DynConnector, ErrorClass, Page, PageStream,
    Secret,
};
use engage_intercom::{Intercom, IntercomConfig};
use engage_model::{Entity, Record};
use engage_sandbox::intercom::{CONTACTS, CONVERSATIONS, IntercomOptions, IntercomSim, RATINGS};
use engage_sandbox::{Faults, Mutation, TruthRecord};
use futures::StreamExt;
use serde_json::{Value, json};

const TOKEN: &str = "sandbox-intercom-token";

fn options(records: usize) -> IntercomOptions {
    let mut o = IntercomOptions::new(13, records);
    o.window_limit = 0;
    o
}

fn context(base_url: String, now: i64) -> ConnectorContext {
    let mut ctx = ConnectorContext::new("intercom-test");
    ctx.base_url = Some(base_url);
    ctx.clock = Arc::new(move || DateTime::from_timestamp(now, 0).unwrap());
    ctx.http_tuning = Some(Arc::new(|b: engage_connect::http::HttpClientBuilder| {
        b.backoff(Duration::from_millis(1), Duration::from_millis(20)).timeout(Duration::from_secs(10))
    }));
    ctx
}

fn config(page_size: i64) -> IntercomConfig {
    IntercomConfig {
        access_token: Secret::new(TOKEN),
        region: None,
        start_date: None,
        lookback_days: None,
        page_size: Some(page_size),
    }
}

fn connector(sim: &IntercomSim, page_size: i64) -> Intercom {
    Intercom::new(config(page_size), context(sim.base_url(), sim.now())).unwrap()
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

/// Records by source id; a repeat must be identical (the lookback repeats records).
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

fn assert_matches(got: &BTreeMap<String, &Record>, truth: &BTreeMap<String, TruthRecord>, what: &str) {
    let got_ids: BTreeSet<&String> = got.keys().collect();
    let want_ids: BTreeSet<&String> = truth.keys().collect();
    assert_eq!(got_ids, want_ids, "{what}: ids");
    for (id, record) in got {
        assert_eq!(raw(record), truth[id].raw, "{what}: raw of {id}");
        assert_eq!(record.deleted_at, None, "{what}: Intercom has no deletions to report");
    }
}

fn checkpoint_of(pages: &[Page]) -> Checkpoint {
    pages.last().expect("a page").checkpoint.clone()
}

/// A full read of every stream, 9 records a page (so the cursor is followed many times), equals
/// the ground truth: the official examples verbatim, string ids, ratings from the rated
/// conversations only, malformed records quarantined with the field named. The final
/// checkpoint is the newest `updated_at` of the stream although the search returns no order.
#[tokio::test]
async fn full_read_equals_ground_truth() {
    let sim = IntercomSim::start(options(150)).await.unwrap();
    sim.set_all_faults(Faults { malformed_rate: 0.06, ..Faults::default() });
    let intercom = connector(&sim, 9);
    let truth = sim.ground_truth();
    for stream in [CONVERSATIONS, RATINGS, CONTACTS] {
        let pages = read(&intercom, stream, None).await;
        assert!(pages.len() > 2, "{stream}: several pages");
        let got = by_id(&pages);
        assert_matches(&got, truth.stream(stream), stream);
        let quarantined: BTreeSet<String> =
            pages.iter().flat_map(|p| &p.quarantined).map(|q| q.source_id.clone().unwrap()).collect();
        assert_eq!(&quarantined, truth.malformed(stream), "{stream}: quarantined");
        for q in pages.iter().flat_map(|p| &p.quarantined) {
            let field = q.reason.split(':').next().unwrap();
            let expected: &[&str] = match stream {
                RATINGS => &["conversation_rating.rating"],
                _ => &["created_at", "updated_at"],
            };
            assert!(expected.contains(&field), "{stream}: {}", q.reason);
        }
        // The newest update of the stream, whatever page it came on.
        let newest = truth
            .stream(if stream == RATINGS { CONVERSATIONS } else { stream })
            .values()
            .filter_map(|r| r.raw["updated_at"].as_i64())
            .max()
            .unwrap();
        if stream != RATINGS {
            assert_eq!(checkpoint_of(&pages), json!({ "updated_since": newest }), "{stream}");
        }
    }
    let conversations = read(&intercom, CONVERSATIONS, None).await;
    let first = by_id(&conversations);
    let ticket = match &first["335"].entity {
        Entity::Ticket(t) => t.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(ticket.status.as_deref(), Some("solved"));
    assert_eq!(ticket.customer_source_id.as_deref(), Some("667d60bb8a68186f43bafdc5"));
}

/// A search returns no order: the checkpoint must be the newest `updated_at` of all pages, not
/// of the last record read. Pages in the simulator are shuffled, so the last record of the last
/// page is usually not the newest.
#[tokio::test]
async fn checkpoint_is_the_newest_update_of_the_whole_run() {
    let sim = IntercomSim::start(options(40)).await.unwrap();
    let intercom = connector(&sim, 7);
    let pages = read(&intercom, CONTACTS, None).await;
    let newest = pages.iter().flat_map(|p| &p.records).map(|r| raw(r)["updated_at"].as_i64().unwrap()).max();
    assert_eq!(checkpoint_of(&pages)["updated_since"].as_i64(), newest);
    // Mid-run checkpoints resume the same query at the next cursor: reading on from each gives
    // exactly the records after it.
    let all: Vec<String> = pages.iter().flat_map(|p| &p.records).map(|r| r.source_id.clone()).collect();
    let mut seen = 0;
    for page in &pages[..pages.len() - 1] {
        seen += page.records.len();
        assert!(page.checkpoint.get("starting_after").is_some(), "{}", page.checkpoint);
        let rest = read(&intercom, CONTACTS, Some(page.checkpoint.clone())).await;
        let ids: Vec<String> = rest.iter().flat_map(|p| &p.records).map(|r| r.source_id.clone()).collect();
        assert_eq!(ids, all[seen..], "resumed from {}", page.checkpoint);
    }
}

/// Intercom matches dates by calendar day in the workspace's zone: `updated_at > T` starts at the
/// midnight after T. Changes made later on the same day as the checkpoint must still be read:
/// the connector looks back a day (and an hour) — without that lookback this test fails.
#[tokio::test]
async fn changes_on_the_checkpoint_day_are_not_missed() {
    let sim = IntercomSim::start(options(60)).await.unwrap();
    let intercom = connector(&sim, 50);
    let mut checkpoints = BTreeMap::new();
    for stream in [CONVERSATIONS, RATINGS, CONTACTS] {
        checkpoints.insert(stream, checkpoint_of(&read(&intercom, stream, None).await));
    }
    // Two rounds of changes an hour apart: the second lands on the same (Los Angeles) day as
    // the newest change the previous read saw.
    for round in 0..2 {
        let before = sim.ground_truth();
        sim.mutate(Mutation { updates: 12, deletions: 2, creations: 4 });
        let after = sim.ground_truth();
        let intercom = connector(&sim, 50);
        for stream in [CONVERSATIONS, RATINGS, CONTACTS] {
            let pages = read(&intercom, stream, Some(checkpoints[stream].clone())).await;
            let got = by_id(&pages);
            let changed: Vec<&String> = after
                .stream(stream)
                .iter()
                .filter(|(id, r)| before.stream(stream).get(*id) != Some(*r))
                .map(|(id, _)| id)
                .collect();
            assert!(!changed.is_empty(), "round {round}: {stream} changed");
            for id in changed {
                let record = got.get(id).unwrap_or_else(|| panic!("round {round}: {stream} {id} missed"));
                assert_eq!(raw(record), after.stream(stream)[id].raw);
            }
            let since = checkpoints[stream]["updated_since"].as_i64().unwrap();
            if round == 1 {
                // The day's midnight in Los Angeles lies before the checkpoint's newest change.
                let midnight = (since - 7 * 3_600).div_euclid(86_400) * 86_400 + 7 * 3_600;
                assert!(sim.now() - 3_600 >= midnight, "the second round is on the checkpoint's day");
            }
            checkpoints.insert(stream, checkpoint_of(&pages));
        }
    }
}

/// `statistics` and `conversation_rating` are null until set: such conversations map (no
/// quarantine, no rating record), and once Intercom fills them in (which bumps `updated_at`) the
/// next incremental read brings the statistics and the new ratings.
#[tokio::test]
async fn statistics_and_ratings_arrive_once_set() {
    let sim = IntercomSim::start(options(80)).await.unwrap();
    let intercom = connector(&sim, 150);
    let conversations = read(&intercom, CONVERSATIONS, None).await;
    let ratings = read(&intercom, RATINGS, None).await;
    let unset: Vec<String> = by_id(&conversations)
        .iter()
        .filter(|(_, r)| raw(r)["statistics"].is_null())
        .map(|(id, _)| id.clone())
        .collect();
    assert!(unset.len() > 3, "some conversations have no statistics yet");
    assert!(conversations.iter().all(|p| p.quarantined.is_empty()));
    let rated_before: BTreeSet<String> = by_id(&ratings).keys().cloned().collect();
    assert!(rated_before.len() < by_id(&conversations).len());

    sim.mutate(Mutation { updates: 60, deletions: 0, creations: 0 });
    let after = sim.ground_truth();
    let changed = read(&intercom, CONVERSATIONS, Some(checkpoint_of(&conversations))).await;
    let changed = by_id(&changed);
    let filled: Vec<&String> =
        unset.iter().filter(|id| !after.stream(CONVERSATIONS)[*id].raw["statistics"].is_null()).collect();
    assert!(!filled.is_empty());
    for id in filled {
        let ticket = match &changed[id].entity {
            Entity::Ticket(t) => t.clone(),
            other => panic!("{other:?}"),
        };
        assert!(ticket.first_reply_at.is_some() || ticket.reopens.is_some(), "{id}: {ticket:?}");
    }
    let new_ratings = read(&intercom, RATINGS, Some(checkpoint_of(&ratings))).await;
    let new_ratings = by_id(&new_ratings);
    let rated_now: BTreeSet<String> =
        after.stream(RATINGS).keys().filter(|id| !rated_before.contains(*id)).cloned().collect();
    assert!(!rated_now.is_empty());
    for id in &rated_now {
        assert_eq!(raw(new_ratings[id]), after.stream(RATINGS)[id].raw, "{id}");
    }
}

#[derive(Default)]
struct Seen {
    requests: Vec<(String, Option<String>, Value, HeaderMap)>,
}

async fn scripted(
    State(seen): State<Arc<Mutex<Seen>>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> impl IntoResponse {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut seen = seen.lock().unwrap();
    seen.requests.push((uri.path().to_owned(), uri.query().map(str::to_owned), body.clone(), headers));
    let page = seen.requests.len();
    let next =
        (page < 3).then(|| json!({ "page": page + 1, "starting_after": format!("WzE3MTk0OTI4NDMsI{page}") }));
    let conversation = json!({ "type": "conversation", "id": page.to_string(), "created_at": 1_719_000_000 + page,
        "updated_at": 1_719_400_000 + 1000 * page as i64, "statistics": null, "conversation_rating": null });
    axum::Json(json!({ "type": "conversation.list", "pages": { "type": "pages", "page": page, "per_page": 1,
        "total_pages": 3, "next": next }, "total_count": 3, "conversations": [conversation] }))
}

/// The exact requests: POST with the cursor in the JSON body (never in the URL), the pinned
/// `Intercom-Version`, the Bearer token, and an `updated_at >` filter a day and an hour before
/// the checkpoint; the ratings stream adds `conversation_rating.score > 0`.
#[tokio::test]
async fn cursor_goes_in_the_body_and_the_filter_looks_back_a_day() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let app = Router::new().fallback(scripted).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let intercom = Intercom::new(config(1), context(url, 1_720_000_000)).unwrap();
    let pages = read(&intercom, CONVERSATIONS, Some(json!({ "updated_since": 1_719_500_000 }))).await;
    assert_eq!(pages.len(), 3);
    assert_eq!(checkpoint_of(&pages), json!({ "updated_since": 1_719_500_000 }));
    assert_eq!(pages[0].checkpoint["starting_after"], "WzE3MTk0OTI4NDMsI1");
    let requests = std::mem::take(&mut seen.lock().unwrap().requests);
    let query = json!({ "field": "updated_at", "operator": ">", "value": (1_719_500_000 - 86_400 - 3_600).to_string() });
    for (i, (path, url_query, body, headers)) in requests.iter().enumerate() {
        assert_eq!(path, "/conversations/search");
        assert_eq!(url_query, &None, "nothing in the URL");
        assert_eq!(body["query"], query);
        assert_eq!(body["pagination"]["per_page"], 1);
        let cursor = (i > 0).then(|| json!(format!("WzE3MTk0OTI4NDMsI{i}")));
        assert_eq!(body["pagination"].get("starting_after"), cursor.as_ref(), "request {i}");
        assert_eq!(headers["intercom-version"], "2.11");
        assert_eq!(headers["authorization"], format!("Bearer {TOKEN}"));
    }
    // A newer update on a later page moves the checkpoint.
    let pages = read(&intercom, RATINGS, Some(json!({ "updated_since": 1_719_401_500 }))).await;
    assert_eq!(checkpoint_of(&pages), json!({ "updated_since": 1_719_403_000 }));
    let requests = std::mem::take(&mut seen.lock().unwrap().requests);
    assert_eq!(
        requests[0].2["query"],
        json!({ "operator": "AND", "value": [
            { "field": "updated_at", "operator": ">", "value": (1_719_401_500 - 90_000).to_string() },
            { "field": "conversation_rating.score", "operator": ">", "value": 0 },
        ] })
    );
}

/// `X-RateLimit-Limit` counts a 10-second window: the connector paces at 90% of it and never
/// hits a 429. Read as a per-minute limit (the toolkit's default) the same read would take six
/// times as long.
#[tokio::test]
async fn paces_within_ten_second_windows() {
    let mut o = options(60);
    o.window_limit = 20;
    let sim = IntercomSim::start(o).await.unwrap();
    let ctx = context(sim.base_url(), sim.now());
    let clients = ctx.clients.clone();
    let intercom = Intercom::new(config(4), ctx).unwrap();
    let started = Instant::now();
    let pages = read(&intercom, CONVERSATIONS, None).await;
    let elapsed = started.elapsed();
    assert_eq!(pages.len(), 16, "63 conversations at 4 a page");
    let stats = clients.stats();
    assert_eq!((stats.requests, stats.throttled), (16, 0), "{stats:?}");
    // 15 paced intervals of 10 s / 18 ≈ 8.3 s; per minute it would be 15 × 3.3 s = 50 s.
    assert!(elapsed >= Duration::from_secs(7) && elapsed < Duration::from_secs(20), "{elapsed:?}");
}

/// A 429 carries no `Retry-After`, only `X-RateLimit-Reset` as an absolute Unix time: the client
/// waits until then (a second or so) and completes. Read as seconds to wait it would be 55 years
/// and the read would fail.
#[tokio::test]
async fn waits_until_the_absolute_reset_after_a_429() {
    let sim = IntercomSim::start(options(30)).await.unwrap();
    sim.set_all_faults(Faults { throttle_rate: 0.3, throttle_retry_after: Some(1), ..Faults::default() });
    let ctx = context(sim.base_url(), sim.now());
    let clients = ctx.clients.clone();
    let intercom = Intercom::new(config(5), ctx).unwrap();
    let truth = sim.ground_truth();
    let pages = read(&intercom, CONVERSATIONS, None).await;
    assert_matches(&by_id(&pages), truth.stream(CONVERSATIONS), "through 429s");
    assert!(clients.stats().throttled > 0);
}

/// A 401 fails `check` and every stream with an error a person must act on, that says 401 and
/// never shows the token.
#[tokio::test]
async fn unauthorized_needs_a_human_and_never_shows_the_token() {
    let sim = IntercomSim::start(options(10)).await.unwrap();
    let mut cfg = config(10);
    cfg.access_token = Secret::new("wrong-token-1234");
    let intercom = Intercom::new(cfg, context(sim.base_url(), sim.now())).unwrap();
    let error = Connector::check(&intercom).await.unwrap_err();
    assert_eq!((error.class, error.status), (ErrorClass::NeedsHuman, Some(401)));
    for stream in [CONVERSATIONS, RATINGS, CONTACTS] {
        let error = collect(Connector::read(&intercom, stream, None)).await.unwrap_err();
        assert_eq!(error.class, ErrorClass::NeedsHuman);
        assert!(error.message.contains("401"), "{}", error.message);
        assert!(!error.message.contains("wrong-token-1234"), "{}", error.message);
    }
    let good = connector(&sim, 10);
    Connector::check(&good).await.unwrap();
}
