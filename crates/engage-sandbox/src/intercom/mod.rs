//! The Intercom simulator (API 2.11): conversation and contact search with cursor pagination in
//! the request body, Bearer auth, `GET /me`, and Intercom's rate limit in 10-second windows with
//! an absolute `X-RateLimit-Reset`.
//!
//! Routes: `POST /conversations/search` (route `conversations_search`), `POST /contacts/search`
//! (route `contacts_search`), `GET /me` (route `me`). Ground-truth streams: `conversations`,
//! `conversation_ratings` (one per rated conversation, id = the conversation's, raw = the
//! `conversation_rating` object with `conversation_id` added) and `contacts`.
//!
//! Behaviour worth knowing (helpdesk.md §4):
//! - Search takes `{"query": …, "pagination": {"per_page", "starting_after"}}`; `per_page`
//!   defaults to 20 (contacts: 50) and is capped at 150; the next cursor is `pages.next
//!   .starting_after`, absent on the last page. A `starting_after` in the URL is ignored: the
//!   first page again, as on Intercom. Queries nest at most 2 levels with at most 15 filters
//!   per group; supported fields: `id`, `created_at`, `updated_at`, `state`/`open`,
//!   `source.type`, `conversation_rating.score` (conversations); `id`, `created_at`,
//!   `updated_at`, `role`, `email` (contacts). Anything else is a 400.
//! - Timestamps are matched by calendar day in the workspace's time zone (a fixed offset,
//!   [`IntercomOptions::utc_offset`]): `>` matches from the start of the next day, `<` before the
//!   start of the day, `=` the whole day; `!=`, `>=`, `<=`, `IN`, `NIN` on a date are a 400.
//! - Results come in no documented order: by `updated_at` across pages, shuffled within a page.
//! - `statistics` and `conversation_rating` are null until the events happen; [`Mutation`]s
//!   move conversations on (replies, closes, reopens, ratings) and update contacts. Intercom's
//!   REST API has no deletions to list, so mutations delete nothing.
//! - Ids are strings (`"5000000042"`, 24 hex digits for contacts) beside integer
//!   `admin_assignee_id`/`team_assignee_id`.
//! - Every authenticated response carries `X-RateLimit-Limit` (requests per 10-second window),
//!   `X-RateLimit-Remaining` and `X-RateLimit-Reset` (the Unix time the window ends); over the
//!   limit, a 429 `rate_limit_exceeded` with those headers and no `Retry-After`.
//! - Malformed records (see [`Faults::malformed_rate`]) get `"created_at": "not a date"` or
//!   `"updated_at": "never"`; a malformed rating (stream `conversation_ratings`) is
//!   `"rating": "five stars"`. The official examples at the head of each stream never are.

mod records;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::seq::SliceRandom;
use serde_json::{Value, json};

use crate::credentials;
use crate::faults::Faults;
use crate::rng;
use crate::sim::{Control, MUTATION_STEP, Sim, SimConfig, SimState, Simulator};
use crate::timeline::{Mutation, Pos, Start, Timeline, Version};
use crate::truth::{GroundTruth, TruthRecord};
use records::{Facts, Gen};

pub use records::{ADMIN_BASE, CONVERSATION_BASE};

/// A running Intercom simulator.
pub type IntercomSim = Sim<Intercom>;

/// Stream of conversations (tickets).
pub const CONVERSATIONS: &str = "conversations";
/// Stream of conversation ratings.
pub const RATINGS: &str = "conversation_ratings";
/// Stream of contacts.
pub const CONTACTS: &str = "contacts";
/// Route of `POST /conversations/search`.
pub const CONVERSATIONS_SEARCH: &str = "conversations_search";
/// Route of `POST /contacts/search`.
pub const CONTACTS_SEARCH: &str = "contacts_search";
/// Route of `GET /me`.
pub const ME: &str = "me";

