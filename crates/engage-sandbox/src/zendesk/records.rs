//! Zendesk records generated on demand from (seed, index, version): tickets with their metric
//! sets, users and satisfaction ratings, plus the official examples at the head of each stream.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;

use crate::rng::{self, hash, unit};
use crate::text::{self, Lang};
use crate::time::{Ts, parse_rfc3339};
use crate::timeline::{Timeline, Version};

use super::fixtures;

/// First generated ticket id (ids beyond 2^32, as in large Zendesk accounts).
pub const TICKET_BASE: u64 = 5_000_000_000;
/// First generated user id.
pub const USER_BASE: u64 = 1_900_000_000_000;
/// First generated satisfaction rating id.
pub const RATING_BASE: u64 = 2_800_000_000_000;
/// First ticket metric set id.
pub const METRIC_BASE: u64 = 7_000_000_000;
/// The first generated users are agents (user 0 is the admin).
pub const AGENTS: u64 = 10;

const ORG_BASE: u64 = 360_000_100_000;
const GROUP_BASE: u64 = 360_000_200_000;
const BRAND_ID: u64 = 360_000_300_001;
const FORM_ID: u64 = 360_000_400_001;
const FIELD_ORDER: u64 = 360_000_500_001;
const FIELD_PRODUCT: u64 = 360_000_500_002;
const CUSTOM_STATUS_BASE: u64 = 360_000_600_000;
const DAY: i64 = 86_400;

const T_BASE: u64 = 1;
const T_REV: u64 = 2;
const T_STATUS: u64 = 3;
const T_METRIC: u64 = 4;
const T_EXTRA: u64 = 5;
const U_BASE: u64 = 11;
const U_LANG: u64 = 12;
const R_BASE: u64 = 21;
const R_SCORE: u64 = 22;
const R_TICKET: u64 = 23;

/// Ticket statuses in order of the distribution of new data.
const STATUSES: [(&str, u64); 6] =
    [("new", 10), ("open", 20), ("pending", 10), ("hold", 5), ("solved", 25), ("closed", 30)];
const CHANNELS: [(&str, u64); 5] =
    [("email", 40), ("web", 30), ("native_messaging", 15), ("api", 10), ("mobile_sdk", 5)];
const PRIORITIES: [Option<&str>; 5] = [None, Some("low"), Some("normal"), Some("high"), Some("urgent")];
const TYPES: [Option<&str>; 5] = [None, Some("question"), Some("incident"), Some("problem"), Some("task")];
const TAGS: [&str; 8] =
    ["delivery", "refund", "login", "billing", "vip", "mobile_app", "damaged", "subscription"];
const PRODUCTS: [&str; 4] = ["product_basic", "product_pro", "product_enterprise", "product_addon"];
const EXPERIMENTS: [&str; 3] = ["routing_v2", "sentiment_beta", "priority_model"];
const BAD_REASONS: [(&str, u32); 5] = [
    ("No reason provided", 0),
    ("The issue took too long to resolve", 5),
    ("The issue was not resolved", 6),
    ("The agent's knowledge is unsatisfactory", 7),
    ("The agent's attitude was unsatisfactory", 8),
];

fn weighted<T: Copy>(items: &[(T, u64)], h: u64) -> T {
    let total: u64 = items.iter().map(|(_, w)| w).sum();
    let mut roll = h % total.max(1);
    for &(item, w) in items {
        if roll < w {
            return item;
        }
        roll -= w;
    }
    items[0].0
}

/// An id as served: a number, or (malformed) a string that is not one.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Id {
    /// A well-formed id.
    Num(u64),
    /// A malformed id.
    Text(String),
}

/// A timestamp as served: RFC 3339, or (malformed) text that is not a date.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Stamp {
    /// A well-formed timestamp.
    At(Ts),
    /// A malformed timestamp.
    Text(&'static str),
}

/// A served record: an official example, or a generated object.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Doc<'a, T> {
    /// Served verbatim.
    Fixed(&'a Value),
    /// Generated.
    Gen(T),
}

/// Empty JSON object.
#[derive(Serialize)]
pub struct Empty {}

/// `via` of a ticket.
#[derive(Serialize)]
pub struct Via {
    channel: &'static str,
    source: ViaSource,
}

/// `via.source` of a ticket.
#[derive(Serialize)]
pub struct ViaSource {
    from: ViaEnd,
    to: ViaEnd,
    rel: Option<&'static str>,
}

