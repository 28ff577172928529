//! The Zendesk Support simulator: cursor-based incremental ticket and user exports (with
//! `include=metric_sets`), satisfaction ratings with cursor pagination, API-token Basic auth, and
//! the account and incremental-export rate limits with Zendesk's headers.
//!
//! Routes (`.json` optional): `GET /api/v2/incremental/tickets/cursor.json` (route `tickets`),
//! `GET /api/v2/incremental/users/cursor.json` (route `users`), `GET /api/v2/satisfaction_ratings`
//! (route `satisfaction_ratings`). Route names are also the ground-truth stream names.
//!
//! Behaviour worth knowing (helpdesk.md §1):
//! - Exports are ordered by (`generated_timestamp`, id) and filtered on it (users: `updated_at`);
//!   about 30% of tickets have an `updated_at` earlier than their `generated_timestamp`.
//! - `after_cursor` is never null on a non-empty page; an empty page keeps the cursor it was
//!   asked with, or is null after a `start_time` request (as in Zendesk's own examples).
//!   `after_url` repeats `per_page`, `include` and `exclude_deleted`. `before_*` are always null.
//! - A [`Mutation`] applies to every stream: tickets are updated, deleted (`status: "deleted"`)
//!   and created; users too (a deleted user is served with `active: false`); ratings are updated
//!   and created, never deleted. The clock advances by [`MUTATION_STEP`].
//! - Malformed records (see [`Faults::malformed_rate`]) get `"created_at": "not a date"` or an
//!   id like `"ZD-5000000042"`; the official examples at the head of each stream never are.
//! - Satisfaction ratings are ordered by (`updated_at`, id), so `start_time` (inclusive) picks
//!   up changed ratings; `page[size]` is capped at 100 and `per_page` at 1000.

mod fixtures;
mod records;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Serialize;
use serde_json::Value;

use crate::credentials::{self, to_value};
use crate::faults::Faults;
use crate::rate::{Admit, RateLimiter};
use crate::rng;
use crate::sim::{Control, MUTATION_STEP, Sim, SimConfig, SimState, Simulator};
use crate::timeline::{Mutation, Pos, Start, Timeline};
use crate::truth::{GroundTruth, TruthRecord};
use records::{Doc, Gen};

pub use fixtures::{INCREMENTAL_TICKETS, INCREMENTAL_USERS, SATISFACTION_RATINGS, TICKET_SHOW};
pub use records::{AGENTS, METRIC_BASE, RATING_BASE, TICKET_BASE, USER_BASE};

/// A running Zendesk simulator.
pub type ZendeskSim = Sim<Zendesk>;

/// Route (and stream) of the incremental ticket export.
pub const TICKETS: &str = "tickets";
/// Route (and stream) of the incremental user export.
pub const USERS: &str = "users";
/// Route (and stream) of satisfaction ratings.
pub const SATISFACTION: &str = "satisfaction_ratings";
/// Route name of `GET /api/v2/users/me.json` (credentials checks).
pub const ME: &str = "me";

const TOO_MANY: &str = "Number of allowed API requests per minute exceeded";
const JSON: &str = "application/json; charset=utf-8";

/// Zendesk simulator options. `Default` has Zendesk's own limits (700 requests/min for the
/// account, 10/min for incremental exports).
#[derive(Clone, Debug, PartialEq)]
pub struct ZendeskOptions {
    /// Seed, ticket count, clock, faults.
    pub sim: SimConfig,
    /// Users (`None`: a quarter of the tickets plus 20).
    pub users: Option<usize>,
    /// Satisfaction ratings (`None`: a third of the tickets).
    pub satisfaction_ratings: Option<usize>,
    /// Approximate size of a generated ticket's JSON, in bytes (its description fills it).
    pub ticket_bytes: usize,
    /// Share of generated tickets that carry the unknown field `x_sim_extra`.
    pub extra_field_rate: f64,
    /// The `{subdomain}` in record URLs (`https://{subdomain}.zendesk.com/...`).
    pub subdomain: String,
    /// Expected e-mail of `{email}/token:{api_token}` Basic auth.
    pub email: String,
    /// Expected API token.
    pub api_token: String,
    /// Account requests per rolling minute (0 = unlimited, and no rate-limit headers).
    pub account_limit: u64,
    /// Incremental-export requests per rolling minute (0 = unlimited).
    pub incremental_limit: u64,
    /// Keep every export page rendered without faults and serve it again, byte for byte, when
    /// the same query comes back before the data changes (for benchmarks: a warm-up pass
    /// renders the pages, so the timed sync does not pay for the simulator's rendering on
    /// the cores it shares with it). Holds the whole export in memory.
    pub cache_pages: bool,
}

