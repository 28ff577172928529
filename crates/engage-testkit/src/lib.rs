//! The conformance kit: [`conformance`] runs a connector against its simulator through the real
//! runner into a real store and checks every promise of the connector contract:
//!
//! 1. a full sync equals the simulator's ground truth exactly (ids, raw payloads with unknown
//!    fields kept, deletions), and malformed records are quarantined, not stored;
//! 2. a sync with nothing changed makes one request per stream (or per pass, for vendors that
//!    list some records only on request);
//! 3. an incremental sync after updates, deletions and creations picks up exactly those;
//! 4. syncs interrupted between pages and aborted mid-page, then resumed, end equal to the ground
//!    truth (no loss, no duplicates);
//! 5. 5xx answers, connection resets, truncated bodies and 429s with and without `Retry-After`
//!    are retried and the result is still exact;
//! 6. a 401 or a 403 fails every stream with a clear error of class "needs a human", checkpoints
//!    unchanged.
//!
//! Boundary duplicates are covered by (1)–(4): simulators repeat records where their vendor does
//! and the store must hold each once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: a failed expectation is a failed test

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use engage_connect::{DynConnector, ErrorClass, HttpTuning};
use engage_runner::{BuildOptions, StreamOutcome, SyncOptions, build_connector, sync_stream};
use engage_sandbox::{Faults, GroundTruth, Mutation, RunningSim};
use engage_store::testing::{TestStore, fresh_store};
use engage_store::{Backend, RunStatus, query_read_only};
use tokio_util::sync::CancellationToken;

pub mod files;

/// What the kit needs to know about the connector under test.
pub struct Subject {
    /// The connector kind (`zendesk`...).
    pub kind: &'static str,
    /// The running simulator.
    pub sim: Box<dyn RunningSim>,
    /// The connector's kind-specific options pointing at the simulator (credentials...).
    pub options: serde_json::Value,
}

/// The connection name the kit syncs under (and that [`assert_matches_truth`] reads).
pub const CONNECTION: &str = "conformance";

/// Fast retries for tests; waits the vendor asks for are still honoured.
fn tuning() -> HttpTuning {
    Arc::new(|b: engage_connect::http::HttpClientBuilder| {
        b.backoff(Duration::from_millis(5), Duration::from_millis(100)).timeout(Duration::from_secs(10))
    })
}

fn connector(subject: &Subject) -> Box<dyn DynConnector> {
    let options = BuildOptions { clock: None, http_tuning: Some(tuning()) };
    build_connector(subject.kind, CONNECTION, Some(&subject.sim.base_url()), None, &subject.options, &options)
        .expect("build the connector")
        .0
}

/// Runs the whole kit on `backend`. Panics with a precise message on the first broken promise.
pub async fn conformance(backend: Backend, subject: Subject) {
    conformance_with(backend, subject, &[]).await;
}

/// [`conformance`] for a connector whose streams need more than one request when nothing
/// changed, because the vendor lists some records only on request (Freshdesk's deleted and spam
/// tickets): `unchanged_requests` names those streams and their count; the others make one.
pub async fn conformance_with(backend: Backend, subject: Subject, unchanged_requests: &[(&str, u64)]) {
    kit(backend, subject, unchanged_requests, true).await;
}

/// The kit for a source read without a network (local files, [`files::FileSource`]): checks
/// (1)–(4), with `unchanged_requests` counting what the source counts as requests (files
/// opened: 0 for a files connection with nothing changed), then a full sync of the changed
/// source into a fresh store. Transport faults (5) and credentials (6) have no meaning there.
pub async fn conformance_local(backend: Backend, subject: Subject, unchanged_requests: &[(&str, u64)]) {
    kit(backend, subject, unchanged_requests, false).await;
}

