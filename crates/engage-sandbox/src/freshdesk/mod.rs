//! The Freshdesk (API v2) simulator: the ticket list with its 30-day default window, its
//! page-300 cap and its `deleted`/`spam` filters; ticket conversations; contacts; satisfaction
//! ratings filtered on `created_since` but edited after creation; API-key Basic auth; and the
//! per-minute credit limit with Freshdesk's `X-RateLimit-*` headers and per-request cost.
//!
//! Routes: `GET /api/v2/tickets` (route `tickets`), `GET /api/v2/tickets/{id}/conversations`
//! (route `conversations`), `GET /api/v2/contacts` (route `contacts`),
//! `GET /api/v2/surveys/satisfaction_ratings` (route `satisfaction_ratings`),
//! `GET /api/v2/agents/me` (route `me`). The ground-truth streams are `tickets` (each ticket as
//! listed with `include=requester,stats`, plus its conversations under `conversations` unless it
//! is deleted or spam), `contacts` and `satisfaction_ratings`.
//!
//! Behaviour worth knowing (helpdesk.md §2):
//! - Lists are bare JSON arrays; an RFC 8288 `Link: <…page=N+1…>; rel="next"` header is sent
//!   while more records follow, and not on the last page.
//! - `GET /api/v2/tickets` without `updated_since` lists only tickets created in the last 30
//!   days; spam and deleted tickets are left out unless `filter=spam` / `filter=deleted`;
//!   `order_by` (`created_at` default, `updated_at`, `due_by`, `status`) and `order_type`
//!   (`desc` default); `per_page` 30 by default, at most 100 (more is a 400); a `page` beyond
//!   300 is the official 400 "You cannot access tickets beyond the 300th page".
//! - Every response spends credits from a rolling minute (`credits_per_minute`): one per request,
//!   plus one per `include` value. Responses carry `X-RateLimit-Total`, `X-RateLimit-Remaining`
//!   and `X-RateLimit-Used-CurrentRequest`; over the limit, a 429 with `Retry-After`. Invalid
//!   requests are charged too.
//! - A [`Mutation`] updates, deletes (a third of them marked as spam instead) and creates
//!   tickets; updates, deletes (`state=deleted` lists them, with `deleted: true`) and creates
//!   contacts; creates ratings, and edits ratings created within the last `rating_edit_days`
//!   (their `updated_at` moves, their `created_at` — the filter field — does not).
//! - Malformed records get `"created_at": "not a date"` or an id like `"FD-10042"`; the second
//!   official rating is always malformed (its published timestamps are `2015-08-28T010:08:16Z`).

mod fixtures;
mod records;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::Rng;
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use crate::credentials::{self, to_value};
use crate::faults::Faults;
use crate::rng;
use crate::sim::{Control, MUTATION_STEP, Sim, SimConfig, SimState, Simulator};
use crate::timeline::{Mutation, Start, Timeline, Version};
use crate::truth::{GroundTruth, TruthRecord};
use records::{Gen, Removal};

pub use fixtures::{CONVERSATIONS, ERROR_400_PAGE_BEYOND_300, SATISFACTION_RATINGS, TICKET};
pub use records::{AGENT_BASE, CONTACT_BASE, CONVERSATION_BASE, EXAMPLE_TICKET, RATING_BASE, TICKET_BASE};

/// A running Freshdesk simulator.
pub type FreshdeskSim = Sim<Freshdesk>;

/// Route (and stream) of the ticket list.
pub const TICKETS: &str = "tickets";
/// Route of a ticket's conversations.
pub const CONVERSATIONS_ROUTE: &str = "conversations";
/// Route (and stream) of the contact list.
pub const CONTACTS: &str = "contacts";
/// Route (and stream) of satisfaction ratings.
pub const SATISFACTION: &str = "satisfaction_ratings";
/// Route of `GET /api/v2/agents/me` (credentials checks).
pub const ME: &str = "me";

const DAY: i64 = 86_400;
const JSON: &str = "application/json; charset=utf-8";

