//! The Klaviyo simulator: JSON:API `GET /api/events`, `GET /api/metrics` and `GET /api/profiles`
//! with `Authorization: Klaviyo-API-Key …`, the required `revision` header, cursor pagination
//! through `links.next`, the `filter` expressions on `datetime`/`updated`, and the burst and
//! steady rate limits of each endpoint with `RateLimit-*` headers and `Retry-After` on 429.
//!
//! Routes: `events`, `metrics`, `profiles`. Ground truth has two streams: [`EVENTS`] (the events
//! of the email metrics — other metrics' events, such as "Placed Order", are served but are not
//! email events) and [`PROFILES`]. Raw payloads are the JSON:API resource objects as served.
//!
//! Behaviour worth knowing (reviews-email.md §8):
//! - A request without `revision` (or with one that is not a known `YYYY-MM-DD` revision) is a
//!   400. `page[size]` is at most 1000 for events (default 200) and 100 for profiles (default 20).
//! - `filter=greater-or-equal(datetime,2024-01-01T00:00:00+00:00)` (also `greater-than`,
//!   `less-than`, `less-or-equal`) on events, `greater-than(updated,…)`/`less-than` on profiles;
//!   datetimes must be unquoted. A `+` left unencoded in the offset (as in Klaviyo's own next
//!   links) arrives as a space and is accepted.
//! - `links.next` is a full URL carrying `page%5Bcursor%5D=…`, `null` on the last page.
//! - Events carry both `timestamp` (Unix seconds) and `datetime` (ISO 8601 with `+00:00`).
//! - Events are append-only: a [`Mutation`] creates events (updates and deletions do not apply);
//!   profiles are updated and created, never deleted.
//! - Malformed records (see [`Faults::malformed_rate`]): an event with `"datetime": "not a date"`
//!   or without its metric relationship; a profile with `"updated": "not a date"`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::faults::Faults;
use crate::rate::{Admit, RateLimiter};
use crate::rng;
use crate::sim::{Control, MUTATION_STEP, Sim, SimConfig, SimState, Simulator};
use crate::timeline::{Mutation, Pos, Start, Timeline};
use crate::truth::{GroundTruth, TruthRecord};

/// A running Klaviyo simulator.
pub type KlaviyoSim = Sim<Klaviyo>;

/// Route and ground-truth stream of events (email metrics only in the truth).
pub const EVENTS: &str = "events";
/// Route of metrics.
pub const METRICS: &str = "metrics";
/// Route and ground-truth stream of profiles.
pub const PROFILES: &str = "profiles";
/// The oldest revision the simulator accepts.
pub const OLDEST_REVISION: &str = "2023-02-22";
/// The newest revision the simulator knows.
pub const NEWEST_REVISION: &str = "2026-07-15";

/// The official events page 1.
pub const EVENTS_PAGE_1: &str = include_str!("../../fixtures/klaviyo/get_events_page1_assembled.json");
/// The official events page 2 (the last).
pub const EVENTS_PAGE_2: &str = include_str!("../../fixtures/klaviyo/get_events_page2_last_assembled.json");
/// The 'Get Events' docs example with included metric, profile and attributions.
pub const EVENTS_DOCS_EXAMPLE: &str =
    include_str!("../../fixtures/klaviyo/get_events_include_metric_profile_attributions_docs_example.json");

/// The metrics of every dataset: (id, name, email metric).
pub const METRIC_LIST: [(&str, &str, bool); 8] = [
    ("VFFb4u", "Clicked Email", true),
    ("RcvEml", "Received Email", true),
    ("OpnEml", "Opened Email", true),
    ("BncEml", "Bounced Email", true),
    ("DrpEml", "Dropped Email", true),
    ("SpmEml", "Marked Email as Spam", true),
    ("UnsEml", "Unsubscribed", true),
    ("PlcOrd", "Placed Order", false),
];

const JSONAPI: &str = "application/vnd.api+json";

