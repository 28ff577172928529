//! The Yelp Fusion simulator: `GET /v3/businesses/{id}/reviews` with Bearer API key auth, the
//! plan's cap on returned reviews, zone-less local times, and both of Yelp's 429s.
//!
//! Route: `reviews` (also the ground-truth stream name).
//!
//! Behaviour worth knowing (reviews-email.md §2):
//! - `sort_by` `yelp_sort` (default: Yelp's own order, here stars then newest) or `newest`;
//!   `offset`, `limit` (1–50, default 20; more is a 400 `VALIDATION_ERROR`), `locale`.
//! - The base plan returns at most 3 reviews ([`YelpOptions::review_cap`]): the first three of
//!   the order, whatever `offset` and `limit` ask; `total` is Yelp's count of every review.
//!   With the cap, [`Simulator::ground_truth`] is every review ever shown and the ones a
//!   `sort_by=newest` request shows now, because nothing else can be known.
//! - `text` is an excerpt: cut after 160 characters, ending in `...`.
//! - `time_created` is `YYYY-MM-DD HH:MM:SS` in the business's zone, without saying which
//!   ([`YelpOptions::time_zone`]).
//! - There are no owner replies and no deletions; a [`Mutation`] creates reviews and edits recent
//!   ones (new excerpt and stars, same `time_created`).
//! - Queries per second over [`YelpOptions::qps`]: 429 `TOO_MANY_REQUESTS_PER_SECOND`. Over the
//!   daily quota ([`YelpOptions::daily_limit`]): 429 `ACCESS_LIMIT_REACHED` until midnight UTC
//!   by the simulator clock. Both bodies are the documented ones; responses carry
//!   `RateLimit-DailyLimit`, `RateLimit-Remaining` and `RateLimit-ResetTime`.
//! - The first business is the documentation's example (`la-palma-mexicatessen-san-francisco`):
//!   its three reviews are served verbatim, as its oldest.
//! - Malformed records (see [`Faults::malformed_rate`]) get `"rating": 0` or
//!   `"time_created": "2016-13-45 99:99:99"`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::TimeZone;
use chrono_tz::Tz;
use serde_json::{Value, json};

use crate::credentials::bearer;
use crate::faults::Faults;
use crate::rate::{Admit, RateLimiter};
use crate::review_sites::{self, Item, Rules};
use crate::rng;
use crate::sim::{Control, MUTATION_STEP, Sim, SimConfig, SimState, Simulator};
use crate::timeline::Mutation;
use crate::truth::{GroundTruth, TruthRecord};

/// A running Yelp simulator.
pub type YelpSim = Sim<Yelp>;

/// Route (and stream) of reviews.
pub const REVIEWS: &str = "reviews";
/// The documentation example's business.
pub const EXAMPLE_BUSINESS: &str = "la-palma-mexicatessen-san-francisco";
/// Largest `limit`.
pub const MAX_LIMIT: usize = 50;

/// The documentation's example response.
pub const EXAMPLE: &str = include_str!("../../fixtures/yelp/business_reviews_docs_example.json");
/// The 429 over the queries-per-second limit.
pub const ERROR_429_QPS: &str = include_str!("../../fixtures/yelp/error_429_qps.json");
/// The 429 over the daily quota.
pub const ERROR_429_DAILY: &str = include_str!("../../fixtures/yelp/error_429_daily_limit.json");

const JSON: &str = "application/json";
const SITE: &str = "yelp";

/// Simulator options. `Default`: the base plan (3 reviews), two businesses, the example's
/// San Francisco zone.
#[derive(Clone, Debug, PartialEq)]
pub struct YelpOptions {
    /// Seed, review count (over the generated businesses), clock, faults.
    pub sim: SimConfig,
    /// Generated businesses (besides the example's).
    pub businesses: usize,
    /// The API key accepted.
    pub api_key: String,
    /// Reviews returned per business at most (`None`: a plan without a cap).
    pub review_cap: Option<usize>,
    /// The businesses' time zone (IANA).
    pub time_zone: String,
    /// Requests per second (0 = unlimited).
    pub qps: u64,
    /// Requests per UTC day (0 = unlimited).
    pub daily_limit: u64,
}

impl Default for YelpOptions {
    fn default() -> Self {
        YelpOptions {
            sim: SimConfig::default(),
            businesses: 1,
            api_key: "sandbox-yelp-api-key".to_owned(),
            review_cap: Some(3),
            time_zone: "America/Los_Angeles".to_owned(),
            qps: 50,
            daily_limit: 5_000,
        }
    }
}

