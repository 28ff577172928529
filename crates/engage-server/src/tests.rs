//! The server over real HTTP on 127.0.0.1 against a throwaway SQLite store.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::net::SocketAddr;
use std::sync::Arc;

use engage_config::Secret;
use engage_model::{Identity, Record};
use engage_store::testing::{TestStore, fresh_store};
use engage_store::{Backend, PageWrite};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::*;

const TOKEN: &str = "a-token-of-32-characters-length!";

async fn store_with_people() -> TestStore {
    let test = fresh_store(Backend::Sqlite).await;
    let people = [
        ("1", "ann@example.com", "<script>alert('x')</script>"),
        ("2", "bob+tag@example.com", "Bob & \"Co\""),
    ];
    let records: Vec<Record> = people
        .iter()
        .map(|(id, email, name)| {
            let raw = serde_json::value::to_raw_value(&serde_json::json!({ "id": id })).unwrap();
            Record::new(
                *id,
                raw,
                Identity { email: Some((*email).into()), name: Some((*name).into()), ..Identity::default() },
            )
        })
        .collect();
    let page = PageWrite { records: &records, quarantined: &[], checkpoint: None, run_id: None };
    test.store.commit_page("crm", "contacts", page).await.unwrap();
    engage_metrics::customers::link(&test.store).await.unwrap();
    test
}

async fn start(
    test: &TestStore,
    token: Option<&str>,
    prometheus: Option<Prometheus>,
) -> (SocketAddr, CancellationToken) {
    let stop = CancellationToken::new();
    let options = ServerOptions {
        store: test.store.clone(),
        api_token: token.map(Secret::new),
        prometheus,
        webhooks: None,
    };
    let (addr, _task) = serve("127.0.0.1:0".parse().unwrap(), options, stop.clone()).await.unwrap();
    (addr, stop)
}

async fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String, String) {
    let mut request = reqwest::Client::new().get(format!("http://{addr}{path}"));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let kind =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, kind, response.text().await.unwrap())
}

#[test]
fn only_loopback_listens_without_a_token() {
    let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
    let err = check_listen(any, None).unwrap_err().to_string();
    assert!(err.starts_with("refusing to listen on 0.0.0.0:8080 without an API token"), "{err}");
    assert!(matches!(check_listen("[::]:1".parse().unwrap(), None), Err(ServeError::TokenRequired(_))));
    assert!(check_listen("127.0.0.1:8080".parse().unwrap(), None).is_ok());
    assert!(check_listen("[::1]:8080".parse().unwrap(), None).is_ok());
    assert!(check_listen(any, Some(&Secret::new(TOKEN))).is_ok());
    assert!(matches!(check_listen(any, Some(&Secret::new("short"))), Err(ServeError::WeakToken)));
    let options = format!("{:?}", Secret::new(TOKEN));
    assert!(!options.contains(TOKEN));
}

#[tokio::test]
async fn a_configured_token_is_required_by_every_request() {
    let test = store_with_people().await;
    let render: Prometheus = Arc::new(|| "engage_up 1\n".to_owned());
    let (addr, stop) = start(&test, Some(TOKEN), Some(render)).await;
    for path in [
        "/",
        "/healthz",
        "/openapi.json",
        "/api/metrics",
        "/api/status",
        "/customers",
        "/metrics",
        "/nowhere",
    ] {
        let (status, _, body) = get(addr, path, None).await;
        assert_eq!(status, 401, "{path} without a token");
        assert!(!body.contains(TOKEN));
        assert_eq!(
            get(addr, path, Some("a-token-of-32-characters-length?")).await.0,
            401,
            "{path}: wrong token"
        );
    }
    assert_eq!(get(addr, "/healthz", Some(TOKEN)).await.0, 200);
    let (status, kind, body) = get(addr, "/metrics", Some(TOKEN)).await;
    assert_eq!(
        (status, kind.as_str(), body.as_str()),
        (200, "text/plain; version=0.0.4; charset=utf-8", "engage_up 1\n")
    );
    let (_, _, spec) = get(addr, "/openapi.json", Some(TOKEN)).await;
    let spec: Value = serde_json::from_str(&spec).unwrap();
    assert_eq!(spec["security"][0]["bearer"], serde_json::json!([]));
    assert!(spec["paths"]["/metrics"].is_object());
    stop.cancel();
}

