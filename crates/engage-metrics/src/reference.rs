//! The reference implementation of every metric: plain Rust over rows. The definitions,
//! edge cases and variants are documented on each function and in `docs/metrics.md`; the
//! SQL paths (`sql.rs`) are held equal to these by tests.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use chrono_tz::Tz;
use engage_model::{Channel, EmailCampaign, Interaction, Order, SurveyKind, SurveyResponse, Ticket};
use serde::Serialize;

use crate::data::{Row, Rows};
use crate::window::{Period, start_of_day};

/// A metric's result for one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// The value: a ratio in [0, 1], an NPS on −100…+100, minutes, stars, money...; `None` when
    /// its denominator is empty.
    pub value: Option<f64>,
    /// Records (or customers) the value was computed from.
    pub n: u64,
    /// Named supporting figures (numerator, denominator, percentiles, standard error...).
    pub details: Vec<(String, Option<f64>)>,
}

impl Outcome {
    fn new(value: Option<f64>, n: u64) -> Outcome {
        Outcome { value, n, details: Vec::new() }
    }

    fn with(mut self, name: &str, value: Option<f64>) -> Outcome {
        self.details.push((name.to_owned(), value));
        self
    }

    /// Adds a supporting figure.
    pub fn with_detail(self, name: &str, value: Option<f64>) -> Outcome {
        self.with(name, value)
    }

    /// A supporting figure by name.
    pub fn detail(&self, name: &str) -> Option<f64> {
        self.details.iter().find(|(n, _)| n == name).and_then(|(_, v)| *v)
    }
}

/// CSAT: what happens to the neutral point of an odd-point scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NeutralPolicy {
    /// Neutral answers count as not satisfied (Zendesk; Simplesat): positives / all rated.
    CountAsNegative,
    /// Neutral answers leave the denominator: positives / (positives + negatives).
    ExcludeFromDenominator,
}

/// One-touch resolution variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OneTouch {
    /// Exactly one public agent reply and no reopen.
    Strict,
    /// Zendesk's legacy formula: fewer than two agent replies, reopens not considered.
    ZendeskLegacy,
}

/// Variants and thresholds of the metrics that have competing definitions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Params {
    /// CSAT neutral policy.
    pub csat_neutral: NeutralPolicy,
    /// Email open rate and click-to-open use human opens (machine opens excluded).
    pub human_opens: bool,
    /// One-touch variant.
    pub one_touch: OneTouch,
    /// A review is positive at this many stars or more (1–5).
    pub positive_stars: f64,
    /// CES: the scale (points) aggregated; answers on other scales are left out.
    pub ces_points: u32,
    /// Words in a referral answer that mean "referred by someone".
    pub referral_words: Vec<String>,
    /// Social interaction kinds that count as engagements.
    pub engagement_kinds: Vec<String>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            csat_neutral: NeutralPolicy::CountAsNegative,
            human_opens: true,
            one_touch: OneTouch::Strict,
            positive_stars: 4.0,
            ces_points: 7,
            referral_words: ["friend", "referr", "recommend", "word of mouth", "colleague"]
                .map(String::from)
                .to_vec(),
            engagement_kinds: ["like", "comment", "share", "save", "click", "reaction"]
                .map(String::from)
                .to_vec(),
        }
    }
}

/// What a metric is computed over.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// The period `[from, to)`.
    pub period: Period,
    /// The time zone for calendar notions (days of DAU, cohort months).
    pub tz: Tz,
    /// Variants.
    pub params: &'a Params,
}

/// `num / den`, or `None` when `den` is 0.
pub fn ratio(num: f64, den: f64) -> Option<f64> {
    (den != 0.0).then(|| num / den)
}

/// The arithmetic mean, `None` for no values.
pub fn mean(values: &[f64]) -> Option<f64> {
    ratio(values.iter().sum(), values.len() as f64)
}

/// The q-quantile (0 ≤ q ≤ 1) by linear interpolation between order statistics (Hyndman & Fan
/// type 7, the default of R and NumPy); `None` for no values.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let h = (v.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    Some(v[lo] + (h - lo as f64) * (v[hi] - v[lo]))
}

fn minutes_between(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_milliseconds() as f64 / 60_000.0
}

/// Durations: median as the value; mean, p90 and count as details. Non-finite values (a
/// source's NaN or infinity) are left out.
fn durations(mut values: Vec<f64>) -> Outcome {
    values.retain(|v| v.is_finite());
    Outcome::new(quantile(&values, 0.5), values.len() as u64)
        .with("mean", mean(&values))
        .with("p90", quantile(&values, 0.9))
}

// ---------------------------------------------------------------- surveys

