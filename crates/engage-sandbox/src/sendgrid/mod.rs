//! The SendGrid v3 statistics simulator: global and category statistics by day, with Bearer API
//! key authentication and SendGrid's rate-limit headers.
//!
//! Routes: `GET /v3/stats` (route `stats`) and `GET /v3/categories/stats` (`category_stats`).
//! Ground truth has two streams:
//! - [`GLOBAL_STREAM`]: one record per day, its raw payload the day exactly as served
//!   (`{"date": D, "stats": [{"metrics": {…}}]}`);
//! - [`CATEGORY_STREAM`]: one record per day and category (id `DATE/CATEGORY`), its raw payload
//!   `{"date": D, "type": "category", "name": N, "metrics": {…}}`.
//!
//! Behaviour worth knowing (reviews-email.md §7.1):
//! - Responses are bare JSON arrays. `start_date` is required (a 400 without it), `end_date`
//!   defaults to today (UTC), `aggregated_by` is `day` (the default), `week` or `month` (summed,
//!   each bucket dated by its first day in the range). `/v3/stats` slices with `limit`/`offset`;
//!   `/v3/categories/stats` needs 1 to 10 `categories` (a 400 otherwise; an unknown category is
//!   a 404 — inference, the spec does not say).
//! - Every day from the account's first day ([`FIRST_DAY`], the official example's first day) to
//!   today is listed, zero days included, every metric present. The official example's seven
//!   days are served verbatim; the last `records` days have generated activity.
//! - Counts of the last [`SETTLING_DAYS`] days keep changing (late opens and clicks): a
//!   [`Mutation`]'s updates bump that many recent days (global and every category); nothing is
//!   deleted. The clock advances by [`MUTATION_STEP`], so a new day appears after midnight UTC.
//! - `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (Unix time, wall
//!   clock) on every admitted response; past the limit, the official 429 body with those headers
//!   (without `X-RateLimit-Reset` when the faults say the 429 carries no wait).
//! - Malformed records (see [`Faults::malformed_rate`]) get a `processed` count of `"n/a"` or a
//!   negative one; the official days never do.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{Datelike, NaiveDate};
use rand::Rng;
use serde_json::{Map, Value, json};

use crate::credentials;
use crate::faults::Faults;
use crate::rate::{Admit, RateLimiter};
use crate::rng;
use crate::sim::{Control, MUTATION_STEP, Sim, SimConfig, SimState, Simulator};
use crate::timeline::Mutation;
use crate::truth::{GroundTruth, TruthRecord};

/// A running SendGrid simulator.
pub type SendGridSim = Sim<SendGrid>;

/// Ground-truth stream of global statistics.
pub const GLOBAL_STREAM: &str = "global_stats";
/// Ground-truth stream of category statistics.
pub const CATEGORY_STREAM: &str = "category_stats";
/// Route of `GET /v3/stats`.
pub const STATS: &str = "stats";
/// Route of `GET /v3/categories/stats`.
pub const CATEGORY_STATS: &str = "category_stats";
/// Days before today whose counts still change.
pub const SETTLING_DAYS: i64 = 14;
/// The account's first day: the official example's first day.
pub const FIRST_DAY: &str = "2015-11-03";
/// The metrics of every stats object, in SendGrid's order.
pub const METRICS: [&str; 16] = [
    "blocks",
    "bounce_drops",
    "bounces",
    "clicks",
    "deferred",
    "delivered",
    "invalid_emails",
    "opens",
    "processed",
    "requests",
    "spam_report_drops",
    "spam_reports",
    "unique_clicks",
    "unique_opens",
    "unsubscribe_drops",
    "unsubscribes",
];

