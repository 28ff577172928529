//! The sync engine: one (connection, stream) sync, exactly once.
//!
//! Fetching page k+1 overlaps writing page k: the connector's page stream feeds a bounded
//! channel that the committer drains, so at most `buffer` pages wait in memory whatever the
//! size of the stream. When the committer falls behind, it writes the pages waiting for it in
//! one transaction (up to [`BATCH_RECORDS`] records) with the last one's checkpoint: fewer,
//! larger commits, and still a checkpoint only together with every record before it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use engage_connect::{ConnectorError, DynConnector, ErrorClass, Page};
use engage_store::{PageWrite, RunId, RunStatus, RunSummary, ScheduledRun, Store};
use futures::StreamExt;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::RunnerError;

/// Most records the committer gathers from waiting pages into one transaction.
const BATCH_RECORDS: usize = 2_000;

/// Progress of one stream, reported after each commit.
#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    /// Connection name.
    pub connection: String,
    /// Stream name.
    pub stream: String,
    /// Pages committed so far.
    pub pages: u64,
    /// Records committed so far.
    pub records: u64,
    /// Records quarantined so far.
    pub quarantined: u64,
    /// Time since the stream started.
    pub elapsed: Duration,
}

/// Receives progress reports.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// How to run a sync.
#[derive(Clone)]
pub struct SyncOptions {
    /// Ignore the checkpoint and read everything.
    pub full_refresh: bool,
    /// Cancelled by Ctrl-C: pages already fetched are committed, then the sync stops.
    pub cancel: CancellationToken,
    /// Called after each commit (of one page, or of several waiting pages together).
    pub progress: Option<ProgressFn>,
    /// Pages fetched ahead of the committer.
    pub buffer: usize,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self { full_refresh: false, cancel: CancellationToken::new(), progress: None, buffer: 1 }
    }
}

/// How one stream's sync ended.
#[derive(Debug, Clone, Serialize)]
pub struct StreamOutcome {
    /// Connection name.
    pub connection: String,
    /// Stream name.
    pub stream: String,
    /// The run's id in `sync_runs`.
    pub run_id: RunId,
    /// Succeeded, failed or cancelled.
    pub status: RunStatus,
    /// Pages committed.
    pub pages: u64,
    /// Source records of the stream committed (as delivered, duplicates included; records the
    /// connector derives from them, such as timeline interactions, are not counted).
    pub records: u64,
    /// Records that changed the store.
    pub written: u64,
    /// Records quarantined.
    pub quarantined: u64,
    /// The error that stopped the sync.
    pub error: Option<String>,
    /// Its class.
    pub error_class: Option<ErrorClass>,
    /// How long the vendor asked to wait before the next try, when it said (a daily quota
    /// exhausted, a long `Retry-After`).
    pub retry_after: Option<Duration>,
    /// How long it took.
    pub elapsed: Duration,
}

/// What the committer did.
#[derive(Default)]
struct Tally {
    pages: u64,
    records: u64,
    written: u64,
    quarantined: u64,
    notes: Vec<String>,
}

enum Stop {
    Done,
    Cancelled,
    Failed(ConnectorError),
}

/// Syncs one stream of one connection into the store and records the run.
///
/// Returns `Err` only when the store itself fails; a connector failure is a failed outcome.
pub async fn sync_stream(
    store: &Store,
    connector: &dyn DynConnector,
    connection: &str,
    stream: &str,
    options: &SyncOptions,
) -> Result<StreamOutcome, RunnerError> {
    sync_scheduled_stream(store, connector, connection, stream, options, None).await
}

