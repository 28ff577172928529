//! Test support (feature `testing`): a fresh store per test on either backend, and sample
//! records.
//!
//! PostgreSQL tests need `ENGAGE_TEST_PG_URL`, the URL of a server's maintenance database
//! (`cargo xtask test` starts a throwaway cluster and sets it). Each test gets a database of its
//! own, created on that server.

use std::sync::atomic::{AtomicU32, Ordering};

use engage_model::{Record, Ticket, raw_json};
use sqlx::{Connection, PgConnection};

use crate::{Backend, Store};

/// Declares each named `async fn NAME(backend: Backend)` of the calling file as two tests,
/// `sqlite::NAME` and `postgres::NAME`, so every suite runs on both backends and the test names
/// say which (`cargo xtask test` counts them per backend).
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::Backend::Sqlite).await }) *
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::Backend::Postgres).await }) *
        }
    };
}

/// The variable naming the PostgreSQL server used by tests.
pub const PG_URL_VAR: &str = "ENGAGE_TEST_PG_URL";

/// A store made for one test; the SQLite file lives as long as this value.
pub struct TestStore {
    /// The store URL.
    pub url: String,
    /// The open store, migrated.
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
}

/// Creates an empty, migrated store on `backend`.
///
/// # Panics
/// When PostgreSQL is asked for and `ENGAGE_TEST_PG_URL` is unset or unreachable: a required
/// part missing is a failure, not a skip.
pub async fn fresh_store(backend: Backend) -> TestStore {
    let (url, dir) = fresh_url(backend).await;
    let store = Store::open(&url).await.expect("open test store");
    TestStore { url, store, _dir: dir }
}

/// Creates an empty database on `backend` and returns its URL (not migrated), with the
/// temporary directory that holds an SQLite file.
pub async fn fresh_url(backend: Backend) -> (String, Option<tempfile::TempDir>) {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("engage.db").display());
            (url, Some(dir))
        }
        Backend::Postgres => {
            let admin = std::env::var(PG_URL_VAR).unwrap_or_else(|_| {
                panic!("{PG_URL_VAR} is not set: PostgreSQL tests need a server (run `cargo xtask test`)")
            });
            let name = format!(
                "engage_test_{}_{}_{}",
                std::process::id(),
                n,
                chrono::Utc::now().timestamp_micros() % 1_000_000
            );
            let mut conn =
                PgConnection::connect(&admin).await.expect("connect to the test PostgreSQL server");
            sqlx::query(&format!("CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0"))
                .execute(&mut conn)
                .await
                .expect("create test database");
            conn.close().await.ok();
            (replace_database(&admin, &name), None)
        }
    }
}

/// `url` with its database name replaced by `name`.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let root = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{root}/{name}{query}")
}

/// A ticket record with a payload of about `raw_bytes` bytes, deterministic in `id` and `version`.
pub fn sample_ticket(id: &str, version: u32, raw_bytes: usize) -> Record {
    let created = chrono::DateTime::from_timestamp(1_700_000_000 + i64::from(version), 0).unwrap_or_default();
    let filler = "x".repeat(raw_bytes.saturating_sub(160));
    let raw = format!(
        r#"{{"id":"{id}","version":{version},"subject":"Ticket {id}","status":"open","via":{{"channel":"email"}},"filler":"{filler}"}}"#
    );
    let ticket = Ticket {
        customer_source_id: Some(format!("u-{id}")),
        subject: Some(format!("Ticket {id}")),
        channel: Some("email".into()),
        status: Some("open".into()),
        created_at: Some(created),
        updated_at: Some(created),
        replies: Some(i64::from(version)),
        ..Ticket::default()
    };
    Record::new(id, raw_json(&raw).expect("valid sample JSON"), ticket)
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            super::replace_database("postgres://u@127.0.0.1:5432/postgres?sslmode=disable", "t1"),
            "postgres://u@127.0.0.1:5432/t1?sslmode=disable"
        );
        assert_eq!(
            super::replace_database("postgres://127.0.0.1:5432", "t1"),
            "postgres://127.0.0.1:5432/t1"
        );
    }
}
