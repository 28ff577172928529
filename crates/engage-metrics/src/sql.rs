//! SQL paths: the metrics whose definition is a count or a sum, aggregated in the database (one
//! pass over the attribution-time index, all buckets at once) on SQLite and PostgreSQL, and the
//! interaction metrics that count distinct customers ([`CustomerPath`]). Each path ends in the
//! same arithmetic as its reference in `reference.rs`, and tests hold the two equal over the
//! same rows.

use engage_model::{Channel, EntityKind};
use engage_store::{Cond, Expr, Lit, Measure};

use crate::data::Filters;
use crate::reference::{Outcome, Params, nps_from_counts, ratio};
use crate::window::Period;

/// How one metric is aggregated in the database.
pub struct SqlPath {
    /// The table.
    pub kind: EntityKind,
    /// The attribution time column.
    pub time_column: &'static str,
    /// Rows that take part.
    pub conditions: Vec<Cond>,
    /// What is summed per bucket.
    pub measures: Vec<Measure>,
    /// The metric from the measures, for one bucket's period.
    pub finish: fn(&[Option<f64>], Period) -> Outcome,
}

fn text(values: &[&str]) -> Vec<Lit> {
    values.iter().map(|v| Lit::Text((*v).to_owned())).collect()
}

fn count(c: Cond) -> Measure {
    Measure::Count(Some(c))
}

fn v(values: &[Option<f64>], i: usize) -> f64 {
    values.get(i).copied().flatten().unwrap_or(0.0)
}

fn finish_ratio(values: &[Option<f64>], _: Period) -> Outcome {
    let (num, den) = (v(values, 0), v(values, 1));
    Outcome { value: ratio(num, den), n: den as u64, details: Vec::new() }
}

fn finish_pooled(values: &[Option<f64>], _: Period) -> Outcome {
    let (num, den, n) = (v(values, 0), v(values, 1), v(values, 2));
    Outcome {
        value: ratio(num, den),
        n: n as u64,
        details: vec![("numerator".into(), Some(num)), ("denominator".into(), Some(den))],
    }
}