impl YelpOptions {
    /// Default options with this seed and review count.
    pub fn new(seed: u64, records: usize) -> Self {
        let mut o = YelpOptions::default();
        o.sim.seed = seed;
        o.sim.records = records;
        o
    }

    /// No limits and no cap (for benchmarks).
    pub fn unlimited() -> Self {
        YelpOptions { qps: 0, daily_limit: 0, review_cap: None, ..YelpOptions::default() }
    }
}

/// The requests counted against the daily quota: the UTC day (days since the epoch) and the
/// count.
#[derive(Debug, Default)]
struct Daily {
    day: i64,
    used: u64,
}

/// The Yelp simulator's state (use it through [`YelpSim`]).
pub struct Yelp {
    seed: u64,
    site: u64,
    businesses: Vec<String>,
    fixtures: Vec<Value>,
    items: RwLock<Vec<Item>>,
    /// Every review shown so far: the last version served, and whether it was malformed.
    shown: Mutex<BTreeMap<usize, (Value, bool)>>,
    mutations: Mutex<u64>,
    tz: Tz,
    cap: Option<usize>,
    api_key: String,
    qps: u64,
    daily_limit: u64,
    per_second: RateLimiter,
    daily: Mutex<Daily>,
    /// The simulator clock, for the daily quota (mirrors `Control`'s).
    clock: Arc<std::sync::atomic::AtomicI64>,
}

impl std::fmt::Debug for Yelp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Yelp").field("businesses", &self.businesses).finish_non_exhaustive()
    }
}

/// Cuts `text` after `limit` characters and ends it in `...`, as Yelp's excerpts do; shorter
/// texts are kept whole.
fn excerpt(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        Some((cut, _)) => format!("{}...", text[..cut].trim_end()),
        None => text.to_owned(),
    }
}

/// The business aliases of a simulator with `generated` generated businesses: the example's
/// first, then aliases that depend on nothing but their position.
pub fn business_ids(generated: usize) -> Vec<String> {
    let mut ids = vec![EXAMPLE_BUSINESS.to_owned()];
    ids.extend((1..=generated.max(1)).map(|k| format!("sandbox-bistro-{k}")));
    ids
}

impl Yelp {
    /// Business ids (aliases), the example's first.
    pub fn businesses(&self) -> &[String] {
        &self.businesses
    }

    /// The businesses' time zone.
    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Item>> {
        self.items.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Item>> {
        self.items.write().unwrap_or_else(|e| e.into_inner())
    }

    fn review_id(&self, item: &Item) -> String {
        match item.fixture.and_then(|f| self.fixtures.get(f)) {
            Some(doc) => doc["id"].as_str().unwrap_or_default().to_owned(),
            None => review_sites::id(self.seed, self.site, item.index, review_sites::URL_SAFE, 22),
        }
    }

    /// Ids of every review shown so far (in any response).
    pub fn shown(&self) -> BTreeSet<String> {
        let items = self.read();
        let shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        shown.keys().filter_map(|&i| items.get(i)).map(|i| self.review_id(i)).collect()
    }

    /// Ids of every review, with its language.
    pub fn languages(&self) -> BTreeMap<String, &'static str> {
        self.read().iter().map(|i| (self.review_id(i), i.lang.code)).collect()
    }

    /// Number of reviews (shown or not).
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether there are no reviews at all.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// A new review in language `code` for business `business`, now; its index.
    pub fn add(&self, control: &Control, business: usize, code: &str, stars: u8) -> Option<usize> {
        review_sites::add(
            &mut self.write(),
            business.min(self.businesses.len() - 1),
            code,
            stars,
            control.now(),
        )
    }

    /// Forgets the requests counted against the limits.
    pub fn reset_rate_limits(&self) {
        self.per_second.reset();
        *self.daily.lock().unwrap_or_else(|e| e.into_inner()) = Daily::default();
    }

    fn local(&self, t: i64) -> String {
        match self.tz.timestamp_opt(t, 0) {
            chrono::LocalResult::Single(at) | chrono::LocalResult::Ambiguous(at, _) => {
                at.format("%Y-%m-%d %H:%M:%S").to_string()
            }
            chrono::LocalResult::None => String::new(),
        }
    }

