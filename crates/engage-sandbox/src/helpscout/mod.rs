//! The Help Scout (Mailbox API 2.0) simulator: OAuth2 client credentials with expiring tokens,
//! HAL+JSON lists (`_embedded`, `_links.next`, `page`), conversations with their threads whose
//! default listing holds only active ones, customers, the happiness ratings report, and the
//! per-minute rate limit with Help Scout's headers.
//!
//! Routes: `POST /v2/oauth2/token` (route `token`), `GET /v2/conversations` (route
//! `conversations`), `GET /v2/customers` (route `customers`), `GET /v2/reports/happiness/ratings`
//! (route `happiness_ratings`), `GET /v2/users/me` (route `me`). The ground-truth streams are
//! `conversations` (each with its threads, as `embed=threads` lists it), `customers` and
//! `happiness_ratings`.
//!
//! Behaviour worth knowing (helpdesk.md §3):
//! - Tokens: `grant_type=client_credentials` as a form (a JSON body is a 400), answered with
//!   `{token_type, access_token, expires_in}`; a token is refused (401) once `token_lifetime`
//!   has passed, after `token_uses` requests when set, or after [`HelpScout::expire_tokens`].
//! - `GET /v2/conversations` lists `status=active` by default (`all`, `open` = active and
//!   pending, `pending`, `closed`, `spam`); `status=all` includes spam and deleted conversations
//!   (`state: "deleted"`). `modifiedSince` is inclusive and compares the conversation's hidden
//!   modification time (what the object shows, `userUpdatedAt`, lags it on some versions); a
//!   value with fractional seconds is a 400. `sortField` `createdAt` (default), `modifiedAt` or
//!   `number`, `sortOrder` `desc` (default) or `asc`; 25 per page (customers 50).
//! - Lists end when `_links.next` is absent. With `drop_next_params`, `_links.next` carries only
//!   `page` (the historical bug: filters dropped from the next link).
//! - Every authenticated response has `X-RateLimit-Limit-Minute` and
//!   `X-RateLimit-Remaining-Minute`; over the limit a 429 with `X-RateLimit-Retry-After` (no
//!   `Retry-After`). Every response carries a `Date` from the simulator's clock.
//! - The ratings report needs `start` and `end` (inclusive, on `ratingCreatedAt`) and pages with
//!   `page`; its answer is `{facets, results, page, pages, count}`.
//! - A [`Mutation`] updates, deletes (a third of them as spam) and creates conversations; updates
//!   and creates customers (Help Scout deletes customers outright: not simulated); creates
//!   ratings. Malformed records get `"createdAt": "not a date"` or an id like `"HS-2100000042"`.

mod records;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::credentials::{self, to_value};
use crate::faults::Faults;
use crate::rate::{Admit, RateLimiter};
use crate::rng;
use crate::sim::{Control, MUTATION_STEP, Sim, SimConfig, SimState, Simulator};
use crate::timeline::{Mutation, Timeline, Version};
use crate::truth::{GroundTruth, TruthRecord};
use records::Gen;

pub use records::{CONVERSATION_BASE, CUSTOMER_BASE, HOST, MAILBOX_BASE, THREAD_BASE, USER_BASE};

/// A running Help Scout simulator.
pub type HelpScoutSim = Sim<HelpScout>;

/// Route of the token endpoint.
pub const TOKEN: &str = "token";
/// Route (and stream) of conversations.
pub const CONVERSATIONS: &str = "conversations";
/// Route (and stream) of customers.
pub const CUSTOMERS: &str = "customers";
/// Route (and stream) of the happiness ratings report.
pub const RATINGS: &str = "happiness_ratings";
/// Route of `GET /v2/users/me`.
pub const ME: &str = "me";

/// The official happiness ratings report example (first result only).
pub const HAPPINESS_RATINGS: &str =
    include_str!("../../fixtures/helpscout/docs_reports_happiness_ratings_first_result_only.json");
/// The official 400 validation error.
pub const ERROR_400_VALIDATION: &str =
    include_str!("../../fixtures/helpscout/docs_error_400_validation.json");
