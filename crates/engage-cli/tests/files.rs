//! `engage --config config/cdnow.toml sync` end to end: the example configuration, its paths
//! resolved against the configuration file, the project's copy of the CDNOW sample landing as
//! exactly its 6,919 orders with exact totals; a second sync reads nothing.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn engage(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_engage"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("ENGAGE_CONFIG")
        .env_remove("ENGAGE_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn query(config: &Path, sql: &str) -> Vec<Value> {
    let out = ok(&engage(config, &["query", sql, "--format", "json"]));
    serde_json::from_str::<Vec<Value>>(&out).unwrap()
}

/// Cents of a decimal amount written as text or a number (`29.33`, `29.3`, `29`).
fn cents(value: &Value) -> i64 {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
    let frac = format!("{frac:0<2}");
    assert!(frac.len() == 2 || frac[2..].chars().all(|c| c == '0'), "{text}");
    whole.parse::<i64>().unwrap() * 100 + frac[..2].parse::<i64>().unwrap()
}

#[test]
fn cdnow_example_syncs_every_purchase_as_an_order() {
    // The example as committed, in a scratch tree of the same shape, so the store it writes
    // (next to the configuration) stays out of the project.
    let dir = tempfile::tempdir().unwrap();
    let config_dir = dir.path().join("config");
    let data_dir = dir.path().join("tests/data/cdnow");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::create_dir_all(&data_dir).unwrap();
    let config = config_dir.join("cdnow.toml");
    std::fs::copy(root().join("config/cdnow.toml"), &config).unwrap();
    let sample = root().join("tests/data/cdnow/CDNOW_sample.txt");
    std::fs::copy(&sample, data_dir.join("CDNOW_sample.txt")).unwrap();

    // Run from elsewhere: the paths follow the configuration file, not the working directory.
    let summary = ok(&engage(&config, &["sync", "--format", "json"]));
    let summary: Vec<Value> = serde_json::from_str(&summary).unwrap();
    assert_eq!(summary.len(), 1, "{summary:?}");
    assert_eq!(summary[0]["stream"], "orders");
    assert_eq!(summary[0]["status"], "succeeded");
    assert_eq!(summary[0]["records"], 6_919);
    assert_eq!(summary[0]["quarantined"], 0);
    assert!(config_dir.join("cdnow.db").is_file(), "the store is next to the configuration");

    let rows = query(
        &config,
        "SELECT COUNT(*) AS n, COUNT(DISTINCT customer_source_id) AS customers, SUM(item_count) AS cds, \
         MIN(created_at) AS first, MAX(created_at) AS last, SUM(guest) AS guests FROM orders \
         WHERE connection = 'cdnow' AND stream = 'orders' AND platform = 'cdnow' AND currency = 'USD'",
    );
    assert_eq!(rows[0]["n"], 6_919);
    assert_eq!(rows[0]["customers"], 2_357);
    assert_eq!(rows[0]["cds"], 16_479);
    assert_eq!(rows[0]["first"], "1997-01-01T00:00:00.000000Z");
    assert_eq!(rows[0]["last"], "1998-06-30T00:00:00.000000Z");
    assert_eq!(rows[0]["guests"], 0);

    // Exact money: every stored total equals the file's amount on that line, and they add up.
    let stored = query(&config, "SELECT source_id, CAST(total AS TEXT) AS total FROM orders");
    let text = std::fs::read_to_string(&sample).unwrap();
    let mut expected = std::collections::BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let amount = line.split_whitespace().nth(4).unwrap();
        expected.insert(format!("CDNOW_sample.txt:{}", i + 1), cents(&Value::String(amount.to_owned())));
    }
    let got: std::collections::BTreeMap<String, i64> =
        stored.iter().map(|r| (r["source_id"].as_str().unwrap().to_owned(), cents(&r["total"]))).collect();
    assert_eq!(got, expected);
    assert_eq!(got.values().sum::<i64>(), 24_409_194, "$244,091.94 in all");

    // Same-day repeat purchases stay separate orders: 177 (customer, day) pairs in the sample.
    let repeats = query(
        &config,
        "SELECT COUNT(*) AS n FROM (SELECT customer_source_id, created_at FROM orders \
         GROUP BY customer_source_id, created_at HAVING COUNT(*) > 1)",
    );
    assert_eq!(repeats[0]["n"], 177);

    // Nothing changed: the next sync reads nothing.
    let again: Vec<Value> =
        serde_json::from_str(&ok(&engage(&config, &["sync", "--format", "json"]))).unwrap();
    assert_eq!(again[0]["status"], "succeeded");
    assert_eq!(again[0]["records"], 0);
}

/// The examples of the generic connectors are not only valid TOML for `engage validate`: their
/// connectors build from them (mappings, pagination styles, auth, paths), with the streams named.
/// (connection, kind, streams) of an example.
type Expected = (&'static str, &'static str, &'static [&'static str]);

#[test]
fn generic_connector_examples_build() {
    struct Placeholders;
    impl engage_config::Env for Placeholders {
        fn var(&self, name: &str) -> Option<String> {
            Some(format!("placeholder-{}", name.to_lowercase()))
        }
    }
    let cases: [(&str, &[Expected]); 4] = [
        ("cdnow", &[("cdnow", "files", &["orders"])]),
        ("files", &[("shop-exports", "files", &["orders", "nps", "customers"])]),
        ("rest", &[("zendesk-users", "rest", &["users"]), ("reviews-api", "rest", &["reviews"])]),
        ("singer", &[("survey-tap", "singer", &["nps"])]),
    ];
    for (file, expected) in cases {
        let path = root().join(format!("config/{file}.toml"));
        let config = engage_config::load_file(&path, &engage_runner::kinds(), &Placeholders).unwrap();
        let built = engage_runner::build_connections(&config, &engage_runner::BuildOptions::default())
            .unwrap_or_else(|e| panic!("{file}.toml: {e}"));
        let got: Vec<(String, String, Vec<&str>)> = built
            .iter()
            .map(|c| {
                let streams = c.connector.streams().iter().map(|s| s.name).collect();
                (c.config.name.clone(), c.config.kind.clone(), streams)
            })
            .collect();
        let want: Vec<(String, String, Vec<&str>)> =
            expected.iter().map(|(n, k, s)| (n.to_string(), k.to_string(), s.to_vec())).collect();
        assert_eq!(got, want, "{file}.toml");
    }
}
