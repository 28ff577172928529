//! The Klaviyo connector (`kind = "klaviyo"`), on the JSON:API endpoints with the `revision`
//! header pinned to [`REVISION`].
//!
//! Streams:
//! - `events`: `GET /api/events?filter=greater-or-equal(datetime,…)&sort=datetime`, following
//!   `links.next` (`page[cursor]`) until it is null. Each event is named by its metric
//!   (`GET /api/metrics`, read at the start of every sync); the events of the email metrics
//!   ("Received Email", "Opened Email", "Clicked Email"…, or the configured `metrics`) become
//!   [`EmailEvent`](engage_model::EmailEvent)s, the others (orders, site activity) are not email
//!   events and are skipped. The checkpoint is the newest `datetime` seen; the filter is
//!   inclusive, and the store absorbs the repeat at the boundary.
//! - `profiles`: `GET /api/profiles?filter=greater-than(updated,…)&sort=updated` →
//!   [`Identity`](engage_model::Identity) records (email, phone, name).
//!
//! Klaviyo limits each endpoint with a burst (per second) and a steady (per minute) window —
//! events 350/s and 3,500/min, profiles 75/s and 750/min, metrics 10/s and 150/min — and answers
//! 429 with `Retry-After`; the HTTP toolkit waits as asked and paces on `RateLimit-*`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use engage_connect::http::{Auth, HttpClient, Pagination, Paginator, RequestSpec};
use engage_connect::{
    Checkpoint, Connector, ConnectorContext, ConnectorError, Field, FieldType, Page, PageStream, Schema,
    Secret, Step, StreamSpec, SyncMode, paged,
};
use engage_model::EntityKind;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

pub mod map;

/// Klaviyo's API.
pub const DEFAULT_BASE_URL: &str = "https://a.klaviyo.com";
/// The API revision every request pins (Klaviyo supports a revision for about two years).
pub const REVISION: &str = "2024-10-15";
/// The metrics whose events are email events, when `metrics` is not configured.
pub const EMAIL_METRICS: [&str; 7] = [
    "Received Email",
    "Opened Email",
    "Clicked Email",
    "Bounced Email",
    "Dropped Email",
    "Marked Email as Spam",
    "Unsubscribed",
];

/// Kind-specific options of a Klaviyo connection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KlaviyoConfig {
    /// A private API key (`pk_…`) with read access to events, metrics and profiles.
    pub api_key: Secret,
    /// Earliest events and profiles on the first sync (`YYYY-MM-DD`); everything when absent.
    pub start_date: Option<String>,
    /// Names of the metrics whose events are synced (default: Klaviyo's email metrics).
    pub metrics: Option<Vec<String>>,
    /// Events per page (`page[size]`, 1–1000, default 1000).
    pub page_size: Option<i64>,
}

/// The Klaviyo connector.
pub struct Klaviyo {
    http: HttpClient,
    start: Option<DateTime<Utc>>,
    metrics: Vec<String>,
    page_size: i64,
}

fn filter_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

fn checkpoint_time(checkpoint: Option<&Checkpoint>, key: &str) -> Option<DateTime<Utc>> {
    checkpoint?.get(key)?.as_str().and_then(engage_connect::time::parse_timestamp)
}

fn next_link() -> Pagination {
    Pagination::NextUrlInBody { pointer: "/links/next".to_owned() }
}

#[async_trait]
impl Connector for Klaviyo {
    type Config = KlaviyoConfig;
    const KIND: &'static str = "klaviyo";

    fn options() -> Schema {
        Schema::new(vec![
            Field::required(
                "api_key",
                FieldType::Secret,
                "Private API key (`pk_…`), read scopes for events, metrics, profiles.",
            ),
            Field::optional(
                "start_date",
                FieldType::String,
                "Earliest events and profiles on the first sync, `YYYY-MM-DD`.",
            ),
            Field::optional(
                "metrics",
                FieldType::StringList,
                "Metric names whose events are synced (default: the email metrics).",
            ),
            Field::optional(
                "page_size",
                FieldType::Integer { min: 1, max: 1000 },
                "Events per page (default 1000).",
            ),
        ])
    }

    fn new(config: KlaviyoConfig, ctx: ConnectorContext) -> Result<Self, ConnectorError> {
        let start = match &config.start_date {
            Some(date) => Some(engage_connect::time::parse_timestamp(date).ok_or_else(|| {
                ConnectorError::needs_human(format!("start_date `{date}` is not a date (YYYY-MM-DD)"))
            })?),
            None => None,
        };
        let value = Secret::new(format!("Klaviyo-API-Key {}", config.api_key.expose()));
        let auth = Auth::Header { name: "Authorization".to_owned(), value };
        let http = ctx.http(DEFAULT_BASE_URL, auth, |b| {
            b.default_header("revision", REVISION).default_header("Accept", "application/vnd.api+json")
        })?;
        let metrics =
            config.metrics.unwrap_or_else(|| EMAIL_METRICS.iter().map(|m| (*m).to_owned()).collect());
        Ok(Klaviyo { http, start, metrics, page_size: config.page_size.unwrap_or(1000).clamp(1, 1000) })
    }

