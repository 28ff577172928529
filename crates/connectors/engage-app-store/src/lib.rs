//! The Apple App Store Connect connector (`kind = "app_store"`): customer reviews of one app
//! with their developer responses.
//!
//! Stream `customer_reviews`: `GET /v1/apps/{id}/customerReviews?sort=-createdDate&limit=…&include=response`,
//! following `links.next` (a full URL with `cursor=…`, absent on the last page). Every request
//! carries a fresh ES256 token signed with the team's API key ([`jwt`]).
//!
//! Apple gives no last-modified time, so edits and new developer responses cannot be asked for.
//! The first sync lists every review; each later sync lists newest first and stops after the
//! page that reaches back past `rescan_days` (default 14) or past the start of the previous
//! sync, whichever is older. Reviews inside that trailing window are read again every time, so
//! edits and replies made within it are caught. The checkpoint keeps the window's reviews: one
//! that was there and is missing from the next listing of the window has been deleted, and is
//! stored as deleted with its last payload. "Now" is the server's clock (`Date`).
//!
//! Apple allows a rolling hour of requests per key and says so in
//! `X-Rate-Limit: user-hour-lim:3500;user-hour-rem:…;`; the HTTP toolkit paces on it.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use engage_connect::http::{Auth, HttpClient, Response};
use engage_connect::{
    Checkpoint, Connector, ConnectorContext, ConnectorError, Field, FieldType, Page, PageStream, Schema,
    Secret, Step, StreamSpec, SyncMode, paged,
};
use engage_model::EntityKind;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub mod jwt;
pub mod map;

/// App Store Connect's API.
pub const DEFAULT_BASE_URL: &str = "https://api.appstoreconnect.apple.com";
/// The platform name reviews carry.
pub const PLATFORM: &str = "app_store";
/// The stream.
pub const STREAM: &str = "customer_reviews";
/// Days re-read on every sync by default.
pub const DEFAULT_RESCAN_DAYS: i64 = 14;

/// Kind-specific options of an App Store connection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppStoreConfig {
    /// Issuer id of the API key (App Store Connect > Users and Access > Integrations).
    pub issuer_id: String,
    /// Key id of the API key.
    pub key_id: String,
    /// The `.p8` private key's text (or `private_key_file`).
    pub private_key: Secret,
    /// The app's Apple id (numeric, as in `/v1/apps/{id}`).
    pub app_id: String,
    /// Days before now (and before the previous sync) read again on every sync (default 14).
    pub rescan_days: Option<i64>,
    /// Languages reviews may be in (ISO 639-1), to narrow language detection.
    pub languages: Option<Vec<String>>,
    /// Reviews per page (`limit`, 1–200, default 200).
    pub page_size: Option<i64>,
}

/// The App Store connector.
pub struct AppStore {
    ctx: ConnectorContext,
    http: HttpClient,
    signer: jwt::Signer,
    app_id: String,
    rescan: Duration,
    languages: Vec<String>,
    page_size: i64,
}

impl std::fmt::Debug for AppStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppStore").field("app_id", &self.app_id).finish_non_exhaustive()
    }
}

/// The checkpoint: the listing in progress (if any) and the trailing window's reviews.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Cursor {
    /// The next page of the listing in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    /// Server time at the start of the listing in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started: Option<String>,
    /// The listing in progress reads reviews created at or after this (absent: all of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    horizon: Option<String>,
    /// Ids the listing in progress has seen since the horizon.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    seen: BTreeSet<String>,
    /// Server time at the start of the last complete listing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    synced: Option<String>,
    /// The reviews of the trailing window (id → document), to tell deletions.
    #[serde(default)]
    window: BTreeMap<String, Value>,
}

fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn parse_time(text: Option<&String>) -> Option<DateTime<Utc>> {
    text.and_then(|t| engage_connect::time::parse_timestamp(t))
}

#[async_trait]
impl Connector for AppStore {
    type Config = AppStoreConfig;
    const KIND: &'static str = "app_store";

    fn options() -> Schema {
        Schema::new(vec![
            Field::required("issuer_id", FieldType::String, "Issuer id of the App Store Connect API key."),
            Field::required("key_id", FieldType::String, "Key id of the API key."),
            Field::required(
                "private_key",
                FieldType::Secret,
                "The API key's .p8 file (use private_key_file).",
            ),
            Field::required("app_id", FieldType::String, "The app's Apple id, e.g. 682658836."),
            Field::optional(
                "rescan_days",
                FieldType::Integer { min: 1, max: 365 },
                "Days read again on every sync to catch edits, replies and deletions (default 14).",
            ),
            Field::optional(
                "languages",
                FieldType::StringList,
                "Languages the reviews may be in (ISO 639-1), to narrow detection.",
            ),
            Field::optional(
                "page_size",
                FieldType::Integer { min: 1, max: 200 },
                "Reviews per page (default 200).",
            ),
        ])
    }

