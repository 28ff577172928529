//! The Google Business Profile connector (`kind = "google_business"`, API v4 reviews).
//!
//! Stream `reviews` → reviews, `GET /v4/accounts/{account}/locations/{location}/reviews` for
//! every configured location of the account, in turn.
//!
//! How the vendor's quirks are handled:
//! - Authentication is an OAuth2 access token (`Authorization: Bearer`) with the
//!   `business.manage` scope. Google allows 300 requests a minute per project: the client paces
//!   itself at that rate (or the connection's lower `max_requests_per_minute`).
//! - There is no time filter. Reviews are read `orderBy=updateTime desc`, `pageSize` up to 50,
//!   following `nextPageToken` (absent on the last page), and a location's pass stops at the
//!   first page that reaches back past its re-scan window: `rescan_days` before the newest
//!   update seen (or before now, if that is earlier). Whether an owner reply moves the review's
//!   `updateTime` is not documented, so replies to reviews inside the window are always caught;
//!   replies to older reviews wait for the next full listing.
//! - A location is listed in full on its first sync and then every `full_listing_hours`. A full
//!   listing checks completeness: the reviews listed against `totalReviewCount` (and
//!   `averageRating`); a disagreement is logged and noted on the run. Reviews that were listed
//!   before and are missing from a full listing are marked deleted (Google keeps no tombstones):
//!   the checkpoint remembers the ids seen, and the deletion record carries only the review's
//!   name, platform and location.
//! - `starRating` words `ONE`..`FIVE` become 1–5 (`STAR_RATING_UNSPECIFIED`: no rating); any
//!   other word quarantines the review. The text is kept exactly, including Google's
//!   `(Translated by Google) … (Original) …` blocks; the language is detected on the original.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use engage_connect::http::{Auth, HttpClient};
use engage_connect::{
    Checkpoint, Connector, ConnectorContext, ConnectorError, Field, FieldType, Page, PageStream, Schema,
    Secret, Step, StreamSpec, SyncMode, paged,
};
use engage_model::EntityKind;
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::value::RawValue;

pub mod map;

/// Google's default quota per project.
pub const REQUESTS_PER_MINUTE: u32 = 300;
/// Google's largest page.
pub const MAX_PAGE_SIZE: i64 = 50;

/// Kind-specific options of a Google Business Profile connection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleBusinessConfig {
    /// OAuth2 access token with the `business.manage` scope.
    pub access_token: Secret,
    /// The account id (`accounts/{account}`).
    pub account: String,
    /// Location ids of the account to read (`accounts/{account}/locations/{location}`).
    pub locations: Vec<String>,
    /// Reviews per request (1–50, default 50).
    pub page_size: Option<i64>,
    /// Days before the newest update seen that every sync reads again (0–365, default 30).
    pub rescan_days: Option<i64>,
    /// Hours between full listings of a location (1–8760, default 24).
    pub full_listing_hours: Option<i64>,
    /// Languages the business expects (ISO 639-1 codes); detection chooses among them.
    pub languages: Option<Vec<String>>,
}

/// The Google Business Profile connector.
pub struct GoogleBusiness {
    http: HttpClient,
    account: String,
    locations: Vec<String>,
    page_size: usize,
    rescan_ms: i64,
    full_every_secs: i64,
    languages: Vec<String>,
    ctx: ConnectorContext,
}

const STREAMS: [StreamSpec; 1] = [StreamSpec {
    name: "reviews",
    entity: EntityKind::Review,
    primary_key: &["name"],
    cursor_field: Some("updateTime"),
    modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
}];

/// What the checkpoint remembers of one location.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
struct Known {
    /// The newest `updateTime` seen (Unix milliseconds).
    newest: i64,
    /// When the location was last listed in full (Unix seconds).
    full_at: i64,
    /// Review ids (the last part of their names) seen in listings and not deleted since.
    #[serde(default)]
    ids: BTreeSet<String>,
}

/// A location's pass in progress.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
struct Pass {
    location: String,
    token: Option<String>,
    newest: i64,
    full: bool,
    /// Reviews listed so far in this pass (well-formed or not).
    listed: u64,
    /// Review ids seen in this pass.
    #[serde(default)]
    seen: BTreeSet<String>,
}

