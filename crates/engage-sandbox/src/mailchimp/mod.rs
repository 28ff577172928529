//! The Mailchimp Marketing API v3 simulator: campaigns, campaign reports and per-recipient email
//! activity, with API-key Basic (or OAuth Bearer) authentication and the limit of 10
//! simultaneous connections.
//!
//! Routes (each also under `/3.0`): `GET /campaigns` (route `campaigns`), `GET /reports`
//! (`reports`), `GET /reports/{id}` (`report`), `GET /reports/{id}/email-activity`
//! (`email_activity`), `GET /ping` (`ping`). Ground truth has two streams:
//! - [`CAMPAIGNS`]: one record per campaign, its raw payload the campaign object with the
//!   campaign's report under `"report"` once it has been sent;
//! - [`EMAIL_ACTIVITY`]: one record per activity item, its raw payload the item's email envelope
//!   (`campaign_id`, `list_id`, `list_is_active`, `email_id`, `email_address`) followed by the
//!   item's own fields (`action`, `type`, `timestamp`, `url`, `ip`); its id is
//!   [`activity_id`].
//!
//! Behaviour worth knowing (reviews-email.md §6):
//! - Lists page with `offset`/`count` (default 10, at most 1000; more is a 400) and report
//!   `total_items`. `/campaigns` filters on `since_create_time`/`since_send_time` (inclusive) and
//!   sorts on `sort_field` (`create_time`, `send_time`) and `sort_dir`; `/reports` filters on
//!   `since_send_time` and lists in send order; email activity filters on `since` (inclusive).
//! - Reports keep changing for weeks: a [`Mutation`]'s updates add opens and clicks to campaigns
//!   sent in the last [`SETTLING_DAYS`] days (their reports follow); creations create and send
//!   new campaigns. Nothing is deleted (Mailchimp exposes no deletions).
//! - `opens.open_rate` and `clicks.click_rate` are fractions of the delivered emails,
//!   `list_stats.*_rate` percentages; about a third of the opens are machine opens (Apple Mail
//!   Privacy Protection), left out of `opens.proxy_excluded_*`.
//! - At most [`MAX_CONNECTIONS`] requests of an account in flight: the next one gets a 429
//!   problem document, without rate-limit headers. [`MailchimpOptions::response_delay`] keeps
//!   requests in flight long enough for tests to see it.
//! - The official examples are the first three campaigns: `324b8a398e` (never sent),
//!   `a79651273b` (its report is the real record) and `7847cdaeff` (its activity is the example).
//! - Malformed records (see [`Faults::malformed_rate`]) get `"create_time": "not a date"`
//!   (campaigns) or `"timestamp": "not a date"` (activity items).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rand::Rng;
use serde_json::{Map, Value, json};

use crate::credentials;
use crate::faults::Faults;
use crate::rng;
use crate::sim::{Control, MUTATION_STEP, Sim, SimConfig, SimState, Simulator};
use crate::time::Ts;
use crate::timeline::Mutation;
use crate::truth::{GroundTruth, TruthRecord};

/// A running Mailchimp simulator.
pub type MailchimpSim = Sim<Mailchimp>;

/// Ground-truth stream (and route) of campaigns.
pub const CAMPAIGNS: &str = "campaigns";
/// Ground-truth stream (and route) of email activity.
pub const EMAIL_ACTIVITY: &str = "email_activity";
/// Route of `GET /reports`.
pub const REPORTS: &str = "reports";
/// Route of `GET /reports/{id}`.
pub const REPORT: &str = "report";
/// Route of `GET /ping`.
pub const PING: &str = "ping";
/// Simultaneous connections Mailchimp allows an account.
pub const MAX_CONNECTIONS: u64 = 10;
/// Days after its send during which a campaign's report still changes.
pub const SETTLING_DAYS: i64 = 30;

/// The official campaign list example (one campaign, never sent).
pub const CAMPAIGNS_EXAMPLE: &str = include_str!("../../fixtures/mailchimp/campaigns_list_assembled.json");
/// The real report record of campaign `a79651273b`.
pub const REPORT_EXAMPLE: &str =
    include_str!("../../fixtures/mailchimp/report_get_campaign_real_record.json");
/// The email activity example of campaign `7847cdaeff`.
pub const ACTIVITY_EXAMPLE: &str =
    include_str!("../../fixtures/mailchimp/email_activity_list_assembled.json");
/// The official 401 body.
pub const ERROR_401: &str = include_str!("../../fixtures/mailchimp/error_401_api_key_invalid.json");
/// The official 404 body.
pub const ERROR_404: &str = include_str!("../../fixtures/mailchimp/error_404_resource_not_found.json");

const ERRORS_DOC: &str = "https://mailchimp.com/developer/marketing/docs/errors/";
const LIST_ID: &str = "16d6ec4ffc";
const FIXED: u64 = 3;
const URLS: [&str; 3] =
    ["https://example.com/sale", "https://example.com/blog/spring", "https://example.com/account"];

