#![allow(clippy::unwrap_used)]
//! Identity linking over the store, on SQLite and PostgreSQL: customers created, left alone
//! when nothing changed, merged when identities meet.

use engage_metrics::customers::{self, Key};
use engage_model::*;
use engage_store::testing::fresh_store;
use engage_store::{Backend, PageWrite, Store};

engage_store::on_both_backends!(
    links_incrementally_and_merges,
    incremental_passes_leave_nothing_for_a_full_pass
);

fn person(id: &str, email: Option<&str>, phone: Option<&str>) -> Record {
    let identity = Identity {
        email: email.map(String::from),
        phone: phone.map(String::from),
        name: Some(format!("Person {id}")),
        ..Identity::default()
    };
    Record::new(id, raw_json(&format!(r#"{{"id":"{id}"}}"#)).unwrap(), identity)
}

async fn commit(store: &Store, connection: &str, records: Vec<Record>) {
    store
        .commit_page(connection, "people", PageWrite { records: &records, ..PageWrite::default() })
        .await
        .unwrap();
}

async fn links_incrementally_and_merges(backend: Backend) {
    let t = fresh_store(backend).await;
    commit(
        &t.store,
        "helpdesk",
        vec![person("1", Some("Ana@Example.pl"), None), person("2", Some("bob@example.com"), None)],
    )
    .await;
    commit(&t.store, "shop", vec![person("9", Some("ana@example.pl "), Some("+48 221 234 567"))]).await;
    commit(&t.store, "crm", vec![person("c1", None, Some("+48221234567"))]).await;
    // An order names a guest by email only: that email becomes a customer of its own.
    let order = Order {
        platform: "shop".into(),
        customer_source_id: None,
        customer_email: Some("carol@example.org".into()),
        created_at: None,
        updated_at: None,
        currency: None,
        total: 5.into(),
        refunded: 0.into(),
        item_count: None,
        guest: true,
        cancelled_at: None,
        financial_status: None,
    };
    t.store
        .commit_page(
            "shop",
            "orders",
            PageWrite {
                records: &[Record::new("o1", raw_json("{}").unwrap(), order)],
                ..PageWrite::default()
            },
        )
        .await
        .unwrap();

    let stats = customers::link(&t.store).await.unwrap();
    assert_eq!((stats.identities, stats.customers, stats.created, stats.relinked), (4, 3, 3, 4));
    let all = t.store.customers().await.unwrap();
    assert_eq!(all.len(), 3);
    let links = t.store.identity_links().await.unwrap();
    let of = |conn: &str, id: &str| {
        links.iter().find(|l| l.connection == conn && l.source_id == id).unwrap().customer_id
    };
    assert_eq!(of("helpdesk", "1"), of("shop", "9"));
    assert_eq!(of("crm", "c1"), of("shop", "9"), "linked by phone");
    assert_ne!(of("helpdesk", "2"), of("helpdesk", "1"));
    assert!(all.iter().any(|c| c.email.as_deref() == Some("carol@example.org")));

    // Nothing changed: nothing is written.
    let stamp =
        engage_store::query_read_only(&t.url, "SELECT customer_id, updated_at FROM customers ORDER BY 1")
            .await
            .unwrap();
    let again = customers::link(&t.store).await.unwrap();
    assert_eq!((again.created, again.merged, again.relinked, again.updated), (0, 0, 0, 0));
    let after =
        engage_store::query_read_only(&t.url, "SELECT customer_id, updated_at FROM customers ORDER BY 1")
            .await
            .unwrap();
    assert_eq!(stamp.rows, after.rows);

    // Bob gives the helpdesk Ana's phone: the two customers meet and merge into the older id.
    let (ana, bob) = (of("helpdesk", "1").unwrap(), of("helpdesk", "2").unwrap());
    commit(&t.store, "helpdesk", vec![person("2", Some("bob@example.com"), Some("+48221234567"))]).await;
    let merged = customers::link(&t.store).await.unwrap();
    assert_eq!((merged.merged, merged.customers), (1, 2));
    let links = t.store.identity_links().await.unwrap();
    let keep = ana.min(bob);
    assert!(links.iter().all(|l| l.customer_id == Some(keep)));
    assert_eq!(t.store.customers().await.unwrap().len(), 2);

    let keys = customers::keys_of(&t.store, "BOB@example.com").await.unwrap();
    assert!(keys.contains(&Key::Source("shop".into(), "9".into())));
    assert!(keys.contains(&Key::Phone("+48221234567".into())));
}

/// A small deterministic generator (64-bit LCG).
struct Gen(u64);

impl Gen {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Forty rounds of random changes — people added, given another email or phone, deleted;
/// orders naming people by source id and email — each followed by a pass over that round's
/// changes only. After every pass a full relink of the whole store finds nothing to change:
/// the incremental passes linked, merged and split exactly as a full pass would.
async fn incremental_passes_leave_nothing_for_a_full_pass(backend: Backend) {
    let t = fresh_store(backend).await;
    let mut g = Gen(7);
    let connections = ["helpdesk", "shop", "crm"];
    let email = |g: &mut Gen| {
        let n = g.next(14);
        if g.next(3) == 0 { format!("Person{n}@Example.com") } else { format!("person{n}@example.com") }
    };
    let mut totals = (0, 0, 0);
    for round in 0..40 {
        let since = chrono::Utc::now();
        for _ in 0..1 + g.next(4) {
            let connection = connections[g.next(3) as usize];
            let id = format!("p{}", g.next(25));
            let mut record = person(
                &id,
                (g.next(4) != 0).then(|| email(&mut g)).as_deref(),
                (g.next(3) == 0).then(|| format!("+48 600 000 {:03}", g.next(6))).as_deref(),
            );
            if g.next(8) == 0 {
                record.deleted_at = Some(chrono::Utc::now());
            }
            commit(&t.store, connection, vec![record]).await;
        }
        if g.next(2) == 0 {
            let order = Order {
                platform: "shop".into(),
                customer_source_id: (g.next(2) == 0).then(|| format!("p{}", g.next(25))),
                customer_email: Some(email(&mut g)),
                created_at: None,
                updated_at: None,
                currency: None,
                total: 1.into(),
                refunded: 0.into(),
                item_count: None,
                guest: false,
                cancelled_at: None,
                financial_status: None,
            };
            let record = Record::new(format!("o{round}"), raw_json("{}").unwrap(), order);
            t.store
                .commit_page("shop", "orders", PageWrite { records: &[record], ..PageWrite::default() })
                .await
                .unwrap();
        }
        let pass = customers::link_changes(&t.store, since).await.unwrap();
        totals = (totals.0 + pass.created, totals.1 + pass.merged, totals.2 + pass.relinked);
        let full = customers::link_full(&t.store).await.unwrap();
        assert_eq!(
            (full.created, full.merged, full.relinked, full.updated),
            (0, 0, 0, 0),
            "round {round}: the incremental pass left work for a full one ({pass:?})"
        );
        assert_eq!(full.customers, pass.customers, "round {round}");
    }
    // The rounds did merge and move people, so the passes were tested on real work.
    assert!(totals.0 > 5 && totals.1 > 0 && totals.2 > 10, "{totals:?}");
}
