//! The Postmark connector (`kind = "postmark"`).
//!
//! One stream, `outbound_stats`: the server's outbound statistics by day, one
//! [`EmailCampaign`](engage_model::EmailCampaign) per day with activity, merged from
//! `GET /stats/outbound/{sends,bounces,spam,opens,clicks}` (five requests per sync, whatever the
//! range). Postmark's quirks, handled in [`map`]:
//!
//! - `Days` is sparse (days without activity are absent) and per-day objects omit zero-valued
//!   keys: a day present in one endpoint and absent from another has zero of the other's counts,
//!   not unknown ones. A day absent from every endpoint is not stored.
//! - Dates are days in EST; `sent_at` is the day's start at UTC−5.
//! - Counts of recent days keep growing (late opens and clicks): every sync re-reads the
//!   trailing `lookback_days` before the newest day already synced and upserts them. The
//!   checkpoint is that newest day, taken from the data, never from the local clock.

use async_trait::async_trait;
use chrono::{Duration, NaiveDate};
use engage_connect::http::{Auth, HttpClient};
use engage_connect::{
    Checkpoint, Connector, ConnectorContext, ConnectorError, Field, FieldType, PageStream, Schema, Secret,
    StreamSpec, SyncMode,
};
use engage_model::EntityKind;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;

pub mod map;

/// Postmark's API.
pub const DEFAULT_BASE_URL: &str = "https://api.postmarkapp.com";
/// The stream.
pub const STREAM: &str = "outbound_stats";
/// Days re-read before the newest synced day when `lookback_days` is not set.
pub const DEFAULT_LOOKBACK_DAYS: i64 = 30;

/// Kind-specific options of a Postmark connection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostmarkConfig {
    /// The server API token (`X-Postmark-Server-Token`).
    pub server_token: Secret,
    /// Only this message stream (`outbound`, `broadcast`...); all streams when absent.
    pub message_stream: Option<String>,
    /// Only messages with this tag.
    pub tag: Option<String>,
    /// First day to read on the first sync (`YYYY-MM-DD`); all time when absent.
    pub start_date: Option<String>,
    /// Days re-read before the newest synced day, because their counts keep growing (1–366).
    pub lookback_days: Option<i64>,
}

/// The Postmark connector.
pub struct Postmark {
    http: HttpClient,
    start: Option<NaiveDate>,
    lookback: i64,
    filters: Vec<(String, String)>,
    label: String,
}

#[async_trait]
impl Connector for Postmark {
    type Config = PostmarkConfig;
    const KIND: &'static str = "postmark";

    fn options() -> Schema {
        Schema::new(vec![
            Field::required("server_token", FieldType::Secret, "Server API token (Servers > API Tokens)."),
            Field::optional("message_stream", FieldType::String, "Only this message stream (`outbound`...)."),
            Field::optional("tag", FieldType::String, "Only messages with this tag."),
            Field::optional("start_date", FieldType::String, "First day on the first sync, `YYYY-MM-DD`."),
            Field::optional(
                "lookback_days",
                FieldType::Integer { min: 1, max: 366 },
                "Days re-read on every sync because their counts keep growing (default 30).",
            ),
        ])
    }

    fn new(config: PostmarkConfig, ctx: ConnectorContext) -> Result<Self, ConnectorError> {
        let start = match &config.start_date {
            Some(date) => Some(NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").map_err(|_| {
                ConnectorError::needs_human(format!("start_date `{date}` is not a date (YYYY-MM-DD)"))
            })?),
            None => None,
        };
        let mut filters = Vec::new();
        if let Some(stream) = &config.message_stream {
            filters.push(("messagestream".to_owned(), stream.clone()));
        }
        if let Some(tag) = &config.tag {
            filters.push(("tag".to_owned(), tag.clone()));
        }
        let mut label = config.message_stream.clone().unwrap_or_else(|| "outbound".to_owned());
        if let Some(tag) = &config.tag {
            label.push_str(&format!(" [{tag}]"));
        }
        let auth = Auth::Header { name: "X-Postmark-Server-Token".to_owned(), value: config.server_token };
        let http = ctx.http(DEFAULT_BASE_URL, auth, |b| b.default_header("Accept", "application/json"))?;
        let lookback = config.lookback_days.unwrap_or(DEFAULT_LOOKBACK_DAYS).clamp(1, 366);
        Ok(Postmark { http, start, lookback, filters, label })
    }

    fn streams(&self) -> Vec<StreamSpec> {
        vec![StreamSpec {
            name: STREAM,
            entity: EntityKind::EmailCampaign,
            primary_key: &["Date"],
            cursor_field: Some("Date"),
            modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
        }]
    }

    async fn check(&self) -> Result<(), ConnectorError> {
        self.http.get("/server").send().await.map(|_| ())
    }

    fn read(&self, stream: &str, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        if stream != STREAM {
            let error = ConnectorError::needs_human(format!("postmark has no stream `{stream}`"));
            return futures::stream::once(async move { Err(error) }).boxed();
        }
        let last = checkpoint
            .as_ref()
            .and_then(|c| c.get("last_date"))
            .and_then(Value::as_str)
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        futures::stream::once(async move { self.outbound(last).await }).boxed()
    }
}

impl Postmark {
    /// The first day to ask for: the lookback window before the newest synced day, or the
    /// configured start on the first sync (all time when there is none).
    pub fn from_date(&self, last: Option<NaiveDate>) -> Option<NaiveDate> {
        match last {
            Some(last) => {
                let from = last - Duration::days(self.lookback);
                Some(self.start.map_or(from, |start| from.max(start)))
            }
            None => self.start,
        }
    }

    async fn outbound(&self, last: Option<NaiveDate>) -> Result<engage_connect::Page, ConnectorError> {
        let mut query = self.filters.clone();
        if let Some(from) = self.from_date(last) {
            query.push(("fromdate".to_owned(), from.format("%Y-%m-%d").to_string()));
        }
        let requests = map::ENDPOINTS.iter().map(|endpoint| {
            let request = self.http.get(&format!("/stats/outbound/{endpoint}")).query_pairs(query.clone());
            async move { request.send_parsed::<map::DaysBody>().await.map(|(_, body)| (*endpoint, body.days)) }
        });
        let bodies = futures::future::try_join_all(requests).await?;
        let (mut page, newest) = map::days(&bodies, &self.label);
        let last = match (last, newest) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        page.checkpoint = match last {
            Some(day) => serde_json::json!({ "last_date": day.format("%Y-%m-%d").to_string() }),
            None => serde_json::json!({}),
        };
        Ok(page)
    }
}
