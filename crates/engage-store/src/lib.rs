//! The Engage store: one SQLite file by default, or a PostgreSQL database for a shared store.
//!
//! Everything Engage knows lives here, in plain tables that users may query directly (see
//! `docs/STORE.md`). There is one write path for synced data, [`Store::commit_page`]: a page's
//! records are upserted on (connection, stream, source id) and the stream's new checkpoint is
//! written in the same transaction, so a crash at any instant resumes from the last commit and
//! re-committing a page changes nothing.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::Utc;
pub use engage_model::Quarantined;
use engage_model::{EntityKind, Record};
use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

mod aggregate;
mod checkpoint;
mod columns;
mod customers;
mod migrations;
mod postgres;
mod query;
mod read;
mod runs;
mod schedule;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

pub use aggregate::{AggregateQuery, AggregateRow, Cond, CustomerCounts, CustomerQuery, Expr, Lit, Measure};
pub use customers::{
    CustomerKey, CustomerPlan, CustomerRef, IdentityLink, KeyOwner, KeyPlan, PlannedCustomer, StoredCustomer,
};
pub use query::{QueryResult, query_read_only};
pub use read::{ReadFilter, StoredEntity, default_time_column};
pub use runs::{RunId, RunStatus, RunSummary, ScheduledRun, SyncRun};
pub use schedule::{Claim, Release, RunnerLock, ScheduleRow, ScheduledStream, StreamStatus};

/// Errors of the store. Messages never contain a database password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The `[store] url` is neither `sqlite://...` nor `postgres://...`.
    #[error("unsupported store url `{0}`: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    /// The store could not be opened.
    #[error("cannot open the store at {url}: {source}")]
    Open {
        /// The URL, password removed.
        url: String,
        /// The cause.
        source: sqlx::Error,
    },
    /// A migration failed.
    #[error("migrating the store failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A statement failed.
    #[error("store error: {0}")]
    Database(#[from] sqlx::Error),
    /// `engage query` was given a statement that would write.
    #[error("refused: `engage query` is read-only and this statement would change the store ({0})")]
    WriteRefused(String),
    /// A query result column has a type that cannot be shown.
    #[error(
        "column `{column}` has type {type_name}, which cannot be shown; cast it to text (e.g. `{column}::text`)"
    )]
    UnsupportedColumn {
        /// Column name.
        column: String,
        /// Database type name.
        type_name: String,
    },
    /// A record could not be stored.
    #[error("cannot store record: {0}")]
    Record(String),
    /// Another runner holds this SQLite store's runner lock.
    #[error(
        "another runner ({holder}) is already running on this SQLite store; SQLite allows one runner at a \
         time (stop it first, or use a PostgreSQL store to run several)"
    )]
    RunnerLocked {
        /// The holder's runner id.
        holder: String,
    },
}

/// Result type of the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// An SQLite file (WAL mode).
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

impl Backend {
    /// The backend a store URL names.
    pub fn of_url(url: &str) -> Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl(redact_url(url)))
        }
    }
}

/// One page of a stream, written atomically by [`Store::commit_page`].
#[derive(Debug, Clone, Copy, Default)]
pub struct PageWrite<'a> {
    /// Records to upsert; records of any entity kind may be mixed.
    pub records: &'a [Record],
    /// Records that failed to parse.
    pub quarantined: &'a [Quarantined],
    /// The stream's checkpoint after this page (opaque JSON); `None` keeps the current one.
    pub checkpoint: Option<&'a serde_json::Value>,
    /// The sync run the page belongs to, recorded on quarantined rows.
    pub run_id: Option<RunId>,
}

/// What a commit changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CommitStats {
    /// Records inserted or changed.
    pub written: u64,
    /// Records identical to the stored version, left untouched.
    pub unchanged: u64,
    /// Records put in quarantine.
    pub quarantined: u64,
}

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A connection pool to the store.
#[derive(Debug, Clone)]
pub struct Store {
    /// Reads (and, on PostgreSQL, everything).
    pool: Pool,
    /// Writes. On SQLite a pool of exactly one connection: SQLite admits one writer at a time
    /// anyway, and a single writer keeps its page cache warm from one commit to the next (a
    /// connection's cache is dropped whenever another connection has written). On PostgreSQL a
    /// handle on the same pool as `pool`.
    writer: Pool,
    /// SQLite only: stops the background checkpointer when the last clone goes.
    _checkpointer: Option<std::sync::Arc<checkpoint::Checkpointer>>,
    /// SQLite only: the database file (`None` in memory), for the runner lock.
    sqlite_path: Option<std::path::PathBuf>,
}

