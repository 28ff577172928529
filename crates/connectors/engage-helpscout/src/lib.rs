//! The Help Scout connector (`kind = "helpscout"`, Mailbox API 2.0).
//!
//! Streams:
//! - `conversations`: `GET /v2/conversations?status=all&embed=threads&modifiedSince=…` →
//!   tickets. The default listing holds only active conversations: `status=all` brings closed,
//!   pending, spam and deleted ones (the last two stored as deletions). Replies, the first reply
//!   and reopens come from the embedded threads.
//! - `customers`: `GET /v2/customers?modifiedSince=…` → identities.
//! - `happiness_ratings`: `GET /v2/reports/happiness/ratings?start=…&end=…` → CSAT responses
//!   (the reports need a Plus or Pro plan; without one the stream fails with a 403).
//!
//! Authentication is OAuth2 client credentials: the HTTP toolkit fetches a token from
//! `/v2/oauth2/token`, refreshes it shortly before `expires_in` (two days) and once more when a
//! request meets a 401 (a token that expired mid-sync). Lists are HAL: records under
//! `_embedded`, the end when `_links.next` is absent; the filters are put back on a next link
//! that lost them. `modifiedSince` is inclusive and compares a modification time the objects do
//! not show, so the watermark is the server's own clock (`Date`) when the previous run began.
//! 429s carry `X-RateLimit-Retry-After`, which the toolkit honours.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use engage_connect::http::{Auth, HttpClient};
use engage_connect::{
    Checkpoint, Connector, ConnectorContext, ConnectorError, Field, FieldType, Page, PageStream, Schema,
    Secret, Step, StreamSpec, SyncMode, paged,
};
use engage_model::{EntityKind, Record};
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::value::RawValue;

mod map;

const DEFAULT_BASE: &str = "https://api.helpscout.net";
/// The first `modifiedSince` when no `start_date` is configured.
const EPOCH: &str = "2011-01-01T00:00:00Z";

/// Kind-specific options of a Help Scout connection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelpScoutConfig {
    /// The app's App ID (OAuth2 client id).
    pub client_id: String,
    /// The app's App Secret (OAuth2 client secret).
    pub client_secret: Secret,
    /// Earliest data on the first sync (`YYYY-MM-DD`); 2011-01-01 when absent.
    pub start_date: Option<String>,
    /// Only these mailboxes (comma-separated ids); all the user can see when absent.
    pub mailbox: Option<String>,
    /// Minutes before the previous run's start that the next run re-reads (default 5).
    pub lookback_minutes: Option<i64>,
}

/// The Help Scout connector.
pub struct HelpScout {
    http: HttpClient,
    ctx: ConnectorContext,
    start: DateTime<Utc>,
    mailbox: Option<String>,
    lookback: chrono::Duration,
}

const STREAMS: [StreamSpec; 3] = [
    StreamSpec {
        name: "conversations",
        entity: EntityKind::Ticket,
        primary_key: &["id"],
        cursor_field: Some("modifiedAt"),
        modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
    },
    StreamSpec {
        name: "customers",
        entity: EntityKind::Identity,
        primary_key: &["id"],
        cursor_field: Some("updatedAt"),
        modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
    },
    StreamSpec {
        name: "happiness_ratings",
        entity: EntityKind::SurveyResponse,
        primary_key: &["threadid"],
        cursor_field: Some("ratingCreatedAt"),
        modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
    },
];

/// `yyyy-MM-dd'T'HH:mm:ss'Z'`: Help Scout refuses fractional seconds.
fn format_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    engage_connect::time::parse_timestamp(text)
}

#[async_trait]
impl Connector for HelpScout {
    type Config = HelpScoutConfig;
    const KIND: &'static str = "helpscout";

    fn options() -> Schema {
        Schema::new(vec![
            Field::required(
                "client_id",
                FieldType::String,
                "App ID of a Help Scout app (Your Profile > My Apps).",
            ),
            Field::required("client_secret", FieldType::Secret, "App Secret of that app."),
            Field::optional(
                "start_date",
                FieldType::String,
                "Earliest data on the first sync, `YYYY-MM-DD`.",
            ),
            Field::optional("mailbox", FieldType::String, "Only these mailboxes (comma-separated ids)."),
            Field::optional(
                "lookback_minutes",
                FieldType::Integer { min: 0, max: 1440 },
                "Minutes before the previous run's start re-read by the next run (default 5).",
            ),
        ])
    }

