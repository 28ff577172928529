//! The Zendesk simulator over real HTTP on loopback.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use engage_sandbox::zendesk::{
    INCREMENTAL_TICKETS, INCREMENTAL_USERS, SATISFACTION_RATINGS, TICKET_SHOW, ZendeskOptions, ZendeskSim,
};
use engage_sandbox::{Fault, Faults, GroundTruth, Mutation, Sandbox, SandboxOptions};
use serde_json::Value;

const EXPORT: &str = "/api/v2/incremental/tickets/cursor.json";
const USERS: &str = "/api/v2/incremental/users/cursor.json";
const RATINGS: &str = "/api/v2/satisfaction_ratings.json";

fn options(seed: u64, records: usize) -> ZendeskOptions {
    let mut o = ZendeskOptions::unlimited();
    o.sim.seed = seed;
    o.sim.records = records;
    o
}

fn auth() -> String {
    ZendeskOptions::default().authorization()
}

fn client() -> reqwest::Client {
    // A fresh connection per request, so a reset never poisons a pooled connection.
    reqwest::Client::builder().no_proxy().pool_max_idle_per_host(0).build().unwrap()
}

async fn get(url: &str) -> reqwest::Response {
    client().get(url).header("Authorization", auth()).send().await.unwrap()
}

async fn get_json(url: &str) -> Value {
    let resp = get(url).await;
    assert_eq!(resp.status(), 200, "{url}");
    resp.json().await.unwrap()
}

fn fixture(json: &str, key: &str, i: usize) -> Value {
    serde_json::from_str::<Value>(json).unwrap()[key][i].clone()
}

fn id_of(v: &Value) -> String {
    match &v["id"] {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.rsplit('-').next().unwrap().to_owned(),
        other => panic!("id {other}"),
    }
}

/// Embeds each ticket's sideloaded metric set, as the connector stores it.
fn with_metric_sets(page: &Value) -> Vec<Value> {
    let metrics: BTreeMap<String, Value> = page["metric_sets"]
        .as_array()
        .map(|m| m.iter().map(|m| (m["ticket_id"].to_string(), m.clone())).collect())
        .unwrap_or_default();
    page["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let mut t = t.clone();
            if let Some(m) = metrics.get(&t["id"].to_string()) {
                t["metric_set"] = m.clone();
            }
            t
        })
        .collect()
}

/// Follows `after_url` from `first_url` to `end_of_stream`; returns the pages.
async fn walk(first_url: &str) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut url = first_url.to_owned();
    loop {
        let page = get_json(&url).await;
        let done = page["end_of_stream"].as_bool().unwrap();
        url = page["after_url"].as_str().unwrap_or_default().to_owned();
        pages.push(page);
        if done {
            return pages;
        }
        assert!(pages.len() < 10_000);
    }
}

fn sort_key(t: &Value) -> (i64, u64) {
    let ts = t["generated_timestamp"].as_i64().unwrap_or_else(|| {
        chrono::DateTime::parse_from_rfc3339(t["updated_at"].as_str().unwrap()).unwrap().timestamp()
    });
    (ts, t["id"].as_u64().unwrap())
}

