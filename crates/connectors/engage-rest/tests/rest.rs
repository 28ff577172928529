//! The rest connector against a small JSON API on 127.0.0.1: pagination styles, auth, the
//! incremental cursor sent back as a parameter, composite ids, quarantine, mid-sync resume.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use engage_connect::{Checkpoint, Connector, ConnectorContext, Page};
use engage_model::Entity;
use engage_rest::Rest;
use futures::StreamExt;
use serde_json::{Value, json};

/// Twelve reviews, `updated` one hour apart; #7 has an unreadable rating.
fn reviews() -> Vec<Value> {
    (1..=12)
        .map(|i| {
            json!({
                "id": i,
                "shop": "north",
                "stars": if i == 7 { json!("five") } else { json!(i % 5 + 1) },
                "body": format!("review {i}"),
                "author": { "name": format!("author {i}") },
                "updated": format!("2024-05-01T{:02}:00:00Z", i),
            })
        })
        .collect()
}

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<HashMap<String, String>>>>);

/// `GET /reviews?since=…&offset=…&limit=…`: Bearer auth, JSON:API-style body with a total.
async fn offset_reviews(
    State(seen): State<Seen>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some("Bearer s3cret") {
        return (StatusCode::UNAUTHORIZED, "{\"error\": \"bad token\"}").into_response();
    }
    seen.0.lock().unwrap().push(q.clone());
    let since = q.get("since").cloned().unwrap_or_default();
    let all: Vec<Value> =
        reviews().into_iter().filter(|r| r["updated"].as_str().unwrap() >= since.as_str()).collect();
    let offset: usize = q.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let limit: usize = q.get("limit").and_then(|o| o.parse().ok()).unwrap_or(5);
    let data: Vec<Value> = all.iter().skip(offset).take(limit).cloned().collect();
    axum::Json(json!({ "data": data, "meta": { "total": all.len() } })).into_response()
}

/// `GET /orders?page_info=…`: a `Link` header with the next page; an API key in a header.
async fn link_orders(headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some("k3y") {
        return (StatusCode::FORBIDDEN, "{}").into_response();
    }
    let page: usize = q.get("page_info").and_then(|p| p.parse().ok()).unwrap_or(0);
    let orders: Vec<Value> = (page * 2..page * 2 + 2)
        .filter(|i| *i < 5)
        .map(|i| json!({ "shop": "s1", "number": i, "total_price": format!("{i}.25"), "currency": "eur" }))
        .collect();
    let mut response = axum::Json(json!({ "orders": orders })).into_response();
    if page < 2 {
        let link = format!("</orders?page_info={}>; rel=\"next\"", page + 1);
        response.headers_mut().insert(header::LINK, link.parse().unwrap());
    }
    response
}

async fn serve() -> (String, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .route("/reviews", get(offset_reviews))
        .route("/orders", get(link_orders))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn connector(base: &str, options: Value) -> Rest {
    let mut ctx = ConnectorContext::new("api");
    ctx.base_url = Some(base.to_owned());
    Rest::new(serde_json::from_value(options).unwrap(), ctx).unwrap()
}

async fn pages(rest: &Rest, stream: &str, checkpoint: Option<Checkpoint>) -> Vec<Page> {
    rest.read(stream, checkpoint).map(|p| p.unwrap()).collect().await
}

fn ids(pages: &[Page]) -> Vec<String> {
    pages.iter().flat_map(|p| p.records.iter().map(|r| r.source_id.clone())).collect()
}

fn reviews_options() -> Value {
    json!({
        "auth": { "type": "bearer", "token": "s3cret" },
        "stream": [{
            "name": "reviews",
            "path": "/reviews",
            "query": { "limit": 5 },
            "records": "/data",
            "primary_key": ["shop", "id"],
            "pagination": { "style": "offset_limit", "offset_param": "offset", "limit_param": "limit", "limit": 5,
                            "total_pointer": "/meta/total" },
            "incremental": { "cursor_field": "updated", "param": "since", "format": "rfc3339",
                             "start": "2024-05-01T02:00:00Z" },
            "entity": "review",
            "platform": "shopreviews",
            "fields": { "rating": "stars", "body": "body", "author": "author.name", "updated_at": "updated",
                        "location": "shop" },
        }],
    })
}

#[tokio::test]
async fn offset_pages_cursor_param_and_quarantine() {
    let (base, seen) = serve().await;
    let rest = connector(&base, reviews_options());
    let spec = &rest.streams()[0];
    assert_eq!(
        (spec.name, spec.primary_key, spec.cursor_field),
        ("reviews", &["shop", "id"][..], Some("updated"))
    );
    assert!(rest.check().await.is_ok());
    seen.0.lock().unwrap().clear();

    let first = pages(&rest, "reviews", None).await;
    assert_eq!(first.len(), 3, "11 reviews from 02:00 in pages of 5");
    assert_eq!(
        ids(&first),
        [
            "north:2", "north:3", "north:4", "north:5", "north:6", "north:8", "north:9", "north:10",
            "north:11", "north:12"
        ]
    );
    let q = &first[1].quarantined[0];
    assert_eq!(
        (q.source_id.as_deref(), q.reason.as_str()),
        (Some("north:7"), "field `rating`: `five` is not a number")
    );
    let Entity::Review(r) = &first[0].records[0].entity else { panic!() };
    assert_eq!(
        (r.platform.as_str(), r.rating, r.author.as_deref()),
        ("shopreviews", Some(3.0), Some("author 2"))
    );
    let raw: Value = serde_json::from_str(first[0].records[0].raw.get()).unwrap();
    assert_eq!(raw, reviews()[1]);
    let offsets: Vec<(String, String)> = seen
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|q| (q["since"].clone(), q.get("offset").cloned().unwrap_or_default()))
        .collect();
    assert_eq!(
        offsets,
        [
            ("2024-05-01T02:00:00Z".into(), "0".into()),
            ("2024-05-01T02:00:00Z".into(), "5".into()),
            ("2024-05-01T02:00:00Z".into(), "10".into())
        ]
    );
    // Mid-sync checkpoints hold the next page; the last holds the newest `updated` seen.
    assert_eq!(
        first[0].checkpoint,
        json!({ "page": { "offset": 5 }, "start": "2024-05-01T02:00:00Z",
        "newest": "2024-05-01T06:00:00Z" })
    );
    let end = first[2].checkpoint.clone();
    assert_eq!(end, json!({ "cursor": "2024-05-01T12:00:00Z" }));

    // The next sync asks from the newest value: one request, the boundary record again.
    seen.0.lock().unwrap().clear();
    let next = pages(&rest, "reviews", Some(end)).await;
    assert_eq!(ids(&next), ["north:12"]);
    assert_eq!(seen.0.lock().unwrap().len(), 1);
    assert_eq!(seen.0.lock().unwrap()[0]["since"], "2024-05-01T12:00:00Z");

    // Resume after a crash between pages: from the committed page position, same start.
    let resumed = pages(&rest, "reviews", Some(first[0].checkpoint.clone())).await;
    assert_eq!(ids(&resumed), ["north:8", "north:9", "north:10", "north:11", "north:12"]);
    assert_eq!(resumed.last().unwrap().checkpoint, json!({ "cursor": "2024-05-01T12:00:00Z" }));
}

