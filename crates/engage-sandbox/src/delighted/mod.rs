//! The Delighted simulator: `GET /v1/survey_responses.json` and `GET /v1/people.json` with HTTP
//! Basic auth (the API key as user name, empty password), following helpdesk.md §6.
//!
//! Routes: `survey_responses`, `people`. Ground truth has the streams [`SURVEY_RESPONSES`] and
//! [`PEOPLE`]. A survey response is stored as one record per answer: the response's own score
//! under its id, and each of its `additional_answers` under `{response id}/{answer id}`, all with
//! the response object as served as the raw payload.
//!
//! Behaviour worth knowing:
//! - Survey responses: a bare JSON array in creation order (oldest first; `order=desc` for the
//!   newest first), `per_page` (default 20, at most 100) and `page` (from 1); `since`/`until`
//!   filter `created_at`, `updated_since`/`updated_until` filter `updated_at` (Unix seconds,
//!   inclusive). The end is a short or empty page.
//! - People: in creation order, `per_page` (at most 100), `since`/`until` on `created_at`,
//!   paged by a `Link: <…?page_info=…>; rel="next"` header, absent on the last page.
//! - Ids are numeric strings, times Unix seconds. Every response of a project has its survey
//!   type (`nps` 0–10, `csat` 1–5, `ces` 1–7, …; [`DelightedOptions::survey_type`]).
//! - Rate limits are not published: the simulator allows [`DelightedOptions::per_minute`]
//!   requests a minute and answers 429 with `Retry-After` (seconds).
//! - The official response example ([`RESPONSE_DOCS_EXAMPLE`], id 2, person 1) is the first
//!   response and the official person ([`PEOPLE_DOCS_EXAMPLE`], id 1) the first person of every
//!   dataset, verbatim (the example is an NPS response; it is served as it is whatever the
//!   project's survey type).
//! - A [`Mutation`]'s updates change a response's score or comment (and `updated_at`); people
//!   are only created. Nothing is deleted.
//! - Malformed records (see [`Faults::malformed_rate`]): a response whose `score` is `"ten"` or
//!   whose `created_at` is `"yesterday"`; a person whose `created_at` is `"yesterday"`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::faults::Faults;
use crate::rate::{Admit, RateLimiter};
use crate::rng;
use crate::sim::{Control, MUTATION_STEP, Sim, SimConfig, SimState, Simulator};
use crate::text;
use crate::timeline::{Mutation, Timeline, Version};
use crate::truth::{GroundTruth, TruthRecord};

/// A running Delighted simulator.
pub type DelightedSim = Sim<Delighted>;

/// Route and ground-truth stream of survey responses.
pub const SURVEY_RESPONSES: &str = "survey_responses";
/// Route and ground-truth stream of people.
pub const PEOPLE: &str = "people";

/// The official survey response example.
pub const RESPONSE_DOCS_EXAMPLE: &str =
    include_str!("../../fixtures/delighted/docs_survey_response_object_create.json");
/// The official people list example.
pub const PEOPLE_DOCS_EXAMPLE: &str = include_str!("../../fixtures/delighted/docs_people_list.json");

/// Delighted simulator options.
#[derive(Clone, Debug, PartialEq)]
pub struct DelightedOptions {
    /// Seed, clock, faults; `records` is the number of generated survey responses.
    pub sim: SimConfig,
    /// The project's API key.
    pub api_key: String,
    /// The project's survey type (`nps`, `csat`, `ces`, `smileys`, `5star`, `thumbs`, `enps`, `pmf`).
    pub survey_type: String,
    /// Requests a minute per key before 429 (0 = unlimited).
    pub per_minute: u64,
}

impl Default for DelightedOptions {
    fn default() -> Self {
        DelightedOptions {
            sim: SimConfig::default(),
            api_key: "dlt_sandbox_0123456789abcdef".to_owned(),
            survey_type: "nps".to_owned(),
            per_minute: 600,
        }
    }
}

impl DelightedOptions {
    /// Default options with this seed and number of generated responses.
    pub fn new(seed: u64, responses: usize) -> Self {
        let mut o = DelightedOptions::default();
        o.sim.seed = seed;
        o.sim.records = responses;
        o
    }