fn answered(rows: &Rows, kind: SurveyKind, p: Period) -> impl Iterator<Item = &SurveyResponse> {
    rows.surveys.iter().map(|r| &r.entity).filter(move |s| s.kind == kind && p.holds(s.answered_at))
}

/// NPS counts: (promoters, passives, detractors) of valid answers (whole numbers 0–10).
pub fn nps_counts<'a>(answers: impl Iterator<Item = &'a SurveyResponse>) -> (u64, u64, u64) {
    let (mut p, mut n, mut d) = (0, 0, 0);
    for s in answers {
        match s.score {
            Some(v) if (0.0..=10.0).contains(&v) && v.fract() == 0.0 => match v {
                v if v >= 9.0 => p += 1,
                v if v >= 7.0 => n += 1,
                _ => d += 1,
            },
            _ => {}
        }
    }
    (p, n, d)
}

/// NPS from its counts: 100 × (P − D)/n, with its standard error in NPS points,
/// 100 × √(((pP + pD) − (pP − pD)²)/n).
pub fn nps_from_counts(promoters: u64, passives: u64, detractors: u64) -> Outcome {
    let n = (promoters + passives + detractors) as f64;
    let p_p = ratio(promoters as f64, n);
    let p_d = ratio(detractors as f64, n);
    let value = p_p.zip(p_d).map(|(p, d)| 100.0 * (p - d));
    let se = p_p.zip(p_d).map(|(p, d)| 100.0 * (((p + d) - (p - d).powi(2)) / n).sqrt());
    Outcome::new(value, n as u64)
        .with("promoters", Some(promoters as f64))
        .with("passives", Some(passives as f64))
        .with("detractors", Some(detractors as f64))
        .with("standard_error", se)
}

/// Net Promoter Score of the NPS answers given in the period, per response. Answers outside
/// 0–10, not whole, or missing are left out of both counts.
pub fn nps(rows: &Rows, c: Ctx) -> Outcome {
    let (p, n, d) = nps_counts(answered(rows, SurveyKind::Nps, c.period));
    nps_from_counts(p, n, d)
}

/// The scale of an answer, 1–5 when the source gave none.
fn scale(s: &SurveyResponse) -> (f64, f64) {
    (s.scale_min.unwrap_or(1.0), s.scale_max.unwrap_or(5.0))
}

/// How one CSAT answer counts: `Some(1)` positive, `Some(0)` neutral, `Some(-1)` negative;
/// `None` when it is missing or off its scale. On a scale of k points positive is the top
/// box for k ≤ 3 and the top two boxes otherwise (1–5: 4 and 5); the midpoint of an odd scale
/// of 3 or more points is neutral.
pub fn csat_class(s: &SurveyResponse) -> Option<i8> {
    let v = s.score?;
    let (lo, hi) = scale(s);
    if !(lo..=hi).contains(&v) || hi <= lo {
        return None;
    }
    let points = (hi - lo + 1.0).round();
    let positive_from = if points <= 3.0 { hi } else { hi - 1.0 };
    let midpoint = (lo + hi) / 2.0;
    Some(if v >= positive_from {
        1
    } else if points >= 3.0 && points % 2.0 == 1.0 && v == midpoint {
        0
    } else {
        -1
    })
}

/// CSAT of the satisfaction answers given in the period: positives / rated, with the neutral
/// policy of [`Params::csat_neutral`]. The mean raw score is a detail (Intercom's variant).
pub fn csat(rows: &Rows, c: Ctx) -> Outcome {
    let answers: Vec<&SurveyResponse> = answered(rows, SurveyKind::Csat, c.period).collect();
    let classes: Vec<i8> = answers.iter().filter_map(|s| csat_class(s)).collect();
    let positive = classes.iter().filter(|&&k| k == 1).count() as f64;
    let neutral = classes.iter().filter(|&&k| k == 0).count() as f64;
    let den = match c.params.csat_neutral {
        NeutralPolicy::CountAsNegative => classes.len() as f64,
        NeutralPolicy::ExcludeFromDenominator => classes.len() as f64 - neutral,
    };
    let scores: Vec<f64> =
        answers.iter().filter(|s| csat_class(s).is_some()).filter_map(|s| s.score).collect();
    Outcome::new(ratio(positive, den), classes.len() as u64)
        .with("positive", Some(positive))
        .with("neutral", Some(neutral))
        .with("rated", Some(classes.len() as f64))
        .with("mean_score", mean(&scores))
}

