//! The Zendesk Support connector (`kind = "zendesk"`).
//!
//! Streams:
//! - `tickets`: the cursor-based incremental ticket export with `include=metric_sets`, so each
//!   ticket arrives with Zendesk's own reply, resolution and reopen metrics. Deleted tickets come
//!   through the same export (`status: "deleted"`) and are stored as deletions. The filter is on
//!   `generated_timestamp`; the checkpoint is the export's `after_cursor`, kept at
//!   `end_of_stream` so the next run asks only for what changed (one request when nothing did).
//! - `users`: the incremental user export → identities for the unified customer.
//! - `satisfaction_ratings`: legacy CSAT ratings, cursor-paginated, filtered on `start_time` →
//!   CSAT survey responses (good = 1, bad = 0).
//!
//! Zendesk's limits: 10 requests/minute on the incremental exports (1,000 records per page, so
//! about 10,000 tickets a minute), 200–2,500 requests/minute on the rest by plan; 429 answers
//! carry `Retry-After` or, for some limits, a plain-text body alone — the SDK's HTTP toolkit
//! honours both.

use async_trait::async_trait;
use engage_connect::http::{Auth, HttpClient};
use engage_connect::{
    Checkpoint, Connector, ConnectorContext, ConnectorError, Field, FieldType, PageStream, Schema, Secret,
    Step, StreamSpec, SyncMode, paged,
};
use engage_model::EntityKind;
use serde::Deserialize;
use serde_json::Value;

mod map;

/// Kind-specific options of a Zendesk connection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZendeskConfig {
    /// The account's subdomain (`acme` for `acme.zendesk.com`); not needed when `base_url` is set.
    pub subdomain: Option<String>,
    /// The agent email the API token belongs to.
    pub email: String,
    /// The API token.
    pub api_token: Secret,
    /// Earliest data to export on the first sync (`YYYY-MM-DD`); everything when absent.
    pub start_date: Option<String>,
    /// Records per page of the incremental exports (1–1000, default 1000).
    pub page_size: Option<i64>,
}

/// The Zendesk Support connector.
pub struct Zendesk {
    http: HttpClient,
    ctx: ConnectorContext,
    start_time: i64,
    page_size: i64,
}

const STREAMS: [StreamSpec; 3] = [
    StreamSpec {
        name: "tickets",
        entity: EntityKind::Ticket,
        primary_key: &["id"],
        cursor_field: Some("generated_timestamp"),
        modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
    },
    StreamSpec {
        name: "users",
        entity: EntityKind::Identity,
        primary_key: &["id"],
        cursor_field: Some("updated_at"),
        modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
    },
    StreamSpec {
        name: "satisfaction_ratings",
        entity: EntityKind::SurveyResponse,
        primary_key: &["id"],
        cursor_field: Some("updated_at"),
        modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
    },
];

#[async_trait]
impl Connector for Zendesk {
    type Config = ZendeskConfig;
    const KIND: &'static str = "zendesk";

    fn options() -> Schema {
        Schema::new(vec![
            Field::optional(
                "subdomain",
                FieldType::String,
                "Account subdomain (`acme` for acme.zendesk.com).",
            ),
            Field::required("email", FieldType::String, "Agent email the API token belongs to."),
            Field::required(
                "api_token",
                FieldType::Secret,
                "API token (Admin Center > Apps and integrations > Zendesk API).",
            ),
            Field::optional(
                "start_date",
                FieldType::String,
                "Earliest data on the first sync, `YYYY-MM-DD`.",
            ),
            Field::optional(
                "page_size",
                FieldType::Integer { min: 1, max: 1000 },
                "Records per export page (default 1000).",
            ),
        ])
    }

    fn new(config: ZendeskConfig, ctx: ConnectorContext) -> Result<Self, ConnectorError> {
        let default_base = match (&config.subdomain, &ctx.base_url) {
            (Some(sub), _) => format!("https://{sub}.zendesk.com"),
            (None, Some(base)) => base.clone(),
            (None, None) => {
                return Err(ConnectorError::needs_human(
                    "set `subdomain` (or `base_url`) for a Zendesk connection",
                ));
            }
        };
        let start_time = match &config.start_date {
            Some(date) => engage_connect::time::parse_timestamp(date)
                .ok_or_else(|| {
                    ConnectorError::needs_human(format!("start_date `{date}` is not a date (YYYY-MM-DD)"))
                })?
                .timestamp(),
            None => 0,
        };
        let auth = Auth::Basic { username: format!("{}/token", config.email), password: config.api_token };
        let http = ctx.http(&default_base, auth, |b| b)?;
        Ok(Zendesk { http, ctx, start_time, page_size: config.page_size.unwrap_or(1000).clamp(1, 1000) })
    }

    fn streams(&self) -> Vec<StreamSpec> {
        STREAMS.to_vec()
    }

    async fn check(&self) -> Result<(), ConnectorError> {
        self.http.get("/api/v2/users/me.json").send_json().await.map(|_| ())
    }

