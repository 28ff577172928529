//! `engage demo`, `engage sync` and `engage check` end to end: the real binary against the
//! simulators on 127.0.0.1 (Zendesk for sync and check; every demo connection for the demo),
//! checked against the simulators' ground truth and the store.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use engage_sandbox::zendesk::{TICKET_BASE, Zendesk, ZendeskOptions};
use engage_sandbox::{Faults, GroundTruth, Mutation, SandboxOptions, Sim};
use serde_json::Value;

/// The connection name every test configures (the one `engage demo` writes, too).
const CONNECTION: &str = "helpdesk";
/// Stream name -> store table, in the connector's stream order.
const STREAMS: [(&str, &str); 3] =
    [("tickets", "tickets"), ("users", "identities"), ("satisfaction_ratings", "survey_responses")];
/// Columns of the `engage sync` summary.
const SUMMARY_COLUMNS: [&str; 10] = [
    "connection",
    "stream",
    "status",
    "pages",
    "records",
    "written",
    "quarantined",
    "seconds",
    "records_per_s",
    "error",
];

/// The API token the simulator accepts: the secret that must never be printed.
fn token() -> String {
    ZendeskOptions::default().api_token
}

// ---------------------------------------------------------------------------------------------
// Running the binary

fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_engage"));
    cmd.args(args).env_remove("ENGAGE_CONFIG").env_remove("ENGAGE_LOG");
    cmd
}

/// Runs `engage ARGS` to completion (standard streams captured, so not a terminal).
fn engage(args: &[&str]) -> Output {
    command(args).stdin(Stdio::null()).output().expect("run engage")
}

/// `engage --config CONFIG ARGS`.
fn engage_with(config: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    engage(&all)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn all_output(out: &Output) -> String {
    format!("--- stdout\n{}--- stderr\n{}", stdout(out), stderr(out))
}

/// Asserts the exit code, showing everything the command printed when it differs.
#[track_caller]
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(out.status.code(), Some(code), "{}", all_output(out));
}

#[track_caller]
fn assert_no_secret(out: &Output) {
    let text = all_output(out);
    assert!(!text.contains(&token()), "the API token was printed:\n{text}");
}

// ---------------------------------------------------------------------------------------------
// The simulator, in its own runtime so that the tests can block on the binary

/// A Zendesk simulator served by a private runtime while the test thread runs `engage`.
struct Host {
    sim: Sim<Zendesk>,
    rt: tokio::runtime::Runtime,
}

impl Host {
    fn start(options: ZendeskOptions) -> Host {
        let rt = runtime();
        let sim = rt.block_on(Sim::<Zendesk>::start(options)).unwrap();
        Host { sim, rt }
    }

    /// `records` tickets, seed 1, no incremental-export rate limit.
    fn zendesk(records: usize) -> Host {
        let mut options = ZendeskOptions::new(1, records);
        options.incremental_limit = 0;
        Host::start(options)
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn query(rt: &tokio::runtime::Runtime, url: &str, sql: &str) -> Vec<Vec<Value>> {
    rt.block_on(engage_store::query_read_only(url, sql)).unwrap_or_else(|e| panic!("{sql}: {e}")).rows
}

fn scalar(rt: &tokio::runtime::Runtime, url: &str, sql: &str) -> i64 {
    query(rt, url, sql)[0][0].as_i64().unwrap_or_else(|| panic!("{sql}: not an integer"))
}

/// The expected record count of each stream (by stream name).
fn truth_counts(truth: &GroundTruth) -> BTreeMap<&'static str, i64> {
    STREAMS.iter().map(|(stream, _)| (*stream, truth.stream(stream).len() as i64)).collect()
}

/// The stored record count of each stream (by stream name), from its table.
fn store_counts(rt: &tokio::runtime::Runtime, url: &str) -> BTreeMap<&'static str, i64> {
    STREAMS
        .iter()
        .map(|(stream, table)| {
            let n = scalar(
                rt,
                url,
                &format!(
                    "SELECT count(*) FROM {table} WHERE connection = '{CONNECTION}' AND stream = '{stream}'"
                ),
            );
            (*stream, n)
        })
        .collect()
}

