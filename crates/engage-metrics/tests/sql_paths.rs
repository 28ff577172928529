#![allow(clippy::unwrap_used)]
//! Every SQL path equals the reference over the same stored rows, on SQLite and PostgreSQL:
//! whole window, weekly buckets, the previous period, and each filter.

mod fixtures;

use chrono::Duration;
use chrono_tz::Tz;
use engage_metrics::engine::{Path, Report, Request, compute};
use engage_metrics::{Filters, Grain, METRICS, Params, Window, find, sql};
use engage_model::*;
use engage_store::testing::fresh_store;
use engage_store::{Backend, PageWrite, Store};
use fixtures::*;

engage_store::on_both_backends!(sql_paths_equal_the_reference, hand_fixture_through_the_store);

/// A small deterministic generator (64-bit LCG).
struct Gen(u64);

impl Gen {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
    fn maybe<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> Option<T> {
        let v = f(self);
        (self.next(5) != 0).then_some(v)
    }
}

fn raw(id: &str) -> Box<serde_json::value::RawValue> {
    raw_json(&format!(r#"{{"id":"{id}"}}"#)).unwrap()
}

async fn seed(store: &Store) {
    let mut g = Gen(7);
    let start = t("2023-11-20T00:00:00Z");
    for connection in ["north", "south"] {
        let mut records = Vec::new();
        for i in 0..400 {
            let at = start + Duration::minutes(g.next(60 * 24 * 100) as i64);
            let id = format!("{connection}-{i}");
            let mut s = survey(
                if g.next(4) == 0 { SurveyKind::Csat } else { SurveyKind::Nps },
                g.maybe(|g| g.next(13) as f64 - 1.0),
                (0.0, 10.0),
                "2024-01-01T00:00:00Z",
            );
            s.answered_at = Some(at);
            if g.next(10) == 0 {
                s.score = Some(7.5);
            }
            records.push(Record::new(format!("s{id}"), raw(&id), s));
            let mut r = review(
                g.maybe(|g| g.next(6) as f64),
                "2024-01-01T00:00:00Z",
                g.maybe(|g| g.next(100) as i64),
            );
            r.created_at = Some(at);
            r.location = Some(["Main St", "Harbour"][g.next(2) as usize].into());
            if g.next(7) == 0 {
                r.reply_at = None;
                r.reply_body = Some(["  ", "ok"][g.next(2) as usize].into());
            }
            records.push(Record::new(format!("r{id}"), raw(&id), r));
            if i % 8 == 0 {
                let recipients = g.next(1000) as i64;
                let mut c = campaign(
                    "2024-01-01T00:00:00Z",
                    recipients,
                    g.next(5) as i64,
                    g.next(5) as i64,
                    0,
                    None,
                    0,
                    0,
                    0,
                );
                c.sent_at = Some(at);
                c.unique_opens = g.maybe(|g| g.next(500) as i64);
                c.unique_opens_human = g.maybe(|g| g.next(400) as i64);
                c.unique_clickers = g.maybe(|g| g.next(100) as i64);
                c.unsubscribes = g.maybe(|g| g.next(10) as i64);
                c.spam_reports = g.maybe(|g| g.next(3) as i64);
                c.soft_bounces = g.maybe(|g| g.next(5) as i64);
                records.push(Record::new(format!("c{id}"), raw(&id), c));
            }
            let solved = at + Duration::minutes(g.next(60 * 24 * 20) as i64);
            let ticket = Ticket {
                created_at: Some(at),
                channel: Some(["email", "chat", "phone"][g.next(3) as usize].into()),
                status: Some(["open", "solved", "closed", "pending"][g.next(4) as usize].into()),
                solved_at: g.maybe(|_| solved),
                replies: g.maybe(|g| g.next(4) as i64),
                reopens: g.maybe(|g| g.next(3) as i64),
                satisfaction: g.maybe(|g| ["good", "bad", "offered"][g.next(3) as usize].into()),
                ..Ticket::default()
            };
            records.push(Record::new(format!("t{id}"), raw(&id), ticket));
            let cents = g.next(100_000);
            let amount = format!("{}.{:02}", cents / 100, cents % 100);
            let mut o = order(None, None, "2024-01-01T00:00:00Z", &amount, "0", g.next(3) == 0);
            o.created_at = Some(at);
            if g.next(12) == 0 {
                o.cancelled_at = Some(at);
            }
            records.push(Record::new(format!("o{id}"), raw(&id), o));
        }
        // Interactions: web visits keyed by id, by email in several spellings, or by nothing;
        // social impressions (one infinite) and engagements; referral events.
        let people = ["u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8"];
        let emails = ["ana@example.com", " ANA@example.com", "bo@example.com", "not an address"];
        for i in 0..600 {
            let at = start + Duration::minutes(g.next(60 * 24 * 100) as i64);
            let (channel, kind, value) = match g.next(10) {
                0..=5 => (Channel::Web, "visit", g.maybe(|g| g.next(600) as f64)),
                6 => (
                    Channel::Social,
                    "impressions",
                    Some(if i == 7 { f64::INFINITY } else { g.next(90) as f64 }),
                ),
                7 => (Channel::Social, ["like", "share", "comment", "view"][g.next(4) as usize], None),
                8 => (Channel::Social, "referral", None),
                _ => (Channel::Shop, "order", Some(10.0)),
            };
            let (customer_source_id, customer_email) = match g.next(4) {
                0 => (None, Some(emails[g.next(4) as usize].to_owned())),
                1 if g.next(3) == 0 => (None, None),
                _ => (Some(people[g.next(8) as usize].to_owned()), None),
            };
            let interaction = Interaction {
                customer_source_id,
                customer_email,
                channel,
                kind: kind.into(),
                occurred_at: Some(at),
                value,
            };
            records.push(Record::new(format!("i{connection}-{i}"), raw(&format!("{i}")), interaction));
        }
        // A deleted review must count on neither path.
        let mut deleted = Record::new("gone", raw("gone"), review(Some(1.0), "2024-01-10T00:00:00Z", None));
        deleted.deleted_at = Some(t("2024-01-11T00:00:00Z"));
        records.push(deleted);
        store
            .commit_page(connection, "all", PageWrite { records: &records, ..PageWrite::default() })
            .await
            .unwrap();
    }
}

fn same(name: &str, label: &str, a: &Report, b: &Report) {
    let points = |r: &Report| {
        let mut v = vec![r.total.clone()];
        v.extend(r.buckets.clone());
        v.extend(r.previous.clone());
        v
    };
    let (pa, pb) = (points(a), points(b));
    assert_eq!(pa.len(), pb.len(), "{name} {label}");
    for (x, y) in pa.iter().zip(&pb) {
        assert_eq!(x.bucket, y.bucket);
        assert_eq!(x.outcome.n, y.outcome.n, "{name} {label} {}: n", x.bucket);
        match (x.outcome.value, y.outcome.value) {
            (Some(u), Some(v)) => {
                assert!(
                    (u - v).abs() <= 1e-9 * v.abs().max(1.0),
                    "{name} {label} {}: sql {u} vs reference {v}",
                    x.bucket
                )
            }
            (u, v) => assert_eq!(u, v, "{name} {label} {}", x.bucket),
        }
        for (k, v) in &x.outcome.details {
            let want = y.outcome.detail(k);
            match (v, want) {
                (Some(u), Some(w)) => {
                    assert!((u - w).abs() <= 1e-9 * w.abs().max(1.0), "{name} {label} {k}: {u} vs {w}")
                }
                (u, w) => assert_eq!(*u, w, "{name} {label} {k}"),
            }
        }
    }
}

async fn sql_paths_equal_the_reference(backend: Backend) {
    let t = fresh_store(backend).await;
    seed(&t.store).await;
    let warsaw: Tz = "Europe/Warsaw".parse().unwrap();
    let window = Window::new(d("2023-12-27"), d("2024-02-14"), warsaw).unwrap();
    let filters = [
        Filters::default(),
        Filters { connections: vec!["south".into()], ..Filters::default() },
        Filters { channels: vec!["chat".into(), "phone".into()], ..Filters::default() },
        Filters { locations: vec!["Harbour".into()], ..Filters::default() },
        Filters { channels: vec!["web".into(), "social".into()], ..Filters::default() },
    ];
    let variants = [
        Params::default(),
        Params {
            human_opens: false,
            one_touch: engage_metrics::OneTouch::ZendeskLegacy,
            ..Params::default()
        },
    ];
    let mut checked = 0;
    for m in METRICS {
        if sql::path(m.name, &Params::default(), &Filters::default()).is_none()
            && sql::customer_path(m.name, &Params::default(), &Filters::default()).is_none()
        {
            continue;
        }
        for f in &filters {
            for params in &variants {
                let req = |path| Request {
                    metric: find(m.name).unwrap(),
                    window,
                    grain: Some(Grain::Week),
                    filters: f.clone(),
                    params: params.clone(),
                    compare: true,
                    path,
                };
                let by_sql = compute(&t.store, &req(Path::Auto)).await.unwrap();
                let by_reference = compute(&t.store, &req(Path::Reference)).await.unwrap();
                assert_eq!((by_sql.computed_by, by_reference.computed_by), ("sql", "reference"));
                // A channel filter narrows tickets and interactions; one naming only the other
                // family's channels leaves nothing.
                let has = |names: &[&str]| f.channels.iter().any(|c| names.contains(&c.as_str()));
                let narrowed_away = (m.reads.contains(&EntityKind::Ticket) && !has(&["chat", "phone"]))
                    || (m.reads.contains(&EntityKind::Interaction) && !has(&["web", "social"]));
                if f.channels.is_empty() || !narrowed_away {
                    assert!(
                        by_reference.total.outcome.n > 0,
                        "{} {f:?}: the fixture must exercise it",
                        m.name
                    );
                }
                same(m.name, &format!("{f:?}"), &by_sql, &by_reference);
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 21, "metrics with a SQL path");
}

async fn hand_fixture_through_the_store(backend: Backend) {
    // The helpdesk fixture through the store and the engine gives the hand-computed values.
    let t = fresh_store(backend).await;
    let records: Vec<Record> =
        tickets().into_iter().enumerate().map(|(i, e)| Record::new(format!("{i}"), raw("x"), e)).collect();
    t.store
        .commit_page("main", "tickets", PageWrite { records: &records, ..PageWrite::default() })
        .await
        .unwrap();
    let window = Window::new(d("2024-01-01"), d("2024-02-01"), Tz::UTC).unwrap();
    for path in [Path::Auto, Path::Reference] {
        let req = |name: &str| Request {
            metric: find(name).unwrap(),
            window,
            grain: None,
            filters: Filters::default(),
            params: Params::default(),
            compare: false,
            path,
        };
        let value = |r: Report| r.total.outcome.value.unwrap();
        assert!((value(compute(&t.store, &req("one_touch_rate")).await.unwrap()) - 1.0 / 3.0).abs() < 1e-12);
        assert!((value(compute(&t.store, &req("reopen_rate")).await.unwrap()) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(value(compute(&t.store, &req("ticket_csat")).await.unwrap()), 0.5);
        assert_eq!(value(compute(&t.store, &req("first_reply_time")).await.unwrap()), 60.0);
        let chat = Request {
            filters: Filters { channels: vec!["chat".into()], ..Filters::default() },
            ..req("ticket_csat")
        };
        assert_eq!(value(compute(&t.store, &chat).await.unwrap()), 0.0);
    }
}
