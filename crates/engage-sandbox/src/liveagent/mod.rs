//! The LiveAgent simulator (API v3): ticket and contact lists with page numbers, `_filters` and
//! sorting, `apikey` header auth, 180 requests a minute per key, and every timestamp written
//! without a zone in the account's time zone.
//!
//! Routes: `GET /api/v3/tickets` (route `tickets`), `GET /api/v3/contacts` (route `contacts`).
//! Route names are also the ground-truth stream names.
//!
//! Behaviour worth knowing (helpdesk.md §5):
//! - Lists are bare JSON arrays: no total, no next link. `_page` (from 1) and `_perPage` (default
//!   10, at most 100 here — more is cut to 100 without a word) page them; a short or empty page
//!   is the end.
//! - `_filters` takes `{"column": "value", …}` or `[["column", "operator", "value"], …]`; dates
//!   take `D>`, `D<`, `D>=`, `D<=` with `YYYY-MM-DD HH:MM:SS` values in the account's zone.
//!   Tickets filter on `date_created`, `date_changed`, `status`, `channel_type`,
//!   `departmentid`; contacts on `date_created`. Other columns (`id`, `code`, `owner_email`…)
//!   cannot be filtered: a 400, as on LiveAgent since 5.43.
//! - `_sortField` `date_created` (default) or `date_changed` (tickets), `_sortDir` `ASC`/`DESC`;
//!   ties by id.
//! - Timestamps are `YYYY-MM-DD HH:MM:SS` in [`LiveAgentOptions::time_zone`] (an IANA zone, with
//!   its daylight-saving changes); in a repeated hour the earlier instant is meant.
//! - A [`Mutation`] updates, deletes (status `X` with `date_deleted`) and creates tickets; it
//!   creates contacts only (the contact list has no change time to find updates by).
//! - Over 180 requests in a rolling minute per API key: a 429 (with `Retry-After` unless the
//!   faults say otherwise; LiveAgent does not document either).
//! - Malformed records (see [`Faults::malformed_rate`]) get `"date_created": "not a date"` or
//!   `"date_changed": "2025-02-30 25:61:00"`.

mod records;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono_tz::Tz;
use serde_json::{Value, json};

use crate::faults::Faults;
use crate::rate::{Admit, RateLimiter};
use crate::rng;
use crate::sim::{Control, MUTATION_STEP, Sim, SimConfig, SimState, Simulator};
use crate::timeline::{Mutation, Start, Timeline, Version};
use crate::truth::{GroundTruth, TruthRecord};
use records::{Facts, Gen};

pub use records::{local, parse_local};

/// A running LiveAgent simulator.
pub type LiveAgentSim = Sim<LiveAgent>;

/// Route (and stream) of tickets.
pub const TICKETS: &str = "tickets";
/// Route (and stream) of contacts.
pub const CONTACTS: &str = "contacts";

const JSON: &str = "application/json";
/// Largest page the simulator serves.
pub const MAX_PER_PAGE: usize = 100;

/// LiveAgent simulator options. `Default` has LiveAgent's limit of 180 requests a minute per
/// API key and an account in `Europe/Bratislava`.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveAgentOptions {
    /// Seed, ticket count, clock, faults.
    pub sim: SimConfig,
    /// Contacts (`None`: half the tickets plus 20).
    pub contacts: Option<usize>,
    /// The API key the simulator accepts (`apikey` header).
    pub api_key: String,
    /// Requests per rolling minute per key (0 = unlimited).
    pub requests_per_minute: u64,
    /// The account's time zone (IANA name) every timestamp is written in.
    pub time_zone: String,
    /// Share of generated tickets that carry the unknown field `x_sim_extra`.
    pub extra_field_rate: f64,
}

impl Default for LiveAgentOptions {
    fn default() -> Self {
        LiveAgentOptions {
            sim: SimConfig::default(),
            contacts: None,
            api_key: "sandbox-liveagent-key".to_owned(),
            requests_per_minute: 180,
            time_zone: "Europe/Bratislava".to_owned(),
            extra_field_rate: 0.03,
        }
    }
}

impl LiveAgentOptions {
    /// Default options with this seed and ticket count.
    pub fn new(seed: u64, records: usize) -> Self {
        let mut o = LiveAgentOptions::default();
        o.sim.seed = seed;
        o.sim.records = records;
        o
    }

    /// No rate limit (for benchmarks).
    pub fn unlimited() -> Self {
        LiveAgentOptions { requests_per_minute: 0, ..LiveAgentOptions::default() }
    }
}