/// The stored source ids of one stream.
fn stored_ids(rt: &tokio::runtime::Runtime, url: &str, stream: &str, table: &str) -> BTreeSet<String> {
    query(rt, url, &format!("SELECT source_id FROM {table} WHERE stream = '{stream}'"))
        .into_iter()
        .map(|row| row[0].as_str().unwrap().to_owned())
        .collect()
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("engage.db").display())
}

/// Writes DIR/engage.toml for one Zendesk connection at `base_url`, the token in DIR/secrets/.
fn write_config(dir: &Path, base_url: &str, extra: &str) -> PathBuf {
    let sim = ZendeskOptions::default();
    std::fs::create_dir_all(dir.join("secrets")).unwrap();
    std::fs::write(dir.join("secrets/helpdesk_api_token"), format!("{}\n", sim.api_token)).unwrap();
    let config = dir.join("engage.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"sqlite://engage.db\"\n\n[[connection]]\nname = \"{CONNECTION}\"\nkind = \"zendesk\"\n\
             base_url = \"{base_url}\"\nemail = \"{}\"\napi_token_file = \"secrets/helpdesk_api_token\"\n{extra}",
            sim.email
        ),
    )
    .unwrap();
    config
}

/// `ceil(records / page)`: the pages of a stream read from the start.
fn pages_of(records: i64, page: i64) -> u64 {
    ((records + page - 1) / page) as u64
}

// ---------------------------------------------------------------------------------------------
// The `engage sync` summary

#[derive(Debug, Clone, PartialEq)]
struct Row {
    connection: String,
    stream: String,
    status: String,
    pages: u64,
    records: u64,
    written: u64,
    quarantined: u64,
    error: String,
}

/// Parses the aligned summary table: header, rule, one line per stream, `(N rows)`.
#[track_caller]
fn summary_table(out: &Output) -> Vec<Row> {
    let text = stdout(out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 3, "no summary table:\n{}", all_output(out));
    assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), SUMMARY_COLUMNS, "{text}");
    assert!(lines[1].chars().all(|c| c == '-' || c == ' '), "{text}");
    let rows: Vec<Row> = lines[2..lines.len() - 1]
        .iter()
        .map(|line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            assert!(cells.len() >= 9, "{line}");
            let number = |i: usize| cells[i].parse::<u64>().unwrap_or_else(|_| panic!("{line}"));
            cells[7].parse::<f64>().unwrap_or_else(|_| panic!("seconds: {line}"));
            cells[8].parse::<f64>().unwrap_or_else(|_| panic!("records_per_s: {line}"));
            Row {
                connection: cells[0].to_owned(),
                stream: cells[1].to_owned(),
                status: cells[2].to_owned(),
                pages: number(3),
                records: number(4),
                written: number(5),
                quarantined: number(6),
                error: cells[9..].join(" "),
            }
        })
        .collect();
    let plural = if rows.len() == 1 { "" } else { "s" };
    assert_eq!(lines[lines.len() - 1], format!("({} row{plural})", rows.len()), "{text}");
    rows
}

/// The summary row of `stream`.
#[track_caller]
fn row<'a>(rows: &'a [Row], stream: &str) -> &'a Row {
    rows.iter().find(|r| r.stream == stream).unwrap_or_else(|| panic!("no row for {stream}: {rows:?}"))
}