/// Mailchimp simulator options.
#[derive(Clone, Debug, PartialEq)]
pub struct MailchimpOptions {
    /// Seed, clock, faults; `records` is the number of generated campaigns.
    pub sim: SimConfig,
    /// The API key accepted as the Basic password (any user name), ending in `-<dc>`.
    pub api_key: String,
    /// An OAuth access token accepted as `Bearer`.
    pub access_token: String,
    /// Simultaneous requests allowed per account (0 = unlimited).
    pub max_connections: u64,
    /// Time every request spends in the handler (holding its connection slot).
    pub response_delay: Duration,
}

impl Default for MailchimpOptions {
    fn default() -> Self {
        MailchimpOptions {
            sim: SimConfig::default(),
            api_key: "0123456789abcdef0123456789abcdef-us21".to_owned(),
            access_token: "sandbox-oauth-token".to_owned(),
            max_connections: MAX_CONNECTIONS,
            response_delay: Duration::ZERO,
        }
    }
}

impl MailchimpOptions {
    /// Default options with this seed and number of generated campaigns.
    pub fn new(seed: u64, campaigns: usize) -> Self {
        let mut o = MailchimpOptions::default();
        o.sim.seed = seed;
        o.sim.records = campaigns;
        o
    }

    /// No connection limit (for benchmarks).
    pub fn unlimited() -> Self {
        MailchimpOptions { max_connections: 0, ..MailchimpOptions::default() }
    }
}

/// `2023-11-06T20:17:57+00:00`, Mailchimp's timestamp form.
pub fn mc_time(unix: i64) -> String {
    let mut text = Ts(unix).to_rfc3339();
    text.pop();
    text.push_str("+00:00");
    text
}

fn parse_time(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text.trim()).ok().map(|t| t.timestamp())
}

/// The id of an activity item: `{campaign_id}/{email_id}/{action}/{timestamp}`, plus `/{url}` for
/// clicks (the text of each field as served).
pub fn activity_id(
    campaign: &str,
    email_id: &str,
    action: &str,
    timestamp: &str,
    url: Option<&str>,
) -> String {
    match url {
        Some(url) => format!("{campaign}/{email_id}/{action}/{timestamp}/{url}"),
        None => format!("{campaign}/{email_id}/{action}/{timestamp}"),
    }
}

/// One campaign's facts.
#[derive(Clone, Debug)]
struct Campaign {
    index: u64,
    id: String,
    web_id: u64,
    create: i64,
    send: Option<i64>,
    recipients: u64,
    /// Latest time its base activity may have.
    cap: i64,
}

/// One activity item.
#[derive(Clone, Debug)]
struct Activity {
    recipient: u64,
    action: &'static str,
    bounce: Option<&'static str>,
    at: i64,
    url: Option<&'static str>,
    ip: String,
    machine: bool,
    /// Stable key (for malformations).
    key: u64,
}

#[derive(Debug, Default)]
struct Changes {
    /// Campaign index -> times of the mutations that added activity to it.
    revisions: BTreeMap<u64, Vec<i64>>,
    /// Campaigns created by mutations.
    created: Vec<Campaign>,
    mutations: u64,
}

/// The Mailchimp simulator's state (use it through [`MailchimpSim`]).
#[derive(Debug)]
pub struct Mailchimp {
    seed: u64,
    api_key: String,
    access_token: String,
    max_connections: u64,
    delay: Duration,
    generated: u64,
    from: i64,
    span: i64,
    born: i64,
    changes: Mutex<Changes>,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    refused: AtomicU64,
}

/// Holds one connection slot while a request is served.
struct Slot<'a>(&'a AtomicU64);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Mailchimp {
    /// The most requests that were in flight at once.
    pub fn max_in_flight(&self) -> u64 {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    /// Requests refused for exceeding the connection limit.
    pub fn refused_connections(&self) -> u64 {
        self.refused.load(Ordering::SeqCst)
    }

    /// Sent campaigns whose send time is at or after `since` (Unix seconds).
    pub fn sent_since(&self, since: i64) -> usize {
        self.all().iter().filter(|c| c.send.is_some_and(|s| s >= since)).count()
    }

    /// The newest send time of any campaign.
    pub fn newest_send(&self) -> Option<i64> {
        self.all().iter().filter_map(|c| c.send).max()
    }

    fn enter(&self) -> Option<Slot<'_>> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let slot = Slot(&self.in_flight);
        if self.max_connections > 0 && now > self.max_connections {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return None;
        }
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        Some(slot)
    }

