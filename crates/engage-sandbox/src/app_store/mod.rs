//! The App Store Connect simulator: `GET /v1/apps/{id}/customerReviews` (JSON:API) with ES256
//! API-key tokens verified against the key's public key, `links.next` cursors, `sort`,
//! `limit` (at most 200), `include=response` with the developer responses in `included`, the
//! rolling hourly limit advertised in `X-Rate-Limit` and Apple's error bodies.
//!
//! Route `customer_reviews`; ground-truth stream [`STREAM`]. The raw payload of a review in the
//! ground truth is `{"data": <review as served with include=response>, "included": [<response>]}`
//! (`included` only when the review has a response).
//!
//! Behaviour worth knowing (reviews-email.md §4):
//! - A token must be `ES256` with the configured `kid`, `iss` and `aud: appstoreconnect-v1`,
//!   signed by the key, and live no longer than 20 minutes (`exp - iat <= 1200`, `exp` in the
//!   future by the wall clock): anything else is the official 401.
//! - Reviews have no last-modified time. [`Mutation`]s create reviews, and edit (body, rating) or
//!   reply to reviews of the last 7 days only; deletions are made with [`AppStore::delete`]
//!   (the conformance kit's own deletions are not modelled: a review deleted before a first
//!   sync is never seen).
//! - The official example review (`00000028-…`, 2017) is the oldest review of every dataset,
//!   served verbatim (plus `data: null` under `relationships.response` with `include=response`).
//! - Malformed records: `"createdDate": "not a date"` or `"rating": 0`.
//! - `Date` is the simulator clock.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::Rng;
use ring::signature::{ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

use crate::faults::Faults;
use crate::rate::{Admit, RateLimiter};
use crate::rng;
use crate::sim::{Control, MUTATION_STEP, Sim, SimConfig, SimState, Simulator};
use crate::text::{self, LANGS};
use crate::timeline::Mutation;
use crate::truth::{GroundTruth, TruthRecord};

/// A running App Store Connect simulator.
pub type AppStoreSim = Sim<AppStore>;

/// Route and ground-truth stream.
pub const STREAM: &str = "customer_reviews";
/// The official list example (GET /v1/apps/682658836/customerReviews?limit=1).
pub const DOCS_EXAMPLE: &str =
    include_str!("../../fixtures/app-store-connect/customer_reviews_list_docs_example.json");
/// Apple's 401 body.
pub const ERROR_401: &str = include_str!("../../fixtures/app-store-connect/error_401_not_authorized.json");
/// Apple's 429 body.
pub const ERROR_429: &str =
    include_str!("../../fixtures/app-store-connect/error_429_rate_limit_exceeded.json");
/// The sandbox's API key (a key made for the sandbox, never used anywhere else).
pub const SANDBOX_KEY: &str =
    include_str!("../../fixtures/app-store-connect/sandbox_api_key_AuthKey_SANDBOX123.p8");
/// Where Apple's resource links point.
pub const APPLE: &str = "https://api.appstoreconnect.apple.com";
/// Days back from the clock within which mutations edit and reply.
pub const EDIT_DAYS: i64 = 7;

const JSONAPI: &str = "application/json";

/// App Store Connect simulator options.
#[derive(Clone, Debug, PartialEq)]
pub struct AppStoreOptions {
    /// Seed, clock, faults; `records` is the number of generated reviews.
    pub sim: SimConfig,
    /// Issuer id the tokens must carry.
    pub issuer_id: String,
    /// Key id the tokens must carry.
    pub key_id: String,
    /// The API key's `.p8` text (its public key verifies the tokens).
    pub private_key: String,
    /// The app id served.
    pub app_id: String,
    /// Requests per rolling hour per key (0 = unlimited); Apple's default is 3,600.
    pub hourly_limit: u64,
    /// Days back from the clock over which generated reviews are created.
    pub history_days: i64,
}

impl Default for AppStoreOptions {
    fn default() -> Self {
        AppStoreOptions {
            sim: SimConfig::default(),
            issuer_id: "69a6de7f-3a1e-47e3-e053-5b8c7c11a4d1".to_owned(),
            key_id: "SANDBOX123".to_owned(),
            private_key: SANDBOX_KEY.to_owned(),
            app_id: "682658836".to_owned(),
            hourly_limit: 3_600,
            history_days: 90,
        }
    }
}

impl AppStoreOptions {
    /// Default options with this seed and number of generated reviews.
    pub fn new(seed: u64, reviews: usize) -> Self {
        let mut o = AppStoreOptions::default();
        o.sim.seed = seed;
        o.sim.records = reviews;
        o
    }

    /// No rate limit (for benchmarks).
    pub fn unlimited() -> Self {
        AppStoreOptions { hourly_limit: 0, ..AppStoreOptions::default() }
    }
}

/// A developer response.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// Resource id.
    pub id: String,
    /// `responseBody`.
    pub body: String,
    /// `lastModifiedDate` (Unix seconds).
    pub modified: i64,
}

