//! The SendGrid simulator over HTTP: bare-array stats, the official examples, the rate-limit
//! headers and the official 429, the errors of bad requests and credentials.

#![allow(clippy::unwrap_used)]

use std::time::{SystemTime, UNIX_EPOCH};

use engage_sandbox::sendgrid::{CATEGORY_EXAMPLE, ERROR_429, GLOBAL_EXAMPLE, SendGridOptions, SendGridSim};
use serde_json::Value;

async fn get(sim: &SendGridSim, path: &str, key: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", sim.base_url()))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    (status, headers, body)
}

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.parse().ok()
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test]
async fn official_examples_paging_and_rate_limit() {
    let mut o = SendGridOptions::new(4, 10);
    o.requests_per_minute = 4;
    let key = o.api_key.clone();
    let sim = SendGridSim::start(o).await.unwrap();

    let (status, headers, body) =
        get(&sim, "/v3/stats?start_date=2015-11-03&end_date=2015-11-09", &key).await;
    assert_eq!(status, 200);
    assert_eq!(body, serde_json::from_str::<Value>(GLOBAL_EXAMPLE).unwrap());
    assert_eq!(
        (header(&headers, "x-ratelimit-limit"), header(&headers, "x-ratelimit-remaining")),
        (Some(4), Some(3))
    );
    let reset = header(&headers, "x-ratelimit-reset").unwrap();
    assert!((unix_now() + 55..=unix_now() + 61).contains(&reset), "{reset}");

    let (_, _, page) =
        get(&sim, "/v3/stats?start_date=2015-11-01&end_date=2015-11-09&limit=3&offset=5", &key).await;
    let dates: Vec<&str> = page.as_array().unwrap().iter().map(|d| d["date"].as_str().unwrap()).collect();
    assert_eq!(dates, ["2015-11-08", "2015-11-09"], "the account starts on 2015-11-03");

    let query = "categories=docs&categories=mattscategory&aggregated_by=month&start_date=2015-10-01&end_date=2015-11-01";
    let (status, _, body) = get(&sim, &format!("/v3/categories/stats?{query}"), &key).await;
    assert_eq!(status, 200);
    assert_eq!(body, serde_json::from_str::<Value>(CATEGORY_EXAMPLE).unwrap());

    // The fifth request of the minute: the official 429, with the headers of the docs.
    let (status, headers, body) = get(&sim, "/v3/stats?start_date=2015-11-03", &key).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-ratelimit-remaining"), Some(0));
    let (status, headers, body429) = get(&sim, "/v3/stats?start_date=2015-11-03", &key).await;
    assert_eq!(status, 429);
    assert_eq!(body429, serde_json::from_str::<Value>(ERROR_429).unwrap());
    assert_eq!(
        (header(&headers, "x-ratelimit-limit"), header(&headers, "x-ratelimit-remaining")),
        (Some(4), Some(0))
    );
    let reset = header(&headers, "x-ratelimit-reset").unwrap();
    assert!((unix_now()..=unix_now() + 61).contains(&reset), "{reset}");
    assert!(headers.get("retry-after").is_none(), "SendGrid sends no Retry-After");
    assert!(body.as_array().unwrap().len() > 3000, "every day since 2015-11-03");
}

#[tokio::test]
async fn bad_requests_and_credentials() {
    let o = SendGridOptions::new(4, 10);
    let key = o.api_key.clone();
    let sim = SendGridSim::start(o).await.unwrap();
    let (status, _, body) = get(&sim, "/v3/stats", &key).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        serde_json::json!({ "errors": [{ "field": "start_date", "message": "missing required argument" }] })
    );
    let (status, _, body) = get(&sim, "/v3/categories/stats?start_date=2024-01-01", &key).await;
    assert_eq!((status, body["errors"][0]["field"].as_str()), (400, Some("categories")));
    let (status, _, _) = get(&sim, "/v3/categories/stats?start_date=2024-01-01&categories=nope", &key).await;
    assert_eq!(status, 404);
    let (status, _, body) = get(&sim, "/v3/stats?start_date=2024-01-01", "SG.wrong").await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        serde_json::json!({ "errors": [{ "field": null, "message": "authorization required" }] })
    );
    // Categories by day: one stats object per requested category, in the order asked.
    let (status, _, body) = get(
        &sim,
        "/v3/categories/stats?start_date=2025-05-30&categories=receipts&categories=newsletter",
        &key,
    )
    .await;
    assert_eq!(status, 200);
    let days = body.as_array().unwrap();
    assert_eq!(days.len(), 3);
    let names: Vec<&str> =
        days[0]["stats"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["receipts", "newsletter"]);
    assert_eq!(days[0]["stats"][0]["type"], "category");
    assert_eq!(days[0]["stats"][0]["metrics"].as_object().unwrap().len(), 16);
}