    fn fixed(&self, index: u64) -> Campaign {
        let (id, web_id, create, send, recipients) = match index {
            0 => ("324b8a398e", 13_531_140, "2022-12-27T08:12:59+00:00", None, 47),
            1 => {
                ("a79651273b", 13_531_164, "2022-12-27T08:20:41+00:00", Some("2022-12-27T08:36:55+00:00"), 50)
            }
            _ => {
                ("7847cdaeff", 13_702_212, "2023-11-06T19:40:10+00:00", Some("2023-11-06T20:00:00+00:00"), 1)
            }
        };
        let create = parse_time(create).unwrap_or(0);
        let send = send.and_then(parse_time);
        Campaign { index, id: id.to_owned(), web_id, create, send, recipients, cap: self.born }
    }

    fn generated(&self, index: u64) -> Campaign {
        let k = index - FIXED;
        let create =
            self.from + (i128::from(k) * i128::from(self.span) / i128::from(self.generated.max(1))) as i64;
        let h = rng::hash(self.seed, &[rng::tag(CAMPAIGNS), index]);
        let sent = rng::unit(h) >= 0.1;
        let send = sent.then_some(create + 1_800 + (h % 7_200) as i64).filter(|s| *s <= self.born);
        Campaign {
            index,
            id: format!("{:010x}", rng::mix(h) & 0xff_ffff_ffff),
            web_id: 14_000_000 + index,
            create,
            send,
            recipients: 3 + (rng::mix(h ^ 1) % 23),
            cap: self.born,
        }
    }

    /// Every campaign, in index order.
    fn all(&self) -> Vec<Campaign> {
        let mut all: Vec<Campaign> = (0..FIXED).map(|i| self.fixed(i)).collect();
        all.extend((FIXED..FIXED + self.generated).map(|i| self.generated(i)));
        let changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        all.extend(changes.created.iter().cloned());
        all
    }

    fn find(&self, id: &str) -> Option<Campaign> {
        self.all().into_iter().find(|c| c.id == id)
    }

    fn email(&self, campaign: &Campaign, recipient: u64) -> (String, String) {
        // Distinct people within a campaign (7919 is prime to 5000), shared across campaigns.
        let offset = rng::hash(self.seed, &[rng::tag("subscriber"), campaign.index]) % 5_000;
        let person = (offset + recipient * 7_919) % 5_000;
        let email = format!("subscriber{person}@example.com");
        let h = rng::hash(self.seed, &[rng::tag("email_id"), person]);
        (email, format!("{:016x}{:016x}", h, rng::mix(h)))
    }

    /// Every activity item of a sent campaign, in time order.
    fn activity(&self, c: &Campaign) -> Vec<Activity> {
        let Some(send) = c.send else { return Vec::new() };
        if c.index < FIXED {
            return Vec::new();
        }
        let window = (c.cap - send).clamp(0, 3 * 86_400);
        let mut out = Vec::new();
        let mut push = |recipient, action, bounce, at: i64, url, machine, n: u64| {
            let key = rng::hash(self.seed, &[c.index, recipient, n]);
            let ip = if machine {
                format!("17.58.{}.{}", key % 250, (key >> 8) % 250)
            } else {
                format!("198.51.100.{}", key % 250)
            };
            out.push(Activity { recipient, action, bounce, at: at.min(c.cap), url, ip, machine, key });
        };
        for j in 0..c.recipients {
            let mut r = rng::rng(self.seed, &[rng::tag(EMAIL_ACTIVITY), c.index, j]);
            if r.random_bool(0.04) {
                let kind = if r.random_bool(0.6) { "hard" } else { "soft" };
                push(j, "bounce", Some(kind), send + r.random_range(30..600), None, false, 0);
                continue;
            }
            if !r.random_bool(0.5) || window == 0 {
                continue;
            }
            let machine = r.random_bool(0.35);
            let first =
                send + if machine { r.random_range(1..120) } else { r.random_range(60..=window.max(61)) };
            push(j, "open", None, first, None, machine, 1);
            for n in 0..r.random_range(0..3u64) {
                push(j, "open", None, first + r.random_range(60..86_400), None, false, 2 + n);
            }
            if r.random_bool(0.3) {
                let url = URLS[r.random_range(0..URLS.len())];
                push(j, "click", None, first + r.random_range(5..3_600), Some(url), false, 10);
            }
        }
        let changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        for (k, at) in changes.revisions.get(&c.index).into_iter().flatten().enumerate() {
            let mut r = rng::rng(self.seed, &[rng::tag("late"), c.index, k as u64]);
            for n in 0..r.random_range(1..4u64) {
                let j = r.random_range(0..c.recipients);
                let url = URLS[r.random_range(0..URLS.len())];
                let (action, url) = if r.random_bool(0.4) { ("click", Some(url)) } else { ("open", None) };
                let key = 100 + 10 * k as u64 + n;
                out.push(Activity {
                    recipient: j,
                    action,
                    bounce: None,
                    at: at + n as i64,
                    url,
                    ip: format!("203.0.113.{}", key % 250),
                    machine: false,
                    key: rng::hash(self.seed, &[c.index, j, key]),
                });
            }
        }
        out.sort_by_key(|a| (a.at, a.recipient, a.key));
        out
    }

