//! The Freshdesk simulator over real HTTP on loopback.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeSet;

use engage_sandbox::freshdesk::{
    CONVERSATIONS, ERROR_400_PAGE_BEYOND_300, FreshdeskOptions, FreshdeskSim, SATISFACTION_RATINGS, TICKET,
};
use engage_sandbox::{Faults, Mutation, Sandbox, SandboxOptions};
use serde_json::Value;

const SINCE: &str = "updated_since=2000-01-01T00:00:00Z&order_by=updated_at&order_type=asc";

fn options(records: usize) -> FreshdeskOptions {
    let mut o = FreshdeskOptions::unlimited();
    o.sim.seed = 5;
    o.sim.records = records;
    o
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().pool_max_idle_per_host(0).build().unwrap()
}

async fn get(url: &str) -> reqwest::Response {
    client()
        .get(url)
        .header("Authorization", FreshdeskOptions::default().authorization())
        .send()
        .await
        .unwrap()
}

async fn get_json(url: &str) -> (reqwest::header::HeaderMap, Value) {
    let resp = get(url).await;
    assert_eq!(resp.status(), 200, "{url}");
    let headers = resp.headers().clone();
    (headers, resp.json().await.unwrap())
}

fn next(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let link = headers.get("link")?.to_str().unwrap();
    let url = link.strip_prefix('<')?.split_once(">; rel=\"next\"")?.0;
    Some(url.to_owned())
}

/// Walks the `Link` headers from `url`; returns every record and the number of pages.
async fn walk(url: &str) -> (Vec<Value>, usize) {
    let (mut all, mut pages) = (Vec::new(), 0);
    let mut url = Some(url.to_owned());
    while let Some(u) = url {
        let (headers, page) = get_json(&u).await;
        all.extend(page.as_array().unwrap().iter().cloned());
        pages += 1;
        url = next(&headers);
    }
    (all, pages)
}

fn fixture(json: &str) -> Value {
    serde_json::from_str(json).unwrap()
}

fn ids(records: &[Value]) -> BTreeSet<String> {
    records.iter().map(|r| r["id"].to_string()).collect()
}

#[tokio::test]
async fn ticket_list_default_window_order_paging_and_filters() {
    let sim = FreshdeskSim::start(options(600)).await.unwrap();
    let base = format!("{}/api/v2/tickets", sim.base_url());

    // No updated_since: only tickets created in the last 30 days, newest first.
    let (recent, _) = walk(&format!("{base}?per_page=100")).await;
    assert!(!recent.is_empty() && recent.len() < 60, "{}", recent.len());
    let created: Vec<&str> = recent.iter().map(|t| t["created_at"].as_str().unwrap()).collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "created_at desc by default");

    // updated_since, ascending by updated_at: everything, the official example first, seven
    // pages with a Link header on all but the last.
    let (all, pages) = walk(&format!("{base}?{SINCE}&per_page=100&include=requester,stats")).await;
    assert_eq!((all.len(), pages), (601, 7));
    assert_eq!(all[0], fixture(TICKET), "the official example, verbatim");
    let updated: Vec<&str> = all.iter().map(|t| t["updated_at"].as_str().unwrap()).collect();
    assert!(updated.windows(2).all(|w| w[0] <= w[1]));
    assert!(all[1..].iter().all(|t| t["stats"].is_object() && t["requester"]["email"].is_string()));
    let (bare, _) = walk(&format!("{base}?{SINCE}&per_page=100")).await;
    assert!(bare[1..].iter().all(|t| t.get("stats").is_none() && t.get("requester").is_none()));

    // Deleted and spam tickets leave the default list for their own filters.
    sim.mutate(Mutation { updates: 0, deletions: 30, creations: 0 });
    let (live, _) = walk(&format!("{base}?{SINCE}&per_page=100")).await;
    let (deleted, _) = walk(&format!("{base}?{SINCE}&per_page=100&filter=deleted")).await;
    let (spam, _) = walk(&format!("{base}?{SINCE}&per_page=100&filter=spam")).await;
    assert_eq!(live.len() + deleted.len() + spam.len(), 601);
    assert!(!deleted.is_empty() && !spam.is_empty());
    assert!(deleted.iter().all(|t| t["deleted"] == true && t["spam"] == false));
    assert!(spam.iter().all(|t| t["spam"] == true && t.get("deleted").is_none()));
    let truth = sim.ground_truth();
    let removed: BTreeSet<String> =
        truth.stream("tickets").iter().filter(|(_, r)| r.deleted).map(|(id, _)| id.clone()).collect();
    let listed: BTreeSet<String> = ids(&deleted).union(&ids(&spam)).cloned().collect();
    assert_eq!(listed, removed);

    // Bad parameters are Freshdesk's validation errors.
    for query in
        ["per_page=101", "updated_since=yesterday", "order_by=priority", "include=company", "filter=all"]
    {
        let resp = get(&format!("{base}?{query}")).await;
        assert_eq!(resp.status(), 400, "{query}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["description"], "Validation failed", "{query}");
        assert_eq!(body["errors"][0]["code"], "invalid_value", "{query}");
    }
}

