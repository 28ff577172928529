//! The Help Scout connector over real HTTP on 127.0.0.1, against the Help Scout simulator
//! (`engage-sandbox`). Each test pins one vendor gotcha of `shared/api/helpdesk.md` §3 and fails
//! when its handling is removed.

#![allow(clippy::unwrap_used)]

use engage_sandbox::truth::changed;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use engage_connect::{
    Checkpoint, Connector, ConnectorContext, ConnectorError, ErrorClass, Page, PageStream, Secret,
};
use engage_helpscout::{HelpScout, HelpScoutConfig};
use engage_model::Record;
use engage_sandbox::helpscout::{CONVERSATIONS, CUSTOMERS, HelpScoutOptions, HelpScoutSim, RATINGS, TOKEN};
use engage_sandbox::{Faults, Mutation, TruthRecord};
use futures::StreamExt;
use serde_json::Value;

/// A small dataset without the rate limit (the tests that need 429s inject them).
fn options(conversations: usize) -> HelpScoutOptions {
    let mut o = HelpScoutOptions::new(13, conversations);
    o.per_minute = 0;
    o
}

async fn start(o: HelpScoutOptions) -> HelpScoutSim {
    HelpScoutSim::start(o).await.unwrap()
}

fn context(base_url: String) -> ConnectorContext {
    let mut ctx = ConnectorContext::new("helpscout-test");
    ctx.base_url = Some(base_url);
    ctx.http_tuning = Some(Arc::new(|b: engage_connect::http::HttpClientBuilder| {
        b.backoff(Duration::from_millis(1), Duration::from_millis(20)).timeout(Duration::from_secs(10))
    }));
    ctx
}

fn config(o: &HelpScoutOptions) -> HelpScoutConfig {
    HelpScoutConfig {
        client_id: o.client_id.clone(),
        client_secret: Secret::new(o.client_secret.clone()),
        start_date: None,
        mailbox: None,
        lookback_minutes: None,
    }
}

fn connector(sim: &HelpScoutSim, config: HelpScoutConfig) -> (HelpScout, engage_connect::HttpClients) {
    let ctx = context(sim.base_url());
    let clients = ctx.clients.clone();
    (HelpScout::new(config, ctx).unwrap(), clients)
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
    tokio::time::timeout(Duration::from_secs(600), run).await.expect("the read finishes")
}

async fn read(c: &HelpScout, stream: &str, checkpoint: Option<Checkpoint>) -> Vec<Page> {
    match collect(c.read(stream, checkpoint)).await {
        Ok(pages) => pages,
        Err(e) => panic!("reading {stream} failed: {e:?}"),
    }
}

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

/// The records read equal the ground truth: ids, raw payloads, deletions at `userUpdatedAt`.
fn assert_matches(got: &BTreeMap<String, &Record>, truth: &BTreeMap<String, TruthRecord>, what: &str) {
    let got_ids: BTreeSet<&String> = got.keys().collect();
    let want_ids: BTreeSet<&String> = truth.keys().collect();
    assert_eq!(got_ids, want_ids, "{what}: ids");
    for (id, record) in got {
        let want = &truth[id];
        assert_eq!(raw(record), want.raw, "{what}: raw of {id}");
        let deleted_at = want.deleted.then(|| time(&want.raw["userUpdatedAt"]));
        assert_eq!(record.deleted_at, deleted_at, "{what}: deletion of {id}");
    }
}