    fn campaign_object(&self, c: &Campaign, control: &Control) -> Value {
        if c.index == 0 {
            return fixture_list(CAMPAIGNS_EXAMPLE, "campaigns").into_iter().next().unwrap_or(Value::Null);
        }
        let malformed = self.malformed(control, CAMPAIGNS, c.index);
        let title = match c.index {
            1 => "Untitled".to_owned(),
            2 => "November news".to_owned(),
            i => format!("Campaign {i}"),
        };
        let subject = match c.index {
            1 => "Airbyte Test".to_owned(),
            i => format!("News #{i} from the sandbox"),
        };
        let long = format!("https://us21.campaign-archive.com/?u=caf9055242d41edd9215d1898&id={}", c.id);
        json!({
            "id": c.id,
            "web_id": c.web_id,
            "type": "regular",
            "create_time": if malformed { "not a date".to_owned() } else { mc_time(c.create) },
            "archive_url": format!("http://eepurl.com/s{}", c.web_id),
            "long_archive_url": long,
            "status": if c.send.is_some() { "sent" } else { "save" },
            "emails_sent": if c.send.is_some() { c.recipients } else { 0 },
            "send_time": c.send.map(mc_time).unwrap_or_default(),
            "content_type": "template",
            "needs_block_refresh": false,
            "resendable": false,
            "recipients": {
                "list_id": LIST_ID,
                "list_is_active": true,
                "list_name": "Airbyte",
                "segment_text": "",
                "recipient_count": c.recipients
            },
            "settings": {
                "subject_line": subject,
                "preview_text": "",
                "title": title,
                "from_name": "Sandbox",
                "reply_to": "news@example.com",
                "use_conversation": false,
                "to_name": "",
                "folder_id": "",
                "authenticate": true,
                "auto_footer": false,
                "inline_css": false,
                "auto_tweet": false,
                "fb_comments": true,
                "timewarp": false,
                "template_id": 13,
                "drag_and_drop": true
            },
            "tracking": {
                "opens": true,
                "html_clicks": true,
                "text_clicks": false,
                "goal_tracking": false,
                "ecomm360": false,
                "google_analytics": "",
                "clicktale": ""
            },
            "delivery_status": { "enabled": false },
            "_links": []
        })
    }

    fn report(&self, c: &Campaign) -> Option<Value> {
        let send = c.send?;
        if c.index == 1 {
            return serde_json::from_str(REPORT_EXAMPLE).ok();
        }
        let activity = if c.index == 2 { Vec::new() } else { self.activity(c) };
        let recipients_with = |pred: &dyn Fn(&Activity) -> bool| {
            activity.iter().filter(|a| pred(a)).map(|a| a.recipient).collect::<BTreeSet<_>>().len() as u64
        };
        let count = |pred: &dyn Fn(&Activity) -> bool| activity.iter().filter(|a| pred(a)).count() as u64;
        let last = |action: &str| {
            activity
                .iter()
                .filter(|a| a.action == action)
                .map(|a| a.at)
                .max()
                .map(mc_time)
                .unwrap_or_default()
        };
        let (mut sent, mut hard, mut soft) = (
            c.recipients,
            recipients_with(&|a| a.bounce == Some("hard")),
            recipients_with(&|a| a.bounce == Some("soft")),
        );
        let (mut opens, mut unique_opens, mut human_opens, mut human_unique) = (
            count(&|a| a.action == "open"),
            recipients_with(&|a| a.action == "open"),
            count(&|a| a.action == "open" && !a.machine),
            recipients_with(&|a| a.action == "open" && !a.machine),
        );
        let (mut clicks, mut clickers) =
            (count(&|a| a.action == "click"), recipients_with(&|a| a.action == "click"));
        let mut unique_clicks = activity
            .iter()
            .filter(|a| a.action == "click")
            .map(|a| (a.recipient, a.url))
            .collect::<BTreeSet<_>>()
            .len() as u64;
        let (mut last_open, mut last_click) = (last("open"), last("click"));
        if c.index == 2 {
            // The example activity: one recipient, one open.
            (sent, hard, soft, opens, unique_opens, human_opens, human_unique) = (1, 0, 0, 1, 1, 1, 1);
            (clicks, clickers, unique_clicks) = (0, 0, 0);
            (last_open, last_click) = ("2023-11-06T20:17:57+00:00".to_owned(), String::new());
        }
        let h = rng::hash(self.seed, &[rng::tag(REPORT), c.index]);
        let (unsubscribed, abuse) = (h % 3, u64::from(h.is_multiple_of(17)));
        let delivered = sent.saturating_sub(hard + soft);
        let frac = |n: u64| if delivered == 0 { 0.0 } else { n as f64 / delivered as f64 };
        Some(json!({
            "id": c.id,
            "campaign_title": format!("Campaign {}", c.index),
            "type": "regular",
            "list_id": LIST_ID,
            "list_is_active": true,
            "list_name": "Airbyte",
            "subject_line": format!("News #{} from the sandbox", c.index),
            "preview_text": "",
            "emails_sent": sent,
            "abuse_reports": abuse,
            "unsubscribed": unsubscribed,
            "send_time": mc_time(send),
            "bounces": { "hard_bounces": hard, "soft_bounces": soft, "syntax_errors": 0 },
            "forwards": { "forwards_count": 0, "forwards_opens": 0 },
            "opens": {
                "opens_total": opens,
                "proxy_excluded_opens": human_opens,
                "unique_opens": unique_opens,
                "proxy_excluded_unique_opens": human_unique,
                "open_rate": frac(unique_opens),
                "proxy_excluded_open_rate": frac(human_unique),
                "last_open": last_open
            },
            "clicks": {
                "clicks_total": clicks,
                "unique_clicks": unique_clicks,
                "unique_subscriber_clicks": clickers,
                "click_rate": frac(clickers),
                "last_click": last_click
            },
            "facebook_likes": { "recipient_likes": 0, "unique_likes": 0, "facebook_likes": 0 },
            "list_stats": {
                "sub_rate": 0,
                "unsub_rate": 1,
                "open_rate": 100.0 * frac(unique_opens),
                "proxy_excluded_open_rate": 100.0 * frac(human_unique),
                "click_rate": 100.0 * frac(clickers)
            },
            "timeseries": [],
            "ecommerce": { "total_orders": 0, "total_spent": 0, "total_revenue": 0, "currency_code": "USD" },
            "delivery_status": { "enabled": false }
        }))
    }

