//! The declarative REST connector (`kind = "rest"`): any JSON API described in TOML.
//!
//! Each `[[connection.stream]]` names an endpoint (path and query), where the records are in the
//! body (a JSON pointer), the primary key, the pagination style (every style of the SDK's
//! [`Paginator`]: next URL in the body or JSON:API `links.next`, `Link` header, cursor, page
//! token, offset/limit, page number), an optional incremental cursor (a record field whose
//! newest value is sent back in a request parameter on the next sync), a deletion rule, and the
//! mapping of fields to a unified entity ([`engage_connect::mapping`]). Authentication is any
//! scheme of the SDK's [`Auth`]. Everything HTTP — retries, 429s, rate limits, redaction — is the
//! SDK's toolkit.
//!
//! Checkpoints: mid-sync, the next page's position plus the cursor value the sync started from
//! and the newest seen so far (an interrupted sync resumes at the next page); at the end, the
//! newest cursor value seen, sent as the parameter next time (inclusive filters repeat the
//! boundary records, which the upsert absorbs).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::SecondsFormat;
use engage_connect::http::{Auth, FetchedPage, HttpClient, PageCursor, Pagination, Paginator, RequestSpec};
use engage_connect::mapping::{self, DeletedRule, EntityMapping, FieldSpec, lookup, text_of};
use engage_connect::{
    Checkpoint, Connector, ConnectorContext, ConnectorError, Field, FieldType, Page, PageStream, Schema,
    Secret, Step, StreamSpec, SyncMode, paged,
};
use engage_model::{Quarantined, Record, raw_json};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Kind-specific options of a rest connection (`base_url`, a common key, is required).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestConfig {
    /// How requests authenticate (none when absent).
    pub auth: Option<AuthConfig>,
    /// Headers sent with every request (`Accept`, an API version...).
    #[serde(default)]
    pub headers: BTreeMap<String, Value>,
    /// The path `engage check` requests (default: the first stream's path with its query).
    pub check_path: Option<String>,
    /// One entry per stream (`[[connection.stream]]`).
    pub stream: Vec<StreamConfig>,
}

/// `[connection.auth]`: one of the SDK's schemes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// `none`, `basic`, `bearer`, `header`, `query` or `oauth2_client_credentials`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Basic: the user name (or API key).
    pub username: Option<String>,
    /// Basic: the password (may be empty).
    pub password: Option<Secret>,
    /// Bearer: the token.
    pub token: Option<Secret>,
    /// Header or query: the header or parameter name.
    pub name: Option<String>,
    /// Header or query: the credential (a header value may carry a prefix, `Token abc`).
    pub value: Option<Secret>,
    /// OAuth2: the token endpoint.
    pub token_url: Option<String>,
    /// OAuth2: the client id.
    pub client_id: Option<String>,
    /// OAuth2: the client secret.
    pub client_secret: Option<Secret>,
    /// OAuth2: scopes, space-separated.
    pub scope: Option<String>,
}

/// One endpoint read as one stream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// Stream name (unique in the connection).
    pub name: String,
    /// Path joined to `base_url` (or an absolute URL on the same API).
    pub path: String,
    /// Query parameters of the first request.
    #[serde(default)]
    pub query: BTreeMap<String, Value>,
    /// JSON pointer to the records array (`/data`, `/users`); absent when the body is the array.
    pub records: Option<String>,
    /// The record field(s) that identify a record (dotted paths; several are joined with `:`).
    pub primary_key: OneOrMany,
    /// `integer` rejects (quarantines) records whose id is not an integer; default: any text.
    pub id_type: Option<IdType>,
    /// How the list pages; a single request when absent.
    pub pagination: Option<PaginationConfig>,
    /// What makes the stream incremental.
    pub incremental: Option<Incremental>,
    /// The unified entity.
    pub entity: String,
    /// Entity field → record field (or a rule).
    #[serde(default)]
    pub fields: BTreeMap<String, FieldSpec>,
    /// When a record counts as a deletion.
    pub deleted: Option<DeletedRule>,
    /// `platform` of the records when `fields` does not map it (default: the connection name).
    pub platform: Option<String>,
}

