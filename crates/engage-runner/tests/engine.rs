//! The sync engine against a scripted connector, on both backends.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use engage_connect::{
    Checkpoint, ConnectorError, DynConnector, ErrorClass, Page, PageStream, StreamSpec, SyncMode,
};
use engage_model::{EntityKind, Quarantined};
use engage_runner::{SyncOptions, sync_stream};
use engage_store::testing::{fresh_store, sample_ticket};
use engage_store::{Backend, RunStatus};
use serde_json::json;

/// Yields `pages` pages of `per_page` tickets, resuming after the checkpoint's page; fails at
/// `fail_at` with `fail_class`; cancels `cancel` after yielding page `cancel_after`.
struct Scripted {
    pages: usize,
    per_page: usize,
    fail_at: Option<usize>,
    cancel_after: Option<(usize, tokio_util::sync::CancellationToken)>,
    reads: AtomicUsize,
    seen_checkpoint: std::sync::Mutex<Option<Checkpoint>>,
}

impl Scripted {
    fn new(pages: usize, per_page: usize) -> Self {
        Self {
            pages,
            per_page,
            fail_at: None,
            cancel_after: None,
            reads: AtomicUsize::new(0),
            seen_checkpoint: std::sync::Mutex::new(None),
        }
    }

    fn page(&self, n: usize) -> Page {
        let records =
            (0..self.per_page).map(|i| sample_ticket(&format!("{n:03}-{i:03}"), n as u32, 300)).collect();
        let quarantined = if n == 1 {
            vec![Quarantined {
                source_id: Some("bad-1".into()),
                raw: "{\"id\":".into(),
                reason: "truncated".into(),
            }]
        } else {
            Vec::new()
        };
        Page { records, quarantined, checkpoint: json!({ "page": n }), notes: Vec::new() }
    }
}

#[async_trait]
impl DynConnector for Scripted {
    fn kind(&self) -> &'static str {
        "scripted"
    }
    fn streams(&self) -> Vec<StreamSpec> {
        vec![StreamSpec {
            name: "tickets",
            entity: EntityKind::Ticket,
            primary_key: &["id"],
            cursor_field: Some("page"),
            modes: &[SyncMode::Incremental],
        }]
    }
    async fn check(&self) -> Result<(), ConnectorError> {
        Ok(())
    }
    fn read(&self, _stream: &str, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        *self.seen_checkpoint.lock().unwrap() = checkpoint.clone();
        let start = checkpoint.and_then(|c| c["page"].as_u64()).map_or(0, |p| p as usize + 1);
        Box::pin(futures::stream::iter(start..self.pages).map(move |n| {
            if Some(n) == self.fail_at {
                return Err(ConnectorError::new(
                    ErrorClass::NeedsHuman,
                    "HTTP 401 from GET /x: check the credentials",
                ));
            }
            if let Some((after, token)) = &self.cancel_after
                && n == *after + 1
            {
                token.cancel();
            }
            Ok(self.page(n))
        }))
    }
}

use futures::StreamExt;

engage_store::on_both_backends!(
    syncs_every_page_then_resumes,
    failure_keeps_the_last_committed_checkpoint,
    cancel_commits_fetched_pages_and_stops,
    waiting_pages_are_committed_together_and_the_last_version_wins
);

/// Yields `pages` pages at once, each with `per_page` tickets of its own plus a new version of
/// the ticket `shared` (its `replies` is the page number).
struct Burst {
    pages: usize,
    per_page: usize,
}

#[async_trait]
impl DynConnector for Burst {
    fn kind(&self) -> &'static str {
        "burst"
    }
    fn streams(&self) -> Vec<StreamSpec> {
        Scripted::new(0, 0).streams()
    }
    async fn check(&self) -> Result<(), ConnectorError> {
        Ok(())
    }
    fn read(&self, _stream: &str, _checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        Box::pin(futures::stream::iter(0..self.pages).map(move |n| {
            let mut records: Vec<_> =
                (0..self.per_page).map(|i| sample_ticket(&format!("{n:03}-{i:03}"), 1, 300)).collect();
            records.push(sample_ticket("shared", n as u32, 300));
            Ok(Page { records, quarantined: Vec::new(), checkpoint: json!({ "page": n }), notes: Vec::new() })
        }))
    }
}

