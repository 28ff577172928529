//! One customer seen whole: every record linked to them, their timeline, engagement score and
//! predicted value; and the CLV fit over the store's orders.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use engage_model::{EntityKind, normalize_email};
use engage_store::{ReadFilter, Store};
use serde::Serialize;

use crate::clv::{self, ClvFit, ClvOptions, CustomerValue, Purchase, SummaryOptions};
use crate::customers::{self, Key};
use crate::data::{Row, Rows};
use crate::engine::MetricsError;
use crate::score::{Score, ScoreConfig, score};

/// One entry of a customer's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Connection.
    pub connection: String,
    /// Channel group: helpdesk, review, survey, email, shop, web, social...
    pub channel: String,
    /// What happened.
    pub kind: String,
    /// A number that goes with it (stars, score, amount, seconds).
    pub value: Option<f64>,
}

/// A customer with everything linked to them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerView {
    /// The email asked for, normalised.
    pub email: String,
    /// Every key linked to it.
    pub keys: Vec<Key>,
    /// The timeline, oldest first.
    pub timeline: Vec<TimelineEntry>,
    /// The engagement score.
    pub score: Score,
    /// Predicted value, when the store's orders support a fit and the customer has bought.
    pub clv: Option<CustomerValue>,
}

fn matches(
    keys: &BTreeSet<Key>,
    connection: &str,
    source_id: Option<&String>,
    email: Option<&String>,
) -> bool {
    source_id.is_some_and(|s| keys.contains(&Key::Source(connection.to_owned(), s.clone())))
        || email.and_then(|e| normalize_email(e)).is_some_and(|e| keys.contains(&Key::Email(e)))
}

/// The rows of the person with `keys`.
pub fn narrow(rows: &Rows, keys: &BTreeSet<Key>) -> Rows {
    fn keep<T: Clone>(v: &[Row<T>], f: impl Fn(&Row<T>) -> bool) -> Vec<Row<T>> {
        v.iter().filter(|r| f(r)).cloned().collect()
    }
    Rows {
        identities: keep(&rows.identities, |r| {
            keys.contains(&Key::Source(r.connection.clone(), r.source_id.clone()))
        }),
        tickets: keep(&rows.tickets, |r| {
            matches(
                keys,
                &r.connection,
                r.entity.customer_source_id.as_ref(),
                r.entity.customer_email.as_ref(),
            )
        }),
        reviews: keep(&rows.reviews, |r| {
            matches(keys, &r.connection, r.entity.customer_source_id.as_ref(), None)
        }),
        campaigns: Vec::new(),
        email_events: keep(&rows.email_events, |r| {
            matches(keys, &r.connection, r.entity.customer_source_id.as_ref(), r.entity.email.as_ref())
        }),
        surveys: keep(&rows.surveys, |r| {
            matches(
                keys,
                &r.connection,
                r.entity.customer_source_id.as_ref(),
                r.entity.customer_email.as_ref(),
            )
        }),
        orders: keep(&rows.orders, |r| {
            matches(
                keys,
                &r.connection,
                r.entity.customer_source_id.as_ref(),
                r.entity.customer_email.as_ref(),
            )
        }),
        interactions: keep(&rows.interactions, |r| {
            matches(
                keys,
                &r.connection,
                r.entity.customer_source_id.as_ref(),
                r.entity.customer_email.as_ref(),
            )
        }),
    }
}

/// The timeline of a person's rows, oldest first (records without a time are left out).
pub fn timeline(rows: &Rows) -> Vec<TimelineEntry> {
    use rust_decimal::prelude::ToPrimitive;
    let mut out = Vec::new();
    let mut push =
        |at: Option<DateTime<Utc>>, connection: &str, channel: &str, kind: String, value: Option<f64>| {
            if let Some(at) = at {
                out.push(TimelineEntry {
                    at,
                    connection: connection.to_owned(),
                    channel: channel.to_owned(),
                    kind,
                    value,
                });
            }
        };
    for r in &rows.tickets {
        let t = &r.entity;
        push(t.created_at, &r.connection, "helpdesk", "ticket_created".into(), None);
        push(t.first_reply_at, &r.connection, "helpdesk", "ticket_replied".into(), t.first_reply_minutes);
        push(t.solved_at, &r.connection, "helpdesk", "ticket_solved".into(), None);
    }
    for r in &rows.reviews {
        push(r.entity.created_at, &r.connection, "review", "review".into(), r.entity.rating);
    }
    for r in &rows.surveys {
        push(r.entity.answered_at, &r.connection, "survey", r.entity.kind.as_str().into(), r.entity.score);
    }
    for r in &rows.email_events {
        push(r.entity.occurred_at, &r.connection, "email", format!("email_{}", r.entity.kind.as_str()), None);
    }
    for r in &rows.orders {
        push(r.entity.created_at, &r.connection, "shop", "order".into(), r.entity.total.to_f64());
    }
    for r in &rows.interactions {
        push(
            r.entity.occurred_at,
            &r.connection,
            r.entity.channel.as_str(),
            r.entity.kind.clone(),
            r.entity.value,
        );
    }
    out.sort_by(|a, b| a.at.cmp(&b.at).then(a.kind.cmp(&b.kind)));
    out
}

