//! After the demo sync, every metric of `engage metrics overview` equals the same metric of the
//! metrics' plain-Rust reference over the simulators' ground truth: the records each simulator
//! says a correct sync stores (ids, deletions), as the store holds them, with nothing more.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output, Stdio};

use chrono::{DateTime, Duration, Utc};
use engage_metrics::{Ctx, OVERVIEW, Params, Period, Rows, find};
use engage_model::EntityKind;
use engage_sandbox::SandboxOptions;
use engage_store::{ReadFilter, Store};
use serde_json::Value;

const RECORDS: usize = 300;

fn engage(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_engage"))
        .args(args)
        .env_remove("ENGAGE_CONFIG")
        .env_remove("ENGAGE_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run engage");
    assert!(
        out.status.success(),
        "engage {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The demo's connections (name, kind) and the simulators' clock, from the config it wrote.
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
    let clock = toml
        .lines()
        .find_map(|l| {
            l.split_once("clock ").map(|(_, rest)| rest.split(' ').next().unwrap().parse().unwrap())
        })
        .expect("the demo records the simulators' clock");
    (connections, clock)
}

fn period(v: &Value) -> Period {
    let at = |k: &str| v["period"][k].as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
    Period { from: at("from"), to: at("to") }
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * b.abs().max(1.0),
        (a, b) => a == b,
    }
}

#[test]
fn demo_overview_equals_the_metrics_of_the_ground_truth() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    engage(&["demo", "--dir", dir.to_str().unwrap(), "--records", &RECORDS.to_string()]);
    let config = dir.join("engage.toml");
    let (connections, clock) = demo_connections(&std::fs::read_to_string(&config).unwrap());
    assert!(!connections.is_empty());

    // The ground truth of every simulator the demo ran, rebuilt with its seed, size and clock.
    let mut truth: BTreeMap<(String, String, String), bool> = BTreeMap::new();
    for (connection, kind) in &connections {
        let options =
            SandboxOptions { records: RECORDS, seed: 1, unlimited: false, now: clock, cache_pages: false };
        let sim = rt.block_on(engage_sandbox::registry::start(kind, &options)).unwrap();
        for (stream, records) in sim.ground_truth().streams {
            for (id, record) in records {
                truth.insert((connection.clone(), stream.clone(), id), record.deleted);
            }
        }
    }

    // The records the truth names, as the store holds them: exactly those, deleted as the
    // sources say.
    let store = rt.block_on(Store::open(&format!("sqlite://{}", dir.join("engage.db").display()))).unwrap();
    let mut rows = Rows::default();
    let mut stored = BTreeMap::new();
    for kind in [
        EntityKind::Identity,
        EntityKind::Ticket,
        EntityKind::Review,
        EntityKind::EmailCampaign,
        EntityKind::EmailEvent,
        EntityKind::SurveyResponse,
        EntityKind::Order,
        EntityKind::Interaction,
    ] {
        let filter = ReadFilter { include_deleted: true, ..ReadFilter::default() };
        let all = rt.block_on(store.read_entities(kind, &filter)).unwrap();
        for e in &all {
            stored.insert(
                (e.connection.clone(), e.stream.clone(), e.source_id.clone()),
                e.deleted_at.is_some(),
            );
        }
        rows.extend(all);
    }
    rt.block_on(store.close());
    assert_eq!(stored.len(), truth.len());
    assert!(stored == truth, "the store holds exactly the ground truth's records and deletions");

    // The overview for the 90 days up to the simulators' clock, by week, with the previous period.
    let today = DateTime::from_timestamp(clock, 0).unwrap().date_naive();
    let (from, to) = ((today - Duration::days(89)).to_string(), (today + Duration::days(1)).to_string());
    let out = engage(&[
        "--config",
        config.to_str().unwrap(),
        "metrics",
        "overview",
        "--from",
        &from,
        "--to",
        &to,
        "--by",
        "week",
        "--format",
        "json",
    ]);
    let reports: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = reports.iter().map(|r| r["metric"].as_str().unwrap()).collect();
    assert_eq!(names, OVERVIEW);

    let params = Params::default();
    let mut with_value = BTreeSet::new();
    for report in &reports {
        let name = report["metric"].as_str().unwrap();
        let metric = find(name).unwrap();
        let mut points = vec![&report["total"]];
        points.extend(report["buckets"].as_array().unwrap());
        points.push(&report["previous"]);
        assert!(points.len() >= 14, "{name}: 13 or 14 weeks, the window and the previous period");
        for point in points {
            let want =
                (metric.compute)(&rows, Ctx { period: period(point), tz: chrono_tz::UTC, params: &params });
            let got = point["value"].as_f64();
            assert!(
                close(got, want.value),
                "{name} {}: overview {got:?}, ground truth {:?}",
                point["bucket"],
                want.value
            );
            assert_eq!(point["n"].as_u64(), Some(want.n), "{name} {}: n", point["bucket"]);
            for detail in point["details"].as_array().unwrap() {
                let key = detail[0].as_str().unwrap();
                assert!(close(detail[1].as_f64(), want.detail(key)), "{name} {}: {key}", point["bucket"]);
            }
            if got.is_some() {
                with_value.insert(name);
            }
        }
    }
    // The demo's sources feed the helpdesk and survey metrics at least.
    for name in ["csat", "ticket_csat", "one_touch_rate", "reopen_rate"] {
        assert!(with_value.contains(name), "{name} has no value anywhere: {with_value:?}");
    }
}