    /// No rate limit (for benchmarks).
    pub fn unlimited() -> Self {
        DelightedOptions { per_minute: 0, ..DelightedOptions::default() }
    }
}

/// The score range of a survey type.
pub fn scale(survey_type: &str) -> (i64, i64) {
    match survey_type {
        "nps" | "enps" => (0, 10),
        "ces" => (1, 7),
        "thumbs" => (0, 1),
        "pmf" => (1, 3),
        _ => (1, 5),
    }
}

struct Data {
    responses: Timeline,
    people: Timeline,
}

/// The Delighted simulator's state (use it through [`DelightedSim`]).
pub struct Delighted {
    seed: u64,
    api_key: String,
    survey_type: String,
    per_minute: u64,
    limiter: RateLimiter,
    fixed_response: Value,
    fixed_person: Value,
    data: RwLock<Data>,
}

impl std::fmt::Debug for Delighted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delighted").finish_non_exhaustive()
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"))], body)
        .into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    json_response(status, json!({ "status": status.as_u16(), "message": message }).to_string())
}

/// The additional questions of every generated project: (id, type, text).
const QUESTIONS: [(&str, &str, &str); 4] = [
    ("21", "select_one", "How did you hear about us?"),
    ("22", "scale", "How easy was it to find what you needed?"),
    ("23", "free_response", "What could we do better?"),
    ("24", "select_many", "Which features do you use?"),
];
const SOURCES: [(&str, &str); 4] =
    [("31", "A friend recommended you"), ("32", "Search engine"), ("33", "Advertisement"), ("34", "Podcast")];
const FEATURES: [(&str, &str); 3] = [("41", "Reports"), ("42", "Mobile app"), ("43", "Integrations")];

impl Delighted {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Data> {
        self.data.read().unwrap_or_else(|e| e.into_inner())
    }

    fn malformation(&self, control: &Control, stream: &str, index: u64) -> Option<u8> {
        if index == 0 { None } else { control.faults(stream).malformation(control.seed(), stream, index) }
    }

    /// The id of response `index` (the official one is 2).
    pub fn response_id(index: u64) -> String {
        if index == 0 { "2".to_owned() } else { (1_000 + index).to_string() }
    }

    fn person_id(index: u64) -> String {
        if index == 0 { "1".to_owned() } else { (500_000 + index).to_string() }
    }

    fn person(&self, index: u64, born: i64, malformed: bool) -> Value {
        if index == 0 {
            return self.fixed_person.clone();
        }
        let h = rng::hash(self.seed, &[rng::tag(PEOPLE), index]);
        let lang = text::pick_lang(h);
        let (name, handle) = lang.names[(h >> 8) as usize % lang.names.len().max(1)];
        let sent = born + 86_400;
        json!({
            "id": Self::person_id(index),
            "email": format!("{handle}.{index}@example.{}", lang.tld),
            "name": name,
            "created_at": if malformed { json!("yesterday") } else { json!(born) },
            "phone_number": if h.is_multiple_of(3) { json!(format!("+1555{:07}", h % 10_000_000)) } else { Value::Null },
            "last_sent_at": sent,
            "last_responded_at": if h.is_multiple_of(2) { json!(sent + 3_600) } else { Value::Null },
            "next_survey_scheduled_at": Value::Null
        })
    }