/// Customer Effort Score: the mean answer on the scale of [`Params::ces_points`] points
/// (7: CES 2.0, "made it easy", higher is better; 5: CES 1.0, effort, lower is better). Answers
/// on other scales are left out, so versions never mix. Detail `agree_share`: on 7 points the
/// share of 5–7, on 5 points the share of low effort 1–2.
pub fn ces(rows: &Rows, c: Ctx) -> Outcome {
    let points = f64::from(c.params.ces_points);
    let scores: Vec<(f64, f64)> = answered(rows, SurveyKind::Ces, c.period)
        .filter_map(|s| {
            let (lo, hi) = scale(s);
            let v = s.score?;
            ((hi - lo + 1.0).round() == points && (lo..=hi).contains(&v)).then_some((v - lo + 1.0, v))
        })
        .collect();
    let raw: Vec<f64> = scores.iter().map(|(_, v)| *v).collect();
    let agree = if points >= 7.0 {
        scores.iter().filter(|(pos, _)| *pos >= points - 2.0).count()
    } else {
        scores.iter().filter(|(pos, _)| *pos <= 2.0).count()
    };
    Outcome::new(mean(&raw), raw.len() as u64).with("agree_share", ratio(agree as f64, raw.len() as f64))
}

// ---------------------------------------------------------------- reviews

fn rated_reviews(rows: &Rows, p: Period) -> Vec<f64> {
    rows.reviews
        .iter()
        .filter(|r| p.holds(r.entity.created_at))
        .filter_map(|r| r.entity.rating)
        .filter(|v| (1.0..=5.0).contains(v))
        .collect()
}

/// Mean star rating (1–5) of the reviews created in the period that carry a rating.
pub fn review_rating(rows: &Rows, c: Ctx) -> Outcome {
    let v = rated_reviews(rows, c.period);
    Outcome::new(mean(&v), v.len() as u64)
}

/// Distribution of star ratings: counts and shares of each star 1–5 (ratings rounded to the
/// nearest star, halves up), always all five buckets. The value is the number of rated reviews.
pub fn review_distribution(rows: &Rows, c: Ctx) -> Outcome {
    let v = rated_reviews(rows, c.period);
    let n = v.len() as f64;
    let mut out = Outcome::new(Some(n), v.len() as u64);
    for star in 1..=5 {
        let k = v.iter().filter(|x| x.round() as i64 == star).count() as f64;
        out = out.with(&format!("stars_{star}"), Some(k)).with(&format!("share_{star}"), ratio(k, n));
    }
    out
}

/// Share of rated reviews created in the period with at least [`Params::positive_stars`].
pub fn review_positive_share(rows: &Rows, c: Ctx) -> Outcome {
    let v = rated_reviews(rows, c.period);
    let k = v.iter().filter(|x| **x >= c.params.positive_stars).count() as f64;
    Outcome::new(ratio(k, v.len() as f64), v.len() as u64)
}

/// Bayesian average with Trustpilot's documented prior of 7 reviews at 3.5 stars:
/// (7 × 3.5 + Σ stars)/(7 + n), without Trustpilot's undisclosed recency weighting. `None`
/// without reviews (Trustpilot shows no score until the first review).
pub fn review_bayesian_rating(rows: &Rows, c: Ctx) -> Outcome {
    let v = rated_reviews(rows, c.period);
    let value = (!v.is_empty()).then(|| (7.0 * 3.5 + v.iter().sum::<f64>()) / (7.0 + v.len() as f64));
    Outcome::new(value, v.len() as u64)
}

/// New reviews per 30 days: reviews created in the period ÷ its length in days × 30.
pub fn review_velocity(rows: &Rows, c: Ctx) -> Outcome {
    let n = rows.reviews.iter().filter(|r| c.period.holds(r.entity.created_at)).count();
    Outcome::new(ratio(n as f64 * 30.0, c.period.days()), n as u64).with("reviews", Some(n as f64))
}

fn answered_review(r: &engage_model::Review) -> bool {
    r.reply_at.is_some() || r.reply_body.as_deref().is_some_and(|b| !b.trim_matches(' ').is_empty())
}

/// Share of reviews created in the period that have an owner reply (Yext: attributed to the
/// review's creation date; further replies change nothing).
pub fn review_response_rate(rows: &Rows, c: Ctx) -> Outcome {
    let created: Vec<_> = rows.reviews.iter().filter(|r| c.period.holds(r.entity.created_at)).collect();
    let answered = created.iter().filter(|r| answered_review(&r.entity)).count() as f64;
    Outcome::new(ratio(answered, created.len() as f64), created.len() as u64).with("answered", Some(answered))
}

