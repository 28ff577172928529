//! The Intercom connector (`kind = "intercom"`, REST API 2.11).
//!
//! Streams, all read through the search endpoints with an `updated_at` filter:
//! - `conversations` → tickets, with Intercom's `statistics` (first admin reply, closes,
//!   reopens) and the conversation rating as the ticket's satisfaction;
//! - `conversation_ratings` → CSAT survey responses (1–5), one per rated conversation;
//! - `contacts` → identities (users and leads).
//!
//! How the vendor's quirks are handled:
//! - The search cursor (`pages.next.starting_after`) goes back in the JSON body, never the URL
//!   (Intercom silently serves page 1 again for a cursor in the URL).
//! - Search results have no documented order: the checkpoint is the newest `updated_at` seen on
//!   any page of the run, kept only once the last page is read; mid-run checkpoints hold the
//!   query and the cursor so an interrupted run resumes where it stopped.
//! - Intercom matches timestamps by calendar day in the workspace's time zone (`>` starts at the
//!   next midnight), so every filter looks back at least a day and an hour (DST) before the
//!   checkpoint; the store's upsert absorbs the repeats.
//! - `statistics` and `conversation_rating` are null until the events happen: nothing is
//!   required of them, and a later change (which bumps `updated_at`) brings them in.
//! - Ids are strings beside integer ids (`admin_assignee_id`): every id is read as text
//!   whichever form it takes.
//! - Rate limits are counted per 10-second window and `X-RateLimit-Limit` is per window; the
//!   HTTP toolkit is told so, paces below it, and waits until the absolute `X-RateLimit-Reset`
//!   when the window is spent or a 429 comes (Intercom sends no `Retry-After`).

use std::time::Duration;

use async_trait::async_trait;
use engage_connect::http::{Auth, HttpClient};
use engage_connect::{
    Checkpoint, Connector, ConnectorContext, ConnectorError, Field, FieldType, Page, PageStream, Schema,
    Secret, Step, StreamSpec, SyncMode, paged,
};
use engage_model::EntityKind;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

mod map;

/// The API version every request pins (`Intercom-Version`).
pub const API_VERSION: &str = "2.11";

/// Seconds added to the configured lookback: a calendar day can last 25 hours (DST).
const DST_MARGIN: i64 = 3_600;

/// Kind-specific options of an Intercom connection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntercomConfig {
    /// Access token of a private app (or an OAuth token).
    pub access_token: Secret,
    /// Data region of the workspace: `us` (default), `eu` or `au`.
    pub region: Option<String>,
    /// Earliest data on the first sync (`YYYY-MM-DD`); everything when absent.
    pub start_date: Option<String>,
    /// Days each search looks back before the checkpoint (1–30, default 1).
    pub lookback_days: Option<i64>,
    /// Records per search page (1–150, default 150).
    pub page_size: Option<i64>,
}

/// The Intercom connector.
pub struct Intercom {
    http: HttpClient,
    start_time: i64,
    lookback: i64,
    page_size: i64,
}

const STREAMS: [StreamSpec; 3] = [
    StreamSpec {
        name: "conversations",
        entity: EntityKind::Ticket,
        primary_key: &["id"],
        cursor_field: Some("updated_at"),
        modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
    },
    StreamSpec {
        name: "conversation_ratings",
        entity: EntityKind::SurveyResponse,
        primary_key: &["conversation_id"],
        cursor_field: Some("updated_at"),
        modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
    },
    StreamSpec {
        name: "contacts",
        entity: EntityKind::Identity,
        primary_key: &["id"],
        cursor_field: Some("updated_at"),
        modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
    },
];

/// What a stream searches.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Search {
    Conversations,
    Ratings,
    Contacts,
}

impl Search {
    fn path(self) -> &'static str {
        match self {
            Search::Conversations | Search::Ratings => "/conversations/search",
            Search::Contacts => "/contacts/search",
        }
    }

    /// The search query for records updated after `value` (Unix seconds).
    fn query(self, value: i64) -> Value {
        // As in Intercom's own example, the timestamp goes as a string.
        let updated = json!({ "field": "updated_at", "operator": ">", "value": value.to_string() });
        match self {
            Search::Ratings => json!({
                "operator": "AND",
                "value": [updated, { "field": "conversation_rating.score", "operator": ">", "value": 0 }],
            }),
            _ => updated,
        }
    }
}

#[async_trait]
impl Connector for Intercom {
    type Config = IntercomConfig;
    const KIND: &'static str = "intercom";

    fn options() -> Schema {
        Schema::new(vec![
            Field::required(
                "access_token",
                FieldType::Secret,
                "Access token (Developer Hub > your app > Authentication).",
            ),
            Field::optional(
                "region",
                FieldType::String,
                "Workspace data region: `us` (default), `eu` or `au`.",
            ),
            Field::optional(
                "start_date",
                FieldType::String,
                "Earliest data on the first sync, `YYYY-MM-DD`.",
            ),
            Field::optional(
                "lookback_days",
                FieldType::Integer { min: 1, max: 30 },
                "Days each search looks back before the checkpoint (default 1).",
            ),
            Field::optional(
                "page_size",
                FieldType::Integer { min: 1, max: 150 },
                "Records per search page (default 150).",
            ),
        ])
    }

