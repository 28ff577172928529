//! The Typeform simulator: the Responses API, `GET /forms/{form_id}/responses` with
//! `Authorization: Bearer <token>` (helpdesk.md §7).
//!
//! Route: `responses`. Ground truth has one stream, [`RESPONSES`]: each answer of each completed
//! response is one record, `{token}/{field id}`, whose raw payload is the response item as served.
//!
//! Behaviour worth knowing:
//! - Only completed responses are listed by default (`response_type=completed`); `partial` and
//!   `started` ones are listed only when asked for (`response_type=partial,completed`, or the
//!   older `completed=false`). Partial responses have no `submitted_at` (Typeform writes
//!   `0001-01-01T00:00:00Z`).
//! - Sorted by `submitted_at` newest first. `page_size` (default 25, at most 1000);
//!   `since`/`until` (inclusive, on `submitted_at`; ISO 8601 to the second with or without `Z`,
//!   or Unix seconds); `before`/`after` take a response token and are exclusive: `before` lists
//!   the responses after it in the list's order (older ones), `after` the ones before it (newer).
//!   `before`/`after` cannot be combined with `sort` (400). The end is a short or empty page.
//!   The body is `{total_items, page_count, items}`.
//! - 2 requests a second per account ([`TypeformOptions::per_second`]); beyond, 429 with
//!   `Retry-After: 1`.
//! - The form ([`FORM_FIELDS`]) asks an NPS question (0–10), a CSAT rating (1–5), a CES scale
//!   (1–7), "how did you hear about us" (a choice) and a comment (multilingual text); every
//!   completed response answers the NPS question, the others are sometimes skipped.
//!   [`FIELD_MAPPING`] is the connector mapping that matches it.
//! - A [`Mutation`]'s updates land on random responses: a partial one completes (it appears,
//!   submitted at the mutation time), a completed one does not change (Typeform responses are
//!   final once submitted); creations add responses (some partial). Nothing is deleted.
//! - Malformed records (see [`Faults::malformed_rate`]): a response whose `submitted_at` is
//!   `"yesterday"` or whose NPS answer's `number` is `"nine"`. Its id in the ground truth's
//!   malformed list is its token.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::faults::Faults;
use crate::rate::{Admit, RateLimiter};
use crate::rng;
use crate::sim::{Control, MUTATION_STEP, Sim, SimConfig, SimState, Simulator};
use crate::text;
use crate::time::Ts;
use crate::timeline::{Mutation, Timeline, Version};
use crate::truth::{GroundTruth, TruthRecord};

/// A running Typeform simulator.
pub type TypeformSim = Sim<Typeform>;

/// Route and ground-truth stream of responses.
pub const RESPONSES: &str = "responses";

/// The form's fields: (id, ref, field type, answer type).
pub const FORM_FIELDS: [(&str, &str, &str, &str); 6] = [
    ("nPsQ01aBcD", "nps_score", "opinion_scale", "number"),
    ("cSaT02bCdE", "csat_rating", "rating", "number"),
    ("cEs03cDeFg", "effort", "opinion_scale", "number"),
    ("rEf04dEfGh", "how_did_you_hear", "multiple_choice", "choice"),
    ("cOm05eFgHi", "comment", "long_text", "text"),
    ("eMl06fGhIj", "email", "email", "email"),
];

/// The connector mapping of the form's fields: (field ref, kind, scale min, scale max).
pub const FIELD_MAPPING: [(&str, &str, Option<f64>, Option<f64>); 4] = [
    ("nps_score", "nps", Some(0.0), Some(10.0)),
    ("csat_rating", "csat", Some(1.0), Some(5.0)),
    ("effort", "ces", Some(1.0), Some(7.0)),
    ("how_did_you_hear", "referral", None, None),
];

const CHANNELS: [&str; 5] =
    ["A friend recommended you", "Search engine", "Instagram", "Podcast", "Word of mouth"];

/// Typeform simulator options.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeformOptions {
    /// Seed, clock, faults; `records` is the number of generated responses (partial included).
    pub sim: SimConfig,
    /// The personal access token accepted.
    pub access_token: String,
    /// The form's id.
    pub form_id: String,
    /// Requests a second per account before 429 (0 = unlimited).
    pub per_second: u64,
}

impl Default for TypeformOptions {
    fn default() -> Self {
        TypeformOptions {
            sim: SimConfig::default(),
            access_token: "tfp_sandbox_0123456789abcdef0123456789abcdef".to_owned(),
            form_id: "u6nXL7".to_owned(),
            per_second: 2,
        }
    }
}

