//! Freshdesk records generated on demand from (seed, index, version): tickets (with `stats` and
//! `requester` when included) and their conversations, contacts, satisfaction ratings, plus the
//! official examples at the head of each stream.

use serde::Serialize;
use serde_json::Value;

use crate::rng::{self, hash, unit};
use crate::text::{self, Lang};
use crate::time::{Ts, parse_rfc3339};
use crate::timeline::{Timeline, Version};

use super::fixtures;

/// First generated ticket id (Freshdesk ticket ids are small display numbers).
pub const TICKET_BASE: u64 = 10_000;
/// First generated contact id (account-scoped ids beyond 32 bits).
pub const CONTACT_BASE: u64 = 43_100_000_000;
/// Agent ids (responders, rating agents): `AGENT_BASE + 0..AGENTS`.
pub const AGENT_BASE: u64 = 43_000_000_000;
/// Number of agents.
pub const AGENTS: u64 = 8;
/// First generated satisfaction rating id.
pub const RATING_BASE: u64 = 67_000_000_000;
/// Conversation ids: `CONVERSATION_BASE + ticket index * 64 + n`.
pub const CONVERSATION_BASE: u64 = 68_000_000_000;
/// The official example ticket's id.
pub const EXAMPLE_TICKET: u64 = 1;

const GROUP_BASE: u64 = 43_000_900_000;
const COMPANY_BASE: u64 = 43_000_800_000;
const DAY: i64 = 86_400;

const T_BASE: u64 = 31;
const T_STATUS: u64 = 32;
const T_REMOVED: u64 = 33;
const T_TEXT: u64 = 34;
const T_EXTRA: u64 = 35;
const C_BASE: u64 = 41;
const C_LANG: u64 = 42;
const R_BASE: u64 = 51;
const R_EDIT: u64 = 52;
const R_TICKET: u64 = 53;

/// Freshdesk statuses: 2 Open, 3 Pending, 4 Resolved, 5 Closed (weights of new data).
const STATUSES: [(u8, u64); 4] = [(2, 20), (3, 15), (4, 30), (5, 35)];
/// Sources: 1 Email, 2 Portal, 3 Phone, 7 Chat, 9 Feedback widget, 10 Outbound email.
const SOURCES: [(u8, u64); 6] = [(1, 45), (2, 20), (3, 10), (7, 15), (9, 5), (10, 5)];
const TYPES: [Option<&str>; 5] =
    [None, Some("Question"), Some("Incident"), Some("Problem"), Some("Feature Request")];
const TAGS: [&str; 6] = ["delivery", "refund", "login", "billing", "vip", "damaged"];
/// The satisfaction scale: 103 extremely happy ... -103 extremely unhappy.
const RATINGS: [(i32, u64); 7] =
    [(103, 30), (102, 20), (101, 15), (100, 10), (-101, 10), (-102, 8), (-103, 7)];

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

/// An id as served: a number, or (malformed) text that is not one.
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

fn stamp(t: i64, bad: bool) -> Stamp {
    if bad { Stamp::Text("not a date") } else { Stamp::At(Ts(t)) }
}

fn id_out(id: u64, prefix: &str, bad: bool) -> Id {
    if bad { Id::Text(format!("{prefix}-{id}")) } else { Id::Num(id) }
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

/// Why a removed ticket is not in the default list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    /// Deleted (listed with `filter=deleted`).
    Deleted,
    /// Marked as spam (listed with `filter=spam`).
    Spam,
}

/// `ticket.stats` (with `include=stats`).
#[derive(Serialize)]
pub struct Stats {
    agent_responded_at: Option<Ts>,
    requester_responded_at: Option<Ts>,
    first_responded_at: Option<Ts>,
    status_updated_at: Ts,
    reopened_at: Option<Ts>,
    resolved_at: Option<Ts>,
    closed_at: Option<Ts>,
    pending_since: Option<Ts>,
}

/// `ticket.requester` (with `include=requester`).
#[derive(Serialize)]
pub struct Requester {
    id: u64,
    name: &'static str,
    email: String,
    mobile: Option<String>,
    phone: Option<String>,
}

/// `ticket.custom_fields`.
#[derive(Serialize)]
pub struct CustomFields {
    cf_order_number: Option<String>,
}

/// An unknown field some tickets carry (connectors must keep it in `raw`).
#[derive(Serialize)]
pub struct Extra {
    source: &'static str,
    weights: [u8; 3],
}

