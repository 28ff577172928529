//! The Mailchimp Marketing API v3 connector (`kind = "mailchimp"`).
//!
//! Streams:
//! - `campaigns`: one [`EmailCampaign`](engage_model::EmailCampaign) per campaign, its raw payload
//!   the campaign object with the campaign's report added under `report` once it has been sent.
//!   New campaigns come from `GET /campaigns?since_create_time=…` (sorted by creation, paged with
//!   `offset`/`count` until `total_items`), each sent one with `GET /reports/{id}`. Reports keep
//!   changing for weeks after a send (late opens and clicks), so every sync also re-reads the
//!   campaigns and reports sent in a trailing window (`rescan_days` before the newest send seen;
//!   `GET /campaigns?since_send_time=…` and `GET /reports?since_send_time=…`).
//! - `email_activity`: one [`EmailEvent`](engage_model::EmailEvent) per activity item (open,
//!   click, bounce) of each campaign sent in the same window, from
//!   `GET /reports/{id}/email-activity?since=…`.
//!
//! The datacenter comes from the API key's suffix (`…-us21` → `https://us21.api.mailchimp.com/3.0`)
//! unless `base_url` is given. Mailchimp allows 10 simultaneous connections per account and sends
//! no rate-limit headers: the client never has more than 10 requests in flight, and a 429 is
//! retried with backoff by the HTTP toolkit.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use engage_connect::http::{Auth, HttpClient, Pagination, Paginator, RequestSpec};
use engage_connect::{
    Checkpoint, Connector, ConnectorContext, ConnectorError, Field, FieldType, Page, PageStream, Schema,
    Secret, Step, StreamSpec, SyncMode, paged,
};
use engage_model::EntityKind;
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::{Value, json};

pub mod map;

/// Simultaneous connections Mailchimp allows an account.
pub const MAX_CONNECTIONS: usize = 10;
/// Days before the newest send whose reports and activity are read again on every sync.
pub const DEFAULT_RESCAN_DAYS: i64 = 45;
/// Activity is asked for from this long before the newest activity already synced.
pub const ACTIVITY_OVERLAP_SECS: i64 = 3_600;

/// Kind-specific options of a Mailchimp connection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailchimpConfig {
    /// An API key (`…-us21`): sent as the Basic password; its suffix names the datacenter.
    pub api_key: Option<Secret>,
    /// An OAuth access token (sent as `Bearer`), instead of `api_key`.
    pub access_token: Option<Secret>,
    /// The datacenter (`us21`) for an access token, or to override the key's suffix.
    pub datacenter: Option<String>,
    /// Earliest campaigns on the first sync (`YYYY-MM-DD`); everything when absent.
    pub start_date: Option<String>,
    /// Days before the newest send whose reports and activity are read again (1–365, default 45).
    pub rescan_days: Option<i64>,
    /// Records per page (`count`, 1–1000, default 1000).
    pub page_size: Option<i64>,
}

/// The Mailchimp connector.
pub struct Mailchimp {
    http: HttpClient,
    start: Option<DateTime<Utc>>,
    rescan: chrono::Duration,
    page_size: u64,
}

/// The API root for a datacenter.
pub fn datacenter_url(datacenter: &str) -> String {
    format!("https://{datacenter}.api.mailchimp.com/3.0")
}