/// A string or a list of strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// What a record id must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdType {
    /// An integer (or its text).
    Integer,
    /// Any non-empty text or number.
    String,
}

/// A pagination style of the SDK, plus an end-of-list flag some APIs set.
#[derive(Debug, Clone, Deserialize)]
pub struct PaginationConfig {
    /// The style and its settings, as [`Pagination`] reads them (`style = "cursor"`...).
    #[serde(flatten)]
    pub style: Pagination,
    /// JSON pointer to a boolean that is true on the last page (Zendesk `/end_of_stream`).
    pub done_pointer: Option<String>,
}

/// An incremental cursor: a record field, and the request parameter it is sent back in.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incremental {
    /// The record field (dotted path) whose newest value is kept.
    pub cursor_field: String,
    /// The query parameter that takes it on the next sync.
    pub param: String,
    /// How the parameter is written: `raw` (as the record had it, the default), `unix`,
    /// `unix_ms`, `rfc3339` or `date`.
    #[serde(default)]
    pub format: CursorFormat,
    /// The value for the first sync (in any form a timestamp or the raw value takes).
    pub start: Option<String>,
}

/// How a cursor value is written into the request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CursorFormat {
    /// As the record had it.
    #[default]
    Raw,
    /// Unix seconds.
    Unix,
    /// Unix milliseconds.
    UnixMs,
    /// RFC 3339, UTC, whole seconds (`2024-05-01T12:00:00Z`).
    Rfc3339,
    /// `YYYY-MM-DD`.
    Date,
}

struct StreamDef {
    name: &'static str,
    primary_key: Vec<String>,
    config: StreamConfig,
    mapping: EntityMapping,
}

/// The rest connector.
pub struct Rest {
    http: HttpClient,
    ctx: ConnectorContext,
    streams: Vec<StreamDef>,
    check_path: String,
}

impl std::fmt::Debug for Rest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rest").field("http", &self.http).field("streams", &self.streams.len()).finish()
    }
}

fn auth_schema() -> Schema {
    Schema::new(vec![
        Field::required(
            "type",
            FieldType::String,
            "none, basic, bearer, header, query or oauth2_client_credentials.",
        ),
        Field::optional("username", FieldType::String, "basic: user name or API key."),
        Field::optional("password", FieldType::Secret, "basic: password."),
        Field::optional("token", FieldType::Secret, "bearer: the token."),
        Field::optional("name", FieldType::String, "header/query: header or parameter name."),
        Field::optional("value", FieldType::Secret, "header/query: the credential."),
        Field::optional("token_url", FieldType::Url, "oauth2: token endpoint."),
        Field::optional("client_id", FieldType::String, "oauth2: client id."),
        Field::optional("client_secret", FieldType::Secret, "oauth2: client secret."),
        Field::optional("scope", FieldType::String, "oauth2: scopes."),
    ])
}

fn pagination_schema() -> Schema {
    let text = |name, doc| Field::optional(name, FieldType::String, doc);
    let count = |name, doc| Field::optional(name, FieldType::Integer { min: 0, max: 1_000_000_000 }, doc);
    Schema::new(vec![
        Field::required(
            "style",
            FieldType::String,
            "next_url_in_body, link_header, cursor, page_token, offset_limit or page_number.",
        ),
        text("pointer", "next_url_in_body: JSON pointer to the next URL (`/links/next`)."),
        text("param", "cursor/page_token/page_number: the query parameter."),
        text("cursor_pointer", "cursor: JSON pointer to the next cursor."),
        text("has_more_pointer", "cursor: JSON pointer to a `has more` boolean."),
        text("token_pointer", "page_token: JSON pointer to the next token."),
        text("offset_param", "offset_limit: offset parameter."),
        text("limit_param", "offset_limit: limit parameter."),
        count("limit", "offset_limit: records per page."),
        text("total_pointer", "offset_limit: JSON pointer to the total."),
        count("first", "page_number: the first page's number."),
        text("size_param", "page_number: page-size parameter."),
        count("size", "page_number: page size."),
        text("done_pointer", "JSON pointer to a boolean that is true on the last page."),
    ])
}