async fn kit(backend: Backend, subject: Subject, unchanged_requests: &[(&str, u64)], remote: bool) {
    let base = Faults { malformed_rate: 0.02, ..Faults::default() };
    subject.sim.set_all_faults(base.clone());
    let connector = connector(&subject);
    let streams: Vec<(String, &'static str)> =
        connector.streams().iter().map(|s| (s.name.to_owned(), s.entity.table())).collect();

    // 1. Full sync.
    let store = fresh_store(backend).await;
    sync_all(&store, connector.as_ref(), &streams, &SyncOptions::default(), true).await;
    assert_matches_truth(&store, &streams, &subject.sim.ground_truth(), "full sync").await;

    // 2. Nothing changed: one request per stream (or the count the vendor's passes need).
    for (stream, _) in &streams {
        let expected =
            unchanged_requests.iter().find(|(name, _)| name == stream).map_or(1, |(_, count)| *count);
        let before = subject.sim.total_requests();
        let outcome =
            sync_stream(&store.store, connector.as_ref(), CONNECTION, stream, &SyncOptions::default()).await;
        assert_eq!(outcome.expect("store").status, RunStatus::Succeeded, "{stream}");
        assert_eq!(
            subject.sim.total_requests() - before,
            expected,
            "{stream}: a sync with nothing changed must make exactly {expected} request(s)"
        );
    }

    // 3. Changes are picked up exactly.
    subject.sim.mutate(Mutation { updates: 7, deletions: 3, creations: 11 });
    sync_all(&store, connector.as_ref(), &streams, &SyncOptions::default(), true).await;
    assert_matches_truth(&store, &streams, &subject.sim.ground_truth(), "incremental sync after changes")
        .await;

    // 4. Interrupted and aborted syncs resume without loss or duplicates.
    let resumed = fresh_store(backend).await;
    for stop_after in [1u64, 2, 3] {
        for (stream, _) in &streams {
            let cancel = CancellationToken::new();
            let on_page = cancel.clone();
            let options = SyncOptions {
                cancel,
                progress: Some(Arc::new(move |p: &engage_runner::Progress| {
                    if p.pages >= stop_after {
                        on_page.cancel();
                    }
                })),
                ..SyncOptions::default()
            };
            let outcome =
                sync_stream(&resumed.store, connector.as_ref(), CONNECTION, stream, &options).await.unwrap();
            assert_ne!(outcome.status, RunStatus::Failed, "{stream}: {:?}", outcome.error);
        }
    }
    for abort_after_ms in [3u64, 11, 29] {
        for (stream, _) in &streams {
            let defaults = SyncOptions::default();
            let sync = sync_stream(&resumed.store, connector.as_ref(), CONNECTION, stream, &defaults);
            // Dropping the future mid-flight is what a crash looks like to the store.
            let _ = tokio::time::timeout(Duration::from_millis(abort_after_ms), sync).await;
        }
    }
    sync_all(&resumed, connector.as_ref(), &streams, &SyncOptions::default(), true).await;
    assert_matches_truth(&resumed, &streams, &subject.sim.ground_truth(), "interrupted syncs, resumed").await;

    if !remote {
        let fresh = fresh_store(backend).await;
        sync_all(&fresh, connector.as_ref(), &streams, &SyncOptions::default(), true).await;
        assert_matches_truth(&fresh, &streams, &subject.sim.ground_truth(), "full sync after changes").await;
        return;
    }

    // 5. Transport faults and 429s are retried; the result is still exact.
    for retry_after in [Some(1), None] {
        let faulty = fresh_store(backend).await;
        subject.sim.set_all_faults(Faults {
            error_rate: 0.08,
            reset_rate: 0.04,
            truncated_rate: 0.04,
            throttle_rate: 0.08,
            throttle_retry_after: retry_after,
            ..base.clone()
        });
        sync_all(&faulty, connector.as_ref(), &streams, &SyncOptions::default(), true).await;
        assert_matches_truth(&faulty, &streams, &subject.sim.ground_truth(), "sync through faults").await;
    }

    // 6. Bad credentials: a clear error, checkpoints unchanged.
    let before = checkpoints(&store).await;
    subject.sim.mutate(Mutation { updates: 2, deletions: 0, creations: 2 });
    subject.sim.set_all_faults(Faults { fail_auth: true, ..base.clone() });
    let outcomes = sync_all(&store, connector.as_ref(), &streams, &SyncOptions::default(), false).await;
    for outcome in &outcomes {
        assert_eq!(outcome.status, RunStatus::Failed, "{}: a 401 must fail the sync", outcome.stream);
        assert_eq!(outcome.error_class, Some(ErrorClass::NeedsHuman), "{}", outcome.stream);
        let message = outcome.error.clone().unwrap_or_default();
        assert!(message.contains("401"), "{}: the error must say what happened: {message}", outcome.stream);
    }
    assert_eq!(checkpoints(&store).await, before, "a failed sync must leave the checkpoints unchanged");

    // A 403 (role or plan without access) is just as clear, and changes nothing either.
    subject.sim.set_all_faults(Faults { status_override: Some(403), ..base.clone() });
    let outcomes = sync_all(&store, connector.as_ref(), &streams, &SyncOptions::default(), false).await;
    for outcome in &outcomes {
        assert_eq!(
            outcome.error_class,
            Some(ErrorClass::NeedsHuman),
            "{}: {:?}",
            outcome.stream,
            outcome.error
        );
        let message = outcome.error.clone().unwrap_or_default();
        assert!(message.contains("403"), "{}: the error must say what happened: {message}", outcome.stream);
    }
    assert_eq!(checkpoints(&store).await, before, "a failed sync must leave the checkpoints unchanged");
    subject.sim.set_all_faults(base);
}

async fn sync_all(
    store: &TestStore,
    connector: &dyn DynConnector,
    streams: &[(String, &'static str)],
    options: &SyncOptions,
    must_succeed: bool,
) -> Vec<StreamOutcome> {
    let mut outcomes = Vec::new();
    for (stream, _) in streams {
        let outcome = sync_stream(&store.store, connector, CONNECTION, stream, options).await.expect("store");
        if must_succeed {
            assert_eq!(outcome.status, RunStatus::Succeeded, "{stream}: {:?}", outcome.error);
        }
        outcomes.push(outcome);
    }
    outcomes
}

async fn checkpoints(store: &TestStore) -> Vec<Vec<serde_json::Value>> {
    query_read_only(&store.url, "SELECT stream, checkpoint FROM checkpoints ORDER BY stream")
        .await
        .unwrap()
        .rows
}

/// The stored records of every stream equal the ground truth: same ids, same raw payloads,
/// same deletions; malformed records are in quarantine and not stored.
pub async fn assert_matches_truth(
    store: &TestStore,
    streams: &[(String, &'static str)],
    truth: &GroundTruth,
    step: &str,
) {
    for (stream, table) in streams {
        let rows = query_read_only(
            &store.url,
            &format!(
                "SELECT source_id, raw, deleted_at FROM {table} WHERE connection = '{CONNECTION}' AND stream = '{stream}'"
            ),
        )
        .await
        .unwrap()
        .rows;
        let malformed = truth.malformed(stream);
        let stored: BTreeMap<String, (serde_json::Value, bool)> = rows
            .into_iter()
            .filter_map(|row| {
                let id = row[0].as_str()?.to_owned();
                let raw = match &row[1] {
                    serde_json::Value::String(text) => serde_json::from_str(text).ok()?,
                    other => other.clone(),
                };
                Some((id, (raw, !row[2].is_null())))
            })
            .filter(|(id, _)| !malformed.contains(id))
            .collect();
        let expected = truth.stream(stream);
        let missing: Vec<&String> = expected.keys().filter(|id| !stored.contains_key(*id)).collect();
        let extra: Vec<&String> = stored.keys().filter(|id| !expected.contains_key(*id)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{step}: {stream}: missing {missing:?}, unexpected {extra:?}"
        );
        for (id, record) in expected {
            let (raw, deleted) = &stored[id];
            assert_eq!(*deleted, record.deleted, "{step}: {stream} {id}: deleted flag");
            assert!(
                raw == &record.raw,
                "{step}: {stream} {id}: raw payload differs\nstored:   {raw}\nexpected: {}",
                record.raw
            );
        }
        // A malformed record may not even have a readable id: it is found by its id appearing in
        // the quarantined row's source id or payload.
        let quarantined = query_read_only(
            &store.url,
            &format!("SELECT source_id, raw FROM quarantine WHERE connection = '{CONNECTION}' AND stream = '{stream}'"),
        )
        .await
        .unwrap()
        .rows;
        for id in malformed {
            let found = quarantined.iter().any(|row| {
                row[0].as_str().is_some_and(|s| s.contains(id.as_str()))
                    || row[1].as_str().is_some_and(|s| s.contains(id.as_str()))
            });
            assert!(found, "{step}: {stream} {id}: a malformed record must be quarantined");
        }
    }
}
