//! The runner on a paused clock (tokio test-util): an in-memory backend with the store's lease
//! rules and scripted syncs that take scheduler time, so every due time, retry, pause, timeout,
//! shutdown and takeover happens at an exact, asserted instant.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::any::Any;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use engage_config::{Cadence, Schedule, SchedulerConfig, Secret};
use engage_connect::ErrorClass;
use engage_runner::{Progress, RunnerError, StreamOutcome, SyncOptions};
use engage_scheduler::{Backend, Clock, Plan, Scheduler};
use engage_store::{Claim, Release, RunId, RunStatus, ScheduledRun, ScheduledStream, StoreError};
use tokio_util::sync::CancellationToken;

fn at(hms: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("2025-06-01T{hms}Z")).unwrap().with_timezone(&Utc)
}

const MIN: Duration = Duration::from_secs(60);

/// What one sync of a stream does.
#[derive(Clone, Debug)]
enum Script {
    /// Succeeds after this long, committing one page of 10 records.
    Ok(Duration),
    /// Fails after this long.
    Fail(Duration, ErrorClass, Option<Duration>),
    /// Never ends by itself.
    Hang,
}

#[derive(Clone, Debug, PartialEq)]
struct Run {
    id: i64,
    connection: String,
    stream: String,
    due_at: DateTime<Utc>,
    runner: String,
    started: DateTime<Utc>,
    ended: Option<DateTime<Utc>>,
    status: RunStatus,
    error: Option<String>,
}

struct Row {
    next_due: DateTime<Utc>,
    start_after: DateTime<Utc>,
    attempt: u32,
    holder: Option<String>,
    lease_end: Option<DateTime<Utc>>,
    failing: bool,
}

/// The store's lease rules in memory, and scripted syncs.
struct Fake {
    clock: Clock,
    rows: Mutex<BTreeMap<(String, String), Row>>,
    scripts: Mutex<HashMap<(String, String), VecDeque<Script>>>,
    runs: Mutex<Vec<Run>>,
    next_id: AtomicI64,
}

impl Fake {
    fn new(clock: &Clock) -> Arc<Fake> {
        Arc::new(Fake {
            clock: clock.clone(),
            rows: Mutex::default(),
            scripts: Mutex::default(),
            runs: Mutex::default(),
            next_id: AtomicI64::new(1),
        })
    }

    fn script(&self, connection: &str, stream: &str, steps: Vec<Script>) {
        self.scripts.lock().unwrap().insert((connection.into(), stream.into()), steps.into());
    }

    fn runs_of(&self, connection: &str, stream: &str) -> Vec<Run> {
        self.runs
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.connection == connection && r.stream == stream)
            .cloned()
            .collect()
    }

    /// The due times with a succeeded run, in order.
    fn served(&self, connection: &str, stream: &str) -> Vec<DateTime<Utc>> {
        self.runs_of(connection, stream)
            .iter()
            .filter(|r| r.status == RunStatus::Succeeded)
            .map(|r| r.due_at)
            .collect()
    }
}

#[async_trait]
impl Backend for Fake {
    async fn lock_runner(&self, _runner: &str) -> Result<Box<dyn Any + Send + Sync>, StoreError> {
        Ok(Box::new(()))
    }

    async fn register_schedules(
        &self,
        streams: &[ScheduledStream],
        _now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut rows = self.rows.lock().unwrap();
        for s in streams {
            rows.entry((s.connection.clone(), s.stream.clone())).or_insert(Row {
                next_due: s.first_due,
                start_after: s.first_start,
                attempt: 0,
                holder: None,
                lease_end: None,
                failing: false,
            });
        }
        Ok(())
    }

