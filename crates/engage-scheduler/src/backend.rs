//! What the runner needs from the outside world: leases and runs in the store, and the sync
//! engine. [`StoreBackend`] is the real one; tests substitute an in-memory one to drive the
//! runner on a paused clock.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use engage_runner::{Connection, RunnerError, StreamOutcome, SyncOptions, sync_scheduled_stream};
use engage_store::{Claim, Release, ScheduledRun, ScheduledStream, Store, StoreError};

/// Leases, the runner lock and syncs, as the runner uses them (see the [`Store`] methods of the
/// same names).
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// See [`Store::lock_runner`]; the lock lasts as long as the returned value.
    async fn lock_runner(&self, runner: &str) -> Result<Box<dyn Any + Send + Sync>, StoreError>;
    /// See [`Store::register_schedules`].
    async fn register_schedules(
        &self,
        streams: &[ScheduledStream],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// See [`Store::claim_due`].
    async fn claim_due(
        &self,
        runner: &str,
        connections: &[String],
        per_connection: usize,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Option<Claim>, StoreError>;
    /// See [`Store::next_wake`].
    async fn next_wake(&self, connections: &[String]) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// See [`Store::renew_lease`].
    async fn renew_lease(
        &self,
        connection: &str,
        stream: &str,
        runner: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError>;
    /// See [`Store::release_lease`].
    async fn release_lease(
        &self,
        connection: &str,
        stream: &str,
        runner: &str,
        release: &Release,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// See [`Store::count_attempt`].
    async fn count_attempt(
        &self,
        connection: &str,
        stream: &str,
        runner: &str,
        attempt: u32,
    ) -> Result<bool, StoreError>;
    /// See [`Store::abandon_runs`].
    async fn abandon_runs(
        &self,
        connection: &str,
        stream: &str,
        runner: &str,
        message: &str,
    ) -> Result<u64, StoreError>;
    /// Runs one sync of `connection`/`stream`, recorded as serving `scheduled`.
    async fn sync(
        &self,
        connection: &str,
        stream: &str,
        options: &SyncOptions,
        scheduled: &ScheduledRun,
    ) -> Result<StreamOutcome, RunnerError>;
}

/// The store and the connectors.
pub struct StoreBackend {
    store: Store,
    connections: HashMap<String, Arc<Connection>>,
}

impl StoreBackend {
    /// The store, and the connections by name.
    pub fn new(store: Store, connections: HashMap<String, Arc<Connection>>) -> StoreBackend {
        StoreBackend { store, connections }
    }
}

#[async_trait]
impl Backend for StoreBackend {
    async fn lock_runner(&self, runner: &str) -> Result<Box<dyn Any + Send + Sync>, StoreError> {
        Ok(Box::new(self.store.lock_runner(runner).await?))
    }

    async fn register_schedules(
        &self,
        streams: &[ScheduledStream],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.store.register_schedules(streams, now).await
    }

    async fn claim_due(
        &self,
        runner: &str,
        connections: &[String],
        per_connection: usize,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Option<Claim>, StoreError> {
        self.store.claim_due(runner, connections, per_connection, now, ttl).await
    }

    async fn next_wake(&self, connections: &[String]) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.store.next_wake(connections).await
    }

    async fn renew_lease(
        &self,
        connection: &str,
        stream: &str,
        runner: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.store.renew_lease(connection, stream, runner, now, ttl).await
    }

    async fn release_lease(
        &self,
        connection: &str,
        stream: &str,
        runner: &str,
        release: &Release,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.store.release_lease(connection, stream, runner, release, now).await
    }

    async fn count_attempt(
        &self,
        connection: &str,
        stream: &str,
        runner: &str,
        attempt: u32,
    ) -> Result<bool, StoreError> {
        self.store.count_attempt(connection, stream, runner, attempt).await
    }

    async fn abandon_runs(
        &self,
        connection: &str,
        stream: &str,
        runner: &str,
        message: &str,
    ) -> Result<u64, StoreError> {
        self.store.abandon_runs(connection, stream, runner, message).await
    }

    async fn sync(
        &self,
        connection: &str,
        stream: &str,
        options: &SyncOptions,
        scheduled: &ScheduledRun,
    ) -> Result<StreamOutcome, RunnerError> {
        let Some(conn) = self.connections.get(connection) else {
            return Err(RunnerError::Selection(format!("no connection named `{connection}`")));
        };
        sync_scheduled_stream(
            &self.store,
            conn.connector.as_ref(),
            connection,
            stream,
            options,
            Some(scheduled),
        )
        .await
    }
}