/// A full read of every stream equals the ground truth — closed, pending and spam conversations
/// included (`status=all`; the default lists only active ones), threads embedded; malformed
/// records are quarantined with a reason naming the field; the official rating comes first.
#[tokio::test]
async fn full_read_equals_ground_truth_with_status_all() {
    let sim = start(options(150)).await;
    sim.set_all_faults(Faults { malformed_rate: 0.08, ..Faults::default() });
    sim.mutate(Mutation { updates: 20, deletions: 9, creations: 5 });
    let (helpscout, _) = connector(&sim, config(&HelpScoutOptions::default()));
    let truth = sim.ground_truth();
    for stream in [CONVERSATIONS, CUSTOMERS, RATINGS] {
        let pages = read(&helpscout, stream, None).await;
        assert_matches(&by_id(&pages), truth.stream(stream), stream);
        let quarantined: BTreeSet<String> = pages
            .iter()
            .flat_map(|p| &p.quarantined)
            .map(|q| q.source_id.clone().unwrap().trim_start_matches("HS-").to_owned())
            .collect();
        assert_eq!(&quarantined, truth.malformed(stream), "{stream}");
        assert!(!quarantined.is_empty(), "{stream}: the seed yields malformed records");
    }
    let statuses: BTreeSet<String> = truth
        .stream(CONVERSATIONS)
        .values()
        .map(|r| format!("{}/{}", r.raw["status"].as_str().unwrap(), r.raw["state"].as_str().unwrap()))
        .collect();
    for kind in ["active/published", "closed/published", "pending/published", "spam/published"] {
        assert!(statuses.contains(kind), "{kind} in {statuses:?}");
    }
    assert!(statuses.iter().any(|s| s.ends_with("/deleted")), "{statuses:?}");
    let ratings = read(&helpscout, RATINGS, None).await;
    assert_eq!(ratings[0].records[0].source_id, "1169815634", "the official example first");
}

/// Updates, deletions (spam or `state: "deleted"`) and creations are picked up exactly by the
/// next run, which starts from the server time the previous run began at.
#[tokio::test]
async fn incremental_read_picks_up_changes_and_deletions() {
    let sim = start(options(120)).await;
    let (helpscout, _) = connector(&sim, config(&HelpScoutOptions::default()));
    let before = sim.ground_truth();
    let mut checkpoints = BTreeMap::new();
    for stream in [CONVERSATIONS, CUSTOMERS, RATINGS] {
        checkpoints.insert(stream, last_checkpoint(&read(&helpscout, stream, None).await));
    }
    assert_eq!(
        checkpoints[CONVERSATIONS]["since"], "2025-05-31T23:55:00Z",
        "the Date of the first answer, less 5 minutes"
    );
    sim.mutate(Mutation { updates: 6, deletions: 4, creations: 3 });
    let after = sim.ground_truth();
    for stream in [CONVERSATIONS, CUSTOMERS, RATINGS] {
        let pages = read(&helpscout, stream, Some(checkpoints[stream].clone())).await;
        let want = changed(before.stream(stream), after.stream(stream));
        assert!(!want.is_empty(), "{stream}");
        // Inclusive filters repeat the boundary: anything else read is unchanged, as stored.
        let mut got = by_id(&pages);
        got.retain(|id, record| {
            want.contains_key(id) || {
                assert_eq!(raw(record), before.stream(stream)[id].raw, "{stream}: repeated {id}");
                false
            }
        });
        assert_matches(&got, &want, stream);
    }
}

/// `modifiedSince` is inclusive: a conversation modified in the very second the previous run
/// began (its watermark, with no lookback) is picked up — a connector that moved the watermark
/// one second on, to avoid the repeat, would lose it.
#[tokio::test]
async fn modified_since_boundary_is_inclusive() {
    let o = options(60);
    let sim = start(o.clone()).await;
    let mut c = config(&o);
    c.lookback_minutes = Some(0);
    let (helpscout, _) = connector(&sim, c);
    let checkpoint = last_checkpoint(&read(&helpscout, CONVERSATIONS, None).await);
    let boundary = sim.now();
    assert_eq!(
        checkpoint["since"].as_str().unwrap(),
        DateTime::from_timestamp(boundary, 0).unwrap().format("%Y-%m-%dT%H:%M:%SZ").to_string()
    );
    let touched = sim.simulator().touch_conversation(13, boundary).unwrap().to_string();
    let pages = read(&helpscout, CONVERSATIONS, Some(checkpoint)).await;
    let got = by_id(&pages);
    assert_eq!(got.keys().collect::<Vec<_>>(), [&touched]);
    assert_eq!(raw(got[&touched]), sim.ground_truth().stream(CONVERSATIONS)[&touched].raw);
}

/// The historical bug: `_links.next` without the filters (no `status=all`, no `modifiedSince`,
/// no sort). The connector puts them back, so every page is the right one.
#[tokio::test]
async fn next_links_that_lost_their_filters_are_repaired() {
    let mut o = options(150);
    o.drop_next_params = true;
    let sim = start(o.clone()).await;
    sim.mutate(Mutation { updates: 10, deletions: 5, creations: 0 });
    let (helpscout, _) = connector(&sim, config(&o));
    let pages = read(&helpscout, CONVERSATIONS, None).await;
    assert!(pages.len() >= 6, "{} pages", pages.len());
    assert_matches(&by_id(&pages), sim.ground_truth().stream(CONVERSATIONS), "conversations");
}