    fn new(config: HelpScoutConfig, ctx: ConnectorContext) -> Result<Self, ConnectorError> {
        let base = ctx.base_url.clone().unwrap_or_else(|| DEFAULT_BASE.to_owned());
        let start = match &config.start_date {
            Some(date) => parse_time(date).ok_or_else(|| {
                ConnectorError::needs_human(format!("start_date `{date}` is not a date (YYYY-MM-DD)"))
            })?,
            None => parse_time(EPOCH).unwrap_or_default(),
        };
        let auth = Auth::OAuth2ClientCredentials {
            token_url: format!("{}/v2/oauth2/token", base.trim_end_matches('/')),
            client_id: config.client_id,
            client_secret: config.client_secret,
            scope: None,
        };
        let http = ctx.http(DEFAULT_BASE, auth, |b| b)?;
        Ok(HelpScout {
            http,
            ctx,
            start,
            mailbox: config.mailbox.filter(|m| !m.trim().is_empty()),
            lookback: chrono::Duration::minutes(config.lookback_minutes.unwrap_or(5).clamp(0, 1440)),
        })
    }

    fn streams(&self) -> Vec<StreamSpec> {
        STREAMS.to_vec()
    }

    async fn check(&self) -> Result<(), ConnectorError> {
        self.http.get("/v2/users/me").send().await.map(|_| ())
    }

    fn read(&self, stream: &str, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        match stream {
            "conversations" => self.hal(&CONVERSATIONS, checkpoint),
            "customers" => self.hal(&CUSTOMERS, checkpoint),
            "happiness_ratings" => self.ratings(checkpoint),
            other => {
                let error = ConnectorError::needs_human(format!("helpscout has no stream `{other}`"));
                Box::pin(futures::stream::once(async move { Err(error) }))
            }
        }
    }
}

/// A HAL list filtered on `modifiedSince`.
struct HalList {
    path: &'static str,
    /// The `_embedded` member holding the records.
    key: &'static str,
    /// Filters sent with every page (and put back on a next link that lost them).
    params: &'static [(&'static str, &'static str)],
    /// Whether the `mailbox` option applies.
    mailbox: bool,
    map: fn(&RawValue) -> Result<Record, String>,
}

/// Oldest first by creation: a conversation changed during the run moves into the filtered set
/// at its creation position (read twice at worst), never shifting unread ones out of reach.
const CONVERSATIONS: HalList = HalList {
    path: "/v2/conversations",
    key: "conversations",
    params: &[("status", "all"), ("embed", "threads"), ("sortField", "createdAt"), ("sortOrder", "asc")],
    mailbox: true,
    map: map::conversation,
};

const CUSTOMERS: HalList = HalList {
    path: "/v2/customers",
    key: "customers",
    params: &[("sortField", "createdAt"), ("sortOrder", "asc")],
    mailbox: false,
    map: map::customer,
};

/// A list's resume point: the server time the run began at (the next `modifiedSince`, less
/// the lookback) and, while a run is under way, its `modifiedSince` and page.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct HalCursor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    page: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started: Option<String>,
}

struct HalState {
    since: String,
    page: u64,
    /// The next link to follow (filters put back), when the previous page gave one.
    next: Option<String>,
    started: Option<DateTime<Utc>>,
}

/// One HAL page.
#[derive(Deserialize)]
struct HalPage {
    #[serde(rename = "_embedded", default)]
    embedded: std::collections::HashMap<String, Vec<Box<RawValue>>>,
    #[serde(rename = "_links", default)]
    links: Links,
}

#[derive(Deserialize, Default)]
struct Links {
    next: Option<Href>,
}

#[derive(Deserialize)]
struct Href {
    href: String,
}

impl HelpScout {
    fn filters(&self, list: &HalList, since: &str) -> Vec<(String, String)> {
        let mut query: Vec<(String, String)> =
            list.params.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        query.push(("modifiedSince".to_owned(), since.to_owned()));
        if let (true, Some(mailbox)) = (list.mailbox, &self.mailbox) {
            query.push(("mailbox".to_owned(), mailbox.clone()));
        }
        query
    }

