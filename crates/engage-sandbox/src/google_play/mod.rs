//! The Google Play simulator: the Android Publisher API's
//! `GET /androidpublisher/v3/applications/{package}/reviews` with a Bearer access token (the
//! configured one, or one from `POST /token` with the client credentials), `maxResults` (at
//! most 100, default 10), `token` paging through `tokenPagination.nextPageToken` (absent on the
//! last page), `translationLanguage`, the quota of 200 reads per hour per app and Google's
//! error envelope.
//!
//! Route `reviews` (and `token`); ground-truth stream [`STREAM`]. Raw payloads are the review
//! objects as served without `translationLanguage`.
//!
//! Behaviour worth knowing (reviews-email.md §5):
//! - Only reviews whose user comment was modified in the last 7 days (by the simulator clock)
//!   are listed, newest first. Generated reviews are modified within the last `history_hours`
//!   (default 5 days), so a few mutations (an hour each) age none of them out; move the clock
//!   with [`Control::advance`] to see reviews leave the window.
//! - `userComment.text` is the title and the body joined by a tab (no tab when there is no
//!   title); `reviewerLanguage` is absent on about a fifth of the reviews. With
//!   `translationLanguage=xx`, reviews in another language get an English `text` and their own
//!   words in `originalText`.
//! - [`Mutation`]s create reviews, edit reviews (new text, rating and `lastModified`) and add or
//!   change developer replies (`developerComment`, with its own `lastModified`); deletions are
//!   made with [`GooglePlay::delete`].
//! - `docs_examples`: the simulator serves exactly the official list example and then the last
//!   page (`token=12334566`), whatever the clock.
//! - Malformed records: a `lastModified` of `{"seconds": "soon"}` or a `starRating` of 0.
//! - `Date` is the simulator clock.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use serde_json::{Value, json};

use crate::faults::Faults;
use crate::rate::{Admit, RateLimiter};
use crate::rng;
use crate::sim::{Control, MUTATION_STEP, Sim, SimConfig, SimState, Simulator};
use crate::text::{self, LANGS};
use crate::timeline::Mutation;
use crate::truth::{GroundTruth, TruthRecord};

/// A running Google Play simulator.
pub type GooglePlaySim = Sim<GooglePlay>;

/// Route and ground-truth stream.
pub const STREAM: &str = "reviews";
/// Route of the token endpoint.
pub const TOKEN: &str = "token";
/// The official `reviews.list` example (first page, with `nextPageToken` 12334566).
pub const DOCS_LIST: &str = include_str!("../../fixtures/google-play/reviews_list_docs_example.json");
/// The last page that follows it.
pub const DOCS_LAST: &str = include_str!("../../fixtures/google-play/reviews_list_last_page_assembled.json");
/// The official translated `reviews.get` example.
pub const DOCS_TRANSLATED: &str =
    include_str!("../../fixtures/google-play/review_get_translated_docs_example.json");
/// Seconds Play keeps showing a review after its last modification.
pub const VISIBLE_SECS: i64 = 7 * 86_400;

/// Google Play simulator options.
#[derive(Clone, Debug, PartialEq)]
pub struct GooglePlayOptions {
    /// Seed, clock, faults; `records` is the number of generated reviews.
    pub sim: SimConfig,
    /// The package served.
    pub package_name: String,
    /// The access token accepted as is.
    pub access_token: String,
    /// Client id for `POST /token`.
    pub client_id: String,
    /// Client secret for `POST /token`.
    pub client_secret: String,
    /// `reviews.list` reads per hour per app (0 = unlimited); Play's quota is 200.
    pub reads_per_hour: u64,
    /// Hours back from the clock over which generated reviews were last modified.
    pub history_hours: i64,
    /// Serve the official examples instead of generated reviews.
    pub docs_examples: bool,
}

