//! `engage run` end to end: the real binary against the Zendesk simulator on 127.0.0.1.
//!
//! - `postgres::three_runners_share_a_simulated_day`: three runners on one PostgreSQL store and
//!   ten connections for a day of scheduler time (sped up): every due time served exactly once
//!   and in order, one runner killed with SIGKILL mid-sync and its sync completed by another
//!   from the checkpoint, the store equal to the simulator's ground truth.
//! - `*::sigterm_mid_sync_exits_promptly_and_the_next_start_resumes`: SIGTERM mid-sync exits 0
//!   within 5 s, the next start resumes without loss or duplicates, and the Prometheus endpoint
//!   (parsed with a Prometheus text-format parser) agrees with the store.
//! - `sqlite::a_second_runner_on_sqlite_says_so_and_exits`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use engage_config::{Cadence, Cron};
use engage_sandbox::zendesk::{SATISFACTION, TICKETS, USERS, Zendesk, ZendeskOptions};
use engage_sandbox::{Faults, GroundTruth, Mutation, Sim};
use engage_store::Backend;
use engage_store::testing::fresh_url;
use serde_json::Value;

/// Stream name -> store table.
const STREAMS: [(&str, &str); 3] =
    [("tickets", "tickets"), ("users", "identities"), ("satisfaction_ratings", "survey_responses")];

mod sqlite {
    #[test]
    fn sigterm_mid_sync_exits_promptly_and_the_next_start_resumes() {
        super::sigterm_mid_sync_exits_promptly_and_the_next_start_resumes(engage_store::Backend::Sqlite);
    }

    #[test]
    fn a_second_runner_on_sqlite_says_so_and_exits() {
        super::a_second_runner_on_sqlite_says_so_and_exits();
    }
}

mod postgres {
    #[test]
    fn sigterm_mid_sync_exits_promptly_and_the_next_start_resumes() {
        super::sigterm_mid_sync_exits_promptly_and_the_next_start_resumes(engage_store::Backend::Postgres);
    }

    #[test]
    fn three_runners_share_a_simulated_day() {
        super::three_runners_share_a_simulated_day();
    }
}

// ---------------------------------------------------------------------------------------------
// Harness

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// The simulator in a runtime of its own, while the test thread drives the binary.
struct Host {
    sim: Sim<Zendesk>,
    rt: tokio::runtime::Runtime,
}

impl Host {
    fn start(records: usize, faults: Faults) -> Host {
        let rt = runtime();
        let mut options = ZendeskOptions::new(7, records);
        (options.incremental_limit, options.account_limit) = (0, 0);
        let sim = rt.block_on(Sim::<Zendesk>::start(options)).unwrap();
        sim.set_faults(TICKETS, faults);
        Host { sim, rt }
    }

    fn rows(&self, url: &str, sql: &str) -> Vec<Vec<Value>> {
        self.rt
            .block_on(engage_store::query_read_only(url, sql))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .rows
    }

    fn scalar(&self, url: &str, sql: &str) -> i64 {
        self.rows(url, sql)[0][0].as_i64().unwrap_or_else(|| panic!("{sql}: not an integer"))
    }
}

/// A connection of the simulator, as TOML.
fn connection(name: &str, base_url: &str, schedule: &str) -> String {
    let opts = ZendeskOptions::default();
    format!(
        "\n[[connection]]\nname = \"{name}\"\nkind = \"zendesk\"\nbase_url = \"{base_url}\"\nemail = \"{}\"\n\
         api_token = \"{}\"\npage_size = 50\n{schedule}\n",
        opts.email, opts.api_token
    )
}

/// A running `engage run`, its standard error going to a file.
struct Runner {
    child: Child,
    log: PathBuf,
}

