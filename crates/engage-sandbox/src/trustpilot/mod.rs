//! The Trustpilot simulator (public Business Units API): `GET
//! /v1/business-units/{businessUnitId}/reviews` with the `apikey` header, page numbers, a filter
//! and sort on creation time only, company replies, and the recommended request budget.
//!
//! Route: `reviews` (also the ground-truth stream name).
//!
//! Behaviour worth knowing (reviews-email.md §3):
//! - `page` (from 1) and `perPage` (1–100, default 20; otherwise a 400); a page past the end is
//!   an empty `reviews` array. `links` has `next-page` while more reviews follow and `prev-page`
//!   after the first page; [`TrustpilotOptions::links`] `false` leaves `links` empty, so only an
//!   empty page ends a listing.
//! - `orderBy` `createdat.asc`, `createdat.desc` (default), `stars.asc`, `stars.desc`;
//!   `startDateTime`/`endDateTime` (`2013-09-07T13:37:00`, UTC, a bare date is midnight) filter
//!   `createdAt` only, inclusive; `stars` and `language` filter too.
//! - Edits (`updatedAt`) and company replies come within two weeks of a review and cannot be
//!   found by any filter: a connector re-reads a trailing window.
//! - `stars` 1–5; `createdAt` is UTC with `Z`; `companyReply` is `null` or
//!   `{text, authorBusinessUserId, authorBusinessUserName, createdAt, updatedAt}`.
//! - The business unit is the one of the assembled examples (free-now.com): its three reviews
//!   are served verbatim, as its oldest.
//! - Over 833 requests in five minutes per key (the recommended budget) a 429.
//! - A [`Mutation`] creates reviews, edits recent ones and adds company replies to recent ones.
//!   A removed review ([`Trustpilot::remove`]) disappears from every listing.
//! - Malformed records (see [`Faults::malformed_rate`]) get `"stars": 9` or
//!   `"createdAt": "14/10/2022 17:12"`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::faults::Faults;
use crate::rate::{Admit, RateLimiter};
use crate::review_sites::{self, Item, Rules};
use crate::rng;
use crate::sim::{Control, MUTATION_STEP, Sim, SimConfig, SimState, Simulator};
use crate::timeline::Mutation;
use crate::truth::{GroundTruth, TruthRecord};

/// A running Trustpilot simulator.
pub type TrustpilotSim = Sim<Trustpilot>;

/// Route (and stream) of reviews.
pub const REVIEWS: &str = "reviews";
/// The business unit of the examples (free-now.com).
pub const BUSINESS_UNIT: &str = "5d2b94b915dd0c0001cab136";
/// Largest `perPage`.
pub const MAX_PER_PAGE: usize = 100;
/// Trustpilot's recommended budget: requests per five minutes.
pub const BUDGET_PER_5_MINUTES: u64 = 833;

/// The assembled first page (two reviews, one with a company reply).
pub const PAGE1: &str = include_str!("../../fixtures/trustpilot/business_unit_reviews_page1_assembled.json");
/// The assembled last page.
pub const LAST_PAGE: &str =
    include_str!("../../fixtures/trustpilot/business_unit_reviews_last_page_assembled.json");

const JSON: &str = "application/json";
const SITE: &str = "trustpilot";
const API: &str = "https://api.trustpilot.com/v1";

/// Simulator options. `Default`: the recommended budget enforced, `links` on.
#[derive(Clone, Debug, PartialEq)]
pub struct TrustpilotOptions {
    /// Seed, review count, clock, faults.
    pub sim: SimConfig,
    /// The API key accepted (`apikey` header or query parameter).
    pub api_key: String,
    /// Requests per five minutes per key (0 = unlimited).
    pub requests_per_5_minutes: u64,
    /// Whether responses carry `next-page`/`prev-page` links.
    pub links: bool,
}

impl Default for TrustpilotOptions {
    fn default() -> Self {
        TrustpilotOptions {
            sim: SimConfig::default(),
            api_key: "sandbox-trustpilot-key".to_owned(),
            requests_per_5_minutes: BUDGET_PER_5_MINUTES,
            links: true,
        }
    }
}

impl TrustpilotOptions {
    /// Default options with this seed and review count.
    pub fn new(seed: u64, records: usize) -> Self {
        let mut o = TrustpilotOptions::default();
        o.sim.seed = seed;
        o.sim.records = records;
        o
    }

    /// No budget (for benchmarks).
    pub fn unlimited() -> Self {
        TrustpilotOptions { requests_per_5_minutes: 0, ..TrustpilotOptions::default() }
    }
}

