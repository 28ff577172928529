//! The Postmark simulator: outbound statistics by day, as `GET /stats/outbound/{sends,bounces,
//! spam,opens,clicks}` return them, with `X-Postmark-Server-Token` authentication.
//!
//! Routes: `GET /stats/outbound/sends` (route `sends`), `/stats/outbound/bounces` (`bounces`),
//! `/stats/outbound/spam` (`spam`), `/stats/outbound/opens` (`opens`), `/stats/outbound/clicks`
//! (`clicks`), the overview `GET /stats/outbound` (`overview`) and `GET /server` (`server`, for
//! credential checks). Ground truth has one stream, [`STREAM`]: one record per day that has any
//! activity, its raw payload `{"Date": D, "sends": {…}, "bounces": {…}, …}` holding each
//! endpoint's day object exactly as served (an endpoint that omits the day has no key).
//!
//! Behaviour worth knowing (reviews-email.md §9):
//! - `fromdate`/`todate` are inclusive `YYYY-MM-DD` dates in the EST time zone (UTC−5 here); no
//!   `fromdate` means all time, no `todate` means today. Each endpoint answers
//!   `{"Days": [...], <totals>}`.
//! - **`Days` is sparse**: a day without activity is absent, and an endpoint leaves out a day on
//!   which all of its counts are zero. **Per-day objects omit zero-valued keys.**
//! - The official examples' days (2014-01-01 … 2014-01-05) are the first days of every dataset;
//!   generated days follow, one per day up to today, about one in seven without activity.
//! - Counts of the last [`SETTLING_DAYS`] days keep changing (late opens and clicks): a
//!   [`Mutation`] updates that many active recent days and gives activity to quiet recent days
//!   (creations); nothing is ever deleted. The clock advances by [`MUTATION_STEP`], so a new day
//!   appears when it crosses midnight EST.
//! - An unknown `messagestream` gets the documented 422 (`ErrorCode` 1235); a wrong token the
//!   401 with `ErrorCode` 10. `tag` is accepted and does not filter.
//! - Malformed records (see [`Faults::malformed_rate`]) get a `Sent` count of `"n/a"` or a
//!   negative one; the official days never do.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::NaiveDate;
use rand::Rng;
use serde_json::{Map, Value, json};

use crate::faults::Faults;
use crate::rate::{Admit, RateLimiter};
use crate::rng;
use crate::sim::{Control, MUTATION_STEP, Sim, SimConfig, SimState, Simulator};
use crate::timeline::Mutation;
use crate::truth::{GroundTruth, TruthRecord};

/// A running Postmark simulator.
pub type PostmarkSim = Sim<Postmark>;

/// Ground-truth stream: one record per day with activity.
pub const STREAM: &str = "outbound_stats";
/// Route of `GET /stats/outbound/sends`.
pub const SENDS: &str = "sends";
/// Route of `GET /stats/outbound/bounces`.
pub const BOUNCES: &str = "bounces";
/// Route of `GET /stats/outbound/spam`.
pub const SPAM: &str = "spam";
/// Route of `GET /stats/outbound/opens`.
pub const OPENS: &str = "opens";
/// Route of `GET /stats/outbound/clicks`.
pub const CLICKS: &str = "clicks";
/// Route of the overview `GET /stats/outbound`.
pub const OVERVIEW: &str = "overview";
/// Route of `GET /server`.
pub const SERVER: &str = "server";
/// The per-day endpoints, in the order their parts appear in a day's raw payload.
pub const DAY_ENDPOINTS: [&str; 5] = [SENDS, BOUNCES, SPAM, OPENS, CLICKS];
/// Days before today (EST) whose counts still change.
pub const SETTLING_DAYS: i64 = 14;
/// The header carrying the server token.
pub const TOKEN_HEADER: &str = "x-postmark-server-token";

/// The official `GET /stats/outbound/sends` example.
pub const SENDS_EXAMPLE: &str =
    include_str!("../../fixtures/postmark/stats_outbound_sends_docs_example.json");
/// The official `GET /stats/outbound/bounces` example.
pub const BOUNCES_EXAMPLE: &str =
    include_str!("../../fixtures/postmark/stats_outbound_bounces_docs_example.json");