/// The official pagination fragment (`_links` and `page` of a list).
pub const PAGINATION: &str =
    include_str!("../../fixtures/helpscout/docs_pagination_links_and_page_fragment.json");

const HAL: &str = "application/hal+json;charset=UTF-8";
const VND_ERROR: &str = "application/vnd.error+json;charset=UTF-8";

/// Help Scout simulator options.
#[derive(Clone, Debug, PartialEq)]
pub struct HelpScoutOptions {
    /// Seed, conversation count, clock, faults.
    pub sim: SimConfig,
    /// Customers (`None`: a quarter of the conversations plus 20).
    pub customers: Option<usize>,
    /// Happiness ratings (`None`: a third of the conversations).
    pub ratings: Option<usize>,
    /// The OAuth2 client id (an app's App ID).
    pub client_id: String,
    /// The OAuth2 client secret.
    pub client_secret: String,
    /// `expires_in` of issued tokens, in seconds (Help Scout: 172800, two days); tokens are
    /// refused once it has passed.
    pub token_lifetime: u64,
    /// Requests a token serves before it is refused (`None`: no such limit).
    pub token_uses: Option<u64>,
    /// Requests per rolling minute (0 = unlimited, and no rate-limit headers).
    pub per_minute: u64,
    /// Reproduce the historical bug: `_links.next` keeps only `page`, dropping the filters.
    pub drop_next_params: bool,
}

impl Default for HelpScoutOptions {
    fn default() -> Self {
        HelpScoutOptions {
            sim: SimConfig::default(),
            customers: None,
            ratings: None,
            client_id: "sandbox-app-id".to_owned(),
            client_secret: "sandbox-app-secret".to_owned(),
            token_lifetime: 172_800,
            token_uses: None,
            per_minute: 400,
            drop_next_params: false,
        }
    }
}

impl HelpScoutOptions {
    /// Default options with this seed and conversation count.
    pub fn new(seed: u64, records: usize) -> Self {
        let mut o = HelpScoutOptions::default();
        o.sim.seed = seed;
        o.sim.records = records;
        o
    }

    /// No rate limit (for benchmarks).
    pub fn unlimited() -> Self {
        HelpScoutOptions { per_minute: 0, ..HelpScoutOptions::default() }
    }
}

struct Data {
    conversations: Timeline,
    customers: Timeline,
    ratings: Timeline,
}

/// An issued token: when, and how many requests it served.
struct Token {
    issued: Instant,
    uses: u64,
}

/// The Help Scout simulator's state (use it through [`HelpScoutSim`]).
pub struct HelpScout {
    records: Gen,
    data: RwLock<Data>,
    limiter: RateLimiter,
    tokens: Mutex<HashMap<String, Token>>,
    issued: AtomicU64,
    /// The simulator clock, readable from `admit` (which has no access to [`Control`]); kept in
    /// step with [`Control`] at build and on every mutation.
    clock: AtomicI64,
    o: HelpScoutOptions,
}

impl std::fmt::Debug for HelpScout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HelpScout").finish_non_exhaustive()
    }
}

impl HelpScout {
    /// `(conversations, customers, ratings)` in the dataset.
    pub fn counts(&self) -> (u64, u64, u64) {
        let d = self.read();
        (d.conversations.len(), d.customers.len(), d.ratings.len())
    }

    /// Tokens issued so far.
    pub fn tokens_issued(&self) -> u64 {
        self.issued.load(Ordering::SeqCst)
    }

