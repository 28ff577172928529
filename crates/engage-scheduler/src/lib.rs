//! `engage run`: keeps every connection fresh on its schedule.
//!
//! A runner registers one `sync_schedule` row per scheduled (connection, stream) in the store,
//! then loops: claim due syncs (within `max_concurrent_syncs` and the per-connection limit),
//! serve each under a lease it renews, and release it with the next due time, computed from
//! the schedule. Several runners on one PostgreSQL store share the work that way; a runner
//! that dies stops renewing, its lease expires and another takes the sync over from the last
//! committed checkpoint. On SQLite one runner holds the store's runner lock.
//!
//! A failed attempt is retried with backoff before the due time is reported failed (then the
//! webhook hears of it, and again when the stream recovers); a stream its vendor pauses waits
//! for the time asked; a sync running past `sync_timeout` is cancelled and counts as failed.
//! Cancelling the runner's token finishes the pages in flight, commits them, releases the
//! leases (the due times stay due, so the next start resumes them) and returns.

mod backend;
mod clock;
mod metrics;
mod notify;
mod plan;
mod server;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use engage_config::{Config, SchedulerConfig};
use engage_connect::ErrorClass;
use engage_connect::HttpClients;
use engage_runner::{Connection, ProgressFn, StreamOutcome, SyncOptions};
use engage_store::{Claim, Release, RunStatus, ScheduledRun, ScheduledStream, Store, StoreError};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use backend::{Backend, StoreBackend};
pub use clock::Clock;
pub use metrics::{CLASSES, Metrics, STATUSES};
pub use notify::{Notification, Notifier};
pub use plan::{Next, Plan, backoff};
pub use server::{Observed, serve};

/// Errors that stop a runner.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchedulerError {
    /// The store failed where the runner cannot go on (e.g. another runner holds SQLite).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The configuration names something the connectors do not have.
    #[error("{0}")]
    Config(String),
    /// The webhook client could not be built.
    #[error("webhook: {0}")]
    Webhook(String),
}

/// Shortest real pause between two claim rounds when nothing could be claimed.
const MIN_IDLE: Duration = Duration::from_millis(25);
/// Longest pause (scheduler time) between two claim rounds: other runners' releases may make
/// something due earlier than the store said.
const MAX_IDLE: Duration = Duration::from_secs(15);

/// A runner: the connections it serves, their plans, and its settings.
pub struct Scheduler {
    store: Arc<dyn Backend>,
    /// Enabled connections, in configuration order.
    names: Vec<String>,
    plans: HashMap<(String, String), Plan>,
    settings: SchedulerConfig,
    clock: Clock,
    id: String,
    metrics: Arc<Metrics>,
    notifier: Option<Notifier>,
    healthy: Arc<AtomicBool>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("id", &self.id)
            .field("connections", &self.names)
            .finish_non_exhaustive()
    }
}

/// A runner's id: `HOST:PID:START` (start in Unix seconds), unique per process.
pub fn runner_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}:{}", std::process::id(), Utc::now().timestamp())
}

impl Scheduler {
    /// A runner for the enabled connections of `config`, built by the runner's registry
    /// (`connections`), with `id` and `clock`. Fails when a schedule names a stream its
    /// connection does not have.
    pub fn new(
        store: Store,
        config: &Config,
        connections: Vec<Connection>,
        id: impl Into<String>,
        clock: Clock,
    ) -> Result<Scheduler, SchedulerError> {
        let settings = config.scheduler.clone();
        let mut plans = Vec::new();
        let mut http = Vec::new();
        let mut by_name = HashMap::new();
        for conn in connections {
            if !conn.config.enabled {
                continue;
            }
            let name = conn.config.name.clone();
            let schedule = conn.config.schedule.clone().unwrap_or_else(|| settings.default_schedule.clone());
            let offered: Vec<&str> = conn.connector.streams().iter().map(|s| s.name).collect();
            if let Some(unknown) = schedule.streams.keys().find(|s| !offered.contains(&s.as_str())) {
                return Err(SchedulerError::Config(format!(
                    "connection `{name}`: the schedule names stream `{unknown}`, which it does not have (streams: {})",
                    offered.join(", ")
                )));
            }
            for stream in offered {
                plans.push(Plan {
                    connection: name.clone(),
                    stream: stream.to_owned(),
                    schedule: schedule.for_stream(stream).clone(),
                });
            }
            http.push((name.clone(), conn.http.clone()));
            by_name.insert(name, Arc::new(conn));
        }
        let backend = Arc::new(StoreBackend::new(store, by_name));
        Scheduler::with_backend(backend, settings, plans, http, id, clock)
    }