    fn hal<'a>(&'a self, list: &'a HalList, checkpoint: Option<Checkpoint>) -> PageStream<'a> {
        let cursor: HalCursor = checkpoint.and_then(|c| serde_json::from_value(c).ok()).unwrap_or_default();
        let started = cursor.started.as_deref().and_then(parse_time);
        let state = match (cursor.since, cursor.page) {
            (Some(since), Some(page)) => HalState { since, page: page.max(1), next: None, started },
            (since, _) => {
                let since = since.as_deref().and_then(parse_time).unwrap_or(self.start);
                HalState { since: format_time(since), page: 1, next: None, started: None }
            }
        };
        let run_start = self.ctx.now();
        paged(state, move |mut state: HalState| async move {
            let filters = self.filters(list, &state.since);
            let request = match &state.next {
                Some(url) => self.http.get(url),
                None => {
                    let mut query = filters.clone();
                    query.push(("page".to_owned(), state.page.to_string()));
                    self.http.get(list.path).query_pairs(query)
                }
            };
            let (response, body) = request.send_parsed::<HalPage>().await?;
            // The first answer of a run dates it, in the server's own clock.
            state.started = state.started.or_else(|| response.server_time()).or(Some(run_start));
            let mut page = Page::default();
            for item in body.embedded.get(list.key).map(Vec::as_slice).unwrap_or_default() {
                match (list.map)(item) {
                    Ok(record) => page.records.push(record),
                    Err(reason) => page.quarantined.push(map::quarantine(item, reason)),
                }
            }
            let started = state.started.map(format_time);
            let next = body.links.next.and_then(|link| response.url.join(&link.href).ok());
            if let Some(mut next) = next {
                // Resume at this page again (one page of overlap) if the run stops here.
                page.checkpoint = json!(HalCursor {
                    since: Some(state.since.clone()),
                    page: Some(state.page),
                    started: started.clone(),
                });
                // Put back any filter the next link dropped (a historical bug of the API).
                let present: Vec<String> = next.query_pairs().map(|(k, _)| k.into_owned()).collect();
                let missing: Vec<(String, String)> =
                    filters.into_iter().filter(|(k, _)| !present.contains(k)).collect();
                if !missing.is_empty() {
                    next.query_pairs_mut().extend_pairs(missing);
                }
                state.page = next
                    .query_pairs()
                    .find(|(k, _)| k == "page")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(state.page + 1);
                state.next = Some(next.to_string());
                return Ok(Step::Page(page, state));
            }
            let since = state.started.map(|t| format_time(t - self.lookback));
            page.checkpoint = json!(HalCursor { since, page: None, started: None });
            Ok(Step::Last(page))
        })
    }

    fn ratings(&self, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        let cursor: RatingsCursor =
            checkpoint.and_then(|c| serde_json::from_value(c).ok()).unwrap_or_default();
        let newest = cursor.newest.as_deref().and_then(parse_time);
        let state = match (cursor.start, cursor.end, cursor.page) {
            (Some(start), Some(end), Some(page)) => RatingsState { start, end, page, newest },
            _ => {
                let start = newest.map_or(self.start, |n| (n - self.lookback).max(self.start));
                let end = self.ctx.now().max(start);
                RatingsState { start: format_time(start), end: format_time(end), page: 1, newest }
            }
        };
        paged(state, move |mut state: RatingsState| async move {
            let query = [("start", state.start.as_str()), ("end", state.end.as_str())];
            let (_, body) = self
                .http
                .get("/v2/reports/happiness/ratings")
                .query(&query)
                .query_pairs([("page".to_owned(), state.page.to_string())])
                .send_parsed::<RatingsPage>()
                .await?;
            let mut page = Page::default();
            for item in &body.results {
                if let Some(at) = map::rated_at(item) {
                    state.newest = Some(state.newest.map_or(at, |n| n.max(at)));
                }
                match map::rating(item) {
                    Ok(record) => page.records.push(record),
                    Err(reason) => page.quarantined.push(map::quarantine(item, reason)),
                }
            }
            let newest = state.newest.map(format_time);
            let pages = body.pages.unwrap_or(1);
            if state.page < pages && !body.results.is_empty() {
                page.checkpoint = json!(RatingsCursor {
                    start: Some(state.start.clone()),
                    end: Some(state.end.clone()),
                    page: Some(state.page),
                    newest,
                });
                state.page += 1;
                return Ok(Step::Page(page, state));
            }
            page.checkpoint = json!(RatingsCursor { newest, ..RatingsCursor::default() });
            Ok(Step::Last(page))
        })
    }
}

/// The ratings report's resume point: the newest `ratingCreatedAt` seen and, while a run is
/// under way, its window and page.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct RatingsCursor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    page: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    newest: Option<String>,
}

struct RatingsState {
    start: String,
    end: String,
    page: u64,
    newest: Option<DateTime<Utc>>,
}

/// One page of the ratings report.
#[derive(Deserialize)]
struct RatingsPage {
    #[serde(default)]
    results: Vec<Box<RawValue>>,
    pages: Option<u64>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const PAGINATION: &str = include_str!(
        "../../../engage-sandbox/fixtures/helpscout/docs_pagination_links_and_page_fragment.json"
    );

    /// The official pagination fragment: the next page is `_links.next.href`; no `_embedded`
    /// means no records.
    #[test]
    fn official_pagination_fragment_parses() {
        let page: HalPage = serde_json::from_str(PAGINATION).unwrap();
        assert_eq!(page.links.next.unwrap().href, "https://api.helpscout.net/v2/conversations?page=3");
        assert!(page.embedded.is_empty());
        let last: HalPage =
            serde_json::from_str(r#"{"_embedded":{"conversations":[]},"_links":{}}"#).unwrap();
        assert!(last.links.next.is_none());
        assert_eq!(format_time(parse_time("2024-05-01T12:00:00.750Z").unwrap()), "2024-05-01T12:00:00Z");
    }
}
