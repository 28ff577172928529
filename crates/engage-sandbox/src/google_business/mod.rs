//! The Google Business Profile simulator (API v4 reviews): `GET
//! /v4/accounts/{account}/locations/{location}/reviews` for several locations of one account,
//! OAuth2 Bearer auth and the default quota of 300 requests a minute per project.
//!
//! Route: `reviews` (also the ground-truth stream name).
//!
//! Behaviour worth knowing (reviews-email.md §1):
//! - `pageSize` at most 50 (more is a 400 `INVALID_ARGUMENT`); `orderBy` `updateTime desc`
//!   (default), `rating` or `rating desc`; `nextPageToken` is absent on the last page. Tokens
//!   are positions in the order, so a list that changes between pages neither repeats nor skips.
//! - `averageRating` and `totalReviewCount` describe the whole location and repeat on every
//!   page; [`GoogleBusinessOptions::uncounted`] makes the count disagree with what is listed
//!   (reviews Google counts but does not list), for completeness checks.
//! - `starRating` is a word (`ONE`..`FIVE`); times are RFC 3339 `Z` with 0, 3, 6 or 9
//!   fractional digits; anonymous reviewers carry only `isAnonymous`; a few reviews are
//!   rating-only (no `comment`).
//! - The first location is the official example's: its five reviews are served verbatim (with
//!   `pageSize=3`, exactly the two example pages).
//! - A [`Mutation`] edits reviews (new text and stars, `updateTime` moves), has the owner reply
//!   to recent reviews (`reviewReply.updateTime` moves, the review's `updateTime` does not: that
//!   Google moves it is unverified) and creates reviews. Deleted reviews just disappear, with no
//!   tombstone: [`GoogleBusiness::remove`] takes one down.
//! - Over the quota: 429 `RESOURCE_EXHAUSTED` (the example body), no rate-limit headers.
//! - Malformed records (see [`Faults::malformed_rate`]) get `"starRating": "SIX"` or
//!   `"createTime": "yesterday"`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::credentials::bearer;
use crate::faults::Faults;
use crate::rate::{Admit, RateLimiter};
use crate::review_sites::{self, Item, Rules};
use crate::rng;
use crate::sim::{Control, MUTATION_STEP, Sim, SimConfig, SimState, Simulator};
use crate::timeline::Mutation;
use crate::truth::{GroundTruth, TruthRecord};

/// A running Google Business Profile simulator.
pub type GoogleBusinessSim = Sim<GoogleBusiness>;

/// Route (and stream) of reviews.
pub const REVIEWS: &str = "reviews";
/// The account of the official example.
pub const ACCOUNT: &str = "106433552101751461082";
/// The location of the official example (its five reviews).
pub const EXAMPLE_LOCATION: &str = "4213962870581623145";
/// Largest page Google serves.
pub const MAX_PAGE_SIZE: usize = 50;

/// The official example, page 1 (`pageSize=3`).
pub const PAGE1: &str =
    include_str!("../../fixtures/google-business-profile/reviews_list_page1_assembled.json");
/// The official example, last page.
pub const PAGE2: &str =
    include_str!("../../fixtures/google-business-profile/reviews_list_page2_last_assembled.json");
/// Google's 429 body.
pub const ERROR_429: &str =
    include_str!("../../fixtures/google-business-profile/error_429_resource_exhausted_assembled.json");

const JSON: &str = "application/json";
const SITE: &str = "google_business";

/// Simulator options. `Default`: three generated locations besides the example's, 300 requests a
/// minute.
#[derive(Clone, Debug, PartialEq)]
pub struct GoogleBusinessOptions {
    /// Seed, review count (over the generated locations), clock, faults.
    pub sim: SimConfig,
    /// Generated locations (besides the example's).
    pub locations: usize,
    /// The OAuth2 access token accepted.
    pub access_token: String,
    /// Requests per minute per project (0 = unlimited).
    pub requests_per_minute: u64,
    /// Reviews Google counts in `totalReviewCount` but does not list, per generated location.
    pub uncounted: u64,
}

