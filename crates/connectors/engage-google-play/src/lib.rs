//! The Google Play connector (`kind = "google_play"`): reviews of one app through the Android
//! Publisher API's `reviews.list`.
//!
//! Stream `reviews`: `GET /androidpublisher/v3/applications/{package}/reviews?maxResults=…`,
//! then `token=` ← `tokenPagination.nextPageToken` until `tokenPagination` is absent.
//!
//! Play shows only reviews **created or modified in the last 7 days**, so every sync lists them
//! all (there is no filter to ask for less) and the store keeps everything it has ever seen.
//! Schedule a connection at least daily: a sync that finds its previous one more than 7 days
//! old logs a warning (and notes it on the run), because reviews may have come and gone unseen.
//! The checkpoint keeps the reviews the last listing showed: one that should still be visible
//! (modified within the 7 days) and is missing has been deleted, and is stored as deleted with
//! its last payload; one that aged out of the window is simply no longer shown. "Now" is the
//! server's clock (`Date`).
//!
//! Play allows 200 `reviews.list` reads per hour per app and sends no rate-limit headers: the
//! connector paces itself at `reads_per_hour` (default 200, counted as whole requests per
//! minute: 3 a minute).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use engage_connect::http::{Auth, HttpClient};
use engage_connect::{
    Checkpoint, Connector, ConnectorContext, ConnectorError, Field, FieldType, Page, PageStream, Schema,
    Secret, Step, StreamSpec, SyncMode, paged,
};
use engage_model::EntityKind;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub mod map;

/// The Android Publisher API.
pub const DEFAULT_BASE_URL: &str = "https://androidpublisher.googleapis.com";
/// Google's OAuth2 token endpoint.
pub const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// The OAuth2 scope of the Android Publisher API.
pub const SCOPE: &str = "https://www.googleapis.com/auth/androidpublisher";
/// The platform name reviews carry.
pub const PLATFORM: &str = "google_play";
/// The stream.
pub const STREAM: &str = "reviews";
/// How far back Play shows reviews.
pub const VISIBLE_DAYS: i64 = 7;
/// Play's quota of `reviews.list` reads per hour per app.
pub const READS_PER_HOUR: i64 = 200;

/// Kind-specific options of a Google Play connection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GooglePlayConfig {
    /// The app's package name (`com.example.app`).
    pub package_name: String,
    /// An OAuth2 access token (scope androidpublisher); or use the client credentials.
    pub access_token: Option<Secret>,
    /// OAuth2 client id, for tokens from `token_url`.
    pub client_id: Option<String>,
    /// OAuth2 client secret.
    pub client_secret: Option<Secret>,
    /// The token endpoint (default Google's).
    pub token_url: Option<String>,
    /// Ask Play to translate into this language; the original text is kept all the same.
    pub translation_language: Option<String>,
    /// Languages reviews may be in (ISO 639-1), to narrow detection when Play names none.
    pub languages: Option<Vec<String>>,
    /// Reads per hour this connection may make (default 200, Play's quota per app).
    pub reads_per_hour: Option<i64>,
    /// Reviews per page (`maxResults`, 1–100, default 100).
    pub page_size: Option<i64>,
}

/// The Google Play connector.
pub struct GooglePlay {
    ctx: ConnectorContext,
    http: HttpClient,
    package: String,
    translation: Option<String>,
    languages: Vec<String>,
    page_size: i64,
}

impl std::fmt::Debug for GooglePlay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GooglePlay").field("package", &self.package).finish_non_exhaustive()
    }
}

/// The checkpoint: the listing in progress (if any) and what the last listing showed.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Cursor {
    /// The page token of the listing in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    /// Server time at the start of the listing in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started: Option<String>,
    /// Ids the listing in progress has seen.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    seen: BTreeSet<String>,
    /// Server time at the start of the last complete listing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    synced: Option<String>,
    /// The reviews shown (id → review), to tell deletions from reviews aging out.
    #[serde(default)]
    shown: BTreeMap<String, Value>,
}

fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn parse_time(text: Option<&String>) -> Option<DateTime<Utc>> {
    text.and_then(|t| engage_connect::time::parse_timestamp(t))
}

#[async_trait]
impl Connector for GooglePlay {
    type Config = GooglePlayConfig;
    const KIND: &'static str = "google_play";

    fn options() -> Schema {
        Schema::new(vec![
            Field::required(
                "package_name",
                FieldType::String,
                "The app's package name, e.g. com.example.app.",
            ),
            Field::optional(
                "access_token",
                FieldType::Secret,
                "OAuth2 access token (scope androidpublisher).",
            ),
            Field::optional("client_id", FieldType::String, "OAuth2 client id (client credentials)."),
            Field::optional("client_secret", FieldType::Secret, "OAuth2 client secret."),
            Field::optional("token_url", FieldType::String, "OAuth2 token endpoint (default Google's)."),
            Field::optional(
                "translation_language",
                FieldType::String,
                "Ask Play for translations into this language; the original text is still stored.",
            ),
            Field::optional(
                "languages",
                FieldType::StringList,
                "Languages the reviews may be in (ISO 639-1), to narrow detection.",
            ),
            Field::optional(
                "reads_per_hour",
                FieldType::Integer { min: 1, max: 1_000_000 },
                "Reads per hour (default 200, Play's quota per app).",
            ),
            Field::optional(
                "page_size",
                FieldType::Integer { min: 1, max: 100 },
                "Reviews per page (default 100).",
            ),
        ])
    }

    fn new(config: GooglePlayConfig, ctx: ConnectorContext) -> Result<Self, ConnectorError> {
        let invalid =
            |what: &str| ConnectorError::needs_human(format!("connection `{}`: {what}", ctx.connection));
        let package = config.package_name.trim().to_owned();
        if package.is_empty() || !package.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_') {
            return Err(invalid("package_name must be the app's package name (com.example.app)"));
        }
        let auth = match (config.access_token, config.client_id, config.client_secret) {
            (Some(token), None, None) => Auth::Bearer(token),
            (None, Some(client_id), Some(client_secret)) => Auth::OAuth2ClientCredentials {
                token_url: config.token_url.unwrap_or_else(|| DEFAULT_TOKEN_URL.to_owned()),
                client_id,
                client_secret,
                scope: Some(SCOPE.to_owned()),
            },
            _ => return Err(invalid("give either access_token, or client_id and client_secret")),
        };
        // Whole requests per minute, rounded down: 200 an hour paces at 3 a minute.
        let per_hour = config.reads_per_hour.unwrap_or(READS_PER_HOUR).max(1);
        let per_minute = u32::try_from((per_hour / 60).max(1)).unwrap_or(u32::MAX);
        let limit = Some(ctx.max_requests_per_minute.map_or(per_minute, |c| c.min(per_minute)));
        let http =
            ctx.http(DEFAULT_BASE_URL, auth, |b| b.max_requests_per_minute(limit).max_concurrent(Some(1)))?;
        Ok(GooglePlay {
            http,
            package,
            translation: config.translation_language.filter(|l| !l.trim().is_empty()),
            languages: config.languages.unwrap_or_default(),
            page_size: config.page_size.unwrap_or(100).clamp(1, 100),
            ctx,
        })
    }

    fn streams(&self) -> Vec<StreamSpec> {
        vec![StreamSpec {
            name: STREAM,
            entity: EntityKind::Review,
            primary_key: &["reviewId"],
            cursor_field: Some("comments.userComment.lastModified"),
            // Every sync lists the whole week; the checkpoint tells deletions and gaps.
            modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
        }]
    }

    async fn check(&self) -> Result<(), ConnectorError> {
        self.http.get(&self.path()).query(&[("maxResults", "1")]).send().await.map(|_| ())
    }

    fn read(&self, stream: &str, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        match stream {
            STREAM => self.reviews(checkpoint),
            other => {
                let error = ConnectorError::needs_human(format!("google_play has no stream `{other}`"));
                futures::stream::once(async move { Err(error) }).boxed()
            }
        }
    }
}