#[tokio::test]
async fn cursor_export_walks_every_ticket_exactly_once() {
    let sim = ZendeskSim::start(options(11, 2_500)).await.unwrap();
    let base = sim.base_url();
    let pages = walk(&format!("{base}{EXPORT}?start_time=0&include=metric_sets")).await;
    assert_eq!(pages.len(), 3);
    for (i, page) in pages.iter().enumerate() {
        assert_eq!(page["end_of_stream"], i == 2);
        assert!(page["after_cursor"].is_string());
        assert!(page["after_url"].as_str().unwrap().contains("include=metric_sets"));
        assert_eq!(page["metric_sets"].as_array().unwrap().len(), page["tickets"].as_array().unwrap().len());
    }
    let tickets: Vec<Value> = pages.iter().flat_map(with_metric_sets).collect();
    assert_eq!(tickets.len(), 2_501);
    let ids: BTreeSet<String> = tickets.iter().map(id_of).collect();
    assert_eq!(ids.len(), 2_501);
    let keys: Vec<(i64, u64)> = tickets.iter().map(sort_key).collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "ordered by (generated_timestamp, id)");
    assert!(tickets[1..].iter().all(|t| t["id"].as_u64().unwrap() > u64::from(u32::MAX)));

    // What was served is exactly the ground truth (metric sets embedded).
    let truth = sim.ground_truth();
    let expected = truth.stream("tickets");
    assert_eq!(expected.len(), 2_501);
    for t in &tickets {
        let record = &expected[&id_of(t)];
        assert_eq!(&record.raw, t);
        assert!(!record.deleted);
        assert!(t.get("metric_set").is_some());
    }
    // Realism: updated_at earlier than generated_timestamp for system updates; unknown fields.
    let lagging = tickets[1..]
        .iter()
        .filter(|t| {
            let updated = chrono::DateTime::parse_from_rfc3339(t["updated_at"].as_str().unwrap()).unwrap();
            updated.timestamp() < t["generated_timestamp"].as_i64().unwrap()
        })
        .count();
    assert!((300..=1_200).contains(&lagging), "{lagging}");
    let extra = tickets.iter().filter(|t| t.get("x_sim_extra").is_some()).count();
    assert!((30..=130).contains(&extra), "{extra}");
    assert_eq!(sim.requests("tickets"), 3);
    assert_eq!(sim.total_requests(), 3);
    sim.reset_requests();
    assert_eq!(sim.requests("tickets"), 0);
}

#[tokio::test]
async fn resume_with_after_cursor_returns_only_changed_tickets() {
    let sim = ZendeskSim::start(options(5, 700)).await.unwrap();
    let base = sim.base_url();
    let pages = walk(&format!("{base}{EXPORT}?start_time=0&include=metric_sets")).await;
    let last = pages.last().unwrap();
    let cursor = last["after_cursor"].as_str().unwrap().to_owned();
    let before = sim.ground_truth();

    sim.mutate(Mutation { updates: 7, deletions: 3, creations: 5 });
    let after = sim.ground_truth();
    let changed: BTreeSet<String> = after
        .stream("tickets")
        .iter()
        .filter(|(id, rec)| before.stream("tickets").get(*id) != Some(*rec))
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(changed.len(), 15);
    let deleted: BTreeSet<String> =
        after.stream("tickets").iter().filter(|(_, r)| r.deleted).map(|(id, _)| id.clone()).collect();
    assert_eq!(deleted.len(), 3);

    let resumed = walk(&format!("{base}{EXPORT}?cursor={cursor}&include=metric_sets")).await;
    assert_eq!(resumed.len(), 1);
    let page = &resumed[0];
    assert_eq!(page["end_of_stream"], true);
    let tickets = with_metric_sets(page);
    let ids: BTreeSet<String> = tickets.iter().map(id_of).collect();
    assert_eq!(ids, changed);
    for t in &tickets {
        let id = id_of(t);
        assert_eq!(&after.stream("tickets")[&id].raw, t);
        assert_eq!(t["status"] == "deleted", deleted.contains(&id));
        assert_eq!(t.get("metric_set").is_none(), deleted.contains(&id));
        if let Some(old) = before.stream("tickets").get(&id) {
            assert!(t["updated_at"].as_str().unwrap() > old.raw["updated_at"].as_str().unwrap());
            assert!(
                t["generated_timestamp"].as_i64().unwrap() > old.raw["generated_timestamp"].as_i64().unwrap()
            );
        }
    }
    let kept = get_json(&format!("{base}{EXPORT}?cursor={cursor}&exclude_deleted=true")).await;
    assert_eq!(kept["tickets"].as_array().unwrap().len(), 12);

    // Nothing changed since: an empty page that still hands back a cursor to resume from.
    let next = page["after_cursor"].as_str().unwrap();
    let empty = get_json(&format!("{base}{EXPORT}?cursor={next}")).await;
    assert_eq!(empty["tickets"].as_array().unwrap().len(), 0);
    assert_eq!(empty["end_of_stream"], true);
    assert_eq!(empty["after_cursor"], next);
}