impl Runner {
    fn start(config: &Path, extra: &[&str], log: PathBuf) -> Runner {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_engage"));
        cmd.arg("--config").arg(config).arg("run").args(extra);
        cmd.env_remove("ENGAGE_CONFIG").env("ENGAGE_LOG", "info");
        let file = std::fs::File::create(&log).unwrap();
        let child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(file).spawn().unwrap();
        Runner { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The text after `prefix` on the first line of the log that has it, waiting for it.
    fn wait_for_line(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(line) = self.log().lines().find_map(|l| l.strip_prefix(prefix).map(str::to_owned)) {
                return line;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("engage run exited ({status}) before printing `{prefix}`:\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "no `{prefix}` line:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its runner id (`HOST:PID:START`).
    fn id(&mut self) -> String {
        self.wait_for_line("runner ").split(':').take(3).collect::<Vec<_>>().join(":")
    }

    /// Sends SIGTERM and waits for the exit; returns the exit code and how long it took.
    fn terminate(mut self) -> (Option<i32>, Duration) {
        let sent = Instant::now();
        let kill = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(kill.success());
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), sent.elapsed());
            }
            if sent.elapsed() > Duration::from_secs(30) {
                self.child.kill().ok();
                panic!("engage run did not stop within 30 s of SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Waits until `check` holds, polling.
fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Asserts that `connection` stores exactly what the simulator says (ids, raw payloads,
/// deletions), with no duplicates.
fn assert_matches_truth(host: &Host, url: &str, connection: &str, truth: &GroundTruth) {
    for (stream, table) in STREAMS {
        let rows = host.rows(
            url,
            &format!("SELECT source_id, raw, deleted_at FROM {table} WHERE connection = '{connection}' AND stream = '{stream}'"),
        );
        let stored: BTreeMap<String, (Value, bool)> = rows
            .iter()
            .map(|row| {
                let raw = match &row[1] {
                    Value::String(text) => serde_json::from_str(text).unwrap(),
                    other => other.clone(),
                };
                (row[0].as_str().unwrap().to_owned(), (raw, !row[2].is_null()))
            })
            .collect();
        assert_eq!(stored.len(), rows.len(), "{connection}/{stream}: duplicate rows");
        let expected = truth.stream(stream);
        let ids: BTreeSet<&String> = stored.keys().collect();
        let want: BTreeSet<&String> = expected.keys().collect();
        assert!(ids == want, "{connection}/{stream}: stored ids differ from the ground truth");
        for (id, record) in expected {
            let (raw, deleted) = &stored[id];
            assert_eq!(*deleted, record.deleted, "{connection}/{stream} {id}: deleted flag");
            assert!(raw == &record.raw, "{connection}/{stream} {id}: raw payload differs");
        }
    }
}

fn parse_time(v: &Value) -> DateTime<Utc> {
    match v {
        Value::String(s) => DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc),
        other => panic!("not a time: {other}"),
    }
}

/// GET `path` from `addr`; returns the status code and body.
fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

// ---------------------------------------------------------------------------------------------
// SIGTERM, resumption and the Prometheus endpoint

fn sigterm_mid_sync_exits_promptly_and_the_next_start_resumes(backend: Backend) {
    // 1,500 tickets in pages of 50, each page 60 ms late: a full sync takes about two seconds.
    let faults = Faults { latency: Duration::from_millis(60), malformed_rate: 0.02, ..Faults::default() };
    let host = Host::start(1_500, faults);
    let (url, _dir) = host.rt.block_on(fresh_url(backend));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("engage.toml");
    let text = format!(
        "[store]\nurl = \"{url}\"\n\n[scheduler]\nevery = \"1h\"\n{}",
        connection("helpdesk", &host.sim.base_url(), "")
    );
    std::fs::write(&config, text).unwrap();

    // Stopped once a page or more of tickets is committed, and well before the last.
    let mut first = Runner::start(&config, &[], dir.path().join("first.log"));
    let first_id = first.id();
    wait_until("a committed tickets page", Duration::from_secs(60), || {
        host.rows(&url, "SELECT 1 FROM checkpoints WHERE connection = 'helpdesk' AND stream = 'tickets'")
            .len()
            == 1
    });
    let (code, took) = first.terminate();
    assert_eq!(code, Some(0), "exit code after SIGTERM");
    assert!(took < Duration::from_secs(5), "stopping took {took:?}");
    let runs =
        host.rows(&url, "SELECT status, records, due_at, runner FROM sync_runs WHERE stream = 'tickets'");
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!((runs[0][0].as_str(), runs[0][3].as_str()), (Some("cancelled"), Some(first_id.as_str())));
    let committed = runs[0][1].as_i64().unwrap();
    let stored = host.scalar(&url, "SELECT count(*) FROM tickets");
    assert!(committed > 0 && stored < 1_500, "stopped mid-sync: {committed} committed, {stored} stored");
    let due = parse_time(&runs[0][2]);
    // The lease is released and the due time stays due.
    let row = host
        .rows(&url, "SELECT holder, next_due_at, waiting_reason FROM sync_schedule WHERE stream = 'tickets'");
    assert_eq!((&row[0][0], parse_time(&row[0][1])), (&Value::Null, due));
    assert_eq!(row[0][2], "the runner stopped mid-sync; it resumes from its checkpoint");

    // The next start serves the same due time from the checkpoint: nothing lost or repeated.
    host.sim.control().reset_requests();
    let mut second =
        Runner::start(&config, &["--metrics-address", "127.0.0.1:0"], dir.path().join("second.log"));
    let second_id = second.id();
    let addr = second.wait_for_line("serving /metrics and /healthz on http://");
    // Streams the first runner had served wait for their next due time; the others are served.
    wait_until("the first due time of every stream served", Duration::from_secs(120), || {
        let rows = host.rows(&url, "SELECT last_due_at, holder FROM sync_schedule");
        rows.len() == 3 && rows.iter().all(|r| !r[0].is_null() && parse_time(&r[0]) == due && r[1].is_null())
    });
    let resumed = host.rows(
        &url,
        &format!("SELECT records, due_at FROM sync_runs WHERE runner = '{second_id}' AND stream = 'tickets'"),
    );
    assert_eq!(parse_time(&resumed[0][1]), due, "the same due time is served");
    let malformed_tickets = host.sim.ground_truth().malformed(TICKETS).len() as i64;
    assert!(
        resumed[0][0].as_i64().unwrap() + committed <= 1_500 - malformed_tickets + 50,
        "the resumed sync starts from the checkpoint: {} after {committed}",
        resumed[0][0]
    );
    assert_matches_truth(&host, &url, "helpdesk", &host.sim.ground_truth());

    // /healthz, and /metrics parsed as Prometheus text: its counters are the store's numbers.
    let (status, health) = http_get(&addr, "/healthz");
    assert_eq!(status, 200, "{health}");
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(
        (health["status"].as_str(), health["runner"].as_str()),
        (Some("ok"), Some(second_id.as_str()))
    );
    let (status, text) = http_get(&addr, "/metrics");
    assert_eq!(status, 200);
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let sample = |name: &str, labels: &[(&str, &str)]| -> f64 {
        let found: Vec<f64> = scrape
            .samples
            .iter()
            .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => panic!("{name} is not a number"),
            })
            .collect();
        assert_eq!(found.len(), 1, "{name} {labels:?} in\n{text}");
        found[0]
    };
    for (stream, _) in STREAMS {
        let totals = host.rows(
            &url,
            &format!(
                "SELECT COALESCE(SUM(records), 0), COALESCE(SUM(pages), 0), COALESCE(SUM(quarantined), 0), COUNT(*) \
                 FROM sync_runs WHERE runner = '{second_id}' AND stream = '{stream}' AND status = 'succeeded'"
            ),
        );
        let labels = [("connection", "helpdesk"), ("stream", stream)];
        let number = |i: usize| {
            totals[0][i].as_f64().or_else(|| totals[0][i].as_str().and_then(|s| s.parse().ok())).unwrap()
        };
        assert_eq!(sample("engage_sync_records_total", &labels), number(0), "{stream} records");
        assert_eq!(sample("engage_sync_pages_total", &labels), number(1), "{stream} pages");
        assert_eq!(sample("engage_sync_quarantined_total", &labels), number(2), "{stream} quarantined");
        let succeeded = [("connection", "helpdesk"), ("stream", stream), ("status", "succeeded")];
        assert_eq!(sample("engage_syncs_total", &succeeded), number(3), "{stream} runs");
        let failed = [("connection", "helpdesk"), ("stream", stream), ("status", "failed")];
        assert_eq!(sample("engage_syncs_total", &failed), 0.0);
    }
    assert!(
        sample("engage_sync_quarantined_total", &[("stream", "tickets")]) > 0.0,
        "some tickets were malformed"
    );
    // Every request the simulator saw since the second start came from this runner.
    assert_eq!(
        sample("engage_http_requests_total", &[("connection", "helpdesk")]),
        host.sim.total_requests() as f64
    );
    assert_eq!(sample("engage_syncs_running", &[]), 0.0);

    let (code, took) = second.terminate();
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(5), "stopping took {took:?}");
    // `engage status` shows each stream with its schedule, and no lease held.
    let out = Command::new(env!("CARGO_BIN_EXE_engage"))
        .args(["--config", config.to_str().unwrap(), "status", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let status: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status.len(), 3);
    for row in &status {
        assert_eq!(
            (row["status"].as_str(), row["schedule"].as_str()),
            (Some("succeeded"), Some("every 1h")),
            "{row}"
        );
        assert_eq!(row["holder"], Value::Null, "{row}");
        assert!(row["next_due_at"].is_string() && row["last_success_at"].is_string(), "{row}");
    }
    let tickets = status.iter().find(|r| r["stream"] == "tickets").unwrap();
    assert_eq!(tickets["stored_records"], host.sim.ground_truth().stream(TICKETS).len());
}

fn a_second_runner_on_sqlite_says_so_and_exits() {
    let host = Host::start(200, Faults::default());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("engage.toml");
    std::fs::write(&config, connection("helpdesk", &host.sim.base_url(), "")).unwrap();
    let mut first = Runner::start(&config, &[], dir.path().join("first.log"));
    let first_id = first.id();
    let out = Command::new(env!("CARGO_BIN_EXE_engage"))
        .args(["--config", config.to_str().unwrap(), "run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "error: another runner ({first_id}) is already running on this SQLite store; SQLite allows one \
             runner at a time (stop it first, or use a PostgreSQL store to run several)"
        )),
        "{stderr}"
    );
    assert_eq!(first.terminate().0, Some(0));
}

// ---------------------------------------------------------------------------------------------
// Three runners, one PostgreSQL store, a simulated day

/// Scheduler time runs this many times faster than wall time: a day in two minutes.
const SCALE: f64 = 720.0;

fn three_runners_share_a_simulated_day() {
    let faults = Faults { latency: Duration::from_millis(40), ..Faults::default() };
    let host = Host::start(400, faults);
    let (url, _) = host.rt.block_on(fresh_url(Backend::Postgres));
    let base = host.sim.base_url();
    // Ten connections on the one simulator, on various schedules.
    let schedules: Vec<(String, String, Cadence)> = (0..10)
        .map(|i| {
            let name = format!("c{i:02}");
            let (toml, cadence) = match i {
                0..=3 => ("schedule = { every = \"1h\" }".to_owned(), Cadence::Every(Duration::from_secs(3_600))),
                4..=5 => (
                    "schedule = { every = \"2h\", jitter = \"10m\" }".to_owned(),
                    Cadence::Every(Duration::from_secs(7_200)),
                ),
                6 => (
                    "schedule = { cron = \"0 */3 * * *\", timezone = \"Europe/Paris\" }".to_owned(),
                    Cadence::Cron(Cron::parse("0 */3 * * *", "Europe/Paris").unwrap()),
                ),
                7 => (
                    "schedule = { cron = \"30 */4 * * *\", timezone = \"America/New_York\", jitter = \"5m\" }".to_owned(),
                    Cadence::Cron(Cron::parse("30 */4 * * *", "America/New_York").unwrap()),
                ),
                _ => (String::new(), Cadence::Every(Duration::from_secs(5_400))),
            };
            (name, toml, cadence)
        })
        .collect();
    let mut text = format!(
        "[store]\nurl = \"{url}\"\n\n[scheduler]\nevery = \"90m\"\nmax_concurrent_syncs = 4\nlease_ttl = \"10m\"\n\
         retries = 2\nretry_backoff = \"1m\"\n"
    );
    for (name, toml, _) in &schedules {
        text.push_str(&connection(name, &base, toml));
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("engage.toml");
    std::fs::write(&config, text).unwrap();
    let migrate = Command::new(env!("CARGO_BIN_EXE_engage"))
        .args(["--config", config.to_str().unwrap(), "migrate"])
        .output()
        .unwrap();
    assert_eq!(migrate.status.code(), Some(0), "{}", String::from_utf8_lossy(&migrate.stderr));

    let epoch = Utc::now();
    let epoch_arg = epoch.to_rfc3339();
    let scale_arg = SCALE.to_string();
    let args = ["--time-scale", scale_arg.as_str(), "--time-epoch", epoch_arg.as_str()];
    let sched_now = || {
        epoch
            + chrono::Duration::milliseconds(((Utc::now() - epoch).num_milliseconds() as f64 * SCALE) as i64)
    };
    let mut runners: Vec<Runner> =
        (0..3).map(|i| Runner::start(&config, &args, dir.path().join(format!("r{i}.log")))).collect();
    let ids: Vec<String> = runners.iter_mut().map(Runner::id).collect();

    // Kill one runner in the middle of a tickets sync: a page committed in this run, more to
    // come (eight pages of 50).
    let victim_run = {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let rows = host.rows(
                &url,
                "SELECT r.runner, r.connection, r.due_at FROM sync_runs r JOIN checkpoints c \
                 ON c.connection = r.connection AND c.stream = r.stream \
                 WHERE r.stream = 'tickets' AND r.status = 'running' AND c.updated_at > r.started_at",
            );
            if let Some(row) = rows.first() {
                break (
                    row[0].as_str().unwrap().to_owned(),
                    row[1].as_str().unwrap().to_owned(),
                    parse_time(&row[2]),
                );
            }
            assert!(Instant::now() < deadline, "no tickets sync caught mid-way");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let victim = ids.iter().position(|id| *id == victim_run.0).unwrap();
    let mut killed = runners.remove(victim);
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();
    let survivors: Vec<String> = ids.iter().filter(|id| **id != victim_run.0).cloned().collect();

    // The simulator changes during the first half of the day.
    let mut mutations = 0;
    let half = epoch + chrono::Duration::hours(12);
    while sched_now() < half {
        std::thread::sleep(Duration::from_secs(6));
        host.sim.mutate(Mutation { updates: 6, deletions: 2, creations: 5 });
        mutations += 1;
    }
    let end = epoch + chrono::Duration::hours(24);
    while sched_now() < end {
        std::thread::sleep(Duration::from_millis(200));
    }
    let stopped_at = sched_now();
    for runner in runners {
        let (code, took) = runner.terminate();
        assert_eq!(code, Some(0), "exit code after SIGTERM");
        assert!(took < Duration::from_secs(5), "stopping took {took:?}");
    }
    assert!(mutations >= 5);

    // The killed runner's sync was taken over and completed from its checkpoint.
    let (victim_id, victim_conn, victim_due) = victim_run;
    let takeover = host.rows(
        &url,
        &format!(
            "SELECT runner, status, records, error FROM sync_runs WHERE connection = '{victim_conn}' \
             AND stream = 'tickets' AND due_at = '{}' ORDER BY run_id",
            victim_due.to_rfc3339()
        ),
    );
    assert_eq!(takeover.len(), 2, "{takeover:?}");
    assert_eq!(takeover[0][0].as_str(), Some(victim_id.as_str()));
    assert_eq!(takeover[0][1].as_str(), Some("failed"));
    assert!(
        takeover[0][3]
            .as_str()
            .unwrap()
            .starts_with(&format!("abandoned: runner {victim_id} stopped renewing its lease"))
    );
    assert!(survivors.iter().any(|s| takeover[1][0].as_str() == Some(s)), "{takeover:?}");
    assert_eq!(takeover[1][1].as_str(), Some("succeeded"));
    assert!(takeover[1][2].as_i64().unwrap() < 400, "the takeover resumed from the checkpoint: {takeover:?}");

    // Every due time served exactly once, in order, with none skipped, until the end.
    for (name, _, cadence) in &schedules {
        for (stream, _) in STREAMS {
            let runs = host.rows(
                &url,
                &format!(
                    "SELECT due_at, status, runner, error FROM sync_runs WHERE connection = '{name}' \
                     AND stream = '{stream}' ORDER BY due_at, run_id"
                ),
            );
            let mut served: Vec<DateTime<Utc>> = Vec::new();
            for run in &runs {
                match run[1].as_str().unwrap() {
                    "succeeded" => served.push(parse_time(&run[0])),
                    "failed" => {
                        assert_eq!(run[2].as_str(), Some(victim_id.as_str()), "{name}/{stream}: {run:?}");
                        assert!(run[3].as_str().unwrap().starts_with("abandoned: "), "{run:?}");
                    }
                    "cancelled" => {
                        assert!(parse_time(&run[0]) > stopped_at - chrono::Duration::hours(6), "{run:?}")
                    }
                    other => panic!("{name}/{stream}: a run left {other}: {run:?}"),
                }
            }
            let first = served[0];
            // The first due time is the latest at the runners' start (a few scheduler minutes
            // after the epoch), served at once.
            assert!(
                first <= epoch + chrono::Duration::minutes(30) && cadence.next_after(first) > epoch,
                "{name}/{stream}: first due {first}, epoch {epoch}"
            );
            for pair in served.windows(2) {
                if pair[1] != cadence.next_after(pair[0]) {
                    // What the connection's runs and the runners said around the gap.
                    let around = host.rows(
                        &url,
                        &format!(
                            "SELECT stream, due_at, status, runner, started_at, finished_at, error FROM sync_runs \
                             WHERE connection = '{name}' ORDER BY run_id"
                        ),
                    );
                    let warnings: Vec<String> = (0..3)
                        .flat_map(|i| {
                            let log = std::fs::read_to_string(dir.path().join(format!("r{i}.log")))
                                .unwrap_or_default();
                            log.lines()
                                .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                                .map(str::to_owned)
                                .collect::<Vec<_>>()
                        })
                        .collect();
                    panic!(
                        "{name}/{stream}: due time {} follows {}; served {served:?}\nruns of {name}: {around:#?}\nwarnings: {warnings:#?}",
                        pair[1], pair[0]
                    );
                }
            }
            let row = host.rows(
                &url,
                &format!("SELECT next_due_at, holder FROM sync_schedule WHERE connection = '{name}' AND stream = '{stream}'"),
            );
            let last = *served.last().unwrap();
            assert_eq!(parse_time(&row[0][0]), cadence.next_after(last), "{name}/{stream}: nothing skipped");
            assert_eq!(row[0][1], Value::Null, "{name}/{stream}: lease released");
            // It kept up until the end: the longest interval is four hours.
            assert!(
                last > stopped_at - chrono::Duration::hours(5),
                "{name}/{stream}: last served {last}, stopped at {stopped_at}"
            );
        }
    }

    // And the store equals the simulator's ground truth for all ten connections.
    let truth = host.sim.ground_truth();
    for (name, _, _) in &schedules {
        assert_matches_truth(&host, &url, name, &truth);
    }
    let (users, ratings) = (truth.stream(USERS).len(), truth.stream(SATISFACTION).len());
    assert!(users > 0 && ratings > 0);
}