    async fn claim_due(
        &self,
        runner: &str,
        connections: &[String],
        per_connection: usize,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Option<Claim>, StoreError> {
        let mut rows = self.rows.lock().unwrap();
        let mut candidates: Vec<(DateTime<Utc>, (String, String))> = rows
            .iter()
            .filter(|((c, _), r)| {
                connections.contains(c)
                    && r.start_after <= now
                    && (r.holder.is_none()
                        || (r.lease_end < Some(now) && r.holder.as_deref() != Some(runner)))
            })
            .map(|(k, r)| (r.start_after, k.clone()))
            .collect();
        candidates.sort();
        for (_, (c, s)) in candidates {
            let active = rows
                .iter()
                .filter(|((c2, s2), r)| {
                    *c2 == c && *s2 != s && r.holder.is_some() && r.lease_end >= Some(now)
                })
                .count();
            if active >= per_connection {
                continue;
            }
            let row = rows.get_mut(&(c.clone(), s.clone())).unwrap();
            let old = row.holder.replace(runner.to_owned());
            row.lease_end = Some(now + chrono::Duration::from_std(ttl).unwrap());
            return Ok(Some(Claim {
                connection: c,
                stream: s,
                due_at: row.next_due,
                attempt: row.attempt,
                taken_over_from: old,
                failing: row.failing,
            }));
        }
        Ok(None)
    }

    async fn next_wake(&self, _connections: &[String]) -> Result<Option<DateTime<Utc>>, StoreError> {
        let rows = self.rows.lock().unwrap();
        Ok(rows.values().map(|r| if r.holder.is_none() { r.start_after } else { r.lease_end.unwrap() }).min())
    }

    async fn renew_lease(
        &self,
        connection: &str,
        stream: &str,
        runner: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut rows = self.rows.lock().unwrap();
        let row = rows.get_mut(&(connection.into(), stream.into())).unwrap();
        if row.holder.as_deref() != Some(runner) {
            return Ok(false);
        }
        row.lease_end = Some(now + chrono::Duration::from_std(ttl).unwrap());
        Ok(true)
    }

    async fn release_lease(
        &self,
        connection: &str,
        stream: &str,
        runner: &str,
        release: &Release,
        _now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut rows = self.rows.lock().unwrap();
        let row = rows.get_mut(&(connection.into(), stream.into())).unwrap();
        if row.holder.as_deref() != Some(runner) {
            return Ok(false);
        }
        (row.holder, row.lease_end) = (None, None);
        match release {
            Release::Served { next_due, start_after, failed } => {
                (row.next_due, row.start_after, row.attempt, row.failing) =
                    (*next_due, *start_after, 0, *failed);
            }
            Release::Again { start_after, attempt, .. } => {
                (row.start_after, row.attempt) = (*start_after, *attempt)
            }
        }
        Ok(true)
    }

    async fn count_attempt(
        &self,
        connection: &str,
        stream: &str,
        runner: &str,
        attempt: u32,
    ) -> Result<bool, StoreError> {
        let mut rows = self.rows.lock().unwrap();
        let row = rows.get_mut(&(connection.into(), stream.into())).unwrap();
        if row.holder.as_deref() != Some(runner) {
            return Ok(false);
        }
        row.attempt = attempt;
        Ok(true)
    }

    async fn abandon_runs(
        &self,
        connection: &str,
        stream: &str,
        runner: &str,
        message: &str,
    ) -> Result<u64, StoreError> {
        let mut n = 0;
        for r in self.runs.lock().unwrap().iter_mut() {
            if r.connection == connection
                && r.stream == stream
                && r.runner == runner
                && r.status == RunStatus::Running
            {
                (r.status, r.error) = (RunStatus::Failed, Some(message.to_owned()));
                n += 1;
            }
        }
        Ok(n)
    }

    async fn sync(
        &self,
        connection: &str,
        stream: &str,
        options: &SyncOptions,
        scheduled: &ScheduledRun,
    ) -> Result<StreamOutcome, RunnerError> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let started = self.clock.now();
        self.runs.lock().unwrap().push(Run {
            id,
            connection: connection.into(),
            stream: stream.into(),
            due_at: scheduled.due_at,
            runner: scheduled.runner.clone(),
            started,
            ended: None,
            status: RunStatus::Running,
            error: None,
        });
        let script = self
            .scripts
            .lock()
            .unwrap()
            .get_mut(&(connection.into(), stream.into()))
            .and_then(VecDeque::pop_front)
            .unwrap_or(Script::Ok(MIN));
        let takes = match &script {
            Script::Ok(d) | Script::Fail(d, ..) => Some(*d),
            Script::Hang => None,
        };
        let finished = async {
            match takes {
                Some(d) => self.clock.sleep(d).await,
                None => std::future::pending().await,
            }
        };
        let cancelled = tokio::select! {
            _ = finished => false,
            _ = options.cancel.cancelled() => true,
        };
        let mut outcome = StreamOutcome {
            connection: connection.into(),
            stream: stream.into(),
            run_id: RunId(id),
            status: RunStatus::Succeeded,
            pages: 0,
            records: 0,
            written: 0,
            quarantined: 0,
            error: None,
            error_class: None,
            retry_after: None,
            elapsed: Duration::ZERO,
        };
        match (cancelled, script) {
            (true, _) => outcome.status = RunStatus::Cancelled,
            (false, Script::Fail(_, class, retry_after)) => {
                outcome.status = RunStatus::Failed;
                outcome.error = Some(format!("scripted {class:?} failure"));
                (outcome.error_class, outcome.retry_after) = (Some(class), retry_after);
            }
            _ => {
                (outcome.pages, outcome.records) = (1, 10);
                if let Some(progress) = &options.progress {
                    progress(&Progress {
                        connection: connection.into(),
                        stream: stream.into(),
                        pages: 1,
                        records: 10,
                        quarantined: 0,
                        elapsed: Duration::ZERO,
                    });
                }
            }
        }
        let mut runs = self.runs.lock().unwrap();
        let run = runs.iter_mut().find(|r| r.id == id).unwrap();
        // A run abandoned by a takeover keeps that verdict.
        if run.status == RunStatus::Running {
            (run.status, run.error, run.ended) =
                (outcome.status, outcome.error.clone(), Some(self.clock.now()));
        }
        Ok(outcome)
    }
}

