//! Test helper: commits pages of tickets into a store in a loop, resuming from the stored
//! checkpoint, and prints `committed N` after each commit. The crash tests kill it.
//!
//! Usage: `store-writer URL PAGES PAGE_SIZE`

use engage_store::{PageWrite, Store};

/// The records of page `n`: deterministic, so a test can rebuild them.
fn page(n: u64, size: u64) -> Vec<engage_model::Record> {
    (0..size)
        .map(|i| engage_store::testing::sample_ticket(&format!("p{n:05}-r{i:04}"), n as u32, 1_500))
        .collect()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(url), Some(pages), Some(size)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: store-writer URL PAGES PAGE_SIZE");
        std::process::exit(2);
    };
    let pages: u64 = pages.parse().expect("PAGES");
    let size: u64 = size.parse().expect("PAGE_SIZE");
    let store = Store::open(url).await.expect("open store");
    let next = match store.checkpoint("crash", "tickets").await.expect("read checkpoint") {
        Some(cp) => cp["page"].as_u64().expect("page in checkpoint") + 1,
        None => 0,
    };
    for n in next..pages {
        let records = page(n, size);
        let checkpoint = serde_json::json!({ "page": n });
        store
            .commit_page(
                "crash",
                "tickets",
                PageWrite { records: &records, checkpoint: Some(&checkpoint), ..Default::default() },
            )
            .await
            .expect("commit");
        println!("committed {n}");
    }
    println!("done");
}
