//! The Help Scout simulator over real HTTP on loopback.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use engage_sandbox::helpscout::{
    ERROR_400_VALIDATION, HAPPINESS_RATINGS, HelpScoutOptions, HelpScoutSim, PAGINATION,
};
use engage_sandbox::{Faults, Mutation};
use serde_json::Value;

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().pool_max_idle_per_host(0).build().unwrap()
}

async fn token(base: &str, o: &HelpScoutOptions) -> String {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", o.client_id.as_str()),
        ("client_secret", o.client_secret.as_str()),
    ];
    let resp = client().post(format!("{base}/v2/oauth2/token")).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], o.token_lifetime);
    body["access_token"].as_str().unwrap().to_owned()
}

async fn get(url: &str, token: &str) -> reqwest::Response {
    client().get(url).bearer_auth(token).send().await.unwrap()
}

async fn get_json(url: &str, token: &str) -> Value {
    let resp = get(url, token).await;
    assert_eq!(resp.status(), 200, "{url}");
    resp.json().await.unwrap()
}

/// Follows `_links.next` from `url`; returns the records under `_embedded.{key}`.
async fn walk(url: &str, token: &str, key: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut url = Some(url.to_owned());
    while let Some(u) = url {
        let page = get_json(&u, token).await;
        all.extend(page["_embedded"][key].as_array().unwrap().iter().cloned());
        url = page["_links"]["next"]["href"].as_str().map(str::to_owned);
    }
    all
}

#[tokio::test]
async fn oauth2_client_credentials_and_token_expiry() {
    let mut o = HelpScoutOptions::unlimited();
    o.token_uses = Some(2);
    let sim = HelpScoutSim::start(o.clone()).await.unwrap();
    let base = sim.base_url();
    let t = token(&base, &o).await;
    let me = format!("{base}/v2/users/me");
    assert_eq!(get(&me, &t).await.status(), 200);
    assert_eq!(get(&me, &t).await.status(), 200);
    assert_eq!(get(&me, &t).await.status(), 401, "the token served its two requests");
    let t = token(&base, &o).await;
    sim.simulator().expire_tokens();
    let resp = get(&me, &t).await;
    assert_eq!(resp.status(), 401);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("application/vnd.error+json"));
    assert_eq!(sim.simulator().tokens_issued(), 2);
    // A JSON body is refused (send a form); so is a wrong secret.
    let json_body = client()
        .post(format!("{base}/v2/oauth2/token"))
        .json(&serde_json::json!({ "grant_type": "client_credentials" }))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), 400);
    let wrong = [("grant_type", "client_credentials"), ("client_id", "x"), ("client_secret", "y")];
    let resp = client().post(format!("{base}/v2/oauth2/token")).form(&wrong).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(get(&me, "made-up").await.status(), 401);
}

#[tokio::test]
async fn conversations_default_to_active_and_page_as_hal() {
    let o = HelpScoutOptions::unlimited();
    let sim = HelpScoutSim::start(HelpScoutOptions {
        sim: engage_sandbox::SimConfig { records: 120, ..o.sim.clone() },
        ..o.clone()
    })
    .await
    .unwrap();
    sim.mutate(Mutation { updates: 10, deletions: 6, creations: 2 });
    let base = sim.base_url();
    let t = token(&base, &o).await;
    let active = walk(&format!("{base}/v2/conversations"), &t, "conversations").await;
    let all = walk(&format!("{base}/v2/conversations?status=all"), &t, "conversations").await;
    assert_eq!(all.len(), 122);
    assert!(active.len() < all.len() / 2, "{} active of {}", active.len(), all.len());
    assert!(active.iter().all(|c| c["status"] == "active"));
    let created: Vec<&str> = all.iter().map(|c| c["createdAt"].as_str().unwrap()).collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "createdAt desc by default");
    assert!(all.iter().all(|c| c.get("_embedded").is_none()), "threads only with embed=threads");
    let truth = sim.ground_truth();
    for c in walk(&format!("{base}/v2/conversations?status=all&embed=threads"), &t, "conversations").await {
        assert_eq!(truth.stream("conversations")[&c["id"].to_string()].raw, c);
    }

    // The page shape is the documented one; the last page has no `next`.
    let page = get_json(&format!("{base}/v2/conversations?status=all&page=2"), &t).await;
    let doc: Value = serde_json::from_str(PAGINATION).unwrap();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&page["page"]), keys(&doc["page"]));
    assert_eq!(keys(&page["_links"]), keys(&doc["_links"]));
    assert_eq!(page["page"]["size"], 25);
    assert_eq!(page["page"]["totalElements"], 122);
    let last = get_json(&format!("{base}/v2/conversations?status=all&page=5"), &t).await;
    assert!(last["_links"].get("next").is_none());

    // modifiedSince is inclusive and refuses fractional seconds, in the documented error shape.
    let newest = all.iter().map(|c| c["userUpdatedAt"].as_str().unwrap()).max().unwrap().to_owned();
    let since =
        walk(&format!("{base}/v2/conversations?status=all&modifiedSince={newest}"), &t, "conversations")
            .await;
    assert!(!since.is_empty());
    let resp = get(&format!("{base}/v2/conversations?modifiedSince=2025-01-01T00:00:00.5Z"), &t).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    let official: Value = serde_json::from_str(ERROR_400_VALIDATION).unwrap();
    assert_eq!(keys(&body), keys(&official));
    assert_eq!(body["_embedded"]["errors"][0]["path"], "modifiedSince");
}

#[tokio::test]
async fn rate_limit_headers_date_and_ratings_report() {
    let mut o = HelpScoutOptions::new(3, 90);
    o.per_minute = 3;
    let sim = HelpScoutSim::start(o.clone()).await.unwrap();
    let base = sim.base_url();
    let t = token(&base, &o).await;
    let url =
        format!("{base}/v2/reports/happiness/ratings?start=2000-01-01T00:00:00Z&end=2030-01-01T00:00:00Z");
    let resp = get(&url, &t).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-ratelimit-limit-minute"], "3");
    assert_eq!(resp.headers()["x-ratelimit-remaining-minute"], "2");
    assert_eq!(resp.headers()["date"], "Sun, 01 Jun 2025 00:00:00 GMT", "the simulator's clock");
    let report: Value = resp.json().await.unwrap();
    let official: Value = serde_json::from_str(HAPPINESS_RATINGS).unwrap();
    assert_eq!(report["results"][0], official["results"][0]);
    assert_eq!(report["count"], 31);
    assert_eq!(report["pages"], 1);
    assert_eq!(
        get(&format!("{base}/v2/reports/happiness/ratings?start=2000-01-01T00:00:00Z"), &t).await.status(),
        400
    );
    get(&url, &t).await;
    get(&url, &t).await;
    let limited = get(&url, &t).await;
    assert_eq!(limited.status(), 429);
    let wait: u64 = limited.headers()["x-ratelimit-retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait));
    assert!(limited.headers().get("retry-after").is_none());
    sim.simulator().reset_rate_limits();
    sim.set_all_faults(Faults { throttle_rate: 1.0, throttle_retry_after: None, ..Faults::default() });
    let injected = get(&url, &t).await;
    assert_eq!(injected.status(), 429);
    assert!(injected.headers().get("x-ratelimit-retry-after").is_none());
}
