//! `engage metrics`, `engage customers` and `engage clv` end to end over a prepared store.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Output};

use chrono::{NaiveDate, TimeZone, Utc};
use engage_model::*;
use engage_store::{PageWrite, Store};

fn engage(cwd: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_engage"))
        .current_dir(cwd)
        .args(args)
        .env_remove("ENGAGE_CONFIG")
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

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn prepared(dir: &Path) -> Store {
    std::fs::write(dir.join("engage.toml"), "[store]\nurl = \"sqlite://engage.db\"\n").unwrap();
    Store::open(&format!("sqlite://{}", dir.join("engage.db").display())).await.unwrap()
}

fn raw() -> Box<serde_json::value::RawValue> {
    raw_json("{}").unwrap()
}

/// The CDNOW sample as orders, one per line, as the files connector stores them.
fn cdnow_orders() -> Vec<Record> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/cdnow/CDNOW_sample.txt"
    ))
    .unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let day = NaiveDate::parse_from_str(cols[2], "%Y%m%d").unwrap();
            let order = Order {
                platform: "cdnow".into(),
                customer_source_id: Some(cols[1].into()),
                customer_email: None,
                created_at: Some(Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap())),
                updated_at: None,
                currency: Some("USD".into()),
                total: cols[4].parse().unwrap(),
                refunded: 0.into(),
                item_count: Some(cols[3].parse().unwrap()),
                guest: false,
                cancelled_at: None,
                financial_status: None,
            };
            Record::new(format!("CDNOW_sample.txt:{}", i + 1), raw(), order)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clv_fit_prints_the_published_estimates() {
    let dir = tempfile::tempdir().unwrap();
    let store = prepared(dir.path()).await;
    let orders = cdnow_orders();
    for page in orders.chunks(1000) {
        store
            .commit_page("cdnow", "orders", PageWrite { records: page, ..PageWrite::default() })
            .await
            .unwrap();
    }
    store.close().await;
    let out =
        json(&engage(dir.path(), &["clv", "fit", "--calibration-end", "1997-09-30", "--format", "json"]));
    // Fader, Hardie & Lee (2005), Marketing Science 24(2): r = 0.243, α = 4.414, a = 0.793,
    // b = 2.426, LL = −9582.4; Gamma-Gamma (Fader, Hardie & Lee 2005, JMR 42(4); Fader & Hardie
    // 2013): p = 6.25, q = 3.74, γ = 15.44 (LL −4055.92, as CLVTools' correctness test carries it).
    let sig3 = |v: &serde_json::Value| {
        let v = v.as_f64().unwrap();
        let m = 10f64.powi(2 - v.abs().log10().floor() as i32);
        (v * m).round() / m
    };
    let bg = &out["bgnbd"];
    assert_eq!(
        [sig3(&bg["r"]), sig3(&bg["alpha"]), sig3(&bg["a"]), sig3(&bg["b"])],
        [0.243, 4.41, 0.793, 2.43]
    );
    assert!((bg["log_likelihood"].as_f64().unwrap() + 9582.4).abs() < 0.1);
    let gg = &out["gamma_gamma"];
    assert_eq!([sig3(&gg["p"]), sig3(&gg["q"]), sig3(&gg["gamma"])], [6.25, 3.74, 15.4]);
    assert!((gg["log_likelihood"].as_f64().unwrap() + 4055.92).abs() < 0.1);
    assert_eq!((out["customers"].as_u64(), gg["customers"].as_u64()), (Some(2357), Some(946)));
    assert_eq!(out["diagnostics"]["observed_repeat_transactions"], 2457);

    let table = engage(dir.path(), &["clv", "fit", "--calibration-end", "1997-09-30"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("alpha"));
}

/// `config/cdnow.toml` as shipped (its data path made absolute, its store in a temporary folder):
/// sync through the files connector, then fit.
#[test]
fn cdnow_config_sync_then_clv_fit() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let shipped = std::fs::read_to_string(root.join("config/cdnow.toml")).unwrap();
    let data = root.join("tests/data/cdnow/CDNOW_sample.txt").canonicalize().unwrap();
    let config = shipped.replace("../tests/data/cdnow/CDNOW_sample.txt", &data.display().to_string());
    assert_ne!(config, shipped, "config/cdnow.toml reads the project's copy of the sample");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cdnow.toml"), config).unwrap();
    engage(dir.path(), &["--config", "cdnow.toml", "sync"]);
    let out = json(&engage(
        dir.path(),
        &["--config", "cdnow.toml", "clv", "fit", "--calibration-end", "1997-09-30", "--format", "json"],
    ));
    assert!((out["bgnbd"]["r"].as_f64().unwrap() - 0.243).abs() < 0.0005);
    assert!((out["bgnbd"]["alpha"].as_f64().unwrap() - 4.414).abs() < 0.005);
    assert!((out["bgnbd"]["a"].as_f64().unwrap() - 0.793).abs() < 0.0005);
    assert!((out["bgnbd"]["b"].as_f64().unwrap() - 2.426).abs() < 0.005);
    assert!((out["bgnbd"]["log_likelihood"].as_f64().unwrap() + 9582.4).abs() < 0.1);
    assert!((out["gamma_gamma"]["p"].as_f64().unwrap() - 6.25).abs() < 0.005);
    assert!((out["gamma_gamma"]["q"].as_f64().unwrap() - 3.74).abs() < 0.005);
    assert!((out["gamma_gamma"]["gamma"].as_f64().unwrap() - 15.44).abs() < 0.05);
    assert!((out["gamma_gamma"]["log_likelihood"].as_f64().unwrap() + 4055.92).abs() < 0.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_overview_and_customers() {
    let dir = tempfile::tempdir().unwrap();
    let store = prepared(dir.path()).await;
    let at = |d: u32| Utc.with_ymd_and_hms(2024, 1, d, 12, 0, 0).unwrap();
    let nps = |id: &str, score: f64, day: u32, email: &str| {
        let s = SurveyResponse {
            platform: "survey".into(),
            survey_id: None,
            question: None,
            kind: SurveyKind::Nps,
            score: Some(score),
            scale_min: Some(0.0),
            scale_max: Some(10.0),
            comment: None,
            customer_source_id: None,
            customer_email: Some(email.into()),
            answered_at: Some(at(day)),
        };
        Record::new(id, raw(), s)
    };
    let records = vec![
        nps("1", 10.0, 2, "ana@example.pl"),
        nps("2", 9.0, 3, "bob@example.com"),
        nps("3", 3.0, 9, "carol@example.org"),
        nps("4", 8.0, 10, "dan@example.net"),
    ];
    store
        .commit_page("surveys", "responses", PageWrite { records: &records, ..PageWrite::default() })
        .await
        .unwrap();
    let person =
        Identity { email: Some("Ana@Example.pl".into()), name: Some("Ana".into()), ..Identity::default() };
    store
        .commit_page(
            "helpdesk",
            "users",
            PageWrite { records: &[Record::new("u1", raw(), person)], ..PageWrite::default() },
        )
        .await
        .unwrap();
    store.close().await;

    let list = String::from_utf8(engage(dir.path(), &["metrics", "list"]).stdout).unwrap();
    assert!(list.contains("nps") && list.contains("email_open_rate") && list.contains("cohort_retention"));

    let window = ["--from", "2024-01-01", "--to", "2024-01-22", "--tz", "Europe/Warsaw"];
    let args: Vec<&str> =
        ["metrics", "nps"].into_iter().chain(window).chain(["--by", "week", "--format", "json"]).collect();
    let report = json(&engage(dir.path(), &args));
    assert_eq!(report["computed_by"], "sql");
    // 2 promoters, 1 passive, 1 detractor → +25.
    assert_eq!(report["total"]["value"], 25.0);
    let weeks: Vec<_> = report["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["bucket"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(weeks, ["2024-W01", "2024-W02", "2024-W03"]);
    assert_eq!(report["buckets"][0]["value"], 100.0);
    assert_eq!(report["buckets"][1]["value"], -50.0);
    assert_eq!(report["buckets"][2]["value"], serde_json::Value::Null);

    let args: Vec<&str> =
        ["metrics", "nps"].into_iter().chain(window).chain(["--reference", "--format", "json"]).collect();
    let reference = json(&engage(dir.path(), &args));
    assert_eq!(
        (reference["computed_by"].as_str(), reference["total"]["value"].as_f64()),
        (Some("reference"), Some(25.0))
    );

    let args: Vec<&str> =
        ["metrics", "overview"].into_iter().chain(window).chain(["--format", "json"]).collect();
    let overview = json(&engage(dir.path(), &args));
    let nps = overview.as_array().unwrap().iter().find(|r| r["metric"] == "nps").unwrap();
    assert_eq!(nps["total"]["value"], 25.0);
    let aov = overview.as_array().unwrap().iter().find(|r| r["metric"] == "aov").unwrap();
    assert_eq!(aov["total"]["value"], serde_json::Value::Null, "no orders: no value");

    let linked = json(&engage(dir.path(), &["customers", "link", "--format", "json"]));
    assert_eq!(linked[0]["customers"], 4);
    let full = json(&engage(dir.path(), &["customers", "link", "--full", "--format", "json"]));
    assert_eq!(
        (&full[0]["customers"], &full[0]["created"], &full[0]["relinked"]),
        (&4.into(), &0.into(), &0.into()),
        "a full pass after an incremental one changes nothing"
    );
    let ana = json(&engage(dir.path(), &["customers", "show", "ANA@example.pl", "--format", "json"]));
    assert_eq!(ana["email"], "ana@example.pl");
    assert_eq!(ana["timeline"].as_array().unwrap().len(), 1);
    assert_eq!(ana["score"]["total"], 100.0, "NPS 10 is the only component with data");
    assert_eq!(ana["score"]["band"], "champion");
    let table =
        String::from_utf8(engage(dir.path(), &["customers", "show", "ana@example.pl"]).stdout).unwrap();
    assert!(table.contains("engagement score: 100.0 (champion)"), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variant_flags_select_the_definition() {
    let dir = tempfile::tempdir().unwrap();
    let store = prepared(dir.path()).await;
    let solved = |id: &str, replies: i64, reopens: i64| {
        let at = Utc.with_ymd_and_hms(2024, 1, 10, 12, 0, 0).unwrap();
        let t = Ticket {
            status: Some("solved".into()),
            created_at: Some(at),
            solved_at: Some(at),
            replies: Some(replies),
            reopens: Some(reopens),
            ..Ticket::default()
        };
        Record::new(id, raw(), t)
    };
    // Strict: one reply and no reopen (1 of 3). Zendesk's legacy: fewer than two replies (3 of 3).
    let records = vec![solved("a", 1, 0), solved("b", 0, 0), solved("c", 1, 1)];
    store
        .commit_page("helpdesk", "tickets", PageWrite { records: &records, ..PageWrite::default() })
        .await
        .unwrap();
    store.close().await;
    let window =
        ["metrics", "one_touch_rate", "--from", "2024-01-01", "--to", "2024-02-01", "--format", "json"];
    let value = |extra: &[&str]| {
        let args: Vec<&str> = window.iter().chain(extra).copied().collect();
        json(&engage(dir.path(), &args))["total"]["value"].as_f64().unwrap()
    };
    assert!((value(&[]) - 1.0 / 3.0).abs() < 1e-12);
    assert!((value(&["--one-touch", "strict"]) - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!(value(&["--one-touch", "zendesk-legacy"]), 1.0);
    assert_eq!(value(&["--one-touch", "zendesk-legacy", "--reference"]), 1.0);
    let bad = Command::new(env!("CARGO_BIN_EXE_engage"))
        .current_dir(dir.path())
        .args(["metrics", "one_touch_rate", "--one-touch", "loose"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "an unknown variant is a usage error");
}