/// The official examples (see `fixtures/SOURCES.md`).
pub mod fixtures {
    /// `GET /conversations` 200 example (conversation 335).
    pub const CONVERSATIONS_LIST: &str =
        include_str!("../../fixtures/intercom/oas211_conversations_list_200_successful.json");
    /// `POST /conversations/search` 200 example (conversation 378).
    pub const CONVERSATIONS_SEARCH: &str =
        include_str!("../../fixtures/intercom/oas211_conversations_search_200_successful.json");
    /// `POST /conversations/search` request example.
    pub const SEARCH_REQUEST: &str =
        include_str!("../../fixtures/intercom/oas211_conversations_search_request_successful.json");
    /// `GET /conversations/{id}` 200 example (conversation 367, with `conversation_parts`).
    pub const CONVERSATION_RETRIEVE: &str =
        include_str!("../../fixtures/intercom/oas211_conversation_retrieve_200_conversation_found.json");
    /// `POST /contacts` 200 example: the one complete contact of the spec.
    pub const CONTACT: &str =
        include_str!("../../fixtures/intercom/oas211_contact_create_200_successful.json");
    /// `GET /contacts` 200 example (empty).
    pub const CONTACTS_LIST: &str =
        include_str!("../../fixtures/intercom/oas211_contacts_list_200_successful.json");
    /// `GET /me` 200 example.
    pub const ME: &str = include_str!("../../fixtures/intercom/oas211_me_200_successful.json");
    /// A `conversation_rating` assembled from the schema's examples.
    pub const RATING: &str =
        include_str!("../../fixtures/intercom/assembled_from_schema_conversation_rating.json");
    /// `conversation_statistics` assembled from the schema's examples.
    pub const STATISTICS: &str =
        include_str!("../../fixtures/intercom/assembled_from_schema_conversation_statistics.json");
    /// `cursor_pages` with `next`, assembled from the schema's examples.
    pub const PAGES_WITH_NEXT: &str =
        include_str!("../../fixtures/intercom/assembled_from_schema_cursor_pages_with_next.json");
    /// 401 `error.list`.
    pub const ERROR_401: &str =
        include_str!("../../fixtures/intercom/oas211_conversations_list_401_Unauthorized.json");
    /// 403 `error.list` (`api_plan_restricted`).
    pub const ERROR_403: &str =
        include_str!("../../fixtures/intercom/oas211_conversations_list_403_API_plan_restricted.json");
    /// 404 `error.list`.
    pub const ERROR_404: &str =
        include_str!("../../fixtures/intercom/oas211_conversation_retrieve_404_Not_found.json");
}

const JSON: &str = "application/json; charset=utf-8";
const WINDOW: u64 = 10;
/// Intercom's default private-app limit, 10,000 a minute, per 10-second window.
const DEFAULT_WINDOW_LIMIT: u64 = 1_666;

/// Intercom simulator options. `Default` has Intercom's default private-app limit: 10,000
/// requests a minute, enforced as 1,666 per 10-second window.
#[derive(Clone, Debug, PartialEq)]
pub struct IntercomOptions {
    /// Seed, conversation count, clock, faults.
    pub sim: SimConfig,
    /// Contacts (`None`: half the conversations plus 20).
    pub contacts: Option<usize>,
    /// Share of generated conversations that carry the unknown field `x_sim_extra`.
    pub extra_field_rate: f64,
    /// The access token the simulator accepts (`Authorization: Bearer …`).
    pub access_token: String,
    /// Requests per 10-second window (0 = unlimited, and no rate-limit headers).
    pub window_limit: u64,
    /// The workspace time zone's offset from UTC in seconds (day boundaries of date searches);
    /// default −7 h, the example workspace's `America/Los_Angeles` in summer.
    pub utc_offset: i64,
}

impl Default for IntercomOptions {
    fn default() -> Self {
        IntercomOptions {
            sim: SimConfig::default(),
            contacts: None,
            extra_field_rate: 0.03,
            access_token: "sandbox-intercom-token".to_owned(),
            window_limit: DEFAULT_WINDOW_LIMIT,
            utc_offset: -7 * 3_600,
        }
    }
}