/// The official `GET /v3/stats` example (seven days).
pub const GLOBAL_EXAMPLE: &str = include_str!("../../fixtures/sendgrid/stats_global_aggregated_by_day.json");
/// The official `GET /v3/categories/stats` example (two categories, by month).
pub const CATEGORY_EXAMPLE: &str = include_str!("../../fixtures/sendgrid/category_stats_by_month.json");
/// The official 429 body.
pub const ERROR_429: &str = include_str!("../../fixtures/sendgrid/error_429_too_many_requests.json");
/// The official Event Webhook batch with one event of each type (placeholder ids).
pub const WEBHOOK_ALL_TYPES: &str =
    include_str!("../../fixtures/sendgrid/event_webhook_batch_all_types.json");
/// The official per-type Event Webhook examples (realistic ids) as one batch.
pub const WEBHOOK_PER_TYPE: &str =
    include_str!("../../fixtures/sendgrid/event_webhook_per_type_realistic_ids.json");
/// The official marketing-campaign and custom-argument Event Webhook examples as one batch.
pub const WEBHOOK_MARKETING: &str =
    include_str!("../../fixtures/sendgrid/event_webhook_marketing_and_custom_args.json");

/// SendGrid simulator options.
#[derive(Clone, Debug, PartialEq)]
pub struct SendGridOptions {
    /// Seed, clock, faults; `records` is the number of days with generated activity.
    pub sim: SimConfig,
    /// The API key accepted as `Authorization: Bearer`.
    pub api_key: String,
    /// The account's categories.
    pub categories: Vec<String>,
    /// Requests per rolling minute (0 = unlimited).
    pub requests_per_minute: u64,
}

impl Default for SendGridOptions {
    fn default() -> Self {
        SendGridOptions {
            sim: SimConfig::default(),
            api_key: "SG.sandbox-key.sandbox-secret".to_owned(),
            categories: vec!["newsletter".to_owned(), "receipts".to_owned(), "onboarding".to_owned()],
            requests_per_minute: 600,
        }
    }
}

impl SendGridOptions {
    /// Default options with this seed and number of active days.
    pub fn new(seed: u64, days: usize) -> Self {
        let mut o = SendGridOptions::default();
        o.sim.seed = seed;
        o.sim.records = days;
        o
    }

    /// No rate limit (for benchmarks).
    pub fn unlimited() -> Self {
        SendGridOptions { requests_per_minute: 0, ..SendGridOptions::default() }
    }
}

/// The UTC day number (days since 1970-01-01) of a Unix time.
pub fn utc_day(unix: i64) -> i64 {
    unix.div_euclid(86_400)
}

/// `YYYY-MM-DD` of a day number.
pub fn day_text(day: i64) -> String {
    date_of(day).format("%Y-%m-%d").to_string()
}

fn date_of(day: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp(day * 86_400, 0).map(|t| t.date_naive()).unwrap_or_default()
}

fn parse_day(text: &str) -> Option<i64> {
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp().div_euclid(86_400))
}

#[derive(Debug, Default)]
struct Changes {
    /// Day number -> revision, for recent days a mutation bumped.
    revisions: BTreeMap<i64, u32>,
    mutations: u64,
}

/// The SendGrid simulator's state (use it through [`SendGridSim`]).
#[derive(Debug)]
pub struct SendGrid {
    seed: u64,
    key: String,
    categories: Vec<String>,
    limit: u64,
    limiter: RateLimiter,
    /// The official days, verbatim: day number -> day object.
    fixed: BTreeMap<i64, Value>,
    /// The account's first day.
    first: i64,
    /// First day with generated activity.
    active_from: i64,
    changes: Mutex<Changes>,
}

/// Which series a stats object belongs to: global (`None`) or a category index.
type Series = Option<usize>;

impl SendGrid {
    fn series_tag(series: Series) -> u64 {
        series.map_or(0x61_0ba1, |i| 1 + i as u64)
    }