    fn doc(&self, item: &Item, malformed: Option<u8>) -> Value {
        if let Some(doc) = item.fixture.and_then(|f| self.fixtures.get(f)) {
            return doc.clone();
        }
        let (seed, site) = (self.seed, self.site);
        let id = self.review_id(item);
        let user = review_sites::id(seed, site ^ 0x05e7, item.index, review_sites::URL_SAFE, 22);
        let (name, _) = review_sites::author(seed, site, item);
        let short = match name.split_once(' ') {
            Some((first, last)) => format!("{first} {}.", last.chars().next().unwrap_or('X')),
            None => name.to_owned(),
        };
        let image = if rng::hash(seed, &[site, item.index, 0x1ae]).is_multiple_of(3) {
            Value::Null
        } else {
            json!(format!("https://s3-media3.fl.yelpcdn.com/photo/{user}/o.jpg"))
        };
        let business = self.businesses.get(item.group).map_or("", String::as_str);
        let hrid = review_sites::id(seed, site ^ 0x4121, item.index, review_sites::URL_SAFE, 22);
        json!({
            "id": id,
            "rating": if malformed == Some(0) { 0 } else { item.rating },
            "user": {
                "id": user,
                "profile_url": format!("https://www.yelp.com/user_details?userid={user}"),
                "image_url": image,
                "name": short,
            },
            "text": excerpt(&review_sites::body(seed, site, item), 160),
            "time_created": if malformed == Some(1) { "2016-13-45 99:99:99".to_owned() } else { self.local(item.created) },
            "url": format!(
                "https://www.yelp.com/biz/{business}?hrid={hrid}&adjust_creative=sandbox&utm_campaign=yelp_api_v3&utm_medium=api_v3_business_reviews&utm_source=sandbox"
            ),
        })
    }

    fn malformation(&self, control: &Control, item: &Item) -> Option<u8> {
        if item.fixture.is_some() {
            return None;
        }
        control.faults(REVIEWS).malformation(control.seed(), REVIEWS, item.index).map(|m| m % 2)
    }

    /// Seconds to the next midnight UTC by the simulator clock.
    fn to_midnight(&self) -> i64 {
        let now = self.clock.load(std::sync::atomic::Ordering::SeqCst);
        (now.div_euclid(review_sites::DAY) + 1) * review_sites::DAY - now
    }

    fn quota_headers(&self, remaining: u64) -> HeaderMap {
        let mut h = HeaderMap::new();
        if self.daily_limit > 0 {
            let now = self.clock.load(std::sync::atomic::Ordering::SeqCst);
            let reset = review_sites::rfc3339(now + self.to_midnight(), "");
            h.insert("ratelimit-dailylimit", HeaderValue::from(self.daily_limit));
            h.insert("ratelimit-remaining", HeaderValue::from(remaining));
            if let Ok(v) = HeaderValue::from_str(&reset) {
                h.insert("ratelimit-resettime", v);
            }
        }
        h
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

fn yelp_error(status: StatusCode, code: &str, description: &str) -> Response {
    json_response(status, &json!({ "error": { "code": code, "description": description } }))
}

fn raw_body(status: StatusCode, body: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(JSON))], body).into_response()
}

async fn reviews(
    State(state): State<Arc<SimState<Yelp>>>,
    Path(business): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let yelp = &state.sim;
    let control = &state.control;
    let Some(group) = yelp.businesses.iter().position(|b| *b == business) else {
        return yelp_error(
            StatusCode::NOT_FOUND,
            "BUSINESS_NOT_FOUND",
            "The requested business could not be found.",
        );
    };
    let number = |key: &str, default: usize| match q.get(key) {
        None => Some(default),
        Some(v) => v.parse::<usize>().ok(),
    };
    let (offset, limit) = match (number("offset", 0), number("limit", 20)) {
        (Some(o), Some(l)) if (1..=MAX_LIMIT).contains(&l) => (o, l),
        _ => {
            return yelp_error(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                "limit must be between 1 and 50 and offset a non-negative number",
            );
        }
    };
    let newest = match q.get("sort_by").map(String::as_str) {
        None | Some("yelp_sort") => false,
        Some("newest") => true,
        Some(other) => {
            return yelp_error(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                &format!("'{other}' is not one of ['yelp_sort', 'newest']"),
            );
        }
    };
    let items = yelp.read();
    let mut listed: Vec<&Item> = items.iter().filter(|i| i.visible() && i.group == group).collect();
    if newest {
        listed.sort_by_key(|i| std::cmp::Reverse((i.created, i.index)));
    } else {
        listed.sort_by_key(|i| std::cmp::Reverse((i.rating, i.created, i.index)));
    }
    let total = listed.len();
    let reachable = yelp.cap.map_or(total, |cap| cap.min(total));
    let page: Vec<&Item> = listed.into_iter().take(reachable).skip(offset).take(limit).collect();
    let mut docs = Vec::with_capacity(page.len());
    {
        let mut shown = yelp.shown.lock().unwrap_or_else(|e| e.into_inner());
        for item in &page {
            let malformed = yelp.malformation(control, item);
            let doc = yelp.doc(item, malformed);
            shown.insert(item.index as usize, (doc.clone(), malformed.is_some()));
            docs.push(doc);
        }
    }
    let languages: BTreeSet<&str> = items.iter().filter(|i| i.group == group).map(|i| i.lang.code).collect();
    drop(items);
    json_response(
        StatusCode::OK,
        &json!({ "reviews": docs, "total": total, "possible_languages": languages }),
    )
}

