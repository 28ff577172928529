//! The singer connector end to end: a tap (`src/bin/singer-tap.rs`) run as a subprocess through
//! the runner into a real store. A first sync loads every record, the next passes the STATE back
//! and loads nothing again, a tap that crashes mid-stream fails the sync clearly and the next run
//! resumes from the last committed STATE with every record exactly once, and a malformed line
//! is quarantined.

#![allow(clippy::unwrap_used)]

use engage_connect::{DynConnector, ErrorClass};
use engage_runner::{BuildOptions, StreamOutcome, SyncOptions, build_connector, sync_stream};
use engage_store::testing::{TestStore, fresh_store};
use engage_store::{Backend, RunStatus, query_read_only};
use serde_json::{Value, json};

const CONNECTION: &str = "tap";

fn connector(tap_config: Value) -> Box<dyn DynConnector> {
    let options = json!({
        "command": env!("CARGO_BIN_EXE_singer-tap"),
        "config": tap_config,
        "page_size": 7,
        "stream": [{
            "name": "purchases",
            "tap_stream": "items",
            "entity": "order",
            "platform": "test_tap",
            "fields": {
                "customer_email": "email",
                "total": "amount",
                "created_at": "bought_at",
                "currency": { "value": "EUR" },
            },
        }],
    });
    build_connector("singer", CONNECTION, None, None, &options, &BuildOptions::default()).unwrap().0
}

async fn sync(store: &TestStore, connector: &dyn DynConnector) -> StreamOutcome {
    sync_stream(&store.store, connector, CONNECTION, "purchases", &SyncOptions::default()).await.unwrap()
}

async fn rows(store: &TestStore, sql: &str) -> Vec<Vec<Value>> {
    query_read_only(&store.url, sql).await.unwrap().rows
}

/// Source ids stored, in numeric order.
async fn stored_ids(store: &TestStore) -> Vec<u64> {
    let mut ids: Vec<u64> = rows(store, "SELECT source_id FROM orders")
        .await
        .iter()
        .map(|r| r[0].as_str().unwrap().parse().unwrap())
        .collect();
    ids.sort_unstable();
    ids
}

async fn checkpoint(store: &TestStore) -> Value {
    let rows = rows(store, "SELECT checkpoint FROM checkpoints WHERE stream = 'purchases'").await;
    match &rows[0][0] {
        Value::String(text) => serde_json::from_str(text).unwrap(),
        other => other.clone(),
    }
}