/// `via.source.from` / `to`.
#[derive(Serialize)]
pub struct ViaEnd {
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'static str>,
}

/// One custom field value.
#[derive(Serialize)]
pub struct CustomField {
    id: u64,
    value: Option<Cow<'static, str>>,
}

/// The satisfaction rating summary embedded in a ticket.
#[derive(Serialize)]
pub struct RatingSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
    score: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<&'static str>,
}

/// An unknown field some tickets carry (connectors must keep it in `raw`).
#[derive(Serialize)]
pub struct Extra {
    source: &'static str,
    experiment: &'static str,
    weights: [u8; 3],
}

/// A generated ticket (field order as the live API writes it).
#[derive(Serialize)]
pub struct Ticket {
    url: String,
    id: Id,
    external_id: Option<String>,
    via: Via,
    created_at: Stamp,
    updated_at: Ts,
    generated_timestamp: i64,
    #[serde(rename = "type")]
    kind: Option<&'static str>,
    subject: &'static str,
    raw_subject: &'static str,
    description: String,
    priority: Option<&'static str>,
    status: &'static str,
    recipient: Option<String>,
    requester_id: u64,
    submitter_id: u64,
    assignee_id: Option<u64>,
    organization_id: Option<u64>,
    group_id: Option<u64>,
    collaborator_ids: Vec<u64>,
    follower_ids: Vec<u64>,
    email_cc_ids: Vec<u64>,
    forum_topic_id: Option<u64>,
    problem_id: Option<u64>,
    has_incidents: bool,
    is_public: bool,
    due_at: Option<Ts>,
    tags: Vec<&'static str>,
    custom_fields: [CustomField; 2],
    satisfaction_rating: RatingSummary,
    sharing_agreement_ids: [u64; 0],
    custom_status_id: u64,
    fields: [CustomField; 2],
    followup_ids: [u64; 0],
    ticket_form_id: u64,
    brand_id: u64,
    allow_channelback: bool,
    allow_attachments: bool,
    from_messaging_channel: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    x_sim_extra: Option<Extra>,
}

/// `{calendar, business}` minutes; null until the event happened.
#[derive(Serialize)]
pub struct Minutes {
    calendar: Option<i64>,
    business: Option<i64>,
}

/// `{calendar}` seconds (messaging tickets only).
#[derive(Serialize)]
pub struct Seconds {
    calendar: Option<i64>,
}

/// A ticket metric set (`TicketMetricObject`), sideloaded with `include=metric_sets`.
#[derive(Serialize)]
pub struct Metric {
    url: String,
    id: u64,
    ticket_id: u64,
    created_at: Ts,
    updated_at: Ts,
    group_stations: u32,
    assignee_stations: u32,
    reopens: u32,
    replies: u32,
    assignee_updated_at: Option<Ts>,
    requester_updated_at: Ts,
    status_updated_at: Ts,
    initially_assigned_at: Option<Ts>,
    assigned_at: Option<Ts>,
    solved_at: Option<Ts>,
    latest_comment_added_at: Ts,
    custom_status_updated_at: Ts,
    reply_time_in_minutes: Minutes,
    first_resolution_time_in_minutes: Minutes,
    full_resolution_time_in_minutes: Minutes,
    agent_wait_time_in_minutes: Minutes,
    requester_wait_time_in_minutes: Minutes,
    on_hold_time_in_minutes: Minutes,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_time_in_seconds: Option<Seconds>,
}

/// A generated user.
#[derive(Serialize)]
pub struct User {
    id: Id,
    url: String,
    name: &'static str,
    email: String,
    created_at: Stamp,
    updated_at: Ts,
    time_zone: &'static str,
    iana_time_zone: &'static str,
    phone: Option<String>,
    shared_phone_number: Option<bool>,
    photo: Option<Empty>,
    locale_id: u32,
    locale: &'static str,
    organization_id: Option<u64>,
    role: &'static str,
    verified: bool,
    external_id: Option<String>,
    tags: Vec<&'static str>,
    alias: Option<&'static str>,
    active: bool,
    shared: bool,
    shared_agent: bool,
    last_login_at: Option<Ts>,
    two_factor_auth_enabled: Option<bool>,
    signature: Option<&'static str>,
    details: &'static str,
    notes: &'static str,
    role_type: Option<u8>,
    custom_role_id: Option<u64>,
    moderator: bool,
    ticket_restriction: Option<&'static str>,
    only_private_comments: bool,
    restricted_agent: bool,
    suspended: bool,
    default_group_id: Option<u64>,
    report_csv: bool,
    user_fields: Empty,
}

