//! The files connector on real files: formats, mapping, quarantine with line numbers,
//! incremental reads by modification time and hash, resume mid-file, and the CDNOW sample.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::str::FromStr;

use engage_connect::{Checkpoint, Connector, ConnectorContext, Page};
use engage_files::Files;
use engage_model::Entity;
use futures::StreamExt;
use rust_decimal::Decimal;
use serde_json::{Value, json};

fn connector(streams: Value) -> Files {
    let config = serde_json::from_value(json!({ "stream": streams })).unwrap();
    Files::new(config, ConnectorContext::new("files-test")).unwrap()
}

async fn pages(files: &Files, stream: &str, checkpoint: Option<Checkpoint>) -> Vec<Page> {
    files.read(stream, checkpoint).map(|p| p.unwrap()).collect().await
}

fn last_checkpoint(pages: &[Page]) -> Option<Checkpoint> {
    pages.last().map(|p| p.checkpoint.clone())
}

fn ids(pages: &[Page]) -> Vec<String> {
    pages.iter().flat_map(|p| p.records.iter().map(|r| r.source_id.clone())).collect()
}

fn orders_stream(path: &Path) -> Value {
    json!({
        "name": "orders",
        "path": path.display().to_string(),
        "entity": "order",
        "source_id": "order_id",
        "page_size": 2,
        "fields": {
            "customer_email": "email",
            "created_at": { "from": "placed", "format": "%d/%m/%Y %H:%M" },
            "total": "amount",
            "currency": { "value": "EUR" },
            "item_count": "items",
        },
    })
}

#[tokio::test]
async fn csv_rows_map_and_bad_rows_are_quarantined_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.csv");
    std::fs::write(
        &path,
        "\u{feff}order_id,email,placed,amount,items\r\n\
         A1,ann@example.com,01/02/2024 10:30,19.99,2\r\n\
         \r\n\
         A2,\"bob, jr\"\"@example.com\",02/02/2024 11:00,5,1\n\
         A3,cy@example.com,31/02/2024 11:00,5,1\n\
         A4,dee@example.com,03/02/2024 09:15,abc,1\n\
         A5,too,few\n\
         A6,\"multi\nline\",04/02/2024 08:00,7.5,3\n\
         ,nobody@example.com,04/02/2024 08:00,1,1\n",
    )
    .unwrap();
    let files = connector(json!([orders_stream(&path)]));
    let got = pages(&files, "orders", None).await;
    assert_eq!(ids(&got), ["A1", "A2", "A6"]);
    let reasons: Vec<(Option<String>, String)> = got
        .iter()
        .flat_map(|p| p.quarantined.iter().map(|q| (q.source_id.clone(), q.reason.clone())))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                Some("A3".into()),
                "orders.csv line 5: field `created_at`: `31/02/2024 11:00` does not match the date format `%d/%m/%Y %H:%M`"
                    .into()
            ),
            (Some("A4".into()), "orders.csv line 6: field `total`: `abc` is not an amount".into()),
            (Some("orders.csv:7".into()), "orders.csv line 7: expected 5 columns, found 3".into()),
            (Some("orders.csv:10".into()), "orders.csv line 10: source id field `order_id` is missing".into()),
        ]
    );
    let q = &got.iter().flat_map(|p| &p.quarantined).next().unwrap();
    assert_eq!(q.raw, "A3,cy@example.com,31/02/2024 11:00,5,1");
    let records: Vec<_> = got.iter().flat_map(|p| &p.records).collect();
    let Entity::Order(a1) = &records[0].entity else { panic!() };
    assert_eq!(a1.total, Decimal::from_str("19.99").unwrap());
    assert_eq!(a1.currency.as_deref(), Some("EUR"));
    assert_eq!(a1.created_at.unwrap().to_rfc3339(), "2024-02-01T10:30:00+00:00");
    assert_eq!(a1.item_count, Some(2));
    assert_eq!(a1.platform, "files");
    assert!(a1.guest, "no customer id mapped: a guest checkout");
    let raw: Value = serde_json::from_str(records[0].raw.get()).unwrap();
    assert_eq!(
        raw,
        json!({"order_id": "A1", "email": "ann@example.com", "placed": "01/02/2024 10:30", "amount": "19.99", "items": "2"})
    );
    let Entity::Order(a2) = &records[1].entity else { panic!() };
    assert_eq!(a2.customer_email.as_deref(), Some("bob, jr\"@example.com"));
    let raw: Value = serde_json::from_str(records[2].raw.get()).unwrap();
    assert_eq!(raw["email"], "multi\nline");

    // Nothing changed: no page at all.
    let checkpoint = last_checkpoint(&got);
    assert!(pages(&files, "orders", checkpoint.clone()).await.is_empty());
}

