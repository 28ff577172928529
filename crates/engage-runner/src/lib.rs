//! The runner: turns each configured `[[connection]]` into a connector through the registry,
//! and syncs its streams into the store with the sync engine.
//!
//! Connectors only produce pages; the runner is the one place where pages meet the store:
//! load the checkpoint → `read` → `commit_page` (records and checkpoint in one transaction) →
//! record the run.

mod registry;
mod sync;

use std::sync::Arc;

use engage_config::{Config, ConnectionConfig};
use engage_connect::{Clock, ConnectorContext, ConnectorError, DynConnector, HttpClients, HttpTuning};
use engage_store::Store;

pub use registry::{descriptors, kinds};
pub use sync::{Progress, ProgressFn, StreamOutcome, SyncOptions, sync_scheduled_stream, sync_stream};

/// Errors of the runner.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunnerError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] engage_store::StoreError),
    /// A connection could not be built.
    #[error("connection `{connection}`: {source}")]
    Connector {
        /// The connection's name.
        connection: String,
        /// The cause.
        source: ConnectorError,
    },
    /// The command named a connection or stream that does not exist.
    #[error("{0}")]
    Selection(String),
}

/// One configured connection and its connector.
pub struct Connection {
    /// Its configuration.
    pub config: ConnectionConfig,
    /// Its connector.
    pub connector: Box<dyn DynConnector>,
    /// Its HTTP clients, for request counts.
    pub http: HttpClients,
}

/// Which (connection, stream) pairs to sync.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Connection names; empty means every enabled connection.
    pub connections: Vec<String>,
    /// Only this stream, when given.
    pub stream: Option<String>,
}

/// Settings for building connectors.
#[derive(Clone, Default)]
pub struct BuildOptions {
    /// Clock given to connectors (the system clock when `None`).
    pub clock: Option<Clock>,
    /// HTTP client adjustments applied to every connection.
    pub http_tuning: Option<HttpTuning>,
}

/// Builds every connection of `config` (enabled or not) through the registry.
pub fn build_connections(config: &Config, options: &BuildOptions) -> Result<Vec<Connection>, RunnerError> {
    config
        .connections
        .iter()
        .map(|conn| {
            let (connector, http) = build_connector(
                &conn.kind,
                &conn.name,
                conn.base_url.as_deref(),
                conn.max_requests_per_minute,
                &conn.options.to_json(),
                options,
            )?;
            Ok(Connection { config: conn.clone(), connector, http })
        })
        .collect()
}

/// Builds one connector of `kind` from its kind-specific options (as JSON); also returns the
/// handle on the HTTP clients it builds.
pub fn build_connector(
    kind: &str,
    name: &str,
    base_url: Option<&str>,
    max_requests_per_minute: Option<u32>,
    options_json: &serde_json::Value,
    options: &BuildOptions,
) -> Result<(Box<dyn DynConnector>, HttpClients), RunnerError> {
    let failed = |source| RunnerError::Connector { connection: name.to_owned(), source };
    let descriptor = registry::descriptor(kind)
        .ok_or_else(|| failed(ConnectorError::needs_human(format!("unknown connector kind `{kind}`"))))?;
    let mut ctx = ConnectorContext::new(name);
    ctx.base_url = base_url.map(str::to_owned);
    ctx.max_requests_per_minute = max_requests_per_minute;
    ctx.http_tuning = options.http_tuning.clone();
    if let Some(clock) = &options.clock {
        ctx.clock = Arc::clone(clock);
    }
    let clients = ctx.clients.clone();
    Ok(((descriptor.build)(options_json, ctx).map_err(failed)?, clients))
}

/// The (connection index, stream name) pairs a selection names, in configuration order.
pub fn select(
    connections: &[Connection],
    selection: &Selection,
) -> Result<Vec<(usize, String)>, RunnerError> {
    for name in &selection.connections {
        if !connections.iter().any(|c| &c.config.name == name) {
            let known: Vec<&str> = connections.iter().map(|c| c.config.name.as_str()).collect();
            return Err(RunnerError::Selection(format!(
                "no connection named `{name}` (configured: {})",
                known.join(", ")
            )));
        }
    }
    let mut pairs = Vec::new();
    for (index, conn) in connections.iter().enumerate() {
        let named = selection.connections.contains(&conn.config.name);
        if !(named || selection.connections.is_empty() && conn.config.enabled) {
            continue;
        }
        let streams = conn.connector.streams();
        match &selection.stream {
            Some(stream) => {
                if streams.iter().any(|s| s.name == stream) {
                    pairs.push((index, stream.clone()));
                } else if named {
                    let known: Vec<&str> = streams.iter().map(|s| s.name).collect();
                    return Err(RunnerError::Selection(format!(
                        "connection `{}` has no stream `{stream}` (streams: {})",
                        conn.config.name,
                        known.join(", ")
                    )));
                }
            }
            None => pairs.extend(streams.iter().map(|s| (index, s.name.to_owned()))),
        }
    }
    Ok(pairs)
}

/// Syncs the selected streams, at most `concurrency` at a time, and returns one outcome per
/// stream (failures included: one failed stream does not stop the others).
pub async fn sync_selected(
    store: &Store,
    connections: &[Connection],
    selection: &Selection,
    options: &SyncOptions,
    concurrency: usize,
) -> Result<Vec<StreamOutcome>, RunnerError> {
    use futures::StreamExt;
    let pairs = select(connections, selection)?;
    let outcomes: Vec<Result<StreamOutcome, RunnerError>> =
        futures::stream::iter(pairs)
            .map(|(index, stream)| {
                let conn = &connections[index];
                async move {
                    sync_stream(store, conn.connector.as_ref(), &conn.config.name, &stream, options).await
                }
            })
            .buffered(concurrency.max(1))
            .collect()
            .await;
    outcomes.into_iter().collect()
}