/// The official `GET /stats/outbound` overview example (2014-01-01 … 2014-02-01).
pub const OVERVIEW_EXAMPLE: &str =
    include_str!("../../fixtures/postmark/stats_outbound_overview_docs_example.json");
/// The official 401 body.
pub const ERROR_401: &str = include_str!("../../fixtures/postmark/error_401_bad_token.json");
/// The 422 body for an unknown message stream.
pub const ERROR_422_STREAM: &str =
    include_str!("../../fixtures/postmark/error_422_invalid_request_assembled.json");

const EST: i64 = -5 * 3_600;

/// Postmark simulator options.
#[derive(Clone, Debug, PartialEq)]
pub struct PostmarkOptions {
    /// Seed, clock, faults; `records` is the number of generated days of history.
    pub sim: SimConfig,
    /// The server token the simulator accepts.
    pub server_token: String,
    /// Message streams that exist (`messagestream` must be one of them when given).
    pub streams: Vec<String>,
    /// Requests per rolling minute (0 = unlimited). Postmark documents no number; a 429 has no
    /// rate-limit headers.
    pub requests_per_minute: u64,
}

impl Default for PostmarkOptions {
    fn default() -> Self {
        PostmarkOptions {
            sim: SimConfig::default(),
            server_token: "sandbox-server-token".to_owned(),
            streams: vec!["outbound".to_owned(), "broadcast".to_owned()],
            requests_per_minute: 600,
        }
    }
}

impl PostmarkOptions {
    /// Default options with this seed and number of days.
    pub fn new(seed: u64, days: usize) -> Self {
        let mut o = PostmarkOptions::default();
        o.sim.seed = seed;
        o.sim.records = days;
        o
    }

    /// No rate limit (for benchmarks).
    pub fn unlimited() -> Self {
        PostmarkOptions { requests_per_minute: 0, ..PostmarkOptions::default() }
    }
}

/// The day number (days since 1970-01-01) of a Unix time, in EST.
pub fn est_day(unix: i64) -> i64 {
    (unix + EST).div_euclid(86_400)
}

/// `YYYY-MM-DD` of a day number.
pub fn day_text(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0)
        .map(|t| t.date_naive().format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn parse_day(text: &str) -> Option<i64> {
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp().div_euclid(86_400))
}

/// One day's counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    sent: i64,
    hard: i64,
    smtp_error: i64,
    soft: i64,
    transient: i64,
    spam: i64,
    opens: i64,
    unique_opens: i64,
    clicks: i64,
    unique_clicks: i64,
}

#[derive(Debug, Default)]
struct Changes {
    /// Day number -> revision (1 and more), for days a mutation changed or made active.
    revisions: BTreeMap<i64, u32>,
    mutations: u64,
}

/// The Postmark simulator's state (use it through [`PostmarkSim`]).
#[derive(Debug)]
pub struct Postmark {
    seed: u64,
    token: String,
    streams: Vec<String>,
    limit: u64,
    limiter: RateLimiter,
    /// The official days: day number -> endpoint -> day object.
    fixed: BTreeMap<i64, BTreeMap<&'static str, Value>>,
    /// First generated day.
    first: i64,
    changes: Mutex<Changes>,
}