/// Every stream of the connection, in order, with this status and no quarantine.
#[track_caller]
fn assert_streams(rows: &[Row], status: &str) {
    let streams: Vec<&str> = rows.iter().map(|r| r.stream.as_str()).collect();
    assert_eq!(streams, STREAMS.map(|(s, _)| s), "{rows:?}");
    for r in rows {
        assert_eq!(
            (r.connection.as_str(), r.status.as_str(), r.quarantined),
            (CONNECTION, status, 0),
            "{r:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 1. engage demo

/// The `[[connection]]`s of a configuration `engage demo` wrote (one per entry of the demo's
/// `CONNECTIONS`), as (name, kind), and the simulators' clock it records.
fn demo_connections(toml: &str) -> (Vec<(String, String)>, i64) {
    let value = |line: &str, key: &str| {
        line.strip_prefix(key)
            .and_then(|r| r.trim_start().strip_prefix('='))
            .map(|r| r.trim().trim_matches('"').to_owned())
    };
    let mut connections: Vec<(String, String)> = Vec::new();
    for line in toml.lines() {
        if line.trim() == "[[connection]]" {
            connections.push((String::new(), String::new()));
        } else if let Some(last) = connections.last_mut() {
            if let Some(v) = value(line, "name") {
                last.0 = v;
            } else if let Some(v) = value(line, "kind") {
                last.1 = v;
            }
        }
    }
    assert!(connections.iter().all(|(n, k)| !n.is_empty() && !k.is_empty()), "{toml}");
    let clock = toml
        .lines()
        .find_map(|l| {
            l.split_once("clock ").map(|(_, rest)| rest.split(' ').next().unwrap().parse().unwrap())
        })
        .expect("the demo records the simulators' clock");
    (connections, clock)
}

/// Every entity table.
const TABLES: [&str; 8] = [
    "identities",
    "tickets",
    "reviews",
    "email_campaigns",
    "email_events",
    "survey_responses",
    "orders",
    "interactions",
];

#[test]
fn demo_syncs_every_simulated_record_and_reports_from_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let out = engage(&["demo", "--dir", dir.to_str().unwrap(), "--records", "300"]);
    assert_exit(&out, 0);
    assert_no_secret(&out);
    let config = dir.join("engage.toml");
    assert!(config.is_file() && dir.join("engage.db").is_file(), "{}", all_output(&out));
    let toml = std::fs::read_to_string(&config).unwrap();
    let (connections, clock) = demo_connections(&toml);
    assert!(connections.iter().any(|(name, kind)| (name.as_str(), kind.as_str()) == (CONNECTION, "zendesk")));
    let names: BTreeSet<&str> = connections.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), connections.len(), "connection names are unique: {connections:?}");

    let validate = engage_with(&config, &["validate"]);
    assert_exit(&validate, 0);
    assert_eq!(
        stdout(&validate),
        format!("{}: OK ({} connection(s), SQLite store)\n", config.display(), connections.len())
    );
    assert_no_secret(&validate);

    // Each simulator the demo ran, rebuilt here with the demo's seed, size and clock.
    let rt = runtime();
    let url = sqlite_url(&dir);
    for (connection, kind) in &connections {
        assert!(engage_sandbox::SIMULATORS.contains(&kind.as_str()), "{kind} has no simulator");
        let truth = rt.block_on(async {
            let options =
                SandboxOptions { records: 300, seed: 1, unlimited: false, now: clock, cache_pages: false };
            engage_sandbox::registry::start(kind, &options).await.unwrap().ground_truth()
        });
        assert!(!truth.streams.is_empty(), "{kind}");
        // Records a simulator serves malformed (some do even without faults) are quarantined.
        let quarantined: BTreeSet<(String, String)> = query(
            &rt,
            &url,
            &format!("SELECT stream, source_id FROM quarantine WHERE connection = '{connection}'"),
        )
        .into_iter()
        .map(|r| (r[0].as_str().unwrap().to_owned(), r[1].as_str().unwrap_or_default().to_owned()))
        .collect();
        let malformed: BTreeSet<(String, String)> = truth
            .malformed
            .iter()
            .flat_map(|(stream, ids)| ids.iter().map(move |id| (stream.clone(), id.clone())))
            .collect();
        assert_eq!(quarantined, malformed, "{connection}: quarantined records");
        for (stream, records) in &truth.streams {
            // The stream's records, wherever its entities live.
            // Ids and deletions; the raw payloads are the conformance kit's (the demo's options
            // may leave parts of a payload out, such as Freshdesk's replies).
            let mut stored: BTreeMap<String, bool> = BTreeMap::new();
            for table in TABLES {
                let rows = query(
                    &rt,
                    &url,
                    &format!(
                        "SELECT source_id, deleted_at IS NOT NULL FROM {table} \
                         WHERE connection = '{connection}' AND stream = '{stream}'"
                    ),
                );
                for r in rows {
                    stored.insert(r[0].as_str().unwrap().to_owned(), r[1].as_i64().unwrap() == 1);
                }
            }
            let want: BTreeMap<String, bool> =
                records.iter().map(|(id, t)| (id.clone(), t.deleted)).collect();
            assert_eq!(
                stored, want,
                "{connection}/{stream}: the store must hold exactly the simulator's records"
            );
        }
    }
    let zendesk_tickets = scalar(
        &rt,
        &url,
        &format!("SELECT count(*) FROM tickets WHERE connection = '{CONNECTION}' AND stream = 'tickets'"),
    );
    assert_eq!(zendesk_tickets, 301, "300 generated tickets and the official example");

    // The printed summary: one line per run, every number taken from the store.
    let runs = query(
        &rt,
        &url,
        "SELECT connection, stream, pages, records, quarantined, status FROM sync_runs ORDER BY run_id",
    );
    let mut run_lines = BTreeSet::new();
    for r in &runs {
        let n = |i: usize| r[i].as_i64().unwrap();
        assert_eq!(r[5].as_str().unwrap(), "succeeded", "{r:?}");
        run_lines.insert(format!(
            "  {}/{}: {} records in {} pages, {} quarantined",
            r[0].as_str().unwrap(),
            r[1].as_str().unwrap(),
            n(3),
            n(2),
            n(4)
        ));
    }
    let run_streams: BTreeSet<(String, String)> =
        runs.iter().map(|r| (r[0].as_str().unwrap().to_owned(), r[1].as_str().unwrap().to_owned())).collect();
    let run_connections: BTreeSet<&str> = run_streams.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(run_connections, names, "every demo connection synced");
    assert_eq!(run_streams.len(), runs.len(), "one run per stream");

    let live = "FROM tickets WHERE deleted_at IS NULL";
    let tickets = scalar(&rt, &url, &format!("SELECT count(*) {live}"));
    let solved = scalar(&rt, &url, &format!("SELECT count(*) {live} AND status IN ('solved', 'closed')"));
    // The demo's CSAT headline: the top box of scales of up to 3 points, the top two boxes of
    // longer ones; the midpoint of an odd scale is neutral.
    let top = "CASE WHEN scale_max - scale_min <= 2 THEN scale_max ELSE scale_max - 1 END";
    let good = scalar(
        &rt,
        &url,
        &format!("SELECT count(*) FROM survey_responses WHERE kind = 'csat' AND score >= {top}"),
    );
    let bad = scalar(
        &rt,
        &url,
        &format!(
            "SELECT count(*) FROM survey_responses WHERE kind = 'csat' AND score < {top} \
             AND NOT (scale_max - scale_min >= 2 AND score * 2 = scale_min + scale_max)"
        ),
    );
    assert!(solved > 0 && good > 0 && bad > 0, "the headlines need solved and rated tickets");
    let mut minutes: Vec<f64> =
        query(&rt, &url, &format!("SELECT first_reply_minutes {live} AND first_reply_minutes IS NOT NULL"))
            .iter()
            .map(|r| r[0].as_f64().unwrap())
            .collect();
    minutes.sort_by(f64::total_cmp);
    assert!(!minutes.is_empty(), "no replied ticket in the store: {}", all_output(&out));
    let n = minutes.len();
    let median = if n % 2 == 1 { minutes[n / 2] } else { (minutes[n / 2 - 1] + minutes[n / 2]) / 2.0 };
    let csat = 100.0 * good as f64 / (good + bad) as f64;
    let cfg = config.display();
    let text = stdout(&out);
    let (head, rest) = text.split_once("\nheadlines:\n").unwrap_or_else(|| panic!("{text}"));
    let mut head_lines = head.lines();
    assert_eq!(head_lines.next(), Some("starting the simulators on 127.0.0.1 (300 records each)..."));
    assert_eq!(head_lines.next().map(str::to_owned), Some(format!("wrote {cfg}")));
    assert_eq!(head_lines.next(), Some(""));
    assert_eq!(
        head_lines.next().map(str::to_owned),
        Some(format!("synced into {}:", dir.join("engage.db").display()))
    );
    let printed: BTreeSet<String> = head_lines.map(str::to_owned).collect();
    assert_eq!(printed, run_lines);
    let expected_rest = format!(
        "  tickets: {tickets} ({solved} solved or closed)\n  \
         median first reply: {median:.0} minutes\n  \
         CSAT: {csat:.1}% ({good} good, {bad} bad)\n\
         \n\
         keep exploring this store:\n  \
         engage --config {cfg} status\n  \
         engage --config {cfg} query \"SELECT channel, count(*) AS tickets FROM tickets GROUP BY channel\"\n  \
         engage --config {cfg} query --format csv \"SELECT * FROM survey_responses\"\n",
    );
    assert_eq!(rest, expected_rest);

    // Scripts see every synced stream in `engage status`.
    let status = engage_with(&config, &["status", "--format", "json"]);
    assert_exit(&status, 0);
    assert_no_secret(&status);
    let listed: Vec<Value> = serde_json::from_slice(&status.stdout).unwrap();
    let listed_streams: BTreeSet<(String, String)> = listed
        .iter()
        .map(|r| (r["connection"].as_str().unwrap().to_owned(), r["stream"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(listed_streams, run_streams, "{listed:?}");

    // The Zendesk token is in DIR/secrets/ and nowhere else: not in the config, not in the store.
    let holders: Vec<PathBuf> = files_under(&dir)
        .into_iter()
        .filter(|f| std::fs::read(f).unwrap().windows(token().len()).any(|w| w == token().as_bytes()))
        .collect();
    assert_eq!(holders, [dir.join("secrets/helpdesk_api_token")]);
    assert!(toml.contains("api_token_file = \"secrets/helpdesk_api_token\""), "{toml}");
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { files.extend(files_under(&path)) } else { files.push(path) }
    }
    files.sort();
    files
}

// ---------------------------------------------------------------------------------------------
// 2. engage sync

#[test]
fn sync_loads_everything_then_only_changes() {
    const PAGE: i64 = 100;
    let host = Host::zendesk(500);
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), &host.sim.base_url(), &format!("page_size = {PAGE}\n"));
    let url = sqlite_url(tmp.path());
    let truth = truth_counts(&host.sim.ground_truth());
    let mut outputs = Vec::new();

    // First run: everything, each record written once.
    let first = engage_with(&config, &["sync"]);
    assert_exit(&first, 0);
    let rows = summary_table(&first);
    assert_streams(&rows, "succeeded");
    for (stream, _) in STREAMS {
        let r = row(&rows, stream);
        let n = truth[stream] as u64;
        assert_eq!((r.pages, r.records, r.written), (pages_of(truth[stream], PAGE), n, n), "{r:?}");
        assert_eq!(r.error, "", "{r:?}");
    }
    assert_eq!(store_counts(&host.rt, &url), truth);
    let first_pages: Vec<u64> = rows.iter().map(|r| r.pages).collect();
    outputs.push(first);

    // Nothing changed: one request per stream, nothing written.
    let before = host.sim.total_requests();
    let second = engage_with(&config, &["sync"]);
    assert_exit(&second, 0);
    let rows = summary_table(&second);
    assert_streams(&rows, "succeeded");
    assert!(rows.iter().all(|r| r.written == 0), "{rows:?}");
    assert_eq!(row(&rows, "tickets").records, 0, "{rows:?}");
    assert_eq!(host.sim.total_requests() - before, 3, "one request per stream");
    outputs.push(second);

    // --full-refresh reads everything again and changes nothing.
    let full = engage_with(&config, &["sync", "--full-refresh"]);
    assert_exit(&full, 0);
    let rows = summary_table(&full);
    assert_streams(&rows, "succeeded");
    for r in &rows {
        assert_eq!((r.records, r.written), (truth[r.stream.as_str()] as u64, 0), "{r:?}");
    }
    assert_eq!(rows.iter().map(|r| r.pages).collect::<Vec<_>>(), first_pages);
    assert_eq!(store_counts(&host.rt, &url), truth);
    outputs.push(full);

    // --stream users: after two creations per stream, only the users are read and written.
    host.sim.mutate(Mutation { updates: 0, deletions: 0, creations: 2 });
    let truth = truth_counts(&host.sim.ground_truth());
    let stored = store_counts(&host.rt, &url);
    let requests = |h: &Host| STREAMS.map(|(s, _)| h.sim.requests(s));
    let before = requests(&host);
    let users = engage_with(&config, &["sync", "--stream", "users"]);
    assert_exit(&users, 0);
    let rows = summary_table(&users);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = row(&rows, "users");
    assert_eq!((r.status.as_str(), r.records, r.written), ("succeeded", 2, 2), "{r:?}");
    let after = requests(&host);
    assert_eq!((after[0] - before[0], after[1] - before[1], after[2] - before[2]), (0, 1, 0));
    let now = store_counts(&host.rt, &url);
    assert_eq!(now["users"], truth["users"]);
    assert_eq!(
        (now["tickets"], now["satisfaction_ratings"]),
        (stored["tickets"], stored["satisfaction_ratings"])
    );
    outputs.push(users);

    // An unknown connection: refused before anything runs, naming the configured ones.
    let runs = scalar(&host.rt, &url, "SELECT count(*) FROM sync_runs");
    let total = host.sim.total_requests();
    let nosuch = engage_with(&config, &["sync", "nosuch"]);
    assert_exit(&nosuch, 1);
    assert_eq!(stderr(&nosuch), "error: no connection named `nosuch` (configured: helpdesk)\n");
    assert_eq!(stdout(&nosuch), "");
    assert_eq!(scalar(&host.rt, &url, "SELECT count(*) FROM sync_runs"), runs);
    assert_eq!(host.sim.total_requests(), total);
    outputs.push(nosuch);

    // --format json: one object per stream, the summary's columns in order; the rest is caught up.
    let json = engage_with(&config, &["sync", "--format", "json"]);
    assert_exit(&json, 0);
    let objects: Vec<serde_json::Map<String, Value>> = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(objects.len(), 3, "{}", stdout(&json));
    for (object, (stream, _)) in objects.iter().zip(STREAMS) {
        assert_eq!(object.keys().map(String::as_str).collect::<Vec<_>>(), SUMMARY_COLUMNS);
        assert_eq!(object["connection"], CONNECTION);
        assert_eq!(object["stream"], stream);
        assert_eq!(object["status"], "succeeded");
        assert_eq!(object["written"], if stream == "users" { 0 } else { 2 }, "{object:?}");
        assert_eq!(object["quarantined"], 0);
        assert_eq!(object["error"], "");
        assert!(object["pages"].is_u64() && object["records"].is_u64(), "{object:?}");
        assert!(object["seconds"].is_number() && object["records_per_s"].is_number(), "{object:?}");
    }
    assert_eq!(store_counts(&host.rt, &url), truth);
    outputs.push(json);
    for out in &outputs {
        assert_no_secret(out);
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Failures and `engage check`

#[test]
fn rejected_credentials_fail_sync_and_check_with_exit_1() {
    let host = Host::zendesk(100);
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), &host.sim.base_url(), "");
    let url = sqlite_url(tmp.path());
    host.sim.set_all_faults(Faults { fail_auth: true, ..Faults::default() });

    let sync = engage_with(&config, &["sync"]);
    assert_exit(&sync, 1);
    assert_no_secret(&sync);
    let rows = summary_table(&sync);
    assert_streams(&rows, "failed");
    for r in &rows {
        assert_eq!((r.pages, r.records, r.written), (0, 0, 0), "{r:?}");
        assert!(r.error.starts_with("HTTP 401 Unauthorized from GET /api/v2/"), "{r:?}");
    }
    let errors = query(&host.rt, &url, "SELECT status, error FROM sync_runs");
    assert_eq!(errors.len(), 3);
    for run in &errors {
        assert_eq!(run[0], "failed");
        let error = run[1].as_str().unwrap();
        assert!(error.contains("401") && error.contains("check the connection's credentials"), "{error}");
    }
    assert_eq!(scalar(&host.rt, &url, "SELECT count(*) FROM checkpoints"), 0);

    let check = engage_with(&config, &["check"]);
    assert_exit(&check, 1);
    assert_no_secret(&check);
    let text = stdout(&check);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["connection", "kind", "check", "error"]);
    let cells: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(cells[..4], [CONNECTION, "zendesk", "failed", "HTTP"], "{text}");
    assert_eq!(cells[4], "401", "{text}");
    assert_eq!(lines[3], "(1 row)");
}