/// One review as the simulator holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct SimReview {
    /// Resource id.
    pub id: String,
    /// ISO 639-1 code of the language it is written in.
    pub language: &'static str,
    /// 1–5.
    pub rating: u8,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// `reviewerNickname`.
    pub nickname: String,
    /// `createdDate` (Unix seconds).
    pub created: i64,
    /// Alpha-3 territory.
    pub territory: &'static str,
    /// The developer response.
    pub reply: Option<Reply>,
    /// Deleted (no longer served).
    pub deleted: bool,
    /// Index (for malformation decisions).
    pub index: u64,
}

/// The App Store Connect simulator's state (use it through [`AppStoreSim`]).
pub struct AppStore {
    seed: u64,
    o: AppStoreOptions,
    public_key: Vec<u8>,
    limiter: RateLimiter,
    fixed: Value,
    reviews: RwLock<Vec<SimReview>>,
    mutations: RwLock<u64>,
}

impl std::fmt::Debug for AppStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppStore").field("app_id", &self.o.app_id).finish_non_exhaustive()
    }
}

fn territory(lang: &str, h: u64) -> &'static str {
    match lang {
        "en" => ["USA", "GBR", "AUS", "CAN"][(h % 4) as usize],
        "es" => ["ESP", "MEX"][(h % 2) as usize],
        "de" => ["DEU", "AUT"][(h % 2) as usize],
        "pl" => "POL",
        "ru" => "RUS",
        "fa" => "IRN",
        "hr" => "HRV",
        "sl" => "SVN",
        _ => "USA",
    }
}

/// `2025-05-30T03:00:00-07:00`: Apple's form, in Pacific daylight time.
pub fn apple_time(unix: i64) -> String {
    match (chrono::DateTime::from_timestamp(unix, 0), chrono::FixedOffset::west_opt(7 * 3600)) {
        (Some(t), Some(pacific)) => t.with_timezone(&pacific).format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        _ => String::new(),
    }
}

fn review_id(seed: u64, index: u64) -> String {
    let h = rng::hash(seed, &[rng::tag(STREAM), index]);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xffff,
        index & 0xffff,
        rng::mix(h) & 0xffff_ffff_ffff
    )
}

/// A generated review of `lang`, written by the phrase bank: a title and a body of a couple of
/// sentences (long enough to tell the language).
pub fn generate(seed: u64, index: u64, created: i64) -> SimReview {
    let h = rng::hash(seed, &[rng::tag("app-review"), index]);
    let lang = text::pick_lang(h);
    let mut r = rng::rng(seed, &[rng::tag("app-review-text"), index]);
    let rating = [5u8, 5, 4, 4, 3, 2, 1, 5][(h >> 8) as usize % 8];
    let title =
        if rating >= 4 { text::choose(&mut r, lang.praise) } else { text::choose(&mut r, lang.complaints) };
    let mut body = String::new();
    text::paragraph(&mut r, lang, 110, &mut body);
    body.push(' ');
    body.push_str(if rating >= 4 {
        text::choose(&mut r, lang.praise)
    } else {
        text::choose(&mut r, lang.complaints)
    });
    let name = lang.names[r.random_range(0..lang.names.len())].0;
    SimReview {
        id: review_id(seed, index),
        language: lang.code,
        rating,
        title: title.to_owned(),
        body,
        nickname: name.to_owned(),
        created,
        territory: territory(lang.code, h >> 20),
        reply: None,
        deleted: false,
        index,
    }
}

fn error(status: StatusCode, code: &str, title: &str, detail: &str) -> Response {
    let body = json!({ "errors": [{ "id": format!("{:08x}-0000-0000-0000-000000000000", rng::tag(detail) as u32),
        "status": status.as_u16().to_string(), "code": code, "title": title, "detail": detail }] });
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(JSONAPI))], body.to_string()).into_response()
}