#[tokio::test]
async fn outside_text_is_escaped_on_every_page() {
    let test = store_with_people().await;
    let (addr, stop) = start(&test, None, None).await;
    let (status, kind, list) = get(addr, "/customers", None).await;
    assert_eq!((status, kind.as_str()), (200, "text/html; charset=utf-8"));
    assert!(!list.contains("<script>"), "{list}");
    assert!(list.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(list.contains("Bob &amp; &quot;Co&quot;"));
    assert!(
        list.contains(r#"<a href="/customers/bob%2Btag@example.com" data-customer="bob+tag@example.com">"#)
    );
    let (status, _, page) = get(addr, "/customers/bob%2Btag@example.com", None).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(r#"<h1 data-customer="bob+tag@example.com">"#));
    assert!(page.contains("<li>crm id 2</li>"));
    let (status, _, missing) = get(addr, "/customers/%3Cscript%3E@example.com", None).await;
    assert_eq!(status, 404);
    assert!(!missing.contains("<script>"));
    let (status, _, search) = get(addr, "/customers?q=%3Cscript", None).await;
    assert_eq!(status, 200);
    assert!(search.contains(r#"value="&lt;script""#) && search.contains("data-value=\"1\""), "{search}");
    stop.cancel();
}

#[tokio::test]
async fn json_endpoints_mirror_the_commands() {
    let test = store_with_people().await;
    let (addr, stop) = start(&test, None, None).await;
    let json = |text: &str| serde_json::from_str::<Value>(text).unwrap();

    let (status, _, body) = get(addr, "/api/customers?limit=1&offset=1", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        json(&body),
        serde_json::json!({"total": 2, "offset": 1, "limit": 1, "customers": [
            {"customer_id": 2, "email": "bob+tag@example.com", "name": "Bob & \"Co\""}
        ]})
    );
    let (status, _, body) = get(addr, "/api/customers/ANN@example.com", None).await;
    assert_eq!(status, 200);
    let ann = json(&body);
    assert_eq!(ann["email"], "ann@example.com");
    assert_eq!(ann["timeline"], serde_json::json!([]));
    assert_eq!(ann["score"]["total"], Value::Null);

    let (status, _, body) =
        get(addr, "/api/metrics/csat?from=2024-03-01&to=2024-03-15&by=week&compare=true", None).await;
    assert_eq!(status, 200);
    let report = json(&body);
    assert_eq!(report["metric"], "csat");
    assert_eq!(report["total"]["bucket"], "2024-03-01..2024-03-15");
    assert_eq!(report["total"]["value"], Value::Null, "no surveys: no value, not 0");
    let buckets: Vec<&str> =
        report["buckets"].as_array().unwrap().iter().map(|b| b["bucket"].as_str().unwrap()).collect();
    assert_eq!(buckets, ["2024-W09", "2024-W10", "2024-W11"]);
    assert_eq!(report["previous"]["bucket"], "2024-02-16..2024-03-01");

    let (status, _, body) = get(addr, "/api/metrics/overview?from=2024-03-01&to=2024-03-15", None).await;
    assert_eq!(status, 200);
    let names: Vec<String> =
        json(&body).as_array().unwrap().iter().map(|r| r["metric"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, engage_metrics::OVERVIEW);

    assert_eq!(
        json(&get(addr, "/api/metrics", None).await.2).as_array().unwrap().len(),
        engage_metrics::METRICS.len()
    );
    assert_eq!(get(addr, "/api/status", None).await.2, "[]");
    assert_eq!(get(addr, "/api/status/runs?limit=5", None).await.2, "[]");
    assert_eq!(get(addr, "/healthz", None).await.2, r#"{"status":"ok"}"#);

    for (path, status, message) in [
        ("/api/metrics/nope", 404, "unknown metric `nope`"),
        ("/api/metrics/csat?from=2024-02-30", 400, "`from` must be a date"),
        ("/api/metrics/overview?tz=Nowhere", 400, "unknown time zone"),
        ("/api/customers?limit=0", 400, "`limit` must be a whole number from 1 to 500"),
        ("/api/customers/nobody@example.com", 404, "no customer is known by this email"),
        ("/api/status/runs?limit=x", 400, "`limit`"),
        ("/metrics", 404, "/metrics is served by `engage run --serve`"),
        ("/nowhere", 404, "no such endpoint"),
    ] {
        let (got, kind, body) = get(addr, path, None).await;
        assert_eq!((got, kind.as_str()), (status, "application/json"), "{path}: {body}");
        assert!(json(&body)["error"].as_str().unwrap().contains(message), "{path}: {body}");
    }
    let (_, _, spec) = get(addr, "/openapi.json", None).await;
    let spec = json(&spec);
    assert_eq!(spec["openapi"], "3.1.0");
    assert!(spec.get("security").is_none() && spec["paths"].get("/metrics").is_none());
    stop.cancel();
}

#[tokio::test]
async fn the_overview_page_draws_a_chart_per_metric() {
    let test = store_with_people().await;
    let (addr, stop) = start(&test, None, None).await;
    let (status, _, page) = get(addr, "/?from=2024-03-01&to=2024-03-29&by=week", None).await;
    assert_eq!(status, 200);
    assert_eq!(page.matches("<svg class=\"chart\"").count(), engage_metrics::OVERVIEW.len());
    assert!(
        page.contains(r#"data-metric="csat" data-point="total" data-value="">—</span>"#),
        "empty values stay empty"
    );
    assert!(page.contains("<meta name=\"viewport\""));
    let (status, _, bad) = get(addr, "/?by=fortnight", None).await;
    assert_eq!(status, 400);
    assert!(bad.contains("unknown grouping `fortnight`"));
    stop.cancel();
}

#[tokio::test]
async fn webhooks_are_merged_outside_the_token() {
    let test = store_with_people().await;
    let stop = CancellationToken::new();
    let webhooks =
        Router::new().route("/webhooks/probe/{name}", axum::routing::post(|| async { StatusCode::ACCEPTED }));
    let options = ServerOptions {
        store: test.store.clone(),
        api_token: Some(Secret::new(TOKEN)),
        prometheus: None,
        webhooks: Some(webhooks),
    };
    let (addr, _task) = serve("127.0.0.1:0".parse().unwrap(), options, stop.clone()).await.unwrap();
    let posted = reqwest::Client::new().post(format!("http://{addr}/webhooks/probe/x")).send().await.unwrap();
    assert_eq!(posted.status().as_u16(), 202, "the receiver authenticates its callers itself");
    assert_eq!(get(addr, "/api/customers", None).await.0, 401);
    stop.cancel();
}
