//! What the review-site simulators (Google Business Profile, Yelp, Trustpilot) share: a small
//! in-memory set of reviews (a business has hundreds of reviews, not millions), their texts from
//! the phrase bank in every language of [`crate::text`], owner replies, and the changes between
//! syncs.
//!
//! Review bodies are a rating-matched opening (praise or complaint) followed by two or three
//! sentences of the same language, so that a language detector can tell even Croatian from
//! Slovenian. Every text is a pure function of (seed, site, index, revision).

use rand::Rng;

use crate::rng;
use crate::text::{self, Lang};
use crate::timeline::Mutation;

/// Seconds in a day.
pub(crate) const DAY: i64 = 86_400;

/// One review as a simulator keeps it.
#[derive(Clone, Debug)]
pub(crate) struct Item {
    /// Position in the list (stable; ids derive from it).
    pub index: u64,
    /// The location, business or business unit (index into the simulator's list).
    pub group: usize,
    /// The language of its texts.
    pub lang: &'static Lang,
    /// Stars, 1–5.
    pub rating: u8,
    /// Creation time (Unix seconds).
    pub created: i64,
    /// Last edit time (Unix seconds).
    pub updated: i64,
    /// 0 for the original text, +1 per edit.
    pub revision: u32,
    /// The owner's reply.
    pub reply: Option<Reply>,
    /// When the review was taken down (it disappears from listings).
    pub removed: Option<i64>,
    /// Index into the simulator's official fixture reviews, served verbatim and never changed.
    pub fixture: Option<usize>,
}

/// An owner reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    /// 0 for the first text, +1 per edit.
    pub revision: u32,
    /// First written.
    pub created: i64,
    /// Last edited.
    pub updated: i64,
}

impl Item {
    /// Whether listings show it.
    pub fn visible(&self) -> bool {
        self.removed.is_none()
    }
}

/// The generated reviews of a site: `count` reviews over `groups` groups (round robin), created
/// evenly over the two years before `now`, about half with an owner reply.
pub(crate) fn generate(seed: u64, site: u64, count: usize, groups: usize, first: u64, now: i64) -> Vec<Item> {
    let span = 730 * DAY;
    let n = count.max(1) as i64;
    (0..count as u64)
        .map(|k| {
            let index = first + k;
            let h = rng::hash(seed, &[site, index, 0x5e1]);
            let created = now - span + (k as i64 * (span - 3_600) / n) + (h % 600) as i64;
            let mut r = rng::rng(seed, &[site, index, 0x7a7]);
            let rating = [5u8, 5, 5, 4, 4, 3, 2, 1][r.random_range(0..8)];
            let edited = r.random_bool(0.15);
            let updated =
                if edited { (created + r.random_range(1..20) * DAY).min(now - 60) } else { created };
            let reply = r.random_bool(0.5).then(|| {
                let at = (created + r.random_range(3_600..5 * DAY)).min(now - 30);
                Reply { revision: 0, created: at, updated: at }
            });
            Item {
                index,
                group: k as usize % groups.max(1),
                lang: text::pick_lang(rng::hash(seed, &[site, index, 0x1a9])),
                rating,
                created,
                updated: updated.max(created),
                revision: u32::from(edited),
                reply,
                removed: None,
                fixture: None,
            }
        })
        .collect()
}

/// A short title in the review's language (Trustpilot's `title`).
pub(crate) fn title(seed: u64, site: u64, item: &Item) -> String {
    let mut r = rng::rng(seed, &[site, item.index, u64::from(item.revision), 0x717]);
    let bank = if item.rating >= 4 { item.lang.praise } else { item.lang.complaints };
    text::choose(&mut r, bank).to_owned()
}

/// The review's text: an opening matching its rating, then sentences of the same language.
pub(crate) fn body(seed: u64, site: u64, item: &Item) -> String {
    let mut r = rng::rng(seed, &[site, item.index, u64::from(item.revision), 0xb0d]);
    let bank = if item.rating >= 4 { item.lang.praise } else { item.lang.complaints };
    let mut out = text::choose(&mut r, bank).to_owned();
    out.push(' ');
    text::paragraph(&mut r, item.lang, 140, &mut out);
    out
}