impl Default for GooglePlayOptions {
    fn default() -> Self {
        GooglePlayOptions {
            sim: SimConfig::default(),
            package_name: "com.example.engage".to_owned(),
            access_token: "ya29.sandbox-play-token".to_owned(),
            client_id: "sandbox-play.apps.googleusercontent.com".to_owned(),
            client_secret: "sandbox-play-secret".to_owned(),
            reads_per_hour: 200,
            history_hours: 5 * 24,
            docs_examples: false,
        }
    }
}

impl GooglePlayOptions {
    /// Default options with this seed and number of generated reviews.
    pub fn new(seed: u64, reviews: usize) -> Self {
        let mut o = GooglePlayOptions::default();
        o.sim.seed = seed;
        o.sim.records = reviews;
        o
    }

    /// No quota (for benchmarks).
    pub fn unlimited() -> Self {
        GooglePlayOptions { reads_per_hour: 0, ..GooglePlayOptions::default() }
    }
}

/// A developer reply.
#[derive(Clone, Debug, PartialEq)]
pub struct PlayReply {
    /// Text.
    pub text: String,
    /// `lastModified` seconds.
    pub seconds: i64,
    /// `lastModified` nanos.
    pub nanos: u32,
}

/// One review as the simulator holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct PlayReview {
    /// `reviewId`.
    pub id: String,
    /// ISO 639-1 code of the language it is written in.
    pub language: &'static str,
    /// Whether `reviewerLanguage` is served.
    pub names_language: bool,
    /// `authorName`.
    pub author: String,
    /// Title (before the tab), if any.
    pub title: Option<String>,
    /// Body.
    pub body: String,
    /// 1–5.
    pub rating: u8,
    /// `lastModified` seconds.
    pub seconds: i64,
    /// `lastModified` nanos.
    pub nanos: u32,
    /// The developer's reply.
    pub reply: Option<PlayReply>,
    /// Deleted (no longer served).
    pub deleted: bool,
    /// Index (for malformation decisions).
    pub index: u64,
}

impl PlayReview {
    /// `title\tbody`, or the body alone.
    pub fn text(&self) -> String {
        match &self.title {
            Some(title) => format!("{title}\t{}", self.body),
            None => self.body.clone(),
        }
    }
}

/// The Google Play simulator's state (use it through [`GooglePlaySim`]).
pub struct GooglePlay {
    seed: u64,
    o: GooglePlayOptions,
    limiter: RateLimiter,
    reviews: RwLock<Vec<PlayReview>>,
    tokens: Mutex<HashSet<String>>,
    issued: AtomicU64,
    mutations: AtomicU64,
}

impl std::fmt::Debug for GooglePlay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GooglePlay").field("package", &self.o.package_name).finish_non_exhaustive()
    }
}

fn review_id(seed: u64, index: u64) -> String {
    let h = rng::hash(seed, &[rng::tag(STREAM), index]);
    format!(
        "gp:AOqpTO{}",
        URL_SAFE_NO_PAD.encode(h.to_be_bytes()).replace(['-', '_'], "x") + &format!("{index:x}")
    )
}

/// A generated review modified at `seconds`: an optional title and a body of a couple of
/// sentences from the phrase bank.
pub fn generate(seed: u64, index: u64, seconds: i64) -> PlayReview {
    let h = rng::hash(seed, &[rng::tag("play-review"), index]);
    let lang = text::pick_lang(h);
    let mut r = rng::rng(seed, &[rng::tag("play-review-text"), index]);
    let rating = [5u8, 4, 5, 3, 1, 4, 2, 5][(h >> 8) as usize % 8];
    let good = rating >= 4;
    let title = !(h >> 16).is_multiple_of(3);
    let title =
        title.then(|| text::choose(&mut r, if good { lang.praise } else { lang.complaints }).to_owned());
    let mut body = String::new();
    text::paragraph(&mut r, lang, 110, &mut body);
    body.push(' ');
    body.push_str(text::choose(&mut r, if good { lang.praise } else { lang.complaints }));
    PlayReview {
        id: review_id(seed, index),
        language: lang.code,
        names_language: !(h >> 24).is_multiple_of(5),
        author: lang.names[r.random_range(0..lang.names.len())].0.to_owned(),
        title,
        body,
        rating,
        seconds,
        nanos: ((h >> 32) % 1_000) as u32 * 1_000_000,
        reply: None,
        deleted: false,
        index,
    }
}