/// Hours from review creation to the owner reply, over answered reviews created in the period:
/// median as the value, mean and p90 as details. Unanswered reviews are censored and left out
/// (read it next to the response rate). `reply_at` is the reply's latest edit where the
/// platform reports only that.
pub fn review_response_time(rows: &Rows, c: Ctx) -> Outcome {
    let hours: Vec<f64> = rows
        .reviews
        .iter()
        .filter(|r| c.period.holds(r.entity.created_at))
        .filter_map(|r| Some(minutes_between(r.entity.created_at?, r.entity.reply_at?) / 60.0))
        .filter(|h| *h >= 0.0)
        .collect();
    durations(hours)
}

// ---------------------------------------------------------------- email

/// Pooled sums over the campaigns sent in the period that report every count `fields` reads;
/// campaigns missing one are left out of that metric entirely.
fn pooled(rows: &Rows, p: Period, fields: &[fn(&EmailCampaign) -> Option<i64>]) -> (Vec<f64>, u64) {
    let mut sums = vec![0.0; fields.len()];
    let mut n = 0;
    for c in rows.campaigns.iter().map(|r| &r.entity).filter(|c| p.holds(c.sent_at)) {
        let values: Option<Vec<i64>> = fields.iter().map(|f| f(c)).collect();
        if let Some(values) = values {
            n += 1;
            for (s, v) in sums.iter_mut().zip(values) {
                *s += v as f64;
            }
        }
    }
    (sums, n)
}

/// Delivered = recipients − hard bounces − soft bounces.
pub fn delivered(c: &EmailCampaign) -> Option<i64> {
    Some(c.recipients? - c.hard_bounces? - c.soft_bounces?)
}

fn openers(human: bool) -> fn(&EmailCampaign) -> Option<i64> {
    if human { |c| c.unique_opens_human } else { |c| c.unique_opens }
}

fn pooled_ratio(
    rows: &Rows,
    c: Ctx,
    num: fn(&EmailCampaign) -> Option<i64>,
    den: fn(&EmailCampaign) -> Option<i64>,
) -> Outcome {
    let (s, n) = pooled(rows, c.period, &[num, den]);
    Outcome::new(ratio(s[0], s[1]), n).with("numerator", Some(s[0])).with("denominator", Some(s[1]))
}

/// Delivery rate: Σ delivered / Σ recipients over campaigns sent in the period (pooled).
pub fn email_delivery_rate(rows: &Rows, c: Ctx) -> Outcome {
    pooled_ratio(rows, c, delivered, |c| c.recipients)
}

/// Open rate: Σ unique openers / Σ delivered (pooled). Human opens only by default (machine
/// opens such as Apple MPP excluded from the numerator; the denominator keeps every delivered
/// recipient); [`Params::human_opens`] = false gives the raw rate.
pub fn email_open_rate(rows: &Rows, c: Ctx) -> Outcome {
    pooled_ratio(rows, c, openers(c.params.human_opens), delivered)
}

/// Click rate: Σ unique clicking recipients / Σ delivered (pooled).
pub fn email_click_rate(rows: &Rows, c: Ctx) -> Outcome {
    pooled_ratio(rows, c, |c| c.unique_clickers, delivered)
}

/// Click-to-open rate: Σ unique clickers / Σ unique openers (human openers by default).
pub fn email_click_to_open(rows: &Rows, c: Ctx) -> Outcome {
    pooled_ratio(rows, c, |c| c.unique_clickers, openers(c.params.human_opens))
}

/// Bounce rate: Σ (hard + soft bounces) / Σ recipients; hard and soft as details.
pub fn email_bounce_rate(rows: &Rows, c: Ctx) -> Outcome {
    let (s, n) = pooled(rows, c.period, &[|c| c.hard_bounces, |c| c.soft_bounces, |c| c.recipients]);
    Outcome::new(ratio(s[0] + s[1], s[2]), n)
        .with("hard_rate", ratio(s[0], s[2]))
        .with("soft_rate", ratio(s[1], s[2]))
}

/// Unsubscribe rate: Σ unsubscribes / Σ delivered (convention; Mailchimp gives no formula).
pub fn email_unsubscribe_rate(rows: &Rows, c: Ctx) -> Outcome {
    pooled_ratio(rows, c, |c| c.unsubscribes, delivered)
}

/// Spam complaint rate: Σ spam reports / Σ delivered.
pub fn email_spam_rate(rows: &Rows, c: Ctx) -> Outcome {
    pooled_ratio(rows, c, |c| c.spam_reports, delivered)
}

// ---------------------------------------------------------------- helpdesk

fn solved(t: &Ticket) -> bool {
    matches!(t.status.as_deref(), Some("solved" | "closed"))
}