/// The Trustpilot simulator's state (use it through [`TrustpilotSim`]).
pub struct Trustpilot {
    seed: u64,
    site: u64,
    fixtures: Vec<Value>,
    items: RwLock<Vec<Item>>,
    mutations: Mutex<u64>,
    limiter: RateLimiter,
    api_key: String,
    budget: u64,
    links: bool,
}

impl std::fmt::Debug for Trustpilot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trustpilot").field("links", &self.links).finish_non_exhaustive()
    }
}

/// Parses a `startDateTime`/`endDateTime` value (UTC; `Z` allowed; a bare date is midnight).
pub fn parse_filter_time(text: &str) -> Option<i64> {
    let text = text.trim().trim_end_matches('Z');
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .or_else(|| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp())
}

impl Trustpilot {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Item>> {
        self.items.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Item>> {
        self.items.write().unwrap_or_else(|e| e.into_inner())
    }

    fn review_id(&self, item: &Item) -> String {
        match item.fixture.and_then(|f| self.fixtures.get(f)) {
            Some(doc) => doc["id"].as_str().unwrap_or_default().to_owned(),
            None => review_sites::id(self.seed, self.site, item.index, review_sites::HEX, 24),
        }
    }

    /// The id of the review at `index` (creation order, the examples' three first).
    pub fn id_of(&self, index: usize) -> Option<String> {
        self.read().get(index).map(|i| self.review_id(i))
    }

    /// Ids of every listed review, with the language of its texts.
    pub fn languages(&self) -> BTreeMap<String, &'static str> {
        self.read().iter().filter(|i| i.visible()).map(|i| (self.review_id(i), i.lang.code)).collect()
    }

    /// Indices of listed generated reviews created within `days` before the clock.
    pub fn created_within(&self, control: &Control, days: i64) -> Vec<usize> {
        review_sites::created_within(&self.read(), control.now(), days)
    }

    /// The company replies to (or edits its reply to) review `index` now.
    pub fn reply(&self, control: &Control, index: usize) -> bool {
        review_sites::reply(&mut self.write(), index, control.now(), false)
    }

    /// Takes review `index` down: it disappears from every listing.
    pub fn remove(&self, control: &Control, index: usize) -> bool {
        review_sites::remove(&mut self.write(), index, control.now())
    }

    /// A new review in language `code`, now; its index.
    pub fn add(&self, control: &Control, code: &str, stars: u8) -> Option<usize> {
        review_sites::add(&mut self.write(), 0, code, stars, control.now())
    }

    fn links(&self, kind: &str, id: &str) -> Value {
        json!([{ "href": format!("{API}/{kind}/{id}"), "method": "GET", "rel": kind }])
    }