/// `engage check` calls `GET /api/v2/users/me.json`, a real Zendesk endpoint that the simulator
/// does not serve yet: it answers 404, so the check fails against the simulator (and against the
/// configuration `engage demo` writes). Run with `--include-ignored` once the simulator serves it.
#[test]
fn check_passes_with_good_credentials() {
    let host = Host::zendesk(100);
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), &host.sim.base_url(), "");
    let check = engage_with(&config, &["check"]);
    assert_exit(&check, 0);
    assert_no_secret(&check);
    let text = stdout(&check);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[2].split_whitespace().collect::<Vec<_>>(), [CONNECTION, "zendesk", "ok"], "{text}");
    assert_eq!(host.sim.total_requests(), 1, "check makes one request");
    assert!(!tmp.path().join("engage.db").exists(), "check is read-only: it does not even open the store");
}

// ---------------------------------------------------------------------------------------------
// 4. Ctrl-C

/// `(time, id)` of an incremental-export cursor (`base64url("{time}.0||{id}|")`).
fn decode_cursor(cursor: &str) -> (i64, u64) {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor.trim_end_matches('=')).unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (time, id) = raw.split_once("||").unwrap();
    (time.trim_end_matches(".0").parse().unwrap(), id.trim_end_matches('|').parse().unwrap())
}