fn parameter_error(detail: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "PARAMETER_ERROR.INVALID", "A parameter has an invalid value", detail)
}

fn fixture(status: StatusCode, body: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(JSONAPI))], body).into_response()
}

fn encode_cursor(created: i64, index: u64) -> String {
    format!("AQ.{}", URL_SAFE_NO_PAD.encode(format!("{created}:{index}")))
}

fn decode_cursor(cursor: &str) -> Option<(i64, u64)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor.strip_prefix("AQ.")?).ok()?).ok()?;
    let (a, b) = text.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

impl AppStore {
    fn reviews(&self) -> std::sync::RwLockReadGuard<'_, Vec<SimReview>> {
        self.reviews.read().unwrap_or_else(|e| e.into_inner())
    }

    /// A snapshot of every review (deleted ones included).
    pub fn all(&self) -> Vec<SimReview> {
        self.reviews().clone()
    }

    /// The app id served.
    pub fn app_id(&self) -> &str {
        &self.o.app_id
    }

    /// Adds (or replaces) the developer response of review `id`, dated `at`. False if unknown.
    pub fn reply(&self, id: &str, body: &str, at: i64) -> bool {
        let mut reviews = self.reviews.write().unwrap_or_else(|e| e.into_inner());
        let Some(r) = reviews.iter_mut().find(|r| r.id == id) else { return false };
        let reply_id = format!("{}-r", &r.id[..8]);
        r.reply = Some(Reply { id: reply_id, body: body.to_owned(), modified: at });
        true
    }

    /// Deletes review `id` (it is no longer served). False if unknown.
    pub fn delete(&self, id: &str) -> bool {
        let mut reviews = self.reviews.write().unwrap_or_else(|e| e.into_inner());
        let Some(r) = reviews.iter_mut().find(|r| r.id == id) else { return false };
        r.deleted = true;
        true
    }

    fn malformation(&self, control: &Control, r: &SimReview) -> Option<u8> {
        if r.index == 0 {
            return None;
        }
        control.faults(STREAM).malformation(self.seed, STREAM, r.index)
    }

    /// Review `r` as served.
    fn resource(&self, r: &SimReview, include: bool, malformation: Option<u8>) -> Value {
        if r.index == 0 {
            let mut fixed = self.fixed.clone();
            if include && let Some(rel) = fixed.pointer_mut("/relationships/response") {
                rel["data"] = Value::Null;
            }
            return fixed;
        }
        let mut response = json!({ "links": {
            "self": format!("{APPLE}/v1/customerReviews/{}/relationships/response", r.id),
            "related": format!("{APPLE}/v1/customerReviews/{}/response", r.id),
        }});
        if include {
            response["data"] = r
                .reply
                .as_ref()
                .map_or(Value::Null, |p| json!({ "type": "customerReviewResponses", "id": p.id }));
        }
        json!({
            "type": "customerReviews",
            "id": r.id,
            "attributes": {
                "rating": if malformation == Some(1) { 0 } else { r.rating },
                "title": r.title,
                "body": r.body,
                "reviewerNickname": r.nickname,
                "createdDate": if malformation == Some(0) { "not a date".to_owned() } else { apple_time(r.created) },
                "territory": r.territory,
            },
            "relationships": { "response": response },
            "links": { "self": format!("{APPLE}/v1/customerReviews/{}", r.id) }
        })
    }

    fn response_resource(&self, r: &SimReview) -> Option<Value> {
        let p = r.reply.as_ref()?;
        Some(json!({
            "type": "customerReviewResponses",
            "id": p.id,
            "attributes": { "responseBody": p.body, "lastModifiedDate": apple_time(p.modified), "state": "PUBLISHED" },
            "relationships": { "review": { "links": {
                "self": format!("{APPLE}/v1/customerReviewResponses/{}/relationships/review", p.id),
                "related": format!("{APPLE}/v1/customerReviewResponses/{}/review", p.id) } } },
            "links": { "self": format!("{APPLE}/v1/customerReviewResponses/{}", p.id) }
        }))
    }

    /// Verifies an App Store Connect token; the reason when it is refused.
    fn verify(&self, token: &str) -> Result<(), &'static str> {
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("not a JWT");
        };
        let json = |part: &str| -> Option<Value> {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
        };
        let (Some(header), Some(claims)) = (json(h), json(c)) else { return Err("undecodable") };
        if header["alg"] != "ES256" || header["kid"] != self.o.key_id.as_str() {
            return Err("wrong algorithm or key id");
        }
        let signature = URL_SAFE_NO_PAD.decode(s).map_err(|_| "bad signature encoding")?;
        ring::signature::UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.public_key)
            .verify(format!("{h}.{c}").as_bytes(), &signature)
            .map_err(|_| "bad signature")?;
        if claims["iss"] != self.o.issuer_id.as_str() || claims["aud"] != "appstoreconnect-v1" {
            return Err("wrong issuer or audience");
        }
        let (Some(iat), Some(exp)) = (claims["iat"].as_i64(), claims["exp"].as_i64()) else {
            return Err("no iat/exp");
        };
        let wall = chrono::Utc::now().timestamp();
        if exp - iat > 1_200 || exp < wall - 60 || iat > wall + 60 {
            return Err("expired or too long-lived");
        }
        Ok(())
    }

    fn date(&self, control: &Control) -> HeaderValue {
        let text = chrono::DateTime::from_timestamp(control.now(), 0)
            .map(|t| t.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
            .unwrap_or_default();
        HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"))
    }
}