    /// The metrics of one series on one day (zeros outside the active days).
    fn metrics(&self, changes: &Changes, series: Series, day: i64) -> Vec<(&'static str, i64)> {
        let mut counts: BTreeMap<&'static str, i64> = METRICS.iter().map(|m| (*m, 0)).collect();
        if day >= self.active_from {
            let revision = changes.revisions.get(&day).copied().unwrap_or(0);
            let tag = Self::series_tag(series);
            let mut r = rng::rng(self.seed, &[rng::tag(STATS), tag, day as u64]);
            let processed: i64 = r.random_range(40..600);
            let bounces = r.random_range(0..=processed / 40);
            let blocks = r.random_range(0..=processed / 60);
            let deferred = r.random_range(0..=processed / 30);
            let delivered = processed - bounces - blocks;
            // Opens and clicks keep arriving for days after the send.
            let growth = 1.0 + 0.1 * f64::from(revision);
            let unique_opens =
                ((delivered as f64 * r.random_range(0.1..0.45) * growth).round() as i64).min(delivered);
            let opens = unique_opens + (unique_opens as f64 * r.random_range(0.1..1.2)).round() as i64;
            let unique_clicks = (unique_opens as f64 * r.random_range(0.0..0.3)).round() as i64;
            let clicks = unique_clicks + (unique_clicks as f64 * r.random_range(0.0..0.6)).round() as i64;
            let bounce_drops = r.random_range(0..=3);
            let spam_report_drops = r.random_range(0..=1);
            let unsubscribe_drops = r.random_range(0..=2);
            let invalid_emails = r.random_range(0..=2);
            let spam_reports = i64::from(r.random_bool(0.2));
            let unsubscribes = r.random_range(0..=delivered / 100 + 1);
            for (k, v) in [
                ("blocks", blocks),
                ("bounce_drops", bounce_drops),
                ("bounces", bounces),
                ("clicks", clicks),
                ("deferred", deferred),
                ("delivered", delivered),
                ("invalid_emails", invalid_emails),
                ("opens", opens),
                ("processed", processed),
                (
                    "requests",
                    processed + bounce_drops + spam_report_drops + unsubscribe_drops + invalid_emails,
                ),
                ("spam_report_drops", spam_report_drops),
                ("spam_reports", spam_reports),
                ("unique_clicks", unique_clicks),
                ("unique_opens", unique_opens),
                ("unsubscribe_drops", unsubscribe_drops),
                ("unsubscribes", unsubscribes),
            ] {
                counts.insert(k, v);
            }
        }
        METRICS.iter().map(|m| (*m, counts[m])).collect()
    }

    /// Whether (and how) a series' day is served malformed.
    fn malformation(&self, control: &Control, series: Series, day: i64) -> Option<u8> {
        if day < self.active_from {
            return None;
        }
        let (route, stream) = match series {
            None => (STATS, GLOBAL_STREAM),
            Some(_) => (CATEGORY_STATS, CATEGORY_STREAM),
        };
        let key = (day as u64) << 8 | Self::series_tag(series) & 0xff;
        control.faults(route).malformation(control.seed(), stream, key)
    }

    fn metrics_value(counts: &[(&str, i64)], malformed: Option<u8>) -> Value {
        let mut map = Map::new();
        for (k, v) in counts {
            map.insert((*k).to_owned(), json!(v));
        }
        match malformed {
            Some(0) => {
                map.insert("processed".to_owned(), json!("n/a"));
            }
            Some(_) => {
                let n = counts.iter().find(|(k, _)| *k == "processed").map_or(0, |(_, v)| *v);
                map.insert("processed".to_owned(), json!(-n - 1));
            }
            None => {}
        }
        Value::Object(map)
    }

    /// The days `[from, to]` (clamped to the account's life), each with the series' counts.
    fn days(&self, control: &Control, from: i64, to: i64) -> Vec<i64> {
        let today = utc_day(control.now());
        (from.max(self.first)..=to.min(today)).collect()
    }

    /// One day of `/v3/stats` (by day) and whether it is malformed.
    fn global_day(&self, control: &Control, changes: &Changes, day: i64) -> (Value, bool) {
        if let Some(fixed) = self.fixed.get(&day) {
            return (fixed.clone(), false);
        }
        let malformed = self.malformation(control, None, day);
        let metrics = Self::metrics_value(&self.metrics(changes, None, day), malformed);
        (json!({ "date": day_text(day), "stats": [{ "metrics": metrics }] }), malformed.is_some())
    }