/// First reply time in calendar minutes of tickets created in the period: the vendor's figure,
/// else first_reply_at − created_at; tickets not yet replied to are left out. Median as the
/// value; mean and p90 as details.
pub fn first_reply_time(rows: &Rows, c: Ctx) -> Outcome {
    durations(
        rows.tickets
            .iter()
            .map(|r| &r.entity)
            .filter(|t| c.period.holds(t.created_at))
            .filter_map(|t| {
                t.first_reply_minutes.or_else(|| Some(minutes_between(t.created_at?, t.first_reply_at?)))
            })
            .filter(|m| *m >= 0.0)
            .collect(),
    )
}

/// First resolution time in calendar minutes (creation to first solve) of tickets solved in
/// the period (by `solved_at`), as the vendor computed it. Median; mean and p90 as details.
pub fn first_resolution_time(rows: &Rows, c: Ctx) -> Outcome {
    durations(
        rows.tickets
            .iter()
            .map(|r| &r.entity)
            .filter(|t| c.period.holds(t.solved_at))
            .filter_map(|t| t.first_resolution_minutes)
            .filter(|m| *m >= 0.0)
            .collect(),
    )
}

/// Full resolution time in calendar minutes (creation to latest solve) of tickets solved in the
/// period: the vendor's figure, else solved_at − created_at. Median; mean and p90 as details.
pub fn full_resolution_time(rows: &Rows, c: Ctx) -> Outcome {
    durations(
        rows.tickets
            .iter()
            .map(|r| &r.entity)
            .filter(|t| c.period.holds(t.solved_at))
            .filter_map(|t| {
                t.full_resolution_minutes.or_else(|| Some(minutes_between(t.created_at?, t.solved_at?)))
            })
            .filter(|m| *m >= 0.0)
            .collect(),
    )
}

fn solved_in(rows: &Rows, p: Period) -> impl Iterator<Item = &Ticket> {
    rows.tickets.iter().map(|r| &r.entity).filter(move |t| solved(t) && p.holds(t.solved_at))
}

/// One-touch rate over tickets solved or closed in the period (by `solved_at`): Strict — exactly
/// one agent reply and no reopen; ZendeskLegacy — fewer than two replies. Tickets whose reply
/// (or, for Strict, reopen) count is unknown are left out.
pub fn one_touch_rate(rows: &Rows, c: Ctx) -> Outcome {
    let mut n = 0u64;
    let mut k = 0u64;
    for t in solved_in(rows, c.period) {
        let hit = match c.params.one_touch {
            OneTouch::Strict => match (t.replies, t.reopens) {
                (Some(r), Some(o)) => Some(r == 1 && o == 0),
                _ => None,
            },
            OneTouch::ZendeskLegacy => t.replies.map(|r| r < 2),
        };
        if let Some(hit) = hit {
            n += 1;
            k += u64::from(hit);
        }
    }
    Outcome::new(ratio(k as f64, n as f64), n).with("one_touch", Some(k as f64))
}

/// Reopen rate: tickets solved in the period (by `solved_at`) reopened at least once / tickets
/// solved in the period with a known reopen count.
pub fn reopen_rate(rows: &Rows, c: Ctx) -> Outcome {
    let known: Vec<i64> = solved_in(rows, c.period).filter_map(|t| t.reopens).collect();
    let k = known.iter().filter(|r| **r >= 1).count() as f64;
    Outcome::new(ratio(k, known.len() as f64), known.len() as u64).with("reopened", Some(k))
}

/// Ticket CSAT (Zendesk): good / (good + bad) over tickets created in the period; offered,
/// unoffered and missing ratings are left out.
pub fn ticket_csat(rows: &Rows, c: Ctx) -> Outcome {
    let (mut good, mut bad) = (0u64, 0u64);
    for t in rows.tickets.iter().map(|r| &r.entity).filter(|t| c.period.holds(t.created_at)) {
        match t.satisfaction.as_deref() {
            Some("good") => good += 1,
            Some("bad") => bad += 1,
            _ => {}
        }
    }
    Outcome::new(ratio(good as f64, (good + bad) as f64), good + bad)
        .with("good", Some(good as f64))
        .with("bad", Some(bad as f64))
}

// ---------------------------------------------------------------- shop

/// A buyer's key: the connection's customer id, else the normalised email; `None` for an
/// anonymous order.
pub fn buyer(connection: &str, o: &Order) -> Option<String> {
    if let Some(id) = &o.customer_source_id {
        return Some(format!("{connection}/{id}"));
    }
    o.customer_email.as_deref().and_then(engage_model::normalize_email).map(|e| format!("email/{e}"))
}

fn live_orders(rows: &Rows) -> impl Iterator<Item = &Row<Order>> {
    rows.orders.iter().filter(|r| r.entity.cancelled_at.is_none())
}

fn money(d: rust_decimal::Decimal) -> f64 {
    use rust_decimal::prelude::ToPrimitive;
    d.to_f64().unwrap_or(0.0)
}