/// A generated satisfaction rating.
#[derive(Serialize)]
pub struct Rating {
    url: String,
    id: Id,
    assignee_id: Option<u64>,
    group_id: Option<u64>,
    requester_id: u64,
    ticket_id: u64,
    score: &'static str,
    created_at: Stamp,
    updated_at: Ts,
    comment: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason_code: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason_id: Option<u64>,
}

impl Rating {
    /// The score.
    pub fn score(&self) -> &'static str {
        self.score
    }

    /// Whether the rating carries a comment.
    pub fn has_comment(&self) -> bool {
        self.comment.is_some()
    }
}

/// A record at the head of a stream that is not generated from the index.
#[derive(Clone, Debug)]
pub enum FixedRecord {
    /// An official example, served verbatim.
    Verbatim(Value),
    /// A generated user with a given id (the users that official examples refer to).
    User {
        /// The user id.
        id: u64,
    },
}

impl FixedRecord {
    /// The record's id.
    pub fn id(&self) -> u64 {
        match self {
            FixedRecord::Verbatim(v) => v.get("id").and_then(Value::as_u64).unwrap_or(0),
            FixedRecord::User { id } => *id,
        }
    }
}

/// Maps record indices to ids and back for one stream.
#[derive(Clone, Debug)]
pub struct Ids {
    fixed: Vec<u64>,
    base: u64,
}

impl Ids {
    /// The id of a record index.
    pub fn id(&self, index: u64) -> u64 {
        let f = self.fixed.len() as u64;
        if index < f { self.fixed[index as usize] } else { self.base + (index - f) }
    }

    /// The index of an id (`None` when no record can have it).
    pub fn index(&self, id: u64) -> Option<u64> {
        if let Some(i) = self.fixed.iter().position(|&f| f == id) {
            return Some(i as u64);
        }
        (id >= self.base).then(|| id - self.base + self.fixed.len() as u64)
    }
}

/// One stream's fixed head, id mapping and base timeline.
#[derive(Clone, Debug)]
pub struct StreamShape {
    /// Records at the head of the stream.
    pub fixed: Vec<FixedRecord>,
    /// Index/id mapping.
    pub ids: Ids,
    /// The base timeline (no mutation).
    pub timeline: Timeline,
}

impl StreamShape {
    fn new(fixed: Vec<(i64, FixedRecord)>, base: u64, generated: u64, from: i64, to: i64) -> Self {
        let times = fixed.iter().map(|(t, _)| (*t).min(from)).collect();
        let ids = Ids { fixed: fixed.iter().map(|(_, r)| r.id()).collect(), base };
        StreamShape {
            fixed: fixed.into_iter().map(|(_, r)| r).collect(),
            ids,
            timeline: Timeline::new(times, generated, from, to),
        }
    }

    fn first(&self) -> u64 {
        self.fixed.len() as u64
    }
}

/// Everything record generation needs; immutable after start.
#[derive(Debug)]
pub struct Gen {
    /// Seed.
    pub seed: u64,
    /// `https://{subdomain}.zendesk.com`.
    pub host: String,
    /// `support@{subdomain}.zendesk.com`.
    pub support_address: String,
    /// Bytes of description text per generated ticket.
    pub description_bytes: usize,
    /// Share of tickets carrying `x_sim_extra`.
    pub extra_rate: f64,
    /// Tickets.
    pub tickets: StreamShape,
    /// Users.
    pub users: StreamShape,
    /// Satisfaction ratings.
    pub ratings: StreamShape,
}

/// The stable (revision-independent) attributes of a generated ticket.
struct TicketBase {
    created: i64,
    lag: i64,
    requester: u64,
    lang: &'static Lang,
    h: u64,
}

/// Ticket state at a revision.
struct TicketState {
    status: &'static str,
    reopens: u32,
    held: bool,
}

/// The pieces of a ticket its metric set is computed from.
struct MetricInput {
    ticket_id: u64,
    key: u64,
    created: i64,
    updated: i64,
    status: &'static str,
    reopens: u32,
    revision: u32,
    assigned: bool,
    messaging: bool,
    held: bool,
}

