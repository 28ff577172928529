//! The `Connector` trait, its erased twin for the registry, and the values they exchange.

use std::sync::Arc;

use async_trait::async_trait;
use engage_config::Schema;
use engage_model::{EntityKind, Quarantined, Record};
use futures::stream::BoxStream;
use serde::de::DeserializeOwned;

use crate::http::{Auth, HttpClient, HttpClientBuilder, HttpStats};
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

/// The clock connectors read "now" from; tests substitute their own.
pub type Clock = Arc<dyn Fn() -> chrono::DateTime<chrono::Utc> + Send + Sync>;

/// Adjusts the HTTP client settings of every connection (the runner's defaults; tests make
/// backoff fast).
pub type HttpTuning = Arc<dyn Fn(HttpClientBuilder) -> HttpClientBuilder + Send + Sync>;

/// The HTTP clients a connection has built, so the runner can report their request counts.
#[derive(Clone, Default)]
pub struct HttpClients(Arc<std::sync::Mutex<Vec<HttpClient>>>);

impl HttpClients {
    /// Requests, retries, 429s and failures of every client of the connection, added up.
    pub fn stats(&self) -> HttpStats {
        let clients = self.0.lock().map(|c| c.clone()).unwrap_or_default();
        clients.iter().map(HttpClient::stats).fold(HttpStats::default(), |sum, s| HttpStats {
            requests: sum.requests + s.requests,
            retries: sum.retries + s.retries,
            throttled: sum.throttled + s.throttled,
            failures: sum.failures + s.failures,
        })
    }

    fn register(&self, client: &HttpClient) {
        if let Ok(mut clients) = self.0.lock() {
            clients.push(client.clone());
        }
    }
}

/// What the runner gives a connector: its connection's common settings, the way to get an HTTP
/// client from the one toolkit, and the clock.
#[derive(Clone)]
pub struct ConnectorContext {
    /// The connection's name (for logs and the user agent).
    pub connection: String,
    /// `base_url` override from the configuration; replaces the vendor's default.
    pub base_url: Option<String>,
    /// Proactive rate limit from the configuration.
    pub max_requests_per_minute: Option<u32>,
    /// Current time.
    pub clock: Clock,
    /// Applied to every HTTP client built through [`ConnectorContext::http`].
    pub http_tuning: Option<HttpTuning>,
    /// Every client built through [`ConnectorContext::http`], for request counts.
    pub clients: HttpClients,
}

impl ConnectorContext {
    /// A context with the system clock and no overrides.
    pub fn new(connection: impl Into<String>) -> Self {
        Self {
            connection: connection.into(),
            base_url: None,
            max_requests_per_minute: None,
            clock: Arc::new(chrono::Utc::now),
            http_tuning: None,
            clients: HttpClients::default(),
        }
    }

    /// The current time according to the context's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        (self.clock)()
    }

    /// An HTTP client for this connection: `default_base_url` unless the configuration
    /// overrides it, the given authentication, and the connection's rate limit. `adjust` sets
    /// anything vendor-specific (concurrency limits, default headers).
    pub fn http(
        &self,
        default_base_url: &str,
        auth: Auth,
        adjust: impl FnOnce(HttpClientBuilder) -> HttpClientBuilder,
    ) -> Result<HttpClient, ConnectorError> {
        let base = self.base_url.as_deref().unwrap_or(default_base_url);
        let mut builder = HttpClient::builder(&self.connection)
            .base_url(base)?
            .auth(auth)
            .max_requests_per_minute(self.max_requests_per_minute);
        builder = adjust(builder);
        if let Some(tuning) = &self.http_tuning {
            builder = tuning(builder);
        }
        let client = builder.build()?;
        self.clients.register(&client);
        Ok(client)
    }
}

impl std::fmt::Debug for ConnectorContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorContext")
            .field("connection", &self.connection)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
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
    fn new(config: Self::Config, ctx: ConnectorContext) -> Result<Self, ConnectorError>;

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

/// Builds a connector from its validated kind-specific options (as JSON).
pub type BuildFn = fn(&serde_json::Value, ConnectorContext) -> Result<Box<dyn DynConnector>, ConnectorError>;

/// A registry entry: how to validate and build one connector kind.
#[derive(Clone, Copy)]
pub struct Descriptor {
    /// The `kind` name.
    pub kind: &'static str,
    /// Schema of the kind-specific options.
    pub options: fn() -> Schema,
    /// Builds the connector from its validated kind-specific options (as JSON).
    pub build: BuildFn,
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
    options: &serde_json::Value,
    ctx: ConnectorContext,
) -> Result<Box<dyn DynConnector>, ConnectorError> {
    let config: C::Config = serde_json::from_value(options.clone()).map_err(|e| {
        ConnectorError::new(
            ErrorClass::NeedsHuman,
            format!("connection `{}`: invalid options: {e}", ctx.connection),
        )
    })?;
    Ok(Box::new(C::new(config, ctx)?))
}