    /// Refuses every token issued so far (as when they expire).
    pub fn expire_tokens(&self) {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Forgets every request counted by the rate limiter.
    pub fn reset_rate_limits(&self) {
        self.limiter.reset();
    }

    /// Modifies one conversation at exactly `at` (Unix seconds) without moving the clock — the
    /// boundary case of the inclusive `modifiedSince` — and returns its id.
    pub fn touch_conversation(&self, seed: u64, at: i64) -> Option<u64> {
        let mut data = self.data.write().unwrap_or_else(|e| e.into_inner());
        let one = Mutation { updates: 1, deletions: 0, creations: 0 };
        let applied = data.conversations.apply(seed, rng::tag("touch"), &one, at, at, false);
        applied.updated.first().map(|i| self.records.conversations.id(*i))
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

    fn date(&self) -> HeaderValue {
        let now = self.clock.load(Ordering::SeqCst);
        let text = chrono::DateTime::from_timestamp(now, 0)
            .map(|t| t.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
            .unwrap_or_default();
        HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"))
    }
}

fn json_response(status: StatusCode, content_type: &'static str, body: &impl Serialize) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))], bytes).into_response()
}

/// A 400 in Help Scout's validation shape, for one query parameter.
fn invalid(path: &str, message: &str, rejected: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        VND_ERROR,
        &json!({
            "logRef": "64bb72b4-0a92-11e8-ba89-0ed5f89f718b",
            "message": "Bad request",
            "_embedded": { "errors": [{
                "path": path, "message": message, "rejectedValue": rejected, "source": "QUERY",
                "_links": { "about": { "href": "http://developer.helpscout.net/mailbox-api/overview/errors" } }
            }] },
            "_links": { "about": { "href": "http://developer.helpscout.net/mailbox-api/overview/errors" } }
        }),
    )
}

/// An ISO 8601 UTC time parameter; fractional seconds are refused, as Help Scout does.
fn time_param(q: &HashMap<String, String>, key: &str) -> Result<Option<i64>, Box<Response>> {
    let Some(text) = q.get(key) else { return Ok(None) };
    let bad = || Box::new(invalid(key, "Malformed date, expected yyyy-MM-dd'T'HH:mm:ss'Z'", text));
    if text.contains('.') {
        return Err(bad());
    }
    chrono::DateTime::parse_from_rfc3339(text).map(|t| Some(t.timestamp())).map_err(|_| bad())
}

fn page_param(q: &HashMap<String, String>) -> Result<u64, Box<Response>> {
    match q.get("page").map(|p| p.parse::<u64>()) {
        None => Ok(1),
        Some(Ok(n)) if n >= 1 => Ok(n),
        Some(_) => Err(Box::new(invalid("page", "must be greater than or equal to 1", &q["page"]))),
    }
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b',') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A HAL list page: `_embedded.{key}`, `_links` (with `next` while more follow) and `page`.
fn hal_page<T: Serialize>(
    state: &SimState<HelpScout>,
    (path, key): (&str, &str),
    q: &HashMap<String, String>,
    items: Vec<T>,
    (page, size, total): (u64, u64, u64),
) -> Response {
    let pages = total.div_ceil(size).max(1);
    let url = |n: u64, keep: bool| {
        let mut keys: Vec<&String> = q.keys().filter(|k| k.as_str() != "page").collect();
        keys.sort();
        let mut url = format!("{}{path}?", state.base_url);
        if keep {
            for k in keys {
                url.push_str(&format!("{}={}&", encode(k), encode(&q[k])));
            }
        }
        url.push_str(&format!("page={n}"));
        json!({ "href": url })
    };
    // In the documented order: self, next, previous, first, last, page.
    let mut links = serde_json::Map::new();
    links.insert("self".into(), url(page, true));
    if page < pages {
        links.insert("next".into(), url(page + 1, !state.sim.o.drop_next_params));
    }
    if page > 1 {
        links.insert("previous".into(), url(page - 1, true));
    }
    links.insert("first".into(), url(1, true));
    links.insert("last".into(), url(pages, true));
    links.insert(
        "page".into(),
        json!({ "href": format!("{}{path}{{?page}}", state.base_url), "templated": true }),
    );
    let body = json!({
        "_embedded": { key: items },
        "_links": links,
        "page": { "size": size, "totalElements": total, "totalPages": pages, "number": page }
    });
    json_response(StatusCode::OK, HAL, &body)
}

/// Page `page` of `size` from a sorted list.
fn slice<T>(all: Vec<T>, page: u64, size: u64) -> Vec<T> {
    let skip = usize::try_from((page - 1) * size).unwrap_or(usize::MAX);
    all.into_iter().skip(skip).take(size as usize).collect()
}

/// `sortField` and `sortOrder` (`desc` by default).
fn sort_params(
    q: &HashMap<String, String>,
    fields: &[&'static str],
) -> Result<(&'static str, bool), Box<Response>> {
    let field = match q.get("sortField") {
        None => "createdAt",
        Some(f) => match fields.iter().find(|x| **x == f.as_str()) {
            Some(f) => f,
            None => return Err(Box::new(invalid("sortField", "Value not supported", f))),
        },
    };
    let ascending = match q.get("sortOrder").map(|o| o.to_ascii_lowercase()) {
        None => false,
        Some(o) if o == "asc" => true,
        Some(o) if o == "desc" => false,
        Some(o) => return Err(Box::new(invalid("sortOrder", "Value not supported", &o))),
    };
    Ok((field, ascending))
}

async fn token(State(state): State<Arc<SimState<HelpScout>>>, headers: HeaderMap, body: Bytes) -> Response {
    let hs = &state.sim;
    let json_body =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("json"));
    if json_body {
        return invalid("grant_type", "may not be empty", "");
    }
    let form: HashMap<String, String> = String::from_utf8_lossy(&body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return invalid(
            "grant_type",
            "Value not supported",
            form.get("grant_type").map_or("", |g| g.as_str()),
        );
    }
    if form.get("client_id") != Some(&hs.o.client_id)
        || form.get("client_secret") != Some(&hs.o.client_secret)
    {
        return json_response(
            StatusCode::UNAUTHORIZED,
            "application/json",
            &json!({ "error": "invalid_client", "error_description": "Bad client credentials" }),
        );
    }
    let n = hs.issued.fetch_add(1, Ordering::SeqCst) + 1;
    let token = format!("hs{:016x}", rng::hash(state.control.seed(), &[n, 0x70CE]));
    hs.tokens
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(token.clone(), Token { issued: Instant::now(), uses: 0 });
    json_response(
        StatusCode::OK,
        "application/json",
        &json!({ "token_type": "bearer", "access_token": token, "expires_in": hs.o.token_lifetime }),
    )
}

/// Decodes `application/x-www-form-urlencoded` text.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn conversations(
    State(state): State<Arc<SimState<HelpScout>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let hs = &state.sim;
    let control = &state.control;
    let page = match page_param(&q) {
        Ok(p) => p,
        Err(resp) => return *resp,
    };
    let since = match time_param(&q, "modifiedSince") {
        Ok(t) => t,
        Err(resp) => return *resp,
    };
    let (field, ascending) = match sort_params(&q, &["createdAt", "modifiedAt", "number"]) {
        Ok(s) => s,
        Err(resp) => return *resp,
    };
    let status = q.get("status").map(String::as_str).unwrap_or("active");
    let statuses: &[&str] = match status {
        "all" => &["active", "pending", "closed", "spam"],
        "active" => &["active"],
        "open" => &["active", "pending"],
        "pending" => &["pending"],
        "closed" => &["closed"],
        "spam" => &["spam"],
        other => {
            return invalid(
                "status",
                "Expected one of these: 'active', 'all', 'closed', 'open', 'pending', 'spam'",
                other,
            );
        }
    };
    let mailboxes: Option<Vec<u64>> =
        q.get("mailbox").map(|m| m.split(',').filter_map(|x| x.trim().parse().ok()).collect());
    let threads = q.get("embed").is_some_and(|e| e.split(',').any(|x| x == "threads"));
    let faults = control.faults(CONVERSATIONS);
    let g = &hs.records;
    let data = hs.read();
    let mut all: Vec<(i64, u64, Version)> = data
        .conversations
        .iter()
        .filter(|(_, v)| since.is_none_or(|s| v.time >= s))
        .filter(|(i, _)| mailboxes.as_ref().is_none_or(|m| m.contains(&g.mailbox(*i))))
        .filter_map(|(i, v)| {
            if !statuses.contains(&g.status(i, &v)) {
                return None;
            }
            let key = match field {
                "modifiedAt" => v.time,
                "number" => i as i64,
                _ => g.created(i, v.born),
            };
            Some((key, i, v))
        })
        .collect();
    all.sort_by_key(|(key, i, _)| (*key, *i));
    if !ascending {
        all.reverse();
    }
    let total = all.len() as u64;
    let items: Vec<_> = slice(all, page, 25)
        .into_iter()
        .map(|(_, i, v)| {
            g.conversation(i, &v, hs.malformation(control, &faults, CONVERSATIONS, i, 0), threads)
        })
        .collect();
    drop(data);
    hal_page(&state, ("/v2/conversations", "conversations"), &q, items, (page, 25, total))
}

async fn customers(
    State(state): State<Arc<SimState<HelpScout>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let hs = &state.sim;
    let control = &state.control;
    let page = match page_param(&q) {
        Ok(p) => p,
        Err(resp) => return *resp,
    };
    let since = match time_param(&q, "modifiedSince") {
        Ok(t) => t,
        Err(resp) => return *resp,
    };
    let (field, ascending) = match sort_params(&q, &["createdAt", "modifiedAt"]) {
        Ok(s) => s,
        Err(resp) => return *resp,
    };
    let faults = control.faults(CUSTOMERS);
    let data = hs.read();
    let mut all: Vec<(i64, u64, Version)> = data
        .customers
        .iter()
        .filter(|(_, v)| since.is_none_or(|s| v.time >= s))
        .map(|(i, v)| (if field == "modifiedAt" { v.time } else { v.born }, i, v))
        .collect();
    all.sort_by_key(|(key, i, _)| (*key, *i));
    if !ascending {
        all.reverse();
    }
    let total = all.len() as u64;
    let items: Vec<_> = slice(all, page, 50)
        .into_iter()
        .map(|(_, i, v)| hs.records.customer(i, &v, hs.malformation(control, &faults, CUSTOMERS, i, 0)))
        .collect();
    drop(data);
    hal_page(&state, ("/v2/customers", "customers"), &q, items, (page, 50, total))
}

async fn ratings(
    State(state): State<Arc<SimState<HelpScout>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let hs = &state.sim;
    let control = &state.control;
    let page = match page_param(&q) {
        Ok(p) => p,
        Err(resp) => return *resp,
    };
    let (start, end) = match (time_param(&q, "start"), time_param(&q, "end")) {
        (Ok(Some(s)), Ok(Some(e))) if s <= e => (s, e),
        (Err(resp), _) | (_, Err(resp)) => return *resp,
        (Ok(None), _) => return invalid("start", "may not be null", ""),
        (_, Ok(None)) => return invalid("end", "may not be null", ""),
        _ => return invalid("end", "must be after start", &q["end"]),
    };
    let wanted: Option<u64> = match q.get("rating").map(String::as_str) {
        None | Some("all") => None,
        Some("great") => Some(1),
        Some("ok") => Some(2),
        Some("not-good") => Some(3),
        Some(other) => return invalid("rating", "Value not supported", other),
    };
    let faults = control.faults(RATINGS);
    let data = hs.read();
    let first = data.ratings.fixed_len();
    let docs: Vec<Value> = data
        .ratings
        .scan(crate::timeline::Start::Time(start), Some(end), usize::MAX, |_, _| true)
        .items
        .iter()
        .map(|(i, v)| {
            serde_json::to_value(hs.records.rating(
                *i,
                v,
                hs.malformation(control, &faults, RATINGS, *i, first),
            ))
            .unwrap_or(Value::Null)
        })
        .filter(|r| wanted.is_none_or(|w| r.get("ratingId").and_then(Value::as_u64) == Some(w)))
        .collect();
    drop(data);
    let total = docs.len() as u64;
    let size = 50;
    let body = json!({
        "facets": {},
        "results": slice(docs, page, size),
        "page": page,
        "pages": total.div_ceil(size).max(1),
        "count": total
    });
    json_response(StatusCode::OK, HAL, &body)
}

async fn me(State(state): State<Arc<SimState<HelpScout>>>) -> Response {
    let _ = &state;
    json_response(
        StatusCode::OK,
        HAL,
        &json!({
            "id": records::USER_BASE, "firstName": "Amanda", "lastName": "Herrington",
            "email": "amanda@sandbox.example", "role": "owner", "timezone": "America/New_York",
            "type": "user", "createdAt": "2017-09-01T10:00:00Z", "updatedAt": "2017-09-01T10:00:00Z"
        }),
    )
}

async fn not_found(State(state): State<Arc<SimState<HelpScout>>>) -> Response {
    state.sim.error_response(StatusCode::NOT_FOUND)
}

impl Simulator for HelpScout {
    type Options = HelpScoutOptions;
    const NAME: &'static str = "helpscout";
    const ROUTES: &'static [&'static str] = &[TOKEN, CONVERSATIONS, CUSTOMERS, RATINGS, ME];

