//! The Yelp Fusion connector (`kind = "yelp"`).
//!
//! Stream `reviews` → reviews, `GET /v3/businesses/{id}/reviews?sort_by=newest` for every
//! configured business, in turn.
//!
//! How the vendor's quirks are handled:
//! - Authentication is the API key as `Authorization: Bearer`.
//! - The base plan returns at most three reviews per business (paid plans more), and there is
//!   no way to list older ones. Engage polls on a schedule and keeps every review it has ever
//!   seen: a review missing from the newest three is never taken for deleted, so the store's
//!   history grows past the cap. Poll more often than three new reviews arrive.
//! - Paging is `offset`/`limit` (limit up to 50) newest first; a business's pass ends at a page
//!   shorter than asked for (the cap, or the end of `total`) or at the first page reaching back
//!   past the re-scan window: `rescan_days` before the newest review seen, so that edited
//!   excerpts of recent reviews are read again. Yelp has no owner replies in its API.
//! - `time_created` is `YYYY-MM-DD HH:MM:SS` in the business's local time without a zone: the
//!   `time_zone` option says which (in a repeated hour the earlier instant).
//! - Two 429s: `TOO_MANY_REQUESTS_PER_SECOND` is waited out (one second, then backoff);
//!   `ACCESS_LIMIT_REACHED` (the daily quota, which resets at midnight UTC) ends the sync with
//!   an error of class `Retry` whose `retry_after` is the next midnight UTC, so the scheduler
//!   pauses the stream until then instead of failing it. The checkpoint stays at the last
//!   committed page.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use engage_connect::http::{Auth, HttpClient};
use engage_connect::{
    Checkpoint, Clock, Connector, ConnectorContext, ConnectorError, Field, FieldType, PageStream, Schema,
    Secret, Step, StreamSpec, SyncMode, paged,
};
use engage_model::EntityKind;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

pub mod map;

/// Yelp's largest `limit`.
pub const MAX_LIMIT: i64 = 50;

/// Kind-specific options of a Yelp connection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YelpConfig {
    /// The Fusion API key.
    pub api_key: Secret,
    /// Business ids or aliases.
    pub businesses: Vec<String>,
    /// The businesses' time zone (IANA name): Yelp writes `time_created` in it, without saying.
    pub time_zone: String,
    /// `locale` parameter (e.g. `en_US`); Yelp's default when absent.
    pub locale: Option<String>,
    /// Reviews per request (1–50, default 50; the base plan returns 3 whatever is asked).
    pub page_size: Option<i64>,
    /// Days before the newest review seen that every sync reads again (0–365, default 30).
    pub rescan_days: Option<i64>,
    /// Languages the businesses expect (ISO 639-1); detection chooses among them.
    pub languages: Option<Vec<String>>,
}

/// The Yelp connector.
pub struct Yelp {
    http: HttpClient,
    businesses: Vec<String>,
    tz: Tz,
    locale: Option<String>,
    page_size: usize,
    rescan_secs: i64,
    languages: Vec<String>,
}

const STREAMS: [StreamSpec; 1] = [StreamSpec {
    name: "reviews",
    entity: EntityKind::Review,
    primary_key: &["id"],
    cursor_field: Some("time_created"),
    modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
}];

/// A zone-less `YYYY-MM-DD HH:MM:SS` read in `tz` (a repeated hour: the earlier instant; a
/// skipped hour: the time after the gap).
pub fn parse_local(text: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S").ok()?;
    let at = match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => t,
        LocalResult::Ambiguous(early, _) => early,
        LocalResult::None => {
            tz.from_local_datetime(&(naive - chrono::Duration::hours(1))).earliest()?
                + chrono::Duration::hours(1)
        }
    };
    Some(at.with_timezone(&Utc))
}

/// The time until the next midnight UTC after `now` (when Yelp's daily quota resets).
pub fn until_midnight_utc(now: DateTime<Utc>) -> Duration {
    let day = now.timestamp().div_euclid(86_400);
    let next = (day + 1) * 86_400;
    Duration::from_secs((next - now.timestamp()).max(1) as u64)
}