    /// Response `index` at version `v` as served.
    fn response(&self, data: &Data, index: u64, v: &Version, malformation: Option<u8>) -> Value {
        if index == 0 {
            return self.fixed_response.clone();
        }
        let h = rng::hash(self.seed, &[rng::tag(SURVEY_RESPONSES), index, u64::from(v.revision)]);
        let base = rng::hash(self.seed, &[rng::tag(SURVEY_RESPONSES), index]);
        let mut r = rng::rng(self.seed, &[rng::tag("delighted_text"), index, u64::from(v.revision)]);
        let lang = text::pick_lang(base >> 3);
        let (lo, hi) = scale(&self.survey_type);
        // Skewed towards the top, as real answers are.
        let score = match (h >> 5) % 100 {
            0..55 => hi,
            55..75 => hi - 1,
            _ => lo + ((h >> 12) % (hi - lo + 1) as u64) as i64,
        };
        let good = score * 2 >= lo + hi;
        let comment = match h % 4 {
            0 => Value::Null,
            _ => {
                let bank = if good { lang.praise } else { lang.complaints };
                json!(text::choose(&mut r, bank))
            }
        };
        let person = data
            .people
            .generated_at_or_before(v.born)
            .map(|k| data.people.fixed_len() + (base >> 16) % (k + 1))
            .unwrap_or(0);
        let id = Self::response_id(index);
        let mut answers = Vec::new();
        for (n, (qid, kind, question)) in QUESTIONS.iter().enumerate() {
            if (base >> (20 + n)) & 1 == 0 && n != 0 {
                continue;
            }
            let value = match *kind {
                "select_one" => {
                    let (oid, text) = SOURCES[(base >> 24) as usize % SOURCES.len()];
                    json!({ "select_one": { "id": oid, "text": text } })
                }
                "scale" => json!({ "scale": 1 + (h >> 30) % 5 }),
                "free_response" => {
                    let mut t = String::new();
                    text::paragraph(&mut r, lang, 30, &mut t);
                    json!({ "free_response": t })
                }
                _ => {
                    let picked: Vec<Value> = FEATURES
                        .iter()
                        .enumerate()
                        .filter(|(k, _)| (base >> (40 + k)) & 1 == 1)
                        .map(|(_, (oid, text))| json!({ "id": oid, "text": text }))
                        .collect();
                    json!({ "select_many": picked })
                }
            };
            answers.push(json!({
                "id": format!("{}{:02}", 1_000 + index, n),
                "value": value,
                "question": { "id": qid, "type": kind, "text": question }
            }));
        }
        let score_value = if malformation == Some(0) { json!("ten") } else { json!(score) };
        let created = if malformation == Some(1) { json!("yesterday") } else { json!(v.born) };
        json!({
            "id": id,
            "person": Self::person_id(person),
            "survey_type": self.survey_type,
            "score": score_value,
            "comment": comment,
            "permalink": format!("https://app.delighted.com/r/{:032x}", rng::mix(base) as u128 * 0x1_0000_0001),
            "created_at": created,
            "updated_at": v.time,
            "person_properties": { "locale": lang.locale, "plan": (["free", "pro", "team"][(base >> 33) as usize % 3]) },
            "notes": [],
            "tags": if good { json!([]) } else { json!(["follow-up"]) },
            "additional_answers": answers
        })
    }

    /// The source ids a response is stored under: its own and one per additional answer.
    pub fn record_ids(raw: &Value) -> Vec<String> {
        let id = raw.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
        let mut ids = vec![id.clone()];
        for a in raw.get("additional_answers").and_then(Value::as_array).into_iter().flatten() {
            if let Some(aid) = a.get("id").and_then(Value::as_str) {
                ids.push(format!("{id}/{aid}"));
            }
        }
        ids
    }
}

fn number(q: &HashMap<String, String>, key: &str) -> Result<Option<i64>, Box<Response>> {
    match q.get(key) {
        None => Ok(None),
        Some(v) => v.trim().parse().map(Some).map_err(|_| {
            Box::new(error(StatusCode::UNPROCESSABLE_ENTITY, &format!("{key} must be a Unix timestamp")))
        }),
    }
}

fn per_page(q: &HashMap<String, String>, default: usize) -> Result<usize, Box<Response>> {
    match q.get("per_page").map(|s| s.parse::<usize>()) {
        None => Ok(default),
        Some(Ok(n)) if (1..=100).contains(&n) => Ok(n),
        Some(_) => {
            Err(Box::new(error(StatusCode::UNPROCESSABLE_ENTITY, "per_page must be between 1 and 100")))
        }
    }
}