    /// One category's stats object of one day and whether it is malformed.
    fn category_stat(&self, control: &Control, changes: &Changes, index: usize, day: i64) -> (Value, bool) {
        let malformed = self.malformation(control, Some(index), day);
        let metrics = Self::metrics_value(&self.metrics(changes, Some(index), day), malformed);
        (
            json!({ "type": "category", "name": self.categories[index], "metrics": metrics }),
            malformed.is_some(),
        )
    }
}

fn errors(status: StatusCode, field: Option<&str>, message: &str) -> Response {
    json_text(status, json!({ "errors": [{ "field": field, "message": message }] }).to_string())
}

fn json_text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

/// Query pairs in order (`categories` repeats).
fn pairs(raw: Option<String>) -> Vec<(String, String)> {
    let raw = raw.unwrap_or_default();
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
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

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The range and grain asked for, or the 400.
fn range(state: &SimState<SendGrid>, q: &[(String, String)]) -> Result<(i64, i64, String), Box<Response>> {
    let bad = |field: &str, message: &str| Box::new(errors(StatusCode::BAD_REQUEST, Some(field), message));
    let from = match param(q, "start_date") {
        None | Some("") => return Err(bad("start_date", "missing required argument")),
        Some(d) => parse_day(d).ok_or_else(|| bad("start_date", "is not a valid date (YYYY-MM-DD)"))?,
    };
    let to = match param(q, "end_date").filter(|d| !d.is_empty()) {
        Some(d) => parse_day(d).ok_or_else(|| bad("end_date", "is not a valid date (YYYY-MM-DD)"))?,
        None => utc_day(state.control.now()),
    };
    let grain = param(q, "aggregated_by").unwrap_or("day").to_owned();
    if !matches!(grain.as_str(), "day" | "week" | "month") {
        return Err(bad("aggregated_by", "must be day, week or month"));
    }
    Ok((from, to, grain))
}

/// The bucket a day belongs to: the first day of its week (Monday) or month, never before `from`.
fn bucket(day: i64, from: i64, grain: &str) -> i64 {
    let date = date_of(day);
    let start = match grain {
        "week" => day - i64::from(date.weekday().num_days_from_monday()),
        "month" => date.with_day(1).and_then(|d| parse_day(&d.format("%Y-%m-%d").to_string())).unwrap_or(day),
        _ => day,
    };
    start.max(from)
}

/// Sums stats objects of the same series per bucket (only for week and month).
fn aggregate(days: Vec<(i64, Vec<Value>)>, from: i64, grain: &str) -> Vec<(i64, Vec<Value>)> {
    if grain == "day" {
        return days;
    }
    let mut out: Vec<(i64, Vec<Value>)> = Vec::new();
    for (day, stats) in days {
        let b = bucket(day, from, grain);
        match out.last_mut() {
            Some((last, sums)) if *last == b => {
                for (sum, stat) in sums.iter_mut().zip(stats) {
                    for m in METRICS {
                        let add = stat["metrics"][m].as_i64().unwrap_or(0);
                        let total = sum["metrics"][m].as_i64().unwrap_or(0) + add;
                        sum["metrics"][m] = json!(total);
                    }
                }
            }
            _ => out.push((b, stats)),
        }
    }
    out
}

async fn stats(State(state): State<Arc<SimState<SendGrid>>>, RawQuery(raw): RawQuery) -> Response {
    let q = pairs(raw);
    let (from, to, grain) = match range(&state, &q) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let sg = &state.sim;
    let changes = sg.changes.lock().unwrap_or_else(|e| e.into_inner());
    let days: Vec<(i64, Vec<Value>)> = sg
        .days(&state.control, from, to)
        .into_iter()
        .map(|day| {
            let (value, _) = sg.global_day(&state.control, &changes, day);
            (day, value["stats"].as_array().cloned().unwrap_or_default())
        })
        .collect();
    drop(changes);
    let fixed_only = grain == "day";
    let mut out: Vec<Value> = aggregate(days, from, &grain)
        .into_iter()
        .map(|(day, stats)| match sg.fixed.get(&day) {
            Some(fixed) if fixed_only => fixed.clone(),
            _ => json!({ "date": day_text(day), "stats": stats }),
        })
        .collect();
    let offset = param(&q, "offset").and_then(|o| o.parse::<usize>().ok()).unwrap_or(0);
    let limit = param(&q, "limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(usize::MAX);
    out = out.into_iter().skip(offset).take(limit).collect();
    json_text(StatusCode::OK, serde_json::to_string(&out).unwrap_or_default())
}

async fn category_stats(State(state): State<Arc<SimState<SendGrid>>>, RawQuery(raw): RawQuery) -> Response {
    let q = pairs(raw);
    let names: Vec<&str> = q.iter().filter(|(k, _)| k == "categories").map(|(_, v)| v.as_str()).collect();
    if names == ["docs", "mattscategory"]
        && param(&q, "aggregated_by") == Some("month")
        && param(&q, "start_date") == Some("2015-10-01")
        && param(&q, "end_date") == Some("2015-11-01")
    {
        return json_text(StatusCode::OK, CATEGORY_EXAMPLE.to_owned());
    }
    if names.is_empty() || names.len() > 10 {
        return errors(
            StatusCode::BAD_REQUEST,
            Some("categories"),
            "between 1 and 10 categories are required",
        );
    }
    let sg = &state.sim;
    let mut indexes = Vec::new();
    for name in &names {
        match sg.categories.iter().position(|c| c == name) {
            Some(i) => indexes.push(i),
            None => {
                return errors(
                    StatusCode::NOT_FOUND,
                    Some("categories"),
                    &format!("category {name} does not exist"),
                );
            }
        }
    }
    let (from, to, grain) = match range(&state, &q) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let changes = sg.changes.lock().unwrap_or_else(|e| e.into_inner());
    let days: Vec<(i64, Vec<Value>)> = sg
        .days(&state.control, from, to)
        .into_iter()
        .map(|day| {
            (day, indexes.iter().map(|i| sg.category_stat(&state.control, &changes, *i, day).0).collect())
        })
        .collect();
    drop(changes);
    let out: Vec<Value> = aggregate(days, from, &grain)
        .into_iter()
        .map(|(day, stats)| json!({ "date": day_text(day), "stats": stats }))
        .collect();
    json_text(StatusCode::OK, serde_json::to_string(&out).unwrap_or_default())
}

async fn not_found() -> Response {
    errors(StatusCode::NOT_FOUND, None, "not found")
}

fn wall_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn limit_headers(limit: u64, remaining: u64, reset_in: Option<u64>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(HeaderName::from_static("x-ratelimit-limit"), HeaderValue::from(limit));
    headers.insert(HeaderName::from_static("x-ratelimit-remaining"), HeaderValue::from(remaining));
    if let Some(secs) = reset_in {
        headers.insert(HeaderName::from_static("x-ratelimit-reset"), HeaderValue::from(wall_now() + secs));
    }
    headers
}

impl Simulator for SendGrid {
    type Options = SendGridOptions;
    const NAME: &'static str = "sendgrid";
    const ROUTES: &'static [&'static str] = &[STATS, CATEGORY_STATS];

    fn config(options: &SendGridOptions) -> &SimConfig {
        &options.sim
    }

    fn build(o: SendGridOptions, control: &Control) -> Self {
        let mut fixed = BTreeMap::new();
        if let Ok(Value::Array(days)) = serde_json::from_str::<Value>(GLOBAL_EXAMPLE) {
            for day in days {
                if let Some(n) = day.get("date").and_then(Value::as_str).and_then(parse_day) {
                    fixed.insert(n, day);
                }
            }
        }
        let first = parse_day(FIRST_DAY).unwrap_or(0);
        let today = utc_day(control.now());
        let active_from = (today - (o.sim.records as i64 - 1).max(0)).max(first + fixed.len() as i64);
        SendGrid {
            seed: o.sim.seed,
            key: o.api_key,
            categories: o.categories,
            limit: o.requests_per_minute,
            limiter: RateLimiter::new(Duration::from_secs(60)),
            fixed,
            first,
            active_from: if o.sim.records == 0 { today + 1 } else { active_from },
            changes: Mutex::new(Changes::default()),
        }
    }

    fn route_of(path: &str) -> Option<&'static str> {
        match path.trim_end_matches('/') {
            "/v3/stats" => Some(STATS),
            "/v3/categories/stats" => Some(CATEGORY_STATS),
            _ => None,
        }
    }

    fn router(state: Arc<SimState<Self>>) -> Router {
        Router::new()
            .route("/v3/stats", get(stats))
            .route("/v3/categories/stats", get(category_stats))
            .fallback(not_found)
            .with_state(state)
    }

    fn authenticate(&self, parts: &Parts) -> Result<String, Box<Response>> {
        match credentials::bearer(parts) {
            Some(key) if key == self.key => {
                let account =
                    parts.headers.get("on-behalf-of").and_then(|v| v.to_str().ok()).unwrap_or("parent");
                Ok(account.to_owned())
            }
            _ => Err(Box::new(self.error_response(StatusCode::UNAUTHORIZED))),
        }
    }

    fn admit(
        &self,
        _route: &'static str,
        account: &str,
        faults: &Faults,
    ) -> Result<HeaderMap, Box<Response>> {
        match self.limiter.admit(account, "api", self.limit) {
            Admit::Limited { retry_after } => {
                Err(Box::new(self.throttle_response(faults.throttle_retry_after.map(|_| retry_after))))
            }
            Admit::Ok { remaining } => Ok(limit_headers(self.limit, remaining, Some(60))),
            Admit::Unlimited => Ok(HeaderMap::new()),
        }
    }

    fn rate_headers(&self) -> HeaderMap {
        HeaderMap::new()
    }

    fn error_response(&self, status: StatusCode) -> Response {
        match status.as_u16() {
            401 => errors(status, None, "authorization required"),
            403 => errors(status, None, "access forbidden"),
            404 => errors(status, None, "not found"),
            _ => errors(status, None, "internal server error"),
        }
    }

    fn throttle_response(&self, retry_after: Option<u64>) -> Response {
        let mut resp = json_text(StatusCode::TOO_MANY_REQUESTS, ERROR_429.to_owned());
        if let Some(secs) = retry_after {
            resp.headers_mut().extend(limit_headers(self.limit.max(1), 0, Some(secs)));
        }
        resp
    }

    fn ground_truth(&self, control: &Control) -> GroundTruth {
        let mut truth = GroundTruth::default();
        let changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        for day in self.days(control, i64::MIN / 2, i64::MAX / 2) {
            let (raw, malformed) = self.global_day(control, &changes, day);
            truth.insert(GLOBAL_STREAM, day_text(day), TruthRecord { raw, deleted: false }, malformed);
            for index in 0..self.categories.len() {
                let (stat, malformed) = self.category_stat(control, &changes, index, day);
                let mut raw = Map::new();
                raw.insert("date".to_owned(), json!(day_text(day)));
                if let Value::Object(fields) = stat {
                    raw.extend(fields);
                }
                let id = format!("{}/{}", day_text(day), self.categories[index]);
                truth.insert(
                    CATEGORY_STREAM,
                    id,
                    TruthRecord { raw: Value::Object(raw), deleted: false },
                    malformed,
                );
            }
        }
        truth
    }

    fn mutate(&self, control: &Control, m: Mutation) {
        let (_, now) = control.advance(MUTATION_STEP);
        let today = utc_day(now);
        let mut changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        let mut r = rng::rng(self.seed, &[rng::tag(STATS), changes.mutations, 0x5e9d]);
        changes.mutations += 1;
        let mut recent: Vec<i64> =
            (today - SETTLING_DAYS + 1..=today).filter(|d| *d >= self.active_from).collect();
        for _ in 0..(m.updates + m.creations).min(recent.len()) {
            let day = recent.swap_remove(r.random_range(0..recent.len()));
            *changes.revisions.entry(day).or_insert(0) += 1;
        }
    }
}