fn stream_schema() -> Schema {
    Schema::new(vec![
        Field::required("name", FieldType::String, "Stream name."),
        Field::required("path", FieldType::String, "Endpoint path, joined to base_url."),
        Field::optional("query", FieldType::Any, "Query parameters of the first request."),
        Field::optional("records", FieldType::String, "JSON pointer to the records array."),
        Field::required("primary_key", FieldType::Any, "Record field(s) identifying a record."),
        Field::optional("id_type", FieldType::String, "`integer` or `string` (default)."),
        Field::optional("pagination", FieldType::Table(pagination_schema()), "Pagination style."),
        Field::optional(
            "incremental",
            FieldType::Table(Schema::new(vec![
                Field::required("cursor_field", FieldType::String, "Record field of the cursor."),
                Field::required("param", FieldType::String, "Query parameter taking it."),
                Field::optional("format", FieldType::String, "raw, unix, unix_ms, rfc3339 or date."),
                Field::optional("start", FieldType::String, "Value for the first sync."),
            ])),
            "Incremental cursor.",
        ),
        Field::required("entity", FieldType::String, "Unified entity."),
        Field::optional(
            "fields",
            FieldType::Table(mapping::fields_schema()),
            "Entity field -> record field.",
        ),
        Field::optional("deleted", FieldType::Table(mapping::deleted_schema()), "When a record is deleted."),
        Field::optional("platform", FieldType::String, "Platform of the records."),
    ])
}

fn build_auth(config: Option<AuthConfig>) -> Result<Auth, String> {
    let Some(a) = config else { return Ok(Auth::None) };
    let need =
        |value: Option<String>, key: &str| value.ok_or_else(|| format!("auth `{}` needs `{key}`", a.kind));
    let secret =
        |value: Option<Secret>, key: &str| value.ok_or_else(|| format!("auth `{}` needs `{key}`", a.kind));
    Ok(match a.kind.as_str() {
        "none" => Auth::None,
        "basic" => Auth::Basic {
            username: need(a.username.clone(), "username")?,
            password: a.password.clone().unwrap_or_else(|| Secret::new("")),
        },
        "bearer" => Auth::Bearer(secret(a.token.clone(), "token")?),
        "header" => {
            Auth::Header { name: need(a.name.clone(), "name")?, value: secret(a.value.clone(), "value")? }
        }
        "query" => {
            Auth::Query { name: need(a.name.clone(), "name")?, value: secret(a.value.clone(), "value")? }
        }
        "oauth2_client_credentials" => Auth::OAuth2ClientCredentials {
            token_url: need(a.token_url.clone(), "token_url")?,
            client_id: need(a.client_id.clone(), "client_id")?,
            client_secret: secret(a.client_secret.clone(), "client_secret")?,
            scope: a.scope.clone(),
        },
        other => {
            return Err(format!(
                "unknown auth type `{other}` (none, basic, bearer, header, query, oauth2_client_credentials)"
            ));
        }
    })
}

fn query_pairs(query: &BTreeMap<String, Value>) -> Vec<(String, String)> {
    query.iter().map(|(k, v)| (k.clone(), text_of(v))).collect()
}

#[async_trait]
impl Connector for Rest {
    type Config = RestConfig;
    const KIND: &'static str = "rest";

    fn options() -> Schema {
        Schema::new(vec![
            Field::optional("auth", FieldType::Table(auth_schema()), "How requests authenticate."),
            Field::optional("headers", FieldType::Any, "Headers sent with every request."),
            Field::optional("check_path", FieldType::String, "Path `engage check` requests."),
            Field::required(
                "stream",
                FieldType::TableList(stream_schema()),
                "One [[connection.stream]] per endpoint.",
            ),
        ])
    }