impl Default for ZendeskOptions {
    fn default() -> Self {
        ZendeskOptions {
            sim: SimConfig::default(),
            users: None,
            satisfaction_ratings: None,
            ticket_bytes: 2_048,
            extra_field_rate: 0.03,
            subdomain: "sandbox".to_owned(),
            email: "admin@example.com".to_owned(),
            api_token: "sandbox-token".to_owned(),
            account_limit: 700,
            incremental_limit: 10,
            cache_pages: false,
        }
    }
}

impl ZendeskOptions {
    /// Default options with this seed and ticket count.
    pub fn new(seed: u64, records: usize) -> Self {
        let mut o = ZendeskOptions::default();
        o.sim.seed = seed;
        o.sim.records = records;
        o
    }

    /// No rate limits (for benchmarks).
    pub fn unlimited() -> Self {
        ZendeskOptions { account_limit: 0, incremental_limit: 0, ..ZendeskOptions::default() }
    }

    /// The `Authorization` header value the simulator accepts.
    pub fn authorization(&self) -> String {
        format!("Basic {}", STANDARD.encode(format!("{}/token:{}", self.email, self.api_token)))
    }
}

struct Data {
    tickets: Timeline,
    users: Timeline,
    ratings: Timeline,
}

/// The Zendesk simulator's state (use it through [`ZendeskSim`]).
pub struct Zendesk {
    records: Gen,
    data: RwLock<Data>,
    limiter: RateLimiter,
    email: String,
    api_token: String,
    account_limit: u64,
    incremental_limit: u64,
    /// Rendered export pages by query, when [`ZendeskOptions::cache_pages`] is on; emptied
    /// whenever the data changes.
    page_cache: Option<Mutex<HashMap<String, Bytes>>>,
}

impl std::fmt::Debug for Zendesk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Zendesk").field("host", &self.records.host).finish_non_exhaustive()
    }
}

impl Zendesk {
    /// `(tickets, users, satisfaction_ratings)` currently in the dataset, deleted ones included.
    pub fn counts(&self) -> (u64, u64, u64) {
        let d = self.read();
        (d.tickets.len(), d.users.len(), d.ratings.len())
    }

    /// Records held in memory because mutations changed or created them (all streams).
    pub fn changed_records(&self) -> usize {
        let d = self.read();
        d.tickets.changed_len() + d.users.changed_len() + d.ratings.changed_len()
    }

    /// The id of the ticket at `index` (0 is the official example ticket).
    pub fn ticket_id(&self, index: u64) -> u64 {
        self.records.tickets.ids.id(index)
    }

    /// Forgets every request counted by the rate limiter.
    pub fn reset_rate_limits(&self) {
        self.limiter.reset();
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Data> {
        self.data.read().unwrap_or_else(|e| e.into_inner())
    }

    fn malformation(
        &self,
        control: &Control,
        faults: &Faults,
        stream: &str,
        index: u64,
        first: u64,
    ) -> Option<u8> {
        if index < first { None } else { faults.malformation(control.seed(), stream, index) }
    }
}

fn json_bytes(status: StatusCode, body: impl Into<Bytes>) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(JSON))], body.into()).into_response()
}

fn json_value(status: StatusCode, body: &Value) -> Response {
    json_bytes(status, serde_json::to_vec(body).unwrap_or_default())
}

/// The classic Zendesk error body `{"error", "description"}`.
fn classic_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_value(status, &serde_json::json!({ "error": error, "description": description }))
}