async fn customer_reviews(
    State(state): State<Arc<SimState<AppStore>>>,
    Path(app): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let sim = &state.sim;
    if app != sim.o.app_id {
        return sim.error_response(StatusCode::NOT_FOUND);
    }
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => 50,
        Some(Ok(n)) if (1..=200).contains(&n) => n,
        Some(_) => return parameter_error("The parameter 'limit' must be an integer from 1 to 200."),
    };
    let descending = match q.get("sort").map(String::as_str) {
        None | Some("-createdDate") => true,
        Some("createdDate") => false,
        Some(other) => {
            return parameter_error(&format!("The parameter 'sort' does not support the value '{other}'."));
        }
    };
    let include = match q.get("include").map(String::as_str) {
        None => false,
        Some("response") => true,
        Some(other) => {
            return parameter_error(&format!(
                "The parameter 'include' does not support the value '{other}'."
            ));
        }
    };
    let after = match q.get("cursor") {
        Some(c) => match decode_cursor(c) {
            Some(p) => Some(p),
            None => return parameter_error("The parameter 'cursor' is invalid."),
        },
        None => None,
    };
    let reviews = sim.reviews();
    let mut live: Vec<&SimReview> = reviews.iter().filter(|r| !r.deleted).collect();
    live.sort_by_key(|r| (r.created, r.index));
    if descending {
        live.reverse();
    }
    let start = match after {
        None => 0,
        Some(p) => live
            .iter()
            .position(|r| if descending { (r.created, r.index) < p } else { (r.created, r.index) > p })
            .unwrap_or(live.len()),
    };
    let page: Vec<&SimReview> = live.iter().skip(start).take(limit).copied().collect();
    let more = start + page.len() < live.len();
    let data: Vec<Value> =
        page.iter().map(|r| sim.resource(r, include, sim.malformation(&state.control, r))).collect();
    let included: Vec<Value> =
        if include { page.iter().filter_map(|r| sim.response_resource(r)).collect() } else { Vec::new() };
    let total = live.len();
    let last = page.last().map(|r| (r.created, r.index));
    drop(page);
    drop(live);
    drop(reviews);
    let mut query: Vec<(String, String)> =
        q.iter().filter(|(k, _)| *k != "cursor").map(|(k, v)| (k.clone(), v.clone())).collect();
    query.sort();
    let self_link = format!("{}/v1/apps/{app}/customerReviews", state.base_url);
    let mut links = json!({ "self": self_link });
    if more && let Some((created, index)) = last {
        query.push(("cursor".to_owned(), encode_cursor(created, index)));
        let encoded: Vec<String> = query.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect();
        links["next"] = Value::String(format!("{self_link}?{}", encoded.join("&")));
    }
    let mut body =
        json!({ "data": data, "links": links, "meta": { "paging": { "total": total, "limit": limit } } });
    if include {
        body["included"] = Value::Array(included);
    }
    let mut resp =
        (StatusCode::OK, [(header::CONTENT_TYPE, HeaderValue::from_static(JSONAPI))], body.to_string())
            .into_response();
    resp.headers_mut().insert(header::DATE, sim.date(&state.control));
    resp
}

fn enc(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => o.push(b as char),
            _ => o.push_str(&format!("%{b:02X}")),
        }
    }
    o
}

async fn not_found(State(state): State<Arc<SimState<AppStore>>>) -> Response {
    state.sim.error_response(StatusCode::NOT_FOUND)
}

