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
const RUNS: usize = 3;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
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
    let batches: Vec<Vec<Record>> = [1, 2]
        .into_iter()
        .map(|version| {
            (0..RECORDS)
                .map(|i| sample_ticket(&format!("{}", 10_000_000_000u64 + i as u64), version, RAW_BYTES))
                .collect()
        })
        .collect();
    let avg_raw = batches[0].iter().map(|r| r.raw.get().len()).sum::<usize>() / RECORDS;
    for backend in backends {
        let mut seconds = [Vec::new(), Vec::new()];
        for _ in 0..RUNS {
            let t = fresh_store(backend).await;
            for (i, records) in batches.iter().enumerate() {
                let started = Instant::now();
                let mut written = 0;
                for (n, page) in records.chunks(PAGE).enumerate() {
                    let checkpoint = serde_json::json!({ "page": n });
                    let page =
                        PageWrite { records: page, checkpoint: Some(&checkpoint), ..PageWrite::default() };
                    written += t.store.commit_page("bench", "tickets", page).await.expect("commit").written;
                }
                seconds[i].push(started.elapsed().as_secs_f64());
                assert_eq!(written, RECORDS as u64);
            }
            t.store.close().await;
        }
        for (label, mut runs) in ["insert", "update"].into_iter().zip(seconds) {
            runs.sort_by(f64::total_cmp);
            let median = runs[runs.len() / 2];
            println!(
                "store/{backend}/{label}: {RECORDS} records (avg raw {avg_raw} B), pages of {PAGE}: \
                 median of {RUNS} runs {median:.2} s = {:.0} upserts/s (best {:.0}/s)",
                RECORDS as f64 / median,
                RECORDS as f64 / runs[0]
            );
        }
    }
}