/// The newer `{"errors":[{"code","title"}]}` body.
fn errors_body(status: StatusCode, code: &str, title: &str) -> Response {
    json_value(status, &serde_json::json!({ "errors": [{ "code": code, "title": title }] }))
}

/// A 400 for an invalid parameter value, in the classic shape the export endpoints use.
fn bad_value(description: &str) -> Response {
    classic_error(StatusCode::BAD_REQUEST, "InvalidValue", description)
}

fn bad_cursor(what: &str) -> Response {
    errors_body(StatusCode::BAD_REQUEST, "InvalidPaginationParameter", &format!("{what} is not valid"))
}

fn encode_cursor(time: i64, id: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{time}.0||{id}|"))
}

fn decode_cursor(cursor: &str) -> Option<(i64, u64)> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor.trim_end_matches('=')).ok()?).ok()?;
    let (time, id) = raw.split_once("||")?;
    let time = time.split('.').next()?.parse().ok()?;
    let id = id.trim_end_matches('|').parse().ok()?;
    Some((time, id))
}

fn encode_page_cursor(time: i64, id: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!(r#"{{"o":"updated_at,id","v":"{time},{id}"}}"#))
}

fn decode_page_cursor(cursor: &str) -> Option<(i64, u64)> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor.trim_end_matches('=')).ok()?).ok()?;
    let v: Value = serde_json::from_str(&raw).ok()?;
    let (time, id) = v.get("v")?.as_str()?.split_once(',')?;
    Some((time.parse().ok()?, id.parse().ok()?))
}

/// Resolves a decoded cursor (time, id) to a position, if the id can exist.
fn cursor_pos(ids: &records::Ids, (time, id): (i64, u64)) -> Option<Pos> {
    ids.index(id).map(|index| Pos { time, index })
}

fn query_safe(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b',')
}

/// A cursor-export page; `key` names the records array (`tickets`, `users`).
struct ExportPage<'a, T: Serialize> {
    key: &'static str,
    records: Vec<Doc<'a, T>>,
    metric_sets: Option<Vec<records::Metric>>,
    after_url: Option<String>,
    after_cursor: Option<String>,
    end_of_stream: bool,
}

impl<T: Serialize> Serialize for ExportPage<'_, T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry(self.key, &self.records)?;
        if let Some(metric_sets) = &self.metric_sets {
            map.serialize_entry("metric_sets", metric_sets)?;
        }
        map.serialize_entry("after_url", &self.after_url)?;
        map.serialize_entry("after_cursor", &self.after_cursor)?;
        map.serialize_entry("before_url", &None::<String>)?;
        map.serialize_entry("before_cursor", &None::<String>)?;
        map.serialize_entry("end_of_stream", &self.end_of_stream)?;
        map.end()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Export {
    Tickets,
    Users,
}