impl Simulator for AppStore {
    type Options = AppStoreOptions;
    const NAME: &'static str = "app_store";
    const ROUTES: &'static [&'static str] = &[STREAM];

    fn config(options: &AppStoreOptions) -> &SimConfig {
        &options.sim
    }

    fn build(o: AppStoreOptions, control: &Control) -> Self {
        let now = control.now();
        let seed = o.sim.seed;
        let public_key = crate::app_store::public_key(&o.private_key).unwrap_or_default();
        let fixed = serde_json::from_str::<Value>(DOCS_EXAMPLE)
            .ok()
            .and_then(|d| d.pointer("/data/0").cloned())
            .unwrap_or(Value::Null);
        let fixed_created = fixed
            .pointer("/attributes/createdDate")
            .and_then(Value::as_str)
            .and_then(crate::time::parse_rfc3339)
            .unwrap_or(0);
        let mut reviews = vec![SimReview {
            id: fixed["id"].as_str().unwrap_or_default().to_owned(),
            language: "en",
            rating: 5,
            title: "Awesome!!!".to_owned(),
            body: "It's a really fantastic app!".to_owned(),
            nickname: "Anne Johnson".to_owned(),
            created: fixed_created,
            territory: "USA",
            reply: None,
            deleted: false,
            index: 0,
        }];
        let n = o.sim.records as i64;
        let (from, to) = (now - o.history_days.max(1) * 86_400, now - 3_600);
        for i in 0..n {
            let created = from + (to - from) * i / n.max(1);
            let mut r = generate(seed, i as u64 + 1, created);
            // A third of the reviews older than a week have a developer response.
            let h = rng::hash(seed, &[rng::tag("app-reply"), r.index]);
            if h.is_multiple_of(3) && created < now - EDIT_DAYS * 86_400 {
                let lang = text::lang(r.language).unwrap_or(&LANGS[0]);
                let mut g = rng::rng(seed, &[rng::tag("app-reply-text"), r.index]);
                r.reply = Some(Reply {
                    id: format!("{}-r", &r.id[..8]),
                    body: text::choose(&mut g, lang.sentences).to_owned(),
                    modified: created + 86_400,
                });
            }
            reviews.push(r);
        }
        AppStore {
            seed,
            public_key,
            limiter: RateLimiter::new(Duration::from_secs(3_600)),
            fixed,
            reviews: RwLock::new(reviews),
            mutations: RwLock::new(0),
            o,
        }
    }

    fn route_of(path: &str) -> Option<&'static str> {
        (path.starts_with("/v1/apps/") && path.trim_end_matches('/').ends_with("/customerReviews"))
            .then_some(STREAM)
    }

    fn router(state: Arc<SimState<Self>>) -> Router {
        Router::new()
            .route("/v1/apps/{app}/customerReviews", get(customer_reviews))
            .fallback(not_found)
            .with_state(state)
    }

    fn authenticate(&self, parts: &Parts) -> Result<String, Box<Response>> {
        match crate::credentials::bearer(parts).map(|t| self.verify(t)) {
            Some(Ok(())) => Ok(self.o.key_id.clone()),
            _ => Err(Box::new(self.error_response(StatusCode::UNAUTHORIZED))),
        }
    }

    fn admit(&self, route: &'static str, account: &str, faults: &Faults) -> Result<HeaderMap, Box<Response>> {
        let mut headers = HeaderMap::new();
        match self.limiter.admit(account, route, self.o.hourly_limit) {
            Admit::Limited { retry_after } => {
                let mut resp = self.throttle_response(faults.throttle_retry_after.map(|_| retry_after));
                resp.headers_mut().extend(self.rate_headers());
                Err(Box::new(resp))
            }
            Admit::Ok { remaining } => {
                let value = format!("user-hour-lim:{};user-hour-rem:{remaining};", self.o.hourly_limit);
                if let Ok(v) = HeaderValue::from_str(&value) {
                    headers.insert(HeaderName::from_static("x-rate-limit"), v);
                }
                Ok(headers)
            }
            Admit::Unlimited => Ok(headers),
        }
    }

    fn rate_headers(&self) -> HeaderMap {
        HeaderMap::new()
    }

    fn error_response(&self, status: StatusCode) -> Response {
        match status.as_u16() {
            401 => fixture(status, ERROR_401),
            403 => error(
                status,
                "FORBIDDEN_ERROR",
                "This request is forbidden for security reasons",
                "The API key in use does not allow this request",
            ),
            404 => error(
                status,
                "NOT_FOUND",
                "The specified resource does not exist",
                "The path provided does not match a defined resource type.",
            ),
            _ => error(
                status,
                "UNEXPECTED_ERROR",
                "An unexpected error occurred.",
                "An unexpected error occurred on the server side. If this issue continues, contact us at https://developer.apple.com/contact/.",
            ),
        }
    }

    fn throttle_response(&self, retry_after: Option<u64>) -> Response {
        let mut resp = fixture(StatusCode::TOO_MANY_REQUESTS, ERROR_429);
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }

    fn ground_truth(&self, control: &Control) -> GroundTruth {
        let mut truth = GroundTruth::default();
        for r in self.reviews().iter() {
            let malformation = self.malformation(control, r);
            let data = self.resource(r, true, malformation);
            let raw = match self.response_resource(r) {
                Some(response) => json!({ "data": data, "included": [response] }),
                None => json!({ "data": data }),
            };
            truth.insert(
                STREAM,
                r.id.clone(),
                TruthRecord { raw, deleted: r.deleted },
                malformation.is_some(),
            );
        }
        truth
    }

    fn mutate(&self, control: &Control, m: Mutation) {
        let (old, new) = control.advance(MUTATION_STEP);
        let seed = control.seed();
        let round = {
            let mut n = self.mutations.write().unwrap_or_else(|e| e.into_inner());
            *n += 1;
            *n
        };
        let mut reviews = self.reviews.write().unwrap_or_else(|e| e.into_inner());
        let recent: Vec<usize> = reviews
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.deleted && r.index != 0 && r.created >= old - EDIT_DAYS * 86_400)
            .map(|(i, _)| i)
            .collect();
        let mut g = rng::rng(seed, &[rng::tag("app-mutate"), round]);
        for k in 0..m.updates.min(recent.len()) {
            let at = recent[(k * 7 + g.random_range(0..recent.len())) % recent.len()];
            let r = &mut reviews[at];
            let lang = text::lang(r.language).unwrap_or(&LANGS[0]);
            let when = old + 1 + (k as i64 * 60) % (MUTATION_STEP - 120);
            match (round as usize + k) % 3 {
                0 => {
                    let body = text::choose(&mut g, lang.sentences);
                    r.reply = Some(Reply {
                        id: format!("{}-r", &r.id[..8]),
                        body: body.to_owned(),
                        modified: when,
                    });
                }
                1 => {
                    r.body.push(' ');
                    r.body.push_str(text::choose(&mut g, lang.sentences));
                }
                _ => r.rating = r.rating % 5 + 1,
            }
        }
        let next = reviews.len() as u64;
        for k in 0..m.creations as u64 {
            let created = old + 60 + (new - old - 180) * k as i64 / (m.creations.max(1) as i64);
            reviews.push(generate(seed, next + k, created));
        }
    }
}