/// Average order value: Σ order totals / orders, over orders created in the period that were not
/// cancelled. Totals as the shop reports them (taxes and shipping included when the shop includes
/// them); refunds are not subtracted. Currencies are not converted: filter by connection when
/// shops sell in different currencies.
pub fn aov(rows: &Rows, c: Ctx) -> Outcome {
    let totals: Vec<f64> = live_orders(rows)
        .filter(|r| c.period.holds(r.entity.created_at))
        .map(|r| money(r.entity.total))
        .collect();
    Outcome::new(mean(&totals), totals.len() as u64).with("revenue", Some(totals.iter().sum()))
}

/// Orders per buyer key in the period, over non-cancelled orders created in it.
fn buyers_in(rows: &Rows, p: Period) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for r in live_orders(rows).filter(|r| p.holds(r.entity.created_at)) {
        if let Some(k) = buyer(&r.connection, &r.entity) {
            *m.entry(k).or_insert(0) += 1;
        }
    }
    m
}

/// Purchase frequency: orders / distinct buyers, over non-cancelled orders created in the period
/// that name a buyer (the brief's form uses a trailing 365-day window: pass one).
pub fn purchase_frequency(rows: &Rows, c: Ctx) -> Outcome {
    let b = buyers_in(rows, c.period);
    let orders: u64 = b.values().sum();
    Outcome::new(ratio(orders as f64, b.len() as f64), b.len() as u64).with("orders", Some(orders as f64))
}

/// Repeat purchase rate: buyers with more than one order in the period / buyers with at least
/// one, both counted over orders inside the period.
pub fn repeat_purchase_rate(rows: &Rows, c: Ctx) -> Outcome {
    let b = buyers_in(rows, c.period);
    let repeat = b.values().filter(|n| **n > 1).count() as f64;
    Outcome::new(ratio(repeat, b.len() as f64), b.len() as u64).with("repeat_buyers", Some(repeat))
}

/// Shopify's returning customer rate: buyers in the period whose lifetime orders up to the
/// period's end number more than one / buyers in the period.
pub fn returning_customer_rate(rows: &Rows, c: Ctx) -> Outcome {
    let b = buyers_in(rows, c.period);
    let lifetime = buyers_in(rows, Period { from: DateTime::<Utc>::MIN_UTC, to: c.period.to });
    let returning = b.keys().filter(|k| lifetime.get(*k).copied().unwrap_or(0) > 1).count() as f64;
    Outcome::new(ratio(returning, b.len() as f64), b.len() as u64)
}

/// Guest checkout rate: non-cancelled orders created in the period without a customer account
/// / all such orders.
pub fn guest_checkout_rate(rows: &Rows, c: Ctx) -> Outcome {
    let orders: Vec<bool> =
        live_orders(rows).filter(|r| c.period.holds(r.entity.created_at)).map(|r| r.entity.guest).collect();
    let guests = orders.iter().filter(|g| **g).count() as f64;
    Outcome::new(ratio(guests, orders.len() as f64), orders.len() as u64).with("guest_orders", Some(guests))
}

fn previous(p: Period) -> Period {
    Period { from: p.from - (p.to - p.from), to: p.from }
}

/// Churn rate: of the buyers active (with an order) in the previous period of equal length,
/// the share with no order in this period. Customers acquired during the period are in neither
/// count.
pub fn churn_rate(rows: &Rows, c: Ctx) -> Outcome {
    let start: BTreeSet<String> = buyers_in(rows, previous(c.period)).into_keys().collect();
    let now: BTreeSet<String> = buyers_in(rows, c.period).into_keys().collect();
    let churned = start.difference(&now).count() as f64;
    Outcome::new(ratio(churned, start.len() as f64), start.len() as u64).with("churned", Some(churned))
}

/// Customer retention rate CRR = (E − N)/S: S buyers active in the previous period of equal
/// length, E buyers active in this period, N buyers whose first order ever falls in this period.
/// A buyer silent in the previous period but back now counts in E and not in N, which can push
/// CRR above 1.
pub fn retention_rate(rows: &Rows, c: Ctx) -> Outcome {
    let s = buyers_in(rows, previous(c.period)).len() as f64;
    let now = buyers_in(rows, c.period);
    let before: HashSet<String> =
        buyers_in(rows, Period { from: DateTime::<Utc>::MIN_UTC, to: c.period.from }).into_keys().collect();
    let e = now.len() as f64;
    let new = now.keys().filter(|k| !before.contains(*k)).count() as f64;
    Outcome::new(ratio(e - new, s), s as u64)
        .with("start", Some(s))
        .with("end", Some(e))
        .with("new", Some(new))
}