fn incremental(state: &SimState<Zendesk>, q: &HashMap<String, String>, export: Export) -> Response {
    let z = &state.sim;
    let control = &state.control;
    let (route, path, shape) = match export {
        Export::Tickets => (TICKETS, "/api/v2/incremental/tickets/cursor.json", &z.records.tickets),
        Export::Users => (USERS, "/api/v2/incremental/users/cursor.json", &z.records.users),
    };
    let per_page = match q.get("per_page").map(|p| p.parse::<usize>()) {
        None => 1_000,
        Some(Ok(n)) if n >= 1 => n.min(1_000),
        Some(_) => {
            return bad_value("per_page must be a positive integer");
        }
    };
    let include = q.get("include").map(String::as_str).unwrap_or("");
    let metric_sets = export == Export::Tickets && include.split(',').any(|i| i.trim() == "metric_sets");
    let exclude_deleted = q.get("exclude_deleted").is_some_and(|v| v == "true");
    let from_cursor = q.get("cursor").filter(|c| !c.is_empty());
    let start = if let Some(cursor) = from_cursor {
        match decode_cursor(cursor).and_then(|c| cursor_pos(&shape.ids, c)) {
            Some(pos) => Start::After(pos),
            None => return bad_cursor("cursor"),
        }
    } else {
        let Some(raw) = q.get("start_time") else {
            return bad_value("start_time or cursor is required");
        };
        let Ok(start_time) = raw.parse::<i64>() else {
            return bad_value("start_time must be a Unix time in seconds");
        };
        if start_time > control.now() - 60 {
            return bad_value("Too recent start_time. Use a start_time older than 1 minute");
        }
        Start::Time(start_time)
    };
    let faults = control.faults(route);
    let data = z.read();
    let cache = z.page_cache.as_ref().filter(|_| faults == Faults::default());
    let cache_key = cache.map(|_| {
        let mut pairs: Vec<_> = q.iter().collect();
        pairs.sort();
        format!("{path}?{pairs:?}")
    });
    if let (Some(cache), Some(key)) = (cache, &cache_key)
        && let Some(body) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(key)
    {
        return json_bytes(StatusCode::OK, body.clone());
    }
    let timeline = match export {
        Export::Tickets => &data.tickets,
        Export::Users => &data.users,
    };
    let first = timeline.fixed_len();
    let scan = timeline.scan(start, None, per_page, |_, v| !(exclude_deleted && v.deleted));
    let after_cursor = match scan.last {
        Some(p) => Some(encode_cursor(p.time, shape.ids.id(p.index))),
        None => from_cursor.cloned(),
    };
    let mut extra = String::new();
    for key in ["per_page", "include", "exclude_deleted"] {
        if let Some(v) = q.get(key).filter(|v| query_safe(v)) {
            extra.push_str(&format!("&{key}={v}"));
        }
    }
    let after_url = after_cursor.as_ref().map(|c| format!("{}{path}?cursor={c}{extra}", state.base_url));
    let end_of_stream = !scan.more;
    let body = match export {
        Export::Tickets => {
            let mut records = Vec::with_capacity(scan.items.len());
            let mut metrics = Vec::with_capacity(if metric_sets { scan.items.len() } else { 0 });
            for (index, v) in &scan.items {
                let malformed = z.malformation(control, &faults, TICKETS, *index, first);
                let (doc, metric) = z.records.ticket(*index, v, malformed, metric_sets);
                records.push(doc);
                if metric_sets {
                    metrics.extend(metric);
                }
            }
            let page = ExportPage {
                key: "tickets",
                records,
                metric_sets: metric_sets.then_some(metrics),
                after_url,
                after_cursor,
                end_of_stream,
            };
            // Sized for the whole page up front: no reallocation while serialising megabytes.
            let per_ticket = z.records.description_bytes + if metric_sets { 2_600 } else { 1_500 };
            let mut body = Vec::with_capacity(page.records.len() * per_ticket + 1_024);
            match serde_json::to_writer(&mut body, &page) {
                Ok(()) => body,
                Err(_) => Vec::new(),
            }
        }
        Export::Users => {
            let records = scan
                .items
                .iter()
                .map(|(index, v)| {
                    z.records.user(*index, v, z.malformation(control, &faults, USERS, *index, first))
                })
                .collect();
            let page = ExportPage {
                key: "users",
                records,
                metric_sets: None,
                after_url,
                after_cursor,
                end_of_stream,
            };
            serde_json::to_vec(&page).unwrap_or_default()
        }
    };
    let body = Bytes::from(body);
    if let (Some(cache), Some(key)) = (cache, cache_key) {
        cache.lock().unwrap_or_else(|e| e.into_inner()).insert(key, body.clone());
    }
    drop(data);
    json_bytes(StatusCode::OK, body)
}

async fn incremental_tickets(
    State(state): State<Arc<SimState<Zendesk>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    incremental(&state, &q, Export::Tickets)
}

/// `GET /api/v2/users/me.json`: the authenticated user (what a credentials check asks for).
async fn me(State(state): State<Arc<SimState<Zendesk>>>) -> Response {
    let user = serde_json::json!({
        "user": {
            "id": records::USER_BASE - 1,
            "url": format!("{}/api/v2/users/{}.json", state.base_url, records::USER_BASE - 1),
            "name": "Sandbox Admin",
            "email": state.sim.email,
            "role": "admin",
            "active": true
        }
    });
    axum::Json(user).into_response()
}