/// A token that stops working mid-sync (401) is replaced once and the sync completes; the
/// client secret never appears in an error.
#[tokio::test]
async fn a_token_refused_mid_sync_is_refreshed_and_the_sync_completes() {
    let mut o = options(150);
    o.token_uses = Some(2);
    let sim = start(o.clone()).await;
    let (helpscout, clients) = connector(&sim, config(&o));
    let pages = read(&helpscout, CONVERSATIONS, None).await;
    assert_matches(&by_id(&pages), sim.ground_truth().stream(CONVERSATIONS), "conversations");
    let pages_read = pages.len() as u64;
    assert_eq!(sim.simulator().tokens_issued(), pages_read.div_ceil(2));
    assert_eq!(sim.requests(TOKEN), pages_read.div_ceil(2));
    assert_eq!(clients.stats().failures, 0);

    // A secret that is wrong: a clear 401 that needs a person, without the secret.
    let mut bad = config(&o);
    bad.client_secret = Secret::new("wrong-secret-123456");
    let (helpscout, _) = connector(&sim, bad);
    let error = collect(helpscout.read(CUSTOMERS, None)).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::NeedsHuman);
    assert!(error.message.contains("401"), "{}", error.message);
    assert!(!error.message.contains("wrong-secret-123456"), "{}", error.message);
}

/// Tokens that expire every 3 seconds while each request takes one second (virtual time): the
/// connector refreshes them before they expire and never meets a 401.
#[tokio::test(start_paused = true)]
async fn expiring_tokens_are_renewed_before_they_expire() {
    let mut o = options(150);
    o.token_lifetime = 3;
    let sim = start(o.clone()).await;
    sim.set_all_faults(Faults { latency: Duration::from_secs(1), ..Faults::default() });
    let (helpscout, clients) = connector(&sim, config(&o));
    let pages = read(&helpscout, CONVERSATIONS, None).await;
    assert_matches(&by_id(&pages), sim.ground_truth().stream(CONVERSATIONS), "conversations");
    assert!(sim.simulator().tokens_issued() >= 3, "{}", sim.simulator().tokens_issued());
    let stats = clients.stats();
    assert_eq!(stats.retries, 0, "no request was refused: {stats:?}");
}

/// Help Scout's 429 says how long to wait only in `X-RateLimit-Retry-After`: the connector waits
/// that long (virtual time), not its own short backoff.
#[tokio::test(start_paused = true)]
async fn x_ratelimit_retry_after_is_honoured() {
    let o = options(150);
    let sim = start(o.clone()).await;
    sim.set_all_faults(Faults { throttle_rate: 0.3, throttle_retry_after: Some(7), ..Faults::default() });
    let (helpscout, clients) = connector(&sim, config(&o));
    let started = tokio::time::Instant::now();
    let pages = read(&helpscout, CONVERSATIONS, None).await;
    assert_matches(&by_id(&pages), sim.ground_truth().stream(CONVERSATIONS), "conversations");
    let throttled = clients.stats().throttled;
    assert!(throttled > 0, "the faults throttled some requests");
    assert!(
        started.elapsed() >= Duration::from_secs(7 * throttled),
        "{throttled} 429s but only {:?} waited",
        started.elapsed()
    );
}

/// Nothing changed: one request per stream (the cached token is reused).
#[tokio::test]
async fn nothing_changed_costs_one_request_per_stream() {
    let o = options(100);
    let sim = start(o.clone()).await;
    let (helpscout, _) = connector(&sim, config(&o));
    let mut checkpoints = BTreeMap::new();
    for stream in [CONVERSATIONS, CUSTOMERS, RATINGS] {
        checkpoints.insert(stream, last_checkpoint(&read(&helpscout, stream, None).await));
    }
    for stream in [CONVERSATIONS, CUSTOMERS, RATINGS] {
        sim.reset_requests();
        read(&helpscout, stream, Some(checkpoints[stream].clone())).await;
        assert_eq!(sim.total_requests(), 1, "{stream}");
    }
}