    /// The campaign's email objects with their activity at or after `since`, in email order.
    fn emails(&self, c: &Campaign, since: Option<i64>, control: &Control) -> Vec<Value> {
        let keep = |at: i64| since.is_none_or(|s| at >= s);
        if c.index == 2 {
            let at = parse_time("2023-11-06T20:17:57+00:00").unwrap_or(0);
            return if keep(at) { fixture_list(ACTIVITY_EXAMPLE, "emails") } else { Vec::new() };
        }
        let faults = control.faults(EMAIL_ACTIVITY);
        let mut by_recipient: BTreeMap<u64, Vec<Value>> = BTreeMap::new();
        for a in self.activity(c).into_iter().filter(|a| keep(a.at)) {
            let malformed = faults.malformation(control.seed(), EMAIL_ACTIVITY, a.key).is_some();
            let mut item = Map::new();
            item.insert("action".into(), json!(a.action));
            if let Some(kind) = a.bounce {
                item.insert("type".into(), json!(kind));
            }
            let at = if malformed { "not a date".to_owned() } else { mc_time(a.at) };
            item.insert("timestamp".into(), json!(at));
            if let Some(url) = a.url {
                item.insert("url".into(), json!(url));
            }
            item.insert("ip".into(), json!(a.ip));
            by_recipient.entry(a.recipient).or_default().push(Value::Object(item));
        }
        by_recipient
            .into_iter()
            .map(|(j, activity)| {
                let (email, email_id) = self.email(c, j);
                json!({
                    "campaign_id": c.id,
                    "list_id": LIST_ID,
                    "list_is_active": true,
                    "email_id": email_id,
                    "email_address": email,
                    "activity": activity,
                    "_links": []
                })
            })
            .collect()
    }

    fn malformed(&self, control: &Control, stream: &str, index: u64) -> bool {
        index >= FIXED && control.faults(stream).malformation(control.seed(), stream, index).is_some()
    }
}

/// An activity record's id and flattened payload, from a served email object.
pub fn flatten(email: &Value) -> Vec<(String, Value)> {
    let Some(object) = email.as_object() else { return Vec::new() };
    let envelope: Map<String, Value> = object
        .iter()
        .filter(|(k, _)| *k != "activity" && *k != "_links")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
    let mut out = Vec::new();
    for item in object.get("activity").and_then(Value::as_array).into_iter().flatten() {
        let Some(fields) = item.as_object() else { continue };
        let mut raw = envelope.clone();
        raw.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
        let action = text(fields.get("action"));
        let url = (action == "click").then(|| text(fields.get("url")));
        let id = activity_id(
            &text(object.get("campaign_id")),
            &text(object.get("email_id")),
            &action,
            &text(fields.get("timestamp")),
            url.as_deref(),
        );
        out.push((id, Value::Object(raw)));
    }
    out
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

fn json_response(status: StatusCode, body: &Value) -> Response {
    let content = if status.is_success() {
        "application/json; charset=utf-8"
    } else {
        "application/problem+json; charset=utf-8"
    };
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content))],
        serde_json::to_string(body).unwrap_or_default(),
    )
        .into_response()
}