/// Klaviyo simulator options.
#[derive(Clone, Debug, PartialEq)]
pub struct KlaviyoOptions {
    /// Seed, clock, faults; `records` is the number of generated events.
    pub sim: SimConfig,
    /// The private API key accepted (`Klaviyo-API-Key <key>`).
    pub api_key: String,
    /// Burst and steady limits (per second, per minute) of events; 0 = unlimited.
    pub events_limits: (u64, u64),
    /// Burst and steady limits of metrics.
    pub metrics_limits: (u64, u64),
    /// Burst and steady limits of profiles.
    pub profiles_limits: (u64, u64),
}

impl Default for KlaviyoOptions {
    fn default() -> Self {
        KlaviyoOptions {
            sim: SimConfig::default(),
            api_key: "pk_sandbox_0123456789abcdef".to_owned(),
            events_limits: (350, 3_500),
            metrics_limits: (10, 150),
            profiles_limits: (75, 750),
        }
    }
}

impl KlaviyoOptions {
    /// Default options with this seed and number of generated events.
    pub fn new(seed: u64, events: usize) -> Self {
        let mut o = KlaviyoOptions::default();
        o.sim.seed = seed;
        o.sim.records = events;
        o
    }

    /// No rate limits (for benchmarks).
    pub fn unlimited() -> Self {
        KlaviyoOptions {
            events_limits: (0, 0),
            metrics_limits: (0, 0),
            profiles_limits: (0, 0),
            ..KlaviyoOptions::default()
        }
    }
}

/// `2021-05-17T23:43:28+00:00`, Klaviyo's datetime form.
pub fn kl_time(unix: i64) -> String {
    let mut text = crate::time::Ts(unix).to_rfc3339();
    text.pop();
    text.push_str("+00:00");
    text
}

struct Data {
    events: Timeline,
    profiles: Timeline,
}

/// The Klaviyo simulator's state (use it through [`KlaviyoSim`]).
pub struct Klaviyo {
    seed: u64,
    api_key: String,
    limits: HashMap<&'static str, (u64, u64)>,
    burst: RateLimiter,
    steady: RateLimiter,
    fixed_events: Vec<Value>,
    fixed_profile: Value,
    /// Profile ids referenced by the official events (given generated attributes).
    fixed_refs: Vec<String>,
    data: RwLock<Data>,
    born: i64,
    /// Profiles before any mutation (events name one of them).
    base_profiles: u64,
}

impl std::fmt::Debug for Klaviyo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Klaviyo").finish_non_exhaustive()
    }
}

fn fixture_list(json: &str, key: &str) -> Vec<Value> {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(mut map)) => match map.remove(key) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

fn parse_time(text: &str) -> Option<i64> {
    // Klaviyo's own next links leave the offset's `+` unencoded: it arrives as a space.
    let text = text.trim();
    let fixed = match text.len().checked_sub(6) {
        Some(i) if text.as_bytes().get(i) == Some(&b' ') => format!("{}+{}", &text[..i], &text[i + 1..]),
        _ => text.to_owned(),
    };
    chrono::DateTime::parse_from_rfc3339(&fixed).ok().map(|t| t.timestamp())
}

/// A ULID-looking id from a number (Crockford base 32, 26 characters).
fn ulid(n: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let (a, b) = (rng::mix(n), rng::mix(n ^ 0x5151));
    let mut out = String::from("01J");
    for i in 0..23 {
        let bits = if i < 12 { a >> (i * 5) } else { b >> ((i - 12) * 5) };
        out.push(ALPHABET[(bits & 31) as usize] as char);
    }
    out
}

fn event_id(n: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut h = rng::mix(n ^ 0xE7E7);
    let mut out = String::from("4");
    for _ in 0..7 {
        out.push(ALPHABET[(h % 62) as usize] as char);
        h /= 62;
    }
    out
}

