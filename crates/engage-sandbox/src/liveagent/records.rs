//! LiveAgent records generated on demand from (seed, index, version), with every timestamp
//! written zone-less in the account's time zone.

use chrono::{LocalResult, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use serde::Serialize;

use crate::rng::{self, hash, unit};
use crate::text::{self, Lang};
use crate::timeline::{Timeline, Version};

const DAY: i64 = 86_400;
const T_BASE: u64 = 51;
const T_STATE: u64 = 52;
const T_EXTRA: u64 = 53;
const K_BASE: u64 = 61;
const K_LANG: u64 = 62;
/// Multiplier of the id permutation (odd and not a multiple of 3: a bijection modulo 36^8).
const ID_STEP: u64 = 2_654_435_761;
const ID_SPACE: u64 = 2_821_109_907_456; // 36^8

const DEPARTMENTS: [&str; 3] = ["default", "d8x2k4m1", "q7b3n9p5"];
const AGENTS: [&str; 5] = ["ag4k2x9b", "ag7m1p3q", "ag2z8c6d", "ag9r5t1w", "ag3j6h8v"];
const CHANNELS: [(&str, u64); 8] =
    [("E", 45), ("B", 20), ("M", 15), ("C", 8), ("F", 5), ("T", 3), ("Q", 2), ("S", 2)];
const TAGS: [&str; 5] = ["tg_vip", "tg_refund", "tg_delivery", "tg_billing", "tg_bug"];

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

/// `t` (Unix seconds) as `YYYY-MM-DD HH:MM:SS` in `tz`, the way LiveAgent writes times.
pub fn local(t: i64, tz: Tz) -> String {
    match chrono::DateTime::from_timestamp(t, 0) {
        Some(utc) => utc.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string(),
        None => String::new(),
    }
}

/// A zone-less `YYYY-MM-DD HH:MM:SS` in `tz` as Unix seconds: in a repeated hour the earlier
/// instant, in a skipped hour the instant after the gap.
pub fn parse_local(text: &str, tz: Tz) -> Option<i64> {
    let naive = NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S").ok()?;
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Some(t.timestamp()),
        LocalResult::Ambiguous(early, _) => Some(early.timestamp()),
        // Skipped by a daylight-saving change: read with the offset before the gap (02:30 in a
        // 02:00→03:00 gap is 03:30 after it).
        LocalResult::None => {
            let before = tz.from_local_datetime(&(naive - chrono::Duration::hours(1))).earliest()?;
            Some(before.timestamp() + 3_600)
        }
    }
}

/// The facts filters and sorting read, without rendering the record.
#[derive(Clone, Debug, PartialEq)]
pub struct Facts {
    /// `date_created`.
    pub created: i64,
    /// `date_changed`.
    pub changed: i64,
    /// `status` (contacts: empty).
    pub status: String,
    /// `channel_type`.
    pub channel: String,
    /// `departmentid`.
    pub department: String,
}

/// A custom field value.
#[derive(Serialize)]
pub struct CustomField {
    code: &'static str,
    value: String,
}

/// An unknown field some tickets carry (connectors must keep it in `raw`).
#[derive(Serialize)]
pub struct Extra {
    source: &'static str,
    weights: [u8; 3],
}

/// A generated ticket, fields in the order of API v3's `Ticket` model.
#[derive(Serialize)]
pub struct Ticket {
    id: String,
    owner_contactid: String,
    owner_email: String,
    owner_name: String,
    departmentid: &'static str,
    agentid: Option<&'static str>,
    status: &'static str,
    tags: Vec<&'static str>,
    code: String,
    channel_type: &'static str,
    date_created: String,
    date_changed: String,
    date_resolved: Option<String>,
    date_due: Option<String>,
    date_deleted: Option<String>,
    last_activity: String,
    last_activity_public: String,
    public_access_urlcode: String,
    subject: &'static str,
    custom_fields: Vec<CustomField>,
    #[serde(skip_serializing_if = "Option::is_none")]
    x_sim_extra: Option<Extra>,
}

/// A generated contact (`ContactListItem`).
#[derive(Serialize)]
pub struct Contact {
    id: String,
    firstname: &'static str,
    lastname: &'static str,
    systemname: &'static str,
    description: Option<&'static str>,
    avatar_url: Option<String>,
    #[serde(rename = "type")]
    kind: &'static str,
    gender: Option<&'static str>,
    date_created: String,
    language: &'static str,
    city: Option<&'static str>,
    countrycode: Option<&'static str>,
    emails: Vec<String>,
    phones: Vec<String>,
    groups: Vec<&'static str>,
}