#[tokio::test]
async fn pages_beyond_the_cap_are_the_official_400() {
    let sim = FreshdeskSim::start(options(40)).await.unwrap();
    let base = format!("{}/api/v2/tickets?{SINCE}&per_page=10", sim.base_url());
    let (_, page_300) = get_json(&format!("{base}&page=300")).await;
    assert_eq!(page_300, Value::Array(Vec::new()));
    let resp = get(&format!("{base}&page=301")).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap(), fixture(ERROR_400_PAGE_BEYOND_300));
}

/// Credits: one per request plus one per `include`; the headers say so; over the limit a 429
/// with `Retry-After` (or without it when the faults say so).
#[tokio::test]
async fn credits_headers_and_429s() {
    let mut o = options(30);
    o.credits_per_minute = 10;
    let sim = FreshdeskSim::start(o).await.unwrap();
    let url = format!("{}/api/v2/tickets?{SINCE}&include=requester,stats", sim.base_url());
    let (headers, _) = get_json(&url).await;
    let header = |h: &reqwest::header::HeaderMap, name: &str| h[name].to_str().unwrap().to_owned();
    assert_eq!(header(&headers, "x-ratelimit-total"), "10");
    assert_eq!(header(&headers, "x-ratelimit-used-currentrequest"), "3");
    assert_eq!(header(&headers, "x-ratelimit-remaining"), "7");
    let (headers, _) = get_json(&format!("{}/api/v2/contacts", sim.base_url())).await;
    assert_eq!(header(&headers, "x-ratelimit-used-currentrequest"), "1");
    assert_eq!(header(&headers, "x-ratelimit-remaining"), "6");
    get_json(&url).await;
    let resp = get(&url).await; // 3 left, 3 asked: admitted
    assert_eq!(resp.status(), 200);
    let resp = get(&url).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(header(resp.headers(), "x-ratelimit-remaining"), "0");
    let wait: u64 = header(resp.headers(), "retry-after").parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    sim.set_all_faults(Faults { throttle_retry_after: None, ..Faults::default() });
    let resp = get(&url).await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().get("retry-after").is_none());
    sim.simulator().reset_rate_limits();
    assert_eq!(get(&url).await.status(), 200);
}

