#![allow(clippy::unwrap_used)]
//! Identity linking over the store, on SQLite and PostgreSQL: customers created, left alone
//! when nothing changed, merged when identities meet.

use engage_metrics::customers::{self, Key};
use engage_model::*;
use engage_store::testing::fresh_store;
use engage_store::{Backend, PageWrite, Store};

engage_store::on_both_backends!(links_incrementally_and_merges);

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