/// The email campaign columns a pooled rate reads (a campaign missing one is left out).
fn campaign_pooled(num: Expr, den: Expr, needs: &[&'static str]) -> (Vec<Cond>, Vec<Measure>) {
    let conditions = needs.iter().map(|c| Cond::NotNull(c)).collect();
    (conditions, vec![Measure::Sum(num, None), Measure::Sum(den, None), Measure::Count(None)])
}

/// `recipients − hard_bounces − soft_bounces` is computed as two sums: Σ recipients − Σ hard −
/// Σ soft, since [`Expr`] subtracts two columns only.
fn delivered_measures() -> Vec<Measure> {
    vec![
        Measure::Sum(Expr::Col("recipients"), None),
        Measure::Sum(Expr::Col("hard_bounces"), None),
        Measure::Sum(Expr::Col("soft_bounces"), None),
    ]
}

/// The SQL path of metric `name`, if it has one.
pub fn path(name: &str, params: &Params, filters: &Filters) -> Option<SqlPath> {
    let loc = |mut conds: Vec<Cond>| {
        if !filters.locations.is_empty() {
            conds.push(Cond::In("location", filters.locations.iter().cloned().map(Lit::Text).collect()));
        }
        conds
    };
    let chan = |mut conds: Vec<Cond>| {
        if !filters.channels.is_empty() {
            conds.push(Cond::In("channel", filters.channels.iter().cloned().map(Lit::Text).collect()));
        }
        conds
    };
    let rated = || Cond::And(vec![Cond::NotNull("rating"), Cond::Ge("rating", 1.0), Cond::Le("rating", 5.0)]);
    let solved = || Cond::And(vec![Cond::In("status", text(&["solved", "closed"]))]);
    let openers = if params.human_opens { "unique_opens_human" } else { "unique_opens" };
    let email = |num: &'static str, finish: fn(&[Option<f64>], Period) -> Outcome| {
        let mut measures = vec![Measure::Sum(Expr::Col(num), None)];
        measures.extend(delivered_measures());
        measures.push(Measure::Count(None));
        SqlPath {
            kind: EntityKind::EmailCampaign,
            time_column: "sent_at",
            conditions: [num, "recipients", "hard_bounces", "soft_bounces"]
                .iter()
                .map(|c| Cond::NotNull(c))
                .collect(),
            measures,
            finish,
        }
    };
    // values: [Σ num, Σ recipients, Σ hard, Σ soft, campaigns] → num / delivered
    fn over_delivered(values: &[Option<f64>], p: Period) -> Outcome {
        let delivered = v(values, 1) - v(values, 2) - v(values, 3);
        finish_pooled(&[Some(v(values, 0)), Some(delivered), Some(v(values, 4))], p)
    }
    Some(match name {
        "nps" => SqlPath {
            kind: EntityKind::SurveyResponse,
            time_column: "answered_at",
            conditions: vec![
                Cond::Eq("kind", Lit::Text("nps".into())),
                Cond::NotNull("score"),
                Cond::Ge("score", 0.0),
                Cond::Le("score", 10.0),
                Cond::Whole("score"),
            ],
            measures: vec![
                count(Cond::Ge("score", 9.0)),
                count(Cond::And(vec![Cond::Ge("score", 7.0), Cond::Le("score", 8.0)])),
                count(Cond::Le("score", 6.0)),
            ],
            finish: |values, _| {
                nps_from_counts(v(values, 0) as u64, v(values, 1) as u64, v(values, 2) as u64)
            },
        },
        "review_rating" => SqlPath {
            kind: EntityKind::Review,
            time_column: "created_at",
            conditions: loc(vec![rated()]),
            measures: vec![Measure::Sum(Expr::Col("rating"), None), Measure::Count(None)],
            finish: |values, _| Outcome {
                value: ratio(v(values, 0), v(values, 1)),
                n: v(values, 1) as u64,
                details: vec![],
            },
        },
        "review_positive_share" => SqlPath {
            kind: EntityKind::Review,
            time_column: "created_at",
            conditions: loc(vec![rated()]),
            measures: vec![count(Cond::Ge("rating", params.positive_stars)), Measure::Count(None)],
            finish: finish_ratio,
        },
        "review_velocity" => SqlPath {
            kind: EntityKind::Review,
            time_column: "created_at",
            conditions: loc(vec![]),
            measures: vec![Measure::Count(None)],
            finish: |values, p| {
                let n = v(values, 0);
                Outcome {
                    value: ratio(n * 30.0, p.days()),
                    n: n as u64,
                    details: vec![("reviews".into(), Some(n))],
                }
            },
        },
        "review_response_rate" => SqlPath {
            kind: EntityKind::Review,
            time_column: "created_at",
            conditions: loc(vec![]),
            measures: vec![
                count(Cond::Or(vec![Cond::NotNull("reply_at"), Cond::NotBlank("reply_body")])),
                Measure::Count(None),
            ],
            finish: |values, p| {
                let mut o = finish_ratio(values, p);
                o.details.push(("answered".into(), Some(v(values, 0))));
                o
            },
        },
        "email_delivery_rate" => SqlPath {
            kind: EntityKind::EmailCampaign,
            time_column: "sent_at",
            conditions: ["recipients", "hard_bounces", "soft_bounces"]
                .iter()
                .map(|c| Cond::NotNull(c))
                .collect(),
            measures: [delivered_measures(), vec![Measure::Count(None)]].concat(),
            finish: |values, p| {
                let delivered = v(values, 0) - v(values, 1) - v(values, 2);
                finish_pooled(&[Some(delivered), Some(v(values, 0)), Some(v(values, 3))], p)
            },
        },
        "email_open_rate" => email(openers, over_delivered),
        "email_click_rate" => email("unique_clickers", over_delivered),
        "email_unsubscribe_rate" => email("unsubscribes", over_delivered),
        "email_spam_rate" => email("spam_reports", over_delivered),
        "email_click_to_open" => {
            let (conditions, measures) = campaign_pooled(
                Expr::Col("unique_clickers"),
                Expr::Col(openers),
                &["unique_clickers", openers],
            );
            SqlPath {
                kind: EntityKind::EmailCampaign,
                time_column: "sent_at",
                conditions,
                measures,
                finish: finish_pooled,
            }
        }
        "email_bounce_rate" => SqlPath {
            kind: EntityKind::EmailCampaign,
            time_column: "sent_at",
            conditions: ["recipients", "hard_bounces", "soft_bounces"]
                .iter()
                .map(|c| Cond::NotNull(c))
                .collect(),
            measures: [delivered_measures(), vec![Measure::Count(None)]].concat(),
            finish: |values, _| {
                let (r, h, s) = (v(values, 0), v(values, 1), v(values, 2));
                Outcome {
                    value: ratio(h + s, r),
                    n: v(values, 3) as u64,
                    details: vec![("hard_rate".into(), ratio(h, r)), ("soft_rate".into(), ratio(s, r))],
                }
            },
        },
        "one_touch_rate" => {
            let (known, hit) = match params.one_touch {
                crate::reference::OneTouch::Strict => (
                    Cond::And(vec![Cond::NotNull("replies"), Cond::NotNull("reopens")]),
                    Cond::And(vec![Cond::Eq("replies", Lit::Num(1.0)), Cond::Eq("reopens", Lit::Num(0.0))]),
                ),
                crate::reference::OneTouch::ZendeskLegacy => {
                    (Cond::NotNull("replies"), Cond::Le("replies", 1.0))
                }
            };
            SqlPath {
                kind: EntityKind::Ticket,
                time_column: "solved_at",
                conditions: chan(vec![solved(), known]),
                measures: vec![count(hit), Measure::Count(None)],
                finish: |values, p| {
                    let mut o = finish_ratio(values, p);
                    o.details.push(("one_touch".into(), Some(v(values, 0))));
                    o
                },
            }
        }
        "reopen_rate" => SqlPath {
            kind: EntityKind::Ticket,
            time_column: "solved_at",
            conditions: chan(vec![solved(), Cond::NotNull("reopens")]),
            measures: vec![count(Cond::Ge("reopens", 1.0)), Measure::Count(None)],
            finish: |values, p| {
                let mut o = finish_ratio(values, p);
                o.details.push(("reopened".into(), Some(v(values, 0))));
                o
            },
        },
        "ticket_csat" => SqlPath {
            kind: EntityKind::Ticket,
            time_column: "created_at",
            conditions: chan(vec![Cond::In("satisfaction", text(&["good", "bad"]))]),
            measures: vec![count(Cond::Eq("satisfaction", Lit::Text("good".into()))), Measure::Count(None)],
            finish: |values, _| {
                let (good, n) = (v(values, 0), v(values, 1));
                Outcome {
                    value: ratio(good, n),
                    n: n as u64,
                    details: vec![("good".into(), Some(good)), ("bad".into(), Some(n - good))],
                }
            },
        },
        "social_engagement_rate" => SqlPath {
            kind: EntityKind::Interaction,
            time_column: "occurred_at",
            conditions: chan(vec![Cond::Eq("channel", Lit::Text(Channel::Social.as_str().into()))]),
            measures: vec![
                count(Cond::In("kind", params.engagement_kinds.iter().cloned().map(Lit::Text).collect())),
                Measure::Sum(
                    Expr::Col("value"),
                    Some(Cond::And(vec![
                        Cond::Eq("kind", Lit::Text("impressions".into())),
                        Cond::Finite("value"),
                    ])),
                ),
            ],
            finish: |values, _| {
                let (engagements, impressions) = (v(values, 0), v(values, 1));
                Outcome {
                    value: ratio(engagements, impressions),
                    n: engagements as u64,
                    details: vec![("impressions".into(), Some(impressions))],
                }
            },
        },
        "aov" => SqlPath {
            kind: EntityKind::Order,
            time_column: "created_at",
            conditions: vec![Cond::IsNull("cancelled_at")],
            measures: vec![Measure::Sum(Expr::Col("total"), None), Measure::Count(None)],
            finish: |values, _| Outcome {
                value: ratio(v(values, 0), v(values, 1)),
                n: v(values, 1) as u64,
                details: vec![("revenue".into(), Some(v(values, 0)))],
            },
        },
        "guest_checkout_rate" => SqlPath {
            kind: EntityKind::Order,
            time_column: "created_at",
            conditions: vec![Cond::IsNull("cancelled_at")],
            measures: vec![count(Cond::True("guest")), Measure::Count(None)],
            finish: |values, p| {
                let mut o = finish_ratio(values, p);
                o.details.push(("guest_orders".into(), Some(v(values, 0))));
                o
            },
        },
        _ => return None,
    })
}