/// The stream's checkpoint.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
struct State {
    locations: BTreeMap<String, Known>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pass: Option<Pass>,
}

/// One page of the list.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListPage {
    #[serde(default)]
    reviews: Vec<Box<RawValue>>,
    average_rating: Option<f64>,
    total_review_count: Option<u64>,
    next_page_token: Option<String>,
}

#[async_trait]
impl Connector for GoogleBusiness {
    type Config = GoogleBusinessConfig;
    const KIND: &'static str = "google_business";

    fn options() -> Schema {
        Schema::new(vec![
            Field::required(
                "access_token",
                FieldType::Secret,
                "OAuth2 access token with the business.manage scope.",
            ),
            Field::required("account", FieldType::String, "Account id (accounts/{account})."),
            Field::required("locations", FieldType::StringList, "Location ids of the account to read."),
            Field::optional(
                "page_size",
                FieldType::Integer { min: 1, max: MAX_PAGE_SIZE },
                "Reviews per request (default 50).",
            ),
            Field::optional(
                "rescan_days",
                FieldType::Integer { min: 0, max: 365 },
                "Days before the newest update seen that every sync reads again (default 30).",
            ),
            Field::optional(
                "full_listing_hours",
                FieldType::Integer { min: 1, max: 8_760 },
                "Hours between full listings (completeness check, deletions; default 24).",
            ),
            Field::optional(
                "languages",
                FieldType::StringList,
                "Languages the business expects (ISO 639-1); detection chooses among them.",
            ),
        ])
    }

    fn new(config: GoogleBusinessConfig, ctx: ConnectorContext) -> Result<Self, ConnectorError> {
        let clean =
            |s: &str| s.trim().trim_start_matches("accounts/").trim_start_matches("locations/").to_owned();
        let account = clean(&config.account);
        let locations: Vec<String> =
            config.locations.iter().map(|l| clean(l.rsplit("locations/").next().unwrap_or(l))).collect();
        if account.is_empty() || locations.is_empty() || locations.iter().any(String::is_empty) {
            return Err(ConnectorError::needs_human(
                "set `account` and at least one location in `locations`",
            ));
        }
        let rate = ctx
            .max_requests_per_minute
            .filter(|n| *n > 0)
            .map_or(REQUESTS_PER_MINUTE, |n| n.min(REQUESTS_PER_MINUTE));
        let http = ctx.http("https://mybusiness.googleapis.com", Auth::Bearer(config.access_token), |b| {
            b.default_header("Accept", "application/json").max_requests_per_minute(Some(rate))
        })?;
        Ok(GoogleBusiness {
            http,
            account,
            locations,
            page_size: config.page_size.unwrap_or(MAX_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE) as usize,
            rescan_ms: config.rescan_days.unwrap_or(30).clamp(0, 365) * 86_400_000,
            full_every_secs: config.full_listing_hours.unwrap_or(24).clamp(1, 8_760) * 3_600,
            languages: config.languages.unwrap_or_default(),
            ctx,
        })
    }

    fn streams(&self) -> Vec<StreamSpec> {
        STREAMS.to_vec()
    }

    async fn check(&self) -> Result<(), ConnectorError> {
        let path = self.path(&self.locations[0]);
        self.http.get(&path).query(&[("pageSize", "1")]).send_json().await.map(|_| ())
    }

    fn read(&self, stream: &str, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        if stream != "reviews" {
            let error = ConnectorError::needs_human(format!("google_business has no stream `{stream}`"));
            return Box::pin(futures::stream::once(async move { Err(error) }));
        }
        let state: State = checkpoint.and_then(|c| serde_json::from_value(c).ok()).unwrap_or_default();
        paged(state, move |state: State| self.step(state))
    }
}

impl GoogleBusiness {
    fn path(&self, location: &str) -> String {
        format!("/v4/accounts/{}/locations/{location}/reviews", self.account)
    }