    /// A runner serving `plans` through `backend` (the store, or a stand-in in tests).
    pub fn with_backend(
        backend: Arc<dyn Backend>,
        settings: SchedulerConfig,
        plans: Vec<Plan>,
        http: Vec<(String, HttpClients)>,
        id: impl Into<String>,
        clock: Clock,
    ) -> Result<Scheduler, SchedulerError> {
        let mut names: Vec<String> = Vec::new();
        for p in &plans {
            if !names.contains(&p.connection) {
                names.push(p.connection.clone());
            }
        }
        let streams: Vec<(String, String)> =
            plans.iter().map(|p| (p.connection.clone(), p.stream.clone())).collect();
        let plans = plans.into_iter().map(|p| ((p.connection.clone(), p.stream.clone()), p)).collect();
        let notifier = match &settings.webhook_url {
            Some(url) => {
                Some(Notifier::new(url.clone()).map_err(|e| SchedulerError::Webhook(e.to_string()))?)
            }
            None => None,
        };
        Ok(Scheduler {
            store: backend,
            names,
            plans,
            settings,
            clock,
            id: id.into(),
            metrics: Arc::new(Metrics::new(&streams, http)),
            notifier,
            healthy: Arc::new(AtomicBool::new(true)),
        })
    }

    /// The runner's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What `/metrics` and `/healthz` read.
    pub fn observed(&self) -> Observed {
        Observed {
            metrics: Arc::clone(&self.metrics),
            healthy: Arc::clone(&self.healthy),
            runner: self.id.clone(),
        }
    }

    /// The plan of every scheduled stream.
    pub fn plans(&self) -> impl Iterator<Item = &Plan> {
        self.plans.values()
    }