impl Default for GoogleBusinessOptions {
    fn default() -> Self {
        GoogleBusinessOptions {
            sim: SimConfig::default(),
            locations: 3,
            access_token: "sandbox-google-business-token".to_owned(),
            requests_per_minute: 300,
            uncounted: 0,
        }
    }
}

impl GoogleBusinessOptions {
    /// Default options with this seed and review count.
    pub fn new(seed: u64, records: usize) -> Self {
        let mut o = GoogleBusinessOptions::default();
        o.sim.seed = seed;
        o.sim.records = records;
        o
    }

    /// No quota (for benchmarks).
    pub fn unlimited() -> Self {
        GoogleBusinessOptions { requests_per_minute: 0, ..GoogleBusinessOptions::default() }
    }
}

/// The Google Business Profile simulator's state (use it through [`GoogleBusinessSim`]).
pub struct GoogleBusiness {
    seed: u64,
    site: u64,
    locations: Vec<String>,
    fixtures: Vec<Value>,
    items: RwLock<Vec<Item>>,
    mutations: RwLock<u64>,
    limiter: RateLimiter,
    access_token: String,
    requests_per_minute: u64,
    uncounted: u64,
}

impl std::fmt::Debug for GoogleBusiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleBusiness").field("locations", &self.locations).finish_non_exhaustive()
    }
}

fn rating_word(stars: u8) -> &'static str {
    ["ONE", "TWO", "THREE", "FOUR", "FIVE"][usize::from(stars.clamp(1, 5)) - 1]
}

fn word_stars(word: &str) -> u8 {
    match word {
        "ONE" => 1,
        "TWO" => 2,
        "THREE" => 3,
        "FOUR" => 4,
        _ => 5,
    }
}

/// The location ids of a simulator with `generated` generated locations: the example's first,
/// then ids that depend on nothing but their position (so configurations can name them).
pub fn location_ids(generated: usize) -> Vec<String> {
    let site = rng::tag(SITE);
    let mut ids = vec![EXAMPLE_LOCATION.to_owned()];
    for k in 0..generated.max(1) {
        let n =
            1_000_000_000_000_000_000 + rng::hash(0, &[site, k as u64, 0x10c]) % 8_000_000_000_000_000_000;
        ids.push(n.to_string());
    }
    ids
}

impl GoogleBusiness {
    /// Location ids, the example's first.
    pub fn locations(&self) -> &[String] {
        &self.locations
    }