/// The wait a Yelp 429 body asks for: the daily quota until midnight UTC, the per-second limit a
/// second; other bodies leave it to the headers.
fn throttle_wait(body: &[u8], clock: &Clock) -> Option<Duration> {
    #[derive(Deserialize)]
    struct Envelope {
        error: Code,
    }
    #[derive(Deserialize)]
    struct Code {
        code: String,
    }
    let envelope: Envelope = serde_json::from_slice(body).ok()?;
    match envelope.error.code.as_str() {
        "ACCESS_LIMIT_REACHED" => Some(until_midnight_utc(clock())),
        "TOO_MANY_REQUESTS_PER_SECOND" => Some(Duration::from_secs(1)),
        _ => None,
    }
}

/// What the checkpoint remembers: the newest `time_created` seen per business (Unix seconds),
/// and the business pass in progress.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
struct State {
    newest: BTreeMap<String, i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pass: Option<Pass>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
struct Pass {
    business: String,
    offset: usize,
    newest: i64,
}

#[derive(Deserialize)]
struct ListPage {
    #[serde(default)]
    reviews: Vec<Box<RawValue>>,
}

#[async_trait]
impl Connector for Yelp {
    type Config = YelpConfig;
    const KIND: &'static str = "yelp";

    fn options() -> Schema {
        Schema::new(vec![
            Field::required("api_key", FieldType::Secret, "Yelp Fusion API key."),
            Field::required("businesses", FieldType::StringList, "Business ids or aliases."),
            Field::required(
                "time_zone",
                FieldType::String,
                "The businesses' time zone, IANA name: Yelp's review times are local, without a zone.",
            ),
            Field::optional("locale", FieldType::String, "locale parameter, e.g. en_US."),
            Field::optional(
                "page_size",
                FieldType::Integer { min: 1, max: MAX_LIMIT },
                "Reviews per request (default 50; the base plan returns 3).",
            ),
            Field::optional(
                "rescan_days",
                FieldType::Integer { min: 0, max: 365 },
                "Days before the newest review seen that every sync reads again (default 30).",
            ),
            Field::optional(
                "languages",
                FieldType::StringList,
                "Languages the businesses expect (ISO 639-1); detection chooses among them.",
            ),
        ])
    }

    fn new(config: YelpConfig, ctx: ConnectorContext) -> Result<Self, ConnectorError> {
        let tz: Tz = config.time_zone.trim().parse().map_err(|_| {
            ConnectorError::needs_human(format!(
                "time_zone `{}` is not an IANA time zone (like `America/Los_Angeles`)",
                config.time_zone
            ))
        })?;
        let businesses: Vec<String> =
            config.businesses.iter().map(|b| b.trim().to_owned()).filter(|b| !b.is_empty()).collect();
        if businesses.is_empty() {
            return Err(ConnectorError::needs_human("set at least one business in `businesses`"));
        }
        let clock = ctx.clock.clone();
        let http = ctx.http("https://api.yelp.com", Auth::Bearer(config.api_key), move |b| {
            b.default_header("Accept", "application/json")
                .throttle_body(move |body| throttle_wait(body, &clock))
        })?;
        Ok(Yelp {
            http,
            businesses,
            tz,
            locale: config.locale.filter(|l| !l.trim().is_empty()),
            page_size: config.page_size.unwrap_or(MAX_LIMIT).clamp(1, MAX_LIMIT) as usize,
            rescan_secs: config.rescan_days.unwrap_or(30).clamp(0, 365) * 86_400,
            languages: config.languages.unwrap_or_default(),
        })
    }

    fn streams(&self) -> Vec<StreamSpec> {
        STREAMS.to_vec()
    }

    async fn check(&self) -> Result<(), ConnectorError> {
        let path = format!("/v3/businesses/{}/reviews", self.businesses[0]);
        self.http.get(&path).query(&[("limit", "1")]).send_json().await.map(|_| ())
    }

    fn read(&self, stream: &str, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        if stream != "reviews" {
            let error = ConnectorError::needs_human(format!("yelp has no stream `{stream}`"));
            return Box::pin(futures::stream::once(async move { Err(error) }));
        }
        let state: State = checkpoint.and_then(|c| serde_json::from_value(c).ok()).unwrap_or_default();
        paged(state, move |state: State| self.step(state))
    }
}

impl Yelp {
    fn pass(&self, state: &State, after: Option<&str>) -> Option<Pass> {
        if let Some(pass) = &state.pass
            && self.businesses.contains(&pass.business)
        {
            return Some(pass.clone());
        }
        let next = match after {
            None => self.businesses.first(),
            Some(done) => self.businesses.get(self.businesses.iter().position(|b| b == done)? + 1),
        }?;
        Some(Pass { business: next.clone(), ..Pass::default() })
    }