    fn read(&self, stream: &str, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        match stream {
            "tickets" => self.export(Export::Tickets, checkpoint),
            "users" => self.export(Export::Users, checkpoint),
            "satisfaction_ratings" => self.satisfaction_ratings(checkpoint),
            other => {
                let error = ConnectorError::needs_human(format!("zendesk has no stream `{other}`"));
                Box::pin(futures::stream::once(async move { Err(error) }))
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Export {
    Tickets,
    Users,
}

impl Zendesk {
    /// The first export start: the configured start, but at least a minute in the past ("data
    /// isn't provided for the most recent minute").
    fn export_start(&self) -> i64 {
        self.start_time.min(self.ctx.now().timestamp() - 61)
    }

    fn export(&self, export: Export, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        let cursor =
            checkpoint.as_ref().and_then(|c| c.get("cursor")).and_then(Value::as_str).map(str::to_owned);
        let first = self.fetch_export(export, cursor.clone());
        paged((first, cursor), move |(fetch, cursor): (Fetch, Option<String>)| async move {
            let body = fetch.await.map_err(|e| ConnectorError::retry(format!("export request: {e}")))??;
            let after = body.after_cursor.clone().or(cursor);
            let end = body.end_of_stream.unwrap_or(true) || after.is_none();
            // Ask for the next page before mapping this one, so Zendesk (or the simulator)
            // prepares it while this page is mapped and committed.
            let next = (!end).then(|| self.fetch_export(export, after.clone()));
            let mut page = match export {
                Export::Tickets => map::tickets(&body.tickets, &body.metric_sets),
                Export::Users => map::users(&body.users),
            };
            page.checkpoint = match &after {
                Some(c) => serde_json::json!({ "cursor": c }),
                None => serde_json::json!({}),
            };
            Ok(match next {
                Some(next) => Step::Page(page, (next, after)),
                None => Step::Last(page),
            })
        })
    }

    /// Starts the request for one export page, from `cursor` or from the start time.
    fn fetch_export(&self, export: Export, cursor: Option<String>) -> Fetch {
        let path = match export {
            Export::Tickets => "/api/v2/incremental/tickets/cursor.json",
            Export::Users => "/api/v2/incremental/users/cursor.json",
        };
        let mut query = vec![("per_page".to_owned(), self.page_size.to_string())];
        if let Export::Tickets = export {
            query.push(("include".to_owned(), "metric_sets".to_owned()));
        }
        match cursor {
            Some(c) => query.push(("cursor".to_owned(), c)),
            None => query.push(("start_time".to_owned(), self.export_start().to_string())),
        }
        let request = self.http.get(path).query_pairs(query);
        tokio::spawn(async move { request.send_parsed::<map::ExportPage>().await.map(|(_, body)| body) })
    }

    fn satisfaction_ratings(&self, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        let start = checkpoint
            .as_ref()
            .and_then(|c| c.get("start_time"))
            .and_then(Value::as_i64)
            .unwrap_or_else(|| self.start_time.max(0));
        let after =
            checkpoint.as_ref().and_then(|c| c.get("after")).and_then(Value::as_str).map(str::to_owned);
        let state = RatingsState { start, after, newest: start };
        paged(state, move |state| async move {
            let mut query = vec![
                ("page[size]".to_owned(), "100".to_owned()),
                ("start_time".to_owned(), state.start.to_string()),
            ];
            if let Some(after) = &state.after {
                query.push(("page[after]".to_owned(), after.clone()));
            }
            let (_, body) = self
                .http
                .get("/api/v2/satisfaction_ratings")
                .query_pairs(query)
                .send_parsed::<RatingsPage>()
                .await?;
            let mut page = map::ratings(&body.satisfaction_ratings);
            // The mapped responses already carry each rating's update time (`answered_at`).
            let newest = page
                .records
                .iter()
                .filter_map(|r| match &r.entity {
                    engage_model::Entity::SurveyResponse(response) => response.answered_at,
                    _ => None,
                })
                .map(|t| t.timestamp())
                .fold(state.newest, i64::max);
            let has_more = body.meta.pointer("/has_more").and_then(Value::as_bool).unwrap_or(false);
            let next_after = body.meta.pointer("/after_cursor").and_then(Value::as_str).map(str::to_owned);
            match (has_more, next_after) {
                (true, Some(after)) => {
                    page.checkpoint = serde_json::json!({ "start_time": state.start, "after": after });
                    Ok(Step::Page(page, RatingsState { start: state.start, after: Some(after), newest }))
                }
                _ => {
                    // Inclusive filter: the next run starts at the newest change seen, and the
                    // upsert absorbs the repeat.
                    page.checkpoint = serde_json::json!({ "start_time": newest });
                    Ok(Step::Last(page))
                }
            }
        })
    }
}

/// An export page being fetched.
type Fetch = tokio::task::JoinHandle<Result<map::ExportPage, ConnectorError>>;

struct RatingsState {
    start: i64,
    after: Option<String>,
    newest: i64,
}

/// One page of satisfaction ratings.
#[derive(Deserialize)]
struct RatingsPage {
    #[serde(default)]
    satisfaction_ratings: Vec<Box<serde_json::value::RawValue>>,
    #[serde(default)]
    meta: Value,
}