/// Everything record generation needs; immutable after start.
#[derive(Debug)]
pub struct Gen {
    /// Seed.
    pub seed: u64,
    /// The account's time zone.
    pub tz: Tz,
    /// Share of tickets carrying `x_sim_extra`.
    pub extra_rate: f64,
    /// Base ticket timeline (by `date_changed`).
    pub tickets: Timeline,
    /// Base contact timeline (by `date_created`).
    pub contacts: Timeline,
}

/// An 8-character alphanumeric id, distinct for every index of a stream.
fn short_id(index: u64, salt: u64) -> String {
    let mut n = (index.wrapping_mul(ID_STEP).wrapping_add(salt)) % ID_SPACE;
    let mut out = [b'0'; 8];
    for slot in out.iter_mut().rev() {
        let d = (n % 36) as u8;
        *slot = if d < 10 { b'0' + d } else { b'a' + d - 10 };
        n /= 36;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Ticket state at a revision: status code and resolution time.
struct State {
    status: &'static str,
    resolved: bool,
}

impl Gen {
    /// Tickets span the two years before `now`, contacts the three years before it.
    pub fn new(seed: u64, tz: Tz, extra_rate: f64, (tickets, contacts): (u64, u64), now: i64) -> Self {
        Gen {
            seed,
            tz,
            extra_rate,
            tickets: Timeline::new(Vec::new(), tickets, now - 730 * DAY, now - DAY),
            contacts: Timeline::new(Vec::new(), contacts.max(1), now - 1_095 * DAY, now - 2 * DAY),
        }
    }

    /// The id of the ticket at `index`.
    pub fn ticket_id(&self, index: u64) -> String {
        short_id(index, 0x51_7C3D)
    }

    /// The id of the contact at `index`.
    pub fn contact_id(&self, index: u64) -> String {
        short_id(index, 0x2B_9A11)
    }

    fn lang(&self, contact: u64) -> &'static Lang {
        text::pick_lang(hash(self.seed, &[K_LANG, contact]))
    }

    fn person(&self, contact: u64) -> (&'static str, &'static str, String) {
        let lang = self.lang(contact);
        let h = hash(self.seed, &[K_BASE, contact]);
        let (name, handle) = lang.names[((h >> 3) % lang.names.len() as u64) as usize];
        let (first, last) = name.split_once(' ').unwrap_or((name, ""));
        (first, last, format!("{handle}.{}@example.{}", contact % 1_000_000_007, lang.tld))
    }

    fn ticket_contact(&self, h: u64, born: i64) -> u64 {
        let n = self.contacts.generated_len().max(1);
        let newest = self.contacts.generated_at_or_before(born).unwrap_or(0).min(n - 1);
        (h >> 32) % (newest + 1)
    }

    fn created(&self, index: u64, born: i64) -> i64 {
        let later = index >= self.tickets.generated_len();
        born - if later { 0 } else { (hash(self.seed, &[T_BASE, index, 1]) % (20 * DAY as u64)) as i64 }
    }

    fn state(&self, index: u64, h: u64, revision: u32) -> State {
        let mut status =
            weighted(&[("N", 10), ("C", 20), ("A", 15), ("W", 5), ("R", 25), ("L", 20), ("B", 5)], h >> 8);
        for step in 1..=u64::from(revision) {
            let s = hash(self.seed, &[T_STATE, index, step]) % 10;
            status = match status {
                "N" | "W" => "C",
                "C" if s < 6 => "A",
                "C" => "R",
                "A" if s < 4 => "C",
                "A" => "R",
                "R" if s < 3 => "C",
                "R" => "L",
                other => other,
            };
        }
        State { status, resolved: matches!(status, "R" | "L") }
    }

    /// The facts of the ticket at `index` and version `v`.
    pub fn ticket_facts(&self, index: u64, v: &Version) -> Facts {
        let h = hash(self.seed, &[T_BASE, index]);
        let st = self.state(index, h, v.revision);
        Facts {
            created: self.created(index, v.born),
            changed: v.time,
            status: if v.deleted { "X".to_owned() } else { st.status.to_owned() },
            channel: weighted(&CHANNELS, h >> 4).to_owned(),
            department: DEPARTMENTS[((h >> 12) % 3) as usize].to_owned(),
        }
    }

    /// The ticket at `index` and version `v`; `malformed` breaks a timestamp.
    pub fn ticket(&self, index: u64, v: &Version, malformed: Option<u8>) -> Ticket {
        let h = hash(self.seed, &[T_BASE, index]);
        let st = self.state(index, h, v.revision);
        let tz = self.tz;
        let created = self.created(index, v.born);
        let changed = v.time;
        let contact = self.ticket_contact(h, v.born);
        let (first, last, email) = self.person(contact);
        let lang = self.lang(contact);
        let mut r = rng::rng(self.seed, &[T_BASE, index, 2]);
        let subject = text::choose(&mut r, lang.subjects);
        let status = if v.deleted { "X" } else { st.status };
        let resolved = st.resolved.then(|| changed - (h >> 20) as i64 % 3_600).map(|t| t.max(created));
        let mut tags = Vec::new();
        if (h >> 40).is_multiple_of(3) {
            tags.push(TAGS[((h >> 42) % TAGS.len() as u64) as usize]);
        }
        let code = format!(
            "{}-{}-{:03}",
            &short_id(index, 7)[..3].to_ascii_uppercase(),
            &short_id(index, 11)[..5].to_ascii_uppercase(),
            (h >> 50) % 1_000
        );
        let extra = (unit(hash(self.seed, &[T_EXTRA, index])) < self.extra_rate).then_some(Extra {
            source: "engage-sandbox",
            weights: [(h % 7) as u8, (h % 11) as u8, (h % 13) as u8],
        });
        Ticket {
            id: self.ticket_id(index),
            owner_contactid: self.contact_id(contact),
            owner_email: email,
            owner_name: format!("{first} {last}").trim().to_owned(),
            departmentid: DEPARTMENTS[((h >> 12) % 3) as usize],
            agentid: (status != "N").then(|| AGENTS[((h >> 16) % AGENTS.len() as u64) as usize]),
            status,
            tags,
            code,
            channel_type: weighted(&CHANNELS, h >> 4),
            date_created: if malformed == Some(0) { "not a date".to_owned() } else { local(created, tz) },
            date_changed: if malformed == Some(1) {
                "2025-02-30 25:61:00".to_owned()
            } else {
                local(changed, tz)
            },
            date_resolved: resolved.map(|t| local(t, tz)),
            date_due: (h >> 30).is_multiple_of(6).then(|| local(created + 2 * DAY, tz)),
            date_deleted: v.deleted.then(|| local(changed, tz)),
            last_activity: local(changed, tz),
            last_activity_public: local(resolved.unwrap_or(changed).min(changed), tz),
            public_access_urlcode: short_id(index, 0x3C),
            subject,
            custom_fields: if (h >> 34).is_multiple_of(2) {
                vec![CustomField { code: "order", value: format!("ORD-{:06}", (h >> 18) % 1_000_000) }]
            } else {
                Vec::new()
            },
            x_sim_extra: extra,
        }
    }

    /// The facts of the contact at `index` and version `v`.
    pub fn contact_facts(&self, _index: u64, v: &Version) -> Facts {
        Facts {
            created: v.time,
            changed: v.time,
            status: String::new(),
            channel: String::new(),
            department: String::new(),
        }
    }

    /// The contact at `index` and version `v`; `malformed` breaks its timestamp.
    pub fn contact(&self, index: u64, v: &Version, malformed: Option<u8>) -> Contact {
        let (first, last, email) = self.person(index);
        let lang = self.lang(index);
        let h = hash(self.seed, &[K_BASE, index, 3]);
        let registered = (h >> 4).is_multiple_of(3);
        Contact {
            id: self.contact_id(index),
            firstname: first,
            lastname: last,
            systemname: first,
            description: None,
            avatar_url: (h >> 8)
                .is_multiple_of(4)
                .then(|| format!("https://static.example.com/a/{index}.png")),
            kind: if registered { "R" } else { "V" },
            gender: None,
            date_created: match malformed {
                Some(0) => "not a date".to_owned(),
                Some(_) => "yesterday".to_owned(),
                None => local(v.time, self.tz),
            },
            language: lang.code,
            city: None,
            countrycode: None,
            emails: vec![email],
            phones: if (h >> 12).is_multiple_of(2) {
                vec![format!("{} {:04}", lang.phone_prefix, (h >> 16) % 10_000)]
            } else {
                Vec::new()
            },
            groups: Vec::new(),
        }
    }
}