fn google_error(status: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({ "error": { "code": status.as_u16(), "message": message, "status": reason,
        "errors": [{ "message": message, "domain": "global", "reason": reason.to_ascii_lowercase() }] } });
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=UTF-8"))],
        body.to_string(),
    )
        .into_response()
}

fn json_ok(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=UTF-8"))],
        body,
    )
        .into_response()
}

fn time(seconds: i64, nanos: u32) -> Value {
    json!({ "seconds": seconds.to_string(), "nanos": nanos })
}

impl GooglePlay {
    fn reviews(&self) -> std::sync::RwLockReadGuard<'_, Vec<PlayReview>> {
        self.reviews.read().unwrap_or_else(|e| e.into_inner())
    }

    /// A snapshot of every review (deleted ones included).
    pub fn all(&self) -> Vec<PlayReview> {
        self.reviews().clone()
    }

    /// The package served.
    pub fn package_name(&self) -> &str {
        &self.o.package_name
    }

    /// Adds (or replaces) the developer reply of review `id`, dated `at`. False if unknown.
    pub fn reply(&self, id: &str, text: &str, at: i64) -> bool {
        let mut reviews = self.reviews.write().unwrap_or_else(|e| e.into_inner());
        let Some(r) = reviews.iter_mut().find(|r| r.id == id) else { return false };
        r.reply = Some(PlayReply { text: text.to_owned(), seconds: at, nanos: 500_000_000 });
        true
    }

    /// Deletes review `id` (it is no longer served). False if unknown.
    pub fn delete(&self, id: &str) -> bool {
        let mut reviews = self.reviews.write().unwrap_or_else(|e| e.into_inner());
        let Some(r) = reviews.iter_mut().find(|r| r.id == id) else { return false };
        r.deleted = true;
        true
    }

    /// How many reviews a listing shows now.
    pub fn visible(&self, control: &Control) -> usize {
        let now = control.now();
        self.reviews().iter().filter(|r| !r.deleted && r.seconds >= now - VISIBLE_SECS).count()
    }

    fn malformation(&self, control: &Control, r: &PlayReview) -> Option<u8> {
        control.faults(STREAM).malformation(self.seed, STREAM, r.index)
    }

    /// Review `r` as served (`translate`: the requested translation language).
    fn resource(&self, r: &PlayReview, translate: Option<&str>, malformation: Option<u8>) -> Value {
        let mut user = serde_json::Map::new();
        let translated = translate.is_some_and(|t| !t.eq_ignore_ascii_case(r.language));
        if translated {
            let mut g = rng::rng(self.seed, &[rng::tag("play-translation"), r.index]);
            let mut english = String::new();
            text::paragraph(&mut g, &LANGS[0], 60, &mut english);
            user.insert("text".into(), Value::String(english));
        } else {
            user.insert("text".into(), Value::String(r.text()));
        }
        user.insert(
            "lastModified".into(),
            if malformation == Some(0) {
                json!({ "seconds": "soon", "nanos": 0 })
            } else {
                time(r.seconds, r.nanos)
            },
        );
        user.insert("starRating".into(), json!(if malformation == Some(1) { 0 } else { r.rating }));
        if r.names_language {
            user.insert("reviewerLanguage".into(), Value::String(r.language.to_owned()));
        }
        let h = rng::hash(self.seed, &[rng::tag("play-device"), r.index]);
        user.insert(
            "device".into(),
            Value::String(["a15", "husky", "dm3q", "OP5958L1"][(h % 4) as usize].to_owned()),
        );
        user.insert("androidOsVersion".into(), json!(30 + (h >> 8) % 5));
        user.insert("appVersionCode".into(), json!(120 + (h >> 16) % 7));
        user.insert("appVersionName".into(), json!(format!("1.{}.0", 20 + (h >> 16) % 7)));
        user.insert("thumbsUpCount".into(), json!((h >> 24) % 12));
        user.insert("thumbsDownCount".into(), json!((h >> 28) % 3));
        if translated {
            user.insert("originalText".into(), Value::String(r.text()));
        }
        let mut comments = vec![json!({ "userComment": Value::Object(user) })];
        if let Some(reply) = &r.reply {
            comments.push(json!({ "developerComment": { "text": reply.text, "lastModified": time(reply.seconds, reply.nanos) } }));
        }
        json!({ "reviewId": r.id, "authorName": r.author, "comments": comments })
    }

    fn date(&self, control: &Control) -> HeaderValue {
        let text = chrono::DateTime::from_timestamp(control.now(), 0)
            .map(|t| t.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
            .unwrap_or_default();
        HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"))
    }
}

