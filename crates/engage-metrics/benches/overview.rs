//! `engage metrics overview` for a 90-day window by week over a store of 10,000,000
//! interactions and a realistic share of the other entities the overview reads.
//!
//! The store is written through `Store::commit_page` in large pages (no HTTP), then the real
//! `engage` binary (`ENGAGE_BIN`, a release build) answers the overview as a user would run it;
//! the figure is the wall time of the whole command (process start, store open, every metric),
//! the median of several runs after one warm-up run.
//!
//! `cargo xtask bench metrics` runs it on SQLite and, when a PostgreSQL server is at hand, on
//! PostgreSQL. Arguments: `[sqlite|postgres]... [--interactions N] [--days D] [--keep]`; PostgreSQL needs
//! `ENGAGE_TEST_PG_URL`. Each store is deleted after its runs (10,000,000 interactions take
//! about 3 GB on SQLite).

use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use engage_model::*;
use engage_store::testing::fresh_url;
use engage_store::{Backend, PageWrite, Store};
use rust_decimal::Decimal;

const PAGE: usize = 20_000;
const RUNS: usize = 5;
/// The window: 90 local days (UTC) ending the day the generated history ends.
const FROM: &str = "2025-10-02";
const TO: &str = "2025-12-31";

/// A small deterministic generator (64-bit LCG).
struct Gen(u64);

