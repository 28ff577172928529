//! Sync-run history: one row per (connection, stream) sync attempt.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use crate::columns::sqlite_time;
use crate::{Pool, Result, Store, StoreError};

/// Identifies one sync run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RunId(pub i64);

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Still going (or the process died: see `finished_at`).
    Running,
    /// Every page was committed.
    Succeeded,
    /// Stopped by an error; the last committed checkpoint stands.
    Failed,
    /// Stopped by the user (Ctrl-C) after committing the page in flight.
    Cancelled,
}

impl RunStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    fn parse(text: &str) -> Result<RunStatus> {
        Ok(match text {
            "running" => RunStatus::Running,
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            "cancelled" => RunStatus::Cancelled,
            other => return Err(StoreError::Record(format!("unknown run status `{other}`"))),
        })
    }
}

/// What a scheduled run records besides the stream: the due time it serves and its runner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduledRun {
    /// The due time served.
    pub due_at: DateTime<Utc>,
    /// The runner's id.
    pub runner: String,
}

/// The totals a run reports when it ends.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    /// How it ended.
    pub status: RunStatus,
    /// Pages committed.
    pub pages: i64,
    /// Records committed.
    pub records: i64,
    /// Records quarantined.
    pub quarantined: i64,
    /// The error that stopped it.
    pub error: Option<String>,
    /// Connector-specific facts about the run (completeness checks, vendor totals).
    pub details: Option<serde_json::Value>,
}

/// One row of `sync_runs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncRun {
    /// Run id.
    pub run_id: i64,
    /// Connection name.
    pub connection: String,
    /// Stream name.
    pub stream: String,
    /// Start time.
    pub started_at: DateTime<Utc>,
    /// End time, if it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Status.
    pub status: RunStatus,
    /// Pages committed.
    pub pages: i64,
    /// Records committed.
    pub records: i64,
    /// Records quarantined.
    pub quarantined: i64,
    /// The error that stopped it.
    pub error: Option<String>,
}

fn parse_time(text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Record(format!("bad timestamp `{text}`: {e}")))
}

impl Store {
    /// Records the start of a sync run.
    pub async fn start_run(&self, connection: &str, stream: &str) -> Result<RunId> {
        self.start_scheduled_run(connection, stream, None).await
    }

    /// Records the start of a sync run; a scheduled run also records the due time it serves and
    /// the runner that runs it.
    pub async fn start_scheduled_run(
        &self,
        connection: &str,
        stream: &str,
        scheduled: Option<&ScheduledRun>,
    ) -> Result<RunId> {
        let now = Utc::now();
        let due_at = scheduled.map(|s| s.due_at);
        let runner = scheduled.map(|s| s.runner.as_str());
        let id: i64 = match &self.writer {
            Pool::Sqlite(pool) => {
                sqlx::query_scalar(
                    "INSERT INTO sync_runs (connection, stream, started_at, status, due_at, runner) \
                     VALUES (?, ?, ?, 'running', ?, ?) RETURNING run_id",
                )
                .bind(connection)
                .bind(stream)
                .bind(sqlite_time(&now))
                .bind(due_at.as_ref().map(sqlite_time))
                .bind(runner)
                .fetch_one(pool)
                .await?
            }
            Pool::Postgres(pool) => {
                sqlx::query_scalar(
                    "INSERT INTO sync_runs (connection, stream, started_at, status, due_at, runner) \
                     VALUES ($1, $2, $3, 'running', $4, $5) RETURNING run_id",
                )
                .bind(connection)
                .bind(stream)
                .bind(now)
                .bind(due_at)
                .bind(runner)
                .fetch_one(pool)
                .await?
            }
        };
        Ok(RunId(id))
    }

    /// Records the end of a sync run.
    pub async fn finish_run(&self, run: RunId, summary: &RunSummary) -> Result<()> {
        let now = Utc::now();
        match &self.writer {
            Pool::Sqlite(pool) => {
                sqlx::query(
                    "UPDATE sync_runs SET finished_at = ?, status = ?, pages = ?, records = ?, quarantined = ?, \
                     error = ?, details = ? WHERE run_id = ?",
                )
                .bind(sqlite_time(&now))
                .bind(summary.status.as_str())
                .bind(summary.pages)
                .bind(summary.records)
                .bind(summary.quarantined)
                .bind(summary.error.as_deref())
                .bind(summary.details.as_ref().map(|d| d.to_string()))
                .bind(run.0)
                .execute(pool)
                .await?;
            }
            Pool::Postgres(pool) => {
                sqlx::query(
                    "UPDATE sync_runs SET finished_at = $1, status = $2, pages = $3, records = $4, quarantined = $5, \
                     error = $6, details = $7 WHERE run_id = $8",
                )
                .bind(now)
                .bind(summary.status.as_str())
                .bind(summary.pages)
                .bind(summary.records)
                .bind(summary.quarantined)
                .bind(summary.error.as_deref())
                .bind(summary.details.as_ref().map(sqlx::types::Json))
                .bind(run.0)
                .execute(pool)
                .await?;
            }
        }
        Ok(())
    }

    /// The most recent runs, newest first.
    pub async fn recent_runs(&self, limit: i64) -> Result<Vec<SyncRun>> {
        self.runs_where("1 = 1", limit).await
    }

    /// The latest run of every (connection, stream).
    pub async fn latest_runs(&self) -> Result<Vec<SyncRun>> {
        self.runs_where("run_id IN (SELECT MAX(run_id) FROM sync_runs GROUP BY connection, stream)", i64::MAX)
            .await
    }

    async fn runs_where(&self, condition: &str, limit: i64) -> Result<Vec<SyncRun>> {
        const COLUMNS: &str =
            "run_id, connection, stream, started_at, finished_at, status, pages, records, quarantined, error";
        match &self.pool {
            Pool::Sqlite(pool) => {
                let rows = sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM sync_runs WHERE {condition} ORDER BY run_id DESC LIMIT ?"
                ))
                .bind(limit)
                .fetch_all(pool)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(SyncRun {
                            run_id: row.try_get("run_id")?,
                            connection: row.try_get("connection")?,
                            stream: row.try_get("stream")?,
                            started_at: parse_time(&row.try_get::<String, _>("started_at")?)?,
                            finished_at: row
                                .try_get::<Option<String>, _>("finished_at")?
                                .map(|t| parse_time(&t))
                                .transpose()?,
                            status: RunStatus::parse(&row.try_get::<String, _>("status")?)?,
                            pages: row.try_get("pages")?,
                            records: row.try_get("records")?,
                            quarantined: row.try_get("quarantined")?,
                            error: row.try_get("error")?,
                        })
                    })
                    .collect()
            }
            Pool::Postgres(pool) => {
                let rows = sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM sync_runs WHERE {condition} ORDER BY run_id DESC LIMIT $1"
                ))
                .bind(limit)
                .fetch_all(pool)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(SyncRun {
                            run_id: row.try_get("run_id")?,
                            connection: row.try_get("connection")?,
                            stream: row.try_get("stream")?,
                            started_at: row.try_get("started_at")?,
                            finished_at: row.try_get("finished_at")?,
                            status: RunStatus::parse(&row.try_get::<String, _>("status")?)?,
                            pages: row.try_get("pages")?,
                            records: row.try_get("records")?,
                            quarantined: row.try_get("quarantined")?,
                            error: row.try_get("error")?,
                        })
                    })
                    .collect()
            }
        }
    }
}
