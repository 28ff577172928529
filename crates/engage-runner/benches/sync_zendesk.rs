//! End-to-end sync throughput: `N` simulated Zendesk tickets (~2 KB each) from the simulator
//! running in its own process, through the Zendesk connector and the sync engine, into a fresh
//! SQLite store. Prints tickets per second, peak RSS of this process, and the requests a second
//! sync with no changes makes.
//!
//! The simulator shares the machine's cores with the sync, so it is started with
//! `--cache-pages` and an untimed warm-up sync into a scratch store (in a child process, so that
//! it leaves this process's peak RSS alone) renders every page first: the timed sync then costs
//! the simulator little more than writing bytes to a socket, as a remote vendor would.
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

/// The untimed warm-up: one sync of every ticket at `base_url` into a scratch store.
async fn warm_up(base_url: &str) {
    let t = fresh_store(Backend::Sqlite).await;
    let (connector, _) = connector(base_url);
    let outcome = sync_stream(&t.store, connector.as_ref(), "bench", "tickets", &SyncOptions::default())
        .await
        .expect("warm-up sync");
    assert_eq!(outcome.error, None);
}

fn connector(base_url: &str) -> (Box<dyn engage_connect::DynConnector>, engage_connect::HttpClients) {
    let defaults = engage_sandbox::zendesk::ZendeskOptions::default();
    let options = serde_json::json!({ "email": defaults.email, "api_token": defaults.api_token });
    build_connector("zendesk", "bench", Some(base_url), None, &options, &BuildOptions::default())
        .expect("connector")
}

/// User plus system CPU seconds of process `pid` so far (`/proc/PID/stat`, in clock ticks of
/// 1/100 s, the Linux default).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name and state.
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, base_url, ..] = args.as_slice()
        && flag == "--warm-up"
    {
        warm_up(base_url).await;
        return;
    }
    let tickets: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let sandbox_bin =
        std::env::var("ENGAGE_SANDBOX_BIN").expect("ENGAGE_SANDBOX_BIN: path of the engage-sandbox binary");
    let mut sim = Command::new(sandbox_bin)
        .args(["zendesk", "--records", &tickets.to_string(), "--unlimited", "--cache-pages"])
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
    let (connector, http) = connector(&base_url);

    let warm_up = Command::new(std::env::current_exe().expect("the bench's own path"))
        .args(["--warm-up", &base_url])
        .status()
        .expect("start the warm-up sync");
    assert!(warm_up.success(), "warm-up sync failed: {warm_up}");

    let sim_pid = sim.id().to_string();
    let (cpu_before, sim_cpu_before) = (cpu_seconds("self"), cpu_seconds(&sim_pid));
    let started = Instant::now();
    let outcome = sync_stream(&t.store, connector.as_ref(), "bench", "tickets", &SyncOptions::default())
        .await
        .expect("sync");
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds("self") - cpu_before;
    let sim_cpu = cpu_seconds(&sim_pid) - sim_cpu_before;
    assert_eq!(outcome.error, None);
    let rss = peak_rss_mib();
    if std::env::var_os("ENGAGE_BENCH_THREADS").is_some() {
        for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
            let tid = task.file_name().to_string_lossy().into_owned();
            let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            eprintln!("thread {tid} {}: {:.2} s CPU", name.trim(), cpu_seconds(&format!("self/task/{tid}")));
        }
    }
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
         CPU {cpu:.2} s (simulator {sim_cpu:.2} s); re-sync with no changes: {} request(s), {} written",
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