    /// `accounts/{account}/locations/{location}` of location `i`.
    pub fn parent(&self, i: usize) -> String {
        format!("accounts/{ACCOUNT}/locations/{}", self.locations.get(i).map_or("", String::as_str))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Item>> {
        self.items.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Item>> {
        self.items.write().unwrap_or_else(|e| e.into_inner())
    }

    fn review_id(&self, item: &Item) -> String {
        format!("AbFvOq{}", review_sites::id(self.seed, self.site, item.index, review_sites::URL_SAFE, 22))
    }

    /// The review's `name` (its source id).
    fn name(&self, item: &Item) -> String {
        match item.fixture.and_then(|f| self.fixtures.get(f)) {
            Some(doc) => doc["name"].as_str().unwrap_or_default().to_owned(),
            None => format!("{}/reviews/{}", self.parent(item.group), self.review_id(item)),
        }
    }

    /// The `name` of every listed review, with the language its texts are written in.
    pub fn languages(&self) -> BTreeMap<String, &'static str> {
        self.read().iter().filter(|i| i.visible()).map(|i| (self.name(i), i.lang.code)).collect()
    }

    /// The `name` of the review at `index` (in creation order, the example's five first).
    pub fn name_of(&self, index: usize) -> Option<String> {
        self.read().get(index).map(|i| self.name(i))
    }

    /// Indices of listed generated reviews created within `days` before the clock.
    pub fn created_within(&self, control: &Control, days: i64) -> Vec<usize> {
        review_sites::created_within(&self.read(), control.now(), days)
    }

    /// The owner replies to (or edits the reply of) review `index` now; the review's own
    /// `updateTime` stays. `false` for an unknown or fixed review.
    pub fn reply(&self, control: &Control, index: usize) -> bool {
        review_sites::reply(&mut self.write(), index, control.now(), false)
    }

    /// Takes review `index` down: it disappears from every listing.
    pub fn remove(&self, control: &Control, index: usize) -> bool {
        review_sites::remove(&mut self.write(), index, control.now())
    }

    /// A new review in language `code` at location `location` (1.. are the generated ones),
    /// now; its index.
    pub fn add(&self, control: &Control, location: usize, code: &str, stars: u8) -> Option<usize> {
        review_sites::add(
            &mut self.write(),
            location.min(self.locations.len() - 1),
            code,
            stars,
            control.now(),
        )
    }

    fn fraction(&self, item: &Item, which: u64) -> String {
        let h = rng::hash(self.seed, &[self.site, item.index, which]);
        match h % 4 {
            0 => String::new(),
            1 => format!(".{:03}", h / 4 % 1_000),
            2 => format!(".{:06}", h / 4 % 1_000_000),
            _ => format!(".{:09}", h / 4 % 1_000_000_000),
        }
    }

    /// The review as served (the fixture verbatim, or generated).
    fn doc(&self, item: &Item, malformed: Option<u8>) -> Value {
        if let Some(doc) = item.fixture.and_then(|f| self.fixtures.get(f)) {
            return doc.clone();
        }
        let (seed, site) = (self.seed, self.site);
        let h = rng::hash(seed, &[site, item.index, 0xa11]);
        let mut doc = Map::new();
        doc.insert("name".into(), json!(self.name(item)));
        doc.insert("reviewId".into(), json!(self.review_id(item)));
        let reviewer = if h.is_multiple_of(10) {
            json!({ "isAnonymous": true })
        } else {
            let (name, handle) = review_sites::author(seed, site, item);
            json!({
                "profilePhotoUrl": format!("https://lh3.googleusercontent.com/a/{handle}=s120-c-rp-mo-br100"),
                "displayName": name,
                "isAnonymous": false,
            })
        };
        doc.insert("reviewer".into(), reviewer);
        let word = if malformed == Some(0) { "SIX" } else { rating_word(item.rating) };
        doc.insert("starRating".into(), json!(word));
        // One review in twenty is a rating without words.
        if h % 20 != 7 || item.revision > 0 {
            doc.insert("comment".into(), json!(review_sites::body(seed, site, item)));
        }
        let created = if malformed == Some(1) {
            "yesterday".to_owned()
        } else {
            review_sites::rfc3339(item.created, &self.fraction(item, 1))
        };
        doc.insert("createTime".into(), json!(created));
        let updated = if item.updated == item.created {
            review_sites::rfc3339(item.created, &self.fraction(item, 1))
        } else {
            review_sites::rfc3339(item.updated, &self.fraction(item, 2 + u64::from(item.revision)))
        };
        doc.insert("updateTime".into(), json!(updated));
        if let Some(reply) = &item.reply {
            doc.insert(
                "reviewReply".into(),
                json!({
                    "comment": review_sites::reply_body(seed, site, item, reply),
                    "updateTime": review_sites::rfc3339(reply.updated, ".000"),
                }),
            );
        }
        if h % 33 == 5 {
            // A field Engage does not map, kept in the raw payload.
            doc.insert("reviewMediaItems".into(), json!([]));
        }
        Value::Object(doc)
    }

    fn malformation(&self, control: &Control, item: &Item) -> Option<u8> {
        if item.fixture.is_some() {
            return None;
        }
        control.faults(REVIEWS).malformation(control.seed(), REVIEWS, item.index).map(|m| m % 2)
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

/// Google's error envelope.
fn google_error(status: StatusCode, state: &str, message: &str) -> Response {
    json_response(
        status,
        &json!({ "error": { "code": status.as_u16(), "message": message, "status": state } }),
    )
}

/// The sort key of a review in `updateTime desc` order (newest first, then by index).
fn update_key(item: &Item) -> (i64, u64) {
    (item.updated, item.index)
}

fn token(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

fn untoken(token: &str) -> Option<String> {
    String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()
}

async fn reviews(
    State(state): State<Arc<SimState<GoogleBusiness>>>,
    Path((account, location)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let gb = &state.sim;
    let control = &state.control;
    let Some(group) = gb.locations.iter().position(|l| *l == location).filter(|_| account == ACCOUNT) else {
        return google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "Requested entity was not found.");
    };
    let page_size = match q.get("pageSize").map(|s| s.parse::<usize>()) {
        None => MAX_PAGE_SIZE,
        Some(Ok(n)) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
        Some(_) => {
            return google_error(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                "Invalid value for pageSize: must be between 1 and 50.",
            );
        }
    };
    let order = q.get("orderBy").map(|s| s.trim().to_owned()).unwrap_or_else(|| "updateTime desc".to_owned());
    if !matches!(order.as_str(), "updateTime desc" | "rating" | "rating desc") {
        return google_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", "Invalid orderBy.");
    }
    let items = gb.read();
    let mut listed: Vec<&Item> = items.iter().filter(|i| i.visible() && i.group == group).collect();
    match order.as_str() {
        "rating" => listed.sort_by_key(|i| (i.rating, std::cmp::Reverse(update_key(i)))),
        "rating desc" => listed.sort_by_key(|i| std::cmp::Reverse((i.rating, update_key(i)))),
        _ => listed.sort_by_key(|i| std::cmp::Reverse(update_key(i))),
    }
    // The token is the position after the last review served: `u:<updated>:<index>` in update
    // order, `o:<offset>` in the rating orders.
    let start = match q.get("pageToken").filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => match untoken(t).as_deref().map(|k| k.split(':').collect::<Vec<_>>()) {
            Some(parts) if parts.len() == 3 && parts[0] == "u" && order == "updateTime desc" => {
                let key: Option<(i64, u64)> = parts[1].parse().ok().zip(parts[2].parse().ok());
                match key {
                    Some(key) => listed.iter().position(|i| update_key(i) < key).unwrap_or(listed.len()),
                    None => usize::MAX,
                }
            }
            Some(parts) if parts.len() == 2 && parts[0] == "o" => parts[1].parse().unwrap_or(usize::MAX),
            _ => usize::MAX,
        },
    };
    if start == usize::MAX {
        return google_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", "Invalid page token.");
    }
    let end = (start + page_size).min(listed.len());
    let page = listed.get(start..end).unwrap_or_default();
    let mut body = Map::new();
    if !page.is_empty() {
        let docs: Vec<Value> = page.iter().map(|i| gb.doc(i, gb.malformation(control, i))).collect();
        body.insert("reviews".into(), Value::Array(docs));
    }
    let (average, total) = if group == 0 {
        let example: Value = serde_json::from_str(PAGE1).unwrap_or(Value::Null);
        (example["averageRating"].clone(), example["totalReviewCount"].clone())
    } else {
        let sum: u64 = listed.iter().map(|i| u64::from(i.rating)).sum();
        let average = if listed.is_empty() { 0.0 } else { sum as f64 / listed.len() as f64 };
        (json!((average * 10.0).round() / 10.0), json!(listed.len() as u64 + gb.uncounted))
    };
    body.insert("averageRating".into(), average);
    body.insert("totalReviewCount".into(), total);
    if end < listed.len() {
        let next = match (order.as_str(), page.last()) {
            ("updateTime desc", Some(last)) => format!("u:{}:{}", last.updated, last.index),
            _ => format!("o:{end}"),
        };
        body.insert("nextPageToken".into(), json!(token(&next)));
    }
    drop(items);
    json_response(StatusCode::OK, &Value::Object(body))
}

async fn not_found() -> Response {
    google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "Requested entity was not found.")
}

impl Simulator for GoogleBusiness {
    type Options = GoogleBusinessOptions;
    const NAME: &'static str = "google_business";
    const ROUTES: &'static [&'static str] = &[REVIEWS];

    fn config(options: &GoogleBusinessOptions) -> &SimConfig {
        &options.sim
    }

    fn build(o: GoogleBusinessOptions, control: &Control) -> Self {
        let seed = o.sim.seed;
        let site = rng::tag(SITE);
        let locations = location_ids(o.locations);
        let mut fixtures = Vec::new();
        for page in [PAGE1, PAGE2] {
            let doc: Value = serde_json::from_str(page).unwrap_or(Value::Null);
            fixtures.extend(doc["reviews"].as_array().cloned().unwrap_or_default());
        }
        // The example's reviews first, oldest first, then the generated ones.
        let mut items: Vec<Item> = Vec::new();
        let mut order: Vec<usize> = (0..fixtures.len()).collect();
        let time = |doc: &Value, key: &str| {
            doc[key]
                .as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map_or(0, |t| t.timestamp())
        };
        order.sort_by_key(|&f| time(&fixtures[f], "createTime"));
        for f in order {
            let doc = &fixtures[f];
            items.push(Item {
                index: items.len() as u64,
                group: 0,
                lang: crate::text::lang("en").unwrap_or(&crate::text::LANGS[0]),
                rating: word_stars(doc["starRating"].as_str().unwrap_or("")),
                created: time(doc, "createTime"),
                updated: time(doc, "updateTime"),
                revision: 0,
                reply: None,
                removed: None,
                fixture: Some(f),
            });
        }
        let first = items.len() as u64;
        let generated =
            review_sites::generate(seed, site, o.sim.records, o.locations.max(1), first, control.now());
        items.extend(generated.into_iter().map(|mut i| {
            i.group += 1;
            i
        }));
        GoogleBusiness {
            seed,
            site,
            locations,
            fixtures,
            items: RwLock::new(items),
            mutations: RwLock::new(0),
            limiter: RateLimiter::new(Duration::from_secs(60)),
            access_token: o.access_token,
            requests_per_minute: o.requests_per_minute,
            uncounted: o.uncounted,
        }
    }

    fn route_of(path: &str) -> Option<&'static str> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        matches!(parts.as_slice(), ["v4", "accounts", _, "locations", _, "reviews"]).then_some(REVIEWS)
    }

