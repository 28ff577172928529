//! Upsert throughput of `Store::commit_page`: 100,000 ticket records with ~2 KB raw payloads,
//! committed in pages of 1,000, into a fresh store; then the same records again with a change.
//!
//! `cargo xtask bench store` runs it on SQLite and, when a PostgreSQL server is at hand, on
//! PostgreSQL. Arguments: `[sqlite|postgres]...`; PostgreSQL needs `ENGAGE_TEST_PG_URL`.

use std::time::Instant;

use engage_model::Record;
use engage_store::testing::{fresh_store, sample_ticket};
use engage_store::{Backend, PageWrite};

const RECORDS: usize = 100_000;
const PAGE: usize = 1_000;
const RAW_BYTES: usize = 2_048;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let backends: Vec<Backend> = if args.is_empty() {
        vec![Backend::Sqlite]
    } else {
        args.iter()
            .map(|a| match a.as_str() {
                "sqlite" => Backend::Sqlite,
                "postgres" => Backend::Postgres,
                other => panic!("unknown backend `{other}`: use sqlite or postgres"),
            })
            .collect()
    };
    for backend in backends {
        let t = fresh_store(backend).await;
        for (label, version) in [("insert", 1), ("update", 2)] {
            let records: Vec<Record> = (0..RECORDS)
                .map(|i| {
                    sample_ticket(
                        &format!("{}", 10_000_000_000u64 + i as u64),
                        version,
                        RAW_BYTES,
                    )
                })
                .collect();
            let raw_bytes: usize = records.iter().map(|r| r.raw.get().len()).sum();
            let started = Instant::now();
            let mut written = 0;
            for (n, page) in records.chunks(PAGE).enumerate() {
                let checkpoint = serde_json::json!({ "page": n });
                let page = PageWrite {
                    records: page,
                    checkpoint: Some(&checkpoint),
                    ..PageWrite::default()
                };
                written += t
                    .store
                    .commit_page("bench", "tickets", page)
                    .await
                    .expect("commit")
                    .written;
            }
            let secs = started.elapsed().as_secs_f64();
            assert_eq!(written, RECORDS as u64);
            println!(
                "store/{backend}/{label}: {RECORDS} records (avg raw {} B) in pages of {PAGE}: {secs:.2} s, {:.0} upserts/s",
                raw_bytes / RECORDS,
                RECORDS as f64 / secs
            );
        }
    }
}