async fn not_found() -> Response {
    yelp_error(StatusCode::NOT_FOUND, "NOT_FOUND", "Resource could not be found.")
}

impl Simulator for Yelp {
    type Options = YelpOptions;
    const NAME: &'static str = "yelp";
    const ROUTES: &'static [&'static str] = &[REVIEWS];

    fn config(options: &YelpOptions) -> &SimConfig {
        &options.sim
    }

    fn build(o: YelpOptions, control: &Control) -> Self {
        let seed = o.sim.seed;
        let site = rng::tag(SITE);
        let businesses = business_ids(o.businesses);
        let tz: Tz = o.time_zone.parse().unwrap_or(chrono_tz::UTC);
        let example: Value = serde_json::from_str(EXAMPLE).unwrap_or(Value::Null);
        let fixtures: Vec<Value> = example["reviews"].as_array().cloned().unwrap_or_default();
        let mut items: Vec<Item> = Vec::new();
        let mut order: Vec<usize> = (0..fixtures.len()).collect();
        let created = |doc: &Value| {
            doc["time_created"]
                .as_str()
                .and_then(|s| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").ok())
                .and_then(|n| tz.from_local_datetime(&n).earliest())
                .map_or(0, |t| t.timestamp())
        };
        order.sort_by_key(|&f| created(&fixtures[f]));
        for f in order {
            let doc = &fixtures[f];
            items.push(Item {
                index: items.len() as u64,
                group: 0,
                lang: crate::text::lang("en").unwrap_or(&crate::text::LANGS[0]),
                rating: doc["rating"].as_u64().unwrap_or(5).clamp(1, 5) as u8,
                created: created(doc),
                updated: created(doc),
                revision: 0,
                reply: None,
                removed: None,
                fixture: Some(f),
            });
        }
        let first = items.len() as u64;
        let generated =
            review_sites::generate(seed, site, o.sim.records, o.businesses.max(1), first, control.now());
        items.extend(generated.into_iter().map(|mut i| {
            i.group += 1;
            i.reply = None;
            i
        }));
        Yelp {
            seed,
            site,
            businesses,
            fixtures,
            items: RwLock::new(items),
            shown: Mutex::new(BTreeMap::new()),
            mutations: Mutex::new(0),
            tz,
            cap: o.review_cap,
            api_key: o.api_key,
            qps: o.qps,
            daily_limit: o.daily_limit,
            per_second: RateLimiter::new(Duration::from_secs(1)),
            daily: Mutex::new(Daily { day: control.now().div_euclid(review_sites::DAY), used: 0 }),
            clock: Arc::new(std::sync::atomic::AtomicI64::new(control.now())),
        }
    }

    fn route_of(path: &str) -> Option<&'static str> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        matches!(parts.as_slice(), ["v3", "businesses", _, "reviews"]).then_some(REVIEWS)
    }

    fn router(state: Arc<SimState<Self>>) -> Router {
        Router::new()
            .route("/v3/businesses/{business}/reviews", get(reviews))
            .fallback(not_found)
            .with_state(state)
    }

    fn authenticate(&self, parts: &Parts) -> Result<String, Box<Response>> {
        match bearer(parts) {
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
        let remaining = {
            let now = self.clock.load(std::sync::atomic::Ordering::SeqCst);
            let mut daily = self.daily.lock().unwrap_or_else(|e| e.into_inner());
            let today = now.div_euclid(review_sites::DAY);
            if daily.day != today {
                *daily = Daily { day: today, used: 0 };
            }
            if self.daily_limit > 0 && daily.used >= self.daily_limit {
                let mut resp = raw_body(StatusCode::TOO_MANY_REQUESTS, ERROR_429_DAILY);
                resp.headers_mut().extend(self.quota_headers(0));
                return Err(Box::new(resp));
            }
            daily.used += 1;
            self.daily_limit.saturating_sub(daily.used)
        };
        match self.per_second.admit(account, "qps", self.qps) {
            Admit::Limited { retry_after } => {
                Err(Box::new(self.throttle_response(faults.throttle_retry_after.map(|_| retry_after))))
            }
            Admit::Ok { .. } | Admit::Unlimited => Ok(self.quota_headers(remaining)),
        }
    }

    fn rate_headers(&self) -> HeaderMap {
        HeaderMap::new()
    }

    fn error_response(&self, status: StatusCode) -> Response {
        match status.as_u16() {
            401 => yelp_error(status, "TOKEN_INVALID", "Invalid access token or authorization header."),
            403 => yelp_error(status, "AUTHORIZATION_ERROR", "Authorization failed for this resource."),
            404 => yelp_error(status, "NOT_FOUND", "Resource could not be found."),
            code if code >= 500 => yelp_error(status, "INTERNAL_ERROR", "Something went wrong internally."),
            _ => yelp_error(status, "VALIDATION_ERROR", status.canonical_reason().unwrap_or("Error")),
        }
    }

    fn throttle_response(&self, retry_after: Option<u64>) -> Response {
        let mut resp = raw_body(StatusCode::TOO_MANY_REQUESTS, ERROR_429_QPS);
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }

    fn ground_truth(&self, control: &Control) -> GroundTruth {
        let mut truth = GroundTruth::default();
        let items = self.read();
        let Some(cap) = self.cap else {
            for item in items.iter() {
                let malformed = self.malformation(control, item);
                let record = TruthRecord { raw: self.doc(item, malformed), deleted: false };
                truth.insert(REVIEWS, self.review_id(item), record, malformed.is_some());
            }
            return truth;
        };
        // With a cap, only what is shown can be known: every review ever shown, as last shown,
        // and the ones a `sort_by=newest` request shows now. Engage keeps all of them.
        let mut known = self.shown.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for group in 0..self.businesses.len() {
            let mut listed: Vec<&Item> = items.iter().filter(|i| i.visible() && i.group == group).collect();
            listed.sort_by_key(|i| std::cmp::Reverse((i.created, i.index)));
            for item in listed.into_iter().take(cap) {
                let malformed = self.malformation(control, item);
                known.insert(item.index as usize, (self.doc(item, malformed), malformed.is_some()));
            }
        }
        for (index, (raw, malformed)) in known {
            if let Some(item) = items.get(index) {
                let record = TruthRecord { raw, deleted: false };
                truth.insert(REVIEWS, self.review_id(item), record, malformed);
            }
        }
        truth
    }

    fn mutate(&self, control: &Control, m: Mutation) {
        let (old, new) = control.advance(MUTATION_STEP);
        self.clock.store(new, std::sync::atomic::Ordering::SeqCst);
        let mut round = self.mutations.lock().unwrap_or_else(|e| e.into_inner());
        let rules = Rules {
            edit_any: false,
            replies: false,
            reply_bumps_update: false,
            recent: 14 * review_sites::DAY,
        };
        let groups = 1..self.businesses.len();
        review_sites::mutate(
            &mut self.write(),
            (self.seed, self.site, *round),
            &m,
            (old + 1, new - 120),
            groups,
            rules,
        );
        *round += 1;
    }
}

impl Yelp {
    /// Moves the simulator clock used by the daily quota (the framework's clock moves only with
    /// [`Simulator::mutate`]); call with [`Control::now`] after advancing it.
    pub fn sync_clock(&self, control: &Control) {
        self.clock.store(control.now(), std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_end_in_dots_on_a_character_boundary() {
        assert_eq!(excerpt("short", 160), "short");
        let text = "Świetna obsługa ".repeat(20);
        assert_eq!(excerpt(&text, 31), "Świetna obsługa Świetna obsługa...");
        assert_eq!(excerpt("Отличный сервис", 8), "Отличный...");
    }

    #[test]
    fn route_names() {
        assert_eq!(Yelp::route_of("/v3/businesses/abc/reviews"), Some(REVIEWS));
        assert_eq!(Yelp::route_of("/v3/businesses/abc"), None);
    }
}