    fn new(config: RestConfig, ctx: ConnectorContext) -> Result<Self, ConnectorError> {
        let fail =
            |e: String| ConnectorError::needs_human(format!("rest connection `{}`: {e}", ctx.connection));
        let Some(base) = ctx.base_url.clone() else {
            return Err(fail("set `base_url`: the API's address".to_owned()));
        };
        let mut streams: Vec<StreamDef> = Vec::new();
        for stream in config.stream {
            if streams.iter().any(|s| s.name == stream.name) {
                return Err(fail(format!("two streams are named `{}`", stream.name)));
            }
            let platform = stream.platform.clone().unwrap_or_else(|| ctx.connection.clone());
            let mapping =
                EntityMapping::new(&stream.entity, &stream.fields, stream.deleted.clone(), &platform)
                    .map_err(|e| fail(format!("stream `{}`: {e}", stream.name)))?;
            let primary_key = match stream.primary_key.clone() {
                OneOrMany::One(key) => vec![key],
                OneOrMany::Many(keys) => keys,
            };
            if primary_key.is_empty() {
                return Err(fail(format!("stream `{}`: `primary_key` names no field", stream.name)));
            }
            streams.push(StreamDef {
                name: mapping::intern(&stream.name),
                primary_key,
                config: stream,
                mapping,
            });
        }
        let Some(first) = streams.first() else {
            return Err(fail("a rest connection needs at least one [[connection.stream]]".to_owned()));
        };
        let check_path = config.check_path.clone().unwrap_or_else(|| first.config.path.clone());
        let auth = build_auth(config.auth).map_err(fail)?;
        let headers: Vec<(String, String)> =
            config.headers.iter().map(|(k, v)| (k.clone(), text_of(v))).collect();
        let http = ctx.http(&base, auth, |mut b| {
            for (name, value) in &headers {
                b = b.default_header(name, value);
            }
            b
        })?;
        Ok(Rest { http, ctx, streams, check_path })
    }

    fn streams(&self) -> Vec<StreamSpec> {
        self.streams
            .iter()
            .map(|s| StreamSpec {
                name: s.name,
                entity: s.mapping.kind(),
                primary_key: mapping::intern_list(&s.primary_key),
                cursor_field: s.config.incremental.as_ref().map(|i| mapping::intern(&i.cursor_field)),
                modes: if s.config.incremental.is_some() {
                    &[SyncMode::Incremental, SyncMode::FullRefresh]
                } else {
                    &[SyncMode::FullRefresh]
                },
            })
            .collect()
    }

    async fn check(&self) -> Result<(), ConnectorError> {
        let mut request = self.http.get(&self.check_path);
        if let Some(first) = self.streams.first().filter(|s| s.config.path == self.check_path) {
            request = request.query_pairs(query_pairs(&first.config.query));
            if let Some(inc) = &first.config.incremental
                && let Some(start) = inc.start.as_deref().and_then(|s| cursor_param(s, inc.format))
            {
                request = request.query_pairs([(inc.param.clone(), start)]);
            }
        }
        request.send_json().await.map(|_| ())
    }

    fn read(&self, stream: &str, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        let Some(def) = self.streams.iter().find(|s| s.name == stream) else {
            let error = ConnectorError::needs_human(format!("this rest connection has no stream `{stream}`"));
            return Box::pin(futures::stream::once(async move { Err(error) }));
        };
        match self.paginator(def, checkpoint) {
            Ok((paginator, state)) => self.pages(def, paginator, state),
            Err(error) => Box::pin(futures::stream::once(async move { Err(error) })),
        }
    }
}

/// The checkpoint of a rest stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct State {
    /// The newest cursor value committed (the next sync starts there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
    /// Mid-sync: where the next page starts...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    page: Option<PageCursor>,
    /// ...the cursor value this sync started from...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start: Option<String>,
    /// ...and the newest cursor value seen so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    newest: Option<String>,
}

