//! Intercom records generated on demand from (seed, index, version): conversations (with their
//! statistics and conversation rating, both null until the events happen) and contacts, plus the
//! official examples at the head of each stream.

use serde::Serialize;
use serde_json::Value;

use crate::rng::{self, hash, unit};
use crate::text::{self, Lang};
use crate::timeline::{Timeline, Version};

/// First generated conversation id (Intercom serves conversation ids as strings of digits).
pub const CONVERSATION_BASE: u64 = 5_000_000_001;
/// Admin ids (integers in `admin_assignee_id`, strings in references).
pub const ADMIN_BASE: u64 = 991_267_700;
/// Admins in the workspace.
pub const ADMINS: u64 = 8;
const TEAM_BASE: u64 = 5_017_691;
const DAY: i64 = 86_400;

const C_BASE: u64 = 31;
const C_STATE: u64 = 32;
const C_RATING: u64 = 33;
const C_EXTRA: u64 = 34;
const K_BASE: u64 = 41;
const K_LANG: u64 = 42;

/// `source.type` values and their share of new conversations.
const SOURCES: [(&str, u64); 5] =
    [("conversation", 55), ("email", 30), ("phone_call", 5), ("whatsapp", 5), ("facebook", 5)];
const TAGS: [(&str, &str); 5] = [
    ("7522907", "billing"),
    ("7522908", "bug"),
    ("7522909", "vip"),
    ("7522910", "refund"),
    ("7522911", "onboarding"),
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

/// A Unix timestamp as served: an integer, or (malformed) text that is not one.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Stamp {
    /// Unix seconds.
    At(i64),
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
    Gen(Box<T>),
}

/// `{"type": ..., "id": ...}` references.
#[derive(Serialize)]
pub struct Reference {
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
}

/// A contact reference (`contact_reference`).
#[derive(Serialize)]
pub struct ContactRef {
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
    external_id: Option<String>,
}

/// `source.author`.
#[derive(Serialize)]
pub struct Author {
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
    name: Option<&'static str>,
    email: String,
}

/// `source`: the message that started the conversation.
#[derive(Serialize)]
pub struct Source {
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
    delivered_as: &'static str,
    subject: &'static str,
    body: String,
    author: Author,
    attachments: [Value; 0],
    url: Option<String>,
    redacted: bool,
}

/// A typed list wrapper (`contact.list`, `tag.list`, `admin.list`).
#[derive(Serialize)]
pub struct Listed<T> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    items: T,
}

/// `contacts.contacts`.
#[derive(Serialize)]
pub struct Contacts {
    contacts: Vec<ContactRef>,
}

/// A tag on a conversation.
#[derive(Serialize)]
pub struct Tag {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'static str,
    name: &'static str,
    applied_at: i64,
    applied_by: Reference,
}

/// `tags.tags`.
#[derive(Serialize)]
pub struct Tags {
    tags: Vec<Tag>,
}

/// `teammates.teammates`.
#[derive(Serialize)]
pub struct Teammates {
    teammates: Vec<Reference>,
}

/// `first_contact_reply`.
#[derive(Serialize)]
pub struct FirstContactReply {
    created_at: i64,
    #[serde(rename = "type")]
    kind: &'static str,
    url: Option<String>,
}

/// `conversation_statistics`: seconds (business-hours adjusted) and Unix times; null until the
/// event happened.
#[derive(Serialize)]
pub struct Statistics {
    #[serde(rename = "type")]
    kind: &'static str,
    time_to_assignment: Option<i64>,
    time_to_admin_reply: Option<i64>,
    time_to_first_close: Option<i64>,
    time_to_last_close: Option<i64>,
    median_time_to_reply: Option<i64>,
    first_contact_reply_at: Option<i64>,
    first_assignment_at: Option<i64>,
    first_admin_reply_at: Option<i64>,
    first_close_at: Option<i64>,
    last_assignment_at: Option<i64>,
    last_assignment_admin_reply_at: Option<i64>,
    last_contact_reply_at: Option<i64>,
    last_admin_reply_at: Option<i64>,
    last_close_at: Option<i64>,
    last_closed_by_id: Option<String>,
    count_reopens: u32,
    count_assignments: u32,
    count_conversation_parts: u32,
}