/// Freshdesk simulator options. `Default` has a Pro plan's 400 credits a minute.
#[derive(Clone, Debug, PartialEq)]
pub struct FreshdeskOptions {
    /// Seed, ticket count, clock, faults.
    pub sim: SimConfig,
    /// Contacts (`None`: a quarter of the tickets plus 20).
    pub contacts: Option<usize>,
    /// Satisfaction ratings (`None`: a third of the tickets).
    pub satisfaction_ratings: Option<usize>,
    /// Share of generated tickets that carry the unknown field `x_sim_extra`.
    pub extra_field_rate: f64,
    /// The `{domain}` of `{domain}.freshdesk.com`.
    pub domain: String,
    /// The API key accepted as the Basic-auth user name (any password).
    pub api_key: String,
    /// Credits per rolling minute (0 = unlimited, and no rate-limit headers).
    pub credits_per_minute: u64,
    /// The last page number the ticket list serves (Freshdesk: 300).
    pub page_cap: u64,
    /// Ratings are edited only within this many days of their creation.
    pub rating_edit_days: i64,
}

impl Default for FreshdeskOptions {
    fn default() -> Self {
        FreshdeskOptions {
            sim: SimConfig::default(),
            contacts: None,
            satisfaction_ratings: None,
            extra_field_rate: 0.03,
            domain: "sandbox".to_owned(),
            api_key: "sandbox-api-key".to_owned(),
            credits_per_minute: 400,
            page_cap: 300,
            rating_edit_days: 7,
        }
    }
}

impl FreshdeskOptions {
    /// Default options with this seed and ticket count.
    pub fn new(seed: u64, records: usize) -> Self {
        let mut o = FreshdeskOptions::default();
        o.sim.seed = seed;
        o.sim.records = records;
        o
    }

    /// No rate limit (for benchmarks).
    pub fn unlimited() -> Self {
        FreshdeskOptions { credits_per_minute: 0, ..FreshdeskOptions::default() }
    }

    /// The `Authorization` header value the simulator accepts.
    pub fn authorization(&self) -> String {
        format!("Basic {}", STANDARD.encode(format!("{}:X", self.api_key)))
    }
}

struct Data {
    tickets: Timeline,
    contacts: Timeline,
    ratings: Timeline,
    /// Edited ratings: index → (edit revision, `updated_at`).
    edits: BTreeMap<u64, (u32, i64)>,
    mutations: u64,
}

/// Credits spent in a rolling minute, with their cost (requests may cost more than one).
#[derive(Debug, Default)]
struct Credits {
    spent: Mutex<VecDeque<(Instant, u64)>>,
}

impl Credits {
    const WINDOW: Duration = Duration::from_secs(60);

    fn prune(spent: &mut VecDeque<(Instant, u64)>, now: Instant) {
        while spent.front().is_some_and(|(t, _)| now.duration_since(*t) >= Self::WINDOW) {
            spent.pop_front();
        }
    }

    /// Spends `cost` of `limit`: the credits left, or the whole seconds until enough are free.
    fn spend(&self, limit: u64, cost: u64) -> Result<u64, u64> {
        let now = Instant::now();
        let mut spent = self.spent.lock().unwrap_or_else(|e| e.into_inner());
        Self::prune(&mut spent, now);
        let used: u64 = spent.iter().map(|(_, c)| c).sum();
        if used + cost > limit {
            // Wait until enough of the oldest spending has left the window.
            let mut freed = 0;
            let mut at = now;
            for (t, c) in spent.iter() {
                freed += c;
                at = *t;
                if used - freed + cost <= limit {
                    break;
                }
            }
            let wait = Self::WINDOW.saturating_sub(now.duration_since(at));
            return Err((wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1));
        }
        spent.push_back((now, cost));
        Ok(limit - used - cost)
    }

    fn remaining(&self, limit: u64) -> u64 {
        let mut spent = self.spent.lock().unwrap_or_else(|e| e.into_inner());
        Self::prune(&mut spent, Instant::now());
        limit.saturating_sub(spent.iter().map(|(_, c)| c).sum())
    }
}