/// A filter `op(field,value)`: (op, field, value).
fn parse_filter(filter: &str) -> Option<(&str, &str, &str)> {
    let (op, rest) = filter.trim().split_once('(')?;
    let inner = rest.strip_suffix(')')?;
    let (field, value) = inner.split_once(',')?;
    Some((op.trim(), field.trim(), value.trim()))
}

fn error_body(status: StatusCode, code: &str, title: &str, detail: &str) -> Response {
    let body = json!({ "errors": [{
        "id": format!("{:08x}-0000-4000-8000-{:012x}", rng::tag(detail) as u32, rng::tag(code) & 0xffff_ffff_ffff),
        "status": status.as_u16(),
        "code": code,
        "title": title,
        "detail": detail,
        "source": { "pointer": "/data/" },
        "meta": {}
    }]});
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(JSONAPI))], body.to_string()).into_response()
}

fn bad(detail: &str) -> Response {
    error_body(StatusCode::BAD_REQUEST, "invalid", "Invalid input.", detail)
}

fn ok(body: &Value) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, HeaderValue::from_static(JSONAPI))], body.to_string())
        .into_response()
}

fn encode_cursor(p: Pos) -> String {
    URL_SAFE_NO_PAD.encode(format!("next::{}::{}", p.time, p.index))
}

fn decode_cursor(c: &str) -> Option<Pos> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(c.trim_end_matches('=')).ok()?).ok()?;
    let mut parts = text.strip_prefix("next::")?.split("::");
    Some(Pos { time: parts.next()?.parse().ok()?, index: parts.next()?.parse().ok()? })
}

fn encode_query(pairs: &[(&str, String)]) -> String {
    let mut out = url_encoded(pairs);
    out.insert(0, '?');
    out
}