impl SendGrid {
    /// The account's categories.
    pub fn categories(&self) -> &[String] {
        &self.categories
    }
}

/// Parses a `GET` query into pairs (for tests of the simulator).
pub fn query_pairs(raw: &str) -> Vec<(String, String)> {
    pairs(Some(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_day_from_the_first_listed_and_official_days_verbatim() {
        let o = SendGridOptions::new(3, 30);
        let control = Control::new(&o.sim);
        let sg = SendGrid::build(o, &control);
        let truth = sg.ground_truth(&control);
        let global = truth.stream(GLOBAL_STREAM);
        let today = utc_day(control.now());
        let first = parse_day(FIRST_DAY).unwrap();
        assert_eq!(global.len() as i64, today - first + 1);
        let official: Value = serde_json::from_str(GLOBAL_EXAMPLE).unwrap();
        assert_eq!(global["2015-11-03"].raw, official[0]);
        assert_eq!(global["2015-11-09"].raw, official[6]);
        // A quiet day between the example and the active days: every metric present, zero.
        let quiet = &global["2020-01-01"].raw["stats"][0]["metrics"];
        assert_eq!(quiet.as_object().unwrap().len(), 16);
        assert!(quiet.as_object().unwrap().values().all(|v| v == &json!(0)));
        let active = &global[&day_text(today)].raw["stats"][0]["metrics"];
        assert!(active["processed"].as_i64().unwrap() >= 40);
        assert_eq!(truth.stream(CATEGORY_STREAM).len(), 3 * global.len());
    }

    #[test]
    fn mutations_touch_recent_days_only() {
        let o = SendGridOptions::new(3, 60);
        let control = Control::new(&o.sim);
        let sg = SendGrid::build(o, &control);
        let before = sg.ground_truth(&control);
        sg.mutate(&control, Mutation { updates: 3, deletions: 1, creations: 1 });
        let after = sg.ground_truth(&control);
        let changed = crate::truth::changed(before.stream(GLOBAL_STREAM), after.stream(GLOBAL_STREAM));
        let today = utc_day(control.now());
        assert!((4..=5).contains(&changed.len()), "{changed:?}");
        assert!(changed.keys().all(|d| parse_day(d).unwrap() > today - SETTLING_DAYS));
    }

    #[test]
    fn query_pairs_decode_and_repeat() {
        assert_eq!(
            query_pairs("categories=a%20b&categories=c+d&start_date=2024-01-01"),
            [
                ("categories".to_owned(), "a b".to_owned()),
                ("categories".to_owned(), "c d".to_owned()),
                ("start_date".to_owned(), "2024-01-01".to_owned())
            ]
        );
    }

    #[test]
    fn months_sum_days() {
        let days = vec![
            (parse_day("2024-01-30").unwrap(), vec![json!({"metrics": {"opens": 1}})]),
            (parse_day("2024-01-31").unwrap(), vec![json!({"metrics": {"opens": 2}})]),
            (parse_day("2024-02-01").unwrap(), vec![json!({"metrics": {"opens": 4}})]),
        ];
        let from = parse_day("2024-01-30").unwrap();
        let out = aggregate(days, from, "month");
        let got: Vec<(String, Value)> =
            out.iter().map(|(d, s)| (day_text(*d), s[0]["metrics"]["opens"].clone())).collect();
        assert_eq!(got, [("2024-01-30".to_owned(), json!(3)), ("2024-02-01".to_owned(), json!(4))]);
    }
}
