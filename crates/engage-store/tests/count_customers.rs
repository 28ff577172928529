//! Distinct customers of interactions counted in the database, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use chrono::{DateTime, Utc};
use engage_model::*;
use engage_store::testing::fresh_store;
use engage_store::{Backend, Cond, CustomerCounts, CustomerQuery, Lit, PageWrite, ReadFilter};

engage_store::on_both_backends!(
    customers_are_counted_per_slice_and_period,
    mixed_case_emails_are_one_customer
);

const DAY: i64 = 86_400;

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

fn interaction(
    id: &str,
    who: (Option<&str>, Option<&str>),
    channel: Channel,
    kind: &str,
    secs: i64,
) -> Record {
    let i = Interaction {
        customer_source_id: who.0.map(str::to_owned),
        customer_email: who.1.map(str::to_owned),
        channel,
        kind: kind.into(),
        occurred_at: Some(at(secs)),
        value: None,
    };
    Record::new(id, raw_json(&format!(r#"{{"id":"{id}"}}"#)).unwrap(), i)
}

fn query(conditions: Vec<Cond>, marked: Option<Cond>, connections: Vec<String>) -> CustomerQuery {
    CustomerQuery {
        filter: ReadFilter { connections, ..ReadFilter::default() },
        conditions,
        marked,
        slices: (0..=4).map(|d| at(d * DAY)).collect(),
        periods: vec![(0, 4), (0, 2), (2, 4), (1, 3)],
    }
}

async fn customers_are_counted_per_slice_and_period(backend: Backend) {
    let t = fresh_store(backend).await;
    use Channel::*;
    let web = vec![
        // Day 0: u1 twice, u2 by email in two spellings (one customer), an anonymous visit.
        interaction("1", (Some("u1"), None), Web, "visit", 10),
        interaction("2", (Some("u1"), Some("x@y.z")), Web, "visit", 20),
        interaction("3", (None, Some("  Ana@Example.COM ")), Web, "visit", 30),
        interaction("4", (None, Some("ana@example.com")), Web, "visit", 40),
        interaction("5", (None, None), Web, "visit", 50),
        interaction("6", (None, Some("not an address")), Web, "visit", 60),
        // Day 1: u1 again; u3 refers someone (social).
        interaction("7", (Some("u1"), None), Web, "visit", DAY + 5),
        interaction("8", (Some("u3"), None), Social, "referral", DAY + 6),
        // Day 3: u4; a deleted visit of u5 never counts; day 4 is outside every slice.
        interaction("9", (Some("u4"), None), Web, "visit", 3 * DAY),
        interaction("10", (Some("u4"), None), Web, "visit", 4 * DAY),
    ];
    let mut deleted = interaction("11", (Some("u5"), None), Web, "visit", 3 * DAY + 1);
    deleted.deleted_at = Some(at(3 * DAY + 2));
    let mut records = web;
    records.push(deleted);
    t.store
        .commit_page("site", "events", PageWrite { records: &records, ..PageWrite::default() })
        .await
        .unwrap();
    // The same customer id in another connection is another customer.
    let other = [interaction("1", (Some("u1"), None), Web, "visit", 100)];
    t.store
        .commit_page("app", "events", PageWrite { records: &other, ..PageWrite::default() })
        .await
        .unwrap();

    let is_web = || Cond::Eq("channel", Lit::Text("web".into()));
    let counts = t.store.count_customers(&query(vec![is_web()], None, vec![])).await.unwrap();
    assert_eq!(
        counts,
        CustomerCounts {
            per_slice: vec![3, 1, 0, 1],
            per_period: vec![4, 3, 1, 1],
            marked_per_period: vec![0, 0, 0, 0],
        }
    );
    let site = t.store.count_customers(&query(vec![is_web()], None, vec!["site".into()])).await.unwrap();
    assert_eq!(site.per_slice, [2, 1, 0, 1]);

    let referral = Cond::Eq("kind", Lit::Text("referral".into()));
    let all = t.store.count_customers(&query(vec![], Some(referral), vec![])).await.unwrap();
    assert_eq!(all.per_slice, [3, 2, 0, 1]);
    assert_eq!(all.per_period, [5, 4, 1, 2]);
    assert_eq!(all.marked_per_period, [1, 1, 0, 1]);

    let none = CustomerQuery { periods: vec![], ..query(vec![is_web()], None, vec![]) };
    assert_eq!(t.store.count_customers(&none).await.unwrap().per_period, Vec::<u64>::new());
    let bad = CustomerQuery { periods: vec![(2, 5)], ..query(vec![], None, vec![]) };
    assert!(t.store.count_customers(&bad).await.is_err());
}

async fn mixed_case_emails_are_one_customer(backend: Backend) {
    // Rows written with a mixed-case email are keyed by the normalised one on both paths: the
    // write path fills customer_email_normalized.
    let t = fresh_store(backend).await;
    let records = [
        interaction("1", (None, Some("B@Example.com")), Channel::Web, "visit", 10),
        interaction("2", (None, Some("b@example.com ")), Channel::Web, "visit", 20),
    ];
    t.store
        .commit_page("site", "events", PageWrite { records: &records, ..PageWrite::default() })
        .await
        .unwrap();
    let q = CustomerQuery {
        filter: ReadFilter::default(),
        conditions: vec![],
        marked: None,
        slices: vec![at(0), at(DAY)],
        periods: vec![(0, 1)],
    };
    assert_eq!(t.store.count_customers(&q).await.unwrap().per_period, [1]);
    let back = t.store.read_entities(EntityKind::Interaction, &ReadFilter::default()).await.unwrap();
    assert_eq!(back[0].entity, records[0].entity);
}