impl TypeformOptions {
    /// Default options with this seed and number of generated responses.
    pub fn new(seed: u64, responses: usize) -> Self {
        let mut o = TypeformOptions::default();
        o.sim.seed = seed;
        o.sim.records = responses;
        o
    }

    /// No rate limit (for benchmarks).
    pub fn unlimited() -> Self {
        TypeformOptions { per_second: 0, ..TypeformOptions::default() }
    }
}

/// The Typeform simulator's state (use it through [`TypeformSim`]).
pub struct Typeform {
    seed: u64,
    token: String,
    form_id: String,
    per_second: u64,
    limiter: RateLimiter,
    responses: RwLock<Timeline>,
}

impl std::fmt::Debug for Typeform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Typeform").finish_non_exhaustive()
    }
}

const TOKEN_MASK: u64 = 0x005E_ED0F_7F0E_u64;

/// The token (and response id) of response `index`: 32 lowercase hex digits.
pub fn token(seed: u64, index: u64) -> String {
    format!("{:016x}{:016x}", rng::hash(seed, &[rng::tag("typeform_token"), index]), index ^ TOKEN_MASK)
}

fn index_of(seed: u64, token: &str) -> Option<u64> {
    let tail = token.get(16..32)?;
    let index = u64::from_str_radix(tail, 16).ok()? ^ TOKEN_MASK;
    (self::token(seed, index) == token).then_some(index)
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"))], body)
        .into_response()
}

fn error(status: StatusCode, code: &str, description: &str) -> Response {
    json_response(status, json!({ "code": code, "description": description }).to_string())
}

/// `since`/`until`: ISO 8601 to the second (with or without `Z`) or Unix seconds.
fn parse_time(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Ok(n) = t.parse::<i64>() {
        return Some(n);
    }
    chrono::DateTime::parse_from_rfc3339(t).map(|d| d.timestamp()).ok().or_else(|| {
        chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").ok().map(|d| d.and_utc().timestamp())
    })
}

impl Typeform {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Timeline> {
        self.responses.read().unwrap_or_else(|e| e.into_inner())
    }

    fn malformation(&self, control: &Control, index: u64) -> Option<u8> {
        control.faults(RESPONSES).malformation(control.seed(), RESPONSES, index)
    }

    /// When response `index` at version `v` was submitted; `None` while it is partial.
    fn submitted(&self, index: u64, v: &Version) -> Option<i64> {
        let partial = rng::hash(self.seed, &[rng::tag(RESPONSES), index]).is_multiple_of(8);
        match (partial, v.revision) {
            (false, _) => Some(v.born),
            (true, 0) => None,
            (true, _) => Some(v.time),
        }
    }

    /// Response `index` as served.
    fn response(&self, index: u64, v: &Version, malformation: Option<u8>) -> Value {
        let h = rng::hash(self.seed, &[rng::tag(RESPONSES), index]);
        let mut r = rng::rng(self.seed, &[rng::tag("typeform_text"), index]);
        let lang = text::pick_lang(h >> 7);
        let token = token(self.seed, index);
        let submitted = self.submitted(index, v);
        let landed = v.born - 60 - (h >> 20) as i64 % 600;
        let mut answers = Vec::new();
        if submitted.is_some() {
            let nps = match (h >> 3) % 10 {
                0..=4 => 9 + (h >> 9) % 2,
                5..=7 => 7 + (h >> 9) % 2,
                _ => (h >> 9) % 7,
            };
            for (n, (id, fref, ftype, atype)) in FORM_FIELDS.iter().enumerate() {
                if n > 0 && (h >> (24 + n)) & 3 == 0 {
                    continue;
                }
                let value = match n {
                    0 if malformation == Some(1) => json!("nine"),
                    0 => json!(nps),
                    1 => json!(1 + (h >> 33) % 5),
                    2 => json!(1 + (h >> 36) % 7),
                    3 => json!({ "label": CHANNELS[(h >> 40) as usize % CHANNELS.len()] }),
                    4 => {
                        let bank = if nps >= 7 { lang.praise } else { lang.complaints };
                        json!(text::choose(&mut r, bank))
                    }
                    _ => {
                        let (_, handle) = lang.names[(h >> 44) as usize % lang.names.len().max(1)];
                        json!(format!("{handle}.{index}@example.{}", lang.tld))
                    }
                };
                answers.push(json!({ "field": { "id": id, "type": ftype, "ref": fref }, "type": atype, *atype: value }));
            }
        }
        let submitted_at = match (malformation, submitted) {
            (Some(0), Some(_)) => "yesterday".to_owned(),
            (_, Some(t)) => Ts(t).to_rfc3339(),
            (_, None) => "0001-01-01T00:00:00Z".to_owned(),
        };
        let browsers = ["default", "default", "touch"];
        json!({
            "landing_id": token,
            "token": token,
            "response_id": token,
            "response_type": if submitted.is_some() { "completed" } else { "partial" },
            "landed_at": Ts(landed).to_rfc3339(),
            "submitted_at": submitted_at,
            "metadata": {
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
                "platform": if h.is_multiple_of(3) { "mobile" } else { "other" },
                "referer": format!("https://example.typeform.com/to/{}", self.form_id),
                "network_id": format!("{:010x}", rng::mix(h) & 0xff_ffff_ffff),
                "browser": browsers[(h >> 50) as usize % 3]
            },
            "hidden": { "locale": lang.locale },
            "calculated": { "score": 0 },
            "variables": [],
            "answers": if answers.is_empty() { Value::Null } else { Value::Array(answers) }
        })
    }
}

