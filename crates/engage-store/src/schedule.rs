//! The scheduler's state: one `sync_schedule` row per (connection, stream) with the due time to
//! serve next and the lease of the runner serving it.
//!
//! Several runners share one PostgreSQL store: a runner claims a due row with
//! `FOR UPDATE SKIP LOCKED` (so two runners never wait on, nor take, the same row), holds it
//! with a lease it renews, and releases it with the next due time. A lease that is not renewed
//! expires and another runner takes the row over, due time and attempt count included; the
//! sync then resumes from the stream's last committed checkpoint. On SQLite a single runner
//! holds [`Store::lock_runner`], so claims never compete.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::columns::sqlite_time;
use crate::read::number_placeholders;
use crate::{Pool, Result, Store, StoreError};

/// A stream the runner schedules, as it registers it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledStream {
    /// Connection name.
    pub connection: String,
    /// Stream name.
    pub stream: String,
    /// The schedule as configured (e.g. `every 15m`); a change resets the next due time.
    pub cadence: String,
    /// The due time to serve first when the stream is new or its schedule changed.
    pub first_due: DateTime<Utc>,
    /// When that first sync may start (its due time plus jitter).
    pub first_start: DateTime<Utc>,
}

/// A due sync a runner has claimed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Claim {
    /// Connection name.
    pub connection: String,
    /// Stream name.
    pub stream: String,
    /// The due time being served.
    pub due_at: DateTime<Utc>,
    /// Attempts already made for this due time (by any runner).
    pub attempt: u32,
    /// The runner whose lease expired, when this claim takes its sync over.
    pub taken_over_from: Option<String>,
    /// Whether the stream's last served due time failed (a success now is a recovery).
    pub failing: bool,
}

/// How a runner gives a claimed sync back.
#[derive(Debug, Clone, PartialEq)]
pub enum Release {
    /// The due time was served: it succeeded, or failed after its retries (`failed`).
    Served {
        /// The due time to serve next.
        next_due: DateTime<Utc>,
        /// When that sync may start (due time plus jitter).
        start_after: DateTime<Utc>,
        /// Whether it failed after its retries.
        failed: bool,
    },
    /// Serve the same due time again, not before `start_after` (a retry, a pause the vendor
    /// asked for, or a runner shutting down).
    Again {
        /// Earliest start.
        start_after: DateTime<Utc>,
        /// Attempts made so far for this due time.
        attempt: u32,
        /// Why it waits, for `engage status` (`None` when it is simply due).
        reason: Option<String>,
    },
}

/// One `sync_schedule` row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScheduleRow {
    /// Connection name.
    pub connection: String,
    /// Stream name.
    pub stream: String,
    /// The schedule as configured.
    pub cadence: String,
    /// The due time to serve next (being served while a lease is held).
    pub next_due_at: DateTime<Utc>,
    /// When that sync may start.
    pub start_after: DateTime<Utc>,
    /// Attempts made for `next_due_at` so far.
    pub attempt: u32,
    /// The runner holding the lease.
    pub holder: Option<String>,
    /// When the lease expires unless renewed.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// Why the sync waits (retry backoff, a pause the vendor asked for).
    pub waiting_reason: Option<String>,
    /// Whether the last served due time failed.
    pub failing: bool,
    /// The last due time served.
    pub last_due_at: Option<DateTime<Utc>>,
}

/// What `engage status` shows for one (connection, stream).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamStatus {
    /// Connection name.
    pub connection: String,
    /// Stream name.
    pub stream: String,
    /// Its scheduler row, when `engage run` has scheduled it.
    pub schedule: Option<ScheduleRow>,
    /// Its latest run, whatever its status.
    pub last_run: Option<crate::SyncRun>,
    /// End of the last successful run.
    pub last_success_at: Option<DateTime<Utc>>,
    /// Records committed by the last successful run.
    pub last_success_records: Option<i64>,
    /// End of the last failed run.
    pub last_failure_at: Option<DateTime<Utc>>,
    /// Its error.
    pub last_error: Option<String>,
    /// Rows the stream has in the store (entity tables; derived timeline rows not counted).
    pub stored_records: i64,
}