/// A generated ticket, fields in the order of the official example.
#[derive(Serialize)]
pub struct Ticket {
    cc_emails: Vec<String>,
    fwd_emails: Vec<String>,
    reply_cc_emails: Vec<String>,
    email_config_id: Option<u64>,
    fr_escalated: bool,
    group_id: Option<u64>,
    priority: u8,
    requester_id: u64,
    responder_id: Option<u64>,
    source: u8,
    spam: bool,
    status: u8,
    subject: &'static str,
    #[serde(rename = "type")]
    kind: Option<&'static str>,
    company_id: Option<u64>,
    id: Id,
    to_emails: Option<Vec<String>>,
    product_id: Option<u64>,
    created_at: Stamp,
    updated_at: Ts,
    due_by: Ts,
    fr_due_by: Ts,
    is_escalated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    description_text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    custom_fields: CustomFields,
    tags: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    x_sim_extra: Option<Extra>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stats: Option<Stats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    requester: Option<Requester>,
}

/// One conversation (reply, note or customer message) of a ticket.
#[derive(Serialize)]
pub struct Conversation {
    body: String,
    body_text: String,
    id: u64,
    incoming: bool,
    private: bool,
    user_id: u64,
    support_email: Option<String>,
    source: u8,
    ticket_id: u64,
    to_emails: Vec<String>,
    from_email: Option<String>,
    cc_emails: Option<Vec<String>>,
    bcc_emails: Option<Vec<String>>,
    created_at: Ts,
    updated_at: Ts,
    attachments: [u8; 0],
}

/// A generated contact.
#[derive(Serialize)]
pub struct Contact {
    active: bool,
    address: Option<&'static str>,
    company_id: Option<u64>,
    description: Option<&'static str>,
    email: String,
    id: Id,
    job_title: Option<&'static str>,
    language: &'static str,
    mobile: Option<String>,
    name: &'static str,
    phone: Option<String>,
    time_zone: &'static str,
    twitter_id: Option<String>,
    other_emails: Vec<String>,
    facebook_id: Option<String>,
    created_at: Stamp,
    updated_at: Ts,
    csat_rating: Option<i32>,
    preferred_source: &'static str,
    custom_fields: serde_json::Map<String, Value>,
    unique_external_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted: Option<bool>,
}

/// `rating.ratings`: the default question and, on some surveys, a second one.
#[derive(Serialize)]
pub struct Scores {
    default_question: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    question_2: Option<i32>,
}

/// A generated satisfaction rating.
#[derive(Serialize)]
pub struct Rating {
    id: Id,
    survey_id: u64,
    user_id: u64,
    agent_id: u64,
    feedback: Option<&'static str>,
    group_id: Option<u64>,
    ticket_id: u64,
    ratings: Scores,
    created_at: Stamp,
    updated_at: Ts,
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

/// One stream's head of fixed records, id mapping and base timeline.
#[derive(Clone, Debug)]
pub struct Shape {
    /// The official examples at the head (verbatim), or `Null` for fixed generated records.
    pub fixed: Vec<Value>,
    /// Index/id mapping.
    pub ids: Ids,
    /// The base timeline (no mutation).
    pub timeline: Timeline,
}

impl Shape {
    fn new(fixed: Vec<(i64, u64, Value)>, base: u64, generated: u64, from: i64, to: i64) -> Self {
        let times = fixed.iter().map(|(t, _, _)| (*t).min(from)).collect();
        let ids = Ids { fixed: fixed.iter().map(|(_, id, _)| *id).collect(), base };
        Shape {
            fixed: fixed.into_iter().map(|(_, _, v)| v).collect(),
            ids,
            timeline: Timeline::new(times, generated, from, to),
        }
    }