/// The datacenter of an API key: its suffix after the last `-`.
pub fn key_datacenter(key: &str) -> Option<&str> {
    let (_, dc) = key.trim().rsplit_once('-')?;
    (!dc.is_empty() && dc.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(dc)
}

fn time_param(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

fn checkpoint_time(checkpoint: Option<&Checkpoint>, key: &str) -> Option<DateTime<Utc>> {
    checkpoint?.get(key)?.as_str().and_then(engage_connect::time::parse_timestamp)
}

#[async_trait]
impl Connector for Mailchimp {
    type Config = MailchimpConfig;
    const KIND: &'static str = "mailchimp";

    fn options() -> Schema {
        Schema::new(vec![
            Field::optional("api_key", FieldType::Secret, "API key (`…-us21`); or set access_token."),
            Field::optional("access_token", FieldType::Secret, "OAuth access token, instead of api_key."),
            Field::optional(
                "datacenter",
                FieldType::String,
                "Datacenter (`us21`); needed with access_token unless base_url is set.",
            ),
            Field::optional(
                "start_date",
                FieldType::String,
                "Earliest campaigns on the first sync, `YYYY-MM-DD`.",
            ),
            Field::optional(
                "rescan_days",
                FieldType::Integer { min: 1, max: 365 },
                "Days before the newest send whose reports and activity are read again (default 45).",
            ),
            Field::optional(
                "page_size",
                FieldType::Integer { min: 1, max: 1000 },
                "Records per page (default 1000).",
            ),
        ])
    }

    fn new(config: MailchimpConfig, ctx: ConnectorContext) -> Result<Self, ConnectorError> {
        let (auth, key_dc) = match (config.api_key, config.access_token) {
            (Some(key), None) => {
                let dc = key_datacenter(key.expose()).map(str::to_owned);
                (Auth::Basic { username: "engage".to_owned(), password: key }, dc)
            }
            (None, Some(token)) => (Auth::Bearer(token), None),
            _ => return Err(ConnectorError::needs_human("set exactly one of `api_key` and `access_token`")),
        };
        let datacenter = config.datacenter.or(key_dc);
        let default_base = match (&datacenter, &ctx.base_url) {
            (Some(dc), _) => datacenter_url(dc),
            (None, Some(base)) => base.clone(),
            (None, None) => {
                return Err(ConnectorError::needs_human(
                    "the datacenter is unknown: use an API key ending in `-<dc>`, or set `datacenter` or `base_url`",
                ));
            }
        };
        let start = match &config.start_date {
            Some(date) => Some(engage_connect::time::parse_timestamp(date).ok_or_else(|| {
                ConnectorError::needs_human(format!("start_date `{date}` is not a date (YYYY-MM-DD)"))
            })?),
            None => None,
        };
        let http = ctx.http(&default_base, auth, |b| b.max_concurrent(Some(MAX_CONNECTIONS)))?;
        Ok(Mailchimp {
            http,
            start,
            rescan: chrono::Duration::days(config.rescan_days.unwrap_or(DEFAULT_RESCAN_DAYS).clamp(1, 365)),
            page_size: config.page_size.unwrap_or(1000).clamp(1, 1000) as u64,
        })
    }

    fn streams(&self) -> Vec<StreamSpec> {
        vec![
            StreamSpec {
                name: "campaigns",
                entity: EntityKind::EmailCampaign,
                primary_key: &["id"],
                cursor_field: Some("create_time"),
                modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
            },
            StreamSpec {
                name: "email_activity",
                entity: EntityKind::EmailEvent,
                primary_key: &["campaign_id", "email_id", "action", "timestamp"],
                cursor_field: Some("timestamp"),
                modes: &[SyncMode::Incremental, SyncMode::FullRefresh],
            },
        ]
    }

    async fn check(&self) -> Result<(), ConnectorError> {
        self.http.get("/ping").send().await.map(|_| ())
    }

    fn read(&self, stream: &str, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        match stream {
            "campaigns" => self.campaigns(checkpoint),
            "email_activity" => self.email_activity(checkpoint),
            other => {
                let error = ConnectorError::needs_human(format!("mailchimp has no stream `{other}`"));
                futures::stream::once(async move { Err(error) }).boxed()
            }
        }
    }
}

/// Where the campaigns stream stands.
#[derive(Clone, Debug, Default)]
struct CampaignMark {
    /// Newest `create_time` synced, and the ids created at exactly that time.
    created: Option<DateTime<Utc>>,
    ids_at: Vec<String>,
    /// Newest `send_time` seen.
    newest_send: Option<DateTime<Utc>>,
}

impl CampaignMark {
    fn from(checkpoint: Option<&Checkpoint>) -> Self {
        let ids_at = checkpoint
            .and_then(|c| c.get("ids_at"))
            .and_then(Value::as_array)
            .map(|ids| ids.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        CampaignMark {
            created: checkpoint_time(checkpoint, "create_time"),
            ids_at,
            newest_send: checkpoint_time(checkpoint, "newest_send"),
        }
    }

    fn checkpoint(&self) -> Checkpoint {
        json!({
            "create_time": self.created.map(time_param),
            "ids_at": self.ids_at,
            "newest_send": self.newest_send.map(time_param),
        })
    }

    fn saw_send(&mut self, send: Option<DateTime<Utc>>) {
        self.newest_send = self.newest_send.max(send);
    }

    fn saw_create(&mut self, id: &str, created: DateTime<Utc>) {
        match self.created {
            Some(c) if c == created => {
                if !self.ids_at.iter().any(|i| i == id) {
                    self.ids_at.push(id.to_owned());
                }
            }
            Some(c) if c > created => {}
            _ => {
                self.created = Some(created);
                self.ids_at = vec![id.to_owned()];
            }
        }
    }
}

enum CampaignState {
    New(Box<Paginator>, CampaignMark),
    Window(CampaignMark),
}

/// Where the email activity stream stands.
#[derive(Clone, Debug, Default)]
struct ActivityMark {
    /// Activity is read from here (less the overlap).
    since: Option<DateTime<Utc>>,
    /// Campaigns sent from `newest_send − rescan_days` on are read.
    newest_send: Option<DateTime<Utc>>,
    /// Within an interrupted run: campaigns up to this (send time, id) are done.
    done: Option<(DateTime<Utc>, String)>,
    /// Within a run: the newest activity and send seen so far.
    seen_activity: Option<DateTime<Utc>>,
    seen_send: Option<DateTime<Utc>>,
}

impl ActivityMark {
    fn from(checkpoint: Option<&Checkpoint>) -> Self {
        let done = checkpoint.and_then(|c| c.get("done")).and_then(|d| {
            let at = d.get("send_time")?.as_str().and_then(engage_connect::time::parse_timestamp)?;
            Some((at, d.get("id")?.as_str()?.to_owned()))
        });
        ActivityMark {
            since: checkpoint_time(checkpoint, "since"),
            newest_send: checkpoint_time(checkpoint, "newest_send"),
            done,
            seen_activity: checkpoint_time(checkpoint, "seen_activity"),
            seen_send: checkpoint_time(checkpoint, "seen_send"),
        }
    }

    /// The checkpoint within a run: the same window and `since`, and how far the run got.
    fn partial(&self) -> Checkpoint {
        json!({
            "since": self.since.map(time_param),
            "newest_send": self.newest_send.map(time_param),
            "done": self.done.as_ref().map(|(at, id)| json!({ "send_time": time_param(*at), "id": id })),
            "seen_activity": self.seen_activity.map(time_param),
            "seen_send": self.seen_send.map(time_param),
        })
    }

    /// The checkpoint after a complete run.
    fn complete(&self) -> Checkpoint {
        json!({
            "since": self.since.max(self.seen_activity).map(time_param),
            "newest_send": self.newest_send.max(self.seen_send).map(time_param),
        })
    }
}

/// A sent campaign to read the activity of.
#[derive(Clone, Debug)]
struct Sent {
    id: String,
    send: DateTime<Utc>,
}

impl Mailchimp {
    /// The API root requests go to (the datacenter's, or `base_url`).
    pub fn base_url(&self) -> String {
        self.http.base_url().as_str().trim_end_matches('/').to_owned()
    }

    fn list(&self, path: &str, key: &str, query: Vec<(String, String)>) -> Paginator {
        let mut spec = RequestSpec::new(path);
        spec.query = query;
        let pagination = Pagination::OffsetLimit {
            offset_param: "offset".to_owned(),
            limit_param: "count".to_owned(),
            limit: self.page_size,
            total_pointer: Some("/total_items".to_owned()),
        };
        Paginator::new(self.http.clone(), spec, pagination, Some(format!("/{key}")))
    }

    /// Every record of a list, page by page (the window lists are bounded by `rescan_days`).
    async fn list_all(
        &self,
        path: &str,
        key: &str,
        query: Vec<(String, String)>,
    ) -> Result<Vec<Value>, ConnectorError> {
        let mut paginator = self.list(path, key, query);
        let mut all = Vec::new();
        while let Some(page) = paginator.next_page().await? {
            all.extend(page.records);
        }
        Ok(all)
    }

    /// The start of the trailing window: `rescan_days` before the newest send.
    fn window_start(&self, newest_send: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        newest_send.map(|s| s - self.rescan)
    }

    fn campaigns(&self, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        let mark = CampaignMark::from(checkpoint.as_ref());
        let mut query = vec![
            ("sort_field".to_owned(), "create_time".to_owned()),
            ("sort_dir".to_owned(), "ASC".to_owned()),
        ];
        if let Some(since) = mark.created.or(self.start) {
            query.push(("since_create_time".to_owned(), time_param(since)));
        }
        let paginator = Box::new(self.list("/campaigns", "campaigns", query));
        paged(CampaignState::New(paginator, mark), move |state| async move {
            match state {
                CampaignState::New(mut paginator, mut mark) => {
                    let Some(fetched) = paginator.next_page().await? else {
                        return self.window(mark).await;
                    };
                    let fresh: Vec<Value> = fetched
                        .records
                        .into_iter()
                        .filter(|c| {
                            let at = map::campaign_created(c);
                            let id = c.get("id").and_then(Value::as_str).unwrap_or_default();
                            !(at.is_some() && at == mark.created && mark.ids_at.iter().any(|i| i == id))
                        })
                        .collect();
                    let with_reports = self.with_reports(fresh).await?;
                    let mut page = Page::default();
                    for (campaign, report) in &with_reports {
                        if let (Some(id), Some(at)) =
                            (campaign.get("id").and_then(Value::as_str), map::campaign_created(campaign))
                        {
                            mark.saw_create(id, at);
                        }
                        mark.saw_send(map::campaign_sent(campaign));
                        map::push_campaign(&mut page, campaign, report.as_ref());
                    }
                    page.checkpoint = mark.checkpoint();
                    Ok(Step::Page(
                        page,
                        if paginator.is_done() {
                            CampaignState::Window(mark)
                        } else {
                            CampaignState::New(paginator, mark)
                        },
                    ))
                }
                CampaignState::Window(mark) => self.window(mark).await,
            }
        })
    }

    /// Each campaign with its report when it has been sent (up to 10 report requests at once).
    async fn with_reports(
        &self,
        campaigns: Vec<Value>,
    ) -> Result<Vec<(Value, Option<Value>)>, ConnectorError> {
        futures::stream::iter(campaigns)
            .map(|campaign| async move {
                let id = campaign.get("id").and_then(Value::as_str).filter(|id| map::safe_id(id));
                let report = match (id, map::campaign_sent(&campaign)) {
                    (Some(id), Some(_)) => {
                        let (_, report) =
                            self.http.get(&format!("/reports/{id}")).send_parsed::<Value>().await?;
                        Some(report)
                    }
                    _ => None,
                };
                Ok::<_, ConnectorError>((campaign, report))
            })
            .buffered(MAX_CONNECTIONS)
            .try_collect()
            .await
    }

    /// The trailing window: campaigns sent since `newest send − rescan_days`, with their
    /// current reports, read again because reports keep changing.
    async fn window(&self, mut mark: CampaignMark) -> Result<Step<CampaignState>, ConnectorError> {
        let Some(from) = self.window_start(mark.newest_send) else {
            let page = Page { checkpoint: mark.checkpoint(), ..Page::default() };
            return Ok(Step::Last(page));
        };
        let since = vec![("since_send_time".to_owned(), time_param(from))];
        let mut campaign_query = since.clone();
        campaign_query.push(("sort_field".to_owned(), "send_time".to_owned()));
        campaign_query.push(("sort_dir".to_owned(), "ASC".to_owned()));
        let (campaigns, reports) = futures::try_join!(
            self.list_all("/campaigns", "campaigns", campaign_query),
            self.list_all("/reports", "reports", since),
        )?;
        let mut page = Page::default();
        for campaign in &campaigns {
            let id = campaign.get("id").and_then(Value::as_str);
            let report = reports.iter().find(|r| r.get("id").and_then(Value::as_str) == id);
            mark.saw_send(map::campaign_sent(campaign));
            map::push_campaign(&mut page, campaign, report);
        }
        page.checkpoint = mark.checkpoint();
        Ok(Step::Last(page))
    }

    fn email_activity(&self, checkpoint: Option<Checkpoint>) -> PageStream<'_> {
        let mark = ActivityMark::from(checkpoint.as_ref());
        let list = async move {
            let mut query = Vec::new();
            if let Some(from) = self.window_start(mark.newest_send).or(self.start) {
                query.push(("since_send_time".to_owned(), time_param(from)));
            }
            query.push(("fields".to_owned(), "reports.id,reports.send_time,total_items".to_owned()));
            let reports = self.list_all("/reports", "reports", query).await?;
            let mut sent: Vec<Sent> = reports
                .iter()
                .filter_map(|r| {
                    let id = r.get("id")?.as_str().filter(|id| map::safe_id(id))?.to_owned();
                    let send =
                        r.get("send_time")?.as_str().and_then(engage_connect::time::parse_timestamp)?;
                    Some(Sent { id, send })
                })
                .collect();
            sent.sort_by(|a, b| (a.send, &a.id).cmp(&(b.send, &b.id)));
            if let Some(done) = &mark.done {
                sent.retain(|s| (s.send, &s.id) > (done.0, &done.1));
            }
            Ok::<_, ConnectorError>((sent, mark))
        };
        futures::stream::once(list)
            .map(move |listed| match listed {
                Ok((sent, mark)) => self.activity_pages(sent, mark),
                Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
            })
            .flatten()
            .boxed()
    }

    fn activity_pages(&self, sent: Vec<Sent>, mark: ActivityMark) -> PageStream<'_> {
        let since = mark.since.map(|s| s - chrono::Duration::seconds(ACTIVITY_OVERLAP_SECS));
        let last = sent.len();
        let mark = std::sync::Arc::new(std::sync::Mutex::new(mark));
        let final_mark = mark.clone();
        let pages = futures::stream::iter(sent.into_iter().enumerate())
            .map(move |(n, campaign)| {
                let first = self.activity_page(campaign.id.clone(), since, 0);
                async move { first.await.map(|page| (n, campaign, page)) }
            })
            .buffered(MAX_CONNECTIONS)
            .map(move |first| {
                let mark = mark.clone();
                match first {
                    Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
                    Ok((n, campaign, first)) => {
                        self.campaign_activity(campaign, since, first, n + 1 == last, mark).boxed()
                    }
                }
            })
            .flatten();
        let tail = futures::stream::once(async move {
            // An empty window still moves nothing forward but records the run.
            let mark = final_mark.lock().map(|m| m.clone()).unwrap_or_default();
            Ok(Page { checkpoint: mark.complete(), ..Page::default() })
        });
        // The last campaign's last page already carries the complete checkpoint; the tail page
        // only matters when there was no campaign to read.
        if last == 0 { tail.boxed() } else { pages.boxed() }
    }

    /// One page of a campaign's activity.
    fn activity_page(
        &self,
        id: String,
        since: Option<DateTime<Utc>>,
        offset: u64,
    ) -> impl std::future::Future<Output = Result<map::ActivityBody, ConnectorError>> + Send + 'static {
        let mut query =
            vec![("count".to_owned(), self.page_size.to_string()), ("offset".to_owned(), offset.to_string())];
        if let Some(since) = since {
            query.push(("since".to_owned(), time_param(since)));
        }
        let request = self.http.get(&format!("/reports/{id}/email-activity")).query_pairs(query);
        async move { request.send_parsed::<map::ActivityBody>().await.map(|(_, body)| body) }
    }

    /// A campaign's activity pages, from its first page on.
    fn campaign_activity(
        &self,
        campaign: Sent,
        since: Option<DateTime<Utc>>,
        first: map::ActivityBody,
        is_last: bool,
        mark: std::sync::Arc<std::sync::Mutex<ActivityMark>>,
    ) -> PageStream<'_> {
        paged(Some((first, 0u64)), move |state: Option<(map::ActivityBody, u64)>| {
            let campaign = campaign.clone();
            let mark = mark.clone();
            async move {
                let (body, offset) = match state {
                    Some(s) => s,
                    None => return Ok(Step::Done),
                };
                let count = body.emails.len() as u64;
                let mut page = map::activity(&body.emails);
                let next = offset + count;
                let more = count > 0 && next < body.total_items.unwrap_or(0);
                page.checkpoint = {
                    let mut m = mark.lock().map_err(|_| ConnectorError::retry("activity state poisoned"))?;
                    m.seen_activity = m.seen_activity.max(map::newest_event(&page));
                    m.seen_send = m.seen_send.max(Some(campaign.send));
                    if more {
                        m.partial()
                    } else {
                        m.done = Some((campaign.send, campaign.id.clone()));
                        if is_last { m.complete() } else { m.partial() }
                    }
                };
                if more {
                    let body = self.activity_page(campaign.id.clone(), since, next).await?;
                    return Ok(Step::Page(page, Some((body, next))));
                }
                Ok(Step::Last(page))
            }
        })
    }
}