impl IntercomOptions {
    /// Default options with this seed and conversation count.
    pub fn new(seed: u64, records: usize) -> Self {
        let mut o = IntercomOptions::default();
        o.sim.seed = seed;
        o.sim.records = records;
        o
    }

    /// No rate limit (for benchmarks).
    pub fn unlimited() -> Self {
        IntercomOptions { window_limit: 0, ..IntercomOptions::default() }
    }
}

struct Data {
    conversations: Timeline,
    contacts: Timeline,
}

/// Requests per token in the current wall-clock 10-second window.
#[derive(Debug, Default)]
struct Windows(Mutex<HashMap<String, (u64, u64)>>);

/// The Intercom simulator's state (use it through [`IntercomSim`]).
pub struct Intercom {
    records: Gen,
    data: RwLock<Data>,
    windows: Windows,
    access_token: String,
    window_limit: u64,
    utc_offset: i64,
}

impl std::fmt::Debug for Intercom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intercom").finish_non_exhaustive()
    }
}

fn wall_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

impl Intercom {
    /// `(conversations, contacts)` currently in the dataset.
    pub fn counts(&self) -> (u64, u64) {
        let d = self.read();
        (d.conversations.len(), d.contacts.len())
    }

    /// The id of the conversation at `index` (0–2 are the official examples).
    pub fn conversation_id(&self, index: u64) -> String {
        self.records.conversation_id(index)
    }

    /// Forgets every request counted by the rate limiter.
    pub fn reset_rate_limits(&self) {
        self.windows.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Data> {
        self.data.read().unwrap_or_else(|e| e.into_inner())
    }

    fn malformation(&self, control: &Control, stream: &str, index: u64, first: u64) -> Option<u8> {
        let route = match stream {
            CONTACTS => CONTACTS_SEARCH,
            _ => CONVERSATIONS_SEARCH,
        };
        if index < first { None } else { control.faults(route).malformation(control.seed(), stream, index) }
    }

    /// The conversation at `index`, as served now.
    fn conversation_value(&self, control: &Control, index: u64, v: &Version) -> Value {
        let first = self.records.conversations.fixed.len() as u64;
        let malformed = self.malformation(control, CONVERSATIONS, index, first);
        let bad_rating = self.malformation(control, RATINGS, index, first).is_some();
        serde_json::to_value(self.records.conversation(index, v, malformed, bad_rating))
            .unwrap_or(Value::Null)
    }

    /// The rate-limit headers of a window: limit, remaining, reset (absolute Unix time).
    fn window_headers(&self, remaining: u64, reset: u64) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HeaderName::from_static("x-ratelimit-limit"), HeaderValue::from(self.window_limit));
        headers.insert(HeaderName::from_static("x-ratelimit-remaining"), HeaderValue::from(remaining));
        headers.insert(HeaderName::from_static("x-ratelimit-reset"), HeaderValue::from(reset));
        headers
    }
}

fn request_id(seed: u64, n: u64) -> String {
    let h = rng::hash(seed, &[n, 0x1D]);
    let g = rng::hash(seed, &[n, 0x1E]);
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        g >> 52,
        g & 0xffff_ffff_ffff
    )
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(JSON))], body).into_response()
}

/// Intercom's `error.list`.
fn error_list(status: StatusCode, code: &str, message: &str) -> Response {
    let n = rng::tag(message) ^ u64::from(status.as_u16());
    let body = json!({
        "type": "error.list",
        "request_id": request_id(7, n),
        "errors": [{ "code": code, "message": message }],
    });
    json_response(status, serde_json::to_vec(&body).unwrap_or_default())
}

fn bad_request(message: &str) -> Response {
    error_list(StatusCode::BAD_REQUEST, "parameter_invalid", message)
}

/// What a search may filter on, and how.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FieldType {
    Date,
    Integer,
    Text,
    Boolean,
}