async fn incremental_users(
    State(state): State<Arc<SimState<Zendesk>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    incremental(&state, &q, Export::Users)
}

#[derive(Serialize)]
struct Meta {
    has_more: bool,
    after_cursor: Option<String>,
    before_cursor: Option<String>,
}

#[derive(Serialize)]
struct Links {
    next: Option<String>,
    prev: Option<String>,
}

#[derive(Serialize)]
struct RatingsPage<'a> {
    satisfaction_ratings: Vec<Doc<'a, records::Rating>>,
    meta: Meta,
    links: Links,
}

fn score_matches(filter: &str, score: &str, has_comment: bool) -> bool {
    let (base, comment) = match filter.strip_suffix("_with_comment") {
        Some(b) => (b, Some(true)),
        None => match filter.strip_suffix("_without_comment") {
            Some(b) => (b, Some(false)),
            None => (filter, None),
        },
    };
    let base_ok = match base {
        "received" => matches!(score, "good" | "bad"),
        other => other == score,
    };
    base_ok && comment.is_none_or(|c| c == has_comment)
}

async fn satisfaction_ratings(
    State(state): State<Arc<SimState<Zendesk>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let z = &state.sim;
    let control = &state.control;
    let size = match q.get("page[size]").map(|p| p.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) if n >= 1 => n.min(100),
        Some(_) => return bad_cursor("page[size]"),
    };
    let time = |key: &str| q.get(key).map(|t| t.parse::<i64>());
    let (start_time, end_time) = match (time("start_time"), time("end_time")) {
        (Some(Err(_)), _) | (_, Some(Err(_))) => {
            return bad_value("start_time and end_time are Unix times");
        }
        (s, e) => (s.and_then(Result::ok), e.and_then(Result::ok)),
    };
    let start = match q.get("page[after]").filter(|c| !c.is_empty()) {
        Some(c) => match decode_page_cursor(c).and_then(|c| cursor_pos(&z.records.ratings.ids, c)) {
            Some(pos) => Start::After(pos),
            None => {
                return json_bytes(StatusCode::BAD_REQUEST, fixtures::ERROR_400_INVALID_PAGINATION);
            }
        },
        None => Start::Time(start_time.unwrap_or(i64::MIN)),
    };
    let score = q.get("score").cloned();
    let faults = control.faults(SATISFACTION);
    let data = z.read();
    let first = data.ratings.fixed_len();
    let mut kept = Vec::new();
    let scan = data.ratings.scan(start, end_time, size, |index, v| {
        let malformed = z.malformation(control, &faults, SATISFACTION, index, first);
        let doc = z.records.rating(index, v, malformed);
        let keep = match &score {
            None => true,
            Some(filter) => {
                let (s, has_comment) = match &doc {
                    Doc::Fixed(value) => (
                        value.get("score").and_then(Value::as_str).unwrap_or(""),
                        value.get("comment").is_some_and(|c| c.as_str().is_some_and(|c| !c.is_empty())),
                    ),
                    Doc::Gen(r) => (r.score(), r.has_comment()),
                };
                score_matches(filter, s, has_comment)
            }
        };
        if keep {
            kept.push(doc);
        }
        keep
    });
    let ids = &z.records.ratings.ids;
    let after_cursor = scan.last.map(|p| encode_page_cursor(p.time, ids.id(p.index)));
    let mut next = None;
    if let Some(c) = after_cursor.as_ref().filter(|_| scan.more) {
        let mut url =
            format!("{}/api/v2/satisfaction_ratings.json?page[size]={size}&page[after]={c}", state.base_url);
        for key in ["score", "start_time", "end_time"] {
            if let Some(v) = q.get(key).filter(|v| query_safe(v)) {
                url.push_str(&format!("&{key}={v}"));
            }
        }
        next = Some(url);
    }
    let page = RatingsPage {
        satisfaction_ratings: kept,
        meta: Meta { has_more: scan.more, after_cursor, before_cursor: None },
        links: Links { next, prev: None },
    };
    let body = serde_json::to_vec(&page).unwrap_or_default();
    drop(data);
    json_bytes(StatusCode::OK, body)
}