/// The Freshdesk simulator's state (use it through [`FreshdeskSim`]).
pub struct Freshdesk {
    records: Gen,
    data: RwLock<Data>,
    credits: Credits,
    api_key: String,
    credits_per_minute: u64,
    page_cap: u64,
    rating_edit_days: i64,
    base_url_hint: String,
}

impl std::fmt::Debug for Freshdesk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Freshdesk").field("support", &self.records.support_address).finish_non_exhaustive()
    }
}

impl Freshdesk {
    /// `(tickets, contacts, satisfaction_ratings)` in the dataset, removed ones included.
    pub fn counts(&self) -> (u64, u64, u64) {
        let d = self.read();
        (d.tickets.len(), d.contacts.len(), d.ratings.len())
    }

    /// Forgets every credit spent.
    pub fn reset_rate_limits(&self) {
        self.credits.spent.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Edits the rating with id `id` at `at` (Unix seconds) without moving the clock, as a
    /// customer changing their answer does; `false` when there is no such generated rating.
    pub fn edit_rating(&self, id: u64, at: i64) -> bool {
        let Some(index) = self.records.ratings.ids.index(id) else { return false };
        let mut data = self.data.write().unwrap_or_else(|e| e.into_inner());
        if index < self.records.ratings.first() || index >= data.ratings.len() {
            return false;
        }
        let revision = data.edits.get(&index).map_or(0, |e| e.0) + 1;
        data.edits.insert(index, (revision, at));
        true
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

    /// Charges a request: the rate-limit headers, or the 429.
    fn charge(&self, control: &Control, route: &str, cost: u64) -> Result<HeaderMap, Box<Response>> {
        let limit = self.credits_per_minute;
        if limit == 0 {
            return Ok(HeaderMap::new());
        }
        let mut headers = HeaderMap::new();
        headers.insert(HeaderName::from_static("x-ratelimit-total"), HeaderValue::from(limit));
        match self.credits.spend(limit, cost) {
            Ok(remaining) => {
                headers
                    .insert(HeaderName::from_static("x-ratelimit-remaining"), HeaderValue::from(remaining));
                headers.insert(
                    HeaderName::from_static("x-ratelimit-used-currentrequest"),
                    HeaderValue::from(cost),
                );
                Ok(headers)
            }
            Err(retry_after) => {
                let with_header = control.faults(route).throttle_retry_after.is_some();
                let mut resp = self.throttle_response(with_header.then_some(retry_after));
                headers.insert(HeaderName::from_static("x-ratelimit-remaining"), HeaderValue::from(0));
                resp.headers_mut().extend(headers);
                Err(Box::new(resp))
            }
        }
    }
}

fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(JSON))], body).into_response()
}

fn json_value(status: StatusCode, body: &Value) -> Response {
    json_bytes(status, serde_json::to_vec(body).unwrap_or_default())
}

