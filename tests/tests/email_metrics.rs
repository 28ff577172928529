//! The email metrics of `engage-metrics`, computed from Mailchimp reports synced through the
//! mailchimp connector into SQLite and PostgreSQL, equal the rates the reports themselves state.
//!
//! The Mailchimp simulator serves the official report fixture (campaign `a79651273b`, a real
//! report: 50 sent, no bounces, 50 unique opens, 33 unique clicking subscribers, `open_rate` 1,
//! `click_rate` 0.66) verbatim, and generated reports with the same fields plus the
//! `proxy_excluded_*` opens of newer sends. Definitions, and where they meet Mailchimp's:
//!
//! - open rate = Σ unique openers / Σ delivered, delivered = sent − hard − soft bounces, which is
//!   Mailchimp's `opens.open_rate` (a fraction) when *all* opens count (`human_opens = false`).
//!   Engage's default counts human opens only (Apple Mail Privacy Protection's machine opens
//!   excluded): that is Mailchimp's `opens.proxy_excluded_open_rate`. The official fixture
//!   predates proxy exclusion and has no `proxy_excluded_*` counts, so the default (human) open
//!   rate leaves it out (no value) rather than guess.
//! - click rate = Σ unique clicking recipients (`clicks.unique_subscriber_clicks`, not
//!   `unique_clicks`, which counts links) / Σ delivered = Mailchimp's `clicks.click_rate`.
//! - click-to-open = unique clickers / unique openers; Mailchimp states no such rate, but both of
//!   its rates share the delivered denominator, so its own figure is `click_rate / open_rate`.
//! - bounce rate = (hard + soft bounces) / sent and unsubscribe rate = unsubscribes / delivered:
//!   a campaign report states the counts, not the rates (`list_stats.unsub_rate` is the *list's*
//!   monthly rate in percent, not the campaign's), so they are checked against the report's
//!   counts divided as Mailchimp's own rates are.
//!
//! Every comparison is exact (f64 equality): the fixture's rates are correctly rounded quotients
//! of its counts, and so are the metrics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{NaiveDate, TimeZone, Utc};
use engage_metrics::reference::{self, Ctx};
use engage_metrics::{Filters, Params, Path, Period, Request, Rows, Window, compute, find, parse_tz};
use engage_model::{Entity, EntityKind};
use engage_runner::{BuildOptions, SyncOptions, build_connector, sync_stream};
use engage_sandbox::Sim;
use engage_sandbox::mailchimp::{Mailchimp, MailchimpOptions, REPORT_EXAMPLE};
use engage_store::testing::{TestStore, fresh_store};
use engage_store::{Backend, ReadFilter, RunStatus};
use serde_json::Value;

const CONNECTION: &str = "newsletter";

/// Syncs the Mailchimp simulator's campaigns (with their reports) into a fresh store.
async fn synced(backend: Backend) -> TestStore {
    let options = MailchimpOptions::new(7, 40);
    let key = options.api_key.clone();
    let sim = Sim::<Mailchimp>::start(options).await.unwrap();
    let (connector, _) = build_connector(
        "mailchimp",
        CONNECTION,
        Some(&sim.base_url()),
        None,
        &serde_json::json!({ "api_key": key }),
        &BuildOptions::default(),
    )
    .unwrap();
    let store = fresh_store(backend).await;
    let outcome =
        sync_stream(&store.store, connector.as_ref(), CONNECTION, "campaigns", &SyncOptions::default())
            .await
            .unwrap();
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    store
}

fn fixture() -> Value {
    serde_json::from_str(REPORT_EXAMPLE).unwrap()
}

fn count(report: &Value, pointer: &str) -> f64 {
    report.pointer(pointer).and_then(Value::as_f64).unwrap_or_else(|| panic!("{pointer}"))
}

/// The metric over the fixture campaign's send day, on the SQL path where it has one and on the
/// reference path; both must agree.
async fn metric(store: &TestStore, name: &str, human_opens: bool) -> Option<f64> {
    let day = NaiveDate::from_ymd_opt(2022, 12, 27).unwrap();
    let mut values = Vec::new();
    for path in [Path::Auto, Path::Reference] {
        let request = Request {
            metric: find(name).unwrap(),
            window: Window::new(day, day.succ_opt().unwrap(), parse_tz("UTC").unwrap()).unwrap(),
            grain: None,
            filters: Filters { connections: vec![CONNECTION.to_owned()], ..Filters::default() },
            params: Params { human_opens, ..Params::default() },
            compare: false,
            path,
        };
        let report = compute(&store.store, &request).await.unwrap();
        values.push((report.total.outcome.value, report.total.outcome.n));
    }
    assert_eq!(values[0], values[1], "{name}: the SQL and reference paths differ");
    let (value, n) = values[0];
    assert_eq!(n, u64::from(value.is_some()), "{name}: only the fixture campaign is in the window");
    value
}