impl Rest {
    fn paginator(
        &self,
        def: &StreamDef,
        checkpoint: Option<Checkpoint>,
    ) -> Result<(Paginator, State), ConnectorError> {
        let saved: State = checkpoint.and_then(|c| serde_json::from_value(c).ok()).unwrap_or_default();
        let incremental = def.config.incremental.as_ref();
        let start = match &saved.page {
            Some(_) => saved.start.clone(),
            None => saved.cursor.clone().or_else(|| incremental.and_then(|i| i.start.clone())),
        };
        let mut first = RequestSpec { path: def.config.path.clone(), query: query_pairs(&def.config.query) };
        if let (Some(inc), Some(start)) = (incremental, &start) {
            let value = cursor_param(start, inc.format).ok_or_else(|| {
                ConnectorError::needs_human(format!(
                    "stream `{}`: cursor value `{start}` cannot be written as {:?}",
                    def.name, inc.format
                ))
            })?;
            first.query.retain(|(k, _)| k != &inc.param);
            first.query.push((inc.param.clone(), value));
        }
        let style = match &def.config.pagination {
            Some(p) => p.style.clone(),
            // The whole body is never a URL string: the list ends after the first page.
            None => Pagination::NextUrlInBody { pointer: String::new() },
        };
        let records = def.config.records.clone();
        let paginator = match saved.page.clone() {
            Some(at) => Paginator::resume(self.http.clone(), at, first, style, records),
            None => Paginator::new(self.http.clone(), first, style, records),
        };
        let newest = if saved.page.is_some() { saved.newest.clone() } else { None };
        Ok((paginator, State { cursor: None, page: None, start, newest }))
    }

    fn pages<'a>(&'a self, def: &'a StreamDef, paginator: Paginator, state: State) -> PageStream<'a> {
        paged((paginator, state), move |(mut paginator, mut state): (Paginator, State)| async move {
            let Some(fetched) = paginator.next_page().await? else {
                return Ok(Step::Done);
            };
            let mut page = self.map_page(def, &fetched, &mut state);
            let flagged_done = def
                .config
                .pagination
                .as_ref()
                .and_then(|p| p.done_pointer.as_deref())
                .and_then(|p| fetched.body.pointer(p))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            match fetched.next.clone().filter(|_| !flagged_done) {
                Some(next) => {
                    let mid = State { page: Some(next), ..state.clone() };
                    page.checkpoint = serde_json::to_value(&mid).unwrap_or(Value::Null);
                    Ok(Step::Page(page, (paginator, state)))
                }
                None => {
                    let cursor = state.newest.clone().or(state.start.clone());
                    let end = State { cursor, ..State::default() };
                    page.checkpoint = serde_json::to_value(&end).unwrap_or(Value::Null);
                    Ok(Step::Last(page))
                }
            }
        })
    }

    /// Maps one fetched page; the newest cursor value seen moves into `state`.
    fn map_page(&self, def: &StreamDef, fetched: &FetchedPage, state: &mut State) -> Page {
        let mut page = Page::default();
        let now = self.ctx.now();
        for record in &fetched.records {
            if let Some(inc) = &def.config.incremental
                && let Some(value) = lookup(record, &inc.cursor_field).filter(|v| !v.is_null())
            {
                let value = text_of(value);
                if state.newest.as_deref().is_none_or(|n| compare(&value, n) == Ordering::Greater) {
                    state.newest = Some(value);
                }
            }
            let raw = record.to_string();
            let id = match record_id(def, record) {
                Ok(id) => id,
                Err(reason) => {
                    let source_id = def.primary_key.first().and_then(|k| lookup(record, k)).map(text_of);
                    page.quarantined.push(Quarantined { source_id, raw, reason });
                    continue;
                }
            };
            let mapped = def.mapping.map(record).and_then(|entity| {
                let deleted_at = def.mapping.deleted_at(record, now)?;
                let raw = raw_json(&raw).map_err(|e| format!("not valid JSON: {e}"))?;
                Ok(Record { source_id: id.clone(), raw, deleted_at, tombstone: false, entity })
            });
            match mapped {
                Ok(record) => page.records.push(record),
                Err(reason) => page.quarantined.push(Quarantined { source_id: Some(id), raw, reason }),
            }
        }
        page
    }
}