    fn streams(&self) -> Vec<StreamSpec> {
        vec![
            StreamSpec {
                name: "events",
                entity: EntityKind::EmailEvent,
                primary_key: &["id"],
                cursor_field: Some("datetime"),
                modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
            },
            StreamSpec {
                name: "profiles",
                entity: EntityKind::Identity,
                primary_key: &["id"],
                cursor_field: Some("updated"),
                modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
            },
        ]
    }

    async fn check(&self) -> Result<(), ConnectorError> {
        self.http.get("/api/metrics").send().await.map(|_| ())
    }

    fn read(&self, stream: &str, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        match stream {
            "events" => self.events(checkpoint),
            "profiles" => self.profiles(checkpoint),
            other => {
                let error = ConnectorError::needs_human(format!("klaviyo has no stream `{other}`"));
                futures::stream::once(async move { Err(error) }).boxed()
            }
        }
    }
}

enum EventState {
    Metrics(Option<DateTime<Utc>>),
    Events(Box<Paginator>, HashMap<String, String>, Option<DateTime<Utc>>),
}

impl Klaviyo {
    /// Metric id → name, for every metric of the account.
    async fn metric_names(&self) -> Result<HashMap<String, String>, ConnectorError> {
        let mut paginator = Paginator::new(
            self.http.clone(),
            RequestSpec::new("/api/metrics"),
            next_link(),
            Some("/data".into()),
        );
        let mut names = HashMap::new();
        while let Some(page) = paginator.next_page().await? {
            for metric in &page.records {
                if let (Some(id), Some(name)) = (
                    metric.get("id").and_then(Value::as_str),
                    metric.pointer("/attributes/name").and_then(Value::as_str),
                ) {
                    names.insert(id.to_owned(), name.to_owned());
                }
            }
        }
        Ok(names)
    }

    fn events(&self, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        let since = checkpoint_time(checkpoint.as_ref(), "datetime").or(self.start);
        paged(EventState::Metrics(since), move |state| async move {
            let (mut paginator, names, newest) = match state {
                EventState::Metrics(since) => {
                    let names = self.metric_names().await?;
                    let mut spec = RequestSpec::new("/api/events")
                        .query("sort", "datetime")
                        .query("page[size]", self.page_size.to_string());
                    if let Some(since) = since {
                        spec = spec
                            .query("filter", format!("greater-or-equal(datetime,{})", filter_time(since)));
                    }
                    let paginator =
                        Paginator::new(self.http.clone(), spec, next_link(), Some("/data".into()));
                    (Box::new(paginator), names, since)
                }
                EventState::Events(paginator, names, newest) => (paginator, names, newest),
            };
            let fetched = paginator.next_page().await?;
            let mut page = match &fetched {
                Some(f) => map::events(&f.records, &names, &self.metrics),
                None => Page::default(),
            };
            let newest = newest.max(map::newest(&page));
            page.checkpoint = json!({ "datetime": newest.map(filter_time) });
            Ok(if paginator.is_done() || fetched.is_none() {
                Step::Last(page)
            } else {
                Step::Page(page, EventState::Events(paginator, names, newest))
            })
        })
    }

    fn profiles(&self, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        let since = checkpoint_time(checkpoint.as_ref(), "updated");
        let mut spec = RequestSpec::new("/api/profiles").query("sort", "updated").query("page[size]", "100");
        // Only `greater-than` exists for `updated`: a second earlier, so that profiles updated in
        // the same second as the last one synced are not missed (the repeat is harmless).
        if let Some(from) = since.map(|s| s - chrono::Duration::seconds(1)).or(self.start) {
            spec = spec.query("filter", format!("greater-than(updated,{})", filter_time(from)));
        }
        let paginator = Box::new(Paginator::new(self.http.clone(), spec, next_link(), Some("/data".into())));
        paged(
            (paginator, since),
            move |(mut paginator, newest): (Box<Paginator>, Option<DateTime<Utc>>)| async move {
                let fetched = paginator.next_page().await?;
                let mut page = match &fetched {
                    Some(f) => map::profiles(&f.records),
                    None => Page::default(),
                };
                let newest = newest.max(map::newest(&page));
                page.checkpoint = json!({ "updated": newest.map(filter_time) });
                Ok(if paginator.is_done() || fetched.is_none() {
                    Step::Last(page)
                } else {
                    Step::Page(page, (paginator, newest))
                })
            },
        )
    }
}