/// The figures of one period that a [`CustomerPath`] ends in.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CustomerFigures {
    /// Distinct customers with an interaction meeting the path's conditions.
    pub customers: u64,
    /// Of those, customers with an interaction meeting its `marked` condition.
    pub marked: u64,
    /// Σ over the period's local days of the distinct customers that day (daily paths).
    pub daily_customers: u64,
    /// The period's local days, counted as the reference counts them.
    pub days: f64,
    /// Non-cancelled orders created in the period (paths that read orders).
    pub orders: u64,
}

/// How a metric over distinct customers of interactions is counted in the database.
pub struct CustomerPath {
    /// Interactions that take part.
    pub conditions: Vec<Cond>,
    /// Customers with an interaction meeting this are counted apart.
    pub marked: Option<Cond>,
    /// Also count customers per local day.
    pub daily: bool,
    /// Also count the period's orders.
    pub orders: bool,
    /// The metric from the figures.
    pub finish: fn(&CustomerFigures) -> Outcome,
}

/// Every channel an interaction can have (the store writes [`Channel::as_str`]).
const CHANNELS: [Channel; 7] = [
    Channel::Email,
    Channel::Helpdesk,
    Channel::Review,
    Channel::Survey,
    Channel::Shop,
    Channel::Web,
    Channel::Social,
];