struct Data {
    tickets: Timeline,
    contacts: Timeline,
}

/// The LiveAgent simulator's state (use it through [`LiveAgentSim`]).
pub struct LiveAgent {
    records: Gen,
    data: RwLock<Data>,
    limiter: RateLimiter,
    api_key: String,
    requests_per_minute: u64,
}

impl std::fmt::Debug for LiveAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveAgent").field("time_zone", &self.records.tz).finish_non_exhaustive()
    }
}

impl LiveAgent {
    /// The account's time zone.
    pub fn time_zone(&self) -> Tz {
        self.records.tz
    }

    /// Forgets every request counted by the rate limiter.
    pub fn reset_rate_limits(&self) {
        self.limiter.reset();
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Data> {
        self.data.read().unwrap_or_else(|e| e.into_inner())
    }

    fn malformation(&self, control: &Control, stream: &'static str, index: u64) -> Option<u8> {
        control.faults(stream).malformation(control.seed(), stream, index)
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(JSON))],
        serde_json::to_vec(body).unwrap_or_default(),
    )
        .into_response()
}

fn message(status: StatusCode, text: &str) -> Response {
    json_response(status, &json!({ "message": text }))
}

/// One condition of `_filters`.
struct Cond {
    column: String,
    op: String,
    value: Value,
}

fn parse_filters(text: &str) -> Result<Vec<Cond>, String> {
    let v: Value = serde_json::from_str(text).map_err(|_| "_filters is not valid JSON".to_owned())?;
    match v {
        Value::Object(map) => {
            Ok(map.into_iter().map(|(column, value)| Cond { column, op: "=".to_owned(), value }).collect())
        }
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item.as_array().map(Vec::as_slice) {
                Some([Value::String(c), Value::String(op), value]) => {
                    Ok(Cond { column: c.clone(), op: op.clone(), value: value.clone() })
                }
                _ => Err("each filter is [column, operator, value]".to_owned()),
            })
            .collect(),
        _ => Err("_filters must be an object or an array".to_owned()),
    }
}

impl Cond {
    fn check(&self, stream: &str, tz: Tz) -> Result<(), String> {
        let allowed: &[&str] = match stream {
            TICKETS => &["date_created", "date_changed", "status", "channel_type", "departmentid"],
            _ => &["date_created"],
        };
        if !allowed.contains(&self.column.as_str()) {
            return Err(format!("Filtering by '{}' is not supported", self.column));
        }
        if self.column.starts_with("date_") {
            if !matches!(self.op.as_str(), "D>" | "D<" | "D>=" | "D<=") {
                return Err(format!("Operator '{}' is not supported for {}", self.op, self.column));
            }
            self.value
                .as_str()
                .and_then(|s| parse_local(s, tz))
                .ok_or_else(|| format!("'{}' is not a date (YYYY-MM-DD HH:MM:SS)", self.value))?;
        } else if !matches!(self.op.as_str(), "=" | "IN") {
            return Err(format!("Operator '{}' is not supported for {}", self.op, self.column));
        }
        Ok(())
    }

    fn matches(&self, f: &Facts, tz: Tz) -> bool {
        let date = |t: i64| {
            let bound = self.value.as_str().and_then(|s| parse_local(s, tz)).unwrap_or(0);
            match self.op.as_str() {
                "D>" => t > bound,
                "D<" => t < bound,
                "D>=" => t >= bound,
                _ => t <= bound,
            }
        };
        let text = |t: &str| match &self.value {
            Value::String(s) if self.op == "=" => s.split(',').any(|v| v.trim() == t),
            Value::Array(a) => a.iter().any(|v| v.as_str() == Some(t)),
            _ => false,
        };
        match self.column.as_str() {
            "date_created" => date(f.created),
            "date_changed" => date(f.changed),
            "status" => text(&f.status),
            "channel_type" => text(&f.channel),
            _ => text(&f.department),
        }
    }
}