async fn not_found() -> Response {
    classic_error(StatusCode::NOT_FOUND, "InvalidEndpoint", "Not found")
}

impl Simulator for Zendesk {
    type Options = ZendeskOptions;
    const NAME: &'static str = "zendesk";
    const ROUTES: &'static [&'static str] = &[TICKETS, USERS, SATISFACTION, ME];

    fn config(options: &ZendeskOptions) -> &SimConfig {
        &options.sim
    }

    fn build(o: ZendeskOptions, control: &Control) -> Self {
        let tickets = o.sim.records as u64;
        let users = o.users.map_or(tickets / 4 + 20, |u| u as u64);
        let ratings = o.satisfaction_ratings.map_or(tickets / 3, |r| r as u64).min(tickets / 3);
        let records = Gen::new(
            o.sim.seed,
            &o.subdomain,
            o.ticket_bytes,
            o.extra_field_rate,
            (tickets, users, ratings),
            control.now(),
        );
        let data = Data {
            tickets: records.tickets.timeline.clone(),
            users: records.users.timeline.clone(),
            ratings: records.ratings.timeline.clone(),
        };
        Zendesk {
            records,
            data: RwLock::new(data),
            limiter: RateLimiter::new(Duration::from_secs(60)),
            email: o.email,
            api_token: o.api_token,
            account_limit: o.account_limit,
            incremental_limit: o.incremental_limit,
            page_cache: o.cache_pages.then(Default::default),
        }
    }

    fn route_of(path: &str) -> Option<&'static str> {
        match path.trim_end_matches(".json") {
            "/api/v2/incremental/tickets/cursor" => Some(TICKETS),
            "/api/v2/incremental/users/cursor" => Some(USERS),
            "/api/v2/satisfaction_ratings" => Some(SATISFACTION),
            "/api/v2/users/me" => Some(ME),
            _ => None,
        }
    }

    fn router(state: Arc<SimState<Self>>) -> Router {
        Router::new()
            .route("/api/v2/incremental/tickets/cursor.json", get(incremental_tickets))
            .route("/api/v2/incremental/tickets/cursor", get(incremental_tickets))
            .route("/api/v2/incremental/users/cursor.json", get(incremental_users))
            .route("/api/v2/incremental/users/cursor", get(incremental_users))
            .route("/api/v2/satisfaction_ratings.json", get(satisfaction_ratings))
            .route("/api/v2/satisfaction_ratings", get(satisfaction_ratings))
            .route("/api/v2/users/me.json", get(me))
            .route("/api/v2/users/me", get(me))
            .fallback(not_found)
            .with_state(state)
    }

    fn authenticate(&self, parts: &Parts) -> Result<String, Box<Response>> {
        let reject = || Box::new(self.error_response(StatusCode::UNAUTHORIZED));
        let decoded = credentials::basic(parts).ok_or_else(reject)?;
        let (user, token) = decoded.split_once(':').ok_or_else(reject)?;
        let email = user.strip_suffix("/token").ok_or_else(reject)?;
        if email == self.email && token == self.api_token { Ok(email.to_owned()) } else { Err(reject()) }
    }

    fn admit(&self, route: &'static str, account: &str, faults: &Faults) -> Result<HeaderMap, Box<Response>> {
        let mut headers = HeaderMap::new();
        let mut limited = None;
        match self.limiter.admit(account, "account", self.account_limit) {
            Admit::Ok { remaining } => {
                headers
                    .insert(HeaderName::from_static("x-rate-limit"), HeaderValue::from(self.account_limit));
                headers
                    .insert(HeaderName::from_static("x-rate-limit-remaining"), HeaderValue::from(remaining));
            }
            Admit::Limited { retry_after } => {
                headers
                    .insert(HeaderName::from_static("x-rate-limit"), HeaderValue::from(self.account_limit));
                headers.insert(HeaderName::from_static("x-rate-limit-remaining"), HeaderValue::from(0));
                limited = Some(retry_after);
            }
            Admit::Unlimited => {}
        }
        if limited.is_none()
            && matches!(route, TICKETS | USERS)
            && let Admit::Limited { retry_after } =
                self.limiter.admit(account, "incremental", self.incremental_limit)
        {
            limited = Some(retry_after);
        }
        match limited {
            None => Ok(headers),
            Some(retry_after) => {
                let mut resp = self.throttle_response(faults.throttle_retry_after.map(|_| retry_after));
                resp.headers_mut().extend(headers);
                Err(Box::new(resp))
            }
        }
    }

    fn rate_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if self.account_limit > 0 {
            let remaining = self.limiter.remaining(&self.email, "account", self.account_limit);
            headers.insert(HeaderName::from_static("x-rate-limit"), HeaderValue::from(self.account_limit));
            headers.insert(HeaderName::from_static("x-rate-limit-remaining"), HeaderValue::from(remaining));
        }
        headers
    }

    fn error_response(&self, status: StatusCode) -> Response {
        match status.as_u16() {
            401 => {
                let mut resp =
                    json_value(status, &serde_json::json!({ "error": "Couldn't authenticate you" }));
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"Web Password\""),
                );
                resp
            }
            403 => classic_error(
                status,
                "Forbidden",
                "You do not have access to this page. Please contact the account owner of this help desk for further help.",
            ),
            404 => classic_error(status, "RecordNotFound", "Not found"),
            503 => classic_error(
                status,
                "ServiceUnavailable",
                "The service is temporarily unavailable. Please try again later.",
            ),
            code if code >= 500 => {
                classic_error(status, "InternalError", "Something went wrong. Please try again.")
            }
            _ => classic_error(status, status.canonical_reason().unwrap_or("Error"), "Request failed"),
        }
    }

    fn throttle_response(&self, retry_after: Option<u64>) -> Response {
        let mut resp = (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))],
            TOO_MANY,
        )
            .into_response();
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }

    fn ground_truth(&self, control: &Control) -> GroundTruth {
        let mut truth = GroundTruth::default();
        let data = self.read();
        let seed_faults = |route| control.faults(route);
        let faults = seed_faults(TICKETS);
        let first = data.tickets.fixed_len();
        for (index, v) in data.tickets.iter() {
            let malformed = self.malformation(control, &faults, TICKETS, index, first);
            let (doc, metric) = self.records.ticket(index, &v, malformed, true);
            let mut raw = to_value(&doc);
            if let (Some(metric), Value::Object(map)) = (metric, &mut raw) {
                map.insert("metric_set".to_owned(), to_value(&metric));
            }
            let id = self.records.tickets.ids.id(index).to_string();
            truth.insert(TICKETS, id, TruthRecord { raw, deleted: v.deleted }, malformed.is_some());
        }
        let faults = seed_faults(USERS);
        let first = data.users.fixed_len();
        for (index, v) in data.users.iter() {
            let malformed = self.malformation(control, &faults, USERS, index, first);
            let raw = to_value(&self.records.user(index, &v, malformed));
            let id = self.records.users.ids.id(index).to_string();
            truth.insert(USERS, id, TruthRecord { raw, deleted: v.deleted }, malformed.is_some());
        }
        let faults = seed_faults(SATISFACTION);
        let first = data.ratings.fixed_len();
        for (index, v) in data.ratings.iter() {
            let malformed = self.malformation(control, &faults, SATISFACTION, index, first);
            let raw = to_value(&self.records.rating(index, &v, malformed));
            let id = self.records.ratings.ids.id(index).to_string();
            truth.insert(SATISFACTION, id, TruthRecord { raw, deleted: v.deleted }, malformed.is_some());
        }
        truth
    }

    fn mutate(&self, control: &Control, m: Mutation) {
        let (old, new) = control.advance(MUTATION_STEP);
        let (t0, t1) = (old + 1, new - 120);
        let seed = control.seed();
        let mut data = self.data.write().unwrap_or_else(|e| e.into_inner());
        if let Some(cache) = &self.page_cache {
            cache.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
        data.tickets.apply(seed, rng::tag(TICKETS), &m, t0, t1, true);
        data.users.apply(seed, rng::tag(USERS), &m, t0, t1, true);
        data.ratings.apply(seed, rng::tag(SATISFACTION), &m, t0, t1, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders 1000-ticket pages from the middle of a 1,000,000-ticket dataset in process.
    /// Timings: `cargo test --release -p engage-sandbox --lib page_generation_speed -- --nocapture`.
    #[test]
    fn page_generation_speed() {
        let mut o = ZendeskOptions::unlimited();
        o.sim.records = 1_000_000;
        let control = Control::new(&o.sim);
        let sim = Zendesk::build(o, &control);
        let state = SimState { control, sim, base_url: "http://127.0.0.1:1".into() };
        let middle = state.control.now() - 365 * 86_400;
        let rounds = if cfg!(debug_assertions) { 2 } else { 50 };
        for include in ["", "metric_sets"] {
            let q = HashMap::from([
                ("start_time".to_owned(), middle.to_string()),
                ("include".to_owned(), include.to_owned()),
            ]);
            let started = std::time::Instant::now();
            let mut bytes = 0;
            for _ in 0..rounds {
                let resp = incremental(&state, &q, Export::Tickets);
                assert_eq!(resp.status(), StatusCode::OK);
                bytes = axum::body::HttpBody::size_hint(resp.body()).exact().unwrap() as usize;
            }
            let per_page = started.elapsed() / rounds;
            println!("include={include:?}: {per_page:?} per 1000-ticket page of {bytes} bytes");
            assert!(bytes > 2_000_000, "{bytes}");
        }
        assert_eq!(state.sim.changed_records(), 0);
    }

    /// `cache_pages`: a repeated query is served from the cache; a change to the data empties it;
    /// a route with faults is never cached.
    #[tokio::test]
    async fn cached_pages_are_served_until_the_data_changes() {
        let mut o = ZendeskOptions::unlimited();
        o.sim.records = 40;
        o.cache_pages = true;
        let control = Control::new(&o.sim);
        let sim = Zendesk::build(o, &control);
        let state = SimState { control, sim, base_url: "http://127.0.0.1:1".into() };
        let q = HashMap::from([
            ("start_time".to_owned(), "0".to_owned()),
            ("include".to_owned(), "metric_sets".to_owned()),
        ]);
        let cached =
            |state: &SimState<Zendesk>| state.sim.page_cache.as_ref().map(|c| c.lock().unwrap().len());
        let body =
            |resp: Response| async move { axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap() };

        let first = body(incremental(&state, &q, Export::Tickets)).await;
        assert_eq!(cached(&state), Some(1));
        let again = body(incremental(&state, &q, Export::Tickets)).await;
        assert_eq!(again, first);
        assert_eq!(again.as_ptr(), first.as_ptr(), "the second answer is the cached buffer");

        state.sim.mutate(&state.control, Mutation { updates: 5, deletions: 0, creations: 3 });
        assert_eq!(cached(&state), Some(0));
        let changed = body(incremental(&state, &q, Export::Tickets)).await;
        assert_ne!(changed, first);

        state.control.set_faults(TICKETS, Faults { malformed_rate: 0.5, ..Faults::default() });
        let faulty = body(incremental(&state, &q, Export::Tickets)).await;
        assert_ne!(faulty, changed);
        assert_eq!(cached(&state), Some(1), "pages with faults are not cached");
    }

    #[test]
    fn cursors_round_trip() {
        assert_eq!(decode_cursor(&encode_cursor(1_576_613_539, 467)), Some((1_576_613_539, 467)));
        assert_eq!(decode_page_cursor(&encode_page_cursor(-5, 2)), Some((-5, 2)));
        assert_eq!(decode_cursor("MTU3NjYxMzUzOS4wfHw0Njd8"), Some((1_576_613_539, 467)));
        assert_eq!(decode_cursor("%%%"), None);
        assert!(score_matches("received_with_comment", "bad", true));
        assert!(!score_matches("good_without_comment", "good", true));
    }
}
