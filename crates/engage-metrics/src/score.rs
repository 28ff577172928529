//! The per-customer engagement score: four components after the seeds' types of engagement —
//! emotional, contextual, convenience, social — plus recency, frequency and monetary value,
//! each on 0–100, combined as Σ wᵢ sᵢ / Σ wᵢ over the components that have data (missing ones
//! are left out and the weights renormalised), and banded.

use chrono::{DateTime, Utc};
use engage_model::{Channel, EmailEventKind, SurveyKind};
use serde::{Deserialize, Serialize};

use crate::data::Rows;
use crate::reference::{Params, csat_class};

/// Weights of the components (any non-negative numbers; only their ratios matter).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Weights {
    /// Ratings, NPS, CSAT.
    pub emotional: f64,
    /// Response to targeted email.
    pub contextual: f64,
    /// Effort experienced: reply times, contacts per issue, CES.
    pub convenience: f64,
    /// Reviews written, referrals, shares.
    pub social: f64,
    /// Days since the last order.
    pub recency: f64,
    /// Orders in the last 365 days.
    pub frequency: f64,
    /// Net revenue in the last 365 days.
    pub monetary: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            emotional: 2.0,
            contextual: 1.0,
            convenience: 1.0,
            social: 1.0,
            recency: 1.0,
            frequency: 1.0,
            monetary: 1.0,
        }
    }
}

/// Lower bounds of the bands (inclusive): a score ≥ `champion` is a champion, ≥ `engaged`
/// engaged, ≥ `at_risk` at risk, anything lower dormant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bands {
    /// Lower bound of "champion".
    pub champion: f64,
    /// Lower bound of "engaged".
    pub engaged: f64,
    /// Lower bound of "at risk".
    pub at_risk: f64,
}

impl Default for Bands {
    fn default() -> Self {
        Bands { champion: 75.0, engaged: 50.0, at_risk: 25.0 }
    }
}

/// The declared transforms from raw signals to 0–100.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Transforms {
    /// A first reply within this many minutes scores 100…
    pub reply_minutes_good: f64,
    /// …and one after this many scores 0, linear in between.
    pub reply_minutes_bad: f64,
    /// Recency: 100 on the day of the last order, 0 after this many days, linear in between.
    pub recency_days: f64,
    /// Frequency: this many orders in the last 365 days score 100 (proportional below).
    pub frequency_orders: f64,
    /// Monetary: this much net revenue in the last 365 days scores 100 (proportional below).
    pub monetary_cap: f64,
}

impl Default for Transforms {
    fn default() -> Self {
        Transforms {
            reply_minutes_good: 60.0,
            reply_minutes_bad: 1440.0,
            recency_days: 365.0,
            frequency_orders: 5.0,
            monetary_cap: 500.0,
        }
    }
}

/// The score's settings, read from TOML:
///
/// ```toml
/// [weights]
/// emotional = 2.0
/// social = 0.5
/// [bands]
/// champion = 80
/// [transforms]
/// monetary_cap = 1000
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScoreConfig {
    /// Component weights.
    pub weights: Weights,
    /// Band bounds.
    pub bands: Bands,
    /// Signal transforms.
    pub transforms: Transforms,
}

impl ScoreConfig {
    /// Parses a TOML document; missing keys take their defaults, unknown keys are errors, and
    /// weights must be non-negative with bands in decreasing order.
    pub fn from_toml(text: &str) -> Result<ScoreConfig, String> {
        let config: ScoreConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        let w = &config.weights;
        let all = [w.emotional, w.contextual, w.convenience, w.social, w.recency, w.frequency, w.monetary];
        if all.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err("weights must be non-negative numbers".into());
        }
        let b = &config.bands;
        if !(b.champion > b.engaged && b.engaged > b.at_risk) {
            return Err("bands must decrease: champion > engaged > at_risk".into());
        }
        Ok(config)
    }
}

/// One component of a score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Component {
    /// Component name.
    pub name: &'static str,
    /// Its score on 0–100, `None` when the customer has no data for it.
    pub score: Option<f64>,
    /// Its configured weight.
    pub weight: f64,
    /// Its share of the total after renormalising over the components with data.
    pub effective_weight: Option<f64>,
    /// How many signals it was computed from.
    pub signals: usize,
}