fn encode_token(seconds: i64, index: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{seconds}:{index}"))
}

fn decode_token(token: &str) -> Option<(i64, u64)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    let (a, b) = text.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

async fn list(
    State(state): State<Arc<SimState<GooglePlay>>>,
    Path(package): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let sim = &state.sim;
    if package != sim.o.package_name {
        return google_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "No application was found for the given package name.",
        );
    }
    let max = match q.get("maxResults").map(|m| m.parse::<usize>()) {
        None => 10,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => {
            return google_error(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                "Invalid value for maxResults.",
            );
        }
    };
    if sim.o.docs_examples {
        return match q.get("token").map(String::as_str) {
            None => json_ok(DOCS_LIST.to_owned()),
            Some("12334566") => json_ok(DOCS_LAST.to_owned()),
            Some(_) => google_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", "Invalid pagination token."),
        };
    }
    let after = match q.get("token") {
        Some(t) => match decode_token(t) {
            Some(p) => Some(p),
            None => {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_ARGUMENT",
                    "Invalid pagination token.",
                );
            }
        },
        None => None,
    };
    let now = state.control.now();
    let reviews = sim.reviews();
    let mut shown: Vec<&PlayReview> =
        reviews.iter().filter(|r| !r.deleted && r.seconds >= now - VISIBLE_SECS).collect();
    shown.sort_by_key(|r| std::cmp::Reverse((r.seconds, r.index)));
    let start = match after {
        None => 0,
        Some(p) => shown.iter().position(|r| (r.seconds, r.index) < p).unwrap_or(shown.len()),
    };
    let page: Vec<&PlayReview> = shown.iter().skip(start).take(max).copied().collect();
    let more = start + page.len() < shown.len();
    let translate = q.get("translationLanguage").map(String::as_str);
    let items: Vec<Value> =
        page.iter().map(|r| sim.resource(r, translate, sim.malformation(&state.control, r))).collect();
    let mut body = json!({ "reviews": items });
    if more && let Some(last) = page.last() {
        body["tokenPagination"] = json!({ "nextPageToken": encode_token(last.seconds, last.index) });
    }
    body["pageInfo"] = json!({ "totalResults": shown.len(), "resultPerPage": max, "startIndex": start });
    drop(reviews);
    let mut resp = json_ok(body.to_string());
    resp.headers_mut().insert(header::DATE, sim.date(&state.control));
    resp
}