/// Freshdesk's validation error `{description, errors:[{field, message, code}]}`.
fn invalid(field: &str, message: &str) -> Response {
    json_value(
        StatusCode::BAD_REQUEST,
        &serde_json::json!({
            "description": "Validation failed",
            "errors": [{ "field": field, "message": message, "code": "invalid_value" }]
        }),
    )
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

/// The `Link` header to page `page + 1` of the same query.
fn next_link(base: &str, path: &str, q: &HashMap<String, String>, page: u64) -> HeaderValue {
    let mut keys: Vec<&String> = q.keys().filter(|k| k.as_str() != "page").collect();
    keys.sort();
    let mut url = format!("{base}{path}?");
    for key in keys {
        url.push_str(&format!("{}={}&", encode(key), encode(&q[key])));
    }
    url.push_str(&format!("page={}", page + 1));
    HeaderValue::from_str(&format!("<{url}>; rel=\"next\"")).unwrap_or(HeaderValue::from_static(""))
}

/// `per_page` (default 30, at most 100) and `page` (from 1).
fn paging(q: &HashMap<String, String>) -> Result<(u64, u64), Box<Response>> {
    let per_page = match q.get("per_page").map(|p| p.parse::<u64>()) {
        None => 30,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(Ok(n)) if n > 100 => {
            return Err(Box::new(invalid("per_page", "Has to be less than or equal to 100")));
        }
        Some(_) => return Err(Box::new(invalid("per_page", "It should be a Positive Number"))),
    };
    let page = match q.get("page").map(|p| p.parse::<u64>()) {
        None => 1,
        Some(Ok(n)) if n >= 1 => n,
        Some(_) => return Err(Box::new(invalid("page", "It should be a Positive Number"))),
    };
    Ok((per_page, page))
}

fn time_param(q: &HashMap<String, String>, key: &str) -> Result<Option<i64>, Box<Response>> {
    match q.get(key) {
        None => Ok(None),
        Some(text) => match chrono::DateTime::parse_from_rfc3339(text) {
            Ok(t) => Ok(Some(t.timestamp())),
            Err(_) => Err(Box::new(invalid(key, "It should be in the 'valid date time' format"))),
        },
    }
}

/// Page `page` of `per_page` records `keep` accepts, in (version time, index) order from
/// `start`, and whether more follow.
fn scan_page(
    timeline: &Timeline,
    start: i64,
    (per_page, page): (u64, u64),
    keep: impl FnMut(u64, &Version) -> bool,
) -> (Vec<(u64, Version)>, bool) {
    let end = page.saturating_mul(per_page);
    let scan = timeline.scan(Start::Time(start), None, usize::try_from(end + 1).unwrap_or(usize::MAX), keep);
    let more = scan.items.len() as u64 > end;
    let skip = usize::try_from((page - 1) * per_page).unwrap_or(usize::MAX);
    (scan.items.into_iter().skip(skip).take(per_page as usize).collect(), more)
}

/// The answer of a list: the JSON array, the rate-limit headers and the `Link` header.
fn list_response<T: Serialize>(items: &T, mut headers: HeaderMap, link: Option<HeaderValue>) -> Response {
    if let Some(link) = link {
        headers.insert(header::LINK, link);
    }
    let mut resp = json_bytes(StatusCode::OK, serde_json::to_vec(items).unwrap_or_default());
    resp.headers_mut().extend(headers);
    resp
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Filter {
    Default,
    Deleted,
    Spam,
    NewAndMyOpen,
    Watching,
}

async fn tickets(
    State(state): State<Arc<SimState<Freshdesk>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let fd = &state.sim;
    let control = &state.control;
    let include = q.get("include").map(String::as_str).unwrap_or("");
    let includes: Vec<&str> = include.split(',').map(str::trim).filter(|i| !i.is_empty()).collect();
    let headers = match fd.charge(control, TICKETS, 1 + includes.len() as u64) {
        Ok(h) => h,
        Err(resp) => return *resp,
    };
    let reject = |resp: Response| {
        let mut resp = resp;
        resp.headers_mut().extend(headers.clone());
        resp
    };
    if let Some(bad) = includes.iter().find(|i| !matches!(**i, "requester" | "stats" | "description")) {
        return reject(invalid(
            "include",
            &format!("It should be one/a comma separated list of 'requester,stats,description' (got {bad})"),
        ));
    }
    let wants =
        (includes.contains(&"stats"), includes.contains(&"requester"), includes.contains(&"description"));
    let (per_page, page) = match paging(&q) {
        Ok(p) => p,
        Err(resp) => return reject(*resp),
    };
    if page > fd.page_cap {
        return reject(json_bytes(StatusCode::BAD_REQUEST, fixtures::ERROR_400_PAGE_BEYOND_300.into()));
    }
    let since = match time_param(&q, "updated_since") {
        Ok(t) => t,
        Err(resp) => return reject(*resp),
    };
    let filter = match q.get("filter").map(String::as_str) {
        None => Filter::Default,
        Some("deleted") => Filter::Deleted,
        Some("spam") => Filter::Spam,
        Some("new_and_my_open") => Filter::NewAndMyOpen,
        Some("watching") => Filter::Watching,
        Some(_) => {
            return reject(invalid(
                "filter",
                "It should be one of these values: 'new_and_my_open,watching,spam,deleted'",
            ));
        }
    };
    let order_by = q.get("order_by").map(String::as_str).unwrap_or("created_at");
    if !matches!(order_by, "created_at" | "due_by" | "updated_at" | "status") {
        return reject(invalid(
            "order_by",
            "It should be one of these values: 'created_at,due_by,updated_at,status'",
        ));
    }
    let ascending = match q.get("order_type").map(String::as_str) {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(_) => return reject(invalid("order_type", "It should be one of these values: 'asc,desc'")),
    };
    let g = &fd.records;
    let window_start = control.now() - 30 * DAY;
    let keep = |index: u64, v: &Version| {
        let listed = match filter {
            Filter::Default => g.removal(index, v).is_none(),
            Filter::Deleted => g.removal(index, v) == Some(Removal::Deleted),
            Filter::Spam => g.removal(index, v) == Some(Removal::Spam),
            Filter::NewAndMyOpen => g.removal(index, v).is_none() && g.ticket_status(index, v) == 2,
            Filter::Watching => false,
        };
        // Without updated_since, only tickets created in the last 30 days.
        listed
            && match since {
                Some(since) => v.time >= since,
                None => g.ticket_created(index, v) >= window_start,
            }
    };
    let faults = control.faults(TICKETS);
    let data = fd.read();
    let first = data.tickets.fixed_len();
    let (items, more) = if order_by == "updated_at" && ascending {
        scan_page(&data.tickets, since.unwrap_or(i64::MIN), (per_page, page), keep)
    } else {
        let mut all: Vec<(i64, u64, Version)> = data
            .tickets
            .iter()
            .filter(|(i, v)| keep(*i, v))
            .map(|(i, v)| {
                let key = match order_by {
                    "updated_at" => v.time,
                    "status" => i64::from(g.ticket_status(i, &v)),
                    "due_by" => g.ticket_created(i, &v) + 3 * DAY,
                    _ => g.ticket_created(i, &v),
                };
                (key, i, v)
            })
            .collect();
        all.sort_by_key(|(key, i, _)| (*key, *i));
        if !ascending {
            all.reverse();
        }
        let skip = usize::try_from((page - 1) * per_page).unwrap_or(usize::MAX);
        let more = all.len() as u64 > page * per_page;
        (all.into_iter().skip(skip).take(per_page as usize).map(|(_, i, v)| (i, v)).collect(), more)
    };
    let docs: Vec<_> = items
        .iter()
        .map(|(i, v)| g.ticket(*i, v, fd.malformation(control, &faults, TICKETS, *i, first), wants))
        .collect();
    let link = more.then(|| next_link(&state.base_url, "/api/v2/tickets", &q, page));
    let resp = list_response(&docs, headers, link);
    drop(data);
    resp
}

async fn conversations(
    State(state): State<Arc<SimState<Freshdesk>>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let fd = &state.sim;
    let headers = match fd.charge(&state.control, CONVERSATIONS_ROUTE, 1) {
        Ok(h) => h,
        Err(resp) => return *resp,
    };
    let (per_page, page) = match paging(&q) {
        Ok(p) => p,
        Err(resp) => return *resp,
    };
    let data = fd.read();
    let found = id
        .parse::<u64>()
        .ok()
        .and_then(|id| fd.records.tickets.ids.index(id))
        .and_then(|i| data.tickets.version(i).map(|v| (i, v)))
        .filter(|(i, v)| fd.records.removal(*i, v).is_none());
    let Some((index, v)) = found else {
        let mut resp = fd.error_response(StatusCode::NOT_FOUND);
        resp.headers_mut().extend(headers);
        return resp;
    };
    let all = fd.records.conversations(index, &v);
    let skip = usize::try_from((page - 1) * per_page).unwrap_or(usize::MAX);
    let more = all.len() as u64 > page * per_page;
    let items: Vec<_> = all.into_iter().skip(skip).take(per_page as usize).collect();
    let link =
        more.then(|| next_link(&state.base_url, &format!("/api/v2/tickets/{id}/conversations"), &q, page));
    let resp = list_response(&items, headers, link);
    drop(data);
    resp
}

async fn contacts(
    State(state): State<Arc<SimState<Freshdesk>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let fd = &state.sim;
    let control = &state.control;
    let headers = match fd.charge(control, CONTACTS, 1) {
        Ok(h) => h,
        Err(resp) => return *resp,
    };
    let reject = |mut resp: Response| {
        resp.headers_mut().extend(headers.clone());
        resp
    };
    let (per_page, page) = match paging(&q) {
        Ok(p) => p,
        Err(resp) => return reject(*resp),
    };
    let since = match time_param(&q, "_updated_since") {
        Ok(t) => t,
        Err(resp) => return reject(*resp),
    };
    // Deleted and blocked contacts are listed only when asked for; `verified` is everyone else
    // (the simulator does not model unverified or blocked contacts).
    let deleted = match q.get("state").map(String::as_str) {
        None | Some("verified") => Some(false),
        Some("deleted") => Some(true),
        Some("unverified" | "blocked") => None,
        Some(_) => {
            return reject(invalid(
                "state",
                "It should be one of these values: 'blocked,deleted,unverified,verified'",
            ));
        }
    };
    let faults = control.faults(CONTACTS);
    let data = fd.read();
    let first = data.contacts.fixed_len();
    let (items, more) = scan_page(&data.contacts, since.unwrap_or(i64::MIN), (per_page, page), |_, v| {
        deleted == Some(v.deleted)
    });
    let docs: Vec<_> = items
        .iter()
        .map(|(i, v)| fd.records.contact(*i, v, fd.malformation(control, &faults, CONTACTS, *i, first)))
        .collect();
    let link = more.then(|| next_link(&state.base_url, "/api/v2/contacts", &q, page));
    let resp = list_response(&docs, headers, link);
    drop(data);
    resp
}

async fn satisfaction_ratings(
    State(state): State<Arc<SimState<Freshdesk>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let fd = &state.sim;
    let control = &state.control;
    let headers = match fd.charge(control, SATISFACTION, 1) {
        Ok(h) => h,
        Err(resp) => return *resp,
    };
    let reject = |mut resp: Response| {
        resp.headers_mut().extend(headers.clone());
        resp
    };
    let (per_page, page) = match paging(&q) {
        Ok(p) => p,
        Err(resp) => return reject(*resp),
    };
    let (since, until) = match (time_param(&q, "created_since"), time_param(&q, "created_until")) {
        (Ok(s), Ok(u)) => (s, u),
        (Err(resp), _) | (_, Err(resp)) => return reject(*resp),
    };
    let user = q.get("user_id").and_then(|u| u.parse::<u64>().ok());
    let faults = control.faults(SATISFACTION);
    let data = fd.read();
    let first = data.ratings.fixed_len();
    let doc = |i: u64, v: &Version| {
        let edit = data.edits.get(&i).copied().unwrap_or((0, v.time));
        fd.records.rating(i, v.time, edit, fd.malformation(control, &faults, SATISFACTION, i, first))
    };
    let (items, more) = scan_page(&data.ratings, since.unwrap_or(i64::MIN), (per_page, page), |i, v| {
        until.is_none_or(|u| v.time <= u)
            && user.is_none_or(|u| {
                serde_json::to_value(doc(i, v)).ok().and_then(|d| d["user_id"].as_u64()) == Some(u)
            })
    });
    let docs: Vec<_> = items.iter().map(|(i, v)| doc(*i, v)).collect();
    let link = more.then(|| next_link(&state.base_url, "/api/v2/surveys/satisfaction_ratings", &q, page));
    let resp = list_response(&docs, headers, link);
    drop(data);
    resp
}

/// `GET /api/v2/agents/me`: the agent the API key belongs to.
async fn me(State(state): State<Arc<SimState<Freshdesk>>>) -> Response {
    let headers = match state.sim.charge(&state.control, ME, 1) {
        Ok(h) => h,
        Err(resp) => return *resp,
    };
    let agent = serde_json::json!({
        "available": true,
        "occasional": false,
        "id": records::AGENT_BASE,
        "ticket_scope": 1,
        "created_at": "2015-08-18T16:18:05Z",
        "updated_at": "2015-08-18T16:18:05Z",
        "contact": { "active": true, "email": format!("admin@{}", state.sim.base_url_hint), "name": "Sandbox Admin" },
        "type": "support_agent"
    });
    list_response(&agent, headers, None)
}

async fn not_found(State(state): State<Arc<SimState<Freshdesk>>>) -> Response {
    state.sim.error_response(StatusCode::NOT_FOUND)
}

impl Simulator for Freshdesk {
    type Options = FreshdeskOptions;
    const NAME: &'static str = "freshdesk";
    const ROUTES: &'static [&'static str] = &[TICKETS, CONVERSATIONS_ROUTE, CONTACTS, SATISFACTION, ME];

    fn config(options: &FreshdeskOptions) -> &SimConfig {
        &options.sim
    }

    fn build(o: FreshdeskOptions, control: &Control) -> Self {
        let tickets = o.sim.records as u64;
        let contacts = o.contacts.map_or(tickets / 4 + 20, |c| c as u64);
        let ratings = o.satisfaction_ratings.map_or(tickets / 3, |r| r as u64).min(tickets / 3);
        let records =
            Gen::new(o.sim.seed, &o.domain, o.extra_field_rate, (tickets, contacts, ratings), control.now());
        let data = Data {
            tickets: records.tickets.timeline.clone(),
            contacts: records.contacts.timeline.clone(),
            ratings: records.ratings.timeline.clone(),
            edits: BTreeMap::new(),
            mutations: 0,
        };
        Freshdesk {
            records,
            data: RwLock::new(data),
            credits: Credits::default(),
            api_key: o.api_key,
            credits_per_minute: o.credits_per_minute,
            page_cap: o.page_cap,
            rating_edit_days: o.rating_edit_days,
            base_url_hint: format!("{}.freshdesk.com", o.domain),
        }
    }

    fn route_of(path: &str) -> Option<&'static str> {
        match path.trim_end_matches('/') {
            "/api/v2/tickets" => Some(TICKETS),
            "/api/v2/contacts" => Some(CONTACTS),
            "/api/v2/surveys/satisfaction_ratings" => Some(SATISFACTION),
            "/api/v2/agents/me" => Some(ME),
            p if p.starts_with("/api/v2/tickets/") && p.ends_with("/conversations") => {
                Some(CONVERSATIONS_ROUTE)
            }
            _ => None,
        }
    }

    fn router(state: Arc<SimState<Self>>) -> Router {
        Router::new()
            .route("/api/v2/tickets", get(tickets))
            .route("/api/v2/tickets/{id}/conversations", get(conversations))
            .route("/api/v2/contacts", get(contacts))
            .route("/api/v2/surveys/satisfaction_ratings", get(satisfaction_ratings))
            .route("/api/v2/agents/me", get(me))
            .fallback(not_found)
            .with_state(state)
    }

    fn authenticate(&self, parts: &Parts) -> Result<String, Box<Response>> {
        let reject = || Box::new(self.error_response(StatusCode::UNAUTHORIZED));
        let decoded = credentials::basic(parts).ok_or_else(reject)?;
        // The API key is the user name; the password is ignored (the docs use `X`).
        let key = decoded.split_once(':').map_or(decoded.as_str(), |(k, _)| k);
        if key == self.api_key { Ok(key.to_owned()) } else { Err(reject()) }
    }

    fn admit(
        &self,
        _route: &'static str,
        _account: &str,
        _faults: &Faults,
    ) -> Result<HeaderMap, Box<Response>> {
        // Credits depend on the query (`include`), so the handlers charge them.
        Ok(HeaderMap::new())
    }

    fn rate_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if self.credits_per_minute > 0 {
            let remaining = self.credits.remaining(self.credits_per_minute);
            headers.insert(
                HeaderName::from_static("x-ratelimit-total"),
                HeaderValue::from(self.credits_per_minute),
            );
            headers.insert(HeaderName::from_static("x-ratelimit-remaining"), HeaderValue::from(remaining));
        }
        headers
    }

    fn error_response(&self, status: StatusCode) -> Response {
        let (code, message) = match status.as_u16() {
            401 => ("invalid_credentials", "You have to be logged in to perform this action."),
            403 => ("access_denied", "You are not authorized to perform this action."),
            404 => ("not_found", "The requested resource could not be found."),
            _ => ("internal_error", "We're sorry, but something went wrong."),
        };
        json_value(status, &serde_json::json!({ "code": code, "message": message }))
    }

    fn throttle_response(&self, retry_after: Option<u64>) -> Response {
        let mut resp = json_value(
            StatusCode::TOO_MANY_REQUESTS,
            &serde_json::json!({ "code": "too_many_requests", "message": "You have exceeded the limit of requests per minute" }),
        );
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }

    fn ground_truth(&self, control: &Control) -> GroundTruth {
        let mut truth = GroundTruth::default();
        let data = self.read();
        let g = &self.records;
        let faults = control.faults(TICKETS);
        let first = data.tickets.fixed_len();
        for (index, v) in data.tickets.iter() {
            let malformed = self.malformation(control, &faults, TICKETS, index, first);
            let mut raw = to_value(&g.ticket(index, &v, malformed, (true, true, false)));
            if g.removal(index, &v).is_none()
                && let Value::Object(map) = &mut raw
            {
                map.insert("conversations".to_owned(), to_value(&g.conversations(index, &v)));
            }
            let id = g.tickets.ids.id(index).to_string();
            let record = TruthRecord { raw, deleted: v.deleted };
            truth.insert(TICKETS, id, record, malformed.is_some());
        }
        let faults = control.faults(CONTACTS);
        let first = data.contacts.fixed_len();
        for (index, v) in data.contacts.iter() {
            let malformed = self.malformation(control, &faults, CONTACTS, index, first);
            let raw = to_value(&g.contact(index, &v, malformed));
            let id = g.contacts.ids.id(index).to_string();
            truth.insert(CONTACTS, id, TruthRecord { raw, deleted: v.deleted }, malformed.is_some());
        }
        let faults = control.faults(SATISFACTION);
        let first = data.ratings.fixed_len();
        for (index, v) in data.ratings.iter() {
            // The second official example is malformed as published.
            let malformed =
                self.malformation(control, &faults, SATISFACTION, index, first).or((index == 1).then_some(0));
            let edit = data.edits.get(&index).copied().unwrap_or((0, v.time));
            let raw = to_value(&g.rating(index, v.time, edit, malformed));
            let id = g.ratings.ids.id(index).to_string();
            truth.insert(SATISFACTION, id, TruthRecord { raw, deleted: false }, malformed.is_some());
        }
        truth
    }

    fn mutate(&self, control: &Control, m: Mutation) {
        let (old, new) = control.advance(MUTATION_STEP);
        let (t0, t1) = (old + 1, new - 120);
        let seed = control.seed();
        let mut data = self.data.write().unwrap_or_else(|e| e.into_inner());
        data.tickets.apply(seed, rng::tag(TICKETS), &m, t0, t1, true);
        data.contacts.apply(seed, rng::tag(CONTACTS), &m, t0, t1, true);
        let created = Mutation { updates: 0, deletions: 0, creations: m.creations };
        data.ratings.apply(seed, rng::tag(SATISFACTION), &created, t0, t1, false);
        // Edits: ratings created within the edit window change their answer.
        let first = self.records.ratings.first();
        let recent: Vec<u64> = data
            .ratings
            .scan(Start::Time(new - self.rating_edit_days * DAY), None, usize::MAX, |i, _| i >= first)
            .items
            .iter()
            .map(|(i, _)| *i)
            .collect();
        let mut r = rng::rng(seed, &[rng::tag(SATISFACTION), data.mutations, 0xED17]);
        data.mutations += 1;
        for _ in 0..m.updates.min(recent.len()) {
            let index = recent[r.random_range(0..recent.len())];
            let revision = data.edits.get(&index).map_or(0, |e| e.0) + 1;
            data.edits.insert(index, (revision, t1));
        }
    }
}
