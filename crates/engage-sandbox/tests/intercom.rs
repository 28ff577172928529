//! The Intercom simulator over real HTTP on loopback.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use engage_sandbox::intercom::{
    CONTACTS, CONVERSATIONS, IntercomOptions, IntercomSim, RATINGS, fixtures, rating_record,
};
use engage_sandbox::{Faults, Mutation};
use serde_json::{Value, json};

const TOKEN: &str = "sandbox-intercom-token";

fn options(records: usize) -> IntercomOptions {
    let mut o = IntercomOptions::unlimited();
    o.sim.seed = 5;
    o.sim.records = records;
    o
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().pool_max_idle_per_host(0).build().unwrap()
}

async fn post(sim: &IntercomSim, path: &str, body: &Value) -> reqwest::Response {
    client().post(format!("{}{path}", sim.base_url())).bearer_auth(TOKEN).json(body).send().await.unwrap()
}

async fn search(sim: &IntercomSim, path: &str, body: &Value) -> Value {
    let resp = post(sim, path, body).await;
    assert_eq!(resp.status(), 200, "{path} {body}");
    resp.json().await.unwrap()
}

fn updated_after(value: i64, per_page: u64, cursor: Option<&str>) -> Value {
    let mut body = json!({
        "query": { "field": "updated_at", "operator": ">", "value": value.to_string() },
        "pagination": { "per_page": per_page },
    });
    if let Some(c) = cursor {
        body["pagination"]["starting_after"] = json!(c);
    }
    body
}

