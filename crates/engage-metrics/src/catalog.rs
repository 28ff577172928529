//! The catalogue: every metric with its name, group, unit, formula, edge cases and variant, and
//! the reference function that computes it.

use engage_model::EntityKind;
use serde::Serialize;

use crate::data::Rows;
use crate::reference::{self as r, Ctx, Outcome};

/// How a metric's value reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// A ratio in [0, 1], shown as a percentage.
    Ratio,
    /// Net Promoter Score, −100…+100.
    Nps,
    /// Stars, 1–5.
    Stars,
    /// A mean score on the answers' own scale.
    Score,
    /// Minutes.
    Minutes,
    /// Hours.
    Hours,
    /// Seconds.
    Seconds,
    /// Money in the shop's currency.
    Money,
    /// A count.
    Count,
    /// A count per 30 days.
    Per30Days,
    /// Orders per customer.
    PerCustomer,
}

/// One metric.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Metric {
    /// Its name on the command line (`engage metrics NAME`).
    pub name: &'static str,
    /// Channel group: surveys, reviews, email, helpdesk, shop, web, social, referrals.
    pub group: &'static str,
    /// A short title.
    pub title: &'static str,
    /// Unit of the value.
    pub unit: Unit,
    /// The formula.
    pub formula: &'static str,
    /// Edge cases and attribution.
    pub edge_cases: &'static str,
    /// The variant computed, where definitions compete.
    pub variant: &'static str,
    /// Tables read.
    #[serde(skip)]
    pub reads: &'static [EntityKind],
    /// Whether rows before the window matter (lifetime, previous period, cohorts).
    #[serde(skip)]
    pub history: bool,
    /// The reference implementation.
    #[serde(skip)]
    pub compute: fn(&Rows, Ctx) -> Outcome,
}

use EntityKind as K;

macro_rules! metric {
    ($name:literal, $group:literal, $title:literal, $unit:ident, $reads:expr, $history:literal, $f:path,
     $formula:literal, $edge:literal, $variant:literal) => {
        Metric {
            name: $name,
            group: $group,
            title: $title,
            unit: Unit::$unit,
            formula: $formula,
            edge_cases: $edge,
            variant: $variant,
            reads: $reads,
            history: $history,
            compute: $f,
        }
    };
}