impl Gen {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

struct Shape {
    interactions: u64,
    days: i64,
    customers: u64,
}

impl Shape {
    fn end(&self) -> DateTime<Utc> {
        let to: NaiveDate = TO.parse().expect("date");
        to.and_hms_opt(0, 0, 0).expect("midnight").and_utc()
    }
    fn start(&self) -> DateTime<Utc> {
        self.end() - Duration::days(self.days)
    }
    /// The i-th of n events spread evenly over the history, in time order.
    fn at(&self, i: u64, n: u64, g: &mut Gen) -> DateTime<Utc> {
        let span = (self.days * 86_400) as f64;
        let base = (i as f64 + 0.5) / n as f64 * span;
        self.start() + Duration::seconds(base as i64) + Duration::milliseconds(g.next(1000) as i64)
    }
    fn customer(&self, g: &mut Gen) -> (Option<String>, Option<String>) {
        let c = g.next(self.customers);
        match g.next(10) {
            // Nine in ten known by the source's id, the rest by email only (some spelled in capitals).
            0 if c.is_multiple_of(2) => (None, Some(format!("Person{c}@Example.com"))),
            0 => (None, Some(format!("person{c}@example.com"))),
            _ => (Some(format!("c{c}")), None),
        }
    }
}

fn raw(id: &str) -> Box<serde_json::value::RawValue> {
    raw_json(&format!(r#"{{"id":"{id}"}}"#)).expect("valid JSON")
}

async fn commit(store: &Store, connection: &str, stream: &str, records: &mut Vec<Record>) {
    if records.is_empty() {
        return;
    }
    store
        .commit_page(connection, stream, PageWrite { records, ..PageWrite::default() })
        .await
        .expect("commit");
    records.clear();
}

/// Interactions (web visits, social impressions and engagements, referrals, and the timeline
/// entries of the shop, email, helpdesk, reviews and surveys) and the other entities.
async fn build(store: &Store, shape: &Shape) -> Vec<(String, u64)> {
    let mut g = Gen(42);
    let mut counts = Vec::new();
    let mut page = Vec::with_capacity(PAGE);
    let n = shape.interactions;
    for i in 0..n {
        let at = shape.at(i, n, &mut g);
        let (customer_source_id, customer_email) = shape.customer(&mut g);
        let roll = g.next(1000);
        let (channel, kind, value): (Channel, &str, Option<f64>) = match roll {
            0..=449 => (Channel::Web, "visit", Some(g.next(900) as f64)),
            450..=454 => (Channel::Web, "referral", None),
            455..=459 => (Channel::Social, "impressions", Some((500 + g.next(5_000)) as f64)),
            460..=749 => {
                let kinds = ["like", "comment", "share", "save", "click", "reaction", "view"];
                (Channel::Social, kinds[g.next(kinds.len() as u64) as usize], None)
            }
            750..=829 => (Channel::Shop, "order", Some((500 + g.next(20_000)) as f64 / 100.0)),
            830..=929 => (Channel::Email, ["email_open", "email_click"][g.next(2) as usize], None),
            930..=969 => (Channel::Helpdesk, "ticket_created", None),
            970..=989 => (Channel::Review, "review", Some((1 + g.next(5)) as f64)),
            _ => (Channel::Survey, "nps", Some(g.next(11) as f64)),
        };
        let interaction = Interaction {
            customer_source_id,
            customer_email,
            channel,
            kind: kind.into(),
            occurred_at: Some(at),
            value,
        };
        let id = format!("{i}");
        page.push(Record::new(id.as_str(), raw(&id), interaction));
        if page.len() == PAGE {
            commit(store, "timeline", "events", &mut page).await;
        }
    }
    commit(store, "timeline", "events", &mut page).await;
    counts.push(("interactions".to_owned(), n));

    // The other tables in the proportions the timeline implies: an order per shop entry, a
    // ticket per helpdesk entry, and so on.
    let orders = n * 8 / 100;
    for i in 0..orders {
        let at = shape.at(i, orders, &mut g);
        let (customer_source_id, customer_email) = shape.customer(&mut g);
        let guest = customer_source_id.is_none();
        let order = Order {
            platform: "shop".into(),
            customer_source_id,
            customer_email,
            created_at: Some(at),
            updated_at: Some(at),
            currency: Some("EUR".into()),
            total: Decimal::new((500 + g.next(20_000)) as i64, 2),
            refunded: Decimal::ZERO,
            item_count: Some(1 + g.next(4) as i64),
            guest,
            cancelled_at: (g.next(50) == 0).then_some(at),
            financial_status: Some("paid".into()),
        };
        let id = format!("o{i}");
        page.push(Record::new(id.as_str(), raw(&id), order));
        if page.len() == PAGE {
            commit(store, "shop", "orders", &mut page).await;
        }
    }
    commit(store, "shop", "orders", &mut page).await;
    counts.push(("orders".to_owned(), orders));

    let tickets = n * 4 / 100;
    for i in 0..tickets {
        let at = shape.at(i, tickets, &mut g);
        let (customer_source_id, customer_email) = shape.customer(&mut g);
        let solved = g.next(10) < 8;
        let ticket = Ticket {
            customer_source_id,
            customer_email,
            channel: Some(["email", "chat", "web", "phone"][g.next(4) as usize].into()),
            status: Some(if solved { "solved" } else { "open" }.into()),
            created_at: Some(at),
            updated_at: Some(at),
            first_reply_minutes: Some(g.next(2_000) as f64),
            solved_at: solved.then(|| at + Duration::minutes(g.next(5_000) as i64)),
            replies: Some(g.next(4) as i64),
            reopens: Some(i64::from(g.next(10) == 0)),
            satisfaction: Some(["good", "bad", "offered", "unoffered"][g.next(4) as usize].into()),
            ..Ticket::default()
        };
        let id = format!("t{i}");
        page.push(Record::new(id.as_str(), raw(&id), ticket));
        if page.len() == PAGE {
            commit(store, "helpdesk", "tickets", &mut page).await;
        }
    }
    commit(store, "helpdesk", "tickets", &mut page).await;
    counts.push(("tickets".to_owned(), tickets));

    let reviews = n * 2 / 100;
    for i in 0..reviews {
        let at = shape.at(i, reviews, &mut g);
        let replied = g.next(3) > 0;
        let review = Review {
            platform: "reviews".into(),
            location: Some(["Main St", "Harbour"][g.next(2) as usize].into()),
            rating: Some((1 + g.next(5)) as f64),
            created_at: Some(at),
            reply_at: replied.then(|| at + Duration::hours(g.next(72) as i64)),
            ..Review::default()
        };
        let id = format!("r{i}");
        page.push(Record::new(id.as_str(), raw(&id), review));
        if page.len() == PAGE {
            commit(store, "reviews", "reviews", &mut page).await;
        }
    }
    commit(store, "reviews", "reviews", &mut page).await;
    counts.push(("reviews".to_owned(), reviews));

    let surveys = n / 100;
    for i in 0..surveys {
        let at = shape.at(i, surveys, &mut g);
        let (customer_source_id, customer_email) = shape.customer(&mut g);
        let nps = g.next(3) > 0;
        let survey = SurveyResponse {
            platform: "surveys".into(),
            survey_id: None,
            question: None,
            comment: None,
            kind: if nps { SurveyKind::Nps } else { SurveyKind::Csat },
            score: Some(if nps { g.next(11) } else { 1 + g.next(5) } as f64),
            scale_min: Some(if nps { 0.0 } else { 1.0 }),
            scale_max: Some(if nps { 10.0 } else { 5.0 }),
            customer_source_id,
            customer_email,
            answered_at: Some(at),
        };
        let id = format!("s{i}");
        page.push(Record::new(id.as_str(), raw(&id), survey));
        if page.len() == PAGE {
            commit(store, "surveys", "responses", &mut page).await;
        }
    }
    commit(store, "surveys", "responses", &mut page).await;
    counts.push(("survey responses".to_owned(), surveys));

    // About one campaign every other day.
    let campaigns = (shape.days / 2).max(1) as u64;
    for i in 0..campaigns {
        let at = shape.at(i, campaigns, &mut g);
        let recipients = 5_000 + g.next(50_000) as i64;
        let opens = recipients / 3;
        let campaign = EmailCampaign {
            platform: "mail".into(),
            sent_at: Some(at),
            recipients: Some(recipients),
            hard_bounces: Some(recipients / 100),
            soft_bounces: Some(recipients / 200),
            unique_opens: Some(opens),
            unique_opens_human: Some(opens * 2 / 3),
            unique_clickers: Some(opens / 5),
            unsubscribes: Some(recipients / 500),
            spam_reports: Some(recipients / 5_000),
            ..EmailCampaign::default()
        };
        let id = format!("m{i}");
        page.push(Record::new(id.as_str(), raw(&id), campaign));
    }
    commit(store, "mail", "campaigns", &mut page).await;
    counts.push(("email campaigns".to_owned(), campaigns));
    counts
}

fn option(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.replace('_', "").parse().unwrap_or_else(|_| panic!("{name}: not a number: {v}")))
        .unwrap_or(default)
}

fn overview(bin: &Path, config: &Path) -> (f64, String) {
    let started = Instant::now();
    let out = std::process::Command::new(bin)
        .args(["--config", &config.to_string_lossy()])
        .args(["metrics", "overview", "--from", FROM, "--to", TO, "--by", "week", "--format", "json"])
        .env_remove("ENGAGE_LOG")
        .output()
        .expect("run engage");
    let seconds = started.elapsed().as_secs_f64();
    assert!(out.status.success(), "engage metrics overview failed: {}", String::from_utf8_lossy(&out.stderr));
    (seconds, String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let shape = Shape {
        interactions: option(&args, "--interactions", 10_000_000),
        days: option(&args, "--days", 1_095) as i64,
        customers: option(&args, "--customers", 200_000),
    };
    let backends: Vec<Backend> = {
        let named: Vec<Backend> = args
            .iter()
            .filter_map(|a| match a.as_str() {
                "sqlite" => Some(Backend::Sqlite),
                "postgres" => Some(Backend::Postgres),
                _ => None,
            })
            .collect();
        if named.is_empty() { vec![Backend::Sqlite] } else { named }
    };
    let bin = std::path::PathBuf::from(
        std::env::var("ENGAGE_BIN").expect("ENGAGE_BIN: the path of a release build of `engage`"),
    );
    for backend in backends {
        let (url, dir) = fresh_url(backend).await;
        let store = Store::open(&url).await.expect("open store");
        let started = Instant::now();
        let counts = build(&store, &shape).await;
        let load_seconds = started.elapsed().as_secs_f64();
        store.close().await;
        let config_dir = tempfile_dir();
        let config = config_dir.join("engage.toml");
        std::fs::write(&config, format!("[store]\nurl = \"{url}\"\n")).expect("write config");
        let size =
            dir.as_ref().and_then(|d| std::fs::metadata(d.path().join("engage.db")).ok()).map(|m| m.len());

        let (_, output) = overview(&bin, &config);
        let mut seconds: Vec<f64> = (0..RUNS).map(|_| overview(&bin, &config).0).collect();
        seconds.sort_by(f64::total_cmp);
        let reports: serde_json::Value = serde_json::from_str(&output).expect("overview JSON");
        let metrics = reports.as_array().map_or(0, Vec::len);
        let with_value =
            reports.as_array().map_or(0, |r| r.iter().filter(|m| !m["total"]["value"].is_null()).count());
        let in_window = reports
            .as_array()
            .and_then(|r| r.iter().find(|m| m["metric"] == "dau_mau"))
            .map_or(0, |m| m["total"]["n"].as_u64().unwrap_or(0));
        let name = match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        let stored: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
        println!(
            "metrics/{name}/overview: {FROM}..{TO} by week with the previous period, {metrics} metrics ({with_value} with a value; {in_window} web visitors in the window): median of {RUNS} runs {:.2} s (best {:.2} s, worst {:.2} s)",
            seconds[RUNS / 2],
            seconds[0],
            seconds[RUNS - 1],
        );
        println!(
            "metrics/{name}/store: {} over {} days, {} customers; loaded in {:.0} s{}",
            stored.join(", "),
            shape.days,
            shape.customers,
            load_seconds,
            size.map_or(String::new(), |b| format!(", {:.1} GB on disk", b as f64 / 1e9)),
        );
        if args.iter().any(|a| a == "--keep") {
            // For profiling: the store and its configuration stay.
            eprintln!("kept: {}", config.display());
            std::mem::forget(dir);
        } else {
            drop(dir);
            let _ = std::fs::remove_dir_all(&config_dir);
        }
    }
}

/// A fresh folder for the configuration file.
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("engage-bench-metrics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("config dir");
    dir
}
