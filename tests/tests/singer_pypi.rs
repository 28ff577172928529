//! The singer connector running real taps from PyPI, `tap-jsonl` 0.3.1 and `tap-spreadsheets`
//! 1.1.2 (both built on the Meltano Singer SDK), over local files into a real store.
//!
//! `.ci/run` installs each tap into a virtual environment of its own (their dependencies
//! conflict) under `target/singer-venv/<tap>/`, and `cargo xtask test` passes that folder in
//! `ENGAGE_SINGER_TAPS`. Like the PostgreSQL tests, these fail when a tap is missing:
//! `cargo xtask test` leaves them out only when the taps are not installed and
//! `ENGAGE_REQUIRE_SINGER_TAPS` is not `1` (CI sets it).
//!
//! What the taps do with the STATE they are given differs, and the tests hold each to it:
//! `tap-spreadsheets` skips files not modified since its bookmark, so a second run loads
//! nothing; `tap-jsonl` sends every record again (0.3.1 looks its bookmark up under a key the
//! SDK does not write), and the upsert on its `key_properties` keeps one row per record.

#![allow(clippy::unwrap_used)]

use std::fs::{File, FileTimes};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use engage_connect::DynConnector;
use engage_runner::{BuildOptions, StreamOutcome, SyncOptions, build_connector, sync_stream};
use engage_store::testing::{TestStore, fresh_store};
use engage_store::{Backend, RunStatus, query_read_only};
use serde_json::{Value, json};

const CONNECTION: &str = "pypi";

/// The variable naming the folder of the taps' virtual environments.
const TAPS_VAR: &str = "ENGAGE_SINGER_TAPS";

/// The installed tap `name` (`<ENGAGE_SINGER_TAPS>/<name>/bin/<name>`).
///
/// # Panics
/// When the variable is unset or the tap is not there: a missing tap fails the test.
fn tap(name: &str) -> PathBuf {
    let dir = std::env::var(TAPS_VAR).unwrap_or_else(|_| {
        panic!(
            "{TAPS_VAR} is not set: these tests run the PyPI taps that .ci/run installs into \
             target/singer-venv (cargo xtask test sets it)"
        )
    });
    let path = Path::new(&dir).join(name).join("bin").join(name);
    assert!(path.is_file(), "{} is missing: run .ci/run (or install {name} into that venv)", path.display());
    path
}