#[tokio::test]
async fn start_time_rules_and_bad_parameters_are_400() {
    let sim = ZendeskSim::start(options(1, 50)).await.unwrap();
    let base = sim.base_url();
    let now = sim.now();
    let recent = get(&format!("{base}{EXPORT}?start_time={}", now - 30)).await;
    assert_eq!(recent.status(), 400);
    let body: Value = recent.json().await.unwrap();
    assert_eq!(body["error"], "InvalidValue");
    assert!(body["description"].as_str().unwrap().starts_with("Too recent start_time"));

    let ok = get_json(&format!("{base}{EXPORT}?start_time={}", now - 61)).await;
    assert_eq!(ok["tickets"], serde_json::json!([]));
    assert_eq!(ok["end_of_stream"], true);
    assert_eq!(ok["after_cursor"], Value::Null);

    assert_eq!(get(&format!("{base}{EXPORT}")).await.status(), 400);
    assert_eq!(get(&format!("{base}{EXPORT}?start_time=yesterday")).await.status(), 400);
    let bad_cursor = get(&format!("{base}{EXPORT}?cursor=bm90IGEgY3Vyc29y")).await;
    assert_eq!(bad_cursor.status(), 400);
    let body: Value = bad_cursor.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "InvalidPaginationParameter");
    assert_eq!(get(&format!("{base}{EXPORT}?start_time=0&per_page=0")).await.status(), 400);
    let clamped = get_json(&format!("{base}{EXPORT}?start_time=0&per_page=5000")).await;
    assert_eq!(clamped["tickets"].as_array().unwrap().len(), 51);
    let missing = get(&format!("{base}/api/v2/nothing.json")).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(sim.requests("other"), 1);
}

#[tokio::test]
async fn auth_failures_are_401_and_403() {
    let sim = ZendeskSim::start(options(1, 10)).await.unwrap();
    let url = format!("{}{EXPORT}?start_time=0", sim.base_url());
    let expect_401 = |resp: reqwest::Response| async move {
        assert_eq!(resp.status(), 401);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body, serde_json::json!({ "error": "Couldn't authenticate you" }));
    };
    expect_401(client().get(&url).send().await.unwrap()).await;
    expect_401(client().get(&url).basic_auth("admin@example.com/token", Some("wrong")).send().await.unwrap())
        .await;
    expect_401(
        client().get(&url).basic_auth("admin@example.com", Some("sandbox-token")).send().await.unwrap(),
    )
    .await;
    let ok =
        client().get(&url).basic_auth("admin@example.com/token", Some("sandbox-token")).send().await.unwrap();
    assert_eq!(ok.status(), 200);

    sim.set_faults("tickets", Faults { fail_auth: true, ..Faults::default() });
    expect_401(get(&url).await).await;
    sim.set_faults("tickets", Faults { status_override: Some(403), ..Faults::default() });
    let forbidden = get(&url).await;
    assert_eq!(forbidden.status(), 403);
    let body: Value = forbidden.json().await.unwrap();
    assert_eq!(body["error"], "Forbidden");
    sim.set_all_faults(Faults::default());
    assert_eq!(get(&url).await.status(), 200);
}