    async fn step(&self, mut state: State) -> Result<Step<State>, ConnectorError> {
        let Some(mut pass) = self.pass(&state, None) else { return Ok(Step::Done) };
        let business = pass.business.clone();
        let (offset, limit) = (pass.offset.to_string(), self.page_size.to_string());
        let mut query = vec![("sort_by", "newest"), ("offset", offset.as_str()), ("limit", limit.as_str())];
        if let Some(locale) = &self.locale {
            query.push(("locale", locale.as_str()));
        }
        let path = format!("/v3/businesses/{business}/reviews");
        let (_, list) = self.http.get(&path).query(&query).send_parsed::<ListPage>().await?;
        let mapped = map::reviews(&list.reviews, &business, self.tz, &self.languages);
        let mut page = mapped.page;
        pass.newest = mapped.created.iter().copied().fold(pass.newest, i64::max);
        pass.offset += list.reviews.len();
        let known = state.newest.get(&business).copied();
        let reached_back = match (known, mapped.created.iter().copied().min()) {
            (Some(newest), Some(oldest)) => oldest < newest - self.rescan_secs,
            _ => false,
        };
        if list.reviews.len() >= self.page_size && !reached_back {
            state.pass = Some(pass);
            page.checkpoint = serde_json::to_value(&state).unwrap_or_default();
            return Ok(Step::Page(page, state));
        }
        // The business's pass is over: a short page (the plan's cap or the end) or the window.
        let newest = known.unwrap_or(i64::MIN).max(pass.newest);
        if newest > i64::MIN {
            state.newest.insert(business.clone(), newest);
        }
        state.pass = None;
        state.pass = self.pass(&state, Some(&business));
        page.checkpoint = serde_json::to_value(&state).unwrap_or_default();
        Ok(match state.pass {
            Some(_) => Step::Page(page, state),
            None => Step::Last(page),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    /// The daily quota waits until the next midnight UTC by the connector's clock; the
    /// per-second limit a second; anything else is left to the headers.
    #[test]
    fn the_two_429s() {
        let daily = include_bytes!("../../../engage-sandbox/fixtures/yelp/error_429_daily_limit.json");
        let qps = include_bytes!("../../../engage-sandbox/fixtures/yelp/error_429_qps.json");
        let clock: Clock =
            Arc::new(|| DateTime::parse_from_rfc3339("2025-06-01T21:30:00Z").unwrap().with_timezone(&Utc));
        assert_eq!(throttle_wait(daily, &clock), Some(Duration::from_secs(9_000)));
        assert_eq!(throttle_wait(qps, &clock), Some(Duration::from_secs(1)));
        assert_eq!(throttle_wait(b"{}", &clock), None);
        assert_eq!(throttle_wait(b"not json", &clock), None);
        assert_eq!(until_midnight_utc(at("2025-06-01T23:59:59Z")), Duration::from_secs(1));
        assert_eq!(until_midnight_utc(at("2025-06-02T00:00:00Z")), Duration::from_secs(86_400));
    }

    #[test]
    fn local_times_in_the_business_zone() {
        let sf: Tz = "America/Los_Angeles".parse().unwrap();
        assert_eq!(parse_local("2016-08-29 00:41:13", sf), Some(at("2016-08-29T07:41:13Z")));
        assert_eq!(parse_local("2016-01-29 00:41:13", sf), Some(at("2016-01-29T08:41:13Z")));
        assert_eq!(parse_local("2016-08-29 00:41:13", chrono_tz::UTC), Some(at("2016-08-29T00:41:13Z")));
        // The repeated hour of November: the earlier instant.
        assert_eq!(parse_local("2024-11-03 01:30:00", sf), Some(at("2024-11-03T08:30:00Z")));
        assert_eq!(parse_local("2016-13-45 99:99:99", sf), None);
    }
}