/// A customer's engagement score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    /// Σ wᵢ sᵢ / Σ wᵢ over the components with data; `None` when none has data.
    pub total: Option<f64>,
    /// `champion`, `engaged`, `at_risk` or `dormant` (none without a total).
    pub band: Option<&'static str>,
    /// The breakdown.
    pub components: Vec<Component>,
}

fn mean_of(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

fn linear_down(v: f64, good: f64, bad: f64) -> f64 {
    if v <= good {
        100.0
    } else if v >= bad {
        0.0
    } else {
        100.0 * (bad - v) / (bad - good)
    }
}

/// Scores one customer from their rows (already narrowed to that customer) as of `as_of`.
pub fn score(rows: &Rows, config: &ScoreConfig, as_of: DateTime<Utc>) -> Score {
    let t = &config.transforms;
    let params = Params::default();
    // Emotional: review stars, NPS answers, CSAT answers.
    let mut emotional = Vec::new();
    emotional.extend(
        rows.reviews
            .iter()
            .filter_map(|r| r.entity.rating)
            .filter(|s| (1.0..=5.0).contains(s))
            .map(|s| (s - 1.0) / 4.0 * 100.0),
    );
    for s in rows.surveys.iter().map(|r| &r.entity) {
        match s.kind {
            SurveyKind::Nps => {
                emotional.extend(s.score.filter(|v| (0.0..=10.0).contains(v)).map(|v| v * 10.0))
            }
            SurveyKind::Csat => emotional.extend(csat_class(s).map(|k| 50.0 * f64::from(k + 1))),
            _ => {}
        }
    }
    // Contextual: per campaign received, clicked 100, opened by a person 50, else 0.
    let mut campaigns: std::collections::BTreeMap<(String, String), f64> = Default::default();
    for r in &rows.email_events {
        let e = &r.entity;
        let key = (r.connection.clone(), e.campaign_source_id.clone().unwrap_or_default());
        let level = match e.kind {
            EmailEventKind::Click => 100.0,
            EmailEventKind::Open if !e.machine_open => 50.0,
            EmailEventKind::Delivered | EmailEventKind::Open => 0.0,
            _ => continue,
        };
        let slot = campaigns.entry(key).or_insert(0.0);
        *slot = slot.max(level);
    }
    let contextual: Vec<f64> = campaigns.into_values().collect();
    // Convenience: reply times experienced, reopened issues, CES answers.
    let mut convenience = Vec::new();
    for tk in rows.tickets.iter().map(|r| &r.entity) {
        let minutes = tk
            .first_reply_minutes
            .or_else(|| Some((tk.first_reply_at? - tk.created_at?).num_milliseconds() as f64 / 60_000.0));
        convenience.extend(
            minutes
                .filter(|m| m.is_finite())
                .map(|m| linear_down(m, t.reply_minutes_good, t.reply_minutes_bad)),
        );
        convenience.extend(tk.reopens.map(|r| if r > 0 { 0.0 } else { 100.0 }));
    }
    for s in rows.surveys.iter().map(|r| &r.entity).filter(|s| s.kind == SurveyKind::Ces) {
        let (Some(v), lo, hi) = (s.score, s.scale_min.unwrap_or(1.0), s.scale_max.unwrap_or(7.0)) else {
            continue;
        };
        if hi > lo && (lo..=hi).contains(&v) {
            let position = (v - lo) / (hi - lo);
            // 7 points (CES 2.0): agreeing it was easy is good; 5 points (CES 1.0): effort is bad.
            convenience.push(if hi - lo + 1.0 >= 7.0 { position * 100.0 } else { (1.0 - position) * 100.0 });
        }
    }
    // Social: reviews written 40, referrals 60, shares 20 points each, capped at 100.
    let referrals = rows.interactions.iter().filter(|r| r.entity.kind == "referral").count()
        + rows
            .surveys
            .iter()
            .filter(|r| r.entity.kind == SurveyKind::Referral)
            .filter(|r| {
                let text = r.entity.comment.as_deref().unwrap_or_default().to_lowercase();
                params.referral_words.iter().any(|w| text.contains(w.as_str()))
            })
            .count();
    let shares = rows
        .interactions
        .iter()
        .filter(|r| r.entity.channel == Channel::Social && r.entity.kind == "share")
        .count();
    let social_signals = rows.reviews.len() + referrals + shares;
    let social = (social_signals > 0).then(|| {
        (40.0 * rows.reviews.len() as f64 + 60.0 * referrals as f64 + 20.0 * shares as f64).min(100.0)
    });
    // Recency, frequency, monetary from orders (cancelled ones excluded).
    let orders: Vec<_> = rows.orders.iter().map(|r| &r.entity).filter(|o| o.cancelled_at.is_none()).collect();
    let dated: Vec<DateTime<Utc>> =
        orders.iter().filter_map(|o| o.created_at).filter(|d| *d <= as_of).collect();
    let year_ago = as_of - chrono::Duration::days(365);
    let recency = dated.iter().max().map(|last| {
        let days = (as_of - *last).num_milliseconds() as f64 / 86_400_000.0;
        linear_down(days, 0.0, t.recency_days)
    });
    let recent: Vec<_> =
        orders.iter().filter(|o| o.created_at.is_some_and(|d| d > year_ago && d <= as_of)).collect();
    let has_orders = !dated.is_empty();
    let frequency = has_orders.then(|| (100.0 * recent.len() as f64 / t.frequency_orders).min(100.0));
    let monetary = has_orders.then(|| {
        use rust_decimal::prelude::ToPrimitive;
        let net: f64 = recent.iter().map(|o| (o.total - o.refunded).to_f64().unwrap_or(0.0)).sum();
        (100.0 * net.max(0.0) / t.monetary_cap).min(100.0)
    });

    let w = &config.weights;
    let mut components = vec![
        Component {
            name: "emotional",
            score: mean_of(&emotional),
            weight: w.emotional,
            effective_weight: None,
            signals: emotional.len(),
        },
        Component {
            name: "contextual",
            score: mean_of(&contextual),
            weight: w.contextual,
            effective_weight: None,
            signals: contextual.len(),
        },
        Component {
            name: "convenience",
            score: mean_of(&convenience),
            weight: w.convenience,
            effective_weight: None,
            signals: convenience.len(),
        },
        Component {
            name: "social",
            score: social,
            weight: w.social,
            effective_weight: None,
            signals: social_signals,
        },
        Component {
            name: "recency",
            score: recency,
            weight: w.recency,
            effective_weight: None,
            signals: dated.len().min(1),
        },
        Component {
            name: "frequency",
            score: frequency,
            weight: w.frequency,
            effective_weight: None,
            signals: recent.len(),
        },
        Component {
            name: "monetary",
            score: monetary,
            weight: w.monetary,
            effective_weight: None,
            signals: recent.len(),
        },
    ];
    let available: f64 = components.iter().filter(|c| c.score.is_some()).map(|c| c.weight).sum();
    let mut total = None;
    if available > 0.0 {
        let mut sum = 0.0;
        for c in components.iter_mut() {
            if let Some(s) = c.score {
                c.effective_weight = Some(c.weight / available);
                sum += c.weight * s;
            }
        }
        total = Some(sum / available);
    }
    let b = &config.bands;
    let band = total.map(|s| {
        if s >= b.champion {
            "champion"
        } else if s >= b.engaged {
            "engaged"
        } else if s >= b.at_risk {
            "at_risk"
        } else {
            "dormant"
        }
    });
    Score { total, band, components }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Row;
    use engage_model::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn row<T>(e: T) -> Row<T> {
        Row::new("c", "1", e)
    }

    #[test]
    fn no_data_no_score() {
        let s = score(&Rows::default(), &ScoreConfig::default(), at("2024-06-01T00:00:00Z"));
        assert_eq!((s.total, s.band), (None, None));
        assert!(s.components.iter().all(|c| c.score.is_none() && c.effective_weight.is_none()));
    }

    #[test]
    fn missing_components_are_left_out_and_weights_renormalised() {
        let as_of = at("2024-06-01T00:00:00Z");
        let rows = Rows {
            // Emotional: a 4-star review (75) and an NPS 10 (100) → 87.5. Social: one review → 40.
            reviews: vec![row(Review { rating: Some(4.0), ..Review::default() })],
            surveys: vec![row(SurveyResponse {
                platform: "p".into(),
                survey_id: None,
                question: None,
                kind: SurveyKind::Nps,
                score: Some(10.0),
                scale_min: Some(0.0),
                scale_max: Some(10.0),
                comment: None,
                customer_source_id: None,
                customer_email: None,
                answered_at: None,
            })],
            // Convenience: reply after 60 min (100) and one reopen (0) → 50.
            tickets: vec![row(Ticket {
                first_reply_minutes: Some(60.0),
                reopens: Some(1),
                ..Ticket::default()
            })],
            ..Rows::default()
        };
        let s = score(&rows, &ScoreConfig::default(), as_of);
        let get = |n: &str| s.components.iter().find(|c| c.name == n).unwrap().score;
        assert_eq!(
            (get("emotional"), get("convenience"), get("social")),
            (Some(87.5), Some(50.0), Some(40.0))
        );
        assert_eq!((get("contextual"), get("recency")), (None, None));
        // Weights 2, 1, 1 over the three with data.
        let want = (2.0 * 87.5 + 50.0 + 40.0) / 4.0;
        assert_eq!(s.total, Some(want));
        assert_eq!(s.band, Some("engaged"));
        let emotional = s.components.iter().find(|c| c.name == "emotional").unwrap();
        assert_eq!(emotional.effective_weight, Some(0.5));
    }

    #[test]
    fn rfm_and_email_components() {
        let as_of = at("2024-06-01T00:00:00Z");
        let order = |day: &str, total: i64| {
            row(Order {
                platform: "s".into(),
                customer_source_id: None,
                customer_email: None,
                created_at: Some(at(day)),
                updated_at: None,
                currency: None,
                total: total.into(),
                refunded: 0.into(),
                item_count: None,
                guest: false,
                cancelled_at: None,
                financial_status: None,
            })
        };
        let event = |campaign: &str, kind: EmailEventKind, machine: bool| {
            row(EmailEvent {
                platform: "m".into(),
                campaign_source_id: Some(campaign.into()),
                email: None,
                customer_source_id: None,
                kind,
                occurred_at: None,
                machine_open: machine,
                url: None,
                bounce_type: None,
            })
        };
        let rows = Rows {
            orders: vec![
                order("2023-01-01T00:00:00Z", 1000),
                order("2024-04-02T00:00:00Z", 100),
                order("2024-05-02T00:00:00Z", 150),
            ],
            email_events: vec![
                event("a", EmailEventKind::Delivered, false),
                event("a", EmailEventKind::Click, false),
                event("b", EmailEventKind::Open, true),
                event("c", EmailEventKind::Open, false),
            ],
            ..Rows::default()
        };
        let config =
            ScoreConfig::from_toml("[weights]\nemotional = 0\n[transforms]\nrecency_days = 100\n").unwrap();
        let s = score(&rows, &config, as_of);
        let get = |n: &str| s.components.iter().find(|c| c.name == n).unwrap().score;
        assert_eq!(get("recency"), Some(70.0), "30 days of 100");
        assert_eq!(get("frequency"), Some(40.0), "2 orders of 5 in the last year");
        assert_eq!(get("monetary"), Some(50.0), "250 of 500");
        assert_eq!(get("contextual"), Some(50.0), "clicked 100, machine open 0, human open 50");
        assert_eq!(s.total, Some((70.0 + 40.0 + 50.0 + 50.0) / 4.0));
        assert_eq!(s.band, Some("engaged"));
    }

    #[test]
    fn config_is_checked() {
        assert!(ScoreConfig::from_toml("[weights]\nsocial = -1\n").is_err());
        assert!(ScoreConfig::from_toml("[bands]\nchampion = 10\n").is_err());
        assert!(ScoreConfig::from_toml("[weight]\n").is_err());
        assert_eq!(ScoreConfig::from_toml("").unwrap(), ScoreConfig::default());
    }
}