/// The entity tables counted by [`StreamStatus::stored_records`].
const ENTITY_TABLES: [&str; 7] =
    ["identities", "tickets", "reviews", "email_campaigns", "email_events", "survey_responses", "orders"];

/// A bind value.
enum V {
    Text(String),
    OptText(Option<String>),
    Time(DateTime<Utc>),
    Int(i64),
    Bool(bool),
}

fn q_sqlite<'q>(
    sql: &'q str,
    values: &'q [V],
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    let mut q = sqlx::query(sql);
    for v in values {
        q = match v {
            V::Text(t) => q.bind(t.as_str()),
            V::OptText(t) => q.bind(t.as_deref()),
            V::Time(t) => q.bind(sqlite_time(t)),
            V::Int(n) => q.bind(*n),
            V::Bool(b) => q.bind(i64::from(*b)),
        };
    }
    q
}

fn q_pg<'q>(
    sql: &'q str,
    values: &'q [V],
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let mut q = sqlx::query(sql);
    for v in values {
        q = match v {
            V::Text(t) => q.bind(t.as_str()),
            V::OptText(t) => q.bind(t.as_deref()),
            V::Time(t) => q.bind(*t),
            V::Int(n) => q.bind(*n),
            V::Bool(b) => q.bind(*b),
        };
    }
    q
}

fn parse_time(text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Record(format!("bad timestamp `{text}`: {e}")))
}

fn sqlite_opt_time(row: &SqliteRow, column: &str) -> Result<Option<DateTime<Utc>>> {
    row.try_get::<Option<String>, _>(column)?.map(|t| parse_time(&t)).transpose()
}

fn sqlite_time_col(row: &SqliteRow, column: &str) -> Result<DateTime<Utc>> {
    parse_time(&row.try_get::<String, _>(column)?)
}

const ROW_COLUMNS: &str = "connection, stream, cadence, next_due_at, start_after, attempt, holder, \
                           lease_expires_at, waiting_reason, failing, last_due_at";

fn schedule_row_sqlite(row: &SqliteRow) -> Result<ScheduleRow> {
    Ok(ScheduleRow {
        connection: row.try_get("connection")?,
        stream: row.try_get("stream")?,
        cadence: row.try_get("cadence")?,
        next_due_at: sqlite_time_col(row, "next_due_at")?,
        start_after: sqlite_time_col(row, "start_after")?,
        attempt: row.try_get::<i64, _>("attempt")?.max(0) as u32,
        holder: row.try_get("holder")?,
        lease_expires_at: sqlite_opt_time(row, "lease_expires_at")?,
        waiting_reason: row.try_get("waiting_reason")?,
        failing: row.try_get::<i64, _>("failing")? != 0,
        last_due_at: sqlite_opt_time(row, "last_due_at")?,
    })
}

fn schedule_row_pg(row: &PgRow) -> Result<ScheduleRow> {
    Ok(ScheduleRow {
        connection: row.try_get("connection")?,
        stream: row.try_get("stream")?,
        cadence: row.try_get("cadence")?,
        next_due_at: row.try_get("next_due_at")?,
        start_after: row.try_get("start_after")?,
        attempt: row.try_get::<i32, _>("attempt")?.max(0) as u32,
        holder: row.try_get("holder")?,
        lease_expires_at: row.try_get("lease_expires_at")?,
        waiting_reason: row.try_get("waiting_reason")?,
        failing: row.try_get("failing")?,
        last_due_at: row.try_get("last_due_at")?,
    })
}

fn lease_end(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX)
}

/// The claimable rows: due, and free or with an expired lease of another runner.
const CANDIDATE: &str = "SELECT connection, stream, holder FROM sync_schedule \
     WHERE start_after <= ? AND (holder IS NULL OR (lease_expires_at < ? AND holder <> ?))";

/// Leases of one connection held now, other than one stream's.
const ACTIVE: &str = "SELECT COUNT(*) FROM sync_schedule \
     WHERE connection = ? AND stream <> ? AND holder IS NOT NULL AND lease_expires_at >= ?";