fn every(minutes: u64, jitter: Duration) -> Schedule {
    Schedule { jitter, ..Schedule::new(Cadence::Every(MIN * minutes as u32)) }
}

fn plan(connection: &str, stream: &str, schedule: &Schedule) -> Plan {
    Plan { connection: connection.into(), stream: stream.into(), schedule: schedule.clone() }
}

fn settings() -> SchedulerConfig {
    SchedulerConfig { retry_backoff: MIN, lease_ttl: MIN, ..SchedulerConfig::default() }
}

fn runner(
    fake: &Arc<Fake>,
    settings: SchedulerConfig,
    plans: Vec<Plan>,
    id: &str,
    clock: &Clock,
) -> Scheduler {
    Scheduler::with_backend(fake.clone(), settings, plans, Vec::new(), id, clock.clone()).unwrap()
}

/// Runs `scheduler` until scheduler time `until`, then stops it; returns when it has stopped.
async fn run_until(scheduler: Scheduler, clock: &Clock, until: DateTime<Utc>) {
    let stop = CancellationToken::new();
    let task = tokio::spawn(scheduler.run(stop.clone()));
    clock.sleep_until(until).await;
    stop.cancel();
    task.await.unwrap().unwrap();
}

/// Asserts `t` is within a second after `expected` (the runner wakes 25 ms after a due time).
fn near(t: DateTime<Utc>, expected: DateTime<Utc>) {
    assert!(t >= expected && t - expected < chrono::Duration::seconds(1), "{t} is not just after {expected}");
}

#[tokio::test(start_paused = true)]
async fn every_due_time_runs_once_on_schedule_within_the_limits() {
    let clock = Clock::tokio(at("10:07:00"));
    let fake = Fake::new(&clock);
    let quarter = every(15, Duration::ZERO);
    let hourly = every(60, Duration::from_secs(300));
    let plans =
        vec![plan("a", "tickets", &quarter), plan("a", "users", &quarter), plan("b", "tickets", &hourly)];
    let scheduler = runner(&fake, settings(), plans, "r1", &clock);
    let metrics = scheduler.observed().metrics;
    run_until(scheduler, &clock, at("13:07:00")).await;

    let quarters: Vec<_> = (0..13).map(|i| at("10:00:00") + chrono::Duration::minutes(15 * i)).collect();
    assert_eq!(fake.served("a", "tickets"), quarters);
    assert_eq!(fake.served("a", "users"), quarters);
    let hours: Vec<_> = (0..4).map(|i| at("10:00:00") + chrono::Duration::hours(i)).collect();
    assert_eq!(fake.served("b", "tickets"), hours);
    // The first due times are served at start; the others when due (plus jitter for `b`), and
    // never two syncs of connection `a` at once (its limit is one): `users` follows `tickets`.
    let tickets = fake.runs_of("a", "tickets");
    let users = fake.runs_of("a", "users");
    near(tickets[0].started, at("10:07:00"));
    near(users[0].started, at("10:08:00"));
    for (t, u) in tickets.iter().zip(&users).skip(1) {
        near(t.started, t.due_at);
        near(u.started, t.ended.unwrap());
    }
    let b = fake.runs_of("b", "tickets");
    near(b[0].started, at("10:07:00"));
    let hourly_plan = plan("b", "tickets", &hourly);
    for r in &b[1..] {
        near(r.started, hourly_plan.start_after(r.due_at));
        assert!(r.started > r.due_at, "jitter delays {r:?}");
    }
    // The counters: 30 succeeded runs of 10 records each.
    let text = metrics.render();
    for line in [
        "engage_sync_records_total{connection=\"a\",stream=\"tickets\"} 130",
        "engage_sync_pages_total{connection=\"b\",stream=\"tickets\"} 4",
        "engage_syncs_total{connection=\"a\",stream=\"users\",status=\"succeeded\"} 13",
        "engage_syncs_running 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing `{line}`");
    }
}