/// A served rating score: 1–5, or (malformed) text.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Score {
    /// 1–5.
    Num(u8),
    /// A malformed score.
    Text(&'static str),
}

/// `conversation_rating`.
#[derive(Serialize)]
pub struct Rating {
    rating: Score,
    remark: &'static str,
    created_at: i64,
    contact: ContactRef,
    teammate: Reference,
}

/// `linked_objects`.
#[derive(Serialize)]
pub struct Linked {
    #[serde(rename = "type")]
    kind: &'static str,
    data: [Value; 0],
    total_count: u32,
    has_more: bool,
}

/// An unknown field some conversations carry (connectors must keep it in `raw`).
#[derive(Serialize)]
pub struct Extra {
    source: &'static str,
    weights: [u8; 3],
}

/// Empty JSON object.
#[derive(Serialize)]
pub struct Empty {}

/// A generated conversation, fields in the order of the official examples.
#[derive(Serialize)]
pub struct Conversation {
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
    created_at: Stamp,
    updated_at: Stamp,
    waiting_since: Option<i64>,
    snoozed_until: Option<i64>,
    source: Source,
    contacts: Listed<Contacts>,
    first_contact_reply: Option<FirstContactReply>,
    admin_assignee_id: Option<u64>,
    team_assignee_id: Option<u64>,
    open: bool,
    state: &'static str,
    read: bool,
    tags: Listed<Tags>,
    priority: &'static str,
    sla_applied: Option<Value>,
    statistics: Option<Statistics>,
    conversation_rating: Option<Rating>,
    teammates: Option<Listed<Teammates>>,
    title: Option<&'static str>,
    custom_attributes: Empty,
    topics: Empty,
    ticket: Option<Value>,
    linked_objects: Linked,
    ai_agent: Option<Value>,
    ai_agent_participated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    x_sim_extra: Option<Extra>,
}

/// `avatar` of a contact.
#[derive(Serialize)]
pub struct Avatar {
    #[serde(rename = "type")]
    kind: &'static str,
    image_url: String,
}

/// `location` of a contact.
#[derive(Serialize)]
pub struct Location {
    #[serde(rename = "type")]
    kind: &'static str,
    country: Option<&'static str>,
    region: Option<&'static str>,
    city: Option<&'static str>,
    country_code: Option<&'static str>,
    continent_code: Option<&'static str>,
}

/// An addressable list of a contact (`tags`, `notes`, `companies`, subscriptions).
#[derive(Serialize)]
pub struct Addressable {
    #[serde(rename = "type")]
    kind: &'static str,
    data: [Value; 0],
    url: String,
    total_count: u32,
    has_more: bool,
}

/// `social_profiles`.
#[derive(Serialize)]
pub struct Social {
    #[serde(rename = "type")]
    kind: &'static str,
    data: [Value; 0],
}