/// Writes `text` to `path` with the modification time `secs` after the Unix epoch (the taps
/// bookmark files by it, in whole seconds).
fn write(path: &Path, text: &str, secs: u64) {
    let mut file = File::create(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file.set_times(FileTimes::new().set_modified(UNIX_EPOCH + Duration::from_secs(secs))).unwrap();
}

/// 2024-06-01T00:00:00Z.
const JUNE_1: u64 = 1_717_200_000;

fn connector(command: &Path, tap_config: Value) -> Box<dyn DynConnector> {
    let options = json!({
        "command": command.display().to_string(),
        "config": tap_config,
        "page_size": 7,
        "stream": [{
            "name": "purchases",
            "entity": "order",
            "platform": "pypi_tap",
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
    let outcome =
        sync_stream(&store.store, connector, CONNECTION, "purchases", &SyncOptions::default()).await.unwrap();
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(outcome.quarantined, 0);
    outcome
}

async fn rows(store: &TestStore, sql: &str) -> Vec<Vec<Value>> {
    query_read_only(&store.url, sql).await.unwrap().rows
}

/// (rows, distinct source ids, total in cents) of the stored orders.
async fn stored(store: &TestStore) -> (i64, i64, i64) {
    let count = rows(store, "SELECT COUNT(*), COUNT(DISTINCT source_id) FROM orders").await;
    let totals = rows(store, "SELECT CAST(total AS TEXT) FROM orders").await;
    let cents = totals
        .iter()
        .map(|r| {
            let text = r[0].as_str().unwrap();
            let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
            let frac = format!("{frac:0<2}");
            whole.parse::<i64>().unwrap() * 100 + frac[..2].parse::<i64>().unwrap()
        })
        .sum();
    (count[0][0].as_i64().unwrap(), count[0][1].as_i64().unwrap(), cents)
}

async fn checkpoint(store: &TestStore) -> Value {
    let rows = rows(store, "SELECT checkpoint FROM checkpoints WHERE stream = 'purchases'").await;
    match &rows[0][0] {
        Value::String(text) => serde_json::from_str(text).unwrap(),
        other => other.clone(),
    }
}

/// Purchase `i`: `i.25` euros, bought on day `i % 28 + 1` of May 2024.
fn purchase(i: u64) -> (String, String, String) {
    (format!("user{i}@example.com"), format!("{i}.25"), format!("2024-05-{:02}T10:00:00Z", i % 28 + 1))
}

/// Cents of purchases `range`.
fn cents(range: std::ops::Range<u64>) -> i64 {
    range.map(|i| i as i64 * 100 + 25).sum()
}

fn jsonl(range: std::ops::Range<u64>) -> String {
    range
        .map(|i| {
            let (email, amount, at) = purchase(i);
            format!("{}\n", json!({ "id": i, "email": email, "amount": amount, "bought_at": at }))
        })
        .collect()
}

fn csv(range: std::ops::Range<u64>) -> String {
    let mut text = "id,email,amount,bought_at\n".to_owned();
    for i in range {
        let (email, amount, at) = purchase(i);
        text.push_str(&format!("{i},{email},{amount},{at}\n"));
    }
    text
}

async fn pypi_tap_jsonl_loads_every_record_once(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("2024-05.jsonl"), &jsonl(0..40), JUNE_1);
    let tap = connector(
        &tap("tap-jsonl"),
        json!({
            "path": dir.path().join("*.jsonl").display().to_string(),
            "stream_name": "purchases",
            "primary_keys": ["id"],
            "emit_state_every": 10,
        }),
    );
    let store = fresh_store(backend).await;

    let outcome = sync(&store, tap.as_ref()).await;
    assert_eq!(outcome.records, 40);
    assert_eq!(stored(&store).await, (40, 40, cents(0..40)));
    let file = dir.path().join("2024-05.jsonl").display().to_string();
    let bookmark = json!({ "state": { "bookmarks": { "purchases": {
        "partitions": [{
            "context": { "_sdc_filename": file, "_sdc_stream": "purchases" },
            "replication_key": "_sdc_last_modified",
            "replication_key_value": "2024-06-01T00:00:00+00:00",
        }],
        "replication_key": "_sdc_last_modified",
        "replication_key_value": "2024-06-01T00:00:00+00:00",
    } } } });
    assert_eq!(checkpoint(&store).await, bookmark);
    let row = rows(
        &store,
        "SELECT customer_email, CAST(total AS TEXT), currency, platform, created_at, raw FROM orders \
         WHERE source_id = '7'",
    )
    .await;
    assert_eq!(row[0][0], "user7@example.com");
    assert_eq!(row[0][1].as_str().unwrap().trim_end_matches('0'), "7.25");
    assert_eq!((&row[0][2], &row[0][3]), (&json!("EUR"), &json!("pypi_tap")));
    assert!(row[0][4].as_str().unwrap().starts_with("2024-05-08T10:00:00"), "{:?}", row[0][4]);
    let raw: Value = match &row[0][5] {
        Value::String(text) => serde_json::from_str(text).unwrap(),
        other => other.clone(),
    };
    assert_eq!(raw["_sdc_filename"], json!(file), "the tap's own columns are kept in raw");

    // The STATE goes back; this tap sends every record again, and the upsert keeps one of each.
    let outcome = sync(&store, tap.as_ref()).await;
    assert_eq!(outcome.records, 40);
    assert_eq!(stored(&store).await, (40, 40, cents(0..40)));
    assert_eq!(checkpoint(&store).await, bookmark);

    // A new file: its records join, still once each.
    write(&dir.path().join("2024-06.jsonl"), &jsonl(40..45), JUNE_1 + 3_600);
    let outcome = sync(&store, tap.as_ref()).await;
    assert_eq!(outcome.records, 45);
    assert_eq!(stored(&store).await, (45, 45, cents(0..45)));
}

async fn pypi_tap_spreadsheets_resumes_from_its_state(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("2024-05.csv"), &csv(0..30), JUNE_1);
    let tap = connector(
        &tap("tap-spreadsheets"),
        json!({ "files": [{
            "path": dir.path().join("*.csv").display().to_string(),
            "format": "csv",
            "table_name": "purchases",
            "primary_keys": ["id"],
        }] }),
    );
    let store = fresh_store(backend).await;

    let outcome = sync(&store, tap.as_ref()).await;
    assert_eq!(outcome.records, 30);
    assert_eq!(stored(&store).await, (30, 30, cents(0..30)));
    let bookmark = |at: &str| {
        json!({ "state": { "bookmarks": { "purchases": {
            "replication_key": "_sdc_last_modified",
            "replication_key_value": at,
        } } } })
    };
    assert_eq!(checkpoint(&store).await, bookmark("2024-06-01T00:00:00+00:00"));
    let row =
        rows(&store, "SELECT customer_email, CAST(total AS TEXT) FROM orders WHERE source_id = '29'").await;
    assert_eq!(row[0][0], "user29@example.com");
    assert_eq!(row[0][1].as_str().unwrap().trim_end_matches('0'), "29.25");

    // The STATE goes back and the tap skips the file it has read: nothing comes again.
    let outcome = sync(&store, tap.as_ref()).await;
    assert_eq!(outcome.records, 0);
    assert_eq!(stored(&store).await, (30, 30, cents(0..30)));

    // A newer file: only its records come.
    write(&dir.path().join("2024-06.csv"), &csv(30..36), JUNE_1 + 3_600);
    let outcome = sync(&store, tap.as_ref()).await;
    assert_eq!(outcome.records, 6);
    assert_eq!(stored(&store).await, (36, 36, cents(0..36)));
    assert_eq!(checkpoint(&store).await, bookmark("2024-06-01T01:00:00+00:00"));
}

engage_store::on_both_backends!(
    pypi_tap_jsonl_loads_every_record_once,
    pypi_tap_spreadsheets_resumes_from_its_state
);