/// The owner's reply text, in the review's language.
pub(crate) fn reply_body(seed: u64, site: u64, item: &Item, reply: &Reply) -> String {
    let mut r = rng::rng(seed, &[site, item.index, u64::from(reply.revision), 0x4e9]);
    let mut out = String::new();
    text::paragraph(&mut r, item.lang, 60, &mut out);
    out
}

/// An author name (display name and ASCII handle) in the review's language.
pub(crate) fn author(seed: u64, site: u64, item: &Item) -> (&'static str, &'static str) {
    let names = item.lang.names;
    if names.is_empty() {
        return ("Anonymous", "anonymous");
    }
    names[(rng::hash(seed, &[site, item.index, 0xa07]) % names.len() as u64) as usize]
}

/// An id of `len` characters from `alphabet`, from a hash of (seed, site, index).
pub(crate) fn id(seed: u64, site: u64, index: u64, alphabet: &[u8], len: usize) -> String {
    let mut r = rng::rng(seed, &[site, index, 0x1d5]);
    (0..len).map(|_| char::from(alphabet[r.random_range(0..alphabet.len())])).collect()
}

/// Letters, digits, `-` and `_` (Yelp's and Google's opaque ids).
pub(crate) const URL_SAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/// Lower-case hexadecimal (Trustpilot's ObjectIds).
pub(crate) const HEX: &[u8] = b"0123456789abcdef";

/// How a site's reviews change between syncs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rules {
    /// Whether an edit may touch any review (the site lists by update time) or only the reviews
    /// created within `recent` seconds (the site lists by creation time only).
    pub edit_any: bool,
    /// Whether the site has owner replies.
    pub replies: bool,
    /// Whether a reply also moves the review's update time.
    pub reply_bumps_update: bool,
    /// Edits and replies of reviews that can only be found again by creation time happen within
    /// this many seconds of their creation (consumers edit, owners answer, within days).
    pub recent: i64,
}

/// Applies a mutation at times spread over `[t0, t1]`: `creations` new reviews over the
/// generated groups, `updates` split between edits and owner replies. Deletions are not applied:
/// a review that disappears cannot be told from one never seen by a fresh sync, so the
/// simulators take reviews down only through their own `remove` call.
pub(crate) fn mutate(
    items: &mut Vec<Item>,
    (seed, site, round): (u64, u64, u64),
    m: &Mutation,
    (t0, t1): (i64, i64),
    groups: std::ops::Range<usize>,
    rules: Rules,
) {
    let mut r = rng::rng(seed, &[site, round, 0x3717]);
    let total = (m.updates + m.creations).max(1) as i64;
    let mut slot = 0i64;
    let mut next_time = || {
        let t = t0 + slot * (t1 - t0).max(0) / total;
        slot += 1;
        t
    };
    let editable = |item: &Item, at: i64| {
        item.visible() && item.fixture.is_none() && (rules.edit_any || at - item.created <= rules.recent)
    };
    let mut chosen = std::collections::HashSet::new();
    for k in 0..m.updates {
        let at = next_time();
        let candidates: Vec<usize> =
            (0..items.len()).filter(|&i| editable(&items[i], at) && !chosen.contains(&i)).collect();
        if candidates.is_empty() {
            continue;
        }
        let i = candidates[r.random_range(0..candidates.len())];
        chosen.insert(i);
        let item = &mut items[i];
        if rules.replies && k % 2 == 1 && at - item.created <= rules.recent.max(DAY) {
            item.reply = Some(match item.reply {
                Some(old) => Reply { revision: old.revision + 1, created: old.created, updated: at },
                None => Reply { revision: 0, created: at, updated: at },
            });
            if rules.reply_bumps_update {
                item.updated = at;
            }
        } else {
            item.revision += 1;
            item.updated = at;
            item.rating = r.random_range(1..=5);
        }
    }
    let generated = groups.len().max(1);
    for _ in 0..m.creations {
        let at = next_time();
        let index = items.len() as u64;
        let lang = text::pick_lang(rng::hash(seed, &[site, index, 0x1a9]));
        items.push(Item {
            index,
            group: groups.start + (index as usize % generated),
            lang,
            rating: [5u8, 5, 4, 4, 3, 2, 1][r.random_range(0..7)],
            created: at,
            updated: at,
            revision: 0,
            reply: None,
            removed: None,
            fixture: None,
        });
    }
}