#[tokio::test]
async fn rate_limits_answer_429_with_and_without_retry_after() {
    let mut o = ZendeskOptions::new(3, 20);
    o.account_limit = 5;
    o.incremental_limit = 2;
    let sim = ZendeskSim::start(o).await.unwrap();
    let base = sim.base_url();
    let export = format!("{base}{EXPORT}?start_time=0");
    let header =
        |r: &reqwest::Response, name: &str| r.headers().get(name).map(|v| v.to_str().unwrap().to_owned());

    for remaining in ["4", "3"] {
        let r = get(&export).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "x-rate-limit").as_deref(), Some("5"));
        assert_eq!(header(&r, "x-rate-limit-remaining").as_deref(), Some(remaining));
    }
    let limited = get(&export).await;
    assert_eq!(limited.status(), 429);
    assert!(header(&limited, "content-type").unwrap().starts_with("text/plain"));
    let retry: u64 = header(&limited, "retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(limited.text().await.unwrap(), "Number of allowed API requests per minute exceeded");

    // Other endpoints only count against the account limit (700 by default, 5 here).
    let ratings = get(&format!("{base}{RATINGS}")).await;
    assert_eq!(ratings.status(), 200);
    assert_eq!(header(&ratings, "x-rate-limit-remaining").as_deref(), Some("1"));

    // The fault configuration can drop Retry-After from the limiter's 429.
    sim.set_faults("tickets", Faults { throttle_retry_after: None, ..Faults::default() });
    let bare = get(&export).await;
    assert_eq!(bare.status(), 429);
    assert_eq!(header(&bare, "retry-after"), None);
    assert_eq!(bare.text().await.unwrap(), "Number of allowed API requests per minute exceeded");

    // Injected throttling, with and without Retry-After.
    sim.simulator().reset_rate_limits();
    sim.set_faults(
        "satisfaction_ratings",
        Faults { throttle_rate: 1.0, throttle_retry_after: Some(7), ..Faults::default() },
    );
    let injected = get(&format!("{base}{RATINGS}")).await;
    assert_eq!(injected.status(), 429);
    assert_eq!(header(&injected, "retry-after").as_deref(), Some("7"));
    sim.set_faults(
        "satisfaction_ratings",
        Faults { throttle_rate: 1.0, throttle_retry_after: None, ..Faults::default() },
    );
    let injected = get(&format!("{base}{RATINGS}")).await;
    assert_eq!(injected.status(), 429);
    assert_eq!(header(&injected, "retry-after"), None);
    assert!(header(&injected, "content-type").unwrap().starts_with("text/plain"));
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Reset,
    Status(u16),
    Truncated,
    Ok,
}

async fn outcomes(seed: u64, n: u64, faults: &Faults) -> Vec<Outcome> {
    let mut o = options(seed, 30);
    o.sim.route_faults.insert("tickets".into(), faults.clone());
    let sim = ZendeskSim::start(o).await.unwrap();
    let url = format!("{}{EXPORT}?start_time=0&per_page=20", sim.base_url());
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(match client().get(&url).header("Authorization", auth()).send().await {
            Err(_) => Outcome::Reset,
            Ok(r) if r.status() != 200 => Outcome::Status(r.status().as_u16()),
            Ok(r) => {
                let declared: usize = r.headers()["content-length"].to_str().unwrap().parse().unwrap();
                let body = r.bytes().await.unwrap();
                assert_eq!(body.len(), declared);
                match serde_json::from_slice::<Value>(&body) {
                    Ok(_) => Outcome::Ok,
                    Err(_) => Outcome::Truncated,
                }
            }
        });
    }
    assert_eq!(sim.requests("tickets"), n);
    out
}

#[tokio::test]
async fn faults_occur_at_the_configured_rates_deterministically() {
    let faults = Faults {
        error_rate: 0.2,
        reset_rate: 0.1,
        truncated_rate: 0.1,
        latency: Duration::from_millis(1),
        ..Faults::default()
    };
    let n = 200;
    let first = outcomes(99, n, &faults).await;
    let again = outcomes(99, n, &faults).await;
    assert_eq!(first, again);
    // Exactly the decisions the public fault model predicts for this seed.
    for (i, got) in first.iter().enumerate() {
        let want = match faults.decide(99, "tickets", i as u64) {
            Fault::Reset => Outcome::Reset,
            Fault::ServerError(code) => Outcome::Status(code),
            Fault::Throttle => Outcome::Status(429),
            Fault::Truncate => Outcome::Truncated,
            Fault::None => Outcome::Ok,
        };
        assert_eq!(got, &want, "request {i}");
    }
    let count = |f: fn(&Outcome) -> bool| first.iter().filter(|o| f(o)).count();
    let resets = count(|o| *o == Outcome::Reset);
    let errors = count(|o| matches!(o, Outcome::Status(500 | 503)));
    let truncated = count(|o| *o == Outcome::Truncated);
    assert!((10..=30).contains(&resets), "{resets}");
    assert!((25..=55).contains(&errors), "{errors}");
    assert!((10..=30).contains(&truncated), "{truncated}");
    assert!(first.contains(&Outcome::Status(500)) && first.contains(&Outcome::Status(503)));
    let other_seed = outcomes(100, n, &faults).await;
    assert_ne!(first, other_seed);
}

