//! The store suite: every test runs on SQLite and on PostgreSQL (`sqlite::*` and `postgres::*`).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use chrono::{DateTime, Utc};
use engage_model::*;
use engage_store::testing::{TestStore, fresh_store, sample_ticket};
use engage_store::{Backend, PageWrite, Quarantined, RunStatus, RunSummary, StoreError, query_read_only};
use rust_decimal::Decimal;
use serde_json::json;

engage_store::on_both_backends!(
    commits_records_and_checkpoint_together,
    recommitting_a_page_changes_nothing,
    changed_records_are_updated_and_keep_first_seen,
    later_duplicate_in_a_page_wins,
    deletions_are_recorded,
    a_tombstone_marks_the_stored_row_and_keeps_its_content,
    quarantine_keeps_reason_once,
    every_entity_kind_lands_in_its_table,
    tables_have_the_documented_columns,
    text_round_trips_byte_for_byte,
    writes_are_refused_by_query,
    run_history_is_recorded,
    migrating_twice_applies_nothing,
);

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

async fn snapshot(t: &TestStore, table: &str) -> Vec<Vec<serde_json::Value>> {
    query_read_only(&t.url, &format!("SELECT * FROM {table} ORDER BY connection, stream, source_id"))
        .await
        .unwrap()
        .rows
}

async fn commits_records_and_checkpoint_together(backend: Backend) {
    let t = fresh_store(backend).await;
    let records: Vec<Record> = (0..250).map(|i| sample_ticket(&format!("{i}"), 1, 600)).collect();
    let checkpoint = json!({"cursor": "abc", "page": 1});
    let page = PageWrite { records: &records, checkpoint: Some(&checkpoint), ..PageWrite::default() };
    let stats = t.store.commit_page("support", "tickets", page).await.unwrap();
    assert_eq!((stats.written, stats.unchanged, stats.quarantined), (250, 0, 0));
    assert_eq!(t.store.count_rows("tickets").await.unwrap(), 250);
    assert_eq!(t.store.checkpoint("support", "tickets").await.unwrap(), Some(checkpoint));
    assert_eq!(t.store.checkpoint("support", "users").await.unwrap(), None);
    // The same source ids under another stream or connection are other records.
    let page = PageWrite { records: &records[..10], ..PageWrite::default() };
    t.store.commit_page("support-eu", "tickets", page).await.unwrap();
    assert_eq!(t.store.count_rows("tickets").await.unwrap(), 260);
}

async fn recommitting_a_page_changes_nothing(backend: Backend) {
    let t = fresh_store(backend).await;
    let records: Vec<Record> = (0..100).map(|i| sample_ticket(&format!("t{i}"), 3, 900)).collect();
    let checkpoint = json!({"after": 100});
    let page = PageWrite { records: &records, checkpoint: Some(&checkpoint), ..PageWrite::default() };
    t.store.commit_page("c", "tickets", page).await.unwrap();
    let before = snapshot(&t, "tickets").await;
    let before_checkpoint = snapshot_checkpoint(&t).await;
    let stats = t.store.commit_page("c", "tickets", page).await.unwrap();
    assert_eq!((stats.written, stats.unchanged), (0, 100));
    assert_eq!(snapshot(&t, "tickets").await, before);
    assert_eq!(snapshot_checkpoint(&t).await[0][0..3], before_checkpoint[0][0..3]);
}

async fn snapshot_checkpoint(t: &TestStore) -> Vec<Vec<serde_json::Value>> {
    query_read_only(&t.url, "SELECT connection, stream, checkpoint, updated_at FROM checkpoints")
        .await
        .unwrap()
        .rows
}

async fn changed_records_are_updated_and_keep_first_seen(backend: Backend) {
    let t = fresh_store(backend).await;
    let v1 = [sample_ticket("42", 1, 300)];
    t.store.commit_page("c", "tickets", PageWrite { records: &v1, ..Default::default() }).await.unwrap();
    let first = query_read_only(&t.url, "SELECT first_seen_at, last_seen_at, replies FROM tickets")
        .await
        .unwrap()
        .rows;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let v2 = [sample_ticket("42", 2, 300)];
    let stats =
        t.store.commit_page("c", "tickets", PageWrite { records: &v2, ..Default::default() }).await.unwrap();
    assert_eq!(stats.written, 1);
    let second = query_read_only(&t.url, "SELECT first_seen_at, last_seen_at, replies FROM tickets")
        .await
        .unwrap()
        .rows;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0][0], first[0][0], "first_seen_at is kept");
    assert_ne!(second[0][1], first[0][1], "last_seen_at moves");
    assert_eq!(second[0][2], json!(2));
}