/// One parsed filter.
enum Filter {
    Field { field: String, kind: FieldType, op: String, value: Value },
    And(Vec<Filter>),
    Or(Vec<Filter>),
}

fn field_type(searched: Searched, field: &str) -> Option<FieldType> {
    match (searched, field) {
        (_, "created_at" | "updated_at") => Some(FieldType::Date),
        (_, "id") => Some(FieldType::Text),
        (Searched::Conversations, "state" | "source.type") => Some(FieldType::Text),
        (Searched::Conversations, "open") => Some(FieldType::Boolean),
        (Searched::Conversations, "conversation_rating.score") => Some(FieldType::Integer),
        (Searched::Contacts, "role" | "email") => Some(FieldType::Text),
        _ => None,
    }
}

fn parse_filter(searched: Searched, q: &Value, depth: u32) -> Result<Filter, String> {
    let op = q.get("operator").and_then(Value::as_str).ok_or("each filter needs an operator")?;
    if let Some(field) = q.get("field") {
        let field = field.as_str().ok_or("field must be a string")?;
        let kind = field_type(searched, field).ok_or_else(|| format!("{field} is not a searchable field"))?;
        let value = q.get("value").cloned().ok_or("each filter needs a value")?;
        let valid = match kind {
            FieldType::Date => matches!(op, "=" | ">" | "<"),
            FieldType::Integer => matches!(op, "=" | "!=" | ">" | "<" | "IN" | "NIN"),
            FieldType::Boolean => matches!(op, "=" | "!="),
            FieldType::Text => matches!(op, "=" | "!=" | "IN" | "NIN" | "~" | "!~" | "^" | "$"),
        };
        if !valid {
            return Err(format!("the operator {op} is not supported for {field}"));
        }
        if matches!(kind, FieldType::Date | FieldType::Integer) && number(&value).is_none() {
            return Err(format!("{field} needs an integer value"));
        }
        return Ok(Filter::Field { field: field.to_owned(), kind, op: op.to_owned(), value });
    }
    if depth >= 2 {
        return Err("there is a limit of max 2 nested filters".into());
    }
    let items = q.get("value").and_then(Value::as_array).ok_or("AND and OR take an array of filters")?;
    if items.len() > 15 {
        return Err("there is a limit of max 15 filters for each AND or OR group".into());
    }
    let parsed = items.iter().map(|i| parse_filter(searched, i, depth + 1)).collect::<Result<Vec<_>, _>>()?;
    match op {
        "AND" => Ok(Filter::And(parsed)),
        "OR" => Ok(Filter::Or(parsed)),
        other => Err(format!("{other} is not AND or OR")),
    }
}