#[tokio::test]
async fn link_header_pages_and_header_auth() {
    let (base, _) = serve().await;
    let rest = connector(
        &base,
        json!({
            "auth": { "type": "header", "name": "X-Api-Key", "value": "k3y" },
            "headers": { "Accept": "application/json" },
            "stream": [{
                "name": "orders", "path": "/orders", "records": "/orders", "primary_key": "number",
                "id_type": "integer",
                "pagination": { "style": "link_header" },
                "entity": "order",
                "fields": { "total": "total_price", "currency": "currency" },
            }],
        }),
    );
    assert_eq!(rest.streams()[0].cursor_field, None);
    let got = pages(&rest, "orders", None).await;
    assert_eq!(ids(&got), ["0", "1", "2", "3", "4"]);
    assert_eq!(got.last().unwrap().checkpoint, json!({}));
    let Entity::Order(o) = &got[2].records[0].entity else { panic!() };
    assert_eq!(
        (o.total.to_string().as_str(), o.currency.as_deref(), o.platform.as_str()),
        ("4.25", Some("EUR"), "api")
    );

    // Wrong key: a clear error that needs a person, no secret in it.
    let bad = connector(
        &base,
        json!({ "auth": { "type": "header", "name": "X-Api-Key", "value": "wrong-key" },
                "stream": [{ "name": "orders", "path": "/orders", "records": "/orders", "primary_key": "number",
                             "entity": "order", "fields": { "total": "total_price" } }] }),
    );
    let err = bad.read("orders", None).next().await.unwrap().unwrap_err();
    assert_eq!(err.class, engage_connect::ErrorClass::NeedsHuman);
    assert!(err.message.contains("403") && !err.message.contains("wrong-key"), "{}", err.message);
    assert!(bad.check().await.is_err());
}

#[tokio::test]
async fn configuration_errors_are_clear() {
    let build = |options: Value, base: Option<&str>| {
        let mut ctx = ConnectorContext::new("api");
        ctx.base_url = base.map(str::to_owned);
        Rest::new(serde_json::from_value(options).unwrap(), ctx).unwrap_err().message
    };
    let stream = json!({ "name": "s", "path": "/s", "primary_key": "id", "entity": "order", "fields": { "total": "t" } });
    assert_eq!(
        build(json!({ "stream": [stream.clone()] }), None),
        "rest connection `api`: set `base_url`: the API's address"
    );
    assert_eq!(
        build(json!({ "auth": { "type": "basic" }, "stream": [stream.clone()] }), Some("http://127.0.0.1:9")),
        "rest connection `api`: auth `basic` needs `username`"
    );
    let mut no_total = stream.clone();
    no_total["fields"] = json!({});
    assert_eq!(
        build(json!({ "stream": [no_total] }), Some("http://127.0.0.1:9")),
        "rest connection `api`: stream `s`: entity `order` needs a mapping for `total`"
    );
    assert_eq!(
        build(json!({ "stream": [stream.clone(), stream] }), Some("http://127.0.0.1:9")),
        "rest connection `api`: two streams are named `s`"
    );
}