fn example_days(json: &str) -> Vec<Value> {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(mut map)) => match map.remove("Days") {
            Some(Value::Array(days)) => days,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

impl Postmark {
    fn base_counts(&self, day: i64, revision: u32) -> Counts {
        let h = rng::hash(self.seed, &[rng::tag(STREAM), day as u64]);
        let mut r = rng::rng(self.seed, &[rng::tag(STREAM), day as u64, 1]);
        let sent = 40 + (h % 400) as i64;
        let mut pick = |n: i64, p: f64| if r.random_bool(p) { r.random_range(1..=n.max(1)) } else { 0 };
        let hard = pick(sent / 50 + 1, 0.5);
        let smtp_error = pick(3, 0.1);
        let soft = pick(sent / 40 + 1, 0.4);
        let transient = pick(5, 0.3);
        let spam = pick(2, 0.15);
        // Opens and clicks keep arriving for days after the send.
        let growth = 1.0 + 0.12 * f64::from(revision);
        let unique_opens = ((sent as f64) * r.random_range(0.15..0.45) * growth).round() as i64;
        let unique_opens = if r.random_bool(0.05) { 0 } else { unique_opens.min(sent) };
        let opens = unique_opens + (unique_opens as f64 * r.random_range(0.2..1.5)).round() as i64;
        let unique_clicks = if r.random_bool(0.1) {
            0
        } else {
            (unique_opens as f64 * r.random_range(0.05..0.3)).round() as i64
        };
        let clicks = unique_clicks + (unique_clicks as f64 * r.random_range(0.0..0.8)).round() as i64;
        Counts { sent, hard, smtp_error, soft, transient, spam, opens, unique_opens, clicks, unique_clicks }
    }

    fn base_active(&self, day: i64) -> bool {
        rng::unit(rng::hash(self.seed, &[rng::tag(STREAM), day as u64, 7])) >= 0.15
    }

    /// The revision of an active generated day, `None` when it has no activity.
    fn revision(&self, changes: &Changes, day: i64, today: i64) -> Option<u32> {
        if day < self.first || day > today {
            return None;
        }
        match changes.revisions.get(&day) {
            Some(r) => Some(*r),
            None => self.base_active(day).then_some(0),
        }
    }

    /// The endpoint's day object for a generated day, `None` when the endpoint omits the day.
    fn part(&self, endpoint: &str, day: i64, counts: &Counts, malformed: Option<u8>) -> Option<Value> {
        let keys: Vec<(&str, i64)> = match endpoint {
            SENDS => vec![("Sent", counts.sent)],
            BOUNCES => vec![
                ("HardBounce", counts.hard),
                ("SMTPApiError", counts.smtp_error),
                ("SoftBounce", counts.soft),
                ("Transient", counts.transient),
            ],
            SPAM => vec![("SpamComplaint", counts.spam)],
            OPENS => vec![("Opens", counts.opens), ("Unique", counts.unique_opens)],
            CLICKS => vec![("Clicks", counts.clicks), ("Unique", counts.unique_clicks)],
            _ => Vec::new(),
        };
        let mut map = Map::new();
        map.insert("Date".to_owned(), Value::String(day_text(day)));
        for (key, n) in keys.into_iter().filter(|(_, n)| *n != 0) {
            map.insert(key.to_owned(), json!(n));
        }
        if endpoint == SENDS {
            match malformed {
                Some(0) => {
                    map.insert("Sent".to_owned(), json!("n/a"));
                }
                Some(_) => {
                    map.insert("Sent".to_owned(), json!(-counts.sent));
                }
                None => {}
            }
        }
        (map.len() > 1).then_some(Value::Object(map))
    }

    /// Every day with activity in `[from, to]` and its endpoint parts, in date order.
    fn days(&self, control: &Control, from: i64, to: i64) -> Vec<(i64, BTreeMap<&'static str, Value>, bool)> {
        let today = est_day(control.now());
        let to = to.min(today);
        let changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        let faults = control.faults(SENDS);
        let mut out = Vec::new();
        for (day, parts) in self.fixed.range(from..=to) {
            out.push((*day, parts.clone(), false));
        }
        for day in from.max(self.first)..=to {
            let Some(revision) = self.revision(&changes, day, today) else { continue };
            let counts = self.base_counts(day, revision);
            let malformed = faults.malformation(control.seed(), STREAM, day as u64);
            let parts = DAY_ENDPOINTS
                .iter()
                .filter_map(|e| self.part(e, day, &counts, malformed).map(|p| (*e, p)))
                .collect();
            out.push((day, parts, malformed.is_some()));
        }
        out
    }

    fn error(status: StatusCode, code: i64, message: &str) -> Response {
        json_response(status, &json!({ "ErrorCode": code, "Message": message }))
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    json_text(status, serde_json::to_string(body).unwrap_or_default())
}

fn json_text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"))], body)
        .into_response()
}

/// The requested range, or the 422 for a bad date or an unknown stream.
fn range(state: &SimState<Postmark>, q: &HashMap<String, String>) -> Result<(i64, i64), Box<Response>> {
    let bad = |what: &str| {
        Box::new(Postmark::error(
            StatusCode::UNPROCESSABLE_ENTITY,
            402,
            &format!("The '{what}' parameter must be a date in the format YYYY-MM-DD."),
        ))
    };
    if let Some(stream) = q.get("messagestream")
        && !state.sim.streams.contains(stream)
    {
        return Err(Box::new(json_text(StatusCode::UNPROCESSABLE_ENTITY, ERROR_422_STREAM.to_owned())));
    }
    let from = match q.get("fromdate").filter(|d| !d.is_empty()) {
        Some(d) => parse_day(d).ok_or_else(|| bad("fromdate"))?,
        None => i64::MIN / 2,
    };
    let to = match q.get("todate").filter(|d| !d.is_empty()) {
        Some(d) => parse_day(d).ok_or_else(|| bad("todate"))?,
        None => est_day(state.control.now()),
    };
    Ok((from, to))
}

async fn stats(
    state: Arc<SimState<Postmark>>,
    q: HashMap<String, String>,
    endpoint: &'static str,
) -> Response {
    let (from, to) = match range(&state, &q) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let mut days = Vec::new();
    let mut totals: BTreeMap<String, i64> = BTreeMap::new();
    for (_, mut parts, _) in state.sim.days(&state.control, from, to) {
        let Some(part) = parts.remove(endpoint) else { continue };
        if let Value::Object(map) = &part {
            for (key, value) in map {
                if let Some(n) = value.as_i64() {
                    *totals.entry(key.clone()).or_insert(0) += n;
                }
            }
        }
        days.push(part);
    }
    let mut body = Map::new();
    body.insert("Days".to_owned(), Value::Array(days));
    for (key, n) in totals.into_iter().filter(|(_, n)| *n != 0) {
        body.insert(key, json!(n));
    }
    json_response(StatusCode::OK, &Value::Object(body))
}

macro_rules! day_handler {
    ($name:ident, $endpoint:expr) => {
        async fn $name(
            State(state): State<Arc<SimState<Postmark>>>,
            Query(q): Query<HashMap<String, String>>,
        ) -> Response {
            stats(state, q, $endpoint).await
        }
    };
}
day_handler!(sends, SENDS);
day_handler!(bounces, BOUNCES);
day_handler!(spam, SPAM);
day_handler!(opens, OPENS);
day_handler!(clicks, CLICKS);

/// `GET /stats/outbound`: the overview (the official example for its own range).
async fn overview(
    State(state): State<Arc<SimState<Postmark>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if q.get("fromdate").map(String::as_str) == Some("2014-01-01")
        && q.get("todate").map(String::as_str) == Some("2014-02-01")
    {
        return json_text(StatusCode::OK, OVERVIEW_EXAMPLE.to_owned());
    }
    let (from, to) = match range(&state, &q) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let mut sum: BTreeMap<&str, i64> = BTreeMap::new();
    for (_, parts, _) in state.sim.days(&state.control, from, to) {
        for (endpoint, part) in &parts {
            for (key, value) in part.as_object().into_iter().flatten() {
                if let Some(n) = value.as_i64() {
                    let name = match (*endpoint, key.as_str()) {
                        (SENDS, "Sent") => "Sent",
                        (BOUNCES, "SMTPApiError") => "SMTPApiErrors",
                        (BOUNCES, _) => "Bounced",
                        (SPAM, _) => "SpamComplaints",
                        (OPENS, "Opens") => "Opens",
                        (OPENS, _) => "UniqueOpens",
                        (CLICKS, "Clicks") => "TotalClicks",
                        (CLICKS, _) => "UniqueLinksClicked",
                        _ => continue,
                    };
                    *sum.entry(name).or_insert(0) += n;
                }
            }
        }
    }
    let get = |k: &str| sum.get(k).copied().unwrap_or(0);
    let rate = |n: i64| if get("Sent") == 0 { 0.0 } else { 100.0 * n as f64 / get("Sent") as f64 };
    json_response(
        StatusCode::OK,
        &json!({
            "Sent": get("Sent"),
            "Bounced": get("Bounced"),
            "SMTPApiErrors": get("SMTPApiErrors"),
            "BounceRate": rate(get("Bounced")),
            "SpamComplaints": get("SpamComplaints"),
            "SpamComplaintsRate": rate(get("SpamComplaints")),
            "Opens": get("Opens"),
            "UniqueOpens": get("UniqueOpens"),
            "TotalClicks": get("TotalClicks"),
            "UniqueLinksClicked": get("UniqueLinksClicked"),
        }),
    )
}

/// `GET /server`: the server the token belongs to.
async fn server() -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "ID": 1,
            "Name": "Engage sandbox",
            "Color": "blue",
            "SmtpApiActivated": true,
            "DeliveryType": "Live",
            "TrackOpens": true,
            "TrackLinks": "HtmlAndText"
        }),
    )
}

