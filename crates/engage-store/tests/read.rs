//! The typed read API and in-database aggregation, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use chrono::{DateTime, Utc};
use engage_model::*;
use engage_store::testing::fresh_store;
use engage_store::{AggregateQuery, Backend, Cond, Expr, Lit, Measure, PageWrite, ReadFilter};
use rust_decimal::Decimal;

engage_store::on_both_backends!(entities_read_back_as_written, aggregates_count_and_sum_per_bucket);

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

fn order(id: &str, created: i64, total: &str, refunded: &str, guest: bool) -> Record {
    let o = Order {
        platform: "shop".into(),
        customer_source_id: (!guest).then(|| format!("c-{id}")),
        customer_email: Some(format!("{id}@example.com")),
        created_at: Some(at(created)),
        updated_at: None,
        currency: Some("EUR".into()),
        total: total.parse::<Decimal>().unwrap(),
        refunded: refunded.parse::<Decimal>().unwrap(),
        item_count: Some(2),
        guest,
        cancelled_at: None,
        financial_status: Some("paid".into()),
    };
    Record::new(id, raw_json(&format!(r#"{{"id":"{id}"}}"#)).unwrap(), o)
}

async fn entities_read_back_as_written(backend: Backend) {
    let t = fresh_store(backend).await;
    let orders = vec![order("1", 1_000, "10.25", "0", false), order("2", 2_000, "99.99", "9.99", true)];
    let event = EmailEvent {
        platform: "mail".into(),
        campaign_source_id: Some("c1".into()),
        email: Some("a@example.com".into()),
        customer_source_id: None,
        kind: EmailEventKind::Open,
        occurred_at: Some(at(1_500)),
        machine_open: true,
        url: None,
        bounce_type: None,
    };
    let mut records = orders.clone();
    records.push(Record::new("e1", raw_json("{}").unwrap(), event.clone()));
    t.store
        .commit_page("shop", "orders", PageWrite { records: &records, ..PageWrite::default() })
        .await
        .unwrap();

    let all = t.store.read_entities(EntityKind::Order, &ReadFilter::default()).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].entity, orders[0].entity);
    assert_eq!(all[1].entity, orders[1].entity);
    assert_eq!((all[0].connection.as_str(), all[0].source_id.as_str()), ("shop", "1"));

    let window = ReadFilter { from: Some(at(1_000)), to: Some(at(2_000)), ..ReadFilter::default() };
    let some = t.store.read_entities(EntityKind::Order, &window).await.unwrap();
    assert_eq!(some.len(), 1, "half-open: the order at `to` is outside");
    let other = ReadFilter { connections: vec!["nope".into()], ..ReadFilter::default() };
    assert!(t.store.read_entities(EntityKind::Order, &other).await.unwrap().is_empty());

    let events = t.store.read_entities(EntityKind::EmailEvent, &ReadFilter::default()).await.unwrap();
    assert_eq!(events[0].entity, Entity::EmailEvent(event));
    let bad = ReadFilter { time_column: Some("platform"), ..ReadFilter::default() };
    assert!(t.store.read_entities(EntityKind::Order, &bad).await.is_err());
}

async fn aggregates_count_and_sum_per_bucket(backend: Backend) {
    let t = fresh_store(backend).await;
    let records = vec![
        order("1", 100, "10", "0", false),
        order("2", 150, "20", "5", true),
        order("3", 250, "30.5", "0", true),
        order("4", 400, "1", "0", false),
    ];
    t.store
        .commit_page("shop", "orders", PageWrite { records: &records, ..PageWrite::default() })
        .await
        .unwrap();
    let q = AggregateQuery {
        kind: EntityKind::Order,
        filter: ReadFilter::default(),
        conditions: vec![Cond::Eq("currency", Lit::Text("EUR".into()))],
        buckets: vec![at(100), at(200), at(300), at(400)],
        measures: vec![
            Measure::Count(None),
            Measure::Count(Some(Cond::True("guest"))),
            Measure::Sum(Expr::Minus("total", "refunded"), None),
            Measure::CountDistinct("customer_source_id", None),
        ],
    };
    let rows = t.store.aggregate(&q).await.unwrap();
    assert_eq!(rows.len(), 2, "the bucket [300, 400) has no orders and 400 is outside");
    assert_eq!(
        (rows[0].bucket, rows[0].values.clone()),
        (0, vec![Some(2.0), Some(1.0), Some(25.0), Some(1.0)])
    );
    assert_eq!(
        (rows[1].bucket, rows[1].values.clone()),
        (1, vec![Some(1.0), Some(1.0), Some(30.5), Some(0.0)])
    );

    let empty = AggregateQuery {
        buckets: vec![],
        filter: ReadFilter { from: Some(at(1_000)), to: Some(at(2_000)), ..ReadFilter::default() },
        ..q
    };
    let rows = t.store.aggregate(&empty).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].values, vec![Some(0.0), Some(0.0), None, Some(0.0)]);
}