/// Every metric, grouped by channel.
pub const METRICS: &[Metric] = &[
    metric!(
        "nps",
        "surveys",
        "Net Promoter Score",
        Nps,
        &[K::SurveyResponse],
        false,
        r::nps,
        "100 × (promoters 9–10 − detractors 0–6) / valid answers; SE = 100 × √(((pP+pD) − (pP−pD)²)/n)",
        "answers outside 0–10, not whole or missing are excluded; none → no value; by answered_at",
        "per response"
    ),
    metric!(
        "csat",
        "surveys",
        "Customer satisfaction (survey)",
        Ratio,
        &[K::SurveyResponse],
        false,
        r::csat,
        "positive answers / rated answers; positive = top box (≤3 points) or top two boxes (1–5: 4–5)",
        "no scale given → 1–5; off-scale answers excluded; the midpoint of an odd scale is neutral; by answered_at",
        "neutral counts as negative (Zendesk)"
    ),
    metric!(
        "ces",
        "surveys",
        "Customer effort score",
        Score,
        &[K::SurveyResponse],
        false,
        r::ces,
        "mean answer on the configured scale; detail agree_share (7 points: 5–7; 5 points: 1–2)",
        "answers on other scales are left out so CES 1.0 and 2.0 never mix; by answered_at",
        "CES 2.0, 7 points, higher is better"
    ),
    metric!(
        "review_rating",
        "reviews",
        "Average rating",
        Stars,
        &[K::Review],
        false,
        r::review_rating,
        "Σ stars / rated reviews",
        "ratings outside 1–5 or missing excluded; by created_at",
        "plain mean"
    ),
    metric!(
        "review_distribution",
        "reviews",
        "Rating distribution",
        Count,
        &[K::Review],
        false,
        r::review_distribution,
        "count and share of each star 1–5 (rounded to the nearest star)",
        "all five buckets always present; shares are not adjusted to sum to 1; by created_at",
        "—"
    ),
    metric!(
        "review_positive_share",
        "reviews",
        "Share of positive reviews",
        Ratio,
        &[K::Review],
        false,
        r::review_positive_share,
        "reviews with ≥ 4 stars / rated reviews",
        "by created_at",
        "threshold 4 stars"
    ),
    metric!(
        "review_bayesian_rating",
        "reviews",
        "Bayesian average rating",
        Stars,
        &[K::Review],
        false,
        r::review_bayesian_rating,
        "(7 × 3.5 + Σ stars) / (7 + n)",
        "no reviews → no value; by created_at",
        "Trustpilot's documented prior, no recency weighting"
    ),
    metric!(
        "review_velocity",
        "reviews",
        "Review velocity",
        Per30Days,
        &[K::Review],
        false,
        r::review_velocity,
        "reviews created in the window / its days × 30",
        "by created_at",
        "per 30 days"
    ),
    metric!(
        "review_response_rate",
        "reviews",
        "Review response rate",
        Ratio,
        &[K::Review],
        false,
        r::review_response_rate,
        "reviews with an owner reply / reviews",
        "attributed to the review's creation (Yext); further replies change nothing",
        "Yext"
    ),
    metric!(
        "review_response_time",
        "reviews",
        "Review response time",
        Hours,
        &[K::Review],
        false,
        r::review_response_time,
        "median hours from review to owner reply; mean and p90 as details",
        "unanswered reviews are censored and left out; by the review's created_at",
        "median"
    ),
    metric!(
        "email_delivery_rate",
        "email",
        "Delivery rate",
        Ratio,
        &[K::EmailCampaign],
        false,
        r::email_delivery_rate,
        "Σ (recipients − hard − soft bounces) / Σ recipients",
        "pooled over campaigns sent in the window that report the counts; by sent_at",
        "pooled"
    ),
    metric!(
        "email_open_rate",
        "email",
        "Open rate",
        Ratio,
        &[K::EmailCampaign],
        false,
        r::email_open_rate,
        "Σ unique human openers / Σ delivered",
        "machine (MPP) opens excluded from the numerator; by sent_at",
        "human opens, pooled"
    ),
    metric!(
        "email_click_rate",
        "email",
        "Click rate",
        Ratio,
        &[K::EmailCampaign],
        false,
        r::email_click_rate,
        "Σ unique clicking recipients / Σ delivered",
        "by sent_at",
        "pooled"
    ),
    metric!(
        "email_click_to_open",
        "email",
        "Click-to-open rate",
        Ratio,
        &[K::EmailCampaign],
        false,
        r::email_click_to_open,
        "Σ unique clickers / Σ unique human openers",
        "by sent_at",
        "human opens, pooled"
    ),
    metric!(
        "email_bounce_rate",
        "email",
        "Bounce rate",
        Ratio,
        &[K::EmailCampaign],
        false,
        r::email_bounce_rate,
        "Σ (hard + soft bounces) / Σ recipients; hard and soft rates as details",
        "by sent_at",
        "pooled"
    ),
    metric!(
        "email_unsubscribe_rate",
        "email",
        "Unsubscribe rate",
        Ratio,
        &[K::EmailCampaign],
        false,
        r::email_unsubscribe_rate,
        "Σ unsubscribes / Σ delivered",
        "by sent_at",
        "pooled"
    ),
    metric!(
        "email_spam_rate",
        "email",
        "Spam complaint rate",
        Ratio,
        &[K::EmailCampaign],
        false,
        r::email_spam_rate,
        "Σ spam reports / Σ delivered",
        "by sent_at",
        "pooled"
    ),
    metric!(
        "first_reply_time",
        "helpdesk",
        "First reply time",
        Minutes,
        &[K::Ticket],
        false,
        r::first_reply_time,
        "median calendar minutes from creation to the first public agent reply; mean, p90 as details",
        "vendor's figure, else first_reply_at − created_at; unreplied tickets left out; by created_at",
        "calendar minutes, median"
    ),
    metric!(
        "first_resolution_time",
        "helpdesk",
        "First resolution time",
        Minutes,
        &[K::Ticket],
        false,
        r::first_resolution_time,
        "median calendar minutes from creation to the first solve",
        "tickets solved in the window (solved_at); the vendor's figure",
        "calendar minutes, median"
    ),
    metric!(
        "full_resolution_time",
        "helpdesk",
        "Full resolution time",
        Minutes,
        &[K::Ticket],
        false,
        r::full_resolution_time,
        "median calendar minutes from creation to the latest solve",
        "tickets solved in the window; vendor's figure, else solved_at − created_at",
        "calendar minutes, median"
    ),
    metric!(
        "one_touch_rate",
        "helpdesk",
        "One-touch resolution rate",
        Ratio,
        &[K::Ticket],
        false,
        r::one_touch_rate,
        "solved tickets with exactly one agent reply and no reopen / solved tickets",
        "solved or closed, by solved_at; unknown reply or reopen counts left out",
        "strict"
    ),
    metric!(
        "reopen_rate",
        "helpdesk",
        "Reopen rate",
        Ratio,
        &[K::Ticket],
        false,
        r::reopen_rate,
        "solved tickets reopened ≥ 1 time / solved tickets",
        "by solved_at; unknown reopen counts left out",
        "—"
    ),
    metric!(
        "ticket_csat",
        "helpdesk",
        "Ticket satisfaction",
        Ratio,
        &[K::Ticket],
        false,
        r::ticket_csat,
        "good / (good + bad)",
        "offered, unoffered and missing ratings excluded; by created_at",
        "Zendesk"
    ),
    metric!(
        "conversion_rate",
        "shop",
        "Conversion rate",
        Ratio,
        &[K::Order, K::Interaction],
        false,
        r::conversion_rate,
        "orders / distinct web visitors",
        "no visits → no value; by created_at / occurred_at",
        "visitor-based"
    ),
    metric!(
        "purchase_frequency",
        "shop",
        "Purchase frequency",
        PerCustomer,
        &[K::Order],
        false,
        r::purchase_frequency,
        "orders / distinct buyers",
        "non-cancelled orders naming a buyer; by created_at",
        "window (pass 365 days for the trailing-year form)"
    ),
    metric!(
        "aov",
        "shop",
        "Average order value",
        Money,
        &[K::Order],
        false,
        r::aov,
        "Σ order totals / orders",
        "cancelled orders excluded; refunds not subtracted; currencies not converted",
        "total as reported"
    ),
    metric!(
        "repeat_purchase_rate",
        "shop",
        "Repeat purchase rate",
        Ratio,
        &[K::Order],
        false,
        r::repeat_purchase_rate,
        "buyers with > 1 order / buyers with ≥ 1 order, both within the window",
        "by created_at",
        "window"
    ),
    metric!(
        "returning_customer_rate",
        "shop",
        "Returning customer rate",
        Ratio,
        &[K::Order],
        true,
        r::returning_customer_rate,
        "buyers in the window with > 1 lifetime order / buyers in the window",
        "lifetime up to the window's end",
        "Shopify"
    ),
    metric!(
        "guest_checkout_rate",
        "shop",
        "Guest checkout rate",
        Ratio,
        &[K::Order],
        false,
        r::guest_checkout_rate,
        "guest orders / orders",
        "cancelled orders excluded; by created_at",
        "per order"
    ),
    metric!(
        "churn_rate",
        "shop",
        "Churn rate",
        Ratio,
        &[K::Order],
        true,
        r::churn_rate,
        "buyers of the previous period with no order in this one / buyers of the previous period",
        "activity = an order; customers acquired in the period are in neither count",
        "inactivity over one period"
    ),
    metric!(
        "retention_rate",
        "shop",
        "Customer retention rate",
        Ratio,
        &[K::Order],
        true,
        r::retention_rate,
        "(E − N) / S: E buyers now, N first-time buyers now, S buyers of the previous period",
        "S = 0 → no value; reactivated buyers count in E, not N (CRR can exceed 1)",
        "textbook CRR"
    ),
    metric!(
        "cohort_retention",
        "shop",
        "Cohort retention (month 1)",
        Ratio,
        &[K::Order],
        true,
        r::cohort_retention,
        "members of a first-order month active in the next month / cohort size, pooled",
        "calendar months in the window's time zone; per-cohort retention by month as details",
        "calendar, exact"
    ),
    metric!(
        "historical_clv",
        "shop",
        "Historical CLV",
        Money,
        &[K::Order],
        true,
        r::historical_clv,
        "mean Σ (total − refunded) per buyer up to the window's end",
        "cancelled orders excluded",
        "net revenue"
    ),
    metric!(
        "time_on_site",
        "web",
        "Average time on site",
        Seconds,
        &[K::Interaction],
        false,
        r::time_on_site,
        "mean seconds of web visits; median as a detail",
        "by occurred_at",
        "session duration"
    ),
    metric!(
        "returning_visitor_rate",
        "web",
        "Returning visitor rate",
        Ratio,
        &[K::Interaction],
        true,
        r::returning_visitor_rate,
        "visitors with a web interaction before the window / visitors",
        "by occurred_at",
        "any earlier visit"
    ),
    metric!(
        "dau_mau",
        "web",
        "Stickiness (DAU/MAU)",
        Ratio,
        &[K::Interaction],
        false,
        r::dau_mau,
        "mean daily active users over the window's days / users active in the window",
        "local days of the time zone; pass 30 days for GA4's MAU",
        "average DAU / window users"
    ),
    metric!(
        "social_engagement_rate",
        "social",
        "Social engagement rate",
        Ratio,
        &[K::Interaction],
        false,
        r::social_engagement_rate,
        "engagement interactions / Σ impressions",
        "by occurred_at",
        "ER-impressions, pooled"
    ),
    metric!(
        "referral_rate",
        "referrals",
        "Referral rate (survey)",
        Ratio,
        &[K::SurveyResponse],
        false,
        r::referral_rate,
        "referral answers naming a person / referral answers",
        "by answered_at",
        "(a) referred share of respondents"
    ),
    metric!(
        "advocate_rate",
        "referrals",
        "Advocate rate",
        Ratio,
        &[K::Interaction],
        false,
        r::advocate_rate,
        "customers with a referral event / customers with any interaction",
        "by occurred_at",
        "(b) advocates"
    ),
];

/// The metric named `name`.
pub fn find(name: &str) -> Option<&'static Metric> {
    METRICS.iter().find(|m| m.name == name)
}

/// The headline metrics of `engage metrics overview`, one or more per channel group.
pub const OVERVIEW: &[&str] = &[
    "nps",
    "csat",
    "review_rating",
    "review_response_rate",
    "email_open_rate",
    "email_click_rate",
    "ticket_csat",
    "one_touch_rate",
    "reopen_rate",
    "aov",
    "guest_checkout_rate",
    "dau_mau",
    "social_engagement_rate",
];
