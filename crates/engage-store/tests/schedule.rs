//! The scheduler's leases on both backends (`sqlite::*` and `postgres::*`): each due sync is
//! claimed once, per-connection limits hold across runners, expired leases are taken over,
//! releases move the due time, and SQLite admits one runner.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use engage_store::testing::{fresh_store, sample_ticket};
use engage_store::{
    Backend, PageWrite, Release, RunStatus, RunSummary, ScheduledRun, ScheduledStream, Store, StoreError,
};

engage_store::on_both_backends!(
    each_due_sync_is_claimed_once_within_connection_limits,
    expired_leases_are_taken_over_with_their_due_time,
    retries_and_pauses_wait_in_the_store,
    registering_again_keeps_progress_and_a_new_schedule_resets_it,
    concurrent_claims_never_share_a_sync,
    status_shows_schedule_lease_and_last_runs,
    sqlite_admits_one_runner,
);

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000 + secs, 0).unwrap()
}

const TTL: Duration = Duration::from_secs(30);

fn stream(connection: &str, stream: &str, due: i64) -> ScheduledStream {
    ScheduledStream {
        connection: connection.into(),
        stream: stream.into(),
        cadence: "every 15m".into(),
        first_due: at(due),
        first_start: at(due),
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

async fn claim(store: &Store, runner: &str, now: i64) -> Option<(String, String)> {
    store
        .claim_due(runner, &names(&["a", "b"]), 1, at(now), TTL)
        .await
        .unwrap()
        .map(|c| (c.connection, c.stream))
}

fn pair(c: &str, s: &str) -> Option<(String, String)> {
    Some((c.into(), s.into()))
}

async fn each_due_sync_is_claimed_once_within_connection_limits(backend: Backend) {
    let t = fresh_store(backend).await;
    let s = &t.store;
    s.register_schedules(&[stream("a", "s1", 0), stream("a", "s2", 0), stream("b", "s1", 5)], at(0))
        .await
        .unwrap();
    // Nothing is due before its start.
    assert_eq!(s.claim_due("r1", &names(&["a", "b"]), 1, at(-1), TTL).await.unwrap(), None);
    assert_eq!(claim(s, "r1", 10).await, pair("a", "s1"));
    // `a` holds its one allowed lease: its other stream waits, `b` goes ahead.
    assert_eq!(claim(s, "r2", 10).await, pair("b", "s1"));
    assert_eq!(claim(s, "r2", 10).await, None);
    // Only connections the runner is given are considered.
    s.release_lease(
        "a",
        "s1",
        "r1",
        &Release::Served { next_due: at(900), start_after: at(930), failed: false },
        at(20),
    )
    .await
    .unwrap();
    assert_eq!(s.claim_due("r1", &names(&["b"]), 1, at(20), TTL).await.unwrap(), None);
    let c = s.claim_due("r1", &names(&["a", "b"]), 1, at(20), TTL).await.unwrap().unwrap();
    assert_eq!((c.connection.as_str(), c.stream.as_str(), c.due_at, c.attempt), ("a", "s2", at(0), 0));
    assert_eq!((c.taken_over_from, c.failing), (None, false));
    let rows = s.schedule_rows().await.unwrap();
    let a1 = rows.iter().find(|r| r.connection == "a" && r.stream == "s1").unwrap();
    assert_eq!(
        (a1.next_due_at, a1.start_after, a1.last_due_at, a1.holder.as_deref()),
        (at(900), at(930), Some(at(0)), None)
    );
    // With a limit of two, a connection's streams run side by side (s2's lease, taken at 20, has
    // expired by 930: the oldest due sync goes first).
    let c = s.claim_due("r3", &names(&["a"]), 2, at(930), TTL).await.unwrap().unwrap();
    assert_eq!((c.stream.as_str(), c.taken_over_from.as_deref()), ("s2", Some("r1")));
    assert_eq!(s.claim_due("r3", &names(&["a"]), 2, at(930), TTL).await.unwrap().unwrap().stream, "s1");
    assert_eq!(s.claim_due("r3", &names(&["a"]), 2, at(930), TTL).await.unwrap(), None);
}

async fn expired_leases_are_taken_over_with_their_due_time(backend: Backend) {
    let t = fresh_store(backend).await;
    let s = &t.store;
    s.register_schedules(&[stream("a", "s1", 0)], at(0)).await.unwrap();
    let first = s.claim_due("r1", &names(&["a"]), 1, at(0), TTL).await.unwrap().unwrap();
    assert!(s.count_attempt("a", "s1", "r1", 1).await.unwrap());
    let run = s
        .start_scheduled_run("a", "s1", Some(&ScheduledRun { due_at: first.due_at, runner: "r1".into() }))
        .await
        .unwrap();
    assert_eq!(s.claim_due("r2", &names(&["a"]), 1, at(10), TTL).await.unwrap(), None);
    assert!(s.renew_lease("a", "s1", "r1", at(20), TTL).await.unwrap());
    assert_eq!(s.claim_due("r2", &names(&["a"]), 1, at(45), TTL).await.unwrap(), None);
    // A runner never takes over its own lease, even expired: it is still serving it.
    assert_eq!(s.claim_due("r1", &names(&["a"]), 1, at(51), TTL).await.unwrap(), None);
    assert_eq!(s.next_wake(&names(&["a"])).await.unwrap(), Some(at(50)));
    // r1 stops renewing: after its lease ends, r2 takes the same due time over.
    let taken = s.claim_due("r2", &names(&["a"]), 1, at(51), TTL).await.unwrap().unwrap();
    assert_eq!((taken.due_at, taken.attempt, taken.taken_over_from.as_deref()), (at(0), 1, Some("r1")));
    assert_eq!(s.abandon_runs("a", "s1", "r1", "runner r1 stopped renewing its lease").await.unwrap(), 1);
    let runs = s.recent_runs(5).await.unwrap();
    assert_eq!((runs[0].run_id, runs[0].status), (run.0, RunStatus::Failed));
    assert_eq!(runs[0].error.as_deref(), Some("runner r1 stopped renewing its lease"));
    // The old holder can neither renew nor release any more.
    assert!(!s.renew_lease("a", "s1", "r1", at(52), TTL).await.unwrap());
    let served = Release::Served { next_due: at(900), start_after: at(900), failed: false };
    assert!(!s.release_lease("a", "s1", "r1", &served, at(52)).await.unwrap());
    assert!(s.release_lease("a", "s1", "r2", &served, at(60)).await.unwrap());
    let row = &s.schedule_rows().await.unwrap()[0];
    assert_eq!(
        (row.holder.as_deref(), row.next_due_at, row.attempt, row.last_due_at),
        (None, at(900), 0, Some(at(0)))
    );
}

async fn retries_and_pauses_wait_in_the_store(backend: Backend) {
    let t = fresh_store(backend).await;
    let s = &t.store;
    s.register_schedules(&[stream("a", "s1", 0)], at(0)).await.unwrap();
    s.claim_due("r1", &names(&["a"]), 1, at(0), TTL).await.unwrap().unwrap();
    let again =
        Release::Again { start_after: at(60), attempt: 1, reason: Some("retry 1 of 3: HTTP 503".into()) };
    assert!(s.release_lease("a", "s1", "r1", &again, at(5)).await.unwrap());
    let row = &s.schedule_rows().await.unwrap()[0];
    assert_eq!(
        (row.holder.as_deref(), row.waiting_reason.as_deref()),
        (None, Some("retry 1 of 3: HTTP 503"))
    );
    assert_eq!(s.claim_due("r2", &names(&["a"]), 1, at(59), TTL).await.unwrap(), None);
    let c = s.claim_due("r2", &names(&["a"]), 1, at(60), TTL).await.unwrap().unwrap();
    assert_eq!((c.due_at, c.attempt), (at(0), 1));
    // Failed after its retries: the next due time, and `failing` for the recovery notice.
    let failed = Release::Served { next_due: at(900), start_after: at(900), failed: true };
    assert!(s.release_lease("a", "s1", "r2", &failed, at(70)).await.unwrap());
    let c = s.claim_due("r2", &names(&["a"]), 1, at(900), TTL).await.unwrap().unwrap();
    assert_eq!((c.due_at, c.attempt, c.failing), (at(900), 0, true));
}

async fn registering_again_keeps_progress_and_a_new_schedule_resets_it(backend: Backend) {
    let t = fresh_store(backend).await;
    let s = &t.store;
    s.register_schedules(&[stream("a", "s1", 0), stream("a", "s2", 0)], at(0)).await.unwrap();
    s.claim_due("r1", &names(&["a"]), 2, at(0), TTL).await.unwrap().unwrap();
    let served = Release::Served { next_due: at(900), start_after: at(900), failed: false };
    s.release_lease("a", "s1", "r1", &served, at(10)).await.unwrap();
    s.claim_due("r1", &names(&["a"]), 2, at(10), TTL).await.unwrap().unwrap();
    // A second runner starting with the same configuration changes nothing.
    s.register_schedules(&[stream("a", "s1", 300), stream("a", "s2", 300)], at(300)).await.unwrap();
    let rows = s.schedule_rows().await.unwrap();
    assert_eq!(
        (rows[0].next_due_at, rows[1].next_due_at, rows[1].holder.as_deref()),
        (at(900), at(0), Some("r1"))
    );
    // A new schedule resets the next due time of a free stream, not of a held one.
    let hourly = |name: &str| ScheduledStream { cadence: "every 1h".into(), ..stream("a", name, 3_600) };
    s.register_schedules(&[hourly("s1"), hourly("s2")], at(400)).await.unwrap();
    let rows = s.schedule_rows().await.unwrap();
    assert_eq!((rows[0].cadence.as_str(), rows[0].next_due_at), ("every 1h", at(3_600)));
    assert_eq!((rows[1].cadence.as_str(), rows[1].next_due_at), ("every 15m", at(0)));
}

async fn concurrent_claims_never_share_a_sync(backend: Backend) {
    let t = fresh_store(backend).await;
    let connections: Vec<String> = (0..6).map(|i| format!("c{i}")).collect();
    let streams: Vec<ScheduledStream> =
        connections.iter().flat_map(|c| (0..4).map(move |i| stream(c, &format!("s{i}"), i))).collect();
    t.store.register_schedules(&streams, at(0)).await.unwrap();
    let mut tasks = Vec::new();
    for r in 0..8 {
        let store = t.store.clone();
        let connections = connections.clone();
        tasks.push(tokio::spawn(async move {
            let mut claimed = Vec::new();
            while let Some(c) = store.claim_due(&format!("r{r}"), &connections, 2, at(10), TTL).await.unwrap()
            {
                claimed.push((c.connection, c.stream));
            }
            claimed
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    // Two per connection at most, and no stream twice.
    assert_eq!(all.len(), 12, "{all:?}");
    let distinct: BTreeSet<_> = all.iter().cloned().collect();
    assert_eq!(distinct.len(), 12);
    for c in &connections {
        assert_eq!(all.iter().filter(|(conn, _)| conn == c).count(), 2, "{c}");
    }
}

async fn status_shows_schedule_lease_and_last_runs(backend: Backend) {
    let t = fresh_store(backend).await;
    let s = &t.store;
    s.register_schedules(&[stream("a", "tickets", 0), stream("a", "users", 0)], at(0)).await.unwrap();
    s.claim_due("r1", &names(&["a"]), 1, at(0), TTL).await.unwrap().unwrap();
    let scheduled = ScheduledRun { due_at: at(0), runner: "r1".into() };
    let ok = s.start_scheduled_run("a", "tickets", Some(&scheduled)).await.unwrap();
    let records: Vec<_> = (0..7).map(|i| sample_ticket(&format!("t{i}"), 1, 300)).collect();
    s.commit_page("a", "tickets", PageWrite { records: &records, ..Default::default() }).await.unwrap();
    let summary = RunSummary {
        status: RunStatus::Succeeded,
        pages: 1,
        records: 7,
        quarantined: 0,
        error: None,
        details: None,
    };
    s.finish_run(ok, &summary).await.unwrap();
    let bad = s.start_scheduled_run("a", "tickets", Some(&scheduled)).await.unwrap();
    let failed = RunSummary {
        status: RunStatus::Failed,
        error: Some("HTTP 401".into()),
        records: 0,
        pages: 0,
        ..summary.clone()
    };
    s.finish_run(bad, &failed).await.unwrap();
    // A manual `engage sync` of another connection shows up too, without a schedule.
    let manual = s.start_run("b", "tickets").await.unwrap();
    s.finish_run(manual, &RunSummary { records: 3, ..summary.clone() }).await.unwrap();

    let status = s.stream_status().await.unwrap();
    let keys: Vec<(&str, &str)> = status.iter().map(|s| (s.connection.as_str(), s.stream.as_str())).collect();
    assert_eq!(keys, [("a", "tickets"), ("a", "users"), ("b", "tickets")]);
    let tickets = &status[0];
    let schedule = tickets.schedule.as_ref().unwrap();
    assert_eq!(
        (schedule.holder.as_deref(), schedule.lease_expires_at, schedule.next_due_at),
        (Some("r1"), Some(at(30)), at(0))
    );
    assert_eq!((tickets.last_success_records, tickets.stored_records), (Some(7), 7));
    assert!(tickets.last_success_at.is_some() && tickets.last_failure_at.is_some());
    assert_eq!(tickets.last_error.as_deref(), Some("HTTP 401"));
    assert_eq!(
        (status[1].schedule.as_ref().unwrap().holder.as_deref(), status[1].last_success_at),
        (None, None)
    );
    assert_eq!((status[2].schedule.as_ref(), status[2].last_success_records), (None, Some(3)));
    // The latest run of each stream, whatever its status.
    let last = tickets.last_run.as_ref().unwrap();
    assert_eq!(
        (last.run_id, last.status, last.error.as_deref()),
        (bad.0, RunStatus::Failed, Some("HTTP 401"))
    );
    assert_eq!(status[1].last_run, None);
    assert_eq!(status[2].last_run.as_ref().map(|r| r.run_id), Some(manual.0));
}

async fn sqlite_admits_one_runner(backend: Backend) {
    let t = fresh_store(backend).await;
    let first = t.store.lock_runner("host-a:101").await.unwrap();
    let other = Store::open(&t.url).await.unwrap();
    match backend {
        Backend::Sqlite => {
            let err = other.lock_runner("host-b:202").await.unwrap_err();
            assert!(matches!(&err, StoreError::RunnerLocked { holder } if holder == "host-a:101"), "{err}");
            assert_eq!(
                err.to_string(),
                "another runner (host-a:101) is already running on this SQLite store; SQLite allows one runner \
                 at a time (stop it first, or use a PostgreSQL store to run several)"
            );
            drop(first);
            other.lock_runner("host-b:202").await.unwrap();
        }
        Backend::Postgres => {
            other.lock_runner("host-b:202").await.unwrap();
        }
    }
}