async fn responses(
    State(state): State<Arc<SimState<Typeform>>>,
    Path(form): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let t = &state.sim;
    if form != t.form_id {
        return error(StatusCode::NOT_FOUND, "FORM_NOT_FOUND", &format!("Non existing form with uid {form}"));
    }
    let size = match q.get("page_size").map(|s| s.parse::<usize>()) {
        None => 25,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                "page_size must be between 1 and 1000",
            );
        }
    };
    let bound = |k: &str| match q.get(k) {
        None => Ok(None),
        Some(v) => parse_time(v).map(Some).ok_or_else(|| {
            Box::new(error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", &format!("{k} is not a valid date")))
        }),
    };
    let (since, until) = match (bound("since"), bound("until")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(resp), _) | (_, Err(resp)) => return *resp,
    };
    if (q.contains_key("before") || q.contains_key("after")) && q.contains_key("sort") {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "before/after could not be used together with sort",
        );
    }
    let (mut completed, mut partial) = (true, false);
    if let Some(types) = q.get("response_type") {
        completed = false;
        for kind in types.split(',') {
            match kind.trim() {
                "completed" => completed = true,
                "partial" | "started" => partial = true,
                other => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "VALIDATION_ERROR",
                        &format!("unknown response_type {other}"),
                    );
                }
            }
        }
    } else if q.get("completed").map(String::as_str) == Some("false") {
        (completed, partial) = (false, true);
    }
    let seed = state.control.seed();
    let anchor = |k: &str| match q.get(k) {
        None => Ok(None),
        Some(tok) => index_of(seed, tok).map(Some).ok_or_else(|| {
            Box::new(error(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                &format!("{k} is not a valid response token"),
            ))
        }),
    };
    let (before, after) = match (anchor("before"), anchor("after")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(resp), _) | (_, Err(resp)) => return *resp,
    };
    let timeline = t.read();
    // (submitted or landed time, index), newest first.
    let mut all: Vec<(i64, u64, Version)> = timeline
        .iter()
        .filter_map(|(i, v)| match t.submitted(i, &v) {
            Some(s) if completed => Some((s, i, v)),
            None if partial => Some((v.born, i, v)),
            _ => None,
        })
        .filter(|(s, _, _)| since.is_none_or(|b| *s >= b) && until.is_none_or(|b| *s <= b))
        .collect();
    all.sort_by_key(|(s, i, _)| std::cmp::Reverse((*s, *i)));
    let position = |index: u64| all.iter().position(|(_, i, _)| *i == index);
    let (from, to) = match (after, before) {
        (_, Some(b)) => (position(b).map_or(all.len(), |p| p + 1), all.len()),
        (Some(a), None) => (0, position(a).unwrap_or(0)),
        (None, None) => (0, all.len()),
    };
    let window = &all[from.min(to)..to];
    // `after` reads towards newer responses: the page nearest the token.
    let page: Vec<&(i64, u64, Version)> = if after.is_some() && before.is_none() {
        window.iter().skip(window.len().saturating_sub(size)).collect()
    } else {
        window.iter().take(size).collect()
    };
    let items: Vec<Value> =
        page.iter().map(|(_, i, v)| t.response(*i, v, t.malformation(&state.control, *i))).collect();
    drop(timeline);
    let total = window.len();
    json_response(
        StatusCode::OK,
        json!({ "total_items": total, "page_count": total.div_ceil(size), "items": items }).to_string(),
    )
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "NOT_FOUND", "Endpoint not found")
}

