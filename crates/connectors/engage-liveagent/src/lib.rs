//! The LiveAgent connector (`kind = "liveagent"`, API v3).
//!
//! Streams:
//! - `tickets` → tickets, `GET /api/v3/tickets` filtered on `date_changed` and sorted by it;
//!   a deleted ticket (status `X`) is a deletion at its `date_deleted`;
//! - `contacts` → identities, `GET /api/v3/contacts` filtered and sorted on `date_created` (the
//!   contact list has no change time: new contacts come incrementally, edits with a full
//!   refresh).
//!
//! How the vendor's quirks are handled:
//! - Authentication is the `apikey` header.
//! - LiveAgent allows 180 requests a minute per API key: the client paces itself at that rate
//!   (or the connection's lower `max_requests_per_minute`) instead of running into 429s.
//! - Timestamps are `YYYY-MM-DD HH:MM:SS` without a zone, in the account's configured zone: the
//!   `time_zone` option says which, both for reading them and for writing filter values (in a
//!   repeated hour the earlier instant, in a skipped hour the time after the gap).
//! - Lists carry no total and no next link: a page shorter than `_perPage` (or empty) is the end.
//! - Page numbers over a list that changes while it is read skip records: each request filters
//!   `date_changed D>=` the newest time already read and asks for page 1, moving to page 2, 3…
//!   only while a whole page shares one second. Repeats at the seam are absorbed by the store.
//! - Each run starts `lookback_minutes` before the newest change seen, for the search index's lag
//!   and the hour a daylight-saving change repeats.

use async_trait::async_trait;
use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use engage_connect::http::{Auth, HttpClient};
use engage_connect::{
    Checkpoint, Connector, ConnectorContext, ConnectorError, Field, FieldType, PageStream, Schema, Secret,
    Step, StreamSpec, SyncMode, paged,
};
use engage_model::EntityKind;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

mod map;

/// LiveAgent's limit per API key.
pub const REQUESTS_PER_MINUTE: u32 = 180;

/// Kind-specific options of a LiveAgent connection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveAgentConfig {
    /// The account name (`acme` for `acme.ladesk.com`); not needed when `base_url` is set.
    pub account: Option<String>,
    /// The API key (`apikey` header).
    pub api_key: Secret,
    /// The account's time zone, an IANA name (`Europe/Bratislava`): LiveAgent writes and reads
    /// every time in it, without saying so.
    pub time_zone: String,
    /// Earliest data on the first sync (`YYYY-MM-DD`, in the account's zone).
    pub start_date: Option<String>,
    /// Records per request (1–100, default 100).
    pub page_size: Option<i64>,
    /// Minutes each run re-reads before the newest change seen (0–1440, default 60).
    pub lookback_minutes: Option<i64>,
}

/// The LiveAgent connector.
pub struct LiveAgent {
    http: HttpClient,
    tz: Tz,
    start_time: i64,
    page_size: usize,
    lookback: i64,
}

const STREAMS: [StreamSpec; 2] = [
    StreamSpec {
        name: "tickets",
        entity: EntityKind::Ticket,
        primary_key: &["id"],
        cursor_field: Some("date_changed"),
        modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
    },
    StreamSpec {
        name: "contacts",
        entity: EntityKind::Identity,
        primary_key: &["id"],
        cursor_field: Some("date_created"),
        modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
    },
];

/// A zone-less `YYYY-MM-DD HH:MM:SS` read in `tz`: in a repeated hour the earlier instant, in a
/// skipped hour the time after the gap (read with the offset before it).
pub fn parse_local(text: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S").ok()?;
    let at = match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => t,
        LocalResult::Ambiguous(early, _) => early,
        LocalResult::None => {
            let before = tz.from_local_datetime(&(naive - chrono::Duration::hours(1))).earliest()?;
            before + chrono::Duration::hours(1)
        }
    };
    Some(at.with_timezone(&Utc))
}

/// `t` as LiveAgent writes times: `YYYY-MM-DD HH:MM:SS` in `tz`.
pub fn format_local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// What a stream lists.
#[derive(Clone, Copy, PartialEq, Eq)]
enum List {
    Tickets,
    Contacts,
}

impl List {
    fn path(self) -> &'static str {
        match self {
            List::Tickets => "/api/v3/tickets",
            List::Contacts => "/api/v3/contacts",
        }
    }

    /// The column the list is filtered and sorted on.
    fn column(self) -> &'static str {
        match self {
            List::Tickets => "date_changed",
            List::Contacts => "date_created",
        }
    }
}

#[async_trait]
impl Connector for LiveAgent {
    type Config = LiveAgentConfig;
    const KIND: &'static str = "liveagent";

    fn options() -> Schema {
        Schema::new(vec![
            Field::optional("account", FieldType::String, "Account name (`acme` for acme.ladesk.com)."),
            Field::required("api_key", FieldType::Secret, "API key (Configuration > System > API)."),
            Field::required(
                "time_zone",
                FieldType::String,
                "The account's time zone, IANA name (Configuration > System > Time zone).",
            ),
            Field::optional(
                "start_date",
                FieldType::String,
                "Earliest data on the first sync, `YYYY-MM-DD`.",
            ),
            Field::optional(
                "page_size",
                FieldType::Integer { min: 1, max: 100 },
                "Records per request (default 100).",
            ),
            Field::optional(
                "lookback_minutes",
                FieldType::Integer { min: 0, max: 1_440 },
                "Minutes each run re-reads before the newest change seen (default 60).",
            ),
        ])
    }