const TAKE: &str = "UPDATE sync_schedule SET holder = ?, lease_expires_at = ?, \
     waiting_reason = NULL, updated_at = ? WHERE connection = ? AND stream = ? \
     RETURNING next_due_at, attempt, failing";

/// `AND connection IN (?, ...)` for `names` (not empty).
fn in_list(names: &[String]) -> String {
    format!(" AND connection IN ({})", vec!["?"; names.len()].join(", "))
}

impl Store {
    /// Adds the scheduler rows of streams seen for the first time, and resets the next due time
    /// of streams whose schedule changed (unless a runner holds them). Rows of streams no longer
    /// configured are left alone.
    pub async fn register_schedules(&self, streams: &[ScheduledStream], now: DateTime<Utc>) -> Result<()> {
        const INSERT: &str = "INSERT INTO sync_schedule (connection, stream, cadence, next_due_at, start_after, \
             attempt, failing, updated_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT (connection, stream) \
             DO UPDATE SET cadence = excluded.cadence, next_due_at = excluded.next_due_at, \
             start_after = excluded.start_after, attempt = 0, waiting_reason = NULL, updated_at = excluded.updated_at \
             WHERE sync_schedule.cadence <> excluded.cadence AND sync_schedule.holder IS NULL";
        for s in streams {
            let values = [
                V::Text(s.connection.clone()),
                V::Text(s.stream.clone()),
                V::Text(s.cadence.clone()),
                V::Time(s.first_due),
                V::Time(s.first_start),
                V::Bool(false),
                V::Time(now),
            ];
            match &self.writer {
                Pool::Sqlite(pool) => {
                    q_sqlite(INSERT, &values).execute(pool).await?;
                }
                Pool::Postgres(pool) => {
                    let sql = number_placeholders(INSERT);
                    q_pg(&sql, &values).execute(pool).await?;
                }
            }
        }
        Ok(())
    }