/// The record's id: its primary key field(s) as text, joined with `:`.
fn record_id(def: &StreamDef, record: &Value) -> Result<String, String> {
    let mut parts = Vec::with_capacity(def.primary_key.len());
    for key in &def.primary_key {
        let part = match lookup(record, key) {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(format!("primary key `{key}` is missing")),
        };
        if def.config.id_type == Some(IdType::Integer) && part.trim().parse::<i64>().is_err() {
            return Err(format!("primary key `{key}`: `{part}` is not an integer"));
        }
        parts.push(part);
    }
    Ok(parts.join(":"))
}

/// Orders cursor values: as times when both are, else as numbers, else as text.
fn compare(a: &str, b: &str) -> Ordering {
    use engage_connect::time::parse_timestamp;
    if let (Some(x), Some(y)) = (parse_timestamp(a), parse_timestamp(b)) {
        return x.cmp(&y);
    }
    if let (Ok(x), Ok(y)) = (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
        return x.partial_cmp(&y).unwrap_or(Ordering::Equal);
    }
    a.cmp(b)
}

/// A cursor value written for the request; `None` when it is not a time and must be one.
fn cursor_param(value: &str, format: CursorFormat) -> Option<String> {
    if format == CursorFormat::Raw {
        return Some(value.to_owned());
    }
    let at = engage_connect::time::parse_timestamp(value)?;
    Some(match format {
        CursorFormat::Raw => value.to_owned(),
        CursorFormat::Unix => at.timestamp().to_string(),
        CursorFormat::UnixMs => at.timestamp_millis().to_string(),
        CursorFormat::Rfc3339 => at.to_rfc3339_opts(SecondsFormat::Secs, true),
        CursorFormat::Date => at.format("%Y-%m-%d").to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_values_order_and_format() {
        assert_eq!(compare("2024-05-01T12:00:00Z", "2024-05-01T13:00:00+02:00"), Ordering::Greater);
        assert_eq!(compare("9", "10"), Ordering::Less);
        assert_eq!(compare("b", "a"), Ordering::Greater);
        assert_eq!(cursor_param("2024-05-01T12:00:00Z", CursorFormat::Unix).as_deref(), Some("1714564800"));
        assert_eq!(
            cursor_param("2024-05-01T12:00:00Z", CursorFormat::UnixMs).as_deref(),
            Some("1714564800000")
        );
        assert_eq!(
            cursor_param("2024-05-01T14:00:00+02:00", CursorFormat::Rfc3339).as_deref(),
            Some("2024-05-01T12:00:00Z")
        );
        assert_eq!(cursor_param("2024-05-01T23:00:00Z", CursorFormat::Date).as_deref(), Some("2024-05-01"));
        assert_eq!(cursor_param("0", CursorFormat::Unix).as_deref(), Some("0"));
        assert_eq!(cursor_param("abc", CursorFormat::Raw).as_deref(), Some("abc"));
        assert_eq!(cursor_param("abc", CursorFormat::Unix), None);
    }

    #[test]
    fn auth_schemes() {
        let auth = |v: Value| build_auth(Some(serde_json::from_value(v).unwrap()));
        assert!(matches!(auth(serde_json::json!({"type": "bearer", "token": "t"})), Ok(Auth::Bearer(_))));
        assert!(matches!(
            auth(serde_json::json!({"type": "header", "name": "X-Api-Key", "value": "k"})),
            Ok(Auth::Header { .. })
        ));
        assert_eq!(
            auth(serde_json::json!({"type": "query", "name": "key"})).unwrap_err(),
            "auth `query` needs `value`"
        );
        assert!(
            auth(serde_json::json!({"type": "digest"}))
                .unwrap_err()
                .starts_with("unknown auth type `digest`")
        );
        assert!(matches!(build_auth(None), Ok(Auth::None)));
    }
}
