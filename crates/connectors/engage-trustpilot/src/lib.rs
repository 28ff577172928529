//! The Trustpilot connector (`kind = "trustpilot"`, public Business Units API).
//!
//! Stream `reviews` → reviews, `GET /v1/business-units/{businessUnitId}/reviews` with the
//! `apikey` header.
//!
//! How the vendor's quirks are handled:
//! - The only filter is on creation time (`startDateTime`, UTC, zone-less); edits (`updatedAt`)
//!   and company replies cannot be found by it. Each sync therefore lists
//!   `orderBy=createdat.asc` from `rescan_days` before the newest review seen (or before now,
//!   if that is earlier), so edits and replies to reviews in that window are caught.
//! - Paging is `page`/`perPage` (100). A listing ends at an empty page, or at a short page
//!   without a `next-page` link; a full page is followed by the next one even when Trustpilot
//!   sends no links.
//! - Trustpilot recommends at most 833 calls in five minutes and 10,000 an hour: the client paces
//!   itself at 166 a minute (or the connection's lower `max_requests_per_minute`).
//! - `stars` 1–5 (anything else quarantines the review); times with `Z` or without a zone (UTC);
//!   `companyReply` gives the reply and its time (`updatedAt`, else `createdAt`). The language
//!   is detected on title and text; Trustpilot's own `language` is the fallback.
//! - Every `full_listing_hours` (and on the first sync) the listing starts at `start_date` (or
//!   the beginning): reviews seen before and missing from such a full listing are marked deleted
//!   (the checkpoint remembers the ids seen; the deletion record carries the id, platform and
//!   business unit only, since Trustpilot keeps nothing of a removed review).

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate};
use engage_connect::http::{Auth, HttpClient};
use engage_connect::{
    Checkpoint, Connector, ConnectorContext, ConnectorError, Field, FieldType, PageStream, Schema, Secret,
    Step, StreamSpec, SyncMode, paged,
};
use engage_model::EntityKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

pub mod map;

/// Trustpilot's recommended budget (833 calls per five minutes), per minute.
pub const REQUESTS_PER_MINUTE: u32 = 166;
/// The largest `perPage`.
pub const MAX_PER_PAGE: i64 = 100;

/// Kind-specific options of a Trustpilot connection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustpilotConfig {
    /// The API key (`apikey` header).
    pub api_key: Secret,
    /// The business unit id (`GET /v1/business-units/find?name=<domain>` tells it).
    pub business_unit_id: String,
    /// Earliest reviews on the first sync (`YYYY-MM-DD`, UTC).
    pub start_date: Option<String>,
    /// Reviews per request (1–100, default 100).
    pub page_size: Option<i64>,
    /// Days before the newest review seen that every sync reads again (0–365, default 30).
    pub rescan_days: Option<i64>,
    /// Hours between full listings (deletions; 1–8760, default 24).
    pub full_listing_hours: Option<i64>,
    /// Languages the business expects (ISO 639-1); detection chooses among them.
    pub languages: Option<Vec<String>>,
}

/// The Trustpilot connector.
pub struct Trustpilot {
    http: HttpClient,
    unit: String,
    start: i64,
    page_size: usize,
    rescan_secs: i64,
    full_every_secs: i64,
    languages: Vec<String>,
    ctx: ConnectorContext,
}

const STREAMS: [StreamSpec; 1] = [StreamSpec {
    name: "reviews",
    entity: EntityKind::Review,
    primary_key: &["id"],
    cursor_field: Some("createdAt"),
    modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
}];

/// The stream's checkpoint: the newest `createdAt` seen, the listing in progress, and the ids of
/// the reviews listed (for deletions found by a full listing).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
struct State {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    newest: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    listing: Option<Listing>,
    #[serde(default)]
    ids: BTreeSet<String>,
    /// When the last full listing ended (Unix seconds).
    #[serde(default)]
    full_at: i64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
struct Listing {
    from: i64,
    page: u32,
    newest: i64,
    full: bool,
    #[serde(default)]
    seen: BTreeSet<String>,
}

#[derive(Deserialize)]
struct ListPage {
    #[serde(default)]
    reviews: Vec<Box<RawValue>>,
    #[serde(default)]
    links: Vec<Value>,
}

/// `t` as Trustpilot's `startDateTime` (`2013-09-07T13:37:00`, UTC).
pub fn filter_time(t: i64) -> String {
    DateTime::from_timestamp(t, 0).unwrap_or_default().format("%Y-%m-%dT%H:%M:%S").to_string()
}

#[async_trait]
impl Connector for Trustpilot {
    type Config = TrustpilotConfig;
    const KIND: &'static str = "trustpilot";

    fn options() -> Schema {
        Schema::new(vec![
            Field::required("api_key", FieldType::Secret, "Trustpilot API key (apikey header)."),
            Field::required("business_unit_id", FieldType::String, "The business unit id."),
            Field::optional(
                "start_date",
                FieldType::String,
                "Earliest reviews on the first sync, `YYYY-MM-DD`.",
            ),
            Field::optional(
                "page_size",
                FieldType::Integer { min: 1, max: MAX_PER_PAGE },
                "Reviews per request (default 100).",
            ),
            Field::optional(
                "rescan_days",
                FieldType::Integer { min: 0, max: 365 },
                "Days before the newest review seen that every sync reads again (default 30).",
            ),
            Field::optional(
                "full_listing_hours",
                FieldType::Integer { min: 1, max: 8_760 },
                "Hours between full listings, which find deleted reviews (default 24).",
            ),
            Field::optional(
                "languages",
                FieldType::StringList,
                "Languages the business expects (ISO 639-1); detection chooses among them.",
            ),
        ])
    }