fn fixture_response(status: StatusCode, body: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json; charset=utf-8"))],
        body.to_owned(),
    )
        .into_response()
}

fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    let instance =
        format!("{:08x}-sand-box0-0000-{:012x}", status.as_u16(), rng::tag(detail) & 0xffff_ffff_ffff);
    json_response(
        status,
        &json!({ "type": ERRORS_DOC, "title": title, "status": status.as_u16(), "detail": detail, "instance": instance }),
    )
}

fn too_many_connections() -> Response {
    problem(
        StatusCode::TOO_MANY_REQUESTS,
        "Too Many Requests",
        "You have exceeded the limit of 10 simultaneous connections.",
    )
}

/// `offset` and `count` of a list request, or the 400 for bad ones.
fn paging(q: &HashMap<String, String>) -> Result<(usize, usize), Box<Response>> {
    let bad = |detail: &str| Box::new(problem(StatusCode::BAD_REQUEST, "Invalid Resource", detail));
    let count = match q.get("count").map(|c| c.parse::<usize>()) {
        None => 10,
        Some(Ok(n)) if n <= 1_000 => n,
        Some(_) => return Err(bad("The count parameter must be an integer of at most 1000.")),
    };
    let offset = match q.get("offset").map(|c| c.parse::<usize>()) {
        None => 0,
        Some(Ok(n)) => n,
        Some(_) => return Err(bad("The offset parameter must be a non-negative integer.")),
    };
    Ok((offset, count))
}

fn time_param(q: &HashMap<String, String>, key: &str) -> Result<Option<i64>, Box<Response>> {
    match q.get(key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => parse_time(v).map(Some).ok_or_else(|| {
            Box::new(problem(
                StatusCode::BAD_REQUEST,
                "Invalid Resource",
                &format!("The {key} parameter is not a valid date-time."),
            ))
        }),
    }
}

/// Runs `f` holding a connection slot, after the configured delay; a 429 when none is free.
async fn served(state: &SimState<Mailchimp>, f: impl FnOnce() -> Response) -> Response {
    let Some(_slot) = state.sim.enter() else { return too_many_connections() };
    if !state.sim.delay.is_zero() {
        tokio::time::sleep(state.sim.delay).await;
    }
    f()
}

async fn campaigns(
    State(state): State<Arc<SimState<Mailchimp>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    served(&state, || {
        let result = (|| -> Result<Value, Box<Response>> {
            let (offset, count) = paging(&q)?;
            let since_create = time_param(&q, "since_create_time")?;
            let since_send = time_param(&q, "since_send_time")?;
            let status = q.get("status").cloned();
            let mut list: Vec<Campaign> = state
                .sim
                .all()
                .into_iter()
                .filter(|c| since_create.is_none_or(|s| c.create >= s))
                .filter(|c| since_send.is_none_or(|s| c.send.is_some_and(|t| t >= s)))
                .filter(|c| status.as_deref().is_none_or(|s| (s == "sent") == c.send.is_some()))
                .collect();
            match q.get("sort_field").map(String::as_str) {
                Some("send_time") => list.sort_by_key(|c| (c.send.unwrap_or(i64::MAX), c.index)),
                _ => list.sort_by_key(|c| (c.create, c.index)),
            }
            if q.get("sort_dir").is_some_and(|d| d.eq_ignore_ascii_case("DESC")) {
                list.reverse();
            }
            let total = list.len();
            let page: Vec<Value> = list
                .iter()
                .skip(offset)
                .take(count)
                .map(|c| state.sim.campaign_object(c, &state.control))
                .collect();
            Ok(json!({ "campaigns": page, "total_items": total, "_links": [] }))
        })();
        match result {
            Ok(body) => json_response(StatusCode::OK, &body),
            Err(resp) => *resp,
        }
    })
    .await
}

async fn reports(
    State(state): State<Arc<SimState<Mailchimp>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    served(&state, || {
        let result = (|| -> Result<Value, Box<Response>> {
            let (offset, count) = paging(&q)?;
            let since_send = time_param(&q, "since_send_time")?;
            let mut list: Vec<Campaign> = state
                .sim
                .all()
                .into_iter()
                .filter(|c| c.send.is_some_and(|t| since_send.is_none_or(|s| t >= s)))
                .collect();
            list.sort_by_key(|c| (c.send, c.index));
            let total = list.len();
            let page: Vec<Value> =
                list.iter().skip(offset).take(count).filter_map(|c| state.sim.report(c)).collect();
            Ok(json!({ "reports": page, "total_items": total, "_links": [] }))
        })();
        match result {
            Ok(body) => json_response(StatusCode::OK, &body),
            Err(resp) => *resp,
        }
    })
    .await
}

