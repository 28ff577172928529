//! Help Scout records generated on demand from (seed, index, version): conversations with their
//! threads, customers, and happiness ratings (the official example first).

use serde::Serialize;
use serde_json::Value;

use crate::rng::{self, hash};
use crate::text::{self, Lang};
use crate::time::Ts;
use crate::timeline::{Timeline, Version};

/// First generated conversation id.
pub const CONVERSATION_BASE: u64 = 2_100_000_000;
/// First generated conversation number (the human-facing one).
pub const NUMBER_BASE: u64 = 300_000;
/// First generated customer id.
pub const CUSTOMER_BASE: u64 = 400_000_000;
/// Thread ids: `THREAD_BASE + conversation index * 32 + n`.
pub const THREAD_BASE: u64 = 5_000_000_000;
/// User (agent) ids: `USER_BASE + 0..USERS`.
pub const USER_BASE: u64 = 70_000;
/// Number of users.
pub const USERS: u64 = 6;
/// Mailbox ids: `MAILBOX_BASE + 0..2`.
pub const MAILBOX_BASE: u64 = 12_000;
/// The public API host written into records' `_links`.
pub const HOST: &str = "https://api.helpscout.net";

const DAY: i64 = 86_400;
const C_BASE: u64 = 61;
const C_STATUS: u64 = 62;
const C_TEXT: u64 = 63;
const C_REMOVED: u64 = 64;
const P_BASE: u64 = 71;
const P_LANG: u64 = 72;
const R_BASE: u64 = 81;

const TYPES: [(&str, u64); 3] = [("email", 70), ("chat", 20), ("phone", 10)];
const STATUSES: [(&str, u64); 3] = [("active", 25), ("pending", 15), ("closed", 60)];
const TAGS: [&str; 5] = ["billing", "bug", "refund", "vip", "feedback"];
const USER_NAMES: [(&str, &str); 6] = [
    ("Amanda", "Herrington"),
    ("Marek", "Nowak"),
    ("Ines", "García"),
    ("Luka", "Horvat"),
    ("Olga", "Ivanova"),
    ("Tom", "Baker"),
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

/// A served record: an official example, or a generated object.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Doc<'a, T> {
    /// Served verbatim.
    Fixed(&'a Value),
    /// Generated.
    Gen(T),
}

/// A HAL link.
#[derive(Serialize)]
pub struct Href {
    href: String,
}

/// A person reference (`assignee`, `createdBy`, `primaryCustomer`...).
#[derive(Serialize)]
pub struct Person {
    id: u64,
    #[serde(rename = "type")]
    kind: &'static str,
    first: &'static str,
    last: &'static str,
    email: String,
}

/// `source` of a conversation or thread.
#[derive(Serialize)]
pub struct Source {
    #[serde(rename = "type")]
    kind: &'static str,
    via: &'static str,
}

/// A tag.
#[derive(Serialize)]
pub struct Tag {
    id: u64,
    color: &'static str,
    tag: &'static str,
}

/// `customerWaitingSince`.
#[derive(Serialize)]
pub struct Waiting {
    time: Ts,
    friendly: &'static str,
}

/// A thread of a conversation (`embed=threads`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Thread {
    id: u64,
    #[serde(rename = "type")]
    kind: &'static str,
    status: &'static str,
    state: &'static str,
    body: String,
    source: Source,
    customer: Person,
    created_by: Person,
    to: Vec<String>,
    cc: Vec<String>,
    bcc: Vec<String>,
    created_at: Ts,
}

/// `_embedded` of a conversation.
#[derive(Serialize)]
pub struct Threads {
    threads: Vec<Thread>,
}

/// `_links` of a conversation.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationLinks {
    #[serde(rename = "self")]
    this: Href,
    mailbox: Href,
    primary_customer: Href,
    threads: Href,
}

/// A generated conversation (the field list of Get Conversation).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    id: Id,
    number: u64,
    threads: u64,
    #[serde(rename = "type")]
    kind: &'static str,
    folder_id: u64,
    status: &'static str,
    state: &'static str,
    subject: &'static str,
    preview: String,
    mailbox_id: u64,
    assignee: Option<Person>,
    created_by: Person,
    created_at: Stamp,
    closed_by: u64,
    closed_at: Option<Ts>,
    user_updated_at: Ts,
    customer_waiting_since: Waiting,
    source: Source,
    tags: Vec<Tag>,
    cc: Vec<String>,
    bcc: Vec<String>,
    primary_customer: Person,
    custom_fields: Vec<Value>,
    #[serde(rename = "_embedded", skip_serializing_if = "Option::is_none")]
    embedded: Option<Threads>,
    #[serde(rename = "_links")]
    links: ConversationLinks,
}

