//! The LiveAgent simulator over real HTTP on loopback.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;

use engage_sandbox::liveagent::{CONTACTS, LiveAgentOptions, LiveAgentSim, TICKETS, local, parse_local};
use engage_sandbox::{Faults, Mutation};
use serde_json::Value;

const KEY: &str = "sandbox-liveagent-key";

fn options(records: usize) -> LiveAgentOptions {
    let mut o = LiveAgentOptions::unlimited();
    o.sim.seed = 9;
    o.sim.records = records;
    o
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().pool_max_idle_per_host(0).build().unwrap()
}

async fn get(sim: &LiveAgentSim, path: &str, query: &[(&str, &str)]) -> reqwest::Response {
    client().get(format!("{}{path}", sim.base_url())).header("apikey", KEY).query(query).send().await.unwrap()
}

async fn page(sim: &LiveAgentSim, path: &str, query: &[(&str, &str)]) -> Vec<Value> {
    let resp = get(sim, path, query).await;
    assert_eq!(resp.status(), 200, "{path} {query:?}");
    resp.json().await.unwrap()
}

/// Pages of `per_page` until a short one.
async fn walk(sim: &LiveAgentSim, path: &str, extra: &[(&str, &str)], per_page: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for p in 1.. {
        let p = p.to_string();
        let n = per_page.to_string();
        let mut query = vec![("_page", p.as_str()), ("_perPage", n.as_str())];
        query.extend_from_slice(extra);
        let items = page(sim, path, &query).await;
        let len = items.len();
        out.extend(items);
        if len < per_page {
            break;
        }
    }
    out
}

/// A walk in `date_changed` order equals the ground truth; deleted tickets come with status `X`
/// and `date_deleted`; ids are short alphanumeric strings; times are zone-less local strings.
#[tokio::test]
async fn walk_equals_ground_truth_with_deletions() {
    let sim = LiveAgentSim::start(options(70)).await.unwrap();
    sim.set_all_faults(Faults { malformed_rate: 0.1, ..Faults::default() });
    sim.mutate(Mutation { updates: 10, deletions: 4, creations: 5 });
    let truth = sim.ground_truth();
    let sort = [("_sortField", "date_changed"), ("_sortDir", "ASC")];
    let tickets = walk(&sim, "/api/v3/tickets", &sort, 9).await;
    let got: BTreeMap<String, Value> =
        tickets.iter().map(|t| (t["id"].as_str().unwrap().to_owned(), t.clone())).collect();
    assert_eq!(got.len(), tickets.len(), "no repeats");
    assert_eq!(got.len(), truth.stream(TICKETS).len() + truth.malformed(TICKETS).len());
    for (id, record) in truth.stream(TICKETS) {
        assert_eq!(got[id], record.raw, "{id}");
        assert_eq!(record.deleted, record.raw["status"] == "X");
        assert_eq!(record.deleted, record.raw["date_deleted"].is_string());
        assert_eq!(id.len(), 8);
        assert!(record.raw["date_created"].as_str().unwrap().len() == 19);
    }
    assert_eq!(tickets.iter().filter(|t| t["status"] == "X").count(), 4);
    let changed: Vec<&str> = tickets.iter().filter_map(|t| t["date_changed"].as_str()).collect();
    let tz = sim.simulator().time_zone();
    let times: Vec<i64> = changed.iter().filter_map(|c| parse_local(c, tz)).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "date_changed order");

    let contacts = walk(&sim, "/api/v3/contacts", &[], 10).await;
    assert_eq!(contacts.len(), truth.stream(CONTACTS).len() + truth.malformed(CONTACTS).len());
}

/// `D>=` filters take local times; other columns cannot be filtered; a page beyond the end is
/// empty; `_perPage` above 100 is cut to 100.
#[tokio::test]
async fn filters_sorting_and_pages() {
    let sim = LiveAgentSim::start(options(250)).await.unwrap();
    let tz = sim.simulator().time_zone();
    let since = local(sim.now() - 30 * 86_400, tz);
    let filter = format!(r#"[["date_changed","D>=","{since}"]]"#);
    let recent =
        walk(&sim, "/api/v3/tickets", &[("_filters", &filter), ("_sortField", "date_changed")], 5).await;
    assert!(!recent.is_empty());
    let bound = parse_local(&since, tz).unwrap();
    assert!(recent.iter().all(|t| parse_local(t["date_changed"].as_str().unwrap(), tz).unwrap() >= bound));
    let all = walk(&sim, "/api/v3/tickets", &[], 50).await;
    let expected =
        all.iter().filter(|t| parse_local(t["date_changed"].as_str().unwrap(), tz).unwrap() >= bound).count();
    assert_eq!(recent.len(), expected);

    let resp = get(&sim, "/api/v3/tickets", &[("_filters", r#"{"owner_email":"a@b.c"}"#)]).await;
    assert_eq!(resp.status(), 400);
    let big = page(&sim, "/api/v3/tickets", &[("_perPage", "500")]).await;
    assert_eq!(big.len(), 100);
    let beyond = page(&sim, "/api/v3/tickets", &[("_page", "99"), ("_perPage", "50")]).await;
    assert!(beyond.is_empty());
    let open = page(&sim, "/api/v3/tickets", &[("_filters", r#"{"status":"C"}"#), ("_perPage", "100")]).await;
    assert!(!open.is_empty() && open.iter().all(|t| t["status"] == "C"));
}

/// Local times follow the zone's daylight-saving changes: a repeated hour means its first
/// occurrence, a skipped hour the time after the gap.
#[test]
fn local_times_across_dst() {
    let tz: chrono_tz::Tz = "Europe/Bratislava".parse().unwrap();
    // 2025-10-26 00:30 UTC is 02:30 CEST; an hour later it is 02:30 CET again.
    assert_eq!(local(1_761_438_600, tz), "2025-10-26 02:30:00");
    assert_eq!(local(1_761_442_200, tz), "2025-10-26 02:30:00");
    assert_eq!(parse_local("2025-10-26 02:30:00", tz), Some(1_761_438_600));
    // 2025-03-30 02:30 does not exist in Bratislava: it is read as 03:30 CEST = 01:30 UTC.
    assert_eq!(parse_local("2025-03-30 02:30:00", tz), Some(1_743_298_200));
    assert_eq!(parse_local("2025-01-15 12:00:00", tz), Some(1_736_938_800));
    assert_eq!(parse_local("not a date", tz), None);
}

/// 180 requests a minute per API key, then a 429; a wrong key is a 401.
#[tokio::test]
async fn one_hundred_eighty_requests_a_minute_per_key() {
    let sim = LiveAgentSim::start(LiveAgentOptions::new(1, 5)).await.unwrap();
    for _ in 0..180 {
        assert_eq!(get(&sim, "/api/v3/tickets", &[("_perPage", "1")]).await.status(), 200);
    }
    let resp = get(&sim, "/api/v3/tickets", &[("_perPage", "1")]).await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().get("retry-after").is_some());
    let resp = client()
        .get(format!("{}/api/v3/tickets", sim.base_url()))
        .header("apikey", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}