    fn new(config: AppStoreConfig, ctx: ConnectorContext) -> Result<Self, ConnectorError> {
        let signer = jwt::Signer::new(config.private_key.expose(), &config.key_id, &config.issuer_id)
            .map_err(|e| ConnectorError::needs_human(format!("connection `{}`: {e}", ctx.connection)))?;
        let app_id = config.app_id.trim().to_owned();
        if app_id.is_empty() || !app_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ConnectorError::needs_human(format!(
                "connection `{}`: app_id must be the app's Apple id",
                ctx.connection
            )));
        }
        let http = ctx.http(DEFAULT_BASE_URL, Auth::None, |b| b.max_concurrent(Some(1)))?;
        Ok(AppStore {
            http,
            signer,
            app_id,
            rescan: Duration::days(config.rescan_days.unwrap_or(DEFAULT_RESCAN_DAYS).clamp(1, 365)),
            languages: config.languages.unwrap_or_default(),
            page_size: config.page_size.unwrap_or(200).clamp(1, 200),
            ctx,
        })
    }

    fn streams(&self) -> Vec<StreamSpec> {
        vec![StreamSpec {
            name: STREAM,
            entity: EntityKind::Review,
            primary_key: &["id"],
            cursor_field: Some("createdDate"),
            modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
        }]
    }

    async fn check(&self) -> Result<(), ConnectorError> {
        self.get(&format!("/v1/apps/{}/customerReviews?limit=1", self.app_id)).await.map(|_| ())
    }

    fn read(&self, stream: &str, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        match stream {
            STREAM => self.reviews(checkpoint),
            other => {
                let error = ConnectorError::needs_human(format!("app_store has no stream `{other}`"));
                futures::stream::once(async move { Err(error) }).boxed()
            }
        }
    }
}

/// Where a read is.
struct State {
    cursor: Cursor,
    url: String,
    started: Option<DateTime<Utc>>,
    /// `None` until the first answer decides it; `Some(None)`: the whole listing.
    horizon: Option<Option<DateTime<Utc>>>,
}

impl AppStore {
    /// A GET with a fresh token. Apple checks `iat`/`exp` against real time, so the token is
    /// dated by the system clock, not the context's (which tests and `--time-scale` move).
    async fn get(&self, url: &str) -> Result<(Response, Value), ConnectorError> {
        let token = self
            .signer
            .token(chrono::Utc::now().timestamp())
            .map_err(|e| ConnectorError::needs_human(format!("connection `{}`: {e}", self.ctx.connection)))?;
        self.http.get(url).header("Authorization", &format!("Bearer {token}")).send_json().await
    }

    fn first_page(&self) -> String {
        format!(
            "/v1/apps/{}/customerReviews?sort=-createdDate&limit={}&include=response",
            self.app_id, self.page_size
        )
    }

    fn reviews(&self, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        let mut cursor: Cursor = checkpoint.and_then(|c| serde_json::from_value(c).ok()).unwrap_or_default();
        let state = match cursor.next.take() {
            Some(url) => State {
                started: parse_time(cursor.started.as_ref()),
                horizon: Some(parse_time(cursor.horizon.as_ref())),
                url,
                cursor,
            },
            None => {
                cursor.seen.clear();
                State { url: self.first_page(), started: None, horizon: None, cursor }
            }
        };
        paged(state, move |mut state: State| async move {
            let (response, body) = self.get(&state.url).await?;
            let started = *state
                .started
                .get_or_insert_with(|| response.server_time().unwrap_or_else(|| self.ctx.now()));
            let window_start = started - self.rescan;
            let horizon = *state.horizon.get_or_insert_with(|| {
                parse_time(state.cursor.synced.as_ref()).map(|previous| previous.min(window_start))
            });
            let included: BTreeMap<&str, &Value> = body
                .get("included")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|i| Some((i.get("id")?.as_str()?, i)))
                .collect();
            let mut page = Page::default();
            let mut oldest: Option<DateTime<Utc>> = None;
            for item in body.get("data").and_then(Value::as_array).into_iter().flatten() {
                let response = map::response_id(item).and_then(|id| included.get(id).copied());
                let doc = map::document(item, response);
                match map::review(&doc, &self.app_id, &self.languages) {
                    Ok(record) => {
                        let created = map::created(&doc);
                        oldest = match (oldest, created) {
                            (Some(o), Some(c)) => Some(o.min(c)),
                            (o, c) => o.or(c),
                        };
                        // Only the window's reviews can be found missing later: the others
                        // need no record of having been seen.
                        let id = &record.source_id;
                        let in_window = created.is_some_and(|c| c >= window_start);
                        if in_window || state.cursor.window.contains_key(id) {
                            state.cursor.seen.insert(id.clone());
                        }
                        if in_window {
                            state.cursor.window.insert(id.clone(), doc);
                        }
                        page.records.push(record);
                    }
                    Err(reason) => page.quarantined.push(map::quarantine(&doc, reason)),
                }
            }
            let next = body.pointer("/links/next").and_then(Value::as_str).filter(|s| !s.is_empty());
            let past_horizon = matches!((horizon, oldest), (Some(h), Some(o)) if o < h);
            if let (Some(next), false) = (next, past_horizon) {
                state.url = next.to_owned();
                let cursor = &mut state.cursor;
                cursor.next = Some(state.url.clone());
                cursor.started = Some(format_time(started));
                cursor.horizon = horizon.map(format_time);
                page.checkpoint = serde_json::to_value(&*cursor).unwrap_or(Value::Null);
                cursor.next = None;
                return Ok(Step::Page(page, state));
            }
            // The listing is complete down to the horizon: what it should have shown and did not
            // is gone.
            let mut cursor = std::mem::take(&mut state.cursor);
            let gone: Vec<String> = cursor
                .window
                .iter()
                .filter(|(id, doc)| {
                    !cursor.seen.contains(*id)
                        && map::created(doc).is_some_and(|c| horizon.is_none_or(|h| c >= h))
                })
                .map(|(id, _)| id.clone())
                .collect();
            for id in gone {
                if let Some(doc) = cursor.window.remove(&id)
                    && let Ok(record) = map::review(&doc, &self.app_id, &self.languages)
                {
                    page.records.push(record.deleted(started));
                }
            }
            cursor.window.retain(|_, doc| map::created(doc).is_some_and(|c| c >= window_start));
            let done =
                Cursor { synced: Some(format_time(started)), window: cursor.window, ..Cursor::default() };
            page.checkpoint = serde_json::to_value(&done).unwrap_or(Value::Null);
            Ok(Step::Last(page))
        })
    }
}