/// Notifications received by a webhook on 127.0.0.1.
async fn webhook() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let store = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let store = store.clone();
            async move {
                store.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

#[tokio::test(start_paused = true)]
async fn failures_are_retried_with_backoff_then_reported_and_the_recovery_too() {
    let clock = Clock::tokio(at("10:07:00"));
    let fake = Fake::new(&clock);
    let fail = Script::Fail(MIN, ErrorClass::Retry, None);
    fake.script("a", "tickets", vec![fail.clone(), fail.clone(), fail]);
    let (url, received) = webhook().await;
    let config = SchedulerConfig { retries: 2, webhook_url: Some(Secret::new(url)), ..settings() };
    let scheduler =
        runner(&fake, config, vec![plan("a", "tickets", &every(15, Duration::ZERO))], "r1", &clock);
    let metrics = scheduler.observed().metrics;
    run_until(scheduler, &clock, at("10:20:00")).await;

    let runs = fake.runs_of("a", "tickets");
    let summary: Vec<(DateTime<Utc>, RunStatus)> = runs.iter().map(|r| (r.due_at, r.status)).collect();
    assert_eq!(
        summary,
        [
            (at("10:00:00"), RunStatus::Failed),
            (at("10:00:00"), RunStatus::Failed),
            (at("10:00:00"), RunStatus::Failed),
            (at("10:15:00"), RunStatus::Succeeded),
        ]
    );
    // Backoff of one minute, then two, after each failed minute-long attempt.
    for (run, start) in runs.iter().zip(["10:07:00", "10:09:00", "10:12:00", "10:15:00"]) {
        near(run.started, at(start));
    }
    let bodies = received.lock().unwrap().clone();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert_eq!(
        bodies[0],
        serde_json::json!({
            "event": "sync_failed", "connection": "a", "stream": "tickets", "error_class": "retry",
            "message": "scripted Retry failure", "run_id": runs[2].id, "due_at": "2025-06-01T10:00:00Z",
            "attempts": 3, "runner": "r1",
        })
    );
    assert_eq!(bodies[1]["event"], "sync_recovered");
    assert_eq!((bodies[1]["run_id"].as_i64(), bodies[1]["error_class"].is_null()), (Some(runs[3].id), true));
    let text = metrics.render();
    for line in [
        "engage_sync_retries_total{connection=\"a\",stream=\"tickets\"} 2",
        "engage_sync_failures_total{connection=\"a\",stream=\"tickets\",class=\"retry\"} 1",
        "engage_syncs_total{connection=\"a\",stream=\"tickets\",status=\"failed\"} 3",
    ] {
        assert!(text.lines().any(|l| l == line), "missing `{line}`");
    }
}

#[tokio::test(start_paused = true)]
async fn a_stream_paused_by_its_vendor_waits_instead_of_failing() {
    let clock = Clock::tokio(at("10:07:00"));
    let fake = Fake::new(&clock);
    let quota = Script::Fail(MIN, ErrorClass::Retry, Some(Duration::from_secs(2 * 3_600)));
    fake.script("a", "tickets", vec![quota]);
    let config = SchedulerConfig { retries: 0, ..settings() };
    let scheduler =
        runner(&fake, config, vec![plan("a", "tickets", &every(15, Duration::ZERO))], "r1", &clock);
    let metrics = scheduler.observed().metrics;
    run_until(scheduler, &clock, at("12:20:00")).await;

    let runs = fake.runs_of("a", "tickets");
    let summary: Vec<(DateTime<Utc>, RunStatus)> = runs.iter().map(|r| (r.due_at, r.status)).collect();
    // Asked to wait two hours, it tries the same due time again then (no retry was used up, no
    // failure reported); the due times passed meanwhile are served once, as 12:00.
    assert_eq!(
        summary,
        [
            (at("10:00:00"), RunStatus::Failed),
            (at("10:00:00"), RunStatus::Succeeded),
            (at("12:00:00"), RunStatus::Succeeded),
            (at("12:15:00"), RunStatus::Succeeded),
        ]
    );
    near(runs[1].started, at("12:08:00"));
    near(runs[2].started, at("12:09:00"));
    let text = metrics.render();
    assert!(text.lines().any(|l| l == "engage_sync_paused_total{connection=\"a\",stream=\"tickets\"} 1"));
    assert!(!text.lines().any(|l| l.starts_with("engage_sync_failures_total") && !l.ends_with(" 0")));
}

#[tokio::test(start_paused = true)]
async fn a_sync_past_its_timeout_is_cancelled_and_fails() {
    let clock = Clock::tokio(at("10:07:00"));
    let fake = Fake::new(&clock);
    fake.script("a", "tickets", vec![Script::Hang]);
    let config = SchedulerConfig { retries: 0, sync_timeout: 10 * MIN, ..settings() };
    let scheduler =
        runner(&fake, config, vec![plan("a", "tickets", &every(60, Duration::ZERO))], "r1", &clock);
    let metrics = scheduler.observed().metrics;
    run_until(scheduler, &clock, at("11:05:00")).await;

    let runs = fake.runs_of("a", "tickets");
    assert_eq!(runs.len(), 2);
    assert_eq!((runs[0].due_at, runs[0].status), (at("10:00:00"), RunStatus::Cancelled));
    near(runs[0].ended.unwrap(), at("10:17:00"));
    assert_eq!((runs[1].due_at, runs[1].status), (at("11:00:00"), RunStatus::Succeeded));
    let text = metrics.render();
    assert!(
        text.lines()
            .any(|l| l
                == "engage_sync_failures_total{connection=\"a\",stream=\"tickets\",class=\"timeout\"} 1")
    );
}

#[tokio::test(start_paused = true)]
async fn stopping_mid_sync_releases_the_due_time_for_the_next_start() {
    let clock = Clock::tokio(at("10:07:00"));
    let fake = Fake::new(&clock);
    fake.script("a", "tickets", vec![Script::Ok(10 * MIN)]);
    let plans = vec![plan("a", "tickets", &every(60, Duration::ZERO))];
    let stop = CancellationToken::new();
    let task = tokio::spawn(runner(&fake, settings(), plans.clone(), "r1", &clock).run(stop.clone()));
    clock.sleep_until(at("10:10:00")).await;
    stop.cancel();
    // It stops at once: the sync is cancelled, the lease released, the due time still due.
    tokio::time::timeout(Duration::from_secs(1), task).await.unwrap().unwrap().unwrap();
    let runs = fake.runs_of("a", "tickets");
    assert_eq!((runs.len(), runs[0].status, runs[0].ended), (1, RunStatus::Cancelled, Some(at("10:10:00"))));
    {
        let rows = fake.rows.lock().unwrap();
        let row = &rows[&("a".to_owned(), "tickets".to_owned())];
        assert_eq!((row.holder.as_deref(), row.next_due, row.attempt), (None, at("10:00:00"), 0));
    }
    // The next start serves it.
    run_until(runner(&fake, settings(), plans, "r2", &clock), &clock, at("10:15:00")).await;
    assert_eq!(fake.served("a", "tickets"), [at("10:00:00")]);
    assert_eq!(fake.runs_of("a", "tickets")[1].runner, "r2");
}

#[tokio::test(start_paused = true)]
async fn a_dead_runners_sync_is_taken_over_when_its_lease_expires() {
    let clock = Clock::tokio(at("10:07:00"));
    let fake = Fake::new(&clock);
    fake.script("a", "tickets", vec![Script::Ok(10 * MIN), Script::Ok(5 * MIN)]);
    let plans = vec![plan("a", "tickets", &every(60, Duration::ZERO))];
    let first =
        tokio::spawn(runner(&fake, settings(), plans.clone(), "r1", &clock).run(CancellationToken::new()));
    clock.sleep_until(at("10:07:30")).await;
    let second = runner(&fake, settings(), plans, "r2", &clock);
    let stop = CancellationToken::new();
    let survivor = tokio::spawn(second.run(stop.clone()));
    clock.sleep_until(at("10:09:10")).await;
    // r1 dies mid-sync: nothing of it runs any more, its lease (renewed every 20 s for a
    // minute) runs out and r2 takes the same due time over.
    first.abort();
    clock.sleep_until(at("10:30:00")).await;
    stop.cancel();
    survivor.await.unwrap().unwrap();

    let runs = fake.runs_of("a", "tickets");
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!((runs[0].runner.as_str(), runs[0].status), ("r1", RunStatus::Failed));
    assert_eq!(
        runs[0].error.as_deref(),
        Some("abandoned: runner r1 stopped renewing its lease; taken over by r2")
    );
    assert_eq!(
        (runs[1].runner.as_str(), runs[1].due_at, runs[1].status),
        ("r2", at("10:00:00"), RunStatus::Succeeded)
    );
    // Last renewal at 10:09:07 or so, lease to 10:10:07; r2 looks again within its idle cap.
    assert!(runs[1].started > at("10:10:00") && runs[1].started < at("10:10:30"), "{:?}", runs[1].started);
}