impl Simulator for Typeform {
    type Options = TypeformOptions;
    const NAME: &'static str = "typeform";
    const ROUTES: &'static [&'static str] = &[RESPONSES];

    fn config(options: &TypeformOptions) -> &SimConfig {
        &options.sim
    }

    fn build(o: TypeformOptions, control: &Control) -> Self {
        let now = control.now();
        let timeline = Timeline::new(Vec::new(), o.sim.records as u64, now - 365 * 86_400, now - 3_600);
        Typeform {
            seed: o.sim.seed,
            token: o.access_token,
            form_id: o.form_id,
            per_second: o.per_second,
            limiter: RateLimiter::new(Duration::from_secs(1)),
            responses: RwLock::new(timeline),
        }
    }

    fn route_of(path: &str) -> Option<&'static str> {
        let rest = path.strip_prefix("/forms/")?;
        rest.ends_with("/responses").then_some(RESPONSES)
    }

    fn router(state: Arc<SimState<Self>>) -> Router {
        Router::new().route("/forms/{form}/responses", get(responses)).fallback(not_found).with_state(state)
    }

    fn authenticate(&self, parts: &Parts) -> Result<String, Box<Response>> {
        match crate::credentials::bearer(parts) {
            Some(t) if t == self.token => Ok("account".to_owned()),
            _ => Err(Box::new(self.error_response(StatusCode::UNAUTHORIZED))),
        }
    }

    fn admit(
        &self,
        _route: &'static str,
        account: &str,
        faults: &Faults,
    ) -> Result<HeaderMap, Box<Response>> {
        match self.limiter.admit(account, "api", self.per_second) {
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
            401 => error(
                status,
                "AUTHENTICATION_FAILED",
                "Authentication credentials not found on the Request Headers",
            ),
            403 => error(status, "FORBIDDEN", "The token does not have the responses:read scope"),
            _ => error(status, "INTERNAL_SERVER_ERROR", "Something went wrong"),
        }
    }

    fn throttle_response(&self, retry_after: Option<u64>) -> Response {
        let mut resp = error(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS", "Too many requests");
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }

    fn ground_truth(&self, control: &Control) -> GroundTruth {
        let mut truth = GroundTruth::default();
        let timeline = self.read();
        for (index, v) in timeline.iter() {
            if self.submitted(index, &v).is_none() {
                continue;
            }
            let bad = self.malformation(control, index);
            let raw = self.response(index, &v, bad);
            let token = token(self.seed, index);
            if bad.is_some() {
                truth.insert(RESPONSES, token, TruthRecord { raw, deleted: false }, true);
                continue;
            }
            for a in raw["answers"].as_array().into_iter().flatten() {
                let id = format!("{token}/{}", a["field"]["id"].as_str().unwrap_or_default());
                truth.insert(RESPONSES, id, TruthRecord { raw: raw.clone(), deleted: false }, false);
            }
        }
        truth
    }

    fn mutate(&self, control: &Control, m: Mutation) {
        let (old, new) = control.advance(MUTATION_STEP);
        let (t0, t1) = (old + 1, new - 120);
        let mut timeline = self.responses.write().unwrap_or_else(|e| e.into_inner());
        timeline.apply(control.seed(), rng::tag(RESPONSES), &m, t0, t1, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_times_and_truth() {
        assert_eq!(index_of(3, &token(3, 42)), Some(42));
        assert_eq!(index_of(4, &token(3, 42)), None);
        assert_eq!(token(3, 42).len(), 32);
        assert_eq!(parse_time("2020-03-20T14:00:59"), Some(1_584_712_859));
        assert_eq!(parse_time("2020-03-20T14:00:59Z"), Some(1_584_712_859));
        assert_eq!(parse_time("1584712859"), Some(1_584_712_859));
        let o = TypeformOptions::new(5, 200);
        let control = Control::new(&o.sim);
        let t = Typeform::build(o, &control);
        let truth = t.ground_truth(&control);
        let records = truth.stream(RESPONSES);
        let responses: std::collections::BTreeSet<&str> = records.keys().map(|k| &k[..32]).collect();
        assert!(
            (150..200).contains(&responses.len()),
            "partial responses are not listed: {}",
            responses.len()
        );
        assert!(records.values().all(|r| r.raw["response_type"] == "completed"));
        let nps = records.keys().filter(|k| k.ends_with("/nPsQ01aBcD")).count();
        assert_eq!(nps, responses.len(), "every completed response answers the NPS question");
    }
}