#[tokio::test]
async fn incremental_by_time_and_hash_appends_and_rewrites() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.csv");
    let header = "order_id,email,placed,amount,items\n";
    let row = |i: u32| format!("B{i},b{i}@example.com,01/03/2024 10:00,{i}.50,1\n");
    std::fs::write(&path, format!("{header}{}{}{}", row(1), row(2), row(3))).unwrap();
    let files = connector(json!([orders_stream(&path)]));
    let first = pages(&files, "orders", None).await;
    assert_eq!(ids(&first), ["B1", "B2", "B3"]);
    let checkpoint = last_checkpoint(&first).unwrap();
    assert_eq!(checkpoint["files"]["orders.csv"]["lines"], 4);
    assert_eq!(checkpoint["files"]["orders.csv"]["len"], (header.len() + 3 * row(1).len()) as u64);

    // Touched (new modification time, same content): only the checkpoint moves.
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5)).unwrap();
    drop(file);
    let touched = pages(&files, "orders", Some(checkpoint.clone())).await;
    assert_eq!(touched.len(), 1);
    assert!(touched[0].records.is_empty());
    let checkpoint2 = touched[0].checkpoint.clone();
    assert_ne!(checkpoint2["files"]["orders.csv"]["modified"], checkpoint["files"]["orders.csv"]["modified"]);
    assert_eq!(checkpoint2["files"]["orders.csv"]["hash"], checkpoint["files"]["orders.csv"]["hash"]);
    assert!(pages(&files, "orders", Some(checkpoint2.clone())).await.is_empty());

    // Appended: only the new rows, numbered after the old ones.
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&row(4));
    text.push_str("B5,bad,01/03/2024 10:00,x,1\n");
    std::fs::write(&path, &text).unwrap();
    let appended = pages(&files, "orders", Some(checkpoint2)).await;
    assert_eq!(ids(&appended), ["B4"]);
    let q: Vec<&str> =
        appended.iter().flat_map(|p| p.quarantined.iter().map(|q| q.reason.as_str())).collect();
    assert_eq!(q, ["orders.csv line 6: field `total`: `x` is not an amount"]);
    let checkpoint3 = last_checkpoint(&appended).unwrap();
    assert_eq!(checkpoint3["files"]["orders.csv"]["lines"], 6);

    // Rewritten (a row changed): the whole file again, header included.
    std::fs::write(&path, text.replace("B2,b2@", "B2,changed@")).unwrap();
    let rewritten = pages(&files, "orders", Some(checkpoint3)).await;
    assert_eq!(ids(&rewritten), ["B1", "B2", "B3", "B4"]);
    let Entity::Order(b2) = &rewritten[0].records[1].entity else { panic!() };
    assert_eq!(b2.customer_email.as_deref(), Some("changed@example.com"));
}

#[tokio::test]
async fn resumes_mid_file_from_a_page_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.csv");
    let mut text = "order_id,email,placed,amount,items\n".to_owned();
    for i in 1..=7 {
        text.push_str(&format!("C{i},c@example.com,01/03/2024 10:00,{i},1\n"));
    }
    std::fs::write(&path, &text).unwrap();
    let files = connector(json!([orders_stream(&path)]));
    let all = pages(&files, "orders", None).await;
    assert_eq!(all.len(), 4, "pages of two rows");
    // A crash after the second page: resume from its checkpoint (header found again).
    let after_two = all[1].checkpoint.clone();
    assert_eq!(after_two["current"]["line"], 5);
    let rest = pages(&files, "orders", Some(after_two)).await;
    assert_eq!(ids(&rest), ["C5", "C6", "C7"]);
    assert_eq!(last_checkpoint(&rest), last_checkpoint(&all), "same end state either way");
}