async fn syncs_every_page_then_resumes(backend: Backend) {
    let t = fresh_store(backend).await;
    let connector = Scripted::new(5, 40);
    let outcome = sync_stream(&t.store, &connector, "c", "tickets", &SyncOptions::default()).await.unwrap();
    assert_eq!(outcome.status, RunStatus::Succeeded);
    assert_eq!((outcome.pages, outcome.records, outcome.written, outcome.quarantined), (5, 200, 200, 1));
    assert_eq!(t.store.count_rows("tickets").await.unwrap(), 200);
    assert_eq!(t.store.count_rows("quarantine").await.unwrap(), 1);
    assert_eq!(t.store.checkpoint("c", "tickets").await.unwrap(), Some(json!({"page": 4})));
    // The next sync starts from the checkpoint and finds nothing new.
    let again = sync_stream(&t.store, &connector, "c", "tickets", &SyncOptions::default()).await.unwrap();
    assert_eq!(*connector.seen_checkpoint.lock().unwrap(), Some(json!({"page": 4})));
    assert_eq!((again.status, again.pages, again.records), (RunStatus::Succeeded, 0, 0));
    // A full refresh reads everything again and changes nothing.
    let full = SyncOptions { full_refresh: true, ..SyncOptions::default() };
    let refreshed = sync_stream(&t.store, &connector, "c", "tickets", &full).await.unwrap();
    assert_eq!((refreshed.pages, refreshed.records, refreshed.written), (5, 200, 0));
    let runs = t.store.recent_runs(10).await.unwrap();
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(|r| r.status == RunStatus::Succeeded));
    assert_eq!((runs[2].pages, runs[2].records, runs[2].quarantined), (5, 200, 1));
}

async fn failure_keeps_the_last_committed_checkpoint(backend: Backend) {
    let t = fresh_store(backend).await;
    let mut connector = Scripted::new(6, 10);
    connector.fail_at = Some(3);
    let outcome = sync_stream(&t.store, &connector, "c", "tickets", &SyncOptions::default()).await.unwrap();
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(outcome.error.as_deref(), Some("HTTP 401 from GET /x: check the credentials"));
    assert_eq!(outcome.error_class, Some(ErrorClass::NeedsHuman));
    assert_eq!(outcome.pages, 3);
    assert_eq!(t.store.checkpoint("c", "tickets").await.unwrap(), Some(json!({"page": 2})));
    assert_eq!(t.store.count_rows("tickets").await.unwrap(), 30);
    let runs = t.store.recent_runs(1).await.unwrap();
    assert_eq!(runs[0].status, RunStatus::Failed);
    assert_eq!(runs[0].error.as_deref(), Some("HTTP 401 from GET /x: check the credentials"));
    // Once the cause is fixed, the next sync resumes after page 2 and completes.
    connector.fail_at = None;
    let resumed = sync_stream(&t.store, &connector, "c", "tickets", &SyncOptions::default()).await.unwrap();
    assert_eq!((resumed.status, resumed.pages), (RunStatus::Succeeded, 3));
    assert_eq!(t.store.count_rows("tickets").await.unwrap(), 60);
}

async fn cancel_commits_fetched_pages_and_stops(backend: Backend) {
    let t = fresh_store(backend).await;
    let options = SyncOptions::default();
    let mut connector = Scripted::new(50, 10);
    connector.cancel_after = Some((4, options.cancel.clone()));
    let outcome = sync_stream(&t.store, &connector, "c", "tickets", &options).await.unwrap();
    assert_eq!(outcome.status, RunStatus::Cancelled);
    let committed = outcome.pages;
    assert!((5..=6).contains(&committed), "committed {committed} pages");
    let checkpoint = t.store.checkpoint("c", "tickets").await.unwrap().unwrap();
    assert_eq!(checkpoint["page"].as_u64(), Some(committed - 1));
    assert_eq!(t.store.count_rows("tickets").await.unwrap() as u64, committed * 10);
    assert_eq!(t.store.recent_runs(1).await.unwrap()[0].status, RunStatus::Cancelled);
}

/// A committer that falls behind writes the waiting pages in one transaction: every record
/// once, the latest version of a record repeated across those pages, the last page's
/// checkpoint, and fewer commits than pages.
async fn waiting_pages_are_committed_together_and_the_last_version_wins(backend: Backend) {
    let t = fresh_store(backend).await;
    let commits = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = commits.clone();
    let options = SyncOptions {
        buffer: 8,
        progress: Some(std::sync::Arc::new(move |p: &engage_runner::Progress| {
            seen.lock().unwrap().push(p.pages)
        })),
        ..SyncOptions::default()
    };
    let connector = Burst { pages: 30, per_page: 100 };
    let outcome = sync_stream(&t.store, &connector, "c", "tickets", &options).await.unwrap();
    assert_eq!(outcome.status, RunStatus::Succeeded);
    assert_eq!((outcome.pages, outcome.records), (30, 30 * 101));
    assert_eq!(t.store.count_rows("tickets").await.unwrap(), 30 * 100 + 1);
    assert_eq!(t.store.checkpoint("c", "tickets").await.unwrap(), Some(json!({"page": 29})));
    let shared =
        engage_store::query_read_only(&t.url, "SELECT replies FROM tickets WHERE source_id = 'shared'")
            .await
            .unwrap();
    assert_eq!(shared.rows, vec![vec![json!(29)]]);
    let commits = commits.lock().unwrap().clone();
    assert_eq!(commits.last(), Some(&30));
    assert!(commits.windows(2).all(|w| w[0] < w[1]), "{commits:?}");
    assert!(commits.len() < 30, "pages waiting for the committer were committed together: {commits:?}");
}
