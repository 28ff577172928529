//! Intercom's official example payloads, served verbatim at the head of the simulator's data,
//! land in the store through the real connector and runner with every mapped column as the
//! mapping promises (docs/connectors/intercom.md).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use chrono::{DateTime, Utc};
use engage_runner::{BuildOptions, SyncOptions, build_connector, sync_stream};
use engage_sandbox::Sim;
use engage_sandbox::intercom::{Intercom, IntercomOptions, fixtures};
use engage_store::testing::fresh_store;
use engage_store::{Backend, RunStatus, query_read_only};
use serde_json::{Value, json};

fn at(secs: i64) -> Value {
    json!(DateTime::from_timestamp(secs, 0).unwrap().timestamp())
}

/// A stored timestamp (RFC 3339 text) as Unix seconds, to compare instants, not formats.
fn secs(v: &Value) -> Value {
    match v.as_str() {
        Some(text) => json!(DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc).timestamp()),
        None => v.clone(),
    }
}

async fn row(url: &str, sql: &str) -> Vec<Value> {
    let mut rows = query_read_only(url, sql).await.unwrap().rows;
    assert_eq!(rows.len(), 1, "{sql}");
    rows.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_examples_land_in_the_store_with_every_mapped_field() {
    let options = IntercomOptions::new(3, 20);
    let token = options.access_token.clone();
    let sim = Sim::<Intercom>::start(options).await.unwrap();
    let t = fresh_store(Backend::Sqlite).await;
    let (connector, _) = build_connector(
        "intercom",
        "ic",
        Some(&sim.base_url()),
        None,
        &json!({ "access_token": token }),
        &BuildOptions::default(),
    )
    .unwrap();
    for stream in ["conversations", "conversation_ratings", "contacts"] {
        let outcome =
            sync_stream(&t.store, connector.as_ref(), "ic", stream, &SyncOptions::default()).await.unwrap();
        assert_eq!(outcome.status, RunStatus::Succeeded, "{stream}: {:?}", outcome.error);
    }

    let examples = [
        (fixtures::CONVERSATIONS_LIST, "335", "667d60bb8a68186f43bafdc5", 1_719_492_795),
        (fixtures::CONVERSATION_RETRIEVE, "367", "667d60d88a68186f43bafde1", 1_719_492_825),
        (fixtures::CONVERSATIONS_SEARCH, "378", "667d60ea8a68186f43bafdec", 1_719_492_843),
    ];
    for (text, id, contact, time) in examples {
        let example: Value = serde_json::from_str(text).unwrap();
        let example = example.get("conversations").map_or(example.clone(), |list| list[0].clone());
        let sql = format!(
            "SELECT customer_source_id, customer_email, subject, channel, status, priority, created_at, \
             updated_at, first_reply_at, solved_at, first_reply_minutes, first_resolution_minutes, \
             full_resolution_minutes, reopens, replies, satisfaction, deleted_at, raw \
             FROM tickets WHERE connection = 'ic' AND stream = 'conversations' AND source_id = '{id}'"
        );
        let r = row(&t.url, &sql).await;
        let times: Vec<Value> = r[6..8].iter().map(secs).collect();
        assert_eq!(r[0], json!(contact), "{id}: customer");
        // Admin-initiated with an empty subject and no title: no email, no subject.
        assert_eq!(r[1..3], [Value::Null, Value::Null], "{id}");
        assert_eq!(r[3..6], [json!("chat"), json!("solved"), json!("normal")], "{id}");
        assert_eq!(times, [at(time), at(time)], "{id}");
        // statistics and conversation_rating are null in every official example.
        assert!(r[8..17].iter().all(Value::is_null), "{id}: {:?}", &r[8..17]);
        let raw: Value = serde_json::from_str(r[17].as_str().unwrap()).unwrap();
        assert_eq!(raw, example, "{id}: raw as served");
    }
    // Nothing rated among the examples: no rating row for them.
    let rated = query_read_only(
        &t.url,
        "SELECT count(*) FROM survey_responses WHERE connection = 'ic' AND source_id IN ('335', '367', '378')",
    )
    .await
    .unwrap();
    assert_eq!(rated.rows[0][0], json!(0));

    let contact: Value = serde_json::from_str(fixtures::CONTACT).unwrap();
    let r = row(
        &t.url,
        "SELECT email, phone, name, created_at, updated_at, deleted_at, raw FROM identities \
         WHERE connection = 'ic' AND stream = 'contacts' AND source_id = '667d60b08a68186f43bafdbf'",
    )
    .await;
    assert_eq!(r[0..3], [json!("joebloggs@intercom.io"), Value::Null, Value::Null]);
    assert_eq!([secs(&r[3]), secs(&r[4])], [at(1_719_492_784), at(1_719_492_784)]);
    assert_eq!(r[5], Value::Null);
    assert_eq!(serde_json::from_str::<Value>(r[6].as_str().unwrap()).unwrap(), contact);

    // The generated ratings land as CSAT responses on a 1–5 scale.
    let r = row(
        &t.url,
        "SELECT count(*), min(score), max(score), min(scale_min), max(scale_max), min(kind) \
         FROM survey_responses WHERE connection = 'ic' AND stream = 'conversation_ratings'",
    )
    .await;
    assert!(r[0].as_i64().unwrap() > 0);
    assert!(r[1].as_f64().unwrap() >= 1.0 && r[2].as_f64().unwrap() <= 5.0);
    assert_eq!(r[3..6], [json!(1.0), json!(5.0), json!("csat")]);
}