fn stamp(t: i64, bad: bool) -> Stamp {
    if bad { Stamp::Text("not a date") } else { Stamp::At(Ts(t)) }
}

fn id_out(id: u64, prefix: &str, bad: bool) -> Id {
    if bad { Id::Text(format!("{prefix}-{id}")) } else { Id::Num(id) }
}

impl Gen {
    /// Builds the generation context. Generated tickets span the two years before `now`, users
    /// the three years before it; there are `users` users and `ratings` ratings.
    pub fn new(
        seed: u64,
        subdomain: &str,
        ticket_bytes: usize,
        extra_rate: f64,
        (tickets, users, ratings): (u64, u64, u64),
        now: i64,
    ) -> Self {
        let at =
            |v: &Value, key: &str| v.get(key).and_then(Value::as_str).and_then(parse_rfc3339).unwrap_or(0);
        let ticket_fixed: Vec<(i64, FixedRecord)> =
            fixtures::records(fixtures::INCREMENTAL_TICKETS, "tickets")
                .into_iter()
                .map(|t| (at(&t, "updated_at"), FixedRecord::Verbatim(t)))
                .collect();
        // The example ticket's requester (2009) and the example ratings' requester (2011) exist
        // as users, around the example user (2011-05).
        let mut user_fixed: Vec<(i64, FixedRecord)> = fixtures::records(fixtures::INCREMENTAL_USERS, "users")
            .into_iter()
            .map(|u| (at(&u, "updated_at"), FixedRecord::Verbatim(u)))
            .collect();
        user_fixed.push((1_248_130_529, FixedRecord::User { id: 20_978_392 }));
        user_fixed.push((1_311_202_529, FixedRecord::User { id: 7_881 }));
        user_fixed.sort_by_key(|(t, r)| (*t, r.id()));
        let rating_fixed: Vec<(i64, FixedRecord)> =
            fixtures::records(fixtures::SATISFACTION_RATINGS, "satisfaction_ratings")
                .into_iter()
                .map(|r| (at(&r, "updated_at"), FixedRecord::Verbatim(r)))
                .collect();
        let host = format!("https://{subdomain}.zendesk.com");
        Gen {
            seed,
            support_address: format!("support@{subdomain}.zendesk.com"),
            host,
            description_bytes: ticket_bytes.saturating_sub(1_250).max(60),
            extra_rate,
            tickets: StreamShape::new(ticket_fixed, TICKET_BASE, tickets, now - 730 * DAY, now - DAY),
            users: StreamShape::new(
                user_fixed,
                USER_BASE,
                users.max(AGENTS + 1),
                now - 1_095 * DAY,
                now - 2 * DAY,
            ),
            ratings: StreamShape::new(rating_fixed, RATING_BASE, ratings, now - 728 * DAY, now - DAY / 2),
        }
    }