#[tokio::test]
async fn conversations_contacts_ratings_and_auth() {
    let sim = FreshdeskSim::start(options(90)).await.unwrap();
    let base = sim.base_url();
    // The official ticket has the official conversations; an unknown ticket is a 404.
    let (_, conversations) = get_json(&format!("{base}/api/v2/tickets/1/conversations")).await;
    assert_eq!(conversations, fixture(CONVERSATIONS));
    assert_eq!(get(&format!("{base}/api/v2/tickets/9/conversations")).await.status(), 404);
    let (_, generated) = get_json(&format!("{base}/api/v2/tickets/10005/conversations")).await;
    assert!(generated.as_array().unwrap().iter().all(|c| c["ticket_id"] == 10005));

    // Deleted contacts are listed only with state=deleted.
    let (before, _) = walk(&format!("{base}/api/v2/contacts?per_page=100")).await;
    sim.mutate(Mutation { updates: 0, deletions: 4, creations: 2 });
    let (live, _) = walk(&format!("{base}/api/v2/contacts?per_page=100")).await;
    let (deleted, _) = walk(&format!("{base}/api/v2/contacts?per_page=100&state=deleted")).await;
    assert_eq!((live.len(), deleted.len()), (before.len() - 2, 4));
    assert!(deleted.iter().all(|c| c["deleted"] == true));

    // Ratings: filtered on created_since; the official two first, verbatim.
    let (ratings, _) = walk(&format!("{base}/api/v2/surveys/satisfaction_ratings?per_page=100")).await;
    assert_eq!(ratings.len(), 30 + 2 + 2);
    assert_eq!(ratings[..2], fixture(SATISFACTION_RATINGS).as_array().unwrap()[..]);
    let newest = ratings.last().unwrap()["created_at"].as_str().unwrap().to_owned();
    let (latest, _) =
        walk(&format!("{base}/api/v2/surveys/satisfaction_ratings?created_since={newest}")).await;
    assert_eq!(latest.len(), 1, "created_since is inclusive");
    // An edit moves updated_at, not created_at (the filter field).
    let id = latest[0]["id"].as_u64().unwrap();
    assert!(sim.simulator().edit_rating(id, sim.now()));
    let (edited, _) =
        walk(&format!("{base}/api/v2/surveys/satisfaction_ratings?created_since={newest}")).await;
    assert_eq!(edited[0]["created_at"], latest[0]["created_at"]);
    assert_ne!(edited[0]["updated_at"], latest[0]["updated_at"]);

    // Auth: the key is the Basic user name; anything else is Freshdesk's 401.
    let resp =
        client().get(format!("{base}/api/v2/contacts")).basic_auth("nope", Some("X")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], "invalid_credentials");
    let (_, me) = get_json(&format!("{base}/api/v2/agents/me")).await;
    assert_eq!(me["id"], engage_sandbox::freshdesk::AGENT_BASE);
}

/// What the lists serve (with conversations embedded for live tickets) is the ground truth.
#[tokio::test]
async fn served_records_are_the_ground_truth() {
    let sim = FreshdeskSim::start(options(120)).await.unwrap();
    sim.set_all_faults(Faults { malformed_rate: 0.1, ..Faults::default() });
    sim.mutate(Mutation { updates: 10, deletions: 6, creations: 5 });
    let base = sim.base_url();
    let truth = sim.ground_truth();
    let mut served = Vec::new();
    for filter in ["", "&filter=deleted", "&filter=spam"] {
        served
            .extend(walk(&format!("{base}/api/v2/tickets?{SINCE}&include=requester,stats{filter}")).await.0);
    }
    let mut checked = 0;
    for mut ticket in served {
        let id = match &ticket["id"] {
            Value::Number(n) => n.to_string(),
            other => {
                let id = other.as_str().unwrap().trim_start_matches("FD-").to_owned();
                assert!(truth.malformed("tickets").contains(&id));
                continue;
            }
        };
        if truth.malformed("tickets").contains(&id) {
            continue;
        }
        let want = &truth.stream("tickets")[&id];
        if !want.deleted {
            let (_, conversations) =
                get_json(&format!("{base}/api/v2/tickets/{id}/conversations?per_page=100")).await;
            ticket["conversations"] = conversations;
        }
        assert_eq!(ticket, want.raw, "ticket {id}");
        checked += 1;
    }
    assert!(checked > 100, "{checked}");
    let sandbox =
        Sandbox::start(&["freshdesk"], &SandboxOptions { records: 10, ..SandboxOptions::default() })
            .await
            .unwrap();
    assert_eq!(sandbox.get("freshdesk").unwrap().ground_truth().stream("tickets").len(), 11);
}