async fn token(State(state): State<Arc<SimState<GooglePlay>>>, body: Bytes) -> Response {
    let sim = &state.sim;
    let form: HashMap<String, String> = String::from_utf8_lossy(&body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace('+', " ")))
        .collect();
    let decoded = |k: &str| form.get(k).map(|v| percent_decode(v));
    if decoded("grant_type").as_deref() != Some("client_credentials")
        || decoded("client_id").as_deref() != Some(sim.o.client_id.as_str())
        || decoded("client_secret").as_deref() != Some(sim.o.client_secret.as_str())
    {
        let body =
            json!({ "error": "invalid_client", "error_description": "The OAuth client was not found." });
        return (StatusCode::UNAUTHORIZED, [(header::CONTENT_TYPE, "application/json")], body.to_string())
            .into_response();
    }
    let n = sim.issued.fetch_add(1, Ordering::SeqCst) + 1;
    let token = format!("ya29.sandbox-{:016x}", rng::hash(sim.seed, &[n, 0x70CE]));
    sim.tokens.lock().unwrap_or_else(|e| e.into_inner()).insert(token.clone());
    json_ok(json!({ "access_token": token, "expires_in": 3599, "token_type": "Bearer" }).to_string())
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = text.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn not_found() -> Response {
    google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "The requested URL was not found on this server.")
}