    fn new(config: TrustpilotConfig, ctx: ConnectorContext) -> Result<Self, ConnectorError> {
        let unit = config.business_unit_id.trim().to_owned();
        if unit.is_empty() {
            return Err(ConnectorError::needs_human("set `business_unit_id`"));
        }
        let start = match &config.start_date {
            Some(date) => NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc().timestamp())
                .ok_or_else(|| {
                    ConnectorError::needs_human(format!("start_date `{date}` is not a date (YYYY-MM-DD)"))
                })?,
            None => 0,
        };
        let rate = ctx
            .max_requests_per_minute
            .filter(|n| *n > 0)
            .map_or(REQUESTS_PER_MINUTE, |n| n.min(REQUESTS_PER_MINUTE));
        let auth = Auth::Header { name: "apikey".to_owned(), value: config.api_key };
        let http = ctx.http("https://api.trustpilot.com", auth, |b| {
            b.default_header("Accept", "application/json").max_requests_per_minute(Some(rate))
        })?;
        Ok(Trustpilot {
            http,
            unit,
            start,
            page_size: config.page_size.unwrap_or(MAX_PER_PAGE).clamp(1, MAX_PER_PAGE) as usize,
            rescan_secs: config.rescan_days.unwrap_or(30).clamp(0, 365) * 86_400,
            full_every_secs: config.full_listing_hours.unwrap_or(24).clamp(1, 8_760) * 3_600,
            languages: config.languages.unwrap_or_default(),
            ctx,
        })
    }

    fn streams(&self) -> Vec<StreamSpec> {
        STREAMS.to_vec()
    }

    async fn check(&self) -> Result<(), ConnectorError> {
        self.http.get(&self.path()).query(&[("perPage", "1")]).send_json().await.map(|_| ())
    }

    fn read(&self, stream: &str, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        if stream != "reviews" {
            let error = ConnectorError::needs_human(format!("trustpilot has no stream `{stream}`"));
            return Box::pin(futures::stream::once(async move { Err(error) }));
        }
        let mut state: State = checkpoint.and_then(|c| serde_json::from_value(c).ok()).unwrap_or_default();
        if state.listing.is_none() {
            let now = self.ctx.now().timestamp();
            let (from, full) = match state.newest {
                Some(newest) if now - state.full_at < self.full_every_secs => {
                    ((newest.min(now) - self.rescan_secs).max(self.start), false)
                }
                _ => (self.start, true),
            };
            let newest = state.newest.unwrap_or(0);
            state.listing = Some(Listing { from, page: 1, newest, full, seen: BTreeSet::new() });
        }
        paged(state, move |state: State| self.step(state))
    }
}

impl Trustpilot {
    fn path(&self) -> String {
        format!("/v1/business-units/{}/reviews", self.unit)
    }

    async fn step(&self, mut state: State) -> Result<Step<State>, ConnectorError> {
        let Some(mut listing) = state.listing.take() else { return Ok(Step::Done) };
        let query = [
            ("orderBy".to_owned(), "createdat.asc".to_owned()),
            ("perPage".to_owned(), self.page_size.to_string()),
            ("page".to_owned(), listing.page.to_string()),
            ("startDateTime".to_owned(), filter_time(listing.from)),
        ];
        let (_, list) = self.http.get(&self.path()).query_pairs(query).send_parsed::<ListPage>().await?;
        let mapped = map::reviews(&list.reviews, &self.unit, &self.languages);
        let mut page = mapped.page;
        listing.newest = mapped.created.iter().copied().fold(listing.newest, i64::max);
        listing.seen.extend(mapped.ids.iter().cloned());
        let next_link = list.links.iter().any(|l| l.get("rel").and_then(Value::as_str) == Some("next-page"));
        let more = !list.reviews.is_empty() && (next_link || list.reviews.len() >= self.page_size);
        if more {
            listing.page += 1;
            state.listing = Some(listing);
            page.checkpoint = serde_json::to_value(&state).unwrap_or_default();
            return Ok(Step::Page(page, state));
        }
        if listing.full {
            let gone: Vec<String> = state.ids.difference(&listing.seen).cloned().collect();
            let at = self.ctx.now();
            for id in gone {
                page.records.push(map::deleted(&id, &self.unit, at));
                state.ids.remove(&id);
            }
            state.full_at = self.ctx.now().timestamp();
        }
        state.ids.append(&mut listing.seen);
        state.newest = Some(listing.newest).filter(|n| *n > 0).or(state.newest);
        page.checkpoint = serde_json::to_value(&state).unwrap_or_default();
        Ok(Step::Last(page))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pace keeps within both recommendations: 833 calls in five minutes, 10,000 an hour.
    #[test]
    fn the_pace_keeps_the_recommended_budget() {
        let per_minute = u64::from(REQUESTS_PER_MINUTE);
        assert_eq!(per_minute, 166);
        assert_eq!((per_minute * 5 <= 833, per_minute * 60 <= 10_000), (true, true));
    }

    #[test]
    fn filter_times_are_zone_less_utc() {
        assert_eq!(filter_time(1_378_561_020), "2013-09-07T13:37:00");
    }
}
