//! Crash safety: a writer process committing pages is killed with SIGKILL at several points;
//! the store then holds exactly the pages committed before the kill with their checkpoint, and
//! re-committing the last page changes nothing. On both backends.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use engage_store::testing::{fresh_url, sample_ticket};
use engage_store::{Backend, PageWrite, Store, query_read_only};

const PAGES: u64 = 400;
const PAGE_SIZE: u64 = 50;

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn killed_writer_leaves_exactly_the_committed_pages() {
        super::killed_writer_leaves_exactly_the_committed_pages(engage_store::Backend::Sqlite).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn killed_writer_leaves_exactly_the_committed_pages() {
        super::killed_writer_leaves_exactly_the_committed_pages(engage_store::Backend::Postgres).await;
    }
}

/// Kill points: after this many `committed` lines of the run, or (0) after a delay, mid-page.
const KILL_AFTER_LINES: [u64; 5] = [1, 7, 0, 23, 0];

async fn killed_writer_leaves_exactly_the_committed_pages(backend: Backend) {
    let (url, _dir) = fresh_url(backend).await;
    let mut last_reported: Option<u64> = None;
    for (round, kill_after) in KILL_AFTER_LINES.iter().enumerate() {
        let mut child = Command::new(env!("CARGO_BIN_EXE_store-writer"))
            .args([url.as_str(), &PAGES.to_string(), &PAGE_SIZE.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start store-writer");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        if *kill_after == 0 {
            // Kill at an arbitrary instant, most likely in the middle of a page.
            let first = lines.next().unwrap().unwrap();
            last_reported = Some(parse_committed(&first));
            std::thread::sleep(Duration::from_millis(37 + 29 * round as u64));
        } else {
            for _ in 0..*kill_after {
                let line = lines.next().unwrap().unwrap();
                last_reported = Some(parse_committed(&line));
            }
        }
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        // Lines printed before the kill that we have not read yet are commits too.
        for line in lines.map_while(Result::ok) {
            if line.starts_with("committed ") {
                last_reported = Some(parse_committed(&line));
            }
        }

        let store = Store::open(&url).await.unwrap();
        let checkpoint = store.checkpoint("crash", "tickets").await.unwrap().expect("a checkpoint");
        let committed = checkpoint["page"].as_u64().unwrap();
        let reported = last_reported.unwrap();
        // A commit may land just before the kill without its line being printed.
        assert!(
            committed == reported || committed == reported + 1,
            "round {round}: checkpoint {committed}, last reported {reported}"
        );
        let count = store.count_rows("tickets").await.unwrap() as u64;
        assert_eq!(count, (committed + 1) * PAGE_SIZE, "round {round}: rows match the checkpoint");
        let newest =
            query_read_only(&url, "SELECT max(source_id) AS newest FROM tickets").await.unwrap().rows;
        assert_eq!(newest[0][0], serde_json::json!(format!("p{committed:05}-r{:04}", PAGE_SIZE - 1)));

        // Re-committing the last page with its checkpoint changes nothing.
        let before = query_read_only(&url, "SELECT * FROM tickets ORDER BY source_id").await.unwrap().rows;
        let records: Vec<_> = (0..PAGE_SIZE)
            .map(|i| sample_ticket(&format!("p{committed:05}-r{i:04}"), committed as u32, 1_500))
            .collect();
        let stats = store
            .commit_page(
                "crash",
                "tickets",
                PageWrite { records: &records, checkpoint: Some(&checkpoint), ..Default::default() },
            )
            .await
            .unwrap();
        assert_eq!((stats.written, stats.unchanged), (0, PAGE_SIZE));
        let after = query_read_only(&url, "SELECT * FROM tickets ORDER BY source_id").await.unwrap().rows;
        assert!(before == after, "round {round}: re-committing the last page changed the store");
        store.close().await;
    }
    // Finally the writer resumes from the checkpoint and completes: every page exactly once.
    let status = Command::new(env!("CARGO_BIN_EXE_store-writer"))
        .args([url.as_str(), &PAGES.to_string(), &PAGE_SIZE.to_string()])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.count_rows("tickets").await.unwrap() as u64, PAGES * PAGE_SIZE);
    let distinct =
        query_read_only(&url, "SELECT count(DISTINCT source_id) AS n FROM tickets").await.unwrap().rows;
    assert_eq!(distinct[0][0], serde_json::json!(PAGES * PAGE_SIZE));
}

fn parse_committed(line: &str) -> u64 {
    line.strip_prefix("committed ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected line `{line}`"))
}