    fn doc(&self, item: &Item, malformed: Option<u8>) -> Value {
        if let Some(doc) = item.fixture.and_then(|f| self.fixtures.get(f)) {
            return doc.clone();
        }
        let (seed, site) = (self.seed, self.site);
        let id = self.review_id(item);
        let consumer = review_sites::id(seed, site ^ 0xc0, item.index, review_sites::HEX, 24);
        let (name, _) = review_sites::author(seed, site, item);
        let h = rng::hash(seed, &[site, item.index, 0x7b]);
        let reply = match &item.reply {
            Some(r) => json!({
                "text": review_sites::reply_body(seed, site, item, r),
                "authorBusinessUserId": "5d2b95c1c1b9a8000135f2aa",
                "authorBusinessUserName": "FREE NOW Support",
                "createdAt": review_sites::rfc3339(r.created, ""),
                "updatedAt": if r.updated == r.created { Value::Null } else { json!(review_sites::rfc3339(r.updated, "")) },
            }),
            None => Value::Null,
        };
        let created = match malformed {
            Some(1) => json!("14/10/2022 17:12"),
            _ => json!(review_sites::rfc3339(item.created, if h.is_multiple_of(4) { ".000" } else { "" })),
        };
        json!({
            "links": self.links("reviews", &id),
            "id": id,
            "consumer": {
                "links": self.links("consumers", &consumer),
                "id": consumer,
                "displayName": name,
                "displayLocation": Value::Null,
                "numberOfReviews": 1 + h % 7,
            },
            "businessUnit": {
                "links": self.links("business-units", BUSINESS_UNIT),
                "id": BUSINESS_UNIT,
                "identifyingName": "free-now.com",
                "displayName": "FREE NOW",
            },
            "location": Value::Null,
            "stars": if malformed == Some(0) { 9 } else { item.rating },
            "title": review_sites::title(seed, site, item),
            "text": review_sites::body(seed, site, item),
            "language": item.lang.code,
            "createdAt": created,
            "experiencedAt": review_sites::rfc3339(item.created.div_euclid(review_sites::DAY) * review_sites::DAY, ""),
            "updatedAt": if item.updated == item.created { Value::Null } else { json!(review_sites::rfc3339(item.updated, "")) },
            "companyReply": reply,
            "isVerified": h.is_multiple_of(3),
            "numberOfLikes": h % 5,
            "status": "active",
            "reportData": Value::Null,
            "complianceLabels": [],
            "countsTowardsTrustScore": true,
            "countsTowardsLocationTrustScore": Value::Null,
            "invitation": Value::Null,
            "businessUnitHistory": [],
            "reviewVerificationLevel": if h.is_multiple_of(3) { "verified" } else { "not-verified" },
        })
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

fn message(status: StatusCode, text: &str) -> Response {
    json_response(status, &json!({ "message": text }))
}

async fn reviews(
    State(state): State<Arc<SimState<Trustpilot>>>,
    Path(unit): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let tp = &state.sim;
    let control = &state.control;
    if unit != BUSINESS_UNIT {
        return message(StatusCode::NOT_FOUND, "Business unit not found");
    }
    let one: HashMap<&str, &str> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let number = |key: &str, default: usize| match one.get(key) {
        None => Some(default),
        Some(v) => v.parse::<usize>().ok(),
    };
    let (page, per_page) = match (number("page", 1), number("perPage", 20)) {
        (Some(p), Some(n)) if p >= 1 && (1..=MAX_PER_PAGE).contains(&n) => (p, n),
        _ => {
            return message(StatusCode::BAD_REQUEST, "page must be at least 1 and perPage between 1 and 100");
        }
    };
    let bound = |key: &str| match one.get(key) {
        None => Ok(None),
        Some(v) => parse_filter_time(v).map(Some).ok_or(()),
    };
    let (Ok(start), Ok(end)) = (bound("startDateTime"), bound("endDateTime")) else {
        return message(
            StatusCode::BAD_REQUEST,
            "startDateTime and endDateTime must be like 2013-09-07T13:37:00",
        );
    };
    let order = one.get("orderBy").copied().unwrap_or("createdat.desc");
    if !matches!(order, "createdat.asc" | "createdat.desc" | "stars.asc" | "stars.desc") {
        return message(StatusCode::BAD_REQUEST, &format!("orderBy '{order}' is not supported"));
    }
    let stars: Vec<u8> = q
        .iter()
        .filter(|(k, _)| k == "stars")
        .flat_map(|(_, v)| v.split(',').filter_map(|s| s.trim().parse().ok()).collect::<Vec<u8>>())
        .collect();
    let language = one.get("language").copied();
    let items = tp.read();
    let mut listed: Vec<&Item> = items
        .iter()
        .filter(|i| i.visible())
        .filter(|i| start.is_none_or(|s| i.created >= s) && end.is_none_or(|e| i.created <= e))
        .filter(|i| stars.is_empty() || stars.contains(&i.rating))
        .filter(|i| language.is_none_or(|l| l == "all" || l == i.lang.code))
        .collect();
    match order {
        "createdat.asc" => listed.sort_by_key(|i| (i.created, i.index)),
        "stars.asc" => listed.sort_by_key(|i| (i.rating, std::cmp::Reverse((i.created, i.index)))),
        "stars.desc" => listed.sort_by_key(|i| std::cmp::Reverse((i.rating, i.created, i.index))),
        _ => listed.sort_by_key(|i| std::cmp::Reverse((i.created, i.index))),
    }
    let from = (page - 1).saturating_mul(per_page);
    let chosen: Vec<&Item> = listed.iter().skip(from).take(per_page).copied().collect();
    let docs: Vec<Value> = chosen.iter().map(|i| tp.doc(i, tp.malformation(control, i))).collect();
    let mut links = Vec::new();
    if tp.links {
        let href = |p: usize| {
            let mut pairs: Vec<String> = q
                .iter()
                .filter(|(k, _)| k != "page" && k != "apikey")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            pairs.insert(0, format!("page={p}"));
            format!("{}/v1/business-units/{unit}/reviews?{}", state.base_url, pairs.join("&"))
        };
        if page > 1 {
            links.push(json!({ "href": href(page - 1), "method": "GET", "rel": "prev-page" }));
        }
        if from + per_page < listed.len() {
            links.push(json!({ "href": href(page + 1), "method": "GET", "rel": "next-page" }));
        }
    }
    drop(items);
    json_response(StatusCode::OK, &json!({ "reviews": docs, "links": links }))
}

async fn not_found() -> Response {
    message(StatusCode::NOT_FOUND, "Not found")
}

impl Simulator for Trustpilot {
    type Options = TrustpilotOptions;
    const NAME: &'static str = "trustpilot";
    const ROUTES: &'static [&'static str] = &[REVIEWS];

    fn config(options: &TrustpilotOptions) -> &SimConfig {
        &options.sim
    }

    fn build(o: TrustpilotOptions, control: &Control) -> Self {
        let seed = o.sim.seed;
        let site = rng::tag(SITE);
        let mut fixtures = Vec::new();
        for page in [PAGE1, LAST_PAGE] {
            let doc: Value = serde_json::from_str(page).unwrap_or(Value::Null);
            fixtures.extend(doc["reviews"].as_array().cloned().unwrap_or_default());
        }
        let time = |doc: &Value, key: &str| {
            doc[key]
                .as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map_or(0, |t| t.timestamp())
        };
        let mut order: Vec<usize> = (0..fixtures.len()).collect();
        order.sort_by_key(|&f| time(&fixtures[f], "createdAt"));
        let mut items: Vec<Item> = Vec::new();
        for f in order {
            let doc = &fixtures[f];
            items.push(Item {
                index: items.len() as u64,
                group: 0,
                lang: crate::text::lang("en").unwrap_or(&crate::text::LANGS[0]),
                rating: doc["stars"].as_u64().unwrap_or(1).clamp(1, 5) as u8,
                created: time(doc, "createdAt"),
                updated: time(doc, "createdAt"),
                revision: 0,
                reply: None,
                removed: None,
                fixture: Some(f),
            });
        }
        let first = items.len() as u64;
        items.extend(review_sites::generate(seed, site, o.sim.records, 1, first, control.now()));
        Trustpilot {
            seed,
            site,
            fixtures,
            items: RwLock::new(items),
            mutations: Mutex::new(0),
            limiter: RateLimiter::new(Duration::from_secs(300)),
            api_key: o.api_key,
            budget: o.requests_per_5_minutes,
            links: o.links,
        }
    }

    fn route_of(path: &str) -> Option<&'static str> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        matches!(parts.as_slice(), ["v1", "business-units", _, "reviews"]).then_some(REVIEWS)
    }