#[tokio::test]
async fn malformed_records_are_listed_in_ground_truth() {
    let mut o = options(21, 600);
    let bad = Faults { malformed_rate: 0.05, ..Faults::default() };
    o.sim.route_faults.insert("tickets".into(), bad.clone());
    o.sim.route_faults.insert("users".into(), bad);
    let sim = ZendeskSim::start(o).await.unwrap();
    let base = sim.base_url();
    let truth = sim.ground_truth();
    let pages = walk(&format!("{base}{EXPORT}?start_time=0&include=metric_sets")).await;
    let mut served_bad = BTreeSet::new();
    let mut kinds = BTreeSet::new();
    for t in pages.iter().flat_map(with_metric_sets) {
        let bad_id = !t["id"].is_u64();
        let bad_date = t["created_at"] == "not a date";
        let id = id_of(&t);
        if bad_id || bad_date {
            kinds.insert(if bad_id { "id" } else { "created_at" });
            served_bad.insert(id.clone());
            assert!(!truth.stream("tickets").contains_key(&id));
        } else {
            assert_eq!(truth.stream("tickets")[&id].raw, t);
        }
    }
    assert_eq!(&served_bad, truth.malformed("tickets"));
    assert!((15..=55).contains(&served_bad.len()), "{}", served_bad.len());
    assert_eq!(kinds.len(), 2);
    assert!(!truth.malformed("users").is_empty());
    assert!(truth.malformed("satisfaction_ratings").is_empty());
    assert_eq!(truth.stream("tickets").len() + served_bad.len(), 601);
}

#[tokio::test]
async fn official_examples_are_served_verbatim() {
    let sim = ZendeskSim::start(options(8, 300)).await.unwrap();
    let base = sim.base_url();
    let page = get_json(&format!("{base}{EXPORT}?start_time=0&per_page=3")).await;
    let example = fixture(INCREMENTAL_TICKETS, "tickets", 0);
    assert_eq!(page["tickets"][0], example);
    // The show example is the same ticket plus custom_status_id.
    let mut show = serde_json::from_str::<Value>(TICKET_SHOW).unwrap()["ticket"].clone();
    show.as_object_mut().unwrap().remove("custom_status_id");
    assert_eq!(page["tickets"][0], show);
    assert_eq!(sim.simulator().ticket_id(0), 35_436);

    let users = walk(&format!("{base}{USERS}?start_time=0")).await;
    let users: Vec<Value> = users.iter().flat_map(|p| p["users"].as_array().unwrap().clone()).collect();
    assert_eq!(users[1], fixture(INCREMENTAL_USERS, "users", 0));
    let user_ids: BTreeSet<u64> = users.iter().map(|u| u["id"].as_u64().unwrap()).collect();
    assert_eq!(user_ids.len(), users.len());
    // Requesters exist as users: the example ticket's, the example ratings', every generated one.
    assert!(user_ids.contains(&20_978_392) && user_ids.contains(&7_881));
    let tickets = walk(&format!("{base}{EXPORT}?start_time=0")).await;
    for t in tickets.iter().flat_map(|p| p["tickets"].as_array().unwrap().clone()) {
        assert!(user_ids.contains(&t["requester_id"].as_u64().unwrap()), "{}", t["requester_id"]);
    }

    let ratings = get_json(&format!("{base}{RATINGS}?page[size]=5")).await;
    assert_eq!(ratings["satisfaction_ratings"][0], fixture(SATISFACTION_RATINGS, "satisfaction_ratings", 0));
    assert_eq!(ratings["satisfaction_ratings"][1], fixture(SATISFACTION_RATINGS, "satisfaction_ratings", 1));
}

fn without_urls(mut page: Value) -> Value {
    page.as_object_mut().unwrap().remove("after_url");
    page
}

