//! The `Connector` trait, its erased twin for the registry, and the values they exchange.

use std::sync::Arc;

use async_trait::async_trait;
use engage_config::Schema;
use engage_model::{EntityKind, Quarantined, Record};
use futures::stream::BoxStream;
use serde::de::DeserializeOwned;

use crate::http::HttpClient;
use crate::{ConnectorError, ErrorClass};

/// A stream's resume point: opaque JSON owned by the connector. The runner stores it with the
/// page it covers and hands the last committed one back to [`Connector::read`].
pub type Checkpoint = serde_json::Value;

/// How a stream can be synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// Only what changed since the checkpoint.
    Incremental,
    /// Everything, every time (the checkpoint is ignored).
    FullRefresh,
}

/// What a connector says about one of its streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSpec {
    /// Stream name, unique within the connector (`tickets`, `satisfaction_ratings`...).
    pub name: &'static str,
    /// The entity kind of the stream's primary records.
    pub entity: EntityKind,
    /// The source fields that identify a record.
    pub primary_key: &'static [&'static str],
    /// The source field the checkpoint follows, if any.
    pub cursor_field: Option<&'static str>,
    /// Supported modes; the first is the default.
    pub modes: &'static [SyncMode],
}

/// One page of a stream: records, records that failed to parse, and the checkpoint after them.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Records, normalised.
    pub records: Vec<Record>,
    /// Source records that could not be normalised, with the reason.
    pub quarantined: Vec<Quarantined>,
    /// The checkpoint that covers everything up to and including this page.
    pub checkpoint: Checkpoint,
    /// Facts about the source worth recording on the run (vendor totals, completeness checks).
    pub notes: Vec<String>,
}

/// An async stream of pages, in order.
pub type PageStream<'a> = BoxStream<'a, Result<Page, ConnectorError>>;

/// What the runner gives a connector: its connection's settings, the HTTP toolkit configured
/// for the connection, and the clock.
#[derive(Clone)]
pub struct ConnectorContext {
    /// The connection's name (for logs).
    pub connection: String,
    /// HTTP client for this connection: base URL, rate limit, retries, user agent.
    pub http: HttpClient,
    /// Current time; tests substitute their own.
    pub clock: Arc<dyn Fn() -> chrono::DateTime<chrono::Utc> + Send + Sync>,
}

impl ConnectorContext {
    /// The current time according to the context's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        (self.clock)()
    }
}

impl std::fmt::Debug for ConnectorContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorContext").field("connection", &self.connection).finish_non_exhaustive()
    }
}

/// The connection-level settings common to every connector, already validated.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    /// The `[[connection]]` name.
    pub name: String,
    /// `base_url` override, when given.
    pub base_url: Option<String>,
    /// Kind-specific options, as JSON, to deserialise into the connector's typed config.
    pub options: serde_json::Value,
}

/// A connector: one vendor API turned into streams of unified records.
///
/// # Contract
///
/// - **Delivery is at least once.** A page may be delivered again after a crash (the runner
///   resumes from the last committed checkpoint) and sources with inclusive time filters repeat
///   records at boundaries; the store's upsert on (connection, stream, source id) makes this
///   harmless. A connector never needs to deduplicate across pages.
/// - **Pages come in order**, and each page's checkpoint covers that page and every page before
///   it. The runner commits a page and its checkpoint together, so a checkpoint must never point
///   past records that are not in the same or an earlier page.
/// - **Checkpoints are opaque JSON** that only the connector reads. `read` receives the last
///   committed checkpoint, or `None` on the first sync or a full refresh.
/// - `check` has no side effects: it only reads (typically one cheap authenticated request).
/// - A connector never builds its own HTTP client and never sleeps for rate limits itself: the
///   [`HttpClient`] in its context retries, backs off and honours `Retry-After`.
/// - Errors carry an [`ErrorClass`]: retry later, needs a human (bad credentials, missing
///   permission), or a bad record. Bad records do not stop a sync: they go to
///   [`Page::quarantined`].
/// - `read` may be called for different streams concurrently.
#[async_trait]
pub trait Connector: Send + Sync + Sized + 'static {
    /// The connector's typed configuration (kind-specific options of `[[connection]]`).
    type Config: DeserializeOwned + Send;

    /// The `kind` that selects this connector in `engage.toml`.
    const KIND: &'static str;

    /// The schema of the kind-specific options, used to validate `engage.toml`.
    fn options() -> Schema;

    /// Builds the connector. Pure: no network.
    fn new(
        settings: &ConnectionSettings,
        config: Self::Config,
        ctx: ConnectorContext,
    ) -> Result<Self, ConnectorError>;

    /// The streams this connector offers.
    fn streams(&self) -> Vec<StreamSpec>;

    /// Checks credentials and reachability without changing anything.
    async fn check(&self) -> Result<(), ConnectorError>;

    /// Reads `stream` from `checkpoint` onwards, as pages.
    fn read(&self, stream: &str, checkpoint: Option<Checkpoint>) -> PageStream<'_>;
}

/// The object-safe form of [`Connector`] kept by the registry and driven by the runner.
#[async_trait]
pub trait DynConnector: Send + Sync {
    /// See [`Connector::KIND`].
    fn kind(&self) -> &'static str;
    /// See [`Connector::streams`].
    fn streams(&self) -> Vec<StreamSpec>;
    /// See [`Connector::check`].
    async fn check(&self) -> Result<(), ConnectorError>;
    /// See [`Connector::read`].
    fn read(&self, stream: &str, checkpoint: Option<Checkpoint>) -> PageStream<'_>;
}

#[async_trait]
impl<C: Connector> DynConnector for C {
    fn kind(&self) -> &'static str {
        C::KIND
    }
    fn streams(&self) -> Vec<StreamSpec> {
        Connector::streams(self)
    }
    async fn check(&self) -> Result<(), ConnectorError> {
        Connector::check(self).await
    }
    fn read(&self, stream: &str, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        Connector::read(self, stream, checkpoint)
    }
}

/// A registry entry: how to validate and build one connector kind.
#[derive(Clone, Copy)]
pub struct Descriptor {
    /// The `kind` name.
    pub kind: &'static str,
    /// Schema of the kind-specific options.
    pub options: fn() -> Schema,
    /// Builds the connector from validated settings.
    pub build: fn(&ConnectionSettings, ConnectorContext) -> Result<Box<dyn DynConnector>, ConnectorError>,
}

impl std::fmt::Debug for Descriptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Descriptor").field("kind", &self.kind).finish_non_exhaustive()
    }
}

/// The registry entry of connector `C`.
pub const fn descriptor<C: Connector>() -> Descriptor {
    Descriptor { kind: C::KIND, options: C::options, build: build::<C> }
}

fn build<C: Connector>(
    settings: &ConnectionSettings,
    ctx: ConnectorContext,
) -> Result<Box<dyn DynConnector>, ConnectorError> {
    let config: C::Config = serde_json::from_value(settings.options.clone()).map_err(|e| {
        ConnectorError::new(
            ErrorClass::NeedsHuman,
            format!("connection `{}`: invalid options: {e}", settings.name),
        )
    })?;
    Ok(Box::new(C::new(settings, config, ctx)?))
}