/// Fails to compile when a channel is added and [`CHANNELS`] is not told.
#[allow(dead_code)]
fn every_channel_listed(c: Channel) -> usize {
    use Channel::*;
    match c {
        Email | Helpdesk | Review | Survey | Shop | Web | Social => CHANNELS.len(),
    }
}

/// The customer path of metric `name`, if it has one.
pub fn customer_path(name: &str, params: &Params, filters: &Filters) -> Option<CustomerPath> {
    let _ = params;
    let narrowed = |mut conds: Vec<Cond>| {
        if !filters.channels.is_empty() {
            conds.push(Cond::In("channel", filters.channels.iter().cloned().map(Lit::Text).collect()));
        }
        conds
    };
    let web = || Cond::Eq("channel", Lit::Text(Channel::Web.as_str().into()));
    Some(match name {
        "dau_mau" => CustomerPath {
            conditions: narrowed(vec![web()]),
            marked: None,
            daily: true,
            orders: false,
            finish: |f| {
                let dau = f.daily_customers as f64 / f.days;
                Outcome { value: ratio(dau, f.customers as f64), n: f.customers, details: Vec::new() }
                    .with_detail("average_dau", Some(dau))
            },
        },
        "advocate_rate" => CustomerPath {
            // Every channel, listed so that the (channel, time) index serves the scan.
            conditions: narrowed(vec![Cond::In(
                "channel",
                CHANNELS.iter().map(|c| Lit::Text(c.as_str().into())).collect(),
            )]),
            marked: Some(Cond::Eq("kind", Lit::Text("referral".into()))),
            daily: false,
            orders: false,
            finish: |f| Outcome {
                value: ratio(f.marked as f64, f.customers as f64),
                n: f.customers,
                details: Vec::new(),
            },
        },
        "conversion_rate" => CustomerPath {
            conditions: narrowed(vec![web()]),
            marked: None,
            daily: false,
            orders: true,
            finish: |f| {
                Outcome {
                    value: ratio(f.orders as f64, f.customers as f64),
                    n: f.customers,
                    details: Vec::new(),
                }
                .with_detail("orders", Some(f.orders as f64))
            },
        },
        _ => return None,
    })
}