    fn user_lang(&self, u: u64) -> &'static Lang {
        text::pick_lang(hash(self.seed, &[U_LANG, u]))
    }

    /// Name and e-mail of the user with generation key `key` (ticket senders use the same).
    fn identity(&self, key: u64, lang: &'static Lang) -> (&'static str, String) {
        let h = hash(self.seed, &[U_BASE, key]);
        let (name, handle) = lang.names[((h >> 3) % lang.names.len() as u64) as usize];
        let email = format!("{handle}.{}@example.{}", key % 1_000_000_007, lang.tld);
        // Some addresses come in upper case: identity matching must normalise them.
        (name, if h.is_multiple_of(12) { email.to_uppercase() } else { email })
    }

    fn user_id(&self, u: u64) -> u64 {
        USER_BASE + u
    }

    /// Stable attributes of generated ticket `k` whose revision 0 is at `born`.
    fn ticket_base(&self, k: u64, born: i64) -> TicketBase {
        let h = hash(self.seed, &[T_BASE, k]);
        let created_later = k >= self.tickets.timeline.generated_len();
        let age = if created_later { 0 } else { (h % (30 * DAY as u64)) as i64 };
        let created = born - age;
        let lag = if (h >> 20) % 10 < 3 { ((h >> 24) % (3 * DAY as u64)) as i64 % (age + 1) } else { 0 };
        let users = &self.users.timeline;
        let n_users = users.generated_len();
        let newest = users.generated_at_or_before(created).unwrap_or(AGENTS).max(AGENTS).min(n_users - 1);
        let requester = AGENTS + (h >> 32) % (newest - AGENTS + 1).max(1);
        TicketBase { created, lag, requester, lang: self.user_lang(requester), h }
    }

    fn ticket_state(&self, k: u64, h: u64, revision: u32) -> TicketState {
        let mut status = weighted(&STATUSES, h >> 8);
        let mut reopens =
            if matches!(status, "solved" | "closed") { ((h >> 40).is_multiple_of(3)) as u32 } else { 0 };
        let mut held = status == "hold";
        for step in 1..=u64::from(revision) {
            let s = hash(self.seed, &[T_STATUS, k, step]) % 10;
            status = match status {
                "new" | "hold" => "open",
                "open" if s < 5 => "pending",
                "open" => "solved",
                "pending" if s < 3 => "open",
                "pending" => "solved",
                "solved" if s < 3 => {
                    reopens += 1;
                    "open"
                }
                "solved" => "closed",
                _ => "closed",
            };
            held |= status == "hold";
        }
        TicketState { status, reopens, held }
    }

    fn rating_ticket(&self, j: u64) -> u64 {
        let n_tickets = self.tickets.timeline.generated_len().max(1);
        if j < self.ratings.timeline.generated_len() {
            (3 * j + hash(self.seed, &[R_TICKET, j]) % 3).min(n_tickets - 1)
        } else {
            hash(self.seed, &[R_TICKET, j]) % n_tickets
        }
    }

    /// (score, comment, reason) of generated rating `j` at `revision`, for ticket language `lang`.
    fn rating_score(
        &self,
        j: u64,
        revision: u32,
        lang: &'static Lang,
    ) -> (&'static str, Option<&'static str>, Option<(&'static str, u32)>) {
        let h = hash(self.seed, &[R_BASE, j]);
        let mut score = weighted(&[("good", 55), ("bad", 15), ("offered", 20), ("unoffered", 10)], h);
        for step in 1..=u64::from(revision) {
            let s = hash(self.seed, &[R_SCORE, j, step]) % 10;
            score = match score {
                "offered" | "unoffered" if s < 7 => "good",
                "offered" | "unoffered" => "bad",
                "good" if s < 3 => "bad",
                "bad" if s < 4 => "good",
                other => other,
            };
        }
        let hr = hash(self.seed, &[R_SCORE, j, u64::from(revision), 7]);
        let mut r = rng::rng(hr, &[]);
        let comment = match score {
            "good" if hr % 10 < 7 => Some(text::choose(&mut r, lang.praise)),
            "bad" if hr % 10 < 8 => Some(text::choose(&mut r, lang.complaints)),
            _ => None,
        };
        let reason = (score == "bad").then(|| BAD_REASONS[((hr >> 16) % BAD_REASONS.len() as u64) as usize]);
        (score, comment, reason)
    }

    fn ticket_rating(&self, k: u64, lang: &'static Lang) -> RatingSummary {
        let j = k / 3;
        let has = j < self.ratings.timeline.generated_len() && self.rating_ticket(j) == k;
        if !has {
            return RatingSummary { id: None, score: "unoffered", comment: None };
        }
        let (score, comment, _) = self.rating_score(j, 0, lang);
        RatingSummary { id: Some(self.ratings.ids.id(self.ratings.first() + j)), score, comment }
    }

    /// The ticket at `index` and version `v`, with its metric set when `with_metric` (`None` for
    /// deleted tickets). `malformed` selects a malformation (see [`crate::Faults::malformation`]).
    pub fn ticket(
        &self,
        index: u64,
        v: &Version,
        malformed: Option<u8>,
        with_metric: bool,
    ) -> (Doc<'_, Ticket>, Option<Metric>) {
        let first = self.tickets.first();
        if index < first {
            let value = match &self.tickets.fixed[index as usize] {
                FixedRecord::Verbatim(value) => value,
                FixedRecord::User { .. } => &Value::Null,
            };
            return (Doc::Fixed(value), self.fixture_metric(value, index).filter(|_| with_metric));
        }
        let k = index - first;
        let id = TICKET_BASE + k;
        let b = self.ticket_base(k, v.born);
        let h = b.h;
        let st = self.ticket_state(k, h, v.revision);
        let updated = if v.revision == 0 { v.time - b.lag } else { v.time };
        let mut r = rng::rng(self.seed, &[T_REV, k]);
        let subject = text::choose(&mut r, b.lang.subjects);
        let mut description = String::with_capacity(self.description_bytes + 160);
        text::paragraph(&mut r, b.lang, self.description_bytes, &mut description);
        let channel = weighted(&CHANNELS, h >> 4);
        let assigned = st.status != "new";
        let assignee = assigned.then(|| self.user_id((h >> 12) % AGENTS));
        let requester_id = self.user_id(b.requester);
        let hv = hash(self.seed, &[T_REV, k, u64::from(v.revision)]);
        let priority = PRIORITIES[((hv >> 3) % PRIORITIES.len() as u64) as usize];
        let kind = TYPES[((h >> 28) % TYPES.len() as u64) as usize];
        let mut tags = Vec::with_capacity(3);
        tags.push(TAGS[((h >> 36) % TAGS.len() as u64) as usize]);
        if (h >> 44).is_multiple_of(2) {
            let second = TAGS[((h >> 48) % TAGS.len() as u64) as usize];
            if second != tags[0] {
                tags.push(second);
            }
        }
        let order = format!("ORD-{:06}", (h >> 16) % 1_000_000);
        let product = PRODUCTS[((h >> 52) % PRODUCTS.len() as u64) as usize];
        let field = |order: &str| {
            [
                CustomField { id: FIELD_ORDER, value: Some(Cow::Owned(order.to_owned())) },
                CustomField {
                    id: FIELD_PRODUCT,
                    value: (!(h >> 56).is_multiple_of(4)).then_some(Cow::Borrowed(product)),
                },
            ]
        };
        let (from, to) = if channel == "email" {
            let (name, address) = self.identity(b.requester, b.lang);
            (
                ViaEnd { address: Some(address), name: Some(name) },
                ViaEnd { address: Some(self.support_address.clone()), name: None },
            )
        } else {
            (ViaEnd { address: None, name: None }, ViaEnd { address: None, name: None })
        };
        let extra = (unit(hash(self.seed, &[T_EXTRA, k])) < self.extra_rate).then(|| Extra {
            source: "engage-sandbox",
            experiment: EXPERIMENTS[(h % EXPERIMENTS.len() as u64) as usize],
            weights: [(h % 7) as u8, (h % 11) as u8, (h % 13) as u8],
        });
        let messaging = channel == "native_messaging";
        let ticket = Ticket {
            url: format!("{}/api/v2/tickets/{id}.json", self.host),
            id: id_out(id, "ZD", malformed == Some(1)),
            external_id: ((h >> 30).is_multiple_of(5)).then(|| format!("crm-{}", (h >> 10) % 10_000_000)),
            via: Via { channel, source: ViaSource { from, to, rel: None } },
            created_at: stamp(b.created, malformed == Some(0)),
            updated_at: Ts(updated),
            generated_timestamp: v.time,
            kind,
            subject,
            raw_subject: subject,
            description,
            priority,
            status: if v.deleted { "deleted" } else { st.status },
            recipient: (channel == "email").then(|| self.support_address.clone()),
            requester_id,
            submitter_id: requester_id,
            assignee_id: assignee,
            organization_id: ((h >> 6) % 10 < 6).then(|| ORG_BASE + (h >> 40) % 500),
            group_id: Some(GROUP_BASE + (h >> 14) % 5),
            collaborator_ids: Vec::new(),
            follower_ids: assignee.into_iter().filter(|_| (h >> 18).is_multiple_of(4)).collect(),
            email_cc_ids: Vec::new(),
            forum_topic_id: None,
            problem_id: None,
            has_incidents: kind == Some("problem") && (h >> 22).is_multiple_of(2),
            is_public: true,
            due_at: (kind == Some("task")).then_some(Ts(b.created + 7 * DAY)),
            tags,
            custom_fields: field(&order),
            satisfaction_rating: self.ticket_rating(k, b.lang),
            sharing_agreement_ids: [],
            custom_status_id: CUSTOM_STATUS_BASE
                + STATUSES.iter().position(|s| s.0 == st.status).unwrap_or(0) as u64,
            fields: field(&order),
            followup_ids: [],
            ticket_form_id: FORM_ID,
            brand_id: BRAND_ID,
            allow_channelback: messaging,
            allow_attachments: true,
            from_messaging_channel: messaging,
            x_sim_extra: extra,
        };
        let metric = (with_metric && !v.deleted).then(|| {
            self.metric(&MetricInput {
                ticket_id: id,
                key: index,
                created: b.created,
                updated,
                status: st.status,
                reopens: st.reopens,
                revision: v.revision,
                assigned,
                messaging,
                held: st.held,
            })
        });
        (Doc::Gen(ticket), metric)
    }

    fn fixture_metric(&self, ticket: &Value, index: u64) -> Option<Metric> {
        let at = |key: &str| ticket.get(key).and_then(Value::as_str).and_then(parse_rfc3339);
        let status = match ticket.get("status").and_then(Value::as_str) {
            Some("new") => "new",
            Some("pending") => "pending",
            Some("hold") => "hold",
            Some("solved") => "solved",
            Some("closed") => "closed",
            _ => "open",
        };
        Some(self.metric(&MetricInput {
            ticket_id: ticket.get("id").and_then(Value::as_u64)?,
            key: index,
            created: at("created_at")?,
            updated: at("updated_at")?,
            status,
            reopens: 0,
            revision: 0,
            assigned: ticket.get("assignee_id").is_some_and(|a| !a.is_null()),
            messaging: false,
            held: false,
        }))
    }

    fn metric(&self, m: &MetricInput) -> Metric {
        let h = hash(self.seed, &[T_METRIC, m.key, u64::from(m.revision)]);
        let elapsed = ((m.updated - m.created) / 60).max(1);
        let replied = m.status != "new";
        let solved = matches!(m.status, "solved" | "closed");
        let mins = |calendar: Option<i64>| Minutes { calendar, business: calendar.map(|c| c * 3 / 5) };
        let reply = replied.then(|| (1 + (h % 1_440) as i64).min(elapsed));
        let solved_at = solved.then(|| (m.updated - ((h >> 20) % 600) as i64).max(m.created));
        let full = solved_at.map(|s| ((s - m.created) / 60).max(1));
        let first = full.map(|f| if m.reopens == 0 { f } else { (f * 2 / 3).max(1) });
        let assigned_at = m.assigned.then(|| (m.created + ((h >> 30) % 900) as i64).min(m.updated));
        let replies = if replied { 1 + (h >> 10) as u32 % 3 + m.revision } else { 0 };
        let id = METRIC_BASE + m.key;
        Metric {
            url: format!("{}/api/v2/ticket_metrics/{id}.json", self.host),
            id,
            ticket_id: m.ticket_id,
            created_at: Ts(m.created),
            updated_at: Ts(m.updated),
            group_stations: 1 + (h >> 40) as u32 % 2,
            assignee_stations: if m.assigned { 1 + (h >> 42) as u32 % 2 } else { 0 },
            reopens: m.reopens,
            replies,
            assignee_updated_at: assigned_at.map(Ts),
            requester_updated_at: Ts(if m.revision == 0 { m.created } else { m.updated }),
            status_updated_at: Ts(m.updated),
            initially_assigned_at: assigned_at.map(Ts),
            assigned_at: assigned_at.map(Ts),
            solved_at: solved_at.map(Ts),
            latest_comment_added_at: Ts(m.updated),
            custom_status_updated_at: Ts(m.updated),
            reply_time_in_minutes: mins(reply),
            first_resolution_time_in_minutes: mins(first),
            full_resolution_time_in_minutes: mins(full),
            agent_wait_time_in_minutes: mins(Some(if replied { elapsed / 4 } else { 0 })),
            requester_wait_time_in_minutes: mins(Some(if replied { elapsed / 3 } else { 0 })),
            on_hold_time_in_minutes: mins(Some(if m.held { elapsed / 5 } else { 0 })),
            reply_time_in_seconds: m
                .messaging
                .then(|| Seconds { calendar: reply.map(|r| r * 60 + (h % 60) as i64) }),
        }
    }

    /// The user at `index` and version `v` (deleted users are served with `active: false`).
    pub fn user(&self, index: u64, v: &Version, malformed: Option<u8>) -> Doc<'_, User> {
        let first = self.users.first();
        let (id, key, lang) = if index < first {
            match &self.users.fixed[index as usize] {
                FixedRecord::Verbatim(value) => return Doc::Fixed(value),
                FixedRecord::User { id } => (*id, u64::MAX - id, &text::LANGS[0]),
            }
        } else {
            let u = index - first;
            (USER_BASE + u, u, self.user_lang(u))
        };
        let h = hash(self.seed, &[U_BASE, key]);
        let (name, email) = self.identity(key, lang);
        let role = match key {
            0 => "admin",
            k if k < AGENTS => "agent",
            _ => "end-user",
        };
        let agent = role != "end-user";
        let hv = hash(self.seed, &[U_BASE, key, u64::from(v.revision)]);
        let phone = ((hv >> 8) % 10 < 7).then(|| match lang.code {
            "en" => format!("{} {:04}", lang.phone_prefix, (hv >> 16) % 10_000),
            _ => format!("{} {:03} {:03}", lang.phone_prefix, (hv >> 16) % 1_000, (hv >> 32) % 1_000),
        });
        let age = ((h >> 20) % (90 * DAY as u64)) as i64;
        Doc::Gen(User {
            id: id_out(id, "U", malformed == Some(1)),
            url: format!("{}/api/v2/users/{id}.json", self.host),
            name,
            email,
            created_at: stamp(v.born - age, malformed == Some(0)),
            updated_at: Ts(v.time),
            time_zone: lang.time_zone,
            iana_time_zone: lang.iana_time_zone,
            shared_phone_number: phone.as_ref().map(|_| false),
            phone,
            photo: None,
            locale_id: 1 + text::LANGS.iter().position(|l| l.code == lang.code).unwrap_or(0) as u32,
            locale: lang.locale,
            organization_id: ((h >> 6) % 10 < 6).then(|| ORG_BASE + (h >> 40) % 500),
            role,
            verified: !(h >> 4).is_multiple_of(5),
            external_id: ((h >> 30).is_multiple_of(5)).then(|| format!("crm-{}", (h >> 10) % 10_000_000)),
            tags: if (h >> 50).is_multiple_of(7) { vec!["vip"] } else { Vec::new() },
            alias: None,
            active: !v.deleted,
            shared: false,
            shared_agent: false,
            last_login_at: ((hv >> 44) % 10 < 6).then_some(Ts(v.time)),
            two_factor_auth_enabled: agent.then_some(true),
            signature: None,
            details: "",
            notes: "",
            role_type: agent.then_some(if role == "admin" { 4 } else { 0 }),
            custom_role_id: None,
            moderator: role == "admin",
            ticket_restriction: (!agent).then_some("requested"),
            only_private_comments: false,
            restricted_agent: !agent,
            suspended: false,
            default_group_id: agent.then_some(GROUP_BASE),
            report_csv: role == "admin",
            user_fields: Empty {},
        })
    }

    /// The satisfaction rating at `index` and version `v`.
    pub fn rating(&self, index: u64, v: &Version, malformed: Option<u8>) -> Doc<'_, Rating> {
        let first = self.ratings.first();
        if index < first {
            return match &self.ratings.fixed[index as usize] {
                FixedRecord::Verbatim(value) => Doc::Fixed(value),
                FixedRecord::User { .. } => Doc::Fixed(&Value::Null),
            };
        }
        let j = index - first;
        let id = RATING_BASE + j;
        let k = self.rating_ticket(j);
        let born = self.tickets.timeline.base_time(self.tickets.first() + k);
        let b = self.ticket_base(k, born);
        let (score, comment, reason) = self.rating_score(j, v.revision, b.lang);
        let h = b.h;
        Doc::Gen(Rating {
            url: format!("{}/api/v2/satisfaction_ratings/{id}.json", self.host),
            id: id_out(id, "CSAT", malformed == Some(1)),
            assignee_id: Some(self.user_id((h >> 12) % AGENTS)),
            group_id: Some(GROUP_BASE + (h >> 14) % 5),
            requester_id: self.user_id(b.requester),
            ticket_id: TICKET_BASE + k,
            score,
            created_at: stamp(
                v.born - (hash(self.seed, &[R_BASE, j, 1]) % 7_200) as i64,
                malformed == Some(0),
            ),
            updated_at: Ts(v.time),
            comment,
            reason: reason.map(|r| r.0),
            reason_code: reason.map(|r| r.1),
            reason_id: reason.map(|r| 360_000_700_000 + u64::from(r.1)),
        })
    }
}