/// An email or phone entry of a customer.
#[derive(Serialize)]
pub struct Entry {
    id: u64,
    value: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// `_embedded` of a customer.
#[derive(Serialize)]
pub struct CustomerEmbedded {
    emails: Vec<Entry>,
    phones: Vec<Entry>,
}

/// A generated customer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    id: Id,
    first_name: &'static str,
    last_name: &'static str,
    gender: &'static str,
    job_title: Option<&'static str>,
    location: Option<&'static str>,
    organization: Option<&'static str>,
    photo_type: &'static str,
    photo_url: String,
    created_at: Stamp,
    updated_at: Ts,
    background: Option<&'static str>,
    age: Option<&'static str>,
    #[serde(rename = "_embedded")]
    embedded: CustomerEmbedded,
    #[serde(rename = "_links")]
    links: CustomerLinks,
}

/// `_links` of a customer.
#[derive(Serialize)]
pub struct CustomerLinks {
    #[serde(rename = "self")]
    this: Href,
}

/// A row of the happiness ratings report.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rating {
    number: u64,
    threadid: Id,
    thread_created_at: Ts,
    id: u64,
    #[serde(rename = "type")]
    kind: &'static str,
    rating_id: u8,
    rating_customer_id: u64,
    rating_comments: String,
    rating_created_at: Stamp,
    rating_customer_name: String,
    rating_user_id: u64,
    rating_user_name: String,
}

/// One stream's fixed head, id base and base timeline.
#[derive(Clone, Debug)]
pub struct Shape {
    /// Official examples at the head, verbatim.
    pub fixed: Vec<Value>,
    /// Ids of the fixed records.
    pub fixed_ids: Vec<u64>,
    /// First generated id.
    pub base: u64,
    /// The base timeline.
    pub timeline: Timeline,
}

impl Shape {
    /// The id of a record index.
    pub fn id(&self, index: u64) -> u64 {
        let f = self.fixed.len() as u64;
        if index < f { self.fixed_ids[index as usize] } else { self.base + (index - f) }
    }

    /// Number of fixed records.
    pub fn first(&self) -> u64 {
        self.fixed.len() as u64
    }
}

/// Everything record generation needs; immutable after start.
#[derive(Debug)]
pub struct Gen {
    /// Seed.
    pub seed: u64,
    /// Conversations (version time: the hidden `modifiedAt` that `modifiedSince` filters on).
    pub conversations: Shape,
    /// Customers (version time: `updatedAt`).
    pub customers: Shape,
    /// Happiness ratings (version time: `ratingCreatedAt`).
    pub ratings: Shape,
}

/// What the ratings of a conversation need to know about it.
pub struct Rated {
    /// Conversation id.
    pub id: u64,
    /// Number.
    pub number: u64,
    /// Type.
    pub kind: &'static str,
    /// The rated reply's thread id and time.
    pub thread: (u64, i64),
    /// Customer id and name.
    pub customer: (u64, String),
    /// The agent and their name.
    pub user: (u64, String),
    /// Customer language.
    pub lang: &'static Lang,
}

impl Gen {
    /// Conversations span the two years before `now`, customers three years.
    pub fn new(
        seed: u64,
        (conversations, customers, ratings): (u64, u64, u64),
        now: i64,
        example_rating: Value,
    ) -> Self {
        let rating_id = example_rating.get("threadid").and_then(Value::as_u64).unwrap_or(0);
        let rating_time = example_rating
            .get("ratingCreatedAt")
            .and_then(Value::as_str)
            .and_then(crate::time::parse_rfc3339)
            .unwrap_or(0);
        let shape = |fixed: Vec<(i64, u64, Value)>, base, n, from, to| Shape {
            fixed_ids: fixed.iter().map(|(_, id, _)| *id).collect(),
            timeline: Timeline::new(fixed.iter().map(|(t, _, _)| *t).collect(), n, from, to),
            fixed: fixed.into_iter().map(|(_, _, v)| v).collect(),
            base,
        };
        Gen {
            seed,
            conversations: shape(Vec::new(), CONVERSATION_BASE, conversations, now - 730 * DAY, now - DAY),
            customers: shape(Vec::new(), CUSTOMER_BASE, customers.max(1), now - 1_095 * DAY, now - 2 * DAY),
            ratings: shape(
                vec![(rating_time, rating_id, example_rating)],
                THREAD_BASE / 2,
                ratings,
                now - 728 * DAY,
                now - DAY / 2,
            ),
        }
    }