    fn router(state: Arc<SimState<Self>>) -> Router {
        Router::new()
            .route("/v4/accounts/{account}/locations/{location}/reviews", get(reviews))
            .fallback(not_found)
            .with_state(state)
    }

    fn authenticate(&self, parts: &Parts) -> Result<String, Box<Response>> {
        match bearer(parts) {
            Some(token) if token == self.access_token => Ok("project".to_owned()),
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
            401 => google_error(
                status,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
            ),
            403 => google_error(status, "PERMISSION_DENIED", "The caller does not have permission"),
            404 => google_error(status, "NOT_FOUND", "Requested entity was not found."),
            code if code >= 500 => {
                google_error(status, "UNAVAILABLE", "The service is currently unavailable.")
            }
            _ => google_error(status, "FAILED_PRECONDITION", status.canonical_reason().unwrap_or("Error")),
        }
    }

    fn throttle_response(&self, retry_after: Option<u64>) -> Response {
        let body: Value = serde_json::from_str(ERROR_429).unwrap_or(Value::Null);
        let mut resp = json_response(StatusCode::TOO_MANY_REQUESTS, &body);
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }

    fn ground_truth(&self, control: &Control) -> GroundTruth {
        let mut truth = GroundTruth::default();
        for item in self.read().iter().filter(|i| i.visible()) {
            let malformed = self.malformation(control, item);
            let record = TruthRecord { raw: self.doc(item, malformed), deleted: false };
            truth.insert(REVIEWS, self.name(item), record, malformed.is_some());
        }
        truth
    }

    fn mutate(&self, control: &Control, m: Mutation) {
        let (old, new) = control.advance(MUTATION_STEP);
        let mut round = self.mutations.write().unwrap_or_else(|e| e.into_inner());
        let rules = Rules {
            edit_any: true,
            replies: true,
            reply_bumps_update: false,
            recent: 14 * review_sites::DAY,
        };
        let groups = 1..self.locations.len();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_names() {
        assert_eq!(GoogleBusiness::route_of("/v4/accounts/1/locations/2/reviews"), Some(REVIEWS));
        assert_eq!(GoogleBusiness::route_of("/v4/accounts/1/locations/2"), None);
    }

    #[test]
    fn tokens_round_trip() {
        assert_eq!(untoken(&token("u:17:4")).as_deref(), Some("u:17:4"));
        assert_eq!(untoken("***"), None);
    }
}