async fn not_found() -> Response {
    Postmark::error(StatusCode::NOT_FOUND, 404, "The requested resource does not exist.")
}

impl Simulator for Postmark {
    type Options = PostmarkOptions;
    const NAME: &'static str = "postmark";
    const ROUTES: &'static [&'static str] = &[SENDS, BOUNCES, SPAM, OPENS, CLICKS, OVERVIEW, SERVER];

    fn config(options: &PostmarkOptions) -> &SimConfig {
        &options.sim
    }

    fn build(o: PostmarkOptions, control: &Control) -> Self {
        let mut fixed: BTreeMap<i64, BTreeMap<&'static str, Value>> = BTreeMap::new();
        for (endpoint, example) in [(SENDS, SENDS_EXAMPLE), (BOUNCES, BOUNCES_EXAMPLE)] {
            for day in example_days(example) {
                if let Some(n) = day.get("Date").and_then(Value::as_str).and_then(parse_day) {
                    fixed.entry(n).or_default().insert(endpoint, day);
                }
            }
        }
        let today = est_day(control.now());
        let first = today - (o.sim.records as i64 - 1).max(0);
        Postmark {
            seed: o.sim.seed,
            token: o.server_token,
            streams: o.streams,
            limit: o.requests_per_minute,
            limiter: RateLimiter::new(Duration::from_secs(60)),
            fixed,
            first: if o.sim.records == 0 { today + 1 } else { first },
            changes: Mutex::new(Changes::default()),
        }
    }

    fn route_of(path: &str) -> Option<&'static str> {
        match path.trim_end_matches('/') {
            "/stats/outbound/sends" => Some(SENDS),
            "/stats/outbound/bounces" => Some(BOUNCES),
            "/stats/outbound/spam" => Some(SPAM),
            "/stats/outbound/opens" => Some(OPENS),
            "/stats/outbound/clicks" => Some(CLICKS),
            "/stats/outbound" => Some(OVERVIEW),
            "/server" => Some(SERVER),
            _ => None,
        }
    }

    fn router(state: Arc<SimState<Self>>) -> Router {
        Router::new()
            .route("/stats/outbound/sends", get(sends))
            .route("/stats/outbound/bounces", get(bounces))
            .route("/stats/outbound/spam", get(spam))
            .route("/stats/outbound/opens", get(opens))
            .route("/stats/outbound/clicks", get(clicks))
            .route("/stats/outbound", get(overview))
            .route("/server", get(server))
            .fallback(not_found)
            .with_state(state)
    }

    fn authenticate(&self, parts: &Parts) -> Result<String, Box<Response>> {
        match parts.headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok()) {
            Some(token) if token == self.token => Ok(token.to_owned()),
            _ => Err(Box::new(self.error_response(StatusCode::UNAUTHORIZED))),
        }
    }

    fn admit(
        &self,
        _route: &'static str,
        account: &str,
        faults: &Faults,
    ) -> Result<HeaderMap, Box<Response>> {
        match self.limiter.admit(account, "server", self.limit) {
            Admit::Limited { retry_after } => {
                Err(Box::new(self.throttle_response(faults.throttle_retry_after.map(|_| retry_after))))
            }
            _ => Ok(HeaderMap::new()),
        }
    }

    fn rate_headers(&self) -> HeaderMap {
        HeaderMap::new()
    }

    fn error_response(&self, status: StatusCode) -> Response {
        match status.as_u16() {
            401 => json_text(status, ERROR_401.to_owned()),
            403 => Postmark::error(status, 0, "Access to this server is not allowed."),
            404 => Postmark::error(status, 404, "The requested resource does not exist."),
            _ => Postmark::error(status, 0, "Internal server error."),
        }
    }

    fn throttle_response(&self, retry_after: Option<u64>) -> Response {
        let mut resp =
            Postmark::error(StatusCode::TOO_MANY_REQUESTS, 0, "Too many requests. Please slow down.");
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }

    fn ground_truth(&self, control: &Control) -> GroundTruth {
        let mut truth = GroundTruth::default();
        for (day, parts, malformed) in self.days(control, i64::MIN / 2, i64::MAX / 2) {
            let date = day_text(day);
            let mut raw = Map::new();
            raw.insert("Date".to_owned(), Value::String(date.clone()));
            for endpoint in DAY_ENDPOINTS {
                if let Some(part) = parts.get(endpoint) {
                    raw.insert(endpoint.to_owned(), part.clone());
                }
            }
            truth.insert(STREAM, date, TruthRecord { raw: Value::Object(raw), deleted: false }, malformed);
        }
        truth
    }

    fn mutate(&self, control: &Control, m: Mutation) {
        let (_, now) = control.advance(MUTATION_STEP);
        let today = est_day(now);
        let mut changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        let mut r = rng::rng(self.seed, &[rng::tag(STREAM), changes.mutations, 0x3717]);
        changes.mutations += 1;
        let recent: Vec<i64> = (today - SETTLING_DAYS + 1..=today).filter(|d| *d >= self.first).collect();
        let (mut active, mut quiet): (Vec<i64>, Vec<i64>) =
            recent.iter().partition(|d| self.revision(&changes, **d, today).is_some());
        for _ in 0..m.updates.min(active.len()) {
            let day = active.swap_remove(r.random_range(0..active.len()));
            let next = self.revision(&changes, day, today).unwrap_or(0) + 1;
            changes.revisions.insert(day, next);
        }
        for _ in 0..m.creations.min(quiet.len()) {
            let day = quiet.swap_remove(r.random_range(0..quiet.len()));
            changes.revisions.insert(day, 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_sparse_and_keys_omitted() {
        let o = PostmarkOptions::new(3, 60);
        let control = Control::new(&o.sim);
        let pm = Postmark::build(o, &control);
        let days = pm.days(&control, i64::MIN / 2, i64::MAX / 2);
        // The five official days plus the active generated ones.
        let official: Vec<String> = days.iter().take(5).map(|(d, _, _)| day_text(*d)).collect();
        assert_eq!(official, ["2014-01-01", "2014-01-02", "2014-01-03", "2014-01-04", "2014-01-05"]);
        assert_eq!(days[2].1.keys().copied().collect::<Vec<_>>(), [BOUNCES]);
        assert_eq!(days[2].1[BOUNCES], json!({ "Date": "2014-01-03", "Transient": 7 }));
        let generated = days.len() - 5;
        assert!((40..60).contains(&generated), "{generated}");
        assert!(days.iter().skip(5).all(|(_, parts, _)| {
            parts.values().all(|p| p.as_object().unwrap().values().all(|v| v.as_i64() != Some(0)))
        }));
    }

    #[test]
    fn mutations_touch_recent_days_only() {
        let o = PostmarkOptions::new(3, 60);
        let control = Control::new(&o.sim);
        let pm = Postmark::build(o, &control);
        let before = pm.ground_truth(&control);
        pm.mutate(&control, Mutation { updates: 3, deletions: 0, creations: 1 });
        let after = pm.ground_truth(&control);
        let today = est_day(control.now());
        let changed: Vec<&String> = after
            .stream(STREAM)
            .iter()
            .filter(|(id, r)| before.stream(STREAM).get(*id) != Some(*r))
            .map(|(id, _)| id)
            .collect();
        assert!((3..=4).contains(&changed.len()), "{changed:?}");
        assert!(changed.iter().all(|d| parse_day(d).unwrap() > today - SETTLING_DAYS));
    }
}