#[tokio::test]
async fn pages_are_deterministic_across_restarts() {
    let fetch = |seed: u64| async move {
        let sim = ZendeskSim::start(options(seed, 1_500)).await.unwrap();
        let base = sim.base_url();
        let tickets =
            get_json(&format!("{base}{EXPORT}?start_time=1700000000&per_page=300&include=metric_sets")).await;
        let users = get_json(&format!("{base}{USERS}?start_time=0&per_page=100")).await;
        let ratings = get_json(&format!("{base}{RATINGS}?page[size]=50")).await;
        sim.shutdown().await;
        (without_urls(tickets), without_urls(users), ratings["satisfaction_ratings"].clone())
    };
    let a = fetch(42).await;
    let b = fetch(42).await;
    assert_eq!(a, b);
    assert_eq!(a.0["tickets"].as_array().unwrap().len(), 300);
    let c = fetch(43).await;
    assert_ne!(a.0["tickets"], c.0["tickets"]);
}

#[tokio::test]
async fn million_ticket_sim_serves_a_middle_page_without_building_everything() {
    let sim = ZendeskSim::start(options(7, 1_000_000)).await.unwrap();
    let base = sim.base_url();
    let middle = sim.now() - 365 * 86_400;
    let started = Instant::now();
    let page = get_json(&format!("{base}{EXPORT}?start_time={middle}&include=metric_sets")).await;
    let elapsed = started.elapsed();
    let tickets = page["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 1_000);
    assert_eq!(page["end_of_stream"], false);
    let first = tickets[0]["id"].as_u64().unwrap();
    assert!((5_000_490_000..5_000_510_000).contains(&first), "{first}");
    assert!(tickets[0]["generated_timestamp"].as_i64().unwrap() >= middle);
    let next = get_json(page["after_url"].as_str().unwrap()).await;
    assert_eq!(next["tickets"][0]["id"].as_u64().unwrap(), first + 1_000);
    assert_eq!(sim.simulator().changed_records(), 0);
    assert_eq!(sim.simulator().counts(), (1_000_001, 250_023, 333_335));
    // Debug build over loopback; release serves such a page in a few milliseconds.
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");

    sim.mutate(Mutation { updates: 100, deletions: 10, creations: 10 });
    assert_eq!(sim.simulator().changed_records(), 3 * 120 - 10);
}

#[tokio::test]
async fn generated_text_is_multilingual_and_about_two_kilobytes() {
    let sim = ZendeskSim::start(options(2, 1_000)).await.unwrap();
    let body = get(&format!("{}{EXPORT}?start_time=0", sim.base_url())).await.bytes().await.unwrap();
    let page: Value = serde_json::from_slice(&body).unwrap();
    let tickets = &page["tickets"].as_array().unwrap()[1..];
    let average = tickets.iter().map(|t| serde_json::to_vec(t).unwrap().len()).sum::<usize>() / tickets.len();
    assert!((1_800..=2_400).contains(&average), "{average}");
    let text: String = tickets.iter().map(|t| t["description"].as_str().unwrap()).collect();
    for probe in ["ł", "ё", "\u{200c}", "ی", "ć", "š", "ñ", "ß"] {
        assert!(text.contains(probe), "{probe}");
    }
    let ratings =
        get_json(&format!("{}{RATINGS}?page[size]=100&score=good_with_comment", sim.base_url())).await;
    let ratings = ratings["satisfaction_ratings"].as_array().unwrap();
    assert!(ratings.iter().all(|r| r["score"] == "good" && r["comment"].is_string()));
    assert!(ratings.iter().any(|r| !r["comment"].as_str().unwrap().is_ascii()));
}

#[tokio::test]
async fn satisfaction_ratings_use_cursor_pagination_and_time_filters() {
    let sim = ZendeskSim::start(options(4, 600)).await.unwrap();
    let base = sim.base_url();
    let truth: GroundTruth = sim.ground_truth();
    let mut url = format!("{base}{RATINGS}?page[size]=100");
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = get_json(&url).await;
        pages += 1;
        let items = page["satisfaction_ratings"].as_array().unwrap();
        seen.extend(items.iter().cloned());
        assert!(page["meta"]["after_cursor"].is_string());
        if !page["meta"]["has_more"].as_bool().unwrap() {
            assert_eq!(page["links"]["next"], Value::Null);
            break;
        }
        url = page["links"]["next"].as_str().unwrap().to_owned();
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 202);
    let ids: BTreeSet<String> = seen.iter().map(id_of).collect();
    assert_eq!(ids.len(), 202);
    for r in &seen {
        assert_eq!(&truth.stream("satisfaction_ratings")[&id_of(r)].raw, r);
    }
    let scores: BTreeSet<&str> = seen.iter().map(|r| r["score"].as_str().unwrap()).collect();
    assert_eq!(scores, BTreeSet::from(["bad", "good", "offered", "unoffered"]));

    let clamped = get_json(&format!("{base}{RATINGS}?page[size]=500")).await;
    assert_eq!(clamped["satisfaction_ratings"].as_array().unwrap().len(), 100);

    let updated = |r: &Value| {
        chrono::DateTime::parse_from_rfc3339(r["updated_at"].as_str().unwrap()).unwrap().timestamp()
    };
    let (start, end) = (sim.now() - 300 * 86_400, sim.now() - 100 * 86_400);
    let want = seen.iter().filter(|r| (start..=end).contains(&updated(r))).count();
    let filtered =
        get_json(&format!("{base}{RATINGS}?page[size]=100&start_time={start}&end_time={end}")).await;
    let got = filtered["satisfaction_ratings"].as_array().unwrap();
    assert_eq!(got.len(), want);
    assert!(got.iter().all(|r| (start..=end).contains(&updated(r))));
    assert_eq!(filtered["meta"]["has_more"], false);

    let bad = get_json(&format!("{base}{RATINGS}?page[size]=100&score=bad")).await;
    assert!(bad["satisfaction_ratings"].as_array().unwrap().iter().all(|r| r["score"] == "bad"));

    let invalid = get(&format!("{base}{RATINGS}?page[after]=garbage")).await;
    assert_eq!(invalid.status(), 400);
    let body: Value = invalid.json().await.unwrap();
    assert_eq!(body["errors"][0]["title"], "page[after] is not valid");

    // Ratings change between syncs too; a start_time filter picks the changes up.
    let before = sim.now();
    sim.mutate(Mutation { updates: 4, deletions: 0, creations: 2 });
    let changed = get_json(&format!("{base}{RATINGS}?start_time={before}")).await;
    assert_eq!(changed["satisfaction_ratings"].as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn stops_on_shutdown_and_on_drop() {
    let sim = ZendeskSim::start(options(1, 5)).await.unwrap();
    let url = format!("{}{EXPORT}?start_time=0", sim.base_url());
    assert_eq!(get(&url).await.status(), 200);
    sim.shutdown().await;
    assert!(client().get(&url).send().await.is_err());

    let sim = ZendeskSim::start(options(1, 5)).await.unwrap();
    let url = format!("{}{EXPORT}?start_time=0", sim.base_url());
    drop(sim);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(client().get(&url).send().await.is_err());
}

#[tokio::test]
async fn sandbox_starts_simulators_by_name() {
    let sandbox = Sandbox::start(&["zendesk"], &SandboxOptions { records: 10, ..SandboxOptions::default() })
        .await
        .unwrap();
    let urls = sandbox.urls();
    assert_eq!(urls.keys().collect::<Vec<_>>(), ["zendesk"]);
    assert!(urls["zendesk"].starts_with("http://127.0.0.1:"));
    let page = get_json(&format!("{}{EXPORT}?start_time=0", urls["zendesk"])).await;
    assert_eq!(page["tickets"].as_array().unwrap().len(), 11);
    assert_eq!(sandbox.get("zendesk").unwrap().ground_truth().stream("tickets").len(), 11);
    let err = Sandbox::start(&["nope"], &SandboxOptions::default()).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn binary_prints_urls_and_exits_when_stdin_closes() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_engage-sandbox"))
        .args(["zendesk", "--records", "20", "--seed", "3", "--unlimited"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let urls: BTreeMap<String, String> = serde_json::from_str(&line).unwrap();
    let page = get_json(&format!("{}{EXPORT}?start_time=0", urls["zendesk"])).await;
    assert_eq!(page["tickets"].as_array().unwrap().len(), 21);
    drop(child.stdin.take());
    let status = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(status.success());
}