#[test]
fn ctrl_c_commits_whole_pages_then_the_next_sync_resumes() {
    const PAGE: i64 = 50;
    const TICKETS: i64 = 3_001; // 3,000 generated and the official example, which is never malformed
    let mut options = ZendeskOptions::new(1, 3_000);
    (options.incremental_limit, options.account_limit) = (0, 0);
    let host = Host::start(options);
    host.sim.set_all_faults(Faults { latency: Duration::from_millis(150), ..Faults::default() });
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), &host.sim.base_url(), &format!("page_size = {PAGE}\n"));
    let url = sqlite_url(tmp.path());
    let truth = host.sim.ground_truth();
    assert_eq!(truth.stream("tickets").len() as i64, TICKETS);

    let mut child = command(&["--config", config.to_str().unwrap(), "sync"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Let a few ticket pages commit (about 150 ms each), then interrupt mid-stream.
    let started = Instant::now();
    let committed = || {
        let sql =
            "SELECT count(*) FROM tickets WHERE EXISTS (SELECT 1 FROM checkpoints WHERE stream = 'tickets')";
        // Errors until the first sync has created the store.
        host.rt
            .block_on(engage_store::query_read_only(&url, sql))
            .is_ok_and(|r| r.rows[0][0].as_i64().is_some_and(|n| n >= 3 * PAGE))
    };
    while !committed() {
        if started.elapsed() > Duration::from_secs(20) || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!("no ticket page committed: {}", all_output(&child.wait_with_output().unwrap()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let interrupted = Instant::now();
    let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if interrupted.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            panic!(
                "engage did not stop within 5 s of SIGINT: {}",
                all_output(&child.wait_with_output().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(130), "{}", all_output(&out));
    assert!(
        stderr(&out).contains("interrupted: committing the pages already fetched, then stopping\n"),
        "{}",
        all_output(&out)
    );
    assert_no_secret(&out);
    let rows = summary_table(&out);
    assert_eq!(row(&rows, "tickets").status, "cancelled", "{rows:?}");

    // The run is recorded as cancelled, with whole pages only, up to the checkpoint exactly.
    let runs = query(&host.rt, &url, "SELECT status, pages, records FROM sync_runs WHERE stream = 'tickets'");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0][0], "cancelled");
    let pages = runs[0][1].as_i64().unwrap();
    let stored = stored_ids(&host.rt, &url, "tickets", "tickets");
    let n = stored.len() as i64;
    assert_eq!(scalar(&host.rt, &url, "SELECT count(*) FROM tickets"), n, "no duplicates");
    assert!(pages >= 1 && n == PAGE * pages && n < TICKETS, "{n} tickets in {pages} pages");
    assert_eq!(runs[0][2], n);
    assert_eq!(row(&rows, "tickets").records, n as u64);
    let checkpoint = query(&host.rt, &url, "SELECT checkpoint FROM checkpoints WHERE stream = 'tickets'");
    let checkpoint: Value = serde_json::from_str(checkpoint[0][0].as_str().unwrap()).unwrap();
    let through = decode_cursor(checkpoint["cursor"].as_str().unwrap());
    // Export order: the official example (the oldest) first, then by (generated_timestamp, id).
    let order = |id: &str, raw: &Value| {
        let id: u64 = id.parse().unwrap();
        if id < TICKET_BASE { (i64::MIN, id) } else { (raw["generated_timestamp"].as_i64().unwrap(), id) }
    };
    let up_to_checkpoint: BTreeSet<String> = truth
        .stream("tickets")
        .iter()
        .filter(|(id, record)| order(id, &record.raw) <= through)
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(stored, up_to_checkpoint, "the store holds exactly the tickets up to the checkpoint");

    // The next sync resumes from the checkpoint and ends equal to the ground truth.
    host.sim.set_all_faults(Faults::default());
    let resumed = engage_with(&config, &["sync"]);
    assert_exit(&resumed, 0);
    let rows = summary_table(&resumed);
    assert_streams(&rows, "succeeded");
    let tickets = row(&rows, "tickets");
    assert_eq!(
        (tickets.records, tickets.written),
        ((TICKETS - n) as u64, (TICKETS - n) as u64),
        "{tickets:?}"
    );
    assert_eq!(store_counts(&host.rt, &url), truth_counts(&truth));
    for (stream, table) in STREAMS {
        let want: BTreeSet<String> = truth.stream(stream).keys().cloned().collect();
        assert_eq!(stored_ids(&host.rt, &url, stream, table), want, "{stream}");
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Progress as plain lines when standard error is not a terminal

/// `CONNECTION/STREAM: N records, M pages, R records/s` -> (stream, N, M).
fn progress_line(line: &str) -> Option<(&str, u64, u64)> {
    let rest = line.strip_prefix(CONNECTION)?.strip_prefix('/')?;
    let (stream, rest) = rest.split_once(": ")?;
    let (records, rest) = rest.split_once(" records, ")?;
    let (pages, rest) = rest.split_once(" pages, ")?;
    rest.strip_suffix(" records/s")?.parse::<u64>().ok()?;
    Some((stream, records.parse().ok()?, pages.parse().ok()?))
}

#[test]
fn progress_is_plain_lines_when_not_on_a_terminal() {
    let host = Host::zendesk(500);
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), &host.sim.base_url(), "page_size = 100\n");
    let out = engage_with(&config, &["sync"]);
    assert_exit(&out, 0);
    let text = stderr(&out);
    assert!(
        !text.chars().any(|c| c == '\x1b' || c == '\r' || ('\u{2800}'..='\u{28ff}').contains(&c)),
        "progress-bar control characters or spinner glyphs on a non-terminal: {text:?}"
    );
    let mut first_pages = BTreeSet::new();
    for line in text.lines() {
        let (stream, records, pages) =
            progress_line(line).unwrap_or_else(|| panic!("not a progress line: {line:?}\n{text}"));
        if pages == 1 {
            assert_eq!(records, 100, "{line}");
            first_pages.insert(stream.to_owned());
        }
    }
    assert_eq!(first_pages, STREAMS.map(|(s, _)| s.to_owned()).into_iter().collect(), "{text}");
}