/// Every record of a search, following `pages.next.starting_after` in the body.
async fn walk(sim: &IntercomSim, path: &str, key: &str, query: Value) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 1.. {
        let mut body = json!({ "query": query, "pagination": { "per_page": 7 } });
        if let Some(c) = &cursor {
            body["pagination"]["starting_after"] = json!(c);
        }
        let resp = search(sim, path, &body).await;
        assert_eq!(resp["pages"]["page"], json!(page));
        out.extend(resp[key].as_array().unwrap().iter().cloned());
        match resp["pages"]["next"]["starting_after"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    out
}

fn by_id(items: &[Value]) -> BTreeMap<String, Value> {
    let mut map = BTreeMap::new();
    for item in items {
        let id = item["id"].as_str().unwrap().to_owned();
        assert!(map.insert(id.clone(), item.clone()).is_none(), "{id} twice");
    }
    map
}

/// A full walk of both searches equals the ground truth: the official examples first and
/// verbatim, string ids, integer assignee ids, ratings derived from the rated conversations.
#[tokio::test]
async fn full_walk_equals_ground_truth() {
    let sim = IntercomSim::start(options(60)).await.unwrap();
    sim.set_all_faults(Faults { malformed_rate: 0.1, ..Faults::default() });
    let truth = sim.ground_truth();
    let all = json!({ "field": "updated_at", "operator": ">", "value": 0 });
    let conversations = walk(&sim, "/conversations/search", "conversations", all.clone()).await;
    let got = by_id(&conversations);
    let want = truth.stream(CONVERSATIONS);
    assert_eq!(got.len(), want.len() + truth.malformed(CONVERSATIONS).len());
    for (id, record) in want {
        assert_eq!(&got[id], &record.raw, "conversation {id}");
    }
    let list: Value = serde_json::from_str(fixtures::CONVERSATIONS_LIST).unwrap();
    assert_eq!(got["335"], list["conversations"][0]);
    for c in &conversations {
        assert!(c["id"].is_string());
        assert!(c["admin_assignee_id"].is_null() || c["admin_assignee_id"].is_u64(), "{c}");
    }
    // Ratings: exactly the rated conversations, statistics null exactly where nothing happened.
    let rated: Vec<_> = conversations.iter().filter_map(rating_record).collect();
    assert!(!rated.is_empty() && rated.len() < conversations.len());
    assert_eq!(rated.len(), truth.stream(RATINGS).len() + truth.malformed(RATINGS).len());
    assert!(conversations.iter().any(|c| c["statistics"].is_null() && c["state"] == "open"));
    assert!(!truth.malformed(RATINGS).is_empty());
    for id in truth.malformed(RATINGS) {
        assert_eq!(got[id]["conversation_rating"]["rating"], json!("five stars"));
    }

    let contacts = walk(&sim, "/contacts/search", "data", all).await;
    let got = by_id(&contacts);
    let want = truth.stream(CONTACTS);
    assert_eq!(got.len(), want.len() + truth.malformed(CONTACTS).len());
    for (id, record) in want {
        assert_eq!(&got[id], &record.raw, "contact {id}");
    }
    let example: Value = serde_json::from_str(fixtures::CONTACT).unwrap();
    assert_eq!(got["667d60b08a68186f43bafdbf"], example);
    // The contacts the example conversations refer to exist.
    assert!(got.contains_key("667d60bb8a68186f43bafdc5"));
}

/// The cursor belongs in the body: in the URL it is ignored and page 1 comes back.
#[tokio::test]
async fn cursor_in_the_url_returns_the_first_page_again() {
    let sim = IntercomSim::start(options(40)).await.unwrap();
    let first = search(&sim, "/conversations/search", &updated_after(0, 10, None)).await;
    let cursor = first["pages"]["next"]["starting_after"].as_str().unwrap().to_owned();
    assert!(cursor.starts_with("Wz"));
    let url = format!("{}/conversations/search?starting_after={cursor}", sim.base_url());
    let again: Value = client()
        .post(url)
        .bearer_auth(TOKEN)
        .json(&updated_after(0, 10, None))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["pages"]["page"], json!(1));
    let ids = |v: &Value| {
        let mut ids: Vec<String> = v["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&again), ids(&first));
    let second = search(&sim, "/conversations/search", &updated_after(0, 10, Some(&cursor))).await;
    assert_eq!(second["pages"]["page"], json!(2));
    assert!(ids(&second).iter().all(|id| !ids(&first).contains(id)));
    // A cursor that is not one is a 400.
    let resp =
        post(&sim, "/conversations/search", &updated_after(0, 10, Some("your-cursor-from-response"))).await;
    assert_eq!(resp.status(), 400);
}

/// Dates match by calendar day in the workspace's zone: `>` starts at the next midnight, so a
/// conversation updated later on the same day as the value is not returned.
#[tokio::test]
async fn date_filters_match_whole_days_in_the_workspace_zone() {
    let sim = IntercomSim::start(options(30)).await.unwrap();
    sim.mutate(Mutation { updates: 5, deletions: 0, creations: 0 });
    let changed: Vec<i64> = walk(
        &sim,
        "/conversations/search",
        "conversations",
        json!({
            "field": "updated_at", "operator": ">", "value": sim.now() - 2 * 86_400,
        }),
    )
    .await
    .iter()
    .map(|c| c["updated_at"].as_i64().unwrap())
    .collect();
    let first_change = *changed.iter().filter(|t| **t > sim.now() - 3_600).min().unwrap();
    // Asking for "after the first change" returns nothing from that (Los Angeles) day.
    let midnight = (first_change - 7 * 3_600).div_euclid(86_400) * 86_400 + 7 * 3_600;
    let after = walk(
        &sim,
        "/conversations/search",
        "conversations",
        json!({
            "field": "updated_at", "operator": ">", "value": first_change,
        }),
    )
    .await;
    assert!(after.iter().all(|c| c["updated_at"].as_i64().unwrap() >= midnight + 86_400));
    // >= on a date is refused, as Intercom documents.
    let resp = post(
        &sim,
        "/conversations/search",
        &json!({
            "query": { "field": "updated_at", "operator": ">=", "value": 0 },
        }),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "error.list");
    // Nesting is limited to two levels.
    let deep = json!({ "query": { "operator": "AND", "value": [{ "operator": "OR", "value": [
        { "operator": "AND", "value": [{ "field": "id", "operator": "=", "value": "1" }] } ] }] } });
    assert_eq!(post(&sim, "/conversations/search", &deep).await.status(), 400);
}

/// Mutations move conversations on: a rating and statistics appear where they were null.
#[tokio::test]
async fn ratings_and_statistics_appear_after_changes() {
    let sim = IntercomSim::start(options(80)).await.unwrap();
    let before = sim.ground_truth();
    sim.mutate(Mutation { updates: 40, deletions: 5, creations: 3 });
    let after = sim.ground_truth();
    let conversations = after.stream(CONVERSATIONS);
    assert_eq!(conversations.len(), before.stream(CONVERSATIONS).len() + 3, "nothing is deleted");
    let newly_rated =
        after.stream(RATINGS).keys().filter(|id| !before.stream(RATINGS).contains_key(*id)).count();
    assert!(newly_rated > 0);
    let filled = before
        .stream(CONVERSATIONS)
        .iter()
        .filter(|(id, r)| r.raw["statistics"].is_null() && !conversations[*id].raw["statistics"].is_null())
        .count();
    assert!(filled > 0);
    let rated = json!({ "operator": "AND", "value": [
        { "field": "updated_at", "operator": ">", "value": 0 },
        { "field": "conversation_rating.score", "operator": ">", "value": 0 },
    ] });
    let found = walk(&sim, "/conversations/search", "conversations", rated).await;
    assert_eq!(found.len(), after.stream(RATINGS).len());
}

/// Every authenticated answer says how much of the 10-second window is left and when it ends
/// (an absolute Unix time); past the limit comes a 429 `rate_limit_exceeded`, no Retry-After.
/// Bad credentials get the official 401 without rate-limit headers.
#[tokio::test]
async fn ten_second_windows_with_an_absolute_reset() {
    let mut o = options(10);
    o.window_limit = 3;
    let sim = IntercomSim::start(o).await.unwrap();
    let now = || SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    // Start at the beginning of a window so that all four requests fall in it.
    while now() % 10 > 6 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let resp = post(&sim, "/conversations/search", &updated_after(0, 5, None)).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-ratelimit-limit"], "3");
        let reset: u64 = resp.headers()["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
        assert!(reset > now() && reset <= now() + 10 && reset.is_multiple_of(10), "{reset}");
        remaining.push(resp.headers()["x-ratelimit-remaining"].to_str().unwrap().to_owned());
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let resp = post(&sim, "/contacts/search", &updated_after(0, 5, None)).await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().get("retry-after").is_none());
    assert_eq!(resp.headers()["x-ratelimit-remaining"], "0");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "rate_limit_exceeded");
    assert_eq!(body["errors"][0]["message"], "Exceeded rate limit of 3 in 10_seconds");

    let resp = client()
        .post(format!("{}/conversations/search", sim.base_url()))
        .bearer_auth("wrong")
        .json(&updated_after(0, 5, None))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().get("x-ratelimit-limit").is_none());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, serde_json::from_str::<Value>(fixtures::ERROR_401).unwrap());
}