fn month_of(t: DateTime<Utc>, tz: Tz) -> NaiveDate {
    let local = t.with_timezone(&tz).date_naive();
    local.with_day(1).unwrap_or(local)
}

/// Cohort retention by calendar month (in the window's time zone): buyers are grouped by the
/// month of their first order ever; retention_k = members with an order in month c+k / cohort
/// size, for cohorts whose month starts in the period and months c+k that end by the period's
/// end. The value pools month 1 over all cohorts that have one; details give each cohort's size
/// and retention (`2024-01 size`, `2024-01 m1`, ...).
pub fn cohort_retention(rows: &Rows, c: Ctx) -> Outcome {
    let mut first: HashMap<String, DateTime<Utc>> = HashMap::new();
    let mut active: HashMap<String, BTreeSet<NaiveDate>> = HashMap::new();
    for r in live_orders(rows) {
        let (Some(k), Some(t)) = (buyer(&r.connection, &r.entity), r.entity.created_at) else { continue };
        first.entry(k.clone()).and_modify(|f| *f = (*f).min(t)).or_insert(t);
        active.entry(k).or_default().insert(month_of(t, c.tz));
    }
    let mut cohorts: BTreeMap<NaiveDate, Vec<&String>> = BTreeMap::new();
    for (k, t) in &first {
        let m = month_of(*t, c.tz);
        if c.period.contains(start_of_day(m, c.tz)) {
            cohorts.entry(m).or_default().push(k);
        }
    }
    let mut out = Outcome::new(None, 0);
    let (mut m1_hits, mut m1_size) = (0.0, 0.0);
    for (month, members) in &cohorts {
        let size = members.len() as f64;
        out.n += members.len() as u64;
        out = out.with(&format!("{} size", month.format("%Y-%m")), Some(size));
        for k in 1u32.. {
            let target = *month + Months::new(k);
            if start_of_day(target + Months::new(1), c.tz) > c.period.to {
                break;
            }
            let hits = members.iter().filter(|m| active[**m].contains(&target)).count() as f64;
            if k == 1 {
                m1_hits += hits;
                m1_size += size;
            }
            out = out.with(&format!("{} m{k}", month.format("%Y-%m")), ratio(hits, size));
        }
    }
    out.value = ratio(m1_hits, m1_size);
    out
}

/// Historical CLV: mean net revenue (Σ total − refunded over non-cancelled orders created before
/// the period's end) per buyer with such an order. Total revenue is a detail.
pub fn historical_clv(rows: &Rows, c: Ctx) -> Outcome {
    let mut per: BTreeMap<String, f64> = BTreeMap::new();
    for r in live_orders(rows).filter(|r| r.entity.created_at.is_some_and(|t| t < c.period.to)) {
        if let Some(k) = buyer(&r.connection, &r.entity) {
            *per.entry(k).or_insert(0.0) += money(r.entity.total - r.entity.refunded);
        }
    }
    let values: Vec<f64> = per.into_values().collect();
    Outcome::new(mean(&values), values.len() as u64).with("net_revenue", Some(values.iter().sum()))
}

// ---------------------------------------------------------------- web, social, referrals

fn customer_of(connection: &str, i: &Interaction) -> Option<String> {
    if let Some(id) = &i.customer_source_id {
        return Some(format!("{connection}/{id}"));
    }
    i.customer_email.as_deref().and_then(engage_model::normalize_email).map(|e| format!("email/{e}"))
}

fn web(rows: &Rows) -> impl Iterator<Item = &Row<Interaction>> {
    rows.interactions.iter().filter(|r| r.entity.channel == Channel::Web)
}

fn visitors(rows: &Rows, p: Period) -> BTreeSet<String> {
    web(rows)
        .filter(|r| p.holds(r.entity.occurred_at))
        .filter_map(|r| customer_of(&r.connection, &r.entity))
        .collect()
}

/// Conversion rate, visitor-based variant: non-cancelled orders created in the period / distinct
/// visitors (customers with a web interaction) in the period. `None` where there are no visits.
pub fn conversion_rate(rows: &Rows, c: Ctx) -> Outcome {
    let v = visitors(rows, c.period).len() as f64;
    let orders = live_orders(rows).filter(|r| c.period.holds(r.entity.created_at)).count() as f64;
    Outcome::new(ratio(orders, v), v as u64).with("orders", Some(orders))
}

/// Average time on site in seconds: the mean `value` (session seconds) of web `visit`
/// interactions in the period; the median is a detail. Single-event sessions count as 0 when
/// the source reports them so.
pub fn time_on_site(rows: &Rows, c: Ctx) -> Outcome {
    let secs: Vec<f64> = web(rows)
        .filter(|r| r.entity.kind == "visit" && c.period.holds(r.entity.occurred_at))
        .filter_map(|r| r.entity.value)
        .filter(|v| v.is_finite())
        .collect();
    Outcome::new(mean(&secs), secs.len() as u64).with("median", quantile(&secs, 0.5))
}