    fn new(config: IntercomConfig, ctx: ConnectorContext) -> Result<Self, ConnectorError> {
        let default_base = match config.region.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("us") => "https://api.intercom.io",
            Some("eu") => "https://api.eu.intercom.io",
            Some("au") => "https://api.au.intercom.io",
            Some(other) => {
                return Err(ConnectorError::needs_human(format!(
                    "region `{other}` is not one of `us`, `eu`, `au`"
                )));
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
        let http = ctx.http(default_base, Auth::Bearer(config.access_token), |b| {
            b.default_header("Intercom-Version", API_VERSION)
                .default_header("Accept", "application/json")
                .advertised_limit_window(Duration::from_secs(10))
        })?;
        Ok(Intercom {
            http,
            start_time,
            lookback: config.lookback_days.unwrap_or(1).clamp(1, 30) * 86_400 + DST_MARGIN,
            page_size: config.page_size.unwrap_or(150).clamp(1, 150),
        })
    }

    fn streams(&self) -> Vec<StreamSpec> {
        STREAMS.to_vec()
    }

    async fn check(&self) -> Result<(), ConnectorError> {
        self.http.get("/me").send_json().await.map(|_| ())
    }

    fn read(&self, stream: &str, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        match stream {
            "conversations" => self.search(Search::Conversations, checkpoint),
            "conversation_ratings" => self.search(Search::Ratings, checkpoint),
            "contacts" => self.search(Search::Contacts, checkpoint),
            other => {
                let error = ConnectorError::needs_human(format!("intercom has no stream `{other}`"));
                Box::pin(futures::stream::once(async move { Err(error) }))
            }
        }
    }
}

/// Where a search run is.
struct State {
    /// The `updated_at >` value of the run's query.
    value: i64,
    /// The next page's cursor (`None`: the first page).
    cursor: Option<String>,
    /// The newest `updated_at` seen so far (the next run's checkpoint).
    newest: i64,
}

/// One search page, each record kept as its exact text.
#[derive(Deserialize)]
struct SearchPage {
    #[serde(default)]
    conversations: Vec<Box<RawValue>>,
    #[serde(default)]
    data: Vec<Box<RawValue>>,
    #[serde(default)]
    pages: Option<Pages>,
}

#[derive(Deserialize)]
struct Pages {
    #[serde(default)]
    next: Option<Next>,
}

#[derive(Deserialize)]
struct Next {
    #[serde(default)]
    starting_after: Option<String>,
}

impl Intercom {
    /// Where a run starts: mid-run checkpoints resume their query at their cursor; a completed
    /// run's `updated_since` (or the start date) becomes a query with the lookback.
    fn start(&self, checkpoint: Option<&Checkpoint>) -> State {
        let int = |key: &str| checkpoint.and_then(|c| c.get(key)).and_then(Value::as_i64);
        let cursor = checkpoint.and_then(|c| c.get("starting_after")).and_then(Value::as_str);
        if let (Some(value), Some(cursor)) = (int("query_value"), cursor) {
            return State { value, cursor: Some(cursor.to_owned()), newest: int("newest").unwrap_or(value) };
        }
        let since = int("updated_since").unwrap_or(self.start_time);
        State { value: (since - self.lookback).max(0), cursor: None, newest: since }
    }

    fn search(&self, search: Search, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        let state = self.start(checkpoint.as_ref());
        paged(state, move |state: State| async move {
            let mut pagination = json!({ "per_page": self.page_size });
            if let Some(cursor) = &state.cursor {
                // In the body: Intercom ignores a cursor in the URL and serves page 1 again.
                pagination["starting_after"] = json!(cursor);
            }
            let body = json!({ "query": search.query(state.value), "pagination": pagination });
            let (_, page) = self.http.post(search.path()).json(&body).send_parsed::<SearchPage>().await?;
            let (mut out, newest): (Page, Option<i64>) = match search {
                Search::Conversations => map::conversations(&page.conversations),
                Search::Ratings => map::ratings(&page.conversations),
                Search::Contacts => map::contacts(&page.data),
            };
            let newest = newest.map_or(state.newest, |n| n.max(state.newest));
            let next =
                page.pages.and_then(|p| p.next).and_then(|n| n.starting_after).filter(|c| !c.is_empty());
            match next {
                // A cursor equal to the one sent would loop forever: the search is done.
                Some(cursor) if state.cursor.as_deref() != Some(cursor.as_str()) => {
                    out.checkpoint =
                        json!({ "query_value": state.value, "starting_after": cursor, "newest": newest });
                    Ok(Step::Page(out, State { value: state.value, cursor: Some(cursor), newest }))
                }
                _ => {
                    out.checkpoint = json!({ "updated_since": newest });
                    Ok(Step::Last(out))
                }
            }
        })
    }
}