async fn survey_responses(
    State(state): State<Arc<SimState<Delighted>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let d = &state.sim;
    let parsed = (|| {
        let size = per_page(&q, 20)?;
        let page = match q.get("page").map(|p| p.parse::<usize>()) {
            None => 1,
            Some(Ok(n)) if n >= 1 => n,
            Some(_) => {
                return Err(Box::new(error(StatusCode::UNPROCESSABLE_ENTITY, "page must be at least 1")));
            }
        };
        let bounds = [
            number(&q, "since")?,
            number(&q, "until")?,
            number(&q, "updated_since")?,
            number(&q, "updated_until")?,
        ];
        Ok((size, page, bounds))
    })();
    let (size, page, [since, until, updated_since, updated_until]) = match parsed {
        Ok(p) => p,
        Err(resp) => return *resp,
    };
    let desc = match q.get("order").map(String::as_str) {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return error(StatusCode::UNPROCESSABLE_ENTITY, "order must be asc or desc"),
    };
    let data = d.read();
    // Creation order is index order: base times grow with the index, created records come last.
    let mut matching: Vec<(u64, Version)> = data
        .responses
        .iter()
        .filter(|(_, v)| {
            since.is_none_or(|t| v.born >= t)
                && until.is_none_or(|t| v.born <= t)
                && updated_since.is_none_or(|t| v.time >= t)
                && updated_until.is_none_or(|t| v.time <= t)
        })
        .collect();
    if desc {
        matching.reverse();
    }
    let body: Vec<Value> = matching
        .iter()
        .skip((page - 1).saturating_mul(size))
        .take(size)
        .map(|(i, v)| d.response(&data, *i, v, d.malformation(&state.control, SURVEY_RESPONSES, *i)))
        .collect();
    json_response(StatusCode::OK, Value::Array(body).to_string())
}

async fn people(
    State(state): State<Arc<SimState<Delighted>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let d = &state.sim;
    let size = match per_page(&q, 20) {
        Ok(n) => n,
        Err(resp) => return *resp,
    };
    let (since, until) = match (number(&q, "since"), number(&q, "until")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(resp), _) | (_, Err(resp)) => return *resp,
    };
    // The cursor: the index of the last person served (people are listed in creation order).
    let after = match q.get("page_info") {
        None => None,
        Some(c) => match c.strip_prefix("p").and_then(|n| n.parse::<u64>().ok()) {
            Some(n) => Some(n),
            None => return error(StatusCode::UNPROCESSABLE_ENTITY, "page_info is invalid"),
        },
    };
    let data = d.read();
    let mut items = Vec::new();
    let mut more = false;
    for (i, v) in data.people.iter() {
        if after.is_some_and(|a| i <= a)
            || since.is_some_and(|t| v.born < t)
            || until.is_some_and(|t| v.born > t)
        {
            continue;
        }
        if items.len() == size {
            more = true;
            break;
        }
        items.push((i, v));
    }
    let body: Vec<Value> = items
        .iter()
        .map(|(i, v)| d.person(*i, v.born, d.malformation(&state.control, PEOPLE, *i).is_some()))
        .collect();
    drop(data);
    let mut resp = json_response(StatusCode::OK, Value::Array(body).to_string());
    if let (true, Some((last, _))) = (more, items.last()) {
        let mut url = format!("{}/v1/people.json?per_page={size}&page_info=p{last}", state.base_url);
        if let Some(t) = since {
            url.push_str(&format!("&since={t}"));
        }
        if let Some(t) = until {
            url.push_str(&format!("&until={t}"));
        }
        if let Ok(v) = HeaderValue::from_str(&format!("<{url}>; rel=\"next\"")) {
            resp.headers_mut().insert(header::LINK, v);
        }
    }
    resp
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "Resource not found")
}