fn list(state: &SimState<LiveAgent>, stream: &'static str, q: &HashMap<String, String>) -> Response {
    let la = &state.sim;
    let control = &state.control;
    let tz = la.records.tz;
    let number = |key: &str, default: usize| match q.get(key) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| format!("{key} must be a positive integer")),
    };
    let (page, per_page) = match (number("_page", 1), number("_perPage", 10)) {
        (Ok(p), Ok(n)) => (p, n.min(MAX_PER_PAGE)),
        (Err(e), _) | (_, Err(e)) => return message(StatusCode::BAD_REQUEST, &e),
    };
    let conds = match q.get("_filters").map(|f| parse_filters(f)) {
        None => Vec::new(),
        Some(Ok(c)) => c,
        Some(Err(e)) => return message(StatusCode::BAD_REQUEST, &e),
    };
    if let Some(e) = conds.iter().find_map(|c| c.check(stream, tz).err()) {
        return message(StatusCode::BAD_REQUEST, &e);
    }
    let sort = q.get("_sortField").map(String::as_str).unwrap_or("date_created");
    let by_changed = match (stream, sort) {
        (_, "date_created") => false,
        (TICKETS, "date_changed") => true,
        _ => return message(StatusCode::BAD_REQUEST, &format!("Sorting by '{sort}' is not supported")),
    };
    let descending = match q.get("_sortDir").map(|d| d.to_ascii_uppercase()) {
        None => false,
        Some(d) if d == "ASC" => false,
        Some(d) if d == "DESC" => true,
        Some(d) => return message(StatusCode::BAD_REQUEST, &format!("_sortDir '{d}' is not ASC or DESC")),
    };
    let data = la.read();
    let timeline = if stream == TICKETS { &data.tickets } else { &data.contacts };
    let facts = |index: u64, v: &Version| {
        if stream == TICKETS { la.records.ticket_facts(index, v) } else { la.records.contact_facts(index, v) }
    };
    // The timeline is in change order (contacts never change, so also creation order).
    let floor = if by_changed || stream == CONTACTS {
        conds
            .iter()
            .filter(|c| c.column == if stream == TICKETS { "date_changed" } else { "date_created" })
            .filter(|c| matches!(c.op.as_str(), "D>" | "D>="))
            .filter_map(|c| c.value.as_str().and_then(|s| parse_local(s, tz)))
            .max()
            .unwrap_or(i64::MIN)
    } else {
        i64::MIN
    };
    let keep = |index: u64, v: &Version| {
        let f = facts(index, v);
        conds.iter().all(|c| c.matches(&f, tz))
    };
    let offset = (page - 1).saturating_mul(per_page);
    let mut chosen: Vec<(u64, Version)> = if (by_changed || stream == CONTACTS) && !descending {
        let scan = timeline.scan(Start::Time(floor), None, offset.saturating_add(per_page), keep);
        scan.items.into_iter().skip(offset).collect()
    } else {
        let mut all = timeline.scan(Start::Time(floor), None, usize::MAX, keep).items;
        if !by_changed && stream == TICKETS {
            all.sort_by_key(|(i, v)| (la.records.ticket_facts(*i, v).created, la.records.ticket_id(*i)));
        }
        if descending {
            all.reverse();
        }
        all.into_iter().skip(offset).take(per_page).collect()
    };
    let items: Vec<Value> = chosen
        .drain(..)
        .map(|(index, v)| {
            let malformed = la.malformation(control, stream, index);
            if stream == TICKETS {
                serde_json::to_value(la.records.ticket(index, &v, malformed)).unwrap_or(Value::Null)
            } else {
                serde_json::to_value(la.records.contact(index, &v, malformed)).unwrap_or(Value::Null)
            }
        })
        .collect();
    drop(data);
    json_response(StatusCode::OK, &Value::Array(items))
}

async fn tickets(
    State(state): State<Arc<SimState<LiveAgent>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    list(&state, TICKETS, &q)
}

async fn contacts(
    State(state): State<Arc<SimState<LiveAgent>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    list(&state, CONTACTS, &q)
}

async fn not_found() -> Response {
    message(StatusCode::NOT_FOUND, "Not found")
}