async fn later_duplicate_in_a_page_wins(backend: Backend) {
    let t = fresh_store(backend).await;
    let records = [sample_ticket("7", 1, 200), sample_ticket("8", 1, 200), sample_ticket("7", 5, 200)];
    let stats = t
        .store
        .commit_page("c", "tickets", PageWrite { records: &records, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(stats.written, 2);
    let rows = query_read_only(&t.url, "SELECT source_id, replies FROM tickets ORDER BY source_id")
        .await
        .unwrap()
        .rows;
    assert_eq!(rows, vec![vec![json!("7"), json!(5)], vec![json!("8"), json!(1)]]);
}

async fn deletions_are_recorded(backend: Backend) {
    let t = fresh_store(backend).await;
    let live = [sample_ticket("1", 1, 200)];
    t.store.commit_page("c", "tickets", PageWrite { records: &live, ..Default::default() }).await.unwrap();
    let gone = [sample_ticket("1", 1, 200).deleted(at(1_700_500_000))];
    let stats = t
        .store
        .commit_page("c", "tickets", PageWrite { records: &gone, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(stats.written, 1);
    let rows = query_read_only(&t.url, "SELECT deleted_at FROM tickets").await.unwrap().rows;
    assert_eq!(rows, vec![vec![json!("2023-11-20T17:06:40.000000Z")]]);
}

/// A deletion that does not say what the record held marks the stored row deleted (its first
/// deletion time) and keeps its columns and raw payload; one for a record never stored is stored
/// as given.
async fn a_tombstone_marks_the_stored_row_and_keeps_its_content(backend: Backend) {
    let t = fresh_store(backend).await;
    let commit = |records: Vec<Record>| {
        let store = t.store.clone();
        async move {
            store
                .commit_page("c", "tickets", PageWrite { records: &records, ..Default::default() })
                .await
                .unwrap()
        }
    };
    let tombstone = |id: &str, secs: i64| {
        Record::tombstone(id, raw_json(&format!(r#"{{"id":"{id}"}}"#)).unwrap(), Ticket::default(), at(secs))
    };
    let rows = || async {
        query_read_only(
            &t.url,
            "SELECT source_id, subject, replies, raw, deleted_at FROM tickets ORDER BY source_id",
        )
        .await
        .unwrap()
        .rows
    };
    commit(vec![sample_ticket("1", 3, 200)]).await;
    let before = rows().await;

    let stats = commit(vec![tombstone("1", 1_700_500_000), tombstone("9", 1_700_500_000)]).await;
    assert_eq!((stats.written, stats.unchanged), (2, 0));
    let after = rows().await;
    assert_eq!(after[0][..4], before[0][..4], "subject, replies and raw stay");
    assert_eq!(after[0][4], json!("2023-11-20T17:06:40.000000Z"));
    assert_eq!(
        after[1],
        vec![json!("9"), json!(null), json!(null), after[1][3].clone(), json!("2023-11-20T17:06:40.000000Z")]
    );
    let raw = |v: &serde_json::Value| match v {
        serde_json::Value::String(text) => serde_json::from_str::<serde_json::Value>(text).unwrap(),
        other => other.clone(),
    };
    assert_eq!(raw(&after[1][3]), json!({"id": "9"}));

    // Told again later: nothing changes, the first deletion time stays.
    let stats = commit(vec![tombstone("1", 1_700_600_000)]).await;
    assert_eq!((stats.written, stats.unchanged), (0, 1));
    assert_eq!(rows().await, after);
    // Sent again by the source, undeleted: a normal record replaces the row.
    commit(vec![sample_ticket("1", 4, 200)]).await;
    assert_eq!(rows().await[0][2..], [json!(4), rows().await[0][3].clone(), json!(null)]);
}

async fn quarantine_keeps_reason_once(backend: Backend) {
    let t = fresh_store(backend).await;
    let run = t.store.start_run("c", "tickets").await.unwrap();
    let bad = [Quarantined {
        source_id: Some("99".into()),
        raw: r#"{"id": 99, "created_at": "not a date""#.into(),
        reason: "created_at: invalid date `not a date`".into(),
    }];
    let good = [sample_ticket("1", 1, 200)];
    let checkpoint = json!({"n": 1});
    let page =
        PageWrite { records: &good, quarantined: &bad, checkpoint: Some(&checkpoint), run_id: Some(run) };
    let stats = t.store.commit_page("c", "tickets", page).await.unwrap();
    assert_eq!((stats.written, stats.quarantined), (1, 1));
    t.store.commit_page("c", "tickets", page).await.unwrap();
    let rows =
        query_read_only(&t.url, "SELECT connection, stream, source_id, raw, reason, run_id FROM quarantine")
            .await
            .unwrap()
            .rows;
    assert_eq!(
        rows,
        vec![vec![
            json!("c"),
            json!("tickets"),
            json!("99"),
            json!(r#"{"id": 99, "created_at": "not a date""#),
            json!("created_at: invalid date `not a date`"),
            json!(run.0)
        ]]
    );
}

fn raw(value: serde_json::Value) -> Box<serde_json::value::RawValue> {
    raw_json(&value.to_string()).unwrap()
}

fn one_of_each() -> Vec<Record> {
    vec![
        Record::new(
            "u1",
            raw(json!({"id": "u1"})),
            Identity {
                email: Some(" Ana@Example.PL ".into()),
                name: Some("Ana".into()),
                ..Default::default()
            },
        ),
        sample_ticket("t1", 1, 200),
        Record::new(
            "r1",
            raw(json!({"id": "r1"})),
            Review {
                platform: "google_business".into(),
                rating: Some(4.0),
                source_rating: Some("FOUR".into()),
                ..Default::default()
            },
        ),
        Record::new(
            "c1",
            raw(json!({"id": "c1"})),
            EmailCampaign {
                platform: "mailchimp".into(),
                recipients: Some(1000),
                unique_opens: Some(420),
                ..Default::default()
            },
        ),
        Record::new(
            "e1",
            raw(json!({"id": "e1"})),
            EmailEvent {
                platform: "sendgrid".into(),
                campaign_source_id: None,
                email: Some("a@b.c".into()),
                customer_source_id: None,
                kind: EmailEventKind::Open,
                occurred_at: Some(at(1_700_000_000)),
                machine_open: true,
                url: None,
                bounce_type: None,
            },
        ),
        Record::new(
            "s1",
            raw(json!({"id": "s1"})),
            SurveyResponse {
                platform: "delighted".into(),
                survey_id: None,
                question: None,
                kind: SurveyKind::Nps,
                score: Some(9.0),
                scale_min: Some(0.0),
                scale_max: Some(10.0),
                comment: None,
                customer_source_id: None,
                customer_email: None,
                answered_at: Some(at(1_700_000_000)),
            },
        ),
        Record::new(
            "o1",
            raw(json!({"id": "o1"})),
            Order {
                platform: "shopify".into(),
                customer_source_id: None,
                customer_email: None,
                created_at: Some(at(1_700_000_000)),
                updated_at: None,
                currency: Some("EUR".into()),
                total: Decimal::new(12_345, 2),
                refunded: Decimal::ZERO,
                item_count: Some(2),
                guest: true,
                cancelled_at: None,
                financial_status: Some("paid".into()),
            },
        ),
        Record::new(
            "i1",
            raw(json!({"id": "i1"})),
            Interaction {
                customer_source_id: Some("u1".into()),
                customer_email: None,
                channel: Channel::Shop,
                kind: "order".into(),
                occurred_at: Some(at(1_700_000_000)),
                value: Some(123.45),
            },
        ),
    ]
}

async fn every_entity_kind_lands_in_its_table(backend: Backend) {
    let t = fresh_store(backend).await;
    let records = one_of_each();
    let stats = t
        .store
        .commit_page("mixed", "all", PageWrite { records: &records, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(stats.written, 8);
    for kind in EntityKind::ALL {
        assert_eq!(t.store.count_rows(kind.table()).await.unwrap(), 1, "{}", kind.table());
    }
    let q = |sql: &'static str| {
        let url = t.url.clone();
        async move { query_read_only(&url, sql).await.unwrap().rows }
    };
    assert_eq!(
        q("SELECT email, email_normalized, name FROM identities").await,
        vec![vec![json!(" Ana@Example.PL "), json!("ana@example.pl"), json!("Ana")]]
    );
    assert_eq!(q("SELECT rating, source_rating FROM reviews").await, vec![vec![json!(4.0), json!("FOUR")]]);
    assert_eq!(
        q("SELECT recipients, unique_opens, unique_clickers FROM email_campaigns").await,
        vec![vec![json!(1000), json!(420), json!(null)]]
    );
    let machine = q("SELECT kind, machine_open, occurred_at FROM email_events").await;
    let machine_open = if backend == Backend::Sqlite { json!(1) } else { json!(true) };
    assert_eq!(machine, vec![vec![json!("open"), machine_open, json!("2023-11-14T22:13:20.000000Z")]]);
    assert_eq!(
        q("SELECT kind, score, scale_max FROM survey_responses").await,
        vec![vec![json!("nps"), json!(9.0), json!(10.0)]]
    );
    assert_eq!(
        q("SELECT total, currency, item_count FROM orders").await,
        vec![vec![json!(123.45), json!("EUR"), json!(2)]]
    );
    assert_eq!(
        q("SELECT channel, kind, value FROM interactions").await,
        vec![vec![json!("shop"), json!("order"), json!(123.45)]]
    );
    assert_eq!(as_json(&q("SELECT raw FROM reviews").await[0][0]), json!({"id": "r1"}));
}

/// The raw payload as JSON: PostgreSQL returns `jsonb` as JSON, SQLite returns the text.
fn as_json(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::String(text) => serde_json::from_str(text).unwrap(),
        other => other.clone(),
    }
}

async fn tables_have_the_documented_columns(backend: Backend) {
    let t = fresh_store(backend).await;
    let base_head = ["connection", "stream", "source_id"];
    let base_tail = ["raw", "first_seen_at", "last_seen_at", "deleted_at"];
    for record in one_of_each() {
        let table = record.kind().table();
        let result = query_read_only(&t.url, &format!("SELECT * FROM {table} LIMIT 0")).await.unwrap();
        let mut expected: Vec<String> = base_head.iter().map(|s| s.to_string()).collect();
        let entity: Vec<String> = serde_json::to_value(&record.entity)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k != "entity")
            .map(|k| k.to_string())
            .collect();
        expected.extend(entity);
        if table == "identities" {
            expected.insert(4, "email_normalized".into());
            expected.push("customer_id".into());
        }
        expected.extend(base_tail.iter().map(|s| s.to_string()));
        if table == "interactions" {
            // Added by migration 3, so after the common columns.
            expected.push("customer_email_normalized".into());
        }
        assert_eq!(result.columns, expected, "{table}");
    }
}

async fn text_round_trips_byte_for_byte(backend: Backend) {
    let t = fresh_store(backend).await;
    let texts = [
        ("pl", "Zażółć gęślą jaźń — obsługa była świetna!"),
        ("ru", "Съешь же ещё этих мягких французских булок, да выпей чаю."),
        ("fa", "خدمات عالی بود؛ از پشتیبانی سریع شما سپاسگزارم."),
        ("hr", "Đurđa je brzo riješila problem, hvala! Čćžšđ"),
        ("sl", "Storitev je bila odlična, še posebej hitri odzivi. Čšž"),
    ];
    let records: Vec<Record> = texts
        .iter()
        .map(|(lang, text)| {
            let payload = json!({"id": lang, "comment": text});
            Record::new(
                *lang,
                raw(payload),
                Review {
                    platform: "trustpilot".into(),
                    body: Some((*text).into()),
                    author: Some((*text).chars().take(5).collect()),
                    language: Some((*lang).into()),
                    ..Default::default()
                },
            )
        })
        .collect();
    t.store
        .commit_page("reviews", "reviews", PageWrite { records: &records, ..Default::default() })
        .await
        .unwrap();
    let rows = query_read_only(&t.url, "SELECT source_id, body, author, raw FROM reviews ORDER BY source_id")
        .await
        .unwrap()
        .rows;
    let mut expected: Vec<_> = texts.to_vec();
    expected.sort();
    assert_eq!(rows.len(), 5);
    for (row, (lang, text)) in rows.iter().zip(expected) {
        assert_eq!(row[0], json!(lang));
        assert_eq!(row[1].as_str().unwrap().as_bytes(), text.as_bytes());
        assert_eq!(row[2].as_str().unwrap(), text.chars().take(5).collect::<String>());
        let raw = as_json(&row[3]);
        assert_eq!(raw["comment"].as_str().unwrap().as_bytes(), text.as_bytes());
    }
}

async fn writes_are_refused_by_query(backend: Backend) {
    let t = fresh_store(backend).await;
    let records: Vec<Record> = (0..5).map(|i| sample_ticket(&format!("{i}"), 1, 200)).collect();
    t.store.commit_page("c", "tickets", PageWrite { records: &records, ..Default::default() }).await.unwrap();
    let writes = [
        "DELETE FROM tickets",
        "UPDATE tickets SET subject = 'x'",
        "DROP TABLE tickets",
        "INSERT INTO tickets (connection, stream, source_id, raw, first_seen_at, last_seen_at) SELECT connection, 'other', source_id, raw, first_seen_at, last_seen_at FROM tickets",
        "WITH gone AS (DELETE FROM tickets RETURNING source_id) SELECT count(*) FROM gone",
        "SELECT 1; DELETE FROM tickets",
    ];
    for sql in writes {
        let result = query_read_only(&t.url, sql).await;
        assert!(
            matches!(result, Err(StoreError::WriteRefused(_)) | Err(StoreError::Database(_))),
            "{sql} was not refused: {result:?}"
        );
        assert_eq!(t.store.count_rows("tickets").await.unwrap(), 5, "{sql}");
    }
    assert!(matches!(query_read_only(&t.url, "DELETE FROM tickets").await, Err(StoreError::WriteRefused(_))));
    let rows = query_read_only(&t.url, "SELECT count(*) AS n FROM tickets").await.unwrap();
    assert_eq!(rows.columns, vec!["n"]);
    assert_eq!(rows.rows, vec![vec![json!(5)]]);
}

async fn run_history_is_recorded(backend: Backend) {
    let t = fresh_store(backend).await;
    let first = t.store.start_run("support", "tickets").await.unwrap();
    let second = t.store.start_run("support", "users").await.unwrap();
    let summary = RunSummary {
        status: RunStatus::Failed,
        pages: 3,
        records: 250,
        quarantined: 2,
        error: Some("HTTP 401 from /api/v2/users: check api_token".into()),
        details: Some(json!({"requests": 4})),
    };
    t.store.finish_run(second, &summary).await.unwrap();
    let runs = t.store.recent_runs(10).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].run_id, second.0);
    assert_eq!(runs[0].status, RunStatus::Failed);
    assert_eq!((runs[0].pages, runs[0].records, runs[0].quarantined), (3, 250, 2));
    assert_eq!(runs[0].error.as_deref(), Some("HTTP 401 from /api/v2/users: check api_token"));
    assert!(runs[0].finished_at.is_some());
    assert_eq!(runs[1].run_id, first.0);
    assert_eq!(runs[1].status, RunStatus::Running);
    assert_eq!(runs[1].finished_at, None);
}

async fn migrating_twice_applies_nothing(backend: Backend) {
    let t = fresh_store(backend).await;
    assert_eq!(t.store.migrate().await.unwrap(), Vec::<i64>::new());
    let (url, _dir) = engage_store::testing::fresh_url(backend).await;
    let store = engage_store::Store::connect(&url).await.unwrap();
    assert_eq!(store.migrate().await.unwrap(), vec![1, 2, 3, 4]);
    assert_eq!(store.backend(), backend);
}