async fn first_sync_then_state_passed_back(backend: Backend) {
    let store = fresh_store(backend).await;
    let tap =
        connector(json!({ "count": 40, "state_every": 10, "malformed_after": [12], "bad_amount_at": 30 }));
    let outcome = sync(&store, tap.as_ref()).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!((outcome.records, outcome.quarantined), (39, 2));
    let expected: Vec<u64> = (0..40).filter(|i| *i != 30).collect();
    assert_eq!(stored_ids(&store).await, expected);
    assert_eq!(
        checkpoint(&store).await,
        json!({ "state": { "bookmarks": { "items": { "position": 40 } } } })
    );
    let row = rows(
        &store,
        "SELECT customer_email, total, currency, platform, created_at FROM orders WHERE source_id = '12'",
    )
    .await;
    assert_eq!(row[0][0], "user12@example.com");
    assert_eq!(row[0][1].to_string().trim_matches('"'), "12.5");
    assert_eq!((&row[0][2], &row[0][3]), (&json!("EUR"), &json!("test_tap")));
    let raw = rows(&store, "SELECT raw FROM orders WHERE source_id = '0'").await;
    let raw: Value = match &raw[0][0] {
        Value::String(text) => serde_json::from_str(text).unwrap(),
        other => other.clone(),
    };
    assert_eq!(
        raw,
        json!({"id": 0, "email": "user0@example.com", "amount": "0.50", "bought_at": "2024-01-01T10:00:00Z"})
    );
    let quarantine = rows(&store, "SELECT source_id, reason, raw FROM quarantine").await;
    assert_eq!(quarantine.len(), 2);
    let bad_amount = quarantine.iter().find(|r| r[0] == "30").unwrap();
    assert!(
        bad_amount[1].as_str().unwrap().ends_with(": field `total`: `n/a` is not an amount"),
        "{:?}",
        bad_amount[1]
    );
    let malformed = quarantine.iter().find(|r| r[0].is_null()).unwrap();
    assert!(malformed[1].as_str().unwrap().contains(": not valid JSON"), "{:?}", malformed[1]);
    assert_eq!(malformed[2], r#"{"type": "RECORD", "stream": "items", "record": {"id": 12"#);
    // Records of the tap's other stream were skipped and the run says so.
    let details = rows(&store, "SELECT details FROM sync_runs WHERE stream = 'purchases'").await;
    let details = details[0][0].to_string();
    assert!(details.contains("skipped: other (6)"), "{details}");

    // The next run gets the STATE back: the tap starts at 40 and sends nothing new.
    let outcome = sync(&store, tap.as_ref()).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(outcome.records, 0);
    assert_eq!(stored_ids(&store).await.len(), 39);

    // More source data later: only the new records.
    let more = connector(json!({ "count": 45, "state_every": 10 }));
    let outcome = sync(&store, more.as_ref()).await;
    assert_eq!(outcome.records, 5);
    assert_eq!(stored_ids(&store).await.len(), 44);
}

async fn crash_mid_stream_then_resume(backend: Backend) {
    let store = fresh_store(backend).await;
    let crashing = connector(json!({ "count": 50, "state_every": 10, "crash_at": 25 }));
    let outcome = sync(&store, crashing.as_ref()).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(outcome.error_class, Some(ErrorClass::Retry));
    let message = outcome.error.clone().unwrap();
    assert!(message.contains("exited with code 3"), "{message}");
    assert!(message.contains("singer-tap: connection to the source lost at record 25"), "{message}");
    assert!(message.contains("singer-tap: starting at position 0"), "{message}");
    // Every record before the crash is kept; the checkpoint is the last STATE the tap sent.
    assert_eq!(stored_ids(&store).await, (0..25).collect::<Vec<_>>());
    assert_eq!(
        checkpoint(&store).await,
        json!({ "state": { "bookmarks": { "items": { "position": 20 } } } })
    );

    // The next run starts at 20: 20..24 come again (upserted), nothing is lost or doubled.
    let fixed = connector(json!({ "count": 50, "state_every": 10 }));
    let outcome = sync(&store, fixed.as_ref()).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(outcome.records, 30);
    assert_eq!(stored_ids(&store).await, (0..50).collect::<Vec<_>>());
    let count = rows(&store, "SELECT COUNT(*), COUNT(DISTINCT source_id) FROM orders").await;
    assert_eq!((count[0][0].as_i64(), count[0][1].as_i64()), (Some(50), Some(50)));
    assert_eq!(
        checkpoint(&store).await,
        json!({ "state": { "bookmarks": { "items": { "position": 50 } } } })
    );
}

async fn missing_tap_is_a_clear_error(backend: Backend) {
    let store = fresh_store(backend).await;
    let options = json!({
        "command": "/nonexistent/tap-nothing",
        "stream": [{ "name": "purchases", "entity": "order", "fields": { "total": "amount" } }],
    });
    let tap =
        build_connector("singer", CONNECTION, None, None, &options, &BuildOptions::default()).unwrap().0;
    let error = tap.check().await.unwrap_err();
    assert_eq!(error.message, "tap program `/nonexistent/tap-nothing` not found");
    let outcome = sync(&store, tap.as_ref()).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(outcome.error_class, Some(ErrorClass::NeedsHuman));
    assert!(
        outcome.error.unwrap().starts_with("cannot run the tap `/nonexistent/tap-nothing`: No such file"),
        "clear error"
    );
}

engage_store::on_both_backends!(
    first_sync_then_state_passed_back,
    crash_mid_stream_then_resume,
    missing_tap_is_a_clear_error
);