impl Simulator for LiveAgent {
    type Options = LiveAgentOptions;
    const NAME: &'static str = "liveagent";
    const ROUTES: &'static [&'static str] = &[TICKETS, CONTACTS];

    fn config(options: &LiveAgentOptions) -> &SimConfig {
        &options.sim
    }

    fn build(o: LiveAgentOptions, control: &Control) -> Self {
        let tickets = o.sim.records as u64;
        let contacts = o.contacts.map_or(tickets / 2 + 20, |c| c as u64);
        let tz: Tz = o.time_zone.parse().unwrap_or(chrono_tz::UTC);
        let records = Gen::new(o.sim.seed, tz, o.extra_field_rate, (tickets, contacts), control.now());
        let data = Data { tickets: records.tickets.clone(), contacts: records.contacts.clone() };
        LiveAgent {
            records,
            data: RwLock::new(data),
            limiter: RateLimiter::new(Duration::from_secs(60)),
            api_key: o.api_key,
            requests_per_minute: o.requests_per_minute,
        }
    }

    fn route_of(path: &str) -> Option<&'static str> {
        match path.trim_end_matches('/') {
            "/api/v3/tickets" => Some(TICKETS),
            "/api/v3/contacts" => Some(CONTACTS),
            _ => None,
        }
    }

    fn router(state: Arc<SimState<Self>>) -> Router {
        Router::new()
            .route("/api/v3/tickets", get(tickets))
            .route("/api/v3/contacts", get(contacts))
            .fallback(not_found)
            .with_state(state)
    }

    fn authenticate(&self, parts: &Parts) -> Result<String, Box<Response>> {
        match parts.headers.get("apikey").and_then(|v| v.to_str().ok()) {
            Some(key) if key == self.api_key => Ok(key.to_owned()),
            _ => Err(Box::new(self.error_response(StatusCode::UNAUTHORIZED))),
        }
    }

    fn admit(
        &self,
        _route: &'static str,
        account: &str,
        faults: &Faults,
    ) -> Result<HeaderMap, Box<Response>> {
        match self.limiter.admit(account, "api", self.requests_per_minute) {
            Admit::Limited { retry_after } => {
                Err(Box::new(self.throttle_response(faults.throttle_retry_after.map(|_| retry_after))))
            }
            Admit::Ok { .. } | Admit::Unlimited => Ok(HeaderMap::new()),
        }
    }

    fn rate_headers(&self) -> HeaderMap {
        HeaderMap::new()
    }

    fn error_response(&self, status: StatusCode) -> Response {
        match status.as_u16() {
            401 => message(status, "Invalid API key"),
            403 => message(status, "Insufficient privileges for this request"),
            404 => message(status, "Not found"),
            code if code >= 500 => message(status, "Internal server error"),
            _ => message(status, status.canonical_reason().unwrap_or("Error")),
        }
    }

    fn throttle_response(&self, retry_after: Option<u64>) -> Response {
        let mut resp = message(StatusCode::TOO_MANY_REQUESTS, "Too many requests");
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }

    fn ground_truth(&self, control: &Control) -> GroundTruth {
        let mut truth = GroundTruth::default();
        let data = self.read();
        for (index, v) in data.tickets.iter() {
            let malformed = self.malformation(control, TICKETS, index);
            let raw = serde_json::to_value(self.records.ticket(index, &v, malformed)).unwrap_or(Value::Null);
            let record = TruthRecord { raw, deleted: v.deleted };
            truth.insert(TICKETS, self.records.ticket_id(index), record, malformed.is_some());
        }
        for (index, v) in data.contacts.iter() {
            let malformed = self.malformation(control, CONTACTS, index);
            let raw = serde_json::to_value(self.records.contact(index, &v, malformed)).unwrap_or(Value::Null);
            let record = TruthRecord { raw, deleted: false };
            truth.insert(CONTACTS, self.records.contact_id(index), record, malformed.is_some());
        }
        truth
    }

    fn mutate(&self, control: &Control, m: Mutation) {
        let (old, new) = control.advance(MUTATION_STEP);
        let (t0, t1) = (old + 1, new - 120);
        let seed = control.seed();
        let mut data = self.data.write().unwrap_or_else(|e| e.into_inner());
        data.tickets.apply(seed, rng::tag(TICKETS), &m, t0, t1, true);
        let created = Mutation { updates: 0, deletions: 0, creations: m.creations };
        data.contacts.apply(seed, rng::tag(CONTACTS), &created, t0, t1, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_in_both_forms() {
        let c = parse_filters(r#"{"status":"C"}"#).unwrap();
        assert_eq!((c[0].column.as_str(), c[0].op.as_str()), ("status", "="));
        let c = parse_filters(r#"[["date_changed","D>=","2025-01-01 00:00:00"]]"#).unwrap();
        assert_eq!(c[0].op, "D>=");
        assert!(c[0].check(TICKETS, chrono_tz::UTC).is_ok());
        let id = Cond { column: "id".into(), op: "=".into(), value: json!("abc") };
        assert!(id.check(TICKETS, chrono_tz::UTC).is_err());
        assert!(parse_filters("[1]").is_err());
    }
}