    fn customer_lang(&self, c: u64) -> &'static Lang {
        text::pick_lang(hash(self.seed, &[P_LANG, c]))
    }

    /// (first, last, email) of customer `c`.
    fn person(&self, c: u64, lang: &'static Lang) -> (&'static str, &'static str, String) {
        let h = hash(self.seed, &[P_BASE, c]);
        let (name, handle) = lang.names[((h >> 3) % lang.names.len() as u64) as usize];
        let (first, last) = name.split_once(' ').unwrap_or((name, ""));
        (first, last, format!("{handle}.{}@example.{}", c % 1_000_000_007, lang.tld))
    }

    fn customer_ref(&self, c: u64) -> Person {
        let (first, last, email) = self.person(c, self.customer_lang(c));
        Person { id: CUSTOMER_BASE + c, kind: "customer", first, last, email }
    }

    fn user_ref(&self, u: u64) -> Person {
        let (first, last) = USER_NAMES[(u % USERS) as usize];
        Person {
            id: USER_BASE + u % USERS,
            kind: "user",
            first,
            last,
            email: format!("{}@sandbox.example", first.to_lowercase()),
        }
    }

    /// (created, customer, language, hash) of generated conversation `k` born at `born`.
    fn base(&self, k: u64, born: i64) -> (i64, u64, &'static Lang, u64) {
        let h = hash(self.seed, &[C_BASE, k]);
        let later = k >= self.conversations.timeline.generated_len();
        let created = born - if later { 0 } else { (h % (15 * DAY as u64)) as i64 };
        let customers = &self.customers.timeline;
        let n = customers.generated_len().max(1);
        let newest = customers.generated_at_or_before(created).unwrap_or(0).min(n - 1);
        let c = (h >> 32) % (newest + 1);
        (created, c, self.customer_lang(c), h)
    }

    /// Status history of conversation `k` at `revision`: the statuses its threads set, in order.
    fn statuses(&self, k: u64, h: u64, revision: u32) -> Vec<&'static str> {
        let mut history = vec![weighted(&STATUSES, h >> 8)];
        for step in 1..=u64::from(revision) {
            let s = hash(self.seed, &[C_STATUS, k, step]) % 10;
            let last = *history.last().unwrap_or(&"active");
            history.push(match last {
                "closed" if s < 4 => "active",
                "closed" => "closed",
                "pending" if s < 5 => "closed",
                _ if s < 3 => "pending",
                _ => "closed",
            });
        }
        history
    }

    /// How a removed conversation version is removed: `spam` status or `deleted` state.
    pub fn spam(&self, index: u64, v: &Version) -> bool {
        v.deleted && hash(self.seed, &[C_REMOVED, index, u64::from(v.revision)]).is_multiple_of(3)
    }

    /// The status of conversation `index` at version `v`.
    pub fn status(&self, index: u64, v: &Version) -> &'static str {
        if self.spam(index, v) {
            return "spam";
        }
        let (_, _, _, h) = self.base(index, v.born);
        self.statuses(index, h, v.revision).last().copied().unwrap_or("active")
    }

    /// The conversation at `index` and version `v`, with its threads when `threads`.
    pub fn conversation(
        &self,
        index: u64,
        v: &Version,
        malformed: Option<u8>,
        threads: bool,
    ) -> Conversation {
        let k = index;
        let id = CONVERSATION_BASE + k;
        let (created, c, lang, h) = self.base(k, v.born);
        let history = self.statuses(k, h, v.revision);
        let mut status = *history.last().unwrap_or(&"active");
        let spam = self.spam(index, v);
        if spam {
            status = "spam";
        }
        let deleted = v.deleted && !spam;
        let kind = weighted(&TYPES, h >> 4);
        let agent = (h >> 20) % USERS;
        let mut r = rng::rng(self.seed, &[C_TEXT, k]);
        let subject = text::choose(&mut r, lang.subjects);
        // The hidden modifiedAt is the version time; userUpdatedAt lags it on some versions
        // (workflow and system changes do not count as a user's update).
        let updated =
            if (h >> 50).is_multiple_of(4) && v.time - created > 600 { v.time - 300 } else { v.time };
        // Threads: the customer's message, then per status change a reply (or a note) setting it.
        let span = (updated - created).max(history.len() as i64);
        let step = span / (history.len() as i64 + 1);
        let customer = self.customer_ref(c);
        let user = self.user_ref(agent);
        let mut list = Vec::with_capacity(history.len() + 1);
        let mut preview = String::new();
        text::paragraph(&mut r, lang, 60, &mut preview);
        list.push((created, "customer", "active", preview.clone()));
        for (i, s) in history.iter().enumerate() {
            let at = created + step * (i as i64 + 1);
            let note = hash(self.seed, &[C_TEXT, k, i as u64]).is_multiple_of(5);
            let mut body = String::new();
            text::paragraph(&mut r, lang, 60, &mut body);
            list.push((at, if note { "note" } else { "reply" }, s, body));
            if *s == "active" && i > 0 {
                // The customer wrote again: the reopen.
                list.push((at - 1, "customer", "active", preview.clone()));
            }
        }
        list.sort_by_key(|(at, ..)| *at);
        let closed_at = (status == "closed").then(|| list.last().map_or(updated, |t| t.0));
        let threads_list: Vec<Thread> = list
            .into_iter()
            .enumerate()
            .map(|(n, (at, kind_t, s, body))| {
                let by_customer = kind_t == "customer";
                Thread {
                    id: THREAD_BASE + k * 32 + n as u64,
                    kind: kind_t,
                    status: s,
                    state: "published",
                    body,
                    source: Source {
                        kind: if by_customer { "email" } else { "web" },
                        via: if by_customer { "customer" } else { "user" },
                    },
                    customer: self.customer_ref(c),
                    created_by: if by_customer { self.customer_ref(c) } else { self.user_ref(agent) },
                    to: Vec::new(),
                    cc: Vec::new(),
                    bcc: Vec::new(),
                    created_at: Ts(at),
                }
            })
            .collect();
        let count = threads_list.len() as u64;
        let mut tags = Vec::new();
        if (h >> 40).is_multiple_of(3) {
            let t = ((h >> 42) % TAGS.len() as u64) as usize;
            tags.push(Tag { id: 900 + t as u64, color: "#A5B2BD", tag: TAGS[t] });
        }
        let mailbox = MAILBOX_BASE + (h >> 12) % 2;
        Conversation {
            id: if malformed == Some(1) { Id::Text(format!("HS-{id}")) } else { Id::Num(id) },
            number: NUMBER_BASE + k,
            threads: count,
            kind,
            folder_id: 8_000 + (h >> 16) % 4,
            status,
            state: if deleted { "deleted" } else { "published" },
            subject,
            preview: preview.chars().take(80).collect(),
            mailbox_id: mailbox,
            assignee: (status != "active" || (h >> 24).is_multiple_of(2)).then_some(user),
            created_by: self.customer_ref(c),
            created_at: if malformed == Some(0) { Stamp::Text("not a date") } else { Stamp::At(Ts(created)) },
            closed_by: if closed_at.is_some() { USER_BASE + agent } else { 0 },
            closed_at: closed_at.map(Ts),
            user_updated_at: Ts(updated),
            customer_waiting_since: Waiting { time: Ts(created), friendly: "Mar 3" },
            source: Source { kind: if kind == "email" { "email" } else { "web" }, via: "customer" },
            tags,
            cc: Vec::new(),
            bcc: Vec::new(),
            primary_customer: customer,
            custom_fields: Vec::new(),
            embedded: threads.then_some(Threads { threads: threads_list }),
            links: ConversationLinks {
                this: Href { href: format!("{HOST}/v2/conversations/{id}") },
                mailbox: Href { href: format!("{HOST}/v2/mailboxes/{mailbox}") },
                primary_customer: Href { href: format!("{HOST}/v2/customers/{}", CUSTOMER_BASE + c) },
                threads: Href { href: format!("{HOST}/v2/conversations/{id}/threads") },
            },
        }
    }

    /// The mailbox of conversation `index` (for the `mailbox` filter).
    pub fn mailbox(&self, index: u64) -> u64 {
        MAILBOX_BASE + (hash(self.seed, &[C_BASE, index]) >> 12) % 2
    }

    /// The creation time of conversation `index` born at `born` (the default sort).
    pub fn created(&self, index: u64, born: i64) -> i64 {
        self.base(index, born).0
    }

    /// The customer at `index` and version `v`.
    pub fn customer(&self, index: u64, v: &Version, malformed: Option<u8>) -> Customer {
        let lang = self.customer_lang(index);
        let (first, last, email) = self.person(index, lang);
        let h = hash(self.seed, &[P_BASE, index]);
        let hv = hash(self.seed, &[P_BASE, index, u64::from(v.revision)]);
        let id = CUSTOMER_BASE + index;
        let age = ((h >> 20) % (60 * DAY as u64)) as i64;
        let phones = if (hv >> 8) % 10 < 4 {
            vec![Entry {
                id: id * 4 + 1,
                value: format!("{} {:04}", lang.phone_prefix, (hv >> 16) % 10_000),
                kind: "work",
            }]
        } else {
            Vec::new()
        };
        Customer {
            id: if malformed == Some(1) { Id::Text(format!("HS-{id}")) } else { Id::Num(id) },
            first_name: first,
            last_name: last,
            gender: "unknown",
            job_title: ((h >> 10) % 10 < 2).then_some("Office manager"),
            location: None,
            organization: ((h >> 12) % 10 < 3).then_some("Acme Ltd"),
            photo_type: "default",
            photo_url: "https://d33v4339jhl8k0.cloudfront.net/customer-avatar/01.png".to_owned(),
            created_at: if malformed == Some(0) {
                Stamp::Text("not a date")
            } else {
                Stamp::At(Ts(v.born - age))
            },
            updated_at: Ts(v.time),
            background: None,
            age: None,
            embedded: CustomerEmbedded {
                emails: vec![Entry { id: id * 4, value: email, kind: "work" }],
                phones,
            },
            links: CustomerLinks { this: Href { href: format!("{HOST}/v2/customers/{id}") } },
        }
    }

    /// The rated conversation of generated rating `j` (every third conversation is rated).
    pub fn rated(&self, j: u64) -> Rated {
        let n = self.conversations.timeline.generated_len().max(1);
        let k = (3 * j + hash(self.seed, &[R_BASE, j]) % 3) % n;
        let born = self.conversations.timeline.base_time(k);
        let (created, c, lang, h) = self.base(k, born);
        let agent = (h >> 20) % USERS;
        let (first, last, _) = self.person(c, lang);
        let user = self.user_ref(agent);
        Rated {
            id: CONVERSATION_BASE + k,
            number: NUMBER_BASE + k,
            kind: weighted(&TYPES, h >> 4),
            thread: (THREAD_BASE + k * 32 + 1, created + 600),
            customer: (CUSTOMER_BASE + c, format!("{first} {last}")),
            user: (user.id, format!("{} {}", user.first, user.last)),
            lang,
        }
    }

    /// The rating at `index` and version `v` (`ratingCreatedAt` = the version time).
    pub fn rating(&self, index: u64, v: &Version, malformed: Option<u8>) -> Doc<'_, Rating> {
        let first = self.ratings.first();
        if index < first {
            return Doc::Fixed(&self.ratings.fixed[index as usize]);
        }
        let j = index - first;
        let rated = self.rated(j);
        let h = hash(self.seed, &[R_BASE, j, 1]);
        let rating_id = match h % 10 {
            0..=6 => 1,
            7 | 8 => 2,
            _ => 3,
        };
        let mut r = rng::rng(h, &[]);
        let comments = match rating_id {
            1 if !h.is_multiple_of(3) => text::choose(&mut r, rated.lang.praise).to_owned(),
            3 => text::choose(&mut r, rated.lang.complaints).to_owned(),
            _ => String::new(),
        };
        let thread = THREAD_BASE / 2 + j;
        Doc::Gen(Rating {
            number: rated.number,
            threadid: if malformed == Some(1) { Id::Text(format!("HS-{thread}")) } else { Id::Num(thread) },
            thread_created_at: Ts(rated.thread.1.min(v.time)),
            id: rated.id,
            kind: rated.kind,
            rating_id,
            rating_customer_id: rated.customer.0,
            rating_comments: comments,
            rating_created_at: if malformed == Some(0) {
                Stamp::Text("not a date")
            } else {
                Stamp::At(Ts(v.time))
            },
            rating_customer_name: rated.customer.1,
            rating_user_id: rated.user.0,
            rating_user_name: rated.user.1,
        })
    }
}