async fn report(State(state): State<Arc<SimState<Mailchimp>>>, Path(id): Path<String>) -> Response {
    served(&state, || match state.sim.find(&id).and_then(|c| state.sim.report(&c)) {
        Some(report) => json_response(StatusCode::OK, &report),
        None => fixture_response(StatusCode::NOT_FOUND, ERROR_404),
    })
    .await
}

async fn email_activity(
    State(state): State<Arc<SimState<Mailchimp>>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    served(&state, || {
        let Some(c) = state.sim.find(&id).filter(|c| c.send.is_some()) else {
            return fixture_response(StatusCode::NOT_FOUND, ERROR_404);
        };
        let result = (|| -> Result<Value, Box<Response>> {
            let (offset, count) = paging(&q)?;
            let since = time_param(&q, "since")?;
            let emails = state.sim.emails(&c, since, &state.control);
            let total = emails.len();
            let page: Vec<Value> = emails.into_iter().skip(offset).take(count).collect();
            Ok(json!({ "emails": page, "campaign_id": c.id, "total_items": total, "_links": [] }))
        })();
        match result {
            Ok(body) => json_response(StatusCode::OK, &body),
            Err(resp) => *resp,
        }
    })
    .await
}

async fn ping(State(state): State<Arc<SimState<Mailchimp>>>) -> Response {
    served(&state, || json_response(StatusCode::OK, &json!({ "health_status": "Everything's Chimpy!" })))
        .await
}

async fn not_found() -> Response {
    fixture_response(StatusCode::NOT_FOUND, ERROR_404)
}