/// Returning visitor rate: visitors in the period with a web interaction before it / visitors
/// in the period.
pub fn returning_visitor_rate(rows: &Rows, c: Ctx) -> Outcome {
    let now = visitors(rows, c.period);
    let before = visitors(rows, Period { from: DateTime::<Utc>::MIN_UTC, to: c.period.from });
    let returning = now.intersection(&before).count() as f64;
    Outcome::new(ratio(returning, now.len() as f64), now.len() as u64).with("returning", Some(returning))
}

/// Stickiness, DAU/MAU: the mean over the period's local days of distinct active web users that
/// day, divided by distinct active users over the whole period (pass a 30-day window for GA4's
/// MAU). Days without activity count as 0.
pub fn dau_mau(rows: &Rows, c: Ctx) -> Outcome {
    let mut days: BTreeMap<NaiveDate, BTreeSet<String>> = BTreeMap::new();
    let mut all = BTreeSet::new();
    for r in web(rows).filter(|r| c.period.holds(r.entity.occurred_at)) {
        let (Some(k), Some(t)) = (customer_of(&r.connection, &r.entity), r.entity.occurred_at) else {
            continue;
        };
        days.entry(t.with_timezone(&c.tz).date_naive()).or_default().insert(k.clone());
        all.insert(k);
    }
    let dau = days.values().map(|s| s.len() as f64).sum::<f64>() / local_days(c.period, c.tz);
    Outcome::new(ratio(dau, all.len() as f64), all.len() as u64).with("average_dau", Some(dau))
}

/// The local calendar days a period touches in `tz` (at least 1): DAU's denominator.
pub fn local_days(p: Period, tz: Tz) -> f64 {
    let first = p.from.with_timezone(&tz).date_naive();
    let last = (p.to - chrono::Duration::milliseconds(1)).with_timezone(&tz).date_naive();
    ((last - first).num_days() + 1).max(1) as f64
}

/// Social engagement rate (impressions form, pooled): social interactions whose kind is one of
/// [`Params::engagement_kinds`] / Σ `value` of social `impressions` interactions, in the period.
pub fn social_engagement_rate(rows: &Rows, c: Ctx) -> Outcome {
    let social: Vec<&Interaction> = rows
        .interactions
        .iter()
        .map(|r| &r.entity)
        .filter(|i| i.channel == Channel::Social && c.period.holds(i.occurred_at))
        .collect();
    let engagements = social.iter().filter(|i| c.params.engagement_kinds.contains(&i.kind)).count() as f64;
    let impressions: f64 = social
        .iter()
        .filter(|i| i.kind == "impressions")
        .filter_map(|i| i.value)
        .filter(|v| v.is_finite())
        .sum();
    Outcome::new(ratio(engagements, impressions), engagements as u64).with("impressions", Some(impressions))
}

/// Referral rate from survey answers ("how did you hear about us"): answers in the period that
/// say a person referred them (a referral word of [`Params::referral_words`] in the answer, or
/// the top of a yes/no scale) / all referral answers in the period.
pub fn referral_rate(rows: &Rows, c: Ctx) -> Outcome {
    let answers: Vec<&SurveyResponse> = answered(rows, SurveyKind::Referral, c.period).collect();
    let referred = answers
        .iter()
        .filter(|s| {
            let text = s.comment.as_deref().unwrap_or_default().to_lowercase();
            c.params.referral_words.iter().any(|w| text.contains(w.as_str()))
                || (s.scale_max.is_some()
                    && s.score.is_some()
                    && s.score == s.scale_max
                    && s.scale_max == Some(1.0))
        })
        .count() as f64;
    Outcome::new(ratio(referred, answers.len() as f64), answers.len() as u64).with("referred", Some(referred))
}

/// Advocate rate (referral events): distinct customers with a `referral` interaction in the
/// period / distinct customers with any interaction in the period.
pub fn advocate_rate(rows: &Rows, c: Ctx) -> Outcome {
    let mut active = BTreeSet::new();
    let mut advocates = BTreeSet::new();
    for r in rows.interactions.iter().filter(|r| c.period.holds(r.entity.occurred_at)) {
        if let Some(k) = customer_of(&r.connection, &r.entity) {
            if r.entity.kind == "referral" {
                advocates.insert(k.clone());
            }
            active.insert(k);
        }
    }
    Outcome::new(ratio(advocates.len() as f64, active.len() as f64), active.len() as u64)
}