    fn new(config: LiveAgentConfig, ctx: ConnectorContext) -> Result<Self, ConnectorError> {
        let default_base = match (&config.account, &ctx.base_url) {
            (Some(account), _) => format!("https://{account}.ladesk.com"),
            (None, Some(base)) => base.clone(),
            (None, None) => {
                return Err(ConnectorError::needs_human(
                    "set `account` (or `base_url`) for a LiveAgent connection",
                ));
            }
        };
        let tz: Tz = config.time_zone.trim().parse().map_err(|_| {
            ConnectorError::needs_human(format!(
                "time_zone `{}` is not an IANA time zone (like `Europe/Bratislava`)",
                config.time_zone
            ))
        })?;
        let start_time = match &config.start_date {
            Some(date) => {
                let midnight = format!("{} 00:00:00", date.trim());
                parse_local(&midnight, tz)
                    .ok_or_else(|| {
                        ConnectorError::needs_human(format!("start_date `{date}` is not a date (YYYY-MM-DD)"))
                    })?
                    .timestamp()
            }
            None => 0,
        };
        let rate = ctx
            .max_requests_per_minute
            .filter(|n| *n > 0)
            .map_or(REQUESTS_PER_MINUTE, |n| n.min(REQUESTS_PER_MINUTE));
        let auth = Auth::Header { name: "apikey".to_owned(), value: config.api_key };
        let http = ctx.http(&default_base, auth, |b| {
            b.default_header("Accept", "application/json").max_requests_per_minute(Some(rate))
        })?;
        Ok(LiveAgent {
            http,
            tz,
            start_time,
            page_size: config.page_size.unwrap_or(100).clamp(1, 100) as usize,
            lookback: config.lookback_minutes.unwrap_or(60).clamp(0, 1_440) * 60,
        })
    }

    fn streams(&self) -> Vec<StreamSpec> {
        STREAMS.to_vec()
    }

    async fn check(&self) -> Result<(), ConnectorError> {
        let request = self.http.get(List::Tickets.path()).query(&[("_page", "1"), ("_perPage", "1")]);
        request.send_json().await.map(|_| ())
    }

    fn read(&self, stream: &str, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        match stream {
            "tickets" => self.list(List::Tickets, checkpoint),
            "contacts" => self.list(List::Contacts, checkpoint),
            other => {
                let error = ConnectorError::needs_human(format!("liveagent has no stream `{other}`"));
                Box::pin(futures::stream::once(async move { Err(error) }))
            }
        }
    }
}

/// Where a read is: the filter's lower bound, the page under it, the newest time seen.
struct State {
    from: i64,
    page: u32,
    newest: i64,
}

impl LiveAgent {
    fn start(&self, checkpoint: Option<&Checkpoint>) -> State {
        let int = |key: &str| checkpoint.and_then(|c| c.get(key)).and_then(Value::as_i64);
        if let (Some(from), Some(page)) = (int("from"), int("page")) {
            let page = u32::try_from(page).unwrap_or(1).max(1);
            return State { from, page, newest: int("newest").unwrap_or(from) };
        }
        let since = int("since").unwrap_or(self.start_time);
        State { from: (since - self.lookback).max(0), page: 1, newest: since }
    }

    fn list(&self, list: List, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        let state = self.start(checkpoint.as_ref());
        paged(state, move |state: State| async move {
            let from = DateTime::from_timestamp(state.from, 0).unwrap_or_default();
            let filters = json!([[list.column(), "D>=", format_local(from, self.tz)]]).to_string();
            let query = [
                ("_filters".to_owned(), filters),
                ("_sortField".to_owned(), list.column().to_owned()),
                ("_sortDir".to_owned(), "ASC".to_owned()),
                ("_page".to_owned(), state.page.to_string()),
                ("_perPage".to_owned(), self.page_size.to_string()),
            ];
            let (_, items) =
                self.http.get(list.path()).query_pairs(query).send_parsed::<Vec<Box<RawValue>>>().await?;
            let mapped = match list {
                List::Tickets => map::tickets(&items, self.tz),
                List::Contacts => map::contacts(&items, self.tz),
            };
            let mut page = mapped.page;
            let newest = mapped.times.iter().copied().fold(state.newest, i64::max);
            // A short (or empty) page is the end: LiveAgent gives no total and no next link.
            if items.len() < self.page_size {
                page.checkpoint = json!({ "since": newest });
                return Ok(Step::Last(page));
            }
            // The next request starts at the newest time of this page, page 1 again; only a
            // whole page within one second needs the next page number.
            let last = mapped.times.iter().copied().max().unwrap_or(state.from);
            let next = if last > state.from {
                State { from: last, page: 1, newest }
            } else {
                State { from: state.from, page: state.page + 1, newest }
            };
            page.checkpoint = json!({ "from": next.from, "page": next.page, "newest": newest });
            Ok(Step::Page(page, next))
        })
    }
}