/// A generated contact, fields in the order of the official example.
#[derive(Serialize)]
pub struct Contact {
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
    workspace_id: &'static str,
    external_id: Option<String>,
    role: &'static str,
    email: String,
    phone: Option<String>,
    name: Option<&'static str>,
    avatar: Option<Avatar>,
    owner_id: Option<u64>,
    social_profiles: Social,
    has_hard_bounced: bool,
    marked_email_as_spam: bool,
    unsubscribed_from_emails: bool,
    created_at: Stamp,
    updated_at: Stamp,
    signed_up_at: Option<i64>,
    last_seen_at: Option<i64>,
    last_replied_at: Option<i64>,
    last_contacted_at: Option<i64>,
    last_email_opened_at: Option<i64>,
    last_email_clicked_at: Option<i64>,
    language_override: Option<&'static str>,
    browser: Option<&'static str>,
    browser_version: Option<&'static str>,
    browser_language: Option<&'static str>,
    os: Option<&'static str>,
    location: Location,
    android_app_name: Option<&'static str>,
    android_app_version: Option<&'static str>,
    android_device: Option<&'static str>,
    android_os_version: Option<&'static str>,
    android_sdk_version: Option<&'static str>,
    android_last_seen_at: Option<i64>,
    ios_app_name: Option<&'static str>,
    ios_app_version: Option<&'static str>,
    ios_device: Option<&'static str>,
    ios_os_version: Option<&'static str>,
    ios_sdk_version: Option<&'static str>,
    ios_last_seen_at: Option<i64>,
    custom_attributes: Empty,
    tags: Addressable,
    notes: Addressable,
    companies: Addressable,
    opted_out_subscription_types: Addressable,
    opted_in_subscription_types: Addressable,
    utm_campaign: Option<&'static str>,
    utm_content: Option<&'static str>,
    utm_medium: Option<&'static str>,
    utm_source: Option<&'static str>,
    utm_term: Option<&'static str>,
    referrer: Option<String>,
}

/// The facts search filters read, without rendering the record.
#[derive(Clone, Debug, PartialEq)]
pub struct Facts {
    /// `id`.
    pub id: String,
    /// `created_at`.
    pub created_at: i64,
    /// `updated_at`.
    pub updated_at: i64,
    /// Conversations: `state`; contacts: `role`.
    pub state: String,
    /// `conversation_rating.rating`, when rated.
    pub rating: Option<u8>,
    /// Conversations: `source.type`; contacts: `email`.
    pub kind: String,
}

/// A record at the head of a stream that is not generated from its index.
#[derive(Clone, Debug)]
pub enum Fixed {
    /// An official example, served verbatim.
    Verbatim(Value),
    /// A generated contact with a given id (the contacts official examples refer to).
    Contact {
        /// The contact id.
        id: String,
        /// Its `external_id`.
        external_id: Option<String>,
    },
}

/// One stream's fixed head and base timeline.
#[derive(Clone, Debug)]
pub struct Shape {
    /// Records at the head of the stream.
    pub fixed: Vec<Fixed>,
    /// The base timeline (no mutation).
    pub timeline: Timeline,
}

impl Shape {
    fn first(&self) -> u64 {
        self.fixed.len() as u64
    }
}

/// Conversation state at a revision.
struct State {
    state: &'static str,
    reopens: u32,
    replied: bool,
    ever_closed: bool,
    /// Revision at which the conversation was rated, if it was.
    rated_at: Option<u32>,
}

/// Everything record generation needs; immutable after start.
#[derive(Debug)]
pub struct Gen {
    /// Seed.
    pub seed: u64,
    /// Share of conversations carrying `x_sim_extra`.
    pub extra_rate: f64,
    /// Conversations.
    pub conversations: Shape,
    /// Contacts.
    pub contacts: Shape,
}

fn at(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(Value::as_i64).unwrap_or(0)
}

/// Facts of an official example.
pub fn fixed_facts(v: &Value) -> Facts {
    let text = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or("").to_owned();
    let is_contact = v.get("type").and_then(Value::as_str) == Some("contact");
    Facts {
        id: text("/id"),
        created_at: at(v, "created_at"),
        updated_at: at(v, "updated_at"),
        state: if is_contact { text("/role") } else { text("/state") },
        rating: v.pointer("/conversation_rating/rating").and_then(Value::as_u64).map(|r| r as u8),
        kind: if is_contact { text("/email") } else { text("/source/type") },
    }
}