    fn config(options: &HelpScoutOptions) -> &SimConfig {
        &options.sim
    }

    fn build(o: HelpScoutOptions, control: &Control) -> Self {
        let n = o.sim.records as u64;
        let customers = o.customers.map_or(n / 4 + 20, |c| c as u64);
        let ratings = o.ratings.map_or(n / 3, |r| r as u64).min(n / 3);
        let example = serde_json::from_str::<Value>(HAPPINESS_RATINGS)
            .ok()
            .and_then(|v| v.get("results")?.get(0).cloned())
            .unwrap_or(Value::Null);
        let records = Gen::new(o.sim.seed, (n, customers, ratings), control.now(), example);
        let data = Data {
            conversations: records.conversations.timeline.clone(),
            customers: records.customers.timeline.clone(),
            ratings: records.ratings.timeline.clone(),
        };
        let clock = AtomicI64::new(control.now());
        HelpScout {
            records,
            data: RwLock::new(data),
            limiter: RateLimiter::new(Duration::from_secs(60)),
            tokens: Mutex::new(HashMap::new()),
            issued: AtomicU64::new(0),
            clock,
            o,
        }
    }

    fn route_of(path: &str) -> Option<&'static str> {
        match path.trim_end_matches('/') {
            "/v2/oauth2/token" => Some(TOKEN),
            "/v2/conversations" => Some(CONVERSATIONS),
            "/v2/customers" => Some(CUSTOMERS),
            "/v2/reports/happiness/ratings" => Some(RATINGS),
            "/v2/users/me" => Some(ME),
            _ => None,
        }
    }

    fn router(state: Arc<SimState<Self>>) -> Router {
        Router::new()
            .route("/v2/oauth2/token", post(token))
            .route("/v2/conversations", get(conversations))
            .route("/v2/customers", get(customers))
            .route("/v2/reports/happiness/ratings", get(ratings))
            .route("/v2/users/me", get(me))
            .fallback(not_found)
            .with_state(state)
    }

    fn authenticate(&self, parts: &Parts) -> Result<String, Box<Response>> {
        if parts.uri.path() == "/v2/oauth2/token" {
            return Ok(TOKEN.to_owned());
        }
        let reject = || Box::new(self.error_response(StatusCode::UNAUTHORIZED));
        let token = credentials::bearer(parts).ok_or_else(reject)?;
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let Some(t) = tokens.get_mut(token) else { return Err(reject()) };
        let expired = t.issued.elapsed() >= Duration::from_secs(self.o.token_lifetime)
            || self.o.token_uses.is_some_and(|max| t.uses >= max);
        if expired {
            tokens.remove(token);
            return Err(reject());
        }
        t.uses += 1;
        Ok("account".to_owned())
    }

    fn admit(&self, route: &'static str, account: &str, faults: &Faults) -> Result<HeaderMap, Box<Response>> {
        let mut headers = HeaderMap::new();
        headers.insert(header::DATE, self.date());
        if route == TOKEN || self.o.per_minute == 0 {
            return Ok(headers);
        }
        let limit = self.o.per_minute;
        headers.insert(HeaderName::from_static("x-ratelimit-limit-minute"), HeaderValue::from(limit));
        match self.limiter.admit(account, "account", limit) {
            Admit::Ok { remaining } => {
                headers.insert(
                    HeaderName::from_static("x-ratelimit-remaining-minute"),
                    HeaderValue::from(remaining),
                );
                Ok(headers)
            }
            Admit::Limited { retry_after } => {
                headers.insert(HeaderName::from_static("x-ratelimit-remaining-minute"), HeaderValue::from(0));
                let mut resp = self.throttle_response(faults.throttle_retry_after.map(|_| retry_after));
                resp.headers_mut().extend(headers);
                Err(Box::new(resp))
            }
            Admit::Unlimited => Ok(headers),
        }
    }

    fn rate_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::DATE, self.date());
        if self.o.per_minute > 0 {
            let remaining = self.limiter.remaining("account", "account", self.o.per_minute);
            headers.insert(
                HeaderName::from_static("x-ratelimit-limit-minute"),
                HeaderValue::from(self.o.per_minute),
            );
            headers.insert(
                HeaderName::from_static("x-ratelimit-remaining-minute"),
                HeaderValue::from(remaining),
            );
        }
        headers
    }

    fn error_response(&self, status: StatusCode) -> Response {
        let message = match status.as_u16() {
            401 => "Invalid or expired access token",
            403 => "Access denied",
            404 => "Resource not found",
            _ => "Internal server error",
        };
        json_response(status, VND_ERROR, &json!({ "logRef": "sandbox", "message": message }))
    }

    fn throttle_response(&self, retry_after: Option<u64>) -> Response {
        let mut resp = json_response(
            StatusCode::TOO_MANY_REQUESTS,
            "application/json",
            &json!({ "message": "API rate limit exceeded" }),
        );
        if let Some(secs) = retry_after {
            resp.headers_mut()
                .insert(HeaderName::from_static("x-ratelimit-retry-after"), HeaderValue::from(secs));
        }
        resp
    }

    fn ground_truth(&self, control: &Control) -> GroundTruth {
        let mut truth = GroundTruth::default();
        let data = self.read();
        let g = &self.records;
        let faults = control.faults(CONVERSATIONS);
        for (i, v) in data.conversations.iter() {
            let malformed = self.malformation(control, &faults, CONVERSATIONS, i, 0);
            let raw = to_value(&g.conversation(i, &v, malformed, true));
            let record = TruthRecord { raw, deleted: v.deleted };
            truth.insert(CONVERSATIONS, g.conversations.id(i).to_string(), record, malformed.is_some());
        }
        let faults = control.faults(CUSTOMERS);
        for (i, v) in data.customers.iter() {
            let malformed = self.malformation(control, &faults, CUSTOMERS, i, 0);
            let raw = to_value(&g.customer(i, &v, malformed));
            truth.insert(
                CUSTOMERS,
                g.customers.id(i).to_string(),
                TruthRecord { raw, deleted: false },
                malformed.is_some(),
            );
        }
        let faults = control.faults(RATINGS);
        let first = data.ratings.fixed_len();
        for (i, v) in data.ratings.iter() {
            let malformed = self.malformation(control, &faults, RATINGS, i, first);
            let raw = to_value(&g.rating(i, &v, malformed));
            truth.insert(
                RATINGS,
                g.ratings.id(i).to_string(),
                TruthRecord { raw, deleted: false },
                malformed.is_some(),
            );
        }
        truth
    }

    fn mutate(&self, control: &Control, m: Mutation) {
        let (old, new) = control.advance(MUTATION_STEP);
        self.clock.store(new, Ordering::SeqCst);
        let (t0, t1) = (old + 1, new - 120);
        let seed = control.seed();
        let mut data = self.data.write().unwrap_or_else(|e| e.into_inner());
        data.conversations.apply(seed, rng::tag(CONVERSATIONS), &m, t0, t1, true);
        data.customers.apply(seed, rng::tag(CUSTOMERS), &Mutation { deletions: 0, ..m }, t0, t1, false);
        let created = Mutation { updates: 0, deletions: 0, creations: m.creations };
        data.ratings.apply(seed, rng::tag(RATINGS), &created, t0, t1, false);
    }
}