/// Adds or edits the owner's reply at `at`; returns whether the review exists.
pub(crate) fn reply(items: &mut [Item], index: usize, at: i64, bumps_update: bool) -> bool {
    let Some(item) = items.get_mut(index).filter(|i| i.visible() && i.fixture.is_none()) else {
        return false;
    };
    item.reply = Some(match item.reply {
        Some(old) => Reply { revision: old.revision + 1, created: old.created, updated: at },
        None => Reply { revision: 0, created: at, updated: at },
    });
    if bumps_update {
        item.updated = at;
    }
    true
}

/// Indices of listed generated reviews created within `days` before `now`.
pub(crate) fn created_within(items: &[Item], now: i64, days: i64) -> Vec<usize> {
    (0..items.len())
        .filter(|&i| {
            let it = &items[i];
            it.visible() && it.fixture.is_none() && now - it.created <= days * DAY
        })
        .collect()
}

/// Takes generated review `index` down at `at`: it disappears from every listing. `false` for
/// an unknown or fixed review.
pub(crate) fn remove(items: &mut [Item], index: usize, at: i64) -> bool {
    match items.get_mut(index).filter(|i| i.fixture.is_none()) {
        Some(item) => {
            item.removed = Some(at);
            true
        }
        None => false,
    }
}

/// A new review in language `code` at `at` (for tests that need a given language); returns its
/// index, or `None` for a language the phrase bank does not have.
pub(crate) fn add(items: &mut Vec<Item>, group: usize, code: &str, rating: u8, at: i64) -> Option<usize> {
    let lang = text::lang(code)?;
    let index = items.len();
    items.push(Item {
        index: index as u64,
        group,
        lang,
        rating: rating.clamp(1, 5),
        created: at,
        updated: at,
        revision: 0,
        reply: None,
        removed: None,
        fixture: None,
    });
    Some(index)
}

/// `t` as `YYYY-MM-DDTHH:MM:SS` plus `fraction` and `Z`.
pub(crate) fn rfc3339(t: i64, fraction: &str) -> String {
    let text = crate::time::Ts(t).to_rfc3339();
    format!("{}{fraction}Z", &text[..19])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_a_few_sentences_in_the_review_language() {
        let items = generate(7, 1, 200, 3, 0, 1_748_736_000);
        for code in ["pl", "ru", "fa", "hr", "sl", "en"] {
            let item = items.iter().find(|i| i.lang.code == code).unwrap();
            let text = body(7, 1, item);
            assert!(text.len() >= 140, "{text}");
            assert!(text.matches(['.', '!', '?']).count() >= 2, "{text}");
        }
        let a = &items[0];
        assert_eq!(body(7, 1, a), body(7, 1, a));
        let mut edited = a.clone();
        edited.revision += 1;
        assert_ne!(body(7, 1, a), body(7, 1, &edited));
    }

    #[test]
    fn mutation_edits_replies_and_creates_within_the_rules() {
        let now = 1_748_736_000;
        let mut items = generate(3, 2, 100, 2, 0, now);
        let before = items.clone();
        let rules = Rules { edit_any: false, replies: true, reply_bumps_update: false, recent: 30 * DAY };
        mutate(
            &mut items,
            (3, 2, 0),
            &Mutation { updates: 4, deletions: 9, creations: 5 },
            (now, now + 3_000),
            0..2,
            rules,
        );
        assert_eq!(items.len(), 105);
        let changed: Vec<usize> = (0..100)
            .filter(|&i| items[i].revision != before[i].revision || items[i].reply != before[i].reply)
            .collect();
        assert!(!changed.is_empty() && changed.len() <= 4, "{changed:?}");
        for &i in &changed {
            assert!(now + 3_000 - items[i].created <= 30 * DAY, "only recent reviews change");
        }
        assert!(items.iter().all(Item::visible), "deletions are not applied by a mutation");
        assert!(items[100..].iter().all(|i| i.created >= now && i.group < 2));
    }
}