#[tokio::test]
async fn jsonl_globs_and_deletions() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("reviews-1.jsonl"),
        "{\"id\": 1, \"stars\": 5, \"text\": \"great\", \"at\": \"2024-01-01T00:00:00Z\", \"x\": {\"y\": 1}}\n\
         not json\n\
         [1, 2]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("reviews-2.jsonl"),
        "{\"id\": 2, \"stars\": \"4\", \"removed_at\": \"2024-02-01\", \"at\": 1704067200}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("other.txt"), "ignored").unwrap();
    let files = connector(json!([{
        "name": "reviews",
        "path": dir.path().join("reviews-*.jsonl").display().to_string(),
        "entity": "review",
        "source_id": "id",
        "platform": "survey_export",
        "fields": { "rating": "stars", "body": "text", "created_at": "at" },
        "deleted": { "from": "removed_at" },
    }]));
    assert_eq!(files.streams()[0].primary_key, ["id"]);
    let got = pages(&files, "reviews", None).await;
    assert_eq!(ids(&got), ["1", "2"]);
    let raw = got[0].records[0].raw.get();
    assert_eq!(
        raw,
        "{\"id\": 1, \"stars\": 5, \"text\": \"great\", \"at\": \"2024-01-01T00:00:00Z\", \"x\": {\"y\": 1}}"
    );
    let reasons: Vec<&str> =
        got.iter().flat_map(|p| p.quarantined.iter().map(|q| q.reason.as_str())).collect();
    assert_eq!(reasons.len(), 2);
    assert!(reasons[0].starts_with("reviews-1.jsonl line 2: not valid JSON"), "{reasons:?}");
    assert_eq!(reasons[1], "reviews-1.jsonl line 3: not a JSON object");
    let second = &got[1].records[0];
    assert_eq!(second.deleted_at.unwrap().to_rfc3339(), "2024-02-01T00:00:00+00:00");
    let Entity::Review(review) = &second.entity else { panic!() };
    assert_eq!((review.rating, review.platform.as_str()), (Some(4.0), "survey_export"));
    assert_eq!(review.created_at.unwrap().timestamp(), 1_704_067_200);

    // A file removed from the set leaves the checkpoint; the rest is unchanged.
    let checkpoint = last_checkpoint(&got).unwrap();
    std::fs::remove_file(dir.path().join("reviews-2.jsonl")).unwrap();
    let after = pages(&files, "reviews", Some(checkpoint)).await;
    assert_eq!(after.len(), 1);
    assert!(after[0].records.is_empty());
    let files_left: Vec<&String> = after[0].checkpoint["files"].as_object().unwrap().keys().collect();
    assert_eq!(files_left, ["reviews-1.jsonl"]);
}

#[tokio::test]
async fn configuration_errors_are_clear() {
    let build = |stream: Value| {
        let config = serde_json::from_value(json!({ "stream": [stream] })).unwrap();
        Files::new(config, ConnectorContext::new("x")).unwrap_err().message
    };
    assert_eq!(
        build(json!({"name": "s", "path": "data.txt", "entity": "order", "fields": {"total": "t"}})),
        "files stream `s`: `data.txt`: set `format` (csv, tsv, whitespace or jsonl): the extension does not say"
    );
    assert_eq!(
        build(
            json!({"name": "s", "path": "d.txt", "format": "whitespace", "entity": "order", "fields": {"total": "t"}})
        ),
        "files stream `s`: a file without a header needs `columns`"
    );
    assert_eq!(
        build(json!({"name": "s", "path": "d.csv", "entity": "order"})),
        "files stream `s`: entity `order` needs a mapping for `total`"
    );
    assert_eq!(
        build(
            json!({"name": "s", "path": "d.csv", "delimiter": ";;", "entity": "order", "fields": {"total": "t"}})
        ),
        "files stream `s`: delimiter `;;` must be one ASCII character"
    );
    let files = connector(
        json!([{"name": "s", "path": "/nonexistent/d.csv", "entity": "order", "fields": {"total": "t"}}]),
    );
    let err = files.read("s", None).next().await.unwrap().unwrap_err();
    assert!(err.message.starts_with("cannot read /nonexistent/d.csv"), "{}", err.message);
    assert!(files.check().await.is_err());
}

/// The project's copy of the CDNOW sample (`tests/data/cdnow`), read as orders.
#[tokio::test]
async fn cdnow_sample_loads_every_row_as_an_order() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../tests/data/cdnow/CDNOW_sample.txt");
    let files = connector(json!([{
        "name": "orders",
        "path": path.display().to_string(),
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
    }]));
    assert!(files.check().await.is_ok());
    let got = pages(&files, "orders", None).await;
    let records: Vec<_> = got.iter().flat_map(|p| &p.records).collect();
    assert_eq!(records.len(), 6_919);
    assert!(got.iter().all(|p| p.quarantined.is_empty()));
    let mut total = Decimal::ZERO;
    let mut cds = 0;
    let mut customers = std::collections::BTreeSet::new();
    for record in &records {
        let Entity::Order(order) = &record.entity else { panic!() };
        total += order.total;
        cds += order.item_count.unwrap();
        customers.insert(order.customer_source_id.clone().unwrap());
    }
    assert_eq!(total, Decimal::from_str("244091.94").unwrap());
    assert_eq!(cds, 16_479);
    assert_eq!(customers.len(), 2_357);
    // The first row, and the ids that keep same-day repeat purchases apart.
    assert_eq!(records[0].source_id, "CDNOW_sample.txt:1");
    let Entity::Order(first) = &records[0].entity else { panic!() };
    assert_eq!(first.customer_source_id.as_deref(), Some("0001"));
    assert_eq!(first.created_at.unwrap().to_rfc3339(), "1997-01-01T00:00:00+00:00");
    assert_eq!((first.total, first.item_count), (Decimal::from_str("29.33").unwrap(), Some(2)));
    assert_eq!(records[6_918].source_id, "CDNOW_sample.txt:6919");
}