impl Simulator for GooglePlay {
    type Options = GooglePlayOptions;
    const NAME: &'static str = "google_play";
    const ROUTES: &'static [&'static str] = &[STREAM, TOKEN];

    fn config(options: &GooglePlayOptions) -> &SimConfig {
        &options.sim
    }

    fn build(o: GooglePlayOptions, control: &Control) -> Self {
        let now = control.now();
        let seed = o.sim.seed;
        let mut reviews = Vec::new();
        if !o.docs_examples {
            let n = o.sim.records as i64;
            let (from, to) = (now - o.history_hours.max(1) * 3_600, now - 600);
            for i in 0..n {
                let seconds = from + (to - from) * i / n.max(1);
                let mut r = generate(seed, i as u64, seconds);
                let h = rng::hash(seed, &[rng::tag("play-reply"), i as u64]);
                if h.is_multiple_of(4) {
                    let lang = text::lang(r.language).unwrap_or(&LANGS[0]);
                    let mut g = rng::rng(seed, &[rng::tag("play-reply-text"), i as u64]);
                    r.reply = Some(PlayReply {
                        text: text::choose(&mut g, lang.sentences).to_owned(),
                        seconds: (seconds + 7_200).min(now - 60),
                        nanos: 0,
                    });
                }
                reviews.push(r);
            }
        }
        GooglePlay {
            seed,
            limiter: RateLimiter::new(Duration::from_secs(3_600)),
            reviews: RwLock::new(reviews),
            tokens: Mutex::new(HashSet::new()),
            issued: AtomicU64::new(0),
            mutations: AtomicU64::new(0),
            o,
        }
    }

    fn route_of(path: &str) -> Option<&'static str> {
        if path == "/token" {
            return Some(TOKEN);
        }
        (path.starts_with("/androidpublisher/v3/applications/")
            && path.trim_end_matches('/').ends_with("/reviews"))
        .then_some(STREAM)
    }

    fn router(state: Arc<SimState<Self>>) -> Router {
        Router::new()
            .route("/androidpublisher/v3/applications/{package}/reviews", get(list))
            .route("/token", post(token))
            .fallback(not_found)
            .with_state(state)
    }

    fn authenticate(&self, parts: &Parts) -> Result<String, Box<Response>> {
        if parts.uri.path() == "/token" {
            return Ok(TOKEN.to_owned());
        }
        let ok = crate::credentials::bearer(parts).is_some_and(|t| {
            t == self.o.access_token || self.tokens.lock().unwrap_or_else(|e| e.into_inner()).contains(t)
        });
        if ok {
            Ok(self.o.package_name.clone())
        } else {
            Err(Box::new(self.error_response(StatusCode::UNAUTHORIZED)))
        }
    }

    fn admit(&self, route: &'static str, account: &str, faults: &Faults) -> Result<HeaderMap, Box<Response>> {
        let headers = HeaderMap::new();
        if route == TOKEN {
            return Ok(headers);
        }
        if let Admit::Limited { retry_after } = self.limiter.admit(account, route, self.o.reads_per_hour) {
            let mut resp = google_error(
                StatusCode::TOO_MANY_REQUESTS,
                "RESOURCE_EXHAUSTED",
                "Quota exceeded for quota metric 'Get requests' and limit 'Get requests per hour per app' of service 'androidpublisher.googleapis.com'.",
            );
            if faults.throttle_retry_after.is_some() {
                resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            return Err(Box::new(resp));
        }
        Ok(headers)
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
            404 => google_error(status, "NOT_FOUND", "The requested URL was not found on this server."),
            _ => google_error(status, "INTERNAL", "Internal error encountered."),
        }
    }

    fn throttle_response(&self, retry_after: Option<u64>) -> Response {
        let mut resp =
            google_error(StatusCode::TOO_MANY_REQUESTS, "RESOURCE_EXHAUSTED", "Rate Limit Exceeded");
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }

    fn ground_truth(&self, control: &Control) -> GroundTruth {
        let mut truth = GroundTruth::default();
        if self.o.docs_examples {
            for page in [DOCS_LIST, DOCS_LAST] {
                let doc: Value = serde_json::from_str(page).unwrap_or(Value::Null);
                for r in doc["reviews"].as_array().into_iter().flatten() {
                    let id = r["reviewId"].as_str().unwrap_or_default().to_owned();
                    truth.insert(STREAM, id, TruthRecord { raw: r.clone(), deleted: false }, false);
                }
            }
            return truth;
        }
        for r in self.reviews().iter() {
            let malformation = self.malformation(control, r);
            let raw = self.resource(r, None, malformation);
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
        let round = self.mutations.fetch_add(1, Ordering::SeqCst) + 1;
        let mut reviews = self.reviews.write().unwrap_or_else(|e| e.into_inner());
        let live: Vec<usize> = reviews
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.deleted && r.seconds >= old - VISIBLE_SECS + 86_400)
            .map(|(i, _)| i)
            .collect();
        let mut g = rng::rng(seed, &[rng::tag("play-mutate"), round]);
        for k in 0..m.updates.min(live.len()) {
            let at = live[(k * 7 + g.random_range(0..live.len())) % live.len()];
            let when = old + 1 + (k as i64 * 60) % (MUTATION_STEP - 120);
            let r = &mut reviews[at];
            let lang = text::lang(r.language).unwrap_or(&LANGS[0]);
            if (round as usize + k).is_multiple_of(2) {
                let body = text::choose(&mut g, lang.sentences).to_owned();
                r.reply = Some(PlayReply { text: body, seconds: when, nanos: 250_000_000 });
            } else {
                r.body.push(' ');
                r.body.push_str(text::choose(&mut g, lang.sentences));
                r.rating = r.rating % 5 + 1;
                r.seconds = when;
            }
        }
        let next = reviews.len() as u64;
        for k in 0..m.creations as u64 {
            let seconds = old + 60 + (new - old - 180) * k as i64 / (m.creations.max(1) as i64);
            reviews.push(generate(seed, next + k, seconds));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_texts_join_with_a_tab() {
        assert_eq!(decode_token(&encode_token(1_700_000_000, 9)), Some((1_700_000_000, 9)));
        let r = generate(3, 4, 1_700_000_000);
        assert_eq!(r.text().split_once('\t').is_some(), r.title.is_some());
        assert!(r.body.len() >= 110);
        assert_eq!(percent_decode("a%20b%2Fc"), "a b/c");
    }

    #[test]
    fn only_the_last_seven_days_are_visible() {
        let o = GooglePlayOptions::new(3, 40);
        let control = Control::new(&o.sim);
        let sim = GooglePlay::build(o, &control);
        assert_eq!(sim.visible(&control), 40);
        control.advance(3 * 86_400);
        let left = sim.visible(&control);
        assert!(left > 0 && left < 40, "{left}");
        control.advance(5 * 86_400);
        assert_eq!(sim.visible(&control), 0);
    }
}