    /// Serves `/metrics` and `/healthz` on `addr` until `stop`.
    pub async fn serve_metrics(
        &self,
        addr: SocketAddr,
        stop: CancellationToken,
    ) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        serve(addr, self.observed(), stop).await
    }

    /// Runs until `shutdown` is cancelled, then finishes the pages in flight, releases its
    /// leases and returns.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), SchedulerError> {
        let _lock = self.store.lock_runner(&self.id).await?;
        let now = self.clock.now();
        let registered: Vec<ScheduledStream> = self
            .plans
            .values()
            .map(|p| {
                let due = p.first_due(now);
                ScheduledStream {
                    connection: p.connection.clone(),
                    stream: p.stream.clone(),
                    cadence: p.cadence(),
                    first_due: due,
                    first_start: p.start_after(due),
                }
            })
            .collect();
        self.store.register_schedules(&registered, now).await?;
        tracing::info!(runner = %self.id, streams = registered.len(), "runner started");
        let me = Arc::new(self);
        let mut tasks: JoinSet<String> = JoinSet::new();
        let mut running: HashMap<String, usize> = HashMap::new();
        let per_connection = me.settings.max_concurrent_per_connection.max(1);
        let mut store_failures = 0u32;
        while !shutdown.is_cancelled() {
            let mut idle_until = None;
            while tasks.len() < me.settings.max_concurrent_syncs.max(1) {
                let eligible: Vec<String> = me
                    .names
                    .iter()
                    .filter(|n| running.get(*n).copied().unwrap_or(0) < per_connection)
                    .cloned()
                    .collect();
                let now = me.clock.now();
                match me.store.claim_due(&me.id, &eligible, per_connection, now, me.settings.lease_ttl).await
                {
                    Ok(Some(claim)) => {
                        store_failures = 0;
                        me.healthy.store(true, Ordering::SeqCst);
                        *running.entry(claim.connection.clone()).or_default() += 1;
                        let runner = Arc::clone(&me);
                        let stop = shutdown.clone();
                        tasks.spawn(async move {
                            let connection = claim.connection.clone();
                            runner.serve(claim, stop).await;
                            connection
                        });
                    }
                    Ok(None) => {
                        store_failures = 0;
                        me.healthy.store(true, Ordering::SeqCst);
                        let wake = me.store.next_wake(&me.names).await.ok().flatten();
                        idle_until = Some(
                            wake.unwrap_or(now + chrono::Duration::from_std(MAX_IDLE).unwrap_or_default()),
                        );
                        break;
                    }
                    Err(e) => {
                        store_failures += 1;
                        me.healthy.store(false, Ordering::SeqCst);
                        tracing::warn!(runner = %me.id, error = %e, "claiming due syncs failed; trying again");
                        let pause = Duration::from_millis(250 * u64::from(store_failures.min(20)));
                        idle_until = Some(now + chrono::Duration::from_std(pause).unwrap_or_default());
                        break;
                    }
                }
            }
            let now = me.clock.now();
            let cap = now + chrono::Duration::from_std(MAX_IDLE).unwrap_or_default();
            let until = idle_until.map_or(cap, |t| t.min(cap));
            let clock = me.clock.clone();
            let idle = async move {
                // At least a short real pause, so a due sync that cannot be claimed yet (its
                // connection is at its limit) does not spin.
                tokio::time::sleep(MIN_IDLE).await;
                clock.sleep_until(until).await;
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Ok(connection) = done
                        && let Some(n) = running.get_mut(&connection)
                    {
                        *n = n.saturating_sub(1);
                    }
                }
                _ = idle, if idle_until.is_some() || tasks.len() >= me.settings.max_concurrent_syncs.max(1) => {}
            }
        }
        tracing::info!(runner = %me.id, running = tasks.len(), "stopping: committing the pages in flight");
        while tasks.join_next().await.is_some() {}
        tracing::info!(runner = %me.id, "runner stopped");
        Ok(())
    }

    /// Serves one claimed due time: one attempt, then the release that follows from it.
    async fn serve(self: Arc<Self>, claim: Claim, shutdown: CancellationToken) {
        let (connection, stream) = (claim.connection.clone(), claim.stream.clone());
        let Some(plan) = self.plans.get(&(connection.clone(), stream.clone())).cloned() else { return };
        if let Some(old) = &claim.taken_over_from {
            let message =
                format!("abandoned: runner {old} stopped renewing its lease; taken over by {}", self.id);
            match self.store.abandon_runs(&connection, &stream, old, &message).await {
                Ok(n) => {
                    tracing::warn!(runner = %self.id, connection, stream, from = %old, abandoned_runs = n, "taking over a sync whose lease expired")
                }
                Err(e) => tracing::warn!(error = %e, "marking abandoned runs failed"),
            }
        }
        let attempt = claim.attempt + 1;
        if let Err(e) = self.store.count_attempt(&connection, &stream, &self.id, attempt).await {
            tracing::warn!(error = %e, connection, stream, "counting the attempt failed");
        }
        tracing::info!(runner = %self.id, connection, stream, due_at = %claim.due_at, attempt, "sync claimed");

        let cancel = shutdown.child_token();
        let lost = CancellationToken::new();
        // The lease is renewed while the sync runs (in this same future, so whatever ends the
        // serving ends the renewals); losing it cancels the sync.
        let heartbeat = async {
            let every = self.settings.lease_ttl / 3;
            loop {
                self.clock.sleep(every).await;
                let now = self.clock.now();
                match self
                    .store
                    .renew_lease(&connection, &stream, &self.id, now, self.settings.lease_ttl)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(runner = %self.id, connection, stream, "lease lost to another runner; stopping this sync");
                        lost.cancel();
                        cancel.cancel();
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, connection, stream, "renewing the lease failed"),
                }
            }
        };

        let tally = Arc::new(Mutex::new(metrics::SyncTally::default()));
        let progress: ProgressFn = {
            let (metrics, tally) = (Arc::clone(&self.metrics), Arc::clone(&tally));
            Arc::new(move |p| {
                let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
                metrics.progress(&mut t, p);
                tracing::debug!(connection = %p.connection, stream = %p.stream, pages = p.pages, records = p.records, "page committed");
            })
        };
        let options =
            SyncOptions { cancel: cancel.clone(), progress: Some(progress), ..SyncOptions::default() };
        let scheduled = ScheduledRun { due_at: claim.due_at, runner: self.id.clone() };
        self.metrics.running(1);
        let mut timed_out = false;
        let result = {
            let work = async {
                let mut sync = pin!(self.store.sync(&connection, &stream, &options, &scheduled));
                tokio::select! {
                    r = &mut sync => r,
                    _ = self.clock.sleep(self.settings.sync_timeout) => {
                        timed_out = true;
                        cancel.cancel();
                        sync.await
                    }
                }
            };
            let mut work = pin!(work);
            tokio::select! {
                r = &mut work => r,
                _ = heartbeat => work.await,
            }
        };
        self.metrics.running(-1);
        if lost.is_cancelled() {
            if let Ok(outcome) = &result {
                self.metrics.run_ended(
                    &connection,
                    &stream,
                    outcome.status.as_str(),
                    outcome.elapsed.as_secs_f64(),
                    self.clock.now().timestamp() as f64,
                );
            }
            return;
        }
        let now = self.clock.now();
        let outcome = match result {
            Ok(outcome) => {
                self.metrics.run_ended(
                    &connection,
                    &stream,
                    outcome.status.as_str(),
                    outcome.elapsed.as_secs_f64(),
                    now.timestamp() as f64,
                );
                outcome
            }
            Err(e) => {
                // The store failed around the sync: the same due time is tried again.
                tracing::warn!(runner = %self.id, connection, stream, error = %e, "sync could not be recorded");
                self.healthy.store(false, Ordering::SeqCst);
                let again = Release::Again {
                    start_after: now + chrono::Duration::seconds(5),
                    attempt: claim.attempt,
                    reason: Some(format!("store error: {e}")),
                };
                self.release(&claim, &again, now).await;
                return;
            }
        };
        let decision = self.decide(&plan, &claim, attempt, &outcome, timed_out, shutdown.is_cancelled(), now);
        self.release(&claim, &decision.release, now).await;
        if let Some(n) = decision.notify
            && let Some(notifier) = &self.notifier
        {
            notifier.send(&n).await;
        }
    }

    async fn release(&self, claim: &Claim, release: &Release, now: DateTime<Utc>) {
        match self.store.release_lease(&claim.connection, &claim.stream, &self.id, release, now).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(runner = %self.id, connection = %claim.connection, stream = %claim.stream, "lease was lost before release")
            }
            Err(e) => {
                self.healthy.store(false, Ordering::SeqCst);
                tracing::warn!(runner = %self.id, connection = %claim.connection, stream = %claim.stream, error = %e, "releasing the lease failed; it will expire");
            }
        }
    }

    /// What follows from one attempt's outcome.
    #[allow(clippy::too_many_arguments)]
    fn decide(
        &self,
        plan: &Plan,
        claim: &Claim,
        attempt: u32,
        outcome: &StreamOutcome,
        timed_out: bool,
        stopping: bool,
        now: DateTime<Utc>,
    ) -> Decision {
        let (connection, stream) = (claim.connection.as_str(), claim.stream.as_str());
        let served = |failed: bool| {
            let next = plan.next_after(claim.due_at, now);
            if next.skipped > 0 {
                tracing::warn!(connection, stream, skipped = next.skipped, next_due = %next.due, "due times passed while the sync was late; serving the latest once");
            }
            Release::Served { next_due: next.due, start_after: plan.start_after(next.due), failed }
        };
        let notification = |event: &'static str, class: Option<&str>, message: String| Notification {
            event,
            connection: connection.to_owned(),
            stream: stream.to_owned(),
            error_class: class.map(str::to_owned),
            message,
            run_id: Some(outcome.run_id.0),
            due_at: claim.due_at,
            attempts: attempt,
            runner: self.id.clone(),
        };
        match outcome.status {
            RunStatus::Succeeded | RunStatus::Running => {
                tracing::info!(runner = %self.id, connection, stream, due_at = %claim.due_at, records = outcome.records, pages = outcome.pages, "sync succeeded");
                let notify = claim.failing.then(|| {
                    notification(
                        "sync_recovered",
                        None,
                        format!("{connection}/{stream} synced again after failing"),
                    )
                });
                Decision { release: served(false), notify }
            }
            RunStatus::Cancelled if stopping && !timed_out => Decision {
                release: Release::Again {
                    start_after: now,
                    attempt: claim.attempt,
                    reason: Some("the runner stopped mid-sync; it resumes from its checkpoint".into()),
                },
                notify: None,
            },
            RunStatus::Cancelled | RunStatus::Failed => {
                let (class, message) = if timed_out {
                    (
                        "timeout",
                        format!(
                            "cancelled after the sync timeout ({})",
                            engage_config::format_duration(self.settings.sync_timeout)
                        ),
                    )
                } else {
                    let class = match outcome.error_class {
                        Some(ErrorClass::NeedsHuman) => "needs_human",
                        Some(ErrorClass::BadRecord) => "bad_record",
                        _ if outcome.error.as_deref().is_some_and(|e| e.starts_with("store:")) => "store",
                        _ => "retry",
                    };
                    (class, outcome.error.clone().unwrap_or_else(|| "cancelled".into()))
                };
                if let (Some(wait), "retry") = (outcome.retry_after, class) {
                    // The vendor paused the stream (a quota): wait as asked, not a failure.
                    let until = now + chrono::Duration::from_std(wait).unwrap_or_default();
                    tracing::info!(runner = %self.id, connection, stream, until = %until, "paused by the vendor");
                    self.metrics.paused(connection, stream);
                    return Decision {
                        release: Release::Again {
                            start_after: until,
                            attempt: claim.attempt,
                            reason: Some(format!(
                                "paused by the vendor until {}: {message}",
                                until.to_rfc3339()
                            )),
                        },
                        notify: None,
                    };
                }
                let retries = self.settings.retries;
                if class != "needs_human" && attempt <= retries {
                    let wait = backoff(self.settings.retry_backoff, attempt);
                    tracing::warn!(runner = %self.id, connection, stream, attempt, class, error = %message, "sync failed; retrying");
                    self.metrics.retried(connection, stream);
                    return Decision {
                        release: Release::Again {
                            start_after: now + chrono::Duration::from_std(wait).unwrap_or_default(),
                            attempt,
                            reason: Some(format!("retry {attempt} of {retries} after: {message}")),
                        },
                        notify: None,
                    };
                }
                tracing::error!(runner = %self.id, connection, stream, attempt, class, error = %message, "sync failed");
                self.metrics.failed(connection, stream, class);
                Decision {
                    release: served(true),
                    notify: Some(notification("sync_failed", Some(class), message)),
                }
            }
        }
    }
}

struct Decision {
    release: Release,
    notify: Option<Notification>,
}