    /// The pass to run now: the one in progress, or the next location's.
    fn pass(&self, state: &State, after: Option<&str>) -> Option<Pass> {
        if let Some(pass) = &state.pass
            && self.locations.contains(&pass.location)
        {
            return Some(pass.clone());
        }
        let next = match after {
            None => self.locations.first(),
            Some(done) => {
                let i = self.locations.iter().position(|l| l == done)?;
                self.locations.get(i + 1)
            }
        }?;
        let now = self.ctx.now().timestamp();
        let full = state.locations.get(next).is_none_or(|k| now - k.full_at >= self.full_every_secs);
        Some(Pass { location: next.clone(), full, ..Pass::default() })
    }

    async fn step(&self, mut state: State) -> Result<Step<State>, ConnectorError> {
        let Some(mut pass) = self.pass(&state, None) else { return Ok(Step::Done) };
        let location = pass.location.clone();
        let parent = format!("accounts/{}/locations/{location}", self.account);
        let size = self.page_size.to_string();
        let mut query = vec![("pageSize", size.as_str()), ("orderBy", "updateTime desc")];
        if let Some(token) = &pass.token {
            query.push(("pageToken", token.as_str()));
        }
        let (_, list) = self.http.get(&self.path(&location)).query(&query).send_parsed::<ListPage>().await?;
        let mapped = map::reviews(&list.reviews, &parent, &self.languages);
        let mut page = mapped.page;
        pass.listed += list.reviews.len() as u64;
        pass.newest = mapped.updates.iter().copied().fold(pass.newest, i64::max);
        pass.seen.extend(mapped.names.iter().map(|n| review_id(n).to_owned()));
        let known = state.locations.get(&location).cloned();
        let now_ms = self.ctx.now().timestamp_millis();
        let cutoff = known.as_ref().map(|k| k.newest.min(now_ms) - self.rescan_ms);
        let oldest = mapped.updates.iter().copied().min();
        let reached_back = match (cutoff, oldest) {
            (Some(cutoff), Some(oldest)) => !pass.full && oldest < cutoff,
            _ => false,
        };
        match list.next_page_token.clone().filter(|t| !t.is_empty()) {
            Some(token) if !reached_back => {
                pass.token = Some(token);
                state.pass = Some(pass);
                page.checkpoint = serde_json::to_value(&state).unwrap_or_default();
                return Ok(Step::Page(page, state));
            }
            _ => {}
        }
        // The location's pass is over.
        let mut known = known.unwrap_or_default();
        known.newest = known.newest.max(pass.newest);
        if pass.full {
            let gone: Vec<String> = known.ids.difference(&pass.seen).cloned().collect();
            let at = self.ctx.now();
            for id in gone {
                page.records.push(map::deleted(&format!("{parent}/reviews/{id}"), &parent, at));
                known.ids.remove(&id);
            }
            known.full_at = self.ctx.now().timestamp();
            self.completeness(&parent, &pass, &list, &mut page);
        }
        known.ids.append(&mut pass.seen);
        state.locations.insert(location.clone(), known);
        state.pass = None;
        let next = self.pass(&state, Some(&location));
        state.pass = next;
        page.checkpoint = serde_json::to_value(&state).unwrap_or_default();
        Ok(match state.pass {
            Some(_) => Step::Page(page, state),
            None => {
                // The next run starts from the first location again.
                Step::Last(page)
            }
        })
    }

    /// After a full listing: the reviews listed against Google's own count.
    fn completeness(&self, parent: &str, pass: &Pass, list: &ListPage, page: &mut Page) {
        let Some(total) = list.total_review_count else { return };
        if total == pass.listed {
            return;
        }
        let average = list.average_rating.map(|a| format!(", averageRating {a}")).unwrap_or_default();
        let note = format!(
            "{parent}: {} reviews listed, Google reports totalReviewCount {total}{average}",
            pass.listed
        );
        tracing::warn!(connection = %self.ctx.connection, "incomplete review listing: {note}");
        page.notes.push(note);
    }
}

/// The last part of a review's name (`accounts/a/locations/l/reviews/{id}`).
fn review_id(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// The options as JSON, for tests and examples.
pub fn example_options(account: &str, locations: &[&str], access_token: &str) -> serde_json::Value {
    json!({ "access_token": access_token, "account": account, "locations": locations })
}