/// Reads every live record of the store (all kinds).
pub async fn load_all(store: &Store) -> Result<Rows, MetricsError> {
    let mut rows = Rows::default();
    for kind in EntityKind::ALL {
        rows.extend(store.read_entities(kind, &ReadFilter::default()).await?);
    }
    Ok(rows)
}

fn order_keys(r: &Row<engage_model::Order>) -> Vec<Key> {
    let mut keys = Vec::new();
    keys.extend(r.entity.customer_source_id.clone().map(|s| Key::Source(r.connection.clone(), s)));
    keys.extend(r.entity.customer_email.as_deref().and_then(normalize_email).map(Key::Email));
    keys
}

/// A name for each linked person, by key: orders and identities that share a key are one
/// person, named after the smallest key of the group.
pub fn person_names(rows: &Rows) -> HashMap<Key, String> {
    let groups: Vec<Vec<Key>> = rows
        .orders
        .iter()
        .map(order_keys)
        .chain(rows.identities.iter().map(|r| {
            let mut keys = vec![Key::Source(r.connection.clone(), r.source_id.clone())];
            keys.extend(r.entity.email.as_deref().and_then(normalize_email).map(Key::Email));
            keys
        }))
        .filter(|g| !g.is_empty())
        .collect();
    let mut names = HashMap::new();
    for c in customers::components(&groups) {
        let Some(first) = c.iter().next() else { continue };
        let name = match first {
            Key::Source(conn, id) => format!("{conn}/{id}"),
            Key::Email(e) | Key::Phone(e) => e.clone(),
        };
        for k in c {
            names.insert(k, name.clone());
        }
    }
    names
}

/// Purchases of the store's non-cancelled orders, one customer per linked person (orders
/// without a buyer key are left out), amounts net of refunds, days in `tz`.
pub fn purchases(rows: &Rows, tz: Tz) -> Vec<Purchase> {
    use rust_decimal::prelude::ToPrimitive;
    let names = person_names(rows);
    rows.orders
        .iter()
        .filter(|r| r.entity.cancelled_at.is_none())
        .filter_map(|r| {
            let customer = names.get(order_keys(r).first()?)?.clone();
            Some(Purchase {
                customer,
                day: r.entity.created_at?.with_timezone(&tz).date_naive(),
                amount: (r.entity.total - r.entity.refunded).to_f64()?,
            })
        })
        .collect()
}

/// The CLV fit over the store's orders with calibration ending on `calibration_end`
/// (inclusive, a local date in `tz`), time in weeks.
pub fn fit_orders(
    rows: &Rows,
    calibration_end: NaiveDate,
    tz: Tz,
) -> Result<(ClvFit, Vec<clv::CustomerSummary>), clv::ClvError> {
    let summary = clv::summarize(
        &purchases(rows, tz),
        SummaryOptions { calibration_end, holdout_end: None, days_per_period: 7.0 },
    );
    let fit = clv::fit(&summary)?;
    Ok((fit, summary))
}

/// Everything about the person known by `email`.
pub async fn customer(
    store: &Store,
    email: &str,
    config: &ScoreConfig,
    as_of: DateTime<Utc>,
    tz: Tz,
) -> Result<Option<CustomerView>, MetricsError> {
    let Some(normalized) = normalize_email(email) else { return Ok(None) };
    let keys = customers::keys_of(store, &normalized).await?;
    if keys.is_empty() {
        return Ok(None);
    }
    let all = load_all(store).await?;
    let mine = narrow(&all, &keys);
    let score = score(&mine, config, as_of);
    let clv = if mine.orders.is_empty() {
        None
    } else {
        let end = as_of.with_timezone(&tz).date_naive();
        match fit_orders(&all, end, tz) {
            Ok((fit, summary)) => {
                let names = person_names(&all);
                let name = keys.iter().find_map(|k| names.get(k));
                summary.iter().find(|s| Some(&s.customer) == name).and_then(|s| {
                    clv::customer_value(&fit.bgnbd.params, &fit.gamma_gamma.params, s, ClvOptions::default())
                })
            }
            Err(_) => None,
        }
    };
    Ok(Some(CustomerView {
        email: normalized,
        keys: keys.into_iter().collect(),
        timeline: timeline(&mine),
        score,
        clv,
    }))
}