fn url_encoded(pairs: &[(&str, String)]) -> String {
    let enc = |s: &str| {
        let mut o = String::new();
        for b in s.bytes() {
            match b {
                b'A'..=b'Z'
                | b'a'..=b'z'
                | b'0'..=b'9'
                | b'-'
                | b'_'
                | b'.'
                | b'~'
                | b'('
                | b')'
                | b','
                | b':' => o.push(b as char),
                _ => o.push_str(&format!("%{b:02X}")),
            }
        }
        o
    };
    pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

impl Klaviyo {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Data> {
        self.data.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The id of profile `index`.
    fn profile_id(&self, index: u64) -> String {
        match index {
            0 => "01GDDKASAP8TKDDA2GRZDSVP4H".to_owned(),
            i if (i as usize) <= self.fixed_refs.len() => self.fixed_refs[i as usize - 1].clone(),
            i => ulid(rng::hash(self.seed, &[rng::tag(PROFILES), i])),
        }
    }

    fn profile(&self, index: u64, v: &crate::timeline::Version, malformed: bool) -> Value {
        if index == 0 {
            return self.fixed_profile.clone();
        }
        let id = self.profile_id(index);
        let person = rng::hash(self.seed, &[rng::tag("person"), index]);
        let first =
            ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Radia", "Donald"][(person % 8) as usize];
        let last = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Perlman", "Knuth"]
            [((person >> 8) % 8) as usize];
        let phone = person.is_multiple_of(3).then(|| format!("+1555{:07}", person % 10_000_000));
        json!({
            "type": "profile",
            "id": id,
            "attributes": {
                "email": format!("{}.{}{}@example.com", first.to_lowercase(), last.to_lowercase(), index),
                "phone_number": phone,
                "external_id": null,
                "first_name": first,
                "last_name": if v.revision > 0 { format!("{last}-{}", v.revision) } else { last.to_owned() },
                "organization": null,
                "locale": "en-US",
                "title": null,
                "image": null,
                "created": kl_time(v.born),
                "updated": if malformed { "not a date".to_owned() } else { kl_time(v.time) },
                "last_event_date": null,
                "location": { "city": "Boston", "country": "United States", "region": "MA", "zip": "02110", "timezone": "America/New_York" },
                "properties": {}
            },
            "links": { "self": format!("https://a.klaviyo.com/api/profiles/{id}/") }
        })
    }

    /// Event `index` as served, and whether its metric is an email metric.
    fn event(
        &self,
        index: u64,
        v: &crate::timeline::Version,
        malformation: Option<u8>,
        profiles: u64,
    ) -> (Value, bool) {
        if let Some(e) = self.fixed_events.get(index as usize) {
            return (e.clone(), true);
        }
        let h = rng::hash(self.seed, &[rng::tag(EVENTS), index]);
        let (metric_id, name, email) = METRIC_LIST[match h % 20 {
            0..=5 => 1,
            6..=10 => 2,
            11..=13 => 0,
            14 => 3,
            15 => 4,
            16 => 5,
            17 => 6,
            _ => 7,
        }];
        let profile = self.profile_id((h >> 16) % profiles.max(1));
        let id = event_id(rng::hash(self.seed, &[rng::tag("event_id"), index]));
        let campaign = format!("01JCAMP{:019}", (h >> 24) % 12);
        let mut props = json!({
            "$event_id": format!("{}", v.time),
            "$message": campaign,
            "Campaign Name": format!("Campaign {}", (h >> 24) % 12),
            "Subject": "News from the sandbox",
            "Email Domain": "example.com"
        });
        match name {
            "Clicked Email" => props["URL"] = json!("https://example.com/sale"),
            "Opened Email" => props["machine_open"] = json!(h & 0x300 == 0),
            "Bounced Email" => props["Bounce Type"] = json!(if h & 0x400 == 0 { "hard" } else { "soft" }),
            "Placed Order" => {
                props = json!({ "$event_id": format!("order-{index}"), "$value": (h % 20_000) as f64 / 100.0, "ItemNames": ["Widget"] })
            }
            _ => {}
        }
        let datetime = if malformation == Some(0) { "not a date".to_owned() } else { kl_time(v.time) };
        let mut relationships = json!({
            "profile": {
                "data": { "type": "profile", "id": profile },
                "links": {
                    "self": format!("https://a.klaviyo.com/api/events/{id}/relationships/profile/"),
                    "related": format!("https://a.klaviyo.com/api/events/{id}/profile/")
                }
            },
            "metric": {
                "data": { "type": "metric", "id": metric_id },
                "links": {
                    "self": format!("https://a.klaviyo.com/api/events/{id}/relationships/metric/"),
                    "related": format!("https://a.klaviyo.com/api/events/{id}/metric/")
                }
            }
        });
        if malformation == Some(1)
            && let Some(map) = relationships.as_object_mut()
        {
            map.remove("metric");
        }
        let uuid = format!(
            "{:08x}-{:04x}-11ef-8001-{:012x}",
            h as u32,
            (h >> 32) as u16,
            rng::mix(h) & 0xffff_ffff_ffff
        );
        let event = json!({
            "type": "event",
            "id": id,
            "attributes": {
                "timestamp": v.time,
                "event_properties": props,
                "datetime": datetime,
                "uuid": uuid
            },
            "relationships": relationships,
            "links": { "self": format!("https://a.klaviyo.com/api/events/{id}/") }
        });
        (event, email)
    }

    fn malformation(&self, control: &Control, stream: &str, index: u64, fixed: u64) -> Option<u8> {
        if index < fixed { None } else { control.faults(stream).malformation(control.seed(), stream, index) }
    }

    fn limit_for(&self, route: &str) -> (u64, u64) {
        self.limits.get(route).copied().unwrap_or((0, 0))
    }
}

/// `revision` must be present and a known revision.
fn check_revision(headers: &HeaderMap) -> Result<(), Box<Response>> {
    let Some(revision) = headers.get("revision").and_then(|v| v.to_str().ok()) else {
        return Err(Box::new(bad("Missing required header: revision.")));
    };
    let date = revision.split('.').next().unwrap_or("");
    let valid = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok();
    if !valid || !(OLDEST_REVISION..=NEWEST_REVISION).contains(&date) {
        return Err(Box::new(bad(&format!("Invalid revision: {revision}."))));
    }
    Ok(())
}

fn page_size(q: &HashMap<String, String>, default: usize, max: usize) -> Result<usize, Box<Response>> {
    match q.get("page[size]").map(|s| s.parse::<usize>()) {
        None => Ok(default),
        Some(Ok(n)) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(Box::new(bad(&format!("page[size] must be an integer between 1 and {max}.")))),
    }
}

/// The time bounds of a `filter` on `field`: (start, end inclusive).
fn time_bounds(
    q: &HashMap<String, String>,
    field: &str,
    ops: &[&str],
) -> Result<(Start, Option<i64>), Box<Response>> {
    let Some(filter) = q.get("filter").filter(|f| !f.is_empty()) else {
        return Ok((Start::Time(i64::MIN), None));
    };
    let mut start = Start::Time(i64::MIN);
    let mut end = None;
    for part in filter.split("),").map(|p| if p.ends_with(')') { p.to_owned() } else { format!("{p})") }) {
        let part = part.trim_start_matches("and(");
        let Some((op, f, value)) = parse_filter(part) else {
            return Err(Box::new(bad(&format!("Invalid filter: {filter}"))));
        };
        if f != field || !ops.contains(&op) {
            return Err(Box::new(bad(&format!("Filter operation {op} is not allowed for field {f}."))));
        }
        if value.starts_with('"') || value.starts_with('\'') {
            return Err(Box::new(bad("Datetime values in filters must not be quoted.")));
        }
        let Some(t) = parse_time(value) else {
            return Err(Box::new(bad(&format!("Invalid datetime: {value}"))));
        };
        match op {
            "greater-or-equal" => start = Start::Time(t),
            "greater-than" => start = Start::Time(t + 1),
            "less-or-equal" => end = Some(t),
            "less-than" => end = Some(t - 1),
            _ => return Err(Box::new(bad(&format!("Invalid filter operation: {op}")))),
        }
    }
    Ok((start, end))
}

async fn events(
    State(state): State<Arc<SimState<Klaviyo>>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(resp) = check_revision(&headers) {
        return *resp;
    }
    let k = &state.sim;
    let size = match page_size(&q, 200, 1_000) {
        Ok(n) => n,
        Err(resp) => return *resp,
    };
    let (mut start, end) = match time_bounds(
        &q,
        "datetime",
        &["greater-or-equal", "greater-than", "less-or-equal", "less-than"],
    ) {
        Ok(b) => b,
        Err(resp) => return *resp,
    };
    if let Some(cursor) = q.get("page[cursor]") {
        match decode_cursor(cursor) {
            Some(p) => start = Start::After(p),
            None => return bad("Invalid page cursor."),
        }
    }
    match q.get("sort").map(String::as_str) {
        None | Some("datetime") | Some("timestamp") => {}
        Some(other) => return bad(&format!("Sort by {other} is not supported by the sandbox.")),
    }
    let data = k.read();
    let fixed = k.fixed_events.len() as u64;
    let scan = data.events.scan(start, end, size, |_, _| true);
    let items: Vec<Value> = scan
        .items
        .iter()
        .map(|(i, v)| k.event(*i, v, k.malformation(&state.control, EVENTS, *i, fixed), k.base_profiles).0)
        .collect();
    drop(data);
    let mut base: Vec<(&str, String)> = Vec::new();
    for key in ["filter", "sort", "page[size]"] {
        if let Some(v) = q.get(key) {
            base.push((key, v.clone()));
        }
    }
    let url = |extra: Option<String>| {
        let mut pairs = base.clone();
        if let Some(c) = extra {
            pairs.push(("page[cursor]", c));
        }
        format!("{}/api/events{}", state.base_url, encode_query(&pairs))
    };
    let next = scan.last.filter(|_| scan.more).map(|p| url(Some(encode_cursor(p))));
    ok(
        &json!({ "data": items, "links": { "self": url(q.get("page[cursor]").cloned()), "next": next, "prev": null } }),
    )
}

async fn metrics(State(state): State<Arc<SimState<Klaviyo>>>, headers: HeaderMap) -> Response {
    if let Err(resp) = check_revision(&headers) {
        return *resp;
    }
    let created = kl_time(state.sim.born - 400 * 86_400);
    let data: Vec<Value> = METRIC_LIST
        .iter()
        .map(|(id, name, email)| {
            json!({
                "type": "metric",
                "id": id,
                "attributes": {
                    "name": name,
                    "created": created,
                    "updated": created,
                    "integration": if *email {
                        json!({ "object": "integration", "id": "0rG4eQ", "key": "klaviyo", "name": "Klaviyo", "category": "Internal" })
                    } else {
                        json!({ "object": "integration", "id": "7FtS4J", "key": "shopify", "name": "Shopify", "category": "eCommerce" })
                    }
                },
                "links": { "self": format!("https://a.klaviyo.com/api/metrics/{id}/") }
            })
        })
        .collect();
    let self_url = format!("{}/api/metrics", state.base_url);
    ok(&json!({ "data": data, "links": { "self": self_url, "next": null, "prev": null } }))
}

async fn profiles(
    State(state): State<Arc<SimState<Klaviyo>>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(resp) = check_revision(&headers) {
        return *resp;
    }
    let k = &state.sim;
    let size = match page_size(&q, 20, 100) {
        Ok(n) => n,
        Err(resp) => return *resp,
    };
    let (mut start, end) = match time_bounds(&q, "updated", &["greater-than", "less-than"]) {
        Ok(b) => b,
        Err(resp) => return *resp,
    };
    if let Some(cursor) = q.get("page[cursor]") {
        match decode_cursor(cursor) {
            Some(p) => start = Start::After(p),
            None => return bad("Invalid page cursor."),
        }
    }
    match q.get("sort").map(String::as_str) {
        None | Some("updated") => {}
        Some(other) => return bad(&format!("Sort by {other} is not supported by the sandbox.")),
    }
    let data = k.read();
    let scan = data.profiles.scan(start, end, size, |_, _| true);
    let items: Vec<Value> = scan
        .items
        .iter()
        .map(|(i, v)| k.profile(*i, v, k.malformation(&state.control, PROFILES, *i, 1).is_some()))
        .collect();
    drop(data);
    let mut pairs: Vec<(&str, String)> = Vec::new();
    for key in ["filter", "sort", "page[size]"] {
        if let Some(v) = q.get(key) {
            pairs.push((key, v.clone()));
        }
    }
    let next = scan.last.filter(|_| scan.more).map(|p| {
        let mut pairs = pairs.clone();
        pairs.push(("page[cursor]", encode_cursor(p)));
        format!("{}/api/profiles{}", state.base_url, encode_query(&pairs))
    });
    ok(
        &json!({ "data": items, "links": { "self": format!("{}/api/profiles", state.base_url), "next": next, "prev": null } }),
    )
}

async fn not_found() -> Response {
    error_body(StatusCode::NOT_FOUND, "not_found", "Not found.", "The requested resource was not found.")
}

impl Simulator for Klaviyo {
    type Options = KlaviyoOptions;
    const NAME: &'static str = "klaviyo";
    const ROUTES: &'static [&'static str] = &[EVENTS, METRICS, PROFILES];

    fn config(options: &KlaviyoOptions) -> &SimConfig {
        &options.sim
    }

    fn build(o: KlaviyoOptions, control: &Control) -> Self {
        let now = control.now();
        let mut fixed_events = fixture_list(EVENTS_PAGE_1, "data");
        fixed_events.extend(fixture_list(EVENTS_PAGE_2, "data"));
        let fixed_times: Vec<i64> = fixed_events
            .iter()
            .map(|e| e.pointer("/attributes/timestamp").and_then(Value::as_i64).unwrap_or(0))
            .collect();
        let mut fixed_refs: Vec<String> = Vec::new();
        for e in &fixed_events {
            if let Some(id) = e.pointer("/relationships/profile/data/id").and_then(Value::as_str)
                && !fixed_refs.iter().any(|r| r == id)
            {
                fixed_refs.push(id.to_owned());
            }
        }
        let fixed_profile = fixture_list(EVENTS_DOCS_EXAMPLE, "included")
            .into_iter()
            .find(|i| i.get("type").and_then(Value::as_str) == Some("profile"))
            .unwrap_or(Value::Null);
        let profile_created = fixed_profile
            .pointer("/attributes/updated")
            .and_then(Value::as_str)
            .and_then(parse_time)
            .unwrap_or(0);
        let events = o.sim.records as u64;
        let profiles = events / 4 + 10;
        let refs = fixed_refs.len() as u64;
        // The official profile first, then the profiles the official events name, then the rest.
        let profile_times =
            std::iter::once(profile_created).chain((0..refs).map(|_| profile_created)).collect();
        let data = Data {
            events: Timeline::new(fixed_times, events, now - 365 * 86_400, now - 3_600),
            profiles: Timeline::new(profile_times, profiles, now - 400 * 86_400, now - 3_600),
        };
        let limits = HashMap::from([
            (EVENTS, o.events_limits),
            (METRICS, o.metrics_limits),
            (PROFILES, o.profiles_limits),
        ]);
        Klaviyo {
            seed: o.sim.seed,
            api_key: o.api_key,
            limits,
            burst: RateLimiter::new(Duration::from_secs(1)),
            steady: RateLimiter::new(Duration::from_secs(60)),
            fixed_events,
            fixed_profile,
            fixed_refs,
            data: RwLock::new(data),
            born: now,
            base_profiles: profiles + 1 + refs,
        }
    }

    fn route_of(path: &str) -> Option<&'static str> {
        match path.trim_end_matches('/') {
            "/api/events" => Some(EVENTS),
            "/api/metrics" => Some(METRICS),
            "/api/profiles" => Some(PROFILES),
            _ => None,
        }
    }

    fn router(state: Arc<SimState<Self>>) -> Router {
        Router::new()
            .route("/api/events", get(events))
            .route("/api/events/", get(events))
            .route("/api/metrics", get(metrics))
            .route("/api/metrics/", get(metrics))
            .route("/api/profiles", get(profiles))
            .route("/api/profiles/", get(profiles))
            .fallback(not_found)
            .with_state(state)
    }

    fn authenticate(&self, parts: &Parts) -> Result<String, Box<Response>> {
        let value = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
        match value.strip_prefix("Klaviyo-API-Key ") {
            Some(key) if key.trim() == self.api_key => Ok("account".to_owned()),
            _ => Err(Box::new(self.error_response(StatusCode::UNAUTHORIZED))),
        }
    }

    fn admit(&self, route: &'static str, account: &str, faults: &Faults) -> Result<HeaderMap, Box<Response>> {
        let (burst, steady) = self.limit_for(route);
        let mut headers = HeaderMap::new();
        let limited =
            match (self.burst.admit(account, route, burst), self.steady.admit(account, route, steady)) {
                (Admit::Limited { retry_after }, _) | (_, Admit::Limited { retry_after }) => {
                    Some(retry_after)
                }
                (_, Admit::Ok { remaining }) => {
                    headers.insert(HeaderName::from_static("ratelimit-limit"), HeaderValue::from(steady));
                    headers
                        .insert(HeaderName::from_static("ratelimit-remaining"), HeaderValue::from(remaining));
                    headers.insert(HeaderName::from_static("ratelimit-reset"), HeaderValue::from(60));
                    None
                }
                _ => None,
            };
        match limited {
            None => Ok(headers),
            Some(secs) => Err(Box::new(self.throttle_response(faults.throttle_retry_after.map(|_| secs)))),
        }
    }

    fn rate_headers(&self) -> HeaderMap {
        HeaderMap::new()
    }

    fn error_response(&self, status: StatusCode) -> Response {
        match status.as_u16() {
            401 => error_body(
                status,
                "not_authenticated",
                "Authentication credentials were not provided.",
                "Missing or invalid private key.",
            ),
            403 => error_body(
                status,
                "permission_denied",
                "You do not have permission to perform this action.",
                "The API key is missing a required scope.",
            ),
            404 => error_body(status, "not_found", "Not found.", "The requested resource was not found."),
            _ => error_body(status, "error", "A server error occurred.", "Please retry the request."),
        }
    }

    fn throttle_response(&self, retry_after: Option<u64>) -> Response {
        let secs = retry_after.unwrap_or(1);
        let mut resp = error_body(
            StatusCode::TOO_MANY_REQUESTS,
            "throttled",
            "Request was throttled.",
            &format!("Request was throttled. Expected available in {secs} second."),
        );
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }

    fn ground_truth(&self, control: &Control) -> GroundTruth {
        let mut truth = GroundTruth::default();
        let data = self.read();
        let fixed = self.fixed_events.len() as u64;
        for (index, v) in data.events.iter() {
            let malformation = self.malformation(control, EVENTS, index, fixed);
            let (raw, email) = self.event(index, &v, malformation, self.base_profiles);
            if !email {
                continue;
            }
            let id = raw.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
            truth.insert(EVENTS, id, TruthRecord { raw, deleted: false }, malformation.is_some());
        }
        for (index, v) in data.profiles.iter() {
            let malformed = self.malformation(control, PROFILES, index, 1).is_some();
            let raw = self.profile(index, &v, malformed);
            truth.insert(PROFILES, self.profile_id(index), TruthRecord { raw, deleted: false }, malformed);
        }
        truth
    }

    fn mutate(&self, control: &Control, m: Mutation) {
        let (old, new) = control.advance(MUTATION_STEP);
        let (t0, t1) = (old + 1, new - 120);
        let seed = control.seed();
        let mut data = self.data.write().unwrap_or_else(|e| e.into_inner());
        let events = Mutation { updates: 0, deletions: 0, creations: m.creations };
        data.events.apply(seed, rng::tag(EVENTS), &events, t0, t1, false);
        data.profiles.apply(seed, rng::tag(PROFILES), &m, t0, t1, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_filters_and_cursors() {
        assert_eq!(parse_time("2021-05-17T00:00:00+00:00"), Some(1_621_209_600));
        assert_eq!(parse_time("2021-05-17T00:00:00 00:00"), Some(1_621_209_600));
        assert_eq!(
            parse_filter("greater-or-equal(datetime,2021-05-17T00:00:00+00:00)"),
            Some(("greater-or-equal", "datetime", "2021-05-17T00:00:00+00:00"))
        );
        let p = Pos { time: 5, index: 9 };
        assert_eq!(decode_cursor(&encode_cursor(p)), Some(p));
        assert_eq!(kl_time(1_621_295_008), "2021-05-17T23:43:28+00:00");
        assert_eq!(ulid(1).len(), 26);
    }

    #[test]
    fn truth_keeps_email_events_only() {
        let o = KlaviyoOptions::new(2, 200);
        let control = Control::new(&o.sim);
        let k = Klaviyo::build(o, &control);
        let truth = k.ground_truth(&control);
        let events = truth.stream(EVENTS);
        assert!(events.contains_key("3qvdbYg3") && events.contains_key("3qvdgs9P"));
        assert!((150..200).contains(&events.len()), "{}", events.len());
        assert!(events.values().all(|r| r.raw["relationships"]["metric"]["data"]["id"] != "PlcOrd"));
        assert_eq!(truth.stream(PROFILES).len(), 1 + 3 + 60);
        assert_eq!(
            truth.stream(PROFILES)["01GDDKASAP8TKDDA2GRZDSVP4H"].raw["attributes"]["email"],
            "sarah.mason@klaviyo-demo.com"
        );
    }
}
