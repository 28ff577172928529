//! End-to-end sync throughput: `N` simulated Zendesk tickets (~2 KB each) from the simulator
//! running in its own process, through the Zendesk connector and the sync engine, into a fresh
//! SQLite store. Prints tickets per second, peak RSS of this process, and the requests a second
//! sync with no changes makes.
//!
//! Usage: `sync_zendesk TICKETS` with `ENGAGE_SANDBOX_BIN` pointing at the `engage-sandbox`
//! binary (`cargo xtask bench sync` builds it and runs this for several sizes, one process
//! each, so that every peak RSS is its own).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

use engage_runner::{BuildOptions, SyncOptions, build_connector, sync_stream};
use engage_store::Backend;
use engage_store::testing::fresh_store;

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

#[tokio::main]
async fn main() {
    let tickets: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let sandbox_bin =
        std::env::var("ENGAGE_SANDBOX_BIN").expect("ENGAGE_SANDBOX_BIN: path of the engage-sandbox binary");
    let mut sim = Command::new(sandbox_bin)
        .args(["zendesk", "--records", &tickets.to_string(), "--unlimited"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start engage-sandbox");
    let mut line = String::new();
    BufReader::new(sim.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the sandbox's URL line");
    let urls: serde_json::Value = serde_json::from_str(&line).expect("URL line is JSON");
    let base_url = urls["zendesk"].as_str().expect("zendesk URL").to_owned();

    let t = fresh_store(Backend::Sqlite).await;
    let defaults = engage_sandbox::zendesk::ZendeskOptions::default();
    let options = serde_json::json!({ "email": defaults.email, "api_token": defaults.api_token });
    let (connector, http) =
        build_connector("zendesk", "bench", Some(&base_url), None, &options, &BuildOptions::default())
            .expect("connector");

    let started = Instant::now();
    let outcome = sync_stream(&t.store, connector.as_ref(), "bench", "tickets", &SyncOptions::default())
        .await
        .expect("sync");
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(outcome.error, None);
    let rss = peak_rss_mib();
    if std::env::var_os("ENGAGE_BENCH_RSS_DETAIL").is_some() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        for l in status.lines().filter(|l| l.starts_with("Rss") || l.starts_with("VmHWM")) {
            eprintln!("{l}");
        }
    }

    let http_before = http.stats().requests;
    let again = sync_stream(&t.store, connector.as_ref(), "bench", "tickets", &SyncOptions::default())
        .await
        .expect("sync");
    let resync_requests = http.stats().requests - http_before;
    assert_eq!(again.written, 0);

    println!(
        "sync/zendesk/sqlite: {} tickets ({} pages) in {secs:.2} s = {:.0} tickets/s; peak RSS {rss:.1} MiB; \
         re-sync with no changes: {} request(s), {} written",
        outcome.records,
        outcome.pages,
        outcome.records as f64 / secs,
        resync_requests,
        again.written
    );
    drop(sim.stdin.take());
    let _ = sim.kill();
    let _ = sim.wait();
}
