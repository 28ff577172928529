//! The SendGrid connector (`kind = "sendgrid"`).
//!
//! Two streams of daily statistics, each day an [`EmailCampaign`](engage_model::EmailCampaign):
//!
//! - `global_stats`: `GET /v3/stats?aggregated_by=day`, one record per day (source id the date);
//! - `category_stats` (only when `categories` is configured): `GET /v3/categories/stats`, up to
//!   ten categories per request, one record per (day, category) (source id `DATE/CATEGORY`).
//!
//! SendGrid's quirks, handled here and in [`map`]:
//!
//! - `start_date` is required by the API: the configured `start_date`, else [`DEFAULT_START`].
//!   Global stats page with `limit`/`offset` ([`PAGE_SIZE`] days per request; a short page ends).
//! - Counts of recent days keep growing as late events arrive: every sync re-reads the trailing
//!   `lookback_days` before the newest day already synced. The checkpoint is that newest day,
//!   taken from the data, never from the local clock.
//! - Rate limits: `X-RateLimit-Limit`/`-Remaining`/`-Reset` (Unix time) and 429 with
//!   `{"errors":[{"message":"too many requests"}]}`: the SDK's HTTP toolkit paces on them.
//!
//! The Event Webhook (SendGrid pushing per-recipient events) is parsed and verified by
//! [`webhook`]; the `engage-webhooks` crate serves it and writes the events to the store.

use async_trait::async_trait;
use chrono::{Duration, NaiveDate};
use engage_connect::http::{Auth, HttpClient};
use engage_connect::{
    Checkpoint, Connector, ConnectorContext, ConnectorError, Field, FieldType, Page, PageStream, Schema,
    Secret, StreamSpec, SyncMode,
};
use engage_model::EntityKind;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

pub mod map;
pub mod webhook;

/// SendGrid's API.
pub const DEFAULT_BASE_URL: &str = "https://api.sendgrid.com";
/// The global statistics stream.
pub const GLOBAL_STREAM: &str = "global_stats";
/// The category statistics stream.
pub const CATEGORY_STREAM: &str = "category_stats";
/// Days re-read before the newest synced day when `lookback_days` is not set.
pub const DEFAULT_LOOKBACK_DAYS: i64 = 30;
/// First day asked for on the first sync when `start_date` is not set (SendGrid's founding year;
/// the API answers from the account's first day).
pub const DEFAULT_START: &str = "2009-01-01";
/// Days per request of `/v3/stats`.
pub const PAGE_SIZE: usize = 500;
/// Categories per request of `/v3/categories/stats` (SendGrid's maximum).
pub const CATEGORIES_PER_REQUEST: usize = 10;
/// The option holding the Event Webhook's verification key (read by `engage-webhooks`).
pub const WEBHOOK_KEY_OPTION: &str = "webhook_verification_key";

/// Kind-specific options of a SendGrid connection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendGridConfig {
    /// The API key (`Authorization: Bearer`), with at least the `stats.read` scope.
    pub api_key: Secret,
    /// Categories whose statistics are synced into `category_stats` (none: no such stream).
    #[serde(default)]
    pub categories: Vec<String>,
    /// First day to read on the first sync (`YYYY-MM-DD`).
    pub start_date: Option<String>,
    /// Days re-read before the newest synced day, because their counts keep growing (1–366).
    pub lookback_days: Option<i64>,
    /// A subuser to read as (`on-behalf-of` header).
    pub on_behalf_of: Option<String>,
    /// The Event Webhook's verification key (P-256 public key, base64 DER); used by the webhook
    /// receiver, not by syncs.
    pub webhook_verification_key: Option<Secret>,
}

/// The SendGrid connector.
pub struct SendGrid {
    http: HttpClient,
    start: NaiveDate,
    lookback: i64,
    categories: Vec<String>,
}

fn parse_date(text: &str, what: &str) -> Result<NaiveDate, ConnectorError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| ConnectorError::needs_human(format!("{what} `{text}` is not a date (YYYY-MM-DD)")))
}

#[async_trait]
impl Connector for SendGrid {
    type Config = SendGridConfig;
    const KIND: &'static str = "sendgrid";

    fn options() -> Schema {
        Schema::new(vec![
            Field::required("api_key", FieldType::Secret, "API key with the stats.read scope."),
            Field::optional(
                "categories",
                FieldType::StringList,
                "Categories whose daily statistics are synced (stream category_stats).",
            ),
            Field::optional("start_date", FieldType::String, "First day on the first sync, `YYYY-MM-DD`."),
            Field::optional(
                "lookback_days",
                FieldType::Integer { min: 1, max: 366 },
                "Days re-read on every sync because their counts keep growing (default 30).",
            ),
            Field::optional("on_behalf_of", FieldType::String, "Read a subuser's statistics."),
            Field::optional(
                WEBHOOK_KEY_OPTION,
                FieldType::Secret,
                "Event Webhook verification key (base64 DER P-256 public key): signed batches only.",
            ),
        ])
    }