struct State {
    cursor: Cursor,
    token: Option<String>,
    started: Option<DateTime<Utc>>,
}

impl GooglePlay {
    fn path(&self) -> String {
        format!("/androidpublisher/v3/applications/{}/reviews", self.package)
    }

    fn reviews(&self, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        let mut cursor: Cursor = checkpoint.and_then(|c| serde_json::from_value(c).ok()).unwrap_or_default();
        let state = match cursor.token.take() {
            Some(token) => State { started: parse_time(cursor.started.as_ref()), token: Some(token), cursor },
            None => {
                cursor.seen.clear();
                State { token: None, started: None, cursor }
            }
        };
        paged(state, move |mut state: State| async move {
            let mut query = vec![("maxResults".to_owned(), self.page_size.to_string())];
            if let Some(token) = &state.token {
                query.push(("token".to_owned(), token.clone()));
            }
            if let Some(language) = &self.translation {
                query.push(("translationLanguage".to_owned(), language.clone()));
            }
            let (response, body) = self.http.get(&self.path()).query_pairs(query).send_json().await?;
            let mut page = Page::default();
            let started = match state.started {
                Some(started) => started,
                None => {
                    let now = response.server_time().unwrap_or_else(|| self.ctx.now());
                    if let Some(previous) = parse_time(state.cursor.synced.as_ref())
                        && now - previous > Duration::days(VISIBLE_DAYS)
                    {
                        let note = format!(
                            "the previous sync was at {}, more than {VISIBLE_DAYS} days ago: Google Play shows only the last {VISIBLE_DAYS} days, so reviews may have been missed; sync at least daily",
                            format_time(previous)
                        );
                        tracing::warn!(connection = %self.ctx.connection, "{note}");
                        page.notes.push(note);
                    }
                    *state.started.insert(now)
                }
            };
            for item in body.get("reviews").and_then(Value::as_array).into_iter().flatten() {
                match map::review(item, &self.package, &self.languages) {
                    Ok(record) => {
                        state.cursor.seen.insert(record.source_id.clone());
                        state.cursor.shown.insert(record.source_id.clone(), item.clone());
                        page.records.push(record);
                    }
                    Err(reason) => page.quarantined.push(map::quarantine(item, reason)),
                }
            }
            let next = body
                .pointer("/tokenPagination/nextPageToken")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            if let Some(next) = next {
                state.token = Some(next.to_owned());
                let cursor = &mut state.cursor;
                cursor.token = state.token.clone();
                cursor.started = Some(format_time(started));
                page.checkpoint = serde_json::to_value(&*cursor).unwrap_or(Value::Null);
                cursor.token = None;
                return Ok(Step::Page(page, state));
            }
            // The listing is complete. A review it should have shown (modified within the
            // window, an hour of margin at its edge) and did not is gone; older ones aged out.
            let visible_from = started - Duration::days(VISIBLE_DAYS) + Duration::hours(1);
            let mut cursor = std::mem::take(&mut state.cursor);
            let missing: Vec<String> =
                cursor.shown.keys().filter(|id| !cursor.seen.contains(*id)).cloned().collect();
            for id in missing {
                let Some(review) = cursor.shown.remove(&id) else { continue };
                if map::modified(&review).is_some_and(|m| m >= visible_from)
                    && let Ok(record) = map::review(&review, &self.package, &self.languages)
                {
                    page.records.push(record.deleted(started));
                }
            }
            let done =
                Cursor { synced: Some(format_time(started)), shown: cursor.shown, ..Cursor::default() };
            page.checkpoint = serde_json::to_value(&done).unwrap_or(Value::Null);
            Ok(Step::Last(page))
        })
    }
}