    fn router(state: Arc<SimState<Self>>) -> Router {
        Router::new()
            .route("/v1/business-units/{unit}/reviews", get(reviews))
            .fallback(not_found)
            .with_state(state)
    }

    fn authenticate(&self, parts: &Parts) -> Result<String, Box<Response>> {
        let header = parts.headers.get("apikey").and_then(|v| v.to_str().ok());
        let query = parts
            .uri
            .query()
            .and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("apikey=")).map(str::to_owned));
        match header.map(str::to_owned).or(query) {
            Some(key) if key == self.api_key => Ok(key),
            _ => Err(Box::new(self.error_response(StatusCode::UNAUTHORIZED))),
        }
    }

    fn admit(
        &self,
        _route: &'static str,
        account: &str,
        faults: &Faults,
    ) -> Result<HeaderMap, Box<Response>> {
        match self.limiter.admit(account, "api", self.budget) {
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
            401 => message(status, "Unauthorized: invalid or missing API key"),
            403 => message(status, "Forbidden: your plan does not include this API"),
            404 => message(status, "Not found"),
            code if code >= 500 => message(status, "Internal server error, please retry in 5-15 minutes"),
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
        for item in self.read().iter().filter(|i| i.visible()) {
            let malformed = self.malformation(control, item);
            let record = TruthRecord { raw: self.doc(item, malformed), deleted: false };
            truth.insert(REVIEWS, self.review_id(item), record, malformed.is_some());
        }
        truth
    }

    fn mutate(&self, control: &Control, m: Mutation) {
        let (old, new) = control.advance(MUTATION_STEP);
        let mut round = self.mutations.lock().unwrap_or_else(|e| e.into_inner());
        let rules = Rules {
            edit_any: false,
            replies: true,
            reply_bumps_update: true,
            recent: 14 * review_sites::DAY,
        };
        review_sites::mutate(
            &mut self.write(),
            (self.seed, self.site, *round),
            &m,
            (old + 1, new - 120),
            0..1,
            rules,
        );
        *round += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_times_in_the_documented_forms() {
        assert_eq!(parse_filter_time("2013-09-07T13:37:00"), Some(1_378_561_020));
        assert_eq!(parse_filter_time("2013-09-07T13:37:00Z"), Some(1_378_561_020));
        assert_eq!(parse_filter_time("2013-09-07"), Some(1_378_512_000));
        assert_eq!(parse_filter_time("yesterday"), None);
    }
}