    fn new(config: SendGridConfig, ctx: ConnectorContext) -> Result<Self, ConnectorError> {
        let start = parse_date(config.start_date.as_deref().unwrap_or(DEFAULT_START), "start_date")?;
        let mut categories: Vec<String> = Vec::new();
        for category in config.categories {
            if category.trim().is_empty() {
                return Err(ConnectorError::needs_human("categories: a category is empty"));
            }
            if !categories.contains(&category) {
                categories.push(category);
            }
        }
        if let Some(key) = &config.webhook_verification_key {
            webhook::VerificationKey::from_base64_der(key.expose())
                .map_err(|e| ConnectorError::needs_human(format!("{WEBHOOK_KEY_OPTION}: {e}")))?;
        }
        let subuser = config.on_behalf_of.clone();
        let http = ctx.http(DEFAULT_BASE_URL, Auth::Bearer(config.api_key), |b| {
            let b = b.default_header("Accept", "application/json");
            match &subuser {
                Some(user) => b.default_header("on-behalf-of", user),
                None => b,
            }
        })?;
        let lookback = config.lookback_days.unwrap_or(DEFAULT_LOOKBACK_DAYS).clamp(1, 366);
        Ok(SendGrid { http, start, lookback, categories })
    }

    fn streams(&self) -> Vec<StreamSpec> {
        let mut streams = vec![StreamSpec {
            name: GLOBAL_STREAM,
            entity: EntityKind::EmailCampaign,
            primary_key: &["date"],
            cursor_field: Some("date"),
            modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
        }];
        if !self.categories.is_empty() {
            streams.push(StreamSpec {
                name: CATEGORY_STREAM,
                entity: EntityKind::EmailCampaign,
                primary_key: &["date", "name"],
                cursor_field: Some("date"),
                modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
            });
        }
        streams
    }

    async fn check(&self) -> Result<(), ConnectorError> {
        let today = chrono::Utc::now().date_naive().format("%Y-%m-%d").to_string();
        let request = self.http.get("/v3/stats").query(&[("start_date", &today), ("limit", "1")]);
        request.send().await.map(|_| ())
    }

    fn read(&self, stream: &str, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        let last = checkpoint
            .as_ref()
            .and_then(|c| c.get("last_date"))
            .and_then(Value::as_str)
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        let from = self.from_date(last);
        match stream {
            GLOBAL_STREAM => self.global(from, last),
            CATEGORY_STREAM if !self.categories.is_empty() => self.by_category(from, last),
            _ => {
                let error = ConnectorError::needs_human(format!("sendgrid has no stream `{stream}`"));
                futures::stream::once(async move { Err(error) }).boxed()
            }
        }
    }
}

/// The checkpoint after a page: the newest day synced so far.
fn checkpoint(last: Option<NaiveDate>, newest: Option<NaiveDate>) -> (Option<NaiveDate>, Checkpoint) {
    let last = match (last, newest) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let value = match last {
        Some(day) => serde_json::json!({ "last_date": day.format("%Y-%m-%d").to_string() }),
        None => serde_json::json!({}),
    };
    (last, value)
}

impl SendGrid {
    /// The first day to ask for: the lookback window before the newest synced day (never before
    /// the configured start), or the configured start on the first sync.
    pub fn from_date(&self, last: Option<NaiveDate>) -> NaiveDate {
        match last {
            Some(last) => (last - Duration::days(self.lookback)).max(self.start),
            None => self.start,
        }
    }

    fn global(&self, from: NaiveDate, last: Option<NaiveDate>) -> PageStream<'_> {
        let from = from.format("%Y-%m-%d").to_string();
        let state = (Some(0usize), last);
        futures::stream::try_unfold(state, move |(offset, last)| {
            let from = from.clone();
            async move {
                let Some(offset) = offset else { return Ok(None) };
                let limit = PAGE_SIZE.to_string();
                let offset_text = offset.to_string();
                let query = [
                    ("start_date", from.as_str()),
                    ("aggregated_by", "day"),
                    ("limit", limit.as_str()),
                    ("offset", offset_text.as_str()),
                ];
                let (_, days) =
                    self.http.get("/v3/stats").query(&query).send_parsed::<Vec<Box<RawValue>>>().await?;
                let n = days.len();
                let (mut page, newest) = map::global_days(&days);
                let (last, value) = checkpoint(last, newest);
                page.checkpoint = value;
                let next = (n >= PAGE_SIZE).then_some(offset + n);
                Ok::<_, ConnectorError>(Some((page, (next, last))))
            }
        })
        .boxed()
    }

    fn by_category(&self, from: NaiveDate, last: Option<NaiveDate>) -> PageStream<'_> {
        let from = from.format("%Y-%m-%d").to_string();
        let groups: Vec<Vec<String>> =
            self.categories.chunks(CATEGORIES_PER_REQUEST).map(<[String]>::to_vec).collect();
        futures::stream::try_unfold((groups.into_iter(), last, None), move |(mut groups, last, seen)| {
            let from = from.clone();
            async move {
                let Some(group) = groups.next() else { return Ok(None) };
                let mut query = vec![
                    ("start_date".to_owned(), from.clone()),
                    ("aggregated_by".to_owned(), "day".to_owned()),
                ];
                query.extend(group.iter().map(|c| ("categories".to_owned(), c.clone())));
                let (_, days) = self
                    .http
                    .get("/v3/categories/stats")
                    .query_pairs(query)
                    .send_parsed::<Vec<Box<RawValue>>>()
                    .await?;
                let (mut page, newest): (Page, _) = map::category_days(&days);
                let seen: Option<NaiveDate> = seen.max(newest);
                // Every group covers the same days: the checkpoint moves only once every group
                // has been read, so an interrupted sync reads the missing groups again.
                let (last, value) =
                    if groups.len() == 0 { checkpoint(last, seen) } else { checkpoint(last, None) };
                page.checkpoint = value;
                Ok::<_, ConnectorError>(Some((page, (groups, last, seen))))
            }
        })
        .boxed()
    }
}