    /// Claims the due sync that has waited longest among `connections`, for `runner`, with a
    /// lease until `now + ttl`; `None` when nothing is due. A connection already holding
    /// `per_connection` leases (across every runner) is passed over, and so are `runner`'s own
    /// leases, even expired (it is still serving them).
    pub async fn claim_due(
        &self,
        runner: &str,
        connections: &[String],
        per_connection: usize,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Option<Claim>> {
        let mut full: Vec<String> = Vec::new();
        loop {
            let eligible: Vec<String> = connections.iter().filter(|c| !full.contains(c)).cloned().collect();
            if eligible.is_empty() {
                return Ok(None);
            }
            let mut values = vec![V::Time(now), V::Time(now), V::Text(runner.to_owned())];
            values.extend(eligible.iter().cloned().map(V::Text));
            let candidate =
                format!("{CANDIDATE}{} ORDER BY start_after, connection, stream LIMIT 1", in_list(&eligible));
            let outcome = match &self.writer {
                Pool::Sqlite(pool) => {
                    let mut tx = pool.begin().await?;
                    let Some(row) = q_sqlite(&candidate, &values).fetch_optional(&mut *tx).await? else {
                        return Ok(None);
                    };
                    let (connection, stream, old): (String, String, Option<String>) =
                        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
                    let active_values = [V::Text(connection.clone()), V::Text(stream.clone()), V::Time(now)];
                    let active: i64 =
                        q_sqlite(ACTIVE, &active_values).fetch_one(&mut *tx).await?.try_get(0)?;
                    if active as usize >= per_connection {
                        tx.rollback().await?;
                        Err(connection)
                    } else {
                        let take_values = take_values(runner, now, ttl, &connection, &stream);
                        let row = q_sqlite(TAKE, &take_values).fetch_one(&mut *tx).await?;
                        let claim = Claim {
                            due_at: sqlite_time_col(&row, "next_due_at")?,
                            attempt: row.try_get::<i64, _>("attempt")?.max(0) as u32,
                            failing: row.try_get::<i64, _>("failing")? != 0,
                            taken_over_from: old,
                            connection,
                            stream,
                        };
                        tx.commit().await?;
                        Ok(claim)
                    }
                }
                Pool::Postgres(pool) => {
                    let mut tx = pool.begin().await?;
                    let sql = number_placeholders(&format!("{candidate} FOR UPDATE SKIP LOCKED"));
                    let Some(row) = q_pg(&sql, &values).fetch_optional(&mut *tx).await? else {
                        return Ok(None);
                    };
                    let (connection, stream, old): (String, String, Option<String>) =
                        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
                    // Claims on one connection are serialised, so that two runners cannot both
                    // see it below its limit.
                    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                        .bind(format!("engage.sync_schedule:{connection}"))
                        .execute(&mut *tx)
                        .await?;
                    let active_values = [V::Text(connection.clone()), V::Text(stream.clone()), V::Time(now)];
                    let active: i64 = q_pg(&number_placeholders(ACTIVE), &active_values)
                        .fetch_one(&mut *tx)
                        .await?
                        .try_get(0)?;
                    if active as usize >= per_connection {
                        tx.rollback().await?;
                        Err(connection)
                    } else {
                        let take_values = take_values(runner, now, ttl, &connection, &stream);
                        let row = q_pg(&number_placeholders(TAKE), &take_values).fetch_one(&mut *tx).await?;
                        let claim = Claim {
                            due_at: row.try_get("next_due_at")?,
                            attempt: row.try_get::<i32, _>("attempt")?.max(0) as u32,
                            failing: row.try_get("failing")?,
                            taken_over_from: old,
                            connection,
                            stream,
                        };
                        tx.commit().await?;
                        Ok(claim)
                    }
                }
            };
            match outcome {
                Ok(claim) => return Ok(Some(claim)),
                Err(connection) => full.push(connection),
            }
        }
    }

    /// Extends `runner`'s lease on a stream to `now + ttl`; `false` when it no longer holds it
    /// (another runner took it over after it expired).
    pub async fn renew_lease(
        &self,
        connection: &str,
        stream: &str,
        runner: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool> {
        const SQL: &str = "UPDATE sync_schedule SET lease_expires_at = ?, updated_at = ? \
             WHERE connection = ? AND stream = ? AND holder = ?";
        let values = [
            V::Time(lease_end(now, ttl)),
            V::Time(now),
            V::Text(connection.to_owned()),
            V::Text(stream.to_owned()),
            V::Text(runner.to_owned()),
        ];
        self.execute(SQL, &values).await.map(|n| n == 1)
    }

    /// Gives a claimed stream back; `false` when `runner` no longer held it.
    pub async fn release_lease(
        &self,
        connection: &str,
        stream: &str,
        runner: &str,
        release: &Release,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let key = [V::Text(connection.to_owned()), V::Text(stream.to_owned()), V::Text(runner.to_owned())];
        let (sql, mut values) = match release {
            Release::Served { next_due, start_after, failed } => (
                "UPDATE sync_schedule SET holder = NULL, lease_expires_at = NULL, waiting_reason = NULL, \
                 last_due_at = next_due_at, next_due_at = ?, start_after = ?, attempt = 0, failing = ?, \
                 updated_at = ? WHERE connection = ? AND stream = ? AND holder = ?",
                vec![V::Time(*next_due), V::Time(*start_after), V::Bool(*failed), V::Time(now)],
            ),
            Release::Again { start_after, attempt, reason } => (
                "UPDATE sync_schedule SET holder = NULL, lease_expires_at = NULL, start_after = ?, attempt = ?, \
                 waiting_reason = ?, updated_at = ? WHERE connection = ? AND stream = ? AND holder = ?",
                vec![
                    V::Time(*start_after),
                    V::Int(i64::from(*attempt)),
                    V::OptText(reason.clone()),
                    V::Time(now),
                ],
            ),
        };
        values.extend(key);
        self.execute(sql, &values).await.map(|n| n == 1)
    }

    /// Records one more attempt at the due time `runner` holds, before it starts (so a runner
    /// that dies mid-attempt still used it up).
    pub async fn count_attempt(
        &self,
        connection: &str,
        stream: &str,
        runner: &str,
        attempt: u32,
    ) -> Result<bool> {
        const SQL: &str =
            "UPDATE sync_schedule SET attempt = ? WHERE connection = ? AND stream = ? AND holder = ?";
        let values = [
            V::Int(i64::from(attempt)),
            V::Text(connection.to_owned()),
            V::Text(stream.to_owned()),
            V::Text(runner.to_owned()),
        ];
        self.execute(SQL, &values).await.map(|n| n == 1)
    }

    /// Marks the runs `runner` left running on a stream as failed with `message` (its lease
    /// expired: it died or lost the store); returns how many.
    pub async fn abandon_runs(
        &self,
        connection: &str,
        stream: &str,
        runner: &str,
        message: &str,
    ) -> Result<u64> {
        const SQL: &str = "UPDATE sync_runs SET status = 'failed', finished_at = ?, error = ? \
             WHERE connection = ? AND stream = ? AND runner = ? AND status = 'running'";
        let values = [
            V::Time(Utc::now()),
            V::Text(message.to_owned()),
            V::Text(connection.to_owned()),
            V::Text(stream.to_owned()),
            V::Text(runner.to_owned()),
        ];
        self.execute(SQL, &values).await
    }

    /// When something among `connections` next becomes claimable: the earliest start of a free
    /// row or end of a held lease (`None` when there are no rows).
    pub async fn next_wake(&self, connections: &[String]) -> Result<Option<DateTime<Utc>>> {
        if connections.is_empty() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT MIN(CASE WHEN holder IS NULL THEN start_after ELSE lease_expires_at END) FROM sync_schedule \
             WHERE 1 = 1{}",
            in_list(connections)
        );
        let values: Vec<V> = connections.iter().cloned().map(V::Text).collect();
        match &self.pool {
            Pool::Sqlite(pool) => {
                let row = q_sqlite(&sql, &values).fetch_one(pool).await?;
                row.try_get::<Option<String>, _>(0)?.map(|t| parse_time(&t)).transpose()
            }
            Pool::Postgres(pool) => {
                let sql = number_placeholders(&sql);
                Ok(q_pg(&sql, &values).fetch_one(pool).await?.try_get(0)?)
            }
        }
    }

    /// Every `sync_schedule` row, by connection and stream.
    pub async fn schedule_rows(&self) -> Result<Vec<ScheduleRow>> {
        let sql = format!("SELECT {ROW_COLUMNS} FROM sync_schedule ORDER BY connection, stream");
        match &self.pool {
            Pool::Sqlite(pool) => {
                sqlx::query(&sql).fetch_all(pool).await?.iter().map(schedule_row_sqlite).collect()
            }
            Pool::Postgres(pool) => {
                sqlx::query(&sql).fetch_all(pool).await?.iter().map(schedule_row_pg).collect()
            }
        }
    }

    /// Per (connection, stream) known to the scheduler or the run history: schedule, lease, last
    /// success and failure, stored rows.
    pub async fn stream_status(&self) -> Result<Vec<StreamStatus>> {
        let mut out: std::collections::BTreeMap<(String, String), StreamStatus> = Default::default();
        let blank = |connection: &str, stream: &str| StreamStatus {
            connection: connection.to_owned(),
            stream: stream.to_owned(),
            schedule: None,
            last_run: None,
            last_success_at: None,
            last_success_records: None,
            last_failure_at: None,
            last_error: None,
            stored_records: 0,
        };
        for row in self.schedule_rows().await? {
            let key = (row.connection.clone(), row.stream.clone());
            let mut entry = blank(&row.connection, &row.stream);
            entry.schedule = Some(row);
            out.insert(key, entry);
        }
        const LAST: &str = "SELECT connection, stream, status, finished_at, records, error FROM (\
             SELECT connection, stream, status, finished_at, records, error, ROW_NUMBER() OVER \
             (PARTITION BY connection, stream, status ORDER BY run_id DESC) AS n FROM sync_runs \
             WHERE status IN ('succeeded', 'failed')) AS latest WHERE n = 1";
        let counts = ENTITY_TABLES
            .iter()
            .map(|t| format!("SELECT connection, stream, COUNT(*) AS n FROM {t} GROUP BY connection, stream"))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        type Last = (String, String, String, Option<DateTime<Utc>>, i64, Option<String>);
        let (lasts, stored): (Vec<Last>, Vec<(String, String, i64)>) = match &self.pool {
            Pool::Sqlite(pool) => {
                let mut lasts = Vec::new();
                for row in sqlx::query(LAST).fetch_all(pool).await? {
                    lasts.push((
                        row.try_get(0)?,
                        row.try_get(1)?,
                        row.try_get(2)?,
                        sqlite_opt_time(&row, "finished_at")?,
                        row.try_get(4)?,
                        row.try_get(5)?,
                    ));
                }
                (lasts, sqlx::query_as(&counts).fetch_all(pool).await?)
            }
            Pool::Postgres(pool) => {
                (sqlx::query_as(LAST).fetch_all(pool).await?, sqlx::query_as(&counts).fetch_all(pool).await?)
            }
        };
        for (connection, stream, status, finished, records, error) in lasts {
            let entry = out
                .entry((connection.clone(), stream.clone()))
                .or_insert_with(|| blank(&connection, &stream));
            if status == "succeeded" {
                (entry.last_success_at, entry.last_success_records) = (finished, Some(records));
            } else {
                (entry.last_failure_at, entry.last_error) = (finished, error);
            }
        }
        for run in self.latest_runs().await? {
            let entry = out
                .entry((run.connection.clone(), run.stream.clone()))
                .or_insert_with(|| blank(&run.connection, &run.stream));
            entry.last_run = Some(run);
        }
        for (connection, stream, n) in stored {
            if let Some(entry) = out.get_mut(&(connection, stream)) {
                entry.stored_records += n;
            }
        }
        Ok(out.into_values().collect())
    }

    /// Takes this store's runner lock for `runner`. On SQLite only one runner may schedule syncs:
    /// a second one gets [`StoreError::RunnerLocked`] naming the holder. The lock is a file lock
    /// next to the database (`FILE.runner-lock`), so it goes with the process that held it,
    /// however that process ends. On PostgreSQL runners share the work and the lock is a no-op.
    pub async fn lock_runner(&self, runner: &str) -> Result<RunnerLock> {
        let Some(path) = self.sqlite_path.as_ref().map(|p| {
            let mut name = p.as_os_str().to_owned();
            name.push(".runner-lock");
            PathBuf::from(name)
        }) else {
            return Ok(RunnerLock { _file: None });
        };
        let io = |e: std::io::Error| StoreError::Record(format!("runner lock {}: {e}", path.display()));
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0).map_err(io)?;
                file.rewind().map_err(io)?;
                file.write_all(runner.as_bytes()).map_err(io)?;
                file.flush().map_err(io)?;
                Ok(RunnerLock { _file: Some(file) })
            }
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                file.read_to_string(&mut holder).ok();
                Err(StoreError::RunnerLocked { holder: holder.trim().to_owned() })
            }
            Err(TryLockError::Error(e)) => Err(io(e)),
        }
    }

    async fn execute(&self, sql: &str, values: &[V]) -> Result<u64> {
        Ok(match &self.writer {
            Pool::Sqlite(pool) => q_sqlite(sql, values).execute(pool).await?.rows_affected(),
            Pool::Postgres(pool) => {
                let sql = number_placeholders(sql);
                q_pg(&sql, values).execute(pool).await?.rows_affected()
            }
        })
    }
}

fn take_values(runner: &str, now: DateTime<Utc>, ttl: Duration, connection: &str, stream: &str) -> [V; 5] {
    [
        V::Text(runner.to_owned()),
        V::Time(lease_end(now, ttl)),
        V::Time(now),
        V::Text(connection.to_owned()),
        V::Text(stream.to_owned()),
    ]
}

/// Held while a runner runs; released when dropped or when the process ends.
#[derive(Debug)]
pub struct RunnerLock {
    _file: Option<File>,
}