impl Gen {
    /// Generated conversations span the 330 days before `now` (after the official examples, from
    /// June 2024), contacts the 400 days before it.
    pub fn new(
        seed: u64,
        extra_rate: f64,
        examples: (&[Value], &[Value]),
        (conversations, contacts): (u64, u64),
        now: i64,
    ) -> Self {
        let (conversation_examples, contact_examples) = examples;
        let conv_fixed: Vec<(i64, Fixed)> =
            conversation_examples.iter().map(|c| (at(c, "updated_at"), Fixed::Verbatim(c.clone()))).collect();
        // The contacts the example conversations refer to exist, just before them.
        let mut contact_fixed: Vec<(i64, Fixed)> = conversation_examples
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let r = c.pointer("/contacts/contacts/0")?;
                let id = r.get("id")?.as_str()?.to_owned();
                let external_id = r.get("external_id").and_then(Value::as_str).map(str::to_owned);
                Some((at(c, "created_at") - 100 + i as i64, Fixed::Contact { id, external_id }))
            })
            .collect();
        contact_fixed
            .extend(contact_examples.iter().map(|c| (at(c, "updated_at"), Fixed::Verbatim(c.clone()))));
        contact_fixed.sort_by_key(|(t, _)| *t);
        let shape = |fixed: Vec<(i64, Fixed)>, generated: u64, span_days: i64| {
            let newest_fixed = fixed.iter().map(|(t, _)| *t).max().unwrap_or(i64::MIN);
            let to = now - DAY;
            let from = (now - span_days * DAY).max(newest_fixed.saturating_add(1)).min(to);
            let times = fixed.iter().map(|(t, _)| (*t).min(from)).collect();
            Shape {
                fixed: fixed.into_iter().map(|(_, f)| f).collect(),
                timeline: Timeline::new(times, generated, from, to),
            }
        };
        Gen {
            seed,
            extra_rate,
            conversations: shape(conv_fixed, conversations, 330),
            contacts: shape(contact_fixed, contacts.max(1), 400),
        }
    }

    /// The id of the conversation at `index`.
    pub fn conversation_id(&self, index: u64) -> String {
        let first = self.conversations.first();
        match self.conversations.fixed.get(index as usize) {
            Some(Fixed::Verbatim(v)) => fixed_facts(v).id,
            Some(Fixed::Contact { id, .. }) => id.clone(),
            None => (CONVERSATION_BASE + (index - first)).to_string(),
        }
    }

    /// The id of the contact at `index` (24 hex digits, like Intercom's).
    pub fn contact_id(&self, index: u64) -> String {
        let first = self.contacts.first();
        match self.contacts.fixed.get(index as usize) {
            Some(Fixed::Verbatim(v)) => fixed_facts(v).id,
            Some(Fixed::Contact { id, .. }) => id.clone(),
            None => format!("6650{:020x}", 0xa1_0000 + (index - first)),
        }
    }

    fn contact_lang(&self, key: u64) -> &'static Lang {
        text::pick_lang(hash(self.seed, &[K_LANG, key]))
    }

    /// Name and e-mail of the contact with generation key `key`.
    fn identity(&self, key: u64, lang: &'static Lang) -> (&'static str, String) {
        let h = hash(self.seed, &[K_BASE, key]);
        let (name, handle) = lang.names[((h >> 3) % lang.names.len() as u64) as usize];
        (name, format!("{handle}.{}@example.{}", key % 1_000_000_007, lang.tld))
    }

    /// The generated contact a conversation born at `born` belongs to (one that existed then).
    fn conversation_contact(&self, h: u64, born: i64) -> u64 {
        let first = self.contacts.first();
        let n = self.contacts.timeline.generated_len().max(1);
        let newest = self.contacts.timeline.generated_at_or_before(born).unwrap_or(0).min(n - 1);
        first + (h >> 32) % (newest + 1)
    }

    fn state(&self, k: u64, h: u64, revision: u32) -> State {
        let mut state = weighted(&[("open", 25), ("snoozed", 10), ("closed", 65)], h >> 8);
        let mut reopens = u32::from(state == "closed" && (h >> 40).is_multiple_of(5));
        let mut replied = state != "open" || (h >> 12) % 10 < 6;
        let mut ever_closed = state == "closed";
        let rated_now = |rev: u32| unit(hash(self.seed, &[C_RATING, k, u64::from(rev)])) < 0.55;
        let mut rated_at = (state == "closed" && rated_now(0)).then_some(0);
        for step in 1..=revision {
            let s = hash(self.seed, &[C_STATE, k, u64::from(step)]) % 10;
            replied = true;
            state = match state {
                "open" if s < 7 => "closed",
                "open" => "snoozed",
                "snoozed" => "open",
                _ if s < 3 => {
                    reopens += 1;
                    "open"
                }
                _ => "closed",
            };
            ever_closed |= state == "closed";
            if state == "closed" && rated_at.is_none() && rated_now(step) {
                rated_at = Some(step);
            }
        }
        State { state, reopens, replied, ever_closed, rated_at }
    }

    /// The facts of the conversation at `index` and version `v`.
    pub fn conversation_facts(&self, index: u64, v: &Version) -> Facts {
        let first = self.conversations.first();
        if let Some(Fixed::Verbatim(value)) = self.conversations.fixed.get(index as usize) {
            return fixed_facts(value);
        }
        let k = index - first;
        let h = hash(self.seed, &[C_BASE, k]);
        let st = self.state(k, h, v.revision);
        Facts {
            id: self.conversation_id(index),
            created_at: self.conversation_created(k, v.born),
            updated_at: v.time,
            state: st.state.to_owned(),
            rating: st.rated_at.map(|r| self.score(k, r)),
            kind: weighted(&SOURCES, h >> 4).to_owned(),
        }
    }

    fn conversation_created(&self, k: u64, born: i64) -> i64 {
        let h = hash(self.seed, &[C_BASE, k, 1]);
        let created_later = k >= self.conversations.timeline.generated_len();
        born - if created_later { 0 } else { (h % (10 * DAY as u64)) as i64 }
    }

    fn score(&self, k: u64, rated_at: u32) -> u8 {
        let h = hash(self.seed, &[C_RATING, k, u64::from(rated_at), 5]);
        weighted(&[(5u8, 50), (4, 20), (3, 12), (2, 8), (1, 10)], h)
    }

    /// The conversation at `index` and version `v`. `malformed` (conversations stream) breaks a
    /// timestamp; `bad_rating` serves a non-numeric rating (when there is a rating).
    pub fn conversation(
        &self,
        index: u64,
        v: &Version,
        malformed: Option<u8>,
        bad_rating: bool,
    ) -> Doc<'_, Conversation> {
        let first = self.conversations.first();
        if let Some(Fixed::Verbatim(value)) = self.conversations.fixed.get(index as usize) {
            return Doc::Fixed(value);
        }
        let k = index - first;
        let h = hash(self.seed, &[C_BASE, k]);
        let st = self.state(k, h, v.revision);
        let created = self.conversation_created(k, v.born);
        let updated = v.time;
        let contact_index = self.conversation_contact(h, v.born);
        let contact_key = contact_index - self.contacts.first();
        let lang = self.contact_lang(contact_key);
        let (name, email) = self.identity(contact_key, lang);
        let contact_id = self.contact_id(contact_index);
        let external_id = (contact_key.is_multiple_of(3)).then(|| format!("crm-{}", contact_key * 7 + 70));
        let source_type = weighted(&SOURCES, h >> 4);
        let delivered_as =
            weighted(&[("customer_initiated", 85), ("admin_initiated", 10), ("automated", 5)], h >> 16);
        let admin = ADMIN_BASE + (h >> 20) % ADMINS;
        let mut r = rng::rng(self.seed, &[C_BASE, k, 2]);
        let subject = if source_type == "email" { text::choose(&mut r, lang.subjects) } else { "" };
        let mut body = String::from("<p>");
        text::paragraph(&mut r, lang, 120, &mut body);
        body.push_str("</p>");
        let author = if delivered_as == "customer_initiated" {
            Author {
                kind: if contact_key.is_multiple_of(4) { "lead" } else { "user" },
                id: contact_id.clone(),
                name: Some(name),
                email: email.clone(),
            }
        } else {
            Author {
                kind: "admin",
                id: admin.to_string(),
                name: Some("Support Team"),
                email: format!("admin{}@example.com", admin - ADMIN_BASE),
            }
        };
        let customer = delivered_as == "customer_initiated";
        let first_contact = customer.then_some(created);
        let reply_delay = 60 + (h >> 24) as i64 % (6 * 3600);
        let span = (updated - created).max(1);
        let first_reply = (st.replied && customer).then(|| (created + reply_delay).min(updated));
        let first_close = st.ever_closed.then(|| (created + span / 2).max(first_reply.unwrap_or(created)));
        let last_close = (st.state == "closed").then_some(updated).or(first_close);
        let statistics = (st.replied || st.ever_closed).then(|| Statistics {
            kind: "conversation_statistics",
            time_to_assignment: first_reply.map(|_| 0),
            time_to_admin_reply: first_reply.map(|f| (f - created) * 3 / 5),
            time_to_first_close: first_close.map(|c| (c - created) * 3 / 5),
            time_to_last_close: last_close.map(|c| (c - created) * 3 / 5),
            median_time_to_reply: first_reply.map(|f| (f - created) * 2 / 3),
            first_contact_reply_at: first_contact,
            first_assignment_at: first_reply.map(|_| created),
            first_admin_reply_at: first_reply,
            first_close_at: first_close,
            last_assignment_at: first_reply.map(|_| created),
            last_assignment_admin_reply_at: first_reply,
            last_contact_reply_at: first_contact.map(|c| c.max(updated - span / 3)),
            last_admin_reply_at: first_reply.map(|f| f.max(updated - span / 4)),
            last_close_at: last_close,
            last_closed_by_id: last_close.map(|_| admin.to_string()),
            count_reopens: st.reopens,
            count_assignments: u32::from(first_reply.is_some()),
            count_conversation_parts: 2 + 2 * v.revision + st.reopens,
        });
        let rating = st.rated_at.map(|rated_at| {
            let score = self.score(k, rated_at);
            let hr = hash(self.seed, &[C_RATING, k, u64::from(rated_at), 9]);
            let mut rr = rng::rng(hr, &[]);
            let remark = match score {
                4 | 5 if hr % 10 < 6 => text::choose(&mut rr, lang.praise),
                1 | 2 if hr % 10 < 8 => text::choose(&mut rr, lang.complaints),
                _ => "",
            };
            Rating {
                rating: if bad_rating { Score::Text("five stars") } else { Score::Num(score) },
                remark,
                created_at: last_close.unwrap_or(updated),
                contact: ContactRef {
                    kind: "contact",
                    id: contact_id.clone(),
                    external_id: external_id.clone(),
                },
                teammate: Reference { kind: "admin", id: admin.to_string() },
            }
        });
        let mut tags = Vec::new();
        if (h >> 44).is_multiple_of(3) {
            let (id, tag) = TAGS[((h >> 46) % TAGS.len() as u64) as usize];
            tags.push(Tag {
                kind: "tag",
                id,
                name: tag,
                applied_at: created,
                applied_by: Reference { kind: "admin", id: admin.to_string() },
            });
        }
        let open = st.state != "closed";
        let waiting = (st.state == "open" && customer).then_some(updated);
        let extra = (unit(hash(self.seed, &[C_EXTRA, k])) < self.extra_rate).then_some(Extra {
            source: "engage-sandbox",
            weights: [(h % 7) as u8, (h % 11) as u8, (h % 13) as u8],
        });
        let stamp =
            |t: i64, bad: bool, text: &'static str| if bad { Stamp::Text(text) } else { Stamp::At(t) };
        Doc::Gen(Box::new(Conversation {
            kind: "conversation",
            id: self.conversation_id(index),
            created_at: stamp(created, malformed == Some(0), "not a date"),
            updated_at: stamp(updated, malformed == Some(1), "never"),
            waiting_since: waiting,
            snoozed_until: (st.state == "snoozed").then_some(updated + DAY),
            source: Source {
                kind: source_type,
                id: (403_918_000 + k).to_string(),
                delivered_as,
                subject,
                body,
                author,
                attachments: [],
                url: (source_type == "conversation" && customer)
                    .then(|| "https://example.com/help".to_owned()),
                redacted: false,
            },
            contacts: Listed {
                kind: "contact.list",
                items: Contacts {
                    contacts: vec![ContactRef { kind: "contact", id: contact_id, external_id }],
                },
            },
            first_contact_reply: first_contact.map(|c| FirstContactReply {
                created_at: c,
                kind: source_type,
                url: (source_type == "conversation").then(|| "https://example.com/help".to_owned()),
            }),
            admin_assignee_id: first_reply.map(|_| admin),
            team_assignee_id: ((h >> 30).is_multiple_of(2)).then_some(TEAM_BASE + (h >> 31) % 3),
            open,
            state: st.state,
            read: st.replied,
            tags: Listed { kind: "tag.list", items: Tags { tags } },
            priority: if (h >> 50).is_multiple_of(6) { "priority" } else { "not_priority" },
            sla_applied: None,
            statistics,
            conversation_rating: rating,
            teammates: st.replied.then(|| Listed {
                kind: "admin.list",
                items: Teammates { teammates: vec![Reference { kind: "admin", id: admin.to_string() }] },
            }),
            title: (source_type == "email").then_some(subject),
            custom_attributes: Empty {},
            topics: Empty {},
            ticket: None,
            linked_objects: Linked { kind: "list", data: [], total_count: 0, has_more: false },
            ai_agent: None,
            ai_agent_participated: false,
            x_sim_extra: extra,
        }))
    }

    /// The facts of the contact at `index` and version `v`.
    pub fn contact_facts(&self, index: u64, v: &Version) -> Facts {
        if let Some(Fixed::Verbatim(value)) = self.contacts.fixed.get(index as usize) {
            return fixed_facts(value);
        }
        let key = self.contact_key(index);
        let (_, email) = self.identity(key, self.contact_lang(key));
        Facts {
            id: self.contact_id(index),
            created_at: self.contact_created(key, v.born),
            updated_at: v.time,
            state: self.role(key).to_owned(),
            rating: None,
            kind: email,
        }
    }

    /// Generation key of a contact: its index among generated contacts, or a key of its own for
    /// the contacts official examples refer to.
    fn contact_key(&self, index: u64) -> u64 {
        let first = self.contacts.first();
        if index < first { u64::MAX - index } else { index - first }
    }

    fn role(&self, key: u64) -> &'static str {
        if key.is_multiple_of(4) { "lead" } else { "user" }
    }

    fn contact_created(&self, key: u64, born: i64) -> i64 {
        born - (hash(self.seed, &[K_BASE, key, 1]) % (60 * DAY as u64)) as i64
    }

    /// The contact at `index` and version `v`. `malformed` breaks a timestamp.
    pub fn contact(&self, index: u64, v: &Version, malformed: Option<u8>) -> Doc<'_, Contact> {
        let external = match self.contacts.fixed.get(index as usize) {
            Some(Fixed::Verbatim(value)) => return Doc::Fixed(value),
            Some(Fixed::Contact { external_id, .. }) => Some(external_id.clone()),
            None => None,
        };
        let key = self.contact_key(index);
        let lang = self.contact_lang(key);
        let (name, email) = self.identity(key, lang);
        let id = self.contact_id(index);
        let h = hash(self.seed, &[K_BASE, key]);
        let hv = hash(self.seed, &[K_BASE, key, u64::from(v.revision)]);
        let created = self.contact_created(key, v.born);
        let role = self.role(key);
        let phone = ((hv >> 8) % 10 < 6).then(|| format!("{} {:04}", lang.phone_prefix, (hv >> 16) % 10_000));
        let seen = v.time - (hv % 3_600) as i64;
        let list = |kind: &'static str, what: &str| Addressable {
            kind,
            data: [],
            url: format!("/contacts/{id}/{what}"),
            total_count: 0,
            has_more: false,
        };
        let stamp =
            |t: i64, bad: bool, text: &'static str| if bad { Stamp::Text(text) } else { Stamp::At(t) };
        let mobile = (h >> 12).is_multiple_of(5);
        Doc::Gen(Box::new(Contact {
            kind: "contact",
            id: id.clone(),
            workspace_id: "sandbox01",
            external_id: external.unwrap_or_else(|| {
                (role == "user" && key.is_multiple_of(3)).then(|| format!("crm-{}", key * 7 + 70))
            }),
            role,
            email,
            phone,
            name: Some(name),
            avatar: ((h >> 20).is_multiple_of(4)).then(|| Avatar {
                kind: "avatar",
                image_url: format!("https://static.example.com/avatars/{id}.png"),
            }),
            owner_id: ((h >> 22).is_multiple_of(3)).then_some(ADMIN_BASE + (h >> 24) % ADMINS),
            social_profiles: Social { kind: "list", data: [] },
            has_hard_bounced: (h >> 26).is_multiple_of(40),
            marked_email_as_spam: (h >> 28).is_multiple_of(80),
            unsubscribed_from_emails: (hv >> 30).is_multiple_of(12),
            created_at: stamp(created, malformed == Some(0), "not a date"),
            updated_at: stamp(v.time, malformed == Some(1), "never"),
            signed_up_at: (role == "user").then_some(created),
            last_seen_at: Some(seen),
            last_replied_at: ((hv >> 34).is_multiple_of(2)).then_some(seen),
            last_contacted_at: ((hv >> 36).is_multiple_of(3)).then_some(seen),
            last_email_opened_at: None,
            last_email_clicked_at: None,
            language_override: (lang.code != "en").then_some(lang.code),
            browser: (!mobile).then_some("chrome"),
            browser_version: (!mobile).then_some("124.0.6367.91"),
            browser_language: Some(lang.locale),
            os: Some(if mobile { "iOS 17.4" } else { "OS X 10.15.7" }),
            location: Location {
                kind: "location",
                country: None,
                region: None,
                city: None,
                country_code: None,
                continent_code: None,
            },
            android_app_name: None,
            android_app_version: None,
            android_device: None,
            android_os_version: None,
            android_sdk_version: None,
            android_last_seen_at: None,
            ios_app_name: mobile.then_some("Sandbox"),
            ios_app_version: mobile.then_some("5.2.0"),
            ios_device: mobile.then_some("iPhone 15"),
            ios_os_version: mobile.then_some("17.4"),
            ios_sdk_version: mobile.then_some("17.1.1"),
            ios_last_seen_at: mobile.then_some(seen),
            custom_attributes: Empty {},
            tags: list("list", "tags"),
            notes: list("list", "notes"),
            companies: list("list", "companies"),
            opted_out_subscription_types: list("list", "subscriptions"),
            opted_in_subscription_types: list("list", "subscriptions"),
            utm_campaign: None,
            utm_content: None,
            utm_medium: None,
            utm_source: None,
            utm_term: None,
            referrer: ((h >> 40).is_multiple_of(4)).then(|| "https://example.com/pricing".to_owned()),
        }))
    }
}