impl Simulator for Mailchimp {
    type Options = MailchimpOptions;
    const NAME: &'static str = "mailchimp";
    const ROUTES: &'static [&'static str] = &[CAMPAIGNS, REPORTS, REPORT, EMAIL_ACTIVITY, PING];

    fn config(options: &MailchimpOptions) -> &SimConfig {
        &options.sim
    }

    fn build(o: MailchimpOptions, control: &Control) -> Self {
        let born = control.now();
        let from = born - 2 * 365 * 86_400;
        Mailchimp {
            seed: o.sim.seed,
            api_key: o.api_key,
            access_token: o.access_token,
            max_connections: o.max_connections,
            delay: o.response_delay,
            generated: o.sim.records as u64,
            from,
            span: born - 86_400 - from,
            born,
            changes: Mutex::new(Changes::default()),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    fn route_of(path: &str) -> Option<&'static str> {
        let path = path.strip_prefix("/3.0").unwrap_or(path).trim_end_matches('/');
        match path.split('/').collect::<Vec<_>>().as_slice() {
            ["", "campaigns"] => Some(CAMPAIGNS),
            ["", "reports"] => Some(REPORTS),
            ["", "reports", _] => Some(REPORT),
            ["", "reports", _, "email-activity"] => Some(EMAIL_ACTIVITY),
            ["", "ping"] => Some(PING),
            _ => None,
        }
    }

    fn router(state: Arc<SimState<Self>>) -> Router {
        let api = Router::new()
            .route("/campaigns", get(campaigns))
            .route("/reports", get(reports))
            .route("/reports/{id}", get(report))
            .route("/reports/{id}/email-activity", get(email_activity))
            .route("/ping", get(ping));
        Router::new().merge(api.clone()).nest("/3.0", api).fallback(not_found).with_state(state)
    }

    fn authenticate(&self, parts: &Parts) -> Result<String, Box<Response>> {
        let reject = || Box::new(self.error_response(StatusCode::UNAUTHORIZED));
        if let Some(token) = credentials::bearer(parts) {
            return if token == self.access_token { Ok("oauth".to_owned()) } else { Err(reject()) };
        }
        let decoded = credentials::basic(parts).ok_or_else(reject)?;
        let (_, key) = decoded.split_once(':').ok_or_else(reject)?;
        if key == self.api_key { Ok("key".to_owned()) } else { Err(reject()) }
    }

    fn admit(
        &self,
        _route: &'static str,
        _account: &str,
        _faults: &Faults,
    ) -> Result<HeaderMap, Box<Response>> {
        // The connection limit is enforced while a handler runs (see `served`).
        Ok(HeaderMap::new())
    }

    fn rate_headers(&self) -> HeaderMap {
        HeaderMap::new()
    }

    fn error_response(&self, status: StatusCode) -> Response {
        match status.as_u16() {
            401 => fixture_response(status, ERROR_401),
            403 => problem(status, "Forbidden", "You don't have permission to access this resource."),
            404 => fixture_response(status, ERROR_404),
            _ => problem(
                status,
                "Internal Server Error",
                "An unexpected internal error has occurred. Please try again later.",
            ),
        }
    }

    fn throttle_response(&self, retry_after: Option<u64>) -> Response {
        let mut resp = too_many_connections();
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }

    fn ground_truth(&self, control: &Control) -> GroundTruth {
        let mut truth = GroundTruth::default();
        for c in self.all() {
            let mut raw = self.campaign_object(&c, control);
            if let (Some(report), Value::Object(map)) = (self.report(&c), &mut raw) {
                map.insert("report".to_owned(), report);
            }
            let malformed = self.malformed(control, CAMPAIGNS, c.index);
            truth.insert(CAMPAIGNS, c.id.clone(), TruthRecord { raw, deleted: false }, malformed);
            for email in self.emails(&c, None, control) {
                for (id, raw) in flatten(&email) {
                    let malformed = raw.get("timestamp").and_then(Value::as_str) == Some("not a date");
                    truth.insert(EMAIL_ACTIVITY, id, TruthRecord { raw, deleted: false }, malformed);
                }
            }
        }
        truth
    }

    fn mutate(&self, control: &Control, m: Mutation) {
        let (old, new) = control.advance(MUTATION_STEP);
        let (t0, t1) = (old + 1, new - 120);
        let recent: Vec<u64> = self
            .all()
            .iter()
            .filter(|c| c.index >= FIXED && c.send.is_some_and(|s| s >= new - SETTLING_DAYS * 86_400))
            .map(|c| c.index)
            .collect();
        let mut changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        let mut r = rng::rng(self.seed, &[rng::tag(CAMPAIGNS), changes.mutations, 0x3717]);
        changes.mutations += 1;
        let total = (m.updates.min(recent.len()) + m.creations).max(1) as i64;
        let mut slot = 0;
        let mut next_time = || {
            let t = t0 + slot * (t1 - t0).max(0) / total;
            slot += 1;
            t
        };
        let mut pool = recent;
        for _ in 0..m.updates.min(pool.len()) {
            let index = pool.swap_remove(r.random_range(0..pool.len()));
            let at = next_time();
            changes.revisions.entry(index).or_default().push(at);
        }
        for _ in 0..m.creations {
            let at = next_time();
            let index = FIXED + self.generated + changes.created.len() as u64;
            let h = rng::hash(self.seed, &[rng::tag(CAMPAIGNS), index]);
            changes.created.push(Campaign {
                index,
                id: format!("{:010x}", rng::mix(h) & 0xff_ffff_ffff),
                web_id: 14_000_000 + index,
                create: at,
                send: Some(at + 30),
                recipients: 3 + (rng::mix(h ^ 1) % 23),
                cap: new - 60,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim(campaigns: usize) -> (Mailchimp, Control) {
        let o = MailchimpOptions::new(4, campaigns);
        let control = Control::new(&o.sim);
        (Mailchimp::build(o, &control), control)
    }

    #[test]
    fn reports_are_consistent_with_activity() {
        let (mc, control) = sim(40);
        let mut checked = 0;
        for c in mc.all().into_iter().filter(|c| c.index >= FIXED && c.send.is_some()) {
            let report = mc.report(&c).unwrap();
            let emails = mc.emails(&c, None, &control);
            let opened: BTreeSet<&str> = emails
                .iter()
                .filter(|e| e["activity"].as_array().unwrap().iter().any(|a| a["action"] == "open"))
                .map(|e| e["email_id"].as_str().unwrap())
                .collect();
            assert_eq!(report["opens"]["unique_opens"], json!(opened.len()));
            assert!(
                report["opens"]["proxy_excluded_unique_opens"].as_u64()
                    <= report["opens"]["unique_opens"].as_u64()
            );
            checked += 1;
        }
        assert!(checked > 30, "{checked}");
        let truth = mc.ground_truth(&control);
        assert_eq!(truth.stream(CAMPAIGNS).len(), 43);
        assert_eq!(truth.stream(CAMPAIGNS)["a79651273b"].raw["report"]["clicks"]["click_rate"], json!(0.66));
        assert!(
            truth
                .stream(EMAIL_ACTIVITY)
                .contains_key("7847cdaeff/11273c9a5dc6ae6c5aaccfb77b2addfb/open/2023-11-06T20:17:57+00:00")
        );
    }

    #[test]
    fn mutations_change_recent_reports_and_create_campaigns() {
        let (mc, control) = sim(400);
        let before = mc.ground_truth(&control);
        mc.mutate(&control, Mutation { updates: 3, deletions: 0, creations: 2 });
        let after = mc.ground_truth(&control);
        assert_eq!(after.stream(CAMPAIGNS).len(), before.stream(CAMPAIGNS).len() + 2);
        let changed = after
            .stream(CAMPAIGNS)
            .iter()
            .filter(|(id, r)| before.stream(CAMPAIGNS).get(*id).is_some_and(|b| b != *r))
            .count();
        assert_eq!(changed, 3);
        assert!(after.stream(EMAIL_ACTIVITY).len() > before.stream(EMAIL_ACTIVITY).len());
    }
}