/// The public key (uncompressed point) of a `.p8` key's text, when it is one.
pub fn public_key(private_key_pem: &str) -> Option<Vec<u8>> {
    let body: String = private_key_pem.lines().map(str::trim).filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(body).ok()?;
    let rng = ring::rand::SystemRandom::new();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng).ok()?;
    Some(pair.public_key().as_ref().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_key_loads_and_cursors_round_trip() {
        assert_eq!(public_key(SANDBOX_KEY).map(|k| k.len()), Some(65));
        assert_eq!(decode_cursor(&encode_cursor(1_700_000_000, 42)), Some((1_700_000_000, 42)));
        assert_eq!(apple_time(1_510_762_234), "2017-11-15T09:10:34-07:00");
    }

    #[test]
    fn the_official_review_is_the_oldest_and_served_verbatim() {
        let o = AppStoreOptions::new(3, 50);
        let control = Control::new(&o.sim);
        let sim = AppStore::build(o, &control);
        let docs: Value = serde_json::from_str(DOCS_EXAMPLE).unwrap();
        let all = sim.all();
        assert_eq!(all.len(), 51);
        assert_eq!(all[0].id, "00000028-b08c-0014-729e-fbd500000000");
        assert_eq!(sim.resource(&all[0], false, None), docs["data"][0]);
        let truth = sim.ground_truth(&control);
        assert_eq!(truth.stream(STREAM).len(), 51);
        assert!(all.iter().skip(1).all(|r| r.body.len() >= 110 && (1..=5).contains(&r.rating)));
    }
}