impl Store {
    /// Opens the store at `url` and applies any pending migrations.
    pub async fn open(url: &str) -> Result<Store> {
        let store = Store::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens the store at `url` without migrating it. SQLite files are created when missing.
    pub async fn connect(url: &str) -> Result<Store> {
        let open_err = |source| StoreError::Open { url: redact_url(url), source };
        let mut sqlite_path = None;
        let (pool, writer, checkpointer) = match Backend::of_url(url)? {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)
                    .map_err(open_err)?
                    .create_if_missing(true)
                    .page_size(16_384)
                    .pragma("mmap_size", "268435456")
                    .pragma("cache_size", "-16384")
                    // Checkpoints run on a background connection (see `checkpoint`), so the
                    // writer never waits for their fsyncs.
                    .pragma("wal_autocheckpoint", "0")
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true);
                let writer = SqlitePoolOptions::new()
                    .max_connections(1)
                    .test_before_acquire(false)
                    .connect_with(options.clone())
                    .await
                    .map_err(open_err)?;
                // Reads keep their temporary b-trees (GROUP BY, DISTINCT of the metrics) in
                // memory: on disk they cost the distinct-customer counts half their time.
                let pool = SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect_with(options.clone().pragma("temp_store", "memory"))
                    .await
                    .map_err(open_err)?;
                let checkpointer = std::sync::Arc::new(checkpoint::Checkpointer::start(&options));
                let file = options.get_filename();
                if !file.as_os_str().is_empty() && file.as_os_str() != ":memory:" {
                    sqlite_path = Some(file.to_path_buf());
                }
                (Pool::Sqlite(pool), Pool::Sqlite(writer), Some(checkpointer))
            }
            Backend::Postgres => {
                let options = PgConnectOptions::from_str(url).map_err(open_err)?;
                // One direct attempt first: the pool would retry an unreachable server until
                // its acquire timeout, and a wrong URL deserves a prompt answer.
                let probe = <sqlx::PgConnection as sqlx::Connection>::connect_with(&options)
                    .await
                    .map_err(open_err)?;
                sqlx::Connection::close(probe).await.ok();
                let pool = PgPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options)
                    .await
                    .map_err(open_err)?;
                (Pool::Postgres(pool.clone()), Pool::Postgres(pool), None)
            }
        };
        Ok(Store { pool, writer, _checkpointer: checkpointer, sqlite_path })
    }

    /// Applies pending migrations; returns the versions applied now.
    pub async fn migrate(&self) -> Result<Vec<i64>> {
        migrations::apply(&self.writer).await
    }

    /// The backend this store runs on.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        for pool in [&self.writer, &self.pool] {
            match pool {
                Pool::Sqlite(p) => p.close().await,
                Pool::Postgres(p) => p.close().await,
            }
        }
    }

    /// Writes one page of `connection`/`stream` in a single transaction: its records are
    /// upserted on (connection, stream, source id) — a record equal to the stored one is left
    /// untouched — its quarantined records are kept with their reasons, and the checkpoint
    /// replaces the stream's previous one. Either all of it is committed or none of it.
    ///
    /// Within one page, a later record with the same kind and source id wins.
    pub async fn commit_page(
        &self,
        connection: &str,
        stream: &str,
        page: PageWrite<'_>,
    ) -> Result<CommitStats> {
        let groups = group_records(page.records);
        let now = Utc::now();
        let mut stats = match &self.writer {
            Pool::Sqlite(pool) => sqlite::commit_page(pool, connection, stream, &groups, &page, now).await?,
            Pool::Postgres(pool) => {
                postgres::commit_page(pool, connection, stream, &groups, &page, now).await?
            }
        };
        let deduped: usize = groups.iter().map(|(_, recs)| recs.len()).sum();
        stats.unchanged = deduped as u64 - stats.written;
        Ok(stats)
    }

    /// The last committed checkpoint of a stream.
    pub async fn checkpoint(&self, connection: &str, stream: &str) -> Result<Option<serde_json::Value>> {
        match &self.pool {
            Pool::Sqlite(pool) => {
                let text: Option<String> = sqlx::query_scalar(
                    "SELECT checkpoint FROM checkpoints WHERE connection = ? AND stream = ?",
                )
                .bind(connection)
                .bind(stream)
                .fetch_optional(pool)
                .await?;
                text.map(|t| serde_json::from_str(&t).map_err(|e| StoreError::Record(e.to_string())))
                    .transpose()
            }
            Pool::Postgres(pool) => {
                let value: Option<sqlx::types::Json<serde_json::Value>> = sqlx::query_scalar(
                    "SELECT checkpoint FROM checkpoints WHERE connection = $1 AND stream = $2",
                )
                .bind(connection)
                .bind(stream)
                .fetch_optional(pool)
                .await?;
                Ok(value.map(|j| j.0))
            }
        }
    }

    /// Number of rows in one of the store's tables (`tickets`, `quarantine`...).
    pub async fn count_rows(&self, table: &str) -> Result<i64> {
        if !KNOWN_TABLES.contains(&table) {
            return Err(StoreError::Record(format!("unknown table `{table}`")));
        }
        let sql = format!("SELECT COUNT(*) FROM {table}");
        Ok(match &self.pool {
            Pool::Sqlite(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await?,
            Pool::Postgres(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await?,
        })
    }
}

/// Every table of the store.
pub const KNOWN_TABLES: [&str; 13] = [
    "customers",
    "identities",
    "tickets",
    "reviews",
    "email_campaigns",
    "email_events",
    "survey_responses",
    "orders",
    "interactions",
    "sync_runs",
    "quarantine",
    "checkpoints",
    "sync_schedule",
];

/// Groups a page's records by kind, keeping the last record of each source id.
fn group_records(records: &[Record]) -> Vec<(EntityKind, Vec<&Record>)> {
    let mut groups: Vec<(EntityKind, Vec<&Record>)> = Vec::new();
    for kind in EntityKind::ALL {
        let mut index = std::collections::HashMap::new();
        let mut recs: Vec<&Record> = Vec::new();
        for rec in records.iter().filter(|r| r.kind() == kind) {
            match index.get(rec.source_id.as_str()) {
                Some(&i) => recs[i] = rec,
                None => {
                    index.insert(rec.source_id.as_str(), recs.len());
                    recs.push(rec);
                }
            }
        }
        if !recs.is_empty() {
            groups.push((kind, recs));
        }
    }
    groups
}

/// A stable fingerprint of a quarantined payload (FNV-1a, 64 bits, hex), so that re-reading a
/// bad record does not quarantine it twice.
fn fingerprint(q: &Quarantined) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let key = q.source_id.as_deref().map(str::as_bytes).unwrap_or(q.raw.as_bytes());
    for byte in key {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Removes the password from a database URL, for messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let redacted_tail = redact_query_password(tail);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            if userinfo.contains(':') {
                format!("{scheme}://{user}:[redacted]@{host}{redacted_tail}")
            } else {
                format!("{scheme}://{user}@{host}{redacted_tail}")
            }
        }
        None => format!("{scheme}://{authority}{redacted_tail}"),
    }
}

fn redact_query_password(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_owned();
    };
    let params: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=[redacted]"),
            _ => p.to_owned(),
        })
        .collect();
    format!("{path}?{}", params.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_passwords() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/engage"),
            "postgres://app:[redacted]@db:5432/engage"
        );
        assert_eq!(
            redact_url("postgres://app@db/engage?password=s3cret&sslmode=disable"),
            "postgres://app@db/engage?password=[redacted]&sslmode=disable"
        );
        assert_eq!(redact_url("sqlite://engage.db"), "sqlite://engage.db");
    }

    #[test]
    fn backend_from_url() {
        assert_eq!(Backend::of_url("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::of_url("postgresql://h/db").unwrap(), Backend::Postgres);
        assert!(matches!(Backend::of_url("mysql://h/db"), Err(StoreError::UnsupportedUrl(_))));
    }
}