/// An integer, or a string of one (Intercom's own example sends `"1306054154"`).
fn number(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Start of the calendar day holding `t` in a zone `offset` seconds from UTC.
fn day_start(t: i64, offset: i64) -> i64 {
    (t + offset).div_euclid(86_400) * 86_400 - offset
}

impl Filter {
    fn matches(&self, f: &Facts, offset: i64) -> bool {
        match self {
            Filter::And(items) => items.iter().all(|i| i.matches(f, offset)),
            Filter::Or(items) => items.iter().any(|i| i.matches(f, offset)),
            Filter::Field { field, kind, op, value } => {
                let text = match field.as_str() {
                    "id" => Some(f.id.as_str()),
                    "state" | "role" => Some(f.state.as_str()),
                    "source.type" | "email" => Some(f.kind.as_str()),
                    _ => None,
                };
                match kind {
                    FieldType::Date => {
                        let t = if field == "created_at" { f.created_at } else { f.updated_at };
                        let start = day_start(number(value).unwrap_or(0), offset);
                        match op.as_str() {
                            ">" => t >= start + 86_400,
                            "<" => t < start,
                            _ => (start..start + 86_400).contains(&t),
                        }
                    }
                    FieldType::Integer => {
                        let Some(score) = f.rating.map(i64::from) else { return op == "!=" || op == "NIN" };
                        let list =
                            |v: &Value| v.as_array().map(|a| a.iter().filter_map(number).collect::<Vec<_>>());
                        match op.as_str() {
                            ">" => number(value).is_some_and(|n| score > n),
                            "<" => number(value).is_some_and(|n| score < n),
                            "=" => number(value) == Some(score),
                            "!=" => number(value) != Some(score),
                            "IN" => list(value).is_some_and(|l| l.contains(&score)),
                            _ => list(value).is_none_or(|l| !l.contains(&score)),
                        }
                    }
                    FieldType::Boolean => {
                        let open = f.state != "closed";
                        (value.as_bool() == Some(open)) == (op == "=")
                    }
                    FieldType::Text => {
                        let t = text.unwrap_or("");
                        let v = value.as_str().unwrap_or("");
                        let list =
                            value.as_array().map(|a| a.iter().filter_map(Value::as_str).any(|x| x == t));
                        match op.as_str() {
                            "=" => t == v,
                            "!=" => t != v,
                            "IN" => list == Some(true),
                            "NIN" => list != Some(true),
                            "~" => t.contains(v),
                            "!~" => !t.contains(v),
                            "^" => t.starts_with(v),
                            _ => t.ends_with(v),
                        }
                    }
                }
            }
        }
    }

    /// The earliest `updated_at` a match can have (where the scan starts), if the filter says.
    fn updated_floor(&self, offset: i64) -> Option<i64> {
        match self {
            Filter::Field { field, kind: FieldType::Date, op, value } if field == "updated_at" => {
                let start = day_start(number(value)?, offset);
                match op.as_str() {
                    ">" => Some(start + 86_400),
                    "=" => Some(start),
                    _ => None,
                }
            }
            Filter::And(items) => items.iter().filter_map(|i| i.updated_floor(offset)).max(),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Searched {
    Conversations,
    Contacts,
}

fn encode_cursor(pos: Pos, page: u64) -> String {
    STANDARD.encode(format!("[{},{},{page}]", pos.time, pos.index))
}

fn decode_cursor(cursor: &str) -> Option<(Pos, u64)> {
    let raw = String::from_utf8(STANDARD.decode(cursor.trim()).ok()?).ok()?;
    let v: Vec<i64> = serde_json::from_str(&raw).ok()?;
    match v[..] {
        [time, index, page] if index >= 0 && page >= 1 => {
            Some((Pos { time, index: index as u64 }, page as u64))
        }
        _ => None,
    }
}

fn search(state: &SimState<Intercom>, searched: Searched, body: &[u8]) -> Response {
    let ic = &state.sim;
    let control = &state.control;
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return bad_request("the request body is not valid JSON");
    };
    let Some(query) = body.get("query") else {
        return bad_request("query is required");
    };
    let filter = match parse_filter(searched, query, 0) {
        Ok(f) => f,
        Err(e) => return bad_request(&e),
    };
    let pagination = body.get("pagination");
    let per_page = match pagination.and_then(|p| p.get("per_page")) {
        None => match searched {
            Searched::Conversations => 20,
            Searched::Contacts => 50,
        },
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => n.min(150) as usize,
            _ => return bad_request("per_page must be a positive integer"),
        },
    };
    let after = match pagination.and_then(|p| p.get("starting_after")).filter(|v| !v.is_null()) {
        None => None,
        Some(v) => match v.as_str().and_then(decode_cursor) {
            Some(c) => Some(c),
            None => return bad_request("starting_after is not a valid cursor"),
        },
    };
    let offset = ic.utc_offset;
    let floor = filter.updated_floor(offset).unwrap_or(i64::MIN);
    let data = ic.read();
    let (timeline, stream) = match searched {
        Searched::Conversations => (&data.conversations, CONVERSATIONS),
        Searched::Contacts => (&data.contacts, CONTACTS),
    };
    let facts = |index: u64, v: &Version| match searched {
        Searched::Conversations => ic.records.conversation_facts(index, v),
        Searched::Contacts => ic.records.contact_facts(index, v),
    };
    let keep = |index: u64, v: &Version| !v.deleted && filter.matches(&facts(index, v), offset);
    let total = timeline.scan(Start::Time(floor), None, usize::MAX, keep).items.len();
    let (start, page_no) = match after {
        Some((pos, page)) => (Start::After(pos), page + 1),
        None => (Start::Time(floor), 1),
    };
    let scan = timeline.scan(start, None, per_page, keep);
    let mut items: Vec<Value> = scan
        .items
        .iter()
        .map(|(index, v)| match searched {
            Searched::Conversations => ic.conversation_value(control, *index, v),
            Searched::Contacts => {
                let malformed = ic.malformation(control, stream, *index, timeline.fixed_len());
                serde_json::to_value(ic.records.contact(*index, v, malformed)).unwrap_or(Value::Null)
            }
        })
        .collect();
    drop(data);
    // No documented order: shuffled within the page.
    let page_seed = scan.last.map_or(0, |p| p.index ^ (p.time as u64));
    items.shuffle(&mut rng::rng(control.seed(), &[0x5E4C, page_seed]));
    let total_pages = total.div_ceil(per_page).max(usize::from(total > 0));
    let mut pages =
        json!({ "type": "pages", "page": page_no, "per_page": per_page, "total_pages": total_pages });
    if let (true, Some(last)) = (scan.more, scan.last) {
        pages["next"] = json!({ "page": page_no + 1, "starting_after": encode_cursor(last, page_no) });
    }
    let body = match searched {
        Searched::Conversations => json!({
            "type": "conversation.list",
            "pages": pages,
            "total_count": total,
            "conversations": items,
        }),
        Searched::Contacts => json!({ "type": "list", "data": items, "total_count": total, "pages": pages }),
    };
    json_response(StatusCode::OK, serde_json::to_vec(&body).unwrap_or_default())
}

async fn conversations_search(State(state): State<Arc<SimState<Intercom>>>, body: Bytes) -> Response {
    search(&state, Searched::Conversations, &body)
}

async fn contacts_search(State(state): State<Arc<SimState<Intercom>>>, body: Bytes) -> Response {
    search(&state, Searched::Contacts, &body)
}

async fn me(State(state): State<Arc<SimState<Intercom>>>) -> Response {
    let mut me: Value = serde_json::from_str(fixtures::ME).unwrap_or(Value::Null);
    me["app"]["timezone"] = json!(state.sim.zone_name());
    json_response(StatusCode::OK, serde_json::to_vec(&me).unwrap_or_default())
}

async fn not_found() -> Response {
    json_response(StatusCode::NOT_FOUND, fixtures::ERROR_404.as_bytes().to_vec())
}

impl Intercom {
    /// The workspace time zone as `/me` reports it.
    fn zone_name(&self) -> String {
        match self.utc_offset {
            -25_200 => "America/Los_Angeles".to_owned(),
            0 => "Etc/UTC".to_owned(),
            secs => format!("Etc/GMT{:+}", -secs / 3_600),
        }
    }
}

/// The `conversation_rating` of a served conversation with `conversation_id` added first, as the
/// connector stores a rating.
pub fn rating_record(conversation: &Value) -> Option<Value> {
    let rating = conversation.get("conversation_rating").filter(|r| r.is_object())?;
    let id = conversation.get("id")?.clone();
    let mut out = serde_json::Map::new();
    out.insert("conversation_id".to_owned(), id);
    out.extend(rating.as_object()?.clone());
    Some(Value::Object(out))
}

impl Simulator for Intercom {
    type Options = IntercomOptions;
    const NAME: &'static str = "intercom";
    const ROUTES: &'static [&'static str] = &[CONVERSATIONS_SEARCH, CONTACTS_SEARCH, ME];

    fn config(options: &IntercomOptions) -> &SimConfig {
        &options.sim
    }

    fn build(o: IntercomOptions, control: &Control) -> Self {
        let conversations = o.sim.records as u64;
        let contacts = o.contacts.map_or(conversations / 2 + 20, |c| c as u64);
        let examples: Vec<Value> =
            [fixtures::CONVERSATIONS_LIST, fixtures::CONVERSATION_RETRIEVE, fixtures::CONVERSATIONS_SEARCH]
                .iter()
                .filter_map(|text| {
                    let v: Value = serde_json::from_str(text).ok()?;
                    match v.get("conversations") {
                        Some(list) => list.get(0).cloned(),
                        None => Some(v),
                    }
                })
                .collect();
        let contact_examples: Vec<Value> = serde_json::from_str(fixtures::CONTACT).into_iter().collect();
        let records = Gen::new(
            o.sim.seed,
            o.extra_field_rate,
            (&examples, &contact_examples),
            (conversations, contacts),
            control.now(),
        );
        let data = Data {
            conversations: records.conversations.timeline.clone(),
            contacts: records.contacts.timeline.clone(),
        };
        Intercom {
            records,
            data: RwLock::new(data),
            windows: Windows::default(),
            access_token: o.access_token,
            window_limit: o.window_limit,
            utc_offset: o.utc_offset,
        }
    }

    fn route_of(path: &str) -> Option<&'static str> {
        match path.trim_end_matches('/') {
            "/conversations/search" => Some(CONVERSATIONS_SEARCH),
            "/contacts/search" => Some(CONTACTS_SEARCH),
            "/me" => Some(ME),
            _ => None,
        }
    }

    fn router(state: Arc<SimState<Self>>) -> Router {
        Router::new()
            .route("/conversations/search", post(conversations_search))
            .route("/contacts/search", post(contacts_search))
            .route("/me", get(me))
            .fallback(not_found)
            .with_state(state)
    }

    fn authenticate(&self, parts: &Parts) -> Result<String, Box<Response>> {
        match credentials::bearer(parts) {
            Some(t) if t == self.access_token => Ok(t.to_owned()),
            _ => Err(Box::new(self.error_response(StatusCode::UNAUTHORIZED))),
        }
    }

    fn admit(
        &self,
        _route: &'static str,
        account: &str,
        _faults: &Faults,
    ) -> Result<HeaderMap, Box<Response>> {
        if self.window_limit == 0 {
            return Ok(HeaderMap::new());
        }
        let window = wall_secs() as u64 / WINDOW;
        let reset = (window + 1) * WINDOW;
        let mut windows = self.windows.0.lock().unwrap_or_else(|e| e.into_inner());
        let entry = windows.entry(account.to_owned()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= self.window_limit {
            let message = format!("Exceeded rate limit of {} in 10_seconds", self.window_limit);
            let mut resp = error_list(StatusCode::TOO_MANY_REQUESTS, "rate_limit_exceeded", &message);
            resp.headers_mut().extend(self.window_headers(0, reset));
            return Err(Box::new(resp));
        }
        entry.1 += 1;
        Ok(self.window_headers(self.window_limit - entry.1, reset))
    }

    fn rate_headers(&self) -> HeaderMap {
        // Intercom sends the rate-limit headers on authenticated answers only.
        HeaderMap::new()
    }

    fn error_response(&self, status: StatusCode) -> Response {
        match status.as_u16() {
            401 => json_response(status, fixtures::ERROR_401.as_bytes().to_vec()),
            403 => json_response(status, fixtures::ERROR_403.as_bytes().to_vec()),
            404 => json_response(status, fixtures::ERROR_404.as_bytes().to_vec()),
            503 => {
                error_list(status, "service_unavailable", "Sorry, the API service is temporarily unavailable")
            }
            code if code >= 500 => error_list(status, "server_error", "Server Error"),
            _ => error_list(status, "parameter_invalid", status.canonical_reason().unwrap_or("Error")),
        }
    }

    fn throttle_response(&self, retry_after: Option<u64>) -> Response {
        // An unlimited simulator still answers an injected 429 with Intercom's default limit.
        let limit = if self.window_limit == 0 { DEFAULT_WINDOW_LIMIT } else { self.window_limit };
        let message = format!("Exceeded rate limit of {limit} in 10_seconds");
        let mut resp = error_list(StatusCode::TOO_MANY_REQUESTS, "rate_limit_exceeded", &message);
        // Intercom never sends Retry-After: the wait is the absolute reset time.
        if let Some(secs) = retry_after {
            let reset = wall_secs().ceil() as u64 + secs;
            let mut headers = self.window_headers(0, reset);
            headers.insert(HeaderName::from_static("x-ratelimit-limit"), HeaderValue::from(limit));
            resp.headers_mut().extend(headers);
        }
        resp
    }

    fn ground_truth(&self, control: &Control) -> GroundTruth {
        let mut truth = GroundTruth::default();
        let data = self.read();
        let first = data.conversations.fixed_len();
        for (index, v) in data.conversations.iter() {
            let raw = self.conversation_value(control, index, &v);
            let id = self.records.conversation_id(index);
            let malformed = self.malformation(control, CONVERSATIONS, index, first).is_some();
            if let Some(rating) = rating_record(&raw) {
                let bad = self.malformation(control, RATINGS, index, first).is_some();
                truth.insert(RATINGS, id.clone(), TruthRecord { raw: rating, deleted: false }, bad);
            }
            truth.insert(CONVERSATIONS, id, TruthRecord { raw, deleted: v.deleted }, malformed);
        }
        let first = data.contacts.fixed_len();
        for (index, v) in data.contacts.iter() {
            let malformed = self.malformation(control, CONTACTS, index, first);
            let raw = serde_json::to_value(self.records.contact(index, &v, malformed)).unwrap_or(Value::Null);
            let id = self.records.contact_id(index);
            truth.insert(CONTACTS, id, TruthRecord { raw, deleted: v.deleted }, malformed.is_some());
        }
        truth
    }

    fn mutate(&self, control: &Control, m: Mutation) {
        let (old, new) = control.advance(MUTATION_STEP);
        let (t0, t1) = (old + 1, new - 120);
        let seed = control.seed();
        let mut data = self.data.write().unwrap_or_else(|e| e.into_inner());
        data.conversations.apply(seed, rng::tag(CONVERSATIONS), &m, t0, t1, false);
        data.contacts.apply(seed, rng::tag(CONTACTS), &m, t0, t1, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_look_like_intercoms() {
        let pos = Pos { time: 1_719_492_843, index: 42 };
        let c = encode_cursor(pos, 3);
        assert!(c.starts_with("Wz"), "{c}");
        assert_eq!(decode_cursor(&c), Some((pos, 3)));
        assert_eq!(decode_cursor("your-cursor-from-response"), None);
    }

    #[test]
    fn days_start_at_the_workspace_midnight() {
        // 2020-01-01T09:00Z is 01:00 in Los Angeles (UTC−8 in winter; −7 here): the day starts
        // at 07:00Z.
        assert_eq!(day_start(1_577_869_200, 0), 1_577_836_800);
        assert_eq!(day_start(1_577_869_200, -7 * 3_600), 1_577_836_800 + 7 * 3_600);
        assert_eq!(day_start(1_577_836_800 + 3_600, -7 * 3_600), 1_577_836_800 + 7 * 3_600 - 86_400);
    }

    #[test]
    fn fixtures_parse() {
        for text in [
            fixtures::CONVERSATIONS_LIST,
            fixtures::CONVERSATIONS_SEARCH,
            fixtures::SEARCH_REQUEST,
            fixtures::CONVERSATION_RETRIEVE,
            fixtures::CONTACT,
            fixtures::CONTACTS_LIST,
            fixtures::ME,
            fixtures::RATING,
            fixtures::STATISTICS,
            fixtures::PAGES_WITH_NEXT,
            fixtures::ERROR_401,
            fixtures::ERROR_403,
            fixtures::ERROR_404,
        ] {
            assert!(serde_json::from_str::<Value>(text).is_ok());
        }
    }
}
