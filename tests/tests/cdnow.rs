//! The CDNOW purchase histories (`tests/data/cdnow`, provenance in its SOURCES.md) loaded as
//! orders through the files connector and the runner into a real store, on SQLite and
//! PostgreSQL, with the options of `config/cdnow.toml`.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use engage_runner::{BuildOptions, SyncOptions, build_connector, sync_stream};
use engage_store::testing::fresh_store;
use engage_store::{Backend, RunStatus, query_read_only};
use serde_json::{Value, json};

async fn cdnow_loads_as_orders(backend: Backend) {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/cdnow/CDNOW_sample.txt");
    let options = json!({ "stream": [{
        "name": "orders",
        "path": sample.display().to_string(),
        "format": "whitespace",
        "columns": ["master_id", "customer_id", "date", "cds", "amount"],
        "entity": "order",
        "platform": "cdnow",
        "fields": {
            "customer_source_id": "customer_id",
            "created_at": { "from": "date", "format": "%Y%m%d" },
            "item_count": "cds",
            "total": "amount",
            "currency": { "value": "USD" },
        },
    }]});
    let files = build_connector("files", "cdnow", None, None, &options, &BuildOptions::default()).unwrap().0;
    let store = fresh_store(backend).await;
    let outcome =
        sync_stream(&store.store, files.as_ref(), "cdnow", "orders", &SyncOptions::default()).await.unwrap();
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!((outcome.records, outcome.quarantined), (6_919, 0));

    let query = |sql: &str| {
        let url = store.url.clone();
        let sql = sql.to_owned();
        async move { query_read_only(&url, &sql).await.unwrap().rows }
    };
    let counts = query(
        "SELECT COUNT(*), COUNT(DISTINCT source_id), COUNT(DISTINCT customer_source_id), SUM(item_count) \
         FROM orders WHERE connection = 'cdnow' AND platform = 'cdnow' AND currency = 'USD'",
    )
    .await;
    let ints: Vec<i64> =
        counts[0].iter().map(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()).unwrap()).collect();
    assert_eq!(ints, [6_919, 6_919, 2_357, 16_479], "orders, distinct ids, customers, CDs");
    let guests = query("SELECT COUNT(*) FROM orders WHERE customer_source_id IS NULL").await;
    assert_eq!(guests[0][0].as_i64(), Some(0));
    let repeat = query(
        "SELECT COUNT(*) FROM (SELECT customer_source_id FROM orders GROUP BY customer_source_id \
         HAVING COUNT(*) > 1) AS r",
    )
    .await;
    assert_eq!(repeat[0][0].as_i64(), Some(1_152), "customers with more than one purchase");
    let busiest = query(
        "SELECT customer_source_id, COUNT(*) FROM orders GROUP BY customer_source_id ORDER BY COUNT(*) DESC LIMIT 1",
    )
    .await;
    assert_eq!((busiest[0][0].as_str(), busiest[0][1].as_i64()), (Some("1901"), Some(56)));

    // Total spend to the cent: $244,091.94, with eight purchases of $0.00.
    let totals = query("SELECT CAST(total AS TEXT) FROM orders").await;
    let cents: Vec<i64> = totals
        .iter()
        .map(|row| {
            let text = row[0].as_str().unwrap();
            let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
            assert!(frac.len() <= 2 || frac[2..].chars().all(|c| c == '0'), "{text}");
            let frac = format!("{frac:0<2}");
            whole.parse::<i64>().unwrap() * 100 + frac[..2].parse::<i64>().unwrap()
        })
        .collect();
    assert_eq!(cents.iter().sum::<i64>(), 24_409_194);
    assert_eq!(cents.iter().filter(|c| **c == 0).count(), 8);
    let first = query("SELECT source_id, customer_source_id, item_count, raw FROM orders WHERE source_id = 'CDNOW_sample.txt:1'").await;
    assert_eq!(first[0][1], "0001");
    assert_eq!(first[0][2].as_i64(), Some(2));
    let raw: Value = match &first[0][3] {
        Value::String(text) => serde_json::from_str(text).unwrap(),
        other => other.clone(),
    };
    assert_eq!(
        raw,
        json!({ "master_id": "00004", "customer_id": "0001", "date": "19970101", "cds": "2", "amount": "29.33" })
    );

    // Nothing changed: the next sync reads nothing.
    let again =
        sync_stream(&store.store, files.as_ref(), "cdnow", "orders", &SyncOptions::default()).await.unwrap();
    assert_eq!((again.status, again.records), (RunStatus::Succeeded, 0));
}

engage_store::on_both_backends!(cdnow_loads_as_orders);