    /// Number of fixed records.
    pub fn first(&self) -> u64 {
        self.fixed.len() as u64
    }
}

/// The state of a ticket at a revision.
struct State {
    status: u8,
    reopens: u32,
    replied: bool,
    replies: u64,
}

/// The times of a ticket at a revision, in order.
struct Times {
    created: i64,
    updated: i64,
    first_reply: Option<i64>,
    last_reply: Option<i64>,
    reopened: Option<i64>,
    resolved: Option<i64>,
}

/// Everything record generation needs; immutable after start.
#[derive(Debug)]
pub struct Gen {
    /// Seed.
    pub seed: u64,
    /// `support@{domain}.freshdesk.com`.
    pub support_address: String,
    /// Share of tickets carrying `x_sim_extra`.
    pub extra_rate: f64,
    /// Tickets.
    pub tickets: Shape,
    /// Contacts.
    pub contacts: Shape,
    /// Satisfaction ratings (ordered and filtered by `created_at`).
    pub ratings: Shape,
    /// The official example conversations, those of the example ticket.
    pub example_conversations: Vec<Value>,
}

impl Gen {
    /// Generated tickets span the two years before `now`, contacts the three years before it.
    pub fn new(
        seed: u64,
        domain: &str,
        extra_rate: f64,
        (tickets, contacts, ratings): (u64, u64, u64),
        now: i64,
    ) -> Self {
        let ticket = fixtures::object(fixtures::TICKET);
        let ticket_time =
            ticket.get("updated_at").and_then(Value::as_str).and_then(parse_rfc3339).unwrap_or(0);
        // The example ticket's requester, as its `requester_id` and as its `requester.id`.
        let contact_fixed =
            vec![(1_463_546_164, 6_012_691_534, Value::Null), (1_463_546_165, 43_026_449_322, Value::Null)];
        // The second example rating's times are malformed (`T010:08:16`): it sorts an hour later.
        let rating_fixed = fixtures::items(fixtures::SATISFACTION_RATINGS)
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let id = r.get("id").and_then(Value::as_u64).unwrap_or(0);
                (1_440_752_896 + 3_600 * i as i64, id, r)
            })
            .collect();
        Gen {
            seed,
            support_address: format!("support@{domain}.freshdesk.com"),
            extra_rate,
            tickets: Shape::new(
                vec![(ticket_time, EXAMPLE_TICKET, ticket)],
                TICKET_BASE,
                tickets,
                now - 730 * DAY,
                now - DAY,
            ),
            contacts: Shape::new(
                contact_fixed,
                CONTACT_BASE,
                contacts.max(1),
                now - 1_095 * DAY,
                now - 2 * DAY,
            ),
            ratings: Shape::new(rating_fixed, RATING_BASE, ratings, now - 728 * DAY, now - DAY / 2),
            example_conversations: fixtures::items(fixtures::CONVERSATIONS),
        }
    }

    fn contact_lang(&self, key: u64) -> &'static Lang {
        text::pick_lang(hash(self.seed, &[C_LANG, key]))
    }

    /// Name and e-mail of the contact with generation key `key`.
    fn identity(&self, key: u64, lang: &'static Lang) -> (&'static str, String) {
        let h = hash(self.seed, &[C_BASE, key]);
        let (name, handle) = lang.names[((h >> 3) % lang.names.len() as u64) as usize];
        (name, format!("{handle}.{}@example.{}", key % 1_000_000_007, lang.tld))
    }

    /// The contact id of generated contact `u`.
    fn contact_id(&self, u: u64) -> u64 {
        self.contacts.ids.id(self.contacts.first() + u)
    }

    /// (created, requester contact key, language, hash) of generated ticket `k` born at `born`.
    fn ticket_base(&self, k: u64, born: i64) -> (i64, u64, &'static Lang, u64) {
        let h = hash(self.seed, &[T_BASE, k]);
        let created_later = k >= self.tickets.timeline.generated_len();
        let age = if created_later { 0 } else { (h % (20 * DAY as u64)) as i64 };
        let created = born - age;
        let contacts = &self.contacts.timeline;
        let n = contacts.generated_len().max(1);
        let newest = contacts.generated_at_or_before(created).unwrap_or(0).min(n - 1);
        let requester = (h >> 32) % (newest + 1);
        (created, requester, self.contact_lang(requester), h)
    }

    fn state(&self, k: u64, h: u64, revision: u32) -> State {
        let mut status = weighted(&STATUSES, h >> 8);
        let mut reopens = u32::from(status >= 4 && (h >> 40).is_multiple_of(4));
        let mut replied = !(status == 2 && (h >> 44).is_multiple_of(4));
        for step in 1..=u64::from(revision) {
            let s = hash(self.seed, &[T_STATUS, k, step]) % 10;
            status = match status {
                2 if s < 5 => 3,
                2 => 4,
                3 if s < 3 => 2,
                3 => 4,
                4 if s < 3 => {
                    reopens += 1;
                    2
                }
                _ => 5,
            };
            replied = true;
        }
        let replies = if replied { 1 + (h >> 12) % 3 + u64::from(revision) } else { 0 };
        State { status, reopens, replied, replies: replies.min(8) }
    }

    fn times(&self, created: i64, updated: i64, h: u64, st: &State) -> Times {
        let span = (updated - created).max(0);
        let first_reply = st.replied.then(|| created + ((60 + (h >> 16) % 86_400) as i64).min(span / 2));
        let last_reply = first_reply.map(|f| f.max(updated - span / 4));
        let solved = st.status >= 4;
        let resolved =
            solved.then(|| updated - ((h >> 20) % 600) as i64).map(|r| r.max(last_reply.unwrap_or(created)));
        let reopened = (st.reopens > 0).then(|| {
            let after = first_reply.unwrap_or(created);
            after + (updated - after) / 3
        });
        Times { created, updated, first_reply, last_reply, reopened, resolved }
    }

    /// How a removed (deleted) ticket version is removed: deleted or marked as spam.
    pub fn removal(&self, index: u64, v: &Version) -> Option<Removal> {
        if !v.deleted {
            return None;
        }
        Some(if hash(self.seed, &[T_REMOVED, index, u64::from(v.revision)]).is_multiple_of(3) {
            Removal::Spam
        } else {
            Removal::Deleted
        })
    }

    /// The creation time of the ticket at `index` (for the default 30-day window).
    pub fn ticket_created(&self, index: u64, v: &Version) -> i64 {
        let first = self.tickets.first();
        if index < first {
            let t = &self.tickets.fixed[index as usize];
            return t.get("created_at").and_then(Value::as_str).and_then(parse_rfc3339).unwrap_or(0);
        }
        self.ticket_base(index - first, v.born).0
    }

    /// The status of the ticket at `index` (for `filter=new_and_my_open`).
    pub fn ticket_status(&self, index: u64, v: &Version) -> u8 {
        let first = self.tickets.first();
        if index < first {
            let t = &self.tickets.fixed[index as usize];
            return t.get("status").and_then(Value::as_u64).unwrap_or(2) as u8;
        }
        let k = index - first;
        self.state(k, hash(self.seed, &[T_BASE, k]), v.revision).status
    }

    /// The ticket at `index` and version `v`, with the includes asked for.
    pub fn ticket(
        &self,
        index: u64,
        v: &Version,
        malformed: Option<u8>,
        (stats, requester, description): (bool, bool, bool),
    ) -> Doc<'_, Ticket> {
        let first = self.tickets.first();
        if index < first {
            return Doc::Fixed(&self.tickets.fixed[index as usize]);
        }
        let k = index - first;
        let id = TICKET_BASE + k;
        let (created, req, lang, h) = self.ticket_base(k, v.born);
        let st = self.state(k, h, v.revision);
        let t = self.times(created, v.time, h, &st);
        let mut r = rng::rng(self.seed, &[T_TEXT, k]);
        let subject = text::choose(&mut r, lang.subjects);
        let source = weighted(&SOURCES, h >> 4);
        let responder = (st.status != 2 || st.replied).then_some(AGENT_BASE + (h >> 24) % AGENTS);
        let (name, email) = self.identity(req, lang);
        let hv = hash(self.seed, &[T_TEXT, k, u64::from(v.revision)]);
        let mut tags = vec![TAGS[((h >> 36) % TAGS.len() as u64) as usize]];
        if (h >> 48).is_multiple_of(3) {
            let second = TAGS[((h >> 50) % TAGS.len() as u64) as usize];
            if second != tags[0] {
                tags.push(second);
            }
        }
        let removal = self.removal(index, v);
        let description_text = description.then(|| {
            let mut s = String::new();
            text::paragraph(&mut r, lang, 200, &mut s);
            s
        });
        Doc::Gen(Ticket {
            cc_emails: Vec::new(),
            fwd_emails: Vec::new(),
            reply_cc_emails: Vec::new(),
            email_config_id: None,
            fr_escalated: (h >> 52).is_multiple_of(9),
            group_id: Some(GROUP_BASE + (h >> 14) % 4),
            priority: 1 + ((hv >> 3) % 4) as u8,
            requester_id: self.contact_id(req),
            responder_id: responder,
            source,
            spam: removal == Some(Removal::Spam),
            status: st.status,
            subject,
            kind: TYPES[((h >> 28) % TYPES.len() as u64) as usize],
            company_id: ((h >> 6) % 10 < 4).then(|| COMPANY_BASE + (h >> 40) % 200),
            id: id_out(id, "FD", malformed == Some(1)),
            to_emails: (source == 1).then(|| vec![self.support_address.clone()]),
            product_id: None,
            created_at: stamp(created, malformed == Some(0)),
            updated_at: Ts(v.time),
            due_by: Ts(created + 3 * DAY),
            fr_due_by: Ts(created + DAY),
            is_escalated: (h >> 54).is_multiple_of(7),
            description: description_text.as_ref().map(|d| format!("<div>{d}</div>")),
            description_text,
            custom_fields: CustomFields {
                cf_order_number: (!(h >> 56).is_multiple_of(4))
                    .then(|| format!("ORD-{:06}", (h >> 16) % 1_000_000)),
            },
            tags,
            deleted: (removal == Some(Removal::Deleted)).then_some(true),
            x_sim_extra: (unit(hash(self.seed, &[T_EXTRA, k])) < self.extra_rate).then_some(Extra {
                source: "engage-sandbox",
                weights: [(h % 7) as u8, (h % 11) as u8, (h % 13) as u8],
            }),
            stats: stats.then(|| Stats {
                agent_responded_at: t.last_reply.map(Ts),
                requester_responded_at: Some(Ts(t.created)),
                first_responded_at: t.first_reply.map(Ts),
                status_updated_at: Ts(t.updated),
                reopened_at: t.reopened.map(Ts),
                resolved_at: t.resolved.map(Ts),
                closed_at: (st.status == 5).then_some(Ts(t.updated)),
                pending_since: (st.status == 3).then_some(Ts(t.updated)),
            }),
            requester: requester.then(|| {
                let hc = hash(self.seed, &[C_BASE, req, 1]);
                Requester {
                    id: self.contact_id(req),
                    name,
                    email,
                    mobile: hc.is_multiple_of(3).then(|| format!("{} {:04}", lang.phone_prefix, hc % 10_000)),
                    phone: None,
                }
            }),
        })
    }

    /// The conversations of the ticket at `index` and version `v`: agent replies (the first at
    /// `stats.first_responded_at`, the last at `stats.agent_responded_at`), customer messages
    /// between them and sometimes a private note. The example ticket has the example
    /// conversations.
    pub fn conversations(&self, index: u64, v: &Version) -> Vec<Doc<'_, Conversation>> {
        let first = self.tickets.first();
        if index < first {
            return self.example_conversations.iter().map(Doc::Fixed).collect();
        }
        let k = index - first;
        let id = TICKET_BASE + k;
        let (created, req, lang, h) = self.ticket_base(k, v.born);
        let st = self.state(k, h, v.revision);
        let t = self.times(created, v.time, h, &st);
        let (Some(first_reply), Some(last_reply)) = (t.first_reply, t.last_reply) else {
            return Vec::new();
        };
        let (_, email) = self.identity(req, lang);
        let agent = AGENT_BASE + (h >> 24) % AGENTS;
        let mut r = rng::rng(self.seed, &[T_TEXT, k, u64::from(v.revision), 9]);
        let mut out = Vec::new();
        let mut push = |n: u64, incoming: bool, private: bool, at: i64, r: &mut rand::rngs::SmallRng| {
            let mut body = String::new();
            text::paragraph(r, lang, 80, &mut body);
            out.push(Doc::Gen(Conversation {
                body: format!("<div>{body}</div>"),
                body_text: body,
                id: CONVERSATION_BASE + index * 64 + n,
                incoming,
                private,
                user_id: if incoming { self.contact_id(req) } else { agent },
                support_email: (!incoming && !private).then(|| self.support_address.clone()),
                source: if private { 2 } else { 0 },
                ticket_id: id,
                to_emails: if incoming || private { Vec::new() } else { vec![email.clone()] },
                from_email: (!incoming && !private).then(|| self.support_address.clone()),
                cc_emails: None,
                bcc_emails: None,
                created_at: Ts(at),
                updated_at: Ts(at),
                attachments: [],
            }));
        };
        let replies = st.replies;
        let step = (last_reply - first_reply) / replies.max(1) as i64;
        let mut n = 0;
        for i in 0..replies {
            let at = if i + 1 == replies { last_reply } else { first_reply + step * i as i64 };
            if i > 0 {
                push(n, true, false, (at - step / 2).max(first_reply), &mut r);
                n += 1;
            }
            push(n, false, false, at, &mut r);
            n += 1;
            if i == 0 && (h >> 58).is_multiple_of(3) {
                push(n, false, true, at + 1, &mut r);
                n += 1;
            }
        }
        out.sort_by_key(|c| match c {
            Doc::Gen(c) => (c.created_at.0, c.id),
            Doc::Fixed(_) => (0, 0),
        });
        out
    }

    /// The contact at `index` and version `v` (`deleted: true` when deleted).
    pub fn contact(&self, index: u64, v: &Version, malformed: Option<u8>) -> Doc<'_, Contact> {
        let first = self.contacts.first();
        let id = self.contacts.ids.id(index);
        let (key, lang) = if index < first {
            (u64::MAX - index, &text::LANGS[0])
        } else {
            let u = index - first;
            (u, self.contact_lang(u))
        };
        let h = hash(self.seed, &[C_BASE, key]);
        let hv = hash(self.seed, &[C_BASE, key, u64::from(v.revision)]);
        let (name, email) = match id {
            43_026_449_322 => ("Dummyname", "dummyname@example.com".to_owned()),
            _ => self.identity(key, lang),
        };
        let age = ((h >> 20) % (60 * DAY as u64)) as i64;
        let phone = ((hv >> 8) % 10 < 5).then(|| format!("{} {:04}", lang.phone_prefix, (hv >> 16) % 10_000));
        Doc::Gen(Contact {
            active: !(h >> 4).is_multiple_of(6),
            address: None,
            company_id: ((h >> 6) % 10 < 4).then(|| COMPANY_BASE + (h >> 40) % 200),
            description: None,
            email,
            id: id_out(id, "C", malformed == Some(1)),
            job_title: ((h >> 10) % 10 < 2).then_some("Buyer"),
            language: lang.code,
            mobile: ((hv >> 30) % 10 < 3)
                .then(|| format!("{} {:04}", lang.phone_prefix, (hv >> 34) % 10_000)),
            name,
            phone,
            time_zone: lang.time_zone,
            twitter_id: None,
            other_emails: Vec::new(),
            facebook_id: None,
            created_at: stamp(v.born - age, malformed == Some(0)),
            updated_at: Ts(v.time),
            csat_rating: None,
            preferred_source: "email",
            custom_fields: serde_json::Map::new(),
            unique_external_id: ((h >> 30).is_multiple_of(5))
                .then(|| format!("crm-{}", (h >> 10) % 10_000_000)),
            deleted: v.deleted.then_some(true),
        })
    }

    /// The generated ticket a generated rating is about.
    fn rating_ticket(&self, j: u64) -> u64 {
        let n = self.tickets.timeline.generated_len().max(1);
        if j < self.ratings.timeline.generated_len() {
            (3 * j + hash(self.seed, &[R_TICKET, j]) % 3).min(n - 1)
        } else {
            hash(self.seed, &[R_TICKET, j]) % n
        }
    }

    /// The rating at `index`, created at `created` (its version time), at edit `revision`
    /// (0: never edited) last updated at `updated`.
    pub fn rating(
        &self,
        index: u64,
        created: i64,
        (revision, updated): (u32, i64),
        malformed: Option<u8>,
    ) -> Doc<'_, Rating> {
        let first = self.ratings.first();
        if index < first {
            return Doc::Fixed(&self.ratings.fixed[index as usize]);
        }
        let j = index - first;
        let k = self.rating_ticket(j);
        let born = self.tickets.timeline.base_time(self.tickets.first() + k);
        let (_, req, lang, h) = self.ticket_base(k, born);
        let hr = hash(self.seed, &[R_EDIT, j, u64::from(revision)]);
        let score = weighted(&RATINGS, hr);
        let mut r = rng::rng(hr, &[]);
        let feedback = match score {
            101.. if hr % 10 < 6 => Some(text::choose(&mut r, lang.praise)),
            ..0 if hr % 10 < 8 => Some(text::choose(&mut r, lang.complaints)),
            _ => None,
        };
        let two = hash(self.seed, &[R_BASE, j]).is_multiple_of(4);
        Doc::Gen(Rating {
            id: id_out(RATING_BASE + j, "CSAT", malformed == Some(1)),
            survey_id: if two { 2 } else { 1 },
            user_id: self.contact_id(req),
            agent_id: AGENT_BASE + (h >> 24) % AGENTS,
            feedback,
            group_id: Some(GROUP_BASE + (h >> 14) % 4),
            ticket_id: TICKET_BASE + k,
            ratings: Scores { default_question: score, question_2: two.then(|| weighted(&RATINGS, hr >> 7)) },
            created_at: stamp(created, malformed == Some(0)),
            updated_at: Ts(updated.max(created)),
        })
    }
}