impl Simulator for Delighted {
    type Options = DelightedOptions;
    const NAME: &'static str = "delighted";
    const ROUTES: &'static [&'static str] = &[SURVEY_RESPONSES, PEOPLE];

    fn config(options: &DelightedOptions) -> &SimConfig {
        &options.sim
    }

    fn build(o: DelightedOptions, control: &Control) -> Self {
        let now = control.now();
        let fixed_response = serde_json::from_str::<Value>(RESPONSE_DOCS_EXAMPLE).unwrap_or(Value::Null);
        let fixed_person = match serde_json::from_str::<Value>(PEOPLE_DOCS_EXAMPLE) {
            Ok(mut v) => v[0].take(),
            Err(_) => Value::Null,
        };
        let at = |v: &Value, k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
        let responses = o.sim.records as u64;
        // The official response and person are older than every generated one, whatever the clock.
        let from = |days: i64| (now - days * 86_400).max(at(&fixed_response, "updated_at") + 1);
        let data = Data {
            responses: Timeline::new(
                vec![at(&fixed_response, "updated_at")],
                responses,
                from(365),
                now - 3_600,
            ),
            people: Timeline::new(
                vec![at(&fixed_person, "created_at")],
                responses / 2 + 5,
                from(400),
                now - 7_200,
            ),
        };
        Delighted {
            seed: o.sim.seed,
            api_key: o.api_key,
            survey_type: o.survey_type,
            per_minute: o.per_minute,
            limiter: RateLimiter::new(Duration::from_secs(60)),
            fixed_response,
            fixed_person,
            data: RwLock::new(data),
        }
    }

    fn route_of(path: &str) -> Option<&'static str> {
        match path {
            "/v1/survey_responses.json" => Some(SURVEY_RESPONSES),
            "/v1/people.json" => Some(PEOPLE),
            _ => None,
        }
    }

    fn router(state: Arc<SimState<Self>>) -> Router {
        Router::new()
            .route("/v1/survey_responses.json", get(survey_responses))
            .route("/v1/people.json", get(people))
            .fallback(not_found)
            .with_state(state)
    }

    fn authenticate(&self, parts: &Parts) -> Result<String, Box<Response>> {
        match crate::credentials::basic(parts) {
            Some(pair) if pair.split_once(':').is_some_and(|(user, _)| user == self.api_key) => {
                Ok(self.api_key.clone())
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
        match self.limiter.admit(account, "api", self.per_minute) {
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
            401 => error(status, "Invalid API key"),
            403 => error(status, "Forbidden"),
            503 => error(status, "Delighted is down for maintenance"),
            _ => error(status, "Internal server error"),
        }
    }

    fn throttle_response(&self, retry_after: Option<u64>) -> Response {
        let mut resp = error(StatusCode::TOO_MANY_REQUESTS, "Too many requests");
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }

    fn ground_truth(&self, control: &Control) -> GroundTruth {
        let mut truth = GroundTruth::default();
        let data = self.read();
        for (index, v) in data.responses.iter() {
            let bad = self.malformation(control, SURVEY_RESPONSES, index);
            let raw = self.response(&data, index, &v, bad);
            if bad.is_some() {
                truth.insert(
                    SURVEY_RESPONSES,
                    Self::response_id(index),
                    TruthRecord { raw, deleted: false },
                    true,
                );
                continue;
            }
            for id in Self::record_ids(&raw) {
                truth.insert(SURVEY_RESPONSES, id, TruthRecord { raw: raw.clone(), deleted: false }, false);
            }
        }
        for (index, v) in data.people.iter() {
            let bad = self.malformation(control, PEOPLE, index).is_some();
            let raw = self.person(index, v.born, bad);
            truth.insert(PEOPLE, Self::person_id(index), TruthRecord { raw, deleted: false }, bad);
        }
        truth
    }

    fn mutate(&self, control: &Control, m: Mutation) {
        let (old, new) = control.advance(MUTATION_STEP);
        let (t0, t1) = (old + 1, new - 120);
        let seed = control.seed();
        let mut data = self.data.write().unwrap_or_else(|e| e.into_inner());
        let people = Mutation { updates: 0, deletions: 0, creations: m.creations / 2 + 1 };
        data.people.apply(seed, rng::tag(PEOPLE), &people, t0, t1, false);
        data.responses.apply(seed, rng::tag(SURVEY_RESPONSES), &m, t0, t1, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truth_lists_every_answer_and_the_official_examples() {
        let o = DelightedOptions::new(4, 100);
        let control = Control::new(&o.sim);
        let d = Delighted::build(o, &control);
        let truth = d.ground_truth(&control);
        let responses = truth.stream(SURVEY_RESPONSES);
        assert_eq!(responses["2"].raw["score"], 9);
        let own: Vec<&String> = responses.keys().filter(|k| !k.contains('/')).collect();
        assert_eq!(own.len(), 101);
        // Every generated response asks where the person heard of the product.
        assert!(responses.contains_key("1001/100100"));
        assert_eq!(responses["1001/100100"].raw["id"], "1001");
        assert_eq!(truth.stream(PEOPLE)["1"].raw["email"], "gabriel.larson@simsarnold.com");
        assert_eq!(truth.stream(PEOPLE).len(), 56);
        for r in responses.values().filter(|r| r.raw["id"] != "2") {
            let s = r.raw["score"].as_i64().unwrap();
            assert!((0..=10).contains(&s), "{s}");
        }
    }
}