/// [`sync_stream`] for the scheduler: the run also records the due time it serves and its
/// runner.
pub async fn sync_scheduled_stream(
    store: &Store,
    connector: &dyn DynConnector,
    connection: &str,
    stream: &str,
    options: &SyncOptions,
    scheduled: Option<&ScheduledRun>,
) -> Result<StreamOutcome, RunnerError> {
    let started = Instant::now();
    let primary = connector.streams().into_iter().find(|s| s.name == stream).map(|s| s.entity);
    let run_id = store.start_scheduled_run(connection, stream, scheduled).await?;
    let checkpoint = if options.full_refresh { None } else { store.checkpoint(connection, stream).await? };
    tracing::info!(connection, stream, resume = checkpoint.is_some(), "sync started");

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Page>(options.buffer.max(1));
    let cancel = options.cancel.clone();
    let producer = async move {
        let mut pages = connector.read(stream, checkpoint);
        loop {
            let next = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Stop::Cancelled,
                next = pages.next() => next,
            };
            match next {
                None => return Stop::Done,
                Some(Ok(page)) => {
                    if tx.send(page).await.is_err() {
                        return Stop::Done; // the committer stopped; it reports why
                    }
                }
                Some(Err(error)) => return Stop::Failed(error),
            }
        }
    };
    let mut outcome = StreamOutcome {
        connection: connection.to_owned(),
        stream: stream.to_owned(),
        run_id,
        status: RunStatus::Running,
        pages: 0,
        records: 0,
        written: 0,
        quarantined: 0,
        error: None,
        error_class: None,
        retry_after: None,
        elapsed: Duration::ZERO,
    };
    // The committer runs as its own task so that binding and writing page k happen on another
    // thread than fetching and parsing page k+1.
    let committer = {
        let (store, connection, stream, progress) =
            (store.clone(), connection.to_owned(), stream.to_owned(), options.progress.clone());
        tokio::spawn(async move {
            let mut tally = Tally::default();
            while let Some(mut page) = rx.recv().await {
                let mut pages = 1;
                while page.records.len() < BATCH_RECORDS {
                    let Ok(next) = rx.try_recv() else { break };
                    page.records.extend(next.records);
                    page.quarantined.extend(next.quarantined);
                    page.checkpoint = next.checkpoint;
                    page.notes.extend(next.notes);
                    pages += 1;
                }
                let write = PageWrite {
                    records: &page.records,
                    quarantined: &page.quarantined,
                    checkpoint: Some(&page.checkpoint),
                    run_id: Some(run_id),
                };
                let stats = match store.commit_page(&connection, &stream, write).await {
                    Ok(stats) => stats,
                    Err(error) => return (tally, Some(error)),
                };
                tally.pages += pages;
                tally.records +=
                    page.records.iter().filter(|r| primary.is_none_or(|kind| r.kind() == kind)).count()
                        as u64;
                tally.written += stats.written;
                tally.quarantined += stats.quarantined;
                tally.notes.extend(page.notes);
                if let Some(progress) = &progress {
                    progress(&Progress {
                        connection: connection.clone(),
                        stream: stream.clone(),
                        pages: tally.pages,
                        records: tally.records,
                        quarantined: tally.quarantined,
                        elapsed: started.elapsed(),
                    });
                }
            }
            (tally, None)
        })
    };
    let stop = producer.await;
    let (tally, store_error) = match committer.await {
        Ok(result) => result,
        Err(join_error) => {
            (Tally::default(), Some(engage_store::StoreError::Record(format!("committer: {join_error}"))))
        }
    };
    let notes = tally.notes;
    (outcome.pages, outcome.records, outcome.written, outcome.quarantined) =
        (tally.pages, tally.records, tally.written, tally.quarantined);
    outcome.elapsed = started.elapsed();
    outcome.status = match (&stop, &store_error) {
        (_, Some(_)) | (Stop::Failed(_), _) => RunStatus::Failed,
        (Stop::Cancelled, None) => RunStatus::Cancelled,
        (Stop::Done, None) => RunStatus::Succeeded,
    };
    if let Stop::Failed(error) = &stop {
        outcome.error = Some(error.message.clone());
        outcome.error_class = Some(error.class);
        outcome.retry_after = error.retry_after;
    }
    if let Some(error) = &store_error {
        outcome.error = Some(format!("store: {error}"));
        outcome.error_class = Some(ErrorClass::Retry);
    }
    let summary = RunSummary {
        status: outcome.status,
        pages: outcome.pages as i64,
        records: outcome.records as i64,
        quarantined: outcome.quarantined as i64,
        error: outcome.error.clone(),
        details: (!notes.is_empty()).then(|| serde_json::json!({ "notes": notes })),
    };
    store.finish_run(run_id, &summary).await?;
    match outcome.status {
        RunStatus::Failed => tracing::warn!(connection, stream, error = ?outcome.error, "sync failed"),
        _ => tracing::info!(
            connection,
            stream,
            pages = outcome.pages,
            records = outcome.records,
            status = outcome.status.as_str(),
            "sync ended"
        ),
    }
    Ok(outcome)
}