async fn fixture_rates_equal_the_metrics(backend: Backend) {
    let store = synced(backend).await;
    let report = fixture();
    // The stored campaign carries the fixture's report verbatim.
    let stored = store.store.read_entities(EntityKind::EmailCampaign, &ReadFilter::default()).await.unwrap();
    let raw = engage_store::query_read_only(
        &store.url,
        "SELECT raw FROM email_campaigns WHERE connection = 'newsletter' AND source_id = 'a79651273b'",
    )
    .await
    .unwrap()
    .rows;
    let raw: Value = match &raw[0][0] {
        Value::String(text) => serde_json::from_str(text).unwrap(),
        other => other.clone(),
    };
    assert_eq!(raw["report"], report);
    assert!(stored.iter().any(|s| s.source_id == "a79651273b"));

    let open_rate = count(&report, "/opens/open_rate");
    let click_rate = count(&report, "/clicks/click_rate");
    assert_eq!((open_rate, click_rate), (1.0, 0.66));
    // Mailchimp's open rate counts every open: Engage's all-opens variant.
    assert_eq!(metric(&store, "email_open_rate", false).await, Some(open_rate));
    // The fixture reports no proxy-excluded (human) opens: the default variant has no value.
    assert_eq!(metric(&store, "email_open_rate", true).await, None);
    assert_eq!(metric(&store, "email_click_rate", true).await, Some(click_rate));
    assert_eq!(metric(&store, "email_click_to_open", false).await, Some(click_rate / open_rate));
    let sent = count(&report, "/emails_sent");
    let bounces = count(&report, "/bounces/hard_bounces") + count(&report, "/bounces/soft_bounces");
    let delivered = sent - bounces;
    assert_eq!(metric(&store, "email_bounce_rate", true).await, Some(bounces / sent));
    assert_eq!(
        metric(&store, "email_unsubscribe_rate", true).await,
        Some(count(&report, "/unsubscribed") / delivered)
    );
    assert_eq!(metric(&store, "email_delivery_rate", true).await, Some(delivered / sent));
}

/// Every synced report, one campaign at a time through the metrics' reference functions: the
/// generated reports state `proxy_excluded_open_rate` too, and have bounces and unsubscribes.
async fn every_report_rate_equals_the_metrics(backend: Backend) {
    let store = synced(backend).await;
    let stored = store.store.read_entities(EntityKind::EmailCampaign, &ReadFilter::default()).await.unwrap();
    let raws = engage_store::query_read_only(&store.url, "SELECT source_id, raw FROM email_campaigns")
        .await
        .unwrap()
        .rows;
    let all = Params { human_opens: false, ..Params::default() };
    let human = Params::default();
    let period = Period {
        from: Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap(),
        to: Utc.with_ymd_and_hms(2100, 1, 1, 0, 0, 0).unwrap(),
    };
    let tz = parse_tz("UTC").unwrap();
    let (mut checked, mut with_human, mut with_bounces, mut with_unsubscribes) = (0, 0, 0, 0);
    for entity in stored {
        let Entity::EmailCampaign(campaign) = &entity.entity else { panic!() };
        if campaign.sent_at.is_none() {
            continue;
        }
        let raw = raws.iter().find(|r| r[0] == Value::String(entity.source_id.clone())).unwrap();
        let raw: Value = match &raw[1] {
            Value::String(text) => serde_json::from_str(text).unwrap(),
            other => other.clone(),
        };
        let report = &raw["report"];
        let mut rows = Rows::default();
        rows.extend(vec![entity.clone()]);
        let value = |f: fn(&Rows, Ctx) -> reference::Outcome, params: &Params| {
            f(&rows, Ctx { period, tz, params }).value
        };
        let sent = count(report, "/emails_sent");
        let bounces = count(report, "/bounces/hard_bounces") + count(report, "/bounces/soft_bounces");
        let delivered = sent - bounces;
        let open_rate = count(report, "/opens/open_rate");
        let click_rate = count(report, "/clicks/click_rate");
        let id = &entity.source_id;
        if delivered == 0.0 {
            // Mailchimp reports 0 where there is no denominator; Engage reports no value.
            assert_eq!((open_rate, click_rate), (0.0, 0.0), "{id}");
            assert_eq!(value(reference::email_open_rate, &all), None, "{id}");
            continue;
        }
        assert_eq!(value(reference::email_open_rate, &all), Some(open_rate), "{id}: open rate");
        assert_eq!(value(reference::email_click_rate, &all), Some(click_rate), "{id}: click rate");
        if let Some(human_rate) = report.pointer("/opens/proxy_excluded_open_rate").and_then(Value::as_f64) {
            assert_eq!(value(reference::email_open_rate, &human), Some(human_rate), "{id}: human open rate");
            with_human += 1;
        } else {
            assert_eq!(value(reference::email_open_rate, &human), None, "{id}");
        }
        let unique_opens = count(report, "/opens/unique_opens");
        let cto = value(reference::email_click_to_open, &all);
        if unique_opens == 0.0 {
            assert_eq!(cto, None, "{id}");
        } else {
            assert_eq!(cto, Some(count(report, "/clicks/unique_subscriber_clicks") / unique_opens), "{id}");
            if open_rate != 0.0 {
                // Mailchimp's own rates give the same figure (shared denominator), to rounding.
                assert!((cto.unwrap() - click_rate / open_rate).abs() < 1e-12, "{id}: click-to-open");
            }
        }
        assert_eq!(value(reference::email_bounce_rate, &all), Some(bounces / sent), "{id}: bounce rate");
        let unsubscribed = count(report, "/unsubscribed");
        assert_eq!(value(reference::email_unsubscribe_rate, &all), Some(unsubscribed / delivered), "{id}");
        checked += 1;
        with_bounces += usize::from(bounces > 0.0);
        with_unsubscribes += usize::from(unsubscribed > 0.0);
    }
    assert!(checked >= 30, "{checked} reports checked");
    assert!(
        with_human >= 25 && with_bounces >= 5 && with_unsubscribes >= 10,
        "{with_human} {with_bounces} {with_unsubscribes}"
    );
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fixture_rates_equal_the_metrics() {
        super::fixture_rates_equal_the_metrics(super::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_report_rate_equals_the_metrics() {
        super::every_report_rate_equals_the_metrics(super::Backend::Sqlite).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fixture_rates_equal_the_metrics() {
        super::fixture_rates_equal_the_metrics(super::Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_report_rate_equals_the_metrics() {
        super::every_report_rate_equals_the_metrics(super::Backend::Postgres).await;
    }
}
